#include "config.h"

#include "gc.h"

#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "log.h"

/* The unprivileged identity of the ownership tests. */
#define NOBODY 65534

/* Workspace names as tmprun makes them: the default prefix and 10 letters or digits. */
#define WS_A "tmprun.AAAAAAAAAA"
#define WS_B "tmprun.BBBBBBBBBB"

/* What one --gc pass over a base directory counted and printed. */
struct pass {
    struct gc_stats st;
    struct output o; /* stdout: "removed ..." lines; stderr: warnings */
};

static struct gc_spec spec_for(const char *dir, double older_than, bool dry_run)
{
    return (struct gc_spec){.basefd = -1,
                            .base = dir,
                            .prefix = "tmprun.",
                            .suffix = "",
                            .older_than = older_than,
                            .dry_run = dry_run};
}

/* gc_run() on spec->base, opened afresh as tmprun --gc does: gc_run() reads the directory through a dup of
 * basefd, whose offset a previous pass has left at the end. */
static int gc_pass(struct gc_spec spec, struct pass *p)
{
    struct output_capture c;
    int ret;

    spec.basefd = open(spec.base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(spec.basefd, 0);
    output_start(&c);
    ret = gc_run(&spec, &p->st);
    output_end(&c, &p->o);
    ck_assert_int_eq(close(spec.basefd), 0);
    return ret;
}

static void expect_stats(const struct gc_stats *st, unsigned long removed, unsigned long busy,
                         unsigned long young, unsigned long failed)
{
    ck_assert_uint_eq(st->removed, removed);
    ck_assert_uint_eq(st->busy, busy);
    ck_assert_uint_eq(st->young, young);
    ck_assert_uint_eq(st->failed, failed);
}

static bool exists(int dfd, const char *name)
{
    return faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* "removed BASE/NAME\n" (or "would remove") is one of the lines in out. */
static void reported(const char *out, const char *verb, const char *base, const char *name)
{
    char line[PATH_MAX + 64];

    (void)snprintf(line, sizeof(line), "%s %s/%s\n", verb, base, name);
    ck_assert_msg(strstr(out, line), "'%s' lacks '%s'", out, line);
}

/* A stale workspace with something inside worth removing: a read-only directory holding a file. */
static void make_workspace(int dfd, const char *name)
{
    char p[NAME_MAX + 16];

    make_dir(dfd, name, 0700);
    (void)snprintf(p, sizeof(p), "%s/ro", name);
    make_dir(dfd, p, 0700);
    (void)snprintf(p, sizeof(p), "%s/ro/f", name);
    make_file(dfd, p, "x", 0400);
    (void)snprintf(p, sizeof(p), "%s/ro", name);
    ck_assert_int_eq(fchmodat(dfd, p, 0500, 0), 0);
}

/* A --gc pass over dir (open at dfd) with any age removes name, and only name. */
static void removes_only(int dfd, const char *dir, const char *name)
{
    struct pass p;

    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 1, 0, 0, 0);
    ck_assert(!exists(dfd, name));
    reported(p.o.out, "removed", dir, name);
    output_free(&p.o);
}

START_TEST(removes_stale)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct pass p;

    make_workspace(dfd, WS_A);
    make_dir(dfd, WS_B, 0755);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 2, 0, 0, 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    reported(p.o.out, "removed", dir, WS_A);
    reported(p.o.out, "removed", dir, WS_B);
    ck_assert_str_eq(p.o.err, "");
    output_free(&p.o);
    close(dfd);
}
END_TEST

/* Only PREFIX + 10 letters or digits + SUFFIX is a workspace: nothing else is touched, however old. */
START_TEST(only_matching_names)
{
    static const char *const others[] = {"tmprun.short",       "other.AAAAAAAAAA",  "tmprun.AAAAAAAAA-",
                                         "tmprun.AAAAAAAAAAA", "TMPRUN.AAAAAAAAAA", "tmprun.AAAAAAAAAA.d"};
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct gc_spec spec = spec_for(dir, 0, false);
    struct pass p;

    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        make_dir(dfd, others[i], 0700);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 0, 0, 0, 0);
    ck_assert_str_eq(p.o.out, "");
    ck_assert_int_eq(count_entries(dfd), (int)(sizeof(others) / sizeof(others[0])));
    output_free(&p.o);

    /* With --prefix and --suffix: p.XXXXXXXXXX.d matches, the default names do not. */
    make_dir(dfd, "p.AAAAAAAAAA.d", 0700);
    make_dir(dfd, "p.AAAAAAAAAA", 0700);
    spec.prefix = "p.";
    spec.suffix = ".d";
    ck_assert_int_eq(gc_pass(spec, &p), 0);
    expect_stats(&p.st, 1, 0, 0, 0);
    reported(p.o.out, "removed", dir, "p.AAAAAAAAAA.d");
    output_free(&p.o);
    ck_assert(!exists(dfd, "p.AAAAAAAAAA.d"));
    ck_assert(exists(dfd, "p.AAAAAAAAAA"));
    ck_assert(exists(dfd, "tmprun.AAAAAAAAAA.d"));
    close(dfd);
}
END_TEST

