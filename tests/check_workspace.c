#include "config.h"

#include "workspace.h"

#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

START_TEST(random_name_shape)
{
    char a[NAME_MAX + 1], b[NAME_MAX + 1];

    ck_assert_int_eq(workspace_random_name("pre.", ".suf", a, sizeof(a)), 0);
    ck_assert_int_eq(workspace_random_name("pre.", ".suf", b, sizeof(b)), 0);
    ck_assert_uint_eq(strlen(a), 4 + WORKSPACE_RANDOM_LEN + 4);
    ck_assert(strncmp(a, "pre.", 4) == 0);
    ck_assert_str_eq(a + 4 + WORKSPACE_RANDOM_LEN, ".suf");
    for (size_t i = 4; i < 4 + WORKSPACE_RANDOM_LEN; i++)
        ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", a[i]) && a[i],
                      "bad character %c", a[i]);
    ck_assert_str_ne(a, b);
    ck_assert(workspace_name_matches(a, "pre.", ".suf"));
    ck_assert(!workspace_name_matches(a, "pre.", ""));
    ck_assert(!workspace_name_matches("pre.short.suf", "pre.", ".suf"));
    ck_assert(!workspace_name_matches("pre.abc-efghij.suf", "pre.", ".suf"));
}
END_TEST

START_TEST(random_name_all_characters)
{
    /* 62 symbols, rejection-sampled: in 2000 names every one appears (a bias or a short alphabet would not). */
    bool seen[256] = {false};
    char n[NAME_MAX + 1];
    int distinct = 0;

    for (int i = 0; i < 2000; i++) {
        ck_assert_int_eq(workspace_random_name("", "", n, sizeof(n)), 0);
        for (int j = 0; j < WORKSPACE_RANDOM_LEN; j++)
            seen[(unsigned char)n[j]] = true;
    }
    for (int c = 0; c < 256; c++)
        distinct += seen[c];
    ck_assert_int_eq(distinct, 62);
}
END_TEST

START_TEST(affixes)
{
    char longp[NAME_MAX];

    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(workspace_check_affixes("tmprun.", ""), 0);
    ck_assert_int_eq(workspace_check_affixes("a/b", ""), -EINVAL);
    ck_assert_int_eq(workspace_check_affixes("", "/"), -EINVAL);
    ck_assert_int_eq(workspace_check_affixes(longp, ""), -ENAMETOOLONG);
    longp[NAME_MAX - WORKSPACE_RANDOM_LEN] = '\0';
    ck_assert_int_eq(workspace_check_affixes(longp, ""), 0);
}
END_TEST

/* workspace_absolute_path(path) is want. */
static void absolute_is(const char *path, const char *want)
{
    char *abs = workspace_absolute_path(path);

    ck_assert_ptr_nonnull(abs);
    ck_assert_msg(strcmp(abs, want) == 0, "%s: %s, not %s", path, abs, want);
    free(abs);
}

/* workspace_absolute_path(): "./" prefixes and trailing slashes dropped, "." the current directory itself,
 * "/" kept; against "/", no doubled slash. */
START_TEST(absolute_paths)
{
    static const struct {
        const char *path, *want; /* want after the current directory's path and "/" ("" for itself) */
    } relative[] = {
        {".", ""}, {"./", ""}, {".//", ""}, {"././/sub", "sub"}, {"sub///", "sub"}, {"a/./b/", "a/./b"},
    };
    char dir[PATH_MAX], want[PATH_MAX + 16];
    int dfd = scratch_dir(dir, sizeof(dir));

    ck_assert_int_eq(fchdir(dfd), 0);
    for (size_t i = 0; i < ARRAY_SIZE(relative); i++) {
        (void)snprintf(want, sizeof(want), "%s%s%s", dir, *relative[i].want ? "/" : "", relative[i].want);
        absolute_is(relative[i].path, want);
    }
    absolute_is("//", "/");
    absolute_is("/a/b//", "/a/b");
    ck_assert_int_eq(chdir("/"), 0);
    absolute_is("tmp/", "/tmp");
    absolute_is("./", "/");
    close(dfd);
}
END_TEST

