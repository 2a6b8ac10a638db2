/*
 * The store side of the callback outbox: claiming due deliveries, recording
 * each attempt in the delivery log, reading the signing secret of the token
 * that owns an event, and the operator's views and resends. Like every
 * store call, these run between store_begin() and store_commit() on the
 * caller's connection.
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
	bool resend;                    /* an operator asked to send it again */
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
	bool resend;                    /* sent with X-Event-Resend: true */
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
 * Deliveries whose ids are among the skip_count skip_ids are never
 * claimed: the caller lists its attempts in flight, which an operator's
 * resend can make due again before they finish.
 *
 * On CP_OK each out[i].body is a heap copy that the caller frees with
 * free(). On any other result nothing is allocated and *n is 0.
 */
enum cp_result store_outbox_claim(struct store *st, int64_t now, int64_t lease_s,
                                  const int64_t *skip_ids, int skip_count,
                                  struct outbox_delivery *out, int max, int *n);

/*
 * Record one attempt: count it in attempts and add a callback_attempts row.
 * A delivered attempt sets state 'delivered' and delivered_at. A failed one
 * sets next_attempt_at, or state 'failed' when the event is more than
 * CP_CALLBACK_RETRY_S seconds older than attempted_at. A resend attempt
 * clears resend_pending. The response is stored truncated to
 * CP_CALLBACK_RESPONSE_MAX bytes, with NUL bytes and invalid UTF-8 replaced
 * by '?'. When gave_up is not NULL it is set to whether the delivery is now
 * 'failed'. CP_NOT_FOUND when the delivery does not exist.
 */
enum cp_result store_outbox_record(struct store *st, const struct outbox_attempt *attempt,
                                   bool *gave_up);

/*
 * Read the token's sealed signing secret, open it with keys into secret
 * (len bytes, SIGNING_SECRET_TEXT_MAX is enough) and set *mode. The secret
 * replaced by the last rotation goes into previous (also len bytes) while
 * its previous_secret_until is after now, and previous is "" otherwise.
 * Returns CP_NOT_FOUND for an unknown token, CP_INVALID when a secret does
 * not authenticate under keys or the stored mode is unknown.
 */
enum cp_result store_outbox_token_secret(struct store *st, const struct keys *keys,
                                         int64_t token_id, int64_t now, char *secret,
                                         char *previous, size_t len,
                                         enum token_mode *mode);

/* Filters of store_outbox_list(); zero or NULL fields do not filter. */
struct outbox_filter {
	int64_t merchant_id;
	const char *order_token;        /* orders.token, the merchant's order_token */
	const char *state;              /* pending, delivered or failed */
	int64_t limit;                  /* rows at most; must be positive */
};

/* One delivery with its event, as the operator's list shows it. */
struct outbox_summary {
	char event_id[40];
	char order_token[CP_ORDER_TOKEN_MAX * 4 + 1];   /* empty for a deposit event */
	char deposit_token[CP_ORDER_TOKEN_MAX * 4 + 1]; /* empty for an order event */
	char action[32];
	int64_t sequence;
	char url[CP_URL_MAX + 1];
	char state[16];
	int64_t attempts;
	int64_t last_http_status;       /* 0 when none */
	char last_error[256];           /* empty when none */
	int64_t created_at;             /* the event's, Unix seconds */
	int64_t delivered_at;           /* 0 until delivered */
};

/* One event with its body, for the operator's detail view. */
struct outbox_event {
	int64_t id;                     /* callback_events.id */
	char event_id[40];
	char action[32];
	int64_t sequence;
	int64_t created_at;             /* Unix seconds */
	char *body;                     /* heap copy, NUL-terminated; free() it */
};

/* One delivery of an event, for the operator's detail view. */
struct outbox_delivery_info {
	int64_t id;
	char url[CP_URL_MAX + 1];
	char state[16];
	int64_t next_attempt_at;        /* Unix seconds; meaningful while pending */
	int64_t delivered_at;           /* 0 until delivered */
	bool resend_pending;
};

/* One logged attempt of a delivery. */
struct outbox_attempt_row {
	int64_t attempted_at;           /* Unix seconds */
	int64_t http_status;            /* 0 when no HTTP response arrived */
	char error[256];                /* empty when delivered */
	int64_t latency_ms;
	char response[CP_CALLBACK_RESPONSE_MAX + 1]; /* already truncated and cleaned */
	bool resend;
};

typedef void (*outbox_summary_fn)(const struct outbox_summary *row, void *arg);
typedef void (*outbox_attempt_fn)(const struct outbox_attempt_row *row, void *arg);

/*
 * Call fn for each delivery that matches filter, newest first, at most
 * filter->limit rows. Returns CP_OK or CP_ERROR.
 */
enum cp_result store_outbox_list(struct store *st, const struct outbox_filter *filter,
                                 outbox_summary_fn fn, void *arg);

/*
 * Read the event with public id event_id into ev; on CP_OK the caller frees
 * ev->body. CP_NOT_FOUND for an unknown event id.
 */
enum cp_result store_outbox_event_get(struct store *st, const char *event_id,
                                      struct outbox_event *ev);

/*
 * Read the deliveries of the event with row id event_row, at most max (one
 * per callback URL, so CP_CALLBACK_URLS_MAX is enough), into out and set *n.
 */
enum cp_result store_outbox_deliveries(struct store *st, int64_t event_row,
                                       struct outbox_delivery_info *out, int max, int *n);

/* Call fn for each logged attempt of the delivery, oldest first. */
enum cp_result store_outbox_attempts(struct store *st, int64_t delivery_id,
                                     outbox_attempt_fn fn, void *arg);

/*
 * Make every delivery of the event due at now again, whatever its state,
 * and mark its next attempt as a resend. The event's body and event_id do
 * not change. Sets *deliveries to the number of deliveries changed.
 * CP_NOT_FOUND for an unknown event id.
 *
 * NOTE: when an attempt of the delivery is in flight, recording its
 * success afterwards sets 'delivered' again, so the resend is not sent and
 * resend_pending stays 1 until the next resend.
 */
enum cp_result store_outbox_resend(struct store *st, const char *event_id, int64_t now,
                                   int64_t *deliveries);

/* Count the deliveries in state 'pending' into *depth. */
enum cp_result store_outbox_queue_depth(struct store *st, int64_t *depth);

#endif