/* A workspace whose liveness lock someone holds (a live tmprun's LOCK_SH) is busy: left, and counted. */
START_TEST(skips_locked)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), lock;
    struct pass p;
    char line[PATH_MAX + 64];

    make_workspace(dfd, WS_A);
    make_dir(dfd, WS_B, 0700);
    lock = openat(dfd, WS_A, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_eq(flock(lock, LOCK_SH), 0);
    log_verbosity = 1;
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 1, 1, 0, 0);
    ck_assert(exists(dfd, WS_A "/ro/f"));
    ck_assert(!exists(dfd, WS_B));
    (void)snprintf(line, sizeof(line), "tmprun: skipping %s/%s: in use\n", dir, WS_A);
    ck_assert_str_eq(p.o.err, line);
    output_free(&p.o);

    /* Released: stale now. */
    ck_assert_int_eq(close(lock), 0);
    removes_only(dfd, dir, WS_A);
    close(dfd);
}
END_TEST

/* A directory changed less than older_than ago is young: left, and counted. older_than 0 means any age, even
 * a timestamp in the future. (A test cannot make a directory old: its ctime is always now.) */
START_TEST(skips_young)
{
    char dir[PATH_MAX], line[PATH_MAX + 64];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct timespec future[2];
    struct pass p;

    make_workspace(dfd, WS_A);
    make_dir(dfd, WS_B, 0700);
    ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &future[0]), 0);
    future[0].tv_sec += 86400;
    future[1] = future[0];
    ck_assert_int_eq(utimensat(dfd, WS_B, future, AT_SYMLINK_NOFOLLOW), 0);
    log_verbosity = 1;
    ck_assert_int_eq(gc_pass(spec_for(dir, 3600, false), &p), 0);
    expect_stats(&p.st, 0, 0, 2, 0);
    (void)snprintf(line, sizeof(line), "tmprun: skipping %s/%s: changed ", dir, WS_A);
    ck_assert_msg(strstr(p.o.err, line), "'%s' lacks '%s'", p.o.err, line);
    ck_assert(exists(dfd, WS_A "/ro/f"));
    ck_assert(exists(dfd, WS_B));
    ck_assert_str_eq(p.o.out, "");
    output_free(&p.o);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 2, 0, 0, 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    output_free(&p.o);
    close(dfd);
}
END_TEST

/* What has a workspace's name but is not a directory is not a workspace: a symbolic link (not followed, even
 * to a stale workspace), a file, a FIFO. None is counted. */
START_TEST(skips_non_directories)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct pass p;

    make_workspace(dfd, "target");
    ck_assert_int_eq(symlinkat("target", dfd, WS_A), 0);
    make_file(dfd, WS_B, "x", 0600);
    ck_assert_int_eq(mkfifoat(dfd, "tmprun.CCCCCCCCCC", 0600), 0);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, 0, 0, 0, 0);
    ck_assert_str_eq(p.o.out, "");
    ck_assert_str_eq(p.o.err, "");
    ck_assert_int_eq(count_entries(dfd), 4);
    ck_assert(exists(dfd, "target/ro/f"));
    output_free(&p.o);
    close(dfd);
}
END_TEST

