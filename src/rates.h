/*
 * Exchange rates from coin to fiat and the quotes derived from them. A rate
 * is the price of one whole coin in the fiat currency, held as an integer
 * scaled by 10^RATES_SCALE. The active source is the static sample table or
 * the table fetched by the feed thread (rates_feed.h); docs/RATES.md
 * describes both.
 */
#ifndef CITYPAY_RATES_H
#define CITYPAY_RATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

#define RATES_SCALE 8

/*
 * Capacity of the feed table. It exceeds the number of coins times the
 * number of fiat currencies in money.c, the most pairs a document can add.
 */
#define RATES_TABLE_MAX 512

/* Default max age of a feed rate in seconds (rates.max_age_s). */
#define RATES_MAX_AGE_DEFAULT_S 300

/* Results of rates_find(). */
#define RATES_FOUND    0
#define RATES_UNKNOWN (-1)  /* the pair is not in the active source */
#define RATES_STALE   (-2)  /* the pair is known but older than the max age */

/* Source of the rates (rates.source). */
enum rates_source {
	RATES_SOURCE_SAMPLE = 0,  /* the static sample table, never stale */
	RATES_SOURCE_FEED,        /* the table last fetched by rates_feed.c */
};

/*
 * One rate. coin, fiat and source point to static strings (the code tables
 * of money.c and string literals), so a copy stays valid after the table
 * it came from is replaced.
 */
struct rate {
	const char *coin;     /* coin code */
	const char *fiat;     /* ISO 4217 code */
	money_t value;        /* fiat per whole coin, times 10^RATES_SCALE */
	int64_t updated_at;   /* Unix seconds */
	const char *source;   /* "sample" or "feed" */
	bool stale;           /* older than the max age; never true for "sample" */
};

/* A complete set of feed rates, as one document delivers them. */
struct rates_table {
	struct rate rows[RATES_TABLE_MAX];
	size_t count;
};

/*
 * Select the active source and the max age of feed rates in seconds. The
 * default is the sample source. Safe to call while other threads read rates.
 */
void rates_configure(enum rates_source source, int64_t max_age_s);

/* Return the max age of feed rates in seconds, for error messages. */
int64_t rates_max_age(void);

/*
 * Replace the feed table with a copy of table, all rows at once, so a
 * reader sees either the old rates or the new ones. Rows are expected to
 * come from rates_feed_parse(), which validates them.
 */
void rates_replace(const struct rates_table *table);

/*
 * Look up the rate of coin in fiat in the active source, at the wall clock.
 * With the sample source the rate comes from the static sample table, which
 * is sample data for the sandbox, not market prices. Returns RATES_FOUND (0)
 * and fills *out; RATES_UNKNOWN (-1) when the pair is not in the source (or
 * no feed document has been accepted yet); RATES_STALE (-2) when the feed
 * rate is older than the max age, and then *out is filled with the stale
 * rate all the same.
 */
int rates_find(const char *coin, const char *fiat, struct rate *out);

/* rates_find() at an explicit time now (Unix seconds), for tests. */
int rates_find_at(const char *coin, const char *fiat, int64_t now, struct rate *out);

/*
 * Number of rows in the active source and the row at an index, for listing.
 * rates_at() returns 0, or -1 when index is past the end; the feed table
 * may shrink between the two calls. Feed rows carry their stale flag at the
 * wall clock.
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
