/*
 * The "libmicrohttpd alone" workload of scripts/bench.sh: an HTTP server
 * that sends the same fixed 150-byte JSON body as the nginx baseline
 * (bench/nginx.conf.in) to every request, and does nothing else.
 *
 *   mhd_floor --port PORT [--threads N] [--store DB]
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
 * (api_order_info() in src/api.c), then sends the same fixed body, or a 404 with no body when
 * no order has that token. Other paths get the fixed body as before. The
 * gap between this ceiling and the daemon's GET /order/{token} is what the
 * daemon adds to the lookup: the view, the envelope, the request id, the
 * access log line and its HTTP layer.
 *
 * libmicrohttpd is set up as in http_start() of src/http.c: a pool of N
 * threads, each with its own epoll loop (default CP_HTTP_THREADS), or with
 * N = 0 one thread per connection with poll(), and the same connection
 * memory, timeout and connection limit. Unlike the daemon, the library
 * accepts the connections itself on its own listening socket, because the
 * daemon's accept thread is part of the daemon's work. It also sets none
 * of the daemon's callbacks and no suspend and resume.
 *
 * It listens on 127.0.0.1 only and runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
	struct store *store;            /* NULL without --store */
};

static void
floor_usage(void)
{
	fprintf(stderr, "usage: mhd_floor --port PORT [--threads N] [--store DB]\n"
	        "  --port PORT   TCP port on 127.0.0.1 to listen on (1 to 65535)\n"
	        "  --threads N   HTTP threads, as the daemon's server.threads: a pool of N,\n"
	        "                or 0 for one thread per connection (default %d, at most %d)\n"
	        "  --store DB    read the order of each GET /order/{token} from this SQLite\n"
	        "                store, as citypayd does, before the fixed body\n",
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

/* Counts the transactions that store_tx_list() reads. */
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
	struct floor_server server = { NULL, NULL, NULL };
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

	server.response = MHD_create_response_from_buffer(sizeof(floor_body) - 1,
	                                                  (void *)floor_body,
	                                                  MHD_RESPMEM_PERSISTENT);
	server.not_found = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (server.response == NULL || server.not_found == NULL ||
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
		MHD_OPTION_END);
	if (daemon == NULL) {
		fprintf(stderr, "mhd_floor: cannot listen on 127.0.0.1:%ld; is the port in use?\n",
		        port);
		goto out;
	}

	if (sigwait(&stop_signals, &signal_number) != 0)
		fprintf(stderr, "mhd_floor: sigwait() failed; stopping\n");
	MHD_stop_daemon(daemon);
	status = 0;
out:
	if (server.store != NULL)
		store_close(server.store);
	if (server.not_found != NULL)
		MHD_destroy_response(server.not_found);
	if (server.response != NULL)
		MHD_destroy_response(server.response);
	return status;
}
