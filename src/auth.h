/*
 * Authentication of merchant API calls: the ordered checks on an access
 * token. A call is accepted only when, in this order, the token is well
 * formed and known, belongs to the customer_id sent, is not revoked, is not
 * expired, the client address is inside its whitelist, its type allows the
 * operation, and the rate limits are not exceeded. Each failure has its own
 * result and message.
 */
#ifndef CITYPAY_AUTH_H
#define CITYPAY_AUTH_H

#include "gateway.h"

enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING,
	AUTH_MALFORMED,
	AUTH_UNKNOWN,          /* unknown, or another customer's: same message */
	AUTH_REVOKED,
	AUTH_EXPIRED,
	AUTH_IP_NOT_ALLOWED,
	AUTH_TYPE_NOT_ALLOWED,
	AUTH_RATE_LIMITED,
	AUTH_ERROR,
};

enum auth_operation {
	AUTH_OP_ORDER,
	AUTH_OP_DEPOSIT,
	AUTH_OP_LOGIN,
};

struct auth_request {
	const char *access_token;     /* NULL or "" when missing */
	int64_t customer_id;          /* 0 when the call names no customer */
	const struct ipaddr *client;
	enum auth_operation operation;
};

/*
 * Run the checks. On AUTH_OK fills *token. On failure writes a sentence for
 * the merchant into message and, for AUTH_RATE_LIMITED, the seconds to wait
 * into *retry_after_s. Never logs or echoes the token.
 */
enum auth_result auth_check(struct gateway *gw, const struct auth_request *req,
                            struct access_token *token, char *message, size_t len,
                            int64_t *retry_after_s);

/* HTTP status for a result: 401, 403, 429 or 500. */
int auth_http_status(enum auth_result result);

/* Wire reason for a result: "BadCredentials", "IpNotAllowed", ... */
const char *auth_reason(enum auth_result result);

/* True when the whitelist text (one range per line) contains addr. */
bool auth_whitelist_contains(const char *whitelist, const struct ipaddr *addr);

#endif
