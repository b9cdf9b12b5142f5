#!/bin/sh
# tmprun under valgrind, for make check-valgrind: installed as "tmprun" next to the real binary
# (tmprun.real). A memory error or a definite leak in tmprun makes it exit 99, which every status assertion
# of the end-to-end suite catches. Children (COMMAND) run natively.
real=${0%/*}/tmprun.real
# Without /proc (tests/e2e-leftovers.sh takes it away) valgrind cannot run at all: natively then.
[ -r /proc/self/status ] || exec "$real" "$@"
# Under a seccomp filter added by a test (tests/e2e-faults.sh makes calls fail on purpose) valgrind and even
# this script's own forks may be denied: run natively. make check-valgrind passes the number of filters the
# whole run started with; read without a fork, which the filter may forbid.
# Traced (the tests that count tmprun's system calls with strace) valgrind's own calls would be counted:
# natively then too.
while read -r key value; do
    if [ "$key" = Seccomp_filters: ] && [ "$value" -gt "${VALGRIND_BASE_FILTERS:-0}" ]; then
        exec "$real" "$@"
    fi
    if [ "$key" = TracerPid: ] && [ "$value" != 0 ]; then
        exec "$real" "$@"
    fi
done </proc/self/status
# Standard descriptors closed by the caller (what tmprun must cope with) would be valgrind's own files; a
# umask of 0777 or a one-process RLIMIT_NPROC leave valgrind unable to start: natively.
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -u
if ! { : <&0; } 2>/dev/null || ! { : >&1; } 2>/dev/null || ! { : >&2; } 2>/dev/null ||
    [ "$(umask)" = 0777 ] || [ "$(ulimit -u 2>/dev/null)" = 1 ] || [ "$(ulimit -u 2>/dev/null)" = 2 ]; then
    exec "$real" "$@"
fi
# Two more kinds of run go natively, because valgrind itself cannot do them: a deliberately unusable TMPDIR
# (valgrind keeps its own temporary files there) and a terminal on stdin (valgrind does not stop on SIGTSTP,
# so job control breaks).
if [ -n "${TMPDIR:-}" ] && { [ ! -d "$TMPDIR" ] || [ ! -w "$TMPDIR" ] || [ ! -x "$TMPDIR" ]; }; then
    exec "$real" "$@"
fi
# A tiny fd limit: valgrind reserves fds of its own (the 12- and 16-fd removal tests; under 8 this script
# cannot even start, so those tests run the binary itself). Only after the seccomp check: $(...) forks.
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -n
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 256 ] || [ -t 0 ]; then
    exec "$real" "$@"
fi
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=yes --trace-children=no "$real" "$@"
