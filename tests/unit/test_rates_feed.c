/* Unit tests of rates_feed_parse(): the JSON rates document of the feed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"
#include "rates.h"
#include "rates_feed.h"

#define FETCHED_AT INT64_C(1764892800)

static struct rates_table table;

/* Compares as integer text, because cmocka integer asserts are 64 bits wide. */
static void assert_units_equal(money_t actual, const char *expected)
{
	char text[MONEY_TEXT_MAX];

	assert_true(money_units_format(actual, text, sizeof(text)) > 0);
	assert_string_equal(text, expected);
}

static int parse_text(const char *text, char *err, size_t errlen)
{
	return rates_feed_parse(text, strlen(text), FETCHED_AT, &table, err, errlen);
}

/* The row of coin in fiat in the parsed table; fails the test when absent. */
static const struct rate *row_of(const char *coin, const char *fiat)
{
	for (size_t i = 0; i < table.count; i++) {
		if (strcmp(table.rows[i].coin, coin) == 0 && strcmp(table.rows[i].fiat, fiat) == 0)
			return &table.rows[i];
	}
	fail_msg("no row for %s in %s among %zu rows", coin, fiat, table.count);
	return NULL;
}

/* Asserts that the document is rejected and that err mentions needle. */
static void assert_rejected(const char *text, const char *needle)
{
	char err[256] = "";

	assert_int_equal(parse_text(text, err, sizeof(err)), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\" for document %s", err, needle, text);
}

static void feed_parse_valid_document(void **state)
{
	char err[256] = "";
	const char *doc =
		"{\"updated_at\": 1764892700, \"rates\": {"
		"\"BTC\": {\"USD\": \"43250.12\", \"EUR\": 39800.5},"
		"\"ETH\": {\"USD\": \"2300\", \"GBP\": 1850}}}";

	assert_int_equal(parse_text(doc, err, sizeof(err)), 0);
	assert_int_equal(table.count, 4);
	assert_units_equal(row_of("BTC", "USD")->value, "4325012000000");
	assert_units_equal(row_of("BTC", "EUR")->value, "3980050000000");
	assert_units_equal(row_of("ETH", "USD")->value, "230000000000");
	assert_units_equal(row_of("ETH", "GBP")->value, "185000000000");
	for (size_t i = 0; i < table.count; i++) {
		assert_int_equal(table.rows[i].updated_at, 1764892700);
		assert_string_equal(table.rows[i].source, "feed");
		assert_false(table.rows[i].stale);
	}
}

/* Eight fraction digits survive both as a string and as a JSON number. */
static void feed_parse_exact_eight_decimals(void **state)
{
	char err[256] = "";
	const char *doc =
		"{\"rates\": {\"BTC\": {\"USD\": \"43250.12345678\", \"EUR\": 39800.12345679},"
		"\"LTC\": {\"USD\": 0.00000001, \"EUR\": \"0.1\"}}}";

	assert_int_equal(parse_text(doc, err, sizeof(err)), 0);
	assert_units_equal(row_of("BTC", "USD")->value, "4325012345678");
	assert_units_equal(row_of("BTC", "EUR")->value, "3980012345679");
	assert_units_equal(row_of("LTC", "USD")->value, "1");
	assert_units_equal(row_of("LTC", "EUR")->value, "10000000");
}

static void feed_parse_without_updated_at(void **state)
{
	char err[256] = "";

	assert_int_equal(parse_text("{\"rates\": {\"BTC\": {\"USD\": 1}}}", err, sizeof(err)), 0);
	assert_int_equal(row_of("BTC", "USD")->updated_at, FETCHED_AT);
}

/* Unknown coins and fiat currencies are skipped whatever their values are. */
static void feed_parse_ignores_unknown(void **state)
{
	char err[256] = "";
	const char *doc =
		"{\"rates\": {\"XMR\": {\"USD\": \"-1\"}, \"DOGE\": [1, 2],"
		"\"BTC\": {\"USD\": \"43250\", \"XXX\": \"oops\", \"usd\": 5}},"
		"\"source\": \"example\"}";

	assert_int_equal(parse_text(doc, err, sizeof(err)), 0);
	assert_int_equal(table.count, 1);
	assert_units_equal(row_of("BTC", "USD")->value, "4325000000000");
}

