/*
 * Callback signing, the live-mode address guard, and delivery through the
 * dispatcher to a real HTTP receiver on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callback.h"
#include "keys.h"
#include "limits.h"
#include "outbox.h"
#include "store.h"

#define WAIT_MAX_MS     10000
#define WAIT_STEP_MS    50
#define RECEIVED_MAX    16
#define SCRIPT_MAX      8
#define TEST_SECRET     "whsec_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo"
#define ROTATED_SECRET  "whsec_bmV3c2VjcmV0Zm9yYnJvdGF0aW9udGVzdHMwMTIzNDU"

/* One request as the receiver saw it. */
struct received {
	char path[64];
	char event_id[64];
	char timestamp[32];
	char signature[160];
	char content_type[64];
	char user_agent[64];
	char resend[16];
	char *body;
	size_t body_len;
};

/* One scripted response. Status 0 ends the script, and later requests get 200. */
struct scripted_response {
	unsigned int status;
	const char *location;
	size_t body_len;            /* bytes of 'x' in the response body */
};

struct receiver {
	struct MHD_Daemon *daemon;
	uint16_t port;
	pthread_mutex_t lock;
	struct scripted_response script[SCRIPT_MAX];
	int responses_sent;
	struct received requests[RECEIVED_MAX];
	int count;
	char *response_fill;        /* 'x' bytes sent as scripted response bodies */
};

struct upload {
	char *data;
	size_t len;
};

/* The fixture: a database in a temporary directory and a receiver. */
struct fixture {
	char dir[64];
	char db_path[128];
	struct store *store;        /* keeps the schema created */
	sqlite3 *db;                /* second connection for raw inserts */
	struct keys keys;
	struct receiver receiver;
	char url[128];
};

static void
copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t len)
{
	const char *value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(out, len, "%s", value ? value : "");
}

static void
receiver_record(struct receiver *r, struct MHD_Connection *conn, const char *path,
                struct upload *up)
{
	if (r->count >= RECEIVED_MAX)
		return;

	struct received *rec = &r->requests[r->count++];
	snprintf(rec->path, sizeof(rec->path), "%s", path);
	copy_header(conn, "X-Event-Id", rec->event_id, sizeof(rec->event_id));
	copy_header(conn, "X-Signature-Timestamp", rec->timestamp, sizeof(rec->timestamp));
	copy_header(conn, "X-Signature", rec->signature, sizeof(rec->signature));
	copy_header(conn, "Content-Type", rec->content_type, sizeof(rec->content_type));
	copy_header(conn, "User-Agent", rec->user_agent, sizeof(rec->user_agent));
	copy_header(conn, "X-Event-Resend", rec->resend, sizeof(rec->resend));
	rec->body = up->data;
	rec->body_len = up->len;
	up->data = NULL;
}

static enum MHD_Result
receiver_handle(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version, const char *upload_data,
                size_t *upload_data_size, void **con_cls)
{
	struct receiver *r = cls;
	struct upload *up = *con_cls;

	if (up == NULL) {
		up = calloc(1, sizeof(*up));
		if (up == NULL)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		char *grown = realloc(up->data, up->len + *upload_data_size + 1);

		if (grown == NULL)
			return MHD_NO;
		memcpy(grown + up->len, upload_data, *upload_data_size);
		up->len += *upload_data_size;
		grown[up->len] = '\0';
		up->data = grown;
		*upload_data_size = 0;
		return MHD_YES;
	}

	struct scripted_response scripted = { 200, NULL, 2 };
	pthread_mutex_lock(&r->lock);
	if (r->responses_sent < SCRIPT_MAX && r->script[r->responses_sent].status != 0)
		scripted = r->script[r->responses_sent++];
	receiver_record(r, conn, url, up);
	pthread_mutex_unlock(&r->lock);

	struct MHD_Response *response = MHD_create_response_from_buffer(
		scripted.body_len, r->response_fill, MHD_RESPMEM_PERSISTENT);
	if (response == NULL)
		return MHD_NO;
	if (scripted.location != NULL)
		MHD_add_response_header(response, "Location", scripted.location);
	enum MHD_Result rc = MHD_queue_response(conn, scripted.status, response);
	MHD_destroy_response(response);
	return rc;
}

static void
receiver_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	if (up != NULL) {
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static void
receiver_start(struct receiver *r)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&r->lock, NULL);
	r->response_fill = malloc(4 * CP_CALLBACK_RESPONSE_MAX);
	assert_non_null(r->response_fill);
	memset(r->response_fill, 'x', 4 * CP_CALLBACK_RESPONSE_MAX);

	r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	                             receiver_handle, r,
	                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	                             MHD_OPTION_NOTIFY_COMPLETED, receiver_completed, r,
	                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	                             MHD_OPTION_END);
	assert_non_null(r->daemon);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon,
	                                                       MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	r->port = info->port;
	assert_true(r->port > 0);
}

static void
receiver_stop(struct receiver *r)
{
	MHD_stop_daemon(r->daemon);
	for (int i = 0; i < r->count; i++)
		free(r->requests[i].body);
	free(r->response_fill);
	pthread_mutex_destroy(&r->lock);
}

static int
receiver_count(struct receiver *r)
{
	pthread_mutex_lock(&r->lock);
	int n = r->count;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fprintf(stderr, "SQL failed: %s: %s\n", msg ? msg : "?", sql);
	sqlite3_free(msg);
	assert_int_equal(rc, SQLITE_OK);
}

