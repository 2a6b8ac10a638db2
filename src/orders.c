#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "orders.h"
#include "rates.h"
#include "sandbox.h"

bool
orders_coin_allowed(const struct merchant *m, const struct access_token *t, const char *coin)
{
	size_t n = strlen(coin);
	const char *p = m->enabled_coins;

	if (money_coin_find(coin) == NULL)
		return false;
	if (strcmp(t->type, "crypto") != 0 && strcmp(t->type, coin) != 0)
		return false;
	/* enabled_coins is a comma-separated list such as "BTC,ETH". */
	while ((p = strstr(p, coin)) != NULL) {
		bool starts = p == m->enabled_coins || p[-1] == ',';
		bool ends = p[n] == '\0' || p[n] == ',';
		if (starts && ends)
			return true;
		p += n;
	}
	return false;
}

static void
orders_check_input(const struct order_input *in, const struct access_token *t,
                   struct order *o, struct field_errors *errs)
{
	const char *currency = in->currency && in->currency[0] ? in->currency : t->currency;
	const struct money_currency *cur = money_currency_find(currency);
	enum money_result mr;

	if (in->order_id == NULL || in->order_id[0] == '\0')
		field_errors_add(errs, "order_id", "order_id is missing; send your own order number");
	else if (!validate_text(in->order_id, CP_ORDER_ID_MAX))
		field_errors_add(errs, "order_id", "order_id must be at most %d characters of"
		                 " text without line breaks or control characters", CP_ORDER_ID_MAX);
	else
		snprintf(o->client_order_id, sizeof(o->client_order_id), "%s", in->order_id);

	if (in->order_token == NULL || in->order_token[0] == '\0')
		field_errors_add(errs, "order_token", "order_token is missing; send a unique token"
		                 " for this order");
	else if (!validate_public_token(in->order_token, CP_ORDER_TOKEN_MAX))
		field_errors_add(errs, "order_token", "order_token must be 1 to %d letters, digits,"
		                 " '-', '_' or '.'", CP_ORDER_TOKEN_MAX);
	else
		snprintf(o->token, sizeof(o->token), "%s", in->order_token);

	if (cur == NULL) {
		field_errors_add(errs, "currency", "currency \"%.8s\" is not a supported ISO 4217"
		                 " code such as USD or EUR", currency);
	} else {
		snprintf(o->currency, sizeof(o->currency), "%s", cur->code);
		if (in->amount == NULL || in->amount[0] == '\0')
			field_errors_add(errs, "amount", "amount is missing; send the price in %s"
			                 " such as \"25.50\"", cur->code);
		else if ((mr = money_parse(in->amount, cur->scale, &o->amount_fiat)) != MONEY_OK)
			field_errors_add(errs, "amount", "amount must be a positive decimal with at"
			                 " most %d fraction digits for %s (%s)", cur->scale,
			                 cur->code, money_strerror(mr));
	}

	if (in->email && in->email[0] && !validate_email(in->email))
		field_errors_add(errs, "email", "email is not a valid e-mail address");
	else if (in->email)
		snprintf(o->email, sizeof(o->email), "%s", in->email);
	if (in->description && (!validate_multiline_text(in->description, strlen(in->description)) ||
	                        validate_characters(in->description) > CP_DESCRIPTION_MAX))
		field_errors_add(errs, "description", "description must be at most %d characters"
		                 " of text without control characters", CP_DESCRIPTION_MAX);
	else if (in->description)
		snprintf(o->description, sizeof(o->description), "%s", in->description);
	if (in->lang && (!validate_public_token(in->lang, sizeof(o->lang) - 1) ||
	                 strchr(in->lang, '.') != NULL))
		field_errors_add(errs, "lang", "lang must be a language tag such as en or pt-BR");
	else if (in->lang)
		snprintf(o->lang, sizeof(o->lang), "%s", in->lang);
}

/* Compare a stored order with a retried request, for idempotent replay. */
static bool
orders_same_request(const struct order *stored, const struct order *asked, int64_t merchant_id)
{
	return stored->merchant_id == merchant_id &&
	       strcmp(stored->client_order_id, asked->client_order_id) == 0 &&
	       stored->amount_fiat == asked->amount_fiat &&
	       strcmp(stored->currency, asked->currency) == 0;
}

