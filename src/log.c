#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static enum log_level log_min_level = LOG_INFO;
static _Thread_local char log_request_id[64];

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level level)
{
	log_min_level = level;
}

int
log_level_parse(const char *text, enum log_level *level)
{
	for (int i = 0; i <= LOG_ERROR; i++) {
		if (strcmp(text, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_set_request_id(const char *request_id)
{
	size_t n = request_id != NULL ? strnlen(request_id, sizeof(log_request_id) - 1) : 0;

	memcpy(log_request_id, request_id != NULL ? request_id : "", n);
	log_request_id[n] = '\0';
}

const char *
log_request_id_get(void)
{
	return log_request_id;
}

const char *
log_format_int(char *buf, int64_t value)
{
	/* Digits from the end of buf; the magnitude is taken as unsigned so
	 * that INT64_MIN needs no special case. buf has room for 24 bytes. */
	uint64_t v = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
	char *p = buf + 23;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (value < 0)
		*--p = '-';
	return p;
}

/* What log_scan() found in a value. */
enum {
	LOG_QUOTE = 1,    /* empty, or a control byte, a space, '=', a quote, a backslash or a byte past 0x7e */
	LOG_ESCAPE = 2,   /* a quote, a backslash or a control byte */
	LOG_SECRET = 4,   /* "cp_" or "whsec_", the start of a token or a secret */
};

/*
 * Find in one pass what log_append_value() must do with value, and its
 * length. The secret prefixes are looked for at each underscore.
 */
static unsigned
log_scan(const char *value, size_t *len)
{
	const unsigned char *v = (const unsigned char *)value;
	unsigned found = value[0] == '\0' ? LOG_QUOTE : 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = v[i];

		if (c > ' ' && c < 0x7f && c != '=' && c != '"' && c != '\\' && c != '_')
			continue;
		if (c == '_') {
			if ((i >= 2 && memcmp(v + i - 2, "cp", 2) == 0) ||
			    (i >= 5 && memcmp(v + i - 5, "whsec", 5) == 0))
				found |= LOG_SECRET;
			continue;
		}
		found |= LOG_QUOTE;
		if (c == '"' || c == '\\' || c < ' ' || c == 0x7f)
			found |= LOG_ESCAPE;
	}
	*len = i;
	return found;
}

static bool
log_is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Copy value into out with anything that looks like an access token or a
 * signing secret replaced by its prefix and "[redacted]": such text may
 * reach a log line through a URL or a field a client sent.
 */
static const char *
log_redact(const char *value, char *out, size_t outlen)
{
	static const char *const prefixes[] = { "cp_live_", "cp_test_", "whsec_" };
	size_t o = 0;

	if (strstr(value, "cp_") == NULL && strstr(value, "whsec_") == NULL)
		return value;
	for (const char *p = value; *p && o + 1 < outlen;) {
		size_t skip = 0;

		for (size_t i = 0; i < 3 && skip == 0; i++) {
			size_t n = strlen(prefixes[i]);
			if (strncmp(p, prefixes[i], n) == 0)
				skip = n;
		}
		if (skip == 0) {
			out[o++] = *p++;
			continue;
		}
		o += (size_t)snprintf(out + o, outlen - o, "%.*s[redacted]", (int)skip, p);
		if (o >= outlen)
			o = outlen - 1;
		for (p += skip; log_is_token_char(*p); p++)
			;
	}
	out[o] = '\0';
	return out;
}

/* Append one value, escaping quotes, backslashes and control bytes. */
static size_t
log_append_value(char *line, size_t pos, size_t cap, const char *value, unsigned found,
                 size_t len)
{
	bool quote = (found & LOG_QUOTE) != 0;
	size_t used = 0;

	if (quote && pos < cap)
		line[pos++] = '"';
	/* Most values need no escape and fit whole: the loop below would copy
	 * them byte by byte to the same result. */
	if (!(found & LOG_ESCAPE) && len < LOG_VALUE_MAX && pos + len + 4 < cap) {
		memcpy(line + pos, value, len);
		pos += len;
		if (quote)
			line[pos++] = '"';
		return pos;
	}
	for (const unsigned char *p = (const unsigned char *)value;
	     *p && used < LOG_VALUE_MAX && pos + 5 < cap; p++, used++) {
		if (*p == '"' || *p == '\\') {
			line[pos++] = '\\';
			line[pos++] = (char)*p;
		} else if (*p < ' ' || *p == 0x7f) {
			pos += (size_t)snprintf(line + pos, cap - pos, "\\x%02x", *p);
		} else {
			line[pos++] = (char)*p;
		}
	}
	if (used == LOG_VALUE_MAX && pos + 4 < cap) {
		memcpy(line + pos, "...", 3);
		pos += 3;
	}
	if (quote && pos < cap)
		line[pos++] = '"';
	return pos;
}

static size_t
log_append_pair(char *line, size_t pos, size_t cap, const char *key, const char *value)
{
	char redacted[LOG_VALUE_MAX + 32];
	size_t n = strlen(key), len;
	unsigned found;

	if (n + 2 >= cap - pos)
		return pos;
	line[pos] = ' ';
	memcpy(line + pos + 1, key, n);
	line[pos + 1 + n] = '=';
	if (value == NULL)
		value = "";
	found = log_scan(value, &len);
	if (found & LOG_SECRET) {
		value = log_redact(value, redacted, sizeof(redacted));
		found = log_scan(value, &len);
	}
	return log_append_value(line, pos + n + 2, cap, value, found, len);
}

/*
 * Write "ts=YYYY-MM-DDTHH:MM:SS.mmmZ" for now into line. The text up to
 * the seconds is formatted once a second per thread.
 */
static size_t
log_append_time(char *line, size_t cap, const struct timespec *now)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[32];
	static _Thread_local size_t cached_len;
	long ms = now->tv_nsec / 1000000;

	if (now->tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&now->tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "ts=%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = now->tv_sec;
	}
	if (cached_len + 5 >= cap)
		return 0;
	memcpy(line, cached, cached_len);
	line[cached_len] = '.';
	line[cached_len + 1] = (char)('0' + ms / 100);
	line[cached_len + 2] = (char)('0' + ms / 10 % 10);
	line[cached_len + 3] = (char)('0' + ms % 10);
	line[cached_len + 4] = 'Z';
	return cached_len + 5;
}

void
log_write(enum log_level level, const char *msg, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec now;
	size_t pos;
	va_list ap;

	if (level < log_min_level)
		return;

	clock_gettime(CLOCK_REALTIME, &now);
	pos = log_append_time(line, sizeof(line), &now);
	pos = log_append_pair(line, pos, sizeof(line) - 2, "level", log_level_names[level]);
	pos = log_append_pair(line, pos, sizeof(line) - 2, "msg", msg);
	if (log_request_id[0] != '\0')
		pos = log_append_pair(line, pos, sizeof(line) - 2, "request_id", log_request_id);

	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (key == NULL)
			break;
		pos = log_append_pair(line, pos, sizeof(line) - 2, key, va_arg(ap, const char *));
	}
	va_end(ap);

	line[pos++] = '\n';
	/* One write per line keeps lines whole when threads log at once. A
	 * failed or short write loses the line: there is nowhere to report it. */
	if (write(STDERR_FILENO, line, pos) < 0)
		return;
}
