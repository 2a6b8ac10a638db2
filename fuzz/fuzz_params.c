/*
 * params_parse_json() and params_validate() on a request body, as
 * http_parse_body() calls them for application/json. fuzz_body.c covers
 * all three encodings through http_parse_body() itself.
 */
#include "fuzz_common.h"
#include "params.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct params *p;

	if (size > CP_BODY_MAX)
		return 0;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();

	/* data is exactly size bytes with no NUL after it, so a read past the
	 * body is reported by AddressSanitizer. */
	if (params_parse_json(p, (const char *)data, size) == 0) {
		(void)params_validate(p);
		(void)params_get(p, "amount");
		(void)params_is_structured(p, "metadata");
	}

	params_free(p);
	free(p);
	return 0;
}
