/*
 * TOTP codes (RFC 6238 over RFC 4226 HOTP), base32 secrets and key URIs.
 */
#include "totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#define SHA1_BYTES   20
#define CODE_MODULUS 1000000u /* 10^TOTP_DIGITS */
#define CODE_INPUT_MAX 16     /* bytes of typed code read, spaces included */
#define DRIFT_STEPS  1        /* steps accepted either side of now */

static const char BASE32_ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

_Static_assert((8 * TOTP_SECRET_BYTES + 4) / 5 < TOTP_SECRET_TEXT_MAX,
               "TOTP_SECRET_TEXT_MAX too small for a secret");

void totp_secret_generate(uint8_t secret[TOTP_SECRET_BYTES])
{
	randombytes_buf(secret, TOTP_SECRET_BYTES);
}

size_t totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t outlen)
{
	size_t need, pos = 0;
	uint32_t buffer = 0;
	int bits = 0;

	if (out == NULL || outlen == 0)
		return 0;
	need = len / 5 * 8 + ((len % 5) * 8 + 4) / 5;
	if (need >= outlen || (len > 0 && data == NULL)) {
		out[0] = '\0';
		return 0;
	}

	/* Shift bytes in from the right and take 5 bits at a time from the left. */
	for (size_t i = 0; i < len; i++) {
		buffer = (buffer << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[pos++] = BASE32_ALPHABET[(buffer >> bits) & 0x1F];
		}
	}
	if (bits > 0)
		out[pos++] = BASE32_ALPHABET[(buffer << (5 - bits)) & 0x1F];

	out[pos] = '\0';
	return pos;
}

/* Return the 5-bit value of a base32 symbol in either case, or -1. */
static int base32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int totp_base32_decode(const char *text, uint8_t *out, size_t outlen, size_t *written)
{
	uint32_t buffer = 0;
	int bits = 0;
	size_t pos = 0, symbols = 0;

	*written = 0;
	if (text == NULL)
		return -1;

	for (const char *p = text; *p != '\0'; p++) {
		int value;

		if (*p == ' ' || *p == '-')
			continue;
		value = base32_value(*p);
		if (value < 0)
			return -1;

		symbols++;
		buffer = (buffer << 5) | (uint32_t)value;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (pos >= outlen)
				return -1;
			out[pos++] = (uint8_t)(buffer >> bits);
		}
	}

	/*
	 * A group of 8 symbols carries 5 bytes. A last group of 2, 4, 5 or
	 * 7 symbols carries 1 to 4 bytes, but 1, 3 or 6 symbols cannot come
	 * from any byte count.
	 * The bits left over are padding and must be zero (RFC 4648, 3.5),
	 * so that each secret has exactly one spelling.
	 */
	switch (symbols % 8) {
	case 1:
	case 3:
	case 6:
		return -1;
	}
	if ((buffer & ((1u << bits) - 1)) != 0)
		return -1;

	*written = pos;
	return 0;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Append text percent-encoded (RFC 3986, section 2.1) at *pos. Returns -1
 * when out has no room for it and the NUL.
 */
static int append_encoded(char *out, size_t outlen, size_t *pos, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		size_t need = is_unreserved(*p) ? 1 : 3;

		if (*pos + need >= outlen)
			return -1;
		if (need == 1) {
			out[(*pos)++] = (char)*p;
			continue;
		}
		out[(*pos)++] = '%';
		out[(*pos)++] = hex[*p >> 4];
		out[(*pos)++] = hex[*p & 0x0F];
	}
	out[*pos] = '\0';
	return 0;
}

static int append_text(char *out, size_t outlen, size_t *pos, const char *text)
{
	size_t len = strlen(text);

	if (*pos + len >= outlen)
		return -1;
	memcpy(out + *pos, text, len + 1);
	*pos += len;
	return 0;
}

