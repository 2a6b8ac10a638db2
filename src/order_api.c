#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "api.h"
#include "auth.h"
#include "jwt.h"
#include "log.h"
#include "order_api.h"
#include "orders.h"
#include "token.h"
#include "views.h"

#define ORDER_API_PREFIX       "/orders/api/"
#define ORDER_API_LIMIT_DEFAULT 20
#define ORDER_API_LIMIT_MAX    100

static int
order_api_internal_error(struct http_request *r, const char *context)
{
	log_error("order API request failed", "context", context, NULL);
	return http_send_error(r, 500, "InternalServerError", NULL,
	                       "the gateway failed; the request id is in its log");
}

/* The per-address counter of failed authentications that api.c also uses. */
static void
order_api_failure_key(struct http_request *r, char *key, size_t len)
{
	snprintf(key, len, "auth-failures:%s", r->client_text);
}

/* True (after sending 429) when this address failed too often this minute. */
static bool
order_api_failures_exceeded(struct http_request *r)
{
	int64_t now = gateway_now_ms(r->gw) / 1000;
	char key[IPADDR_TEXT_MAX + 16];

	order_api_failure_key(r, key, sizeof(key));
	if (r->gw->limits == NULL ||
	    ratelimit_peek(r->gw->limits, key, now, 60) < CP_LIMIT_AUTH_FAILURES_PER_MINUTE)
		return false;
	r->retry_after_s = 60 - now % 60;
	http_send_error(r, 429, "RateLimited", NULL, "too many failed authentications"
	                " from this address; retry later");
	return true;
}

static void
order_api_count_failure(struct http_request *r)
{
	int64_t now = gateway_now_ms(r->gw) / 1000;
	char key[IPADDR_TEXT_MAX + 16];

	order_api_failure_key(r, key, sizeof(key));
	if (r->gw->limits != NULL)
		ratelimit_hit(r->gw->limits, key, now, 60, INT64_MAX, NULL);
}

/*
 * The merchant of a well-formed, known access token, for a login that
 * names no customer_id. Returns 0 when it is unknown, so that auth_check()
 * then rejects the token with its own result.
 */
static int64_t
order_api_token_merchant(struct gateway *gw, const char *access_token)
{
	uint8_t digest[TOKEN_DIGEST_BYTES];
	struct access_token t;
	enum token_mode mode;
	enum cp_result rc;

	if (access_token == NULL || token_check_format(access_token, &mode) != TOKEN_FORMAT_OK)
		return 0;
	token_digest(&gw->keys, access_token, digest);
	if (store_begin_read(gw->store) != CP_OK)
		return 0;
	rc = store_token_find_digest(gw->store, digest, &t);
	store_rollback(gw->store);
	sodium_memzero(digest, sizeof(digest));
	return rc == CP_OK ? t.merchant_id : 0;
}

/* Send the rejection of a login that auth_check() refused. */
static int
order_api_login_rejected(struct http_request *r, enum auth_result result,
                         bool customer_given, const char *message)
{
	int status = auth_http_status(result);

	if (result == AUTH_ERROR)
		return order_api_internal_error(r, "login authentication");
	if (status == 401)
		order_api_count_failure(r);
	log_info("order API login rejected", "reason", auth_reason(result), "client",
	         r->client_text, NULL);
	/* Without a customer_id, auth_check()'s message would name customer 0. */
	if (result == AUTH_UNKNOWN && !customer_given)
		message = "token is not a valid access token; copy the token exactly as it"
		          " was shown when it was created";
	return http_send_error(r, status, auth_reason(result), status == 401 ? "token" : "error",
	                       message);
}

