#!/bin/sh
# System calls failing under tmprun (tests/inject: a seccomp filter): the fallbacks for kernels and sandboxes
# shellcheck disable=SC2016 # the sh -c scripts expand their own variables
# without pidfds or the new mount API, and for every failure one clear message, the documented status and no
# workspace left behind unsaid.
# shellcheck source=tests/lib.sh
. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

inject=${TESTS_BUILDDIR:-$(dirname "$0")}/inject
eio=$("$inject" --strerror EIO) # the libc's words: glibc's "Input/output error", musl's "I/O error"
base=$SCRATCH/base
mkdir "$base"

# faulty LABEL STATUS MESSAGE FAULT... -- TMPRUN-ARGS...: tmprun with FAULTs exits STATUS, prints exactly one
# line on stderr containing MESSAGE, and leaves the base directory empty.
faulty() {
    _label=$1 _want=$2 _msg=$3
    shift 3
    _faults=
    while [ "$1" != -- ]; do
        _faults="$_faults $1"
        shift
    done
    shift
    # shellcheck disable=SC2086 # the faults are words
    assert_status "$_want" "$_label: exits $_want" "$inject" $_faults -- "$TMPRUN" --dir="$base" "$@"
    assert_eq "$(grep -c . "$ERR")" 1 "$_label: one line on stderr"
    assert_contains "$ERR" "$_msg" "$_label: it says what failed"
    assert_eq "$(ls -A "$base")" "" "$_label: nothing is left in the base directory"
}

if ! is_root; then
    skip "fault injection" "needs root (the --user and namespace cases)"
    done_testing
    exit 0
fi

# --- fallbacks: the job gets done all the same ---
assert_status 0 "no pidfd_open: leftovers are still stopped" \
    "$inject" ENOSYS:pidfd_open -- "$TMPRUN" -v --dir="$base" sh -c 'sleep 1000 & echo $! >"$1"' sh "$SCRATCH/pid"
assert_contains "$ERR" "stopped 1 leftover process" "no pidfd_open: -v counts the leftover"
assert_eq "$(proc_state "$(cat "$SCRATCH/pid")")" "" "no pidfd_open: the leftover is gone, reaped"
assert_eq "$(ls -A "$base")" "" "no pidfd_open: the workspace is gone"

# pidfd_open without pidfd_send_signal (valgrind 3.24 wraps only the first): kill(2) instead, while the pidfd
# still tells when the leftover has exited. Both SIGTERM (the grace) and SIGKILL (--grace=0) must reach it,
# or tmprun would report it unstoppable, keep the workspace and exit 125.
for grace in 2 0; do
    assert_status 0 "no pidfd_send_signal, --grace=$grace: leftovers are still stopped" \
        "$inject" ENOSYS:pidfd_send_signal -- "$TMPRUN" -v --grace="$grace" --dir="$base" \
        sh -c 'sleep 1000 & echo $! >"$1"' sh "$SCRATCH/pid"
    assert_contains "$ERR" "stopped 1 leftover process" "no pidfd_send_signal, --grace=$grace: -v counts it"
    assert_eq "$(proc_state "$(cat "$SCRATCH/pid")")" "" "no pidfd_send_signal, --grace=$grace: it is gone, reaped"
    assert_eq "$(ls -A "$base")" "" "no pidfd_send_signal, --grace=$grace: the workspace is gone"
done

echo host >"$SCRATCH/marker"
assert_status 0 "no new mount API: --tmpfs --private-tmp work through mount(2)" \
    "$inject" ENOSYS:fsopen ENOSYS:open_tree -- "$TMPRUN" --tmpfs=1M --private-tmp --cd --dir="$base" \
    sh -c 'stat -f -c %T .; stat -f -c %T /tmp; stat -c %a .; echo inside >/tmp/probe; cat /tmp/probe'
