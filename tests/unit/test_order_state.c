/* Unit tests of order_state.c: status codes, tolerances and transitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "limits.h"
#include "money.h"
#include "order_state.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* 9.5 ETH in wei, above the 64-bit limit of about 9.2 ETH. */
#define ETH_9_5 ((money_t)95 * 100000000000000000LL)

struct status_case {
	enum order_status status;
	const char *code;
	const char *label;
	bool final;
};

static const struct status_case status_cases[] = {
	{ ORDER_IN_PROGRESS, "IN_PROGRESS", "In progress", false },
	{ ORDER_PAID_UNCONFIRMED, "PAID_UNCONFIRMED", "Paid, awaiting confirmations", false },
	{ ORDER_CONFIRMED, "CONFIRMED", "Confirmed", true },
	{ ORDER_UNDERPAID, "UNDERPAID", "Underpaid", false },
	{ ORDER_OVERPAID, "OVERPAID", "Overpaid", true },
	{ ORDER_EXPIRED, "EXPIRED", "Expired", false },
	{ ORDER_CANCELED, "CANCELED", "Canceled", true },
};

/* Wire code of a status for failure messages, even an invalid one. */
static const char *status_name(enum order_status status)
{
	const char *code = order_status_code(status);

	return code != NULL ? code : "(invalid)";
}

static void order_status_codes_and_labels(void **state)
{
	for (size_t i = 0; i < COUNT(status_cases); i++) {
		const struct status_case *c = &status_cases[i];
		enum order_status parsed = ORDER_CANCELED;

		assert_string_equal(order_status_code(c->status), c->code);
		assert_string_equal(order_status_label(c->status), c->label);
		assert_int_equal(order_status_parse(c->code, &parsed), 0);
		assert_string_equal(status_name(parsed), c->code);
		assert_int_equal(order_status_is_final(c->status), c->final);
	}
}

static void order_status_invalid(void **state)
{
	enum order_status status;
	enum order_status invalid = (enum order_status)99;

	assert_null(order_status_code(invalid));
	assert_null(order_status_label(invalid));
	assert_true(order_status_is_final(invalid));
	assert_int_equal(order_status_parse("in_progress", &status), -1);
	assert_int_equal(order_status_parse("PAID", &status), -1);
	assert_int_equal(order_status_parse("CONFIRMED ", &status), -1);
	assert_int_equal(order_status_parse("", &status), -1);
	assert_int_equal(order_status_parse(NULL, &status), -1);
	assert_int_equal(order_status_parse("CONFIRMED", NULL), -1);
}

struct tolerance_case {
	const char *name;
	money_t expected;
	money_t received;
	int percent;
	bool result;
};

/* Paid when received * 100 >= expected * (100 - percent). */
static const struct tolerance_case paid_cases[] = {
	{ "exact, no tolerance", 1000, 1000, 0, true },
	{ "one unit short, no tolerance", 1000, 999, 0, false },
	{ "one unit over, no tolerance", 1000, 1001, 0, true },
	{ "5% short exactly", 1000, 950, 5, true },
	{ "5% short plus one unit", 1000, 949, 5, false },
	{ "5% short minus one unit", 1000, 951, 5, true },
	{ "inexact threshold 990.99, above", 1001, 991, 1, true },
	{ "inexact threshold 990.99, below", 1001, 990, 1, false },
	{ "99% tolerance", 1000, 10, 99, true },
	{ "99% tolerance, one unit short", 1000, 9, 99, false },
	{ "9.5 ETH exact", ETH_9_5, ETH_9_5, 0, true },
	{ "9.5 ETH one wei short", ETH_9_5, ETH_9_5 - 1, 0, false },
	{ "9.5 ETH 1% short exactly", ETH_9_5, ETH_9_5 / 100 * 99, 1, true },
	{ "9.5 ETH 1% short plus one wei", ETH_9_5, ETH_9_5 / 100 * 99 - 1, 1, false },
	{ "nothing received", 1000, 0, 5, false },
	{ "negative received", 1000, -1000, 5, false },
	{ "tolerance above 99 is 99", 1000, 10, 150, true },
	{ "tolerance above 99, below 1%", 1000, 9, 150, false },
	{ "negative tolerance is 0", 1000, 999, -5, false },
};

