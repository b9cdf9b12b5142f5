#include "config.h"

#include "parse.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

START_TEST(duration_units)
{
    double s;

    ck_assert_int_eq(parse_duration("0", &s), 0);
    ck_assert(s == 0);
    ck_assert_int_eq(parse_duration("30", &s), 0);
    ck_assert(s == 30);
    ck_assert_int_eq(parse_duration("1.5", &s), 0);
    ck_assert(s == 1.5);
    ck_assert_int_eq(parse_duration("30s", &s), 0);
    ck_assert(s == 30);
    ck_assert_int_eq(parse_duration("5m", &s), 0);
    ck_assert(s == 300);
    ck_assert_int_eq(parse_duration("2h", &s), 0);
    ck_assert(s == 7200);
    ck_assert_int_eq(parse_duration("1d", &s), 0);
    ck_assert(s == 86400);
}
END_TEST

START_TEST(duration_rejects)
{
    static const char *const bad[] = {"",    "-1", " 5",  "5 ",   "inf", "nan", "0x10",
                                      "1e3", "5w", "5mm", "1..2", ".",   "m",   "+3"};
    double s = 42;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse_duration(bad[i], &s) == -EINVAL, "accepted '%s'", bad[i]);
    ck_assert(s == 42);
    ck_assert_int_eq(parse_duration("99999999999d", &s), -ERANGE);
    /* strtod() underflows on this one: still a valid, tiny duration (found by the fuzzer). */
    {
        char tiny[420] = "0.";
        memset(tiny + 2, '0', 400);
        strcpy(tiny + 402, "1");
        ck_assert_int_eq(parse_duration(tiny, &s), 0);
        ck_assert(s >= 0 && s < 1e-300);
    }
}
END_TEST

/* The documented maximum (tmprun(1): "durations above 100 years are usage errors"), in every unit. */
START_TEST(duration_limit)
{
    static const char *const fits[] = {"3153600000", "3153600000s", "52560000m",
                                       "876000h",    "36500d",      "36499.5d"};
    static const char *const too_big[] = {"3153600001", "3153600000.5", "52560001m",
                                          "876001h",    "36501d",       "36500.001d"};
    double s;

    ck_assert(PARSE_MAX_SECONDS == 3153600000.0);
    for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++) {
        ck_assert_msg(parse_duration(fits[i], &s) == 0, "refused '%s'", fits[i]);
        ck_assert(s > 3.15e9 && s <= PARSE_MAX_SECONDS);
    }
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++)
        ck_assert_msg(parse_duration(too_big[i], &s) == -ERANGE, "accepted '%s'", too_big[i]);
}
END_TEST

START_TEST(mode_octal)
{
    mode_t m;

    ck_assert_int_eq(parse_mode("0700", &m), 0);
    ck_assert_uint_eq(m, 0700);
    ck_assert_int_eq(parse_mode("755", &m), 0);
    ck_assert_uint_eq(m, 0755);
    ck_assert_int_eq(parse_mode("7777", &m), 0);
    ck_assert_uint_eq(m, 07777);
    ck_assert_int_eq(parse_mode("0", &m), 0);
    ck_assert_uint_eq(m, 0);
    ck_assert_int_eq(parse_mode("", &m), -EINVAL);
    ck_assert_int_eq(parse_mode("800", &m), -EINVAL);
    ck_assert_int_eq(parse_mode("17777", &m), -EINVAL);
    ck_assert_int_eq(parse_mode("rwx", &m), -EINVAL);
}
END_TEST

