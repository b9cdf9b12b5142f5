#!/bin/sh
# tmprun end to end: isolation and privilege (issue 5). --tmpfs (quota → ENOSPC, a tmpfs workspace of the
# caller's, freed by the kernel even when tmprun is SIGKILLed), --private-tmp, --user, --drop-caps,
# --no-new-privs, and the refusals (125, one line, nothing created) — as root and as the unprivileged user.
# shellcheck disable=SC2016 # the single-quoted scripts are expanded by COMMAND's shell
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

if ! is_root; then
    skip "isolation options" "needs root (to test both as root and, through setpriv, as an unprivileged user)"
    done_testing
    exit 0
fi
setup_user

# The entries of directory $1, one a line, sorted ("" when empty).
entries() {
    ls -A "$1" 2>&1
}

# Field NAME of /proc/self/status as printed by COMMAND: status_field FILE NAME.
status_field() {
    sed -n "s/^$2:[[:space:]]*//p" "$1"
}

# A directory for workspaces (owned by the unprivileged user when $2 is "user").
mkbase() {
    mkdir "$1"
    if [ "${2:-}" = user ]; then
        chown "$UNPRIV_UID:$UNPRIV_GID" "$1"
    fi
}

# Feature probes: the test needs what tmprun needs, and says so when the machine lacks it.
has_mountns=no
if unshare --mount true 2>/dev/null; then
    has_mountns=yes
fi
has_userns=no
if as_user unshare --user --mount true 2>/dev/null; then
    has_userns=yes
fi

nobody_name=$(getent passwd "$UNPRIV_UID" | cut -d: -f1)
nobody_home=$(getent passwd "$UNPRIV_UID" | cut -d: -f6)
nobody_groups=$(id -G "$nobody_name")

# COMMAND's report of itself, used by several sections below: one "key value" a line.
cat >"$SCRATCH/report.sh" <<'EOF'
echo "tmpdir $TMPDIR"
echo "workdir $WORKDIR"
echo "fstype $(stat -f -c %T "$TMPDIR")"
echo "owner $(stat -c %u "$TMPDIR")"
echo "mode $(stat -c %a "$TMPDIR")"
# The options of the mount at $TMPDIR (mountinfo field 5 is the mount point, 6 its per-mount options).
echo "mountopts $(awk -v p="$TMPDIR" '$5 == p { o = $6 } END { print o }' /proc/self/mountinfo)"
echo "mounttype $(awk -v p="$TMPDIR" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") t = $(i + 1) } END { print t }' /proc/self/mountinfo)"
: >"$TMPDIR/file"
echo "fileowner $(stat -c %u "$TMPDIR/file")"
EOF

# key FILE KEY: the value of "KEY value" in FILE.
key() {
    sed -n "s/^$2 //p" "$1"
}

# ===================================================================== --tmpfs

