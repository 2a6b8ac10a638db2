/*
 * Microbenchmarks of the request hot paths, on a real store:
 *
 *   BENCH_TOKEN=cp_test_... bench_micro --db PATH --customer ID --order TOKEN
 *               [--quick] [--case NAME]
 *
 * The access token comes from the environment so that it stays out of the
 * process list. --order names an order of that store, for the order view.
 * Each case is timed with CLOCK_MONOTONIC over a loop of calls. The loop
 * length is doubled until one round takes at least BENCH_ROUND_NS. The
 * result is the median time per call over the rounds, printed as one JSON
 * object per case on stdout. --case runs only the named case, for a profiler
 * (perf record -g --call-graph dwarf).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "auth.h"
#include "callback.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "money.h"
#include "token_cache.h"
#include "views.h"

#define BENCH_ROUNDS        9
#define BENCH_ROUNDS_QUICK  3
#define BENCH_ROUND_NS      (100 * 1000 * 1000LL)
#define BENCH_ROUND_NS_QUICK (20 * 1000 * 1000LL)
#define BENCH_ROUNDS_MAX    BENCH_ROUNDS

/* An order event body of the usual size (about 700 bytes), for signing. */
static const char bench_event_body[] =
	"{\"type\":\"order\",\"action\":\"confirmation\",\"status\":\"CONFIRMED\","
	"\"order_status\":\"CONFIRMED\",\"order_id\":123456,\"client_order_id\":\"shop-2041-77\","
	"\"order_token\":\"4f1c9a2e-6b7d-4c1e-9a55-0e2b7c3d9f10\","
	"\"transaction_id\":\"9c2f0b7e5d4a3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4\","
	"\"amount\":\"25.50\",\"amount_in_coins\":\"0.00041234\","
	"\"received_amount_in_coins\":\"0.00041234\",\"received_amount_in_fiat\":\"25.50\","
	"\"fiat_currency\":\"USD\",\"crypto_currency\":\"BTC\","
	"\"created_at\":\"2026-01-15T10:20:30Z\",\"order_expiration\":60,"
	"\"exchange_rate\":\"61842.17\",\"late\":false,\"sandbox\":true,"
	"\"event_id\":\"evt_0a1b2c3d4e5f6g7h8j9k0m1n2p\",\"sequence\":3}";

typedef int (*bench_fn)(void *ctx);

struct bench_case {
	const char *name;
	bench_fn fn;
	void *ctx;
};

/* Shared state of the cases: the gateway on the store and the request fields. */
struct bench_context {
	struct gateway gw;
	struct auth_request auth;
	struct ipaddr client;
	const char *order_token;
	char sealed_secret[160];
};

static volatile int64_t bench_sink;

static int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Run fn n times; returns the nanoseconds taken, or -1 when a call failed. */
static int64_t
bench_loop(const struct bench_case *c, long n)
{
	int64_t start = bench_now_ns();
	int failed = 0;

	for (long i = 0; i < n; i++)
		failed |= c->fn(c->ctx);
	if (failed)
		return -1;
	return bench_now_ns() - start;
}

static int
bench_compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Time one case and print its JSON line; -1 when a call failed. */
static int
bench_run(const struct bench_case *c, int rounds, int64_t round_ns)
{
	double per_call[BENCH_ROUNDS_MAX];
	long n = 1;
	int64_t took;

	/* Double the loop until a round is long enough for the clock. */
	while ((took = bench_loop(c, n)) >= 0 && took < round_ns)
		n *= 2;
	for (int r = 0; r < rounds && took >= 0; r++) {
		took = bench_loop(c, n);
		per_call[r] = (double)took / (double)n;
	}
	if (took < 0) {
		fprintf(stderr, "bench_micro: %s failed; see the messages above\n", c->name);
		return -1;
	}
	qsort(per_call, (size_t)rounds, sizeof(per_call[0]), bench_compare_double);
	printf("{\"name\":\"%s\",\"ns_per_call\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"calls_per_round\":%ld,\"rounds\":%d}\n", c->name, per_call[rounds / 2],
	       per_call[0], per_call[rounds - 1], n, rounds);
	fflush(stdout);
	return 0;
}

