/* Unit tests of money.c: tables, parsing and formatting of exact amounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

#define INT128_MAX_TEXT "170141183460469231731687303715884105727"
#define INT128_MIN_TEXT "-170141183460469231731687303715884105728"

/*
 * Integer text of units for string asserts, because cmocka integer asserts
 * are 64 bits wide.
 */
static const char *units_text(money_t units, char *buf, size_t len)
{
	if (money_units_format(units, buf, len) == 0)
		snprintf(buf, len, "(unformattable)");
	return buf;
}

static void assert_units_equal(money_t actual, const char *expected)
{
	char text[MONEY_TEXT_MAX];

	assert_string_equal(units_text(actual, text, sizeof(text)), expected);
}

static money_t units_from_text(const char *text)
{
	money_t units = 0;

	assert_int_equal(money_units_parse(text, &units), 0);
	return units;
}

static const char *result_name(enum money_result result)
{
	switch (result) {
	case MONEY_OK:
		return "MONEY_OK";
	case MONEY_EFORMAT:
		return "MONEY_EFORMAT";
	case MONEY_ESCALE:
		return "MONEY_ESCALE";
	case MONEY_ENOTPOSITIVE:
		return "MONEY_ENOTPOSITIVE";
	case MONEY_ERANGE:
		return "MONEY_ERANGE";
	}
	return "unknown result";
}

/*
 * Outcome of one parse as text, "\"25.5\" at scale 2: MONEY_OK 2550", so a
 * failing table row names its input.
 */
static void describe_parse(const char *text, int scale, enum money_result result,
			   const char *units, char *buf, size_t len)
{
	snprintf(buf, len, "\"%s\" at scale %d: %s %s", text, scale,
		 result_name(result), units);
}

static void check_parse(const char *text, int scale, enum money_result expected,
			const char *expected_units)
{
	char expected_text[256];
	char actual_text[256];
	char units_buf[MONEY_TEXT_MAX];
	money_t units = 0;
	enum money_result result = money_parse(text, scale, &units);
	const char *actual_units = "";

	if (result == MONEY_OK)
		actual_units = units_text(units, units_buf, sizeof(units_buf));
	describe_parse(text, scale, expected, expected_units, expected_text,
		       sizeof(expected_text));
	describe_parse(text, scale, result, actual_units, actual_text,
		       sizeof(actual_text));
	assert_string_equal(actual_text, expected_text);
}

struct parse_case {
	const char *text;
	int scale;
	enum money_result result;
	const char *units; /* "" unless result is MONEY_OK */
};

static const struct parse_case parse_cases[] = {
	{ "25.50", 2, MONEY_OK, "2550" },
	{ "25.5", 2, MONEY_OK, "2550" },
	{ "25", 2, MONEY_OK, "2500" },
	{ "0.01", 2, MONEY_OK, "1" },
	{ "007", 2, MONEY_OK, "700" },
	{ "25", 0, MONEY_OK, "25" },
	{ "0.001", 3, MONEY_OK, "1" },
	{ "0.00000001", 8, MONEY_OK, "1" },
	{ "0.000000000000000001", 18, MONEY_OK, "1" },
	{ "9.5", 18, MONEY_OK, "9500000000000000000" },
	{ "9.3000000000000001", 18, MONEY_OK, "9300000000000000100" },
	{ "123456789.123456789123456789", 18, MONEY_OK,
	  "123456789123456789123456789" },
	{ "1", 29, MONEY_OK, "100000000000000000000000000000" },

	{ "0", 2, MONEY_ENOTPOSITIVE, "" },
	{ "0.00", 2, MONEY_ENOTPOSITIVE, "" },
	{ "0.0", 2, MONEY_ENOTPOSITIVE, "" },
	{ "00", 0, MONEY_ENOTPOSITIVE, "" },

	{ "-1", 2, MONEY_EFORMAT, "" },
	{ "+1", 2, MONEY_EFORMAT, "" },
	{ "1e3", 2, MONEY_EFORMAT, "" },
	{ " 1", 2, MONEY_EFORMAT, "" },
	{ "1 ", 2, MONEY_EFORMAT, "" },
	{ ".5", 2, MONEY_EFORMAT, "" },
	{ "5.", 2, MONEY_EFORMAT, "" },
	{ ".", 2, MONEY_EFORMAT, "" },
	{ "", 2, MONEY_EFORMAT, "" },
	{ "1.2.3", 2, MONEY_EFORMAT, "" },
	{ "1,5", 2, MONEY_EFORMAT, "" },
	{ "0x10", 2, MONEY_EFORMAT, "" },
	{ "1.2x", 2, MONEY_EFORMAT, "" },
	{ "\t1", 2, MONEY_EFORMAT, "" },
	{ "1\n", 2, MONEY_EFORMAT, "" },
	{ "NaN", 2, MONEY_EFORMAT, "" },

	{ "1.234", 2, MONEY_ESCALE, "" },
	{ "0.000", 2, MONEY_ESCALE, "" },
	{ "25.5", 0, MONEY_ESCALE, "" },
	{ "0.0000000000000000001", 18, MONEY_ESCALE, "" },
	{ "1", -1, MONEY_ESCALE, "" },
	{ "1", 30, MONEY_ESCALE, "" },
};

