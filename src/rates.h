/*
 * Exchange rates from coin to fiat and the quotes derived from them. A rate
 * is the price of one whole coin in the fiat currency, held as an integer
 * scaled by 10^RATES_SCALE.
 */
#ifndef CITYPAY_RATES_H
#define CITYPAY_RATES_H

#include <stdint.h>

#include "money.h"

#define RATES_SCALE 8

struct rate {
	const char *coin;     /* coin code */
	const char *fiat;     /* ISO 4217 code */
	money_t value;        /* fiat per whole coin, times 10^RATES_SCALE */
	int64_t updated_at;   /* Unix seconds */
	const char *source;   /* "sample" for the static table */
};

/*
 * Look up the rate of coin in fiat in the static sample table. The table is
 * sample data for the sandbox, not market prices. Returns 0 and fills *out,
 * or -1 when the pair is not in the table.
 */
int rates_find(const char *coin, const char *fiat, struct rate *out);

/*
 * Number of rows in the sample table and the row at an index, for listing.
 * rates_at() returns 0, or -1 when index is past the end.
 */
size_t rates_count(void);
int rates_at(size_t index, struct rate *out);

/*
 * Convert a fiat amount (minor units at fiat_scale) to coin base units at
 * coin_scale, rounded up so that the merchant never receives less than the
 * fiat amount at this rate. Returns 0, or -1 on overflow, a rate that is not
 * positive, a negative amount, fiat_scale outside 0..RATES_SCALE or
 * coin_scale outside 0..30.
 */
int rates_quote(money_t fiat_units, int fiat_scale, money_t rate_value,
                int coin_scale, money_t *coin_units);

/*
 * Convert coin base units to fiat minor units, rounded down. Returns 0, or
 * -1 in the same cases as rates_quote().
 */
int rates_to_fiat(money_t coin_units, int coin_scale, money_t rate_value,
                  int fiat_scale, money_t *fiat_units);

#endif
