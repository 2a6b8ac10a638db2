/*
 * Store: merchants and access tokens.
 */
#include <string.h>

#include "store_internal.h"

#define MERCHANT_COLUMNS \
	"id, company, email, default_currency, enabled_coins, tolerance_under_pct," \
	" tolerance_over_pct, order_expiry_minutes, auto_exchange, created_at," \
	" password_hash, totp_secret_sealed, totp_enabled, totp_last_step"

static void
merchant_from_row(sqlite3_stmt *stmt, struct merchant *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(stmt, 0);
	store_col_text(stmt, 1, m->company, sizeof(m->company));
	store_col_text(stmt, 2, m->email, sizeof(m->email));
	store_col_text(stmt, 3, m->default_currency, sizeof(m->default_currency));
	store_col_text(stmt, 4, m->enabled_coins, sizeof(m->enabled_coins));
	m->tolerance_under_pct = sqlite3_column_int(stmt, 5);
	m->tolerance_over_pct = sqlite3_column_int(stmt, 6);
	m->order_expiry_minutes = sqlite3_column_int(stmt, 7);
	m->auto_exchange = sqlite3_column_int(stmt, 8) != 0;
	m->created_at = sqlite3_column_int64(stmt, 9);
	store_col_text(stmt, 10, m->password_hash, sizeof(m->password_hash));
	store_col_text(stmt, 11, m->totp_secret_sealed, sizeof(m->totp_secret_sealed));
	m->totp_enabled = sqlite3_column_int(stmt, 12) != 0;
	m->totp_last_step = sqlite3_column_int64(stmt, 13);
}

enum cp_result
store_merchant_insert(struct store *st, struct merchant *m)
{
	static const char sql[] =
		"INSERT INTO merchants(company, email, default_currency, enabled_coins,"
		" tolerance_under_pct, tolerance_over_pct, order_expiry_minutes,"
		" auto_exchange, created_at, password_hash)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "ttttiiiiit",
		m->company, m->email, m->default_currency, m->enabled_coins,
		(int64_t)m->tolerance_under_pct, (int64_t)m->tolerance_over_pct,
		(int64_t)m->order_expiry_minutes, (int64_t)m->auto_exchange,
		m->created_at, m->password_hash[0] ? m->password_hash : NULL));

	if (rc == CP_OK)
		m->id = sqlite3_last_insert_rowid(store_db(st));
	return rc;
}

enum cp_result
store_merchant_get(struct store *st, int64_t id, struct merchant *m)
{
	static const char sql[] = "SELECT " MERCHANT_COLUMNS " FROM merchants WHERE id = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		merchant_from_row(stmt, m);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_merchant_update(struct store *st, const struct merchant *m)
{
	static const char sql[] =
		"UPDATE merchants SET default_currency = ?, enabled_coins = ?,"
		" tolerance_under_pct = ?, tolerance_over_pct = ?, order_expiry_minutes = ?,"
		" auto_exchange = ? WHERE id = ?";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "ttiiiii",
		m->default_currency, m->enabled_coins, (int64_t)m->tolerance_under_pct,
		(int64_t)m->tolerance_over_pct, (int64_t)m->order_expiry_minutes,
		(int64_t)m->auto_exchange, m->id));

	if (rc == CP_OK && sqlite3_changes(store_db(st)) == 0)
		return CP_NOT_FOUND;
	return rc;
}

enum cp_result
store_merchant_find_email(struct store *st, const char *email, struct merchant *m)
{
	static const char sql[] = "SELECT " MERCHANT_COLUMNS " FROM merchants"
		" WHERE email = ? COLLATE NOCASE";
	sqlite3_stmt *stmt = store_stmt(st, sql, "t", email);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		merchant_from_row(stmt, m);
		sqlite3_reset(stmt);
	}
	return rc;
}

static enum cp_result
store_changed_one(struct store *st, enum cp_result rc)
{
	if (rc == CP_OK && sqlite3_changes(store_db(st)) == 0)
		return CP_NOT_FOUND;
	return rc;
}

enum cp_result
store_merchant_set_password(struct store *st, int64_t id, const char *hash)
{
	static const char sql[] = "UPDATE merchants SET password_hash = ? WHERE id = ?";

	return store_changed_one(st, store_exec_stmt(st, store_stmt(st, sql, "ti", hash, id)));
}

