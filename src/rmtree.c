#include "config.h"

#include "rmtree.h"

#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdstat.h"
#include "log.h"
#include "util.h"
#include "workpool.h"

/* Directory fds the walk keeps open below the top one. Deeper ancestors are closed and reopened through "..",
 * as gnulib fts does, so a 100,000-level chain costs the same handful of fds as a flat tree. */
#define OPEN_LEVELS 4
/* A directory that is still not empty after this many scans is reported rather than scanned forever (something
 * keeps creating entries in it). */
#define MAX_SCANS 3
#define NO_NAME SIZE_MAX
/* A directory with at least this many subdirectories has its subtrees removed by several threads, where the
 * filesystem's policy gives more than one (fs_policies). The kernel serialises unlinks within one directory
 * (its inode lock) but not across directories, so on tmpfs and ext4 a wide tree goes nearly twice as fast on
 * two cores; a narrow one (a chain, one huge flat directory) stays single-threaded. */
#define PARALLEL_MIN_SUBDIRS 4
/* Fds one walk holds at most when it keeps levels directories open below its frame 0: those, the
 * subdirectory being opened and, when that one is unreadable, the O_PATH fd it is reached through. */
#define WALK_FDS(levels) ((levels) + 2)
/* The most free fds worth counting: enough for every thread with all its levels, and the main walk's. */
#define FDS_WANTED (OPEN_LEVELS + WORKPOOL_MAX_THREADS * WALK_FDS(OPEN_LEVELS))
_Static_assert(FDS_WANTED <= FDSTAT_FREE_MAX, "fdstat_free_fds() counts them all");
/* Non-directories are unlinked in batches sorted by inode number, as gnulib fts sorts large directories: on
 * ext4 it turns a random walk over the inode table into a sweep (about 10% faster on 100,000 files). */
#define UNLINK_BATCH 65536

struct frame {
    int fd;       /* -1 while closed to bound the number of open fds */
    bool scanned; /* its entries have been read and its files unlinked */
    bool failed;  /* something below stays: do not try to remove it, do not report ENOTEMPTY */
    unsigned char scans;
    dev_t dev;
    ino_t ino;
    size_t name_off;   /* its name in walk.names, NO_NAME for the top */
    size_t pend_start; /* its subdirectories are the names from here to the end of walk.names */
    size_t pend_next;  /* the next of them to visit */
};

/* State shared by the threads of one walk. */
struct shared {
    pthread_mutex_t lock; /* guards r's counts and errors, and first_error */
    struct rmtree_result *r;
    const struct rmtree_opts *opts;
    int first_error;
    uint64_t mnt_id;
    dev_t dev;
    uid_t owner;       /* the uid whose directories may be chmodded to get in */
    bool count_only;   /* rmtree_count(): read and stat, never unlink or chmod */
    unsigned levels;   /* directory fds each walk keeps open below its frame 0, at least 1 */
    unsigned open_fds; /* all threads' directory fds (atomic) */
    unsigned nthreads; /* the pool's threads, the caller's included */
    struct workpool pool;
    /* The current parallel region, set by the main walk while the workers wait: the subdirectories names[0..n)
     * of the directory open at parent_fd, whose path relative to the top is prefix ("a/b/" or empty). */
    int parent_fd;
    dev_t parent_dev;
    ino_t parent_ino;
    const char *const *names;
    const char *prefix;
    bool region_failed; /* something under the region stays: its parent must not be removed (atomic) */
    /* rmtree_remove_at(): frame 0 is top_name in top_parent, removed once empty; top_ret says how that went. */
    int top_parent;
    const char *top_name;
    bool top_done;
    int top_ret;
};

/* A non-directory waiting in the current batch: its inode and its name's offset in walk.vnames. */
struct victim {
    uint64_t ino;
    size_t off;
};

struct walk {
    struct shared *sh;
    bool is_main;       /* only the main walk starts parallel regions; a subtree walk stays serial */
    unsigned levels;    /* sh->levels */
    const char *prefix; /* path of frame 0 relative to the top, for messages */
    unsigned long long entries, bytes;
    struct frame *frames;
    size_t depth; /* frames in use */
    size_t cap;
    /* One stack of NUL-terminated names shared by all levels: each frame's pending subdirectory names sit above
     * its own name, so the whole walk needs memory in proportion to depth plus the widest pending list. */
    char *names;
    size_t nlen, ncap;
    struct victim *victims; /* the unlink batch of the current scan, UNLINK_BATCH at most */
    size_t nvictims;
    char *vnames;
    size_t vnlen, vncap;
    struct rmtree_creds creds; /* the identity this walk's thread took, given back by walk_free() */
    char buf[32768] __attribute__((aligned(8))); /* getdents64 buffer; scans never nest */
};

