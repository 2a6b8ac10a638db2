/*
 * Store: orders and deposits.
 */
#include <string.h>

#include "store_internal.h"

/* Qualified, so that a query may join the merchant's and token's rows. */
#define ORDER_COLUMNS \
	"orders.id, orders.merchant_id, orders.token_id, orders.token," \
	" orders.client_order_id, orders.mode, orders.amount_fiat, orders.currency," \
	" orders.email, orders.description, orders.lang, orders.status, orders.coin," \
	" orders.address, orders.amount_crypto, orders.exchange_rate," \
	" orders.tolerance_under_pct, orders.tolerance_over_pct," \
	" orders.created_at_ms, orders.expires_at_ms, orders.updated_at_ms"
#define ORDER_COLUMN_COUNT 21

static void
order_from_row(sqlite3_stmt *stmt, struct order *o)
{
	char text[32];

	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(stmt, 0);
	o->merchant_id = sqlite3_column_int64(stmt, 1);
	o->token_id = sqlite3_column_int64(stmt, 2);
	store_col_text(stmt, 3, o->token, sizeof(o->token));
	store_col_text(stmt, 4, o->client_order_id, sizeof(o->client_order_id));
	store_col_text(stmt, 5, text, sizeof(text));
	o->mode = strcmp(text, "sandbox") == 0 ? TOKEN_MODE_SANDBOX : TOKEN_MODE_LIVE;
	o->amount_fiat = sqlite3_column_int64(stmt, 6);
	store_col_text(stmt, 7, o->currency, sizeof(o->currency));
	store_col_text(stmt, 8, o->email, sizeof(o->email));
	store_col_text(stmt, 9, o->description, sizeof(o->description));
	store_col_text(stmt, 10, o->lang, sizeof(o->lang));
	store_col_text(stmt, 11, text, sizeof(text));
	if (order_status_parse(text, &o->status) != 0)
		o->status = ORDER_IN_PROGRESS;
	store_col_text(stmt, 12, o->coin, sizeof(o->coin));
	store_col_text(stmt, 13, o->address, sizeof(o->address));
	o->amount_crypto = store_col_money(stmt, 14);
	store_col_text(stmt, 15, o->exchange_rate, sizeof(o->exchange_rate));
	o->tolerance_under_pct = sqlite3_column_int(stmt, 16);
	o->tolerance_over_pct = sqlite3_column_int(stmt, 17);
	o->created_at_ms = sqlite3_column_int64(stmt, 18);
	o->expires_at_ms = sqlite3_column_int64(stmt, 19);
	o->updated_at_ms = sqlite3_column_int64(stmt, 20);
}

static const char *
nonempty(const char *s)
{
	return s[0] ? s : NULL;
}

enum cp_result
store_order_insert(struct store *st, struct order *o)
{
	static const char sql[] =
		"INSERT INTO orders(merchant_id, token_id, token, client_order_id, mode,"
		" amount_fiat, currency, email, description, lang, status,"
		" tolerance_under_pct, tolerance_over_pct, created_at_ms, expires_at_ms,"
		" updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "iitttitttttiiiii",
		o->merchant_id, o->token_id, o->token, o->client_order_id,
		token_mode_name(o->mode), (int64_t)o->amount_fiat, o->currency,
		o->email, o->description, o->lang, order_status_code(o->status),
		(int64_t)o->tolerance_under_pct, (int64_t)o->tolerance_over_pct,
		o->created_at_ms, o->expires_at_ms, o->updated_at_ms));

	if (rc == CP_OK)
		o->id = sqlite3_last_insert_rowid(store_db(st));
	return rc;
}

