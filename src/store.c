/*
 * The store's connection, transactions, migrations and statement helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "schema.h"
#include "store_internal.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* The connection of the calling thread's open transaction, if any. */
static _Thread_local struct store_conn *store_current;

static struct store_conn *
store_conn(struct store *st)
{
	if (store_current != NULL && store_current->owner == st)
		return store_current;
	return &st->writer;
}

sqlite3 *
store_db(struct store *st)
{
	return store_conn(st)->db;
}

void
store_log_error(struct store *st, const char *context)
{
	log_error("store error", "context", context,
	          "error", sqlite3_errmsg(store_db(st)), NULL);
}

static int
store_exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
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

	if (sqlite3_prepare_v2(st->writer.db,
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
	sqlite3 *db = st->writer.db;

	if (store_exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	    " applied_at INTEGER NOT NULL)") != 0) {
		snprintf(err, errlen, "cannot create schema_migrations: %s",
		         sqlite3_errmsg(db));
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
		if (store_exec_sql(db, "BEGIN IMMEDIATE") != 0 ||
		    store_exec_sql(db, m->sql) != 0 ||
		    store_exec_sql(db, record) != 0 ||
		    store_exec_sql(db, "COMMIT") != 0) {
			snprintf(err, errlen, "migration %d (%s) failed: %s",
			         m->version, m->name, sqlite3_errmsg(db));
			store_exec_sql(db, "ROLLBACK");
			return -1;
		}
		log_info("schema migrated", "version", log_int(m->version), "name", m->name, NULL);
	}
	return 0;
}

