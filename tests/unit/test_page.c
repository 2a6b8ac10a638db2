/* Unit tests of page.c and qr.c: escaping, links, forms and QR codes of the hosted pages. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limits.h"
#include "page.h"
#include "qr.h"
#include "views.h"

#define NOW_MS 1714564800000LL /* 2024-05-01 12:00 UTC */
#define HOSTILE "<script>alert(1)</script>"
#define HOSTILE_ESCAPED "&lt;script&gt;alert(1)&lt;/script&gt;"

static const char *const all_coins[] = { "BTC", "ETH", "USDT-ERC20" };

struct fixture {
	struct order order;
	struct page_order_view view;
	char uri[512];
	char *html;
};

static void assert_has(const char *page, const char *needle)
{
	if (strstr(page, needle) == NULL)
		fail_msg("page lacks \"%s\"", needle);
}

static void assert_lacks(const char *page, const char *needle)
{
	if (strstr(page, needle) != NULL)
		fail_msg("page contains \"%s\"", needle);
}

/* True when markup has an event handler attribute such as onclick=. */
static bool has_event_attribute(const char *markup)
{
	for (const char *p = strstr(markup, " on"); p != NULL; p = strstr(p + 1, " on")) {
		const char *q = p + 3;

		while (*q >= 'a' && *q <= 'z')
			q++;
		if (q > p + 3 && *q == '=')
			return true;
	}
	return false;
}

/* An unpaid live order of 25.50 USD, created now, without a coin. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->order.id = 441;
	snprintf(f->order.token, sizeof(f->order.token), "A1-b2");
	snprintf(f->order.client_order_id, sizeof(f->order.client_order_id), "1001");
	f->order.amount_fiat = 2550;
	snprintf(f->order.currency, sizeof(f->order.currency), "USD");
	snprintf(f->order.description, sizeof(f->order.description), "Two mugs");
	f->order.status = ORDER_IN_PROGRESS;
	f->order.created_at_ms = NOW_MS;
	f->order.expires_at_ms = NOW_MS + 60 * 60 * 1000;

	f->view.company = "Mug Shop";
	f->view.order = &f->order;
	f->view.coins = all_coins;
	f->view.coin_count = sizeof(all_coins) / sizeof(all_coins[0]);
	f->view.payment_uri = "";
	f->view.status = ORDER_IN_PROGRESS;
	f->view.now_ms = NOW_MS;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->html);
	free(f);
	return 0;
}

/* Choose BTC for 0.00041 BTC at a fixed address and set the payment URI. */
static void choose_btc(struct fixture *f)
{
	snprintf(f->order.coin, sizeof(f->order.coin), "BTC");
	snprintf(f->order.address, sizeof(f->order.address), "bc1qexampleaddress0000000000000000000000");
	f->order.amount_crypto = 41000;
	snprintf(f->order.exchange_rate, sizeof(f->order.exchange_rate), "62195.12");
	views_payment_uri(&f->order, f->uri, sizeof(f->uri));
	f->view.payment_uri = f->uri;
}

static const char *render(struct fixture *f)
{
	size_t len = 0;

	free(f->html);
	f->html = page_invoice(&f->view, &len);
	assert_non_null(f->html);
	assert_int_equal(len, strlen(f->html));
	return f->html;
}

static void invoice_escapes_company(void **state)
{
	struct fixture *f = *state;

	f->view.company = HOSTILE;
	render(f);
	assert_lacks(f->html, HOSTILE);
	assert_has(f->html, "<p class=\"merchant\">" HOSTILE_ESCAPED "</p>");
	assert_has(f->html, "<title>Payment to " HOSTILE_ESCAPED "</title>");
}

static void invoice_escapes_quotes(void **state)
{
	struct fixture *f = *state;

	f->view.company = "Bob's \"Mugs\" & Co";
	render(f);
	assert_has(f->html, "Bob&#39;s &quot;Mugs&quot; &amp; Co");
	assert_lacks(f->html, "Bob's");
}

