#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "log.h"

#define HTTP_POST_BUFFER 4096
#define HTTP_FORWARDED_MAX (8 * 1024) /* bytes of all forwarding header lines */
#define HTTP_DISCARD_MAX (1024 * 1024) /* bytes of an oversized body read and dropped */

struct http_server {
	struct MHD_Daemon *daemon;
	struct gateway *gw;
	uint16_t port;
};

static int64_t
http_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *
http_header(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_cookie(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

int
http_set_cookie(struct http_request *r, const char *name, const char *value,
                const char *path, int64_t max_age_s)
{
	bool secure = strncmp(r->gw->cfg->public_url, "https:", 6) == 0;
	char age[40] = "";

	if (r->set_cookie_count == 2)
		return -1;
	if (max_age_s >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%lld", (long long)max_age_s);
	snprintf(r->set_cookie[r->set_cookie_count++], sizeof(r->set_cookie[0]),
	         "%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s", name, value, path,
	         secure ? "; Secure" : "", age);
	return 0;
}

const char *
http_query(struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void
http_add_common_headers(struct http_request *r, struct MHD_Response *resp,
                        const char *content_type)
{
	MHD_add_response_header(resp, "Content-Type", content_type);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (r->allow != NULL)
		MHD_add_response_header(resp, "Allow", r->allow);
	for (int i = 0; i < r->set_cookie_count; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->set_cookie[i]);
	if (r->retry_after_s > 0) {
		char seconds[24];
		snprintf(seconds, sizeof(seconds), "%lld", (long long)r->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", seconds);
	}
}

static int
http_queue(struct http_request *r, int status, struct MHD_Response *resp)
{
	enum MHD_Result ok;

	if (resp == NULL)
		return MHD_NO;
	ok = MHD_queue_response(r->conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->responded = true;
	return ok;
}

int
http_send_json(struct http_request *r, int status, json_object *obj)
{
	size_t len = 0;
	const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text,
	                                                           MHD_RESPMEM_MUST_COPY);

	if (resp != NULL) {
		http_add_common_headers(r, resp, "application/json");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	json_object_put(obj);
	return http_queue(r, status, resp);
}

int
http_send_success(struct http_request *r, int status, json_object *data,
                  const char *extra_header, const char *extra_value)
{
	json_object *env = json_object_new_object();
	json_object *copy = NULL;

	json_object_deep_copy(data, &copy, NULL);
	json_object_object_add(env, "success", json_object_new_boolean(1));
	json_object_object_add(env, "status", json_object_new_int(1));
	json_object_object_add(env, "status_code", json_object_new_int(status));
	json_object_object_add(env, "data", data);
	json_object_object_add(env, "message", copy);
	if (extra_header == NULL)
		return http_send_json(r, status, env);

	/* The envelope is built, so render it here to add the extra header. */
	size_t len = 0;
	const char *text = json_object_to_json_string_length(env, JSON_C_TO_STRING_PLAIN, &len);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text,
	                                                           MHD_RESPMEM_MUST_COPY);
	if (resp != NULL) {
		http_add_common_headers(r, resp, "application/json");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, extra_header, extra_value);
	}
	json_object_put(env);
	return http_queue(r, status, resp);
}

static json_object *
http_error_envelope(struct http_request *r, int status, const char *reason, json_object *message)
{
	json_object *env = json_object_new_object();
	json_object *error = json_object_new_object();

	json_object_object_add(env, "success", json_object_new_boolean(0));
	json_object_object_add(env, "status", json_object_new_string("error"));
	json_object_object_add(env, "status_code", json_object_new_int(status));
	json_object_object_add(env, "message", message);
	json_object_object_add(error, "reason", json_object_new_string(reason));
	json_object_object_add(error, "request_id", json_object_new_string(r->id));
	json_object_object_add(env, "error", error);
	return env;
}

int
http_send_error(struct http_request *r, int status, const char *reason,
                const char *field, const char *message)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, field ? field : "error", json_object_new_string(message));
	return http_send_json(r, status, http_error_envelope(r, status, reason, msg));
}

int
http_send_field_errors(struct http_request *r, const struct field_errors *errs)
{
	json_object *msg = json_object_new_object();

	for (int i = 0; i < errs->count; i++)
		json_object_object_add(msg, errs->items[i].field,
		                       json_object_new_string(errs->items[i].message));
	return http_send_json(r, 422, http_error_envelope(r, 422, "UnsupportedInput", msg));
}

int
http_send_html(struct http_request *r, int status, char *html, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, html,
	                                                           MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(html);
		return MHD_NO;
	}
	http_add_common_headers(r, resp, "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy",
		"default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:;"
		" connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	return http_queue(r, status, resp);
}

int
http_send_text(struct http_request *r, int status, const char *content_type, char *text,
               size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text,
	                                                           MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	http_add_common_headers(r, resp, content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return http_queue(r, status, resp);
}

int
http_send_static(struct http_request *r, const char *data, size_t len, const char *content_type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data,
	                                                           MHD_RESPMEM_PERSISTENT);

	if (resp != NULL) {
		http_add_common_headers(r, resp, content_type);
		MHD_add_response_header(resp, "Cache-Control", "public, max-age=3600");
	}
	return http_queue(r, 200, resp);
}

int
http_send_redirect(struct http_request *r, const char *location)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
	                                                           MHD_RESPMEM_PERSISTENT);

	if (resp != NULL) {
		http_add_common_headers(r, resp, "text/plain");
		MHD_add_response_header(resp, "Location", location);
	}
	return http_queue(r, 303, resp);
}

