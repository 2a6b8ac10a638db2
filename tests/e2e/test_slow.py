"""Slow and idle clients against the receive deadlines and the connection limits.

citypayd closes a connection when the request headers are not complete
10 s (CP_HEADER_TIMEOUT_S) after the accept or the end of the previous
response. It also closes it when the body is not complete 30 s
(CP_REQUEST_TIMEOUT_S) after the same start, however steadily the client
trickles bytes. Other clients are served meanwhile. One peer address may hold server.connections_per_address
connections (64 by default). Past the global limit of 1,024 connections
(CP_CONNECTIONS_MAX), new connections wait in the listen backlog.

The deadlines are compile-time constants, so this file runs for about a
minute, most of it waiting for them.
"""

import http.client
import os
import resource
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK  # noqa: E402

# The receive deadlines of src/limits.h, in seconds.
HEADER_TIMEOUT_S = 10
REQUEST_TIMEOUT_S = 30
# The deadline thread closes a connection at most 0.1 s late. The rest of
# the margin covers a loaded machine and the sanitizer build.
CLOSE_MARGIN_S = 2.0
# A close counts as early when it comes this long before the deadline. The
# daemon starts its clock when it accepts, after the client's connect returns.
EARLY_MARGIN_S = 0.5
# Each slow client sends one byte per interval, well under the 30 s idle timeout.
TRICKLE_INTERVAL_S = 1.0
# A normal request while slow clients are open must get its response within this.
PROMPT_RESPONSE_S = 2.0
SLOW_CLIENTS = 50
CONNECTIONS_PER_ADDRESS = 64
CONNECTIONS_MAX = 1024
# A source address other than 127.0.0.1 that still reaches the loopback
# interface, because Linux routes all of 127.0.0.0/8 there.
SECOND_LOOPBACK = "127.0.0.2"
SOCKET_TIMEOUT_S = 5
LOG_WAIT_S = 5