static int
order_api_send_jwt(struct http_request *r, const struct access_token *t)
{
	uint8_t key[JWT_KEY_BYTES];
	struct jwt_claims claims;
	char jwt[JWT_TEXT_MAX];
	int rc;

	jwt_claims_new(&claims, t->merchant_id, t->id, gateway_now_ms(r->gw) / 1000);
	jwt_derive_key(&r->gw->keys, key);
	rc = jwt_sign(key, &claims, jwt, sizeof(jwt));
	sodium_memzero(key, sizeof(key));
	if (rc != 0)
		return order_api_internal_error(r, "sign the bearer token");

	log_info("order API login", "customer_id", log_int(t->merchant_id), "token_id",
	         log_int(t->id), "client", r->client_text, NULL);
	json_object *data = json_object_new_object();
	json_object_object_add(data, "token", json_object_new_string(jwt));
	json_object_object_add(data, "expires_in", json_object_new_int64(JWT_LIFETIME_S));
	json_object_object_add(data, "token_type", json_object_new_string("Bearer"));
	sodium_memzero(jwt, sizeof(jwt));
	return http_send_success(r, 200, data, NULL, NULL);
}

int
order_api_login(struct http_request *r)
{
	static const char *const fields[] = { "token", "access_token", "customer_id", NULL };
	struct field_errors errs = { .count = 0 };
	struct auth_request req = { .client = &r->client, .operation = AUTH_OP_LOGIN };
	struct access_token t;
	char message[256];
	enum auth_result result;

	if (http_parse_body(r) != 0)
		return MHD_YES;
	for (const char *const *name = fields; *name != NULL; name++) {
		if (params_is_structured(&r->params, *name))
			field_errors_add(&errs, *name, "%s must be a string or a number, not an"
			                 " object or array", *name);
	}
	if (errs.count > 0)
		return http_send_field_errors(r, &errs);
	if (order_api_failures_exceeded(r))
		return MHD_YES;

	const char *customer = params_get(&r->params, "customer_id");
	req.access_token = params_get(&r->params, "token");
	if (req.access_token == NULL || req.access_token[0] == '\0')
		req.access_token = params_get(&r->params, "access_token");
	if (customer != NULL && api_parse_id(customer, &req.customer_id) != 0)
		return http_send_error(r, 422, "UnsupportedInput", "customer_id",
		                       "customer_id must be your numeric customer id");
	if (customer == NULL)
		req.customer_id = order_api_token_merchant(r->gw, req.access_token);

	result = auth_check(r->gw, &req, &t, message, sizeof(message), &r->retry_after_s);
	if (result != AUTH_OK)
		return order_api_login_rejected(r, result, customer != NULL, message);
	return order_api_send_jwt(r, &t);
}

/* The JWT from Authorization: Bearer, else from the bearer_token header. */
static const char *
order_api_bearer(struct http_request *r)
{
	const char *auth = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *header = http_header(r, "bearer_token");

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		return auth + 7;
	if (header != NULL && header[0] != '\0')
		return header;
	return NULL;
}

/* Check that the access token named by a valid JWT may still be used. */
static const char *
order_api_check_token_row(struct gateway *gw, const struct jwt_claims *claims,
                          struct access_token *t, enum cp_result *rc)
{
	if ((*rc = store_begin_read(gw->store)) == CP_OK) {
		*rc = store_token_get(gw->store, claims->token_id, t);
		store_rollback(gw->store);
	}
	if (*rc == CP_NOT_FOUND || (*rc == CP_OK && t->merchant_id != claims->customer_id)) {
		*rc = CP_NOT_FOUND;
		return "the access token that issued this bearer token no longer exists; log in"
		       " again with an active access token";
	}
	if (*rc != CP_OK)
		return NULL;
	if (t->revoked_at != 0)
		return "the access token that issued this bearer token was revoked; log in"
		       " again with an active access token";
	if (gateway_now_ms(gw) / 1000 >= t->expires_at)
		return "the access token that issued this bearer token expired; log in"
		       " again with an active access token";
	return NULL;
}

/*
 * Authenticate a request by its bearer JWT. Returns 0 with *t filled, or
 * sends the rejection (401 BadCredentials) and returns -1.
 */
