/* tmprun: run a command with a private temporary directory that is removed when it ends.
 * Reads like the steps it takes; every exit status is chosen here and only here. */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "gc.h"
#include "keeper.h"
#include "log.h"
#include "ns.h"
#include "opts.h"
#include "rmtree.h"
#include "supervise.h"
#include "util.h"
#include "workspace.h"

/* Exit statuses, as timeout(1), env(1) and nohup(1) use them. */
enum {
    EXIT_TMPRUN = 125, /* tmprun failed, bad usage, or cleanup failed after a 0 status */
    EXIT_CANNOT_RUN = 126,
    EXIT_NOT_FOUND = 127,
};

/* A caller that closed stdin, stdout or stderr would otherwise see the first files tmprun opens land on
 * those numbers: the workspace descriptor would become COMMAND's stderr, and "exec 2>/dev/null" in COMMAND
 * would close it. Open /dev/null on each closed one first, as coreutils and sudo do. */
static void open_standard_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        int nfd;
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd != fd)
            exit(EXIT_TMPRUN); /* no /dev/null, or not the lowest free number: nowhere to say why */
    }
}

static int run_gc(const struct tmprun_opts *o)
{
    struct gc_spec spec = {
        .prefix = o->prefix ? o->prefix : WORKSPACE_DEFAULT_PREFIX,
        .suffix = o->suffix ? o->suffix : "",
        .older_than = o->older_than,
        .dry_run = o->dry_run,
    };
    struct gc_stats st;
    char *base, why[WORKSPACE_WHY_LEN];
    const char *failed;
    int ret = workspace_choose_base(o->dir, &base, &spec.basefd, &failed, why, sizeof(why));

    if (ret < 0)
        die(EXIT_TMPRUN, "cannot use %s: %s", failed ? failed : "any temporary directory",
            workspace_base_strerror(ret, why));
    spec.base = base;
    /* "tmprun --gc -v | head -1": a reader that goes away must not stop the sweep halfway. Writes then fail
     * with EPIPE, which the exit status reports. */
    (void)signal(SIGPIPE, SIG_IGN);
    ret = gc_run(&spec, &st);
    info("%s: %lu %s, %lu in use, %lu too recent, %lu failed", base, st.removed,
         o->dry_run ? "would be removed" : "removed", st.busy, st.young, st.failed);
    if (ret < 0 && st.failed == 0)
        warn_errno(ret, "cannot read %s", base);
    if ((fflush(stdout) != 0 || ferror(stdout)) && ret == 0) {
        warn_errno(errno, "cannot write the list of removed workspaces");
        ret = -EIO;
    }
    (void)close(spec.basefd);
    free(base);
    return ret < 0 ? 1 : 0;
}

/* What COMMAND's environment says; with --private-tmp the workspace is /tmp in COMMAND's namespace (its
 * own path does not resolve there when it lies under /tmp). 0, or -errno with the variable that failed in
 * *name. */
static int export_env(const struct tmprun_opts *o, const char *path, const struct identity *user,
                      const char **name)
{
    /* --export-all adds the names other tools read: TMP and TEMP (Windows-minded tools, R, Perl's
     * File::Spec), TEMPDIR (some shells' scripts, older Python), GOTMPDIR (go build's work files). */
    const char *fixed[] = {"TMPDIR", "WORKDIR", "HOME", "USER", "LOGNAME", "TMP", "TEMP", "TEMPDIR", "GOTMPDIR"};
    const char *ws = o->private_tmp ? "/tmp" : path, *all = o->export_all ? ws : NULL;
    const char *value[] = {ws,  ws,  user ? user->home : NULL, user ? user->name : NULL, user ? user->name : NULL,
                           all, all, all,                      all};

    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        *name = fixed[i];
        if (value[i] && setenv(fixed[i], value[i], 1) < 0)
            return neg_errno();
    }
    for (size_t i = 0; i < o->nexports; i++) {
        *name = o->exports[i];
        if (setenv(o->exports[i], value[0], 1) < 0)
            return neg_errno();
    }
    return 0;
}

/* Everything the child does between fork and exec beyond the basics: namespaces, then privileges. */
struct child_ctx {
    int child_lock; /* what COMMAND inherits to keep the workspace alive (tmprun(1) GARBAGE COLLECTION) */
    bool use_ns;
    struct ns_spec ns;
    struct caps_spec caps;
};

static int child_setup(void *arg)
{
    struct child_ctx *c = arg;

    if (c->use_ns) {
        int ret = ns_setup(&c->ns);
        if (ret < 0)
            return ret;
    }
    return caps_apply(&c->caps);
}

