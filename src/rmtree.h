/* Remove everything below a directory fd: iterative, fd-relative, bounded in file descriptors, never following
 * a symlink and never entering another mount. Knows nothing of processes or of the workspace's name. */
#ifndef TMPRUN_RMTREE_H
#define TMPRUN_RMTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How many failing paths a result keeps with their names; the rest are only counted. */
#define RMTREE_MAX_REPORTED 10

struct rmtree_error {
    char *path; /* relative to the directory passed in, "a/b/c" */
    int err;    /* negative errno; -EXDEV means "a mount point or another filesystem, left in place" */
};

struct rmtree_result {
    unsigned long long entries; /* directory entries removed (files, links, directories) */
    unsigned long long bytes;   /* sum of st_size of removed non-directories, when count_bytes was set */
    unsigned long long nerrors; /* every failure, reported or not */
    struct rmtree_error errors[RMTREE_MAX_REPORTED];
    size_t nreported;
    unsigned max_fds;     /* most directory fds the walk held at once, the caller's included */
    unsigned threads;     /* most threads that removed at once, the caller's included */
    unsigned threads_max; /* the most the walk would have used: threads is 1 if no directory was wide enough */
    const char *threads_why; /* static text, why threads_max: the filesystem's policy, "asked for", fds left */
};

struct rmtree_opts {
    bool count_bytes; /* fstatat each non-directory to total its size (costs one call per file) */
    unsigned threads; /* most threads to use, the caller's included (at most 4); 0: the filesystem's policy */
    bool as_owner;    /* remove with the rights of owner_uid/owner_gid only */
    uid_t owner_uid;
    gid_t owner_gid; /* the owner's own group, which an unprivileged owner can take (not the tree's group) */
    /* Fds the walk may open beyond dirfd, as the caller reserved them; 0: count what the process has left, by
     * dup(2)s closed again. Several threads removing trees at once (--gc) pass their share: counting in each
     * would take the fds the others are about to open, and cost two calls per fd counted per tree. */
    unsigned fd_budget;
};

/* A thread's filesystem identity, as rmtree_creds_enter() found it. */
struct rmtree_creds {
    uid_t fsuid;
    gid_t fsgid;
    int ngroups;
    gid_t *groups;
    bool changed;
};

/* Take uid/gid as this thread's filesystem identity with no supplementary groups (raw syscalls: Linux
 * credentials are per thread; glibc's setgroups() would broadcast to all threads). No-op when they already
 * are the thread's fsuid/fsgid and it has no supplementary groups to shed, or has some but may not drop them
 * (an unprivileged owner: its groups are its own rights). Changing the fsuid away from 0 clears the effective
 * file capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...; capabilities(7)) until rmtree_creds_leave().
 * 0 or -errno (-EPERM when the thread may not take uid or gid); saved is then left with nothing to undo. */
int rmtree_creds_enter(uid_t uid, gid_t gid, struct rmtree_creds *saved);
void rmtree_creds_leave(struct rmtree_creds *saved); /* restore exactly what enter saved; frees */

/* Remove every entry below the directory open at dirfd, which stays open and in place (rmtree_remove_at()
 * removes the directory itself too).
 *
 * Never follows a symlink (symlinks are unlinked, not entered); every descent is openat(O_NOFOLLOW|O_DIRECTORY)
 * relative to the parent's fd; a directory on another mount (a bind mount, another filesystem, one mounted
 * while the walk runs) is left untouched and reported as -EXDEV. A directory the owner (opts->owner_uid with
 * as_owner, else this process's effective uid) owns and cannot write, search or read is made 0700-accessible
 * through its own fd (never a regular file: a hard link could point outside). With as_owner, every thread of
 * the walk runs under rmtree_creds_enter(owner_uid, owner_gid) for the whole call, so nothing the owner could
 * not remove is removed; if the calling thread cannot take them, nothing is touched and that error returned.
 * Walks with a heap stack, holding at most a handful of fds at any depth: an ancestor closed on the way down is
 * reopened through ".." and must have the same device and inode. The walk fits the descriptors left when it
 * starts (RLIMIT_NOFILE, ulimit -n): fewer threads, then fewer cached ancestors, down to one thread holding two
 * fds beyond dirfd.
 *
 * A directory with several subdirectories has them removed by a few threads at once where that pays: opts->
 * threads, else the policy of the filesystem dirfd is on (statfs(2) f_type): one thread per CPU, at most 4, on
 * tmpfs and ext4, where the kernel locks each directory and little else, so unlinks in different directories
 * run side by side; one thread on XFS and btrfs, which serialise unlinks further down, and on filesystems not
 * measured. Deep or flat trees stay on the calling thread. r->threads, threads_max and threads_why say what was
 * used and why. Errors, counts and the first-error rule are the same either way.
 *
 * Keeps going after a failure; a directory left non-empty by a failure below it is not reported again.
 * Returns 0 when everything was removed, else the negative errno of the first failure. Counts and failures are
 * added to r, which the caller zeroes first and releases with rmtree_result_free(). */
int rmtree_contents(int dirfd, const struct rmtree_opts *opts, struct rmtree_result *r);

/* Count what rmtree_contents() would remove, reading only: the same walk (fd-relative, never following a
 * symlink, never entering another mount, the same bounded fds and memory), on the calling thread, but nothing
 * is unlinked or chmodded. r->entries gets every entry below dirfd (directories included), r->bytes the sum of
 * st_size of its non-directories (opts->count_bytes is implied). A directory that cannot be entered
 * (unreadable: -EACCES; a mount point: -EXDEV) counts as one entry and is recorded in r as a failure, its
 * contents unknown. With opts->as_owner it reads with the owner's rights. Returns 0, or the first failure's
 * negative errno with the counts of everything else. */
int rmtree_count(int dirfd, const struct rmtree_opts *opts, struct rmtree_result *r);

/* rmtree_contents() of the directory open at dirfd, found at name in parentfd, then name itself, if it still is
 * that directory (same device and inode), through parentfd with the caller's own rights (not the owner's: a
 * base may be root's). Entries that appear meanwhile are removed by scanning again, as for every directory of
 * the walk, a bounded number of times. Returns the first failure below as rmtree_contents() does; else 0 when
 * the directory is gone (removed here or by someone else), -ESTALE when it was moved away from name (its
 * contents removed all the same), -ENOTEMPTY when entries kept appearing, or another -errno of the rmdir.
 * Only failures below dirfd go to r's list; r->entries counts the directory too. */
int rmtree_remove_at(int parentfd, const char *name, int dirfd, const struct rmtree_opts *opts,
                     struct rmtree_result *r);

void rmtree_result_free(struct rmtree_result *r);

/* Print the failures of removing top (the directory the walk started from, as a path for humans): one line
 * per reported path, "cannot remove TOP/a/b: why", then "... and N more"; if ret failed but nothing was
 * recorded (the top itself), one line for top. */
void rmtree_report(const char *top, const struct rmtree_result *r, int ret);

#endif
