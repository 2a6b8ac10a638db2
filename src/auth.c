#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "log.h"
#include "token_cache.h"

int
auth_http_status(enum auth_result result)
{
	switch (result) {
	case AUTH_OK:
		return 200;
	case AUTH_IP_NOT_ALLOWED:
	case AUTH_TYPE_NOT_ALLOWED:
		return 403;
	case AUTH_RATE_LIMITED:
		return 429;
	case AUTH_ERROR:
		return 500;
	default:
		return 401;
	}
}

const char *
auth_reason(enum auth_result result)
{
	switch (result) {
	case AUTH_IP_NOT_ALLOWED:   return "IpNotAllowed";
	case AUTH_TYPE_NOT_ALLOWED: return "TokenTypeNotAllowed";
	case AUTH_RATE_LIMITED:     return "RateLimited";
	case AUTH_ERROR:            return "InternalServerError";
	default:                    return "BadCredentials";
	}
}

bool
auth_whitelist_contains(const char *whitelist, const struct ipaddr *addr)
{
	char line[IPADDR_TEXT_MAX];

	for (const char *p = whitelist; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		struct ipnet net;
		char why[8];

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (ipnet_parse(line, &net, why, sizeof(why)) == 0 &&
			    ipnet_contains(&net, addr))
				return true;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return false;
}

static bool
auth_type_allows(const struct access_token *t, enum auth_operation op)
{
	/* A binance_pay token pays through Binance Pay, which has no receiving
	 * addresses, so it cannot create deposits. */
	if (op == AUTH_OP_DEPOSIT)
		return strcmp(t->type, "binance_pay") != 0;
	return true;
}

/* The rate limits of an authenticated token, per minute and per hour; 0 is no limit. */
static bool
auth_rate_allows(struct gateway *gw, const struct access_token *t, int64_t *retry)
{
	int64_t now = gateway_now_ms(gw) / 1000;
	int per_minute, per_hour;
	char key[64];

	if (gw->limits == NULL)
		return true;
	per_minute = gw->cfg->limit_token_per_minute;
	per_hour = gw->cfg->limit_token_per_hour;

	if (per_minute > 0) {
		snprintf(key, sizeof(key), "token-minute:%lld", (long long)t->id);
		if (!ratelimit_hit(gw->limits, key, now, 60, per_minute, retry))
			return false;
	}
	if (per_hour == 0)
		return true;
	snprintf(key, sizeof(key), "token-hour:%lld", (long long)t->id);
	return ratelimit_hit(gw->limits, key, now, 3600, per_hour, retry);
}

static enum auth_result
auth_find(struct gateway *gw, const struct auth_request *req, struct access_token *t,
          char *message, size_t len)
{
	uint8_t digest[TOKEN_DIGEST_BYTES];
	enum token_mode mode;
	enum cp_result rc;
	uint64_t version;
	int64_t now_s;

	if (req->access_token == NULL || req->access_token[0] == '\0') {
		snprintf(message, len, "access_token is missing; send it in the access_token"
		         " field or an Authorization: Bearer header");
		return AUTH_MISSING;
	}
	if (token_check_format(req->access_token, &mode) != TOKEN_FORMAT_OK) {
		snprintf(message, len, "access_token is malformed or mistyped; copy the token"
		         " exactly as it was shown when it was created");
		return AUTH_MALFORMED;
	}

	token_digest(&gw->keys, req->access_token, digest);
	/* The version is read before the row, so a change committed in
	 * between leaves an entry that the next request does not use. */
	version = store_token_version(gw->store);
	now_s = gateway_now_ms(gw) / 1000;
	if (gw->tokens != NULL && token_cache_get(gw->tokens, digest, version, now_s, t)) {
		rc = CP_OK;
	} else {
		if (store_begin_read(gw->store) != CP_OK)
			return AUTH_ERROR;
		rc = store_token_find_digest(gw->store, digest, t);
		store_rollback(gw->store);
		if (rc == CP_OK && gw->tokens != NULL)
			token_cache_put(gw->tokens, t, version, now_s);
	}
	sodium_memzero(digest, sizeof(digest));

	if (rc == CP_ERROR)
		return AUTH_ERROR;
	/* Unknown and another customer's token get one message, so a caller
	 * cannot learn that a token exists for some other merchant. */
	if (rc == CP_NOT_FOUND || t->merchant_id != req->customer_id) {
		snprintf(message, len, "access_token is not a valid token of customer_id %lld",
		         (long long)req->customer_id);
		return AUTH_UNKNOWN;
	}
	return AUTH_OK;
}

enum auth_result
auth_check(struct gateway *gw, const struct auth_request *req, struct access_token *t,
           char *message, size_t len, int64_t *retry_after_s)
{
	int64_t now = gateway_now_ms(gw) / 1000;
	enum auth_result result = auth_find(gw, req, t, message, len);
	char seen[IPADDR_TEXT_MAX];

	if (result != AUTH_OK)
		return result;
	if (t->revoked_at != 0) {
		snprintf(message, len, "access_token was revoked; create a new token in the cabinet");
		return AUTH_REVOKED;
	}
	/* expires_at is the first second in which the token is rejected. */
	if (now >= t->expires_at) {
		snprintf(message, len, "access_token expired at %lld (Unix time); create a new"
		         " token in the cabinet", (long long)t->expires_at);
		return AUTH_EXPIRED;
	}
	if (!(t->whitelist_parsed
	      ? ipnet_list_contains(t->whitelist, t->whitelist_count, req->client)
	      : auth_whitelist_contains(t->ip_whitelist, req->client))) {
		ipaddr_format(req->client, seen, sizeof(seen));
		snprintf(message, len, "client address %s is not in the token's IP whitelist;"
		         " add it in the cabinet", seen);
		return AUTH_IP_NOT_ALLOWED;
	}
	if (!auth_type_allows(t, req->operation)) {
		snprintf(message, len, "a token of type %s cannot be used for this operation", t->type);
		return AUTH_TYPE_NOT_ALLOWED;
	}
	if (!auth_rate_allows(gw, t, retry_after_s)) {
		snprintf(message, len, "too many requests with this token; retry later");
		return AUTH_RATE_LIMITED;
	}
	return AUTH_OK;
}