/* Insert a merchant and the token with id token_id in the given mode. */
static void
insert_token(struct fixture *fx, int64_t token_id, const char *mode)
{
	char sealed[160];
	char sql[1024];

	assert_int_equal(keys_seal(&fx->keys, TEST_SECRET, sealed, sizeof(sealed)), 0);
	exec_sql(fx->db, "INSERT OR IGNORE INTO merchants(id, company, email, created_at)"
	                 " VALUES (1, 'Shop', 'shop@example.com', 0)");
	snprintf(sql, sizeof(sql),
	         "INSERT INTO access_tokens(id, merchant_id, name, type, currency,"
	         " ip_whitelist, callback_urls, expires_at, mode, digest, last_chars,"
	         " signing_secret_sealed, created_at) VALUES (%lld, 1, 'token%lld',"
	         " 'crypto', 'USD', '0.0.0.0/0', '%s', 4102444800, '%s',"
	         " randomblob(32), 'abcd', '%s', 0)",
	         (long long)token_id, (long long)token_id, fx->url, mode, sealed);
	exec_sql(fx->db, sql);
}

static void
insert_order(struct fixture *fx, int64_t order_id, int64_t token_id)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO orders(id, merchant_id, token_id, token, client_order_id,"
	         " mode, amount_fiat, currency, status, tolerance_under_pct,"
	         " tolerance_over_pct, created_at_ms, expires_at_ms, updated_at_ms)"
	         " VALUES (%lld, 1, %lld, 'ord%lld', 'client%lld', 'sandbox', 1000,"
	         " 'USD', 'pending', 0, 0, 0, 0, 0)",
	         (long long)order_id, (long long)token_id, (long long)order_id,
	         (long long)order_id);
	exec_sql(fx->db, sql);
}

