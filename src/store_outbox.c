/*
 * The callback outbox in SQLite: claiming due deliveries, recording
 * attempts in the delivery log, opening the signing secret of an event's
 * token, and the operator's list, detail, resend and queue depth.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "outbox.h"
#include "store_internal.h"

/*
 * Due pending deliveries, oldest first, without those that have an earlier
 * event of the same order or deposit still pending to the same URL. Each
 * probe walks only that order's or deposit's earlier events, through the
 * (order_id, sequence) and (deposit_id, sequence) indexes.
 */
static const char sql_claim_select[] =
	"SELECT d.id, e.event_id, e.token_id, d.url, d.attempts, e.created_at,"
	" e.body, d.resend_pending"
	" FROM callback_deliveries d JOIN callback_events e ON e.id = d.event_id"
	" WHERE d.state = 'pending' AND d.next_attempt_at <= ?1"
	" AND NOT EXISTS ("
	"  SELECT 1 FROM callback_events e2"
	"  JOIN callback_deliveries d2 ON d2.event_id = e2.id"
	"  WHERE e2.order_id = e.order_id AND e2.sequence < e.sequence"
	"  AND d2.url = d.url AND d2.state = 'pending')"
	" AND NOT EXISTS ("
	"  SELECT 1 FROM callback_events e2"
	"  JOIN callback_deliveries d2 ON d2.event_id = e2.id"
	"  WHERE e2.deposit_id = e.deposit_id AND e2.sequence < e.sequence"
	"  AND d2.url = d.url AND d2.state = 'pending')"
	" ORDER BY d.next_attempt_at, d.id LIMIT ?2";

static const char sql_claim_lease[] =
	"UPDATE callback_deliveries SET next_attempt_at = ?2"
	" WHERE id = ?1 AND state = 'pending'";

static const char sql_record_delivered[] =
	"UPDATE callback_deliveries SET state = 'delivered', delivered_at = ?2,"
	" attempts = attempts + 1, last_attempt_at = ?2, last_http_status = ?3,"
	" last_error = NULL, last_response = ?4, last_latency_ms = ?5,"
	" resend_pending = CASE WHEN ?6 THEN 0 ELSE resend_pending END"
	" WHERE id = ?1 RETURNING state";

/* The event's age decides between another attempt and giving up, read from
 * the event row so a caller cannot extend the retry window by mistake. */
static const char sql_record_failed[] =
	"UPDATE callback_deliveries SET"
	" state = CASE WHEN ?2 - (SELECT e.created_at FROM callback_events e"
	"  WHERE e.id = callback_deliveries.event_id) > ?7"
	"  THEN 'failed' ELSE 'pending' END,"
	" next_attempt_at = ?6,"
	" attempts = attempts + 1, last_attempt_at = ?2, last_http_status = ?3,"
	" last_error = ?8, last_response = ?4, last_latency_ms = ?5,"
	" resend_pending = CASE WHEN ?9 THEN 0 ELSE resend_pending END"
	" WHERE id = ?1 RETURNING state";

static const char sql_attempt_insert[] =
	"INSERT INTO callback_attempts(delivery_id, attempted_at, http_status, error,"
	" latency_ms, response, resend) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char sql_token_secret[] =
	"SELECT signing_secret_sealed, mode,"
	" CASE WHEN previous_secret_until > ?2 THEN previous_secret_sealed END"
	" FROM access_tokens WHERE id = ?1";

/* Fill one delivery from the current row of sql_claim_select. */
static enum cp_result
store_outbox_read_row(sqlite3_stmt *stmt, struct outbox_delivery *d)
{
	const void *body = sqlite3_column_blob(stmt, 6);
	int body_len = sqlite3_column_bytes(stmt, 6);

	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(stmt, 0);
	store_col_text(stmt, 1, d->event_id, sizeof(d->event_id));
	d->token_id = sqlite3_column_int64(stmt, 2);
	store_col_text(stmt, 3, d->url, sizeof(d->url));
	d->attempts = sqlite3_column_int64(stmt, 4);
	d->event_created_at = sqlite3_column_int64(stmt, 5);
	d->resend = sqlite3_column_int64(stmt, 7) != 0;

	d->body = malloc((size_t)body_len + 1);
	if (d->body == NULL) {
		log_error("out of memory copying a callback body",
		          "delivery_id", log_int(d->id), NULL);
		return CP_ERROR;
	}
	if (body_len > 0)
		memcpy(d->body, body, (size_t)body_len);
	d->body[body_len] = '\0';
	d->body_len = (size_t)body_len;
	return CP_OK;
}

static void
store_outbox_free_rows(struct outbox_delivery *out, int n)
{
	for (int i = 0; i < n; i++) {
		free(out[i].body);
		out[i].body = NULL;
	}
}