static int
store_conn_open(struct store *st, struct store_conn *c, int flags)
{
	c->owner = st;
	if (sqlite3_open_v2(st->path, &c->db, flags, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
	return 0;
}

static void
store_conn_close(struct store_conn *c)
{
	for (int i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(c->cache[i].stmt);
	sqlite3_close(c->db);
	c->db = NULL;
	pthread_mutex_destroy(&c->lock);
}

#define STORE_TOKEN_VERSION_SUFFIX ".token-version"

/*
 * Map the token version file beside the database, creating it (mode 0600)
 * on first use. Every process that opens the database maps the same 8
 * bytes, so a change made by citypayctl reaches the daemon's token cache.
 */
static int
store_map_token_version(struct store *st, char *err, size_t errlen)
{
	char path[sizeof(st->path) + sizeof(STORE_TOKEN_VERSION_SUFFIX)];
	struct stat sb;
	void *map;
	int fd;

	if (st->reader_count == 0) {
		st->token_version = &st->local_token_version;
		return 0;
	}
	snprintf(path, sizeof(path), "%s%s", st->path, STORE_TOKEN_VERSION_SUFFIX);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &sb) != 0 ||
	    (sb.st_size < (off_t)sizeof(uint64_t) && ftruncate(fd, sizeof(uint64_t)) != 0)) {
		snprintf(err, errlen, "cannot open %s: %s; it must be writable by every"
		         " process that opens the database", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	map = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
		return -1;
	}
	st->token_version_map = map;
	st->token_version = map;
	return 0;
}

uint64_t
store_token_version(struct store *st)
{
	return __atomic_load_n(st->token_version, __ATOMIC_ACQUIRE);
}

void
store_tokens_changed(struct store *st)
{
	st->tokens_changed = true;
}

/* Called by SQLite after each COMMIT on the writer with the WAL's size. */
static int
store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *st = arg;

	(void)db;
	(void)name;
	st->wal_frames = frames;
	if (frames < STORE_CHECKPOINT_FRAMES)
		__atomic_store_n(&st->wal_copied, false, __ATOMIC_RELAXED);
	return SQLITE_OK;
}

/*
 * Open the checkpoint connection and stop the writer's own automatic
 * checkpoint, which runs inside COMMIT while the writer is held.
 */
static int
store_open_checkpointer(struct store *st, char *err, size_t errlen)
{
	if (sqlite3_open_v2(st->path, &st->checkpoint_db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s for checkpoints: %s", st->path,
		         st->checkpoint_db ? sqlite3_errmsg(st->checkpoint_db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(st->checkpoint_db, STORE_BUSY_TIMEOUT_MS);
	/* Replaces SQLite's automatic checkpoint, which is a WAL hook too. */
	sqlite3_wal_hook(st->writer.db, store_wal_hook, st);
	return 0;
}

/*
 * Copy the WAL into the database with a PASSIVE checkpoint on db, which
 * waits for no reader or writer and syncs the WAL before copying and the
 * database after. True when every frame was copied.
 */
static bool
store_checkpoint(struct store *st, sqlite3 *db)
{
	int frames = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	                                   &frames, &copied);

	if (rc == SQLITE_OK) {
		__atomic_add_fetch(&st->checkpoints, 1, __ATOMIC_RELAXED);
		return copied == frames;
	}
	if (rc != SQLITE_BUSY)
		log_error("WAL checkpoint failed", "path", st->path,
		          "error", sqlite3_errmsg(db), NULL);
	return false;
}

#define STORE_WAL_SUFFIX "-wal"

/*
 * Open the WAL file for the leader's fdatasync() (see store_internal.h) and
 * let COMMIT skip its own sync (synchronous=NORMAL). Without a WAL file (an
 * in-memory database, or a file system where SQLite kept another journal
 * mode) COMMIT keeps syncing under synchronous=FULL.
 */
static int
store_open_wal(struct store *st, char *err, size_t errlen)
{
	char path[sizeof(st->path) + sizeof(STORE_WAL_SUFFIX)];
	char *slash;
	int dir;

	if (st->reader_count == 0)
		return 0;
	snprintf(path, sizeof(path), "%s%s", st->path, STORE_WAL_SUFFIX);
	st->wal_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (st->wal_fd < 0) {
		log_warn("no WAL file beside the database; every COMMIT syncs itself",
		         "path", path, "error", strerror(errno), NULL);
		return 0;
	}
	/* The file's directory entry must be durable as well. SQLite syncs
	 * the directory with its own first sync of the WAL, which
	 * synchronous=NORMAL puts off until a checkpoint. */
	slash = strrchr(path, '/');
	if (slash == path)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	dir = open(slash != NULL ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || fsync(dir) != 0) {
		snprintf(err, errlen, "cannot sync the directory of %s: %s",
		         st->path, strerror(errno));
		if (dir >= 0)
			close(dir);
		return -1;
	}
	close(dir);
	if (store_exec_sql(st->writer.db, "PRAGMA synchronous=NORMAL") != 0) {
		snprintf(err, errlen, "cannot configure database %s: %s", st->path,
		         sqlite3_errmsg(st->writer.db));
		return -1;
	}
	return store_open_checkpointer(st, err, errlen);
}

/*
 * Make every frame written to the WAL so far durable: 0, or -1 after
 * logging. Linux syncs a file's data whichever descriptor wrote it.
 */
static int
store_sync_wal(struct store *st)
{
	struct stat sb;

	if (st->wal_fd < 0)
		return 0;
	/* SQLite deletes the WAL only when its last connection closes, and
	 * this store's writer stays open. A replaced file would leave the new
	 * frames unsynced, so it fails the sync. */
	if (fstat(st->wal_fd, &sb) != 0 || sb.st_nlink == 0) {
		log_error("the WAL file was removed while the store was open",
		          "path", st->path, NULL);
		return -1;
	}
	if (fdatasync(st->wal_fd) != 0) {
		log_error("syncing the WAL failed", "path", st->path,
		          "error", strerror(errno), NULL);
		return -1;
	}
	__atomic_add_fetch(&st->syncs, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Process-wide SQLite settings, made before the first connection opens.
 * Without them every sqlite3_malloc() takes a global mutex to count memory
 * that the daemon never reads. The call fails harmlessly if something
 * else has already initialized SQLite in this process.
 */
static void
store_configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	struct store *st;

	pthread_once(&configured, store_configure_sqlite);
	st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (snprintf(st->path, sizeof(st->path), "%s", path) >= (int)sizeof(st->path)) {
		snprintf(err, errlen, "database path is longer than %zu bytes",
		         sizeof(st->path) - 1);
		free(st);
		return NULL;
	}
	st->wal_fd = -1;
	pthread_mutex_init(&st->writer.lock, NULL);
	pthread_mutex_init(&st->sync_lock, NULL);
	pthread_cond_init(&st->committer_wake, NULL);
	for (int i = 0; i < STORE_READERS; i++)
		pthread_mutex_init(&st->readers[i].lock, NULL);
	/* Another connection to an in-memory database is another database. */
	if (strcmp(path, ":memory:") != 0 && path[0] != '\0')
		st->reader_count = STORE_READERS;

	if (store_conn_open(st, &st->writer,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX) != 0) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		         st->writer.db ? sqlite3_errmsg(st->writer.db) : "out of memory");
		goto fail;
	}

	/* WAL lets readers run beside the writer; FULL syncs the WAL on every
	 * commit until store_open_wal() moves that sync out of COMMIT. */
	if (store_exec_sql(st->writer.db, "PRAGMA journal_mode=WAL") != 0 ||
	    store_exec_sql(st->writer.db, "PRAGMA synchronous=FULL") != 0 ||
	    store_exec_sql(st->writer.db, "PRAGMA foreign_keys=ON") != 0) {
		snprintf(err, errlen, "cannot configure database %s: %s", path,
		         sqlite3_errmsg(st->writer.db));
		goto fail;
	}
	if (store_migrate(st, err, errlen) != 0 ||
	    store_map_token_version(st, err, errlen) != 0 ||
	    store_open_wal(st, err, errlen) != 0)
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
	if (st->committer_started) {
		/* The committer finishes the waiters it has before it ends. */
		pthread_mutex_lock(&st->sync_lock);
		st->committer_stop = true;
		pthread_cond_signal(&st->committer_wake);
		pthread_mutex_unlock(&st->sync_lock);
		pthread_join(st->committer, NULL);
	}
	if (st->writer.db != NULL)
		sqlite3_wal_hook(st->writer.db, NULL, NULL);
	sqlite3_close(st->checkpoint_db);
	for (int i = 0; i < STORE_READERS; i++)
		store_conn_close(&st->readers[i]);
	store_conn_close(&st->writer);
	if (st->token_version_map != NULL)
		munmap(st->token_version_map, sizeof(uint64_t));
	if (st->wal_fd >= 0)
		close(st->wal_fd);
	pthread_cond_destroy(&st->committer_wake);
	pthread_mutex_destroy(&st->sync_lock);
	free(st);
}

enum cp_result
store_relax_sync(struct store *st)
{
	st->relaxed = true;
	return store_exec_sql(st->writer.db, "PRAGMA synchronous=NORMAL") == 0 ? CP_OK : CP_ERROR;
}

int
store_schema_version(struct store *st)
{
	return store_current_version(st);
}

static sqlite3_stmt *
store_conn_cached(struct store_conn *c, const char *sql)
{
	int free_slot = -1;

	for (int i = 0; i < STORE_STMT_CACHE; i++) {
		if (c->cache[i].sql == sql) {
			sqlite3_reset(c->cache[i].stmt);
			sqlite3_clear_bindings(c->cache[i].stmt);
			return c->cache[i].stmt;
		}
		if (c->cache[i].sql == NULL && free_slot < 0)
			free_slot = i;
	}

	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &stmt, NULL) != SQLITE_OK) {
		log_error("store error", "context", "prepare",
		          "error", sqlite3_errmsg(c->db), NULL);
		return NULL;
	}
	if (free_slot >= 0) {
		c->cache[free_slot].sql = sql;
		c->cache[free_slot].stmt = stmt;
	} else {
		/* NOTE: a full cache is a programming error (more distinct
		 * statements than STORE_STMT_CACHE); the statement leaks until
		 * close instead of failing the request. */
		log_error("statement cache full", NULL);
	}
	return stmt;
}

