#include "config.h"

#include "caps.h"

#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* The capabilities caps_keep_for_cleanup() keeps, as a /proc/PID/status mask. */
#define CLEANUP_CAPS ((1ULL << CAP_SETUID) | (1ULL << CAP_SETGID) | (1ULL << CAP_KILL))

/* A hexadecimal field of /proc/self/status (CapEff, CapBnd, ...) or a decimal one (NoNewPrivs); ~0 if it
 * cannot be read. */
static unsigned long long status_number(const char *key, int base)
{
    char v[128];

    if (proc_status(0, key, v, sizeof(v)) < 0)
        return ~0ULL;
    return strtoull(v, NULL, base);
}

static unsigned long long cap_mask(const char *set)
{
    return status_number(set, 16);
}

static unsigned long long no_new_privs(void)
{
    return status_number("NoNewPrivs", 10);
}

/* Make caps (n of them) the whole effective and permitted sets: 0 or -1. */
static int only_caps(const cap_value_t *caps, int n)
{
    cap_t c = cap_init();
    int ret;

    if (!c)
        return -1;
    ret = n == 0 || (cap_set_flag(c, CAP_EFFECTIVE, n, caps, CAP_SET) == 0 &&
                     cap_set_flag(c, CAP_PERMITTED, n, caps, CAP_SET) == 0)
              ? cap_set_proc(c)
              : -1;
    (void)cap_free(c);
    return ret;
}

static bool has_group(const struct identity *id, gid_t g)
{
    for (int i = 0; i < id->ngroups; i++)
        if (id->groups[i] == g)
            return true;
    return false;
}

/* spec resolves to the passwd entry pw, with gid as its group. */
static void lookup_is(const char *spec, const struct passwd *pw, gid_t gid)
{
    struct identity id;
    const char *what = NULL;

    ck_assert_msg(caps_identity_lookup(spec, &id, &what) == 0, "%s: not found", spec);
    ck_assert_uint_eq(id.uid, pw->pw_uid);
    ck_assert_uint_eq(id.gid, gid);
    ck_assert_str_eq(id.name, pw->pw_name);
    ck_assert_str_eq(id.home, pw->pw_dir);
    ck_assert_int_ge(id.ngroups, 1);
    ck_assert_msg(has_group(&id, gid), "%s: the group is not among the supplementary groups", spec);
    caps_identity_free(&id);
    ck_assert_ptr_null(id.groups);
    ck_assert_ptr_null(id.name);
    ck_assert_ptr_null(id.home);
    /* Freeing twice is harmless: every pointer is NULL now. */
    caps_identity_free(&id);
}

/* The passwd entry of name, with its own copies of the strings (getpwnam's buffer is reused by every call). */
static struct passwd passwd_of(const char *name)
{
    struct passwd *pw = getpwnam(name), copy;

    ck_assert_ptr_nonnull(pw);
    copy = *pw;
    copy.pw_name = strdup(pw->pw_name);
    copy.pw_dir = strdup(pw->pw_dir);
    ck_assert(copy.pw_name && copy.pw_dir);
    return copy;
}

START_TEST(lookup_names_and_numbers)
{
    struct passwd root = passwd_of("root"), nobody = passwd_of("nobody");
    struct group *gr = getgrgid(nobody.pw_gid);
    char spec[64], group[32];

    ck_assert_ptr_nonnull(gr);
    (void)snprintf(group, sizeof(group), "%s", gr->gr_name); /* before the next lookup reuses its buffer */
    lookup_is("root", &root, 0);
    lookup_is("0", &root, 0);
    lookup_is("root:", &root, 0);
    lookup_is("nobody", &nobody, nobody.pw_gid);
    (void)snprintf(spec, sizeof(spec), "%u", (unsigned)nobody.pw_uid);
    lookup_is(spec, &nobody, nobody.pw_gid);
    /* USER:GROUP, the group by name or by number. */
    (void)snprintf(spec, sizeof(spec), "root:%s", group);
    lookup_is(spec, &root, nobody.pw_gid);
    (void)snprintf(spec, sizeof(spec), "0:%u", (unsigned)nobody.pw_gid);
    lookup_is(spec, &root, nobody.pw_gid);
    lookup_is("nobody:0", &nobody, 0);
    free(root.pw_name);
    free(root.pw_dir);
    free(nobody.pw_name);
    free(nobody.pw_dir);
}
END_TEST

