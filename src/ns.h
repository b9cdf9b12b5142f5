/* Mount (and, unprivileged, user) namespaces for --tmpfs and --private-tmp. Everything runs in the child,
 * between fork and exec: tmprun learns that namespaces are not available from the set-up itself
 * (ns_spec.refused), not from a probe of its own, which would cost a process on every run. */
#ifndef TMPRUN_NS_H
#define TMPRUN_NS_H

#include <stdbool.h>
#include <sys/types.h>

struct ns_spec {
    bool tmpfs;       /* mount a fresh tmpfs on the workspace */
    const char *size; /* its size= value ("512M", "50%"), or NULL for the tmpfs default (half of RAM) */
    bool private_tmp; /* mount the workspace over /tmp and /var/tmp */
    bool cd;          /* change into the workspace once it is mounted */
    const char *path; /* the workspace's path */
    dev_t dev;        /* and its identity: the path is looked up again in the new namespace, and must */
    ino_t ino;        /* lead to the very directory tmprun created */
    uid_t owner;      /* owner of the tmpfs root */
    gid_t group;
    const char *option; /* "--tmpfs" or "--private-tmp": what the refusal names */
    /* If not NULL: set to the errno when unshare(2) itself fails, that is when this machine does not allow the
     * namespaces at all (as opposed to a later step failing). The child runs ns_setup(), so this must point
     * into memory it shares with its parent (mmap MAP_SHARED): tmprun then takes the workspace back whatever
     * --keep says, as if it had refused before creating it. */
    int *refused;
};

/* Whether this process needs a user namespace to get a mount namespace: it lacks CAP_SYS_ADMIN. */
bool ns_need_userns(void);

/* One line of advice for an unshare(2) failure of ns_setup(). */
const char *ns_advice(int err, bool need_userns);

/* In the child: enter new namespaces, mount what spec asks for, change directory if asked. Prints one line
 * naming the call that failed and returns -errno; 0 on success. If unshare(2) fails, the line is the refusal
 * ("--tmpfs needs a mount namespace, and unshare(2) failed: ...; advice") and *spec->refused is set. */
int ns_setup(const struct ns_spec *spec);

#endif