static sqlite3_stmt *
store_cached(struct store *st, const char *sql)
{
	return store_conn_cached(store_conn(st), sql);
}

/* Transaction statements, prepared once per connection like the queries. */
static const char sql_begin[] = "BEGIN";
static const char sql_begin_immediate[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_savepoint[] = "SAVEPOINT request";
static const char sql_release[] = "RELEASE request";
static const char sql_rollback_to[] = "ROLLBACK TO request";

/* Run a transaction statement on c: 0, or -1 after logging the error. */
static int
store_control(struct store_conn *c, const char *sql)
{
	sqlite3_stmt *stmt = store_conn_cached(c, sql);
	int rc;

	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	log_error("store statement failed", "sql", sql,
	          "error", sqlite3_errmsg(c->db), NULL);
	return -1;
}

/*
 * Reset every statement still stepping, so that no statement keeps a read
 * snapshot open after its transaction (it would hold back WAL checkpoints).
 */
static void
store_conn_reset_all(struct store_conn *c)
{
	sqlite3_stmt *stmt = NULL;

	while ((stmt = sqlite3_next_stmt(c->db, stmt)) != NULL)
		if (sqlite3_stmt_busy(stmt))
			sqlite3_reset(stmt);
}

/*
 * Finish the waiters of the batches first to last with rc and wake each.
 * Called with sync_lock held.
 */
static void
store_waiters_finish(struct store *st, uint64_t first, uint64_t last, enum cp_result rc)
{
	struct store_waiter **w = &st->waiters;

	while (*w != NULL) {
		struct store_waiter *done = *w;

		if (done->batch < first || done->batch > last) {
			w = &done->next;
			continue;
		}
		*w = done->next;
		if (done->async.done != NULL) {
			char caller_id[sizeof(done->request_id)];

			/* The leader may be a request thread with an id of its own. */
			snprintf(caller_id, sizeof(caller_id), "%s", log_request_id_get());
			log_set_request_id(done->request_id);
			st->async_waiters--;
			done->async.done(done->async.arg, rc);
			log_set_request_id(caller_id);
			free(done);
			continue;
		}
		done->rc = rc;
		done->done = true;
		pthread_cond_signal(&done->wake);
	}
}

/*
 * Wake the thread that leads the next round for the waiters left, which
 * belong to the open batch: the first waiting thread, or else the
 * committer thread. Called with sync_lock held.
 */
static void
store_wake_next_leader(struct store *st)
{
	for (struct store_waiter *w = st->waiters; w != NULL; w = w->next) {
		if (w->async.done == NULL) {
			pthread_cond_signal(&w->wake);
			return;
		}
	}
	if (st->async_waiters > 0)
		pthread_cond_signal(&st->committer_wake);
}

/*
 * End the open batch with rc: wake its waiters with that result. Called
 * with writer.lock held when the batch was lost.
 */
static void
store_batch_finish(struct store *st, enum cp_result rc)
{
	st->batch_open = false;
	pthread_mutex_lock(&st->sync_lock);
	store_waiters_finish(st, st->batch, st->batch, rc);
	pthread_mutex_unlock(&st->sync_lock);
}

/*
 * SQLite rolls back the whole transaction on some errors (a full disk, an
 * I/O error). The batch is then lost: every transaction released into it
 * must fail, and nothing may be added to it.
 */
static bool
store_batch_lost(struct store *st)
{
	if (st->batch_open && sqlite3_get_autocommit(st->writer.db)) {
		log_error("store batch rolled back by SQLite; its transactions fail",
		          "batch", log_int(st->batch), NULL);
		store_batch_finish(st, CP_ERROR);
		return true;
	}
	return false;
}

enum cp_result
store_begin(struct store *st)
{
	struct store_conn *c = &st->writer;

	if (__atomic_load_n(&st->sync_failed, __ATOMIC_ACQUIRE)) {
		log_error("write rejected: an earlier sync of the WAL failed;"
		          " restart citypayd once the disk is fixed", NULL);
		return CP_ERROR;
	}
	pthread_mutex_lock(&c->lock);
	store_batch_lost(st);
	if (!st->batch_open) {
		if (store_control(c, sql_begin_immediate) != 0) {
			pthread_mutex_unlock(&c->lock);
			return CP_ERROR;
		}
		st->batch_open = true;
		st->batch_released = 0;
		st->batch++;
	}
	if (store_control(c, sql_savepoint) != 0) {
		store_batch_lost(st);
		pthread_mutex_unlock(&c->lock);
		return CP_ERROR;
	}
	store_current = c;
	return CP_OK;
}

/*
 * Run a read on a reader connection, which reads only committed rows and
 * ends once they are durable. Without readers (in-memory databases), a
 * read runs like a write.
 */
enum cp_result
store_begin_read(struct store *st)
{
	struct store_conn *c = NULL;
	unsigned start = __atomic_fetch_add(&st->next_reader, 1, __ATOMIC_RELAXED);

	if (st->reader_count == 0)
		return store_begin(st);
	for (int i = 0; i < st->reader_count && c == NULL; i++) {
		struct store_conn *r = &st->readers[(start + (unsigned)i) % (unsigned)st->reader_count];
		if (pthread_mutex_trylock(&r->lock) == 0)
			c = r;
	}
	if (c == NULL) {
		c = &st->readers[start % (unsigned)st->reader_count];
		pthread_mutex_lock(&c->lock);
	}
	/* c->lock admits one thread at a time, so SQLite's own mutex on the
	 * connection would only add a lock and an unlock to every call. */
	if (c->db == NULL && store_conn_open(st, c,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX) != 0) {
		log_error("failed to open a reader connection", "error",
		          c->db ? sqlite3_errmsg(c->db) : "out of memory", NULL);
		sqlite3_close(c->db);
		c->db = NULL;
		pthread_mutex_unlock(&c->lock);
		return CP_ERROR;
	}
	if (store_control(c, sql_begin) != 0) {
		pthread_mutex_unlock(&c->lock);
		return CP_ERROR;
	}
	store_current = c;
	return CP_OK;
}

/*
 * As the leader, COMMIT the open batch, then sync the WAL without holding
 * the writer connection, so the next batch gathers meanwhile. Returns the
 * number of the batch committed (0 when none was open) and its result in
 * *rc. Sets *checkpoint when the WAL has grown past STORE_CHECKPOINT_FRAMES.
 */
static uint64_t
store_lead(struct store *st, enum cp_result *rc, bool *checkpoint)
{
	uint64_t batch = 0;

	*rc = CP_OK;
	*checkpoint = false;
	pthread_mutex_lock(&st->writer.lock);
	/* While this thread holds the writer, no transaction is half done,
	 * so the batch contains only released savepoints. */
	if (!store_batch_lost(st) && st->batch_open) {
		batch = st->batch;
		/* Set before COMMIT, which makes the batch visible to readers. */
		__atomic_store_n(&st->visible, batch, __ATOMIC_SEQ_CST);
		if (store_control(&st->writer, sql_commit) != 0) {
			store_control(&st->writer, sql_rollback);
			*rc = CP_ERROR;
		}
		__atomic_add_fetch(&st->commits, 1, __ATOMIC_RELAXED);
		/* Raised after the COMMIT, and before its waiters return,
		 * so a cache never keeps a row older than a finished change. */
		if (st->tokens_changed) {
			__atomic_add_fetch(st->token_version, 1, __ATOMIC_RELEASE);
			st->tokens_changed = false;
		}
		store_conn_reset_all(&st->writer);
		st->batch_open = false;
		if (st->checkpoint_db != NULL && st->wal_frames >= STORE_CHECKPOINT_FRAMES) {
			/* No batch is open, so after this short copy of the last
			 * few batches the next COMMIT can start the WAL over. */
			if (__atomic_load_n(&st->wal_copied, __ATOMIC_RELAXED))
				store_checkpoint(st, st->writer.db);
			else
				*checkpoint = true;
		}
	}
	pthread_mutex_unlock(&st->writer.lock);

	/* A batch after a failed sync fails too. Since Linux 4.13 a write-back
	 * error is reported once per open file description (errseq_t), so this
	 * batch's fdatasync() can return 0 although frames of the failed batch
	 * never reached the disk.
	 * WAL frame checksums are cumulative (see the format notes in SQLite's
	 * src/wal.c), so recovery would drop this batch's frames as well. */
	if (batch != 0 && *rc == CP_OK && __atomic_load_n(&st->sync_failed, __ATOMIC_ACQUIRE)) {
		log_error("batch failed: an earlier sync of the WAL failed; restart citypayd"
		          " once the disk is fixed", "batch", log_int(batch), NULL);
		*rc = CP_ERROR;
	}
	if (batch != 0 && *rc == CP_OK && !st->relaxed && store_sync_wal(st) != 0) {
		__atomic_store_n(&st->sync_failed, true, __ATOMIC_RELEASE);
		*rc = CP_ERROR;
	}
	return batch;
}

/*
 * Lead one round: COMMIT the open batch, sync it, finish its waiters and
 * wake the next leader. Called with sync_lock held and no leader running;
 * returns with sync_lock held.
 */
static void
store_lead_round(struct store *st)
{
	enum cp_result lead_rc;
	bool checkpoint;
	uint64_t batch;

	st->syncing = true;
	pthread_mutex_unlock(&st->sync_lock);
	batch = store_lead(st, &lead_rc, &checkpoint);
	pthread_mutex_lock(&st->sync_lock);
	if (batch != 0)
		store_waiters_finish(st, 0, batch, lead_rc);
	/* Every batch made visible is now durable, or failed. */
	__atomic_store_n(&st->durable, __atomic_load_n(&st->visible, __ATOMIC_SEQ_CST),
	                 __ATOMIC_RELEASE);
	if (checkpoint) {
		/* Still the leader, so no COMMIT runs before the checkpoint
		 * ends; the waiters just finished leave now. */
		pthread_mutex_unlock(&st->sync_lock);
		if (store_checkpoint(st, st->checkpoint_db))
			__atomic_store_n(&st->wal_copied, true, __ATOMIC_RELAXED);
		pthread_mutex_lock(&st->sync_lock);
	}
	st->syncing = false;
	store_wake_next_leader(st);
}

/*
 * Wait until w is done: its batch is durable or failed. When no leader is
 * running, lead one round. The caller has put w on the waiter list.
 */
static enum cp_result
store_wait(struct store *st, struct store_waiter *w)
{
	pthread_mutex_lock(&st->sync_lock);
	while (!w->done) {
		if (st->syncing)
			pthread_cond_wait(&w->wake, &st->sync_lock);
		else
			store_lead_round(st);
	}
	pthread_mutex_unlock(&st->sync_lock);
	pthread_cond_destroy(&w->wake);
	return w->rc;
}

/*
 * The committer thread: leads the rounds for the waiters of
 * store_commit_async(), which have no thread of their own. It ends once
 * store_close() requests it and no such waiter is left.
 */
static void *
store_committer_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->sync_lock);
	for (;;) {
		if (st->async_waiters > 0 && !st->syncing)
			store_lead_round(st);
		else if (st->committer_stop && st->async_waiters == 0)
			break;
		else
			pthread_cond_wait(&st->committer_wake, &st->sync_lock);
	}
	pthread_mutex_unlock(&st->sync_lock);
	return NULL;
}

