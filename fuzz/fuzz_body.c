/*
 * http_parse_body() on a real libmicrohttpd connection, so urlencoded and
 * multipart bodies go through libmicrohttpd's post processor exactly as in
 * the daemon. The harness runs one daemon without a listening socket and
 * without threads. For each request it hands the daemon one end of a
 * socketpair with MHD_add_connection() and writes the request into the
 * other end. Then it drives the daemon with MHD_run() until the daemon has
 * responded and closed the connection, so nothing of one input is left
 * when the next one starts.
 *
 * Input layout: the low 7 bits of byte 0 modulo 5 select the Content-Type:
 *   0  application/json, the rest is the body
 *   1  application/x-www-form-urlencoded, the rest is the body
 *   2  multipart/form-data; boundary=<first line>, the rest is the body
 *   3  <first line> as the whole Content-Type value, the rest is the body
 *   4  no Content-Type header, the rest is the body
 * "First line" is the text after byte 0 up to the first '\n'. Bit 7 of
 * byte 0 makes "enabled_coins" a repeatable field, as the cabinet does.
 *
 * Checks beyond "no crash": an accepted body has named fields within the
 * limits of params.h, each sent once, with values that params_validate()
 * accepts. A rejected body gets 400, 415 or 422 with a message. A JSON
 * body gives the same result through HTTP as through params_parse_json()
 * directly. The fields of an accepted body, sent again in each of the
 * three encodings, give the same fields again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "fuzz_common.h"
#include "http.h"

/* Content-Type values longer than this are skipped. */
#define FUZZ_TYPE_MAX 1024
/* Max MHD_run() rounds for one request before the harness aborts. */
#define FUZZ_ROUNDS_MAX 10000
/* The boundary of the multipart bodies that the harness builds itself. */
#define FUZZ_BOUNDARY "citypay-fuzz-5b0c1e"

enum fuzz_mode {
	FUZZ_JSON,
	FUZZ_URLENCODED,
	FUZZ_MULTIPART,
	FUZZ_RAW_TYPE,
	FUZZ_NO_TYPE,
	FUZZ_MODES
};

/* Result of one request: the status sent, and the fields on success. */
struct fuzz_outcome {
	bool finished;
	bool parsed;
	int status;
	struct params params;
	char error[sizeof(((struct params *)0)->error)];
};

static const char *const fuzz_repeatable[] = { "enabled_coins", NULL };

static struct MHD_Daemon *fuzz_daemon;
/* The request being sent: its outcome and whether a field may repeat. */
static struct fuzz_outcome *fuzz_current;
static bool fuzz_current_repeatable;

/* The same cap and body handling as http_take_upload() in src/http.c. */
static void
fuzz_take_upload(struct http_request *r, const char *data, size_t size)
{
	char *grown;

	if (r->body_len + size > CP_BODY_MAX) {
		r->body_too_large = true;
		return;
	}
	grown = realloc(r->body, r->body_len + size + 1);
	if (grown == NULL)
		abort();
	memcpy(grown + r->body_len, data, size);
	r->body = grown;
	r->body_len += size;
	/* http_parse_body() searches the body with strstr(), so it relies on
	 * this terminating NUL, as the daemon provides it. */
	r->body[r->body_len] = '\0';
}

/* Check an accepted body's fields against the promises of params.h. */
static void
fuzz_check_fields(const struct params *p)
{
	if (p->count < 0 || p->count > CP_PARAMS_MAX)
		abort();
	for (int i = 0; i < p->count; i++) {
		const struct param *item = &p->items[i];

		if (item->name == NULL || item->value == NULL)
			abort();
		if (item->name[0] == '\0' || strlen(item->name) > CP_PARAM_NAME_MAX ||
		    item->value_len > CP_PARAM_VALUE_MAX)
			abort();
		if (strlen(item->value) != item->value_len || item->value[item->value_len] != '\0')
			abort();
		if (!validate_multiline_text(item->value, item->value_len))
			abort();
		for (int j = 0; j < i; j++) {
			if (strcmp(p->items[j].name, item->name) == 0)
				abort();
		}
	}
}

