/* missing.h: the system calls and constants tmprun uses that an older or smaller libc may not declare.
 *
 * configure probes the libc (HAVE_PIDFD_OPEN, HAVE_DECL_FSCONFIG_SET_STRING, HAVE_STRUCT_STATX_STX_MNT_ID,
 * ...) and this header fills in only what the probes found missing, each wrapper named like the libc function
 * it stands for and calling syscall(2), each constant behind #ifndef (or the probe, for enumerators). With
 * glibc >= 2.36 it adds nothing. The values are the kernel's ABI (include/uapi/linux/{mount,stat}.h,
 * pidfd_open(2), statx(2)); a call the running kernel lacks fails with ENOSYS, which the callers handle.
 * Code includes this header instead of <sys/pidfd.h> and never tests a libc version. */
#ifndef TMPRUN_MISSING_H
#define TMPRUN_MISSING_H

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#ifdef HAVE_SYS_PIDFD_H
#include <sys/pidfd.h>
#endif
#ifdef HAVE_SYS_RANDOM_H
#include <sys/random.h>
#endif

/* System call numbers. Every call numbered 424 or above has one number on all architectures but alpha, ia64
 * and mips (the unified table since Linux 5.1), so a libc whose <sys/syscall.h> predates a call still gets
 * it; statx and getrandom are older and numbered per architecture, and every supported libc has them. */
#if !defined(__alpha__) && !defined(__ia64__) && !defined(__mips__)
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#endif

/* --- pidfds (Linux 5.1, 5.3; glibc 2.36) --- */
#ifndef HAVE_PIDFD_OPEN
static inline int pidfd_open(pid_t pid, unsigned int flags)
{
    return (int)syscall(SYS_pidfd_open, pid, flags);
}
#endif

#ifndef HAVE_PIDFD_SEND_SIGNAL
static inline int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}
#endif

/* --- the new mount API (Linux 5.2; glibc 2.36). Not <linux/mount.h>: it redefines the MS_* constants that
 * the libc's <sys/mount.h> declares, and glibc 2.36 refuses to be combined with it. --- */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001U
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001U
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002U
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004U
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004U
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040U
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1U
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif

/* fsconfig(2)'s commands are enumerators, not macros: #ifndef cannot see them, the probe can. */
#if !HAVE_DECL_FSCONFIG_SET_STRING
enum {
    FSCONFIG_SET_FLAG = 0,
    FSCONFIG_SET_STRING = 1,
    FSCONFIG_SET_BINARY = 2,
    FSCONFIG_SET_PATH = 3,
    FSCONFIG_SET_PATH_EMPTY = 4,
    FSCONFIG_SET_FD = 5,
    FSCONFIG_CMD_CREATE = 6,
    FSCONFIG_CMD_RECONFIGURE = 7,
};
#endif

#ifndef HAVE_FSOPEN
static inline int fsopen(const char *fsname, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fsname, flags);
}
#endif

#ifndef HAVE_FSCONFIG
static inline int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}
#endif

#ifndef HAVE_FSMOUNT
static inline int fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
    return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}
#endif

#ifndef HAVE_MOVE_MOUNT
static inline int move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                             unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}
#endif

#ifndef HAVE_OPEN_TREE
static inline int open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}
#endif

/* --- statx (Linux 4.11; glibc 2.28, musl 1.2.5) and its mount id (Linux 5.8) --- */
#ifndef STATX_TYPE
#define STATX_TYPE 0x00000001U
#define STATX_MODE 0x00000002U
#define STATX_NLINK 0x00000004U
#define STATX_UID 0x00000008U
#define STATX_GID 0x00000010U
#define STATX_ATIME 0x00000020U
#define STATX_MTIME 0x00000040U
#define STATX_CTIME 0x00000080U
#define STATX_INO 0x00000100U
#define STATX_SIZE 0x00000200U
#define STATX_BLOCKS 0x00000400U
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000U
#endif

#ifndef HAVE_STRUCT_STATX_STX_MNT_ID
/* The libc has no struct statx (musl before 1.2.5), or one without stx_mnt_id (glibc before 2.30 built
 * without kernel headers): the kernel's layout under our own name, and statx() renamed with it, so the code
 * reads "struct statx" and "statx()" either way and no declaration of the libc's clashes with ours. */
struct tmprun_statx_timestamp {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};

struct tmprun_statx {
    uint32_t stx_mask;
    uint32_t stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink;
    uint32_t stx_uid;
    uint32_t stx_gid;
    uint16_t stx_mode;
    uint16_t spare0;
    uint64_t stx_ino;
    uint64_t stx_size;
    uint64_t stx_blocks;
    uint64_t stx_attributes_mask;
    struct tmprun_statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major;
    uint32_t stx_rdev_minor;
    uint32_t stx_dev_major;
    uint32_t stx_dev_minor;
    uint64_t stx_mnt_id;
    uint64_t spare3[13];
};
_Static_assert(sizeof(struct tmprun_statx) == 256, "struct statx is 256 bytes (statx(2))");

static inline int tmprun_statx(int dirfd, const char *path, int flags, unsigned int mask,
                               struct tmprun_statx *buf)
{
    return (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
}
#define statx tmprun_statx
#define statx_timestamp tmprun_statx_timestamp
#elif !defined(HAVE_STATX)
static inline int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
    return (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
}
#endif

/* --- getrandom (Linux 3.17; glibc 2.25, musl 1.1.20) --- */
#ifndef GRND_NONBLOCK
#define GRND_NONBLOCK 0x0001U
#endif
#ifndef HAVE_GETRANDOM
static inline ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    return (ssize_t)syscall(SYS_getrandom, buf, len, flags);
}
#endif

#endif
