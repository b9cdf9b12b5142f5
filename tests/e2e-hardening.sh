#!/bin/sh
# tmprun end to end, tried as a hostile local user or a sloppy caller would: each test here reproduces a way an
# earlier tmprun broke its promise (never delete outside the workspace, never leave one behind unsaid).
# shellcheck disable=SC2016 # the sh -c scripts expand their own variables
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"

# The binary itself, not a wrapper (make check-valgrind's), for what a wrapper would change: valgrind's own
# descriptors, processes and temporary files would stand in for tmprun's.
native=$TMPRUN
[ -x "$TMPRUN.real" ] && native=$TMPRUN.real

# ---- standard descriptors closed by the caller ----
# The first descriptors tmprun opens must not land on 0-2: COMMAND would get the workspace as its stdin or
# stderr, and "exec 2>/dev/null" in COMMAND would close what keeps the workspace alive.
assert_status 0 "fds 0-2 closed: exits 0" sh -c '"$1" --dir="$2" -- sh -c "readlink /proc/\$\$/fd/0 /proc/\$\$/fd/2 | cat >\"\$1\"" sh "$3" 0<&- 2>&-' \
    sh "$native" "$base" "$SCRATCH/fds"
assert_eq "$(tr '\n' ' ' <"$SCRATCH/fds")" "/dev/null /dev/null " "fds 0-2 closed: COMMAND's stdin and stderr are /dev/null"
assert_status 0 "all of fds 0-2 closed: exits 0" sh -c '"$1" --dir="$2" -- sh -c "readlink /proc/\$\$/fd/1 | cat >\"\$1\"" sh "$3" 0<&- 1>&- 2>&-' \
    sh "$native" "$base" "$SCRATCH/fds"
assert_eq "$(cat "$SCRATCH/fds")" "/dev/null" "all of fds 0-2 closed: COMMAND's stdout is /dev/null"
assert_eq "$(ls -A "$base")" "" "fds 0-2 closed: no workspace is left"

# ---- --gc whose reader goes away ----
# A closed stdout (tmprun --gc -v | head -1) must not stop the sweep halfway: every stale workspace goes.
i=0
while [ "$i" -lt 300 ]; do
    mkdir "$base/tmprun.gcpipe$(printf '%04d' "$i")"
    i=$((i + 1))
done
python3 -c '
import os, subprocess, sys
r, w = os.pipe()
os.close(r)  # the reader is gone before tmprun writes its first line
st = subprocess.call(sys.argv[1:], stdout=w)
sys.exit(st if st >= 0 else 128 - st)
' "$TMPRUN" --gc -v --older-than=0 --dir="$base" 2>"$ERR"
st=$?
assert_eq "$st" 1 "--gc with a closed stdout: exits 1 (not killed by SIGPIPE)"
assert_contains "$ERR" "Broken pipe" "--gc with a closed stdout: says it could not write"
assert_eq "$(ls -A "$base")" "" "--gc with a closed stdout: every stale workspace was still removed"

# ---- bases that someone other than root and the caller can modify ----
# Such a user could rename the workspace and put a symlink in its place: COMMAND (root's, in a cron job) would
# then write wherever it points. Each is refused with one line naming who could write there.
if is_root; then
    setup_user
    refuse_base() { # refuse_base LABEL TEXT DIR [AS]
        _dir=$3
        rm -f "$SCRATCH/ran"
        if [ "${4:-}" = user ]; then
            assert_status 125 "$1: refused (125)" as_user "$USER_TMPRUN" --dir="$_dir" -- sh -c 'echo ran >"$1"' sh "$SCRATCH/ran"
        else
            assert_status 125 "$1: refused (125)" "$TMPRUN" --dir="$_dir" -- sh -c 'echo ran >"$1"' sh "$SCRATCH/ran"
        fi
        assert_eq "$(grep -c . "$ERR")" 1 "$1: one line on stderr"
        assert_contains "$ERR" "$2" "$1: it says who else can write"
        assert_absent "$SCRATCH/ran" "$1: COMMAND did not run"
        assert_eq "$(ls -A "$_dir")" "" "$1: nothing was created there"
    }
    mkdir -m 0755 "$SCRATCH/theirs"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$SCRATCH/theirs"
    refuse_base "another user's 0755 base" "owned by user nobody" "$SCRATCH/theirs"
    chmod 1777 "$SCRATCH/theirs"
    refuse_base "another user's sticky 1777 base" "owned by user nobody" "$SCRATCH/theirs"
    mkdir -m 0755 "$SCRATCH/acl"
    setfacl -m "u:$UNPRIV_UID:rwx" "$SCRATCH/acl"
    refuse_base "root's 0755 base with a write ACL for nobody" "an ACL lets user nobody" "$SCRATCH/acl"
    mkdir -m 0775 "$UDIR/shared"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR/shared"
    chmod 0775 "$UDIR/shared"
    refuse_base "the caller's own 0775 base whose group has other members" "group nogroup" "$UDIR/shared" user
    # What stays accepted: /tmp (root, 1777) and the caller's own 0700 directory.
    assert_status 0 "/tmp stays accepted" "$TMPRUN" --dir=/tmp true
    mkdir -m 0700 "$UDIR/mine"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR/mine"
    assert_status 0 "the caller's own 0700 directory stays accepted" as_user "$USER_TMPRUN" --dir="$UDIR/mine" true
