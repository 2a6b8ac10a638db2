/*
 * Unit tests for identifiers and the integer text of log values: random
 * and request ids, the thread's request id in log lines, log_format_int().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "gateway.h"
#include "log.h"

#define ID_ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"

static void assert_id_body(const char *body)
{
	assert_int_equal(strlen(body), 26);
	assert_int_equal(strspn(body, ID_ALPHABET), 26);
}

static void test_format_int_values(void **state)
{
	(void)state;
	char buf[24];

	assert_string_equal(log_format_int(buf, 0), "0");
	assert_string_equal(log_format_int(buf, 7), "7");
	assert_string_equal(log_format_int(buf, -42), "-42");
	assert_string_equal(log_format_int(buf, 1234567890123LL), "1234567890123");
	assert_string_equal(log_format_int(buf, INT64_MAX), "9223372036854775807");
	assert_string_equal(log_format_int(buf, INT64_MIN), "-9223372036854775808");
	assert_string_equal(log_int(201), "201");
}

static void test_request_id_set_and_clear(void **state)
{
	(void)state;
	char long_id[100];

	log_set_request_id("abc123");
	assert_string_equal(log_request_id_get(), "abc123");
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	log_set_request_id(long_id);
	assert_int_equal(strlen(log_request_id_get()), 63);
	log_set_request_id(NULL);
	assert_string_equal(log_request_id_get(), "");
}

/* Three times the 16 ids of one refill, so the pool is refilled twice. */
static void test_request_ids_differ(void **state)
{
	(void)state;
	char ids[48][32];

	for (int i = 0; i < 48; i++) {
		gateway_request_id(ids[i], sizeof(ids[i]));
		assert_id_body(ids[i]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
}

static void test_random_id_prefix_and_short_buffer(void **state)
{
	(void)state;
	char id[64];
	char short_id[8];

	gateway_random_id("evt_", id, sizeof(id));
	assert_memory_equal(id, "evt_", 4);
	assert_id_body(id + 4);

	gateway_random_id("dep_", short_id, sizeof(short_id));
	assert_int_equal(strlen(short_id), sizeof(short_id) - 1);
	assert_memory_equal(short_id, "dep_", 4);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_int_values),
		cmocka_unit_test(test_request_id_set_and_clear),
		cmocka_unit_test(test_request_ids_differ),
		cmocka_unit_test(test_random_id_prefix_and_short_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
