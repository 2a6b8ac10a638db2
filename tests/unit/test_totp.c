/*
 * Unit tests for TOTP codes, base32 secrets and key URIs.
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

#include "totp.h"

/* The SHA1 secret of RFC 6238 Appendix B and RFC 4226 Appendix D. */
static const uint8_t RFC_SECRET[] = "12345678901234567890";
#define RFC_SECRET_LEN 20
#define RFC_SECRET_BASE32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/* Unix time 1111111111 is in step 37037037. */
#define NOW_S    1111111111
#define NOW_STEP 37037037

static int setup_sodium(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void format_code(int64_t step, char out[TOTP_DIGITS + 1])
{
	snprintf(out, TOTP_DIGITS + 1, "%06u",
	         (unsigned int)totp_code(RFC_SECRET, RFC_SECRET_LEN, step));
}

static void test_rfc6238_vectors(void **state)
{
	/* Appendix B gives 8-digit codes, and 6-digit codes are their last 6 digits. */
	static const struct {
		int64_t time;
		int64_t step;
		uint32_t code8;
	} vectors[] = {
		{59, 0x1, 94287082},
		{1111111109, 0x23523EC, 7081804},
		{1111111111, 0x23523ED, 14050471},
		{1234567890, 0x273EF07, 89005924},
		{2000000000, 0x3F940AA, 69279037},
		{20000000000, 0x27BC86AA, 65353130},
	};

	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		int64_t step = totp_step(vectors[i].time);

		assert_int_equal(step, vectors[i].step);
		assert_int_equal(totp_code(RFC_SECRET, RFC_SECRET_LEN, step),
		                 vectors[i].code8 % 1000000);
	}
}

static void test_rfc4226_hotp(void **state)
{
	static const uint32_t expected[] = {
		755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
	};

	for (int64_t counter = 0; counter < 10; counter++)
		assert_int_equal(totp_code(RFC_SECRET, RFC_SECRET_LEN, counter), expected[counter]);
}

static void test_step_floor(void **state)
{
	assert_int_equal(totp_step(0), 0);
	assert_int_equal(totp_step(29), 0);
	assert_int_equal(totp_step(30), 1);
	assert_int_equal(totp_step(-1), -1);
	assert_int_equal(totp_step(-30), -1);
	assert_int_equal(totp_step(-31), -2);
}

static const struct {
	const char *data;
	const char *text;
} RFC4648_VECTORS[] = {
	{"", ""},
	{"f", "MY"},
	{"fo", "MZXQ"},
	{"foo", "MZXW6"},
	{"foob", "MZXW6YQ"},
	{"fooba", "MZXW6YTB"},
	{"foobar", "MZXW6YTBOI"},
};

static void test_base32_encode_rfc4648(void **state)
{
	for (size_t i = 0; i < sizeof RFC4648_VECTORS / sizeof RFC4648_VECTORS[0]; i++) {
		const char *data = RFC4648_VECTORS[i].data;
		char out[32];
		size_t len = totp_base32_encode((const uint8_t *)data, strlen(data), out, sizeof out);

		assert_int_equal(len, strlen(RFC4648_VECTORS[i].text));
		assert_string_equal(out, RFC4648_VECTORS[i].text);
	}
}

static void test_base32_decode_rfc4648(void **state)
{
	for (size_t i = 0; i < sizeof RFC4648_VECTORS / sizeof RFC4648_VECTORS[0]; i++) {
		const char *data = RFC4648_VECTORS[i].data;
		uint8_t out[32];
		size_t written = 99;

		assert_int_equal(totp_base32_decode(RFC4648_VECTORS[i].text, out, sizeof out, &written),
		                 0);
		assert_int_equal(written, strlen(data));
		assert_memory_equal(out, data, written);
	}
}

static void test_base32_secret_encoding(void **state)
{
	char out[TOTP_SECRET_TEXT_MAX];

	assert_int_equal(totp_base32_encode(RFC_SECRET, RFC_SECRET_LEN, out, sizeof out), 32);
	assert_string_equal(out, RFC_SECRET_BASE32);
}