/* Insert an event with its one delivery to url; returns the delivery id. */
static int64_t
insert_event(struct fixture *fx, int64_t token_id, int64_t order_id,
             int64_t sequence, const char *body, int64_t created_at, const char *url)
{
	sqlite3_stmt *stmt = NULL;
	char event_id[40];

	snprintf(event_id, sizeof(event_id), "evt_%lld_%lld",
	         (long long)order_id, (long long)sequence);
	assert_int_equal(sqlite3_prepare_v2(fx->db,
	    "INSERT INTO callback_events(event_id, token_id, order_id, sequence,"
	    " action, body, created_at) VALUES (?1, ?2, ?3, ?4, 'status_changed', ?5, ?6)",
	    -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, event_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, token_id);
	sqlite3_bind_int64(stmt, 3, order_id);
	sqlite3_bind_int64(stmt, 4, sequence);
	sqlite3_bind_text(stmt, 5, body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 6, created_at);
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
	int64_t event_row = sqlite3_last_insert_rowid(fx->db);

	assert_int_equal(sqlite3_prepare_v2(fx->db,
	    "INSERT INTO callback_deliveries(event_id, url, next_attempt_at)"
	    " VALUES (?1, ?2, 0)", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, event_row);
	sqlite3_bind_text(stmt, 2, url, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
	return sqlite3_last_insert_rowid(fx->db);
}

/* The delivery columns the tests check. */
struct stored_delivery {
	char state[16];
	int64_t attempts;
	int64_t last_http_status;
	char last_error[256];
	size_t last_response_len;
	int64_t delivered_at;
};

static void
read_delivery(struct fixture *fx, int64_t id, struct stored_delivery *row)
{
	sqlite3_stmt *stmt = NULL;

	memset(row, 0, sizeof(*row));
	assert_int_equal(sqlite3_prepare_v2(fx->db,
	    "SELECT state, attempts, COALESCE(last_http_status, 0),"
	    " COALESCE(last_error, ''), length(CAST(last_response AS BLOB)),"
	    " COALESCE(delivered_at, 0) FROM callback_deliveries WHERE id = ?1",
	    -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, id);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(row->state, sizeof(row->state), "%s", sqlite3_column_text(stmt, 0));
	row->attempts = sqlite3_column_int64(stmt, 1);
	row->last_http_status = sqlite3_column_int64(stmt, 2);
	snprintf(row->last_error, sizeof(row->last_error), "%s", sqlite3_column_text(stmt, 3));
	row->last_response_len = (size_t)sqlite3_column_int64(stmt, 4);
	row->delivered_at = sqlite3_column_int64(stmt, 5);
	sqlite3_finalize(stmt);
}

/* One callback_attempts row. */
struct stored_attempt {
	int64_t http_status;            /* 0 for NULL */
	char error[256];                /* empty for NULL */
	int64_t latency_ms;
	size_t response_len;
	int64_t resend;
};

/* Read the attempt rows of a delivery, oldest first; returns how many. */
static int
read_attempts(struct fixture *fx, int64_t delivery_id, struct stored_attempt *out, int max)
{
	sqlite3_stmt *stmt = NULL;
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(fx->db,
	    "SELECT COALESCE(http_status, 0), COALESCE(error, ''), latency_ms,"
	    " length(CAST(response AS BLOB)), resend FROM callback_attempts"
	    " WHERE delivery_id = ?1 ORDER BY id", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, delivery_id);
	while (n < max && sqlite3_step(stmt) == SQLITE_ROW) {
		out[n].http_status = sqlite3_column_int64(stmt, 0);
		snprintf(out[n].error, sizeof(out[n].error), "%s", sqlite3_column_text(stmt, 1));
		out[n].latency_ms = sqlite3_column_int64(stmt, 2);
		out[n].response_len = (size_t)sqlite3_column_int64(stmt, 3);
		out[n].resend = sqlite3_column_int64(stmt, 4);
		n++;
	}
	sqlite3_finalize(stmt);
	return n;
}

/* The integer in the first column of the first row of sql, bound to ?1 = arg. */
static int64_t
query_int(struct fixture *fx, const char *sql, int64_t arg)
{
	sqlite3_stmt *stmt = NULL;

	assert_int_equal(sqlite3_prepare_v2(fx->db, sql, -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, arg);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	int64_t value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait at most WAIT_MAX_MS until the delivery is in state with at least
 * min_attempts attempts; false on timeout. */
static bool
wait_delivery(struct fixture *fx, int64_t id, const char *state, int64_t min_attempts)
{
	struct stored_delivery row;

	for (int waited = 0; waited < WAIT_MAX_MS; waited += WAIT_STEP_MS) {
		read_delivery(fx, id, &row);
		if (strcmp(row.state, state) == 0 && row.attempts >= min_attempts)
			return true;
		sleep_ms(WAIT_STEP_MS);
	}
	return false;
}

/* A TCP listener on 127.0.0.1 that accepts connections, reads nothing and
 * never responds, so every attempt to it hangs until the request timeout. */
struct silent_receiver {
	int fd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	int connections;
	int open_fds[SCRIPT_MAX];
};

static void *
silent_receiver_run(void *arg)
{
	struct silent_receiver *r = arg;

	for (int round = 0; round < WAIT_MAX_MS / WAIT_STEP_MS * 10; round++) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

		pthread_mutex_lock(&r->lock);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (poll(&pfd, 1, WAIT_STEP_MS) != 1)
			continue;

		int conn = accept(r->fd, NULL, NULL);
		if (conn < 0)
			continue;
		pthread_mutex_lock(&r->lock);
		if (r->connections < SCRIPT_MAX)
			r->open_fds[r->connections] = conn;
		else
			close(conn);
		r->connections++;
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

static void
silent_receiver_start(struct silent_receiver *r)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);

	memset(r, 0, sizeof(*r));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&r->lock, NULL);
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(r->fd, 16), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&addr, &len), 0);
	r->port = ntohs(addr.sin_port);
	assert_int_equal(pthread_create(&r->thread, NULL, silent_receiver_run, r), 0);
}

static void
silent_receiver_stop(struct silent_receiver *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	for (int i = 0; i < r->connections && i < SCRIPT_MAX; i++)
		close(r->open_fds[i]);
	close(r->fd);
	pthread_mutex_destroy(&r->lock);
}

static int
silent_receiver_connections(struct silent_receiver *r)
{
	pthread_mutex_lock(&r->lock);
	int n = r->connections;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	assert_non_null(fx);
	assert_true(sodium_init() >= 0);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/citypay-callback-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->db_path, sizeof(fx->db_path), "%s/test.db", fx->dir);

	fx->store = store_open(fx->db_path, err, sizeof(err));
	assert_non_null(fx->store);
	assert_int_equal(sqlite3_open(fx->db_path, &fx->db), SQLITE_OK);
	sqlite3_busy_timeout(fx->db, 5000);
	randombytes_buf(fx->keys.seal_key, sizeof(fx->keys.seal_key));
	randombytes_buf(fx->keys.token_key, sizeof(fx->keys.token_key));

	receiver_start(&fx->receiver);
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%u/hook?secret=query",
	         (unsigned)fx->receiver.port);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char path[160];

	callback_dispatcher_stop();
	receiver_stop(&fx->receiver);
	sqlite3_close(fx->db);
	store_close(fx->store);

	const char *suffixes[] = { "", "-wal", "-shm", ".token-version" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", fx->db_path, suffixes[i]);
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
start_dispatcher(struct fixture *fx, int retry_base_s, int retry_cap_s)
{
	struct callback_config config = {
		.timeout_ms = 3000,
		.retry_base_s = retry_base_s,
		.retry_cap_s = retry_cap_s,
		.poll_interval_ms = 100,
	};

	assert_int_equal(callback_dispatcher_start(fx->db_path, &fx->keys, &config), CP_OK);
}

/* Start the dispatcher with one range that live tokens may reach. */
static void
start_dispatcher_allowing(struct fixture *fx, const char *range)
{
	struct callback_config config = {
		.timeout_ms = 3000,
		.retry_base_s = 60,
		.retry_cap_s = 60,
		.poll_interval_ms = 100,
		.allowed_range_count = 1,
	};
	char err[160];

	assert_int_equal(ipnet_parse(range, &config.allowed_ranges[0], err, sizeof(err)), 0);
	assert_int_equal(callback_dispatcher_start(fx->db_path, &fx->keys, &config), CP_OK);
}

static void
assert_signature_valid(const struct received *rec)
{
	char expected[CALLBACK_SIGNATURE_HEX];
	char *end = NULL;
	long long ts = strtoll(rec->timestamp, &end, 10);

	assert_true(end != rec->timestamp && *end == '\0');
	assert_true(llabs(ts - (long long)time(NULL)) < 60);
	callback_sign(TEST_SECRET, ts, rec->body, rec->body_len, expected);
	assert_string_equal(rec->signature, expected);
}

/* Computed independently with:
 *   printf '%s' '1700000000.{"type":"order","event_id":"evt_01","sequence":1}' |
 *   openssl dgst -sha256 -hmac 'whsec_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo'
 */
static void
sign_matches_openssl(void **state)
{
	const char *body = "{\"type\":\"order\",\"event_id\":\"evt_01\",\"sequence\":1}";
	char hex[CALLBACK_SIGNATURE_HEX];

	callback_sign(TEST_SECRET, 1700000000, body, strlen(body), hex);
	assert_string_equal(hex,
	    "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c5");
}

/* The same vector as sign_matches_openssl and docs/CALLBACKS.md, checked
 * the way a merchant's receiver does. */
static void
verify_accepts_test_vector(void **state)
{
	const char *body = "{\"type\":\"order\",\"event_id\":\"evt_01\",\"sequence\":1}";
	const char *hex = "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c5";
	const char *upper = "B2EB3973F5C8AE3DC46E923F1014CA9E2B104F6E12B2AAB6CF326CE4F722F9C5";
	size_t len = strlen(body);

	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len, 1700000000),
	                 CALLBACK_VERIFY_OK);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", upper, body, len, 1700000000),
	                 CALLBACK_VERIFY_OK);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len, 1700000300),
	                 CALLBACK_VERIFY_OK);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len, 1699999700),
	                 CALLBACK_VERIFY_OK);
}

