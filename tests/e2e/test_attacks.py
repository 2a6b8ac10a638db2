"""Black-box attacks on the running daemon that the other end-to-end files leave out.

Covers IP whitelist boundaries behind a trusted proxy and over a real IPv6
peer, and token expiry to the second. SQL metacharacters are stored and
returned verbatim, and script and markup are escaped in every field that the
payment pages and the cabinet render. Bodies test JSON nesting, integers
beyond 64 bits, invalid and overlong UTF-8 and broken multipart boundaries.
A live callback URL whose DNS name resolves to loopback is refused when the
dispatcher connects.

test_hostile.py covers repeated fields, NUL bytes, oversized bodies and
forwarding headers from an untrusted peer. test_rejections.py covers every
authentication failure, including another merchant's token sent with this
customer_id and a revoked token on the next request.
"""

import contextlib
import http.client
import http.server
import ipaddress
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK, count_orders, create_token, run_cli  # noqa: E402

IPV6_LOOPBACK = "::1"
SESSION_COOKIE = "citypay_session"

# Seconds after the start of a wall-clock second at which the expiry test
# sends its request, so that the request is handled inside that second.
SECOND_MARGIN_S = 0.3

# Bound of the loops that wait for a callback delivery attempt.
DELIVERY_WAIT_S = 15

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# Strings that must never appear in a page as they were sent.
RAW_MARKUP = ("<script>alert(1)", "<img src=x", "onerror=alert(1)>")
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
# A query that closes an href attribute and opens a script, if not escaped.
MARKUP_QUERY = '?next="><script>alert(1)</script>'

SQL_TEXTS = ("'; DROP TABLE orders; --", '" OR "1"="1', "%_\\", "x' OR '1'='1")
# The same attacks within the characters of an e-mail address (no quotes, spaces, < or >).
SQL_EMAILS = ("o'neil;--@example.com", "x'OR'1'='1@example.com", "%_\\@example.com")


def limit(name, header="limits.h"):
    """Return the integer value of #define name in src/header, so tests follow the code."""
    path = os.path.join(harness.REPO_ROOT, "src", header)
    with open(path) as f:
        text = f.read()
    pattern = r"^#define\s+%s\s+(\d+)(?:LL)?\s*(?:/\*.*)?$" % re.escape(name)
    match = re.search(pattern, text, re.M)
    if match is None:
        raise AssertionError("%s has no #define %s with a plain integer value" % (path, name))
    return int(match.group(1))


def send_lines(port, method, path, body, header_lines, host=LOOPBACK):
    """Send one request with headers given as (name, value) pairs in which names may repeat."""
    conn = http.client.HTTPConnection(host, port, timeout=harness.HTTP_TIMEOUT_S)
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


