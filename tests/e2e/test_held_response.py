"""Held responses: sent only once the commit of the request's change is durable.

In a pool (server.threads > 0), the pool thread hands the COMMIT of a new
order to the store's committer thread, suspends the connection and keeps the
prepared 201 response. The committer's callback resumes the connection, and
the pool thread then sends the 201, or a 500 in its place when the commit or
the sync of the WAL failed (src/http.c, src/store.c). These tests check that:

- a commit whose WAL sync fails gets a 500 and never a 201, the daemon keeps
  serving reads, and later writes are rejected;
- the same holds for new deposits, and for a coin choice or a cancel on the
  payment page, which gets an HTML error page in place of its redirect;
- clients that close their connection while their response is held leave
  the daemon serving and able to stop cleanly;
- SIGTERM under load loses no order that was acknowledged with a 201, sends
  every 201 in progress before it closes the connections, and the daemon
  exits with status 0;
- after an fdatasync() of the WAL failed with EIO, no later batch is
  acknowledged, even when its own fdatasync() returns 0.
"""

import http.client
import json
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# The load tests send more requests from 127.0.0.1 than the default limits allow.
NO_LIMITS_ENV = {
    "CITYPAY_LIMIT_TOKEN_PER_MINUTE": "0",
    "CITYPAY_LIMIT_TOKEN_PER_HOUR": "0",
    "CITYPAY_LIMIT_ORDERS_PER_HOUR": "0",
    "CITYPAY_LIMIT_PUBLIC_PER_MINUTE": "0",
    "CITYPAY_LIMIT_PUBLIC_PER_HOUR": "0",
}

# Log messages of src/http.c and src/store.c that the tests look for.
HELD_FAILED_MSG = "commit failed; the prepared response is not sent"
WAL_REMOVED_MSG = "the WAL file was removed while the store was open"

# Connections that close right after sending their request.
ABANDONED_CONNECTIONS = 50
# Requests after the abandoned connections, each of which must get a 201.
REQUESTS_AFTER_ABANDON = 20

# The stop-under-load test. Valgrind runs the daemon's threads one at a time,
# so under a wrapper fewer requests keep the test within its time.
LOAD_THREADS = 8
LOAD_REQUESTS_PER_THREAD = 10 if harness.WRAPPER else 40
# SIGTERM is sent once this many orders were acknowledged, or after
# LOAD_SIGNAL_AFTER_S at the latest.
LOAD_SIGNAL_AFTER_ACKS = LOAD_THREADS * LOAD_REQUESTS_PER_THREAD // 4
LOAD_SIGNAL_AFTER_S = 5 * harness.SLOWDOWN

