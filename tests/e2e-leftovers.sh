#!/bin/sh
# tmprun end to end: processes COMMAND leaves behind (background jobs, setsid() daemons, double forks) get
# SIGTERM, then SIGKILL after --grace, and are reaped before the workspace is removed; no zombie is left.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"

run() {
    "$TMPRUN" --dir="$base" "$@"
}

# Gone for good: neither running nor a zombie (/proc/PID stays while a zombie waits to be reaped).
assert_gone() {
    if [ -z "$1" ]; then
        not_ok "$2" "no pid recorded"
    elif [ -e "/proc/$1" ]; then
        not_ok "$2" "process $1 is still there: $(cat "/proc/$1/stat" 2>/dev/null)"
    else
        ok "$2"
    fi
}

# Milliseconds since the epoch.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Leftovers and the COMMANDs that start them. Each gets DIR, where it writes its pid, and ready once its traps
# are set; none lives more than 20 s on its own.
# loop.sh DIR NAME [TRAP-ACTION]: writes to $TMPDIR every 0.05 s; with a TERM trap when TRAP-ACTION is given.
cat >"$SCRATCH/loop.sh" <<'EOF'
d=$1
name=$2
if [ -n "${3:-}" ]; then
    trap "$3" TERM
fi
echo start >"$TMPDIR/$name.log"
echo "$$" >"$d/$name.pid.tmp"
mv "$d/$name.pid.tmp" "$d/$name.pid"
i=0
while [ "$i" -lt 400 ]; do
    echo "$i" >>"$TMPDIR/$name.log"
    sleep 0.05
    i=$((i + 1))
done
EOF
# start.sh DIR NAME [TRAP-ACTION]: COMMAND starting loop.sh in the background, exiting 0 once it is set up.
cat >"$SCRATCH/start.sh" <<'EOF'
d=$1
printf '%s\n' "$TMPDIR" >"$d/ws"
sh "${0%/*}/loop.sh" "$@" &
i=0
until [ -e "$d/$2.pid" ]; do
    i=$((i + 1))
    [ "$i" -lt 400 ] || exit 99
    sleep 0.05
done
EOF
start=$SCRATCH/start.sh

# newdir NAME: a fresh report directory, in $d.
newdir() {
    d=$SCRATCH/$1
    rm -rf "$d"
    mkdir "$d"
}

# --- (a) A background job in COMMAND's own process group.
newdir a
# shellcheck disable=SC2016 # COMMAND's shell expands them
assert_status 0 "COMMAND leaving 'sleep 1000 &' behind: tmprun exits with COMMAND's 0" \
    run sh -c 'sleep 1000 & echo $! >"$1/sleep.pid"; printf "%s\n" "$TMPDIR" >"$1/ws"' sh "$d"
assert_gone "$(cat "$d/sleep.pid")" "the background sleep was stopped and reaped (no zombie)"
assert_absent "$(cat "$d/ws")" "background sleep: the workspace is gone"

# A stopped leftover would never act on SIGTERM: tmprun continues it, and it runs its SIGTERM trap.
newdir a2
cat >"$SCRATCH/stopit.sh" <<'EOF'
d=$1
sh "${0%/*}/start.sh" "$@" || exit 99
pid=$(cat "$d/$2.pid")
kill -STOP "$pid"
i=0
until [ "$(sed -n 's/.*) \([A-Za-z]\) .*/\1/p' "/proc/$pid/stat")" = T ]; do
    i=$((i + 1))
    [ "$i" -lt 400 ] || exit 99
    sleep 0.05
done
EOF
assert_status 0 "COMMAND leaving a stopped leftover behind: tmprun exits 0" \
    run sh "$SCRATCH/stopit.sh" "$d" stopped "echo TERM >>$d/term; exit 0"
assert_eq "$(cat "$d/term" 2>/dev/null)" TERM "the stopped leftover was continued and acted on its SIGTERM"
assert_gone "$(cat "$d/stopped.pid")" "the stopped leftover was reaped"
assert_absent "$(cat "$d/ws")" "stopped leftover: the workspace is gone"

