#!/bin/sh
# Start the gateway on the embedded defaults. On the first run, initialise
# the store, create a demo merchant and a sandbox token, and print the
# token once. Usage: run.sh BUILD_DIR DB_PATH LISTEN_ADDR
set -eu

build=$1
db=$2
listen=$3
ctl="$build/citypayctl --db $db"

if [ ! -f "$db.key" ]; then
	$ctl init
fi

if ! $ctl --json merchant list | grep -q '"customer_id"'; then
	echo "Demo merchant (sign in at http://$listen/cabinet/login):"
	$ctl merchant add --company "Demo Shop" --email demo@shop.example
	expires=$(( $(date +%s) + 365 * 24 * 3600 ))
	echo
	echo "Demo sandbox token (shown only now; keep it for the quickstart):"
	# The demo token's callbacks go to the gateway's own sandbox receiver,
	# which logs each one, so the whole flow runs on one machine.
	$ctl token add --customer 1 --name demo --type crypto --currency USD \
		--ip 127.0.0.1/32 --ip ::1/128 \
		--callback "http://$listen/sandbox/callbacks" \
		--success-url "http://$listen/healthz" \
		--expires "$expires" --mode sandbox
	echo
fi

exec "$build/citypayd" --db "$db" --listen "$listen"