static void money_parse_table(void **state)
{
	for (size_t i = 0; i < COUNT(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];

		check_parse(c->text, c->scale, c->result, c->units);
	}
}

/* MONEY_MAJOR_MAX whole units are rejected, anything below is accepted. */
static const struct parse_case major_max_cases[] = {
	{ "999999999", 0, MONEY_OK, "999999999" },
	{ "999999999.99", 2, MONEY_OK, "99999999999" },
	{ "999999999.999", 3, MONEY_OK, "999999999999" },
	{ "999999999.999999999999999999", 18, MONEY_OK,
	  "999999999999999999999999999" },
	{ "999999999.9", 29, MONEY_OK,
	  "99999999990000000000000000000000000000" },
	{ "1000000000", 0, MONEY_ERANGE, "" },
	{ "1000000000", 2, MONEY_ERANGE, "" },
	{ "1000000000.00", 2, MONEY_ERANGE, "" },
	{ "1000000000.000000000000000001", 18, MONEY_ERANGE, "" },
	{ "0001000000000", 2, MONEY_ERANGE, "" },
	{ "99999999999999999999999999999999999999999", 2, MONEY_ERANGE, "" },
};

static void money_parse_major_max(void **state)
{
	for (size_t i = 0; i < COUNT(major_max_cases); i++) {
		const struct parse_case *c = &major_max_cases[i];

		check_parse(c->text, c->scale, c->result, c->units);
	}
}

/* Fill buf with count copies of digit followed by suffix. */
static void build_digits(char *buf, size_t len, char digit, size_t count,
			 const char *suffix)
{
	size_t suffix_len = strlen(suffix);

	assert_true(count + suffix_len < len);
	memset(buf, digit, count);
	memcpy(buf + count, suffix, suffix_len + 1);
}

static void money_parse_long_digit_strings(void **state)
{
	static char text[10000];

	build_digits(text, sizeof(text), '9', 5000, "");
	check_parse(text, 2, MONEY_ERANGE, "");

	build_digits(text, sizeof(text), '1', 5000, ".5");
	check_parse(text, 2, MONEY_ERANGE, "");

	build_digits(text, sizeof(text), '0', 5000, "1.25");
	check_parse(text, 2, MONEY_OK, "125");

	build_digits(text, sizeof(text), '0', 5000, "");
	check_parse(text, 2, MONEY_ENOTPOSITIVE, "");

	memcpy(text, "1.", 2);
	build_digits(text + 2, sizeof(text) - 2, '0', 5000, "");
	check_parse(text, 18, MONEY_ESCALE, "");
}

static void money_parse_null_arguments(void **state)
{
	money_t units;

	assert_int_equal(money_parse(NULL, 2, &units), MONEY_EFORMAT);
	assert_int_equal(money_parse("1", 2, NULL), MONEY_EFORMAT);
}

struct format_case {
	const char *units;
	int scale;
	const char *fixed;   /* money_format() */
	const char *trimmed; /* money_format_trim() */
};

static const struct format_case format_cases[] = {
	{ "2550", 2, "25.50", "25.5" },
	{ "2500", 2, "25.00", "25" },
	{ "5", 2, "0.05", "0.05" },
	{ "0", 2, "0.00", "0" },
	{ "0", 0, "0", "0" },
	{ "12", 0, "12", "12" },
	{ "10", 1, "1.0", "1" },
	{ "1000", 3, "1.000", "1" },
	{ "100", 0, "100", "100" },
	{ "12345678", 8, "0.12345678", "0.12345678" },
	{ "100000000", 8, "1.00000000", "1" },
	{ "1", 18, "0.000000000000000001", "0.000000000000000001" },
	{ "9500000000000000000", 18, "9.500000000000000000", "9.5" },
	{ "-2550", 2, "-25.50", "-25.5" },
	{ "-5", 2, "-0.05", "-0.05" },
	{ INT128_MAX_TEXT, 0, INT128_MAX_TEXT, INT128_MAX_TEXT },
	{ INT128_MAX_TEXT, 38, "1.70141183460469231731687303715884105727",
	  "1.70141183460469231731687303715884105727" },
	{ INT128_MIN_TEXT, 38, "-1.70141183460469231731687303715884105728",
	  "-1.70141183460469231731687303715884105728" },
	{ "1", 38, "0.00000000000000000000000000000000000001",
	  "0.00000000000000000000000000000000000001" },
};

