/*
 * The client side of a message: send, then wait "reply-blocked" for the
 * reply on the same connection.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/event.h"
#include "msg/msg.h"
#include "msg/timeout.h"

/* Copy a reply carried in a memfd into the caller's buffers. */
static void read_body(int fd, uint64_t len, const iov_t *riov, size_t rparts)
{
    off_t at = 0;
    for (size_t i = 0; i < rparts && (uint64_t)at < len; i++) {
        size_t want = riov[i].iov_len;
        if (want > len - (uint64_t)at)
            want = (size_t)(len - (uint64_t)at);
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(fd, (char *)riov[i].iov_base + got, want - got, at + (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return; /* the server shrank its own file: its loss */
            got += (size_t)r;
        }
        at += (off_t)want;
    }
}

/* pm_msg_sendv_timed(): when this thread must stop waiting (pm_now_ns()),
 * 0 for never. */
static _Thread_local int64_t reply_deadline;

/* The descriptor the last reply in this thread carried (PM_WIRE_REPLY_FD). */
static _Thread_local int received_fd = -1;

int pm_msg_take_fd(void)
{
    int fd = received_fd;
    received_fd = -1;
    return fd;
}

/* Take the server's hello if it is waiting (it precedes any reply). */
static void take_hello(struct pm_cconn *cc, int fd)
{
    struct pm_wire_reply h;
    while (recv(fd, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT) == sizeof h &&
           h.kind == PM_WIRE_HELLO) {
        if (recv(fd, &h, sizeof h, MSG_DONTWAIT) != sizeof h)
            break;
        cc->hello = 1;
        cc->chflags = (unsigned)h.status;
    }
}

/*
 * A signal arrived while we wait.  QNX: a client the server has not received
 * yet, or whose channel lacks _NTO_CHF_UNBLOCK, is let go at once (EINTR);
 * otherwise the server gets an _PULSE_CODE_UNBLOCK and decides.  Either way
 * the server is told, so that it can drop the message.  Returns 1 to go on
 * waiting, 0 to give up with EINTR.
 */
static int on_signal(struct pm_cconn *cc, int fd, uint32_t seq, int coid, int *sent)
{
    take_hello(cc, fd);
    if (!*sent) {
        struct pm_wire_send u = { .kind = PM_WIRE_UNBLOCK, .seq = seq, .coid = coid,
                                  .tid = pm_self_tid() };
        if (send(fd, &u, sizeof u, MSG_NOSIGNAL) == sizeof u)
            *sent = 1;
    }
    return cc->hello && (cc->chflags & _NTO_CHF_UNBLOCK);
}

/*
 * TimerTimeout() for this exchange (msg/timeout.c): wait until the reply
 * can be read or the deadline passes.  Returns 1 to go on and read, 0 when
 * the timeout ended the exchange (errno ETIMEDOUT), -1 with errno EINTR.
 * Past the deadline, a SEND-blocked client whose timeout names REPLY only
 * times out as soon as the server takes the message (looked at every
 * PM_TT_SLICE_NS); a REPLY-blocked one whose timeout names SEND only
 * waits as if there had been none.
 */
#define PM_TT_SLICE_NS 5000000

static int await_deadline(struct pm_cconn *cc, int fd, uint32_t seq, int coid,
                          int *tt, int64_t deadline, int *unblock_sent)
{
    while (*tt) {
        int64_t left = deadline - pm_now_ns();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 && !(*tt & _NTO_TIMEOUT_SEND))
            left = -1; /* REPLY only: see below */
        if (left > 0 || left == -1) {
            if (left == -1)
                left = PM_TT_SLICE_NS;
            struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
            int n = ppoll(&p, 1, &ts, NULL);
            if (n > 0)
                return 1;
            if (n < 0 && errno == EINTR)
                return -1;
            if (n < 0)
                return 1; /* let recvmsg() report it */
        } else if (poll(&p, 1, 0) > 0) {
            return 1;
        }
        /* The deadline passed: is the server holding our message yet?  The
         * kernel knows: our bytes still queued on the socket say no. */
        int queued = 0;
        if (ioctl(fd, SIOCOUTQ, &queued) < 0)
            queued = 0;
        int state = queued > 0 ? _NTO_TIMEOUT_SEND : _NTO_TIMEOUT_REPLY;
        if (state == _NTO_TIMEOUT_SEND && !(*tt & state))
            continue; /* REPLY only: wait for the server to take it */
        if (!(*tt & state)) {
            *tt = 0; /* SEND only, and already received: wait for ever */
            return 1;
        }
        *tt = 0;
        /* Tell the server, as a signal would; on a _NTO_CHF_UNBLOCK channel
         * a reply-blocked client then waits for its answer. */
        if (on_signal(cc, fd, seq, coid, unblock_sent) && state == _NTO_TIMEOUT_REPLY)
            return 1;
        if (cc->body_cache >= 0) { /* the server may still read it */
            close(cc->body_cache);
            cc->body_cache = -1;
        }
        pm_fail(ETIMEDOUT, "connection %d: no %s before the TimerTimeout() deadline",
                coid, state == _NTO_TIMEOUT_SEND ? "receive by the server" : "reply");
        return 0;
    }
    return 1;
}

