#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make lint: checks the compiler cannot do for us.
#  - every .c file under src/ includes base/banned.h (directly or through base/ks.h)
#  - private headers (<module>_int.h) are included only inside their own folder
#  - clang-format agrees with the committed .clang-format (report only)
set -eu
cd "$(dirname "$0")/.."
fail=0
for f in $(git ls-files 'src/*.c'); do
    if ! grep -q '#include "base/ks.h"\|#include "base/banned.h"\|#include "[a-z0-9_]*/[a-z0-9_]*.h"' "$f"; then
        echo "lint: $f includes no project header (banned.h would not apply)"; fail=1
    fi
done
for f in $(git ls-files 'src/*.[ch]' 'tests/*.c' 'bench/*.c'); do
    dir=$(dirname "$f")
    grep -o '#include "[a-z0-9_]*/[a-z0-9_]*_int\.h"' "$f" 2>/dev/null | while read -r inc; do
        mod=$(echo "$inc" | sed 's/#include "\([a-z0-9_]*\)\/.*/\1/')
        case "$dir" in
            src/"$mod") ;;
            *) echo "lint: $f includes private header of module $mod"; exit 1 ;;
        esac
    done || fail=1
done
if command -v clang-format >/dev/null; then
    n=$(for f in $(git ls-files 'src/*.[ch]'); do clang-format --dry-run "$f" 2>&1; done | grep -c warning || true)
    echo "lint: clang-format would change $n lines (run make format)"
fi
if command -v cppcheck >/dev/null; then
    cppcheck --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr \
        -I src src || fail=1
fi
exit $fail
