#!/bin/sh
# Run the unit tests and the end-to-end tests under valgrind's memcheck in a
# Debug build without sanitizers (VALGRIND_BUILD, default build-valgrind).
# Then read every process's report. Exits 1 when a test fails, or when any
# process has a memcheck error or a definite leak. The summary at the end
# names each such report and prints each distinct problem with its stacks.
#
# Every citypayd and citypayctl process of a test writes its report to
# <build>/valgrind/<test>/<pid>.xml. A process killed with SIGKILL (as
# test_lifecycle.py and test_crash.py do on purpose) gets no leak check, so
# its report counts only the errors found before the kill.
#
# VALGRIND_UNIT_TESTS and VALGRIND_E2E_TESTS choose the tests by name
# (test_money, test_clients, ...); an empty value skips that kind.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${VALGRIND_BUILD:-$root/build-valgrind}
reports=$build/valgrind
jobs=$(nproc)

# Every unit test and every end-to-end test by default.
default_unit=""
for source in "$root"/tests/unit/test_*.c; do
	default_unit="$default_unit $(basename "$source" .c)"
done
default_e2e=""
for script in "$root"/tests/e2e/test_*.py; do
	default_e2e="$default_e2e $(basename "$script" .py)"
done
unit_tests=${VALGRIND_UNIT_TESTS-$default_unit}
e2e_tests=${VALGRIND_E2E_TESTS-$default_e2e}

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind: valgrind is not installed; install it with: apt-get install valgrind" >&2
	exit 2
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCITYPAY_SANITIZE=OFF \
	-DCITYPAY_BROWSER_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs"

# Reports of an earlier run would be counted again, so start empty.
rm -rf "$reports"
mkdir -p "$reports"

# Leaks other than definite ones (still reachable, possibly lost) are
# neither shown nor counted. Exit code 99 marks a process with a memcheck
# error or a definite leak, which fails a test that checks the exit code.
# The reports are read at the end for all other processes.
memcheck="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite
--errors-for-leak-kinds=definite --error-exitcode=99 --track-origins=no --num-callers=30
--suppressions=$root/tests/valgrind.supp --xml=yes"

# One line per test: name, seconds, PASS or FAIL.
results=$reports/results.txt
: >"$results"

run_test() {
	name=$1
	shift
	echo "valgrind: running $name"
	start=$(date +%s)
	if "$@" >"$reports/$name.out" 2>&1; then
		result=PASS
	else
		result=FAIL
		tail -n 40 "$reports/$name.out"
	fi
	seconds=$(($(date +%s) - start))
	echo "valgrind: $name $result in $seconds s, output $reports/$name.out"
	echo "$name $seconds $result" >>"$results"
}

# Unit and end-to-end tests may share a name (test_rates), so their reports
# get the prefixes that ctest uses.
for name in $unit_tests; do
	dir=$reports/unit_$name
	mkdir -p "$dir"
	# shellcheck disable=SC2086 # $memcheck is a list of options
	run_test "unit_$name" $memcheck --xml-file="$dir/%p.xml" --log-file="$dir/%p.log" \
		"$build/$name"
done

for name in $e2e_tests; do
	dir=$reports/e2e_$name
	mkdir -p "$dir"
	run_test "e2e_$name" env \
		CITYPAY_BUILD_DIR="$build" \
		CITYPAY_E2E_WRAPPER="$memcheck --xml-file=$dir/%p.xml --log-file=$dir/%p.log" \
		python3 "$root/tests/e2e/$name.py"
done

# Read every report and print one table row per test, then each report with
# problems, then each distinct problem once with its stacks. The XML of a
# killed process ends early, so the errors are matched one by one rather
# than parsed as a whole document.
python3 - "$reports" <<'EOF'
import glob
import html
import os
import re
import sys

reports = sys.argv[1]


def tag(text, name):
    match = re.search(r"<%s>(.*?)</%s>" % (name, name), text, re.S)
    return html.unescape(match.group(1).strip()) if match else ""


def frame_text(frame):
    where = tag(frame, "file")
    where = "%s:%s" % (where, tag(frame, "line")) if where else tag(frame, "obj")
    return "      %s (%s)" % (tag(frame, "fn") or "??", where)


