/*
 * The hosted pages as HTML. Markup is written into one growable buffer with
 * a hard cap. Every text that came from a merchant or a buyer goes through
 * html_escape(). html_puts() and html_printf() write unescaped markup, only
 * from string literals, numbers and entries of the coin table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "html.h"
#include "limits.h"
#include "page.h"
#include "qr.h"
#include "views.h"

static bool page_has_text(const char *text)
{
	return text != NULL && text[0] != '\0';
}

/* Shared markup */

/* Open the document with the title label followed by the escaped name. */
static void page_begin(struct html_buf *b, const char *label, const char *name, bool sandbox)
{
	html_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	             "<meta charset=\"utf-8\">\n"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	             "<meta name=\"referrer\" content=\"no-referrer\">\n"
	             "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	             "<title>");
	html_puts(b, label);
	html_escape(b, name);
	html_puts(b, "</title>\n"
	             "<link rel=\"stylesheet\" href=\"/static/page.css\">\n"
	             "<script src=\"/static/page.js\" defer></script>\n"
	             "</head>\n<body>\n");
	if (sandbox)
		html_puts(b, "<p class=\"sandbox-banner\" role=\"note\"><strong>Sandbox: no real money.</strong>"
		             " Payments on this page are simulated.</p>\n");
	html_puts(b, "<main>\n");
}

static void page_end(struct html_buf *b)
{
	html_puts(b, "</main>\n</body>\n</html>\n");
}

static void page_hidden(struct html_buf *b, const char *name, const char *value)
{
	html_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	html_escape(b, value);
	html_puts(b, "\">\n");
}

/* A labelled value the script gives a copy button, such as an address. */
static void page_copyable(struct html_buf *b, const char *label, const char *value)
{
	html_puts(b, "<div class=\"field\"><span class=\"field-label\">");
	html_puts(b, label);
	html_puts(b, "</span><code class=\"copy\" data-copy>");
	html_escape(b, value);
	html_puts(b, "</code></div>\n");
}

/* A QR code of text, or nothing when it cannot be encoded. */
static void page_qr(struct html_buf *b, const char *text, const char *description)
{
	size_t svg_len = 0;
	char *svg = qr_svg(text, &svg_len);

	if (svg == NULL)
		return;
	html_puts(b, "<div class=\"qr\" role=\"img\" aria-label=\"");
	html_puts(b, description);
	html_puts(b, "\">");
	html_append(b, svg, svg_len);
	html_puts(b, "</div>\n");
	free(svg);
}

static void page_link(struct html_buf *b, const char *url, const char *text)
{
	if (!html_url_is_http(url))
		return;
	html_puts(b, "<p><a class=\"button\" rel=\"noreferrer\" href=\"");
	html_escape(b, url);
	html_puts(b, "\">");
	html_puts(b, text);
	html_puts(b, "</a></p>\n");
}

/* "Bitcoin (BTC)" for a known coin, the escaped code alone otherwise. */
static void page_coin_name(struct html_buf *b, const char *code)
{
	const struct money_coin *coin = money_coin_find(code);

	if (coin == NULL) {
		html_escape(b, code);
		return;
	}
	html_puts(b, coin->base_name);
	html_puts(b, " <span class=\"muted\">(");
	html_puts(b, coin->code);
	html_puts(b, ")</span>");
}

/* Invoice parts */

static const struct money_coin *invoice_coin(const struct page_order_view *v)
{
	return v->order->coin[0] != '\0' ? money_coin_find(v->order->coin) : NULL;
}

/* Append units of the order's coin, "0.00041 BTC". */
static void invoice_crypto(struct html_buf *b, const struct money_coin *coin, money_t units)
{
	char text[MONEY_TEXT_MAX];

	if (money_format_trim(units, coin->scale, text, sizeof(text)) == 0)
		snprintf(text, sizeof(text), "?");
	html_puts(b, text);
	html_puts(b, " ");
	html_puts(b, coin->code);
}

static int64_t invoice_remaining_ms(const struct page_order_view *v)
{
	int64_t remaining = v->order->expires_at_ms - v->now_ms;

	return remaining > 0 ? remaining : 0;
}

/* True while the buyer may still choose a coin, pay or cancel. */
static bool invoice_is_open(const struct page_order_view *v)
{
	return v->status == ORDER_IN_PROGRESS && invoice_remaining_ms(v) > 0;
}

