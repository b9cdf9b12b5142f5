#include "config.h"

#include "opts.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "workspace.h"

enum {
    OPT_PREFIX = 0x100,
    OPT_SUFFIX,
    OPT_MODE,
    OPT_EXPORT,
    OPT_CD,
    OPT_KEEP_ON_FAILURE,
    OPT_IGNORE_CLEANUP_ERRORS,
    OPT_GRACE,
    OPT_GC,
    OPT_OLDER_THAN,
    OPT_DRY_RUN,
    OPT_TMPFS,
    OPT_PRIVATE_TMP,
    OPT_USER,
    OPT_DROP_CAPS,
    OPT_NO_NEW_PRIVS,
    OPT_EXPORT_ALL,
    OPT_LINK,
    OPT_RETAIN,
    OPT_LIST,
};

static const struct option longopts[] = {
    {"dir", required_argument, NULL, 'd'},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"suffix", required_argument, NULL, OPT_SUFFIX},
    {"mode", required_argument, NULL, OPT_MODE},
    {"export", required_argument, NULL, OPT_EXPORT},
    {"cd", no_argument, NULL, OPT_CD},
    {"keep", no_argument, NULL, 'k'},
    {"keep-on-failure", no_argument, NULL, OPT_KEEP_ON_FAILURE},
    {"ignore-cleanup-errors", no_argument, NULL, OPT_IGNORE_CLEANUP_ERRORS},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"gc", no_argument, NULL, OPT_GC},
    {"older-than", required_argument, NULL, OPT_OLDER_THAN},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"tmpfs", optional_argument, NULL, OPT_TMPFS},
    {"private-tmp", no_argument, NULL, OPT_PRIVATE_TMP},
    {"user", required_argument, NULL, OPT_USER},
    {"drop-caps", no_argument, NULL, OPT_DROP_CAPS},
    {"no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS},
    {"export-all", no_argument, NULL, OPT_EXPORT_ALL},
    {"link", required_argument, NULL, OPT_LINK},
    {"retain", required_argument, NULL, OPT_RETAIN},
    {"list", no_argument, NULL, OPT_LIST},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(void)
{
    (void)printf("Usage: %s [OPTION]... [--] COMMAND [ARG]...\n"
                 "  or:  %s --gc [--dir=DIR] [--older-than=DURATION] [--dry-run] [-v]\n"
                 "  or:  %s --list [--dir=DIR] [-v]\n"
                 "Run COMMAND with a private temporary directory, exported as TMPDIR and WORKDIR,\n"
                 "and remove that directory with everything in it when COMMAND ends.\n"
                 "\n"
                 "  -d, --dir=DIR           create the workspace in DIR (default: $TMPDIR, $TEMP,\n"
                 "                            $TMP, /tmp, /var/tmp, /usr/tmp, the current directory)\n"
                 "      --prefix=PREFIX     name starts with PREFIX (default '" WORKSPACE_DEFAULT_PREFIX "')\n"
                 "      --suffix=SUFFIX     name ends with SUFFIX (default none)\n"
                 "      --mode=OCTAL        mode of the workspace, whatever the umask (default 0700)\n"
                 "      --export=NAME       also export the path as NAME (repeatable)\n"
                 "      --export-all        also export it as TMP, TEMP, TEMPDIR and GOTMPDIR\n"
                 "      --link=PATH         make PATH a symbolic link to the workspace while it\n"
                 "                            exists (replaced atomically; removed with it)\n"
                 "      --cd                run COMMAND inside the workspace\n"
                 "  -k, --keep              never remove the workspace; print its path\n"
                 "      --keep-on-failure   keep it when COMMAND fails or dies of a signal\n"
                 "      --retain=N          of the kept workspaces in the base, leave only the N\n"
                 "                            most recently kept (with --keep, --keep-on-failure)\n"
                 "      --ignore-cleanup-errors  do not report removal failures nor let them\n"
                 "                            change the exit status\n"
                 "      --tmpfs[=SIZE]      make the workspace a fresh tmpfs (SIZE like 512M, 2G,\n"
                 "                            50%%) in a private mount namespace: freed by the\n"
                 "                            kernel when COMMAND's last process exits\n"
                 "      --private-tmp       COMMAND sees the workspace as /tmp and /var/tmp\n"
                 "      --user=USER[:GROUP] run COMMAND as USER, without any capability (root only)\n"
                 "      --drop-caps         run COMMAND with every capability set empty\n"
                 "      --no-new-privs      run COMMAND with no_new_privs set\n"
                 "      --grace=DURATION    after COMMAND exits, give leftover processes this long\n"
                 "                            between SIGTERM and SIGKILL (default 2s; 0: SIGKILL)\n"
                 "      --gc                remove stale workspaces that killed runs left in DIR\n"
                 "      --older-than=DURATION  with --gc: only those unchanged this long\n"
                 "                            (default 1h; 0: any age)\n"
                 "      --dry-run           with --gc: only print what would be removed\n"
                 "      --list              list the workspaces in DIR: live, kept or stale, age,\n"
                 "                            owner, pid of the run holding it, path\n"
                 "  -v, --verbose           report the workspace, removal counts and timing\n"
                 "  -h, --help              display this help and exit\n"
                 "  -V, --version           output version information and exit\n"
                 "\n"
                 "DURATION is a number of seconds, optionally with a unit: s, m, h or d.\n"
                 "\n"
                 "Exit status: COMMAND's status; if COMMAND dies of a signal, tmprun dies of the same\n"
                 "signal after cleanup.  125 if tmprun itself fails (or cleanup fails after a 0 status),\n"
                 "126 if COMMAND cannot be run, 127 if COMMAND is not found.\n"
                 "\n"
                 "Full documentation: man tmprun\n",
                 log_progname, log_progname, log_progname);
}

/* One line for bad usage: what is wrong, and where to look. The message may quote an argument: its control
 * characters become '?', so a newline cannot split the line nor an escape sequence reach the terminal. */
PRINTF(1, 2) static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    warn("%s (see '%s --help')", msg, log_progname);
    return -EINVAL;
}

