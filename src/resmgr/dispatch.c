/*
 * Dispatch handles and contexts: the channel, the receive buffer, blocking.
 *
 * Decisions:
 *  - dispatch_create() makes a channel with _NTO_CHF_DISCONNECT |
 *    _NTO_CHF_UNBLOCK: the library must hear when a client goes (to close its
 *    OCBs) and when a reply-blocked client is signalled.
 *    dispatch_create_channel(chid, flags) uses an existing channel as it is
 *    (and never destroys it), or with chid -1 makes one with `flags` (the
 *    _NTO_CHF_* bits; DISPATCH_FLAG_NOLOCK is accepted and ignored).
 *  - A context's receive buffer is the largest msg_max_size asked for by any
 *    resmgr_attach()/message_attach() before the context was allocated, and
 *    never less than sizeof(resmgr_iomsgs_t) + PATH_MAX + 512 (a connect
 *    message with a whole path).  Its iov[] has the largest nparts_max asked
 *    for (at least 1).  Allocate contexts after the attaches, as QNX says.
 *  - dispatch_block() zeroes whatever the previous message left beyond the
 *    new one's end, so that a handler that reads past a short message reads
 *    zeros, never another client's bytes.
 *  - dispatch_unblock() sends one library pulse (PM_PULSE_CODE_DISPATCH_
 *    UNBLOCK) per thread blocked in dispatch_block() on the handle at that
 *    moment (at least one outstanding, which stops the next thread to
 *    block); a thread that takes one returns NULL with ECANCELED.  Only
 *    pulses from this process count: a client cannot forge one.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/resmgr_internal.h"

void pm_rm_update_sizes(dispatch_t *dpp, unsigned msg_max_size, unsigned nparts_max)
{
    pthread_mutex_lock(&dpp->lock);
    if (msg_max_size > dpp->msg_max_size)
        dpp->msg_max_size = msg_max_size;
    if (nparts_max > dpp->nparts_max)
        dpp->nparts_max = nparts_max;
    pthread_mutex_unlock(&dpp->lock);
}

static dispatch_t *make(int chid, int own)
{
    dispatch_t *dpp = calloc(1, sizeof *dpp);
    if (!dpp) {
        pm_fail(ENOMEM, "dispatch: out of memory");
        return NULL;
    }
    dpp->chid = chid;
    dpp->own_chid = own;
    dpp->self_coid = -1;
    dpp->nparts_max = 1;
    pthread_mutex_init(&dpp->lock, NULL);
    return dpp;
}

PM_EXPORT dispatch_t *dispatch_create_channel(int chid, unsigned flags)
{
    pm_begin();
    if (chid == -1) {
        chid = ChannelCreate(flags & ~DISPATCH_FLAG_NOLOCK);
        if (chid < 0)
            return NULL;
        dispatch_t *dpp = make(chid, 1);
        if (!dpp)
            ChannelDestroy(chid);
        return dpp;
    }
    struct pm_channel *ch = chid > 0 ? pm_channel_get(chid) : NULL;
    if (!ch) {
        pm_fail_over(EINVAL, "dispatch_create_channel(): no channel %d in this process", chid);
        return NULL;
    }
    pm_channel_put(ch);
    return make(chid, 0);
}

PM_EXPORT dispatch_t *dispatch_create(void)
{
    return dispatch_create_channel(-1, _NTO_CHF_DISCONNECT | _NTO_CHF_UNBLOCK);
}

PM_EXPORT int dispatch_destroy(dispatch_t *dpp)
{
    pm_begin();
    if (!dpp)
        return pm_fail(EINVAL, "dispatch_destroy(): no dispatch handle");
    pm_rm_free_tables(dpp);
    if (dpp->self_coid >= 0)
        ConnectDetach(dpp->self_coid);
    if (dpp->own_chid)
        ChannelDestroy(dpp->chid);
    pthread_mutex_destroy(&dpp->lock);
    free(dpp);
    return 0;
}

PM_EXPORT dispatch_context_t *dispatch_context_alloc(dispatch_t *dpp)
{
    pm_begin();
    if (!dpp) {
        pm_fail(EINVAL, "dispatch_context_alloc(): no dispatch handle");
        return NULL;
    }
    pthread_mutex_lock(&dpp->lock);
    size_t bufsize = dpp->msg_max_size;
    unsigned nparts = dpp->nparts_max ? dpp->nparts_max : 1;
    pthread_mutex_unlock(&dpp->lock);
    if (bufsize < PM_RM_MIN_BUFFER)
        bufsize = PM_RM_MIN_BUFFER;
    bufsize = (bufsize + 15) & ~(size_t)15;

    size_t head = sizeof(struct pm_rm_ctx) + (size_t)(nparts - 1) * sizeof(iov_t);
    head = (head + 15) & ~(size_t)15;
    struct pm_rm_ctx *x = calloc(1, head + bufsize);
    if (!x) {
        pm_fail(ENOMEM, "dispatch_context_alloc(): out of memory");
        return NULL;
    }
    x->dpp = dpp;
    x->bufsize = bufsize;
    x->buf = (unsigned char *)x + head;
    resmgr_context_t *ctp = &x->pub.resmgr_context;
    ctp->dpp = dpp;
    ctp->msg = (resmgr_iomsgs_t *)(void *)x->buf;
    ctp->msg_max_size = (unsigned)bufsize;
    ctp->nparts_max = nparts;
    ctp->id = -1;
    return &x->pub;
}

PM_EXPORT void dispatch_context_free(dispatch_context_t *ctp)
{
    if (ctp)
        free(PM_RM_CTX(ctp));
}

PM_EXPORT dispatch_context_t *dispatch_block(dispatch_context_t *dctp)
{
    pm_begin();
    if (!dctp) {
        pm_fail(EINVAL, "dispatch_block(): no context");
        return NULL;
    }
    struct pm_rm_ctx *x = PM_RM_CTX(dctp);
    resmgr_context_t *ctp = &dctp->resmgr_context;
    dispatch_t *dpp = x->dpp;
    for (;;) {
        /* dispatch_timeout(): a kernel timeout on this receive. */
        pthread_mutex_lock(&dpp->lock);
        int timed = dpp->has_timeout;
        uint64_t ns = dpp->timeout_ns;
        pthread_mutex_unlock(&dpp->lock);
        if (timed)
            TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL);
        __atomic_add_fetch(&dpp->nblocked, 1, __ATOMIC_SEQ_CST);
        rcvid_t r = MsgReceive(dpp->chid, x->buf, x->bufsize, &ctp->info);
        int e = errno;
        __atomic_sub_fetch(&dpp->nblocked, 1, __ATOMIC_SEQ_CST);
        if (r < 0 && e == ETIMEDOUT && timed) {
            /* As QNX: a valid context whose rcvid is -1. */
            ctp->rcvid = -1;
            ctp->size = 0;
            ctp->id = -1;
            return dctp;
        }
        if (r < 0) {
            errno = e;
            return NULL;
        }
        size_t got = (size_t)(ctp->info.msglen > 0 ? ctp->info.msglen : 0);
        if (r == 0)
            got = sizeof(struct _pulse);
        if (got > x->bufsize)
            got = x->bufsize;
        if (x->dirty > got)
            memset(x->buf + got, 0, x->dirty - got);
        x->dirty = got;
        if (r == 0 && ctp->msg->pulse.code == PM_PULSE_CODE_DISPATCH_UNBLOCK &&
            ctp->info.pid == getpid()) {
            pthread_mutex_lock(&dpp->lock);
            int ours = dpp->unblock_pending > 0;
            if (ours)
                dpp->unblock_pending--;
            pthread_mutex_unlock(&dpp->lock);
            if (!ours)
                continue; /* someone else's pulse with our code: not for us */
            pm_fail(ECANCELED, "dispatch_block(): woken by dispatch_unblock()");
            return NULL;
        }
        ctp->rcvid = r;
        ctp->size = (int)got;
        ctp->offset = 0;
        ctp->status = 0;
        ctp->id = -1;
        ctp->tid = (unsigned)pm_self_tid();
        return dctp;
    }
}

