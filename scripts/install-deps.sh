#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what keysentry needs to build and test, from Debian packages, only
# when something is missing. Idempotent and silent when all is present.
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --bench   also the benchmark peers (jq, node/npm, hyperfine)
set -eu

PKGS="gcc clang make cmake pkg-config libjansson-dev libdeflate-dev zlib1g-dev
libpcre2-dev libcmocka-dev libyaml-dev libsqlite3-dev libclang-rt-14-dev valgrind jq"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS nodejs npm hyperfine util-linux time"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "installing missing packages:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null; then
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
