"""Shared fixtures for the end-to-end tests of citypayd and citypayctl.

Every test class gets its own temporary directory with a fresh database, one
merchant with a sandbox access token, a callback receiver and a running
daemon. The binaries come from CITYPAY_BUILD_DIR (default: build/ in the
repository root). Every server listens on 127.0.0.1 and every request goes
there only. Set CITYPAY_E2E_KEEP=1 to keep the temporary directories and
the daemon's log (citypayd.log in each).

Run one file from the repository root:
    CITYPAY_BUILD_DIR=build python3 tests/e2e/test_clients.py
"""

import decimal
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("CITYPAY_BUILD_DIR") or os.path.join(REPO_ROOT, "build"))
CITYPAYD = os.path.join(BUILD_DIR, "citypayd")
CITYPAYCTL = os.path.join(BUILD_DIR, "citypayctl")

# A command line put before every citypayd and citypayctl command, split as
# a shell splits words. scripts/valgrind.sh sets it to a valgrind command.
WRAPPER = shlex.split(os.environ.get("CITYPAY_E2E_WRAPPER", ""))

# Factor applied to the timeouts below, defaulting to 10 with a wrapper.
# Valgrind's Quick Start Guide estimates that memcheck runs a program 20 to
# 30 times slower, but the tests spend most of their time waiting.
SLOWDOWN = float(os.environ.get("CITYPAY_E2E_SLOWDOWN") or (10 if WRAPPER else 1))

LOOPBACK = "127.0.0.1"
CLI_TIMEOUT_S = 30 * SLOWDOWN
HTTP_TIMEOUT_S = 15 * SLOWDOWN
DAEMON_START_TIMEOUT_S = 15 * SLOWDOWN
DAEMON_STOP_TIMEOUT_S = 10 * SLOWDOWN
CALLBACK_TIMEOUT_S = 20 * SLOWDOWN
POLL_INTERVAL_S = 0.5

# Confirmations the sandbox chain requires per coin before a payment counts.
REQUIRED_CONFIRMATIONS = {"BTC": 2, "ETH": 12, "USDT-ERC20": 12, "LTC": 6}

# Fields of every order and deposit callback body.
ORDER_CALLBACK_FIELDS = (
    "type", "action", "status", "order_id", "client_order_id", "order_token",
    "transaction_id", "received_amount_in_coins", "received_amount_in_fiat",
    "fiat_currency", "crypto_currency", "created_at", "order_expiration",
    "exchange_rate", "event_id", "sequence",
)
DEPOSIT_CALLBACK_FIELDS = (
    "type", "action", "transaction_id", "received_amount", "received_amount_in_fiat",
    "fiat_currency", "status", "crypto_currency", "exchange_rate", "created_at",
    "deposit_id", "deposit_token", "event_id", "sequence",
)

# Every order status of the wire format.
ORDER_STATUSES = {
    "IN_PROGRESS", "PAID_UNCONFIRMED", "CONFIRMED", "UNDERPAID",
    "OVERPAID", "EXPIRED", "CANCELED",
}

# Where the payment page sends the buyer; port 9 (discard) is never opened.
DEFAULT_SUCCESS_URL = "http://127.0.0.1:9/success"
DEFAULT_CANCEL_URL = "http://127.0.0.1:9/cancel"

# Fast callback retries, so that retry tests finish in seconds.
DAEMON_ENV = {
    "CITYPAY_CALLBACK_RETRY_BASE_S": "1",
    "CITYPAY_CALLBACK_RETRY_CAP_S": "2",
}


def parse_json(text):
    """Parse JSON keeping fractions as Decimal, so that "49.90" keeps its digits."""
    return json.loads(text, parse_float=decimal.Decimal)


def decimal_text(value):
    """Format a number as plain decimal text; str(Decimal) may use exponent notation."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def unique_suffix():
    return uuid.uuid4().hex[:10]


# ---------------------------------------------------------------------------
# citypayctl

class CliError(Exception):
    """A citypayctl command that exited non-zero."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args_list = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            "citypayctl %s exited with %d\nstdout: %s\nstderr: %s"
            % (" ".join(args), returncode, stdout.strip(), stderr.strip()))


