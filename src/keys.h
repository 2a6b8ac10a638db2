/*
 * The gateway's key file. `citypayctl init` writes 32 random bytes to a file
 * beside the database (mode 0600); the token digest key and the key that
 * seals callback signing secrets are derived from it with libsodium's KDF.
 * Keeping this file outside the database means a copy of the database alone
 * neither verifies tokens nor reveals signing secrets.
 */
#ifndef CITYPAY_KEYS_H
#define CITYPAY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_BYTES 32

struct keys {
	uint8_t token_key[KEYS_BYTES];  /* BLAKE2b key for token digests */
	uint8_t seal_key[KEYS_BYTES];   /* XSalsa20-Poly1305 key for stored secrets */
};

/*
 * Write the default key file path for a database path, "<db>.key". Writes
 * an empty string when out is too small, because a cut path names another
 * file.
 */
void keys_default_path(const char *db_path, char *out, size_t len);

/*
 * Create a new key file at path with mode 0600 and flush it to disk. Fails
 * (returns -1 and writes a reason into err) when the file already exists,
 * so a second `init` never replaces the key that existing digests depend
 * on. Calls sodium_init() itself.
 */
int keys_create(const char *path, char *err, size_t errlen);

/*
 * Load the key file and derive the keys. Returns -1 with a reason in err
 * when the file is missing, unreadable, not a regular file, of the wrong
 * size, or has any group or other permission bit set. Calls sodium_init()
 * itself.
 */
int keys_load(const char *path, struct keys *keys, char *err, size_t errlen);

/*
 * Seal a secret for storage: nonce followed by the ciphertext, written as
 * base64url text into out. Returns 0, or -1 when out is too small.
 */
int keys_seal(const struct keys *keys, const char *secret, char *out, size_t outlen);

/*
 * Open a sealed secret into out. Returns 0, or -1 when the text is not
 * base64url, fails to authenticate or does not fit in out.
 */
int keys_open(const struct keys *keys, const char *sealed, char *out, size_t outlen);

/* Wipe the keys from memory. */
void keys_wipe(struct keys *keys);

#endif
