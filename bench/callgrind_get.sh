#!/bin/sh
# Count the instructions citypayd executes per GET request under callgrind,
# over a store of seeded orders: GET /order/{token} by default, or any
# path prefix to which a number is appended, such as "/healthz?n=". Like
# callgrind_generate_order.sh, the count does not depend on what else the
# machine runs, so it compares two versions of the code on a shared machine.
# Requests go one at a time over one keep-alive connection.
#
#   sh bench/callgrind_get.sh [BUILD_DIR] [REQUESTS] [PATH_PREFIX] [ORDERS]
#
# BUILD_DIR defaults to build-bench (make bench builds it), REQUESTS to
# 2000, PATH_PREFIX to /order/o and ORDERS to 100000. Request i requests
# PATH_PREFIX followed by (i * 37) mod ORDERS, so GET /order/{token} names
# orders spread over the store. Prints the total and the instructions per
# request; with CALLGRIND_KEEP=1 the temporary directory is kept. With
# CALLGRIND_BY_OBJECT=1 it also prints the instructions per request of
# each library and of citypayd itself, memset() apart.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
requests=${2:-2000}
prefix=${3:-/order/o}
orders=${4:-100000}
# shellcheck source=bench/callgrind_common.sh
. "$(dirname "$0")/callgrind_common.sh"
callgrind_require citypayd citypayctl bench_seed
callgrind_store
"$build/bench_seed" --db "$db" --customer 1 --orders "$orders" --prefix o >/dev/null

callgrind_start --config "$tmp/bench.ini"

# Sends COUNT requests starting at FIRST and fails unless each gets 200.
send() {
	python3 - "$port" "$prefix" "$orders" "$1" "$2" <<'EOF'
import http.client, sys

port, prefix, orders = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
count, first = int(sys.argv[4]), int(sys.argv[5])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(first, first + count):
    conn.request("GET", "%s%d" % (prefix, i * 37 % orders))
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        sys.exit("callgrind: request %d got HTTP %d, expected 200" % (i, resp.status))
EOF
}

# The first requests warm the statement caches and the reader connections.
send 200 1000000
callgrind_control -z "$pid" >/dev/null 2>&1
send "$requests" 0
callgrind_control -d "$pid" >/dev/null 2>&1

callgrind_report "requests to $prefix<i>"
if [ "${CALLGRIND_BY_OBJECT:-0}" = 1 ]; then
	# Exclusive counts by object. callgrind charges every thread's whole
	# cost to clone and start_thread as well, so those two are skipped.
	callgrind_annotate --auto=no --threshold=100 "$tmp"/callgrind.out.* 2>/dev/null |
	awk -v n="$requests" '
		/file:function/ { listed = 1; next }
		!listed || !/\[/ || /:clone |:start_thread / { next }
		{
			gsub(",", "", $1)
			object = $NF
			sub(/.*\//, "", object)
			sub(/\]$/, "", object)
			if ($0 ~ /__memset/)
				object = "memset() in " object
			sum[object] += $1
		}
		END { for (o in sum) printf "callgrind: %10d %s\n", sum[o] / n, o }' |
	sort -k2 -rn
fi
