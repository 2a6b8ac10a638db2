/*
 * Unit tests for the key file and sealed secrets. Key files go into a
 * fresh directory under /tmp that the group teardown removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"

static char test_dir[64];

/* Names of every file a test may create, so teardown can remove them. */
static const char *const key_names[] = {
	"twice.key", "mode.key", "short.key", "seal.key", "other.key",
};

static void key_path(const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", test_dir, name);
	assert_true(n > 0 && (size_t)n < len);
}

static int setup_dir(void **state)
{
	if (sodium_init() < 0)
		return -1;
	snprintf(test_dir, sizeof test_dir, "/tmp/citypay-keys-XXXXXX");
	return mkdtemp(test_dir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char path[128];

	for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", test_dir, key_names[i]);
		unlink(path);
	}
	return rmdir(test_dir) == 0 ? 0 : -1;
}

/* Load the named key file, creating it first when it does not exist yet. */
static void load_named(const char *name, struct keys *keys)
{
	char path[128];
	char err[256] = "";

	key_path(name, path, sizeof path);
	if (access(path, F_OK) != 0 && keys_create(path, err, sizeof err) != 0)
		fail_msg("keys_create failed: %s", err);
	if (keys_load(path, keys, err, sizeof err) != 0)
		fail_msg("keys_load failed: %s", err);
}

static void test_default_path(void **state)
{
	char out[32];
	char tiny[8] = "xxxxxxx";

	keys_default_path("/var/lib/citypay.db", out, sizeof out);
	assert_string_equal(out, "/var/lib/citypay.db.key");
	keys_default_path("/var/lib/citypay.db", tiny, sizeof tiny);
	assert_string_equal(tiny, "");
}

static void test_create_mode_and_size(void **state)
{
	char path[128];
	char err[256] = "";
	struct stat st;

	key_path("seal.key", path, sizeof path);
	assert_int_equal(keys_create(path, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, KEYS_BYTES);
}

static void test_create_twice_fails(void **state)
{
	char path[128];
	char err[256] = "";
	uint8_t before[KEYS_BYTES];
	uint8_t after[KEYS_BYTES];

	key_path("twice.key", path, sizeof path);
	assert_int_equal(keys_create(path, err, sizeof err), 0);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(before, 1, sizeof before, f), sizeof before);
	fclose(f);

	assert_int_equal(keys_create(path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "already exists"));

	/* The first key is still in place. */
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(after, 1, sizeof after, f), sizeof after);
	fclose(f);
	assert_memory_equal(before, after, sizeof before);
}

static void test_load_rejects_group_readable(void **state)
{
	char path[128];
	char err[256] = "";
	struct keys keys;

	key_path("mode.key", path, sizeof path);
	assert_int_equal(keys_create(path, err, sizeof err), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(keys_load(path, &keys, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "chmod 600"));

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(keys_load(path, &keys, err, sizeof err), -1);
	assert_int_equal(chmod(path, 0400), 0);
	err[0] = '\0';
	if (keys_load(path, &keys, err, sizeof err) != 0)
		fail_msg("keys_load of a 0400 file failed: %s", err);
}

static void test_load_rejects_wrong_size(void **state)
{
	char path[128];
	char err[256] = "";
	struct keys keys;

	key_path("short.key", path, sizeof path);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite("0123456789", 1, 10, f), 10);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);

	assert_int_equal(keys_load(path, &keys, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "10 bytes"));
}

