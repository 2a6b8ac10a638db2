#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "cabinet.h"
#include "cabinet_page.h"
#include "callback.h"
#include "deposits.h"
#include "log.h"
#include "order_api.h"
#include "orders.h"
#include "outbox.h"
#include "rates.h"
#include "sandbox.h"
#include "views.h"

typedef int (*api_handler)(struct http_request *r);

struct api_route {
	const char *method;
	const char *path;        /* exact path, or a prefix ending in '/' */
	bool prefix;
	bool address_exempt;     /* not limited per address: token-limited, or the local receiver */
	api_handler handler;
};

int
api_parse_id(const char *text, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (text == NULL || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

int
api_not_found(struct http_request *r, const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "no %s has this token", what);
	return http_send_error(r, 404, "RecordNotFound", NULL, msg);
}

static int
api_internal_error(struct http_request *r, const char *context)
{
	log_error("request failed", "context", context, NULL);
	return http_send_error(r, 500, "InternalServerError", NULL,
	                       "the gateway failed; the request id is in its log");
}

/* The access token from the body, else from Authorization: Bearer. */
static const char *
api_access_token(struct http_request *r)
{
	const char *token = params_get(&r->params, "access_token");
	const char *auth = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);

	if (token != NULL && token[0] != '\0')
		return token;
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		return auth + 7;
	return NULL;
}

/*
 * Authenticate the request for an operation. Returns 0 with *t filled, or
 * sends the rejection and returns -1. Repeated failures from one address
 * are rate-limited so that tokens cannot be guessed.
 */
static int
api_authenticate(struct http_request *r, enum auth_operation op, struct access_token *t)
{
	struct auth_request req = { .client = &r->client, .operation = op };
	const char *customer = params_get(&r->params, "customer_id");
	int64_t now = gateway_now_ms(r->gw) / 1000;
	char key[IPADDR_TEXT_MAX + 16], message[256];
	enum auth_result result;

	snprintf(key, sizeof(key), "auth-failures:%s", r->client_text);
	if (r->gw->limits && ratelimit_peek(r->gw->limits, key, now, 60) >=
	    CP_LIMIT_AUTH_FAILURES_PER_MINUTE) {
		r->retry_after_s = 60 - now % 60;
		http_send_error(r, 429, "RateLimited", NULL, "too many failed authentications"
		                " from this address; retry later");
		return -1;
	}
	if (api_parse_id(customer, &req.customer_id) != 0) {
		http_send_error(r, 422, "UnsupportedInput", "customer_id", customer == NULL
		                ? "customer_id is missing; send your numeric customer id"
		                : "customer_id must be your numeric customer id");
		return -1;
	}
	req.access_token = api_access_token(r);
	result = auth_check(r->gw, &req, t, message, sizeof(message), &r->retry_after_s);
	if (result == AUTH_OK)
		return 0;
	if (result == AUTH_ERROR) {
		api_internal_error(r, "authentication");
		return -1;
	}
	if (auth_http_status(result) == 401 && r->gw->limits)
		ratelimit_hit(r->gw->limits, key, now, 60, INT64_MAX, NULL);
	log_info("authentication rejected", "reason", auth_reason(result), "client",
	         r->client_text, NULL);
	http_send_error(r, auth_http_status(result), auth_reason(result),
	                auth_http_status(result) == 401 ? "access_token" : "error", message);
	return -1;
}

/*
 * Reject a JSON object or array sent for one of the named fields, which
 * would otherwise read as missing. Returns 0, or -1 after sending 422.
 */
static int
api_reject_structured(struct http_request *r, const char *const *names)
{
	struct field_errors errs = { .count = 0 };

	for (const char *const *name = names; *name != NULL; name++) {
		if (params_is_structured(&r->params, *name))
			field_errors_add(&errs, *name, "%s must be a string or a number, not an"
			                 " object or array", *name);
	}
	if (errs.count == 0)
		return 0;
	http_send_field_errors(r, &errs);
	return -1;
}

static void
api_payment_url(struct http_request *r, const char *page, const char *token,
                char *out, size_t len)
{
	snprintf(out, len, "%s/%s?token=%s", r->gw->cfg->public_url, page, token);
}