static int
order_api_authenticate(struct http_request *r, struct access_token *t)
{
	const char *jwt = order_api_bearer(r);
	uint8_t key[JWT_KEY_BYTES];
	struct jwt_claims claims;
	enum jwt_result result;
	enum cp_result rc = CP_OK;
	const char *message;

	if (order_api_failures_exceeded(r))
		return -1;
	if (jwt == NULL) {
		message = "the bearer token is missing; log in with POST /orders/api/login and"
		          " send the token in an Authorization: Bearer or a bearer_token header";
		goto reject;
	}
	jwt_derive_key(&r->gw->keys, key);
	result = jwt_verify(key, jwt, gateway_now_ms(r->gw) / 1000, &claims);
	sodium_memzero(key, sizeof(key));
	if (result != JWT_OK) {
		message = jwt_strerror(result);
		goto reject;
	}
	message = order_api_check_token_row(r->gw, &claims, t, &rc);
	if (message == NULL && rc != CP_OK) {
		order_api_internal_error(r, "bearer token lookup");
		return -1;
	}
	if (message == NULL)
		return 0;

reject:
	order_api_count_failure(r);
	log_info("order API bearer token rejected", "client", r->client_text, "reason",
	         message, NULL);
	http_send_error(r, 401, "BadCredentials", "bearer_token", message);
	return -1;
}

/* Parse an optional positive query parameter into *out within 1..max. */
static void
order_api_query_int(struct http_request *r, const char *name, int64_t max, int64_t *out,
                    struct field_errors *errs)
{
	const char *text = http_query(r, name);
	int64_t value;

	if (text == NULL)
		return;
	if (api_parse_id(text, &value) != 0 || value > max) {
		field_errors_add(errs, name, "%s must be an integer from 1 to %lld", name,
		                 (long long)max);
		return;
	}
	*out = value;
}

struct order_api_page {
	struct order *orders;
	size_t count;
	size_t max;
};

static void
order_api_collect(const struct order *o, void *arg)
{
	struct order_api_page *page = arg;

	if (page->count < page->max)
		page->orders[page->count++] = *o;
}

static json_object *
order_api_meta(int64_t total, int64_t page, int64_t limit)
{
	int64_t pages = (total + limit - 1) / limit;
	json_object *meta = json_object_new_object();

	json_object_object_add(meta, "totalCount", json_object_new_int64(total));
	json_object_object_add(meta, "pagesCount", json_object_new_int64(pages));
	json_object_object_add(meta, "currentPage", json_object_new_int64(page));
	json_object_object_add(meta, "nextPage", page < pages ? json_object_new_int64(page + 1)
	                                                      : NULL);
	return meta;
}

/* Read one page of the merchant's orders and their views inside a read transaction. */
static enum cp_result
order_api_read_page(struct gateway *gw, int64_t merchant_id, int64_t page, int64_t limit,
                    json_object *items, int64_t *total)
{
	struct order_api_page rows = { .max = (size_t)limit };
	enum cp_result rc;

	if ((rows.orders = calloc(rows.max, sizeof(*rows.orders))) == NULL)
		return CP_ERROR;
	if ((rc = store_begin_read(gw->store)) != CP_OK)
		goto out;
	rc = store_order_count(gw->store, merchant_id, total);
	/* The views read each order's transactions, so they run after the list query. */
	if (rc == CP_OK && (page - 1) * limit < *total)
		rc = store_order_list(gw->store, merchant_id, limit, (page - 1) * limit,
		                      order_api_collect, &rows);
	for (size_t i = 0; rc == CP_OK && i < rows.count; i++) {
		json_object *view = views_order(gw, &rows.orders[i], true);

		if (view == NULL)
			rc = CP_ERROR;
		else
			json_object_array_add(items, view);
	}
	store_rollback(gw->store);
out:
	free(rows.orders);
	return rc;
}