static void money_format_table(void **state)
{
	for (size_t i = 0; i < COUNT(format_cases); i++) {
		const struct format_case *c = &format_cases[i];
		money_t units = units_from_text(c->units);
		char text[MONEY_TEXT_MAX];

		assert_int_equal(money_format(units, c->scale, text, sizeof(text)),
				 strlen(c->fixed));
		assert_string_equal(text, c->fixed);
		assert_int_equal(money_format_trim(units, c->scale, text, sizeof(text)),
				 strlen(c->trimmed));
		assert_string_equal(text, c->trimmed);
	}
}

static void money_format_buffer_too_small(void **state)
{
	char text[MONEY_TEXT_MAX];

	assert_int_equal(money_format(2550, 2, text, 5), 0);
	assert_int_equal(money_format(2550, 2, text, 6), 5);
	assert_string_equal(text, "25.50");
	assert_int_equal(money_format(2550, 2, text, 0), 0);
	assert_int_equal(money_format(2550, 2, NULL, 6), 0);
	assert_int_equal(money_format_trim(2550, 2, text, 4), 0);
	assert_int_equal(money_format_trim(2550, 2, text, 5), 4);
	assert_string_equal(text, "25.5");
	assert_int_equal(money_units_format(2550, text, 4), 0);
	assert_int_equal(money_units_format(2550, text, 5), 4);
	assert_string_equal(text, "2550");
}

static void money_format_invalid_scale(void **state)
{
	char text[MONEY_TEXT_MAX];

	assert_int_equal(money_format(1, -1, text, sizeof(text)), 0);
	assert_int_equal(money_format(1, 39, text, sizeof(text)), 0);
	assert_int_equal(money_format_trim(1, 39, text, sizeof(text)), 0);
}

/* Amounts that money_format() writes, money_parse() reads back unchanged. */
static void money_format_parse_round_trip(void **state)
{
	static const int scales[] = { 0, 2, 3, 6, 8, 18 };
	static const char *const amounts[] = {
		"1", "7", "10", "99", "100", "101", "2550", "123456789",
		"9300000000000000001", "999999999999999999999999999",
	};

	for (size_t s = 0; s < COUNT(scales); s++) {
		for (size_t a = 0; a < COUNT(amounts); a++) {
			money_t units = units_from_text(amounts[a]);
			char fixed[MONEY_TEXT_MAX];
			char trimmed[MONEY_TEXT_MAX];

			if (units >= MONEY_MAJOR_MAX * money_pow10(scales[s]))
				continue;
			assert_true(money_format(units, scales[s], fixed, sizeof(fixed)) > 0);
			assert_true(money_format_trim(units, scales[s], trimmed, sizeof(trimmed)) > 0);
			check_parse(fixed, scales[s], MONEY_OK, amounts[a]);
			check_parse(trimmed, scales[s], MONEY_OK, amounts[a]);
		}
	}
}

struct units_case {
	const char *text;
	int result;
};

static const struct units_case units_cases[] = {
	{ "0", 0 },
	{ "2550", 0 },
	{ "-5", 0 },
	{ INT128_MAX_TEXT, 0 },
	{ INT128_MIN_TEXT, 0 },
	{ "170141183460469231731687303715884105728", -1 },
	{ "-170141183460469231731687303715884105729", -1 },
	{ "1701411834604692317316873037158841057270", -1 },
	{ "", -1 },
	{ "-", -1 },
	{ "-0", -1 },
	{ "007", -1 },
	{ "+5", -1 },
	{ " 5", -1 },
	{ "5 ", -1 },
	{ "1e3", -1 },
	{ "2.5", -1 },
	{ "--5", -1 },
};

static void money_units_parse_table(void **state)
{
	for (size_t i = 0; i < COUNT(units_cases); i++) {
		const struct units_case *c = &units_cases[i];
		money_t units = 0;
		char text[MONEY_TEXT_MAX];
		int result = money_units_parse(c->text, &units);

		if (c->result == 0) {
			assert_int_equal(result, 0);
			assert_string_equal(units_text(units, text, sizeof(text)), c->text);
		} else {
			/* Names the rejected text when it is wrongly accepted. */
			assert_string_equal(result == 0 ? c->text : "rejected", "rejected");
		}
	}
}

static void money_units_parse_null_arguments(void **state)
{
	money_t units;

	assert_int_equal(money_units_parse(NULL, &units), -1);
	assert_int_equal(money_units_parse("1", NULL), -1);
}

static void money_pow10_range(void **state)
{
	assert_units_equal(money_pow10(0), "1");
	assert_units_equal(money_pow10(1), "10");
	assert_units_equal(money_pow10(18), "1000000000000000000");
	assert_units_equal(money_pow10(38), "100000000000000000000000000000000000000");
	assert_units_equal(money_pow10(-1), "0");
	assert_units_equal(money_pow10(39), "0");
}