PM_EXPORT int dispatch_timeout(dispatch_t *dpp, struct timespec *reltime)
{
    pm_begin();
    if (!dpp)
        return pm_fail(EINVAL, "dispatch_timeout(): no dispatch handle");
    if (reltime && (reltime->tv_sec < 0 || reltime->tv_nsec < 0 ||
                    reltime->tv_nsec >= 1000000000))
        return pm_fail(EINVAL, "dispatch_timeout(): bad time");
    pthread_mutex_lock(&dpp->lock);
    dpp->has_timeout = reltime != NULL;
    dpp->timeout_ns = reltime ? (uint64_t)reltime->tv_sec * 1000000000u +
                                    (uint64_t)reltime->tv_nsec
                              : 0;
    pthread_mutex_unlock(&dpp->lock);
    return 0;
}

PM_EXPORT int message_connect(dispatch_t *dpp, int flags)
{
    pm_begin();
    if (!dpp)
        return pm_fail(EINVAL, "message_connect(): no dispatch handle");
    return ConnectAttach(ND_LOCAL_NODE, 0, dpp->chid,
                         (flags & MSG_FLAG_SIDE_CHANNEL) ? _NTO_SIDE_CHANNEL : 0,
                         _NTO_COF_CLOEXEC);
}

/* dispatch_unblock() as QNX declares it (void); pm_dispatch_unblock()
 * says whether it worked. */
static int unblock(dispatch_context_t *dctp)
{
    if (!dctp)
        return pm_fail(EINVAL, "dispatch_unblock(): no context");
    dispatch_t *dpp = PM_RM_CTX(dctp)->dpp;
    pthread_mutex_lock(&dpp->lock);
    if (dpp->self_coid < 0)
        dpp->self_coid = ConnectAttach(ND_LOCAL_NODE, 0, dpp->chid, _NTO_SIDE_CHANNEL,
                                       _NTO_COF_CLOEXEC);
    int coid = dpp->self_coid;
    /* One per blocked thread; at least one outstanding, so that a thread on
     * its way into dispatch_block() is stopped too. */
    int want = __atomic_load_n(&dpp->nblocked, __ATOMIC_SEQ_CST) - dpp->unblock_pending;
    if (want <= 0 && dpp->unblock_pending == 0)
        want = 1;
    int sent = 0;
    for (int i = 0; coid >= 0 && i < want; i++) {
        if (MsgSendPulse(coid, -1, PM_PULSE_CODE_DISPATCH_UNBLOCK, 0) < 0)
            break;
        sent++;
    }
    dpp->unblock_pending += sent;
    pthread_mutex_unlock(&dpp->lock);
    if (coid < 0)
        return -1;
    return sent == want || want <= 0 ? 0 : -1;
}

PM_EXPORT void dispatch_unblock(dispatch_context_t *dctp)
{
    pm_begin();
    unblock(dctp);
}