else
    skip "bases others can write" "needs root to create the other user's directories"
fi

# ---- a mount on a workspace name: neither the run's cleanup nor --gc enters it ----
if is_root; then
    victim=$SCRATCH/victim
    mkdir -p "$victim/sub"
    echo data >"$victim/sub/file"
    # In a private mount namespace, so the mounts die with it whatever tmprun does.
    assert_status 1 "mount on a workspace: the run and --gc both leave the mounted tree" \
        unshare -m --propagation private sh -c '
        "$1" --dir="$2" -- sh -c "mount --bind \"\$1\" \"\$WORKDIR\"" sh "$3" 2>"$4.run"
        echo "run: $?" >"$4.st"
        mkdir "$2/tmprun.PLANTEDmnt"
        mount --bind "$3" "$2/tmprun.PLANTEDmnt"
        "$1" --gc --dir="$2" --older-than=0' sh "$TMPRUN" "$base" "$victim" "$SCRATCH/mnt"
    assert_eq "$(cat "$SCRATCH/mnt.st")" "run: 125" "mount on the workspace: the run exits 125"
    assert_contains "$SCRATCH/mnt.run" "a mount point or on another filesystem than its base; not entered" \
        "mount on the workspace: the run says the path is a mount"
    assert_eq "$(grep -c "not entered" "$ERR")" 2 "--gc: both mounts are reported, not entered"
    assert_eq "$(cat "$victim/sub/file" 2>&1)" data "the mounted directory's files survive the run and --gc"
    rmdir "$base"/* 2>/dev/null
    assert_eq "$(ls -A "$base")" "" "mount on a workspace: only empty mount points were left"
else
    skip "mount on a workspace" "needs root to mount"
fi

# ---- what is at the workspace's path when COMMAND ends ----
# A directory COMMAND re-created there is the run's: removed, not left behind with exit 0.
assert_status 0 "re-created workspace: exits 0" "$TMPRUN" -v --dir="$base" -- \
    sh -c 'rm -rf "$TMPDIR" && mkdir "$TMPDIR" && echo important >"$TMPDIR/data"'
assert_contains "$ERR" "removed $base/" "re-created workspace: -v reports it removed"
assert_eq "$(ls -A "$base")" "" "re-created workspace: nothing is left in the base"
# A symlink there is left, never followed, and reported with 125.
mkdir "$SCRATCH/target"
echo keep >"$SCRATCH/target/file"
assert_status 125 "symlink in the workspace's place: 125" "$TMPRUN" --dir="$base" -- \
    sh -c 'rm -rf "$TMPDIR" && ln -s "$1" "$TMPDIR"' sh "$SCRATCH/target"
assert_contains "$ERR" "not a directory now" "symlink in the workspace's place: reported"
assert_eq "$(cat "$SCRATCH/target/file")" keep "symlink in the workspace's place: its target is untouched"
assert_eq "$(find "$base" -mindepth 1 -maxdepth 1 -type l | wc -l)" 1 "symlink in the workspace's place: left there"
rm -f "$base"/*
if is_root; then
    assert_status 125 "another user's directory in the workspace's place: 125" "$TMPRUN" --dir="$base" -- \
        sh -c 'rm -rf "$TMPDIR" && mkdir "$TMPDIR" && echo theirs >"$TMPDIR/f" && chown -R 65534 "$TMPDIR"'
    assert_contains "$ERR" "owned by another user than the workspace's" "another user's directory: reported"
    assert_eq "$(cat "$base"/*/f)" theirs "another user's directory: left as it is"
    rm -rf "${base:?}"/*
else
    skip "another user's directory in the workspace's place" "needs root to chown"
fi

# ---- failures between creating the workspace and running COMMAND: one line, 125, nothing left ----
inject=${TESTS_BUILDDIR:-$(dirname "$0")}/inject
failsetenv=${TESTS_BUILDDIR:-$(dirname "$0")}/failsetenv.so
bin=$TMPRUN
[ -x "$TMPRUN.real" ] && bin=$TMPRUN.real # the valgrind wrapper's binary
if ldd "$bin" >/dev/null 2>&1; then
    assert_status 125 "setenv fails: 125" env LD_PRELOAD="$failsetenv" ASAN_OPTIONS=verify_asan_link_order=0 \
        "$TMPRUN" --dir="$base" -- sh -c 'echo ran >"$1"' sh "$SCRATCH/ran"
    assert_eq "$(cat "$ERR")" "tmprun: cannot set TMPDIR: Cannot allocate memory" "setenv fails: one line naming the variable"
    assert_eq "$(ls -A "$base")" "" "setenv fails: the workspace was taken back"
else
    skip "setenv fails" "a static tmprun ignores LD_PRELOAD"
fi
if is_root; then
    rm -f "$SCRATCH/ran"
    assert_status 125 "open_tree fails with EPERM under --private-tmp: 125" \
        "$inject" EPERM:open_tree -- "$TMPRUN" --private-tmp --dir="$base" -- sh -c 'echo ran >"$1"' sh "$SCRATCH/ran"
    assert_contains "$ERR" "cannot mount the workspace over /tmp: Operation not permitted" \
        "open_tree fails: the message carries open_tree's own errno"
    assert_absent "$SCRATCH/ran" "open_tree fails: COMMAND did not run"
    assert_eq "$(ls -A "$base")" "" "open_tree fails: nothing is left in the base"

    # --private-tmp --cd: COMMAND starts in its /tmp, which is the workspace, by a path that resolves there.
    assert_status 0 "--private-tmp --cd: exits 0" "$TMPRUN" --private-tmp --cd --dir="$base" -- \
        sh -c '/bin/pwd; echo here >mark; ls /tmp; ls . >/dev/null && echo listed'
    assert_eq "$(tr '\n' ' ' <"$OUT")" "/tmp mark listed " "--private-tmp --cd: pwd is /tmp, the workspace, and . lists"

    # -v does not claim a removal that failed.
    assert_status 125 "-v with a failed cleanup: 125" "$inject" EPERM:unlinkat -- "$TMPRUN" -v --dir="$base" -- \
        sh -c ': >"$TMPDIR/a"'
    assert_contains "$ERR" "could not fully remove $base/" "-v with a failed cleanup: says it could not fully remove"
    assert_not_contains "$ERR" "tmprun: removed $base/" "-v with a failed cleanup: does not say removed"
    rm -rf "${base:?}"/*

    # --tmpfs blames what failed: here the first process the run makes, its lock keeper, refused by
    # RLIMIT_NPROC (EAGAIN), not user namespaces. The workspace it had made is taken back.
    setup_user
    unative=$USER_TMPRUN # (make check-valgrind's wrapper sits where nobody can run it, with the binary)
    [ -x "$TMPRUN.real" ] && unative=$TMPRUN.real
    mkdir "$UDIR/nproc"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR/nproc"
    # LeakSanitizer (in the sanitizer build) needs clone(2) for its own exit-time check: off for these runs.
    asan_saved=${ASAN_OPTIONS-}
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    export ASAN_OPTIONS
    assert_status 125 "--tmpfs with no process to spare: 125" as_user prlimit --nproc=1 "$unative" --tmpfs \
        --dir="$UDIR/nproc" true
    assert_eq "$(cat "$ERR")" "tmprun: cannot set up the workspace's lock for COMMAND: Resource temporarily unavailable" \
        "--tmpfs with no process to spare: names the lock keeper and fork's errno"
    assert_eq "$(ls -A "$UDIR/nproc")" "" "--tmpfs with no process to spare: nothing is left"
    # One to spare: the keeper's middle process starts, the keeper cannot; the failure comes back from it.
    assert_status 125 "--tmpfs with one process to spare: 125" as_user prlimit --nproc=2 "$unative" --tmpfs \
        --keep-on-failure --dir="$UDIR/nproc" touch "$UDIR/nproc-ran"
    assert_eq "$(cat "$ERR")" "tmprun: cannot set up the workspace's lock for COMMAND: Resource temporarily unavailable" \
        "--tmpfs with one process to spare: names the lock and fork's errno"
    assert_absent "$UDIR/nproc-ran" "--tmpfs with one process to spare: COMMAND did not run"
    assert_eq "$(ls -A "$UDIR/nproc")" "" "--tmpfs with one process to spare: nothing is left"
    ASAN_OPTIONS=$asan_saved
else
    skip "failures before COMMAND" "needs root (inject, namespaces, a second user)"
fi

# ---- the liveness lock COMMAND inherits ----
# (b) It is COMMAND's own: unlocking every descriptor it inherited ("flock -u N") leaves tmprun's lock in
# place, and a concurrent --gc --older-than=0 still skips the live workspace.
# COMMAND talks through descriptors opened outside (its /tmp may be private): stdout to a file, and fd 3, a
# FIFO it reads "go" from.
unlock='for f in /proc/$$/fd/*; do
    n=${f##*/}
    [ "$n" -gt 3 ] && flock -u "$n" 2>/dev/null