START_TEST(base_rules)
{
    char dir[PATH_MAX], sub[PATH_MAX + 16];
    int dfd = scratch_dir(dir, sizeof(dir)), fd;
    char *abs, why[WORKSPACE_WHY_LEN];

    make_dir(dfd, "open", 0777);
    ck_assert_int_eq(fchmodat(dfd, "open", 0777, 0), 0);
    make_dir(dfd, "sticky", 01777);
    make_file(dfd, "file", "", 0600);
    (void)snprintf(sub, sizeof(sub), "%s/open", dir);
    ck_assert_int_eq(workspace_open_base(sub, &abs, &fd, why, sizeof(why)), -EPERM);
    ck_assert(strstr(workspace_base_strerror(-EPERM, why), "sticky"));
    (void)snprintf(sub, sizeof(sub), "%s/sticky/", dir);
    ck_assert_int_eq(workspace_open_base(sub, &abs, &fd, why, sizeof(why)), 0);
    ck_assert(strcmp(abs + strlen(abs) - 7, "/sticky") == 0); /* trailing slash dropped */
    free(abs);
    close(fd);
    (void)snprintf(sub, sizeof(sub), "%s/file", dir);
    ck_assert_int_eq(workspace_open_base(sub, &abs, &fd, why, sizeof(why)), -ENOTDIR);
    (void)snprintf(sub, sizeof(sub), "%s/missing", dir);
    ck_assert_int_eq(workspace_open_base(sub, &abs, &fd, why, sizeof(why)), -ENOENT);
    ck_assert_int_eq(workspace_open_base("", &abs, &fd, why, sizeof(why)), -ENOENT);
    /* Relative: made absolute against the current directory, not resolved. */
    ck_assert_int_eq(fchdir(dfd), 0);
    ck_assert_int_eq(workspace_open_base("./sticky", &abs, &fd, why, sizeof(why)), 0);
    (void)snprintf(sub, sizeof(sub), "%s/sticky", dir);
    ck_assert_str_eq(abs, sub);
    free(abs);
    close(fd);
}
END_TEST

static int setxattr_at(int dfd, const char *name, const void *value, size_t size)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

    ck_assert_int_ge(fd, 0);
    ret = fsetxattr(fd, "system.posix_acl_access", value, size, 0);
    (void)close(fd);
    return ret;
}

/* workspace_open_base(dir/name) is refused, and the reason contains text. */
static void refused(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 16], why[WORKSPACE_WHY_LEN];
    char *abs;
    int fd;

    (void)snprintf(p, sizeof(p), "%s/%s", dir, name);
    ck_assert_int_eq(workspace_open_base(p, &abs, &fd, why, sizeof(why)), -EPERM);
    ck_assert_msg(strstr(why, text), "%s: '%s' lacks '%s'", name, why, text);
}

static void accepted(const char *dir, const char *name)
{
    char p[PATH_MAX + 16], why[WORKSPACE_WHY_LEN];
    char *abs;
    int fd;

    (void)snprintf(p, sizeof(p), "%s/%s", dir, name);
    ck_assert_msg(workspace_open_base(p, &abs, &fd, why, sizeof(why)) == 0, "%s refused: %s", name, why);
    free(abs);
    close(fd);
}

/* DESIGN rule 1, as root: only root and the caller may be able to modify a base. Another user's directory is
 * refused even sticky (the sticky bit does not restrict the directory's owner); so are a write ACL entry for
 * another user and group write for a group with other members (nogroup holds nobody). */
