/*
 * Helpers shared by the store_*.c files; not part of the store interface.
 */
#ifndef CITYPAY_STORE_INTERNAL_H
#define CITYPAY_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "store.h"

#define STORE_STMT_CACHE 256 /* distinct statements per connection; about 70 exist */
#define STORE_READERS    8   /* read-only connections, opened on first use */
/* WAL frames (pages) after which the leader copies the WAL into the
 * database, as SQLite's automatic checkpoint would (its default). */
#define STORE_CHECKPOINT_FRAMES 1000

/* One SQLite connection, its mutex and its prepared statements. */
struct store_conn {
	struct store *owner;
	sqlite3 *db;
	pthread_mutex_t lock;           /* held from begin to commit or rollback */
	/* Prepared statements keyed by the address of their static SQL text. */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
};

/* A thread waiting in store_commit() until its batch is durable. Each one
 * sleeps on its own condition, so a leader wakes only the threads whose
 * batch it finished and the one that leads next. A waiter of
 * store_commit_async() has no thread: it has a callback instead, and the
 * committer thread leads for it. */
struct store_waiter {
	uint64_t batch;                 /* for a read, the last batch it may have seen */
	bool done;
	enum cp_result rc;
	pthread_cond_t wake;
	struct store_async async;       /* async.done is NULL for a waiting thread */
	char request_id[64];            /* logged by async.done */
	struct store_waiter *next;
};

/*
 * Group commit: write transactions run one at a time on the writer
 * connection, each inside a savepoint of one open batch transaction. A
 * finished transaction releases its savepoint and the connection, then waits
 * until its batch is durable. The first waiter to find no sync running
 * becomes the leader: it COMMITs the open batch and then, without holding
 * the writer connection, syncs the WAL file with fdatasync(). While it
 * syncs, new transactions run and gather in the next batch, which the next
 * leader commits and syncs. Concurrent requests so share one sync, and the
 * sync of one batch overlaps the work of the next.
 *
 * The writer connection uses synchronous=NORMAL, so COMMIT only writes the
 * batch into the WAL; the leader's fdatasync() is the sync that
 * synchronous=FULL would do inside COMMIT, made outside the connection.
 * A commit is visible to readers before it is durable, so a read
 * transaction, too, ends only once every batch it could have seen is
 * durable: no response shows a row that a power cut could undo.
 *
 * Lock order: writer.lock before sync_lock.
 */
struct store {
	char path[4096];
	struct store_conn writer;
	struct store_conn readers[STORE_READERS];
	int reader_count;               /* 0 for an in-memory database */
	unsigned next_reader;           /* where the search for a free reader starts */

	/* Guarded by writer.lock. */
	bool batch_open;                /* BEGIN IMMEDIATE issued, COMMIT not yet */
	bool tokens_changed;            /* the open batch changed an access token */
	uint64_t batch;                 /* number of the open or last batch */
	int batch_released;             /* transactions released into the open batch */

	/* Guarded by sync_lock. */
	pthread_mutex_t sync_lock;
	bool syncing;                   /* a leader is committing and syncing */
	struct store_waiter *waiters;
	int async_waiters;              /* waiters of store_commit_async() */
	pthread_cond_t committer_wake;  /* signalled when async_waiters need a leader */
	bool committer_started;
	bool committer_stop;
	pthread_t committer;

	/* Read and written atomically. A batch is visible from the moment
	 * its COMMIT starts, and durable once a sync after its COMMIT ended. */
	uint64_t visible;
	uint64_t durable;
	bool sync_failed;               /* fdatasync() failed: writes are refused */

	/* Set at open. */
	int wal_fd;                     /* the WAL file; -1 when COMMIT syncs itself */
	bool relaxed;                   /* store_relax_sync(): commits skip the sync */

	/* Checkpoints: the leader copies the bulk of the WAL on a connection
	 * of its own after its sync, while transactions go on. The next
	 * leader finishes the copy on the writer between its COMMIT and the
	 * next BEGIN, which lets the COMMIT after that start the WAL over. */
	sqlite3 *checkpoint_db;
	int wal_frames;                 /* WAL size after the last COMMIT; writer.lock */
	bool wal_copied;                /* bulk copied since the WAL last started over; atomic */

	/* The access token version, shared through a mapped file by every
	 * process on the database (local_token_version for :memory:). */
	uint64_t *token_version;
	uint64_t local_token_version;
	void *token_version_map;

	/* Updated atomically; read by store_stats(). */
	uint64_t transactions;
	uint64_t commits;
	uint64_t syncs;
	uint64_t checkpoints;
};

/* Mark the open write transaction as changing an access token row, so the
 * token version rises after its COMMIT. */
void store_tokens_changed(struct store *st);

/* The connection the calling thread's transaction runs on. */
sqlite3 *store_db(struct store *st);

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
