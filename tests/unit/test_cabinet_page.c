/* Unit tests of cabinet_page.c: escaping, CSRF fields, errors, links and the one-time reveal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cabinet_page.h"

#define CSRF "csrf-7f3a9c"
#define CSRF_FIELD "<input type=\"hidden\" name=\"csrf_token\" value=\"" CSRF "\">"
#define HOSTILE "<script>alert('x')</script>\""
/* HOSTILE written inside a JSON string */
#define HOSTILE_JSON "<script>alert('x')</script>\\\""
#define HOSTILE_ESCAPED "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;"

/* 2024-05-01 12:00 UTC */
#define NOON 1714564800

static const char tokens_json[] =
	"{\"tokens\":[{\"id\":7,\"name\":\"Main " HOSTILE_JSON "\",\"type\":\"crypto\",\"currency\":\"USD\","
	"\"ip_whitelist\":[\"203.0.113.7\",\"2001:db8::/48\"],"
	"\"callback_urls\":[\"https://shop.example/callback\"],"
	"\"success_url\":\"javascript:alert(1)\",\"cancel_url\":\"https://shop.example/cancel\","
	"\"expires_at\":1798761600,\"mode\":\"live\",\"created_at\":1714564800,"
	"\"last_used_at\":1714651200,\"last_used_ip\":\"198.51.100.23\",\"last_chars\":\"x9Qa\","
	"\"status\":\"active\"},"
	"{\"id\":8,\"name\":\"Old\",\"type\":\"BTC\",\"currency\":\"EUR\",\"ip_whitelist\":[\"0.0.0.0/0\"],"
	"\"callback_urls\":[\"https://shop.example/cb\"],\"success_url\":null,\"cancel_url\":null,"
	"\"expires_at\":1798761600,\"mode\":\"sandbox\",\"created_at\":1714564800,"
	"\"last_used_at\":null,\"last_used_ip\":null,\"last_chars\":\"b7Kd\",\"status\":\"revoked\"}],"
	"\"choices\":{\"types\":[\"crypto\",\"BTC\",\"binance_pay\"],\"currencies\":[\"USD\",\"EUR\"],"
	"\"modes\":[\"live\",\"sandbox\"]},\"totp_required\":false}";

static const char settings_json[] =
	"{\"settings\":{\"enabled_coins\":[\"BTC\"],\"default_currency\":\"EUR\",\"tolerance_under_pct\":1,"
	"\"tolerance_over_pct\":2,\"order_expiry_minutes\":60,\"auto_exchange\":true},"
	"\"choices\":{\"coins\":[\"BTC\",\"ETH\"],\"currencies\":[\"USD\",\"EUR\"]}}";

static const char orders_json[] =
	"{\"orders\":[{\"id\":1,\"token\":\"A1/b 2\",\"client_order_id\":\"1001<i>\",\"status\":\"CONFIRMED\","
	"\"amount\":\"25.50\",\"currency\":\"USD\",\"coin\":\"BTC\",\"created_at\":1714564800,"
	"\"token_name\":\"Main\"}],"
	"\"meta\":{\"totalCount\":45,\"pagesCount\":3,\"currentPage\":2,\"nextPage\":3},"
	"\"filters\":{\"status\":\"CONFIRMED\",\"from\":\"2024-05-01\",\"to\":\"\",\"token\":\"Main & co\"}}";

