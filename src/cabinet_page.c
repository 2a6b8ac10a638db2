/*
 * The merchant cabinet as HTML. Markup is written into one growable buffer
 * capped at CABINET_PAGE_MAX. Every value taken from `data`, the frame or
 * the submitted form goes through html_escape() or html_url_encode().
 * html_puts() and html_printf() write only string literals, numbers and
 * entries of constant tables, with one exception: the QR code SVG of a
 * two-step enrolment, which the gateway's own qr module generates.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cabinet_page.h"
#include "html.h"
#include "limits.h"
#include "order_state.h"

/* Shown for a value that is null, missing or empty. */
#define CAB_NONE "\xe2\x80\x94"

/* JSON values */

/* The member key of an object, or NULL when obj is no object, lacks key or key is null. */
static json_object *cab_get(json_object *obj, const char *key)
{
	json_object *value = NULL;

	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &value))
		return NULL;
	return value;
}

/* The string of v, or NULL when v is not a string. */
static const char *cab_value_string(json_object *v)
{
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *cab_string(json_object *obj, const char *key)
{
	return cab_value_string(cab_get(obj, key));
}

static bool cab_has_text(const char *text)
{
	return text != NULL && text[0] != '\0';
}

/* Read an integer from a JSON number or a string of decimal digits. */
static bool cab_value_int(json_object *v, int64_t *out)
{
	const char *text;
	char *end;
	long long n;

	switch (json_object_get_type(v)) {
	case json_type_int:
		*out = json_object_get_int64(v);
		return true;
	case json_type_double:
		*out = (int64_t)json_object_get_double(v);
		return true;
	case json_type_string:
		text = json_object_get_string(v);
		if (text[0] < '0' || text[0] > '9')
			return false;
		errno = 0;
		n = strtoll(text, &end, 10);
		if (errno != 0 || *end != '\0')
			return false;
		*out = n;
		return true;
	default:
		return false;
	}
}

static bool cab_int(json_object *obj, const char *key, int64_t *out)
{
	return cab_value_int(cab_get(obj, key), out);
}

static bool cab_bool(json_object *obj, const char *key)
{
	json_object *v = cab_get(obj, key);

	return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static size_t cab_array_length(json_object *v)
{
	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

/* Append the escaped text of a scalar, or CAB_NONE for null, an empty string or a container. */
static void cab_text(struct html_buf *b, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		if (json_object_get_string_len(v) == 0)
			html_puts(b, CAB_NONE);
		else
			html_escape(b, json_object_get_string(v));
		break;
	case json_type_int:
		html_printf(b, "%lld", (long long)json_object_get_int64(v));
		break;
	case json_type_double:
		/* The serialised text, so a decimal the API sent as "25.50" keeps its digits. */
		html_escape(b, json_object_get_string(v));
		break;
	case json_type_boolean:
		html_puts(b, json_object_get_boolean(v) ? "yes" : "no");
		break;
	default:
		html_puts(b, CAB_NONE);
		break;
	}
}

static void cab_member_text(struct html_buf *b, json_object *obj, const char *key)
{
	cab_text(b, cab_get(obj, key));
}

/* Append an id or token as a URL path segment: a number as digits, a string percent-encoded. */
static void cab_path_segment(struct html_buf *b, json_object *v)
{
	int64_t n;

	if (json_object_is_type(v, json_type_string))
		html_url_encode(b, json_object_get_string(v));
	else if (cab_value_int(v, &n))
		html_printf(b, "%lld", (long long)n);
}

/* Times */

/* Append Unix seconds as "2024-05-01 12:00 UTC" inside a <time> element, or CAB_NONE. */
static void cab_time(struct html_buf *b, int64_t seconds)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	char machine[32];
	char human[32];

	if ((int64_t)t != seconds || gmtime_r(&t, &tm) == NULL ||
	    strftime(machine, sizeof(machine), "%Y-%m-%dT%H:%MZ", &tm) == 0 ||
	    strftime(human, sizeof(human), "%Y-%m-%d %H:%M UTC", &tm) == 0) {
		html_puts(b, CAB_NONE);
		return;
	}
	html_puts(b, "<time datetime=\"");
	html_puts(b, machine);
	html_puts(b, "\">");
	html_puts(b, human);
	html_puts(b, "</time>");
}

/* Append a time given as Unix seconds (number or digits), or the escaped text of anything else. */
static void cab_time_value(struct html_buf *b, json_object *v)
{
	int64_t seconds;

	if (cab_value_int(v, &seconds))
		cab_time(b, seconds);
	else
		cab_text(b, v);
}

static void cab_member_time(struct html_buf *b, json_object *obj, const char *key)
{
	cab_time_value(b, cab_get(obj, key));
}

/*
 * Append a time of order information, which carries Unix milliseconds in
 * ms_key and "YYYY-MM-DD HH:MM" UTC text in text_key. Either may be absent.
 */
static void cab_order_time(struct html_buf *b, json_object *obj, const char *ms_key,
                           const char *text_key)
{
	int64_t ms;
	const char *text = text_key != NULL ? cab_string(obj, text_key) : NULL;

	if (ms_key != NULL && cab_int(obj, ms_key, &ms)) {
		cab_time(b, ms / 1000);
	} else if (cab_has_text(text)) {
		html_escape(b, text);
		html_puts(b, " UTC");
	} else {
		html_puts(b, CAB_NONE);
	}
}

/* Shared markup */

static void cab_hidden(struct html_buf *b, const char *name, const char *value)
{
	html_puts(b, "<input type=\"hidden\" name=\"");
	html_puts(b, name);
	html_puts(b, "\" value=\"");
	html_escape(b, value);
	html_puts(b, "\">\n");
}

static void cab_csrf(struct html_buf *b, const struct cabinet_frame *f)
{
	cab_hidden(b, "csrf_token", f->csrf_token);
}

/* Append a link for an http(s) URL and plain escaped text for any other value. */
static void cab_url(struct html_buf *b, const char *url)
{
	if (!cab_has_text(url)) {
		html_puts(b, CAB_NONE);
		return;
	}
	if (!html_url_is_http(url)) {
		html_puts(b, "<span class=\"url\">");
		html_escape(b, url);
		html_puts(b, "</span>");
		return;
	}
	html_puts(b, "<a class=\"url\" rel=\"noreferrer\" href=\"");
	html_escape(b, url);
	html_puts(b, "\">");
	html_escape(b, url);
	html_puts(b, "</a>");
}

/* Append an array of strings as a list, URLs as links when urls is set. */
static void cab_list(struct html_buf *b, json_object *items, bool urls)
{
	size_t n = cab_array_length(items);

	if (n == 0) {
		html_puts(b, CAB_NONE);
		return;
	}
	html_puts(b, "<ul class=\"plain\">");
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(items, i);

		html_puts(b, "<li>");
		if (urls)
			cab_url(b, cab_value_string(item));
		else
			cab_text(b, item);
		html_puts(b, "</li>");
	}
	html_puts(b, "</ul>");
}

/*
 * Open a table inside a wrapper that scrolls sideways on narrow screens.
 * With sticky_last, the last column, the actions, stays in view while the
 * others scroll.
 */
static void cab_table_open(struct html_buf *b, const char *caption, const char *const *columns,
                           size_t column_count, bool sticky_last)
{
	html_puts(b, "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-label=\"");
	html_puts(b, caption);
	html_puts(b, sticky_last ? "\">\n<table class=\"sticky-last\">\n" : "\">\n<table>\n");
	html_puts(b, "<caption class=\"visually-hidden\">");
	html_puts(b, caption);
	html_puts(b, "</caption>\n<thead><tr>");
	for (size_t i = 0; i < column_count; i++) {
		html_puts(b, "<th scope=\"col\">");
		html_puts(b, columns[i]);
		html_puts(b, "</th>");
	}
	html_puts(b, "</tr></thead>\n<tbody>\n");
}

static void cab_table_close(struct html_buf *b)
{
	html_puts(b, "</tbody>\n</table>\n</div>\n");
}

/* A table cell holding the escaped text of obj[key]. */
static void cab_cell(struct html_buf *b, json_object *obj, const char *key)
{
	html_puts(b, "<td>");
	cab_member_text(b, obj, key);
	html_puts(b, "</td>");
}

static void cab_cell_time(struct html_buf *b, json_object *obj, const char *key)
{
	html_puts(b, "<td class=\"nowrap\">");
	cab_member_time(b, obj, key);
	html_puts(b, "</td>");
}

static void cab_empty(struct html_buf *b, const char *sentence)
{
	html_puts(b, "<p class=\"empty\">");
	html_puts(b, sentence);
	html_puts(b, "</p>\n");
}

/* A badge of an order status code: its label, or the escaped code when unknown. */
static void cab_order_status(struct html_buf *b, const char *code)
{
	enum order_status status;

	if (code == NULL || order_status_parse(code, &status) != 0) {
		html_puts(b, "<span class=\"badge\">");
		html_escape(b, cab_has_text(code) ? code : CAB_NONE);
		html_puts(b, "</span>");
		return;
	}
	html_puts(b, "<span class=\"badge status-");
	html_puts(b, order_status_code(status));
	html_puts(b, "\">");
	html_puts(b, order_status_label(status));
	html_puts(b, "</span>");
}

/* Frame: head, header, navigation and messages */

static const char *const cab_nav_items[][2] = {
	{ "tokens", "Tokens" },
	{ "orders", "Orders" },
	{ "deposits", "Deposits" },
	{ "settings", "Settings" },
	{ "security", "Security" },
	{ "audit", "Audit log" },
};

