#include "config.h"

#include "keeper.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
        const struct dirent *e;
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

int keeper_start(int lock_fd, int *write_end)
{
    cleanup_fd int rfd = -1, wfd = -1;
    int p[2], was = 0, st, ret = 0;
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
    /* A child subreaper adopts its orphaned descendants: the keeper must be orphaned to our own reaper. */
    if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) < 0 || (was && prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) < 0))
        return neg_errno();
    /* A plain fork(2) for the middle process: a CLONE_VM one would be cheaper, but valgrind (the CI gate that
     * runs every end-to-end test under it) cannot run a child sharing its parent's memory without a thread. */
    mid = fork();
    if (mid == 0) {
        pid_t k;
        (void)close(wfd);
        k = fork();
        if (k == 0)
            keeper_main(lock_fd, rfd);
        coverage_dump();
        _exit(k < 0 ? 1 : 0);
    }
    if (mid < 0) {
        ret = neg_errno();
    } else {
        /* Once the middle process is reaped, the keeper has been re-parented: only then be a subreaper again. */
        while (waitpid(mid, &st, 0) < 0)
            if (errno != EINTR) {
                ret = neg_errno();
                break;
            }
        if (ret == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            ret = -EAGAIN;
    }
    if (was && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 && ret == 0)
        ret = neg_errno();
    if (ret < 0)
        return ret;
    *write_end = steal_fd(&wfd);
    return 0;
}
