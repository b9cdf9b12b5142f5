#include "config.h"

#include "log.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* Each test runs in its own process (Check forks), so the globals it changes do not leak into the next. */

START_TEST(warn_format)
{
    struct capture c;

    capture_start(&c, STDERR_FILENO);
    warn("cannot remove %s: %d entries left", "/tmp/x", 3);
    capture_expect(&c, "tmprun: cannot remove /tmp/x: 3 entries left\n");
}
END_TEST

START_TEST(warn_errno_either_sign)
{
    struct capture c;

    capture_start(&c, STDERR_FILENO);
    warn_errno(EPERM, "cannot remove %s", "/tmp/tmprun.x/a/b");
    warn_errno(-ENOENT, "cannot open %s", "b");
    capture_expect(&c, "tmprun: cannot remove /tmp/tmprun.x/a/b: Operation not permitted\n"
                       "tmprun: cannot open b: No such file or directory\n");
}
END_TEST

/* The message is taken as a format once: a '%' in an argument is printed as it is. */
START_TEST(argument_not_a_format)
{
    struct capture c;

    capture_start(&c, STDERR_FILENO);
    warn_errno(-EACCES, "cannot remove %s", "/tmp/100%s%n");
    capture_expect(&c, "tmprun: cannot remove /tmp/100%s%n: Permission denied\n");
}
END_TEST

START_TEST(progname_prefix)
{
    struct capture c;

    log_progname = "other";
    capture_start(&c, STDERR_FILENO);
    warn("%s", "hello");
    capture_expect(&c, "other: hello\n");
}
END_TEST

START_TEST(info_only_verbose)
{
    struct capture c;

    log_verbosity = 0;
    capture_start(&c, STDERR_FILENO);
    info("quiet %d", 0);
    capture_expect(&c, "");

    log_verbosity = 1;
    capture_start(&c, STDERR_FILENO);
    info("workspace %s", "/tmp/tmprun.x");
    capture_expect(&c, "tmprun: workspace /tmp/tmprun.x\n");
}
END_TEST

/* Messages go to stderr only: stdout carries --gc's report and --keep's path, which scripts read. */
START_TEST(nothing_on_stdout)
{
    struct capture co, ce;

    log_verbosity = 1;
    capture_start(&co, STDOUT_FILENO);
    capture_start(&ce, STDERR_FILENO);
    warn("a");
    warn_errno(EIO, "b");
    info("c");
    capture_expect(&ce, "tmprun: a\ntmprun: b: Input/output error\ntmprun: c\n");
    capture_expect(&co, "");
}
END_TEST

START_TEST(die_status)
{
    die(125, "%s", "bad usage");
}
END_TEST

START_TEST(die_errno_status)
{
    die_errno(126, EACCES, "cannot run %s", "x");
}
END_TEST

static int die_errno_child(void *arg)
{
    (void)arg;
    /* Left in stdio's buffer: exit(3), not _exit(2), writes it out. */
    (void)fputs("partial", stdout);
    die_errno(127, -ENOENT, "cannot run %s", "nosuch");
}

/* What die_errno() prints, and that it leaves through exit(3): buffered output is not lost. */
START_TEST(die_errno_message_and_flush)
{
    struct output o;

    ck_assert_int_eq(in_child_output(die_errno_child, NULL, &o), 127);
    ck_assert_str_eq(o.out, "partial");
    ck_assert_str_eq(o.err, "tmprun: cannot run nosuch: No such file or directory\n");
    output_free(&o);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("messages");

    tcase_add_test(tc, warn_format);
    tcase_add_test(tc, warn_errno_either_sign);
    tcase_add_test(tc, argument_not_a_format);
    tcase_add_test(tc, progname_prefix);
    tcase_add_test(tc, info_only_verbose);
    tcase_add_test(tc, nothing_on_stdout);
    suite_add_tcase(s, tc);
    tc = tcase_create("die");
    tcase_add_exit_test(tc, die_status, 125);
    tcase_add_exit_test(tc, die_errno_status, 126);
    tcase_add_test(tc, die_errno_message_and_flush);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(log_suite());
}