static const char order_json[] =
	"{\"order\":{\"token\":\"A1/b 2\",\"orderId\":\"1001\",\"amountFiat\":\"25.50\",\"coin\":\"BTC\","
	"\"amount\":\"0.00041129\",\"currency\":{\"abbreviation\":\"USD\"},\"createdAt\":\"2024-05-01 12:00\","
	"\"createdAtMiliseconds\":1714564800000,\"expiresAt\":1714568400000,\"address\":\"bc1qexample\","
	"\"status\":{\"code\":\"CONFIRMED\",\"label\":\"Confirmed\"},\"transactions\":[{\"hash\":\"9f2c4a\","
	"\"amount\":\"0.00041129\",\"confirmations\":3,\"createdAt\":\"2024-05-01 12:10\"}]},"
	"\"deliveries\":[{\"id\":11,\"event_id\":\"evt_1\",\"action\":\"order.paid\",\"sequence\":1,"
	"\"url\":\"https://shop.example/callback\",\"state\":\"retrying\",\"attempts\":4,"
	"\"last_http_status\":null,\"last_error\":\"connect timed out\",\"last_attempt_at\":1714569000,"
	"\"delivered_at\":null},{\"id\":12,\"event_id\":\"evt_2\",\"action\":\"order.confirmed\","
	"\"sequence\":2,\"url\":\"https://shop.example/callback\",\"state\":\"delivered\",\"attempts\":1,"
	"\"last_http_status\":200,\"last_error\":null,\"last_attempt_at\":1714569000,"
	"\"delivered_at\":1714569000}]}";

static const char deposits_json[] =
	"{\"deposits\":[{\"id\":1,\"token\":\"Main\",\"deposit_token\":\"user-1\",\"deposit_id\":\"acct<1>\","
	"\"currency\":\"USD\",\"created_at\":1714564800}],"
	"\"meta\":{\"totalCount\":1,\"pagesCount\":1,\"currentPage\":1,\"nextPage\":null}}";

static const char audit_json[] =
	"{\"entries\":[{\"at\":1714564800,\"ip\":\"198.51.100.23\",\"action\":\"sign_in_failed\","
	"\"detail\":\"<b>x</b>\"}],\"meta\":{\"totalCount\":1,\"pagesCount\":1,\"currentPage\":1,"
	"\"nextPage\":null}}";

static const char enrolment_json[] =
	"{\"totp_enabled\":false,\"enrolment\":{\"secret\":\"JBSWY3DPEHPK3PXP\",\"uri\":\"otpauth://x\","
	"\"qr_svg\":\"<svg xmlns=\\\"http://www.w3.org/2000/svg\\\" id=\\\"test-qr\\\"></svg>\"}}";

static struct cabinet_frame frame(const char *active)
{
	struct cabinet_frame f = { "Mug Shop", 42, CSRF, active, NULL, NULL, NULL };

	return f;
}

static json_object *parse(const char *text)
{
	json_object *obj = json_tokener_parse(text);

	assert_non_null(obj);
	return obj;
}

static json_object *member(json_object *obj, const char *key)
{
	json_object *value = NULL;

	assert_true(json_object_object_get_ex(obj, key, &value));
	return value;
}

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

static size_t count(const char *page, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(page, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
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

/* Every page of the cabinet rendered from the sample responses, freed by teardown. */
struct pages {
	char *html[16];
	const char *name[16];
	size_t count;
};

static void add_page(struct pages *p, const char *name, char *html)
{
	if (html == NULL)
		fail_msg("page %s was not rendered", name);
	p->name[p->count] = name;
	p->html[p->count++] = html;
}

static int setup_pages(void **state)
{
	struct pages *p = calloc(1, sizeof(*p));
	struct cabinet_frame f = frame("tokens");
	json_object *tokens = parse(tokens_json);
	json_object *token = json_object_array_get_idx(member(tokens, "tokens"), 0);
	json_object *reveal = parse("{\"access_token\":\"cp_live_SECRET1\",\"signing_secret\":\"whsec_SECRET2\"}");
	json_object *data;
	size_t len;

	assert_non_null(p);
	json_object_object_add(reveal, "token", json_object_get(token));
	add_page(p, "login", cabinet_page_login(CSRF, NULL, false, &len));
	add_page(p, "login totp", cabinet_page_login(CSRF, "Wrong code", true, &len));
	add_page(p, "tokens", cabinet_page_tokens(&f, tokens, &len));
	add_page(p, "token add", cabinet_page_token_form(&f, NULL, member(tokens, "choices"), true, &len));
	add_page(p, "token edit", cabinet_page_token_form(&f, token, member(tokens, "choices"), false, &len));
	add_page(p, "token reveal", cabinet_page_token_reveal(&f, reveal, &len));
	add_page(p, "token revoke", cabinet_page_token_revoke(&f, token, &len));

	f.active = "settings";
	data = parse(settings_json);
	add_page(p, "settings", cabinet_page_settings(&f, data, &len));
	json_object_put(data);
	f.active = "orders";
	data = parse(orders_json);
	add_page(p, "orders", cabinet_page_orders(&f, data, &len));
	json_object_put(data);
	data = parse(order_json);
	add_page(p, "order", cabinet_page_order(&f, data, &len));
	json_object_put(data);
	f.active = "deposits";
	data = parse(deposits_json);
	add_page(p, "deposits", cabinet_page_deposits(&f, data, &len));
	json_object_put(data);
	f.active = "audit";
	data = parse(audit_json);
	add_page(p, "audit", cabinet_page_audit(&f, data, &len));
	json_object_put(data);
	f.active = "security";
	data = parse(enrolment_json);
	add_page(p, "security enrolment", cabinet_page_security(&f, data, &len));
	json_object_put(data);
	data = parse("{\"totp_enabled\":false,\"enrolment\":null}");
	add_page(p, "security", cabinet_page_security(&f, data, &len));
	json_object_put(data);

	json_object_put(reveal);
	json_object_put(tokens);
	*state = p;
	return 0;
}

static int teardown_pages(void **state)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++)
		free(p->html[i]);
	free(p);
	return 0;
}