static int
api_generate_order(struct http_request *r)
{
	struct field_errors errs = { .count = 0 };
	struct access_token t;
	struct order o;
	struct order_input in;
	bool replayed = false;
	char url[CP_URL_MAX + 128];
	enum cp_result rc;

	static const char *const fields[] = { "customer_id", "access_token", "order_id",
		"order_token", "amount", "currency", "email", "description", "lang", NULL };

	if (http_parse_body(r) != 0 || api_reject_structured(r, fields) != 0 ||
	    api_authenticate(r, AUTH_OP_ORDER, &t) != 0)
		return MHD_YES;

	in = (struct order_input){
		.order_id = params_get(&r->params, "order_id"),
		.order_token = params_get(&r->params, "order_token"),
		.amount = params_get(&r->params, "amount"),
		.currency = params_get(&r->params, "currency"),
		.email = params_get(&r->params, "email"),
		.description = params_get(&r->params, "description"),
		.lang = params_get(&r->params, "lang"),
	};
	rc = orders_create(r->gw, &t, r->client_text, &in, &o, &replayed, &errs,
	                   http_commit_async(r));
	if (rc == CP_OK)
		http_defer_response(r);
	if (rc == CP_INVALID)
		return http_send_field_errors(r, &errs);
	if (rc == CP_CONFLICT) {
		r->retry_after_s = 3600;
		return http_send_error(r, 429, "RateLimited", NULL, "the hourly order limit of"
		                       " this merchant is reached; retry later");
	}
	if (rc != CP_OK)
		return api_internal_error(r, "generateOrder");

	const struct money_currency *cur = money_currency_find(o.currency);
	json_object *data = json_object_new_object();
	api_payment_url(r, "invoice", o.token, url, sizeof(url));
	views_add(data, "id", json_object_new_int64(o.id));
	views_add(data, "payment_url", json_object_new_string(url));
	views_add(data, "token", json_object_new_string(o.token));
	views_add(data, "status", json_object_new_string(order_status_code(o.status)));
	views_add(data, "amount", views_decimal(o.amount_fiat, cur ? cur->scale : 2, true));
	views_add(data, "currency", json_object_new_string(o.currency));
	views_add(data, "expires_at", json_object_new_int64(o.expires_at_ms / 1000));
	if (replayed)
		return http_send_success(r, 200, data, "Idempotent-Replayed", "true");
	return http_send_success(r, 201, data, NULL, NULL);
}

static int
api_generate_deposit(struct http_request *r)
{
	struct field_errors errs = { .count = 0 };
	struct access_token t;
	struct deposit d;
	struct deposit_input in;
	json_object *data = NULL;
	bool existing = false;
	char url[CP_URL_MAX + 128];
	enum cp_result rc;

	static const char *const fields[] = { "customer_id", "access_token", "deposit_id",
		"deposit_token", "currency", NULL };

	if (http_parse_body(r) != 0 || api_reject_structured(r, fields) != 0 ||
	    api_authenticate(r, AUTH_OP_DEPOSIT, &t) != 0)
		return MHD_YES;

	in = (struct deposit_input){
		.deposit_id = params_get(&r->params, "deposit_id"),
		.deposit_token = params_get(&r->params, "deposit_token"),
		.currency = params_get(&r->params, "currency"),
	};
	rc = deposits_create(r->gw, &t, r->client_text, &in, &d, &existing, &errs, &data,
	                     http_commit_async(r));
	if (rc == CP_OK)
		http_defer_response(r);
	if (rc == CP_INVALID)
		return http_send_field_errors(r, &errs);
	if (rc != CP_OK)
		return api_internal_error(r, "generateDeposit");

	api_payment_url(r, "deposit", d.token, url, sizeof(url));
	json_object_object_add(data, "payment_url", json_object_new_string(url));
	return http_send_success(r, existing ? 200 : 201, data, NULL, NULL);
}