static enum cp_result
store_order_one(struct store *st, sqlite3_stmt *stmt, struct order *o)
{
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		order_from_row(stmt, o);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_order_get(struct store *st, int64_t id, struct order *o)
{
	static const char sql[] = "SELECT " ORDER_COLUMNS " FROM orders WHERE id = ?";

	return store_order_one(st, store_stmt(st, sql, "i", id), o);
}

enum cp_result
store_order_find_token(struct store *st, const char *token, struct order *o)
{
	static const char sql[] = "SELECT " ORDER_COLUMNS " FROM orders WHERE token = ?";

	return store_order_one(st, store_stmt(st, sql, "t", token), o);
}

enum cp_result
store_order_find_public(struct store *st, const char *token, struct order *o,
                        struct order_owner *owner)
{
	static const char sql[] = "SELECT " ORDER_COLUMNS ", merchants.company,"
		" access_tokens.success_url, access_tokens.cancel_url FROM orders"
		" JOIN merchants ON merchants.id = orders.merchant_id"
		" JOIN access_tokens ON access_tokens.id = orders.token_id"
		" WHERE orders.token = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "t", token);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc != CP_OK)
		return rc;
	order_from_row(stmt, o);
	store_col_text(stmt, ORDER_COLUMN_COUNT, owner->company, sizeof(owner->company));
	store_col_text(stmt, ORDER_COLUMN_COUNT + 1, owner->success_url, sizeof(owner->success_url));
	store_col_text(stmt, ORDER_COLUMN_COUNT + 2, owner->cancel_url, sizeof(owner->cancel_url));
	sqlite3_reset(stmt);
	return CP_OK;
}

enum cp_result
store_order_update(struct store *st, const struct order *o, enum order_status expected)
{
	static const char sql[] =
		"UPDATE orders SET status = ?, coin = ?, address = ?, amount_crypto = ?,"
		" exchange_rate = ?, expires_at_ms = ?, updated_at_ms = ?"
		" WHERE id = ? AND status = ?";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "tttmtiiit",
		order_status_code(o->status), nonempty(o->coin), nonempty(o->address),
		o->amount_crypto, nonempty(o->exchange_rate), o->expires_at_ms,
		o->updated_at_ms, o->id, order_status_code(expected)));

	if (rc == CP_OK && sqlite3_changes(store_db(st)) == 0)
		return CP_CONFLICT;
	return rc;
}

