#!/bin/sh
# tmprun end to end: where the workspace is made — --dir, $TMPDIR, $TEMP, $TMP, /tmp — and which bases are refused.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

where=$SCRATCH/where
mkdir "$SCRATCH/a" "$SCRATCH/b" "$SCRATCH/c"

# base_run STATUS DESC [VAR=VALUE]... -- [OPTION]...: run tmprun with TMPDIR, TEMP and TMP unset but for the
# assignments given; COMMAND records its TMPDIR in $where, read back into $ws ("" if COMMAND did not run).
base_run() {
    _want=$1
    _desc=$2
    shift 2
    set -- -u TMPDIR -u TEMP -u TMP "$@"
    # Move the assignments in front of the tmprun part: env -u ... VAR=VALUE ... TMPRUN OPTION...
    _n=$#
    while [ "$_n" -gt 0 ]; do
        _a=$1
        shift
        if [ "$_a" = "--" ]; then
            set -- "$@" "$TMPRUN"
        else
            set -- "$@" "$_a"
        fi
        _n=$((_n - 1))
    done
    rm -f "$where"
    # shellcheck disable=SC2016 # expanded by COMMAND's shell
    assert_status "$_want" "$_desc" env "$@" sh -c 'printf %s "$TMPDIR" >"$1"' sh "$where"
    ws=$(cat "$where" 2>/dev/null)
}

base_run 0 "TMPDIR=/nonexistent: falls back, exits 0" TMPDIR=/nonexistent --
assert_match "$ws" '^/tmp/tmprun\.[A-Za-z0-9]{10}$' "TMPDIR=/nonexistent: the workspace is made in /tmp"
assert_absent "$ws" "TMPDIR=/nonexistent: the workspace is gone"
assert_eq "$(wc -l <"$ERR")" 1 "TMPDIR=/nonexistent: exactly one warning line"
assert_contains "$ERR" "TMPDIR" "TMPDIR=/nonexistent: the warning names TMPDIR"
assert_contains "$ERR" "/nonexistent" "TMPDIR=/nonexistent: the warning names its value"

base_run 0 "TMPDIR empty: exits 0" TMPDIR= --
assert_match "$ws" '^/tmp/tmprun\.' "TMPDIR empty: the workspace is made in /tmp"
assert_eq "$(cat "$ERR")" "" "TMPDIR empty: no warning"

chmod 0777 "$SCRATCH/c"
base_run 0 "TMPDIR world-writable, not sticky: falls back, exits 0" TMPDIR="$SCRATCH/c" --
assert_match "$ws" '^/tmp/tmprun\.' "TMPDIR world-writable, not sticky: the workspace is made in /tmp"
assert_contains "$ERR" "sticky" "TMPDIR world-writable, not sticky: the warning says why (sticky)"
assert_eq "$(ls -A "$SCRATCH/c")" "" "TMPDIR world-writable, not sticky: nothing was created there"
chmod 0755 "$SCRATCH/c"

cd "$SCRATCH" || exit 99
mkdir rel
base_run 0 "TMPDIR relative: exits 0" TMPDIR=rel --
assert_match "$ws" "^$SCRATCH/rel/tmprun\.[A-Za-z0-9]{10}$" "TMPDIR=rel: the exported TMPDIR is absolute, in ./rel"
assert_eq "$(cat "$ERR")" "" "TMPDIR=rel: no warning"
base_run 0 "--dir relative: exits 0" -- --dir=rel
assert_match "$ws" "^$SCRATCH/rel/tmprun\.[A-Za-z0-9]{10}$" "--dir=rel: the exported TMPDIR is absolute, in ./rel"

