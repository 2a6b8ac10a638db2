#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "limits.h"
#include "validate.h"

void
field_errors_add(struct field_errors *errs, const char *field, const char *fmt, ...)
{
	struct field_error *e;
	va_list ap;

	if (errs->count == VALIDATE_ERRORS_MAX || field_errors_has(errs, field))
		return;
	e = &errs->items[errs->count++];
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

bool
field_errors_has(const struct field_errors *errs, const char *field)
{
	for (int i = 0; i < errs->count; i++) {
		if (strcmp(errs->items[i].field, field) == 0)
			return true;
	}
	return false;
}

bool
validate_url(const char *url, char *why, size_t whylen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *user = NULL, *password = NULL, *host = NULL;
	bool ok = false;

	if (strlen(url) > CP_URL_MAX) {
		snprintf(why, whylen, "is longer than %d characters", CP_URL_MAX);
		return false;
	}
	if (!validate_text(url, CP_URL_MAX) || strpbrk(url, " \t") != NULL) {
		snprintf(why, whylen, "contains spaces or control characters");
		return false;
	}
	u = curl_url();
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(why, whylen, "is not a valid absolute URL such as https://shop.example/callback");
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(why, whylen, "must use http or https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
		snprintf(why, whylen, "must not contain a user name or password");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		snprintf(why, whylen, "has no host");
		goto out;
	}
	ok = true;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(password);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

bool
validate_email(const char *email)
{
	const char *at = strchr(email, '@');
	size_t n = strlen(email);

	if (n < 3 || n > CP_EMAIL_MAX || at == NULL || at == email || strchr(at + 1, '@'))
		return false;
	if (strpbrk(email, " \t\r\n<>\"") != NULL)
		return false;
	return strchr(at + 1, '.') != NULL && email[n - 1] != '.';
}

bool
validate_public_token(const char *text, size_t max)
{
	size_t n = 0;

	/* "." and ".." are path segments that clients and proxies rewrite, so
	 * GET /order/{token} could never reach them. */
	if (strcmp(text, ".") == 0 || strcmp(text, "..") == 0)
		return false;

	for (const char *p = text; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok || n >= max)
			return false;
	}
	return n > 0;
}

/*
 * Length of the UTF-8 sequence starting at p, or 0 when it is invalid or
 * longer than the avail bytes left: no byte at or past p + avail is read.
 */
static size_t
utf8_sequence(const unsigned char *p, size_t avail)
{
	size_t need;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (avail < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	/* Overlong forms, UTF-16 surrogates and code points above U+10FFFF. */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return need;
}

bool
validate_text(const char *text, size_t max)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t characters = 0;

	/* The string ends in a NUL, which is no continuation byte, so the
	 * check of a sequence stops there without reading past it. */
	while (*p) {
		size_t len = utf8_sequence(p, 4);
		if (len == 0 || (*p < 0x20 && *p != '\t') || *p == 0x7f || ++characters > max)
			return false;
		p += len;
	}
	return true;
}

size_t
validate_characters(const char *text)
{
	size_t characters = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		characters += (*p & 0xc0) != 0x80;
	return characters;
}

bool
validate_multiline_text(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + len;

	while (p < end) {
		size_t n = utf8_sequence(p, (size_t)(end - p));
		if (n == 0 || p + n > end || *p == 0x7f)
			return false;
		if (*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
		p += n;
	}
	return true;
}
