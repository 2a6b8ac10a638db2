/*
 * config_set() on "key=value" lines, one call per line, on a fresh default
 * configuration per input. config_set() is the function that checks each
 * value, and calling it needs no temporary file. The INI reader of
 * config_load_file() (sections, comments, trimming) is not covered.
 */
#include <stdio.h>

#include "config.h"
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *text, *line, *next;
	char err[512];

	if (size > FUZZ_INPUT_MAX)
		return 0;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		abort();
	config_defaults(cfg);
	text = fuzz_strndup(data, size);

	for (line = text; line != NULL; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';

		err[0] = '\0';
		if (config_set(cfg, line, eq + 1, err, sizeof(err)) != 0 && err[0] == '\0') {
			fprintf(stderr, "config_set rejected key \"%s\" without a message\n", line);
			abort();
		}
	}
	config_finish(cfg);

	free(text);
	free(cfg);
	return 0;
}
