/* What tmprun needs to know about an open file, mount identity included, on every kernel it runs on. */
#ifndef TMPRUN_FDSTAT_H
#define TMPRUN_FDSTAT_H

#include <stdint.h>
#include <sys/stat.h>

struct fdstat {
    struct stat st;  /* st_dev, st_ino, st_mode, st_uid, st_gid, st_nlink, st_size, st_mtim, st_ctim */
    uint64_t mnt_id; /* the mount the file is reached through */
};

/* Fill out for the object open at fd (O_PATH is fine), never following anything. The mount id comes from
 * statx(STATX_MNT_ID) (Linux >= 5.8), else from name_to_handle_at(2) (no descriptor taken), else, where the
 * filesystem has no file handles, from the "mnt_id:" line of /proc/self/fdinfo/FD (Linux >= 3.15).
 * A mount id, not st_dev, tells a bind mount of the same filesystem from the directory under it. Returns 0,
 * -ENOSYS when no mount id can be had (an old kernel, a filesystem without file handles and no /proc: callers
 * must then refuse to decide that two objects share a mount), or another -errno. */
int fdstat_get(int fd, struct fdstat *out);

/* 0 if a and b are on the same mount (same mount id and device), -EXDEV if not. */
int fdstat_same_mount(const struct fdstat *a, const struct fdstat *b);

/* The most free fds fdstat_free_fds() counts. */
#define FDSTAT_FREE_MAX 64

/* How many more fds this process can open now, counted up to want (at most FDSTAT_FREE_MAX): dup()s of fd,
 * closed again before it returns. What a caller sizes its threads and open levels by under a low ulimit -n. */
unsigned fdstat_free_fds(int fd, unsigned want);

#endif
