/* The workspace: choosing a base directory, creating the private directory, removing it again. */
#ifndef TMPRUN_WORKSPACE_H
#define TMPRUN_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rmtree.h"

/* Random characters in a workspace name: 62^10 names, drawn from getrandom(). */
#define WORKSPACE_RANDOM_LEN 10
#define WORKSPACE_DEFAULT_PREFIX "tmprun."
/* Room for the reason a base was refused. */
#define WORKSPACE_WHY_LEN 256

struct workspace {
    int basefd;   /* the base directory, O_RDONLY|O_DIRECTORY|O_CLOEXEC */
    int fd;       /* the workspace, opened right after mkdirat(); holds a shared flock() while tmprun lives */
    int child_fd; /* another open file description of it with a shared flock() of its own, for COMMAND to
                   * inherit: COMMAND unlocking or closing it cannot release tmprun's lock */
    char *base;   /* absolute path of the base directory */
    char *name;   /* the workspace's name in base */
    char *path;   /* base + "/" + name, what COMMAND sees */
    dev_t dev;
    ino_t ino;
    uid_t uid; /* its owner, whose rights remove it */
    gid_t gid; /* the owner's own group */
    char why[WORKSPACE_WHY_LEN]; /* why workspace_create() refused the base, for workspace_base_strerror() */
};

struct workspace_spec {
    const char *dir;    /* --dir, or NULL to search $TMPDIR $TEMP $TMP /tmp /var/tmp /usr/tmp . */
    const char *prefix; /* NULL: WORKSPACE_DEFAULT_PREFIX */
    const char *suffix; /* NULL: "" */
    mode_t mode;        /* exact mode of the workspace, whatever the umask */
    uid_t uid;          /* owner to give it, (uid_t)-1 to keep the caller's */
    gid_t gid;
};

/* 0 if prefix + random + suffix makes a valid name: -EINVAL if either holds a '/', -ENAMETOOLONG if the
 * name would exceed NAME_MAX. */
int workspace_check_affixes(const char *prefix, const char *suffix);

/* Write prefix + WORKSPACE_RANDOM_LEN random [A-Za-z0-9] + suffix into out (size outlen). 0 or -errno. */
int workspace_random_name(const char *prefix, const char *suffix, char *out, size_t outlen);

/* True if name is prefix + WORKSPACE_RANDOM_LEN characters of [A-Za-z0-9] + suffix: what --gc may reap. */
bool workspace_name_matches(const char *name, const char *prefix, const char *suffix);

/* path made absolute against the current directory, not resolved (symlinks stay as written), without
 * trailing slashes; NULL with errno set on failure. The caller frees it. */
char *workspace_absolute_path(const char *path);

/* Open path as a base directory: made absolute (not resolved: the caller's spelling stays) into *abs, opened
 * into *fd. Fails with -ENOTDIR, -ENOENT, -EACCES/-EROFS (cannot create there), or -EPERM when someone other
 * than root and the caller could modify it (DESIGN rule 1: owner root or the caller; group, other or ACL
 * write only together with the sticky bit), with who that is described in why (WORKSPACE_WHY_LEN bytes): they
 * could rename the workspace away and put a symlink in its place, and COMMAND would write through it. */
int workspace_open_base(const char *path, char **abs, int *fd, char *why, size_t whylen);

/* Describe a workspace_open_base() failure for a message: why for -EPERM, else the errno's text. */
const char *workspace_base_strerror(int err, const char *why);

/* The base to use: spec->dir (no fallback), else the first usable candidate; a set but unusable $TMPDIR,
 * $TEMP or $TMP is skipped with a warning. On failure *failed_path names the candidate that decided it and
 * why says why for -EPERM. */
int workspace_choose_base(const char *dir, char **abs, int *fd, const char **failed_path, char *why,
                          size_t whylen);

/* Choose the base, create the workspace with exactly spec->mode, open it, take its liveness lock and verify
 * (fstat on the fd) that it is a directory owned by us with that mode (-EBADE if not). Retries on a name
 * clash. On failure nothing is left on disk and *failed_path names the directory the error is about; it may
 * point into ws->base, which stays allocated until workspace_release(). */
int workspace_create(const struct workspace_spec *spec, struct workspace *ws, const char **failed_path);

/* Remove the workspace name in basefd, open at fd (and locked by the caller when that matters), which belongs
 * to owner, whose own group is group. Everything below it is removed with the owner's rights only (per-thread
 * fsuid/fsgid, rmtree_opts.as_owner): nothing the owner could not remove goes. It is entered only if it is a
 * directory on the base's mount (same mount id) owned by owner (-EXDEV, -EPERM, -ENOTDIR otherwise: a mount
 * or another user's directory on a workspace name is never entered). Everything below fd goes, then name
 * itself if it still is the inode open at fd. If that directory is gone (COMMAND removed it) or was moved
 * away (-ESTALE, after its contents were removed through fd), what is at name now is the run's and gets the
 * same treatment: removed if it passes the same checks, else left and the reason returned; a symlink is never
 * followed (-ENOTDIR). Nothing at name is not an error. Counts and failures go to r (see rmtree_contents).
 * 0 or -errno. */
int workspace_remove_at(int basefd, const char *name, int fd, uid_t owner, gid_t group,
                        const struct rmtree_opts *opts, struct rmtree_result *r);

/* workspace_remove_at() for the workspace. */
int workspace_remove(struct workspace *ws, const struct rmtree_opts *opts, struct rmtree_result *r);

/* Report a failed workspace_remove_at() of path: the walk's failures (rmtree_report), or why path itself was
 * left. */
void workspace_report(const char *path, const struct rmtree_result *r, int ret);

/* Mark the workspace kept: set its sticky bit (harmless on a directory only its owner can write, visible to
 * anyone who can stat it, unlike an extended attribute, which tmpfs lacks before Linux 6.6), as its owner.
 * --list and --retain tell kept workspaces by it; its status change time says when. 0 or -errno. */
int workspace_mark_kept(struct workspace *ws);

/* --link=PATH: a symbolic link naming the workspace. */
struct workspace_link {
    int dirfd;    /* PATH's directory */
    char *name;   /* PATH's last component */
    char *target; /* what the link says, once made */
};

/* Before the workspace exists: open PATH's directory and check it as a base (nobody but root and the caller may
 * be able to modify it: -EPERM with why), and that PATH is absent or a symbolic link (-EEXIST with why: an
 * existing file or directory is never replaced; -EISDIR for a PATH ending in '/'). 0 or -errno. */
int workspace_link_prepare(const char *path, struct workspace_link *l, char *why, size_t whylen);

/* Point PATH at target, atomically: a symlink under a temporary name in the same directory, then rename(2). */
int workspace_link_make(struct workspace_link *l, const char *target);

/* Remove PATH if it still is our link (says target); a link a later run made is left. 0 or -errno. */
int workspace_link_remove(struct workspace_link *l);

void workspace_link_release(struct workspace_link *l);

/* Close the fds and free the strings; does not touch the directory. */
void workspace_release(struct workspace *ws);

#endif
