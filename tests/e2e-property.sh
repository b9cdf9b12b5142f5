#!/bin/sh
# tmprun end to end: the randomized property test (tests/property.py) - random hostile trees built in
# workspaces, each removed without touching anything outside, tmprun exiting with COMMAND's status.
#
# PROPERTY_SECONDS (default 60) bounds it for CI, which uses a fixed seed (printed); PROPERTY_SEED=N reproduces
# a run, PROPERTY_SEED=random or =date draws new trees for a local soak; PROPERTY_TREES caps the
# number of trees. A long local soak: PROPERTY_SEED=random PROPERTY_SECONDS=3600 make check TESTS=tests/e2e-property.sh
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

PROPERTY_SECONDS=${PROPERTY_SECONDS:-60}
export PROPERTY_SECONDS TMPRUN

python=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 6))' 2>/dev/null
    then
        python=$p
        break
    fi
done

if [ -z "$python" ]; then
    skip "random hostile trees removed, nothing outside touched, COMMAND's status kept" "no python3"
else
    # The script makes (and on a failure keeps) its own scratch directories: the evidence must outlive
    # this test's $SCRATCH.
    STATUS=0
    "$python" "$TESTS_SRCDIR/property.py" >"$OUT" 2>"$ERR" || STATUS=$?
    sed 's/^/# /' "$OUT"
    if [ "$STATUS" -eq 0 ]; then
        ok "random hostile trees removed, nothing outside touched, COMMAND's status kept"
    else
        not_ok "random hostile trees removed, nothing outside touched, COMMAND's status kept" \
            "property.py exited $STATUS (its report is above)" "stderr:" "$(cat "$ERR")"
    fi
fi
done_testing
