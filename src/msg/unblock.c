/*
 * _NTO_MI_UNBLOCK_REQ: has the sender of a message being served asked to
 * be unblocked (a signal, or a TimerTimeout())?
 *
 * A server written as QNX's guide teaches polls MsgInfo() during a long
 * operation and gives up when the flag appears.  Such a server is often
 * single-threaded: nobody is in MsgReceive() to read the client's request,
 * which waits on the connection right behind the message.  So MsgInfo()
 * looks there itself: the request is taken, the flag set, and - as the
 * receive path would - the _PULSE_CODE_UNBLOCK pulse queued for the next
 * MsgReceive() on a _NTO_CHF_UNBLOCK channel; on a channel without it the
 * client is let go at once (EINTR), and the rcvid is no longer valid.
 */
#include <sys/socket.h>

#include "common/internal.h"
#include "msg/msg.h"

int pm_sconn_check_unblock(struct pm_channel *ch, struct pm_sconn *c)
{
    if (c->unblock_req)
        return 1;
    struct pm_wire_send h;
    char more[8];
    iov_t v[2] = { { &h, sizeof h }, { more, sizeof more } };
    struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
    ssize_t n = recvmsg(c->fd, &m, MSG_PEEK | MSG_DONTWAIT);
    if (n != (ssize_t)sizeof h || h.kind != PM_WIRE_UNBLOCK || h.seq != c->seq)
        return 0;
    if (recv(c->fd, &h, sizeof h, MSG_DONTWAIT) != (ssize_t)sizeof h)
        return 0;
    int slot = (int)(c - ch->conns);
    rcvid_t rcvid = ((rcvid_t)PM_SCOID(ch->chid, slot) << 8) | c->gen;
    if (ch->flags & _NTO_CHF_UNBLOCK) {
        c->unblock_req = 1;
        pm_channel_queue_pulse(ch, _PULSE_CODE_UNBLOCK, (int)rcvid, PM_SCOID(ch->chid, slot));
        pm_channel_kick(ch);
        return 1;
    }
    struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = c->seq, .status = EINTR };
    send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
    pm_sconn_finish(c);
    pm_sconn_gen_next(c, 0);
    return -1;
}
