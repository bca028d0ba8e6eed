/*
 * <sys/dispatch.h> - the dispatch layer and named channels (QNX Neutrino
 * API), on Linux.
 *
 * A dispatch handle owns one channel and routes what arrives on it: path
 * messages to resource managers (resmgr_attach()), message types in
 * registered ranges (message_attach()), pulse codes (pulse_attach()).  A
 * server loops on dispatch_block() + dispatch_handler(), from one thread or
 * from a thread pool (thread_pool_create()).
 *
 * name_attach() / name_open() give a server a name clients can find without
 * knowing its pid and chid; the name lives in the path space under
 * /dev/name/local/ (see ARCHITECTURE.md, "Path space").
 */
#ifndef PEERMAP_SYS_DISPATCH_H
#define PEERMAP_SYS_DISPATCH_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <sys/neutrino.h>
#include <sys/resmgr.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For message_attach()/pulse_attach() handlers: the same shape as the
 * resource-manager context. */
typedef resmgr_context_t message_context_t;

typedef union _dispatch_context {
    resmgr_context_t  resmgr_context;
    message_context_t message_context;
} dispatch_context_t;

/* dispatch_create_channel() flags (with a chid of -1, the channel is made
 * with these _NTO_CHF_* flags). */
#define DISPATCH_FLAG_NOLOCK 0x0001u /* accepted; the library always locks */

dispatch_t *dispatch_create(void);
dispatch_t *dispatch_create_channel(int chid, unsigned flags);
int dispatch_destroy(dispatch_t *dpp);

dispatch_context_t *dispatch_context_alloc(dispatch_t *dpp);
void dispatch_context_free(dispatch_context_t *ctp);
/* Wait for the next message or pulse: ctp on success, NULL with errno. */
dispatch_context_t *dispatch_block(dispatch_context_t *ctp);
/* Handle what dispatch_block() received.  0, or -1 if nothing handled it
 * (the client was answered with ENOSYS). */
int dispatch_handler(dispatch_context_t *ctp);
/* Stop dispatch_block() in every thread (they return NULL with ECANCELED). */
void dispatch_unblock(dispatch_context_t *ctp);
/* dispatch_block() on this handle gives up after reltime (NULL: never):
 * it then returns ctp with ctp->message_context.rcvid == -1, which
 * dispatch_handler() passes over.  0, or -1 with EINVAL. */
int dispatch_timeout(dispatch_t *dpp, struct timespec *reltime);
/* A connection to the dispatch's own channel (for pulses to ourselves,
 * e.g. from another thread); MSG_FLAG_SIDE_CHANNEL: a side channel. */
int message_connect(dispatch_t *dpp, int flags);

/* Messages whose first 16 bits (the type) are in [low, high] go to func;
 * MSG_FLAG_TYPE_PULSE with pulse codes in [low, high] likewise. */
typedef struct _message_attr {
    unsigned flags;
    unsigned nparts_max;
    unsigned msg_max_size;
    unsigned reserved[4];
} message_attr_t;
#define MSG_FLAG_TYPE_PULSE   0x0001u
#define MSG_FLAG_ALLOC_PULSE  0x0002u /* pulse_attach(): pick a free code */
#define MSG_FLAG_CROSS_ENDIAN 0x0004u /* accepted */
#define MSG_FLAG_DEFAULT_FUNC 0x0008u /* func also gets unmatched types */
#define MSG_FLAG_SIDE_CHANNEL 0x0010u /* message_connect(): a side channel */
#define _DISPATCH_MAX_PULSE_CODE 127

int message_attach(dispatch_t *dpp, message_attr_t *attr, int low, int high,
                   int (*func)(message_context_t *ctp, int code, unsigned flags, void *handle),
                   void *handle);