static void child_started(void *arg)
{
    struct child_ctx *c = arg;
    int ret = caps_keep_for_cleanup();

    /* COMMAND has its copy of the lock; tmprun holds its own (workspace.fd), and needs the descriptor for the
     * removal's walk more than a second lock. */
    close_fdp(&c->child_lock);
    if (ret < 0)
        warn_errno(ret, "cannot drop tmprun's own capabilities");
}

/* Refuse what cannot work before anything is created: an unknown or unusable --user. Namespaces that this
 * machine does not allow are found by the child's set-up itself (ns_spec.refused, see refuse_ns()): probing
 * for them here would cost a process on every --tmpfs and --private-tmp run. */
static void check_isolation(const struct tmprun_opts *o, struct identity *user)
{
    if (o->user) {
        const char *what;
        int ret = caps_identity_lookup(o->user, user, &what);
        if (ret == -ENOENT)
            die(EXIT_TMPRUN, "--user=%s: no such %s", o->user, what);
        if (ret < 0)
            die_errno(EXIT_TMPRUN, ret, "--user=%s", o->user);
        if (!caps_can_switch_user())
            die(EXIT_TMPRUN, "--user needs root (or CAP_SETUID and CAP_SETGID); run tmprun as root");
    }
}

/* Where the child's ns_setup() records that unshare(2) failed: a word shared with it across fork. NULL if it
 * cannot be had; the refusal then ends like any failed set-up (125, the child's one line). */