static void
verify_rejects_bad_input(void **state)
{
	const char *body = "{\"type\":\"order\",\"event_id\":\"evt_01\",\"sequence\":1}";
	const char *hex = "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c5";
	const char *other = "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c6";
	size_t len = strlen(body);
	int64_t now = 1700000000;

	assert_int_equal(callback_verify(TEST_SECRET, NULL, hex, body, len, now),
	                 CALLBACK_VERIFY_MISSING);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", NULL, body, len, now),
	                 CALLBACK_VERIFY_MISSING);
	assert_int_equal(callback_verify(TEST_SECRET, "17e8", hex, body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
	assert_int_equal(callback_verify(TEST_SECRET, "-1700000000", hex, body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", "b2eb", body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len, now + 301),
	                 CALLBACK_VERIFY_STALE);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len, now - 301),
	                 CALLBACK_VERIFY_STALE);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", other, body, len, now),
	                 CALLBACK_VERIFY_MISMATCH);
	assert_int_equal(callback_verify("whsec_other", "1700000000", hex, body, len, now),
	                 CALLBACK_VERIFY_MISMATCH);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", hex, body, len - 1, now),
	                 CALLBACK_VERIFY_MISMATCH);
}

/* During a rotation X-Signature carries two signatures; either may match. */
static void
verify_accepts_two_signatures(void **state)
{
	const char *body = "{\"type\":\"order\",\"event_id\":\"evt_01\",\"sequence\":1}";
	const char *hex = "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c5";
	const char *other = "b2eb3973f5c8ae3dc46e923f1014ca9e2b104f6e12b2aab6cf326ce4f722f9c6";
	size_t len = strlen(body);
	int64_t now = 1700000000;
	char header[200];

	snprintf(header, sizeof(header), "%s, %s", other, hex);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_OK);
	snprintf(header, sizeof(header), "%s, %s", hex, other);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_OK);
	snprintf(header, sizeof(header), "%s, %s", other, other);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_MISMATCH);

	snprintf(header, sizeof(header), "%s,%s", other, hex);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
	snprintf(header, sizeof(header), "%s, %s, %s", other, other, hex);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
	snprintf(header, sizeof(header), "%s, ", hex);
	assert_int_equal(callback_verify(TEST_SECRET, "1700000000", header, body, len, now),
	                 CALLBACK_VERIFY_MALFORMED);
}

static void
sign_covers_timestamp(void **state)
{
	const char *body = "{}";
	char first[CALLBACK_SIGNATURE_HEX];
	char second[CALLBACK_SIGNATURE_HEX];

	callback_sign(TEST_SECRET, 1700000000, body, 2, first);
	callback_sign(TEST_SECRET, 1700000001, body, 2, second);
	assert_string_not_equal(first, second);
}

