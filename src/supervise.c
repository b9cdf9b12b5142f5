#include "config.h"

#include "supervise.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "missing.h"
#include "util.h"

/* Which signals keep their default action; every other one is caught (blocked, read from the signalfd) and
 * forwarded, as sudo does: a signal whose default action terminates tmprun (SIGVTALRM, SIGPWR, SIGSYS, a
 * real-time signal...) would otherwise orphan COMMAND and leave the workspace behind (signal(7)). */
static bool keeps_default(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP: /* cannot be caught */
    case SIGCHLD: /* tmprun's own: a child changed state (added to the set apart) */
    case SIGURG:
    case SIGWINCH: /* ignored by default: nothing to outlive, and a terminal resize is COMMAND's business */
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGCONT: /* job control: Ctrl-Z stops tmprun together with COMMAND, fg resumes both */
    /* Synchronous faults are tmprun's own crash, not a message for the job: sigprocmask(2) leaves a SIGSEGV,
     * SIGBUS, SIGFPE or SIGILL generated while blocked undefined (Linux forces the default action, other
     * systems may loop on the faulting instruction), and a crash must dump core and show, not be forwarded to
     * COMMAND as if someone had sent it. Whoever sends one of these with kill(2) gets the default action.
     * SIGTRAP, SIGSYS and SIGABRT are caught: the kernel forces a breakpoint's SIGTRAP and seccomp's SIGSYS
     * through with the default action even while blocked (force_sig_info()), and abort(3) unblocks SIGABRT
     * before raising it, so only a kill(2) of them is forwarded. */
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
        return true;
    default:
        return false;
    }
}

/* Linux numbers its real-time signals from 32 (signal(7)); the C library reserves the first two or three for
 * its threads (glibc, musl) and starts SIGRTMIN above them. Those reserved ones are not ours to catch. */
#define KERNEL_SIGRTMIN 32

/* pidfds kept to wait on leftovers; beyond this many, tmprun rescans /proc on a timer instead. */
#define MAX_WATCHED 64
/* Rescan period while some leftover cannot be watched through a pidfd. */
#define RESCAN_MS 100

int supervise_init(struct sigstate *s)
{
    struct sigaction sa;
    struct statfs fs;

    sigemptyset(&s->handled);
    s->sfd = -1;
    s->procfd = -1;
    s->proc_err = 0;
    for (int sig = 1; sig <= SIGRTMAX; sig++) {
        if (keeps_default(sig) || (sig >= KERNEL_SIGRTMIN && sig < SIGRTMIN))
            continue;
        if (sigaction(sig, NULL, &sa) < 0)
            return neg_errno();
        /* A blocked signal is queued even when ignored, so ignored ones must stay out of the mask. */
        if (sa.sa_handler != SIG_IGN && sigaddset(&s->handled, sig) < 0)
            return neg_errno();
    }
    /* With SIGCHLD ignored the kernel reaps children itself and waitpid() fails: tmprun needs the default. */
    if (sigaction(SIGCHLD, NULL, &sa) < 0)
        return neg_errno();
    s->chld_ignored = sa.sa_handler == SIG_IGN;
    if (s->chld_ignored && signal(SIGCHLD, SIG_DFL) == SIG_ERR)
        return neg_errno();
    sigaddset(&s->handled, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &s->handled, &s->orig_mask) < 0)
        return neg_errno();
    /* Orphaned descendants (double fork, setsid daemons) are re-parented to us, so we can stop and reap them
     * before removing the workspace they write to (PR_SET_CHILD_SUBREAPER, prctl(2)). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return neg_errno();
    s->sfd = signalfd(-1, &s->handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sfd < 0)
        return neg_errno();
    /* Leftovers are found through /proc. Held open from the start, it keeps working if /proc is unmounted
     * (umount -l) while COMMAND runs; if there is none, that matters only once COMMAND leaves processes behind,
     * and stop_leftovers() says so then. */
    s->procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->procfd < 0) {
        s->proc_err = errno;
    } else if (fstatfs(s->procfd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) {
        /* An empty mount point (umount -l /proc, a container without one) would list no process at all. */
        s->proc_err = EMEDIUMTYPE;
        (void)close(s->procfd);
        s->procfd = -1;
    }
    return 0;
}

