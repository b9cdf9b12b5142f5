#!/bin/sh
# tmprun end to end: --gc removes the workspaces of runs that were killed (SIGKILL cannot be caught), never one
# a live tmprun or an orphan it started still holds, nor one too recent, nor anything that is not a workspace.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"

gc() {
    "$TMPRUN" --gc --dir="$base" "$@"
}

# A workspace-like directory with some files: mkws NAME.
mkws() {
    mkdir "$base/$1" "$base/$1/sub"
    echo data >"$base/$1/file"
    echo data >"$base/$1/sub/file"
}

# The job run by the tmprun that the test kills: it reports its workspace and pid in DIR, then waits for
# DIR/finish (at most 20 s), or with "exec", becomes a lone 'sleep 1000' (no child of its own would hold the
# inherited lock once it is killed).
cat >"$SCRATCH/job.sh" <<'EOF'
d=$1
printf '%s\n' "$TMPDIR" >"$d/ws"
echo "$$" >"$d/child.pid.tmp"
mv "$d/child.pid.tmp" "$d/child.pid"
if [ "${2:-}" = exec ]; then
    exec sleep 1000
fi
i=0
until [ -e "$d/finish" ]; do
    i=$((i + 1))
    [ "$i" -lt 400 ] || exit 99
    sleep 0.05
done
EOF

# killed_run DIR [exec]: a tmprun killed by SIGKILL; its COMMAND (pid in $child) lives on, an orphan. $ws is
# the workspace. Returns 1 if COMMAND never started.
killed_run() {
    rm -rf "$1"
    mkdir "$1"
    "$TMPRUN" --dir="$base" sh "$SCRATCH/job.sh" "$@" &
    _pid=$!
    if ! wait_until "COMMAND to start" test -e "$1/child.pid"; then
        kill -KILL "$_pid"
        wait "$_pid"
        return 1
    fi
    ws=$(cat "$1/ws")
    child=$(cat "$1/child.pid")
    kill -KILL "$_pid"
    _st=0
    wait "$_pid" 2>/dev/null || _st=$?
    assert_eq "$_st" 137 "SIGKILL of tmprun: it dies at once (137)"
    assert_exists "$ws" "SIGKILL of tmprun: the workspace is left behind"
}

# --- (a) SIGKILL of tmprun and of its COMMAND: --gc removes the workspace.
d=$SCRATCH/a
if killed_run "$d" exec; then
    kill -KILL "$child"
    wait_until "the orphaned COMMAND to die" has_exited "$child"
    assert_status 0 "--gc --older-than=0 after SIGKILL of tmprun and COMMAND: exit 0" gc --older-than=0
    assert_eq "$(cat "$OUT")" "removed $ws" "--gc prints 'removed WORKSPACE'"
    assert_absent "$ws" "--gc removed the killed run's workspace"
    assert_eq "$(cat "$ERR")" "" "--gc removing a workspace prints nothing on stderr"
else
    not_ok "SIGKILL of tmprun, then --gc (COMMAND never started)"
fi

# --- (b) An orphan that outlived the SIGKILLed tmprun still holds the inherited lock: its workspace stays.
d=$SCRATCH/b
if killed_run "$d"; then
    assert_status 0 "--gc with a workspace held by a live orphan: exit 0" gc -v --older-than=0
    assert_exists "$ws" "--gc leaves the workspace of a live orphan alone"
    assert_not_contains "$OUT" "removed" "--gc reports nothing removed while the orphan lives"
    assert_contains "$ERR" "in use" "--gc -v says the workspace is in use"
    if has_exited "$child"; then
        not_ok "the orphan is still alive after --gc"
    else
        ok "the orphan is still alive after --gc"
    fi
    : >"$d/finish"
    wait_until "the orphan to finish" has_exited "$child"
    assert_status 0 "--gc after the orphan exited: exit 0" gc --older-than=0
    assert_eq "$(cat "$OUT")" "removed $ws" "--gc removes the workspace once the orphan is gone"
    assert_absent "$ws" "the orphan's workspace is gone"
else
    not_ok "--gc and a live orphan (COMMAND never started)"
fi

# A live run is never touched either, even with --older-than=0.
d=$SCRATCH/live
mkdir "$d"
"$TMPRUN" --dir="$base" sh "$SCRATCH/job.sh" "$d" &
pid=$!
if wait_until "COMMAND to start" test -e "$d/child.pid"; then
    ws=$(cat "$d/ws")
    assert_status 0 "--gc beside a live run: exit 0" gc --older-than=0
    assert_exists "$ws" "--gc leaves a live run's workspace alone"
    assert_eq "$(cat "$OUT")" "" "--gc beside a live run removes nothing"
    : >"$d/finish"
    st=0
    wait "$pid" || st=$?
    assert_eq "$st" 0 "the live run, left alone by --gc, ends normally"
    assert_absent "$ws" "the live run removed its own workspace"
else
    kill -KILL "$pid"
    wait "$pid"
    not_ok "--gc beside a live run (COMMAND never started)"