/* Overpaid when received * 100 > expected * (100 + percent). */
static const struct tolerance_case overpaid_cases[] = {
	{ "exact, no tolerance", 1000, 1000, 0, false },
	{ "one unit over, no tolerance", 1000, 1001, 0, true },
	{ "5% over exactly", 1000, 1050, 5, false },
	{ "5% over plus one unit", 1000, 1051, 5, true },
	{ "5% over minus one unit", 1000, 1049, 5, false },
	{ "inexact threshold 1011.01, below", 1001, 1011, 1, false },
	{ "inexact threshold 1011.01, above", 1001, 1012, 1, true },
	{ "9.5 ETH one wei over", ETH_9_5, ETH_9_5 + 1, 0, true },
	{ "9.5 ETH 1% over exactly", ETH_9_5, ETH_9_5 / 100 * 101, 1, false },
	{ "9.5 ETH 1% over plus one wei", ETH_9_5, ETH_9_5 / 100 * 101 + 1, 1, true },
	{ "short payment", 1000, 500, 0, false },
};

/* Compare "name: true" texts, so a failing table row names itself. */
static void assert_case_bool(const char *name, bool actual, bool expected)
{
	char actual_text[128];
	char expected_text[128];

	snprintf(actual_text, sizeof(actual_text), "%s: %s", name,
		 actual ? "true" : "false");
	snprintf(expected_text, sizeof(expected_text), "%s: %s", name,
		 expected ? "true" : "false");
	assert_string_equal(actual_text, expected_text);
}

static void order_amount_paid_table(void **state)
{
	for (size_t i = 0; i < COUNT(paid_cases); i++) {
		const struct tolerance_case *c = &paid_cases[i];

		assert_case_bool(c->name,
				 order_amount_is_paid(c->expected, c->received, c->percent),
				 c->result);
	}
}

static void order_amount_overpaid_table(void **state)
{
	for (size_t i = 0; i < COUNT(overpaid_cases); i++) {
		const struct tolerance_case *c = &overpaid_cases[i];

		assert_case_bool(c->name,
				 order_amount_is_overpaid(c->expected, c->received, c->percent),
				 c->result);
	}
}

/* Amounts near 2^127 compare exactly even though amount * 199 overflows. */
static void order_amount_extremes(void **state)
{
	money_t max;

	assert_int_equal(money_units_parse("170141183460469231731687303715884105727", &max), 0);
	assert_true(order_amount_is_paid(max, max, 0));
	assert_false(order_amount_is_paid(max, max - 1, 0));
	/* max is 100q + 27, so the 1% threshold 99 * max / 100 is 99q + 26.73. */
	assert_true(order_amount_is_paid(max, max / 100 * 99 + 27, 1));
	assert_false(order_amount_is_paid(max, max / 100 * 99 + 26, 1));
	assert_false(order_amount_is_overpaid(max, max, 0));
	assert_true(order_amount_is_overpaid(max - 1, max, 0));
	assert_false(order_amount_is_overpaid(max / 3 * 2, max, 99));
	assert_true(order_amount_is_overpaid(max / 3, max, 99));
}

struct transition_case {
	const char *name;
	enum order_status current;
	struct order_facts facts;
	enum order_status next;
};

/* Facts with a 1000 unit quote, 5% tolerance both ways, all received in time. */
#define FACTS(received_units, confirmed_units, is_expired) \
	{ .expected = 1000, .received = (received_units), \
	  .received_confirmed = (confirmed_units), .received_in_time = (received_units), \
	  .tolerance_under_pct = 5, .tolerance_over_pct = 5, .expired = (is_expired) }

/* Facts of a 9.5 ETH quote without tolerance. */
#define FACTS_ETH(received_units) \
	{ .expected = ETH_9_5, .received = (received_units), \
	  .received_confirmed = (received_units), .received_in_time = (received_units) }