struct errmsg {
    int stage;
    int err;
    int step;     /* index in child_steps, or -1 when the setup callback already printed why */
    bool vforked; /* set by tmprun: the child shares tmprun's memory */
};

/* What the child was doing when it failed; the parent prints it (the child may share tmprun's memory, after
 * vfork(), and must not touch stdio). */
static const char *const child_steps[] = {
    "cannot restore the signal mask",
    "cannot change into the workspace",
    "cannot pass the workspace lock",
};
enum { STEP_PRINTED = -1, STEP_MASK, STEP_CHDIR, STEP_LOCK };

/* In the child, between fork and exec: leave the failure in the page shared with tmprun and exit. A coverage
 * build writes its counters first, after fork() only: a vfork()ed child counts in tmprun's own memory, which
 * tmprun writes out when it exits, and must not mark them written there. */
_Noreturn static void child_fail(struct errmsg *out, int stage, int err, int step)
{
    *out = (struct errmsg){stage, err, step, out->vforked};
    if (!out->vforked)
        coverage_dump();
    _exit(127);
}

static int (*const volatile exec_fn)(const char *, char *const[]) = execvp;

_Noreturn static void child_exec(const struct child_spec *spec, const struct sigstate *s, struct errmsg *out)
{
    if (s->chld_ignored)
        (void)signal(SIGCHLD, SIG_IGN);
    if (sigprocmask(SIG_SETMASK, &s->orig_mask, NULL) < 0)
        child_fail(out, STAGE_SETUP, errno, STEP_MASK);
    if (spec->cwd_fd >= 0 && fchdir(spec->cwd_fd) < 0)
        child_fail(out, STAGE_SETUP, errno, STEP_CHDIR);
    if (spec->setup) {
        int ret = spec->setup(spec->setup_arg);
        if (ret < 0)
            child_fail(out, STAGE_SETUP, -ret, STEP_PRINTED);
    }
    if (spec->inherit_fd >= 0 && fcntl(spec->inherit_fd, F_SETFD, 0) < 0)
        child_fail(out, STAGE_SETUP, errno, STEP_LOCK);
    if (!out->vforked)
        coverage_dump();
    /* Through a pointer: gcc's coverage instrumentation replaces direct calls to execvp() with a wrapper that
     * writes the counters and marks them written, in the memory a vfork()ed child shares with tmprun, which
     * would then lose everything it counts afterwards. */
    (void)exec_fn(spec->argv[0], spec->argv);
    child_fail(out, STAGE_EXEC, errno, STEP_PRINTED);
}

/* The parts of /proc/PID/stat tmprun uses. */
struct proc {
    pid_t pid;
    pid_t ppid;
    char state;               /* 'Z' for a zombie */
    bool listed;              /* list_descendants(): already taken into the list */
    unsigned long long start; /* start time in clock ticks since boot: with the pid, names the process */
};

static int read_stat(int procfd, pid_t pid, struct proc *p)
{
    char path[32], buf[1024];
    cleanup_fd int fd = -1;
    ssize_t n;
    const char *s;
    int ppid;

    if (procfd < 0)
        return -ENOENT;
    (void)snprintf(path, sizeof(path), "%d/stat", (int)pid);
    fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: the fields start after the last ')'. */
    s = strrchr(buf, ')');
    /* NOLINTNEXTLINE(cert-err34-c): the kernel writes these numeric fields; the count check suffices. */
    if (!s || sscanf(s + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &p->state, &ppid, &p->start) != 3)
        return -EIO;
    p->pid = pid;
    p->ppid = ppid;
    p->listed = false;
    return 0;
}

/* Is pid a descendant of ours (the sender being COMMAND or one of its children)? Walks the parent chain in
 * /proc; an unreadable entry counts as "no". */
static bool is_descendant(int procfd, pid_t pid)
{
    pid_t self = getpid();

    for (int hops = 0; pid > 1 && hops < 4096; hops++) {
        struct proc p = {0};
        if (read_stat(procfd, pid, &p) < 0)
            return false;
        if (p.ppid == self)
            return true;
        pid = p.ppid;
    }
    return false;
}