struct linux_dirent64 {
    ino64_t d_ino;
    off64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    /* cppcheck-suppress unusedStructMember ; the name is read in place, at offsetof(..., d_name). */
    char d_name[];
};

/* Change the mode of the object open at fd (an O_PATH fd is fine) without resolving any path again, through
 * /proc/self/fd. Returns 0 or -errno. */
static int fchmod_any(int fd, mode_t mode)
{
    char path[sizeof("/proc/self/fd/") + 3 * sizeof(int)];

    if (fchmod(fd, mode) == 0)
        return 0;
    if (errno != EBADF)
        return neg_errno();
    /* An O_PATH fd cannot be fchmod()ed; its /proc magic link names exactly the inode it holds, so this is
     * not a path lookup an attacker can redirect (systemd's fchmod_opath does the same). */
    (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (chmod(path, mode) < 0)
        return errno == ENOENT ? -ENOSYS : neg_errno();
    return 0;
}

/* On i386 and 32-bit arm, SYS_setgroups takes 16-bit gids; the 32-bit call is the one libc uses there. */
#ifdef SYS_setgroups32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETGROUPS SYS_setgroups
#endif

/* setgroups(2) for this thread only: glibc's setgroups() applies it to every thread of the process (nptl's
 * setxid broadcast, as for setuid()), while the kernel keeps credentials per thread. */
static int thread_setgroups(size_t n, const gid_t *groups)
{
    return syscall(SYS_SETGROUPS, n, groups) == 0 ? 0 : neg_errno();
}

/* setfsuid(2) and setfsgid(2) return the previous id whether or not they changed it; as the man pages say,
 * only a further call with an invalid id (-1), which changes nothing, tells the current one. */
static bool set_fsuid(uid_t uid)
{
    (void)setfsuid(uid);
    return (uid_t)setfsuid((uid_t)-1) == uid;
}

static bool set_fsgid(gid_t gid)
{
    (void)setfsgid(gid);
    return (gid_t)setfsgid((gid_t)-1) == gid;
}

int rmtree_creds_enter(uid_t uid, gid_t gid, struct rmtree_creds *saved)
{
    int n;

    *saved = (struct rmtree_creds){.fsuid = (uid_t)setfsuid((uid_t)-1), .fsgid = (gid_t)setfsgid((gid_t)-1)};
    n = getgroups(0, NULL);
    if (n < 0)
        return neg_errno();
    if (n == 0 && saved->fsuid == uid && saved->fsgid == gid)
        return 0;
    if (n > 0) {
        int ret;
        /* NOLINTNEXTLINE(clang-analyzer-optin.taint.TaintedAlloc): the kernel's count, at most 65536 */
        saved->groups = calloc((size_t)n, sizeof(*saved->groups));
        if (!saved->groups)
            return -ENOMEM;
        saved->ngroups = getgroups(n, saved->groups);
        ret = saved->ngroups < 0 ? neg_errno() : thread_setgroups(0, NULL);
        if (ret < 0) {
            free(steal_ptr(&saved->groups));
            saved->ngroups = 0;
            /* The owner itself, unprivileged: its groups are its own rights, nothing beyond them. */
            if (ret == -EPERM && saved->fsuid == uid && saved->fsgid == gid)
                return 0;
            return ret;
        }
    }
    saved->changed = true;
    /* The uid last, and first back in rmtree_creds_leave(): it is the change that takes capabilities away (an
     * fsuid other than 0 clears the file capabilities from the effective set, capabilities(7)). */
    if (!set_fsgid(gid) || !set_fsuid(uid)) {
        rmtree_creds_leave(saved);
        return -EPERM;
    }
    return 0;
}

void rmtree_creds_leave(struct rmtree_creds *saved)
{
    if (saved->changed) {
        /* Back to fsuid 0 restores the file capabilities from the permitted set (capabilities(7), "Effect of
         * user ID changes on capabilities"). */
        (void)set_fsuid(saved->fsuid);
        (void)set_fsgid(saved->fsgid);
        (void)thread_setgroups((size_t)saved->ngroups, saved->groups);
    }
    free(steal_ptr(&saved->groups));
    saved->ngroups = 0;
    saved->changed = false;
}

static char *frame_name(struct walk *w, size_t i)
{
    return w->names + w->frames[i].name_off;
}

/* "a/b/leaf" for the entry leaf in the deepest frame; built only when a failure is reported. */
static char *build_path(struct walk *w, const char *leaf)
{
    size_t len = strlen(w->prefix) + strlen(leaf) + 1;
    char *p, *s;

    for (size_t i = 1; i < w->depth; i++)
        len += strlen(frame_name(w, i)) + 1;
    s = p = malloc(len);
    if (!s)
        return NULL;
    p = stpcpy(p, w->prefix);
    for (size_t i = 1; i < w->depth; i++)
        p = stpcpy(stpcpy(p, frame_name(w, i)), "/");
    /* NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.strcpy): len above counts every byte copied. */
    strcpy(p, leaf);
    return s;
}

/* Record the failure of leaf (a name in the deepest frame, or "" for that frame itself). */
static void fail(struct walk *w, const char *leaf, int err)
{
    struct shared *sh = w->sh;
    struct rmtree_result *r = sh->r;
    char *path = build_path(w, leaf);

    if (path && *leaf == '\0' && strlen(path) > 0)
        path[strlen(path) - 1] = '\0'; /* drop the trailing "/" */
    (void)pthread_mutex_lock(&sh->lock);
    if (sh->first_error == 0)
        sh->first_error = err;
    r->nerrors++;
    if (r->nreported < RMTREE_MAX_REPORTED) {
        r->errors[r->nreported].path = steal_ptr(&path);
        r->errors[r->nreported].err = err;
        r->nreported++;
    }
    (void)pthread_mutex_unlock(&sh->lock);
    free(path);
}

static int push_name(struct walk *w, const char *name)
{
    size_t len = strlen(name) + 1;

    if (w->nlen + len > w->ncap) {
        size_t cap = w->ncap ? w->ncap : 4096;
        char *n;
        while (cap < w->nlen + len)
            cap *= 2;
        n = realloc(w->names, cap);
        if (!n)
            return -ENOMEM;
        w->names = n;
        w->ncap = cap;
    }
    memcpy(w->names + w->nlen, name, len);
    w->nlen += len;
    return 0;
}

static void close_frame_fd(struct walk *w, struct frame *f)
{
    if (f->fd >= 0) {
        (void)close(f->fd);
        f->fd = -1;
        (void)__atomic_sub_fetch(&w->sh->open_fds, 1, __ATOMIC_RELAXED);
    }
}

static void note_open(struct walk *w)
{
    unsigned n = __atomic_add_fetch(&w->sh->open_fds, 1, __ATOMIC_RELAXED);
    unsigned seen = __atomic_load_n(&w->sh->r->max_fds, __ATOMIC_RELAXED);

    while (n > seen &&
           !__atomic_compare_exchange_n(&w->sh->r->max_fds, &seen, n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Check that the directory open at fd is on the walk's mount, and make it usable if this user owns it but its
 * mode denies us: 0555 and 0000 trees (Go's module cache, chmod -R a-w) are normal in a workspace. */
static int vet_dir(const struct walk *w, int fd, struct frame *f)
{
    struct fdstat fs;
    int ret = fdstat_get(fd, &fs);

    if (ret < 0)
        return ret;
    if (!S_ISDIR(fs.st.st_mode))
        return -ENOTDIR;
    /* A different mount id catches bind mounts of the same filesystem, which share st_dev. */
    if (fs.st.st_dev != w->sh->dev || fs.mnt_id != w->sh->mnt_id)
        return -EXDEV;
    f->dev = fs.st.st_dev;
    f->ino = fs.st.st_ino;
    if (fs.st.st_uid == w->sh->owner && (fs.st.st_mode & 0700) != 0700 && !w->sh->count_only)
        return fchmod_any(fd, (fs.st.st_mode & 07777) | 0700);
    return 0;
}

/* Open subdirectory name of the deepest frame without following a symlink, and vet it. */
static int open_subdir(struct walk *w, const char *name, struct frame *child)
{
    int pfd = w->frames[w->depth - 1].fd;
    cleanup_fd int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    bool reopened = false;
    dev_t dev = 0;
    ino_t ino = 0;
    int ret;

    if (fd < 0 && errno == EACCES && !w->sh->count_only) {
        /* Unreadable: take an O_PATH fd on the same inode, vet it (mount, owner) and fix its mode, then open
         * it for reading through that fd, so the name is resolved once. */
        cleanup_fd int pfd2 = openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd2 < 0)
            return neg_errno();
        ret = vet_dir(w, pfd2, child);
        if (ret < 0)
            return ret;
        fd = openat(pfd2, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* One fd short (a walk fitted into two): let the O_PATH fd go and resolve the name again, taking
             * only the inode just vetted. */
            close_fdp(&pfd2);
            fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
            reopened = true;
            dev = child->dev;
            ino = child->ino;
        }
    }
    if (fd < 0)
        return neg_errno();
    ret = vet_dir(w, fd, child);
    if (ret < 0)
        return ret;
    if (reopened && (child->dev != dev || child->ino != ino))
        return -ESTALE;
    child->fd = steal_fd(&fd);
    note_open(w);
    return 0;
}

static int unlink_entry(struct walk *w, int dfd, const char *name)
{
    if (w->sh->opts->count_bytes || w->sh->count_only) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            w->bytes += (unsigned long long)st.st_size;
        else if (w->sh->count_only)
            return neg_errno();
    }
    if (w->sh->count_only || unlinkat(dfd, name, 0) == 0) {
        w->entries++;
        return 0;
    }
    return neg_errno();
}

static int by_inode(const void *a, const void *b)
{
    const struct victim *x = a, *y = b;

    return (x->ino > y->ino) - (x->ino < y->ino);
}

/* Unlink the batch in inode order. A name that turned into a directory meanwhile joins the subdirectories.
 * Only running out of memory is returned; other failures are recorded. */
static int flush_victims(struct walk *w, struct frame *f)
{
    int ret = 0;

    if (w->nvictims == 0)
        return 0; /* and qsort() must not see the NULL of a batch never allocated */
    qsort(w->victims, w->nvictims, sizeof(*w->victims), by_inode);
    for (size_t i = 0; i < w->nvictims && ret == 0; i++) {
        const char *name = w->vnames + w->victims[i].off;
        int r = unlink_entry(w, f->fd, name);
        if (r == -EISDIR) {
            ret = push_name(w, name);
            if (ret < 0)
                fail(w, name, ret);
        } else if (r < 0 && r != -ENOENT) {
            fail(w, name, r);
            f->failed = true;
        }
    }
    w->nvictims = 0;
    w->vnlen = 0;
    return ret;
}

/* Queue name for flush_victims(); false if there is no memory for it (the caller unlinks it at once). */
static bool add_victim(struct walk *w, uint64_t ino, const char *name)
{
    size_t len = strlen(name) + 1;

    if (!w->victims) {
        w->victims = malloc(UNLINK_BATCH * sizeof(*w->victims));
        if (!w->victims)
            return false;
    }
    if (w->vnlen + len > w->vncap) {
        size_t cap = w->vncap ? w->vncap * 2 : 65536;
        char *n;
        while (cap < w->vnlen + len)
            cap *= 2;
        n = realloc(w->vnames, cap);
        if (!n)
            return false;
        w->vnames = n;
        w->vncap = cap;
    }
    memcpy(w->vnames + w->vnlen, name, len);
    w->victims[w->nvictims++] = (struct victim){ino, w->vnlen};
    w->vnlen += len;
    return true;
}

/* Read the deepest directory once: unlink what is not a directory, queue the subdirectories. Failures are
 * recorded; only running out of memory stops the walk. */
static int scan(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];

    f->scanned = true;
    f->scans++;
    f->pend_start = f->pend_next = w->nlen;
    if (lseek(f->fd, 0, SEEK_SET) < 0) {
        fail(w, "", neg_errno());
        f->failed = true;
        return 0;
    }
    for (;;) {
        long n = syscall(SYS_getdents64, f->fd, w->buf, sizeof(w->buf));
        if (n < 0) {
            int err = neg_errno();
            if (err == -EINTR)
                continue;
            /* ENOENT: the directory itself was removed meanwhile, nothing left to read. */
            if (err != -ENOENT) {
                fail(w, "", err);
                f->failed = true;
            }
            return flush_victims(w, f);
        }
        if (n == 0)
            return flush_victims(w, f);
        for (long off = 0; off < n;) {
            /* The record's fixed part copied out, not cast: the buffer holds bytes, not structs. */
            struct linux_dirent64 d;
            const char *name = w->buf + off + offsetof(struct linux_dirent64, d_name);
            unsigned char type;
            int ret;

            memcpy(&d, w->buf + off, offsetof(struct linux_dirent64, d_name));
            type = d.d_type;
            off += d.d_reclen;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                    if (errno != ENOENT) {
                        fail(w, name, neg_errno());
                        f->failed = true;
                    }
                    continue;
                }
                type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
            }
            if (type != DT_DIR && add_victim(w, d.d_ino, name)) {
                if (w->nvictims == UNLINK_BATCH) {
                    ret = flush_victims(w, f);
                    if (ret < 0)
                        return ret;
                }
                continue;
            }
            if (type != DT_DIR) {
                ret = unlink_entry(w, f->fd, name);
                if (ret == -EISDIR)
                    type = DT_DIR; /* replaced by a directory since it was read */
                else if (ret < 0 && ret != -ENOENT) {
                    fail(w, name, ret);
                    f->failed = true;
                }
            }
            if (type == DT_DIR) {
                ret = push_name(w, name);
                if (ret < 0) {
                    fail(w, name, ret);
                    return ret;
                }
            }
        }
    }
}

