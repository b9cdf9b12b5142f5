/* Diagnostics: every message tmprun prints goes through here, prefixed with the program name. */
#ifndef TMPRUN_LOG_H
#define TMPRUN_LOG_H

#include <stdarg.h>

#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The program name in messages ("tmprun"). */
extern const char *log_progname;
/* 0 = normal, 1 = -v. */
extern int log_verbosity;

/* "tmprun: MESSAGE\n" on stderr. */
void warn(const char *fmt, ...) PRINTF(1, 2);
/* "tmprun: MESSAGE: strerror(errnum)\n"; errnum is a positive or negative errno value. */
void warn_errno(int errnum, const char *fmt, ...) PRINTF(2, 3);
/* warn() only when -v was given. */
void info(const char *fmt, ...) PRINTF(1, 2);
/* Print like warn() / warn_errno() and exit with status. */
_Noreturn void die(int status, const char *fmt, ...) PRINTF(2, 3);
_Noreturn void die_errno(int status, int errnum, const char *fmt, ...) PRINTF(3, 4);

#endif
