/*
 * pthread_create(NULL, ...): QNX accepts a NULL thread-id pointer for a
 * thread the caller never joins, and QNX code uses it (worker threads
 * started in main()).  glibc writes through the pointer and crashes.
 */
#include <pthread.h>
#include <semaphore.h>

#include "qnx_run.h"

static sem_t done;
static int seen;

static void *worker(void *arg)
{
    seen = *(int *)arg;
    sem_post(&done);
    return NULL;
}

int main(void)
{
    static int value = 42;
    sem_init(&done, 0, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(NULL, &attr, worker, &value);
    QR_EXPECT(rc == 0, "pthread_create(NULL, ...) = %d", rc);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    QR_EXPECT(rc != 0 || sem_timedwait(&done, &dl) == 0, "the thread ran");
    QR_EXPECT(seen == 42, "it saw its argument");
    /* And a joinable one with a thread id, as usual. */
    pthread_t t;
    QR_EXPECT(pthread_create(&t, NULL, worker, &value) == 0 && pthread_join(t, NULL) == 0,
              "an ordinary thread");
    return qr_verdict("pthread_null");
}
