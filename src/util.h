/* Ownership helpers: scope-bound fds and heap memory, as in bubblewrap's utils.h and systemd. */
#ifndef TMPRUN_UTIL_H
#define TMPRUN_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f))) /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
#define cleanup_fd _cleanup_(close_fdp)
#define cleanup_free _cleanup_(free_voidp)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Close *fdp if it is not -1, keeping errno: a cleanup handler must not change the error a caller reports. */
static inline void close_fdp(int *fdp)
{
    if (*fdp >= 0) {
        int saved = errno;
        (void)close(*fdp);
        errno = saved;
        *fdp = -1;
    }
}

static inline void free_voidp(void *p)
{
    free(*(void **)p);
}

/* Hand ownership of *pp to the caller: the cleanup handler then sees NULL. A macro (systemd's TAKE_PTR, glib's
 * g_steal_pointer) so that the value keeps its type: through a void * it could be assigned to a pointer of
 * any other type unnoticed, and reading a char * object through a void ** lvalue is not what C allows. */
#define steal_ptr(pp)                                                                                          \
    __extension__({                                                                                            \
        __typeof__(pp) steal_ptr_pp_ = (pp);                                                                   \
        __typeof__(*steal_ptr_pp_) steal_ptr_v_ = *steal_ptr_pp_;                                              \
        *steal_ptr_pp_ = NULL;                                                                                 \
        steal_ptr_v_;                                                                                          \
    })

static inline int steal_fd(int *fdp)
{
    int fd = *fdp;
    *fdp = -1;
    return fd;
}

/* -errno of the last failed call, never 0: library functions return this on failure. */
static inline int neg_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

/* A coverage build (configure --enable-coverage) loses what a process counted when it execs, _exits or dies
 * of a signal: those paths write the counters first. Nothing at all in a normal build. */
#ifdef TMPRUN_COVERAGE
void __gcov_dump(void);
static inline void coverage_dump(void)
{
    __gcov_dump();
}
#else
static inline void coverage_dump(void)
{
}
#endif

#endif