fi

# --- (c) Age: max(mtime, ctime) against --older-than (default 1h). touch cannot set ctime back, so a leftover
# made now is always recent.
mkws tmprun.Fresh00001
assert_status 0 "--gc --older-than=1h with a fresh leftover: exit 0" gc -v --older-than=1h
assert_exists "$base/tmprun.Fresh00001" "--older-than=1h leaves a fresh leftover alone"
assert_contains "$ERR" "tmprun.Fresh00001" "--gc -v names the leftover it skips as too recent"
touch -d '2 hours ago' "$base/tmprun.Fresh00001"
assert_status 0 "--gc (default --older-than=1h), mtime set 2 hours back: exit 0" gc
assert_exists "$base/tmprun.Fresh00001" "the default 1h goes by the recent ctime too: left alone"
assert_status 0 "--gc --older-than=0 with the fresh leftover: exit 0" gc --older-than=0
assert_eq "$(cat "$OUT")" "removed $base/tmprun.Fresh00001" "--older-than=0 removes it whatever its age"
assert_absent "$base/tmprun.Fresh00001" "--older-than=0: the leftover is gone"
assert_status 125 "--older-than=abc is a usage error (125)" gc --older-than=abc

# --- (d) --dry-run prints what it would remove and removes nothing.
mkws tmprun.DryRun0001
mkws tmprun.DryRun0002
assert_status 0 "--gc --dry-run: exit 0" gc --dry-run --older-than=0
assert_eq "$(sort "$OUT" | tr '\n' ' ')" \
    "would remove $base/tmprun.DryRun0001 would remove $base/tmprun.DryRun0002 " \
    "--dry-run prints 'would remove' for each workspace"
assert_exists "$base/tmprun.DryRun0001/sub/file" "--dry-run removed nothing (first)"
assert_exists "$base/tmprun.DryRun0002/sub/file" "--dry-run removed nothing (second)"
# The list it cannot write: said, exit 1.
# shellcheck disable=SC2016 # the sh -c script expands its own arguments
assert_status 1 "--gc --dry-run to a full device: exit 1" \
    sh -c '"$1" --gc --dry-run --older-than=0 --dir="$2" >/dev/full' sh "$TMPRUN" "$base"
assert_contains "$ERR" "cannot write the list of removed workspaces" "--gc --dry-run to a full device: says so"
assert_status 0 "--gc after --dry-run: exit 0" gc --older-than=0
assert_absent "$base/tmprun.DryRun0001" "without --dry-run they go (first)"
assert_absent "$base/tmprun.DryRun0002" "without --dry-run they go (second)"

# --- (e) Only directories named prefix + 10 of [A-Za-z0-9]; never a file or a symlink, nor what it points to.
mkdir "$base/tmprun.short" "$base/tmprun.Eleven12345" "$base/tmprun.Bad-char00" "$base/other.Other00001"
echo data >"$base/tmprun.AFile00001"
mkdir "$SCRATCH/outside"
echo precious >"$SCRATCH/outside/file"
ln -s "$SCRATCH/outside" "$base/tmprun.ALink00001"
assert_status 0 "--gc with look-alikes only: exit 0" gc --older-than=0
assert_eq "$(cat "$OUT")" "" "--gc removed none of the look-alikes"
for n in tmprun.short tmprun.Eleven12345 tmprun.Bad-char00 other.Other00001; do
    assert_exists "$base/$n" "--gc leaves the directory $n alone"
done
assert_exists "$base/tmprun.AFile00001" "--gc leaves a file named like a workspace alone"
assert_exists "$base/tmprun.ALink00001" "--gc leaves a symlink named like a workspace alone"
assert_eq "$(cat "$SCRATCH/outside/file")" precious "--gc leaves the symlink's target and its files alone"
rm -rf "$base/tmprun.short" "$base/tmprun.Eleven12345" "$base/tmprun.Bad-char00" "$base/other.Other00001" \
    "$base/tmprun.AFile00001" "$base/tmprun.ALink00001"

# Owners: root reaps anyone's; another user only their own.
mkws tmprun.Nobody0001
chown -R "$UNPRIV_UID:$UNPRIV_GID" "$base/tmprun.Nobody0001"
assert_status 0 "--gc as root, a leftover of another user: exit 0" gc --older-than=0
assert_absent "$base/tmprun.Nobody0001" "--gc as root removes another user's leftover"
setup_user
ubase=$UDIR
mkdir "$ubase/tmprun.RootOwned1" "$ubase/tmprun.UserOwned1"
echo data >"$ubase/tmprun.RootOwned1/file"
echo data >"$ubase/tmprun.UserOwned1/file"
chown -R "$UNPRIV_UID:$UNPRIV_GID" "$ubase/tmprun.UserOwned1"
assert_status 0 "--gc as a user, beside root's leftover: exit 0" \
    as_user "$USER_TMPRUN" --gc --dir="$ubase" --older-than=0
