/*
 * Helpers shared by the store_*.c files; not part of the store interface.
 */
#ifndef CITYPAY_STORE_INTERNAL_H
#define CITYPAY_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

#define STORE_STMT_CACHE 256 /* distinct statements per connection; about 70 exist */

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
	bool in_transaction;
	/* Prepared statements keyed by the address of their static SQL text. */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
};

/*
 * Return a reset prepared statement for static SQL text, binding the
 * arguments described by fmt: 'i' int64_t, 'n' int64_t stored as NULL when
 * 0, 't' const char * (NULL binds NULL), 'm' money_t bound as integer text,
 * 'b' const void * followed by size_t. NULL on failure, after logging.
 */
sqlite3_stmt *store_stmt(struct store *st, const char *sql, const char *fmt, ...);

/* Step a statement that returns no rows: CP_OK, CP_EXISTS on a unique key. */
enum cp_result store_exec_stmt(struct store *st, sqlite3_stmt *stmt);

/* Step for one row: CP_OK with the row ready, CP_NOT_FOUND, or CP_ERROR. */
enum cp_result store_step_row(struct store *st, sqlite3_stmt *stmt);

/* Copy a text column into buf, truncating to len - 1 bytes; "" for NULL. */
void store_col_text(sqlite3_stmt *stmt, int col, char *buf, size_t len);

/* Read an integer-text money column; 0 for NULL or malformed text. */
money_t store_col_money(sqlite3_stmt *stmt, int col);

/* Log the connection's last error with a short context. */
void store_log_error(struct store *st, const char *context);

#endif
