/*
 * Unit tests of rates.c: the sample table, the feed table with its stale
 * rule, and fiat to coin conversions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"
#include "rates.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* A rate of whole fiat units per coin, scaled to RATES_SCALE. */
#define WHOLE_RATE(whole) ((money_t)(whole) * 100000000)

static const char *const sample_fiats[] = { "USD", "EUR", "GBP", "RUB" };

/* Compares as integer text, because cmocka integer asserts are 64 bits wide. */
static void assert_units_equal(money_t actual, const char *expected)
{
	char text[MONEY_TEXT_MAX];

	assert_true(money_units_format(actual, text, sizeof(text)) > 0);
	assert_string_equal(text, expected);
}

static money_t units_from_text(const char *text)
{
	money_t units = 0;

	assert_int_equal(money_units_parse(text, &units), 0);
	return units;
}

static void rates_cover_every_coin(void **state)
{
	for (size_t c = 0; c < money_coin_count(); c++) {
		const char *coin = money_coin_at(c)->code;

		for (size_t f = 0; f < COUNT(sample_fiats); f++) {
			struct rate rate;

			assert_int_equal(rates_find(coin, sample_fiats[f], &rate), 0);
			assert_string_equal(rate.coin, coin);
			assert_string_equal(rate.fiat, sample_fiats[f]);
			assert_string_equal(rate.source, "sample");
			assert_true(rate.value > 0);
			assert_true(rate.updated_at > 0);
		}
	}
}

static void rates_find_sample_value(void **state)
{
	struct rate rate;

	assert_int_equal(rates_find("BTC", "USD", &rate), 0);
	assert_units_equal(rate.value, "6000000000000");
	assert_int_equal(rates_find("USDT-ERC20", "EUR", &rate), 0);
	assert_units_equal(rate.value, "92000000");
}

static void rates_find_unknown_pair(void **state)
{
	struct rate rate;

	assert_int_equal(rates_find("XMR", "USD", &rate), -1);
	assert_int_equal(rates_find("BTC", "XXX", &rate), -1);
	assert_int_equal(rates_find("btc", "USD", &rate), -1);
	assert_int_equal(rates_find("BTC", "usd", &rate), -1);
	assert_int_equal(rates_find("USD", "BTC", &rate), -1);
	assert_int_equal(rates_find(NULL, "USD", &rate), -1);
	assert_int_equal(rates_find("BTC", NULL, &rate), -1);
	assert_int_equal(rates_find("BTC", "USD", NULL), -1);
}

/* Every row is a known coin and currency, and rates_find() returns it. */
static void rates_at_every_row(void **state)
{
	size_t count = rates_count();
	struct rate row;
	struct rate found;

	assert_true(count >= money_coin_count() * COUNT(sample_fiats));
	for (size_t i = 0; i < count; i++) {
		assert_int_equal(rates_at(i, &row), 0);
		assert_non_null(money_coin_find(row.coin));
		assert_non_null(money_currency_find(row.fiat));
		assert_int_equal(rates_find(row.coin, row.fiat, &found), 0);
		assert_true(found.value == row.value);
	}
	assert_int_equal(rates_at(count, &row), -1);
	assert_int_equal(rates_at(0, NULL), -1);
}

struct conversion_case {
	const char *name;
	const char *amount;  /* fiat units for quotes, coin units for to_fiat */
	int fiat_scale;
	money_t rate_value;
	int coin_scale;
	const char *result;  /* coin units for quotes, fiat units for to_fiat */
};

static const struct conversion_case quote_cases[] = {
	{ "USD 100.00 in BTC, inexact", "10000", 2, WHOLE_RATE(60000), 8, "166667" },
	{ "USD 60000.00 in BTC, exact", "6000000", 2, WHOLE_RATE(60000), 8, "100000000" },
	{ "USD 0.01 in BTC", "1", 2, WHOLE_RATE(60000), 8, "17" },
	{ "USD 30.00 in ETH, exact", "3000", 2, WHOLE_RATE(3000), 18, "10000000000000000" },
	{ "USD 100.00 in ETH, inexact", "10000", 2, WHOLE_RATE(3000), 18,
	  "33333333333333334" },
	{ "USD 28500.00 in ETH, above 9.3 ETH", "2850000", 2, WHOLE_RATE(3000), 18,
	  "9500000000000000000" },
	{ "USD 999999999.99 in ETH", "99999999999", 2, WHOLE_RATE(3000), 18,
	  "333333333330000000000000" },
	{ "USD 25.50 in USDT", "2550", 2, WHOLE_RATE(1), 6, "25500000" },
	{ "EUR 1.00 in USDT at 0.92", "100", 2, 92000000, 6, "1086957" },
	{ "JPY 1000 in BTC", "1000", 0, WHOLE_RATE(9000000), 8, "11112" },
	{ "KWD 1.000 in BTC", "1000", 3, WHOLE_RATE(18000), 8, "5556" },
	{ "RUB 0.00 in LTC", "0", 2, WHOLE_RATE(7400), 8, "0" },
};

