#include "config.h"

#include "gc.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdstat.h"
#include "log.h"
#include "util.h"
#include "workspace.h"

/* Threads of one --gc sweep at most, and the fds each reserves: the candidate's, the one workspace_remove_at()
 * may reopen its name with, GC_WALK_FDS for its serial walk, and one spare (getpwuid_r() reads a file). */
#define GC_MAX_THREADS 4
#define GC_WALK_FDS 6 /* a serial walk keeping 4 levels open; with fewer it reopens through ".." */
#define GC_THREAD_FDS (GC_WALK_FDS + 3)
_Static_assert(GC_MAX_THREADS * GC_THREAD_FDS <= FDSTAT_FREE_MAX, "fdstat_free_fds() counts them all");

/* The names in the base that match the workspace pattern, in one allocation. */
struct names {
    char **v;
    size_t n;
};

static void names_free(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    *ns = (struct names){0};
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the base once: every entry whose name matches, sorted. 0 or -errno. */
static int read_names(const struct gc_spec *spec, struct names *out)
{
    struct names ns = {0};
    size_t cap = 0;
    const struct dirent *e;
    DIR *d;
    int dfd = fcntl(spec->basefd, F_DUPFD_CLOEXEC, 0), ret = 0;

    *out = ns;
    if (dfd < 0)
        return neg_errno();
    /* fdopendir() shares the offset with basefd's duplicate only: rewind it for a second reading. */
    d = lseek(dfd, 0, SEEK_SET) < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        ret = neg_errno();
        (void)close(dfd);
        return ret;
    }
    while ((errno = 0, e = readdir(d))) {
        if (!workspace_name_matches(e->d_name, spec->prefix, spec->suffix))
            continue;
        if (ns.n == cap) {
            char **v = realloc(ns.v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
            if (!v) {
                ret = -ENOMEM;
                break;
            }
            ns.v = v;
        }
        ns.v[ns.n] = strdup(e->d_name);
        if (!ns.v[ns.n]) {
            ret = -ENOMEM;
            break;
        }
        ns.n++;
    }
    if (ret == 0 && errno != 0)
        ret = neg_errno();
    (void)closedir(d);
    if (ret < 0) {
        names_free(&ns);
        return ret;
    }
    if (ns.n > 1)
        qsort(ns.v, ns.n, sizeof(*ns.v), by_name);
    *out = ns;
    return 0;
}

static int fail(const struct gc_spec *spec, const char *name, struct gc_stats *stats, int err)
{
    stats->failed++;
    warn_errno(err, "cannot examine %s/%s", spec->base, name);
    return err;
}

/* The last owner looked up, and its group: a sweep meets the same few owners thousands of times, and each
 * getpwuid_r() reads the passwd database again. One per thread. */
struct owner_cache {
    bool valid;
    uid_t uid;
    gid_t gid;
};

/* The group a workspace's owner removes it with: the owner's own (primary) group, or, for a uid without a
 * passwd entry, the directory's. getpwuid_r(): the sweep's threads call it at once. */
static gid_t owner_group(uid_t uid, gid_t dir_gid, struct owner_cache *cache)
{
    struct passwd pw, *found = NULL;
    char buf[4096];

    if (cache && cache->valid && cache->uid == uid)
        return cache->gid;
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return dir_gid; /* not cached: it depends on the directory */
    if (cache)
        *cache = (struct owner_cache){true, uid, found->pw_gid};
    return found->pw_gid;
}

/* Open candidate name as a directory, never following a symlink, and vet it: on the base's mount (a mount on a
 * workspace name is never entered, and counts as a failure) and, unless the caller is root, the caller's.
 * 1 with *fd and *fs set; 0 if it is not a candidate; -errno on failure (reported). */
static int open_candidate(const struct gc_spec *spec, const struct fdstat *base, const char *name,
                          struct gc_stats *stats, int *fd, struct fdstat *fs)
{
    cleanup_fd int f = openat(spec->basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    int ret;

    if (f < 0)
        return 0; /* gone, not a directory, or a symlink: not a workspace */
    ret = fdstat_get(f, fs);
    if (ret < 0)
        return fail(spec, name, stats, ret);
    if (geteuid() != 0 && fs->st.st_uid != geteuid())
        return 0;
    /* A mount on a workspace name (a bind mount of any directory, planted by COMMAND or by root) would have
     * the walk take the mounted tree for the workspace: never enter it. */
    if (fdstat_same_mount(base, fs) < 0) {
        stats->failed++;
        warn("not removing %s/%s: a mount point or on another filesystem than the base; not entered",
             spec->base, name);
        return -EXDEV;
    }
    *fd = steal_fd(&f);
    return 1;
}

/* Take the candidate's liveness lock exclusively, without waiting, and remove it while holding it. "removed"
 * lines go to stdout when report is set (--gc), else to -v's stderr (--retain: stdout is COMMAND's). Returns
 * 0 unless removing it failed. */
static int remove_locked(const struct gc_spec *spec, const char *name, int fd, struct fdstat *fs,
                         struct gc_stats *stats, bool report, const struct rmtree_opts *ro,
                         struct owner_cache *owners)
{
    struct rmtree_result r = {0};
    int ret;

    /* Held (shared) by a live tmprun and by what keeps its run alive: never remove those. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            return fail(spec, name, stats, neg_errno());
        stats->busy++;
        info("skipping %s/%s: in use", spec->base, name);
        return 0;
    }
    /* Another --gc may have removed it between our open and our lock. */
    if (fstat(fd, &fs->st) < 0)
        return fail(spec, name, stats, neg_errno());
    if (fs->st.st_nlink == 0)
        return 0;
    if (spec->dry_run) {
        stats->removed++;
        (void)printf("would remove %s/%s\n", spec->base, name);
        return 0;
    }
    ret = workspace_remove_at(spec->basefd, name, fd, fs->st.st_uid,
                              owner_group(fs->st.st_uid, fs->st.st_gid, owners), ro, &r);
    if (ret == 0) {
        stats->removed++;
        if (report)
            (void)printf("removed %s/%s\n", spec->base, name);
        else
            info("removed %s/%s", spec->base, name);
    } else {
        char *path;
        stats->failed++;
        if (asprintf(&path, "%s/%s", spec->base, name) >= 0) {
            /* One workspace's lines together, whichever thread reports. */
            flockfile(stderr);
            workspace_report(path, &r, ret);
            funlockfile(stderr);
            free(path);
        }
    }
    rmtree_result_free(&r);
    return ret;
}

static time_t changed_at(const struct stat *st)
{
    return st->st_mtime > st->st_ctime ? st->st_mtime : st->st_ctime;
}

/* Decide about one candidate and remove it if it is stale. Returns 0 unless removing it failed. */
static int reap_one(const struct gc_spec *spec, const struct fdstat *base, const char *name,
                    struct gc_stats *stats, const struct rmtree_opts *ro, struct owner_cache *owners)
{
    cleanup_fd int fd = -1;
    struct fdstat fs;
    struct timespec now;
    time_t changed;
    int ret = open_candidate(spec, base, name, stats, &fd, &fs);

    if (ret <= 0)
        return ret;
    (void)clock_gettime(CLOCK_REALTIME, &now);
    changed = changed_at(&fs.st);
    /* 0 means any age, even a timestamp in the future (clock skew). */
    if (spec->older_than > 0 && (double)(now.tv_sec - changed) < spec->older_than) {
        stats->young++;
        info("skipping %s/%s: changed %lds ago", spec->base, name, (long)(now.tv_sec - changed));
        return 0;
    }
    return remove_locked(spec, name, fd, &fs, stats, true, ro, owners);
}

/* Zero the counts, identify the base's mount and read its candidates' names. 0 or -errno. */
static int start_pass(const struct gc_spec *spec, struct gc_stats *stats, struct fdstat *base, struct names *ns)
{
    int ret;

    *stats = (struct gc_stats){0};
    ret = fdstat_get(spec->basefd, base);
    return ret < 0 ? ret : read_names(spec, ns);
}

/* The sweep's threads: each takes the next name, decides about it and removes it whole, with a serial walk. */
struct sweep {
    const struct gc_spec *spec;
    const struct fdstat *base;
    const struct names *ns;
    int *rets; /* each name's outcome, for the first error in name order */
    struct rmtree_opts ro;
    pthread_mutex_t lock; /* guards next and stats */
    size_t next;
    struct gc_stats stats;
};

static void stats_add(struct gc_stats *to, const struct gc_stats *from)
{
    to->removed += from->removed;
    to->busy += from->busy;
    to->young += from->young;
    to->failed += from->failed;
}

static void *sweep_worker(void *arg)
{
    struct sweep *sw = arg;
    struct gc_stats mine = {0};
    struct owner_cache owners = {0};

    for (;;) {
        size_t i;
        (void)pthread_mutex_lock(&sw->lock);
        i = sw->next < sw->ns->n ? sw->next++ : SIZE_MAX;
        (void)pthread_mutex_unlock(&sw->lock);
        if (i == SIZE_MAX)
            break;
        sw->rets[i] = reap_one(sw->spec, sw->base, sw->ns->v[i], &mine, &sw->ro, &owners);
    }
    (void)pthread_mutex_lock(&sw->lock);
    stats_add(&sw->stats, &mine);
    (void)pthread_mutex_unlock(&sw->lock);
    return NULL;
}

/* Threads for a sweep of n candidates: two per online CPU (a removal on a disk sleeps in the journal and in
 * I/O, and another thread then has the CPU), at most GC_MAX_THREADS, at most one per candidate, and only as
 * many as the fds left allow, GC_THREAD_FDS each. */
static unsigned sweep_threads(int basefd, size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = cpus < 1 ? 1 : 2 * (size_t)cpus;

    if (t > GC_MAX_THREADS)
        t = GC_MAX_THREADS;
    if (t > n)
        t = n;
    if (t > 1) {
        size_t room = fdstat_free_fds(basefd, (unsigned)t * GC_THREAD_FDS) / GC_THREAD_FDS;
        t = room < t ? room : t;
    }
    return t < 1 ? 1 : (unsigned)t;
}

int gc_run(const struct gc_spec *spec, struct gc_stats *stats)
{
    pthread_t threads[GC_MAX_THREADS];
    struct sweep sw = {.spec = spec, .lock = PTHREAD_MUTEX_INITIALIZER};
    struct names ns;
    struct fdstat base;
    unsigned nthreads, started = 0;
    int first;

    first = start_pass(spec, stats, &base, &ns);
    if (first < 0)
        return first;
    sw.base = &base;
    sw.ns = &ns;
    sw.rets = calloc(ns.n ? ns.n : 1, sizeof(*sw.rets));
    if (!sw.rets) {
        names_free(&ns);
        return -ENOMEM;
    }
    nthreads = sweep_threads(spec->basefd, ns.n);
    /* Several workspaces at once, each by one thread with a serial walk: unlinks in different directories run
     * side by side, and the threads and fds stay bounded (nthreads walks). A lone workspace keeps the
     * parallel walk of its subtrees (threads 0: rmtree's own choice). Each walk gets its reserved fds rather
     * than counting what is free while the other threads open theirs. Credentials are per thread
     * (rmtree_creds_enter()), so each removal runs as its own workspace's owner. */
    if (nthreads > 1)
        sw.ro = (struct rmtree_opts){.threads = 1, .fd_budget = GC_WALK_FDS};
    for (unsigned i = 1; i < nthreads; i++)
        if (pthread_create(&threads[started], NULL, sweep_worker, &sw) == 0)
            started++;
    (void)sweep_worker(&sw);
    for (unsigned i = 0; i < started; i++)
        (void)pthread_join(threads[i], NULL);
    *stats = sw.stats;
    for (size_t i = 0; i < ns.n; i++)
        if (sw.rets[i] < 0 && first == 0)
            first = sw.rets[i];
    free(sw.rets);
    names_free(&ns);
    (void)fflush(stdout);
    return first;
}

/* A kept workspace: a directory of owner whose sticky bit tmprun set when it kept it. */
static bool is_kept(const struct stat *st, uid_t owner)
{
    return S_ISDIR(st->st_mode) && st->st_uid == owner && (st->st_mode & S_ISVTX);
}

struct kept {
    struct timespec when; /* its status change: when tmprun set the sticky bit, unless touched since */
    size_t i;             /* its name in names */
};

static int newest_first(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;

    if (x->when.tv_sec != y->when.tv_sec)
        return x->when.tv_sec < y->when.tv_sec ? 1 : -1;
    if (x->when.tv_nsec != y->when.tv_nsec)
        return x->when.tv_nsec < y->when.tv_nsec ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

int gc_retain(const struct gc_spec *spec, uid_t owner, unsigned keep, struct gc_stats *stats)
{
    cleanup_free struct kept *k = NULL;
    struct names ns;
    struct fdstat base;
    size_t nk = 0;
    int first;

    first = start_pass(spec, stats, &base, &ns);
    if (first < 0)
        return first;
    k = calloc(ns.n ? ns.n : 1, sizeof(*k));
    if (!k) {
        names_free(&ns);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ns.n; i++) {
        struct stat st;
        if (fstatat(spec->basefd, ns.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && is_kept(&st, owner))
            k[nk++] = (struct kept){st.st_ctim, i};
    }
    qsort(k, nk, sizeof(*k), newest_first);
    /* Beyond the newest keep: opened, checked again (still kept, still the owner's, on the base's mount) and
     * removed under the exclusive lock, so a live run (locked), a run being created (locked, not sticky) and
     * a crashed run's leftovers (not sticky) are never touched, and of two runs pruning at once only one
     * removes a given workspace. */
    for (size_t j = keep; j < nk; j++) {
        const char *name = ns.v[k[j].i];
        cleanup_fd int fd = -1;
        struct fdstat fs;
        int ret = open_candidate(spec, &base, name, stats, &fd, &fs);
        if (ret > 0 && is_kept(&fs.st, owner))
            ret = remove_locked(spec, name, fd, &fs, stats, false, NULL, NULL);
        if (ret < 0 && first == 0)
            first = ret;
    }
    names_free(&ns);
    return first;
}

/* ---- --list ---- */

/* A flock(2) in /proc/locks: the locked inode and the pid that took it. */
struct held {
    dev_t dev;
    ino_t ino;
    pid_t pid;
};

/* Every FLOCK lock in /proc/locks ("1: FLOCK  ADVISORY  READ  1234 08:01:5678 0 EOF"). Waiters ("1: -> ...")
 * hold nothing. An unreadable /proc/locks leaves the list empty: every workspace then shows as not live. */
static void read_locks(struct held **out, size_t *n)
{
    FILE *f = fopen("/proc/locks", "re");
    struct held *v = NULL;
    size_t cap = 0;
    char line[256];

    *out = NULL;
    *n = 0;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned maj, min;
        unsigned long long ino;
        int pid;
        char type[16];
        /* NOLINTNEXTLINE(cert-err34-c): the kernel writes these fields; the count check suffices. */
        if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%llu", type, &pid, &maj, &min, &ino) != 5 ||
            strcmp(type, "FLOCK") != 0)
            continue;
        if (*n == cap) {
            struct held *a = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*a));
            if (!a)
                break;
            v = a;
        }
        v[(*n)++] = (struct held){makedev(maj, min), (ino_t)ino, (pid_t)pid};
    }
    (void)fclose(f);
    *out = v;
}

