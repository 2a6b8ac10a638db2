/*
 * The merchant cabinet's routes under /cabinet/ (HTML pages) and
 * /cabinet/api/ (JSON). docs/CABINET.md describes every route and response.
 */
#ifndef CITYPAY_CABINET_H
#define CITYPAY_CABINET_H

#include "http.h"

/* Handle a request whose path starts with /cabinet. */
int cabinet_dispatch(struct http_request *r);

#endif