static enum MHD_Result
http_post_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                const char *content_type, const char *transfer_encoding,
                const char *data, uint64_t off, size_t size)
{
	struct http_request *r = cls;

	if (key == NULL)
		return MHD_YES;
	return params_set(&r->params, key, data ? data : "", data ? size : 0, off > 0) == 0
	       ? MHD_YES : MHD_NO;
}

/* Parse a form body with libmicrohttpd's post processor. */
static int
http_parse_form(struct http_request *r)
{
	struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, HTTP_POST_BUFFER,
	                                                         http_post_field, r);
	bool ok;

	if (pp == NULL) {
		snprintf(r->params.error, sizeof(r->params.error),
		         "the form body cannot be parsed; a multipart body needs a boundary");
		return -1;
	}
	ok = r->body_len == 0 || MHD_post_process(pp, r->body, r->body_len) == MHD_YES;
	if (MHD_destroy_post_processor(pp) != MHD_YES)
		ok = false;
	if (!ok && r->params.error[0] == '\0')
		snprintf(r->params.error, sizeof(r->params.error),
		         "the form body is malformed or incomplete");
	return ok ? 0 : -1;
}

static bool
http_type_is(const char *type, const char *want)
{
	size_t n = strlen(want);

	return strncasecmp(type, want, n) == 0 && (type[n] == '\0' || type[n] == ';' ||
	                                          type[n] == ' ');
}

