/*
 * Shared by the cabinet_*.c route files; not part of any interface.
 */
#ifndef CITYPAY_CABINET_INTERNAL_H
#define CITYPAY_CABINET_INTERNAL_H

#include "cabinet.h"
#include "cabinet_page.h"
#include "cabinet_session.h"

#define CABINET_ROWS_DEFAULT 20  /* rows per page unless limit is given */
#define CABINET_ROWS_MAX     100 /* largest limit */

/* One cabinet request after its session was checked. */
struct cabinet_request {
	struct http_request *r;
	struct gateway *gw;
	bool api;                  /* under /cabinet/api/ */
	const char *rest;          /* path after /cabinet/ or /cabinet/api/ */
	struct cabinet_user user;
};

typedef char *(*cabinet_render_fn)(const struct cabinet_frame *f, json_object *data,
                                   size_t *len);

/*
 * Send data: as the JSON success envelope under /cabinet/api/, else as the
 * page render() draws from it. Takes ownership of data.
 */
int cabinet_reply(struct cabinet_request *c, int status, json_object *data,
                  cabinet_render_fn render, const char *active);

/* Send field errors: 422 JSON, or the page render() draws with them. */
int cabinet_reply_errors(struct cabinet_request *c, const struct field_errors *errs,
                         json_object *data, cabinet_render_fn render, const char *active);

/* After a change: 303 to location for pages (with a notice), data as JSON. */
int cabinet_done(struct cabinet_request *c, const char *location, const char *notice,
                 json_object *data);

/* Fill a page frame for the signed-in merchant. */
void cabinet_frame(struct cabinet_request *c, struct cabinet_frame *f, const char *active);

/* The request's fields as a JSON object, to refill a form. */
json_object *cabinet_form_values(struct cabinet_request *c);

/* Respond 404 as JSON or as a page. */
int cabinet_not_found(struct cabinet_request *c, const char *what);

/* Log and respond 500. */
int cabinet_internal_error(struct cabinet_request *c, const char *context);

/* Paging: page (from 1) and limit from the query; meta object of a list. */
void cabinet_paging(struct cabinet_request *c, int64_t *page, int64_t *limit);
json_object *cabinet_meta(int64_t total, int64_t page, int64_t limit);

/* Route handlers, one file per area. */
int cabinet_tokens_route(struct cabinet_request *c);
int cabinet_settings_route(struct cabinet_request *c);
int cabinet_orders_route(struct cabinet_request *c);
int cabinet_security_route(struct cabinet_request *c);

#endif
