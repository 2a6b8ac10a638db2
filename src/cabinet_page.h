/*
 * HTML of the merchant cabinet. Every page is rendered from the same JSON
 * object that the matching /cabinet/api/ endpoint returns, so the pages and
 * the JSON API share one implementation of each action.
 *
 * Pages work under the Content-Security-Policy that http_send_html() sends
 * (no inline script or style; /static/cabinet.css and /static/cabinet.js
 * are loaded from the gateway), escape every value, and put the CSRF token
 * in a hidden field named "csrf_token" in every POST form.
 */
#ifndef CITYPAY_CABINET_PAGE_H
#define CITYPAY_CABINET_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "validate.h"

/* Maximum page size in bytes. A renderer returns NULL for a larger page. */
#define CABINET_PAGE_MAX (1024 * 1024)

/* The frame around every signed-in page: header, navigation, notice. Pointers are borrowed. */
struct cabinet_frame {
	const char *company;           /* header: company name */
	int64_t customer_id;           /* header: customer ID */
	const char *csrf_token;        /* hidden field of every form */
	const char *active;            /* navigation item: "tokens", "orders", "deposits",
	                                  "settings", "security", "audit" */
	const char *notice;            /* a one-line confirmation, or NULL */
	const struct field_errors *errors; /* messages shown next to fields, or NULL */
	json_object *form;             /* submitted values to refill a form, or NULL */
};

/*
 * Each function returns a NUL-terminated heap string the caller frees,
 * with its length in *len, or NULL when memory runs out or the page
 * exceeds CABINET_PAGE_MAX (also when f is NULL). `data` is the
 * `data` object of the JSON API response named beside each function, as
 * described in docs/CABINET.md.
 */

/* Sign-in form (email, password); totp_step shows the code form instead. */
char *cabinet_page_login(const char *csrf_token, const char *error, bool totp_step,
                         size_t *len);

/* GET /cabinet/api/tokens: the token table with an Add button. */
char *cabinet_page_tokens(const struct cabinet_frame *f, json_object *data, size_t *len);

/* The add form (data NULL) or the edit form of one token (data = token). */
char *cabinet_page_token_form(const struct cabinet_frame *f, json_object *data,
                              json_object *choices, bool totp_required, size_t *len);

/* POST /cabinet/api/tokens response: the one-time reveal of token and secret. */
char *cabinet_page_token_reveal(const struct cabinet_frame *f, json_object *data, size_t *len);

/* Confirmation before revoking one token (data = token). */
char *cabinet_page_token_revoke(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/settings: the settings form. */
char *cabinet_page_settings(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/orders: filters, the order list and paging. */
char *cabinet_page_orders(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/orders/{token}: one order, its transactions and deliveries. */
char *cabinet_page_order(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/deposits: the deposit list and paging. */
char *cabinet_page_deposits(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/audit: the audit log and paging. */
char *cabinet_page_audit(const struct cabinet_frame *f, json_object *data, size_t *len);

/* GET /cabinet/api/security: password change and two-step verification. */
char *cabinet_page_security(const struct cabinet_frame *f, json_object *data, size_t *len);

/* The stylesheet and script of the cabinet: static, never freed. */
const char *cabinet_page_css(size_t *len);
const char *cabinet_page_js(size_t *len);

#endif
