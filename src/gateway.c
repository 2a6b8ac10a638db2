#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "gateway.h"

int64_t
gateway_now_ms(const struct gateway *gw)
{
	struct timespec ts;

	if (gw != NULL && gw->fixed_now_ms != 0)
		return gw->fixed_now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
gateway_events_written(const struct gateway *gw)
{
	if (gw->events_written != NULL)
		gw->events_written(gw->events_arg);
}

void
gateway_random_id(const char *prefix, char *out, size_t len)
{
	/* Crockford's base32 alphabet: no I, L, O or U to misread. */
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	unsigned char bytes[26];
	char body[27];

	randombytes_buf(bytes, sizeof(bytes));
	for (size_t i = 0; i < sizeof(bytes); i++)
		body[i] = alphabet[bytes[i] & 31];
	body[26] = '\0';
	snprintf(out, len, "%s%s", prefix, body);
}