/* A signal the kernel generated for the whole foreground process group (the terminal's ^C, ^\, hangup) has
 * SI_KERNEL and already reached COMMAND, which shares our process group; sending it again would make a
 * program that counts interrupts see two. The same holds for one COMMAND sent itself to its group, or to us:
 * forwarding that would loop. Everything else was meant for the job and goes to COMMAND once. */
static bool should_forward(int procfd, pid_t child, const struct signalfd_siginfo *si)
{
    pid_t sender = (pid_t)si->ssi_pid;

    if (si->ssi_code == SI_KERNEL)
        return false;
    /* SIGPIPE and SIGXFSZ raised by our own writes carry our own pid: they are about tmprun, not the job.
     * COMMAND itself is told apart without /proc. */
    if ((si->ssi_code == SI_USER || si->ssi_code == SI_QUEUE || si->ssi_code == SI_TKILL) && sender != 0 &&
        (sender == getpid() || sender == child || is_descendant(procfd, sender)))
        return false;
    return true;
}

/* Reap every child that has exited; note COMMAND's status when it is among them. */
static void reap(pid_t child, bool *child_done, int *status)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == child) {
            *child_done = true;
            *status = st;
        }
    }
}

/* Does tmprun have a child, running or a zombie? As a subreaper, every descendant left is below one (orphans
 * are re-parented to us), so this tells whether any remains without looking at /proc (waitid(2), WNOWAIT). */
static bool has_children(void)
{
    siginfo_t any = {0};

    return !(waitid(P_ALL, 0, &any, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD);
}

static void drain_signalfd(const struct sigstate *s, pid_t child, bool forward)
{
    struct signalfd_siginfo si;

    while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int sig = (int)si.ssi_signo, ret;
        if (sig == SIGCHLD || !forward || !should_forward(s->procfd, child, &si))
            continue;
        /* A real-time signal sent with sigqueue(3) carries a value the job may need: it goes along. */
        if (si.ssi_code == SI_QUEUE)
            ret = sigqueue(child, sig, (union sigval){.sival_ptr = (void *)(uintptr_t)si.ssi_ptr});
        else
            ret = kill(child, sig);
        if (ret < 0 && errno != ESRCH)
            warn_errno(errno, "cannot forward signal %d to process %d", sig, (int)child);
    }
}

/* ---- leftovers ---- */

static int by_ppid(const void *a, const void *b)
{
    pid_t x = ((const struct proc *)a)->ppid, y = ((const struct proc *)b)->ppid;

    return (x > y) - (x < y);
}

/* The first of all[0..n), sorted by ppid, whose ppid is at least ppid. */
static size_t first_child(const struct proc *all, size_t n, pid_t ppid)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): all[0..n) were filled by read_stat. */
        if (all[mid].ppid < ppid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Every process below us, zombies included, parents before their children; *nchildren counts our own
 * children among them. One read of /proc/PID/stat per process on the system, then a sort by parent and a
 * breadth-first walk down from us: O(n log n), where a fixed point of repeated passes was quadratic in the
 * number of leftovers. 0 or -errno (from opening or reading /proc). */
static int list_descendants(int procfd, struct proc **out, size_t *count, size_t *nchildren)
{
    cleanup_free struct proc *all = NULL;
    cleanup_free struct proc *below = NULL;
    cleanup_fd int dfd = -1;
    size_t n = 0, cap = 0, head = 0, tail = 0;
    pid_t self = getpid();
    const struct dirent *e;
    DIR *d;
    int err = 0;

    if (procfd < 0)
        return -EBADF;
    /* A descriptor of its own for each scan: a directory stream reads from its file offset. */
    dfd = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno();
    d = fdopendir(dfd);
    if (!d)
        return neg_errno();
    (void)steal_fd(&dfd);
    for (errno = 0; (e = readdir(d)); errno = 0) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self)
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 256;
            struct proc *a = realloc(all, c * sizeof(*a));
            if (!a) {
                err = -ENOMEM;
                break;
            }
            all = a;
            cap = c;
        }
        if (read_stat(procfd, (pid_t)pid, &all[n]) == 0)
            n++; /* else gone meanwhile */
    }
    if (!err && errno != 0)
        err = neg_errno();
    (void)closedir(d);
    if (err)
        return err;
    if (n > 1)
        qsort(all, n, sizeof(*all), by_ppid);
    below = malloc((n ? n : 1) * sizeof(*below));
    if (!below)
        return -ENOMEM; /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees all */
    /* below[] is its own queue: [head, tail) are listed, their children not yet. The listed mark keeps a
     * parent loop (pids reused while /proc was read) from taking a process twice. */
    for (pid_t parent = self;; parent = below[head++].pid) {
        for (size_t i = first_child(all, n, parent); i < n && all[i].ppid == parent; i++) {
            if (all[i].listed)
                continue;
            all[i].listed = true;
            below[tail++] = all[i];
        }
        if (parent == self)
            *nchildren = tail;
        if (head == tail)
            break;
    }
    *out = steal_ptr(&below);
    *count = tail;
    return 0;
}

