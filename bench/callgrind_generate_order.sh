#!/bin/sh
# Count the instructions citypayd executes per POST /api/generateOrder
# under callgrind. Unlike requests per second, the count does not depend on
# what else the machine runs, so it compares two versions of the code on a
# shared machine. Requests go one at a time over one keep-alive connection,
# so every request pays its own COMMIT.
#
#   sh bench/callgrind_generate_order.sh [BUILD_DIR] [REQUESTS]
#
# BUILD_DIR defaults to build-bench (make bench builds it), REQUESTS to
# 1000. Prints the total and the instructions per request; with
# CALLGRIND_KEEP=1 the temporary directory with callgrind.out is kept.
# CALLGRIND_SETTINGS=0 starts the daemon without a settings file, for
# builds older than the limits.* settings; their default limit of 200
# requests a minute per token then allows REQUESTS up to 150.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
requests=${2:-1000}
tmp=$(mktemp -d /tmp/citypay-callgrind.XXXXXX)
pid=

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "${CALLGRIND_KEEP:-0}" = 1 ]; then
		echo "callgrind: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT INT TERM

for tool in valgrind callgrind_control callgrind_annotate python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "callgrind: $tool is missing; install valgrind and python3" >&2
		exit 2
	fi
done
if [ ! -x "$build/citypayd" ] || [ ! -x "$build/citypayctl" ]; then
	echo "callgrind: $build/citypayd is missing; run make bench or BENCH_QUICK=1 make bench first" >&2
	exit 2
fi

db=$tmp/api.db
ctl="$build/citypayctl --db $db"
$ctl init >/dev/null
$ctl merchant add --company "Callgrind Shop" --email callgrind@shop.example >/dev/null
$ctl --json token add --customer 1 --name callgrind --type crypto --currency USD \
	--ip 127.0.0.1/32 --callback http://127.0.0.1:9/callback \
	--expires $(( $(date +%s) + 86400 )) --mode sandbox >"$tmp/token.json"
chmod 600 "$tmp/token.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[limits]\ntoken_per_minute = 0\ntoken_per_hour = 0\norders_per_hour = 0\npublic_per_minute = 0\npublic_per_hour = 0\n' \
	>"$tmp/bench.ini"

settings="--config $tmp/bench.ini"
if [ "${CALLGRIND_SETTINGS:-1}" = 0 ]; then
	settings=
fi
# shellcheck disable=SC2086 # $settings is empty or two words
valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" \
	"$build/citypayd" $settings --db "$db" --listen "127.0.0.1:$port" \
	2>"$tmp/citypayd.log" &
pid=$!

# Sends COUNT orders tagged TAG and fails unless each gets 201.
send() {
	python3 - "$tmp/token.json" "$port" "$1" "$2" <<'EOF'
import http.client, json, sys, time, urllib.parse

token = json.load(open(sys.argv[1]))["token"]
port, count, tag = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 120
while True:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("callgrind: citypayd did not start listening within 120 s")
        time.sleep(0.5)
for i in range(count):
    body = urllib.parse.urlencode({
        "customer_id": "1", "access_token": token, "order_id": "%s-%d" % (tag, i),
        "order_token": "%s-%d" % (tag, i), "amount": "25.50", "currency": "USD"})
    conn.request("POST", "/api/generateOrder", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        sys.exit("callgrind: request %d got HTTP %d, expected 201" % (i, resp.status))
EOF
}

# The first requests warm the statement cache and the token cache.
send 50 warm
callgrind_control -z "$pid" >/dev/null 2>&1
send "$requests" measured
callgrind_control -d "$pid" >/dev/null 2>&1

total=$(callgrind_annotate "$tmp"/callgrind.out.* 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo "callgrind: $total instructions for $requests generateOrder requests"
echo "callgrind: $(( total / requests )) instructions per request"
