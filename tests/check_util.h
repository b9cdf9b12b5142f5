/* Shared helpers for the Check suites: small trees in a scratch directory, checks in a forked child, and what
 * a test or its child prints, caught. */
#ifndef TMPRUN_CHECK_UTIL_H
#define TMPRUN_CHECK_UTIL_H

#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* The suite's scratch root, made by run_suite() and removed when it ends. */
static char scratch_root[] = "/tmp/tmprun-check.XXXXXX";

/* A fresh directory under the scratch root, opened; the path goes to path (size PATH_MAX). */
static inline int scratch_dir(char *path, size_t len)
{
    int fd;

    (void)snprintf(path, len, "%s/t.XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(path));
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static inline void make_dir(int dfd, const char *name, mode_t mode)
{
    ck_assert_msg(mkdirat(dfd, name, 0700) == 0, "mkdir %s: %m", name);
    ck_assert_msg(fchmodat(dfd, name, mode, 0) == 0, "chmod %s: %m", name);
}

static inline void make_file(int dfd, const char *name, const char *content, mode_t mode)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    ck_assert_msg(fd >= 0, "create %s: %m", name);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(close(fd), 0);
}

static inline int count_entries(int dfd)
{
    int n = 0, fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Run fn(arg) in a forked child and return its exit status. For what must not touch the test process
 * (namespaces, credentials, capabilities) and for what a test could not undo. The child must not use
 * ck_assert (a failure there would be reported by a process Check does not wait for): it checks with
 * CHILD_CHECK and reports through its exit status. It ends with _exit(2) after writing out stdio and, in a
 * coverage build, its counters: LeakSanitizer's exit-time check cannot run where some children end (without
 * /proc, in a PID namespace whose init is gone) and would turn their status into an abort. */
static inline int in_child(int (*fn)(void *), void *arg)
{
    pid_t pid;
    int st;

    (void)fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        st = fn(arg);
        (void)fflush(NULL);
        /* A child that switched to another user cannot write this test program's counters (only tmprun's are
         * opened to others, by make coverage): it keeps quiet rather than complain on stderr. */
        if (geteuid() == 0)
            coverage_dump();
        _exit(st);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "the child died of signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

/* In an in_child() function: if cond is false, say which check failed on stderr and exit 1. */
#define CHILD_CHECK(cond)                                                                                      \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            int child_errno_ = errno;                                                                          \
            (void)fprintf(stderr, "%s:%d: in the child: %s is false (errno %s)\n", __FILE__, __LINE__, #cond,  \
                          strerror(child_errno_));                                                             \
            return 1;                                                                                          \
        }                                                                                                      \
    } while (0)

/* What a test writes to an fd (stdout, stderr), its children included, caught in a memfd. */
struct capture {
    int fd;    /* the fd being captured */
    int saved; /* a copy of what it was */
    int mem;
};

static inline void capture_start(struct capture *c, int fd)
{
    (void)fflush(NULL);
    c->fd = fd;
    c->mem = memfd_create("capture", MFD_CLOEXEC);
    ck_assert_int_ge(c->mem, 0);
    c->saved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_eq(dup2(c->mem, fd), fd);
}

