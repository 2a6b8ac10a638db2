/*
 * The "libmicrohttpd alone" workload of scripts/bench.sh: an HTTP server
 * that sends the same fixed 150-byte JSON body as the nginx baseline
 * (bench/nginx.conf.in) to every request, and does nothing else.
 *
 *   mhd_floor --port PORT [--threads N] [--store DB [--insert]]
 *
 * It measures the ceiling that libmicrohttpd alone reaches on this machine
 * without any of the daemon's per-request work: no routing, no request id,
 * no access log line, no store access and no JSON building. Its ratio to
 * nginx sits beside that of GET /healthz (the daemon's HTTP layer), so the
 * gap between the two is the daemon's own cost per request.
 *
 * With --store it is the "libmicrohttpd and the order lookup" workload: a
 * GET /order/{token} also reads the order and its chain transactions from
 * the store DB with the daemon's own store code, in one read transaction
 * and with the same two queries as the daemon's GET /order/{token}
 * (api_order_info() in src/api.c), then sends the same fixed body, or a
 * 404 with no body when no order has that token. Other paths get the fixed
 * body as before. The gap between this ceiling and the daemon's GET
 * /order/{token} is what the daemon adds to the lookup: the view, the
 * envelope, the request id, the access log line and its HTTP layer.
 *
 * With --insert as well it is the "libmicrohttpd and the order insert"
 * workload: every POST inserts a new order for customer 1 and its access
 * token 1 with the daemon's store_order_insert(), and hands the commit to
 * the store's committer thread with store_commit_async(), as the daemon's
 * generateOrder does. The connection is suspended until the batch is
 * durable, then gets the fixed body with 201, or 500 when the commit
 * failed. The request body is read and dropped: no form parsing, no
 * authentication, no idempotency lookup, no merchant read and no last-use
 * update, so this is a ceiling of generateOrder with durable group commit.
 *
 * libmicrohttpd is set up as in http_start() of src/http.c: a pool of N
 * threads, each with its own epoll loop (default CP_HTTP_THREADS), or with
 * N = 0 one thread per connection with poll(), and the same connection
 * memory, timeout and connection limit. Unlike the daemon, the library
 * accepts the connections itself on its own listening socket, because the
 * daemon's accept thread is part of the daemon's work. It also sets none
 * of the daemon's callbacks, and allows suspend and resume only with
 * --insert.
 *
 * It listens on 127.0.0.1 only and runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "limits.h"
#include "store.h"

/* The body of "location = /" in bench/nginx.conf.in, byte for byte. */
static const char floor_body[] =
	"{\"success\":true,\"status\":1,\"status_code\":200,\"data\":{\"id\":123456,"
	"\"token\":\"bench-0000123456\",\"status\":\"IN_PROGRESS\",\"amount\":\"25.50\","
	"\"currency\":\"USD\"}}";

_Static_assert(sizeof(floor_body) - 1 == 150, "the body must match the nginx baseline's 150 bytes");

#define FLOOR_THREADS_MAX 256 /* the maximum of the daemon's server.threads */

/* Marker stored in *req_cls by the first call for a request. */
static char floor_request_seen;

/* Responses and store of the access handler, shared by every thread. */
struct floor_server {
	struct MHD_Response *response;  /* the fixed body */
	struct MHD_Response *not_found; /* an empty 404 */
	struct MHD_Response *failed;    /* an empty 500 */
	struct store *store;            /* NULL without --store */
	bool insert;                    /* --insert */
	bool can_suspend;               /* a pool, not a thread per connection */
	uint64_t next_order;            /* numbers the inserted orders */
};

/*
 * A POST whose order is being committed (--insert). The committer thread
 * and the connection's thread share it under floor_commit_lock.
 */
struct floor_request {
	struct MHD_Connection *conn;
	bool committed;                 /* the commit finished */
	bool suspended;                 /* the connection waits for it */
	enum cp_result rc;
};

static pthread_mutex_t floor_commit_lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast when a commit finishes, for a thread per connection and the stop. */
static pthread_cond_t floor_commit_done = PTHREAD_COND_INITIALIZER;
static int floor_suspended;     /* connections suspended for their commit */

static void
floor_usage(void)
{
	fprintf(stderr, "usage: mhd_floor --port PORT [--threads N] [--store DB [--insert]]\n"
	        "  --port PORT   TCP port on 127.0.0.1 to listen on (1 to 65535)\n"
	        "  --threads N   HTTP threads, as the daemon's server.threads: a pool of N,\n"
	        "                or 0 for one thread per connection (default %d, at most %d)\n"
	        "  --store DB    read the order of each GET /order/{token} from this SQLite\n"
	        "                store, as citypayd does, before the fixed body\n"
	        "  --insert      with --store, insert and durably commit a new order for\n"
	        "                customer 1 and token 1 for each POST before a 201\n",
	        CP_HTTP_THREADS, FLOOR_THREADS_MAX);
}

