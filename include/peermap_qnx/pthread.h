/* <peermap_qnx/pthread.h> - pthread_create() as QNX has it (see
 * <peermap_qnx.h>).  Include after the C library's <pthread.h>. */
#ifndef PEERMAP_QNX_PTHREAD_H
#define PEERMAP_QNX_PTHREAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* pthread_create(); thread may be NULL. */
int pm_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                      void *(*start)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#ifndef PEERMAP_NO_QNX_NAMES
#define pthread_create pm_pthread_create
#endif

#endif