/* Restore the fd; what was written to it, NUL-terminated (free it). */
static inline char *capture_end(struct capture *c)
{
    struct stat st;
    char *text;

    (void)fflush(NULL);
    ck_assert_int_eq(dup2(c->saved, c->fd), c->fd);
    (void)close(c->saved);
    ck_assert_int_eq(fstat(c->mem, &st), 0);
    text = calloc(1, (size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(pread(c->mem, text, (size_t)st.st_size, 0), st.st_size);
    (void)close(c->mem);
    return text;
}

/* capture_end(), and what was written is exactly want. */
static inline void capture_expect(struct capture *c, const char *want)
{
    char *text = capture_end(c);

    ck_assert_str_eq(text, want);
    free(text);
}

/* What was written on stdout and stderr (output_free() it). */
struct output {
    char *out;
    char *err;
};

/* Both caught at once: output_start(), then what is to be caught, then output_end(). */
struct output_capture {
    struct capture out, err;
};

static inline void output_start(struct output_capture *c)
{
    capture_start(&c->out, STDOUT_FILENO);
    capture_start(&c->err, STDERR_FILENO);
}

static inline void output_end(struct output_capture *c, struct output *o)
{
    o->err = capture_end(&c->err);
    o->out = capture_end(&c->out);
}

/* in_child(), with what the child writes on stdout and stderr caught in *o. A failed CHILD_CHECK says why on
 * stderr: report o->err with a bad status. */
static inline int in_child_output(int (*fn)(void *), void *arg, struct output *o)
{
    struct output_capture c;
    int st;

    output_start(&c);
    st = in_child(fn, arg);
    output_end(&c, o);
    return st;
}

static inline void output_free(struct output *o)
{
    free(o->out);
    free(o->err);
}

/* The value of "key:" in /proc/PID/status (pid 0: this process), blanks trimmed, in out; 0 or -1. No
 * ck_assert: children use it too. */
static inline int proc_status(pid_t pid, const char *key, char *out, size_t len)
{
    char path[64], line[512];
    size_t klen = strlen(key);
    FILE *f;
    int ret = -1;

    if (pid == 0)
        (void)snprintf(path, sizeof(path), "/proc/self/status");
    else
        (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    while (ret < 0 && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            (void)snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
            out[strcspn(out, "\n")] = '\0';
            ret = 0;
        }
    (void)fclose(f);
    return ret;
}

/* Clear cap from this process's effective and permitted sets (in a child: it cannot come back); 0 or -1. */
static inline int lose_cap(cap_value_t cap)
{
    cap_t c = cap_get_proc();
    int ret;

    if (!c)
        return -1;
    ret = cap_set_flag(c, CAP_EFFECTIVE, 1, &cap, CAP_CLEAR) == 0 &&
                  cap_set_flag(c, CAP_PERMITTED, 1, &cap, CAP_CLEAR) == 0 && cap_set_proc(c) == 0
              ? 0
              : -1;
    (void)cap_free(c);
    return ret;
}

#if defined(__x86_64__)
#define CHECK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CHECK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* From now on, system call nr fails with err in this process and what it starts (a seccomp(2) filter, as
 * tests/inject.c sets for the end-to-end tests): the way to walk the paths written for kernels, libcs or
 * sandboxes that lack a call. Sets no_new_privs, so only in a process of the test's own (Check forks one per
 * test) or an in_child() child. 0, or -1 with errno (ENOSYS: an architecture this helper does not know). */
static inline int fail_syscall(long nr, int err)
{
#ifdef CHECK_AUDIT_ARCH
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CHECK_AUDIT_ARCH, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
#else
    (void)nr;
    (void)err;
    errno = ENOSYS;
    return -1;
#endif
}

/* What the system running the tests lacks, found by a probe run once, for the tests that need it. The arm64
 * gate runs the unit suites under qemu-user (qemu-aarch64-static), which refuses or does not emulate some
 * calls; each probe looks for exactly that answer and returns why the tests cannot run, or NULL where the call
 * works, as on every kernel CI's native gates run (Linux >= 3.5, seccomp filters built in): there nothing
 * skips, and any other failure of the call is left to fail the tests that use it. */

/* Seccomp filters, which fail_syscall() installs: qemu-user refuses PR_SET_SECCOMP with EINVAL (its prctl(2)
 * emulation keeps the guest from disabling calls qemu itself needs). Probed with a filter that allows all, in
 * a child of its own (no_new_privs and a filter cannot be undone). */
static inline const char *lacks_seccomp(void)
{
    static int probed = -1; /* -1: not yet; else the child's status: 0 works, 1 EINVAL, 2 another failure */

    if (probed < 0) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog fprog = {.len = 1, .filter = &allow};
        pid_t pid;
        int st;

        (void)fflush(NULL);
        pid = fork();
        if (pid == 0) {
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(2);
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
                _exit(errno == EINVAL ? 1 : 2);
            _exit(0);
        }
        probed = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 2;
    }
    return probed == 1 ? "prctl(PR_SET_SECCOMP) fails with EINVAL (qemu-user refuses seccomp filters)" : NULL;
}

/* Child subreapers: qemu-user 7.2 does not emulate PR_GET_CHILD_SUBREAPER and PR_SET_CHILD_SUBREAPER (EINVAL
 * for an option it does not know). Reading the flag changes nothing. */
static inline const char *lacks_subreaper(void)
{
    int was = 0;

    if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) < 0 && errno == EINVAL)
        return "prctl(PR_GET_CHILD_SUBREAPER) fails with EINVAL (qemu-user does not emulate child subreapers)";
    return NULL;
}

/* If why is not NULL (a probe above found the gap), name the test as skipped, with the reason, and return
 * true: the caller does not register it. The suite's status is that of the tests that ran; the gate that runs
 * the suites under qemu-user lists these lines. */
static inline bool lacks(const char *test, const char *why)
{
    if (why)
        (void)printf("SKIP: %s: %s\n", test, why);
    return why != NULL;
}

/* Tests that need root (to give files away, mount, switch users) are registered only as root; as another
 * user each is named as skipped and the suite exits 77, which the test driver reports as SKIP. As root,
 * nothing is skipped. */
static int check_skipped;

/* true as root; else name test as skipped and count it: the caller does not register it. */
static inline bool needs_root(const char *test)
{
    if (geteuid() == 0)
        return true;
    (void)printf("SKIP: %s: needs root\n", test);
    check_skipped++;
    return false;
}

#define tcase_add_root_test(tc, fn)                                                                            \
    do {                                                                                                       \
        if (needs_root(#fn))                                                                                   \
            tcase_add_test(tc, fn);                                                                            \
    } while (0)

/* Run the suite; exit status for the test driver (77: passed, but some tests needed root). */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    char cmd[sizeof(scratch_root) + 64];
    int failed;

    if (!mkdtemp(scratch_root)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* Tests leave 000 directories and mounts in private namespaces only; plain rm suffices after a chmod. */
    (void)snprintf(cmd, sizeof(cmd), "chmod -R u+rwX %s; rm -rf %s", scratch_root, scratch_root);
    if (system(cmd) != 0)
        failed++;
    if (failed > 0)
        return EXIT_FAILURE;
    return check_skipped > 0 ? 77 : EXIT_SUCCESS;
}

#endif