done
echo "$TMPDIR"
read -r go <&3
test -d "$TMPDIR" && echo alive'
mkfifo "$SCRATCH/fifo"
for opts in "" "--private-tmp" "--tmpfs=1M"; do
    if [ -n "$opts" ] && ! is_root; then
        skip "flock -u in COMMAND $opts" "needs root for the namespaces"
        continue
    fi
    out=$SCRATCH/unlock.out
    rm -f "$out"
    exec 3<>"$SCRATCH/fifo"
    # shellcheck disable=SC2086 # $opts is zero or one word
    "$TMPRUN" --dir="$base" $opts -- sh -c "$unlock" >"$out" &
    pid=$!
    if wait_until "COMMAND to unlock its descriptors" test -s "$out"; then
        assert_status 0 "flock -u in COMMAND $opts: --gc runs" "$TMPRUN" --gc -v --older-than=0 --dir="$base"
        assert_contains "$ERR" "in use" "flock -u in COMMAND $opts: --gc still finds the workspace in use"
        assert_eq "$(find "$base" -mindepth 1 -maxdepth 1 | wc -l)" 1 "flock -u in COMMAND $opts: the live workspace is still there"
    fi
    echo go >&3
    st=0
    wait "$pid" || st=$?
    exec 3<&-
    assert_eq "$st" 0 "flock -u in COMMAND $opts: the run ends normally"
    assert_eq "$(sed -n 2p "$out")" alive "flock -u in COMMAND $opts: COMMAND still had its workspace"
    assert_eq "$(ls -A "$base")" "" "flock -u in COMMAND $opts: tmprun removed it at the end"
