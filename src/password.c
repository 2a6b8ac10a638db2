/*
 * Merchant cabinet passwords: argon2id hashing, policy and generation.
 */
#include "password.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

#define ARGON2ID_PREFIX     "$argon2id$"
#define ARGON2ID_PREFIX_LEN (sizeof ARGON2ID_PREFIX - 1)

#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

_Static_assert(PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES,
               "PASSWORD_HASH_MAX differs from crypto_pwhash_STRBYTES");
_Static_assert(PASSWORD_GENERATED_LEN == PASSWORD_GENERATED_CHARS + PASSWORD_GENERATED_CHARS / 4 - 1,
               "PASSWORD_GENERATED_LEN does not match groups of four");

/*
 * The hash that password_verify_dummy() checks against: an argon2id hash
 * of random bytes, made once at first use with OPSLIMIT and MEMLIMIT, so a
 * dummy check costs exactly what a real one costs.
 */
static char dummy_hash[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
password_make_dummy(void)
{
	unsigned char secret[32];

	randombytes_buf(secret, sizeof secret);
	if (crypto_pwhash_str_alg(dummy_hash, (const char *)secret, sizeof secret, OPSLIMIT,
	                          MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
		dummy_hash[0] = '\0';
	sodium_memzero(secret, sizeof secret);
}

/* Alphabet of generated passwords: no 0, 1, i, l or o. */
static const char GENERATED_ALPHABET[] = "abcdefghjkmnpqrstuvwxyz23456789";

/*
 * Copy a stored hash into a zero-filled buffer of crypto_pwhash_STRBYTES,
 * the array size libsodium's prototypes declare. Returns -1 when the hash
 * is NULL, does not fit, or is not argon2id.
 */
static int load_hash(const char *hash, char buf[PASSWORD_HASH_MAX])
{
	size_t len;

	if (hash == NULL)
		return -1;
	len = strnlen(hash, PASSWORD_HASH_MAX);
	if (len == PASSWORD_HASH_MAX)
		return -1;
	if (len < ARGON2ID_PREFIX_LEN || memcmp(hash, ARGON2ID_PREFIX, ARGON2ID_PREFIX_LEN) != 0)
		return -1;

	memset(buf, 0, PASSWORD_HASH_MAX);
	memcpy(buf, hash, len);
	return 0;
}

int password_hash(const char *password, char *out, size_t outlen)
{
	if (password == NULL || out == NULL || outlen < PASSWORD_HASH_MAX)
		return -1;
	if (sodium_init() < 0)
		return -1;

	if (crypto_pwhash_str_alg(out, password, strlen(password), OPSLIMIT, MEMLIMIT,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

bool password_verify(const char *hash, const char *password)
{
	char buf[PASSWORD_HASH_MAX];

	if (password == NULL || load_hash(hash, buf) != 0)
		return false;
	return crypto_pwhash_str_verify(buf, password, strlen(password)) == 0;
}

void password_verify_dummy(const char *password)
{
	const char *text = password != NULL ? password : "";

	pthread_once(&dummy_once, password_make_dummy);
	if (dummy_hash[0] != '\0' && crypto_pwhash_str_verify(dummy_hash, text, strlen(text)) == 0)
		return; /* a match is impossible: the hashed bytes were random */
}

bool password_needs_rehash(const char *hash)
{
	char buf[PASSWORD_HASH_MAX];

	/*
	 * libsodium also accepts argon2i strings here, so the prefix check in
	 * load_hash() is what moves argon2i hashes over to argon2id.
	 */
	if (load_hash(hash, buf) != 0)
		return true;
	return crypto_pwhash_str_needs_rehash(buf, OPSLIMIT, MEMLIMIT) != 0;
}

/*
 * Decode one UTF-8 sequence of at most len bytes (len >= 1). Returns its
 * length and sets *cp, or returns 0 for an invalid, overlong or truncated
 * sequence, a UTF-16 surrogate or a value above U+10FFFF (RFC 3629,
 * section 4).
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min_value[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t need;
	uint32_t value;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC0 && s[0] < 0xE0) {
		need = 2;
		value = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] < 0xF0) {
		need = 3;
		value = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] < 0xF8) {
		need = 4;
		value = s[0] & 0x07;
	} else {
		return 0;
	}
	if (need > len)
		return 0;

	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		value = (value << 6) | (s[i] & 0x3F);
	}

	if (value < min_value[need] || value > 0x10FFFF)
		return 0;
	if (value >= 0xD800 && value <= 0xDFFF)
		return 0;
	*cp = value;
	return need;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Outcomes of scanning a password, each with its own message. */
enum scan_result {
	SCAN_OK = 0,
	SCAN_INVALID_UTF8,
	SCAN_CONTROL,
};

/* Count the code points of text and tell whether all of them are equal. */
static enum scan_result scan_text(const char *text, size_t len, size_t *chars, bool *one_char)
{
	const unsigned char *s = (const unsigned char *)text;
	uint32_t first = 0;
	size_t pos = 0;

	*chars = 0;
	*one_char = true;
	while (pos < len) {
		uint32_t cp;
		size_t step = utf8_decode(s + pos, len - pos, &cp);

		if (step == 0)
			return SCAN_INVALID_UTF8;
		if (is_control(cp))
			return SCAN_CONTROL;
		if (*chars == 0)
			first = cp;
		else if (cp != first)
			*one_char = false;
		(*chars)++;
		pos += step;
	}
	return SCAN_OK;
}

static int reject(char *why, size_t whylen, const char *message)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", message);
	return -1;
}

int password_check_policy(const char *password, char *why, size_t whylen)
{
	char message[128];
	size_t len, chars;
	bool one_char;

	if (password == NULL)
		return reject(why, whylen, "A password is required.");
	len = strnlen(password, PASSWORD_MAX_BYTES + 1);
	if (len > PASSWORD_MAX_BYTES) {
		snprintf(message, sizeof message, "The password is longer than %d characters.",
		         PASSWORD_MAX_CHARS);
		return reject(why, whylen, message);
	}

	switch (scan_text(password, len, &chars, &one_char)) {
	case SCAN_INVALID_UTF8:
		return reject(why, whylen, "The password is not valid UTF-8 text.");
	case SCAN_CONTROL:
		return reject(why, whylen,
		              "The password contains a control character such as a tab or a line "
		              "break, which is not allowed.");
	case SCAN_OK:
		break;
	}

	if (chars < PASSWORD_MIN_CHARS) {
		snprintf(message, sizeof message,
		         "The password has %zu characters, but at least %d are required.", chars,
		         PASSWORD_MIN_CHARS);
		return reject(why, whylen, message);
	}
	if (chars > PASSWORD_MAX_CHARS) {
		snprintf(message, sizeof message,
		         "The password has %zu characters, but at most %d are allowed.", chars,
		         PASSWORD_MAX_CHARS);
		return reject(why, whylen, message);
	}
	if (one_char)
		return reject(why, whylen,
		              "The password repeats one character throughout. Use different "
		              "characters.");

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	return 0;
}

void password_generate(char *out, size_t outlen)
{
	size_t pos = 0;

	if (out == NULL || outlen == 0)
		return;
	if (outlen < PASSWORD_GENERATED_MAX) {
		out[0] = '\0';
		return;
	}

	for (int i = 0; i < PASSWORD_GENERATED_CHARS; i++) {
		if (i > 0 && i % 4 == 0)
			out[pos++] = '-';
		/* randombytes_uniform() has no modulo bias. */
		out[pos++] = GENERATED_ALPHABET[randombytes_uniform(sizeof GENERATED_ALPHABET - 1)];
	}
	out[pos] = '\0';
}