if [ "$has_mountns" = yes ]; then
    # --- quota hit: COMMAND gets ENOSPC, tmprun exits with COMMAND's status, nothing is left.
    base=$SCRATCH/quota
    mkbase "$base"
    assert_status 42 "--tmpfs=1M, COMMAND writes 2M: tmprun exits with COMMAND's status (42)" \
        "$TMPRUN" --dir="$base" --tmpfs=1M sh -c \
        'head -c 2M /dev/zero >"$TMPDIR/big" || { stat -c %s "$TMPDIR/big"; exit 42; }'
    assert_contains "$ERR" "No space left on device" "--tmpfs=1M: COMMAND's write failed with ENOSPC"
    size=$(cat "$OUT")
    if [ -n "$size" ] && [ "$size" -gt 0 ] && [ "$size" -le 1048576 ]; then
        ok "--tmpfs=1M: COMMAND got at most 1M on disk before ENOSPC ($size bytes)"
    else
        not_ok "--tmpfs=1M: COMMAND got at most 1M on disk before ENOSPC" "size: '$size'"
    fi
    assert_not_contains "$ERR" "tmprun:" "--tmpfs quota hit: tmprun itself reports nothing"
    assert_eq "$(entries "$base")" "" "--tmpfs quota hit: nothing left in the base directory"

    # --- the workspace as root: a tmpfs, 0700, root's, nosuid,nodev.
    base=$SCRATCH/tmpfs-root
    mkbase "$base"
    assert_status 0 "root: --tmpfs --cd: COMMAND runs, exit 0" \
        "$TMPRUN" --dir="$base" --tmpfs --cd sh -c '. "$1"; echo "cwdfs $(stat -f -c %T .)"' sh "$SCRATCH/report.sh"
    r=$SCRATCH/tmpfs-root.out
    cp "$OUT" "$r"
    assert_eq "$(key "$r" cwdfs)" tmpfs "root: --tmpfs --cd: the current directory is a tmpfs"
    assert_eq "$(key "$r" fstype)" tmpfs "root: --tmpfs: \$TMPDIR is a tmpfs"
    assert_eq "$(key "$r" mounttype)" tmpfs "root: --tmpfs: mountinfo shows a tmpfs mounted at \$TMPDIR"
    assert_eq "$(key "$r" mode)" 700 "root: --tmpfs: the workspace is mode 0700"
    assert_eq "$(key "$r" owner)" 0 "root: --tmpfs: the workspace is owned by root"
    assert_match "$(key "$r" mountopts)" '(^|,)nosuid(,|$)' "root: --tmpfs: mounted nosuid"
    assert_match "$(key "$r" mountopts)" '(^|,)nodev(,|$)' "root: --tmpfs: mounted nodev"
    assert_match "$(key "$r" tmpdir)" "^$base/tmprun\\." "root: --tmpfs: \$TMPDIR is the workspace path in DIR"
    assert_eq "$(entries "$base")" "" "root: --tmpfs: nothing left in the base directory"
else
    skip "--tmpfs as root" "unshare --mount fails here: no mount namespaces"
fi

if [ "$has_userns" = yes ]; then
    base=$UDIR/tmpfs-user
    mkbase "$base" user
    assert_status 0 "unprivileged: --tmpfs --cd: COMMAND runs, exit 0" \
        as_user "$USER_TMPRUN" --dir="$base" --tmpfs=4M --cd sh -c \
        '. "$1"; echo "cwdfs $(stat -f -c %T .)"; echo "uid $(id -u)"
        echo "capeff $(sed -n "s/^CapEff:[[:space:]]*//p" /proc/self/status)"' sh "$SCRATCH/report.sh"
    r=$SCRATCH/tmpfs-user.out
    cp "$OUT" "$r"
    assert_eq "$(key "$r" cwdfs)" tmpfs "unprivileged: --tmpfs --cd: the current directory is a tmpfs"
    assert_eq "$(key "$r" mounttype)" tmpfs "unprivileged: --tmpfs: mountinfo shows a tmpfs at \$TMPDIR"
    assert_eq "$(key "$r" mode)" 700 "unprivileged: --tmpfs: the workspace is mode 0700"
    assert_eq "$(key "$r" owner)" "$UNPRIV_UID" "unprivileged: --tmpfs: the workspace is owned by the caller"
    assert_eq "$(key "$r" uid)" "$UNPRIV_UID" "unprivileged: --tmpfs: COMMAND keeps the caller's uid"
    assert_eq "$(key "$r" fileowner)" "$UNPRIV_UID" "unprivileged: --tmpfs: files COMMAND writes are the caller's"
    assert_eq "$(key "$r" capeff)" 0000000000000000 \
        "unprivileged: --tmpfs: COMMAND holds no capability (none survive exec in the user namespace)"
    assert_match "$(key "$r" mountopts)" '(^|,)nosuid(,|$)' "unprivileged: --tmpfs: mounted nosuid"
    assert_match "$(key "$r" mountopts)" '(^|,)nodev(,|$)' "unprivileged: --tmpfs: mounted nodev"
    assert_eq "$(entries "$base")" "" "unprivileged: --tmpfs: nothing left in the base directory"

    base=$UDIR/quota-user
    mkbase "$base" user
    assert_status 3 "unprivileged: --tmpfs=1M, COMMAND writes 2M: tmprun exits with COMMAND's status (3)" \
        as_user "$USER_TMPRUN" --dir="$base" --tmpfs=1M sh -c 'head -c 2M /dev/zero >"$TMPDIR/big" || exit 3'
    assert_contains "$ERR" "No space left on device" "unprivileged: --tmpfs=1M: COMMAND got ENOSPC"
    assert_eq "$(entries "$base")" "" "unprivileged: --tmpfs quota hit: nothing left in the base directory"