HEALTHZ_REQUEST = ("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % LOOPBACK).encode()


def raise_descriptor_limit(minimum):
    """Raise the soft RLIMIT_NOFILE of this process, which the daemon inherits, to minimum.

The hard limit caps the result; returns the soft limit now in force.
"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < minimum:
        target = minimum if hard == resource.RLIM_INFINITY else min(minimum, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Enough descriptors for the daemon and this process to hold more than
# CP_CONNECTIONS_MAX connections, set before any daemon starts.
DESCRIPTOR_LIMIT = raise_descriptor_limit(4096)


class SlowClient:
    """One connection that sends head at once, then trickle one byte per interval.

    closed_at is the monotonic time at which the daemon closed the
    connection (end of file, a reset, or a failed send), or None.
    """

    def __init__(self, port, head, trickle):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=SOCKET_TIMEOUT_S)
        self.opened_at = time.monotonic()
        self.sock.sendall(head)
        self.sock.setblocking(False)
        self.trickle = trickle
        self.sent = 0
        self.next_send_at = self.opened_at + TRICKLE_INTERVAL_S
        self.received = b""
        self.closed_at = None

    @property
    def open_for_s(self):
        end = self.closed_at if self.closed_at is not None else time.monotonic()
        return end - self.opened_at

    def mark_closed(self):
        if self.closed_at is None:
            self.closed_at = time.monotonic()

    def read(self):
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            self.mark_closed()
            return
        if data:
            self.received += data
        else:
            self.mark_closed()

    def send_due(self, now):
        if self.closed_at is not None or now < self.next_send_at:
            return
        if self.sent >= len(self.trickle):
            raise AssertionError("slow client ran out of bytes to trickle after %.1f s"
                                 % self.open_for_s)
        try:
            self.sock.send(self.trickle[self.sent:self.sent + 1])
        except BlockingIOError:
            return
        except OSError:
            self.mark_closed()
            return
        self.sent += 1
        self.next_send_at += TRICKLE_INTERVAL_S

    def close(self):
        self.sock.close()


class SlowClientRunner:
    """A thread that trickles the bytes of every client and notes when each is closed."""

    def __init__(self, clients):
        self.clients = list(clients)
        self._stop = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                open_clients = [c for c in self.clients if c.closed_at is None]
                if not open_clients:
                    return
                readable, _, _ = select.select([c.sock for c in open_clients], [], [], 0.05)
                for client in open_clients:
                    if client.sock in readable:
                        client.read()
                now = time.monotonic()
                for client in open_clients:
                    client.send_due(now)
        except Exception as exc:  # reported by the test thread in stop()
            self._error = exc

    def wait_all_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.closed_at is not None for c in self.clients):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self.clients:
            client.close()
        if self._error is not None:
            raise self._error


def header_trickler(port):
    """A client whose request line arrives at once and whose headers never end."""
    head = ("GET /healthz HTTP/1.1\r\nHost: %s\r\n" % LOOPBACK).encode()
    return SlowClient(port, head, b"X-Slow: " + b"a" * 200)


def body_trickler(port):
    """A client whose headers arrive at once and whose 1000-byte body never ends."""
    head = ("POST /api/generateOrder HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n" % LOOPBACK).encode()
    return SlowClient(port, head, b'{"order_id": "' + b"1" * 200)


def closed_without_response(sock, timeout):
    """Send GET /healthz and return the bytes read before end of file or a reset.

    Raises AssertionError when the connection stays open for timeout seconds.
    """
    sock.settimeout(timeout)
    received = b""
    try:
        sock.sendall(HEALTHZ_REQUEST)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return received
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return received
    except socket.timeout:
        raise AssertionError("connection still open after %.1f s; received %r"
                             % (timeout, received[:200]))


class SlowClients(harness.GatewayTestCase):

    def wait_log(self, text):
        deadline = time.monotonic() + LOG_WAIT_S
        while time.monotonic() < deadline:
            lines = [line for line in self.daemon.log_text().splitlines() if text in line]
            if lines:
                return lines
            time.sleep(0.1)
        self.fail("no log line containing %r within %d s; log tail:\n%s"
                  % (text, LOG_WAIT_S, self.daemon.log_text()[-3000:]))

    def assert_closed_at_deadline(self, client, deadline_s):
        self.assertIsNotNone(client.closed_at, "slow client still open after %.1f s"
                             % client.open_for_s)
        self.assertGreaterEqual(client.open_for_s, deadline_s - EARLY_MARGIN_S,
                                "closed before the %d s deadline" % deadline_s)
        self.assertLessEqual(client.open_for_s, deadline_s + CLOSE_MARGIN_S,
                             "closed later than the %d s deadline allows" % deadline_s)
        self.assertEqual(client.received, b"", "a timed-out request got a response")

    def test_trickled_headers_closed(self):
        runner = SlowClientRunner([header_trickler(self.daemon.port)])
        try:
            runner.wait_all_closed(HEADER_TIMEOUT_S + CLOSE_MARGIN_S + 1)
        finally:
            runner.stop()
        client = runner.clients[0]
        self.assert_closed_at_deadline(client, HEADER_TIMEOUT_S)
        self.assertGreater(client.sent, HEADER_TIMEOUT_S - 2,
                           "the client did not keep trickling until the deadline")
        lines = self.wait_log("request timed out")
        self.assertIn("phase=headers", lines[-1])

    def test_trickled_body_closed(self):
        runner = SlowClientRunner([body_trickler(self.daemon.port)])
        try:
            runner.wait_all_closed(REQUEST_TIMEOUT_S + CLOSE_MARGIN_S + 1)
        finally:
            runner.stop()
        client = runner.clients[0]
        self.assert_closed_at_deadline(client, REQUEST_TIMEOUT_S)
        self.assertGreater(client.sent, REQUEST_TIMEOUT_S - 2,
                           "the client did not keep trickling until the deadline")
        lines = [line for line in self.wait_log("request timed out") if "phase=body" in line]
        self.assertTrue(lines, "no phase=body line in the log:\n%s"
                        % self.daemon.log_text()[-3000:])
        self.assertIn("request_id=", lines[-1])

    def test_others_served_during_slow_clients(self):
        port = self.daemon.port
        clients = []
        try:
            for i in range(SLOW_CLIENTS):
                clients.append(header_trickler(port) if i % 2 == 0 else body_trickler(port))
        except BaseException:
            for client in clients:
                client.close()
            raise
        runner = SlowClientRunner(clients)
        try:
            time.sleep(TRICKLE_INTERVAL_S + 0.5)
            for _ in range(3):
                started = time.monotonic()
                resp = self.get("/healthz", timeout=PROMPT_RESPONSE_S)
                self.assertEqual(resp.status, 200, "GET /healthz: %r" % resp)
                self.assertLess(time.monotonic() - started, PROMPT_RESPONSE_S)

                started = time.monotonic()
                resp = self.post("/api/generateOrder", json_body=self.order_fields(),
                                 timeout=PROMPT_RESPONSE_S)
                self.assertIn(resp.status, (200, 201), "generateOrder: %r" % resp)
                self.assertLess(time.monotonic() - started, PROMPT_RESPONSE_S)
            still_open = [c for c in clients if c.closed_at is None]
        finally:
            runner.stop()
        self.assertEqual(len(still_open), SLOW_CLIENTS,
                         "slow clients closed before the normal requests finished: %r"
                         % [round(c.open_for_s, 1) for c in clients if c.closed_at is not None])

    def test_idle_keep_alive_closed(self):
        conn = http.client.HTTPConnection(LOOPBACK, self.daemon.port, timeout=SOCKET_TIMEOUT_S)
        try:
            conn.request("GET", "/healthz")
            first = conn.getresponse()
            first.read()
            self.assertEqual(first.status, 200)
            self.assertFalse(first.will_close, "the daemon closed after the first response")
            sock = conn.sock

            conn.request("GET", "/healthz")
            second = conn.getresponse()
            second.read()
            self.assertEqual(second.status, 200)
            self.assertIs(conn.sock, sock, "the second request needed a new connection")

            idle_from = time.monotonic()
            sock.settimeout(HEADER_TIMEOUT_S + CLOSE_MARGIN_S + 1)
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                self.fail("idle keep-alive connection still open after %.1f s"
                          % (time.monotonic() - idle_from))
            idle_s = time.monotonic() - idle_from
        finally:
            conn.close()
        self.assertEqual(data, b"", "an idle connection received data")
        self.assertGreaterEqual(idle_s, HEADER_TIMEOUT_S - EARLY_MARGIN_S,
                                "idle keep-alive connection closed early")
        self.assertLessEqual(idle_s, HEADER_TIMEOUT_S + CLOSE_MARGIN_S,
                             "idle keep-alive connection closed late")


class ConnectionsPerAddress(harness.GatewayTestCase):
    """server.connections_per_address at its default of 64."""

    def open_served(self, count):
        """Open count keep-alive connections, each served once, and return them."""
        conns = []
        for _ in range(count):
            conn = http.client.HTTPConnection(LOOPBACK, self.daemon.port,
                                              timeout=SOCKET_TIMEOUT_S)
            conns.append(conn)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, "connection %d was not served" % len(conns))
        return conns

    def test_connection_over_limit_closed(self):
        open_conns = []
        try:
            open_conns = self.open_served(CONNECTIONS_PER_ADDRESS)

            extra = socket.create_connection((LOOPBACK, self.daemon.port),
                                             timeout=SOCKET_TIMEOUT_S)
            try:
                received = closed_without_response(extra, PROMPT_RESPONSE_S)
            finally:
                extra.close()
            self.assertEqual(received, b"", "connection %d was served"
                             % (CONNECTIONS_PER_ADDRESS + 1))

            try:
                other = http.client.HTTPConnection(LOOPBACK, self.daemon.port,
                                                   timeout=SOCKET_TIMEOUT_S,
                                                   source_address=(SECOND_LOOPBACK, 0))
                other.connect()
            except OSError as exc:
                self.skipTest("cannot connect from %s: %s" % (SECOND_LOOPBACK, exc))
            try:
                other.request("GET", "/healthz")
                resp = other.getresponse()
                resp.read()
            finally:
                other.close()
            self.assertEqual(resp.status, 200, "a second address was not served")

            open_conns.pop().close()
            self.assert_served_soon()
        finally:
            for conn in open_conns:
                conn.close()

    def assert_served_soon(self):
        """Retry GET /healthz on new connections until one gets a response."""
        deadline = time.monotonic() + PROMPT_RESPONSE_S
        last = None
        while time.monotonic() < deadline:
            try:
                resp = harness.http_request(self.url("/healthz"), timeout=PROMPT_RESPONSE_S)
                if resp.status == 200:
                    return
                last = resp
            except (OSError, http.client.HTTPException) as exc:
                last = exc
            time.sleep(0.05)
        self.fail("no connection was served within %.1f s after one closed; last: %r"
                  % (PROMPT_RESPONSE_S, last))


@unittest.skipIf(DESCRIPTOR_LIMIT < CONNECTIONS_MAX + 200,
                 "RLIMIT_NOFILE is %d; holding %d connections needs more"
                 % (DESCRIPTOR_LIMIT, CONNECTIONS_MAX))
class GlobalConnectionLimit(harness.GatewayTestCase):
    """CP_CONNECTIONS_MAX, with no per-address limit."""

    config_text = "[server]\nconnections_per_address = 0\n"

    def test_connection_over_limit_waits(self):
        open_conns = []
        try:
            for _ in range(CONNECTIONS_MAX):
                open_conns.append(socket.create_connection((LOOPBACK, self.daemon.port),
                                                     timeout=SOCKET_TIMEOUT_S))
            waiting = socket.create_connection((LOOPBACK, self.daemon.port),
                                               timeout=SOCKET_TIMEOUT_S)
            open_conns.append(waiting)
            waiting.sendall(HEALTHZ_REQUEST)
            waiting.settimeout(1.0)
            try:
                early = waiting.recv(4096)
            except socket.timeout:
                early = None
            self.assertIsNone(early, "connection %d got %r while every slot was taken"
                              % (CONNECTIONS_MAX + 1, early))

            open_conns.pop(0).close()
            waiting.settimeout(PROMPT_RESPONSE_S)
            answer = waiting.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 "),
                            "the waiting connection got %r" % answer[:200])
        finally:
            for sock in open_conns:
                sock.close()


@unittest.skipIf(harness.WRAPPER, "the daemon would start a thread for each of 1,025 connections,"
                 " and valgrind ends a program with more than 500 threads (--max-threads)")
class GlobalConnectionLimitThreadPerConnection(GlobalConnectionLimit):
    """The same limit with one thread per connection (server.threads = 0)."""

    config_text = "[server]\nconnections_per_address = 0\nthreads = 0\n"


if __name__ == "__main__":
    unittest.main()