/*
 * True while a payment or the expiry may still change the status: until a
 * final status, and for EXPIRED or UNDERPAID until the monitoring window
 * after expiry ends.
 */
static bool invoice_may_change(const struct page_order_view *v)
{
	int64_t expires = v->order->expires_at_ms;

	if (order_status_is_final(v->status))
		return false;
	if (v->status != ORDER_EXPIRED && v->status != ORDER_UNDERPAID)
		return true;
	return expires <= INT64_MAX - CP_ORDER_LATE_WINDOW_MS &&
	       v->now_ms < expires + CP_ORDER_LATE_WINDOW_MS;
}

static void invoice_header(struct html_buf *b, const struct page_order_view *v)
{
	const struct order *o = v->order;
	const struct money_currency *currency = money_currency_find(o->currency);
	const char *label = order_status_label(v->status);
	const char *code = order_status_code(v->status);
	char amount[MONEY_TEXT_MAX];

	if (money_format(o->amount_fiat, currency != NULL ? currency->scale : 0, amount,
	                 sizeof(amount)) == 0)
		snprintf(amount, sizeof(amount), "?");

	html_puts(b, "<header>\n<p class=\"merchant\">");
	html_escape(b, v->company);
	html_puts(b, "</p>\n<h1><span class=\"amount\">");
	html_puts(b, amount);
	html_puts(b, "</span> ");
	html_escape(b, o->currency);
	html_puts(b, "</h1>\n<p class=\"muted\">Order ");
	html_escape(b, o->client_order_id);
	html_puts(b, "</p>\n");
	if (page_has_text(o->description)) {
		html_puts(b, "<p class=\"description\">");
		html_escape(b, o->description);
		html_puts(b, "</p>\n");
	}
	html_puts(b, "<p class=\"status status-");
	html_puts(b, code != NULL ? code : "UNKNOWN");
	if (code != NULL && invoice_may_change(v)) {
		html_puts(b, "\" data-status=\"");
		html_puts(b, code);
		html_puts(b, "\" data-order-token=\"");
		html_escape(b, o->token);
	}
	html_puts(b, "\">Status: <strong>");
	html_puts(b, label != NULL ? label : "Unknown");
	html_puts(b, "</strong></p>\n</header>\n");
}

static void invoice_error(struct html_buf *b, const struct page_order_view *v)
{
	if (!page_has_text(v->error))
		return;
	html_puts(b, "<p class=\"error\" role=\"alert\">");
	html_escape(b, v->error);
	html_puts(b, "</p>\n");
}

/* Append the form POST /invoice/coin with a radio button per coin, the current one checked. */
static void invoice_coin_form(struct html_buf *b, const struct page_order_view *v,
                              const char *legend, const char *submit)
{
	html_puts(b, "<form method=\"post\" action=\"/invoice/coin\" class=\"coins\">\n");
	page_hidden(b, "token", v->order->token);
	html_puts(b, "<fieldset>\n<legend>");
	html_puts(b, legend);
	html_puts(b, "</legend>\n");
	for (size_t i = 0; i < v->coin_count; i++) {
		const char *code = v->coins[i];
		bool checked = v->coin_count == 1 || strcmp(code, v->order->coin) == 0;

		html_puts(b, "<label class=\"choice\"><input type=\"radio\" name=\"coin\" value=\"");
		html_escape(b, code);
		html_puts(b, checked ? "\" required checked> <span>" : "\" required> <span>");
		page_coin_name(b, code);
		html_puts(b, "</span></label>\n");
	}
	html_puts(b, "</fieldset>\n<button type=\"submit\">");
	html_puts(b, submit);
	html_puts(b, "</button>\n</form>\n");
}

/* Append a duration as "1 h 05 min" or "12 min 30 s", the format page.js also writes. */
static void invoice_duration(struct html_buf *b, int64_t ms)
{
	int64_t seconds = ms / 1000;

	if (seconds >= 3600)
		html_printf(b, "%lld h %02lld min", (long long)(seconds / 3600),
		            (long long)(seconds % 3600 / 60));
	else
		html_printf(b, "%lld min %02lld s", (long long)(seconds / 60),
		            (long long)(seconds % 60));
}