static int
api_order_info(struct http_request *r)
{
	const char *token = r->path + strlen("/order/");
	struct order o;
	struct order_owner owner;
	enum cp_result rc;

	if (!validate_public_token(token, CP_ORDER_TOKEN_MAX))
		return api_not_found(r, "order");
	if (store_begin_read(r->gw->store) != CP_OK)
		return api_internal_error(r, "order lookup");
	rc = store_order_find_public(r->gw->store, token, &o, &owner);
	json_object *data = rc == CP_OK ? views_order_public(r->gw, &o, &owner) : NULL;
	store_rollback(r->gw->store);

	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "order");
	if (data == NULL)
		return api_internal_error(r, "order view");
	return http_send_success(r, 200, data, NULL, NULL);
}

static json_object *
api_rate_json(const struct rate *rate)
{
	json_object *item = json_object_new_object();
	char text[MONEY_TEXT_MAX];

	money_format_trim(rate->value, RATES_SCALE, text, sizeof(text));
	json_object_object_add(item, "coin", json_object_new_string(rate->coin));
	json_object_object_add(item, "fiat", json_object_new_string(rate->fiat));
	json_object_object_add(item, "rate", views_decimal_text(text));
	json_object_object_add(item, "updatedAt", json_object_new_int64(rate->updated_at));
	json_object_object_add(item, "source", json_object_new_string(rate->source));
	json_object_object_add(item, "stale", json_object_new_boolean(rate->stale));
	return item;
}

static int
api_rates(struct http_request *r)
{
	const char *coin = strncmp(r->path, "/api/rates/", 11) == 0 ? r->path + 11 : NULL;
	json_object *list = json_object_new_array();
	json_object *data = json_object_new_object();
	struct rate rate;

	if (coin != NULL && money_coin_find(coin) == NULL) {
		json_object_put(list);
		json_object_put(data);
		return http_send_error(r, 404, "RecordNotFound", "coin", "no such coin; use a code"
		                       " such as BTC, ETH, USDT-ERC20 or LTC");
	}
	for (size_t i = 0; i < rates_count(); i++) {
		if (rates_at(i, &rate) == 0 && (coin == NULL || strcmp(rate.coin, coin) == 0))
			json_object_array_add(list, api_rate_json(&rate));
	}
	json_object_object_add(data, "rates", list);
	/* The built-in table is sample data, not market prices. */
	bool sample = rates_count() > 0 && rates_at(0, &rate) == 0 &&
	              strcmp(rate.source, "sample") == 0;
	json_object_object_add(data, "sample", json_object_new_boolean(sample));
	return http_send_success(r, 200, data, NULL, NULL);
}

/* The operator's configured callback egress addresses (callbacks.egress_addresses). */
static int
api_ip_addresses(struct http_request *r)
{
	const struct config *cfg = r->gw->cfg;
	json_object *data = json_object_new_object();
	json_object *list = json_object_new_array();
	char text[IPADDR_TEXT_MAX];

	for (size_t i = 0; i < cfg->callback_egress_count; i++) {
		ipaddr_format(&cfg->callback_egress[i], text, sizeof(text));
		json_object_array_add(list, json_object_new_string(text));
	}
	json_object_object_add(data, "addresses", list);
	return http_send_success(r, 200, data, NULL, NULL);
}

#define API_METRICS_MAX 4096    /* bytes of the /metrics text; it has fixed lines */

/* Append formatted text to the metrics buffer; the size cap truncates. */
static void __attribute__((format(printf, 3, 4)))
api_metrics_append(char *buf, size_t *used, const char *fmt, ...)
{
	va_list ap;

	if (*used >= API_METRICS_MAX)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *used, API_METRICS_MAX - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
	if (*used > API_METRICS_MAX - 1)
		*used = API_METRICS_MAX - 1;
}

static void
api_metrics_counter(char *buf, size_t *used, const char *name, const char *help,
                    uint64_t value)
{
	api_metrics_append(buf, used, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	                   name, help, name, name, (unsigned long long)value);
}

