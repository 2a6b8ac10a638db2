"""Summarise the measurements of scripts/bench.sh.

Reads the wrk runs (JSON lines), the microbenchmarks (JSON lines) and one
JSON document with the callback, memory and seeding results and the machine
description. Writes the results as Markdown and JSON, prints the summary
table, and with --docs replaces the summary between the markers in
docs/BENCHMARKS.md.

Usage: python3 bench/report.py --runs FILE --micro FILE --facts FILE
           --markdown OUT.md --json OUT.json [--docs docs/BENCHMARKS.md]
"""

import argparse
import json
import os
import statistics
import sys

DOCS_BEGIN = "<!-- bench-summary:begin -->"
DOCS_END = "<!-- bench-summary:end -->"

# Workloads run in every round beside the nginx baseline.
ROUND_WORKLOADS = ("nginx", "mhd_floor", "mhd_lookup", "mhd_insert", "healthz",
                   "generate_order", "get_order")

# Workloads in the order of the tables, with the names shown.
WORKLOADS = (
    ("nginx", "nginx baseline, GET / (150-byte JSON)"),
    ("mhd_floor", "libmicrohttpd alone, GET / (the same body, bench/mhd_floor.c)"),
    ("mhd_lookup", "libmicrohttpd and the order lookup, GET /order/{token} (the same body,"
     " bench/mhd_floor.c --store)"),
    ("mhd_insert", "libmicrohttpd and the durable order insert, POST (the same body with 201,"
     " bench/mhd_floor.c --store --insert)"),
    ("healthz", "GET /healthz, no store access (the HTTP layer alone)"),
    ("generate_order", "POST /api/generateOrder"),
    ("get_order", "GET /order/{token}, 100,000 orders"),
    ("get_order_large", "GET /order/{token}, large store"),
)


def read_json_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise_workloads(runs):
    """Medians per workload, and ratios to nginx taken round by round."""
    by_workload = {}
    for run in runs:
        by_workload.setdefault(run["workload"], []).append(run)

    nginx_by_round = {r["round"]: r["wrk"]["requests_per_s"] for r in by_workload.get("nginx", [])}
    summary = {}
    for name, items in by_workload.items():
        # The large-store run comes minutes after the rounds, with no nginx
        # run beside it, so it gets no ratio.
        ratios = [r["wrk"]["requests_per_s"] / nginx_by_round[r["round"]]
                  for r in items if name in ROUND_WORKLOADS and nginx_by_round.get(r["round"])]
        errors = {key: sum(r["wrk"]["errors"][key] for r in items)
                  for key in ("connect", "read", "write", "status", "timeout")}
        summary[name] = {
            "runs": len(items),
            "requests_per_s": median_or_none(r["wrk"]["requests_per_s"] for r in items),
            "p50_ms": median_or_none(r["wrk"]["latency_us"]["p50"] / 1000 for r in items),
            "p99_ms": median_or_none(r["wrk"]["latency_us"]["p99"] / 1000 for r in items),
            "ratio_to_nginx": median_or_none(ratios),
            "switches_per_request": median_or_none(
                r["context_switches"] / r["wrk"]["requests"]
                for r in items if r.get("context_switches") is not None and r["wrk"]["requests"]),
            "transactions_per_commit": median_or_none(
                r["transactions"] / r["commits"] for r in items if r.get("commits")),
            "requests": sum(r["wrk"]["requests"] for r in items),
            "unexpected_status": sum(r["wrk"]["unexpected_status"] for r in items),
            "first_unexpected_status": next((r["wrk"]["first_unexpected_status"] for r in items
                                             if r["wrk"]["first_unexpected_status"]), 0),
            "connection_close": sum(r["wrk"]["connection_close"] for r in items),
            "socket_errors": errors,
            "established_min": min(r["established"] for r in items),
            "established_max": max(r["established"] for r in items),
        }
    return summary


def fmt_number(value, digits=0):
    if value is None:
        return "n/a"
    return "{:,.{}f}".format(value, digits)


def mib_text(kib):
    return "n/a" if kib is None else "%s MiB" % fmt_number(kib / 1024, 1)


def fmt_ratio(value):
    return "n/a" if value is None else "{:.2f}".format(value)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "yes" if ok else "no"


