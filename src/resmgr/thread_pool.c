/*
 * Thread pools: threads that loop block_func -> handler_func, their number
 * kept between the attr's water marks.
 *
 * Decisions (QNX's thread_pool_attr_t semantics):
 *  - "Blocked" threads are those inside block_func.  When one returns and
 *    fewer than lo_water remain blocked, `increment` new threads are made
 *    (never more than `maximum` in all).  After handler_func, a thread whose
 *    return would make more than hi_water blocked exits instead.
 *  - thread_pool_start() makes lo_water threads (at least 1).  Flags: with
 *    POOL_FLAG_USE_SELF the caller becomes one of them and does not return
 *    until the pool is destroyed; with POOL_FLAG_EXIT_SELF the caller exits
 *    (pthread_exit), as QNX does, so that a main() ending in
 *    thread_pool_start() leaves the process running; with neither it
 *    returns 0 at once.
 *  - context_alloc/context_free default to dispatch_context_alloc/free,
 *    unblock_func to dispatch_unblock; block_func and handler_func are
 *    required (EINVAL), as are hi_water >= lo_water, maximum >= hi_water,
 *    maximum >= 1.  An increment of 0 is taken as 1.
 *  - thread_pool_destroy() (not from a pool thread: EDEADLK) stops the pool:
 *    threads finish the message in hand, unblock_func wakes those blocked,
 *    and it returns once every pool thread is gone (the wake-up is repeated
 *    every 100 ms in case a thread blocked again meanwhile).  A block_func
 *    returning NULL makes its thread exit when the pool is stopping or when
 *    errno says the wait cannot succeed (not EINTR, ECANCELED, EAGAIN or
 *    ENOMEM: e.g. ESRCH, the channel was destroyed); otherwise it blocks
 *    again.  EINTR is common: besides the application's signals, glibc's
 *    setuid() & co. interrupt every other thread of the process.
 *  - Threads are detached; a thread's context is allocated when it starts.
 *  - Pool threads run the application's handlers: they are the
 *    application's threads, with the signal mask of the thread that made
 *    them (thread_pool_start()'s caller, or a pool thread), never a mask of
 *    the library's.  With POOL_FLAG_EXIT_SELF they are the only threads
 *    left, so a blocked SIGTERM would never take its default action.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/internal.h"
#include "resmgr/resmgr_internal.h"

struct _thread_pool {
    thread_pool_attr_t attr;
    unsigned flags;
    pthread_mutex_t lock;
    pthread_cond_t gone;
    int nthreads;       /* alive */
    int nblocked;       /* in block_func */
    int stopping;
    int started;
    int self_in_pool;
    pthread_t self;
    /* Contexts of live threads, for unblock_func. */
    void **ctxs;
    int nctxs, cap_ctxs;
};

static _Thread_local struct _thread_pool *my_pool;

static void ctx_add(struct _thread_pool *p, void *c)
{
    if (p->nctxs == p->cap_ctxs) {
        int n = p->cap_ctxs ? p->cap_ctxs * 2 : 16;
        void **t = realloc(p->ctxs, (size_t)n * sizeof *t);
        if (!t)
            return; /* unblocked by the periodic retry via another context */
        p->ctxs = t;
        p->cap_ctxs = n;
    }
    p->ctxs[p->nctxs++] = c;
}

static void ctx_del(struct _thread_pool *p, void *c)
{
    for (int i = 0; i < p->nctxs; i++)
        if (p->ctxs[i] == c) {
            p->ctxs[i] = p->ctxs[--p->nctxs];
            return;
        }
}

static void *pool_thread(void *arg);

/* Start n threads (lock held); returns how many started. */
static int spawn(struct _thread_pool *p, int n)
{
    int made = 0;
    /* The threads inherit the signal mask of the thread making them: the
     * application's, as with any thread it creates itself. */
    for (int i = 0; i < n && p->nthreads < p->attr.maximum; i++) {
        pthread_t t;
        pthread_attr_t local, *a = p->attr.attr;
        if (!a) {
            pthread_attr_init(&local);
            a = &local;
        }
        pthread_attr_setdetachstate(a, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, a, pool_thread, p);
        if (a == &local)
            pthread_attr_destroy(&local);
        if (rc != 0)
            break;
        p->nthreads++;
        made++;
    }
    return made;
}

