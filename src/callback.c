/*
 * Callback signing and delivery. One dispatcher thread claims due
 * deliveries from the outbox, POSTs a batch of them concurrently with the
 * libcurl multi interface, and records each outcome in the store.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "callback.h"
#include "limits.h"
#include "log.h"
#include "outbox.h"
#include "store.h"
#include "token.h"

#define CALLBACK_USER_AGENT "citypay-gateway"
#define CALLBACK_HOST_MAX   256
#define CALLBACK_ERROR_MAX  256

/* Extra time past the request timeout before a claimed delivery is due
 * again, covering the time to record the batch's outcomes. */
#define CALLBACK_LEASE_MARGIN_S 30

/* Maximum wait inside one curl_multi_poll() call, so a stop request is
 * noticed even if curl_multi_wakeup() is missed. */
#define CALLBACK_MULTI_POLL_MS 1000

/* Effect of a recorded attempt on its delivery, counted in the metrics. */
enum callback_outcome {
	CALLBACK_OUTCOME_NONE,          /* not recorded */
	CALLBACK_OUTCOME_DELIVERED,
	CALLBACK_OUTCOME_RETRY,         /* failed, another attempt is scheduled */
	CALLBACK_OUTCOME_GAVE_UP,       /* failed, the delivery is now 'failed' */
};

/* One delivery attempt in flight. */
struct callback_request {
	struct outbox_delivery *delivery;
	CURL *easy;
	struct curl_slist *headers;
	bool guarded;                   /* live mode: only public addresses */
	bool done;                      /* curl finished the transfer */
	bool target_rejected;           /* the guard refused an address */
	CURLcode result;
	long http_status;
	int64_t latency_ms;
	int64_t attempted_at;           /* Unix seconds, also the signed timestamp */
	enum callback_outcome outcome;
	char host[CALLBACK_HOST_MAX];   /* for logs; never the path or query */
	char error[CALLBACK_ERROR_MAX]; /* why the attempt failed before sending */
	char curl_error[CURL_ERROR_SIZE];
	char rejected_address[IPADDR_TEXT_MAX];
	char response[CP_CALLBACK_RESPONSE_MAX];
	size_t response_len;
};

struct callback_batch {
	struct outbox_delivery rows[CP_CALLBACK_BATCH];
	struct callback_request requests[CP_CALLBACK_BATCH];
	int count;
};

struct callback_dispatcher {
	pthread_mutex_t lock;
	pthread_cond_t wake_cond;       /* signalled by wake and stop */
	bool running;
	bool stopping;
	bool woken;
	pthread_t thread;
	struct store *store;
	struct keys keys;
	struct callback_config config;
	CURLM *multi;
	/* Live requests keep their connections in this share, apart from the
	 * multi handle's cache, so a live request never reuses a connection
	 * that a sandbox request opened to a private address. */
	CURLSH *live_share;
	/* Counted since the process started, across stops and starts; guarded
	 * by lock. */
	struct callback_metrics metrics;
};

