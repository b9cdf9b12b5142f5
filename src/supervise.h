/* Running COMMAND: fork/exec with an errno pipe, the signal loop, the subreaper, stopping leftovers. */
#ifndef TMPRUN_SUPERVISE_H
#define TMPRUN_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Signal state taken at start-up, before anything can arrive unnoticed. */
struct sigstate {
    sigset_t orig_mask; /* the mask tmprun inherited, restored in COMMAND */
    sigset_t handled;   /* signals tmprun waits for (forwardable ones not inherited as ignored, and SIGCHLD) */
    bool chld_ignored;  /* SIGCHLD was inherited as SIG_IGN: COMMAND gets it back */
    int sfd;            /* signalfd for handled */
    int procfd;         /* /proc, opened at start so a later unmount does not blind tmprun; -1 if unusable,
                         * and once supervise_run() is done */
    int proc_err;       /* why procfd is -1: a positive errno */
};

/* Where the child failed before COMMAND ran. */
enum child_stage {
    STAGE_NONE,  /* COMMAND was executed */
    STAGE_SETUP, /* preparing the child failed (the child printed why) */
    STAGE_EXEC,  /* execvp() failed */
};

struct child_result {
    int status; /* wait status of COMMAND, valid when stage == STAGE_NONE */
    enum child_stage stage;
    int err;                 /* errno of the failing step otherwise */
    unsigned long leftovers; /* descendants still alive after COMMAND exited, stopped and reaped */
    /* Some descendant may still be running: tmprun could not list them (no usable /proc) or could not
     * signal one (EPERM), and it outlived --grace; supervise_run() printed why. The caller must then keep
     * the workspace (they may still write to it) and exit 125 (EXIT_TMPRUN), whatever COMMAND's status. */
    bool leftovers_running;
};

struct child_spec {
    char **argv;    /* COMMAND and its arguments, searched in PATH */
    int cwd_fd;     /* fchdir() here first, or -1 */
    int inherit_fd; /* fd handed to COMMAND (its FD_CLOEXEC cleared), or -1 */
    double grace;   /* seconds between SIGTERM and SIGKILL for leftovers; 0: SIGKILL at once */
    /* Runs in the child before exec (after the fchdir); returns 0 or -errno after printing what failed. */
    int (*setup)(void *arg); /* NULL when there is nothing to set up: the child is then vfork()ed */
    /* Runs in tmprun right after the fork (dropping what tmprun no longer needs). */
    void (*started)(void *arg);
    void *setup_arg; /* for both */
};

/* Block the signals tmprun handles (every one whose default action terminates, but for the synchronous faults
 * SIGSEGV, SIGBUS, SIGFPE and SIGILL), make tmprun a child subreaper, open the signalfd and /proc. Signals
 * inherited as ignored stay ignored (a background job's INT and QUIT). An unusable /proc is not an error here
 * (procfd -1, proc_err set): it matters only if COMMAND leaves processes behind. 0 or -errno. */
int supervise_init(struct sigstate *s);

/* Fork and run COMMAND, forward user-sent signals to it (not the ones the kernel sent to the whole process
 * group, which it already got), wait for it, then stop and reap every remaining descendant (SIGTERM, then
 * SIGKILL after grace). If some may still run (res->leftovers_running), it says why on stderr. Returns 0 with
 * res filled, or -errno if COMMAND could not be started (fork failed). */
int supervise_run(const struct child_spec *spec, struct sigstate *s, struct child_result *res);

/* Die of sig as COMMAND did, so the caller's shell sees the same death (core dumps off); never returns. */
_Noreturn void die_of_signal(int sig);

#endif