static const char *page_named(void **state, const char *name)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->name[i], name) == 0)
			return p->html[i];
	}
	fail_msg("no page %s", name);
	return NULL;
}

static void test_tokens_escape_company_and_name(void **state)
{
	struct cabinet_frame f = frame("tokens");
	json_object *tokens = parse(tokens_json);
	size_t len = 0;
	char *html;

	f.company = "Shop " HOSTILE;
	html = cabinet_page_tokens(&f, tokens, &len);
	assert_non_null(html);
	assert_int_equal(len, strlen(html));
	assert_has(html, "Shop " HOSTILE_ESCAPED);
	assert_has(html, "Main " HOSTILE_ESCAPED);
	assert_lacks(html, "<script>alert");
	assert_lacks(html, "'x'");
	free(html);
	json_object_put(tokens);
}

static void test_every_post_form_has_csrf(void **state)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++) {
		const char *html = p->html[i];
		size_t forms = count(html, "<form method=\"post\"");

		for (const char *form = strstr(html, "<form method=\"post\""); form != NULL;
		     form = strstr(form + 1, "<form method=\"post\"")) {
			const char *end = strstr(form, "</form>");
			const char *field = strstr(form, CSRF_FIELD);

			if (end == NULL || field == NULL || field > end)
				fail_msg("a POST form of page %s lacks the CSRF field", p->name[i]);
		}
		if (count(html, "<form") != forms + count(html, "<form method=\"get\""))
			fail_msg("page %s has a form without method", p->name[i]);
		if (count(html, CSRF_FIELD) != forms)
			fail_msg("page %s: %zu POST forms, %zu CSRF fields", p->name[i], forms,
			         count(html, CSRF_FIELD));
	}
}

static void test_signed_in_pages_have_logout_and_nav(void **state)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++) {
		if (strncmp(p->name[i], "login", 5) == 0)
			continue;
		if (strstr(p->html[i], "action=\"/cabinet/logout\"") == NULL)
			fail_msg("page %s lacks the sign-out form", p->name[i]);
		if (count(p->html[i], "aria-current=\"page\"") != 1)
			fail_msg("page %s does not mark one navigation item", p->name[i]);
		if (strstr(p->html[i], "Customer ID 42") == NULL)
			fail_msg("page %s lacks the customer ID", p->name[i]);
	}
	assert_has(page_named(state, "orders"), "<a href=\"/cabinet/orders\" aria-current=\"page\">");
	assert_lacks(page_named(state, "login"), "<nav");
}

