/* libFuzzer harness for the option-value parsers (parse.c) and the command line parser (opts.c).
 *
 * The input, up to its first NUL byte, goes to parse_duration(), parse_mode(), parse_size() and
 * parse_valid_env_name(), each checked against an independent reference implementation of the grammar in
 * parse.h. The whole input, split at NUL bytes, becomes the argv after "tmprun" for opts_parse(), whose result
 * must satisfy the invariants of struct tmprun_opts and be the same when parsed a second time (optind reset).
 * Every piece of the argv also goes through the value parsers. Any violation aborts.
 *
 * Built and run by tests/fuzz.sh. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "opts.h"
#include "parse.h"

#define MAX_ARGS 32

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            (void)fprintf(real_stderr, "fuzz_parse: invariant violated at %s:%d: %s\n", __FILE__, __LINE__,    \
                          #cond);                                                                              \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

static FILE *real_stderr;
static bool have_utf8_locale; /* for the reference of parse_printable_utf8(): glibc's own UTF-8 decoder */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The code under test prints usage errors on stderr and --help/--version on stdout: send both to /dev/null
 * without touching fds 1 and 2, which libFuzzer (its FILE * was taken at startup) and the sanitizers (raw
 * writes to fd 2) keep using for their reports. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *null = fopen("/dev/null", "w");

    (void)argc;
    (void)argv;
    real_stderr = stderr;
    if (!null) {
        perror("fuzz_parse: /dev/null");
        abort();
    }
    stdout = null;
    stderr = null;
    have_utf8_locale = setlocale(LC_CTYPE, "C.UTF-8") != NULL;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- parse_duration: digits with at most one '.', at least one digit, then an optional s/m/h/d ---- */

static void check_duration(const char *s)
{
    const double sentinel = -12345.0;
    double v = sentinel;
    size_t i = 0, digits = 0, dots = 0;
    bool syntax;
    int ret = parse_duration(s, &v);

    for (; is_digit(s[i]) || (s[i] == '.' && dots == 0); i++) {
        if (s[i] == '.')
            dots++;
        else
            digits++;
    }
    syntax = digits > 0 && (s[i] == '\0' || (strchr("smhd", s[i]) && s[i + 1] == '\0'));

    CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
    if (!syntax)
        CHECK(ret == -EINVAL);
    else
        CHECK(ret == 0 || ret == -ERANGE);
    if (ret == -ERANGE) {
        /* parse.h: -ERANGE means above PARSE_MAX_SECONDS (over 36500 days), so at least 1 in any unit:
         * a non-zero digit before the point. */
        bool nonzero = false;
        for (size_t j = 0; is_digit(s[j]); j++)
            nonzero = nonzero || s[j] != '0';
        CHECK(nonzero);
    }
    if (ret == 0) {
        CHECK(isfinite(v));
        CHECK(v >= 0 && v <= PARSE_MAX_SECONDS);
    } else {
        CHECK(v == sentinel); /* untouched on failure */
    }
}

/* ---- parse_mode: one to four octal digits ---- */

static void check_mode(const char *s)
{
    mode_t m = 0123456, want = 0;
    size_t n = strlen(s);
    bool syntax = n >= 1 && n <= 4;
    int ret = parse_mode(s, &m);

    for (size_t i = 0; syntax && i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            syntax = false;
        else
            want = want * 8 + (mode_t)(s[i] - '0');
    }
    CHECK(ret == 0 || ret == -EINVAL);
    CHECK((ret == 0) == syntax);
    if (ret == 0) {
        CHECK(m <= 07777);
        CHECK(m == want);
    } else {
        CHECK(m == 0123456);
    }
}

/* ---- parse_size: digits, then an optional k/K/m/M/g/G or %; never 0, never above 2^63 bytes; the canonical
 * form is written ---- */

