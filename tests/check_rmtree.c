#include "config.h"

#include "rmtree.h"

#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "util.h"

/* The unprivileged identity the permission tests run as: root would not need any chmod. */
#define NOBODY 65534

/* The loop tests run once per thread count, whatever the number of CPUs. */
static const unsigned thread_counts[] = {1, 2, 3, 4};

static void become_nobody(void)
{
    ck_assert_int_eq(setgroups(0, NULL), 0);
    ck_assert_int_eq(setresgid(NOBODY, NOBODY, NOBODY), 0);
    ck_assert_int_eq(setresuid(NOBODY, NOBODY, NOBODY), 0);
}

/* Show what failed: a bare status says little when a removal test breaks. */
static void dump_errors(const struct rmtree_result *r)
{
    for (size_t i = 0; i < r->nreported; i++)
        fprintf(stderr, "  error: %s: %s\n", r->errors[i].path, strerror(-r->errors[i].err));
}

/* A private mount namespace for this (forked) test, so its mounts vanish with it. */
static void private_mounts(void)
{
    ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
}

static void chown_tree(const char *path)
{
    char cmd[PATH_MAX + 64];

    (void)snprintf(cmd, sizeof(cmd), "chown -R %d:%d %s", NOBODY, NOBODY, path);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(removes_nested_tree)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.count_bytes = true, .threads = thread_counts[_i]};
    struct rmtree_result r = {0};

    make_dir(dfd, "a", 0700);
    make_dir(dfd, "a/b", 0700);
    make_dir(dfd, "a/empty", 0700);
    make_file(dfd, "a/b/f", "12345", 0600);
    make_file(dfd, "top", "abc", 0600);
    ck_assert_int_eq(symlinkat("a/b/f", dfd, "a/link"), 0);
    ck_assert_int_eq(mkfifoat(dfd, "a/fifo", 0600), 0);
    ck_assert_int_eq(rmtree_contents(dfd, &o, &r), 0);
    ck_assert_uint_eq(r.entries, 7);
    ck_assert_uint_eq(r.bytes, 5 + 3 + strlen("a/b/f"));
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    rmtree_result_free(&r);
}
END_TEST

/* Leave exactly n fds free below a limit of 64 by filling the table with dup()s. */
static void leave_free_fds(int n)
{
    struct rlimit rl = {64, 64};
    int fds[64], nfds = 0, fd;

    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    while ((fd = dup(0)) >= 0)
        fds[nfds++] = fd;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_ge(nfds, n);
    while (n-- > 0)
        ck_assert_int_eq(close(fds[--nfds]), 0);
}

