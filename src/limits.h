/*
 * Every size cap and timeout of the gateway, with its unit. Values that an
 * operator may change are defaults for the matching configuration keys.
 */
#ifndef CITYPAY_LIMITS_H
#define CITYPAY_LIMITS_H

/* HTTP edge */
#define CP_BODY_MAX              (64 * 1024) /* bytes of one request body */
#define CP_PARAMS_MAX            64          /* fields in one request body */
#define CP_PARAM_NAME_MAX        64          /* bytes of one field name */
#define CP_PARAM_VALUE_MAX       4096        /* bytes of one field value */
#define CP_JSON_DEPTH_MAX        8           /* nesting of a JSON body */
#define CP_CONNECTION_TIMEOUT_S  30          /* idle client: no byte received or sent */
/* Receive deadlines of one request, counted from the accept or from the end
 * of the previous response on the connection. A connection that misses one
 * is closed without a response, however steadily its client trickles. */
#define CP_HEADER_TIMEOUT_S      10          /* seconds until the headers are complete */
#define CP_REQUEST_TIMEOUT_S     30          /* seconds until the body is complete */
/* HTTP threads: a pool of this many, or with 0 one thread per connection.
 * A new order or deposit, and a coin choice or cancel on the payment page,
 * commits while its connection is suspended, so its thread serves other
 * connections meanwhile. Other writes still hold their thread until the
 * commit. */
#define CP_HTTP_THREADS          8
#define CP_FORWARDED_MAX         32          /* addresses read from X-Forwarded-For */
#define CP_CONNECTIONS_MAX       1024        /* open client connections */
/* Bytes libmicrohttpd keeps per connection for the request line, headers
 * and read buffer. It clears them for every request, so the size is a cost. */
#define CP_CONNECTION_MEMORY     (32 * 1024)
#define CP_CONNECTIONS_PER_ADDRESS 64        /* default per peer address; 0 is no limit */

/* Merchant input */
#define CP_ORDER_TOKEN_MAX       64  /* characters of order_token and deposit_token */
#define CP_ORDER_ID_MAX          64  /* characters of the merchant's order_id */
#define CP_DESCRIPTION_MAX       1024
#define CP_EMAIL_MAX             254
#define CP_TOKEN_NAME_MAX        100
#define CP_URL_MAX               2048
#define CP_WHITELIST_MAX         64  /* entries in one token's IP whitelist */
#define CP_CALLBACK_URLS_MAX     8   /* callback URLs of one token */

/* Orders */
#define CP_ORDER_EXPIRY_MIN      60  /* default minutes from creation to expiry */
/* After expiry an order's address is watched this long: a late payment
 * still confirms an EXPIRED or UNDERPAID order. Milliseconds. */
#define CP_ORDER_LATE_WINDOW_MS  (24LL * 3600 * 1000)

/* Rate limits (API defaults); over a limit the response is 429 */
#define CP_LIMIT_TOKEN_PER_MINUTE   200
#define CP_LIMIT_TOKEN_PER_HOUR     1000
#define CP_LIMIT_ORDERS_PER_HOUR    500   /* per merchant */
#define CP_LIMIT_PUBLIC_PER_MINUTE  200   /* per client address */
#define CP_LIMIT_PUBLIC_PER_HOUR    10000
#define CP_LIMIT_AUTH_FAILURES_PER_MINUTE 20 /* per client address */

/* Callback delivery */
#define CP_CALLBACK_TIMEOUT_MS   10000 /* whole request, connect included */
#define CP_CALLBACK_RESPONSE_MAX 1024  /* bytes of a merchant's response kept */
#define CP_CALLBACK_BATCH        32    /* deliveries in flight at once */
#define CP_CALLBACK_RETRY_S      (24 * 3600 + 3600) /* give up after 25 hours */

#endif
