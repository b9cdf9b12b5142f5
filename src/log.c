#include "config.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *log_progname = "tmprun";
int log_verbosity;

/* One fprintf per message keeps concurrent writers (tmprun and COMMAND share stderr) from interleaving inside
 * a line as far as stdio allows; errnum 0 means no errno suffix. */
static PRINTF(2, 0) void vlog(int errnum, const char *fmt, va_list ap)
{
    char msg[4096];

    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    if (errnum != 0)
        (void)fprintf(stderr, "%s: %s: %s\n", log_progname, msg, strerror(errnum < 0 ? -errnum : errnum));
    else
        (void)fprintf(stderr, "%s: %s\n", log_progname, msg);
}

void warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(0, fmt, ap);
    va_end(ap);
}

void warn_errno(int errnum, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(errnum, fmt, ap);
    va_end(ap);
}

void info(const char *fmt, ...)
{
    va_list ap;

    if (log_verbosity < 1)
        return;
    va_start(ap, fmt);
    vlog(0, fmt, ap);
    va_end(ap);
}

void die(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(0, fmt, ap);
    va_end(ap);
    exit(status);
}

void die_errno(int status, int errnum, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(errnum, fmt, ap);
    va_end(ap);
    exit(status);
}