static int push_frame(struct walk *w)
{
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct frame *n = realloc(w->frames, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        w->frames = n;
        w->cap = cap;
    }
    w->frames[w->depth] = (struct frame){.fd = -1};
    return 0;
}

/* Descend into the next pending subdirectory of the deepest frame. They are taken in the order the scan read
 * them, as rm -rf does: on btrfs the order of the parent's index items and of the inodes. */
static int descend(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];
    size_t off = f->pend_next;
    struct frame *child;
    int ret;

    f->pend_next += strlen(w->names + off) + 1;
    ret = push_frame(w);
    if (ret < 0) {
        fail(w, w->names + off, ret);
        return ret;
    }
    f = &w->frames[w->depth - 1];
    child = &w->frames[w->depth];
    child->name_off = off;
    ret = open_subdir(w, w->names + off, child);
    if (ret == -ELOOP || ret == -ENOTDIR) {
        /* Swapped for a symlink or a file since the scan: unlink that entry, never follow it. Unlinked, it is
         * done: there is no directory to enter. */
        ret = unlink_entry(w, f->fd, w->names + off);
        if (ret == 0)
            return 0;
    }
    if (ret < 0) {
        /* ENOENT: removed by someone else meanwhile, which is what we wanted. */
        if (ret != -ENOENT) {
            fail(w, w->names + off, ret);
            f->failed = true;
            if (w->sh->count_only)
                w->entries++; /* a directory we may not read or enter is still one entry */
        }
        return 0;
    }
    child->pend_start = child->pend_next = w->nlen;
    w->depth++;
    if (w->depth > w->levels + 1)
        close_frame_fd(w, &w->frames[w->depth - w->levels - 1]);
    return 0;
}

