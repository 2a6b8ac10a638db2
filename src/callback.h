/*
 * Callback signing and the dispatcher that delivers the outbox.
 *
 * Every callback is a POST of the event body stored at creation, sent byte
 * for byte on every attempt. Its headers are X-Signature-Timestamp (Unix
 * seconds), X-Event-Id and X-Signature: the hex HMAC-SHA256 over
 * "<timestamp>.<body>" keyed with the token's signing secret. While a
 * rotation's overlap lasts, ", " and the signature under the previous
 * secret follow it. The first attempt after
 * an operator's resend also carries X-Event-Resend: true. A 2xx response
 * within the timeout is success. Anything else, redirects included, is retried
 * with exponential backoff until the event is CP_CALLBACK_RETRY_S seconds
 * old. docs/CALLBACKS.md describes this for merchants.
 */
#ifndef CITYPAY_CALLBACK_H
#define CITYPAY_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "keys.h"
#include "result.h"

#define CALLBACK_SIGNATURE_HEX 65       /* 64 hex digits and the NUL */
#define CALLBACK_RETRY_BASE_S  10       /* first retry delay */
#define CALLBACK_RETRY_CAP_S   3600     /* largest retry delay */
#define CALLBACK_POLL_MS       1000     /* idle wait between outbox reads */
#define CALLBACK_TOLERANCE_S   300      /* accepted clock difference when verifying */
#define CALLBACK_LATENCY_BUCKETS 8
#define CALLBACK_ALLOWED_RANGES_MAX 16  /* the same as CONFIG_ALLOWED_RANGES_MAX */

/* Dispatcher settings. A zero value selects the default named beside it. */
struct callback_config {
	int timeout_ms;                 /* whole request; CP_CALLBACK_TIMEOUT_MS */
	int retry_base_s;               /* delay after the first failure; CALLBACK_RETRY_BASE_S */
	int retry_cap_s;                /* largest delay; CALLBACK_RETRY_CAP_S */
	bool allow_private_targets;     /* let live tokens reach private addresses */
	/* Ranges live tokens may reach although they are not public. */
	struct ipnet allowed_ranges[CALLBACK_ALLOWED_RANGES_MAX];
	size_t allowed_range_count;
	int poll_interval_ms;           /* idle wait; CALLBACK_POLL_MS */
};

/*
 * Write the hex HMAC-SHA256 of "<timestamp>.<body>" into hex_out, keyed
 * with the bytes of the secret's full text (prefix included), as merchants
 * compute it to verify X-Signature.
 */
void callback_sign(const char *secret, int64_t timestamp, const char *body,
                   size_t len, char hex_out[CALLBACK_SIGNATURE_HEX]);

/* The outcome of checking a received callback's signature. */
enum callback_verify_result {
	CALLBACK_VERIFY_OK,
	CALLBACK_VERIFY_MISSING,        /* a signature header is absent */
	CALLBACK_VERIFY_MALFORMED,      /* not Unix seconds, or not one or two signatures */
	CALLBACK_VERIFY_STALE,          /* more than CALLBACK_TOLERANCE_S from now */
	CALLBACK_VERIFY_MISMATCH,
};

/*
 * Verify a received callback as a merchant does: timestamp and signature
 * are the X-Signature-Timestamp and X-Signature header values (NULL when
 * absent), body the raw request body, now the receiver's Unix seconds.
 * signature is one signature, or two separated by ", " while the token's
 * previous secret is still used after a rotation, and the callback is
 * valid when any of them matches. Signatures are compared in constant
 * time, case-insensitively.
 */
enum callback_verify_result callback_verify(const char *secret, const char *timestamp,
                                            const char *signature, const char *body,
                                            size_t len, int64_t now);

/* A sentence describing a verification result, "valid" for CALLBACK_VERIFY_OK. */
const char *callback_verify_strerror(enum callback_verify_result result);

/* Upper bounds in milliseconds of the latency histogram's buckets, ascending. */
extern const int64_t callback_latency_bounds_ms[CALLBACK_LATENCY_BUCKETS];

/* Delivery counters of this process, counted once each attempt's record commits. */
struct callback_metrics {
	uint64_t attempts;              /* attempts recorded */
	uint64_t delivered;             /* attempts that received a 2xx status */
	uint64_t retried;               /* failed attempts with another one scheduled */
	uint64_t failed;                /* failed attempts after which the delivery gave up */
	uint64_t latency_count;         /* attempts that were sent */
	uint64_t latency_sum_ms;
	uint64_t latency_le[CALLBACK_LATENCY_BUCKETS]; /* sent attempts at or below each bound */
};

/* Copy the current counters into out; safe from any thread. */
void callback_metrics_read(struct callback_metrics *out);

/*
 * True when a live-mode callback may connect to addr: false for loopback,
 * unspecified, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
 * (100.64/10), link-local (169.254/16 with the 169.254.169.254 metadata
 * service, fe80::/10), multicast, reserved (0/8, 240/4) and site-local
 * (fec0::/10) addresses. IPv4 addresses inside IPv4-mapped, IPv4-compatible
 * and NAT64 (64:ff9b::/96) IPv6 addresses are judged as IPv4.
 */
bool callback_address_is_public(const struct ipaddr *addr);

/*
 * True when a live-mode callback may connect to addr: it is public, or it
 * lies inside one of the count ranges the operator allowed
 * (callbacks.allowed_ranges).
 */
bool callback_address_allowed(const struct ipaddr *addr, const struct ipnet *allowed,
                              size_t count);

/*
 * Start the dispatcher thread. It opens its own store connection on
 * db_path, copies keys and config, and initialises libcurl globally, so
 * call it from the main thread before other threads use libcurl. Returns
 * CP_ERROR (logged) when the store cannot be opened, the thread cannot be
 * started or a dispatcher is already running.
 */
enum cp_result callback_dispatcher_start(const char *db_path, const struct keys *keys,
                                         const struct callback_config *config);

/*
 * Ask the dispatcher to read the outbox now, after a transaction that wrote
 * callback events has committed. It is safe from any thread and does
 * nothing when no dispatcher runs.
 */
void callback_dispatcher_wake(void);

/*
 * Stop the dispatcher: abort requests in flight, join the thread, close its
 * store connection and wipe its copy of the keys. Aborted deliveries become
 * due again when their claim lease runs out. Does nothing when no
 * dispatcher runs.
 */
void callback_dispatcher_stop(void);

#endif
