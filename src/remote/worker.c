#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/internal.h"
#include "remote/worker.h"

struct job {
    int (*fn)(void *);
    void *arg;
    int rc, err, done;
    char reason[256];
};

static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;     /* job posted */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER; /* job done */
static struct job *posted;
static int alive;           /* a tracer thread exists */
static unsigned generation; /* bumped each time a tracer thread retires */

/* Tracer-thread-only state. */
static _Thread_local int retiring;
#define MAX_ORPHANS 16
static struct pm_tracee orphans[MAX_ORPHANS];
static int norphans;

void pm_worker_retire(void)
{
    retiring = 1;
}

void pm_worker_adopt(const struct pm_tracee *t)
{
    if (norphans < MAX_ORPHANS) {
        orphans[norphans++] = *t;
        return;
    }
    /* No room: retiring releases it; better than holding it forever. */
    retiring = 1;
}

static void service_orphans(void)
{
    for (int i = 0; i < norphans;) {
        if (pm_tracee_try_finish(&orphans[i]))
            orphans[i] = orphans[--norphans];
        else
            i++;
    }
}

static void *tracer_main(void *unused)
{
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    pthread_mutex_lock(&lock);
    for (;;) {
        while (!posted) {
            if (norphans == 0) {
                pthread_cond_wait(&wake, &lock);
                continue;
            }
            /* Orphans finish on their own time; look at them now and then. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&wake, &lock, &ts);
            pthread_mutex_unlock(&lock);
            service_orphans();
            pthread_mutex_lock(&lock);
        }
        struct job *j = posted;
        posted = NULL;
        pthread_mutex_unlock(&lock);

        pm_begin();
        j->rc = j->fn(j->arg);
        j->err = errno;
        snprintf(j->reason, sizeof j->reason, "%s", pm_reason());
        if (norphans)
            service_orphans();

        pthread_mutex_lock(&lock);
        j->done = 1;
        pthread_cond_broadcast(&finished);
        if (retiring) {
            /* Orphans go with us: the kernel detaches them as we exit.  Only
             * adopt() overflow gets here with any, and then that is the least
             * bad outcome. */
            alive = 0;
            generation++;
            norphans = 0;
            pthread_mutex_unlock(&lock);
            return NULL;
        }
    }
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&serial);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&serial);
}

static void atfork_child(void)
{
    /* The tracer thread does not exist in the child, nor do its tracees. */
    pthread_mutex_unlock(&serial);
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&finished, NULL);
    posted = NULL;
    alive = 0;
    generation++;
    norphans = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

unsigned pm_worker_generation(void)
{
    pthread_mutex_lock(&lock);
    unsigned g = generation;
    pthread_mutex_unlock(&lock);
    return g;
}

int pm_worker_run(int (*fn)(void *), void *arg)
{
    struct job j = { .fn = fn, .arg = arg };

    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&serial);
    pthread_mutex_lock(&lock);
    if (!alive) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024); /* small, but room for sanitizers */
        int e = pthread_create(&th, &attr, tracer_main, NULL);
        pthread_attr_destroy(&attr);
        if (e) {
            pthread_mutex_unlock(&lock);
            pthread_mutex_unlock(&serial);
            return pm_fail(e == EAGAIN ? ENOMEM : e,
                           "cannot start the tracer thread: %s", strerror(e));
        }
        pthread_setname_np(th, "peermap-tracer");
        alive = 1;
    }
    posted = &j;
    pthread_cond_signal(&wake);
    while (!j.done)
        pthread_cond_wait(&finished, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&serial);

    if (j.rc < 0) {
        if (j.reason[0])
            pm_fail_over(0, "%s", j.reason);
        errno = j.err;
    }
    return j.rc;
}