def run_cli(db_path, *args, check=True, env=None):
    """Run `citypayctl --db DB --json ARGS...` and return its JSON output as a dict.

    Raises CliError when the command exits non-zero and check is true; with
    check false the dict gets the exit code under "_returncode". env adds
    environment variables to the inherited ones.
    """
    argv = WRAPPER + [CITYPAYCTL, "--db", db_path, "--json"] + [str(a) for a in args]
    proc_env = dict(os.environ, **env) if env else None
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                          env=proc_env)
    if proc.returncode != 0 and check:
        raise CliError([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr)
    try:
        result = parse_json(proc.stdout)
    except ValueError:
        raise AssertionError("citypayctl %s printed no JSON object (exit %d)\nstdout: %r\nstderr: %s"
                             % (" ".join(str(a) for a in args), proc.returncode,
                                proc.stdout, proc.stderr.strip()))
    if not isinstance(result, dict):
        raise AssertionError("citypayctl %s printed %r, expected one JSON object"
                             % (" ".join(str(a) for a in args), proc.stdout))
    if not check:
        result["_returncode"] = proc.returncode
        result["_stderr"] = proc.stderr
    return result


def create_token(db_path, customer_id, name, callback_urls, *, token_type="crypto",
                 currency="USD", ip_ranges=(LOOPBACK + "/32",), expires_at=None,
                 mode="sandbox", success_url=None, cancel_url=None):
    """Create an access token with the CLI and return its JSON (token and signing secret included)."""
    if expires_at is None:
        expires_at = int(time.time()) + 86400
    success_url = success_url or DEFAULT_SUCCESS_URL
    cancel_url = cancel_url or DEFAULT_CANCEL_URL
    args = ["token", "add", "--customer", customer_id, "--name", name,
            "--type", token_type, "--currency", currency]
    for ip_range in ip_ranges:
        args += ["--ip", ip_range]
    for url in callback_urls:
        args += ["--callback", url]
    args += ["--success-url", success_url, "--cancel-url", cancel_url]
    args += ["--expires", expires_at, "--mode", mode]
    return run_cli(db_path, *args)


def count_orders(db_path, customer_id=None):
    args = ["order", "list", "--limit", "10000"]
    if customer_id is not None:
        args += ["--customer", customer_id]
    return len(run_cli(db_path, *args)["orders"])


# ---------------------------------------------------------------------------
# HTTP client

class Response:
    """One HTTP response: status, headers (lower-cased names), raw bytes and parsed body."""

    def __init__(self, status, headers, raw, set_cookies=None):
        self.status = status
        self.headers = headers
        # Every Set-Cookie header in order, since headers keeps only the last one.
        self.set_cookies = list(set_cookies or ())
        self.raw = raw
        self.text = raw.decode("utf-8", errors="replace")
        self.body = self.text
        if headers.get("content-type", "").startswith("application/json") or self.text[:1] == "{":
            try:
                self.body = parse_json(self.text)
            except ValueError:
                pass

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.text[:2000])