static int
floor_parse_long(const char *name, const char *text, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "mhd_floor: %s must be an integer from %ld to %ld, got \"%s\"\n",
		        name, min, max, text);
		return -1;
	}
	*out = v;
	return 0;
}

/* Count the transactions that store_tx_list() reads. */
static void
floor_count_tx(const struct chain_tx *tx, void *arg)
{
	(void)tx;
	(*(size_t *)arg)++;
}

/*
 * Read what api_order_info() reads, without building its view: the order,
 * its merchant's company and its token's URLs, then the order's chain
 * transactions, in one read transaction. Returns CP_OK, CP_NOT_FOUND or
 * CP_ERROR.
 */
static enum cp_result
floor_lookup(struct store *st, const char *token)
{
	struct order o;
	struct order_owner owner;
	size_t transactions = 0;
	enum cp_result rc;

	if (store_begin_read(st) != CP_OK)
		return CP_ERROR;
	rc = store_order_find_public(st, token, &o, &owner);
	if (rc == CP_OK)
		rc = store_tx_list(st, o.id, 0, floor_count_tx, &transactions);
	store_rollback(st);
	return rc;
}

static int64_t
floor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record the commit's result and resume the connection. The committer
 * thread calls this once the order's batch is durable or failed. */
static void
floor_committed(void *arg, enum cp_result rc)
{
	struct floor_request *req = arg;

	pthread_mutex_lock(&floor_commit_lock);
	req->rc = rc;
	req->committed = true;
	if (req->suspended) {
		req->suspended = false;
		floor_suspended--;
		MHD_resume_connection(req->conn);
	}
	pthread_cond_broadcast(&floor_commit_done);
	pthread_mutex_unlock(&floor_commit_lock);
}

/*
 * Insert a new order in a write transaction and hand its commit to the
 * committer thread, which calls floor_committed(). Returns CP_OK when the
 * commit was handed over; otherwise the transaction is rolled back.
 */
static enum cp_result
floor_insert(struct floor_server *server, struct floor_request *req)
{
	uint64_t n = __atomic_add_fetch(&server->next_order, 1, __ATOMIC_RELAXED);
	int64_t now = floor_now_ms();
	struct order o;
	enum cp_result rc;

	memset(&o, 0, sizeof(o));
	o.merchant_id = 1;
	o.token_id = 1;
	snprintf(o.token, sizeof(o.token), "floor-%ld-%llu", (long)getpid(),
	         (unsigned long long)n);
	snprintf(o.client_order_id, sizeof(o.client_order_id), "%s", o.token);
	o.mode = TOKEN_MODE_SANDBOX;
	o.amount_fiat = 2550;
	memcpy(o.currency, "USD", 4);
	o.status = ORDER_IN_PROGRESS;
	o.created_at_ms = now;
	o.updated_at_ms = now;
	o.expires_at_ms = now + 3600 * 1000;

	if (store_begin(server->store) != CP_OK)
		return CP_ERROR;
	if ((rc = store_order_insert(server->store, &o)) != CP_OK) {
		store_rollback(server->store);
		return rc;
	}
	return store_commit_async(server->store,
	                          &(struct store_async){ floor_committed, req });
}

/*
 * Respond to a POST in --insert mode. The call after the body inserts the
 * order and suspends the connection unless the commit has finished. The
 * call after the resume sends 201, or 500 when the commit failed. With a
 * thread per connection the thread waits for the commit instead, as the
 * daemon's does.
 */
static enum MHD_Result
floor_post(struct floor_server *server, struct MHD_Connection *conn, void **req_cls)
{
	struct floor_request *req = *req_cls;
	bool committed;

	if (req == NULL || req == (void *)&floor_request_seen) {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		req->conn = conn;
		*req_cls = req;
		if (floor_insert(server, req) != CP_OK) {
			fprintf(stderr, "mhd_floor: inserting an order failed; does the store"
			        " have customer 1 with access token 1?\n");
			return MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, server->failed);
		}
		pthread_mutex_lock(&floor_commit_lock);
		while (!server->can_suspend && !req->committed)
			pthread_cond_wait(&floor_commit_done, &floor_commit_lock);
		committed = req->committed;
		if (!committed) {
			MHD_suspend_connection(conn);
			req->suspended = true;
			floor_suspended++;
		}
		pthread_mutex_unlock(&floor_commit_lock);
		if (!committed)
			return MHD_YES;
	}
	return MHD_queue_response(conn, req->rc == CP_OK ? MHD_HTTP_CREATED :
	                          MHD_HTTP_INTERNAL_SERVER_ERROR,
	                          req->rc == CP_OK ? server->response : server->failed);
}

/* Free the state of a POST in --insert mode once its response is done. */
static void
floor_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	if (*req_cls != NULL && *req_cls != (void *)&floor_request_seen)
		free(*req_cls);
	*req_cls = NULL;
}

