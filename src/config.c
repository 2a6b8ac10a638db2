#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "keys.h"

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
	snprintf(cfg->db_path, sizeof(cfg->db_path), "citypay.db");
	cfg->body_max = CP_BODY_MAX;
	cfg->http_threads = CP_HTTP_THREADS;
	cfg->connections_per_address = CP_CONNECTIONS_PER_ADDRESS;
	cfg->sandbox_enabled = true;
	cfg->callback_timeout_ms = CP_CALLBACK_TIMEOUT_MS;
	cfg->callback_retry_base_s = 10;
	cfg->callback_retry_cap_s = 3600;
	cfg->callback_allow_private = false;
	cfg->expiry_interval_ms = 1000;
	cfg->rates_from_feed = false;
	cfg->rates_feed_interval_s = 60;
	cfg->rates_max_age_s = 300;
	cfg->limit_token_per_minute = CP_LIMIT_TOKEN_PER_MINUTE;
	cfg->limit_token_per_hour = CP_LIMIT_TOKEN_PER_HOUR;
	cfg->limit_orders_per_hour = CP_LIMIT_ORDERS_PER_HOUR;
	cfg->limit_public_per_minute = CP_LIMIT_PUBLIC_PER_MINUTE;
	cfg->limit_public_per_hour = CP_LIMIT_PUBLIC_PER_HOUR;
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
}

