/*
 * The bearer tokens of the order API (POST /orders/api/login): compact JSON
 * Web Tokens signed with HS256 (HMAC-SHA256 over "header.payload"). The
 * claims name the merchant and the access token row that logged in, never
 * the access token itself, so a leaked JWT cannot call the merchant API and
 * stops working when that access token is revoked.
 */
#ifndef CITYPAY_JWT_H
#define CITYPAY_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define JWT_KEY_BYTES    32
#define JWT_TEXT_MAX     1024  /* bytes of a compact JWT, with its NUL; longer is rejected */
#define JWT_LIFETIME_S   900   /* 15 minutes from issue to expiry */
#define JWT_ID_MAX       40    /* bytes of the jti claim, with its NUL */

struct jwt_claims {
	int64_t customer_id;       /* "sub", sent as decimal text */
	int64_t token_id;          /* "tid", the access token row that logged in */
	int64_t issued_at;         /* "iat", Unix seconds */
	int64_t expires_at;        /* "exp", Unix seconds; rejected from this second on */
	char id[JWT_ID_MAX];       /* "jti", random */
};

enum jwt_result {
	JWT_OK = 0,
	JWT_MALFORMED,             /* not three base64url segments of JSON, or too long */
	JWT_BAD_ALGORITHM,         /* the header's alg is not exactly "HS256" */
	JWT_BAD_SIGNATURE,
	JWT_BAD_CLAIMS,            /* a claim is missing, of the wrong type or out of range */
	JWT_EXPIRED,
};

/*
 * Derive the signing key from the token digest key: keyed BLAKE2b of a
 * fixed label, so the JWT key differs from the digest key it comes from.
 */
void jwt_derive_key(const struct keys *keys, uint8_t out[JWT_KEY_BYTES]);

/*
 * Fill claims for a login at now_s: issued now, expiring JWT_LIFETIME_S
 * later, with a random jti.
 */
void jwt_claims_new(struct jwt_claims *claims, int64_t customer_id, int64_t token_id,
                    int64_t now_s);

/*
 * Write the signed compact JWT of claims into out. Returns 0, or -1 when
 * out is too small.
 */
int jwt_sign(const uint8_t key[JWT_KEY_BYTES], const struct jwt_claims *claims,
             char *out, size_t len);

/*
 * Verify a compact JWT at time now_s and fill *claims on JWT_OK. Checks, in
 * order: the length and the three segments, the header's alg (HS256 only),
 * the signature (constant-time), then the claims and expiry. Does not check
 * that the access token is still active; the caller does that.
 */
enum jwt_result jwt_verify(const uint8_t key[JWT_KEY_BYTES], const char *jwt, int64_t now_s,
                           struct jwt_claims *claims);

/* A sentence explaining a failed verification, for the 401 response. */
const char *jwt_strerror(enum jwt_result result);

#endif
