/*
 * Helpers shared by the libFuzzer harnesses in this folder. Each harness
 * keeps no state between inputs: what it allocates for one input it frees
 * before returning.
 */
#ifndef CITYPAY_FUZZ_COMMON_H
#define CITYPAY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Max input size in bytes that a harness reads. Longer inputs are skipped. */
#define FUZZ_INPUT_MAX (64 * 1024)

/*
 * Copy size bytes into a new NUL-terminated heap string, for functions
 * that take C strings. The caller frees it. Aborts when malloc fails,
 * because a harness cannot report that any other way.
 */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

#endif