int
order_api_list(struct http_request *r)
{
	struct field_errors errs = { .count = 0 };
	int64_t page = 1, limit = ORDER_API_LIMIT_DEFAULT, total = 0;
	struct access_token t;

	if (order_api_authenticate(r, &t) != 0)
		return MHD_YES;
	/* The page cap keeps the row offset far from overflowing. */
	order_api_query_int(r, "page", INT32_MAX, &page, &errs);
	order_api_query_int(r, "limit", ORDER_API_LIMIT_MAX, &limit, &errs);
	if (errs.count > 0)
		return http_send_field_errors(r, &errs);

	json_object *items = json_object_new_array();
	if (order_api_read_page(r->gw, t.merchant_id, page, limit, items, &total) != CP_OK) {
		json_object_put(items);
		return order_api_internal_error(r, "order list");
	}
	json_object *data = json_object_new_object();
	json_object_object_add(data, "items", items);
	json_object_object_add(data, "meta", order_api_meta(total, page, limit));
	return http_send_success(r, 200, data, NULL, NULL);
}

/*
 * Split the path after /orders/api/ into the order token and what follows
 * it ("" or "rates"). Returns -1 when the token cannot be an order token.
 */
static int
order_api_path(struct http_request *r, char token[CP_ORDER_TOKEN_MAX + 1], const char **rest)
{
	const char *start = r->path + strlen(ORDER_API_PREFIX);
	size_t n = strcspn(start, "/");

	if (n == 0 || n > CP_ORDER_TOKEN_MAX)
		return -1;
	memcpy(token, start, n);
	token[n] = '\0';
	*rest = start[n] == '/' ? start + n + 1 : "";
	return validate_public_token(token, CP_ORDER_TOKEN_MAX) ? 0 : -1;
}

/*
 * Find the merchant's order inside an open transaction. Another merchant's
 * order is CP_NOT_FOUND, so the response is the same as for a missing one.
 */
static enum cp_result
order_api_find_locked(struct gateway *gw, int64_t merchant_id, const char *token,
                      struct order *o)
{
	enum cp_result rc = store_order_find_token(gw->store, token, o);

	if (rc == CP_OK && o->merchant_id != merchant_id)
		return CP_NOT_FOUND;
	return rc;
}

/* The codes of the coins the buyer may choose for the order. */
static enum cp_result
order_api_coins_locked(struct gateway *gw, const struct order *o, json_object **out)
{
	struct access_token t;
	struct merchant m;
	enum cp_result rc;

	if ((rc = store_token_get(gw->store, o->token_id, &t)) != CP_OK ||
	    (rc = store_merchant_get(gw->store, o->merchant_id, &m)) != CP_OK)
		return rc;
	*out = json_object_new_array();
	for (size_t i = 0; i < money_coin_count(); i++) {
		const struct money_coin *coin = money_coin_at(i);

		if (coin != NULL && orders_coin_allowed(&m, &t, coin->code))
			json_object_array_add(*out, json_object_new_string(coin->code));
	}
	return CP_OK;
}

/* Send the order information of the merchant's order, with its coins. */
static int
order_api_send_order(struct http_request *r, int64_t merchant_id, const char *token)
{
	json_object *data = NULL, *coins = NULL;
	struct order o;
	enum cp_result rc;

	if (store_begin_read(r->gw->store) != CP_OK)
		return order_api_internal_error(r, "order lookup");
	rc = order_api_find_locked(r->gw, merchant_id, token, &o);
	if (rc == CP_OK)
		rc = order_api_coins_locked(r->gw, &o, &coins);
	if (rc == CP_OK && (data = views_order(r->gw, &o, true)) == NULL)
		rc = CP_ERROR;
	store_rollback(r->gw->store);

	if (rc != CP_OK) {
		json_object_put(coins);
		return rc == CP_NOT_FOUND ? api_not_found(r, "order")
		                          : order_api_internal_error(r, "order view");
	}
	json_object_object_add(data, "coins", coins);
	return http_send_success(r, 200, data, NULL, NULL);
}

/*
 * Quote the order again at the current rate. Only an unpaid order with a
 * chosen coin has a quote to refresh, because a quote is fixed once a
 * payment was received.
 */
