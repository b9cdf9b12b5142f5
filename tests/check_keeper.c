#include "config.h"

#include "keeper.h"

#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* Polls for an event another process causes: at most this many tries, 1 ms apart. The bound only turns a
 * missing event into a failure instead of a hang; nothing is concluded from how long the wait took. */
#define MAX_TRIES 60000

static void pause_briefly(void)
{
    const struct timespec ms = {0, 1000000};

    (void)nanosleep(&ms, NULL);
}

/* What readlink(2) says /proc/PID/fd/FD is, or "" (pid 0: this process). */
static void fd_target(pid_t pid, const char *fd, char *out, size_t len)
{
    char path[sizeof("/proc/-2147483648/fd/") + NAME_MAX]; /* fd is a directory entry's name */
    ssize_t n;

    if (pid == 0)
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%s", fd);
    else
        (void)snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, fd);
    n = readlink(path, out, len - 1);
    out[n < 0 ? 0 : n] = '\0';
}

/* Whether process pid has an fd open on what. */
static bool holds(pid_t pid, const char *what)
{
    char dir[64], target[PATH_MAX];
    struct dirent *e;
    bool found = false;
    DIR *d;

    (void)snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    if (!d)
        return false;
    while (!found && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            fd_target(pid, e->d_name, target, sizeof(target));
            found = strcmp(target, what) == 0;
        }
    (void)closedir(d);
    return found;
}

/* The highest descriptor this process has open. */
static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int high = -1;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        if (atoi(e->d_name) > high)
            high = atoi(e->d_name);
    (void)closedir(d);
    return high;
}

/* The keeper: the one process besides this one holding the pipe of write_end (its read end). Other tests and
 * other runs may have keepers of their own; the pipe tells ours. */
static pid_t find_keeper(int write_end)
{
    char fd[16], pipe[64];
    struct dirent *e;
    pid_t found = 0;
    DIR *d = opendir("/proc");

    (void)snprintf(fd, sizeof(fd), "%d", write_end);
    fd_target(0, fd, pipe, sizeof(pipe));
    ck_assert_msg(strncmp(pipe, "pipe:[", 6) == 0, "fd %d is %s", write_end, pipe);
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid() || !holds(pid, pipe))
            continue;
        ck_assert_msg(found == 0, "two processes hold %s: %d and %d", pipe, (int)found, (int)pid);
        found = pid;
    }
    (void)closedir(d);
    ck_assert_msg(found > 0, "no process holds the read end of %s", pipe);
    return found;
}

/* Wait until the keeper has taken what is in the pipe: then it has set itself up and reads. */
static void wait_pipe_drained(int write_end)
{
    int queued = 1;

    for (int i = 0; i < MAX_TRIES; i++) {
        ck_assert_int_eq(ioctl(write_end, FIONREAD, &queued), 0);
        if (queued == 0)
            return;
        pause_briefly();
    }
    ck_abort_msg("the keeper never read the pipe");
}

/* Whether the directory's lock can be had exclusively now (through a separate open file description). */
static bool lock_free(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

    ck_assert_int_ge(fd, 0);
    ret = flock(fd, LOCK_EX | LOCK_NB);
    ck_assert_msg(ret == 0 || errno == EWOULDBLOCK, "flock: %s", strerror(errno));
    close(fd);
    return ret == 0;
}

/* A workspace-like directory with tmprun's shared lock on it, as keeper_start() gets it. */
static int locked_dir(char *dir, size_t len)
{
    int fd = scratch_dir(dir, len);

    ck_assert_int_eq(flock(fd, LOCK_SH), 0);
    return fd;
}

/* The keeper takes over the lock: while the write end is open, the lock lasts without tmprun's descriptor;
 * data in the pipe does not end it; once the write end is closed, the keeper exits and the lock is free. */
