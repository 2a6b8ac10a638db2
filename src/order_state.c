/*
 * The order status machine. A status that is not final is recomputed from
 * the facts alone, so the same facts always give the same status.
 */
#include "order_state.h"

#include "limits.h"

#include <stdint.h>
#include <string.h>

struct status_info {
	const char *code;
	const char *label;
	bool final;
};

static const struct status_info statuses[] = {
	[ORDER_IN_PROGRESS] = { "IN_PROGRESS", "In progress", false },
	[ORDER_PAID_UNCONFIRMED] = { "PAID_UNCONFIRMED", "Paid, awaiting confirmations", false },
	[ORDER_CONFIRMED] = { "CONFIRMED", "Confirmed", true },
	[ORDER_UNDERPAID] = { "UNDERPAID", "Underpaid", false },
	[ORDER_OVERPAID] = { "OVERPAID", "Overpaid", true },
	[ORDER_EXPIRED] = { "EXPIRED", "Expired", false },
	[ORDER_CANCELED] = { "CANCELED", "Canceled", true },
};

#define STATUS_COUNT (sizeof(statuses) / sizeof(statuses[0]))

static const struct status_info *status_find(enum order_status status)
{
	if ((unsigned)status >= STATUS_COUNT)
		return NULL;
	return &statuses[status];
}

const char *order_status_code(enum order_status status)
{
	const struct status_info *info = status_find(status);

	return info != NULL ? info->code : NULL;
}

const char *order_status_label(enum order_status status)
{
	const struct status_info *info = status_find(status);

	return info != NULL ? info->label : NULL;
}

int order_status_parse(const char *code, enum order_status *status)
{
	if (code == NULL || status == NULL)
		return -1;
	for (size_t i = 0; i < STATUS_COUNT; i++) {
		if (strcmp(statuses[i].code, code) == 0) {
			*status = (enum order_status)i;
			return 0;
		}
	}
	return -1;
}

/* An unknown status counts as final, so no rule moves it anywhere. */
bool order_status_is_final(enum order_status status)
{
	const struct status_info *info = status_find(status);

	return info == NULL || info->final;
}

/*
 * A product of an amount and a factor below 2^32 as 192 bits. The received
 * sum comes from the chain, so it may be any money_t, and amount * 199 must
 * still compare exactly.
 */
struct wide_product {
	unsigned __int128 high; /* bits 64 and up */
	uint64_t low;           /* bits 0 to 63 */
};

/* Negative amounts count as zero because no payment is negative. */
static struct wide_product multiply_wide(money_t amount, unsigned factor)
{
	unsigned __int128 magnitude = amount > 0 ? (unsigned __int128)amount : 0;
	unsigned __int128 low = (unsigned __int128)(uint64_t)magnitude * factor;
	struct wide_product product;

	product.high = (magnitude >> 64) * factor + (low >> 64);
	product.low = (uint64_t)low;
	return product;
}

/* Returns -1, 0 or 1 as a is less than, equal to or greater than b. */
static int compare_wide(struct wide_product a, struct wide_product b)
{
	if (a.high != b.high)
		return a.high < b.high ? -1 : 1;
	if (a.low != b.low)
		return a.low < b.low ? -1 : 1;
	return 0;
}

/* Percentages outside 0..99 are clamped to that range. */
static unsigned clamp_percent(int percent)
{
	if (percent < 0)
		return 0;
	if (percent > 99)
		return 99;
	return (unsigned)percent;
}

/* Computes received * 100 >= expected * (100 - tolerance_under_pct). */
bool order_amount_is_paid(money_t expected, money_t received, int tolerance_under_pct)
{
	unsigned factor = 100 - clamp_percent(tolerance_under_pct);

	return compare_wide(multiply_wide(received, 100),
			    multiply_wide(expected, factor)) >= 0;
}

/* Computes received * 100 > expected * (100 + tolerance_over_pct). */
bool order_amount_is_overpaid(money_t expected, money_t received, int tolerance_over_pct)
{
	unsigned factor = 100 + clamp_percent(tolerance_over_pct);

	return compare_wide(multiply_wide(received, 100),
			    multiply_wide(expected, factor)) > 0;
}

void order_facts_add(struct order_facts *facts, int64_t expires_at_ms, money_t amount,
                     bool confirmed, int64_t seen_at_ms)
{
	if (seen_at_ms < expires_at_ms)
		facts->received_in_time += amount;
	if (expires_at_ms > INT64_MAX - CP_ORDER_LATE_WINDOW_MS ||
	    seen_at_ms < expires_at_ms + CP_ORDER_LATE_WINDOW_MS) {
		facts->received += amount;
		if (confirmed)
			facts->received_confirmed += amount;
	}
}

/*
 * Status of an order whose facts show no payment within tolerance. With
 * expected == 0 no coin was chosen, so only expiry can change the status.
 */
static enum order_status status_unpaid(const struct order_facts *facts)
{
	if (!facts->expired)
		return ORDER_IN_PROGRESS;
	return facts->received > 0 ? ORDER_UNDERPAID : ORDER_EXPIRED;
}

/*
 * Only confirmed funds decide between CONFIRMED and OVERPAID, because both
 * are final and an unconfirmed transaction may still be dropped.
 * NOTE: an extra payment that is still unconfirmed when the rest confirms
 * does not make the order OVERPAID.
 */
static enum order_status status_paid(const struct order_facts *facts)
{
	if (!order_amount_is_paid(facts->expected, facts->received_confirmed,
				  facts->tolerance_under_pct))
		return ORDER_PAID_UNCONFIRMED;
	if (order_amount_is_overpaid(facts->expected, facts->received_confirmed,
				     facts->tolerance_over_pct))
		return ORDER_OVERPAID;
	return ORDER_CONFIRMED;
}

/*
 * A payment within tolerance is checked before expiry, so a paid order never
 * expires. If the paid amount falls back below tolerance, for example when
 * a transaction is dropped, the order is treated as unpaid again.
 */
enum order_status order_status_next(enum order_status current,
				    const struct order_facts *facts)
{
	if (facts == NULL || order_status_is_final(current))
		return current;
	if (facts->expected > 0 &&
	    order_amount_is_paid(facts->expected, facts->received,
				 facts->tolerance_under_pct))
		return status_paid(facts);
	return status_unpaid(facts);
}

bool order_payment_is_late(enum order_status status, const struct order_facts *facts)
{
	if (facts == NULL)
		return false;
	if (status != ORDER_PAID_UNCONFIRMED && status != ORDER_CONFIRMED &&
	    status != ORDER_OVERPAID)
		return false;
	return !order_amount_is_paid(facts->expected, facts->received_in_time,
				     facts->tolerance_under_pct);
}