/* The hourly order limit of a merchant; 0 is no limit. */
static bool
orders_rate_allows(struct gateway *gw, int64_t merchant_id)
{
	int per_hour;
	char key[64];

	if (gw->limits == NULL)
		return true;
	per_hour = gw->cfg->limit_orders_per_hour;
	if (per_hour == 0)
		return true;
	snprintf(key, sizeof(key), "orders-hour:%lld", (long long)merchant_id);
	return ratelimit_hit(gw->limits, key, gateway_now_ms(gw) / 1000, 3600, per_hour, NULL);
}

/* Check a retried order_token; CP_NOT_FOUND when the token is new. */
static enum cp_result
orders_replay(struct gateway *gw, const struct access_token *t, const struct order *asked,
              struct order *out, bool *replayed, struct field_errors *errs)
{
	enum cp_result rc = store_order_find_token(gw->store, asked->token, out);

	if (rc != CP_OK)
		return rc;
	if (orders_same_request(out, asked, t->merchant_id)) {
		*replayed = true;
		return CP_OK;
	}
	field_errors_add(errs, "order_token", "order_token \"%s\" is already used by another"
	                 " order; send a new order_token, or the same order_id, amount and"
	                 " currency to fetch that order", asked->token);
	return CP_INVALID;
}

/* A new order whose COMMIT runs on the store's committer thread. */
struct orders_commit {
	struct store_async then;        /* the caller's callback */
	int64_t id;
	int64_t merchant_id;
	char token[CP_ORDER_TOKEN_MAX + 1];
};

static void
orders_committed(void *arg, enum cp_result rc)
{
	struct orders_commit *oc = arg;

	if (rc == CP_OK)
		log_info("order created", "order_id", log_int(oc->id), "customer_id",
		         log_int(oc->merchant_id), "order_token", oc->token, NULL);
	oc->then.done(oc->then.arg, rc);
	free(oc);
}

/* Commit a new order, or hand it to the committer thread when async is set. */
static enum cp_result
orders_commit_new(struct gateway *gw, const struct order *o, const struct store_async *async)
{
	struct orders_commit *oc;
	enum cp_result rc;

	if (async == NULL) {
		if ((rc = store_commit(gw->store)) == CP_OK)
			log_info("order created", "order_id", log_int(o->id), "customer_id",
			         log_int(o->merchant_id), "order_token", o->token, NULL);
		return rc;
	}
	oc = malloc(sizeof(*oc));
	if (oc == NULL) {
		log_error("out of memory for a new order; it is rolled back", NULL);
		store_rollback(gw->store);
		return CP_ERROR;
	}
	oc->then = *async;
	oc->id = o->id;
	oc->merchant_id = o->merchant_id;
	snprintf(oc->token, sizeof(oc->token), "%s", o->token);
	rc = store_commit_async(gw->store, &(struct store_async){ orders_committed, oc });
	if (rc != CP_OK)
		free(oc);
	return rc;
}

enum cp_result
orders_create(struct gateway *gw, const struct access_token *t, const char *client_ip,
              const struct order_input *in, struct order *out, bool *replayed,
              struct field_errors *errs, const struct store_async *async)
{
	struct merchant m;
	enum cp_result rc;
	int64_t now = gateway_now_ms(gw);

	memset(out, 0, sizeof(*out));
	*replayed = false;
	orders_check_input(in, t, out, errs);
	if (errs->count > 0)
		return CP_INVALID;

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	struct order asked = *out;
	rc = orders_replay(gw, t, &asked, out, replayed, errs);
	if (rc != CP_NOT_FOUND)
		goto done;

