#include "config.h"

#include "workspace.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "missing.h"
#include "util.h"

/* How many random names to try before giving up on EEXIST, as glibc's TMP_MAX-bounded mkdtemp loop does. */
#define CREATE_TRIES 100

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int ws_check_affixes(const char *prefix, const char *suffix)
{
    if (strchr(prefix, '/') || strchr(suffix, '/'))
        return -EINVAL;
    if (strlen(prefix) + WS_RANDOM_LEN + strlen(suffix) > NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int ws_random_name(const char *prefix, const char *suffix, char *out, size_t outlen)
{
    unsigned char rnd[WS_RANDOM_LEN * 2];
    size_t plen = strlen(prefix), slen = strlen(suffix), n = 0;
    int ret = ws_check_affixes(prefix, suffix);

    if (ret < 0)
        return ret;
    if (plen + WS_RANDOM_LEN + slen + 1 > outlen)
        return -ENAMETOOLONG;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the suffix copy below ends out with its NUL. */
    memcpy(out, prefix, plen);
    while (n < WS_RANDOM_LEN) {
        ssize_t got = getrandom(rnd, sizeof(rnd), 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        /* Rejection sampling: 248 = 4 * 62, so every character is equally likely. */
        for (ssize_t i = 0; i < got && n < WS_RANDOM_LEN; i++)
            if (rnd[i] < 248)
                out[plen + n++] = alphabet[rnd[i] % 62];
    }
    memcpy(out + plen + WS_RANDOM_LEN, suffix, slen + 1);
    return 0;
}

bool ws_name_matches(const char *name, const char *prefix, const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix), len = strlen(name);

    if (len != plen + WS_RANDOM_LEN + slen || strncmp(name, prefix, plen) != 0 ||
        strcmp(name + plen + WS_RANDOM_LEN, suffix) != 0)
        return false;
    for (size_t i = plen; i < plen + WS_RANDOM_LEN; i++)
        if (!strchr(alphabet, name[i]) || name[i] == '\0')
            return false;
    return true;
}

static char *make_absolute(const char *path)
{
    cleanup_free char *cwd = NULL;
    char *abs;
    size_t len = strlen(path);

    /* Trailing slashes would make "BASE//name"; keep "/" itself. */
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (path[0] == '/')
        return strndup(path, len);
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

int ws_open_base(const char *path, char **abs, int *fd)
{
    cleanup_free char *a = NULL;
    cleanup_fd int dfd = -1;
    struct stat st;

    if (*path == '\0')
        return -ENOENT;
    a = make_absolute(path);
    if (!a)
        return neg_errno();
    dfd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno(); /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees a */
    if (fstat(dfd, &st) < 0)
        return neg_errno();
    if (faccessat(dfd, ".", W_OK | X_OK, AT_EACCESS) < 0)
        return neg_errno();
    /* Another user who can write here could rename our workspace away and put a symlink in its place before
     * COMMAND uses the path; the sticky bit forbids that. A group-writable directory is fine only when the
     * group is the caller's own and so is the directory (a user-private group, as Debian sets up). */
    if (!(st.st_mode & S_ISVTX) &&
        ((st.st_mode & S_IWOTH) ||
         ((st.st_mode & S_IWGRP) && !(st.st_uid == geteuid() && st.st_gid == getegid()))))
        return -EPERM;
    *abs = steal_ptr(&a);
    *fd = steal_fd(&dfd);
    return 0;
}

const char *ws_base_strerror(int err)
{
    if (err == -EPERM)
        return "writable by other users and not sticky (one of them could replace the workspace)";
    if (err == -EBADE)
        return "the new directory is not ours or did not get the mode asked for (setgid needs the group)";
    return strerror(-err);
}

int ws_choose_base(const char *dir, char **abs, int *fd, const char **failed_path)
{
    static const char *const env_names[] = {"TMPDIR", "TEMP", "TMP"};
    static const char *const fixed[] = {"/tmp", "/var/tmp", "/usr/tmp", "."};
    int ret;

    *failed_path = dir;
    if (dir)
        return ws_open_base(dir, abs, fd);
    /* Python's tempfile.gettempdir() order. */
    for (size_t i = 0; i < ARRAY_SIZE(env_names); i++) {
        const char *v = getenv(env_names[i]);
        if (!v || *v == '\0')
            continue;
        ret = ws_open_base(v, abs, fd);
        if (ret == 0)
            return 0;
        warn("ignoring %s=%s: %s", env_names[i], v, ws_base_strerror(ret));
    }
    ret = -ENOENT;
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        ret = ws_open_base(fixed[i], abs, fd);
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
    if (spec->uid != (uid_t)-1 && fchown(fd, spec->uid, spec->gid) < 0)
        return neg_errno();
    /* mkdirat() applied the umask; the mode asked for is exact. */
    if (fchmod(fd, spec->mode) < 0 || fstat(fd, &st) < 0)
        return neg_errno();
    if ((st.st_mode & 07777) != spec->mode)
        return -EBADE;
    ws->dev = st.st_dev;
    ws->ino = st.st_ino;
    ws->fd = steal_fd(&fd);
    return 0;
}

int workspace_create(const struct workspace_spec *spec, struct workspace *ws, const char **failed_path)
{
    const char *prefix = spec->prefix ? spec->prefix : WS_DEFAULT_PREFIX;
    const char *suffix = spec->suffix ? spec->suffix : "";
    char name[NAME_MAX + 1];
    int ret;

    *ws = (struct workspace){.basefd = -1, .fd = -1};
    ret = ws_choose_base(spec->dir, &ws->base, &ws->basefd, failed_path);
    if (ret < 0)
        return ret;
    *failed_path = ws->base;
    for (int i = 0; i < CREATE_TRIES; i++) {
        ret = ws_random_name(prefix, suffix, name, sizeof(name));
        if (ret < 0)
            break;
        /* 0700 until adopt() has checked it: nobody else may enter in between. */
        if (mkdirat(ws->basefd, name, 0700) < 0) {
            ret = neg_errno();
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
    close_fdp(&ws->basefd);
    free(steal_ptr(&ws->name));
    free(steal_ptr(&ws->path));
    return ret;
}

int ws_remove_at(int basefd, const char *name, int fd, const struct rmtree_opts *opts, struct rmtree_result *r)
{
    struct stat mine, there;

    for (int pass = 0;; pass++) {
        int ret = rmtree_contents(fd, opts, r);
        if (ret < 0)
            return ret;
        if (fstat(fd, &mine) < 0)
            return neg_errno();
        if (mine.st_nlink == 0)
            return 0; /* COMMAND removed it itself: as Python does, that is not an error */
        if (fstatat(basefd, name, &there, AT_SYMLINK_NOFOLLOW) < 0)
            return errno == ENOENT ? -ESTALE : neg_errno();
        /* Only the inode we created: if name now is something else, ours was moved and is not there. */
        if (there.st_dev != mine.st_dev || there.st_ino != mine.st_ino)
            return -ESTALE;
        if (unlinkat(basefd, name, AT_REMOVEDIR) == 0) {
            r->entries++;
            return 0;
        }
        ret = neg_errno();
        if (ret == -ENOENT)
            return 0;
        /* Something created an entry after the walk: walk again, a bounded number of times. */
        if (ret != -ENOTEMPTY || pass == 2)
            return ret;
    }
}

int workspace_remove(struct workspace *ws, const struct rmtree_opts *opts, struct rmtree_result *r)
{
    return ws_remove_at(ws->basefd, ws->name, ws->fd, opts, r);
}

void workspace_release(struct workspace *ws)
{
    close_fdp(&ws->fd);
    close_fdp(&ws->basefd);
    free(steal_ptr(&ws->base));
    free(steal_ptr(&ws->name));
    free(steal_ptr(&ws->path));
}