/* Parse the complete body, check the result and respond. */
static enum MHD_Result
fuzz_finish(struct http_request *r)
{
	struct fuzz_outcome *out = fuzz_current;

	if (r->body_too_large)
		abort();
	if (fuzz_current_repeatable)
		r->params.repeatable = fuzz_repeatable;
	out->finished = true;

	if (http_parse_body(r) != 0) {
		if (!r->responded || (r->status != 400 && r->status != 415 && r->status != 422))
			abort();
		if (r->status != 415 && r->params.error[0] == '\0')
			abort();
		if (r->status == 422 && r->params.error_field[0] == '\0')
			abort();
		out->status = r->status;
		memcpy(out->error, r->params.error, sizeof(out->error));
		return MHD_YES;
	}

	fuzz_check_fields(&r->params);
	/* The outcome takes the fields, so the completion callback must not
	 * free them. */
	out->parsed = true;
	out->params = r->params;
	r->params.count = 0;
	return http_send_json(r, 200, json_object_new_object()) == MHD_YES ? MHD_YES : MHD_NO;
}

static enum MHD_Result
fuzz_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size,
            void **req_cls)
{
	struct http_request *r = *req_cls;

	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			abort();
		/* http_parse_body() and the http_send_* functions it calls read
		 * neither the gateway nor the addresses, so they stay empty. */
		r->conn = conn;
		r->method = method;
		r->path = url;
		snprintf(r->id, sizeof(r->id), "fuzz");
		*req_cls = r;
		return MHD_YES;
	}
	if (r->responded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		fuzz_take_upload(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return fuzz_finish(r);
}

static void
fuzz_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_request *r = *req_cls;

	if (r == NULL)
		return;
	params_free(&r->params);
	free(r->body);
	free(r);
	*req_cls = NULL;
}

static void
fuzz_stop_daemon(void)
{
	MHD_stop_daemon(fuzz_daemon);
	fuzz_daemon = NULL;
}

/* Start the daemon with the connection settings of http_start(). */
static void
fuzz_start_daemon(void)
{
	if (fuzz_daemon != NULL)
		return;
	fuzz_daemon = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, fuzz_access, NULL,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CP_CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CP_CONNECTION_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, fuzz_completed, NULL,
		MHD_OPTION_END);
	if (fuzz_daemon == NULL) {
		fprintf(stderr, "fuzz_body: MHD_start_daemon failed\n");
		abort();
	}
	atexit(fuzz_stop_daemon);
}

static unsigned int
fuzz_connections(void)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(fuzz_daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info != NULL ? info->num_connections : 0;
}

/*
 * Send one request and run the daemon until it has closed the connection
 * and released it. The response itself is read and dropped, because
 * fuzz_finish() records the status.
 */
static void
fuzz_exchange(const char *request, size_t len, bool repeatable, struct fuzz_outcome *out)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000) };
	char response[4096];
	size_t sent = 0;
	bool closed = false;
	int fds[2];

	memset(out, 0, sizeof(*out));
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
		abort();
	fuzz_current = out;
	fuzz_current_repeatable = repeatable;
	/* The daemon owns and closes fds[1] from here on. */
	if (MHD_add_connection(fuzz_daemon, fds[1], (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES)
		abort();

	for (int round = 0; !closed || fuzz_connections() > 0; round++) {
		ssize_t n;

		if (round == FUZZ_ROUNDS_MAX) {
			fprintf(stderr, "fuzz_body: the daemon did not finish a request in %d rounds\n",
			        FUZZ_ROUNDS_MAX);
			abort();
		}
		if (sent < len) {
			n = send(fds[0], request + sent, len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				sent = len; /* the daemon closed early, after an error response */
		}
		MHD_run(fuzz_daemon);
		while (!closed) {
			n = recv(fds[0], response, sizeof(response), 0);
			if (n > 0)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				closed = true;
			break;
		}
	}
	close(fds[0]);
	fuzz_current = NULL;
}

/* Build and send a POST request with the given Content-Type (or none). */
static void
fuzz_post(const char *type, const char *body, size_t body_len, bool repeatable,
          struct fuzz_outcome *out)
{
	char head[FUZZ_TYPE_MAX + 256];
	int head_len;
	char *request;

	head_len = snprintf(head, sizeof(head), "POST /fuzz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                    "Connection: close\r\nContent-Length: %zu\r\n%s%s%s\r\n", body_len,
	                    type != NULL ? "Content-Type: " : "", type != NULL ? type : "",
	                    type != NULL ? "\r\n" : "");
	if (head_len < 0 || (size_t)head_len >= sizeof(head))
		abort();
	request = malloc((size_t)head_len + body_len);
	if (request == NULL)
		abort();
	memcpy(request, head, (size_t)head_len);
	memcpy(request + head_len, body, body_len);
	fuzz_exchange(request, (size_t)head_len + body_len, repeatable, out);
	free(request);
}

static const struct param *
fuzz_find(const struct params *p, const char *name)
{
	for (int i = 0; i < p->count; i++) {
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	}
	return NULL;
}

/* Abort unless the two field lists have the same names and values. */
static void
fuzz_require_same(const struct params *want, const struct fuzz_outcome *got,
                  const char *encoding)
{
	if (!got->parsed) {
		fprintf(stderr, "fuzz_body: the fields sent again as %s were rejected with %d: %s\n",
		        encoding, got->status, got->error);
		abort();
	}
	if (got->params.count != want->count) {
		fprintf(stderr, "fuzz_body: %d fields sent again as %s gave %d fields\n",
		        want->count, encoding, got->params.count);
		abort();
	}
	for (int i = 0; i < want->count; i++) {
		const struct param *a = &want->items[i];
		const struct param *b = fuzz_find(&got->params, a->name);

		if (b == NULL || b->structured != a->structured || b->value_len != a->value_len ||
		    memcmp(a->value, b->value, a->value_len) != 0) {
			fprintf(stderr, "fuzz_body: field \"%s\" sent again as %s came back %s\n",
			        a->name, encoding, b == NULL ? "missing" : "changed");
			abort();
		}
	}
}

static void
fuzz_percent_encode(const char *text, size_t len, char *out, size_t *at)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[(*at)++] = (char)c;
		} else {
			out[(*at)++] = '%';
			out[(*at)++] = hex[c >> 4];
			out[(*at)++] = hex[c & 0xf];
		}
	}
}

