/*
 * Unit tests for the order API's bearer JWTs: signing, verification and
 * every way a forged or damaged token must be rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "jwt.h"

#define NOW_S 1800000000LL

static uint8_t test_key[JWT_KEY_BYTES];

static int setup_key(void **state)
{
	struct keys keys;

	if (sodium_init() < 0)
		return -1;
	memset(&keys, 0x5a, sizeof(keys));
	jwt_derive_key(&keys, test_key);
	return 0;
}

static void base64url(const void *data, size_t n, char *out, size_t len)
{
	sodium_bin2base64(out, len, data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/*
 * Build a compact JWT from raw header and payload JSON, signed with HS256,
 * with HS512 when hs512 is true, or with an empty signature when unsigned.
 */
static void forge(const char *header, const char *payload, const uint8_t *key, bool hs512,
                  bool unsigned_token, char *out, size_t len)
{
	char encoded[JWT_TEXT_MAX * 2];
	uint8_t mac[crypto_auth_hmacsha512_BYTES];
	size_t used, mac_len = hs512 ? crypto_auth_hmacsha512_BYTES : crypto_auth_hmacsha256_BYTES;

	base64url(header, strlen(header), encoded, sizeof(encoded));
	used = strlen(encoded);
	if (used + 2 > len) {
		out[0] = '\0';
		return;
	}
	memcpy(out, encoded, used);
	out[used] = '.';
	out[used + 1] = '\0';
	base64url(payload, strlen(payload), encoded, sizeof(encoded));
	strncat(out, encoded, len - strlen(out) - 1);
	used = strlen(out);
	if (hs512)
		crypto_auth_hmacsha512(mac, (const unsigned char *)out, used, key);
	else
		crypto_auth_hmacsha256(mac, (const unsigned char *)out, used, key);
	strncat(out, ".", len - strlen(out) - 1);
	if (unsigned_token)
		return;
	base64url(mac, mac_len, encoded, sizeof(encoded));
	strncat(out, encoded, len - strlen(out) - 1);
}

static void signed_token(char *out, size_t len, int64_t now_s)
{
	struct jwt_claims claims;

	jwt_claims_new(&claims, 17, 42, now_s);
	assert_int_equal(jwt_sign(test_key, &claims, out, len), 0);
}

static void payload_of(int64_t iat, int64_t exp, char *out, size_t len)
{
	snprintf(out, len, "{\"sub\":\"17\",\"tid\":42,\"iat\":%lld,\"exp\":%lld,"
	         "\"jti\":\"abc\"}", (long long)iat, (long long)exp);
}

static void test_round_trip(void **state)
{
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	signed_token(jwt, sizeof(jwt), NOW_S);
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S + 10, &claims), JWT_OK);
	assert_int_equal(claims.customer_id, 17);
	assert_int_equal(claims.token_id, 42);
	assert_int_equal(claims.issued_at, NOW_S);
	assert_int_equal(claims.expires_at, NOW_S + JWT_LIFETIME_S);
	assert_true(strlen(claims.id) >= 20);
}

static void test_jti_differs(void **state)
{
	struct jwt_claims first, second;

	jwt_claims_new(&first, 17, 42, NOW_S);
	jwt_claims_new(&second, 17, 42, NOW_S);
	assert_string_not_equal(first.id, second.id);
}

static void test_forged_hs256_accepted(void **state)
{
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	/* The forging helper must agree with jwt_sign, or the rejections below prove nothing. */
	payload_of(NOW_S, NOW_S + 600, payload, sizeof(payload));
	forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, test_key, false, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_OK);
}

static void test_tampered_payload(void **state)
{
	char jwt[JWT_TEXT_MAX], other[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	signed_token(jwt, sizeof(jwt), NOW_S);
	/* Same header and signature, payload naming another customer. */
	snprintf(payload, sizeof(payload), "{\"sub\":\"18\",\"tid\":42,\"iat\":%lld,\"exp\":%lld,"
	         "\"jti\":\"abc\"}", NOW_S, NOW_S + 600);
	forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, test_key, false, true, other,
	      sizeof(other));
	strncat(other, strrchr(jwt, '.') + 1, sizeof(other) - strlen(other) - 1);
	assert_int_equal(jwt_verify(test_key, other, NOW_S, &claims), JWT_BAD_SIGNATURE);
	assert_int_equal(claims.customer_id, 0);
}

static void test_tampered_signature(void **state)
{
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;
	char *last;

	signed_token(jwt, sizeof(jwt), NOW_S);
	last = jwt + strlen(jwt) - 2;
	*last = *last == 'A' ? 'B' : 'A';
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_SIGNATURE);
}