START_TEST(dry_run_removes_nothing)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir)), lock;
    struct pass p;

    make_workspace(dfd, WS_A);
    make_dir(dfd, WS_B, 0700);
    make_dir(dfd, "tmprun.CCCCCCCCCC", 0700);
    lock = openat(dfd, "tmprun.CCCCCCCCCC", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_eq(flock(lock, LOCK_SH), 0);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, true), &p), 0);
    expect_stats(&p.st, 2, 1, 0, 0);
    reported(p.o.out, "would remove", dir, WS_A);
    reported(p.o.out, "would remove", dir, WS_B);
    ck_assert(!strstr(p.o.out, "tmprun.CCCCCCCCCC"));
    ck_assert(exists(dfd, WS_A "/ro/f"));
    ck_assert(exists(dfd, WS_B));
    output_free(&p.o);
    close(lock);
    /* A dry run takes each lock only to test it: nothing is held once it returns. */
    lock = openat(dfd, WS_A, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_eq(flock(lock, LOCK_EX | LOCK_NB), 0);
    close(lock);
    close(dfd);
}
END_TEST

/* The counts start from zero on every call; a base that cannot be read is -errno. */
START_TEST(stats_reset_and_bad_base)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct gc_spec spec = spec_for(dir, 0, false);
    struct gc_stats st = {9, 9, 9, 9};

    spec.basefd = dfd;
    ck_assert_int_eq(gc_run(&spec, &st), 0);
    expect_stats(&st, 0, 0, 0, 0);
    spec.basefd = -1;
    st = (struct gc_stats){9, 9, 9, 9};
    ck_assert_int_eq(gc_run(&spec, &st), -EBADF);
    expect_stats(&st, 0, 0, 0, 0);
    close(dfd);
}
END_TEST

static void chown_to_nobody(int dfd, const char *name)
{
    ck_assert_int_eq(fchownat(dfd, name, NOBODY, NOBODY, AT_SYMLINK_NOFOLLOW), 0);
}

static int become_nobody(void)
{
    if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) < 0)
        return -1;
    return 0;
}

/* A gc_run() on a base open at dfd, as nobody, in a child: what it must return and count. */
struct nobody_pass {
    int dfd;
    const char *dir;
    int ret;
    struct gc_stats want;
};

static int gc_as_nobody_child(void *arg)
{
    const struct nobody_pass *np = arg;
    struct gc_spec spec = spec_for(np->dir, 0, false);
    struct gc_stats st;

    spec.basefd = np->dfd;
    CHILD_CHECK(become_nobody() == 0);
    CHILD_CHECK(gc_run(&spec, &st) == np->ret);
    CHILD_CHECK(st.removed == np->want.removed && st.busy == np->want.busy && st.young == np->want.young &&
                st.failed == np->want.failed);
    return 0;
}

/* Run np in a child; what it printed goes to p->o.out and p->o.err. */
static void gc_as_nobody(struct nobody_pass *np, struct pass *p)
{
    ck_assert_msg(in_child_output(gc_as_nobody_child, np, &p->o) == 0, "the child failed: %s", p->o.err);
}

/* A scratch directory owned by nobody as np's base; its path in dir. */
static void nobody_base(struct nobody_pass *np, char *dir, size_t len)
{
    np->dfd = scratch_dir(dir, len);
    np->dir = dir;
    chown_to_nobody(np->dfd, ".");
}

/* As nobody: only nobody's workspace goes; root's is not touched, although nobody could remove it. */
START_TEST(only_own_workspaces)
{
    char dir[PATH_MAX];
    struct nobody_pass np = {.ret = 0, .want = {.removed = 1}};
    struct pass p;

    nobody_base(&np, dir, sizeof(dir));
    make_dir(np.dfd, WS_A, 0700);
    chown_to_nobody(np.dfd, WS_A);
    make_dir(np.dfd, WS_B, 0777); /* root's, empty, in nobody's base: nobody could rmdir it */
    gc_as_nobody(&np, &p);
    reported(p.o.out, "removed", dir, WS_A);
    ck_assert(!strstr(p.o.out, WS_B));
    ck_assert_str_eq(p.o.err, "");
    ck_assert(!exists(np.dfd, WS_A));
    ck_assert(exists(np.dfd, WS_B));
    output_free(&p.o);
    close(np.dfd);
}
END_TEST

START_TEST(root_removes_any_owner)
{
    char dir[PATH_MAX];
    int dfd;

    dfd = scratch_dir(dir, sizeof(dir));
    make_workspace(dfd, WS_A);
    chown_to_nobody(dfd, WS_A "/ro/f");
    chown_to_nobody(dfd, WS_A "/ro");
    chown_to_nobody(dfd, WS_A);
    removes_only(dfd, dir, WS_A);
    close(dfd);
}
END_TEST

