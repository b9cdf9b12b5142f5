/* The workspaces in a base: --gc reaps those a killed tmprun left behind, --retain bounds the kept ones, --list
 * shows them all. */
#ifndef TMPRUN_GC_H
#define TMPRUN_GC_H

#include <stdbool.h>
#include <sys/types.h>

#include "rmtree.h"

struct gc_spec {
    int basefd;         /* the base directory to search */
    const char *base;   /* its path, for messages */
    const char *prefix; /* workspace names: prefix + 10 random characters + suffix */
    const char *suffix;
    double older_than; /* seconds since the last change of the workspace directory itself */
    bool dry_run;
};

struct gc_stats {
    unsigned long removed; /* workspaces removed (or that would be, with dry_run) */
    unsigned long busy;    /* skipped: locked by a live tmprun or a process it started */
    unsigned long young;   /* skipped: changed more recently than older_than */
    unsigned long failed;  /* could not be (fully) removed */
};

/* Remove every stale workspace in spec->basefd: a directory whose name matches, owned by the caller (any
 * owner for root), not changed for older_than seconds and whose liveness lock (flock(2)) can be taken
 * exclusively without waiting. The lock is held while it is removed, so a concurrent --gc or a tmprun that
 * just created the directory cannot interfere. Prints one line per workspace removed and per failure.
 * Returns 0 if every eligible workspace was removed, else the first -errno. */
int gc_run(const struct gc_spec *spec, struct gc_stats *stats);

/* --retain=keep: of owner's kept workspaces in spec->basefd (directories whose name matches, with the sticky
 * bit tmprun sets when it keeps one), leave the keep most recently kept (status change time) and remove the
 * others, each under its exclusive liveness lock as gc_run() does; -v reports each. A live run, a run being
 * created and a crashed run's leftovers are never kept ones. older_than and dry_run are not used. Returns 0
 * or the first -errno. */
int gc_retain(const struct gc_spec *spec, uid_t owner, unsigned keep, struct gc_stats *stats);

/* --list: a header, then one line per workspace in spec->basefd: state (live: its liveness lock is held, per
 * /proc/locks; kept: its sticky bit is set; stale: neither), age since its last change, owner, the pid of a
 * process holding it where it can be known ("-" otherwise) and its path. Only reads: it needs search
 * permission on the base, nothing more. With verbose, ENTRIES and BYTES columns before PATH: what is below each
 * workspace, counted with the removal's walk (rmtree_count); "-" where it cannot be read. 0 or -errno. */
int gc_list(const struct gc_spec *spec, bool verbose);

#endif