int message_detach(dispatch_t *dpp, int low, int high, int flags);
/* Returns the pulse code (useful with MSG_FLAG_ALLOC_PULSE) or -1. */
int pulse_attach(dispatch_t *dpp, int flags, int code,
                 int (*func)(message_context_t *ctp, int code, unsigned flags, void *handle),
                 void *handle);
int pulse_detach(dispatch_t *dpp, int code, int flags);

/* ---- thread pools ---- */

#ifndef THREAD_POOL_PARAM_T
#define THREAD_POOL_PARAM_T dispatch_context_t
#endif
#ifndef THREAD_POOL_HANDLE_T
#define THREAD_POOL_HANDLE_T dispatch_t
#endif

typedef struct _thread_pool_attr {
    THREAD_POOL_HANDLE_T *handle;
    THREAD_POOL_PARAM_T *(*block_func)(THREAD_POOL_PARAM_T *ctp);
    void (*unblock_func)(THREAD_POOL_PARAM_T *ctp);
    int (*handler_func)(THREAD_POOL_PARAM_T *ctp);
    THREAD_POOL_PARAM_T *(*context_alloc)(THREAD_POOL_HANDLE_T *handle);
    void (*context_free)(THREAD_POOL_PARAM_T *ctp);
    pthread_attr_t *attr;
    unsigned short lo_water;   /* at least this many threads blocked */
    unsigned short increment;  /* created at a time when below lo_water */
    unsigned short hi_water;   /* at most this many blocked: extras exit */
    unsigned short maximum;    /* at most this many threads in all */
    unsigned reserved[8];
} thread_pool_attr_t;

typedef struct _thread_pool thread_pool_t;

#define POOL_FLAG_EXIT_SELF 0x0001u /* the thread calling thread_pool_start()
                                       exits (pthread_exit, as on QNX); the
                                       pool runs in its own threads.  With
                                       neither flag thread_pool_start()
                                       returns 0 */
#define POOL_FLAG_USE_SELF  0x0002u /* the calling thread joins the pool and
                                       thread_pool_start() does not return */

thread_pool_t *thread_pool_create(thread_pool_attr_t *attr, unsigned flags);
int thread_pool_start(void *pool);
int thread_pool_destroy(thread_pool_t *pool);

/* ---- named channels ---- */

typedef struct _name_attach {
    dispatch_t *dpp;
    int chid;
    int mntid;
    int zero[2];
} name_attach_t;

#define NAME_FLAG_ATTACH_GLOBAL 0x0002u /* no network: the local name; for
                                           name_open(), also the _IO_CONNECT
                                           QNX's gns would send */
#define NAME_FLAG_DETACH_SAVEDPP 0x0001u /* name_detach() keeps the dispatch */
/* name_open(): the connection's _NTO_COF_* flags. */
#define _NAME_FLAG_COF_CLOEXEC    0x0010u /* always: side channels are */
#define _NAME_FLAG_COF_INSECURE   0x0020u
#define _NAME_FLAG_COF_NOEVENT    0x0040u /* the server may deliver no event */
#define _NAME_FLAG_COF_REG_EVENTS 0x0080u /* ... registered events only */

/* Register `name` (no '/', or a relative path) for a new channel created
 * with _NTO_CHF_DISCONNECT | _NTO_CHF_COID_DISCONNECT | _NTO_CHF_UNBLOCK,
 * as on QNX; with dpp NULL a dispatch handle is made.  Clients reach it with
 * name_open(name): a side-channel connection and, as on QNX 7.1 without
 * its global name service, no message (NAME_FLAG_ATTACH_GLOBAL, or
 * PEERMAP_NAME_OPEN_CONNECT=1 in the environment, send the _IO_CONNECT a
 * server written for gns expects: reply EOK to it). */
name_attach_t *name_attach(dispatch_t *dpp, const char *name, unsigned flags);
int name_detach(name_attach_t *attach, unsigned flags);
int name_open(const char *name, int flags);
int name_close(int coid);

#ifdef __cplusplus
}
#endif

#endif
