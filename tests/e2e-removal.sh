#!/bin/sh
# The removal engine through the public CLI (issue 4): depth with a bounded number of fds, few fds left
# (ulimit -n 8), a concurrent process swapping directories for symlinks to outside ones, files that cannot be
# deleted (chattr +i) reported once each and capped at 10 lines, everything else still removed.
# shellcheck source=tests/lib.sh
. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

python=$(command -v python3 || true)
base=$SCRATCH/base
mkdir "$base"
# Trees are built on tmpfs when possible: creating them is the slow part, not what is tested.
is_root && mount -t tmpfs -o size=1G,nr_inodes=400000 tmpfs "$base"

# A workspace-named tree in $base for --gc to remove; prints its path.
gc_tree() {
    printf '%s/tmprun.Rm%08d' "$base" "$1"
}

# --- depth: a 100,000-level chain (paths far beyond PATH_MAX) under ulimit -n 16 ---
if [ -n "$python" ]; then
    deep=$SCRATCH/deep
    mkdir "$deep"
    is_root && mount -t tmpfs -o size=1G,nr_inodes=300000 tmpfs "$deep"
    # shellcheck disable=SC2016 # expanded by the inner sh
    assert_status 0 "100,000-level chain: COMMAND builds it and tmprun removes it with at most 16 fds" \
        sh -c 'ulimit -n 16 && exec "$0" -v --dir="$1" "$2" -c "
