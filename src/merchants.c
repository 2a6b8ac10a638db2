#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "merchants.h"

static bool
merchants_parse_int(const char *text, long min, long max, int *out)
{
	char *end = NULL;
	long v;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* Check a comma-separated coin list and write it back without spaces. */
static void
merchants_check_coins(const char *list, struct merchant *m, struct field_errors *errs)
{
	char copy[sizeof(m->enabled_coins)], result[sizeof(m->enabled_coins)] = "";
	char *save = NULL;
	size_t used = 0;

	if (strlen(list) >= sizeof(copy)) {
		field_errors_add(errs, "enabled_coins", "enabled_coins is too long");
		return;
	}
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *code = strtok_r(copy, ", ", &save); code; code = strtok_r(NULL, ", ", &save)) {
		if (money_coin_find(code) == NULL) {
			field_errors_add(errs, "enabled_coins", "coin \"%.24s\" is not supported;"
			                 " use codes such as BTC, ETH, USDT-ERC20, LTC", code);
			return;
		}
		used += (size_t)snprintf(result + used, sizeof(result) - used, "%s%s",
		                         used ? "," : "", code);
	}
	if (used == 0) {
		field_errors_add(errs, "enabled_coins", "enabled_coins needs at least one coin");
		return;
	}
	snprintf(m->enabled_coins, sizeof(m->enabled_coins), "%s", result);
}

static void
merchants_apply(const struct merchant_settings *in, struct merchant *m,
                struct field_errors *errs)
{
	if (in->enabled_coins)
		merchants_check_coins(in->enabled_coins, m, errs);
	if (in->default_currency) {
		if (money_currency_find(in->default_currency) == NULL)
			field_errors_add(errs, "default_currency", "currency \"%.8s\" is not a"
			                 " supported ISO 4217 code such as USD or EUR",
			                 in->default_currency);
		else
			snprintf(m->default_currency, sizeof(m->default_currency), "%s",
			         in->default_currency);
	}
	if (in->tolerance_under_pct &&
	    !merchants_parse_int(in->tolerance_under_pct, 0, 99, &m->tolerance_under_pct))
		field_errors_add(errs, "tolerance_under_pct", "tolerance_under_pct must be a whole"
		                 " percentage from 0 to 99");
	if (in->tolerance_over_pct &&
	    !merchants_parse_int(in->tolerance_over_pct, 0, 99, &m->tolerance_over_pct))
		field_errors_add(errs, "tolerance_over_pct", "tolerance_over_pct must be a whole"
		                 " percentage from 0 to 99");
	if (in->order_expiry_minutes &&
	    !merchants_parse_int(in->order_expiry_minutes, 1, MERCHANTS_EXPIRY_MAX_MIN,
	                         &m->order_expiry_minutes))
		field_errors_add(errs, "order_expiry_minutes", "order_expiry_minutes must be a"
		                 " whole number of minutes from 1 to %d", MERCHANTS_EXPIRY_MAX_MIN);
	if (in->auto_exchange) {
		if (strcmp(in->auto_exchange, "on") == 0 || strcmp(in->auto_exchange, "off") == 0)
			m->auto_exchange = strcmp(in->auto_exchange, "on") == 0;
		else
			field_errors_add(errs, "auto_exchange", "auto_exchange must be on or off");
	}
}

enum cp_result
merchants_update(struct gateway *gw, int64_t id, const struct merchant_settings *in,
                 struct merchant *out, struct field_errors *errs)
{
	enum cp_result rc;

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	rc = store_merchant_get(gw->store, id, out);
	if (rc == CP_OK) {
		merchants_apply(in, out, errs);
		rc = errs->count > 0 ? CP_INVALID : store_merchant_update(gw->store, out);
	}
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	if ((rc = store_commit(gw->store)) == CP_OK)
		log_info("merchant settings changed", "customer_id", log_int(id), NULL);
	return rc;
}