static void invoice_time_left(struct html_buf *b, const struct page_order_view *v)
{
	int64_t remaining = invoice_remaining_ms(v);
	char until[32];

	views_format_time(v->order->expires_at_ms, false, until, sizeof(until));
	html_printf(b, "<p class=\"time-left\">Time left: <strong data-remaining-ms=\"%lld\">",
	            (long long)remaining);
	invoice_duration(b, remaining);
	html_puts(b, "</strong> <span class=\"muted\">(until ");
	html_puts(b, until);
	html_puts(b, " UTC)</span></p>\n");
}

/* A link that opens a wallet app, only for the URI scheme of the coin's network. */
static void invoice_wallet_link(struct html_buf *b, const struct money_coin *coin,
                                const char *uri)
{
	size_t network_len = strlen(coin->network);

	if (strncmp(uri, coin->network, network_len) != 0 || uri[network_len] != ':')
		return;
	html_puts(b, "<p class=\"wallet\"><a href=\"");
	html_escape(b, uri);
	html_puts(b, "\">Open in a wallet app</a></p>\n");
}

/*
 * The QR code and wallet link of the payment request. After a partial
 * payment the request is rebuilt for the rest, so that scanning it again
 * does not send the whole amount twice.
 */
static void invoice_payment_qr(struct html_buf *b, const struct page_order_view *v,
                               const struct money_coin *coin, money_t due)
{
	const char *uri = v->payment_uri;
	char rest_uri[512];

	if (due != v->order->amount_crypto) {
		struct order rest = *v->order;

		rest.amount_crypto = due;
		views_payment_uri(&rest, rest_uri, sizeof(rest_uri));
		uri = rest_uri;
	}
	if (!page_has_text(uri))
		return;
	page_qr(b, uri, "QR code of the payment request");
	invoice_wallet_link(b, coin, uri);
}

/* Address, amount due, QR code and time left of an open order with a coin. */
static void invoice_payment(struct html_buf *b, const struct page_order_view *v,
                            const struct money_coin *coin)
{
	const struct order *o = v->order;
	bool partly_paid = v->received > 0 && v->received < o->amount_crypto;
	money_t due = partly_paid ? o->amount_crypto - v->received : o->amount_crypto;
	char due_text[MONEY_TEXT_MAX];
	char label[64];

	if (money_format_trim(due, coin->scale, due_text, sizeof(due_text)) == 0)
		snprintf(due_text, sizeof(due_text), "?");
	snprintf(label, sizeof(label), "Amount (%s)", coin->code);

	html_puts(b, "<section class=\"payment\" aria-labelledby=\"payment-title\">\n"
	             "<h2 id=\"payment-title\">");
	html_puts(b, partly_paid ? "Send the rest: " : "Send exactly ");
	invoice_crypto(b, coin, due);
	html_puts(b, "</h2>\n");
	if (partly_paid) {
		html_puts(b, "<p>Received so far: ");
		invoice_crypto(b, coin, v->received);
		html_puts(b, " of ");
		invoice_crypto(b, coin, o->amount_crypto);
		html_puts(b, ". Send the rest to the same address.</p>\n");
	}
	page_copyable(b, label, due_text);
	page_copyable(b, "Address", o->address);
	invoice_payment_qr(b, v, coin, due);
	if (page_has_text(o->exchange_rate)) {
		html_puts(b, "<p class=\"muted\">Rate: 1 ");
		html_puts(b, coin->code);
		html_puts(b, " = ");
		html_escape(b, o->exchange_rate);
		html_puts(b, " ");
		html_escape(b, o->currency);
		html_puts(b, "</p>\n");
	}
	invoice_time_left(b, v);
	html_puts(b, "</section>\n");
}