/* Open the document. Its title is label, the escaped name in quotes when given, and the company. */
static void cab_head(struct html_buf *b, const char *label, const char *name, const char *company,
                     const char *body_class)
{
	html_puts(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	            "<meta charset=\"utf-8\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	            "<meta name=\"referrer\" content=\"no-referrer\">\n"
	            "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	            "<title>");
	html_puts(b, label);
	if (name != NULL) {
		html_puts(b, " \xe2\x80\x9c");
		html_escape(b, name);
		html_puts(b, "\xe2\x80\x9d");
	}
	if (cab_has_text(company)) {
		html_puts(b, " \xc2\xb7 ");
		html_escape(b, company);
	}
	html_puts(b, " \xc2\xb7 CityPay cabinet</title>\n"
	            "<link rel=\"stylesheet\" href=\"/static/cabinet.css\">\n"
	            "<script src=\"/static/cabinet.js\" defer></script>\n"
	            "</head>\n<body class=\"");
	html_puts(b, body_class);
	html_puts(b, "\">\n");
}

static void cab_header(struct html_buf *b, const struct cabinet_frame *f)
{
	html_puts(b, "<a class=\"skip-link\" href=\"#main\">Skip to content</a>\n"
	            "<header class=\"top\">\n<div class=\"top-inner\">\n<p class=\"brand\">"
	            "<span class=\"company\">");
	html_escape(b, cab_has_text(f->company) ? f->company : "Merchant");
	html_printf(b, "</span> <span class=\"customer\">Customer ID %lld</span></p>\n",
	           (long long)f->customer_id);
	html_puts(b, "<form method=\"post\" action=\"/cabinet/logout\" class=\"logout\">\n");
	cab_csrf(b, f);
	html_puts(b, "<button type=\"submit\" class=\"secondary small\">Sign out</button>\n</form>\n"
	            "</div>\n<nav class=\"tabs\" aria-label=\"Cabinet\">\n<ul>\n");
	for (size_t i = 0; i < sizeof(cab_nav_items) / sizeof(cab_nav_items[0]); i++) {
		bool active = f->active != NULL && strcmp(f->active, cab_nav_items[i][0]) == 0;

		html_puts(b, "<li><a href=\"/cabinet/");
		html_puts(b, cab_nav_items[i][0]);
		html_puts(b, active ? "\" aria-current=\"page\">" : "\">");
		html_puts(b, cab_nav_items[i][1]);
		html_puts(b, "</a></li>\n");
	}
	html_puts(b, "</ul>\n</nav>\n</header>\n");
}

/* The message of a field error, or NULL when the entry is not NUL-terminated. */
static const char *cab_error_message(const struct field_error *e)
{
	if (memchr(e->field, '\0', sizeof(e->field)) == NULL ||
	    memchr(e->message, '\0', sizeof(e->message)) == NULL)
		return NULL;
	return e->message;
}

static int cab_error_count(const struct cabinet_frame *f)
{
	if (f == NULL || f->errors == NULL || f->errors->count < 0)
		return 0;
	return f->errors->count < VALIDATE_ERRORS_MAX ? f->errors->count : VALIDATE_ERRORS_MAX;
}

/* The error message of one form field, or NULL when it has none. */
static const char *cab_field_error(const struct cabinet_frame *f, const char *name)
{
	int count = cab_error_count(f);

	for (int i = 0; i < count; i++) {
		const struct field_error *e = &f->errors->items[i];
		const char *message = cab_error_message(e);

		if (message != NULL && strcmp(e->field, name) == 0)
			return message;
	}
	return NULL;
}

/* A list of every field error at the top of the page, each linked to its field. */
static void cab_error_summary(struct html_buf *b, const struct cabinet_frame *f)
{
	int count = cab_error_count(f);

	if (count == 0)
		return;
	html_puts(b, "<div class=\"error-summary\" role=\"alert\" aria-labelledby=\"error-summary-title\">\n"
	            "<h2 id=\"error-summary-title\">");
	if (count == 1)
		html_puts(b, "Fix this problem and submit again");
	else
		html_printf(b, "Fix these %d problems and submit again", count);
	html_puts(b, "</h2>\n<ul>\n");
	for (int i = 0; i < count; i++) {
		const struct field_error *e = &f->errors->items[i];
		const char *message = cab_error_message(e);

		if (message == NULL)
			continue;
		if (e->field[0] == '\0') {
			html_puts(b, "<li>");
			html_escape(b, message);
			html_puts(b, "</li>\n");
			continue;
		}
		html_puts(b, "<li><a href=\"#f-");
		html_escape(b, e->field);
		html_puts(b, "\">");
		html_escape(b, message);
		html_puts(b, "</a></li>\n");
	}
	html_puts(b, "</ul>\n</div>\n");
}

/*
 * Open a signed-in page up to its heading, the notice and the error
 * summary. The heading is label, followed by the escaped name in quotes
 * when name is not NULL.
 */
static void cab_begin(struct html_buf *b, const struct cabinet_frame *f, const char *label,
                      const char *name)
{
	cab_head(b, label, name, f->company, "cabinet");
	cab_header(b, f);
	html_puts(b, "<main id=\"main\" tabindex=\"-1\">\n<h1>");
	html_puts(b, label);
	if (name != NULL) {
		html_puts(b, " \xe2\x80\x9c");
		html_escape(b, name);
		html_puts(b, "\xe2\x80\x9d");
	}
	html_puts(b, "</h1>\n");
	if (cab_has_text(f->notice)) {
		html_puts(b, "<p class=\"notice\" role=\"status\">");
		html_escape(b, f->notice);
		html_puts(b, "</p>\n");
	}
	cab_error_summary(b, f);
}

static void cab_end(struct html_buf *b)
{
	html_puts(b, "</main>\n</body>\n</html>\n");
}

static void cab_back_link(struct html_buf *b, const char *href, const char *text)
{
	html_puts(b, "<p class=\"back\"><a href=\"");
	html_puts(b, href);
	html_puts(b, "\">\xe2\x86\x90 ");
	html_puts(b, text);
	html_puts(b, "</a></p>\n");
}

/* Form fields */

/*
 * The value a field shows. After a rejected POST (f->form set) it is the
 * submitted value, which is NULL for a field left out. Otherwise it is the
 * stored value.
 */
static json_object *cab_field_value(const struct cabinet_frame *f, const char *name,
                                    json_object *stored)
{
	if (f->form != NULL)
		return cab_get(f->form, name);
	return stored;
}

/* Append the escaped value of a text field: a scalar, or array items one per line. */
static void cab_field_text(struct html_buf *b, json_object *v)
{
	size_t n;

	switch (json_object_get_type(v)) {
	case json_type_string:
	case json_type_double:
		html_escape(b, json_object_get_string(v));
		break;
	case json_type_int:
		html_printf(b, "%lld", (long long)json_object_get_int64(v));
		break;
	case json_type_array:
		n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			json_object *item = json_object_array_get_idx(v, i);

			if (i > 0)
				html_puts(b, "\n");
			if (json_object_is_type(item, json_type_string) ||
			    json_object_is_type(item, json_type_int))
				cab_field_text(b, item);
		}
		break;
	default:
		break;
	}
}

/*
 * Open one field: a wrapper, the label, an optional hint and the field's
 * error message. The control follows, with cab_control_attrs().
 */
static void cab_field_open(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                           const char *label, const char *hint)
{
	const char *error = cab_field_error(f, name);

	html_puts(b, error != NULL ? "<div class=\"field field-invalid\">\n" : "<div class=\"field\">\n");
	html_puts(b, "<label for=\"f-");
	html_puts(b, name);
	html_puts(b, "\">");
	html_puts(b, label);
	html_puts(b, "</label>\n");
	if (hint != NULL) {
		html_puts(b, "<p class=\"hint\" id=\"f-");
		html_puts(b, name);
		html_puts(b, "-hint\">");
		html_puts(b, hint);
		html_puts(b, "</p>\n");
	}
	if (error != NULL) {
		html_puts(b, "<p class=\"field-error\" id=\"f-");
		html_puts(b, name);
		html_puts(b, "-error\"><span class=\"visually-hidden\">Error: </span>");
		html_escape(b, error);
		html_puts(b, "</p>\n");
	}
}

/* The name attribute and, when the field has a hint or an error, aria-describedby. */
static void cab_describe_attrs(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                               bool has_hint)
{
	bool has_error = cab_field_error(f, name) != NULL;

	html_puts(b, " name=\"");
	html_puts(b, name);
	html_puts(b, "\"");
	if (!has_hint && !has_error)
		return;
	html_puts(b, " aria-describedby=\"");
	if (has_hint) {
		html_puts(b, "f-");
		html_puts(b, name);
		html_puts(b, "-hint");
	}
	if (has_error) {
		html_puts(b, has_hint ? " f-" : "f-");
		html_puts(b, name);
		html_puts(b, "-error\" aria-invalid=\"true");
	}
	html_puts(b, "\"");
}

/* The id, name and description attributes of the control of a field opened by cab_field_open(). */
static void cab_control_attrs(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                              bool has_hint)
{
	html_puts(b, " id=\"f-");
	html_puts(b, name);
	html_puts(b, "\"");
	cab_describe_attrs(b, f, name, has_hint);
}

/* Append one <input> field. attrs is literal markup such as " required", and value is NULL for none. */
static void cab_input(struct html_buf *b, const struct cabinet_frame *f, const char *type,
                      const char *name, const char *label, const char *hint, const char *attrs,
                      json_object *value)
{
	cab_field_open(b, f, name, label, hint);
	html_puts(b, "<input type=\"");
	html_puts(b, type);
	html_puts(b, "\"");
	cab_control_attrs(b, f, name, hint != NULL);
	if (value != NULL) {
		html_puts(b, " value=\"");
		cab_field_text(b, value);
		html_puts(b, "\"");
	}
	if (attrs != NULL)
		html_puts(b, attrs);
	html_puts(b, ">\n</div>\n");
}

static void cab_textarea(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                         const char *label, const char *hint, const char *attrs, json_object *value)
{
	cab_field_open(b, f, name, label, hint);
	html_puts(b, "<textarea");
	cab_control_attrs(b, f, name, hint != NULL);
	if (attrs != NULL)
		html_puts(b, attrs);
	/* The parser drops one newline right after <textarea>, so a value starting with one keeps it. */
	html_puts(b, ">\n");
	cab_field_text(b, value);
	html_puts(b, "</textarea>\n</div>\n");
}

static void cab_option(struct html_buf *b, const char *value, const char *label, bool selected)
{
	html_puts(b, "<option value=\"");
	html_escape(b, value);
	html_puts(b, selected ? "\" selected>" : "\">");
	html_escape(b, label);
	html_puts(b, "</option>\n");
}

/*
 * One <select> of the strings in choices with `selected` chosen. A
 * selected value missing from choices is added as an option, so saving
 * the form does not change it silently.
 */
static void cab_select(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                       const char *label, const char *hint, json_object *choices,
                       const char *selected)
{
	size_t n = cab_array_length(choices);
	bool found = false;

	cab_field_open(b, f, name, label, hint);
	html_puts(b, "<select");
	cab_control_attrs(b, f, name, hint != NULL);
	html_puts(b, " required>\n");
	for (size_t i = 0; i < n; i++) {
		const char *choice = cab_value_string(json_object_array_get_idx(choices, i));
		bool is_selected = choice != NULL && selected != NULL && strcmp(choice, selected) == 0;

		if (choice == NULL)
			continue;
		found = found || is_selected;
		cab_option(b, choice, choice, is_selected);
	}
	if (!found && cab_has_text(selected))
		cab_option(b, selected, selected, true);
	html_puts(b, "</select>\n</div>\n");
}

