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
# shellcheck source=bench/callgrind_common.sh
. "$(dirname "$0")/callgrind_common.sh"
callgrind_require citypayd citypayctl
callgrind_store

settings="--config $tmp/bench.ini"
if [ "${CALLGRIND_SETTINGS:-1}" = 0 ]; then
	settings=
fi
# shellcheck disable=SC2086 # $settings is empty or two words
callgrind_start $settings

# Sends COUNT orders tagged TAG and fails unless each gets 201.
send() {
	python3 - "$tmp/token.json" "$port" "$1" "$2" <<'EOF'
import http.client, json, sys, urllib.parse

token = json.load(open(sys.argv[1]))["token"]
port, count, tag = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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

callgrind_report "generateOrder requests"
