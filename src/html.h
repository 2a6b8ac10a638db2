/*
 * A growable, size-capped buffer for server-rendered HTML, with the
 * escaping and URL encoding that the buyer pages and the cabinet share.
 */
#ifndef CITYPAY_HTML_H
#define CITYPAY_HTML_H

#include <stdbool.h>
#include <stddef.h>

struct html_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;    /* largest page in bytes; set before the first append */
	bool failed;   /* memory ran out or the page passed max, so later appends do nothing */
};

/* Append n bytes of markup. */
void html_append(struct html_buf *b, const char *bytes, size_t n);

/* Append a NUL-terminated string of markup. */
void html_puts(struct html_buf *b, const char *markup);

/* Append formatted markup of at most 255 bytes. Longer output marks the page failed. */
void html_printf(struct html_buf *b, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Return the page and hand its ownership to the caller, or NULL on failure. */
char *html_finish(struct html_buf *b, size_t *len);

/*
 * Append text with the five characters that are special in HTML content
 * and in quoted attribute values replaced by references. NULL appends
 * nothing.
 */
void html_escape(struct html_buf *b, const char *text);

/*
 * Append text percent-encoded with only the RFC 3986 unreserved characters
 * kept, so it is safe as a path segment or a query value and needs no HTML
 * escaping inside an attribute.
 */
void html_url_encode(struct html_buf *b, const char *text);

/*
 * True for an absolute http or https URL without spaces or control
 * characters. Only such URLs become links, so a javascript: or data: URL
 * stays text.
 */
bool html_url_is_http(const char *url);

#endif