	*out = asked;
	if ((rc = store_merchant_get(gw->store, t->merchant_id, &m)) != CP_OK)
		goto done;
	if (!orders_rate_allows(gw, m.id)) {
		rc = CP_CONFLICT;
		goto done;
	}
	out->merchant_id = m.id;
	out->token_id = t->id;
	out->mode = t->mode;
	out->status = ORDER_IN_PROGRESS;
	out->tolerance_under_pct = m.tolerance_under_pct;
	out->tolerance_over_pct = m.tolerance_over_pct;
	out->created_at_ms = now;
	out->updated_at_ms = now;
	out->expires_at_ms = now + (int64_t)(m.order_expiry_minutes > 0 ? m.order_expiry_minutes
	                                     : CP_ORDER_EXPIRY_MIN) * 60000;
	rc = store_order_insert(gw->store, out);
	if (rc == CP_OK)
		rc = store_token_touch(gw->store, t->id, now / 1000, client_ip);
done:
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if (*replayed)
		return async ? store_commit_async(gw->store, async) : store_commit(gw->store);
	return orders_commit_new(gw, out, async);
}

/* Add one transaction to the running totals of orders_totals_locked(). */
static void
orders_add_tx(const struct chain_tx *tx, void *arg)
{
	money_t *sums = arg;

	sums[0] += tx->amount;
	if (tx->confirmed)
		sums[1] += tx->amount;
}

enum cp_result
orders_totals_locked(struct gateway *gw, int64_t order_id, money_t *received, money_t *confirmed)
{
	money_t sums[2] = { 0, 0 };
	enum cp_result rc = store_tx_list(gw->store, order_id, 0, orders_add_tx, sums);

	*received = sums[0];
	*confirmed = sums[1];
	return rc;
}

/* Walk state of orders_facts_locked(). */
struct orders_facts_walk {
	struct order_facts *facts;
	int64_t expires_at_ms;
};

static void
orders_add_fact(const struct chain_tx *tx, void *arg)
{
	struct orders_facts_walk *w = arg;

	order_facts_add(w->facts, w->expires_at_ms, tx->amount, tx->confirmed, tx->created_at_ms);
}

enum cp_result
orders_facts_locked(struct gateway *gw, const struct order *o, struct order_facts *facts)
{
	struct orders_facts_walk walk = { facts, o->expires_at_ms };

	memset(facts, 0, sizeof(*facts));
	facts->expected = o->amount_crypto;
	facts->tolerance_under_pct = o->tolerance_under_pct;
	facts->tolerance_over_pct = o->tolerance_over_pct;
	facts->expired = gateway_now_ms(gw) >= o->expires_at_ms;
	return store_tx_list(gw->store, o->id, 0, orders_add_fact, &walk);
}

enum cp_result
orders_refresh_locked(struct gateway *gw, struct order *o, const char *action,
                      const struct chain_tx *tx)
{
	struct order_facts facts;
	enum order_status before = o->status;
	enum cp_result rc;
	int64_t now = gateway_now_ms(gw);

	if ((rc = orders_facts_locked(gw, o, &facts)) != CP_OK)
		return rc;
	o->status = order_status_next(before, &facts);

	if (o->status != before) {
		o->updated_at_ms = now;
		if ((rc = store_order_update(gw->store, o, before)) != CP_OK)
			return rc;
		log_info("order status changed", "order_id", log_int(o->id), "from",
		         order_status_code(before), "to", order_status_code(o->status),
		         "late", order_payment_is_late(o->status, &facts) ? "true" : "false", NULL);
	}
	if (action == NULL && o->status == before)
		return CP_OK;
	if (action == NULL)
		action = o->status == ORDER_CONFIRMED || o->status == ORDER_OVERPAID
		         ? "confirmation" : "status_changed";
	return events_order(gw, o, action, tx, &facts);
}

enum cp_result
orders_confirm_tx_locked(struct gateway *gw, const struct chain_tx *tx)
{
	struct order o;
	enum order_status before;
	enum cp_result rc;

	if ((rc = store_order_get(gw->store, tx->order_id, &o)) != CP_OK)
		return rc;
	before = o.status;
	if (before == ORDER_IN_PROGRESS || before == ORDER_PAID_UNCONFIRMED)
		return orders_refresh_locked(gw, &o, NULL, tx);
	/* The order no longer waits for this payment, so its confirmation is
	 * reported even when the status stays. */
	return orders_refresh_locked(gw, &o, "confirmation", tx);
}