START_TEST(unreadable_and_readonly_dirs_as_owner)
{
    /* chmod 000 and Go's 0555/0444 module cache, removed by their unprivileged owner; the second time with
     * only 2 fds left, although an unreadable directory is entered through an O_PATH fd first. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_result r = {0};

    make_dir(dfd, "locked", 0700);
    make_file(dfd, "locked/secret", "s", 0600);
    make_dir(dfd, "locked/deeper", 0700);
    make_file(dfd, "locked/deeper/f", "s", 0600);
    ck_assert_int_eq(fchmodat(dfd, "locked/deeper", 0, 0), 0);
    ck_assert_int_eq(fchmodat(dfd, "locked", 0, 0), 0);
    make_dir(dfd, "mod", 0700);
    make_dir(dfd, "mod/pkg@v1", 0700);
    make_file(dfd, "mod/pkg@v1/go.mod", "module x", 0444);
    ck_assert_int_eq(fchmodat(dfd, "mod/pkg@v1", 0555, 0), 0);
    ck_assert_int_eq(fchmodat(dfd, "mod", 0555, 0), 0);
    chown_tree(dir);
    become_nobody();
    if (_i == 1)
        leave_free_fds(2);
    ck_assert_int_eq(rmtree_contents(dfd, NULL, &r), 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    rmtree_result_free(&r);
}
END_TEST

START_TEST(foreign_dirs_not_chmodded)
{
    /* A directory owned by someone else is never chmodded, only reported. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_result r = {0};
    struct stat st;

    make_dir(dfd, "theirs", 0755);
    make_file(dfd, "theirs/f", "x", 0644);
    chown_tree(dir);
    ck_assert_int_eq(fchownat(dfd, "theirs", 0, 0, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(fchownat(dfd, "theirs/f", 0, 0, AT_SYMLINK_NOFOLLOW), 0);
    make_file(dfd, "mine", "x", 0644);
    ck_assert_int_eq(fchownat(dfd, "mine", NOBODY, NOBODY, 0), 0);
    become_nobody();
    ck_assert_int_eq(rmtree_contents(dfd, NULL, &r), -EACCES);
    ck_assert_uint_eq(r.nerrors, 1);
    ck_assert_str_eq(r.errors[0].path, "theirs/f");
    ck_assert_int_eq(fstatat(dfd, "theirs", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755);
    ck_assert_int_eq(faccessat(dfd, "mine", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    rmtree_result_free(&r);
}
END_TEST

/* dfd/outside: what symlinks and hard links in a tree point at, which a removal must leave as it was. */
static void make_outside(int dfd)
{
    make_dir(dfd, "outside", 0700);
    make_file(dfd, "outside/precious", "keep", 0400);
    make_dir(dfd, "outside/sub", 0500);
}

static void assert_outside_intact(int dfd)
{
    int out = openat(dfd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;

    ck_assert_int_eq(count_entries(out), 2);
    ck_assert_int_eq(fstatat(out, "precious", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0400);
    ck_assert_uint_eq(st.st_nlink, 1);
    ck_assert_int_eq(fstatat(out, "sub", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0500);
    close(out);
}

START_TEST(symlinks_not_followed)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), tree;
    struct rmtree_opts o = {.threads = thread_counts[_i]};
    struct rmtree_result r = {0};

    make_outside(dfd);
    make_dir(dfd, "tree", 0700);
    tree = openat(dfd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree, 0);
    ck_assert_int_eq(symlinkat("../outside", tree, "dirlink"), 0);
    ck_assert_int_eq(symlinkat("../outside/precious", tree, "filelink"), 0);
    ck_assert_int_eq(linkat(dfd, "outside/precious", tree, "hardlink", 0), 0);
    make_dir(tree, "ro", 0700);
    ck_assert_int_eq(linkat(dfd, "outside/precious", tree, "ro/hard2", 0), 0);
    ck_assert_int_eq(fchmodat(tree, "ro", 0555, 0), 0);
    for (int i = 0; i < 4; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "w%d", i);
        make_dir(tree, name, 0700);
        (void)snprintf(name, sizeof(name), "w%d/up", i);
        ck_assert_int_eq(symlinkat("../../outside", tree, name), 0);
    }
    ck_assert_int_eq(rmtree_contents(tree, &o, &r), 0);
    ck_assert_int_eq(count_entries(tree), 0);
    /* Five subdirectories at the top: a parallel region with every thread asked for, whatever the host. */
    ck_assert_uint_eq(r.threads, o.threads);
    assert_outside_intact(dfd);
    close(tree);
    rmtree_result_free(&r);
}
END_TEST

static void make_chain(int dfd, int depth)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    for (int i = 0; i < depth; i++) {
        int next;
        ck_assert_int_eq(mkdirat(fd, "d", 0700), 0);
        next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(next, 0);
        if (i % 1000 == 0)
            make_file(fd, "f", "x", 0600);
        close(fd);
        fd = next;
    }
    close(fd);
}