else
    skip "--tmpfs as an unprivileged user" "unprivileged user namespaces are not available here"
fi

# --- tmprun SIGKILLed under --tmpfs while COMMAND lives: the data never reaches the host's disk, is gone with
# COMMAND's mount namespace, and --gc removes the empty directory left behind.

# kjob.sh DIR: writes a file into the workspace, reports the workspace (DIR/ws, written last: the sign that
# it is ready) and its pid, then becomes a lone sleep (no child of its own keeps the namespace or the lock).
cat >"$SCRATCH/kjob.sh" <<'EOF'
d=$1
echo secret >"$TMPDIR/data"
echo "$$" >"$d/pid"
echo "$PPID" >"$d/ppid"
printf '%s\n' "$TMPDIR" >"$d/ws.tmp"
mv "$d/ws.tmp" "$d/ws"
exec sleep 60
EOF

# Does any process still have a mount at path $1?
mounted_anywhere() {
    grep -qsF " $1 " /proc/[0-9]*/mountinfo
}

# killed_tmpfs LABEL BASE REPORTDIR RUNNER...: RUNNER (the way to run tmprun, as root or as the user; a program
# that becomes tmprun, not a shell function, so that $! is tmprun) is run with --tmpfs in the background,
# SIGKILLed once COMMAND is ready, then COMMAND is killed.
killed_tmpfs() {
    _label=$1
    _base=$2
    _d=$3
    shift 3
    "$@" --dir="$_base" --tmpfs=1M sh "$SCRATCH/kjob.sh" "$_d" &
    _pid=$!
    if ! wait_until "COMMAND to get ready" test -e "$_d/ws"; then
        kill -KILL "$_pid"
        wait "$_pid"
        not_ok "$_label: SIGKILL of tmprun under --tmpfs (COMMAND never got ready)"
        return 1
    fi
    _ws=$(cat "$_d/ws")
    _child=$(cat "$_d/pid")
    assert_eq "$(cat "$_d/ppid")" "$_pid" "$_label: COMMAND's parent is the tmprun about to be killed (precondition)"
    kill -KILL "$_pid"
    _st=0
    wait "$_pid" 2>/dev/null || _st=$?
    assert_eq "$_st" 137 "$_label: SIGKILL of tmprun under --tmpfs: it dies at once (137)"
    if has_exited "$_child"; then
        not_ok "$_label: COMMAND outlives the SIGKILLed tmprun (precondition)"
    else
        ok "$_label: COMMAND outlives the SIGKILLed tmprun (precondition)"
    fi
    assert_eq "$(cat "/proc/$_child/root$_ws/data" 2>&1)" secret \
        "$_label: COMMAND still sees its file in its own namespace"
    assert_eq "$(entries "$_ws")" "" "$_label: the workspace on the host is empty: the file never reached the disk"
    kill -KILL "$_child"
    wait_until "the orphaned COMMAND to die" has_exited "$_child"
    if mounted_anywhere "$_ws"; then
        not_ok "$_label: once COMMAND is dead no process has the tmpfs mounted (the kernel frees it)" \
            "$(grep -lsF " $_ws " /proc/[0-9]*/mountinfo)"
    else
        ok "$_label: once COMMAND is dead no process has the tmpfs mounted (the kernel frees it)"
    fi
    assert_exists "$_ws" "$_label: only the empty directory is left behind"
    assert_eq "$(entries "$_ws")" "" "$_label: the directory left behind is still empty"
    assert_status 0 "$_label: --gc --older-than=0 after the SIGKILL: exit 0" \
        "$@" --gc --dir="$_base" --older-than=0
    assert_eq "$(cat "$OUT")" "removed $_ws" "$_label: --gc removes the empty workspace"
    assert_absent "$_ws" "$_label: the killed --tmpfs run's workspace is gone"
}

if [ "$has_mountns" = yes ]; then
    base=$SCRATCH/killed
    mkbase "$base"
    mkdir "$SCRATCH/killed.d"
    killed_tmpfs "root" "$base" "$SCRATCH/killed.d" "$TMPRUN"
