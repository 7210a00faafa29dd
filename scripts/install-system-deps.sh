#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (PostgreSQL 15 server + PostGIS 3, chromium for
# the console's browser tests, redis-server for the scale-out tests) when missing. As root: apt-get
# installs them non-interactively. Otherwise it prints exactly what to install and fails in CI
# (CI=true), where the PostGIS, browser and Redis tests must run; elsewhere those are skipped.
set -euo pipefail

PACKAGES=(postgresql-15 postgresql-15-postgis-3 chromium redis-server)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

give_up() {
    echo "install-system-deps: missing Debian packages: ${missing[*]}" >&2
    echo "  $1" >&2
    case "${CI:-}" in
        1 | true | TRUE | yes) exit 1 ;;
        *) echo "  (the tests marked postgis, browser or redis will be skipped)" >&2; exit 0 ;;
    esac
}

if ! command -v apt-get >/dev/null 2>&1; then
    give_up "No apt-get here: install PostgreSQL 15 server binaries, PostGIS 3 for them, chromium and redis-server."
fi

if [ "$(id -u)" -ne 0 ]; then
    give_up "Run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