static void check_size_len(const char *s, size_t outlen)
{
    char out[64], want[64];
    size_t i = 0;
    unsigned long long v = 0;
    bool overflow = false, ok;
    char suffix = '\0';
    int ret;

    memset(out, 'X', sizeof(out));
    ret = parse_size(s, out, outlen);

    for (; is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    ok = i > 0 && !overflow;
    if (ok && s[i] != '\0') {
        if (s[i + 1] != '\0' || !strchr("kKmMgG%", s[i]))
            ok = false;
        else
            suffix = s[i] == '%' ? '%' : (char)(s[i] & ~0x20); /* upper case */
    }
    if (ok && v == 0)
        ok = false;
    if (ok && suffix == '%' && v > 100)
        ok = false;
    if (ok && suffix != '%') {
        /* In bytes, computed in 128 bits: at most PARSE_MAX_SIZE (2^63). */
        unsigned shift = suffix == 'K' ? 10 : suffix == 'M' ? 20 : suffix == 'G' ? 30 : 0;
        if (((unsigned __int128)v << shift) > ((unsigned __int128)1 << 63))
            ok = false;
    }
    if (ok) {
        (void)snprintf(want, sizeof(want), "%llu%.1s", v, &suffix);
        if (strlen(want) >= outlen)
            ok = false;
    }

    CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
    CHECK((ret == 0) == ok);
    if (ret == 0) {
        size_t len = strnlen(out, outlen);
        CHECK(len > 0 && len < outlen); /* non-empty and terminated inside the buffer */
        CHECK(len <= 21);               /* at most 20 digits and a suffix */
        CHECK(strcmp(out, want) == 0);
    }
    for (size_t j = outlen; j < sizeof(out); j++)
        CHECK(out[j] == 'X'); /* nothing written past outlen */
}

static void check_size(const char *s)
{
    /* The size opts.c uses, a roomy one, and small ones that exercise the truncation check. */
    check_size_len(s, sizeof(((struct tmprun_opts *)0)->tmpfs_size));
    check_size_len(s, 63);
    check_size_len(s, 1);
    check_size_len(s, 3);
}

/* ---- parse_valid_env_name: [A-Za-z_][A-Za-z0-9_]* ---- */

static void check_env_name(const char *s)
{
    bool want = is_alpha(s[0]) || s[0] == '_';

    for (size_t i = 1; want && s[i]; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
            want = false;
    CHECK(parse_valid_env_name(s) == want);
    /* The two names --export must always refuse (parse.h): every exec fails, every program loads the rest. */
    if (strcmp(s, "PATH") == 0 || strncmp(s, "LD_", 3) == 0)
        CHECK(parse_export_refused(s) != NULL);
}

/* ---- parse_printable_utf8: what mbrtowc() decodes in a UTF-8 locale, up to U+10FFFF, no Cc character ---- */

static void check_printable_utf8(const char *s)
{
    mbstate_t st;
    const char *p = s;
    size_t left = strlen(s);
    bool want = true;

    if (!have_utf8_locale)
        return;
    memset(&st, 0, sizeof(st));
    while (want && left > 0) {
        wchar_t w;
        size_t n = mbrtowc(&w, p, left, &st);
        unsigned long cp = (unsigned long)w;
        /* glibc decodes F4 90 80 80 and above (beyond Unicode) as code points: RFC 3629 does not. */
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0 || cp > 0x10ffff || cp < 0x20 ||
            (cp >= 0x7f && cp < 0xa0)) {
            want = false;
        } else {
            p += n;
            left -= n;
        }
    }
    CHECK(parse_printable_utf8(s) == want);
}

static void check_values(const char *s)
{
    check_duration(s);
    check_mode(s);
    check_size(s);
    check_env_name(s);
    check_printable_utf8(s);
}

/* ---- opts_parse ---- */

static bool is_arg(char **argv, int argc, char **p)
{
    return p >= argv && p < argv + argc;
}

/* The invariants of a parse result. */
static void check_opts(int argc, char **argv, int ret, const struct tmprun_opts *o)
{
    CHECK(ret == OPTS_RUN || ret == OPTS_DONE || ret == -EINVAL);
    if (ret == -EINVAL) {
        CHECK(o->exports == NULL && o->nexports == 0); /* freed on failure */
        return;
    }
    if (ret == OPTS_DONE)
        return;
    CHECK(o->mode <= 07777);
    CHECK(isfinite(o->grace) && o->grace >= 0 && o->grace <= PARSE_MAX_SECONDS);
    CHECK(isfinite(o->older_than) && o->older_than >= 0 && o->older_than <= PARSE_MAX_SECONDS);
    CHECK(o->verbose >= 0);
    CHECK(memchr(o->tmpfs_size, '\0', sizeof(o->tmpfs_size)) != NULL);
    if (o->tmpfs_size[0] != '\0')
        CHECK(o->tmpfs);
    CHECK((o->exports == NULL) == (o->nexports == 0));
    CHECK(o->nexports < (size_t)argc);
    for (size_t i = 0; i < o->nexports; i++) {
        CHECK(o->exports[i] != NULL);
        CHECK(parse_valid_env_name(o->exports[i]));
        CHECK(parse_export_refused(o->exports[i]) == NULL);
    }
    if (o->dir)
        CHECK(o->dir[0] != '\0');
    if (o->prefix)
        CHECK(strchr(o->prefix, '/') == NULL && parse_printable_utf8(o->prefix));
    if (o->suffix)
        CHECK(strchr(o->suffix, '/') == NULL && parse_printable_utf8(o->suffix));
    if (o->user)
        CHECK(o->user[0] != '\0' && o->user[0] != ':');
    if (o->list) {
        /* --list: only --dir, --prefix, --suffix and -v; no COMMAND, no run option, not with --gc. */
        CHECK(o->argv == NULL && !o->gc && !o->dry_run && !o->retain_set && !o->link && !o->export_all);
        CHECK(!o->cd && !o->keep && !o->keep_on_failure && !o->tmpfs && !o->private_tmp && !o->user &&
              o->nexports == 0);
    } else if (o->gc) {
        CHECK(o->argv == NULL);
        CHECK(o->prefix == NULL || o->prefix[0] != '\0');
        CHECK(!o->cd && !o->keep && !o->keep_on_failure && !o->ignore_cleanup_errors && !o->tmpfs &&
              !o->private_tmp && !o->user && !o->drop_caps && !o->no_new_privs && o->nexports == 0);
    } else {
        CHECK(o->argv != NULL);
        CHECK(is_arg(argv, argc, o->argv));
        CHECK(o->argv[0] != NULL);
        CHECK(argv[argc] == NULL);
        CHECK(!o->dry_run);
        /* Options stop at COMMAND: what precedes it are options (or "--"). */
        for (char **p = argv + 1; p < o->argv; p++)
            CHECK((*p)[0] == '-' || (p > argv + 1 && (p[-1][0] == '-')));
    }
}

static bool same_opts(const struct tmprun_opts *a, const struct tmprun_opts *b)
{
    if (a->dir != b->dir || a->prefix != b->prefix || a->suffix != b->suffix || a->mode != b->mode ||
        a->nexports != b->nexports || a->cd != b->cd || a->keep != b->keep ||
        a->keep_on_failure != b->keep_on_failure || a->ignore_cleanup_errors != b->ignore_cleanup_errors ||
        a->grace != b->grace || a->gc != b->gc || a->older_than != b->older_than || a->dry_run != b->dry_run ||
        a->tmpfs != b->tmpfs || strcmp(a->tmpfs_size, b->tmpfs_size) != 0 || a->private_tmp != b->private_tmp ||
        a->user != b->user || a->drop_caps != b->drop_caps || a->no_new_privs != b->no_new_privs ||
        a->verbose != b->verbose || a->argv != b->argv || a->list != b->list || a->link != b->link ||
        a->export_all != b->export_all || a->retain_set != b->retain_set || a->retain != b->retain)
        return false;
    for (size_t i = 0; i < a->nexports; i++)
        if (a->exports[i] != b->exports[i])
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    char *argv[MAX_ARGS + 2], *argv2[MAX_ARGS + 2];
    char progname[] = "tmprun";
    struct tmprun_opts o1, o2;
    int argc = 1, r1, r2;
    size_t off = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    /* The input as one string, up to its first NUL. */
    check_values(buf);

    /* The input split at NULs as the arguments after "tmprun"; a trailing NUL adds no empty argument. */
    argv[0] = progname;
    while (off < size && argc < MAX_ARGS + 1) {
        argv[argc++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    argv[argc] = NULL;
    for (int i = 1; i < argc; i++)
        check_values(argv[i]);

    /* getopt_long may permute argv (it must not, with '+', but a copy keeps the check honest). */
    memcpy(argv2, argv, sizeof(argv));
    r1 = opts_parse(argc, argv, &o1);
    check_opts(argc, argv, r1, &o1);
    /* Parsing again must give the same answer: opts_parse resets getopt's state itself. */
    r2 = opts_parse(argc, argv, &o2);
    CHECK(r1 == r2);
    CHECK(memcmp(argv, argv2, sizeof(argv)) == 0);
    if (r1 == OPTS_RUN)
        CHECK(same_opts(&o1, &o2));
    /* OPTS_DONE (--help, --version) may come after --export has allocated: free in every case. */
    opts_free(&o1);
    opts_free(&o2);
    free(buf);
    return 0;
}