# A library preloaded into citypayd that fails one fdatasync() of the WAL
# with EIO, after a pause, once the file named by CITYPAY_TEST_SYNC_TRIGGER
# exists. It removes that file, so the next fdatasync() succeeds. Since
# Linux 4.13 a write-back error is likewise reported once per open file
# description (errseq_t).
FAIL_SYNC_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
fdatasync(int fd)
{
	static int (*next_fdatasync)(int);
	const char *trigger = getenv("CITYPAY_TEST_SYNC_TRIGGER");
	const char *pause_ms = getenv("CITYPAY_TEST_SYNC_PAUSE_MS");
	char link[64], target[4096];
	ssize_t n;

	if (next_fdatasync == NULL)
		next_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (trigger != NULL && n > 4 && memcmp(target + n - 4, "-wal", 4) == 0 &&
	    unlink(trigger) == 0) {
		usleep((useconds_t)atoi(pause_ms ? pause_ms : "0") * 1000);
		errno = EIO;
		return -1;
	}
	return next_fdatasync(fd);
}
"""
# How long the failing fdatasync() takes, so that a request can join the
# next batch meanwhile.
FAIL_SYNC_PAUSE_MS = int(300 * harness.SLOWDOWN)
C_COMPILER = shutil.which("cc") or shutil.which("gcc")


def generate_order_request(port, fields):
    """Return the bytes of one POST /api/generateOrder request with a JSON body."""
    body = json.dumps(fields).encode()
    head = ("POST /api/generateOrder HTTP/1.1\r\n"
            "Host: %s:%d\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: %d\r\n"
            "\r\n" % (harness.LOOPBACK, port, len(body)))
    return head.encode() + body


def wait_for_log_line(daemon, *parts, timeout=harness.HTTP_TIMEOUT_S):
    """Return the first log line of daemon that contains every part, or None after timeout.

    The harness reads the daemon's stderr on a thread of its own, so a line
    written just before a response may arrive after it.
    """
    deadline = time.monotonic() + timeout
    while True:
        for line in daemon.log_text().splitlines():
            if all(part in line for part in parts):
                return line
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def stored_order_ids(db_path, order_tokens):
    """Return {order_token: order id} for the given tokens found in the database."""
    found = {}
    db = sqlite3.connect(db_path, timeout=harness.CLI_TIMEOUT_S)
    try:
        for token in order_tokens:
            row = db.execute("SELECT id FROM orders WHERE token = ?", (token,)).fetchone()
            if row is not None:
                found[token] = row[0]
    finally:
        db.close()
    return found


class FailedCommit(harness.GatewayTestCase, harness.RejectionChecks):
    """A commit whose WAL sync fails gets a 500 response, never a 201."""

    def test_failed_commit(self):
        first = self.post("/api/generateOrder", json_body=self.order_fields())
        self.assertEqual(first.status, 201, "first generateOrder: %r" % first)

        # store_sync_wal() fails the sync of a WAL file that has no link
        # left. The writer keeps writing into the open, unlinked file.
        wal_path = self.db_path + "-wal"
        self.assertTrue(os.path.exists(wal_path), "no WAL file at %s" % wal_path)
        os.unlink(wal_path)

        failed = self.post("/api/generateOrder", json_body=self.order_fields())
        self.assertNotEqual(failed.status, 201,
                            "an order whose WAL sync failed was acknowledged: %r" % failed)
        self.assert_error(failed, 500, "InternalServerError")

        # The 500 must come from the held response: the log line of
        # http_release_held() carries the request id of the error body.
        request_id = failed.body["error"]["request_id"]
        held_line = wait_for_log_line(self.daemon, HELD_FAILED_MSG, "request_id=" + request_id)
        self.assertIsNotNone(held_line, "no %r line with request_id %s in the log:\n%s"
                             % (HELD_FAILED_MSG, request_id, self.daemon.log_text()[-4000:]))
        self.assertIsNotNone(wait_for_log_line(self.daemon, WAL_REMOVED_MSG),
                             "the log does not name the removed WAL file")

        health = self.get("/healthz")
        self.assertEqual(health.status, 200, "GET /healthz after the failed commit: %r" % health)

        later = self.post("/api/generateOrder", json_body=self.order_fields())
        self.assertNotEqual(later.status, 201,
                            "a write after the failed WAL sync was acknowledged: %r" % later)
        self.assert_error(later, 500, "InternalServerError")

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)


class FailedDepositCommit(harness.GatewayTestCase, harness.RejectionChecks):
    """A new deposit whose WAL sync fails gets a 500 response, never a 201."""

    def deposit_fields(self):
        suffix = harness.unique_suffix()
        return {"customer_id": str(self.customer_id), "access_token": self.token,
                "deposit_id": "user-" + suffix, "deposit_token": "dep-" + suffix}

    def test_failed_deposit_commit(self):
        fields = self.deposit_fields()
        first = self.post("/api/generateDeposit", json_body=fields)
        self.assertEqual(first.status, 201, "first generateDeposit: %r" % first)
        self.assertTrue(first.body["data"].get("addresses"),
                        "the new deposit has no addresses: %r" % first)
        replay = self.post("/api/generateDeposit", json_body=fields)
        self.assertEqual(replay.status, 200, "generateDeposit again: %r" % replay)
        self.assertEqual(replay.body["data"], first.body["data"],
                         "the same deposit_token gave another deposit")

        # As in FailedCommit: a WAL file without a link fails its sync.
        os.unlink(self.db_path + "-wal")
        failed = self.post("/api/generateDeposit", json_body=self.deposit_fields())
        self.assertNotEqual(failed.status, 201,
                            "a deposit whose WAL sync failed was acknowledged: %r" % failed)
        self.assert_error(failed, 500, "InternalServerError")
        request_id = failed.body["error"]["request_id"]
        self.assertIsNotNone(
            wait_for_log_line(self.daemon, HELD_FAILED_MSG, "request_id=" + request_id),
            "no %r line with request_id %s in the log:\n%s"
            % (HELD_FAILED_MSG, request_id, self.daemon.log_text()[-4000:]))

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)


class HeldPageChecks:
    """Checks of an error page sent in place of a held redirect."""

    def assert_held_error_page(self, resp, action):
        self.assertNotEqual(resp.status, 303,
                            "%s whose WAL sync failed was redirected: %r" % (action, resp))
        self.assertEqual(resp.status, 500, "%s whose WAL sync failed: %r" % (action, resp))
        self.assertTrue((resp.header("content-type") or "").startswith("text/html"),
                        "%s whose WAL sync failed sent no HTML page: %r" % (action, resp))
        self.assertIn("Temporarily unavailable", resp.text,
                      "%s whose WAL sync failed: %r" % (action, resp))
        # The error must come from the held redirect: the log line of
        # http_release_held() carries the request id of the page.
        request_id = resp.header("x-request-id")
        self.assertTrue(request_id, "%s whose WAL sync failed has no X-Request-Id" % action)
        self.assertIsNotNone(
            wait_for_log_line(self.daemon, HELD_FAILED_MSG, "request_id=" + request_id),
            "no %r line with request_id %s in the log:\n%s"
            % (HELD_FAILED_MSG, request_id, self.daemon.log_text()[-4000:]))


class FailedCoinChoiceCommit(harness.GatewayTestCase, HeldPageChecks):
    """A coin choice on the payment page whose WAL sync fails gets an error page.

    Choosing a coin keeps its redirect until the commit, as generateOrder
    keeps its 201. A failed commit must not redirect the buyer as if the
    coin had been chosen.
    """

    def test_failed_coin_choice_commit(self):
        _, chosen = self.create_order()
        _, untouched = self.create_order()
        data = self.choose_coin(chosen["token"], "BTC")
        self.assertEqual(data["coin"], "BTC", "the chosen coin is not in the order: %r" % data)

        # As in FailedCommit: a WAL file without a link fails its sync.
        os.unlink(self.db_path + "-wal")
        failed = self.post("/invoice/coin", form={"token": untouched["token"], "coin": "BTC"})
        self.assert_held_error_page(failed, "POST /invoice/coin")

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)


class FailedCancelCommit(harness.GatewayTestCase, HeldPageChecks):
    """A cancel on the payment page whose WAL sync fails gets an error page."""

    def test_failed_cancel_commit(self):
        _, cancelled = self.create_order()
        _, untouched = self.create_order()
        resp = self.post("/invoice/cancel", form={"token": cancelled["token"]})
        self.assertEqual(resp.status, 303, "POST /invoice/cancel: %r" % resp)
        self.assertEqual(self.order_info(cancelled["token"])["status"]["code"], "CANCELED",
                         "the cancelled order")

        os.unlink(self.db_path + "-wal")
        failed = self.post("/invoice/cancel", form={"token": untouched["token"]})
        self.assert_held_error_page(failed, "POST /invoice/cancel")

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)


class AbandonedConnections(harness.GatewayTestCase):
    """Clients that close while their response is held break nothing."""

    daemon_env = NO_LIMITS_ENV

    def abandon_connections(self):
        """Send generateOrder on many connections and close each without reading.

        Every other connection closes with a reset (SO_LINGER with a zero
        timeout) instead of a FIN.
        """
        sockets = []
        try:
            for _ in range(ABANDONED_CONNECTIONS):
                sockets.append(socket.create_connection((harness.LOOPBACK, self.daemon.port),
                                                        timeout=harness.HTTP_TIMEOUT_S))
            for i, sock in enumerate(sockets):
                sock.sendall(generate_order_request(self.daemon.port, self.order_fields()))
                if i % 2 == 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        finally:
            for sock in sockets:
                sock.close()

    def test_abandoned_connections(self):
        self.abandon_connections()
        self.assertIsNone(self.daemon.proc.poll(),
                          "citypayd exited after the abandoned connections:\n%s"
                          % self.daemon.log_text()[-4000:])

        statuses = []
        for _ in range(REQUESTS_AFTER_ABANDON):
            statuses.append(self.post("/api/generateOrder", json_body=self.order_fields()).status)
        self.assertEqual(statuses, [201] * REQUESTS_AFTER_ABANDON,
                         "generateOrder after the abandoned connections")

        # http_stop() waits for every suspended connection, so a suspension
        # that was never resumed makes the stop time out.
        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM; log:\n%s"
                         % (returncode, self.daemon.log_text()[-4000:]))


class StopUnderLoad(harness.GatewayTestCase):
    """SIGTERM while generateOrder requests run loses no acknowledged order."""

    daemon_env = NO_LIMITS_ENV

    def setUp(self):
        self.lock = threading.Lock()
        self.acknowledged = {}    # order_token -> order id of the 201 response
        self.other_statuses = []  # (status, response text) of every response other than 201
        self.early_errors = []    # connection errors before SIGTERM was sent
        self.enough_acks = threading.Event()
        self.signal_sent = threading.Event()

    def send_orders(self):
        """Send generateOrder requests one at a time until a connection fails."""
        for _ in range(LOAD_REQUESTS_PER_THREAD):
            fields = self.order_fields()
            try:
                resp = self.post("/api/generateOrder", json_body=fields)
            except (OSError, http.client.HTTPException) as exc:
                if not self.signal_sent.is_set():
                    with self.lock:
                        self.early_errors.append(repr(exc))
                return
            with self.lock:
                if resp.status == 201:
                    self.acknowledged[fields["order_token"]] = resp.body["data"]["id"]
                    if len(self.acknowledged) >= LOAD_SIGNAL_AFTER_ACKS:
                        self.enough_acks.set()
                else:
                    self.other_statuses.append((resp.status, resp.text[:300]))

    def test_stop_under_load(self):
        threads = [threading.Thread(target=self.send_orders, daemon=True)
                   for _ in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()
        self.enough_acks.wait(timeout=LOAD_SIGNAL_AFTER_S)
        self.signal_sent.set()
        returncode = self.daemon.stop()
        for thread in threads:
            thread.join(timeout=harness.HTTP_TIMEOUT_S)

        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM; log:\n%s"
                         % (returncode, self.daemon.log_text()[-4000:]))
        self.assertFalse(any(thread.is_alive() for thread in threads),
                         "a request thread still runs after the daemon stopped")
        self.assertEqual(self.early_errors, [], "connection errors before SIGTERM")
        self.assertEqual(self.other_statuses, [], "responses other than 201")
        self.assertTrue(self.acknowledged, "no order was acknowledged before SIGTERM")

        stored = stored_order_ids(self.db_path, self.acknowledged)
        missing = sorted(set(self.acknowledged) - set(stored))
        self.assertEqual(missing, [], "acknowledged orders missing after the stop "
                         "(%d of %d)" % (len(missing), len(self.acknowledged)))
        self.assertEqual(stored, self.acknowledged,
                         "stored order ids differ from the ids of the 201 responses")
        # The stop drains responses in progress, so no stored order loses
        # its 201 to the closing of its connection.
        unsent = [line for line in self.daemon.log_text().splitlines()
                  if "msg=request" in line and "status=201" in line
                  and "completed=false" in line]
        self.assertEqual(unsent, [], "201 responses dropped at the stop")


@unittest.skipIf(C_COMPILER is None, "no C compiler to build the fdatasync() library")
class FailedSyncFailsLaterBatch(harness.GatewayTestCase):
    """No batch is acknowledged after a failed fdatasync() of the WAL.

    A request sent while the failing fdatasync() pauses goes into the next
    batch. That batch's fdatasync() succeeds, but its frames follow frames
    that never reached the disk, so it must fail as well.
    """

    daemon_env = {}

    @classmethod
    def setUpClass(cls):
        cls.shim_dir = tempfile.mkdtemp(prefix="citypay-e2e-shim-")
        source = os.path.join(cls.shim_dir, "fail_sync.c")
        library = os.path.join(cls.shim_dir, "fail_sync.so")
        with open(source, "w") as f:
            f.write(FAIL_SYNC_SOURCE)
        subprocess.run([C_COMPILER, "-shared", "-fPIC", "-o", library, source, "-ldl"],
                       check=True, capture_output=True, timeout=harness.CLI_TIMEOUT_S)
        cls.trigger_path = os.path.join(cls.shim_dir, "fail-next-sync")
        # An AddressSanitizer build exits at start when another library is
        # preloaded before its runtime, unless verify_asan_link_order=0 is set.
        asan_options = os.environ.get("ASAN_OPTIONS", "")
        cls.daemon_env = dict(cls.daemon_env,
                              LD_PRELOAD=library,
                              CITYPAY_TEST_SYNC_TRIGGER=cls.trigger_path,
                              CITYPAY_TEST_SYNC_PAUSE_MS=str(FAIL_SYNC_PAUSE_MS),
                              ASAN_OPTIONS=(asan_options + ":" if asan_options else "")
                              + "verify_asan_link_order=0")
        try:
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.shim_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.shim_dir, ignore_errors=True)

    def post_in_thread(self, fields, results):
        """Start a thread that sends generateOrder and stores the response in results."""
        def send():
            try:
                results.append(self.post("/api/generateOrder", json_body=fields))
            except (OSError, http.client.HTTPException) as exc:
                results.append(exc)
        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        return thread

    def test_failed_sync_fails_later_batch(self):
        self.create_order()
        open(self.trigger_path, "w").close()
        first = []
        first_thread = self.post_in_thread(self.order_fields(), first)

        # The library removes the trigger when the failing fdatasync()
        # begins its pause. A request sent now passes store_begin(), which
        # rejects writes only once the failure is known, and is released
        # into the next batch.
        deadline = time.monotonic() + harness.HTTP_TIMEOUT_S
        while os.path.exists(self.trigger_path) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.assertFalse(os.path.exists(self.trigger_path),
                         "the preloaded library failed no fdatasync() of the WAL")
        later = []
        later_thread = self.post_in_thread(self.order_fields(), later)
        first_thread.join(timeout=harness.HTTP_TIMEOUT_S * 2)
        later_thread.join(timeout=harness.HTTP_TIMEOUT_S * 2)

        self.assertEqual(len(first), 1, "no response to the request whose sync failed")
        self.assertIsInstance(first[0], harness.Response, "request whose sync failed")
        self.assertEqual(first[0].status, 500, "request whose sync failed: %r" % first[0])
        self.assertEqual(len(later), 1, "no response to the request of the next batch")
        self.assertIsInstance(later[0], harness.Response, "request of the next batch")
        self.assertNotEqual(later[0].status, 201,
                            "the batch after a failed sync was acknowledged: %r" % later[0])
        # A request that store_begin() rejected would pass the check above
        # without its batch being committed; this one must have been held.
        request_id = later[0].body["error"]["request_id"]
        self.assertIsNotNone(wait_for_log_line(self.daemon, HELD_FAILED_MSG,
                                               "request_id=" + request_id),
                             "the request of the next batch was not held for its commit; "
                             "log:\n%s" % self.daemon.log_text()[-4000:])

        returncode = self.daemon.stop()
        self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)


if __name__ == "__main__":
    unittest.main(verbosity=2)