const int64_t callback_latency_bounds_ms[CALLBACK_LATENCY_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

/* The one dispatcher of the process; start, wake, stop and the metrics act on it. */
static struct callback_dispatcher callback_dispatcher = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

void
callback_sign(const char *secret, int64_t timestamp, const char *body,
              size_t len, char hex_out[CALLBACK_SIGNATURE_HEX])
{
	crypto_auth_hmacsha256_state state;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char prefix[32];
	int prefix_len = snprintf(prefix, sizeof(prefix), "%lld.", (long long)timestamp);

	crypto_auth_hmacsha256_init(&state, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&state, (const unsigned char *)prefix,
	                              (unsigned long long)prefix_len);
	crypto_auth_hmacsha256_update(&state, (const unsigned char *)body,
	                              (unsigned long long)len);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_bin2hex(hex_out, CALLBACK_SIGNATURE_HEX, mac, sizeof(mac));
	sodium_memzero(&state, sizeof(state));
}

/* Parse Unix seconds written as 1 to 18 decimal digits; -1 otherwise. */
static int
callback_parse_timestamp(const char *text, int64_t *out)
{
	int64_t value = 0;
	size_t n = 0;

	for (; text[n] >= '0' && text[n] <= '9'; n++) {
		if (n == 18)
			return -1;
		value = value * 10 + (text[n] - '0');
	}
	if (n == 0 || text[n] != '\0')
		return -1;
	*out = value;
	return 0;
}

enum callback_verify_result
callback_verify(const char *secret, const char *timestamp, const char *signature,
                const char *body, size_t len, int64_t now)
{
	char expected[CALLBACK_SIGNATURE_HEX];
	char given[CALLBACK_SIGNATURE_HEX];
	int64_t ts;

	if (timestamp == NULL || signature == NULL)
		return CALLBACK_VERIFY_MISSING;
	if (callback_parse_timestamp(timestamp, &ts) != 0 ||
	    strlen(signature) != CALLBACK_SIGNATURE_HEX - 1)
		return CALLBACK_VERIFY_MALFORMED;
	if (ts > now + CALLBACK_TOLERANCE_S || ts < now - CALLBACK_TOLERANCE_S)
		return CALLBACK_VERIFY_STALE;

	for (size_t i = 0; i < sizeof(given); i++)
		given[i] = (char)tolower((unsigned char)signature[i]);
	callback_sign(secret, ts, body, len, expected);
	bool same = sodium_memcmp(expected, given, CALLBACK_SIGNATURE_HEX - 1) == 0;

	sodium_memzero(expected, sizeof(expected));
	return same ? CALLBACK_VERIFY_OK : CALLBACK_VERIFY_MISMATCH;
}

const char *
callback_verify_strerror(enum callback_verify_result result)
{
	switch (result) {
	case CALLBACK_VERIFY_OK:
		return "valid";
	case CALLBACK_VERIFY_MISSING:
		return "missing X-Signature-Timestamp or X-Signature header";
	case CALLBACK_VERIFY_MALFORMED:
		return "X-Signature-Timestamp is not Unix seconds or X-Signature is not"
		       " 64 hex digits";
	case CALLBACK_VERIFY_STALE:
		return "X-Signature-Timestamp is more than 300 seconds away from the"
		       " local clock";
	case CALLBACK_VERIFY_MISMATCH:
		return "X-Signature does not match the body and timestamp under this secret";
	}
	return "unknown verification result";
}

/* The IPv4 rules of callback_address_is_public(), on a.b.c.d as v4[0..3]. */
static bool
callback_v4_is_public(const uint8_t v4[4])
{
	if (v4[0] == 0 || v4[0] == 10 || v4[0] == 127)
		return false;           /* this network, private, loopback */
	if (v4[0] == 100 && (v4[1] & 0xc0) == 64)
		return false;           /* shared address space, 100.64/10 */
	if (v4[0] == 169 && v4[1] == 254)
		return false;           /* link-local, metadata services */
	if (v4[0] == 172 && (v4[1] & 0xf0) == 16)
		return false;           /* private, 172.16/12 */
	if (v4[0] == 192 && v4[1] == 168)
		return false;           /* private */
	if (v4[0] >= 224)
		return false;           /* multicast, reserved, broadcast */
	return true;
}

bool
callback_address_is_public(const struct ipaddr *addr)
{
	static const uint8_t zero[12] = { 0 };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	const uint8_t *b = addr->bytes;

	if (ipaddr_is_v4(addr))
		return callback_v4_is_public(b + 12);
	if (memcmp(b, nat64, sizeof(nat64)) == 0)
		return callback_v4_is_public(b + 12);
	/* ::/96 contains ::, ::1 and the deprecated IPv4-compatible addresses.
	 * None of them is a public IPv6 target. */
	if (memcmp(b, zero, sizeof(zero)) == 0)
		return false;
	if ((b[0] & 0xfe) == 0xfc)
		return false;           /* unique local, fc00::/7 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return false;           /* link-local, fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return false;           /* site-local, fec0::/10 */
	if (b[0] == 0xff)
		return false;           /* multicast */
	return true;
}

/* CURLOPT_OPENSOCKETFUNCTION: the guard checks each address curl connects
 * to after name resolution, so a DNS response cannot steer around it. */
static curl_socket_t
callback_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct callback_request *req = clientp;
	struct ipaddr addr;

	if (req->guarded) {
		bool known = ipaddr_from_sockaddr(&address->addr, &addr) == 0;

		if (!known || !callback_address_is_public(&addr)) {
			req->target_rejected = true;
			if (known)
				ipaddr_format(&addr, req->rejected_address,
				              sizeof(req->rejected_address));
			return CURL_SOCKET_BAD;
		}
	}
	return socket(address->family, address->socktype | SOCK_CLOEXEC,
	              address->protocol);
}

