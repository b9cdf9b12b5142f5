/* benchtool: build test trees fast and time commands, for bench/bench.sh (make bench).
 *   benchtool wide DIR NDIRS NFILES   NDIRS directories of NFILES files, every tenth file 4 KiB
 *   benchtool flat DIR NFILES         one directory of NFILES empty files
 *   benchtool chain DIR DEPTH         a chain of DEPTH nested directories "d"
 *   benchtool workspaces DIR N NFILES N stale workspaces: tmprun.XXXXXXXXXX directories, each with NFILES files
 *                                     and a subdirectory "sub" of NFILES files, every tenth 4 KiB; the files
 * and the directories modified two hours ago (as find -mmin +60 wants them) benchtool run CMD [ARG]... run CMD;
 * print "SECONDS MAXRSS_KIB" on stderr and exit with its status benchtool alt N CMD... [::: CMD...]... run each
 * CMD once in turn, N rounds (the order rotates every round, so none always runs first); print each one's
 * median and lower and upper quartile in ms, one line each, "MEDIAN Q1 Q3". Interleaving single runs gives
 * every command the same share of a shared machine's load. */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALT_MAX 8

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double now(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fatal(const char *what)
{
    perror(what);
    exit(2);
}

static int open_dir(int at, const char *name, int create)
{
    int fd;

    if (create && mkdirat(at, name, 0700) < 0 && errno != EEXIST)
        fatal(name);
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fatal(name);
    return fd;
}

static void make_files(int dfd, long n, int every_tenth_4k)
{
    static char blob[4096];
    char name[32];

    for (long i = 0; i < n; i++) {
        int fd;
        (void)snprintf(name, sizeof(name), "f%ld", i);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            fatal(name);
        if (every_tenth_4k && i % 10 == 0 && write(fd, blob, sizeof(blob)) != (ssize_t)sizeof(blob))
            fatal("write");
        (void)close(fd);
    }
}

/* Modified (and accessed) two hours ago. */
static void age(int at, const char *name)
{
    struct timespec t[2];

    (void)clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 7200;
    t[1] = t[0];
    if (utimensat(at, name, t, AT_SYMLINK_NOFOLLOW) < 0)
        fatal(name);
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "wide") == 0) {
        int top = open_dir(AT_FDCWD, argv[2], 1);
        long nd = atol(argv[3]), nf = atol(argv[4]);
        char name[32];
        for (long i = 0; i < nd; i++) {
            int d;
            (void)snprintf(name, sizeof(name), "d%ld", i);
            d = open_dir(top, name, 1);
            make_files(d, nf, 1);
            (void)close(d);
        }
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "flat") == 0) {
        int top = open_dir(AT_FDCWD, argv[2], 1);
        make_files(top, atol(argv[3]), 0);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "chain") == 0) {
        int fd = open_dir(AT_FDCWD, argv[2], 1);
        long depth = atol(argv[3]);
        for (long i = 0; i < depth; i++) {
            int next = open_dir(fd, "d", 1);
            (void)close(fd);
            fd = next;
        }
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "workspaces") == 0) {
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        int top = open_dir(AT_FDCWD, argv[2], 1);
        long n = atol(argv[3]), nf = atol(argv[4]);
        char name[32];
        for (long i = 0; i < n; i++) {
            long v = i;
            int ws, sub;
            memcpy(name, "tmprun.", 7);
            for (int k = 16; k >= 7; k--, v /= 62)
                name[k] = digits[v % 62];
            name[17] = '\0';
            ws = open_dir(top, name, 1);
            sub = open_dir(ws, "sub", 1);
            make_files(ws, nf, 1);
            make_files(sub, nf, 1);
            (void)close(sub);
            age(ws, "sub");
            (void)close(ws);
            age(top, name);
        }
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "run") == 0) {
        struct timespec t0, t1;
        struct rusage ru;
        int st;
        pid_t pid;

        (void)clock_gettime(CLOCK_MONOTONIC, &t0);
        pid = fork();
        if (pid < 0)
            fatal("fork");
        if (pid == 0) {
            execvp(argv[2], argv + 2);
            fatal(argv[2]);
        }
        if (wait4(pid, &st, 0, &ru) < 0)
            fatal("wait4");
        (void)clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "%.6f %ld\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                ru.ru_maxrss);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (argc >= 4 && strcmp(argv[1], "alt") == 0) {
        char **cmd[ALT_MAX];
        double *t[ALT_MAX];
        long rounds = atol(argv[2]);
        int n = 0;

        cmd[n++] = argv + 3;
        for (int i = 3; i < argc; i++)
            if (strcmp(argv[i], ":::") == 0) {
                argv[i] = NULL;
                if (n == ALT_MAX)
                    fatal("too many commands");
                cmd[n++] = argv + i + 1;
            }
        if (rounds < 1)
            fatal("rounds");
        for (int c = 0; c < n; c++)
            if (!(t[c] = calloc((size_t)rounds, sizeof(double))))
                fatal("calloc");
        for (long r = 0; r < rounds; r++)
            for (int k = 0; k < n; k++) {
                int c = (int)((k + r) % n), st;
                double t0 = now();
                pid_t pid = fork();
                if (pid < 0)
                    fatal("fork");
                if (pid == 0) {
                    execvp(cmd[c][0], cmd[c]);
                    _exit(127);
                }
                if (waitpid(pid, &st, 0) < 0)
                    fatal("waitpid");
                t[c][r] = now() - t0;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    fprintf(stderr, "benchtool: %s failed\n", cmd[c][0]);
                    return 1;
                }
            }
        for (int c = 0; c < n; c++) {
            qsort(t[c], (size_t)rounds, sizeof(double), by_value);
            printf("%.4f %.4f %.4f\n", t[c][rounds / 2] * 1e3, t[c][rounds / 4] * 1e3,
                   t[c][rounds * 3 / 4] * 1e3);
        }
        return 0;
    }
    fprintf(stderr, "usage: benchtool wide|flat|chain|workspaces|run|alt ...\n");
    return 2;
}
