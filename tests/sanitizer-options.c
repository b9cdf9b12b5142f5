/* Linked into the sanitizer build only (bootstrap.sh's asan gate, through LIBS). Without /proc the sanitizer
 * runtime cannot read ASAN_OPTIONS (it reads the environment from /proc/self/environ before libc starts), and
 * LeakSanitizer's exit-time check cannot stop the world (it lists /proc/PID/task): a run of tmprun without /proc
 * (tests/e2e-leftovers.sh) would end in LeakSanitizer's fatal error instead of tmprun's own status. There, and
 * only there, the default is no leak check. */
#include <unistd.h>

const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
    return access("/proc/self/environ", R_OK) == 0 ? "" : "detect_leaks=0";
}