else
    skip "root: SIGKILL of tmprun under --tmpfs" "no mount namespaces here"
fi
if [ "$has_userns" = yes ]; then
    base=$UDIR/killed
    mkbase "$base" user
    mkbase "$UDIR/killed.d" user
    killed_tmpfs "unprivileged" "$base" "$UDIR/killed.d" \
        setpriv --reuid="$UNPRIV_UID" --regid="$UNPRIV_GID" --clear-groups -- "$USER_TMPRUN"
else
    skip "unprivileged: SIGKILL of tmprun under --tmpfs" "unprivileged user namespaces are not available here"
fi

# ===================================================================== --private-tmp

# COMMAND cannot see $SCRATCH (it lies in the host's /tmp): it reports on stdout, which the test captures.
marker=tmprun-e2e-isolation-marker.$$
ptmp='echo "tmpdir $TMPDIR"
echo "workdir $WORKDIR"
echo hello >/tmp/"$1"
echo "var $(cat /var/tmp/"$1" 2>&1)"
echo "same $(stat -c %d:%i /tmp) $(stat -c %d:%i /var/tmp)"
echo "tmpfs $(stat -f -c %T /tmp) $(stat -f -c %T /var/tmp)"
if [ -e "$2" ]; then echo "hostscratch visible"; else echo "hostscratch hidden"; fi
echo "list $(ls -A /tmp | tr "\n" " ")"'

# private_tmp LABEL BASE [RUNNER...] -- OPTIONS: checks common to every --private-tmp run.
private_tmp() {
    _label=$1
    _base=$2
    shift 2
    rm -f "/tmp/$marker" "/var/tmp/$marker"
    assert_status 0 "$_label: COMMAND runs, exit 0" "$@" --dir="$_base" sh -c "$ptmp" sh "$marker" "$SCRATCH"
    _r=$SCRATCH/ptmp.out
    cp "$OUT" "$_r"
    assert_eq "$(key "$_r" tmpdir)" /tmp "$_label: \$TMPDIR is /tmp inside"
    assert_eq "$(key "$_r" workdir)" /tmp "$_label: \$WORKDIR is /tmp inside"
    assert_eq "$(key "$_r" var)" hello "$_label: a file written to /tmp is in /var/tmp too"
    _same=$(key "$_r" same)
    assert_eq "${_same% *}" "${_same#* }" "$_label: /tmp and /var/tmp are the same directory inside"
    assert_eq "$(key "$_r" hostscratch)" hidden "$_label: the host's /tmp is hidden from COMMAND"
    assert_eq "$(key "$_r" list)" "$marker " "$_label: COMMAND's /tmp holds only what it wrote"
    assert_absent "/tmp/$marker" "$_label: the file COMMAND wrote to /tmp is not in the host's /tmp"
    assert_absent "/var/tmp/$marker" "$_label: nor in the host's /var/tmp"
    assert_eq "$(entries "$_base")" "" "$_label: nothing left in the base directory"
}

if [ "$has_mountns" = yes ]; then
    base=$SCRATCH/ptmp-root
    mkbase "$base"
    private_tmp "root: --private-tmp" "$base" "$TMPRUN" --private-tmp
    fs=$(stat -f -c %T "$base")
    assert_eq "$(key "$SCRATCH/ptmp.out" tmpfs)" "$fs $fs" \
        "root: --private-tmp alone: /tmp and /var/tmp are on the base directory's file system ($fs)"
    private_tmp "root: --private-tmp --tmpfs" "$base" "$TMPRUN" --private-tmp --tmpfs=8M
    assert_eq "$(key "$SCRATCH/ptmp.out" tmpfs)" "tmpfs tmpfs" "root: --private-tmp --tmpfs: /tmp and /var/tmp are the tmpfs"
else
    skip "root: --private-tmp" "no mount namespaces here"
fi
if [ "$has_userns" = yes ]; then
    base=$UDIR/ptmp-user
    mkbase "$base" user
    private_tmp "unprivileged: --private-tmp" "$base" as_user "$USER_TMPRUN" --private-tmp
    private_tmp "unprivileged: --private-tmp --tmpfs" "$base" as_user "$USER_TMPRUN" --private-tmp --tmpfs=8M
    assert_eq "$(key "$SCRATCH/ptmp.out" tmpfs)" "tmpfs tmpfs" \
        "unprivileged: --private-tmp --tmpfs: /tmp and /var/tmp are the tmpfs"
