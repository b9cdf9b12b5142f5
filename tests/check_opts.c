#include "config.h"

#include "opts.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* getopt_long wants a mutable argv: copy the literals into one that lives until the next call. */
static char *argv_copy[32];

static int parse(struct tmprun_opts *o, const char *const *args)
{
    int argc = 0;

    for (; argv_copy[argc]; argc++)
        free(argv_copy[argc]);
    memset(argv_copy, 0, sizeof(argv_copy));
    for (argc = 0; args[argc]; argc++) {
        ck_assert_int_lt(argc, (int)(sizeof(argv_copy) / sizeof(argv_copy[0])) - 1);
        argv_copy[argc] = strdup(args[argc]);
    }
    return opts_parse(argc, argv_copy, o);
}

/* parse(), with what it prints on stdout and stderr in *o (output_free() it). */
static int parse_output(struct tmprun_opts *opts, const char *const *args, struct output *o)
{
    struct output_capture c;
    int ret;

    output_start(&c);
    ret = parse(opts, args);
    output_end(&c, o);
    return ret;
}

/* parse() succeeds with OPTS_RUN and prints nothing. */
static void parse_ok(struct tmprun_opts *o, const char *const *args)
{
    struct output printed;

    ck_assert_int_eq(parse_output(o, args, &printed), OPTS_RUN);
    ck_assert_str_eq(printed.out, "");
    ck_assert_str_eq(printed.err, "");
    output_free(&printed);
}

