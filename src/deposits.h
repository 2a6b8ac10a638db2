/*
 * Deposits: a stable receiving address per coin for one of the merchant's
 * end customers, keyed by the merchant's deposit_token.
 */
#ifndef CITYPAY_DEPOSITS_H
#define CITYPAY_DEPOSITS_H

#include <stdbool.h>

#include <json-c/json.h>

#include "gateway.h"
#include "validate.h"

struct deposit_input {
	const char *deposit_id;
	const char *deposit_token;
	const char *currency;      /* optional: the token's currency */
};

/*
 * Create the deposit, or return the existing one for the same
 * deposit_token with *existing set. Assigns one address per coin the
 * token may receive. CP_INVALID fills errs. On CP_OK, *view is the
 * deposit's object (views_deposit()), read inside the same transaction.
 *
 * With async NULL, it returns once the deposit is durable. Otherwise CP_OK
 * means the transaction is released into the open batch, and async->done
 * reports later whether it became durable (store_commit_async()).
 */
enum cp_result deposits_create(struct gateway *gw, const struct access_token *t,
                               const char *client_ip, const struct deposit_input *in,
                               struct deposit *out, bool *existing,
                               struct field_errors *errs, json_object **view,
                               const struct store_async *async);

/* Apply a transaction's confirmation to its deposit; inside a transaction. */
enum cp_result deposits_confirm_locked(struct gateway *gw, const struct chain_tx *tx);

#endif
