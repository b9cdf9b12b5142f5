#!/bin/sh
# Build tests/fuzz_parse.c with libFuzzer, ASan and UBSan and fuzz the option and value parsers for
# FUZZ_SECONDS (default 60), starting from the seed corpus in tests/fuzz-corpus/.
#
#   tests/fuzz.sh [LIBFUZZER_OPTION]...      e.g. tests/fuzz.sh -max_len=256
#
# Environment:
#   FUZZ_SECONDS   how long to fuzz (default 60); 0 only replays the seed corpus
#   FUZZ_BUILDDIR  a configured build tree, for its config.h (default: $TESTS_BUILDDIR/.., else ./build
#                  next to the sources)
#   FUZZ_WORKDIR   where the binary, the corpus it grows and any crash go (default: a new /tmp/tmprun-fuzz.*,
#                  removed after a clean run, kept after a crash)
#   CC             the compiler (default clang; needs libFuzzer: Debian's libclang-rt-14-dev, pulled in by
#                  clang-14)
#
# Exit status: 0 clean, 1 when the fuzzer found a crash, a sanitizer report or a broken invariant (the input
# is saved and shown), 77 (skip) when no compiler with libFuzzer is available, 99 on a setup error.
# A crash input can be replayed with:  $FUZZ_WORKDIR/fuzz_parse CRASH-FILE
set -u

tests=${TESTS_SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
top=$(cd "$tests/.." && pwd) || exit 99
src=$top/src
seconds=${FUZZ_SECONDS:-60}
cc=${CC:-clang}

if [ -n "${FUZZ_BUILDDIR:-}" ]; then
    build=$FUZZ_BUILDDIR
elif [ -n "${TESTS_BUILDDIR:-}" ]; then
    build=$TESTS_BUILDDIR/..
else
    build=$top/build
fi
if [ ! -f "$build/config.h" ]; then
    echo "fuzz.sh: no config.h in $build: configure a build tree first (or set FUZZ_BUILDDIR)" >&2
    exit 99
fi

if [ -n "${FUZZ_WORKDIR:-}" ]; then
    work=$FUZZ_WORKDIR
    mkdir -p "$work" || exit 99
    own_work=
else
    work=$(mktemp -d /tmp/tmprun-fuzz.XXXXXXXXXX) || exit 99
    own_work=1
fi

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz.sh: SKIP: $cc not found" >&2
    exit 77
fi

# Only what opts.c needs: opts.c -> parse.c, workspace.c (ws_check_affixes) -> log.c, rmtree.c -> fdstat.c.
sources="$src/parse.c $src/opts.c $src/workspace.c $src/rmtree.c $src/workpool.c $src/fdstat.c $src/log.c"
# shellcheck disable=SC2086 # $sources is a list of paths without spaces
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -Wall -Wextra -I"$build" -I"$src" -pthread \
    -o "$work/fuzz_parse" "$tests/fuzz_parse.c" $sources -lm 2>"$work/build.log"; then
    cat "$work/build.log" >&2
    if grep -q -e 'fuzzer' "$work/build.log" && grep -q -e 'cannot find\|unable to find\|No such file' "$work/build.log"; then
        echo "fuzz.sh: SKIP: $cc cannot link libFuzzer (install libclang-rt-14-dev or your clang's runtime)" >&2
        exit 77
    fi
    echo "fuzz.sh: build failed" >&2
    exit 99
fi
cat "$work/build.log" >&2

mkdir -p "$work/corpus" "$work/crashes" || exit 99

# A dictionary of the tokens the parsers know, so the fuzzer reaches the option cases quickly.
cat >"$work/parse.dict" <<'EOF'
"--dir="
"--prefix="
"--suffix="
"--mode="
"--export="
"--cd"
"--keep"
"--keep-on-failure"
"--ignore-cleanup-errors"
"--grace="
"--gc"
"--older-than="
"--dry-run"
"--tmpfs"
"--tmpfs="
"--private-tmp"
"--user="
"--drop-caps"
"--no-new-privs"
"--verbose"
"--help"
"--version"
"--"
"-d"
"-k"
"-v"
"-h"
"-V"
"\x00"
"."
"s"
"m"
"h"
"d"
"%"
"k"
"K"
"M"
"G"
"0777"
"07777"
"1099511627776"
"18446744073709551615"
"3153600000"
"0.0000000000000000"
"9999999999999999"
"_"
"/"
":"
EOF
echo "fuzz.sh: fuzzing for ${seconds}s in $work (seed corpus $tests/fuzz-corpus)"

# A stack trace for abort() (a broken invariant) and for UBSan's reports too.
ASAN_OPTIONS=${ASAN_OPTIONS:-handle_abort=1:detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

# The grown corpus goes to $work/corpus (first directory), the checked-in seeds are only read.
if [ "$seconds" -eq 0 ]; then
    "$work/fuzz_parse" -runs=0 -artifact_prefix="$work/crashes/" "$tests/fuzz-corpus" "$@"
else
    "$work/fuzz_parse" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="$work/parse.dict" -artifact_prefix="$work/crashes/" "$work/corpus" "$tests/fuzz-corpus" "$@"
fi
status=$?

crashes=$(find "$work/crashes" -type f | sort)
if [ "$status" -ne 0 ] || [ -n "$crashes" ]; then
    echo "fuzz.sh: FAILED (libFuzzer exit $status); kept $work" >&2
    for f in $crashes; do
        echo "fuzz.sh: input $f (replay: $work/fuzz_parse $f):" >&2
        od -c "$f" | head -20 >&2
    done
    exit 1
fi
echo "fuzz.sh: no crash in ${seconds}s"
if [ -n "$own_work" ]; then
    rm -rf "$work"
fi
exit 0
