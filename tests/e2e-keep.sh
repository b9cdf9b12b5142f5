#!/bin/sh
# tmprun end to end: --keep and --keep-on-failure.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
where=$SCRATCH/where

# COMMAND records its workspace, leaves a file in it, then exits with $2 or, with $3, kills itself with $3.
# shellcheck disable=SC2016 # expanded by COMMAND's shell
job='printf %s "$TMPDIR" >"$1" && mkdir "$TMPDIR/sub" && echo payload >"$TMPDIR/sub/file" &&
    if [ -n "$3" ]; then kill -"$3" $$; fi; exit "$2"'

# keep_run STATUS DESC [OPTION]... -- EXIT [SIGNAL]
keep_run() {
    _want=$1
    _desc=$2
    shift 2
    _opts=
    while [ "$1" != "--" ]; do
        _opts="$_opts $1"
        shift
    done
    shift
    rm -f "$where"
    # shellcheck disable=SC2086 # $_opts holds whole options, none with spaces
    assert_status "$_want" "$_desc" env TMPDIR="$base" "$TMPRUN" $_opts sh -c "$job" sh "$where" "$@"
    ws=$(cat "$where" 2>/dev/null)
    if [ -z "$ws" ]; then
        not_ok "$_desc: COMMAND recorded its workspace"
    fi
}

keep_run 0 "--keep: exits with COMMAND's status 0" --keep -- 0
assert_exists "$ws" "--keep: the workspace exists after the run"
assert_eq "$(cat "$ws/sub/file" 2>&1)" "payload" "--keep: its contents are intact"
assert_mode "$ws" 1700 "--keep: its mode is unchanged but for the sticky bit that marks it kept"
assert_contains "$ERR" "$ws" "--keep: stderr names the kept path"
rm -rf "$ws"

keep_run 0 "--keep-on-failure, COMMAND exits 0: exits 0" --keep-on-failure -- 0
assert_absent "$ws" "--keep-on-failure, exit 0: the workspace is removed"
assert_not_contains "$ERR" "kept workspace" "--keep-on-failure, exit 0: nothing said about keeping"

keep_run 1 "--keep-on-failure, COMMAND exits 1: exits 1" --keep-on-failure -- 1
assert_exists "$ws" "--keep-on-failure, exit 1: the workspace is kept"
assert_eq "$(cat "$ws/sub/file" 2>&1)" "payload" "--keep-on-failure, exit 1: its contents are intact"
assert_contains "$ERR" "tmprun: kept workspace $ws" "--keep-on-failure, exit 1: stderr says 'kept workspace PATH'"
rm -rf "$ws"

keep_run 137 "--keep-on-failure, COMMAND killed by SIGKILL: tmprun dies of SIGKILL too" --keep-on-failure -- 0 KILL
assert_exists "$ws" "--keep-on-failure, SIGKILL: the workspace is kept"
assert_eq "$(cat "$ws/sub/file" 2>&1)" "payload" "--keep-on-failure, SIGKILL: its contents are intact"
assert_contains "$ERR" "tmprun: kept workspace $ws" "--keep-on-failure, SIGKILL: stderr says 'kept workspace PATH'"
rm -rf "$ws"

keep_run 143 "--keep-on-failure, COMMAND killed by SIGTERM: tmprun dies of SIGTERM too" --keep-on-failure -- 0 TERM
assert_exists "$ws" "--keep-on-failure, SIGTERM: the workspace is kept"
rm -rf "$ws"

assert_status 127 "--keep-on-failure, COMMAND not found: exits 127" \
    env TMPDIR="$base" "$TMPRUN" --keep-on-failure tmprun-no-such-command
kept=$(sed -n 's/^tmprun: kept workspace \(.*\) (.*$/\1/p' "$ERR")
assert_match "$kept" "^$base/tmprun\." "--keep-on-failure, COMMAND not found: the workspace is kept and named"
[ -n "$kept" ] && rm -rf "$kept"

keep_run 3 "--keep with a failing COMMAND: exits 3" --keep -- 3
assert_exists "$ws" "--keep with a failing COMMAND: the workspace is kept"
rm -rf "$ws"

assert_eq "$(ls -A "$base")" "" "nothing but the kept workspaces was left (and those are cleaned up)"

done_testing
