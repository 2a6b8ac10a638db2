/*
 * Routes of the hosted pages: the invoice a buyer pays, the deposit page
 * and their static assets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "orders.h"
#include "page.h"
#include "views.h"

static int
api_page_message(struct http_request *r, int status, const char *title, const char *text)
{
	size_t len = 0;
	char *html = page_message(status, title, text, &len);

	if (html == NULL)
		return http_send_error(r, 500, "InternalServerError", NULL, "the page failed to render");
	return http_send_html(r, status, html, len);
}

struct api_coin_list {
	const char *codes[16];
	size_t count;
};

static void
api_allowed_coins(const struct merchant *m, const struct access_token *t,
                  struct api_coin_list *list)
{
	list->count = 0;
	for (size_t i = 0; i < money_coin_count() && list->count < 16; i++) {
		const struct money_coin *coin = money_coin_at(i);
		if (orders_coin_allowed(m, t, coin->code))
			list->codes[list->count++] = coin->code;
	}
}

/* Render the invoice of token, with an optional error sentence, inside a read transaction. */
static int
api_render_invoice(struct http_request *r, const char *token, int status, const char *error)
{
	struct order o;
	struct merchant m;
	struct access_token t;
	struct api_coin_list coins;
	money_t received = 0, confirmed = 0;
	char uri[CP_URL_MAX + 256];
	enum cp_result rc;

	if (token == NULL || !validate_public_token(token, CP_ORDER_TOKEN_MAX))
		return api_page_message(r, 404, "Order not found", "This payment link is not valid.");
	if (store_begin_read(r->gw->store) != CP_OK)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
	rc = store_order_find_token(r->gw->store, token, &o);
	if (rc == CP_OK)
		rc = store_merchant_get(r->gw->store, o.merchant_id, &m);
	if (rc == CP_OK)
		rc = store_token_get(r->gw->store, o.token_id, &t);
	if (rc == CP_OK)
		rc = orders_totals_locked(r->gw, o.id, &received, &confirmed);
	store_rollback(r->gw->store);
	if (rc == CP_NOT_FOUND)
		return api_page_message(r, 404, "Order not found", "This payment link is not valid.");
	if (rc != CP_OK)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");

	api_allowed_coins(&m, &t, &coins);
	views_payment_uri(&o, uri, sizeof(uri));
	struct page_order_view v = {
		.company = m.company, .order = &o, .coins = coins.codes,
		.coin_count = coins.count, .payment_uri = uri, .error = error,
		.status = o.status, .received = received, .now_ms = gateway_now_ms(r->gw),
		.success_url = t.success_url, .cancel_url = t.cancel_url,
		.sandbox = o.mode == TOKEN_MODE_SANDBOX && r->gw->cfg->sandbox_enabled,
	};
	size_t len = 0;
	char *html = page_invoice(&v, &len);
	if (html == NULL)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
	return http_send_html(r, status, html, len);
}

int
api_invoice_page(struct http_request *r)
{
	return api_render_invoice(r, http_query(r, "token"), 200, NULL);
}

/* The page sent in place of the redirect when the change's commit failed. */
static int
api_invoice_commit_failed(struct http_request *r)
{
	return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
}

/*
 * Choose the coin of an order, or cancel it, from the payment page. In a
 * pool the redirect is held on a suspended connection until the change is
 * durable, so the pool thread serves other connections meanwhile.
 */
static int
api_invoice_action(struct http_request *r, bool cancel)
{
	struct field_errors errs = { .count = 0 };
	const char *token;
	char location[CP_ORDER_TOKEN_MAX + 32];
	struct order o;
	enum cp_result rc;

	if (http_parse_body(r) != 0)
		return MHD_YES;
	token = params_get(&r->params, "token");
	if (token == NULL || !validate_public_token(token, CP_ORDER_TOKEN_MAX))
		return api_page_message(r, 404, "Order not found", "This payment link is not valid.");
	rc = cancel ? orders_cancel(r->gw, token, &o, &errs, http_commit_async(r))
	            : orders_choose_coin(r->gw, token, params_get(&r->params, "coin"), &o, &errs,
	                                 http_commit_async(r));
	if (rc == CP_OK)
		http_defer_page(r, api_invoice_commit_failed);
	if (rc == CP_NOT_FOUND)
		return api_page_message(r, 404, "Order not found", "This payment link is not valid.");
	if (rc == CP_INVALID)
		return api_render_invoice(r, token, 422, errs.items[0].message);
	if (rc != CP_OK)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
	snprintf(location, sizeof(location), "/invoice?token=%s", token);
	return http_send_redirect(r, location);
}

int
api_invoice_coin(struct http_request *r)
{
	return api_invoice_action(r, false);
}

int
api_invoice_cancel(struct http_request *r)
{
	return api_invoice_action(r, true);
}

int
api_deposit_page(struct http_request *r)
{
	const char *token = http_query(r, "token");
	struct page_deposit_address addresses[16];
	struct deposit d;
	struct merchant m;
	char text[16][128];
	size_t count = 0;
	enum cp_result rc;

	if (token == NULL || !validate_public_token(token, 40))
		return api_page_message(r, 404, "Deposit not found", "This deposit link is not valid.");
	if (store_begin_read(r->gw->store) != CP_OK)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
	rc = store_deposit_find_token(r->gw->store, token, &d);
	if (rc == CP_OK)
		rc = store_merchant_get(r->gw->store, d.merchant_id, &m);
	for (size_t i = 0; rc == CP_OK && i < money_coin_count() && count < 16; i++) {
		const struct money_coin *coin = money_coin_at(i);
		if (store_address_find_owner(r->gw->store, coin->code, 0, d.id, text[count],
		                             sizeof(text[count])) != CP_OK)
			continue;
		addresses[count].coin = coin->code;
		addresses[count].address = text[count];
		count++;
	}
	store_rollback(r->gw->store);
	if (rc == CP_NOT_FOUND)
		return api_page_message(r, 404, "Deposit not found", "This deposit link is not valid.");
	if (rc != CP_OK)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");

	struct page_deposit_view v = {
		.company = m.company, .deposit = &d, .addresses = addresses,
		.address_count = count, .sandbox = d.mode == TOKEN_MODE_SANDBOX,
	};
	size_t len = 0;
	char *html = page_deposit(&v, &len);
	if (html == NULL)
		return api_page_message(r, 500, "Temporarily unavailable", "Please try again.");
	return http_send_html(r, 200, html, len);
}

int
api_static_css(struct http_request *r)
{
	size_t len = 0;
	const char *css = page_css(&len);

	return http_send_static(r, css, len, "text/css; charset=utf-8");
}

int
api_static_js(struct http_request *r)
{
	size_t len = 0;
	const char *js = page_js(&len);

	return http_send_static(r, js, len, "text/javascript; charset=utf-8");
}
