/*
 * Cabinet routes of orders, deposits and the audit log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cabinet_internal.h"
#include "views.h"

struct cabinet_order_rows {
	json_object *list;
	struct gateway *gw;
};

static void
cabinet_order_row(const struct order *o, void *arg)
{
	struct cabinet_order_rows *rows = arg;
	const struct money_currency *cur = money_currency_find(o->currency);
	json_object *item = json_object_new_object();
	struct access_token *t = calloc(1, sizeof(*t));

	json_object_object_add(item, "id", json_object_new_int64(o->id));
	json_object_object_add(item, "token", json_object_new_string(o->token));
	json_object_object_add(item, "client_order_id", json_object_new_string(o->client_order_id));
	json_object_object_add(item, "status", json_object_new_string(order_status_code(o->status)));
	json_object_object_add(item, "amount", views_decimal(o->amount_fiat, cur ? cur->scale : 2, true));
	json_object_object_add(item, "currency", json_object_new_string(o->currency));
	json_object_object_add(item, "coin", o->coin[0] ? json_object_new_string(o->coin) : NULL);
	json_object_object_add(item, "created_at", json_object_new_int64(o->created_at_ms / 1000));
	if (t != NULL && store_token_get(rows->gw->store, o->token_id, t) == CP_OK)
		json_object_object_add(item, "token_name", json_object_new_string(t->name));
	else
		json_object_object_add(item, "token_name", NULL);
	free(t);
	json_object_array_add(rows->list, item);
}

/* Parse "YYYY-MM-DD" as the Unix ms of that day's start in UTC; -1 when invalid. */
static int64_t
cabinet_day_ms(const char *text)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = text ? strptime(text, "%Y-%m-%d", &tm) : NULL;
	if (end == NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

struct cabinet_token_match {
	const char *name;
	int64_t id;
};

static void
cabinet_match_token(const struct access_token *t, void *arg)
{
	struct cabinet_token_match *m = arg;

	/* A revoked token may share its name with a newer one: the newest wins. */
	if (strcmp(t->name, m->name) == 0 && t->id > m->id)
		m->id = t->id;
}

/* Read the filters; fills errs for invalid ones. Runs in a read transaction. */
static void
cabinet_order_filter(struct cabinet_request *c, struct order_filter *f, json_object *echo,
                     struct field_errors *errs)
{
	const char *status = http_query(c->r, "status");
	const char *from = http_query(c->r, "from");
	const char *to = http_query(c->r, "to");
	const char *token = http_query(c->r, "token");
	enum order_status parsed;

	memset(f, 0, sizeof(*f));
	f->merchant_id = c->user.merchant.id;
	if (status && status[0] && order_status_parse(status, &parsed) != 0)
		field_errors_add(errs, "status", "status must be one of IN_PROGRESS, PAID_UNCONFIRMED,"
		                 " CONFIRMED, UNDERPAID, OVERPAID, EXPIRED, CANCELED");
	else if (status && status[0])
		f->status = status;
	if (from && from[0] && (f->from_ms = cabinet_day_ms(from)) < 0)
		field_errors_add(errs, "from", "from must be a date such as 2026-12-01");
	if (to && to[0] && (f->to_ms = cabinet_day_ms(to)) < 0)
		field_errors_add(errs, "to", "to must be a date such as 2026-12-31");
	else if (to && to[0])
		f->to_ms += 24 * 3600 * 1000; /* the whole "to" day is included */
	if (token && token[0]) {
		struct cabinet_token_match m = { token, 0 };
		store_token_list(c->gw->store, c->user.merchant.id, cabinet_match_token, &m);
		f->token_id = m.id ? m.id : -1; /* an unknown name matches nothing */
	}
	json_object_object_add(echo, "status", f->status ? json_object_new_string(status) : NULL);
	json_object_object_add(echo, "from", from && from[0] ? json_object_new_string(from) : NULL);
	json_object_object_add(echo, "to", to && to[0] ? json_object_new_string(to) : NULL);
	json_object_object_add(echo, "token", token && token[0] ? json_object_new_string(token) : NULL);
}

static int
cabinet_orders_list(struct cabinet_request *c)
{
	struct field_errors errs = { .count = 0 };
	struct cabinet_order_rows rows = { json_object_new_array(), c->gw };
	json_object *filters = json_object_new_object();
	json_object *data = json_object_new_object();
	struct order_filter f;
	int64_t page, limit, total = 0;
	enum cp_result rc;

	cabinet_paging(c, &page, &limit);
	if (store_begin_read(c->gw->store) != CP_OK) {
		json_object_put(rows.list);
		json_object_put(filters);
		json_object_put(data);
		return cabinet_internal_error(c, "order list");
	}
	cabinet_order_filter(c, &f, filters, &errs);
	rc = errs.count > 0 ? CP_OK : store_order_search_count(c->gw->store, &f, &total);
	if (rc == CP_OK && errs.count == 0)
		rc = store_order_search(c->gw->store, &f, limit, (page - 1) * limit,
		                        cabinet_order_row, &rows);
	store_rollback(c->gw->store);

	json_object_object_add(data, "orders", rows.list);
	json_object_object_add(data, "meta", cabinet_meta(total, page, limit));
	json_object_object_add(data, "filters", filters);
	if (errs.count > 0)
		return cabinet_reply_errors(c, &errs, data, cabinet_page_orders, "orders");
	if (rc != CP_OK) {
		json_object_put(data);
		return cabinet_internal_error(c, "order list");
	}
	return cabinet_reply(c, 200, data, cabinet_page_orders, "orders");
}

static void
cabinet_delivery_row(const struct delivery_row *d, void *arg)
{
	json_object *item = json_object_new_object();

	json_object_object_add(item, "id", json_object_new_int64(d->id));
	json_object_object_add(item, "event_id", json_object_new_string(d->event_id));
	json_object_object_add(item, "action", json_object_new_string(d->action));
	json_object_object_add(item, "sequence", json_object_new_int64(d->sequence));
	json_object_object_add(item, "url", json_object_new_string(d->url));
	json_object_object_add(item, "state", json_object_new_string(d->state));
	json_object_object_add(item, "attempts", json_object_new_int(d->attempts));
	json_object_object_add(item, "last_http_status",
		d->last_http_status ? json_object_new_int(d->last_http_status) : NULL);
	json_object_object_add(item, "last_error",
		d->last_error[0] ? json_object_new_string(d->last_error) : NULL);
	json_object_object_add(item, "last_response",
		d->last_response[0] ? json_object_new_string(d->last_response) : NULL);
	json_object_object_add(item, "last_attempt_at",
		d->last_attempt_at ? json_object_new_int64(d->last_attempt_at) : NULL);
	json_object_object_add(item, "delivered_at",
		d->delivered_at ? json_object_new_int64(d->delivered_at) : NULL);
	json_object_array_add(arg, item);
}

/* Load the merchant's order by its public token; CP_NOT_FOUND for another's. */
static enum cp_result
cabinet_order_load(struct cabinet_request *c, const char *token, struct order *o)
{
	enum cp_result rc;

	if (!validate_public_token(token, CP_ORDER_TOKEN_MAX))
		return CP_NOT_FOUND;
	rc = store_order_find_token(c->gw->store, token, o);
	if (rc == CP_OK && o->merchant_id != c->user.merchant.id)
		return CP_NOT_FOUND;
	return rc;
}

static int
cabinet_order_detail(struct cabinet_request *c, const char *token)
{
	json_object *deliveries = json_object_new_array();
	json_object *info = NULL;
	struct order o;
	enum cp_result rc = store_begin_read(c->gw->store);

	if (rc == CP_OK) {
		rc = cabinet_order_load(c, token, &o);
		if (rc == CP_OK)
			info = views_order(c->gw, &o, true);
		if (rc == CP_OK)
			rc = store_delivery_list_order(c->gw->store, o.id, cabinet_delivery_row, deliveries);
		store_rollback(c->gw->store);
	}
	if (rc != CP_OK || info == NULL) {
		json_object_put(deliveries);
		json_object_put(info);
		return rc == CP_NOT_FOUND ? cabinet_not_found(c, "order")
		                          : cabinet_internal_error(c, "order detail");
	}
	json_object *data = json_object_new_object();
	json_object_object_add(data, "order", info);
	json_object_object_add(data, "deliveries", deliveries);
	return cabinet_reply(c, 200, data, cabinet_page_order, "orders");
}

static int
cabinet_order_resend(struct cabinet_request *c, const char *token)
{
	const char *id_text = params_get(&c->r->params, "delivery_id");
	char *end = NULL;
	long long id = id_text ? strtoll(id_text, &end, 10) : 0;
	char location[CP_ORDER_TOKEN_MAX + 32];
	struct order o;
	enum cp_result rc;

	if (id <= 0 || *end != '\0')
		return http_send_error(c->r, 422, "UnsupportedInput", "delivery_id",
		                       "delivery_id must be the id of one of the order's deliveries");
	if ((rc = store_begin(c->gw->store)) != CP_OK)
		return cabinet_internal_error(c, "resend");
	rc = cabinet_order_load(c, token, &o);
	if (rc == CP_OK)
		rc = store_delivery_resend(c->gw->store, o.id, id, time(NULL));
	if (rc != CP_OK) {
		store_rollback(c->gw->store);
		return rc == CP_NOT_FOUND ? cabinet_not_found(c, "delivery")
		                          : cabinet_internal_error(c, "resend");
	}
	if (store_commit(c->gw->store) != CP_OK)
		return cabinet_internal_error(c, "resend");
	gateway_events_written(c->gw);
	snprintf(location, sizeof(location), "/cabinet/orders/%s", o.token);
	return cabinet_done(c, location, "resent", NULL);
}

static void
cabinet_deposit_row(const struct deposit *d, void *arg)
{
	json_object *item = json_object_new_object();

	json_object_object_add(item, "id", json_object_new_int64(d->id));
	json_object_object_add(item, "token", json_object_new_string(d->token));
	json_object_object_add(item, "deposit_token", json_object_new_string(d->deposit_token));
	json_object_object_add(item, "deposit_id", json_object_new_string(d->client_deposit_id));
	json_object_object_add(item, "currency", json_object_new_string(d->currency));
	json_object_object_add(item, "created_at", json_object_new_int64(d->created_at_ms / 1000));
	json_object_array_add(arg, item);
}

static void
cabinet_audit_row(const struct audit_entry *e, void *arg)
{
	json_object *item = json_object_new_object();

	json_object_object_add(item, "at", json_object_new_int64(e->at));
	json_object_object_add(item, "ip", json_object_new_string(e->ip));
	json_object_object_add(item, "action", json_object_new_string(e->action));
	json_object_object_add(item, "detail", json_object_new_string(e->detail));
	json_object_array_add(arg, item);
}

/* The deposit list or the audit log: a paged list of the merchant's rows. */
static int
cabinet_paged_list(struct cabinet_request *c, bool audit)
{
	json_object *list = json_object_new_array();
	int64_t page, limit, total = 0, id = c->user.merchant.id;
	enum cp_result rc;

	cabinet_paging(c, &page, &limit);
	if ((rc = store_begin_read(c->gw->store)) == CP_OK) {
		rc = audit ? store_audit_count(c->gw->store, id, &total)
		           : store_deposit_count(c->gw->store, id, &total);
		if (rc == CP_OK)
			rc = audit ? store_audit_list(c->gw->store, id, limit, (page - 1) * limit,
			                              cabinet_audit_row, list)
			           : store_deposit_list(c->gw->store, id, limit, (page - 1) * limit,
			                                cabinet_deposit_row, list);
		store_rollback(c->gw->store);
	}
	if (rc != CP_OK) {
		json_object_put(list);
		return cabinet_internal_error(c, audit ? "audit log" : "deposit list");
	}
	json_object *data = json_object_new_object();
	json_object_object_add(data, audit ? "entries" : "deposits", list);
	json_object_object_add(data, "meta", cabinet_meta(total, page, limit));
	return cabinet_reply(c, 200, data, audit ? cabinet_page_audit : cabinet_page_deposits,
	                     audit ? "audit" : "deposits");
}

int
cabinet_orders_route(struct cabinet_request *c)
{
	bool post = strcmp(c->r->method, "POST") == 0;
	char token[CP_ORDER_TOKEN_MAX + 1];
	const char *rest = c->rest;
	const char *slash;

	if (strcmp(rest, "deposits") == 0 && !post)
		return cabinet_paged_list(c, false);
	if (strcmp(rest, "audit") == 0 && !post)
		return cabinet_paged_list(c, true);
	if (strcmp(rest, "orders") == 0 && !post)
		return cabinet_orders_list(c);
	if (strncmp(rest, "orders/", 7) != 0)
		return cabinet_not_found(c, "page");

	rest += 7;
	slash = strchr(rest, '/');
	if ((size_t)(slash ? slash - rest : (ptrdiff_t)strlen(rest)) > CP_ORDER_TOKEN_MAX)
		return cabinet_not_found(c, "order");
	snprintf(token, sizeof(token), "%.*s", (int)(slash ? slash - rest : (ptrdiff_t)strlen(rest)), rest);
	if (slash == NULL && !post)
		return cabinet_order_detail(c, token);
	if (slash != NULL && strcmp(slash, "/resend") == 0 && post)
		return cabinet_order_resend(c, token);
	return cabinet_not_found(c, "page");
}
