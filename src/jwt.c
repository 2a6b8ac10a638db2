#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "jwt.h"

#define JWT_SEGMENT_MAX   768   /* decoded bytes of one segment; the text cap bounds it */
#define JWT_JTI_BYTES     16    /* random bytes of the jti claim */
#define JWT_CLOCK_SKEW_S  60    /* an iat this far ahead of the clock is still accepted */
#define JWT_VARIANT       sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const char jwt_header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char jwt_key_label[] = "citypay order API JWT signing key v1";

void
jwt_derive_key(const struct keys *keys, uint8_t out[JWT_KEY_BYTES])
{
	crypto_generichash(out, JWT_KEY_BYTES, (const unsigned char *)jwt_key_label,
	                   sizeof(jwt_key_label) - 1, keys->token_key, sizeof(keys->token_key));
}

void
jwt_claims_new(struct jwt_claims *claims, int64_t customer_id, int64_t token_id,
               int64_t now_s)
{
	uint8_t random[JWT_JTI_BYTES];

	memset(claims, 0, sizeof(*claims));
	claims->customer_id = customer_id;
	claims->token_id = token_id;
	claims->issued_at = now_s;
	claims->expires_at = now_s + JWT_LIFETIME_S;
	randombytes_buf(random, sizeof(random));
	sodium_bin2base64(claims->id, sizeof(claims->id), random, sizeof(random), JWT_VARIANT);
}

/* Append base64url of data at out + *used; returns -1 when it does not fit. */
static int
jwt_append_base64(char *out, size_t len, size_t *used, const void *data, size_t n)
{
	size_t need = sodium_base64_ENCODED_LEN(n, JWT_VARIANT);

	if (*used + need > len)
		return -1;
	sodium_bin2base64(out + *used, len - *used, data, n, JWT_VARIANT);
	*used += strlen(out + *used);
	return 0;
}

int
jwt_sign(const uint8_t key[JWT_KEY_BYTES], const struct jwt_claims *claims,
         char *out, size_t len)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char payload[256];
	size_t used = 0;
	int n;

	/* The jti is base64url text, so no claim needs JSON escaping. */
	n = snprintf(payload, sizeof(payload),
	             "{\"sub\":\"%lld\",\"tid\":%lld,\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
	             (long long)claims->customer_id, (long long)claims->token_id,
	             (long long)claims->issued_at, (long long)claims->expires_at, claims->id);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return -1;

	if (jwt_append_base64(out, len, &used, jwt_header_json, sizeof(jwt_header_json) - 1) != 0 ||
	    used + 1 >= len)
		return -1;
	out[used++] = '.';
	if (jwt_append_base64(out, len, &used, payload, (size_t)n) != 0 || used + 1 >= len)
		return -1;

	crypto_auth_hmacsha256(mac, (const unsigned char *)out, used, key);
	out[used++] = '.';
	if (jwt_append_base64(out, len, &used, mac, sizeof(mac)) != 0)
		return -1;
	return used < JWT_TEXT_MAX ? 0 : -1;
}

/*
 * Decode one base64url segment without padding. Rejects any character
 * outside the alphabet and a segment that does not decode whole.
 */
static int
jwt_decode_segment(const char *text, size_t n, uint8_t *out, size_t max, size_t *out_len)
{
	const char *end = NULL;

	if (n == 0)
		return -1;
	if (sodium_base642bin(out, max, text, n, NULL, out_len, &end, JWT_VARIANT) != 0)
		return -1;
	return end == text + n ? 0 : -1;
}

/* Parse decoded bytes as one JSON object with nothing after it; NULL otherwise. */
static json_object *
jwt_parse_object(const uint8_t *data, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(4);
	json_object *obj;

	if (tok == NULL)
		return NULL;
	if (memchr(data, '\0', n) != NULL) {
		json_tokener_free(tok);
		return NULL;
	}
	obj = json_tokener_parse_ex(tok, (const char *)data, (int)n);
	if (obj != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	                    json_tokener_get_parse_end(tok) != n ||
	                    !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static enum jwt_result
jwt_check_header(const uint8_t *data, size_t n)
{
	json_object *header = jwt_parse_object(data, n);
	json_object *alg = NULL, *typ = NULL;
	enum jwt_result result = JWT_OK;

	if (header == NULL)
		return JWT_MALFORMED;
	if (!json_object_object_get_ex(header, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string) ||
	    strcmp(json_object_get_string(alg), "HS256") != 0)
		result = JWT_BAD_ALGORITHM;
	else if (json_object_object_get_ex(header, "typ", &typ) &&
	         (!json_object_is_type(typ, json_type_string) ||
	          strcmp(json_object_get_string(typ), "JWT") != 0))
		result = JWT_MALFORMED;
	json_object_put(header);
	return result;
}

/* An integer claim; JSON numbers with a fraction or exponent are rejected. */
static bool
jwt_int_claim(json_object *payload, const char *name, int64_t *out)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(payload, name, &value) ||
	    !json_object_is_type(value, json_type_int))
		return false;
	errno = 0;
	*out = json_object_get_int64(value);
	return errno == 0;
}

