#include "schema.h"

/*
 * Money columns: fiat amounts are INTEGER minor units; crypto amounts are
 * TEXT holding the integer count of base units, because 18-decimal coins
 * overflow SQLite's 64-bit integers. Times ending in _at are Unix seconds
 * unless the column name ends in _ms.
 */
static const char migration_1[] =
	"CREATE TABLE merchants ("
	" id INTEGER PRIMARY KEY,"
	" company TEXT NOT NULL,"
	" email TEXT NOT NULL UNIQUE,"
	" default_currency TEXT NOT NULL DEFAULT 'USD',"
	" enabled_coins TEXT NOT NULL DEFAULT 'BTC,ETH,USDT-ERC20,LTC',"
	" tolerance_under_pct INTEGER NOT NULL DEFAULT 0,"
	" tolerance_over_pct INTEGER NOT NULL DEFAULT 0,"
	" order_expiry_minutes INTEGER NOT NULL DEFAULT 60,"
	" auto_exchange INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"

	"CREATE TABLE access_tokens ("
	" id INTEGER PRIMARY KEY,"
	" merchant_id INTEGER NOT NULL REFERENCES merchants(id),"
	" name TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" currency TEXT NOT NULL,"
	" ip_whitelist TEXT NOT NULL,"      /* one CIDR range per line */
	" callback_urls TEXT NOT NULL,"     /* one URL per line */
	" success_url TEXT NOT NULL DEFAULT '',"
	" cancel_url TEXT NOT NULL DEFAULT '',"
	" expires_at INTEGER NOT NULL,"
	" mode TEXT NOT NULL CHECK (mode IN ('live', 'sandbox')),"
	" digest BLOB NOT NULL UNIQUE,"     /* keyed BLAKE2b of the token */
	" last_chars TEXT NOT NULL,"
	" signing_secret_sealed TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" revoked_at INTEGER,"
	" last_used_at INTEGER,"
	" last_used_ip TEXT);"
	/* A name is unique among the merchant's active tokens; a revoked
	 * token's name may be used again. */
	"CREATE UNIQUE INDEX access_tokens_active_name"
	" ON access_tokens(merchant_id, name) WHERE revoked_at IS NULL;"

	"CREATE TABLE orders ("
	" id INTEGER PRIMARY KEY,"
	" merchant_id INTEGER NOT NULL REFERENCES merchants(id),"
	" token_id INTEGER NOT NULL REFERENCES access_tokens(id),"
	" token TEXT NOT NULL UNIQUE,"      /* public, the merchant's order_token */
	" client_order_id TEXT NOT NULL,"
	" mode TEXT NOT NULL,"
	" amount_fiat INTEGER NOT NULL,"
	" currency TEXT NOT NULL,"
	" email TEXT NOT NULL DEFAULT '',"
	" description TEXT NOT NULL DEFAULT '',"
	" lang TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL,"
	" coin TEXT,"
	" address TEXT,"
	" amount_crypto TEXT,"
	" exchange_rate TEXT,"              /* fiat per coin, decimal text */
	" tolerance_under_pct INTEGER NOT NULL,"
	" tolerance_over_pct INTEGER NOT NULL,"
	" created_at_ms INTEGER NOT NULL,"
	" expires_at_ms INTEGER NOT NULL,"
	" updated_at_ms INTEGER NOT NULL,"
	" event_sequence INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX orders_merchant ON orders(merchant_id, id);"
	"CREATE INDEX orders_open ON orders(status, expires_at_ms);"

	"CREATE TABLE deposits ("
	" id INTEGER PRIMARY KEY,"
	" merchant_id INTEGER NOT NULL REFERENCES merchants(id),"
	" token_id INTEGER NOT NULL REFERENCES access_tokens(id),"
	" token TEXT NOT NULL UNIQUE,"      /* public, generated */
	" deposit_token TEXT NOT NULL,"     /* the merchant's end customer */
	" client_deposit_id TEXT NOT NULL,"
	" mode TEXT NOT NULL,"
	" currency TEXT NOT NULL,"
	" created_at_ms INTEGER NOT NULL,"
	" event_sequence INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (merchant_id, deposit_token));"

	"CREATE TABLE addresses ("
	" id INTEGER PRIMARY KEY,"
	" coin TEXT NOT NULL,"
	" address TEXT NOT NULL,"
	" order_id INTEGER REFERENCES orders(id),"
	" deposit_id INTEGER REFERENCES deposits(id),"
	" created_at INTEGER NOT NULL,"
	" UNIQUE (coin, address),"
	" UNIQUE (order_id, coin),"
	" UNIQUE (deposit_id, coin),"
	" CHECK ((order_id IS NULL) <> (deposit_id IS NULL)));"

	"CREATE TABLE transactions ("
	" id INTEGER PRIMARY KEY,"
	" coin TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" address TEXT NOT NULL,"
	" order_id INTEGER REFERENCES orders(id),"
	" deposit_id INTEGER REFERENCES deposits(id),"
	" amount TEXT NOT NULL,"            /* base units */
	" amount_fiat INTEGER NOT NULL,"    /* minor units at the rate below */
	" exchange_rate TEXT NOT NULL,"
	" block_height INTEGER,"            /* NULL while unmined */
	" confirmations INTEGER NOT NULL DEFAULT 0,"
	" confirmed INTEGER NOT NULL DEFAULT 0,"
	" created_at_ms INTEGER NOT NULL,"
	" UNIQUE (coin, hash));"
	"CREATE INDEX transactions_order ON transactions(order_id);"
	"CREATE INDEX transactions_deposit ON transactions(deposit_id);"
	"CREATE INDEX transactions_unconfirmed ON transactions(confirmed) WHERE confirmed = 0;"

	"CREATE TABLE chain_state ("
	" chain TEXT PRIMARY KEY,"
	" height INTEGER NOT NULL);"
	"INSERT INTO chain_state(chain, height) VALUES ('sandbox', 0);"

	"CREATE TABLE callback_events ("
	" id INTEGER PRIMARY KEY,"
	" event_id TEXT NOT NULL UNIQUE,"
	" token_id INTEGER NOT NULL REFERENCES access_tokens(id),"
	" order_id INTEGER REFERENCES orders(id),"
	" deposit_id INTEGER REFERENCES deposits(id),"
	" sequence INTEGER NOT NULL,"
	" action TEXT NOT NULL,"
	" body TEXT NOT NULL,"              /* fixed at creation, sent verbatim */
	" created_at INTEGER NOT NULL);"

	"CREATE INDEX callback_events_order ON callback_events(order_id, sequence);"
	"CREATE INDEX callback_events_deposit ON callback_events(deposit_id, sequence);"

	"CREATE TABLE callback_deliveries ("
	" id INTEGER PRIMARY KEY,"
	" event_id INTEGER NOT NULL REFERENCES callback_events(id),"
	" url TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state IN ('pending', 'delivered', 'failed')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt_at INTEGER NOT NULL,"
	" last_attempt_at INTEGER,"
	" last_http_status INTEGER,"
	" last_error TEXT,"
	" last_response TEXT,"              /* truncated */
	" last_latency_ms INTEGER,"
	" delivered_at INTEGER);"
	"CREATE INDEX callback_deliveries_due"
	" ON callback_deliveries(next_attempt_at) WHERE state = 'pending';"
	"CREATE INDEX callback_deliveries_event ON callback_deliveries(event_id);";