static void
api_metrics_latency(char *buf, size_t *used, const struct callback_metrics *m)
{
	const char *name = "citypay_callback_latency_ms";

	api_metrics_append(buf, used, "# HELP %s Time from sending a callback to its"
	                   " complete response, in milliseconds.\n# TYPE %s histogram\n",
	                   name, name);
	for (int i = 0; i < CALLBACK_LATENCY_BUCKETS; i++)
		api_metrics_append(buf, used, "%s_bucket{le=\"%lld\"} %llu\n", name,
		                   (long long)callback_latency_bounds_ms[i],
		                   (unsigned long long)m->latency_le[i]);
	api_metrics_append(buf, used, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu\n"
	                   "%s_count %llu\n", name, (unsigned long long)m->latency_count,
	                   name, (unsigned long long)m->latency_sum_ms, name,
	                   (unsigned long long)m->latency_count);
}

/* Callback delivery and store metrics in the Prometheus text format. */
static int
api_metrics(struct http_request *r)
{
	struct callback_metrics m;
	struct store_stats stats;
	int64_t depth = 0;
	size_t used = 0;
	char *buf;

	if (store_begin_read(r->gw->store) != CP_OK)
		return api_internal_error(r, "metrics queue depth");
	enum cp_result rc = store_outbox_queue_depth(r->gw->store, &depth);
	store_rollback(r->gw->store);
	if (rc != CP_OK)
		return api_internal_error(r, "metrics queue depth");
	callback_metrics_read(&m);

	if ((buf = malloc(API_METRICS_MAX)) == NULL)
		return api_internal_error(r, "metrics buffer");
	api_metrics_append(buf, &used, "# HELP citypay_up 1 while the gateway serves requests.\n"
	                   "# TYPE citypay_up gauge\ncitypay_up 1\n");
	api_metrics_counter(buf, &used, "citypay_callbacks_delivered_total",
	                    "Callback attempts answered with a 2xx status.", m.delivered);
	api_metrics_counter(buf, &used, "citypay_callbacks_retried_total",
	                    "Failed callback attempts with a retry scheduled.", m.retried);
	api_metrics_counter(buf, &used, "citypay_callbacks_failed_total",
	                    "Callback deliveries given up after the retry window.", m.failed);
	api_metrics_counter(buf, &used, "citypay_callback_attempts_total",
	                    "Callback attempts recorded.", m.attempts);
	api_metrics_append(buf, &used, "# HELP citypay_callbacks_queue_depth Callback deliveries"
	                   " waiting to be sent or retried.\n# TYPE citypay_callbacks_queue_depth"
	                   " gauge\ncitypay_callbacks_queue_depth %lld\n", (long long)depth);
	api_metrics_latency(buf, &used, &m);
	store_stats(r->gw->store, &stats);
	api_metrics_counter(buf, &used, "citypay_store_transactions_total",
	                    "Write transactions committed or waiting for their commit.",
	                    stats.transactions);
	api_metrics_counter(buf, &used, "citypay_store_commits_total",
	                    "COMMITs; each carries one batch of write transactions.",
	                    stats.commits);
	api_metrics_counter(buf, &used, "citypay_store_syncs_total",
	                    "Syncs of the WAL; each makes the batches committed before it durable.",
	                    stats.syncs);
	api_metrics_counter(buf, &used, "citypay_store_checkpoints_total",
	                    "WAL checkpoints run by the checkpoint thread.",
	                    stats.checkpoints);
	return http_send_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, used);
}

static int
api_healthz(struct http_request *r)
{
	json_object *data = json_object_new_object();

	views_add(data, "status", json_object_new_string("ok"));
	return http_send_json(r, 200, data);
}

/* After a sandbox form on the payment page, go back to that page. */
static bool
api_return_to_invoice(struct http_request *r, const char *token)
{
	const char *back = params_get(&r->params, "return");
	char location[CP_ORDER_TOKEN_MAX + 64];

	if (back == NULL || token == NULL || !validate_public_token(token, CP_ORDER_TOKEN_MAX))
		return false;
	snprintf(location, sizeof(location), "/%s?token=%s",
	         strncmp(token, "dep_", 4) == 0 ? "deposit" : "invoice", token);
	http_send_redirect(r, location);
	return true;
}

static int
api_sandbox_disabled(struct http_request *r)
{
	return http_send_error(r, 403, "SandboxDisabled", NULL,
	                       "the sandbox is disabled on this gateway");
}

