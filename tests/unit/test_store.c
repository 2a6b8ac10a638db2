/*
 * Unit tests of the store's transactions: group commit under concurrent
 * writers, rollback inside a shared batch, readers that see only committed
 * rows, and commits handed to the committer thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

#define WRITER_THREADS 8
#define WRITES_PER_THREAD 50
/* One at a time, each its own batch of at least two WAL frames (the row
 * and its email index), so the WAL would reach 5,000 frames unchecked. */
#define CHECKPOINT_WRITES 2500
/* A WAL that starts over stays near the checkpoint size of 1,000 frames;
 * each frame is a 4,096-byte page and a 24-byte header. */
#define WAL_BYTES_MAX (2500 * (4096 + 24))

struct fixture {
	char dir[64];
	char db_path[128];
	struct store *store;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/citypay-store-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->db_path, sizeof(fx->db_path), "%s/test.db", fx->dir);
	fx->store = store_open(fx->db_path, err, sizeof(err));
	assert_non_null(fx->store);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	const char *suffixes[] = { "", "-wal", "-shm", ".token-version" };
	char path[160];

	store_close(fx->store);
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", fx->db_path, suffixes[i]);
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
merchant_fill(struct merchant *m, const char *email)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->company, sizeof(m->company), "Shop");
	snprintf(m->email, sizeof(m->email), "%s", email);
	snprintf(m->default_currency, sizeof(m->default_currency), "USD");
	snprintf(m->enabled_coins, sizeof(m->enabled_coins), "BTC");
	m->order_expiry_minutes = 60;
	m->created_at = 1;
}

/* Count merchants through a connection of its own, outside the store. */
static int
count_merchants(const char *db_path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int n = -1;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM merchants", -1,
	                                    &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

struct writer_arg {
	struct store *store;
	int thread;
	int failures;
};

static void *
writer_main(void *p)
{
	struct writer_arg *arg = p;

	for (int i = 0; i < WRITES_PER_THREAD; i++) {
		struct merchant m;
		char email[64];

		snprintf(email, sizeof(email), "w%d-%d@example.com", arg->thread, i);
		merchant_fill(&m, email);
		if (store_begin(arg->store) != CP_OK) {
			arg->failures++;
			continue;
		}
		if (store_merchant_insert(arg->store, &m) != CP_OK) {
			store_rollback(arg->store);
			arg->failures++;
			continue;
		}
		if (store_commit(arg->store) != CP_OK)
			arg->failures++;
	}
	return NULL;
}

static void
test_concurrent_writers_all_commit(void **state)
{
	struct fixture *fx = *state;
	pthread_t threads[WRITER_THREADS];
	struct writer_arg args[WRITER_THREADS];
	struct store_stats stats;

	for (int i = 0; i < WRITER_THREADS; i++) {
		args[i] = (struct writer_arg){ .store = fx->store, .thread = i };
		assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &args[i]), 0);
	}
	for (int i = 0; i < WRITER_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	/* Each store_commit() returned after its COMMIT, so a second
	 * connection reads every row. */
	assert_int_equal(count_merchants(fx->db_path), WRITER_THREADS * WRITES_PER_THREAD);
	store_stats(fx->store, &stats);
	assert_int_equal(stats.transactions, WRITER_THREADS * WRITES_PER_THREAD);
	assert_true(stats.commits >= 1);
	assert_true(stats.commits <= stats.transactions);
}

static void
test_rollback_keeps_other_transactions(void **state)
{
	struct fixture *fx = *state;
	struct merchant kept, dropped, found;

	merchant_fill(&kept, "kept@example.com");
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_merchant_insert(fx->store, &kept), CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);

	merchant_fill(&dropped, "dropped@example.com");
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_merchant_insert(fx->store, &dropped), CP_OK);
	store_rollback(fx->store);

	assert_int_equal(store_begin_read(fx->store), CP_OK);
	assert_int_equal(store_merchant_get(fx->store, kept.id, &found), CP_OK);
	assert_string_equal(found.email, "kept@example.com");
	assert_int_equal(store_commit(fx->store), CP_OK);
	assert_int_equal(count_merchants(fx->db_path), 1);
}

struct staged_writer {
	struct store *store;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;                      /* 1: inserted, not committed; 2: go on */
	int64_t id;
};

