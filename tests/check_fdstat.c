#include "config.h"

#include "fdstat.h"

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"

/* The mount id of fd as proc(5) shows it, read here independently of fdstat.c; 0 if there is none. */
static uint64_t fdinfo_mnt_id(int fd)
{
    char path[64], line[256];
    uint64_t id = 0;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "mnt_id: %" SCNu64, &id) == 1)
            break;
    (void)fclose(f);
    return id;
}

#if defined(HAVE_STATX) && defined(HAVE_STRUCT_STATX_STX_MNT_ID)
/* Linux 4.11 to 5.7: statx(2) works but has no mount id. This definition takes the C library's place for
 * fdstat.c, which is linked into this program; with hide_mnt_id set it answers as those kernels do (no
 * STATX_MNT_ID in stx_mask) and counts the calls it answered so. */
#define HIDES_MNT_ID 1
static bool hide_mnt_id;
static unsigned mnt_id_hidden;

int statx(int dirfd, const char *restrict path, int flags, unsigned int mask, struct statx *restrict buf)
{
    int ret = (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);

    if (ret == 0 && hide_mnt_id) {
        buf->stx_mask &= ~STATX_MNT_ID;
        buf->stx_mnt_id = 0;
        mnt_id_hidden++;
    }
    return ret;
}
#endif

/* What fdstat_get() reports for fd is what fstat(2) and /proc/self/fdinfo say: its identity, and with all set
 * its link count, size and times too (not for /proc, whose link count follows the processes that come and go,
 * those of other tests run in parallel included). */
static void same_as_kernel_fields(int fd, const struct fdstat *fs, bool all)
{
    struct stat st;

    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_uint_eq(fs->st.st_dev, st.st_dev);
    ck_assert_uint_eq(fs->st.st_ino, st.st_ino);
    ck_assert_uint_eq(fs->st.st_mode, st.st_mode);
    ck_assert_uint_eq(fs->st.st_uid, st.st_uid);
    ck_assert_uint_eq(fs->st.st_gid, st.st_gid);
    ck_assert_uint_ne(fs->mnt_id, 0);
    ck_assert_uint_eq(fs->mnt_id, fdinfo_mnt_id(fd));
    if (!all)
        return;
    ck_assert_uint_eq(fs->st.st_nlink, st.st_nlink);
    ck_assert_int_eq(fs->st.st_size, st.st_size);
    ck_assert_int_eq(fs->st.st_mtim.tv_sec, st.st_mtim.tv_sec);
    ck_assert_int_eq(fs->st.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
    ck_assert_int_eq(fs->st.st_ctim.tv_sec, st.st_ctim.tv_sec);
    ck_assert_int_eq(fs->st.st_ctim.tv_nsec, st.st_ctim.tv_nsec);
}

static void same_as_kernel(int fd, const struct fdstat *fs)
{
    same_as_kernel_fields(fd, fs, true);
}

START_TEST(directory)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct fdstat fs;

    make_dir(dfd, "sub", 0750);
    ck_assert_int_eq(fdstat_get(dfd, &fs), 0);
    same_as_kernel(dfd, &fs);
    ck_assert(S_ISDIR(fs.st.st_mode));
    ck_assert_uint_eq(fs.st.st_nlink, 3);
    close(dfd);
}
END_TEST

