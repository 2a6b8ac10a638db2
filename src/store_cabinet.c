/*
 * Store: cabinet sessions and the audit log.
 */
#include <string.h>

#include "store_internal.h"

enum cp_result
store_session_insert(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES],
                     const struct session *s)
{
	static const char sql[] = "INSERT INTO sessions(digest, merchant_id, signed_in,"
		" created_at, last_seen_at, ip) VALUES (?, ?, ?, ?, ?, ?)";

	return store_exec_stmt(st, store_stmt(st, sql, "biiiit", (const void *)digest,
		(size_t)TOKEN_DIGEST_BYTES, s->merchant_id, (int64_t)s->signed_in,
		s->created_at, s->last_seen_at, s->ip));
}

enum cp_result
store_session_find(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES], struct session *s)
{
	static const char sql[] = "SELECT merchant_id, signed_in, created_at, last_seen_at, ip"
		" FROM sessions WHERE digest = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "b", (const void *)digest,
	                                (size_t)TOKEN_DIGEST_BYTES);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc != CP_OK)
		return rc;
	memset(s, 0, sizeof(*s));
	s->merchant_id = sqlite3_column_int64(stmt, 0);
	s->signed_in = sqlite3_column_int(stmt, 1) != 0;
	s->created_at = sqlite3_column_int64(stmt, 2);
	s->last_seen_at = sqlite3_column_int64(stmt, 3);
	store_col_text(stmt, 4, s->ip, sizeof(s->ip));
	sqlite3_reset(stmt);
	return CP_OK;
}

enum cp_result
store_session_touch(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES], int64_t now)
{
	static const char sql[] = "UPDATE sessions SET last_seen_at = ? WHERE digest = ?";

	return store_exec_stmt(st, store_stmt(st, sql, "ib", now, (const void *)digest,
	                       (size_t)TOKEN_DIGEST_BYTES));
}

enum cp_result
store_session_sign_in(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES])
{
	static const char sql[] = "UPDATE sessions SET signed_in = 1 WHERE digest = ?";

	return store_exec_stmt(st, store_stmt(st, sql, "b", (const void *)digest,
	                       (size_t)TOKEN_DIGEST_BYTES));
}

enum cp_result
store_session_delete(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES])
{
	static const char sql[] = "DELETE FROM sessions WHERE digest = ?";

	return store_exec_stmt(st, store_stmt(st, sql, "b", (const void *)digest,
	                       (size_t)TOKEN_DIGEST_BYTES));
}

enum cp_result
store_session_delete_merchant(struct store *st, int64_t merchant_id)
{
	static const char sql[] = "DELETE FROM sessions WHERE merchant_id = ?";

	return store_exec_stmt(st, store_stmt(st, sql, "i", merchant_id));
}

enum cp_result
store_audit_insert(struct store *st, int64_t merchant_id, int64_t at, const char *ip,
                   const char *action, const char *detail)
{
	static const char sql[] = "INSERT INTO audit_log(merchant_id, at, ip, action, detail)"
		" VALUES (?, ?, ?, ?, ?)";

	return store_exec_stmt(st, store_stmt(st, sql, "iittt", merchant_id, at, ip, action,
	                       detail ? detail : ""));
}

enum cp_result
store_audit_list(struct store *st, int64_t merchant_id, int64_t limit, int64_t offset,
                 store_audit_fn fn, void *arg)
{
	static const char sql[] = "SELECT id, at, ip, action, detail FROM audit_log"
		" WHERE merchant_id = ? ORDER BY id DESC LIMIT ? OFFSET ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "iii", merchant_id, limit, offset);
	struct audit_entry e;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		memset(&e, 0, sizeof(e));
		e.id = sqlite3_column_int64(stmt, 0);
		e.at = sqlite3_column_int64(stmt, 1);
		store_col_text(stmt, 2, e.ip, sizeof(e.ip));
		store_col_text(stmt, 3, e.action, sizeof(e.action));
		store_col_text(stmt, 4, e.detail, sizeof(e.detail));
		fn(&e, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_audit_count(struct store *st, int64_t merchant_id, int64_t *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM audit_log WHERE merchant_id = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", merchant_id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		*count = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}
