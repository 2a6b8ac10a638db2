/*
 * The cabinet's dispatcher, sign-in and the helpers its routes share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cabinet_internal.h"
#include "log.h"
#include "page.h"

#define LOGIN_COOKIE "citypay_login" /* pre-session value behind the sign-in form's CSRF token */

/* Fixed notices shown after a redirect; the query names one by its key. */
static const struct {
	const char *key;
	const char *text;
} cabinet_notices[] = {
	{ "token_edited", "The token was saved." },
	{ "token_revoked", "The token was revoked. API calls with it are rejected from now on." },
	{ "settings_saved", "The settings were saved." },
	{ "resent", "The callback was queued to be sent again now." },
	{ "totp_enabled", "Two-step verification is on." },
	{ "password_changed", "The password was changed. Sign in again with the new one." },
	{ "signed_out", "You are signed out." },
	{ "reveal_gone", "A new token is shown only once, right after it is created." },
};

static const char *
cabinet_notice(struct http_request *r)
{
	const char *key = http_query(r, "notice");

	for (size_t i = 0; key && i < sizeof(cabinet_notices) / sizeof(cabinet_notices[0]); i++) {
		if (strcmp(cabinet_notices[i].key, key) == 0)
			return cabinet_notices[i].text;
	}
	return NULL;
}

void
cabinet_frame(struct cabinet_request *c, struct cabinet_frame *f, const char *active)
{
	memset(f, 0, sizeof(*f));
	f->company = c->user.merchant.company;
	f->customer_id = c->user.merchant.id;
	f->csrf_token = c->user.csrf_token;
	f->active = active;
	f->notice = cabinet_notice(c->r);
}

static int
cabinet_send_page(struct cabinet_request *c, int status, char *html, size_t len)
{
	if (html == NULL)
		return cabinet_internal_error(c, "render page");
	return http_send_html(c->r, status, html, len);
}

int
cabinet_reply(struct cabinet_request *c, int status, json_object *data,
              cabinet_render_fn render, const char *active)
{
	struct cabinet_frame f;
	size_t len = 0;
	char *html;

	if (c->api)
		return http_send_success(c->r, status, data, NULL, NULL);
	cabinet_frame(c, &f, active);
	html = render(&f, data, &len);
	json_object_put(data);
	return cabinet_send_page(c, status, html, len);
}

json_object *
cabinet_form_values(struct cabinet_request *c)
{
	json_object *form = json_object_new_object();

	for (int i = 0; i < c->r->params.count; i++) {
		const struct param *p = &c->r->params.items[i];

		/* Passwords and codes are never written back into a page. */
		if (strstr(p->name, "password") != NULL || strcmp(p->name, "totp_code") == 0 ||
		    strcmp(p->name, "csrf_token") == 0 || p->structured)
			continue;
		json_object_object_add(form, p->name, json_object_new_string(p->value));
	}
	return form;
}

int
cabinet_reply_errors(struct cabinet_request *c, const struct field_errors *errs,
                     json_object *data, cabinet_render_fn render, const char *active)
{
	struct cabinet_frame f;
	size_t len = 0;
	char *html;

	if (c->api) {
		json_object_put(data);
		return http_send_field_errors(c->r, errs);
	}
	cabinet_frame(c, &f, active);
	f.errors = errs;
	f.form = cabinet_form_values(c);
	html = render(&f, data, &len);
	json_object_put(f.form);
	json_object_put(data);
	return cabinet_send_page(c, 422, html, len);
}

int
cabinet_done(struct cabinet_request *c, const char *location, const char *notice,
             json_object *data)
{
	char target[512];

	if (c->api)
		return http_send_success(c->r, 200, data ? data : json_object_new_object(), NULL, NULL);
	json_object_put(data);
	snprintf(target, sizeof(target), "%s%s%s", location, notice ? "?notice=" : "",
	         notice ? notice : "");
	return http_send_redirect(c->r, target);
}