START_TEST(deep_chain_bounded_fds)
{
    /* 20,000 levels: paths far beyond PATH_MAX, where Python 3.11's rmtree hits RecursionError. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.threads = thread_counts[_i]};
    struct rmtree_result r = {0};
    struct rlimit rl = {24, 24};

    make_chain(dfd, 20000);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(rmtree_contents(dfd, &o, &r), 0);
    ck_assert_uint_eq(r.entries, 20000 + 20);
    ck_assert_uint_le(r.max_fds, 8);
    ck_assert_int_eq(count_entries(dfd), 0);
    rmtree_result_free(&r);
}
END_TEST

/* Until killed: swap tree/dN (N < 20) for a symlink to outside and back, and plant symlinks to outside in
 * them, as fast as possible; a removal that followed a symlink or resolved a path again would reach outside.
 * Writes one byte to ready once started. */
static void race_symlinks(int tree, const char *outside, int ready)
{
    char d[32], moved[32], s[40];

    ck_assert_int_eq(write(ready, "r", 1), 1);
    for (unsigned i = 0;; i++) {
        (void)snprintf(d, sizeof(d), "d%u", i % 20);
        (void)snprintf(moved, sizeof(moved), "d%u.moved", i % 20);
        (void)snprintf(s, sizeof(s), "d%u/s", i % 20);
        if (renameat(tree, d, tree, moved) == 0) {
            (void)symlinkat(outside, tree, d);
            (void)unlinkat(tree, d, 0);
            (void)renameat(tree, moved, tree, d);
        }
        (void)symlinkat(outside, tree, s);
    }
}

START_TEST(racer_swapping_symlinks)
{
    /* The CLI's symlink race (e2e-removal.sh) with 1, 2 and 4 threads whatever the host: 5 rounds, and the
     * outside directory must stay exactly as it was (contents, modes, link counts). */
    char dir[PATH_MAX], outside[PATH_MAX + 16], name[32];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.threads = thread_counts[_i]};

    (void)snprintf(outside, sizeof(outside), "%s/outside", dir);
    make_outside(dfd);
    make_dir(dfd, "tree", 0700);
    for (int round = 0; round < 5; round++) {
        int tree = openat(dfd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC), pipefd[2];
        struct rmtree_result r = {0};
        char c;
        pid_t racer;

        for (int i = 0; i < 20; i++) {
            for (int j = 0; j < 10; j++) {
                (void)snprintf(name, sizeof(name), "d%d", i);
                (void)mkdirat(tree, name, 0700);
                (void)snprintf(name, sizeof(name), "d%d/e%d", i, j);
                make_dir(tree, name, 0700);
                (void)snprintf(name, sizeof(name), "d%d/e%d/f", i, j);
                make_file(tree, name, "x", 0600);
            }
        }
        ck_assert_int_eq(pipe(pipefd), 0);
        racer = fork();
        ck_assert_int_ge(racer, 0);
        if (racer == 0) {
            race_symlinks(tree, outside, pipefd[1]);
            _exit(0);
        }
        ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
        (void)rmtree_contents(tree, &o, &r);
        ck_assert_int_eq(kill(racer, SIGKILL), 0);
        ck_assert_int_eq(waitpid(racer, NULL, 0), racer);
        /* What the racer left (a renamed directory, a symlink) goes once it has stopped. */
        rmtree_result_free(&r);
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(rmtree_contents(tree, &o, &r), 0);
        ck_assert_int_eq(count_entries(tree), 0);
        rmtree_result_free(&r);
        close(tree);
        close(pipefd[0]);
        close(pipefd[1]);
    }
    assert_outside_intact(dfd);
}
END_TEST

