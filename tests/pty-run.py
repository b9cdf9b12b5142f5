#!/usr/bin/env python3
"""Run a command on a fresh pseudo-terminal and drive it like a user at the keyboard.

usage: pty-run.py [--timeout SECONDS] [--output FILE] [STEP]... -- COMMAND [ARG]...

COMMAND runs in a new session whose controlling terminal is the pty, in the foreground process group, with
ISIG, ICANON and ECHO on (a new pty's defaults) and every signal at its default action and unblocked. The
steps run in order while everything COMMAND writes to the terminal is collected:

  file:PATH     wait until PATH exists
  expect:TEXT   wait until TEXT appears in the output after the end of the previous expect's match
  send:TEXT     write TEXT to the terminal, as typed; backslash escapes are decoded (\\x03 is Ctrl-C,
                \\x1a Ctrl-Z, \\n Enter, \\\\ a backslash)

After the last step it waits for COMMAND to exit. The output goes to FILE as it arrives (default: none).
Exit status: COMMAND's exit status, or 128+N if a signal N killed it; 124 if a step or the whole run took
longer than SECONDS (default 20), after killing every process of the session; 2 on usage errors.
"""

import codecs
import fcntl
import os
import select
import signal
import sys
import termios
import time


def usage(msg):
    sys.stderr.write("pty-run.py: %s\n" % msg)
    sys.exit(2)


def parse(argv):
    timeout, output, steps = 20.0, None, []
    i = 0
    while i < len(argv) and argv[i] != "--":
        a = argv[i]
        if a == "--timeout":
            i += 1
            timeout = float(argv[i])
        elif a == "--output":
            i += 1
            output = argv[i]
        else:
            kind, sep, arg = a.partition(":")
            if not sep or kind not in ("file", "expect", "send"):
                usage("bad step '%s'" % a)
            if kind in ("send", "expect"):
                arg = codecs.decode(arg, "unicode_escape")
            steps.append((kind, arg))
        i += 1
    if i + 1 >= len(argv):
        usage("no COMMAND (put it after --)")
    return timeout, output, steps, argv[i + 1:]


def spawn(argv):
    master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(master)
            os.setsid()
            # The session leader's first terminal: make it the controlling one, its group in the foreground.
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            # Python ignores SIGPIPE and SIGXFSZ, and the caller may ignore or block others: start clean.
            for sig in range(1, signal.NSIG):
                if sig in (signal.SIGKILL, signal.SIGSTOP):
                    continue
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, ("pty-run.py: %s: %s\n" % (argv[0], e.strerror)).encode())
        os._exit(127)
    os.close(slave)
    return pid, master


def kill_session(sid):
    """SIGKILL every process of the session (jobs of an interactive shell have their own groups)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass


def main():
    timeout, output, steps, argv = parse(sys.argv[1:])
    out = open(output, "wb") if output else None
    pid, master = spawn(argv)
    deadline = time.monotonic() + timeout
    buf = b""
    pos = 0  # where the next expect starts looking
    step = 0
    status = None
    eof = False

    def fail(why):
        kill_session(pid)
        sys.stderr.write("pty-run.py: %s\n" % why)
        sys.stderr.write("pty-run.py: output so far: %r\n" % buf)
        sys.exit(124)

    while not (eof and status is not None):
        # Steps that can go now.
        while step < len(steps):
            kind, arg = steps[step]
            if kind == "send":
                os.write(master, arg.encode("latin-1"))
            elif kind == "file":
                if not os.path.exists(arg):
                    break
            else:
                at = buf.find(arg.encode("latin-1"), pos)
                if at < 0:
                    break
                pos = at + len(arg)
            step += 1
        if time.monotonic() > deadline:
            if step < len(steps):
                fail("timed out waiting at step %d (%s:%r)" % (step + 1, steps[step][0], steps[step][1]))
            fail("timed out waiting for %s to end" % argv[0])
        if not eof:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: no process holds the terminal any more
                    data = b""
                if data:
                    buf += data
                    if out:
                        out.write(data)
                        out.flush()
                else:
                    eof = True
        else:
            time.sleep(0.05)
        if status is None:
            wpid, wst = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                status = wst
        if status is not None and eof and step < len(steps):
            fail("%s ended before step %d (%s:%r)" % (argv[0], step + 1, steps[step][0], steps[step][1]))
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
