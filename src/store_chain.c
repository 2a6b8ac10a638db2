/*
 * Store: receiving addresses, transactions, chain heights and the callback
 * outbox's insert side.
 */
#include <string.h>

#include "store_internal.h"

enum cp_result
store_address_insert(struct store *st, const char *coin, const char *address,
                     int64_t order_id, int64_t deposit_id, int64_t now)
{
	static const char sql[] = "INSERT INTO addresses(coin, address, order_id,"
		" deposit_id, created_at) VALUES (?, ?, ?, ?, ?)";

	return store_exec_stmt(st, store_stmt(st, sql, "ttnni",
	                       coin, address, order_id, deposit_id, now));
}

enum cp_result
store_address_find_owner(struct store *st, const char *coin, int64_t order_id,
                         int64_t deposit_id, char *address, size_t len)
{
	static const char sql[] = "SELECT address FROM addresses WHERE coin = ?"
		" AND order_id IS ? AND deposit_id IS ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "tnn", coin, order_id, deposit_id);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		store_col_text(stmt, 0, address, len);
		sqlite3_reset(stmt);
	}
	return rc;
}

#define TX_COLUMNS \
	"id, coin, hash, address, order_id, deposit_id, amount, amount_fiat," \
	" exchange_rate, block_height, confirmations, confirmed, created_at_ms"

static void
tx_from_row(sqlite3_stmt *stmt, struct chain_tx *tx)
{
	memset(tx, 0, sizeof(*tx));
	tx->id = sqlite3_column_int64(stmt, 0);
	store_col_text(stmt, 1, tx->coin, sizeof(tx->coin));
	store_col_text(stmt, 2, tx->hash, sizeof(tx->hash));
	store_col_text(stmt, 3, tx->address, sizeof(tx->address));
	tx->order_id = sqlite3_column_int64(stmt, 4);
	tx->deposit_id = sqlite3_column_int64(stmt, 5);
	tx->amount = store_col_money(stmt, 6);
	tx->amount_fiat = sqlite3_column_int64(stmt, 7);
	store_col_text(stmt, 8, tx->exchange_rate, sizeof(tx->exchange_rate));
	tx->block_height = sqlite3_column_int64(stmt, 9);
	tx->confirmations = sqlite3_column_int(stmt, 10);
	tx->confirmed = sqlite3_column_int(stmt, 11) != 0;
	tx->created_at_ms = sqlite3_column_int64(stmt, 12);
}

enum cp_result
store_tx_insert(struct store *st, struct chain_tx *tx)
{
	static const char sql[] = "INSERT INTO transactions(coin, hash, address,"
		" order_id, deposit_id, amount, amount_fiat, exchange_rate, block_height,"
		" confirmations, confirmed, created_at_ms)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "tttnnmitniii",
		tx->coin, tx->hash, tx->address, tx->order_id, tx->deposit_id,
		tx->amount, (int64_t)tx->amount_fiat, tx->exchange_rate,
		tx->block_height, (int64_t)tx->confirmations, (int64_t)tx->confirmed,
		tx->created_at_ms));

	if (rc == CP_OK)
		tx->id = sqlite3_last_insert_rowid(store_db(st));
	return rc;
}

enum cp_result
store_tx_update(struct store *st, const struct chain_tx *tx)
{
	static const char sql[] = "UPDATE transactions SET block_height = ?,"
		" confirmations = ?, confirmed = ? WHERE id = ?";

	return store_exec_stmt(st, store_stmt(st, sql, "niii", tx->block_height,
	                       (int64_t)tx->confirmations, (int64_t)tx->confirmed, tx->id));
}