/* Make sure the parent of the deepest frame is open, reopening it through ".." if it was closed on the way
 * down; the directory found there must be the one we left (same device and inode), or the tree was moved
 * under us and going on could reach outside it. */
static int reopen_parent(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];
    struct frame *p = &w->frames[w->depth - 2];
    struct stat st;
    int fd;

    if (p->fd >= 0)
        return 0;
    fd = openat(f->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return neg_errno();
    if (fstat(fd, &st) < 0 || st.st_dev != p->dev || st.st_ino != p->ino) {
        (void)close(fd);
        return -ESTALE;
    }
    p->fd = fd;
    note_open(w);
    return 0;
}

/* unlinkat(AT_REMOVEDIR) of the deepest frame's directory failed with err. If entries appeared in it while we
 * worked, read it again, a bounded number of times: something that keeps creating entries is reported, not
 * chased forever. */
static bool rescan(struct walk *w, int err)
{
    struct frame *f = &w->frames[w->depth - 1];

    if (err != ENOTEMPTY || f->scans >= MAX_SCANS)
        return false;
    f->scanned = false;
    w->nlen = f->pend_start; /* the names of the last scan, all visited */
    return true;
}

/* The deepest frame is done: remove it through its parent and pop it. */
static int ascend(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];
    struct frame *p;
    const char *name = frame_name(w, w->depth - 1);
    int ret = reopen_parent(w);

    if (ret < 0) {
        /* Without a verified parent nothing above can be reached safely: stop the walk. */
        fail(w, "", ret);
        return ret;
    }
    p = &w->frames[w->depth - 2];
    if (w->sh->count_only) {
        w->entries++;
    } else if (!f->failed) {
        if (unlinkat(p->fd, name, AT_REMOVEDIR) == 0) {
            w->entries++;
        } else if (rescan(w, errno)) {
            return 0;
        } else if (errno != ENOENT) {
            ret = neg_errno();
            w->depth--;
            fail(w, name, ret);
            w->depth++;
            f->failed = true;
        }
    }
    if (f->failed)
        p->failed = true;
    close_frame_fd(w, f);
    w->nlen = f->pend_start; /* its names, above the rest of its parent's */
    w->depth--;
    return 0;
}

