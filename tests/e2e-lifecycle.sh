#!/bin/sh
# tmprun end to end: what CI users and operators ask of workspaces once cleanup works: bounded retention of
# kept runs (--retain), a stable name for the current one (--link), every temporary-directory variable
# (--export-all), and a view of what sits in a base (--list).
# shellcheck disable=SC2016 # the sh -c scripts expand their own variables
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"

# kept_count: the kept workspaces in the base, per --list.
kept_count() {
    "$TMPRUN" --list --dir="$base" | awk '$1 == "kept"' | wc -l
}

# ---- --retain: the N most recently kept stay ----
# A live run and a stale (never kept) workspace in the same base are never touched.
mkdir "$base/tmprun.StaleNever"
mkfifo "$SCRATCH/fifo.live"
exec 3<>"$SCRATCH/fifo.live"
"$TMPRUN" --dir="$base" -- sh -c 'echo "$TMPDIR" >"$1"; read -r _ <&3' sh "$SCRATCH/live.ws" &
live=$!
wait_until "the live run to start" test -s "$SCRATCH/live.ws"
i=1
while [ "$i" -le 5 ]; do
    "$TMPRUN" --dir="$base" --keep-on-failure --retain=2 -- sh -c 'echo "$TMPDIR" >"$1"; exit 1' sh \
        "$SCRATCH/kept.$i" 2>/dev/null
    i=$((i + 1))
done
assert_eq "$(kept_count)" 2 "--retain=2 after 5 failing runs: exactly 2 kept"
assert_exists "$(cat "$SCRATCH/kept.5")" "--retain=2: the newest kept one stays"
assert_exists "$(cat "$SCRATCH/kept.4")" "--retain=2: the second newest stays"
assert_absent "$(cat "$SCRATCH/kept.3")" "--retain=2: the third newest went"
assert_absent "$(cat "$SCRATCH/kept.1")" "--retain=2: the oldest went"
assert_exists "$base/tmprun.StaleNever" "--retain: a stale workspace that was never kept is untouched"
assert_exists "$(cat "$SCRATCH/live.ws")" "--retain: a live run's workspace is untouched"
echo "done" >&3
wait "$live"
assert_eq "$?" 0 "--retain: the live run ended normally"
exec 3>&-
rmdir "$base/tmprun.StaleNever"

# A successful run keeps nothing and prunes nothing.
assert_status 0 "--keep-on-failure --retain=1, a successful run: exits 0" \
    "$TMPRUN" --dir="$base" --keep-on-failure --retain=1 true
