#include "config.h"

#include "ns.h"

#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

static int need_userns_child(void *arg)
{
    (void)arg;
    CHILD_CHECK(lose_cap(CAP_SYS_ADMIN) == 0);
    CHILD_CHECK(ns_need_userns());
    return 0;
}

START_TEST(need_userns)
{
    if (geteuid() != 0) {
        ck_assert(ns_need_userns());
        return;
    }
    ck_assert(!ns_need_userns());
    ck_assert_int_eq(in_child(need_userns_child, NULL), 0);
}
END_TEST

START_TEST(advice)
{
    const char *mnt = ns_advice(-EPERM, false), *off = ns_advice(-ENOSPC, true),
               *denied = ns_advice(-EPERM, true);

    ck_assert_msg(strstr(mnt, "mount namespaces are not available here"), "%s", mnt);
    ck_assert_msg(strstr(off, "user.max_user_namespaces=0"), "%s", off);
    ck_assert_msg(strstr(denied, "unprivileged user namespaces are not allowed here"), "%s", denied);
    ck_assert_msg(strstr(denied, "kernel.apparmor_restrict_unprivileged_userns"), "%s", denied);
    ck_assert_msg(strstr(denied, "run as root"), "%s", denied);
    /* One line each: it ends a message. */
    ck_assert(!strchr(mnt, '\n') && !strchr(off, '\n') && !strchr(denied, '\n'));
}
END_TEST

