/* inject ERRNO:SYSCALL [ERRNO:SYSCALL]... -- COMMAND [ARG]...
 *
 * Run COMMAND with each named system call failing with ERRNO, through a seccomp filter (seccomp(2),
 * SECCOMP_RET_ERRNO), so the end-to-end tests can make tmprun meet the failures it must handle: a kernel
 * without the new mount API or pidfds, a full disk, a denied setresuid. The filter is inherited by everything
 * COMMAND starts, so tests pick commands that do not need the failing calls. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct named {
    const char *name;
    int value;
};

static const struct named syscalls[] = {
    {"clone", SYS_clone},           {"fchmod", SYS_fchmod},         {"flock", SYS_flock},
    {"fsopen", SYS_fsopen},         {"getdents64", SYS_getdents64}, {"getrandom", SYS_getrandom},
    {"mkdirat", SYS_mkdirat},       {"mount", SYS_mount},           {"open_tree", SYS_open_tree},
    {"pidfd_open", SYS_pidfd_open}, {"pipe2", SYS_pipe2},           {"setgroups", SYS_setgroups},
    {"setresgid", SYS_setresgid},   {"setresuid", SYS_setresuid},   {"signalfd4", SYS_signalfd4},
    {"statx", SYS_statx},           {"unlinkat", SYS_unlinkat},     {"unshare", SYS_unshare},
    {"vfork", SYS_vfork},
};

static const struct named errnos[] = {
    {"EACCES", EACCES}, {"EAGAIN", EAGAIN}, {"EIO", EIO},     {"ENOMEM", ENOMEM},
    {"ENOSPC", ENOSPC}, {"ENOSYS", ENOSYS}, {"EPERM", EPERM}, {"EROFS", EROFS},
};

static int lookup(const struct named *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].value;
    fprintf(stderr, "inject: unknown name '%s'\n", name);
    exit(2);
}

#define MAX_RULES 16

int main(int argc, char **argv)
{
    struct sock_filter prog[4 + 2 * MAX_RULES + 1];
    struct sock_fprog fprog = {.filter = prog};
    unsigned short n = 0, rules = 0;
    int i;

    /* Only the native architecture's numbers are meant; any other calling convention is refused. */
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        char *colon = strchr(argv[i], ':');
        int err, nr;
        if (!colon || rules == MAX_RULES) {
            fprintf(stderr, "usage: inject ERRNO:SYSCALL... -- COMMAND [ARG]...\n");
            return 2;
        }
        *colon = '\0';
        err = lookup(errnos, sizeof(errnos) / sizeof(errnos[0]), argv[i]);
        nr = lookup(syscalls, sizeof(syscalls) / sizeof(syscalls[0]), colon + 1);
        prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
        prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err);
        rules++;
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: inject ERRNO:SYSCALL... -- COMMAND [ARG]...\n");
        return 2;
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    fprog.len = n;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) {
        perror("inject: seccomp");
        return 2;
    }
    execvp(argv[i + 1], argv + i + 1);
    perror(argv[i + 1]);
    return 127;
}