def orders_consistent(orders):
    """True when every counted 201 is in the store and at most the in-flight requests more."""
    if "orders_in_store" not in orders:
        return None
    extra = orders["orders_in_store"] - orders["orders_expected"]
    return 0 <= extra <= orders["in_flight_max"]


def micro_by_name(micro):
    return {m["name"]: m for m in micro}


def summary_rows(workloads, micro, facts):
    """Rows of (measure, target, measured, ratio to nginx, target met)."""
    rows = []
    nginx = workloads.get("nginx", {})
    post = workloads.get("generate_order", {})
    get = workloads.get("get_order", {})
    auth = micro_by_name(micro).get("auth_check")
    callbacks = facts.get("callbacks", {})
    memory = facts.get("memory", {})

    rows.append(("nginx baseline requests/s", "", fmt_number(nginx.get("requests_per_s")),
                 "1.00", ""))
    # Workloads without a target, shown for the ceilings they measure.
    for name, measure in (
            ("mhd_floor", "libmicrohttpd alone requests/s (no target: the library's ceiling)"),
            ("mhd_lookup", "libmicrohttpd and the order lookup requests/s (no target: the"
                           " ceiling of GET /order/{token})"),
            ("mhd_insert", "libmicrohttpd and the order insert requests/s (no target: the"
                           " ceiling of generateOrder)"),
            ("healthz", "GET /healthz requests/s (no target: the HTTP layer alone)")):
        workload = workloads.get(name)
        if workload:
            rows.append((measure, "", fmt_number(workload.get("requests_per_s")),
                         fmt_ratio(workload.get("ratio_to_nginx")), ""))
    ratio = post.get("ratio_to_nginx")
    rows.append(("generateOrder requests/s", "0.5 x nginx", fmt_number(post.get("requests_per_s")),
                 fmt_ratio(ratio), verdict(None if ratio is None else ratio >= 0.5)))
    p99 = post.get("p99_ms")
    rows.append(("generateOrder p99 latency", "under 10 ms", fmt_number(p99, 2) + " ms", "",
                 verdict(None if p99 is None else p99 < 10)))
    ratio = get.get("ratio_to_nginx")
    rows.append(("GET /order/{token} requests/s", "0.8 x nginx",
                 fmt_number(get.get("requests_per_s")), fmt_ratio(ratio),
                 verdict(None if ratio is None else ratio >= 0.8)))
    ns = auth["ns_per_call"] if auth else None
    rows.append(("auth_check() per call", "under 1 us",
                 fmt_number(None if ns is None else ns / 1000, 2) + " us", "",
                 verdict(None if ns is None else ns < 1000)))
    rate = callbacks.get("delivered_per_s")
    rows.append(("callbacks delivered/s", "10,000", fmt_number(rate), "",
                 verdict(None if rate is None else rate >= 10000)))
    large = "peak RSS, %s orders" % fmt_number(facts.get("seeding", {}).get("large_orders"))
    for key, label in (("load_vmhwm_kib", "peak RSS under load"), ("large_vmhwm_kib", large)):
        kib = memory.get(key)
        rows.append((label, "under 64 MiB", mib_text(kib), "",
                     verdict(None if kib is None else kib < 64 * 1024)))
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def workload_rows(workloads):
    rows = []
    for key, label in WORKLOADS:
        w = workloads.get(key)
        if w is None:
            continue
        errors = w["socket_errors"]
        rows.append((label, w["runs"], fmt_number(w["requests_per_s"]), fmt_number(w["p50_ms"], 2),
                     fmt_number(w["p99_ms"], 2), fmt_ratio(w["ratio_to_nginx"]),
                     "%d (first %d)" % (w["unexpected_status"], w["first_unexpected_status"])
                     if w["unexpected_status"] else "0",
                     "%d/%d/%d/%d" % (errors["connect"], errors["read"], errors["write"],
                                      errors["timeout"]),
                     w["connection_close"],
                     "%d to %d" % (w["established_min"], w["established_max"]),
                     fmt_number(w.get("switches_per_request"), 2),
                     fmt_number(w.get("transactions_per_commit"), 1)))
    return rows