START_TEST(defaults)
{
    const char *const argv[] = {"tmprun", "true", NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert_ptr_null(o.dir);
    ck_assert_ptr_null(o.prefix);
    ck_assert_ptr_null(o.suffix);
    ck_assert_uint_eq(o.mode, 0700);
    ck_assert_ptr_null(o.exports);
    ck_assert_uint_eq(o.nexports, 0);
    ck_assert(!o.cd && !o.keep && !o.keep_on_failure && !o.ignore_cleanup_errors);
    ck_assert(o.grace == 2);
    ck_assert(!o.gc && !o.dry_run);
    ck_assert(o.older_than == 3600);
    ck_assert(!o.tmpfs && !o.private_tmp);
    ck_assert_str_eq(o.tmpfs_size, "");
    ck_assert_ptr_null(o.user);
    ck_assert(!o.drop_caps && !o.no_new_privs);
    ck_assert_int_eq(o.verbose, 0);
    /* COMMAND is argv's own tail, not a copy. */
    ck_assert_ptr_eq(o.argv, argv_copy + 1);
    ck_assert_ptr_null(o.argv[1]);
    opts_free(&o);
}
END_TEST

START_TEST(run_options_set_fields)
{
    const char *const argv[] = {"tmprun",
                                "--dir=/x",
                                "--prefix=p.",
                                "--suffix",
                                ".s",
                                "--mode=0750",
                                "--export=A",
                                "--cd",
                                "--keep",
                                "--keep-on-failure",
                                "--ignore-cleanup-errors",
                                "--grace=5m",
                                "--tmpfs=2g",
                                "--private-tmp",
                                "--user=nobody:nogroup",
                                "--drop-caps",
                                "--no-new-privs",
                                "--verbose",
                                "cmd",
                                "arg",
                                NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert_str_eq(o.dir, "/x");
    ck_assert_str_eq(o.prefix, "p.");
    ck_assert_str_eq(o.suffix, ".s");
    ck_assert_uint_eq(o.mode, 0750);
    ck_assert_uint_eq(o.nexports, 1);
    ck_assert_str_eq(o.exports[0], "A");
    ck_assert(o.cd && o.keep && o.keep_on_failure && o.ignore_cleanup_errors);
    ck_assert(o.grace == 300);
    ck_assert(o.tmpfs && o.private_tmp);
    ck_assert_str_eq(o.tmpfs_size, "2G");
    ck_assert_str_eq(o.user, "nobody:nogroup");
    ck_assert(o.drop_caps && o.no_new_privs);
    ck_assert_int_eq(o.verbose, 1);
    ck_assert(!o.gc);
    ck_assert_str_eq(o.argv[0], "cmd");
    ck_assert_str_eq(o.argv[1], "arg");
    ck_assert_ptr_null(o.argv[2]);
    opts_free(&o);
}
END_TEST

START_TEST(short_options)
{
    const char *const separate[] = {"tmprun", "-d", "/a", "-k", "-v", "-v", "true", NULL};
    const char *const joined[] = {"tmprun", "-d/b", "-vkv", "true", NULL};
    struct tmprun_opts o;

    parse_ok(&o, separate);
    ck_assert_str_eq(o.dir, "/a");
    ck_assert(o.keep);
    ck_assert_int_eq(o.verbose, 2);
    opts_free(&o);
    parse_ok(&o, joined);
    ck_assert_str_eq(o.dir, "/b");
    ck_assert(o.keep);
    ck_assert_int_eq(o.verbose, 2);
    opts_free(&o);
}
END_TEST

/* An option given twice: the last value counts. A second parse starts afresh (getopt's state is reset). */
START_TEST(last_value_wins_and_reparse)
{
    const char *const twice[] = {"tmprun",    "--dir=/a",  "--cd", "--dir=/b",
                                 "--grace=1", "--grace=0", "true", NULL};
    const char *const plain[] = {"tmprun", "true", NULL};
    struct tmprun_opts o;

    parse_ok(&o, twice);
    ck_assert_str_eq(o.dir, "/b");
    ck_assert(o.grace == 0);
    opts_free(&o);
    parse_ok(&o, plain);
    ck_assert_ptr_null(o.dir);
    ck_assert(!o.cd);
    ck_assert(o.grace == 2);
    ck_assert_str_eq(o.argv[0], "true");
    opts_free(&o);
}
END_TEST

START_TEST(gc_options)
{
    const char *const argv[] = {"tmprun",          "--gc",      "--dir=/d", "--prefix=p.", "--suffix=.s", "-v",
                                "--older-than=2h", "--dry-run", NULL};
    const char *const bare[] = {"tmprun", "--gc", NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert(o.gc && o.dry_run);
    ck_assert(o.older_than == 7200);
    ck_assert_str_eq(o.dir, "/d");
    ck_assert_str_eq(o.prefix, "p.");
    ck_assert_str_eq(o.suffix, ".s");
    ck_assert_int_eq(o.verbose, 1);
    ck_assert_ptr_null(o.argv);
    opts_free(&o);
    parse_ok(&o, bare);
    ck_assert(o.gc && !o.dry_run);
    ck_assert(o.older_than == 3600);
    ck_assert_ptr_null(o.argv);
    opts_free(&o);
}
END_TEST

/* --tmpfs takes its SIZE only as --tmpfs=SIZE: a separate word is COMMAND. */
START_TEST(tmpfs_optional_size)
{
    const char *const bare[] = {"tmprun", "--tmpfs", "true", NULL};
    const char *const separate[] = {"tmprun", "--tmpfs", "512M", "true", NULL};
    const char *const percent[] = {"tmprun", "--tmpfs=50%", "true", NULL};
    struct tmprun_opts o;

    parse_ok(&o, bare);
    ck_assert(o.tmpfs);
    ck_assert_str_eq(o.tmpfs_size, "");
    opts_free(&o);
    parse_ok(&o, separate);
    ck_assert(o.tmpfs);
    ck_assert_str_eq(o.tmpfs_size, "");
    ck_assert_str_eq(o.argv[0], "512M");
    ck_assert_str_eq(o.argv[1], "true");
    opts_free(&o);
    parse_ok(&o, percent);
    ck_assert_str_eq(o.tmpfs_size, "50%");
    opts_free(&o);
}
END_TEST

START_TEST(command_owns_later_options)
{
    const char *const argv[] = {"tmprun", "--cd", "-v", "ls", "-v", "--keep", "--help", NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert(o.cd);
    ck_assert_int_eq(o.verbose, 1);
    ck_assert(!o.keep);
    ck_assert_ptr_eq(o.argv, argv_copy + 3);
    ck_assert_str_eq(o.argv[1], "-v");
    ck_assert_str_eq(o.argv[3], "--help");
    opts_free(&o);
}
END_TEST

/* "--" ends the options; only the first one is ours, so COMMAND may start with a dash or be "--". */
START_TEST(double_dash)
{
    const char *const dash_cmd[] = {"tmprun", "--", "--cd", NULL};
    const char *const two[] = {"tmprun", "-v", "--", "--", "x", NULL};
    const char *const single[] = {"tmprun", "-", NULL};
    struct tmprun_opts o;

    parse_ok(&o, dash_cmd);
    ck_assert(!o.cd);
    ck_assert_str_eq(o.argv[0], "--cd");
    opts_free(&o);
    parse_ok(&o, two);
    ck_assert_int_eq(o.verbose, 1);
    ck_assert_str_eq(o.argv[0], "--");
    ck_assert_str_eq(o.argv[1], "x");
    opts_free(&o);
    parse_ok(&o, single);
    ck_assert_str_eq(o.argv[0], "-");
    opts_free(&o);
}
END_TEST

START_TEST(export_repeated_in_order)
{
    const char *const argv[] = {"tmprun",           "--export=HOME", "--export", "TMPDIR",
                                "--export=WORKDIR", "--export=HOME", "true",     NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert_uint_eq(o.nexports, 4);
    ck_assert_str_eq(o.exports[0], "HOME");
    ck_assert_str_eq(o.exports[1], "TMPDIR");
    ck_assert_str_eq(o.exports[2], "WORKDIR");
    ck_assert_str_eq(o.exports[3], "HOME");
    opts_free(&o);
    ck_assert_ptr_null(o.exports);
    ck_assert_uint_eq(o.nexports, 0);
}
END_TEST

/* A run may use an empty prefix; only --gc needs one, to tell its workspaces from other names. */
START_TEST(empty_prefix_runs)
{
    const char *const argv[] = {"tmprun", "--prefix=", "true", NULL};
    struct tmprun_opts o;

    parse_ok(&o, argv);
    ck_assert_str_eq(o.prefix, "");
    opts_free(&o);
}
END_TEST

struct usage_case {
    const char *args[6]; /* after "tmprun"; NULL-terminated */
    const char *says;    /* the message, or its start */
};

static const struct usage_case usage_cases[] = {
    {{NULL}, "missing COMMAND"},
    {{"-v", NULL}, "missing COMMAND"},
    {{"--", NULL}, "missing COMMAND"},
    {{"--bogus", "true", NULL}, "unrecognized option '--bogus'"},
    {{"--=x", "true", NULL}, "unrecognized option '--=x'"},
    {{"-x", "true", NULL}, "invalid option '-x'"},
    {{"--k", "true", NULL}, "option '--k' is ambiguous; possibilities: '--keep' '--keep-on-failure'"},
    {{"--cd=x", "true", NULL}, "option '--cd' doesn't allow an argument"},
    {{"--dir", NULL}, "option '--dir' requires an argument"},
    {{"--di", NULL}, "option '--dir' requires an argument"},
    {{"-d", NULL}, "option '-d' requires an argument"},
    {{"--dir=", "true", NULL}, "--dir needs a directory"},
    {{"--link=", "true", NULL}, "--link needs a path"},
    {{"--=x", "true", NULL}, "unrecognized option '--=x'"},
    {{"--prefix=a/b", "true", NULL}, "--prefix and --suffix must not contain '/'"},
    {{"--prefix=a\nb", "true", NULL}, "--prefix must be printable UTF-8 (no control characters)"},
    {{"--suffix=\033[2J", "true", NULL}, "--suffix must be printable UTF-8 (no control characters)"},
    {{"--mode=800", "true", NULL}, "invalid mode '800' (octal, at most 07777)"},
    {{"--grace=5w", "true", NULL}, "invalid duration '5w' (use e.g. 30, 30s, 5m, 2h, 1d)"},
    {{"--grace=99999999999d", "true", NULL}, "duration too large for --grace"},
    {{"--gc", "--older-than=x", NULL}, "invalid duration 'x'"},
    {{"--tmpfs=0", "true", NULL}, "--tmpfs size '0' out of range"},
    {{"--tmpfs=1.5G", "true", NULL}, "invalid --tmpfs size '1.5G' (use e.g. 512M, 2G, 50%)"},
    {{"--user=", "true", NULL}, "--user needs a user name or number"},
    {{"--user=:root", "true", NULL}, "--user needs a user name or number"},
    {{"--export=1X", "true", NULL}, "invalid variable name for --export: '1X'"},
    {{"--export=HOME", "--export=PATH", "true", NULL}, "--export=PATH refused: "},
    {{"--export", "LD_PRELOAD", "true", NULL}, "--export=LD_PRELOAD refused: "},
    {{"--gc", "true", NULL}, "--gc takes no COMMAND (got 'true')"},
    {{"--gc", "--keep", NULL}, "--gc takes only --dir, --prefix, --suffix, --older-than, --dry-run, -v"},
    {{"--gc", "--prefix=", "--suffix=.d", NULL}, "--gc needs a non-empty --prefix"},
    {{"--dry-run", "true", NULL}, "--older-than and --dry-run go with --gc"},
    {{"--older-than=1h", "true", NULL}, "--older-than and --dry-run go with --gc"},
    /* An argument quoted in the message has its control characters replaced: one line, no escapes. */
    {{"--export=A\nB", "true", NULL}, "invalid variable name for --export: 'A?B'"},
    {{"--grace=1\033[2J", "true", NULL}, "invalid duration '1?[2J'"},
    {{"--bogus\n", "true", NULL}, "unrecognized option '--bogus?'"},
};

/* Every usage error: -EINVAL, nothing on stdout, and one line on stderr that says what is wrong and where to
 * look: "tmprun: MESSAGE (see 'tmprun --help')". */
START_TEST(usage_errors)
{
    const struct usage_case *u = &usage_cases[_i];
    const char *argv[8] = {"tmprun"};
    const char *tail = " (see 'tmprun --help')\n", *err;
    struct tmprun_opts o;
    struct output printed;
    size_t len;

    for (int i = 0; u->args[i]; i++)
        argv[i + 1] = u->args[i];
    ck_assert_int_eq(parse_output(&o, argv, &printed), -EINVAL);
    ck_assert_str_eq(printed.out, "");
    err = printed.err;
    len = strlen(err);
    ck_assert_msg(strncmp(err, "tmprun: ", 8) == 0, "case %d: '%s'", _i, err);
    ck_assert_msg(strncmp(err + 8, u->says, strlen(u->says)) == 0, "case %d: '%s' lacks '%s'", _i, err,
                  u->says);
    ck_assert_msg(len > strlen(tail) && strcmp(err + len - strlen(tail), tail) == 0, "case %d: '%s'", _i, err);
    ck_assert_msg(strchr(err, '\n') == err + len - 1, "case %d: more than one line: '%s'", _i, err);
    ck_assert_msg(!strchr(err, '\033'), "case %d: an escape reached stderr", _i);
    output_free(&printed);
}
END_TEST

/* A failed parse frees what it collected: the struct holds nothing to free. */
START_TEST(error_frees_exports)
{
    const char *const argv[] = {"tmprun", "--export=HOME", "--export=A", "--bogus", "true", NULL};
    struct tmprun_opts o;
    struct output printed;

    ck_assert_int_eq(parse_output(&o, argv, &printed), -EINVAL);
    ck_assert_ptr_null(o.exports);
    ck_assert_uint_eq(o.nexports, 0);
    output_free(&printed);
}
END_TEST

/* --help and --version print on stdout, nothing on stderr, and stop the parse: what follows is not looked at.
 */
START_TEST(help_and_version)
{
    const char *const help[] = {"tmprun", "--help", "--bogus", NULL};
    const char *const h[] = {"tmprun", "-v", "-h", NULL};
    const char *const version[] = {"tmprun", "--version", "--dir", NULL};
    const char *const v[] = {"tmprun", "-V", NULL};
    const char *const *const cases[] = {help, h, version, v};
    struct tmprun_opts o;
    struct output printed;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(parse_output(&o, cases[i], &printed), OPTS_DONE);
        ck_assert_str_eq(printed.err, "");
        if (i < 2) {
            ck_assert_msg(strncmp(printed.out, "Usage: tmprun [OPTION]... [--] COMMAND [ARG]...\n", 48) == 0,
                          "%s", printed.out);
            ck_assert(strstr(printed.out, "\n  -h, --help "));
        } else {
            ck_assert_msg(
                strncmp(printed.out, PACKAGE_NAME " " PACKAGE_VERSION "\n", strlen(PACKAGE_VERSION) + 8) == 0,
                "%s", printed.out);
        }
        output_free(&printed);
    }
}
END_TEST

static Suite *opts_suite(void)
{
    Suite *s = suite_create("opts");
    TCase *tc = tcase_create("values");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, run_options_set_fields);
    tcase_add_test(tc, short_options);
    tcase_add_test(tc, last_value_wins_and_reparse);
    tcase_add_test(tc, gc_options);
    tcase_add_test(tc, tmpfs_optional_size);
    tcase_add_test(tc, export_repeated_in_order);
    tcase_add_test(tc, empty_prefix_runs);
    suite_add_tcase(s, tc);
    tc = tcase_create("command");
    tcase_add_test(tc, command_owns_later_options);
    tcase_add_test(tc, double_dash);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, usage_errors, 0, (int)(sizeof(usage_cases) / sizeof(usage_cases[0])));
    tcase_add_test(tc, error_frees_exports);
    tcase_add_test(tc, help_and_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(opts_suite());
}