assert_eq "$(kept_count)" 2 "--retain=1 after a successful run: nothing pruned"
rm -rf "${base:?}"/*

# 20 failing runs, 10 at a time, --retain=3: exactly 3 in the end (a run keeps its own before it prunes, and
# the last to look sees every kept one; two pruning at once never remove the same one twice).
i=1
while [ "$i" -le 20 ]; do
    "$TMPRUN" --dir="$base" --keep-on-failure --retain=3 false 2>/dev/null &
    if [ $((i % 10)) -eq 0 ]; then
        wait
    fi
    i=$((i + 1))
done
wait
assert_eq "$(kept_count)" 3 "--retain=3 after 20 failing runs, 10 at a time: exactly 3 kept"
assert_eq "$(find "$base" -mindepth 1 -maxdepth 1 | wc -l)" 3 "--retain=3: nothing else is left in the base"
rm -rf "${base:?}"/*

assert_status 125 "--retain without --keep or --keep-on-failure: usage error" "$TMPRUN" --retain=1 true
assert_status 125 "--retain with a sticky --mode: usage error" "$TMPRUN" --keep --retain=1 --mode=1700 true
assert_status 125 "--retain=-1: usage error" "$TMPRUN" --keep --retain=-1 true

# ---- --link=PATH ----
link=$SCRATCH/last
assert_status 0 "--link: a successful run exits 0" "$TMPRUN" --dir="$base" --link="$link" -- \
    sh -c 'test "$(readlink "$1")" = "$TMPDIR" && echo points-at-workspace' sh "$link"
assert_eq "$(cat "$OUT")" points-at-workspace "--link: PATH points at the live workspace during the run"
assert_absent "$link" "--link: after a successful run, PATH is gone with the workspace"
assert_status 1 "--link with a kept failure: exits 1" "$TMPRUN" --dir="$base" --keep-on-failure --link="$link" \
    -- sh -c 'echo "$TMPDIR" >"$1"; exit 1' sh "$SCRATCH/kept.ws"
assert_eq "$(readlink "$link")" "$(cat "$SCRATCH/kept.ws")" "--link: after a kept failure, PATH points at the kept one"
rm -rf "${base:?}"/* "$link"

echo precious >"$link"
assert_status 125 "--link over a regular file: refused (125)" "$TMPRUN" --dir="$base" --link="$link" true
assert_eq "$(grep -c . "$ERR")" 1 "--link over a regular file: one line on stderr"
assert_eq "$(cat "$link")" precious "--link over a regular file: the file is intact"
assert_eq "$(ls -A "$base")" "" "--link over a regular file: nothing was created"
rm -f "$link"
mkdir "$link"
assert_status 125 "--link over a directory: refused (125)" "$TMPRUN" --dir="$base" --link="$link" true
assert_exists "$link" "--link over a directory: the directory is intact"
assert_eq "$(ls -A "$base")" "" "--link over a directory: nothing was created"
rmdir "$link"

# A symlink planted at PATH, pointing outside: replaced, never followed.
mkdir "$SCRATCH/outside"
echo keep >"$SCRATCH/outside/file"
ln -s "$SCRATCH/outside" "$link"
assert_status 0 "--link over a planted symlink: exits 0" "$TMPRUN" --dir="$base" --link="$link" -- \
    sh -c 'readlink "$1"' sh "$link"
assert_match "$(cat "$OUT")" "^$base/tmprun\." "--link over a planted symlink: it was replaced by ours"
assert_eq "$(cat "$SCRATCH/outside/file")" keep "--link over a planted symlink: its target is untouched"
assert_absent "$link" "--link over a planted symlink: ours is removed at the end"

# A later run that took the name over keeps its link.
assert_status 0 "--link taken over by a later run: exits 0" "$TMPRUN" --dir="$base" --link="$link" -- \
    sh -c 'ln -sfn /elsewhere "$1"' sh "$link"
assert_eq "$(readlink "$link")" /elsewhere "--link taken over: the other link is left"
rm -f "$link"

# PATH's directory must be as safe as a base.
mkdir -m 0777 "$SCRATCH/open"
chmod 0777 "$SCRATCH/open"
assert_status 125 "--link in a directory others can write: refused (125)" \
    "$TMPRUN" --dir="$base" --link="$SCRATCH/open/last" true
assert_contains "$ERR" "not sticky" "--link in a directory others can write: says why"
assert_eq "$(ls -A "$base")" "" "--link refused: nothing was created"

# ---- --export-all ----
assert_status 0 "--export-all: exits 0" "$TMPRUN" --dir="$base" --export-all -- \
    sh -c 'echo "$TMPDIR|$WORKDIR|$TMP|$TEMP|$TEMPDIR|$GOTMPDIR"'
ws=$(cut -d'|' -f1 "$OUT")
assert_match "$ws" "^$base/tmprun\." "--export-all: TMPDIR is the workspace"
assert_eq "$(cat "$OUT")" "$ws|$ws|$ws|$ws|$ws|$ws" "--export-all: WORKDIR, TMP, TEMP, TEMPDIR and GOTMPDIR are too"
assert_status 0 "without --export-all: exits 0" "$TMPRUN" --dir="$base" -- sh -c 'echo "${TMP-unset}"'
assert_eq "$(cat "$OUT")" unset "without --export-all: TMP is not set"

# ---- --list ----
exec 3<>"$SCRATCH/fifo.live"
rm -f "$SCRATCH/live.ws"
"$TMPRUN" --dir="$base" -- sh -c 'echo "$TMPDIR" >"$1"; read -r _ <&3' sh "$SCRATCH/live.ws" &
live=$!
wait_until "the live run to start" test -s "$SCRATCH/live.ws"
"$TMPRUN" --dir="$base" --keep -- sh -c 'echo "$TMPDIR" >"$1"' sh "$SCRATCH/kept.ws" 2>/dev/null
mkdir "$base/tmprun.StaleStale"
assert_status 0 "--list: exits 0" "$TMPRUN" --list --dir="$base"
assert_eq "$(line "$OUT" 1 | awk '{print $1, $2, $3, $4, $5}')" "STATE AGE OWNER PID PATH" "--list: a header line"
state_of() { awk -v p="$1" '$5 == p { print $1 }' "$OUT"; }
assert_eq "$(state_of "$(cat "$SCRATCH/live.ws")")" live "--list: the running one is live"
assert_eq "$(awk -v p="$(cat "$SCRATCH/live.ws")" '$5 == p { print $4 }' "$OUT")" "$live" \
    "--list: a live one shows the pid of the tmprun holding it"
assert_eq "$(state_of "$(cat "$SCRATCH/kept.ws")")" kept "--list: the kept one is kept"
assert_eq "$(state_of "$base/tmprun.StaleStale")" stale "--list: the leftover is stale"
assert_eq "$(grep -c . "$OUT")" 4 "--list: one line per workspace, after the header"
echo "done" >&3
wait "$live"
exec 3>&-
if is_root; then
    setup_user
    chown "$UNPRIV_UID" "$base/tmprun.StaleStale"
    assert_status 0 "--list: another user's workspace listed" "$TMPRUN" --list --dir="$base"
    assert_eq "$(awk -v p="$base/tmprun.StaleStale" '$5 == p { print $1, $3 }' "$OUT")" "stale nobody" \
        "--list: its owner is named"
    mkdir -m 0700 "$SCRATCH/closed"
    assert_status 125 "--list on a base it cannot read: 125" as_user "$USER_TMPRUN" --list --dir="$SCRATCH/closed"
    assert_eq "$(grep -c . "$ERR")" 1 "--list on a base it cannot read: one line on stderr"
else
    skip "--list: another user's workspace" "needs root to give a directory away"
fi
# -v counts entries and bytes with the removal's walk: symlinks are counted, never followed.
rm -rf "${base:?}"/*
"$TMPRUN" --dir="$base" --keep -- sh -c 'mkdir -p "$TMPDIR/a/b"; head -c 1000 /dev/zero >"$TMPDIR/a/f"
    ln -s / "$TMPDIR/l"; echo "$TMPDIR" >"$1"' sh "$SCRATCH/kept.ws" 2>/dev/null
assert_status 0 "--list -v: exits 0" "$TMPRUN" --list -v --dir="$base"
assert_eq "$(line "$OUT" 1 | awk '{print $5, $6, $7}')" "ENTRIES BYTES PATH" "--list -v: ENTRIES and BYTES columns"
assert_eq "$(awk -v p="$(cat "$SCRATCH/kept.ws")" '$7 == p { print $5, $6 }' "$OUT")" "4 1001" \
    "--list -v: 4 entries (a, a/b, a/f, l) and 1001 bytes (the file and the symlink's one-byte target)"
# Without --dir, the base a run would choose ($TMPDIR first).
assert_status 0 "--list without --dir: exits 0" env TMPDIR="$base" "$TMPRUN" --list
assert_eq "$(awk 'NR > 1 { print $1, $5 }' "$OUT")" "kept $(cat "$SCRATCH/kept.ws")" \
    "--list without --dir: lists the workspaces in \$TMPDIR"
# Output it cannot write: said, and 125.
assert_status 125 "--list to a full device: 125" sh -c '"$1" --list --dir="$2" >/dev/full' sh "$TMPRUN" "$base"
assert_contains "$ERR" "cannot list $base: No space left on device" "--list to a full device: says so"
rm -rf "${base:?}"/*
assert_status 125 "--list with a COMMAND: usage error" "$TMPRUN" --list true
assert_status 125 "--list with --gc: usage error" "$TMPRUN" --list --gc
rm -rf "${base:?}"/*

done_testing
