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

#define GATEWAY_ID_CHARS 26

/* Write prefix and one base32 character for each of 26 random bytes. */
static void
gateway_format_id(const char *prefix, const unsigned char *bytes, char *out, size_t len)
{
	/* Crockford's base32 alphabet: no I, L, O or U to misread. */
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	size_t n = strlen(prefix);

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(out, prefix, n);
	for (size_t i = 0; i < GATEWAY_ID_CHARS && n + 1 < len; i++)
		out[n++] = alphabet[bytes[i] & 31];
	out[n] = '\0';
}

void
gateway_random_id(const char *prefix, char *out, size_t len)
{
	unsigned char bytes[GATEWAY_ID_CHARS];

	randombytes_buf(bytes, sizeof(bytes));
	gateway_format_id(prefix, bytes, out, len);
}

void
gateway_request_id(char *out, size_t len)
{
	/* A request id names a log line and needs no secrecy, so random bytes
	 * are drawn 16 ids at a time: one getrandom() call instead of one per
	 * request. */
	static _Thread_local unsigned char pool[GATEWAY_ID_CHARS * 16];
	static _Thread_local size_t used = sizeof(pool);

	if (used + GATEWAY_ID_CHARS > sizeof(pool)) {
		randombytes_buf(pool, sizeof(pool));
		used = 0;
	}
	gateway_format_id("", pool + used, out, len);
	used += GATEWAY_ID_CHARS;
}
