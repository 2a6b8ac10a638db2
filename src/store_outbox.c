/*
 * The callback outbox in SQLite: claiming due deliveries, recording
 * attempts, and opening the signing secret of an event's token.
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
	" e.body"
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
	" last_error = NULL, last_response = ?4, last_latency_ms = ?5"
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
	" last_error = ?8, last_response = ?4, last_latency_ms = ?5"
	" WHERE id = ?1 RETURNING state";

static const char sql_token_secret[] =
	"SELECT signing_secret_sealed, mode FROM access_tokens WHERE id = ?1";

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

enum cp_result
store_outbox_claim(struct store *st, int64_t now, int64_t lease_s,
                   struct outbox_delivery *out, int max, int *n)
{
	enum cp_result rc = CP_OK;
	int count = 0;

	*n = 0;
	sqlite3_stmt *stmt = store_stmt(st, sql_claim_select, "ii", now, (int64_t)max);
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
		stmt = store_stmt(st, sql_record_delivered, "iiiti",
		                  attempt->delivery_id, attempt->attempted_at,
		                  (int64_t)attempt->http_status, response,
		                  attempt->latency_ms);
	else
		stmt = store_stmt(st, sql_record_failed, "iiitiiit",
		                  attempt->delivery_id, attempt->attempted_at,
		                  (int64_t)attempt->http_status, response,
		                  attempt->latency_ms, attempt->next_attempt_at,
		                  (int64_t)CP_CALLBACK_RETRY_S,
		                  attempt->error ? attempt->error : "unknown error");

	enum cp_result rc = store_step_row(st, stmt);
	if (rc != CP_OK)
		return rc;
	store_col_text(stmt, 0, state, sizeof(state));
	sqlite3_reset(stmt);

	if (gave_up != NULL)
		*gave_up = strcmp(state, "failed") == 0;
	return CP_OK;
}

enum cp_result
store_outbox_token_secret(struct store *st, const struct keys *keys,
                          int64_t token_id, char *secret, size_t len,
                          enum token_mode *mode)
{
	char sealed[sizeof(((struct access_token *)0)->signing_secret_sealed)];
	char mode_text[16];
	sqlite3_stmt *stmt = store_stmt(st, sql_token_secret, "i", token_id);

	enum cp_result rc = store_step_row(st, stmt);
	if (rc != CP_OK)
		return rc;
	store_col_text(stmt, 0, sealed, sizeof(sealed));
	store_col_text(stmt, 1, mode_text, sizeof(mode_text));
	sqlite3_reset(stmt);

	if (token_mode_parse(mode_text, mode) != 0) {
		log_error("access token has an unknown mode",
		          "token_id", log_int(token_id), "mode", mode_text, NULL);
		return CP_INVALID;
	}
	if (keys_open(keys, sealed, secret, len) != 0) {
		sodium_memzero(secret, len);
		log_error("opening the signing secret failed",
		          "token_id", log_int(token_id),
		          "hint", "check that the key file is the one this database"
		          " was created with", NULL);
		return CP_INVALID;
	}
	return CP_OK;
}
