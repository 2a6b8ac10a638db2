"""Crash consistency: SIGKILL citypayd under load, restart it, and check the store.

Worker threads create orders, replay some of them, choose coins and pay on
the sandbox chain while a miner thread adds blocks. The daemon is killed with
SIGKILL at random moments and restarted on the same database each time. A
request whose connection broke is retried with the same body, as a merchant
would retry it. After the last restart the test checks that:

- every acknowledged order (one that got a success response) is stored
  once, with the id of that response, and a replay of its request returns
  that order again;
- every acknowledged payment and mined block is stored;
- every state change of an order has its callback event, the events of an
  order have the sequence numbers 1..n, and every event has one delivery
  per callback URL of its token;
- `PRAGMA integrity_check` returns ok and `PRAGMA foreign_key_check` returns
  no rows;
- the restarted daemon serves every acknowledged order and delivers every
  callback, in sequence order per order and URL.

The run prints its random seed. CITYPAY_CRASH_SEED=N replays the same kill
times and request choices, although the thread interleaving still differs.
CITYPAY_E2E_KEEP=1 keeps the database and the daemon log.

NOTE: SIGKILL ends the process but not the machine, so writes already in the
kernel's page cache survive. This test cannot show that a COMMIT reached the
disk (fsync); only a power-loss test could.
"""

import collections
import concurrent.futures
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import REQUIRED_CONFIRMATIONS, run_cli  # noqa: E402

# The harness of a valgrind run slows every timeout by this factor.
SLOWDOWN = getattr(harness, "SLOWDOWN", 1.0)

KILLS = 4
# Each kill comes this many seconds after the daemon became healthy, and then
# waits up to KILL_WAIT_S for its moment. Half of the kills, in random order,
# strike while a request is in flight. The other half strike the moment a
# worker receives a 201 from generateOrder, from that worker's thread, so an
# order acknowledged before its COMMIT finished is lost and the test fails.
KILL_AFTER_S = (0.5, 2.5)
KILL_WAIT_S = 2.0
KILL_IN_FLIGHT = "in flight"
KILL_AFTER_CREATED = "after 201"
# Load on the last daemon before the workers stop, in seconds.
FINAL_LOAD_S = 1.0
MERCHANTS = ("Crash Shop A", "Crash Shop B")
WORKERS = 4
CALLBACK_PATHS = ("/callback/primary", "/callback/backup")
COINS = ("BTC", "ETH", "LTC")

REQUEST_TIMEOUT_S = 10 * SLOWDOWN
RETRY_PAUSE_S = 0.05
# Pause of a worker between two orders, in seconds, so that the callback
# backlog stays small enough to drain within the time the test has.
ORDER_PAUSE_S = (0.01, 0.05)
# Broken connections tolerated per operation before a worker gives up on it.
LOST_RETRIES_MAX = 6
# A worker that cannot reach any daemon for this long stops with an error.
UNREACHABLE_MAX_S = 30 * SLOWDOWN
WORKER_JOIN_S = 60 * SLOWDOWN
CHECK_THREADS = 4

# A delivery claimed by a killed daemon is due again when its lease ends:
# the callback timeout (1 s here) plus 31 s (CALLBACK_LEASE_MARGIN_S and one
# second in src/callback.c). Retries of failed attempts take 1 to 2 s.
CALLBACK_TIMEOUT_MS = 1000
DELIVERY_WAIT_S = 50 * SLOWDOWN
# The receiver responds to each callback this late, so that a kill usually
# finds deliveries in flight and the restarted daemon must send them again.
CALLBACK_RESPONSE_DELAY_S = 0.02

# Shares of the orders that get each follow-up after creation.
REPLAY_SHARE = 0.2
# Orders whose first generateOrder request is sent and its connection closed
# before the response, as a client that timed out would. The retry follows.
ABANDON_SHARE = 0.05
COLLISION_SHARE = 0.05
PLAN_UNPAID_SHARE = 0.25      # no coin chosen
PLAN_CHOSEN_SHARE = 0.25      # coin chosen, not paid
PLAN_CHOSEN_PAID_SHARE = 0.3  # coin chosen, then paid in full
# The remaining orders are paid without a coin choice first.

DAEMON_ENV = {
    "CITYPAY_CALLBACK_TIMEOUT_MS": str(CALLBACK_TIMEOUT_MS),
    # The load sends more requests from 127.0.0.1 than the default limits allow.
    "CITYPAY_LIMIT_TOKEN_PER_MINUTE": "0",
    "CITYPAY_LIMIT_TOKEN_PER_HOUR": "0",
    "CITYPAY_LIMIT_ORDERS_PER_HOUR": "0",
    "CITYPAY_LIMIT_PUBLIC_PER_MINUTE": "0",
    "CITYPAY_LIMIT_PUBLIC_PER_HOUR": "0",
}

NOT_SENT = "not sent"      # the connection was refused or no daemon was running
LOST = "lost"              # sent, but the connection broke before the response
RESPONDED = "responded"
GAVE_UP = "gave up"

PROBLEMS_SHOWN = 10
LOG_LINES_SHOWN = 20


def choose_seed():
    text = os.environ.get("CITYPAY_CRASH_SEED")
    if text:
        return int(text)
    return random.SystemRandom().randrange(1, 2 ** 31)


def minor_units(amount):
    """Convert a decimal text with two fraction digits, such as "12.05", to 1205."""
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


class Problem:
    """One failed check, with a function that finds its evidence in the daemon log."""

    def __init__(self, text, evidence=None):
        self.text = text
        self.evidence = evidence

    def render(self):
        if self.evidence is None:
            return self.text
        return "%s\ndaemon log:\n%s" % (self.text, self.evidence())