START_TEST(base_writers)
{
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    /* system.posix_acl_access: version 2; user::rwx, user:65534:rwx, group::r-x, mask::rwx, other::r-x. */
    const uint32_t acl[] = {2,          0x00070001, 0xffffffff, 0x00070002, 65534,     0x00050004,
                            0xffffffff, 0x00070010, 0xffffffff, 0x00050020, 0xffffffff};
    uint32_t masked[sizeof(acl) / sizeof(acl[0])];

    make_dir(dfd, "theirs", 0755);
    ck_assert_int_eq(fchownat(dfd, "theirs", 65534, 65534, 0), 0);
    refused(dir, "theirs", "owned by");
    make_dir(dfd, "theirs-sticky", 01777);
    ck_assert_int_eq(fchownat(dfd, "theirs-sticky", 65534, 65534, 0), 0);
    refused(dir, "theirs-sticky", "owned by");

    make_dir(dfd, "acl", 0755);
    ck_assert_msg(setxattr_at(dfd, "acl", acl, sizeof(acl)) == 0, "setxattr: %m");
    refused(dir, "acl", "an ACL lets user nobody (uid 65534) write");
    /* The same entry capped by a read-only mask grants nothing. */
    memcpy(masked, acl, sizeof(acl));
    masked[7] = 0x00050010;
    make_dir(dfd, "acl-masked", 0755);
    ck_assert_msg(setxattr_at(dfd, "acl-masked", masked, sizeof(masked)) == 0, "setxattr: %m");
    accepted(dir, "acl-masked");
    make_dir(dfd, "acl-sticky", 01755);
    ck_assert_msg(setxattr_at(dfd, "acl-sticky", acl, sizeof(acl)) == 0, "setxattr: %m");
    accepted(dir, "acl-sticky");

    make_dir(dfd, "group", 0775);
    ck_assert_int_eq(fchownat(dfd, "group", 0, 65534, 0), 0);
    refused(dir, "group", "group nogroup (gid 65534)");
    make_dir(dfd, "rootgroup", 0775);
    ck_assert_int_eq(fchownat(dfd, "rootgroup", 0, 0, 0), 0);
    accepted(dir, "rootgroup");
    make_dir(dfd, "private", 0700);
    accepted(dir, "private");
    accepted("/", "tmp");
}
END_TEST

/* The databases of base_writers_groups_child(): a group with root and an unknown user as members, and a user
 * whose primary group has no entry. */
static const char fake_groups[] = "root:x:0:\ntmprun-members:x:54322:root,tmprun-nobody-knows\n";
static const char fake_users[] = "root:x:0:0:root:/root:/bin/sh\ntmprun-user:x:54323:54324::/:/bin/sh\n";

/* workspace_open_base(dir/name) is refused, and the reason contains text; for an in_child() function. */
static bool refused_for(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 16], why[WORKSPACE_WHY_LEN];
    char *abs;
    int fd;

    (void)snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (workspace_open_base(p, &abs, &fd, why, sizeof(why)) != -EPERM || !strstr(why, text)) {
        (void)fprintf(stderr, "%s: '%s' lacks '%s'\n", name, why, text);
        return false;
    }
    return true;
}

/* With those databases (bind-mounted on /etc/group and /etc/passwd in a mount namespace of the child's own): a
 * listed member that is no user counts as another writer (root does not); a group without a name is shown by
 * number, with a member by primary group. */
static int base_writers_groups_child(void *arg)
{
    const char *dir = arg;
    char src[PATH_MAX + 16];

    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    (void)snprintf(src, sizeof(src), "%s/group", dir);
    CHILD_CHECK(mount(src, "/etc/group", NULL, MS_BIND, NULL) == 0);
    (void)snprintf(src, sizeof(src), "%s/passwd", dir);
    CHILD_CHECK(mount(src, "/etc/passwd", NULL, MS_BIND, NULL) == 0);
    CHILD_CHECK(refused_for(dir, "members", "group tmprun-members (gid 54322) write, and tmprun-nobody-knows"));
    CHILD_CHECK(refused_for(dir, "unnamed", "its mode lets gid 54324 write, and tmprun-user is in it"));
    return 0;
}

/* Owners and groups the databases do not know: named by number; an ACL's named group entry counts as the
 * group's write. */
