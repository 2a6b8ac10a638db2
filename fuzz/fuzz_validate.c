/*
 * validate_url() on the input as a C string, and validate_multiline_text()
 * on the raw bytes, NULs included.
 */
#include "fuzz_common.h"
#include "validate.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	char *text;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	text = fuzz_strndup(data, size);

	why[0] = '\0';
	if (!validate_url(text, why, sizeof(why)) && why[0] == '\0')
		abort();
	(void)validate_multiline_text((const char *)data, size);

	free(text);
	return 0;
}
