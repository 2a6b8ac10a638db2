/*
 * Callback signing and delivery. One dispatcher thread keeps up to
 * CP_CALLBACK_BATCH attempts in flight with the libcurl multi interface. It
 * records each outcome as soon as its transfer finishes and fills the freed
 * slot with the next due delivery, so a slow receiver holds up only its own
 * slot.
 */
#include <ctype.h>
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
 * again, covering the time to start the transfer and record its outcome. */
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

/* One slot of the dispatcher: a claimed delivery from its claim until its
 * attempt is recorded. */
struct callback_request {
	bool in_use;                    /* the slot contains a claimed delivery */
	struct outbox_delivery row;     /* owns row.body */
	struct outbox_delivery *delivery; /* &row while in use */
	int64_t started_ms;             /* monotonic time the transfer was added */
	CURL *easy;
	struct curl_slist *headers;
	bool guarded;                   /* live mode: only public or allowed addresses */
	const struct callback_config *config;
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

/* The attempts in flight and the scratch space of one claim. */
struct callback_pool {
	struct callback_request slots[CP_CALLBACK_BATCH];
	struct outbox_delivery claimed[CP_CALLBACK_BATCH];
	int64_t busy_ids[CP_CALLBACK_BATCH];   /* delivery ids of the used slots */
};

struct callback_dispatcher {
	pthread_mutex_t lock;
	bool running;
	bool stopping;
	bool woken;                     /* set by wake, cleared by the next claim */
	pthread_t thread;
	struct store *store;
	struct keys keys;
	struct callback_config config;
	CURLM *multi;
	struct callback_pool *pool;     /* used only by the dispatcher thread */
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

/*
 * Split an X-Signature value into one signature, or two separated by
 * ", " as sent during a secret rotation, each 64 characters, lower-cased
 * into given. Returns the number of signatures, or 0 when malformed.
 */
static int
callback_split_signatures(const char *header, char given[2][CALLBACK_SIGNATURE_HEX])
{
	const size_t hex = CALLBACK_SIGNATURE_HEX - 1;
	size_t len = strlen(header);
	int count;

	if (len == hex)
		count = 1;
	else if (len == 2 * hex + 2 && header[hex] == ',' && header[hex + 1] == ' ')
		count = 2;
	else
		return 0;

	for (int k = 0; k < count; k++) {
		const char *part = header + (size_t)k * (hex + 2);

		for (size_t i = 0; i < hex; i++)
			given[k][i] = (char)tolower((unsigned char)part[i]);
		given[k][hex] = '\0';
	}
	return count;
}

enum callback_verify_result
callback_verify(const char *secret, const char *timestamp, const char *signature,
                const char *body, size_t len, int64_t now)
{
	char expected[CALLBACK_SIGNATURE_HEX];
	char given[2][CALLBACK_SIGNATURE_HEX];
	int64_t ts;
	int count;

	if (timestamp == NULL || signature == NULL)
		return CALLBACK_VERIFY_MISSING;
	count = callback_split_signatures(signature, given);
	if (callback_parse_timestamp(timestamp, &ts) != 0 || count == 0)
		return CALLBACK_VERIFY_MALFORMED;
	if (ts > now + CALLBACK_TOLERANCE_S || ts < now - CALLBACK_TOLERANCE_S)
		return CALLBACK_VERIFY_STALE;

	/* Compare with every signature, so the time taken does not show
	 * which one matched. */
	callback_sign(secret, ts, body, len, expected);
	bool same = false;
	for (int k = 0; k < count; k++)
		same |= sodium_memcmp(expected, given[k], CALLBACK_SIGNATURE_HEX - 1) == 0;

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
		       " 64 hex digits, or two such values separated by \", \"";
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

bool
callback_address_allowed(const struct ipaddr *addr, const struct ipnet *allowed,
                         size_t count)
{
	return callback_address_is_public(addr) || ipnet_list_contains(allowed, count, addr);
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

		if (!known || !callback_address_allowed(&addr, req->config->allowed_ranges,
		                                         req->config->allowed_range_count)) {
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

/*
 * Build the header list with a fresh timestamp and signature. While a
 * rotated-out secret is still valid (previous is not ""), X-Signature
 * carries the current secret's signature, ", " and the previous one's.
 */
static int
callback_build_headers(struct callback_request *req, const char *secret,
                       const char *previous)
{
	const struct outbox_delivery *d = req->delivery;
	char signature[CALLBACK_SIGNATURE_HEX];
	char previous_signature[CALLBACK_SIGNATURE_HEX];
	char timestamp_line[64];
	char signature_line[32 + 2 * CALLBACK_SIGNATURE_HEX];
	char event_line[64];

	callback_sign(secret, req->attempted_at, d->body, d->body_len, signature);
	snprintf(timestamp_line, sizeof(timestamp_line), "X-Signature-Timestamp: %lld",
	         (long long)req->attempted_at);
	if (previous[0] != '\0') {
		callback_sign(previous, req->attempted_at, d->body, d->body_len,
		              previous_signature);
		snprintf(signature_line, sizeof(signature_line), "X-Signature: %s, %s",
		         signature, previous_signature);
	} else {
		snprintf(signature_line, sizeof(signature_line), "X-Signature: %s", signature);
	}
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
	char previous[SIGNING_SECRET_TEXT_MAX];
	enum token_mode mode = TOKEN_MODE_LIVE;

	req->attempted_at = (int64_t)time(NULL);
	callback_read_host(req);

	if (!callback_event_id_valid(req->delivery->event_id)) {
		snprintf(req->error, sizeof(req->error), "%s", "stored event id is invalid");
		return;
	}
	if (store_outbox_token_secret(dp->store, &dp->keys, req->delivery->token_id,
	    req->attempted_at, secret, previous, sizeof(secret), &mode) != CP_OK) {
		snprintf(req->error, sizeof(req->error), "%s",
		         "signing secret of the token is unavailable");
		return;
	}
	req->guarded = mode == TOKEN_MODE_LIVE && !dp->config.allow_private_targets;
	req->config = &dp->config;

	int rc = callback_build_headers(req, secret, previous);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(previous, sizeof(previous));
	if (rc != 0 || callback_build_easy(dp, req) != 0) {
		snprintf(req->error, sizeof(req->error), "%s", "building the request failed");
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
}

static int64_t
callback_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Abort the slot's transfer if it has one and empty the slot. */
static void
callback_release_slot(struct callback_dispatcher *dp, struct callback_request *req)
{
	if (req->easy != NULL) {
		curl_multi_remove_handle(dp->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	curl_slist_free_all(req->headers);
	free(req->row.body);
	memset(req, 0, sizeof(*req));
}

/* Hand the prepared request to the multi handle. */
static void
callback_start_transfer(struct callback_dispatcher *dp, struct callback_request *req)
{
	if (req->easy == NULL)
		return;
	req->started_ms = callback_monotonic_ms();
	if (curl_multi_add_handle(dp->multi, req->easy) != CURLM_OK) {
		snprintf(req->error, sizeof(req->error), "%s", "starting the request failed");
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
}

/*
 * Claim due deliveries into the free slots and start their requests.
 * Deliveries already in a slot are excluded from the claim, so an
 * operator's resend cannot put one delivery in flight twice. Returns the
 * number claimed, or -1 on a store error.
 */
static int
callback_claim(struct callback_dispatcher *dp)
{
	struct callback_pool *pool = dp->pool;
	int64_t now = (int64_t)time(NULL);
	int64_t lease_s = dp->config.timeout_ms / 1000 + 1 + CALLBACK_LEASE_MARGIN_S;
	int filled[CP_CALLBACK_BATCH];
	int busy = 0;
	int n = 0;

	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		if (pool->slots[i].in_use)
			pool->busy_ids[busy++] = pool->slots[i].row.id;
	}
	if (busy == CP_CALLBACK_BATCH)
		return 0;

	if (store_begin(dp->store) != CP_OK)
		return -1;
	if (store_outbox_claim(dp->store, now, lease_s, pool->busy_ids, busy,
	    pool->claimed, CP_CALLBACK_BATCH - busy, &n) != CP_OK) {
		store_rollback(dp->store);
		return -1;
	}

	/* Prepare inside the transaction, which also reads the signing secrets. */
	int used = 0;
	for (int i = 0; i < CP_CALLBACK_BATCH && used < n; i++) {
		struct callback_request *req = &pool->slots[i];

		if (req->in_use)
			continue;
		req->in_use = true;
		req->row = pool->claimed[used];
		req->delivery = &req->row;
		filled[used++] = i;
		callback_prepare(dp, req);
	}

	/* The dispatcher commits without a sync of its own, and may have read
	 * events that another connection committed and has not synced yet. */
	if (store_commit(dp->store) != CP_OK || (n > 0 && store_sync(dp->store) != CP_OK)) {
		/* Without the lease the rows are not ours to send. */
		log_error("committing the callback claim failed", NULL);
		for (int i = 0; i < n; i++)
			callback_release_slot(dp, &pool->slots[filled[i]]);
		return -1;
	}
	for (int i = 0; i < n; i++)
		callback_start_transfer(dp, &pool->slots[filled[i]]);
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

/* Return whether callback_dispatcher_wake() was called since the last
 * call, and clear the flag. */
static bool
callback_take_wake(struct callback_dispatcher *dp)
{
	pthread_mutex_lock(&dp->lock);
	bool woken = dp->woken;
	dp->woken = false;
	pthread_mutex_unlock(&dp->lock);
	return woken;
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
 * Abort transfers that run more than half the lease margin past the
 * request timeout, which curl itself should have enforced. The slot is
 * freed before the lease runs out, so a delivery is never in flight twice.
 * The attempt is not recorded and the delivery becomes due after the
 * lease. Returns the number of slots freed.
 */
static int
callback_abort_overdue(struct callback_dispatcher *dp)
{
	int64_t limit_ms = dp->config.timeout_ms + CALLBACK_LEASE_MARGIN_S * 1000 / 2;
	int64_t now_ms = callback_monotonic_ms();
	int freed = 0;

	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		struct callback_request *req = &dp->pool->slots[i];

		if (!req->in_use || req->easy == NULL || req->done ||
		    now_ms - req->started_ms <= limit_ms)
			continue;
		log_warn("callback attempt ran past its timeout and was aborted",
		         "event_id", req->delivery->event_id,
		         "delivery_id", log_int(req->delivery->id), "host", req->host, NULL);
		callback_release_slot(dp, req);
		freed++;
	}
	return freed;
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
		         "target address %s is not public and not in callbacks.allowed_ranges,"
		         " so live tokens may not call it", req->rejected_address[0] ?
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

/* True when the slot's attempt has an outcome to record: curl finished
 * the transfer, or the request failed before it could be sent. */
static bool
callback_finished(const struct callback_request *req)
{
	if (!req->in_use)
		return false;
	return req->easy == NULL || req->done;
}

/* Record every finished attempt in one transaction, so completions that
 * curl reports together cost one sync of the database. Returns -1 when
 * nothing was recorded because of a store error. */
static int
callback_store_finished(struct callback_dispatcher *dp)
{
	if (store_begin(dp->store) != CP_OK)
		return -1;
	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		struct callback_request *req = &dp->pool->slots[i];

		if (!callback_finished(req))
			continue;
		if (callback_record_one(dp, req) != 0) {
			store_rollback(dp->store);
			return -1;
		}
	}
	if (store_commit(dp->store) != CP_OK) {
		log_error("committing callback attempts failed", NULL);
		return -1;
	}
	return 0;
}

/*
 * Record the finished attempts, count them in the metrics once committed,
 * and free their slots. After a store error the attempts stay unrecorded,
 * and their deliveries become due again when the lease runs out. Returns
 * the number of slots freed.
 */
static int
callback_record_finished(struct callback_dispatcher *dp)
{
	struct callback_pool *pool = dp->pool;
	int finished = 0;

	for (int i = 0; i < CP_CALLBACK_BATCH; i++)
		finished += callback_finished(&pool->slots[i]);
	if (finished == 0)
		return 0;

	bool stored = callback_store_finished(dp) == 0;

	pthread_mutex_lock(&dp->lock);
	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		if (stored && callback_finished(&pool->slots[i]) &&
		    pool->slots[i].outcome != CALLBACK_OUTCOME_NONE)
			callback_count_one(&dp->metrics, &pool->slots[i]);
	}
	pthread_mutex_unlock(&dp->lock);

	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		if (callback_finished(&pool->slots[i]))
			callback_release_slot(dp, &pool->slots[i]);
	}
	return finished;
}

/* Milliseconds to wait in curl_multi_poll(): until the next timed claim,
 * at most CALLBACK_MULTI_POLL_MS so a missed wake-up costs little. */
static int
callback_wait_ms(int64_t next_claim_ms)
{
	int64_t wait_ms = next_claim_ms - callback_monotonic_ms();

	if (wait_ms < 0)
		return 0;
	return wait_ms > CALLBACK_MULTI_POLL_MS ? CALLBACK_MULTI_POLL_MS : (int)wait_ms;
}

/*
 * Run transfers and claim deliveries until the dispatcher stops. A claim
 * runs when a wake-up arrives, when a slot is freed (its delivery may have
 * held back the next event of the same order), and otherwise once per
 * poll interval, when retries and expired leases become due.
 */
static void
callback_loop(struct callback_dispatcher *dp)
{
	bool claim_now = true;
	int64_t next_claim_ms = 0;

	while (!callback_stopping(dp)) {
		int running = 0;

		if (callback_take_wake(dp) || callback_monotonic_ms() >= next_claim_ms)
			claim_now = true;
		if (claim_now) {
			claim_now = false;
			next_claim_ms = callback_monotonic_ms() + dp->config.poll_interval_ms;
			callback_claim(dp);
		}

		if (curl_multi_perform(dp->multi, &running) != CURLM_OK)
			log_error("curl_multi_perform failed", NULL);
		callback_collect_done(dp->multi);
		if (callback_record_finished(dp) > 0)
			claim_now = true;
		if (callback_abort_overdue(dp) > 0)
			claim_now = true;
		if (claim_now)
			continue;

		/* With no transfers this still waits, for the timeout or for
		 * curl_multi_wakeup() from wake or stop. */
		curl_multi_poll(dp->multi, NULL, 0, callback_wait_ms(next_claim_ms), NULL);
	}
}

static void *
callback_run(void *arg)
{
	struct callback_dispatcher *dp = arg;

	log_info("callback dispatcher started",
	         "max_in_flight", log_int(CP_CALLBACK_BATCH), NULL);
	callback_loop(dp);

	/* Keep what already finished. Transfers still running are aborted, and
	 * their deliveries become due when the lease runs out. */
	callback_collect_done(dp->multi);
	callback_record_finished(dp);
	for (int i = 0; i < CP_CALLBACK_BATCH; i++) {
		if (dp->pool->slots[i].in_use)
			callback_release_slot(dp, &dp->pool->slots[i]);
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
	if (config->allowed_range_count > CALLBACK_ALLOWED_RANGES_MAX)
		config->allowed_range_count = CALLBACK_ALLOWED_RANGES_MAX;
}

/* Free what start created; safe on a partly built dispatcher. */
static void
callback_release(struct callback_dispatcher *dp)
{
	curl_share_cleanup(dp->live_share);
	dp->live_share = NULL;
	curl_multi_cleanup(dp->multi);
	dp->multi = NULL;
	free(dp->pool);
	dp->pool = NULL;
	store_close(dp->store);
	dp->store = NULL;
	keys_wipe(&dp->keys);
	curl_global_cleanup();
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed", NULL);
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
	/* Claims and attempt records may be lost to a power cut: the delivery
	 * is then sent again, which at-least-once delivery allows. Without a
	 * sync per record, delivery is not bound by the disk's sync rate. */
	if (store_relax_sync(dp->store) != CP_OK) {
		log_error("callback dispatcher cannot set synchronous=NORMAL", NULL);
		goto fail;
	}
	dp->pool = calloc(1, sizeof(*dp->pool));
	dp->multi = curl_multi_init();
	dp->live_share = curl_share_init();
	if (dp->pool == NULL || dp->multi == NULL || dp->live_share == NULL ||
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
		curl_multi_wakeup(dp->multi);
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
	pthread_mutex_unlock(&dp->lock);

	curl_multi_wakeup(dp->multi);
	pthread_join(dp->thread, NULL);

	/* After running is false no other thread touches the handles, so
	 * they can be freed. */
	pthread_mutex_lock(&dp->lock);
	dp->running = false;
	pthread_mutex_unlock(&dp->lock);
	callback_release(dp);
}
