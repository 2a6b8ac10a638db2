"""Requests and settings an attacker or a careless client might try.

Covers repeated and NUL-carrying fields in every body encoding, oversized
bodies, forwarding headers with and without trusted proxies, text limits
counted in characters, callback URLs of live tokens, secrets in the log and
the permissions of the database files.
"""

import http.client
import json
import os
import random
import socket
import stat
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK, count_orders, run_cli  # noqa: E402

# The daemon's body limit (server.body_max_bytes) is 65536 bytes by default.
BODY_OVER_LIMIT = 70000
# Larger than the 1 MiB that citypayd reads and drops before it sends 413.
BODY_HUGE = 2000000
SOCKET_TIMEOUT_S = 10
LOG_WAIT_S = 5
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def encode_multipart_pairs(pairs):
    """Build a multipart/form-data body from (name, value) pairs in which names may repeat."""
    boundary = "----citypay-hostile-" + uuid.uuid4().hex
    chunks = []
    for name, value in pairs:
        chunks.append(("--%s\r\n" % boundary).encode())
        chunks.append(('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode())
        chunks.append(str(value).encode("utf-8"))
        chunks.append(b"\r\n")
    chunks.append(("--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=%s" % boundary, b"".join(chunks)


def send_header_lines(port, method, path, body, header_lines):
    """Send one request with headers given as (name, value) lines in which names may repeat."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=harness.HTTP_TIMEOUT_S)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in header_lines:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return harness.Response(resp.status, headers, data)
    finally:
        conn.close()


def access_log_client(daemon, request_id):
    """Return the client= value of the access line of request_id, waiting up to LOG_WAIT_S."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        for line in daemon.log_text().splitlines():
            if "msg=request " in line and "request_id=" + request_id in line:
                for field in line.split(" "):
                    if field.startswith("client="):
                        return field[len("client="):]
        if time.monotonic() > deadline:
            raise AssertionError("no access line for request %s in the log" % request_id)
        time.sleep(0.1)


def read_raw_response(sock):
    """Read one HTTP/1.1 response with a Content-Length body and return (status line, Response)."""
    data = b""
    deadline = time.monotonic() + SOCKET_TIMEOUT_S
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise AssertionError("no complete response head within %d s; received %r"
                                 % (SOCKET_TIMEOUT_S, data[:500]))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a complete response head; "
                                 "received %r" % data[:500])
        data += chunk

    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()

    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        if time.monotonic() > deadline:
            raise AssertionError("response body incomplete after %d s: %r"
                                 % (SOCKET_TIMEOUT_S, rest[:500]))
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk

    status = int(status_line.split()[1])
    return status_line, harness.Response(status, headers, rest[:length])


class HostileInput(harness.RejectionChecks, harness.GatewayTestCase):

    # -- repeated fields and NUL characters ------------------------------

    def test_json_duplicate_field(self):
        fields = self.order_fields(amount=None)
        text = json.dumps(fields)[:-1] + ', "amount": "1", "amount": "1000"}'
        resp = self.assert_rejected(lambda: self.post_json_text(text), 400, "BadRequest")
        self.assertIn("repeat", self.message_text(resp).lower(),
                      "message should say that a field is repeated: %r" % resp)

    def test_json_key_with_nul(self):
        fields = self.order_fields(amount=None)
        text = json.dumps(fields)[:-1] + ', "amount\\u0000": "1000", "amount": "1"}'
        self.assert_rejected(lambda: self.post_json_text(text), 400, "BadRequest")

    def test_json_key_with_nul_alone(self):
        # A proxy reads "amount\u0000x" as a field other than amount, so the
        # gateway must not take it for amount either.
        for key in ("amount\\u0000", "amount\\u0000x"):
            with self.subTest(key=key):
                fields = self.order_fields(amount=None)
                text = json.dumps(fields)[:-1] + ', "%s": "1000"}' % key
                self.assert_rejected(lambda: self.post_json_text(text), 400, "BadRequest")

    def test_form_duplicate_field(self):
        fields = self.order_fields(amount=None)
        body = urllib.parse.urlencode(fields) + "&amount=1&amount=1000"
        self.assert_rejected(lambda: self.post_form_bytes(body.encode()), 422,
                             "UnsupportedInput", "amount")

    def test_multipart_duplicate_field(self):
        fields = self.order_fields(amount=None)
        pairs = list(fields.items()) + [("amount", "1"), ("amount", "1000")]
        ctype, body = encode_multipart_pairs(pairs)
        self.assert_rejected(lambda: self.post("/api/generateOrder", raw=body, content_type=ctype),
                             422, "UnsupportedInput", "amount")

    def test_multipart_nul_in_value(self):
        fields = self.order_fields(amount=None)
        ctype, body = encode_multipart_pairs(list(fields.items()) + [("amount", "10\x0000")])
        self.assert_rejected(lambda: self.post("/api/generateOrder", raw=body, content_type=ctype),
                             422, "UnsupportedInput", "amount")

    def test_multipart_part_without_name(self):
        # libmicrohttpd cannot read these names; a proxy might, so the body
        # is rejected rather than the part dropped.
        fields = self.order_fields()
        for disposition in ('form-data; name=amount', 'form-data; xname="amount"'):
            with self.subTest(disposition=disposition):
                ctype, body = encode_multipart_pairs(list(fields.items()))
                boundary = ctype.split("boundary=", 1)[1]
                extra = ("--%s\r\nContent-Disposition: %s\r\n\r\n1000\r\n"
                         % (boundary, disposition)).encode()
                body = extra + body
                resp = self.assert_rejected(
                    lambda: self.post("/api/generateOrder", raw=body, content_type=ctype),
                    400, "BadRequest")
                self.assertIn("name", self.message_text(resp),
                              "message should say the part has no name: %r" % resp)

    def test_form_nul_characters(self):
        fields = self.order_fields(amount=None)
        base = urllib.parse.urlencode(fields)
        bodies = {
            "escaped NUL in a name": (base + "&amount=1&amount%00=1000").encode(),
            "escaped NUL in a value": (base + "&amount=1%001000").encode(),
            "raw NUL in a value": (base + "&amount=1\x001000").encode(),
        }
        for case, body in bodies.items():
            with self.subTest(case=case):
                self.assert_rejected(lambda: self.post_form_bytes(body), 400, "BadRequest")

    # -- body size -------------------------------------------------------

    def oversized_request_head(self, length, expect_continue):
        fields = self.order_fields()
        lines = ["POST /api/generateOrder HTTP/1.1",
                 "Host: %s:%d" % (LOOPBACK, self.daemon.port),
                 "Content-Type: application/json",
                 "Content-Length: %d" % length]
        if expect_continue:
            lines.append("Expect: 100-continue")
        return fields, ("\r\n".join(lines) + "\r\n\r\n").encode()

    def json_body_of_size(self, fields, size):
        """Return JSON bytes of exactly size bytes: fields plus padding in description."""
        empty = json.dumps(dict(fields, description="")).encode()
        body = json.dumps(dict(fields, description="x" * (size - len(empty)))).encode()
        self.assertEqual(len(body), size, "padding produced the wrong body size")
        return body

    def test_body_over_limit_expect_continue(self):
        fields, head = self.oversized_request_head(BODY_OVER_LIMIT, expect_continue=True)
        before = count_orders(self.db_path)
        with socket.create_connection((LOOPBACK, self.daemon.port),
                                      timeout=SOCKET_TIMEOUT_S) as sock:
            sock.sendall(head)
            status_line, resp = read_raw_response(sock)

        self.assertNotEqual(resp.status, 100,
                            "citypayd sent 100 Continue for a body over the limit: %r" % status_line)
        self.assert_error(resp, 413, "PayloadTooLarge")
        self.assertEqual(count_orders(self.db_path), before, "an oversized body stored an order")

    def test_body_over_limit_sent_whole(self):
        fields, head = self.oversized_request_head(BODY_OVER_LIMIT, expect_continue=False)
        body = self.json_body_of_size(fields, BODY_OVER_LIMIT)
        before = count_orders(self.db_path)
        with socket.create_connection((LOOPBACK, self.daemon.port),
                                      timeout=SOCKET_TIMEOUT_S) as sock:
            sock.sendall(head + body)
            _, resp = read_raw_response(sock)

        self.assert_error(resp, 413, "PayloadTooLarge")
        self.assertEqual(count_orders(self.db_path), before, "an oversized body stored an order")

    def test_body_huge_declared(self):
        # citypayd sends 413 after the Content-Length header alone, so the body
        # is never sent and the socket buffers cannot fill up.
        _, head = self.oversized_request_head(BODY_HUGE, expect_continue=False)
        before = count_orders(self.db_path)
        with socket.create_connection((LOOPBACK, self.daemon.port),
                                      timeout=SOCKET_TIMEOUT_S) as sock:
            sock.sendall(head)
            _, resp = read_raw_response(sock)

        self.assert_error(resp, 413, "PayloadTooLarge")
        self.assertEqual(count_orders(self.db_path), before, "an oversized body stored an order")

    def test_body_huge_sent_whole(self):
        fields = self.order_fields()
        body = self.json_body_of_size(fields, BODY_HUGE)
        before = count_orders(self.db_path)
        try:
            resp = self.post("/api/generateOrder", raw=body, content_type="application/json")
        except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
            self.fail("citypayd closed the connection without a response to a %d-byte body "
                      "(%s); expected HTTP 413" % (BODY_HUGE, exc))

        self.assert_error(resp, 413, "PayloadTooLarge")
        self.assertEqual(count_orders(self.db_path), before, "an oversized body stored an order")

    # -- client address without trusted proxies ---------------------------

    def test_forwarded_for_ignored_untrusted(self):
        token = harness.create_token(self.db_path, self.customer_id, "office-" + harness.unique_suffix(),
                                     [self.receiver.url], ip_ranges=("10.0.0.0/8",))
        body = json.dumps(self.order_fields(access_token=token["token"])).encode()
        resp = self.assert_rejected(
            lambda: send_header_lines(self.daemon.port, "POST", "/api/generateOrder", body,
                                      [("Content-Type", "application/json"),
                                       ("X-Forwarded-For", "10.1.2.3")]),
            403, "IpNotAllowed")
        self.assertIn("127.0.0.1", self.message_text(resp),
                      "message should name the peer address: %r" % resp)

    # -- text limits in characters ----------------------------------------

    def test_order_id_64_characters(self):
        order_id = "\u00fc" * 64
        fields = self.order_fields(order_id=order_id)
        resp = self.post("/api/generateOrder", json_body=fields)
        self.assertEqual(resp.status, 201, "64-character order_id: %r" % resp)

        info = self.order_info(fields["order_token"])
        self.assertEqual(info.get("orderId"), order_id, "stored orderId: %r" % info)

    def test_order_id_65_characters(self):
        self.assert_rejected(
            lambda: self.post("/api/generateOrder",
                              json_body=self.order_fields(order_id="\u00fc" * 65)),
            422, "UnsupportedInput", "order_id")

    def test_order_id_with_newline(self):
        self.assert_rejected(
            lambda: self.post("/api/generateOrder",
                              json_body=self.order_fields(order_id="ord\n1")),
            422, "UnsupportedInput", "order_id")

    def test_description_with_newline(self):
        description = "2 x Mug\n1 x Spoon"
        fields = self.order_fields(description=description)
        resp = self.post("/api/generateOrder", json_body=fields)
        self.assertEqual(resp.status, 201, "description with a newline: %r" % resp)

        order_view = run_cli(self.db_path, "order", "show", resp.body["data"]["token"])
        self.assertEqual(order_view["order"].get("description"), description,
                         "order show: %r" % order_view)

    def test_order_token_dot_segments(self):
        for order_token in (".", ".."):
            with self.subTest(order_token=order_token):
                self.assert_rejected(
                    lambda: self.post("/api/generateOrder",
                                      json_body=self.order_fields(order_token=order_token)),
                    422, "UnsupportedInput", "order_token")

    # -- callback URLs of live tokens ---------------------------------------

    def add_live_token(self, callback_url, env=None):
        args = ["token", "add", "--customer", self.customer_id,
                "--name", "live-" + harness.unique_suffix(), "--type", "crypto",
                "--currency", "USD", "--ip", LOOPBACK + "/32", "--callback", callback_url,
                "--expires", int(time.time()) + 86400, "--mode", "live"]
        return run_cli(self.db_path, *args, check=False, env=env)

    def test_live_token_private_callbacks(self):
        for url in ("http://127.0.0.1/cb", "http://[::ffff:127.0.0.1]/cb",
                    "http://0x7f000001/cb", "http://localhost/cb",
                    "http://169.254.169.254/", "http://10.0.0.1/"):
            with self.subTest(url=url):
                result = self.add_live_token(url)
                self.assertEqual(result["_returncode"], 1, "token add: %r" % result)
                self.assertIn("callback_urls", result.get("fields", {}),
                              "error does not name callback_urls: %r" % result)

    def test_live_token_public_callback(self):
        result = self.add_live_token("https://shop.example/cb")
        self.assertEqual(result["_returncode"], 0, "token add: %r" % result)
        self.assertEqual(result.get("callback_urls"), ["https://shop.example/cb"],
                         "token add: %r" % result)

    def test_live_token_private_allowed(self):
        result = self.add_live_token("http://127.0.0.1/cb",
                                     env={"CITYPAY_CALLBACK_ALLOW_PRIVATE": "1"})
        self.assertEqual(result["_returncode"], 0, "token add: %r" % result)
        self.assertEqual(result.get("callback_urls"), ["http://127.0.0.1/cb"],
                         "token add: %r" % result)

    def test_sandbox_token_loopback_callback(self):
        token = harness.create_token(self.db_path, self.customer_id,
                                     "sandbox-" + harness.unique_suffix(),
                                     ["http://127.0.0.1/cb"], mode="sandbox")
        self.assertEqual(token.get("callback_urls"), ["http://127.0.0.1/cb"],
                         "token add: %r" % token)
        self.assertEqual(token.get("mode"), "sandbox", "token add: %r" % token)

    # -- secrets in the log -------------------------------------------------

    def wait_log_line(self, needle):
        """Return the daemon's log lines containing needle, waiting up to LOG_WAIT_S."""
        deadline = time.monotonic() + LOG_WAIT_S
        while True:
            lines = [line for line in self.daemon.log_text().splitlines() if needle in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)

    def test_log_redacts_token_in_path(self):
        secret_part = "".join(random.choice(BASE64URL) for _ in range(38))
        resp = self.get("/order/cp_test_" + secret_part)
        request_id = resp.header("x-request-id")
        self.assertTrue(request_id, "no X-Request-Id header: %r" % resp)

        lines = self.wait_log_line(request_id)
        self.assertTrue(lines, "no log line with request id %s" % request_id)
        self.assertIn("[redacted]", "\n".join(lines), "log lines: %s" % lines)
        self.assertNotIn(secret_part, self.daemon.log_text(),
                         "the log contains the token text: %s" % lines)

    def test_log_redacts_signing_secret(self):
        secret = "whsec_abcdefghijklmnop"
        resp = self.post("/sandbox/callbacks", json_body={"event_id": secret, "type": "order"})
        self.assertEqual(resp.status, 200, "POST /sandbox/callbacks: %r" % resp)
        request_id = resp.header("x-request-id")

        lines = self.wait_log_line("sandbox callback received")
        lines = [line for line in lines if request_id in line]
        self.assertTrue(lines, "no sandbox callback log line with request id %s" % request_id)
        self.assertIn("[redacted]", "\n".join(lines), "log lines: %s" % lines)
        self.assertNotIn("abcdefghijklmnop", self.daemon.log_text(),
                         "the log contains the signing secret: %s" % lines)


class TrustedProxyXForwardedFor(harness.RejectionChecks, harness.GatewayTestCase):
    """citypayd behind a proxy on 127.0.0.1 that sets X-Forwarded-For (the default header)."""

    ip_ranges = ("10.0.0.0/8",)
    daemon_env = {"CITYPAY_TRUSTED_PROXIES": LOOPBACK + "/32"}

    def post_order_with(self, header_lines):
        body = json.dumps(self.order_fields()).encode()
        lines = [("Content-Type", "application/json")] + list(header_lines)
        return send_header_lines(self.daemon.port, "POST", "/api/generateOrder", body, lines)

    def test_forwarded_client_allowed(self):
        resp = self.post_order_with([("X-Forwarded-For", "10.1.2.3")])
        self.assertEqual(resp.status, 201, "client 10.1.2.3 behind the proxy: %r" % resp)

    def test_second_header_line_counts(self):
        resp = self.assert_rejected(
            lambda: self.post_order_with([("X-Forwarded-For", "10.1.2.3"),
                                          ("X-Forwarded-For", "8.8.8.8")]),
            403, "IpNotAllowed")
        self.assertIn("8.8.8.8", self.message_text(resp),
                      "message should name the address the proxy appended: %r" % resp)

    def test_access_log_names_client(self):
        forwarded = self.post_order_with([("X-Forwarded-For", "10.1.2.3")])
        self.assertEqual(forwarded.status, 201, "client 10.1.2.3 behind the proxy: %r" % forwarded)
        self.assertEqual(access_log_client(self.daemon, forwarded.header("x-request-id")),
                         "10.1.2.3")

        # Without the header, and with one too long to read, the proxy is the client.
        direct = self.post_order_with([])
        self.assertEqual(direct.status, 403, "no forwarding header: %r" % direct)
        self.assertEqual(access_log_client(self.daemon, direct.header("x-request-id")),
                         LOOPBACK)
        long_header = self.post_order_with([("X-Forwarded-For", "10.1.2.3, " * 1000)])
        self.assertEqual(access_log_client(self.daemon, long_header.header("x-request-id")),
                         LOOPBACK)

    def test_forwarded_header_ignored(self):
        resp = self.post_order_with([("X-Forwarded-For", "10.1.2.3"),
                                     ("Forwarded", "for=8.8.8.8")])
        self.assertEqual(resp.status, 201,
                         "Forwarded was read although X-Forwarded-For is configured: %r" % resp)


class TrustedProxyForwarded(harness.RejectionChecks, harness.GatewayTestCase):
    """citypayd behind a proxy on 127.0.0.1 that sets the RFC 7239 Forwarded header."""

    ip_ranges = ("10.0.0.0/8",)
    daemon_env = {"CITYPAY_TRUSTED_PROXIES": LOOPBACK + "/32",
                  "CITYPAY_FORWARDED_HEADER": "Forwarded"}

    post_order_with = TrustedProxyXForwardedFor.post_order_with

    def test_x_forwarded_for_ignored(self):
        resp = self.assert_rejected(
            lambda: self.post_order_with([("X-Forwarded-For", "10.1.2.3")]),
            403, "IpNotAllowed")
        self.assertIn("127.0.0.1", self.message_text(resp),
                      "message should name the proxy address: %r" % resp)

    def test_forwarded_client_allowed(self):
        resp = self.post_order_with([("Forwarded", "for=10.1.2.3")])
        self.assertEqual(resp.status, 201, "client 10.1.2.3 in Forwarded: %r" % resp)


class DatabaseFilePermissions(unittest.TestCase):

    def test_files_private(self):
        tmpdir = tempfile.mkdtemp(prefix="citypay-e2e-perm-")
        db_path = os.path.join(tmpdir, "citypay.db")
        daemon = None
        # A umask of 0 would leave every created file readable by all unless
        # citypayctl and citypayd restrict the mode themselves.
        old_umask = os.umask(0)
        try:
            run_cli(db_path, "init")
            merchant = run_cli(db_path, "merchant", "add", "--company", "Perm Shop",
                               "--email", "perm@example.com")
            token = harness.create_token(db_path, merchant["customer_id"], "shop",
                                         ["http://127.0.0.1:9/callback"])
            daemon = harness.Daemon(db_path)
            daemon.start()
            resp = harness.http_request(daemon.base_url + "/api/generateOrder", "POST", json_body={
                "customer_id": str(merchant["customer_id"]), "access_token": token["token"],
                "order_id": "perm-1", "order_token": "perm-" + harness.unique_suffix(),
                "amount": "5.00"})
            self.assertEqual(resp.status, 201, "generateOrder: %r" % resp)

            for name in ("citypay.db", "citypay.db-wal", "citypay.db-shm", "citypay.db.key"):
                with self.subTest(file=name):
                    path = os.path.join(tmpdir, name)
                    self.assertTrue(os.path.exists(path), "%s does not exist: %s"
                                    % (name, sorted(os.listdir(tmpdir))))
                    mode = stat.S_IMODE(os.stat(path).st_mode)
                    self.assertEqual(mode & 0o077, 0, "%s has mode %o" % (name, mode))
        finally:
            os.umask(old_umask)
            if daemon is not None:
                daemon.stop()
            if os.environ.get("CITYPAY_E2E_KEEP"):
                sys.stderr.write("kept %s\n" % tmpdir)
            else:
                harness.shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
