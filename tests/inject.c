/* inject ERRNO:SYSCALL [ERRNO:SYSCALL]... -- COMMAND [ARG]...
 * inject --strerror ERRNO
 *
 * Run COMMAND with each named system call failing with ERRNO, through a seccomp filter (seccomp(2),
 * SECCOMP_RET_ERRNO), so the end-to-end tests can make tmprun meet the failures it must handle: a kernel
 * without the new mount API or pidfds, a full disk, a denied setresuid. The filter is inherited by everything
 * COMMAND starts, so tests pick commands that do not need the failing calls. --strerror prints the libc's text
 * for ERRNO, which tests expect in tmprun's messages: it differs between libcs (EIO is "Input/output error"
 * in glibc, "I/O error" in musl), and this program is built with tmprun's. */
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

#include "missing.h"

/* The seccomp_data.arch value of the architecture this program is built for: the filter refuses any other
 * calling convention, whose system call numbers would mean other calls (seccomp(2), "Caveats"). */
#if defined(__x86_64__) && defined(__ILP32__)
#error "x32: system call numbers carry __X32_SYSCALL_BIT; not supported by this test helper"
#elif defined(__x86_64__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_AARCH64BE
#elif defined(__aarch64__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__) && defined(__ARMEB__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_ARMEB
#elif defined(__arm__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define INJECT_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__riscv) && __riscv_xlen == 32
#define INJECT_AUDIT_ARCH AUDIT_ARCH_RISCV32
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define INJECT_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__powerpc64__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_PPC64
#elif defined(__powerpc__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_PPC
#elif defined(__s390x__)
#define INJECT_AUDIT_ARCH AUDIT_ARCH_S390X
#elif defined(__loongarch__) && __loongarch_grlen == 64
#define INJECT_AUDIT_ARCH AUDIT_ARCH_LOONGARCH64
#elif defined(__mips__) && _MIPS_SIM == _ABIO32 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define INJECT_AUDIT_ARCH AUDIT_ARCH_MIPSEL
#elif defined(__mips__) && _MIPS_SIM == _ABIO32
#define INJECT_AUDIT_ARCH AUDIT_ARCH_MIPS
#elif defined(__mips__) && _MIPS_SIM == _ABI64 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define INJECT_AUDIT_ARCH AUDIT_ARCH_MIPSEL64
#elif defined(__mips__) && _MIPS_SIM == _ABI64
#define INJECT_AUDIT_ARCH AUDIT_ARCH_MIPS64
#else
#error "tests/inject.c: add this architecture's AUDIT_ARCH_* (linux/audit.h)"
#endif

struct named {
    const char *name;
    long value; /* NOT_HERE: a name this architecture has no such call for */
};

#define NOT_HERE (-1L)

/* A call an architecture may lack (the newer ones have no fork or vfork: their libc forks with clone, which a
 * test names as well); naming it then adds no rule. The mount API and pidfd numbers come from missing.h when
 * the libc's <sys/syscall.h> predates them. */
#ifdef SYS_fork
#define SYS_FORK_OR_NOT SYS_fork
#else
#define SYS_FORK_OR_NOT NOT_HERE
#endif
#ifdef SYS_vfork
#define SYS_VFORK_OR_NOT SYS_vfork
#else
#define SYS_VFORK_OR_NOT NOT_HERE
#endif

/* 32-bit x86 and arm keep 16-bit-id calls under the plain names; their libc calls the 32-bit ones. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

static const struct named syscalls[] = {
    {"clone", SYS_clone},
    {"fchmod", SYS_fchmod},
    {"flock", SYS_flock},
    {"fork", SYS_FORK_OR_NOT},
    {"fsopen", SYS_fsopen},
    {"getdents64", SYS_getdents64},
    {"getrandom", SYS_getrandom},
    {"mkdirat", SYS_mkdirat},
    {"mount", SYS_mount},
    {"name_to_handle_at", SYS_name_to_handle_at},
    {"open_tree", SYS_open_tree},
    {"pidfd_open", SYS_pidfd_open},
    {"pidfd_send_signal", SYS_pidfd_send_signal},
    {"pipe2", SYS_pipe2},
    {"setgroups", SYS_SETGROUPS},
    {"setresgid", SYS_SETRESGID},
    {"setresuid", SYS_SETRESUID},
    {"signalfd4", SYS_signalfd4},
    {"statx", SYS_statx},
    {"unlinkat", SYS_unlinkat},
    {"unshare", SYS_unshare},
    {"vfork", SYS_VFORK_OR_NOT},
};

static const struct named errnos[] = {
    {"EACCES", EACCES}, {"EAGAIN", EAGAIN}, {"EIO", EIO},     {"ENOMEM", ENOMEM},
    {"ENOSPC", ENOSPC}, {"ENOSYS", ENOSYS}, {"EPERM", EPERM}, {"EROFS", EROFS},
};

static long lookup(const struct named *table, size_t n, const char *name)
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

    if (argc == 3 && strcmp(argv[1], "--strerror") == 0) {
        printf("%s\n", strerror((int)lookup(errnos, sizeof(errnos) / sizeof(errnos[0]), argv[2])));
        return 0;
    }
    /* Only the native architecture's numbers are meant; any other calling convention is refused. */
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, INJECT_AUDIT_ARCH, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        char *colon = strchr(argv[i], ':');
        long err, nr;
        if (!colon || rules == MAX_RULES) {
            fprintf(stderr, "usage: inject ERRNO:SYSCALL... -- COMMAND [ARG]...\n");
            return 2;
        }
        *colon = '\0';
        err = lookup(errnos, sizeof(errnos) / sizeof(errnos[0]), argv[i]);
        nr = lookup(syscalls, sizeof(syscalls) / sizeof(syscalls[0]), colon + 1);
        if (nr == NOT_HERE)
            continue;
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