/* Take the owner's identity on this thread, if the walk removes as the owner. */
static int enter_owner(const struct shared *sh, struct rmtree_creds *saved)
{
    *saved = (struct rmtree_creds){0};
    if (!sh->opts->as_owner)
        return 0;
    return rmtree_creds_enter(sh->opts->owner_uid, sh->opts->owner_gid, saved);
}

/* rmdir the top through its parent if that name still is the directory we emptied: 0 when it is gone (removed
 * here or meanwhile: what is at the name now is the caller's to look at), 1 to scan it again, else -errno. */
static int rmdir_top(struct walk *w)
{
    struct shared *sh = w->sh;
    struct stat mine, there;

    if (fstat(w->frames[0].fd, &mine) < 0)
        return neg_errno();
    if (mine.st_nlink == 0)
        return 0;
    if (fstatat(sh->top_parent, sh->top_name, &there, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? -ESTALE : neg_errno();
    /* Only the inode we hold: if the name now is something else, ours was moved and is not there. */
    if (there.st_dev != mine.st_dev || there.st_ino != mine.st_ino)
        return -ESTALE;
    if (unlinkat(sh->top_parent, sh->top_name, AT_REMOVEDIR) == 0) {
        w->entries++;
        return 0;
    }
    if (rescan(w, errno))
        return 1;
    return errno == ENOENT ? 0 : neg_errno();
}

/* Frame 0 of rmtree_remove_at()'s walk is empty: remove it through the parent it was given, if that name
 * still is the directory we emptied, with the caller's own rights (the parent is a base, root's or the
 * caller's, which the owner may not write). The outcome goes to sh->top_ret, not to the error list. */
static int remove_top(struct walk *w)
{
    struct shared *sh = w->sh;
    int ret;

    sh->top_done = true;
    if (w->frames[0].failed)
        return 0; /* something below stays and was reported */
    rmtree_creds_leave(&w->creds);
    ret = rmdir_top(w);
    if (ret == 1) {
        sh->top_done = false;
        ret = enter_owner(sh, &w->creds);
    }
    sh->top_ret = ret;
    return ret;
}

static int parallel_region(struct walk *w);

/* Run the walk until its frame 0 has nothing left to visit; frame 0 itself is removed only by the main walk
 * of rmtree_remove_at(). */
static void walk_loop(struct walk *w)
{
    while (w->depth > 0) {
        const struct frame *f = &w->frames[w->depth - 1];
        int ret;

        if (!f->scanned) {
            ret = scan(w);
            if (ret == 0 && w->is_main && w->sh->nthreads > 1)
                ret = parallel_region(w);
        } else if (f->pend_next < w->nlen) {
            ret = descend(w);
        } else if (w->depth > 1) {
            ret = ascend(w);
        } else if (w->is_main && w->sh->top_name && !w->sh->top_done) {
            ret = remove_top(w);
        } else {
            break;
        }
        if (ret < 0) {
            /* Out of memory or a tree moved under us (already recorded): unwind, closing what we hold. */
            while (w->depth > 1)
                close_frame_fd(w, &w->frames[--w->depth]);
            break;
        }
    }
}

static struct walk *walk_new(struct shared *sh)
{
    struct walk *w = calloc(1, sizeof(*w));

    if (w && push_frame(w) < 0) {
        free(w);
        return NULL;
    }
    if (w) {
        w->sh = sh;
        w->prefix = "";
        w->levels = sh->levels;
    }
    return w;
}

/* Free the walk and give back the identity it took, if any. */
static void walk_free(struct walk *w)
{
    if (!w)
        return;
    rmtree_creds_leave(&w->creds);
    free(w->victims);
    free(w->vnames);
    free(w->frames);
    free(w->names);
    free(w);
}

/* Add a finished walk's counts to the result. */
static void walk_flush(struct walk *w)
{
    (void)pthread_mutex_lock(&w->sh->lock);
    w->sh->r->entries += w->entries;
    w->sh->r->bytes += w->bytes;
    (void)pthread_mutex_unlock(&w->sh->lock);
    w->entries = w->bytes = 0;
}

/* Remove subdirectory name of the region's parent with a serial walk whose frame 0 is that parent. Returns
 * false if something below stays. */
static bool remove_subtree(struct walk *w, const char *name)
{
    const struct shared *sh = w->sh;
    bool failed;

    w->depth = 1;
    w->nlen = 0;
    w->frames[0] = (struct frame){.fd = sh->parent_fd,
                                  .scanned = true,
                                  .dev = sh->parent_dev,
                                  .ino = sh->parent_ino,
                                  .name_off = NO_NAME,
                                  .pend_start = 0,
                                  .pend_next = 0};
    w->prefix = sh->prefix;
    if (push_name(w, name) < 0) {
        fail(w, name, -ENOMEM);
        return false;
    }
    walk_loop(w);
    failed = w->frames[0].failed;
    walk_flush(w);
    return !failed;
}

/* workpool_ops.start: a walk of the worker's own, under the owner's identity. Credentials are per thread: a
 * worker that cannot take the owner's removes nothing and leaves its share to the others. */
static void *worker_start(void *ctx)
{
    struct shared *sh = ctx;
    struct walk *w = walk_new(sh);

    if (w && enter_owner(sh, &w->creds) < 0) {
        walk_free(w);
        return NULL;
    }
    return w;
}

static void worker_stop(void *ctx, void *state)
{
    (void)ctx;
    walk_free(state);
}

/* workpool_ops.run: remove the region's subdirectory i. */
static void region_item(void *ctx, void *state, size_t i)
{
    struct shared *sh = ctx;

    if (!remove_subtree(state, sh->names[i]))
        __atomic_store_n(&sh->region_failed, true, __ATOMIC_RELAXED);
}

static const struct workpool_ops region_ops = {.start = worker_start, .run = region_item, .stop = worker_stop};

/* The deepest frame of the main walk was just scanned. If it has enough subdirectories, remove them with all
 * threads, each subtree by one serial walk; the frame is then left with nothing pending. */
static int parallel_region(struct walk *w)
{
    struct shared *sh = w->sh;
    struct frame *f = &w->frames[w->depth - 1];
    cleanup_free const char **names = NULL;
    cleanup_free char *prefix = NULL;
    struct walk *sub;
    size_t n = 0, cap = 0;
    unsigned threads;

    for (size_t off = f->pend_start; off < w->nlen; off += strlen(w->names + off) + 1) {
        if (n == cap) {
            const char **a = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*a));
            if (!a)
                return 0; /* no memory for a region: the serial walk does it */
            names = a;
        }
        names[n++] = w->names + off;
    }
    if (n < PARALLEL_MIN_SUBDIRS)
        return 0; /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees names */
    prefix = build_path(w, "");
    sub = walk_new(sh);
    if (!prefix || !sub) {
        walk_free(sub);
        return 0;
    }
    sh->parent_fd = f->fd;
    sh->parent_dev = f->dev;
    sh->parent_ino = f->ino;
    sh->names = names;
    sh->prefix = prefix;
    sh->region_failed = false;
    /* The calling thread takes items with a walk of its own: it already has the owner's identity. */
    threads = workpool_run(&sh->pool, n, sub);
    if (threads > sh->r->threads)
        sh->r->threads = threads;
    if (sh->region_failed)
        f->failed = true;
    sh->names = NULL;
    walk_free(sub);
    w->nlen = f->pend_next = f->pend_start;
    return 0;
}