START_TEST(mount_points_not_crossed)
{
    char dir[PATH_MAX], src[PATH_MAX + 16], dst[PATH_MAX + 16];
    int dfd, tree, ret;
    struct rmtree_opts o = {.threads = thread_counts[_i]};
    struct rmtree_result r = {0};

    /* Before any fd is opened: lookups through an fd opened earlier would see the old namespace's mounts. */
    private_mounts();
    dfd = scratch_dir(dir, sizeof(dir));
    make_dir(dfd, "outside", 0700);
    make_file(dfd, "outside/precious", "keep", 0600);
    make_dir(dfd, "tree", 0700);
    make_dir(dfd, "tree/sub", 0700);
    make_dir(dfd, "tree/sub/bind", 0700);
    make_dir(dfd, "tree/tmp", 0700);
    make_file(dfd, "tree/sub/other", "x", 0600);
    (void)snprintf(src, sizeof(src), "%s/outside", dir);
    (void)snprintf(dst, sizeof(dst), "%s/tree/sub/bind", dir);
    ck_assert_int_eq(mount(src, dst, NULL, MS_BIND, NULL), 0);
    (void)snprintf(dst, sizeof(dst), "%s/tree/tmp", dir);
    ck_assert_int_eq(mount("tmpfs", dst, "tmpfs", 0, "size=1M"), 0);
    tree = openat(dfd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ret = rmtree_contents(tree, &o, &r);
    dump_errors(&r);
    ck_assert_int_eq(ret, -EXDEV);
    ck_assert_uint_eq(r.nerrors, 2);
    ck_assert_int_eq(r.errors[0].err, -EXDEV);
    ck_assert_int_eq(r.errors[1].err, -EXDEV);
    ck_assert(strcmp(r.errors[0].path, "sub/bind") == 0 || strcmp(r.errors[1].path, "sub/bind") == 0);
    ck_assert(strcmp(r.errors[0].path, "tmp") == 0 || strcmp(r.errors[1].path, "tmp") == 0);
    ck_assert_int_eq(faccessat(dfd, "outside/precious", F_OK, 0), 0);
    ck_assert_int_eq(faccessat(dfd, "tree/sub/other", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    close(tree);
    rmtree_result_free(&r);
}
END_TEST

START_TEST(errors_capped_and_rest_removed)
{
    char dir[PATH_MAX], dst[PATH_MAX + 32];
    int dfd;
    struct rmtree_result r = {0};

    private_mounts();
    dfd = scratch_dir(dir, sizeof(dir));
    for (int i = 0; i < 15; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "m%02d", i);
        make_dir(dfd, name, 0700);
        (void)snprintf(dst, sizeof(dst), "%s/%s", dir, name);
        ck_assert_int_eq(mount("tmpfs", dst, "tmpfs", 0, "size=64k"), 0);
        (void)snprintf(name, sizeof(name), "f%02d", i);
        make_file(dfd, name, "x", 0600);
    }
    ck_assert_int_eq(rmtree_contents(dfd, NULL, &r), -EXDEV);
    ck_assert_uint_eq(r.nerrors, 15);
    ck_assert_uint_eq(r.nreported, RMTREE_MAX_REPORTED);
    ck_assert_uint_eq(r.entries, 15);
    ck_assert_int_eq(count_entries(dfd), 15);
    rmtree_result_free(&r);
}
END_TEST

/* nwide nobody-owned directories wI in the nobody-owned dir, each with a file of nobody's and a root-owned 0755
 * directory wI/root holding a root-owned file, as COMMAND running as nobody can make them by moving in a
 * directory of its own that it cannot empty. */
static void make_owner_tree(int dfd, const char *dir, int nwide)
{
    char name[32];

    for (int i = 0; i < nwide; i++) {
        (void)snprintf(name, sizeof(name), "w%d", i);
        make_dir(dfd, name, 0700);
        (void)snprintf(name, sizeof(name), "w%d/mine", i);
        make_file(dfd, name, "x", 0600);
        (void)snprintf(name, sizeof(name), "w%d/root", i);
        make_dir(dfd, name, 0755);
    }
    chown_tree(dir);
    for (int i = 0; i < nwide; i++) {
        (void)snprintf(name, sizeof(name), "w%d/root", i);
        ck_assert_int_eq(fchownat(dfd, name, 0, 0, AT_SYMLINK_NOFOLLOW), 0);
        (void)snprintf(name, sizeof(name), "w%d/root/f", i);
        make_file(dfd, name, "root's", 0644);
    }
}

START_TEST(removes_with_owners_rights)
{
    /* Root removing nobody's tree as nobody: root's file in root's 0755 directory stays, as it would for
     * nobody; 8 subdirectories have the workers, each under nobody's identity, remove them; one subdirectory
     * stays on the calling thread. */
    int nwide = _i == 0 ? 1 : 8;
    char dir[PATH_MAX], name[32];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.threads = thread_counts[_i > 0 ? _i - 1 : 0],
                            .as_owner = true,
                            .owner_uid = NOBODY,
                            .owner_gid = NOBODY};
    struct rmtree_result r = {0};
    int ret;

    make_owner_tree(dfd, dir, nwide);
    ret = rmtree_contents(dfd, &o, &r);
    dump_errors(&r);
    ck_assert_int_eq(ret, -EACCES);
    ck_assert_uint_eq(r.nerrors, nwide);
    for (size_t i = 0; i < r.nreported; i++) {
        ck_assert_int_eq(r.errors[i].err, -EACCES);
        ck_assert_ptr_nonnull(strstr(r.errors[i].path, "/root/f"));
    }
    for (int i = 0; i < nwide; i++) {
        (void)snprintf(name, sizeof(name), "w%d/root/f", i);
        ck_assert_int_eq(faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW), 0);
        (void)snprintf(name, sizeof(name), "w%d/mine", i);
        ck_assert_int_eq(faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW), -1);
    }
    /* The calling thread is root again, capabilities and all: without as_owner the rest goes. */
    ck_assert_int_eq(setfsuid((uid_t)-1), 0);
    ck_assert_int_eq(setfsgid((gid_t)-1), 0);
    rmtree_result_free(&r);
    memset(&r, 0, sizeof(r));
    o.as_owner = false;
    ck_assert_int_eq(rmtree_contents(dfd, &o, &r), 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    rmtree_result_free(&r);
}
END_TEST