static enum cp_result
store_tx_each(struct store *st, sqlite3_stmt *stmt, store_tx_fn fn, void *arg)
{
	struct chain_tx tx;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		tx_from_row(stmt, &tx);
		fn(&tx, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_tx_list(struct store *st, int64_t order_id, int64_t deposit_id,
              store_tx_fn fn, void *arg)
{
	static const char sql[] = "SELECT " TX_COLUMNS " FROM transactions"
		" WHERE order_id IS ? AND deposit_id IS ? ORDER BY id";

	return store_tx_each(st, store_stmt(st, sql, "nn", order_id, deposit_id), fn, arg);
}

enum cp_result
store_tx_list_unconfirmed(struct store *st, store_tx_fn fn, void *arg)
{
	static const char sql[] = "SELECT " TX_COLUMNS " FROM transactions"
		" WHERE confirmed = 0 ORDER BY id";

	return store_tx_each(st, store_stmt(st, sql, ""), fn, arg);
}

enum cp_result
store_chain_height(struct store *st, const char *chain, int64_t *height)
{
	static const char sql[] = "SELECT height FROM chain_state WHERE chain = ?";
	sqlite3_stmt *stmt = store_stmt(st, sql, "t", chain);
	enum cp_result rc = store_step_row(st, stmt);

	if (rc == CP_OK) {
		*height = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc;
}

enum cp_result
store_chain_set_height(struct store *st, const char *chain, int64_t height)
{
	static const char sql[] = "INSERT INTO chain_state(chain, height) VALUES (?, ?)"
		" ON CONFLICT(chain) DO UPDATE SET height = excluded.height";

	return store_exec_stmt(st, store_stmt(st, sql, "ti", chain, height));
}

enum cp_result
store_event_insert(struct store *st, const struct callback_event *ev)
{
	static const char event_sql[] = "INSERT INTO callback_events(event_id, token_id,"
		" order_id, deposit_id, sequence, action, body, created_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	static const char delivery_sql[] = "INSERT INTO callback_deliveries(event_id,"
		" url, next_attempt_at) VALUES (?, ?, ?)";
	enum cp_result rc;
	int64_t row;

	rc = store_exec_stmt(st, store_stmt(st, event_sql, "tinnitti", ev->event_id,
		ev->token_id, ev->order_id, ev->deposit_id, ev->sequence, ev->action,
		ev->body, ev->created_at));
	if (rc != CP_OK)
		return rc;
	row = sqlite3_last_insert_rowid(store_db(st));

	/* One delivery per callback URL; the URLs are newline-separated. */
	for (const char *p = ev->urls; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char url[CP_URL_MAX + 1];

		if (n > 0 && n <= CP_URL_MAX) {
			memcpy(url, p, n);
			url[n] = '\0';
			rc = store_exec_stmt(st, store_stmt(st, delivery_sql, "iti",
			                     row, url, ev->created_at));
			if (rc != CP_OK)
				return rc;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return CP_OK;
}

enum cp_result
store_delivery_list_order(struct store *st, int64_t order_id, store_delivery_fn fn, void *arg)
{
	static const char sql[] = "SELECT d.id, e.event_id, e.action, e.sequence, d.url,"
		" d.state, d.attempts, d.last_http_status, d.last_error, d.last_attempt_at,"
		" d.delivered_at, d.last_response FROM callback_deliveries d"
		" JOIN callback_events e ON e.id = d.event_id"
		" WHERE e.order_id = ? ORDER BY e.sequence, d.id";
	sqlite3_stmt *stmt = store_stmt(st, sql, "i", order_id);
	struct delivery_row row;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		memset(&row, 0, sizeof(row));
		row.id = sqlite3_column_int64(stmt, 0);
		store_col_text(stmt, 1, row.event_id, sizeof(row.event_id));
		store_col_text(stmt, 2, row.action, sizeof(row.action));
		row.sequence = sqlite3_column_int64(stmt, 3);
		store_col_text(stmt, 4, row.url, sizeof(row.url));
		store_col_text(stmt, 5, row.state, sizeof(row.state));
		row.attempts = sqlite3_column_int(stmt, 6);
		row.last_http_status = sqlite3_column_int(stmt, 7);
		store_col_text(stmt, 8, row.last_error, sizeof(row.last_error));
		row.last_attempt_at = sqlite3_column_int64(stmt, 9);
		row.delivered_at = sqlite3_column_int64(stmt, 10);
		store_col_text(stmt, 11, row.last_response, sizeof(row.last_response));
		fn(&row, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_delivery_resend(struct store *st, int64_t order_id, int64_t delivery_id, int64_t now)
{
	static const char sql[] = "UPDATE callback_deliveries SET state = 'pending',"
		" next_attempt_at = ?1, resend_pending = 1 WHERE id = ?2 AND event_id IN"
		" (SELECT id FROM callback_events WHERE order_id = ?3)";
	enum cp_result rc = store_exec_stmt(st, store_stmt(st, sql, "iii", now, delivery_id,
	                                    order_id));

	if (rc == CP_OK && sqlite3_changes(store_db(st)) == 0)
		return CP_NOT_FOUND;
	return rc;
}