static void test_no_inline_script_or_style(void **state)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++) {
		const char *html = p->html[i];

		if (strncmp(html, "<!doctype html>", 15) != 0)
			fail_msg("page %s lacks the doctype", p->name[i]);
		if (strstr(html, "style=") != NULL)
			fail_msg("page %s has a style attribute", p->name[i]);
		if (strstr(html, "<style") != NULL)
			fail_msg("page %s has a style element", p->name[i]);
		if (count(html, "<script") != count(html, "<script src=\"/static/cabinet.js\" defer></script>"))
			fail_msg("page %s has an inline script", p->name[i]);
		if (has_event_attribute(html))
			fail_msg("page %s has an event handler attribute", p->name[i]);
		if (strstr(html, "href=\"javascript:") != NULL || strstr(html, "src=\"javascript:") != NULL)
			fail_msg("page %s links a javascript: URL", p->name[i]);
	}
}

static void test_reveal_shows_secrets_once_warning(void **state)
{
	const char *html = page_named(state, "token reveal");

	assert_has(html, "cp_live_SECRET1</textarea>");
	assert_has(html, "whsec_SECRET2</textarea>");
	assert_has(html, "id=\"access-token\"");
	assert_has(html, "id=\"signing-secret\"");
	assert_has(html, "shown only once");
	assert_has(html, "cannot be shown again");
	assert_has(html, "data-copy-target=\"access-token\"");
	assert_has(html, "data-copy-target=\"signing-secret\"");
	assert_has(html, "href=\"/cabinet/tokens\"");
}

static void test_tokens_table_columns(void **state)
{
	const char *html = page_named(state, "tokens");

	assert_has(html, "from 198.51.100.23");
	assert_has(html, "2024-05-02 12:00 UTC");
	assert_has(html, "2001:db8::/48");
	assert_has(html, "<a class=\"url\" rel=\"noreferrer\" href=\"https://shop.example/callback\">");
	assert_has(html, "href=\"/cabinet/tokens/new\"");
	assert_has(html, "href=\"/cabinet/tokens/7/edit\"");
	assert_has(html, "href=\"/cabinet/tokens/7/revoke\"");
	assert_lacks(html, "href=\"/cabinet/tokens/8/revoke\"");
	assert_has(html, "never");
}

static void test_tokens_empty_state(void **state)
{
	struct cabinet_frame f = frame("tokens");
	json_object *data = parse("{\"tokens\":[]}");
	char *html = cabinet_page_tokens(&f, data, NULL);

	assert_non_null(html);
	assert_has(html, "No access tokens yet");
	assert_lacks(html, "<table");
	free(html);
	json_object_put(data);
}

static void test_javascript_url_is_not_a_link(void **state)
{
	const char *html = page_named(state, "tokens");

	assert_has(html, "javascript:alert(1)");
	assert_lacks(html, "href=\"javascript:");
	assert_has(html, "href=\"https://shop.example/cancel\"");
}

static void test_field_error_next_to_field(void **state)
{
	struct cabinet_frame f = frame("tokens");
	struct field_errors errors = { 0 };
	json_object *choices = parse("{\"types\":[\"crypto\"],\"currencies\":[\"USD\"]}");
	char *html;
	const char *label, *message, *control;

	field_errors_add(&errors, "ip_whitelist", "ip_whitelist entry \"%s\" is invalid", "10.0.0.300<");
	f.errors = &errors;
	f.form = parse("{\"name\":\"Shop " HOSTILE_JSON "\",\"ip_whitelist\":\"10.0.0.300<\\n203.0.113.9\","
	               "\"callback_urls\":[\"https://a.example/\",\"https://b.example/\"],"
	               "\"expires_at\":\"2030-01-01T10:00\",\"mode\":\"sandbox\",\"type\":\"crypto\"}");
	html = cabinet_page_token_form(&f, NULL, choices, false, NULL);
	assert_non_null(html);

	label = strstr(html, "<label for=\"f-ip_whitelist\">");
	message = strstr(html, "<p class=\"field-error\" id=\"f-ip_whitelist-error\">");
	control = strstr(html, "<textarea id=\"f-ip_whitelist\" name=\"ip_whitelist\""
	                       " aria-describedby=\"f-ip_whitelist-hint f-ip_whitelist-error\""
	                       " aria-invalid=\"true\"");
	assert_non_null(label);
	assert_non_null(message);
	assert_non_null(control);
	assert_true(label < message);
	assert_true(message < control);
	assert_has(message, "ip_whitelist entry &quot;10.0.0.300&lt;&quot; is invalid");
	assert_has(html, "<div class=\"error-summary\" role=\"alert\"");
	assert_has(html, "<a href=\"#f-ip_whitelist\">");
	assert_int_equal(count(html, "aria-invalid=\"true\""), 1);

	/* The submitted values refill the form, escaped. */
	assert_has(html, "value=\"Shop " HOSTILE_ESCAPED "\"");
	assert_has(html, ">\n10.0.0.300&lt;\n203.0.113.9</textarea>");
	assert_has(html, ">\nhttps://a.example/\nhttps://b.example/</textarea>");
	assert_has(html, "value=\"2030-01-01T10:00\"");
	assert_has(html, "value=\"sandbox\" checked>");
	free(html);
	json_object_put(f.form);
	json_object_put(choices);
}