static void invoice_escapes_description(void **state)
{
	struct fixture *f = *state;

	snprintf(f->order.description, sizeof(f->order.description), "%s\"'", HOSTILE);
	render(f);
	assert_lacks(f->html, HOSTILE);
	assert_has(f->html, HOSTILE_ESCAPED "&quot;&#39;");
}

static void invoice_escapes_order_id(void **state)
{
	struct fixture *f = *state;

	snprintf(f->order.client_order_id, sizeof(f->order.client_order_id), "%s", HOSTILE);
	render(f);
	assert_lacks(f->html, HOSTILE);
	assert_has(f->html, "Order " HOSTILE_ESCAPED);
}

static void invoice_escapes_error(void **state)
{
	struct fixture *f = *state;

	f->view.error = "coin must be one of BTC, ETH <b>";
	render(f);
	assert_has(f->html, "role=\"alert\">coin must be one of BTC, ETH &lt;b&gt;</p>");
}

static void invoice_escapes_token(void **state)
{
	struct fixture *f = *state;

	snprintf(f->order.token, sizeof(f->order.token), "x\"><img src=y>");
	render(f);
	assert_lacks(f->html, "<img");
	assert_has(f->html, "name=\"token\" value=\"x&quot;&gt;&lt;img src=y&gt;\"");
}

static void invoice_javascript_url_not_linked(void **state)
{
	struct fixture *f = *state;

	f->view.status = ORDER_CONFIRMED;
	f->view.success_url = "javascript:alert(1)";
	render(f);
	assert_lacks(f->html, "javascript:");
	assert_lacks(f->html, "Return to the shop");
}

static void invoice_success_url_linked(void **state)
{
	struct fixture *f = *state;

	f->view.status = ORDER_CONFIRMED;
	f->view.success_url = "https://shop.example/thanks?a=1&b=\"2\"";
	render(f);
	assert_has(f->html, "href=\"https://shop.example/thanks?a=1&amp;b=&quot;2&quot;\"");
	assert_has(f->html, "Return to the shop");
}

static void invoice_cancel_url_when_canceled(void **state)
{
	struct fixture *f = *state;

	f->view.status = ORDER_CANCELED;
	f->view.success_url = "https://shop.example/thanks";
	f->view.cancel_url = "http://shop.example/cart";
	render(f);
	assert_has(f->html, "href=\"http://shop.example/cart\"");
	assert_lacks(f->html, "https://shop.example/thanks");
}

static void invoice_coin_form_lists_coins(void **state)
{
	struct fixture *f = *state;
	static const char *const two_coins[] = { "BTC", "LTC" };

	f->view.coins = two_coins;
	f->view.coin_count = 2;
	render(f);
	assert_has(f->html, "<form method=\"post\" action=\"/invoice/coin\"");
	assert_has(f->html, "name=\"token\" value=\"A1-b2\"");
	assert_has(f->html, "name=\"coin\" value=\"BTC\"");
	assert_has(f->html, "name=\"coin\" value=\"LTC\"");
	assert_lacks(f->html, "value=\"ETH\"");
	assert_has(f->html, "action=\"/invoice/cancel\"");
}

static void invoice_chosen_coin_shows_payment(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	render(f);
	assert_has(f->html, "bc1qexampleaddress0000000000000000000000");
	assert_has(f->html, "Send exactly 0.00041 BTC");
	assert_has(f->html, "<svg");
	assert_has(f->html, "href=\"bitcoin:bc1qexampleaddress0000000000000000000000?amount=0.00041\"");
	assert_has(f->html, "data-remaining-ms=\"3600000\">1 h 00 min<");
	assert_has(f->html, "action=\"/invoice/cancel\"");
	assert_has(f->html, "Pay with another coin");
}

static void invoice_partial_payment_asks_rest(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->view.received = 21000;
	render(f);
	assert_has(f->html, "Send the rest: 0.0002 BTC");
	assert_has(f->html, "?amount=0.0002\"");
	assert_lacks(f->html, "action=\"/invoice/cancel\"");
	assert_lacks(f->html, "Pay with another coin");
}

