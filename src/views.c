#include <stdio.h>
#include <string.h>
#include <time.h>

#include "views.h"

/* Tether's ERC-20 contract on Ethereum mainnet, for EIP-681 URIs. */
#define USDT_ERC20_CONTRACT "0xdAC17F958D2ee523a2206206994597C13D831ec7"

json_object *
views_decimal(money_t units, int scale, bool keep_scale)
{
	char text[MONEY_TEXT_MAX];

	if (keep_scale)
		money_format(units, scale, text, sizeof(text));
	else
		money_format_trim(units, scale, text, sizeof(text));
	return views_decimal_text(text);
}

json_object *
views_decimal_text(const char *text)
{
	/* The double is never read: json-c serialises the given text, so the
	 * number stays exact on the wire. */
	return json_object_new_double_s(0.0, text);
}

void
views_format_time(int64_t ms, bool seconds, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
}

void
views_payment_uri(const struct order *o, char *buf, size_t len)
{
	const struct money_coin *coin = money_coin_find(o->coin);
	char amount[MONEY_TEXT_MAX], units[MONEY_TEXT_MAX];

	buf[0] = '\0';
	if (coin == NULL || o->address[0] == '\0')
		return;
	money_format_trim(o->amount_crypto, coin->scale, amount, sizeof(amount));
	money_units_format(o->amount_crypto, units, sizeof(units));

	if (strcmp(coin->code, "ETH") == 0)
		snprintf(buf, len, "ethereum:%s?value=%s", o->address, units);
	else if (strcmp(coin->code, "USDT-ERC20") == 0)
		snprintf(buf, len, "ethereum:%s/transfer?address=%s&uint256=%s",
		         USDT_ERC20_CONTRACT, o->address, units);
	else
		snprintf(buf, len, "%s:%s?amount=%s", coin->network, o->address, amount);
}

static json_object *
views_string_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static json_object *
views_currency(const char *code)
{
	const struct money_currency *c = money_currency_find(code);
	json_object *obj = json_object_new_object();

	views_add(obj, "id", json_object_new_int(c ? c->numeric : 0));
	views_add(obj, "currency", json_object_new_string(c ? c->name : code));
	views_add(obj, "abbreviation", json_object_new_string(code));
	return obj;
}

struct views_tx_walk {
	const struct order *order;
	int fiat_scale;
	int coin_scale;
	money_t fiat_total;
	json_object *list;
	struct order_facts facts;       /* for the "late" flag */
};

/* One entry of transactions[]; amountFiat totals run over the list. */
static void
views_tx(const struct chain_tx *tx, void *arg)
{
	struct views_tx_walk *w = arg;
	json_object *item = json_object_new_object();
	json_object *fiat = json_object_new_object();
	money_t base = w->order->amount_fiat;
	char time_text[32];

	w->fiat_total += tx->amount_fiat;
	order_facts_add(&w->facts, w->order->expires_at_ms, tx->amount, tx->confirmed,
	                tx->created_at_ms);
	views_add(fiat, "base", views_decimal(base, w->fiat_scale, true));
	views_add(fiat, "total", views_decimal(w->fiat_total, w->fiat_scale, true));
	views_add(fiat, "underPaid", views_decimal(
		w->fiat_total < base ? base - w->fiat_total : 0, w->fiat_scale, true));
	views_add(fiat, "overPaid", views_decimal(
		w->fiat_total > base ? w->fiat_total - base : 0, w->fiat_scale, true));

	views_format_time(tx->created_at_ms, false, time_text, sizeof(time_text));
	views_add(item, "id", json_object_new_int64(tx->id));
	views_add(item, "hash", json_object_new_string(tx->hash));
	views_add(item, "coin", json_object_new_string(tx->coin));
	views_add(item, "amount", views_decimal(tx->amount, w->coin_scale, false));
	views_add(item, "amountFiat", fiat);
	views_add(item, "confirmations", json_object_new_int(tx->confirmations));
	views_add(item, "createdAt", json_object_new_string(time_text));
	views_add(item, "createdAtMiliseconds", json_object_new_int64(tx->created_at_ms));
	json_object_array_add(w->list, item);
}

static void
views_order_amounts(json_object *data, const struct order *o, int fiat_scale)
{
	const struct money_coin *coin = money_coin_find(o->coin);

	views_add(data, "amountFiat", views_decimal(o->amount_fiat, fiat_scale, true));
	views_add(data, "coin", views_string_or_null(o->coin));
	views_add(data, "coinBaseName", coin ? json_object_new_string(coin->base_name) : NULL);
	views_add(data, "exchangeRate",
		o->exchange_rate[0] ? views_decimal_text(o->exchange_rate) : NULL);
	views_add(data, "amount",
		coin ? views_decimal(o->amount_crypto, coin->scale, false) : NULL);
}

/*
 * Build the order object from o, its owner's fields and, for the private
 * views, the token's callback URLs (one per line; NULL for the public view).
 */
