#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "html.h"
#include "limits.h"

#define HTML_INITIAL_CAP 8192

void
html_append(struct html_buf *b, const char *bytes, size_t n)
{
	if (b->failed)
		return;
	if (n > b->max - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : HTML_INITIAL_CAP;
		char *data;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		data = realloc(b->data, cap);
		if (data == NULL) {
			b->failed = true;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
html_puts(struct html_buf *b, const char *markup)
{
	html_append(b, markup, strlen(markup));
}

void
html_printf(struct html_buf *b, const char *format, ...)
{
	char text[256];
	va_list args;
	int n;

	va_start(args, format);
	n = vsnprintf(text, sizeof(text), format, args);
	va_end(args);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		b->failed = true;
		return;
	}
	html_append(b, text, (size_t)n);
}

char *
html_finish(struct html_buf *b, size_t *len)
{
	if (b->failed || b->data == NULL) {
		free(b->data);
		b->data = NULL;
		return NULL;
	}
	if (len != NULL)
		*len = b->len;
	return b->data;
}

void
html_escape(struct html_buf *b, const char *text)
{
	const char *run = text;

	if (text == NULL)
		return;
	for (const char *p = text; *p != '\0'; p++) {
		const char *reference;

		switch (*p) {
		case '&': reference = "&amp;"; break;
		case '<': reference = "&lt;"; break;
		case '>': reference = "&gt;"; break;
		case '"': reference = "&quot;"; break;
		case '\'': reference = "&#39;"; break;
		default: continue;
		}
		html_append(b, run, (size_t)(p - run));
		html_puts(b, reference);
		run = p + 1;
	}
	html_puts(b, run);
}

void
html_url_encode(struct html_buf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";

	if (text == NULL)
		return;
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		char encoded[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			html_append(b, (const char *)p, 1);
		else
			html_append(b, encoded, sizeof(encoded));
	}
}

bool
html_url_is_http(const char *url)
{
	size_t scheme_len;

	if (url == NULL)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		scheme_len = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		scheme_len = 7;
	else
		return false;
	if (url[scheme_len] == '\0' || strlen(url) > CP_URL_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return false;
	}
	return true;
}
