/*
 * Exact decimal money: the currency and coin tables, parsing of decimal text
 * into integer units and formatting back. No floating point anywhere.
 */
#include "money.h"

#include <stdbool.h>
#include <string.h>

/*
 * Largest scale money_parse() accepts. An amount just below MONEY_MAJOR_MAX
 * whole units at scale 29 is below 10^38, which still fits in 127 bits.
 */
#define PARSE_SCALE_MAX 29

/* Largest power of ten below 2^127. */
#define POW10_MAX 38

_Static_assert(MONEY_MAJOR_MAX == 1000000000LL,
	       "update the MONEY_ERANGE text in money_strerror()");

/* ISO 4217 codes, numeric codes, minor-unit digits and official names. */
static const struct money_currency currencies[] = {
	{ "USD", 840, 2, "US Dollar" },
	{ "EUR", 978, 2, "Euro" },
	{ "GBP", 826, 2, "Pound Sterling" },
	{ "JPY", 392, 0, "Yen" },
	{ "CHF", 756, 2, "Swiss Franc" },
	{ "CAD", 124, 2, "Canadian Dollar" },
	{ "AUD", 36, 2, "Australian Dollar" },
	{ "NZD", 554, 2, "New Zealand Dollar" },
	{ "CNY", 156, 2, "Yuan Renminbi" },
	{ "HKD", 344, 2, "Hong Kong Dollar" },
	{ "SGD", 702, 2, "Singapore Dollar" },
	{ "KRW", 410, 0, "Won" },
	{ "VND", 704, 0, "Dong" },
	{ "INR", 356, 2, "Indian Rupee" },
	{ "RUB", 643, 2, "Russian Ruble" },
	{ "UAH", 980, 2, "Hryvnia" },
	{ "KZT", 398, 2, "Tenge" },
	{ "TRY", 949, 2, "Turkish Lira" },
	{ "PLN", 985, 2, "Zloty" },
	{ "CZK", 203, 2, "Czech Koruna" },
	{ "SEK", 752, 2, "Swedish Krona" },
	{ "NOK", 578, 2, "Norwegian Krone" },
	{ "DKK", 208, 2, "Danish Krone" },
	{ "ILS", 376, 2, "New Israeli Sheqel" },
	{ "AED", 784, 2, "UAE Dirham" },
	{ "KWD", 414, 3, "Kuwaiti Dinar" },
	{ "BHD", 48, 3, "Bahraini Dinar" },
	{ "JOD", 400, 3, "Jordanian Dinar" },
	{ "OMR", 512, 3, "Rial Omani" },
	{ "TND", 788, 3, "Tunisian Dinar" },
	{ "ZAR", 710, 2, "Rand" },
	{ "BRL", 986, 2, "Brazilian Real" },
	{ "MXN", 484, 2, "Mexican Peso" },
	{ "CLP", 152, 0, "Chilean Peso" },
};

/*
 * The default confirmations are a choice, each about 3 to 20 minutes of
 * blocks: Bitcoin blocks come every 10 minutes, Litecoin blocks every 2.5
 * minutes and Ethereum blocks every 12 seconds.
 */
static const struct money_coin coins[] = {
	{ "BTC", "Bitcoin", "bitcoin", 8, 2 },
	{ "ETH", "Ethereum", "ethereum", 18, 12 },
	{ "USDT-ERC20", "Tether", "ethereum", 6, 12 },
	{ "LTC", "Litecoin", "litecoin", 8, 6 },
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

const struct money_currency *money_currency_find(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < COUNT(currencies); i++) {
		if (strcmp(currencies[i].code, code) == 0)
			return &currencies[i];
	}
	return NULL;
}

const struct money_coin *money_coin_find(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < COUNT(coins); i++) {
		if (strcmp(coins[i].code, code) == 0)
			return &coins[i];
	}
	return NULL;
}

size_t money_coin_count(void)
{
	return COUNT(coins);
}

const struct money_coin *money_coin_at(size_t index)
{
	if (index >= COUNT(coins))
		return NULL;
	return &coins[index];
}

/* Returns 0 outside 0..38 because 10^39 does not fit in money_t. */
money_t money_pow10(int n)
{
	money_t value = 1;

	if (n < 0 || n > POW10_MAX)
		return 0;
	for (int i = 0; i < n; i++)
		value *= 10;
	return value;
}

/* ASCII digits only, because isdigit() depends on the locale. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t count_digits(const char *text)
{
	size_t n = 0;

	while (is_digit(text[n]))
		n++;
	return n;
}

/* The two digit runs of a plain decimal, "25" and "50" in "25.50". */
struct decimal_text {
	const char *whole;
	size_t whole_len;
	const char *fraction;
	size_t fraction_len;
};

/*
 * Split text into digits, an optional point and digits. Both sides of a
 * point need a digit, so ".5" and "5." are rejected along with a lone ".".
 */
static bool split_decimal(const char *text, struct decimal_text *out)
{
	const char *rest;

	out->whole = text;
	out->whole_len = count_digits(text);
	out->fraction = "";
	out->fraction_len = 0;
	if (out->whole_len == 0)
		return false;

	rest = text + out->whole_len;
	if (*rest == '\0')
		return true;
	if (*rest != '.')
		return false;

	out->fraction = rest + 1;
	out->fraction_len = count_digits(out->fraction);
	return out->fraction_len > 0 && out->fraction[out->fraction_len] == '\0';
}

