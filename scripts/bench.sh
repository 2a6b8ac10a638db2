#!/usr/bin/env bash
# The benchmark suite of `make bench` (docs/BENCHMARKS.md). Installs wrk and
# nginx when missing, builds the daemon and the programs in bench/ with
# optimisation and without sanitizers, then measures on loopback only:
#
#   1. wrk load in rounds: in each round the nginx baseline, libmicrohttpd
#      alone (bench/mhd_floor.c, the library's ceiling), libmicrohttpd with
#      the order lookup of GET /order/{token} (mhd_floor --store, the
#      ceiling of that request), libmicrohttpd with the durable order
#      insert of generateOrder (mhd_floor --store --insert, its ceiling),
#      GET /healthz (the daemon's HTTP layer with no store access), GET
#      /order/{token} over 100,000 seeded orders and POST
#      /api/generateOrder, each for BENCH_SECONDS; medians over BENCH_RUNS
#      rounds;
#   2. the microbenchmarks of bench/bench_micro.c;
#   3. callback deliveries per second to nginx;
#   4. the daemon's peak RSS under that load and with 1,000,000 orders.
#
# Results go to bench/results/<UTC time>-<commit>.md and .json, and the
# summary table to docs/BENCHMARKS.md. BENCH_QUICK=1 makes one round of 3 s
# with smaller stores and writes the results into the build directory only.
#
# Settings (environment): BENCH_RUNS, BENCH_SECONDS, BENCH_QUICK,
# BENCH_BUILD (build directory, default build-bench), BENCH_CALLBACKS
# (events to deliver), BENCH_LARGE_ORDERS (orders of the memory run),
# BENCH_HTTP_THREADS (the daemon's server.threads and mhd_floor's --threads,
# or their default when unset).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$repo/build-bench}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	runs=${BENCH_RUNS:-1}
	seconds=${BENCH_SECONDS:-3}
	callbacks=${BENCH_CALLBACKS:-2000}
	large_orders=${BENCH_LARGE_ORDERS:-200000}
else
	runs=${BENCH_RUNS:-5}
	seconds=${BENCH_SECONDS:-10}
	callbacks=${BENCH_CALLBACKS:-20000}
	large_orders=${BENCH_LARGE_ORDERS:-1000000}
fi
get_orders=100000
http_threads=${BENCH_HTTP_THREADS:-}
threads=2
connections=64
customer=1

for setting in runs seconds callbacks large_orders; do
	value=${!setting}
	if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
		echo "bench: ${setting} must be a positive integer, got \"$value\"" >&2
		exit 2
	fi
done

log() {
	printf 'bench: %s\n' "$*" >&2
}

# ---------------------------------------------------------------------------
# Packages and build

install_packages() {
	local missing="" sudo=""

	for p in wrk nginx python3 curl sqlite3 iproute2; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
	if [ -z "$missing" ]; then
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	fi
	# NOTE: on a machine run by systemd, installing Debian's nginx also starts
	# the system nginx on port 80; this suite never uses that one.
	log "installing$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null
}

build_programs() {
	log "building in $build (Release, no sanitizers)"
	cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCITYPAY_SANITIZE=OFF \
		-DCITYPAY_BENCH=ON -DCITYPAY_BROWSER_TESTS=OFF >/dev/null
	cmake --build "$build" -j "$(nproc)" --target citypayd citypayctl bench_seed bench_micro \
		mhd_floor >/dev/null
}

# ---------------------------------------------------------------------------
# Processes: each one started here is stopped here, by its PID.

tmp=""
pids=()

cleanup() {
	local pid

	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$tmp" ] && [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$tmp"
	fi
}

# Drop a PID from the list once its process has been waited for, so that
# cleanup never signals a PID that the system may have given to another process.
forget_process() {
	local pid=$1 kept=() p

	for p in "${pids[@]}"; do
		if [ "$p" != "$pid" ]; then
			kept+=("$p")
		fi
	done
	pids=("${kept[@]}")
}

stop_process() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_process "$1"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to 15 s until URL responds; exit when it does not.
wait_http() {
	local url=$1

	for _ in $(seq 150); do
		if curl -s -o /dev/null --max-time 1 "$url"; then
			return
		fi
		sleep 0.1
	done
	log "no answer from $url within 15 s"
	exit 1
}