/* The supplementary groups are the user's from the group database, as getgrouplist(3) gives them. */
START_TEST(lookup_supplementary_groups)
{
    struct identity id;
    const char *what;
    gid_t want[256];
    int n = 256;

    ck_assert_int_eq(caps_identity_lookup("root", &id, &what), 0);
    ck_assert_int_ge(getgrouplist("root", 0, want, &n), 0);
    ck_assert_int_eq(id.ngroups, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(has_group(&id, want[i]), "group %u missing", (unsigned)want[i]);
    caps_identity_free(&id);
}
END_TEST

START_TEST(lookup_unknown)
{
    static const struct {
        const char *spec, *what;
    } cases[] = {
        {"no-such-user.tmprun", "user"},
        {"4000000000", "user"},
        {"4294967295", "user"},
        {"root:no-such-group.tmprun", "group"},
        {"root:4000000000", "group"},
        {"no-such-user.tmprun:root", "user"},
        {"12tmprun", "user"},
        {"99999999999999999999999", "user"},
    };
    struct identity id;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *what = NULL;
        ck_assert_msg(caps_identity_lookup(cases[i].spec, &id, &what) == -ENOENT, "%s found", cases[i].spec);
        ck_assert_ptr_nonnull(what);
        ck_assert_msg(strcmp(what, cases[i].what) == 0, "%s: '%s' not found, says %s", cases[i].spec, what,
                      cases[i].what);
        /* A failed lookup may have filled part of id: the caller frees it like a found one. */
        caps_identity_free(&id);
    }
}
END_TEST

/* A lookup that fails for another reason than "no such user" (here: no descriptor left to read the
 * database with) is that -errno, not -ENOENT. */
static int lookup_fails_child(void *arg)
{
    struct rlimit rl = {3, 0}, was; /* 0-2 are open: no number left below it */
    struct identity id;
    const char *what;
    int ret;

    (void)arg;
    for (int fd = 0; fd <= 2; fd++)
        CHILD_CHECK(fcntl(fd, F_GETFD) >= 0 || open("/dev/null", O_RDWR) == fd);
    CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &was) == 0);
    rl.rlim_max = was.rlim_max;
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    ret = caps_identity_lookup("root", &id, &what);
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &was) == 0); /* the coverage counters need descriptors */
    CHILD_CHECK(ret == -EMFILE);
    CHILD_CHECK(strcmp(what, "user") == 0);
    caps_identity_free(&id);
    return 0;
}

START_TEST(lookup_fails)
{
    ck_assert_int_eq(in_child(lookup_fails_child, NULL), 0);
}
END_TEST

/* More supplementary groups than the first guess holds (16): the list is asked for again, whole. The groups
 * come from a group file of the test's own, bind-mounted on /etc/group in a mount namespace of the child's. */
#define MANY_GROUPS 20
#define FIRST_GROUP 54400

static int many_groups_child(void *arg)
{
    struct identity id;
    const char *what;

    CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHILD_CHECK(mount(arg, "/etc/group", NULL, MS_BIND, NULL) == 0);
    CHILD_CHECK(caps_identity_lookup("nobody", &id, &what) == 0);
    CHILD_CHECK(id.ngroups > MANY_GROUPS);
    for (gid_t g = FIRST_GROUP; g < FIRST_GROUP + MANY_GROUPS; g++)
        CHILD_CHECK(has_group(&id, g));
    caps_identity_free(&id);
    return 0;
}