import os
os.chdir(os.environ[\"TMPDIR\"])
for _ in range(100000):
    os.mkdir(\"d\")
    os.chdir(\"d\")
open(\"leaf\", \"w\").close()"' "$TMPRUN" "$deep" "$python"
    # 100,000 directories, the leaf file and the workspace itself.
    assert_match "$ERR" ": 100002 entries," "100,000-level chain: every level was removed"
    assert_eq "$(ls -A "$deep")" "" "100,000-level chain: nothing is left"
    assert_not_contains "$ERR" "cannot" "100,000-level chain: nothing reported"
    mountpoint -q "$deep" && umount "$deep"
else
    not_ok "100,000-level chain" "python3 is needed to build the chain"
fi

# --- few descriptors left: the walk fits them (fewer threads, fewer open levels, then one thread) ---
# The binary itself under make check-valgrind: valgrind needs fds of its own, and its wrapper script cannot
# even start under ulimit -n 8 (the shell moves the script's fd above 10).
native=$TMPRUN
[ -x "$TMPRUN.real" ] && native=$TMPRUN.real
# tmprun keeps stdin/out/err, its signalfd, the base and the workspace open. Under ulimit -n 12 with two fds
# of the caller's open (8 and 9, as make's jobserver pipe would be) two to four fds are left for the removal,
# under ulimit -n 8 two. Eight subdirectories are what a parallel removal shares among threads; a chain is
# what the open levels are for. Inherited fds 3-9 are closed first, so the count does not depend on the
# test driver.
for n in 12 8; do
    if [ "$n" -eq 12 ]; then held='8</dev/null 9</dev/null'; else held=; fi
    # shellcheck disable=SC2016 # expanded by the inner sh
    assert_status 0 "ulimit -n $n: 8 directories 9 levels deep are removed" \
        sh -c 'eval "exec 3<&- 4<&- 5<&- 6<&- 7<&- 8<&- 9<&- $2" && ulimit -n "$1" && exec "$3" --dir="$4" sh -c "
            for i in 1 2 3 4 5 6 7 8; do mkdir -p \"\$TMPDIR/w\$i/a/b/c/d/e/f/g/h\"; done"' \
        sh "$n" "$held" "$native" "$base"
    assert_not_contains "$ERR" "cannot" "ulimit -n $n, 8 directories: nothing reported"
    # shellcheck disable=SC2016 # expanded by the inner sh
    assert_status 0 "ulimit -n $n: a 200-level chain is removed" \
        sh -c 'eval "exec 3<&- 4<&- 5<&- 6<&- 7<&- 8<&- 9<&- $2" && ulimit -n "$1" && exec "$3" --dir="$4" sh -c "
            p=d && i=1 && while [ \$i -lt 200 ]; do p=\$p/d && i=\$((i + 1)); done && mkdir -p \"\$TMPDIR/\$p\""' \
        sh "$n" "$held" "$native" "$base"
    assert_not_contains "$ERR" "cannot" "ulimit -n $n, chain: nothing reported"
    assert_eq "$(ls -A "$base")" "" "ulimit -n $n: nothing is left"
done

# --- a racer swapping directories for symlinks to an outside directory while --gc removes the tree ---
outside=$SCRATCH/outside
mkdir -p "$outside/sub"
echo precious >"$outside/file"
echo precious >"$outside/sub/file"
chmod 0400 "$outside/file"
chmod 0500 "$outside/sub"
chmod 0500 "$outside"
snapshot() {
    find "$outside" -exec stat -c '%n %a %s %i' {} + | sort
}
before=$(snapshot)
if [ -n "$python" ]; then
    cat >"$SCRATCH/racer.py" <<'EOF'
# racer.py TREE OUTSIDE: until killed, swap TREE/dN (N < 20) for a symlink to OUTSIDE and back, as fast as it
# can; a removal that followed a symlink or re-resolved a path would reach OUTSIDE.
import os, sys
tree, outside = sys.argv[1], sys.argv[2]
open(sys.argv[3], "w").close()
i = 0
while True:
    d = os.path.join(tree, "d%d" % (i % 20))
    try:
        os.rename(d, d + ".moved")
        os.symlink(outside, d)
        os.unlink(d)
        os.rename(d + ".moved", d)
    except OSError:
        pass
    try:
        os.symlink(outside, os.path.join(tree, "d%d" % (i % 20), "s"))
    except OSError:
        pass
    i += 1
EOF
    races=0
    leaked=0
    round=0
    while [ "$round" -lt 25 ]; do
        tree=$(gc_tree "$round")
        mkdir -p "$tree"
        "$python" -c '
import os, sys
t = sys.argv[1]
for i in range(20):
    for j in range(20):
        os.makedirs(os.path.join(t, "d%d" % i, "e%d" % j))
        for k in range(5):
            open(os.path.join(t, "d%d" % i, "e%d" % j, "f%d" % k), "w").close()
    os.chmod(os.path.join(t, "d%d" % i), 0o555)
' "$tree"
        rm -f "$SCRATCH/racing"
        "$python" "$SCRATCH/racer.py" "$tree" "$outside" "$SCRATCH/racing" &
        racer=$!
        wait_until "the racer to start" test -e "$SCRATCH/racing"
        "$TMPRUN" --gc --older-than=0 --dir="$base" >/dev/null 2>"$SCRATCH/gc.err" || true
        kill "$racer" 2>/dev/null
        wait "$racer" 2>/dev/null
        # What the racer left (a renamed directory, a symlink) is removed by one more --gc, racer gone.
        "$TMPRUN" --gc --older-than=0 --dir="$base" >/dev/null 2>&1 || leaked=$((leaked + 1))
        [ "$(snapshot)" = "$before" ] || races=$((races + 1))
        round=$((round + 1))
    done
    assert_eq "$races" 0 "symlink race, 25 rounds: nothing outside deleted or chmodded"
    assert_eq "$(snapshot)" "$before" "symlink race: the outside tree is byte for byte as before"
    assert_eq "$leaked" 0 "symlink race: a second --gc, racer stopped, removes what was left"
    assert_eq "$(ls -A "$base")" "" "symlink race: nothing is left in the base directory"
else
    not_ok "symlink race" "python3 is needed for the racer"
fi

# --- a directory swapped for a symlink between the scan of its parent and the descent into it ---
# COMMAND leaves d/a, d/big (60,000 files) and d/z. The walk scans d, then takes its subdirectories in the
# order it read them: whichever of a and z comes after big in that order (which one depends on the
# filesystem's readdir order) is still there while tmprun unlinks big's files. The swapper waits for the first
# of those unlinks, replaces what is left of a and z by a symlink to a victim directory, and calls it a hit if
# big still has files then: tmprun must then meet the symlink where it scanned a directory, unlink it and go on.
if [ -n "$python" ]; then
    victim=$SCRATCH/victim
    mkdir "$victim"
    echo precious >"$victim/file"
    cat >"$SCRATCH/swapper.py" <<'EOF'
# swapper.py DIR: wait for DIR/ws (the workspace, written by COMMAND), note the size of d/big and say so in
# DIR/ready, wait for big to shrink (tmprun's first unlink there), swap d/a and d/z for symlinks to DIR/victim,
# and write "hit" to DIR/swapped if big still held files afterwards. Polls without pausing only while tmprun
# removes big (milliseconds); gives up after 60 seconds.
import os, sys, time
top = sys.argv[1]
limit = time.monotonic() + 60
def wait(cond, pause):
    while not cond():
        if time.monotonic() > limit:
            sys.exit("swapper: timed out")
        time.sleep(pause)
wait(lambda: os.path.exists(os.path.join(top, "ws")), 0.01)
d = os.path.join(open(os.path.join(top, "ws")).read().strip(), "d")
big = os.path.join(d, "big")
size = os.lstat(big).st_size
open(os.path.join(top, "ready"), "w").close()
# tmpfs counts 20 bytes per entry in a directory's size; elsewhere the first file is watched.
wait(lambda: os.lstat(big).st_size < size or not os.path.lexists(os.path.join(big, "1")), 0)
swapped = 0
for name in ("a", "z"):
    try:
        os.rmdir(os.path.join(d, name))
        os.symlink(os.path.join(top, "victim"), os.path.join(d, name))
        swapped += 1
    except OSError:
        pass
with os.scandir(big) as entries:
    hit = swapped > 0 and next(entries, None) is not None
with open(os.path.join(top, "swapped"), "w") as f:
    f.write("hit" if hit else "miss")
EOF
    hits=0
    round=0
    while [ "$round" -lt 5 ] && [ "$hits" -eq 0 ]; do
        rm -f "$SCRATCH/ws" "$SCRATCH/ready" "$SCRATCH/swapped"
        "$python" "$SCRATCH/swapper.py" "$SCRATCH" &
        swapper=$!
        # shellcheck disable=SC2016 # expanded by COMMAND's sh
        assert_status 0 "swapped for a symlink, round $round: removal goes on, status 0" \
            "$TMPRUN" --dir="$base" sh -c '
                mkdir -p "$TMPDIR/d/a" "$TMPDIR/d/big" "$TMPDIR/d/z"
                "$1" -c "
import os
for i in range(1, 60001):
    open(os.path.join(os.environ[\"TMPDIR\"], \"d\", \"big\", str(i)), \"w\").close()"
                echo "$TMPDIR" >"$2/ws.new" && mv "$2/ws.new" "$2/ws"
                # Until the swapper has noted the size of big; bounded as wait_until in lib.sh is.
                i=0
                while [ ! -e "$2/ready" ] && [ $i -lt 1500 ]; do sleep 0.01 && i=$((i + 1)); done' \
            sh "$python" "$SCRATCH"
        wait "$swapper"
        assert_not_contains "$ERR" "cannot" "swapped for a symlink, round $round: nothing reported"
        [ "$(cat "$SCRATCH/swapped" 2>/dev/null)" = hit ] && hits=$((hits + 1))
        round=$((round + 1))
    done
    assert_eq "$hits" 1 "swapped for a symlink: the swap landed while tmprun was in d/big"
    assert_eq "$(ls -A "$base")" "" "swapped for a symlink: nothing is left"
    assert_eq "$(cat "$victim/file")" precious "swapped for a symlink: the victim's file is untouched"
else
    not_ok "directory swapped for a symlink" "python3 is needed for the swapper"
fi

# --- mounts appearing while --gc removes the tree: never entered, whatever the timing ---
# A mounter puts tmpfs mounts with a canary file on directories of the tree as fast as it can while --gc
# runs. Whether a mount lands before, during or after tmprun reaches its directory varies; in every case the
# canary must survive (tmprun checks each directory it opened, never a path it looked up earlier).
if is_root && [ -n "$python" ]; then
    lost=0
    landed=0
    round=0
    while [ "$round" -lt 10 ]; do
        tree=$(gc_tree $((100 + round)))
        "$python" -c '
import os, sys
t = sys.argv[1]
for i in range(10):
    for j in range(10):
        os.makedirs(os.path.join(t, "d%d" % i, "e%d" % j))
        for k in range(200):
            open(os.path.join(t, "d%d" % i, "e%d" % j, "f%d" % k), "w").close()
' "$tree"
        : >"$SCRATCH/mounted"
        (
            i=9
            while [ "$i" -ge 0 ]; do
                j=0
                while [ "$j" -lt 10 ]; do
                    m=$tree/d$i/e$j
                    if mount -t tmpfs -o size=64k tmpfs "$m" 2>/dev/null; then
                        echo canary >"$m/canary"
                        echo "$m" >>"$SCRATCH/mounted"
                    fi
                    j=$((j + 1))
                done
                i=$((i - 1))
            done
        ) &
        mounter=$!
        "$TMPRUN" --gc --older-than=0 --dir="$base" >/dev/null 2>"$SCRATCH/gc.err" || true
        wait "$mounter"
        while read -r m; do
            landed=$((landed + 1))
            [ "$(cat "$m/canary" 2>/dev/null)" = canary ] || lost=$((lost + 1))
            umount "$m"
        done <"$SCRATCH/mounted"
        "$TMPRUN" --gc --older-than=0 --dir="$base" >/dev/null 2>&1
        round=$((round + 1))
    done
    diag "$landed mounts landed in the trees during 10 removals"
    assert_eq "$lost" 0 "mounts appearing mid-removal: no canary was lost"
    assert_eq "$(ls -A "$base")" "" "mounts appearing mid-removal: the trees are gone once unmounted"
else
    not_ok "mounts appearing mid-removal" "needs root and python3"
fi

# --- files that cannot be deleted: reported once each, 10 lines at most, the rest removed ---
# chattr +i needs root and a filesystem with inode flags (ext4, xfs, btrfs; /var/tmp here, tmpfs too on
# Linux 6.0+); the test makes its own ext4 when it can, so it never depends on where /tmp lives.
if is_root && command -v chattr >/dev/null && command -v mkfs.ext4 >/dev/null; then
    img=$SCRATCH/ext4.img
    fs=$SCRATCH/ext4
    mkdir "$fs"
    truncate -s 64M "$img"
    mkfs.ext4 -q -F "$img"
    mount -o loop "$img" "$fs"
    chmod 1777 "$fs"
    # shellcheck disable=SC2016 # expanded by COMMAND's sh
    assert_status 125 "12 immutable files: cleanup fails after status 0, so 125" \
        "$TMPRUN" --dir="$fs" sh -c '
            mkdir "$TMPDIR/keep" "$TMPDIR/gone"
            i=0
            while [ $i -lt 12 ]; do
                echo x >"$TMPDIR/keep/imm$i"
                chattr +i "$TMPDIR/keep/imm$i" || exit 9
                echo y >"$TMPDIR/gone/f$i"
                i=$((i + 1))
            done
            echo "$TMPDIR" >"$1"' sh "$SCRATCH/ws"
    ws=$(cat "$SCRATCH/ws")
    assert_eq "$(grep -c 'Operation not permitted' "$ERR")" 10 "immutable files: exactly 10 lines name a file"
    assert_eq "$(grep -o 'imm[0-9]*' "$ERR" | sort | uniq -d)" "" "immutable files: no file reported twice"
    assert_contains "$ERR" "and 2 more" "immutable files: the rest are counted"
    assert_not_contains "$ERR" "Directory not empty" "immutable files: their directories are not reported again"
    assert_absent "$ws/gone" "immutable files: everything else was removed"
    assert_eq "$(find "$ws/keep" -type f | wc -l)" 12 "immutable files: the immutable ones are still there"
    chattr -i "$ws"/keep/imm*
    assert_status 0 "immutable files: once mutable, --gc removes the rest" \
        "$TMPRUN" --gc --older-than=0 --dir="$fs"
    assert_eq "$(find "$fs" -mindepth 1 -maxdepth 1 ! -name lost+found)" "" "immutable files: nothing is left"
    # A workspace made immutable cannot be marked kept (its sticky bit): said, and it is kept all the same.
    # shellcheck disable=SC2016 # expanded by COMMAND's sh
    assert_status 0 "an immutable workspace, --keep: COMMAND's status" \
        "$TMPRUN" --keep --dir="$fs" sh -c 'chattr +i "$TMPDIR" && echo "$TMPDIR" >"$1"' sh "$SCRATCH/ws"
    ws=$(cat "$SCRATCH/ws")
    assert_contains "$ERR" "cannot mark $ws as kept: Operation not permitted" \
        "an immutable workspace, --keep: it cannot be marked kept, and says so"
    assert_contains "$ERR" "kept workspace $ws (--keep)" "an immutable workspace, --keep: kept all the same"
    chattr -i "$ws"
    rmdir "$ws"
    umount "$fs"
else
    not_ok "immutable files" "needs root, chattr and mkfs.ext4 (e2fsprogs)"
fi

done_testing