/* The long option whose val is val, or NULL. */
static const struct option *long_option(int val)
{
    for (const struct option *lo = longopts; lo->name; lo++)
        if (lo->val == val)
            return lo;
    return NULL;
}

/* getopt_long() returned ':' for arg, the argument it was reading: the option takes an argument and none
 * followed. Named as getopt names it: the long option in full, even when abbreviated. */
/* The word getopt_long() was reading when it stopped. musl leaves optind past the end after a short option
 * that lacks its argument at the end of a cluster ("-vd"), where glibc does not: never read beyond argv. */
static const char *last_word(int argc, char **argv)
{
    return optind >= 1 && optind <= argc && argv[optind - 1] ? argv[optind - 1] : "";
}

static int missing_argument(const char *arg)
{
    const struct option *lo = long_option(optopt);

    if (strncmp(arg, "--", 2) == 0 && lo)
        return usage_error("option '--%s' requires an argument", lo->name);
    return usage_error("option '-%c' requires an argument", optopt);
}

/* getopt_long() returned '?' for arg. With opterr = 0 it tells why only through optopt (glibc and musl
 * alike): the val of a long option given "=VALUE" it does not take; 0 for a long option that is unknown or an
 * abbreviation of several (the caller tells which, from longopts, as getopt does when it prints); else an
 * unknown short option character (never one of ours: each short option of ours either takes no argument or
 * makes getopt_long() return ':'). */
static int bad_option(const char *arg)
{
    const struct option *lo = long_option(optopt);
    const char *name = arg + 2;
    size_t len = strcspn(name, "="), used = 0;
    char candidates[256] = "";
    int n = 0;

    if (optopt != 0 && lo)
        return usage_error("option '--%s' doesn't allow an argument", lo->name);
    if (optopt != 0)
        return usage_error("invalid option '-%c'", optopt);
    if (strncmp(arg, "--", 2) != 0 || len == 0)
        return usage_error("unrecognized option '%s'", arg);
    for (lo = longopts; lo->name; lo++) {
        if (strncmp(lo->name, name, len) != 0)
            continue;
        n++;
        used += (size_t)snprintf(candidates + used, sizeof(candidates) - used, " '--%s'", lo->name);
        if (used >= sizeof(candidates))
            used = sizeof(candidates) - 1;
    }
    if (n > 1)
        return usage_error("option '--%.*s' is ambiguous; possibilities:%s", (int)len, name, candidates);
    return usage_error("unrecognized option '%s'", arg);
}

