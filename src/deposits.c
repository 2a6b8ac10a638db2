#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deposits.h"
#include "events.h"
#include "log.h"
#include "orders.h"
#include "sandbox.h"
#include "views.h"

static void
deposits_check_input(const struct deposit_input *in, const struct access_token *t,
                     struct deposit *d, struct field_errors *errs)
{
	const char *currency = in->currency && in->currency[0] ? in->currency : t->currency;

	if (in->deposit_token == NULL || !validate_public_token(in->deposit_token, CP_ORDER_TOKEN_MAX))
		field_errors_add(errs, "deposit_token", "deposit_token must be 1 to %d letters,"
		                 " digits, '-', '_' or '.' naming your end customer", CP_ORDER_TOKEN_MAX);
	else
		snprintf(d->deposit_token, sizeof(d->deposit_token), "%s", in->deposit_token);

	if (in->deposit_id == NULL || in->deposit_id[0] == '\0')
		field_errors_add(errs, "deposit_id", "deposit_id is missing; send your own id for"
		                 " this deposit");
	else if (!validate_text(in->deposit_id, CP_ORDER_ID_MAX))
		field_errors_add(errs, "deposit_id", "deposit_id must be at most %d characters of"
		                 " text without line breaks or control characters", CP_ORDER_ID_MAX);
	else
		snprintf(d->client_deposit_id, sizeof(d->client_deposit_id), "%s", in->deposit_id);

	if (money_currency_find(currency) == NULL)
		field_errors_add(errs, "currency", "currency \"%.8s\" is not a supported ISO 4217"
		                 " code such as USD or EUR", currency);
	else
		snprintf(d->currency, sizeof(d->currency), "%s", currency);
}

/* Assign the deposit one address for every coin the token may receive. */
static enum cp_result
deposits_assign_addresses(struct gateway *gw, const struct access_token *t,
                          const struct deposit *d)
{
	struct merchant m;
	enum cp_result rc = store_merchant_get(gw->store, d->merchant_id, &m);

	for (size_t i = 0; rc == CP_OK && i < money_coin_count(); i++) {
		const struct money_coin *coin = money_coin_at(i);
		char address[128];

		if (!orders_coin_allowed(&m, t, coin->code))
			continue;
		sandbox_address(coin->code, 'd', d->id, address, sizeof(address));
		rc = store_address_insert(gw->store, coin->code, address, 0, d->id,
		                          gateway_now_ms(gw) / 1000);
	}
	return rc;
}

/* A new deposit whose commit the committer thread reports. */
struct deposits_commit {
	struct store_async then;
	int64_t id;
	int64_t merchant_id;
};

static void
deposits_committed(void *arg, enum cp_result rc)
{
	struct deposits_commit *dc = arg;

	if (rc == CP_OK)
		log_info("deposit created", "deposit_id", log_int(dc->id),
		         "customer_id", log_int(dc->merchant_id), NULL);
	dc->then.done(dc->then.arg, rc);
	free(dc);
}

/* Commit the deposit's transaction, or hand it to the committer thread
 * when async is set. A new deposit is logged once it is durable. */
static enum cp_result
deposits_commit(struct gateway *gw, const struct deposit *d, bool existing,
                const struct store_async *async)
{
	struct deposits_commit *dc;
	enum cp_result rc;

	if (async == NULL) {
		if ((rc = store_commit(gw->store)) == CP_OK && !existing)
			log_info("deposit created", "deposit_id", log_int(d->id),
			         "customer_id", log_int(d->merchant_id), NULL);
		return rc;
	}
	if (existing)
		return store_commit_async(gw->store, async);
	dc = malloc(sizeof(*dc));
	if (dc == NULL) {
		log_error("out of memory for a new deposit; it is rolled back", NULL);
		store_rollback(gw->store);
		return CP_ERROR;
	}
	dc->then = *async;
	dc->id = d->id;
	dc->merchant_id = d->merchant_id;
	rc = store_commit_async(gw->store, &(struct store_async){ deposits_committed, dc });
	if (rc != CP_OK)
		free(dc);
	return rc;
}

enum cp_result
deposits_create(struct gateway *gw, const struct access_token *t, const char *client_ip,
                const struct deposit_input *in, struct deposit *out, bool *existing,
                struct field_errors *errs, json_object **view,
                const struct store_async *async)
{
	enum cp_result rc;
	int64_t now = gateway_now_ms(gw);

	memset(out, 0, sizeof(*out));
	*existing = false;
	*view = NULL;
	deposits_check_input(in, t, out, errs);
	if (errs->count > 0)
		return CP_INVALID;
	/* NOTE: live deposits need a chain adapter, which only the sandbox has. */
	if (t->mode != TOKEN_MODE_SANDBOX) {
		field_errors_add(errs, "access_token", "no chain adapter is configured on this"
		                 " gateway for live deposits; use a sandbox token");
		return CP_INVALID;
	}

	if ((rc = store_begin(gw->store)) != CP_OK)
		return rc;
	struct deposit asked = *out;
	rc = store_deposit_find(gw->store, t->merchant_id, asked.deposit_token, out);
	if (rc == CP_OK) {
		*existing = true;
	} else if (rc == CP_NOT_FOUND) {
		*out = asked;
		out->merchant_id = t->merchant_id;
		out->token_id = t->id;
		out->mode = t->mode;
		out->created_at_ms = now;
		gateway_random_id("dep_", out->token, sizeof(out->token));
		rc = store_deposit_insert(gw->store, out);
		if (rc == CP_OK)
			rc = deposits_assign_addresses(gw, t, out);
	}
	if (rc == CP_OK)
		rc = store_token_touch(gw->store, t->id, now / 1000, client_ip);
	/* Read before the commit, so that the response need not wait for a
	 * reader connection to see the rows. */
	if (rc == CP_OK && (*view = views_deposit(gw, out)) == NULL)
		rc = CP_ERROR;
	if (rc != CP_OK) {
		store_rollback(gw->store);
		return rc;
	}
	rc = deposits_commit(gw, out, *existing, async);
	if (rc != CP_OK) {
		json_object_put(*view);
		*view = NULL;
	}
	return rc;
}

enum cp_result
deposits_confirm_locked(struct gateway *gw, const struct chain_tx *tx)
{
	struct deposit d;
	enum cp_result rc = store_deposit_get(gw->store, tx->deposit_id, &d);

	if (rc != CP_OK)
		return rc;
	return events_deposit(gw, &d, "confirmation", tx);
}