/* Assign address and quote for coin; o is IN_PROGRESS with nothing paid. */
static enum cp_result
orders_quote(struct gateway *gw, struct order *o, const struct money_coin *coin,
             struct field_errors *errs)
{
	const struct money_currency *cur = money_currency_find(o->currency);
	struct rate rate;
	enum cp_result rc;

	int found = rates_find(coin->code, o->currency, &rate);

	/* A new quote is never made from a stale rate: the buyer would pay at
	 * a price the market has left. */
	if (found == RATES_STALE) {
		field_errors_add(errs, "coin", "the exchange rate of %s to %s is stale (older than"
		                 " %lld seconds); try again shortly", coin->code, o->currency,
		                 (long long)rates_max_age());
		return CP_INVALID;
	}
	if (found != RATES_FOUND) {
		field_errors_add(errs, "coin", "no exchange rate from %s to %s is available;"
		                 " choose another coin", coin->code, o->currency);
		return CP_INVALID;
	}
	if (cur == NULL || rates_quote(o->amount_fiat, cur->scale, rate.value, coin->scale,
	                               &o->amount_crypto) != 0) {
		field_errors_add(errs, "amount", "the amount cannot be converted to %s", coin->code);
		return CP_INVALID;
	}
	money_format_trim(rate.value, RATES_SCALE, o->exchange_rate, sizeof(o->exchange_rate));

	rc = store_address_find_owner(gw->store, coin->code, o->id, 0, o->address,
	                              sizeof(o->address));
	if (rc == CP_NOT_FOUND) {
		sandbox_address(coin->code, 'o', o->id, o->address, sizeof(o->address));
		rc = store_address_insert(gw->store, coin->code, o->address, o->id, 0,
		                          gateway_now_ms(gw) / 1000);
	}
	snprintf(o->coin, sizeof(o->coin), "%s", coin->code);
	return rc;
}

enum cp_result
orders_choose_coin_locked(struct gateway *gw, struct order *o, const char *coin_code,
                          struct field_errors *errs)
{
	const struct money_coin *coin = coin_code ? money_coin_find(coin_code) : NULL;
	struct access_token t;
	struct merchant m;
	money_t received, confirmed;
	enum cp_result rc;

	if ((rc = store_token_get(gw->store, o->token_id, &t)) != CP_OK ||
	    (rc = store_merchant_get(gw->store, o->merchant_id, &m)) != CP_OK ||
	    (rc = orders_totals_locked(gw, o->id, &received, &confirmed)) != CP_OK)
		return rc;

	if (coin == NULL || !orders_coin_allowed(&m, &t, coin->code)) {
		field_errors_add(errs, "coin", "coin \"%.24s\" is not offered for this order;"
		                 " choose one of the coins on the payment page",
		                 coin_code ? coin_code : "");
		return CP_INVALID;
	}
	if (o->status != ORDER_IN_PROGRESS || gateway_now_ms(gw) >= o->expires_at_ms) {
		field_errors_add(errs, "token", "the order is %s and can no longer be paid",
		                 o->status == ORDER_IN_PROGRESS ? "expired" : order_status_code(o->status));
		return CP_INVALID;
	}
	if (received > 0) {
		if (strcmp(o->coin, coin->code) == 0)
			return CP_OK;
		field_errors_add(errs, "coin", "a payment in %s was already received, so the coin"
		                 " cannot change", o->coin);
		return CP_INVALID;
	}
	/* NOTE: only the sandbox chain assigns addresses so far; a live order
	 * has no chain adapter to watch its address. */
	if (o->mode != TOKEN_MODE_SANDBOX) {
		field_errors_add(errs, "coin", "no chain adapter for %s is configured on this"
		                 " gateway; use a sandbox token", coin->code);
		return CP_INVALID;
	}

