#!/bin/sh
# Static analysis gate: clang-tidy (config in .clang-tidy) and cppcheck over src/; any finding fails.
#
# Usage: tests/lint.sh [BUILDDIR]   (default: ./build; it must be configured, since config.h lives there)
# Tools: $CLANG_TIDY (default clang-tidy, then clang-tidy-14) and $CPPCHECK (default cppcheck).
# Exit status: 0 when both tools are clean, 1 on any finding, 2 when a tool or config.h is missing.
set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-./build}
if [ ! -f "$builddir/config.h" ]; then
    echo "lint: $builddir/config.h not found; configure a build there first" >&2
    exit 2
fi
builddir=$(cd "$builddir" && pwd)

if [ -z "${CLANG_TIDY:-}" ]; then
    for t in clang-tidy clang-tidy-14; do
        if command -v "$t" >/dev/null 2>&1; then
            CLANG_TIDY=$t
            break
        fi
    done
fi
CPPCHECK=${CPPCHECK:-cppcheck}
if [ -z "${CLANG_TIDY:-}" ] || ! command -v "$CLANG_TIDY" >/dev/null 2>&1; then
    echo "lint: clang-tidy not found (set CLANG_TIDY)" >&2
    exit 2
fi
if ! command -v "$CPPCHECK" >/dev/null 2>&1; then
    echo "lint: cppcheck not found (set CPPCHECK)" >&2
    exit 2
fi

out=$(mktemp "${TMPDIR:-/tmp}/tmprun-lint.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT
trap 'exit 2' HUP INT TERM

# The same preprocessor view as the build: config.h from the build tree (it defines _GNU_SOURCE through
# AC_USE_SYSTEM_EXTENSIONS; -D_GNU_SOURCE repeats it for headers read on their own), libcap's flags.
libcap_cflags=$(sed -n 's/^LIBCAP_CFLAGS = //p' "$builddir/Makefile" 2>/dev/null)

cd "$srcdir" || exit 2

tidy_findings=0
tidy_failed_files=0
for f in src/*.c; do
    # shellcheck disable=SC2086 # libcap_cflags is a list of flags.
    if ! "$CLANG_TIDY" --quiet --config-file="$srcdir/.clang-tidy" "$f" -- \
        -std=gnu11 -DHAVE_CONFIG_H -D_GNU_SOURCE -I"$builddir" -I"$srcdir/src" -pthread \
        $libcap_cflags >"$out" 2>&1; then
        tidy_failed_files=$((tidy_failed_files + 1))
    fi
    n=$(grep -c -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$out")
    if [ "$n" -gt 0 ] || grep -q -E 'error:|Error while' "$out"; then
        cat "$out"
    fi
    tidy_findings=$((tidy_findings + n))
done

# cppcheck 2.11 and later limit the branches they follow unless told --check-level=exhaustive, and say so in a
# message that would count as a finding; 2.10 has neither the limit nor the option.
cpp_level=
if "$CPPCHECK" --check-level=exhaustive --version >/dev/null 2>&1; then
    cpp_level=--check-level=exhaustive
fi
cpp_status=0
# shellcheck disable=SC2086 # cpp_level is one flag or none
"$CPPCHECK" --quiet --enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr $cpp_level \
    --std=c11 -I src -I "$builddir" --suppress=missingIncludeSystem \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' src/ >"$out" 2>&1 || cpp_status=$?
cpp_findings=$(grep -c -E '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' "$out")
if [ -s "$out" ]; then
    cat "$out"
fi

if [ "$tidy_findings" -eq 0 ] && [ "$tidy_failed_files" -eq 0 ] && [ "$cpp_findings" -eq 0 ] &&
    [ "$cpp_status" -eq 0 ]; then
    echo "lint: OK: clang-tidy and cppcheck found nothing in src/"
    exit 0
fi
echo "lint: FAIL: clang-tidy $tidy_findings finding(s) ($tidy_failed_files file(s) failed)," \
    "cppcheck $cpp_findings finding(s) (exit $cpp_status)"
exit 1
