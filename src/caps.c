#include "config.h"

#include "caps.h"

#include <sys/capability.h>
#include <sys/prctl.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* A number, or a name looked up with lookup. */
static bool parse_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0' && *out < (unsigned long)(uid_t)-1;
}

int caps_identity_lookup(const char *spec, struct identity *id, const char **what)
{
    cleanup_free char *user = strdup(spec);
    char *group;
    const struct passwd *pw;
    unsigned long n;
    int ngroups = 16;

    *id = (struct identity){0};
    if (!user)
        return -ENOMEM;
    group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    *what = "user";
    errno = 0;
    /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): clang 14 does not see that cleanup_free frees user. */
    pw = parse_id(user, &n) ? getpwuid((uid_t)n) : getpwnam(user);
    if (!pw)
        return errno && errno != ENOENT && errno != ESRCH ? neg_errno() : -ENOENT;
    id->uid = pw->pw_uid;
    id->gid = pw->pw_gid;
    id->name = strdup(pw->pw_name);
    id->home = strdup(pw->pw_dir);
    if (!id->name || !id->home)
        return -ENOMEM;
    if (group && *group) {
        const struct group *gr;
        *what = "group";
        errno = 0;
        gr = parse_id(group, &n) ? getgrgid((gid_t)n) : getgrnam(group);
        if (!gr)
            return errno && errno != ENOENT && errno != ESRCH ? neg_errno() : -ENOENT;
        id->gid = gr->gr_gid;
    }
    for (;;) {
        gid_t *g = realloc(id->groups, (size_t)ngroups * sizeof(*g));
        int want = ngroups;
        if (!g)
            return -ENOMEM;
        id->groups = g;
        if (getgrouplist(id->name, id->gid, id->groups, &want) >= 0) {
            id->ngroups = want;
            return 0;
        }
        if (want <= ngroups)
            return -ENOMEM;
        ngroups = want;
    }
}

void caps_identity_free(struct identity *id)
{
    free(steal_ptr(&id->groups));
    free(steal_ptr(&id->name));
    free(steal_ptr(&id->home));
}

static bool has_effective(cap_value_t cap)
{
    cap_t caps = cap_get_proc();
    cap_flag_value_t v = CAP_CLEAR;

    if (caps) {
        (void)cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
        (void)cap_free(caps);
    }
    return v == CAP_SET;
}

bool caps_can_switch_user(void)
{
    return has_effective(CAP_SETUID) && has_effective(CAP_SETGID);
}

static int failed(const char *what)
{
    int err = neg_errno();

    warn_errno(err, "%s", what);
    return err;
}

/* Empty the bounding set and the ambient set, while CAP_SETPCAP is still held: with the bounding set empty,
 * no later execve() (a setuid-root program, root's own implicit capabilities) can bring capabilities back. */
static int drop_bounding(void)
{
    /* Without CAP_SETPCAP (an unprivileged caller) the bounding set cannot shrink; such a process has no
     * capability to lose, and no_new_privs (always set with it) keeps setuid and file capabilities from
     * granting any. */
    if (has_effective(CAP_SETPCAP)) {
        for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++)
            if (prctl(PR_CAPBSET_READ, c) == 1 && cap_drop_bound(c) < 0)
                return failed("cannot drop the capability bounding set");
    }
    if (cap_reset_ambient() < 0 && errno != EINVAL)
        return failed("cannot clear the ambient capabilities");
    return 0;
}

/* Empty the effective, permitted and inheritable sets. */
static int clear_sets(void)
{
    cap_t none = cap_init();
    int ret;

    if (!none)
        return failed("cap_init");
    ret = cap_set_proc(none);
    (void)cap_free(none);
    return ret < 0 ? failed("cannot clear the capability sets") : 0;
}

int caps_apply(const struct caps_spec *spec)
{
    const struct identity *u = spec->user;
    bool drop = u || spec->drop_caps;
    int ret;

    /* Groups before the uid: setresgid and setgroups need CAP_SETGID, which the uid change takes away
     * (setresgid → setgroups → setresuid, as setpriv(1) and capsh(1) do). */
    if (u) {
        if (setresgid(u->gid, u->gid, u->gid) < 0)
            return failed("--user: setresgid");
        if (setgroups((size_t)u->ngroups, u->groups) < 0)
            return failed("--user: setgroups");
    }
    if (drop) {
        ret = drop_bounding();
        if (ret < 0)
            return ret;
    }
    if (u && setresuid(u->uid, u->uid, u->uid) < 0)
        return failed("--user: setresuid");
    if (drop) {
        ret = clear_sets();
        if (ret < 0)
            return ret;
    }
    if ((drop || spec->no_new_privs) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return failed("cannot set no_new_privs");
    return 0;
}

int caps_keep_for_cleanup(void)
{
    /* SETUID and SETGID to take the workspace owner's filesystem identity for the removal (DESIGN rule 2:
     * removed with the owner's rights, so root's DAC_OVERRIDE and FOWNER are not needed, nor kept); KILL
     * to stop COMMAND's leftovers, which may run as another user. */
    static const cap_value_t keep[] = {CAP_SETUID, CAP_SETGID, CAP_KILL};
    cap_t now = cap_get_proc(), next;
    int ret = 0;

    if (!now)
        return neg_errno();
    next = cap_init();
    if (!next) {
        (void)cap_free(now);
        return neg_errno();
    }
    for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
        cap_flag_value_t v = CAP_CLEAR;
        (void)cap_get_flag(now, keep[i], CAP_PERMITTED, &v);
        if (v == CAP_SET) {
            (void)cap_set_flag(next, CAP_PERMITTED, 1, &keep[i], CAP_SET);
            (void)cap_set_flag(next, CAP_EFFECTIVE, 1, &keep[i], CAP_SET);
        }
    }
    if (cap_set_proc(next) < 0)
        ret = neg_errno();
    (void)cap_free(next);
    (void)cap_free(now);
    return ret;
}