static void
address_guard_table(void **state)
{
	static const struct {
		const char *text;
		bool is_public;
	} cases[] = {
		{ "93.184.216.34", true },
		{ "8.8.8.8", true },
		{ "2606:4700::1111", true },
		{ "100.63.255.255", true },
		{ "100.128.0.1", true },
		{ "172.32.0.1", true },
		{ "127.0.0.1", false },
		{ "127.255.255.254", false },
		{ "10.1.2.3", false },
		{ "172.16.0.1", false },
		{ "172.31.255.255", false },
		{ "192.168.1.1", false },
		{ "169.254.169.254", false },
		{ "169.254.0.1", false },
		{ "100.64.0.1", false },
		{ "100.127.255.255", false },
		{ "0.0.0.0", false },
		{ "224.0.0.1", false },
		{ "255.255.255.255", false },
		{ "::", false },
		{ "::1", false },
		{ "fc00::1", false },
		{ "fd12:3456::1", false },
		{ "fe80::1", false },
		{ "fec0::1", false },
		{ "ff02::1", false },
		{ "::ffff:127.0.0.1", false },
		{ "::ffff:169.254.169.254", false },
		{ "::ffff:8.8.8.8", true },
		{ "64:ff9b::10.0.0.1", false },
		{ "64:ff9b::8.8.8.8", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipaddr addr;

		assert_int_equal(ipaddr_parse(cases[i].text, &addr), 0);
		if (callback_address_is_public(&addr) != cases[i].is_public)
			fail_msg("%s: expected %s", cases[i].text,
			         cases[i].is_public ? "public" : "rejected");
	}
}

static void
address_guard_allowed_ranges(void **state)
{
	struct ipnet ranges[2];
	struct ipaddr addr;
	char err[160];

	assert_int_equal(ipnet_parse("10.20.0.0/16", &ranges[0], err, sizeof(err)), 0);
	assert_int_equal(ipnet_parse("fd00:1::/64", &ranges[1], err, sizeof(err)), 0);

	assert_int_equal(ipaddr_parse("10.20.3.4", &addr), 0);
	assert_true(callback_address_allowed(&addr, ranges, 2));
	assert_false(callback_address_allowed(&addr, ranges, 0));
	assert_int_equal(ipaddr_parse("::ffff:10.20.3.4", &addr), 0);
	assert_true(callback_address_allowed(&addr, ranges, 2));
	assert_int_equal(ipaddr_parse("fd00:1::9", &addr), 0);
	assert_true(callback_address_allowed(&addr, ranges, 2));

	assert_int_equal(ipaddr_parse("10.21.0.1", &addr), 0);
	assert_false(callback_address_allowed(&addr, ranges, 2));
	assert_int_equal(ipaddr_parse("127.0.0.1", &addr), 0);
	assert_false(callback_address_allowed(&addr, ranges, 2));
	assert_int_equal(ipaddr_parse("169.254.169.254", &addr), 0);
	assert_false(callback_address_allowed(&addr, ranges, 2));
	assert_int_equal(ipaddr_parse("fd00:2::1", &addr), 0);
	assert_false(callback_address_allowed(&addr, ranges, 2));

	/* Public addresses stay allowed whatever the ranges. */
	assert_int_equal(ipaddr_parse("8.8.8.8", &addr), 0);
	assert_true(callback_address_allowed(&addr, ranges, 0));
}

/* Event 2 of the order gets the lower delivery id, so only the sequence
 * rule keeps it behind event 1, which fails once before it succeeds. */
static void
delivery_retries_in_sequence(void **state)
{
	struct fixture *fx = *state;
	const char *body1 = "{\"event_id\":\"evt_7_1\",\"sequence\":1,\"note\":\"caf\xc3\xa9\"}";
	const char *body2 = "{\"event_id\":\"evt_7_2\",\"sequence\":2}";
	struct stored_delivery row;
	int64_t now = (int64_t)time(NULL);

	struct callback_metrics before, after;
	struct stored_attempt attempts[4];

	fx->receiver.script[0] = (struct scripted_response){ 500, NULL, 2 };
	insert_token(fx, 1, "sandbox");
	insert_order(fx, 7, 1);
	int64_t second = insert_event(fx, 1, 7, 2, body2, now, fx->url);
	int64_t first = insert_event(fx, 1, 7, 1, body1, now, fx->url);

	callback_metrics_read(&before);
	start_dispatcher(fx, 1, 1);
	assert_true(wait_delivery(fx, second, "delivered", 1));
	callback_metrics_read(&after);

	assert_int_equal(receiver_count(&fx->receiver), 3);
	const struct received *req = fx->receiver.requests;
	assert_string_equal(req[0].event_id, "evt_7_1");
	assert_string_equal(req[1].event_id, "evt_7_1");
	assert_string_equal(req[2].event_id, "evt_7_2");
	for (int i = 0; i < 3; i++) {
		assert_string_equal(req[i].path, "/hook");
		assert_string_equal(req[i].content_type, "application/json");
		assert_string_equal(req[i].user_agent, "citypay-gateway");
		assert_signature_valid(&req[i]);
	}
	assert_int_equal(req[0].body_len, strlen(body1));
	assert_memory_equal(req[0].body, body1, strlen(body1));
	assert_int_equal(req[1].body_len, strlen(body1));
	assert_memory_equal(req[1].body, body1, strlen(body1));
	assert_int_equal(req[2].body_len, strlen(body2));
	assert_memory_equal(req[2].body, body2, strlen(body2));

	read_delivery(fx, first, &row);
	assert_string_equal(row.state, "delivered");
	assert_int_equal(row.attempts, 2);
	assert_int_equal(row.last_http_status, 200);
	assert_string_equal(row.last_error, "");
	assert_true(row.delivered_at >= now);
	read_delivery(fx, second, &row);
	assert_int_equal(row.attempts, 1);

	assert_int_equal(read_attempts(fx, first, attempts, 4), 2);
	assert_int_equal(attempts[0].http_status, 500);
	assert_string_equal(attempts[0].error, "HTTP 500");
	assert_int_equal(attempts[0].response_len, 2);
	assert_int_equal(attempts[0].resend, 0);
	assert_int_equal(attempts[1].http_status, 200);
	assert_string_equal(attempts[1].error, "");
	assert_true(attempts[1].latency_ms >= 0);
	assert_int_equal(read_attempts(fx, second, attempts, 4), 1);
	assert_int_equal(attempts[0].http_status, 200);

	assert_int_equal(after.attempts - before.attempts, 3);
	assert_int_equal(after.delivered - before.delivered, 2);
	assert_int_equal(after.retried - before.retried, 1);
	assert_int_equal(after.failed - before.failed, 0);
	assert_int_equal(after.latency_count - before.latency_count, 3);
	assert_int_equal(after.latency_le[CALLBACK_LATENCY_BUCKETS - 1] -
	                 before.latency_le[CALLBACK_LATENCY_BUCKETS - 1], 3);
}

/* A resend sends the same body again with X-Event-Resend: true, and only
 * that attempt is logged as a resend. */
static void
resend_sends_header_once(void **state)
{
	struct fixture *fx = *state;
	const char *body = "{\"event_id\":\"evt_12_1\",\"sequence\":1}";
	struct stored_attempt attempts[4];
	int64_t changed = 0;

	insert_token(fx, 1, "sandbox");
	insert_order(fx, 12, 1);
	int64_t id = insert_event(fx, 1, 12, 1, body, (int64_t)time(NULL), fx->url);

	start_dispatcher(fx, 60, 60);
	assert_true(wait_delivery(fx, id, "delivered", 1));

	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_outbox_resend(fx->store, "evt_12_1", (int64_t)time(NULL), &changed),
	                 CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);
	assert_int_equal(changed, 1);
	callback_dispatcher_wake();
	assert_true(wait_delivery(fx, id, "delivered", 2));

	assert_int_equal(receiver_count(&fx->receiver), 2);
	const struct received *req = fx->receiver.requests;
	assert_string_equal(req[0].resend, "");
	assert_string_equal(req[1].resend, "true");
	assert_string_equal(req[1].event_id, "evt_12_1");
	assert_int_equal(req[1].body_len, strlen(body));
	assert_memory_equal(req[1].body, body, strlen(body));
	assert_signature_valid(&req[1]);

	assert_int_equal(read_attempts(fx, id, attempts, 4), 2);
	assert_int_equal(attempts[0].resend, 0);
	assert_int_equal(attempts[1].resend, 1);
	assert_int_equal(query_int(fx, "SELECT resend_pending FROM callback_deliveries"
	                               " WHERE id = ?1", id), 0);

	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_outbox_resend(fx->store, "evt_missing", 0, &changed), CP_NOT_FOUND);
	store_rollback(fx->store);
}