static void test_token_form_totp_only_when_required(void **state)
{
	assert_has(page_named(state, "token add"), "name=\"totp_code\"");
	assert_has(page_named(state, "token add"), "autocomplete=\"one-time-code\"");
	assert_lacks(page_named(state, "token edit"), "totp_code");
}

static void test_token_form_add_and_edit(void **state)
{
	const char *add = page_named(state, "token add");
	const char *edit = page_named(state, "token edit");

	assert_has(add, "action=\"/cabinet/tokens\"");
	assert_has(add, "name=\"mode\"");
	assert_has(add, "<input type=\"datetime-local\" id=\"f-expires_at\" name=\"expires_at\"");
	assert_has(add, "0.0.0.0/0 allows any");
	assert_has(edit, "action=\"/cabinet/tokens/7\"");
	assert_lacks(edit, "name=\"mode\"");
	/* 1798761600 is 2027-01-01 00:00 UTC. */
	assert_has(edit, "value=\"2027-01-01T00:00\"");
	assert_has(edit, ">\n203.0.113.7\n2001:db8::/48</textarea>");
	assert_has(edit, "<option value=\"USD\" selected>USD</option>");
	assert_has(edit, "value=\"javascript:alert(1)\"");
}

static void test_every_input_has_label(void **state)
{
	struct pages *p = *state;

	for (size_t i = 0; i < p->count; i++) {
		const char *html = p->html[i];

		for (const char *id = strstr(html, " id=\"f-"); id != NULL; id = strstr(id + 1, " id=\"f-")) {
			char label[128];
			const char *end = strchr(id + 5, '"');
			const char *tag_start = id;

			while (tag_start > html && *tag_start != '<')
				tag_start--;
			if (strncmp(tag_start, "<input", 6) != 0 && strncmp(tag_start, "<select", 7) != 0 &&
			    strncmp(tag_start, "<textarea", 9) != 0)
				continue;
			assert_non_null(end);
			snprintf(label, sizeof(label), "<label for=\"%.*s\"", (int)(end - id - 5), id + 5);
			if (strstr(html, label) == NULL)
				fail_msg("page %s lacks %s", p->name[i], label);
		}
	}
}

static void test_revoke_page_posts_with_warning(void **state)
{
	const char *html = page_named(state, "token revoke");

	assert_has(html, "<form method=\"post\" action=\"/cabinet/tokens/7/revoke\" class=\"confirm\"");
	assert_has(html, "rejected immediately");
	assert_has(html, "<a href=\"/cabinet/tokens\">Cancel</a>");
}

static void test_settings_checkboxes_and_limits(void **state)
{
	const char *html = page_named(state, "settings");

	assert_has(html, "name=\"enabled_coins\" aria-describedby=\"f-enabled_coins-hint\" value=\"BTC\" checked>");
	assert_has(html, "name=\"enabled_coins\" aria-describedby=\"f-enabled_coins-hint\" value=\"ETH\">");
	assert_has(html, "<option value=\"EUR\" selected>EUR</option>");
	assert_has(html, "min=\"0\" max=\"99\"");
	assert_has(html, "min=\"1\" max=\"10080\"");
	assert_has(html, "value=\"on\" checked>");
	assert_has(html, "binance_pay");
}