/*
 * Open a group of checkboxes or radio buttons: a fieldset with the id the
 * error summary links to, its legend, a hint and the error message.
 */
static void cab_group_open(struct html_buf *b, const struct cabinet_frame *f, const char *name,
                           const char *legend, const char *hint)
{
	const char *error = cab_field_error(f, name);

	html_puts(b, error != NULL ? "<fieldset class=\"field group field-invalid\" id=\"f-"
	                          : "<fieldset class=\"field group\" id=\"f-");
	html_puts(b, name);
	html_puts(b, "\" tabindex=\"-1\">\n<legend>");
	html_puts(b, legend);
	html_puts(b, "</legend>\n");
	if (hint != NULL) {
		html_puts(b, "<p class=\"hint\" id=\"f-");
		html_puts(b, name);
		html_puts(b, "-hint\">");
		html_puts(b, hint);
		html_puts(b, "</p>\n");
	}
	if (error != NULL) {
		html_puts(b, "<p class=\"field-error\" id=\"f-");
		html_puts(b, name);
		html_puts(b, "-error\"><span class=\"visually-hidden\">Error: </span>");
		html_escape(b, error);
		html_puts(b, "</p>\n");
	}
}

/* One checkbox or radio button of a group, with id "f-<name>-<value>". */
static void cab_choice(struct html_buf *b, const struct cabinet_frame *f, const char *type,
                       const char *name, const char *value, const char *label, bool checked,
                       bool has_hint)
{
	html_puts(b, "<div class=\"choice\"><input type=\"");
	html_puts(b, type);
	html_puts(b, "\" id=\"f-");
	html_puts(b, name);
	html_puts(b, "-");
	html_escape(b, value);
	html_puts(b, "\"");
	cab_describe_attrs(b, f, name, has_hint);
	html_puts(b, " value=\"");
	html_escape(b, value);
	html_puts(b, checked ? "\" checked>" : "\">");
	html_puts(b, "<label for=\"f-");
	html_puts(b, name);
	html_puts(b, "-");
	html_escape(b, value);
	html_puts(b, "\">");
	html_escape(b, label);
	html_puts(b, "</label></div>\n");
}

/*
 * True when a list value contains item. The list is a JSON array, one
 * string (a single checked box) or newline-separated text.
 */
static bool cab_list_contains(json_object *list, const char *item)
{
	const char *text = cab_value_string(list);
	size_t item_len = strlen(item);
	size_t n = cab_array_length(list);

	for (size_t i = 0; i < n; i++) {
		const char *entry = cab_value_string(json_object_array_get_idx(list, i));

		if (entry != NULL && strcmp(entry, item) == 0)
			return true;
	}
	if (text == NULL)
		return false;
	while (*text != '\0') {
		size_t line_len = strcspn(text, "\r\n");

		if (line_len == item_len && strncmp(text, item, item_len) == 0)
			return true;
		text += line_len;
		text += strspn(text, "\r\n");
	}
	return false;
}

static void cab_form_open(struct html_buf *b, const struct cabinet_frame *f, const char *action_prefix,
                          json_object *segment, const char *action_suffix, const char *class_name)
{
	html_puts(b, "<form method=\"post\" action=\"");
	html_puts(b, action_prefix);
	if (segment != NULL)
		cab_path_segment(b, segment);
	if (action_suffix != NULL)
		html_puts(b, action_suffix);
	html_puts(b, "\"");
	if (class_name != NULL) {
		html_puts(b, " class=\"");
		html_puts(b, class_name);
		html_puts(b, "\"");
	}
	html_puts(b, ">\n");
	cab_csrf(b, f);
}

/* Paging */

/*
 * Append the query of a list page: the non-empty string filters named in
 * keys, percent-encoded, and the page number. It is written for an href
 * attribute, so "&" is "&amp;".
 */
static void cab_page_query(struct html_buf *b, json_object *filters, const char *const *keys,
                           size_t key_count, int64_t page)
{
	html_puts(b, "?");
	for (size_t i = 0; i < key_count; i++) {
		const char *value = cab_string(filters, keys[i]);

		if (!cab_has_text(value))
			continue;
		html_puts(b, keys[i]);
		html_puts(b, "=");
		html_url_encode(b, value);
		html_puts(b, "&amp;");
	}
	html_printf(b, "page=%lld", (long long)page);
}

/* Previous and Next links and "Page X of Y" from the meta object of a list response. */
static void cab_paging(struct html_buf *b, const char *path, json_object *meta, json_object *filters,
                       const char *const *keys, size_t key_count, const char *noun)
{
	int64_t total = 0, pages = 1, current = 1, next = 0;

	cab_int(meta, "totalCount", &total);
	cab_int(meta, "pagesCount", &pages);
	cab_int(meta, "currentPage", &current);
	if (pages < 1)
		pages = 1;
	if (current < 1)
		current = 1;
	if (!cab_int(meta, "nextPage", &next) && current < pages)
		next = current + 1;

	html_puts(b, "<nav class=\"paging\" aria-label=\"Pages\">\n");
	if (current > 1) {
		html_puts(b, "<a rel=\"prev\" href=\"");
		html_puts(b, path);
		cab_page_query(b, filters, keys, key_count, current - 1);
		html_puts(b, "\">\xe2\x86\x90 Previous</a>\n");
	}
	html_printf(b, "<span>Page %lld of %lld \xc2\xb7 %lld ", (long long)current, (long long)pages,
	           (long long)total);
	html_puts(b, noun);
	html_puts(b, "</span>\n");
	if (next > current) {
		html_puts(b, "<a rel=\"next\" href=\"");
		html_puts(b, path);
		cab_page_query(b, filters, keys, key_count, next);
		html_puts(b, "\">Next \xe2\x86\x92</a>\n");
	}
	html_puts(b, "</nav>\n");
}

/* Login */

static void cab_login_credentials(struct html_buf *b, const char *csrf_token)
{
	html_puts(b, "<form method=\"post\" action=\"/cabinet/login\" class=\"stack\">\n");
	cab_hidden(b, "csrf_token", csrf_token);
	html_puts(b, "<div class=\"field\"><label for=\"f-email\">E-mail</label>\n"
	            "<input type=\"email\" id=\"f-email\" name=\"email\" autocomplete=\"username\""
	            " maxlength=\"254\" required autofocus></div>\n"
	            "<div class=\"field\"><label for=\"f-password\">Password</label>\n"
	            "<input type=\"password\" id=\"f-password\" name=\"password\""
	            " autocomplete=\"current-password\" required></div>\n"
	            "<button type=\"submit\">Sign in</button>\n</form>\n");
}

static void cab_login_code(struct html_buf *b, const char *csrf_token)
{
	html_puts(b, "<p>Enter the code that your authenticator app shows for this account.</p>\n"
	            "<form method=\"post\" action=\"/cabinet/login/totp\" class=\"stack\">\n");
	cab_hidden(b, "csrf_token", csrf_token);
	html_puts(b, "<div class=\"field\"><label for=\"f-code\">Code</label>\n"
	            "<input type=\"text\" id=\"f-code\" name=\"code\" class=\"code\" inputmode=\"numeric\""
	            " autocomplete=\"one-time-code\" maxlength=\"10\" required autofocus></div>\n"
	            "<button type=\"submit\">Verify</button>\n</form>\n"
	            "<form method=\"post\" action=\"/cabinet/logout\" class=\"inline-form\">\n");
	cab_hidden(b, "csrf_token", csrf_token);
	html_puts(b, "<button type=\"submit\" class=\"link\">Cancel and sign in again</button>\n</form>\n");
}

char *cabinet_page_login(const char *csrf_token, const char *error, bool totp_step, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };

	cab_head(&b, totp_step ? "Two-step verification" : "Sign in", NULL, NULL, "login");
	html_puts(&b, "<main id=\"main\" class=\"card\">\n<p class=\"product\">CityPay merchant cabinet</p>\n<h1>");
	html_puts(&b, totp_step ? "Two-step verification" : "Sign in");
	html_puts(&b, "</h1>\n");
	if (cab_has_text(error)) {
		html_puts(&b, "<p class=\"error\" role=\"alert\">");
		html_escape(&b, error);
		html_puts(&b, "</p>\n");
	}
	if (totp_step)
		cab_login_code(&b, csrf_token);
	else
		cab_login_credentials(&b, csrf_token);
	cab_end(&b);
	return html_finish(&b, len);
}

/* Tokens */

static const char *cab_token_status_class(const char *status)
{
	if (status == NULL)
		return "badge";
	if (strcmp(status, "active") == 0)
		return "badge status-active";
	if (strcmp(status, "revoked") == 0)
		return "badge status-revoked";
	if (strcmp(status, "expired") == 0)
		return "badge status-expired";
	return "badge";
}

static void cab_token_status(struct html_buf *b, json_object *token)
{
	const char *status = cab_string(token, "status");

	html_puts(b, "<span class=\"");
	html_puts(b, cab_token_status_class(status));
	html_puts(b, "\">");
	html_escape(b, cab_has_text(status) ? status : CAB_NONE);
	html_puts(b, "</span>");
}

/* The name cell: the name and, when known, the last characters of the secret. */
static void cab_token_name(struct html_buf *b, json_object *token)
{
	const char *last = cab_string(token, "last_chars");

	html_puts(b, "<th scope=\"row\"><span class=\"token-name\">");
	cab_member_text(b, token, "name");
	html_puts(b, "</span>");
	if (cab_has_text(last)) {
		html_puts(b, "<br><span class=\"muted\">ends in <code>");
		html_escape(b, last);
		html_puts(b, "</code></span>");
	}
	html_puts(b, "</th>");
}

static void cab_token_shop_urls(struct html_buf *b, json_object *token)
{
	html_puts(b, "<td><dl class=\"pairs\"><dt>Success</dt><dd>");
	cab_url(b, cab_string(token, "success_url"));
	html_puts(b, "</dd><dt>Cancel</dt><dd>");
	cab_url(b, cab_string(token, "cancel_url"));
	html_puts(b, "</dd></dl></td>");
}

