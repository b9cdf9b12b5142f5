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
# python3 (a pseudo-terminal for the job-control tests), e2fsprogs (mkfs/chattr), passwd (useradd), acl (setfacl).
deps="autoconf automake make gcc libc6-dev pkg-config libcap-dev check"
[ "$mode" = check ] && deps="$deps util-linux procps python3 e2fsprogs acl shellcheck valgrind cppcheck clang clang-tidy libclang-rt-14-dev gcovr"
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
    # shellcheck disable=SC2016
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

# check: the whole suite, then the quality gates of issue 6, each in its own build tree. A failing gate stops
# the run with a non-zero status and the log of what failed; the last line counts the main suite's tests.
summary() { # the main suite's counts, kept once read: later gates (valgrind) rewrite the same log
    log=build/test-suite.log
    if [ -z "${counts:-}" ] && [ -f "$log" ]; then
        pass=$(sed -n 's/^# PASS: *//p' "$log")
        fail=$(sed -n 's/^# FAIL: *//p' "$log")
        err=$(sed -n 's/^# ERROR: *//p' "$log")
        counts="${pass:-0} passed, $((${fail:-0} + ${err:-0})) failed"
    fi
    [ -z "${counts:-}" ] || echo "tests: $counts"
}
gate() { # gate ID NAME CMD...: run one gate, timed; GATES="ID..." runs only those (default: all)
    id=$1 name=$2
    shift 2
    case " ${GATES:-$id} " in
    *" $id "*) ;;
    *) return 0 ;;
    esac
    echo "== $name"
    t0=$(date +%s)
    if ! "$@"; then
        echo "== FAILED: $name" >&2
        summary
        exit 1
    fi
    echo "== $name: passed in $(($(date +%s) - t0)) s"
}
show_failures() { # the logs of failed tests in build tree $1
    grep -lE '^(not ok|FAIL|ERROR)|runtime error|Sanitizer|^[0-9]+%: Checks.*Failures: [1-9]' \
        "$1"/tests/*.log 2>/dev/null | while read -r f; do
        echo "---- $f"
        head -c 20000 "$f"
    done
}
make_check() { # make_check DIR [TARGET]: build and test in an already configured tree; output in DIR.out
    out=$(cd "$1" && pwd).out
    (cd "$1" && make -s -j"$jobs" && make -s -j"$jobs" "${2:-check}" >"$out" 2>&1) ||
        { tail -50 "$out"; show_failures "$1"; return 1; }
}
configured() { # configured DIR CONFIGURE-ARGS...: a fresh build tree of this source tree
    dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    (top=$PWD && cd "$dir" && "$top/configure" -q --enable-werror "$@")
}
sanitizers() {
    configured build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" &&
        ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            make_check build-asan
}
coverage() {
    # The tests run tmprun as nobody too, and its counters are written beside the objects: the coverage
    # tree must be where nobody can reach it, whatever the checkout's parents allow (/root is 0700).
    # Not under /tmp or /var/tmp either: --private-tmp hides those from COMMAND, whose counters go there.
    cov=/var/lib/tmprun-coverage
    configured "$cov" --enable-coverage &&
        chmod 0755 "$cov" &&
        make_check "$cov" coverage &&
        tail -n 22 "$cov.out"
}

gate check "make check" make_check build
summary
gate distcheck "make distcheck" make_check build distcheck
gate lint "static analysis: clang-tidy, cppcheck, shellcheck" make_check build lint
gate asan "AddressSanitizer + UndefinedBehaviorSanitizer: make check" sanitizers
gate valgrind "valgrind: end-to-end suite" make_check build check-valgrind
gate coverage "coverage" coverage
gate fuzz "fuzzing the option and value parsers" make_check build fuzz
summary