static void test_settings_refill_unchecks_boxes(void **state)
{
	struct cabinet_frame f = frame("settings");
	json_object *data = parse(settings_json);
	char *html;

	f.form = parse("{\"enabled_coins\":\"ETH\",\"default_currency\":\"USD\",\"tolerance_under_pct\":\"150\"}");
	html = cabinet_page_settings(&f, data, NULL);
	assert_non_null(html);
	assert_has(html, "value=\"ETH\" checked>");
	assert_has(html, "value=\"BTC\">");
	assert_has(html, "value=\"on\">");
	assert_has(html, "value=\"150\"");
	free(html);
	json_object_put(f.form);
	json_object_put(data);
}

static void test_orders_filters_links_and_paging(void **state)
{
	const char *html = page_named(state, "orders");

	assert_has(html, "<form method=\"get\" action=\"/cabinet/orders\"");
	assert_has(html, "<option value=\"\">any</option>");
	assert_has(html, "<option value=\"CONFIRMED\" selected>");
	assert_has(html, "<option value=\"CANCELED\">");
	assert_has(html, "<option value=\"PAID_UNCONFIRMED\">");
	assert_has(html, "value=\"Main &amp; co\"");
	assert_has(html, "href=\"/cabinet/orders/A1%2Fb%202\"");
	assert_has(html, "1001&lt;i&gt;");
	assert_has(html, "25.50 USD");
	assert_has(html, "Page 2 of 3");
	assert_has(html, "href=\"/cabinet/orders?status=CONFIRMED&amp;from=2024-05-01&amp;"
	                 "token=Main%20%26%20co&amp;page=1\"");
	assert_has(html, "token=Main%20%26%20co&amp;page=3\"");
}

static void test_order_detail_and_resend(void **state)
{
	const char *html = page_named(state, "order");

	assert_has(html, "bc1qexample");
	assert_has(html, "9f2c4a");
	assert_has(html, "2024-05-01 13:00 UTC");
	assert_has(html, "2024-05-01 12:10 UTC");
	assert_has(html, "connect timed out");
	assert_has(html, "HTTP 200");
	assert_int_equal(count(html, "<form method=\"post\" action=\"/cabinet/orders/A1%2Fb%202/resend\""), 2);
	assert_has(html, "<input type=\"hidden\" name=\"delivery_id\" value=\"11\">");
	assert_has(html, "<input type=\"hidden\" name=\"delivery_id\" value=\"12\">");
}

static void test_deposits_and_audit_escape(void **state)
{
	assert_has(page_named(state, "deposits"), "acct&lt;1&gt;");
	assert_has(page_named(state, "deposits"), "Page 1 of 1");
	assert_has(page_named(state, "audit"), "Sign-in failed");
	assert_has(page_named(state, "audit"), "&lt;b&gt;x&lt;/b&gt;");
	assert_lacks(page_named(state, "audit"), "<b>x</b>");
}

static void test_security_qr_only_with_enrolment(void **state)
{
	const char *enrolling = page_named(state, "security enrolment");
	const char *plain = page_named(state, "security");

	assert_has(enrolling, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"test-qr\"></svg>");
	assert_has(enrolling, "JBSW Y3DP EHPK 3PXP");
	assert_has(enrolling, "action=\"/cabinet/security/totp/confirm\"");
	assert_has(enrolling, "inputmode=\"numeric\" autocomplete=\"one-time-code\"");
	assert_lacks(plain, "<svg");
	assert_has(plain, "action=\"/cabinet/security/totp/start\"");
	assert_has(plain, "autocomplete=\"current-password\"");
	assert_has(plain, "autocomplete=\"new-password\"");
}

static void test_security_when_totp_enabled(void **state)
{
	struct cabinet_frame f = frame("security");
	json_object *data = parse("{\"totp_enabled\":true,\"enrolment\":null}");
	char *html = cabinet_page_security(&f, data, NULL);

	assert_non_null(html);
	assert_has(html, "Signing in and creating tokens ask for a code");
	assert_lacks(html, "totp/start");
	free(html);
	json_object_put(data);
}

