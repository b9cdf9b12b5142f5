#include "config.h"

#include "gc.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "workspace.h"

static int fail(const struct gc_spec *spec, const char *name, struct gc_stats *stats, int err)
{
    stats->failed++;
    warn_errno(err, "cannot examine %s/%s", spec->base, name);
    return err;
}

/* Decide about one candidate and remove it if it is stale. Returns 0 unless removing it failed. */
static int reap_one(const struct gc_spec *spec, const char *name, struct gc_stats *stats)
{
    cleanup_fd int fd = -1;
    struct stat st;
    struct timespec now;
    struct rmtree_result r = {0};
    time_t changed;
    int ret;

    fd = openat(spec->basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0; /* gone, not a directory, or a symlink: not a workspace */
    if (fstat(fd, &st) < 0)
        return fail(spec, name, stats, neg_errno());
    if (geteuid() != 0 && st.st_uid != geteuid())
        return 0;
    (void)clock_gettime(CLOCK_REALTIME, &now);
    changed = st.st_mtime > st.st_ctime ? st.st_mtime : st.st_ctime;
    /* 0 means any age, even a timestamp in the future (clock skew). */
    if (spec->older_than > 0 && (double)(now.tv_sec - changed) < spec->older_than) {
        stats->young++;
        info("skipping %s/%s: changed %lds ago", spec->base, name, (long)(now.tv_sec - changed));
        return 0;
    }
    /* Held (shared) by a live tmprun and inherited by COMMAND and its children: never reap those. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            return fail(spec, name, stats, neg_errno());
        stats->busy++;
        info("skipping %s/%s: in use", spec->base, name);
        return 0;
    }
    /* Another --gc may have removed it between our open and our lock. */
    if (fstat(fd, &st) < 0)
        return fail(spec, name, stats, neg_errno());
    if (st.st_nlink == 0)
        return 0;
    if (spec->dry_run) {
        stats->removed++;
        (void)printf("would remove %s/%s\n", spec->base, name);
        return 0;
    }
    ret = ws_remove_at(spec->basefd, name, fd, NULL, &r);
    if (ret == 0) {
        stats->removed++;
        (void)printf("removed %s/%s\n", spec->base, name);
    } else {
        char *path;
        stats->failed++;
        if (asprintf(&path, "%s/%s", spec->base, name) >= 0) {
            rmtree_report(path, &r, ret);
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
    int first = 0, dfd;

    *stats = (struct gc_stats){0};
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
        if (!ws_name_matches(e->d_name, spec->prefix, spec->suffix))
            continue;
        ret = reap_one(spec, e->d_name, stats);
        if (ret < 0 && first == 0)
            first = ret;
    }
    if (errno != 0 && first == 0)
        first = neg_errno();
    (void)closedir(d);
    (void)fflush(stdout);
    return first;
}
