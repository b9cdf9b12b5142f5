/* The command line: argv -> struct tmprun_opts. */
#ifndef TMPRUN_OPTS_H
#define TMPRUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tmprun_opts {
    const char *dir;      /* --dir */
    const char *prefix;   /* --prefix */
    const char *suffix;   /* --suffix */
    mode_t mode;          /* --mode */
    const char **exports; /* --export names, besides TMPDIR and WORKDIR */
    size_t nexports;
    bool export_all; /* --export-all: also TMP, TEMP, TEMPDIR and GOTMPDIR */
    const char *link; /* --link=PATH */
    bool cd;
    bool keep;
    bool keep_on_failure;
    bool ignore_cleanup_errors;
    bool retain_set;  /* --retain given */
    unsigned retain;  /* --retain=N: kept workspaces to leave in the base */
    double grace; /* --grace, seconds */
    bool gc;
    double older_than; /* --older-than, seconds */
    bool dry_run;
    bool list; /* --list */
    bool tmpfs;          /* --tmpfs */
    char tmpfs_size[32]; /* its SIZE as tmpfs takes it, "" for the default */
    bool private_tmp;
    const char *user; /* --user=USER[:GROUP] */
    bool drop_caps;
    bool no_new_privs;
    int verbose;
    char **argv; /* COMMAND [ARG]..., NULL-terminated; NULL with --gc and --list */
};

enum { OPTS_RUN = 0, OPTS_DONE = 1 };

/* Parse argv. Returns OPTS_RUN, OPTS_DONE after --help or --version (printed on stdout), or -EINVAL after
 * printing a usage error on stderr. Options stop at the first non-option (COMMAND's options are its own). */
int opts_parse(int argc, char **argv, struct tmprun_opts *o);

void opts_free(struct tmprun_opts *o);

#endif
