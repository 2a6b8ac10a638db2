#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cabinet_session.h"
#include "keys.h"
#include "log.h"
#include "password.h"
#include "totp.h"

/* Keyed BLAKE2b of a purpose label and a value, under the token key. */
static void
cabinet_keyed_hash(const struct gateway *gw, const char *purpose, const char *value,
                   uint8_t out[TOKEN_DIGEST_BYTES])
{
	crypto_generichash_state state;

	crypto_generichash_init(&state, gw->keys.token_key, sizeof(gw->keys.token_key),
	                        TOKEN_DIGEST_BYTES);
	crypto_generichash_update(&state, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_generichash_update(&state, (const unsigned char *)value, strlen(value));
	crypto_generichash_final(&state, out, TOKEN_DIGEST_BYTES);
}

void
cabinet_random_id(char *out, size_t len)
{
	uint8_t bytes[32];

	randombytes_buf(bytes, sizeof(bytes));
	sodium_bin2base64(out, len, bytes, sizeof(bytes), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(bytes, sizeof(bytes));
}

void
cabinet_csrf_token(const struct gateway *gw, const char *id, char *out, size_t len)
{
	uint8_t hash[TOKEN_DIGEST_BYTES];

	cabinet_keyed_hash(gw, "csrf", id, hash);
	sodium_bin2base64(out, len, hash, sizeof(hash), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool
cabinet_csrf_valid(const struct gateway *gw, const char *id, const char *token)
{
	char expected[SESSION_ID_TEXT_MAX];
	size_t n;

	if (id == NULL || token == NULL || id[0] == '\0')
		return false;
	cabinet_csrf_token(gw, id, expected, sizeof(expected));
	n = strlen(expected);
	return strlen(token) == n && sodium_memcmp(expected, token, n) == 0;
}

void
cabinet_audit(struct gateway *gw, int64_t merchant_id, const char *ip, const char *action,
              const char *detail)
{
	enum cp_result rc = store_begin(gw->store);

	if (rc == CP_OK) {
		rc = store_audit_insert(gw->store, merchant_id, gateway_now_ms(gw) / 1000, ip,
		                        action, detail);
		if (rc == CP_OK)
			rc = store_commit(gw->store);
		else
			store_rollback(gw->store);
	}
	if (rc != CP_OK)
		log_error("audit entry not written", "customer_id", log_int(merchant_id),
		          "action", action, NULL);
}

/* True while the account and the address are under their failure limits. */
static bool
cabinet_sign_in_allowed(struct gateway *gw, const char *email, const char *ip,
                        int64_t *retry_after_s)
{
	int64_t now = gateway_now_ms(gw) / 1000;
	char key[CP_EMAIL_MAX + 32];

	if (gw->limits == NULL)
		return true;
	snprintf(key, sizeof(key), "sign-in-account:%s", email);
	bool allowed = ratelimit_peek(gw->limits, key, now, SIGN_IN_WINDOW_S) <
	               SIGN_IN_FAILURES_PER_ACCOUNT;
	snprintf(key, sizeof(key), "sign-in-address:%s", ip);
	allowed = allowed && ratelimit_peek(gw->limits, key, now, SIGN_IN_WINDOW_S) <
	                     SIGN_IN_FAILURES_PER_ADDRESS;
	if (!allowed)
		*retry_after_s = SIGN_IN_WINDOW_S - now % SIGN_IN_WINDOW_S;
	return allowed;
}

static void
cabinet_sign_in_failed(struct gateway *gw, const char *email, const char *ip)
{
	int64_t now = gateway_now_ms(gw) / 1000;
	char key[CP_EMAIL_MAX + 32];

	if (gw->limits == NULL)
		return;
	snprintf(key, sizeof(key), "sign-in-account:%s", email);
	ratelimit_hit(gw->limits, key, now, SIGN_IN_WINDOW_S, INT64_MAX, NULL);
	snprintf(key, sizeof(key), "sign-in-address:%s", ip);
	ratelimit_hit(gw->limits, key, now, SIGN_IN_WINDOW_S, INT64_MAX, NULL);
}

static enum cp_result
cabinet_session_start(struct gateway *gw, int64_t merchant_id, bool signed_in,
                      const char *ip, char *session_id)
{
	struct session s = { .merchant_id = merchant_id, .signed_in = signed_in };
	uint8_t digest[TOKEN_DIGEST_BYTES];
	enum cp_result rc;

	s.created_at = s.last_seen_at = gateway_now_ms(gw) / 1000;
	snprintf(s.ip, sizeof(s.ip), "%s", ip);
	cabinet_random_id(session_id, SESSION_ID_TEXT_MAX);
	cabinet_keyed_hash(gw, "session", session_id, digest);

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_session_insert(gw->store, digest, &s);
	if (rc == CP_OK && signed_in)
		rc = store_audit_insert(gw->store, merchant_id, s.created_at, ip, "sign_in", "");
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	return store_commit(gw->store);
}

enum sign_in_result
cabinet_sign_in(struct gateway *gw, const char *email, const char *password, const char *ip,
                char *session_id, int64_t *retry_after_s)
{
	struct merchant m;
	enum cp_result rc;
	bool known;

	if (email == NULL || password == NULL)
		return SIGN_IN_REJECTED;
	if (!cabinet_sign_in_allowed(gw, email, ip, retry_after_s))
		return SIGN_IN_LIMITED;
	if ((rc = store_begin_read(gw->store)) != CP_OK)
		return SIGN_IN_ERROR;
	rc = store_merchant_find_email(gw->store, email, &m);
	store_rollback(gw->store);
	if (rc == CP_ERROR)
		return SIGN_IN_ERROR;

	/* An unknown account spends the time of a real check, so the response
	 * time does not tell which e-mail addresses have accounts. */
	known = rc == CP_OK && m.password_hash[0] != '\0';
	if (!known) {
		password_verify_dummy(password);
		cabinet_sign_in_failed(gw, email, ip);
		return SIGN_IN_REJECTED;
	}
	if (!password_verify(m.password_hash, password)) {
		cabinet_sign_in_failed(gw, email, ip);
		cabinet_audit(gw, m.id, ip, "sign_in_failed", "wrong password");
		return SIGN_IN_REJECTED;
	}
	if (cabinet_session_start(gw, m.id, !m.totp_enabled, ip, session_id) != CP_OK)
		return SIGN_IN_ERROR;
	log_info("cabinet sign-in", "customer_id", log_int(m.id),
	         "step", m.totp_enabled ? "password" : "complete", NULL);
	return m.totp_enabled ? SIGN_IN_NEED_CODE : SIGN_IN_OK;
}

bool
cabinet_code_valid_locked(struct gateway *gw, const struct merchant *m, const char *code)
{
	char base32[128];
	uint8_t secret[64];
	size_t secret_len = 0;
	int64_t step;
	bool ok = false;

	if (code == NULL || m->totp_secret_sealed[0] == '\0' ||
	    keys_open(&gw->keys, m->totp_secret_sealed, base32, sizeof(base32)) != 0)
		return false;
	if (totp_base32_decode(base32, secret, sizeof(secret), &secret_len) == 0) {
		step = totp_verify(secret, secret_len, code, gateway_now_ms(gw) / 1000,
		                   m->totp_last_step);
		ok = step >= 0 && store_merchant_use_totp_step(gw->store, m->id, step) == CP_OK;
	}
	sodium_memzero(base32, sizeof(base32));
	sodium_memzero(secret, sizeof(secret));
	return ok;
}

enum sign_in_result
cabinet_sign_in_code(struct gateway *gw, const char *session_id, const char *code,
                     const char *ip, int64_t *retry_after_s)
{
	struct cabinet_user user;
	uint8_t digest[TOKEN_DIGEST_BYTES];
	enum cp_result rc;
	bool ok;

	if (cabinet_session_load(gw, session_id, false, &user) != CP_OK || user.session.signed_in)
		return SIGN_IN_REJECTED;
	if (!cabinet_sign_in_allowed(gw, user.merchant.email, ip, retry_after_s))
		return SIGN_IN_LIMITED;
	cabinet_keyed_hash(gw, "session", session_id, digest);

	if ((rc = store_begin(gw->store)) != CP_OK)
		return SIGN_IN_ERROR;
	ok = cabinet_code_valid_locked(gw, &user.merchant, code);
	rc = ok ? store_session_sign_in(gw->store, digest) : CP_OK;
	if (rc == CP_OK)
		rc = store_audit_insert(gw->store, user.merchant.id, gateway_now_ms(gw) / 1000, ip,
		                        ok ? "sign_in" : "sign_in_failed", ok ? "" : "wrong code");
	if (rc != CP_OK || store_commit(gw->store) != CP_OK) {
		if (rc != CP_OK)
			store_rollback(gw->store);
		return SIGN_IN_ERROR;
	}
	if (!ok) {
		cabinet_sign_in_failed(gw, user.merchant.email, ip);
		return SIGN_IN_REJECTED;
	}
	return SIGN_IN_OK;
}

enum cp_result
cabinet_session_load(struct gateway *gw, const char *id, bool require_signed_in,
                     struct cabinet_user *user)
{
	uint8_t digest[TOKEN_DIGEST_BYTES];
	int64_t now = gateway_now_ms(gw) / 1000;
	enum cp_result rc;
	bool expired;

	if (id == NULL || strlen(id) >= SESSION_ID_TEXT_MAX || id[0] == '\0')
		return CP_NOT_FOUND;
	memset(user, 0, sizeof(*user));
	cabinet_keyed_hash(gw, "session", id, digest);

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_session_find(gw->store, digest, &user->session);
	expired = rc == CP_OK && (now - user->session.last_seen_at >= SESSION_IDLE_S ||
	                          now - user->session.created_at >= SESSION_MAX_S);
	if (expired) {
		rc = store_session_delete(gw->store, digest);
		if (rc == CP_OK)
			rc = CP_NOT_FOUND;
	} else if (rc == CP_OK) {
		rc = store_merchant_get(gw->store, user->session.merchant_id, &user->merchant);
		if (rc == CP_OK)
			rc = store_session_touch(gw->store, digest, now);
	}
	if (rc != CP_OK && rc != CP_NOT_FOUND) {
		store_rollback(gw->store);
		return rc;
	}
	if (store_commit(gw->store) != CP_OK)
		return CP_ERROR;
	if (rc != CP_OK || (require_signed_in && !user->session.signed_in))
		return CP_NOT_FOUND;
	snprintf(user->session_id, sizeof(user->session_id), "%s", id);
	cabinet_csrf_token(gw, id, user->csrf_token, sizeof(user->csrf_token));
	return CP_OK;
}

enum cp_result
cabinet_sign_out(struct gateway *gw, const struct cabinet_user *user, const char *ip)
{
	uint8_t digest[TOKEN_DIGEST_BYTES];
	enum cp_result rc;

	cabinet_keyed_hash(gw, "session", user->session_id, digest);
	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_session_delete(gw->store, digest);
	if (rc == CP_OK)
		rc = store_audit_insert(gw->store, user->merchant.id, gateway_now_ms(gw) / 1000,
		                        ip, "sign_out", "");
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	return store_commit(gw->store);
}