else
    skip "unprivileged: --private-tmp" "unprivileged user namespaces are not available here"
fi

# ===================================================================== --user, --drop-caps, --no-new-privs

# COMMAND's identity and capabilities.
cat >"$SCRATCH/ident.sh" <<'EOF'
echo "uid $(id -u)"
echo "gid $(id -g)"
echo "groups $(id -G)"
echo "HOME $HOME"
echo "USER $USER"
echo "LOGNAME $LOGNAME"
echo "owner $(stat -c %u "$TMPDIR")"
echo "mode $(stat -c %a "$TMPDIR")"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status
EOF

# all_caps_zero LABEL FILE: the five capability sets COMMAND reported are all empty.
all_caps_zero() {
    for _set in CapInh CapPrm CapEff CapBnd CapAmb; do
        assert_eq "$(status_field "$2" "$_set")" 0000000000000000 "$1: $_set is zero inside COMMAND"
    done
}

base=$SCRATCH/asuser
mkbase "$base"
assert_status 0 "--user=$nobody_name: COMMAND runs, exit 0" \
    "$TMPRUN" --dir="$base" --user="$nobody_name" sh "$SCRATCH/ident.sh"
r=$SCRATCH/user.out
cp "$OUT" "$r"
assert_eq "$(key "$r" uid)" "$UNPRIV_UID" "--user: id -u is $UNPRIV_UID"
assert_eq "$(key "$r" gid)" "$(id -g "$nobody_name")" "--user: id -g is the user's primary group"
assert_eq "$(key "$r" groups)" "$nobody_groups" "--user: the supplementary groups are the user's (root's are gone)"
assert_eq "$(key "$r" HOME)" "$nobody_home" "--user: HOME is the user's"
assert_eq "$(key "$r" USER)" "$nobody_name" "--user: USER is set"
assert_eq "$(key "$r" LOGNAME)" "$nobody_name" "--user: LOGNAME is set"
assert_eq "$(key "$r" owner)" "$UNPRIV_UID" "--user: the workspace is owned by the user"
assert_eq "$(key "$r" mode)" 700 "--user: the workspace is mode 0700"
all_caps_zero "--user" "$r"
assert_eq "$(status_field "$r" NoNewPrivs)" 1 "--user: NoNewPrivs is 1 inside COMMAND"
assert_eq "$(entries "$base")" "" "--user: nothing left in the base directory"

# A numeric USER and USER:GROUP.
assert_status 0 "--user=$UNPRIV_UID:0 (numeric user, a group): exit 0" \
    "$TMPRUN" --dir="$base" --user="$UNPRIV_UID:0" sh -c 'id -u; id -g'
assert_eq "$(tr '\n' ' ' <"$OUT")" "$UNPRIV_UID 0 " "--user=UID:GROUP: COMMAND has that uid and gid"

# --user with --tmpfs: the tmpfs is the user's.
if [ "$has_mountns" = yes ]; then
    assert_status 0 "--user --tmpfs --cd: COMMAND runs, exit 0" \
        "$TMPRUN" --dir="$base" --user="$nobody_name" --tmpfs=2M --cd sh -c '. "$1"; echo "uid $(id -u)"' \
        sh "$SCRATCH/report.sh"
    r=$SCRATCH/user-tmpfs.out
    cp "$OUT" "$r"
    assert_eq "$(key "$r" fstype) $(key "$r" owner) $(key "$r" mode) $(key "$r" fileowner) $(key "$r" uid)" \
        "tmpfs $UNPRIV_UID 700 $UNPRIV_UID $UNPRIV_UID" \
        "--user --tmpfs: a tmpfs owned by the user, mode 0700, written to as the user"
    assert_eq "$(entries "$base")" "" "--user --tmpfs: nothing left in the base directory"
else
    skip "--user --tmpfs" "no mount namespaces here"
fi