static const struct transition_case transition_cases[] = {
	{ "no coin chosen", ORDER_IN_PROGRESS,
	  { .tolerance_under_pct = 5, .tolerance_over_pct = 5 }, ORDER_IN_PROGRESS },
	{ "no coin chosen, expired", ORDER_IN_PROGRESS,
	  { .tolerance_under_pct = 5, .tolerance_over_pct = 5, .expired = true }, ORDER_EXPIRED },
	{ "nothing received", ORDER_IN_PROGRESS,
	  FACTS(0, 0, false), ORDER_IN_PROGRESS },
	{ "nothing received, expired", ORDER_IN_PROGRESS,
	  FACTS(0, 0, true), ORDER_EXPIRED },
	{ "partial payment", ORDER_IN_PROGRESS,
	  FACTS(500, 500, false), ORDER_IN_PROGRESS },
	{ "partial payment, expired", ORDER_IN_PROGRESS,
	  FACTS(500, 500, true), ORDER_UNDERPAID },
	{ "partial unconfirmed payment, expired", ORDER_IN_PROGRESS,
	  FACTS(500, 0, true), ORDER_UNDERPAID },
	{ "one unit below tolerance", ORDER_IN_PROGRESS,
	  FACTS(949, 949, false), ORDER_IN_PROGRESS },
	{ "one unit below tolerance, expired", ORDER_IN_PROGRESS,
	  FACTS(949, 949, true), ORDER_UNDERPAID },
	{ "full payment unconfirmed", ORDER_IN_PROGRESS,
	  FACTS(1000, 0, false), ORDER_PAID_UNCONFIRMED },
	{ "full payment unconfirmed, expired", ORDER_IN_PROGRESS,
	  FACTS(1000, 0, true), ORDER_PAID_UNCONFIRMED },
	{ "full payment partly confirmed", ORDER_IN_PROGRESS,
	  FACTS(1000, 500, false), ORDER_PAID_UNCONFIRMED },
	{ "full payment confirmed", ORDER_IN_PROGRESS,
	  FACTS(1000, 1000, false), ORDER_CONFIRMED },
	{ "full payment confirmed, expired", ORDER_IN_PROGRESS,
	  FACTS(1000, 1000, true), ORDER_CONFIRMED },
	{ "at lower tolerance, confirmed", ORDER_IN_PROGRESS,
	  FACTS(950, 950, false), ORDER_CONFIRMED },
	{ "at upper tolerance, confirmed", ORDER_IN_PROGRESS,
	  FACTS(1050, 1050, false), ORDER_CONFIRMED },
	{ "one unit above upper tolerance, confirmed", ORDER_IN_PROGRESS,
	  FACTS(1051, 1051, false), ORDER_OVERPAID },
	{ "overpayment unconfirmed", ORDER_IN_PROGRESS,
	  FACTS(2000, 0, false), ORDER_PAID_UNCONFIRMED },
	{ "extra payment still unconfirmed", ORDER_IN_PROGRESS,
	  FACTS(2000, 1000, false), ORDER_CONFIRMED },
	{ "unconfirmed becomes confirmed", ORDER_PAID_UNCONFIRMED,
	  FACTS(1000, 1000, false), ORDER_CONFIRMED },
	{ "unconfirmed becomes overpaid", ORDER_PAID_UNCONFIRMED,
	  FACTS(1200, 1200, true), ORDER_OVERPAID },
	{ "unconfirmed stays after expiry", ORDER_PAID_UNCONFIRMED,
	  FACTS(1000, 500, true), ORDER_PAID_UNCONFIRMED },
	{ "unconfirmed payment dropped", ORDER_PAID_UNCONFIRMED,
	  FACTS(0, 0, false), ORDER_IN_PROGRESS },
	{ "unconfirmed payment dropped, expired", ORDER_PAID_UNCONFIRMED,
	  FACTS(0, 0, true), ORDER_EXPIRED },
	{ "9.5 ETH one wei short", ORDER_IN_PROGRESS,
	  FACTS_ETH(ETH_9_5 - 1), ORDER_IN_PROGRESS },
	{ "9.5 ETH exact, confirmed", ORDER_IN_PROGRESS,
	  FACTS_ETH(ETH_9_5), ORDER_CONFIRMED },
	{ "9.5 ETH one wei over, confirmed", ORDER_IN_PROGRESS,
	  FACTS_ETH(ETH_9_5 + 1), ORDER_OVERPAID },
};

/* Compare "name: CODE" texts, so a failing table row names itself. */
static void assert_case_status(const char *name, enum order_status actual,
			       enum order_status expected)
{
	char actual_text[128];
	char expected_text[128];

	snprintf(actual_text, sizeof(actual_text), "%s: %s", name, status_name(actual));
	snprintf(expected_text, sizeof(expected_text), "%s: %s", name,
		 status_name(expected));
	assert_string_equal(actual_text, expected_text);
}

