/*
 * pthread_create() as QNX defines it: the thread-id pointer may be NULL
 * (QNX's C library then stores nothing; glibc writes through it and
 * crashes).  QNX code reaches this through <peermap_qnx.h>.
 */
#define PEERMAP_NO_QNX_NAMES
#include <peermap_qnx.h>

#include "common/internal.h"

PM_EXPORT int pm_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                void *(*start)(void *), void *arg)
{
    pthread_t ignored;
    return pthread_create(thread ? thread : &ignored, attr, start, arg);
}