# tmprun's own capabilities while COMMAND runs: only those it needs for cleanup and signalling (KILL, SETGID,
# SETUID = bits 5, 6, 7: it removes with the owner's rights, so no DAC_OVERRIDE or FOWNER). COMMAND waits
# (bounded) for tmprun to drop the rest.
assert_status 0 "--user: COMMAND can read tmprun's capability sets" \
    "$TMPRUN" --dir="$base" --user="$nobody_name" sh -c '
        i=0
        while [ "$i" -lt 300 ]; do
            e=$(sed -n "s/^CapEff:[[:space:]]*//p" /proc/$PPID/status)
            [ "$e" = 00000000000000e0 ] && break
            i=$((i + 1))
            sleep 0.05
        done
        grep -E "^Cap(Prm|Eff|Amb):" /proc/$PPID/status'
cp "$OUT" "$SCRATCH/parent.out"
assert_eq "$(status_field "$SCRATCH/parent.out" CapEff)" 00000000000000e0 \
    "tmprun keeps only CAP_SETUID, CAP_SETGID, CAP_KILL effective"
assert_eq "$(status_field "$SCRATCH/parent.out" CapPrm)" 00000000000000e0 "and only those permitted"

# --user=nobody leaves a hostile tree: a 000 directory and a symlink to a root-owned directory outside.
out=$SCRATCH/outside
mkdir "$out"
echo keep >"$out/file"
chmod 0700 "$out"
chmod 0600 "$out/file"
assert_status 0 "--user: a 000 dir and a symlink to a root-owned dir outside, removed: exit 0" \
    "$TMPRUN" --dir="$base" --user="$nobody_name" sh -c '
        set -e
        mkdir -p "$TMPDIR/locked/inner"
        echo x >"$TMPDIR/locked/inner/f"
        chmod 000 "$TMPDIR/locked/inner" "$TMPDIR/locked"
        ln -s "$1" "$TMPDIR/link"
        ln -s "$1/file" "$TMPDIR/locked-link" 2>/dev/null || true
        printf "%s\n" "$TMPDIR"' sh "$out"
assert_eq "$(cat "$ERR")" "" "--user hostile tree: no error reported"
assert_eq "$(entries "$base")" "" "--user hostile tree: the workspace is gone"
assert_eq "$(cat "$out/file" 2>&1)" keep "--user hostile tree: the file outside is intact"
assert_eq "$(stat -c '%a %u' "$out" "$out/file" | tr '\n' ' ')" "700 0 600 0 " \
    "--user hostile tree: the outside directory's and file's modes and owner are unchanged"

# --- a setuid-root helper inside --user cannot gain root.

# remove_helper_dir STATUS: removes $helper_dir, then lib.sh's cleanup with STATUS as the exit status.
remove_helper_dir() {
    rm -rf "$helper_dir"
    (exit "$1")
    _cleanup
}
# The helper must live where setuid is honoured (not nosuid) and the user can reach it.
suid_dir=
for d in "$SCRATCH" /var/tmp; do
    case ",$(findmnt -n -T "$d" -o OPTIONS 2>/dev/null)," in
    *,nosuid,*) ;;
    *)
        suid_dir=$d
        break
        ;;
    esac
done
if [ -n "$suid_dir" ]; then
    if [ "$suid_dir" = "$SCRATCH" ]; then
        helper_dir=$SCRATCH/suid
        mkdir "$helper_dir"
    else
        helper_dir=$(mktemp -d "$suid_dir/tmprun-e2e-suid.XXXXXXXXXX")
        # Removed at exit, before lib.sh's own cleanup, which reads the exit status.
        trap 'remove_helper_dir $?' EXIT
    fi
    chmod 0755 "$helper_dir"
    cp /usr/bin/id "$helper_dir/id"
    chown 0:0 "$helper_dir/id"
    chmod 4755 "$helper_dir/id"
    assert_status 0 "setuid-root helper run by the user directly: exit 0 (precondition)" \
        as_user "$helper_dir/id" -u
    assert_eq "$(cat "$OUT")" 0 "setuid-root helper run by the user directly gets euid 0 (precondition)"
    assert_status 0 "setuid-root helper inside --user: exit 0" \
        "$TMPRUN" --dir="$base" --user="$nobody_name" "$helper_dir/id" -u
    assert_eq "$(cat "$OUT")" "$UNPRIV_UID" "setuid-root helper inside --user: euid stays $UNPRIV_UID"
