#!/bin/sh
# Install the Debian packages that the build and the tests need, but only
# those that are missing, so a second run is quiet and fast.
set -eu

packages="build-essential cmake pkg-config
libmicrohttpd-dev libjson-c-dev libsodium-dev libsqlite3-dev
libcurl4-openssl-dev libcmocka-dev libqrencode-dev libpq-dev
python3 sqlite3 curl"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
else
	sudo=
fi

echo "deps: installing$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
