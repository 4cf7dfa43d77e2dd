#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what keysentry needs to build and test, from Debian packages, only
# when something is missing. Idempotent and silent when all is present.
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --bench   also the benchmark peers (jq, node/npm, hyperfine)
set -eu

PKGS="gcc clang make cmake pkg-config libjansson-dev libdeflate-dev zlib1g-dev
libpcre2-dev libcmocka-dev libyaml-dev libsqlite3-dev libclang-rt-14-dev valgrind jq
libcurl4-openssl-dev libssl-dev python3 openssl libmicrohttpd-dev awscli curl chromium"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS hyperfine util-linux time"
fi
# The KMS tests run the lab app with node (examples/lab/app); a node from
# another source bundles npm, so these two are checked by command.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "installing missing packages:$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null; then
        $SUDO apt-get update -q >/dev/null
        $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
fi

# The dashboard test drives Debian's chromium with playwright-core, pinned by
# tests/dashboard/package-lock.json. Without it the test skips, so a failure
# here (no npm registry) is a warning, not an error.
DASH="$(dirname "$0")/../tests/dashboard"
if [ ! -d "$DASH/node_modules/playwright-core" ]; then
    echo "installing the dashboard test's npm packages (npm ci in tests/dashboard)" >&2
    (cd "$DASH" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        echo "warning: npm ci in tests/dashboard failed; the dashboard test will skip" >&2
fi