START_TEST(holds_lock_until_write_end_closed)
{
    char dir[PATH_MAX];
    int lock = locked_dir(dir, sizeof(dir)), w = -1;

    ck_assert_int_eq(keeper_start(lock, &w), 0);
    ck_assert_int_ge(w, 0);
    ck_assert_int_eq(fcntl(w, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(close(lock), 0);
    ck_assert(!lock_free(dir));
    ck_assert_int_eq(write(w, "data", 4), 4);
    wait_pipe_drained(w);
    ck_assert(!lock_free(dir));
    ck_assert_int_eq(close(w), 0);
    for (int i = 0; !lock_free(dir); i++) {
        ck_assert_msg(i < MAX_TRIES, "the lock outlived the write end");
        pause_briefly();
    }
}
END_TEST

/* The lock is shared by the keeper and tmprun: either one holding it is enough. */
START_TEST(lock_lasts_while_tmprun_holds_it)
{
    char dir[PATH_MAX];
    int lock = locked_dir(dir, sizeof(dir)), w = -1;
    pid_t keeper;

    ck_assert_int_eq(keeper_start(lock, &w), 0);
    keeper = find_keeper(w);
    ck_assert_int_eq(close(w), 0);
    /* The event: the keeper lets go of the directory (it read EOF and exited). */
    for (int i = 0; holds(keeper, dir); i++) {
        ck_assert_msg(i < MAX_TRIES, "the keeper still holds the directory");
        pause_briefly();
    }
    ck_assert(!lock_free(dir));
    ck_assert_int_eq(close(lock), 0);
    ck_assert(lock_free(dir));
}
END_TEST

/* How the keeper finds the descriptors it is to close. */
enum closing {
    CLOSE_RANGE, /* close_range(2) */
    PROC_LISTED, /* none (Linux < 5.9): what /proc/self/fd lists, more than it reads at once */
    NO_PROC,     /* neither (no /proc either): every number below the descriptor limit */
};

/* The extra descriptors of PROC_LISTED: more than the keeper collects from /proc/self/fd in one pass. */
#define MANY_FDS 300

/* The keeper is nobody's child here (the leftover sweep cannot stop it, waitpid(-1) cannot reap it), even
 * when tmprun is a child subreaper, which it still is afterwards. It is named, in a session of its own, keeps
 * the blocked signals, and holds nothing but /dev/null on 0-2, the lock (same fd number) and the pipe. */
static void check_keeper_process(enum closing how)
{
    char dir[PATH_MAX], fd[16], target[PATH_MAX], ours[PATH_MAX], mask[64], kmask[64], path[64];
    int lock = locked_dir(dir, sizeof(dir)), w = -1, was = -1, n = 0, leak, high, spare[3], many[MANY_FDS];
    sigset_t block;
    pid_t keeper;
    struct dirent *e;
    DIR *d;

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
    /* Not close-on-exec, one between the lock and the pipe, one above every other: the keeper keeps neither. */
    leak = open("/dev/zero", O_RDONLY);
    ck_assert_int_ge(leak, 0);
    /* Free numbers below the high one for the pipe and the keeper's /dev/null, even when every lower number
     * is taken (no hole left by whoever started the test): held while the high one is chosen. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(spare[i] = dup(leak), 0);
    high = highest_fd() + 1;
    ck_assert_int_eq(dup2(leak, high), high);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(close(spare[i]), 0);
    for (int i = 0; i < MANY_FDS; i++)
        many[i] = how == PROC_LISTED ? dup(leak) : -1;
    if (how == NO_PROC) {
        /* The keeper closes every number below the descriptor limit, the last one included. /proc is hidden
         * in a mount namespace of this test's own until the keeper has closed what it closes. */
        struct rlimit rl = {(rlim_t)high + 1, (rlim_t)high + 1};
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mount("tmpfs", "/proc", "tmpfs", 0, "mode=0"), 0);
    }
#ifdef SYS_close_range /* else (glibc < 2.32) keeper.c never calls it: every case is without */
    if (how != CLOSE_RANGE)
        ck_assert_msg(fail_syscall(SYS_close_range, ENOSYS) == 0, "seccomp: %s", strerror(errno));
#endif
    ck_assert_int_eq(keeper_start(lock, &w), 0);
    ck_assert_int_eq(prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0), 0);
    ck_assert_int_eq(was, 1);
    ck_assert_int_eq(write(w, "x", 1), 1);
    wait_pipe_drained(w);
    if (how == NO_PROC)
        ck_assert_int_eq(umount2("/proc", MNT_DETACH), 0);
    keeper = find_keeper(w);

    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_int_ne(getppid(), keeper);
    ck_assert_int_eq(proc_status(keeper, "PPid", target, sizeof(target)), 0);
    ck_assert_int_ne(atoi(target), getpid());
    ck_assert_int_eq(proc_status(keeper, "Name", target, sizeof(target)), 0);
    ck_assert_str_eq(target, "tmprun-keeper");
    ck_assert_int_eq(getsid(keeper), keeper);
    ck_assert_int_eq(proc_status(0, "SigBlk", mask, sizeof(mask)), 0);
    ck_assert_int_eq(proc_status(keeper, "SigBlk", kmask, sizeof(kmask)), 0);
    ck_assert_str_eq(kmask, mask);

    (void)snprintf(fd, sizeof(fd), "%d", lock);
    fd_target(0, fd, ours, sizeof(ours));
    ck_assert_str_eq(ours, dir);
    (void)snprintf(path, sizeof(path), "/proc/%d/fd", (int)keeper);
    d = opendir(path);
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        int num = atoi(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        n++;
        fd_target(keeper, e->d_name, target, sizeof(target));
        if (num <= 2)
            ck_assert_str_eq(target, "/dev/null");
        else if (num == lock)
            ck_assert_str_eq(target, dir);
        else
            ck_assert_msg(strncmp(target, "pipe:[", 6) == 0, "the keeper holds fd %d: %s", num, target);
    }
    closedir(d);
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < MANY_FDS; i++)
        if (many[i] >= 0)
            close(many[i]);
    close(leak);
    close(high);
    close(w);
    close(lock);
}

