#!/bin/sh
# tmprun end to end: what COMMAND sees — TMPDIR, WORKDIR, --export, --cd, the workspace's name and mode.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
report=$SCRATCH/report

# COMMAND writes, one per line: TMPDIR, WORKDIR, the mode of TMPDIR, "dir" if it is a directory, pwd -P, FOO.
# shellcheck disable=SC2016 # expanded by COMMAND's shell
probe_script='printf "%s\n" "$TMPDIR" "$WORKDIR" "$(stat -c %a "$TMPDIR")" "$(test -d "$TMPDIR" && echo dir)" \
    "$(pwd -P)" "${FOO-unset}" >"$1"'

# probe DESC [OPTION]...: run the probe through tmprun in $base, expecting status 0.
probe() {
    _d=$1
    shift
    rm -f "$report"
    assert_status 0 "$_d" env TMPDIR="$base" "$TMPRUN" "$@" sh -c "$probe_script" sh "$report"
}

probe "default run exits 0"
ws=$(line "$report" 1)
assert_eq "$(line "$report" 2)" "$ws" "WORKDIR equals TMPDIR"
assert_match "$ws" '^/' "TMPDIR is absolute"
assert_eq "$(dirname "$ws")" "$base" "TMPDIR is inside the base directory"
assert_eq "$(line "$report" 4)" "dir" "TMPDIR is a directory"
assert_eq "$(line "$report" 3)" "700" "workspace mode is 0700"
assert_match "$(basename "$ws")" '^tmprun\.[A-Za-z0-9]{10}$' "name is tmprun. + 10 characters [A-Za-z0-9]"
assert_eq "$(line "$report" 6)" "unset" "FOO is not exported without --export"
assert_absent "$ws" "workspace is gone after the run"
assert_eq "$(ls -A "$base")" "" "nothing is left in the base directory"

for mask in 000 077; do
    rm -f "$report"
    (umask "$mask" && env TMPDIR="$base" "$TMPRUN" sh -c "$probe_script" sh "$report") >"$OUT" 2>"$ERR"
    assert_eq "$?" 0 "umask $mask: exits 0"
    assert_eq "$(line "$report" 3)" "700" "umask $mask: workspace mode is still 0700"
done
rm -f "$report"
(umask 077 && env TMPDIR="$base" "$TMPRUN" --mode=0750 sh -c "$probe_script" sh "$report") >"$OUT" 2>"$ERR"
assert_eq "$?" 0 "umask 077 --mode=0750: exits 0"
assert_eq "$(line "$report" 3)" "750" "umask 077 --mode=0750: the umask does not narrow the mode"

probe "--mode=0750 exits 0" --mode=0750
assert_eq "$(line "$report" 3)" "750" "--mode=0750 gives mode 0750"

probe "--export=FOO exits 0" --export=FOO
assert_eq "$(line "$report" 6)" "$(line "$report" 1)" "--export=FOO sets FOO to the workspace path"
assert_eq "$(line "$report" 2)" "$(line "$report" 1)" "--export=FOO still sets WORKDIR"

assert_status 125 "--export=1bad is a usage error (125)" env TMPDIR="$base" "$TMPRUN" --export=1bad true
assert_contains "$ERR" "1bad" "--export=1bad: stderr names the bad name"

cd "$SCRATCH" || exit 99
probe "--cd exits 0" --cd
assert_eq "$(line "$report" 5)" "$(line "$report" 1)" "--cd: COMMAND starts inside the workspace"
probe "without --cd exits 0"
assert_eq "$(line "$report" 5)" "$SCRATCH" "without --cd: COMMAND starts in the caller's directory"

probe "--prefix=foo- --suffix=.d exits 0" --prefix=foo- --suffix=.d
assert_match "$(basename "$(line "$report" 1)")" '^foo-[A-Za-z0-9]{10}\.d$' \
    "--prefix=foo- --suffix=.d: name is foo- + 10 characters + .d"

assert_status 125 "--prefix containing / is a usage error (125)" env TMPDIR="$base" "$TMPRUN" --prefix=a/b true
assert_status 125 "--suffix containing / is a usage error (125)" env TMPDIR="$base" "$TMPRUN" --suffix=a/b true
long=$(printf '%0300d' 0)
assert_status 125 "a 300-character --prefix is a usage error (125)" \
    env TMPDIR="$base" "$TMPRUN" --prefix="$long" true
assert_eq "$(ls -A "$base")" "" "rejected runs created nothing in the base directory"

done_testing