/* CURLOPT_WRITEFUNCTION: keep the first CP_CALLBACK_RESPONSE_MAX bytes and
 * discard the rest without failing the transfer. */
static size_t
callback_write_response(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct callback_request *req = userdata;
	size_t len = size * nmemb;
	size_t room = sizeof(req->response) - req->response_len;
	size_t take = len < room ? len : room;

	memcpy(req->response + req->response_len, data, take);
	req->response_len += take;
	return len;
}

/* Event ids are generated by the gateway. Reject anything that could break
 * out of a header line, in case a stored row is damaged. */
static bool
callback_event_id_valid(const char *event_id)
{
	if (event_id[0] == '\0')
		return false;
	for (const char *p = event_id; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	}
	return true;
}

/* Copy the URL's host name into req->host for logs. */
static void
callback_read_host(struct callback_request *req)
{
	CURLU *url = curl_url();
	char *host = NULL;

	snprintf(req->host, sizeof(req->host), "%s", "(invalid url)");
	if (url == NULL)
		return;
	if (curl_url_set(url, CURLUPART_URL, req->delivery->url, 0) == CURLUE_OK &&
	    curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		snprintf(req->host, sizeof(req->host), "%s", host);
	curl_free(host);
	curl_url_cleanup(url);
}

static int
callback_add_header(struct callback_request *req, const char *line)
{
	struct curl_slist *list = curl_slist_append(req->headers, line);

	if (list == NULL)
		return -1;
	req->headers = list;
	return 0;
}

/* Build the header list with a fresh timestamp and signature. */
static int
callback_build_headers(struct callback_request *req, const char *secret)
{
	const struct outbox_delivery *d = req->delivery;
	char signature[CALLBACK_SIGNATURE_HEX];
	char timestamp_line[64];
	char signature_line[32 + CALLBACK_SIGNATURE_HEX];
	char event_line[64];

	callback_sign(secret, req->attempted_at, d->body, d->body_len, signature);
	snprintf(timestamp_line, sizeof(timestamp_line), "X-Signature-Timestamp: %lld",
	         (long long)req->attempted_at);
	snprintf(signature_line, sizeof(signature_line), "X-Signature: %s", signature);
	snprintf(event_line, sizeof(event_line), "X-Event-Id: %s", d->event_id);

	const char *lines[] = {
		"Content-Type: application/json",
		/* Without this curl waits for 100-continue on large bodies. */
		"Expect:",
		timestamp_line,
		signature_line,
		event_line,
		d->resend ? "X-Event-Resend: true" : NULL,
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (lines[i] != NULL && callback_add_header(req, lines[i]) != 0)
			return -1;
	}
	return 0;
}

/* Create the easy handle for one request. Returns -1 when libcurl rejects
 * an option. */
static int
callback_build_easy(struct callback_dispatcher *dp, struct callback_request *req)
{
	const struct outbox_delivery *d = req->delivery;
	CURL *easy = curl_easy_init();

	if (easy == NULL)
		return -1;
	req->easy = easy;

	if (curl_easy_setopt(easy, CURLOPT_URL, d->url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    /* An empty proxy overrides http_proxy and friends, which would
	     * otherwise let the guard see the proxy instead of the target. */
	    curl_easy_setopt(easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)dp->config.timeout_ms) != CURLE_OK)
		return -1;

	if (curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, d->body) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_USERAGENT, CALLBACK_USER_AGENT) != CURLE_OK)
		return -1;

	if (curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, callback_write_response) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, callback_open_socket) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, req) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->curl_error) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PRIVATE, req) != CURLE_OK)
		return -1;

	if (req->guarded &&
	    curl_easy_setopt(easy, CURLOPT_SHARE, dp->live_share) != CURLE_OK)
		return -1;
	return 0;
}

/*
 * Prepare one claimed delivery: open its token's secret, sign and build
 * the request. On failure req->error describes the cause, and the attempt is recorded
 * as failed without sending anything.
 */
