/*
 * Request fields from any of the three body encodings (JSON,
 * application/x-www-form-urlencoded, multipart/form-data) with the same
 * names and meaning. Values are kept as text exactly as sent: a JSON number
 * keeps its original digits, so "25.50" and 25.50 both read "25.50".
 *
 * These rules are the same in every encoding. A field with an empty name,
 * or a field sent twice, rejects the body. Every value must be valid UTF-8
 * without NUL or other control bytes (tab, CR and LF allowed). A body has
 * at most CP_PARAMS_MAX fields of at most CP_PARAM_VALUE_MAX bytes each.
 */
#ifndef CITYPAY_PARAMS_H
#define CITYPAY_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "limits.h"

struct param {
	char *name;
	char *value;
	size_t value_len;
	bool structured;   /* a JSON object or array: not usable as a field */
};

struct params {
	struct param items[CP_PARAMS_MAX];
	int count;
	char error[256];   /* why the body was rejected, for a 400 or 422 */
	char error_field[CP_PARAM_NAME_MAX + 1]; /* field named in error, or "" */
	/* Names that may repeat, such as a group of checkboxes; their values
	 * are joined with commas. NULL-terminated, or NULL for none. */
	const char *const *repeatable;
};

/* Parse a JSON object body of len bytes; -1 with params->error set. */
int params_parse_json(struct params *p, const char *body, size_t len);

/*
 * Set a new field, or append to it when append is true (form values may
 * arrive in pieces). -1 with params->error set when a limit is exceeded or
 * a field is set twice.
 */
int params_set(struct params *p, const char *name, const char *value, size_t len,
               bool append);

/* Check every value's text; -1 with params->error and error_field set. */
int params_validate(struct params *p);

/* The value of a field, or NULL when absent, JSON null or structured. */
const char *params_get(const struct params *p, const char *name);

/* True when the field is present as a JSON object or array. */
bool params_is_structured(const struct params *p, const char *name);

void params_free(struct params *p);

#endif