start_nginx() {
	local dir=$tmp/nginx user=""

	mkdir -p "$dir"
	nginx_port=$(free_port)
	# Run as the current user. Started by root without this line, nginx
	# would run its workers as the user "nobody".
	if [ "$(id -u)" -eq 0 ]; then
		user="user root;"
	fi
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$nginx_port|g" -e "s|@USER@|$user|" \
		"$repo/bench/nginx.conf.in" >"$dir/nginx.conf"
	nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
	nginx_pid=$!
	pids+=("$nginx_pid")
	wait_http "http://127.0.0.1:$nginx_port/"

	local size
	size=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$nginx_port/")
	if [ "$size" != 150 ]; then
		log "the nginx baseline answers $size bytes instead of 150; check bench/nginx.conf.in"
		exit 1
	fi
}

# start_mhd_floor NAME PATH [ARG...]: start bench/mhd_floor.c with the
# daemon's thread count and the extra arguments given; sets NAME_pid and
# NAME_port. Its response to PATH must be the nginx baseline's body, byte for
# byte: mhd_floor is libmicrohttpd alone, mhd_lookup the same with the
# order lookup of GET /order/{token} (--store), and mhd_insert the same
# with the durable order insert of generateOrder (--store --insert).
start_mhd_floor() {
	local name=$1 path=$2 logfile=$tmp/$1.log thread_args=() size url port pid
	shift 2

	port=$(free_port)
	url=http://127.0.0.1:$port$path
	if [ -n "$http_threads" ]; then
		thread_args=(--threads "$http_threads")
	fi
	"$build/mhd_floor" --port "$port" "${thread_args[@]}" "$@" 2>"$logfile" &
	pid=$!
	pids+=("$pid")
	printf -v "${name}_pid" '%s' "$pid"
	printf -v "${name}_port" '%s' "$port"
	for _ in $(seq 150); do
		if curl -s -o /dev/null --max-time 1 "$url"; then
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited at start; its messages:"
			cat "$logfile" >&2
			exit 1
		fi
		sleep 0.1
	done
	wait_http "$url"
	record_command "$build/mhd_floor" --port "$port" "${thread_args[@]}" "$@"

	size=$(curl -s -o /dev/null -w '%{size_download}' "$url")
	if [ "$size" != 150 ]; then
		log "$name answers $size bytes to $path instead of 150; check bench/mhd_floor.c"
		exit 1
	fi
	if ! cmp -s <(curl -s "$url") <(curl -s "http://127.0.0.1:$nginx_port/"); then
		log "$name and the nginx baseline send different bodies; copy the body of bench/nginx.conf.in into bench/mhd_floor.c"
		exit 1
	fi
}

# Create a store with one merchant and one sandbox token; prints the token.
create_store() {
	local db=$1 callback_url=$2 expires

	expires=$(( $(date +%s) + 2 * 86400 ))
	"$build/citypayctl" --db "$db" init >/dev/null
	"$build/citypayctl" --db "$db" --json merchant add --company "Bench Shop" \
		--email bench@shop.example >/dev/null
	"$build/citypayctl" --db "$db" --json token add --customer "$customer" --name bench \
		--type crypto --currency USD --ip 127.0.0.1/32 --callback "$callback_url" \
		--expires "$expires" --mode sandbox |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# Write the daemon's settings file with every rate limit off. The
# per-address connection limit is off too: its default equals wrk's 64
# connections, so a run could be refused while the connections of the
# previous run are still closing.
write_settings() {
	local lines=("[server]" "connections_per_address = 0" "[limits]"
	             "token_per_minute = 0" "token_per_hour = 0" "orders_per_hour = 0"
	             "public_per_minute = 0" "public_per_hour = 0")

	if [ -n "$http_threads" ]; then
		lines=("[server]" "threads = $http_threads" "${lines[@]:1}")
	fi

	printf '%s\n' "${lines[@]}" >"$tmp/bench.ini"
	record_command "cat >\$TMP/bench.ini <<EOF"
	printf '%s\n' "${lines[@]}" EOF >>"$tmp/commands.txt"
}

# Start citypayd on DB with the settings of write_settings(); sets
# daemon_pid and daemon_port.
start_daemon() {
	local db=$1 name=$2 logfile=$tmp/$2.log

	"$build/citypayd" --config "$tmp/bench.ini" --db "$db" --listen 127.0.0.1:0 2>"$logfile" &
	daemon_pid=$!
	pids+=("$daemon_pid")
	daemon_port=""
	for _ in $(seq 150); do
		daemon_port=$(sed -n 's/.*msg=listening.* addr=[^ ]*:\([0-9][0-9]*\).*/\1/p' "$logfile" | head -n 1)
		if [ -n "$daemon_port" ]; then
			break
		fi
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			log "citypayd ($name) exited at start; its log:"
			tail -n 20 "$logfile" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ -z "$daemon_port" ]; then
		log "citypayd ($name) logged no msg=listening line within 15 s"
		exit 1
	fi
	wait_http "http://127.0.0.1:$daemon_port/healthz"
	record_command "$build/citypayd --config \$TMP/bench.ini --db \$TMP/$(basename "$db") --listen 127.0.0.1:0"
}

