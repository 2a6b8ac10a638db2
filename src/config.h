/*
 * Gateway settings. Each has a built-in default, may be set in an INI-style
 * file (--config or CITYPAY_CONFIG), then by a CITYPAY_* environment
 * variable, then by a command-line flag; later sources win. docs/CONFIG.md
 * lists every key with its unit and default.
 */
#ifndef CITYPAY_CONFIG_H
#define CITYPAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ipaddr.h"
#include "limits.h"

#define CONFIG_TRUSTED_MAX 16
#define CONFIG_EGRESS_MAX  16
#define CONFIG_ALLOWED_RANGES_MAX 16

struct config {
	char listen[128];              /* "127.0.0.1:8080"; port 0 picks a free one */
	char db_path[1024];
	char key_file[1024];           /* empty: "<db_path>.key" */
	char public_url[CP_URL_MAX + 1]; /* base of payment_url, no trailing slash */
	struct ipnet trusted_proxies[CONFIG_TRUSTED_MAX];
	size_t trusted_proxy_count;
	bool forwarded_rfc7239;        /* read Forwarded instead of X-Forwarded-For */
	size_t body_max;               /* bytes */
	int http_threads;
	int connections_per_address;   /* open connections per peer; 0 is no limit */
	bool sandbox_enabled;
	int callback_timeout_ms;
	int callback_retry_base_s;
	int callback_retry_cap_s;
	bool callback_allow_private;   /* live-mode callbacks to private addresses */
	/* Ranges live-mode callbacks may reach although they are not public. */
	struct ipnet callback_allowed_ranges[CONFIG_ALLOWED_RANGES_MAX];
	size_t callback_allowed_range_count;
	/* Addresses callbacks leave from, published for merchants' firewalls. */
	struct ipaddr callback_egress[CONFIG_EGRESS_MAX];
	size_t callback_egress_count;
	int expiry_interval_ms;        /* how often expired orders are swept */
	bool rates_from_feed;          /* rates.source: true "feed", false "sample" */
	char rates_feed_url[CP_URL_MAX + 1]; /* http or https URL of the rates document */
	int rates_feed_interval_s;     /* seconds between feed requests */
	int rates_max_age_s;           /* seconds after which a feed rate is stale */
	/* Rate limits; 0 is no limit. Over a limit the response is 429. */
	int limit_token_per_minute;    /* requests per access token */
	int limit_token_per_hour;
	int limit_orders_per_hour;     /* orders created per merchant */
	int limit_public_per_minute;   /* requests per client address to public routes */
	int limit_public_per_hour;
	char log_level[16];
};

/* Fill every setting with its default. */
void config_defaults(struct config *cfg);

/*
 * Set one setting by its file key ("server.listen", "store.db", ...).
 * Returns -1 with a sentence naming the key and the expected value in err.
 */
int config_set(struct config *cfg, const char *key, const char *value,
               char *err, size_t errlen);

/* Read an INI file: "[section]" lines and "key = value" lines; '#' comments. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Apply the CITYPAY_* environment variables that are set. */
int config_load_env(struct config *cfg, char *err, size_t errlen);

/* Resolve derived values (key file path, public URL from listen). */
void config_finish(struct config *cfg);

#endif