/*
 * Read the whole part. It stops at the first value of MONEY_MAJOR_MAX or
 * more, so a string of any length cannot overflow.
 */
static enum money_result parse_whole(const char *digits, size_t len, money_t *whole)
{
	money_t value = 0;

	for (size_t i = 0; i < len; i++) {
		value = value * 10 + (digits[i] - '0');
		if (value >= MONEY_MAJOR_MAX)
			return MONEY_ERANGE;
	}
	*whole = value;
	return MONEY_OK;
}

enum money_result money_parse(const char *text, int scale, money_t *units)
{
	struct decimal_text parts;
	money_t whole;
	money_t fraction = 0;
	enum money_result result;

	if (text == NULL || units == NULL || !split_decimal(text, &parts))
		return MONEY_EFORMAT;
	if (scale < 0 || scale > PARSE_SCALE_MAX ||
	    parts.fraction_len > (size_t)scale)
		return MONEY_ESCALE;

	result = parse_whole(parts.whole, parts.whole_len, &whole);
	if (result != MONEY_OK)
		return result;

	/* At most PARSE_SCALE_MAX digits, so this stays below 10^29. */
	for (size_t i = 0; i < parts.fraction_len; i++)
		fraction = fraction * 10 + (parts.fraction[i] - '0');
	fraction *= money_pow10(scale - (int)parts.fraction_len);

	*units = whole * money_pow10(scale) + fraction;
	if (*units == 0)
		return MONEY_ENOTPOSITIVE;
	return MONEY_OK;
}

const char *money_strerror(enum money_result result)
{
	switch (result) {
	case MONEY_OK:
		return "The amount is valid.";
	case MONEY_EFORMAT:
		return "The amount must be a plain decimal such as 25 or 25.50, "
		       "without sign, exponent or spaces.";
	case MONEY_ESCALE:
		return "The amount has more fraction digits than the currency allows.";
	case MONEY_ENOTPOSITIVE:
		return "The amount must be greater than zero.";
	case MONEY_ERANGE:
		return "The amount must be less than 1000000000 whole units.";
	}
	return "The amount is invalid.";
}

/* Magnitude as unsigned, because negating the minimum money_t overflows. */
static unsigned __int128 magnitude_of(money_t units)
{
	if (units < 0)
		return -(unsigned __int128)units;
	return (unsigned __int128)units;
}

/* Copy text of length n into buf when it fits with its NUL. */
static size_t copy_out(const char *text, size_t n, char *buf, size_t len)
{
	if (buf == NULL || n + 1 > len)
		return 0;
	memcpy(buf, text, n);
	buf[n] = '\0';
	return n;
}

size_t money_format(money_t units, int scale, char *buf, size_t len)
{
	char reversed[MONEY_TEXT_MAX];
	char text[MONEY_TEXT_MAX];
	unsigned __int128 magnitude = magnitude_of(units);
	size_t n = 0;
	int digits = 0;

	if (scale < 0 || scale > POW10_MAX)
		return 0;

	/*
	 * Emit digits from the lowest up, and at least scale + 1 of them so
	 * that small amounts get their leading "0." and zero padding.
	 */
	while (magnitude > 0 || digits <= scale) {
		reversed[n++] = (char)('0' + (int)(magnitude % 10));
		magnitude /= 10;
		digits++;
		if (digits == scale)
			reversed[n++] = '.';
	}
	if (units < 0)
		reversed[n++] = '-';

	for (size_t i = 0; i < n; i++)
		text[i] = reversed[n - 1 - i];
	return copy_out(text, n, buf, len);
}

size_t money_format_trim(money_t units, int scale, char *buf, size_t len)
{
	char text[MONEY_TEXT_MAX];
	size_t n = money_format(units, scale, text, sizeof(text));

	if (n == 0)
		return 0;
	if (scale > 0) {
		while (text[n - 1] == '0')
			n--;
		if (text[n - 1] == '.')
			n--;
	}
	return copy_out(text, n, buf, len);
}

size_t money_units_format(money_t units, char *buf, size_t len)
{
	return money_format(units, 0, buf, len);
}

/*
 * Accepts exactly what money_units_format() writes: an optional "-", then
 * digits without leading zeros. "-0" is rejected because it is never written.
 */
int money_units_parse(const char *text, money_t *units)
{
	money_t value = 0;
	bool negative;
	size_t start;
	size_t digits;

	if (text == NULL || units == NULL)
		return -1;
	negative = text[0] == '-';
	start = negative ? 1 : 0;
	digits = count_digits(text + start);
	if (digits == 0 || text[start + digits] != '\0')
		return -1;
	if (text[start] == '0' && (digits > 1 || negative))
		return -1;

	/* Negative values accumulate downwards so the minimum money_t fits. */
	for (size_t i = start; i < start + digits; i++) {
		money_t digit = text[i] - '0';

		if (__builtin_mul_overflow(value, 10, &value))
			return -1;
		if (negative ? __builtin_sub_overflow(value, digit, &value)
			     : __builtin_add_overflow(value, digit, &value))
			return -1;
	}
	*units = value;
	return 0;
}