/*
 * Compare "name: units" texts, so a failing table row names itself and a
 * failed call shows as "name: error".
 */
static void assert_case_result(const char *name, int rc, money_t units,
			       const char *expected)
{
	char units_buf[MONEY_TEXT_MAX];
	char actual_text[256];
	char expected_text[256];

	if (rc != 0 || money_units_format(units, units_buf, sizeof(units_buf)) == 0)
		snprintf(units_buf, sizeof(units_buf), "error");
	snprintf(actual_text, sizeof(actual_text), "%s: %s", name, units_buf);
	snprintf(expected_text, sizeof(expected_text), "%s: %s", name, expected);
	assert_string_equal(actual_text, expected_text);
}

static void rates_quote_table(void **state)
{
	for (size_t i = 0; i < COUNT(quote_cases); i++) {
		const struct conversion_case *c = &quote_cases[i];
		money_t coin_units = -1;
		int rc = rates_quote(units_from_text(c->amount), c->fiat_scale,
				     c->rate_value, c->coin_scale, &coin_units);

		assert_case_result(c->name, rc, coin_units, c->result);
	}
}

/*
 * The quote is the smallest coin amount worth at least the fiat amount, so
 * an inexact quote is exactly one base unit above the truncated quotient.
 */
static void check_quote_is_ceiling(money_t fiat_units, int fiat_scale,
				   money_t rate_value, int coin_scale)
{
	money_t numerator = fiat_units * money_pow10(RATES_SCALE + coin_scale - fiat_scale);
	money_t quote;

	assert_int_equal(rates_quote(fiat_units, fiat_scale, rate_value, coin_scale,
				     &quote), 0);
	assert_true(quote * rate_value >= numerator);
	assert_true((quote - 1) * rate_value < numerator);
}

static void rates_quote_rounds_up_one_unit(void **state)
{
	for (size_t i = 0; i < rates_count(); i++) {
		struct rate rate;
		const struct money_coin *coin;

		assert_int_equal(rates_at(i, &rate), 0);
		coin = money_coin_find(rate.coin);
		assert_non_null(coin);
		for (money_t cents = 1; cents <= 3000; cents += 7)
			check_quote_is_ceiling(cents, 2, rate.value, coin->scale);
	}
}

/* Converting a quote back to fiat never gives less than the requested amount. */
static void rates_quote_covers_fiat(void **state)
{
	for (size_t i = 0; i < rates_count(); i++) {
		struct rate rate;
		const struct money_coin *coin;

		assert_int_equal(rates_at(i, &rate), 0);
		coin = money_coin_find(rate.coin);
		assert_non_null(coin);
		for (money_t cents = 1; cents <= 100000; cents = cents * 3 + 1) {
			money_t quote;
			money_t back;

			assert_int_equal(rates_quote(cents, 2, rate.value, coin->scale, &quote), 0);
			assert_int_equal(rates_to_fiat(quote, coin->scale, rate.value, 2, &back), 0);
			assert_true(back >= cents);
		}
	}
}

static void rates_quote_rejects(void **state)
{
	money_t out;

	assert_int_equal(rates_quote(100, 2, 0, 8, &out), -1);
	assert_int_equal(rates_quote(100, 2, -1, 8, &out), -1);
	assert_int_equal(rates_quote(-100, 2, WHOLE_RATE(1), 8, &out), -1);
	assert_int_equal(rates_quote(100, -1, WHOLE_RATE(1), 8, &out), -1);
	assert_int_equal(rates_quote(100, RATES_SCALE + 1, WHOLE_RATE(1), 8, &out), -1);
	assert_int_equal(rates_quote(100, 2, WHOLE_RATE(1), -1, &out), -1);
	assert_int_equal(rates_quote(100, 2, WHOLE_RATE(1), 31, &out), -1);
	assert_int_equal(rates_quote(100, 2, WHOLE_RATE(1), 8, NULL), -1);
}

/* 10^20 fiat units times 10^26 does not fit in 127 bits. */
static void rates_quote_overflow(void **state)
{
	money_t out;

	assert_int_equal(rates_quote(money_pow10(20), 0, WHOLE_RATE(1), 18, &out), -1);
	assert_int_equal(rates_quote(money_pow10(12), 0, 1, 30, &out), -1);
}

