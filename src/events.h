/*
 * Callback event bodies. Each body is built once, when the state change
 * commits, and stored: every delivery attempt sends the same bytes.
 */
#ifndef CITYPAY_EVENTS_H
#define CITYPAY_EVENTS_H

#include "gateway.h"

/*
 * Write an order event to the outbox: type "order", the given action, the
 * order's current status and amounts, tx's hash as transaction_id when tx
 * is not NULL, and "late" when the payment came after expiry. facts gives
 * the received amount, and NULL stands for nothing received. Runs inside an
 * open store transaction.
 */
enum cp_result events_order(struct gateway *gw, const struct order *o,
                            const char *action, const struct chain_tx *tx,
                            const struct order_facts *facts);

/* Write a deposit event for one transaction: receive_transaction or confirmation. */
enum cp_result events_deposit(struct gateway *gw, const struct deposit *d,
                              const char *action, const struct chain_tx *tx);

#endif
