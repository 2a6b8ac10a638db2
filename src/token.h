/*
 * Access token format, digests and callback signing secrets.
 *
 * An access token reads "cp_live_" or "cp_test_", then 32 characters of
 * base64url carrying 192 random bits, then a 6-character base64url
 * checksum of the prefix and the random part: the first 36 bits of their
 * unkeyed 32-byte BLAKE2b hash. The checksum lets secret scanners
 * recognise a token and lets the gateway reject a mistyped one before any
 * database lookup. The store keeps only a keyed BLAKE2b digest
 * of the whole token and its last four characters.
 */
#ifndef CITYPAY_TOKEN_H
#define CITYPAY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define TOKEN_PREFIX_LIVE    "cp_live_"
#define TOKEN_PREFIX_SANDBOX "cp_test_"
#define TOKEN_TEXT_MAX       64 /* buffer size for a token, NUL included */
#define TOKEN_DIGEST_BYTES   32
#define TOKEN_LAST_CHARS     4

/* Signing secrets read "whsec_" and 43 base64url characters (256 bits). */
#define SIGNING_SECRET_PREFIX "whsec_"
#define SIGNING_SECRET_TEXT_MAX 64

enum token_mode {
	TOKEN_MODE_LIVE = 0,
	TOKEN_MODE_SANDBOX,
};

enum token_format {
	TOKEN_FORMAT_OK = 0,
	TOKEN_FORMAT_MALFORMED, /* wrong prefix, length or alphabet */
	TOKEN_FORMAT_CHECKSUM,  /* well formed but the checksum does not match */
};

/* "live" or "sandbox". */
const char *token_mode_name(enum token_mode mode);

/* Parse "live" or "sandbox"; 0 on success, -1 otherwise. */
int token_mode_parse(const char *text, enum token_mode *mode);

/* Generate a new token of the given mode into out (TOKEN_TEXT_MAX bytes). */
void token_generate(enum token_mode mode, char *out);

/*
 * Check prefix, length, alphabet and checksum; sets *mode when OK. Reads
 * at most TOKEN_TEXT_MAX bytes of text, and compares the checksum in
 * constant time.
 */
enum token_format token_check_format(const char *text, enum token_mode *mode);

/* Keyed BLAKE2b-256 of the token text under the keyring's token key. */
void token_digest(const struct keys *keys, const char *text,
                  uint8_t digest[TOKEN_DIGEST_BYTES]);

/* Generate a new signing secret into out (SIGNING_SECRET_TEXT_MAX bytes). */
void token_signing_secret_generate(char *out);

#endif
