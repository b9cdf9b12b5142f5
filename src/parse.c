#include "config.h"

#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits, at most one '.', then the rest: strtod() alone would take "inf", "0x10", " 5" and "1e3". */
static const char *scan_decimal(const char *s, bool allow_dot)
{
    bool digits = false, dot = false;

    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digits = true;
        else if (*s == '.' && allow_dot && !dot)
            dot = true;
        else
            break;
    }
    return digits ? s : NULL;
}

int parse_duration(const char *s, double *seconds)
{
    const char *end = scan_decimal(s, true);
    double v, unit = 1;

    if (!end)
        return -EINVAL;
    switch (*end) {
    case '\0':
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -EINVAL;
    }
    if (*end != '\0' && end[1] != '\0')
        return -EINVAL;
    /* An underflow (ERANGE with a tiny result) is a duration of about 0, not an error; an overflow is inf. */
    v = strtod(s, NULL);
    if (!isfinite(v) || v * unit > PARSE_MAX_SECONDS)
        return -ERANGE;
    *seconds = v * unit;
    return 0;
}

int parse_mode(const char *s, mode_t *mode)
{
    unsigned long v = 0;
    size_t n = 0;

    for (; *s; s++, n++) {
        if (*s < '0' || *s > '7' || n == 4)
            return -EINVAL;
        v = v * 8 + (unsigned long)(*s - '0');
    }
    if (n == 0)
        return -EINVAL;
    *mode = (mode_t)v;
    return 0;
}

int parse_size(const char *s, char *out, size_t outlen)
{
    const char *end = scan_decimal(s, false);
    unsigned long long v, unit = 1;
    char suffix = '\0';

    if (!end || (*end != '\0' && end[1] != '\0'))
        return -EINVAL;
    switch (*end) {
    case '\0':
        break;
    case '%':
        suffix = '%';
        break;
    case 'k':
    case 'K':
        unit = 1ULL << 10;
        suffix = 'K';
        break;
    case 'm':
    case 'M':
        unit = 1ULL << 20;
        suffix = 'M';
        break;
    case 'g':
    case 'G':
        unit = 1ULL << 30;
        suffix = 'G';
        break;
    default:
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, NULL, 10);
    if (errno != 0)
        return -ERANGE;
    if (v == 0)
        return -ERANGE; /* tmpfs takes size=0 as "unlimited": never what a quota means */
    if (suffix == '%' ? v > 100 : v > PARSE_MAX_SIZE / unit)
        return -ERANGE;
    if ((size_t)snprintf(out, outlen, "%llu%.1s", v, &suffix) >= outlen)
        return -ERANGE;
    return 0;
}

bool parse_valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

bool parse_printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned long cp;
        int more;

        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                return false;
            p++;
            continue;
        }
        if (*p >= 0xc2 && *p <= 0xdf) {
            more = 1;
            cp = *p & 0x1fU;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            more = 2;
            cp = *p & 0x0fU;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            more = 3;
            cp = *p & 0x07U;
        } else {
            return false; /* a continuation byte, C0/C1 (always overlong) or F5..FF (above U+10FFFF) */
        }
        /* A NUL is not a continuation byte: the scan stops at the end of the string. */
        for (int i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3fU);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        p += more + 1;
    }
    return true;
}

/* The names refused are those that the dynamic loader, libc or a shell reads, in every program or every
 * shell, as a place to load code from, as code, or as shell settings. A directory's path is never what they
 * mean: PATH would make every exec fail (127, COMMAND's included), LD_PRELOAD prints a loader error in every
 * process, and LD_LIBRARY_PATH, LD_AUDIT and GCONV_PATH (the vector of CVE-2021-4034) make every program load
 * whatever was planted in the workspace. ENV and BASH_ENV name a file every (interactive) shell sources; IFS,
 * SHELLOPTS, BASHOPTS, PS4 and PROMPT_COMMAND are parsed or run as shell code, and a --prefix may hold "$(".
 * Allowed: HOME and the other temporary-directory names (TEMP, TMP, GOTMPDIR...), which are the point of
 * --export; data paths (LOCPATH, TZDIR, NLSPATH), which fail without running anything; one program's search
 * paths (PYTHONPATH, PERL5LIB...), which a caller may mean; and TMPDIR and WORKDIR, which already hold the
 * same path, so repeating them changes nothing. */
const char *parse_export_refused(const char *name)
{
    static const struct {
        const char *name;
        const char *why;
    } refused[] = {
        {"PATH", "commands would be looked up in the workspace alone"},
        {"GCONV_PATH", "libc would load code from the workspace"},
        {"ENV", "shells would source the workspace"},
        {"BASH_ENV", "shells would source the workspace"},
        {"IFS", "shells read it as syntax"},
        {"SHELLOPTS", "shells read it as settings"},
        {"BASHOPTS", "shells read it as settings"},
        {"PS4", "shells expand it as code"},
        {"PROMPT_COMMAND", "shells run it as a command"},
    };

    if (strncmp(name, "LD_", 3) == 0)
        return "the dynamic loader reads LD_* variables in every program";
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strcmp(name, refused[i].name) == 0)
            return refused[i].why;
    return NULL;
}

int parse_count(const char *s, unsigned *out)
{
    unsigned long long v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long long)(*s - '0');
        if (v > PARSE_MAX_COUNT)
            return -ERANGE;
    }
    *out = (unsigned)v;
    return 0;
}