# --- (b) Leftovers that left COMMAND's session: setsid(), and setsid() after a double fork (re-parented).
newdir b
cat >"$SCRATCH/escape.sh" <<'EOF'
d=$1
printf '%s\n' "$TMPDIR" >"$d/ws"
setsid sh -c 'echo $$ >"$1/setsid.pid.tmp"; mv "$1/setsid.pid.tmp" "$1/setsid.pid"; exec sleep 1000' sh "$d" &
(setsid sh -c 'echo $$ >"$1/double.pid.tmp"; mv "$1/double.pid.tmp" "$1/double.pid"; exec sleep 1000' sh "$d" &)
i=0
until [ -e "$d/setsid.pid" ] && [ -e "$d/double.pid" ]; do
    i=$((i + 1))
    [ "$i" -lt 400 ] || exit 99
    sleep 0.05
done
# The sessions (field 6 of /proc/PID/stat; these commands have no space in their names).
for p in "$$" "$(cat "$d/setsid.pid")" "$(cat "$d/double.pid")"; do
    cut -d ' ' -f 6 "/proc/$p/stat"
done >"$d/sessions"
EOF
assert_status 0 "COMMAND leaving setsid() and double-fork daemons behind: tmprun exits 0" run sh "$SCRATCH/escape.sh" "$d"
cmd_sid=$(line "$d/sessions" 1)
if [ -n "$cmd_sid" ] && [ "$(line "$d/sessions" 2)" != "$cmd_sid" ] && [ "$(line "$d/sessions" 3)" != "$cmd_sid" ]; then
    ok "both daemons were in sessions of their own"
else
    not_ok "both daemons were in sessions of their own" "sessions (COMMAND, setsid, double fork): $(cat "$d/sessions")"
fi
assert_gone "$(cat "$d/setsid.pid")" "the setsid() daemon was stopped and reaped"
assert_gone "$(cat "$d/double.pid")" "the double-forked setsid() daemon was stopped and reaped"
assert_absent "$(cat "$d/ws")" "daemons: the workspace is gone"

# --- (c) A leftover that ignores SIGTERM and keeps writing to the workspace: SIGKILLed after --grace.
newdir c
t0=$(now_ms)
assert_status 0 "--grace=0.3, leftover ignoring SIGTERM: tmprun exits with COMMAND's 0" \
    run --grace=0.3 sh "$start" "$d" stubborn "echo TERM >>$d/term"
t1=$(now_ms)
assert_eq "$(cat "$d/term" 2>/dev/null)" TERM "--grace=0.3: the leftover got SIGTERM first, once"
assert_gone "$(cat "$d/stubborn.pid")" "--grace=0.3: the leftover ignoring SIGTERM was killed and reaped"
assert_absent "$(cat "$d/ws")" "--grace=0.3: the workspace is gone"
if [ $((t1 - t0)) -ge 300 ]; then
    ok "--grace=0.3: tmprun waited the grace before SIGKILL"
else
    not_ok "--grace=0.3: tmprun waited the grace before SIGKILL" "tmprun took $((t1 - t0)) ms"
fi

# With the default grace (2 s), a leftover that obeys SIGTERM is stopped at once, not after the grace.
newdir c2
t0=$(now_ms)
assert_status 0 "default grace, leftover obeying SIGTERM: tmprun exits 0" \
    run sh "$start" "$d" obedient "echo TERM >>$d/term; exit 0"
t1=$(now_ms)
assert_eq "$(cat "$d/term" 2>/dev/null)" TERM "default grace: the leftover got SIGTERM"
assert_gone "$(cat "$d/obedient.pid")" "default grace: the leftover was reaped"
assert_absent "$(cat "$d/ws")" "default grace: the workspace is gone"
if [ $((t1 - t0)) -lt 1500 ]; then
    ok "default grace: tmprun did not wait out the 2 s grace for a leftover that exited"
else
    not_ok "default grace: tmprun did not wait out the 2 s grace for a leftover that exited" \
        "tmprun took $((t1 - t0)) ms"