static void order_status_next_table(void **state)
{
	for (size_t i = 0; i < COUNT(transition_cases); i++) {
		const struct transition_case *c = &transition_cases[i];

		assert_case_status(c->name, order_status_next(c->current, &c->facts),
				   c->next);
	}
}

/* Facts that would move a status that is not final. */
static const struct order_facts moving_facts[] = {
	FACTS(0, 0, false),
	FACTS(0, 0, true),
	FACTS(500, 500, true),
	FACTS(1000, 0, false),
	FACTS(1000, 1000, false),
	FACTS(2000, 2000, false),
};

static void order_status_final_stays(void **state)
{
	for (size_t i = 0; i < COUNT(status_cases); i++) {
		enum order_status status = status_cases[i].status;

		if (!status_cases[i].final)
			continue;
		for (size_t f = 0; f < COUNT(moving_facts); f++)
			assert_case_status(status_cases[i].code,
					   order_status_next(status, &moving_facts[f]),
					   status);
	}
}

static void order_status_next_without_facts(void **state)
{
	assert_int_equal(order_status_next(ORDER_IN_PROGRESS, NULL), ORDER_IN_PROGRESS);
	assert_int_equal(order_status_next(ORDER_PAID_UNCONFIRMED, NULL),
			 ORDER_PAID_UNCONFIRMED);
}

/* An arbitrary expiry time; the life cycle cases give times relative to it. */
#define EXPIRES_AT_MS 1800000000000LL
#define MINUTE_MS (60 * 1000LL)
#define AFTER_WINDOW_MS (CP_ORDER_LATE_WINDOW_MS + MINUTE_MS)

/* One transaction of a life cycle case. */
struct payment {
	money_t amount;        /* base units; 0 ends the list */
	bool confirmed;
	int64_t seen_ms;       /* first seen, relative to expiry */
};

/*
 * A payment history replayed from `current` at `now_ms` (relative to expiry)
 * on a 1000 unit quote with 5% tolerance both ways.
 */
struct lifecycle_case {
	const char *name;
	enum order_status current;
	int64_t now_ms;
	struct payment payments[3];
	enum order_status next;
	bool late;
};