/* Wait until every batch a read may have seen, up to visible, is durable. */
static enum cp_result
store_wait_read(struct store *st, uint64_t visible)
{
	struct store_waiter w = { .batch = visible };

	pthread_cond_init(&w.wake, NULL);
	pthread_mutex_lock(&st->sync_lock);
	if (__atomic_load_n(&st->durable, __ATOMIC_ACQUIRE) < visible) {
		w.next = st->waiters;
		st->waiters = &w;
	} else {
		w.done = true;
	}
	pthread_mutex_unlock(&st->sync_lock);
	return store_wait(st, &w);
}

/*
 * Wait until the open batch is durable. Called with writer.lock held, which
 * it releases: the waiter is listed first, so the leader that commits the
 * batch finds it.
 */
static enum cp_result
store_wait_batch(struct store *st)
{
	struct store_waiter w = { .batch = st->batch };

	pthread_cond_init(&w.wake, NULL);
	pthread_mutex_lock(&st->sync_lock);
	w.next = st->waiters;
	st->waiters = &w;
	pthread_mutex_unlock(&st->sync_lock);
	pthread_mutex_unlock(&st->writer.lock);
	return store_wait(st, &w);
}

/*
 * Release the write transaction's savepoint into the open batch. On
 * failure it unlocks the writer and returns CP_ERROR; on success the
 * writer stays locked, so the caller can list its waiter first.
 */
