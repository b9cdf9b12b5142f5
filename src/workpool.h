/* A few threads that share the items of one region of work with the calling thread, then wait for the next:
 * the parallel part of rmtree, kept apart so the walk reads as a walk. Knows nothing of files. */
#ifndef TMPRUN_WORKPOOL_H
#define TMPRUN_WORKPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Threads at most, the caller's included. */
#define WORKPOOL_MAX_THREADS 4

struct workpool_ops {
    /* On each worker thread as it starts: its state for run(), or NULL when it cannot take work (it then takes
     * no item of any region; the others, the caller's thread always among them, do its share). */
    void *(*start)(void *ctx);
    /* Item i of the current region, on whichever thread took it, with that thread's state. */
    void (*run)(void *ctx, void *state, size_t i);
    /* On the worker thread as it ends, with what start() returned (NULL included). */
    void (*stop)(void *ctx, void *state);
};

struct workpool {
    pthread_mutex_t lock; /* guards what follows but next */
    pthread_cond_t wake;  /* a region started, or quit */
    pthread_cond_t idle;  /* a worker finished its part of a region */
    const struct workpool_ops *ops;
    void *ctx;
    unsigned nthreads; /* asked for, the caller's included */
    unsigned generation;
    bool quit;
    size_t n;      /* items in the current region */
    size_t next;   /* next item to take (atomic) */
    unsigned busy; /* workers still in the region */
    pthread_t threads[WORKPOOL_MAX_THREADS - 1];
    bool started[WORKPOOL_MAX_THREADS - 1];
};

/* A pool of nthreads threads, the caller's included (clamped to 1..WORKPOOL_MAX_THREADS). No thread is started
 * before the first workpool_run(): most callers never need one. */
void workpool_init(struct workpool *p, unsigned nthreads, const struct workpool_ops *ops, void *ctx);

/* Run ops->run for items 0..n-1, each exactly once, on the workers and on the calling thread (with
 * caller_state), and return when all are done. Workers not yet running are started first; one that cannot be
 * created (pthread_create fails) leaves its share to the others. Returns the threads the region had, the
 * caller's included. */
unsigned workpool_run(struct workpool *p, size_t n, void *caller_state);

/* Stop and join the workers (each runs ops->stop first). The pool may not be used again. */
void workpool_finish(struct workpool *p);

#endif
