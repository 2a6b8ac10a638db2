"""The exchange-rate feed: citypayd polls a local HTTP server for rates.

A feed server on 127.0.0.1 serves the rates document that each test sets.
The daemon requests it every second (rates.feed_interval_s = 1) and treats
rates older than MAX_AGE_S seconds as stale.
"""

import http.server
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK  # noqa: E402

MAX_AGE_S = 30
FEED_INTERVAL_S = 1
UPDATE_WAIT_S = 10        # ten feed intervals, for a slow sanitizer build
POLL_S = 0.25
FAILED_REQUESTS = 3       # requests for each invalid document before the rates are checked


class FeedServer:
    """An HTTP server on 127.0.0.1 that serves one settable document at /rates.json."""

    def __init__(self):
        self._lock = threading.Lock()
        self._document = b"{}"
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with server._lock:
                    body = server._document
                    server.requests += 1
                status = 200 if self.path == "/rates.json" else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d/rates.json" % (LOOPBACK, self.port)

    def serve(self, document):
        """Serve document (a dict, or bytes sent as they are) from now on."""
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        with self._lock:
            self._document = raw

    def request_count(self):
        with self._lock:
            return self.requests

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def document(updated_at, btc_usd="43250.12", btc_eur=39800.5, eth_usd="2300"):
    """A rates document with BTC in USD and EUR, ETH in USD and two entries to ignore."""
    return {
        "updated_at": updated_at,
        "rates": {
            "BTC": {"USD": btc_usd, "EUR": btc_eur, "XXX": "1"},
            "ETH": {"USD": eth_usd},
            "XMR": {"USD": "150"},
        },
    }