static void
callback_prepare(struct callback_dispatcher *dp, struct callback_request *req)
{
	char secret[SIGNING_SECRET_TEXT_MAX];
	enum token_mode mode = TOKEN_MODE_LIVE;

	req->attempted_at = (int64_t)time(NULL);
	callback_read_host(req);

	if (!callback_event_id_valid(req->delivery->event_id)) {
		snprintf(req->error, sizeof(req->error), "%s", "stored event id is invalid");
		return;
	}
	if (store_outbox_token_secret(dp->store, &dp->keys, req->delivery->token_id,
	    secret, sizeof(secret), &mode) != CP_OK) {
		snprintf(req->error, sizeof(req->error), "%s",
		         "signing secret of the token is unavailable");
		return;
	}
	req->guarded = mode == TOKEN_MODE_LIVE && !dp->config.allow_private_targets;

	int rc = callback_build_headers(req, secret);
	sodium_memzero(secret, sizeof(secret));
	if (rc != 0 || callback_build_easy(dp, req) != 0) {
		snprintf(req->error, sizeof(req->error), "%s", "building the request failed");
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
}

static void
callback_request_cleanup(struct callback_dispatcher *dp, struct callback_request *req)
{
	if (req->easy != NULL) {
		curl_multi_remove_handle(dp->multi, req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->headers);
	req->headers = NULL;
}

/* Claim due deliveries and prepare their requests. Returns the count, or -1. */
static int
callback_claim(struct callback_dispatcher *dp, struct callback_batch *batch)
{
	int64_t now = (int64_t)time(NULL);
	int64_t lease_s = dp->config.timeout_ms / 1000 + 1 + CALLBACK_LEASE_MARGIN_S;
	int n = 0;

	if (store_begin(dp->store) != CP_OK)
		return -1;
	if (store_outbox_claim(dp->store, now, lease_s, batch->rows,
	    CP_CALLBACK_BATCH, &n) != CP_OK) {
		store_rollback(dp->store);
		return -1;
	}
	batch->count = n;
	for (int i = 0; i < n; i++) {
		batch->requests[i].delivery = &batch->rows[i];
		callback_prepare(dp, &batch->requests[i]);
	}
	if (store_commit(dp->store) != CP_OK) {
		log_error("committing the callback claim failed", NULL);
		return -1;
	}
	return n;
}

static bool
callback_stopping(struct callback_dispatcher *dp)
{
	pthread_mutex_lock(&dp->lock);
	bool stopping = dp->stopping;
	pthread_mutex_unlock(&dp->lock);
	return stopping;
}

static int64_t
callback_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Mark the transfers curl reports as finished. */
static void
callback_collect_done(CURLM *multi)
{
	CURLMsg *msg;
	int left = 0;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		struct callback_request *req = NULL;
		curl_off_t total_us = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
		req->done = true;
		req->result = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->http_status);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME_T, &total_us);
		req->latency_ms = (int64_t)(total_us / 1000);
	}
}

/*
 * Run every prepared request of the batch concurrently until all finish,
 * the dispatcher stops, or the request timeout plus a margin passes.
 * Requests left unfinished are not recorded and become due after the lease.
 */
static void
callback_transfer(struct callback_dispatcher *dp, struct callback_batch *batch)
{
	int64_t deadline = callback_monotonic_ms() + dp->config.timeout_ms +
	                   CALLBACK_LEASE_MARGIN_S * 1000 / 2;
	int running = 0;

	for (int i = 0; i < batch->count; i++) {
		struct callback_request *req = &batch->requests[i];

		if (req->easy == NULL)
			continue;
		if (curl_multi_add_handle(dp->multi, req->easy) != CURLM_OK) {
			snprintf(req->error, sizeof(req->error), "%s", "starting the request failed");
			curl_easy_cleanup(req->easy);
			req->easy = NULL;
		}
	}

	while (callback_monotonic_ms() < deadline && !callback_stopping(dp)) {
		if (curl_multi_perform(dp->multi, &running) != CURLM_OK) {
			log_error("curl_multi_perform failed", NULL);
			break;
		}
		callback_collect_done(dp->multi);
		if (running == 0)
			break;
		curl_multi_poll(dp->multi, NULL, 0, CALLBACK_MULTI_POLL_MS, NULL);
	}
}