/* An owner without a passwd entry has no group of its own: its workspace is removed with the directory's
 * group, which here is all that may empty a directory inside (root's, writable by that group only). */
START_TEST(root_removes_unknown_owner)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    uid_t uid = 54321;

    while (getpwuid(uid) || getgrgid(uid))
        uid++;
    make_dir(dfd, WS_A, 0700);
    make_dir(dfd, WS_A "/g", 0700);
    make_file(dfd, WS_A "/g/f", "x", 0600);
    ck_assert_int_eq(fchownat(dfd, WS_A "/g", 0, uid, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(fchmodat(dfd, WS_A "/g", 0070, 0), 0);
    ck_assert_int_eq(fchownat(dfd, WS_A, uid, uid, AT_SYMLINK_NOFOLLOW), 0);
    removes_only(dfd, dir, WS_A);
    close(dfd);
}
END_TEST

/* As nobody, a workspace holding root's file in root's directory cannot be emptied: counted as failed,
 * reported, the first error returned; the next workspace is still removed. */
START_TEST(failure_counted)
{
    char dir[PATH_MAX], line[PATH_MAX + 128];
    struct nobody_pass np = {.ret = -EACCES, .want = {.removed = 1, .failed = 1}};
    struct pass p;

    nobody_base(&np, dir, sizeof(dir));
    make_dir(np.dfd, WS_A, 0700);
    make_dir(np.dfd, WS_A "/roots", 0755);
    make_file(np.dfd, WS_A "/roots/f", "x", 0644);
    chown_to_nobody(np.dfd, WS_A);
    make_dir(np.dfd, WS_B, 0700);
    chown_to_nobody(np.dfd, WS_B);
    gc_as_nobody(&np, &p);
    reported(p.o.out, "removed", dir, WS_B);
    ck_assert(!strstr(p.o.out, WS_A));
    (void)snprintf(line, sizeof(line), "tmprun: cannot remove %s/%s/roots/f: Permission denied\n", dir, WS_A);
    ck_assert_msg(strstr(p.o.err, line), "'%s' lacks '%s'", p.o.err, line);
    ck_assert(exists(np.dfd, WS_A "/roots/f"));
    ck_assert(!exists(np.dfd, WS_B));
    output_free(&p.o);
    close(np.dfd);
}
END_TEST

/* In a private mount namespace: a directory bind-mounted on one workspace name (same filesystem, same st_dev)
 * and a tmpfs on another are never entered; the plain workspace beside them is removed. */
static int gc_mounts_child(void *arg)
{
    const char *dir = arg;
    char base[PATH_MAX + 8], path[PATH_MAX + 16], target[PATH_MAX + 64];
    struct gc_spec spec = spec_for(base, 0, false);
    struct gc_stats st;
    int fd;

    (void)snprintf(base, sizeof(base), "%s/base", dir);
    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    (void)snprintf(path, sizeof(path), "%s/outside", dir);
    (void)snprintf(target, sizeof(target), "%s/base/" WS_A, dir);
    CHILD_CHECK(mount(path, target, NULL, MS_BIND, NULL) == 0);
    (void)snprintf(target, sizeof(target), "%s/base/" WS_B, dir);
    CHILD_CHECK(mount("tmpfs", target, "tmpfs", 0, "size=64k,mode=0700") == 0);
    (void)snprintf(target, sizeof(target), "%s/base/" WS_B "/inside", dir);
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0 && close(fd) == 0);
    /* Opened after the mounts: an fd from before unshare(2) would look up names in the old namespace. */
    spec.basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(spec.basefd >= 0);
    CHILD_CHECK(gc_run(&spec, &st) == -EXDEV);
    CHILD_CHECK(st.removed == 1 && st.busy == 0 && st.young == 0 && st.failed == 2);
    CHILD_CHECK(faccessat(spec.basefd, WS_A "/precious", F_OK, 0) == 0);
    CHILD_CHECK(faccessat(spec.basefd, WS_B "/inside", F_OK, 0) == 0);
    CHILD_CHECK(faccessat(spec.basefd, "tmprun.CCCCCCCCCC", F_OK, 0) < 0 && errno == ENOENT);
    return 0;
}

