/*
 * The sandbox chain: a deterministic in-process chain for sandbox orders
 * and deposits. Addresses are derived from the owner and coin; payments
 * and blocks come from POST /sandbox/pay, /sandbox/mine and citypayctl.
 * One height is shared by every sandbox coin.
 */
#ifndef CITYPAY_SANDBOX_H
#define CITYPAY_SANDBOX_H

#include "gateway.h"
#include "validate.h"

#define SANDBOX_CHAIN "sandbox"
#define SANDBOX_MINE_MAX 1000 /* blocks in one mine request */

/*
 * Derive the sandbox address of an order ('o') or deposit ('d') for a coin:
 * "bcrt1q..." for BTC, "rltc1q..." for LTC, "0x..." for Ethereum coins.
 * They look like regtest addresses but belong to no real chain.
 */
void sandbox_address(const char *coin, char owner_kind, int64_t owner_id,
                     char *out, size_t len);

/*
 * Simulate an incoming transaction to the sandbox order or deposit whose
 * public token is given. For an order without a coin, the coin (given, the
 * token type's coin, or BTC) is chosen first. amount is a decimal in whole
 * coins; NULL or "" pays exactly what the order still needs (a deposit then
 * needs an amount). Fills *tx. CP_NOT_FOUND when no sandbox order or
 * deposit has that token; CP_INVALID with errs for bad input.
 */
enum cp_result sandbox_pay(struct gateway *gw, const char *token, const char *coin,
                           const char *amount, struct chain_tx *tx,
                           struct field_errors *errs);

/* Mine blocks (1..SANDBOX_MINE_MAX) and apply new confirmations. */
enum cp_result sandbox_mine(struct gateway *gw, int blocks, int64_t *height);

#endif