START_TEST(size_values)
{
    char out[32];

    ck_assert_int_eq(parse_size("512M", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "512M");
    ck_assert_int_eq(parse_size("2g", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "2G");
    ck_assert_int_eq(parse_size("50%", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "50%");
    ck_assert_int_eq(parse_size("4096", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "4096");
    ck_assert_int_eq(parse_size("0", out, sizeof(out)), -ERANGE);
    ck_assert_int_eq(parse_size("101%", out, sizeof(out)), -ERANGE);
    ck_assert_int_eq(parse_size("1T", out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(parse_size("1.5G", out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(parse_size("G", out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(parse_size("99999999999999999999999", out, sizeof(out)), -ERANGE);
}
END_TEST

/* tmpfs rounds SIZE up to pages in 64 bits: 2^64 bytes (17179869184G) wraps to 0, and so does anything
 * within a page of it (18446744073709551615), and 0 is "no limit". The cap is 2^63 bytes in every unit. */
START_TEST(size_limit)
{
    static const char *const fits[] = {"9223372036854775808", "9007199254740992K", "8796093022208M",
                                       "8589934592G", "8589934592g"};
    static const char *const too_big[] = {
        "17179869184G",         "18446744073709551615", "18446744073709551616",
        "18446744073709547520", "9223372036854775809",  "9007199254740993k",
        "8796093022209M",       "8589934593G",          "1099511627776G"};
    char out[32];

    for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++)
        ck_assert_msg(parse_size(fits[i], out, sizeof(out)) == 0, "refused '%s'", fits[i]);
    ck_assert_str_eq(out, "8589934592G");
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++)
        ck_assert_msg(parse_size(too_big[i], out, sizeof(out)) == -ERANGE, "accepted '%s'", too_big[i]);
}
END_TEST

/* The normalized value must fit in out: too long for it is -ERANGE, never a truncated size. */
START_TEST(size_out_too_small)
{
    char out[5];

    ck_assert_int_eq(parse_size("512M", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "512M");
    ck_assert_int_eq(parse_size("1024M", out, sizeof(out)), -ERANGE);
    ck_assert_int_eq(parse_size("10000", out, sizeof(out)), -ERANGE);
}
END_TEST

/* --retain=N: decimal digits only, 0 to PARSE_MAX_COUNT. */
START_TEST(count_values)
{
    static const char *const invalid[] = {"", "-1", "+1", "1a", " 1", "0x10", "1.0"};
    static const char *const too_big[] = {"1000001", "4294967296", "99999999999999999999999"};
    unsigned n = 7;

    ck_assert_int_eq(parse_count("0", &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(parse_count("0012", &n), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert_int_eq(parse_count("1000000", &n), 0);
    ck_assert_uint_eq(n, PARSE_MAX_COUNT);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        ck_assert_msg(parse_count(invalid[i], &n) == -EINVAL, "accepted '%s'", invalid[i]);
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++)
        ck_assert_msg(parse_count(too_big[i], &n) == -ERANGE, "accepted '%s'", too_big[i]);
    ck_assert_uint_eq(n, PARSE_MAX_COUNT); /* untouched by a refusal */
}
END_TEST

START_TEST(env_names)
{
    ck_assert(parse_valid_env_name("FOO"));
    ck_assert(parse_valid_env_name("_x1"));
    ck_assert(!parse_valid_env_name(""));
    ck_assert(!parse_valid_env_name("1X"));
    ck_assert(!parse_valid_env_name("A-B"));
    ck_assert(!parse_valid_env_name("A=B"));
}
END_TEST

START_TEST(printable_utf8)
{
    static const char *const good[] = {"",
                                       "tmprun.",
                                       "a b~",
                                       "\xc2\xa0",
                                       "\xc3\xa9t\xc3\xa9",
                                       "\xe6\x97\xa5",
                                       "\xef\xbf\xbd",
                                       "\xf0\x9f\x98\x80",
                                       "\xf4\x8f\xbf\xbf"};
    static const char *const bad[] = {"a\nb",
                                      "\t",
                                      "\033[31m",
                                      "\x7f",
                                      "\xc2\x80",
                                      "\xc2\x9b",
                                      "\xc2\x9f",
                                      "\x80",
                                      "\xc0\xaf",
                                      "\xc1\xbf",
                                      "\xe0\x80\xaf",
                                      "\xf0\x80\x80\xaf",
                                      "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",
                                      "\xf5\x80\x80\x80",
                                      "\xff",
                                      "\xe6\x97",
                                      "\xc3"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(parse_printable_utf8(good[i]), "refused good[%zu]", i);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!parse_printable_utf8(bad[i]), "accepted bad[%zu]", i);
}
END_TEST

START_TEST(export_refused)
{
    static const char *const refused[] = {
        "PATH",     "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_", "GCONV_PATH",    "ENV",
        "BASH_ENV", "IFS",        "SHELLOPTS",       "BASHOPTS", "PS4", "PROMPT_COMMAND"};
    static const char *const allowed[] = {"HOME", "TMPDIR",  "WORKDIR", "TEMP",   "TMP",        "GOTMPDIR",
                                          "LD",   "LDFLAGS", "PATHS",   "MYPATH", "ld_preload", "PYTHONPATH"};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_msg(parse_export_refused(refused[i]) != NULL, "allowed %s", refused[i]);
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        ck_assert_msg(parse_export_refused(allowed[i]) == NULL, "refused %s", allowed[i]);
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("values");

    tcase_add_test(tc, duration_units);
    tcase_add_test(tc, duration_rejects);
    tcase_add_test(tc, duration_limit);
    tcase_add_test(tc, mode_octal);
    tcase_add_test(tc, size_values);
    tcase_add_test(tc, size_limit);
    tcase_add_test(tc, size_out_too_small);
    tcase_add_test(tc, count_values);
    tcase_add_test(tc, env_names);
    tcase_add_test(tc, export_refused);
    tcase_add_test(tc, printable_utf8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(parse_suite());
}