START_TEST(never_enters_mounts)
{
    char dir[PATH_MAX], line[PATH_MAX + 160];
    struct output o;
    int dfd;

    dfd = scratch_dir(dir, sizeof(dir));
    make_dir(dfd, "outside", 0700);
    make_file(dfd, "outside/precious", "keep", 0600);
    make_dir(dfd, "base", 0700);
    make_dir(dfd, "base/" WS_A, 0700);
    make_dir(dfd, "base/" WS_B, 0700);
    make_workspace(dfd, "base/tmprun.CCCCCCCCCC");
    ck_assert_msg(in_child_output(gc_mounts_child, dir, &o) == 0, "the child failed: %s", o.err);
    (void)snprintf(line, sizeof(line),
                   "tmprun: not removing %s/base/%s: a mount point or on another filesystem than the base; "
                   "not entered\n",
                   dir, WS_A);
    ck_assert_msg(strstr(o.err, line), "'%s' lacks '%s'", o.err, line);
    (void)snprintf(line, sizeof(line), "removed %s/base/tmprun.CCCCCCCCCC\n", dir);
    ck_assert_str_eq(o.out, line);
    /* Outside the child's namespace: the directories under the mounts are still there, and what was bound. */
    ck_assert(exists(dfd, "base/" WS_A));
    ck_assert(exists(dfd, "base/" WS_B));
    ck_assert(exists(dfd, "outside/precious"));
    output_free(&o);
    close(dfd);
}
END_TEST

/* ---- a sweep of many workspaces, several threads at once ---- */

#define MANY 60

static void many_name(char *buf, size_t len, int i)
{
    (void)snprintf(buf, len, "tmprun.P%09d", i);
}

/* MANY stale workspaces, every other one nobody's (as root), each with a read-only directory holding a file;
 * with bad set, the middle one, nobody's, also holds root's directory and file, which nobody cannot remove. */
static void make_many(int dfd, bool bad)
{
    char name[NAME_MAX], p[NAME_MAX + 16];

    for (int i = 0; i < MANY; i++) {
        many_name(name, sizeof(name), i);
        make_workspace(dfd, name);
        if (geteuid() != 0 || i % 2)
            continue;
        (void)snprintf(p, sizeof(p), "%s/ro/f", name);
        chown_to_nobody(dfd, p);
        (void)snprintf(p, sizeof(p), "%s/ro", name);
        chown_to_nobody(dfd, p);
        chown_to_nobody(dfd, name);
        if (bad && i == MANY / 2) {
            (void)snprintf(p, sizeof(p), "%s/roots", name);
            make_dir(dfd, p, 0755);
            (void)snprintf(p, sizeof(p), "%s/roots/f", name);
            make_file(dfd, p, "x", 0644);
        }
    }
}

/* Every workspace is removed and reported on a line of its own, exactly once; the counts add up over the
 * threads. */
START_TEST(sweep_many)
{
    char dir[PATH_MAX], name[NAME_MAX], line[PATH_MAX + NAME_MAX + 64];
    int dfd = scratch_dir(dir, sizeof(dir)), lines = 0;
    struct pass p;

    make_many(dfd, false);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), 0);
    expect_stats(&p.st, MANY, 0, 0, 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    for (int i = 0; i < MANY; i++) {
        const char *at;
        many_name(name, sizeof(name), i);
        (void)snprintf(line, sizeof(line), "removed %s/%s\n", dir, name);
        at = strstr(p.o.out, line);
        ck_assert_msg(at && !strstr(at + 1, line), "'%s' not reported once", line);
    }
    for (const char *c = p.o.out; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, MANY);
    ck_assert_str_eq(p.o.err, "");
    output_free(&p.o);
    close(dfd);
}
END_TEST

/* As root, each thread removes each workspace with that workspace's owner's rights: nobody's workspace holding
 * root's directory fails (counted, reported, returned), every other one goes, whichever thread took it. */
START_TEST(sweep_as_each_owner)
{
    char dir[PATH_MAX], name[NAME_MAX], line[PATH_MAX + NAME_MAX + 128];
    int dfd;
    struct pass p;

    dfd = scratch_dir(dir, sizeof(dir));
    make_many(dfd, true);
    ck_assert_int_eq(gc_pass(spec_for(dir, 0, false), &p), -EACCES);
    expect_stats(&p.st, MANY - 1, 0, 0, 1);
    ck_assert_int_eq(count_entries(dfd), 1);
    many_name(name, sizeof(name), MANY / 2);
    ck_assert(exists(dfd, name));
    (void)snprintf(line, sizeof(line), "tmprun: cannot remove %s/%s/roots/f: Permission denied\n", dir, name);
    ck_assert_msg(strstr(p.o.err, line), "'%s' lacks '%s'", p.o.err, line);
    output_free(&p.o);
    close(dfd);
}
END_TEST

