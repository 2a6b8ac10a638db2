/*
 * Orders: creation with idempotent replay, the buyer's choice of coin with
 * its quote, payments and confirmations applied through the status machine,
 * cancellation and expiry. Every change and the callback event it causes
 * are committed in one transaction.
 */
#ifndef CITYPAY_ORDERS_H
#define CITYPAY_ORDERS_H

#include <stdbool.h>

#include "gateway.h"
#include "validate.h"

/* Fields of POST /api/generateOrder, as text exactly as received. */
struct order_input {
	const char *order_id;
	const char *order_token;
	const char *amount;
	const char *currency;    /* optional: the token's currency */
	const char *email;       /* optional */
	const char *description; /* optional */
	const char *lang;        /* optional */
};

/*
 * Create an order for an authenticated token. Retrying an order_token with
 * the same order_id, amount and currency returns the original order with
 * *replayed set and creates nothing; other values for a used order_token
 * are CP_INVALID. CP_INVALID fills errs; CP_CONFLICT means the merchant's
 * order rate limit is exceeded.
 *
 * With async NULL, it returns once the order is durable. Otherwise CP_OK
 * means the transaction is released into the open batch, and async->done
 * reports later whether it became durable (store_commit_async()).
 */
enum cp_result orders_create(struct gateway *gw, const struct access_token *t,
                             const char *client_ip, const struct order_input *in,
                             struct order *out, bool *replayed,
                             struct field_errors *errs, const struct store_async *async);

/*
 * Choose the coin the buyer pays with: assign the receiving address, fix
 * the exchange rate and the crypto amount (rounded up). Choosing again is
 * allowed while nothing was paid and refreshes the quote. CP_NOT_FOUND for
 * an unknown order; CP_INVALID with errs otherwise.
 */
enum cp_result orders_choose_coin(struct gateway *gw, const char *order_token,
                                  const char *coin, struct order *out,
                                  struct field_errors *errs, const struct store_async *async);

/* Cancel an unpaid order on the buyer's request. */
enum cp_result orders_cancel(struct gateway *gw, const char *order_token,
                             struct order *out, struct field_errors *errs,
                             const struct store_async *async);

#define ORDERS_EXPIRY_BATCH 64 /* orders expired per call of orders_expire_due() */

/*
 * Expire up to ORDERS_EXPIRY_BATCH unpaid orders past their expiry in one
 * transaction; sets *count to how many changed status.
 */
enum cp_result orders_expire_due(struct gateway *gw, int *count);

/* True when the merchant enabled the coin and the token's type allows it. */
bool orders_coin_allowed(const struct merchant *m, const struct access_token *t,
                         const char *coin);

/* The following run inside an open store transaction. */
enum cp_result orders_choose_coin_locked(struct gateway *gw, struct order *o,
                                         const char *coin, struct field_errors *errs);

/*
 * Recompute the order's status from its transactions and emit one event
 * with `action`, or with no action given (NULL), emit an event only when the
 * status changed: `confirmation` for CONFIRMED or OVERPAID, else
 * `status_changed`. tx names the transaction that caused it, or NULL.
 */
enum cp_result orders_refresh_locked(struct gateway *gw, struct order *o,
                                     const char *action, const struct chain_tx *tx);

/*
 * Fill facts from the order and its transactions, with the gateway's clock
 * deciding whether it expired.
 */
enum cp_result orders_facts_locked(struct gateway *gw, const struct order *o,
                                   struct order_facts *facts);

/*
 * Apply the confirmation of tx, which pays an order, to that order. An
 * order that waits for payment emits an event only when its status
 * changes. Any other order emits a `confirmation` event with its status
 * unchanged, so the merchant hears of every payment.
 */
enum cp_result orders_confirm_tx_locked(struct gateway *gw, const struct chain_tx *tx);

/* Sums of received and confirmed base units over all the order's transactions. */
enum cp_result orders_totals_locked(struct gateway *gw, int64_t order_id,
                                    money_t *received, money_t *confirmed);

#endif