static void invoice_expired_hides_address(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->view.status = ORDER_EXPIRED;
	render(f);
	assert_lacks(f->html, "bc1qexampleaddress");
	assert_lacks(f->html, "<svg");
	assert_lacks(f->html, "<form");
}

static void invoice_past_expiry_hides_forms(void **state)
{
	struct fixture *f = *state;

	f->view.now_ms = f->order.expires_at_ms;
	render(f);
	assert_lacks(f->html, "action=\"/invoice/coin\"");
	assert_lacks(f->html, "action=\"/invoice/cancel\"");
}

static void invoice_sandbox_has_forms(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->view.sandbox = true;
	render(f);
	assert_has(f->html, "Sandbox: no real money");
	assert_has(f->html, "action=\"/sandbox/pay\"");
	assert_has(f->html, "action=\"/sandbox/mine\"");
	assert_has(f->html, "name=\"return\" value=\"invoice\"");
	assert_has(f->html, "name=\"blocks\"");
}

static void invoice_live_lacks_sandbox(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	render(f);
	assert_lacks(f->html, "/sandbox/");
	assert_lacks(f->html, "Sandbox");
}

static void invoice_open_order_polls_status(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	render(f);
	assert_has(f->html, "data-status=\"IN_PROGRESS\"");
	assert_has(f->html, "data-order-token=\"A1-b2\"");
}

static void invoice_expired_polls_in_window(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->order.status = ORDER_EXPIRED;
	f->view.status = ORDER_EXPIRED;
	f->view.now_ms = f->order.expires_at_ms + 60 * 1000;
	render(f);
	assert_has(f->html, "data-status=\"EXPIRED\"");
}

static void invoice_expired_stops_polling(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->order.status = ORDER_EXPIRED;
	f->view.status = ORDER_EXPIRED;
	f->view.now_ms = f->order.expires_at_ms + CP_ORDER_LATE_WINDOW_MS;
	render(f);
	assert_lacks(f->html, "data-order-token=");
}

static void invoice_confirmed_stops_polling(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->order.status = ORDER_CONFIRMED;
	f->view.status = ORDER_CONFIRMED;
	render(f);
	assert_lacks(f->html, "data-order-token=");
}

static void script_polls_order_status(void **state)
{
	const char *js = page_js(NULL);

	assert_has(js, "\"/order/\" + encodeURIComponent(");
	assert_has(js, "window.location.reload()");
	assert_has(js, "POLL_MS = 5000");
}

static void invoice_has_no_inline_code(void **state)
{
	struct fixture *f = *state;

	choose_btc(f);
	f->view.sandbox = true;
	render(f);
	assert_lacks(f->html, "style=");
	assert_lacks(f->html, "<style");
	assert_lacks(f->html, "<script>");
	assert_false(has_event_attribute(f->html));
}

static void invoice_over_size_cap_fails(void **state)
{
	struct fixture *f = *state;
	size_t count = PAGE_SIZE_MAX / 32;
	const char **many = calloc(count, sizeof(*many));

	assert_non_null(many);
	for (size_t i = 0; i < count; i++)
		many[i] = "BTC";
	f->view.coins = many;
	f->view.coin_count = count;
	assert_null(page_invoice(&f->view, NULL));
	free(many);
}

static void deposit_lists_addresses(void **state)
{
	static const struct page_deposit_address addresses[] = {
		{ "BTC", "bc1qdeposit" },
		{ "ETH", "0x00000000000000000000000000000000000000aa" },
		{ "XYZ", "unknown-coin-address" },
	};
	struct deposit d = { .id = 7 };
	struct page_deposit_view v = {
		.company = HOSTILE, .deposit = &d, .addresses = addresses,
		.address_count = 3, .sandbox = true,
	};
	char *html;

	(void)state;
	snprintf(d.client_deposit_id, sizeof(d.client_deposit_id), "user-'9'");
	html = page_deposit(&v, NULL);
	assert_non_null(html);
	assert_lacks(html, HOSTILE);
	assert_has(html, "bc1qdeposit");
	assert_has(html, "0x00000000000000000000000000000000000000aa");
	assert_lacks(html, "unknown-coin-address");
	assert_has(html, "Deposit user-&#39;9&#39;");
	assert_has(html, "<svg");
	assert_has(html, "Sandbox: no real money");
	free(html);
}

