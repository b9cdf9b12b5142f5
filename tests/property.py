#!/usr/bin/env python3
"""Randomized property test for tmprun: hostile trees inside the workspace, nothing outside touched.

Each iteration makes, in a directory of its own, an "outside" area (files of modes 0644, 0400, 0000...,
directories of modes 0500, 0000..., a symlink) and an empty base directory, records the state of the outside
area, then runs

    $TMPRUN [--cd] [--prefix=P] [--suffix=S] [--mode=M] --dir=BASE python3 property.py build SPEC

where the builder (this script's "build" subcommand) builds inside $TMPDIR the random tree SPEC describes:
nested and empty directories, files, symlinks to inside and outside targets (files, directories, the base,
escapes through ..), hard links to outside files, FIFOs, unix sockets, long names (up to 255 bytes, any byte
but '/' and NUL), 000/0555/0500/... modes applied bottom-up at the end, sometimes a deep chain of 300 to 3000
directories (built through directory fds, far beyond PATH_MAX) and sometimes a wide directory; then it exits
with a random status 0..3. The properties:

  - tmprun exits with the builder's status (never 125: cleanup must not fail) and prints nothing;
  - the workspace is gone and the base directory is empty (and keeps its mode);
  - every outside file, directory and symlink is still there with the same type, mode, owner, size, mtime,
    link count, content and directory entries.

When run as root, a share of the iterations (PROPERTY_UNPRIV_PERCENT, default 40) runs tmprun as the
unprivileged uid/gid 65534 through setpriv, with a base directory and outside area it owns: root bypasses
permission bits, the unprivileged user has to work around them.

Environment:
  TMPRUN              the binary under test (required)
  PROPERTY_SEED       the seed (default: a fixed one, printed, so CI runs are reproducible; "random" draws one,
                      "date" uses today's date: for local soak runs); iteration I uses its own generator
                      seeded with "SEED/I"
  PROPERTY_SECONDS    stop starting iterations after this long (default 60)
  PROPERTY_TREES      stop after this many iterations (default: no limit)
  PROPERTY_ONLY       run only iteration I of the seed (to reproduce a failure)
  PROPERTY_JOBS       iterations run in parallel (default: the number of CPUs plus one, at most 4)
  PROPERTY_UNPRIV_PERCENT  share of iterations as the unprivileged user when root (default 40)
  PROPERTY_TMPDIR     where the scratch directory goes (default /tmp)
  PROPERTY_FAST_TMPDIR  a tmpfs for most iterations, which run much faster there (default /dev/shm; empty:
                      none, every iteration in PROPERTY_TMPDIR)
  PROPERTY_FAST_PERCENT the share of iterations on it (default 75)
  PROPERTY_VERBOSE    1: a line per iteration

Long local run: PROPERTY_SEED=random PROPERTY_SECONDS=3600 TMPRUN=build/src/tmprun python3 tests/property.py

On the first failure it prints the seed, the iteration, what was wrong, the spec and a command that
reproduces it, keeps the iteration's directory as evidence and exits 1. Exit 0 when every iteration passed,
2 on a usage or setup error.
"""

import json
import os
import sys

# The seed CI uses (PROPERTY_SEED unset): every run draws the same trees, in the same order.
DEFAULT_SEED = "20261129"

UNPRIV_UID = 65534
UNPRIV_GID = 65534
BUILDER_FAILED = 100
ITER_TIMEOUT = 45  # seconds for one tree: a deep chain on a loaded disk takes a few  # the builder's status when it could not build the tree (a harness problem)


def enc(name):
    """A name (bytes) as a JSON string: bytes 0-255 as code points 0-255."""
    return name.decode("latin-1")


def dec(s):
    return s.encode("latin-1")


# ---------------------------------------------------------------------------------------------------------
# The builder: runs under tmprun, builds the tree the spec describes in $TMPDIR, exits with its status.
# Kept to os/json/sys (socket only when needed) so that it starts fast.
# ---------------------------------------------------------------------------------------------------------