static int
bench_auth_check(void *arg)
{
	struct bench_context *ctx = arg;
	struct access_token t;
	char message[256];
	int64_t retry = 0;
	enum auth_result result;

	result = auth_check(&ctx->gw, &ctx->auth, &t, message, sizeof(message), &retry);
	if (result != AUTH_OK) {
		fprintf(stderr, "bench_micro: auth_check: %s (%s)\n", auth_reason(result), message);
		return 1;
	}
	bench_sink += t.id;
	return 0;
}

static int
bench_money_parse_fiat(void *arg)
{
	money_t units;

	if (money_parse("1234.56", 2, &units) != MONEY_OK)
		return 1;
	bench_sink += (int64_t)units;
	return 0;
}

static int
bench_money_parse_wei(void *arg)
{
	money_t units;

	if (money_parse("12.345678901234567891", 18, &units) != MONEY_OK)
		return 1;
	bench_sink += (int64_t)units;
	return 0;
}

/* Render the success envelope around data as citypayd does, and free both. */
static int
bench_render_envelope(json_object *data, int status)
{
	size_t len = 0;
	char *body = http_success_body(status, data, &len);

	bench_sink += (int64_t)len;
	free(body);
	json_object_put(data);
	return body == NULL;
}

/* The data and envelope of a generateOrder success, as api_generate_order() builds them. */
static int
bench_envelope_generate_order(void *arg)
{
	json_object *data = json_object_new_object();

	json_object_object_add(data, "id", json_object_new_int64(123456));
	json_object_object_add(data, "payment_url", json_object_new_string(
		"http://127.0.0.1:8080/invoice?token=bench-0000123456"));
	json_object_object_add(data, "token", json_object_new_string("bench-0000123456"));
	json_object_object_add(data, "status", json_object_new_string("IN_PROGRESS"));
	json_object_object_add(data, "amount", views_decimal(2550, 2, true));
	json_object_object_add(data, "currency", json_object_new_string("USD"));
	json_object_object_add(data, "expires_at", json_object_new_int64(1767225600));
	return bench_render_envelope(data, 201);
}

/* The work of GET /order/{token} between the route and libmicrohttpd. */
static int
bench_order_view(void *arg)
{
	struct bench_context *ctx = arg;
	struct order o;
	struct order_owner owner;
	json_object *data = NULL;
	enum cp_result rc;

	if (store_begin_read(ctx->gw.store) != CP_OK)
		return 1;
	rc = store_order_find_public(ctx->gw.store, ctx->order_token, &o, &owner);
	if (rc == CP_OK)
		data = views_order_public(&ctx->gw, &o, &owner);
	store_rollback(ctx->gw.store);
	if (data == NULL) {
		fprintf(stderr, "bench_micro: order %s: %s\n", ctx->order_token, cp_strerror(rc));
		return 1;
	}
	return bench_render_envelope(data, 200);
}

static int
bench_callback_sign(void *arg)
{
	char hex[CALLBACK_SIGNATURE_HEX];

	callback_sign("whsec_bench0123456789abcdefghijklmnopqrstuv", 1767225600,
	              bench_event_body, sizeof(bench_event_body) - 1, hex);
	bench_sink += hex[0];
	return 0;
}

static int
bench_secret_open(void *arg)
{
	struct bench_context *ctx = arg;
	char secret[128];

	if (keys_open(&ctx->gw.keys, ctx->sealed_secret, secret, sizeof(secret)) != 0)
		return 1;
	bench_sink += secret[0];
	return 0;
}

/* Command-line options. */
struct bench_options {
	const char *db;
	const char *order;
	const char *only_case;          /* NULL runs every case */
	long long customer;
	int quick;
};

