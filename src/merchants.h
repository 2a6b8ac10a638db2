/*
 * Merchant settings: enabled coins, default currency, tolerance, order
 * expiry and auto-exchange, validated in one place for every caller.
 */
#ifndef CITYPAY_MERCHANTS_H
#define CITYPAY_MERCHANTS_H

#include "gateway.h"
#include "validate.h"

#define MERCHANTS_EXPIRY_MAX_MIN (7 * 24 * 60) /* maximum order expiry, minutes */

/* Settings to change; a NULL field keeps its stored value. */
struct merchant_settings {
	const char *enabled_coins;        /* comma-separated coin codes */
	const char *default_currency;     /* ISO 4217 */
	const char *tolerance_under_pct;  /* 0..99 */
	const char *tolerance_over_pct;   /* 0..99 */
	const char *order_expiry_minutes; /* 1..MERCHANTS_EXPIRY_MAX_MIN */
	const char *auto_exchange;        /* "on" or "off" */
};

/*
 * Validate and apply settings to merchant id; fills *out with the result.
 * New orders use the new settings; existing orders keep theirs.
 * CP_INVALID fills errs; CP_NOT_FOUND for an unknown merchant.
 */
enum cp_result merchants_update(struct gateway *gw, int64_t id,
                                const struct merchant_settings *in,
                                struct merchant *out, struct field_errors *errs);

#endif