static void test_load_missing(void **state)
{
	char path[128];
	char err[256] = "";
	struct keys keys;

	key_path("absent.key", path, sizeof path);
	assert_int_equal(keys_load(path, &keys, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "missing"));

	assert_int_equal(keys_load(test_dir, &keys, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_derived_keys_differ(void **state)
{
	struct keys keys;
	struct keys other;
	struct keys again;
	static const struct keys zero;

	load_named("seal.key", &keys);
	load_named("other.key", &other);
	assert_memory_not_equal(keys.token_key, keys.seal_key, KEYS_BYTES);
	assert_memory_not_equal(keys.token_key, other.token_key, KEYS_BYTES);
	assert_memory_not_equal(keys.seal_key, other.seal_key, KEYS_BYTES);

	/* Loading the same file twice derives the same keys. */
	load_named("seal.key", &again);
	assert_memory_equal(&keys, &again, sizeof keys);

	keys_wipe(&again);
	assert_memory_equal(&again, &zero, sizeof zero);
}

static void test_seal_round_trip(void **state)
{
	struct keys keys;
	char sealed[256];
	char again[256];
	char opened[128];
	const char *secret = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDE";

	load_named("seal.key", &keys);
	assert_int_equal(keys_seal(&keys, secret, sealed, sizeof sealed), 0);
	assert_null(strstr(sealed, secret));
	assert_int_equal(strspn(sealed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                "0123456789-_"),
	                 strlen(sealed));
	assert_int_equal(keys_open(&keys, sealed, opened, sizeof opened), 0);
	assert_string_equal(opened, secret);

	/* A fresh nonce makes every seal of the same secret different. */
	assert_int_equal(keys_seal(&keys, secret, again, sizeof again), 0);
	assert_string_not_equal(sealed, again);

	assert_int_equal(keys_seal(&keys, "", sealed, sizeof sealed), 0);
	assert_int_equal(keys_open(&keys, sealed, opened, sizeof opened), 0);
	assert_string_equal(opened, "");
}

static void test_seal_buffer_too_small(void **state)
{
	struct keys keys;
	char sealed[128];
	char opened[8];
	const char *secret = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDE";

	load_named("seal.key", &keys);
	/* 40 bytes of nonce and MAC plus 47 of secret need 116 characters and a NUL. */
	assert_int_equal(keys_seal(&keys, secret, sealed, 116), -1);
	assert_int_equal(keys_seal(&keys, secret, sealed, 117), 0);
	assert_int_equal(strlen(sealed), 116);
	assert_int_equal(keys_open(&keys, sealed, opened, sizeof opened), -1);
	assert_string_equal(opened, "");
}

static void test_open_tampered_fails(void **state)
{
	struct keys keys;
	struct keys other;
	char sealed[256];
	char opened[128];

	load_named("seal.key", &keys);
	assert_int_equal(keys_seal(&keys, "whsec_secret", sealed, sizeof sealed), 0);

	/* Flip each character in turn: nonce, ciphertext and MAC all count. */
	size_t len = strlen(sealed);
	for (size_t i = 0; i + 1 < len; i++) {
		char copy[256];
		memcpy(copy, sealed, len + 1);
		copy[i] = copy[i] == 'A' ? 'B' : 'A';
		if (keys_open(&keys, copy, opened, sizeof opened) != -1)
			fail_msg("keys_open accepted %s with character %zu changed", copy, i);
	}

	char cut[256];
	memcpy(cut, sealed, len - 4);
	cut[len - 4] = '\0';
	assert_int_equal(keys_open(&keys, cut, opened, sizeof opened), -1);
	assert_int_equal(keys_open(&keys, "not base64!", opened, sizeof opened), -1);
	assert_int_equal(keys_open(&keys, "", opened, sizeof opened), -1);
	assert_int_equal(keys_open(&keys, "AAAA", opened, sizeof opened), -1);

	load_named("other.key", &other);
	assert_int_equal(keys_open(&other, sealed, opened, sizeof opened), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_create_mode_and_size),
		cmocka_unit_test(test_create_twice_fails),
		cmocka_unit_test(test_load_rejects_group_readable),
		cmocka_unit_test(test_load_rejects_wrong_size),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_derived_keys_differ),
		cmocka_unit_test(test_seal_round_trip),
		cmocka_unit_test(test_seal_buffer_too_small),
		cmocka_unit_test(test_open_tampered_fails),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
