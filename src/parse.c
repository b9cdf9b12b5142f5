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

bool valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}
