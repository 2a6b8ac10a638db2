/*
 * Creating access tokens: validate every field, generate the token and its
 * signing secret, and store only the digest and the sealed secret.
 */
#ifndef CITYPAY_TOKENS_H
#define CITYPAY_TOKENS_H

#include "gateway.h"
#include "validate.h"

struct token_request {
	int64_t merchant_id;
	const char *name;
	const char *type;          /* "crypto", a coin code or "binance_pay" */
	const char *currency;      /* ISO 4217; NULL or "" uses the merchant's default */
	const char *ips[CP_WHITELIST_MAX];
	size_t ip_count;
	const char *callbacks[CP_CALLBACK_URLS_MAX];
	size_t callback_count;
	const char *success_url;   /* optional */
	const char *cancel_url;    /* optional */
	const char *expires_at;    /* Unix seconds as text */
	const char *mode;          /* "live" or "sandbox"; NULL means live */
};

/*
 * Validate and create a token. On CP_OK fills *out, token_text
 * (TOKEN_TEXT_MAX bytes) and secret (SIGNING_SECRET_TEXT_MAX bytes), which
 * the caller shows once and then wipes. CP_INVALID fills errs; CP_NOT_FOUND
 * means the merchant does not exist; CP_EXISTS means the name is taken.
 * Opens and commits its own transaction.
 */
enum cp_result tokens_create(struct gateway *gw, const struct token_request *req,
                             struct access_token *out, char *token_text,
                             char *secret, struct field_errors *errs);

/*
 * Validate and write the non-secret fields of the merchant's active token
 * token_id: every field of req except mode, which stays. Fills *out with
 * the stored token. CP_INVALID fills errs; CP_NOT_FOUND when the token is
 * not the merchant's or is revoked.
 */
enum cp_result tokens_update(struct gateway *gw, int64_t merchant_id, int64_t token_id,
                             const struct token_request *req, struct access_token *out,
                             struct field_errors *errs);

#define TOKENS_ROTATE_OVERLAP_MAX_S (720 * 3600) /* 30 days */

/*
 * Give the merchant's active token token_id a new signing secret, written
 * into new_secret_out (SIGNING_SECRET_TEXT_MAX bytes), which the caller
 * shows once and then wipes. The old secret keeps signing callbacks as a
 * second signature for overlap_s seconds (0 to
 * TOKENS_ROTATE_OVERLAP_MAX_S; 0 drops it at once), and a secret kept from
 * an earlier rotation is dropped. Opens and commits its own transaction.
 * CP_INVALID for an overlap out of range; CP_NOT_FOUND when the token is
 * not the merchant's or is revoked.
 */
enum cp_result tokens_rotate_secret(struct gateway *gw, int64_t merchant_id, int64_t token_id,
                                    int64_t overlap_s, char *new_secret_out);

/* True when type is "crypto", "binance_pay" or a known coin code. */
bool tokens_type_is_valid(const char *type);

#endif
