#!/bin/sh
# tmprun end to end: processes COMMAND leaves behind (background jobs, setsid() daemons, double forks) get
# SIGTERM, then SIGKILL after --grace, and are reaped before the workspace is removed; no zombie is left.
# Without a usable /proc they are waited for, and what outlives the grace is reported, not removed under.
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
echo "$$" >"$d/cmd.pid"
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

# --- (c) A leftover that ignores SIGTERM and keeps writing to the workspace: SIGKILLed after --grace. That
# tmprun waits the grace first is shown below by a grace longer than the test, not by a clock.
newdir c
assert_status 0 "--grace=0.3, leftover ignoring SIGTERM: tmprun exits with COMMAND's 0" \
    run --grace=0.3 sh "$start" "$d" stubborn "echo TERM >>$d/term"
assert_eq "$(cat "$d/term" 2>/dev/null)" TERM "--grace=0.3: the leftover got SIGTERM first, once"
assert_gone "$(cat "$d/stubborn.pid")" "--grace=0.3: the leftover ignoring SIGTERM was killed and reaped"
assert_absent "$(cat "$d/ws")" "--grace=0.3: the workspace is gone"

# bg_run ARGS...: tmprun with ARGS in the background, its pid in $pid.
bg_run() {
    "$TMPRUN" --dir="$base" "$@" &
    pid=$!
}

# assert_exit PID WANT DESC: the background tmprun PID exits with WANT by itself (waited for as any event,
# WAIT_LIMIT seconds at most: far shorter than the graces below, so a tmprun waiting one out fails this).
assert_exit() {
    if wait_until "tmprun to exit" has_exited "$1"; then
        _st=0
        wait "$1" || _st=$?
        assert_eq "$_st" "$2" "$3"
    else
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        not_ok "$3" "tmprun was still waiting (state $(proc_state "$1"))"
    fi
}

# A leftover that obeys SIGTERM ends the wait at once, however long the grace: its exit is the event, not the
# grace's end. With --grace=1h, and with graces above what poll(2) takes at once (INT_MAX ms, 24.8 days): 25
# days of ms wrapped to a negative int (wait forever), 50 days to a few ms.
for grace in 1h 25d 50d; do
    newdir "c2-$grace"
    bg_run --grace="$grace" sh "$start" "$d" obedient "echo TERM >>$d/term; exit 0"
    assert_exit "$pid" 0 "--grace=$grace, leftover obeying SIGTERM: tmprun exits 0 once it has, not after the grace"
    assert_eq "$(cat "$d/term" 2>/dev/null)" TERM "--grace=$grace: the leftover got SIGTERM"
    assert_gone "$(cat "$d/obedient.pid")" "--grace=$grace: the leftover was reaped"
    assert_absent "$(cat "$d/ws")" "--grace=$grace: the workspace is gone"
done

