#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "deposits.h"
#include "events.h"
#include "log.h"
#include "orders.h"
#include "rates.h"
#include "sandbox.h"

void
sandbox_address(const char *coin, char owner_kind, int64_t owner_id, char *out, size_t len)
{
	static const char bech32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	const struct money_coin *c = money_coin_find(coin);
	unsigned char hash[32];
	char seed[96], body[41];
	bool ethereum = c != NULL && strcmp(c->network, "ethereum") == 0;

	snprintf(seed, sizeof(seed), "citypay-sandbox/%c/%lld/%s", owner_kind,
	         (long long)owner_id, coin);
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)seed, strlen(seed), NULL, 0);

	if (ethereum) {
		sodium_bin2hex(body, sizeof(body), hash, 20);
		snprintf(out, len, "0x%s", body);
		return;
	}
	for (size_t i = 0; i < 32 && i < sizeof(body) - 1; i++)
		body[i] = bech32[hash[i] & 31];
	body[32] = '\0';
	snprintf(out, len, "%s1q%s", c != NULL && strcmp(c->network, "litecoin") == 0
	         ? "rltc" : "bcrt", body);
}

static void
sandbox_tx_hash(char *out, size_t len)
{
	unsigned char bytes[32];

	randombytes_buf(bytes, sizeof(bytes));
	sodium_bin2hex(out, len, bytes, sizeof(bytes));
}

/* Fill the fiat value of tx from the current rate of its coin. */
static enum cp_result
sandbox_price(struct chain_tx *tx, const char *fiat, struct field_errors *errs)
{
	const struct money_currency *cur = money_currency_find(fiat);
	const struct money_coin *coin = money_coin_find(tx->coin);
	struct rate rate;
	int found = rates_find(tx->coin, fiat, &rate);

	/* A payment is valued at the latest known rate even when it is stale:
	 * a received transaction is recorded, never rejected. */
	if (cur == NULL || coin == NULL || (found != RATES_FOUND && found != RATES_STALE) ||
	    rates_to_fiat(tx->amount, coin->scale, rate.value, cur->scale, &tx->amount_fiat) != 0) {
		field_errors_add(errs, "coin", "no exchange rate from %s to %s is available",
		                 tx->coin, fiat);
		return CP_INVALID;
	}
	money_format_trim(rate.value, RATES_SCALE, tx->exchange_rate, sizeof(tx->exchange_rate));
	return CP_OK;
}

static enum cp_result
sandbox_parse_amount(const char *amount, const struct money_coin *coin, money_t *units,
                     struct field_errors *errs)
{
	enum money_result mr = money_parse(amount, coin->scale, units);

	if (mr == MONEY_OK)
		return CP_OK;
	field_errors_add(errs, "amount", "amount must be a positive decimal in %s with at most"
	                 " %d fraction digits (%s)", coin->code, coin->scale, money_strerror(mr));
	return CP_INVALID;
}

static enum cp_result
sandbox_pay_order(struct gateway *gw, struct order *o, const char *coin, const char *amount,
                  struct chain_tx *tx, struct field_errors *errs)
{
	money_t received, confirmed;
	struct access_token t;
	enum cp_result rc;

	if (o->coin[0] == '\0' || (coin && coin[0] && strcmp(coin, o->coin) != 0)) {
		if ((rc = store_token_get(gw->store, o->token_id, &t)) != CP_OK)
			return rc;
		if (coin == NULL || coin[0] == '\0')
			coin = strcmp(t.type, "crypto") == 0 ? "BTC" : t.type;
		if ((rc = orders_choose_coin_locked(gw, o, coin, errs)) != CP_OK)
			return rc;
	}
	snprintf(tx->coin, sizeof(tx->coin), "%s", o->coin);
	snprintf(tx->address, sizeof(tx->address), "%s", o->address);
	tx->order_id = o->id;

	if (amount != NULL && amount[0] != '\0') {
		rc = sandbox_parse_amount(amount, money_coin_find(o->coin), &tx->amount, errs);
		if (rc != CP_OK)
			return rc;
	} else {
		if ((rc = orders_totals_locked(gw, o->id, &received, &confirmed)) != CP_OK)
			return rc;
		tx->amount = o->amount_crypto > received ? o->amount_crypto - received : 0;
		if (tx->amount == 0) {
			field_errors_add(errs, "amount", "the order is already paid in full; give an"
			                 " amount to send more");
			return CP_INVALID;
		}
	}
	if ((rc = sandbox_price(tx, o->currency, errs)) != CP_OK)
		return rc;
	if ((rc = store_tx_insert(gw->store, tx)) != CP_OK)
		return rc;
	return orders_refresh_locked(gw, o, "transaction_received", tx);
}