/* --prefix and --suffix end up in TMPDIR, in every path COMMAND prints and in --gc's output lines: text
 * only, on one line. UTF-8 names are fine; control characters (a newline splits --gc's lines, an escape
 * drives the terminal) and bytes that are not UTF-8 are not. */
static int check_affix(const char *opt, const char *s)
{
    if (s && !parse_printable_utf8(s))
        return usage_error("%s must be printable UTF-8 (no control characters)", opt);
    return 0;
}

static int duration_arg(const char *opt, const char *arg, double *out)
{
    int ret = parse_duration(arg, out);

    if (ret == -ERANGE)
        return usage_error("duration too large for %s", opt);
    if (ret < 0)
        return usage_error("invalid duration '%s' (use e.g. 30, 30s, 5m, 2h, 1d)", arg);
    return 0;
}

static int add_export(struct tmprun_opts *o, const char *name)
{
    const char **n;
    const char *why;

    if (!parse_valid_env_name(name))
        return usage_error("invalid variable name for --export: '%s'", name);
    why = parse_export_refused(name);
    if (why)
        return usage_error("--export=%s refused: %s", name, why);
    n = realloc(o->exports, (o->nexports + 1) * sizeof(*n));
    if (!n)
        return usage_error("%s", "out of memory");
    o->exports = n;
    o->exports[o->nexports++] = name;
    return 0;
}