	if ((rc = orders_quote(gw, o, coin, errs)) != CP_OK)
		return rc;
	o->updated_at_ms = gateway_now_ms(gw);
	if ((rc = store_order_update(gw->store, o, o->status)) != CP_OK)
		return rc;
	return events_order(gw, o, "order_created", NULL, NULL);
}

/* A change to an order whose COMMIT runs on the store's committer thread. */
struct orders_change {
	struct store_async then;        /* the caller's callback */
	struct gateway *gw;
};

static void
orders_change_committed(void *arg, enum cp_result rc)
{
	struct orders_change *change = arg;

	if (rc == CP_OK)
		gateway_events_written(change->gw);
	change->then.done(change->then.arg, rc);
	free(change);
}

/*
 * Run fn on the order named by token inside one write transaction, then
 * commit, or hand the commit to the committer thread when async is set.
 */
static enum cp_result
orders_with_order(struct gateway *gw, const char *token, struct order *out,
                  struct field_errors *errs,
                  enum cp_result (*fn)(struct gateway *, struct order *, const char *,
                                       struct field_errors *),
                  const char *arg, const struct store_async *async)
{
	struct orders_change *change;
	enum cp_result rc;

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_order_find_token(gw->store, token, out);
	if (rc == CP_OK)
		rc = fn(gw, out, arg, errs);
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if (async == NULL) {
		if ((rc = store_commit(gw->store)) == CP_OK)
			gateway_events_written(gw);
		return rc;
	}
	change = malloc(sizeof(*change));
	if (change == NULL) {
		log_error("out of memory for an order change; it is rolled back",
		          "order_id", log_int(out->id), NULL);
		store_rollback(gw->store);
		return CP_ERROR;
	}
	change->then = *async;
	change->gw = gw;
	rc = store_commit_async(gw->store, &(struct store_async){ orders_change_committed, change });
	if (rc != CP_OK)
		free(change);
	return rc;
}

enum cp_result
orders_choose_coin(struct gateway *gw, const char *order_token, const char *coin,
                   struct order *out, struct field_errors *errs, const struct store_async *async)
{
	return orders_with_order(gw, order_token, out, errs, orders_choose_coin_locked, coin,
	                         async);
}

static enum cp_result
orders_cancel_locked(struct gateway *gw, struct order *o, const char *unused,
                     struct field_errors *errs)
{
	money_t received, confirmed;
	enum cp_result rc = orders_totals_locked(gw, o->id, &received, &confirmed);

	if (rc != CP_OK)
		return rc;
	if (o->status != ORDER_IN_PROGRESS || received > 0) {
		field_errors_add(errs, "token", "only an unpaid order in progress can be"
		                 " cancelled; this one is %s", order_status_code(o->status));
		return CP_INVALID;
	}
	o->status = ORDER_CANCELED;
	o->updated_at_ms = gateway_now_ms(gw);
	if ((rc = store_order_update(gw->store, o, ORDER_IN_PROGRESS)) != CP_OK)
		return rc;
	log_info("order cancelled", "order_id", log_int(o->id), NULL);
	return events_order(gw, o, "status_changed", NULL, NULL);
}

enum cp_result
orders_cancel(struct gateway *gw, const char *order_token, struct order *out,
              struct field_errors *errs, const struct store_async *async)
{
	return orders_with_order(gw, order_token, out, errs, orders_cancel_locked, NULL, async);
}

enum cp_result
orders_expire_due(struct gateway *gw, int *count)
{
	int64_t ids[ORDERS_EXPIRY_BATCH];
	int n = 0;
	enum cp_result rc;

	*count = 0;
	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_order_due_expiry(gw->store, gateway_now_ms(gw), ids, ORDERS_EXPIRY_BATCH, &n);
	for (int i = 0; rc == CP_OK && i < n; i++) {
		struct order o;

		rc = store_order_get(gw->store, ids[i], &o);
		if (rc == CP_OK)
			rc = orders_refresh_locked(gw, &o, NULL, NULL);
		if (rc == CP_OK && o.status != ORDER_IN_PROGRESS)
			(*count)++;
	}
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if ((rc = store_commit(gw->store)) == CP_OK && *count > 0)
		gateway_events_written(gw);
	return rc;
}