int
cabinet_not_found(struct cabinet_request *c, const char *what)
{
	char text[128];
	size_t len = 0;

	snprintf(text, sizeof(text), "No %s here. It may belong to another account.", what);
	if (c->api)
		return http_send_error(c->r, 404, "RecordNotFound", NULL, text);
	return cabinet_send_page(c, 404, page_message(404, "Not found", text, &len), len);
}

int
cabinet_internal_error(struct cabinet_request *c, const char *context)
{
	log_error("cabinet request failed", "context", context, NULL);
	return http_send_error(c->r, 500, "InternalServerError", NULL,
	                       "the gateway failed; the request id is in its log");
}

void
cabinet_paging(struct cabinet_request *c, int64_t *page, int64_t *limit)
{
	const char *page_text = http_query(c->r, "page");
	const char *limit_text = http_query(c->r, "limit");
	char *end = NULL;
	long long v;

	*page = 1;
	*limit = CABINET_ROWS_DEFAULT;
	if (page_text != NULL && (v = strtoll(page_text, &end, 10)) >= 1 && *end == '\0' &&
	    v < 1000000)
		*page = v;
	if (limit_text != NULL && (v = strtoll(limit_text, &end, 10)) >= 1 && *end == '\0')
		*limit = v > CABINET_ROWS_MAX ? CABINET_ROWS_MAX : v;
}

json_object *
cabinet_meta(int64_t total, int64_t page, int64_t limit)
{
	json_object *meta = json_object_new_object();
	int64_t pages = (total + limit - 1) / limit;

	json_object_object_add(meta, "totalCount", json_object_new_int64(total));
	json_object_object_add(meta, "pagesCount", json_object_new_int64(pages));
	json_object_object_add(meta, "currentPage", json_object_new_int64(page));
	json_object_object_add(meta, "nextPage", page < pages ? json_object_new_int64(page + 1) : NULL);
	return meta;
}

/* The sign-in page, with a fresh pre-session cookie behind its CSRF token. */
static int
cabinet_login_page(struct http_request *r, int status, const char *error, bool code_step,
                   const char *session_id)
{
	char id[SESSION_ID_TEXT_MAX], csrf[SESSION_ID_TEXT_MAX];
	size_t len = 0;
	char *html;

	if (code_step) {
		cabinet_csrf_token(r->gw, session_id, csrf, sizeof(csrf));
	} else {
		cabinet_random_id(id, sizeof(id));
		cabinet_csrf_token(r->gw, id, csrf, sizeof(csrf));
		http_set_cookie(r, LOGIN_COOKIE, id, "/cabinet", -1);
	}
	html = cabinet_page_login(csrf, error, code_step, &len);
	if (html == NULL)
		return http_send_error(r, 500, "InternalServerError", NULL, "the page failed to render");
	return http_send_html(r, status, html, len);
}

static int
cabinet_signed_in(struct http_request *r, bool api, const char *session_id, bool need_code)
{
	json_object *data;
	char csrf[SESSION_ID_TEXT_MAX];

	http_set_cookie(r, SESSION_COOKIE, session_id, "/cabinet", -1);
	if (!api)
		return need_code ? cabinet_login_page(r, 200, NULL, true, session_id)
		                 : http_send_redirect(r, "/cabinet/tokens");
	cabinet_csrf_token(r->gw, session_id, csrf, sizeof(csrf));
	data = json_object_new_object();
	json_object_object_add(data, "signed_in", json_object_new_boolean(!need_code));
	json_object_object_add(data, "code_required", json_object_new_boolean(need_code));
	json_object_object_add(data, "csrf_token", json_object_new_string(csrf));
	return http_send_success(r, 200, data, NULL, NULL);
}