static enum cp_result
store_release(struct store *st)
{
	struct store_conn *c = &st->writer;

	if (store_control(c, sql_release) != 0) {
		store_control(c, sql_rollback_to);
		store_control(c, sql_release);
		store_batch_lost(st);
		pthread_mutex_unlock(&c->lock);
		return CP_ERROR;
	}
	if (store_batch_lost(st)) {
		pthread_mutex_unlock(&c->lock);
		return CP_ERROR;
	}
	__atomic_add_fetch(&st->transactions, 1, __ATOMIC_RELAXED);
	st->batch_released++;
	return CP_OK;
}

enum cp_result
store_commit(struct store *st)
{
	struct store_conn *c = store_conn(st);

	store_current = NULL;
	if (c != &st->writer) {
		enum cp_result rc = store_control(c, sql_commit) == 0 ? CP_OK : CP_ERROR;
		store_conn_reset_all(c);
		pthread_mutex_unlock(&c->lock);
		/* The read may have seen batches whose sync is still running. */
		uint64_t visible = __atomic_load_n(&st->visible, __ATOMIC_SEQ_CST);
		if (rc == CP_OK && __atomic_load_n(&st->durable, __ATOMIC_ACQUIRE) < visible)
			rc = store_wait_read(st, visible);
		if (rc == CP_OK && __atomic_load_n(&st->sync_failed, __ATOMIC_ACQUIRE))
			rc = CP_ERROR;
		return rc;
	}
	if (store_release(st) != CP_OK)
		return CP_ERROR;
	return store_wait_batch(st);
}

