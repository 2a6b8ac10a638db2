/*
 * The store: merchants, access tokens, orders, deposits, addresses,
 * transactions and callback events in SQLite (WAL; every commit and every
 * read ends only once the WAL holding its rows is synced to the disk).
 *
 * A `struct store` is one writer connection and a few reader connections,
 * each guarded by a mutex, so threads may share it. Every call other than
 * store_open(), store_close() and store_stats() must be made between
 * store_begin() or store_begin_read() and store_commit() or
 * store_rollback(): a state change and the callback events it causes are
 * then written in one transaction.
 */
#ifndef CITYPAY_STORE_H
#define CITYPAY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "ipaddr.h"
#include "limits.h"
#include "money.h"
#include "order_state.h"
#include "result.h"
#include "token.h"

struct store;

/* Bytes of a company name: 200 characters of UTF-8 and the NUL. */
#define STORE_COMPANY_SIZE (200 * 4 + 1)

struct merchant {
	int64_t id;                     /* the wire format's customer_id */
	char company[STORE_COMPANY_SIZE];
	char email[CP_EMAIL_MAX + 1];
	char default_currency[4];
	char enabled_coins[256];        /* comma-separated coin codes */
	int tolerance_under_pct;
	int tolerance_over_pct;
	int order_expiry_minutes;
	bool auto_exchange;
	int64_t created_at;
	char password_hash[128];        /* argon2id string; empty when never set */
	char totp_secret_sealed[160];   /* sealed TOTP secret; empty when none */
	bool totp_enabled;
	int64_t totp_last_step;         /* last accepted TOTP step, against replay */
};

struct session {
	int64_t merchant_id;
	bool signed_in;                 /* false while the TOTP code is awaited */
	int64_t created_at;
	int64_t last_seen_at;
	char ip[IPADDR_TEXT_MAX];
};

struct audit_entry {
	int64_t id;
	int64_t at;
	char ip[IPADDR_TEXT_MAX];
	char action[32];
	char detail[512];
};

/* Filters of the cabinet's order list; zero or NULL fields do not filter. */
struct order_filter {
	int64_t merchant_id;
	const char *status;             /* a status code */
	int64_t from_ms;                /* created at or after */
	int64_t to_ms;                  /* created before */
	int64_t token_id;
};

/* One callback delivery with its event, for the cabinet's order detail. */
struct delivery_row {
	int64_t id;
	char event_id[40];
	char action[32];
	int64_t sequence;
	char url[CP_URL_MAX + 1];
	char state[16];
	int attempts;
	int last_http_status;           /* 0 when none */
	char last_error[256];
	char last_response[CP_CALLBACK_RESPONSE_MAX + 1]; /* the merchant's response, truncated */
	int64_t last_attempt_at;        /* 0 when never tried */
	int64_t delivered_at;           /* 0 until delivered */
};

struct access_token {
	int64_t id;
	int64_t merchant_id;
	char name[CP_TOKEN_NAME_MAX * 4 + 1];  /* characters of UTF-8 take up to 4 bytes */
	char type[24];                  /* "crypto", a coin code or "binance_pay" */
	char currency[4];
	char ip_whitelist[CP_WHITELIST_MAX * IPADDR_TEXT_MAX]; /* one range per line */
	char callback_urls[CP_CALLBACK_URLS_MAX * (CP_URL_MAX + 1)]; /* one URL per line */
	char success_url[CP_URL_MAX + 1];
	char cancel_url[CP_URL_MAX + 1];
	int64_t expires_at;
	enum token_mode mode;
	uint8_t digest[TOKEN_DIGEST_BYTES];
	char last_chars[TOKEN_LAST_CHARS + 1];
	char signing_secret_sealed[160];
	int64_t created_at;
	int64_t revoked_at;             /* 0 while active */
	int64_t last_used_at;           /* 0 when never used */
	char last_used_ip[IPADDR_TEXT_MAX];
	/* ip_whitelist parsed, which only the token cache fills in: a row read
	 * from the store or built from input has whitelist_parsed false. */
	bool whitelist_parsed;
	size_t whitelist_count;
	struct ipnet whitelist[CP_WHITELIST_MAX];
};

/* The merchant's and the token's fields shown in an order's public view. */
struct order_owner {
	char company[STORE_COMPANY_SIZE];
	char success_url[CP_URL_MAX + 1];
	char cancel_url[CP_URL_MAX + 1];
};

