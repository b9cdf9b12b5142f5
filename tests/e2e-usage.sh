#!/bin/sh
# tmprun end to end: usage errors. Each one is a single line on stderr naming what is wrong, status 125,
# nothing on stdout, and nothing created in the base directory (nor any COMMAND run).
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
ran=$SCRATCH/ran

# refused_as DESC TEXT ARG...: tmprun ARG... is a usage error: status 125, one line on stderr of the form
# "tmprun: ... (see 'tmprun --help')" containing TEXT, nothing on stdout, COMMAND ($ran) not run, nothing in
# the base directory.
refused_as() {
    _d=$1
    _text=$2
    shift 2
    rm -f "$ran"
    assert_status 125 "$_d: status 125" "$TMPRUN" "$@"
    assert_eq "$(wc -l <"$ERR")" 1 "$_d: one line on stderr"
    assert_contains "$ERR" "$_text" "$_d: stderr says '$_text'"
    assert_match "$ERR" "^tmprun: .* \\(see 'tmprun --help'\\)\$" "$_d: the line is 'tmprun: ... (see --help)'"
    assert_eq "$(cat "$OUT")" "" "$_d: nothing on stdout"
    assert_absent "$ran" "$_d: COMMAND did not run"
    assert_eq "$(ls -A "$base")" "" "$_d: nothing created in the base directory"
}

# refused DESC TEXT [OPTION]...: refused_as for tmprun --dir=$base OPTION... touch $ran (no COMMAND when the
# first OPTION is --gc).
refused() {
    _d=$1
    _text=$2
    shift 2
    if [ "$1" != --gc ]; then
        set -- "$@" touch "$ran"
    fi
    refused_as "$_d" "$_text" --dir="$base" "$@"
}

# --- --tmpfs=SIZE: tmpfs rounds the size up to pages in 64 bits, and a size that wraps to 0 is no limit ---
refused "--tmpfs=17179869184G (2^64 bytes)" "--tmpfs size '17179869184G' out of range" --tmpfs=17179869184G
refused "--tmpfs=18446744073709551615 (wraps when rounded to pages)" "out of range" --tmpfs=18446744073709551615
refused "--tmpfs=18446744073709551616 (above 64 bits)" "out of range" --tmpfs=18446744073709551616
refused "--tmpfs=8589934593G (above 2^63 bytes)" "out of range (more than 0, at most 8589934592G" \
    --tmpfs=8589934593G
refused "--tmpfs=0 (no limit to tmpfs)" "--tmpfs size '0' out of range" --tmpfs=0
refused "--tmpfs=101%" "out of range" --tmpfs=101%
refused "--tmpfs=1T (unknown unit)" "invalid --tmpfs size '1T'" --tmpfs=1T
# The largest size accepted is a real limit: the mount says so (tmpfs shows it in KiB).
# shellcheck disable=SC2016 # expanded by COMMAND's shell
assert_status 0 "--tmpfs=8589934592G (2^63 bytes): runs" "$TMPRUN" --dir="$base" --tmpfs=8589934592G \
    sh -c 'grep " $TMPDIR tmpfs " /proc/self/mounts'
assert_contains "$OUT" "size=9007199254740992k" "--tmpfs=8589934592G: the tmpfs holds 2^63 bytes, not unlimited"

# --- durations: at most 100 years (the parser's documented maximum) ---
refused "--grace=36501d" "duration too large for --grace" --grace=36501d
refused "--grace=5w (unknown unit)" "invalid duration '5w'" --grace=5w
refused "--grace=-1" "invalid duration '-1'" --grace=-1
refused "--gc --older-than=36501d" "duration too large for --older-than" --gc --older-than=36501d
refused "--gc --older-than=1e3" "invalid duration '1e3'" --gc --older-than=1e3

# --- --export=NAME: not the names the loader, libc or shells read in every program ---
refused "--export=PATH (every exec would fail)" "--export=PATH refused: commands would be looked up" \
    --export=PATH
refused "--export=LD_PRELOAD" "--export=LD_PRELOAD refused: the dynamic loader" --export=LD_PRELOAD
refused "--export=LD_LIBRARY_PATH" "--export=LD_LIBRARY_PATH refused" --export LD_LIBRARY_PATH
refused "--export=BASH_ENV" "--export=BASH_ENV refused: shells would source" --export=BASH_ENV
refused "--export=IFS" "--export=IFS refused" --export=HOME --export=IFS
refused "--export=1bad" "invalid variable name for --export: '1bad'" --export=1bad
refused "--export= (empty)" "invalid variable name for --export: ''" --export=

# What stays allowed: HOME (the point of --export for some programs), TMPDIR and WORKDIR (no-ops).
# shellcheck disable=SC2016 # expanded by COMMAND's shell
assert_status 0 "--export=HOME --export=TMPDIR --export=WORKDIR: runs" \
    "$TMPRUN" --dir="$base" --export=HOME --export=TMPDIR --export=WORKDIR sh -c 'echo "$HOME $WORKDIR"' sh
assert_match "$OUT" "^$base/tmprun\.[A-Za-z0-9]{10} $base/tmprun\.[A-Za-z0-9]{10}\$" \
    "--export=HOME: HOME is the workspace, as WORKDIR"
assert_eq "$(ls -A "$base")" "" "--export=HOME: the workspace is removed"