/* With few fds left (ulimit -n 16), the sweep takes fewer threads, not failures: all go. */
static int few_fds_child(void *arg)
{
    const char *dir = arg;
    struct gc_spec spec = spec_for(dir, 0, false);
    struct rlimit rl = {16, 16};
    struct gc_stats st;

    spec.basefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(spec.basefd >= 0);
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHILD_CHECK(gc_run(&spec, &st) == 0);
    CHILD_CHECK(st.removed == MANY && st.failed == 0);
    return 0;
}

START_TEST(sweep_few_fds)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct output o;

    make_many(dfd, false);
    ck_assert_msg(in_child_output(few_fds_child, dir, &o) == 0, "the child failed: %s", o.err);
    ck_assert_int_eq(count_entries(dfd), 0);
    output_free(&o);
    close(dfd);
}
END_TEST

/* ---- --retain ---- */

/* Only the owner's kept workspaces count, a directory with the sticky bit: not another user's, not a file with
 * a workspace's name, not a workspace never kept. Beyond the newest keep, they are removed, and reported only
 * with -v. Of two kept at once, the one kept later stays; with equal times, the first by name: either way A,
 * kept after B. */
START_TEST(retain_only_kept)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct gc_spec spec = spec_for(dir, 0, false);
    struct output_capture c;
    struct output o;
    struct gc_stats st = {9, 9, 9, 9};

    make_dir(dfd, WS_B, 01700);
    make_dir(dfd, WS_A, 01700);
    make_file(dfd, "tmprun.CCCCCCCCCC", "", 01600);
    make_dir(dfd, "tmprun.DDDDDDDDDD", 0700);
    spec.basefd = dfd;
    /* Someone else's kept workspaces: none of these. */
    ck_assert_int_eq(gc_retain(&spec, geteuid() + 1, 0, &st), 0);
    expect_stats(&st, 0, 0, 0, 0);
    ck_assert_int_eq(count_entries(dfd), 4);
    output_start(&c);
    ck_assert_int_eq(gc_retain(&spec, geteuid(), 1, &st), 0);
    output_end(&c, &o);
    expect_stats(&st, 1, 0, 0, 0);
    ck_assert(exists(dfd, WS_A));
    ck_assert(!exists(dfd, WS_B));
    ck_assert(exists(dfd, "tmprun.CCCCCCCCCC"));
    ck_assert(exists(dfd, "tmprun.DDDDDDDDDD"));
    ck_assert_str_eq(o.out, "");
    ck_assert_str_eq(o.err, "");
    output_free(&o);
    close(dfd);
}
END_TEST

/* ---- --list ---- */

/* gc_list() on base dir, what it printed in *o; its return value. */
static int list_pass(const char *dir, bool verbose, struct output *o)
{
    struct gc_spec spec = spec_for(dir, 0, false);
    struct output_capture c;
    int ret;

    spec.basefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(spec.basefd, 0);
    output_start(&c);
    ret = gc_list(&spec, verbose);
    output_end(&c, o);
    ck_assert_int_eq(close(spec.basefd), 0);
    return ret;
}

/* One line of --list: its columns (ENTRIES and BYTES "" without -v). */
struct listed {
    char state[8], age[16], owner[32], pid[16], entries[24], bytes[24];
};

/* The line of out for workspace dir/name, which must be there exactly once. */
static struct listed listed(const char *out, const char *dir, const char *name, bool verbose)
{
    char tail[PATH_MAX + 64];
    struct listed l = {0};
    const char *line = out, *found = NULL;
    int n;

    (void)snprintf(tail, sizeof(tail), " %s/%s\n", dir, name);
    for (const char *end; (end = strchr(line, '\n')); line = end + 1)
        if ((size_t)(end + 1 - line) >= strlen(tail) &&
            strncmp(end + 1 - strlen(tail), tail, strlen(tail)) == 0) {
            ck_assert_msg(!found, "%s is listed twice: %s", name, out);
            found = line;
        }
    ck_assert_msg(found, "%s is not listed: %s", name, out);
    if (verbose)
        n = sscanf(found, "%7s %15s %31s %15s %23s %23s", l.state, l.age, l.owner, l.pid, l.entries, l.bytes);
    else
        n = sscanf(found, "%7s %15s %31s %15s", l.state, l.age, l.owner, l.pid);
    ck_assert_int_eq(n, verbose ? 6 : 4);
    return l;
}

