/*
 * The order API for the merchant's own UI, under /orders/api. A merchant
 * logs in with an access token and receives a bearer JWT (jwt.h) valid for
 * 15 minutes. With it the UI lists the merchant's orders, shows one order
 * with the coins the buyer may choose, chooses the coin and refreshes the
 * quote. Each request with a JWT checks again that the access token which
 * logged in is neither revoked nor expired.
 */
#ifndef CITYPAY_ORDER_API_H
#define CITYPAY_ORDER_API_H

#include "http.h"

/*
 * POST /orders/api/login: the access token in `token` (or `access_token`),
 * `customer_id` optional. Runs the ordered checks of auth_check(), the IP
 * whitelist included, and returns {token, expires_in, token_type}.
 */
int order_api_login(struct http_request *r);

/* GET /orders/api: the merchant's orders, newest first; query page and limit. */
int order_api_list(struct http_request *r);

/*
 * GET /orders/api/{token}: order information plus `coins`, and
 * GET /orders/api/{token}/rates: a new quote for an unpaid order.
 */
int order_api_get(struct http_request *r);

/* POST /orders/api/{token}: choose the payment coin (`coin`). */
int order_api_choose_coin(struct http_request *r);

#endif