START_TEST(lookup_many_groups)
{
    char dir[PATH_MAX], groups[PATH_MAX + 8], line[64];
    int dfd = scratch_dir(dir, sizeof(dir));
    FILE *f;

    (void)snprintf(groups, sizeof(groups), "%s/group", dir);
    f = fopen(groups, "we");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < MANY_GROUPS; i++) {
        (void)snprintf(line, sizeof(line), "tmprun-g%d:x:%d:root,nobody\n", i, FIRST_GROUP + i);
        ck_assert_int_ge(fputs(line, f), 0);
    }
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(in_child(many_groups_child, groups), 0);
    close(dfd);
}
END_TEST

static int cannot_switch_child(void *arg)
{
    (void)arg;
    CHILD_CHECK(lose_cap(CAP_SETUID) == 0);
    CHILD_CHECK(!caps_can_switch_user());
    return 0;
}

START_TEST(can_switch_user)
{
    if (geteuid() != 0) {
        ck_assert(!caps_can_switch_user());
        return;
    }
    ck_assert(caps_can_switch_user());
    ck_assert_int_eq(in_child(cannot_switch_child, NULL), 0);
}
END_TEST

/* --user=nobody in a child: it ends with nobody's uid and gids, nobody's groups, every capability set empty
 * (the bounding set too) and no_new_privs. */
static int apply_user_child(void *arg)
{
    const struct identity *id = arg;
    struct caps_spec spec = {.user = id};
    uid_t r, e, s;
    gid_t rg, eg, sg, groups[256];
    int n;

    CHILD_CHECK(caps_apply(&spec) == 0);
    CHILD_CHECK(getresuid(&r, &e, &s) == 0 && r == id->uid && e == id->uid && s == id->uid);
    CHILD_CHECK(getresgid(&rg, &eg, &sg) == 0 && rg == id->gid && eg == id->gid && sg == id->gid);
    CHILD_CHECK(setfsuid((uid_t)-1) == (int)id->uid);
    n = getgroups(256, groups);
    CHILD_CHECK(n == id->ngroups);
    for (int i = 0; i < n; i++)
        CHILD_CHECK(has_group(id, groups[i]));
    CHILD_CHECK(cap_mask("CapEff") == 0 && cap_mask("CapPrm") == 0 && cap_mask("CapInh") == 0);
    CHILD_CHECK(cap_mask("CapBnd") == 0 && cap_mask("CapAmb") == 0);
    CHILD_CHECK(no_new_privs() == 1);
    return 0;
}

START_TEST(apply_user)
{
    struct identity id;
    const char *what;

    ck_assert_int_eq(caps_identity_lookup("nobody", &id, &what), 0);
    ck_assert_int_eq(in_child(apply_user_child, &id), 0);
    caps_identity_free(&id);
}
END_TEST

/* --drop-caps alone: same user, every capability set empty (the bounding set only with CAP_SETPCAP, which a
 * caller without capabilities lacks and does not need), no_new_privs. */
static int apply_drop_caps_child(void *arg)
{
    struct caps_spec spec = {.drop_caps = true};
    uid_t uid = getuid();
    unsigned long long bounding = cap_mask("CapBnd");

    (void)arg;
    CHILD_CHECK(caps_apply(&spec) == 0);
    CHILD_CHECK(getuid() == uid && geteuid() == uid);
    CHILD_CHECK(cap_mask("CapEff") == 0 && cap_mask("CapPrm") == 0 && cap_mask("CapInh") == 0);
    CHILD_CHECK(cap_mask("CapAmb") == 0);
    CHILD_CHECK(cap_mask("CapBnd") == (uid == 0 ? 0 : bounding));
    CHILD_CHECK(no_new_privs() == 1);
    return 0;
}

START_TEST(apply_drop_caps)
{
    ck_assert_int_eq(in_child(apply_drop_caps_child, NULL), 0);
}
END_TEST

/* --no-new-privs alone sets the flag and leaves the capabilities; an empty spec changes nothing. */
static int apply_nnp_child(void *arg)
{
    struct caps_spec none = {0}, nnp = {.no_new_privs = true};
    unsigned long long eff = cap_mask("CapEff"), bnd = cap_mask("CapBnd"), before = no_new_privs();

    (void)arg;
    CHILD_CHECK(caps_apply(&none) == 0);
    CHILD_CHECK(cap_mask("CapEff") == eff && cap_mask("CapBnd") == bnd && no_new_privs() == before);
    CHILD_CHECK(caps_apply(&nnp) == 0);
    CHILD_CHECK(cap_mask("CapEff") == eff && cap_mask("CapBnd") == bnd);
    CHILD_CHECK(no_new_privs() == 1);
    return 0;
}

