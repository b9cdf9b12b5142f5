#include "config.h"

#include "fdstat.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "missing.h"
#include "util.h"

/* The mount id from /proc/self/fdinfo/FD, where kernels before statx's STATX_MNT_ID (5.8) publish it
 * (proc(5): "mnt_id", since Linux 3.15). */
static int mnt_id_from_fdinfo(int fd, uint64_t *id)
{
    char path[sizeof("/proc/self/fdinfo/") + 3 * sizeof(int)], buf[4096];
    cleanup_fd int info = -1;
    size_t len = 0;
    ssize_t n;
    const char *p;

    (void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    info = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (info < 0)
        return errno == ENOENT ? -ENOSYS : neg_errno();
    while (len < sizeof(buf) - 1 && (n = read(info, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        char *end;
        unsigned long long v;

        if (strncmp(p, "mnt_id:", 7) != 0)
            continue;
        errno = 0;
        v = strtoull(p + 7, &end, 10);
        if (end != p + 7 && errno == 0) {
            *id = v;
            return 0;
        }
    }
    return -ENOSYS;
}

/* The mount id from name_to_handle_at(2) (Linux 2.6.39), which needs no descriptor of its own: rmtree's walk
 * vets each directory it opens while holding its parent, and must fit into two descriptors (ulimit -n) where
 * statx gives no mount id. Asked for a handle of no bytes, the kernel fails with EOVERFLOW after filling in
 * the mount id; a filesystem that cannot encode handles (proc, some FUSE or overlayfs mounts) fails with
 * EOPNOTSUPP, a seccomp policy may refuse the call: -ENOSYS then, and fdinfo is asked. */
static int mnt_id_from_handle(int fd, uint64_t *id)
{
    struct file_handle fh = {.handle_bytes = 0};
    int mnt = -1;

    if (name_to_handle_at(fd, "", &fh, &mnt, AT_EMPTY_PATH) < 0 && errno != EOVERFLOW)
        return -ENOSYS;
    if (mnt < 0)
        return -ENOSYS;
    *id = (uint64_t)mnt;
    return 0;
}

int fdstat_get(int fd, struct fdstat *out)
{
    struct statx stx;

    *out = (struct fdstat){0};
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
              STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_NLINK | STATX_SIZE |
                  STATX_MTIME | STATX_CTIME | STATX_MNT_ID,
              &stx) == 0) {
        out->st.st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        out->st.st_ino = (ino_t)stx.stx_ino;
        out->st.st_mode = stx.stx_mode;
        out->st.st_uid = stx.stx_uid;
        out->st.st_gid = stx.stx_gid;
        out->st.st_nlink = stx.stx_nlink;
        out->st.st_size = (off_t)stx.stx_size;
        out->st.st_mtim = (struct timespec){stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
        out->st.st_ctim = (struct timespec){stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec};
        /* qemu-user 7.2 (Debian 12's, what arm64 CI runs the unit suites under) sets STATX_MNT_ID in
         * stx_mask but leaves stx_mnt_id 0; the fallbacks below tell the truth there. */
        if ((stx.stx_mask & STATX_MNT_ID) && stx.stx_mnt_id != 0) {
            out->mnt_id = stx.stx_mnt_id;
            return 0;
        }
    } else if (errno != ENOSYS || fstat(fd, &out->st) < 0) {
        return neg_errno();
    }
    if (mnt_id_from_handle(fd, &out->mnt_id) == 0)
        return 0;
    return mnt_id_from_fdinfo(fd, &out->mnt_id);
}

int fdstat_same_mount(const struct fdstat *a, const struct fdstat *b)
{
    return a->mnt_id == b->mnt_id && a->st.st_dev == b->st.st_dev ? 0 : -EXDEV;
}

unsigned fdstat_free_fds(int fd, unsigned want)
{
    int fds[FDSTAT_FREE_MAX];
    unsigned n = 0;

    while (n < want && n < ARRAY_SIZE(fds)) {
        int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (d < 0)
            break; /* EMFILE: that is the count */
        fds[n++] = d;
    }
    for (unsigned i = 0; i < n; i++)
        (void)close(fds[i]);
    return n;
}