def format_problems(what, problems, seed):
    """Render the first problems only, because finding log lines takes a scan of the log."""
    shown = "\n\n".join(p.render() if isinstance(p, Problem) else str(p)
                         for p in problems[:PROBLEMS_SHOWN])
    more = len(problems) - PROBLEMS_SHOWN
    tail = "\n... and %d more" % more if more > 0 else ""
    return ("%d %s (seed %d; CITYPAY_CRASH_SEED=%d replays the run):\n%s%s"
            % (len(problems), what, seed, seed, shown, tail))


class SlowReceiver(harness.CallbackReceiver):
    """A callback receiver that responds after a delay and stays quiet when a killed
    daemon breaks its connection."""

    def _record(self, path, headers, raw):
        # A daemon killed while sending leaves a cut body, which a merchant's
        # server would reject too, so it is not recorded as a callback.
        if len(raw) != int(headers.get("content-length") or 0):
            return 400
        status = super()._record(path, headers, raw)
        time.sleep(CALLBACK_RESPONSE_DELAY_S)
        return status

    def start(self):
        super().start()
        server = self._server
        report = server.handle_error

        def handle_error(request, client_address):
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                report(request, client_address)

        server.handle_error = handle_error
        # The default backlog of 5 drops connections when the daemon opens up
        # to 32 at once, and curl's connect timeout then fails the attempt.
        server.socket.listen(128)


class Target:
    """The base URL of the running daemon, or None while it is down or restarting."""

    def __init__(self):
        self._lock = threading.Lock()
        self._url = None

    def set(self, url):
        with self._lock:
            self._url = url

    def get(self):
        with self._lock:
            return self._url


class OrderRecord:
    """The requests one worker sent for one order_token and the daemon's responses."""

    def __init__(self, worker, fields, plan):
        self.worker = worker
        self.fields = fields
        self.token = fields["order_token"]
        self.plan = plan
        self.ids = []                # data.id of every success response to generateOrder
        self.replay_flags = []       # whether each of them had Idempotent-Replayed: true
        self.create_lost = 0
        self.create_abandoned = 0
        self.choose_ok = 0
        self.choose_lost = 0
        self.coin = None             # the coin of an acknowledged choice or payment
        self.pay_hashes = []         # hashes of acknowledged payments
        self.pay_lost = 0
        self.unexpected = []         # descriptions of unexpected responses

    @property
    def acknowledged(self):
        return bool(self.ids)

    @property
    def first_id(self):
        return self.ids[0] if self.ids else None


class Worker:
    """One load thread with its own access token and random generator."""

    def __init__(self, index, seed, customer_id, token_info, foreign):
        self.index = index
        self.rng = random.Random("%d/worker/%d" % (seed, index))
        self.customer_id = customer_id
        self.access_token = token_info["token"]
        self.secret = token_info["signing_secret"]
        self.foreign = foreign       # (customer_id, token) of another merchant
        self.orders = []
        self.error = None


