/*
 * Unit tests for password hashing, the password policy and generated
 * passwords. Each argon2id hash or verification allocates 64 MiB.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "password.h"

#define GOOD_PASSWORD "correct horse battery staple"

static int setup_sodium(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void test_hash_then_verify(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash(GOOD_PASSWORD, hash, sizeof hash), 0);
	assert_true(password_verify(hash, GOOD_PASSWORD));
	assert_false(password_verify(hash, "correct horse battery stapl"));
	assert_false(password_verify(hash, "Correct horse battery staple"));
	assert_false(password_verify(hash, ""));
	assert_false(password_verify(hash, NULL));
}

static void test_hash_is_argon2id(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash(GOOD_PASSWORD, hash, sizeof hash), 0);
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_false(password_needs_rehash(hash));
}

static void test_hash_salted(void **state)
{
	char first[PASSWORD_HASH_MAX];
	char second[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash(GOOD_PASSWORD, first, sizeof first), 0);
	assert_int_equal(password_hash(GOOD_PASSWORD, second, sizeof second), 0);
	assert_string_not_equal(first, second);
	assert_true(password_verify(second, GOOD_PASSWORD));
}

static void test_hash_small_buffer(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash(GOOD_PASSWORD, hash, sizeof hash - 1), -1);
	assert_int_equal(password_hash(NULL, hash, sizeof hash), -1);
}

static void test_verify_bad_hash(void **state)
{
	char unterminated[PASSWORD_HASH_MAX + 8];

	memset(unterminated, 'a', sizeof unterminated);
	memcpy(unterminated, "$argon2id$", 10);
	unterminated[sizeof unterminated - 1] = '\0';

	assert_false(password_verify(NULL, GOOD_PASSWORD));
	assert_false(password_verify("", GOOD_PASSWORD));
	assert_false(password_verify("$argon2id$", GOOD_PASSWORD));
	assert_false(password_verify("$argon2id$v=19$m=65536,t=2,p=1$garbage", GOOD_PASSWORD));
	assert_false(password_verify(unterminated, GOOD_PASSWORD));
}

static void test_verify_rejects_argon2i(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	/* A valid argon2i hash of GOOD_PASSWORD: libsodium would accept it. */
	assert_int_equal(crypto_pwhash_str_alg(hash, GOOD_PASSWORD, strlen(GOOD_PASSWORD),
	                                       crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE,
	                                       crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE,
	                                       crypto_pwhash_ALG_ARGON2I13),
	                 0);
	assert_false(password_verify(hash, GOOD_PASSWORD));
	assert_true(password_needs_rehash(hash));
}

static void test_needs_rehash_other_costs(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(crypto_pwhash_str_alg(hash, GOOD_PASSWORD, strlen(GOOD_PASSWORD),
	                                       crypto_pwhash_OPSLIMIT_MIN,
	                                       crypto_pwhash_MEMLIMIT_MIN,
	                                       crypto_pwhash_ALG_ARGON2ID13),
	                 0);
	assert_true(password_verify(hash, GOOD_PASSWORD));
	assert_true(password_needs_rehash(hash));
	assert_true(password_needs_rehash("not a hash"));
	assert_true(password_needs_rehash(NULL));
}

static void test_verify_dummy_runs(void **state)
{
	/* The dummy hash is made with the same costs as real hashes, so only
	 * that it runs, with or without a password, is checked here. */
	password_verify_dummy("wrong password here");
	password_verify_dummy(NULL);
	assert_true(true);
}

static void check_rejected(const char *password)
{
	char why[160] = "";

	assert_int_equal(password_check_policy(password, why, sizeof why), -1);
	assert_true(strlen(why) > 0);
}

static void test_policy_accepts(void **state)
{
	char why[160] = "unchanged";

	assert_int_equal(password_check_policy(GOOD_PASSWORD, why, sizeof why), 0);
	assert_string_equal(why, "");
	assert_int_equal(password_check_policy("twelve chars", NULL, 0), 0);
	/* 12 code points in 24 bytes: the limit counts characters, not bytes. */
	assert_int_equal(password_check_policy("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c"
	                                       "\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c",
	                                       NULL, 0),
	                 0);
	/* Characters outside the Basic Multilingual Plane. */
	assert_int_equal(password_check_policy("\xf0\x9f\x94\x91 key \xf0\x9f\x94\x92 lock",
	                                       NULL, 0),
	                 0);
}

static void test_policy_short(void **state)
{
	char why[160];

	assert_int_equal(password_check_policy("eleven char", why, sizeof why), -1);
	assert_string_equal(why, "The password has 11 characters, but at least 12 are required.");
	check_rejected("");
	/* 11 code points in 22 bytes. */
	check_rejected("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xbf\xd0\xb0\xd1\x80"
	               "\xd0\xbe\xd0\xbb");
	check_rejected(NULL);
}

