"""Callback delivery against receivers that misbehave, and the operator's tools.

Receivers on 127.0.0.1 respond 200 or 500, never respond, redirect, or
close the connection without a response. Each case is checked in the
delivery log that `citypayctl callbacks show` prints. Also covered: resending an event,
the development receiver `citypayctl callbacks listen`, GET /metrics and
GET /api/ip-addresses.
"""

import hashlib
import hmac
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK, CallbackReceiver, create_token, for_order, run_cli  # noqa: E402

REQUEST_TIMEOUT_MS = 1000
LOG_WAIT_S = 30             # retries every 1 to 2 s, plus the 1 s timeout
LISTEN_START_TIMEOUT_S = 10 * harness.SLOWDOWN
SOCKET_POLL_S = 0.2
EGRESS_ADDRESSES = ["203.0.113.7", "2001:db8::1"]
ISOLATION_TIMEOUT_MS = 8000  # longer than the whole isolation test takes
ISOLATION_DEADLINE_S = 2    # includes creating order B and choosing its coin


class RawReceiver:
    """A TCP server on 127.0.0.1 that reads each request and then misbehaves.

    mode "hang" keeps the connection open without a response, "close" closes
    it without a response, "redirect" responds 302 with a Location on port 9.
    """

    def __init__(self, mode):
        self.mode = mode
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(16)
        self._sock.settimeout(SOCKET_POLL_S)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d/hook" % (LOOPBACK, self.port)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            self._handle(conn)

    def _read_request(self, conn):
        """Read until the end of the headers and the declared body, or 2 s pass."""
        conn.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            while len(body) < length:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                body += chunk
        except socket.timeout:
            pass
        return data

    def _handle(self, conn):
        self._read_request(conn)
        if self.mode == "hang":
            with self._lock:
                self._open.append(conn)
            return
        if self.mode == "redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/moved\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        with self._lock:
            for conn in self._open:
                conn.close()
            self._open = []


def create_token_env(db_path, customer_id, name, url, env, check=True):
    """Create a live token with one callback URL under extra environment variables."""
    args = ["token", "add", "--customer", customer_id, "--name", name, "--type", "crypto",
            "--currency", "USD", "--ip", LOOPBACK + "/32", "--callback", url,
            "--success-url", "https://shop.example/ok", "--cancel-url", "https://shop.example/no",
            "--expires", str(int(time.time()) + 86400), "--mode", "live"]
    return run_cli(db_path, *args, check=check, env=env)


def signature_of(secret, callback):
    """Return the hex HMAC-SHA256 of "<timestamp>.<body>" of a received callback under secret."""
    timestamp = callback.headers["x-signature-timestamp"]
    return hmac.new(secret.encode(), timestamp.encode() + b"." + callback.raw,
                    hashlib.sha256).hexdigest()


def free_port():
    """Return a port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """Map each sample line "name{labels} value" of Prometheus text to its value."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples


