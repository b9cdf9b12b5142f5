#include "config.h"

#include "ns.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "missing.h"
#include "util.h"

bool ns_need_userns(void)
{
    cap_t caps = cap_get_proc();
    cap_flag_value_t v = CAP_CLEAR;

    if (caps) {
        (void)cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v);
        (void)cap_free(caps);
    }
    return v != CAP_SET;
}

static int enter(bool need_userns)
{
    return unshare(CLONE_NEWNS | (need_userns ? CLONE_NEWUSER : 0)) < 0 ? neg_errno() : 0;
}

const char *ns_advice(int err, bool need_userns)
{
    if (!need_userns)
        return "mount namespaces are not available here (a seccomp policy or container runtime?)";
    if (err == -ENOSPC)
        return "user namespaces are disabled (sysctl user.max_user_namespaces=0); enable them or run as root";
    /* Ubuntu >= 23.10: AppArmor lets only programs whose profile has the userns rule create one. */
    if (access("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", F_OK) == 0)
        return "AppArmor allows unprivileged user namespaces only to programs whose profile says so when "
               "sysctl kernel.apparmor_restrict_unprivileged_userns=1: as root, copy tmprun's profile "
               "(" TMPRUN_APPARMOR_PROFILE ") to /etc/apparmor.d/tmprun and run apparmor_parser -r "
               "/etc/apparmor.d/tmprun (see tmprun(1), ISOLATION), or run tmprun as root; else "
               "kernel.unprivileged_userns_clone or a seccomp policy forbids them";
    return "unprivileged user namespaces are not allowed here (sysctl kernel.unprivileged_userns_clone, "
           "AppArmor's kernel.apparmor_restrict_unprivileged_userns, or a seccomp policy); allow them or "
           "run as root";
}

static int write_file(const char *path, const char *text)
{
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(text);

    if (fd < 0)
        return neg_errno();
    if (write(fd, text, len) != (ssize_t)len)
        return neg_errno();
    return 0;
}

/* Map the caller to itself in the new user namespace, so files it writes keep its uid (user_namespaces(7):
 * an unprivileged process must deny setgroups before writing gid_map). */
static int map_self(uid_t uid, gid_t gid)
{
    char map[64];
    int ret;

    ret = write_file("/proc/self/setgroups", "deny");
    if (ret < 0)
        return ret;
    (void)snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    ret = write_file("/proc/self/uid_map", map);
    if (ret < 0)
        return ret;
    (void)snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    return write_file("/proc/self/gid_map", map);
}

static int failed(const char *what, int err)
{
    warn_errno(err, "%s", what);
    return err;
}

/* Attach the detached mount mfd over the directory open at target_fd, without any path lookup. */
static int attach(int mfd, int target_fd)
{
    if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return neg_errno();
    return 0;
}

/* A new tmpfs, mode 0700, nosuid, nodev, owned by owner:group, detached: its fd. */
static int make_tmpfs(const struct ns_spec *spec)
{
    cleanup_fd int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    char num[32];
    int mfd;

    if (fs < 0 && errno == ENOSYS)
        return -ENOSYS; /* no new mount API here: the caller falls back to mount(2) */
    if (fs < 0)
        return failed("--tmpfs: fsopen(tmpfs)", neg_errno());
    if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0)
        return failed("--tmpfs: fsconfig(mode)", neg_errno());
    if (spec->size && fsconfig(fs, FSCONFIG_SET_STRING, "size", spec->size, 0) < 0)
        return failed("--tmpfs: fsconfig(size)", neg_errno());
    (void)snprintf(num, sizeof(num), "%u", (unsigned)spec->owner);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "uid", num, 0) < 0)
        return failed("--tmpfs: fsconfig(uid)", neg_errno());
    (void)snprintf(num, sizeof(num), "%u", (unsigned)spec->group);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "gid", num, 0) < 0)
        return failed("--tmpfs: fsconfig(gid)", neg_errno());
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return failed("--tmpfs: fsconfig(create)", neg_errno());
    mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mfd < 0)
        return failed("--tmpfs: fsmount", neg_errno());
    return mfd;
}

/* Open path in this (new) namespace and check that it is the directory tmprun created: an fd from before
 * unshare(2) belongs to the old namespace and cannot be a mount target. */