/* Append the sentence that explains the status to the buyer. */
static void invoice_status_text(struct html_buf *b, const struct page_order_view *v,
                                const struct money_coin *coin)
{
	html_puts(b, "<p class=\"status-text\">");
	switch (v->status) {
	case ORDER_IN_PROGRESS:
		if (invoice_remaining_ms(v) == 0)
			html_puts(b, "The time to pay this order is over. Do not send funds to its address.");
		else if (coin == NULL)
			html_puts(b, "Choose the coin you want to pay with.");
		else
			html_puts(b, "Waiting for your payment.");
		break;
	case ORDER_PAID_UNCONFIRMED:
		html_puts(b, "Your payment was received and is waiting for network confirmations.");
		break;
	case ORDER_CONFIRMED:
		html_puts(b, "Your payment is confirmed. Thank you.");
		break;
	case ORDER_OVERPAID:
		html_puts(b, "Your payment is confirmed. You sent more than the amount due, so contact ");
		html_escape(b, v->company);
		html_puts(b, " about the difference.");
		break;
	case ORDER_UNDERPAID:
		html_puts(b, "This order expired with only part of the amount paid. Contact ");
		html_escape(b, v->company);
		html_puts(b, " to settle the rest or get a refund.");
		break;
	case ORDER_EXPIRED:
		html_puts(b, "This order expired before a payment arrived. Do not send funds to its address.");
		break;
	case ORDER_CANCELED:
		html_puts(b, "This order was canceled. Do not send funds to its address.");
		break;
	}
	html_puts(b, "</p>\n");
}

static void invoice_received(struct html_buf *b, const struct page_order_view *v,
                             const struct money_coin *coin)
{
	if (coin == NULL || v->received <= 0 || invoice_is_open(v))
		return;
	html_puts(b, "<p>Received: <strong>");
	invoice_crypto(b, coin, v->received);
	html_puts(b, "</strong> of ");
	invoice_crypto(b, coin, v->order->amount_crypto);
	html_puts(b, "</p>\n");
}

/* A link that reloads the invoice, for statuses that change by themselves. */
static void invoice_reload_link(struct html_buf *b, const struct page_order_view *v)
{
	html_puts(b, "<p><a href=\"/invoice?token=");
	html_url_encode(b, v->order->token);
	html_puts(b, "\">Reload to see the latest status</a></p>\n");
}

static void invoice_cancel_form(struct html_buf *b, const struct page_order_view *v)
{
	html_puts(b, "<form method=\"post\" action=\"/invoice/cancel\" class=\"cancel\">\n");
	page_hidden(b, "token", v->order->token);
	html_puts(b, "<button type=\"submit\" class=\"secondary\">Cancel payment</button>\n</form>\n");
}

/* Links back to the shop once the order reached a final status. */
static void invoice_shop_links(struct html_buf *b, const struct page_order_view *v)
{
	switch (v->status) {
	case ORDER_CONFIRMED:
	case ORDER_OVERPAID:
		page_link(b, v->success_url, "Return to the shop");
		break;
	case ORDER_CANCELED:
	case ORDER_EXPIRED:
	case ORDER_UNDERPAID:
		page_link(b, v->cancel_url, "Back to the shop");
		break;
	default:
		break;
	}
}

/* Forms that stand in for a wallet and the chain of a sandbox order. */
static void invoice_sandbox(struct html_buf *b, const struct page_order_view *v,
                            const struct money_coin *coin)
{
	html_puts(b, "<section class=\"sandbox\" aria-labelledby=\"sandbox-title\">\n"
	             "<h2 id=\"sandbox-title\">Sandbox tools</h2>\n"
	             "<p>These forms stand in for a wallet and the blockchain.</p>\n");
	if (coin != NULL) {
		html_puts(b, "<form method=\"post\" action=\"/sandbox/pay\">\n");
		page_hidden(b, "token", v->order->token);
		page_hidden(b, "return", "invoice");
		html_printf(b, "<label for=\"sandbox-amount\">Amount in %s"
		               " <span class=\"muted\">(empty pays the amount due)</span></label>\n",
		            coin->code);
		html_puts(b, "<input id=\"sandbox-amount\" name=\"amount\" inputmode=\"decimal\""
		             " autocomplete=\"off\">\n"
		             "<button type=\"submit\">Simulate payment</button>\n</form>\n");
	} else {
		html_puts(b, "<p class=\"muted\">Choose a coin to simulate a payment.</p>\n");
	}
	html_puts(b, "<form method=\"post\" action=\"/sandbox/mine\">\n");
	page_hidden(b, "token", v->order->token);
	page_hidden(b, "return", "invoice");
	html_puts(b, "<label for=\"sandbox-blocks\">Blocks to mine</label>\n"
	             "<input id=\"sandbox-blocks\" name=\"blocks\" type=\"number\" value=\"1\""
	             " min=\"1\" required>\n"
	             "<button type=\"submit\">Mine blocks</button>\n</form>\n</section>\n");
}