int opts_parse(int argc, char **argv, struct tmprun_opts *o)
{
    bool seen_run_only = false, seen_gc_only = false;
    int c, ret;

    *o = (struct tmprun_opts){.mode = 0700, .grace = 2, .older_than = 3600};
    opterr = 0;
    optind = 0; /* a full reset, so the parser can be called more than once (tests, fuzzing) */
    /* '+': the first non-option is COMMAND; everything after it is COMMAND's. */
    while ((c = getopt_long(argc, argv, "+:d:kvhV", longopts, NULL)) != -1) {
        ret = 0;
        switch (c) {
        case 'd':
            /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): required_argument, so optarg is set. */
            if (*optarg == '\0')
                ret = usage_error("%s", "--dir needs a directory");
            o->dir = optarg;
            break;
        case OPT_PREFIX:
            o->prefix = optarg;
            break;
        case OPT_SUFFIX:
            o->suffix = optarg;
            break;
        case OPT_MODE:
            if (parse_mode(optarg, &o->mode) < 0)
                ret = usage_error("invalid mode '%s' (octal, at most 07777)", optarg);
            seen_run_only = true;
            break;
        case OPT_EXPORT:
            ret = add_export(o, optarg);
            seen_run_only = true;
            break;
        case OPT_CD:
            o->cd = seen_run_only = true;
            break;
        case 'k':
            o->keep = seen_run_only = true;
            break;
        case OPT_KEEP_ON_FAILURE:
            o->keep_on_failure = seen_run_only = true;
            break;
        case OPT_IGNORE_CLEANUP_ERRORS:
            o->ignore_cleanup_errors = seen_run_only = true;
            break;
        case OPT_GRACE:
            ret = duration_arg("--grace", optarg, &o->grace);
            seen_run_only = true;
            break;
        case OPT_TMPFS:
            o->tmpfs = seen_run_only = true;
            if (optarg) {
                int r = parse_size(optarg, o->tmpfs_size, sizeof(o->tmpfs_size));
                if (r == -ERANGE)
                    ret = usage_error(
                        "--tmpfs size '%s' out of range (more than 0, at most %lluG, or 1%% to 100%%)", optarg,
                        PARSE_MAX_SIZE >> 30);
                else if (r < 0)
                    ret = usage_error("invalid --tmpfs size '%s' (use e.g. 512M, 2G, 50%%)", optarg);
            }
            break;
        case OPT_PRIVATE_TMP:
            o->private_tmp = seen_run_only = true;
            break;
        case OPT_USER:
            /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): required_argument, so optarg is set. */
            if (*optarg == '\0' || *optarg == ':')
                ret = usage_error("%s", "--user needs a user name or number");
            o->user = optarg;
            seen_run_only = true;
            break;
        case OPT_DROP_CAPS:
            o->drop_caps = seen_run_only = true;
            break;
        case OPT_NO_NEW_PRIVS:
            o->no_new_privs = seen_run_only = true;
            break;
        case OPT_EXPORT_ALL:
            o->export_all = seen_run_only = true;
            break;
        case OPT_LINK:
            /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): required_argument, so optarg is set. */
            if (*optarg == '\0')
                ret = usage_error("%s", "--link needs a path");
            o->link = optarg;
            seen_run_only = true;
            break;
        case OPT_RETAIN:
            ret = parse_count(optarg, &o->retain);
            if (ret < 0)
                ret = usage_error("invalid count for --retain: '%s' (0 to %u)", optarg, PARSE_MAX_COUNT);
            o->retain_set = seen_run_only = true;
            break;
        case OPT_GC:
            o->gc = true;
            break;
        case OPT_LIST:
            o->list = true;
            break;
        case OPT_OLDER_THAN:
            ret = duration_arg("--older-than", optarg, &o->older_than);
            seen_gc_only = true;
            break;
        case OPT_DRY_RUN:
            o->dry_run = seen_gc_only = true;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            usage();
            return OPTS_DONE;
        case 'V':
            (void)printf("%s %s\n"
                         "Copyright (C) 2026 the tmprun authors.\n"
                         "License GPLv3+: GNU GPL version 3 or later <https://gnu.org/licenses/gpl.html>.\n"
                         "This is free software: you are free to change and redistribute it.\n"
                         "There is NO WARRANTY, to the extent permitted by law.\n",
                         PACKAGE_NAME, PACKAGE_VERSION);
            return OPTS_DONE;
        case ':':
            ret = missing_argument(last_word(argc, argv));
            break;
        default:
            ret = bad_option(last_word(argc, argv));
            break;
        }
        if (ret < 0)
            goto fail;
    }
    ret = check_affix("--prefix", o->prefix);
    if (ret == 0)
        ret = check_affix("--suffix", o->suffix);
    if (ret < 0)
        goto fail;
    ret = workspace_check_affixes(o->prefix ? o->prefix : WORKSPACE_DEFAULT_PREFIX, o->suffix ? o->suffix : "");
    if (ret == -EINVAL) {
        ret = usage_error("%s", "--prefix and --suffix must not contain '/'");
        goto fail;
    }
    if (ret < 0) {
        ret = usage_error("%s", "--prefix and --suffix make the name longer than NAME_MAX");
        goto fail;
    }
    if (o->list) {
        if (o->gc || seen_run_only || seen_gc_only) {
            ret = usage_error("%s", "--list takes only --dir, --prefix, --suffix, -v");
            goto fail;
        }
        if (optind < argc) {
            ret = usage_error("--list takes no COMMAND (got '%s')", argv[optind]);
            goto fail;
        }
        return OPTS_RUN;
    }
    if (o->gc) {
        if (seen_run_only) {
            ret = usage_error("%s", "--gc takes only --dir, --prefix, --suffix, --older-than, --dry-run, -v");
            goto fail;
        }
        if (optind < argc) {
            ret = usage_error("--gc takes no COMMAND (got '%s')", argv[optind]);
            goto fail;
        }
        /* Without a prefix, a workspace name is any 10 letters and digits (plus the suffix): hsperfdata, a
         * JVM's directory in /tmp, is one. Those are not ours to remove. */
        if (o->prefix && o->prefix[0] == '\0') {
            ret = usage_error(
                "%s", "--gc needs a non-empty --prefix (any name of 10 letters and digits would match)");
            goto fail;
        }
        return OPTS_RUN;
    }
    if (seen_gc_only) {
        ret = usage_error("%s", "--older-than and --dry-run go with --gc");
        goto fail;
    }
    if (o->retain_set && !o->keep && !o->keep_on_failure) {
        ret = usage_error("%s", "--retain goes with --keep or --keep-on-failure");
        goto fail;
    }
    /* A kept workspace is marked by its sticky bit (tmprun(1) KEEPING FAILED RUNS): a mode that already has it
     * would make every run of this kind look kept. */
    if (o->retain_set && (o->mode & S_ISVTX)) {
        ret = usage_error("%s", "--retain cannot tell kept workspaces apart with a sticky --mode");
        goto fail;
    }
    if (optind >= argc) {
        ret = usage_error("%s", "missing COMMAND");
        goto fail;
    }
    o->argv = argv + optind;
    return OPTS_RUN;
fail:
    opts_free(o);
    return ret;
}

void opts_free(struct tmprun_opts *o)
{
    free(o->exports);
    o->exports = NULL;
    o->nexports = 0;
}