static void message_escapes_text(void **state)
{
	size_t len = 0;
	char *html = page_message(404, "Order not found", "No order has token " HOSTILE, &len);

	(void)state;
	assert_non_null(html);
	assert_int_equal(len, strlen(html));
	assert_has(html, "<h1>Order not found</h1>");
	assert_has(html, HOSTILE_ESCAPED);
	assert_lacks(html, HOSTILE);
	assert_has(html, "Error 404");
	assert_has(html, "<html lang=\"en\">");
	free(html);
}

static void static_files_have_lengths(void **state)
{
	size_t len = 0;
	const char *css = page_css(&len);

	(void)state;
	assert_int_equal(len, strlen(css));
	assert_true(len > 0);
	assert_non_null(strstr(page_js(&len), "data-remaining-ms"));
}

static void qr_svg_encodes_bip21(void **state)
{
	size_t len = 0;
	char *svg = qr_svg("bitcoin:bc1qexampleaddress0000000000000000000000?amount=0.00041", &len);

	(void)state;
	assert_non_null(svg);
	assert_int_equal(strncmp(svg, "<svg", 4), 0);
	assert_int_equal(len, strlen(svg));
	assert_non_null(strstr(svg, "<path"));
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);
}

static void qr_svg_rejects_bad_text(void **state)
{
	char *long_text = malloc(QR_TEXT_MAX + 2);

	(void)state;
	assert_non_null(long_text);
	memset(long_text, 'a', QR_TEXT_MAX + 1);
	long_text[QR_TEXT_MAX + 1] = '\0';
	assert_null(qr_svg("", NULL));
	assert_null(qr_svg(NULL, NULL));
	assert_null(qr_svg(long_text, NULL));
	free(long_text);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(invoice_escapes_company),
		FIXTURE_TEST(invoice_escapes_quotes),
		FIXTURE_TEST(invoice_escapes_description),
		FIXTURE_TEST(invoice_escapes_order_id),
		FIXTURE_TEST(invoice_escapes_error),
		FIXTURE_TEST(invoice_escapes_token),
		FIXTURE_TEST(invoice_javascript_url_not_linked),
		FIXTURE_TEST(invoice_success_url_linked),
		FIXTURE_TEST(invoice_cancel_url_when_canceled),
		FIXTURE_TEST(invoice_coin_form_lists_coins),
		FIXTURE_TEST(invoice_chosen_coin_shows_payment),
		FIXTURE_TEST(invoice_partial_payment_asks_rest),
		FIXTURE_TEST(invoice_expired_hides_address),
		FIXTURE_TEST(invoice_past_expiry_hides_forms),
		FIXTURE_TEST(invoice_sandbox_has_forms),
		FIXTURE_TEST(invoice_live_lacks_sandbox),
		FIXTURE_TEST(invoice_has_no_inline_code),
		FIXTURE_TEST(invoice_over_size_cap_fails),
		cmocka_unit_test(deposit_lists_addresses),
		cmocka_unit_test(message_escapes_text),
		cmocka_unit_test(static_files_have_lengths),
		cmocka_unit_test(script_polls_order_status),
		FIXTURE_TEST(invoice_open_order_polls_status),
		FIXTURE_TEST(invoice_expired_polls_in_window),
		FIXTURE_TEST(invoice_expired_stops_polling),
		FIXTURE_TEST(invoice_confirmed_stops_polling),
		cmocka_unit_test(qr_svg_encodes_bip21),
		cmocka_unit_test(qr_svg_rejects_bad_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
