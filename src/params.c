#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "params.h"
#include "validate.h"

static struct param *
params_find(struct params *p, const char *name)
{
	for (int i = 0; i < p->count; i++) {
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	}
	return NULL;
}

static bool
params_is_repeatable(const struct params *p, const char *name)
{
	for (const char *const *r = p->repeatable; r != NULL && *r != NULL; r++) {
		if (strcmp(*r, name) == 0)
			return true;
	}
	return false;
}

static int
params_check_name(struct params *p, const char *name)
{
	/* libmicrohttpd rejects an urlencoded field without a name, so the
	 * other encodings reject it too. */
	if (name[0] == '\0') {
		snprintf(p->error, sizeof(p->error), "a field has an empty name; name every field");
		return -1;
	}
	if (strlen(name) > CP_PARAM_NAME_MAX) {
		snprintf(p->error, sizeof(p->error), "a field name is longer than %d bytes",
		         CP_PARAM_NAME_MAX);
		return -1;
	}
	return 0;
}

int
params_set(struct params *p, const char *name, const char *value, size_t len, bool append)
{
	struct param *item;
	size_t old = 0;
	char *grown;

	if (params_check_name(p, name) != 0)
		return -1;
	item = params_find(p, name);
	if (item != NULL && !append && params_is_repeatable(p, name)) {
		if (params_set(p, name, ",", 1, true) != 0)
			return -1;
		return params_set(p, name, value, len, true);
	}
	if (item != NULL && !append) {
		/* A repeated field could make this gateway read another value
		 * than a proxy or firewall in front of it, so it is rejected. */
		snprintf(p->error, sizeof(p->error), "field %.64s is sent more than once;"
		         " send each field once", name);
		snprintf(p->error_field, sizeof(p->error_field), "%s", name);
		return -1;
	}
	if (item == NULL) {
		if (p->count == CP_PARAMS_MAX) {
			snprintf(p->error, sizeof(p->error), "the body has more than %d fields",
			         CP_PARAMS_MAX);
			return -1;
		}
		item = &p->items[p->count++];
		memset(item, 0, sizeof(*item));
		item->name = strdup(name);
	} else {
		old = item->value_len;
	}
	if (old + len > CP_PARAM_VALUE_MAX) {
		snprintf(p->error, sizeof(p->error), "field %.64s is longer than %d bytes",
		         name, CP_PARAM_VALUE_MAX);
		snprintf(p->error_field, sizeof(p->error_field), "%s", name);
		return -1;
	}
	grown = realloc(old ? item->value : NULL, old + len + 1);
	if (grown == NULL || item->name == NULL) {
		free(grown);
		snprintf(p->error, sizeof(p->error), "out of memory");
		return -1;
	}
	if (!old)
		free(item->value);
	memcpy(grown + old, value, len);
	grown[old + len] = '\0';
	item->value = grown;
	item->value_len = old + len;
	item->structured = false;
	return 0;
}

/*
 * json-c saturates integers beyond 64 bits to INT64_MIN, INT64_MAX or
 * UINT64_MAX and keeps no original text for them, so those exact values are
 * taken as out of range rather than trusted.
 */
static bool
params_int_saturated(json_object *v)
{
	const char *text = json_object_get_string(v);

	return strcmp(text, "9223372036854775807") == 0 ||
	       strcmp(text, "-9223372036854775808") == 0 ||
	       strcmp(text, "18446744073709551615") == 0;
}

static int
params_add_json_value(struct params *p, const char *name, json_object *v)
{
	/* Checked here as well, because a null value sets no field. */
	if (params_check_name(p, name) != 0)
		return -1;
	switch (json_object_get_type(v)) {
	case json_type_null:
		return 0;
	case json_type_object:
	case json_type_array:
		if (params_set(p, name, "", 0, false) != 0)
			return -1;
		params_find(p, name)->structured = true;
		return 0;
	case json_type_string:
		return params_set(p, name, json_object_get_string(v),
		                  (size_t)json_object_get_string_len(v), false);
	case json_type_int:
		if (params_int_saturated(v)) {
			snprintf(p->error, sizeof(p->error), "%.64s is a number outside the 64-bit"
			         " integer range", name);
			snprintf(p->error_field, sizeof(p->error_field), "%s", name);
			return -1;
		}
		/* fall through */
	default: {
		const char *text = json_object_get_string(v);
		return params_set(p, name, text, strlen(text), false);
	}
	}
}

/*
 * Count the members of the top-level object in JSON text that json-c has
 * already parsed as valid, and report whether a member name contains an
 * escaped NUL. json-c keeps the last of repeated names and cuts a name at
 * a NUL, so comparing this count with the object's length reveals repeats,
 * and the NUL flag reveals cut names; json-c offers neither check itself.
 */