enum cp_result
store_order_list(struct store *st, int64_t merchant_id, int64_t limit, int64_t offset,
                 store_order_fn fn, void *arg)
{
	static const char sql[] = "SELECT " ORDER_COLUMNS " FROM orders"
		" WHERE (?1 = 0 OR merchant_id = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3";
	sqlite3_stmt *stmt = store_stmt(st, sql, "iii", merchant_id, limit, offset);
	struct order o;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		order_from_row(stmt, &o);
		fn(&o, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_order_count(struct store *st, int64_t merchant_id, int64_t *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM orders WHERE (?1 = 0 OR merchant_id = ?1)";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", merchant_id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		*count = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}

#define ORDER_FILTER \
	" WHERE merchant_id = ?1 AND (?2 IS NULL OR status = ?2)" \
	" AND (?3 = 0 OR created_at_ms >= ?3) AND (?4 = 0 OR created_at_ms < ?4)" \
	" AND (?5 = 0 OR token_id = ?5)"

enum cp_result
store_order_search(struct store *st, const struct order_filter *f, int64_t limit,
                   int64_t offset, store_order_fn fn, void *arg)
{
	static const char sql[] = "SELECT " ORDER_COLUMNS " FROM orders" ORDER_FILTER
		" ORDER BY id DESC LIMIT ?6 OFFSET ?7";
	sqlite3_stmt *stmt = store_stmt(st, sql, "itiiiii", f->merchant_id, f->status,
	                                f->from_ms, f->to_ms, f->token_id, limit, offset);
	struct order o;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		order_from_row(stmt, &o);
		fn(&o, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_order_search_count(struct store *st, const struct order_filter *f, int64_t *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM orders" ORDER_FILTER;
	sqlite3_stmt *stmt = store_stmt(st, sql, "itiii", f->merchant_id, f->status,
	                                f->from_ms, f->to_ms, f->token_id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		*count = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_order_due_expiry(struct store *st, int64_t now_ms, int64_t *ids, int max, int *n)
{
	static const char sql[] = "SELECT id FROM orders"
		" WHERE status = 'IN_PROGRESS' AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "ii", now_ms, (int64_t)max);
	enum cp_result rc;

	*n = 0;
	while (*n < max && (rc = store_step_row(st, stmt)) == CP_OK)
		ids[(*n)++] = sqlite3_column_int64(stmt, 0);
	if (stmt != NULL)
		sqlite3_reset(stmt);
	return stmt ? CP_OK : CP_ERROR;
}

static enum cp_result
store_next_sequence(struct store *st, const char *update, const char *select,
                    int64_t id, int64_t *seq)
{
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, update, "i", id));
	sqlite3_stmt *stmt;

	if (rc != CP_OK)
		return rc;
	stmt = store_stmt(st, select, "i", id);
	rc = store_step_row(st, stmt);
	if (rc == CP_OK) {
		*seq = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_order_next_sequence(struct store *st, int64_t order_id, int64_t *seq)
{
	static const char update[] =
		"UPDATE orders SET event_sequence = event_sequence + 1 WHERE id = ?";
	static const char select[] = "SELECT event_sequence FROM orders WHERE id = ?";

	return store_next_sequence(st, update, select, order_id, seq);
}

enum cp_result
store_deposit_next_sequence(struct store *st, int64_t deposit_id, int64_t *seq)
{
	static const char update[] =
		"UPDATE deposits SET event_sequence = event_sequence + 1 WHERE id = ?";
	static const char select[] = "SELECT event_sequence FROM deposits WHERE id = ?";

	return store_next_sequence(st, update, select, deposit_id, seq);
}

#define DEPOSIT_COLUMNS \
	"id, merchant_id, token_id, token, deposit_token, client_deposit_id, mode," \
	" currency, created_at_ms"

static enum cp_result
store_deposit_one(struct store *st, sqlite3_stmt *stmt, struct deposit *d)
{
	enum cp_result rc = store_step_row(st, stmt);
	char mode[16];

	if (rc != CP_OK)
		return rc;
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(stmt, 0);
	d->merchant_id = sqlite3_column_int64(stmt, 1);
	d->token_id = sqlite3_column_int64(stmt, 2);
	store_col_text(stmt, 3, d->token, sizeof(d->token));
	store_col_text(stmt, 4, d->deposit_token, sizeof(d->deposit_token));
	store_col_text(stmt, 5, d->client_deposit_id, sizeof(d->client_deposit_id));
	store_col_text(stmt, 6, mode, sizeof(mode));
	d->mode = strcmp(mode, "sandbox") == 0 ? TOKEN_MODE_SANDBOX : TOKEN_MODE_LIVE;
	store_col_text(stmt, 7, d->currency, sizeof(d->currency));
	d->created_at_ms = sqlite3_column_int64(stmt, 8);
	sqlite3_reset(stmt);
	return CP_OK;
}

enum cp_result
store_deposit_insert(struct store *st, struct deposit *d)
{
	static const char sql[] =
		"INSERT INTO deposits(merchant_id, token_id, token, deposit_token,"
		" client_deposit_id, mode, currency, created_at_ms)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "iittttti",
		d->merchant_id, d->token_id, d->token, d->deposit_token,
		d->client_deposit_id, token_mode_name(d->mode), d->currency,
		d->created_at_ms));

	if (rc == CP_OK)
		d->id = sqlite3_last_insert_rowid(store_db(st));
	return rc;
}

enum cp_result
store_deposit_get(struct store *st, int64_t id, struct deposit *d)
{
	static const char sql[] = "SELECT " DEPOSIT_COLUMNS " FROM deposits WHERE id = ?";

	return store_deposit_one(st, store_stmt(st, sql, "i", id), d);
}

enum cp_result
store_deposit_find(struct store *st, int64_t merchant_id, const char *deposit_token,
                   struct deposit *d)
{
	static const char sql[] = "SELECT " DEPOSIT_COLUMNS " FROM deposits"
		" WHERE merchant_id = ? AND deposit_token = ?";

	return store_deposit_one(st, store_stmt(st, sql, "it", merchant_id, deposit_token), d);
}

enum cp_result
store_deposit_find_token(struct store *st, const char *token, struct deposit *d)
{
	static const char sql[] = "SELECT " DEPOSIT_COLUMNS " FROM deposits WHERE token = ?";

	return store_deposit_one(st, store_stmt(st, sql, "t", token), d);
}

enum cp_result
store_deposit_list(struct store *st, int64_t merchant_id, int64_t limit, int64_t offset,
                   store_deposit_fn fn, void *arg)
{
	static const char sql[] = "SELECT " DEPOSIT_COLUMNS " FROM deposits"
		" WHERE merchant_id = ? ORDER BY id DESC LIMIT ? OFFSET ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "iii", merchant_id, limit, offset);
	struct deposit d;
	enum cp_result rc;

	/* store_deposit_one() resets the statement after each row, so the rows
	 * are read here directly. */
	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		char mode[16];

		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int64(stmt, 0);
		d.merchant_id = sqlite3_column_int64(stmt, 1);
		d.token_id = sqlite3_column_int64(stmt, 2);
		store_col_text(stmt, 3, d.token, sizeof(d.token));
		store_col_text(stmt, 4, d.deposit_token, sizeof(d.deposit_token));
		store_col_text(stmt, 5, d.client_deposit_id, sizeof(d.client_deposit_id));
		store_col_text(stmt, 6, mode, sizeof(mode));
		d.mode = strcmp(mode, "sandbox") == 0 ? TOKEN_MODE_SANDBOX : TOKEN_MODE_LIVE;
		store_col_text(stmt, 7, d.currency, sizeof(d.currency));
		d.created_at_ms = sqlite3_column_int64(stmt, 8);
		fn(&d, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_deposit_count(struct store *st, int64_t merchant_id, int64_t *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM deposits WHERE merchant_id = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", merchant_id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		*count = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}