static int
api_sandbox_pay(struct http_request *r)
{
	struct field_errors errs = { .count = 0 };
	const char *token;
	struct chain_tx tx;
	enum cp_result rc;
	char amount[MONEY_TEXT_MAX];

	if (!r->gw->cfg->sandbox_enabled)
		return api_sandbox_disabled(r);
	if (http_parse_body(r) != 0)
		return MHD_YES;
	token = params_get(&r->params, "token");
	rc = sandbox_pay(r->gw, token, params_get(&r->params, "coin"),
	                 params_get(&r->params, "amount"), &tx, &errs);
	if (rc == CP_NOT_FOUND)
		return api_not_found(r, "sandbox order or deposit");
	if (rc == CP_INVALID)
		return http_send_field_errors(r, &errs);
	if (rc != CP_OK)
		return api_internal_error(r, "sandbox pay");
	if (api_return_to_invoice(r, token))
		return MHD_YES;

	const struct money_coin *coin = money_coin_find(tx.coin);
	money_format_trim(tx.amount, coin ? coin->scale : 8, amount, sizeof(amount));
	json_object *data = json_object_new_object();
	json_object_object_add(data, "hash", json_object_new_string(tx.hash));
	json_object_object_add(data, "coin", json_object_new_string(tx.coin));
	json_object_object_add(data, "address", json_object_new_string(tx.address));
	json_object_object_add(data, "amount", views_decimal_text(amount));
	return http_send_success(r, 201, data, NULL, NULL);
}

static int
api_sandbox_mine(struct http_request *r)
{
	const char *blocks_text;
	int64_t blocks = 1, height = 0;

	if (!r->gw->cfg->sandbox_enabled)
		return api_sandbox_disabled(r);
	if (http_parse_body(r) != 0)
		return MHD_YES;
	blocks_text = params_get(&r->params, "blocks");
	if (blocks_text != NULL && (api_parse_id(blocks_text, &blocks) != 0 ||
	                            blocks > SANDBOX_MINE_MAX))
		return http_send_error(r, 422, "UnsupportedInput", "blocks",
		                       "blocks must be an integer from 1 to 1000");
	if (sandbox_mine(r->gw, (int)blocks, &height) != CP_OK)
		return api_internal_error(r, "sandbox mine");
	if (api_return_to_invoice(r, params_get(&r->params, "token")))
		return MHD_YES;

	json_object *data = json_object_new_object();
	json_object_object_add(data, "height", json_object_new_int64(height));
	return http_send_success(r, 200, data, NULL, NULL);
}

/*
 * A callback receiver for demos and local development: it logs each
 * callback it receives and returns 200, so a sandbox token can point its
 * callback URL at the gateway itself.
 */
static int
api_sandbox_callbacks(struct http_request *r)
{
	const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *signature = http_header(r, "X-Signature");

	if (!r->gw->cfg->sandbox_enabled)
		return api_sandbox_disabled(r);
	if (type == NULL || strncmp(type, "application/json", 16) != 0)
		return http_send_error(r, 415, "UnsupportedMediaType", NULL,
		                       "callbacks are sent as application/json");
	if (http_parse_body(r) != 0)
		return MHD_YES;
	log_info("sandbox callback received", "event_id", params_get(&r->params, "event_id"),
	         "type", params_get(&r->params, "type"), "action", params_get(&r->params, "action"),
	         "status", params_get(&r->params, "status"),
	         "signed", signature != NULL ? "true" : "false", NULL);

	json_object *data = json_object_new_object();
	json_object_object_add(data, "received", json_object_new_boolean(1));
	return http_send_json(r, 200, data);
}

static int
api_static_cabinet_css(struct http_request *r)
{
	size_t len = 0;
	const char *css = cabinet_page_css(&len);

	return http_send_static(r, css, len, "text/css; charset=utf-8");
}

static int
api_static_cabinet_js(struct http_request *r)
{
	size_t len = 0;
	const char *js = cabinet_page_js(&len);

	return http_send_static(r, js, len, "text/javascript; charset=utf-8");
}

