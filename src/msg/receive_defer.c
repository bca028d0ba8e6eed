/*
 * Messages that arrive while a thread takes pulses only
 * (MsgReceivePulse()): QNX leaves the sender SEND-blocked until a
 * MsgReceive() takes the message.  Here the datagram is already off its
 * socket (pulses behind it on the same connection could not be reached
 * otherwise), so the message is kept, whole, with its connection - as any
 * message is until its reply - and its rcvid waits on the channel's
 * deferred list.  The next MsgReceive() on the channel hands it over
 * before waiting for anything new; a thread already waiting is woken
 * (defer_ev, which also wakes waiters for a pulse queued from outside the
 * receive path: pm_channel_kick()).
 *
 * A deferred rcvid that is no longer valid (the client was let go after a
 * signal, or disconnected) is dropped when its turn comes.  The list holds
 * at most one entry per connection: a client has one message outstanding
 * per connection, so it is bounded by the channel's connections.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"

static void defer_signal(struct pm_channel *ch, int on)
{
    if (ch->defer_ev < 0) {
        if (!on)
            return;
        ch->defer_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        /* Edge-triggered: each kick wakes the waiters once, and a thread
         * that takes pulses only is not woken again and again by deferred
         * messages it must leave alone. */
        struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = PM_EV_DEFER };
        if (ch->defer_ev >= 0 && epoll_ctl(ch->ep, EPOLL_CTL_ADD, ch->defer_ev, &ev) < 0) {
            close(ch->defer_ev);
            ch->defer_ev = -1;
        }
        if (ch->defer_ev < 0)
            return; /* a waiting thread sees the list on its next round */
    }
    /* Each write is an edge; reading resets the counter so that writes
     * never find it full. */
    uint64_t v = 1;
    if (!on) {
        if (read(ch->defer_ev, &v, sizeof v) < 0) {
            /* already clear */
        }
    } else if (write(ch->defer_ev, &v, sizeof v) < 0 && read(ch->defer_ev, &v, sizeof v) == 8) {
        v = 1;
        if (write(ch->defer_ev, &v, sizeof v) < 0) {
            /* cannot happen: just emptied */
        }
    }
}

void pm_channel_kick(struct pm_channel *ch)
{
    defer_signal(ch, 1);
}

void pm_channel_unkick(struct pm_channel *ch)
{
    defer_signal(ch, 0);
}

void pm_defer_push(struct pm_channel *ch, rcvid_t id)
{
    if (ch->ndeferred == ch->cap_deferred) {
        int n = ch->cap_deferred ? ch->cap_deferred * 2 : 8;
        rcvid_t *t = realloc(ch->deferred, (size_t)n * sizeof *t);
        if (!t) {
            /* Out of memory: the client is told rather than forgotten. */
            int slot = PM_SCOID_SLOT((int)(id >> 8));
            struct pm_sconn *c = &ch->conns[slot];
            struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = c->seq, .status = ENOMEM };
            send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
            pm_sconn_finish(c);
            pm_sconn_gen_next(c, 0);
            return;
        }
        ch->deferred = t;
        ch->cap_deferred = n;
    }
    ch->deferred[ch->ndeferred] = id;
    __atomic_store_n(&ch->ndeferred, ch->ndeferred + 1, __ATOMIC_RELEASE);
    defer_signal(ch, 1);
}

/* Hand message `id` over again, as take() did the first time (lock held).
 * 0 when it is no longer valid. */
static int redeliver(struct pm_channel *ch, rcvid_t id, const iov_t *riov, size_t rparts,
                     struct _msg_info *info)
{
    int scoid = (int)(id >> 8), slot = PM_SCOID_SLOT(scoid);
    if (slot <= 0 || slot >= ch->nconns)
        return 0;
    struct pm_sconn *c = &ch->conns[slot];
    if (c->fd < 0 || !c->busy || c->gen != (uint8_t)(id & 0xff))
        return 0;
    size_t cap = pm_iov_total(riov, rparts);
    size_t n = (size_t)(c->srclen < cap ? c->srclen : cap);
    if (c->inline_body) {
        pm_iov_scatter(riov, rparts, 0, c->inline_body, n);
    } else {
        unsigned char *tmp = malloc(n ? n : 1);
        ssize_t got = tmp ? pread(c->body_fd, tmp, n, 0) : -1;
        if (got > 0)
            pm_iov_scatter(riov, rparts, 0, tmp, (size_t)got);
        n = got > 0 ? (size_t)got : 0;
        free(tmp);
    }
    if (info) {
        memset(info, 0, sizeof *info);
        info->pid = pm_sconn_sender(c); /* the sender's (sender.c) */
        info->tid = c->tid;
        info->chid = ch->chid;
        info->scoid = scoid;
        info->coid = c->coid;
        info->msglen = (int32_t)n;
        info->srcmsglen = c->srclen > INT32_MAX ? INT32_MAX : (int32_t)c->srclen;
        info->dstmsglen = c->dstlen > INT32_MAX ? INT32_MAX : (int32_t)c->dstlen;
        if (c->unblock_req)
            info->flags |= _NTO_MI_UNBLOCK_REQ;
    }
    return 1;
}

int pm_defer_pop(struct pm_channel *ch, const iov_t *riov, size_t rparts,
                 struct _msg_info *info, rcvid_t *out)
{
    int done = 0;
    while (ch->ndeferred && !done) {
        rcvid_t id = ch->deferred[0];
        int left = ch->ndeferred - 1;
        memmove(ch->deferred, ch->deferred + 1, (size_t)left * sizeof id);
        __atomic_store_n(&ch->ndeferred, left, __ATOMIC_RELEASE);
        if (redeliver(ch, id, riov, rparts, info)) {
            *out = id;
            done = 1;
        }
    }
    return done;
}