base_run 0 "TMPDIR, TEMP, TMP all set: exits 0" TMPDIR="$SCRATCH/a" TEMP="$SCRATCH/b" TMP="$SCRATCH/c" --
assert_eq "$(dirname "$ws")" "$SCRATCH/a" "TMPDIR comes before TEMP and TMP"
base_run 0 "TMPDIR unset, TEMP and TMP set: exits 0" TEMP="$SCRATCH/b" TMP="$SCRATCH/c" --
assert_eq "$(dirname "$ws")" "$SCRATCH/b" "TMPDIR unset: TEMP is used, before TMP"
base_run 0 "TMPDIR and TEMP unset, TMP set: exits 0" TMP="$SCRATCH/c" --
assert_eq "$(dirname "$ws")" "$SCRATCH/c" "TMPDIR and TEMP unset: TMP is used"
base_run 0 "TMPDIR=/nonexistent, TEMP set: exits 0" TMPDIR=/nonexistent TEMP="$SCRATCH/b" --
assert_eq "$(dirname "$ws")" "$SCRATCH/b" "TMPDIR unusable: TEMP is the fallback"
base_run 0 "none of TMPDIR, TEMP, TMP set: exits 0" --
assert_match "$ws" '^/tmp/tmprun\.' "none of TMPDIR, TEMP, TMP set: /tmp is used"
assert_eq "$(cat "$ERR")" "" "none of TMPDIR, TEMP, TMP set: no warning"

base_run 0 "--dir overrides TMPDIR: exits 0" TMPDIR="$SCRATCH/a" -- --dir="$SCRATCH/b"
assert_eq "$(dirname "$ws")" "$SCRATCH/b" "--dir overrides TMPDIR"

base_run 125 "--dir=/nonexistent: 125" TMPDIR="$SCRATCH/a" -- --dir=/nonexistent
assert_contains "$ERR" "/nonexistent" "--dir=/nonexistent: stderr names it"
assert_eq "$ws" "" "--dir=/nonexistent: no fallback, COMMAND did not run"

touch "$SCRATCH/file"
base_run 125 "--dir a regular file: 125" -- --dir="$SCRATCH/file"
assert_contains "$ERR" "$SCRATCH/file" "--dir a regular file: stderr names it"
assert_eq "$ws" "" "--dir a regular file: COMMAND did not run"

mkdir "$SCRATCH/open"
chmod 0777 "$SCRATCH/open"
base_run 125 "--dir world-writable without the sticky bit: 125" -- --dir="$SCRATCH/open"
assert_contains "$ERR" "$SCRATCH/open" "--dir world-writable, not sticky: stderr names it"
assert_contains "$ERR" "sticky" "--dir world-writable, not sticky: stderr says the sticky bit is missing"
assert_eq "$ws" "" "--dir world-writable, not sticky: COMMAND did not run"
assert_eq "$(ls -A "$SCRATCH/open")" "" "--dir world-writable, not sticky: nothing was created there"

chmod 1777 "$SCRATCH/open"
base_run 0 "--dir world-writable and sticky (1777): exits 0" -- --dir="$SCRATCH/open"
assert_eq "$(dirname "$ws")" "$SCRATCH/open" "--dir 1777: the workspace is made there"
assert_absent "$ws" "--dir 1777: the workspace is gone"

if is_root; then
    setup_user
    udir=$UDIR
    mkdir "$SCRATCH/rootonly"
    chmod 0755 "$SCRATCH/rootonly"
    rm -f "$udir/where"
    # shellcheck disable=SC2016 # expanded by COMMAND's shell
    assert_status 125 "unprivileged: --dir it cannot write: 125" \
        as_user "$USER_TMPRUN" --dir="$SCRATCH/rootonly" sh -c 'printf %s "$TMPDIR" >"$1"' sh "$udir/where"
    assert_contains "$ERR" "$SCRATCH/rootonly" "unprivileged: --dir it cannot write: stderr names it"
    assert_contains "$ERR" "Permission denied" "unprivileged: --dir it cannot write: stderr gives the reason"
    assert_absent "$udir/where" "unprivileged: --dir it cannot write: COMMAND did not run"
    assert_eq "$(ls -A "$SCRATCH/rootonly")" "" "unprivileged: --dir it cannot write: nothing was created there"
else
    for d in "125" "names it" "reason" "did not run" "nothing created"; do
        skip "unprivileged: --dir it cannot write: $d" "needs root to switch to an unprivileged user"
    done
fi

done_testing