static const struct lifecycle_case lifecycle_cases[] = {
	{ "lower tolerance -1, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 949, true, -2 * MINUTE_MS } }, ORDER_IN_PROGRESS, false },
	{ "lower tolerance, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 950, true, -2 * MINUTE_MS } }, ORDER_CONFIRMED, false },
	{ "lower tolerance +1, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 951, true, -2 * MINUTE_MS } }, ORDER_CONFIRMED, false },
	{ "upper tolerance -1, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 1049, true, -2 * MINUTE_MS } }, ORDER_CONFIRMED, false },
	{ "upper tolerance, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 1050, true, -2 * MINUTE_MS } }, ORDER_CONFIRMED, false },
	{ "upper tolerance +1, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 1051, true, -2 * MINUTE_MS } }, ORDER_OVERPAID, false },
	{ "lower tolerance -1, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 949, true, MINUTE_MS } }, ORDER_UNDERPAID, false },
	{ "lower tolerance, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 950, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "lower tolerance +1, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 951, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "upper tolerance -1, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 1049, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "upper tolerance, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 1050, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "upper tolerance +1, late", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 1051, true, MINUTE_MS } }, ORDER_OVERPAID, true },
	{ "late full, unconfirmed", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 1000, false, MINUTE_MS } }, ORDER_PAID_UNCONFIRMED, true },
	{ "late full, confirmed", ORDER_PAID_UNCONFIRMED, 3 * MINUTE_MS,
	  { { 1000, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "late full, last window minute", ORDER_EXPIRED, CP_ORDER_LATE_WINDOW_MS - 1,
	  { { 1000, false, CP_ORDER_LATE_WINDOW_MS - MINUTE_MS } }, ORDER_PAID_UNCONFIRMED, true },
	{ "late full, confirmed after window", ORDER_PAID_UNCONFIRMED, AFTER_WINDOW_MS,
	  { { 1000, true, MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "late partial", ORDER_EXPIRED, 2 * MINUTE_MS,
	  { { 500, false, MINUTE_MS } }, ORDER_UNDERPAID, false },
	{ "late rest of underpaid", ORDER_UNDERPAID, 3 * MINUTE_MS,
	  { { 500, true, -MINUTE_MS }, { 500, true, 2 * MINUTE_MS } }, ORDER_CONFIRMED, true },
	{ "late rest, unconfirmed", ORDER_UNDERPAID, 3 * MINUTE_MS,
	  { { 500, true, -MINUTE_MS }, { 500, false, 2 * MINUTE_MS } },
	  ORDER_PAID_UNCONFIRMED, true },
	{ "late full after window", ORDER_EXPIRED, AFTER_WINDOW_MS,
	  { { 1000, true, AFTER_WINDOW_MS - 1 } }, ORDER_EXPIRED, false },
	{ "late rest after window", ORDER_UNDERPAID, AFTER_WINDOW_MS,
	  { { 500, true, -MINUTE_MS }, { 500, true, CP_ORDER_LATE_WINDOW_MS } },
	  ORDER_UNDERPAID, false },
	{ "over, in time", ORDER_IN_PROGRESS, -MINUTE_MS,
	  { { 600, true, -3 * MINUTE_MS }, { 600, true, -2 * MINUTE_MS } }, ORDER_OVERPAID, false },
	{ "over, late", ORDER_UNDERPAID, 2 * MINUTE_MS,
	  { { 600, true, -MINUTE_MS }, { 600, true, MINUTE_MS } }, ORDER_OVERPAID, true },
	{ "in time, confirmed late", ORDER_PAID_UNCONFIRMED, 2 * MINUTE_MS,
	  { { 1000, true, -MINUTE_MS } }, ORDER_CONFIRMED, false },
	{ "expired with nothing", ORDER_IN_PROGRESS, 0,
	  { { 0 } }, ORDER_EXPIRED, false },
	{ "expired, nothing in window", ORDER_EXPIRED, AFTER_WINDOW_MS,
	  { { 0 } }, ORDER_EXPIRED, false },
	{ "expired partial", ORDER_IN_PROGRESS, 0,
	  { { 500, true, -MINUTE_MS } }, ORDER_UNDERPAID, false },
	{ "expired partial, unconfirmed", ORDER_IN_PROGRESS, 0,
	  { { 500, false, -MINUTE_MS } }, ORDER_UNDERPAID, false },
	{ "cancelled with a payment", ORDER_CANCELED, MINUTE_MS,
	  { { 1000, true, -MINUTE_MS } }, ORDER_CANCELED, false },
	{ "cancelled with a late payment", ORDER_CANCELED, 2 * MINUTE_MS,
	  { { 1000, true, MINUTE_MS } }, ORDER_CANCELED, false },
};

/* Compare "name: true" texts, so a failing table row names itself. */
static void assert_case_flag(const char *name, bool actual, bool expected)
{
	char actual_text[128];
	char expected_text[128];

	snprintf(actual_text, sizeof(actual_text), "%s: late %s", name,
		 actual ? "true" : "false");
	snprintf(expected_text, sizeof(expected_text), "%s: late %s", name,
		 expected ? "true" : "false");
	assert_string_equal(actual_text, expected_text);
}

static void order_lifecycle_table(void **state)
{
	for (size_t i = 0; i < COUNT(lifecycle_cases); i++) {
		const struct lifecycle_case *c = &lifecycle_cases[i];
		struct order_facts facts = FACTS(0, 0, c->now_ms >= 0);
		enum order_status next;

		for (size_t p = 0; p < COUNT(c->payments) && c->payments[p].amount > 0; p++)
			order_facts_add(&facts, EXPIRES_AT_MS, c->payments[p].amount,
					c->payments[p].confirmed,
					EXPIRES_AT_MS + c->payments[p].seen_ms);
		next = order_status_next(c->current, &facts);

		assert_case_status(c->name, next, c->next);
		assert_case_flag(c->name, order_payment_is_late(next, &facts), c->late);
	}
}

static void order_payment_late_without_facts(void **state)
{
	assert_false(order_payment_is_late(ORDER_CONFIRMED, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(order_status_codes_and_labels),
		cmocka_unit_test(order_status_invalid),
		cmocka_unit_test(order_amount_paid_table),
		cmocka_unit_test(order_amount_overpaid_table),
		cmocka_unit_test(order_amount_extremes),
		cmocka_unit_test(order_status_next_table),
		cmocka_unit_test(order_status_final_stays),
		cmocka_unit_test(order_status_next_without_facts),
		cmocka_unit_test(order_lifecycle_table),
		cmocka_unit_test(order_payment_late_without_facts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