class RatesFeed(harness.GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        cls.feed = FeedServer()
        cls.feed.serve(document(int(time.time())))
        cls.daemon_env = {
            "CITYPAY_RATES_SOURCE": "feed",
            "CITYPAY_RATES_FEED_URL": cls.feed.url,
            "CITYPAY_RATES_FEED_INTERVAL_S": str(FEED_INTERVAL_S),
            "CITYPAY_RATES_MAX_AGE_S": str(MAX_AGE_S),
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.feed.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.feed.stop()

    # -- helpers -------------------------------------------------------------

    def rates(self, path="/api/rates"):
        resp = self.get(path)
        self.assertEqual(resp.status, 200, "GET %s: %r" % (path, resp))
        return resp.body["data"]["rates"]

    def rate_of(self, rates, coin, fiat):
        for row in rates:
            if row["coin"] == coin and row["fiat"] == fiat:
                return row
        return None

    def wait_rate(self, coin, fiat, expected_rate, expected_updated_at):
        """Poll GET /api/rates until coin in fiat has the rate and updated_at; return all rows."""
        deadline = time.monotonic() + UPDATE_WAIT_S
        rates = None
        while time.monotonic() < deadline:
            rates = self.rates()
            row = self.rate_of(rates, coin, fiat)
            if (row is not None and harness.decimal_text(row["rate"]) == expected_rate
                    and row["updatedAt"] == expected_updated_at):
                return rates
            time.sleep(POLL_S)
        self.fail("GET /api/rates did not show %s in %s = %s updated at %d within %d s;"
                  " last rows: %s" % (coin, fiat, expected_rate, expected_updated_at,
                                      UPDATE_WAIT_S, rates))

    def wait_requests(self, count):
        """Wait until the feed server has served count more requests."""
        target = self.feed.request_count() + count
        deadline = time.monotonic() + UPDATE_WAIT_S + count * FEED_INTERVAL_S
        while self.feed.request_count() < target and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.assertGreaterEqual(self.feed.request_count(), target,
                                "the daemon stopped requesting the feed")

    def log_count(self, text):
        return self.daemon.log_text().count(text)

    def serve_fresh(self, btc_usd):
        updated_at = int(time.time())
        self.feed.serve(document(updated_at, btc_usd=btc_usd))
        return self.wait_rate("BTC", "USD", btc_usd, updated_at)

    # -- tests ---------------------------------------------------------------

    def test_feed_rates_listed(self):
        rates = self.serve_fresh("43250.12")

        self.assertEqual(len(rates), 3, "expected the three known pairs of the document: %s"
                         % rates)
        for row in rates:
            self.assertEqual(row["source"], "feed", "row not from the feed: %s" % row)
            self.assertIs(row.get("stale", False), False, "fresh row marked stale: %s" % row)
        self.assertEqual(harness.decimal_text(self.rate_of(rates, "BTC", "EUR")["rate"]),
                         "39800.5", "a JSON number lost its digits: %s" % rates)
        self.assertEqual(harness.decimal_text(self.rate_of(rates, "ETH", "USD")["rate"]),
                         "2300", "ETH in USD: %s" % rates)
        self.assertIsNone(self.rate_of(rates, "LTC", "USD"),
                          "a sample rate is listed while the feed is the source: %s" % rates)

    def test_feed_rates_of_one_coin(self):
        self.serve_fresh("43250.12")

        rates = self.rates("/api/rates/BTC")
        self.assertEqual(sorted(row["fiat"] for row in rates), ["EUR", "USD"],
                         "GET /api/rates/BTC: %s" % rates)

    def test_feed_change_appears(self):
        self.serve_fresh("43250.12")
        self.serve_fresh("44100.00000001")

    def test_fresh_rate_quotes_order(self):
        self.serve_fresh("50000")
        _, data = self.create_order(amount="100.00")

        chosen = self.choose_coin(data["token"], "BTC")
        self.assertEqual(harness.decimal_text(chosen["amount"]), "0.002",
                         "100 USD at 50000 USD per BTC: %r" % chosen)

    def test_stale_rate_rejects_coin(self):
        updated_at = int(time.time()) - MAX_AGE_S * 4
        self.feed.serve(document(updated_at, btc_usd="43000"))
        rates = self.wait_rate("BTC", "USD", "43000", updated_at)
        row = self.rate_of(rates, "BTC", "USD")
        self.assertIs(row.get("stale", True), True, "an old row is not marked stale: %s" % row)

        _, data = self.create_order(amount="10.00")
        page = self.post("/invoice/coin", form={"token": data["token"], "coin": "BTC"})
        self.assertEqual(page.status, 422, "choosing BTC with a stale rate: %r" % page)
        resp = self.post("/sandbox/pay", json_body={"token": data["token"], "coin": "BTC"})
        self.assertEqual(resp.status, 422, "sandbox pay with a stale rate: %r" % resp)
        message = resp.body.get("message") if isinstance(resp.body, dict) else None
        self.assertIsInstance(message, dict, "sandbox pay error: %r" % resp)
        self.assertIn("coin", message, "the error names no coin field: %r" % resp)
        info = self.order_info(data["token"])
        self.assertFalse(info.get("coin"), "the order got a coin at a stale rate: %r" % info)

        # A fresh document makes the same choice succeed.
        self.serve_fresh("43000")
        chosen = self.choose_coin(data["token"], "BTC")
        self.assertEqual(chosen["coin"], "BTC", "coin after a fresh rate: %r" % chosen)

    def test_malformed_document_keeps_rates(self):
        rates_before = self.serve_fresh("41000.5")
        failures_before = self.log_count("rates feed update failed")

        self.feed.serve(b'{"rates": {"BTC": {"USD": "-1"}}}')
        self.wait_requests(FAILED_REQUESTS)
        self.assertEqual(self.rates(), rates_before, "a rejected document changed the rates")
        self.feed.serve(b"{not json")
        self.wait_requests(FAILED_REQUESTS)
        self.assertEqual(self.rates(), rates_before, "malformed JSON changed the rates")
        self.assertEqual(self.log_count("rates feed update failed") - failures_before, 1,
                         "expected one error line per failure streak; log:\n%s"
                         % self.daemon.log_text()[-3000:])

        recovered_before = self.log_count("rates feed recovered")
        self.serve_fresh("41001")
        deadline = time.monotonic() + UPDATE_WAIT_S
        while (self.log_count("rates feed recovered") == recovered_before
               and time.monotonic() < deadline):
            time.sleep(POLL_S)
        self.assertEqual(self.log_count("rates feed recovered") - recovered_before, 1,
                         "expected one line when the feed recovered")


if __name__ == "__main__":
    unittest.main()