/* An O_PATH descriptor tells the same as a readable one; one on a symbolic link describes the link. */
START_TEST(o_path)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), pfd, ffd, lfd;
    struct fdstat a, b, f, l;
    struct stat st;

    make_file(dfd, "file", "12345", 0640);
    ck_assert_int_eq(symlinkat("file", dfd, "link"), 0);
    pfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ffd = openat(dfd, "file", O_PATH | O_CLOEXEC);
    lfd = openat(dfd, "link", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    ck_assert(pfd >= 0 && ffd >= 0 && lfd >= 0);

    ck_assert_int_eq(fdstat_get(dfd, &a), 0);
    ck_assert_int_eq(fdstat_get(pfd, &b), 0);
    same_as_kernel(pfd, &b);
    ck_assert_uint_eq(a.st.st_ino, b.st.st_ino);
    ck_assert_uint_eq(a.mnt_id, b.mnt_id);

    ck_assert_int_eq(fdstat_get(ffd, &f), 0);
    same_as_kernel(ffd, &f);
    ck_assert(S_ISREG(f.st.st_mode));
    ck_assert_uint_eq(f.st.st_mode & 07777, 0640);
    ck_assert_int_eq(f.st.st_size, 5);

    ck_assert_int_eq(fdstat_get(lfd, &l), 0);
    ck_assert_int_eq(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert(S_ISLNK(l.st.st_mode));
    ck_assert_uint_eq(l.st.st_ino, st.st_ino);
    ck_assert_uint_ne(l.st.st_ino, f.st.st_ino);
    ck_assert_uint_eq(l.mnt_id, fdinfo_mnt_id(lfd));
    close(pfd);
    close(ffd);
    close(lfd);
    close(dfd);
}
END_TEST

/* Without statx(2) (Linux < 4.11, or a sandbox that refuses it) the mount id comes from name_to_handle_at(2)
 * or, for a filesystem without file handles (/proc) and the second time without that call too, from
 * /proc/self/fdinfo: the same answers. (glibc may emulate statx() with fstatat(): then only the mount id takes
 * the other ways.) */
START_TEST(without_statx)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), lfd, proc;
    struct fdstat d, l, p;

    ck_assert_int_eq(symlinkat("nowhere", dfd, "link"), 0);
    lfd = openat(dfd, "link", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert(lfd >= 0 && proc >= 0);
    ck_assert_msg(fail_syscall(SYS_statx, ENOSYS) == 0, "seccomp: %s", strerror(errno));
    if (_i == 1)
        ck_assert_msg(fail_syscall(SYS_name_to_handle_at, ENOSYS) == 0, "seccomp: %s", strerror(errno));
    ck_assert_int_eq(fdstat_get(dfd, &d), 0);
    same_as_kernel(dfd, &d);
    ck_assert_int_eq(fdstat_get(lfd, &l), 0);
    same_as_kernel(lfd, &l);
    ck_assert(S_ISLNK(l.st.st_mode));
    ck_assert_int_eq(fdstat_get(proc, &p), 0);
    same_as_kernel_fields(proc, &p, false);
    ck_assert_int_eq(fdstat_same_mount(&d, &l), 0);
    ck_assert_int_eq(fdstat_same_mount(&d, &p), -EXDEV);
    close(lfd);
    close(proc);
    close(dfd);
}
END_TEST

/* Neither statx(2), nor file handles, nor /proc (a kernel before 4.11 in a chroot without /proc, a seccomp
 * policy that refuses name_to_handle_at): no mount id, -ENOSYS, so that callers refuse to decide whether two
 * objects share a mount. */
static int no_mount_id_child(void *arg)
{
    struct fdstat fs;
    int fd;

    (void)arg;
    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHILD_CHECK(mount("tmpfs", "/proc", "tmpfs", 0, "size=64k") == 0);
    CHILD_CHECK(fail_syscall(SYS_statx, ENOSYS) == 0);
    CHILD_CHECK(fail_syscall(SYS_name_to_handle_at, ENOSYS) == 0);
    fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(fdstat_get(fd, &fs) == -ENOSYS);
    return 0;
}

START_TEST(no_mount_id)
{
    ck_assert_int_eq(in_child(no_mount_id_child, NULL), 0);
}
END_TEST

/* Without statx(2) and name_to_handle_at(2), what /proc/self/fdinfo/FD says decides, read as the kernel writes
 * it: a mount id is a number on a line of its own, anything else is no mount id (-ENOSYS); an fdinfo that
 * cannot be opened or read is that -errno. The fdinfo files here are the test's own, on a tmpfs over /proc in a
 * mount namespace of the child's. */
static const struct fdinfo_case {
    const char *content; /* NULL: a directory */
    mode_t mode;
    int want;
    uint64_t mnt_id;
} fdinfo_cases[] = {
    {"pos:\t0\nflags:\t02000000\nmnt_id:\t42\nino:\t2\n", 0600, 0, 42},
    {"pos:\t0\nmnt_id:\tx\nino:\t2\n", 0600, -ENOSYS, 0},
    {"pos:\t0\nflags:\t02000000", 0600, -ENOSYS, 0},
    {NULL, 0700, -EISDIR, 0},
    {"mnt_id:\t42\n", 0, -EACCES, 0},
};

