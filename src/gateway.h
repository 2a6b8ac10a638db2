/*
 * The context shared by the daemon's handlers and the CLI's commands: the
 * store, the keys and the settings. Passed explicitly instead of globals.
 */
#ifndef CITYPAY_GATEWAY_H
#define CITYPAY_GATEWAY_H

#include <stdint.h>

#include "config.h"
#include "keys.h"
#include "ratelimit.h"
#include "store.h"

struct cabinet_reveals;
struct token_cache;

struct gateway {
	struct store *store;
	struct keys keys;
	const struct config *cfg;
	struct ratelimit *limits;      /* NULL disables rate limiting (CLI) */
	struct cabinet_reveals *reveals; /* one-time token reveals; NULL in the CLI */
	struct token_cache *tokens;    /* token rows by digest; NULL reads the store */
	/* Called after a commit that wrote callback events; may be NULL. */
	void (*events_written)(void *arg);
	void *events_arg;
	/* Fixed clock for tests when nonzero (Unix ms); 0 uses the real clock. */
	int64_t fixed_now_ms;
};

/* Current time in Unix milliseconds (the gateway's clock). */
int64_t gateway_now_ms(const struct gateway *gw);

/* Notify the callback dispatcher that events were committed. */
void gateway_events_written(const struct gateway *gw);

/* Write a random identifier with a prefix: "evt_" + 26 base32 characters. */
void gateway_random_id(const char *prefix, char *out, size_t len);

/* Write a request id of 26 base32 characters, unique but not secret: its
 * random bytes come from a buffer that each thread refills. */
void gateway_request_id(char *out, size_t len);

#endif
