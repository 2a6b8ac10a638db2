#include <stdio.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "rates.h"
#include "views.h"

static enum cp_result
events_write(struct gateway *gw, json_object *body, int64_t token_id, int64_t order_id,
             int64_t deposit_id, int64_t sequence, const char *action)
{
	struct callback_event ev = { .token_id = token_id, .order_id = order_id,
	                             .deposit_id = deposit_id, .sequence = sequence,
	                             .action = action };
	struct access_token t;
	enum cp_result rc;

	rc = store_token_get(gw->store, token_id, &t);
	if (rc != CP_OK)
		goto out;
	gateway_random_id("evt_", ev.event_id, sizeof(ev.event_id));
	json_object_object_add(body, "event_id", json_object_new_string(ev.event_id));
	json_object_object_add(body, "sequence", json_object_new_int64(sequence));
	ev.body = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	ev.urls = t.callback_urls;
	ev.created_at = gateway_now_ms(gw) / 1000;
	rc = store_event_insert(gw->store, &ev);
	if (rc == CP_OK)
		log_info("callback event written", "event_id", ev.event_id, "action", action,
		         "sequence", log_int(sequence), NULL);
out:
	json_object_put(body);
	return rc;
}

enum cp_result
events_order(struct gateway *gw, const struct order *o, const char *action,
             const struct chain_tx *tx, const struct order_facts *facts)
{
	money_t received = facts != NULL ? facts->received : 0;
	bool late = order_payment_is_late(o->status, facts);
	const struct money_currency *cur = money_currency_find(o->currency);
	const struct money_coin *coin = money_coin_find(o->coin);
	int fiat_scale = cur ? cur->scale : 2;
	json_object *body = json_object_new_object();
	money_t fiat = 0, rate = 0;
	char created[32];
	int64_t seq;
	enum cp_result rc;

	if ((rc = store_order_next_sequence(gw->store, o->id, &seq)) != CP_OK) {
		json_object_put(body);
		return rc;
	}
	if (coin != NULL && money_parse(o->exchange_rate, RATES_SCALE, &rate) == MONEY_OK)
		rates_to_fiat(received, coin->scale, rate, fiat_scale, &fiat);
	views_format_time(o->created_at_ms, true, created, sizeof(created));

	json_object_object_add(body, "type", json_object_new_string("order"));
	json_object_object_add(body, "action", json_object_new_string(action));
	json_object_object_add(body, "status", json_object_new_string(order_status_code(o->status)));
	json_object_object_add(body, "order_status", json_object_new_string(order_status_code(o->status)));
	json_object_object_add(body, "order_id", json_object_new_int64(o->id));
	json_object_object_add(body, "client_order_id", json_object_new_string(o->client_order_id));
	json_object_object_add(body, "order_token", json_object_new_string(o->token));
	json_object_object_add(body, "transaction_id", tx ? json_object_new_string(tx->hash) : NULL);
	json_object_object_add(body, "amount", views_decimal(o->amount_fiat, fiat_scale, true));
	json_object_object_add(body, "amount_in_coins",
		coin ? views_decimal(o->amount_crypto, coin->scale, false) : NULL);
	json_object_object_add(body, "received_amount_in_coins",
		coin ? views_decimal(received, coin->scale, false) : views_decimal_text("0"));
	json_object_object_add(body, "received_amount_in_fiat", views_decimal(fiat, fiat_scale, true));
	json_object_object_add(body, "fiat_currency", json_object_new_string(o->currency));
	json_object_object_add(body, "crypto_currency", coin ? json_object_new_string(coin->code) : NULL);
	json_object_object_add(body, "created_at", json_object_new_string(created));
	json_object_object_add(body, "order_expiration",
		json_object_new_int64((o->expires_at_ms - o->created_at_ms) / 60000));
	json_object_object_add(body, "exchange_rate",
		o->exchange_rate[0] ? views_decimal_text(o->exchange_rate) : NULL);
	json_object_object_add(body, "late", json_object_new_boolean(late));
	json_object_object_add(body, "sandbox", json_object_new_boolean(o->mode == TOKEN_MODE_SANDBOX));

	return events_write(gw, body, o->token_id, o->id, 0, seq, action);
}

enum cp_result
events_deposit(struct gateway *gw, const struct deposit *d, const char *action,
               const struct chain_tx *tx)
{
	const struct money_currency *cur = money_currency_find(d->currency);
	const struct money_coin *coin = money_coin_find(tx->coin);
	int fiat_scale = cur ? cur->scale : 2;
	json_object *body = json_object_new_object();
	char created[32];
	int64_t seq;
	enum cp_result rc;

	if ((rc = store_deposit_next_sequence(gw->store, d->id, &seq)) != CP_OK) {
		json_object_put(body);
		return rc;
	}
	views_format_time(tx->created_at_ms, true, created, sizeof(created));

	json_object_object_add(body, "type", json_object_new_string("deposit"));
	json_object_object_add(body, "action", json_object_new_string(action));
	json_object_object_add(body, "transaction_id", json_object_new_string(tx->hash));
	json_object_object_add(body, "received_amount",
		views_decimal(tx->amount, coin ? coin->scale : 8, false));
	json_object_object_add(body, "received_amount_in_fiat",
		views_decimal(tx->amount_fiat, fiat_scale, true));
	json_object_object_add(body, "fiat_currency", json_object_new_string(d->currency));
	json_object_object_add(body, "status", json_object_new_string(tx->confirmed ? "CONFIRMED" : "PENDING"));
	json_object_object_add(body, "confirmations", json_object_new_int(tx->confirmations));
	json_object_object_add(body, "crypto_currency", json_object_new_string(tx->coin));
	json_object_object_add(body, "exchange_rate", views_decimal_text(tx->exchange_rate));
	json_object_object_add(body, "created_at", json_object_new_string(created));
	json_object_object_add(body, "deposit_id", json_object_new_string(d->client_deposit_id));
	json_object_object_add(body, "deposit_token", json_object_new_string(d->deposit_token));
	json_object_object_add(body, "sandbox", json_object_new_boolean(d->mode == TOKEN_MODE_SANDBOX));

	return events_write(gw, body, d->token_id, 0, d->id, seq, action);
}
