/*
 * Server-rendered HTML of the hosted pages: the invoice a buyer pays, the
 * deposit page and plain message pages, plus the static stylesheet and
 * script they load.
 *
 * The pages work under the Content-Security-Policy
 *   default-src 'none'; script-src 'self'; style-src 'self';
 *   img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none';
 *   frame-ancestors 'none'
 * because they contain no inline script, no style attribute and no <style>
 * element. They load /static/page.css (page_css()) and /static/page.js
 * (page_js()). The script only adds copy buttons, a live countdown and a
 * poll of GET /order/{token} (same origin, so connect-src 'self' must
 * allow it) that reloads the invoice when its status changes. Every page
 * works without it, and a policy without script-src 'self' only loses
 * those conveniences.
 *
 * Every text that a merchant or buyer supplied is HTML-escaped, and a
 * success or cancel URL becomes a link only when it is http or https.
 */
#ifndef CITYPAY_PAGE_H
#define CITYPAY_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "order_state.h"
#include "store.h"

/* Maximum page size in bytes. A renderer returns NULL for a larger page. */
#define PAGE_SIZE_MAX (256 * 1024)

/* Data of the invoice page of one order. Pointers are borrowed. */
struct page_order_view {
	const char *company;            /* the merchant's company name */
	const struct order *order;      /* required, never NULL */
	const char *const *coins;       /* codes of the coins the buyer may choose */
	size_t coin_count;
	const char *payment_uri;        /* views_payment_uri() text, empty before a coin is chosen */
	const char *error;              /* sentence shown above the forms, or NULL or empty for none */
	enum order_status status;       /* the status to show, normally order->status */
	money_t received;               /* sum of transactions seen, base units of order->coin */
	int64_t now_ms;                 /* Unix ms, for the time left until order->expires_at_ms */
	const char *success_url;        /* NULL or empty when the token has none */
	const char *cancel_url;         /* NULL or empty when the token has none */
	bool sandbox;
};

/* One receiving address of a deposit. */
struct page_deposit_address {
	const char *coin;               /* coin code, "BTC" */
	const char *address;
};

/* Data of the deposit page. Pointers are borrowed. */
struct page_deposit_view {
	const char *company;
	const struct deposit *deposit;
	const struct page_deposit_address *addresses;
	size_t address_count;
	bool sandbox;
};

/*
 * Render the invoice page of GET /invoice. It shows the company, the fiat
 * amount and the status, and then by status:
 * - IN_PROGRESS without a coin: a form POST /invoice/coin (fields token,
 *   coin) listing v->coins;
 * - a coin chosen: the address, the exact crypto amount, a QR code of
 *   v->payment_uri and the time left; while nothing is received and the
 *   order is IN_PROGRESS, a form to change the coin;
 * - IN_PROGRESS with nothing received: a form POST /invoice/cancel (token);
 * - CONFIRMED or OVERPAID: a link to the success URL;
 * - CANCELED, EXPIRED or UNDERPAID: a link to the cancel URL.
 * In sandbox mode it adds forms POST /sandbox/pay (token, optional amount)
 * and POST /sandbox/mine (token, blocks), both with return=invoice.
 *
 * Returns a NUL-terminated heap string the caller frees, with its length in
 * *len, or NULL when memory runs out or the page exceeds PAGE_SIZE_MAX.
 */
char *page_invoice(const struct page_order_view *v, size_t *len);

/*
 * Render the deposit page of GET /deposit: the company and, per address,
 * the coin, its asset name, the address and a QR code of
 * "<network>:<address>". Coins unknown to money_coin_find() are skipped.
 * Ownership and failures as page_invoice().
 */
char *page_deposit(const struct page_deposit_view *v, size_t *len);

/*
 * Render a plain message page, such as "Order not found" for a 404. The
 * HTTP status is shown as "Error <status>" when it is 400 or above. title
 * and text may be NULL. Ownership and failures as page_invoice().
 */
char *page_message(int status, const char *title, const char *text, size_t *len);

/* Return the stylesheet served at /static/page.css, a static string not to be freed. */
const char *page_css(size_t *len);

/* Return the script served at /static/page.js, a static string not to be freed. */
const char *page_js(size_t *len);

#endif
