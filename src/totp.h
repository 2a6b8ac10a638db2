/*
 * Two-step verification codes: TOTP (RFC 6238) with HMAC-SHA1, 30-second
 * steps from the Unix epoch and 6 digits, the settings every authenticator
 * app supports. The secret is shown to the merchant as base32 text
 * (RFC 4648, no padding) and as an otpauth:// URI for a QR code.
 */
#ifndef CITYPAY_TOTP_H
#define CITYPAY_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_BYTES 20 /* 160 bits, the HMAC-SHA1 output size */
#define TOTP_PERIOD_S     30
#define TOTP_DIGITS       6

/* Buffer size for a base32 secret of TOTP_SECRET_BYTES, NUL included. */
#define TOTP_SECRET_TEXT_MAX 33

/*
 * Buffer size for totp_uri(). It fits a 100-byte issuer and a 254-byte
 * account (the longest e-mail address) with every byte percent-encoded.
 */
#define TOTP_URI_MAX 2048

/* Value totp_code() returns when libcrypto fails, outside the range of codes. */
#define TOTP_CODE_NONE UINT32_MAX

/* Fill secret with random bytes from libsodium. */
void totp_secret_generate(uint8_t secret[TOTP_SECRET_BYTES]);

/*
 * Encode data as base32 (RFC 4648, section 6, upper case, no '=' padding).
 * Returns the length written without the NUL, or 0 with an empty string
 * (when outlen > 0) when out is too small. Encoding n bytes takes
 * (8 * n + 4) / 5 characters plus the NUL.
 */
size_t totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t outlen);

/*
 * Decode base32 text into out and set *written. Accepts lower case and
 * skips spaces and '-', so a secret copied in groups decodes. Returns -1
 * for any other character (padding '=' included), for a symbol count that
 * cannot end on a whole byte, for non-zero unused bits in the last symbol,
 * and when out is too small. Then *written is 0.
 */
int totp_base32_decode(const char *text, uint8_t *out, size_t outlen, size_t *written);

/*
 * Write the key URI that authenticator apps read from a QR code:
 * "otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1
 * &digits=6&period=30", with issuer, account and secret percent-encoded
 * except for RFC 3986 unreserved characters. Writes an empty string (when
 * outlen > 0) when out is too small, because a cut URI could name another
 * secret.
 */
void totp_uri(const char *issuer, const char *account, const char *secret_base32, char *out,
              size_t outlen);

/*
 * Compute the HOTP value (RFC 4226, section 5.3: HMAC-SHA1 of the 8-byte
 * big-endian counter, dynamic truncation, modulo 10^6) for a time step.
 * Returns 0..999999, or TOTP_CODE_NONE when libcrypto's HMAC() fails.
 */
uint32_t totp_code(const uint8_t *secret, size_t len, int64_t step);

/* Return the time step of a Unix time: floor(unix_seconds / 30), RFC 6238 section 4.2. */
int64_t totp_step(int64_t unix_seconds);

/*
 * Check a code that the merchant typed. The code is exactly 6 ASCII
 * digits, and spaces anywhere are removed first because apps show codes
 * as "123 456". Accepts the steps of now_s - 30, now_s and now_s + 30 to
 * allow for clock drift, but only steps above last_used_step, so an
 * accepted code cannot be used again. Pass INT64_MIN when no code has been
 * accepted yet. Returns the matched step, which the caller stores as the
 * new last_used_step, or -1. Steps before the Unix epoch never match, so
 * -1 is never a step that was accepted. Reads at most 16 bytes of code. Every
 * candidate step is compared in constant time.
 */
int64_t totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s,
                    int64_t last_used_step);

#endif
