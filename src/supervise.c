#include "config.h"

#include "supervise.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "missing.h"
#include "util.h"

/* The signals tmprun outlives and forwards (issue: sudo's and timeout's list). Job-control signals (TSTP,
 * TTIN, TTOU, CONT) keep their default action so that Ctrl-Z stops tmprun together with COMMAND. */
static const int forwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                                SIGUSR2, SIGALRM, SIGPIPE, SIGXCPU, SIGXFSZ};

/* pidfds kept to wait on leftovers; beyond this many, tmprun rescans /proc on a timer instead. */
#define MAX_WATCHED 64
/* Rescan period while some leftover cannot be watched through a pidfd. */
#define RESCAN_MS 100

int supervise_init(struct sigstate *s)
{
    struct sigaction sa;

    sigemptyset(&s->handled);
    s->sfd = -1;
    for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++) {
        if (sigaction(forwarded[i], NULL, &sa) < 0)
            return neg_errno();
        /* A blocked signal is queued even when ignored, so ignored ones must stay out of the mask. */
        if (sa.sa_handler != SIG_IGN)
            sigaddset(&s->handled, forwarded[i]);
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
    return 0;
}

struct errmsg {
    int stage;
    int err;
    int step; /* index in child_steps, or -1 when the setup callback already printed why */
};

/* What the child was doing when it failed; the parent prints it (the child may share tmprun's memory, after
 * vfork(), and must not touch stdio). */
static const char *const child_steps[] = {
    "cannot restore the signal mask",
    "cannot change into the workspace",
    "cannot pass the workspace lock",
};
enum { STEP_PRINTED = -1, STEP_MASK, STEP_CHDIR, STEP_LOCK };

/* In the child, between fork and exec: report a failure through the pipe and leave. */
_Noreturn static void child_fail(int pipefd, int stage, int err, int step)
{
    struct errmsg m = {stage, err, step};

    (void)!write(pipefd, &m, sizeof(m));
    coverage_dump();
    _exit(127);
}

_Noreturn static void child_exec(const struct child_spec *spec, const struct sigstate *s, int pipefd)
{
    if (s->chld_ignored)
        (void)signal(SIGCHLD, SIG_IGN);
    if (sigprocmask(SIG_SETMASK, &s->orig_mask, NULL) < 0)
        child_fail(pipefd, STAGE_SETUP, errno, STEP_MASK);
    if (spec->cwd_fd >= 0 && fchdir(spec->cwd_fd) < 0)
        child_fail(pipefd, STAGE_SETUP, errno, STEP_CHDIR);
    if (spec->setup) {
        int ret = spec->setup(spec->setup_arg);
        if (ret < 0)
            child_fail(pipefd, STAGE_SETUP, -ret, STEP_PRINTED);
    }
    if (spec->inherit_fd >= 0 && fcntl(spec->inherit_fd, F_SETFD, 0) < 0)
        child_fail(pipefd, STAGE_SETUP, errno, STEP_LOCK);
    coverage_dump();
    execvp(spec->argv[0], spec->argv);
    child_fail(pipefd, STAGE_EXEC, errno, STEP_PRINTED);
}

/* Is pid a descendant of ours (the sender being COMMAND or one of its children)? Walks the parent chain in
 * /proc; an unreadable entry counts as "no". */
static int read_stat(pid_t pid, pid_t *ppid, char *state, unsigned long long *start);

static bool is_descendant(pid_t pid)
{
    pid_t self = getpid();

    for (int hops = 0; pid > 1 && hops < 4096; hops++) {
        pid_t ppid = 0;
        char state;
        if (read_stat(pid, &ppid, &state, NULL) < 0)
            return false;
        if (ppid == self)
            return true;
        pid = ppid;
    }
    return false;
}

/* A signal the kernel generated for the whole foreground process group (the terminal's ^C, ^\, hangup) has
 * SI_KERNEL and already reached COMMAND, which shares our process group; sending it again would make a
 * program that counts interrupts see two. The same holds for one COMMAND sent itself to its group, or to us:
 * forwarding that would loop. Everything else was meant for the job and goes to COMMAND once. */
static bool should_forward(const struct signalfd_siginfo *si)
{
    if (si->ssi_code == SI_KERNEL)
        return false;
    /* SIGPIPE and SIGXFSZ raised by our own writes carry our own pid: they are about tmprun, not the job. */
    if ((si->ssi_code == SI_USER || si->ssi_code == SI_QUEUE || si->ssi_code == SI_TKILL) && si->ssi_pid != 0 &&
        ((pid_t)si->ssi_pid == getpid() || is_descendant((pid_t)si->ssi_pid)))
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

static void drain_signalfd(int sfd, pid_t child, bool forward)
{
    struct signalfd_siginfo si;

    while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD || !forward || !should_forward(&si))
            continue;
        if (kill(child, (int)si.ssi_signo) < 0 && errno != ESRCH)
            warn_errno(errno, "cannot forward signal %d to process %d", (int)si.ssi_signo, (int)child);
    }
}