char *page_invoice(const struct page_order_view *v, size_t *len)
{
	struct html_buf b = { .max = PAGE_SIZE_MAX };
	const struct money_coin *coin = invoice_coin(v);
	bool open = invoice_is_open(v);

	page_begin(&b, "Payment to ", v->company, v->sandbox);
	invoice_header(&b, v);
	invoice_error(&b, v);
	invoice_status_text(&b, v, coin);

	if (open && coin == NULL)
		invoice_coin_form(&b, v, "Pay with", "Continue");
	if (open && coin != NULL)
		invoice_payment(&b, v, coin);
	if (open && coin != NULL && v->received == 0 && v->coin_count > 1) {
		html_puts(&b, "<details class=\"change-coin\">\n<summary>Pay with another coin</summary>\n");
		invoice_coin_form(&b, v, "Another coin", "Change coin");
		html_puts(&b, "</details>\n");
	}
	invoice_received(&b, v, coin);
	if ((open && coin != NULL) || v->status == ORDER_PAID_UNCONFIRMED)
		invoice_reload_link(&b, v);
	if (open && v->received == 0)
		invoice_cancel_form(&b, v);
	invoice_shop_links(&b, v);
	if (v->sandbox)
		invoice_sandbox(&b, v, coin);

	page_end(&b);
	return html_finish(&b, len);
}

/* Deposit page */

static void deposit_address(struct html_buf *b, const struct page_deposit_address *a)
{
	const struct money_coin *coin = money_coin_find(a->coin);
	char uri[CP_URL_MAX];
	int n;

	if (coin == NULL || !page_has_text(a->address))
		return;
	n = snprintf(uri, sizeof(uri), "%s:%s", coin->network, a->address);

	html_printf(b, "<section class=\"payment\" aria-label=\"%s address\">\n<h2>", coin->code);
	page_coin_name(b, coin->code);
	html_puts(b, "</h2>\n");
	page_copyable(b, "Address", a->address);
	if (n > 0 && (size_t)n < sizeof(uri))
		page_qr(b, uri, "QR code of the address");
	html_puts(b, "</section>\n");
}

char *page_deposit(const struct page_deposit_view *v, size_t *len)
{
	struct html_buf b = { .max = PAGE_SIZE_MAX };

	page_begin(&b, "Deposit to ", v->company, v->sandbox);
	html_puts(&b, "<header>\n<p class=\"merchant\">");
	html_escape(&b, v->company);
	html_puts(&b, "</p>\n<h1>Deposit</h1>\n");
	if (v->deposit != NULL && page_has_text(v->deposit->client_deposit_id)) {
		html_puts(&b, "<p class=\"muted\">Deposit ");
		html_escape(&b, v->deposit->client_deposit_id);
		html_puts(&b, "</p>\n");
	}
	html_puts(&b, "</header>\n");

	if (v->address_count == 0) {
		html_puts(&b, "<p>No deposit address is available yet. Try again later.</p>\n");
	} else {
		html_puts(&b, "<p>Send any amount of one of these coins to its address. Every payment"
		              " is credited to your account at ");
		html_escape(&b, v->company);
		html_puts(&b, ". Send each coin only to its own address.</p>\n");
	}
	for (size_t i = 0; i < v->address_count; i++)
		deposit_address(&b, &v->addresses[i]);

	page_end(&b);
	return html_finish(&b, len);
}

/* Message page */

char *page_message(int status, const char *title, const char *text, size_t *len)
{
	struct html_buf b = { .max = PAGE_SIZE_MAX };

	page_begin(&b, "", page_has_text(title) ? title : "Error", false);
	html_puts(&b, "<header>\n<h1>");
	html_escape(&b, page_has_text(title) ? title : "Error");
	html_puts(&b, "</h1>\n</header>\n");
	if (page_has_text(text)) {
		html_puts(&b, "<p>");
		html_escape(&b, text);
		html_puts(&b, "</p>\n");
	}
	if (status >= 400)
		html_printf(&b, "<p class=\"muted\">Error %d</p>\n", status);
	page_end(&b);
	return html_finish(&b, len);
}

