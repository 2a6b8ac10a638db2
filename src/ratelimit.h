/*
 * Fixed-window request counters kept in memory, keyed by a string such as
 * "token:42" or "ip:192.0.2.1". The table has a fixed number of slots. A
 * key may use one of 16 slots after its hash. When they are all taken, the
 * one with the oldest window is replaced, which resets that count.
 *
 * NOTE: counters are per process, so several daemons serving one merchant
 * each count on their own, and a restart starts every count again.
 */
#ifndef CITYPAY_RATELIMIT_H
#define CITYPAY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);

/*
 * Count one hit for key in the window of window_s seconds that contains
 * now_s. Returns true while the count is at most limit; otherwise false and
 * sets *retry_after_s to the seconds left in the window.
 */
bool ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now_s,
                   int window_s, int64_t limit, int64_t *retry_after_s);

/* The count of key in the current window, without counting a hit. */
int64_t ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_s, int window_s);

#endif
