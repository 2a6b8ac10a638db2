/*
 * Routes of the merchant API, the sandbox and the hosted pages. Each
 * handler receives a request whose body is complete and sends exactly one
 * response. api_dispatch() is declared in http.h.
 */
#ifndef CITYPAY_API_H
#define CITYPAY_API_H

#include "http.h"

/* Hosted pages, in api_pages.c. */
int api_invoice_page(struct http_request *r);
int api_invoice_coin(struct http_request *r);
int api_invoice_cancel(struct http_request *r);
int api_deposit_page(struct http_request *r);
int api_static_css(struct http_request *r);
int api_static_js(struct http_request *r);

/* Send 404 for an unknown order or deposit as JSON. */
int api_not_found(struct http_request *r, const char *what);

/* Parse a positive decimal integer field; -1 when absent or invalid. */
int api_parse_id(const char *text, int64_t *out);

#endif