struct currency_case {
	const char *code;
	int numeric;
	int scale;
};

static const struct currency_case currency_cases[] = {
	{ "USD", 840, 2 }, { "EUR", 978, 2 }, { "GBP", 826, 2 },
	{ "JPY", 392, 0 }, { "CHF", 756, 2 }, { "CAD", 124, 2 },
	{ "AUD", 36, 2 },  { "CNY", 156, 2 }, { "RUB", 643, 2 },
	{ "UAH", 980, 2 }, { "KZT", 398, 2 }, { "TRY", 949, 2 },
	{ "INR", 356, 2 }, { "BRL", 986, 2 }, { "PLN", 985, 2 },
	{ "CZK", 203, 2 }, { "SEK", 752, 2 }, { "NOK", 578, 2 },
	{ "DKK", 208, 2 }, { "KWD", 414, 3 }, { "BHD", 48, 3 },
};

static void money_currency_table(void **state)
{
	for (size_t i = 0; i < COUNT(currency_cases); i++) {
		const struct currency_case *c = &currency_cases[i];
		const struct money_currency *currency = money_currency_find(c->code);

		assert_non_null(currency);
		assert_string_equal(currency->code, c->code);
		assert_int_equal(currency->numeric, c->numeric);
		assert_int_equal(currency->scale, c->scale);
		assert_non_null(currency->name);
	}
}

static void money_currency_unknown(void **state)
{
	assert_null(money_currency_find("usd"));
	assert_null(money_currency_find("XXX"));
	assert_null(money_currency_find("US"));
	assert_null(money_currency_find("USDT"));
	assert_null(money_currency_find(""));
	assert_null(money_currency_find(NULL));
}

struct coin_case {
	const char *code;
	const char *base_name;
	const char *network;
	int scale;
	int confirmations;
};

static const struct coin_case coin_cases[] = {
	{ "BTC", "Bitcoin", "bitcoin", 8, 2 },
	{ "ETH", "Ethereum", "ethereum", 18, 12 },
	{ "USDT-ERC20", "Tether", "ethereum", 6, 12 },
	{ "LTC", "Litecoin", "litecoin", 8, 6 },
};

static void money_coin_table(void **state)
{
	for (size_t i = 0; i < COUNT(coin_cases); i++) {
		const struct coin_case *c = &coin_cases[i];
		const struct money_coin *coin = money_coin_find(c->code);

		assert_non_null(coin);
		assert_string_equal(coin->code, c->code);
		assert_string_equal(coin->base_name, c->base_name);
		assert_string_equal(coin->network, c->network);
		assert_int_equal(coin->scale, c->scale);
		assert_int_equal(coin->confirmations, c->confirmations);
	}
}

static void money_coin_iteration(void **state)
{
	size_t count = money_coin_count();

	assert_true(count >= COUNT(coin_cases));
	for (size_t i = 0; i < count; i++) {
		const struct money_coin *coin = money_coin_at(i);

		assert_non_null(coin);
		assert_ptr_equal(money_coin_find(coin->code), coin);
	}
	assert_null(money_coin_at(count));
}

static void money_coin_unknown(void **state)
{
	assert_null(money_coin_find("btc"));
	assert_null(money_coin_find("USDT"));
	assert_null(money_coin_find("XMR"));
	assert_null(money_coin_find(""));
	assert_null(money_coin_find(NULL));
}

static void money_strerror_texts(void **state)
{
	static const enum money_result failures[] = {
		MONEY_EFORMAT, MONEY_ESCALE, MONEY_ENOTPOSITIVE, MONEY_ERANGE,
	};

	for (size_t i = 0; i < COUNT(failures); i++) {
		const char *text = money_strerror(failures[i]);

		assert_non_null(text);
		assert_true(strlen(text) > 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(text, money_strerror(failures[j]));
	}
	assert_non_null(money_strerror((enum money_result)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(money_parse_table),
		cmocka_unit_test(money_parse_major_max),
		cmocka_unit_test(money_parse_long_digit_strings),
		cmocka_unit_test(money_parse_null_arguments),
		cmocka_unit_test(money_format_table),
		cmocka_unit_test(money_format_buffer_too_small),
		cmocka_unit_test(money_format_invalid_scale),
		cmocka_unit_test(money_format_parse_round_trip),
		cmocka_unit_test(money_units_parse_table),
		cmocka_unit_test(money_units_parse_null_arguments),
		cmocka_unit_test(money_pow10_range),
		cmocka_unit_test(money_currency_table),
		cmocka_unit_test(money_currency_unknown),
		cmocka_unit_test(money_coin_table),
		cmocka_unit_test(money_coin_iteration),
		cmocka_unit_test(money_coin_unknown),
		cmocka_unit_test(money_strerror_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
