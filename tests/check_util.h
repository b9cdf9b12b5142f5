/* Shared helpers for the Check suites: build small trees in a scratch directory. */
#ifndef TMPRUN_CHECK_UTIL_H
#define TMPRUN_CHECK_UTIL_H

#include <sys/stat.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The suite's scratch root, made by run_suite() and removed when it ends. */
static char scratch_root[] = "/tmp/tmprun-check.XXXXXX";

/* A fresh directory under the scratch root, opened; the path goes to path (size PATH_MAX). */
static inline int scratch_dir(char *path, size_t len)
{
    int fd;

    (void)snprintf(path, len, "%s/t.XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(path));
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static inline void make_dir(int dfd, const char *name, mode_t mode)
{
    ck_assert_msg(mkdirat(dfd, name, 0700) == 0, "mkdir %s: %m", name);
    ck_assert_msg(fchmodat(dfd, name, mode, 0) == 0, "chmod %s: %m", name);
}

static inline void make_file(int dfd, const char *name, const char *content, mode_t mode)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    ck_assert_msg(fd >= 0, "create %s: %m", name);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(close(fd), 0);
}

static inline int count_entries(int dfd)
{
    int n = 0, fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Run the suite; exit status for the test driver. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    char cmd[sizeof(scratch_root) + 64];
    int failed;

    if (!mkdtemp(scratch_root)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* Tests leave 000 directories and mounts in private namespaces only; plain rm suffices after a chmod. */
    (void)snprintf(cmd, sizeof(cmd), "chmod -R u+rwX %s; rm -rf %s", scratch_root, scratch_root);
    if (system(cmd) != 0)
        failed++;
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