static void
redirect_counts_as_failure(void **state)
{
	struct fixture *fx = *state;
	struct stored_delivery row;
	char location[128];

	snprintf(location, sizeof(location), "http://127.0.0.1:%u/elsewhere",
	         (unsigned)fx->receiver.port);
	fx->receiver.script[0] = (struct scripted_response){ 302, location, 0 };
	insert_token(fx, 1, "sandbox");
	insert_order(fx, 8, 1);
	int64_t id = insert_event(fx, 1, 8, 1, "{\"sequence\":1}", (int64_t)time(NULL), fx->url);

	start_dispatcher(fx, 60, 60);
	assert_true(wait_delivery(fx, id, "pending", 1));
	sleep_ms(300);

	read_delivery(fx, id, &row);
	assert_string_equal(row.state, "pending");
	assert_int_equal(row.attempts, 1);
	assert_int_equal(row.last_http_status, 302);
	assert_non_null(strstr(row.last_error, "redirect"));
	assert_int_equal(receiver_count(&fx->receiver), 1);
	assert_string_equal(fx->receiver.requests[0].path, "/hook");
}

/* An event older than the retry window is given up after one more failure,
 * and only the first CP_CALLBACK_RESPONSE_MAX bytes of the response are kept. */
static void
old_event_fails_for_good(void **state)
{
	struct fixture *fx = *state;
	struct stored_delivery row;
	int64_t created_at = (int64_t)time(NULL) - CP_CALLBACK_RETRY_S - 10;
	struct callback_metrics before, after;
	struct stored_attempt attempts[2];

	fx->receiver.script[0] = (struct scripted_response){ 503, NULL, 3 * CP_CALLBACK_RESPONSE_MAX };
	insert_token(fx, 1, "sandbox");
	insert_order(fx, 9, 1);
	int64_t id = insert_event(fx, 1, 9, 1, "{\"sequence\":1}", created_at, fx->url);

	callback_metrics_read(&before);
	start_dispatcher(fx, 1, 1);
	assert_true(wait_delivery(fx, id, "failed", 1));
	callback_metrics_read(&after);
	assert_int_equal(after.failed - before.failed, 1);
	assert_int_equal(after.retried - before.retried, 0);

	assert_int_equal(read_attempts(fx, id, attempts, 2), 1);
	assert_int_equal(attempts[0].http_status, 503);
	assert_string_equal(attempts[0].error, "HTTP 503");
	assert_int_equal(attempts[0].response_len, CP_CALLBACK_RESPONSE_MAX);

	read_delivery(fx, id, &row);
	assert_int_equal(row.attempts, 1);
	assert_int_equal(row.last_http_status, 503);
	assert_int_equal(row.last_response_len, CP_CALLBACK_RESPONSE_MAX);
	assert_string_equal(row.last_error, "HTTP 503");
}

/* A sandbox token reaches the loopback receiver. A live token with the
 * same URL is rejected at connect time, even while the kept-alive sandbox
 * connection to that host is still open. */