/* A pidfd for the process we listed, and only for it. A pidfd pins the process (pidfd_open(2)): once its start
 * time, read again after opening it, matches the listing, the pid cannot have been reused, and what is sent
 * through it later (the SIGKILL after the grace) needs no check. Returns the pidfd, -ESRCH if the process is
 * gone (or its pid another's), or another -errno when there is no pidfd to be had (ENOSYS, EMFILE). */
static int open_exact(int procfd, const struct proc *p)
{
    int pfd = pidfd_open(p->pid, 0);
    int err = pfd < 0 ? neg_errno() : 0;
    struct proc now = {0};

    if (err == -ESRCH)
        return err;
    if (read_stat(procfd, p->pid, &now) < 0 || now.start != p->start) {
        if (pfd >= 0)
            (void)close(pfd);
        return -ESRCH;
    }
    return pfd >= 0 ? pfd : err;
}

/* Send sig through pidfd to the process it refers to. Where pidfd_send_signal(2) fails with ENOSYS though
 * pidfd_open(2) worked (valgrind 3.24, Debian 13's, wraps only pidfd_open; a seccomp policy may allow just
 * one of them), *no_send is set, so that later signals skip the failing call, and kill(2) does the job: right
 * after the pidfd showed that the process has not exited. A pid is reused only once its process has exited and
 * been reaped, so that leaves only this instant for the pid to be another's. 0, -ESRCH if the process has
 * exited, or another -errno. */
static int send_pidfd(int pidfd, pid_t pid, int sig, bool *no_send)
{
    struct pollfd exited = {.fd = pidfd, .events = POLLIN};
    int n;

    if (!*no_send) {
        if (pidfd_send_signal(pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ENOSYS)
            return neg_errno();
        *no_send = true;
    }
    /* A pidfd polls readable once its process has exited (pidfd_open(2)). */
    do
        n = poll(&exited, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return neg_errno();
    if (n > 0)
        return -ESRCH;
    return kill(pid, sig) < 0 ? neg_errno() : 0;
}

/* Send sig to the process we listed, and only to it, through *pidfd (opened if -1, and left there for the
 * next signal and for waiting on the process's exit); *no_send as for send_pidfd(). 0, -ESRCH if the process
 * is gone, or another -errno (EPERM: not ours). */
static int signal_exact(int procfd, const struct proc *p, int sig, int *pidfd, bool *no_send)
{
    int ret;

    if (*pidfd < 0) {
        int pfd = open_exact(procfd, p);
        if (pfd == -ESRCH)
            return pfd;
        if (pfd < 0) {
            /* No pidfd (an old seccomp policy, Debian 12's valgrind 3.19, no descriptor left): kill(2) right
             * after checking the start time leaves only that instant for the pid to be reused. */
            if (kill(p->pid, sig) < 0)
                return neg_errno();
            if (sig == SIGTERM)
                (void)kill(p->pid, SIGCONT);
            return 0;
        }
        *pidfd = pfd;
    }
    ret = send_pidfd(*pidfd, p->pid, sig, no_send);
    if (ret < 0)
        return ret;
    /* A stopped process would not act on SIGTERM until continued. */
    if (sig == SIGTERM)
        (void)send_pidfd(*pidfd, p->pid, SIGCONT, no_send);
    return 0;
}

/* A leftover that was sent a signal. */
struct told {
    pid_t pid;
    unsigned long long start;
    int sig;   /* the last one sent */
    int pidfd; /* to learn of its exit and send it SIGKILL; -1 once it has exited, or if there is none */
    bool exited;
    bool unstoppable; /* SIGKILL failed (EPERM): nothing more to try */
};

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct told *)a)->pid, y = ((const struct told *)b)->pid;

    return (x > y) - (x < y);
}