def run_rows(runs):
    rows = []
    for r in sorted(runs, key=lambda r: (r["workload"], r["round"])):
        rows.append((r["workload"], r["round"], fmt_number(r["wrk"]["requests_per_s"]),
                     fmt_number(r["wrk"]["latency_us"]["p99"] / 1000, 2), r["established"]))
    return rows


def micro_rows(micro):
    return [(m["name"], fmt_number(m["ns_per_call"], 1), fmt_number(m["min_ns"], 1),
             fmt_number(m["max_ns"], 1), m["calls_per_round"], m["rounds"]) for m in micro]


def summary_markdown(rows, facts, results_name):
    machine = facts["machine"]
    return "\n".join([
        "Measured %s on %s (%s CPUs, kernel %s), commit %s; full results in "
        "[bench/results/%s](../bench/results/%s)."
        % (facts["date_utc"], machine["cpu_model"], machine["nproc"], machine["kernel"],
           facts["commit"], results_name, results_name),
        "",
        table(("measure", "target", "measured (median)", "ratio to nginx", "target met"), rows),
    ])


def results_markdown(rows, workloads, runs, micro, facts):
    machine = facts["machine"]
    settings = facts["settings"]
    callbacks = facts.get("callbacks", {})
    memory = facts.get("memory", {})
    seeding = facts.get("seeding", {})
    orders = facts.get("orders_check", {})
    parts = [
        "# Benchmark results %s (commit %s)" % (facts["date_utc"], facts["commit"]),
        "",
        "Written by `make bench` (scripts/bench.sh). The ratios to nginx are medians of the"
        " ratios within each round, so both sides of a ratio ran on the same machine state.",
        "",
        "## Machine",
        "",
        table(("item", "value"), [
            ("CPUs (nproc)", machine["nproc"]),
            ("CPU model", machine["cpu_model"]),
            ("kernel", machine["kernel"]),
            ("wrk", machine["wrk_version"]),
            ("nginx", machine["nginx_version"]),
            ("compiler", machine["compiler"]),
            ("SQLite", machine["sqlite_version"]),
            ("libmicrohttpd", machine["microhttpd_version"]),
            ("build", "CMAKE_BUILD_TYPE=Release, no sanitizers"),
            ("settings", "rounds: %s, %s s each; wrk: %s threads, %s connections%s" % (
                settings["runs"], settings["seconds"], settings["threads"],
                settings["connections"], ", BENCH_QUICK" if settings["quick"] else "")),
        ]),
        "",
        "## Summary",
        "",
        table(("measure", "target", "measured (median)", "ratio to nginx", "target met"), rows),
        "",
        "## HTTP load",
        "",
        "Socket errors are wrk's connect/read/write/timeout counts; a read error is a"
        " connection the server closed, after which wrk reconnects. \"Established\" is the"
        " number of server-side connections `ss` saw in the middle of each run. Context"
        " switches are those of all the server's threads (the daemon's, or those of"
        " bench/mhd_floor.c for the two workloads without the daemon) during a run, per request"
        " (voluntary and not, from /proc/PID/task/*/status; none for nginx, nor with"
        " a thread per connection, whose threads end with the run). Transactions per"
        " COMMIT divide the daemon's write transactions by its COMMITs during a run"
        " (`citypay_store_transactions_total` and `citypay_store_commits_total` in"
        " /metrics); each COMMIT is followed by one sync of the WAL.",
        "",
        table(("workload", "runs", "requests/s", "p50 ms", "p99 ms", "ratio to nginx",
               "unexpected status", "socket errors c/r/w/t", "Connection: close",
               "established", "context switches per request", "transactions per COMMIT"),
              workload_rows(workloads)),
        "",
        table(("workload", "round", "requests/s", "p99 ms", "established"), run_rows(runs)),
        "",
        "## Durability check",
        "",
        "Orders in the store after the generateOrder runs: %s. The seeded orders plus the 201"
        " responses wrk counted are %s; up to %s more (one in flight per connection when a"
        " run stops) may have committed without wrk reading the response. Consistent: %s." % (
            fmt_number(orders.get("orders_in_store")), fmt_number(orders.get("orders_expected")),
            fmt_number(orders.get("in_flight_max")), verdict(orders_consistent(orders))),
        "",
        "## Microbenchmarks",
        "",
        "Median time per call over the rounds, with the fastest and slowest round.",
        "",
        table(("case", "ns per call", "min ns", "max ns", "calls per round", "rounds"),
              micro_rows(micro)),
        "",
        "## Callbacks",
        "",
        "%s order events, each with one delivery to nginx on loopback, written before the"
        " daemon started: %s delivered in %s s, %s per second between the first and the last"
        " sample (%s per second from the daemon's start)." % (
            fmt_number(callbacks.get("events")), fmt_number(callbacks.get("delivered")),
            fmt_number(callbacks.get("seconds"), 2), fmt_number(callbacks.get("delivered_per_s")),
            fmt_number(callbacks.get("overall_per_s"))),
        "",
        "## Memory",
        "",
        table(("state", "VmHWM (peak RSS)", "VmRSS"), [
            ("idle after start, 100,000 orders", mib_text(memory.get("idle_vmhwm_kib")),
             mib_text(memory.get("idle_vmrss_kib"))),
            ("after all HTTP load rounds", mib_text(memory.get("load_vmhwm_kib")),
             mib_text(memory.get("load_vmrss_kib"))),
            ("%s orders, after GET load" % fmt_number(seeding.get("large_orders")),
             mib_text(memory.get("large_vmhwm_kib")), mib_text(memory.get("large_vmrss_kib"))),
        ]),
        "",
        "Seeding: %s orders in %s s; %s orders in %s s; %s orders with events in %s s." % (
            fmt_number(seeding.get("get_orders")), fmt_number(seeding.get("get_seconds"), 2),
            fmt_number(seeding.get("large_orders")), fmt_number(seeding.get("large_seconds"), 2),
            fmt_number(seeding.get("callback_orders")),
            fmt_number(seeding.get("callback_seconds"), 2)),
        "",
        "## Commands",
        "",
        "`$TMP` is the run's temporary directory; `BENCH_TOKEN` held the sandbox access token.",
        "",
        "```sh",
    ]
    parts += facts["commands"]
    parts += ["```", ""]
    return "\n".join(parts)