/* Wait for the reply to `seq`.  Returns the status, or -1 with errno. */
static long await_reply(struct pm_cconn *cc, int fd, uint32_t seq, int coid,
                        const iov_t *riov, size_t rparts, int tt, int64_t tt_deadline)
{
    int unblock_sent = 0;
    for (;;) {
        if (tt) {
            int w = await_deadline(cc, fd, seq, coid, &tt, tt_deadline, &unblock_sent);
            if (w == 0)
                return -1;
            if (w < 0) {
                if (on_signal(cc, fd, seq, coid, &unblock_sent))
                    continue;
                if (cc->body_cache >= 0) {
                    close(cc->body_cache);
                    cc->body_cache = -1;
                }
                return pm_fail(EINTR, "interrupted by a signal before the reply");
            }
        }
        struct pm_wire_reply h;
        iov_t stack[16];
        iov_t *v = rparts + 1 <= 16 ? stack : malloc((rparts + 1) * sizeof *v);
        if (!v)
            return pm_fail(ENOMEM, "out of memory");
        v[0].iov_base = &h;
        v[0].iov_len = sizeof h;
        if (rparts) /* riov may be NULL when no reply data is wanted */
            memcpy(v + 1, riov, rparts * sizeof *riov);
        union { struct cmsghdr align; char buf[CMSG_SPACE(2 * sizeof(int))]; } cm;
        struct msghdr m = { .msg_iov = v, .msg_iovlen = rparts + 1,
                            .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
        ssize_t r;
        int e;
        if (reply_deadline && pm_now_ns() >= reply_deadline) {
            /* Only the memory manager waits with a deadline; its connections
             * block in recvmsg() for a slice at most (memmgr_conn.c). */
            if (v != stack)
                free(v);
            if (cc->body_cache >= 0) { /* the server may still read it */
                close(cc->body_cache);
                cc->body_cache = -1;
            }
            return pm_fail(ETIMEDOUT, "no reply on connection %d in time "
                           "(the server stalls)", coid);
        }
        r = recvmsg(fd, &m, MSG_TRUNC | MSG_CMSG_CLOEXEC);
        e = errno;
        if (v != stack)
            free(v);
        if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK) && reply_deadline)
            continue; /* a slice went by: look at the deadline */
        if (r < 0 && e == EINTR) {
            if (on_signal(cc, fd, seq, coid, &unblock_sent))
                continue;
            /* The server may still read the abandoned message's body: the
             * next message must not overwrite it. */
            if (cc->body_cache >= 0) {
                close(cc->body_cache);
                cc->body_cache = -1;
            }
            return pm_fail(EINTR, "interrupted by a signal before the reply");
        }
        if (r < 0)
            return pm_fail(e == ECONNRESET ? ESRCH : e,
                           "waiting for the reply on connection %d: %s", coid, strerror(e));
        if (r == 0)
            return pm_fail(ESRCH, "the server went away (exited, or destroyed "
                           "its channel) before replying on connection %d", coid);

        int fds[2] = { -1, -1 }, nfds = 0;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            if (nfds > 2)
                nfds = 2; /* MSG_CTRUNC says the rest were dropped */
            memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
        }
        int body = nfds == 1 ? fds[0] : -1;
        struct stat st = { 0 };
        if (body >= 0 && h.kind != PM_WIRE_REPLY_FD && h.kind != PM_WIRE_INBAND &&
            fstat(body, &st) < 0)
            st.st_size = 0;
        int ok = !(m.msg_flags & MSG_CTRUNC) &&
                 pm_wire_check_reply(&h, (size_t)r, nfds, (uint64_t)st.st_size) == 0;
        if (!ok && nfds == 2) {
            close(fds[0]);
            close(fds[1]);
            fds[0] = fds[1] = -1;
            nfds = 0;
        }
        if (ok && h.kind == PM_WIRE_HELLO) {
            cc->hello = 1;
            cc->chflags = (unsigned)h.status;
            continue;
        }
        if (ok && h.kind == PM_WIRE_NOTIFY) {
            /* A notification (ionotify() with SIGEV_PM_CONNECTION) that
             * came before our reply: kept for pm_poll(), not a reply. */
            cc->notified |= (int)h.status;
            continue;
        }
        if (ok && h.kind == PM_WIRE_INBAND) {
            /* Our server asks us to map or unmap for it (mmap_peer()
             * without ptrace); then we go on waiting. */
            pm_inband_serve(cc, &h, fds, nfds, seq);
            continue;
        }
        if (ok && h.seq != seq) {
            /* The late reply to an exchange we gave up on: not ours. */
            if (body >= 0)
                close(body);
            continue;
        }
        if (!ok) {
            if (body >= 0)
                close(body);
            return pm_fail(EIO, "malformed reply on connection %d", coid);
        }
        if (h.kind == PM_WIRE_REPLY_FD) {
            /* The body came inline; the descriptor is for the caller. */
            received_fd = body;
            return (long)h.status;
        }
        if (body >= 0) {
            read_body(body, h.len, riov, rparts);
            close(body);
        }
        if (h.kind == PM_WIRE_ERROR)
            return pm_fail((int)h.status, "the server replied with an error");
        return (long)h.status;
    }
}