static void feed_parse_rejects_bad_values(void **state)
{
	static const struct {
		const char *doc;
		const char *needle;
	} cases[] = {
		{ "{\"rates\": {\"BTC\": {\"USD\": \"-43250\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": -43250}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \"0\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 0}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 0.0}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \"1e3\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 1e3}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 1.5E2}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \"0.123456789\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \" 5\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \"\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": \"1000000000\"}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 99999999999999999999999}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": true}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": null}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": {\"USD\": NaN}}}", "BTC in USD" },
		{ "{\"rates\": {\"ETH\": {\"EUR\": 1}, \"BTC\": {\"USD\": {}}}}", "BTC in USD" },
		{ "{\"rates\": {\"BTC\": [\"USD\", 1]}}", "BTC" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_rejected(cases[i].doc, cases[i].needle);
}

static void feed_parse_rejects_malformed(void **state)
{
	static const struct {
		const char *doc;
		const char *needle;
	} cases[] = {
		{ "", "not valid JSON" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 1}}", "not valid JSON" },
		{ "{\"rates\": {\"BTC\": {\"USD\": 1}}} trailing", "not valid JSON" },
		{ "[1, 2]", "not a JSON object" },
		{ "{}", "no \"rates\" object" },
		{ "{\"rates\": [1]}", "no \"rates\" object" },
		{ "{\"rates\": {}}", "no rate of a known coin" },
		{ "{\"rates\": {\"XMR\": {\"USD\": 1}}}", "no rate of a known coin" },
		{ "{\"updated_at\": \"1764892700\", \"rates\": {\"BTC\": {\"USD\": 1}}}", "updated_at" },
		{ "{\"updated_at\": 1764892700.5, \"rates\": {\"BTC\": {\"USD\": 1}}}", "updated_at" },
		{ "{\"updated_at\": 0, \"rates\": {\"BTC\": {\"USD\": 1}}}", "updated_at" },
		{ "{\"updated_at\": -5, \"rates\": {\"BTC\": {\"USD\": 1}}}", "updated_at" },
		{ "{\"updated_at\": 1764903600, \"rates\": {\"BTC\": {\"USD\": 1}}}", "ahead" },
		{ "{\"a\": [[[[[[[[[[1]]]]]]]]]], \"rates\": {\"BTC\": {\"USD\": 1}}}", "not valid JSON" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_rejected(cases[i].doc, cases[i].needle);
}

static void feed_parse_rejects_nul_byte(void **state)
{
	static const char doc[] = "{\"rates\": {\"BTC\": {\"USD\": 1}}}\0{}";
	char err[256] = "";

	assert_int_equal(rates_feed_parse(doc, sizeof(doc) - 1, FETCHED_AT, &table,
	                                  err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
}

static void feed_parse_rejects_oversized(void **state)
{
	size_t len = RATES_FEED_RESPONSE_MAX + 1;
	char *doc = malloc(len);
	char err[256] = "";

	assert_non_null(doc);
	memset(doc, ' ', len);
	assert_int_equal(rates_feed_parse(doc, len, FETCHED_AT, &table, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	free(doc);
}

/*
 * A malformed document leaves the installed rates alone: the feed thread
 * calls rates_replace() only after rates_feed_parse() returns 0.
 */
static void feed_malformed_keeps_previous(void **state)
{
	static struct rates_table parsed;
	char err[256] = "";
	const char *good = "{\"updated_at\": 1764892700, \"rates\": {\"BTC\": {\"USD\": \"43250.12\"}}}";
	const char *bad = "{\"updated_at\": 1764892760, \"rates\": {\"BTC\": {\"USD\": \"-1\"}}}";
	struct rate rate;

	rates_configure(RATES_SOURCE_FEED, 300);
	assert_int_equal(rates_feed_parse(good, strlen(good), FETCHED_AT, &parsed,
	                                  err, sizeof(err)), 0);
	rates_replace(&parsed);
	assert_int_equal(rates_feed_parse(bad, strlen(bad), FETCHED_AT, &parsed,
	                                  err, sizeof(err)), -1);

	assert_int_equal(rates_find_at("BTC", "USD", 1764892700, &rate), RATES_FOUND);
	assert_units_equal(rate.value, "4325012000000");
	assert_int_equal(rate.updated_at, 1764892700);
	assert_int_equal(rates_find_at("BTC", "USD", 1764892700 + 301, &rate), RATES_STALE);
	rates_configure(RATES_SOURCE_SAMPLE, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(feed_parse_valid_document),
		cmocka_unit_test(feed_parse_exact_eight_decimals),
		cmocka_unit_test(feed_parse_without_updated_at),
		cmocka_unit_test(feed_parse_ignores_unknown),
		cmocka_unit_test(feed_parse_rejects_bad_values),
		cmocka_unit_test(feed_parse_rejects_malformed),
		cmocka_unit_test(feed_parse_rejects_nul_byte),
		cmocka_unit_test(feed_parse_rejects_oversized),
		cmocka_unit_test(feed_malformed_keeps_previous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
