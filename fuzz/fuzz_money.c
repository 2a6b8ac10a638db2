/*
 * money_parse() at the scales of JPY (0), USD (2), BTC (8) and ETH (18).
 * Every accepted amount must survive money_format() and
 * money_format_trim() followed by a second money_parse() unchanged.
 */
#include <stdio.h>

#include "fuzz_common.h"
#include "money.h"

static const int scales[] = {0, 2, 8, 18};

static void
check_round_trip(const char *input, int scale, money_t units, const char *text)
{
	money_t again = 0;
	enum money_result rc = money_parse(text, scale, &again);

	if (rc != MONEY_OK || again != units) {
		fprintf(stderr, "money round trip failed at scale %d: \"%s\" formatted as \"%s\", "
		        "parsed again with result %d\n", scale, input, text, (int)rc);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input;

	if (size > 256)
		return 0;
	input = fuzz_strndup(data, size);

	for (size_t i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
		char text[MONEY_TEXT_MAX];
		money_t units = 0;

		if (money_parse(input, scales[i], &units) != MONEY_OK)
			continue;
		if (units <= 0 || units >= money_pow10(scales[i]) * MONEY_MAJOR_MAX) {
			fprintf(stderr, "money_parse accepted \"%s\" outside the allowed range\n", input);
			abort();
		}

		if (money_format(units, scales[i], text, sizeof(text)) == 0)
			abort();
		check_round_trip(input, scales[i], units, text);

		if (money_format_trim(units, scales[i], text, sizeof(text)) == 0)
			abort();
		check_round_trip(input, scales[i], units, text);
	}

	free(input);
	return 0;
}