/* Each workspace on a line: live while a process holds its lock (and that process), kept with its sticky bit,
 * stale otherwise; its owner by name; an age from a change in the future is 0, not negative. A non-directory
 * with a workspace's name is no workspace. */
START_TEST(list_states)
{
    char dir[PATH_MAX], pid[16];
    int dfd = scratch_dir(dir, sizeof(dir)), held;
    struct timespec future[2] = {{0, UTIME_OMIT}, {time(NULL) + 86400, 0}};
    struct passwd *pw = getpwuid(geteuid());
    struct output o;
    struct listed l;

    ck_assert_ptr_nonnull(pw);
    make_dir(dfd, WS_A, 0700);
    make_dir(dfd, WS_B, 01700);
    make_dir(dfd, "tmprun.CCCCCCCCCC", 0700);
    ck_assert_int_eq(utimensat(dfd, "tmprun.CCCCCCCCCC", future, 0), 0);
    make_file(dfd, "tmprun.DDDDDDDDDD", "", 0600);
    held = openat(dfd, WS_A, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(held, 0);
    ck_assert_int_eq(flock(held, LOCK_SH), 0);
    ck_assert_int_eq(list_pass(dir, false, &o), 0);
    ck_assert_msg(strncmp(o.out, "STATE    AGE OWNER             PID PATH\n", 40) == 0, "%s", o.out);
    l = listed(o.out, dir, WS_A, false);
    (void)snprintf(pid, sizeof(pid), "%d", (int)getpid());
    ck_assert_str_eq(l.state, "live");
    ck_assert_str_eq(l.pid, pid);
    ck_assert_str_eq(l.owner, pw->pw_name);
    l = listed(o.out, dir, WS_B, false);
    ck_assert_str_eq(l.state, "kept");
    ck_assert_str_eq(l.pid, "-");
    l = listed(o.out, dir, "tmprun.CCCCCCCCCC", false);
    ck_assert_str_eq(l.state, "stale");
    ck_assert_str_eq(l.age, "0s");
    ck_assert_msg(!strstr(o.out, "DDDDDDDDDD"), "%s", o.out);
    ck_assert_str_eq(o.err, "");
    output_free(&o);
    close(held);
    close(dfd);
}
END_TEST

/* The process that took a workspace's lock is gone, but the lock lasts while another holds the descriptor (a
 * SIGKILLed tmprun's COMMAND): that one is named, found by its open descriptor. */
START_TEST(list_holder_by_descriptor)
{
    char dir[PATH_MAX], pid[16];
    int dfd = scratch_dir(dir, sizeof(dir)), held, st;
    struct output o;
    struct listed l;
    pid_t locker;

    make_dir(dfd, WS_A, 0700);
    held = openat(dfd, WS_A, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(held, 0);
    locker = fork();
    ck_assert_int_ge(locker, 0);
    if (locker == 0)
        _exit(flock(held, LOCK_SH) == 0 ? 0 : 1);
    ck_assert_int_eq(waitpid(locker, &st, 0), locker);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(list_pass(dir, false, &o), 0);
    l = listed(o.out, dir, WS_A, false);
    (void)snprintf(pid, sizeof(pid), "%d", (int)getpid());
    ck_assert_str_eq(l.state, "live");
    ck_assert_str_eq(l.pid, pid);
    output_free(&o);
    close(held);
    close(dfd);
}
END_TEST

/* An owner without a passwd entry is shown by number. */
START_TEST(list_owner_by_number)
{
    char dir[PATH_MAX], num[16];
    int dfd = scratch_dir(dir, sizeof(dir));
    uid_t uid = 54321;
    struct output o;
    struct listed l;

    while (getpwuid(uid))
        uid++;
    make_dir(dfd, WS_A, 0700);
    ck_assert_int_eq(fchownat(dfd, WS_A, uid, uid, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(list_pass(dir, false, &o), 0);
    l = listed(o.out, dir, WS_A, false);
    (void)snprintf(num, sizeof(num), "%u", (unsigned)uid);
    ck_assert_str_eq(l.owner, num);
    output_free(&o);
    close(dfd);
}
END_TEST

/* -v counts what is below each workspace, except one on another mount, which is not entered: "-". */
static int list_mounts_child(void *arg)
{
    const char *dir = arg;
    char target[PATH_MAX + 32];
    struct gc_spec spec = spec_for(dir, 0, false);

    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    (void)snprintf(target, sizeof(target), "%s/" WS_B, dir);
    CHILD_CHECK(mount("tmpfs", target, "tmpfs", 0, "size=64k,mode=0700") == 0);
    spec.basefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(spec.basefd >= 0);
    CHILD_CHECK(gc_list(&spec, true) == 0);
    return 0;
}

START_TEST(list_verbose_mounts)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct output o;
    struct listed l;

    make_workspace(dfd, WS_A);
    make_dir(dfd, WS_B, 0700);
    ck_assert_msg(in_child_output(list_mounts_child, dir, &o) == 0, "the child failed: %s", o.err);
    l = listed(o.out, dir, WS_A, true);
    ck_assert_str_eq(l.entries, "2");
    ck_assert_str_eq(l.bytes, "1");
    l = listed(o.out, dir, WS_B, true);
    ck_assert_str_eq(l.entries, "-");
    ck_assert_str_eq(l.bytes, "-");
    output_free(&o);
    close(dfd);
}
END_TEST

/* A base that is no directory: its -errno, nothing printed. Output that cannot be written: its -errno. */
static int list_full_child(void *arg)
{
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    struct gc_spec spec = spec_for(arg, 0, false);

    spec.basefd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(full >= 0 && spec.basefd >= 0 && dup2(full, STDOUT_FILENO) == STDOUT_FILENO);
    CHILD_CHECK(gc_list(&spec, false) == -ENOSPC);
    return 0;
}

START_TEST(list_failures)
{
    char dir[PATH_MAX], file[PATH_MAX + 8];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct gc_spec spec = spec_for(dir, 0, false);
    struct output_capture c;
    struct output o;

    make_file(dfd, "file", "", 0600);
    (void)snprintf(file, sizeof(file), "%s/file", dir);
    spec.basefd = open(file, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(spec.basefd, 0);
    output_start(&c);
    ck_assert_int_eq(gc_list(&spec, false), -ENOTDIR);
    output_end(&c, &o);
    ck_assert_str_eq(o.out, "");
    output_free(&o);
    close(spec.basefd);
    make_dir(dfd, WS_A, 0700);
    ck_assert_msg(in_child_output(list_full_child, dir, &o) == 0, "the child failed: %s", o.err);
    output_free(&o);
    close(dfd);
}
END_TEST

static Suite *gc_suite(void)
{
    Suite *s = suite_create("gc");
    TCase *tc = tcase_create("candidates");

    tcase_add_test(tc, removes_stale);
    tcase_add_test(tc, only_matching_names);
    tcase_add_test(tc, skips_locked);
    tcase_add_test(tc, skips_young);
    tcase_add_test(tc, skips_non_directories);
    tcase_add_test(tc, dry_run_removes_nothing);
    tcase_add_test(tc, stats_reset_and_bad_base);
    suite_add_tcase(s, tc);
    tc = tcase_create("owners");
    tcase_add_root_test(tc, only_own_workspaces);
    tcase_add_root_test(tc, root_removes_any_owner);
    tcase_add_root_test(tc, root_removes_unknown_owner);
    tcase_add_root_test(tc, failure_counted);
    suite_add_tcase(s, tc);
    tc = tcase_create("sweep");
    tcase_add_test(tc, sweep_many);
    tcase_add_root_test(tc, sweep_as_each_owner);
    tcase_add_test(tc, sweep_few_fds);
    suite_add_tcase(s, tc);
    tc = tcase_create("mounts");
    tcase_add_root_test(tc, never_enters_mounts); /* mount namespaces and mounts */
    suite_add_tcase(s, tc);
    tc = tcase_create("retain");
    tcase_add_test(tc, retain_only_kept);
    suite_add_tcase(s, tc);
    tc = tcase_create("list");
    tcase_add_test(tc, list_states);
    tcase_add_test(tc, list_holder_by_descriptor);
    tcase_add_root_test(tc, list_owner_by_number);
    tcase_add_root_test(tc, list_verbose_mounts);
    tcase_add_test(tc, list_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(gc_suite());
}