static int fdinfo_child(void *arg)
{
    int fds[ARRAY_SIZE(fdinfo_cases)];
    char path[64];
    struct fdstat fs;

    (void)arg;
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        CHILD_CHECK((fds[i] = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHILD_CHECK(mount("tmpfs", "/proc", "tmpfs", 0, "size=64k") == 0);
    CHILD_CHECK(mkdir("/proc/self", 0755) == 0 && mkdir("/proc/self/fdinfo", 0755) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        const struct fdinfo_case *c = &fdinfo_cases[i];
        int fd;
        (void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fds[i]);
        if (!c->content) {
            CHILD_CHECK(mkdir(path, c->mode) == 0);
            continue;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, c->mode);
        CHILD_CHECK(fd >= 0 && write(fd, c->content, strlen(c->content)) == (ssize_t)strlen(c->content));
        CHILD_CHECK(close(fd) == 0);
    }
    /* Root would read the mode 0 file anyway. */
    CHILD_CHECK(lose_cap(CAP_DAC_OVERRIDE) == 0 && lose_cap(CAP_DAC_READ_SEARCH) == 0);
    CHILD_CHECK(fail_syscall(SYS_statx, ENOSYS) == 0);
    CHILD_CHECK(fail_syscall(SYS_name_to_handle_at, ENOSYS) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        CHILD_CHECK(fdstat_get(fds[i], &fs) == fdinfo_cases[i].want);
        CHILD_CHECK(fdinfo_cases[i].want < 0 || fs.mnt_id == fdinfo_cases[i].mnt_id);
    }
    /* And fstat(2) cannot stat a closed descriptor either. */
    CHILD_CHECK(fdstat_get(-1, &fs) == -EBADF);
    return 0;
}

START_TEST(fdinfo_contents)
{
    ck_assert_int_eq(in_child(fdinfo_child, NULL), 0);
}
END_TEST

START_TEST(bad_fd)
{
    struct fdstat fs;
    int fd = open("/", O_PATH | O_CLOEXEC);

    ck_assert_int_eq(fdstat_get(-1, &fs), -EBADF);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(fdstat_get(fd, &fs), -EBADF);
}
END_TEST

START_TEST(same_mount)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), sub, root, proc;
    struct fdstat d, s, r, p;

    make_dir(dfd, "sub", 0700);
    sub = openat(dfd, "sub", O_PATH | O_DIRECTORY | O_CLOEXEC);
    root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert(sub >= 0 && root >= 0 && proc >= 0);
    ck_assert_int_eq(fdstat_get(dfd, &d), 0);
    ck_assert_int_eq(fdstat_get(sub, &s), 0);
    ck_assert_int_eq(fdstat_get(root, &r), 0);
    ck_assert_int_eq(fdstat_get(proc, &p), 0);
    ck_assert_int_eq(fdstat_same_mount(&d, &s), 0);
    ck_assert_int_eq(fdstat_same_mount(&s, &d), 0);
    ck_assert_int_eq(fdstat_same_mount(&r, &r), 0);
    ck_assert_int_eq(fdstat_same_mount(&r, &p), -EXDEV);
    ck_assert_int_eq(fdstat_same_mount(&p, &r), -EXDEV);
    close(sub);
    close(root);
    close(proc);
    close(dfd);
}
END_TEST

/* Both fields count: a mount id alone is not unique across namespaces, a device alone not across mounts. */
START_TEST(same_mount_needs_both)
{
    struct fdstat a = {.mnt_id = 7}, b = {.mnt_id = 7};

    a.st.st_dev = 1;
    b.st.st_dev = 2;
    ck_assert_int_eq(fdstat_same_mount(&a, &b), -EXDEV);
    b.st.st_dev = 1;
    ck_assert_int_eq(fdstat_same_mount(&a, &b), 0);
    b.mnt_id = 8;
    ck_assert_int_eq(fdstat_same_mount(&a, &b), -EXDEV);
}
END_TEST

/* In a private mount namespace, dir/top is bind-mounted on dir/bind: the same directory, the same st_dev, and
 * still another mount. */
static int bind_mount_child(void *arg)
{
    const char *dir = arg;
    char top[PATH_MAX + 8], bind[PATH_MAX + 8];
    struct fdstat t, b;
    int tfd, bfd;

    (void)snprintf(top, sizeof(top), "%s/top", dir);
    (void)snprintf(bind, sizeof(bind), "%s/bind", dir);
    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHILD_CHECK(mount(top, bind, NULL, MS_BIND, NULL) == 0);
    tfd = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC);
    bfd = open(bind, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(tfd >= 0 && bfd >= 0);
    CHILD_CHECK(fdstat_get(tfd, &t) == 0);
    CHILD_CHECK(fdstat_get(bfd, &b) == 0);
    CHILD_CHECK(t.st.st_dev == b.st.st_dev && t.st.st_ino == b.st.st_ino);
    CHILD_CHECK(t.mnt_id != b.mnt_id);
    CHILD_CHECK(b.mnt_id == fdinfo_mnt_id(bfd));
    CHILD_CHECK(fdstat_same_mount(&t, &b) == -EXDEV);
    return 0;
}