/* ---- leftovers ---- */

static int read_stat(pid_t pid, pid_t *ppid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    cleanup_fd int fd = -1;
    ssize_t n;
    char *p;
    int ppid_i;
    unsigned long long st = 0;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: the fields start after the last ')'. */
    p = strrchr(buf, ')');
    /* NOLINTNEXTLINE(cert-err34-c): the kernel writes these numeric fields; the count check suffices. */
    if (!p || sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     state, &ppid_i, &st) != 3)
        return -EIO;
    *ppid = ppid_i;
    if (start)
        *start = st;
    return 0;
}

struct proc {
    pid_t pid;
    pid_t ppid;
    char state;
    unsigned long long start;
};

/* Every process below us, zombies included (their state is 'Z'). */
static int list_descendants(struct proc **out, size_t *count)
{
    cleanup_free struct proc *all = NULL;
    size_t n = 0, cap = 0, nd;
    pid_t self = getpid();
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (!d)
        return neg_errno();
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        struct proc p;
        if (*end != '\0' || pid <= 0 || pid == self)
            continue;
        p.pid = (pid_t)pid;
        if (read_stat(p.pid, &p.ppid, &p.state, &p.start) < 0)
            continue; /* gone meanwhile */
        if (n == cap) {
            struct proc *a = realloc(all, (cap = cap ? cap * 2 : 256) * sizeof(*a));
            if (!a) {
                (void)closedir(d);
                return -ENOMEM;
            }
            all = a;
        }
        all[n++] = p;
    }
    (void)closedir(d);
    /* Move descendants to the front until nothing more joins: a process belongs if its parent is us or an
     * earlier member. */
    nd = 0;
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = nd; i < n; i++) {
            bool below = all[i].ppid == self;
            for (size_t j = 0; j < nd && !below; j++)
                below = all[i].ppid == all[j].pid;
            if (below) {
                struct proc t = all[nd];
                all[nd++] = all[i];
                all[i] = t;
                grew = true;
            }
        }
    }
    *out = steal_ptr(&all);
    *count = nd;
    return 0;
}

/* signal_exact(): signalled, but there is no pidfd to wait on. */
#define NO_PIDFD (-2)

/* Signal the process we listed, and only it: a pidfd pins the process, and its start time (read again after
 * opening the pidfd) proves the pid was not reused since /proc was read. Returns the pidfd (for waiting),
 * NO_PIDFD, or -1 if the process is gone. */
static int signal_exact(const struct proc *p, int sig)
{
    int pfd = pidfd_open(p->pid, 0);
    pid_t ppid = 0;
    char state;
    unsigned long long start = 0;

    if (pfd < 0 && errno != ENOSYS && errno != EPERM)
        return -1;
    if (read_stat(p->pid, &ppid, &state, &start) < 0 || start != p->start) {
        if (pfd >= 0)
            (void)close(pfd);
        return -1;
    }
    if (pfd < 0) {
        /* No pidfds here (an old seccomp policy, valgrind): kill(2) right after checking the start time
         * leaves only that instant for the pid to be reused. */
        if (kill(p->pid, sig) < 0)
            return -1;
        if (sig == SIGTERM)
            (void)kill(p->pid, SIGCONT);
        return NO_PIDFD;
    }
    if (pidfd_send_signal(pfd, sig, NULL, 0) < 0) {
        (void)close(pfd);
        return -1;
    }
    /* A stopped process would not act on SIGTERM until continued. */
    if (sig == SIGTERM)
        (void)pidfd_send_signal(pfd, SIGCONT, NULL, 0);
    return pfd;
}