static enum cp_result
sandbox_pay_deposit(struct gateway *gw, const struct deposit *d, const char *coin,
                    const char *amount, struct chain_tx *tx, struct field_errors *errs)
{
	const struct money_coin *c = money_coin_find(coin && coin[0] ? coin : "BTC");
	enum cp_result rc;

	if (c == NULL || store_address_find_owner(gw->store, c->code, 0, d->id, tx->address,
	                                          sizeof(tx->address)) != CP_OK) {
		field_errors_add(errs, "coin", "this deposit has no address for coin \"%.24s\"",
		                 coin ? coin : "");
		return CP_INVALID;
	}
	if (amount == NULL || amount[0] == '\0') {
		field_errors_add(errs, "amount", "amount is missing; a deposit has no fixed amount");
		return CP_INVALID;
	}
	snprintf(tx->coin, sizeof(tx->coin), "%s", c->code);
	tx->deposit_id = d->id;
	if ((rc = sandbox_parse_amount(amount, c, &tx->amount, errs)) != CP_OK ||
	    (rc = sandbox_price(tx, d->currency, errs)) != CP_OK ||
	    (rc = store_tx_insert(gw->store, tx)) != CP_OK)
		return rc;
	return events_deposit(gw, d, "receive_transaction", tx);
}

/* Find the sandbox order or deposit of token and pay it, in one transaction. */
static enum cp_result
sandbox_pay_locked(struct gateway *gw, const char *token, const char *coin,
                   const char *amount, struct chain_tx *tx, struct field_errors *errs)
{
	struct order o;
	struct deposit d;
	enum cp_result rc = store_order_find_token(gw->store, token, &o);

	if (rc == CP_OK)
		return o.mode == TOKEN_MODE_SANDBOX
		       ? sandbox_pay_order(gw, &o, coin, amount, tx, errs) : CP_NOT_FOUND;
	if (rc != CP_NOT_FOUND)
		return rc;
	rc = store_deposit_find_token(gw->store, token, &d);
	if (rc == CP_OK)
		return d.mode == TOKEN_MODE_SANDBOX
		       ? sandbox_pay_deposit(gw, &d, coin, amount, tx, errs) : CP_NOT_FOUND;
	return rc;
}

enum cp_result
sandbox_pay(struct gateway *gw, const char *token, const char *coin, const char *amount,
            struct chain_tx *tx, struct field_errors *errs)
{
	enum cp_result rc;

	memset(tx, 0, sizeof(*tx));
	if (token == NULL || token[0] == '\0') {
		field_errors_add(errs, "token", "token is missing; send the order or deposit token");
		return CP_INVALID;
	}
	sandbox_tx_hash(tx->hash, sizeof(tx->hash));
	tx->created_at_ms = gateway_now_ms(gw);

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = sandbox_pay_locked(gw, token, coin, amount, tx, errs);
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if ((rc = store_commit(gw->store)) == CP_OK) {
		log_info("sandbox payment", "hash", tx->hash, "coin", tx->coin, NULL);
		gateway_events_written(gw);
	}
	return rc;
}

struct sandbox_mine_walk {
	struct chain_tx *txs;
	size_t count;
	size_t capacity;
	bool failed;
};

static void
sandbox_collect(const struct chain_tx *tx, void *arg)
{
	struct sandbox_mine_walk *w = arg;

	if (w->count == w->capacity) {
		size_t capacity = w->capacity ? w->capacity * 2 : 64;
		struct chain_tx *grown = realloc(w->txs, capacity * sizeof(*grown));

		if (grown == NULL) {
			w->failed = true;
			return;
		}
		w->txs = grown;
		w->capacity = capacity;
	}
	w->txs[w->count++] = *tx;
}

/* Give tx its confirmations at height; report when it just became confirmed. */
static enum cp_result
sandbox_confirm(struct gateway *gw, struct chain_tx *tx, int64_t old_height, int64_t height)
{
	const struct money_coin *coin = money_coin_find(tx->coin);
	bool was_confirmed = tx->confirmed;
	enum cp_result rc;

	if (tx->block_height == 0)
		tx->block_height = old_height + 1;
	tx->confirmations = (int)(height - tx->block_height + 1);
	tx->confirmed = coin != NULL && tx->confirmations >= coin->confirmations;
	if ((rc = store_tx_update(gw->store, tx)) != CP_OK || was_confirmed || !tx->confirmed)
		return rc;

	if (tx->deposit_id != 0)
		return deposits_confirm_locked(gw, tx);
	return orders_confirm_tx_locked(gw, tx);
}

enum cp_result
sandbox_mine(struct gateway *gw, int blocks, int64_t *height)
{
	struct sandbox_mine_walk walk = { NULL, 0, 0, false };
	int64_t old_height = 0;
	enum cp_result rc;

	if (blocks < 1 || blocks > SANDBOX_MINE_MAX)
		return CP_INVALID;
	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_chain_height(gw->store, SANDBOX_CHAIN, &old_height);
	*height = old_height + blocks;
	if (rc == CP_OK)
		rc = store_chain_set_height(gw->store, SANDBOX_CHAIN, *height);
	if (rc == CP_OK)
		rc = store_tx_list_unconfirmed(gw->store, sandbox_collect, &walk);
	if (rc == CP_OK && walk.failed)
		rc = CP_ERROR;
	for (size_t i = 0; rc == CP_OK && i < walk.count; i++)
		rc = sandbox_confirm(gw, &walk.txs[i], old_height, *height);
	free(walk.txs);
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if ((rc = store_commit(gw->store)) == CP_OK) {
		log_info("sandbox blocks mined", "blocks", log_int(blocks), "height", log_int(*height), NULL);
		gateway_events_written(gw);
	}
	return rc;
}