static void cab_token_last_used(struct html_buf *b, json_object *token)
{
	json_object *at = cab_get(token, "last_used_at");
	const char *ip = cab_string(token, "last_used_ip");

	html_puts(b, "<td class=\"nowrap\">");
	if (at == NULL && !cab_has_text(ip)) {
		html_puts(b, "never");
	} else {
		cab_time_value(b, at);
		html_puts(b, "<br><span class=\"muted\">from ");
		html_escape(b, cab_has_text(ip) ? ip : CAB_NONE);
		html_puts(b, "</span>");
	}
	html_puts(b, "</td>");
}

static void cab_token_actions(struct html_buf *b, json_object *token)
{
	json_object *id = cab_get(token, "id");
	const char *status = cab_string(token, "status");

	html_puts(b, "<td class=\"actions\">");
	if (id == NULL) {
		html_puts(b, CAB_NONE "</td>");
		return;
	}
	html_puts(b, "<a href=\"/cabinet/tokens/");
	cab_path_segment(b, id);
	html_puts(b, "/edit\">Edit<span class=\"visually-hidden\"> ");
	cab_member_text(b, token, "name");
	html_puts(b, "</span></a>");
	if (status != NULL && strcmp(status, "active") == 0) {
		html_puts(b, " <a class=\"danger-link\" href=\"/cabinet/tokens/");
		cab_path_segment(b, id);
		html_puts(b, "/revoke\">Revoke<span class=\"visually-hidden\"> ");
		cab_member_text(b, token, "name");
		html_puts(b, "</span></a>");
	}
	html_puts(b, "</td>");
}

static void cab_token_row(struct html_buf *b, json_object *token)
{
	const char *status = cab_string(token, "status");

	html_puts(b, status != NULL && strcmp(status, "active") != 0 ? "<tr class=\"inactive\">" : "<tr>");
	cab_token_name(b, token);
	html_puts(b, "<td>");
	cab_token_status(b, token);
	html_puts(b, "</td>");
	cab_cell(b, token, "type");
	cab_cell(b, token, "currency");
	cab_cell(b, token, "mode");
	cab_cell_time(b, token, "expires_at");
	cab_token_last_used(b, token);
	html_puts(b, "<td class=\"mono\">");
	cab_list(b, cab_get(token, "ip_whitelist"), false);
	html_puts(b, "</td><td>");
	cab_list(b, cab_get(token, "callback_urls"), true);
	html_puts(b, "</td>");
	cab_token_shop_urls(b, token);
	cab_cell_time(b, token, "created_at");
	cab_token_actions(b, token);
	html_puts(b, "</tr>\n");
}

static const char *const cab_token_columns[] = {
	"Name", "Status", "Type", "Currency", "Mode", "Expires", "Last used", "IP whitelist",
	"Callback URLs", "Success and cancel URLs", "Created", "Actions",
};

char *cabinet_page_tokens(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *tokens = cab_get(data, "tokens");
	size_t n = cab_array_length(tokens);

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Access tokens", NULL);
	html_puts(&b, "<p class=\"lead\">An access token lets your shop call the payment API."
	             " Each token has its own IP whitelist, callback URLs and expiry.</p>\n"
	             "<p><a class=\"button\" href=\"/cabinet/tokens/new\">Add token</a></p>\n");
	if (n == 0) {
		cab_empty(&b, "No access tokens yet. Add one to start accepting payments.");
	} else {
		cab_table_open(&b, "Access tokens", cab_token_columns,
		               sizeof(cab_token_columns) / sizeof(cab_token_columns[0]), true);
		for (size_t i = 0; i < n; i++)
			cab_token_row(&b, json_object_array_get_idx(tokens, i));
		cab_table_close(&b);
	}
	cab_end(&b);
	return html_finish(&b, len);
}

/* Token form */

/* Append an expires_at value for a datetime-local input: Unix seconds become "YYYY-MM-DDTHH:MM" UTC. */
static void cab_datetime_local(struct html_buf *b, json_object *v)
{
	int64_t seconds;
	time_t t;
	struct tm tm;
	char text[32];

	if (!cab_value_int(v, &seconds)) {
		cab_field_text(b, v);
		return;
	}
	t = (time_t)seconds;
	if ((int64_t)t != seconds || gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M", &tm) == 0)
		return;
	html_puts(b, text);
}

static void cab_token_expiry_field(struct html_buf *b, const struct cabinet_frame *f, json_object *token)
{
	static const char hint[] = "After this moment API calls with the token are rejected.";

	cab_field_open(b, f, "expires_at", "Expires at (UTC)", hint);
	html_puts(b, "<input type=\"datetime-local\"");
	cab_control_attrs(b, f, "expires_at", true);
	html_puts(b, " value=\"");
	cab_datetime_local(b, cab_field_value(f, "expires_at", cab_get(token, "expires_at")));
	html_puts(b, "\" required>\n</div>\n");
}

static void cab_token_mode_field(struct html_buf *b, const struct cabinet_frame *f)
{
	static const char hint[] = "Sandbox tokens create orders that are paid on a simulated chain,"
	                           " for testing. The mode cannot be changed later.";
	const char *mode = cab_value_string(cab_field_value(f, "mode", NULL));
	bool sandbox = mode != NULL && strcmp(mode, "sandbox") == 0;

	cab_group_open(b, f, "mode", "Mode", hint);
	cab_choice(b, f, "radio", "mode", "live", "Live: real payments", !sandbox, true);
	cab_choice(b, f, "radio", "mode", "sandbox", "Sandbox: test payments, no real money", sandbox, true);
	html_puts(b, "</fieldset>\n");
}

static void cab_token_fields(struct html_buf *b, const struct cabinet_frame *f, json_object *token,
                             json_object *choices)
{
	static const char type_hint[] = "crypto lets the buyer choose any coin you enabled in Settings;"
	                                " a coin code restricts orders to that coin. binance_pay needs"
	                                " auto-exchange turned on in Settings.";
	static const char ip_hint[] = "One entry per line: addresses or CIDR ranges, e.g. 203.0.113.7"
	                              " or 2001:db8::/48; 0.0.0.0/0 allows any. API calls from any"
	                              " other address are rejected.";
	static const char callback_hint[] = "One http or https URL per line. Each receives the order"
	                                    " and deposit callbacks.";
	static const char shop_hint[] = "Optional. The payment page sends the buyer here.";

	cab_input(b, f, "text", "name", "Name", "A label for you, unique among your tokens.",
	          " maxlength=\"100\" required autocomplete=\"off\"",
	          cab_field_value(f, "name", cab_get(token, "name")));
	cab_select(b, f, "type", "Type", type_hint, cab_get(choices, "types"),
	           cab_value_string(cab_field_value(f, "type", cab_get(token, "type"))));
	cab_select(b, f, "currency", "Currency", "Orders created with this token default to it.",
	           cab_get(choices, "currencies"),
	           cab_value_string(cab_field_value(f, "currency", cab_get(token, "currency"))));
	cab_textarea(b, f, "ip_whitelist", "IP whitelist", ip_hint,
	             " rows=\"3\" required spellcheck=\"false\" autocapitalize=\"off\"",
	             cab_field_value(f, "ip_whitelist", cab_get(token, "ip_whitelist")));
	cab_textarea(b, f, "callback_urls", "Callback URLs", callback_hint,
	             " rows=\"2\" required spellcheck=\"false\" autocapitalize=\"off\"",
	             cab_field_value(f, "callback_urls", cab_get(token, "callback_urls")));
	cab_input(b, f, "url", "success_url", "Success URL", shop_hint,
	          " maxlength=\"2048\" spellcheck=\"false\"",
	          cab_field_value(f, "success_url", cab_get(token, "success_url")));
	cab_input(b, f, "url", "cancel_url", "Cancel URL", shop_hint,
	          " maxlength=\"2048\" spellcheck=\"false\"",
	          cab_field_value(f, "cancel_url", cab_get(token, "cancel_url")));
	cab_token_expiry_field(b, f, token);
}

char *cabinet_page_token_form(const struct cabinet_frame *f, json_object *data,
                              json_object *choices, bool totp_required, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	bool adding = data == NULL;

	if (f == NULL)
		return NULL;
	if (adding)
		cab_begin(&b, f, "Add token", NULL);
	else
		cab_begin(&b, f, "Edit token", cab_has_text(cab_string(data, "name")) ?
		                                 cab_string(data, "name") : "");
	cab_back_link(&b, "/cabinet/tokens", "All tokens");
	if (adding)
		cab_form_open(&b, f, "/cabinet/tokens", NULL, NULL, "stack");
	else
		cab_form_open(&b, f, "/cabinet/tokens/", cab_get(data, "id"), NULL, "stack");

	cab_token_fields(&b, f, data, choices);
	if (adding) {
		cab_token_mode_field(&b, f);
	} else {
		html_puts(&b, "<p class=\"field\">Mode: <strong>");
		cab_member_text(&b, data, "mode");
		html_puts(&b, "</strong> <span class=\"muted\">(fixed when the token was created)</span></p>\n");
	}
	if (totp_required)
		cab_input(&b, f, "text", "totp_code", "Code from your authenticator app",
		          "Two-step verification is on, so changing tokens needs a current code.",
		          " class=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\""
		          " maxlength=\"10\" required", NULL);
	html_puts(&b, adding ? "<div class=\"form-actions\"><button type=\"submit\">Create token</button>"
	                    : "<div class=\"form-actions\"><button type=\"submit\">Save changes</button>");
	html_puts(&b, " <a href=\"/cabinet/tokens\">Cancel</a></div>\n</form>\n");
	cab_end(&b);
	return html_finish(&b, len);
}

/* One-time reveal */

/* A readonly secret with a copy button that cabinet.js shows. */
static void cab_secret(struct html_buf *b, const char *id, const char *label, const char *button,
                       const char *hint, const char *value)
{
	html_puts(b, "<div class=\"field secret\">\n<label for=\"");
	html_puts(b, id);
	html_puts(b, "\">");
	html_puts(b, label);
	html_puts(b, "</label>\n<p class=\"hint\" id=\"");
	html_puts(b, id);
	html_puts(b, "-hint\">");
	html_puts(b, hint);
	html_puts(b, "</p>\n<textarea id=\"");
	html_puts(b, id);
	html_puts(b, "\" class=\"secret-value\" rows=\"2\" readonly spellcheck=\"false\""
	            " autocomplete=\"off\" aria-describedby=\"");
	html_puts(b, id);
	html_puts(b, "-hint\">\n");
	html_escape(b, value);
	html_puts(b, "</textarea>\n<button type=\"button\" class=\"secondary small copy-button\""
	            " data-copy-target=\"");
	html_puts(b, id);
	html_puts(b, "\" hidden>");
	html_puts(b, button);
	html_puts(b, "</button>\n</div>\n");
}

char *cabinet_page_token_reveal(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *token = cab_get(data, "token");

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Token created", cab_string(token, "name"));
	html_puts(&b, "<div class=\"warning\" role=\"alert\">\n<h2>Copy both values now</h2>\n"
	             "<p>They are shown only once and cannot be shown again: the gateway keeps"
	             " only a digest of the token and an encrypted copy of the secret that it"
	             " uses to sign callbacks. If you lose one, revoke this token and create a"
	             " new one.</p>\n</div>\n");
	cab_secret(&b, "access-token", "Access token", "Copy access token",
	           "Your shop sends it as access_token in API requests, or in an"
	           " Authorization: Bearer header.", cab_string(data, "access_token"));
	cab_secret(&b, "signing-secret", "Signing secret", "Copy signing secret",
	           "Your shop uses it to verify the signature of every callback it receives.",
	           cab_string(data, "signing_secret"));

	html_puts(&b, "<dl class=\"summary\">\n<dt>Type</dt><dd>");
	cab_member_text(&b, token, "type");
	html_puts(&b, "</dd>\n<dt>Mode</dt><dd>");
	cab_member_text(&b, token, "mode");
	html_puts(&b, "</dd>\n<dt>Expires</dt><dd>");
	cab_member_time(&b, token, "expires_at");
	html_puts(&b, "</dd>\n</dl>\n"
	             "<p><a class=\"button\" href=\"/cabinet/tokens\">I stored both values,"
	             " back to the tokens</a></p>\n");
	cab_end(&b);
	return html_finish(&b, len);
}

/* Revoke confirmation */

char *cabinet_page_token_revoke(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	const char *status = cab_string(data, "status");

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Revoke token", cab_has_text(cab_string(data, "name")) ?
	                                   cab_string(data, "name") : "");
	cab_back_link(&b, "/cabinet/tokens", "All tokens");
	html_puts(&b, "<dl class=\"summary\">\n<dt>Type</dt><dd>");
	cab_member_text(&b, data, "type");
	html_puts(&b, "</dd>\n<dt>Mode</dt><dd>");
	cab_member_text(&b, data, "mode");
	html_puts(&b, "</dd>\n<dt>Ends in</dt><dd><code>");
	cab_member_text(&b, data, "last_chars");
	html_puts(&b, "</code></dd>\n<dt>Last used</dt><dd>");
	cab_member_time(&b, data, "last_used_at");
	html_puts(&b, "</dd>\n</dl>\n");

	if (status != NULL && strcmp(status, "revoked") == 0) {
		html_puts(&b, "<p>This token is already revoked.</p>\n");
		cab_end(&b);
		return html_finish(&b, len);
	}
	html_puts(&b, "<div class=\"warning\" role=\"note\">\n<p><strong>API calls with this token are"
	             " rejected immediately.</strong> Revoking cannot be undone. If your shop still"
	             " uses this token, create a new one and switch the shop to it first.</p>\n</div>\n");
	html_puts(&b, "<form method=\"post\" action=\"/cabinet/tokens/");
	cab_path_segment(&b, cab_get(data, "id"));
	html_puts(&b, "/revoke\" class=\"confirm\""
	             " data-confirm=\"Revoke this token? API calls with it are rejected immediately.\">\n");
	cab_csrf(&b, f);
	html_puts(&b, "<div class=\"form-actions\"><button type=\"submit\" class=\"danger\">Revoke token</button>"
	             " <a href=\"/cabinet/tokens\">Cancel</a></div>\n</form>\n");
	cab_end(&b);
	return html_finish(&b, len);
}

