/*
 * citypayd: the gateway daemon. Serves the merchant API and the hosted
 * pages, expires orders, and delivers callbacks until SIGTERM or SIGINT.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "cabinet_reveal.h"
#include "callback.h"
#include "config.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "orders.h"
#include "rates_feed.h"
#include "token_cache.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: citypayd [options]\n"
		"  --listen ADDR:PORT  address to serve (CITYPAY_LISTEN; default 127.0.0.1:8080;\n"
		"                      port 0 picks a free port)\n"
		"  --db PATH           SQLite database (CITYPAY_DB; default citypay.db)\n"
		"  --key-file PATH     key file from citypayctl init (CITYPAY_KEY_FILE;\n"
		"                      default PATH.key beside the database)\n"
		"  --public-url URL    base of payment_url links (CITYPAY_PUBLIC_URL;\n"
		"                      default http://ADDR:PORT)\n"
		"  --config FILE       settings file (CITYPAY_CONFIG); see docs/CONFIG.md\n"
		"  --help              show this help\n");
}

/* Apply settings: defaults, then the file, then the environment, then flags. */
static int
load_settings(int argc, char **argv, struct config *cfg, bool *public_url_set)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "public-url", required_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_file = getenv("CITYPAY_CONFIG");
	const char *flags[4] = { NULL, NULL, NULL, NULL };
	static const char *const keys[4] = { "server.listen", "store.db", "store.key_file",
	                                     "server.public_url" };
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'l': flags[0] = optarg; break;
		case 'd': flags[1] = optarg; break;
		case 'k': flags[2] = optarg; break;
		case 'u': flags[3] = optarg; break;
		case 'c': config_file = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "citypayd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}

	config_defaults(cfg);
	if ((config_file && config_file[0] && config_load_file(cfg, config_file, err, sizeof(err)) != 0) ||
	    config_load_env(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "citypayd: %s\n", err);
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		if (flags[i] != NULL && config_set(cfg, keys[i], flags[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "citypayd: %s\n", err);
			return -1;
		}
	}
	*public_url_set = cfg->public_url[0] != '\0';
	config_finish(cfg);
	return 0;
}

static void
wake_dispatcher(void *arg)
{
	callback_dispatcher_wake();
}

/* Use the bound port in the default public URL when port 0 was asked for. */
static void
fix_public_url(struct config *cfg, uint16_t port)
{
	char host[128];
	const char *colon = strrchr(cfg->listen, ':');
	size_t n = colon ? (size_t)(colon - cfg->listen) : 0;

	if (n == 0 || n >= sizeof(host))
		return;
	memcpy(host, cfg->listen, n);
	host[n] = '\0';
	snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%u", host, port);
}

/* Expire due orders every interval until a stop signal arrives. */
static void
run_until_signal(struct gateway *gw, const sigset_t *stop)
{
	struct timespec wait = {
		.tv_sec = gw->cfg->expiry_interval_ms / 1000,
		.tv_nsec = (long)(gw->cfg->expiry_interval_ms % 1000) * 1000000,
	};

	for (;;) {
		int sig = sigtimedwait(stop, NULL, &wait);
		int expired = 0;

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
			return;
		}
		if (orders_expire_due(gw, &expired) != CP_OK)
			log_error("expiry sweep failed", NULL);
		else if (expired > 0)
			log_info("orders expired", "count", log_int(expired), NULL);
	}
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct gateway gw = { .cfg = &cfg, .events_written = wake_dispatcher };
	struct http_server *srv = NULL;
	bool public_url_set = false, dispatcher = false;
	enum log_level level = LOG_INFO;
	char err[512], addr[160];
	sigset_t stop;
	int status = 1;

	if (load_settings(argc, argv, &cfg, &public_url_set) != 0)
		return 2;
	if (log_level_parse(cfg.log_level, &level) != 0) {
		fprintf(stderr, "citypayd: log.level must be debug, info, warn or error\n");
		return 2;
	}
	log_set_level(level);

	/* Block the stop signals before any thread starts, so that every
	 * thread inherits the mask and only sigtimedwait() receives them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The database and its WAL files hold buyers' e-mail addresses. */
	umask(077);

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("library initialisation failed", NULL);
		return 1;
	}
	if (keys_load(cfg.key_file, &gw.keys, err, sizeof(err)) != 0) {
		log_error("cannot load the key file; run citypayctl init first", "error", err, NULL);
		goto out;
	}
	if ((gw.store = store_open(cfg.db_path, err, sizeof(err))) == NULL) {
		log_error("cannot open the store", "error", err, NULL);
		goto out;
	}
	gw.limits = ratelimit_new();
	gw.reveals = cabinet_reveals_new();
	gw.tokens = token_cache_new();

	struct callback_config cb = {
		.timeout_ms = cfg.callback_timeout_ms,
		.retry_base_s = cfg.callback_retry_base_s,
		.retry_cap_s = cfg.callback_retry_cap_s,
		.allow_private_targets = cfg.callback_allow_private,
		.allowed_range_count = cfg.callback_allowed_range_count,
	};
	memcpy(cb.allowed_ranges, cfg.callback_allowed_ranges,
	       cfg.callback_allowed_range_count * sizeof(cfg.callback_allowed_ranges[0]));
	if (callback_dispatcher_start(cfg.db_path, &gw.keys, &cb) != CP_OK) {
		log_error("cannot start the callback dispatcher", NULL);
		goto out;
	}
	dispatcher = true;
	if (rates_feed_start(&cfg) != 0)
		goto out;

	/* Orders that expired while the daemon was down are expired before the
	 * first request is served, so no page shows them as still payable. */
	int expired = 0, batch = 0;
	for (int round = 0; round < 100000; round++) {
		if (orders_expire_due(&gw, &batch) != CP_OK) {
			log_error("expiry sweep at start failed", NULL);
			break;
		}
		expired += batch;
		if (batch < ORDERS_EXPIRY_BATCH)
			break;
	}
	if (expired > 0)
		log_info("orders expired while stopped", "count", log_int(expired), NULL);

	if ((srv = http_start(&gw, err, sizeof(err))) == NULL) {
		log_error("cannot start the HTTP server", "error", err, NULL);
		goto out;
	}
	if (!public_url_set)
		fix_public_url(&cfg, http_port(srv));
	snprintf(addr, sizeof(addr), "%.*s:%u",
	         (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen, http_port(srv));
	log_info("listening", "addr", addr, "public_url", cfg.public_url, "db", cfg.db_path,
	         "sandbox", cfg.sandbox_enabled ? "enabled" : "disabled", NULL);

	run_until_signal(&gw, &stop);
	status = 0;
out:
	http_stop(srv);
	rates_feed_stop();
	if (dispatcher)
		callback_dispatcher_stop();
	store_close(gw.store);
	ratelimit_free(gw.limits);
	cabinet_reveals_free(gw.reveals);
	token_cache_free(gw.tokens);
	keys_wipe(&gw.keys);
	curl_global_cleanup();
	log_info("stopped", NULL);
	return status;
}