void totp_uri(const char *issuer, const char *account, const char *secret_base32, char *out,
              size_t outlen)
{
	size_t pos = 0;
	int failed = 0;

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	if (issuer == NULL || account == NULL || secret_base32 == NULL)
		return;

	failed |= append_text(out, outlen, &pos, "otpauth://totp/");
	failed |= append_encoded(out, outlen, &pos, issuer);
	failed |= append_text(out, outlen, &pos, ":");
	failed |= append_encoded(out, outlen, &pos, account);
	failed |= append_text(out, outlen, &pos, "?secret=");
	failed |= append_encoded(out, outlen, &pos, secret_base32);
	failed |= append_text(out, outlen, &pos, "&issuer=");
	failed |= append_encoded(out, outlen, &pos, issuer);
	failed |= append_text(out, outlen, &pos, "&algorithm=SHA1&digits=6&period=30");

	if (failed)
		out[0] = '\0';
}

uint32_t totp_code(const uint8_t *secret, size_t len, int64_t step)
{
	uint8_t counter[8];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	uint64_t value = (uint64_t)step;
	uint32_t binary;
	int offset;

	if (secret == NULL || len > INT32_MAX)
		return TOTP_CODE_NONE;
	for (int i = 7; i >= 0; i--) {
		counter[i] = (uint8_t)(value & 0xFF);
		value >>= 8;
	}

	if (HMAC(EVP_sha1(), secret, (int)len, counter, sizeof counter, mac, &mac_len) == NULL ||
	    mac_len != SHA1_BYTES)
		return TOTP_CODE_NONE;

	/* Dynamic truncation: the low 4 bits of the last byte pick 31 bits. */
	offset = mac[SHA1_BYTES - 1] & 0x0F;
	binary = ((uint32_t)(mac[offset] & 0x7F) << 24) | ((uint32_t)mac[offset + 1] << 16) |
	         ((uint32_t)mac[offset + 2] << 8) | (uint32_t)mac[offset + 3];
	sodium_memzero(mac, sizeof mac);
	return binary % CODE_MODULUS;
}

int64_t totp_step(int64_t unix_seconds)
{
	int64_t step = unix_seconds / TOTP_PERIOD_S;

	/* C division truncates towards zero, but the step is the floor. */
	if (unix_seconds % TOTP_PERIOD_S < 0)
		step--;
	return step;
}

/*
 * Copy the digits of a typed code into digits without its spaces. Returns
 * -1 unless exactly TOTP_DIGITS ASCII digits and nothing but spaces remain.
 */
static int normalize_code(const char *code, char digits[TOTP_DIGITS])
{
	size_t len, count = 0;

	if (code == NULL)
		return -1;
	len = strnlen(code, CODE_INPUT_MAX + 1);
	if (len > CODE_INPUT_MAX)
		return -1;

	for (size_t i = 0; i < len; i++) {
		if (code[i] == ' ')
			continue;
		if (code[i] < '0' || code[i] > '9' || count == TOTP_DIGITS)
			return -1;
		digits[count++] = code[i];
	}
	return count == TOTP_DIGITS ? 0 : -1;
}

/* Write value as TOTP_DIGITS decimal digits with leading zeros, no NUL. */
static void format_digits(uint32_t value, char digits[TOTP_DIGITS])
{
	for (int i = TOTP_DIGITS - 1; i >= 0; i--) {
		digits[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

int64_t totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s,
                    int64_t last_used_step)
{
	char typed[TOTP_DIGITS];
	int64_t now_step = totp_step(now_s);
	int64_t matched = -1;

	if (secret == NULL || normalize_code(code, typed) != 0)
		return -1;

	/*
	 * All candidate steps are computed and compared, so the time taken
	 * does not show which one matched. The latest match wins, which
	 * blocks the most steps from reuse.
	 */
	for (int64_t step = now_step - DRIFT_STEPS; step <= now_step + DRIFT_STEPS; step++) {
		char expected[TOTP_DIGITS];
		uint32_t value = totp_code(secret, len, step);

		if (value == TOTP_CODE_NONE)
			continue;
		format_digits(value, expected);
		if (sodium_memcmp(expected, typed, TOTP_DIGITS) == 0 && step > last_used_step &&
		    step >= 0)
			matched = step;
	}

	sodium_memzero(typed, sizeof typed);
	return matched;
}
