#!/bin/sh
# Build the libFuzzer harnesses in fuzz/ with clang into build-fuzz and run
# each one for FUZZ_SECONDS seconds (default 60) on a copy of its seed
# corpus, with its saved crash inputs from fuzz/regressions/ as a second
# corpus. FUZZ_HARNESSES limits the run to the harnesses it names
# (separated by spaces). New inputs go to build-fuzz, never into the
# repository. Exits 1 when any harness crashes, after running the rest; the
# crash file paths are printed at the end. docs/FUZZING.md explains the
# harnesses.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
only=${FUZZ_HARNESSES:-}
jobs=$(nproc)

case $seconds in
''|*[!0-9]*)
	echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, got \"$seconds\"" >&2
	exit 2
	;;
esac

CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCITYPAY_FUZZ=ON \
	-DCITYPAY_BROWSER_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzzers -j "$jobs"

failed=""
for source in "$root"/fuzz/fuzz_*.c; do
	name=$(basename "$source" .c)
	case " $only " in
	"  " | *" $name "*) ;;
	*) continue ;;
	esac
	corpus=$build/corpus/$name
	artifacts=$build/crashes/$name
	log=$build/logs/$name.log

	# Crash files of an earlier run would be reported again, so start empty.
	rm -rf "$artifacts"
	mkdir -p "$corpus" "$artifacts" "$build/logs"
	if [ -d "$root/fuzz/corpus/$name" ]; then
		cp "$root/fuzz/corpus/$name"/* "$corpus"/
	fi
	# libFuzzer writes new inputs only into the first corpus folder, so the
	# regressions folder is read and never changed.
	set -- "$corpus"
	if [ -d "$root/fuzz/regressions/$name" ]; then
		set -- "$@" "$root/fuzz/regressions/$name"
	fi
	if [ -f "$root/fuzz/$name.dict" ]; then
		set -- -dict="$root/fuzz/$name.dict" "$@"
	fi

	echo "fuzz: running $name for $seconds s"
	# An input that runs longer than 10 s fails the run as a hang, and a
	# harness that uses more than 2 GiB of memory fails it as out of memory.
	if "$build/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		coverage=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) .*/\1/p' "$log")
		echo "fuzz: $name passed, ${runs:-unknown} executions (${rate:-unknown}/s)," \
			"${coverage:-unknown} coverage points, log $log"
	else
		echo "fuzz: $name FAILED, log $log"
		tail -n 40 "$log"
		found=false
		for crash in "$artifacts"/*; do
			if [ -e "$crash" ]; then
				failed="$failed $crash"
				found=true
			fi
		done
		if ! $found; then
			failed="$failed $log"
		fi
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz: failures; reproduce with build-fuzz/<harness> <file>:"
	for f in $failed; do
		echo "  $f"
	done
	exit 1
fi
echo "fuzz: all harnesses passed"