START_TEST(owner_dirs_chmodded_as_owner)
{
    /* Root removing as nobody gets into nobody's 0000 and 0555 directories (chmod through the fd, under
     * nobody's fsuid) but never chmods root's own 0500 one, which root itself would have entered. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.as_owner = true, .owner_uid = NOBODY, .owner_gid = NOBODY};
    struct rmtree_result r = {0};
    struct stat st;

    make_dir(dfd, "locked", 0700);
    make_file(dfd, "locked/f", "s", 0600);
    make_dir(dfd, "ro", 0700);
    make_file(dfd, "ro/f", "s", 0600);
    make_dir(dfd, "roots", 0700);
    make_file(dfd, "roots/f", "s", 0600);
    chown_tree(dir);
    ck_assert_int_eq(fchownat(dfd, "roots", 0, 0, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(fchmodat(dfd, "roots", 0500, 0), 0);
    ck_assert_int_eq(fchmodat(dfd, "locked", 0, 0), 0);
    ck_assert_int_eq(fchmodat(dfd, "ro", 0555, 0), 0);
    ck_assert_int_eq(rmtree_contents(dfd, &o, &r), -EACCES);
    ck_assert_uint_eq(r.nerrors, 1);
    ck_assert_int_eq(fstatat(dfd, "roots", &st, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0500);
    ck_assert_int_eq(count_entries(dfd), 1);
    rmtree_result_free(&r);
}
END_TEST

START_TEST(creds_enter_and_leave)
{
    struct rmtree_creds saved;
    gid_t groups[] = {1, 2};

    ck_assert_int_eq(setgroups(2, groups), 0);
    ck_assert_int_eq(rmtree_creds_enter(NOBODY, NOBODY, &saved), 0);
    ck_assert_int_eq(setfsuid((uid_t)-1), NOBODY);
    ck_assert_int_eq(setfsgid((gid_t)-1), NOBODY);
    ck_assert_int_eq(getgroups(0, NULL), 0);
    rmtree_creds_leave(&saved);
    ck_assert_int_eq(setfsuid((uid_t)-1), 0);
    ck_assert_int_eq(setfsgid((gid_t)-1), 0);
    ck_assert_int_eq(getgroups(2, groups), 2);
    ck_assert_int_eq(groups[0] + groups[1], 3);
    ck_assert_ptr_null(saved.groups);
    /* Unprivileged with the groups it was given: its own identity needs no privilege and changes nothing. */
    ck_assert_int_eq(setresgid(NOBODY, NOBODY, NOBODY), 0);
    ck_assert_int_eq(setresuid(NOBODY, NOBODY, NOBODY), 0);
    ck_assert_int_eq(rmtree_creds_enter(NOBODY, NOBODY, &saved), 0);
    ck_assert(!saved.changed);
    ck_assert_int_eq(getgroups(0, NULL), 2);
    rmtree_creds_leave(&saved);
    ck_assert_int_eq(rmtree_creds_enter(0, 0, &saved), -EPERM);
    ck_assert_int_eq(setfsuid((uid_t)-1), NOBODY);
    ck_assert_int_eq(setfsgid((gid_t)-1), NOBODY);
}
END_TEST

/* rmtree_creds_enter() as root without what a change needs: refused with -EPERM, and nothing changed (fsuid,
 * fsgid, groups); with nothing to change (no groups, the same ids), 0 without a change. */
static const struct creds_case {
    int ngroups;      /* supplementary groups: 0, or 1 and 2 */
    cap_value_t lose; /* the capability taken away first */
    uid_t uid;        /* what is entered */
    int want;         /* what rmtree_creds_enter() returns */
} creds_cases[] = {
    {0, CAP_SETGID, NOBODY, -EPERM}, /* the fsgid */
    {2, CAP_SETGID, NOBODY, -EPERM}, /* the groups */
    {2, CAP_SETUID, NOBODY, -EPERM}, /* the fsuid, after the fsgid and the groups */
    {0, CAP_SETUID, 0, 0},           /* root's own ids, no groups */
};

static int creds_child(void *arg)
{
    const struct creds_case *c = &creds_cases[*(int *)arg];
    gid_t groups[] = {1, 2};
    struct rmtree_creds saved;

    CHILD_CHECK(setgroups((size_t)c->ngroups, groups) == 0);
    CHILD_CHECK(lose_cap(c->lose) == 0);
    CHILD_CHECK(rmtree_creds_enter(c->uid, c->uid, &saved) == c->want);
    CHILD_CHECK(!saved.changed && !saved.groups);
    CHILD_CHECK(setfsuid((uid_t)-1) == 0 && setfsgid((gid_t)-1) == 0);
    CHILD_CHECK(getgroups(0, NULL) == c->ngroups);
    return 0;
}

START_TEST(creds_enter_refused)
{
    ck_assert_int_eq(in_child(creds_child, &_i), 0);
}
END_TEST

/* 8 directories with 9-level chains and files at every level, removed with threads asked for and only 2 fds
 * left: one thread keeping one level open (tmprun under ulimit -n 8 has about that many). */