/* A workspace for ns_setup() and what the child is to find. */
struct ns_case {
    char path[PATH_MAX];
    struct ns_spec spec;
    struct stat tmp, cwd; /* /tmp and the working directory before */
    int want;             /* what ns_setup() is to return */
    bool old_api;         /* no new mount API (fsopen, open_tree: ENOSYS): the mount(2) ways */
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int unshare_child(void *arg)
{
    (void)arg;
    return unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0;
}

/* Whether ns_setup() can run here: as root always; otherwise in a user namespace, if this host allows them. */
static bool namespaces_usable(void)
{
    return geteuid() == 0 || in_child(unshare_child, NULL) == 0;
}

/* A scratch workspace, and a spec for it owned by nobody (the caller when not root: a user namespace maps only
 * the caller). */
static void ns_case_init(struct ns_case *c, bool tmpfs, bool private_tmp, bool cd, bool old_api)
{
    struct stat st;
    int fd = scratch_dir(c->path, sizeof(c->path));

    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    c->spec = (struct ns_spec){.tmpfs = tmpfs,
                               .size = tmpfs ? "1M" : NULL,
                               .private_tmp = private_tmp,
                               .cd = cd,
                               .path = c->path,
                               .dev = st.st_dev,
                               .ino = st.st_ino,
                               .owner = geteuid() == 0 ? 65534 : getuid(),
                               .group = geteuid() == 0 ? 65534 : getgid()};
    ck_assert_int_eq(stat("/tmp", &c->tmp), 0);
    ck_assert_int_eq(stat(".", &c->cwd), 0);
    c->old_api = old_api;
}

/* ns_setup() in the child, on a kernel without the new mount API (Linux < 5.2) if c asks for one. */
static int setup(const struct ns_case *c)
{
    if (c->old_api && (fail_syscall(SYS_fsopen, ENOSYS) < 0 || fail_syscall(SYS_open_tree, ENOSYS) < 0))
        return -1000;
    return ns_setup(&c->spec);
}

/* The directory at st is a fresh 1 MiB tmpfs root, nosuid and nodev, 0700, owned as the spec asks. */
static int is_new_tmpfs(const struct ns_case *c, const char *path, const struct stat *st)
{
    struct statfs fs;
    struct statvfs vfs;

    CHILD_CHECK(statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC);
    CHILD_CHECK(statvfs(path, &vfs) == 0);
    CHILD_CHECK((unsigned long long)vfs.f_blocks * vfs.f_frsize == 1024 * 1024);
    CHILD_CHECK((vfs.f_flag & ST_NOSUID) && (vfs.f_flag & ST_NODEV));
    CHILD_CHECK(st->st_dev != c->spec.dev);
    CHILD_CHECK(st->st_uid == c->spec.owner && st->st_gid == c->spec.group);
    CHILD_CHECK((st->st_mode & 07777) == 0700);
    return 0;
}

/* --tmpfs --cd: a tmpfs on the workspace, COMMAND starts in it, /tmp is untouched. */
static int tmpfs_child(void *arg)
{
    const struct ns_case *c = arg;
    struct stat ws, cwd, tmp;

    CHILD_CHECK(setup(c) == 0);
    CHILD_CHECK(stat(c->path, &ws) == 0);
    CHILD_CHECK(is_new_tmpfs(c, c->path, &ws) == 0);
    CHILD_CHECK(stat(".", &cwd) == 0 && same_file(&cwd, &ws));
    CHILD_CHECK(stat("/tmp", &tmp) == 0 && same_file(&tmp, &c->tmp));
    return 0;
}

START_TEST(setup_tmpfs)
{
    struct ns_case c;
    struct stat st;

    if (!namespaces_usable())
        return; /* needs root, or user namespaces this host allows */
    ns_case_init(&c, true, false, true, _i == 1);
    ck_assert_int_eq(in_child(tmpfs_child, &c), 0);
    /* The mount stayed in the child's namespace. */
    ck_assert_int_eq(stat(c.path, &st), 0);
    ck_assert_uint_eq(st.st_dev, c.spec.dev);
    ck_assert_uint_eq(st.st_ino, c.spec.ino);
}
END_TEST

/* --tmpfs --private-tmp --cd: /tmp and /var/tmp are the new tmpfs, and COMMAND starts there. */
static int tmpfs_private_tmp_child(void *arg)
{
    const struct ns_case *c = arg;
    struct stat tmp, vartmp, cwd;

    CHILD_CHECK(setup(c) == 0);
    CHILD_CHECK(stat("/tmp", &tmp) == 0);
    CHILD_CHECK(is_new_tmpfs(c, "/tmp", &tmp) == 0);
    CHILD_CHECK(stat("/var/tmp", &vartmp) == 0 && same_file(&vartmp, &tmp));
    CHILD_CHECK(stat(".", &cwd) == 0 && same_file(&cwd, &tmp));
    return 0;
}

START_TEST(setup_tmpfs_private_tmp)
{
    struct ns_case c;

    if (!namespaces_usable())
        return; /* needs root, or user namespaces this host allows */
    ns_case_init(&c, true, true, true, _i == 1);
    ck_assert_int_eq(in_child(tmpfs_private_tmp_child, &c), 0);
}
END_TEST

/* --private-tmp alone: /tmp and /var/tmp are the workspace directory itself (what COMMAND writes there lands
 * in it); the working directory is left. */
static int private_tmp_child(void *arg)
{
    const struct ns_case *c = arg;
    struct stat tmp, vartmp, cwd;
    int fd;

    CHILD_CHECK(setup(c) == 0);
    CHILD_CHECK(stat("/tmp", &tmp) == 0 && tmp.st_dev == c->spec.dev && tmp.st_ino == c->spec.ino);
    CHILD_CHECK(stat("/var/tmp", &vartmp) == 0 && same_file(&vartmp, &tmp));
    CHILD_CHECK(stat(".", &cwd) == 0 && same_file(&cwd, &c->cwd));
    fd = open("/tmp/written-in-the-child", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0 && close(fd) == 0);
    return 0;
}

START_TEST(setup_private_tmp)
{
    struct ns_case c;
    char p[PATH_MAX + 32];

    if (!namespaces_usable())
        return; /* needs root, or user namespaces this host allows */
    ns_case_init(&c, false, true, false, _i == 1);
    ck_assert_int_eq(in_child(private_tmp_child, &c), 0);
    (void)snprintf(p, sizeof(p), "%s/written-in-the-child", c.path);
    ck_assert_int_eq(access(p, F_OK), 0);
}
END_TEST

/* ns_setup() fails with c->want. */
static int setup_fails_child(void *arg)
{
    const struct ns_case *c = arg;

    CHILD_CHECK(setup(c) == c->want);
    return 0;
}

/* The path must lead to the directory tmprun created (dev and ino): another directory there is refused. */
START_TEST(setup_refuses_other_directory)
{
    struct ns_case c;
    struct capture err;
    char p[PATH_MAX + 64];

    if (!namespaces_usable())
        return; /* needs root, or user namespaces this host allows */
    ns_case_init(&c, true, false, false, false);
    c.spec.ino++;
    c.want = -ESTALE;
    capture_start(&err, STDERR_FILENO);
    ck_assert_int_eq(in_child(setup_fails_child, &c), 0);
    capture_expect(&err, "tmprun: the workspace path no longer leads to the workspace: Stale file handle\n");
    c.spec.ino--;
    (void)snprintf(p, sizeof(p), "%s/gone", c.path);
    c.spec.path = p;
    c.want = -ENOENT;
    capture_start(&err, STDERR_FILENO);
    ck_assert_int_eq(in_child(setup_fails_child, &c), 0);
    capture_expect(&err,
                   "tmprun: cannot open the workspace in the new mount namespace: No such file or directory\n");
}
END_TEST

/* unshare(2) itself fails (a seccomp policy, a sysctl): ns_setup() prints the one line that is tmprun's
 * refusal, names the option, records the errno where its parent can read it, and mounts nothing. Without an
 * option to name (and nowhere to record it), the line names tmprun. */
static int refused_child(void *arg)
{
    struct ns_case *c = arg;
    int refused = 0;

    if (c->spec.option)
        c->spec.refused = &refused;
    CHILD_CHECK(fail_syscall(SYS_unshare, EPERM) == 0);
    CHILD_CHECK(ns_setup(&c->spec) == -EPERM);
    CHILD_CHECK(!c->spec.refused || refused == EPERM);
    return 0;
}

START_TEST(setup_refused)
{
    struct ns_case c;
    struct capture err;
    char want[1024];
    bool userns = ns_need_userns();

    ns_case_init(&c, _i == 0, _i == 1, false, false);
    c.spec.option = _i == 0 ? "--tmpfs" : NULL;
    (void)snprintf(want, sizeof(want),
                   "tmprun: %s needs a %smount namespace, and unshare(2) failed: Operation not permitted; %s\n",
                   _i == 0 ? "--tmpfs" : "tmprun", userns ? "user and " : "", ns_advice(-EPERM, userns));
    capture_start(&err, STDERR_FILENO);
    ck_assert_int_eq(in_child(refused_child, &c), 0);
    capture_expect(&err, want);
}
END_TEST

/* Each step after unshare(2) that fails is named on the one line ns_setup() prints, and its errno returned: a
 * system call made to fail (seccomp), or a value the kernel refuses. */
static const struct step_failure {
    bool tmpfs, private_tmp, cd, old_api;
    bool userns;      /* without CAP_SYS_ADMIN: in a user namespace of its own */
    const char *size; /* the tmpfs size asked for */
    long nr;          /* the system call that fails, or -1 */
    int err;          /* with this errno; what ns_setup() returns */
    const char *line; /* what it prints after "tmprun: " and before ": strerror(err)" */
} step_failures[] = {
    {true, false, false, false, true, "1M", SYS_openat, EACCES, "cannot write the user namespace's id maps"},
    {true, false, false, false, false, "1M", SYS_fsopen, EPERM, "--tmpfs: fsopen(tmpfs)"},
    {true, false, false, false, false, "1M", SYS_fsconfig, EPERM, "--tmpfs: fsconfig(mode)"},
    {true, false, false, false, false, "bogus", -1, EINVAL, "--tmpfs: fsconfig(size)"},
    {true, false, false, false, false, "1M", SYS_fsmount, EPERM, "--tmpfs: fsmount"},
    {true, false, false, false, false, "1M", SYS_move_mount, EPERM,
     "--tmpfs: cannot mount the tmpfs on the workspace"},
    {true, false, false, true, false, "bogus", -1, EINVAL, "--tmpfs: mount(tmpfs)"},
    {true, false, false, true, false, "1M", SYS_statx, EPERM, "--tmpfs: cannot stat the new tmpfs"},
    /* Without a size (the tmpfs default), either way. */
    {true, false, false, false, false, NULL, SYS_fsmount, EPERM, "--tmpfs: fsmount"},
    {true, false, false, true, false, NULL, SYS_statx, EPERM, "--tmpfs: cannot stat the new tmpfs"},
    {false, true, false, false, false, NULL, SYS_move_mount, EPERM,
     "--private-tmp: cannot mount the workspace over /tmp"},
    {false, true, true, false, false, NULL, SYS_chdir, EACCES, "--private-tmp: cannot change into /tmp"},
    {true, false, true, false, false, "1M", SYS_fchdir, EACCES, "cannot change into the workspace"},
};

static int step_fails_child(void *arg)
{
    const struct ns_case *c = arg;
    const struct step_failure *f = &step_failures[c->want];

    CHILD_CHECK(!f->userns || lose_cap(CAP_SYS_ADMIN) == 0);
    CHILD_CHECK(f->nr < 0 || fail_syscall(f->nr, f->err) == 0);
    CHILD_CHECK(setup(c) == -f->err);
    return 0;
}

START_TEST(setup_step_fails)
{
    const struct step_failure *f = &step_failures[_i];
    struct ns_case c;
    struct capture err;
    char want[256];

    /* Needs root, or user namespaces this host allows; a user namespace of its own needs the latter. */
    if (!namespaces_usable() || (f->userns && in_child(unshare_child, NULL) != 0))
        return;
    ns_case_init(&c, f->tmpfs, f->private_tmp, f->cd, f->old_api);
    c.spec.size = f->size;
    c.want = _i;
    (void)snprintf(want, sizeof(want), "tmprun: %s: %s\n", f->line, strerror(f->err));
    capture_start(&err, STDERR_FILENO);
    ck_assert_int_eq(in_child(step_fails_child, &c), 0);
    capture_expect(&err, want);
}
END_TEST

static Suite *ns_suite(void)
{
    Suite *s = suite_create("ns");
    TCase *tc = tcase_create("refusal");
    const char *seccomp = lacks_seccomp();

    tcase_add_test(tc, need_userns);
    tcase_add_test(tc, advice);
    if (!lacks("setup_refused", seccomp))
        tcase_add_loop_test(tc, setup_refused, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("setup");
    /* Each twice: with the new mount API, and with mount(2) alone (a seccomp filter makes the new API fail). */
    tcase_add_loop_test(tc, setup_tmpfs, 0, lacks("setup_tmpfs:1", seccomp) ? 1 : 2);
    tcase_add_loop_test(tc, setup_tmpfs_private_tmp, 0, lacks("setup_tmpfs_private_tmp:1", seccomp) ? 1 : 2);
    tcase_add_loop_test(tc, setup_private_tmp, 0, lacks("setup_private_tmp:1", seccomp) ? 1 : 2);
    tcase_add_test(tc, setup_refuses_other_directory);
    if (!lacks("setup_step_fails", seccomp))
        tcase_add_loop_test(tc, setup_step_fails, 0, (int)ARRAY_SIZE(step_failures));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(ns_suite());
}
