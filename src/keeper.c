#include "config.h"

#include "keeper.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

/* Close every descriptor /proc/self/fd lists but 0-2, a and b. Collected first: closing while reading the
 * directory would skip entries. 0, or -errno if /proc cannot be read. */
static int close_listed(int a, int b)
{
    int fds[256], more = 1;

    while (more) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;
        if (!d)
            return neg_errno();
        more = 0;
        while ((e = readdir(d))) {
            int fd = (int)strtol(e->d_name, NULL, 10);
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd <= 2 || fd == a || fd == b || fd == dirfd(d))
                continue;
            if (n == (int)ARRAY_SIZE(fds)) {
                more = 1;
                break;
            }
            fds[n++] = fd;
        }
        (void)closedir(d);
        for (int i = 0; i < n; i++)
            (void)close(fds[i]);
    }
    return 0;
}

/* Close every descriptor but 0-2, a and b (both above 2). */
static void close_others(int a, int b)
{
    struct rlimit rl;
    long max = 1024;

#ifdef SYS_close_range
    int lo = a < b ? a : b, hi = a < b ? b : a;

    if ((lo == 3 || syscall(SYS_close_range, 3U, (unsigned)lo - 1, 0U) == 0) &&
        (lo + 1 > hi - 1 || syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0U) == 0) &&
        syscall(SYS_close_range, (unsigned)hi + 1, ~0U, 0U) == 0)
        return;
#endif
    /* No close_range(2) (Linux < 5.9): what /proc/self/fd lists (a descriptor inherited above the current
     * limit included), else every number below the limit. */
    if (close_listed(a, b) == 0)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = (long)rl.rlim_cur;
    for (long fd = 3; fd < max; fd++)
        if (fd != a && fd != b)
            (void)close((int)fd);
}

_Noreturn static void keeper_main(int lock_fd, int read_end)
{
    char buf[256];
    int null;

    (void)setsid();
    (void)prctl(PR_SET_NAME, "tmprun-keeper", 0, 0, 0);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && null >= 0; fd++)
        (void)dup2(null, fd);
    close_others(lock_fd, read_end);
    if (null > 2)
        (void)close(null);
    /* Data COMMAND writes into the pipe is read and dropped; EOF (or a broken pipe) ends the run's lifetime. */
    for (;;) {
        ssize_t n = read(read_end, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    coverage_dump();
    _exit(0);
}

/* What the middle process needs and reports back (it shares tmprun's memory). */
struct mid {
    int lock_fd, read_end, write_end;
    long keeper; /* the keeper's pid, or -errno */
};

/* The middle process of the double fork. It runs in tmprun's own memory, on a stack of its own, while tmprun is
 * suspended (CLONE_VM | CLONE_VFORK, as posix_spawn(3) does): it costs no copy and no tear-down of an address
 * space, and tmprun resumes as soon as it exits. It makes the keeper with a raw clone(2), which copies the
 * memory as fork(2) does: glibc's fork() would run atfork handlers and reset the thread's state in memory
 * tmprun shares. Its descriptor table is its own (no CLONE_FILES), so closing the write end here leaves
 * tmprun's. */
/* Not instrumented by AddressSanitizer: it runs on a stack ASan does not know, and its handling of _exit()
 * would warn about the switch. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
__attribute__((no_sanitize("address")))
#endif
#endif
static int mid_main(void *arg)
{
    struct mid *m = arg;
    long k;

    (void)close(m->write_end);
    /* Flags, then null stack and tid pointers: the child continues on a copy of this stack, as after fork. The
     * argument order differs between architectures, but all of them are zero. */
    k = syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
    if (k == 0)
        keeper_main(m->lock_fd, m->read_end);
    m->keeper = k < 0 ? neg_errno() : k;
    _exit(0);
}

#define MID_STACK ((size_t)64 * 1024)

int keeper_start(int lock_fd, int *write_end)
{
    cleanup_fd int rfd = -1, wfd = -1;
    struct mid m;
    int p[2], was = 0, st, ret = 0;
    void *stack;
    pid_t mid;

    *write_end = -1;
    /* The init of a PID namespace adopts every orphan there, the keeper too, and its death ends every process
     * of the namespace: nothing can outlive it to need the lock. */
    if (getpid() == 1)
        return 0;
    if (pipe2(p, O_CLOEXEC) < 0)
        return neg_errno();
    rfd = p[0];
    wfd = p[1];
    m = (struct mid){.lock_fd = lock_fd, .read_end = rfd, .write_end = wfd, .keeper = -EAGAIN};
    stack = mmap(NULL, MID_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return neg_errno();
    /* A child subreaper adopts its orphaned descendants: the keeper must be orphaned to our own reaper. */
    if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) < 0 ||
        (was && prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) < 0)) {
        ret = neg_errno();
        (void)munmap(stack, MID_STACK);
        return ret;
    }
    /* Every signal tmprun handles is blocked (supervise_init()): no handler can run in the middle process,
     * which shares tmprun's memory, and the keeper keeps them blocked. The stack grows down. */
    mid = clone(mid_main, (char *)stack + MID_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &m);
    if (mid < 0) {
        ret = neg_errno();
    } else {
        /* Once the middle process is reaped, the keeper has been re-parented: only then be a subreaper again.
         * It has exited already (CLONE_VFORK): this does not wait. */
        while (waitpid(mid, &st, 0) < 0)
            if (errno != EINTR) {
                ret = neg_errno();
                break;
            }
        if (ret == 0 && m.keeper < 0)
            ret = (int)m.keeper;
    }
    (void)munmap(stack, MID_STACK);
    if (was && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 && ret == 0)
        ret = neg_errno();
    if (ret < 0)
        return ret;
    *write_end = steal_fd(&wfd);
    return 0;
}