#ifdef HIDES_MNT_ID
/* The same where statx(2) gives no mount id (Linux 4.11 to 5.7): the fallbacks still tell the bind mount from
 * the directory under it, and statx was asked, and answered without a mount id, every time. */
static int statx_without_mnt_id_child(void *arg)
{
    hide_mnt_id = true;
    CHILD_CHECK(bind_mount_child(arg) == 0);
    CHILD_CHECK(mnt_id_hidden == 2);
    return 0;
}
#endif

static int (*const bind_mount_children[])(void *) = {
    bind_mount_child,
#ifdef HIDES_MNT_ID
    statx_without_mnt_id_child,
#endif
};

START_TEST(bind_mount_same_device)
{
    char dir[PATH_MAX];
    int dfd;

    dfd = scratch_dir(dir, sizeof(dir));
    make_dir(dfd, "top", 0700);
    make_dir(dfd, "bind", 0700);
    ck_assert_int_eq(in_child(bind_mount_children[_i], dir), 0);
    close(dfd);
}
END_TEST

/* fdstat_free_fds() counts exactly the fd numbers still free below RLIMIT_NOFILE, gaps included, up to what it
 * is asked for and FDSTAT_FREE_MAX, and leaves the fd table as it found it. The numbers are counted here with
 * fcntl(F_GETFD), under a limit a few above the highest one open, with a gap punched below it. */
static unsigned closed_below(int limit)
{
    unsigned n = 0;

    for (int fd = 0; fd < limit; fd++)
        n += fcntl(fd, F_GETFD) < 0;
    return n;
}

static int free_fds_child(void *arg)
{
    struct rlimit rl;
    int fd, hole, top = -1;

    (void)arg;
    CHILD_CHECK((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
    CHILD_CHECK((hole = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0);
    for (int i = 0; i < 3; i++)
        CHILD_CHECK((top = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0);
    CHILD_CHECK(close(hole) == 0);
    CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max >= (rlim_t)top + 1 + 2 * FDSTAT_FREE_MAX);
    rl.rlim_cur = (rlim_t)top + 4;
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHILD_CHECK(closed_below(top + 4) >= 4);
    CHILD_CHECK(fdstat_free_fds(fd, FDSTAT_FREE_MAX) == closed_below(top + 4));
    CHILD_CHECK(fdstat_free_fds(fd, 2) == 2);
    CHILD_CHECK(fdstat_free_fds(fd, 0) == 0);
    CHILD_CHECK(fcntl(hole, F_GETFD) < 0 && fcntl(top + 1, F_GETFD) < 0);
    rl.rlim_cur = (rlim_t)top + 1 + 2 * FDSTAT_FREE_MAX;
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHILD_CHECK(fdstat_free_fds(fd, 2 * FDSTAT_FREE_MAX) == FDSTAT_FREE_MAX);
    CHILD_CHECK(fdstat_free_fds(-1, 4) == 0);
    return 0;
}

START_TEST(free_fds)
{
    ck_assert_int_eq(in_child(free_fds_child, NULL), 0);
}
END_TEST

static Suite *fdstat_suite(void)
{
    Suite *s = suite_create("fdstat");
    TCase *tc = tcase_create("get");

    tcase_add_test(tc, directory);
    tcase_add_test(tc, o_path);
    /* Without statx, and without name_to_handle_at too. */
    if (!lacks("without_statx", lacks_seccomp()))
        tcase_add_loop_test(tc, without_statx, 0, 2);
    if (!lacks("no_mount_id", lacks_seccomp()))
        tcase_add_root_test(tc, no_mount_id);
    tcase_add_test(tc, bad_fd);
    if (!lacks("fdinfo_contents", lacks_seccomp()))
        tcase_add_root_test(tc, fdinfo_contents);
    suite_add_tcase(s, tc);
    tc = tcase_create("same_mount");
    tcase_add_test(tc, same_mount);
    tcase_add_test(tc, same_mount_needs_both);
    if (needs_root("bind_mount_same_device"))
        tcase_add_loop_test(tc, bind_mount_same_device, 0, ARRAY_SIZE(bind_mount_children));
    suite_add_tcase(s, tc);
    tc = tcase_create("free_fds");
    tcase_add_test(tc, free_fds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(fdstat_suite());
}