static int
bench_parse_args(int argc, char **argv, struct bench_options *opt)
{
	for (int i = 1; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (strcmp(argv[i], "--quick") == 0) {
			opt->quick = 1;
		} else if (value != NULL && strcmp(argv[i], "--db") == 0) {
			opt->db = argv[++i];
		} else if (value != NULL && strcmp(argv[i], "--order") == 0) {
			opt->order = argv[++i];
		} else if (value != NULL && strcmp(argv[i], "--case") == 0) {
			opt->only_case = argv[++i];
		} else if (value != NULL && strcmp(argv[i], "--customer") == 0) {
			errno = 0;
			opt->customer = strtoll(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || opt->customer <= 0)
				opt->customer = 0;
		} else {
			opt->customer = 0;
			break;
		}
	}
	if (opt->db == NULL || opt->order == NULL || opt->customer == 0) {
		fprintf(stderr, "usage: BENCH_TOKEN=TOKEN bench_micro --db PATH --customer ID"
		        " --order ORDER_TOKEN [--quick] [--case NAME]\n");
		return -1;
	}
	return 0;
}

/* Open the store and keys of db and fill the request of a valid call. */
static int
bench_open(struct bench_context *ctx, struct config *cfg, const char *db,
           long long customer, const char *order)
{
	const char *token = getenv("BENCH_TOKEN");
	char err[512];

	if (token == NULL || token[0] == '\0') {
		fprintf(stderr, "bench_micro: BENCH_TOKEN is not set; export a valid access token\n");
		return -1;
	}
	config_defaults(cfg);
	keys_default_path(db, cfg->key_file, sizeof(cfg->key_file));
	if (keys_load(cfg->key_file, &ctx->gw.keys, err, sizeof(err)) != 0 ||
	    (ctx->gw.store = store_open(db, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_micro: cannot open %s: %s\n", db, err);
		return -1;
	}
	ctx->gw.cfg = cfg;
	ipaddr_parse("127.0.0.1", &ctx->client);
	ctx->auth = (struct auth_request){
		.access_token = token, .customer_id = customer,
		.client = &ctx->client, .operation = AUTH_OP_ORDER,
	};
	ctx->order_token = order;
	if (keys_seal(&ctx->gw.keys, "whsec_bench0123456789abcdefghijklmnopqrstuv",
	              ctx->sealed_secret, sizeof(ctx->sealed_secret)) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct bench_context ctx;
	struct bench_options opt = { .db = NULL };
	int failed = 0;

	if (bench_parse_args(argc, argv, &opt) != 0)
		return 2;
	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_WARN);
	if (bench_open(&ctx, &cfg, opt.db, opt.customer, opt.order) != 0)
		return 1;

	int rounds = opt.quick ? BENCH_ROUNDS_QUICK : BENCH_ROUNDS;
	int64_t round_ns = opt.quick ? BENCH_ROUND_NS_QUICK : BENCH_ROUND_NS;
	const struct bench_case cases[] = {
		{ "auth_check_store", bench_auth_check, &ctx },
		{ "auth_check", bench_auth_check, &ctx },
		{ "auth_check_rate_counted", bench_auth_check, &ctx },
		{ "money_parse_fiat", bench_money_parse_fiat, NULL },
		{ "money_parse_wei", bench_money_parse_wei, NULL },
		{ "envelope_generate_order", bench_envelope_generate_order, NULL },
		{ "order_view_envelope", bench_order_view, &ctx },
		{ "callback_sign", bench_callback_sign, NULL },
		{ "signing_secret_open", bench_secret_open, &ctx },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* auth_check_store reads the token row from the store on every
		 * call; auth_check uses the token cache, as citypayd does. The
		 * third case also counts each call against the token's rate
		 * limits, set high enough never to reject. */
		if (strcmp(cases[i].name, "auth_check") == 0)
			ctx.gw.tokens = token_cache_new();
		if (strcmp(cases[i].name, "auth_check_rate_counted") == 0) {
			cfg.limit_token_per_minute = INT32_MAX;
			cfg.limit_token_per_hour = INT32_MAX;
			ctx.gw.limits = ratelimit_new();
		}
		if (opt.only_case == NULL || strcmp(opt.only_case, cases[i].name) == 0)
			failed |= bench_run(&cases[i], rounds, round_ns);
	}

	if (ctx.gw.limits != NULL)
		ratelimit_free(ctx.gw.limits);
	token_cache_free(ctx.gw.tokens);
	store_close(ctx.gw.store);
	keys_wipe(&ctx.gw.keys);
	return failed ? 1 : 0;
}