static size_t
params_json_members(const char *body, size_t len, bool *nul_in_name)
{
	size_t members = 0;
	int depth = 0;
	bool in_string = false, in_name = false, expect_name = false;

	*nul_in_name = false;
	for (size_t i = 0; i < len; i++) {
		char c = body[i];

		if (in_string) {
			if (c == '\\' && in_name && i + 5 < len && memcmp(body + i + 1, "u0000", 5) == 0)
				*nul_in_name = true;
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = in_name = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
			in_name = depth == 1 && expect_name;
			if (in_name)
				members++;
			expect_name = false;
		} else if (c == '{' || c == '[') {
			depth++;
			expect_name = depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			expect_name = true;
		}
	}
	return members;
}

/* The value of the 4 hex digits after "\\u" at text, or -1. */
static long
params_json_escape_value(const char *text, size_t avail)
{
	char hex[5];
	char *end = NULL;
	long value;

	if (avail < 6 || text[0] != '\\' || text[1] != 'u')
		return -1;
	memcpy(hex, text + 2, 4);
	hex[4] = '\0';
	value = strtol(hex, &end, 16);
	return *end == '\0' ? value : -1;
}

/*
 * True when JSON text that json-c has already parsed as valid contains a
 * \\u escape of a UTF-16 surrogate that is not part of a high-low pair.
 * json-c 0.16 replaces such an escape with U+FFFD instead of failing.
 */
static bool
params_json_lone_surrogate(const char *body, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		long unit;

		if (body[i] == '"') {
			in_string = !in_string;
			continue;
		}
		if (!in_string || body[i] != '\\')
			continue;
		unit = params_json_escape_value(body + i, len - i);
		if (unit < 0xd800 || unit > 0xdfff) {
			i++;
			continue;
		}
		if (unit > 0xdbff)
			return true;
		long low = params_json_escape_value(body + i + 6, len - i - 6);
		if (low < 0xdc00 || low > 0xdfff)
			return true;
		i += 11;
	}
	return false;
}

int
params_parse_json(struct params *p, const char *body, size_t len)
{
	/* json-c 0.16 rejects a container at depth max_depth - 1, so N levels
	 * need N + 1. */
	json_tokener *tok = json_tokener_new_ex(CP_JSON_DEPTH_MAX + 1);
	json_object *root = NULL;
	int rc = -1;

	if (tok == NULL) {
		snprintf(p->error, sizeof(p->error), "out of memory");
		return -1;
	}
	/* Strict mode rejects comments and trailing commas. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		snprintf(p->error, sizeof(p->error), "the body is not valid JSON: %s",
		         e == json_tokener_continue ? "unexpected end of input"
		         : e == json_tokener_success ? "unexpected data after the object"
		         : json_tokener_error_desc(e));
		goto out;
	}
	if (params_json_lone_surrogate(body, len)) {
		snprintf(p->error, sizeof(p->error), "the body is not valid JSON: a \\u escape"
		         " names a UTF-16 surrogate outside a pair");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(p->error, sizeof(p->error), "the JSON body must be an object of fields");
		goto out;
	}
	bool nul_in_name = false;
	if (params_json_members(body, len, &nul_in_name) != (size_t)json_object_object_length(root) ||
	    nul_in_name) {
		snprintf(p->error, sizeof(p->error), "the JSON body repeats a field name, or a"
		         " name contains a NUL character; send each field once");
		goto out;
	}
	json_object_object_foreach(root, key, value) {
		if (params_add_json_value(p, key, value) != 0)
			goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

int
params_validate(struct params *p)
{
	for (int i = 0; i < p->count; i++) {
		struct param *item = &p->items[i];

		if (validate_multiline_text(item->value, item->value_len))
			continue;
		snprintf(p->error, sizeof(p->error), "%.64s must be UTF-8 text without NUL"
		         " or control characters", item->name);
		snprintf(p->error_field, sizeof(p->error_field), "%s", item->name);
		return -1;
	}
	return 0;
}

const char *
params_get(const struct params *p, const char *name)
{
	for (int i = 0; i < p->count; i++) {
		if (strcmp(p->items[i].name, name) == 0)
			return p->items[i].structured ? NULL : p->items[i].value;
	}
	return NULL;
}

bool
params_is_structured(const struct params *p, const char *name)
{
	for (int i = 0; i < p->count; i++) {
		if (strcmp(p->items[i].name, name) == 0)
			return p->items[i].structured;
	}
	return false;
}

void
params_free(struct params *p)
{
	for (int i = 0; i < p->count; i++) {
		free(p->items[i].name);
		free(p->items[i].value);
	}
	p->count = 0;
}