enum cp_result
store_commit_async(struct store *st, const struct store_async *async)
{
	struct store_conn *c = store_conn(st);
	struct store_waiter *w;

	if (c != &st->writer) {
		/* A read has nothing to commit: finish it here. */
		async->done(async->arg, store_commit(st));
		return CP_OK;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		log_error("out of memory for a commit; the transaction is rolled back", NULL);
		store_rollback(st);
		return CP_ERROR;
	}
	pthread_mutex_lock(&st->sync_lock);
	if (!st->committer_started) {
		if (pthread_create(&st->committer, NULL, store_committer_main, st) != 0) {
			pthread_mutex_unlock(&st->sync_lock);
			free(w);
			log_error("starting the committer thread failed; the transaction is"
			          " rolled back", NULL);
			store_rollback(st);
			return CP_ERROR;
		}
		st->committer_started = true;
	}
	pthread_mutex_unlock(&st->sync_lock);

	store_current = NULL;
	if (store_release(st) != CP_OK) {
		free(w);
		return CP_ERROR;
	}

	/* Listed before the writer is released, so the leader that commits
	 * the batch finds it. */
	w->batch = st->batch;
	w->async = *async;
	snprintf(w->request_id, sizeof(w->request_id), "%s", log_request_id_get());
	pthread_mutex_lock(&st->sync_lock);
	w->next = st->waiters;
	st->waiters = w;
	st->async_waiters++;
	if (!st->syncing)
		pthread_cond_signal(&st->committer_wake);
	pthread_mutex_unlock(&st->sync_lock);
	pthread_mutex_unlock(&c->lock);
	return CP_OK;
}