static void test_base32_round_trip(void **state)
{
	uint8_t data[41];

	randombytes_buf(data, sizeof data);
	for (size_t len = 0; len <= sizeof data; len++) {
		char text[80];
		uint8_t decoded[41];
		size_t written = 0;

		assert_int_equal(totp_base32_encode(data, len, text, sizeof text), (8 * len + 4) / 5);
		assert_int_equal(totp_base32_decode(text, decoded, sizeof decoded, &written), 0);
		assert_int_equal(written, len);
		assert_memory_equal(decoded, data, len);
	}
}

static void test_base32_case_and_separators(void **state)
{
	uint8_t out[16];
	size_t written = 0;

	assert_int_equal(totp_base32_decode("mzxw 6ytb-oi", out, sizeof out, &written), 0);
	assert_int_equal(written, 6);
	assert_memory_equal(out, "foobar", 6);
}

static void test_base32_invalid(void **state)
{
	uint8_t out[16];
	size_t written = 99;

	assert_int_equal(totp_base32_decode("MZXW6YTB0I", out, sizeof out, &written), -1);
	assert_int_equal(written, 0);
	assert_int_equal(totp_base32_decode("MZXW6YTB1I", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXW6YTBOI==", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXW6YTB_OI", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXW\t6YTB", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("M\xc3\x89", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode(NULL, out, sizeof out, &written), -1);
}

static void test_base32_impossible_length(void **state)
{
	uint8_t out[16];
	size_t written = 0;

	assert_int_equal(totp_base32_decode("M", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZX", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXW6Y", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXW6YTBM", out, sizeof out, &written), -1);
}

static void test_base32_nonzero_padding_bits(void **state)
{
	uint8_t out[16];
	size_t written = 0;

	/* "MZ" carries the 8 bits of "f" plus two set bits that no encoder writes. */
	assert_int_equal(totp_base32_decode("MZ", out, sizeof out, &written), -1);
	assert_int_equal(totp_base32_decode("MZXR", out, sizeof out, &written), -1);
}

static void test_base32_small_buffers(void **state)
{
	char text[10];
	uint8_t out[5];
	size_t written = 99;

	assert_int_equal(totp_base32_encode((const uint8_t *)"foobar", 6, text, sizeof text), 0);
	assert_string_equal(text, "");
	assert_int_equal(totp_base32_decode("MZXW6YTBOI", out, sizeof out, &written), -1);
	assert_int_equal(written, 0);
	assert_int_equal(totp_base32_decode("MZXW6YTB", out, sizeof out, &written), 0);
	assert_int_equal(written, 5);
}

static void test_secret_generate(void **state)
{
	uint8_t first[TOTP_SECRET_BYTES];
	uint8_t second[TOTP_SECRET_BYTES];
	char text[TOTP_SECRET_TEXT_MAX];

	totp_secret_generate(first);
	totp_secret_generate(second);
	assert_memory_not_equal(first, second, TOTP_SECRET_BYTES);
	assert_int_equal(totp_base32_encode(first, sizeof first, text, sizeof text), 32);
}

static void test_verify_current_step(void **state)
{
	char code[TOTP_DIGITS + 1];

	format_code(NOW_STEP, code);
	assert_string_equal(code, "050471");
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN), NOW_STEP);
}

static void test_verify_adjacent_steps(void **state)
{
	char code[TOTP_DIGITS + 1];

	format_code(NOW_STEP - 1, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN),
	                 NOW_STEP - 1);
	format_code(NOW_STEP + 1, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN),
	                 NOW_STEP + 1);
}

static void test_verify_two_steps_away(void **state)
{
	char code[TOTP_DIGITS + 1];

	format_code(NOW_STEP - 2, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN), -1);
	format_code(NOW_STEP + 2, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN), -1);
}

static void test_verify_replay(void **state)
{
	char code[TOTP_DIGITS + 1];
	int64_t used;

	format_code(NOW_STEP, code);
	used = totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, INT64_MIN);
	assert_int_equal(used, NOW_STEP);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, used), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S + 10, used), -1);

	/* After the current step is used, the previous step's code is rejected too. */
	format_code(NOW_STEP - 1, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, used), -1);

	/* The next step's code still passes. */
	format_code(NOW_STEP + 1, code);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, code, NOW_S, used), NOW_STEP + 1);
}