static void test_truncated_signature(void **state)
{
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	signed_token(jwt, sizeof(jwt), NOW_S);
	jwt[strlen(jwt) - 4] = '\0';
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_SIGNATURE);
}

static void test_alg_none(void **state)
{
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	payload_of(NOW_S, NOW_S + 600, payload, sizeof(payload));
	forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, test_key, false, true, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_ALGORITHM);

	/* Even with a valid HS256 signature over the same bytes. */
	forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, test_key, false, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_ALGORITHM);
}

static void test_alg_variants(void **state)
{
	static const char *const headers[] = {
		"{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}",
		"{\"typ\":\"JWT\"}",
	};
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	payload_of(NOW_S, NOW_S + 600, payload, sizeof(payload));
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		forge(headers[i], payload, test_key, false, false, jwt, sizeof(jwt));
		assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_ALGORITHM);
	}
}

static void test_alg_hs512(void **state)
{
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	payload_of(NOW_S, NOW_S + 600, payload, sizeof(payload));
	forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, test_key, true, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_ALGORITHM);
}

static void test_wrong_key(void **state)
{
	uint8_t other_key[JWT_KEY_BYTES];
	struct keys keys;
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	memset(&keys, 0x11, sizeof(keys));
	jwt_derive_key(&keys, other_key);
	assert_memory_not_equal(other_key, test_key, JWT_KEY_BYTES);
	signed_token(jwt, sizeof(jwt), NOW_S);
	assert_int_equal(jwt_verify(other_key, jwt, NOW_S, &claims), JWT_BAD_SIGNATURE);
}

static void test_key_not_raw_token_key(void **state)
{
	struct keys keys;
	uint8_t key[JWT_KEY_BYTES];

	memset(&keys, 0x5a, sizeof(keys));
	jwt_derive_key(&keys, key);
	assert_memory_not_equal(key, keys.token_key, JWT_KEY_BYTES);
}

static void test_expired(void **state)
{
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	signed_token(jwt, sizeof(jwt), NOW_S);
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S + JWT_LIFETIME_S - 1, &claims), JWT_OK);
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S + JWT_LIFETIME_S, &claims), JWT_EXPIRED);
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S + 86400, &claims), JWT_EXPIRED);
}

static void test_lifetime_too_long(void **state)
{
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	payload_of(NOW_S, NOW_S + JWT_LIFETIME_S + 1, payload, sizeof(payload));
	forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, test_key, false, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_CLAIMS);
}

static void test_bad_claims(void **state)
{
	static const char *const payloads[] = {
		"{\"sub\":17,\"tid\":42,\"iat\":1800000000,\"exp\":1800000600,\"jti\":\"a\"}",
		"{\"sub\":\"017\",\"tid\":42,\"iat\":1800000000,\"exp\":1800000600,\"jti\":\"a\"}",
		"{\"sub\":\"17\",\"tid\":\"42\",\"iat\":1800000000,\"exp\":1800000600,\"jti\":\"a\"}",
		"{\"sub\":\"17\",\"tid\":0,\"iat\":1800000000,\"exp\":1800000600,\"jti\":\"a\"}",
		"{\"sub\":\"17\",\"tid\":42,\"iat\":1800000000.5,\"exp\":1800000600,\"jti\":\"a\"}",
		"{\"sub\":\"17\",\"tid\":42,\"iat\":1800000000,\"jti\":\"a\"}",
		"{\"sub\":\"17\",\"tid\":42,\"iat\":1800000000,\"exp\":1800000600}",
		"{\"sub\":\"17\",\"tid\":42,\"iat\":1800000600,\"exp\":1800000000,\"jti\":\"a\"}",
	};
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payloads[i], test_key, false, false, jwt,
		      sizeof(jwt));
		assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_BAD_CLAIMS);
	}
}