else
    skip "setuid-root helper inside --user" "no directory here is on a file system without nosuid"
fi

# --- --drop-caps as root: no capability, NoNewPrivs, still uid 0.
assert_status 0 "--drop-caps as root: COMMAND runs, exit 0" \
    "$TMPRUN" --dir="$base" --drop-caps sh "$SCRATCH/ident.sh"
r=$SCRATCH/drop.out
cp "$OUT" "$r"
assert_eq "$(key "$r" uid)" 0 "--drop-caps: the uid is still 0"
all_caps_zero "--drop-caps" "$r"
assert_eq "$(status_field "$r" NoNewPrivs)" 1 "--drop-caps: NoNewPrivs is 1 inside COMMAND"

# --- --no-new-privs alone: the flag, and root's capabilities untouched.
grep -E '^(CapEff|CapPrm|CapBnd):' /proc/self/status >"$SCRATCH/own.caps"
assert_status 0 "--no-new-privs as root: COMMAND runs, exit 0" \
    "$TMPRUN" --dir="$base" --no-new-privs sh "$SCRATCH/ident.sh"
r=$SCRATCH/nnp.out
cp "$OUT" "$r"
assert_eq "$(status_field "$r" NoNewPrivs)" 1 "--no-new-privs: NoNewPrivs is 1 inside COMMAND"
assert_eq "$(status_field "$r" CapEff)" "$(status_field "$SCRATCH/own.caps" CapEff)" \
    "--no-new-privs: CapEff is still root's full set"
assert_eq "$(status_field "$r" CapBnd)" "$(status_field "$SCRATCH/own.caps" CapBnd)" \
    "--no-new-privs: the bounding set is untouched"
assert_eq "$(key "$r" uid)" 0 "--no-new-privs: the uid is still 0"
assert_eq "$(entries "$base")" "" "--drop-caps, --no-new-privs: nothing left in the base directory"

# --- the same without privilege. --no-new-privs needs none. --drop-caps works too: every set but the bounding
# set is emptied (only CAP_SETPCAP could empty that one, and no_new_privs, always set with it, makes it moot).
ubase=$UDIR/caps
mkbase "$ubase" user
assert_status 0 "unprivileged --no-new-privs: COMMAND runs, exit 0" \
    as_user "$USER_TMPRUN" --dir="$ubase" --no-new-privs sh "$SCRATCH/ident.sh"
r=$SCRATCH/unnp.out
cp "$OUT" "$r"
assert_eq "$(status_field "$r" NoNewPrivs) $(key "$r" uid)" "1 $UNPRIV_UID" \
    "unprivileged --no-new-privs: NoNewPrivs is 1, same user"
assert_status 0 "unprivileged --drop-caps: COMMAND runs, exit 0" \
    as_user "$USER_TMPRUN" --dir="$ubase" --drop-caps sh "$SCRATCH/ident.sh"
r=$SCRATCH/udrop.out
cp "$OUT" "$r"
assert_eq "$(status_field "$r" CapEff) $(status_field "$r" CapPrm) $(status_field "$r" CapInh)" \
    "0000000000000000 0000000000000000 0000000000000000" \
    "unprivileged --drop-caps: the effective, permitted and inheritable sets are empty"
assert_eq "$(status_field "$r" NoNewPrivs) $(key "$r" uid)" "1 $UNPRIV_UID" \
    "unprivileged --drop-caps: NoNewPrivs is 1, same user"
assert_eq "$(entries "$ubase")" "" "unprivileged --no-new-privs, --drop-caps: nothing left in the base directory"

# ===================================================================== refusals: 125, one line, nothing made

# refused LABEL WANT BASE RAN RUNNER...: RUNNER (tmprun and its options) with a COMMAND that creates RAN exits
# 125 before doing anything, with exactly one diagnostic line, containing WANT.
refused() {
    _rlabel=$1
    _rwant=$2
    _rbase=$3
    _rran=$4
    shift 4
    rm -f "$_rran"
    assert_status 125 "$_rlabel: exit 125" "$@" --dir="$_rbase" touch "$_rran"
    _rlines=$(grep -c . "$ERR")
    assert_eq "$_rlines" 1 "$_rlabel: one line on stderr"
    assert_contains "$ERR" "$_rwant" "$_rlabel: the line says what and why"
    assert_absent "$_rran" "$_rlabel: COMMAND did not run"
    assert_eq "$(entries "$_rbase")" "" "$_rlabel: nothing created in the base directory"
}

