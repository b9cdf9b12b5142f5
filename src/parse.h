/* Parsers for option values: pure functions, no I/O, fuzzed by tests/fuzz_parse.c. */
#ifndef TMPRUN_PARSE_H
#define TMPRUN_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest duration accepted: 100 years, far beyond any sane --grace or --older-than, small enough for a
 * timespec. */
#define PARSE_MAX_SECONDS (100.0 * 365 * 86400)

/* "30", "1.5", "30s", "5m", "2h", "1d": a non-negative decimal number with an optional unit (default
 * seconds). 0 or -EINVAL (not a duration), -ERANGE (above PARSE_MAX_SECONDS). */
int parse_duration(const char *s, double *seconds);

/* An octal mode of one to four digits, at most 07777. 0 or -EINVAL. */
int parse_mode(const char *s, mode_t *mode);

/* A tmpfs size: digits with an optional k/K, m/M, g/G suffix (powers of 1024) or a percentage "50%". The
 * canonical tmpfs option value is written to out ("512M", "50%"). 0, -EINVAL or -ERANGE. */
int parse_size(const char *s, char *out, size_t outlen);

/* A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool valid_env_name(const char *s);

#endif