/* Static files */

static const char page_stylesheet[] =
	":root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#f3f4f6;--card:#fff;"
	"--line:#d6dae0;--accent:#1d4ed8;--accent-fg:#fff;--ok:#166534;--ok-bg:#dcfce7;"
	"--wait:#854d0e;--wait-bg:#fef9c3;--bad:#991b1b;--bad-bg:#fee2e2}\n"
	"@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#a3abb5;--bg:#111418;"
	"--card:#1b1f24;--line:#3a414a;--accent:#60a5fa;--accent-fg:#0b1220;--ok:#86efac;"
	"--ok-bg:#14331f;--wait:#fde68a;--wait-bg:#3a3212;--bad:#fca5a5;--bad-bg:#3f1717}}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);"
	"font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
	"main{max-width:32rem;margin:0 auto;padding:1.25rem;background:var(--card);"
	"border:1px solid var(--line);border-radius:12px}\n"
	"h1{margin:.25rem 0;font-size:2rem;line-height:1.2}\n"
	"h2{margin:0 0 .75rem;font-size:1.15rem}\n"
	"header{margin-bottom:1rem}\n"
	"p{margin:.5rem 0}\n"
	".merchant{margin:0;font-weight:600;font-size:1.1rem;overflow-wrap:anywhere}\n"
	".muted{color:var(--muted)}\n"
	".description{white-space:pre-line;overflow-wrap:anywhere}\n"
	".status{display:inline-block;margin:.5rem 0 0;padding:.2rem .6rem;border-radius:999px;"
	"background:var(--wait-bg);color:var(--wait)}\n"
	".status-CONFIRMED,.status-OVERPAID{background:var(--ok-bg);color:var(--ok)}\n"
	".status-EXPIRED,.status-CANCELED,.status-UNDERPAID{background:var(--bad-bg);color:var(--bad)}\n"
	".error{padding:.75rem;border-radius:8px;background:var(--bad-bg);color:var(--bad);"
	"font-weight:600}\n"
	".sandbox-banner{max-width:32rem;margin:0 auto .75rem;padding:.6rem .9rem;border-radius:8px;"
	"background:#facc15;color:#1b1f24;text-align:center}\n"
	"section{margin:1rem 0;padding-top:1rem;border-top:1px solid var(--line)}\n"
	".field{margin:.75rem 0}\n"
	".field-label{display:block;font-size:.875rem;color:var(--muted)}\n"
	"code{font:1rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
	".copy{display:block;padding:.5rem .6rem;border:1px solid var(--line);border-radius:8px;"
	"background:var(--bg);overflow-wrap:anywhere;user-select:all}\n"
	".copy-button{margin-top:.35rem;min-height:2.25rem;padding:.25rem .9rem;font-size:.9rem}\n"
	".qr{width:100%;max-width:16rem;margin:1rem auto}\n"
	".qr svg{display:block;width:100%;height:auto;border-radius:6px}\n"
	".wallet{text-align:center}\n"
	"fieldset{margin:0 0 1rem;padding:0;border:0}\n"
	"legend{margin-bottom:.5rem;font-weight:600}\n"
	".choice{display:flex;gap:.6rem;align-items:center;margin:.4rem 0;padding:.7rem .8rem;"
	"border:1px solid var(--line);border-radius:8px;cursor:pointer}\n"
	".choice:has(input:checked){border-color:var(--accent);outline:1px solid var(--accent)}\n"
	".choice input{width:1.15rem;height:1.15rem;margin:0}\n"
	"button,.button{display:inline-block;min-height:2.75rem;padding:.6rem 1.2rem;border:1px solid "
	"var(--accent);border-radius:8px;background:var(--accent);color:var(--accent-fg);"
	"font:inherit;font-weight:600;text-decoration:none;cursor:pointer}\n"
	"button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}\n"
	"a{color:var(--accent)}\n"
	"a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible"
	"{outline:3px solid var(--accent);outline-offset:2px}\n"
	"details{margin:1rem 0}\n"
	"summary{cursor:pointer;color:var(--accent)}\n"
	"details form{margin-top:.75rem}\n"
	"label{display:block;margin:.5rem 0 .25rem}\n"
	"input[type=number],input[inputmode]{width:100%;max-width:12rem;padding:.5rem;"
	"border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg);"
	"font:inherit}\n"
	".sandbox{margin-top:1.5rem;padding:1rem;border:2px dashed #ca8a04;border-radius:10px}\n"
	".sandbox form{margin:.75rem 0}\n"
	".sandbox button{margin-top:.5rem}\n"
	".cancel{margin-top:1rem}\n"
	"@media (max-width:400px){body{padding:.5rem}main{padding:1rem}h1{font-size:1.7rem}}\n";