static json_object *
views_order_build(struct gateway *gw, const struct order *o, const struct order_owner *owner,
                  const char *callback_urls)
{
	const struct money_currency *cur = money_currency_find(o->currency);
	const struct money_coin *coin = money_coin_find(o->coin);
	json_object *data = json_object_new_object();
	json_object *status = json_object_new_object();
	json_object *urls = json_object_new_object();
	struct views_tx_walk walk = {
		.order = o, .fiat_scale = cur ? cur->scale : 2, .coin_scale = coin ? coin->scale : 8,
		.list = json_object_new_array(),
		.facts = { .expected = o->amount_crypto,
		           .tolerance_under_pct = o->tolerance_under_pct,
		           .tolerance_over_pct = o->tolerance_over_pct },
	};
	char text[CP_URL_MAX + 64];
	int64_t left = o->expires_at_ms - gateway_now_ms(gw);

	if (store_tx_list(gw->store, o->id, 0, views_tx, &walk) != CP_OK) {
		json_object_put(data);
		json_object_put(status);
		json_object_put(urls);
		json_object_put(walk.list);
		return NULL;
	}

	views_add(data, "companyName", json_object_new_string(owner->company));
	views_add(data, "id", json_object_new_int64(o->id));
	views_add(data, "customerId", json_object_new_int64(o->merchant_id));
	views_add(data, "token", json_object_new_string(o->token));
	views_add(data, "orderId", json_object_new_string(o->client_order_id));
	views_order_amounts(data, o, walk.fiat_scale);
	views_add(data, "currency", views_currency(o->currency));
	views_format_time(o->created_at_ms, false, text, sizeof(text));
	views_add(data, "createdAt", json_object_new_string(text));
	views_add(data, "createdAtMiliseconds", json_object_new_int64(o->created_at_ms));
	views_add(data, "type", json_object_new_string("Order"));
	views_add(data, "expiresAt", json_object_new_int64(o->expires_at_ms));
	views_add(data, "expirationTime", json_object_new_int64(left > 0 ? left : 0));
	views_add(data, "address", views_string_or_null(o->address));
	views_payment_uri(o, text, sizeof(text));
	views_add(data, "qrCode", views_string_or_null(text));

	views_add(status, "code", json_object_new_string(order_status_code(o->status)));
	views_add(status, "label", json_object_new_string(order_status_label(o->status)));
	views_add(data, "status", status);
	views_add(data, "late",
		json_object_new_boolean(order_payment_is_late(o->status, &walk.facts)));
	views_add(urls, "successUrl", views_string_or_null(owner->success_url));
	views_add(urls, "cancelUrl", views_string_or_null(owner->cancel_url));
	views_add(data, "urls", urls);
	views_add(data, "transactions", walk.list);
	views_add(data, "sandbox", json_object_new_boolean(o->mode == TOKEN_MODE_SANDBOX));

	if (callback_urls != NULL) {
		views_add(data, "email", views_string_or_null(o->email));
		views_add(data, "description", views_string_or_null(o->description));
		json_object *list = json_object_new_array();
		char url[CP_URL_MAX + 1];

		for (const char *p = callback_urls; *p != '\0';) {
			size_t n = strcspn(p, "\n");
			if (n > 0 && n < sizeof(url)) {
				memcpy(url, p, n);
				url[n] = '\0';
				json_object_array_add(list, json_object_new_string(url));
			}
			p += n + (p[n] == '\n');
		}
		views_add(data, "callbackUrls", list);
	}
	return data;
}

json_object *
views_order(struct gateway *gw, const struct order *o, bool include_private)
{
	struct order_owner owner;
	struct merchant m;
	struct access_token t;

	if (store_merchant_get(gw->store, o->merchant_id, &m) != CP_OK ||
	    store_token_get(gw->store, o->token_id, &t) != CP_OK)
		return NULL;
	snprintf(owner.company, sizeof(owner.company), "%s", m.company);
	snprintf(owner.success_url, sizeof(owner.success_url), "%s", t.success_url);
	snprintf(owner.cancel_url, sizeof(owner.cancel_url), "%s", t.cancel_url);
	return views_order_build(gw, o, &owner, include_private ? t.callback_urls : NULL);
}

json_object *
views_order_public(struct gateway *gw, const struct order *o, const struct order_owner *owner)
{
	return views_order_build(gw, o, owner, NULL);
}

json_object *
views_deposit(struct gateway *gw, const struct deposit *d)
{
	json_object *data = json_object_new_object();
	json_object *addresses = json_object_new_array();

	views_add(data, "id", json_object_new_int64(d->id));
	views_add(data, "token", json_object_new_string(d->token));
	views_add(data, "depositId", json_object_new_string(d->client_deposit_id));
	views_add(data, "depositToken", json_object_new_string(d->deposit_token));
	views_add(data, "currency", views_currency(d->currency));
	views_add(data, "type", json_object_new_string("Deposit"));
	views_add(data, "sandbox", json_object_new_boolean(d->mode == TOKEN_MODE_SANDBOX));

	for (size_t i = 0; i < money_coin_count(); i++) {
		const struct money_coin *coin = money_coin_at(i);
		char address[128];

		if (store_address_find_owner(gw->store, coin->code, 0, d->id, address,
		                             sizeof(address)) != CP_OK)
			continue;
		json_object *item = json_object_new_object();
		views_add(item, "coin", json_object_new_string(coin->code));
		views_add(item, "coinBaseName", json_object_new_string(coin->base_name));
		views_add(item, "address", json_object_new_string(address));
		json_object_array_add(addresses, item);
	}
	views_add(data, "addresses", addresses);
	return data;
}
