/*
 * The HTTP edge on libmicrohttpd: listening, receive deadlines, request
 * bodies with a size cap, client addresses behind trusted proxies, request
 * ids, response envelopes and one access-log line per request. Routes live
 * in api.c.
 */
#ifndef CITYPAY_HTTP_H
#define CITYPAY_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "gateway.h"
#include "ipaddr.h"
#include "params.h"
#include "validate.h"

#define HTTP_REQUEST_ID_MAX 32

/* One request, from its first byte to the access-log line. */
struct http_request {
	struct gateway *gw;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char id[HTTP_REQUEST_ID_MAX];
	struct ipaddr peer;
	struct ipaddr client;
	char client_text[IPADDR_TEXT_MAX];
	char *body;
	size_t body_len;
	bool body_too_large;
	size_t discarded;           /* bytes of an oversized body dropped */
	bool responded;
	int status;
	int64_t retry_after_s;      /* sent as Retry-After when nonzero */
	const char *allow;          /* sent as Allow when not NULL (405) */
	char set_cookie[2][320];    /* Set-Cookie values sent with the response */
	int set_cookie_count;
	int64_t started_us;
	struct params params;

	/* A response held until the request's commit is durable
	 * (http_commit_async()). */
	struct http_server *srv;
	struct store_async async;
	bool deferred;              /* the next response is held */
	struct MHD_Response *held;
	int held_status;
	/* Sender of the response that replaces a held one whose commit
	 * failed; with NULL the API's JSON 500 is sent. */
	int (*held_failed)(struct http_request *r);
	bool commit_finished;       /* guarded by the server's defer_lock */
	bool suspended;             /* the same */
	enum cp_result commit_rc;   /* the same */
};

struct http_server;

/*
 * Start listening on cfg->listen ("127.0.0.1:8080", "[::1]:8080"; port 0
 * picks a free port) with a thread pool, and a thread that closes every
 * connection whose request headers are not complete CP_HEADER_TIMEOUT_S, or
 * whose body is not complete CP_REQUEST_TIMEOUT_S, after the accept or the
 * end of the previous response. Returns NULL with a reason in err.
 */
struct http_server *http_start(struct gateway *gw, char *err, size_t errlen);

/* The port actually bound. */
uint16_t http_port(const struct http_server *srv);

/* Stop the thread pool and the deadline thread, close every connection and free srv. */
void http_stop(struct http_server *srv);

/*
 * Parse the request body into r->params according to its Content-Type.
 * Returns 0, or sends the error response (400, 415 or 422) and returns -1.
 */
int http_parse_body(struct http_request *r);

/* Value of a request header, or NULL. */
const char *http_header(struct http_request *r, const char *name);

/* Value of a request cookie, or NULL. */
const char *http_cookie(struct http_request *r, const char *name);

/*
 * Add a cookie to the response: HttpOnly, SameSite=Strict, the given path,
 * Secure when the public URL is https, and Max-Age when max_age_s >= 0
 * (0 deletes it). Returns -1 when two cookies are already set.
 */
int http_set_cookie(struct http_request *r, const char *name, const char *value,
                    const char *path, int64_t max_age_s);

/* Value of a query-string argument, or NULL. */
const char *http_query(struct http_request *r, const char *name);

/* Send a JSON object (ownership passes to the call) with the given status. */
int http_send_json(struct http_request *r, int status, json_object *obj);

/*
 * Send the success envelope: success, status 1, status_code, and the
 * payload under both data and message. extra_header may be NULL.
 */
int http_send_success(struct http_request *r, int status, json_object *data,
                      const char *extra_header, const char *extra_value);

/*
 * Render the success envelope around data as JSON text in a new buffer of
 * *len bytes (NUL-terminated), or NULL without memory. data is not freed.
 */
char *http_success_body(int status, json_object *data, size_t *len);

/* Send the error envelope with one message for the field (or "error"). */
int http_send_error(struct http_request *r, int status, const char *reason,
                    const char *field, const char *message);

/* Send the error envelope naming every field in errs (422). */
int http_send_field_errors(struct http_request *r, const struct field_errors *errs);

/* Send an HTML page (ownership of html passes to the call). */
int http_send_html(struct http_request *r, int status, char *html, size_t len);

/* Send text built for this answer (ownership of text passes to the call). */
int http_send_text(struct http_request *r, int status, const char *content_type,
                   char *text, size_t len);

/* Send a static asset from constant memory with its content type. */
int http_send_static(struct http_request *r, const char *data, size_t len,
                     const char *content_type);

/* Send 303 See Other to a local path. */
int http_send_redirect(struct http_request *r, const char *location);

/*
 * Return the callback for store_commit_async(), or NULL when the server
 * runs a thread per connection and the commit should be waited for. When
 * the transaction was handed over (CP_OK), call http_defer_response(r)
 * before sending: the response is then held, and the pool thread serves
 * other connections, until the commit is durable. A 500 replaces the
 * response when the commit fails.
 */
const struct store_async *http_commit_async(struct http_request *r);
void http_defer_response(struct http_request *r);
/* Like http_defer_response(); held_failed sends the response that replaces
 * the held one when the commit fails, in place of the API's JSON 500. */
void http_defer_page(struct http_request *r, int (*held_failed)(struct http_request *r));

/* Route a request once its body is complete; implemented in api.c. */
int api_dispatch(struct http_request *r);

#endif
