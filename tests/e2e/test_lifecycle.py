"""Order and deposit life cycles on the sandbox chain, and callback delivery.

Covers partial, full and excess payments, confirmations, expiry, the order
of callbacks, retries after a failed delivery, deposits, and delivery of
events that were pending when the daemon stopped.
"""

import decimal
import http.server
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import REQUIRED_CONFIRMATIONS, create_token, for_order, run_cli  # noqa: E402

SATOSHI = decimal.Decimal("0.00000001")
EXPIRY_WAIT_S = 100  # one minute of expiry plus sweeps and callback delivery
LATE_EXPIRY_WAIT_S = 75  # one minute of expiry plus the once-a-second sweep
KILL_CALLBACK_TIMEOUT_MS = 2000
KILL_REDELIVERY_WAIT_S = 60  # a claim lease of 33 s (2 s callback timeout + 31 s) and retries
KILL_ORDERS = 20
SLOW_ANSWER_S = 0.3


def crypto_amount(order_data):
    return decimal.Decimal(str(order_data["amount"]))


class Lifecycle(harness.GatewayTestCase):

    def new_order_with_coin(self, coin="BTC", amount="20.00"):
        """Create an order, choose the coin, and return (order token, order data)."""
        _, data = self.create_order(amount=amount)
        chosen = self.choose_coin(data["token"], coin)
        self.assertEqual(chosen["coin"], coin, "coin after choosing %s: %r" % (coin, chosen))
        self.assertGreater(crypto_amount(chosen), 0, "no crypto amount after choosing: %r" % chosen)
        self.assertTrue(chosen.get("address"), "no address after choosing: %r" % chosen)
        return data["token"], chosen

    def test_underpaid_then_full(self):
        token, order = self.new_order_with_coin()
        total = crypto_amount(order)
        half = (total / 2).quantize(SATOSHI, rounding=decimal.ROUND_DOWN)

        self.sandbox_pay_http(token, coin="BTC", amount=half)
        info = self.order_info(token)
        self.assertEqual(info["status"]["code"], "IN_PROGRESS", "after paying half: %r" % info)
        self.assertEqual(len(info["transactions"]), 1, "transactions after one payment: %r" % info)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        info = self.order_info(token)
        self.assertEqual(info["status"]["code"], "IN_PROGRESS",
                         "half payment confirmed must stay IN_PROGRESS: %r" % info)

        self.sandbox_pay_http(token, coin="BTC", amount=total - half)
        info = self.order_info(token)
        self.assertEqual(info["status"]["code"], "PAID_UNCONFIRMED",
                         "after paying the rest: %r" % info)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        self.wait_order_status(token, "CONFIRMED")
        self.wait_callback(for_order(token, status="CONFIRMED"), "CONFIRMED callback of %s" % token)

    def test_overpaid(self):
        token, order = self.new_order_with_coin()
        self.sandbox_pay_http(token, coin="BTC", amount=crypto_amount(order) * 2)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])

        info = self.wait_order_status(token, "OVERPAID")
        self.assertTrue(info["transactions"], "OVERPAID order lists no transaction: %r" % info)
        callback = self.wait_callback(for_order(token, status="OVERPAID"),
                                      "OVERPAID callback of %s" % token)
        self.assert_signed(callback)

    def test_paid_unconfirmed(self):
        required = REQUIRED_CONFIRMATIONS["ETH"]
        token, _ = self.new_order_with_coin("ETH")

        self.sandbox_pay_http(token)
        info = self.order_info(token)
        self.assertEqual(info["status"]["code"], "PAID_UNCONFIRMED", "right after paying: %r" % info)

        self.mine(required // 2)
        info = self.order_info(token)
        self.assertEqual(info["status"]["code"], "PAID_UNCONFIRMED",
                         "after %d of %d blocks: %r" % (required // 2, required, info))
        confirmations = info["transactions"][0]["confirmations"]
        self.assertLess(confirmations, required, "confirmations: %r" % info)
        self.assertGreaterEqual(confirmations, required // 2, "confirmations: %r" % info)
        self.wait_callback(for_order(token, status="PAID_UNCONFIRMED"),
                           "PAID_UNCONFIRMED callback of %s" % token)

        self.mine(required - required // 2)
        self.wait_order_status(token, "CONFIRMED")

    def test_callback_sequence(self):
        token, _ = self.new_order_with_coin()
        self.sandbox_pay_http(token)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        self.wait_callback(for_order(token, status="CONFIRMED"), "CONFIRMED callback of %s" % token)

        callbacks = self.receiver.callbacks(for_order(token))
        self.assertGreaterEqual(len(callbacks), 3,
                                "expected order_created, transaction_received and a "
                                "confirmation: %r" % callbacks)
        self.assertEqual(callbacks[0].get("action"), "order_created",
                         "first callback: %r" % callbacks[0])
        sequences = [c.get("sequence") for c in callbacks]
        for sequence in sequences:
            self.assertIsInstance(sequence, int, "sequence is not an integer: %r" % callbacks)
        self.assertEqual(sequences, sorted(set(sequences)),
                         "sequences do not increase in arrival order: %r" % sequences)
        event_ids = [c.get("event_id") for c in callbacks]
        self.assertEqual(len(set(event_ids)), len(event_ids), "event ids repeat: %r" % event_ids)
        for callback in callbacks:
            self.assert_signed(callback)
            self.assertIn(callback.get("status"), harness.ORDER_STATUSES,
                          "callback status: %r" % callback)
            for field in harness.ORDER_CALLBACK_FIELDS:
                self.assertIn(field, callback.body, "order callback lacks %s: %r" % (field, callback))
            self.assertEqual(callback.headers.get("x-event-id"), callback.get("event_id"),
                             "X-Event-Id header differs from event_id: %r %r"
                             % (callback.headers, callback))

    def test_callback_retry(self):
        _, data = self.create_order()
        token = data["token"]
        self.receiver.fail_matching(for_order(token), times=2, status=500)
        self.choose_coin(token, "BTC")

        failed = self.wait_callback(lambda c: for_order(token)(c) and c.status_sent == 500,
                                    "first callback of %s (status 500 sent)" % token)
        # Later events of the order must wait until the failed one is delivered.
        self.sandbox_pay_http(token)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        retried = self.wait_callback(lambda c: for_order(token)(c) and c.status_sent == 200,
                                     "retried callback of %s" % token)
        self.assertEqual(retried.get("event_id"), failed.get("event_id"),
                         "the retry is another event: %r then %r" % (failed, retried))
        self.assertEqual(retried.raw, failed.raw, "the retry changed the body bytes")
        self.assertGreaterEqual(retried.received_at - failed.received_at, 0.5,
                                "the retry came without a backoff delay")
        self.assert_signed(retried)

        self.wait_callback(for_order(token, status="CONFIRMED"), "CONFIRMED callback of %s" % token)
        callbacks = self.receiver.callbacks(for_order(token))
        sequences = [c.get("sequence") for c in callbacks]
        self.assertEqual(sequences[:3], [1, 1, 1],
                         "the first event was not retried before later events: %r" % sequences)
        self.assertEqual(sequences[2:], sorted(set(sequences[2:])),
                         "events after the retry are out of order: %r" % sequences)

    def test_payment_after_confirmed(self):
        token, _ = self.new_order_with_coin()
        self.sandbox_pay_http(token)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        self.wait_callback(for_order(token, status="CONFIRMED"), "CONFIRMED callback of %s" % token)

        late = self.sandbox_pay_http(token, amount="0.0001")
        info = self.order_info(token)
        self.assertEqual(len(info["transactions"]), 2, "the late payment is not listed: %r" % info)
        hashes = [tx["hash"] for tx in info["transactions"]]
        self.assertIn(late["hash"], hashes, "the late payment is not listed: %r" % info)
        self.assertIn(info["status"]["code"], ("CONFIRMED", "OVERPAID"),
                      "status after a late payment: %r" % info)
        callback = self.wait_callback(
            lambda c: for_order(token)(c) and c.get("transaction_id") == late["hash"],
            "callback reporting the late transaction %s" % late["hash"])
        self.assert_signed(callback)

    def test_deposit_reuse_and_callbacks(self):
        fields = {
            "customer_id": self.customer_id,
            "access_token": self.token,
            "deposit_id": "user-42",
            "deposit_token": "user-42-" + harness.unique_suffix(),
        }
        first = self.post("/api/generateDeposit", json_body=fields)
        self.assertIn(first.status, (200, 201), "first generateDeposit: %r" % first)
        self.assertIs(first.body.get("success"), True, "first generateDeposit: %r" % first)
        second = self.post("/api/generateDeposit", form=fields)
        self.assertIn(second.status, (200, 201), "second generateDeposit: %r" % second)
        for key in ("id", "token", "payment_url"):
            self.assertEqual(second.body["data"].get(key), first.body["data"].get(key),
                             "deposit %s differs on reuse: %r then %r" % (key, first, second))
        deposit = first.body["data"]["token"]

        self.sandbox_pay_http(deposit, coin="BTC", amount="0.001")

        def for_deposit(action, status):
            def match(callback):
                return (callback.get("type") == "deposit"
                        and callback.get("deposit_token") == fields["deposit_token"]
                        and callback.get("action") == action
                        and callback.get("status") == status)
            return match

        pending = self.wait_callback(for_deposit("receive_transaction", "PENDING"),
                                     "receive_transaction PENDING callback of the deposit")
        self.assert_signed(pending)
        for field in harness.DEPOSIT_CALLBACK_FIELDS:
            self.assertIn(field, pending.body, "deposit callback lacks %s: %r" % (field, pending))
        self.assertEqual(str(pending.get("deposit_id")), "user-42", "deposit_id: %r" % pending)
        self.assertTrue(pending.get("transaction_id"), "transaction_id: %r" % pending)
        self.assertEqual(decimal.Decimal(str(pending.get("received_amount"))),
                         decimal.Decimal("0.001"), "received_amount: %r" % pending)

        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        confirmed = self.wait_callback(for_deposit("confirmation", "CONFIRMED"),
                                       "confirmation CONFIRMED callback of the deposit")
        self.assert_signed(confirmed)
        self.assertEqual(confirmed.get("transaction_id"), pending.get("transaction_id"),
                         "confirmation is for another transaction: %r" % confirmed)

    def test_order_show_matches_http(self):
        token, _ = self.new_order_with_coin()
        shown = run_cli(self.db_path, "order", "show", token)["order"]
        info = self.order_info(token)
        for key in ("id", "token", "coin", "amount", "amountFiat", "address", "status"):
            self.assertEqual(shown.get(key), info.get(key),
                             "order show %s differs from GET /order: %r vs %r"
                             % (key, shown, info))


class Expiry(harness.GatewayTestCase):

    def test_expired_and_underpaid(self):
        result = run_cli(self.db_path, "merchant", "set", "--customer", self.customer_id,
                         "--order-expiry-minutes", "1", check=False)
        if result["_returncode"] != 0:
            self.skipTest("citypayctl has no order expiry setting (merchant set "
                          "--order-expiry-minutes 1 failed: %s)" % result.get("error"))

        _, unpaid = self.create_order()
        _, partly = self.create_order()
        chosen = self.choose_coin(partly["token"], "BTC")
        half = (crypto_amount(chosen) / 2).quantize(SATOSHI, rounding=decimal.ROUND_DOWN)
        self.sandbox_pay_http(partly["token"], coin="BTC", amount=half)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])

        self.wait_order_status(unpaid["token"], "EXPIRED", timeout=EXPIRY_WAIT_S)
        self.wait_order_status(partly["token"], "UNDERPAID", timeout=EXPIRY_WAIT_S)
        self.wait_callback(for_order(unpaid["token"], status="EXPIRED"),
                           "EXPIRED callback of %s" % unpaid["token"])
        self.wait_callback(for_order(partly["token"], status="UNDERPAID"),
                           "UNDERPAID callback of %s" % partly["token"])


    def test_late_payment_confirms(self):
        result = run_cli(self.db_path, "merchant", "set", "--customer", self.customer_id,
                         "--order-expiry-minutes", "1", check=False)
        self.assertEqual(result["_returncode"], 0,
                         "merchant set --order-expiry-minutes 1 failed: %r" % result)

        _, full = self.create_order()
        _, rest = self.create_order()
        full_token, rest_token = full["token"], rest["token"]
        self.choose_coin(full_token, "BTC")
        rest_order = self.choose_coin(rest_token, "BTC")
        self.wait_order_status(full_token, "EXPIRED", timeout=LATE_EXPIRY_WAIT_S)
        self.wait_order_status(rest_token, "EXPIRED", timeout=LATE_EXPIRY_WAIT_S)
        self.assertFalse(self.order_info(full_token)["late"], "late before any payment")

        self.sandbox_pay_http(full_token, coin="BTC")
        info = self.order_info(full_token)
        self.assertEqual(info["status"]["code"], "PAID_UNCONFIRMED",
                         "after a late full payment: %r" % info)
        self.assertIs(info["late"], True, "late flag after a late full payment: %r" % info)

        half = (crypto_amount(rest_order) / 2).quantize(SATOSHI, rounding=decimal.ROUND_DOWN)
        self.sandbox_pay_http(rest_token, coin="BTC", amount=half)
        info = self.order_info(rest_token)
        self.assertEqual(info["status"]["code"], "UNDERPAID",
                         "after a late partial payment: %r" % info)
        self.assertIs(info["late"], False, "late flag while underpaid: %r" % info)
        self.sandbox_pay_http(rest_token, coin="BTC", amount=crypto_amount(rest_order) - half)
        self.assertEqual(self.order_info(rest_token)["status"]["code"], "PAID_UNCONFIRMED",
                         "after the late rest of an underpaid order")

        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        for token in (full_token, rest_token):
            self.wait_order_status(token, "CONFIRMED")
            info = self.order_info(token)
            self.assertIs(info["late"], True, "late flag once confirmed: %r" % info)
            callback = self.wait_callback(for_order(token, status="CONFIRMED"),
                                          "CONFIRMED callback of %s" % token)
            self.assertIs(callback.get("late"), True,
                          "late flag in the CONFIRMED callback: %r" % callback)
            self.assert_signed(callback)
        underpaid = self.wait_callback(for_order(rest_token, status="UNDERPAID"),
                                       "UNDERPAID callback of %s" % rest_token)
        self.assertIs(underpaid.get("late"), False,
                      "late flag in the UNDERPAID callback: %r" % underpaid)


class RestartDelivery(harness.GatewayTestCase):

    def test_callback_survives_restart(self):
        _, data = self.create_order()
        token = data["token"]
        self.receiver.stop()
        self.choose_coin(token, "BTC")
        # Let the dispatcher fail at least once against the closed port.
        time.sleep(1.5)

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)
        self.assertEqual(self.receiver.callbacks(for_order(token)), [],
                         "a callback arrived while the receiver was stopped")

        self.receiver.start()
        self.daemon.start()
        callback = self.wait_callback(for_order(token), "callback of %s after restart" % token)
        self.assert_signed(callback)
        self.assertEqual(callback.get("action"), "order_created", "callback: %r" % callback)


class SlowReceiver:
    """An HTTP server on 127.0.0.1 that records each POST and responds 200 after a delay."""

    def __init__(self, delay_s):
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._callbacks = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver._callbacks.append(harness.Callback(self.path, headers, raw, 200))
                time.sleep(receiver.delay_s)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

            def handle(self):
                # The gateway may be killed while waiting for the response.
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = http.server.ThreadingHTTPServer((harness.LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d/slow" % (harness.LOOPBACK, self.port)

    def callbacks(self):
        with self._lock:
            return list(self._callbacks)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class KillDuringDelivery(harness.GatewayTestCase):
    """SIGKILL while many callbacks are in flight loses and reorders none of them."""

    daemon_env = {"CITYPAY_CALLBACK_TIMEOUT_MS": str(KILL_CALLBACK_TIMEOUT_MS)}

    def test_callback_survives_kill(self):
        slow = SlowReceiver(SLOW_ANSWER_S)
        try:
            token = create_token(self.db_path, self.customer_id, "slow", [slow.url])
            orders = []
            for _ in range(KILL_ORDERS):
                _, data = self.create_order(access_token=token["token"])
                self.choose_coin(data["token"], "BTC")
                self.sandbox_pay_http(data["token"])
                orders.append(data["token"])
            self.daemon.kill()

            pending = run_cli(self.db_path, "callbacks", "list", "--state", "pending",
                              "--limit", "10000")["callbacks"]
            self.assertGreater(len(pending), 0, "every callback was delivered before the kill,"
                               " so the kill tested nothing")
            expected = {order: self.event_ids(order) for order in orders}
            self.daemon.start()
            self.wait_all_arrived(slow, expected)
            arrived = slow.callbacks()
        finally:
            slow.stop()

        for order, event_ids in expected.items():
            self.check_order_arrivals(order, event_ids, arrived, token["signing_secret"])

    def event_ids(self, order):
        """Return the order's event ids in sequence order, from the delivery log."""
        rows = run_cli(self.db_path, "callbacks", "list", "--order", order)["callbacks"]
        self.assertGreaterEqual(len(rows), 2, "events of %s: %r" % (order, rows))
        return [row["event_id"] for row in sorted(rows, key=lambda row: row["sequence"])]

    def wait_all_arrived(self, slow, expected):
        all_ids = {event_id for event_ids in expected.values() for event_id in event_ids}
        deadline = time.monotonic() + KILL_REDELIVERY_WAIT_S
        missing = all_ids
        while time.monotonic() < deadline:
            missing = all_ids - {c.get("event_id") for c in slow.callbacks()}
            if not missing:
                return
            time.sleep(harness.POLL_INTERVAL_S)
        self.fail("%d of %d events never arrived within %d s after the restart: %s"
                  % (len(missing), len(all_ids), KILL_REDELIVERY_WAIT_S, sorted(missing)[:10]))

    def check_order_arrivals(self, order, event_ids, arrived, secret):
        mine = [c for c in arrived if c.get("order_token") == order]
        self.assertEqual({c.get("event_id") for c in mine}, set(event_ids),
                         "events of %s that arrived" % order)

        sequences = [c.get("sequence") for c in mine]
        self.assertEqual(sequences, sorted(sequences),
                         "arrivals of %s out of sequence order: %r" % (order, sequences))

        for event_id in event_ids:
            bodies = {c.raw for c in mine if c.get("event_id") == event_id}
            self.assertEqual(len(bodies), 1, "%s arrived with different bytes: %r"
                             % (event_id, bodies))
        for callback in mine:
            self.assert_signed(callback, secret)


if __name__ == "__main__":
    unittest.main()