assert_eq "$(tr '\n' ' ' <"$OUT")" "tmpfs tmpfs 700 inside " "no new mount API: a 0700 tmpfs, also over /tmp"
assert_absent /tmp/probe "no new mount API: /tmp/probe stayed in COMMAND's /tmp"
assert_eq "$(ls -A "$base")" "" "no new mount API: the workspace is gone"
assert_status 1 "no new mount API: the size limit holds" \
    "$inject" ENOSYS:fsopen -- "$TMPRUN" --tmpfs=64k --cd --dir="$base" sh -c 'head -c 200000 /dev/zero >big'
assert_contains "$ERR" "No space left" "no new mount API: writing past SIZE gives ENOSPC"

# --- failures before anything exists ---
faulty "no signalfd" 125 "cannot set up signal handling" EIO:signalfd4 -- true
faulty "no randomness" 125 "cannot create a workspace in $base: $eio" EIO:getrandom -- true
faulty "read-only base" 125 "Read-only file system" EROFS:mkdirat -- true
faulty "no unshare" 125 "unshare(2) failed: Operation not permitted" EPERM:unshare -- --tmpfs true
# The child's set-up finds this out, after the workspace exists: it is a refusal all the same, so the workspace
# goes whatever --keep-on-failure says, and COMMAND never runs.
faulty "no unshare, --keep-on-failure" 125 "--private-tmp needs a mount namespace, and unshare(2) failed" \
    EPERM:unshare -- --private-tmp --keep-on-failure sh -c 'echo ran >"$1"' sh "$SCRATCH/ran"
assert_absent "$SCRATCH/ran" "no unshare: COMMAND did not run (no silent fallback to disk)"

# --- failures once the workspace exists: it is taken back ---
faulty "no flock" 125 "$eio" EIO:flock -- true
faulty "no fchmod" 125 "$eio" EIO:fchmod -- true
# LeakSanitizer (in the sanitizer build) needs clone(2) for its own exit-time check: off for this one run.
asan_saved=${ASAN_OPTIONS-}
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
faulty "no fork" 125 "cannot start true" EAGAIN:clone EAGAIN:vfork -- true
ASAN_OPTIONS=$asan_saved
faulty "--user, setresgid denied" 125 "setresgid: Operation not permitted" EPERM:setresgid -- --user=nobody true
faulty "--user, setgroups denied" 125 "setgroups: Operation not permitted" EPERM:setgroups -- --user=nobody true
faulty "--user, setresuid denied" 125 "setresuid: Operation not permitted" EPERM:setresuid -- --user=nobody true
faulty "--tmpfs, mount denied" 125 "cannot make the mount namespace private" EPERM:mount -- --tmpfs true

# --- a child-side failure without injection: --cd into a 0000 workspace, as a user without root's powers ---
setup_user
ubase=$UDIR/base
as_user mkdir "$ubase"
assert_status 125 "--mode=0000 --cd as nobody: 125" as_user "$USER_TMPRUN" --mode=0000 --cd --dir="$ubase" true
assert_eq "$(grep -c . "$ERR")" 1 "--mode=0000 --cd as nobody: one line on stderr"
assert_contains "$ERR" "cannot change into the workspace: Permission denied" "--mode=0000 --cd as nobody: says why"
assert_eq "$(ls -A "$ubase")" "" "--mode=0000 --cd as nobody: the workspace was taken back"

# --- failures while removing: reported, status 125 after a 0, the workspace named ---
# LeakSanitizer (gcc 14's) lists threads with getdents64 for its exit-time check: off while that call fails.
ASAN_OPTIONS="${asan_saved:+$asan_saved:}detect_leaks=0"
assert_status 125 "getdents64 fails: cleanup failure after status 0 gives 125" \
    "$inject" EIO:getdents64 -- "$TMPRUN" --dir="$base" true
