#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define HTTP_POST_BUFFER 4096
#define HTTP_FORWARDED_MAX (8 * 1024) /* bytes of all forwarding header lines */
#define HTTP_DISCARD_MAX (1024 * 1024) /* bytes of an oversized body read and dropped */

#define HTTP_US_PER_S 1000000LL
/* Minimum sleep of the deadline thread between two scans, so that a burst
 * of deadlines costs few scans. A connection is closed at most this late. */
#define HTTP_DEADLINE_SLACK_US (100 * 1000)
#define HTTP_ACCEPT_RETRY_US   (100 * 1000) /* pause after accept4() fails for lack of descriptors or memory */
/* An accepted connection not started by then no longer counts. */
#define HTTP_PENDING_EXPIRE_US ((int64_t)CP_CONNECTION_TIMEOUT_S * HTTP_US_PER_S)
#define HTTP_DRAIN_US          (3 * HTTP_US_PER_S) /* maximum wait at stop for responses in progress */
#define HTTP_DRAIN_POLL_US     (10 * 1000)
/* How long the deadline thread sleeps when no deadline is running. */
#define HTTP_DEADLINE_IDLE_US (60 * HTTP_US_PER_S)
/* Messages of libmicrohttpd logged per minute; the rest are counted. */
#define HTTP_LIBRARY_LOG_PER_MINUTE 60

/* Phase of the current request on a connection. */
enum http_phase {
	HTTP_PHASE_HEADERS,  /* waiting for the request line and headers */
	HTTP_PHASE_BODY,     /* headers read, body arriving */
	HTTP_PHASE_RESPONSE, /* body complete: the handler runs or the response is sent */
};

/*
 * One open connection with its receive deadline. The fields fd, peer_text
 * and srv are set before the entry is listed and never change. The lock
 * srv->conns_lock guards every other field.
 */
struct http_conn {
	struct http_conn *prev;
	struct http_conn *next;
	struct http_server *srv;
	MHD_socket fd;
	char peer_text[IPADDR_TEXT_MAX];
	enum http_phase phase;
	int64_t started_us;  /* accept, or the end of the previous response */
	int64_t deadline_us; /* 0 while no deadline runs */
	bool request_line_read;
	char client_text[IPADDR_TEXT_MAX];
	char request_id[HTTP_REQUEST_ID_MAX];
};

/* The request's id and client text are copied whole into the entry. */
_Static_assert(sizeof(((struct http_conn *)0)->request_id) ==
               sizeof(((struct http_request *)0)->id), "request id sizes differ");
_Static_assert(sizeof(((struct http_conn *)0)->client_text) ==
               sizeof(((struct http_request *)0)->client_text), "client text sizes differ");
_Static_assert(sizeof(((struct http_conn *)0)->peer_text) ==
               sizeof(((struct http_request *)0)->client_text), "peer text sizes differ");

/* A connection accepted and handed to libmicrohttpd, not yet started. */
struct http_pending {
	int fd;
	int64_t accepted_us;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct gateway *gw;
	uint16_t port;

	int listen_fd;
	pthread_t accept_thread;
	bool accept_started;

	pthread_mutex_t conns_lock;
	pthread_cond_t conns_wake;  /* wakes the deadline thread */
	pthread_cond_t conns_room;  /* signalled when the connections drop below the limit */
	struct http_conn *conns;    /* every open connection */
	int open_conns;             /* number of connections in conns */
	struct http_pending pending[CP_CONNECTIONS_MAX];
	int pending_conns;          /* entries in pending */
	int64_t next_scan_us;       /* when the deadline thread scans next */
	bool stopping;
	pthread_t deadline_thread;

	/* Responses held for their commit (http_commit_async()). */
	pthread_mutex_t defer_lock;
	pthread_cond_t defer_idle;  /* broadcast when a handed-over commit finishes */
	int suspended;              /* connections suspended for a commit */
	bool defer_stopping;        /* hold no more responses on a suspended connection */
	bool can_suspend;           /* a pool, not a thread per connection */

