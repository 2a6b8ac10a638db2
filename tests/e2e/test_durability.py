"""Durability order: no success response before its commit is synced.

The writer connection commits with synchronous=NORMAL, which writes a batch
into the WAL file without syncing it, and the leader of a group commit then
syncs the WAL with fdatasync() (src/store.c). The response of a write must
come after that sync. This test runs citypayd under strace, which records
every write to the WAL with the bytes written, every sync and every response
send. It sends write requests one at a time. For each 201 Created it finds
the first write into the WAL that contains the new order's token: the commit
of that order. It then checks that a sync of the WAL finished after that
write and before the response left.

In a pool, the store's committer thread commits and syncs a new order while
the pool thread serves other connections. With a thread per connection, the
request's own thread commits and syncs. The check holds for either thread.
"""

import os
import re
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

REQUESTS = 12
STRACE = shutil.which("strace")
# One traced line: "TID name(args" and the rest, or "TID <... name resumed>".
LINE = re.compile(r"^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
WAL_FD = re.compile(r"^\d+<[^>]*-wal>")
SOCKET_FD = re.compile(r"^\d+<(?:socket|TCP|TCPv6):")


def parse_trace(path):
    """Return the events of a strace -f -y log, in order.

    Each event is (kind, tid, text): "wal_write" when a write to the WAL
    began, "wal_sync" when a sync of the WAL finished, "send" when a write to
    a socket began, with the traced line as text.
    """
    events = []
    pending_sync = set()
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            tid = int(m.group(1))
            resumed, name, rest = m.group(2), m.group(3), m.group(4)
            if resumed is not None:
                if resumed in ("fdatasync", "fsync") and tid in pending_sync:
                    pending_sync.discard(tid)
                    if rest.rstrip().endswith("= 0"):
                        events.append(("wal_sync", tid, line))
                continue
            on_wal = WAL_FD.match(rest) is not None
            if name in ("pwrite64", "write", "writev") and on_wal:
                events.append(("wal_write", tid, line))
            elif name in ("fdatasync", "fsync") and on_wal:
                if rest.endswith("<unfinished ...>"):
                    pending_sync.add(tid)
                elif rest.rstrip().endswith("= 0"):
                    events.append(("wal_sync", tid, line))
            elif name in ("write", "writev", "sendto", "sendmsg") and SOCKET_FD.match(rest):
                events.append(("send", tid, line))
    return events


@unittest.skipIf(STRACE is None, "strace is not installed (make test installs it)")
@unittest.skipIf(harness.WRAPPER, "citypayd runs under CITYPAY_E2E_WRAPPER, which strace "
                 "cannot trace through")
class DurabilityOrderTest(harness.GatewayTestCase):

    # LeakSanitizer cannot run under ptrace, so it makes a sanitizer build
    # exit with 1 at the end. The other tests check for leaks.
    daemon_env = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                          "detect_leaks=0"]))}

    @classmethod
    def wrapper_argv(cls):
        cls.trace_path = os.path.join(cls.tmpdir, "strace.log")
        # The string size covers a whole database page, so that a WAL
        # write shows every row it contains.
        return [STRACE, "-f", "-qq", "-y", "-s", "65536", "-o", cls.trace_path,
                "-e", "trace=pwrite64,write,writev,sendto,sendmsg,fdatasync,fsync"]

    def stop_traced_daemon(self):
        """Send SIGTERM to citypayd itself and wait until strace exits.

        strace blocks fatal signals for itself when it starts a program
        with -o (option -I in strace(1)), so the harness's SIGTERM to strace
        would leave citypayd running.
        """
        strace_pid = self.daemon.proc.pid
        with open("/proc/%d/task/%d/children" % (strace_pid, strace_pid)) as f:
            children = [int(pid) for pid in f.read().split()]
        self.assertEqual(len(children), 1, "strace runs %d processes" % len(children))
        os.kill(children[0], signal.SIGTERM)
        self.assertEqual(self.daemon.stop(), 0, "citypayd did not exit cleanly")

    def test_created_after_wal_sync(self):
        order_tokens = []
        for _ in range(REQUESTS):
            fields, data = self.create_order()
            order_tokens.append(fields["order_token"])
        # The daemon must exit for strace to finish its log.
        self.stop_traced_daemon()

        events = parse_trace(self.trace_path)
        responses = [i for i, (kind, _, text) in enumerate(events)
                     if kind == "send" and "HTTP/1.1 201" in text]
        self.assertEqual(len(responses), REQUESTS,
                         "expected %d responses with status 201 in the trace, found %d"
                         % (REQUESTS, len(responses)))
        for n, i in enumerate(responses):
            token = order_tokens[n]
            writes = [j for j in range(i) if events[j][0] == "wal_write" and token in events[j][2]]
            self.assertTrue(writes, "response %d (order %s) left before any write into the WAL "
                            "contained the order" % (n + 1, token))
            commit = writes[0]
            synced = any(events[j][0] == "wal_sync" for j in range(commit + 1, i))
            self.assertTrue(synced, "response %d (order %s) left before any sync of the WAL "
                            "after its commit was written:\n%s\n%s"
                            % (n + 1, token, events[commit][2][:200], events[i][2][:200]))


class DurabilityOrderThreadPerConnectionTest(DurabilityOrderTest):
    """The same with one HTTP thread per connection (server.threads = 0)."""

    config_text = "[server]\nthreads = 0\n"


if __name__ == "__main__":
    unittest.main(verbosity=2)