int
http_parse_body(struct http_request *r)
{
	const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	int rc;

	if (r->body_len == 0 && type == NULL)
		return 0;
	if (type != NULL && http_type_is(type, "application/json")) {
		rc = params_parse_json(&r->params, r->body ? r->body : "", r->body_len);
	} else if (type != NULL && http_type_is(type, MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) {
		/* libmicrohttpd hands names and values on as C strings, so a NUL
		 * would cut them short silently; such a body is rejected whole. */
		if (memchr(r->body ? r->body : "", '\0', r->body_len) != NULL ||
		    (r->body && (strstr(r->body, "%00") != NULL))) {
			snprintf(r->params.error, sizeof(r->params.error),
			         "the form body contains a NUL character");
			rc = -1;
		} else {
			rc = http_parse_form(r);
		}
	} else if (type != NULL && http_type_is(type, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) {
		rc = http_parse_form(r);
	} else {
		http_send_error(r, 415, "UnsupportedMediaType", NULL, "the body must be"
		                " application/json, application/x-www-form-urlencoded or"
		                " multipart/form-data");
		return -1;
	}
	if (rc == 0)
		rc = params_validate(&r->params);
	if (rc == 0)
		return 0;
	if (r->params.error_field[0] != '\0')
		http_send_error(r, 422, "UnsupportedInput", r->params.error_field, r->params.error);
	else
		http_send_error(r, 400, "BadRequest", NULL, r->params.error);
	return -1;
}

struct http_header_join {
	const char *name;
	char text[HTTP_FORWARDED_MAX];
	size_t len;
	bool overflow;
};

/* Append one line of the wanted header, comma-separated, in arrival order. */
static enum MHD_Result
http_join_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_header_join *join = cls;
	size_t n;

	if (key == NULL || value == NULL || strcasecmp(key, join->name) != 0)
		return MHD_YES;
	n = strlen(value);
	if (join->len + n + 3 > sizeof(join->text)) {
		join->overflow = true;
		return MHD_NO;
	}
	if (join->len > 0) {
		memcpy(join->text + join->len, ", ", 2);
		join->len += 2;
	}
	memcpy(join->text + join->len, value, n);
	join->len += n;
	join->text[join->len] = '\0';
	return MHD_YES;
}

/*
 * Find the client address. Only a trusted proxy's forwarding header is
 * read, and only the one the operator chose: a client could add the other
 * header itself. Every line of that header counts (RFC 9110 joins repeated
 * lines), so a line the client sent cannot hide the one the proxy appended.
 * A header too long to read whole leaves the proxy as the client.
 */
static void
http_find_client(struct http_request *r, const struct config *cfg)
{
	struct http_header_join join = { .len = 0, .overflow = false };

	r->client = r->peer;
	if (!ipnet_list_contains(cfg->trusted_proxies, cfg->trusted_proxy_count, &r->peer))
		return;
	join.name = cfg->forwarded_rfc7239 ? "Forwarded" : "X-Forwarded-For";
	join.text[0] = '\0';
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_join_header, &join);
	if (join.overflow || join.len == 0)
		return;
	ipaddr_client(&r->peer, cfg->forwarded_rfc7239 ? NULL : join.text,
	              cfg->forwarded_rfc7239 ? join.text : NULL,
	              cfg->trusted_proxies, cfg->trusted_proxy_count, &r->client);
}

static struct http_request *
http_request_new(struct http_server *srv, struct MHD_Connection *conn, const char *method,
                 const char *url)
{
	struct http_request *r = calloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *info;

	if (r == NULL)
		return NULL;
	r->gw = srv->gw;
	r->conn = conn;
	r->method = method;
	r->path = url;
	r->started_us = http_now_us();
	gateway_random_id("", r->id, sizeof(r->id));

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL ||
	    ipaddr_from_sockaddr(info->client_addr, &r->peer) != 0)
		ipaddr_parse("0.0.0.0", &r->peer);
	http_find_client(r, srv->gw->cfg);
	ipaddr_format(&r->client, r->client_text, sizeof(r->client_text));
	return r;
}

static bool
http_declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end = NULL;
	unsigned long long n;

	if (length == NULL)
		return false;
	n = strtoull(length, &end, 10);
	return end == length || *end != '\0' || n > max;
}

static int
http_send_too_large(struct http_request *r)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "the body is larger than %zu bytes", r->gw->cfg->body_max);
	return http_send_error(r, 413, "PayloadTooLarge", NULL, msg);
}

/* Append upload data to the body, up to the configured maximum. */
static void
http_take_upload(struct http_request *r, const char *data, size_t size)
{
	size_t max = r->gw->cfg->body_max;
	char *grown;

	if (r->body_too_large || r->body_len + size > max) {
		r->body_too_large = true;
		r->discarded += size;
		return;
	}
	grown = realloc(r->body, r->body_len + size + 1);
	if (grown == NULL) {
		r->body_too_large = true;
		return;
	}
	memcpy(grown + r->body_len, data, size);
	r->body = grown;
	r->body_len += size;
	r->body[r->body_len] = '\0';
}