	pthread_mutex_t library_log_lock;
	int64_t library_log_window_us; /* start of the current minute */
	int library_log_count;         /* messages in the current minute */
	int library_log_dropped;       /* messages not logged in it */
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

static int http_hold(struct http_request *r, int status, struct MHD_Response *resp);

static int
http_queue(struct http_request *r, int status, struct MHD_Response *resp)
{
	enum MHD_Result ok;

	if (resp == NULL)
		return MHD_NO;
	if (r->deferred)
		return http_hold(r, status, resp);
	ok = MHD_queue_response(r->conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->responded = true;
	return ok;
}

/* Called by the thread that finished the commit of r (store_commit_async()). */
static void
http_commit_done(void *arg, enum cp_result rc)
{
	struct http_request *r = arg;
	struct http_server *srv = r->srv;

	pthread_mutex_lock(&srv->defer_lock);
	r->commit_rc = rc;
	r->commit_finished = true;
	if (r->suspended) {
		/* The pool thread may send the response and free r from here on. */
		r->suspended = false;
		srv->suspended--;
		MHD_resume_connection(r->conn);
	}
	/* Wakes http_stop(), and a pool thread that waits in http_hold() or
	 * http_wait_commit(). */
	pthread_cond_broadcast(&srv->defer_idle);
	pthread_mutex_unlock(&srv->defer_lock);
}

const struct store_async *
http_commit_async(struct http_request *r)
{
	if (!r->srv->can_suspend)
		return NULL;
	r->async = (struct store_async){ http_commit_done, r };
	return &r->async;
}

void
http_defer_response(struct http_request *r)
{
	/* Without a callback handed out, the commit was waited for. */
	if (r->async.done != NULL)
		r->deferred = true;
}

void
http_defer_page(struct http_request *r, int (*held_failed)(struct http_request *r))
{
	r->held_failed = held_failed;
	http_defer_response(r);
}

/* Queue the held response, or a 500 in its place when the commit failed. */
static int
http_release_held(struct http_request *r)
{
	struct MHD_Response *resp = r->held;
	enum MHD_Result ok;

	r->held = NULL;
	if (r->commit_rc != CP_OK) {
		MHD_destroy_response(resp);
		r->responded = false;
		log_set_request_id(r->id);
		log_error("commit failed; the prepared response is not sent", "status",
		          log_int(r->held_status), NULL);
		if (r->held_failed != NULL)
			ok = r->held_failed(r);
		else
			ok = http_send_error(r, 500, "InternalServerError", NULL, "the gateway failed"
			                     " to store the request; the request id is in its log");
		log_set_request_id(NULL);
		return ok;
	}
	ok = MHD_queue_response(r->conn, (unsigned int)r->held_status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/*
 * Hold resp until the commit of r finishes. Unless it has finished
 * already, the connection is suspended, and http_access() sends the
 * response when http_commit_done() resumes it. During shutdown the pool
 * thread waits instead, since libmicrohttpd stops only without suspended
 * connections.
 */
static int
http_hold(struct http_request *r, int status, struct MHD_Response *resp)
{
	struct http_server *srv = r->srv;
	bool finished;

	r->deferred = false;
	r->held = resp;
	r->held_status = status;
	r->status = status;
	r->responded = true;
	pthread_mutex_lock(&srv->defer_lock);
	while (srv->defer_stopping && !r->commit_finished)
		pthread_cond_wait(&srv->defer_idle, &srv->defer_lock);
	finished = r->commit_finished;
	if (!finished) {
		MHD_suspend_connection(r->conn);
		r->suspended = true;
		srv->suspended++;
	}
	pthread_mutex_unlock(&srv->defer_lock);
	return finished ? http_release_held(r) : MHD_YES;
}

/*
 * Wait until the commit handed over for r finishes. A handler that called
 * http_defer_response() but got no response held (creating the response
 * failed for lack of memory) must not return: libmicrohttpd frees r once
 * the connection closes, and http_commit_done() would then write into
 * freed memory.
 */
static void
http_wait_commit(struct http_request *r)
{
	struct http_server *srv = r->srv;

	r->deferred = false;
	pthread_mutex_lock(&srv->defer_lock);
	while (!r->commit_finished)
		pthread_cond_wait(&srv->defer_idle, &srv->defer_lock);
	pthread_mutex_unlock(&srv->defer_lock);
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

char *
http_success_body(int status, json_object *data, size_t *len)
{
	static const char head[] = "{\"success\":true,\"status\":1,\"status_code\":";
	static const char data_key[] = ",\"data\":";
	static const char message_key[] = ",\"message\":";
	size_t data_len = 0, cap, n;
	const char *text = json_object_to_json_string_length(data, JSON_C_TO_STRING_PLAIN,
	                                                     &data_len);
	char *body;

	/* The envelope carries data twice, as "data" and "message", so the
	 * object is rendered once and its text copied into both places. The
	 * bytes equal what json-c writes for the whole envelope. */
	cap = sizeof(head) + 16 + sizeof(data_key) + sizeof(message_key) + 2 * data_len + 2;
	if ((body = malloc(cap)) == NULL)
		return NULL;
	n = (size_t)snprintf(body, cap, "%s%d", head, status);
	memcpy(body + n, data_key, sizeof(data_key) - 1);
	n += sizeof(data_key) - 1;
	memcpy(body + n, text, data_len);
	n += data_len;
	memcpy(body + n, message_key, sizeof(message_key) - 1);
	n += sizeof(message_key) - 1;
	memcpy(body + n, text, data_len);
	n += data_len;
	body[n++] = '}';
	body[n] = '\0';
	*len = n;
	return body;
}

int
http_send_success(struct http_request *r, int status, json_object *data,
                  const char *extra_header, const char *extra_value)
{
	struct MHD_Response *resp = NULL;
	size_t len = 0;
	char *body = http_success_body(status, data, &len);

	if (body != NULL) {
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(body);
	}
	if (resp != NULL) {
		http_add_common_headers(r, resp, "application/json");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		if (extra_header != NULL)
			MHD_add_response_header(resp, extra_header, extra_value);
	}
	json_object_put(data);
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

	/* A part without a readable name would be dropped in silence, while a
	 * proxy in front may read a field there; reject the body instead. */
	if (key == NULL) {
		snprintf(r->params.error, sizeof(r->params.error), "a form part has no"
		         " readable name; send Content-Disposition: form-data; name=\"field\"");
		return MHD_NO;
	}
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
 * A header too long to read whole leaves the proxy as the client. Returns
 * true when a proxy's header was read, false when the peer is the client.
 */
static bool
http_find_client(struct http_request *r, const struct config *cfg)
{
	/* Not cleared as a whole: its text buffer is large and only read up to len. */
	struct http_header_join join;

	r->client = r->peer;
	if (!ipnet_list_contains(cfg->trusted_proxies, cfg->trusted_proxy_count, &r->peer))
		return false;
	join.len = 0;
	join.overflow = false;
	join.name = cfg->forwarded_rfc7239 ? "Forwarded" : "X-Forwarded-For";
	join.text[0] = '\0';
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_join_header, &join);
	if (join.overflow || join.len == 0)
		return false;
	ipaddr_client(&r->peer, cfg->forwarded_rfc7239 ? NULL : join.text,
	              cfg->forwarded_rfc7239 ? join.text : NULL,
	              cfg->trusted_proxies, cfg->trusted_proxy_count, &r->client);
	return true;
}

/* The entry of a connection in the deadline list, or NULL. */
static struct http_conn *
http_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/* Find the TCP peer of a connection; 0.0.0.0 when libmicrohttpd has none. */
static void
http_find_peer(struct MHD_Connection *conn, struct ipaddr *peer)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (info == NULL || info->client_addr == NULL ||
	    ipaddr_from_sockaddr(info->client_addr, peer) != 0)
		ipaddr_parse("0.0.0.0", peer);
}

static struct http_request *
http_request_new(struct http_server *srv, struct MHD_Connection *conn, const char *method,
                 const char *url)
{
	struct http_request *r = calloc(1, sizeof(*r));
	struct http_conn *c;

	if (r == NULL)
		return NULL;
	r->gw = srv->gw;
	r->srv = srv;
	r->conn = conn;
	r->method = method;
	r->path = url;
	r->started_us = http_now_us();
	gateway_request_id(r->id, sizeof(r->id));

	http_find_peer(conn, &r->peer);
	/* The connection's entry has the peer's text already, and it never
	 * changes, so only a client named by a trusted proxy is formatted. */
	c = http_conn_of(conn);
	if (!http_find_client(r, srv->gw->cfg) && c != NULL)
		memcpy(r->client_text, c->peer_text, sizeof(r->client_text));
	else
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
 * Receive deadlines. libmicrohttpd 0.9.75 has only an idle timeout
 * (MHD_OPTION_CONNECTION_TIMEOUT), which every received byte restarts. It
 * calls no application code while the headers arrive. So a client that
 * sends a byte every few seconds could hold a connection, and a slot of the
 * per-address limit, for ever. Each connection is therefore listed from
 * MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED with the
 * deadline of its phase (CP_HEADER_TIMEOUT_S, CP_REQUEST_TIMEOUT_S). One
 * thread closes every connection whose deadline has passed.
 */

/*
 * Enter a phase and set its deadline. The caller holds conns_lock. Both
 * deadlines count from the same start, so a kept-alive connection that
 * sends nothing after a response is closed CP_HEADER_TIMEOUT_S later.
 */
static void
http_conn_enter_locked(struct http_conn *c, enum http_phase phase, int64_t now)
{
	struct http_server *srv = c->srv;

	c->phase = phase;
	switch (phase) {
	case HTTP_PHASE_HEADERS:
		c->started_us = now;
		c->deadline_us = now + CP_HEADER_TIMEOUT_S * HTTP_US_PER_S;
		c->request_line_read = false;
		c->request_id[0] = '\0';
		memcpy(c->client_text, c->peer_text, sizeof(c->client_text));
		break;
	case HTTP_PHASE_BODY:
		c->deadline_us = c->started_us + CP_REQUEST_TIMEOUT_S * HTTP_US_PER_S;
		break;
	case HTTP_PHASE_RESPONSE:
		c->deadline_us = 0;
		break;
	}
	if (c->deadline_us != 0 && c->deadline_us < srv->next_scan_us)
		pthread_cond_signal(&srv->conns_wake);
}

static void
http_conn_enter(struct MHD_Connection *conn, enum http_phase phase)
{
	struct http_conn *c = http_conn_of(conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->srv->conns_lock);
	http_conn_enter_locked(c, phase, http_now_us());
	pthread_mutex_unlock(&c->srv->conns_lock);
}

/*
 * Enter the response phase: true, or false once http_stop() has begun.
 * http_drain() waits only for connections in this phase, so a request
 * whose body completes after the stop began is not handled at all: its
 * connection closes without a response, and no order is stored without
 * its 201 reaching the client. The check and the phase change share the
 * lock under which http_stop() sets stopping.
 */
static bool
http_conn_enter_response(struct http_request *r)
{
	struct http_conn *c = http_conn_of(r->conn);
	bool stopping;

	pthread_mutex_lock(&r->srv->conns_lock);
	stopping = r->srv->stopping;
	if (!stopping && c != NULL)
		http_conn_enter_locked(c, HTTP_PHASE_RESPONSE, http_now_us());
	pthread_mutex_unlock(&r->srv->conns_lock);
	return !stopping;
}

/*
 * Enter the body phase once the headers are read. A 413 sent on the first
 * call keeps the body deadline too, in case libmicrohttpd reads on.
 */
static void
http_conn_headers_read(struct http_request *r)
{
	struct http_conn *c = http_conn_of(r->conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->srv->conns_lock);
	memcpy(c->request_id, r->id, sizeof(c->request_id));
	memcpy(c->client_text, r->client_text, sizeof(c->client_text));
	http_conn_enter_locked(c, HTTP_PHASE_BODY, http_now_us());
	pthread_mutex_unlock(&c->srv->conns_lock);
}

/*
 * Mark that the request line arrived, so that a close at the header deadline
 * is logged as a timed-out request and not as an idle connection. Returns
 * NULL, the initial *req_cls that http_access() expects.
 */
static void *
http_request_line_read(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_conn *c = http_conn_of(conn);

	if (c != NULL) {
		pthread_mutex_lock(&c->srv->conns_lock);
		c->request_line_read = true;
		pthread_mutex_unlock(&c->srv->conns_lock);
	}
	return NULL;
}

/*
 * Close a connection whose deadline has passed. The caller holds conns_lock.
 * libmicrohttpd reports MHD_CONNECTION_NOTIFY_CLOSED, which takes this lock,
 * before it closes the socket (MHD_cleanup_connections in its daemon.c), so
 * the descriptor still belongs to this connection. shutdown() leaves it
 * open, and the worker thread reads end-of-file and closes the connection
 * without a response.
 */
static void
http_conn_close_locked(struct http_conn *c)
{
	bool headers = c->phase == HTTP_PHASE_HEADERS;

	c->deadline_us = 0;
	shutdown(c->fd, SHUT_RDWR);

	/* Idle kept-alive connections and unused browser preconnections end
	 * here often, so they are logged at debug level. NOTE: a client that
	 * trickles its request line is logged at that level too. */
	if (headers && !c->request_line_read) {
		log_debug("idle connection closed", "timeout_s", log_int(CP_HEADER_TIMEOUT_S),
		          "client", c->client_text, NULL);
		return;
	}
	log_set_request_id(c->request_id[0] != '\0' ? c->request_id : NULL);
	log_info("request timed out", "phase", headers ? "headers" : "body",
	         "timeout_s", log_int(headers ? CP_HEADER_TIMEOUT_S : CP_REQUEST_TIMEOUT_S),
	         "client", c->client_text, NULL);
	log_set_request_id(NULL);
}

/*
 * Close every connection past its deadline, then sleep until the next
 * deadline or a signal. Each sleep lasts at least HTTP_DEADLINE_SLACK_US,
 * so a connection is closed at most that long after its deadline.
 */
static void *
http_deadline_main(void *arg)
{
	struct http_server *srv = arg;

	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->stopping) {
		int64_t now = http_now_us();
		int64_t next = now + HTTP_DEADLINE_IDLE_US;
		struct timespec until;

		for (struct http_conn *c = srv->conns; c != NULL; c = c->next) {
			if (c->deadline_us == 0)
				continue;
			if (c->deadline_us <= now)
				http_conn_close_locked(c);
			else if (c->deadline_us < next)
				next = c->deadline_us;
		}
		if (next < now + HTTP_DEADLINE_SLACK_US)
			next = now + HTTP_DEADLINE_SLACK_US;
		srv->next_scan_us = next;

		until.tv_sec = (time_t)(next / HTTP_US_PER_S);
		until.tv_nsec = (long)(next % HTTP_US_PER_S) * 1000;
		pthread_cond_timedwait(&srv->conns_wake, &srv->conns_lock, &until);
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

/*
 * Remove the pending entry of descriptor fd: true, or false when there is
 * none because it has expired. Called with conns_lock held.
 */
static bool
http_pending_take_locked(struct http_server *srv, int fd)
{
	for (int i = 0; i < srv->pending_conns; i++) {
		if (srv->pending[i].fd == fd) {
			srv->pending[i] = srv->pending[--srv->pending_conns];
			return true;
		}
	}
	return false;
}

/*
 * Drop the pending entries accepted before now - HTTP_PENDING_EXPIRE_US,
 * and return when the oldest of the others expires, or 0 when none is
 * left. Called with conns_lock held. In a pool, MHD_add_connection() only
 * queues a connection, and the worker that fails to set it up (no memory
 * for its pool, or its share of the limit full) closes it without any
 * notification. Its entry would otherwise count against the limit forever.
 * NOTE: no test reaches this path, since libmicrohttpd offers no way to
 * make a worker fail to set up a connection.
 */
static int64_t
http_pending_expire_locked(struct http_server *srv, int64_t now)
{
	int64_t next = 0;

	for (int i = 0; i < srv->pending_conns;) {
		int64_t expires = srv->pending[i].accepted_us + HTTP_PENDING_EXPIRE_US;

		if (expires <= now) {
			log_error("a connection handed to libmicrohttpd was never started;"
			          " it no longer counts against the connection limit", NULL);
			srv->pending[i] = srv->pending[--srv->pending_conns];
			continue;
		}
		if (next == 0 || expires < next)
			next = expires;
		i++;
	}
	return next;
}

static void
http_conn_started(struct http_server *srv, struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct http_conn *c = info != NULL ? calloc(1, sizeof(*c)) : NULL;
	struct ipaddr peer;

	if (c == NULL) {
		/* A connection that cannot be listed stops counting: now when its
		 * descriptor is known, else when its pending entry expires. It
		 * would have no deadline, so it is closed when the descriptor is
		 * known. */
		pthread_mutex_lock(&srv->conns_lock);
		if (info != NULL)
			http_pending_take_locked(srv, info->connect_fd);
		pthread_cond_signal(&srv->conns_room);
		pthread_mutex_unlock(&srv->conns_lock);
		if (info != NULL) {
			log_error("new connection closed for lack of memory", NULL);
			shutdown(info->connect_fd, SHUT_RDWR);
		}
		return;
	}
	c->srv = srv;
	c->fd = info->connect_fd;
	http_find_peer(conn, &peer);
	ipaddr_format(&peer, c->peer_text, sizeof(c->peer_text));

	/* Moved from pending to open in one step: in between, the count would
	 * be one short and the accept thread could take a connection too many. */
	pthread_mutex_lock(&srv->conns_lock);
	bool listed = http_pending_take_locked(srv, c->fd);
	srv->open_conns++;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	http_conn_enter_locked(c, HTTP_PHASE_HEADERS, http_now_us());
	pthread_mutex_unlock(&srv->conns_lock);
	*socket_context = c;
	/* A pool thread can be busy for longer than HTTP_PENDING_EXPIRE_US,
	 * waiting for a commit on a stalled disk. It then starts its queued
	 * connections after the accept thread has counted them out. */
	if (!listed)
		log_warn("a connection started after it had waited too long to be counted;"
		         " the open connections may pass the limit for a while",
		         "client", c->peer_text, NULL);
}

static void
http_conn_closed(struct http_server *srv, void **socket_context)
{
	struct http_conn *c = *socket_context;

	if (c == NULL)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (srv->open_conns-- + srv->pending_conns == CP_CONNECTIONS_MAX)
		pthread_cond_signal(&srv->conns_room);
	pthread_mutex_unlock(&srv->conns_lock);
	free(c);
	*socket_context = NULL;
}

/* List each connection from its accept to its close. */
static void
http_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		http_conn_started(cls, conn, socket_context);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		http_conn_closed(cls, socket_context);
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
		ok = http_first_call(r);
		http_conn_headers_read(r);
		return ok == MHD_YES ? MHD_YES : MHD_NO;
	}
	if (r->held != NULL) {
		/* Resumed: the commit finished. */
		*upload_data_size = 0;
		return http_release_held(r) == MHD_YES ? MHD_YES : MHD_NO;
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
	if (!http_conn_enter_response(r)) {
		log_set_request_id(r->id);
		log_info("request not handled: the gateway is stopping; the connection is"
		         " closed without a response", "method", r->method, "path", r->path, NULL);
		log_set_request_id(NULL);
		return MHD_NO;
	}
	if (r->body_too_large)
		return http_send_too_large(r) == MHD_YES ? MHD_YES : MHD_NO;

	log_set_request_id(r->id);
	ok = api_dispatch(r);
	log_set_request_id(NULL);
	if (!r->responded)
		ok = http_send_error(r, 500, "InternalServerError", NULL,
		                     "the gateway failed to respond; the request id is in the log");
	if (r->deferred)
		http_wait_commit(r);
	return ok == MHD_YES ? MHD_YES : MHD_NO;
}

/* Write microseconds as milliseconds with three decimals: 1234 is "1.234". */
static void
http_format_duration(int64_t us, char out[32])
{
	char digits[24];
	const char *ms = log_format_int(digits, us / 1000);
	size_t n = strlen(ms);
	int64_t frac = us % 1000;

	memcpy(out, ms, n);
	out[n] = '.';
	out[n + 1] = (char)('0' + frac / 100);
	out[n + 2] = (char)('0' + frac / 10 % 10);
	out[n + 3] = (char)('0' + frac % 10);
	out[n + 4] = '\0';
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_request *r = *req_cls;
	char duration[32];

	/* The connection waits for its next request, or closes right after. */
	http_conn_enter(conn, HTTP_PHASE_HEADERS);
	if (r == NULL)
		return;
	int64_t elapsed_us = http_now_us() - r->started_us;

	if (elapsed_us < 0)
		elapsed_us = 0;
	http_format_duration(elapsed_us, duration);
	log_set_request_id(r->id);
	log_info("request", "method", r->method, "path", r->path,
	         "status", log_int(r->responded ? r->status : 0), "duration_ms", duration,
	         "client", r->client_text, "bytes_in", log_int(r->body_len),
	         "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "true" : "false", NULL);
	log_set_request_id(NULL);
	/* A client that closed while its response was held. */
	if (r->held != NULL)
		MHD_destroy_response(r->held);
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

/*
 * Write a message of libmicrohttpd as a log line, at info level because
 * most are about clients (closed early, over a limit). A client can cause
 * one per connection, so at most HTTP_LIBRARY_LOG_PER_MINUTE are written a
 * minute. The number left out is logged with the first message of a later
 * minute.
 */
static void http_library_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
http_library_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	int64_t now = http_now_us();
	char text[LOG_VALUE_MAX];
	int dropped = 0;
	bool within_cap;
	size_t n;

	pthread_mutex_lock(&srv->library_log_lock);
	if (now - srv->library_log_window_us >= 60 * HTTP_US_PER_S) {
		dropped = srv->library_log_dropped;
		srv->library_log_window_us = now;
		srv->library_log_count = 0;
		srv->library_log_dropped = 0;
	}
	within_cap = srv->library_log_count < HTTP_LIBRARY_LOG_PER_MINUTE;
	if (within_cap)
		srv->library_log_count++;
	else
		srv->library_log_dropped++;
	pthread_mutex_unlock(&srv->library_log_lock);

	if (dropped > 0)
		log_info("libmicrohttpd messages left out of the log", "count", log_int(dropped),
		         NULL);
	if (!within_cap)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	log_info("libmicrohttpd message", "text", text, NULL);
}

static int
http_server_init_locks(struct http_server *srv)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	/* The deadlines are CLOCK_MONOTONIC times, like http_now_us(). */
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&srv->conns_wake, &attr);
	if (rc != 0) {
		pthread_condattr_destroy(&attr);
		return -1;
	}
	if (pthread_cond_init(&srv->conns_room, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		pthread_cond_destroy(&srv->conns_wake);
		return -1;
	}
	pthread_condattr_destroy(&attr);
	if (pthread_cond_init(&srv->defer_idle, NULL) != 0) {
		pthread_cond_destroy(&srv->conns_wake);
		pthread_cond_destroy(&srv->conns_room);
		return -1;
	}
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_mutex_init(&srv->defer_lock, NULL);
	pthread_mutex_init(&srv->library_log_lock, NULL);
	return 0;
}

/* Free a server whose daemon and deadline thread have stopped. */
static void
http_server_free(struct http_server *srv)
{
	/* MHD_stop_daemon() reported every connection closed, so the list is
	 * empty; this loop only keeps a broken invariant from leaking. */
	while (srv->conns != NULL) {
		struct http_conn *c = srv->conns;

		srv->conns = c->next;
		free(c);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	pthread_cond_destroy(&srv->conns_wake);
	pthread_cond_destroy(&srv->conns_room);
	pthread_cond_destroy(&srv->defer_idle);
	pthread_mutex_destroy(&srv->conns_lock);
	pthread_mutex_destroy(&srv->defer_lock);
	pthread_mutex_destroy(&srv->library_log_lock);
	free(srv);
}

/* Open the listen socket on ss. Returns the descriptor, or -1 with errno set. */
static int
http_listen(const struct sockaddr_storage *ss, bool ipv6)
{
	socklen_t len = ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int enable = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* An IPv6 address serves IPv6 only, as libmicrohttpd's own socket did. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &enable, sizeof(enable)) != 0 ||
	    (ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &enable, sizeof(enable)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Accept connections and hand them to libmicrohttpd. When its pool workers
 * accept on their own, one worker can take several connections each time
 * it wakes. A burst of connections then lands on two or three workers, and
 * a request that waits for its COMMIT delays the other connections of its
 * worker. MHD_add_connection() puts each connection on the worker that its
 * descriptor number selects, so consecutive connections spread over the
 * pool. At the connection limit this thread stops accepting, and new
 * connections wait in the listen backlog.
 */
static void *
http_accept_main(void *arg)
{
	struct http_server *srv = arg;
	int64_t last_error_log_us = 0;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		bool stopping;
		int fd;

		pthread_mutex_lock(&srv->conns_lock);
		for (;;) {
			int64_t next = http_pending_expire_locked(srv, http_now_us());
			struct timespec until;

			if (srv->stopping || srv->open_conns + srv->pending_conns < CP_CONNECTIONS_MAX)
				break;
			if (next == 0) {
				pthread_cond_wait(&srv->conns_room, &srv->conns_lock);
				continue;
			}
			until.tv_sec = (time_t)(next / HTTP_US_PER_S);
			until.tv_nsec = (long)(next % HTTP_US_PER_S) * 1000;
			pthread_cond_timedwait(&srv->conns_room, &srv->conns_lock, &until);
		}
		stopping = srv->stopping;
		pthread_mutex_unlock(&srv->conns_lock);
		if (stopping)
			break;

		fd = accept4(srv->listen_fd, (struct sockaddr *)&peer, &len,
		             SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			int64_t now;

			/* http_stop() shuts the socket down, which ends a waiting
			 * accept4() with EINVAL. */
			if (errno == EINVAL)
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN ||
			    errno == EPERM || errno == EPROTO)
				continue;
			now = http_now_us();
			if (now - last_error_log_us >= HTTP_US_PER_S) {
				log_error("accepting a connection failed; if this repeats, raise the"
				          " open file limit (ulimit -n)", "error", strerror(errno), NULL);
				last_error_log_us = now;
			}
			/* Out of descriptors or memory, so wait for connections to close. */
			usleep(HTTP_ACCEPT_RETRY_US);
			continue;
		}
		/* Listed before the add, since a pool thread may start the
		 * connection before MHD_add_connection() returns. On failure,
		 * such as the per-address limit, libmicrohttpd closes the socket
		 * and logs the reason. An entry for the same descriptor belongs
		 * to a connection that a pool worker closed without starting it
		 * (see http_pending_expire_locked()), since a descriptor number
		 * returns only after a close, so it is replaced. */
		pthread_mutex_lock(&srv->conns_lock);
		http_pending_take_locked(srv, fd);
		srv->pending[srv->pending_conns].fd = fd;
		srv->pending[srv->pending_conns].accepted_us = http_now_us();
		srv->pending_conns++;
		pthread_mutex_unlock(&srv->conns_lock);
		if (MHD_add_connection(srv->daemon, fd, (struct sockaddr *)&peer, len) != MHD_YES) {
			pthread_mutex_lock(&srv->conns_lock);
			http_pending_take_locked(srv, fd);
			pthread_mutex_unlock(&srv->conns_lock);
		}
	}
	return NULL;
}

struct http_server *
http_start(struct gateway *gw, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	bool ipv6 = false;
	/* http_accept_main() accepts the connections. */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->listen_fd = -1;
	if (http_parse_listen(gw->cfg->listen, &ss, &ipv6) != 0) {
		snprintf(err, errlen, "listen address \"%s\" is invalid; use 127.0.0.1:8080"
		         " or [::1]:8080", gw->cfg->listen);
		free(srv);
		return NULL;
	}
	if (http_server_init_locks(srv) != 0) {
		snprintf(err, errlen, "cannot create the condition variable of the HTTP server");
		free(srv);
		return NULL;
	}
	srv->listen_fd = http_listen(&ss, ipv6);
	if (srv->listen_fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s; is the port in use?",
		         gw->cfg->listen, strerror(errno));
		http_server_free(srv);
		return NULL;
	}
	if (getsockname(srv->listen_fd, (struct sockaddr *)&ss, &sslen) == 0)
		srv->port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                       : ((struct sockaddr_in *)&ss)->sin_port);
	/* With a thread per connection (server.threads = 0), a request that
	 * waits for its COMMIT delays no other connection. */
	if (gw->cfg->http_threads == 0)
		flags = (flags & ~(unsigned int)MHD_USE_EPOLL) |
		        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
	else
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	srv->can_suspend = gw->cfg->http_threads > 0;
	struct MHD_OptionItem pool[] = {
		{ gw->cfg->http_threads > 0 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		  (intptr_t)gw->cfg->http_threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	srv->gw = gw;
	/* libmicrohttpd takes the logger first, so that it logs every message. */
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, http_library_log, srv,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CP_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CP_CONNECTION_MEMORY,
		/* The accept thread keeps to CP_CONNECTIONS_MAX. libmicrohttpd
		 * divides its own limit among the pool threads, and the
		 * descriptor number picks the thread, so it gets room to spare. */
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CP_CONNECTIONS_MAX * 2,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)gw->cfg->connections_per_address,
		MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, srv,
		MHD_OPTION_URI_LOG_CALLBACK, http_request_line_read, srv,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "cannot start the HTTP server on %s", gw->cfg->listen);
		http_server_free(srv);
		return NULL;
	}
	if (pthread_create(&srv->deadline_thread, NULL, http_deadline_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the thread that enforces request deadlines");
		MHD_stop_daemon(srv->daemon);
		http_server_free(srv);
		return NULL;
	}
	if (pthread_create(&srv->accept_thread, NULL, http_accept_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the thread that accepts connections");
		http_stop(srv);
		return NULL;
	}
	srv->accept_started = true;
	return srv;
}

uint16_t
http_port(const struct http_server *srv)
{
	return srv->port;
}

/*
 * Wait, at most HTTP_DRAIN_US, until no connection has a response in
 * progress, because MHD_stop_daemon() closes every connection without
 * sending what is queued. A resumed connection whose order is durable
 * would otherwise lose its 201. Under steady keep-alive load new requests
 * keep arriving, and the wait ends at the limit.
 */
static void
http_drain(struct http_server *srv)
{
	int64_t until = http_now_us() + HTTP_DRAIN_US;

	for (;;) {
		bool busy = false;

		pthread_mutex_lock(&srv->conns_lock);
		for (struct http_conn *c = srv->conns; c != NULL && !busy; c = c->next)
			busy = c->phase == HTTP_PHASE_RESPONSE;
		pthread_mutex_unlock(&srv->conns_lock);
		if (!busy)
			return;
		if (http_now_us() >= until) {
			log_warn("stopping with responses still in progress", NULL);
			return;
		}
		usleep(HTTP_DRAIN_POLL_US);
	}
}

void
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	srv->stopping = true;
	pthread_cond_signal(&srv->conns_wake);
	pthread_cond_signal(&srv->conns_room);
	pthread_mutex_unlock(&srv->conns_lock);
	/* This ends a waiting accept4() with EINVAL and refuses new connections. */
	shutdown(srv->listen_fd, SHUT_RDWR);
	if (srv->accept_started)
		pthread_join(srv->accept_thread, NULL);
	pthread_join(srv->deadline_thread, NULL);

	/* The store's committer still runs, so every suspended connection is
	 * resumed, and none is suspended from here on. */
	pthread_mutex_lock(&srv->defer_lock);
	srv->defer_stopping = true;
	while (srv->suspended > 0)
		pthread_cond_wait(&srv->defer_idle, &srv->defer_lock);
	pthread_mutex_unlock(&srv->defer_lock);
	http_drain(srv);

	MHD_stop_daemon(srv->daemon);
	http_server_free(srv);
}
