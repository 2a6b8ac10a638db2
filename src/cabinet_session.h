/*
 * Cabinet sign-in and sessions. A session id is 256 random bits sent in a
 * cookie; the store keeps only a keyed digest of it, so a copy of the
 * database cannot be used to take over a session. The CSRF token of a
 * session is a keyed hash of its id, so it needs no storage.
 */
#ifndef CITYPAY_CABINET_SESSION_H
#define CITYPAY_CABINET_SESSION_H

#include <stdbool.h>

#include "gateway.h"

#define SESSION_COOKIE       "citypay_session"
#define SESSION_ID_TEXT_MAX  48               /* base64url of 32 bytes, NUL included */
#define SESSION_IDLE_S       (30 * 60)        /* ends after this long without a request */
#define SESSION_MAX_S        (12 * 3600)      /* ends this long after sign-in */
#define SIGN_IN_WINDOW_S     (15 * 60)        /* window of the failure limits below */
#define SIGN_IN_FAILURES_PER_ACCOUNT 5
#define SIGN_IN_FAILURES_PER_ADDRESS 20

/* The merchant behind a valid session. */
struct cabinet_user {
	struct merchant merchant;
	struct session session;
	char session_id[SESSION_ID_TEXT_MAX];
	char csrf_token[SESSION_ID_TEXT_MAX];
};

enum sign_in_result {
	SIGN_IN_OK = 0,
	SIGN_IN_NEED_CODE,     /* password right; a session awaits the TOTP code */
	SIGN_IN_REJECTED,      /* unknown e-mail, wrong password or wrong code */
	SIGN_IN_LIMITED,       /* too many failures; *retry_after_s is set */
	SIGN_IN_ERROR,
};

/* Derive a CSRF token for any random value (a session id or a pre-session cookie). */
void cabinet_csrf_token(const struct gateway *gw, const char *id, char *out, size_t len);

/* True when the given token equals the derived one, compared in constant time. */
bool cabinet_csrf_valid(const struct gateway *gw, const char *id, const char *token);

/* Write a new random id for a session or a pre-session cookie. */
void cabinet_random_id(char *out, size_t len);

/*
 * Check e-mail and password; on success start a session (signed in, or
 * waiting for the code when two-step verification is on) and write its id.
 * An unknown e-mail takes as long as a wrong password and gets the same
 * result. Failures are limited per account and per address.
 */
enum sign_in_result cabinet_sign_in(struct gateway *gw, const char *email,
                                    const char *password, const char *ip,
                                    char *session_id, int64_t *retry_after_s);

/* Complete a session waiting for its TOTP code. */
enum sign_in_result cabinet_sign_in_code(struct gateway *gw, const char *session_id,
                                         const char *code, const char *ip,
                                         int64_t *retry_after_s);

/*
 * Load the session of id. CP_NOT_FOUND when there is none, or it passed
 * its idle or absolute timeout (then it is deleted). When require_signed_in
 * is false, a session waiting for its code is returned too.
 */
enum cp_result cabinet_session_load(struct gateway *gw, const char *id,
                                    bool require_signed_in, struct cabinet_user *user);

/* End a session on the server. */
enum cp_result cabinet_sign_out(struct gateway *gw, const struct cabinet_user *user,
                                const char *ip);

/* Write an audit entry in its own transaction; failures are logged. */
void cabinet_audit(struct gateway *gw, int64_t merchant_id, const char *ip,
                   const char *action, const char *detail);

/*
 * Check a TOTP code against the merchant's secret and record its step, so
 * it cannot be used twice. Runs inside an open store transaction.
 */
bool cabinet_code_valid_locked(struct gateway *gw, const struct merchant *m,
                               const char *code);

#endif