static int
order_api_refresh_rates(struct http_request *r, int64_t merchant_id, const char *token)
{
	struct field_errors errs = { .count = 0 };
	money_t received = 0, confirmed = 0;
	struct order o;
	enum cp_result rc;

	if (store_begin_read(r->gw->store) != CP_OK)
		return order_api_internal_error(r, "order lookup");
	rc = order_api_find_locked(r->gw, merchant_id, token, &o);
	if (rc == CP_OK)
		rc = orders_totals_locked(r->gw, o.id, &received, &confirmed);
	store_rollback(r->gw->store);
	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "order");
	if (rc != CP_OK)
		return order_api_internal_error(r, "order totals");

	if (o.coin[0] == '\0')
		return http_send_error(r, 422, "UnsupportedInput", "coin", "no coin is chosen for"
		                       " this order; choose one with POST /orders/api/{token}");
	if (received > 0)
		return http_send_error(r, 422, "UnsupportedInput", "token", "a payment was already"
		                       " received for this order, so its quote is fixed");
	/* Choosing the same coin again re-quotes while nothing was paid. */
	rc = orders_choose_coin(r->gw, token, o.coin, &o, &errs, NULL);
	if (rc == CP_INVALID)
		return http_send_field_errors(r, &errs);
	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "order");
	if (rc != CP_OK)
		return order_api_internal_error(r, "refresh the quote");
	return order_api_send_order(r, merchant_id, token);
}

int
order_api_get(struct http_request *r)
{
	char token[CP_ORDER_TOKEN_MAX + 1];
	struct access_token t;
	const char *rest = "";

	if (strcmp(r->path, ORDER_API_PREFIX "login") == 0) {
		r->allow = "POST";
		return http_send_error(r, 405, "MethodNotAllowed", NULL, "this path does not"
		                       " accept this HTTP method");
	}
	if (order_api_authenticate(r, &t) != 0)
		return MHD_YES;
	if (order_api_path(r, token, &rest) != 0)
		return api_not_found(r, "order");
	if (rest[0] == '\0')
		return order_api_send_order(r, t.merchant_id, token);
	if (strcmp(rest, "rates") == 0)
		return order_api_refresh_rates(r, t.merchant_id, token);
	return http_send_error(r, 404, "PageNotFound", NULL, "no such path");
}

int
order_api_choose_coin(struct http_request *r)
{
	struct field_errors errs = { .count = 0 };
	char token[CP_ORDER_TOKEN_MAX + 1];
	struct access_token t;
	const char *rest = "", *coin;
	struct order o;
	enum cp_result rc;

	if (http_parse_body(r) != 0 || order_api_authenticate(r, &t) != 0)
		return MHD_YES;
	if (order_api_path(r, token, &rest) != 0)
		return api_not_found(r, "order");
	if (rest[0] != '\0')
		return http_send_error(r, 404, "PageNotFound", NULL, "no such path");
	if (params_is_structured(&r->params, "coin"))
		return http_send_error(r, 422, "UnsupportedInput", "coin", "coin must be a string,"
		                       " not an object or array");

	if (store_begin_read(r->gw->store) != CP_OK)
		return order_api_internal_error(r, "order lookup");
	rc = order_api_find_locked(r->gw, t.merchant_id, token, &o);
	store_rollback(r->gw->store);
	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "order");
	if (rc != CP_OK)
		return order_api_internal_error(r, "order lookup");

	coin = params_get(&r->params, "coin");
	if (coin == NULL || coin[0] == '\0')
		return http_send_error(r, 422, "UnsupportedInput", "coin", "coin is missing; send"
		                       " one of the codes listed in the order's coins");
	rc = orders_choose_coin(r->gw, token, coin, &o, &errs, NULL);
	if (rc == CP_INVALID)
		return http_send_field_errors(r, &errs);
	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "order");
	if (rc != CP_OK)
		return order_api_internal_error(r, "choose the coin");
	return order_api_send_order(r, t.merchant_id, token);
}