base=$SCRATCH/refused
mkbase "$base"
ran=$SCRATCH/ran
refused "--user=nosuchuser" "no such user" "$base" "$ran" "$TMPRUN" --user=nosuchuser-tmprun-e2e
refused "--user=$nobody_name:nosuchgroup" "no such group" "$base" "$ran" \
    "$TMPRUN" --user="$nobody_name:nosuchgroup-tmprun-e2e"
refused "--tmpfs=0" "--tmpfs size '0'" "$base" "$ran" "$TMPRUN" --tmpfs=0
refused "--tmpfs=abc" "--tmpfs size 'abc'" "$base" "$ran" "$TMPRUN" --tmpfs=abc

ubase=$UDIR/refused
mkbase "$ubase" user
uran=$UDIR/ran
refused "unprivileged --user=root" "--user needs root" "$ubase" "$uran" as_user "$USER_TMPRUN" --user=root
refused "unprivileged --user=$nobody_name (itself)" "--user needs root" "$ubase" "$uran" \
    as_user "$USER_TMPRUN" --user="$nobody_name"

# --- namespaces unavailable for an unprivileged run. The test does not change the machine's sysctl: it makes
# a user namespace of its own (ids mapped 1:1) and sets user.max_user_namespaces=0 in there, which forbids
# any further user namespace below it, then runs tmprun as the unprivileged user inside it.
if [ "$has_userns" = yes ] && unshare --user true 2>/dev/null; then
    nons=$SCRATCH/nons.sh
    cat >"$nons" <<'EOF'
# nons.sh TMPRUN BASE RAN OPTION: waits (bounded) for its id maps, then forbids user namespaces in its own
# user namespace and runs TMPRUN OPTION as the unprivileged user.
i=0
until [ -n "$(cat /proc/self/gid_map)" ]; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || exit 98
    sleep 0.05
done
sysctl -q -w user.max_user_namespaces=0 || exit 97
[ "$(cat /proc/sys/user/max_user_namespaces)" = 0 ] || exit 96
exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$1" --dir="$2" "$4" touch "$3"
EOF
    # nons OPTION: the above, with the maps written from here once the child has its new user namespace.
    nons() {
        unshare --user -- sh "$nons" "$USER_TMPRUN" "$ubase" "$uran" "$1" >"$OUT" 2>"$ERR" &
        _pid=$!
        _me=$(readlink /proc/self/ns/user)
        if wait_until "the child's user namespace" sh -c '[ "$(readlink "/proc/$1/ns/user")" != "$2" ]' sh \
            "$_pid" "$_me"; then
            echo "0 0 65536" >"/proc/$_pid/uid_map"
            echo "0 0 65536" >"/proc/$_pid/gid_map"
        fi
        STATUS=0
        wait "$_pid" || STATUS=$?
    }
    for opt in --tmpfs --private-tmp; do
        rm -f "$uran"
        nons "$opt"
        assert_eq "$STATUS" 125 "no user namespaces: unprivileged $opt exits 125"
        assert_eq "$(grep -c . "$ERR")" 1 \
            "no user namespaces: unprivileged $opt: one line on stderr"
        assert_contains "$ERR" "unshare" "no user namespaces: $opt: the message names the call that failed"
        assert_match "$ERR" "user\\.max_user_namespaces.*(enable|run as root)|(enable|run as root).*user\\.max_user_namespaces" \
            "no user namespaces: $opt: the message says what is wrong and what to do"
        assert_absent "$uran" "no user namespaces: $opt: COMMAND did not run (no silent fallback to disk)"
        assert_eq "$(entries "$ubase")" "" "no user namespaces: $opt: nothing created in the base directory"
    done
else
    skip "no user namespaces: unprivileged --tmpfs refused" "user namespaces are not available here at all"
fi

done_testing
