#!/bin/sh
# tmprun end to end: removing hostile trees — unreadable and read-only directories, symlinks and hard links to
# files outside, a mount point inside — without touching anything outside the workspace.
: "${TESTS_SRCDIR:=$(dirname "$0")}"
# shellcheck source=lib.sh
. "$TESTS_SRCDIR/lib.sh"

base=$SCRATCH/base
mkdir "$base"
where=$SCRATCH/where

# ---- a tree of chmod 000 and Go-module-cache (0555 directories, 0444 files) directories, nested ----

# mktree.sh WHERE: records $TMPDIR in WHERE, builds the tree, and records in WHERE.locked whether this user
# can still read the 000 directory (root can: it bypasses permission bits).
cat >"$SCRATCH/mktree.sh" <<'EOF'
set -e
printf %s "$TMPDIR" >"$1"
t=$TMPDIR/a
mod=$t/gomod/example.com/pkg@v1.2.3
mkdir -p "$t/locked/inner" "$mod/sub/locked"
echo x >"$t/locked/f"
echo y >"$t/locked/inner/g"
echo m >"$mod/go.mod"
echo c >"$mod/sub/code.go"
echo z >"$mod/sub/locked/h"
chmod 0444 "$mod/go.mod" "$mod/sub/code.go" "$mod/sub/locked/h"
chmod 000 "$mod/sub/locked"
chmod 0555 "$mod/sub" "$mod" "$t/gomod/example.com" "$t/gomod"
chmod 000 "$t/locked/inner" "$t/locked"
chmod 0555 "$t"
if [ -r "$t/locked" ] || [ -w "$t/gomod" ]; then echo reachable; else echo locked; fi >"$1.locked"
EOF
chmod 0644 "$SCRATCH/mktree.sh"

rm -f "$where"
assert_status 0 "root: hostile tree (000 and 0555/0444, nested) removed, exit 0" \
    env TMPDIR="$base" "$TMPRUN" sh "$SCRATCH/mktree.sh" "$where"
assert_eq "$(cat "$ERR")" "" "root: hostile tree: no error reported"
ws=$(cat "$where")
assert_match "$ws" "^$base/tmprun\." "root: hostile tree: COMMAND built it in a workspace"
assert_absent "$ws" "root: hostile tree: the workspace is gone"

if is_root; then
    setup_user
    udir=$UDIR
    mkdir "$udir/base"
    chown "$UNPRIV_UID:$UNPRIV_GID" "$udir/base"
    assert_status 0 "unprivileged: hostile tree removed without root's powers, exit 0" \
        as_user env TMPDIR=/nonexistent "$USER_TMPRUN" --dir="$udir/base" sh "$SCRATCH/mktree.sh" "$udir/where"
    assert_eq "$(cat "$ERR")" "" "unprivileged: hostile tree: no error reported"
    assert_eq "$(cat "$udir/where.locked")" "locked" \
        "unprivileged: hostile tree: the user really could not read or write into it (precondition)"
    ws=$(cat "$udir/where")
    assert_match "$ws" "^$udir/base/tmprun\." "unprivileged: hostile tree: COMMAND built it in a workspace"
    assert_absent "$ws" "unprivileged: hostile tree: the workspace is gone"
else
    for d in "removed" "no error" "precondition" "in a workspace" "workspace gone"; do
        skip "unprivileged: hostile tree: $d" "needs root to switch to an unprivileged user"
    done
fi

# ---- symlinks planted to a directory and a file outside ----

out=$SCRATCH/outside
mkdir -p "$out/sub"
echo one >"$out/f1"
echo two >"$out/sub/f2"
echo three >"$SCRATCH/outside-file"
# Modes a removal that followed the link would have to change (tmprun chmods its user's 0500 directories).
chmod 0500 "$out/sub" "$out"
chmod 0400 "$SCRATCH/outside-file"

cat >"$SCRATCH/links.sh" <<'EOF'
set -e
printf %s "$TMPDIR" >"$1"
ln -s "$2" "$TMPDIR/dirlink"
ln -s "$3" "$TMPDIR/filelink"
mkdir "$TMPDIR/ro" "$TMPDIR/locked"
ln -s "$2" "$TMPDIR/ro/dirlink"
ln -s "$2/sub" "$TMPDIR/locked/sublink"
chmod 0555 "$TMPDIR/ro"
chmod 000 "$TMPDIR/locked"
EOF

rm -f "$where"
assert_status 0 "symlinks to outside: run exits 0" \
    env TMPDIR="$base" "$TMPRUN" sh "$SCRATCH/links.sh" "$where" "$out" "$SCRATCH/outside-file"
ws=$(cat "$where")
assert_absent "$ws" "symlinks to outside: the workspace is gone"
assert_eq "$(cat "$out/f1" 2>&1)" "one" "symlink to an outside directory: its file survives"
assert_eq "$(cat "$out/sub/f2" 2>&1)" "two" "symlink to an outside directory: its subdirectory's file survives"
assert_mode "$out" 500 "symlink to an outside directory: its mode is untouched"
assert_mode "$out/sub" 500 "symlink to an outside directory: its subdirectory's mode is untouched"
assert_eq "$(cat "$SCRATCH/outside-file" 2>&1)" "three" "symlink to an outside file: the file survives"
assert_mode "$SCRATCH/outside-file" 400 "symlink to an outside file: its mode is untouched"

# ---- hard links to files outside: tmprun must never chmod a file ----