# One that ignores SIGTERM is left the whole grace: with --grace=30d tmprun still waits, the leftover runs and
# the workspace is there. poll(2)'s timeout is an int of milliseconds: 30 days of them used to wrap to a
# negative (endless) or a short one; on x86-64 /proc/PID/syscall shows the poll and its timeout, clamped now.
newdir c3
bg_run --grace=30d sh "$start" "$d" stubborn "echo TERM >>$d/term"
# waiting PID: tmprun PID waits for leftovers: COMMAND (its pid in $d/cmd.pid) is gone, reaped, and PID asleep.
waiting() {
    [ "$(proc_state "$1")" = S ] && [ -s "$d/cmd.pid" ] && ! [ -e "/proc/$(cat "$d/cmd.pid")" ]
}
told_and_waiting() {
    [ -e "$d/term" ] && waiting "$pid"
}
# in_poll PID: PID is blocked in poll(2) (x86-64: system call 7), its timeout argument now in $timeout. A
# process caught between two calls reads "running" there.
in_poll() {
    read -r _nr _ _ timeout _ <"/proc/$1/syscall" && [ "$_nr" = 7 ]
}
if wait_until "COMMAND to start the leftover" test -e "$d/stubborn.pid" &&
    wait_until "tmprun to wait for the leftover" told_and_waiting; then
    assert_eq "$(is_alive "$(cat "$d/stubborn.pid")" && echo running)" running \
        "--grace=30d, leftover ignoring SIGTERM: it runs on during the grace"
    assert_exists "$(cat "$d/ws")" "--grace=30d: during the grace the workspace is there"
    if [ -x "$TMPRUN.real" ]; then
        skip "--grace=30d: the poll timeout" "under valgrind the system call seen is valgrind's own"
    elif [ "$(uname -m)" != x86_64 ]; then
        skip "--grace=30d: the poll timeout" "poll(2) is system call 7 on x86-64 only, not on $(uname -m)"
    elif wait_until "tmprun to sit in poll(2)" in_poll "$pid"; then
        assert_eq "$timeout" 0x7fffffff "--grace=30d: tmprun polls with the longest timeout poll(2) takes"
    else
        not_ok "--grace=30d: tmprun polls with the longest timeout poll(2) takes" \
            "/proc/$pid/syscall: $(cat "/proc/$pid/syscall")"
    fi
else
    not_ok "--grace=30d, leftover ignoring SIGTERM: tmprun waits for it"
fi
kill -KILL "$pid" "$(cat "$d/stubborn.pid")" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$(cat "$d/ws")"

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

# --- (g) Without a usable /proc (unmounted, a container without one) tmprun cannot name its leftovers, but as
# their subreaper it knows some are left: it still has a child. It gives them --grace to end on their own (no
# process-group kill: COMMAND shares tmprun's group, and its caller's), then says why it cannot stop them; the
# workspace they may still write to must not be removed under them.
# noproc CMD...: CMD in a mount namespace of its own, with /proc unmounted (a script: $! is CMD's pid).
noproc=$SCRATCH/noproc
cat >"$noproc" <<'EOF'
#!/bin/sh
exec unshare -m sh -c 'umount -l /proc && exec "$@"' sh "$@"
EOF
chmod +x "$noproc"
# late.sh DIR: COMMAND leaving a job behind that waits for a line on the fifo DIR/go, then writes to the
# workspace and records in DIR/seen whether it could.
cat >"$SCRATCH/late.sh" <<'EOF'
d=$1
printf '%s\n' "$TMPDIR" >"$d/ws"
echo "$$" >"$d/cmd.pid"
sh -c 'read -r _ <"$1/go"; if echo late >"$TMPDIR/late"; then echo exists; else echo missing; fi >"$1/seen"' sh "$d" &
echo "$!" >"$d/job.pid"
EOF
# LeakSanitizer (in the sanitizer build) needs /proc to stop the world, and does not work under ptrace:
# off for (g) and (h), which take /proc away or run tmprun under strace.
asan_saved=${ASAN_OPTIONS-}
ASAN_OPTIONS="${asan_saved:+$asan_saved:}detect_leaks=0"
export ASAN_OPTIONS
if "$noproc" true; then
    newdir g
    mkfifo "$d/go"
    exec 3<>"$d/go"
    assert_status 125 "no /proc, --grace=0, a leftover running: tmprun exits 125" \
        "$noproc" "$TMPRUN" --dir="$base" --grace=0 sh "$SCRATCH/late.sh" "$d" 3>&-
    assert_contains "$ERR" "cannot list leftover processes: /proc: not a proc file system" \
        "no /proc: tmprun says why it cannot stop the leftover"
    assert_eq "$(is_alive "$(cat "$d/job.pid")" && echo running)" running \
        "no /proc: the leftover, which tmprun could not name, still runs"
    assert_exists "$(cat "$d/ws")" "no /proc: the workspace stays for the leftover"
    echo go >&3
    wait_until "the leftover to end" has_exited "$(cat "$d/job.pid")"
    assert_eq "$(cat "$d/seen" 2>/dev/null)" exists "no /proc: the leftover could still write to its workspace"
    exec 3>&-
    rm -rf "$(cat "$d/ws")"

    # A leftover that ends within the grace: tmprun waits for it (its SIGCHLD), then removes the workspace.
    newdir g2
    mkfifo "$d/go"
    exec 3<>"$d/go"
    "$noproc" "$TMPRUN" --dir="$base" --grace=1h sh "$SCRATCH/late.sh" "$d" 3>&- 2>"$ERR" &
    pid=$!
    if wait_until "COMMAND to leave the job" test -s "$d/job.pid" &&
        wait_until "tmprun to wait for the leftover" waiting "$pid"; then
        ok "no /proc, --grace=1h: tmprun waits for the leftover it cannot name"
        assert_exists "$(cat "$d/ws")" "no /proc, --grace=1h: meanwhile, the workspace is there"
    else
        not_ok "no /proc, --grace=1h: tmprun waits for the leftover it cannot name"
    fi
    echo go >&3
    exec 3>&-
    assert_exit "$pid" 0 "no /proc, --grace=1h: the leftover ended within the grace: tmprun exits 0"
    assert_eq "$(cat "$d/seen" 2>/dev/null)" exists "no /proc, --grace=1h: the leftover could write to its workspace"
    assert_absent "$(cat "$d/ws")" "no /proc, --grace=1h: once it has ended, the workspace is gone"
    # (A sanitizer build's runtime warns that it cannot read /proc/self/exe before any option applies.)
    assert_eq "$(grep -v '^==[0-9]*==WARNING: reading executable name failed' "$ERR")" "" \
        "no /proc, --grace=1h: nothing to report"
