/*
 * The order status machine: which status an order has, given what was
 * received and when. Pure functions without I/O, so every rule is a unit
 * test.
 */
#ifndef CITYPAY_ORDER_STATE_H
#define CITYPAY_ORDER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "money.h"

enum order_status {
	ORDER_IN_PROGRESS = 0,
	ORDER_PAID_UNCONFIRMED,
	ORDER_CONFIRMED,
	ORDER_UNDERPAID,
	ORDER_OVERPAID,
	ORDER_EXPIRED,
	ORDER_CANCELED,
};

/* Wire code of a status, "IN_PROGRESS"; never NULL for a valid status. */
const char *order_status_code(enum order_status status);

/* Human label of a status, "In progress"; NULL for an invalid status. */
const char *order_status_label(enum order_status status);

/* Parse a wire code; 0 on success, -1 when unknown. */
int order_status_parse(const char *code, enum order_status *status);

/*
 * True for CONFIRMED, OVERPAID and CANCELED, which no later payment or
 * expiry changes, and for invalid values so that order_status_next() leaves
 * them alone. EXPIRED and UNDERPAID are not final: a late payment within
 * the monitoring window still changes them.
 */
bool order_status_is_final(enum order_status status);

/*
 * Facts about an order at one moment. A transaction first seen
 * after the monitoring window (expiry plus CP_ORDER_LATE_WINDOW_MS) is
 * recorded but left out of these sums, so it changes no status.
 */
struct order_facts {
	money_t expected;            /* crypto amount quoted, base units; 0 before a coin is chosen */
	money_t received;            /* sum of transactions seen before the window ended, base units */
	money_t received_confirmed;  /* the part of received with enough confirmations */
	money_t received_in_time;    /* sum of transactions seen before expiry */
	int tolerance_under_pct;     /* 0..99: a payment this much short still counts */
	int tolerance_over_pct;      /* 0..99: excess up to this much is not OVERPAID */
	bool expired;                /* now >= expires_at */
};

/*
 * Add one transaction of `amount` base units, first seen at seen_at_ms, to
 * the sums of facts for an order that expires at expires_at_ms.
 */
void order_facts_add(struct order_facts *facts, int64_t expires_at_ms, money_t amount,
                     bool confirmed, int64_t seen_at_ms);

/*
 * Compute the status that follows `current` given `facts`. A final status
 * stays as it is. A payment within tolerance is PAID_UNCONFIRMED until the
 * confirmed part also reaches it, then CONFIRMED, or OVERPAID when above the
 * upper tolerance. An expired order becomes UNDERPAID when something was
 * received and EXPIRED when nothing was; PAID_UNCONFIRMED does not expire.
 * Because EXPIRED and UNDERPAID are not final, a payment that completes
 * them within the monitoring window confirms the order late.
 */
enum order_status order_status_next(enum order_status current,
                                    const struct order_facts *facts);

/*
 * True when `status` counts the order as paid (PAID_UNCONFIRMED, CONFIRMED
 * or OVERPAID) but the transactions seen before expiry did not reach the
 * expected amount within the lower tolerance.
 */
bool order_payment_is_late(enum order_status status, const struct order_facts *facts);

/* True when received meets the expected amount within the lower tolerance. */
bool order_amount_is_paid(money_t expected, money_t received, int tolerance_under_pct);

/* True when received exceeds the expected amount beyond the upper tolerance. */
bool order_amount_is_overpaid(money_t expected, money_t received, int tolerance_over_pct);

#endif
