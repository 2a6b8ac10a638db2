/*
 * The store's connection, transactions, migrations and statement helpers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"
#include "store_internal.h"

#define STORE_BUSY_TIMEOUT_MS 5000

void
store_log_error(struct store *st, const char *context)
{
	log_error("store error", "context", context,
	          "error", sqlite3_errmsg(st->db), NULL);
}

static int
store_exec_sql(struct store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_error("store statement failed", "error", msg ? msg : "unknown", NULL);
	sqlite3_free(msg);
	return -1;
}

static int
store_current_version(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	int version = 0;

	if (sqlite3_prepare_v2(st->db,
	    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
	    -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return version;
}

/* Apply each migration above the stored version in its own transaction. */
static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	if (store_exec_sql(st, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	    " applied_at INTEGER NOT NULL)") != 0) {
		snprintf(err, errlen, "cannot create schema_migrations: %s",
		         sqlite3_errmsg(st->db));
		return -1;
	}

	int current = store_current_version(st);
	for (size_t i = 0; i < schema_migration_count; i++) {
		const struct schema_migration *m = &schema_migrations[i];
		char record[256];

		if (m->version <= current)
			continue;
		snprintf(record, sizeof(record),
		         "INSERT INTO schema_migrations(version, name, applied_at)"
		         " VALUES (%d, '%s', strftime('%%s', 'now'))", m->version, m->name);
		if (store_exec_sql(st, "BEGIN IMMEDIATE") != 0 ||
		    store_exec_sql(st, m->sql) != 0 ||
		    store_exec_sql(st, record) != 0 ||
		    store_exec_sql(st, "COMMIT") != 0) {
			snprintf(err, errlen, "migration %d (%s) failed: %s",
			         m->version, m->name, sqlite3_errmsg(st->db));
			store_exec_sql(st, "ROLLBACK");
			return -1;
		}
		log_info("schema migrated", "version", log_int(m->version), "name", m->name, NULL);
	}
	return 0;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);

	if (sqlite3_open_v2(path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		         st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

	/* WAL lets readers run beside the writer; FULL syncs the WAL on every
	 * commit, so a request that got a success response survives a power cut. */
	if (store_exec_sql(st, "PRAGMA journal_mode=WAL") != 0 ||
	    store_exec_sql(st, "PRAGMA synchronous=FULL") != 0 ||
	    store_exec_sql(st, "PRAGMA foreign_keys=ON") != 0) {
		snprintf(err, errlen, "cannot configure database %s: %s", path,
		         sqlite3_errmsg(st->db));
		goto fail;
	}
	if (store_migrate(st, err, errlen) != 0)
		goto fail;
	return st;

fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int
store_schema_version(struct store *st)
{
	return store_current_version(st);
}

static enum cp_result
store_begin_with(struct store *st, const char *sql)
{
	pthread_mutex_lock(&st->lock);
	if (store_exec_sql(st, sql) != 0) {
		pthread_mutex_unlock(&st->lock);
		return CP_ERROR;
	}
	st->in_transaction = true;
	return CP_OK;
}

enum cp_result
store_begin(struct store *st)
{
	return store_begin_with(st, "BEGIN IMMEDIATE");
}

enum cp_result
store_begin_read(struct store *st)
{
	return store_begin_with(st, "BEGIN");
}

enum cp_result
store_commit(struct store *st)
{
	enum cp_result rc = CP_OK;

	if (store_exec_sql(st, "COMMIT") != 0) {
		store_exec_sql(st, "ROLLBACK");
		rc = CP_ERROR;
	}
	st->in_transaction = false;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void
store_rollback(struct store *st)
{
	store_exec_sql(st, "ROLLBACK");
	st->in_transaction = false;
	pthread_mutex_unlock(&st->lock);
}

static sqlite3_stmt *
store_cached(struct store *st, const char *sql)
{
	int free_slot = -1;

	for (int i = 0; i < STORE_STMT_CACHE; i++) {
		if (st->cache[i].sql == sql) {
			sqlite3_reset(st->cache[i].stmt);
			sqlite3_clear_bindings(st->cache[i].stmt);
			return st->cache[i].stmt;
		}
		if (st->cache[i].sql == NULL && free_slot < 0)
			free_slot = i;
	}

	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &stmt, NULL) != SQLITE_OK) {
		store_log_error(st, "prepare");
		return NULL;
	}
	if (free_slot >= 0) {
		st->cache[free_slot].sql = sql;
		st->cache[free_slot].stmt = stmt;
	} else {
		/* NOTE: a full cache is a programming error (more distinct
		 * statements than STORE_STMT_CACHE); the statement leaks until
		 * close instead of failing the request. */
		log_error("statement cache full", NULL);
	}
	return stmt;
}

static int
store_bind_one(sqlite3_stmt *stmt, int index, char kind, va_list *ap)
{
	switch (kind) {
	case 'i':
		return sqlite3_bind_int64(stmt, index, va_arg(*ap, int64_t));
	case 'n': {
		int64_t v = va_arg(*ap, int64_t);
		return v ? sqlite3_bind_int64(stmt, index, v) : sqlite3_bind_null(stmt, index);
	}
	case 't': {
		const char *s = va_arg(*ap, const char *);
		return s ? sqlite3_bind_text(stmt, index, s, -1, SQLITE_TRANSIENT)
		         : sqlite3_bind_null(stmt, index);
	}
	case 'm': {
		char text[MONEY_TEXT_MAX];
		money_units_format(va_arg(*ap, money_t), text, sizeof(text));
		return sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
	}
	case 'b': {
		const void *p = va_arg(*ap, const void *);
		size_t n = va_arg(*ap, size_t);
		return sqlite3_bind_blob(stmt, index, p, (int)n, SQLITE_TRANSIENT);
	}
	default:
		return SQLITE_MISUSE;
	}
}

sqlite3_stmt *
store_stmt(struct store *st, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *stmt = store_cached(st, sql);
	va_list ap;

	if (stmt == NULL)
		return NULL;
	/* A format that names more or fewer values than the SQL has
	 * placeholders is a programming error; stop before binding garbage. */
	if ((int)strlen(fmt) != sqlite3_bind_parameter_count(stmt)) {
		log_error("statement arguments do not match placeholders", "sql", sql, NULL);
		abort();
	}
	va_start(ap, fmt);
	for (int i = 0; fmt[i] != '\0'; i++) {
		if (store_bind_one(stmt, i + 1, fmt[i], &ap) != SQLITE_OK) {
			va_end(ap);
			store_log_error(st, "bind");
			return NULL;
		}
	}
	va_end(ap);
	return stmt;
}

enum cp_result
store_exec_stmt(struct store *st, sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return CP_ERROR;

	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return CP_OK;
	if (rc == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_UNIQUE)
		return CP_EXISTS;
	store_log_error(st, "step");
	return CP_ERROR;
}

enum cp_result
store_step_row(struct store *st, sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return CP_ERROR;

	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		return CP_OK;
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return CP_NOT_FOUND;
	store_log_error(st, "step");
	return CP_ERROR;
}

void
store_col_text(sqlite3_stmt *stmt, int col, char *buf, size_t len)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);

	if (len == 0)
		return;
	buf[0] = '\0';
	if (text != NULL)
		snprintf(buf, len, "%s", (const char *)text);
}

money_t
store_col_money(sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);
	money_t v = 0;

	if (text == NULL || money_units_parse((const char *)text, &v) != 0)
		return 0;
	return v;
}