/*
 * Set up a request on its first handler call. A body declared too large is
 * rejected with 413 now, before libmicrohttpd sends "100 Continue", when the
 * client waits for that or the body is larger than HTTP_DISCARD_MAX. A
 * smaller one is read and dropped first, so a client still sending it can
 * read the 413 instead of a reset connection. Any other request gets its
 * response on a later call, because queueing a response on the first call
 * makes libmicrohttpd 0.9.75 close the connection instead of keeping it.
 */
static enum MHD_Result
http_first_call(struct http_request *r)
{
	const char *length = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *expect = http_header(r, MHD_HTTP_HEADER_EXPECT);

	r->body_too_large = http_declared_too_large(r->conn, r->gw->cfg->body_max);
	if (!r->body_too_large)
		return MHD_YES;
	if (expect != NULL || length == NULL ||
	    strtoull(length, NULL, 10) > HTTP_DISCARD_MAX)
		return http_send_too_large(r) == MHD_YES ? MHD_YES : MHD_NO;
	return MHD_YES;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size,
            void **req_cls)
{
	struct http_request *r = *req_cls;
	int ok;

	if (r == NULL) {
		r = http_request_new(cls, conn, method, url);
		if (r == NULL)
			return MHD_NO;
		*req_cls = r;
		return http_first_call(r);
	}
	if (r->responded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		http_take_upload(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		/* An oversized body of unknown length is dropped as it arrives,
		 * up to HTTP_DISCARD_MAX; past that the connection is closed
		 * without a response. */
		if (r->body_too_large && r->discarded > HTTP_DISCARD_MAX) {
			log_info("oversized body dropped", "client", r->client_text, NULL);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (r->body_too_large)
		return http_send_too_large(r) == MHD_YES ? MHD_YES : MHD_NO;

	log_set_request_id(r->id);
	ok = api_dispatch(r);
	log_set_request_id(NULL);
	if (!r->responded)
		ok = http_send_error(r, 500, "InternalServerError", NULL,
		                     "the gateway failed to respond; the request id is in the log");
	return ok == MHD_YES ? MHD_YES : MHD_NO;
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_request *r = *req_cls;
	char duration[32];

	if (r == NULL)
		return;
	snprintf(duration, sizeof(duration), "%.3f",
	         (double)(http_now_us() - r->started_us) / 1000.0);
	log_set_request_id(r->id);
	log_info("request", "method", r->method, "path", r->path,
	         "status", log_int(r->responded ? r->status : 0), "duration_ms", duration,
	         "client", r->client_text, "bytes_in", log_int(r->body_len),
	         "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "true" : "false", NULL);
	log_set_request_id(NULL);
	params_free(&r->params);
	free(r->body);
	free(r);
	*req_cls = NULL;
}

/* Parse "host:port" or "[v6]:port" into a socket address. */
static int
http_parse_listen(const char *text, struct sockaddr_storage *ss, bool *ipv6)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	char *end = NULL;
	long port;
	size_t n;

	if (colon == NULL)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return -1;
	n = (size_t)(colon - text);
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		text++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';

	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*ipv6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*ipv6 = true;
		return 0;
	}
	return -1;
}

struct http_server *
http_start(struct gateway *gw, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	bool ipv6 = false;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (http_parse_listen(gw->cfg->listen, &ss, &ipv6) != 0) {
		snprintf(err, errlen, "listen address \"%s\" is invalid; use 127.0.0.1:8080"
		         " or [::1]:8080", gw->cfg->listen);
		free(srv);
		return NULL;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	srv->gw = gw;
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)gw->cfg->http_threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CP_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CP_CONNECTIONS_MAX,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)gw->cfg->connections_per_address,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s; is the port in use?", gw->cfg->listen);
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return srv;
}

uint16_t
http_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
