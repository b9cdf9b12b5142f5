#include "config.h"

#include "workspace.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdstat.h"
#include "log.h"
#include "missing.h"
#include "util.h"

/* How many random names to try before giving up on EEXIST, as glibc's TMP_MAX-bounded mkdtemp loop does. */
#define CREATE_TRIES 100

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int workspace_check_affixes(const char *prefix, const char *suffix)
{
    if (strchr(prefix, '/') || strchr(suffix, '/'))
        return -EINVAL;
    if (strlen(prefix) + WORKSPACE_RANDOM_LEN + strlen(suffix) > NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int workspace_random_name(const char *prefix, const char *suffix, char *out, size_t outlen)
{
    unsigned char rnd[WORKSPACE_RANDOM_LEN * 2];
    size_t plen = strlen(prefix), slen = strlen(suffix), n = 0;
    int ret = workspace_check_affixes(prefix, suffix);

    if (ret < 0)
        return ret;
    if (plen + WORKSPACE_RANDOM_LEN + slen + 1 > outlen)
        return -ENAMETOOLONG;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the suffix copy below ends out with its NUL. */
    memcpy(out, prefix, plen);
    while (n < WORKSPACE_RANDOM_LEN) {
        ssize_t got = getrandom(rnd, sizeof(rnd), 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        /* Rejection sampling: 248 = 4 * 62, so every character is equally likely. */
        for (ssize_t i = 0; i < got && n < WORKSPACE_RANDOM_LEN; i++)
            if (rnd[i] < 248)
                out[plen + n++] = alphabet[rnd[i] % 62];
    }
    memcpy(out + plen + WORKSPACE_RANDOM_LEN, suffix, slen + 1);
    return 0;
}

bool workspace_name_matches(const char *name, const char *prefix, const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix), len = strlen(name);

    if (len != plen + WORKSPACE_RANDOM_LEN + slen || strncmp(name, prefix, plen) != 0 ||
        strcmp(name + plen + WORKSPACE_RANDOM_LEN, suffix) != 0)
        return false;
    for (size_t i = plen; i < plen + WORKSPACE_RANDOM_LEN; i++)
        if (!strchr(alphabet, name[i]) || name[i] == '\0')
            return false;
    return true;
}

char *workspace_absolute_path(const char *path)
{
    cleanup_free char *cwd = NULL;
    char *abs;
    size_t len = strlen(path);

    /* Trailing slashes would make "BASE//name"; keep "/" itself. */
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (path[0] == '/')
        return strndup(path, len);
    /* NOLINTNEXTLINE(clang-analyzer-unix.StdCLibraryFunctions): glibc and musl allocate for a NULL buffer. */
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    while (len >= 2 && path[0] == '.' && path[1] == '/') {
        path += 2;
        len -= 2;
        while (len > 0 && path[0] == '/') {
            path++;
            len--;
        }
    }
    if (len == 0 || (len == 1 && path[0] == '.'))
        return steal_ptr(&cwd);
    if (asprintf(&abs, "%s%s%.*s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", (int)len, path) < 0)
        return NULL;
    return abs;
}

/* Does group gid have a member other than root and uid? Members are the group's own list and every user whose
 * primary group it is; a member name that does not resolve counts as another member. The name of one such
 * member goes to who. */
static bool group_has_others(gid_t gid, uid_t uid, char *who, size_t len)
{
    struct group *gr;
    const struct passwd *pw;
    bool others = false;

    errno = 0;
    gr = getgrgid(gid);
    for (char **m = gr ? gr->gr_mem : NULL; m && *m && !others; m++) {
        pw = getpwnam(*m);
        if (!pw || (pw->pw_uid != uid && pw->pw_uid != 0)) {
            (void)snprintf(who, len, "%s", *m);
            others = true;
        }
    }
    if (!others) {
        setpwent();
        while ((pw = getpwent()))
            if (pw->pw_gid == gid && pw->pw_uid != uid && pw->pw_uid != 0) {
                (void)snprintf(who, len, "%s", pw->pw_name);
                others = true;
                break;
            }
        endpwent();
    }
    return others;
}

static void describe_user(uid_t uid, char *out, size_t len)
{
    const struct passwd *pw = getpwuid(uid);

    if (pw)
        (void)snprintf(out, len, "user %s (uid %u)", pw->pw_name, (unsigned)uid);
    else
        (void)snprintf(out, len, "uid %u", (unsigned)uid);
}

static void describe_group(gid_t gid, char *out, size_t len)
{
    const struct group *gr = getgrgid(gid);

    if (gr)
        (void)snprintf(out, len, "group %s (gid %u)", gr->gr_name, (unsigned)gid);
    else
        (void)snprintf(out, len, "gid %u", (unsigned)gid);
}

/* A group that can write: refused unless root and uid are its only members. */
static int check_group_writer(gid_t gid, uid_t uid, const char *how, char *why, size_t len)
{
    char who[64], grp[96];

    if (!group_has_others(gid, uid, who, sizeof(who)))
        return 0;
    describe_group(gid, grp, sizeof(grp));
    (void)snprintf(why, len,
                   "%s lets %s write, and %s is in it; not sticky (another user could replace the workspace)",
                   how, grp, who);
    return -EPERM;
}

/* A POSIX ACL as the kernel stores it in the system.posix_acl_access extended attribute: a version, then the
 * entries, every field little-endian (include/uapi/linux/posix_acl_xattr.h). Read into this struct, not cast
 * out of a byte buffer, so that every field is aligned and read through its own type. */
struct acl_entry {
    uint16_t tag;
    uint16_t perm;
    uint32_t id;
};
struct acl_xattr {
    uint32_t version;
    struct acl_entry e[64];
};
_Static_assert(sizeof(struct acl_xattr) == 4 + 64 * 8, "the kernel's layout, without padding");
enum { ACL_VERSION = 2, TAG_USER = 0x02, TAG_GROUP_OBJ = 0x04, TAG_GROUP = 0x08, TAG_MASK = 0x10, PERM_W = 02 };

/* Who besides root and uid may write in the directory open at fd, by its owner, mode and ACL. 0 if nobody,
 * else -EPERM with the first such writer described in why. The sticky bit on a directory that root or uid
 * owns makes any write permission harmless: others may add entries but not rename or remove ours. */
static int check_writers(int fd, const struct stat *st, uid_t uid, char *why, size_t len)
{
    struct acl_xattr acl;
    struct acl_entry *e = acl.e;
    ssize_t n;
    size_t count;
    uint16_t mask = 07;
    char who[96];
    int ret;

    if (st->st_uid != 0 && st->st_uid != uid) {
        describe_user(st->st_uid, who, sizeof(who));
        (void)snprintf(why, len, "owned by %s, who could replace the workspace", who);
        return -EPERM;
    }
    if (st->st_mode & S_ISVTX)
        return 0;
    if (st->st_mode & S_IWOTH) {
        (void)snprintf(why, len,
                       "writable by every user and not sticky (one of them could replace the workspace)");
        return -EPERM;
    }
    n = fgetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl));
    if (n < 0) {
        if (errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP)
            return neg_errno();
        /* No ACL: the group bits are the group's. */
        return (st->st_mode & S_IWGRP) ? check_group_writer(st->st_gid, uid, "its mode", why, len) : 0;
    }
    if ((size_t)n < sizeof(acl.version) || ((size_t)n - sizeof(acl.version)) % sizeof(*e) != 0 ||
        le32toh(acl.version) != ACL_VERSION) {
        (void)snprintf(why, len, "its access ACL cannot be read, so who may write there is unknown");
        return -EPERM;
    }
    count = ((size_t)n - sizeof(acl.version)) / sizeof(*e);
    for (size_t i = 0; i < count; i++) {
        e[i].tag = le16toh(e[i].tag);
        e[i].perm = le16toh(e[i].perm);
        e[i].id = le32toh(e[i].id);
    }
    /* The mask caps every named entry and the owning group (acl(5)). */
    for (size_t i = 0; i < count; i++)
        if (e[i].tag == TAG_MASK)
            mask = e[i].perm;
    for (size_t i = 0; i < count; i++) {
        if (!(e[i].perm & mask & PERM_W))
            continue;
        if (e[i].tag == TAG_USER && e[i].id != uid && e[i].id != 0) {
            describe_user((uid_t)e[i].id, who, sizeof(who));
            (void)snprintf(why, len,
                           "an ACL lets %s write, and it is not sticky (that user could replace the workspace)",
                           who);
            return -EPERM;
        }
        if (e[i].tag == TAG_GROUP_OBJ || e[i].tag == TAG_GROUP) {
            gid_t gid = e[i].tag == TAG_GROUP ? (gid_t)e[i].id : st->st_gid;
            ret = check_group_writer(gid, uid, "an ACL", why, len);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

int workspace_open_base(const char *path, char **abs, int *fd, char *why, size_t whylen)
{
    cleanup_free char *a = NULL;
    cleanup_fd int dfd = -1;
    struct stat st;
    int ret;

    *why = '\0';
    if (*path == '\0')
        return -ENOENT;
    a = workspace_absolute_path(path);
    if (!a)
        return neg_errno();
    dfd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno(); /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees a */
    if (fstat(dfd, &st) < 0)
        return neg_errno();
    if (faccessat(dfd, ".", W_OK | X_OK, AT_EACCESS) < 0)
        return neg_errno();
    /* Anyone else who can modify the base could rename our workspace away and put a symlink in its place
     * before COMMAND uses the path, and COMMAND (root's, perhaps) would write wherever it points. */
    ret = check_writers(dfd, &st, geteuid(), why, whylen);
    if (ret < 0)
        return ret;
    *abs = steal_ptr(&a);
    *fd = steal_fd(&dfd);
    return 0;
}

const char *workspace_base_strerror(int err, const char *why)
{
    if (err == -EPERM && why && *why)
        return why;
    if (err == -EBADE)
        return "the new directory is not ours or did not get the mode asked for (setgid needs the group)";
    return strerror(-err);
}

int workspace_choose_base(const char *dir, char **abs, int *fd, const char **failed_path, char *why,
                          size_t whylen)
{
    static const char *const env_names[] = {"TMPDIR", "TEMP", "TMP"};
    static const char *const fixed[] = {"/tmp", "/var/tmp", "/usr/tmp", "."};
    int ret;

    *failed_path = dir;
    if (dir)
        return workspace_open_base(dir, abs, fd, why, whylen);
    /* Python's tempfile.gettempdir() order. */
    for (size_t i = 0; i < ARRAY_SIZE(env_names); i++) {
        const char *v = getenv(env_names[i]);
        if (!v || *v == '\0')
            continue;
        ret = workspace_open_base(v, abs, fd, why, whylen);
        if (ret == 0)
            return 0;
        warn("ignoring %s=%s: %s", env_names[i], v, workspace_base_strerror(ret, why));
    }
    ret = -ENOENT;
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        ret = workspace_open_base(fixed[i], abs, fd, why, whylen);
        if (ret == 0)
            return 0;
        *failed_path = fixed[i];
    }
    return ret;
}

/* Make the directory just created at name ours for good: open it, lock it, check it. -EAGAIN means "gone
 * meanwhile, try another name". */
static int adopt(struct workspace *ws, const struct workspace_spec *spec)
{
    cleanup_fd int fd = openat(ws->basefd, ws->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_fd int child = -1;
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? -EAGAIN : neg_errno();
    /* The liveness lock --gc tests. A --gc that saw the directory before we locked it holds LOCK_EX until it
     * has removed it; we then find it unlinked and start over with another name. */
    while (flock(fd, LOCK_SH) < 0)
        if (errno != EINTR)
            return neg_errno();
    if (fstat(fd, &st) < 0)
        return neg_errno();
    if (st.st_nlink == 0)
        return -EAGAIN;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return -EBADE;
    /* COMMAND's copy of the lock: an open file description of its own (so that COMMAND unlocking or closing it
     * cannot release ours), opened now, while the directory is still 0700 and ours: --mode=0000 or --user
     * would deny opening it later. */
    child = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
    if (child < 0)
        return neg_errno();
    while (flock(child, LOCK_SH) < 0)
        if (errno != EINTR)
            return neg_errno();
    if (spec->uid != (uid_t)-1 && fchown(fd, spec->uid, spec->gid) < 0)
        return neg_errno();
    /* mkdirat() applied the umask; the mode asked for is exact. */
    if (fchmod(fd, spec->mode) < 0 || fstat(fd, &st) < 0)
        return neg_errno();
    if ((st.st_mode & 07777) != spec->mode)
        return -EBADE;
    ws->dev = st.st_dev;
    ws->ino = st.st_ino;
    ws->uid = st.st_uid;
    /* The owner's own group, which rmtree takes as fsgid: a setgid base may have given the directory another.
     */
    ws->gid = spec->gid != (gid_t)-1 ? spec->gid : getegid();
    ws->fd = steal_fd(&fd);
    ws->child_fd = steal_fd(&child);
    return 0;
}

int workspace_create(const struct workspace_spec *spec, struct workspace *ws, const char **failed_path)
{
    const char *prefix = spec->prefix ? spec->prefix : WORKSPACE_DEFAULT_PREFIX;
    const char *suffix = spec->suffix ? spec->suffix : "";
    char name[NAME_MAX + 1];
    int ret;

    *ws = (struct workspace){.basefd = -1, .fd = -1, .child_fd = -1};
    ret = workspace_choose_base(spec->dir, &ws->base, &ws->basefd, failed_path, ws->why, sizeof(ws->why));
    if (ret < 0)
        return ret;
    *failed_path = ws->base;
    for (int i = 0; i < CREATE_TRIES; i++) {
        ret = workspace_random_name(prefix, suffix, name, sizeof(name));
        if (ret < 0)
            break;
        /* 0700 until adopt() has checked it: nobody else may enter in between, and we can (a umask of 0777
         * would make it 0000, which only root could open). */
        mode_t mask = umask(077);
        ret = mkdirat(ws->basefd, name, 0700) < 0 ? neg_errno() : 0;
        (void)umask(mask);
        if (ret < 0) {
            if (ret == -EEXIST)
                continue;
            break;
        }
        ws->name = strdup(name);
        if (!ws->name) {
            ret = -ENOMEM;
            (void)unlinkat(ws->basefd, name, AT_REMOVEDIR);
            break;
        }
        ret = adopt(ws, spec);
        if (ret == 0) {
            if (asprintf(&ws->path, "%s%s%s", ws->base, strcmp(ws->base, "/") == 0 ? "" : "/", name) >= 0)
                return 0;
            ret = -ENOMEM;
        }
        if (ret != -EAGAIN) {
            /* Ours and still empty: take it back (rmdir cannot remove anything else). */
            (void)unlinkat(ws->basefd, name, AT_REMOVEDIR);
            break;
        }
        free(steal_ptr(&ws->name));
    }
    /* ws->base stays: *failed_path points into it, for the caller's message. */
    close_fdp(&ws->fd);
    close_fdp(&ws->child_fd);
    close_fdp(&ws->basefd);
    free(steal_ptr(&ws->name));
    free(steal_ptr(&ws->path));
    return ret;
}

/* The directory open at fd may be removed as the workspace that belongs to owner: it is a directory on the
 * base's mount (the same mount id: a bind mount shares st_dev) and owner owns it. -EXDEV / -ENOTDIR / -EPERM
 * otherwise, and it must not even be entered. */
static int vet_workspace(const struct fdstat *base, int fd, uid_t owner, struct fdstat *ws)
{
    int ret = fdstat_get(fd, ws);

    if (ret < 0)
        return ret;
    if (!S_ISDIR(ws->st.st_mode))
        return -ENOTDIR;
    if (fdstat_same_mount(base, ws) < 0)
        return -EXDEV;
    if (ws->st.st_uid != owner)
        return -EPERM;
    return 0;
}

/* How many times what is at the workspace's name may turn out to be yet another directory to remove. Every
 * process of the run has exited by then, and only root or the owner can modify the base (rule 1). */
#define MAX_REPLACEMENTS 3

int workspace_remove_at(int basefd, const char *name, int fd, uid_t owner, gid_t group,
                        const struct rmtree_opts *opts, struct rmtree_result *r)
{
    cleanup_fd int cur = -1;
    struct fdstat base, ws;
    struct rmtree_opts o = opts ? *opts : (struct rmtree_opts){0};
    int ret = fdstat_get(basefd, &base), moved = 0;

    /* DESIGN rule 2: with its owner's rights, so nothing its owner could not remove goes (a root-owned
     * directory COMMAND moved in under --user, say). The workspace itself is then removed through the base
     * with the caller's: an empty directory, and the base is root's or the caller's (rule 1). */
    o.as_owner = true;
    o.owner_uid = owner;
    o.owner_gid = group;
    opts = &o;

    if (ret < 0)
        return ret;
    for (int round = 0; round <= MAX_REPLACEMENTS; round++) {
        ret = vet_workspace(&base, fd, owner, &ws);
        if (ret == 0 && ws.st.st_nlink > 0)
            ret = rmtree_remove_at(basefd, name, fd, opts, r);
        if (ret == -ESTALE)
            moved = ret; /* ours was moved away: still look at what took its name */
        else if (ret < 0 || ws.st.st_nlink > 0)
            return ret < 0 ? ret : moved;
        /* The directory we held is gone (COMMAND removed it) or moved. What is at the workspace's path now is
         * the run's, as Python's cleanup removes whatever is at the path; but it is entered only if it passes
         * the same checks, and never followed. */
        close_fdp(&cur);
        cur = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (cur < 0) {
            if (errno == ENOENT)
                return moved;
            return errno == ELOOP || errno == ENOTDIR ? -ENOTDIR : neg_errno();
        }
        fd = cur;
    }
    return -ENOTEMPTY;
}

int workspace_remove(struct workspace *ws, const struct rmtree_opts *opts, struct rmtree_result *r)
{
    return workspace_remove_at(ws->basefd, ws->name, ws->fd, ws->uid, ws->gid, opts, r);
}

void workspace_report(const char *path, const struct rmtree_result *r, int ret)
{
    if (ret >= 0 || r->nerrors > 0) {
        rmtree_report(path, r, ret);
        return;
    }
    switch (ret) {
    case -ESTALE:
        warn("cannot remove %s: no longer the directory tmprun created; left alone", path);
        break;
    case -EXDEV:
        warn("cannot remove %s: a mount point or on another filesystem than its base; not entered", path);
        break;
    case -ENOTDIR:
        warn("cannot remove %s: not a directory now (a symbolic link or a file took its place); left alone, "
             "not followed",
             path);
        break;
    case -EPERM:
        warn("cannot remove %s: owned by another user than the workspace's; left alone", path);
        break;
    default:
        warn_errno(ret, "cannot remove %s", path);
        break;
    }
}

int workspace_mark_kept(struct workspace *ws)
{
    struct rmtree_creds saved;
    struct stat st;
    int ret = rmtree_creds_enter(ws->uid, ws->gid, &saved);

    if (ret < 0)
        return ret;
    /* As its owner: tmprun keeps no CAP_FOWNER to change another user's directory (DESIGN rule 2). */
    if (fstat(ws->fd, &st) < 0 || fchmod(ws->fd, (st.st_mode & 07777) | S_ISVTX) < 0)
        ret = neg_errno();
    rmtree_creds_leave(&saved);
    return ret;
}

int workspace_link_prepare(const char *path, struct workspace_link *l, char *why, size_t whylen)
{
    cleanup_free char *dir = NULL;
    cleanup_fd int dfd = -1;
    const char *slash = strrchr(path, '/');
    struct stat st;
    int ret;

    *l = (struct workspace_link){.dirfd = -1};
    *why = '\0';
    if (slash && slash[1] == '\0')
        return -EISDIR; /* "dir/": a directory, never ours to replace */
    dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -ENOMEM;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees dir */
    if (dfd < 0)
        return neg_errno(); /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees dir */
    if (fstat(dfd, &st) < 0)
        return neg_errno();
    /* The same rule as for a base: anyone else who could modify that directory could swap the link. */
    ret = check_writers(dfd, &st, geteuid(), why, whylen);
    if (ret < 0)
        return ret;
    l->name = strdup(slash ? slash + 1 : path);
    if (!l->name)
        return -ENOMEM;
    if (fstatat(dfd, l->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
        (void)snprintf(why, whylen, "it exists and is not a symbolic link; left alone");
        free(steal_ptr(&l->name));
        return -EEXIST;
    }
    l->dirfd = steal_fd(&dfd);
    return 0;
}

int workspace_link_make(struct workspace_link *l, const char *target)
{
    char tmp[NAME_MAX + 1];
    int ret;

    /* A symlink under a temporary name, then rename(2) over PATH: whoever reads PATH sees the old link or the
     * new one, never none; an existing symlink is replaced, never followed. */
    for (int i = 0;; i++) {
        ret = workspace_random_name(".tmprun-link.", "", tmp, sizeof(tmp));
        if (ret < 0)
            return ret;
        if (symlinkat(target, l->dirfd, tmp) == 0)
            break;
        if (errno != EEXIST || i == CREATE_TRIES)
            return neg_errno();
    }
    if (renameat(l->dirfd, tmp, l->dirfd, l->name) < 0) {
        ret = neg_errno();
        (void)unlinkat(l->dirfd, tmp, 0);
        return ret;
    }
    l->target = strdup(target);
    return l->target ? 0 : -ENOMEM;
}

int workspace_link_remove(struct workspace_link *l)
{
    char buf[PATH_MAX + 1];
    ssize_t n;

    if (l->dirfd < 0 || !l->target)
        return 0;
    n = readlinkat(l->dirfd, l->name, buf, sizeof(buf) - 1);
    if (n < 0)
        return errno == ENOENT || errno == EINVAL ? 0 : neg_errno();
    buf[n] = '\0';
    /* A later run may have taken the name over: only our own link goes. */
    if (strcmp(buf, l->target) != 0)
        return 0;
    return unlinkat(l->dirfd, l->name, 0) < 0 && errno != ENOENT ? neg_errno() : 0;
}

void workspace_link_release(struct workspace_link *l)
{
    close_fdp(&l->dirfd);
    free(steal_ptr(&l->name));
    free(steal_ptr(&l->target));
}

void workspace_release(struct workspace *ws)
{
    close_fdp(&ws->fd);
    close_fdp(&ws->child_fd);
    close_fdp(&ws->basefd);
    free(steal_ptr(&ws->base));
    free(steal_ptr(&ws->name));
    free(steal_ptr(&ws->path));
}
