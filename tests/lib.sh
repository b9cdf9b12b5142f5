# shellcheck shell=sh
# Small TAP library for the end-to-end tests, sourced by each tests/e2e-*.sh.
#
#   ok DESC / not_ok DESC [DIAG] / skip DESC REASON / diag TEXT...
#   plan N (at the start) or done_testing (at the end, prints 1..N)
#   assert_eq GOT WANT DESC
#   assert_status WANT DESC CMD [ARG]...   runs CMD, stdout in $OUT, stderr in $ERR, status in $STATUS
#   assert_exists PATH DESC / assert_absent PATH DESC
#   assert_contains FILE_OR_STRING TEXT DESC      fixed string; FILE_OR_STRING is read if it is a regular file
#   assert_not_contains FILE_OR_STRING TEXT DESC
#   assert_match FILE_OR_STRING ERE DESC          extended regular expression
#   assert_mode PATH OCTAL DESC                   permission bits as stat -c %a prints them
#   is_root, setup_user, as_user CMD [ARG]...     for the tests that must run without root's powers
#
# $SCRATCH is a private directory removed (after unmounting anything below it) when the test exits.
# $TMPRUN, the binary under test, comes from make check.

: "${TMPRUN:?TMPRUN must name the tmprun binary (make check sets it)}"

# Tests must not depend on the caller's umask; the ones about the umask set their own.
umask 022

_tap_n=0
_tap_failed=0
_tap_planned=

diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

plan() {
    _tap_planned=$1
    echo "1..$1"
}

done_testing() {
    if [ -z "$_tap_planned" ]; then
        echo "1..$_tap_n"
    elif [ "$_tap_planned" -ne "$_tap_n" ]; then
        diag "planned $_tap_planned tests but ran $_tap_n"
        _tap_failed=$((_tap_failed + 1))
    fi
    _tap_done=1
}

ok() {
    _tap_n=$((_tap_n + 1))
    echo "ok $_tap_n - $1"
}

not_ok() {
    _tap_n=$((_tap_n + 1))
    _tap_failed=$((_tap_failed + 1))
    echo "not ok $_tap_n - $1"
    shift
    for _line in "$@"; do
        diag "$_line"
    done
}

skip() {
    _tap_n=$((_tap_n + 1))
    echo "ok $_tap_n - $1 # SKIP $2"
}

# Print what a failed assertion saw about the last command run by assert_status.
_last_run_diag() {
    if [ -n "${STATUS:-}" ]; then
        diag "last command exited $STATUS" "stdout:" "$(cat "$OUT" 2>/dev/null)" "stderr:" \
            "$(cat "$ERR" 2>/dev/null)"
    fi
}

assert_eq() {
    if [ "$1" = "$2" ]; then
        ok "$3"
    else
        not_ok "$3" "got:  '$1'
want: '$2'"
    fi
}

assert_status() {
    _want=$1
    _desc=$2
    shift 2
    STATUS=0
    "$@" >"$OUT" 2>"$ERR" || STATUS=$?
    if [ "$STATUS" -eq "$_want" ]; then
        ok "$_desc"
    else
        not_ok "$_desc" "exit status $STATUS, want $_want: $*"
        _last_run_diag
    fi
}

assert_exists() {
    if [ -z "$1" ]; then
        not_ok "$2" "no path given (an earlier step failed)"
    elif [ -e "$1" ] || [ -L "$1" ]; then
        ok "$2"
    else
        not_ok "$2" "missing: $1"
    fi
}

assert_absent() {
    if [ -z "$1" ]; then
        not_ok "$2" "no path given (an earlier step failed)"
    elif [ -e "$1" ] || [ -L "$1" ]; then
        not_ok "$2" "still there: $1"
    else
        ok "$2"
    fi
}

# The text to search: the file's contents if $1 is a regular file, else $1 itself.
_text_of() {
    if [ -f "$1" ]; then
        cat "$1"
    else
        printf '%s\n' "$1"
    fi
}

assert_contains() {
    if _text_of "$1" | grep -qF -e "$2"; then
        ok "$3"
    else
        not_ok "$3" "'$2' not found in:" "$(_text_of "$1")"
    fi
}

assert_not_contains() {
    if _text_of "$1" | grep -qF -e "$2"; then
        not_ok "$3" "'$2' unexpectedly found in:" "$(_text_of "$1")"
    else
        ok "$3"
    fi
}

assert_match() {
    if _text_of "$1" | grep -qE -e "$2"; then
        ok "$3"
    else
        not_ok "$3" "/$2/ does not match:" "$(_text_of "$1")"
    fi
}