done

# (a) In namespaces, nothing COMMAND inherits reaches the host: no directory descriptor (under --private-tmp
# its ".." was the host's base; under --tmpfs it was the disk below the mount, past the size limit).
if is_root; then
    for opts in "--private-tmp" "--tmpfs=1M" "--tmpfs=1M --private-tmp"; do
        # shellcheck disable=SC2086 # $opts are words
        assert_status 0 "$opts: COMMAND runs" "$TMPRUN" --dir="$base" $opts -- sh -c '
            for f in /proc/$$/fd/*; do
                n=${f##*/}
                if [ "$n" -gt 2 ] && [ -d "$f" ]; then echo "directory fd $n: $(readlink "$f")"; fi
            done; true'
        assert_eq "$(cat "$OUT")" "" "$opts: COMMAND inherits no directory descriptor"
    done

    # (c) After a SIGKILLed tmprun, --gc never removes the workspace of a --tmpfs run while a process of the
    # run lives (the keeper holds the lock outside COMMAND's namespace), and does once the last one exits.
    d=$SCRATCH/keeper
    mkdir "$d"
    "$TMPRUN" --dir="$base" --tmpfs=1M -- sh -c '
        echo "$TMPDIR" >"$1/ws"
        i=0
        until [ -e "$1/go" ]; do
            i=$((i + 1)); [ "$i" -lt 600 ] || exit 99
            sleep 0.05
        done
        echo done >"$1/done"' sh "$d" &
    pid=$!
    if wait_until "the --tmpfs COMMAND to start" test -s "$d/ws"; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        assert_status 0 "--tmpfs, tmprun SIGKILLed: --gc runs" "$TMPRUN" --gc -v --older-than=0 --dir="$base"
        assert_contains "$ERR" "in use" "--tmpfs, tmprun SIGKILLed: --gc finds the workspace in use"
        assert_eq "$(find "$base" -mindepth 1 -maxdepth 1 | wc -l)" 1 "--tmpfs, tmprun SIGKILLed: the workspace is still there"
        : >"$d/go"
        wait_until "the orphaned COMMAND to finish" test -e "$d/done"
        gone() { "$TMPRUN" --gc --older-than=0 --dir="$base" >/dev/null 2>&1 && [ -z "$(ls -A "$base")" ]; }
        if wait_until "the keeper to let go once the run is over" gone; then
            ok "--tmpfs, tmprun SIGKILLed: --gc removes the workspace once the run's last process is gone"
        else
            not_ok "--tmpfs, tmprun SIGKILLed: --gc removes the workspace once the run's last process is gone"
        fi
    else
        kill -KILL "$pid"
        not_ok "--tmpfs, tmprun SIGKILLed (COMMAND never started)"
    fi
    rm -rf "${base:?}"/*
else
    skip "what COMMAND inherits in namespaces" "needs root for the namespaces"
fi

# ---- removal with the owner's rights ----
# Root's cleanup of a --user run removes nothing USER could not: COMMAND moves in a directory of its own that
# holds a root-owned 0755 directory with root's file; nobody's rm -rf fails there, and so must tmprun's
# cleanup (125 after a 0 status), leaving root's file.
if is_root; then
    setup_user
    mkdir -p "$UDIR/trap/rootdir"
    echo root-data >"$UDIR/trap/rootdir/file"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR/trap"
    chmod 0755 "$UDIR/trap/rootdir"
    assert_status 125 "--user: a root-owned directory moved in: the cleanup fails (125)" \
        "$TMPRUN" --dir="$base" --user="$UNPRIV_UID" -- sh -c 'mv "$1" "$WORKDIR/" && echo "$WORKDIR" >"$2"' \
        sh "$UDIR/trap" "$UDIR/ws"
    ws=$(cat "$UDIR/ws")
    assert_contains "$ERR" "$ws/trap/rootdir/file: Permission denied" "--user: root's file is reported, not removed"
    assert_eq "$(cat "$ws/trap/rootdir/file" 2>&1)" root-data "--user: root's file is still there"
    rm -rf "$ws"

    # The same for root's --gc over a stale workspace owned by nobody.
    mkdir -p "$base/tmprun.OwnerRight/rootdir"
    echo root-data >"$base/tmprun.OwnerRight/rootdir/file"
    echo theirs >"$base/tmprun.OwnerRight/theirs"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$base/tmprun.OwnerRight" "$base/tmprun.OwnerRight/theirs"
    assert_status 1 "root's --gc over nobody's workspace holding root's directory: exit 1" \
        "$TMPRUN" --gc --older-than=0 --dir="$base"
    assert_eq "$(cat "$base/tmprun.OwnerRight/rootdir/file" 2>&1)" root-data "--gc: root's file is still there"
    assert_absent "$base/tmprun.OwnerRight/theirs" "--gc: nobody's own file was removed"
    rm -rf "${base:?}"/*
else
    skip "removal with the owner's rights" "needs root and a second user"
fi

# ---- a caller with umask 0777 ----
# The workspace is made 0700 whatever the umask: with 0777 it was created 0000, which only root can open.
if is_root; then
    setup_user
    mkdir "$UDIR/umask"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$UDIR/umask"
    assert_status 0 "umask 0777, unprivileged: the run works" as_user sh -c 'umask 0777; "$1" --dir="$2" -- true' \
        sh "$USER_TMPRUN" "$UDIR/umask"
    assert_eq "$(ls -A "$UDIR/umask")" "" "umask 0777, unprivileged: nothing is left"
else
    skip "umask 0777, unprivileged" "needs root to switch to a second user"
fi

done_testing
