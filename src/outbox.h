/*
 * The store side of the callback outbox: claiming due deliveries, recording
 * each attempt, and reading the signing secret of the token that owns an
 * event. Like every store call, these run between store_begin() and
 * store_commit() on the caller's connection.
 */
#ifndef CITYPAY_OUTBOX_H
#define CITYPAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "limits.h"
#include "result.h"
#include "store.h"
#include "token.h"

/* One claimed delivery: a callback event to be POSTed to one URL. */
struct outbox_delivery {
	int64_t id;                     /* callback_deliveries.id */
	char event_id[40];              /* public event id, sent as X-Event-Id */
	int64_t token_id;
	char url[CP_URL_MAX + 1];
	int64_t attempts;               /* attempts made before this one */
	int64_t event_created_at;       /* Unix seconds */
	char *body;                     /* heap copy of the event body, NUL-terminated */
	size_t body_len;
};

/* The outcome of one delivery attempt. */
struct outbox_attempt {
	int64_t delivery_id;
	bool delivered;                 /* the target returned a 2xx status */
	int64_t attempted_at;           /* Unix seconds */
	int64_t next_attempt_at;        /* Unix seconds; ignored when delivered */
	long http_status;               /* 0 when no HTTP response arrived */
	const char *error;              /* NULL when delivered */
	const char *response;           /* the target's response body, may be NULL */
	size_t response_len;
	int64_t latency_ms;
};

/*
 * Claim at most max pending deliveries whose next_attempt_at is at or
 * before now, oldest first, into out and set *n. A delivery is skipped while
 * an event of the same order (or deposit) with a lower sequence still has a
 * pending delivery to the same URL, so each URL receives one order's events
 * in sequence order.
 *
 * Claiming moves next_attempt_at to now + lease_s, so another dispatcher on
 * the same database skips the rows, and a crash before the attempt is
 * recorded makes them due again after the lease instead of losing them.
 *
 * On CP_OK each out[i].body is a heap copy that the caller frees with
 * free(). On any other result nothing is allocated and *n is 0.
 */
enum cp_result store_outbox_claim(struct store *st, int64_t now, int64_t lease_s,
                                  struct outbox_delivery *out, int max, int *n);

/*
 * Record one attempt and count it in attempts. A delivered attempt sets
 * state 'delivered' and delivered_at. A failed one sets next_attempt_at,
 * or state 'failed' when the event is more than CP_CALLBACK_RETRY_S seconds
 * older than attempted_at. The response is stored truncated to
 * CP_CALLBACK_RESPONSE_MAX bytes, with NUL bytes and invalid UTF-8 replaced
 * by '?'. When gave_up is not NULL it is set to whether the delivery is now
 * 'failed'. CP_NOT_FOUND when the delivery does not exist.
 */
enum cp_result store_outbox_record(struct store *st, const struct outbox_attempt *attempt,
                                   bool *gave_up);

/*
 * Read the token's sealed signing secret, open it with keys into secret
 * (len bytes, SIGNING_SECRET_TEXT_MAX is enough) and set *mode. Returns
 * CP_NOT_FOUND for an unknown token, CP_INVALID when the secret does not
 * authenticate under keys or the stored mode is unknown.
 */
enum cp_result store_outbox_token_secret(struct store *st, const struct keys *keys,
                                         int64_t token_id, char *secret, size_t len,
                                         enum token_mode *mode);

#endif