def encode_multipart(fields):
    """Build a multipart/form-data body by hand; returns (content type, bytes)."""
    boundary = "----citypay-e2e-" + uuid.uuid4().hex
    chunks = []
    for name, value in fields.items():
        chunks.append(("--%s\r\n" % boundary).encode())
        chunks.append(('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode())
        chunks.append(str(value).encode("utf-8"))
        chunks.append(b"\r\n")
    chunks.append(("--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=%s" % boundary, b"".join(chunks)


def http_request(url, method="GET", *, json_body=None, form=None, multipart=None,
                 raw=None, content_type=None, headers=None, timeout=HTTP_TIMEOUT_S):
    """Send one request to a 127.0.0.1 URL and return a Response; redirects are not followed.

    Give at most one body: json_body (a dict, or a str sent as is), form
    (dict or pre-encoded str), multipart (dict) or raw bytes with content_type.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != LOOPBACK:
        raise AssertionError("rejected request to %r: the tests send requests to %s only"
                             % (url, LOOPBACK))
    send_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = (json_body if isinstance(json_body, str) else json.dumps(json_body)).encode()
        send_headers.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = (form if isinstance(form, str) else urllib.parse.urlencode(form)).encode()
        send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif multipart is not None:
        ctype, body = encode_multipart(multipart)
        send_headers.setdefault("Content-Type", ctype)
    elif raw is not None:
        body = raw
        if content_type:
            send_headers.setdefault("Content-Type", content_type)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=send_headers)
        except (BrokenPipeError, ConnectionResetError):
            # The server may respond and close before reading a body it rejects
            # (413), and its response is still readable.
            pass
        resp = conn.getresponse()
        data = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        return Response(resp.status, resp_headers, data, resp.msg.get_all("Set-Cookie"))
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Callback receiver

class Callback:
    """One received callback: request path, headers (lower-cased names), raw body, parsed body."""

    def __init__(self, path, headers, raw, status_sent):
        self.path = path
        self.headers = headers
        self.raw = raw
        self.status_sent = status_sent
        self.received_at = time.time()
        try:
            self.body = parse_json(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.body = None

    def get(self, key, default=None):
        return self.body.get(key, default) if isinstance(self.body, dict) else default

    def __repr__(self):
        return "Callback(status sent %d, %s)" % (self.status_sent, self.raw[:600].decode("utf-8", "replace"))


class CallbackReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and responds 200 by default.

    fail_matching(predicate, times, status) makes the next `times` callbacks
    whose Callback matches the predicate get `status` instead.
    """

    def __init__(self, port=0):
        self._cond = threading.Condition()
        self._callbacks = []
        # Each entry is a list of predicate, failures left and status to send.
        self._failures = []
        self._server = None
        self._thread = None
        self.port = port
        self.start()

    @property
    def url(self):
        return "http://%s:%d/callback" % (LOOPBACK, self.port)

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(self.path, headers, raw)
                reply = b'{"ok":true}' if status < 300 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                # Closing every connection makes stop() final: no kept-alive
                # connection keeps receiving callbacks after it.
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, fmt, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def _record(self, path, headers, raw):
        with self._cond:
            probe = Callback(path, headers, raw, 200)
            status = 200
            for failure in self._failures:
                if failure[1] > 0 and failure[0](probe):
                    failure[1] -= 1
                    status = failure[2]
                    break
            probe.status_sent = status
            self._callbacks.append(probe)
            self._cond.notify_all()
            return status

    def fail_matching(self, predicate, times=1, status=500):
        with self._cond:
            self._failures.append([predicate, times, status])

    def callbacks(self, predicate=None):
        with self._cond:
            return [c for c in self._callbacks if predicate is None or predicate(c)]

    def wait_for(self, predicate, timeout=CALLBACK_TIMEOUT_S, description="callback"):
        """Return the first received callback matching predicate, waiting at most timeout seconds."""
        deadline = time.monotonic() + min(timeout, CALLBACK_TIMEOUT_S * 3)
        with self._cond:
            while True:
                for callback in self._callbacks:
                    if predicate(callback):
                        return callback
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=min(left, 0.5))
            seen = list(self._callbacks)
        raise AssertionError("timed out after %.0f s waiting for %s; %d callbacks received:\n%s"
                             % (timeout, description, len(seen),
                                "\n".join(repr(c) for c in seen[-15:])))


def for_order(order_token, status=None, action=None):
    """Predicate matching order callbacks of one order token (and status or action)."""
    def match(callback):
        if callback.get("type") != "order":
            return False
        if str(callback.get("order_token")) != str(order_token):
            return False
        if status is not None and callback.get("status") != status:
            return False
        if action is not None and callback.get("action") != action:
            return False
        return True
    return match


def verify_signature(callback, secret):
    """Return None when X-Signature is the HMAC-SHA256 of "<timestamp>.<body>", else the reason."""
    timestamp = callback.headers.get("x-signature-timestamp")
    signature = callback.headers.get("x-signature")
    if not timestamp or not signature:
        return "missing X-Signature-Timestamp or X-Signature header: %r" % callback.headers
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + callback.raw,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        return "X-Signature %s does not match the expected %s" % (signature, expected)
    return None


# ---------------------------------------------------------------------------
# Daemon

class Daemon:
    """One citypayd process with its stderr collected line by line."""

    def __init__(self, db_path, config_path=None, extra_env=None, wrapper=None):
        self.db_path = db_path
        self.wrapper = WRAPPER if wrapper is None else wrapper
        self.config_path = config_path
        self.extra_env = extra_env or {}
        self.lines = []
        self.proc = None
        self.port = None
        self.returncode = None
        self._lines_lock = threading.Lock()
        self._listening = threading.Event()
        self._reader = None

    @property
    def base_url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def start(self):
        argv = self.wrapper + [CITYPAYD, "--db", self.db_path, "--listen", LOOPBACK + ":0"]
        if self.config_path:
            argv += ["--config", self.config_path]
        env = dict(os.environ, **DAEMON_ENV)
        env.update(self.extra_env)
        self._listening.clear()
        self.port = None
        self.returncode = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self._reader = threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True)
        self._reader.start()

        if not self._listening.wait(timeout=DAEMON_START_TIMEOUT_S):
            self.stop()
            raise AssertionError("citypayd logged no msg=listening line within %d s; stderr:\n%s"
                                 % (DAEMON_START_TIMEOUT_S, self.log_text()[-4000:]))
        self._wait_healthy()

    def _read_stderr(self, proc):
        for raw_line in proc.stderr:
            line = raw_line.decode("utf-8", errors="replace").rstrip("\n")
            with self._lines_lock:
                self.lines.append(line)
            if self.port is None and "msg=listening" in line:
                port = parse_listen_port(line)
                if port:
                    self.port = port
                    self._listening.set()
        proc.stderr.close()

    def _wait_healthy(self):
        deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            try:
                last = http_request(self.base_url + "/healthz", timeout=2 * SLOWDOWN)
                if last.status == 200:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        self.stop()
        raise AssertionError("GET /healthz did not return 200 within %d s; last response: %r"
                             % (DAEMON_START_TIMEOUT_S, last))

    def stop(self):
        """Send SIGTERM, then SIGKILL after DAEMON_STOP_TIMEOUT_S; return the exit code."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DAEMON_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        self._reader.join(timeout=5)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def kill(self):
        """Send SIGKILL, as a crash would, and return the exit code."""
        if self.proc is None:
            return self.returncode
        self.proc.kill()
        self.proc.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        self._reader.join(timeout=5)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def log_text(self):
        with self._lines_lock:
            return "\n".join(self.lines)


def parse_listen_port(line):
    """Return the port of addr=HOST:PORT in a logfmt line, or None."""
    for field in line.split():
        if field.startswith("addr="):
            value = field[len("addr="):].strip('"')
            host, _, port = value.rpartition(":")
            if port.isdigit():
                return int(port)
    return None


# ---------------------------------------------------------------------------
# Test case base

class RejectionChecks:
    """Assertions shared by the test classes below; mixed into a GatewayTestCase."""

    def assert_error(self, resp, status, reason=None, field=None):
        """Check the error envelope of resp: status, error.reason and the field in message."""
        self.assertEqual(resp.status, status, "expected HTTP %d, got %r" % (status, resp))
        self.assertIsInstance(resp.body, dict, "error response is not JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), False, "success: %r" % resp)
        self.assertEqual(resp.body.get("status_code"), status, "status_code: %r" % resp)
        self.assertIsInstance(resp.body.get("message"), dict, "message: %r" % resp)
        if reason is not None:
            self.assertEqual(resp.body.get("error", {}).get("reason"), reason,
                             "error.reason: %r" % resp)
        if field is not None:
            self.assertIn(field, resp.body["message"], "message does not name %s: %r"
                          % (field, resp))

    def assert_rejected(self, send, status, reason=None, field=None):
        """Call send(), check the error response and that no order was stored."""
        before = count_orders(self.db_path)
        resp = send()
        self.assert_error(resp, status, reason, field)
        self.assertEqual(count_orders(self.db_path), before,
                         "a rejected request stored an order: %r" % resp)
        return resp

    def message_text(self, resp):
        return json.dumps(resp.body.get("message"), ensure_ascii=False)

    def post_json_text(self, text):
        body = text if isinstance(text, bytes) else text.encode("utf-8")
        return self.post("/api/generateOrder", raw=body, content_type="application/json")

    def post_form_bytes(self, body):
        return self.post("/api/generateOrder", raw=body,
                         content_type="application/x-www-form-urlencoded")


class GatewayTestCase(unittest.TestCase):
    """Fixture for one test class: database, merchant, sandbox token, receiver and daemon.

    Class attributes after setUpClass: tmpdir, db_path, customer_id,
    merchant_info (the `merchant add` output, with the initial cabinet
    password), token (the access token text), secret (its signing secret),
    token_info (the CLI output), receiver and daemon. Subclasses may set
    daemon_env to a dict of environment variables for citypayd.
    """

    token_type = "crypto"
    currency = "USD"
    ip_ranges = (LOOPBACK + "/32",)
    config_text = None
    daemon_env = None
    daemon_wrapper = None

    @classmethod
    def setUpClass(cls):
        for binary in (CITYPAYD, CITYPAYCTL):
            if not os.access(binary, os.X_OK):
                raise AssertionError("%s is missing or not executable; build the project or set "
                                     "CITYPAY_BUILD_DIR" % binary)
        cls.tmpdir = tempfile.mkdtemp(prefix="citypay-e2e-")
        cls.db_path = os.path.join(cls.tmpdir, "citypay.db")
        cls.config_path = None
        if cls.config_text:
            cls.config_path = os.path.join(cls.tmpdir, "citypay.conf")
            with open(cls.config_path, "w") as f:
                f.write(cls.config_text)
        cls.daemon = None
        cls.receiver = None
        try:
            cls.init_result = run_cli(cls.db_path, "init")
            merchant = run_cli(cls.db_path, "merchant", "add", "--company", "Example Shop",
                               "--email", "shop@example.com")
            cls.customer_id = merchant["customer_id"]
            cls.merchant_info = merchant
            cls.receiver = CallbackReceiver()
            cls.token_info = create_token(cls.db_path, cls.customer_id, "shop",
                                          [cls.receiver.url], token_type=cls.token_type,
                                          currency=cls.currency, ip_ranges=cls.ip_ranges)
            cls.token = cls.token_info["token"]
            cls.secret = cls.token_info["signing_secret"]
            cls.daemon = Daemon(cls.db_path, cls.config_path, cls.daemon_env,
                                cls.wrapper_argv())
            cls.daemon.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def wrapper_argv(cls):
        """The argv prefix that runs citypayd, or None for CITYPAY_E2E_WRAPPER."""
        return cls.daemon_wrapper

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            cls.daemon.stop()
            with open(os.path.join(cls.tmpdir, "citypayd.log"), "w") as f:
                f.write(cls.daemon.log_text())
        if cls.receiver is not None:
            cls.receiver.stop()
        if os.environ.get("CITYPAY_E2E_KEEP"):
            sys.stderr.write("kept %s\n" % cls.tmpdir)
        else:
            shutil.rmtree(cls.tmpdir, ignore_errors=True)

    # -- requests --------------------------------------------------------

    def url(self, path):
        return self.daemon.base_url + path

    def post(self, path, **kwargs):
        return http_request(self.url(path), "POST", **kwargs)

    def get(self, path, **kwargs):
        return http_request(self.url(path), "GET", **kwargs)

    def order_fields(self, **overrides):
        """Fields of a valid generateOrder request with a fresh order_token."""
        suffix = unique_suffix()
        fields = {
            "customer_id": str(self.customer_id),
            "access_token": self.token,
            "order_id": "ord-" + suffix,
            "order_token": "tok-" + suffix,
            "amount": "10.00",
        }
        fields.update(overrides)
        return {k: v for k, v in fields.items() if v is not None}

    def create_order(self, **overrides):
        """Create an order with a JSON request and return (fields sent, data)."""
        fields = self.order_fields(**overrides)
        resp = self.post("/api/generateOrder", json_body=fields)
        self.assertIn(resp.status, (200, 201), "generateOrder failed: %r" % resp)
        self.assertIsInstance(resp.body, dict, "generateOrder returned no JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), True, "generateOrder: %r" % resp)
        return fields, resp.body["data"]

    def order_info(self, order_token):
        resp = self.get("/order/" + urllib.parse.quote(str(order_token), safe=""))
        self.assertEqual(resp.status, 200, "GET /order/%s: %r" % (order_token, resp))
        self.assertIsInstance(resp.body, dict, "GET /order/%s: %r" % (order_token, resp))
        return resp.body["data"]

    def wait_order_status(self, order_token, code, timeout=CALLBACK_TIMEOUT_S):
        """Poll GET /order/{token} until data.status.code equals code; return data."""
        deadline = time.monotonic() + timeout
        data = None
        while time.monotonic() < deadline:
            data = self.order_info(order_token)
            if data["status"]["code"] == code:
                return data
            time.sleep(POLL_INTERVAL_S)
        self.fail("order %s did not reach %s within %.0f s; last data: %s"
                  % (order_token, code, timeout, data))

    def choose_coin(self, order_token, coin):
        """Choose the coin on the payment page, as a buyer does; return the order data."""
        resp = self.post("/invoice/coin", form={"token": order_token, "coin": coin})
        self.assertEqual(resp.status, 303, "POST /invoice/coin: %r" % resp)
        location = resp.header("location") or ""
        expected = "/invoice?token=" + urllib.parse.quote(str(order_token), safe="")
        self.assertTrue(location.endswith(expected),
                        "POST /invoice/coin redirects to %r, expected the invoice %r"
                        % (location, expected))
        return self.order_info(order_token)

    def sandbox_pay_http(self, token, coin=None, amount=None):
        """Send a sandbox transaction with POST /sandbox/pay and return the transaction."""
        fields = {"token": token}
        if coin is not None:
            fields["coin"] = coin
        if amount is not None:
            fields["amount"] = decimal_text(amount)
        resp = self.post("/sandbox/pay", json_body=fields)
        self.assertIn(resp.status, (200, 201), "POST /sandbox/pay %s: %r" % (fields, resp))
        self.assertIsInstance(resp.body.get("data"), dict, "POST /sandbox/pay: %r" % resp)
        return resp.body["data"]

    def sandbox_pay_cli(self, token, coin=None, amount=None):
        """Send a sandbox transaction with citypayctl sandbox pay and return the transaction."""
        args = ["sandbox", "pay", "--order", token]
        if coin is not None:
            args += ["--coin", coin]
        if amount is not None:
            args += ["--amount", decimal_text(amount)]
        result = run_cli(self.db_path, *args)
        self.assertIsInstance(result.get("transaction"), dict, "sandbox pay: %r" % result)
        return result["transaction"]

    def mine(self, blocks):
        resp = self.post("/sandbox/mine", json_body={"blocks": blocks})
        self.assertIn(resp.status, (200, 201), "POST /sandbox/mine: %r" % resp)
        return resp.body

    def wait_callback(self, predicate, description, timeout=CALLBACK_TIMEOUT_S):
        return self.receiver.wait_for(predicate, timeout=timeout, description=description)

    def assert_signed(self, callback, secret=None):
        reason = verify_signature(callback, secret or self.secret)
        self.assertIsNone(reason, "callback signature invalid: %s; callback: %r" % (reason, callback))
