#include "config.h"

#include "workpool.h"

#include <check.h>
#include <pthread.h>
#include <string.h>

#include "check_util.h"

#define ITEMS 10000

/* What the test's ops record: how often each item ran and on which thread, how many workers started and
 * stopped, and whether the workers' states were the ones start() handed out. */
struct record {
    unsigned runs[ITEMS + 1]; /* one beyond the largest region, which no run may touch */
    pthread_t ran_on[ITEMS];
    unsigned started, stopped, bad_state;
    unsigned refuse; /* start() returns NULL for this many workers */
    int worker_state, caller_state;
};

static void *rec_start(void *ctx)
{
    struct record *rec = ctx;
    unsigned n = __atomic_fetch_add(&rec->started, 1, __ATOMIC_RELAXED);

    return n < rec->refuse ? NULL : &rec->worker_state;
}

static void rec_run(void *ctx, void *state, size_t i)
{
    struct record *rec = ctx;

    if (state != &rec->worker_state && state != &rec->caller_state)
        __atomic_fetch_add(&rec->bad_state, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&rec->runs[i], 1, __ATOMIC_RELAXED);
    rec->ran_on[i] = pthread_self();
}

static void rec_stop(void *ctx, void *state)
{
    struct record *rec = ctx;

    if (state && state != &rec->worker_state)
        __atomic_fetch_add(&rec->bad_state, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&rec->stopped, 1, __ATOMIC_RELAXED);
}

static const struct workpool_ops rec_ops = {.start = rec_start, .run = rec_run, .stop = rec_stop};
/* Each test runs in a child of its own (Check's fork mode), with a fresh record. */
static struct record seen;

/* A pool of nthreads recording into rec, whose first refuse workers get no state. */
static void start_pool(struct workpool *p, unsigned nthreads, unsigned refuse)
{
    memset(&seen, 0, sizeof(seen));
    seen.refuse = refuse;
    workpool_init(p, nthreads, &rec_ops, &seen);
}
static const unsigned thread_counts[] = {1, 2, 4};

static void assert_each_ran_once(const struct record *rec, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(rec->runs[i] == 1, "item %zu ran %u times", i, rec->runs[i]);
    ck_assert_uint_eq(rec->bad_state, 0);
}

/* One region of items on p, which must have had threads threads; every item ran once. */
static void run_region(struct workpool *p, struct record *rec, size_t items, unsigned threads)
{
    memset(rec->runs, 0, sizeof(rec->runs));
    ck_assert_uint_eq(workpool_run(p, items, &rec->caller_state), threads);
    assert_each_ran_once(rec, items);
    ck_assert_uint_eq(rec->runs[items], 0);
}

static void assert_all_on_caller(const struct record *rec, size_t items)
{
    for (size_t i = 0; i < items; i++)
        ck_assert(pthread_equal(rec->ran_on[i], pthread_self()));
}

START_TEST(every_item_once_per_region)
{
    /* Three regions of different sizes on the same workers: each item once per region, no thread started
     * again, every worker stopped by workpool_finish(). */
    struct workpool p;
    unsigned n = thread_counts[_i];

    start_pool(&p, n, 0);
    for (size_t items = 1; items <= ITEMS; items *= 100)
        run_region(&p, &seen, items, n);
    ck_assert_uint_eq(seen.started, n - 1);
    workpool_finish(&p);
    ck_assert_uint_eq(seen.stopped, n - 1);
}
END_TEST

START_TEST(no_thread_before_first_region)
{
    /* Most removals never need a worker: a pool that runs no region starts none; one thread runs on the
     * caller's alone; an empty region returns at once. */
    struct workpool p;

    start_pool(&p, 4, 0);
    workpool_finish(&p);
    ck_assert_uint_eq(seen.started, 0);
    ck_assert_uint_eq(seen.stopped, 0);

    workpool_init(&p, 1, &rec_ops, &seen);
    run_region(&p, &seen, 100, 1);
    assert_all_on_caller(&seen, 100);
    run_region(&p, &seen, 0, 1);
    workpool_finish(&p);
    ck_assert_uint_eq(seen.started, 0);
}
END_TEST

START_TEST(worker_without_state_takes_nothing)
{
    /* Workers whose start() failed (a thread that could not take the owner's credentials) take no item; the
     * others, the caller among them, do all of them. With every worker refused, the caller does it alone. */
    struct workpool p;

    start_pool(&p, 4, _i == 0 ? 1 : 3);
    run_region(&p, &seen, ITEMS, 4);
    workpool_finish(&p);
    ck_assert_uint_eq(seen.stopped, 3);
    if (seen.refuse == 3)
        assert_all_on_caller(&seen, ITEMS);
}
END_TEST

START_TEST(thread_count_clamped)
{
    struct workpool p;

    start_pool(&p, 0, 0);
    run_region(&p, &seen, 10, 1);
    workpool_finish(&p);
    workpool_init(&p, 64, &rec_ops, &seen);
    run_region(&p, &seen, 10, WORKPOOL_MAX_THREADS);
    workpool_finish(&p);
    ck_assert_uint_eq(seen.started, WORKPOOL_MAX_THREADS - 1);
}
END_TEST

static Suite *workpool_suite(void)
{
    Suite *s = suite_create("workpool");
    TCase *tc = tcase_create("regions");

    tcase_add_loop_test(tc, every_item_once_per_region, 0, ARRAY_SIZE(thread_counts));
    tcase_add_test(tc, no_thread_before_first_region);
    tcase_add_loop_test(tc, worker_without_state_takes_nothing, 0, 2);
    tcase_add_test(tc, thread_count_clamped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(workpool_suite());
}