START_TEST(keeper_process)
{
    check_keeper_process((enum closing)_i);
}
END_TEST

START_TEST(keeper_process_no_proc)
{
    check_keeper_process(NO_PROC);
}
END_TEST

/* keeper_start() cannot start a keeper: the first step that fails is its -errno, *write_end is -1, nothing is
 * left running, and a child subreaper is one again. */
static const struct {
    long nr; /* the system call that fails */
    int err;
} start_failures[] = {
    {SYS_pipe2, EMFILE}, /* the pipe */
    {SYS_prctl, EINVAL}, /* asking whether it is a subreaper */
    {SYS_clone, EAGAIN}, /* the middle process */
};

/* In a child of the test's own: the seccomp filter stays with the process, and a sanitizer's leak check at
 * exit needs clone(2), which one of the failures takes away. */
static int start_fails_child(void *arg)
{
    int i = *(const int *)arg, w = 7, was = -1, lock;
    char dir[PATH_MAX];

    lock = locked_dir(dir, sizeof(dir));
    CHILD_CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
    CHILD_CHECK(fail_syscall(start_failures[i].nr, start_failures[i].err) == 0);
    CHILD_CHECK(keeper_start(lock, &w) == -start_failures[i].err);
    CHILD_CHECK(w == -1);
    CHILD_CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    if (start_failures[i].nr != SYS_prctl)
        CHILD_CHECK(prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) == 0 && was == 1);
    CHILD_CHECK(close(lock) == 0);
    return 0;
}

START_TEST(start_fails)
{
    ck_assert_int_eq(in_child(start_fails_child, &_i), 0);
}
END_TEST

/* As the init of a PID namespace, nothing can outlive it: no keeper, *write_end is -1. */
static int pid1_child(void *arg)
{
    int w = 7, lock, st;
    pid_t pid;

    (void)arg;
    lock = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(lock >= 0);
    CHILD_CHECK(unshare(CLONE_NEWPID) == 0);
    pid = fork();
    CHILD_CHECK(pid >= 0);
    if (pid == 0) {
        /* Nothing was started: no child to reap. The counters of what ran here are written out, as
         * in_child() does. */
        st = getpid() != 1 || keeper_start(lock, &w) != 0 || w != -1 ? 1
             : waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD   ? 0
                                                                     : 2;
        coverage_dump();
        _exit(st);
    }
    CHILD_CHECK(waitpid(pid, &st, 0) == pid);
    CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return 0;
}

START_TEST(none_as_pid_1)
{
    ck_assert_int_eq(in_child(pid1_child, NULL), 0);
}
END_TEST

/* Not a subreaper before: not one after. */
START_TEST(subreaper_unchanged)
{
    char dir[PATH_MAX];
    int lock = locked_dir(dir, sizeof(dir)), w = -1, was = -1;

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
    ck_assert_int_eq(keeper_start(lock, &w), 0);
    ck_assert_int_eq(prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0), 0);
    ck_assert_int_eq(was, 0);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    close(w);
    close(lock);
}
END_TEST

static Suite *keeper_suite(void)
{
    Suite *s = suite_create("keeper");
    TCase *tc = tcase_create("lock");
    /* keeper_start() asks whether tmprun is a child subreaper before anything else. */
    const char *no_subreaper = lacks_subreaper(), *seccomp = lacks_seccomp();

    if (!lacks("holds_lock_until_write_end_closed", no_subreaper))
        tcase_add_test(tc, holds_lock_until_write_end_closed);
    if (!lacks("lock_lasts_while_tmprun_holds_it", no_subreaper))
        tcase_add_test(tc, lock_lasts_while_tmprun_holds_it);
    suite_add_tcase(s, tc);
    tc = tcase_create("process");
    /* With close_range(2), and without (with /proc, and as root without it too): a seccomp filter makes it
     * fail. */
    if (!lacks("keeper_process", no_subreaper))
        tcase_add_loop_test(tc, keeper_process, CLOSE_RANGE,
                            lacks("keeper_process:1", seccomp) ? PROC_LISTED : PROC_LISTED + 1);
    if (!lacks("keeper_process_no_proc", no_subreaper) && !lacks("keeper_process_no_proc", seccomp))
        tcase_add_root_test(tc, keeper_process_no_proc);
    if (!lacks("start_fails", no_subreaper) && !lacks("start_fails", seccomp))
        tcase_add_loop_test(tc, start_fails, 0, (int)ARRAY_SIZE(start_failures));
    if (!lacks("subreaper_unchanged", no_subreaper))
        tcase_add_test(tc, subreaper_unchanged);
    tcase_add_root_test(tc, none_as_pid_1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(keeper_suite());
}