/* The merchant cabinet: passwords, two-step verification, sessions, audit. */
static const char migration_2[] =
	"ALTER TABLE merchants ADD COLUMN password_hash TEXT;"       /* argon2id */
	"ALTER TABLE merchants ADD COLUMN totp_secret_sealed TEXT;"  /* sealed with the key file */
	"ALTER TABLE merchants ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE merchants ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;"

	"CREATE TABLE sessions ("
	" digest BLOB PRIMARY KEY,"          /* keyed BLAKE2b of the session id */
	" merchant_id INTEGER NOT NULL REFERENCES merchants(id),"
	" signed_in INTEGER NOT NULL,"       /* 0 while waiting for the TOTP code */
	" created_at INTEGER NOT NULL,"
	" last_seen_at INTEGER NOT NULL,"
	" ip TEXT NOT NULL);"
	"CREATE INDEX sessions_merchant ON sessions(merchant_id);"

	"CREATE TABLE audit_log ("
	" id INTEGER PRIMARY KEY,"
	" merchant_id INTEGER NOT NULL REFERENCES merchants(id),"
	" at INTEGER NOT NULL,"
	" ip TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX audit_log_merchant ON audit_log(merchant_id, id);";

/*
 * The callback delivery log: one row per attempt, and the flag that marks
 * the next attempt of a delivery as an operator's resend.
 */
static const char migration_3[] =
	"CREATE TABLE callback_attempts ("
	" id INTEGER PRIMARY KEY,"
	" delivery_id INTEGER NOT NULL REFERENCES callback_deliveries(id),"
	" attempted_at INTEGER NOT NULL,"
	" http_status INTEGER,"              /* NULL when no HTTP response arrived */
	" error TEXT,"                       /* NULL when delivered */
	" latency_ms INTEGER NOT NULL,"
	" response TEXT,"                    /* truncated to CP_CALLBACK_RESPONSE_MAX bytes */
	" resend INTEGER NOT NULL DEFAULT 0 CHECK (resend IN (0, 1)));"
	"CREATE INDEX callback_attempts_delivery ON callback_attempts(delivery_id, id);"

	/* 1 from a resend request until its attempt is recorded. */
	"ALTER TABLE callback_deliveries ADD COLUMN resend_pending INTEGER NOT NULL DEFAULT 0;";

/*
 * Signing secret rotation: the secret replaced by the last rotation, still
 * used for a second signature until previous_secret_until (Unix seconds).
 */
static const char migration_4[] =
	"ALTER TABLE access_tokens ADD COLUMN previous_secret_sealed TEXT;"
	"ALTER TABLE access_tokens ADD COLUMN previous_secret_until INTEGER;";

const struct schema_migration schema_migrations[] = {
	{ 1, "initial", migration_1 },
	{ 2, "cabinet", migration_2 },
	{ 3, "callback attempts", migration_3 },
	{ 4, "signing secret rotation", migration_4 },
};

const size_t schema_migration_count =
	sizeof(schema_migrations) / sizeof(schema_migrations[0]);
