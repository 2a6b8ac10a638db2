/*
 * Exact decimal money. Fiat amounts are integers in the minor unit of their
 * ISO 4217 currency (cents); crypto amounts are integers in the coin's base
 * unit (satoshi, wei). Binary floating point is never used.
 *
 * Base units of 18-decimal coins overflow 64 bits at about 9.2 ETH, so every
 * amount is a 128-bit integer (a GCC and Clang extension on 64-bit Linux).
 */
#ifndef CITYPAY_MONEY_H
#define CITYPAY_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef __int128 money_t;

/* Maximum length money_format() and money_units_format() write, NUL included. */
#define MONEY_TEXT_MAX 48

/* Results of money_parse(). */
enum money_result {
	MONEY_OK = 0,
	MONEY_EFORMAT,      /* not a plain decimal: sign, exponent, spaces, letters */
	MONEY_ESCALE,       /* more fraction digits than the currency or coin has */
	MONEY_ENOTPOSITIVE, /* zero */
	MONEY_ERANGE,       /* above MONEY_MAJOR_MAX whole units */
};

/* Largest accepted amount, in whole units (dollars, bitcoins). */
#define MONEY_MAJOR_MAX 1000000000LL

struct money_currency {
	const char *code;   /* ISO 4217 alphabetic code, "USD" */
	int numeric;        /* ISO 4217 numeric code, 840 */
	int scale;          /* digits of the minor unit, 2 for USD, 0 for JPY */
	const char *name;   /* "US Dollar" */
};

struct money_coin {
	const char *code;          /* "BTC", "USDT-ERC20" */
	const char *base_name;     /* the asset, "Bitcoin", "Tether" */
	const char *network;       /* "bitcoin", "ethereum", "litecoin" */
	int scale;                 /* digits of the base unit: 8 for BTC, 18 for ETH, 6 for USDT */
	int confirmations;         /* default confirmations required */
};

/* Find a fiat currency by its case-sensitive ISO 4217 code; NULL if unknown. */
const struct money_currency *money_currency_find(const char *code);

/* Find a coin by its case-sensitive code; NULL if unknown. */
const struct money_coin *money_coin_find(const char *code);

/* The coin table, for iteration: index 0 .. money_coin_count()-1; NULL past it. */
size_t money_coin_count(void);
const struct money_coin *money_coin_at(size_t index);

/*
 * Parse a positive plain decimal ("25", "25.5", "25.50") into integer units
 * of the given scale. Rejects signs, exponents, leading or trailing spaces,
 * a point without a digit on both sides (".", ".5", "5."), more than `scale`
 * fraction digits, zero, and amounts of MONEY_MAJOR_MAX whole units or more.
 * A scale outside 0..29 gives MONEY_ESCALE.
 */
enum money_result money_parse(const char *text, int scale, money_t *units);

/* A sentence describing a money_parse() failure, for a 422 message. */
const char *money_strerror(enum money_result result);

/*
 * Write units as a decimal with exactly `scale` fraction digits ("25.50",
 * "0.00012345"). Returns the length written, or 0 when len is too small or
 * scale is outside 0..38.
 */
size_t money_format(money_t units, int scale, char *buf, size_t len);

/*
 * Write units as a decimal with trailing fraction zeros removed ("0.5",
 * "12"), the form used for crypto amounts shown to buyers.
 */
size_t money_format_trim(money_t units, int scale, char *buf, size_t len);

/* Integer text of units ("2550"), as stored in the database. */
size_t money_units_format(money_t units, char *buf, size_t len);

/* Parse integer text written by money_units_format(); -1 when malformed. */
int money_units_parse(const char *text, money_t *units);

/* 10 to the power n for 0 <= n <= 38; 0 for any other n. */
money_t money_pow10(int n);

#endif
