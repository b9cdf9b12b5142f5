/* LD_PRELOAD=failsetenv.so: every setenv(3) fails with ENOMEM, so the end-to-end tests can check that tmprun
 * takes its workspace back when it cannot export it (tests/e2e-hardening.sh). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

int setenv(const char *name, const char *value, int overwrite)
{
    (void)name;
    (void)value;
    (void)overwrite;
    errno = ENOMEM;
    return -1;
}
