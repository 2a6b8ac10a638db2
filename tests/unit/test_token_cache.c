/*
 * Unit tests of the token cache: a hit copies every field back, and a new
 * token version, an old entry or another digest reads the store instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "token_cache.h"

#define LOADED_AT 1800000000

static struct access_token *
sample_token(void)
{
	struct access_token *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->id = 7;
	t->merchant_id = 3;
	strcpy(t->name, "shop \xc3\xa9");
	strcpy(t->type, "crypto");
	strcpy(t->currency, "EUR");
	strcpy(t->ip_whitelist, "127.0.0.1/32\n2001:db8::/64");
	strcpy(t->callback_urls, "https://shop.example/cb\nhttps://backup.example/cb");
	strcpy(t->success_url, "https://shop.example/ok");
	strcpy(t->cancel_url, "");
	t->expires_at = LOADED_AT + 3600;
	t->mode = TOKEN_MODE_SANDBOX;
	memset(t->digest, 0xab, TOKEN_DIGEST_BYTES);
	strcpy(t->last_chars, "Wxyz");
	strcpy(t->signing_secret_sealed, "sealed-secret-text");
	t->created_at = LOADED_AT - 10;
	t->last_used_at = LOADED_AT - 1;
	strcpy(t->last_used_ip, "127.0.0.1");
	return t;
}

static void
test_hit_copies_every_field(void **state)
{
	struct token_cache *cache = token_cache_new();
	struct access_token *in = sample_token();
	struct access_token *out = malloc(sizeof(*out));

	(void)state;
	assert_non_null(cache);
	assert_non_null(out);
	memset(out, 0x5a, sizeof(*out));
	token_cache_put(cache, in, 4, LOADED_AT);

	assert_true(token_cache_get(cache, in->digest, 4, LOADED_AT + 1, out));
	assert_int_equal(out->id, in->id);
	assert_int_equal(out->merchant_id, in->merchant_id);
	assert_string_equal(out->name, in->name);
	assert_string_equal(out->type, in->type);
	assert_string_equal(out->currency, in->currency);
	assert_string_equal(out->ip_whitelist, in->ip_whitelist);
	assert_string_equal(out->callback_urls, in->callback_urls);
	assert_string_equal(out->success_url, in->success_url);
	assert_string_equal(out->cancel_url, "");
	assert_int_equal(out->expires_at, in->expires_at);
	assert_int_equal(out->mode, in->mode);
	assert_memory_equal(out->digest, in->digest, TOKEN_DIGEST_BYTES);
	assert_string_equal(out->last_chars, in->last_chars);
	assert_string_equal(out->signing_secret_sealed, in->signing_secret_sealed);
	assert_int_equal(out->created_at, in->created_at);
	assert_int_equal(out->revoked_at, 0);
	assert_int_equal(out->last_used_at, in->last_used_at);
	assert_string_equal(out->last_used_ip, in->last_used_ip);

	free(out);
	free(in);
	token_cache_free(cache);
}

static struct ipaddr
address_of(const char *text)
{
	struct ipaddr addr;

	assert_int_equal(ipaddr_parse(text, &addr), 0);
	return addr;
}

/* A hit carries the whitelist parsed, in the order of its lines. */
static void
test_hit_parses_whitelist(void **state)
{
	struct token_cache *cache = token_cache_new();
	struct access_token *in = sample_token();
	struct access_token *out = malloc(sizeof(*out));
	struct ipaddr inside = address_of("2001:db8::7");
	struct ipaddr outside = address_of("127.0.0.2");

	(void)state;
	assert_non_null(cache);
	assert_non_null(out);
	memset(out, 0x5a, sizeof(*out));
	token_cache_put(cache, in, 4, LOADED_AT);

	assert_true(token_cache_get(cache, in->digest, 4, LOADED_AT + 1, out));
	assert_true(out->whitelist_parsed);
	assert_int_equal(out->whitelist_count, 2);
	assert_int_equal(out->whitelist[0].prefix, 128);
	assert_int_equal(out->whitelist[1].prefix, 64);
	assert_true(ipnet_list_contains(out->whitelist, out->whitelist_count, &inside));
	assert_false(ipnet_list_contains(out->whitelist, out->whitelist_count, &outside));

	free(out);
	free(in);
	token_cache_free(cache);
}

static void
test_misses(void **state)
{
	struct token_cache *cache = token_cache_new();
	struct access_token *in = sample_token();
	struct access_token *out = malloc(sizeof(*out));
	uint8_t other[TOKEN_DIGEST_BYTES];

	(void)state;
	assert_non_null(out);
	token_cache_put(cache, in, 4, LOADED_AT);

	/* A token changed since the entry was loaded. */
	assert_false(token_cache_get(cache, in->digest, 5, LOADED_AT, out));
	/* An entry at its maximum age, and a clock that went back. */
	assert_false(token_cache_get(cache, in->digest, 4, LOADED_AT + TOKEN_CACHE_MAX_AGE_S, out));
	assert_true(token_cache_get(cache, in->digest, 4, LOADED_AT + TOKEN_CACHE_MAX_AGE_S - 1, out));
	assert_false(token_cache_get(cache, in->digest, 4, LOADED_AT - 1, out));
	/* Another digest in the same slot: only the first bytes are equal. */
	memcpy(other, in->digest, sizeof(other));
	other[TOKEN_DIGEST_BYTES - 1] ^= 1;
	assert_false(token_cache_get(cache, other, 4, LOADED_AT, out));

	free(out);
	free(in);
	token_cache_free(cache);
}

static void
test_put_replaces_entry(void **state)
{
	struct token_cache *cache = token_cache_new();
	struct access_token *in = sample_token();
	struct access_token *out = malloc(sizeof(*out));

	(void)state;
	assert_non_null(out);
	token_cache_put(cache, in, 4, LOADED_AT);
	in->revoked_at = LOADED_AT + 5;
	token_cache_put(cache, in, 5, LOADED_AT + 5);

	assert_false(token_cache_get(cache, in->digest, 4, LOADED_AT + 6, out));
	assert_true(token_cache_get(cache, in->digest, 5, LOADED_AT + 6, out));
	assert_int_equal(out->revoked_at, LOADED_AT + 5);

	free(out);
	free(in);
	token_cache_free(cache);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_copies_every_field),
		cmocka_unit_test(test_hit_parses_whitelist),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_put_replaces_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
