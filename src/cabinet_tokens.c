/*
 * Cabinet routes of access tokens and merchant settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cabinet_internal.h"
#include "cabinet_reveal.h"
#include "merchants.h"
#include "tokens.h"

/* Split a list on newlines, commas or blanks into pointers into buf. */
static size_t
cabinet_split(const char *text, char *buf, size_t buflen, const char **items, size_t max,
              const char *separators)
{
	size_t n = 0;
	char *save = NULL;

	if (text == NULL)
		return 0;
	snprintf(buf, buflen, "%s", text);
	for (char *item = strtok_r(buf, separators, &save); item && n < max + 1;
	     item = strtok_r(NULL, separators, &save))
		items[n++] = item;
	return n;
}

static json_object *
cabinet_lines(const char *text)
{
	json_object *list = json_object_new_array();
	char buf[CP_CALLBACK_URLS_MAX * (CP_URL_MAX + 1)];
	const char *items[CP_CALLBACK_URLS_MAX * 8 + 1];
	size_t n = cabinet_split(text, buf, sizeof(buf), items,
	                         sizeof(items) / sizeof(items[0]) - 1, "\n");

	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, json_object_new_string(items[i]));
	return list;
}

static json_object *
cabinet_time_or_null(int64_t t)
{
	return t != 0 ? json_object_new_int64(t) : NULL;
}

