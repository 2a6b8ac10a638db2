"""Count callback deliveries as the daemon marks them delivered.

Usage: python3 bench/callback_watch.py DB EXPECTED TIMEOUT_S

Polls callback_deliveries every 20 ms until EXPECTED rows are 'delivered'
or TIMEOUT_S seconds pass. Then prints one JSON object: the count, the
seconds from the start of the watch, and the rate from the first sample
that saw a delivery to the last sample. That rate leaves out the daemon's
start-up. Start the watch just before the daemon.
"""

import json
import sqlite3
import sys
import time

POLL_INTERVAL_S = 0.02
QUERY = "SELECT count(*) FROM callback_deliveries WHERE state = 'delivered'"


def main():
    db_path, expected, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    # Only reads; WAL lets it run beside the daemon's writes.
    conn = sqlite3.connect(db_path, timeout=5)
    start = time.monotonic()
    first_t, first_n, last_t, delivered = None, 0, start, 0

    while delivered < expected and time.monotonic() - start < timeout_s:
        delivered = conn.execute(QUERY).fetchone()[0]
        last_t = time.monotonic()
        if first_t is None and delivered > 0:
            first_t, first_n = last_t, delivered
        time.sleep(POLL_INTERVAL_S)

    steady = (delivered - first_n) / (last_t - first_t) if first_t and last_t > first_t else None
    print(json.dumps({
        "events": expected,
        "delivered": delivered,
        "seconds": round(last_t - start, 3),
        "delivered_per_s": None if steady is None else round(steady, 1),
        "overall_per_s": round(delivered / (last_t - start), 1) if last_t > start else None,
        "timed_out": delivered < expected,
    }))


if __name__ == "__main__":
    main()