assert_mode() {
    _mode=$(stat -c %a "$1" 2>&1) || _mode="(stat failed: $_mode)"
    assert_eq "$_mode" "$2" "$3"
}

# Line N (from 1) of a file.
line() {
    sed -n "$2p" "$1"
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

# The unprivileged user for the tests that must not have root's powers (root bypasses permission bits).
UNPRIV_UID=65534
UNPRIV_GID=65534

# Run a command as the unprivileged user; root only.
as_user() {
    setpriv --reuid="$UNPRIV_UID" --regid="$UNPRIV_GID" --clear-groups -- "$@"
}

# Set up for the unprivileged user (root only): $UDIR, a directory it owns below $SCRATCH, and $USER_TMPRUN,
# the binary under test where that user can run it (a copy in $SCRATCH when the build tree is out of its
# reach, e.g. under /root).
# shellcheck disable=SC2034 # USER_TMPRUN is for the tests that source this file
setup_user() {
    if [ -n "${UDIR:-}" ]; then
        return 0
    fi
    chmod 0755 "$SCRATCH"
    UDIR=$SCRATCH/user
    mkdir "$UDIR"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR"
    USER_TMPRUN=$TMPRUN
    if ! as_user test -x "$TMPRUN"; then
        mkdir "$SCRATCH/bin"
        cp "$TMPRUN" "$SCRATCH/bin/tmprun"
        chmod 0755 "$SCRATCH/bin" "$SCRATCH/bin/tmprun"
        USER_TMPRUN=$SCRATCH/bin/tmprun
    fi
}

_cleanup() {
    _st=$?
    if [ -n "${SCRATCH:-}" ] && [ -d "$SCRATCH" ]; then
        # Mounts a failed test left below the scratch dir, deepest first.
        awk -v top="$SCRATCH/" 'index($2, top) == 1 { print $2 }' /proc/self/mounts 2>/dev/null \
            | sort -r | while read -r _m; do umount -l "$_m" 2>/dev/null; done
        chmod -R u+rwX "$SCRATCH" 2>/dev/null
        rm -rf "$SCRATCH"
    fi
    if [ "$_st" -eq 0 ] && [ "$_tap_failed" -gt 0 ]; then
        _st=1
    fi
    if [ "$_st" -eq 0 ] && [ -z "${_tap_done:-}" ]; then
        echo "# exited before done_testing" >&2
        _st=1
    fi
    exit "$_st"
}

SCRATCH=$(mktemp -d /tmp/tmprun-e2e.XXXXXXXXXX) || exit 99
SCRATCH=$(cd "$SCRATCH" && pwd -P) || exit 99
OUT=$SCRATCH/.stdout
ERR=$SCRATCH/.stderr
STATUS=
trap _cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# --- waiting for events (never for a fixed time) ---

# Every wait below is for an event, checked every 0.05 s, and fails the test after this many seconds.
WAIT_LIMIT=15

# wait_until WHAT CMD [ARG]...: until CMD succeeds; 1 (and a diagnostic naming WHAT) after WAIT_LIMIT seconds.
wait_until() {
    _what=$1
    shift
    _left=$((WAIT_LIMIT * 20))
    until "$@"; do
        _left=$((_left - 1))
        if [ "$_left" -le 0 ]; then
            diag "timed out after ${WAIT_LIMIT}s waiting for $_what"
            return 1
        fi
        sleep 0.05
    done
}

# The state letter of process PID (R, S, T, Z, ...), empty once it is gone.
proc_state() {
    sed -n 's/.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null
}

# Has PID exited (gone, or a zombie: its files, namespaces and locks are released by then)?
has_exited() {
    _s=$(proc_state "$1")
    [ -z "$_s" ] || [ "$_s" = Z ]
}

# Is PID running (or stopped), not gone nor a zombie?
is_alive() {
    ! has_exited "$1"
}

# assert_nothing_left BASE: no process whose TMPDIR is a workspace in BASE is still running (any found is
# killed after the assertion), and BASE is empty. The closing check of the lifetime tests.
assert_nothing_left() {
    _left=$(grep -lsz "^TMPDIR=$1/" /proc/[0-9]*/environ | sed 's|^/proc/||; s|/environ$||')
    assert_eq "$_left" "" "no process started by this test is left"
    for _p in $_left; do
        kill -KILL "$_p" 2>/dev/null
    done
    assert_eq "$(ls -A "$1")" "" "no workspace is left in the base directory"
}
