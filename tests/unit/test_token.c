/*
 * Unit tests for access token format, digests and signing secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "token.h"

#define TOKEN_LEN 46 /* 8 prefix + 32 random + 6 checksum characters */

static int setup_sodium(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void test_mode_names(void **state)
{
	enum token_mode mode = TOKEN_MODE_LIVE;

	assert_string_equal(token_mode_name(TOKEN_MODE_LIVE), "live");
	assert_string_equal(token_mode_name(TOKEN_MODE_SANDBOX), "sandbox");
	assert_int_equal(token_mode_parse("sandbox", &mode), 0);
	assert_int_equal(mode, TOKEN_MODE_SANDBOX);
	assert_int_equal(token_mode_parse("live", &mode), 0);
	assert_int_equal(mode, TOKEN_MODE_LIVE);
	assert_int_equal(token_mode_parse("test", &mode), -1);
	assert_int_equal(token_mode_parse("Live", &mode), -1);
	assert_int_equal(token_mode_parse("", &mode), -1);
	assert_int_equal(token_mode_parse(NULL, &mode), -1);
}

static void check_round_trip(enum token_mode mode, const char *prefix)
{
	char token[TOKEN_TEXT_MAX];
	enum token_mode found = mode == TOKEN_MODE_LIVE ? TOKEN_MODE_SANDBOX : TOKEN_MODE_LIVE;

	token_generate(mode, token);
	assert_int_equal(strlen(token), TOKEN_LEN);
	assert_memory_equal(token, prefix, strlen(prefix));
	assert_int_equal(token_check_format(token, &found), TOKEN_FORMAT_OK);
	assert_int_equal(found, mode);
}

static void test_generate_live(void **state)
{
	check_round_trip(TOKEN_MODE_LIVE, TOKEN_PREFIX_LIVE);
}

static void test_generate_sandbox(void **state)
{
	check_round_trip(TOKEN_MODE_SANDBOX, TOKEN_PREFIX_SANDBOX);
}

static void test_generate_unique(void **state)
{
	char first[TOKEN_TEXT_MAX];
	char second[TOKEN_TEXT_MAX];

	token_generate(TOKEN_MODE_LIVE, first);
	token_generate(TOKEN_MODE_LIVE, second);
	assert_string_not_equal(first, second);
}

static void test_check_many_tokens(void **state)
{
	/* Any byte pattern of the random part must encode to valid characters. */
	for (int i = 0; i < 200; i++) {
		char token[TOKEN_TEXT_MAX];
		token_generate(i % 2 == 0 ? TOKEN_MODE_LIVE : TOKEN_MODE_SANDBOX, token);
		assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_OK);
	}
}

/* Change one character to another base64url character. */
static char other_char(char c)
{
	return c == 'A' ? 'B' : 'A';
}

static void test_changed_char_fails_checksum(void **state)
{
	char token[TOKEN_TEXT_MAX];
	enum token_mode mode = TOKEN_MODE_SANDBOX;

	token_generate(TOKEN_MODE_LIVE, token);
	for (size_t i = strlen(TOKEN_PREFIX_LIVE); i < TOKEN_LEN; i++) {
		char copy[TOKEN_TEXT_MAX];
		memcpy(copy, token, sizeof copy);
		copy[i] = other_char(copy[i]);
		if (token_check_format(copy, &mode) != TOKEN_FORMAT_CHECKSUM)
			fail_msg("changing character %zu of %s gave no checksum error", i, token);
	}
	/* A failed check leaves mode alone. */
	assert_int_equal(mode, TOKEN_MODE_SANDBOX);
}

static void test_swapped_prefix_fails_checksum(void **state)
{
	/* The checksum covers the prefix, so a live token cannot pass as sandbox. */
	char token[TOKEN_TEXT_MAX];

	token_generate(TOKEN_MODE_LIVE, token);
	memcpy(token, TOKEN_PREFIX_SANDBOX, strlen(TOKEN_PREFIX_SANDBOX));
	assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_CHECKSUM);
}

static void test_wrong_prefix(void **state)
{
	char token[TOKEN_TEXT_MAX];

	token_generate(TOKEN_MODE_LIVE, token);
	token[0] = 'C';
	assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_MALFORMED);

	token_generate(TOKEN_MODE_LIVE, token);
	memcpy(token, "cp_prod_", 8);
	assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_MALFORMED);
}

static void test_wrong_length(void **state)
{
	char token[TOKEN_TEXT_MAX];
	char longer[TOKEN_TEXT_MAX + 1];

	token_generate(TOKEN_MODE_LIVE, token);
	memcpy(longer, token, TOKEN_LEN);
	longer[TOKEN_LEN] = 'A';
	longer[TOKEN_LEN + 1] = '\0';
	assert_int_equal(token_check_format(longer, NULL), TOKEN_FORMAT_MALFORMED);

	token[TOKEN_LEN - 1] = '\0';
	assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_MALFORMED);
	assert_int_equal(token_check_format("", NULL), TOKEN_FORMAT_MALFORMED);
	assert_int_equal(token_check_format(TOKEN_PREFIX_LIVE, NULL), TOKEN_FORMAT_MALFORMED);
	assert_int_equal(token_check_format(NULL, NULL), TOKEN_FORMAT_MALFORMED);
}

