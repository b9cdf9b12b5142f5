/* The lock keeper of a run in namespaces: what keeps --gc away from a workspace after a SIGKILLed tmprun,
 * without handing COMMAND a descriptor on the host's directory. */
#ifndef TMPRUN_KEEPER_H
#define TMPRUN_KEEPER_H

/* Start a keeper process that holds lock_fd (the workspace's descriptor carrying tmprun's shared flock(2); the
 * keeper shares its open file description, so the lock lasts while either holds it) until every copy of the
 * write end of a pipe is closed. The write end is returned in *write_end (close-on-exec): tmprun keeps it and
 * hands a copy to COMMAND, so the lock lasts exactly as long as some process of the run does, and all COMMAND
 * gets is a pipe, nothing that reaches the host's file system.
 *
 * The keeper is not a descendant of tmprun (double fork while tmprun is briefly not a child subreaper), so the
 * leftover sweep never stops it; it is in a session of its own (no terminal signal reaches it), keeps tmprun's
 * blocked signals blocked, and holds no other descriptor (stdin, stdout and stderr are /dev/null: a caller
 * reading tmprun's output until EOF is not kept waiting). As the init of a PID namespace, where no process can
 * outlive tmprun, it starts nothing and sets *write_end to -1. 0 or -errno. */
int keeper_start(int lock_fd, int *write_end);

#endif
