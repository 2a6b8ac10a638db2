/*
 * token_check_format() on any text, and token_digest() under a fixed key for
 * the texts that pass.
 */
#include <sodium.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "token.h"

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
	struct keys keys;
	uint8_t digest[TOKEN_DIGEST_BYTES];
	enum token_mode mode;
	char *text;

	if (size > 4 * TOKEN_TEXT_MAX)
		return 0;
	text = fuzz_strndup(data, size);

	if (token_check_format(text, &mode) == TOKEN_FORMAT_OK) {
		const char *prefix = mode == TOKEN_MODE_LIVE ? TOKEN_PREFIX_LIVE : TOKEN_PREFIX_SANDBOX;

		if (strncmp(text, prefix, strlen(prefix)) != 0) {
			fprintf(stderr, "token \"%s\" accepted with the wrong mode\n", text);
			abort();
		}
		memset(&keys, 0x5a, sizeof(keys));
		token_digest(&keys, text, digest);
	}

	free(text);
	return 0;
}
