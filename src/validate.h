/*
 * Field validation shared by the API, the CLI and token creation. Each
 * failure is collected as (field, sentence) so that a 422 response names every
 * offending field and says how to fix it.
 */
#ifndef CITYPAY_VALIDATE_H
#define CITYPAY_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_ERRORS_MAX 16

struct field_error {
	char field[48];
	char message[320];
};

struct field_errors {
	struct field_error items[VALIDATE_ERRORS_MAX];
	int count;
};

/* Record one failure; the first failure of a field wins, extras are dropped. */
void field_errors_add(struct field_errors *errs, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True when the field already has a failure recorded. */
bool field_errors_has(const struct field_errors *errs, const char *field);

/*
 * Check an http or https URL without credentials, at most CP_URL_MAX
 * bytes. Returns true, or false with a reason sentence in why.
 */
bool validate_url(const char *url, char *why, size_t whylen);

/* True for a plausible e-mail address: one '@', no spaces, dot in domain. */
bool validate_email(const char *email);

/*
 * True for a merchant-chosen public key such as order_token or
 * deposit_token: 1 to max characters of letters, digits and "-_.", but
 * not "." or "..".
 */
bool validate_public_token(const char *text, size_t max);

/*
 * True when text is valid UTF-8 of at most max characters (code points)
 * without control characters other than tab.
 */
bool validate_text(const char *text, size_t max);

/* Number of characters (code points) of valid UTF-8 text. */
size_t validate_characters(const char *text);

/*
 * True when len bytes are valid UTF-8 without NUL or control characters
 * other than tab, CR and LF: the check every request field passes.
 */
bool validate_multiline_text(const char *text, size_t len);

#endif