static json_object *
cabinet_string_or_null(const char *s)
{
	return s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static json_object *
cabinet_token_json(const struct access_token *t, int64_t now)
{
	json_object *obj = json_object_new_object();
	const char *status = "active";

	if (t->revoked_at != 0)
		status = "revoked";
	else if (now >= t->expires_at)
		status = "expired";

	json_object_object_add(obj, "id", json_object_new_int64(t->id));
	json_object_object_add(obj, "name", json_object_new_string(t->name));
	json_object_object_add(obj, "type", json_object_new_string(t->type));
	json_object_object_add(obj, "currency", json_object_new_string(t->currency));
	json_object_object_add(obj, "ip_whitelist", cabinet_lines(t->ip_whitelist));
	json_object_object_add(obj, "callback_urls", cabinet_lines(t->callback_urls));
	json_object_object_add(obj, "success_url", cabinet_string_or_null(t->success_url));
	json_object_object_add(obj, "cancel_url", cabinet_string_or_null(t->cancel_url));
	json_object_object_add(obj, "expires_at", json_object_new_int64(t->expires_at));
	json_object_object_add(obj, "mode", json_object_new_string(token_mode_name(t->mode)));
	json_object_object_add(obj, "created_at", json_object_new_int64(t->created_at));
	json_object_object_add(obj, "last_used_at", cabinet_time_or_null(t->last_used_at));
	json_object_object_add(obj, "last_used_ip", cabinet_string_or_null(t->last_used_ip));
	json_object_object_add(obj, "last_chars", json_object_new_string(t->last_chars));
	json_object_object_add(obj, "status", json_object_new_string(status));
	return obj;
}

static json_object *
cabinet_token_choices(void)
{
	json_object *choices = json_object_new_object();
	json_object *types = json_object_new_array();
	json_object *currencies = json_object_new_array();
	json_object *modes = json_object_new_array();
	static const char *const fiat[] = { "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY",
		"CNY", "RUB", "UAH", "KZT", "TRY", "INR", "BRL", "PLN", "CZK", "SEK", "NOK", "DKK" };

	json_object_array_add(types, json_object_new_string("crypto"));
	for (size_t i = 0; i < money_coin_count(); i++)
		json_object_array_add(types, json_object_new_string(money_coin_at(i)->code));
	json_object_array_add(types, json_object_new_string("binance_pay"));
	for (size_t i = 0; i < sizeof(fiat) / sizeof(fiat[0]); i++)
		if (money_currency_find(fiat[i]) != NULL)
			json_object_array_add(currencies, json_object_new_string(fiat[i]));
	json_object_array_add(modes, json_object_new_string("live"));
	json_object_array_add(modes, json_object_new_string("sandbox"));
	json_object_object_add(choices, "types", types);
	json_object_object_add(choices, "currencies", currencies);
	json_object_object_add(choices, "modes", modes);
	return choices;
}

static void
cabinet_token_row(const struct access_token *t, void *arg)
{
	json_object_array_add(arg, cabinet_token_json(t, time(NULL)));
}

static int
cabinet_tokens_list(struct cabinet_request *c)
{
	json_object *list = json_object_new_array();
	json_object *data;

	if (store_begin_read(c->gw->store) != CP_OK) {
		json_object_put(list);
		return cabinet_internal_error(c, "token list");
	}
	enum cp_result rc = store_token_list(c->gw->store, c->user.merchant.id, cabinet_token_row, list);
	store_rollback(c->gw->store);
	if (rc != CP_OK) {
		json_object_put(list);
		return cabinet_internal_error(c, "token list");
	}
	data = json_object_new_object();
	json_object_object_add(data, "tokens", list);
	json_object_object_add(data, "choices", cabinet_token_choices());
	json_object_object_add(data, "totp_required", json_object_new_boolean(c->user.merchant.totp_enabled));
	return cabinet_reply(c, 200, data, cabinet_page_tokens, "tokens");
}

/* The token form, empty (token NULL) or for editing one token. */
static int
cabinet_token_form(struct cabinet_request *c, int status, json_object *token,
                   const struct field_errors *errs)
{
	struct cabinet_frame f;
	json_object *choices = cabinet_token_choices();
	size_t len = 0;
	char *html;

	cabinet_frame(c, &f, "tokens");
	f.errors = errs;
	f.form = errs != NULL ? cabinet_form_values(c) : NULL;
	html = cabinet_page_token_form(&f, token, choices, c->user.merchant.totp_enabled && token == NULL,
	                               &len);
	json_object_put(f.form);
	json_object_put(choices);
	json_object_put(token);
	if (html == NULL)
		return cabinet_internal_error(c, "render token form");
	return http_send_html(c->r, status, html, len);
}

/* Accept Unix seconds or the form's "YYYY-MM-DDTHH:MM[:SS]" in UTC. */
static const char *
cabinet_expiry_text(const char *text, char *buf, size_t len)
{
	struct tm tm;
	const char *end;

	if (text == NULL || strchr(text, 'T') == NULL)
		return text;
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M", &tm);
	if (end != NULL && *end == ':')
		end = strptime(end, ":%S", &tm);
	if (end == NULL || *end != '\0')
		return "invalid";
	snprintf(buf, len, "%lld", (long long)timegm(&tm));
	return buf;
}

struct cabinet_token_fields {
	struct token_request req;
	char ips[CP_WHITELIST_MAX * IPADDR_TEXT_MAX];
	char urls[CP_CALLBACK_URLS_MAX * (CP_URL_MAX + 1)];
	char expiry[24];
};

/* Read the token fields of the form or JSON body; errs names list overflows. */
static void
cabinet_token_fields(struct cabinet_request *c, struct cabinet_token_fields *t,
                     struct field_errors *errs)
{
	struct params *p = &c->r->params;
	struct token_request *req = &t->req;

	memset(t, 0, sizeof(*t));
	req->merchant_id = c->user.merchant.id;
	req->name = params_get(p, "name");
	req->type = params_get(p, "type");
	req->currency = params_get(p, "currency");
	req->success_url = params_get(p, "success_url");
	req->cancel_url = params_get(p, "cancel_url");
	req->mode = params_get(p, "mode");
	req->expires_at = cabinet_expiry_text(params_get(p, "expires_at"), t->expiry,
	                                      sizeof(t->expiry));
	req->ip_count = cabinet_split(params_get(p, "ip_whitelist"), t->ips, sizeof(t->ips),
	                              req->ips, CP_WHITELIST_MAX, " ,\t\r\n");
	req->callback_count = cabinet_split(params_get(p, "callback_urls"), t->urls,
	                                    sizeof(t->urls), req->callbacks,
	                                    CP_CALLBACK_URLS_MAX, " \t\r\n");
	if (req->ip_count > CP_WHITELIST_MAX)
		field_errors_add(errs, "ip_whitelist", "ip_whitelist has more than %d entries",
		                 CP_WHITELIST_MAX);
	if (req->callback_count > CP_CALLBACK_URLS_MAX)
		field_errors_add(errs, "callback_urls", "callback_urls has more than %d URLs",
		                 CP_CALLBACK_URLS_MAX);
}

/* Check the TOTP code that token creation needs when two-step verification is on. */
static bool
cabinet_token_code_ok(struct cabinet_request *c, struct field_errors *errs)
{
	bool ok;

	if (!c->user.merchant.totp_enabled)
		return true;
	if (store_begin(c->gw->store) != CP_OK)
		return false;
	ok = cabinet_code_valid_locked(c->gw, &c->user.merchant,
	                               params_get(&c->r->params, "totp_code"));
	if (ok)
		store_commit(c->gw->store);
	else
		store_rollback(c->gw->store);
	if (!ok)
		field_errors_add(errs, "totp_code", "enter the current code from your"
		                 " authenticator app");
	return ok;
}

static int
cabinet_token_create(struct cabinet_request *c)
{
	struct field_errors errs = { .count = 0 };
	struct cabinet_token_fields *fields = calloc(1, sizeof(*fields));
	char token[TOKEN_TEXT_MAX], secret[SIGNING_SECRET_TEXT_MAX];
	struct access_token *t = calloc(1, sizeof(*t));
	enum cp_result rc = CP_ERROR;
	char detail[512];
	int ok;

	if (fields == NULL || t == NULL) {
		free(fields);
		free(t);
		return cabinet_internal_error(c, "token create");
	}
	cabinet_token_fields(c, fields, &errs);
	if (errs.count == 0 && cabinet_token_code_ok(c, &errs))
		rc = tokens_create(c->gw, &fields->req, t, token, secret, &errs);
	free(fields);
	if (rc != CP_OK && errs.count > 0) {
		free(t);
		return c->api ? http_send_field_errors(c->r, &errs)
		              : cabinet_token_form(c, 422, NULL, &errs);
	}
	if (rc != CP_OK) {
		free(t);
		return cabinet_internal_error(c, "token create");
	}

	snprintf(detail, sizeof(detail), "%s (id %lld, %s)", t->name, (long long)t->id,
	         token_mode_name(t->mode));
	cabinet_audit(c->gw, c->user.merchant.id, c->r->client_text, "token_created", detail);
	if (c->api) {
		json_object *data = json_object_new_object();
		json_object_object_add(data, "token", cabinet_token_json(t, time(NULL)));
		json_object_object_add(data, "access_token", json_object_new_string(token));
		json_object_object_add(data, "signing_secret", json_object_new_string(secret));
		ok = http_send_success(c->r, 201, data, NULL, NULL);
	} else {
		cabinet_reveals_put(c->gw->reveals, c->user.session_id, t->id, token, secret, time(NULL));
		ok = http_send_redirect(c->r, "/cabinet/tokens/created");
	}
	sodium_memzero(token, sizeof(token));
	sodium_memzero(secret, sizeof(secret));
	free(t);
	return ok;
}

/* GET /cabinet/tokens/created: the one-time reveal, then it is gone. */
static int
cabinet_token_reveal(struct cabinet_request *c)
{
	char token[TOKEN_TEXT_MAX], secret[SIGNING_SECRET_TEXT_MAX];
	struct access_token *t;
	json_object *data;
	int64_t id = 0;
	enum cp_result rc;

	if (!cabinet_reveals_take(c->gw->reveals, c->user.session_id, time(NULL), &id, token, secret))
		return http_send_redirect(c->r, "/cabinet/tokens?notice=reveal_gone");
	t = calloc(1, sizeof(*t));
	rc = t == NULL ? CP_ERROR : store_begin_read(c->gw->store);
	if (rc == CP_OK) {
		rc = store_token_get(c->gw->store, id, t);
		store_rollback(c->gw->store);
	}
	if (rc != CP_OK) {
		free(t);
		sodium_memzero(token, sizeof(token));
		sodium_memzero(secret, sizeof(secret));
		return cabinet_internal_error(c, "token reveal");
	}
	data = json_object_new_object();
	json_object_object_add(data, "token", cabinet_token_json(t, time(NULL)));
	json_object_object_add(data, "access_token", json_object_new_string(token));
	json_object_object_add(data, "signing_secret", json_object_new_string(secret));
	sodium_memzero(token, sizeof(token));
	sodium_memzero(secret, sizeof(secret));
	free(t);
	return cabinet_reply(c, 200, data, cabinet_page_token_reveal, "tokens");
}

/* Load the merchant's token by id into *t; CP_NOT_FOUND for another's. */
static enum cp_result
cabinet_token_load(struct cabinet_request *c, int64_t id, struct access_token *t)
{
	enum cp_result rc = store_begin_read(c->gw->store);

	if (rc != CP_OK)
		return rc;
	rc = store_token_get(c->gw->store, id, t);
	store_rollback(c->gw->store);
	if (rc == CP_OK && t->merchant_id != c->user.merchant.id)
		return CP_NOT_FOUND;
	return rc;
}

static int
cabinet_token_edit(struct cabinet_request *c, struct access_token *t)
{
	struct field_errors errs = { .count = 0 };
	struct cabinet_token_fields *fields = calloc(1, sizeof(*fields));
	enum cp_result rc = CP_ERROR;
	char detail[512];

	if (fields == NULL)
		return cabinet_internal_error(c, "token edit");
	cabinet_token_fields(c, fields, &errs);
	if (errs.count == 0)
		rc = tokens_update(c->gw, c->user.merchant.id, t->id, &fields->req, t, &errs);
	free(fields);
	if (rc == CP_NOT_FOUND)
		return cabinet_not_found(c, "active token");
	if (rc != CP_OK && errs.count > 0)
		return c->api ? http_send_field_errors(c->r, &errs)
		              : cabinet_token_form(c, 422, cabinet_token_json(t, time(NULL)), &errs);
	if (rc != CP_OK)
		return cabinet_internal_error(c, "token edit");
	snprintf(detail, sizeof(detail), "%s (id %lld)", t->name, (long long)t->id);
	cabinet_audit(c->gw, c->user.merchant.id, c->r->client_text, "token_edited", detail);
	json_object *data = json_object_new_object();
	json_object_object_add(data, "token", cabinet_token_json(t, time(NULL)));
	return cabinet_done(c, "/cabinet/tokens", "token_edited", data);
}

static int
cabinet_token_revoke(struct cabinet_request *c, const struct access_token *t)
{
	enum cp_result rc = store_begin(c->gw->store);
	char detail[512];

	if (rc == CP_OK) {
		rc = store_token_revoke_id(c->gw->store, c->user.merchant.id, t->id, time(NULL));
		if (rc == CP_OK)
			rc = store_commit(c->gw->store);
		else
			store_rollback(c->gw->store);
	}
	if (rc == CP_NOT_FOUND)
		return cabinet_not_found(c, "active token");
	if (rc != CP_OK)
		return cabinet_internal_error(c, "token revoke");
	snprintf(detail, sizeof(detail), "%s (id %lld)", t->name, (long long)t->id);
	cabinet_audit(c->gw, c->user.merchant.id, c->r->client_text, "token_revoked", detail);
	json_object *data = json_object_new_object();
	json_object_object_add(data, "revoked", json_object_new_boolean(1));
	return cabinet_done(c, "/cabinet/tokens", "token_revoked", data);
}

/* Routes under tokens/{id}: edit form, edit, revoke confirmation, revoke. */
static int
cabinet_token_item(struct cabinet_request *c, const char *rest, bool post)
{
	char *end = NULL;
	long long id = strtoll(rest, &end, 10);
	struct access_token *t = calloc(1, sizeof(*t));
	enum cp_result rc;
	int ok;

	if (t == NULL)
		return cabinet_internal_error(c, "token");
	rc = id > 0 && end != rest ? cabinet_token_load(c, id, t) : CP_NOT_FOUND;
	if (rc != CP_OK) {
		free(t);
		return rc == CP_NOT_FOUND ? cabinet_not_found(c, "token")
		                          : cabinet_internal_error(c, "token");
	}
	if (*end == '\0' && post)
		ok = cabinet_token_edit(c, t);
	else if (strcmp(end, "/edit") == 0 && !post && !c->api)
		ok = cabinet_token_form(c, 200, cabinet_token_json(t, time(NULL)), NULL);
	else if (strcmp(end, "/revoke") == 0 && post)
		ok = cabinet_token_revoke(c, t);
	else if (strcmp(end, "/revoke") == 0 && !c->api)
		ok = cabinet_reply(c, 200, cabinet_token_json(t, time(NULL)),
		                   cabinet_page_token_revoke, "tokens");
	else if (*end == '\0' && !post)
		ok = http_send_success(c->r, 200, cabinet_token_json(t, time(NULL)), NULL, NULL);
	else
		ok = cabinet_not_found(c, "page");
	free(t);
	return ok;
}

int
cabinet_tokens_route(struct cabinet_request *c)
{
	bool post = strcmp(c->r->method, "POST") == 0;
	const char *rest = c->rest + 6;

	if (*rest == '\0')
		return post ? cabinet_token_create(c) : cabinet_tokens_list(c);
	rest++;
	if (strcmp(rest, "new") == 0 && !post && !c->api)
		return cabinet_token_form(c, 200, NULL, NULL);
	if (strcmp(rest, "created") == 0 && !post && !c->api)
		return cabinet_token_reveal(c);
	return cabinet_token_item(c, rest, post);
}

/* Settings */

static json_object *
cabinet_settings_json(const struct merchant *m)
{
	json_object *data = json_object_new_object();
	json_object *settings = json_object_new_object();
	json_object *choices = json_object_new_object();
	json_object *coins = json_object_new_array();
	char list[sizeof(m->enabled_coins)], *save = NULL;
	static const char *const fiat[] = { "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY",
		"CNY", "RUB", "UAH", "KZT", "TRY", "INR", "BRL", "PLN", "CZK", "SEK", "NOK", "DKK" };
	json_object *enabled = json_object_new_array();
	json_object *currencies = json_object_new_array();

	snprintf(list, sizeof(list), "%s", m->enabled_coins);
	for (char *code = strtok_r(list, ",", &save); code; code = strtok_r(NULL, ",", &save))
		json_object_array_add(enabled, json_object_new_string(code));
	for (size_t i = 0; i < money_coin_count(); i++)
		json_object_array_add(coins, json_object_new_string(money_coin_at(i)->code));
	for (size_t i = 0; i < sizeof(fiat) / sizeof(fiat[0]); i++)
		json_object_array_add(currencies, json_object_new_string(fiat[i]));

	json_object_object_add(settings, "enabled_coins", enabled);
	json_object_object_add(settings, "default_currency", json_object_new_string(m->default_currency));
	json_object_object_add(settings, "tolerance_under_pct", json_object_new_int(m->tolerance_under_pct));
	json_object_object_add(settings, "tolerance_over_pct", json_object_new_int(m->tolerance_over_pct));
	json_object_object_add(settings, "order_expiry_minutes", json_object_new_int(m->order_expiry_minutes));
	json_object_object_add(settings, "auto_exchange", json_object_new_boolean(m->auto_exchange));
	json_object_object_add(choices, "coins", coins);
	json_object_object_add(choices, "currencies", currencies);
	json_object_object_add(data, "settings", settings);
	json_object_object_add(data, "choices", choices);
	return data;
}

int
cabinet_settings_route(struct cabinet_request *c)
{
	struct field_errors errs = { .count = 0 };
	struct params *p = &c->r->params;
	struct merchant m;
	enum cp_result rc;

	if (strcmp(c->r->method, "POST") != 0)
		return cabinet_reply(c, 200, cabinet_settings_json(&c->user.merchant),
		                     cabinet_page_settings, "settings");

	/* An unchecked checkbox sends nothing, so a page form always sets
	 * auto_exchange; a JSON call changes only what it names. */
	const char *auto_exchange = params_get(p, "auto_exchange");
	if (!c->api)
		auto_exchange = auto_exchange != NULL ? "on" : "off";
	struct merchant_settings in = {
		.enabled_coins = c->api ? params_get(p, "enabled_coins")
		                        : (params_get(p, "enabled_coins") ? params_get(p, "enabled_coins") : ""),
		.default_currency = params_get(p, "default_currency"),
		.tolerance_under_pct = params_get(p, "tolerance_under_pct"),
		.tolerance_over_pct = params_get(p, "tolerance_over_pct"),
		.order_expiry_minutes = params_get(p, "order_expiry_minutes"),
		.auto_exchange = auto_exchange,
	};
	rc = merchants_update(c->gw, c->user.merchant.id, &in, &m, &errs);
	if (rc == CP_INVALID)
		return cabinet_reply_errors(c, &errs, cabinet_settings_json(&c->user.merchant),
		                            cabinet_page_settings, "settings");
	if (rc != CP_OK)
		return cabinet_internal_error(c, "settings");
	cabinet_audit(c->gw, m.id, c->r->client_text, "settings_changed", "");
	return cabinet_done(c, "/cabinet/settings", "settings_saved", cabinet_settings_json(&m));
}