static void test_login_pages(void **state)
{
	const char *login = page_named(state, "login");
	const char *code = page_named(state, "login totp");

	assert_has(login, "action=\"/cabinet/login\"");
	assert_has(login, "name=\"email\"");
	assert_has(login, "autocomplete=\"current-password\"");
	assert_lacks(login, "name=\"code\"");
	assert_has(code, "action=\"/cabinet/login/totp\"");
	assert_has(code, "name=\"code\"");
	assert_has(code, "<p class=\"error\" role=\"alert\">Wrong code</p>");
	assert_lacks(code, "name=\"password\"");
}

static void test_missing_values_show_dash(void **state)
{
	struct cabinet_frame f = frame("deposits");
	json_object *data = parse("{\"deposits\":[{\"id\":1,\"token\":null,\"deposit_token\":\"d\","
	                          "\"deposit_id\":null,\"currency\":\"USD\",\"created_at\":null}]}");
	char *html = cabinet_page_deposits(&f, data, NULL);

	assert_non_null(html);
	assert_int_equal(count(html, "<td>\xe2\x80\x94</td>"), 2);
	assert_has(html, "<td class=\"nowrap\">\xe2\x80\x94</td>");
	free(html);
	json_object_put(data);
}

static void test_oversized_page_returns_null(void **state)
{
	struct cabinet_frame f = frame("tokens");
	json_object *data = json_object_new_object();
	json_object *list = json_object_new_array();
	char *name = malloc(4001);
	char *html;

	assert_non_null(name);
	memset(name, '<', 4000);
	name[4000] = '\0';
	/* Each name escapes to 16000 bytes and appears twice, so 40 tokens pass 1 MiB. */
	for (int i = 0; i < 40; i++) {
		json_object *token = json_object_new_object();

		json_object_object_add(token, "id", json_object_new_int(i));
		json_object_object_add(token, "name", json_object_new_string(name));
		json_object_object_add(token, "status", json_object_new_string("active"));
		json_object_array_add(list, token);
	}
	json_object_object_add(data, "tokens", list);
	html = cabinet_page_tokens(&f, data, NULL);
	assert_null(html);
	free(name);
	json_object_put(data);
}

static void test_static_files(void **state)
{
	size_t len = 0;
	const char *css = cabinet_page_css(&len);
	const char *js;

	assert_int_equal(len, strlen(css));
	assert_has(css, ":focus-visible");
	assert_has(css, ".table-wrap{overflow-x:auto");
	js = cabinet_page_js(&len);
	assert_int_equal(len, strlen(js));
	assert_has(js, "form.confirm");
	assert_has(js, "data-copy-target");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_escape_company_and_name),
		cmocka_unit_test_setup_teardown(test_every_post_form_has_csrf, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_signed_in_pages_have_logout_and_nav, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_no_inline_script_or_style, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_reveal_shows_secrets_once_warning, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_tokens_table_columns, setup_pages, teardown_pages),
		cmocka_unit_test(test_tokens_empty_state),
		cmocka_unit_test_setup_teardown(test_javascript_url_is_not_a_link, setup_pages, teardown_pages),
		cmocka_unit_test(test_field_error_next_to_field),
		cmocka_unit_test_setup_teardown(test_token_form_totp_only_when_required, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_token_form_add_and_edit, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_every_input_has_label, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_revoke_page_posts_with_warning, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_settings_checkboxes_and_limits, setup_pages, teardown_pages),
		cmocka_unit_test(test_settings_refill_unchecks_boxes),
		cmocka_unit_test_setup_teardown(test_orders_filters_links_and_paging, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_order_detail_and_resend, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_deposits_and_audit_escape, setup_pages, teardown_pages),
		cmocka_unit_test_setup_teardown(test_security_qr_only_with_enrolment, setup_pages, teardown_pages),
		cmocka_unit_test(test_security_when_totp_enabled),
		cmocka_unit_test_setup_teardown(test_login_pages, setup_pages, teardown_pages),
		cmocka_unit_test(test_missing_values_show_dash),
		cmocka_unit_test(test_oversized_page_returns_null),
		cmocka_unit_test(test_static_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