static void
live_token_rejects_loopback(void **state)
{
	struct fixture *fx = *state;
	struct stored_delivery row;
	int64_t now = (int64_t)time(NULL);

	insert_token(fx, 1, "sandbox");
	insert_token(fx, 2, "live");
	insert_order(fx, 10, 1);
	insert_order(fx, 11, 2);
	int64_t sandbox = insert_event(fx, 1, 10, 1, "{\"sequence\":1}", now, fx->url);

	start_dispatcher(fx, 60, 60);
	assert_true(wait_delivery(fx, sandbox, "delivered", 1));

	int64_t live = insert_event(fx, 2, 11, 1, "{\"sequence\":1}", now, fx->url);
	callback_dispatcher_wake();
	assert_true(wait_delivery(fx, live, "pending", 1));

	read_delivery(fx, live, &row);
	assert_int_equal(row.attempts, 1);
	assert_int_equal(row.last_http_status, 0);
	assert_non_null(strstr(row.last_error, "127.0.0.1 is not public"));
	assert_int_equal(receiver_count(&fx->receiver), 1);
}

/* While an attempt to a receiver that never responds is in flight, a
 * delivery of another order to another receiver is sent and recorded at
 * once. The hanging delivery is not claimed a second time, neither by a
 * resend nor for the next event of its order. */
static void
hanging_receiver_blocks_only_itself(void **state)
{
	struct fixture *fx = *state;
	struct silent_receiver silent;
	struct stored_delivery row;
	char silent_url[128];
	int64_t now = (int64_t)time(NULL);
	int64_t changed = 0;

	silent_receiver_start(&silent);
	snprintf(silent_url, sizeof(silent_url), "http://127.0.0.1:%u/slow",
	         (unsigned)silent.port);
	insert_token(fx, 1, "sandbox");
	insert_order(fx, 20, 1);
	insert_order(fx, 21, 1);
	int64_t hanging = insert_event(fx, 1, 20, 1, "{\"sequence\":1}", now, silent_url);

	start_dispatcher(fx, 60, 60);
	for (int waited = 0; waited < WAIT_MAX_MS && silent_receiver_connections(&silent) == 0;
	     waited += WAIT_STEP_MS)
		sleep_ms(WAIT_STEP_MS);
	assert_int_equal(silent_receiver_connections(&silent), 1);

	int64_t started = monotonic_ms();
	int64_t other = insert_event(fx, 1, 21, 1, "{\"sequence\":1}", now, fx->url);
	callback_dispatcher_wake();
	assert_true(wait_delivery(fx, other, "delivered", 1));
	assert_true(monotonic_ms() - started < 1500);
	read_delivery(fx, hanging, &row);
	assert_int_equal(row.attempts, 0);

	/* The resend makes the delivery due while its attempt is in flight,
	 * and event 2 waits for event 1. Neither may open a new connection. */
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_outbox_resend(fx->store, "evt_20_1", (int64_t)time(NULL), &changed),
	                 CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);
	insert_event(fx, 1, 20, 2, "{\"sequence\":2}", now, silent_url);
	callback_dispatcher_wake();
	sleep_ms(500);
	assert_int_equal(silent_receiver_connections(&silent), 1);
	read_delivery(fx, hanging, &row);
	assert_int_equal(row.attempts, 0);
	assert_int_equal(receiver_count(&fx->receiver), 1);

	callback_dispatcher_stop();
	silent_receiver_stop(&silent);
}

/* The connect-time guard lets a live token reach 127.0.0.1 when
 * 127.0.0.0/8 is allowed, and still rejects it when only 10.0.0.0/8 is. */
static void
live_token_reaches_allowed_range(void **state)
{
	struct fixture *fx = *state;
	struct stored_delivery row;
	int64_t now = (int64_t)time(NULL);

	insert_token(fx, 2, "live");
	insert_order(fx, 30, 2);
	insert_order(fx, 31, 2);
	int64_t allowed = insert_event(fx, 2, 30, 1, "{\"sequence\":1}", now, fx->url);

	start_dispatcher_allowing(fx, "127.0.0.0/8");
	assert_true(wait_delivery(fx, allowed, "delivered", 1));
	assert_int_equal(receiver_count(&fx->receiver), 1);
	callback_dispatcher_stop();

	int64_t rejected = insert_event(fx, 2, 31, 1, "{\"sequence\":1}", now, fx->url);
	start_dispatcher_allowing(fx, "10.0.0.0/8");
	assert_true(wait_delivery(fx, rejected, "pending", 1));
	read_delivery(fx, rejected, &row);
	assert_int_equal(row.last_http_status, 0);
	assert_non_null(strstr(row.last_error, "127.0.0.1 is not public and not in"
	                                       " callbacks.allowed_ranges"));
	assert_int_equal(receiver_count(&fx->receiver), 1);
}

/* Copy n bytes of src into one signature slot; false when they do not fit. */
static bool
copy_signature(char out[CALLBACK_SIGNATURE_HEX], const char *src, size_t n)
{
	if (n >= CALLBACK_SIGNATURE_HEX)
		return false;
	memcpy(out, src, n);
	out[n] = '\0';
	return true;
}

/* Split an X-Signature value into its signatures; returns how many, 0 when too long. */
static int
split_signatures(const char *header, char out[2][CALLBACK_SIGNATURE_HEX])
{
	const char *comma = strstr(header, ", ");

	if (comma == NULL)
		return copy_signature(out[0], header, strlen(header)) ? 1 : 0;
	if (!copy_signature(out[0], header, (size_t)(comma - header)) ||
	    !copy_signature(out[1], comma + 2, strlen(comma + 2)))
		return 0;
	return 2;
}

