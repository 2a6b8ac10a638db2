/*
 * The active rate source (the static sample table or the feed table) and
 * integer conversions between fiat and coin amounts. Every step is exact
 * integer arithmetic with overflow checks.
 */
#include "rates.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

/*
 * Largest coin scale the conversions accept: 10^(RATES_SCALE + 30) is 10^38,
 * the largest power of ten money_pow10() returns.
 */
#define COIN_SCALE_MAX 30

/* 2025-01-01T00:00:00Z, the date the sample prices were chosen for. */
#define SAMPLE_UPDATED_AT 1735689600

/* A price in whole fiat units and hundredths, scaled to RATES_SCALE. */
#define PRICE(whole, hundredths) \
	(((money_t)(whole) * 100 + (hundredths)) * 1000000)

struct sample_rate {
	const char *coin;
	const char *fiat;
	money_t value;
};

/* Round sample prices for the sandbox, not market data. */
static const struct sample_rate sample_rates[] = {
	{ "BTC", "USD", PRICE(60000, 0) },
	{ "BTC", "EUR", PRICE(55000, 0) },
	{ "BTC", "GBP", PRICE(47000, 0) },
	{ "BTC", "RUB", PRICE(5500000, 0) },
	{ "ETH", "USD", PRICE(3000, 0) },
	{ "ETH", "EUR", PRICE(2750, 0) },
	{ "ETH", "GBP", PRICE(2350, 0) },
	{ "ETH", "RUB", PRICE(275000, 0) },
	{ "USDT-ERC20", "USD", PRICE(1, 0) },
	{ "USDT-ERC20", "EUR", PRICE(0, 92) },
	{ "USDT-ERC20", "GBP", PRICE(0, 79) },
	{ "USDT-ERC20", "RUB", PRICE(92, 0) },
	{ "LTC", "USD", PRICE(80, 0) },
	{ "LTC", "EUR", PRICE(74, 0) },
	{ "LTC", "GBP", PRICE(63, 0) },
	{ "LTC", "RUB", PRICE(7400, 0) },
};

#define SAMPLE_COUNT (sizeof(sample_rates) / sizeof(sample_rates[0]))

/*
 * The active source, the max age and the feed table. One process has one
 * set of rates that the HTTP threads read and the feed thread writes, so a
 * module-level table behind a mutex is simpler than threading a context
 * pointer through every caller of rates_find(). Readers copy a row out
 * under the lock and never keep a pointer into the table.
 */
static struct {
	pthread_mutex_t lock;
	enum rates_source source;
	int64_t max_age_s;
	struct rates_table feed;
} rates_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.source = RATES_SOURCE_SAMPLE,
	.max_age_s = RATES_MAX_AGE_DEFAULT_S,
};

static void fill_sample_rate(const struct sample_rate *row, struct rate *out)
{
	out->coin = row->coin;
	out->fiat = row->fiat;
	out->value = row->value;
	out->updated_at = SAMPLE_UPDATED_AT;
	out->source = "sample";
	out->stale = false;
}

/* A rate is stale when more than max_age_s seconds passed since updated_at. */
static bool rate_is_stale(const struct rate *rate, int64_t now, int64_t max_age_s)
{
	return now - rate->updated_at > max_age_s;
}

static int64_t wall_clock_s(void)
{
	return (int64_t)time(NULL);
}

void rates_configure(enum rates_source source, int64_t max_age_s)
{
	pthread_mutex_lock(&rates_state.lock);
	rates_state.source = source;
	rates_state.max_age_s = max_age_s;
	pthread_mutex_unlock(&rates_state.lock);
}

int64_t rates_max_age(void)
{
	int64_t max_age_s;

	pthread_mutex_lock(&rates_state.lock);
	max_age_s = rates_state.max_age_s;
	pthread_mutex_unlock(&rates_state.lock);
	return max_age_s;
}

void rates_replace(const struct rates_table *table)
{
	pthread_mutex_lock(&rates_state.lock);
	rates_state.feed.count = 0;
	for (size_t i = 0; i < table->count && i < RATES_TABLE_MAX; i++) {
		rates_state.feed.rows[i] = table->rows[i];
		rates_state.feed.rows[i].source = "feed";
		rates_state.feed.count++;
	}
	pthread_mutex_unlock(&rates_state.lock);
}

static int find_sample(const char *coin, const char *fiat, struct rate *out)
{
	for (size_t i = 0; i < SAMPLE_COUNT; i++) {
		if (strcmp(sample_rates[i].coin, coin) == 0 &&
		    strcmp(sample_rates[i].fiat, fiat) == 0) {
			fill_sample_rate(&sample_rates[i], out);
			return RATES_FOUND;
		}
	}
	return RATES_UNKNOWN;
}