static void run(struct _thread_pool *p)
{
    thread_pool_attr_t *a = &p->attr;
    my_pool = p;
    void *ctx = a->context_alloc(a->handle);
    pthread_mutex_lock(&p->lock);
    if (ctx)
        ctx_add(p, ctx);
    while (ctx && !p->stopping) {
        p->nblocked++;
        pthread_mutex_unlock(&p->lock);
        void *got = a->block_func(ctx);
        int e = errno; /* before anything else can change it */
        pthread_mutex_lock(&p->lock);
        p->nblocked--;
        if (p->stopping)
            break;
        if (!got) {
            /* EINTR: a signal, or another thread's setuid() & co. - glibc
             * makes every thread take its SIGSETXID, which epoll_wait()
             * in MsgReceive() reports whatever SA_RESTART says: block
             * again, never lose the thread for it. */
            if (e == EINTR || e == ECANCELED || e == EAGAIN || e == ENOMEM)
                continue;
            break; /* the channel is gone (ESRCH...): spinning would not help */
        }
        if (p->nblocked < a->lo_water && p->nthreads < a->maximum)
            spawn(p, a->increment ? a->increment : 1);
        pthread_mutex_unlock(&p->lock);
        a->handler_func(got);
        pthread_mutex_lock(&p->lock);
        if (p->nblocked >= a->hi_water && !p->stopping && p->nthreads > 1)
            break;
    }
    if (ctx)
        ctx_del(p, ctx);
    pthread_mutex_unlock(&p->lock);
    if (ctx && a->context_free)
        a->context_free(ctx);
    pthread_mutex_lock(&p->lock);
    p->nthreads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    my_pool = NULL;
}

static void *pool_thread(void *arg)
{
    run(arg);
    return NULL;
}

PM_EXPORT thread_pool_t *thread_pool_create(thread_pool_attr_t *attr, unsigned flags)
{
    pm_begin();
    if (!attr || !attr->block_func || !attr->handler_func || attr->maximum < 1 ||
        attr->hi_water < attr->lo_water || attr->maximum < attr->hi_water) {
        pm_fail(EINVAL, "thread_pool_create(): need block_func, handler_func and "
                "lo_water <= hi_water <= maximum, maximum >= 1");
        return NULL;
    }
    if ((flags & POOL_FLAG_EXIT_SELF) && (flags & POOL_FLAG_USE_SELF)) {
        pm_fail(EINVAL, "thread_pool_create(): POOL_FLAG_EXIT_SELF with POOL_FLAG_USE_SELF");
        return NULL;
    }
    struct _thread_pool *p = calloc(1, sizeof *p);
    if (!p) {
        pm_fail(ENOMEM, "thread_pool_create(): out of memory");
        return NULL;
    }
    p->attr = *attr;
    if (!p->attr.context_alloc) {
        p->attr.context_alloc = dispatch_context_alloc;
        if (!p->attr.context_free)
            p->attr.context_free = dispatch_context_free;
    }
    if (!p->attr.unblock_func && p->attr.block_func == dispatch_block)
        p->attr.unblock_func = dispatch_unblock;
    p->flags = flags;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->gone, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

PM_EXPORT int thread_pool_start(void *pool)
{
    pm_begin();
    struct _thread_pool *p = pool;
    if (!p)
        return pm_fail(EINVAL, "thread_pool_start(): no pool");
    pthread_mutex_lock(&p->lock);
    if (p->started) {
        pthread_mutex_unlock(&p->lock);
        return pm_fail(EBUSY, "thread_pool_start(): already started");
    }
    p->started = 1;
    int want = p->attr.lo_water ? p->attr.lo_water : 1;
    if (p->flags & POOL_FLAG_USE_SELF) {
        want--;
        p->nthreads++;
        p->self_in_pool = 1;
        p->self = pthread_self();
    }
    int made = want > 0 ? spawn(p, want) : 0;
    int none = made == 0 && !(p->flags & POOL_FLAG_USE_SELF);
    pthread_mutex_unlock(&p->lock);
    if (none)
        return pm_fail(EAGAIN, "thread_pool_start(): cannot create threads");
    if (p->flags & POOL_FLAG_USE_SELF) {
        run(p);
        return 0;
    }
    if (p->flags & POOL_FLAG_EXIT_SELF)
        pthread_exit(NULL);
    return 0;
}

PM_EXPORT int thread_pool_destroy(thread_pool_t *p)
{
    pm_begin();
    if (!p)
        return pm_fail(EINVAL, "thread_pool_destroy(): no pool");
    if (my_pool == p)
        return pm_fail(EDEADLK, "thread_pool_destroy(): called from a thread of the pool");
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    while (p->nthreads > 0) {
        if (p->attr.unblock_func)
            for (int i = 0; i < p->nctxs; i++)
                p->attr.unblock_func(p->ctxs[i]);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->gone, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->lock);
    free(p->ctxs);
    free(p);
    return 0;
}