/* Delay before the next attempt: base doubled per earlier failure, capped,
 * then spread by +-20% so failures of many deliveries do not retry at once. */
static int64_t
callback_retry_delay_s(const struct callback_config *config, int64_t failures)
{
	int64_t delay = config->retry_base_s;

	for (int64_t i = 1; i < failures && delay < config->retry_cap_s; i++)
		delay *= 2;
	if (delay > config->retry_cap_s)
		delay = config->retry_cap_s;

	int64_t delay_ms = delay * 1000 * (80 + (int64_t)randombytes_uniform(41)) / 100;
	int64_t seconds = (delay_ms + 999) / 1000;
	return seconds < 1 ? 1 : seconds;
}

/* Describe a failed attempt in req->error. */
static void
callback_describe_failure(struct callback_request *req)
{
	if (req->error[0] != '\0')
		return;
	if (req->target_rejected)
		snprintf(req->error, sizeof(req->error),
		         "target address %s is not public, and live tokens may call"
		         " only public addresses unless private targets are allowed", req->rejected_address[0] ?
		         req->rejected_address : "(unknown family)");
	else if (req->result != CURLE_OK)
		snprintf(req->error, sizeof(req->error), "%s", req->curl_error[0] ?
		         req->curl_error : curl_easy_strerror(req->result));
	else if (req->http_status >= 300 && req->http_status < 400)
		snprintf(req->error, sizeof(req->error),
		         "HTTP %ld (redirects are not followed)", req->http_status);
	else
		snprintf(req->error, sizeof(req->error), "HTTP %ld", req->http_status);
}

static void
callback_log_outcome(const struct callback_request *req, const struct outbox_attempt *a,
                     bool gave_up)
{
	const struct outbox_delivery *d = req->delivery;

	if (a->delivered) {
		log_info("callback delivered", "event_id", d->event_id,
		         "host", req->host, "status", log_int(a->http_status),
		         "latency_ms", log_int(a->latency_ms),
		         "attempt", log_int(d->attempts + 1),
		         "resend", d->resend ? "true" : "false", NULL);
	} else if (gave_up) {
		log_warn("callback delivery abandoned after the retry window",
		         "event_id", d->event_id, "host", req->host,
		         "status", log_int(a->http_status),
		         "latency_ms", log_int(a->latency_ms),
		         "attempt", log_int(d->attempts + 1), "error", a->error, NULL);
	} else {
		log_info("callback attempt failed, retry scheduled",
		         "event_id", d->event_id, "host", req->host,
		         "status", log_int(a->http_status),
		         "latency_ms", log_int(a->latency_ms),
		         "attempt", log_int(d->attempts + 1), "error", a->error,
		         "retry_in_s", log_int(a->next_attempt_at - a->attempted_at), NULL);
	}
}

/* Record one finished or never-sent request. Returns -1 on a store error. */
static int
callback_record_one(struct callback_dispatcher *dp, struct callback_request *req)
{
	struct outbox_attempt a = {
		.delivery_id = req->delivery->id,
		.attempted_at = req->attempted_at,
		.http_status = req->http_status,
		.response = req->response,
		.response_len = req->response_len,
		.latency_ms = req->latency_ms,
		.resend = req->delivery->resend,
	};
	bool gave_up = false;

	a.delivered = req->error[0] == '\0' && req->result == CURLE_OK &&
	              !req->target_rejected &&
	              req->http_status >= 200 && req->http_status < 300;
	if (!a.delivered) {
		callback_describe_failure(req);
		a.error = req->error;
		a.next_attempt_at = (int64_t)time(NULL) +
		                    callback_retry_delay_s(&dp->config, req->delivery->attempts + 1);
	}

	enum cp_result rc = store_outbox_record(dp->store, &a, &gave_up);
	if (rc == CP_NOT_FOUND) {
		/* Deleted while in flight: nothing is left to record. */
		log_warn("callback delivery vanished before its attempt was recorded",
		         "event_id", req->delivery->event_id,
		         "delivery_id", log_int(req->delivery->id), NULL);
		return 0;
	}
	if (rc != CP_OK) {
		log_error("recording a callback attempt failed",
		          "event_id", req->delivery->event_id,
		          "delivery_id", log_int(req->delivery->id), NULL);
		return -1;
	}
	callback_log_outcome(req, &a, gave_up);
	if (a.delivered)
		req->outcome = CALLBACK_OUTCOME_DELIVERED;
	else
		req->outcome = gave_up ? CALLBACK_OUTCOME_GAVE_UP : CALLBACK_OUTCOME_RETRY;
	return 0;
}