static int
cabinet_sign_in_failed(struct http_request *r, bool api, enum sign_in_result result,
                       bool code_step, const char *session_id)
{
	const char *text = result == SIGN_IN_LIMITED
		? "Too many failed attempts. Wait a few minutes and try again."
		: code_step ? "The code is not valid. Enter the current code from your app."
		            : "The e-mail address or the password is not correct.";
	int status = 401;

	if (result == SIGN_IN_LIMITED)
		status = 429;
	else if (result == SIGN_IN_ERROR)
		status = 500;

	if (api)
		return http_send_error(r, status, status == 429 ? "RateLimited" : "BadCredentials",
		                       NULL, text);
	return cabinet_login_page(r, status, text, code_step, session_id);
}

/*
 * POST /cabinet/login. The page form proves it came from our sign-in page
 * with the pre-session cookie's CSRF token. The JSON call must be sent as
 * application/json, which a cross-site form cannot send.
 */
static int
cabinet_login(struct http_request *r, bool api)
{
	char session_id[SESSION_ID_TEXT_MAX];
	const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	enum sign_in_result result;

	if (api && (type == NULL || strncasecmp(type, "application/json", 16) != 0))
		return http_send_error(r, 415, "UnsupportedMediaType", NULL,
		                       "send the sign-in as application/json");
	if (!api && !cabinet_csrf_valid(r->gw, http_cookie(r, LOGIN_COOKIE),
	                                params_get(&r->params, "csrf_token")))
		return cabinet_login_page(r, 403, "The sign-in form expired. Please try again.",
		                          false, NULL);
	result = cabinet_sign_in(r->gw, params_get(&r->params, "email"),
	                         params_get(&r->params, "password"), r->client_text,
	                         session_id, &r->retry_after_s);
	if (result == SIGN_IN_OK || result == SIGN_IN_NEED_CODE) {
		int ok = cabinet_signed_in(r, api, session_id, result == SIGN_IN_NEED_CODE);
		sodium_memzero(session_id, sizeof(session_id));
		return ok;
	}
	return cabinet_sign_in_failed(r, api, result, false, NULL);
}

static int
cabinet_login_code(struct http_request *r, bool api)
{
	const char *session_id = http_cookie(r, SESSION_COOKIE);
	const char *csrf = api ? http_header(r, "X-CSRF-Token") : params_get(&r->params, "csrf_token");
	enum sign_in_result result;

	if (!cabinet_csrf_valid(r->gw, session_id, csrf))
		return api ? http_send_error(r, 403, "CsrfTokenInvalid", NULL,
		                             "the CSRF token is missing or not valid")
		           : cabinet_login_page(r, 403, "The sign-in form expired. Please try again.",
		                                false, NULL);
	result = cabinet_sign_in_code(r->gw, session_id, params_get(&r->params, "code"),
	                              r->client_text, &r->retry_after_s);
	if (result == SIGN_IN_OK)
		return api ? cabinet_signed_in(r, true, session_id, false)
		           : http_send_redirect(r, "/cabinet/tokens");
	return cabinet_sign_in_failed(r, api, result, true, session_id);
}

static int
cabinet_me(struct cabinet_request *c)
{
	json_object *data = json_object_new_object();
	json_object *m = json_object_new_object();

	json_object_object_add(m, "customer_id", json_object_new_int64(c->user.merchant.id));
	json_object_object_add(m, "company", json_object_new_string(c->user.merchant.company));
	json_object_object_add(m, "email", json_object_new_string(c->user.merchant.email));
	json_object_object_add(m, "totp_enabled", json_object_new_boolean(c->user.merchant.totp_enabled));
	json_object_object_add(data, "merchant", m);
	json_object_object_add(data, "csrf_token", json_object_new_string(c->user.csrf_token));
	return http_send_success(c->r, 200, data, NULL, NULL);
}

static int
cabinet_logout(struct cabinet_request *c)
{
	if (cabinet_sign_out(c->gw, &c->user, c->r->client_text) != CP_OK)
		return cabinet_internal_error(c, "sign out");
	http_set_cookie(c->r, SESSION_COOKIE, "", "/cabinet", 0);
	if (c->api)
		return http_send_success(c->r, 200, json_object_new_object(), NULL, NULL);
	return http_send_redirect(c->r, "/cabinet/login?notice=signed_out");
}

