/*
 * jwt_verify() under a fixed key and clock. A token that verifies must have
 * an expiry after the clock, and signing its claims again must give a token
 * that verifies to the same claims.
 *
 * Random bytes almost never carry a valid HMAC, so each input is verified
 * twice: as sent, and with everything after its second '.' replaced by the
 * correct HS256 signature of the part before it. The second pass reaches
 * the claim checks that follow the signature check.
 */
#include <sodium.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "jwt.h"

/* The clock, 2023-11-14T22:13:20Z. The seed tokens in corpus/fuzz_jwt were issued then. */
#define FUZZ_JWT_NOW_S 1700000000

static void
fuzz_jwt_key(uint8_t key[JWT_KEY_BYTES])
{
	for (size_t i = 0; i < JWT_KEY_BYTES; i++)
		key[i] = (uint8_t)i;
}

static void
check_resign(const uint8_t key[JWT_KEY_BYTES], const struct jwt_claims *claims)
{
	struct jwt_claims again;
	char token[JWT_TEXT_MAX];

	if (jwt_sign(key, claims, token, sizeof(token)) != 0)
		abort();
	if (jwt_verify(key, token, FUZZ_JWT_NOW_S, &again) != JWT_OK ||
	    again.customer_id != claims->customer_id || again.token_id != claims->token_id ||
	    again.issued_at != claims->issued_at || again.expires_at != claims->expires_at ||
	    strcmp(again.id, claims->id) != 0) {
		fprintf(stderr, "re-signed JWT did not verify to the same claims: %s\n", token);
		abort();
	}
}

static void
check_token(const uint8_t key[JWT_KEY_BYTES], const char *text)
{
	struct jwt_claims claims;

	if (jwt_verify(key, text, FUZZ_JWT_NOW_S, &claims) != JWT_OK)
		return;
	if (claims.expires_at <= FUZZ_JWT_NOW_S)
		abort();
	check_resign(key, &claims);
}

/*
 * Verify text with its signature segment replaced by the HMAC-SHA256 of
 * "header.payload" under key. Does nothing when text has fewer than two dots.
 */
static void
check_signed_token(const uint8_t key[JWT_KEY_BYTES], const char *text)
{
	const char *first = strchr(text, '.'), *second;
	crypto_auth_hmacsha256_state state;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char encoded[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
	                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	size_t signed_len, encoded_len;
	char *token;

	if (first == NULL || (second = strchr(first + 1, '.')) == NULL)
		return;
	signed_len = (size_t)(second - text);
	crypto_auth_hmacsha256_init(&state, key, JWT_KEY_BYTES);
	crypto_auth_hmacsha256_update(&state, (const uint8_t *)text, signed_len);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_bin2base64(encoded, sizeof(encoded), mac, sizeof(mac),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);

	encoded_len = strlen(encoded);
	token = malloc(signed_len + 1 + encoded_len + 1);
	if (token == NULL)
		abort();
	memcpy(token, text, signed_len + 1);
	memcpy(token + signed_len + 1, encoded, encoded_len + 1);
	check_token(key, token);
	free(token);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[JWT_KEY_BYTES];
	char *text;

	if (size > 2 * JWT_TEXT_MAX)
		return 0;
	text = fuzz_strndup(data, size);
	fuzz_jwt_key(key);

	check_token(key, text);
	check_signed_token(key, text);

	free(text);
	return 0;
}