/* Settings */

static void cab_settings_coins(struct html_buf *b, const struct cabinet_frame *f, json_object *settings,
                               json_object *coins)
{
	json_object *enabled = cab_field_value(f, "enabled_coins", cab_get(settings, "enabled_coins"));
	size_t n = cab_array_length(coins);

	cab_group_open(b, f, "enabled_coins", "Coins buyers may pay with",
	               "Tokens of type crypto offer every checked coin.");
	for (size_t i = 0; i < n; i++) {
		const char *coin = cab_value_string(json_object_array_get_idx(coins, i));

		if (coin != NULL)
			cab_choice(b, f, "checkbox", "enabled_coins", coin, coin,
			           cab_list_contains(enabled, coin), true);
	}
	if (n == 0)
		html_puts(b, "<p class=\"muted\">The operator has enabled no coins.</p>\n");
	html_puts(b, "</fieldset>\n");
}

static void cab_settings_auto_exchange(struct html_buf *b, const struct cabinet_frame *f,
                                       json_object *settings)
{
	bool checked;

	if (f->form != NULL)
		checked = cab_list_contains(cab_get(f->form, "auto_exchange"), "on") ||
		          cab_bool(f->form, "auto_exchange");
	else
		checked = cab_bool(settings, "auto_exchange");

	cab_group_open(b, f, "auto_exchange", "Auto-exchange",
	               "Tokens of type binance_pay require auto-exchange.");
	cab_choice(b, f, "checkbox", "auto_exchange", "on", "Exchange received coins automatically",
	           checked, true);
	html_puts(b, "</fieldset>\n");
}

char *cabinet_page_settings(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *settings = cab_get(data, "settings");
	json_object *choices = cab_get(data, "choices");

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Settings", NULL);
	cab_form_open(&b, f, "/cabinet/settings", NULL, NULL, "stack");
	cab_settings_coins(&b, f, settings, cab_get(choices, "coins"));
	cab_select(&b, f, "default_currency", "Default currency",
	           "Used when an order names no currency and its token has none.",
	           cab_get(choices, "currencies"),
	           cab_value_string(cab_field_value(f, "default_currency",
	                                            cab_get(settings, "default_currency"))));
	cab_input(&b, f, "number", "tolerance_under_pct", "Underpayment tolerance (%)",
	          "An order counts as paid when the buyer sends at most this percentage less. 0 to 99.",
	          " min=\"0\" max=\"99\" step=\"1\" inputmode=\"numeric\" required",
	          cab_field_value(f, "tolerance_under_pct", cab_get(settings, "tolerance_under_pct")));
	cab_input(&b, f, "number", "tolerance_over_pct", "Overpayment tolerance (%)",
	          "A payment up to this percentage above the amount counts as exact, not overpaid. 0 to 99.",
	          " min=\"0\" max=\"99\" step=\"1\" inputmode=\"numeric\" required",
	          cab_field_value(f, "tolerance_over_pct", cab_get(settings, "tolerance_over_pct")));
	cab_input(&b, f, "number", "order_expiry_minutes", "Order expiry (minutes)",
	          "Time a buyer has to pay a new order. 1 to 10080 (one week).",
	          " min=\"1\" max=\"10080\" step=\"1\" inputmode=\"numeric\" required",
	          cab_field_value(f, "order_expiry_minutes", cab_get(settings, "order_expiry_minutes")));
	cab_settings_auto_exchange(&b, f, settings);
	html_puts(&b, "<div class=\"form-actions\"><button type=\"submit\">Save settings</button></div>\n"
	             "</form>\n");
	cab_end(&b);
	return html_finish(&b, len);
}

/* Orders */

static const char *const cab_order_filter_keys[] = { "status", "from", "to", "token" };

static void cab_orders_filter_status(struct html_buf *b, const char *current)
{
	html_puts(b, "<div class=\"field\"><label for=\"filter-status\">Status</label>\n"
	            "<select id=\"filter-status\" name=\"status\">\n");
	cab_option(b, "", "any", !cab_has_text(current));
	for (int s = ORDER_IN_PROGRESS; s <= ORDER_CANCELED; s++) {
		const char *code = order_status_code((enum order_status)s);

		cab_option(b, code, order_status_label((enum order_status)s),
		           current != NULL && strcmp(current, code) == 0);
	}
	html_puts(b, "</select></div>\n");
}

static void cab_filter_input(struct html_buf *b, const char *type, const char *name, const char *label,
                             const char *value, const char *attrs)
{
	html_puts(b, "<div class=\"field\"><label for=\"filter-");
	html_puts(b, name);
	html_puts(b, "\">");
	html_puts(b, label);
	html_puts(b, "</label>\n<input type=\"");
	html_puts(b, type);
	html_puts(b, "\" id=\"filter-");
	html_puts(b, name);
	html_puts(b, "\" name=\"");
	html_puts(b, name);
	html_puts(b, "\" value=\"");
	html_escape(b, value);
	html_puts(b, "\"");
	html_puts(b, attrs);
	html_puts(b, "></div>\n");
}

static void cab_orders_filters(struct html_buf *b, json_object *filters)
{
	html_puts(b, "<form method=\"get\" action=\"/cabinet/orders\" class=\"filters\" role=\"search\""
	            " aria-label=\"Filter orders\">\n");
	cab_orders_filter_status(b, cab_string(filters, "status"));
	cab_filter_input(b, "date", "from", "From (UTC)", cab_string(filters, "from"), "");
	cab_filter_input(b, "date", "to", "To (UTC)", cab_string(filters, "to"), "");
	cab_filter_input(b, "text", "token", "Token name", cab_string(filters, "token"),
	                 " maxlength=\"100\"");
	html_puts(b, "<div class=\"filter-actions\"><button type=\"submit\">Filter</button>"
	            " <a href=\"/cabinet/orders\">Clear</a></div>\n</form>\n");
}

static void cab_order_row(struct html_buf *b, json_object *order)
{
	json_object *token = cab_get(order, "token");

	html_puts(b, "<tr>");
	cab_cell_time(b, order, "created_at");
	html_puts(b, "<td class=\"mono\">");
	if (json_object_is_type(token, json_type_string) && json_object_get_string_len(token) > 0) {
		html_puts(b, "<a href=\"/cabinet/orders/");
		cab_path_segment(b, token);
		html_puts(b, "\">");
		cab_text(b, token);
		html_puts(b, "</a>");
	} else {
		html_puts(b, CAB_NONE);
	}
	html_puts(b, "</td>");
	cab_cell(b, order, "client_order_id");
	html_puts(b, "<td>");
	cab_order_status(b, cab_string(order, "status"));
	html_puts(b, "</td><td class=\"number\">");
	cab_member_text(b, order, "amount");
	html_puts(b, " ");
	html_escape(b, cab_string(order, "currency"));
	html_puts(b, "</td>");
	cab_cell(b, order, "coin");
	cab_cell(b, order, "token_name");
	html_puts(b, "</tr>\n");
}

