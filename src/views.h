/*
 * JSON views of orders and deposits as the wire format shows them, and the
 * small JSON helpers the views and callback bodies share.
 */
#ifndef CITYPAY_VIEWS_H
#define CITYPAY_VIEWS_H

#include <stdbool.h>

#include <json-c/json.h>

#include "gateway.h"

/*
 * Add val to obj under key, a string literal that no other field of obj
 * uses. json-c then keeps the literal instead of a copy and skips its search
 * for an existing key, which is most of the cost of a field.
 */
#define views_add(obj, key, val) \
	json_object_object_add_ex((obj), "" key, (val), \
	                          JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY)

/*
 * A JSON number written from exact decimal text: units at scale, with
 * trailing fraction zeros kept when keep_scale is true ("25.50") and
 * trimmed otherwise ("0.0005"). json-c prints the text as given.
 */
json_object *views_decimal(money_t units, int scale, bool keep_scale);

/* A JSON number from decimal text that is already validated. */
json_object *views_decimal_text(const char *text);

/* "YYYY-MM-DD HH:MM" (minutes) or with seconds, UTC, from Unix ms. */
void views_format_time(int64_t ms, bool seconds, char *buf, size_t len);

/*
 * The order information object of GET /order/{token} (the `data` payload).
 * include_private adds the buyer's e-mail and the callback URLs, for the
 * authenticated views. Runs inside an open store transaction. Returns a
 * new object, or NULL on a store error.
 */
json_object *views_order(struct gateway *gw, const struct order *o, bool include_private);

/* The public order object from an order and its owner's fields, as
 * store_order_find_public() reads them; the same as views_order(gw, o,
 * false) without its two reads. */
json_object *views_order_public(struct gateway *gw, const struct order *o,
                                const struct order_owner *owner);

/* The deposit object: its token, currency and one address per coin. */
json_object *views_deposit(struct gateway *gw, const struct deposit *d);

/*
 * The payment URI of an address and amount: BIP21 for bitcoin-like coins,
 * EIP-681 for Ether and ERC-20 tokens. Empty when no coin is chosen.
 */
void views_payment_uri(const struct order *o, char *buf, size_t len);

#endif
