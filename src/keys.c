/*
 * The gateway's key file and the keys derived from it.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* KDF context, which crypto_kdf requires to be exactly 8 bytes long. */
static const char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "citypay_";

/*
 * Subkey ids under kdf_context. They are part of the key file format:
 * changing one invalidates every stored digest or sealed secret.
 */
enum {
	SUBKEY_TOKEN = 1,
	SUBKEY_SEAL = 2,
};

_Static_assert(KEYS_BYTES == crypto_kdf_KEYBYTES, "key file holds one KDF master key");
_Static_assert(KEYS_BYTES == crypto_secretbox_KEYBYTES, "seal key is a secretbox key");

/* Overhead of a sealed secret before base64url: nonce, then the MAC. */
#define SEAL_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

void keys_default_path(const char *db_path, char *out, size_t len)
{
	if (len == 0)
		return;
	int n = snprintf(out, len, "%s.key", db_path);
	/* A cut path would name some other file, so write nothing instead. */
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';
}

static int init_sodium(char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "sodium_init() failed, so no keys can be created or loaded");
		return -1;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/*
 * Flush the directory that contains path, so the new file's name survives a
 * crash along with its contents.
 */
static int sync_parent_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		snprintf(dir, sizeof dir, ".");
	} else if (slash == path) {
		snprintf(dir, sizeof dir, "/");
	} else {
		int n = snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		if (n < 0 || (size_t)n >= sizeof dir)
			return -1;
	}

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int keys_create(const char *path, char *err, size_t errlen)
{
	uint8_t master[KEYS_BYTES];

	if (init_sodium(err, errlen) != 0)
		return -1;

	/* O_EXCL makes an existing key file an error instead of a replacement. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			snprintf(err, errlen,
			         "key file %s already exists and was not replaced, because existing "
			         "token digests and sealed secrets depend on it",
			         path);
		else
			snprintf(err, errlen, "cannot create key file %s: %s", path, strerror(errno));
		return -1;
	}

	randombytes_buf(master, sizeof master);
	int rc = write_all(fd, master, sizeof master);
	sodium_memzero(master, sizeof master);
	if (rc != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	if (sync_parent_dir(path) != 0) {
		/* Remove the file so that a retry starts clean. */
		snprintf(err, errlen, "cannot flush the directory of key file %s: %s", path,
		         strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int keys_load(const char *path, struct keys *keys, char *err, size_t errlen)
{
	uint8_t master[KEYS_BYTES];
	struct stat st;

	if (init_sodium(err, errlen) != 0)
		return -1;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen,
			         "key file %s is missing; restore it from a backup, or run "
			         "citypayctl init for a new database",
			         path);
		else
			snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
		return -1;
	}
	/* fstat on the open descriptor, so the checks apply to the file read. */
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat key file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen,
		         "key file %s has mode %04o, which group or others can access; "
		         "run chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (st.st_size != KEYS_BYTES) {
		snprintf(err, errlen,
		         "key file %s has %lld bytes instead of %d; restore the original "
		         "key file from a backup",
		         path, (long long)st.st_size, KEYS_BYTES);
		close(fd);
		return -1;
	}
	if (read_all(fd, master, sizeof master) != 0) {
		snprintf(err, errlen, "cannot read key file %s: %s", path,
		         errno != 0 ? strerror(errno) : "file is shorter than expected");
		sodium_memzero(master, sizeof master);
		close(fd);
		return -1;
	}
	close(fd);

	crypto_kdf_derive_from_key(keys->token_key, sizeof keys->token_key, SUBKEY_TOKEN,
	                           kdf_context, master);
	crypto_kdf_derive_from_key(keys->seal_key, sizeof keys->seal_key, SUBKEY_SEAL,
	                           kdf_context, master);
	sodium_memzero(master, sizeof master);
	return 0;
}

int keys_seal(const struct keys *keys, const char *secret, char *out, size_t outlen)
{
	size_t secret_len = strlen(secret);

	if (outlen > 0)
		out[0] = '\0';
	/* Checking the size first bounds the allocation below by outlen. */
	if (secret_len > outlen)
		return -1;
	size_t bin_len = SEAL_OVERHEAD + secret_len;
	if (sodium_base64_ENCODED_LEN(bin_len, B64_VARIANT) > outlen)
		return -1;

	uint8_t *bin = malloc(bin_len);
	if (bin == NULL)
		return -1;
	randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, (const uint8_t *)secret,
	                      secret_len, bin, keys->seal_key);
	sodium_bin2base64(out, outlen, bin, bin_len, B64_VARIANT);
	free(bin);
	return 0;
}

int keys_open(const struct keys *keys, const char *sealed, char *out, size_t outlen)
{
	size_t text_len = strlen(sealed);
	size_t bin_max = text_len / 4 * 3 + 3;
	size_t bin_len = 0;

	if (outlen > 0)
		out[0] = '\0';
	if (outlen == 0 || text_len == 0)
		return -1;

	uint8_t *bin = malloc(bin_max);
	if (bin == NULL)
		return -1;
	/* A NULL end pointer makes libsodium reject trailing garbage. */
	if (sodium_base642bin(bin, bin_max, sealed, text_len, NULL, &bin_len, NULL,
	                      B64_VARIANT) != 0 ||
	    bin_len < SEAL_OVERHEAD || bin_len - SEAL_OVERHEAD >= outlen) {
		free(bin);
		return -1;
	}

	size_t secret_len = bin_len - SEAL_OVERHEAD;
	int rc = crypto_secretbox_open_easy((uint8_t *)out, bin + crypto_secretbox_NONCEBYTES,
	                                    bin_len - crypto_secretbox_NONCEBYTES, bin,
	                                    keys->seal_key);
	free(bin);
	if (rc != 0) {
		sodium_memzero(out, outlen);
		return -1;
	}
	out[secret_len] = '\0';
	return 0;
}

void keys_wipe(struct keys *keys)
{
	sodium_memzero(keys, sizeof *keys);
}
