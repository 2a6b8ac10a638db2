/*
 * Access tokens, their digests and callback signing secrets.
 */
#include "token.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Both prefixes have this length, so one token length fits both modes. */
#define PREFIX_LEN     (sizeof TOKEN_PREFIX_LIVE - 1)
#define RANDOM_BYTES   24
#define RANDOM_CHARS   32 /* 24 bytes in base64url, no padding needed */
#define CHECKSUM_CHARS 6  /* 36 bits */
#define TOKEN_LEN      (PREFIX_LEN + RANDOM_CHARS + CHECKSUM_CHARS)

#define SECRET_BYTES   32
#define SECRET_PREFIX_LEN (sizeof SIGNING_SECRET_PREFIX - 1)

_Static_assert(sizeof TOKEN_PREFIX_SANDBOX - 1 == PREFIX_LEN, "prefixes differ in length");
_Static_assert(TOKEN_LEN < TOKEN_TEXT_MAX, "token does not fit TOKEN_TEXT_MAX");
_Static_assert(SECRET_PREFIX_LEN + sodium_base64_ENCODED_LEN(SECRET_BYTES, B64_VARIANT) <=
               SIGNING_SECRET_TEXT_MAX,
               "signing secret does not fit SIGNING_SECRET_TEXT_MAX");

const char *token_mode_name(enum token_mode mode)
{
	return mode == TOKEN_MODE_SANDBOX ? "sandbox" : "live";
}

int token_mode_parse(const char *text, enum token_mode *mode)
{
	if (text == NULL)
		return -1;
	if (strcmp(text, "live") == 0) {
		*mode = TOKEN_MODE_LIVE;
		return 0;
	}
	if (strcmp(text, "sandbox") == 0) {
		*mode = TOKEN_MODE_SANDBOX;
		return 0;
	}
	return -1;
}

/*
 * Write the checksum of the first PREFIX_LEN + RANDOM_CHARS characters of
 * text: the first 36 bits of their unkeyed 32-byte BLAKE2b hash as 6
 * base64url characters. Base64 spends 6 bits per character from the most
 * significant bit on, so the first 6 characters of the encoded first 6
 * bytes are exactly those 36 bits.
 */
static void compute_checksum(const char *text, char out[CHECKSUM_CHARS])
{
	uint8_t hash[crypto_generichash_BYTES];
	char encoded[sodium_base64_ENCODED_LEN(6, B64_VARIANT)];

	crypto_generichash(hash, sizeof hash, (const uint8_t *)text, PREFIX_LEN + RANDOM_CHARS,
	                   NULL, 0);
	sodium_bin2base64(encoded, sizeof encoded, hash, 6, B64_VARIANT);
	memcpy(out, encoded, CHECKSUM_CHARS);
}

void token_generate(enum token_mode mode, char *out)
{
	const char *prefix = mode == TOKEN_MODE_SANDBOX ? TOKEN_PREFIX_SANDBOX : TOKEN_PREFIX_LIVE;
	uint8_t random[RANDOM_BYTES];
	char encoded[sodium_base64_ENCODED_LEN(RANDOM_BYTES, B64_VARIANT)];

	randombytes_buf(random, sizeof random);
	sodium_bin2base64(encoded, sizeof encoded, random, sizeof random, B64_VARIANT);

	memcpy(out, prefix, PREFIX_LEN);
	memcpy(out + PREFIX_LEN, encoded, RANDOM_CHARS);
	compute_checksum(out, out + PREFIX_LEN + RANDOM_CHARS);
	out[TOKEN_LEN] = '\0';

	sodium_memzero(random, sizeof random);
	sodium_memzero(encoded, sizeof encoded);
}

static bool is_base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

enum token_format token_check_format(const char *text, enum token_mode *mode)
{
	enum token_mode found;
	char checksum[CHECKSUM_CHARS];

	if (text == NULL)
		return TOKEN_FORMAT_MALFORMED;
	/* strnlen stops at TOKEN_TEXT_MAX, so a long input is never read further. */
	if (strnlen(text, TOKEN_TEXT_MAX) != TOKEN_LEN)
		return TOKEN_FORMAT_MALFORMED;

	if (memcmp(text, TOKEN_PREFIX_LIVE, PREFIX_LEN) == 0)
		found = TOKEN_MODE_LIVE;
	else if (memcmp(text, TOKEN_PREFIX_SANDBOX, PREFIX_LEN) == 0)
		found = TOKEN_MODE_SANDBOX;
	else
		return TOKEN_FORMAT_MALFORMED;

	for (size_t i = PREFIX_LEN; i < TOKEN_LEN; i++) {
		if (!is_base64url_char(text[i]))
			return TOKEN_FORMAT_MALFORMED;
	}

	/*
	 * sodium_memcmp takes the same time wherever the checksums differ, so
	 * the response time does not reveal how many characters of a guessed
	 * checksum were right.
	 */
	compute_checksum(text, checksum);
	if (sodium_memcmp(checksum, text + PREFIX_LEN + RANDOM_CHARS, CHECKSUM_CHARS) != 0)
		return TOKEN_FORMAT_CHECKSUM;

	if (mode != NULL)
		*mode = found;
	return TOKEN_FORMAT_OK;
}

void token_digest(const struct keys *keys, const char *text,
                  uint8_t digest[TOKEN_DIGEST_BYTES])
{
	crypto_generichash(digest, TOKEN_DIGEST_BYTES, (const uint8_t *)text, strlen(text),
	                   keys->token_key, sizeof keys->token_key);
}

void token_signing_secret_generate(char *out)
{
	uint8_t random[SECRET_BYTES];

	randombytes_buf(random, sizeof random);
	memcpy(out, SIGNING_SECRET_PREFIX, SECRET_PREFIX_LEN);
	/* 32 bytes are 43 base64url characters without padding, then the NUL. */
	sodium_bin2base64(out + SECRET_PREFIX_LEN, SIGNING_SECRET_TEXT_MAX - SECRET_PREFIX_LEN,
	                  random, sizeof random, B64_VARIANT);
	sodium_memzero(random, sizeof random);
}
