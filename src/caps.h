/* Privilege: --user, --drop-caps, --no-new-privs (in the child) and tmprun's own capabilities (with libcap). */
#ifndef TMPRUN_CAPS_H
#define TMPRUN_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct identity {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups (the user's, from the group database), computed before fork */
    int ngroups;
    char *name;
    char *home;
};

struct caps_spec {
    const struct identity *user; /* --user, or NULL */
    bool drop_caps;              /* empty every capability set (implied by --user) */
    bool no_new_privs;           /* PR_SET_NO_NEW_PRIVS (implied by --user and --drop-caps) */
};

/* Look up "USER[:GROUP]" (names or numbers): 0, -ENOENT for an unknown user or group (*what names it),
 * -ENOMEM. Release id with caps_identity_free() whatever the result: a failure may leave parts filled. */
int caps_identity_lookup(const char *spec, struct identity *id, const char **what);
void caps_identity_free(struct identity *id);

/* True if this process may change its uid and gids (CAP_SETUID and CAP_SETGID in its effective set). */
bool caps_can_switch_user(void);

/* In the child, just before exec: switch to spec->user (setresgid, setgroups, setresuid, each checked), empty
 * the bounding, ambient, inheritable, permitted and effective sets, set no_new_privs. Prints what failed and
 * returns -errno, or 0. */
int caps_apply(const struct caps_spec *spec);

/* In tmprun once COMMAND runs: keep only what cleanup and signalling need (CAP_SETUID and CAP_SETGID, to remove
 * the workspace with its owner's filesystem identity; CAP_KILL, for leftovers), drop the rest from the
 * effective and permitted sets. A process without capabilities has nothing to drop. 0 or -errno. */
int caps_keep_for_cleanup(void);

#endif