cat >"$SCRATCH/hardlink.sh" <<'EOF'
set -e
printf %s "$TMPDIR" >"$1"
ln "$2" "$TMPDIR/hl"
mkdir "$TMPDIR/ro"
ln "$2" "$TMPDIR/ro/hl"
chmod 0555 "$TMPDIR/ro"
EOF
chmod 0644 "$SCRATCH/hardlink.sh"

target=$SCRATCH/hl-target
echo kept >"$target"
chmod 0600 "$target"
rm -f "$where"
assert_status 0 "root: hard links to an outside file: run exits 0" \
    env TMPDIR="$base" "$TMPRUN" sh "$SCRATCH/hardlink.sh" "$where" "$target"
ws=$(cat "$where")
assert_absent "$ws" "root: hard links: the workspace is gone"
assert_eq "$(cat "$target" 2>&1)" "kept" "root: hard link: the outside file survives"
assert_mode "$target" 600 "root: hard link: the outside file's mode is still 0600"
assert_eq "$(stat -c %h "$target")" 1 "root: hard link: the links inside were removed"

if is_root; then
    mkdir "$udir/outside"
    utarget=$udir/outside/file
    echo kept >"$utarget"
    chmod 0400 "$utarget"
    chown -R "$UNPRIV_UID:$UNPRIV_GID" "$udir/outside"
    assert_status 0 "unprivileged: hard link to its own 0400 file in a 0555 dir: run exits 0" \
        as_user env TMPDIR="$udir/base" "$USER_TMPRUN" sh "$SCRATCH/hardlink.sh" "$udir/where" "$utarget"
    ws=$(cat "$udir/where")
    assert_match "$ws" "^$udir/base/tmprun\." "unprivileged: hard link: COMMAND ran in a workspace"
    assert_absent "$ws" "unprivileged: hard link: the workspace is gone"
    assert_eq "$(cat "$utarget" 2>&1)" "kept" "unprivileged: hard link: the outside file survives"
    assert_mode "$utarget" 400 "unprivileged: hard link: the outside file's mode is still 0400"
else
    for d in "exit 0" "in a workspace" "workspace gone" "file survives" "mode 0400"; do
        skip "unprivileged: hard link: $d" "needs root to switch to an unprivileged user"
    done
fi

# ---- a bind mount inside the workspace: left alone, reported, and the cleanup fails ----

cat >"$SCRATCH/bind.sh" <<'EOF'
set -e
printf %s "$TMPDIR" >"$1"
echo removable >"$TMPDIR/other"
mkdir "$TMPDIR/mnt"
mount --bind "$2" "$TMPDIR/mnt"
EOF

if is_root; then
    src=$SCRATCH/bindsrc
    mkdir -p "$src/d"
    echo precious >"$src/file"
    echo deep >"$src/d/file"
    rm -f "$where"
    # A private mount namespace, so the mount dies with it whatever tmprun does.
    assert_status 125 "bind mount inside: COMMAND exited 0 but cleanup failed, so 125" \
        env TMPDIR="$base" unshare -m --propagation private "$TMPRUN" sh "$SCRATCH/bind.sh" "$where" "$src"
    ws=$(cat "$where")
    assert_match "$ws" "^$base/tmprun\." "bind mount inside: COMMAND ran in a workspace"
    assert_contains "$ERR" "$ws/mnt" "bind mount inside: stderr names the mount point"
    assert_eq "$(cat "$src/file" 2>&1)" "precious" "bind mount inside: the mounted file survives"
    assert_eq "$(cat "$src/d/file" 2>&1)" "deep" "bind mount inside: the mounted subdirectory's file survives"
    assert_absent "$ws/other" "bind mount inside: the rest of the workspace was still removed"
    assert_exists "$ws/mnt" "bind mount inside: the mount point itself was left"
    rm -rf "$ws"

    rm -f "$where"
    assert_status 0 "bind mount inside with --ignore-cleanup-errors: exits 0" \
        env TMPDIR="$base" unshare -m --propagation private "$TMPRUN" --ignore-cleanup-errors \
        sh "$SCRATCH/bind.sh" "$where" "$src"
    assert_eq "$(cat "$ERR")" "" "bind mount inside with --ignore-cleanup-errors: nothing reported"
    assert_eq "$(cat "$src/file" 2>&1)" "precious" "bind mount inside with --ignore-cleanup-errors: mounted file survives"
    rm -rf "$(cat "$where")"
else
    for d in "125" "in a workspace" "names the mount point" "file survives" "subdirectory survives" \
        "rest removed" "mount point left" "ignore: 0" "ignore: silent" "ignore: survives"; do
        skip "bind mount inside: $d" "needs root to mount"
    done
fi

# ---- a workspace inside a workspace ----

cat >"$SCRATCH/nested.sh" <<'EOF'
printf %s "$TMPDIR" >"$2"
"$1" sh -c 'printf %s "$TMPDIR" >"$1"' sh "$3"
EOF
rm -f "$where" "$where.inner"
assert_status 0 "nested: tmprun inside tmprun exits 0" \
    env TMPDIR="$base" "$TMPRUN" sh "$SCRATCH/nested.sh" "$TMPRUN" "$where" "$where.inner"
outer=$(cat "$where")
inner=$(cat "$where.inner")
assert_match "$inner" "^$outer/tmprun\.[A-Za-z0-9]{10}$" "nested: the inner workspace is inside the outer one"
assert_absent "$outer" "nested: both workspaces are gone"

assert_eq "$(ls -A "$base")" "" "nothing is left in the base directory"

done_testing
