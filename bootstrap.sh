#!/bin/sh
# bootstrap.sh demo|check|static — the README's quick start on a fresh Debian 11, 12 or 13 machine, as root:
#   demo:   install what is missing, build, and show a workspace being used and then gone;
#   check:  install what the selected gates need, build, and run them (what CI runs; GATES="ID..." picks
#           gates, default: the whole suite and the quality gates below);
#   static: build a fully static x86-64 binary with musl at build-static/src/tmprun.
set -eu
cd "$(dirname "$0")"
mode=${1:-demo}
case $mode in
demo | check | static) ;;
*)
    echo "usage: sh bootstrap.sh demo|check|static" >&2
    exit 2
    ;;
esac

# The gates run by default, and the ones run only when named (issue 10's portability builds):
#   clang: make check built with clang; static: the static musl binary and the end-to-end suite against it;
#   arm64: a cross-build for aarch64 (--enable-werror, test programs included), every unit suite under qemu.
default_gates="check distcheck lint asan valgrind coverage fuzz"
case $mode in
check) gates=${GATES:-$default_gates} ;;
static) gates=static-build ;;
*) gates= ;;
esac

# What each gate needs, by Debian package name; nothing names a compiler version, so the same list serves
# Debian 11, 12 and 13. The suite drives util-linux (unshare, setpriv), mount, procps (ps, pgrep), python3 (a
# pseudo-terminal for the job-control tests), e2fsprogs (mkfs, chattr), acl (setfacl), passwd (useradd), strace
# (counting /proc scans), bash-completion, fish and zsh (the completion test drives all three; without fish or
# zsh it would skip those parts), xfsprogs and btrfs-progs (XFS and btrfs bases for the thread policy's tests);
# the unit suites need check.
deps="autoconf automake make gcc libc6-dev pkg-config libcap-dev"
suite="check util-linux mount procps python3 e2fsprogs xfsprogs btrfs-progs acl passwd strace bash-completion fish zsh"
foreign=
for g in $gates; do
    case $g in
    check | distcheck | asan) deps="$deps $suite" ;;
    lint) deps="$deps shellcheck cppcheck clang-tidy" ;;
    valgrind) deps="$deps $suite valgrind" ;;
    coverage) deps="$deps $suite gcovr" ;;
    fuzz) deps="$deps clang" ;; # and its libFuzzer runtime, named after clang's version: see below
    clang) deps="$deps $suite clang" ;;
    static) deps="$deps $suite musl-tools dpkg-dev" ;;
    static-build) deps="$deps musl-tools dpkg-dev" ;;
    arm64)
        deps="$deps gcc-aarch64-linux-gnu libc6-dev:arm64 libcap-dev:arm64 check:arm64 qemu-user-static"
        foreign=arm64
        ;;
    *)
        echo "bootstrap.sh: unknown gate '$g' (gates: $default_gates clang static arm64)" >&2
        exit 2
        ;;
    esac
done

updated=
apt_update() {
    [ -z "$updated" ] || return 0
    apt-get update -qq
    updated=1
}
install_missing() { # install_missing PACKAGE...: apt-get install those not installed yet
    missing=
    for p in "$@"; do
        case " $missing " in *" $p "*) continue ;; esac
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap.sh: missing packages:$missing (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "bootstrap.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    if [ -n "$foreign" ] && ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
        dpkg --add-architecture "$foreign"
        updated=
    fi
    apt_update
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
# shellcheck disable=SC2086
install_missing $deps
case " $gates " in
*" fuzz "*) # libFuzzer ships with clang's runtime: libclang-rt-N-dev (LLVM >= 14), else libfuzzer-N-dev
    v=$(clang -dumpversion | cut -d. -f1)
    apt_update
    for p in "libclang-rt-$v-dev" "libfuzzer-$v-dev"; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            install_missing "$p"
            break
        fi
    done
    ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
./autogen.sh >/dev/null 2>&1 || ./autogen.sh

# The static binary: musl (Debian's musl-tools) and libcap built for it from Debian's own source package,
# both inside build-static/, which is not part of the project. musl-gcc sees only musl's headers, so
# build-static/kernel-headers links the kernel's uapi headers in (libcap's header and tests/inject use them).
static_build() {
    top=$PWD
    dir=$top/build-static
    mkdir -p "$dir/libcap"
    kh=$dir/kernel-headers
    mkdir -p "$kh"
    for h in linux asm-generic "$(gcc -print-multiarch)/asm"; do
        ln -sfn "/usr/include/$h" "$kh/$(basename "$h")"
    done
    if [ ! -f "$dir/libcap/prefix/lib/libcap.a" ]; then
        src=$(libcap_source "$dir/libcap")
        if [ -z "$src" ]; then
            enable_deb_src
            (cd "$dir/libcap" && apt-get source -qq libcap2 >/dev/null 2>&1) ||
                (cd "$dir/libcap" && apt-get source libcap2) || return 1
            src=$(libcap_source "$dir/libcap")
        fi
        if [ -z "$src" ]; then
            echo "bootstrap.sh: no libcap source tree in $dir/libcap" >&2
            return 1
        fi
        make -s -C "$src/libcap" CC="musl-gcc -isystem $kh" BUILD_CC=gcc SHARED=no GOLANG=no PAM_CAP=no \
            lib=lib prefix="$dir/libcap/prefix" install-static-cap >/dev/null || return 1
    fi
    # configure runs anew each time: a tree configured for another compiler must not be reused
    (cd "$dir" && PKG_CONFIG_LIBDIR="$dir/libcap/prefix/lib/pkgconfig" "$top/configure" -q --enable-werror \
        CC=musl-gcc CPPFLAGS="-isystem $kh" LDFLAGS=-static >/dev/null && make -s -j"$jobs") || return 1
    file=$dir/src/tmprun
    if LC_ALL=C readelf -lW "$file" | grep -q INTERP || LC_ALL=C readelf -dW "$file" | grep -q NEEDED; then
        echo "bootstrap.sh: $file is not a static executable" >&2
        return 1
    fi
    strip -o "$file.stripped" "$file" || return 1
    echo "static binary: $file, $(wc -c <"$file") bytes ($(wc -c <"$file.stripped") stripped: $file.stripped)"
}
libcap_source() { # libcap_source DIR: the unpacked source package in DIR, if any
    for d in "$1"/libcap2-*/; do
        [ -f "$d/libcap/Makefile" ] && echo "$d" && return 0
    done
    return 0
}
enable_deb_src() { # apt-get source needs deb-src entries: add them beside the ones apt has, if it has none
    if grep -qsE '^[[:space:]]*(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
        apt_update
        return 0
    fi
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            >/etc/apt/sources.list.d/tmprun-deb-src.sources
    else
        sed -n 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/tmprun-deb-src.list
    fi
    updated=
    apt_update
}
if [ "$mode" = static ]; then
    static_build
    exit 0