START_TEST(base_writers_unknown)
{
    char dir[PATH_MAX], num[64];
    int dfd = scratch_dir(dir, sizeof(dir));
    /* system.posix_acl_access: version 2; user::rwx, group::r-x, group:65534:rwx, mask::rwx, other::r-x. */
    const uint32_t acl[] = {2,     0x00070001, 0xffffffff, 0x00050004, 0xffffffff, 0x00070008,
                            65534, 0x00070010, 0xffffffff, 0x00050020, 0xffffffff};
    uid_t uid = 54321;
    struct output o;

    while (getpwuid(uid))
        uid++;
    make_dir(dfd, "unknown-owner", 0755);
    ck_assert_int_eq(fchownat(dfd, "unknown-owner", uid, 0, 0), 0);
    (void)snprintf(num, sizeof(num), "owned by uid %u, who", (unsigned)uid);
    refused(dir, "unknown-owner", num);
    make_dir(dfd, "acl-group", 0755);
    ck_assert_msg(setxattr_at(dfd, "acl-group", acl, sizeof(acl)) == 0, "setxattr: %m");
    refused(dir, "acl-group", "an ACL lets group nogroup (gid 65534) write, and ");

    make_file(dfd, "group", fake_groups, 0644);
    make_file(dfd, "passwd", fake_users, 0644);
    make_dir(dfd, "members", 0775);
    ck_assert_int_eq(fchownat(dfd, "members", 0, 54322, 0), 0);
    make_dir(dfd, "unnamed", 0775);
    ck_assert_int_eq(fchownat(dfd, "unnamed", 0, 54324, 0), 0);
    ck_assert_msg(in_child_output(base_writers_groups_child, dir, &o) == 0, "the child failed: %s", o.err);
    output_free(&o);
    close(dfd);
}
END_TEST

START_TEST(base_order)
{
    char dir[PATH_MAX], p[PATH_MAX + 16];
    int dfd = scratch_dir(dir, sizeof(dir)), fd;
    const char *failed;
    char *abs, why[WORKSPACE_WHY_LEN];

    make_dir(dfd, "temp", 0700);
    (void)snprintf(p, sizeof(p), "%s/temp", dir);
    ck_assert_int_eq(setenv("TMPDIR", "/nonexistent/tmprun", 1), 0);
    ck_assert_int_eq(setenv("TEMP", p, 1), 0);
    ck_assert_int_eq(setenv("TMP", "/", 1), 0);
    ck_assert_int_eq(workspace_choose_base(NULL, &abs, &fd, &failed, why, sizeof(why)), 0);
    ck_assert_str_eq(abs, p);
    free(abs);
    close(fd);
    unsetenv("TMPDIR");
    unsetenv("TEMP");
    unsetenv("TMP");
    ck_assert_int_eq(workspace_choose_base(NULL, &abs, &fd, &failed, why, sizeof(why)), 0);
    ck_assert_str_eq(abs, "/tmp");
    free(abs);
    close(fd);
    /* --dir never falls back. */
    ck_assert_int_eq(workspace_choose_base("/nonexistent/tmprun", &abs, &fd, &failed, why, sizeof(why)),
                     -ENOENT);
    ck_assert_str_eq(failed, "/nonexistent/tmprun");
}
END_TEST

static void create_in(const char *dir, mode_t mode, struct workspace *ws)
{
    struct workspace_spec spec = {.dir = dir, .mode = mode, .uid = (uid_t)-1, .gid = (gid_t)-1};
    const char *failed;

    ck_assert_int_eq(workspace_create(&spec, ws, &failed), 0);
}

