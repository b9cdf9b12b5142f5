/* --gc: reap workspaces that a killed tmprun left behind. */
#ifndef TMPRUN_GC_H
#define TMPRUN_GC_H

#include <stdbool.h>

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

#endif
