/* Parsers for option values: pure functions, no I/O, fuzzed by tests/fuzz_parse.c. */
#ifndef TMPRUN_PARSE_H
#define TMPRUN_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest duration accepted: 100 years (tmprun(1) documents it), far beyond any sane --grace or --older-than,
 * exact in a double and small enough to add to any clock reading in a 64-bit time_t. It does not fit a
 * 32-bit time_t nor, in milliseconds, an int: callers turning it into a deadline or a poll(2) timeout
 * saturate. */
#define PARSE_MAX_SECONDS (100.0 * 365 * 86400)

/* "30", "1.5", "30s", "5m", "2h", "1d": a non-negative decimal number with an optional unit (default
 * seconds). 0 or -EINVAL (not a duration), -ERANGE (above PARSE_MAX_SECONDS). */
int parse_duration(const char *s, double *seconds);

/* An octal mode of one to four digits, at most 07777. 0 or -EINVAL. */
int parse_mode(const char *s, mode_t *mode);

/* Largest tmpfs size accepted, in bytes: 2^63 (8 EiB). The kernel parses size= into 64 bits and rounds it up
 * to whole pages (mm/shmem.c: DIV_ROUND_UP(size, PAGE_SIZE)); 2^64 bytes (17179869184G) wraps to 0, and so
 * does anything within a page of 2^64 (18446744073709551615), and a size of 0 pages means "no limit". 2^63
 * leaves room for any page size and is far above any memory a machine has. */
#define PARSE_MAX_SIZE (1ULL << 63)

/* A tmpfs size: digits with an optional k/K, m/M, g/G suffix (powers of 1024) or a percentage "50%". The
 * canonical tmpfs option value is written to out ("512M", "50%"). 0, -EINVAL (not a size) or -ERANGE (0,
 * above 100%, above PARSE_MAX_SIZE bytes, or too long for out). */
int parse_size(const char *s, char *out, size_t outlen);

/* A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool parse_valid_env_name(const char *s);

/* True if s is valid UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF) without a
 * control character (C0, DEL, C1): text that prints as itself on one line. */
bool parse_printable_utf8(const char *s);

/* Why --export=NAME must not set NAME to the workspace's path, as a phrase ("commands would be looked up in
 * the workspace alone"); NULL if it may. NAME is a parse_valid_env_name(). */
const char *parse_export_refused(const char *name);

/* The largest count parse_count() takes. */
#define PARSE_MAX_COUNT 1000000U

/* A count: decimal digits only, at most PARSE_MAX_COUNT. 0, -EINVAL or -ERANGE. */
int parse_count(const char *s, unsigned *out);

#endif