class CrashConsistency(unittest.TestCase):
    """One load run with SIGKILLs. Each test checks one property of its outcome."""

    @classmethod
    def setUpClass(cls):
        for binary in (harness.CITYPAYD, harness.CITYPAYCTL):
            if not os.access(binary, os.X_OK):
                raise AssertionError("%s is missing or not executable; build the project or"
                                     " set CITYPAY_BUILD_DIR" % binary)

        cls.seed = choose_seed()
        sys.stderr.write("crash test seed %d (CITYPAY_CRASH_SEED=%d replays it)\n"
                         % (cls.seed, cls.seed))
        cls.rng = random.Random("%d/main" % cls.seed)

        cls.started = time.monotonic()
        cls.wall_started = time.time()
        cls.phases = []
        cls.tmpdir = tempfile.mkdtemp(prefix="citypay-crash-")
        cls.db_path = os.path.join(cls.tmpdir, "citypay.db")
        cls.daemon = None
        cls.receiver = None
        cls.target = Target()
        cls.in_flight = 0
        cls.in_flight_lock = threading.Lock()
        cls.armed_pid = None
        cls.armed_lock = threading.Lock()
        cls.armed_fired = threading.Event()

        try:
            cls.prepare()
            cls.run_load()
            cls.check_running_daemon()
            cls.wait_deliveries()
            cls.stop_code = cls.daemon.stop()
            cls.target.set(None)
            cls.phase("final stop")
            cls.read_store()
            cls.arrivals = cls.receiver.callbacks()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.print_summary()

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            cls.daemon.stop()
            with open(os.path.join(cls.tmpdir, "citypayd.log"), "w") as f:
                f.write(cls.daemon.log_text())
            cls.daemon = None
        if cls.receiver is not None:
            cls.receiver.stop()
            cls.receiver = None
        if os.environ.get("CITYPAY_E2E_KEEP"):
            sys.stderr.write("kept %s\n" % cls.tmpdir)
        else:
            shutil.rmtree(cls.tmpdir, ignore_errors=True)

    @classmethod
    def phase(cls, name):
        cls.phases.append((name, time.monotonic() - cls.started))

    # -- the run ---------------------------------------------------------

    @classmethod
    def prepare(cls):
        """Create two merchants with two workers' tokens each, the receiver and the daemon."""
        run_cli(cls.db_path, "init")
        cls.receiver = SlowReceiver()
        base = "http://%s:%d" % (harness.LOOPBACK, cls.receiver.port)
        cls.callback_urls = [base + path for path in CALLBACK_PATHS]

        merchants = []
        for index, company in enumerate(MERCHANTS):
            info = run_cli(cls.db_path, "merchant", "add", "--company", company,
                           "--email", "crash-%d@example.com" % index)
            merchants.append(str(info["customer_id"]))
        owners = [merchants[i % len(merchants)] for i in range(WORKERS)]
        tokens = [harness.create_token(cls.db_path, owners[i], "load-%d" % i, cls.callback_urls)
                  for i in range(WORKERS)]

        cls.workers = []
        for i in range(WORKERS):
            # Workers alternate between the two merchants, so the next one is the other's.
            other = (i + 1) % WORKERS
            foreign = (owners[other], tokens[other]["token"])
            cls.workers.append(Worker(i, cls.seed, owners[i], tokens[i], foreign))

        cls.daemon = harness.Daemon(cls.db_path, None, DAEMON_ENV)
        cls.daemon.start()
        cls.target.set(cls.daemon.base_url)
        cls.phase("setup")

    @classmethod
    def run_load(cls):
        """Run the workers and the miner, kill and restart the daemon KILLS times."""
        cls.stop_load = threading.Event()
        cls.mines = []
        cls.miner_error = None
        cls.kills = []
        threads = [threading.Thread(target=cls.run_worker, args=(w,), daemon=True)
                   for w in cls.workers]
        threads.append(threading.Thread(target=cls.run_miner, daemon=True))
        for thread in threads:
            thread.start()

        modes = [KILL_IN_FLIGHT, KILL_AFTER_CREATED] * (KILLS // 2) + [KILL_IN_FLIGHT] * (KILLS % 2)
        cls.rng.shuffle(modes)
        try:
            for mode in modes:
                delay = cls.rng.uniform(*KILL_AFTER_S)
                time.sleep(delay)
                if mode == KILL_IN_FLIGHT:
                    cls.wait_in_flight()
                    struck = False
                else:
                    struck = cls.wait_armed_kill()
                cls.target.set(None)
                code = cls.daemon.kill()
                killed_at = time.monotonic() - cls.started
                # kill() has read the killed daemon's last lines, so later lines are the next run's.
                log_index = len(cls.daemon.lines)
                cls.daemon.start()
                cls.target.set(cls.daemon.base_url)
                cls.kills.append({"mode": mode, "struck_by_worker": struck, "after_s": delay,
                                  "at_s": killed_at, "exit": code, "log_index": log_index,
                                  "restart_s": time.monotonic() - cls.started - killed_at})
            time.sleep(FINAL_LOAD_S)
        finally:
            cls.stop_load.set()
            for thread in threads:
                thread.join(timeout=WORKER_JOIN_S)
        cls.stuck_threads = [t.name for t in threads if t.is_alive()]
        cls.phase("load with %d kills" % KILLS)

    @classmethod
    def wait_armed_kill(cls):
        """Let the next worker that receives a 201 kill the daemon. Return True if one did."""
        cls.armed_fired.clear()
        with cls.armed_lock:
            cls.armed_pid = cls.daemon.proc.pid
        fired = cls.armed_fired.wait(timeout=KILL_WAIT_S)
        # Disarmed before daemon.kill() reaps the process, so its pid is never reused here.
        with cls.armed_lock:
            cls.armed_pid = None
        return fired

    @classmethod
    def fire_armed_kill(cls):
        with cls.armed_lock:
            pid, cls.armed_pid = cls.armed_pid, None
            if pid is None:
                return
            os.kill(pid, signal.SIGKILL)
        cls.armed_fired.set()

    @classmethod
    def wait_in_flight(cls):
        """Wait a little for a request in flight, so that the kill can break one."""
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline:
            with cls.in_flight_lock:
                if cls.in_flight > 0:
                    return
            time.sleep(0.001)

    @classmethod
    def send(cls, method, path, **body):
        """Send one request and return (outcome, Response or None), waiting while no daemon runs."""
        unreachable_since = time.monotonic()
        while True:
            base = cls.target.get()
            if base is not None:
                with cls.in_flight_lock:
                    cls.in_flight += 1
                try:
                    resp = harness.http_request(base + path, method, timeout=REQUEST_TIMEOUT_S,
                                                **body)
                    return RESPONDED, resp
                except ConnectionRefusedError:
                    pass
                except (OSError, http.client.HTTPException):
                    return LOST, None
                finally:
                    with cls.in_flight_lock:
                        cls.in_flight -= 1
            if time.monotonic() - unreachable_since > UNREACHABLE_MAX_S:
                return GAVE_UP, None
            time.sleep(RETRY_PAUSE_S)

    @classmethod
    def send_retrying(cls, method, path, on_lost, **body):
        """Send until a response arrives, calling on_lost() for each broken connection."""
        for _ in range(LOST_RETRIES_MAX + 1):
            outcome, resp = cls.send(method, path, **body)
            if outcome == LOST:
                on_lost()
                continue
            return outcome, resp
        return GAVE_UP, None

    @classmethod
    def run_worker(cls, worker):
        count = 0
        try:
            while not cls.stop_load.is_set():
                count += 1
                cls.run_order(worker, count)
                time.sleep(worker.rng.uniform(*ORDER_PAUSE_S))
        except BaseException as exc:  # reported by test_workers_finished
            worker.error = "%s: %s" % (type(exc).__name__, exc)

    @classmethod
    def run_order(cls, worker, count):
        rng = worker.rng
        fields = {
            "customer_id": worker.customer_id,
            "access_token": worker.access_token,
            "order_id": "crash-%d-%d" % (worker.index, count),
            "order_token": "crash-%d-%d-%d" % (cls.seed, worker.index, count),
            "amount": "%d.%02d" % (rng.randint(1, 500), rng.randint(0, 99)),
        }
        draw = rng.random()
        if draw < PLAN_UNPAID_SHARE:
            plan = "unpaid"
        elif draw < PLAN_UNPAID_SHARE + PLAN_CHOSEN_SHARE:
            plan = "chosen"
        elif draw < PLAN_UNPAID_SHARE + PLAN_CHOSEN_SHARE + PLAN_CHOSEN_PAID_SHARE:
            plan = "chosen-paid"
        else:
            plan = "direct-paid"
        rec = OrderRecord(worker, fields, plan)
        worker.orders.append(rec)

        if rng.random() < ABANDON_SHARE:
            cls.abandon_order(rec)
        if not cls.create_order(rec):
            return
        if rng.random() < REPLAY_SHARE:
            cls.create_order(rec)
        if rng.random() < COLLISION_SHARE:
            cls.collide(rec)
        coin = rng.choice(COINS)
        if plan in ("chosen", "chosen-paid"):
            if not cls.choose_coin(rec, coin):
                return
        if plan == "chosen-paid":
            cls.pay(rec, coin)
        elif plan == "direct-paid":
            cls.pay(rec, rng.choice((None,) + COINS))

    @classmethod
    def create_order(cls, rec):
        """Send generateOrder until a response arrives. Return True on a success response."""
        def lost():
            rec.create_lost += 1

        outcome, resp = cls.send_retrying("POST", "/api/generateOrder", lost,
                                          json_body=rec.fields)
        if outcome != RESPONDED:
            rec.unexpected.append("generateOrder: %s" % outcome)
            return False
        body = resp.body if isinstance(resp.body, dict) else {}
        if resp.status not in (200, 201) or body.get("success") is not True:
            rec.unexpected.append("generateOrder returned %r" % resp)
            return False
        if resp.status == 201:
            cls.fire_armed_kill()
        rec.ids.append(body["data"]["id"])
        rec.replay_flags.append(resp.header("idempotent-replayed") == "true")
        if resp.status == 200 and not rec.replay_flags[-1]:
            rec.unexpected.append("generateOrder returned 200 without Idempotent-Replayed:"
                                  " %r" % resp)
        return True

    @classmethod
    def abandon_order(cls, rec):
        """Send generateOrder and close the connection without reading the response."""
        base = cls.target.get()
        if base is None:
            return
        parts = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.request("POST", "/api/generateOrder", body=json.dumps(rec.fields).encode(),
                         headers={"Content-Type": "application/json"})
            rec.create_abandoned += 1
        except OSError:
            pass
        finally:
            conn.close()

    @classmethod
    def collide(cls, rec):
        """Send this order_token with another merchant's token, which must be rejected."""
        customer_id, token = rec.worker.foreign
        fields = dict(rec.fields, customer_id=customer_id, access_token=token,
                      order_id=rec.fields["order_id"] + "-other")
        outcome, resp = cls.send("POST", "/api/generateOrder", json_body=fields)
        if outcome == RESPONDED and resp.status != 422:
            rec.unexpected.append("another merchant's generateOrder with this order_token"
                                  " returned %r, expected 422" % resp)

    @classmethod
    def choose_coin(cls, rec, coin):
        """Choose the coin on the payment page. Return True when the choice is acknowledged."""
        def lost():
            rec.choose_lost += 1

        outcome, resp = cls.send_retrying("POST", "/invoice/coin", lost,
                                          form={"token": rec.token, "coin": coin})
        if outcome != RESPONDED:
            rec.unexpected.append("POST /invoice/coin %s: %s" % (coin, outcome))
            return False
        if resp.status != 303:
            rec.unexpected.append("POST /invoice/coin %s returned %r" % (coin, resp))
            return False
        rec.choose_ok += 1
        rec.coin = coin
        return True

    @classmethod
    def pay(cls, rec, coin):
        """Pay the rest of the order on the sandbox chain. With coin None the daemon chooses."""
        def lost():
            rec.pay_lost += 1

        fields = {"token": rec.token}
        if coin is not None:
            fields["coin"] = coin
        outcome, resp = cls.send_retrying("POST", "/sandbox/pay", lost, json_body=fields)
        if outcome != RESPONDED:
            rec.unexpected.append("POST /sandbox/pay %s: %s" % (fields, outcome))
            return
        if resp.status == 201 and isinstance(resp.body, dict):
            rec.pay_hashes.append(resp.body["data"]["hash"])
            rec.coin = resp.body["data"]["coin"]
            return
        # A retried payment finds the order paid when the lost one was committed.
        already_paid = resp.status == 422 and "already paid in full" in resp.text
        if not (already_paid and rec.pay_lost > 0):
            rec.unexpected.append("POST /sandbox/pay %s returned %r" % (fields, resp))

    @classmethod
    def run_miner(cls):
        rng = random.Random("%d/miner" % cls.seed)
        try:
            while not cls.stop_load.is_set():
                time.sleep(rng.uniform(0.05, 0.25))
                blocks = rng.randint(1, 3)
                outcome, resp = cls.send("POST", "/sandbox/mine", json_body={"blocks": blocks})
                height = None
                if outcome == RESPONDED and resp.status == 200 and isinstance(resp.body, dict):
                    height = resp.body["data"]["height"]
                elif outcome == RESPONDED:
                    outcome = "returned %r" % resp
                cls.mines.append((blocks, outcome, height))
        except BaseException as exc:  # reported by test_workers_finished
            cls.miner_error = "%s: %s" % (type(exc).__name__, exc)

    @classmethod
    def check_running_daemon(cls):
        """Read every acknowledged order and replay its generateOrder on the last daemon."""
        acknowledged = [rec for w in cls.workers for rec in w.orders if rec.acknowledged]

        def view(rec):
            resp = harness.http_request(
                cls.daemon.base_url + "/order/" + urllib.parse.quote(rec.token, safe=""),
                timeout=REQUEST_TIMEOUT_S)
            return rec.token, resp

        def replay(rec):
            resp = harness.http_request(cls.daemon.base_url + "/api/generateOrder", "POST",
                                        json_body=rec.fields, timeout=REQUEST_TIMEOUT_S)
            return rec.token, resp

        with concurrent.futures.ThreadPoolExecutor(CHECK_THREADS) as pool:
            cls.views = dict(pool.map(view, acknowledged))
            cls.replays = dict(pool.map(replay, acknowledged))
        cls.phase("reads and replays of %d orders" % len(acknowledged))

    @classmethod
    def open_store(cls, read_only):
        if read_only:
            uri = "file:%s?mode=ro" % urllib.parse.quote(cls.db_path)
            db = sqlite3.connect(uri, uri=True, timeout=REQUEST_TIMEOUT_S)
        else:
            db = sqlite3.connect(cls.db_path, timeout=REQUEST_TIMEOUT_S)
        db.row_factory = sqlite3.Row
        return db

    @classmethod
    def wait_deliveries(cls):
        """Wait until the daemon has recorded every callback delivery as delivered."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        db = cls.open_store(read_only=True)
        try:
            while True:
                left = db.execute("SELECT COUNT(*) FROM callback_deliveries"
                                  " WHERE state <> 'delivered'").fetchone()[0]
                if left == 0 or time.monotonic() > deadline:
                    break
                time.sleep(harness.POLL_INTERVAL_S)
            cls.undelivered = [dict(row) for row in db.execute(
                "SELECT d.id, e.event_id, e.order_id, e.sequence, d.url, d.state, d.attempts,"
                " d.next_attempt_at, d.last_error FROM callback_deliveries d"
                " JOIN callback_events e ON e.id = d.event_id"
                " WHERE d.state <> 'delivered' ORDER BY d.id")]
        finally:
            db.close()
        cls.phase("callback delivery")

    @classmethod
    def read_store(cls):
        """Read the tables the tests check from the SQLite file of the stopped daemon."""
        db = cls.open_store(read_only=False)
        try:
            cls.integrity = [tuple(row) for row in db.execute("PRAGMA integrity_check")]
            cls.foreign_keys = [tuple(row) for row in db.execute("PRAGMA foreign_key_check")]
            cls.orders = [dict(row) for row in db.execute("SELECT * FROM orders ORDER BY id")]
            cls.duplicates = [dict(row) for row in db.execute(
                "SELECT merchant_id, token, COUNT(*) AS copies FROM orders"
                " GROUP BY merchant_id, token HAVING COUNT(*) > 1")]
            cls.tokens = {row["id"]: dict(row) for row in db.execute(
                "SELECT id, merchant_id, name, callback_urls FROM access_tokens")}
            cls.events = collections.defaultdict(list)
            cls.stray_events = []
            for row in db.execute("SELECT * FROM callback_events ORDER BY sequence, id"):
                if row["order_id"] is None:
                    cls.stray_events.append(dict(row))
                else:
                    cls.events[row["order_id"]].append(dict(row))
            cls.deliveries = collections.defaultdict(list)
            for row in db.execute("SELECT * FROM callback_deliveries ORDER BY id"):
                cls.deliveries[row["event_id"]].append(dict(row))
            cls.transactions = collections.defaultdict(list)
            cls.stray_transactions = []
            for row in db.execute("SELECT * FROM transactions ORDER BY id"):
                if row["order_id"] is None:
                    cls.stray_transactions.append(dict(row))
                else:
                    cls.transactions[row["order_id"]].append(dict(row))
            cls.height = db.execute("SELECT height FROM chain_state"
                                    " WHERE chain = 'sandbox'").fetchone()[0]
        finally:
            db.close()
        cls.order_by_token = {order["token"]: order for order in cls.orders}
        cls.phase("store read")

    @classmethod
    def print_summary(cls):
        records = [rec for w in cls.workers for rec in w.orders]
        acknowledged = [rec for rec in records if rec.acknowledged]
        lost_then_replayed = [rec for rec in acknowledged if rec.create_lost > 0
                              and rec.replay_flags[0]]
        abandoned_then_replayed = [rec for rec in acknowledged if rec.create_abandoned > 0
                                   and rec.replay_flags[0]]
        lines = [
            "crash test seed %d: %d kills at %s" % (
                cls.seed, len(cls.kills),
                ", ".join("%.2f s (%s%s, restart %.2f s)"
                          % (k["at_s"], k["mode"],
                             "" if k["mode"] == KILL_IN_FLIGHT or k["struck_by_worker"]
                             else " not seen", k["restart_s"])
                          for k in cls.kills)),
            "orders: %d sent, %d acknowledged, %d stored; %d responses lost to a kill, after"
            " which %d orders were acknowledged as a replay; %d responses abandoned, after"
            " which %d were acknowledged as a replay; %d orders replayed at once on purpose" % (
                len(records), len(acknowledged), len(cls.orders),
                sum(rec.create_lost for rec in records), len(lost_then_replayed),
                sum(rec.create_abandoned for rec in records), len(abandoned_then_replayed),
                sum(1 for rec in acknowledged if len(rec.ids) > 1)),
            "coin choices: %d acknowledged, %d lost; payments: %d acknowledged, %d lost;"
            " blocks: height %d after %d acknowledged mines" % (
                sum(rec.choose_ok for rec in records), sum(rec.choose_lost for rec in records),
                sum(len(rec.pay_hashes) for rec in records),
                sum(rec.pay_lost for rec in records), cls.height,
                sum(1 for mine in cls.mines if mine[1] == RESPONDED)),
            "store: %d events, %d deliveries; %d callbacks received, %d of them repeated,"
            " the last at %.1f s" % (
                sum(len(events) for events in cls.events.values()),
                sum(len(rows) for rows in cls.deliveries.values()), len(cls.arrivals),
                len(cls.arrivals) - len({(c.path, c.get("event_id")) for c in cls.arrivals}),
                max((c.received_at for c in cls.arrivals), default=cls.wall_started)
                - cls.wall_started),
            "phases: " + ", ".join("%s until %.1f s" % phase for phase in cls.phases),
        ]
        sys.stderr.write("\n".join(lines) + "\n")

    # -- evidence --------------------------------------------------------

    def daemon_lines(self, token, order_id=None):
        """Daemon log lines about one order, each with the daemon run it came from."""
        # The lookahead keeps crash-1-1 from matching crash-1-10.
        patterns = [re.escape(token) + r"(?![\w.-])"]
        if order_id is not None:
            patterns.append(r"\border_id=%d\b" % order_id)
        pattern = re.compile("|".join(patterns))
        lines = self.daemon.lines
        starts = [kill["log_index"] for kill in self.kills]
        found = []
        for index, line in enumerate(lines):
            if pattern.search(line):
                run = sum(1 for start in starts if start <= index) + 1
                found.append("  run %d: %s" % (run, line))
        return "\n".join(found[-LOG_LINES_SHOWN:]) or "  (no log lines)"

    def describe(self, rec, problem):
        order = self.order_by_token.get(rec.token)
        order_id = order["id"] if order else rec.first_id
        text = ("order_token %s (worker %d, plan %s, acknowledged ids %r, lost responses %d,"
                " abandoned %d, coin choices %d acknowledged %d lost, payments %r, %d lost): %s"
                % (rec.token, rec.worker.index, rec.plan, rec.ids, rec.create_lost,
                   rec.create_abandoned, rec.choose_ok, rec.choose_lost, rec.pay_hashes,
                   rec.pay_lost, problem))
        return Problem(text, lambda: self.daemon_lines(rec.token, order_id))

    def assert_no_problems(self, what, problems):
        if problems:
            self.fail(format_problems(what, problems, self.seed))

    def records(self):
        return [rec for w in self.workers for rec in w.orders]

    # -- the run itself --------------------------------------------------

    def test_workers_finished(self):
        problems = ["worker %d stopped: %s" % (w.index, w.error) for w in self.workers
                    if w.error]
        if self.miner_error:
            problems.append("the miner stopped: %s" % self.miner_error)
        problems += ["thread %s still runs after %.0f s" % (name, WORKER_JOIN_S)
                     for name in self.stuck_threads]
        self.assert_no_problems("load threads failed", problems)

    def test_kills_interrupted_requests(self):
        lost = sum(rec.create_lost + rec.choose_lost + rec.pay_lost for rec in self.records())
        lost += sum(1 for mine in self.mines if mine[1] == LOST)
        self.assertEqual(len(self.kills), KILLS, "kills: %r" % self.kills)
        for kill in self.kills:
            self.assertEqual(kill["exit"], -9, "the daemon was not killed by SIGKILL: %r" % kill)
        self.assertGreater(lost, 0, "no request lost its response, so the kills tested nothing")
        for kill in self.kills:
            if kill["mode"] == KILL_AFTER_CREATED:
                self.assertTrue(kill["struck_by_worker"], "no generateOrder returned 201 within"
                                " %.1f s before this kill: %r" % (KILL_WAIT_S, kill))

    def test_responses_as_expected(self):
        problems = [self.describe(rec, text) for rec in self.records() for text in rec.unexpected]
        problems += ["POST /sandbox/mine of %d blocks: %s" % (blocks, outcome)
                     for blocks, outcome, _ in self.mines if outcome not in (RESPONDED, LOST)]
        self.assert_no_problems("unexpected responses", problems)

    def test_daemon_stopped_cleanly(self):
        self.assertEqual(self.stop_code, 0, "citypayd exited with %r on SIGTERM after the run"
                         % self.stop_code)

    # -- the store -------------------------------------------------------

    def test_integrity_check(self):
        self.assertEqual(self.integrity, [("ok",)],
                         "PRAGMA integrity_check (seed %d): %r" % (self.seed, self.integrity))

    def test_foreign_key_check(self):
        self.assertEqual(self.foreign_keys, [],
                         "PRAGMA foreign_key_check (seed %d): %r" % (self.seed, self.foreign_keys))

    def test_acknowledged_orders_stored(self):
        problems = []
        for rec in self.records():
            if not rec.acknowledged:
                continue
            order = self.order_by_token.get(rec.token)
            if order is None:
                problems.append(self.describe(rec, "acknowledged but not in the store"))
                continue
            if set(rec.ids) != {order["id"]}:
                problems.append(self.describe(rec, "acknowledged with ids %r, stored with id %d"
                                              % (rec.ids, order["id"])))
            if str(order["merchant_id"]) != rec.worker.customer_id:
                problems.append(self.describe(rec, "stored for merchant %r, sent by %r"
                                              % (order["merchant_id"], rec.worker.customer_id)))
            if order["client_order_id"] != rec.fields["order_id"]:
                problems.append(self.describe(rec, "stored order_id %r, sent %r"
                                              % (order["client_order_id"], rec.fields["order_id"])))
            if order["amount_fiat"] != minor_units(rec.fields["amount"]):
                problems.append(self.describe(rec, "stored amount %r minor units, sent %s"
                                              % (order["amount_fiat"], rec.fields["amount"])))
        self.assert_no_problems("acknowledged orders missing or changed", problems)

    def test_no_unknown_orders(self):
        sent = {rec.token for rec in self.records()}
        problems = ["order %r with order_token %r was never sent" % (order["id"], order["token"])
                    for order in self.orders if order["token"] not in sent]
        self.assert_no_problems("orders in the store that no worker sent", problems)

    def test_no_duplicate_orders(self):
        self.assert_no_problems("orders stored twice for one merchant and order_token",
                                [repr(row) for row in self.duplicates])
        counts = collections.Counter(order["token"] for order in self.orders)
        self.assert_no_problems("order_tokens stored more than once",
                                ["%s: %d orders" % (token, n) for token, n in counts.items()
                                 if n > 1])

    def test_replays_return_one_order(self):
        problems = []
        for rec in self.records():
            if not rec.acknowledged:
                continue
            resp = self.replays[rec.token]
            if resp.status != 200 or resp.header("idempotent-replayed") != "true":
                problems.append(self.describe(rec, "the replay after the run returned %r"
                                              % resp))
            elif resp.body["data"]["id"] != rec.first_id:
                problems.append(self.describe(rec, "the replay after the run returned id %r"
                                              % resp.body["data"]["id"]))
            if len(rec.ids) > 1 and not all(rec.replay_flags[1:]):
                problems.append(self.describe(rec, "a repeated request got no"
                                              " Idempotent-Replayed: true: %r"
                                              % rec.replay_flags))
        self.assert_no_problems("replays that did not return the stored order", problems)

    def test_payments_stored(self):
        problems = []
        for rec in self.records():
            order = self.order_by_token.get(rec.token)
            stored = set()
            if order is not None:
                stored = {tx["hash"] for tx in self.transactions.get(order["id"], [])}
            for tx_hash in rec.pay_hashes:
                if tx_hash not in stored:
                    problems.append(self.describe(rec, "payment %s acknowledged but not stored"
                                                  % tx_hash))
            if order is not None and rec.coin is not None and order["coin"] != rec.coin:
                problems.append(self.describe(rec, "stored coin %r, acknowledged coin %r"
                                              % (order["coin"], rec.coin)))
        problems += ["transaction without an order: %r" % tx for tx in self.stray_transactions]
        self.assert_no_problems("acknowledged payments missing", problems)

    def test_mined_blocks_stored(self):
        heights = [height for _, outcome, height in self.mines if outcome == RESPONDED]
        sent = sum(blocks for blocks, outcome, _ in self.mines if outcome in (RESPONDED, LOST))
        self.assertTrue(heights, "no POST /sandbox/mine was acknowledged: %r" % self.mines[:20])
        self.assertEqual(heights, sorted(set(heights)),
                         "acknowledged heights went down, so an acknowledged block was lost"
                         " (seed %d): %r" % (self.seed, heights))
        self.assertGreaterEqual(self.height, heights[-1],
                                "stored height %d is below the last acknowledged height %d"
                                " (seed %d)" % (self.height, heights[-1], self.seed))
        self.assertLessEqual(self.height, sent,
                             "stored height %d is above the %d blocks requested (seed %d)"
                             % (self.height, sent, self.seed))

    def test_confirmations_match_height(self):
        problems = []
        for txs in self.transactions.values():
            for tx in txs:
                required = REQUIRED_CONFIRMATIONS[tx["coin"]]
                if bool(tx["confirmed"]) != (tx["confirmations"] >= required):
                    problems.append("transaction %s: confirmed=%r with %d of %d confirmations"
                                    % (tx["hash"], tx["confirmed"], tx["confirmations"], required))
                if tx["block_height"] is None:
                    if tx["confirmations"] != 0:
                        problems.append("unmined transaction %s has %d confirmations"
                                        % (tx["hash"], tx["confirmations"]))
                elif not tx["confirmed"] and \
                        tx["confirmations"] != self.height - tx["block_height"] + 1:
                    problems.append("transaction %s in block %d has %d confirmations at height"
                                    " %d" % (tx["hash"], tx["block_height"], tx["confirmations"],
                                             self.height))
        self.assert_no_problems("transactions whose confirmations disagree with the chain",
                                problems)

    # -- events ----------------------------------------------------------

    def event_problems(self, order):
        """Compare an order's events with the state changes its stored rows show.

        Orders here are paid in full at most once, so an order's actions are
        one or more order_created (one per committed coin choice), then
        transaction_received when its payment is stored, then confirmation
        when that payment is confirmed.
        """
        events = self.events.get(order["id"], [])
        txs = self.transactions.get(order["id"], [])
        actions = [event["action"] for event in events]
        problems = []

        sequences = [event["sequence"] for event in events]
        if sequences != list(range(1, len(events) + 1)):
            problems.append("event sequences %r are not 1..%d" % (sequences, len(events)))
        if order["event_sequence"] != len(events):
            problems.append("orders.event_sequence is %d with %d events"
                            % (order["event_sequence"], len(events)))

        if order["coin"] is None:
            expected = []
        else:
            created = sum(1 for action in actions if action == "order_created")
            expected = ["order_created"] * max(created, 1)
            for tx in txs:
                expected.append("transaction_received")
                if tx["confirmed"]:
                    expected.append("confirmation")
        if len(txs) > 1:
            problems.append("%d transactions for one payment in full: %r"
                            % (len(txs), [tx["hash"] for tx in txs]))
        if actions != expected:
            problems.append("actions %r, expected %r for coin %r and transactions %r"
                            % (actions, expected, order["coin"],
                               [(tx["hash"], tx["confirmed"]) for tx in txs]))

        bodies = [json.loads(event["body"]) for event in events]
        for event, body in zip(events, bodies):
            problems += self.body_problems(order, event, body, txs)
        last_status = bodies[-1]["status"] if bodies else "IN_PROGRESS"
        if order["status"] != last_status:
            problems.append("status %s, but the last event reports %s"
                            % (order["status"], last_status))
        return problems

    def body_problems(self, order, event, body, txs):
        """Check one event body against its row and the order's stored state."""
        problems = []
        expected = {
            "type": "order", "action": event["action"], "event_id": event["event_id"],
            "sequence": event["sequence"], "order_id": order["id"],
            "order_token": order["token"], "client_order_id": order["client_order_id"],
        }
        for key, value in expected.items():
            if body.get(key) != value:
                problems.append("event %s has %s %r, expected %r"
                                % (event["event_id"], key, body.get(key), value))
        if event["token_id"] != order["token_id"]:
            problems.append("event %s belongs to token %r, the order to %r"
                            % (event["event_id"], event["token_id"], order["token_id"]))
        status_of = {"order_created": "IN_PROGRESS", "transaction_received": "PAID_UNCONFIRMED",
                     "confirmation": "CONFIRMED"}
        if body.get("status") != status_of.get(event["action"]):
            problems.append("event %s (%s) reports status %r"
                            % (event["event_id"], event["action"], body.get("status")))
        if event["action"] == "order_created" and body.get("crypto_currency") != order["coin"]:
            problems.append("event %s chose %r, the order has coin %r"
                            % (event["event_id"], body.get("crypto_currency"), order["coin"]))
        if event["action"] != "order_created" and \
                body.get("transaction_id") not in {tx["hash"] for tx in txs}:
            problems.append("event %s (%s) names transaction %r, not one of the order's"
                            % (event["event_id"], event["action"], body.get("transaction_id")))
        return problems

    def test_state_changes_have_events(self):
        problems = []
        for order in self.orders:
            for text in self.event_problems(order):
                problems.append(Problem(
                    "order %d (%s, status %s): %s" % (order["id"], order["token"],
                                                      order["status"], text),
                    lambda order=order: self.daemon_lines(order["token"], order["id"])))
        problems += ["event without an order: %r" % event for event in self.stray_events]
        self.assert_no_problems("orders whose events do not match their state changes",
                                problems)

    def test_coin_choices_counted(self):
        """Each acknowledged coin choice commits one order_created event, a lost one at most one."""
        problems = []
        for rec in self.records():
            order = self.order_by_token.get(rec.token)
            if order is None:
                continue
            created = sum(1 for event in self.events.get(order["id"], [])
                          if event["action"] == "order_created")
            if rec.plan in ("chosen", "chosen-paid"):
                low, high = rec.choose_ok, rec.choose_ok + rec.choose_lost
            else:
                low = high = len(self.transactions.get(order["id"], []))
            if not low <= created <= high:
                problems.append(self.describe(rec, "%d order_created events, expected %d to %d"
                                              % (created, low, high)))
        self.assert_no_problems("orders with a wrong number of coin choice events", problems)

    def test_events_have_deliveries(self):
        problems = []
        for order in self.orders:
            urls = [url for url in self.tokens[order["token_id"]]["callback_urls"].split("\n")
                    if url]
            if sorted(urls) != sorted(self.callback_urls):
                problems.append("token %d has callback URLs %r, created with %r"
                                % (order["token_id"], urls, self.callback_urls))
            for event in self.events.get(order["id"], []):
                rows = self.deliveries.get(event["id"], [])
                delivered = sorted(row["url"] for row in rows)
                if delivered != sorted(urls):
                    problems.append("event %s of order %s has deliveries to %r, expected one"
                                    " to each of %r" % (event["event_id"], order["token"],
                                                        delivered, urls))
        self.assert_no_problems("events without one delivery per callback URL", problems)

    # -- the restarted daemon ---------------------------------------------

    def test_orders_served_after_restart(self):
        problems = []
        for rec in self.records():
            if not rec.acknowledged:
                continue
            resp = self.views[rec.token]
            order = self.order_by_token.get(rec.token)
            if resp.status != 200 or not isinstance(resp.body, dict):
                problems.append(self.describe(rec, "GET /order returned %r" % resp))
                continue
            data = resp.body["data"]
            if data.get("id") != rec.first_id or data.get("token") != rec.token:
                problems.append(self.describe(rec, "GET /order returned id %r token %r"
                                              % (data.get("id"), data.get("token"))))
            if order is not None and data["status"]["code"] != order["status"]:
                problems.append(self.describe(rec, "GET /order returned status %r, stored %r"
                                              % (data["status"]["code"], order["status"])))
        self.assert_no_problems("acknowledged orders not served after the last restart",
                                problems)

    def test_callbacks_delivered(self):
        problems = ["delivery %r was not delivered within %.0f s" % (row, DELIVERY_WAIT_S)
                    for row in self.undelivered]
        arrived = collections.defaultdict(list)
        for callback in self.arrivals:
            arrived[(urllib.parse.urlsplit(callback.path).path, callback.get("event_id"))] \
                .append(callback)
        stored = set()
        for order in self.orders:
            for event in self.events.get(order["id"], []):
                for row in self.deliveries.get(event["id"], []):
                    path = urllib.parse.urlsplit(row["url"]).path
                    stored.add((path, event["event_id"]))
                    received = arrived.get((path, event["event_id"]), [])
                    if not received:
                        problems.append("event %s (order %s, sequence %d) never reached %s"
                                        % (event["event_id"], order["token"],
                                           event["sequence"], row["url"]))
                    for callback in received:
                        if callback.raw != event["body"].encode("utf-8"):
                            problems.append("event %s reached %s with other bytes than stored:"
                                            " %r" % (event["event_id"], path, callback.raw[:300]))
        problems += ["callback %r arrived at %s for an event that is not stored" % (c, key[0])
                     for key, callbacks in arrived.items() if key not in stored
                     for c in callbacks[:1]]
        self.assert_no_problems("callbacks missing or changed", problems)

    def test_callbacks_in_sequence_order(self):
        problems = []
        worker_of = {rec.token: rec.worker for rec in self.records()}
        by_order = collections.defaultdict(list)
        for callback in self.arrivals:
            path = urllib.parse.urlsplit(callback.path).path
            by_order[(callback.get("order_token"), path)].append(callback)
        for (token, path), callbacks in by_order.items():
            sequences = [c.get("sequence") for c in callbacks]
            if not all(isinstance(sequence, int) for sequence in sequences):
                problems.append("callbacks of %s reached %s with sequences %r"
                                % (token, path, sequences))
            elif sequences != sorted(sequences):
                problems.append("callbacks of %s reached %s in sequence order %r"
                                % (token, path, sequences))
            worker = worker_of.get(token)
            for callback in callbacks:
                reason = harness.verify_signature(callback, worker.secret) if worker else \
                    "unknown order_token"
                if reason:
                    problems.append("callback %r: %s" % (callback, reason))
        self.assert_no_problems("callbacks out of order or badly signed", problems)


if __name__ == "__main__":
    unittest.main()