class Callbacks(harness.GatewayTestCase):

    daemon_env = {
        "CITYPAY_CALLBACK_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS),
        "CITYPAY_CALLBACK_RETRY_BASE_S": "1",
        "CITYPAY_CALLBACK_RETRY_CAP_S": "1",
        "CITYPAY_CALLBACK_EGRESS_ADDRESSES": ", ".join(EGRESS_ADDRESSES),
    }

    # -- helpers ---------------------------------------------------------

    def order_to(self, url):
        """Create a token whose only callback URL is url, and an order with a coin chosen.

        Choosing the coin writes the order_created event. Returns (order token, token info).
        """
        info = create_token(self.db_path, self.customer_id, "t-" + harness.unique_suffix(), [url])
        _, data = self.create_order(access_token=info["token"])
        self.choose_coin(data["token"], "BTC")
        return data["token"], info

    def event_of(self, order_token):
        """Return the event id of the order's order_created callback."""
        rows = run_cli(self.db_path, "callbacks", "list", "--order", order_token)["callbacks"]
        created = [r for r in rows if r["action"] == "order_created"]
        self.assertEqual(len(created), 1, "order_created deliveries of %s: %r" % (order_token, rows))
        return created[0]["event_id"]

    def wait_log(self, event_id, predicate, description):
        """Poll `callbacks show` until predicate(result) holds; return the result."""
        deadline = time.monotonic() + LOG_WAIT_S
        shown = None
        while time.monotonic() < deadline:
            shown = run_cli(self.db_path, "callbacks", "show", event_id)
            if predicate(shown):
                return shown
            time.sleep(harness.POLL_INTERVAL_S)
        self.fail("delivery log of %s never showed %s within %d s; last: %r"
                  % (event_id, description, LOG_WAIT_S, shown))

    def attempts_of(self, shown):
        self.assertEqual(len(shown["deliveries"]), 1, "deliveries: %r" % shown)
        return shown["deliveries"][0]["attempts"]

    def assert_failed_attempts(self, shown, check):
        """Check the delivery is pending and every logged attempt with check(attempt)."""
        delivery = shown["deliveries"][0]
        self.assertEqual(delivery["state"], "pending", "delivery: %r" % delivery)
        self.assertIsNone(delivery["delivered_at"], "delivery: %r" % delivery)
        for attempt in delivery["attempts"]:
            self.assertIsNotNone(attempt["error"], "failed attempt without error: %r" % attempt)
            self.assertIs(attempt["resend"], False, "attempt: %r" % attempt)
            self.assertGreaterEqual(attempt["latency_ms"], 0, "attempt: %r" % attempt)
            check(attempt)

    def metrics(self):
        resp = self.get("/metrics")
        self.assertEqual(resp.status, 200, "GET /metrics: %r" % resp)
        return resp, parse_metrics(resp.text)

    # -- delivery outcomes -----------------------------------------------

    def test_answer_200_is_delivered(self):
        token, _ = self.order_to(self.receiver.url)
        received = self.wait_callback(for_order(token, action="order_created"),
                                      "order_created callback of %s" % token)
        event_id = received.get("event_id")

        shown = self.wait_log(event_id, lambda s: s["deliveries"][0]["state"] == "delivered",
                              "state delivered")
        self.assertEqual(shown["event"]["event_id"], event_id)
        self.assertEqual(shown["event"]["action"], "order_created")
        self.assertEqual(shown["event"]["body"], received.body)
        self.assertEqual(shown["deliveries"][0]["url"], self.receiver.url)
        attempts = self.attempts_of(shown)
        self.assertEqual(len(attempts), 1, "attempts: %r" % attempts)
        self.assertEqual(attempts[0]["http_status"], 200)
        self.assertIsNone(attempts[0]["error"])
        self.assertEqual(attempts[0]["response"], '{"ok":true}')
        self.assertIs(attempts[0]["resend"], False)
        self.assertLessEqual(abs(attempts[0]["attempted_at"] - time.time()), 60)

        rows = run_cli(self.db_path, "callbacks", "list", "--order", token)["callbacks"]
        row = [r for r in rows if r["event_id"] == event_id][0]
        self.assertEqual(row["order_token"], token)
        self.assertNotIn("deposit_token", row)
        self.assertEqual(row["state"], "delivered")
        self.assertEqual(row["attempts"], 1)
        self.assertEqual(row["last_http_status"], 200)
        self.assertIsNone(row["last_error"])
        self.assertIsNotNone(row["delivered_at"])

    def test_answer_500_is_retried(self):
        receiver = CallbackReceiver()
        try:
            receiver.fail_matching(lambda c: True, times=1000, status=500)
            token, _ = self.order_to(receiver.url)
            event_id = self.event_of(token)
            shown = self.wait_log(event_id, lambda s: len(self.attempts_of(s)) >= 2,
                                  "two attempts")
        finally:
            receiver.stop()

        def check(attempt):
            self.assertEqual(attempt["http_status"], 500, "attempt: %r" % attempt)
            self.assertEqual(attempt["error"], "HTTP 500", "attempt: %r" % attempt)
            self.assertEqual(attempt["response"], '{"ok":false}', "attempt: %r" % attempt)
        self.assert_failed_attempts(shown, check)
        bodies = {c.raw for c in receiver.callbacks()}
        self.assertEqual(len(bodies), 1, "retries must send the same body: %r" % bodies)

    def test_no_answer_times_out(self):
        receiver = RawReceiver("hang")
        try:
            token, _ = self.order_to(receiver.url)
            event_id = self.event_of(token)
            shown = self.wait_log(event_id, lambda s: len(self.attempts_of(s)) >= 1,
                                  "one attempt")
        finally:
            receiver.stop()

        def check(attempt):
            self.assertIsNone(attempt["http_status"], "attempt: %r" % attempt)
            self.assertIn("timed out", attempt["error"], "attempt: %r" % attempt)
            self.assertGreaterEqual(attempt["latency_ms"], REQUEST_TIMEOUT_MS - 50,
                                    "attempt: %r" % attempt)
        self.assert_failed_attempts(shown, check)

    def test_redirect_is_not_followed(self):
        receiver = RawReceiver("redirect")
        try:
            token, _ = self.order_to(receiver.url)
            event_id = self.event_of(token)
            shown = self.wait_log(event_id, lambda s: len(self.attempts_of(s)) >= 2,
                                  "two attempts")
        finally:
            receiver.stop()

        def check(attempt):
            self.assertEqual(attempt["http_status"], 302, "attempt: %r" % attempt)
            self.assertIn("redirects are not followed", attempt["error"], "attempt: %r" % attempt)
        self.assert_failed_attempts(shown, check)

    def test_closed_connection_is_retried(self):
        receiver = RawReceiver("close")
        try:
            token, _ = self.order_to(receiver.url)
            event_id = self.event_of(token)
            shown = self.wait_log(event_id, lambda s: len(self.attempts_of(s)) >= 2,
                                  "two attempts")
        finally:
            receiver.stop()

        def check(attempt):
            self.assertIsNone(attempt["http_status"], "attempt: %r" % attempt)
            self.assertIn("Empty reply", attempt["error"], "attempt: %r" % attempt)
        self.assert_failed_attempts(shown, check)
        self.assertGreaterEqual(receiver.connections, 2)

    # -- operator tools --------------------------------------------------

    def test_resend_keeps_event_and_body(self):
        token, info = self.order_to(self.receiver.url)
        first = self.wait_callback(for_order(token, action="order_created"),
                                   "order_created callback of %s" % token)
        event_id = first.get("event_id")
        self.assertIsNone(first.headers.get("x-event-resend"), "first: %r" % first.headers)
        self.wait_log(event_id, lambda s: s["deliveries"][0]["state"] == "delivered",
                      "state delivered")

        result = run_cli(self.db_path, "callbacks", "resend", event_id)
        self.assertEqual(result, {"event_id": event_id, "deliveries": 1})

        again = self.wait_callback(
            lambda c: c.get("event_id") == event_id and c is not first,
            "resent callback %s" % event_id)
        self.assertEqual(again.headers.get("x-event-resend"), "true")
        self.assertEqual(again.headers.get("x-event-id"), event_id)
        self.assertEqual(again.raw, first.raw)
        self.assert_signed(again, info["signing_secret"])

        shown = self.wait_log(event_id, lambda s: len(self.attempts_of(s)) == 2,
                              "two attempts")
        delivery = shown["deliveries"][0]
        self.assertEqual(delivery["state"], "delivered")
        self.assertIs(delivery["resend_pending"], False)
        self.assertEqual([a["resend"] for a in delivery["attempts"]], [False, True])

    def test_resend_unknown_event(self):
        result = run_cli(self.db_path, "callbacks", "resend", "evt_unknown", check=False)
        self.assertEqual(result["_returncode"], 1)
        self.assertIn("no callback event", result["error"])

    def test_list_filters(self):
        token, _ = self.order_to(self.receiver.url)
        self.wait_callback(for_order(token, action="order_created"), "callback of %s" % token)
        event_id = self.event_of(token)
        self.wait_log(event_id, lambda s: s["deliveries"][0]["state"] == "delivered",
                      "state delivered")

        delivered = run_cli(self.db_path, "callbacks", "list", "--state", "delivered",
                            "--customer", self.customer_id)["callbacks"]
        self.assertIn(event_id, [r["event_id"] for r in delivered])
        pending = run_cli(self.db_path, "callbacks", "list", "--state", "pending",
                          "--order", token)["callbacks"]
        self.assertEqual(pending, [])
        limited = run_cli(self.db_path, "callbacks", "list", "--limit", "1")["callbacks"]
        self.assertEqual(len(limited), 1)
        other = run_cli(self.db_path, "callbacks", "list", "--customer", "999999")["callbacks"]
        self.assertEqual(other, [])
        bad = run_cli(self.db_path, "callbacks", "list", "--state", "lost", check=False)
        self.assertEqual(bad["_returncode"], 2)

    def test_show_text_mode(self):
        token, _ = self.order_to(self.receiver.url)
        self.wait_callback(for_order(token, action="order_created"), "callback of %s" % token)
        event_id = self.event_of(token)
        argv = harness.WRAPPER + [harness.CITYPAYCTL, "--db", self.db_path,
                                  "callbacks", "show", event_id]
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=harness.CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("event.event_id", proc.stdout)
        self.assertIn(event_id, proc.stdout)
        self.assertIn("deliveries[0].url", proc.stdout)

    # -- the development receiver ----------------------------------------

    def start_listener(self, port, secret):
        argv = harness.WRAPPER + [harness.CITYPAYCTL, "--json", "callbacks", "listen",
                                  "--port", str(port), "--secret", secret, "--status", "202"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()

        def read():
            for line in proc.stdout:
                lines.put(line)
        threading.Thread(target=read, daemon=True).start()
        self.addCleanup(self.stop_listener, proc)
        first = self.next_line(lines, LISTEN_START_TIMEOUT_S)
        self.assertEqual(first["port"], port, "first line: %r" % first)
        return proc, lines

    def stop_listener(self, proc):
        """Stop the receiver with SIGINT (SIGKILL after a timeout); return its exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=harness.DAEMON_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=harness.DAEMON_STOP_TIMEOUT_S)
        proc.stdout.close()
        proc.stderr.close()
        return proc.returncode

    def next_line(self, lines, timeout=harness.CALLBACK_TIMEOUT_S):
        try:
            return harness.parse_json(lines.get(timeout=timeout))
        except queue.Empty:
            self.fail("callbacks listen printed no line within %d s" % timeout)

    def post_signed(self, port, body, secret, timestamp):
        signature = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                             hashlib.sha256).hexdigest()
        return harness.http_request(
            "http://%s:%d/hook" % (LOOPBACK, port), "POST", raw=body,
            content_type="application/json",
            headers={"X-Signature-Timestamp": str(timestamp), "X-Signature": signature})

    def test_listen_verifies_signatures(self):
        port = free_port()
        info = create_token(self.db_path, self.customer_id, "t-" + harness.unique_suffix(),
                            ["http://%s:%d/hook" % (LOOPBACK, port)])
        proc, lines = self.start_listener(port, info["signing_secret"])

        _, data = self.create_order(access_token=info["token"])
        self.choose_coin(data["token"], "BTC")
        from_daemon = self.next_line(lines)
        self.assertEqual(from_daemon["action"], "order_created", "line: %r" % from_daemon)
        self.assertIs(from_daemon["signature_valid"], True, "line: %r" % from_daemon)
        self.assertIs(from_daemon["resend"], False)
        self.assertEqual(from_daemon["answered"], 202)

        body = b'{"event_id":"evt_local","action":"status_changed","status":"PAID"}'
        now = int(time.time())
        cases = [
            (info["signing_secret"], now, True, "valid"),
            ("wrong-secret", now, False, "does not match"),
            (info["signing_secret"], now - 301, False, "300 seconds"),
            (info["signing_secret"], now + 301, False, "300 seconds"),
        ]
        for secret, timestamp, valid, reason in cases:
            resp = self.post_signed(port, body, secret, timestamp)
            self.assertEqual(resp.status, 202, "listener answer: %r" % resp)
            line = self.next_line(lines)
            self.assertEqual(line["event_id"], "evt_local", "line: %r" % line)
            self.assertEqual(line["status"], "PAID", "line: %r" % line)
            self.assertIs(line["signature_valid"], valid, "line: %r" % line)
            self.assertIn(reason, line["signature"], "line: %r" % line)

        self.assertEqual(self.stop_listener(proc), 0)

    # -- metrics and egress addresses ------------------------------------

    def test_metrics_move(self):
        resp, before = self.metrics()
        self.assertTrue(resp.header("content-type").startswith("text/plain; version=0.0.4"),
                        "content type: %r" % resp.header("content-type"))
        self.assertEqual(before["citypay_up"], 1)
        for name in ("citypay_callbacks_delivered_total", "citypay_callbacks_retried_total",
                     "citypay_callbacks_failed_total", "citypay_callbacks_queue_depth",
                     "citypay_callback_latency_ms_sum", "citypay_callback_latency_ms_count",
                     'citypay_callback_latency_ms_bucket{le="+Inf"}'):
            self.assertIn(name, before, "metrics lack %s:\n%s" % (name, resp.text))

        token, _ = self.order_to(self.receiver.url)
        self.wait_callback(for_order(token, action="order_created"), "callback of %s" % token)
        event_id = self.event_of(token)
        self.wait_log(event_id, lambda s: s["deliveries"][0]["state"] == "delivered",
                      "state delivered")
        failing = CallbackReceiver()
        try:
            failing.fail_matching(lambda c: True, times=1000, status=503)
            failing_token, _ = self.order_to(failing.url)
            failing_event = self.event_of(failing_token)
            self.wait_log(failing_event, lambda s: len(self.attempts_of(s)) >= 1, "one attempt")
            _, during = self.metrics()
        finally:
            failing.stop()

        _, after = self.metrics()
        self.assertGreater(after["citypay_callbacks_delivered_total"],
                           before["citypay_callbacks_delivered_total"])
        self.assertGreater(after["citypay_callbacks_retried_total"],
                           before["citypay_callbacks_retried_total"])
        self.assertGreater(after["citypay_callback_latency_ms_count"],
                           before["citypay_callback_latency_ms_count"])
        self.assertGreaterEqual(during["citypay_callbacks_queue_depth"], 1)
        self.assertEqual(after['citypay_callback_latency_ms_bucket{le="+Inf"}'],
                         after["citypay_callback_latency_ms_count"])
        buckets = [v for k, v in after.items() if k.startswith("citypay_callback_latency_ms_bucket")]
        self.assertEqual(buckets, sorted(buckets), "buckets must be cumulative: %r" % buckets)

    def test_ip_addresses_from_env(self):
        resp = self.get("/api/ip-addresses")
        self.assertEqual(resp.status, 200, "GET /api/ip-addresses: %r" % resp)
        self.assertIs(resp.body["success"], True)
        self.assertEqual(resp.body["data"]["addresses"], EGRESS_ADDRESSES)

    def test_rotate_secret_signs_with_both(self):
        name = "rot-" + harness.unique_suffix()
        created = create_token(self.db_path, self.customer_id, name, [self.receiver.url])
        old_secret = created["signing_secret"]
        info = run_cli(self.db_path, "token", "rotate-secret", "--customer", self.customer_id,
                       "--name", name, "--overlap-hours", "1")
        new_secret = info["signing_secret"]
        self.assertTrue(new_secret.startswith("whsec_"), "rotate-secret output: %r" % info)
        self.assertNotEqual(new_secret, old_secret)
        self.assertEqual(info["overlap_hours"], 1)

        during = self.callback_of_new_order(created["token"])
        signatures = during.headers["x-signature"].split(", ")
        self.assertEqual(len(signatures), 2, "X-Signature during the overlap: %r" % signatures)
        self.assertEqual(signatures[0], signature_of(new_secret, during))
        self.assertEqual(signatures[1], signature_of(old_secret, during))

        latest = run_cli(self.db_path, "token", "rotate-secret", "--customer", self.customer_id,
                         "--name", name, "--overlap-hours", "0")["signing_secret"]
        after = self.callback_of_new_order(created["token"])
        self.assertEqual(after.headers["x-signature"], signature_of(latest, after))

    def test_rotate_secret_unknown_token(self):
        result = run_cli(self.db_path, "token", "rotate-secret", "--customer", self.customer_id,
                         "--name", "no-such-token", check=False)
        self.assertEqual(result["_returncode"], 1)
        self.assertIn("no active token named", result["error"])

    def callback_of_new_order(self, access_token):
        """Create an order with access_token, choose its coin, and return its callback."""
        _, data = self.create_order(access_token=access_token)
        self.choose_coin(data["token"], "BTC")
        return self.wait_callback(for_order(data["token"], action="order_created"),
                                  "order_created callback of %s" % data["token"])

    def test_allowed_range_admits_live_url(self):
        url = "http://10.20.30.40:8080/hook"
        env = {"CITYPAY_CALLBACK_ALLOWED_RANGES": "192.0.2.0/24, 10.20.0.0/16"}
        info = create_token_env(self.db_path, self.customer_id, "lan-" + harness.unique_suffix(),
                                url, env)
        self.assertNotIn("_returncode", info, "token add with the range allowed: %r" % info)
        self.assertTrue(info["token"].startswith("cp_live_"), "token: %r" % info)

        outside = create_token_env(self.db_path, self.customer_id, "wan-" + harness.unique_suffix(),
                                   "http://10.21.0.1/hook", env, check=False)
        self.assertEqual(outside["_returncode"], 1, "token add outside the ranges: %r" % outside)
        self.assertIn("callbacks.allowed_ranges", outside["_stderr"] + repr(outside))

    def test_allowed_range_invalid(self):
        result = run_cli(self.db_path, "callbacks", "list", check=False,
                         env={"CITYPAY_CALLBACK_ALLOWED_RANGES": "10.0.0.0/8, 10.0.0.0/99"})
        self.assertEqual(result["_returncode"], 1)
        self.assertIn("CITYPAY_CALLBACK_ALLOWED_RANGES", result["error"])

    def test_egress_address_invalid(self):
        result = run_cli(self.db_path, "callbacks", "list", check=False,
                         env={"CITYPAY_CALLBACK_EGRESS_ADDRESSES": "203.0.113.7, not-an-ip"})
        self.assertEqual(result["_returncode"], 1)
        self.assertIn("not-an-ip", result["error"])


class SlowReceiverIsolation(harness.GatewayTestCase):
    """A receiver that never responds delays no callback of other orders or URLs."""

    daemon_env = {
        "CITYPAY_CALLBACK_TIMEOUT_MS": str(ISOLATION_TIMEOUT_MS),
        "CITYPAY_CALLBACK_RETRY_BASE_S": "60",
        "CITYPAY_CALLBACK_RETRY_CAP_S": "60",
    }

    def test_hanging_receiver_delays_no_other_order(self):
        silent = RawReceiver("hang")
        try:
            silent_token = create_token(self.db_path, self.customer_id, "silent", [silent.url])
            _, data = self.create_order(access_token=silent_token["token"])
            order_a = data["token"]
            self.choose_coin(order_a, "BTC")
            deadline = time.monotonic() + harness.CALLBACK_TIMEOUT_S
            while silent.connections == 0 and time.monotonic() < deadline:
                time.sleep(SOCKET_POLL_S / 4)
            self.assertEqual(silent.connections, 1, "the attempt to the silent receiver never started")

            started = time.monotonic()
            _, data = self.create_order(access_token=self.token)
            order_b = data["token"]
            self.choose_coin(order_b, "BTC")
            self.receiver.wait_for(for_order(order_b, action="order_created"),
                                   timeout=ISOLATION_DEADLINE_S,
                                   description="order_created callback of %s" % order_b)
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, ISOLATION_DEADLINE_S)

            rows = run_cli(self.db_path, "callbacks", "list", "--order", order_a)["callbacks"]
            self.assertEqual(len(rows), 1, "deliveries of %s: %r" % (order_a, rows))
            self.assertEqual(rows[0]["attempts"], 0,
                             "the attempt to the silent receiver must still be in flight: %r" % rows)
            self.assertEqual(silent.connections, 1)
        finally:
            silent.stop()


if __name__ == "__main__":
    unittest.main()