static void remove_with_few_fds(unsigned threads)
{
    char dir[PATH_MAX], path[64];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct rmtree_opts o = {.threads = threads};
    struct rmtree_result r = {0};
    int ret;

    for (int i = 0; i < 8; i++) {
        (void)snprintf(path, sizeof(path), "w%d", i);
        for (int d = 0; d < 9; d++) {
            make_dir(dfd, path, 0700);
            (void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "/f");
            make_file(dfd, path, "x", 0600);
            path[strlen(path) - 1] = 'd';
        }
    }
    leave_free_fds(2);
    ret = rmtree_contents(dfd, &o, &r);
    dump_errors(&r);
    ck_assert_int_eq(ret, 0);
    ck_assert_uint_le(r.max_fds, 3);
    ck_assert_int_eq(count_entries(dfd), 0);
    rmtree_result_free(&r);
}

START_TEST(few_fds_left)
{
    remove_with_few_fds(thread_counts[_i]);
}
END_TEST

/* Where statx(2) gives no mount id (Linux < 5.8, qemu-user 7.2), vetting a directory takes no descriptor of
 * its own either (name_to_handle_at(2), not /proc/self/fdinfo): the walk still fits into two. */
START_TEST(few_fds_left_without_statx)
{
    ck_assert_msg(fail_syscall(SYS_statx, ENOSYS) == 0, "seccomp: %s", strerror(errno));
    remove_with_few_fds(1);
}
END_TEST

/* The tree rmtree_count() is tried on: 4 directories, 3 files of 5 + 3 + 4096 bytes, a FIFO and 2 symlinks
 * (whose st_size is their target's length) to a directory outside holding 100 files, which must not be counted.
 * With locked set, locked/ is a 0000 directory holding one more file. Returns tree/, opened. */