static void
staged_set(struct staged_writer *sw, int stage)
{
	pthread_mutex_lock(&sw->lock);
	sw->stage = stage;
	pthread_cond_broadcast(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
}

static void
staged_wait(struct staged_writer *sw, int stage)
{
	pthread_mutex_lock(&sw->lock);
	while (sw->stage < stage)
		pthread_cond_wait(&sw->cond, &sw->lock);
	pthread_mutex_unlock(&sw->lock);
}

static void *
staged_main(void *p)
{
	struct staged_writer *sw = p;
	struct merchant m;

	merchant_fill(&m, "staged@example.com");
	if (store_begin(sw->store) != CP_OK || store_merchant_insert(sw->store, &m) != CP_OK)
		return NULL;
	sw->id = m.id;
	staged_set(sw, 1);
	staged_wait(sw, 2);
	store_commit(sw->store);
	return NULL;
}

/* A read started while a write is open does not see the write's rows. */
static void
test_reader_sees_only_committed_rows(void **state)
{
	struct fixture *fx = *state;
	struct staged_writer sw = { .store = fx->store };
	struct merchant found;
	pthread_t thread;

	pthread_mutex_init(&sw.lock, NULL);
	pthread_cond_init(&sw.cond, NULL);
	assert_int_equal(pthread_create(&thread, NULL, staged_main, &sw), 0);
	staged_wait(&sw, 1);

	assert_int_equal(store_begin_read(fx->store), CP_OK);
	assert_int_equal(store_merchant_get(fx->store, sw.id, &found), CP_NOT_FOUND);
	assert_int_equal(store_commit(fx->store), CP_OK);

	staged_set(&sw, 2);
	assert_int_equal(pthread_join(thread, NULL), 0);

	assert_int_equal(store_begin_read(fx->store), CP_OK);
	assert_int_equal(store_merchant_get(fx->store, sw.id, &found), CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);
	pthread_cond_destroy(&sw.cond);
	pthread_mutex_destroy(&sw.lock);
}

struct churn {
	struct store *store;
	int stop;                       /* set by the test, read with atomics */
	int stopped_by_test;
};

/* Begin and roll back write transactions until the test sets stop, for at
 * most CHURN_MAX_S seconds. */
#define CHURN_MAX_S 30
#define CHURN_THREADS 4

static void *
churn_main(void *p)
{
	struct churn *ch = p;
	time_t until = time(NULL) + CHURN_MAX_S;

	while (time(NULL) < until) {
		if (__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
			ch->stopped_by_test = 1;
			break;
		}
		if (store_begin(ch->store) == CP_OK)
			store_rollback(ch->store);
	}
	return NULL;
}

/* Transactions that begin and roll back without pause do not hold a
 * COMMIT back: once a transaction is released into the batch, a rollback
 * waits for that batch, so the leader gets the writer. The churn starts
 * while the transaction is open, since a mutex does not queue its waiters
 * fairly, and under valgrind a thread in a tight loop can take the writer
 * again and again before store_begin() gets it. */
static void
test_commit_during_rollback_churn(void **state)
{
	struct fixture *fx = *state;
	struct churn ch[CHURN_THREADS];
	pthread_t threads[CHURN_THREADS];
	struct merchant m;
	enum cp_result rc;

	merchant_fill(&m, "churn@example.com");
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_merchant_insert(fx->store, &m), CP_OK);
	for (int i = 0; i < CHURN_THREADS; i++) {
		ch[i] = (struct churn){ .store = fx->store };
		assert_int_equal(pthread_create(&threads[i], NULL, churn_main, &ch[i]), 0);
	}
	rc = store_commit(fx->store);
	/* Stop and join the churn before any assert, which would leave the
	 * threads running into the teardown. */
	for (int i = 0; i < CHURN_THREADS; i++)
		__atomic_store_n(&ch[i].stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < CHURN_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	assert_int_equal(rc, CP_OK);
	for (int i = 0; i < CHURN_THREADS; i++)
		assert_int_equal(ch[i].stopped_by_test, 1);
	assert_int_equal(count_merchants(fx->db_path), 1);
}

/* A token change committed through one store raises the version another
 * store on the same database reads, as the daemon and citypayctl do. */
static void
test_checkpoint_bounds_wal(void **state)
{
	struct fixture *fx = *state;
	struct store_stats stats;
	char wal_path[160];
	struct stat sb;

	for (int i = 0; i < CHECKPOINT_WRITES; i++) {
		struct merchant m;
		char email[64];

		snprintf(email, sizeof(email), "c%d@example.com", i);
		merchant_fill(&m, email);
		assert_int_equal(store_begin(fx->store), CP_OK);
		assert_int_equal(store_merchant_insert(fx->store, &m), CP_OK);
		assert_int_equal(store_commit(fx->store), CP_OK);
	}
	store_stats(fx->store, &stats);
	assert_int_equal(stats.commits, CHECKPOINT_WRITES);
	assert_int_equal(stats.syncs, CHECKPOINT_WRITES);
	assert_true(stats.checkpoints >= 2);

	snprintf(wal_path, sizeof(wal_path), "%s-wal", fx->db_path);
	assert_int_equal(stat(wal_path, &sb), 0);
	assert_true(sb.st_size < WAL_BYTES_MAX);
	assert_int_equal(count_merchants(fx->db_path), CHECKPOINT_WRITES);
}

static void
test_token_version_shared(void **state)
{
	struct fixture *fx = *state;
	struct store *other;
	struct merchant m;
	char err[256];
	uint64_t before;

	other = store_open(fx->db_path, err, sizeof(err));
	assert_non_null(other);
	merchant_fill(&m, "tokens@example.com");
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_merchant_insert(fx->store, &m), CP_OK);
	assert_int_equal(store_commit(fx->store), CP_OK);
	before = store_token_version(other);

	/* No row matches, but the transaction may have changed one. */
	assert_int_equal(store_begin(fx->store), CP_OK);
	assert_int_equal(store_token_revoke(fx->store, m.id, "none", 1), CP_NOT_FOUND);
	assert_int_equal(store_commit(fx->store), CP_OK);

	assert_int_equal(store_token_version(other), before + 1);
	assert_int_equal(store_token_version(fx->store), before + 1);
	store_close(other);
}

