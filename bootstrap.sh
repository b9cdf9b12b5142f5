#!/bin/sh
# bootstrap.sh demo|check — the README's quick start on a fresh Debian 12 machine, as root:
#   demo:  install what is missing, build, and show a workspace being used and then gone;
#   check: install what is missing, build, and run the whole test suite (what CI runs).
set -eu
cd "$(dirname "$0")"
mode=${1:-demo}
case $mode in
demo | check) ;;
*)
    echo "usage: sh bootstrap.sh demo|check" >&2
    exit 2
    ;;
esac

# Build dependencies, then what the test suite drives: util-linux (unshare, setpriv), procps (ps, pgrep),
# python3 (a pseudo-terminal for the job-control tests), e2fsprogs (mkfs/chattr), passwd (useradd).
deps="autoconf automake make gcc libc6-dev pkg-config libcap-dev check"
[ "$mode" = check ] && deps="$deps util-linux procps python3 e2fsprogs passwd shellcheck"
missing=
for p in $deps; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap.sh: missing packages:$missing (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "bootstrap.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
mkdir -p build
(cd build && ../configure -q --enable-werror && make -s -j"$jobs")

if [ "$mode" = demo ]; then
    where=$(mktemp)
    echo "\$ tmprun -v --cd -- sh -c '...'"
    ./build/src/tmprun -v --cd -- sh -c '
        echo "  COMMAND runs in $PWD (TMPDIR=$TMPDIR, WORKDIR=$WORKDIR)"
        mkdir -p cache/pkg && echo data > cache/pkg/file && chmod -R a-w cache
        ls -ld "$TMPDIR" | sed "s/^/  /"
        echo "  wrote $(find . | wc -l) entries, some read-only"
        echo "$TMPDIR" > "$1"' sh "$where"
    ws=$(cat "$where")
    rm -f "$where"
    if [ -e "$ws" ]; then
        echo "demo FAILED: $ws is still there" >&2
        exit 1
    fi
    echo "after tmprun: $ws is gone"
    exit 0
fi

status=0
(cd build && make -s -j"$jobs" check) || status=$?
cat build/test-suite.log >/dev/null 2>&1 || true
if [ -f build/test-suite.log ]; then
    pass=$(sed -n 's/^# PASS: *//p' build/test-suite.log)
    fail=$(sed -n 's/^# FAIL: *//p' build/test-suite.log)
    err=$(sed -n 's/^# ERROR: *//p' build/test-suite.log)
    if [ "$status" -ne 0 ]; then
        grep -E '^(FAIL|ERROR)' build/test-suite.log || true
        cat build/test-suite.log | head -200
    fi
    echo "make check: ${pass:-0} passed, $((${fail:-0} + ${err:-0})) failed"
fi
[ "$status" -eq 0 ] || exit "$status"
(cd build && make -s distcheck >/dev/null) || { echo "make distcheck failed" >&2; exit 1; }
echo "make distcheck: passed"