static const struct conversion_case to_fiat_cases[] = {
	{ "1 BTC in USD", "100000000", 2, WHOLE_RATE(60000), 8, "6000000" },
	{ "quote of USD 100.00 back", "166667", 2, WHOLE_RATE(60000), 8, "10000" },
	{ "1 satoshi in USD", "1", 2, WHOLE_RATE(60000), 8, "0" },
	{ "17 satoshi in USD", "17", 2, WHOLE_RATE(60000), 8, "1" },
	{ "9.5 ETH in USD", "9500000000000000000", 2, WHOLE_RATE(3000), 18, "2850000" },
	{ "ETH with 27 digits in USD", "123456789123456789123456789", 2,
	  WHOLE_RATE(3000), 18, "37037036737037" },
	{ "10^9 ETH in RUB", "1000000000000000000000000000", 2, WHOLE_RATE(275000), 18,
	  "27500000000000000" },
	{ "1 wei in USD", "1", 2, WHOLE_RATE(3000), 18, "0" },
	{ "1 USDT in EUR at 0.92", "1000000", 2, 92000000, 6, "92" },
	{ "1 BTC in JPY", "100000000", 0, WHOLE_RATE(9000000), 8, "9000000" },
	{ "0.5 BTC in KWD", "50000000", 3, WHOLE_RATE(18000), 8, "9000000" },
	{ "0 LTC", "0", 2, WHOLE_RATE(7400), 8, "0" },
};

static void rates_to_fiat_table(void **state)
{
	for (size_t i = 0; i < COUNT(to_fiat_cases); i++) {
		const struct conversion_case *c = &to_fiat_cases[i];
		money_t fiat_units = -1;
		int rc = rates_to_fiat(units_from_text(c->amount), c->coin_scale,
				       c->rate_value, c->fiat_scale, &fiat_units);

		assert_case_result(c->name, rc, fiat_units, c->result);
	}
}

static void rates_to_fiat_rejects(void **state)
{
	money_t out;
	money_t max;

	assert_int_equal(money_units_parse("170141183460469231731687303715884105727", &max), 0);
	assert_int_equal(rates_to_fiat(100, 8, 0, 2, &out), -1);
	assert_int_equal(rates_to_fiat(100, 8, -1, 2, &out), -1);
	assert_int_equal(rates_to_fiat(-100, 8, WHOLE_RATE(1), 2, &out), -1);
	assert_int_equal(rates_to_fiat(100, -1, WHOLE_RATE(1), 2, &out), -1);
	assert_int_equal(rates_to_fiat(100, 31, WHOLE_RATE(1), 2, &out), -1);
	assert_int_equal(rates_to_fiat(100, 8, WHOLE_RATE(1), -1, &out), -1);
	assert_int_equal(rates_to_fiat(100, 8, WHOLE_RATE(1), RATES_SCALE + 1, &out), -1);
	assert_int_equal(rates_to_fiat(100, 8, WHOLE_RATE(1), 2, NULL), -1);
	assert_int_equal(rates_to_fiat(max, 0, max, 2, &out), -1);
	assert_int_equal(rates_to_fiat(max, 18, max, 2, &out), -1);
}

/* Feed rows as rates_feed_parse() makes them, all updated at updated_at. */
static void fill_feed_table(struct rates_table *table, int64_t updated_at)
{
	memset(table, 0, sizeof(*table));
	table->rows[0] = (struct rate){ "BTC", "USD", WHOLE_RATE(43250), updated_at, "feed", false };
	table->rows[1] = (struct rate){ "ETH", "EUR", WHOLE_RATE(2100), updated_at, "feed", false };
	table->count = 2;
}

/* Restores the default source, so that test order does not matter. */
static int use_sample_source(void **state)
{
	struct rates_table empty = { .count = 0 };

	rates_replace(&empty);
	rates_configure(RATES_SOURCE_SAMPLE, RATES_MAX_AGE_DEFAULT_S);
	return 0;
}

static void rates_feed_source_fresh(void **state)
{
	struct rates_table table;
	struct rate rate;

	fill_feed_table(&table, 1000);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_FEED, 300);

	assert_int_equal(rates_find_at("BTC", "USD", 1000, &rate), RATES_FOUND);
	assert_units_equal(rate.value, "4325000000000");
	assert_string_equal(rate.source, "feed");
	assert_int_equal(rate.updated_at, 1000);
	assert_false(rate.stale);
	assert_int_equal(rates_find_at("BTC", "USD", 1300, &rate), RATES_FOUND);
}