/* Add one recorded attempt to the metrics; the caller holds dp->lock. */
static void
callback_count_one(struct callback_metrics *m, const struct callback_request *req)
{
	m->attempts++;
	if (req->outcome == CALLBACK_OUTCOME_DELIVERED)
		m->delivered++;
	else if (req->outcome == CALLBACK_OUTCOME_RETRY)
		m->retried++;
	else
		m->failed++;

	/* Only a request that was sent has a latency. */
	if (req->easy == NULL)
		return;
	m->latency_count++;
	m->latency_sum_ms += (uint64_t)(req->latency_ms > 0 ? req->latency_ms : 0);
	for (int i = 0; i < CALLBACK_LATENCY_BUCKETS; i++) {
		if (req->latency_ms <= callback_latency_bounds_ms[i])
			m->latency_le[i]++;
	}
}

/* Count the attempts of a batch whose record has committed. */
static void
callback_count(struct callback_dispatcher *dp, const struct callback_batch *batch)
{
	pthread_mutex_lock(&dp->lock);
	for (int i = 0; i < batch->count; i++) {
		if (batch->requests[i].outcome != CALLBACK_OUTCOME_NONE)
			callback_count_one(&dp->metrics, &batch->requests[i]);
	}
	pthread_mutex_unlock(&dp->lock);
}

/* Record every request that finished or failed before sending, in one
 * transaction so a batch costs one sync of the database. */
static void
callback_record(struct callback_dispatcher *dp, struct callback_batch *batch)
{
	if (store_begin(dp->store) != CP_OK)
		return;
	for (int i = 0; i < batch->count; i++) {
		struct callback_request *req = &batch->requests[i];
		bool sent_and_done = req->easy != NULL && req->done;
		bool never_sent = req->easy == NULL && req->error[0] != '\0';

		if (!sent_and_done && !never_sent)
			continue;
		if (callback_record_one(dp, req) != 0) {
			store_rollback(dp->store);
			return;
		}
	}
	if (store_commit(dp->store) != CP_OK) {
		log_error("committing callback attempts failed", NULL);
		return;
	}
	callback_count(dp, batch);
}

/* Claim, send and record one batch. Returns the number claimed, or -1. */
static int
callback_dispatch_batch(struct callback_dispatcher *dp)
{
	struct callback_batch *batch = calloc(1, sizeof(*batch));
	int n;

	if (batch == NULL) {
		log_error("out of memory for a callback batch", NULL);
		return -1;
	}
	n = callback_claim(dp, batch);
	if (n > 0) {
		callback_transfer(dp, batch);
		callback_record(dp, batch);
	}

	for (int i = 0; i < batch->count; i++) {
		callback_request_cleanup(dp, &batch->requests[i]);
		free(batch->rows[i].body);
	}
	free(batch);
	return n;
}

/* Sleep until woken, stopped or the poll interval passes. */
static void
callback_wait_idle(struct callback_dispatcher *dp)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += dp->config.poll_interval_ms / 1000;
	until.tv_nsec += (long)(dp->config.poll_interval_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&dp->lock);
	while (!dp->woken && !dp->stopping) {
		if (pthread_cond_timedwait(&dp->wake_cond, &dp->lock, &until) == ETIMEDOUT)
			break;
	}
	dp->woken = false;
	pthread_mutex_unlock(&dp->lock);
}

static void *
callback_run(void *arg)
{
	struct callback_dispatcher *dp = arg;

	log_info("callback dispatcher started", NULL);
	while (!callback_stopping(dp)) {
		/* A full or partial batch may have unblocked the next events of
		 * the same orders, so read again at once. The loop cannot spin on
		 * the same rows: claiming moves them at least a second ahead. */
		if (callback_dispatch_batch(dp) > 0)
			continue;
		callback_wait_idle(dp);
	}
	log_info("callback dispatcher stopped", NULL);
	return NULL;
}