static long ms_until(const struct timespec *deadline)
{
    struct timespec now;

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

struct signaled {
    pid_t pid;
    unsigned long long start;
    int sig;
};

/* Stop everything COMMAND left behind: SIGTERM (and SIGCONT), SIGKILL once grace has passed, and reap until
 * no descendant, not even a zombie, remains. Returns how many processes were signalled. */
static unsigned long stop_leftovers(struct sigstate *s, double grace, pid_t child, bool *child_done,
                                    int *status)
{
    struct timespec deadline;
    struct signaled *sent = NULL;
    size_t nsent = 0, capsent = 0;
    unsigned long stopped = 0;

    (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)grace;
    deadline.tv_nsec += (long)((grace - (double)(time_t)grace) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;) {
        siginfo_t any = {0};
        struct pollfd pfds[MAX_WATCHED + 1];
        nfds_t npfd = 1;
        bool unwatched = false;
        struct proc *procs = NULL;
        size_t nprocs = 0;
        long left = ms_until(&deadline);
        int sig = (grace > 0 && left > 0) ? SIGTERM : SIGKILL;

        reap(child, child_done, status);
        /* Every leftover hangs below a child of ours (orphans are re-parented to us), so no child at all means
         * nothing to look for in /proc: the common case costs one system call. */
        if (waitid(P_ALL, 0, &any, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
            break;
        if (list_descendants(&procs, &nprocs) < 0) {
            warn_errno(ENOMEM, "cannot list leftover processes");
            break;
        }
        if (nprocs == 0) {
            free(procs);
            break;
        }
        pfds[0] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
        for (size_t i = 0; i < nprocs; i++) {
            struct proc *p = &procs[i];
            size_t k;
            int pfd;
            if (p->state == 'Z') {
                unwatched = true; /* reaped by us once its parent is gone */
                continue;
            }
            for (k = 0; k < nsent; k++)
                if (sent[k].pid == p->pid && sent[k].start == p->start)
                    break;
            if (k < nsent && sent[k].sig == sig) {
                unwatched = true; /* already told; its exit is seen by the next rescan */
                continue;
            }
            pfd = signal_exact(p, sig);
            if (pfd == -1) {
                unwatched = true; /* gone, or going: the next scan tells */
                continue;
            }
            if (k == nsent) {
                if (nsent == capsent) {
                    /* Grow the capacity only once realloc succeeded: a failure leaves sent as it was. */
                    size_t cap = capsent ? capsent * 2 : 16;
                    struct signaled *a = realloc(sent, cap * sizeof(*a));
                    if (!a) {
                        if (pfd >= 0)
                            (void)close(pfd);
                        unwatched = true;
                        continue;
                    }
                    sent = a;
                    capsent = cap;
                }
                sent[nsent++] = (struct signaled){p->pid, p->start, sig};
                stopped++;
            }
            sent[k].sig = sig;
            if (pfd >= 0 && npfd <= MAX_WATCHED) {
                pfds[npfd++] = (struct pollfd){.fd = pfd, .events = POLLIN};
            } else {
                if (pfd >= 0)
                    (void)close(pfd);
                unwatched = true;
            }
        }
        free(procs);
        {
            long timeout = sig == SIGTERM ? left : -1;
            if (unwatched && (timeout < 0 || timeout > RESCAN_MS))
                timeout = RESCAN_MS;
            if (npfd > 1 || unwatched)
                (void)poll(pfds, npfd, (int)timeout);
        }
        for (nfds_t i = 1; i < npfd; i++)
            (void)close(pfds[i].fd);
        drain_signalfd(s->sfd, child, false);
    }
    free(sent);
    return stopped;
}

int supervise_run(const struct child_spec *spec, struct sigstate *s, struct child_result *res)
{
    int pipefd[2];
    struct errmsg m;
    ssize_t n;
    pid_t child;
    bool done = false;

    *res = (struct child_result){.stage = STAGE_NONE};
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return neg_errno();
    /* Flush before forking so buffered output is not written twice. */
    (void)fflush(NULL);
    /* Without a setup step the child only restores its signal mask, changes directory and execs: vfork()
     * spares copying tmprun's page tables, the largest part of what tmprun adds to a bare fork-exec. The
     * setup steps (namespaces, privileges) allocate and change process-wide state: they get a real fork. The
     * vfork()ed child makes only system calls (no stdio, no allocation) before execvp() or _exit(). */
    /* NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork,clang-analyzer-unix.Vfork) */
    child = spec->setup || COVERAGE_BUILD ? fork() : vfork();
    if (child < 0) {
        int err = neg_errno();
        (void)close(pipefd[0]);
        (void)close(pipefd[1]);
        return err;
    }
    if (child == 0) {
        child_exec(spec, s, pipefd[1]);
    }
    (void)close(pipefd[1]);
    if (spec->started)
        spec->started(spec->setup_arg);
    /* The pipe closes on a successful exec (O_CLOEXEC); otherwise it carries the failing step and errno. */
    do
        n = read(pipefd[0], &m, sizeof(m));
    while (n < 0 && errno == EINTR);
    (void)close(pipefd[0]);
    if (n == (ssize_t)sizeof(m)) {
        res->stage = m.stage;
        res->err = m.err;
        if (m.stage == STAGE_SETUP && m.step >= 0 && (size_t)m.step < ARRAY_SIZE(child_steps))
            warn_errno(m.err, "%s", child_steps[m.step]);
    }

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
        drain_signalfd(s->sfd, child, res->stage == STAGE_NONE);
        reap(child, &done, &res->status);
    }
    res->leftovers = stop_leftovers(s, spec->grace, child, &done, &res->status);
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