static int reopen_workspace(const struct ns_spec *spec)
{
    cleanup_fd int fd = open(spec->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return failed("cannot open the workspace in the new mount namespace", neg_errno());
    if (fstat(fd, &st) < 0)
        return failed("cannot stat the workspace", neg_errno());
    if (st.st_dev != spec->dev || st.st_ino != spec->ino)
        return failed("the workspace path no longer leads to the workspace", -ESTALE);
    return steal_fd(&fd);
}

/* "/proc/self/fd/N": mount(2) follows this magic link to the very object open at fd, so the classic API can
 * mount onto or from an fd without a lookup an attacker could redirect. */
static void fd_path(int fd, char *buf, size_t len)
{
    (void)snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* The tmpfs with mount(2), where the new mount API is missing (kernels before 5.2, valgrind, some seccomp
 * policies): mount onto the workspace fd, then open the new mount's root by path and check it is a tmpfs
 * mount root owned as asked (nobody else can mount in this private namespace). Returns an fd on it. */
static int legacy_tmpfs(const struct ns_spec *spec, int ws)
{
    char target[64], opts[128];
    cleanup_fd int root = -1;
    struct statx stx;

    fd_path(ws, target, sizeof(target));
    (void)snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u%s%s", (unsigned)spec->owner,
                   (unsigned)spec->group, spec->size ? ",size=" : "", spec->size ? spec->size : "");
    if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return failed("--tmpfs: mount(tmpfs)", neg_errno());
    root = open(spec->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return failed("--tmpfs: cannot open the new tmpfs", neg_errno());
    if (statx(root, "", AT_EMPTY_PATH, STATX_UID, &stx) < 0)
        return failed("--tmpfs: cannot stat the new tmpfs", neg_errno());
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
        stx.stx_uid != spec->owner)
        return failed("--tmpfs: the workspace path does not lead to the new tmpfs", -ESTALE);
    return steal_fd(&root);
}

static int over_tmp(int srcfd, const char *dir)
{
    cleanup_fd int target = -1;
    cleanup_fd int clone = open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    int clone_err = clone < 0 ? neg_errno() : 0; /* before any other call can change errno */
    char what[64];
    int ret;

    (void)snprintf(what, sizeof(what), "--private-tmp: cannot mount the workspace over %s", dir);
    target = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0)
        return errno == ENOENT ? 0 : failed(what, neg_errno()); /* no /var/tmp: nothing to hide */
    if (clone_err == -ENOSYS) {
        char src[64], dst[64];
        fd_path(srcfd, src, sizeof(src));
        fd_path(target, dst, sizeof(dst));
        return mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ? failed(what, neg_errno()) : 0;
    }
    if (clone_err < 0)
        return failed(what, clone_err);
    ret = attach(clone, target);
    return ret < 0 ? failed(what, ret) : 0;
}

/* --cd: start COMMAND in the workspace, ws, by a path that resolves in COMMAND's namespace. With --private-tmp
 * that is /tmp: a directory fd taken before the mounts would leave COMMAND in the host's view of the path,
 * which does not resolve there (pwd prints the host path, "ls ." fails). */
static int change_into(const struct ns_spec *spec, int ws)
{
    struct stat want, got;

    if (!spec->private_tmp)
        return fchdir(ws) < 0 ? failed("cannot change into the workspace", neg_errno()) : 0;
    if (chdir("/tmp") < 0)
        return failed("--private-tmp: cannot change into /tmp", neg_errno());
    if (fstat(ws, &want) < 0 || stat(".", &got) < 0)
        return failed("--private-tmp: cannot check /tmp", neg_errno());
    if (want.st_dev != got.st_dev || want.st_ino != got.st_ino)
        return failed("--private-tmp: /tmp is not the workspace", -ESTALE);
    return 0;
}

int ns_setup(const struct ns_spec *spec)
{
    bool need_userns = ns_need_userns();
    uid_t uid = getuid();
    gid_t gid = getgid();
    cleanup_fd int ws = -1;
    int ret = enter(need_userns);

    if (ret < 0) {
        /* The one line tmprun's refusal is: nothing else is printed, and the workspace is taken back. */
        warn("%s needs a %smount namespace, and unshare(2) failed: %s; %s",
             spec->option ? spec->option : "tmprun", need_userns ? "user and " : "", strerror(-ret),
             ns_advice(ret, need_userns));
        if (spec->refused)
            *spec->refused = -ret;
        return ret;
    }
    if (need_userns) {
        ret = map_self(uid, gid);
        if (ret < 0)
            return failed("cannot write the user namespace's id maps", ret);
    }
    /* Nothing mounted here may leak back to the parent namespace (mount_namespaces(7)). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return failed("cannot make the mount namespace private", neg_errno());
    ws = reopen_workspace(spec);
    if (ws < 0)
        return ws;
    if (spec->tmpfs) {
        cleanup_fd int mfd = make_tmpfs(spec);
        if (mfd == -ENOSYS)
            mfd = legacy_tmpfs(spec, ws);
        else if (mfd >= 0) {
            ret = attach(mfd, ws);
            if (ret < 0)
                return failed("--tmpfs: cannot mount the tmpfs on the workspace", ret);
        }
        if (mfd < 0)
            return mfd;
        /* From now on the workspace is the tmpfs root. */
        close_fdp(&ws);
        ws = steal_fd(&mfd);
    }
    if (spec->private_tmp) {
        ret = over_tmp(ws, "/tmp");
        if (ret >= 0)
            ret = over_tmp(ws, "/var/tmp");
        if (ret < 0)
            return ret;
    }
    return spec->cd ? change_into(spec, ws) : 0;
}
