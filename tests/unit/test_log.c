/*
 * Unit tests of the log line format: which values are quoted, how quotes,
 * backslashes and control bytes are escaped, where long values are cut, and
 * that tokens and signing secrets are redacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Write one line with key "k" and value, and return the text after "k=". */
static char *
logged_value(const char *value)
{
	static char line[8192];
	FILE *capture = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;
	char *start, *end;

	assert_non_null(capture);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
	log_write(LOG_ERROR, "test", "k", value, NULL);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);

	rewind(capture);
	n = fread(line, 1, sizeof(line) - 1, capture);
	fclose(capture);
	line[n] = '\0';
	start = strstr(line, " k=");
	assert_non_null(start);
	start += 3;
	end = strrchr(start, '\n');
	assert_non_null(end);
	*end = '\0';
	return start;
}

static void test_plain_value_unquoted(void **state)
{
	(void)state;
	assert_string_equal(logged_value("GET"), "GET");
	assert_string_equal(logged_value("/order/o12345"), "/order/o12345");
	assert_string_equal(logged_value("127.0.0.1"), "127.0.0.1");
}

static void test_value_quoted(void **state)
{
	(void)state;
	assert_string_equal(logged_value(""), "\"\"");
	assert_string_equal(logged_value(NULL), "\"\"");
	assert_string_equal(logged_value("two words"), "\"two words\"");
	assert_string_equal(logged_value("a=b"), "\"a=b\"");
	assert_string_equal(logged_value("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

static void test_value_escaped(void **state)
{
	(void)state;
	assert_string_equal(logged_value("say \"hi\""), "\"say \\\"hi\\\"\"");
	assert_string_equal(logged_value("C:\\dir"), "\"C:\\\\dir\"");
	assert_string_equal(logged_value("line\nnext"), "\"line\\x0anext\"");
	assert_string_equal(logged_value("del\x7f"), "\"del\\x7f\"");
}

static void test_long_value_cut(void **state)
{
	(void)state;
	char value[LOG_VALUE_MAX + 11];
	char expected[LOG_VALUE_MAX + 4];

	memset(value, 'a', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	memset(expected, 'a', LOG_VALUE_MAX);
	memcpy(expected + LOG_VALUE_MAX, "...", 4);
	assert_string_equal(logged_value(value), expected);

	value[LOG_VALUE_MAX - 1] = '\0';
	assert_int_equal(strlen(logged_value(value)), LOG_VALUE_MAX - 1);
}

static void test_secrets_redacted(void **state)
{
	(void)state;
	assert_string_equal(logged_value("cp_live_AbCdEf0123456789"), "cp_live_[redacted]");
	assert_string_equal(logged_value("/pay?t=cp_test_Xyz-987&x=1"),
	                    "\"/pay?t=cp_test_[redacted]&x=1\"");
	assert_string_equal(logged_value("whsec_secret123 tail"), "\"whsec_[redacted] tail\"");
	assert_string_equal(logged_value("snake_case_name"), "snake_case_name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_value_unquoted),
		cmocka_unit_test(test_value_quoted),
		cmocka_unit_test(test_value_escaped),
		cmocka_unit_test(test_long_value_cut),
		cmocka_unit_test(test_secrets_redacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