struct order {
	int64_t id;
	int64_t merchant_id;
	int64_t token_id;
	char token[CP_ORDER_TOKEN_MAX + 1];
	char client_order_id[CP_ORDER_ID_MAX * 4 + 1];
	enum token_mode mode;
	money_t amount_fiat;            /* minor units of currency */
	char currency[4];
	char email[CP_EMAIL_MAX + 1];
	char description[CP_DESCRIPTION_MAX * 4 + 1];
	char lang[16];
	enum order_status status;
	char coin[24];                  /* empty until the buyer chooses */
	char address[128];
	money_t amount_crypto;          /* base units; 0 until a coin is chosen */
	char exchange_rate[MONEY_TEXT_MAX];
	int tolerance_under_pct;
	int tolerance_over_pct;
	int64_t created_at_ms;
	int64_t expires_at_ms;
	int64_t updated_at_ms;
};

struct deposit {
	int64_t id;
	int64_t merchant_id;
	int64_t token_id;
	char token[40];                 /* public token, generated */
	char deposit_token[CP_ORDER_TOKEN_MAX + 1];
	char client_deposit_id[CP_ORDER_ID_MAX * 4 + 1];
	enum token_mode mode;
	char currency[4];
	int64_t created_at_ms;
};

struct chain_tx {
	int64_t id;
	char coin[24];
	char hash[80];
	char address[128];
	int64_t order_id;               /* 0 when the transaction pays a deposit */
	int64_t deposit_id;             /* 0 when the transaction pays an order */
	money_t amount;                 /* base units */
	money_t amount_fiat;            /* minor units at exchange_rate */
	char exchange_rate[MONEY_TEXT_MAX];
	int64_t block_height;           /* 0 while unmined */
	int confirmations;
	bool confirmed;                 /* reached the coin's required confirmations */
	int64_t created_at_ms;
};

/* One callback event to be written with its deliveries. */
struct callback_event {
	char event_id[40];
	int64_t token_id;
	int64_t order_id;               /* 0 for a deposit event */
	int64_t deposit_id;             /* 0 for an order event */
	int64_t sequence;
	const char *action;
	const char *body;               /* the exact bytes every attempt sends */
	const char *urls;               /* one callback URL per line */
	int64_t created_at;
};

/*
 * Open or create the database at path, set WAL, apply pending migrations
 * and open the WAL file for group commit. Returns NULL with a reason in err
 * on failure.
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *st);

/*
 * Let this store's commits return before the WAL reaches the disk. A power
 * cut may then undo its latest commits, but never a commit of another
 * store, which syncs the WAL up to its own frames. Only for writes that may
 * be repeated.
 */
enum cp_result store_relax_sync(struct store *st);

/*
 * Sync the WAL, so that every row this store has read is durable, from any
 * connection or process. A store with relaxed sync calls it before acting
 * outside the store on what it read: a callback is sent only for a durable
 * event. CP_ERROR when the sync fails, and the store then rejects writes.
 */
enum cp_result store_sync(struct store *st);

/* The connection's schema version after migrations. */
int store_schema_version(struct store *st);

/*
 * Start a write transaction on the writer connection, or a read-only one on
 * a reader connection, which reads only committed rows. Every store call of
 * the thread then runs in it until store_commit() or store_rollback().
 * store_begin() fails once a sync of the WAL has failed.
 */
enum cp_result store_begin(struct store *st);
enum cp_result store_begin_read(struct store *st);
/*
 * End the transaction and release the connection. A write returns once its
 * batch's COMMIT is durable, or CP_ERROR when that COMMIT or its sync
 * fails. A read, and store_rollback() of any transaction, returns once
 * every commit it could have seen is durable, since what it read may go
 * into a response. Concurrent writes share one COMMIT and one sync (group
 * commit, described in store_internal.h).
 */
enum cp_result store_commit(struct store *st);
void store_rollback(struct store *st);

/* The callback of store_commit_async(), called once the batch is durable or failed. */
struct store_async {
	void (*done)(void *arg, enum cp_result rc);
	void *arg;
};

/*
 * End a write transaction like store_commit(), without waiting. The
 * batch is committed and synced by the store's committer thread, or by a
 * thread waiting in store_commit() if one leads first, and that thread
 * then calls async->done exactly once (this call does, for a read
 * transaction). CP_OK means done will be called; on any other result the
 * transaction failed now and done is not called.
 */
enum cp_result store_commit_async(struct store *st, const struct store_async *async);

/*
 * Return the version of the access tokens. It rises after every COMMIT that
 * changed a token row (revoked, edited, secret rotated), by this process or
 * another one on the same database, so a cache of token rows can tell when
 * to reload. The counter lives in the file "<database>.token-version".
 */