static void test_verify_spaces(void **state)
{
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "050 471", NOW_S, INT64_MIN),
	                 NOW_STEP);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, " 050471 ", NOW_S, INT64_MIN),
	                 NOW_STEP);
}

static void test_verify_wrong_length(void **state)
{
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "05047", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "0504710", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "14050471", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "050471           ", NOW_S,
	                             INT64_MIN),
	                 -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, NULL, NOW_S, INT64_MIN), -1);
}

static void test_verify_non_digits(void **state)
{
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "05o471", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "+50471", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "050-471", NOW_S, INT64_MIN), -1);
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "050\t471", NOW_S, INT64_MIN), -1);
	/* Arabic-Indic digits are digits in Unicode but not in ASCII. */
	assert_int_equal(totp_verify(RFC_SECRET, RFC_SECRET_LEN, "\xd9\xa0" "50471", NOW_S,
	                             INT64_MIN),
	                 -1);
}

static void test_verify_wrong_secret(void **state)
{
	static const uint8_t other[] = "12345678901234567891";

	assert_int_equal(totp_verify(other, RFC_SECRET_LEN, "050471", NOW_S, INT64_MIN), -1);
}

static void test_uri_escaping(void **state)
{
	char uri[TOTP_URI_MAX];

	totp_uri("Mug Shop & Co", "ann.lee+shop@example.com", RFC_SECRET_BASE32, uri, sizeof uri);
	assert_string_equal(uri, "otpauth://totp/Mug%20Shop%20%26%20Co:ann.lee%2Bshop%40example.com"
	                         "?secret=" RFC_SECRET_BASE32 "&issuer=Mug%20Shop%20%26%20Co"
	                         "&algorithm=SHA1&digits=6&period=30");
}

static void test_uri_utf8_and_reserved(void **state)
{
	char uri[TOTP_URI_MAX];

	totp_uri("Caf\xc3\xa9", "a:b/c?d", "MZXW6", uri, sizeof uri);
	assert_string_equal(uri, "otpauth://totp/Caf%C3%A9:a%3Ab%2Fc%3Fd?secret=MZXW6"
	                         "&issuer=Caf%C3%A9&algorithm=SHA1&digits=6&period=30");
}

static void test_uri_small_buffer(void **state)
{
	static const char expected[] = "otpauth://totp/Shop:a%40b.c?secret=MZXW6&issuer=Shop"
	                               "&algorithm=SHA1&digits=6&period=30";
	char uri[sizeof expected];

	totp_uri("Shop", "a@b.c", "MZXW6", uri, sizeof expected);
	assert_string_equal(uri, expected);
	totp_uri("Shop", "a@b.c", "MZXW6", uri, sizeof expected - 1);
	assert_string_equal(uri, "");
	totp_uri("Shop", "a@b.c", "MZXW6", uri, 20);
	assert_string_equal(uri, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_rfc4226_hotp),
		cmocka_unit_test(test_step_floor),
		cmocka_unit_test(test_base32_encode_rfc4648),
		cmocka_unit_test(test_base32_decode_rfc4648),
		cmocka_unit_test(test_base32_secret_encoding),
		cmocka_unit_test(test_base32_round_trip),
		cmocka_unit_test(test_base32_case_and_separators),
		cmocka_unit_test(test_base32_invalid),
		cmocka_unit_test(test_base32_impossible_length),
		cmocka_unit_test(test_base32_nonzero_padding_bits),
		cmocka_unit_test(test_base32_small_buffers),
		cmocka_unit_test(test_secret_generate),
		cmocka_unit_test(test_verify_current_step),
		cmocka_unit_test(test_verify_adjacent_steps),
		cmocka_unit_test(test_verify_two_steps_away),
		cmocka_unit_test(test_verify_replay),
		cmocka_unit_test(test_verify_spaces),
		cmocka_unit_test(test_verify_wrong_length),
		cmocka_unit_test(test_verify_non_digits),
		cmocka_unit_test(test_verify_wrong_secret),
		cmocka_unit_test(test_uri_escaping),
		cmocka_unit_test(test_uri_utf8_and_reserved),
		cmocka_unit_test(test_uri_small_buffer),
	};
	return cmocka_run_group_tests(tests, setup_sodium, NULL);
}