static void
callback_apply_defaults(struct callback_config *config)
{
	if (config->timeout_ms <= 0)
		config->timeout_ms = CP_CALLBACK_TIMEOUT_MS;
	if (config->retry_base_s <= 0)
		config->retry_base_s = CALLBACK_RETRY_BASE_S;
	if (config->retry_cap_s <= 0)
		config->retry_cap_s = CALLBACK_RETRY_CAP_S;
	if (config->retry_cap_s < config->retry_base_s)
		config->retry_cap_s = config->retry_base_s;
	if (config->poll_interval_ms <= 0)
		config->poll_interval_ms = CALLBACK_POLL_MS;
}

/* Free what start created; safe on a partly built dispatcher. */
static void
callback_release(struct callback_dispatcher *dp)
{
	curl_share_cleanup(dp->live_share);
	dp->live_share = NULL;
	curl_multi_cleanup(dp->multi);
	dp->multi = NULL;
	store_close(dp->store);
	dp->store = NULL;
	keys_wipe(&dp->keys);
	pthread_cond_destroy(&dp->wake_cond);
	curl_global_cleanup();
}

static int
callback_init_cond(struct callback_dispatcher *dp)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&dp->wake_cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

enum cp_result
callback_dispatcher_start(const char *db_path, const struct keys *keys,
                          const struct callback_config *config)
{
	struct callback_dispatcher *dp = &callback_dispatcher;
	char err[256];

	pthread_mutex_lock(&dp->lock);
	bool running = dp->running;
	pthread_mutex_unlock(&dp->lock);
	if (running) {
		log_error("callback dispatcher is already running", NULL);
		return CP_ERROR;
	}
	if (callback_init_cond(dp) != 0) {
		log_error("creating the callback condition variable failed", NULL);
		return CP_ERROR;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed", NULL);
		pthread_cond_destroy(&dp->wake_cond);
		return CP_ERROR;
	}

	dp->keys = *keys;
	dp->config = *config;
	callback_apply_defaults(&dp->config);
	dp->stopping = false;
	dp->woken = false;

	dp->store = store_open(db_path, err, sizeof(err));
	if (dp->store == NULL) {
		log_error("callback dispatcher cannot open the database", "error", err, NULL);
		goto fail;
	}
	dp->multi = curl_multi_init();
	dp->live_share = curl_share_init();
	if (dp->multi == NULL || dp->live_share == NULL ||
	    curl_share_setopt(dp->live_share, CURLSHOPT_SHARE,
	                      CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
		log_error("creating the curl handles failed", NULL);
		goto fail;
	}
	if (pthread_create(&dp->thread, NULL, callback_run, dp) != 0) {
		log_error("starting the callback dispatcher thread failed", NULL);
		goto fail;
	}

	pthread_mutex_lock(&dp->lock);
	dp->running = true;
	pthread_mutex_unlock(&dp->lock);
	return CP_OK;

fail:
	callback_release(dp);
	return CP_ERROR;
}

void
callback_metrics_read(struct callback_metrics *out)
{
	struct callback_dispatcher *dp = &callback_dispatcher;

	pthread_mutex_lock(&dp->lock);
	*out = dp->metrics;
	pthread_mutex_unlock(&dp->lock);
}

void
callback_dispatcher_wake(void)
{
	struct callback_dispatcher *dp = &callback_dispatcher;

	pthread_mutex_lock(&dp->lock);
	if (dp->running) {
		dp->woken = true;
		pthread_cond_signal(&dp->wake_cond);
	}
	pthread_mutex_unlock(&dp->lock);
}

void
callback_dispatcher_stop(void)
{
	struct callback_dispatcher *dp = &callback_dispatcher;

	pthread_mutex_lock(&dp->lock);
	if (!dp->running) {
		pthread_mutex_unlock(&dp->lock);
		return;
	}
	dp->stopping = true;
	pthread_cond_signal(&dp->wake_cond);
	pthread_mutex_unlock(&dp->lock);

	curl_multi_wakeup(dp->multi);
	pthread_join(dp->thread, NULL);

	/* After running is false no other thread touches the condition
	 * variable or the handles, so they can be freed. */
	pthread_mutex_lock(&dp->lock);
	dp->running = false;
	pthread_mutex_unlock(&dp->lock);
	callback_release(dp);
}