/* Load the signed-in session, or respond 401 (JSON) or redirect to the sign-in page. */
static int
cabinet_require_session(struct cabinet_request *c)
{
	enum cp_result rc = cabinet_session_load(c->gw, http_cookie(c->r, SESSION_COOKIE), true,
	                                         &c->user);

	if (rc == CP_OK)
		return 0;
	if (rc != CP_NOT_FOUND)
		cabinet_internal_error(c, "session");
	else if (c->api)
		http_send_error(c->r, 401, "SessionRequired", NULL,
		                "sign in first with POST /cabinet/api/login");
	else
		http_send_redirect(c->r, "/cabinet/login");
	return -1;
}

static bool
cabinet_csrf_ok(struct cabinet_request *c)
{
	const char *token = params_get(&c->r->params, "csrf_token");

	if (token == NULL)
		token = http_header(c->r, "X-CSRF-Token");
	return cabinet_csrf_valid(c->gw, c->user.session_id, token);
}

static int
cabinet_route(struct cabinet_request *c)
{
	bool post = strcmp(c->r->method, "POST") == 0;

	if (strcmp(c->rest, "me") == 0 && c->api && !post)
		return cabinet_me(c);
	if (strcmp(c->rest, "logout") == 0 && post)
		return cabinet_logout(c);
	if (strncmp(c->rest, "tokens", 6) == 0 && (c->rest[6] == '\0' || c->rest[6] == '/'))
		return cabinet_tokens_route(c);
	if (strcmp(c->rest, "settings") == 0)
		return cabinet_settings_route(c);
	if (strncmp(c->rest, "orders", 6) == 0 || strcmp(c->rest, "deposits") == 0 ||
	    strcmp(c->rest, "audit") == 0)
		return cabinet_orders_route(c);
	if (strncmp(c->rest, "security", 8) == 0)
		return cabinet_security_route(c);
	if (c->api)
		return http_send_error(c->r, 404, "PageNotFound", NULL, "no such path");
	return cabinet_not_found(c, "page");
}

/* Fields that a cabinet form may send several times, such as checkboxes. */
static const char *const cabinet_repeatable[] = { "enabled_coins", NULL };

int
cabinet_dispatch(struct http_request *r)
{
	struct cabinet_request c = { .r = r, .gw = r->gw };
	bool post = strcmp(r->method, "POST") == 0;

	if (strcmp(r->path, "/cabinet") == 0 || strcmp(r->path, "/cabinet/") == 0)
		return http_send_redirect(r, "/cabinet/tokens");
	c.api = strncmp(r->path, "/cabinet/api/", 13) == 0;
	c.rest = r->path + (c.api ? 13 : 9);
	if (!post && strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		r->allow = "GET, HEAD, POST";
		return http_send_error(r, 405, "MethodNotAllowed", NULL,
		                       "the cabinet accepts GET and POST");
	}
	r->params.repeatable = cabinet_repeatable;
	if (post && http_parse_body(r) != 0)
		return MHD_YES;

	if (strcmp(c.rest, "login") == 0) {
		if (post)
			return cabinet_login(r, c.api);
		return c.api ? http_send_error(r, 405, "MethodNotAllowed", NULL, "sign in with POST")
		             : cabinet_login_page(r, 200, cabinet_notice(r), false, NULL);
	}
	if (strcmp(c.rest, "login/totp") == 0 && post)
		return cabinet_login_code(r, c.api);

	if (cabinet_require_session(&c) != 0)
		return MHD_YES;
	if (post && !cabinet_csrf_ok(&c))
		return http_send_error(r, 403, "CsrfTokenInvalid", NULL, "the CSRF token is missing"
		                       " or not valid; reload the page, or send X-CSRF-Token from"
		                       " GET /cabinet/api/me");
	return cabinet_route(&c);
}
