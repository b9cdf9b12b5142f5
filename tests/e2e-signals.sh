#!/bin/sh
# tmprun end to end: signals. Sent to tmprun alone they reach COMMAND exactly once; the terminal's Ctrl-C, which
# already reached COMMAND, is not sent again; Ctrl-Z and fg work; signals inherited as ignored stay ignored;
# every signal whose default action terminates (SIGVTALRM, SIGPWR, real-time ones...) is caught and forwarded.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"

# Does FILE have N lines or more?
has_lines() {
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

is_stopped() {
    [ "$(proc_state "$1")" = T ]
}

# assert_exit PID WANT DESC: wait for the background job PID, which must exit with status WANT.
assert_exit() {
    _st=0
    wait "$1" || _st=$?
    assert_eq "$_st" "$2" "$3"
}

# assert_alive PID DESC: PID is running (or stopped), not gone nor a zombie.
assert_alive() {
    if is_alive "$1"; then
        ok "$2"
    else
        not_ok "$2" "state: '$(proc_state "$1")'"
    fi
}

# when_ready DESC: wait until COMMAND is ready ($d/ready); if it never is, give up on the background tmprun ($pid;
# COMMAND ends on its own within 20 s), fail DESC and return 1.
when_ready() {
    wait_until "COMMAND to get ready" test -e "$d/ready" && return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    not_ok "$1 (COMMAND never got ready)"
    return 1
}

# The jobs run by tmprun below. Each takes a directory for its reports: ws (its $TMPDIR), tmprun-pid, ready
# (created once its traps are set), count (one line per signal caught). None runs longer than 20 s.
job=$SCRATCH/job.sh
cat >"$job" <<'EOF'
# job.sh DIR [TERMS [SEND]]: count SIGTERMs, exit 0 after the TERMS-th (never if 0); exit 0 on SIGUSR1.
# Without TERMS, trap nothing: SIGTERM and SIGINT kill it. With SEND, send tmprun a SIGUSR1 before getting
# ready: from itself (SEND: self) or from a child (child).
d=$1
if [ -n "${2:-}" ]; then
    got=0
    trap 'got=$((got + 1)); echo TERM >>"$d/count"; if [ "$got" -eq "$2" ]; then exit 0; fi' TERM
    trap 'echo USR1 >>"$d/count"; exit 0' USR1
fi
printf '%s\n' "$TMPDIR" >"$d/ws"
echo "$PPID" >"$d/tmprun-pid"
case ${3:-} in
self) kill -USR1 "$PPID" ;;
child)
    # The child stays (a leftover, stopped at the end): tmprun knows a sender for its descendant by its
    # parent, which it reads in /proc once it handles the signal.
    sh -c 'kill -USR1 "$1" && : >"$2" && exec sleep 1000' sh "$PPID" "$d/sent" &
    i=0
    until [ -e "$d/sent" ] || [ "$i" -ge 400 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    ;;
esac
: >"$d/ready"
i=0
while [ "$i" -lt 400 ]; do
    sleep 0.05
    i=$((i + 1))
done
exit 99
EOF

# bg_run DIR [TERMS]: start tmprun in the background running job.sh; $pid is tmprun's. A non-interactive
# shell starts background jobs with SIGINT and SIGQUIT ignored: give tmprun the defaults, as a foreground job
# or a CI runner would.
bg_run() {
    rm -rf "$1"
    mkdir "$1"
    env --default-signal=INT,QUIT "$TMPRUN" --dir="$base" sh "$job" "$@" &
    pid=$!
}

# --- (a) kill -TERM of tmprun: forwarded once; COMMAND handles it and exits 0, so tmprun exits 0. The same after
# COMMAND, or a process it started, sent tmprun a SIGUSR1: that one is not sent back to COMMAND (it would loop);
# forwarded, it would come before the SIGTERM (sent earlier, lower in number) and be counted.
for how in none self child; do
    d=$SCRATCH/a-$how
    what="kill -TERM tmprun"
    [ "$how" = none ] || what="$what after a SIGUSR1 to it from COMMAND ($how)"
    bg_run "$d" 1 "$how"
    if when_ready "$what"; then
        kill -TERM "$pid"
        assert_exit "$pid" 0 "$what, COMMAND traps it and exits 0: tmprun exits 0"
        assert_eq "$(cat "$d/count")" TERM "$what: COMMAND got exactly one SIGTERM, and nothing else"
        assert_absent "$(cat "$d/ws")" "$what: the workspace is gone"
    fi
done

# The same, but COMMAND stays alive after its SIGTERM, so a late second copy would be counted. The SIGUSR1
# sent after it is forwarded after any copy (tmprun handles pending signals lowest number first), so once
# COMMAND has seen SIGUSR1 it has seen everything tmprun forwarded.
d=$SCRATCH/a2
bg_run "$d" 0
if when_ready "kill -TERM then -USR1 tmprun"; then
    kill -TERM "$pid"
    wait_until "COMMAND to count the SIGTERM" has_lines "$d/count" 1
    kill -USR1 "$pid"
    assert_exit "$pid" 0 "kill -USR1 tmprun after a SIGTERM COMMAND ignored: forwarded, COMMAND exits 0"
    assert_eq "$(tr '\n' ' ' <"$d/count")" "TERM USR1 " \
        "kill -TERM then -USR1 tmprun: COMMAND got one SIGTERM, then the SIGUSR1"
    assert_absent "$(cat "$d/ws")" "kill -TERM then -USR1: the workspace is gone"
fi

# --- (b), (c) COMMAND does not handle the signal: it dies of it, and so does tmprun, after cleaning up.
for sig in TERM:143 INT:130; do
    name=${sig%:*}
    want=${sig#*:}
    d=$SCRATCH/$name
    bg_run "$d"
    if when_ready "kill -$name tmprun"; then
        kill -"$name" "$pid"
        assert_exit "$pid" "$want" "kill -$name tmprun, COMMAND does not handle it: tmprun dies of SIG$name ($want)"
        assert_absent "$(cat "$d/ws")" "kill -$name tmprun: the workspace is gone"
    fi
done

# --- (d) A second SIGTERM while COMMAND ignores the first is forwarded too; the workspace stays meanwhile.
d=$SCRATCH/d
bg_run "$d" 2
if when_ready "second SIGTERM"; then
    kill -TERM "$pid"
    if wait_until "COMMAND to count the first SIGTERM" has_lines "$d/count" 1; then
        ok "first SIGTERM to tmprun reaches COMMAND"
    else
        not_ok "first SIGTERM to tmprun reaches COMMAND"
    fi
    assert_alive "$pid" "after a SIGTERM COMMAND survived, tmprun lives on"
    assert_exists "$(cat "$d/ws")" "after a SIGTERM COMMAND survived, the workspace is still there"
    kill -TERM "$pid"
    assert_exit "$pid" 0 "second kill -TERM tmprun: COMMAND exits 0 after its second SIGTERM, so does tmprun"
    assert_eq "$(tr '\n' ' ' <"$d/count")" "TERM TERM " "two kill -TERM tmprun: COMMAND got exactly two"
    assert_absent "$(cat "$d/ws")" "after COMMAND exits, the workspace is gone"
fi

# --- Through a real terminal. pty-run.py gives COMMAND a new session on a pty, in the foreground.
# Find python3 itself, not a wrapper script that would run it as its child.
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || python=
ptyrun="$TESTS_SRCDIR/pty-run.py"

# (e) Ctrl-C: the kernel sends SIGINT to the whole foreground group, tmprun and COMMAND alike, so tmprun must
# not send it again: COMMAND, counting SIGINTs, sees exactly one.
if [ -n "$python" ]; then
    d=$SCRATCH/e
    mkdir "$d"
    cat >"$SCRATCH/intonce.sh" <<'EOF'
d=$1
trap 'echo INT >>"$d/count"; exit 0' INT
printf '%s\n' "$TMPDIR" >"$d/ws"
: >"$d/ready"
i=0
while [ "$i" -lt 400 ]; do
    sleep 0.05
    i=$((i + 1))
done
exit 99
EOF
    st=0
    "$python" "$ptyrun" --output "$d/out" "file:$d/ready" 'send:\x03' -- \
        "$TMPRUN" --dir="$base" sh "$SCRATCH/intonce.sh" "$d" >"$d/pty-stdout" 2>"$d/pty-stderr" || st=$?
    assert_eq "$st" 0 "pty: Ctrl-C, COMMAND traps SIGINT and exits 0: tmprun exits 0"
    [ "$st" -eq 0 ] || diag "$(cat "$d/pty-stderr")"
    assert_eq "$(cat "$d/count" 2>/dev/null)" INT "pty: one Ctrl-C, COMMAND saw exactly one SIGINT"
    assert_absent "$(cat "$d/ws")" "pty: Ctrl-C: the workspace is gone"

    # A copy sent by tmprun would often arrive while COMMAND's SIGINT is still pending and merge with it
    # unseen. So, deterministically: stop tmprun, press Ctrl-C, let COMMAND count its SIGINT and stay alive,
    # then continue tmprun, which now finds the SIGINT it got from the terminal. Then kill -USR1 tmprun alone:
    # tmprun handles pending signals lowest number first, so any SIGINT copy reaches COMMAND before the
    # SIGUSR1, on which COMMAND exits 0.
    d=$SCRATCH/e2
    mkdir "$d"
    cat >"$SCRATCH/intcount.sh" <<'EOF'
d=$1
trap 'echo INT >>"$d/count"' INT
trap 'echo USR1 >>"$d/count"; exit 0' USR1
printf '%s\n' "$TMPDIR" >"$d/ws"
echo "$PPID" >"$d/tmprun-pid"
: >"$d/ready"
i=0
while [ "$i" -lt 400 ]; do
    sleep 0.05
    i=$((i + 1))
done
exit 99
EOF
    "$python" "$ptyrun" --output "$d/out" "file:$d/stopped" 'send:\x03' -- \
        "$TMPRUN" --dir="$base" sh "$SCRATCH/intcount.sh" "$d" >"$d/pty-stdout" 2>"$d/pty-stderr" &
    ptypid=$!
    if wait_until "COMMAND to get ready" test -e "$d/ready"; then
        tpid=$(cat "$d/tmprun-pid")
        kill -STOP "$tpid"
        wait_until "tmprun to stop" is_stopped "$tpid"
        : >"$d/stopped"
        wait_until "COMMAND to count the SIGINT" has_lines "$d/count" 1
        kill -CONT "$tpid"
        kill -USR1 "$tpid"
    fi
    st=0
    wait "$ptypid" || st=$?
    assert_eq "$st" 0 "pty: Ctrl-C while tmprun is stopped, then kill -USR1 tmprun: COMMAND exits 0, so does tmprun"
    [ "$st" -eq 0 ] || diag "$(cat "$d/pty-stderr")"
    assert_eq "$(tr '\n' ' ' <"$d/count")" "INT USR1 " \
        "pty: tmprun got Ctrl-C's SIGINT late; still, COMMAND saw exactly one"
    assert_absent "$(cat "$d/ws")" "pty: Ctrl-C while tmprun is stopped: the workspace is gone"
else
    not_ok "pty: Ctrl-C counted once" "python3 is needed for the pty tests"
fi

# (f) Job control through an interactive bash: Ctrl-Z stops the job (tmprun and COMMAND), the workspace stays,
# fg resumes it, Ctrl-C ends it (130) and the workspace goes.
if [ -n "$python" ] && command -v bash >/dev/null; then
    d=$SCRATCH/f
    mkdir "$d"
    cat >"$SCRATCH/fjob.sh" <<'EOF'
d=$1
printf '%s\n' "$TMPDIR" >"$d/ws"
echo "$PPID" >"$d/tmprun-pid"
echo "$$" >"$d/child-pid"
# No fork once ready: a Ctrl-Z landing while dash waits in vfork() for a child that has not exec'd yet
# stops the child and leaves dash waiting, not stopped, until SIGCONT (a dash/kernel matter, not tmprun's).
exec "$2" -c '
import sys, time
open(sys.argv[1] + "/ready", "w").close()
for _ in range(400):
    open(sys.argv[1] + "/alive", "w").close()
    time.sleep(0.05)
sys.exit(99)' "$d"
EOF
    echo "PS1='PROMPT> '" >"$d/bashrc"
    # The typed lines: paths under $SCRATCH (mktemp's) need no quoting; $TMPRUN might.
    q=$(printf '%s' "$TMPRUN" | sed "s/'/'\\\\''/g")
    "$python" "$ptyrun" --output "$d/out" 'expect:PROMPT> ' \
        "send:'$q' --dir=$base sh $SCRATCH/fjob.sh $d $python\\n" "file:$d/ready" 'send:\x1a' \
        'expect:Stopped' 'expect:PROMPT> ' "file:$d/checked" 'send:fg\n' "file:$d/alive" 'send:\x03' \
        'expect:PROMPT> ' "send:echo \$? >$d/status; exit\\n" -- \
        bash --rcfile "$d/bashrc" --noprofile --noediting -i >"$d/pty-stdout" 2>"$d/pty-stderr" &
    ptypid=$!
    if wait_until "COMMAND to get ready" test -e "$d/ready" &&
        wait_until "Ctrl-Z to stop tmprun" is_stopped "$(cat "$d/tmprun-pid")" &&
        wait_until "Ctrl-Z to stop COMMAND" is_stopped "$(cat "$d/child-pid")"; then
        ok "pty: Ctrl-Z stops tmprun and COMMAND"
        assert_exists "$(cat "$d/ws")" "pty: while the job is stopped, the workspace is there"
        # Stopped processes recreate nothing: alive comes back only once fg has resumed COMMAND.
        rm -f "$d/alive"
    else
        not_ok "pty: Ctrl-Z stops tmprun and COMMAND" "state: $(proc_state "$(cat "$d/tmprun-pid" 2>/dev/null)")"
    fi
    : >"$d/checked"
    st=0
    wait "$ptypid" || st=$?
    assert_eq "$st" 0 "pty: Ctrl-Z, fg, Ctrl-C, exit: the interactive shell went through all of it"
    [ "$st" -eq 0 ] || diag "$(cat "$d/pty-stderr")"
    assert_contains "$d/out" "Stopped" "pty: the shell reports the job stopped"
    assert_eq "$(cat "$d/status" 2>/dev/null)" 130 "pty: after fg, Ctrl-C ends the job with status 130"
    assert_absent "$(cat "$d/ws")" "pty: after the job ends, the workspace is gone"
    assert_eq "$(proc_state "$(cat "$d/tmprun-pid")")" "" "pty: tmprun is gone"
else
    not_ok "pty: job control" "python3 and bash are needed for the job-control test"
fi

# --- (g) Signals tmprun inherited as ignored (a background job's SIGINT) stay ignored, in COMMAND too.
# ignoring SIG CMD...: run CMD with SIG ignored, as a non-interactive shell starts a background job. A script,
# not a function, so that in the background $! is CMD's pid.
ignoring=$SCRATCH/ignoring
# shellcheck disable=SC2016 # the wrapper expands them
printf '%s\n' '#!/bin/sh' 'trap "" "$1"' 'shift' 'exec "$@"' >"$ignoring"
chmod +x "$ignoring"
# The low hex digit of a /proc/PID/status mask holds signals 1-4: SIGINT is its 2, SIGQUIT its 4.
int_bit() {
    _m=$(sed -n 's/^SigIgn:[[:space:]]*//p' "$1")
    _m=${_m#"${_m%?}"}
    echo $((0x$_m & 2))
}
assert_status 0 "inherited SIG_IGN for SIGINT: tmprun runs COMMAND" \
    "$ignoring" INT "$TMPRUN" --dir="$base" grep '^SigIgn' /proc/self/status
assert_eq "$(int_bit "$OUT")" 2 "inherited SIG_IGN for SIGINT: still ignored in COMMAND"
assert_status 0 "SIGINT at its default: tmprun runs COMMAND" \
    env --default-signal=INT "$TMPRUN" --dir="$base" grep '^SigIgn' /proc/self/status
assert_eq "$(int_bit "$OUT")" 0 "SIGINT at its default: not ignored in COMMAND (tmprun's handling is not inherited)"

# With SIGINT ignored, kill -INT is nothing to tmprun: it neither dies nor forwards it. COMMAND (SIGINT
# ignored too, but blocked, so a forwarded copy would still queue) takes its signals with sigtimedwait() and
# exits 0 on the SIGUSR1 sent after the SIGINT; tmprun handles pending signals lowest number first, so a
# forwarded SIGINT would come before it.
d=$SCRATCH/g
mkdir "$d"
cat >"$SCRATCH/sigwait.py" <<'EOF'
import os, signal, sys
d = sys.argv[1]
sigs = {signal.SIGINT, signal.SIGUSR1}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
with open(d + "/ws", "w") as f:
    f.write(os.environ["TMPDIR"] + "\n")
open(d + "/ready", "w").close()
while True:
    si = signal.sigtimedwait(sigs, 20)
    if si is None:
        sys.exit(99)
    with open(d + "/count", "a") as f:
        f.write(signal.Signals(si.si_signo).name[3:] + "\n")
    if si.si_signo == signal.SIGUSR1:
        sys.exit(0)
EOF
"$ignoring" INT env --default-signal=QUIT "$TMPRUN" --dir="$base" "${python:-python3}" "$SCRATCH/sigwait.py" "$d" &
pid=$!
if when_ready "inherited SIG_IGN: kill -INT"; then
    kill -INT "$pid"
    kill -USR1 "$pid"
    assert_exit "$pid" 0 "inherited SIG_IGN: kill -INT does not kill tmprun; the next SIGUSR1 ends COMMAND with 0"
    assert_eq "$(cat "$d/count")" USR1 "inherited SIG_IGN: tmprun did not forward the SIGINT, only the SIGUSR1"
    assert_absent "$(cat "$d/ws")" "inherited SIG_IGN: the workspace is gone"
fi

# --- (h) Not only the usual ones: every signal whose default action terminates is caught and forwarded (as sudo
# does), or kill -VTALRM tmprun would kill tmprun alone, orphan COMMAND and leave the workspace behind. For each
# one below: tmprun outlives it and COMMAND, trapping it, gets it once; COMMAND not trapping it dies of it, and
# then so does tmprun, after removing the workspace. SIGSYS and SIGTRAP dump core by default: not here (dash,
# bash and busybox sh have ulimit -c; without it, a core file at worst).
# shellcheck disable=SC3045
ulimit -c 0 2>/dev/null || :
# sigjob.sh DIR SIG [trap]: with "trap", append SIG to DIR/count when it comes; exit 0 once DIR/go exists.
cat >"$SCRATCH/sigjob.sh" <<'EOF2'
d=$1
if [ -n "${3:-}" ]; then
    trap 'echo "$2" >>"$d/count"' "$2"
fi
printf '%s\n' "$TMPDIR" >"$d/ws"
: >"$d/ready"
i=0
until [ -e "$d/go" ]; do
    i=$((i + 1))
    [ "$i" -lt 400 ] || exit 99
    sleep 0.05
done
EOF2
# The exit status of a shell job killed by signal NAME (128 + its number, as kill -l maps them back).
status_of() {
    _n=1
    while [ "$_n" -lt 128 ] && [ "$(kill -l "$_n" 2>/dev/null)" != "$1" ]; do
        _n=$((_n + 1))
    done
    echo $((128 + _n))
}
for name in VTALRM PROF PWR IO SYS TRAP RTMIN+3 RTMAX; do
    d=$SCRATCH/h-$name
    mkdir "$d"
    # valgrind (make check-valgrind's wrapper) keeps SIGTRAP, SIGSYS and SIGRTMAX for itself: those go to the
    # binary.
    bin=$TMPRUN
    case $name in SYS | TRAP | RTMAX) [ -x "$TMPRUN.real" ] && bin=$TMPRUN.real ;; esac
    env --default-signal "$bin" --dir="$base" sh "$SCRATCH/sigjob.sh" "$d" "$name" trap &
    pid=$!
    if when_ready "kill -$name tmprun"; then
        kill -s "$name" "$pid"
        wait_until "COMMAND to record SIG$name" test -s "$d/count"
        assert_alive "$pid" "kill -$name tmprun: tmprun outlives it"
        : >"$d/go"
        assert_exit "$pid" 0 "kill -$name tmprun, COMMAND traps it and exits 0: tmprun exits 0"
        assert_eq "$(cat "$d/count" 2>/dev/null)" "$name" "kill -$name tmprun: COMMAND got it exactly once"
        assert_absent "$(cat "$d/ws")" "kill -$name tmprun: the workspace is gone"
    fi

    d=$SCRATCH/h-$name-dies
    mkdir "$d"
    env --default-signal "$bin" --dir="$base" sh "$SCRATCH/sigjob.sh" "$d" "$name" &
    pid=$!
    if when_ready "kill -$name tmprun, COMMAND dies of it"; then
        kill -s "$name" "$pid"
        assert_exit "$pid" "$(status_of "$name")" "kill -$name tmprun, COMMAND dies of it: so does tmprun"
        : >"$d/go" # an orphaned COMMAND ends too
        assert_absent "$(cat "$d/ws")" "kill -$name tmprun, COMMAND dies of it: the workspace is gone"
    fi
done

# --- (i) A signal sent to tmprun with sigqueue(3) goes on to COMMAND as one (its value along): COMMAND sees
# SI_QUEUE (-1), where kill(2) would give SI_USER (0).
d=$SCRATCH/i
mkdir "$d"
cat >"$SCRATCH/queued.py" <<'EOF'
import os, signal, sys
d = sys.argv[1]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
with open(d + "/ws", "w") as f:
    f.write(os.environ["TMPDIR"] + "\n")
open(d + "/ready", "w").close()
si = signal.sigtimedwait({signal.SIGUSR1}, 20)
if si is None:
    sys.exit(99)
with open(d + "/code", "w") as f:
    f.write("%d\n" % si.si_code)
EOF
"$TMPRUN" --dir="$base" "${python:-python3}" "$SCRATCH/queued.py" "$d" &
pid=$!
if when_ready "sigqueue SIGUSR1 to tmprun"; then
    env kill -s USR1 -q 7 "$pid" # procps kill: sigqueue(3) with the value 7
    assert_exit "$pid" 0 "sigqueue SIGUSR1 to tmprun: COMMAND takes it and exits 0"
    assert_eq "$(cat "$d/code" 2>/dev/null)" -1 "sigqueue SIGUSR1 to tmprun: COMMAND gets it queued (SI_QUEUE)"
    assert_absent "$(cat "$d/ws")" "sigqueue SIGUSR1 to tmprun: the workspace is gone"
fi

# --- (j) Started with SIGCHLD ignored (the kernel would reap COMMAND itself): tmprun still gets COMMAND's
# status, and COMMAND gets SIGCHLD ignored, as it was given. Bit 0x10000 of SigIgn is SIGCHLD (17).
cat >"$SCRATCH/chld-ignored.py" <<'EOF'
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execvp(sys.argv[1], sys.argv[1:])
EOF
# Not a shell as COMMAND: it takes SIGCHLD back for itself. sigign.py prints its own SigIgn and exits 3.
cat >"$SCRATCH/sigign.py" <<'EOF'
import sys
for line in open("/proc/self/status"):
    if line.startswith("SigIgn:"):
        print(line.split()[1])
sys.exit(3)
EOF
# The binary itself: valgrind's wrapper (make check-valgrind) is a shell script, which takes SIGCHLD back too.
bin=$TMPRUN
[ -x "$TMPRUN.real" ] && bin=$TMPRUN.real
assert_status 3 "SIGCHLD ignored at start: COMMAND's status comes through" \
    "${python:-python3}" "$SCRATCH/chld-ignored.py" "$bin" --dir="$base" \
    "${python:-python3}" "$SCRATCH/sigign.py"
m=$(cat "$OUT")
m=${m#"${m%????????}"}
assert_eq "$((0x$m & 0x10000))" 65536 "SIGCHLD ignored at start: still ignored in COMMAND"

# Nothing of this test is left running (the processes whose TMPDIR is a workspace in $base), nor a workspace.
assert_nothing_left "$base"
done_testing
