#!/bin/sh
# tmprun end to end: exit statuses (COMMAND's, 125, 126, 127, signal deaths) and command-line parsing.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
where=$SCRATCH/where

run() {
    env TMPDIR="$base" "$TMPRUN" "$@"
}

assert_status 0 "COMMAND exiting 0 gives 0" run true
assert_eq "$(cat "$ERR")" "" "a successful run prints nothing on stderr"
assert_status 3 "COMMAND exiting 3 gives 3" run sh -c 'exit 3'
assert_status 1 "COMMAND exiting 1 gives 1" run false

noexec=$SCRATCH/not-executable
printf '#!/bin/sh\nexit 0\n' >"$noexec"
chmod 0644 "$noexec"
assert_status 126 "a non-executable file gives 126" run "$noexec"
assert_contains "$ERR" "$noexec" "126: stderr names the command"
assert_contains "$ERR" "Permission denied" "126: stderr gives the reason"

assert_status 127 "a missing command gives 127" run tmprun-no-such-command
assert_contains "$ERR" "tmprun-no-such-command" "127: stderr names the command"
assert_contains "$ERR" "No such file or directory" "127: stderr gives the reason"

assert_status 125 "no COMMAND is a usage error (125)" run
assert_match "$ERR" '.' "no COMMAND: stderr explains"
assert_status 125 "an unknown option is a usage error (125)" run --bogus true
assert_contains "$ERR" "'--bogus'" "unknown option: stderr names '--bogus'"
assert_eq "$(ls -A "$base")" "" "failed runs left nothing in the base directory"

# Deaths by signal: COMMAND records its workspace, then kills itself. The calling shell must see tmprun die
# of the same signal, after the workspace is gone.
# shellcheck disable=SC2016 # expanded by COMMAND's shell
suicide='printf %s "$TMPDIR" >"$1" && kill -"$2" $$'
rm -f "$where"
assert_status 137 "COMMAND killed by SIGKILL: tmprun's status is 137 (128+9)" \
    run sh -c "$suicide" sh "$where" KILL
ws=$(cat "$where")
assert_match "$ws" "^$base/tmprun\." "SIGKILL: COMMAND ran in a workspace"
assert_absent "$ws" "SIGKILL: the workspace is gone"
assert_not_contains "$ERR" "tmprun:" "SIGKILL: tmprun reports no error"

rm -f "$where"
assert_status 143 "COMMAND killed by SIGTERM: tmprun's status is 143 (128+15)" \
    run sh -c "$suicide" sh "$where" TERM
ws=$(cat "$where")
assert_match "$ws" "^$base/tmprun\." "SIGTERM: COMMAND ran in a workspace"
assert_absent "$ws" "SIGTERM: the workspace is gone"

# A shell's $? cannot tell a death by signal 9 from exit(137); the raw wait status can (perl-base is essential
# on Debian). perl prints "SIGNAL STATUS".
# shellcheck disable=SC2016 # perl code
waitstatus='system { $ARGV[0] } @ARGV; printf "%d %d\n", $? & 127, $? >> 8'
env TMPDIR="$base" perl -e "$waitstatus" "$TMPRUN" sh -c 'kill -KILL $$' >"$OUT" 2>"$ERR"
assert_eq "$(cat "$OUT")" "9 0" "SIGKILL: tmprun itself dies of signal 9 (wait status), not exit(137)"
env TMPDIR="$base" perl -e "$waitstatus" "$TMPRUN" sh -c 'kill -TERM $$' >"$OUT" 2>"$ERR"
assert_eq "$(cat "$OUT")" "15 0" "SIGTERM: tmprun itself dies of signal 15 (wait status), not exit(143)"
env TMPDIR="$base" perl -e "$waitstatus" "$TMPRUN" sh -c 'exit 137' >"$OUT" 2>"$ERR"
assert_eq "$(cat "$OUT")" "0 137" "COMMAND exiting 137 (no signal): tmprun exits 137 without dying of a signal"

assert_status 0 "--help exits 0" run --help
assert_contains "$OUT" "Usage:" "--help prints the usage on stdout"
assert_eq "$(cat "$ERR")" "" "--help prints nothing on stderr"
assert_status 0 "--version exits 0" run --version
assert_match "$(line "$OUT" 1)" '^tmprun [0-9]' "--version prints 'tmprun VERSION' on stdout"
assert_eq "$(cat "$ERR")" "" "--version prints nothing on stderr"

assert_status 0 "options after COMMAND: exits 0" run echo -v
assert_eq "$(cat "$OUT")" "-v" "options after COMMAND belong to COMMAND (echo -v prints -v)"
assert_eq "$(cat "$ERR")" "" "options after COMMAND: tmprun did not take -v (no verbose output)"
assert_status 0 "-- before COMMAND is accepted" run -- echo ok
assert_eq "$(cat "$OUT")" "ok" "-- before COMMAND: COMMAND runs"
assert_status 127 "after --, a word starting with - is COMMAND" run -- --tmprun-not-an-option
assert_contains "$ERR" "--tmprun-not-an-option" "after --: stderr names that COMMAND"
assert_eq "$(ls -A "$base")" "" "nothing is left in the base directory"

done_testing