/* How many threads remove a tree on each filesystem (statfs(2) f_type), and why; measured with make bench on
 * fresh images of each, wide, flat and deep trees (README, Performance). Where the kernel locks each directory
 * and nothing else much (tmpfs, ext4), threads working in different directories run side by side and a wide
 * tree goes about twice as fast on two cores. XFS serialises more of an unlink further down (its log and its
 * per-CPU background inode inactivation): two threads took 0.65x rm -rf's time on a wide tree, four 1.0x (and
 * one 1.0x), so it gets two. btrfs's b-tree locks and delayed references gave threads no gain at all: one. A
 * filesystem not measured gets one thread, the order rm -rf itself removes in. */
static const struct fs_policy {
    unsigned long magic;
    unsigned most; /* threads, at most one per CPU */
    const char *why;
} fs_policies[] = {
    {TMPFS_MAGIC, WORKPOOL_MAX_THREADS, "tmpfs: one thread per CPU, up to 4"},
    {EXT4_SUPER_MAGIC, WORKPOOL_MAX_THREADS, "ext4: one thread per CPU, up to 4"},
    {XFS_SUPER_MAGIC, 2, "xfs: one thread per CPU, up to 2: more contend in its log"},
    {BTRFS_SUPER_MAGIC, 1, "btrfs: one thread, threads contend on its b-tree locks"},
};