/* The pid of a process holding the directory dev:ino, from /proc/locks if that process still exists, else by
 * looking for an open descriptor on it in /proc/PID/fd (after a SIGKILLed tmprun the lock's pid is gone, but
 * the keeper or COMMAND still holds it). 0 if unknown (another user's processes are not visible). */
static pid_t holder(const struct held *locks, size_t n, dev_t dev, ino_t ino)
{
    DIR *proc;
    const struct dirent *e;
    pid_t found = 0;

    for (size_t i = 0; i < n; i++)
        if (locks[i].dev == dev && locks[i].ino == ino && locks[i].pid > 0 && kill(locks[i].pid, 0) == 0)
            return locks[i].pid;
    proc = opendir("/proc");
    if (!proc)
        return 0;
    while (!found && (e = readdir(proc))) {
        char path[sizeof("/proc//fd") + NAME_MAX];
        DIR *fds;
        struct dirent *fe;
        int fdsfd;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%s/fd", e->d_name);
        fds = opendir(path);
        if (!fds)
            continue;
        fdsfd = dirfd(fds);
        while (fdsfd >= 0 && (fe = readdir(fds))) {
            struct stat st;
            /* stat(2) follows the magic link to the very object the descriptor holds. */
            if (fstatat(fdsfd, fe->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode) && st.st_dev == dev &&
                st.st_ino == ino) {
                found = (pid_t)strtol(e->d_name, NULL, 10);
                break;
            }
        }
        (void)closedir(fds);
    }
    (void)closedir(proc);
    return found;
}

