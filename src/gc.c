#include "config.h"

#include "gc.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdstat.h"
#include "log.h"
#include "util.h"
#include "workspace.h"

static int fail(const struct gc_spec *spec, const char *name, struct gc_stats *stats, int err)
{
    stats->failed++;
    warn_errno(err, "cannot examine %s/%s", spec->base, name);
    return err;
}

/* The group a workspace's owner removes it with: the owner's own (primary) group, or, for a uid without a
 * passwd entry, the directory's. */
static gid_t owner_group(uid_t uid, gid_t dir_gid)
{
    struct passwd *pw = getpwuid(uid);

    return pw ? pw->pw_gid : dir_gid;
}

/* Decide about one candidate and remove it if it is stale. Returns 0 unless removing it failed. */
static int reap_one(const struct gc_spec *spec, const struct fdstat *base, const char *name,
                    struct gc_stats *stats)
{
    cleanup_fd int fd = -1;
    struct fdstat fs;
    struct timespec now;
    struct rmtree_result r = {0};
    time_t changed;
    int ret;

    fd = openat(spec->basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0; /* gone, not a directory, or a symlink: not a workspace */
    ret = fdstat_get(fd, &fs);
    if (ret < 0)
        return fail(spec, name, stats, ret);
    if (geteuid() != 0 && fs.st.st_uid != geteuid())
        return 0;
    /* A mount on a workspace name (a bind mount of any directory, planted by COMMAND or by root) would have
     * the walk take the mounted tree for the workspace: never enter it. */
    if (fdstat_same_mount(base, &fs) < 0) {
        stats->failed++;
        warn("not removing %s/%s: a mount point or on another filesystem than the base; not entered",
             spec->base, name);
        return -EXDEV;
    }
    (void)clock_gettime(CLOCK_REALTIME, &now);
    changed = fs.st.st_mtime > fs.st.st_ctime ? fs.st.st_mtime : fs.st.st_ctime;
    /* 0 means any age, even a timestamp in the future (clock skew). */
    if (spec->older_than > 0 && (double)(now.tv_sec - changed) < spec->older_than) {
        stats->young++;
        info("skipping %s/%s: changed %lds ago", spec->base, name, (long)(now.tv_sec - changed));
        return 0;
    }
    /* Held (shared) by a live tmprun and by what keeps its run alive: never reap those. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            return fail(spec, name, stats, neg_errno());
        stats->busy++;
        info("skipping %s/%s: in use", spec->base, name);
        return 0;
    }
    /* Another --gc may have removed it between our open and our lock. */
    if (fstat(fd, &fs.st) < 0)
        return fail(spec, name, stats, neg_errno());
    if (fs.st.st_nlink == 0)
        return 0;
    if (spec->dry_run) {
        stats->removed++;
        (void)printf("would remove %s/%s\n", spec->base, name);
        return 0;
    }
    ret = workspace_remove_at(spec->basefd, name, fd, fs.st.st_uid, owner_group(fs.st.st_uid, fs.st.st_gid),
                              NULL, &r);
    if (ret == 0) {
        stats->removed++;
        (void)printf("removed %s/%s\n", spec->base, name);
    } else {
        char *path;
        stats->failed++;
        if (asprintf(&path, "%s/%s", spec->base, name) >= 0) {
            workspace_report(path, &r, ret);
            free(path);
        }
    }
    rmtree_result_free(&r);
    return ret;
}

int gc_run(const struct gc_spec *spec, struct gc_stats *stats)
{
    DIR *d;
    struct dirent *e;
    struct fdstat base;
    int first, dfd;

    *stats = (struct gc_stats){0};
    first = fdstat_get(spec->basefd, &base);
    if (first < 0)
        return first;
    dfd = fcntl(spec->basefd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return neg_errno();
    d = fdopendir(dfd);
    if (!d) {
        int err = neg_errno();
        (void)close(dfd);
        return err;
    }
    while ((errno = 0, e = readdir(d))) {
        int ret;
        if (!workspace_name_matches(e->d_name, spec->prefix, spec->suffix))
            continue;
        ret = reap_one(spec, &base, e->d_name, stats);
        if (ret < 0 && first == 0)
            first = ret;
    }
    if (errno != 0 && first == 0)
        first = neg_errno();
    (void)closedir(d);
    (void)fflush(stdout);
    return first;
}