/* An in-memory database has no readers: reads run on the writer. */
static void
test_in_memory_reads_use_the_writer(void **state)
{
	struct store *st;
	struct merchant m, found;
	char err[256];

	(void)state;
	st = store_open(":memory:", err, sizeof(err));
	assert_non_null(st);
	merchant_fill(&m, "memory@example.com");
	assert_int_equal(store_begin(st), CP_OK);
	assert_int_equal(store_merchant_insert(st, &m), CP_OK);
	assert_int_equal(store_commit(st), CP_OK);
	assert_int_equal(store_begin_read(st), CP_OK);
	assert_int_equal(store_merchant_get(st, m.id, &found), CP_OK);
	assert_int_equal(store_commit(st), CP_OK);
	store_close(st);
}

#define ASYNC_COMMITS 200

/* Results of store_commit_async() callbacks, one slot per commit. */
struct async_results {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls[ASYNC_COMMITS];
	enum cp_result rc[ASYNC_COMMITS];
	int finished;
};

struct async_slot {
	struct async_results *results;
	int index;
};

static void
async_done(void *arg, enum cp_result rc)
{
	struct async_slot *slot = arg;
	struct async_results *res = slot->results;

	pthread_mutex_lock(&res->lock);
	res->calls[slot->index]++;
	res->rc[slot->index] = rc;
	res->finished++;
	pthread_cond_broadcast(&res->cond);
	pthread_mutex_unlock(&res->lock);
}

/* Insert count merchants, each committed with store_commit_async(). */
static void
insert_async(struct store *st, struct async_results *res, struct async_slot *slots, int count)
{
	pthread_mutex_init(&res->lock, NULL);
	pthread_cond_init(&res->cond, NULL);
	for (int i = 0; i < count; i++) {
		struct merchant m;
		char email[64];

		snprintf(email, sizeof(email), "async%d@example.com", i);
		merchant_fill(&m, email);
		slots[i] = (struct async_slot){ .results = res, .index = i };
		assert_int_equal(store_begin(st), CP_OK);
		assert_int_equal(store_merchant_insert(st, &m), CP_OK);
		assert_int_equal(store_commit_async(st, &(struct store_async){ async_done, &slots[i] }),
		                 CP_OK);
	}
}

static void
test_async_commit_calls_back_once(void **state)
{
	struct fixture *fx = *state;
	static struct async_results res;
	static struct async_slot slots[ASYNC_COMMITS];
	pthread_t threads[2];
	struct writer_arg args[2];
	struct timespec until;

	memset(&res, 0, sizeof(res));
	/* Threads waiting in store_commit() share the rounds with the
	 * committer thread. */
	for (int i = 0; i < 2; i++) {
		args[i] = (struct writer_arg){ .store = fx->store, .thread = i };
		assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &args[i]), 0);
	}
	insert_async(fx->store, &res, slots, ASYNC_COMMITS);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&res.lock);
	while (res.finished < ASYNC_COMMITS &&
	       pthread_cond_timedwait(&res.cond, &res.lock, &until) == 0)
		;
	pthread_mutex_unlock(&res.lock);
	assert_int_equal(res.finished, ASYNC_COMMITS);
	for (int i = 0; i < ASYNC_COMMITS; i++) {
		assert_int_equal(res.calls[i], 1);
		assert_int_equal(res.rc[i], CP_OK);
	}
	/* Each callback came after its COMMIT. */
	assert_int_equal(count_merchants(fx->db_path), ASYNC_COMMITS + 2 * WRITES_PER_THREAD);
}

/* store_close() returns only after every pending callback ran. */
static void
test_close_finishes_async_commits(void **state)
{
	struct fixture *fx = *state;
	static struct async_results res;
	static struct async_slot slots[ASYNC_COMMITS];

	memset(&res, 0, sizeof(res));
	insert_async(fx->store, &res, slots, ASYNC_COMMITS);
	store_close(fx->store);
	fx->store = NULL;

	assert_int_equal(res.finished, ASYNC_COMMITS);
	for (int i = 0; i < ASYNC_COMMITS; i++)
		assert_int_equal(res.rc[i], CP_OK);
	assert_int_equal(count_merchants(fx->db_path), ASYNC_COMMITS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_writers_all_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_keeps_other_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_sees_only_committed_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_during_rollback_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_bounds_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_version_shared, setup, teardown),
		cmocka_unit_test(test_in_memory_reads_use_the_writer),
		cmocka_unit_test_setup_teardown(test_async_commit_calls_back_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_finishes_async_commits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