uint64_t store_token_version(struct store *st);

/* Counters since open: write transactions, COMMITs, syncs of the WAL and
 * checkpoints of the checkpoint thread. */
struct store_stats {
	uint64_t transactions;
	uint64_t commits;
	uint64_t syncs;
	uint64_t checkpoints;
};
void store_stats(struct store *st, struct store_stats *out);

/* Merchants */
enum cp_result store_merchant_insert(struct store *st, struct merchant *m);
enum cp_result store_merchant_get(struct store *st, int64_t id, struct merchant *m);
/* Write the settings columns of m (not company, e-mail or creation time). */
enum cp_result store_merchant_update(struct store *st, const struct merchant *m);
enum cp_result store_merchant_find_email(struct store *st, const char *email, struct merchant *m);
enum cp_result store_merchant_set_password(struct store *st, int64_t id, const char *hash);
/* Store a sealed TOTP secret (NULL clears it) and whether it is enabled. */
enum cp_result store_merchant_set_totp(struct store *st, int64_t id, const char *sealed,
                                       bool enabled);
/* Record an accepted TOTP step; CP_CONFLICT when it is not newer than the last. */
enum cp_result store_merchant_use_totp_step(struct store *st, int64_t id, int64_t step);

/* Cabinet sessions, keyed by a digest of the session id. */
enum cp_result store_session_insert(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES],
                                    const struct session *s);
enum cp_result store_session_find(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES],
                                  struct session *s);
enum cp_result store_session_touch(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES],
                                   int64_t now);
enum cp_result store_session_sign_in(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES]);
enum cp_result store_session_delete(struct store *st, const uint8_t digest[TOKEN_DIGEST_BYTES]);
/* End every session of a merchant, for a password change. */
enum cp_result store_session_delete_merchant(struct store *st, int64_t merchant_id);

/* Audit log */
enum cp_result store_audit_insert(struct store *st, int64_t merchant_id, int64_t at,
                                  const char *ip, const char *action, const char *detail);
typedef void (*store_audit_fn)(const struct audit_entry *e, void *arg);
enum cp_result store_audit_list(struct store *st, int64_t merchant_id, int64_t limit,
                                int64_t offset, store_audit_fn fn, void *arg);
enum cp_result store_audit_count(struct store *st, int64_t merchant_id, int64_t *count);
typedef void (*store_merchant_fn)(const struct merchant *m, void *arg);
enum cp_result store_merchant_list(struct store *st, store_merchant_fn fn, void *arg);

/* Access tokens */
enum cp_result store_token_insert(struct store *st, struct access_token *t);
enum cp_result store_token_get(struct store *st, int64_t id, struct access_token *t);
enum cp_result store_token_find_digest(struct store *st,
                                       const uint8_t digest[TOKEN_DIGEST_BYTES],
                                       struct access_token *t);
typedef void (*store_token_fn)(const struct access_token *t, void *arg);
enum cp_result store_token_list(struct store *st, int64_t merchant_id,
                                store_token_fn fn, void *arg);
/* Revoke the merchant's active token of that name; CP_NOT_FOUND if none. */
enum cp_result store_token_revoke(struct store *st, int64_t merchant_id,
                                  const char *name, int64_t now);
enum cp_result store_token_touch(struct store *st, int64_t id, int64_t now,
                                 const char *ip);
/* Revoke the merchant's active token with this id; CP_NOT_FOUND if none. */
enum cp_result store_token_revoke_id(struct store *st, int64_t merchant_id, int64_t id,
                                     int64_t now);
/*
 * Write the non-secret fields of an active token (name, type, currency,
 * whitelist, callback URLs, success and cancel URLs, expiry).
 * CP_NOT_FOUND when it is not the merchant's active token; CP_EXISTS when
 * the name is taken.
 */
enum cp_result store_token_update(struct store *st, const struct access_token *t);
/*
 * Replace the signing secret of the merchant's active token token_id with
 * new_sealed. The replaced secret is kept as the previous one until
 * previous_until (Unix seconds), or dropped when previous_until is 0; any
 * older previous secret is dropped. CP_NOT_FOUND when the token is not the
 * merchant's or is revoked.
 */
enum cp_result store_token_rotate_secret(struct store *st, int64_t merchant_id,
                                         int64_t token_id, const char *new_sealed,
                                         int64_t previous_until);