START_TEST(apply_no_new_privs)
{
    ck_assert_msg(no_new_privs() == 0, "the tests already run with no_new_privs: nothing to observe");
    ck_assert_int_eq(in_child(apply_nnp_child, NULL), 0);
}
END_TEST

/* A failed step is reported ("--user: setresgid: ...") and returned; nothing after it runs. */
struct failing_apply {
    struct identity *id; /* the --user */
    cap_value_t lose;    /* the capability the step needs, taken away first */
    uid_t uid;           /* what getuid() is afterwards */
};

static int apply_fails_child(void *arg)
{
    const struct failing_apply *f = arg;
    struct caps_spec spec = {.user = f->id};

    if (geteuid() == 0)
        CHILD_CHECK(lose_cap(f->lose) == 0);
    CHILD_CHECK(caps_apply(&spec) == -EPERM);
    CHILD_CHECK(getuid() == f->uid);
    CHILD_CHECK(no_new_privs() == 0);
    return 0;
}

static void apply_fails(const char *user, cap_value_t lose, const char *message)
{
    struct identity id;
    const char *what;
    struct failing_apply f = {&id, lose, getuid()};
    struct output o;

    ck_assert_int_eq(caps_identity_lookup(user, &id, &what), 0);
    ck_assert_msg(in_child_output(apply_fails_child, &f, &o) == 0, "the child failed: %s", o.err);
    ck_assert_str_eq(o.err, message);
    output_free(&o);
    caps_identity_free(&id);
}

/* Without CAP_SETGID (any unprivileged caller) the first step fails: to a group that is not the caller's. */
START_TEST(apply_fails_setresgid)
{
    const char *user = geteuid() == 0 ? "nobody" : "root";

    ck_assert_uint_ne(getgid(), geteuid() == 0 ? 65534 : 0);
    apply_fails(user, CAP_SETGID, "tmprun: --user: setresgid: Operation not permitted\n");
}
END_TEST

/* The caller's own group needs no capability; the supplementary groups do. */
START_TEST(apply_fails_setgroups)
{
    apply_fails("nobody:root", CAP_SETGID, "tmprun: --user: setgroups: Operation not permitted\n");
}
END_TEST

START_TEST(apply_fails_setresuid)
{
    apply_fails("nobody", CAP_SETUID, "tmprun: --user: setresuid: Operation not permitted\n");
}
END_TEST

/* A system call a step needs fails (seccomp): the step is named on its line, and its -errno returned. */
static const struct {
    bool drop_caps, no_new_privs;
    long nr;
    const char *message;
} step_failures[] = {
    {true, false, SYS_capset, "tmprun: cannot clear the capability sets: Operation not permitted\n"},
    {false, true, SYS_prctl, "tmprun: cannot set no_new_privs: Operation not permitted\n"},
};

static int apply_step_fails_child(void *arg)
{
    int i = *(const int *)arg;
    struct caps_spec spec = {.drop_caps = step_failures[i].drop_caps,
                             .no_new_privs = step_failures[i].no_new_privs};

    CHILD_CHECK(fail_syscall(step_failures[i].nr, EPERM) == 0);
    CHILD_CHECK(caps_apply(&spec) == -EPERM);
    return 0;
}

START_TEST(apply_step_fails)
{
    struct output o;

    ck_assert_msg(in_child_output(apply_step_fails_child, &_i, &o) == 0, "the child failed: %s", o.err);
    ck_assert_str_eq(o.err, step_failures[_i].message);
    output_free(&o);
}
END_TEST

/* caps_keep_for_cleanup() cannot read or cannot set the sets: that -errno, and the sets are unchanged. */
static int keep_fails_child(void *arg)
{
    unsigned long long before = cap_mask("CapEff");

    CHILD_CHECK(fail_syscall(*(const long *)arg, EPERM) == 0);
    CHILD_CHECK(caps_keep_for_cleanup() == -EPERM);
    CHILD_CHECK(cap_mask("CapEff") == before);
    return 0;
}