fi

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
    # shellcheck disable=SC2086 # the gates are words
    set -- $gates
    case ${1:-check} in # the first gate's tree: build-clang for GATES=clang, ...
    clang | static | arm64) log=build-$1/test-suite.log ;;
    *) log=build/test-suite.log ;;
    esac
    # Not before that gate has started: its tree may hold the log of an earlier run.
    case " ${started:-} " in *" ${1:-check} "*) ;; *) log= ;; esac
    if [ -z "${counts:-}" ] && [ -n "$log" ] && [ -f "$log" ]; then
        pass=$(sed -n 's/^# PASS: *//p' "$log")
        fail=$(sed -n 's/^# FAIL: *//p' "$log")
        err=$(sed -n 's/^# ERROR: *//p' "$log")
        counts="${pass:-0} passed, $((${fail:-0} + ${err:-0})) failed"
    fi
    [ -z "${counts:-}" ] || echo "tests: $counts"
}
gate() { # gate ID NAME CMD...: run one gate, timed, if selected (GATES="ID...", default: $default_gates)
    id=$1 name=$2
    shift 2
    case " $gates " in
    *" $id "*) ;;
    *) return 0 ;;
    esac
    echo "== $name"
    started="${started:-} $id"
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
make_check() { # make_check DIR [TARGET [VAR=VALUE...]]: build and test in a configured tree; output in DIR.out
    dir=$1 target=${2:-check}
    shift
    [ $# -eq 0 ] || shift
    out=$(cd "$dir" && pwd).out
    (cd "$dir" && make -s -j"$jobs" && make -s -j"$jobs" "$target" "$@" >"$out" 2>&1) ||
        { tail -50 "$out"; show_failures "$dir"; return 1; }
}
configured() { # configured DIR CONFIGURE-ARGS...: a fresh build tree of this source tree
    dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    (top=$PWD && cd "$dir" && "$top/configure" -q --enable-werror "$@")
}
sanitizers() {
    configured build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
        LIBS="$PWD/tests/sanitizer-options.c" &&
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

clang_check() {
    configured build-clang CC=clang && make_check build-clang
}
static_check() { # the end-to-end suite, run from the static tree: tests/inject is built with musl too
    static_build && make_check build-static check-e2e && grep '^# PASS' build-static.out
}
# Every unit suite runs under qemu-user. What qemu-user 7.2 (Debian 12's) lacks, the tests that need it find
# out by a probe and are named in the suite's log as "SKIP: TEST: why" (seccomp filters, which it refuses;
# child subreapers, which it does not emulate); on a native kernel the probes find both and nothing skips.
# The gate lists those lines, so what did not run under qemu is in its output. Emulated code runs several times
# slower (deep_chain_bounded_fds: about a minute on a busy machine), so Check's hang guard is 5 times longer.
arm64_check() { # the unit suites' programs run under qemu-user; the libraries are the multiarch arm64 ones
    configured build-arm64 --host=aarch64-linux-gnu PKG_CONFIG=pkg-config \
        PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig &&
        (CK_TIMEOUT_MULTIPLIER=5 && export CK_TIMEOUT_MULTIPLIER &&
            make_check build-arm64 check-unit LOG_COMPILER=qemu-aarch64-static) &&
        grep '^# PASS' build-arm64.out && { grep '^SKIP:' build-arm64/tests/check_*.log | sed 's|^.*/||' || :; } &&
        LC_ALL=C readelf -h build-arm64/src/tmprun | grep -q AArch64
}

gate check "make check" make_check build
summary
gate distcheck "make distcheck" make_check build distcheck
gate lint "static analysis: clang-tidy, cppcheck, shellcheck" make_check build lint
gate asan "AddressSanitizer + UndefinedBehaviorSanitizer: make check" sanitizers
# Under load once (issue 13): every test of the valgrind run beside two busy loops (make check LOAD=2).
gate valgrind "valgrind: end-to-end suite, beside 2 busy loops a test" make_check build check-valgrind LOAD=2
gate coverage "coverage" coverage
gate fuzz "fuzzing the option and value parsers" make_check build fuzz
gate clang "clang: make check" clang_check
gate static "static musl binary: the end-to-end suite against it" static_check
gate arm64 "arm64 cross-build: the unit suites under qemu-aarch64-static" arm64_check
summary
