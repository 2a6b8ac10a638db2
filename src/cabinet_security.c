/*
 * Cabinet routes of the password and two-step verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cabinet_internal.h"
#include "keys.h"
#include "log.h"
#include "password.h"
#include "qr.h"
#include "totp.h"

#define TOTP_ISSUER "CityPay Gateway"

static json_object *
cabinet_security_json(const struct merchant *m, json_object *enrolment)
{
	json_object *data = json_object_new_object();

	json_object_object_add(data, "totp_enabled", json_object_new_boolean(m->totp_enabled));
	json_object_object_add(data, "enrolment", enrolment);
	return data;
}

static int
cabinet_password_change(struct cabinet_request *c)
{
	struct field_errors errs = { .count = 0 };
	const char *current = params_get(&c->r->params, "current_password");
	const char *next = params_get(&c->r->params, "new_password");
	char hash[PASSWORD_HASH_MAX], why[160];
	enum cp_result rc;

	if (current == NULL || !password_verify(c->user.merchant.password_hash, current))
		field_errors_add(&errs, "current_password", "the current password is not correct");
	else if (next == NULL || password_check_policy(next, why, sizeof(why)) != 0)
		field_errors_add(&errs, "new_password", "%s", next ? why : "new_password is missing");
	if (errs.count > 0)
		return cabinet_reply_errors(c, &errs, cabinet_security_json(&c->user.merchant, NULL),
		                            cabinet_page_security, "security");
	if (password_hash(next, hash, sizeof(hash)) != 0)
		return cabinet_internal_error(c, "password hash");

	/* A new password ends every session, this one included. */
	if ((rc = store_begin(c->gw->store)) != CP_OK)
		return cabinet_internal_error(c, "password change");
	rc = store_merchant_set_password(c->gw->store, c->user.merchant.id, hash);
	if (rc == CP_OK)
		rc = store_session_delete_merchant(c->gw->store, c->user.merchant.id);
	if (rc == CP_OK)
		rc = store_audit_insert(c->gw->store, c->user.merchant.id, gateway_now_ms(c->gw) / 1000,
		                        c->r->client_text, "password_changed", "");
	if (rc != CP_OK || store_commit(c->gw->store) != CP_OK) {
		if (rc != CP_OK)
			store_rollback(c->gw->store);
		return cabinet_internal_error(c, "password change");
	}
	http_set_cookie(c->r, SESSION_COOKIE, "", "/cabinet", 0);
	return cabinet_done(c, "/cabinet/login", "password_changed", NULL);
}

/* Start enrolment: a new secret, kept sealed and disabled until a code proves it. */
static int
cabinet_totp_start(struct cabinet_request *c)
{
	uint8_t secret[TOTP_SECRET_BYTES];
	char base32[TOTP_SECRET_TEXT_MAX], sealed[160], uri[TOTP_URI_MAX];
	json_object *enrolment;
	enum cp_result rc;
	size_t svg_len = 0;
	char *svg;

	if (c->user.merchant.totp_enabled) {
		struct field_errors errs = { .count = 0 };
		field_errors_add(&errs, "totp", "two-step verification is already on");
		return cabinet_reply_errors(c, &errs, cabinet_security_json(&c->user.merchant, NULL),
		                            cabinet_page_security, "security");
	}
	totp_secret_generate(secret);
	totp_base32_encode(secret, sizeof(secret), base32, sizeof(base32));
	sodium_memzero(secret, sizeof(secret));
	if (keys_seal(&c->gw->keys, base32, sealed, sizeof(sealed)) != 0)
		return cabinet_internal_error(c, "totp seal");
	if ((rc = store_begin(c->gw->store)) == CP_OK) {
		rc = store_merchant_set_totp(c->gw->store, c->user.merchant.id, sealed, false);
		if (rc == CP_OK)
			rc = store_commit(c->gw->store);
		else
			store_rollback(c->gw->store);
	}
	if (rc != CP_OK)
		return cabinet_internal_error(c, "totp start");

	totp_uri(TOTP_ISSUER, c->user.merchant.email, base32, uri, sizeof(uri));
	svg = qr_svg(uri, &svg_len);
	enrolment = json_object_new_object();
	json_object_object_add(enrolment, "secret", json_object_new_string(base32));
	json_object_object_add(enrolment, "uri", json_object_new_string(uri));
	json_object_object_add(enrolment, "qr_svg", svg ? json_object_new_string(svg) : NULL);
	free(svg);
	sodium_memzero(base32, sizeof(base32));
	return cabinet_reply(c, 200, cabinet_security_json(&c->user.merchant, enrolment),
	                     cabinet_page_security, "security");
}

static int
cabinet_totp_confirm(struct cabinet_request *c)
{
	struct field_errors errs = { .count = 0 };
	struct merchant *m = &c->user.merchant;
	enum cp_result rc;
	bool ok = false;

	if ((rc = store_begin(c->gw->store)) != CP_OK)
		return cabinet_internal_error(c, "totp confirm");
	if (!m->totp_enabled && m->totp_secret_sealed[0] != '\0')
		ok = cabinet_code_valid_locked(c->gw, m, params_get(&c->r->params, "code"));
	if (ok) {
		rc = store_merchant_set_totp(c->gw->store, m->id, m->totp_secret_sealed, true);
		if (rc == CP_OK)
			rc = store_audit_insert(c->gw->store, m->id, gateway_now_ms(c->gw) / 1000,
			                        c->r->client_text, "totp_enabled", "");
	}
	if (rc != CP_OK || store_commit(c->gw->store) != CP_OK) {
		if (rc != CP_OK)
			store_rollback(c->gw->store);
		return cabinet_internal_error(c, "totp confirm");
	}
	if (!ok) {
		field_errors_add(&errs, "code", m->totp_enabled ? "two-step verification is already on"
		                 : "the code is not valid; start the set-up again if the QR code"
		                   " was not scanned");
		return cabinet_reply_errors(c, &errs, cabinet_security_json(m, NULL),
		                            cabinet_page_security, "security");
	}
	log_info("two-step verification enabled", "customer_id", log_int(m->id), NULL);
	m->totp_enabled = true;
	return cabinet_done(c, "/cabinet/security", "totp_enabled",
	                    cabinet_security_json(m, NULL));
}

int
cabinet_security_route(struct cabinet_request *c)
{
	bool post = strcmp(c->r->method, "POST") == 0;

	if (strcmp(c->rest, "security") == 0 && !post)
		return cabinet_reply(c, 200, cabinet_security_json(&c->user.merchant, NULL),
		                     cabinet_page_security, "security");
	if (strcmp(c->rest, "security/password") == 0 && post)
		return cabinet_password_change(c);
	if (strcmp(c->rest, "security/totp/start") == 0 && post)
		return cabinet_totp_start(c);
	if (strcmp(c->rest, "security/totp/confirm") == 0 && post)
		return cabinet_totp_confirm(c);
	return cabinet_not_found(c, "page");
}