/* Everything stop_leftovers() keeps between rounds. */
struct stopper {
    int procfd;
    int sig;           /* SIGTERM during the grace, SIGKILL after it */
    struct told *told; /* sorted by pid up to nsorted, for bsearch() */
    size_t ntold, nsorted, cap;
    size_t nwatched; /* told with an open pidfd */
    bool unwatched;  /* some leftover alive at the last scan has no pidfd: rescan on a timer */
    bool no_send;    /* pidfd_send_signal(2) is missing: kill(2) instead (send_pidfd()) */
    bool running;    /* some leftover could not be listed or stopped */
};

/* The entry for p: same pid and start time (a pid reused since holds several entries, side by side). */
static struct told *find_told(struct stopper *st, const struct proc *p)
{
    struct told key = {.pid = p->pid};
    struct told *t = st->nsorted ? bsearch(&key, st->told, st->nsorted, sizeof(key), by_pid) : NULL;

    if (!t)
        return NULL;
    while (t > st->told && t[-1].pid == p->pid)
        t--;
    for (; t < st->told + st->nsorted && t->pid == p->pid; t++)
        if (t->start == p->start)
            return t;
    return NULL;
}

static struct told *add_told(struct stopper *st, const struct proc *p)
{
    if (st->ntold == st->cap) {
        /* Grow the capacity only once realloc succeeded: a failure leaves told as it was. */
        size_t cap = st->cap ? st->cap * 2 : 16;
        struct told *a = realloc(st->told, cap * sizeof(*a));
        if (!a)
            return NULL;
        st->told = a;
        st->cap = cap;
    }
    st->told[st->ntold] = (struct told){.pid = p->pid, .start = p->start, .pidfd = -1};
    return &st->told[st->ntold++];
}

/* List the leftovers and send st->sig to each one not yet sent it. Returns how many were sent a signal for the
 * first time, or -errno if they cannot be listed; -ENOENT also when /proc does not show a single child of ours
 * though we have one (an empty /proc directory, a /proc of another PID namespace, hidepid=). */
static long scan(struct stopper *st, int *err)
{
    cleanup_free struct proc *procs = NULL;
    size_t nprocs = 0, nchildren = 0;
    long added = 0;
    int ret = list_descendants(st->procfd, &procs, &nprocs, &nchildren);

    if (ret < 0 || nchildren == 0) {
        *err = ret < 0 ? ret : -ENOENT; /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees procs */
        return -1;
    }
    st->unwatched = false;
    for (size_t i = 0; i < nprocs; i++) {
        const struct proc *p = &procs[i];
        struct told *t;
        bool had_pidfd;
        if (p->state == 'Z')
            continue; /* reaped by its parent, or by us once its parent is gone */
        t = find_told(st, p);
        if (t && (t->exited || t->unstoppable))
            continue;
        if (t && t->sig == st->sig) {
            /* Already told. Watch it now if it could not be watched before (more than MAX_WATCHED then), so
             * that its exit is an event, not something only the next rescan sees. */
            if (t->pidfd < 0 && st->nwatched < MAX_WATCHED) {
                int pfd = open_exact(st->procfd, p);
                if (pfd >= 0) {
                    t->pidfd = pfd;
                    st->nwatched++;
                }
            }
            st->unwatched |= t->pidfd < 0;
            continue;
        }
        if (!t)
            t = add_told(st, p);
        if (!t) {
            st->unwatched = true; /* out of memory: a rescan tries again */
            continue;
        }
        had_pidfd = t->pidfd >= 0;
        ret = signal_exact(st->procfd, p, st->sig, &t->pidfd, &st->no_send);
        if (!had_pidfd && t->pidfd >= 0) {
            if (ret == 0 && st->nwatched < MAX_WATCHED) {
                st->nwatched++;
            } else {
                (void)close(t->pidfd);
                t->pidfd = -1;
            }
        }
        if (ret == 0) {
            added += t->sig == 0;
            t->sig = st->sig;
        } else if (ret != -ESRCH && st->sig == SIGKILL) {
            /* Not ours to stop (EPERM): nothing will make it exit, and waiting on it would hang. */
            warn_errno(ret, "cannot stop leftover process %d", (int)p->pid);
            st->running = true;
            t->unstoppable = true;
            if (t->pidfd >= 0) {
                (void)close(t->pidfd);
                t->pidfd = -1;
                st->nwatched--;
            }
            continue;
        }
        /* -ESRCH: gone or going, reaped by its parent or by us. */
        st->unwatched |= ret != -ESRCH && t->pidfd < 0;
    }
    if (st->ntold > 1) /* NOLINT(clang-analyzer-unix.Malloc): the list is freed by its owner */
        qsort(st->told, st->ntold, sizeof(*st->told), by_pid);
    st->nsorted = st->ntold;
    return added;
}