/*
 * End a transaction without writing. What it read may go into a response,
 * so it returns, like store_commit(), once that is durable: a read on the
 * writer may have seen rows that other transactions released into the open
 * batch.
 */
void
store_rollback(struct store *st)
{
	struct store_conn *c = store_conn(st);

	store_current = NULL;
	if (c != &st->writer) {
		store_control(c, sql_rollback);
		store_conn_reset_all(c);
		pthread_mutex_unlock(&c->lock);
	} else {
		store_control(c, sql_rollback_to);
		store_control(c, sql_release);
		if (!store_batch_lost(st) && st->batch_open && st->batch_released > 0) {
			store_wait_batch(st);
			return;
		}
		pthread_mutex_unlock(&c->lock);
	}
	uint64_t visible = __atomic_load_n(&st->visible, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&st->durable, __ATOMIC_ACQUIRE) < visible)
		store_wait_read(st, visible);
}

enum cp_result
store_sync(struct store *st)
{
	if (store_sync_wal(st) != 0) {
		__atomic_store_n(&st->sync_failed, true, __ATOMIC_RELEASE);
		return CP_ERROR;
	}
	return CP_OK;
}

void
store_stats(struct store *st, struct store_stats *out)
{
	out->transactions = __atomic_load_n(&st->transactions, __ATOMIC_RELAXED);
	out->commits = __atomic_load_n(&st->commits, __ATOMIC_RELAXED);
	out->syncs = __atomic_load_n(&st->syncs, __ATOMIC_RELAXED);
	out->checkpoints = __atomic_load_n(&st->checkpoints, __ATOMIC_RELAXED);
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
	    sqlite3_extended_errcode(store_db(st)) == SQLITE_CONSTRAINT_UNIQUE)
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
	size_t n;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (text == NULL)
		return;
	n = strnlen((const char *)text, len - 1);
	memcpy(buf, text, n);
	buf[n] = '\0';
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