static void test_unterminated_input(void **state)
{
	/*
	 * A buffer of exactly TOKEN_TEXT_MAX bytes without a NUL: the check must
	 * stop there. Plain malloc, without the guard bytes of cmocka's
	 * test_malloc, lets AddressSanitizer catch a read past the end.
	 */
	char *text = malloc(TOKEN_TEXT_MAX);
	assert_non_null(text);

	memset(text, 'A', TOKEN_TEXT_MAX);
	memcpy(text, TOKEN_PREFIX_LIVE, strlen(TOKEN_PREFIX_LIVE));
	assert_int_equal(token_check_format(text, NULL), TOKEN_FORMAT_MALFORMED);
	free(text);
}

static void test_bad_alphabet(void **state)
{
	static const char bad[] = { '+', '/', '=', ' ', '.', '\n', '\x80' };
	char token[TOKEN_TEXT_MAX];

	token_generate(TOKEN_MODE_SANDBOX, token);
	for (size_t i = 0; i < sizeof bad; i++) {
		char copy[TOKEN_TEXT_MAX];
		memcpy(copy, token, sizeof copy);
		copy[20] = bad[i];
		if (token_check_format(copy, NULL) != TOKEN_FORMAT_MALFORMED)
			fail_msg("character 0x%02x in the random part was accepted",
			         (unsigned char)bad[i]);
		memcpy(copy, token, sizeof copy);
		copy[TOKEN_LEN - 1] = bad[i];
		if (token_check_format(copy, NULL) != TOKEN_FORMAT_MALFORMED)
			fail_msg("character 0x%02x in the checksum was accepted", (unsigned char)bad[i]);
	}
}

static void test_known_checksum(void **state)
{
	/*
	 * Pins the checksum definition, so secret scanners that implement it
	 * stay compatible: the first 36 bits of BLAKE2b-256 over prefix and
	 * random part, computed here by hand.
	 */
	const char *body = "cp_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	uint8_t hash[32];
	char encoded[16];
	char token[TOKEN_TEXT_MAX];

	crypto_generichash(hash, sizeof hash, (const uint8_t *)body, strlen(body), NULL, 0);
	sodium_bin2base64(encoded, sizeof encoded, hash, 6,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(token, sizeof token, "%s%.6s", body, encoded);
	assert_int_equal(token_check_format(token, NULL), TOKEN_FORMAT_OK);
}

static void test_digest_depends_on_key(void **state)
{
	struct keys first;
	struct keys second;
	uint8_t digest_a[TOKEN_DIGEST_BYTES];
	uint8_t digest_b[TOKEN_DIGEST_BYTES];
	uint8_t digest_c[TOKEN_DIGEST_BYTES];
	char token[TOKEN_TEXT_MAX];

	randombytes_buf(&first, sizeof first);
	randombytes_buf(&second, sizeof second);
	token_generate(TOKEN_MODE_LIVE, token);

	token_digest(&first, token, digest_a);
	token_digest(&first, token, digest_b);
	token_digest(&second, token, digest_c);
	assert_memory_equal(digest_a, digest_b, TOKEN_DIGEST_BYTES);
	assert_memory_not_equal(digest_a, digest_c, TOKEN_DIGEST_BYTES);

	/* The digest is keyed, so it differs from the unkeyed hash. */
	uint8_t unkeyed[TOKEN_DIGEST_BYTES];
	crypto_generichash(unkeyed, sizeof unkeyed, (const uint8_t *)token, strlen(token), NULL, 0);
	assert_memory_not_equal(digest_a, unkeyed, TOKEN_DIGEST_BYTES);
}

static void test_digest_depends_on_token(void **state)
{
	struct keys keys;
	uint8_t digest_a[TOKEN_DIGEST_BYTES];
	uint8_t digest_b[TOKEN_DIGEST_BYTES];
	char token[TOKEN_TEXT_MAX];

	randombytes_buf(&keys, sizeof keys);
	token_generate(TOKEN_MODE_LIVE, token);
	token_digest(&keys, token, digest_a);
	token[TOKEN_LEN - 1] = other_char(token[TOKEN_LEN - 1]);
	token_digest(&keys, token, digest_b);
	assert_memory_not_equal(digest_a, digest_b, TOKEN_DIGEST_BYTES);
}

static void test_signing_secret(void **state)
{
	char first[SIGNING_SECRET_TEXT_MAX];
	char second[SIGNING_SECRET_TEXT_MAX];
	size_t prefix_len = strlen(SIGNING_SECRET_PREFIX);

	token_signing_secret_generate(first);
	token_signing_secret_generate(second);
	assert_int_equal(strlen(first), prefix_len + 43);
	assert_memory_equal(first, SIGNING_SECRET_PREFIX, prefix_len);
	assert_string_not_equal(first, second);

	uint8_t decoded[32];
	size_t decoded_len = 0;
	assert_int_equal(sodium_base642bin(decoded, sizeof decoded, first + prefix_len, 43, NULL,
	                                   &decoded_len, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	assert_int_equal(decoded_len, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_generate_live),
		cmocka_unit_test(test_generate_sandbox),
		cmocka_unit_test(test_generate_unique),
		cmocka_unit_test(test_check_many_tokens),
		cmocka_unit_test(test_changed_char_fails_checksum),
		cmocka_unit_test(test_swapped_prefix_fails_checksum),
		cmocka_unit_test(test_wrong_prefix),
		cmocka_unit_test(test_wrong_length),
		cmocka_unit_test(test_unterminated_input),
		cmocka_unit_test(test_bad_alphabet),
		cmocka_unit_test(test_known_checksum),
		cmocka_unit_test(test_digest_depends_on_key),
		cmocka_unit_test(test_digest_depends_on_token),
		cmocka_unit_test(test_signing_secret),
	};
	return cmocka_run_group_tests(tests, setup_sodium, NULL);
}