static const char *const cab_order_columns[] = {
	"Created", "Order token", "Order ID", "Status", "Amount", "Coin", "Access token",
};

char *cabinet_page_orders(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *orders = cab_get(data, "orders");
	json_object *filters = cab_get(data, "filters");
	size_t n = cab_array_length(orders);

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Orders", NULL);
	cab_orders_filters(&b, filters);
	if (n == 0) {
		cab_empty(&b, "No orders match these filters.");
	} else {
		cab_table_open(&b, "Orders", cab_order_columns,
		               sizeof(cab_order_columns) / sizeof(cab_order_columns[0]), false);
		for (size_t i = 0; i < n; i++)
			cab_order_row(&b, json_object_array_get_idx(orders, i));
		cab_table_close(&b);
	}
	cab_paging(&b, "/cabinet/orders", cab_get(data, "meta"), filters, cab_order_filter_keys,
	           sizeof(cab_order_filter_keys) / sizeof(cab_order_filter_keys[0]), "orders");
	cab_end(&b);
	return html_finish(&b, len);
}

/* One order */

static void cab_order_summary(struct html_buf *b, json_object *order)
{
	json_object *status = cab_get(order, "status");
	json_object *currency = cab_get(order, "currency");
	const char *coin = cab_string(order, "coin");
	const char *description = cab_string(order, "description");

	html_puts(b, "<dl class=\"summary\">\n<dt>Status</dt><dd>");
	cab_order_status(b, cab_string(status, "code"));
	html_puts(b, "</dd>\n<dt>Amount</dt><dd>");
	cab_member_text(b, order, "amountFiat");
	html_puts(b, " ");
	html_escape(b, cab_string(currency, "abbreviation"));
	html_puts(b, "</dd>\n<dt>Crypto amount</dt><dd>");
	if (cab_get(order, "amount") != NULL) {
		cab_member_text(b, order, "amount");
		html_puts(b, " ");
		html_escape(b, coin);
	} else {
		html_puts(b, CAB_NONE);
	}
	html_puts(b, "</dd>\n<dt>Coin</dt><dd>");
	cab_member_text(b, order, "coin");
	html_puts(b, "</dd>\n<dt>Exchange rate</dt><dd>");
	cab_member_text(b, order, "exchangeRate");
	html_puts(b, "</dd>\n<dt>Address</dt><dd class=\"mono wrap\">");
	cab_member_text(b, order, "address");
	html_puts(b, "</dd>\n<dt>Order ID</dt><dd>");
	cab_member_text(b, order, "orderId");
	html_puts(b, "</dd>\n<dt>Buyer e-mail</dt><dd>");
	cab_member_text(b, order, "email");
	html_puts(b, "</dd>\n");
	if (cab_has_text(description)) {
		html_puts(b, "<dt>Description</dt><dd class=\"pre\">");
		html_escape(b, description);
		html_puts(b, "</dd>\n");
	}
	html_puts(b, "<dt>Created</dt><dd>");
	cab_order_time(b, order, "createdAtMiliseconds", "createdAt");
	html_puts(b, "</dd>\n<dt>Expires</dt><dd>");
	cab_order_time(b, order, "expiresAt", NULL);
	html_puts(b, "</dd>\n");
	if (cab_bool(order, "sandbox"))
		html_puts(b, "<dt>Mode</dt><dd>sandbox</dd>\n");
	html_puts(b, "</dl>\n");
}

static const char *const cab_transaction_columns[] = {
	"Hash", "Amount", "Confirmations", "Created",
};

static void cab_order_transactions(struct html_buf *b, json_object *order)
{
	json_object *transactions = cab_get(order, "transactions");
	size_t n = cab_array_length(transactions);

	html_puts(b, "<h2>Transactions</h2>\n");
	if (n == 0) {
		cab_empty(b, "No transactions seen for this order.");
		return;
	}
	cab_table_open(b, "Transactions", cab_transaction_columns,
	               sizeof(cab_transaction_columns) / sizeof(cab_transaction_columns[0]), false);
	for (size_t i = 0; i < n; i++) {
		json_object *tx = json_object_array_get_idx(transactions, i);
		const char *coin = cab_string(tx, "coin");

		html_puts(b, "<tr><td class=\"mono wrap\">");
		cab_member_text(b, tx, "hash");
		html_puts(b, "</td><td class=\"number\">");
		cab_member_text(b, tx, "amount");
		html_puts(b, " ");
		html_escape(b, cab_has_text(coin) ? coin : cab_string(order, "coin"));
		html_puts(b, "</td>");
		cab_cell(b, tx, "confirmations");
		html_puts(b, "<td class=\"nowrap\">");
		cab_order_time(b, tx, "createdAtMiliseconds", "createdAt");
		html_puts(b, "</td></tr>\n");
	}
	cab_table_close(b);
}

/* The result of the last attempt: the HTTP status, else the error text. */
static void cab_delivery_result(struct html_buf *b, json_object *delivery)
{
	json_object *status = cab_get(delivery, "last_http_status");
	const char *error = cab_string(delivery, "last_error");

	html_puts(b, "<td>");
	if (status != NULL) {
		html_puts(b, "HTTP ");
		cab_text(b, status);
		if (cab_has_text(error))
			html_puts(b, "<br>");
	}
	if (cab_has_text(error)) {
		html_puts(b, "<span class=\"error-text\">");
		html_escape(b, error);
		html_puts(b, "</span>");
	}
	if (cab_has_text(cab_string(delivery, "last_response"))) {
		/* The merchant's own response, truncated when it was stored; shown
		 * only here, in that merchant's delivery log. */
		html_puts(b, "<br><span class=\"mono\">");
		html_escape(b, cab_string(delivery, "last_response"));
		html_puts(b, "</span>");
	}
	if (status == NULL && !cab_has_text(error))
		html_puts(b, CAB_NONE);
	html_puts(b, "</td>");
}

static void cab_delivery_resend(struct html_buf *b, const struct cabinet_frame *f, json_object *order_token,
                                json_object *delivery)
{
	json_object *id = cab_get(delivery, "id");
	int64_t number;

	html_puts(b, "<td>");
	if (id == NULL || order_token == NULL) {
		html_puts(b, CAB_NONE "</td>");
		return;
	}
	cab_form_open(b, f, "/cabinet/orders/", order_token, "/resend", "inline-form");
	html_puts(b, "<input type=\"hidden\" name=\"delivery_id\" value=\"");
	cab_text(b, id);
	html_puts(b, "\">\n<button type=\"submit\" class=\"secondary small\">Resend");
	if (cab_value_int(id, &number))
		html_printf(b, "<span class=\"visually-hidden\"> delivery %lld</span>", (long long)number);
	html_puts(b, "</button>\n</form></td>");
}

static const char *const cab_delivery_columns[] = {
	"Event", "Action", "Sequence", "URL", "State", "Attempts", "Last result", "Last attempt",
	"Delivered", "Send again",
};

static void cab_order_deliveries(struct html_buf *b, const struct cabinet_frame *f, json_object *data)
{
	json_object *deliveries = cab_get(data, "deliveries");
	json_object *order_token = cab_get(cab_get(data, "order"), "token");
	size_t n = cab_array_length(deliveries);

	html_puts(b, "<h2>Callback deliveries</h2>\n");
	if (n == 0) {
		cab_empty(b, "No callbacks were sent for this order yet.");
		return;
	}
	cab_table_open(b, "Callback deliveries", cab_delivery_columns,
	               sizeof(cab_delivery_columns) / sizeof(cab_delivery_columns[0]), true);
	for (size_t i = 0; i < n; i++) {
		json_object *delivery = json_object_array_get_idx(deliveries, i);

		html_puts(b, "<tr>");
		html_puts(b, "<td class=\"mono\">");
		cab_member_text(b, delivery, "event_id");
		html_puts(b, "</td>");
		cab_cell(b, delivery, "action");
		cab_cell(b, delivery, "sequence");
		html_puts(b, "<td>");
		cab_url(b, cab_string(delivery, "url"));
		html_puts(b, "</td>");
		cab_cell(b, delivery, "state");
		cab_cell(b, delivery, "attempts");
		cab_delivery_result(b, delivery);
		cab_cell_time(b, delivery, "last_attempt_at");
		cab_cell_time(b, delivery, "delivered_at");
		cab_delivery_resend(b, f, order_token, delivery);
		html_puts(b, "</tr>\n");
	}
	cab_table_close(b);
}

char *cabinet_page_order(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *order = cab_get(data, "order");
	const char *token = cab_string(order, "token");

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Order", cab_has_text(token) ? token : "");
	cab_back_link(&b, "/cabinet/orders", "All orders");
	cab_order_summary(&b, order);
	if (cab_has_text(token)) {
		html_puts(&b, "<p><a href=\"/invoice?token=");
		html_url_encode(&b, token);
		html_puts(&b, "\">Open the buyer's payment page</a></p>\n");
	}
	cab_order_transactions(&b, order);
	cab_order_deliveries(&b, f, data);
	cab_end(&b);
	return html_finish(&b, len);
}

/* Deposits */

static const char *const cab_deposit_columns[] = {
	"Created", "Deposit token", "Deposit ID", "Currency", "Access token",
};

char *cabinet_page_deposits(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *deposits = cab_get(data, "deposits");
	size_t n = cab_array_length(deposits);

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Deposits", NULL);
	if (n == 0) {
		cab_empty(&b, "No deposits yet.");
	} else {
		cab_table_open(&b, "Deposits", cab_deposit_columns,
		               sizeof(cab_deposit_columns) / sizeof(cab_deposit_columns[0]), false);
		for (size_t i = 0; i < n; i++) {
			json_object *deposit = json_object_array_get_idx(deposits, i);

			html_puts(&b, "<tr>");
			cab_cell_time(&b, deposit, "created_at");
			html_puts(&b, "<td class=\"mono\">");
			cab_member_text(&b, deposit, "deposit_token");
			html_puts(&b, "</td>");
			cab_cell(&b, deposit, "deposit_id");
			cab_cell(&b, deposit, "currency");
			cab_cell(&b, deposit, "token");
			html_puts(&b, "</tr>\n");
		}
		cab_table_close(&b);
	}
	cab_paging(&b, "/cabinet/deposits", cab_get(data, "meta"), NULL, NULL, 0, "deposits");
	cab_end(&b);
	return html_finish(&b, len);
}