enum cp_result
store_merchant_set_totp(struct store *st, int64_t id, const char *sealed, bool enabled)
{
	static const char sql[] = "UPDATE merchants SET totp_secret_sealed = ?,"
		" totp_enabled = ? WHERE id = ?";

	return store_changed_one(st, store_exec_stmt(st, store_stmt(st, sql, "tii",
	                         sealed, (int64_t)enabled, id)));
}

enum cp_result
store_merchant_use_totp_step(struct store *st, int64_t id, int64_t step)
{
	static const char sql[] = "UPDATE merchants SET totp_last_step = ?"
		" WHERE id = ? AND totp_last_step < ?";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "iii", step, id, step));

	return rc == CP_OK && sqlite3_changes(store_db(st)) == 0 ? CP_CONFLICT : rc;
}

enum cp_result
store_merchant_list(struct store *st, store_merchant_fn fn, void *arg)
{
	static const char sql[] = "SELECT " MERCHANT_COLUMNS " FROM merchants ORDER BY id";
	sqlite3_stmt *stmt = store_stmt(st, sql, "");
	struct merchant m;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		merchant_from_row(stmt, &m);
		fn(&m, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

#define TOKEN_COLUMNS \
	"id, merchant_id, name, type, currency, ip_whitelist, callback_urls," \
	" success_url, cancel_url, expires_at, mode, digest, last_chars," \
	" signing_secret_sealed, created_at, revoked_at, last_used_at, last_used_ip"

static void
token_from_row(sqlite3_stmt *stmt, struct access_token *t)
{
	char mode[16];
	const void *digest;

	/* Every field is set below, so the 20 KB struct is not cleared first:
	 * this runs on every authenticated request. */
	t->id = sqlite3_column_int64(stmt, 0);
	t->merchant_id = sqlite3_column_int64(stmt, 1);
	store_col_text(stmt, 2, t->name, sizeof(t->name));
	store_col_text(stmt, 3, t->type, sizeof(t->type));
	store_col_text(stmt, 4, t->currency, sizeof(t->currency));
	store_col_text(stmt, 5, t->ip_whitelist, sizeof(t->ip_whitelist));
	store_col_text(stmt, 6, t->callback_urls, sizeof(t->callback_urls));
	store_col_text(stmt, 7, t->success_url, sizeof(t->success_url));
	store_col_text(stmt, 8, t->cancel_url, sizeof(t->cancel_url));
	t->expires_at = sqlite3_column_int64(stmt, 9);
	store_col_text(stmt, 10, mode, sizeof(mode));
	t->mode = strcmp(mode, "sandbox") == 0 ? TOKEN_MODE_SANDBOX : TOKEN_MODE_LIVE;
	digest = sqlite3_column_blob(stmt, 11);
	if (digest != NULL && sqlite3_column_bytes(stmt, 11) == TOKEN_DIGEST_BYTES)
		memcpy(t->digest, digest, TOKEN_DIGEST_BYTES);
	else
		memset(t->digest, 0, TOKEN_DIGEST_BYTES);
	store_col_text(stmt, 12, t->last_chars, sizeof(t->last_chars));
	store_col_text(stmt, 13, t->signing_secret_sealed, sizeof(t->signing_secret_sealed));
	t->created_at = sqlite3_column_int64(stmt, 14);
	t->revoked_at = sqlite3_column_int64(stmt, 15);
	t->last_used_at = sqlite3_column_int64(stmt, 16);
	store_col_text(stmt, 17, t->last_used_ip, sizeof(t->last_used_ip));
	t->whitelist_parsed = false;
}

enum cp_result
store_token_insert(struct store *st, struct access_token *t)
{
	static const char sql[] =
		"INSERT INTO access_tokens(merchant_id, name, type, currency, ip_whitelist,"
		" callback_urls, success_url, cancel_url, expires_at, mode, digest,"
		" last_chars, signing_secret_sealed, created_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "itttttttitbtti",
		t->merchant_id, t->name, t->type, t->currency, t->ip_whitelist,
		t->callback_urls, t->success_url, t->cancel_url, t->expires_at,
		token_mode_name(t->mode), (const void *)t->digest, (size_t)TOKEN_DIGEST_BYTES,
		t->last_chars, t->signing_secret_sealed, t->created_at));

	if (rc == CP_OK)
		t->id = sqlite3_last_insert_rowid(store_db(st));
	return rc;
}