/* Encode the fields as application/x-www-form-urlencoded; caller frees. */
static char *
fuzz_encode_urlencoded(const struct params *p, size_t *len)
{
	size_t max = 1;
	char *body;

	for (int i = 0; i < p->count; i++)
		max += 3 * (strlen(p->items[i].name) + p->items[i].value_len) + 2;
	body = malloc(max);
	if (body == NULL)
		abort();
	*len = 0;
	for (int i = 0; i < p->count; i++) {
		if (i > 0)
			body[(*len)++] = '&';
		fuzz_percent_encode(p->items[i].name, strlen(p->items[i].name), body, len);
		body[(*len)++] = '=';
		fuzz_percent_encode(p->items[i].value, p->items[i].value_len, body, len);
	}
	return body;
}

/* Encode the fields as one JSON object of strings; caller frees. */
static char *
fuzz_encode_json(const struct params *p, size_t *len)
{
	json_object *root = json_object_new_object();
	const char *text;
	char *body;

	if (root == NULL)
		abort();
	for (int i = 0; i < p->count; i++) {
		json_object_object_add(root, p->items[i].name,
		                       json_object_new_string_len(p->items[i].value,
		                                                  (int)p->items[i].value_len));
	}
	text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, len);
	body = fuzz_strndup((const uint8_t *)text, *len);
	json_object_put(root);
	return body;
}

/* Append len bytes to a buffer that the caller sized for them. */
static void
fuzz_append(char *buffer, size_t *at, const char *bytes, size_t len)
{
	memcpy(buffer + *at, bytes, len);
	*at += len;
}

/*
 * Encode the fields as multipart/form-data with FUZZ_BOUNDARY; caller
 * frees. Returns NULL when a name cannot be quoted in Content-Disposition
 * or a value contains the boundary.
 */
static char *
fuzz_encode_multipart(const struct params *p, size_t *len)
{
	static const char part_head[] = "--" FUZZ_BOUNDARY "\r\n"
	                                "Content-Disposition: form-data; name=\"";
	static const char closing[] = "--" FUZZ_BOUNDARY "--\r\n";
	size_t max = sizeof(closing);
	char *body;

	for (int i = 0; i < p->count; i++) {
		const struct param *item = &p->items[i];

		if (strpbrk(item->name, "\"\\\r\n") != NULL ||
		    memmem(item->value, item->value_len, "--" FUZZ_BOUNDARY,
		           strlen("--" FUZZ_BOUNDARY)) != NULL)
			return NULL;
		max += sizeof(part_head) + strlen(item->name) + 5 + item->value_len + 2;
	}
	body = malloc(max);
	if (body == NULL)
		abort();
	*len = 0;
	for (int i = 0; i < p->count; i++) {
		const struct param *item = &p->items[i];

		fuzz_append(body, len, part_head, strlen(part_head));
		fuzz_append(body, len, item->name, strlen(item->name));
		fuzz_append(body, len, "\"\r\n\r\n", 5);
		fuzz_append(body, len, item->value, item->value_len);
		fuzz_append(body, len, "\r\n", 2);
	}
	fuzz_append(body, len, closing, strlen(closing));
	return body;
}

