/*
 * Merchant cabinet passwords: argon2id hashes through libsodium, the
 * password policy and generated initial passwords.
 *
 * Passwords are hashed as the UTF-8 bytes the client sent, without Unicode
 * normalization.
 * NOTE: the same text typed once in composed and once in decomposed form
 * ("é" as U+00E9 or as "e" plus U+0301) gives different hashes.
 */
#ifndef CITYPAY_PASSWORD_H
#define CITYPAY_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Buffer size for a hash string, NUL included (crypto_pwhash_STRBYTES). */
#define PASSWORD_HASH_MAX 128

/* Policy limits, in Unicode code points. */
#define PASSWORD_MIN_CHARS 12
#define PASSWORD_MAX_CHARS 256
/* Longest accepted password in bytes: PASSWORD_MAX_CHARS of 4-byte UTF-8. */
#define PASSWORD_MAX_BYTES (4 * PASSWORD_MAX_CHARS)

/*
 * A generated password is 20 random characters in five groups of four
 * joined by '-', "abcd-efgh-jkmn-pqrs-tuvw": 24 characters, then the NUL.
 */
#define PASSWORD_GENERATED_CHARS 20
#define PASSWORD_GENERATED_LEN   24
#define PASSWORD_GENERATED_MAX   25

/*
 * Hash a password with argon2id (libsodium's crypto_pwhash_str_alg with
 * the OPSLIMIT_INTERACTIVE and MEMLIMIT_INTERACTIVE costs and a random
 * salt) into out, which must hold PASSWORD_HASH_MAX bytes. Returns 0, or
 * -1 when out is too small, libsodium cannot be initialised or the hash
 * fails (it allocates 64 MiB with libsodium 1.0.18). Calls sodium_init()
 * itself. Does not apply the policy: call password_check_policy() first.
 */
int password_hash(const char *password, char *out, size_t outlen);

/*
 * Check a password against a hash written by password_hash(). Returns
 * false for a wrong password, a NULL argument, and a hash that is not an
 * argon2id string of fewer than PASSWORD_HASH_MAX bytes, because a row
 * read back from the store is checked again before use.
 */
bool password_verify(const char *hash, const char *password);

/*
 * Run one argon2id verification against a fixed hash of the current costs
 * and discard the result. The login handler calls it for an unknown e-mail
 * address, so that response takes as long as one for a wrong
 * password.
 */
void password_verify_dummy(const char *password);

/*
 * Return true when a stored hash should be replaced after the next
 * successful login: it is not argon2id, its costs differ from the current
 * ones, or it cannot be parsed.
 */
bool password_needs_rehash(const char *hash);

/*
 * Apply the password policy: valid UTF-8, no control characters (C0, DEL
 * and C1), PASSWORD_MIN_CHARS to PASSWORD_MAX_CHARS code points, and not a
 * single code point repeated. Spaces are allowed, so passphrases pass.
 * Returns 0, or -1 with a sentence for the merchant in why (which may be
 * NULL). Reads at most PASSWORD_MAX_BYTES + 1 bytes of password.
 */
int password_check_policy(const char *password, char *why, size_t whylen);

/*
 * Generate an initial password (see PASSWORD_GENERATED_LEN) from an
 * alphabet of 31 lowercase letters and digits that leaves out 0, 1, i, l
 * and o, so it can be read aloud or copied by hand: about 99 bits.
 * Writes an empty string when outlen is below PASSWORD_GENERATED_MAX.
 */
void password_generate(char *out, size_t outlen);

#endif