/* Orders */
enum cp_result store_order_insert(struct store *st, struct order *o);
enum cp_result store_order_get(struct store *st, int64_t id, struct order *o);
enum cp_result store_order_find_token(struct store *st, const char *token, struct order *o);
/* Find an order by its token together with its owner's fields, in one
 * query instead of three. */
enum cp_result store_order_find_public(struct store *st, const char *token, struct order *o,
                                       struct order_owner *owner);
/*
 * Write every mutable column of o, but only while the stored status is
 * still `expected`: CP_CONFLICT when another writer changed it first.
 */
enum cp_result store_order_update(struct store *st, const struct order *o,
                                  enum order_status expected);
typedef void (*store_order_fn)(const struct order *o, void *arg);
/* Orders of one merchant, or of all when merchant_id is 0, newest first. */
enum cp_result store_order_list(struct store *st, int64_t merchant_id,
                                int64_t limit, int64_t offset,
                                store_order_fn fn, void *arg);
enum cp_result store_order_count(struct store *st, int64_t merchant_id, int64_t *count);
/* Orders matching a filter, newest first, and their count. */
enum cp_result store_order_search(struct store *st, const struct order_filter *f,
                                  int64_t limit, int64_t offset,
                                  store_order_fn fn, void *arg);
enum cp_result store_order_search_count(struct store *st, const struct order_filter *f,
                                        int64_t *count);
/* Ids of unpaid orders whose expiry is at or before now_ms, at most max. */
enum cp_result store_order_due_expiry(struct store *st, int64_t now_ms,
                                      int64_t *ids, int max, int *n);
/* Increment and return the order's or deposit's callback event sequence. */
enum cp_result store_order_next_sequence(struct store *st, int64_t order_id, int64_t *seq);
enum cp_result store_deposit_next_sequence(struct store *st, int64_t deposit_id, int64_t *seq);

/* Deposits */
enum cp_result store_deposit_insert(struct store *st, struct deposit *d);
enum cp_result store_deposit_get(struct store *st, int64_t id, struct deposit *d);
enum cp_result store_deposit_find(struct store *st, int64_t merchant_id,
                                  const char *deposit_token, struct deposit *d);
enum cp_result store_deposit_find_token(struct store *st, const char *token,
                                        struct deposit *d);
typedef void (*store_deposit_fn)(const struct deposit *d, void *arg);
/* Deposits of a merchant, newest first, and their count. */
enum cp_result store_deposit_list(struct store *st, int64_t merchant_id, int64_t limit,
                                  int64_t offset, store_deposit_fn fn, void *arg);
enum cp_result store_deposit_count(struct store *st, int64_t merchant_id, int64_t *count);

/* Addresses: at most one per (order or deposit, coin). */
enum cp_result store_address_insert(struct store *st, const char *coin,
                                    const char *address, int64_t order_id,
                                    int64_t deposit_id, int64_t now);
enum cp_result store_address_find_owner(struct store *st, const char *coin,
                                        int64_t order_id, int64_t deposit_id,
                                        char *address, size_t len);

/* Transactions */
enum cp_result store_tx_insert(struct store *st, struct chain_tx *tx);
enum cp_result store_tx_update(struct store *st, const struct chain_tx *tx);
typedef void (*store_tx_fn)(const struct chain_tx *tx, void *arg);
/* Transactions of an order (order_id) or deposit (deposit_id), oldest first. */
enum cp_result store_tx_list(struct store *st, int64_t order_id, int64_t deposit_id,
                             store_tx_fn fn, void *arg);
/* Transactions not yet at their required confirmations, oldest first. */
enum cp_result store_tx_list_unconfirmed(struct store *st, store_tx_fn fn, void *arg);

/* Sandbox chain height */
enum cp_result store_chain_height(struct store *st, const char *chain, int64_t *height);
enum cp_result store_chain_set_height(struct store *st, const char *chain, int64_t height);

/* Callback outbox: insert an event and one pending delivery per URL. */
enum cp_result store_event_insert(struct store *st, const struct callback_event *ev);
typedef void (*store_delivery_fn)(const struct delivery_row *d, void *arg);
/* Deliveries of an order's events, in event sequence order. */
enum cp_result store_delivery_list_order(struct store *st, int64_t order_id,
                                         store_delivery_fn fn, void *arg);
/*
 * Make a delivery of the order due now again, whatever its state; the body
 * and event_id stay the same. CP_NOT_FOUND when it is not the order's.
 */
enum cp_result store_delivery_resend(struct store *st, int64_t order_id, int64_t delivery_id,
                                     int64_t now);

#endif