assert_eq "$(cat "$OUT")" "removed $ubase/tmprun.UserOwned1" "--gc as a user removes the user's own leftover"
assert_exists "$ubase/tmprun.RootOwned1/file" "--gc as a user leaves root's leftover alone"

# A workspace that cannot be removed (a mount point inside): non-zero exit with a message, others still go.
mkws tmprun.Mounted001
mkdir "$base/tmprun.Mounted001/mnt"
if mount -t tmpfs tmprun-e2e "$base/tmprun.Mounted001/mnt"; then
    mkws tmprun.Plain00001
    assert_status 1 "--gc with a workspace it cannot remove: exit 1" gc --older-than=0
    assert_contains "$ERR" "tmprun.Mounted001" "--gc names the workspace it could not remove"
    assert_absent "$base/tmprun.Plain00001" "--gc still removed the other workspace"
    umount "$base/tmprun.Mounted001/mnt"
else
    not_ok "--gc with a workspace it cannot remove" "cannot mount a tmpfs"
fi
gc --older-than=0 >/dev/null 2>&1

# --- (f) Two --gc at once: both exit 0, each workspace removed and reported by exactly one of them.
# two_gcs: start two --gc --older-than=0 at once; their output in $SCRATCH/gc[12].{out,err}, statuses in s1 s2.
two_gcs() {
    gc --older-than=0 >"$SCRATCH/gc1.out" 2>"$SCRATCH/gc1.err" &
    _p1=$!
    gc --older-than=0 >"$SCRATCH/gc2.out" 2>"$SCRATCH/gc2.err" &
    _p2=$!
    s1=0
    wait "$_p1" || s1=$?
    s2=0
    wait "$_p2" || s2=$?
}
for round in 1 2 3; do
    i=1
    while [ "$i" -le 50 ]; do
        n=$(printf 'tmprun.R%dW%07d' "$round" "$i")
        mkws "$n"
        for f in 1 2 3 4 5 6 7 8 9 10; do
            echo data >"$base/$n/sub/f$f"
        done
        i=$((i + 1))
    done
    two_gcs
    assert_eq "$s1 $s2" "0 0" "round $round: two --gc at once both exit 0"
    assert_eq "$(cat "$SCRATCH/gc1.err" "$SCRATCH/gc2.err")" "" "round $round: neither --gc reports a failure"
    assert_eq "$(cat "$SCRATCH/gc1.out" "$SCRATCH/gc2.out" | sort | uniq -d)" "" \
        "round $round: no workspace reported twice"
    assert_eq "$(cat "$SCRATCH/gc1.out" "$SCRATCH/gc2.out" | grep -c "^removed $base/tmprun.R${round}W")" 50 \
        "round $round: the two together report all 50 removed"
    assert_eq "$(ls -A "$base")" "" "round $round: all 50 workspaces are gone"
done

# --- (f2) Two --gc at once over 200 workspaces, each sweeping with several threads: both exit 0, every
# "removed" line whole and for one workspace only, nothing left.
i=1
while [ "$i" -le 200 ]; do
    mkws "$(printf 'tmprun.M%09d' "$i")"
    i=$((i + 1))
done
two_gcs
assert_eq "$s1 $s2" "0 0" "200 workspaces: two --gc at once both exit 0"
assert_eq "$(cat "$SCRATCH/gc1.err" "$SCRATCH/gc2.err")" "" "200 workspaces: neither --gc reports a failure"
assert_eq "$(cat "$SCRATCH/gc1.out" "$SCRATCH/gc2.out" | grep -vc "^removed $base/tmprun\.M[0-9]\{9\}\$")" 0 \
    "200 workspaces: every line is one whole 'removed PATH'"
assert_eq "$(cat "$SCRATCH/gc1.out" "$SCRATCH/gc2.out" | sort | uniq -d)" "" "200 workspaces: none reported twice"
assert_eq "$(cat "$SCRATCH/gc1.out" "$SCRATCH/gc2.out" | grep -c .)" 200 "200 workspaces: all 200 reported removed"
assert_eq "$(ls -A "$base")" "" "200 workspaces: nothing is left"

# --- (g) --gc takes no COMMAND; --older-than and --dry-run need --gc.
assert_status 125 "--gc with a COMMAND is a usage error (125)" "$TMPRUN" --gc --dir="$base" true
assert_contains "$ERR" "true" "--gc with a COMMAND: stderr names it"
assert_status 125 "--older-than without --gc is a usage error (125)" "$TMPRUN" --older-than=0 true
assert_status 125 "--dry-run without --gc is a usage error (125)" "$TMPRUN" --dry-run true
assert_status 125 "--gc in a missing directory: 125" "$TMPRUN" --gc --dir="$SCRATCH/missing"
assert_contains "$ERR" "$SCRATCH/missing" "--gc in a missing directory: stderr names it"

# --- Nothing of this test is left running (zombies waiting for init aside), and no workspace is left.
assert_nothing_left "$base"
done_testing