static const struct api_route api_routes[] = {
	{ "POST", "/api/generateOrder", false, true, api_generate_order },
	{ "POST", "/api/generateDeposit", false, true, api_generate_deposit },
	{ "GET", "/order/", true, false, api_order_info },
	/* The order API for the merchant's own UI; bearer JWTs from its login. */
	{ "POST", "/orders/api/login", false, true, order_api_login },
	{ "GET", "/orders/api", false, false, order_api_list },
	{ "GET", "/orders/api/", true, false, order_api_get },
	{ "POST", "/orders/api/", true, false, order_api_choose_coin },
	{ "GET", "/api/rates", false, false, api_rates },
	{ "GET", "/api/rates/", true, false, api_rates },
	{ "GET", "/api/ip-addresses", false, false, api_ip_addresses },
	{ "GET", "/metrics", false, false, api_metrics },
	{ "GET", "/invoice", false, false, api_invoice_page },
	{ "POST", "/invoice/coin", false, false, api_invoice_coin },
	{ "POST", "/invoice/cancel", false, false, api_invoice_cancel },
	{ "GET", "/deposit", false, false, api_deposit_page },
	{ "POST", "/sandbox/pay", false, false, api_sandbox_pay },
	{ "POST", "/sandbox/mine", false, false, api_sandbox_mine },
	{ "POST", "/sandbox/callbacks", false, true, api_sandbox_callbacks },
	{ "GET", "/static/page.css", false, false, api_static_css },
	{ "GET", "/static/page.js", false, false, api_static_js },
	{ "GET", "/static/cabinet.css", false, false, api_static_cabinet_css },
	{ "GET", "/static/cabinet.js", false, false, api_static_cabinet_js },
	{ "GET", "/healthz", false, false, api_healthz },
};

static bool
api_route_matches(const struct api_route *route, const char *path)
{
	size_t n = strlen(route->path);

	if (!route->prefix)
		return strcmp(route->path, path) == 0;
	return strncmp(route->path, path, n) == 0 && path[n] != '\0';
}

/* Per-address limits on the endpoints that need no token; 0 is no limit. */
static bool
api_public_rate_allows(struct http_request *r)
{
	int64_t now = gateway_now_ms(r->gw) / 1000;
	int per_minute, per_hour;
	char key[IPADDR_TEXT_MAX + 16];

	if (r->gw->limits == NULL)
		return true;
	per_minute = r->gw->cfg->limit_public_per_minute;
	per_hour = r->gw->cfg->limit_public_per_hour;

	if (per_minute > 0) {
		snprintf(key, sizeof(key), "public-minute:%s", r->client_text);
		if (!ratelimit_hit(r->gw->limits, key, now, 60, per_minute, &r->retry_after_s))
			return false;
	}
	if (per_hour == 0)
		return true;
	snprintf(key, sizeof(key), "public-hour:%s", r->client_text);
	return ratelimit_hit(r->gw->limits, key, now, 3600, per_hour, &r->retry_after_s);
}

int
api_dispatch(struct http_request *r)
{
	const struct api_route *path_match = NULL;
	bool is_head = strcmp(r->method, "HEAD") == 0;

	if (strncmp(r->path, "/cabinet", 8) == 0 && (r->path[8] == '\0' || r->path[8] == '/')) {
		if (!api_public_rate_allows(r))
			return http_send_error(r, 429, "RateLimited", NULL,
			                       "too many requests from this address; retry later");
		return cabinet_dispatch(r);
	}
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *route = &api_routes[i];

		if (!api_route_matches(route, r->path))
			continue;
		path_match = route;
		if (strcmp(route->method, r->method) != 0 &&
		    !(is_head && strcmp(route->method, "GET") == 0))
			continue;
		if (!route->address_exempt && strcmp(route->path, "/healthz") != 0 &&
		    !api_public_rate_allows(r))
			return http_send_error(r, 429, "RateLimited", NULL,
			                       "too many requests from this address; retry later");
		return route->handler(r);
	}
	if (path_match != NULL) {
		r->allow = strcmp(path_match->method, "GET") == 0 ? "GET, HEAD" : path_match->method;
		return http_send_error(r, 405, "MethodNotAllowed", NULL, "this path does not"
		                       " accept this HTTP method");
	}
	return http_send_error(r, 404, "PageNotFound", NULL, "no such path");
}
