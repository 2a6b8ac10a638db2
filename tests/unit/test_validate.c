/*
 * Unit tests of the shared field checks, with the inputs the fuzzer found
 * kept as named regression cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

/* Check bytes in a heap block of exactly their length, so AddressSanitizer
 * reports any read past the end. */
static bool
multiline_exact(const unsigned char *bytes, size_t len)
{
	char *copy = malloc(len);
	bool ok;

	assert_non_null(copy);
	memcpy(copy, bytes, len);
	ok = validate_multiline_text(copy, len);
	free(copy);
	return ok;
}

static void
test_truncated_three_byte_sequence(void **state)
{
	/* fuzz_validate crash: "ht" and a lead byte of a 3-byte sequence. */
	static const unsigned char input[] = { 0x68, 0x74, 0xe6 };

	assert_false(multiline_exact(input, sizeof(input)));
}

static void
test_truncated_four_byte_sequence(void **state)
{
	/* fuzz_validate crash: "h" and a lead byte of a 4-byte sequence. */
	static const unsigned char input[] = { 0x68, 0xf4 };

	assert_false(multiline_exact(input, sizeof(input)));
}

static void
test_multiline_accepts_text(void **state)
{
	static const unsigned char input[] = "2 x Mug\r\n1 x Spoon \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80";

	assert_true(multiline_exact(input, sizeof(input) - 1));
}

static void
test_multiline_rejects_bad_bytes(void **state)
{
	static const unsigned char nul[] = { 'a', 0x00, 'b' };
	static const unsigned char control[] = { 'a', 0x01 };
	static const unsigned char surrogate[] = { 0xed, 0xa0, 0x80 };
	static const unsigned char overlong[] = { 0xc0, 0xaf };
	static const unsigned char too_high[] = { 0xf4, 0x90, 0x80, 0x80 };

	assert_false(multiline_exact(nul, sizeof(nul)));
	assert_false(multiline_exact(control, sizeof(control)));
	assert_false(multiline_exact(surrogate, sizeof(surrogate)));
	assert_false(multiline_exact(overlong, sizeof(overlong)));
	assert_false(multiline_exact(too_high, sizeof(too_high)));
}

static void
test_text_counts_characters(void **state)
{
	char name[64 * 2 + 1] = "";

	for (int i = 0; i < 64; i++)
		strcat(name, "\xc3\xbc");
	assert_true(validate_text(name, 64));
	assert_false(validate_text(name, 63));
	assert_false(validate_text("line\nbreak", 64));
	assert_false(validate_text("cut \xe2\x82", 64));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_three_byte_sequence),
		cmocka_unit_test(test_truncated_four_byte_sequence),
		cmocka_unit_test(test_multiline_accepts_text),
		cmocka_unit_test(test_multiline_rejects_bad_bytes),
		cmocka_unit_test(test_text_counts_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