/* "45s", "12m", "3h", "2d": whole units, the largest that fits. */
static void format_age(time_t secs, char *out, size_t len)
{
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        (void)snprintf(out, len, "%llds", (long long)secs);
    else if (secs < (time_t)2 * 3600)
        (void)snprintf(out, len, "%lldm", (long long)secs / 60);
    else if (secs < (time_t)2 * 86400)
        (void)snprintf(out, len, "%lldh", (long long)secs / 3600);
    else
        (void)snprintf(out, len, "%lldd", (long long)secs / 86400);
}

/* --list -v: the entries and bytes below workspace name, counted with the removal's own walk (fd-relative,
 * never following a symlink, never entering another mount: a workspace that is itself on another mount than
 * the base is not entered at all). "-" for what cannot be read. */
static void count_workspace(const struct gc_spec *spec, const struct fdstat *base, const char *name, char *entries,
                            size_t elen, char *bytes, size_t blen)
{
    cleanup_fd int fd = openat(spec->basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    struct rmtree_result r = {0};
    struct fdstat fs;

    (void)snprintf(entries, elen, "-");
    (void)snprintf(bytes, blen, "-");
    if (fd < 0 || fdstat_get(fd, &fs) < 0 || fdstat_same_mount(base, &fs) < 0)
        return;
    /* A part it could not read is left out of the counts; the counts say what it could. */
    (void)rmtree_count(fd, NULL, &r);
    (void)snprintf(entries, elen, "%llu", r.entries);
    (void)snprintf(bytes, blen, "%llu", r.bytes);
    rmtree_result_free(&r);
}

int gc_list(const struct gc_spec *spec, bool verbose)
{
    cleanup_free struct held *locks = NULL;
    struct names ns;
    struct fdstat base;
    size_t nlocks;
    time_t now = time(NULL);
    int ret = fdstat_get(spec->basefd, &base);

    if (ret < 0)
        return ret;
    ret = read_names(spec, &ns);
    if (ret < 0)
        return ret;
    read_locks(&locks, &nlocks);
    if (verbose)
        (void)printf("%-5s %6s %-12s %8s %9s %12s %s\n", "STATE", "AGE", "OWNER", "PID", "ENTRIES", "BYTES", "PATH");
    else
        (void)printf("%-5s %6s %-12s %8s %s\n", "STATE", "AGE", "OWNER", "PID", "PATH");
    for (size_t i = 0; i < ns.n; i++) {
        struct stat st;
        const char *state = "stale";
        char age[32], owner[32], pid[16] = "-";
        const struct passwd *pw;
        bool live = false;
        if (fstatat(spec->basefd, ns.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        for (size_t j = 0; j < nlocks && !live; j++)
            live = locks[j].dev == st.st_dev && locks[j].ino == st.st_ino;
        if (live) {
            pid_t p = holder(locks, nlocks, st.st_dev, st.st_ino);
            state = "live";
            if (p > 0)
                (void)snprintf(pid, sizeof(pid), "%d", (int)p);
        } else if (st.st_mode & S_ISVTX) {
            state = "kept";
        }
        format_age(now - changed_at(&st), age, sizeof(age));
        pw = getpwuid(st.st_uid);
        if (pw)
            (void)snprintf(owner, sizeof(owner), "%s", pw->pw_name);
        else
            (void)snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
        if (verbose) {
            char entries[24], bytes[24];
            count_workspace(spec, &base, ns.v[i], entries, sizeof(entries), bytes, sizeof(bytes));
            (void)printf("%-5s %6s %-12s %8s %9s %12s %s/%s\n", state, age, owner, pid, entries, bytes, spec->base,
                         ns.v[i]);
        } else {
            (void)printf("%-5s %6s %-12s %8s %s/%s\n", state, age, owner, pid, spec->base, ns.v[i]);
        }
    }
    names_free(&ns); /* NOLINT(clang-analyzer-unix.Malloc): cleanup_free frees locks */
    return fflush(stdout) == 0 ? 0 : neg_errno();
}