static bool
store_outbox_id_listed(int64_t id, const int64_t *ids, int count)
{
	for (int i = 0; i < count; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

enum cp_result
store_outbox_claim(struct store *st, int64_t now, int64_t lease_s,
                   const int64_t *skip_ids, int skip_count,
                   struct outbox_delivery *out, int max, int *n)
{
	enum cp_result rc = CP_OK;
	int count = 0;

	*n = 0;
	/* Each skipped row takes a place of the LIMIT, so ask for that many more. */
	sqlite3_stmt *stmt = store_stmt(st, sql_claim_select, "ii", now,
	                                (int64_t)max + skip_count);
	if (stmt == NULL)
		return CP_ERROR;

	/* Read every row before updating, so the lease never changes rows
	 * under the running SELECT. */
	while (count < max) {
		rc = store_step_row(st, stmt);
		if (rc == CP_NOT_FOUND) {
			rc = CP_OK;
			break;
		}
		if (rc != CP_OK)
			goto fail;
		if (store_outbox_id_listed(sqlite3_column_int64(stmt, 0), skip_ids, skip_count))
			continue;
		rc = store_outbox_read_row(stmt, &out[count]);
		if (rc != CP_OK)
			goto fail;
		count++;
	}
	sqlite3_reset(stmt);

	for (int i = 0; i < count; i++) {
		rc = store_exec_stmt(st, store_stmt(st, sql_claim_lease, "ii",
		                                    out[i].id, now + lease_s));
		if (rc != CP_OK)
			goto fail;
	}
	*n = count;
	return CP_OK;

fail:
	sqlite3_reset(stmt);
	store_outbox_free_rows(out, count);
	return rc == CP_OK ? CP_ERROR : rc;
}

/* Length of the valid UTF-8 sequence at p (at most avail bytes), 0 if none. */
static size_t
store_outbox_utf8_len(const unsigned char *p, size_t avail)
{
	size_t len;

	if (p[0] >= 0x01 && p[0] <= 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > avail)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	return len;
}

/*
 * Copy a merchant's response body into out (CP_CALLBACK_RESPONSE_MAX + 1 bytes) as
 * text that is safe to store and show: NUL bytes and invalid UTF-8 become
 * '?', and a character cut by the size cap is dropped.
 */
static void
store_outbox_clean_response(const char *response, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)response;
	size_t in = 0;
	size_t used = 0;

	if (len > CP_CALLBACK_RESPONSE_MAX)
		len = CP_CALLBACK_RESPONSE_MAX;
	while (in < len) {
		size_t step = store_outbox_utf8_len(p + in, len - in);

		if (step == 0) {
			out[used++] = '?';
			in++;
			continue;
		}
		memcpy(out + used, p + in, step);
		used += step;
		in += step;
	}
	out[used] = '\0';
}

/* Add the callback_attempts row of one attempt; response is already cleaned. */
static enum cp_result
store_outbox_log_attempt(struct store *st, const struct outbox_attempt *attempt,
                         const char *response)
{
	const char *error = NULL;

	if (!attempt->delivered)
		error = attempt->error ? attempt->error : "unknown error";
	return store_exec_stmt(st, store_stmt(st, sql_attempt_insert, "iintiti",
	                                      attempt->delivery_id, attempt->attempted_at,
	                                      (int64_t)attempt->http_status, error,
	                                      attempt->latency_ms,
	                                      response[0] != '\0' ? response : NULL,
	                                      (int64_t)attempt->resend));
}

enum cp_result
store_outbox_record(struct store *st, const struct outbox_attempt *attempt,
                    bool *gave_up)
{
	char response[CP_CALLBACK_RESPONSE_MAX + 1];
	char state[16];
	sqlite3_stmt *stmt;

	store_outbox_clean_response(attempt->response ? attempt->response : "",
	                            attempt->response ? attempt->response_len : 0,
	                            response);

	if (attempt->delivered)
		stmt = store_stmt(st, sql_record_delivered, "iiitii",
		                  attempt->delivery_id, attempt->attempted_at,
		                  (int64_t)attempt->http_status, response,
		                  attempt->latency_ms, (int64_t)attempt->resend);
	else
		stmt = store_stmt(st, sql_record_failed, "iiitiiiti",
		                  attempt->delivery_id, attempt->attempted_at,
		                  (int64_t)attempt->http_status, response,
		                  attempt->latency_ms, attempt->next_attempt_at,
		                  (int64_t)CP_CALLBACK_RETRY_S,
		                  attempt->error ? attempt->error : "unknown error",
		                  (int64_t)attempt->resend);

	enum cp_result rc = store_step_row(st, stmt);
	if (rc != CP_OK)
		return rc;
	store_col_text(stmt, 0, state, sizeof(state));
	sqlite3_reset(stmt);

	rc = store_outbox_log_attempt(st, attempt, response);
	if (rc != CP_OK)
		return rc;
	if (gave_up != NULL)
		*gave_up = strcmp(state, "failed") == 0;
	return CP_OK;
}

/* Open one sealed secret of the token into out, logging a failure. */
static enum cp_result
store_outbox_open_secret(const struct keys *keys, int64_t token_id, const char *sealed,
                         char *out, size_t len)
{
	if (keys_open(keys, sealed, out, len) == 0)
		return CP_OK;
	sodium_memzero(out, len);
	log_error("opening the signing secret failed",
	          "token_id", log_int(token_id),
	          "hint", "check that the key file is the one this database"
	          " was created with", NULL);
	return CP_INVALID;
}

enum cp_result
store_outbox_token_secret(struct store *st, const struct keys *keys,
                          int64_t token_id, int64_t now, char *secret,
                          char *previous, size_t len, enum token_mode *mode)
{
	char sealed[sizeof(((struct access_token *)0)->signing_secret_sealed)];
	char previous_sealed[sizeof(sealed)];
	char mode_text[16];
	sqlite3_stmt *stmt = store_stmt(st, sql_token_secret, "ii", token_id, now);

	previous[0] = '\0';
	enum cp_result rc = store_step_row(st, stmt);
	if (rc != CP_OK)
		return rc;
	store_col_text(stmt, 0, sealed, sizeof(sealed));
	store_col_text(stmt, 1, mode_text, sizeof(mode_text));
	store_col_text(stmt, 2, previous_sealed, sizeof(previous_sealed));
	sqlite3_reset(stmt);

	if (token_mode_parse(mode_text, mode) != 0) {
		log_error("access token has an unknown mode",
		          "token_id", log_int(token_id), "mode", mode_text, NULL);
		return CP_INVALID;
	}
	rc = store_outbox_open_secret(keys, token_id, sealed, secret, len);
	if (rc != CP_OK)
		return rc;
	if (previous_sealed[0] == '\0')
		return CP_OK;
	rc = store_outbox_open_secret(keys, token_id, previous_sealed, previous, len);
	if (rc != CP_OK)
		sodium_memzero(secret, len);
	return rc;
}

/* Operator views */

/* Deliveries with their events, newest first; ?1 to ?3 filter when not 0 or NULL. */
static const char sql_list[] =
	"SELECT e.event_id, o.token, dp.deposit_token, e.action, e.sequence, d.url,"
	" d.state, d.attempts, d.last_http_status, d.last_error, e.created_at,"
	" d.delivered_at"
	" FROM callback_deliveries d JOIN callback_events e ON e.id = d.event_id"
	" JOIN access_tokens t ON t.id = e.token_id"
	" LEFT JOIN orders o ON o.id = e.order_id"
	" LEFT JOIN deposits dp ON dp.id = e.deposit_id"
	" WHERE (?1 = 0 OR t.merchant_id = ?1)"
	" AND (?2 IS NULL OR o.token = ?2)"
	" AND (?3 IS NULL OR d.state = ?3)"
	" ORDER BY d.id DESC LIMIT ?4";

static const char sql_event_get[] =
	"SELECT id, event_id, action, sequence, created_at, body"
	" FROM callback_events WHERE event_id = ?1";

static const char sql_deliveries[] =
	"SELECT id, url, state, next_attempt_at, delivered_at, resend_pending"
	" FROM callback_deliveries WHERE event_id = ?1 ORDER BY id LIMIT ?2";

static const char sql_attempts[] =
	"SELECT attempted_at, http_status, error, latency_ms, response, resend"
	" FROM callback_attempts WHERE delivery_id = ?1 ORDER BY id";

static const char sql_resend[] =
	"UPDATE callback_deliveries SET state = 'pending', next_attempt_at = ?2,"
	" resend_pending = 1 WHERE event_id = ?1";

static const char sql_queue_depth[] =
	"SELECT COUNT(*) FROM callback_deliveries WHERE state = 'pending'";

static void
store_outbox_read_summary(sqlite3_stmt *stmt, struct outbox_summary *row)
{
	memset(row, 0, sizeof(*row));
	store_col_text(stmt, 0, row->event_id, sizeof(row->event_id));
	store_col_text(stmt, 1, row->order_token, sizeof(row->order_token));
	store_col_text(stmt, 2, row->deposit_token, sizeof(row->deposit_token));
	store_col_text(stmt, 3, row->action, sizeof(row->action));
	row->sequence = sqlite3_column_int64(stmt, 4);
	store_col_text(stmt, 5, row->url, sizeof(row->url));
	store_col_text(stmt, 6, row->state, sizeof(row->state));
	row->attempts = sqlite3_column_int64(stmt, 7);
	row->last_http_status = sqlite3_column_int64(stmt, 8);
	store_col_text(stmt, 9, row->last_error, sizeof(row->last_error));
	row->created_at = sqlite3_column_int64(stmt, 10);
	row->delivered_at = sqlite3_column_int64(stmt, 11);
}

enum cp_result
store_outbox_list(struct store *st, const struct outbox_filter *filter,
                  outbox_summary_fn fn, void *arg)
{
	sqlite3_stmt *stmt = store_stmt(st, sql_list, "itti", filter->merchant_id,
	                                filter->order_token, filter->state, filter->limit);
	struct outbox_summary row;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		store_outbox_read_summary(stmt, &row);
		fn(&row, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_outbox_event_get(struct store *st, const char *event_id, struct outbox_event *ev)
{
	sqlite3_stmt *stmt = store_stmt(st, sql_event_get, "t", event_id);
	enum cp_result rc = store_step_row(st, stmt);

	memset(ev, 0, sizeof(*ev));
	if (rc != CP_OK)
		return rc;
	ev->id = sqlite3_column_int64(stmt, 0);
	store_col_text(stmt, 1, ev->event_id, sizeof(ev->event_id));
	store_col_text(stmt, 2, ev->action, sizeof(ev->action));
	ev->sequence = sqlite3_column_int64(stmt, 3);
	ev->created_at = sqlite3_column_int64(stmt, 4);

	int len = sqlite3_column_bytes(stmt, 5);
	const void *body = sqlite3_column_blob(stmt, 5);

	ev->body = malloc((size_t)len + 1);
	if (ev->body == NULL) {
		sqlite3_reset(stmt);
		log_error("out of memory copying a callback body", "event_id", event_id, NULL);
		return CP_ERROR;
	}
	if (len > 0)
		memcpy(ev->body, body, (size_t)len);
	ev->body[len] = '\0';
	sqlite3_reset(stmt);
	return CP_OK;
}

enum cp_result
store_outbox_deliveries(struct store *st, int64_t event_row,
                        struct outbox_delivery_info *out, int max, int *n)
{
	sqlite3_stmt *stmt = store_stmt(st, sql_deliveries, "ii", event_row, (int64_t)max);
	enum cp_result rc = CP_OK;
	int count = 0;

	while (count < max) {
		rc = store_step_row(st, stmt);
		if (rc != CP_OK)
			break;

		struct outbox_delivery_info *d = &out[count++];

		memset(d, 0, sizeof(*d));
		d->id = sqlite3_column_int64(stmt, 0);
		store_col_text(stmt, 1, d->url, sizeof(d->url));
		store_col_text(stmt, 2, d->state, sizeof(d->state));
		d->next_attempt_at = sqlite3_column_int64(stmt, 3);
		d->delivered_at = sqlite3_column_int64(stmt, 4);
		d->resend_pending = sqlite3_column_int64(stmt, 5) != 0;
	}
	*n = count;
	if (rc == CP_OK)
		sqlite3_reset(stmt);    /* stopped at max with a row still open */
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_outbox_attempts(struct store *st, int64_t delivery_id, outbox_attempt_fn fn, void *arg)
{
	sqlite3_stmt *stmt = store_stmt(st, sql_attempts, "i", delivery_id);
	struct outbox_attempt_row row;
	enum cp_result rc;

	while ((rc = store_step_row(st, stmt)) == CP_OK) {
		memset(&row, 0, sizeof(row));
		row.attempted_at = sqlite3_column_int64(stmt, 0);
		row.http_status = sqlite3_column_int64(stmt, 1);
		store_col_text(stmt, 2, row.error, sizeof(row.error));
		row.latency_ms = sqlite3_column_int64(stmt, 3);
		store_col_text(stmt, 4, row.response, sizeof(row.response));
		row.resend = sqlite3_column_int64(stmt, 5) != 0;
		fn(&row, arg);
	}
	return rc == CP_NOT_FOUND ? CP_OK : rc;
}

enum cp_result
store_outbox_resend(struct store *st, const char *event_id, int64_t now, int64_t *deliveries)
{
	struct outbox_event ev;
	enum cp_result rc = store_outbox_event_get(st, event_id, &ev);

	*deliveries = 0;
	if (rc != CP_OK)
		return rc;
	free(ev.body);

	rc = store_exec_stmt(st, store_stmt(st, sql_resend, "ii", ev.id, now));
	if (rc != CP_OK)
		return rc;
	*deliveries = sqlite3_changes(store_db(st));
	return CP_OK;
}

enum cp_result
store_outbox_queue_depth(struct store *st, int64_t *depth)
{
	sqlite3_stmt *stmt = store_stmt(st, sql_queue_depth, "");
	enum cp_result rc = store_step_row(st, stmt);

	*depth = 0;
	if (rc != CP_OK)
		return rc;
	*depth = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return CP_OK;
}