/*
 * Queue the fixed response on the second call for a request. libmicrohttpd
 * 0.9.75 closes the connection after a response queued on the first call,
 * which would make wrk reconnect for every request.
 */
static enum MHD_Result
floor_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_data_size,
             void **req_cls)
{
	struct floor_server *server = cls;

	if (*req_cls == NULL) {
		*req_cls = &floor_request_seen;
		return MHD_YES;
	}
	/* A request body is read and dropped before the response. */
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (server->insert && strcmp(method, "POST") == 0)
		return floor_post(server, conn, req_cls);
	if (server->store != NULL && strncmp(url, "/order/", 7) == 0) {
		switch (floor_lookup(server->store, url + 7)) {
		case CP_OK:
			break;
		case CP_NOT_FOUND:
			return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, server->not_found);
		default:
			return MHD_NO;
		}
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, server->response);
}

int
main(int argc, char **argv)
{
	long port = 0, threads = CP_HTTP_THREADS;
	const char *store_path = NULL;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct floor_server server = { 0 };
	struct MHD_Daemon *daemon;
	char err[256];
	int status = 1;
	sigset_t stop_signals;
	int signal_number;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			floor_usage();
			return 0;
		}
		if (strcmp(argv[i], "--insert") == 0) {
			server.insert = true;
			continue;
		}
		if (strcmp(argv[i], "--port") != 0 && strcmp(argv[i], "--threads") != 0 &&
		    strcmp(argv[i], "--store") != 0) {
			fprintf(stderr, "mhd_floor: unknown option \"%s\"\n", argv[i]);
			floor_usage();
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "mhd_floor: %s is missing its value\n", argv[i]);
			floor_usage();
			return 2;
		}
		if (strcmp(argv[i], "--port") == 0) {
			if (floor_parse_long("--port", argv[++i], 1, 65535, &port) != 0)
				return 2;
		} else if (strcmp(argv[i], "--store") == 0) {
			store_path = argv[++i];
		} else {
			if (floor_parse_long("--threads", argv[++i], 0, FLOOR_THREADS_MAX, &threads) != 0)
				return 2;
		}
	}
	if (port == 0) {
		fprintf(stderr, "mhd_floor: --port is missing\n");
		floor_usage();
		return 2;
	}
	if (server.insert && store_path == NULL) {
		fprintf(stderr, "mhd_floor: --insert needs --store DB, the store to insert into\n");
		floor_usage();
		return 2;
	}
	server.can_suspend = threads > 0;

	server.response = MHD_create_response_from_buffer(sizeof(floor_body) - 1,
	                                                  (void *)floor_body,
	                                                  MHD_RESPMEM_PERSISTENT);
	server.not_found = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	server.failed = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (server.response == NULL || server.not_found == NULL || server.failed == NULL ||
	    MHD_add_response_header(server.response, "Content-Type",
	                            "application/json") != MHD_YES) {
		fprintf(stderr, "mhd_floor: creating the responses failed\n");
		goto out;
	}
	if (store_path != NULL &&
	    (server.store = store_open(store_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mhd_floor: cannot open the store %s: %s; check --store\n", store_path, err);
		goto out;
	}

	/* The threads that libmicrohttpd starts inherit this mask, so only
	 * sigwait() below receives the stop signals. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
		fprintf(stderr, "mhd_floor: cannot block SIGTERM and SIGINT\n");
		goto out;
	}

	/* With 0 threads the flags are those of the daemon's thread per
	 * connection (server.threads = 0). */
	if (threads == 0)
		flags = (flags & ~(unsigned int)MHD_USE_EPOLL) |
		        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
	else if (server.insert)
		flags |= MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
	struct MHD_OptionItem pool[] = {
		{ threads > 0 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct sockaddr_in address = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, floor_access, &server,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CP_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CP_CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CP_CONNECTIONS_MAX * 2,
		MHD_OPTION_NOTIFY_COMPLETED, floor_completed, NULL,
		MHD_OPTION_END);
	if (daemon == NULL) {
		fprintf(stderr, "mhd_floor: cannot listen on 127.0.0.1:%ld; is the port in use?\n",
		        port);
		goto out;
	}

	if (sigwait(&stop_signals, &signal_number) != 0)
		fprintf(stderr, "mhd_floor: sigwait() failed; stopping\n");
	/* libmicrohttpd stops only without suspended connections, and the
	 * committer resumes each one once its batch is done. */
	pthread_mutex_lock(&floor_commit_lock);
	while (floor_suspended > 0)
		pthread_cond_wait(&floor_commit_done, &floor_commit_lock);
	pthread_mutex_unlock(&floor_commit_lock);
	MHD_stop_daemon(daemon);
	status = 0;
out:
	if (server.store != NULL)
		store_close(server.store);
	if (server.not_found != NULL)
		MHD_destroy_response(server.not_found);
	if (server.failed != NULL)
		MHD_destroy_response(server.failed);
	if (server.response != NULL)
		MHD_destroy_response(server.response);
	return status;
}