/* Nanoseconds of the grace left, from its start t0. */
static long long grace_left(const struct timespec *t0, long long grace_ns)
{
    struct timespec now;

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return grace_ns - ((long long)(now.tv_sec - t0->tv_sec) * 1000000000LL + (now.tv_nsec - t0->tv_nsec));
}

/* poll(2) takes an int of milliseconds: a wait above INT_MAX ms (24.8 days, a long --grace) is done in several
 * polls, never as a negative timeout (which would mean "forever"); rounded up, so as not to wake early. */
static int poll_ms(long long ns)
{
    long long ms = ns / 1000000 + (ns % 1000000 > 0);

    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Stop everything COMMAND left behind: SIGTERM (and SIGCONT), SIGKILL once grace has passed, and reap until
 * no descendant, not even a zombie, remains. /proc is read once at the start, once when the grace ends, and
 * otherwise only when every leftover watched through its pidfd has exited (to find what they started
 * meanwhile) or, for leftovers without a pidfd, every RESCAN_MS. Returns how many processes were signalled;
 * *running is set when some may still run (not listed, or not stoppable), after saying why. */
static unsigned long stop_leftovers(const struct sigstate *s, double grace, pid_t child, bool *child_done,
                                    int *status, bool *running)
{
    struct stopper st = {.procfd = s->procfd, .sig = grace > 0 ? SIGTERM : SIGKILL};
    /* At most 100 years (PARSE_MAX_SECONDS): about 3.2e18 ns, within a long long. */
    long long grace_ns = (long long)(grace * 1e9);
    unsigned long stopped = 0;
    struct timespec t0;
    bool rescan = true, blind = false;
    int err = 0;

    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfds[MAX_WATCHED + 1];
        struct told *watched[MAX_WATCHED + 1];
        nfds_t npfd = 1;
        long long left;
        int timeout = -1, ready;

        reap(child, child_done, status);
        if (!has_children())
            break;
        left = grace_left(&t0, grace_ns);
        if (st.sig == SIGTERM && left <= 0) {
            st.sig = SIGKILL;
            rescan = true;
        }
        if (rescan) {
            long added = scan(&st, &err);
            blind = added < 0;
            if (added > 0)
                stopped += (unsigned long)added;
            rescan = false;
        }
        if (blind && st.sig == SIGKILL) {
            /* Nothing can be sent to processes tmprun cannot name (no process-group kill: COMMAND shares
             * ours and our caller's), and they did not end within the grace: say so, and let the caller keep
             * the workspace rather than remove it under them. */
            if (err == -EBADF)
                err = -s->proc_err;
            if (err == -EMEDIUMTYPE)
                warn("cannot list leftover processes: /proc: not a proc file system (is it mounted?)");
            else if (err == -ENOENT && s->procfd >= 0)
                warn("cannot list leftover processes: /proc shows none of them");
            else
                warn_errno(err, "cannot list leftover processes: /proc");
            st.running = true;
            break;
        }
        if (st.running && st.sig == SIGKILL && st.nwatched == 0 && !st.unwatched)
            break; /* only unstoppable ones left (said by scan()) */
        pfds[0] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
        for (size_t i = 0; i < st.ntold; i++)
            if (st.told[i].pidfd >= 0) {
                watched[npfd] = &st.told[i];
                pfds[npfd++] = (struct pollfd){.fd = st.told[i].pidfd, .events = POLLIN};
            }
        if (st.sig == SIGTERM)
            timeout = poll_ms(left);
        /* Without a watched leftover (blind, unwatched, or all watched ones gone while children remain),
         * rescan on a timer; a SIGCHLD wakes us earlier. */
        if (!blind && (st.unwatched || npfd == 1) && (timeout < 0 || timeout > RESCAN_MS))
            timeout = RESCAN_MS;
        ready = poll(pfds, npfd, timeout);
        if (ready == 0 && !blind)
            rescan = st.unwatched || npfd == 1;
        for (nfds_t k = 1; ready > 0 && k < npfd; k++) {
            if (!pfds[k].revents)
                continue;
            /* A pidfd polls readable once its process has exited (pidfd_open(2)). */
            (void)close(watched[k]->pidfd);
            watched[k]->pidfd = -1;
            watched[k]->exited = true;
            /* Once every watched one is gone, whatever they started is found by a rescan. */
            rescan |= --st.nwatched == 0;
        }
        drain_signalfd(s, child, false);
    }
    for (size_t i = 0; i < st.ntold; i++)
        if (st.told[i].pidfd >= 0)
            (void)close(st.told[i].pidfd);
    free(st.told);
    *running = st.running;
    return stopped;
}