START_TEST(keep_for_cleanup_fails)
{
    long nr = _i == 0 ? SYS_capget : SYS_capset;

    ck_assert_int_eq(in_child(keep_fails_child, &nr), 0);
}
END_TEST

/* What caps_keep_for_cleanup() leaves of given (n capabilities, effective and permitted): want. */
struct keep_case {
    const cap_value_t *given;
    int n;
    unsigned long long want;
};

static int keep_child(void *arg)
{
    const struct keep_case *k = arg;
    unsigned long long bounding = cap_mask("CapBnd");
    uid_t uid = getuid();

    if (k->given)
        CHILD_CHECK(only_caps(k->given, k->n) == 0);
    CHILD_CHECK(caps_keep_for_cleanup() == 0);
    CHILD_CHECK(cap_mask("CapPrm") == k->want);
    CHILD_CHECK(cap_mask("CapEff") == k->want);
    CHILD_CHECK(cap_mask("CapInh") == 0);
    CHILD_CHECK(cap_mask("CapBnd") == bounding);
    CHILD_CHECK(getuid() == uid);
    return 0;
}

/* Root's sets shrink to the three cleanup capabilities (those of them a container left it). */
START_TEST(keep_for_cleanup_root)
{
    struct keep_case k = {NULL, 0, CLEANUP_CAPS & cap_mask("CapPrm")};

    ck_assert_uint_ne(k.want, 0);
    ck_assert_uint_ne(cap_mask("CapPrm"), k.want);
    ck_assert_int_eq(in_child(keep_child, &k), 0);
}
END_TEST

/* Only what is permitted can be kept: of CAP_KILL and CAP_SYS_ADMIN, CAP_KILL. */
START_TEST(keep_for_cleanup_partial)
{
    static const cap_value_t given[] = {CAP_KILL, CAP_SYS_ADMIN};
    struct keep_case k = {given, 2, 1ULL << CAP_KILL};

    ck_assert_int_eq(in_child(keep_child, &k), 0);
}
END_TEST

/* A process without capabilities has nothing to drop: 0, and still none. */
START_TEST(keep_for_cleanup_none)
{
    static const cap_value_t none[1] = {0};
    struct keep_case k = {none, 0, 0};

    ck_assert_int_eq(in_child(keep_child, &k), 0);
}
END_TEST

static Suite *caps_suite(void)
{
    Suite *s = suite_create("caps");
    TCase *tc = tcase_create("identity");

    tcase_add_test(tc, lookup_names_and_numbers);
    tcase_add_test(tc, lookup_supplementary_groups);
    tcase_add_test(tc, lookup_unknown);
    tcase_add_root_test(tc, lookup_many_groups);
    tcase_add_test(tc, lookup_fails);
    tcase_add_test(tc, can_switch_user);
    suite_add_tcase(s, tc);
    tc = tcase_create("apply");
    tcase_add_root_test(tc, apply_user);
    tcase_add_test(tc, apply_drop_caps);
    tcase_add_test(tc, apply_no_new_privs);
    tcase_add_test(tc, apply_fails_setresgid);
    tcase_add_root_test(tc, apply_fails_setgroups);
    tcase_add_root_test(tc, apply_fails_setresuid);
    if (!lacks("apply_step_fails", lacks_seccomp()))
        tcase_add_loop_test(tc, apply_step_fails, 0, (int)ARRAY_SIZE(step_failures));
    suite_add_tcase(s, tc);
    tc = tcase_create("keep_for_cleanup");
    tcase_add_root_test(tc, keep_for_cleanup_root);
    tcase_add_root_test(tc, keep_for_cleanup_partial);
    tcase_add_test(tc, keep_for_cleanup_none);
    if (!lacks("keep_for_cleanup_fails", lacks_seccomp()))
        tcase_add_loop_test(tc, keep_for_cleanup_fails, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(caps_suite());
}