/*
 * Progressive additions: a copy button after every [data-copy] element, a
 * countdown in [data-remaining-ms], and a poll of GET /order/{token} every
 * 5 s for a [data-order-token] element that reloads the page when the
 * status code differs from its data-status. Without the script the page
 * shows the same facts, only without the button, with the time at page
 * load and with a manual reload.
 */
static const char page_script[] =
	"\"use strict\";\n"
	"(function () {\n"
	"  var POLL_MS = 5000;\n"
	"  function duration(ms) {\n"
	"    var s = Math.max(0, Math.floor(ms / 1000));\n"
	"    function two(n) { return (n < 10 ? \"0\" : \"\") + n; }\n"
	"    if (s >= 3600)\n"
	"      return Math.floor(s / 3600) + \" h \" + two(Math.floor(s % 3600 / 60)) + \" min\";\n"
	"    return Math.floor(s / 60) + \" min \" + two(s % 60) + \" s\";\n"
	"  }\n"
	"  function addCopyButton(el) {\n"
	"    var button = document.createElement(\"button\");\n"
	"    button.type = \"button\";\n"
	"    button.className = \"copy-button secondary\";\n"
	"    button.textContent = \"Copy\";\n"
	"    button.addEventListener(\"click\", function () {\n"
	"      navigator.clipboard.writeText(el.textContent).then(function () {\n"
	"        button.textContent = \"Copied\";\n"
	"      }, function () {\n"
	"        button.textContent = \"Copy failed\";\n"
	"      });\n"
	"    });\n"
	"    el.insertAdjacentElement(\"afterend\", button);\n"
	"  }\n"
	"  function startCountdown(el) {\n"
	"    var deadline = Date.now() + Number(el.getAttribute(\"data-remaining-ms\"));\n"
	"    var timer = setInterval(function () {\n"
	"      var left = deadline - Date.now();\n"
	"      el.textContent = duration(left);\n"
	"      if (left <= 0) {\n"
	"        clearInterval(timer);\n"
	"        el.textContent = \"none. Reload the page.\";\n"
	"      }\n"
	"    }, 1000);\n"
	"  }\n"
	"  function watchStatus(el) {\n"
	"    var url = \"/order/\" + encodeURIComponent(el.getAttribute(\"data-order-token\"));\n"
	"    var shown = el.getAttribute(\"data-status\");\n"
	"    var busy = false;\n"
	"    setInterval(function () {\n"
	"      if (busy)\n"
	"        return;\n"
	"      busy = true;\n"
	"      fetch(url, { credentials: \"same-origin\", cache: \"no-store\" }).then(function (r) {\n"
	"        return r.ok ? r.json() : null;\n"
	"      }).then(function (body) {\n"
	"        var code = body && body.data && body.data.status && body.data.status.code;\n"
	"        if (code && code !== shown)\n"
	"          window.location.reload();\n"
	"      }).catch(function () {\n"
	"      }).then(function () {\n"
	"        busy = false;\n"
	"      });\n"
	"    }, POLL_MS);\n"
	"  }\n"
	"  document.addEventListener(\"DOMContentLoaded\", function () {\n"
	"    if (navigator.clipboard && window.isSecureContext)\n"
	"      document.querySelectorAll(\"[data-copy]\").forEach(addCopyButton);\n"
	"    document.querySelectorAll(\"[data-remaining-ms]\").forEach(startCountdown);\n"
	"    document.querySelectorAll(\"[data-order-token]\").forEach(watchStatus);\n"
	"  });\n"
	"})();\n";

const char *page_css(size_t *len)
{
	if (len != NULL)
		*len = sizeof(page_stylesheet) - 1;
	return page_stylesheet;
}

const char *page_js(size_t *len)
{
	if (len != NULL)
		*len = sizeof(page_script) - 1;
	return page_script;
}
