/* benchtool: build test trees fast and time commands, for bench/bench.sh (make bench).
 *   benchtool wide DIR NDIRS NFILES   NDIRS directories of NFILES files, every tenth file 4 KiB
 *   benchtool flat DIR NFILES         one directory of NFILES empty files
 *   benchtool chain DIR DEPTH         a chain of DEPTH nested directories "d"
 *   benchtool run CMD [ARG]...        run CMD; print "SECONDS MAXRSS_KIB" on stderr and exit with its status */
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
    fprintf(stderr, "usage: benchtool wide|flat|chain|run ...\n");
    return 2;
}