/* The threads the walk of the tree at dirfd may use, before fitting them into the fds left, and why. */
static unsigned thread_policy(int dirfd, const struct rmtree_opts *opts, bool count_only, const char **why)
{
    const struct fs_policy *pol = NULL;
    struct statfs fs;
    long cpus;

    if (count_only) {
        *why = "counting reads on one thread";
        return 1;
    }
    if (opts->threads) {
        *why = "asked for";
        return opts->threads > WORKPOOL_MAX_THREADS ? WORKPOOL_MAX_THREADS : opts->threads;
    }
    if (fstatfs(dirfd, &fs) == 0)
        for (size_t i = 0; i < ARRAY_SIZE(fs_policies) && !pol; i++)
            if ((unsigned long)fs.f_type == fs_policies[i].magic)
                pol = &fs_policies[i];
    if (!pol) {
        *why = "filesystem not measured: one thread, as rm -rf";
        return 1;
    }
    *why = pol->why;
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    return (unsigned long)cpus > pol->most ? pol->most : (unsigned)cpus;
}

/* Fit the walk into the fds left (ulimit -n 12, or a caller holding most of its table): fewer threads first,
 * since each needs a walk of its own, then fewer open levels, which only cost a reopen through ".." each. A
 * walk with threads also keeps its own levels open while its thread removes a subtree. With fewer fds than
 * even one thread keeping one level wants, the walk still tries: it can do with two, the directory it is in
 * and the one it enters. */