static void test_policy_long(void **state)
{
	char text[PASSWORD_MAX_BYTES + 8];
	char why[160];

	for (size_t i = 0; i < PASSWORD_MAX_CHARS; i++)
		text[i] = (char)('a' + i % 26);
	text[PASSWORD_MAX_CHARS] = '\0';
	assert_int_equal(password_check_policy(text, NULL, 0), 0);

	text[PASSWORD_MAX_CHARS] = 'x';
	text[PASSWORD_MAX_CHARS + 1] = '\0';
	assert_int_equal(password_check_policy(text, why, sizeof why), -1);
	assert_string_equal(why, "The password has 257 characters, but at most 256 are allowed.");

	memset(text, 'b', sizeof text - 1);
	text[0] = 'a';
	text[sizeof text - 1] = '\0';
	assert_int_equal(password_check_policy(text, why, sizeof why), -1);
	assert_string_equal(why, "The password is longer than 256 characters.");
}

static void test_policy_control_chars(void **state)
{
	check_rejected("correct\thorse battery");
	check_rejected("correct horse battery\n");
	check_rejected("correct horse\rbattery");
	check_rejected("correct horse\x1b battery");
	check_rejected("correct horse\x7f battery");
	/* U+0085, NEXT LINE, a C1 control. */
	check_rejected("correct horse\xc2\x85 battery");
}

static void test_policy_invalid_utf8(void **state)
{
	char why[160];

	assert_int_equal(password_check_policy("correct horse \xff battery", why, sizeof why), -1);
	assert_string_equal(why, "The password is not valid UTF-8 text.");
	/* A lone continuation byte. */
	check_rejected("correct horse \x80 battery");
	/* An overlong encoding of '/'. */
	check_rejected("correct horse \xc0\xaf battery");
	/* An overlong 3-byte encoding of U+007F. */
	check_rejected("correct horse \xe0\x81\xbf battery");
	/* The surrogate U+D800. */
	check_rejected("correct horse \xed\xa0\x80 battery");
	/* U+110000, above the Unicode range. */
	check_rejected("correct horse \xf4\x90\x80\x80 battery");
	/* A 3-byte sequence cut after two bytes at the end. */
	check_rejected("correct horse battery \xe2\x82");
}

static void test_policy_repeated_char(void **state)
{
	char why[160];

	assert_int_equal(password_check_policy("aaaaaaaaaaaaaaaa", why, sizeof why), -1);
	assert_string_equal(why, "The password repeats one character throughout. Use different "
	                         "characters.");
	check_rejected("                ");
	check_rejected("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	               "\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_int_equal(password_check_policy("aaaaaaaaaaaaaaab", NULL, 0), 0);
}

static void test_policy_small_why(void **state)
{
	char why[8];

	assert_int_equal(password_check_policy("short", why, sizeof why), -1);
	assert_string_equal(why, "The pas");
}

static void check_generated(const char *password)
{
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";

	assert_int_equal(strlen(password), PASSWORD_GENERATED_LEN);
	for (size_t i = 0; i < PASSWORD_GENERATED_LEN; i++) {
		if (i % 5 == 4)
			assert_int_equal(password[i], '-');
		else
			assert_non_null(strchr(alphabet, password[i]));
	}
	assert_null(strpbrk(password, "01ilo"));
	assert_int_equal(password_check_policy(password, NULL, 0), 0);
}

static void test_generate(void **state)
{
	char first[PASSWORD_GENERATED_MAX];
	char second[PASSWORD_GENERATED_MAX];

	password_generate(first, sizeof first);
	password_generate(second, sizeof second);
	check_generated(first);
	check_generated(second);
	assert_string_not_equal(first, second);
}

static void test_generate_many(void **state)
{
	for (int i = 0; i < 200; i++) {
		char password[PASSWORD_GENERATED_MAX];

		password_generate(password, sizeof password);
		check_generated(password);
	}
}

static void test_generate_small_buffer(void **state)
{
	char password[PASSWORD_GENERATED_MAX];

	memset(password, 'x', sizeof password);
	password_generate(password, sizeof password - 1);
	assert_string_equal(password, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_then_verify),
		cmocka_unit_test(test_hash_is_argon2id),
		cmocka_unit_test(test_hash_salted),
		cmocka_unit_test(test_hash_small_buffer),
		cmocka_unit_test(test_verify_bad_hash),
		cmocka_unit_test(test_verify_rejects_argon2i),
		cmocka_unit_test(test_needs_rehash_other_costs),
		cmocka_unit_test(test_verify_dummy_runs),
		cmocka_unit_test(test_policy_accepts),
		cmocka_unit_test(test_policy_short),
		cmocka_unit_test(test_policy_long),
		cmocka_unit_test(test_policy_control_chars),
		cmocka_unit_test(test_policy_invalid_utf8),
		cmocka_unit_test(test_policy_repeated_char),
		cmocka_unit_test(test_policy_small_why),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_many),
		cmocka_unit_test(test_generate_small_buffer),
	};
	return cmocka_run_group_tests(tests, setup_sodium, NULL);
}
