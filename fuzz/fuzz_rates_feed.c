/*
 * rates_feed_parse() on a rates document, at a fixed fetch time. Every rate
 * of an accepted document must be positive and name a known coin and fiat
 * currency.
 */
#include "fuzz_common.h"
#include "money.h"
#include "rates_feed.h"

/* The fetch time, 2023-11-14T22:13:20Z. A document's updated_at may be up
 * to RATES_FEED_CLOCK_SKEW_S later. */
#define FUZZ_FEED_FETCHED_AT 1700000000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rates_table *table;
	char err[256];

	if (size > FUZZ_INPUT_MAX)
		return 0;
	table = malloc(sizeof(*table));
	if (table == NULL)
		abort();

	if (rates_feed_parse((const char *)data, size, FUZZ_FEED_FETCHED_AT, table, err,
	                     sizeof(err)) == 0) {
		if (table->count == 0 || table->count > RATES_TABLE_MAX)
			abort();
		for (size_t i = 0; i < table->count; i++) {
			const struct rate *rate = &table->rows[i];

			if (rate->value <= 0 || money_coin_find(rate->coin) == NULL ||
			    money_currency_find(rate->fiat) == NULL)
				abort();
		}
	}

	free(table);
	return 0;
}