static void test_malformed_segments(void **state)
{
	char jwt[JWT_TEXT_MAX], damaged[JWT_TEXT_MAX * 2];
	struct jwt_claims claims;
	const char *dot;

	signed_token(jwt, sizeof(jwt), NOW_S);
	dot = strchr(jwt, '.');

	assert_int_equal(jwt_verify(test_key, "", NOW_S, &claims), JWT_MALFORMED);
	assert_int_equal(jwt_verify(test_key, NULL, NOW_S, &claims), JWT_MALFORMED);
	assert_int_equal(jwt_verify(test_key, "a.b", NOW_S, &claims), JWT_MALFORMED);
	assert_int_equal(jwt_verify(test_key, "..", NOW_S, &claims), JWT_MALFORMED);
	assert_int_equal(jwt_verify(test_key, "not a token", NOW_S, &claims), JWT_MALFORMED);

	snprintf(damaged, sizeof(damaged), "%s.extra", jwt);
	assert_int_equal(jwt_verify(test_key, damaged, NOW_S, &claims), JWT_MALFORMED);

	/* Padding and the standard alphabet are not base64url without padding. */
	snprintf(damaged, sizeof(damaged), "%.*s=%s", (int)(dot - jwt), jwt, dot);
	assert_int_equal(jwt_verify(test_key, damaged, NOW_S, &claims), JWT_MALFORMED);
	snprintf(damaged, sizeof(damaged), "+%s", jwt + 1);
	assert_int_equal(jwt_verify(test_key, damaged, NOW_S, &claims), JWT_MALFORMED);

	/* A header that is not JSON, and an empty payload segment. */
	snprintf(damaged, sizeof(damaged), "bm90IGpzb24%s", dot);
	assert_int_equal(jwt_verify(test_key, damaged, NOW_S, &claims), JWT_MALFORMED);
	snprintf(damaged, sizeof(damaged), "%.*s..%s", (int)(dot - jwt), jwt, strrchr(jwt, '.') + 1);
	assert_int_equal(jwt_verify(test_key, damaged, NOW_S, &claims), JWT_BAD_SIGNATURE);
}

static void test_trailing_json(void **state)
{
	char jwt[JWT_TEXT_MAX], payload[256];
	struct jwt_claims claims;

	payload_of(NOW_S, NOW_S + 600, payload, sizeof(payload));
	forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"} x", payload, test_key, false, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_MALFORMED);
	strncat(payload, "[]", sizeof(payload) - strlen(payload) - 1);
	forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, test_key, false, false, jwt,
	      sizeof(jwt));
	assert_int_equal(jwt_verify(test_key, jwt, NOW_S, &claims), JWT_MALFORMED);
}

static void test_oversize_input(void **state)
{
	char *big = malloc(JWT_TEXT_MAX * 4);
	char jwt[JWT_TEXT_MAX];
	struct jwt_claims claims;

	assert_non_null(big);
	signed_token(jwt, sizeof(jwt), NOW_S);
	memset(big, 'A', JWT_TEXT_MAX * 4 - 1);
	big[JWT_TEXT_MAX * 4 - 1] = '\0';
	memcpy(big, jwt, strlen(jwt));
	assert_int_equal(jwt_verify(test_key, big, NOW_S, &claims), JWT_MALFORMED);

	/* Three segments of JWT_TEXT_MAX bytes in all, one more than the cap allows. */
	memset(big, 'A', JWT_TEXT_MAX);
	big[JWT_TEXT_MAX] = '\0';
	big[100] = '.';
	big[JWT_TEXT_MAX - 50] = '.';
	assert_int_equal(jwt_verify(test_key, big, NOW_S, &claims), JWT_MALFORMED);
	free(big);
}

static void test_sign_small_buffer(void **state)
{
	struct jwt_claims claims;
	char out[64];

	jwt_claims_new(&claims, 17, 42, NOW_S);
	assert_int_equal(jwt_sign(test_key, &claims, out, sizeof(out)), -1);
}

static void test_strerror_names(void **state)
{
	assert_non_null(strstr(jwt_strerror(JWT_EXPIRED), "expired"));
	assert_non_null(strstr(jwt_strerror(JWT_BAD_ALGORITHM), "HS256"));
	assert_non_null(strstr(jwt_strerror(JWT_BAD_SIGNATURE), "signature"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_jti_differs),
		cmocka_unit_test(test_forged_hs256_accepted),
		cmocka_unit_test(test_tampered_payload),
		cmocka_unit_test(test_tampered_signature),
		cmocka_unit_test(test_truncated_signature),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_variants),
		cmocka_unit_test(test_alg_hs512),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_key_not_raw_token_key),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_lifetime_too_long),
		cmocka_unit_test(test_bad_claims),
		cmocka_unit_test(test_malformed_segments),
		cmocka_unit_test(test_trailing_json),
		cmocka_unit_test(test_oversize_input),
		cmocka_unit_test(test_sign_small_buffer),
		cmocka_unit_test(test_strerror_names),
	};

	return cmocka_run_group_tests(tests, setup_key, NULL);
}
