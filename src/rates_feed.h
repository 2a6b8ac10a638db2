/*
 * The exchange-rate feed: a thread that requests a JSON rates document over
 * HTTP or HTTPS every rates.feed_interval_s seconds and installs its rates
 * with rates_replace(). docs/RATES.md describes the document.
 */
#ifndef CITYPAY_RATES_FEED_H
#define CITYPAY_RATES_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rates.h"

#define RATES_FEED_RESPONSE_MAX (256 * 1024) /* bytes of a rates document */
#define RATES_FEED_TIMEOUT_S    10           /* seconds for one request, connecting included */
#define RATES_FEED_DEPTH_MAX    8            /* JSON nesting levels accepted */
/* Seconds updated_at may lie ahead of the fetch time, for clock skew. */
#define RATES_FEED_CLOCK_SKEW_S 300

/*
 * Parse a rates document of len bytes into *out. Each rate gets the
 * document's updated_at, or fetched_at (Unix seconds) when the document has
 * none. Coins and fiat currencies that money.c does not list are ignored.
 * Returns 0, or -1 with a sentence in err when the document is malformed.
 * Malformed means one of: not strict JSON, no "rates" object, an
 * updated_at that is not a positive integer or lies more than
 * RATES_FEED_CLOCK_SKEW_S ahead of fetched_at, a rate of a known pair that
 * is not a positive plain decimal with at most RATES_SCALE fraction digits,
 * or no rate of a known pair at all. *out is unspecified after -1.
 */
int rates_feed_parse(const char *text, size_t len, int64_t fetched_at,
                     struct rates_table *out, char *err, size_t errlen);

/*
 * Apply cfg's rates settings with rates_configure() and, when rates.source
 * is feed, start the feed thread. The first request is sent at once. Call
 * after curl_global_init(). Returns 0, or -1 after logging why (no feed URL,
 * the thread could not start).
 */
int rates_feed_start(const struct config *cfg);

/* Stop and join the feed thread; does nothing when it is not running. */
void rates_feed_stop(void);

#endif