fi

# --- (d) -v reports how many leftovers were stopped.
# shellcheck disable=SC2016 # COMMAND's shell expands them
assert_status 0 "-v, three leftovers: tmprun exits 0" run -v sh -c 'sleep 1000 & sleep 1000 & sleep 1000 &'
assert_contains "$ERR" "stopped 3 leftover processes" "-v reports 'stopped 3 leftover processes'"
assert_status 0 "-v, one leftover: tmprun exits 0" run -v sh -c 'sleep 1000 &'
assert_contains "$ERR" "stopped 1 leftover process" "-v reports 'stopped 1 leftover process'"
assert_not_contains "$ERR" "processes" "-v, one leftover: the singular"
assert_status 0 "-v, no leftover: tmprun exits 0" run -v true
assert_not_contains "$ERR" "leftover" "-v, no leftover: nothing reported stopped"

# --- (e) --grace=0: SIGKILL at once; the leftover's SIGTERM trap never runs.
newdir e
assert_status 0 "--grace=0, leftover trapping SIGTERM: tmprun exits 0" \
    run --grace=0 sh "$start" "$d" trapper "echo TERM >>$d/term"
assert_absent "$d/term" "--grace=0: the leftover got no SIGTERM"
assert_gone "$(cat "$d/trapper.pid")" "--grace=0: the leftover was killed and reaped"
assert_absent "$(cat "$d/ws")" "--grace=0: the workspace is gone"

# --- (f) Leftovers are stopped before the workspace is removed: on SIGTERM, it is still there.
newdir f
# shellcheck disable=SC2016 # the trap's shell expands them
assert_status 0 "leftover checking the workspace on SIGTERM: tmprun exits 0" \
    run sh "$start" "$d" checker \
    'if [ -d "$TMPDIR" ] && [ -e "$TMPDIR/checker.log" ]; then echo exists; else echo missing; fi >"$d/seen"; exit 0'
assert_eq "$(cat "$d/seen" 2>/dev/null)" exists "on the leftover's SIGTERM the workspace and its files still exist"
assert_absent "$(cat "$d/ws")" "after the leftover is gone, so is the workspace"

# However long the leftover takes to finish (within --grace), the workspace stays and tmprun waits. On SIGTERM
# it reports, then blocks reading a fifo the test holds open, so it waits for the test, not for a clock (and a
# dead test means end of file). Meanwhile the test looks at the workspace from outside.
newdir f2
mkfifo "$d/go"
exec 3<>"$d/go"
# shellcheck disable=SC2016 # the trap's shell expands them
"$TMPRUN" --dir="$base" --grace=30 sh "$start" "$d" slow 'echo TERM >"$d/term"; read -r _ <"$d/go"
    if [ -d "$TMPDIR" ] && echo more >>"$TMPDIR/slow.log"; then echo exists; else echo missing; fi >"$d/seen"
    exit 0' 3>&- &
pid=$!
if wait_until "the leftover to get SIGTERM" test -e "$d/term"; then
    assert_exists "$(cat "$d/ws")/slow.log" "while a leftover handles SIGTERM, its workspace and files are there"
    if is_alive "$pid"; then
        ok "while a leftover handles SIGTERM, tmprun waits for it"
    else
        not_ok "while a leftover handles SIGTERM, tmprun waits for it" "tmprun state '$(proc_state "$pid")'"
    fi
else
    not_ok "slow leftover: SIGTERM reached it"
fi
echo go >&3
exec 3>&-
st=0
wait "$pid" || st=$?
assert_eq "$st" 0 "slow leftover: tmprun exits with COMMAND's 0"
assert_eq "$(cat "$d/seen" 2>/dev/null)" exists "slow leftover: it could still write to the workspace when done"
assert_gone "$(cat "$d/slow.pid")" "slow leftover: reaped"
assert_absent "$(cat "$d/ws")" "slow leftover: after it, the workspace is gone"

# --- Nothing of this test is left running, and no workspace is left.
assert_nothing_left "$base"
done_testing
