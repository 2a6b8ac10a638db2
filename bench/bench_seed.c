/*
 * Seed a store with orders for the benchmarks, through the store API in
 * large transactions, so that 1,000,000 orders take seconds and not the
 * hours that one durable commit per order would.
 *
 *   bench_seed --db PATH --customer ID --orders N [--prefix TEXT]
 *              [--batch ROWS] [--events]
 *
 * The orders belong to the customer's first active access token, cost
 * 25.50 in the token's currency, expire in 24 hours and have the order
 * tokens PREFIX0 .. PREFIX(N-1). With --events each order also gets one
 * "status_changed" callback event (events_order()), with one pending
 * delivery per callback URL of the token, as a state change would write.
 * Prints one JSON object: the rows written and the seconds taken.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "events.h"
#include "gateway.h"
#include "log.h"
#include "store.h"

#define SEED_BATCH_DEFAULT 10000
#define SEED_AMOUNT_MINOR  2550  /* 25.50 in a currency with two fraction digits */

struct seed_options {
	const char *db_path;
	int64_t customer_id;
	long orders;
	const char *prefix;
	long batch;
	bool events;
};

/* The first active token seen by store_token_list(). */
struct seed_token_pick {
	struct access_token token;
	bool found;
};

static void
seed_pick_token(const struct access_token *t, void *arg)
{
	struct seed_token_pick *pick = arg;

	if (pick->found || t->revoked_at != 0)
		return;
	pick->token = *t;
	pick->found = true;
}

static int
seed_parse_long(const char *name, const char *text, long min, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min) {
		fprintf(stderr, "bench_seed: %s must be an integer of at least %ld, got \"%s\"\n",
		        name, min, text);
		return -1;
	}
	*out = v;
	return 0;
}

static int
seed_parse_args(int argc, char **argv, struct seed_options *opt)
{
	long customer = 0;

	*opt = (struct seed_options){ .prefix = "seed-", .batch = SEED_BATCH_DEFAULT };
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;

		if (strcmp(arg, "--events") == 0) {
			opt->events = true;
			continue;
		}
		if (value == NULL) {
			fprintf(stderr, "bench_seed: %s is missing its value\n", arg);
			return -1;
		}
		i++;
		if (strcmp(arg, "--db") == 0)
			opt->db_path = value;
		else if (strcmp(arg, "--prefix") == 0)
			opt->prefix = value;
		else if (strcmp(arg, "--customer") == 0)
			rc = seed_parse_long(arg, value, 1, &customer);
		else if (strcmp(arg, "--orders") == 0)
			rc = seed_parse_long(arg, value, 1, &opt->orders);
		else if (strcmp(arg, "--batch") == 0)
			rc = seed_parse_long(arg, value, 1, &opt->batch);
		else {
			fprintf(stderr, "bench_seed: unknown option %s\n", arg);
			return -1;
		}
		if (rc != 0)
			return -1;
	}
	opt->customer_id = customer;
	if (opt->db_path == NULL || opt->customer_id == 0 || opt->orders == 0) {
		fprintf(stderr, "usage: bench_seed --db PATH --customer ID --orders N"
		        " [--prefix TEXT] [--batch ROWS] [--events]\n");
		return -1;
	}
	return 0;
}

static void
seed_fill_order(const struct merchant *m, const struct access_token *t, const char *prefix,
                long index, int64_t now_ms, struct order *o)
{
	memset(o, 0, sizeof(*o));
	o->merchant_id = m->id;
	o->token_id = t->id;
	o->mode = t->mode;
	snprintf(o->token, sizeof(o->token), "%s%ld", prefix, index);
	snprintf(o->client_order_id, sizeof(o->client_order_id), "bench-%ld", index);
	o->amount_fiat = SEED_AMOUNT_MINOR;
	snprintf(o->currency, sizeof(o->currency), "%s", t->currency);
	o->status = ORDER_IN_PROGRESS;
	o->tolerance_under_pct = m->tolerance_under_pct;
	o->tolerance_over_pct = m->tolerance_over_pct;
	o->created_at_ms = now_ms;
	o->updated_at_ms = now_ms;
	o->expires_at_ms = now_ms + 24LL * 3600 * 1000;
}

/* Write orders [first, first + count) in one transaction. */
static enum cp_result
seed_batch(struct gateway *gw, const struct seed_options *opt, const struct merchant *m,
           const struct access_token *t, long first, long count)
{
	int64_t now_ms = gateway_now_ms(gw);
	enum cp_result rc;
	struct order o;

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	for (long i = first; i < first + count && rc == CP_OK; i++) {
		seed_fill_order(m, t, opt->prefix, i, now_ms, &o);
		rc = store_order_insert(gw->store, &o);
		if (rc == CP_OK && opt->events)
			rc = events_order(gw, &o, "status_changed", NULL, NULL);
	}
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	return store_commit(gw->store);
}

static int
seed_run(struct gateway *gw, const struct seed_options *opt)
{
	struct seed_token_pick pick = { .found = false };
	struct merchant m;
	enum cp_result rc;

	if ((rc = store_begin_read(gw->store)) != CP_OK)
		return -1;
	rc = store_merchant_get(gw->store, opt->customer_id, &m);
	if (rc == CP_OK)
		rc = store_token_list(gw->store, opt->customer_id, seed_pick_token, &pick);
	store_rollback(gw->store);
	if (rc != CP_OK) {
		fprintf(stderr, "bench_seed: reading customer %lld failed (%s)\n",
		        (long long)opt->customer_id, cp_strerror(rc));
		return -1;
	}
	if (!pick.found) {
		fprintf(stderr, "bench_seed: customer %lld has no active access token; create one"
		        " with citypayctl token add\n", (long long)opt->customer_id);
		return -1;
	}

	for (long first = 0; first < opt->orders; first += opt->batch) {
		long count = opt->orders - first < opt->batch ? opt->orders - first : opt->batch;

		if ((rc = seed_batch(gw, opt, &m, &pick.token, first, count)) != CP_OK) {
			fprintf(stderr, "bench_seed: writing orders %ld to %ld failed (%s)\n",
			        first, first + count - 1, cp_strerror(rc));
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct gateway gw = { .cfg = &cfg };
	struct seed_options opt;
	struct timespec start, end;
	char err[512];
	int status = 1;

	if (seed_parse_args(argc, argv, &opt) != 0)
		return 2;
	if (sodium_init() < 0)
		return 1;
	/* events_order() logs one line per event, which would flood stderr here. */
	log_set_level(LOG_WARN);
	config_defaults(&cfg);

	if ((gw.store = store_open(opt.db_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_seed: cannot open %s: %s\n", opt.db_path, err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (seed_run(&gw, &opt) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		printf("{\"orders\":%ld,\"events\":%s,\"batch\":%ld,\"seconds\":%.3f}\n",
		       opt.orders, opt.events ? "true" : "false", opt.batch,
		       (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
		status = 0;
	}
	store_close(gw.store);
	return status;
}