static int *refusal_slot(void)
{
    void *p = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

/* Something failed after the workspace was made and before COMMAND ran: take the workspace back, say why (one
 * line, plus the removal's own if that fails too) and exit 125. */
_Noreturn PRINTF(3, 4) static void take_back(struct workspace *ws, int err, const char *fmt, ...)
{
    struct rmtree_result rm = {0};
    char msg[512];
    va_list ap;
    int ret;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    warn_errno(err, "%s", msg);
    ret = workspace_remove(ws, NULL, &rm);
    if (ret < 0)
        workspace_report(ws->path, &rm, ret);
    exit(EXIT_TMPRUN);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* "exited with status 3" / "killed by signal 9 (Killed)" */
static void describe(const struct child_result *res, char *buf, size_t len)
{
    if (res->stage != STAGE_NONE)
        (void)snprintf(buf, len, "command could not be run");
    else if (WIFSIGNALED(res->status))
        (void)snprintf(buf, len, "command killed by signal %d (%s)", WTERMSIG(res->status),
                       strsignal(WTERMSIG(res->status)));
    else
        (void)snprintf(buf, len, "command exited with status %d", WEXITSTATUS(res->status));
}

/* The workspace stays: say so, mark it kept (its sticky bit, which --list and --retain read) and, with
 * --retain=N, remove the oldest kept ones beyond N. */
static void keep_workspace(const struct tmprun_opts *o, struct workspace *ws, struct workspace_link *link,
                           const struct child_result *res)
{
    char why[128];
    int ret;

    if (res->leftovers_running) {
        /* A descendant tmprun could not name or stop may still be writing there: never remove a workspace
         * under it (DESIGN rule 5). supervise_run() has said why. */
        warn("kept workspace %s (leftover processes may still be running in it)", ws->path);
        return;
    }
    ret = workspace_mark_kept(ws);
    if (ret < 0)
        warn_errno(ret, "cannot mark %s as kept", ws->path);
    /* Every process of the run is gone: the lock has nothing left to protect, and a run pruning at the same
     * time must be able to take this one if it is among the oldest (else it would outlive every pruning). */
    (void)flock(ws->fd, LOCK_UN);
    if (ret == 0 && o->retain_set) {
        struct gc_spec spec = {
            .basefd = ws->basefd,
            .base = ws->base,
            .prefix = o->prefix ? o->prefix : WORKSPACE_DEFAULT_PREFIX,
            .suffix = o->suffix ? o->suffix : "",
        };
        struct gc_stats st;
        struct stat self;
        (void)gc_retain(&spec, ws->uid, o->retain, &st);
        info("--retain=%u: removed %lu older kept workspace%s", o->retain, st.removed, st.removed == 1 ? "" : "s");
        /* --retain=0 keeps none, this one included. */
        if (fstat(ws->fd, &self) == 0 && self.st_nlink == 0) {
            if (workspace_link_remove(link) < 0)
                warn("cannot remove --link=%s", o->link);
            return;
        }
    }
    describe(res, why, sizeof(why));
    warn("kept workspace %s (%s)", ws->path, o->keep ? "--keep" : why);
}

/* Remove the workspace (and its --link); 0 or the removal's -errno, already reported. */
static int remove_workspace(const struct tmprun_opts *o, struct workspace *ws, struct workspace_link *link)
{
    struct rmtree_opts ro = {.count_bytes = o->verbose > 0};
    struct rmtree_result rm = {0};
    struct timespec t0;
    int ret;

    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    ret = workspace_remove(ws, &ro, &rm);
    if (ret < 0 && !o->ignore_cleanup_errors)
        workspace_report(ws->path, &rm, ret);
    info("%s %s: %llu entries, %llu bytes, %.3f s, %u thread%s (at most %u: %s)",
         ret < 0 ? "could not fully remove" : "removed", ws->path, rm.entries, rm.bytes, seconds_since(&t0),
         rm.threads, rm.threads == 1 ? "" : "s", rm.threads_max, rm.threads_why ? rm.threads_why : "-");
    rmtree_result_free(&rm);
    /* A workspace left behind keeps its link: it points at what is left. */
    if (ret == 0) {
        int lret = workspace_link_remove(link);
        if (lret < 0)
            warn_errno(lret, "cannot remove --link=%s", o->link);
    }
    return ret;
}

/* The child could not get the namespaces --tmpfs or --private-tmp need, and said so in one line: the outcome
 * is the refusal tmprun used to give before creating anything (125, that line, nothing left in the base), so
 * the workspace and its --link go whatever --keep or --keep-on-failure say. COMMAND never ran: the child
 * fails before exec, there is no fallback to disk. */
_Noreturn static void refuse_ns(const struct tmprun_opts *o, struct workspace *ws, struct workspace_link *link)
{
    (void)remove_workspace(o, ws, link);
    exit(EXIT_TMPRUN);
}

/* --list: read-only, so the base needs no write access; --dir as given, else the base a run would choose. */
static int run_list(const struct tmprun_opts *o)
{
    struct gc_spec spec = {
        .prefix = o->prefix ? o->prefix : WORKSPACE_DEFAULT_PREFIX,
        .suffix = o->suffix ? o->suffix : "",
    };
    char *base = NULL;
    int ret;

    if (o->dir) {
        base = workspace_absolute_path(o->dir);
        if (!base)
            die_errno(EXIT_TMPRUN, errno, "cannot list %s", o->dir);
        spec.basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (spec.basefd < 0)
            die_errno(EXIT_TMPRUN, errno, "cannot list %s", o->dir);
        spec.base = base;
    } else {
        char why[WORKSPACE_WHY_LEN];
        const char *failed;
        ret = workspace_choose_base(NULL, &base, &spec.basefd, &failed, why, sizeof(why));
        if (ret < 0)
            die(EXIT_TMPRUN, "cannot use %s: %s", failed ? failed : "any temporary directory",
                workspace_base_strerror(ret, why));
        spec.base = base;
    }
    ret = gc_list(&spec, o->verbose > 0);
    if (ret < 0)
        warn_errno(ret, "cannot list %s", spec.base);
    (void)close(spec.basefd);
    free(base);
    return ret < 0 ? EXIT_TMPRUN : 0;
}

int main(int argc, char **argv)
{
    struct tmprun_opts o;
    struct sigstate sig;
    struct workspace ws;
    struct child_result res;
    struct identity user = {0};
    struct child_ctx ctx = {.child_lock = -1};
    struct workspace_link link = {.dirfd = -1};
    const char *failed;
    bool failure, kept;
    int ret, status;

    open_standard_fds();
    ret = opts_parse(argc, argv, &o);
    if (ret < 0)
        return EXIT_TMPRUN;
    if (ret == OPTS_DONE) {
        opts_free(&o);
        return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_SUCCESS : EXIT_TMPRUN;
    }
    log_verbosity = o.verbose;
    if (o.gc)
        return run_gc(&o);
    if (o.list)
        return run_list(&o);

    check_isolation(&o, &user);
    if (o.link) {
        char why[WORKSPACE_WHY_LEN];
        ret = workspace_link_prepare(o.link, &link, why, sizeof(why));
        if (ret < 0)
            die(EXIT_TMPRUN, "cannot use --link=%s: %s", o.link, *why ? why : strerror(-ret));
    }

    /* Signals first: one that arrives while the workspace is being made must not kill us before we can
     * remove it. */
    ret = supervise_init(&sig);
    if (ret < 0)
        die_errno(EXIT_TMPRUN, ret, "cannot set up signal handling");
    {
        struct workspace_spec spec = {
            .dir = o.dir,
            .prefix = o.prefix,
            .suffix = o.suffix,
            .mode = o.mode,
            .uid = o.user ? user.uid : (uid_t)-1,
            .gid = o.user ? user.gid : (gid_t)-1,
        };
        ret = workspace_create(&spec, &ws, &failed);
        if (ret < 0)
            die(EXIT_TMPRUN, "cannot create a workspace in %s: %s", failed ? failed : "any temporary directory",
                workspace_base_strerror(ret, ws.why));
    }
    info("created workspace %s (mode %04o)", ws.path, (unsigned)o.mode);
    {
        const char *name;
        ret = export_env(&o, ws.path, o.user ? &user : NULL, &name);
        if (ret < 0)
            take_back(&ws, ret, "cannot set %s", name);
    }
    if (o.link) {
        ret = workspace_link_make(&link, ws.path);
        if (ret < 0)
            take_back(&ws, ret, "cannot make --link=%s", o.link);
    }

    ctx.use_ns = o.tmpfs || o.private_tmp;
    ctx.ns = (struct ns_spec){
        .tmpfs = o.tmpfs,
        .size = o.tmpfs_size[0] ? o.tmpfs_size : NULL,
        .private_tmp = o.private_tmp,
        .cd = o.cd,
        .path = ws.path,
        .dev = ws.dev,
        .ino = ws.ino,
        .owner = o.user ? user.uid : geteuid(),
        .group = o.user ? user.gid : getegid(),
        .option = o.tmpfs ? "--tmpfs" : "--private-tmp",
        .refused = ctx.use_ns ? refusal_slot() : NULL,
    };
    ctx.caps = (struct caps_spec){
        .user = o.user ? &user : NULL,
        .drop_caps = o.drop_caps,
        .no_new_privs = o.no_new_privs,
    };
    /* The liveness lock COMMAND inherits (tmprun(1) GARBAGE COLLECTION): its own open file description on the
     * workspace, or, in namespaces, the write end of the keeper's pipe, which reaches nothing on the host. */
    ret = 0;
    if (ctx.use_ns) {
        close_fdp(&ws.child_fd);
        ret = keeper_start(ws.fd, &ctx.child_lock);
    } else {
        ctx.child_lock = steal_fd(&ws.child_fd);
    }
    if (ret < 0)
        take_back(&ws, ret, "cannot set up the workspace's lock for COMMAND");
    {
        struct child_spec cs = {
            .argv = o.argv,
            .cwd_fd = o.cd && !ctx.use_ns ? ws.fd : -1,
            .inherit_fd = ctx.child_lock,
            .grace = o.grace,
            .setup = ctx.use_ns || o.user || o.drop_caps || o.no_new_privs ? child_setup : NULL,
            .started = child_started,
            .setup_arg = &ctx,
        };
        ret = supervise_run(&cs, &sig, &res);
    }
    if (ret < 0) {
        warn_errno(ret, "cannot start %s", o.argv[0]);
        res = (struct child_result){.stage = STAGE_SETUP, .err = -ret};
    } else if (res.stage == STAGE_EXEC) {
        warn_errno(res.err, "cannot run '%s'", o.argv[0]);
    }
    if (res.leftovers > 0)
        info("stopped %lu leftover process%s", res.leftovers, res.leftovers == 1 ? "" : "es");
    if (res.stage == STAGE_SETUP && ctx.ns.refused && *ctx.ns.refused)
        refuse_ns(&o, &ws, &link);

    failure = res.stage != STAGE_NONE || WIFSIGNALED(res.status) || WEXITSTATUS(res.status) != 0;
    /* A descendant tmprun could not name or stop may still be writing there: never remove a workspace under
     * it (DESIGN rule 5). supervise_run() has said why. */
    kept = o.keep || (o.keep_on_failure && failure) || res.leftovers_running;
    if (kept)
        keep_workspace(&o, &ws, &link, &res);
    else
        ret = remove_workspace(&o, &ws, &link);

    /* The exit status, by the contract in tmprun(1) EXIT STATUS. */
    caps_identity_free(&user);
    if (res.stage == STAGE_EXEC)
        status = res.err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
    else if (res.stage == STAGE_SETUP)
        status = EXIT_TMPRUN;
    else if (WIFSIGNALED(res.status)) {
        workspace_release(&ws);
        opts_free(&o);
        die_of_signal(WTERMSIG(res.status));
    } else
        status = WEXITSTATUS(res.status);
    if (!kept && ret < 0 && !o.ignore_cleanup_errors && status == 0)
        status = EXIT_TMPRUN;
    if (res.leftovers_running)
        status = EXIT_TMPRUN; /* whatever COMMAND said: the run did not end cleanly */
    workspace_link_release(&link);
    workspace_release(&ws);
    opts_free(&o);
    if (fflush(stdout) != 0 && status == 0)
        status = EXIT_TMPRUN;
    return status;
}
