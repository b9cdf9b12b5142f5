#include "config.h"

#include "workpool.h"

void workpool_init(struct workpool *p, unsigned nthreads, const struct workpool_ops *ops, void *ctx)
{
    *p = (struct workpool){.ops = ops, .ctx = ctx};
    (void)pthread_mutex_init(&p->lock, NULL);
    (void)pthread_cond_init(&p->wake, NULL);
    (void)pthread_cond_init(&p->idle, NULL);
    if (nthreads < 1)
        nthreads = 1;
    p->nthreads = nthreads > WORKPOOL_MAX_THREADS ? WORKPOOL_MAX_THREADS : nthreads;
}

/* Take items of the current region until none is left. */
static void take_items(struct workpool *p, void *state)
{
    for (;;) {
        size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->n)
            break;
        p->ops->run(p->ctx, state, i);
    }
}

static void *worker(void *arg)
{
    struct workpool *p = arg;
    void *state = p->ops->start(p->ctx);
    unsigned seen = 0;

    (void)pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen)
            (void)pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        (void)pthread_mutex_unlock(&p->lock);
        if (state)
            take_items(p, state);
        (void)pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            (void)pthread_cond_signal(&p->idle);
    }
    (void)pthread_mutex_unlock(&p->lock);
    p->ops->stop(p->ctx, state);
    return NULL;
}

unsigned workpool_run(struct workpool *p, size_t n, void *caller_state)
{
    unsigned threads = 1;

    (void)pthread_mutex_lock(&p->lock);
    p->n = n;
    p->next = 0;
    p->busy = 0;
    for (unsigned i = 0; i < p->nthreads - 1; i++) {
        if (!p->started[i])
            p->started[i] = pthread_create(&p->threads[i], NULL, worker, p) == 0;
        if (p->started[i])
            p->busy++;
    }
    threads += p->busy;
    p->generation++;
    (void)pthread_cond_broadcast(&p->wake);
    (void)pthread_mutex_unlock(&p->lock);

    take_items(p, caller_state);

    (void)pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        (void)pthread_cond_wait(&p->idle, &p->lock);
    (void)pthread_mutex_unlock(&p->lock);
    return threads;
}

void workpool_finish(struct workpool *p)
{
    (void)pthread_mutex_lock(&p->lock);
    /* cppcheck-suppress unreadVariable ; the workers read it through their pointer to p. */
    p->quit = true;
    (void)pthread_cond_broadcast(&p->wake);
    (void)pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < WORKPOOL_MAX_THREADS - 1; i++)
        if (p->started[i])
            (void)pthread_join(p->threads[i], NULL);
    (void)pthread_mutex_destroy(&p->lock);
    (void)pthread_cond_destroy(&p->wake);
    (void)pthread_cond_destroy(&p->idle);
}
