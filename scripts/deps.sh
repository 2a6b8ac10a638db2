#!/bin/sh
# Install the Debian packages that the build needs, and with the argument
# "test" also those of the tests (make test and make test-valgrind), or
# with "fuzz" clang and its libFuzzer runtime, but only those that are
# missing, so a second run is quiet and fast.
set -eu

packages="build-essential cmake pkg-config
libmicrohttpd-dev libjson-c-dev libsodium-dev libsqlite3-dev
libcurl4-openssl-dev libcmocka-dev libqrencode-dev libpq-dev libssl-dev
sqlite3 curl"

tests=false
if [ "${1:-}" = "test" ]; then
	tests=true
	packages="$packages python3 chromium valgrind strace"
	# The browser tests need Node.js and npm; a machine may already have
	# them from elsewhere, and then Debian's packages are not added.
	command -v node >/dev/null 2>&1 || packages="$packages nodejs"
	command -v npm >/dev/null 2>&1 || packages="$packages npm"
elif [ "${1:-}" = "fuzz" ]; then
	# Debian 12's clang is clang 14, and libclang-rt-14-dev contains its
	# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer runtimes.
	packages="$packages clang libclang-rt-14-dev"
fi

install_packages() {
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	else
		sudo=
	fi
	echo "deps: installing$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null
}

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	install_packages
fi

# playwright-core for the browser tests, at the version package-lock.json pins.
browser=$(dirname "$0")/../tests/browser
if $tests && [ -f "$browser/package-lock.json" ] &&
   [ ! -d "$browser/node_modules/playwright-core" ]; then
	echo "deps: installing the browser test packages"
	(cd "$browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
exit 0