static enum cp_result
store_token_one(struct store *st, sqlite3_stmt *stmt, struct access_token *t)
{
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		token_from_row(stmt, t);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_token_get(struct store *st, int64_t id, struct access_token *t)
{
	static const char sql[] = "SELECT " TOKEN_COLUMNS " FROM access_tokens WHERE id = ?";

	return store_token_one(st, store_stmt(st, sql, "i", id), t);
}

enum cp_result
store_token_find_digest(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES],
                        struct access_token *t)
{
	static const char sql[] = "SELECT " TOKEN_COLUMNS " FROM access_tokens WHERE digest = ?";

	return store_token_one(st, store_stmt(st, sql, "b",
	                       (const void *)digest, (size_t)TOKEN_DIGEST_BYTES), t);
}

enum cp_result
store_token_list(struct store *st, int64_t merchant_id, store_token_fn fn, void *arg)
{
	static const char sql[] = "SELECT " TOKEN_COLUMNS " FROM access_tokens"
		" WHERE merchant_id = ? ORDER BY id";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", merchant_id);
	struct access_token t;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		token_from_row(stmt, &t);
		fn(&t, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_token_revoke(struct store *st, int64_t merchant_id, const char *name, int64_t now)
{
	static const char sql[] = "UPDATE access_tokens SET revoked_at = ?"
		" WHERE merchant_id = ? AND name = ? AND revoked_at IS NULL";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "iit", now, merchant_id, name));

	store_tokens_changed(st);
	if (rc == CP_OK && sqlite3_changes(store_db(st)) == 0)
		return CP_NOT_FOUND;
	return rc;
}

enum cp_result
store_token_touch(struct store *st, int64_t id, int64_t now, const char *ip)
{
	/* An unchanged row is not written, so a busy token costs no page
	 * write per request within one second. */
	static const char sql[] = "UPDATE access_tokens SET last_used_at = ?1, last_used_ip = ?2"
		" WHERE id = ?3 AND (last_used_at IS NOT ?1 OR last_used_ip IS NOT ?2)";

	return store_exec_stmt(st, store_stmt(st, sql, "iti", now, ip, id));
}

enum cp_result
store_token_rotate_secret(struct store *st, int64_t merchant_id, int64_t token_id,
                          const char *new_sealed, int64_t previous_until)
{
	/* Every right-hand side reads the row as it was before this UPDATE. */
	static const char sql[] = "UPDATE access_tokens SET"
		" previous_secret_sealed = CASE WHEN ?4 > 0 THEN signing_secret_sealed END,"
		" previous_secret_until = CASE WHEN ?4 > 0 THEN ?4 END,"
		" signing_secret_sealed = ?3"
		" WHERE merchant_id = ?1 AND id = ?2 AND revoked_at IS NULL";

	store_tokens_changed(st);
	return store_changed_one(st, store_exec_stmt(st, store_stmt(st, sql, "iiti",
	                         merchant_id, token_id, new_sealed, previous_until)));
}

enum cp_result
store_token_revoke_id(struct store *st, int64_t merchant_id, int64_t id, int64_t now)
{
	static const char sql[] = "UPDATE access_tokens SET revoked_at = ?"
		" WHERE merchant_id = ? AND id = ? AND revoked_at IS NULL";

	store_tokens_changed(st);
	return store_changed_one(st, store_exec_stmt(st, store_stmt(st, sql, "iii",
	                         now, merchant_id, id)));
}

enum cp_result
store_token_update(struct store *st, const struct access_token *t)
{
	static const char sql[] =
		"UPDATE access_tokens SET name = ?, type = ?, currency = ?, ip_whitelist = ?,"
		" callback_urls = ?, success_url = ?, cancel_url = ?, expires_at = ?"
		" WHERE id = ? AND merchant_id = ? AND revoked_at IS NULL";

	store_tokens_changed(st);
	return store_changed_one(st, store_exec_stmt(st, store_stmt(st, sql, "tttttttiii",
		t->name, t->type, t->currency, t->ip_whitelist, t->callback_urls,
		t->success_url, t->cancel_url, t->expires_at, t->id, t->merchant_id)));
}