/* Send accepted fields again in every encoding; each must give them back. */
static void
fuzz_check_round_trip(const struct params *p, bool repeatable)
{
	struct fuzz_outcome again;
	size_t len = 0;
	char *body;

	for (int i = 0; i < p->count; i++) {
		if (p->items[i].structured)
			return;
	}

	body = fuzz_encode_urlencoded(p, &len);
	fuzz_post(MHD_HTTP_POST_ENCODING_FORM_URLENCODED, body, len, repeatable, &again);
	fuzz_require_same(p, &again, "urlencoded");
	params_free(&again.params);
	free(body);

	body = fuzz_encode_json(p, &len);
	fuzz_post("application/json", body, len, repeatable, &again);
	fuzz_require_same(p, &again, "JSON");
	params_free(&again.params);
	free(body);

	body = fuzz_encode_multipart(p, &len);
	if (body == NULL)
		return;
	fuzz_post(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA "; boundary=" FUZZ_BOUNDARY, body, len,
	          repeatable, &again);
	fuzz_require_same(p, &again, "multipart");
	params_free(&again.params);
	free(body);
}

/* A JSON body must give the same result through HTTP as parsed directly. */
static void
fuzz_check_json_direct(const char *body, size_t len, bool repeatable,
                       const struct fuzz_outcome *http)
{
	struct params *direct = calloc(1, sizeof(*direct));
	bool parsed;

	if (direct == NULL)
		abort();
	if (repeatable)
		direct->repeatable = fuzz_repeatable;
	parsed = params_parse_json(direct, body, len) == 0 && params_validate(direct) == 0;
	if (parsed != http->parsed) {
		fprintf(stderr, "fuzz_body: JSON body %s through HTTP but %s directly\n",
		        http->parsed ? "accepted" : "rejected", parsed ? "accepted" : "rejected");
		abort();
	}
	if (parsed)
		fuzz_require_same(direct, http, "JSON through HTTP");
	params_free(direct);
	free(direct);
}

/*
 * Split the input into the mode, the Content-Type value and the body.
 * Returns false for a Content-Type that cannot be sent as a header line.
 */
static bool
fuzz_split(const uint8_t *data, size_t size, enum fuzz_mode *mode, char *type,
           const char **body, size_t *body_len)
{
	const uint8_t *rest = data + 1, *newline;
	size_t rest_len = size - 1, line_len;

	*mode = (enum fuzz_mode)((data[0] & 0x7f) % FUZZ_MODES);
	*body = (const char *)rest;
	*body_len = rest_len;
	if (*mode == FUZZ_JSON || *mode == FUZZ_URLENCODED || *mode == FUZZ_NO_TYPE) {
		snprintf(type, FUZZ_TYPE_MAX + 1, "%s", *mode == FUZZ_JSON ? "application/json"
		         : *mode == FUZZ_URLENCODED ? MHD_HTTP_POST_ENCODING_FORM_URLENCODED : "");
		return true;
	}

	newline = memchr(rest, '\n', rest_len);
	line_len = newline != NULL ? (size_t)(newline - rest) : rest_len;
	*body = (const char *)rest + line_len + (newline != NULL);
	*body_len = rest_len - line_len - (newline != NULL);
	if (memchr(rest, '\r', line_len) != NULL || memchr(rest, '\0', line_len) != NULL)
		return false;
	return snprintf(type, FUZZ_TYPE_MAX + 1, "%s%.*s",
	                *mode == FUZZ_MULTIPART ? "multipart/form-data; boundary=" : "",
	                (int)line_len, (const char *)rest) <= FUZZ_TYPE_MAX;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char type[FUZZ_TYPE_MAX + 1];
	struct fuzz_outcome out;
	enum fuzz_mode mode;
	const char *body;
	size_t body_len;
	bool repeatable;

	if (size == 0 || size > CP_BODY_MAX)
		return 0;
	if (!fuzz_split(data, size, &mode, type, &body, &body_len))
		return 0;
	repeatable = (data[0] & 0x80) != 0;
	fuzz_start_daemon();

	fuzz_post(mode == FUZZ_NO_TYPE ? NULL : type, body, body_len, repeatable, &out);
	if (!out.finished)
		abort();
	if (mode == FUZZ_JSON)
		fuzz_check_json_direct(body, body_len, repeatable, &out);
	if (out.parsed)
		fuzz_check_round_trip(&out.params, repeatable);

	params_free(&out.params);
	return 0;
}