START_TEST(create_exact_mode)
{
    static const mode_t umasks[] = {0, 022, 077, 0777};
    char dir[PATH_MAX];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct workspace ws;
    struct stat st;

    for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
        umask(umasks[i]);
        create_in(dir, i % 2 ? 0750 : 0700, &ws);
        ck_assert_int_eq(fstatat(dfd, ws.name, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert_uint_eq(st.st_mode & 07777, i % 2 ? 0750 : 0700);
        ck_assert_uint_eq(st.st_uid, geteuid());
        ck_assert(workspace_name_matches(ws.name, WORKSPACE_DEFAULT_PREFIX, ""));
        ck_assert(strncmp(ws.path, dir, strlen(dir)) == 0 && ws.path[strlen(dir)] == '/');
        ck_assert_str_eq(ws.path + strlen(dir) + 1, ws.name);
        ck_assert_uint_eq(st.st_ino, ws.ino);
        workspace_release(&ws);
    }
}
END_TEST

START_TEST(create_holds_lock)
{
    char dir[PATH_MAX];
    struct workspace ws;
    int fd;

    scratch_dir(dir, sizeof(dir));
    create_in(dir, 0700, &ws);
    fd = openat(ws.basefd, ws.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
    ck_assert_int_eq(errno, EWOULDBLOCK);
    workspace_release(&ws);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
}
END_TEST

START_TEST(remove_tree_and_top)
{
    char dir[PATH_MAX];
    struct workspace ws;
    struct rmtree_result r = {0};
    int dfd = scratch_dir(dir, sizeof(dir));

    create_in(dir, 0700, &ws);
    make_dir(ws.fd, "d", 0700);
    make_file(ws.fd, "d/f", "x", 0600);
    ck_assert_int_eq(workspace_remove(&ws, NULL, &r), 0);
    ck_assert_uint_eq(r.entries, 3);
    ck_assert_int_eq(count_entries(dfd), 0);
    workspace_release(&ws);
}
END_TEST

START_TEST(remove_already_gone)
{
    char dir[PATH_MAX];
    struct workspace ws;
    struct rmtree_result r = {0};

    scratch_dir(dir, sizeof(dir));
    create_in(dir, 0700, &ws);
    ck_assert_int_eq(unlinkat(ws.basefd, ws.name, AT_REMOVEDIR), 0);
    ck_assert_int_eq(workspace_remove(&ws, NULL, &r), 0);
    ck_assert_uint_eq(r.nerrors, 0);
    workspace_release(&ws);
}
END_TEST

START_TEST(remove_only_same_inode)
{
    /* COMMAND moved the workspace away and made a new directory of its own at the name: the moved tree is
     * emptied through our fd but left where it is (-ESTALE); the new one is the run's and is removed. */
    char dir[PATH_MAX];
    struct workspace ws;
    struct rmtree_result r = {0};
    int dfd = scratch_dir(dir, sizeof(dir));

    create_in(dir, 0700, &ws);
    ck_assert_int_eq(renameat(ws.basefd, ws.name, dfd, "moved"), 0);
    make_dir(dfd, ws.name, 0755);
    make_file(dfd, "moved/inside", "x", 0600);
    ck_assert_int_eq(faccessat(dfd, "moved/inside", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    {
        char p[PATH_MAX + NAME_MAX + 8];
        int nfd;
        (void)snprintf(p, sizeof(p), "%s/data", ws.name);
        nfd = openat(dfd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(nfd, 0);
        close(nfd);
    }
    ck_assert_int_eq(workspace_remove(&ws, NULL, &r), -ESTALE);
    ck_assert_int_eq(faccessat(dfd, ws.name, F_OK, AT_SYMLINK_NOFOLLOW), -1);
    ck_assert_int_eq(faccessat(dfd, "moved", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(faccessat(dfd, "moved/inside", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    workspace_release(&ws);
}
END_TEST

START_TEST(remove_recreated)
{
    /* COMMAND removed the workspace and made a new one at the same path: that one is the run's too. */
    char dir[PATH_MAX], p[PATH_MAX + NAME_MAX + 8];
    struct workspace ws;
    struct rmtree_result r = {0};
    int dfd = scratch_dir(dir, sizeof(dir)), nfd;

    create_in(dir, 0700, &ws);
    ck_assert_int_eq(unlinkat(ws.basefd, ws.name, AT_REMOVEDIR), 0);
    make_dir(dfd, ws.name, 0755);
    (void)snprintf(p, sizeof(p), "%s/important", ws.name);
    nfd = openat(dfd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_ge(nfd, 0);
    close(nfd);
    ck_assert_int_eq(workspace_remove(&ws, NULL, &r), 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    ck_assert_uint_eq(r.entries, 2);
    workspace_release(&ws);
}
END_TEST

START_TEST(remove_never_follows_replacement)
{
    /* A symlink at the workspace's name is left, never followed; another user's directory is left unentered. */
    char dir[PATH_MAX];
    struct workspace ws;
    struct rmtree_result r = {0};
    int dfd = scratch_dir(dir, sizeof(dir));

    make_dir(dfd, "victim", 0755);
    make_file(dfd, "victim/file", "x", 0600);
    create_in(dir, 0700, &ws);
    ck_assert_int_eq(unlinkat(ws.basefd, ws.name, AT_REMOVEDIR), 0);
    ck_assert_int_eq(symlinkat("victim", dfd, ws.name), 0);
    ck_assert_int_eq(workspace_remove(&ws, NULL, &r), -ENOTDIR);
    ck_assert_int_eq(faccessat(dfd, "victim/file", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(faccessat(dfd, ws.name, F_OK, AT_SYMLINK_NOFOLLOW), 0);
    if (geteuid() == 0) {
        ck_assert_int_eq(unlinkat(dfd, ws.name, 0), 0);
        make_dir(dfd, ws.name, 0755);
        ck_assert_int_eq(fchownat(dfd, ws.name, 65534, 65534, 0), 0);
        ck_assert_int_eq(workspace_remove(&ws, NULL, &r), -EPERM);
        ck_assert_int_eq(faccessat(dfd, ws.name, F_OK, AT_SYMLINK_NOFOLLOW), 0);
    }
    workspace_release(&ws);
}
END_TEST

/* workspace_create() refuses a directory it cannot make exactly as asked, and takes it back: one made with
 * another owner (a file system uid that is not the caller's), one it cannot give away (no CAP_CHOWN), one
 * whose setgid bit the kernel dropped (no CAP_FSETID, not in the group). */
static const struct create_failure {
    bool fsuid;       /* as file system uid nobody */
    cap_value_t lose; /* else without this capability */
    uid_t uid;
    gid_t gid;
    mode_t mode;
    int want;
} create_failures[] = {
    {true, 0, (uid_t)-1, (gid_t)-1, 0700, -EBADE},
    {false, CAP_CHOWN, 65534, 65534, 0700, -EPERM},
    {false, CAP_FSETID, 0, 65534, 02770, -EBADE},
};

/* Set cap in this process's effective set again (it is still permitted); 0 or -1. */
static int raise_cap(cap_value_t cap)
{
    cap_t c = cap_get_proc();
    int ret;

    if (!c)
        return -1;
    ret = cap_set_flag(c, CAP_EFFECTIVE, 1, &cap, CAP_SET) == 0 && cap_set_proc(c) == 0 ? 0 : -1;
    (void)cap_free(c);
    return ret;
}

static int create_fails_child(void *arg)
{
    const struct create_failure *f = &create_failures[*(int *)arg];
    const char *dir = (const char *)arg + sizeof(int);
    struct workspace_spec spec = {.dir = dir, .mode = f->mode, .uid = f->uid, .gid = f->gid};
    struct workspace ws;
    const char *failed;
    int ret;

    if (f->fsuid) {
        /* The change of fsuid cleared the file capabilities: the one to reach the base comes back. */
        (void)setfsuid(65534);
        CHILD_CHECK(raise_cap(CAP_DAC_OVERRIDE) == 0);
    } else {
        CHILD_CHECK(lose_cap(f->lose) == 0);
    }
    ret = workspace_create(&spec, &ws, &failed);
    (void)setfsuid(0); /* for the coverage counters, written as root */
    CHILD_CHECK(ret == f->want);
    CHILD_CHECK(strcmp(failed, dir) == 0);
    CHILD_CHECK(ws.fd < 0 && ws.child_fd < 0 && ws.basefd < 0 && !ws.name && !ws.path);
    return 0;
}

START_TEST(create_fails)
{
    struct {
        int i;
        char dir[PATH_MAX];
    } arg = {_i, ""};
    int dfd = scratch_dir(arg.dir, sizeof(arg.dir));

    /* Root's and sticky: a base for everyone. */
    ck_assert_int_eq(fchmod(dfd, 01777), 0);
    ck_assert_int_eq(in_child(create_fails_child, &arg), 0);
    ck_assert_int_eq(count_entries(dfd), 0);
    close(dfd);
}
END_TEST

/* --link=PATH: made by rename(2) over what is there (a symbolic link); removed only while it is still ours. */
START_TEST(link_lifecycle)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], buf[PATH_MAX], why[WORKSPACE_WHY_LEN];
    int dfd = scratch_dir(dir, sizeof(dir));
    struct workspace_link l;

    ck_assert_int_eq(fchdir(dfd), 0);
    /* A name without a directory is in the current one. */
    ck_assert_int_eq(workspace_link_prepare("current", &l, why, sizeof(why)), 0);
    ck_assert_int_eq(symlinkat("old", dfd, "current"), 0);
    ck_assert_int_eq(workspace_link_make(&l, "/the/workspace"), 0);
    ck_assert_int_eq((int)readlinkat(dfd, "current", buf, sizeof(buf)), (int)strlen("/the/workspace"));
    ck_assert_int_eq(count_entries(dfd), 1);
    ck_assert_int_eq(workspace_link_remove(&l), 0);
    ck_assert(faccessat(dfd, "current", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
    /* Gone already: nothing to do. */
    ck_assert_int_eq(workspace_link_remove(&l), 0);
    workspace_link_release(&l);

    /* A later run's link, and something that is no link at all, are left. */
    (void)snprintf(path, sizeof(path), "%s/current", dir);
    ck_assert_int_eq(workspace_link_prepare(path, &l, why, sizeof(why)), 0);
    ck_assert_int_eq(workspace_link_make(&l, "/the/workspace"), 0);
    ck_assert_int_eq(unlinkat(dfd, "current", 0), 0);
    ck_assert_int_eq(symlinkat("/a/later/one", dfd, "current"), 0);
    ck_assert_int_eq(workspace_link_remove(&l), 0);
    ck_assert_int_eq(faccessat(dfd, "current", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(unlinkat(dfd, "current", 0), 0);
    make_file(dfd, "current", "", 0600);
    ck_assert_int_eq(workspace_link_remove(&l), 0);
    ck_assert_int_eq(faccessat(dfd, "current", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    workspace_link_release(&l);
    ck_assert_int_eq(workspace_link_remove(&l), 0); /* released: nothing of ours */

    /* A directory put there after the check is not replaced; the temporary link goes. */
    (void)snprintf(path, sizeof(path), "%s/later-dir", dir);
    ck_assert_int_eq(workspace_link_prepare(path, &l, why, sizeof(why)), 0);
    make_dir(dfd, "later-dir", 0700);
    ck_assert_int_eq(workspace_link_make(&l, "/the/workspace"), -EISDIR);
    ck_assert_int_eq(count_entries(dfd), 2);
    workspace_link_release(&l);

    /* In a directory that does not exist; in /, which is root's. */
    ck_assert_int_eq(workspace_link_prepare("/nonexistent/tmprun/link", &l, why, sizeof(why)), -ENOENT);
    ck_assert_int_eq(workspace_link_prepare("/tmprun-link-never-made", &l, why, sizeof(why)),
                     geteuid() == 0 ? 0 : -EPERM);
    workspace_link_release(&l);
    close(dfd);
}
END_TEST

static Suite *workspace_suite(void)
{
    Suite *s = suite_create("workspace");
    TCase *tc = tcase_create("names");

    tcase_add_test(tc, random_name_shape);
    tcase_add_test(tc, random_name_all_characters);
    tcase_add_test(tc, affixes);
    suite_add_tcase(s, tc);
    tc = tcase_create("base");
    tcase_add_test(tc, absolute_paths);
    tcase_add_test(tc, base_rules);
    tcase_add_test(tc, base_order);
    tcase_add_root_test(tc, base_writers);
    tcase_add_root_test(tc, base_writers_unknown);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_add_test(tc, create_exact_mode);
    tcase_add_test(tc, create_holds_lock);
    if (geteuid() == 0)
        tcase_add_loop_test(tc, create_fails, 0, (int)ARRAY_SIZE(create_failures));
    else
        tcase_add_root_test(tc, create_fails);
    tcase_add_test(tc, remove_tree_and_top);
    tcase_add_test(tc, remove_already_gone);
    tcase_add_test(tc, remove_only_same_inode);
    tcase_add_test(tc, remove_recreated);
    tcase_add_test(tc, remove_never_follows_replacement);
    tcase_add_test(tc, link_lifecycle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(workspace_suite());
}
