/* Mount (and, unprivileged, user) namespaces for --tmpfs and --private-tmp. The set-up runs in the child,
 * between fork and exec; only ns_probe() runs in tmprun itself. */
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
};

/* Whether this process needs a user namespace to get a mount namespace: it lacks CAP_SYS_ADMIN. */
bool ns_need_userns(void);

/* Check, before anything is created, that a mount namespace (inside a user namespace if need_userns) can be
 * made here: fork a child that tries. 0, or -errno of the call that failed, named in *call ("fork",
 * "waitpid" or "unshare"): only an unshare(2) failure says anything about namespaces. */
int ns_probe(bool need_userns, const char **call);

/* One line of advice for an ns_probe() or ns_setup() failure. */
const char *ns_advice(int err, bool need_userns);

/* In the child: enter new namespaces, mount what spec asks for, change directory if asked. Prints one line
 * naming the call that failed and returns -errno; 0 on success. */
int ns_setup(const struct ns_spec *spec);

#endif