def describe(error):
    """Return the error's kind, messages and stacks as lines of text."""
    message = tag(error, "what") or tag(tag(error, "xwhat"), "text")
    lines = ["    %s: %s" % (tag(error, "kind"), message)]
    for name, body in re.findall(r"<(auxwhat|xauxwhat|stack)>(.*?)</\1>", error, re.S):
        if name == "stack":
            lines += [frame_text(f) for f in re.findall(r"<frame>(.*?)</frame>", body, re.S)]
        elif name == "xauxwhat":
            lines.append("    " + tag(body, "text"))
        else:
            lines.append("    " + html.unescape(body.strip()))
    return lines


def problem_key(lines):
    """Identify a problem by its kind and stack frames, so that the same fault
    in several processes, at other addresses and sizes, is listed once."""
    return "\n".join([lines[0].split(":")[0]] + [l for l in lines[1:] if l.startswith("      ")])


def read_report(path):
    """Return (program, finished, errors, definite leaks, problems) of one report."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    program = os.path.basename(tag(tag(text, "argv"), "exe")) or "?"
    finished = "<state>FINISHED</state>" in text
    errors = leaks = 0
    problems = []
    for error in re.findall(r"<error>.*?</error>", text, re.S):
        if tag(error, "kind").startswith("Leak_"):
            leaks += 1
        else:
            errors += 1
        problems.append(describe(error))
    for fatal in re.findall(r"<fatal_signal>.*?</fatal_signal>", text, re.S):
        errors += 1
        lines = describe(fatal)
        lines[0] = "    fatal signal %s" % tag(fatal, "signame")
        problems.append(lines)
    return program, finished, errors, leaks, problems


failed = False
rows = []
listed = []
killed_paths = []
distinct = {}
with open(os.path.join(reports, "results.txt")) as f:
    results = [line.split() for line in f if line.strip()]
for name, seconds, result in results:
    processes = killed = errors = leaks = 0
    for path in sorted(glob.glob(os.path.join(reports, name, "*.xml"))):
        program, finished, n_errors, n_leaks, problems = read_report(path)
        processes += 1
        killed += 0 if finished else 1
        errors += n_errors
        leaks += n_leaks
        if not finished:
            killed_paths.append("  %s (%s)" % (path, program))
        if not problems:
            continue
        numbers = []
        for lines in problems:
            key = problem_key(lines)
            distinct.setdefault(key, (len(distinct) + 1, lines))
            numbers.append("#%d" % distinct[key][0])
        state = "" if finished else ", killed before the leak check"
        listed.append("  %s (%s%s): %d errors, %d definite leaks: %s"
                      % (path, program, state, n_errors, n_leaks, " ".join(numbers)))
    if result != "PASS" or errors or leaks:
        failed = True
    rows.append((name, seconds, result, processes, killed, errors, leaks))

header = ("test", "seconds", "result", "processes", "killed", "errors", "definite leaks")
print("\nvalgrind: summary")
print("%-26s %8s %6s %10s %7s %7s %15s" % header)
for row in rows:
    print("%-26s %8s %6s %10d %7d %7d %15d" % row)
print("total %d s" % sum(int(row[1]) for row in rows))
messages = [path for path in sorted(glob.glob(os.path.join(reports, "*", "*.log")))
            if os.path.getsize(path) > 0]
if messages:
    # Valgrind writes its own warnings and failures here, outside the XML.
    print("\nvalgrind: messages of valgrind itself")
    for path in messages:
        with open(path, encoding="utf-8", errors="replace") as f:
            print("  %s:" % path)
            print("".join(f.readlines()[:20]).rstrip())
if killed_paths:
    print("\nvalgrind: killed processes, checked for errors but without a leak check")
    print("\n".join(killed_paths))
if listed:
    print("\nvalgrind: reports with errors or definite leaks")
    print("\n".join(listed))
    print("\nvalgrind: distinct problems")
    for number, lines in sorted(distinct.values()):
        print("  #%d" % number)
        print("\n".join(lines))
if failed:
    print("\nvalgrind: FAILED (test output in %s/<test>.out)" % reports)
    sys.exit(1)
print("\nvalgrind: no errors and no definite leaks")
EOF
