#!/bin/sh
# tmprun end to end: -v/--verbose reports the workspace created and what its removal took.
# shellcheck disable=SC2016 # the sh -c scripts expand their own variables
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
where=$SCRATCH/where

# COMMAND leaves 5 entries holding 17 bytes: files of 6 and 8 bytes, a directory with a 2-byte file, and a
# symlink whose target is 1 byte long.
# shellcheck disable=SC2016 # expanded by COMMAND's shell
job='printf %s "$TMPDIR" >"$1" && echo hello >"$TMPDIR/a" && echo 1234567 >"$TMPDIR/b" &&
    mkdir "$TMPDIR/d" && echo x >"$TMPDIR/d/c" && ln -s a "$TMPDIR/s"'

for opt in -v --verbose; do
    rm -f "$where"
    assert_status 0 "$opt: exits 0" env TMPDIR="$base" "$TMPRUN" "$opt" sh -c "$job" sh "$where"
    ws=$(cat "$where")
    assert_absent "$ws" "$opt: the workspace is gone"
    assert_eq "$(line "$ERR" 1)" "tmprun: created workspace $ws (mode 0700)" \
        "$opt: first stderr line is 'created workspace PATH' with its mode"
    assert_match "$(line "$ERR" 2)" \
        "^tmprun: removed $ws: [0-9]+ entries, [0-9]+ bytes, [0-9.]+ s, [0-9]+ threads? \\(at most [0-9]+: .+\\)$" \
        "$opt: second stderr line is 'removed PATH: N entries, B bytes, S s, T threads (at most M: why)'"
    # 5 entries below the workspace; whether the workspace itself counts is the tool's choice.
    assert_match "$(line "$ERR" 2)" ": [56] entries, 17 bytes, " "$opt: the counts are right (5 entries, 6 with the workspace itself; 17 bytes)"
    assert_eq "$(wc -l <"$ERR")" 2 "$opt: nothing else on stderr"
done

rm -f "$where"
assert_status 0 "-v --mode=0750: exits 0" env TMPDIR="$base" "$TMPRUN" -v --mode=0750 sh -c "$job" sh "$where"
assert_contains "$ERR" "(mode 0750)" "-v --mode=0750: the mode reported is the one asked for"

rm -f "$where"
assert_status 0 "-v --keep: exits 0" env TMPDIR="$base" "$TMPRUN" -v --keep sh -c "$job" sh "$where"
ws=$(cat "$where")
assert_contains "$ERR" "created workspace $ws" "-v --keep: reports the workspace created"
assert_not_contains "$ERR" "removed $ws" "-v --keep: does not claim to have removed it"
assert_exists "$ws/d/c" "-v --keep: the workspace is kept"
rm -rf "$ws"

assert_status 0 "without -v: exits 0" env TMPDIR="$base" "$TMPRUN" sh -c "$job" sh "$where"
assert_eq "$(cat "$ERR")" "" "without -v: nothing on stderr"

assert_eq "$(ls -A "$base")" "" "nothing is left in the base directory"

# ---- -v says how many threads the removal used, and the policy that chose them (per filesystem) ----
if is_root; then
    mkdir "$SCRATCH/tmpfsbase"
    mount -t tmpfs -o size=64M,mode=0700 tmpfs "$SCRATCH/tmpfsbase"
    assert_status 0 "-v on a tmpfs base: exits 0" "$TMPRUN" -v --dir="$SCRATCH/tmpfsbase" -- \
        sh -c 'for i in 1 2 3 4 5 6; do mkdir -p "$TMPDIR/d$i/x"; done'
    assert_match "$ERR" "threads? \(at most [0-9]+: tmpfs: one thread per CPU, up to 4\)$" \
        "-v on a tmpfs base: the tmpfs policy (parallel) is applied and named"
    umount "$SCRATCH/tmpfsbase"
    if command -v mkfs.btrfs >/dev/null 2>&1 && truncate -s 256M "$SCRATCH/btrfs.img" &&
        mkfs.btrfs -q "$SCRATCH/btrfs.img" >/dev/null 2>&1 && mkdir "$SCRATCH/btrfsbase" &&
        mount -o loop "$SCRATCH/btrfs.img" "$SCRATCH/btrfsbase" 2>/dev/null; then
        chmod 0700 "$SCRATCH/btrfsbase"
        assert_status 0 "-v on a btrfs base: exits 0" "$TMPRUN" -v --dir="$SCRATCH/btrfsbase" -- \
            sh -c 'for i in 1 2 3 4 5 6; do mkdir -p "$TMPDIR/d$i/x"; done'
        assert_match "$ERR" "1 thread \(at most 1: btrfs: one thread" \
            "-v on a btrfs base: the btrfs policy (one thread) is applied and named"
        umount "$SCRATCH/btrfsbase"
    else
        not_ok "-v on a btrfs base" "could not make a btrfs loop mount (btrfs-progs installed? loop devices?)"
    fi
else
    skip "-v thread policy per filesystem" "needs root to mount"
fi

done_testing