# Add a command line to the results, with paths relative to the repository.
record_command() {
	local line="$*"

	printf '%s\n' "${line//"$repo/"/}" >>"$tmp/commands.txt"
}

# The kB value of a field of /proc/PID/status (VmHWM, VmRSS).
proc_status_kib() {
	awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

seed_orders() {
	local db=$1
	shift
	"$build/bench_seed" --db "$db" --customer "$customer" "$@"
	record_command "$build/bench_seed --db \$TMP/$(basename "$db") --customer $customer $*"
}

seconds_of() {
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])["seconds"])' "$1"
}

# ---------------------------------------------------------------------------
# wrk

# Print the context switches of every thread of PID so far, voluntary and
# not; empty when PID is empty or gone. Threads that ended, as those of
# closed connections with server.threads = 0 do, are no longer counted.
context_switches() {
	[ -n "$1" ] || return 0
	# A thread may end between the glob and the read; cat then fails,
	# and the others still count.
	{ cat /proc/"$1"/task/*/status 2>/dev/null || true; } |
		awk '/^(nonvoluntary_|voluntary_)ctxt_switches:/ { n += $2 } END { if (NR) print n }'
}

# Print the daemon's write transactions and COMMITs so far ("T C") from
# /metrics at wrk_metrics_url; empty when that is unset.
store_counters() {
	[ -n "${wrk_metrics_url:-}" ] || return 0
	curl -s "$wrk_metrics_url" | awk '
		$1 == "citypay_store_transactions_total" { t = $2 }
		$1 == "citypay_store_commits_total" { c = $2 }
		END { if (t != "" && c != "") print t, c }'
}

# run_wrk WORKLOAD ROUND PORT URL SCRIPT ARGS...: one wrk run, appended to
# runs.jsonl. The context switches of the process wrk_server_pid (when set)
# during the run are recorded too, and so are the write transactions and
# COMMITs of the daemon at wrk_metrics_url (when set).
run_wrk() {
	local workload=$1 round=$2 port=$3 url=$4 script=$5
	shift 5
	local out=$tmp/wrk-$workload-$round.txt established line switches_before switches_after
	local switches=null transactions=null commits=null counters_before counters_after
	local cmd=(wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 5s --latency
	           -s "$repo/bench/$script" "$url" -- "$@")

	switches_before=$(context_switches "${wrk_server_pid:-}")
	counters_before=$(store_counters)
	"${cmd[@]}" >"$out" 2>&1 &
	local wrk_pid=$!
	pids+=("$wrk_pid")
	# Count the server's established connections halfway through the run.
	sleep "$(awk -v s="$seconds" 'BEGIN { print s / 2 }')"
	established=$(ss -Htn state established "( sport = :$port )" | wc -l)
	if ! wait "$wrk_pid"; then
		forget_process "$wrk_pid"
		log "wrk failed for $workload; its output:"
		cat "$out" >&2
		exit 1
	fi
	forget_process "$wrk_pid"
	switches_after=$(context_switches "${wrk_server_pid:-}")
	if [ -n "$switches_before" ] && [ -n "$switches_after" ]; then
		switches=$((switches_after - switches_before))
	fi
	counters_after=$(store_counters)
	if [ -n "$counters_before" ] && [ -n "$counters_after" ]; then
		read -r transactions commits <<<"$(awk -v b="$counters_before" -v a="$counters_after" \
			'BEGIN { split(b, x, " "); split(a, y, " "); print y[1] - x[1], y[2] - x[2] }')"
	fi

	line=$(sed -n 's/^BENCH_JSON //p' "$out")
	if [ -z "$line" ]; then
		log "wrk printed no BENCH_JSON line for $workload; its output:"
		cat "$out" >&2
		exit 1
	fi
	printf '{"workload":"%s","round":%d,"established":%d,"context_switches":%s,"transactions":%s,"commits":%s,"wrk":%s}\n' \
		"$workload" "$round" "$established" "$switches" "$transactions" "$commits" "$line" \
		>>"$tmp/runs.jsonl"
	printf 'bench: %-16s round %d: %s\n' "$workload" "$round" \
		"$(python3 -c 'import json, sys; w = json.loads(sys.argv[1]); s = json.loads(sys.argv[2]); t = json.loads(sys.argv[3]); c = json.loads(sys.argv[4]); print("%.0f requests/s, p99 %.2f ms, %d unexpected status, %d socket errors%s%s" % (w["requests_per_s"], w["latency_us"]["p99"] / 1000, w["unexpected_status"], sum(w["errors"][k] for k in ("connect", "read", "write", "timeout")), "" if s is None or not w["requests"] else ", %.2f context switches per request" % (s / w["requests"]), "" if not c else ", %.1f transactions per COMMIT" % (t / c)))' "$line" "$switches" "$transactions" "$commits")" >&2
	if [ "$round" = 1 ]; then
		record_command "${BENCH_TOKEN:+BENCH_TOKEN=... }${cmd[*]}"
	fi
}

# ---------------------------------------------------------------------------
# The measurements

measure_http() {
	local db=$tmp/api.db token seeded

	log "seeding $get_orders orders"
	token=$(create_store "$db" "http://127.0.0.1:9/callback")
	# Kept with BENCH_KEEP=1 for bench_micro --case under a profiler; the
	# temporary directory is readable by its owner only.
	printf '%s\n' "$token" >"$tmp/api.token"
	seeded=$(seed_orders "$db" --orders "$get_orders" --prefix o)
	get_seconds=$(seconds_of "$seeded")
	start_mhd_floor mhd_lookup /order/o1 --store "$db"
	# Its own store, so that the daemon stays the only writer of api.db.
	create_store "$tmp/insert.db" "http://127.0.0.1:9/callback" >/dev/null
	start_mhd_floor mhd_insert / --store "$tmp/insert.db" --insert

	start_daemon "$db" api
	api_pid=$daemon_pid
	idle_vmhwm=$(proc_status_kib "$api_pid" VmHWM)
	idle_vmrss=$(proc_status_kib "$api_pid" VmRSS)

	local base=http://127.0.0.1:$daemon_port
	for round in $(seq "$runs"); do
		wrk_server_pid=
		run_wrk nginx "$round" "$nginx_port" "http://127.0.0.1:$nginx_port/" \
			wrk_get.lua "/?n=" "$get_orders" 200
		# With a thread per connection, the threads end with wrk's
		# connections and take their counts along: nothing to report.
		if [ "$http_threads" != 0 ]; then
			wrk_server_pid=$mhd_floor_pid
		fi
		run_wrk mhd_floor "$round" "$mhd_floor_port" "http://127.0.0.1:$mhd_floor_port/" \
			wrk_get.lua "/?n=" "$get_orders" 200
		if [ "$http_threads" != 0 ]; then
			wrk_server_pid=$mhd_lookup_pid
		fi
		run_wrk mhd_lookup "$round" "$mhd_lookup_port" "http://127.0.0.1:$mhd_lookup_port" \
			wrk_get.lua "/order/o" "$get_orders" 200
		if [ "$http_threads" != 0 ]; then
			wrk_server_pid=$mhd_insert_pid
		fi
		BENCH_TOKEN=$token run_wrk mhd_insert "$round" "$mhd_insert_port" \
			"http://127.0.0.1:$mhd_insert_port" wrk_generate_order.lua "$customer" "r$round"
		if [ "$http_threads" != 0 ]; then
			wrk_server_pid=$api_pid
		fi
		run_wrk healthz "$round" "$daemon_port" "$base" wrk_get.lua "/healthz?n=" "$get_orders" 200
		run_wrk get_order "$round" "$daemon_port" "$base" wrk_get.lua "/order/o" "$get_orders" 200
		# Only this workload writes; the expiry sweep's one transaction a
		# second would make the others read 1.0.
		wrk_metrics_url=$base/metrics
		BENCH_TOKEN=$token run_wrk generate_order "$round" "$daemon_port" "$base" \
			wrk_generate_order.lua "$customer" "r$round"
		wrk_metrics_url=
	done
	wrk_server_pid=
	stop_process "$mhd_lookup_pid"
	stop_process "$mhd_insert_pid"
	load_vmhwm=$(proc_status_kib "$api_pid" VmHWM)
	load_vmrss=$(proc_status_kib "$api_pid" VmRSS)
	stop_process "$api_pid"

	orders_in_store=$(sqlite3 "$db" "SELECT count(*) FROM orders")
	orders_expected=$(python3 -c 'import json, sys
created = 0
for line in open(sys.argv[1]):
    run = json.loads(line)
    if run["workload"] == "generate_order":
        created += run["wrk"]["requests"] - run["wrk"]["unexpected_status"]
print(int(sys.argv[2]) + created)' "$tmp/runs.jsonl" "$get_orders")

	log "microbenchmarks"
	local quick_flag=()
	if [ "$quick" = 1 ]; then
		quick_flag=(--quick)
	fi
	BENCH_TOKEN=$token "$build/bench_micro" --db "$db" --customer "$customer" --order o12345 \
		"${quick_flag[@]}" >"$tmp/micro.jsonl"
	record_command "BENCH_TOKEN=... $build/bench_micro --db \$TMP/api.db --customer $customer --order o12345 ${quick_flag[*]}"
	python3 -c 'import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print("bench: %-26s %10.1f ns per call" % (m["name"], m["ns_per_call"]), file=sys.stderr)' \
		"$tmp/micro.jsonl"
}

measure_callbacks() {
	local db=$tmp/callbacks.db seeded watch_pid
	local timeout=$(( 60 + callbacks / 200 ))

	log "seeding $callbacks orders with one callback event each"
	create_store "$db" "http://127.0.0.1:$nginx_port/callback" >/dev/null
	seeded=$(seed_orders "$db" --orders "$callbacks" --prefix cb --events)
	callback_seconds=$(seconds_of "$seeded")

	python3 "$repo/bench/callback_watch.py" "$db" "$callbacks" "$timeout" >"$tmp/callbacks.json" &
	watch_pid=$!
	pids+=("$watch_pid")
	start_daemon "$db" callbacks
	wait "$watch_pid" || true
	forget_process "$watch_pid"
	stop_process "$daemon_pid"
	record_command "python3 bench/callback_watch.py \$TMP/callbacks.db $callbacks $timeout"

	callbacks_json=$(cat "$tmp/callbacks.json")
	log "callbacks: $callbacks_json"
}

measure_large_store() {
	local db=$tmp/large.db token seeded

	log "seeding $large_orders orders for the memory run"
	token=$(create_store "$db" "http://127.0.0.1:9/callback")
	seeded=$(seed_orders "$db" --orders "$large_orders" --prefix o)
	large_seconds=$(seconds_of "$seeded")

	start_daemon "$db" large
	run_wrk get_order_large 1 "$daemon_port" "http://127.0.0.1:$daemon_port" wrk_get.lua \
		"/order/o" "$large_orders" 200
	large_vmhwm=$(proc_status_kib "$daemon_pid" VmHWM)
	large_vmrss=$(proc_status_kib "$daemon_pid" VmRSS)
	stop_process "$daemon_pid"
	log "memory: VmHWM $load_vmhwm kB after the load rounds, $large_vmhwm kB with $large_orders orders"
}

# ---------------------------------------------------------------------------
# Results

write_results() {
	local stamp commit dirty="" out_dir docs=()

	stamp=$(date -u +%Y-%m-%dT%H%MZ)
	commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		dirty="+changes"
	fi
	if [ "$quick" = 1 ]; then
		out_dir=$build/bench-results
	else
		out_dir=$repo/bench/results
		docs=(--docs "$repo/docs/BENCHMARKS.md")
	fi
	mkdir -p "$out_dir"

	export BENCH_FACT_DATE=$stamp BENCH_FACT_COMMIT=$commit$dirty BENCH_FACT_CALLBACKS=$callbacks_json
	export BENCH_FACT_NPROC BENCH_FACT_CPU BENCH_FACT_KERNEL BENCH_FACT_WRK BENCH_FACT_NGINX
	export BENCH_FACT_CC BENCH_FACT_SQLITE BENCH_FACT_MHD
	BENCH_FACT_NPROC=$(nproc)
	BENCH_FACT_CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	BENCH_FACT_KERNEL=$(uname -r)
	# wrk -v prints its version and exits with status 1.
	BENCH_FACT_WRK=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')
	BENCH_FACT_NGINX=$(nginx -v 2>&1 | sed 's/^nginx version: //')
	BENCH_FACT_CC=$(cc --version | head -n 1)
	BENCH_FACT_SQLITE=$(sqlite3 --version | awk '{ print $1 }')
	BENCH_FACT_MHD=$(pkg-config --modversion libmicrohttpd)

	python3 - "$tmp/facts.json" "$tmp/commands.txt" <<EOF
import json, os, sys
env = os.environ
facts = {
    "date_utc": env["BENCH_FACT_DATE"],
    "commit": env["BENCH_FACT_COMMIT"],
    "machine": {
        "nproc": env["BENCH_FACT_NPROC"], "cpu_model": env["BENCH_FACT_CPU"],
        "kernel": env["BENCH_FACT_KERNEL"], "wrk_version": env["BENCH_FACT_WRK"],
        "nginx_version": env["BENCH_FACT_NGINX"], "compiler": env["BENCH_FACT_CC"],
        "sqlite_version": env["BENCH_FACT_SQLITE"], "microhttpd_version": env["BENCH_FACT_MHD"],
    },
    "settings": {"runs": $runs, "seconds": $seconds, "threads": $threads,
                 "connections": $connections, "quick": $([ "$quick" = 1 ] && echo True || echo False)},
    "seeding": {"get_orders": $get_orders, "get_seconds": $get_seconds,
                "large_orders": $large_orders, "large_seconds": $large_seconds,
                "callback_orders": $callbacks, "callback_seconds": $callback_seconds},
    "orders_check": {"orders_in_store": $orders_in_store, "orders_expected": $orders_expected,
                     "in_flight_max": $(( connections * runs ))},
    "callbacks": json.loads(env["BENCH_FACT_CALLBACKS"]),
    "memory": {"idle_vmhwm_kib": $idle_vmhwm, "idle_vmrss_kib": $idle_vmrss,
               "load_vmhwm_kib": $load_vmhwm, "load_vmrss_kib": $load_vmrss,
               "large_vmhwm_kib": $large_vmhwm, "large_vmrss_kib": $large_vmrss},
    "commands": [line.rstrip("\n") for line in open(sys.argv[2])],
}
with open(sys.argv[1], "w") as f:
    json.dump(facts, f)
EOF
	python3 "$repo/bench/report.py" --runs "$tmp/runs.jsonl" --micro "$tmp/micro.jsonl" \
		--facts "$tmp/facts.json" --markdown "$out_dir/$stamp-$commit.md" \
		--json "$out_dir/$stamp-$commit.json" "${docs[@]}"
	log "results written to $out_dir/$stamp-$commit.md"
}

main() {
	local started=$SECONDS

	install_packages
	build_programs
	tmp=$(mktemp -d /tmp/citypay-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	: >"$tmp/runs.jsonl"
	: >"$tmp/commands.txt"
	record_command "nginx -p \$TMP/nginx -e \$TMP/nginx/error.log -c \$TMP/nginx/nginx.conf  # from bench/nginx.conf.in"

	start_nginx
	start_mhd_floor mhd_floor /
	write_settings
	measure_http
	measure_callbacks
	measure_large_store
	write_results
	log "finished in $(( SECONDS - started )) s"
}

main "$@"
