# The shared part of bench/callgrind_generate_order.sh and
# bench/callgrind_get.sh, sourced once build and requests are set: a
# temporary directory removed at exit (kept with CALLGRIND_KEEP=1), the
# tool checks, a store with one merchant and one sandbox token, and the
# daemon started under callgrind.

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

# callgrind_require PROGRAM...: exit unless each program is built in $build.
callgrind_require() {
	for program in "$@"; do
		if [ ! -x "$build/$program" ]; then
			echo "callgrind: $build/$program is missing; run make bench or BENCH_QUICK=1 make bench first" >&2
			exit 2
		fi
	done
}

# callgrind_store: create $db with one merchant and one sandbox token (its
# JSON in $tmp/token.json), pick a free $port, and write $tmp/bench.ini
# with no rate limits, so that any number of requests is served.
callgrind_store() {
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
}

# callgrind_start [ARG...]: start citypayd under callgrind on $db and $port,
# with the extra arguments given, and wait until it accepts connections;
# sets pid.
callgrind_start() {
	valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" \
		"$build/citypayd" "$@" --db "$db" --listen "127.0.0.1:$port" \
		2>"$tmp/citypayd.log" &
	pid=$!
	python3 - "$port" <<'EOF'
import socket, sys, time

deadline = time.monotonic() + 120
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("callgrind: citypayd did not start listening within 120 s")
        time.sleep(0.5)
EOF
}

# callgrind_report WHAT: print the instructions since the counters were
# zeroed, in total and per request.
callgrind_report() {
	total=$(callgrind_annotate "$tmp"/callgrind.out.* 2>/dev/null |
		awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
	echo "callgrind: $total instructions for $requests $1"
	echo "callgrind: $(( total / requests )) instructions per request"
}