/* Audit log */

static const char *const cab_audit_actions[][2] = {
	{ "sign_in", "Signed in" },
	{ "sign_in_failed", "Sign-in failed" },
	{ "sign_out", "Signed out" },
	{ "token_created", "Token created" },
	{ "token_edited", "Token edited" },
	{ "token_revoked", "Token revoked" },
	{ "settings_changed", "Settings changed" },
	{ "password_changed", "Password changed" },
	{ "totp_enabled", "Two-step verification turned on" },
};

static void cab_audit_action(struct html_buf *b, const char *action)
{
	for (size_t i = 0; action != NULL && i < sizeof(cab_audit_actions) / sizeof(cab_audit_actions[0]); i++) {
		if (strcmp(action, cab_audit_actions[i][0]) == 0) {
			html_puts(b, cab_audit_actions[i][1]);
			return;
		}
	}
	html_escape(b, cab_has_text(action) ? action : CAB_NONE);
}

static const char *const cab_audit_columns[] = { "Time", "Action", "Address", "Detail" };

char *cabinet_page_audit(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };
	json_object *entries = cab_get(data, "entries");
	size_t n = cab_array_length(entries);

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Audit log", NULL);
	html_puts(&b, "<p class=\"lead\">Sign-ins, token changes and settings changes of this account.</p>\n");
	if (n == 0) {
		cab_empty(&b, "The audit log is empty.");
	} else {
		cab_table_open(&b, "Audit log", cab_audit_columns,
		               sizeof(cab_audit_columns) / sizeof(cab_audit_columns[0]), false);
		for (size_t i = 0; i < n; i++) {
			json_object *entry = json_object_array_get_idx(entries, i);
			const char *action = cab_string(entry, "action");

			html_puts(&b, strcmp(action != NULL ? action : "", "sign_in_failed") == 0 ?
			             "<tr class=\"alert-row\">" : "<tr>");
			cab_cell_time(&b, entry, "at");
			html_puts(&b, "<td>");
			cab_audit_action(&b, action);
			html_puts(&b, "</td><td class=\"mono\">");
			cab_member_text(&b, entry, "ip");
			html_puts(&b, "</td><td class=\"wrap\">");
			cab_member_text(&b, entry, "detail");
			html_puts(&b, "</td></tr>\n");
		}
		cab_table_close(&b);
	}
	cab_paging(&b, "/cabinet/audit", cab_get(data, "meta"), NULL, NULL, 0, "entries");
	cab_end(&b);
	return html_finish(&b, len);
}

/* Security */

static void cab_security_password(struct html_buf *b, const struct cabinet_frame *f)
{
	html_puts(b, "<section aria-labelledby=\"password-title\">\n<h2 id=\"password-title\">Password</h2>\n");
	cab_form_open(b, f, "/cabinet/security/password", NULL, NULL, "stack");
	cab_input(b, f, "password", "current_password", "Current password", NULL,
	          " autocomplete=\"current-password\" required", NULL);
	cab_input(b, f, "password", "new_password", "New password",
	          "Use a long passphrase that you use nowhere else.",
	          " autocomplete=\"new-password\" required", NULL);
	html_puts(b, "<div class=\"form-actions\"><button type=\"submit\">Change password</button></div>\n"
	            "</form>\n</section>\n");
}

/* Append a base32 secret in groups of four characters for typing it by hand. */
static void cab_secret_groups(struct html_buf *b, const char *secret)
{
	char group[5];
	size_t n = 0;

	for (const char *p = secret; *p != '\0'; p++) {
		if (*p == ' ')
			continue;
		group[n++] = *p;
		if (n == 4) {
			group[n] = '\0';
			html_escape(b, group);
			if (p[1] != '\0')
				html_puts(b, " ");
			n = 0;
		}
	}
	group[n] = '\0';
	html_escape(b, group);
}

static void cab_security_enrolment(struct html_buf *b, const struct cabinet_frame *f, json_object *enrolment)
{
	const char *svg = cab_string(enrolment, "qr_svg");
	const char *secret = cab_string(enrolment, "secret");

	html_puts(b, "<ol class=\"steps\">\n<li><p>Scan this QR code with an authenticator app.</p>\n");
	/* Trusted markup made by the qr module; anything that is not an SVG element is left out. */
	if (svg != NULL && strncmp(svg, "<svg", 4) == 0) {
		html_puts(b, "<div class=\"qr\" role=\"img\" aria-label=\"QR code of the two-step verification secret\">");
		html_puts(b, svg);
		html_puts(b, "</div>\n");
	}
	html_puts(b, "<p>Or enter this key by hand:</p>\n<p><code class=\"totp-secret\">");
	cab_secret_groups(b, secret != NULL ? secret : "");
	html_puts(b, "</code></p></li>\n<li><p>Enter the code that the app shows.</p>\n");
	cab_form_open(b, f, "/cabinet/security/totp/confirm", NULL, NULL, "stack");
	cab_input(b, f, "text", "code", "Code", NULL,
	          " class=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"10\" required",
	          NULL);
	html_puts(b, "<div class=\"form-actions\"><button type=\"submit\">Turn on two-step verification</button></div>\n"
	            "</form></li>\n</ol>\n");
}

static void cab_security_totp(struct html_buf *b, const struct cabinet_frame *f, json_object *data)
{
	json_object *enrolment = cab_get(data, "enrolment");

	html_puts(b, "<section aria-labelledby=\"totp-title\">\n<h2 id=\"totp-title\">Two-step verification</h2>\n");
	if (cab_bool(data, "totp_enabled")) {
		html_puts(b, "<p><span class=\"badge status-active\">On</span> Signing in and creating"
		            " tokens ask for a code from your authenticator app.</p>\n");
	} else if (json_object_is_type(enrolment, json_type_object)) {
		cab_security_enrolment(b, f, enrolment);
	} else {
		html_puts(b, "<p><span class=\"badge status-expired\">Off</span> With two-step verification,"
		            " signing in and creating tokens also need a code from an authenticator app"
		            " on your phone.</p>\n");
		cab_form_open(b, f, "/cabinet/security/totp/start", NULL, NULL, NULL);
		html_puts(b, "<button type=\"submit\">Set up two-step verification</button>\n</form>\n");
	}
	html_puts(b, "</section>\n");
}

char *cabinet_page_security(const struct cabinet_frame *f, json_object *data, size_t *len)
{
	struct html_buf b = { .max = CABINET_PAGE_MAX };

	if (f == NULL)
		return NULL;
	cab_begin(&b, f, "Security", NULL);
	cab_security_password(&b, f);
	cab_security_totp(&b, f, data);
	cab_end(&b);
	return html_finish(&b, len);
}

/* Static files */