ws=$(find "$base" -mindepth 1 -maxdepth 1)
assert_match "$ERR" "cannot remove $ws: $eio" "getdents64 fails: the workspace and the error are named"
assert_exists "$ws" "getdents64 fails: the workspace is left, and said so"
rmdir "$ws"
assert_status 3 "getdents64 fails: COMMAND's non-zero status is passed on unchanged" \
    "$inject" EIO:getdents64 -- "$TMPRUN" --dir="$base" sh -c 'exit 3'
rmdir "$base"/*
assert_status 0 "getdents64 fails, --ignore-cleanup-errors: status 0" \
    "$inject" EIO:getdents64 -- "$TMPRUN" --ignore-cleanup-errors --dir="$base" true
assert_eq "$(cat "$ERR")" "" "getdents64 fails, --ignore-cleanup-errors: nothing reported"
rmdir "$base"/*

assert_status 125 "unlinkat fails: 125" \
    "$inject" EPERM:unlinkat -- "$TMPRUN" --dir="$base" sh -c ': >"$TMPDIR/a"; mkdir "$TMPDIR/d"'
assert_eq "$(grep -c 'Operation not permitted' "$ERR")" 2 "unlinkat fails: each entry reported once"
assert_contains "$ERR" "/a: Operation not permitted" "unlinkat fails: the file is named"
assert_contains "$ERR" "/d: Operation not permitted" "unlinkat fails: the directory is named"
rm -rf "${base:?}"/*

assert_status 125 "statx fails: 125" "$inject" EIO:statx -- "$TMPRUN" --dir="$base" true
assert_contains "$ERR" "$eio" "statx fails: reported"
rmdir "$base"/*

# --- a kernel without statx (before 4.11) or without STATX_MNT_ID (before 5.8) ---
# The mount id then comes from name_to_handle_at, else (a filesystem without file handles, a seccomp policy)
# from /proc/self/fdinfo: either way a bind mount of the same filesystem (same st_dev) inside the workspace is
# still told apart and left alone.
src=$SCRATCH/bindsrc
mkdir -p "$src/d"
echo precious >"$src/d/file"
for faults in ENOSYS:statx "ENOSYS:statx ENOSYS:name_to_handle_at"; do
    # shellcheck disable=SC2086 # the faults are words
    assert_status 125 "no $faults: a same-filesystem bind mount inside makes the cleanup fail" \
        unshare -m --propagation private "$inject" $faults -- "$TMPRUN" --dir="$base" \
        sh -c 'echo x >"$TMPDIR/other"; mkdir "$TMPDIR/mnt" && mount --bind "$1" "$TMPDIR/mnt"' sh "$src"
    assert_contains "$ERR" "/mnt: a mount point or another filesystem; not crossed" "no $faults: the mount is reported"
    assert_eq "$(cat "$src/d/file" 2>&1)" precious "no $faults: the file below the bind mount survives"
    assert_eq "$(ls "$base"/*)" mnt "no $faults: the rest of the workspace was removed"
    rm -rf "${base:?}"/*
done

# --- --gc meeting failures: exit 1 with a message, the others still handled ---
mkdir "$base/tmprun.AAAAAAAAAA" "$base/tmprun.BBBBBBBBBB"
assert_status 1 "--gc, flock fails: exit 1" "$inject" EIO:flock -- "$TMPRUN" --gc --older-than=0 --dir="$base"
assert_eq "$(grep -c 'cannot examine' "$ERR")" 2 "--gc, flock fails: each workspace reported"
assert_status 1 "--gc, base unreadable: exit 1" "$inject" EIO:getdents64 -- "$TMPRUN" --gc --dir="$base"
assert_contains "$ERR" "cannot read $base" "--gc, base unreadable: says so"
ASAN_OPTIONS=$asan_saved
assert_status 0 "--gc without faults removes both" "$TMPRUN" --gc --older-than=0 --dir="$base"
assert_eq "$(ls -A "$base")" "" "--gc without faults: nothing left"

done_testing