/* Parse a whole decimal integer in [min, max]; -1 otherwise. */
static int
config_parse_int(const char *text, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
config_parse_bool(const char *text, bool *out)
{
	if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static int
config_set_string(char *dst, size_t size, const char *key, const char *value,
                  char *err, size_t errlen)
{
	if (strlen(value) >= size) {
		snprintf(err, errlen, "%s is too long (at most %zu bytes)", key, size - 1);
		return -1;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

/* Parse a comma-separated list of CIDR ranges into the trusted proxies. */
static int
config_set_trusted(struct config *cfg, const char *value, char *err, size_t errlen)
{
	char list[1024];
	char *save = NULL;

	if (config_set_string(list, sizeof(list), "server.trusted_proxies", value, err, errlen))
		return -1;
	cfg->trusted_proxy_count = 0;
	for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		char why[160];

		if (cfg->trusted_proxy_count == CONFIG_TRUSTED_MAX) {
			snprintf(err, errlen, "server.trusted_proxies has more than %d entries",
			         CONFIG_TRUSTED_MAX);
			return -1;
		}
		if (ipnet_parse(item, &cfg->trusted_proxies[cfg->trusted_proxy_count],
		                why, sizeof(why)) != 0) {
			snprintf(err, errlen, "server.trusted_proxies: %s", why);
			return -1;
		}
		cfg->trusted_proxy_count++;
	}
	return 0;
}

/* Parse a comma-separated list of CIDR ranges into the callback allowed ranges. */
static int
config_set_allowed_ranges(struct config *cfg, const char *value, char *err, size_t errlen)
{
	char list[1024];
	char *save = NULL;

	if (config_set_string(list, sizeof(list), "callbacks.allowed_ranges", value, err, errlen))
		return -1;
	cfg->callback_allowed_range_count = 0;
	for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		char why[160];

		if (cfg->callback_allowed_range_count == CONFIG_ALLOWED_RANGES_MAX) {
			snprintf(err, errlen, "callbacks.allowed_ranges has more than %d entries",
			         CONFIG_ALLOWED_RANGES_MAX);
			return -1;
		}
		if (ipnet_parse(item, &cfg->callback_allowed_ranges[cfg->callback_allowed_range_count],
		                why, sizeof(why)) != 0) {
			snprintf(err, errlen, "callbacks.allowed_ranges: %s", why);
			return -1;
		}
		cfg->callback_allowed_range_count++;
	}
	return 0;
}

/* Parse a comma-separated list of IP addresses into the callback egress addresses. */
static int
config_set_egress(struct config *cfg, const char *value, char *err, size_t errlen)
{
	char list[1024];
	char *save = NULL;

	if (config_set_string(list, sizeof(list), "callbacks.egress_addresses", value, err, errlen))
		return -1;
	cfg->callback_egress_count = 0;
	for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		if (cfg->callback_egress_count == CONFIG_EGRESS_MAX) {
			snprintf(err, errlen, "callbacks.egress_addresses has more than %d entries",
			         CONFIG_EGRESS_MAX);
			return -1;
		}
		if (ipaddr_parse(item, &cfg->callback_egress[cfg->callback_egress_count]) != 0) {
			snprintf(err, errlen, "callbacks.egress_addresses: \"%.64s\" is not an IPv4"
			         " or IPv6 address", item);
			return -1;
		}
		cfg->callback_egress_count++;
	}
	return 0;
}

struct config_int_key {
	const char *key;
	size_t offset;
	long min, max;
};

static const struct config_int_key config_int_keys[] = {
	{ "server.threads", offsetof(struct config, http_threads), 0, 256 },
	{ "server.connections_per_address", offsetof(struct config, connections_per_address),
	  0, CP_CONNECTIONS_MAX },
	{ "callbacks.timeout_ms", offsetof(struct config, callback_timeout_ms), 100, 600000 },
	{ "callbacks.retry_base_s", offsetof(struct config, callback_retry_base_s), 1, 86400 },
	{ "callbacks.retry_cap_s", offsetof(struct config, callback_retry_cap_s), 1, 86400 },
	{ "orders.expiry_interval_ms", offsetof(struct config, expiry_interval_ms), 10, 600000 },
	{ "rates.feed_interval_s", offsetof(struct config, rates_feed_interval_s), 1, 86400 },
	{ "rates.max_age_s", offsetof(struct config, rates_max_age_s), 1, 604800 },
	{ "limits.token_per_minute", offsetof(struct config, limit_token_per_minute), 0, INT32_MAX },
	{ "limits.token_per_hour", offsetof(struct config, limit_token_per_hour), 0, INT32_MAX },
	{ "limits.orders_per_hour", offsetof(struct config, limit_orders_per_hour), 0, INT32_MAX },
	{ "limits.public_per_minute", offsetof(struct config, limit_public_per_minute), 0, INT32_MAX },
	{ "limits.public_per_hour", offsetof(struct config, limit_public_per_hour), 0, INT32_MAX },
};

/* rates.feed_url: an absolute http or https URL, checked again by libcurl. */
static int
config_set_feed_url(struct config *cfg, const char *value, char *err, size_t errlen)
{
	if (strncasecmp(value, "http://", 7) != 0 && strncasecmp(value, "https://", 8) != 0) {
		snprintf(err, errlen, "rates.feed_url must start with http:// or https://,"
		         " got \"%.60s\"", value);
		return -1;
	}
	return config_set_string(cfg->rates_feed_url, sizeof(cfg->rates_feed_url),
	                         "rates.feed_url", value, err, errlen);
}

int
config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	long v;

	for (size_t i = 0; i < sizeof(config_int_keys) / sizeof(config_int_keys[0]); i++) {
		const struct config_int_key *k = &config_int_keys[i];

		if (strcmp(key, k->key) != 0)
			continue;
		if (config_parse_int(value, k->min, k->max, &v) != 0) {
			snprintf(err, errlen, "%s must be an integer from %ld to %ld, got \"%.40s\"",
			         key, k->min, k->max, value);
			return -1;
		}
		*(int *)((char *)cfg + k->offset) = (int)v;
		return 0;
	}

	if (strcmp(key, "server.listen") == 0)
		return config_set_string(cfg->listen, sizeof(cfg->listen), key, value, err, errlen);
	if (strcmp(key, "server.public_url") == 0)
		return config_set_string(cfg->public_url, sizeof(cfg->public_url), key, value, err, errlen);
	if (strcmp(key, "server.trusted_proxies") == 0)
		return config_set_trusted(cfg, value, err, errlen);
	if (strcmp(key, "callbacks.egress_addresses") == 0)
		return config_set_egress(cfg, value, err, errlen);
	if (strcmp(key, "callbacks.allowed_ranges") == 0)
		return config_set_allowed_ranges(cfg, value, err, errlen);
	if (strcmp(key, "server.forwarded_header") == 0) {
		if (strcasecmp(value, "x-forwarded-for") != 0 && strcasecmp(value, "forwarded") != 0) {
			snprintf(err, errlen, "%s must be X-Forwarded-For or Forwarded, got \"%.40s\"",
			         key, value);
			return -1;
		}
		cfg->forwarded_rfc7239 = strcasecmp(value, "forwarded") == 0;
		return 0;
	}
	if (strcmp(key, "rates.source") == 0) {
		if (strcmp(value, "sample") != 0 && strcmp(value, "feed") != 0) {
			snprintf(err, errlen, "%s must be sample or feed, got \"%.40s\"", key, value);
			return -1;
		}
		cfg->rates_from_feed = strcmp(value, "feed") == 0;
		return 0;
	}
	if (strcmp(key, "rates.feed_url") == 0)
		return config_set_feed_url(cfg, value, err, errlen);
	if (strcmp(key, "store.db") == 0)
		return config_set_string(cfg->db_path, sizeof(cfg->db_path), key, value, err, errlen);
	if (strcmp(key, "store.key_file") == 0)
		return config_set_string(cfg->key_file, sizeof(cfg->key_file), key, value, err, errlen);
	if (strcmp(key, "log.level") == 0)
		return config_set_string(cfg->log_level, sizeof(cfg->log_level), key, value, err, errlen);
	if (strcmp(key, "server.body_max_bytes") == 0) {
		if (config_parse_int(value, 1024, 16 * 1024 * 1024, &v) != 0) {
			snprintf(err, errlen, "%s must be an integer from 1024 to 16777216", key);
			return -1;
		}
		cfg->body_max = (size_t)v;
		return 0;
	}
	if (strcmp(key, "sandbox.enabled") == 0 || strcmp(key, "callbacks.allow_private_targets") == 0) {
		bool *dst = key[0] == 's' ? &cfg->sandbox_enabled : &cfg->callback_allow_private;
		if (config_parse_bool(value, dst) != 0) {
			snprintf(err, errlen, "%s must be true or false, got \"%.40s\"", key, value);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown setting \"%.80s\"; see docs/CONFIG.md", key);
	return -1;
}

static char *
config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

int
config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char line[2048], section[64] = "", key[160], why[256];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s = config_trim(line), *eq;

		lineno++;
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || close[1] != '\0' || (size_t)(close - s) >= sizeof(section)) {
				snprintf(err, errlen, "%s:%d: invalid section header", path, lineno);
				rc = -1;
				break;
			}
			*close = '\0';
			snprintf(section, sizeof(section), "%s", s + 1);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		snprintf(key, sizeof(key), "%s.%s", section, config_trim(s));
		if (config_set(cfg, key, config_trim(eq + 1), why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static const struct {
	const char *env;
	const char *key;
} config_env_keys[] = {
	{ "CITYPAY_LISTEN", "server.listen" },
	{ "CITYPAY_PUBLIC_URL", "server.public_url" },
	{ "CITYPAY_TRUSTED_PROXIES", "server.trusted_proxies" },
	{ "CITYPAY_FORWARDED_HEADER", "server.forwarded_header" },
	{ "CITYPAY_DB", "store.db" },
	{ "CITYPAY_KEY_FILE", "store.key_file" },
	{ "CITYPAY_SANDBOX", "sandbox.enabled" },
	{ "CITYPAY_LOG_LEVEL", "log.level" },
	{ "CITYPAY_CALLBACK_TIMEOUT_MS", "callbacks.timeout_ms" },
	{ "CITYPAY_CALLBACK_RETRY_BASE_S", "callbacks.retry_base_s" },
	{ "CITYPAY_CALLBACK_RETRY_CAP_S", "callbacks.retry_cap_s" },
	{ "CITYPAY_CALLBACK_ALLOW_PRIVATE", "callbacks.allow_private_targets" },
	{ "CITYPAY_CALLBACK_EGRESS_ADDRESSES", "callbacks.egress_addresses" },
	{ "CITYPAY_CALLBACK_ALLOWED_RANGES", "callbacks.allowed_ranges" },
	{ "CITYPAY_RATES_SOURCE", "rates.source" },
	{ "CITYPAY_RATES_FEED_URL", "rates.feed_url" },
	{ "CITYPAY_RATES_FEED_INTERVAL_S", "rates.feed_interval_s" },
	{ "CITYPAY_RATES_MAX_AGE_S", "rates.max_age_s" },
	{ "CITYPAY_LIMIT_TOKEN_PER_MINUTE", "limits.token_per_minute" },
	{ "CITYPAY_LIMIT_TOKEN_PER_HOUR", "limits.token_per_hour" },
	{ "CITYPAY_LIMIT_ORDERS_PER_HOUR", "limits.orders_per_hour" },
	{ "CITYPAY_LIMIT_PUBLIC_PER_MINUTE", "limits.public_per_minute" },
	{ "CITYPAY_LIMIT_PUBLIC_PER_HOUR", "limits.public_per_hour" },
};

int
config_load_env(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(config_env_keys) / sizeof(config_env_keys[0]); i++) {
		const char *value = getenv(config_env_keys[i].env);
		char why[256];

		if (value == NULL || *value == '\0')
			continue;
		if (config_set(cfg, config_env_keys[i].key, value, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", config_env_keys[i].env, why);
			return -1;
		}
	}
	return 0;
}

void
config_finish(struct config *cfg)
{
	size_t n;

	if (cfg->key_file[0] == '\0')
		keys_default_path(cfg->db_path, cfg->key_file, sizeof(cfg->key_file));
	if (cfg->public_url[0] == '\0')
		snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s", cfg->listen);
	n = strlen(cfg->public_url);
	while (n > 0 && cfg->public_url[n - 1] == '/')
		cfg->public_url[--n] = '\0';
}