static const char cab_stylesheet[] =
	":root{color-scheme:light dark;--fg:#1b1f24;--muted:#59626e;--bg:#f3f4f6;--card:#fff;"
	"--line:#d4d9e0;--head:#f8f9fb;--accent:#1d4ed8;--accent-fg:#fff;--ok:#166534;"
	"--ok-bg:#dcfce7;--wait:#854d0e;--wait-bg:#fef9c3;--bad:#991b1b;--bad-bg:#fee2e2;"
	"--focus:#f59e0b}\n"
	"@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#a3abb5;--bg:#111418;"
	"--card:#1b1f24;--line:#3a414a;--head:#20252c;--accent:#60a5fa;--accent-fg:#0b1220;"
	"--ok:#86efac;--ok-bg:#14331f;--wait:#fde68a;--wait-bg:#3a3212;--bad:#fca5a5;"
	"--bad-bg:#3f1717}}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;background:var(--bg);color:var(--fg);"
	"font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
	"a{color:var(--accent)}\n"
	"h1{margin:0 0 1rem;font-size:1.6rem;line-height:1.25;overflow-wrap:anywhere}\n"
	"h2{margin:1.75rem 0 .75rem;font-size:1.2rem}\n"
	"p{margin:.5rem 0}\n"
	"code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em}\n"
	".muted{color:var(--muted)}\n"
	".visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;"
	"clip:rect(0 0 0 0);white-space:nowrap;border:0}\n"
	".skip-link{position:absolute;left:.5rem;top:-3rem;padding:.5rem .75rem;background:var(--card);"
	"border-radius:6px;z-index:10}\n"
	".skip-link:focus{top:.5rem}\n"
	"a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,"
	"textarea:focus-visible,summary:focus-visible,.table-wrap:focus-visible,main:focus-visible"
	"{outline:3px solid var(--focus);outline-offset:2px}\n"
	/* Header and navigation */
	".top{background:var(--card);border-bottom:1px solid var(--line)}\n"
	".top-inner{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;"
	"justify-content:space-between;max-width:96rem;margin:0 auto;padding:.75rem 1rem 0}\n"
	".brand{margin:0;display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline}\n"
	".company{font-weight:700;font-size:1.1rem;overflow-wrap:anywhere}\n"
	".customer{color:var(--muted);font-size:.9rem}\n"
	".logout{margin:0}\n"
	".tabs{max-width:96rem;margin:0 auto;padding:0 1rem}\n"
	".tabs ul{display:flex;flex-wrap:wrap;gap:0 .25rem;margin:0;padding:0;list-style:none}\n"
	".tabs a{display:block;padding:.6rem .75rem;color:var(--fg);text-decoration:none;"
	"white-space:nowrap;border-bottom:3px solid transparent}\n"
	".tabs a:hover{border-bottom-color:var(--line)}\n"
	".tabs a[aria-current=page]{border-bottom-color:var(--accent);color:var(--accent);font-weight:600}\n"
	/* Content */
	"main{display:block;max-width:96rem;margin:0 auto;padding:1.5rem 1rem 3rem}\n"
	".lead{max-width:44rem;color:var(--muted)}\n"
	".back{margin:-.5rem 0 1rem}\n"
	".empty{padding:1.5rem;border:1px dashed var(--line);border-radius:8px;text-align:center;"
	"color:var(--muted)}\n"
	".notice{padding:.75rem 1rem;border-radius:8px;background:var(--ok-bg);color:var(--ok);"
	"font-weight:600}\n"
	".error{padding:.75rem 1rem;border-radius:8px;background:var(--bad-bg);color:var(--bad);"
	"font-weight:600}\n"
	".error-summary{margin:1rem 0;padding:1rem 1.25rem;border:2px solid var(--bad);border-radius:8px;"
	"background:var(--card)}\n"
	".error-summary h2{margin:0 0 .5rem;font-size:1.1rem;color:var(--bad)}\n"
	".error-summary ul{margin:0;padding-left:1.25rem}\n"
	".error-summary a{color:var(--bad);font-weight:600}\n"
	".warning{max-width:44rem;margin:1rem 0;padding:1rem 1.25rem;border-left:6px solid #ca8a04;"
	"border-radius:6px;background:var(--wait-bg);color:var(--fg)}\n"
	".warning h2{margin:0 0 .25rem;font-size:1.2rem}\n"
	".summary{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.5rem;max-width:44rem;"
	"margin:1rem 0;padding:1rem 1.25rem;background:var(--card);border:1px solid var(--line);"
	"border-radius:8px}\n"
	".summary dt{color:var(--muted)}\n"
	".summary dd{margin:0;overflow-wrap:anywhere}\n"
	".pre{white-space:pre-line}\n"
	".wrap{overflow-wrap:anywhere;word-break:break-all}\n"
	".error-text{display:inline-block;min-width:14rem;color:var(--bad)}\n"
	".nowrap{white-space:nowrap}\n"
	".badge{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-size:.85rem;"
	"font-weight:600;white-space:nowrap;background:var(--wait-bg);color:var(--wait)}\n"
	".status-active,.status-CONFIRMED,.status-OVERPAID{background:var(--ok-bg);color:var(--ok)}\n"
	".status-revoked,.status-expired,.status-EXPIRED,.status-CANCELED,.status-UNDERPAID"
	"{background:var(--bad-bg);color:var(--bad)}\n"
	/* Tables */
	".table-wrap{overflow-x:auto;margin:1rem 0;background:var(--card);border:1px solid var(--line);"
	"border-radius:8px}\n"
	"table{width:100%;border-collapse:collapse;font-size:.92rem}\n"
	"th,td{padding:.55rem .7rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}\n"
	"thead th{background:var(--head);font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;"
	"color:var(--muted)}\n"
	"tbody tr:last-child th,tbody tr:last-child td{border-bottom:0}\n"
	"tbody th{font-weight:600;min-width:8rem}\n"
	"tbody th .muted{font-weight:400}\n"
	"tr.inactive{color:var(--muted)}\n"
	"tr.alert-row td{background:var(--bad-bg)}\n"
	".number{text-align:right;white-space:nowrap}\n"
	".plain{margin:0;padding:0;list-style:none}\n"
	".url{overflow-wrap:anywhere;word-break:break-all}\n"
	"td .url{display:inline-block;min-width:10rem;max-width:16rem}\n"
	".pairs{margin:0;display:grid;grid-template-columns:max-content minmax(12rem,1fr);gap:0 .5rem}\n"
	".pairs dt{color:var(--muted)}\n"
	".pairs dd{margin:0}\n"
	".actions{white-space:nowrap}\n"
	/* Keep the actions of a wide table in view while the rest scrolls sideways. */
	"@media (min-width:48rem){.sticky-last tr>:last-child{position:sticky;right:0;"
	"background:var(--card);box-shadow:-1px 0 0 var(--line)}"
	".sticky-last thead tr>:last-child{background:var(--head)}}\n"
	".actions a{margin-right:.6rem}\n"
	".danger-link{color:var(--bad)}\n"
	".paging{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center;margin:1rem 0}\n"
	".paging span{color:var(--muted)}\n"
	/* Forms */
	".stack{max-width:40rem}\n"
	".field{margin:0 0 1.25rem}\n"
	"fieldset.group{padding:0;border:0}\n"
	"label,legend{display:block;padding:0;font-weight:600;margin-bottom:.25rem}\n"
	".hint{margin:0 0 .35rem;color:var(--muted);font-size:.9rem}\n"
	".field-invalid{padding-left:.9rem;border-left:4px solid var(--bad)}\n"
	".field-error{margin:0 0 .35rem;color:var(--bad);font-weight:600}\n"
	"input[type=text],input[type=email],input[type=password],input[type=url],input[type=number],"
	"input[type=date],input[type=datetime-local],select,textarea{display:block;width:100%;"
	"min-height:2.75rem;padding:.5rem .65rem;border:1px solid var(--muted);border-radius:6px;"
	"background:var(--card);color:var(--fg);font:inherit}\n"
	"input[type=number]{max-width:10rem}\n"
	"input[type=datetime-local],input[type=date]{max-width:16rem}\n"
	"select{max-width:20rem}\n"
	"textarea{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95rem;"
	"resize:vertical}\n"
	"[aria-invalid=true]{border-color:var(--bad);border-width:2px}\n"
	".code{max-width:10rem;letter-spacing:.15em;font-family:ui-monospace,SFMono-Regular,Menlo,"
	"Consolas,monospace}\n"
	".choice{display:flex;gap:.6rem;align-items:center;margin:.35rem 0}\n"
	".choice input{width:1.25rem;height:1.25rem;margin:0;flex:none}\n"
	".choice label{margin:0;font-weight:400}\n"
	".form-actions{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin-top:1.5rem}\n"
	"button,.button{display:inline-block;min-height:2.75rem;padding:.6rem 1.2rem;border:1px solid "
	"var(--accent);border-radius:8px;background:var(--accent);color:var(--accent-fg);"
	"font:inherit;font-weight:600;text-decoration:none;cursor:pointer}\n"
	"button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}\n"
	"button.small{min-height:2.25rem;padding:.3rem .8rem;font-size:.9rem}\n"
	"button.danger{background:var(--bad);border-color:var(--bad);color:var(--card)}\n"
	"button.link{min-height:0;padding:0;border:0;background:none;color:var(--accent);"
	"font-weight:400;text-decoration:underline}\n"
	".inline-form{margin:0}\n"
	".filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end;padding:1rem 1rem 0;"
	"background:var(--card);border:1px solid var(--line);border-radius:8px}\n"
	".filters .field{flex:1 1 10rem;margin-bottom:1rem}\n"
	".filters input,.filters select{max-width:none}\n"
	".filter-actions{display:flex;gap:1rem;align-items:center;margin-bottom:1rem}\n"
	/* Secrets and two-step verification */
	".secret{max-width:44rem}\n"
	".secret-value{min-height:0;overflow-wrap:anywhere;word-break:break-all;background:var(--head)}\n"
	".copy-button{margin-top:.4rem}\n"
	".steps{max-width:40rem;padding-left:1.25rem}\n"
	".steps li{margin-bottom:1rem}\n"
	".qr{width:14rem;max-width:100%;margin:.75rem 0;padding:.5rem;background:#fff;border-radius:6px}\n"
	".qr svg{display:block;width:100%;height:auto}\n"
	".totp-secret{display:inline-block;padding:.4rem .6rem;border:1px solid var(--line);"
	"border-radius:6px;background:var(--head);font-size:1.05rem;letter-spacing:.05em;"
	"word-spacing:.3em;overflow-wrap:anywhere}\n"
	/* Sign-in page */
	"body.login{display:flex;min-height:100vh;align-items:center;justify-content:center;padding:1rem}\n"
	".card{width:100%;max-width:24rem;padding:1.5rem;background:var(--card);"
	"border:1px solid var(--line);border-radius:12px}\n"
	".card button[type=submit]:not(.link){width:100%}\n"
	".product{margin:0 0 .25rem;color:var(--muted);font-size:.9rem}\n"
	".card .inline-form{margin-top:1rem;text-align:center}\n"
	"@media (max-width:600px){h1{font-size:1.35rem}main{padding:1rem .75rem 2rem}"
	".top-inner{padding:.5rem .75rem 0}.tabs{padding:0 .5rem}"
	".summary{grid-template-columns:1fr;gap:0}.summary dd{margin-bottom:.5rem}"
	".filters .field{flex-basis:100%}}\n";

/*
 * Progressive additions: copy buttons for [data-copy-target] (hidden in
 * the markup until this script shows them) and a confirm() before
 * submitting a form of class "confirm". Without the script every page
 * works the same, only without these conveniences.
 */
static const char cab_script[] =
	"\"use strict\";\n"
	"(function () {\n"
	"  function copy(button) {\n"
	"    var target = document.getElementById(button.getAttribute(\"data-copy-target\"));\n"
	"    var label = button.textContent;\n"
	"    function show(text) {\n"
	"      button.textContent = text;\n"
	"      setTimeout(function () { button.textContent = label; }, 2500);\n"
	"    }\n"
	"    if (!target)\n"
	"      return;\n"
	"    if (navigator.clipboard && window.isSecureContext) {\n"
	"      navigator.clipboard.writeText(target.value).then(function () {\n"
	"        show(\"Copied\");\n"
	"      }, function () {\n"
	"        show(\"Copy failed: select the text and copy it\");\n"
	"      });\n"
	"      return;\n"
	"    }\n"
	"    target.focus();\n"
	"    target.select();\n"
	"    show(document.execCommand(\"copy\") ? \"Copied\" : \"Selected: press Ctrl+C to copy\");\n"
	"  }\n"
	"  function confirmSubmit(event) {\n"
	"    var message = event.currentTarget.getAttribute(\"data-confirm\") || \"Are you sure?\";\n"
	"    if (!window.confirm(message))\n"
	"      event.preventDefault();\n"
	"  }\n"
	"  document.addEventListener(\"DOMContentLoaded\", function () {\n"
	"    document.querySelectorAll(\"[data-copy-target]\").forEach(function (button) {\n"
	"      button.hidden = false;\n"
	"      button.addEventListener(\"click\", function () { copy(button); });\n"
	"    });\n"
	"    document.querySelectorAll(\"textarea[readonly]\").forEach(function (area) {\n"
	"      area.addEventListener(\"focus\", function () { area.select(); });\n"
	"    });\n"
	"    document.querySelectorAll(\"form.confirm\").forEach(function (form) {\n"
	"      form.addEventListener(\"submit\", confirmSubmit);\n"
	"    });\n"
	"  });\n"
	"})();\n";

const char *cabinet_page_css(size_t *len)
{
	if (len != NULL)
		*len = sizeof(cab_stylesheet) - 1;
	return cab_stylesheet;
}

const char *cabinet_page_js(size_t *len)
{
	if (len != NULL)
		*len = sizeof(cab_script) - 1;
	return cab_script;
}