static void rates_feed_source_stale(void **state)
{
	struct rates_table table;
	struct rate rate;

	fill_feed_table(&table, 1000);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_FEED, 300);

	assert_int_equal(rates_max_age(), 300);
	assert_int_equal(rates_find_at("BTC", "USD", 1301, &rate), RATES_STALE);
	assert_true(rate.stale);
	assert_units_equal(rate.value, "4325000000000");
	assert_int_equal(rates_find_at("ETH", "EUR", 5000, &rate), RATES_STALE);
}

/* With the feed active, a pair only the sample table has is unknown. */
static void rates_feed_source_unknown(void **state)
{
	struct rates_table table;
	struct rate rate;

	fill_feed_table(&table, 1000);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_FEED, 300);

	assert_int_equal(rates_find_at("LTC", "USD", 1000, &rate), RATES_UNKNOWN);
	assert_int_equal(rates_find_at("BTC", "EUR", 1000, &rate), RATES_UNKNOWN);
	assert_int_equal(rates_find_at(NULL, "USD", 1000, &rate), RATES_UNKNOWN);
}

/* Before the first accepted document the feed table is empty. */
static void rates_feed_source_empty(void **state)
{
	struct rate rate;

	rates_configure(RATES_SOURCE_FEED, 300);
	assert_int_equal(rates_count(), 0);
	assert_int_equal(rates_at(0, &rate), -1);
	assert_int_equal(rates_find_at("BTC", "USD", 1000, &rate), RATES_UNKNOWN);
}

static void rates_feed_source_listing(void **state)
{
	struct rates_table table;
	struct rate rate;

	/* Updated at 1, so the rows are stale at the wall clock rates_at() uses. */
	fill_feed_table(&table, 1);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_FEED, 300);

	assert_int_equal(rates_count(), 2);
	assert_int_equal(rates_at(0, &rate), 0);
	assert_string_equal(rate.coin, "BTC");
	assert_string_equal(rate.fiat, "USD");
	assert_string_equal(rate.source, "feed");
	assert_true(rate.stale);
	assert_int_equal(rates_at(1, &rate), 0);
	assert_string_equal(rate.coin, "ETH");
	assert_int_equal(rates_at(2, &rate), -1);
}

/* A new table replaces the old one whole: pairs it lacks disappear. */
static void rates_feed_replace_whole(void **state)
{
	struct rates_table table;
	struct rate rate;

	fill_feed_table(&table, 1000);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_FEED, 300);
	table.count = 1;
	table.rows[0].value = WHOLE_RATE(44000);
	rates_replace(&table);

	assert_int_equal(rates_count(), 1);
	assert_int_equal(rates_find_at("BTC", "USD", 1000, &rate), RATES_FOUND);
	assert_units_equal(rate.value, "4400000000000");
	assert_int_equal(rates_find_at("ETH", "EUR", 1000, &rate), RATES_UNKNOWN);
}

/* The sample source ignores the feed table and is never stale. */
static void rates_sample_never_stale(void **state)
{
	struct rates_table table;
	struct rate rate;

	fill_feed_table(&table, 1000);
	rates_replace(&table);
	rates_configure(RATES_SOURCE_SAMPLE, 1);

	assert_int_equal(rates_find_at("BTC", "USD", INT64_C(4000000000), &rate), RATES_FOUND);
	assert_string_equal(rate.source, "sample");
	assert_false(rate.stale);
	assert_units_equal(rate.value, "6000000000000");
	assert_int_equal(rates_count(), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rates_cover_every_coin),
		cmocka_unit_test(rates_find_sample_value),
		cmocka_unit_test(rates_find_unknown_pair),
		cmocka_unit_test(rates_at_every_row),
		cmocka_unit_test(rates_quote_table),
		cmocka_unit_test(rates_quote_rounds_up_one_unit),
		cmocka_unit_test(rates_quote_covers_fiat),
		cmocka_unit_test(rates_quote_rejects),
		cmocka_unit_test(rates_quote_overflow),
		cmocka_unit_test(rates_to_fiat_table),
		cmocka_unit_test(rates_to_fiat_rejects),
		cmocka_unit_test_teardown(rates_feed_source_fresh, use_sample_source),
		cmocka_unit_test_teardown(rates_feed_source_stale, use_sample_source),
		cmocka_unit_test_teardown(rates_feed_source_unknown, use_sample_source),
		cmocka_unit_test_teardown(rates_feed_source_empty, use_sample_source),
		cmocka_unit_test_teardown(rates_feed_source_listing, use_sample_source),
		cmocka_unit_test_teardown(rates_feed_replace_whole, use_sample_source),
		cmocka_unit_test_teardown(rates_sample_never_stale, use_sample_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