def multipart_body(pairs, boundary):
    """Encode (name, value bytes) pairs as multipart/form-data with the given boundary."""
    chunks = []
    for name, value in pairs:
        chunks.append(("--%s\r\n" % boundary).encode())
        chunks.append(('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode())
        chunks.append(value if isinstance(value, bytes) else str(value).encode())
        chunks.append(b"\r\n")
    chunks.append(("--%s--\r\n" % boundary).encode())
    return b"".join(chunks)


def nested_json(levels):
    """Return JSON text of arrays nested so that an object containing it has `levels` levels."""
    return "[" * (levels - 1) + "1" + "]" * (levels - 1)


def sleep_until(wall_time):
    left = wall_time - time.time()
    if left > 0:
        time.sleep(left)


def loopback_host_name():
    """Return a host name from /etc/hosts that resolves to loopback addresses only, or None.

    Names spelled "localhost" are left out because token creation rejects
    them by name. Reading /etc/hosts first keeps the lookups local.
    """
    try:
        with open("/etc/hosts") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            if not ipaddress.ip_address(fields[0]).is_loopback:
                continue
        except ValueError:
            continue
        for name in fields[1:]:
            lower = name.lower()
            if lower != "localhost" and not lower.endswith(".localhost"):
                candidates.append(name)
    for name in candidates:
        try:
            infos = socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            continue
        addresses = {info[4][0].split("%")[0] for info in infos}
        if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
            return name
    return None


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind((IPV6_LOOPBACK, 0))
        return True
    except OSError:
        return False


def open_store_read_only(db_path):
    return sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(db_path), uri=True, timeout=10)


class MarkupReceiver:
    """A callback receiver on 127.0.0.1 that responds 200 with an HTML body full of markup."""

    reply = (SCRIPT + IMG).encode()

    def __init__(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > 0:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, fmt, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def url(self, suffix=""):
        return "http://%s:%d/callback%s" % (LOOPBACK, self.port, suffix)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Ipv6Daemon(harness.Daemon):
    """A citypayd that listens on [::1] instead of 127.0.0.1."""

    @property
    def base_url(self):
        return "http://[%s]:%d" % (IPV6_LOOPBACK, self.port)

    def start(self):
        argv = harness.WRAPPER + [harness.CITYPAYD, "--db", self.db_path,
                                  "--listen", "[%s]:0" % IPV6_LOOPBACK]
        env = dict(os.environ, **harness.DAEMON_ENV)
        env.update(self.extra_env)
        self._listening.clear()
        self.port = None
        self.returncode = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self._reader = threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True)
        self._reader.start()
        if not self._listening.wait(timeout=harness.DAEMON_START_TIMEOUT_S):
            self.stop()
            raise AssertionError("citypayd on [::1] logged no msg=listening line; stderr:\n%s"
                                 % self.log_text()[-4000:])
        deadline = time.monotonic() + harness.DAEMON_START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if send_lines(self.port, "GET", "/healthz", b"", [], host=IPV6_LOOPBACK).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("GET /healthz over [::1] did not return 200")


class AttackChecks(harness.RejectionChecks):
    """The shared rejection checks, and a check of HTML pages; mixed into a GatewayTestCase."""

    def assert_page_safe(self, resp, what, expect_escaped=()):
        """Check an HTML response: CSP present, no payload unescaped, escaped forms present."""
        self.assertIn("text/html", resp.header("content-type") or "", "%s: %r" % (what, resp))
        csp = resp.header("content-security-policy") or ""
        self.assertIn("default-src 'none'", csp, "%s: CSP %r" % (what, csp))
        self.assertIn("script-src 'self'", csp, "%s: CSP %r" % (what, csp))
        self.assertNotIn("unsafe-inline", csp, "%s: CSP %r" % (what, csp))
        for raw in RAW_MARKUP:
            self.assertNotIn(raw, resp.text, "%s contains %r unescaped" % (what, raw))
        for escaped in expect_escaped:
            self.assertIn(escaped, resp.text, "%s lacks the escaped text %r" % (what, escaped))


# ---------------------------------------------------------------------------
# Cabinet


def sign_in(base_url, email, password):
    """Sign in to the cabinet and return the session: its cookie value and CSRF token."""
    resp = harness.http_request(base_url + "/cabinet/api/login", "POST",
                                json_body={"email": email, "password": password})
    cookie = None
    for header in resp.set_cookies:
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            cookie = rest.split(";", 1)[0]
    if resp.status != 200 or not cookie:
        raise AssertionError("sign-in of %s started no session: %r; Set-Cookie: %r"
                             % (email, resp, resp.set_cookies))
    return {"cookie": cookie, "csrf_token": resp.body["data"]["csrf_token"]}


def cabinet_request(base_url, method, path, session, json_body=None):
    """Send a cabinet request with the session's cookie and, on POST, its CSRF token."""
    headers = {"Cookie": "%s=%s" % (SESSION_COOKIE, session["cookie"])}
    if method == "POST":
        headers["X-CSRF-Token"] = session["csrf_token"]
        if json_body is None:
            json_body = {}
    return harness.http_request(base_url + path, method, json_body=json_body, headers=headers)


def cabinet_token_fields(name, callback_url, **overrides):
    """Every field of a valid sandbox token for POST /cabinet/api/tokens."""
    fields = {
        "name": name,
        "type": "crypto",
        "currency": "USD",
        "ip_whitelist": "127.0.0.1/32",
        "callback_urls": callback_url,
        "success_url": harness.DEFAULT_SUCCESS_URL,
        "cancel_url": harness.DEFAULT_CANCEL_URL,
        "expires_at": int(time.time()) + 86400,
        "mode": "sandbox",
    }
    fields.update(overrides)
    return fields


# ---------------------------------------------------------------------------
# IP whitelist


class ProxyWhitelistBoundaries(AttackChecks, harness.GatewayTestCase):
    """Whitelist ranges checked against the client that a trusted proxy on 127.0.0.1 names."""

    daemon_env = {"CITYPAY_TRUSTED_PROXIES": LOOPBACK + "/32"}

    def token_for(self, *ranges):
        return create_token(self.db_path, self.customer_id, "wl-" + harness.unique_suffix(),
                            [self.receiver.url], ip_ranges=ranges)["token"]

    def post_forwarded(self, token, forwarded_for):
        body = json.dumps(self.order_fields(access_token=token)).encode()
        return send_lines(self.daemon.port, "POST", "/api/generateOrder", body,
                          [("Content-Type", "application/json"),
                           ("X-Forwarded-For", forwarded_for)])

    def check_clients(self, token, inside, outside):
        for client in inside:
            with self.subTest(client=client, expected="allowed"):
                resp = self.post_forwarded(token, client)
                self.assertEqual(resp.status, 201, "client %s: %r" % (client, resp))
        for client, named in outside:
            with self.subTest(client=client, expected="rejected"):
                resp = self.assert_rejected(lambda: self.post_forwarded(token, client),
                                            403, "IpNotAllowed")
                self.assertIn(named, self.message_text(resp),
                              "message should name the client %s: %r" % (named, resp))

    def test_ipv4_range_edges(self):
        token = self.token_for("203.0.113.0/25")
        self.check_clients(token,
                           inside=("203.0.113.0", "203.0.113.127"),
                           outside=(("203.0.113.128", "203.0.113.128"),
                                    ("203.0.112.255", "203.0.112.255")))

    def test_ipv6_range_edges(self):
        token = self.token_for("2001:db8:1::/64")
        self.check_clients(token,
                           inside=("2001:db8:1::", "2001:db8:1:0:ffff:ffff:ffff:ffff"),
                           outside=(("2001:db8:1:1::", "2001:db8:1:1::"),
                                    ("2001:db8:0:ffff:ffff:ffff:ffff:ffff",
                                     "2001:db8:0:ffff:ffff:ffff:ffff:ffff")))

    def test_ipv4_mapped_client(self):
        token = self.token_for("203.0.113.0/25")
        self.check_clients(token,
                           inside=("::ffff:203.0.113.5", "::FFFF:203.0.113.127"),
                           outside=(("::ffff:203.0.113.200", "203.0.113.200"),))

    def test_ipv4_mapped_range(self):
        # ::ffff:203.0.113.0/121 covers the same addresses as 203.0.113.0/25.
        token = self.token_for("::ffff:203.0.113.0/121")
        self.check_clients(token,
                           inside=("203.0.113.5", "203.0.113.127"),
                           outside=(("203.0.113.128", "203.0.113.128"),))

    def test_malformed_forwarded_address(self):
        # An entry that is not one plain address ends the walk, so the
        # client stays the proxy that sent the request.
        token = self.token_for("203.0.113.0/25")
        for forwarded_for in ("not-an-address", "203.0.113.5.7", "203.0.113.005",
                              "203.0.113.5:8080", "[2001:db8:1::5]", "203.0.113.256",
                              "203.0.113.5/32", "0xcb.0.113.5", "203.0.113.5 junk",
                              "203.0.113.5, not-an-address"):
            with self.subTest(forwarded_for=forwarded_for):
                resp = self.assert_rejected(lambda: self.post_forwarded(token, forwarded_for),
                                            403, "IpNotAllowed")
                self.assertIn("127.0.0.1", self.message_text(resp),
                              "message should name the proxy 127.0.0.1: %r" % resp)

    def test_rightmost_entry_decides(self):
        token = self.token_for("203.0.113.0/25")
        resp = self.post_forwarded(token, "not-an-address, 203.0.113.5")
        self.assertEqual(resp.status, 201, "right-most entry 203.0.113.5: %r" % resp)
        rejected = self.assert_rejected(
            lambda: self.post_forwarded(token, "203.0.113.5, 198.51.100.7"), 403, "IpNotAllowed")
        self.assertIn("198.51.100.7", self.message_text(rejected),
                      "the right-most untrusted entry is the client: %r" % rejected)


class Ipv6Peer(AttackChecks, harness.GatewayTestCase):
    """citypayd listening on [::1] without trusted proxies, reached by a real IPv6 client."""

    ip_ranges = (IPV6_LOOPBACK + "/128",)

    @classmethod
    def setUpClass(cls):
        if not ipv6_loopback_available():
            raise unittest.SkipTest("cannot bind a socket to [::1] on this machine")
        super().setUpClass()
        try:
            cls.daemon.stop()
            cls.daemon = Ipv6Daemon(cls.db_path)
            cls.daemon.start()
        except BaseException:
            cls.tearDownClass()
            raise

    def post_v6(self, token, header_lines=()):
        body = json.dumps(self.order_fields(access_token=token)).encode()
        lines = [("Content-Type", "application/json")] + list(header_lines)
        return send_lines(self.daemon.port, "POST", "/api/generateOrder", body, lines,
                          host=IPV6_LOOPBACK)

    def token_for(self, *ranges):
        return create_token(self.db_path, self.customer_id, "v6-" + harness.unique_suffix(),
                            [self.receiver.url], ip_ranges=ranges)["token"]

    def test_peer_whitelisted(self):
        resp = self.post_v6(self.token)
        self.assertEqual(resp.status, 201, "client ::1 with ::1/128 whitelisted: %r" % resp)

    def test_peer_range_edges(self):
        allowed = self.post_v6(self.token_for("::/127"))
        self.assertEqual(allowed.status, 201, "::1 inside ::/127: %r" % allowed)

        for ranges in (("::2/127",), (LOOPBACK + "/32",), ("::ffff:127.0.0.1/128",)):
            with self.subTest(ranges=ranges):
                token = self.token_for(*ranges)
                resp = self.assert_rejected(lambda: self.post_v6(token), 403, "IpNotAllowed")
                self.assertIn("client address ::1 ", self.message_text(resp),
                              "message should name the client ::1: %r" % resp)

    def test_forwarding_headers_ignored(self):
        token = self.token_for(LOOPBACK + "/32")
        for header in (("X-Forwarded-For", LOOPBACK), ("Forwarded", "for=127.0.0.1")):
            with self.subTest(header=header[0]):
                resp = self.assert_rejected(lambda: self.post_v6(token, [header]),
                                            403, "IpNotAllowed")
                self.assertIn("client address ::1 ", self.message_text(resp),
                              "message should name the peer ::1: %r" % resp)


# ---------------------------------------------------------------------------
# Rate limits


class RateLimitSettings(AttackChecks, harness.GatewayTestCase):
    """The per-address limit of public routes and the hourly order limit, set low."""

    daemon_env = {"CITYPAY_LIMIT_PUBLIC_PER_MINUTE": "3",
                  "CITYPAY_LIMIT_ORDERS_PER_HOUR": "2"}

    def start_of_fresh_window(self, window_s):
        """Wait for the next window when the current one, aligned to Unix time, ends within 5 s."""
        left = window_s - time.time() % window_s
        if left < 5:
            time.sleep(left + 0.2)

    def test_public_route_limit(self):
        self.start_of_fresh_window(60)
        statuses = [self.get("/invoice?token=no-such-order").status for _ in range(3)]
        limited = self.get("/invoice?token=no-such-order")

        self.assertEqual(statuses, [404, 404, 404], "requests within the limit: %r" % statuses)
        self.assertEqual(limited.status, 429, "fourth public request in one minute: %r" % limited)
        retry_after = limited.header("retry-after") or ""
        self.assertTrue(retry_after.isdigit() and 0 < int(retry_after) <= 60,
                        "Retry-After is not 1 to 60 seconds: %r" % limited.headers)

    def test_order_limit_per_merchant(self):
        self.start_of_fresh_window(3600)
        first = self.post("/api/generateOrder", json_body=self.order_fields())
        second = self.post("/api/generateOrder", json_body=self.order_fields())
        self.assertEqual((first.status, second.status), (201, 201),
                         "orders within the limit: %r %r" % (first, second))

        resp = self.assert_rejected(
            lambda: self.post("/api/generateOrder", json_body=self.order_fields()),
            429, "RateLimited")
        self.assertTrue((resp.header("retry-after") or "").isdigit(),
                        "Retry-After is missing: %r" % resp.headers)


# ---------------------------------------------------------------------------
# Token expiry


class TokenExpiryBoundary(AttackChecks, harness.GatewayTestCase):

    def test_expiry_to_the_second(self):
        """expires_at is the first second in which the token is rejected."""
        expires_at = int(time.time()) + 4
        token = create_token(self.db_path, self.customer_id, "expiring", [self.receiver.url],
                             expires_at=expires_at)["token"]
        if time.time() > expires_at - 1 + SECOND_MARGIN_S:
            self.fail("creating the token took until %.3f, past the first request time %.3f"
                      % (time.time(), expires_at - 1 + SECOND_MARGIN_S))

        for offset, accepted in ((-1, True), (0, False), (1, False)):
            second = expires_at + offset
            before = count_orders(self.db_path)
            sleep_until(second + SECOND_MARGIN_S)
            sent_at = time.time()
            resp = self.post("/api/generateOrder",
                             json_body=self.order_fields(access_token=token))
            answered_at = time.time()
            if int(sent_at) != second or answered_at >= second + 1:
                self.skipTest("the request of second %d ran from %.3f to %.3f, outside that "
                              "second, so the daemon's clock could have read either"
                              % (second, sent_at, answered_at))

            with self.subTest(offset=offset):
                if accepted:
                    self.assertEqual(resp.status, 201, "at expires_at%+d: %r" % (offset, resp))
                    continue
                self.assert_error(resp, 401, "BadCredentials", "access_token")
                self.assertIn("expired at %d" % expires_at, self.message_text(resp),
                              "message should give the expiry time: %r" % resp)
                self.assertEqual(count_orders(self.db_path), before,
                                 "an expired token stored an order: %r" % resp)


# ---------------------------------------------------------------------------
# SQL metacharacters


class SqlMetacharacters(AttackChecks, harness.GatewayTestCase):
    """Text with SQL syntax is stored and returned verbatim, and matches nothing else."""

    def assert_tables_intact(self):
        with contextlib.closing(open_store_read_only(self.db_path)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        for table in ("merchants", "access_tokens", "orders", "callback_events",
                      "callback_deliveries"):
            self.assertIn(table, tables, "table %s is gone: %r" % (table, sorted(tables)))
        self.assertEqual(integrity, "ok", "PRAGMA integrity_check: %s" % integrity)

    def test_order_fields_verbatim(self):
        for index, text in enumerate(SQL_TEXTS):
            with self.subTest(text=text):
                email = SQL_EMAILS[index % len(SQL_EMAILS)]
                _, data = self.create_order(order_id=text, description=text, email=email)

                info = self.order_info(data["token"])
                self.assertEqual(info.get("orderId"), text, "GET /order orderId: %r" % info)
                stored = run_cli(self.db_path, "order", "show", data["token"])["order"]
                self.assertEqual(stored.get("orderId"), text, "order show: %r" % stored)
                self.assertEqual(stored.get("description"), text, "order show: %r" % stored)
                self.assertEqual(stored.get("email"), email, "order show: %r" % stored)
        self.assert_tables_intact()

    def test_order_token_wildcards(self):
        # "_" is allowed in an order_token, so a pattern match (LIKE) would
        # let "sqlX1." or "sql%" find the order of "sql_1.".
        suffix = harness.unique_suffix()
        self.create_order(order_token="sql_1." + suffix)
        self.assertEqual(self.order_info("sql_1." + suffix)["token"], "sql_1." + suffix)
        for probe in ("sqlX1." + suffix, "sql_1." + suffix[:-1] + "_", "sql%"):
            with self.subTest(probe=probe):
                resp = self.get("/order/" + urllib.parse.quote(probe, safe=""))
                self.assert_error(resp, 404, "RecordNotFound")

    def test_company_and_token_names(self):
        company = " ".join(SQL_TEXTS)
        merchant = run_cli(self.db_path, "merchant", "add", "--company", company,
                           "--email", "sql-%s@example.com" % harness.unique_suffix())
        customer_id = merchant["customer_id"]
        self.assertEqual(merchant["company"], company, "merchant add: %r" % merchant)
        listed = {m["customer_id"]: m for m in run_cli(self.db_path, "merchant", "list")["merchants"]}
        self.assertEqual(listed[customer_id]["company"], company, "merchant list: %r" % listed)

        names = SQL_TEXTS + ("%", "_")
        tokens = {}
        for name in names:
            tokens[name] = create_token(self.db_path, customer_id, name, [self.receiver.url])
            self.assertEqual(tokens[name]["name"], name, "token add: %r" % tokens[name])
        listed = run_cli(self.db_path, "token", "list", "--customer", customer_id)["tokens"]
        self.assertEqual(sorted(t["name"] for t in listed), sorted(names), "token list: %r" % listed)

        fields = self.order_fields(customer_id=str(customer_id),
                                   access_token=tokens[SQL_TEXTS[0]]["token"])
        resp = self.post("/api/generateOrder", json_body=fields)
        self.assertEqual(resp.status, 201, "order with a token named %r: %r" % (SQL_TEXTS[0], resp))
        info = self.order_info(fields["order_token"])
        self.assertEqual(info.get("companyName"), company, "GET /order companyName: %r" % info)

        revoked = run_cli(self.db_path, "token", "revoke", "--customer", customer_id,
                          "--name", "%")
        self.assertIs(revoked.get("revoked"), True, "token revoke %%: %r" % revoked)
        statuses = {t["name"]: t["status"] for t in
                    run_cli(self.db_path, "token", "list", "--customer", customer_id)["tokens"]}
        self.assertEqual(statuses.pop("%"), "revoked", "status of %%: %r" % statuses)
        self.assertEqual(set(statuses.values()), {"active"},
                         "revoking the token named %% changed others: %r" % statuses)
        self.assert_tables_intact()

    def test_callback_url_query_verbatim(self):
        query = "?q=';DROP/**/TABLE/**/callback_events;--&x=%25_\\&y=\"1\"=\"1"
        url = self.receiver.url + query
        token = create_token(self.db_path, self.customer_id, "sql-url-" + harness.unique_suffix(),
                             [url])
        self.assertEqual(token["callback_urls"], [url], "token add: %r" % token)

        _, data = self.create_order(access_token=token["token"])
        self.choose_coin(data["token"], "BTC")
        callback = self.wait_callback(harness.for_order(data["token"], action="order_created"),
                                      "order_created callback of %s" % data["token"])
        self.assertEqual(callback.path, "/callback" + query, "callback request path")
        rows = run_cli(self.db_path, "callbacks", "list", "--order", data["token"])["callbacks"]
        self.assertEqual({r["url"] for r in rows}, {url}, "callbacks list: %r" % rows)
        self.assert_tables_intact()

    def test_cabinet_fields_verbatim(self):
        base_url = self.daemon.base_url
        session = sign_in(base_url, "shop@example.com", self.merchant_info["initial_password"])
        name = SQL_TEXTS[0] + " " + SQL_TEXTS[1]
        created = cabinet_request(base_url, "POST", "/cabinet/api/tokens", session,
                                  json_body=cabinet_token_fields(name, self.receiver.url))
        self.assertEqual(created.status, 201, "POST /cabinet/api/tokens: %r" % created)
        self.assertEqual(created.body["data"]["token"]["name"], name, "created: %r" % created)

        listed = cabinet_request(base_url, "GET", "/cabinet/api/tokens", session)
        names = [t["name"] for t in listed.body["data"]["tokens"]]
        self.assertIn(name, names, "GET /cabinet/api/tokens: %r" % listed)

        # Filters take a token name and a status code. SQL in them must match
        # nothing, while the fixture token's own name finds its order.
        _, data = self.create_order()
        resp = cabinet_request(base_url, "GET", "/cabinet/api/orders?token=shop", session)
        self.assertIn(data["token"], [o["token"] for o in resp.body["data"]["orders"]],
                      "the filter token=shop misses the order: %r" % resp)
        for params in ({"token": "%"}, {"token": "' OR '1'='1"}, {"token": "_%"}):
            with self.subTest(params=params):
                resp = cabinet_request(base_url, "GET", "/cabinet/api/orders?" +
                                       urllib.parse.urlencode(params), session)
                self.assertEqual(resp.status, 200, "orders filtered by %r: %r" % (params, resp))
                self.assertEqual(resp.body["data"]["orders"], [],
                                 "a filter of %r matched orders: %r" % (params, resp))
        resp = cabinet_request(base_url, "GET", "/cabinet/api/orders?" +
                               urllib.parse.urlencode({"status": "' OR 1=1 --"}), session)
        self.assertEqual(resp.status, 422, "status filter with SQL: %r" % resp)
        self.assert_tables_intact()


# ---------------------------------------------------------------------------
# Script and markup


class MarkupEscaping(AttackChecks, harness.GatewayTestCase):
    """Markup in every field a merchant or buyer controls, on the payment pages and the cabinet.

    A second merchant has markup in its company name. Its token, created in
    the cabinet, has markup in its name and in the query of every URL. Its
    callback receiver responds with markup.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.markup_receiver = None
        try:
            cls.markup_receiver = MarkupReceiver()
            cls.company = SCRIPT + IMG
            cls.email = "markup-%s@example.com" % harness.unique_suffix()
            merchant = run_cli(cls.db_path, "merchant", "add", "--company", cls.company,
                               "--email", cls.email)
            cls.markup_customer = merchant["customer_id"]
            cls.session = sign_in(cls.daemon.base_url, cls.email, merchant["initial_password"])
            fields = cabinet_token_fields(
                SCRIPT + IMG, cls.markup_receiver.url(MARKUP_QUERY),
                success_url="https://shop.example/ok" + MARKUP_QUERY,
                cancel_url="https://shop.example/cancel" + MARKUP_QUERY)
            resp = cabinet_request(cls.daemon.base_url, "POST", "/cabinet/api/tokens",
                                   cls.session, json_body=fields)
            if resp.status != 201:
                raise AssertionError("POST /cabinet/api/tokens with markup: %r" % resp)
            cls.markup_token = resp.body["data"]["access_token"]
            cls.markup_token_id = resp.body["data"]["token"]["id"]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "markup_receiver", None) is not None:
            cls.markup_receiver.stop()
        super().tearDownClass()

    def markup_order(self, **overrides):
        """Create an order of the markup merchant with markup in order_id and description."""
        suffix = harness.unique_suffix()
        fields = {
            "customer_id": str(self.markup_customer),
            "access_token": self.markup_token,
            "order_id": SCRIPT + suffix,
            "order_token": "mk-" + suffix,
            "amount": "10.00",
            "description": IMG + SCRIPT,
            "email": "o'neil@example.com",
        }
        fields.update(overrides)
        resp = self.post("/api/generateOrder", json_body=fields)
        self.assertEqual(resp.status, 201, "generateOrder with markup: %r" % resp)
        return resp.body["data"]["token"]

    def invoice(self, order_token):
        return self.get("/invoice?token=" + urllib.parse.quote(order_token))

    # -- payment pages ---------------------------------------------------

    def test_invoice_page(self):
        order_token = self.markup_order()
        page = self.invoice(order_token)
        self.assertEqual(page.status, 200, "GET /invoice: %r" % page)
        self.assert_page_safe(page, "invoice page", (ESCAPED_SCRIPT, ESCAPED_IMG))

        self.choose_coin(order_token, "BTC")
        page = self.invoice(order_token)
        self.assertEqual(page.status, 200, "GET /invoice with a coin: %r" % page)
        self.assert_page_safe(page, "invoice page with a coin", (ESCAPED_SCRIPT, ESCAPED_IMG))

    def test_invoice_error_message(self):
        order_token = self.markup_order()
        page = self.post("/invoice/coin", form={"token": order_token, "coin": SCRIPT})
        self.assertEqual(page.status, 422, "POST /invoice/coin with markup as coin: %r" % page)
        self.assert_page_safe(page, "invoice page with an error")

    def test_cancel_link(self):
        order_token = self.markup_order()
        resp = self.post("/invoice/cancel", form={"token": order_token})
        self.assertEqual(resp.status, 303, "POST /invoice/cancel: %r" % resp)
        page = self.invoice(order_token)
        self.assertEqual(page.status, 200, "GET /invoice after cancel: %r" % page)
        self.assert_page_safe(page, "canceled invoice page",
                              ('href="https://shop.example/cancel?next=&quot;&gt;&lt;script&gt;',))

    def test_success_link(self):
        order_token = self.markup_order()
        self.choose_coin(order_token, "BTC")
        self.sandbox_pay_http(order_token)
        self.mine(harness.REQUIRED_CONFIRMATIONS["BTC"])
        self.wait_order_status(order_token, "CONFIRMED")
        page = self.invoice(order_token)
        self.assertEqual(page.status, 200, "GET /invoice when confirmed: %r" % page)
        self.assert_page_safe(page, "confirmed invoice page",
                              ('href="https://shop.example/ok?next=&quot;&gt;&lt;script&gt;',))

    def test_deposit_page(self):
        fields = {"customer_id": str(self.markup_customer), "access_token": self.markup_token,
                  "deposit_id": SCRIPT + IMG[:20],
                  "deposit_token": "dep-mk-" + harness.unique_suffix(), "currency": "USD"}
        resp = self.post("/api/generateDeposit", json_body=fields)
        self.assertIn(resp.status, (200, 201), "generateDeposit with markup: %r" % resp)
        token = resp.body["data"]["token"]
        page = self.get("/deposit?token=" + urllib.parse.quote(token))
        self.assertEqual(page.status, 200, "GET /deposit: %r" % page)
        self.assert_page_safe(page, "deposit page", (ESCAPED_SCRIPT,))

    def test_javascript_urls_rejected(self):
        urls = ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
                "vbscript:msgbox(1)", "javascript://%0aalert(1)")
        for url in urls:
            for option, field in (("--success-url", "success_url"), ("--cancel-url", "cancel_url"),
                                  ("--callback", "callback_urls")):
                with self.subTest(url=url, option=option):
                    args = ["token", "add", "--customer", self.customer_id,
                            "--name", "js-" + harness.unique_suffix(), "--type", "crypto",
                            "--ip", LOOPBACK + "/32", "--expires", int(time.time()) + 3600,
                            "--mode", "sandbox", option, url]
                    if option != "--callback":
                        args += ["--callback", self.receiver.url]
                    result = run_cli(self.db_path, *args, check=False)
                    self.assertEqual(result["_returncode"], 1, "token add %s %s: %r"
                                     % (option, url, result))
                    self.assertIn(field, result.get("fields", {}), "token add: %r" % result)

                    fields = cabinet_token_fields("js-" + harness.unique_suffix(),
                                                  self.receiver.url, **{field: url})
                    resp = cabinet_request(self.daemon.base_url, "POST", "/cabinet/api/tokens",
                                           self.session, json_body=fields)
                    self.assert_error(resp, 422, field=field)

    # -- cabinet pages ---------------------------------------------------

    def test_cabinet_pages(self):
        order_token = self.markup_order()
        self.choose_coin(order_token, "BTC")
        deadline = time.monotonic() + DELIVERY_WAIT_S
        detail = None
        while time.monotonic() < deadline:
            detail = cabinet_request(self.daemon.base_url, "GET",
                                     "/cabinet/api/orders/" + order_token, self.session)
            deliveries = detail.body["data"]["deliveries"] if detail.status == 200 else []
            if any(d.get("last_response") for d in deliveries):
                break
            time.sleep(harness.POLL_INTERVAL_S)
        else:
            self.fail("no delivery of %s recorded the receiver's answer: %r" % (order_token, detail))

        token_path = "/cabinet/tokens/%s" % self.markup_token_id
        pages = (
            ("/cabinet/tokens", (ESCAPED_SCRIPT, ESCAPED_IMG)),
            (token_path + "/edit", (ESCAPED_SCRIPT,)),
            (token_path + "/revoke", (ESCAPED_SCRIPT,)),
            ("/cabinet/orders", (ESCAPED_SCRIPT,)),
            ("/cabinet/orders/" + order_token, (ESCAPED_SCRIPT, ESCAPED_IMG,
                                                "o&#39;neil@example.com")),
            ("/cabinet/audit", ()),
            ("/cabinet/settings", ()),
            ("/cabinet/deposits", ()),
            ("/cabinet/security", ()),
        )
        for path, escaped in pages:
            with self.subTest(path=path):
                page = cabinet_request(self.daemon.base_url, "GET", path, self.session)
                self.assertEqual(page.status, 200, "GET %s: %r" % (path, page))
                self.assert_page_safe(page, path, escaped)
                self.assertIn(ESCAPED_SCRIPT + ESCAPED_IMG, page.text,
                              "%s does not show the escaped company name" % path)


# ---------------------------------------------------------------------------
# Encodings, depth and numbers


class InputEncodings(AttackChecks, harness.GatewayTestCase):

    def json_with(self, extra_members, **overrides):
        """Return the JSON text of valid order fields with raw member text appended."""
        fields = self.order_fields(**overrides)
        return json.dumps(fields)[:-1] + ", " + extra_members + "}"

    # -- nesting depth ---------------------------------------------------

    def test_json_depth_over_limit(self):
        depth_max = limit("CP_JSON_DEPTH_MAX")
        for levels in (depth_max + 1, depth_max + 50):
            with self.subTest(levels=levels):
                text = self.json_with('"extra": ' + nested_json(levels))
                resp = self.assert_rejected(lambda: self.post_json_text(text), 400, "BadRequest")
                self.assertIn("nesting", self.message_text(resp),
                              "message should say the nesting is too deep: %r" % resp)

    def test_json_depth_at_limit_accepted(self):
        # The top-level object is level 1. The unknown field "extra" is ignored.
        depth_max = limit("CP_JSON_DEPTH_MAX")
        text = self.json_with('"extra": ' + nested_json(depth_max))
        resp = self.post_json_text(text)
        self.assertEqual(resp.status, 201, "a body nested %d levels (CP_JSON_DEPTH_MAX): %r"
                         % (depth_max, resp))

    # -- field count, sizes and types --------------------------------------

    def test_field_limits(self):
        params_max = limit("CP_PARAMS_MAX")
        name_max = limit("CP_PARAM_NAME_MAX")
        value_max = limit("CP_PARAM_VALUE_MAX")
        fields = self.order_fields()
        padding = {"extra%d" % i: "x" for i in range(params_max - len(fields) + 1)}
        cases = {
            "%d fields" % (params_max + 1): (dict(fields, **padding), 400, None),
            "name of %d bytes" % (name_max + 1): (dict(fields, **{"n" * (name_max + 1): "x"}),
                                                  400, None),
            "value of %d bytes" % (value_max + 1): (dict(fields, description="d" * (value_max + 1)),
                                                    422, "description"),
        }
        for case, (body, status, field) in cases.items():
            for encoding in ("json_body", "form", "multipart"):
                with self.subTest(case=case, encoding=encoding):
                    self.assert_rejected(lambda: self.post("/api/generateOrder", **{encoding: body}),
                                         status, field=field)

    def test_json_structured_values(self):
        for field, value in (("customer_id", '{"id": 1}'), ("amount", "[10]"),
                             ("order_id", "{}"), ("access_token", '["cp_test_x"]')):
            with self.subTest(field=field):
                text = self.json_with('"%s": %s' % (field, value), **{field: None})
                self.assert_rejected(lambda: self.post_json_text(text), 422,
                                     "UnsupportedInput", field)

    # -- integers beyond 64 bits -----------------------------------------

    def test_big_integers_json_numbers(self):
        literals = ("18446744073709551616", "18446744073709551615", "9223372036854775808",
                    "9223372036854775807", "-9223372036854775809", "1e400", "-1e400", "-0",
                    "1" + "0" * 40)
        for field in ("customer_id", "amount"):
            for literal in literals:
                with self.subTest(field=field, literal=literal):
                    text = self.json_with('"%s": %s' % (field, literal), **{field: None})
                    self.assert_rejected(lambda: self.post_json_text(text), 422,
                                         "UnsupportedInput", field)

    def test_big_integers_text(self):
        texts = ("18446744073709551616", "9223372036854775808", "-9223372036854775809",
                 "-0", "1e400", "0x10", "1" + "0" * 40)
        for encoding in ("json_body", "form", "multipart"):
            for field in ("customer_id", "amount"):
                for text in texts:
                    with self.subTest(encoding=encoding, field=field, text=text):
                        body = {encoding: self.order_fields(**{field: text})}
                        self.assert_rejected(lambda: self.post("/api/generateOrder", **body),
                                             422, "UnsupportedInput", field)

    def test_largest_amount_exact(self):
        major_max = limit("MONEY_MAJOR_MAX", "money.h")
        largest = "%d.99" % (major_max - 1)
        for literal in ('"%s"' % largest, largest):
            with self.subTest(amount=literal):
                fields = self.order_fields(amount=None)
                text = json.dumps(fields)[:-1] + ', "amount": %s}' % literal
                resp = self.post_json_text(text)
                self.assertEqual(resp.status, 201, "amount %s: %r" % (literal, resp))
                info = self.order_info(fields["order_token"])
                self.assertEqual(harness.decimal_text(info["amountFiat"]), largest,
                                 "stored amount differs from %s: %r" % (largest, info))
        self.assert_rejected(lambda: self.post("/api/generateOrder",
                                               json_body=self.order_fields(amount=str(major_max))),
                             422, "UnsupportedInput", "amount")

    # -- UTF-8 -----------------------------------------------------------

    INVALID_UTF8 = {
        "stray continuation byte": b"\x80",
        "byte 0xff": b"\xff",
        "truncated sequence": b"\xc3",
        "overlong slash, 2 bytes": b"\xc0\xaf",
        "overlong slash, 3 bytes": b"\xe0\x80\xaf",
        "overlong slash, 4 bytes": b"\xf0\x80\x80\xaf",
        "overlong NUL": b"\xc0\x80",
        "surrogate U+D800": b"\xed\xa0\x80",
        "surrogate U+DFFF": b"\xed\xbf\xbf",
        "above U+10FFFF": b"\xf4\x90\x80\x80",
        "5-byte form": b"\xf8\x88\x80\x80\x80",
    }

    def test_invalid_utf8_json(self):
        for case, raw in self.INVALID_UTF8.items():
            with self.subTest(case=case):
                fields = self.order_fields()
                body = json.dumps(fields)[:-1].encode() + b', "description": "a' + raw + b'b"}'
                self.assert_rejected(lambda: self.post_json_text(body), 422,
                                     "UnsupportedInput", "description")

    def test_invalid_utf8_form(self):
        for case, raw in self.INVALID_UTF8.items():
            for spelling, value in (("escaped", urllib.parse.quote_from_bytes(raw).encode()),
                                    ("raw", raw)):
                with self.subTest(case=case, spelling=spelling):
                    fields = self.order_fields()
                    body = urllib.parse.urlencode(fields).encode() + b"&description=a" + value
                    self.assert_rejected(
                        lambda: self.post("/api/generateOrder", raw=body,
                                          content_type="application/x-www-form-urlencoded"),
                        422, "UnsupportedInput", "description")

    def test_invalid_utf8_multipart(self):
        for case, raw in self.INVALID_UTF8.items():
            with self.subTest(case=case):
                boundary = "attack-" + uuid.uuid4().hex
                pairs = list(self.order_fields().items()) + [("description", b"a" + raw + b"b")]
                body = multipart_body(pairs, boundary)
                self.assert_rejected(
                    lambda: self.post("/api/generateOrder", raw=body,
                                      content_type="multipart/form-data; boundary=" + boundary),
                    422, "UnsupportedInput", "description")

    def test_json_escaped_nul_in_value(self):
        text = self.json_with('"description": "a\\u0000b"')
        self.assert_rejected(lambda: self.post_json_text(text), 422, "UnsupportedInput",
                             "description")

    def test_json_escaped_surrogates_rejected(self):
        # A lone surrogate escape names no character. Taking it as U+FFFD
        # would store another text than the one sent.
        for escape in ("\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud800\\u0041"):
            with self.subTest(escape=escape):
                text = self.json_with('"description": "a%sb"' % escape)
                before = count_orders(self.db_path)
                resp = self.post_json_text(text)
                self.assertIn(resp.status, (400, 422), "lone surrogate %s: %r" % (escape, resp))
                self.assert_error(resp, resp.status)
                self.assertEqual(count_orders(self.db_path), before,
                                 "a rejected request stored an order: %r" % resp)

    def test_json_escaped_surrogate_pair_accepted(self):
        _, data = self.create_order(description="a\U0001F600b")
        stored = run_cli(self.db_path, "order", "show", data["token"])["order"]
        self.assertEqual(stored.get("description"), "a\U0001F600b", "order show: %r" % stored)

    # -- multipart framing -------------------------------------------------

    def test_multipart_broken_boundaries(self):
        boundary = "attack-" + uuid.uuid4().hex
        whole = multipart_body(list(self.order_fields().items()), boundary)
        ctype = "multipart/form-data; boundary=" + boundary
        closing = ("--%s--\r\n" % boundary).encode()
        amount_at = whole.rfind(b"10.00")
        # A declared boundary that never occurs leaves every field missing (422).
        # The other cases are malformed bodies (400).
        cases = {
            "no boundary parameter": ("multipart/form-data", whole, 400),
            "empty boundary": ("multipart/form-data; boundary=", whole, 400),
            "closing boundary missing": (ctype, whole[:-len(closing)], 400),
            "cut inside the last value": (ctype, whole[:amount_at + 2], 400),
            "cut after the last value": (ctype, whole[:amount_at + 5], 400),
            "part head without a blank line": (
                ctype, whole.replace(b'name="amount"\r\n\r\n', b'name="amount"\r\n'), 400),
            "another boundary declared": (ctype + "x", whole, 422),
        }
        for case, (content_type, body, status) in cases.items():
            with self.subTest(case=case):
                self.assert_rejected(
                    lambda: self.post("/api/generateOrder", raw=body, content_type=content_type),
                    status)


# ---------------------------------------------------------------------------
# Callbacks through a DNS name of loopback


class CallbackDnsLoopback(AttackChecks, harness.GatewayTestCase):

    def wait_attempts(self, order_token):
        """Return the order's callback deliveries once each has at least one attempt."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        rows = []
        while time.monotonic() < deadline:
            rows = run_cli(self.db_path, "callbacks", "list", "--order", order_token)["callbacks"]
            if rows and all(r["attempts"] >= 1 for r in rows):
                return rows
            time.sleep(harness.POLL_INTERVAL_S)
        self.fail("no delivery attempt of %s within %d s: %r" % (order_token, DELIVERY_WAIT_S, rows))

    def test_live_name_refused_at_connect(self):
        host = loopback_host_name()
        if host is None:
            self.skipTest("/etc/hosts names no host other than localhost that resolves to loopback")
        receiver = harness.CallbackReceiver()
        self.addCleanup(receiver.stop)
        url = "http://%s:%d/callback" % (host, receiver.port)

        live = run_cli(self.db_path, "token", "add", "--customer", self.customer_id,
                       "--name", "dns-" + harness.unique_suffix(), "--type", "crypto",
                       "--ip", LOOPBACK + "/32", "--callback", url,
                       "--expires", int(time.time()) + 3600, "--mode", "live")
        self.assertEqual(live["callback_urls"], [url], "token add: %r" % live)
        _, live_order = self.create_order(access_token=live["token"])
        resp = self.post("/invoice/cancel", form={"token": live_order["token"]})
        self.assertEqual(resp.status, 303, "POST /invoice/cancel: %r" % resp)

        # A sandbox token is not guarded, so its callback to the same name
        # arrives: the name resolves and the receiver works.
        sandbox = create_token(self.db_path, self.customer_id, "dns-sb-" + harness.unique_suffix(),
                               [url])
        _, sandbox_order = self.create_order(access_token=sandbox["token"])
        self.post("/invoice/cancel", form={"token": sandbox_order["token"]})
        receiver.wait_for(harness.for_order(sandbox_order["token"]),
                          timeout=DELIVERY_WAIT_S,
                          description="callback of the sandbox order %s" % sandbox_order["token"])

        rows = self.wait_attempts(live_order["token"])
        for row in rows:
            self.assertEqual(row["state"], "pending", "delivery: %r" % row)
            self.assertIsNone(row["last_http_status"], "delivery: %r" % row)
            self.assertIn("is not public", row["last_error"] or "", "delivery: %r" % row)
            event = run_cli(self.db_path, "callbacks", "show", row["event_id"])
            for attempt in event["deliveries"][0]["attempts"]:
                self.assertIsNone(attempt["http_status"], "attempt: %r" % attempt)
                self.assertIn("127.0.0.1", attempt["error"] or "", "attempt: %r" % attempt)
        self.assertEqual(receiver.callbacks(harness.for_order(live_order["token"])), [],
                         "the live callback reached the loopback receiver")


if __name__ == "__main__":
    unittest.main()