/* Called with rates_state.lock held. */
static int find_feed(const char *coin, const char *fiat, int64_t now, struct rate *out)
{
	const struct rates_table *feed = &rates_state.feed;

	for (size_t i = 0; i < feed->count; i++) {
		if (strcmp(feed->rows[i].coin, coin) != 0 || strcmp(feed->rows[i].fiat, fiat) != 0)
			continue;
		*out = feed->rows[i];
		out->stale = rate_is_stale(out, now, rates_state.max_age_s);
		return out->stale ? RATES_STALE : RATES_FOUND;
	}
	return RATES_UNKNOWN;
}

int rates_find_at(const char *coin, const char *fiat, int64_t now, struct rate *out)
{
	int rc;

	if (coin == NULL || fiat == NULL || out == NULL)
		return RATES_UNKNOWN;

	pthread_mutex_lock(&rates_state.lock);
	if (rates_state.source == RATES_SOURCE_FEED)
		rc = find_feed(coin, fiat, now, out);
	else
		rc = find_sample(coin, fiat, out);
	pthread_mutex_unlock(&rates_state.lock);
	return rc;
}

int rates_find(const char *coin, const char *fiat, struct rate *out)
{
	return rates_find_at(coin, fiat, wall_clock_s(), out);
}

size_t rates_count(void)
{
	size_t count;

	pthread_mutex_lock(&rates_state.lock);
	count = rates_state.source == RATES_SOURCE_FEED ? rates_state.feed.count : SAMPLE_COUNT;
	pthread_mutex_unlock(&rates_state.lock);
	return count;
}

int rates_at(size_t index, struct rate *out)
{
	int rc = -1;

	if (out == NULL)
		return -1;

	pthread_mutex_lock(&rates_state.lock);
	if (rates_state.source != RATES_SOURCE_FEED) {
		if (index < SAMPLE_COUNT) {
			fill_sample_rate(&sample_rates[index], out);
			rc = 0;
		}
	} else if (index < rates_state.feed.count) {
		*out = rates_state.feed.rows[index];
		out->stale = rate_is_stale(out, wall_clock_s(), rates_state.max_age_s);
		rc = 0;
	}
	pthread_mutex_unlock(&rates_state.lock);
	return rc;
}

/*
 * Both conversions need a non-negative amount, a positive rate, fiat_scale
 * at most RATES_SCALE and coin_scale at most COIN_SCALE_MAX.
 */
static bool arguments_valid(money_t amount, int fiat_scale, money_t rate_value,
			    int coin_scale)
{
	return amount >= 0 && rate_value > 0 &&
	       fiat_scale >= 0 && fiat_scale <= RATES_SCALE &&
	       coin_scale >= 0 && coin_scale <= COIN_SCALE_MAX;
}

/*
 * coin_units = fiat_units * 10^(RATES_SCALE + coin_scale)
 *              / (rate_value * 10^fiat_scale), rounded up.
 * The powers of ten are combined first so no factor is larger than needed.
 */
int rates_quote(money_t fiat_units, int fiat_scale, money_t rate_value,
		int coin_scale, money_t *coin_units)
{
	money_t numerator;
	money_t quotient;

	if (coin_units == NULL ||
	    !arguments_valid(fiat_units, fiat_scale, rate_value, coin_scale))
		return -1;

	if (__builtin_mul_overflow(fiat_units,
				   money_pow10(RATES_SCALE + coin_scale - fiat_scale),
				   &numerator))
		return -1;

	quotient = numerator / rate_value;
	if (numerator % rate_value != 0)
		quotient++;
	*coin_units = quotient;
	return 0;
}

/*
 * fiat_units = coin_units * rate_value / 10^(coin_scale + RATES_SCALE
 *              - fiat_scale), rounded down.
 * coin_units is split into whole coins and a remainder first, because the
 * product of a large wei amount and a rate overflows 127 bits long before
 * the result does. Nested floor divisions give the same result as one.
 */
int rates_to_fiat(money_t coin_units, int coin_scale, money_t rate_value,
		  int fiat_scale, money_t *fiat_units)
{
	money_t coin_unit = money_pow10(coin_scale);
	money_t whole_value;
	money_t remainder_value;
	money_t total;

	if (fiat_units == NULL ||
	    !arguments_valid(coin_units, fiat_scale, rate_value, coin_scale))
		return -1;

	if (__builtin_mul_overflow(coin_units / coin_unit, rate_value, &whole_value))
		return -1;
	if (__builtin_mul_overflow(coin_units % coin_unit, rate_value, &remainder_value))
		return -1;
	if (__builtin_add_overflow(whole_value, remainder_value / coin_unit, &total))
		return -1;

	*fiat_units = total / money_pow10(RATES_SCALE - fiat_scale);
	return 0;
}