else
    not_ok "no /proc: unshare -m and umount /proc are needed for these tests (root)"
fi

# --- (h) /proc is read (every process's stat: O(processes) a scan) when something happened, not on a timer:
# once to find the leftovers, once when the grace ends; a leftover that exits meanwhile is an event (its pidfd),
# and tmprun does not rescan for it while others are left. Here one leftover obeys SIGTERM, one ignores it
# for --grace=1; before, tmprun rescanned every 100 ms from the first one's exit to the end of the grace.
if command -v strace >/dev/null; then
    newdir h
    # shellcheck disable=SC2016 # COMMAND's shell expands them
    assert_status 0 "strace, --grace=1, two leftovers, one ignoring SIGTERM: tmprun exits 0" \
        strace -f -qq -o "$d/strace" -e trace=openat "$TMPRUN" --dir="$base" --grace=1 \
        sh -c 'sleep 1000 & exec sh "$1" "$2" stubborn "echo TERM >>$2/term"' sh "$start" "$d"
    # Opens of the /proc directory: tmprun's first one, then one a scan, through that first descriptor.
    procfd=$(sed -n 's/.*openat(AT_FDCWD, "\/proc", O_RDONLY[A-Z_|]*O_DIRECTORY[A-Z_|]*) = \([0-9]*\)$/\1/p' \
        "$d/strace" | head -n 1)
    scans=$(($(grep -c "openat(${procfd:-none}, \".\", O_RDONLY[A-Z_|]*O_DIRECTORY" "$d/strace") + 1))
    if [ "$scans" -le 4 ]; then
        ok "--grace=1: tmprun read /proc a few times, not on a timer through the grace ($scans)"
    else
        not_ok "--grace=1: tmprun read /proc a few times, not on a timer through the grace" "$scans opens of /proc"
    fi
    assert_gone "$(cat "$d/stubborn.pid")" "strace, --grace=1: the leftover ignoring SIGTERM was killed and reaped"
else
    skip "how often /proc is read" "strace is not installed"
fi
ASAN_OPTIONS=$asan_saved

# --- Nothing of this test is left running, and no workspace is left.
assert_nothing_left "$base"
done_testing