def update_docs(path, summary):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin = text.find(DOCS_BEGIN)
    end = text.find(DOCS_END)
    if begin < 0 or end < begin:
        print("report: %s has no %s ... %s markers; summary not written there"
              % (path, DOCS_BEGIN, DOCS_END), file=sys.stderr)
        return
    text = text[:begin + len(DOCS_BEGIN)] + "\n" + summary + "\n" + text[end:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description="Summarise the results of scripts/bench.sh.")
    parser.add_argument("--runs", required=True, help="wrk runs, one JSON object per line")
    parser.add_argument("--micro", required=True, help="microbenchmarks, one JSON object per line")
    parser.add_argument("--facts", required=True, help="JSON: machine, commands, callbacks, memory")
    parser.add_argument("--markdown", required=True, help="results file to write (.md)")
    parser.add_argument("--json", required=True, help="results file to write (.json)")
    parser.add_argument("--docs", help="docs/BENCHMARKS.md, whose summary section is replaced")
    args = parser.parse_args()

    runs = read_json_lines(args.runs)
    micro = read_json_lines(args.micro)
    with open(args.facts, encoding="utf-8") as f:
        facts = json.load(f)

    workloads = summarise_workloads(runs)
    rows = summary_rows(workloads, micro, facts)
    with open(args.markdown, "w", encoding="utf-8") as f:
        f.write(results_markdown(rows, workloads, runs, micro, facts))
    with open(args.json, "w", encoding="utf-8") as f:
        # One short row per run keeps the file small: workload, round,
        # requests per second, p99 latency in microseconds, connections.
        compact_runs = [[r["workload"], r["round"], round(r["wrk"]["requests_per_s"], 1),
                         r["wrk"]["latency_us"]["p99"], r["established"]] for r in runs]
        json.dump({"facts": facts, "workloads": workloads, "micro": micro,
                   "runs": compact_runs}, f, indent=1, sort_keys=True)
        f.write("\n")
    if args.docs:
        update_docs(args.docs, summary_markdown(rows, facts, os.path.basename(args.markdown)))

    print(table(("measure", "target", "measured (median)", "ratio to nginx", "target met"), rows))


if __name__ == "__main__":
    main()
