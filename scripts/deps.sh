#!/bin/sh
# deps.sh - installs the Debian packages twokey needs, only those missing.
# Usage: scripts/deps.sh build|bench|servers|e2e. Idempotent; needs root for installs.
set -eu
build="build-essential pkg-config libmicrohttpd-dev libjansson-dev \
libyaml-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libcmocka-dev \
sqlite3 python3 curl ca-certificates valgrind libldap2-dev libqrencode-dev libargon2-dev"
# real servers the integration tests start on loopback: slapd (with its
# ppolicy overlay) and the npm test servers under tests/servers
servers="slapd ldap-utils nodejs npm"
bench="wrk nodejs npm"
# the browser tests (tests/e2e): Debian's chromium, driven headless by
# playwright-core from tests/e2e's lockfile
e2e="chromium nodejs npm"
case "${1:-build}" in
build) want=$build ;;
bench) want=$bench ;;
servers) want=$servers ;;
e2e) want=$e2e ;;
*) echo "usage: $0 build|bench|servers|e2e" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	# a Node.js from elsewhere (e.g. NodeSource) already brings npm, and
	# Debian's npm package would conflict with it
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages:$missing; run as root or install them" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
fi
# the npm test servers (tests/servers) and the browser tests' packages
# (tests/e2e): installed from the lockfile when node_modules is missing or
# older than package-lock.json
case "${1:-build}" in
servers) srv="$(cd "$(dirname "$0")/.." && pwd)/tests/servers" ;;
e2e) srv="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e" ;;
*) srv="" ;;
esac
if [ -n "$srv" ]; then
	if [ ! -d "$srv/node_modules" ] ||
	    [ "$srv/package-lock.json" -nt "$srv/node_modules" ]; then
		echo "deps: npm ci in $srv"
		(cd "$srv" && npm ci --no-audit --no-fund) || {
			echo "deps: npm ci in $srv failed; check that the npm registry is reachable" >&2
			exit 1
		}
		touch "$srv/node_modules"
	fi
fi
