#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>
#include <strings.h>

#include "callback.h"
#include "log.h"
#include "money.h"
#include "tokens.h"

bool
tokens_type_is_valid(const char *type)
{
	return strcmp(type, "crypto") == 0 || strcmp(type, "binance_pay") == 0 ||
	       money_coin_find(type) != NULL;
}

/* Append one line to a newline-separated list held in a fixed buffer. */
static bool
tokens_append_line(char *list, size_t size, const char *line)
{
	size_t used = strlen(list);
	int n = snprintf(list + used, size - used, "%s%s", used ? "\n" : "", line);

	return n >= 0 && (size_t)n < size - used;
}

static void
tokens_check_whitelist(const struct token_request *req, struct access_token *t,
                       struct field_errors *errs)
{
	t->whitelist_parsed = false;
	if (req->ip_count == 0) {
		field_errors_add(errs, "ip_whitelist", "ip_whitelist needs at least one address"
		                 " or CIDR range; use 0.0.0.0/0 or ::/0 to allow any address");
		return;
	}
	for (size_t i = 0; i < req->ip_count; i++) {
		struct ipnet net;
		char why[160], text[IPADDR_TEXT_MAX];

		if (ipnet_parse(req->ips[i], &net, why, sizeof(why)) != 0) {
			field_errors_add(errs, "ip_whitelist", "ip_whitelist entry \"%.60s\" is invalid: %s",
			                 req->ips[i], why);
			return;
		}
		ipnet_format(&net, text, sizeof(text));
		tokens_append_line(t->ip_whitelist, sizeof(t->ip_whitelist), text);
	}
}

/* citypayd copies the configured ranges into the dispatcher's settings. */
_Static_assert(CONFIG_ALLOWED_RANGES_MAX <= CALLBACK_ALLOWED_RANGES_MAX,
               "the dispatcher must hold every configured allowed range");

/*
 * True when a live token may send callbacks to url: a host given as an
 * address must be public or inside callbacks.allowed_ranges, and
 * "localhost" names are rejected. Names are resolved and checked again at
 * every delivery, since DNS can change.
 */
static bool
tokens_callback_target_allowed(const struct config *cfg, const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool allowed = true;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		char text[IPADDR_TEXT_MAX];
		size_t n = strlen(host);
		struct ipaddr addr;

		if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(text))
			snprintf(text, sizeof(text), "%.*s", (int)(n - 2), host + 1);
		else
			snprintf(text, sizeof(text), "%s", host);
		if (ipaddr_parse(text, &addr) == 0)
			allowed = callback_address_allowed(&addr, cfg->callback_allowed_ranges,
			                                   cfg->callback_allowed_range_count);
		else if (strcasecmp(text, "localhost") == 0 ||
		         (n > 10 && strcasecmp(text + n - 10, ".localhost") == 0))
			allowed = false;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return allowed;
}

static void
tokens_check_urls(const struct gateway *gw, const struct token_request *req,
                  struct access_token *t, struct field_errors *errs)
{
	bool guard = t->mode == TOKEN_MODE_LIVE && !gw->cfg->callback_allow_private;
	char why[160];

	if (req->callback_count == 0)
		field_errors_add(errs, "callback_urls", "callback_urls needs at least one URL");
	for (size_t i = 0; i < req->callback_count; i++) {
		if (!validate_url(req->callbacks[i], why, sizeof(why))) {
			field_errors_add(errs, "callback_urls", "callback URL \"%.80s\" %s",
			                 req->callbacks[i], why);
			return;
		}
		if (guard && !tokens_callback_target_allowed(gw->cfg, req->callbacks[i])) {
			field_errors_add(errs, "callback_urls", "callback URL \"%.80s\" points at a"
			                 " loopback, private, link-local or metadata address outside"
			                 " callbacks.allowed_ranges, which live tokens cannot use;"
			                 " give a public address", req->callbacks[i]);
			return;
		}
		tokens_append_line(t->callback_urls, sizeof(t->callback_urls), req->callbacks[i]);
	}
	if (req->success_url && req->success_url[0]) {
		if (!validate_url(req->success_url, why, sizeof(why)))
			field_errors_add(errs, "success_url", "success_url %s", why);
		snprintf(t->success_url, sizeof(t->success_url), "%s", req->success_url);
	}
	if (req->cancel_url && req->cancel_url[0]) {
		if (!validate_url(req->cancel_url, why, sizeof(why)))
			field_errors_add(errs, "cancel_url", "cancel_url %s", why);
		snprintf(t->cancel_url, sizeof(t->cancel_url), "%s", req->cancel_url);
	}
}