# --- --gc --prefix= would take any name of 10 letters and digits (hsperfdata, a JVM's) for a workspace ---
refused "--gc --prefix=" "--gc needs a non-empty --prefix" --gc --prefix= --older-than=0
gcbase=$SCRATCH/gcbase
mkdir "$gcbase" "$gcbase/hsperfdata"
assert_status 125 "--gc --prefix= on a base holding hsperfdata: status 125" \
    "$TMPRUN" --gc --dir="$gcbase" --prefix= --older-than=0
assert_exists "$gcbase/hsperfdata" "--gc --prefix=: hsperfdata is left alone"

# --- options getopt rejects: the message getopt itself would print, on one line ---
refused "--bogus" "unrecognized option '--bogus'" --bogus
refused "-x" "invalid option '-x'" -x
refused "-kx (unknown in a cluster)" "invalid option '-x'" -kx
refused "--k (ambiguous)" "option '--k' is ambiguous; possibilities: '--keep' '--keep-on-failure'" --k
refused "--d= (ambiguous, with a value)" \
    "option '--d' is ambiguous; possibilities: '--dir' '--dry-run' '--drop-caps'" --d=
refused "--cd=x (no argument taken)" "option '--cd' doesn't allow an argument" --cd=x
refused "--keep=1 (no argument taken)" "option '--keep' doesn't allow an argument" --keep=1
refused "--verb=2 (abbreviated, no argument taken)" "option '--verbose' doesn't allow an argument" --verb=2
for opt in dir prefix suffix mode export grace older-than user; do
    refused_as "--$opt at the end" "option '--$opt' requires an argument" --$opt
done
refused_as "--di (abbreviated) at the end" "option '--dir' requires an argument" --di
refused_as "-vd at the end" "option '-d' requires an argument" -vd
nl='
'
refused "an unknown option holding a newline" "unrecognized option '--a?b'" "--a${nl}b"
refused "--tmpfs= holding an escape" "invalid --tmpfs size '1?[2J'" "--tmpfs=1$(printf '\033')[2J"

# --- --dir, --prefix, --suffix: what ends up in TMPDIR and in --gc's output ---
refused "--dir= (empty)" "--dir needs a directory" --dir=
refused "-d '' (empty)" "--dir needs a directory" -d ''
refused "--prefix holding a newline" "--prefix must be printable UTF-8" "--prefix=a${nl}b"
refused "--suffix holding a tab" "--suffix must be printable UTF-8" "--suffix=.$(printf '\t')x"
refused "--prefix holding an escape" "--prefix must be printable UTF-8" "--prefix=$(printf '\033')[31m"
refused "--prefix holding DEL" "--prefix must be printable UTF-8" "--prefix=a$(printf '\177')"
refused "--prefix holding a C1 control (U+009B)" "--prefix must be printable UTF-8" \
    "--prefix=$(printf '\302\233')"
refused "--suffix holding invalid UTF-8" "--suffix must be printable UTF-8" "--suffix=$(printf '\377')"
refused "--gc --prefix holding a newline" "--prefix must be printable UTF-8" --gc "--prefix=a${nl}b"
refused "--prefix holding a /" "must not contain '/'" --prefix=a/b
refused "a 300-byte --prefix" "longer than NAME_MAX" --prefix="$(printf '%0300d' 0)"
# shellcheck disable=SC2016 # expanded by COMMAND's shell
assert_status 0 "a UTF-8 --prefix and --suffix: runs" "$TMPRUN" --dir="$base" --prefix=été- --suffix=.日本 \
    sh -c 'basename "$TMPDIR"'
assert_match "$OUT" '^été-[A-Za-z0-9]{10}\.日本$' "a UTF-8 --prefix and --suffix: the name holds them"

# --- other values ---
refused "--mode=800" "invalid mode '800' (octal, at most 07777)" --mode=800
refused "--mode=17777" "invalid mode '17777'" --mode=17777
refused "--mode= (empty)" "invalid mode ''" --mode=
refused "--user= (empty)" "--user needs a user name or number" --user=
refused "--user=:0 (a group alone)" "--user needs a user name or number" --user=:0

# --- what goes together ---
refused_as "no COMMAND" "missing COMMAND" --dir="$base"
refused_as "no COMMAND after options" "missing COMMAND" --dir="$base" -v --cd --
refused "--dry-run without --gc" "--older-than and --dry-run go with --gc" --dry-run
refused "--older-than without --gc" "--older-than and --dry-run go with --gc" --older-than=1h
refused_as "--gc with a COMMAND" "--gc takes no COMMAND (got 'touch')" --dir="$base" --gc touch "$ran"
for opt in --mode=0700 --export=FOO --cd --keep --keep-on-failure --ignore-cleanup-errors --grace=1 --tmpfs \
    --private-tmp --user=root --drop-caps --no-new-privs; do
    refused "--gc $opt" "--gc takes only --dir, --prefix, --suffix, --older-than, --dry-run, -v" --gc "$opt"
done

# --help and --version whose output cannot be written: 125, not a silent 0.
for opt in --help --version; do
    # shellcheck disable=SC2016 # the sh -c script expands its own arguments
    assert_status 125 "$opt to a full device: 125" sh -c '"$1" "$2" >/dev/full' sh "$TMPRUN" "$opt"
done

done_testing