static long exchange(int coid, const iov_t *siov, size_t sparts,
                     const iov_t *riov, size_t rparts)
{
    int fd;
    if (received_fd >= 0) { /* nobody claimed the last one */
        close(received_fd);
        received_fd = -1;
    }
    int64_t tt_deadline;
    int tt = pm_timeout_take(_NTO_TIMEOUT_SEND | _NTO_TIMEOUT_REPLY, &tt_deadline);
    struct pm_cconn *c = pm_cconn_begin_exchange(coid, &fd);
    if (!c)
        return -1;
    /* Before our first message to another process: how its server can
     * reach us with events (msg/event.h). */
    pm_relay_offer(c, fd, coid);
    uint64_t total = pm_iov_total(siov, sparts);
    struct pm_wire_send h = {
        .kind = PM_WIRE_MSG, .seq = ++c->seq, .coid = coid,
        .tid = pm_self_tid(), .srclen = total,
        .dstlen = pm_iov_total(riov, rparts),
    };
    long rc;
    /* recvmsg() is a cancellation point: a cancelled sender must not leave
     * the connection locked for good. */
    pthread_cleanup_push((void (*)(void *))pm_cconn_end_exchange, c);
    if (pm_send_datagram(fd, &h, sizeof h, siov, sparts, total, &c->body_cache) < 0) {
        int e = errno;
        rc = pm_fail(e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ENOTSOCK ||
                     e == EBADF ? EBADF : e,
                     "connection %d: the channel is gone (%s)", coid, strerror(e));
    } else {
        rc = await_reply(c, fd, h.seq, coid, riov, rparts, tt, tt_deadline);
    }
    pthread_cleanup_pop(1);
    return rc;
}

long pm_msg_sendv_timed(int coid, const iov_t *siov, size_t sparts,
                        const iov_t *riov, size_t rparts, int timeout_ms)
{
    pm_begin();
    reply_deadline = pm_now_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000;
    long rc = exchange(coid, siov, sparts, riov, rparts);
    reply_deadline = 0;
    return rc;
}

PM_EXPORT long MsgSendv(int coid, const iov_t *siov, size_t sparts,
                        const iov_t *riov, size_t rparts)
{
    pm_begin();
    return exchange(coid, siov, sparts, riov, rparts);
}

PM_EXPORT long MsgSendvnc(int coid, const iov_t *siov, size_t sparts,
                          const iov_t *riov, size_t rparts)
{
    int old;
    pm_begin();
    /* "nc": not a cancellation point, although recvmsg() is one. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    long rc = exchange(coid, siov, sparts, riov, rparts);
    int e = errno;
    pthread_setcancelstate(old, NULL);
    errno = e;
    return rc;
}

PM_EXPORT long MsgSend(int coid, const void *smsg, size_t sbytes, void *rmsg, size_t rbytes)
{
    iov_t s = { (void *)smsg, sbytes }, r = { rmsg, rbytes };
    return MsgSendv(coid, &s, 1, &r, 1);
}

PM_EXPORT long MsgSendnc(int coid, const void *smsg, size_t sbytes, void *rmsg, size_t rbytes)
{
    iov_t s = { (void *)smsg, sbytes }, r = { rmsg, rbytes };
    return MsgSendvnc(coid, &s, 1, &r, 1);
}

PM_EXPORT long MsgSendsv(int coid, const void *smsg, size_t sbytes,
                         const iov_t *riov, size_t rparts)
{
    iov_t s = { (void *)smsg, sbytes };
    return MsgSendv(coid, &s, 1, riov, rparts);
}

PM_EXPORT long MsgSendvs(int coid, const iov_t *siov, size_t sparts, void *rmsg, size_t rbytes)
{
    iov_t r = { rmsg, rbytes };
    return MsgSendv(coid, siov, sparts, &r, 1);
}

PM_EXPORT int MsgSendPulse(int coid, int priority, int code, int value)
{
    pm_begin();
    if (code < -128 || code > 127)
        return pm_fail(EINVAL, "pulse code %d does not fit in 8 bits", code);
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    struct pm_wire_send h = { .kind = PM_WIRE_PULSE, .coid = coid,
                              .tid = pm_self_tid(), .code = code,
                              .priority = priority, .value = value };
    /* A pulse never blocks the sender: a full queue is EAGAIN, as QNX says
     * when it runs out of pulse buffers. */
    ssize_t r = send(c->fd, &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT);
    int e = errno;
    pm_cconn_put(c);
    if (r == sizeof h)
        return 0;
    if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
        return pm_fail(ESRCH, "connection %d: the channel is gone", coid);
    return pm_fail(e == EWOULDBLOCK ? EAGAIN : e, "pulse on connection %d: %s",
                   coid, strerror(e));
}