int supervise_run(const struct child_spec *spec, struct sigstate *s, struct child_result *res)
{
    struct errmsg *m;
    pid_t child;
    bool done = false;

    *res = (struct child_result){.stage = STAGE_NONE};
    /* Where the child reports a failure before COMMAND runs: a page shared across fork() (and, after vfork(),
     * memory shared anyway). A successful execve(2) leaves it untouched, zero: STAGE_NONE. Unlike the usual
     * close-on-exec pipe, it costs no descriptor when the fd table is nearly full (ulimit -n 8). */
    m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return neg_errno();
    /* Flush before forking so buffered output is not written twice. */
    (void)fflush(NULL);
    /* Without a setup step the child only restores its signal mask, changes directory and execs: vfork()
     * spares copying tmprun's page tables, the largest part of what tmprun adds to a bare fork-exec. The
     * setup steps (namespaces, privileges) allocate and change process-wide state: they get a real fork. The
     * vfork()ed child makes only system calls (no stdio, no allocation) before execvp() or _exit(). */
    m->vforked = !spec->setup;
    /* NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork,clang-analyzer-unix.Vfork,bugprone-unsafe-functions,cert-msc24-c,cert-msc33-c) */
    child = m->vforked ? vfork() : fork();
    if (child < 0) {
        int err = neg_errno();
        (void)munmap(m, sizeof(*m));
        return err;
    }
    if (child == 0) {
        child_exec(spec, s, m);
    }
    if (spec->started)
        spec->started(spec->setup_arg);
    while (!done) {
        struct pollfd p = {.fd = s->sfd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            int err = neg_errno();
            warn_errno(err, "cannot wait for signals");
            /* Still wait for COMMAND: the workspace must outlive it. */
            while (waitpid(child, &res->status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        drain_signalfd(s, child, res->stage == STAGE_NONE);
        reap(child, &done, &res->status);
    }
    /* The child has been reaped: whatever it left in the page is all it will. */
    if (m->stage != STAGE_NONE) {
        res->stage = m->stage;
        res->err = m->err;
        if (m->stage == STAGE_SETUP && m->step >= 0 && (size_t)m->step < ARRAY_SIZE(child_steps))
            warn_errno(m->err, "%s", child_steps[m->step]);
    }
    (void)munmap(m, sizeof(*m));
    res->leftovers = stop_leftovers(s, spec->grace, child, &done, &res->status, &res->leftovers_running);
    /* Nothing is left to find or forward to: the removal's walk can use the descriptor (ulimit -n 8). */
    close_fdp(&s->procfd);
    return 0;
}

_Noreturn void die_of_signal(int sig)
{
    struct rlimit nocore = {0, 0};
    sigset_t set;

    (void)fflush(NULL);
    (void)setrlimit(RLIMIT_CORE, &nocore);
    (void)signal(sig, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    coverage_dump();
    (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
    (void)raise(sig);
    /* Not fatal by default (SIGCHLD, SIGWINCH, ...): report it the way a shell would. */
    exit(128 + sig);
}