static int make_count_tree(int dfd, bool locked)
{
    static char page[4097];

    make_dir(dfd, "outside", 0700);
    for (int i = 0; i < 100; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "outside/f%d", i);
        make_file(dfd, name, "x", 0600);
    }
    make_dir(dfd, "tree", 0700);
    make_dir(dfd, "tree/a", 0700);
    make_dir(dfd, "tree/a/b", 0755);
    make_dir(dfd, "tree/empty", 0700);
    make_dir(dfd, "tree/mnt", 0700);
    make_file(dfd, "tree/a/b/f", "12345", 0600);
    make_file(dfd, "tree/top", "abc", 0600);
    memset(page, 'p', sizeof(page) - 1);
    make_file(dfd, "tree/a/page", page, 0400);
    ck_assert_int_eq(mkfifoat(dfd, "tree/a/fifo", 0600), 0);
    ck_assert_int_eq(symlinkat("../../outside", dfd, "tree/a/out"), 0);
    ck_assert_int_eq(symlinkat("../outside/f1", dfd, "tree/file"), 0);
    if (locked) {
        make_dir(dfd, "tree/locked", 0700);
        make_file(dfd, "tree/locked/secret", "s", 0600);
        ck_assert_int_eq(fchmodat(dfd, "tree/locked", 0, 0), 0);
    }
    return openat(dfd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The 0000 directory was left as it was, never chmodded to look inside. */
static void assert_still_locked(int dfd)
{
    struct stat st;

    ck_assert_int_eq(fstatat(dfd, "tree/locked", &st, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0);
}

#define COUNT_ENTRIES 10
#define COUNT_BYTES (5 + 3 + 4096 + strlen("../../outside") + strlen("../outside/f1"))

START_TEST(count_reads_only)
{
    /* Counted twice: the counts do not change, nothing was removed, and the 0000 directory root reads through
     * its DAC override keeps its mode. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), tree = make_count_tree(dfd, true);
    struct rmtree_result r = {0};

    for (int pass = 0; pass < 2; pass++) {
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(rmtree_count(tree, NULL, &r), 0);
        ck_assert_uint_eq(r.entries, COUNT_ENTRIES + 2);
        ck_assert_uint_eq(r.bytes, COUNT_BYTES + 1);
        ck_assert_uint_eq(r.nerrors, 0);
        ck_assert_uint_le(r.max_fds, 8);
        rmtree_result_free(&r);
    }
    assert_still_locked(dfd);
    ck_assert_int_eq(count_entries(tree), 6);
    ck_assert_int_eq(faccessat(dfd, "outside/f99", F_OK, 0), 0);
    close(tree);
}
END_TEST

START_TEST(count_unreadable_dir_reported)
{
    /* The owner's own 0000 directory: counted as one entry and reported, never chmodded to look inside. */
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), tree = make_count_tree(dfd, true);
    struct rmtree_result r = {0};

    chown_tree(dir);
    become_nobody();
    ck_assert_int_eq(rmtree_count(tree, NULL, &r), -EACCES);
    ck_assert_uint_eq(r.entries, COUNT_ENTRIES + 1);
    ck_assert_uint_eq(r.bytes, COUNT_BYTES);
    ck_assert_uint_eq(r.nerrors, 1);
    ck_assert_str_eq(r.errors[0].path, "locked");
    ck_assert_int_eq(r.errors[0].err, -EACCES);
    assert_still_locked(dfd);
    close(tree);
    rmtree_result_free(&r);
}
END_TEST

START_TEST(count_stops_at_mounts)
{
    /* The outside directory bind-mounted on tree/mnt: one entry, reported as -EXDEV, its 100 files not counted.
     */
    char dir[PATH_MAX], src[PATH_MAX + 16], dst[PATH_MAX + 16];
    int dfd, tree;
    struct rmtree_result r = {0};

    private_mounts();
    dfd = scratch_dir(dir, sizeof(dir));
    tree = make_count_tree(dfd, false);
    (void)snprintf(src, sizeof(src), "%s/outside", dir);
    (void)snprintf(dst, sizeof(dst), "%s/tree/mnt", dir);
    ck_assert_int_eq(mount(src, dst, NULL, MS_BIND, NULL), 0);
    ck_assert_int_eq(rmtree_count(tree, NULL, &r), -EXDEV);
    ck_assert_uint_eq(r.entries, COUNT_ENTRIES);
    ck_assert_uint_eq(r.bytes, COUNT_BYTES);
    ck_assert_uint_eq(r.nerrors, 1);
    ck_assert_str_eq(r.errors[0].path, "mnt");
    ck_assert_int_eq(count_entries(tree), 5);
    close(tree);
    rmtree_result_free(&r);
}
END_TEST

/* The filesystems whose removal policy is tested: how to make one, and the threads the policy gives it. */
static const struct {
    const char *type;
    const char *mkfs; /* NULL: tmpfs, mounted directly */
    unsigned most;    /* threads, at most one per CPU */
} policy_fs[] = {
    {"tmpfs", NULL, 4},
    {"ext4", "mkfs.ext4 -q -F", 4},
    {"xfs", "mkfs.xfs -q -f", 2},
    {"btrfs", "mkfs.btrfs -q -f", 1},
};

START_TEST(policy_per_filesystem)
{
    /* A wide tree on each filesystem, removed with the default (0) thread count: the policy's count is what
     * the result reports, read from the filesystem the tree is on, not from the host's. */
    char dir[PATH_MAX], cmd[4 * PATH_MAX + 128];
    int dfd, tree;
    struct rmtree_result r = {0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cpus < 1                                   ? 1
                    : (unsigned long)cpus > policy_fs[_i].most ? policy_fs[_i].most
                                                               : (unsigned)cpus;

    private_mounts();
    dfd = scratch_dir(dir, sizeof(dir));
    make_dir(dfd, "mnt", 0700);
    if (policy_fs[_i].mkfs) {
        (void)snprintf(cmd, sizeof(cmd),
                       "truncate -s 320M %s/img && %s %s/img >/dev/null && mount -o loop %s/img %s/mnt", dir,
                       policy_fs[_i].mkfs, dir, dir, dir);
        ck_assert_msg(system(cmd) == 0, "%s: cannot make a %s image (bootstrap.sh installs its mkfs)", cmd,
                      policy_fs[_i].type);
    } else {
        (void)snprintf(cmd, sizeof(cmd), "%s/mnt", dir);
        ck_assert_int_eq(mount("tmpfs", cmd, "tmpfs", 0, "size=16M"), 0);
    }
    tree = openat(dfd, "mnt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree, 0);
    for (int i = 0; i < 8; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "w%d", i);
        make_dir(tree, name, 0700);
        (void)snprintf(name, sizeof(name), "w%d/f", i);
        make_file(tree, name, "x", 0600);
    }
    ck_assert_int_eq(rmtree_contents(tree, NULL, &r), 0);
    ck_assert_int_eq(count_entries(tree), 0);
    ck_assert_uint_eq(r.threads_max, want);
    ck_assert_uint_eq(r.threads, want);
    ck_assert_msg(strncmp(r.threads_why, policy_fs[_i].type, strlen(policy_fs[_i].type)) == 0, "why %s on %s",
                  r.threads_why, policy_fs[_i].type);
    close(tree);
    rmtree_result_free(&r);
}
END_TEST

/* A filesystem whose directories do not record file types (ext4 without its filetype feature): every entry
 * comes as DT_UNKNOWN and is told by fstatat(2), never following a symlink. Counted, then removed, whole. */
START_TEST(entries_without_file_types)
{
    char dir[PATH_MAX], cmd[4 * PATH_MAX + 128];
    int dfd, tree;
    struct rmtree_opts o = {.threads = thread_counts[_i]};
    struct rmtree_result r = {0};

    private_mounts();
    dfd = scratch_dir(dir, sizeof(dir));
    make_dir(dfd, "mnt", 0700);
    make_dir(dfd, "outside", 0700);
    make_file(dfd, "outside/precious", "keep", 0600);
    (void)snprintf(cmd, sizeof(cmd),
                   "truncate -s 32M %s/img && mkfs.ext4 -q -F -O ^filetype %s/img >/dev/null && "
                   "mount -o loop %s/img %s/mnt",
                   dir, dir, dir, dir);
    ck_assert_msg(system(cmd) == 0, "%s: cannot make an ext4 image (bootstrap.sh installs e2fsprogs)", cmd);
    tree = openat(dfd, "mnt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree, 0);
    ck_assert_int_eq(unlinkat(tree, "lost+found", AT_REMOVEDIR), 0);
    for (int i = 0; i < 4; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "d%d", i);
        make_dir(tree, name, 0700);
        (void)snprintf(name, sizeof(name), "d%d/sub", i);
        make_dir(tree, name, 0500);
        (void)snprintf(name, sizeof(name), "d%d/f", i);
        make_file(tree, name, "xy", 0400);
    }
    make_file(tree, "f", "z", 0600);
    (void)snprintf(cmd, sizeof(cmd), "%s/outside", dir);
    ck_assert_int_eq(symlinkat(cmd, tree, "link"), 0);
    ck_assert_int_eq(rmtree_count(tree, &o, &r), 0);
    ck_assert_uint_eq(r.entries, 14);
    rmtree_result_free(&r);
    r = (struct rmtree_result){0};
    ck_assert_int_eq(rmtree_contents(tree, &o, &r), 0);
    dump_errors(&r);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_int_eq(count_entries(tree), 0);
    ck_assert_int_eq(faccessat(dfd, "outside/precious", F_OK, 0), 0);
    close(tree);
    close(dfd);
    rmtree_result_free(&r);
}
END_TEST

static Suite *rmtree_suite(void)
{
    Suite *s = suite_create("rmtree");
    TCase *tc = tcase_create("trees");

    tcase_add_loop_test(tc, removes_nested_tree, 0, ARRAY_SIZE(thread_counts));
    tcase_add_loop_test(tc, unreadable_and_readonly_dirs_as_owner, 0, 2);
    tcase_add_test(tc, foreign_dirs_not_chmodded);
    tcase_add_loop_test(tc, symlinks_not_followed, 0, ARRAY_SIZE(thread_counts));
    tcase_add_loop_test(tc, deep_chain_bounded_fds, 0, ARRAY_SIZE(thread_counts));
    tcase_add_loop_test(tc, racer_swapping_symlinks, 0, ARRAY_SIZE(thread_counts));
    tcase_add_loop_test(tc, few_fds_left, 0, ARRAY_SIZE(thread_counts));
    if (!lacks("few_fds_left_without_statx", lacks_seccomp()))
        tcase_add_test(tc, few_fds_left_without_statx);
    suite_add_tcase(s, tc);
    tc = tcase_create("owner");
    tcase_add_loop_test(tc, removes_with_owners_rights, 0, 1 + ARRAY_SIZE(thread_counts));
    tcase_add_test(tc, owner_dirs_chmodded_as_owner);
    tcase_add_root_test(tc, creds_enter_and_leave);
    if (geteuid() == 0)
        tcase_add_loop_test(tc, creds_enter_refused, 0, ARRAY_SIZE(creds_cases));
    else
        tcase_add_root_test(tc, creds_enter_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("policy");
    if (needs_root("policy_per_filesystem"))
        tcase_add_loop_test(tc, policy_per_filesystem, 0, ARRAY_SIZE(policy_fs));
    if (geteuid() == 0)
        tcase_add_loop_test(tc, entries_without_file_types, 0, ARRAY_SIZE(thread_counts));
    else
        tcase_add_root_test(tc, entries_without_file_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("count");
    tcase_add_test(tc, count_reads_only);
    tcase_add_test(tc, count_unreadable_dir_reported);
    tcase_add_test(tc, count_stops_at_mounts);
    suite_add_tcase(s, tc);
    tc = tcase_create("mounts");
    tcase_add_loop_test(tc, mount_points_not_crossed, 0, ARRAY_SIZE(thread_counts));
    tcase_add_test(tc, errors_capped_and_rest_removed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(rmtree_suite());
}