/* The "sub" claim: the customer id as decimal text without sign or leading zero. */
static bool
jwt_subject_claim(json_object *payload, int64_t *out)
{
	json_object *value = NULL;
	const char *text;
	char *end = NULL;
	long long v;

	if (!json_object_object_get_ex(payload, "sub", &value) ||
	    !json_object_is_type(value, json_type_string))
		return false;
	text = json_object_get_string(value);
	if (text[0] < '1' || text[0] > '9' || strlen(text) > 19)
		return false;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static enum jwt_result
jwt_read_claims(json_object *payload, int64_t now_s, struct jwt_claims *claims)
{
	json_object *jti = NULL;
	const char *id;

	if (!jwt_subject_claim(payload, &claims->customer_id) ||
	    !jwt_int_claim(payload, "tid", &claims->token_id) || claims->token_id <= 0 ||
	    !jwt_int_claim(payload, "iat", &claims->issued_at) ||
	    !jwt_int_claim(payload, "exp", &claims->expires_at))
		return JWT_BAD_CLAIMS;
	if (!json_object_object_get_ex(payload, "jti", &jti) ||
	    !json_object_is_type(jti, json_type_string))
		return JWT_BAD_CLAIMS;
	id = json_object_get_string(jti);
	if (id[0] == '\0' || strlen(id) >= sizeof(claims->id))
		return JWT_BAD_CLAIMS;
	memcpy(claims->id, id, strlen(id) + 1);

	/* The gateway issues tokens valid for JWT_LIFETIME_S, so a longer lifetime is forged. */
	if (claims->expires_at <= claims->issued_at ||
	    claims->expires_at - claims->issued_at > JWT_LIFETIME_S ||
	    claims->issued_at > now_s + JWT_CLOCK_SKEW_S)
		return JWT_BAD_CLAIMS;
	if (now_s >= claims->expires_at)
		return JWT_EXPIRED;
	return JWT_OK;
}

enum jwt_result
jwt_verify(const uint8_t key[JWT_KEY_BYTES], const char *jwt, int64_t now_s,
           struct jwt_claims *claims)
{
	uint8_t segment[JWT_SEGMENT_MAX], mac[crypto_auth_hmacsha256_BYTES];
	size_t total, header_len, payload_len, n = 0;
	const char *dot1, *dot2, *signature;
	json_object *payload;
	enum jwt_result result;

	memset(claims, 0, sizeof(*claims));
	if (jwt == NULL || (total = strnlen(jwt, JWT_TEXT_MAX)) >= JWT_TEXT_MAX)
		return JWT_MALFORMED;
	if ((dot1 = strchr(jwt, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return JWT_MALFORMED;
	header_len = (size_t)(dot1 - jwt);
	payload_len = (size_t)(dot2 - dot1 - 1);
	signature = dot2 + 1;

	/* The algorithm is checked before the signature, so "none" or another
	 * algorithm is rejected whatever the signature segment contains. */
	if (jwt_decode_segment(jwt, header_len, segment, sizeof(segment), &n) != 0)
		return JWT_MALFORMED;
	if ((result = jwt_check_header(segment, n)) != JWT_OK)
		return result;

	if (jwt_decode_segment(signature, total - (size_t)(signature - jwt), mac, sizeof(mac),
	                       &n) != 0 || n != sizeof(mac))
		return JWT_BAD_SIGNATURE;
	if (crypto_auth_hmacsha256_verify(mac, (const unsigned char *)jwt,
	                                  (size_t)(dot2 - jwt), key) != 0)
		return JWT_BAD_SIGNATURE;

	if (jwt_decode_segment(dot1 + 1, payload_len, segment, sizeof(segment), &n) != 0 ||
	    (payload = jwt_parse_object(segment, n)) == NULL)
		return JWT_MALFORMED;
	result = jwt_read_claims(payload, now_s, claims);
	json_object_put(payload);
	if (result != JWT_OK && result != JWT_EXPIRED)
		memset(claims, 0, sizeof(*claims));
	return result;
}

const char *
jwt_strerror(enum jwt_result result)
{
	switch (result) {
	case JWT_OK:
		return "the bearer token is valid";
	case JWT_MALFORMED:
		return "the bearer token is malformed; send the token from POST /orders/api/login"
		       " exactly as received";
	case JWT_BAD_ALGORITHM:
		return "the bearer token's algorithm is not HS256; send the token from"
		       " POST /orders/api/login exactly as received";
	case JWT_BAD_SIGNATURE:
		return "the bearer token's signature is invalid; log in again with"
		       " POST /orders/api/login";
	case JWT_BAD_CLAIMS:
		return "the bearer token's claims are invalid; log in again with"
		       " POST /orders/api/login";
	case JWT_EXPIRED:
		return "the bearer token expired; log in again with POST /orders/api/login";
	}
	return "the bearer token is invalid";
}
