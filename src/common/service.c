/* pm_service_start(): see service.h for the signal policy. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "common/service.h"

int pm_service_start(void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    /* The new thread inherits the mask in force while it is created. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &a, fn, arg);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}