static void
tokens_check_expiry(const struct gateway *gw, const char *text, struct access_token *t,
                    struct field_errors *errs)
{
	int64_t now = gateway_now_ms(gw) / 1000;
	char *end = NULL;
	long long v;

	errno = 0;
	v = text ? strtoll(text, &end, 10) : 0;
	if (text == NULL || *text == '\0' || errno != 0 || *end != '\0' || v <= 0) {
		field_errors_add(errs, "expires_at", "expires_at must be a Unix time in seconds");
		return;
	}
	/* 253402300799 is 9999-12-31 23:59:59 UTC, the last second that every
	 * date formatter here can print. */
	if (v > 253402300799LL) {
		field_errors_add(errs, "expires_at", "expires_at %lld is too far in the future;"
		                 " use a Unix time in seconds before the year 10000", v);
		return;
	}
	if (v <= now) {
		field_errors_add(errs, "expires_at", "expires_at %lld is not in the future"
		                 " (now is %lld)", v, (long long)now);
		return;
	}
	t->expires_at = v;
}

/* Check the fields that need no store access and copy them into t. */
static void
tokens_check_fields(const struct gateway *gw, const struct token_request *req,
                    const struct merchant *m, struct access_token *t,
                    struct field_errors *errs)
{
	const char *currency = req->currency && req->currency[0] ? req->currency
	                                                        : m->default_currency;

	if (req->name == NULL || req->name[0] == '\0' ||
	    !validate_text(req->name, CP_TOKEN_NAME_MAX))
		field_errors_add(errs, "name", "name must be 1 to %d characters of text",
		                 CP_TOKEN_NAME_MAX);
	else
		snprintf(t->name, sizeof(t->name), "%s", req->name);

	if (req->type == NULL || !tokens_type_is_valid(req->type))
		field_errors_add(errs, "type", "type must be crypto, binance_pay or a coin code"
		                 " such as BTC, ETH, USDT-ERC20, LTC");
	else if (strcmp(req->type, "binance_pay") == 0 && !m->auto_exchange)
		field_errors_add(errs, "type", "type binance_pay requires auto-exchange to be"
		                 " enabled in the merchant settings first");
	else
		snprintf(t->type, sizeof(t->type), "%s", req->type);

	if (money_currency_find(currency) == NULL)
		field_errors_add(errs, "currency", "currency \"%.8s\" is not a supported"
		                 " ISO 4217 code such as USD or EUR", currency);
	else
		snprintf(t->currency, sizeof(t->currency), "%s", currency);

	if (token_mode_parse(req->mode ? req->mode : "live", &t->mode) != 0)
		field_errors_add(errs, "mode", "mode must be live or sandbox");

	tokens_check_whitelist(req, t, errs);
	tokens_check_urls(gw, req, t, errs);
	tokens_check_expiry(gw, req->expires_at, t, errs);
}

enum cp_result
tokens_create(struct gateway *gw, const struct token_request *req, struct access_token *out,
              char *token_text, char *secret, struct field_errors *errs)
{
	struct merchant m;
	enum cp_result rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_merchant_get(gw->store, req->merchant_id, &m);
	if (rc != CP_OK)
		goto fail;

	tokens_check_fields(gw, req, &m, out, errs);
	if (errs->count > 0) {
		rc = CP_INVALID;
		goto fail;
	}

	token_generate(out->mode, token_text);
	token_signing_secret_generate(secret);
	out->merchant_id = m.id;
	out->created_at = gateway_now_ms(gw) / 1000;
	token_digest(&gw->keys, token_text, out->digest);
	snprintf(out->last_chars, sizeof(out->last_chars), "%s",
	         token_text + strlen(token_text) - TOKEN_LAST_CHARS);
	if (keys_seal(&gw->keys, secret, out->signing_secret_sealed,
	              sizeof(out->signing_secret_sealed)) != 0) {
		rc = CP_ERROR;
		goto fail;
	}

	rc = store_token_insert(gw->store, out);
	if (rc == CP_EXISTS)
		field_errors_add(errs, "name", "a token named \"%.60s\" already exists;"
		                 " choose another name or revoke that token", out->name);
	if (rc != CP_OK)
		goto fail;
	if ((rc = store_commit(gw->store)) != CP_OK)
		goto wipe;
	log_info("token created", "customer_id", log_int(m.id), "token_id", log_int(out->id),
	         "name", out->name, "mode", token_mode_name(out->mode), NULL);
	return CP_OK;

fail:
	store_rollback(gw->store);
wipe:
	sodium_memzero(token_text, TOKEN_TEXT_MAX);
	sodium_memzero(secret, SIGNING_SECRET_TEXT_MAX);
	return rc;
}