/* After a rotation with an overlap, callbacks carry the new secret's
 * signature and then the old one's; once the overlap ends, only the new. */
static void
rotation_signs_twice_during_overlap(void **state)
{
	struct fixture *fx = *state;
	char sealed[160];
	char expected[CALLBACK_SIGNATURE_HEX];
	char parts[2][CALLBACK_SIGNATURE_HEX];
	int64_t now = (int64_t)time(NULL);

	insert_token(fx, 1, "sandbox");
	insert_order(fx, 40, 1);
	insert_order(fx, 41, 1);
	assert_int_equal(keys_seal(&fx->keys, ROTATED_SECRET, sealed, sizeof(sealed)), 0);
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_token_rotate_secret(fx->store, 1, 1, sealed, now + 3600), CP_OK);
	assert_int_equal(store_token_rotate_secret(fx->store, 2, 1, sealed, now + 3600),
	                 CP_NOT_FOUND);
	assert_int_equal(store_commit(fx->store), CP_OK);

	int64_t during = insert_event(fx, 1, 40, 1, "{\"sequence\":1}", now, fx->url);
	start_dispatcher(fx, 60, 60);
	assert_true(wait_delivery(fx, during, "delivered", 1));

	const struct received *rec = &fx->receiver.requests[0];
	long long ts = strtoll(rec->timestamp, NULL, 10);
	assert_int_equal(split_signatures(rec->signature, parts), 2);
	callback_sign(ROTATED_SECRET, ts, rec->body, rec->body_len, expected);
	assert_string_equal(parts[0], expected);
	callback_sign(TEST_SECRET, ts, rec->body, rec->body_len, expected);
	assert_string_equal(parts[1], expected);
	assert_int_equal(callback_verify(TEST_SECRET, rec->timestamp, rec->signature,
	                                 rec->body, rec->body_len, now), CALLBACK_VERIFY_OK);
	assert_int_equal(callback_verify(ROTATED_SECRET, rec->timestamp, rec->signature,
	                                 rec->body, rec->body_len, now), CALLBACK_VERIFY_OK);

	/* The overlap ends. */
	exec_sql(fx->db, "UPDATE access_tokens SET previous_secret_until = 1 WHERE id = 1");
	int64_t after = insert_event(fx, 1, 41, 1, "{\"sequence\":1}", now, fx->url);
	callback_dispatcher_wake();
	assert_true(wait_delivery(fx, after, "delivered", 1));

	rec = &fx->receiver.requests[1];
	ts = strtoll(rec->timestamp, NULL, 10);
	assert_int_equal(split_signatures(rec->signature, parts), 1);
	callback_sign(ROTATED_SECRET, ts, rec->body, rec->body_len, expected);
	assert_string_equal(parts[0], expected);
	assert_int_equal(callback_verify(TEST_SECRET, rec->timestamp, rec->signature,
	                                 rec->body, rec->body_len, now), CALLBACK_VERIFY_MISMATCH);
}

/* A rotation without an overlap drops the old secret at once. */
static void
rotation_without_overlap_signs_once(void **state)
{
	struct fixture *fx = *state;
	char sealed[160];
	char expected[CALLBACK_SIGNATURE_HEX];
	int64_t now = (int64_t)time(NULL);

	insert_token(fx, 1, "sandbox");
	insert_order(fx, 42, 1);
	assert_int_equal(keys_seal(&fx->keys, ROTATED_SECRET, sealed, sizeof(sealed)), 0);
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_token_rotate_secret(fx->store, 1, 1, sealed, 0), CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);
	assert_int_equal(query_int(fx, "SELECT previous_secret_sealed IS NULL"
	                               " AND previous_secret_until IS NULL"
	                               " FROM access_tokens WHERE id = ?1", 1), 1);

	int64_t id = insert_event(fx, 1, 42, 1, "{\"sequence\":1}", now, fx->url);
	start_dispatcher(fx, 60, 60);
	assert_true(wait_delivery(fx, id, "delivered", 1));

	const struct received *rec = &fx->receiver.requests[0];
	callback_sign(ROTATED_SECRET, strtoll(rec->timestamp, NULL, 10), rec->body,
	              rec->body_len, expected);
	assert_string_equal(rec->signature, expected);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sign_matches_openssl),
		cmocka_unit_test(sign_covers_timestamp),
		cmocka_unit_test(verify_accepts_test_vector),
		cmocka_unit_test(verify_rejects_bad_input),
		cmocka_unit_test(verify_accepts_two_signatures),
		cmocka_unit_test(address_guard_table),
		cmocka_unit_test(address_guard_allowed_ranges),
		cmocka_unit_test_setup_teardown(delivery_retries_in_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(redirect_counts_as_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(old_event_fails_for_good, setup, teardown),
		cmocka_unit_test_setup_teardown(live_token_rejects_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(resend_sends_header_once, setup, teardown),
		cmocka_unit_test_setup_teardown(hanging_receiver_blocks_only_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(live_token_reaches_allowed_range, setup, teardown),
		cmocka_unit_test_setup_teardown(rotation_signs_twice_during_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(rotation_without_overlap_signs_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