def build(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    ws = os.environ["TMPDIR"]
    with open(spec["where"], "w") as f:
        f.write(ws)
    wsb = ws.encode()
    root = os.open(wsb, os.O_RDONLY | os.O_DIRECTORY)

    def rel(path):
        return b"/".join(dec(c) for c in path) if path else b"."

    def target(t):
        t = dec(t)
        if t.startswith(b"@WS@"):
            t = wsb + t[4:]
        return t

    for op in spec["ops"]:
        kind = op[0]
        if kind == "d":
            os.mkdir(rel(op[1]), 0o755, dir_fd=root)
        elif kind == "f":
            fd = os.open(rel(op[1]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=root)
            size = op[2]
            if size:
                chunk = (dec(op[1][-1]) + b"\n") * (size // (len(op[1][-1]) + 1) + 1)
                os.write(fd, chunk[:size])
            os.close(fd)
        elif kind == "l":
            os.symlink(target(op[2]), rel(op[1]), dir_fd=root)
        elif kind == "h":
            os.link(dec(op[2]), rel(op[1]), dst_dir_fd=root)
        elif kind == "p":
            os.mkfifo(rel(op[1]), 0o644, dir_fd=root)
        elif kind == "s":
            import socket

            parent = os.open(rel(op[1][:-1]), os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
            os.fchdir(parent)  # sun_path holds 108 bytes: bind the bare name
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(dec(op[1][-1]))
            s.close()
            os.close(parent)
        elif kind == "c":
            build_chain(root, rel(op[1]), op[2], op[3], op[4], target)
        elif kind == "w":
            # A wide directory: op[2] empty files named by number.
            d = os.open(rel(op[1]), os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
            for i in range(op[2]):
                os.close(os.open(b"%d" % i, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=d))
            os.close(d)
        elif kind == "m":
            os.chmod(rel(op[1]), op[2], dir_fd=root)
        else:
            raise ValueError("unknown op %r" % (op,))
    os.close(root)
    return spec["status"]


def build_chain(root, top, names, modes, leaf, target):
    """A chain of directories below top, one open fd at a time (far beyond PATH_MAX); the mode of each level
    is set once its child is open, so 000 levels do not stop the descent even without root's powers."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
    for i, name in enumerate(names):
        name = dec(name)
        os.mkdir(name, 0o755, dir_fd=fd)
        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        if i > 0 and modes[i - 1] is not None:
            os.fchmod(fd, modes[i - 1])
        os.close(fd)
        fd = nfd
    if "file" in leaf:
        f = os.open(b"leaf", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(f, b"bottom\n")
        os.close(f)
        if leaf["file"] is not None:
            os.chmod(b"leaf", leaf["file"], dir_fd=fd)
    if "link" in leaf:
        os.symlink(target(leaf["link"]), b"lnk", dir_fd=fd)
    if "hard" in leaf:
        os.link(dec(leaf["hard"]), b"hard", dst_dir_fd=fd)
    if modes and modes[-1] is not None:
        os.fchmod(fd, modes[-1])
    os.close(fd)


def builder_main(argv):
    try:
        status = build(argv[0])
    except BaseException:  # noqa: BLE001 - any failure to build is reported the same way
        import traceback

        traceback.print_exc()
        sys.stderr.write("property.py build: could not build the tree\n")
        os._exit(BUILDER_FAILED)
    sys.stdout.flush()
    os._exit(status)


# ---------------------------------------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------------------------------------


class Setup:
    """What every iteration shares: the binary, the interpreter, the scratch directory."""

    def __init__(self):
        import shutil
        import tempfile

        self.tmprun = os.environ.get("TMPRUN")
        if not self.tmprun:
            usage_error("TMPRUN must name the tmprun binary")
        self.tmprun = os.path.abspath(self.tmprun)
        if not os.access(self.tmprun, os.X_OK):
            usage_error("TMPRUN=%s is not executable" % self.tmprun)
        self.is_root = os.geteuid() == 0
        parent = os.environ.get("PROPERTY_TMPDIR", "/tmp")
        self.scratch = os.path.realpath(tempfile.mkdtemp(prefix="tmprun-property.", dir=parent))
        os.chmod(self.scratch, 0o755)
        # The builder: a copy of this script the unprivileged user can read.
        self.script = os.path.join(self.scratch, "property.py")
        shutil.copyfile(os.path.abspath(__file__), self.script)
        os.chmod(self.script, 0o644)
        self.python = self.find_python(as_user=False)
        # A copy of the binary: a rebuild during the run must not pull it away, and the unprivileged user
        # can run it even when the build tree is out of its reach (under /root, say).
        # A wrapper script (make check-valgrind's) is used in place: it finds its binary beside itself.
        os.mkdir(os.path.join(self.scratch, "bin"), 0o755)
        with open(self.tmprun, "rb") as f:
            is_script = f.read(2) == b"#!"
        if is_script:
            self.run_tmprun = self.tmprun
        else:
            self.run_tmprun = os.path.join(self.scratch, "bin", "tmprun")
            shutil.copy2(self.tmprun, self.run_tmprun)
            os.chmod(self.run_tmprun, 0o755)
        self.unpriv = False
        self.user_python = None
        if self.is_root and shutil.which("setpriv"):
            self.user_python = self.find_python(as_user=True)
            self.unpriv = self.user_python is not None
        # Where the iterations go: the scratch directory, and most of the time (for speed: a creation costs
        # ten times less there than on a disk) one on a tmpfs, so that both kinds of file system are covered.
        self.iters = [os.path.join(self.scratch, "iter")]
        os.mkdir(self.iters[0], 0o755)
        self.scratch_dirs = [self.scratch]
        fast = os.environ.get("PROPERTY_FAST_TMPDIR", "/dev/shm")
        self.fast_percent = float(os.environ.get("PROPERTY_FAST_PERCENT", "75"))
        if fast and self.fast_percent > 0 and os.path.isdir(fast) and os.access(fast, os.W_OK | os.X_OK):
            d = os.path.realpath(tempfile.mkdtemp(prefix="tmprun-property.", dir=fast))
            os.chmod(d, 0o755)
            self.scratch_dirs.append(d)
            self.iters.append(os.path.join(d, "iter"))
            os.mkdir(self.iters[1], 0o755)
        else:
            self.fast_percent = 0

    def cleanup(self, keep=None):
        """Remove the scratch directories, or with keep, every iteration's directory but that one."""
        for top in self.iters if keep else self.scratch_dirs:
            for name in os.listdir(top) if keep else [""]:
                p = os.path.join(top, name) if name else top
                if p != keep:
                    force_rmtree(p)

    @staticmethod
    def user_cmd(cmd):
        return ["setpriv", "--reuid=%d" % UNPRIV_UID, "--regid=%d" % UNPRIV_GID, "--clear-groups", "--"] + cmd

    def find_python(self, as_user):
        """An interpreter that starts (a pyenv shim under /root, say, is out of the unprivileged user's
        reach): this one first, then the system's."""
        import shutil
        import subprocess

        seen = []
        for cand in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
            if not cand or cand in seen:
                continue
            seen.append(cand)
            cmd = [cand, "-I", "-S", "-c", "import json, os, socket"]
            if as_user:
                # Through sh: setpriv itself manages to exec what the user could not (a path below /root).
                cmd = self.user_cmd(["sh", "-c", 'exec "$0" "$@"'] + cmd)
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                return cand
        if as_user:
            return None
        usage_error("no python3 that can run the builder")
        return None


def usage_error(msg):
    sys.stderr.write("property.py: %s\n" % msg)
    sys.exit(2)


# ---- names ----

SAFE = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
WEIRD = bytes(b for b in range(1, 256) if b != ord("/"))


def rand_name(rng, taken, maxlen=255):
    while True:
        r = rng.random()
        if r < 0.06:
            n = rng.randint(100, 255)
        elif r < 0.5:
            n = rng.randint(1, 3)
        else:
            n = rng.randint(1, 16)
        n = min(n, maxlen)
        alphabet = WEIRD if rng.random() < 0.15 else SAFE
        name = bytes(rng.choice(alphabet) for _ in range(n))
        if rng.random() < 0.05:
            name = rng.choice([b"-", b"--", b" ", b"\n", b".", b"...", b"*", b"-rf "]) + name[1:]
        name = name[:maxlen]
        if name in (b".", b"..") or name in taken:
            continue
        taken.add(name)
        return name


# ---- the outside area ----

OUTSIDE_FILE_MODES = [0o644, 0o400, 0o000, 0o444, 0o600, 0o755, 0o200, 0o4755]
OUTSIDE_DIR_MODES = [0o500, 0o000, 0o555, 0o700, 0o755, 0o100, 0o1777]


def make_outside(rng, top):
    """The outside area, with its modes applied bottom-up. Returns (link targets: [(path, kind)], hard link
    sources: [path]) - the hard link sources are files the unprivileged user can reach."""
    os.mkdir(top, 0o755)
    targets = [(top, "dir")]
    hard = []
    chmods = []
    dirs = [(top, True)]  # (path, reachable: every directory on the way has its x bit)
    for i in range(rng.randint(2, 5)):
        d = os.path.join(top, "d%d" % i)
        os.mkdir(d, 0o755)
        mode = rng.choice(OUTSIDE_DIR_MODES)
        chmods.append((d, mode))
        dirs.append((d, bool(mode & 0o100)))
        targets.append((d, "dir"))
        if rng.random() < 0.4:
            sub = os.path.join(d, "sub")
            os.mkdir(sub, 0o755)
            smode = rng.choice(OUTSIDE_DIR_MODES)
            chmods.append((sub, smode))
            dirs.append((sub, bool(mode & 0o100) and bool(smode & 0o100)))
            targets.append((sub, "dir"))
    for i in range(rng.randint(3, 10)):
        d, reachable = rng.choice(dirs)
        f = os.path.join(d, "f%d" % i)
        with open(f, "wb") as fh:
            fh.write(os.urandom(rng.choice([0, 1, 17, 512, 4096])))
        mode = rng.choice(OUTSIDE_FILE_MODES)
        chmods.append((f, mode))
        targets.append((f, "file"))
        if reachable:
            hard.append(f)
    link = os.path.join(top, "link")
    os.symlink(rng.choice(targets)[0], link)
    targets.append((link, "link"))
    targets.append((os.path.join(top, "missing"), "none"))
    # Deepest first, so that a 000 directory does not hide what is below it from the chmods still to come.
    for path, mode in sorted(chmods, key=lambda pm: -pm[0].count("/")):
        os.chmod(path, mode)
    return targets, hard


def snapshot(top):
    """Everything that must not change below top: per path, the lstat fields that matter (not atime, not
    ctime: a hard link changes the ctime), the content of files, the target of symlinks, the entries of
    directories. Reads as root (or as the owner, skipping what it cannot read)."""
    import hashlib

    state = {}

    def walk(path):
        st = os.lstat(path)
        rec = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink,
               "size": st.st_size, "mtime": st.st_mtime_ns, "ino": st.st_ino}
        import stat as S

        if S.S_ISLNK(st.st_mode):
            rec["target"] = os.readlink(path)
        elif S.S_ISREG(st.st_mode):
            try:
                with open(path, "rb") as f:
                    rec["sha"] = hashlib.sha1(f.read()).hexdigest()
            except PermissionError:
                rec["sha"] = "unreadable"
        elif S.S_ISDIR(st.st_mode):
            try:
                entries = sorted(os.listdir(path))
            except PermissionError:
                entries = None
            rec["entries"] = entries
            for e in entries or ():
                walk(os.path.join(path, e))
        state[path] = rec

    walk(top)
    return state


def diff_snapshots(before, after):
    out = []
    for path, rec in before.items():
        now = after.get(path)
        if now is None:
            out.append("outside entry gone: %s" % path)
            continue
        for k, v in rec.items():
            if now.get(k) != v:
                fmt = oct if k == "mode" else repr
                out.append("outside %s changed: %s: %s -> %s" % (k, path, fmt(v), fmt(now.get(k))))
    for path in after:
        if path not in before:
            out.append("outside entry appeared: %s" % path)
    return out


def chown_tree(top, uid, gid):
    for dirpath, dirnames, filenames in os.walk(top):
        os.lchown(dirpath, uid, gid)
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            if not os.path.isdir(p) or os.path.islink(p):
                os.lchown(p, uid, gid)


def force_rmtree(top):
    """Remove top whatever the modes below it (0000 directories, when not root)."""
    import shutil
    import stat as S

    if not os.path.lexists(top):
        return
    for dirpath, dirnames, _ in os.walk(top):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    if S.S_ISDIR(os.lstat(top).st_mode):
        os.chmod(top, 0o700)
        shutil.rmtree(top)
    else:
        os.unlink(top)


# ---- the tree ----

FILE_MODES = [0o000, 0o444, 0o400, 0o200, 0o555, 0o4755, 0o2644]
DIR_MODES = [0o000, 0o555, 0o500, 0o100, 0o300, 0o400, 0o1777, 0o2755, 0o711]
PATH_BUDGET = 3000  # bytes of a path relative to the workspace, well inside PATH_MAX


def path_len(path):
    return sum(len(dec(c)) + 1 for c in path)


def make_spec(rng, it_dir, outside_targets, hard_sources):
    """The operations for the builder, and a summary for the report."""
    ops = []
    summary = {"entries": 0, "chain": 0, "wide": 0}
    dirs = [[]]  # paths (lists of names as JSON strings), the workspace root first
    taken = {(): set()}
    files = []
    r = rng.random()
    if r < 0.03:
        n = 0
    elif r < 0.85:
        n = rng.randint(1, 60)
    else:
        n = rng.randint(60, 400)
    base = os.path.join(it_dir, "base")

    def new_path(parent, maxlen=255):
        budget = PATH_BUDGET - path_len(parent)
        name = rand_name(rng, taken.setdefault(tuple(parent), set()), max(1, min(maxlen, budget)))
        return parent + [enc(name)]

    def inside_target(depth):
        """A symlink target inside the workspace: relative (through ..) or absolute, maybe dangling."""
        r = rng.random()
        node = rng.choice(dirs + files) if (dirs or files) else []
        if r < 0.4:
            return enc(b"../" * depth) + "/".join(node) if node else enc(b"../" * depth or b".")
        if r < 0.6:
            return "@WS@/" + "/".join(node)
        if r < 0.75:
            return enc(b"nonexistent")
        if r < 0.85:
            return "."
        return enc(b"../" * depth) + ".."  # the base: one level above the workspace

    def outside_target(depth):
        r = rng.random()
        if r < 0.65:
            return enc(rng.choice(outside_targets)[0].encode())
        if r < 0.8 and depth < 1000:  # out through .. to the iteration's outside area (within PATH_MAX)
            return enc(b"../" * (depth + 2)) + os.path.relpath(rng.choice(outside_targets)[0], it_dir)
        if r < 0.9:
            return enc(base.encode())
        return enc(it_dir.encode())

    for _ in range(n):
        parent = rng.choice(dirs)
        depth = len(parent)
        r = rng.random()
        if r < 0.25 and depth < 8:
            p = new_path(parent)
            ops.append(["d", p])
            dirs.append(p)
        elif r < 0.55:
            p = new_path(parent)
            size = rng.choice([0, 0, 1, 10, 100, 1000]) if rng.random() < 0.98 else 200000
            ops.append(["f", p, size])
            files.append(p)
        elif r < 0.75:
            p = new_path(parent)
            t = inside_target(depth) if rng.random() < 0.5 else outside_target(depth)
            if rng.random() < 0.03:
                t = p[-1]  # a loop onto itself
            ops.append(["l", p, t])
        elif r < 0.85:
            if hard_sources:
                ops.append(["h", new_path(parent), enc(rng.choice(hard_sources).encode())])
        elif r < 0.92:
            ops.append(["p", new_path(parent)])
        else:
            ops.append(["s", new_path(parent, 100)])
    summary["entries"] = len(ops)

    if rng.random() < 0.04:
        parent = rng.choice(dirs)
        if rng.random() < 0.7:
            levels = rng.randint(300, 3000)
            names = [enc(rand_name(rng, set(), 8)) for _ in range(levels)]
        else:
            levels = rng.randint(300, 600)
            names = [enc(rand_name(rng, set(), 255)) for _ in range(levels)]
            for i in range(levels):  # long ones, mostly
                if rng.random() < 0.8:
                    names[i] = enc(rng.choice(SAFE[:52]).to_bytes(1, "big") * rng.randint(200, 255))
        modes = [rng.choice(DIR_MODES) if rng.random() < 0.1 else None for _ in range(levels)]
        leaf = {"file": rng.choice([None, 0o000, 0o444])}
        if rng.random() < 0.7:
            leaf["link"] = outside_target(len(parent) + 1 + levels)
        if hard_sources and rng.random() < 0.5:
            leaf["hard"] = enc(rng.choice(hard_sources).encode())
        name = new_path(parent, 8)
        ops.append(["d", name])
        ops.append(["c", name, names, modes, leaf])
        summary["chain"] = levels

    if rng.random() < 0.02:
        p = new_path(rng.choice(dirs), 8)
        ops.append(["d", p])
        count = rng.randint(1000, 5000)
        ops.append(["w", p, count])
        summary["wide"] = count

    # Modes, bottom-up: the deepest paths first, so that a 000 or 0555 directory does not stop the chmods
    # still to come below it (without root's powers).
    chmods = []
    for d in dirs[1:]:
        if rng.random() < 0.2:
            chmods.append(["m", d, rng.choice(DIR_MODES)])
    for f in files:
        if rng.random() < 0.2:
            chmods.append(["m", f, rng.choice(FILE_MODES)])
    if rng.random() < 0.05:
        chmods.append(["m", [], rng.choice([0o000, 0o555, 0o500, 0o100])])  # the workspace itself
    chmods.sort(key=lambda op: -len(op[1]))
    ops.extend(chmods)
    summary["chmods"] = len(chmods)
    return ops, summary


def run_iteration(setup, seed, i):
    """One tree. Returns a result dict; raises nothing (a failure is a result)."""
    import random
    import subprocess
    import time

    t0 = time.monotonic()
    rng = random.Random("%s/%d" % (seed, i))
    draw = rng.random() * 100  # drawn whether or not it is used: the same seed gives the same trees
    unpriv = setup.unpriv and draw < float(os.environ.get("PROPERTY_UNPRIV_PERCENT", "40"))
    fast = rng.random() * 100 < setup.fast_percent
    it_dir = os.path.join(setup.iters[1 if fast else 0], "%d" % i)
    os.mkdir(it_dir, 0o755)
    base = os.path.join(it_dir, "base")
    outside = os.path.join(it_dir, "outside")
    where = os.path.join(it_dir, "where")
    spec_path = os.path.join(it_dir, "spec.json")
    os.mkdir(base, 0o755)
    targets, hard = make_outside(rng, outside)
    if unpriv:
        chown_tree(it_dir, UNPRIV_UID, UNPRIV_GID)
    status = rng.randint(0, 3)
    ops, summary = make_spec(rng, it_dir, targets, hard)
    spec = {"where": where, "status": status, "ops": ops}
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    os.chmod(spec_path, 0o644)

    opts = []
    if rng.random() < 0.2:
        opts.append("--cd")
    prefix = "tmprun."
    if rng.random() < 0.1:
        prefix = "p-" + "x" * rng.randint(0, 100) + "."
        opts.append("--prefix=" + prefix)
    if rng.random() < 0.1:
        opts.append("--suffix=.s")
    if rng.random() < 0.1:
        opts.append("--mode=" + rng.choice(["0700", "0750", "0755", "0711"]))
    python = setup.user_python if unpriv else setup.python
    cmd = [setup.run_tmprun] + opts + ["--dir=" + base, python, "-I", "-S", setup.script, "build", spec_path]
    if unpriv:
        cmd = Setup.user_cmd(cmd)

    before = snapshot(outside)
    base_st = os.lstat(base)
    result = {"i": i, "unpriv": unpriv, "fast": fast, "status": status, "summary": summary, "dir": it_dir,
              "spec": spec_path, "cmd": cmd, "errors": []}
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    t1 = time.monotonic()
    env["LC_ALL"] = "C"
    try:
        p = subprocess.run(cmd, cwd=it_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=ITER_TIMEOUT)
        got, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        got, out, err = "(killed after %d s)" % ITER_TIMEOUT, e.stdout or b"", e.stderr or b""
    t_run = time.monotonic() - t1
    result.update(got=got, stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"))

    errors = result["errors"]
    if got == BUILDER_FAILED:
        errors.append("the builder could not build the tree (a harness problem, or tmprun broke COMMAND)")
    elif got != status:
        errors.append("tmprun exited %s, the builder chose %d" % (got, status))
    if out or err:
        errors.append("tmprun or the builder printed something")
    ws = None
    try:
        with open(where) as f:
            ws = f.read()
    except OSError as e:
        errors.append("the builder did not record the workspace: %s" % e)
    if ws is not None:
        result["workspace"] = ws
        if os.path.dirname(ws) != base or not os.path.basename(ws).startswith(prefix):
            errors.append("workspace %s is not a %s* in the base %s" % (ws, prefix, base))
        if os.path.lexists(ws):
            errors.append("the workspace is still there: %s" % ws)
    left = os.listdir(base)
    if left:
        errors.append("the base is not empty: %r" % left)
    st = os.lstat(base)
    if (st.st_mode, st.st_uid, st.st_gid) != (base_st.st_mode, base_st.st_uid, base_st.st_gid):
        errors.append("the base changed: mode %o -> %o, owner %d:%d -> %d:%d" % (
            base_st.st_mode, st.st_mode, base_st.st_uid, base_st.st_gid, st.st_uid, st.st_gid))
    errors.extend(diff_snapshots(before, snapshot(outside)))

    if not errors:
        force_rmtree(it_dir)
    result["times"] = (t1 - t0, t_run, time.monotonic() - t1 - t_run)
    return result


def describe(r):
    s = r["summary"]
    return "%d entries%s%s, %d chmods, %s, %s, exit %d" % (
        s["entries"], ", chain of %d" % s["chain"] if s["chain"] else "",
        ", wide dir of %d" % s["wide"] if s["wide"] else "", s["chmods"],
        "unprivileged" if r["unpriv"] else ("root" if os.geteuid() == 0 else "as uid %d" % os.geteuid()),
        "on the tmpfs" if r["fast"] else "in the scratch dir", r["status"])


def driver_main():
    import random
    import threading
    import time
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    # A fixed seed by default, so that CI runs are reproducible; "random" or "date" for local soak runs.
    seed = os.environ.get("PROPERTY_SEED") or DEFAULT_SEED
    if seed == "random":
        seed = str(random.SystemRandom().randrange(1 << 32))
    elif seed == "date":
        seed = time.strftime("%Y%m%d")
    seconds = float(os.environ.get("PROPERTY_SECONDS", "60"))
    trees = os.environ.get("PROPERTY_TREES")
    max_trees = int(trees) if trees else None
    only = os.environ.get("PROPERTY_ONLY")
    # One more than the CPUs: an iteration spends some of its time waiting for the disk.
    jobs = int(os.environ.get("PROPERTY_JOBS", "0")) or min(4, (os.cpu_count() or 1) + 1)
    verbose = os.environ.get("PROPERTY_VERBOSE") == "1"
    if only is not None:
        indices = iter([int(only)])
        jobs = 1
    elif max_trees is not None:
        indices = iter(range(max_trees))
    else:
        indices = _count()

    setup = Setup()
    print("property: seed %s, %gs, %s trees max, %d jobs, tmprun %s, scratch %s" % (
        seed, seconds, max_trees if max_trees is not None else "no limit", jobs, setup.tmprun, setup.scratch))
    if not setup.unpriv:
        print("property: no unprivileged iterations (%s)" % (
            "not root" if not setup.is_root else "no setpriv, or the user cannot run python"))
    sys.stdout.flush()

    start = time.monotonic()
    deadline = start + seconds
    stop = threading.Event()
    box = {"failure": None, "crash": None}
    stats = {"root": 0, "unpriv": 0, "fast": 0, "entries": 0, "chains": 0, "deepest": 0, "wide": 0,
             "by_status": [0] * 4}

    def account(fut):
        try:
            r = fut.result()
        except Exception:  # noqa: BLE001 - a bug in the driver: report it like a failure
            import traceback

            box["crash"] = traceback.format_exc()
            stop.set()
            return
        if verbose:
            print("property: tree %d: %s: %s (%.2fs setup, %.2fs tmprun, %.2fs checks)" % (
                r["i"], describe(r), "FAIL" if r["errors"] else "ok", *r["times"]))
            sys.stdout.flush()
        if r["errors"]:
            if box["failure"] is None or r["i"] < box["failure"]["i"]:
                box["failure"] = r
            stop.set()
            return
        stats["unpriv" if r["unpriv"] else "root"] += 1
        stats["fast"] += r["fast"]
        stats["entries"] += r["summary"]["entries"]
        stats["by_status"][r["status"]] += 1
        if r["summary"]["chain"]:
            stats["chains"] += 1
            stats["deepest"] = max(stats["deepest"], r["summary"]["chain"])
        if r["summary"]["wide"]:
            stats["wide"] += 1

    def more():
        return not stop.is_set() and (only is not None or time.monotonic() < deadline)

    interrupted = False
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = set()
        try:
            while True:
                while more() and len(running) < jobs:
                    i = next(indices, None)
                    if i is None:
                        stop.set()
                        break
                    running.add(pool.submit(run_iteration, setup, seed, i))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    account(fut)
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            for fut in running:  # let the trees being built finish, then clean up
                fut.result()
    failure, crash = box["failure"], box["crash"]
    if interrupted:
        print("property: interrupted (seed %s)" % seed)
        setup.cleanup()
        return 130

    elapsed = time.monotonic() - start
    ntrees = stats["root"] + stats["unpriv"]
    print("property: %d trees in %.1fs (%d as %s, %d unprivileged; %d on the tmpfs), %d entries, %d deep "
          "chains (deepest %d levels), %d wide dirs, exit statuses 0/1/2/3: %s" % (
              ntrees, elapsed, stats["root"], "root" if setup.is_root else "uid %d" % os.geteuid(), stats["unpriv"], stats["fast"], stats["entries"], stats["chains"],
              stats["deepest"], stats["wide"], "/".join(str(n) for n in stats["by_status"])))
    repro = "PROPERTY_SEED=%s PROPERTY_ONLY=%%d %sTMPRUN=%s python3 %s" % (
        seed, "".join("%s=%s " % (k, os.environ[k]) for k in (
            "PROPERTY_UNPRIV_PERCENT", "PROPERTY_FAST_PERCENT", "PROPERTY_FAST_TMPDIR", "PROPERTY_TMPDIR")
            if k in os.environ), setup.tmprun, os.path.abspath(__file__))
    if crash is not None:
        print("property: FAILED: the driver crashed (seed %s):\n%s" % (seed, crash))
        print("property: scratch kept: %s" % " ".join(setup.scratch_dirs))
        return 1
    if failure is not None:
        r = failure
        print("property: FAILED at tree %d of seed %s (%s)" % (r["i"], seed, describe(r)))
        for e in r["errors"]:
            print("property:   %s" % e)
        print("property: command: %s" % " ".join(r["cmd"]))
        print("property: tmprun exit %s; stdout: %r" % (r["got"], r["stdout"][-2000:]))
        print("property: stderr:\n%s" % r["stderr"][-4000:])
        print("property: spec (the builder's operations): %s" % r["spec"])
        print("property: evidence kept in %s (remove with: chmod -R u+rwX %s && rm -rf %s)" % (
            r["dir"], r["dir"], " ".join(setup.scratch_dirs)))
        print("property: reproduce: " + repro % r["i"])
        setup.cleanup(keep=r["dir"])  # the other iterations' directories
        return 1
    setup.cleanup()
    print("property: ok (seed %s)" % seed)
    return 0


def _count():
    i = 0
    while True:
        yield i
        i += 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        builder_main(sys.argv[2:])
    else:
        sys.exit(driver_main())