enum cp_result
tokens_update(struct gateway *gw, int64_t merchant_id, int64_t token_id,
              const struct token_request *req, struct access_token *out,
              struct field_errors *errs)
{
	struct token_request edit = *req;
	struct access_token old;
	struct merchant m;
	enum cp_result rc;

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_token_get(gw->store, token_id, &old);
	if (rc == CP_OK && (old.merchant_id != merchant_id || old.revoked_at != 0))
		rc = CP_NOT_FOUND;
	if (rc == CP_OK)
		rc = store_merchant_get(gw->store, merchant_id, &m);
	if (rc != CP_OK)
		goto fail;

	/* The mode and the secrets stay: only the descriptive fields change. */
	edit.mode = token_mode_name(old.mode);
	memset(out, 0, sizeof(*out));
	tokens_check_fields(gw, &edit, &m, out, errs);
	if (errs->count > 0) {
		rc = CP_INVALID;
		goto fail;
	}
	out->id = old.id;
	out->merchant_id = old.merchant_id;
	out->mode = old.mode;
	memcpy(out->digest, old.digest, sizeof(out->digest));
	memcpy(out->last_chars, old.last_chars, sizeof(out->last_chars));
	memcpy(out->signing_secret_sealed, old.signing_secret_sealed,
	       sizeof(out->signing_secret_sealed));
	out->created_at = old.created_at;
	out->last_used_at = old.last_used_at;
	memcpy(out->last_used_ip, old.last_used_ip, sizeof(out->last_used_ip));

	rc = store_token_update(gw->store, out);
	if (rc == CP_EXISTS)
		field_errors_add(errs, "name", "a token named \"%.60s\" already exists;"
		                 " choose another name", out->name);
	if (rc != CP_OK)
		goto fail;
	if ((rc = store_commit(gw->store)) == CP_OK)
		log_info("token edited", "customer_id", log_int(merchant_id),
		         "token_id", log_int(token_id), NULL);
	return rc;

fail:
	store_rollback(gw->store);
	return rc == CP_EXISTS ? CP_INVALID : rc;
}

enum cp_result
tokens_rotate_secret(struct gateway *gw, int64_t merchant_id, int64_t token_id,
                     int64_t overlap_s, char *new_secret_out)
{
	char sealed[sizeof(((struct access_token *)0)->signing_secret_sealed)];
	int64_t now = gateway_now_ms(gw) / 1000;
	enum cp_result rc;

	if (overlap_s < 0 || overlap_s > TOKENS_ROTATE_OVERLAP_MAX_S)
		return CP_INVALID;
	token_signing_secret_generate(new_secret_out);
	if (keys_seal(&gw->keys, new_secret_out, sealed, sizeof(sealed)) != 0) {
		rc = CP_ERROR;
		goto wipe;
	}

	if ((rc = store_begin(gw->store)) != CP_OK)
		goto wipe;
	rc = store_token_rotate_secret(gw->store, merchant_id, token_id, sealed,
	                               overlap_s > 0 ? now + overlap_s : 0);
	if (rc != CP_OK) {
		store_rollback(gw->store);
		goto wipe;
	}
	if ((rc = store_commit(gw->store)) != CP_OK)
		goto wipe;
	log_info("token signing secret rotated", "customer_id", log_int(merchant_id),
	         "token_id", log_int(token_id), "overlap_s", log_int(overlap_s), NULL);
	return CP_OK;

wipe:
	sodium_memzero(new_secret_out, SIGNING_SECRET_TEXT_MAX);
	return rc;
}