static void fit_fds(struct shared *sh, int dirfd, unsigned threads)
{
    unsigned room = sh->opts->fd_budget ? sh->opts->fd_budget : fdstat_free_fds(dirfd, FDS_WANTED);

    for (unsigned t = threads; t >= 1; t--) {
        for (unsigned l = OPEN_LEVELS; l >= 1; l--) {
            if ((t == 1 ? 0 : l) + t * WALK_FDS(l) <= room) {
                sh->nthreads = t;
                sh->levels = l;
                return;
            }
        }
    }
    sh->nthreads = 1;
    sh->levels = 1;
}

/* The walk of rmtree_contents(), rmtree_remove_at() (name set: dirfd is name in parentfd) and rmtree_count(),
 * which differ only in what they do to what they find. */
static int run_walk(int parentfd, const char *name, int dirfd, const struct rmtree_opts *opts, bool count_only,
                    struct rmtree_result *r)
{
    static const struct rmtree_opts defaults;
    struct shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER, .top_parent = parentfd, .top_name = name};
    struct walk *w;
    struct fdstat top;
    int ret = fdstat_get(dirfd, &top);

    if (ret < 0)
        return ret;
    if (!S_ISDIR(top.st.st_mode))
        return -ENOTDIR;
    sh.r = r;
    sh.opts = opts ? opts : &defaults;
    sh.owner = sh.opts->as_owner ? sh.opts->owner_uid : geteuid();
    sh.dev = top.st.st_dev;
    sh.mnt_id = top.mnt_id;
    sh.open_fds = 1;
    sh.count_only = count_only;
    r->threads_max = thread_policy(dirfd, sh.opts, count_only, &r->threads_why);
    fit_fds(&sh, dirfd, r->threads_max);
    if (sh.nthreads < r->threads_max) {
        r->threads_max = sh.nthreads;
        r->threads_why = "few file descriptors left";
    }
    if (r->max_fds < 1)
        r->max_fds = 1;
    if (r->threads < 1)
        r->threads = 1;
    w = walk_new(&sh);
    if (!w)
        return -ENOMEM;
    ret = enter_owner(&sh, &w->creds);
    if (ret < 0) {
        walk_free(w);
        return ret;
    }
    workpool_init(&sh.pool, sh.nthreads, &region_ops, &sh);
    w->is_main = true;
    w->frames[0] = (struct frame){.fd = dirfd, .name_off = NO_NAME};
    w->depth = 1;
    ret = vet_dir(w, dirfd, &w->frames[0]);
    if (ret < 0)
        fail(w, "", ret);
    else
        walk_loop(w);
    walk_flush(w);
    workpool_finish(&sh.pool);
    walk_free(w);
    return sh.first_error ? sh.first_error : sh.top_ret;
}

int rmtree_contents(int dirfd, const struct rmtree_opts *opts, struct rmtree_result *r)
{
    return run_walk(-1, NULL, dirfd, opts, false, r);
}

int rmtree_remove_at(int parentfd, const char *name, int dirfd, const struct rmtree_opts *opts,
                     struct rmtree_result *r)
{
    return run_walk(parentfd, name, dirfd, opts, false, r);
}

int rmtree_count(int dirfd, const struct rmtree_opts *opts, struct rmtree_result *r)
{
    return run_walk(-1, NULL, dirfd, opts, true, r);
}

void rmtree_result_free(struct rmtree_result *r)
{
    for (size_t i = 0; i < r->nreported; i++)
        free(r->errors[i].path);
    r->nreported = 0;
}

void rmtree_report(const char *top, const struct rmtree_result *r, int ret)
{
    for (size_t i = 0; i < r->nreported; i++) {
        const struct rmtree_error *e = &r->errors[i];
        const char *rel = e->path ? e->path : "?";
        const char *sep = *rel ? "/" : "";
        if (e->err == -EXDEV)
            warn("cannot remove %s%s%s: a mount point or another filesystem; not crossed", top, sep, rel);
        else if (e->err == -ESTALE)
            warn("cannot remove %s%s%s: moved during removal; stopped there", top, sep, rel);
        else
            warn_errno(e->err, "cannot remove %s%s%s", top, sep, rel);
    }
    if (r->nerrors > r->nreported)
        warn("... and %llu more entries under %s could not be removed", r->nerrors - r->nreported, top);
    if (ret < 0 && r->nerrors == 0) {
        if (ret == -ESTALE)
            warn("cannot remove %s: no longer the directory tmprun created; left alone", top);
        else
            warn_errno(ret, "cannot remove %s", top);
    }
}
