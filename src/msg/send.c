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

#include "common/copy.h"
#include "common/internal.h"
#include "msg/cmsg.h"
#include "msg/event.h"
#include "msg/msg.h"
#include "msg/timeout.h"

/* pm_msg_reply_in_place(): where this thread's next exchange should say
 * where its reply body lies instead of copying it, or NULL. */
static _Thread_local const unsigned char **in_place;

void pm_msg_reply_in_place(const unsigned char **where)
{
    in_place = where;
    if (where)
        *where = NULL;
}

/* Copy a reply carried in a memory file (bodyfile.h) into the caller's
 * buffers: from our mapping of the server's file when it may be mapped,
 * else with pread().  Or leave it there, when the caller asked so. */
static void read_body(struct pm_cconn *cc, int fd, const struct stat *st, uint64_t off,
                      uint64_t len, const iov_t *riov, size_t rparts)
{
    const unsigned char *m = NULL;
    if ((uint64_t)st->st_size <= PM_BODY_CACHE_MAX + PM_WIRE_BODY_OFF_MAX)
        m = pm_bodyview_map(&cc->reply_view, fd, st->st_dev, st->st_ino,
                            (uint64_t)st->st_size, off + len);
    if (m && in_place && rparts == 1 && riov[0].iov_len >= len) {
        *in_place = m + off;
        return;
    }
    uint64_t at = 0;
    for (size_t i = 0; i < rparts && at < len; i++) {
        size_t want = riov[i].iov_len;
        if (want > len - at)
            want = (size_t)(len - at);
        if (m) {
            pm_copy(riov[i].iov_base, m + off + at, want);
        } else if (pm_body_pread(fd, riov[i].iov_base, want, off + at) < (ssize_t)want) {
            return; /* the server shrank its own file: its loss */
        }
        at += want;
    }
}

/* Where in a page a body in a file should start (bodyfile.h): so that its
 * largest part (a message's data, after a small header) lands at its own
 * buffer's offset in a page, where the copy is fastest. */
static uint32_t page_offset_of(const iov_t *iov, size_t parts)
{
    size_t big = 0, big_at = 0, pos = 0;
    uintptr_t base = 0;
    for (size_t i = 0; i < parts; pos += iov[i].iov_len, i++)
        if (iov[i].iov_len > big) {
            big = iov[i].iov_len;
            big_at = pos;
            base = (uintptr_t)iov[i].iov_base;
        }
    return (uint32_t)((base - big_at) % PM_WIRE_BODY_OFF_MAX);
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
 * The deadlines of this exchange: TimerTimeout()'s (msg/timeout.c; `*tt`
 * its states, `deadline` its end) and the hard one of pm_msg_sendv_timed()
 * or pm_msg_thread_timeout() (reply_deadline).  Both are per-thread
 * deadlines on a MsgSend*(); when both are armed, each holds, so the
 * earlier decides.  Waits until the reply can be read or a deadline passes.
 * Returns 1 to go on and read (when the hard deadline has passed,
 * await_reply() fails with ETIMEDOUT before reading), 0 when TimerTimeout()
 * ended the exchange (errno ETIMEDOUT), -1 with errno EINTR.
 *
 * TimerTimeout() is QNX's: past its deadline, a SEND-blocked client whose
 * timeout names REPLY only times out as soon as the server takes the
 * message (looked at every PM_TT_SLICE_NS); a REPLY-blocked one whose
 * timeout names SEND only waits as if there had been none; a timed-out
 * client on a _NTO_CHF_UNBLOCK channel that the server holds asks it, as a
 * signal does.  The hard deadline is the library's own (a memory manager or
 * an export must not hang on a server that stalls): it ends the exchange
 * whatever the server does, and a late reply is discarded.
 */
#define PM_TT_SLICE_NS 5000000

static int await_deadline(struct pm_cconn *cc, int fd, uint32_t seq, int coid,
                          int *tt, int64_t deadline, int *unblock_sent)
{
    while (*tt || reply_deadline) {
        int64_t now = pm_now_ns();
        if (reply_deadline && now >= reply_deadline)
            return 1;
        int64_t wait = INT64_MAX;
        if (*tt) {
            wait = deadline - now;
            if (wait <= 0) /* REPLY only: see below */
                wait = (*tt & _NTO_TIMEOUT_SEND) ? 0 : PM_TT_SLICE_NS;
        }
        int hard = 0;
        if (reply_deadline && reply_deadline - now <= wait) {
            wait = reply_deadline - now;
            hard = 1;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct timespec ts = { .tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000 };
        int n = ppoll(&p, 1, &ts, NULL);
        if (n > 0)
            return 1;
        if (n < 0 && errno == EINTR)
            return -1;
        if (n < 0)
            return 1; /* let recvmsg() report it */
        if (hard)
            continue; /* the hard deadline: said above */
        /* TimerTimeout()'s deadline passed: is the server holding our
         * message yet?  The kernel knows: our bytes still queued on the
         * socket say no. */
        int queued = 0;
        if (ioctl(fd, SIOCOUTQ, &queued) < 0)
            queued = 0;
        int state = queued > 0 ? _NTO_TIMEOUT_SEND : _NTO_TIMEOUT_REPLY;
        if (state == _NTO_TIMEOUT_SEND && !(*tt & state))
            continue; /* REPLY only: wait for the server to take it */
        if (!(*tt & state)) {
            *tt = 0; /* SEND only, and already received: no TimerTimeout() */
            continue;
        }
        *tt = 0;
        /* Tell the server, as a signal would; on a _NTO_CHF_UNBLOCK channel
         * a reply-blocked client then waits for its answer. */
        if (on_signal(cc, fd, seq, coid, unblock_sent) && state == _NTO_TIMEOUT_REPLY)
            continue;
        pm_bodyfile_drop(&cc->body); /* the server may still read it */
        pm_fail(ETIMEDOUT, "connection %d: no %s before the TimerTimeout() deadline",
                coid, state == _NTO_TIMEOUT_SEND ? "receive by the server" : "reply");
        return 0;
    }
    return 1;
}

static long refused(int coid, int err)
{
    return pm_fail(err, "connection %d: the server refused it (this user holds "
                   "its share of the server's connections, or the server is out "
                   "of descriptors): %s", coid, strerror(err));
}

/* Our message could not be sent because the server hung up: if it said
 * why first, that is the answer.  The errno to report. */
static int why_hung_up(int fd, int e)
{
    struct pm_wire_reply h;
    for (int i = 0; i < 3; i++) {
        ssize_t r = recv(fd, &h, sizeof h, MSG_DONTWAIT);
        if (r < 0 && errno == ECONNRESET)
            continue; /* said once, before what is still queued */
        if (r != (ssize_t)sizeof h)
            break;
        if (h.kind == PM_WIRE_REFUSED && h.status > 0 && h.status < 4096)
            return (int)h.status;
    }
    return e;
}

/* Wait for the reply to `seq`.  Returns the status, or -1 with errno. */
static long await_reply(struct pm_cconn *cc, int fd, uint32_t seq, int coid,
                        const iov_t *riov, size_t rparts, int tt, int64_t tt_deadline)
{
    int unblock_sent = 0, reset_seen = 0;
    for (;;) {
        /* A hard deadline alone on a sliced connection (msg.h): recvmsg()
         * comes back every slice, and the deadline is looked at before
         * each, so no ppoll() is needed - one system call less per
         * exchange of the memory manager's pager and the export. */
        if (tt || (reply_deadline && !cc->sliced)) {
            int w = await_deadline(cc, fd, seq, coid, &tt, tt_deadline, &unblock_sent);
            if (w == 0)
                return -1;
            if (w < 0) {
                if (on_signal(cc, fd, seq, coid, &unblock_sent))
                    continue;
                pm_bodyfile_drop(&cc->body);
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
            /* pm_msg_sendv_timed(), pm_msg_thread_timeout(): the library's
             * own hard deadline (see await_deadline()). */
            if (v != stack)
                free(v);
            pm_bodyfile_drop(&cc->body); /* the server may still read it */
            return pm_fail(ETIMEDOUT, "no reply on connection %d in time "
                           "(the server stalls)", coid);
        }
        r = recvmsg(fd, &m, MSG_TRUNC | MSG_CMSG_CLOEXEC);
        e = errno;
        if (v != stack)
            free(v);
        if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK))
            continue; /* a slice went by (SO_RCVTIMEO): look at the deadlines */
        if (r < 0 && e == EINTR) {
            if (on_signal(cc, fd, seq, coid, &unblock_sent))
                continue;
            /* The server may still read the abandoned message's body: the
             * next message must not overwrite it. */
            pm_bodyfile_drop(&cc->body);
            return pm_fail(EINTR, "interrupted by a signal before the reply");
        }
        /* ECONNRESET: the server closed with our message unread.  The
         * kernel says so once, before what the server sent us (a refusal,
         * say) - which is still there to read. */
        if (r < 0 && e == ECONNRESET && !reset_seen) {
            reset_seen = 1;
            continue;
        }
        if (r < 0)
            return pm_fail(e == ECONNRESET ? ESRCH : e,
                           "waiting for the reply on connection %d: %s", coid, strerror(e));
        if (r == 0)
            return pm_fail(ESRCH, "the server went away (exited, or destroyed "
                           "its channel) before replying on connection %d", coid);

        /* Every descriptor that came is closed unless this reply's kind
         * consumes it (at most two: an in-band doorbell's). */
        int fds[2] = { -1, -1 };
        int nfds = pm_cmsg_fds(&m, fds, 2, NULL);
        int ok = nfds <= 2 && !(m.msg_flags & MSG_CTRUNC);
        if (!ok)
            nfds = nfds > 2 ? 2 : nfds;
        int body = nfds == 1 ? fds[0] : -1;
        struct stat st = { 0 };
        if (ok && body >= 0 && h.kind == PM_WIRE_REPLY &&
            (!pm_fd_is_memfile(body) || fstat(body, &st) < 0))
            st.st_size = 0; /* a body must be a file in memory: refused */
        ok = ok && pm_wire_check_reply(&h, (size_t)r, nfds, (uint64_t)st.st_size) == 0;
        if (!ok) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            fds[0] = fds[1] = body = -1;
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
        if (ok && h.kind == PM_WIRE_REFUSED) {
            /* The server would not take this connection (it comes instead
             * of the hello, whatever we sent). */
            pm_bodyfile_drop(&cc->body);
            return refused(coid, (int)h.status);
        }
        if (ok && h.seq != seq) {
            /* The late reply to an exchange we gave up on: not ours. */
            if (body >= 0)
                close(body);
            continue;
        }
        if (!ok)
            return pm_fail(EIO, "malformed reply on connection %d", coid);
        if (h.kind == PM_WIRE_REPLY_FD) {
            /* The body came inline; the descriptor is for the caller. */
            received_fd = body;
            return (long)h.status;
        }
        if (body >= 0) {
            read_body(cc, body, &st, h.body_off, h.len, riov, rparts);
            close(body);
        }
        if (h.kind == PM_WIRE_ERROR)
            return pm_fail((int)h.status, "the server replied with an error");
        return (long)h.status;
    }
}

static long exchange_one(int coid, const iov_t *siov, size_t sparts,
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
    unsigned gen = pm_fork_gen();
    if (c->body_gen != gen) {
        /* A fork child: the files are its parent's, which the server may
         * read (or write) for the parent's messages. */
        pm_bodyfile_drop(&c->body);
        pm_bodyview_drop(&c->reply_view);
        c->body_gen = gen;
    }
    /* Before our first message to another process: how its server can
     * reach us with events (msg/event.h). */
    pm_relay_offer(c, fd, coid);
    uint64_t total = pm_iov_total(siov, sparts);
    struct pm_wire_send h = {
        .kind = PM_WIRE_MSG, .seq = ++c->seq, .coid = coid,
        .tid = pm_self_tid(), .srclen = total,
        .dstlen = pm_iov_total(riov, rparts),
        .reply_at = page_offset_of(riov, rparts),
    };
    long rc;
    /* recvmsg() is a cancellation point: a cancelled sender must not leave
     * the connection locked for good. */
    pthread_cleanup_push((void (*)(void *))pm_cconn_end_exchange, c);
    if (pm_send_datagram(fd, &h, sizeof h, &h.body_off, siov, sparts, total,
                         page_offset_of(siov, sparts), &c->body) < 0) {
        int e = errno;
        int why = e == EPIPE || e == ECONNRESET ? why_hung_up(fd, e) : e;
        if (why != e)
            rc = refused(coid, why);
        else
            rc = pm_fail(e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ENOTSOCK ||
                         e == EBADF ? EBADF : e,
                         "connection %d: the channel is gone (%s)", coid, strerror(e));
    } else {
        rc = await_reply(c, fd, h.seq, coid, riov, rparts, tt, tt_deadline);
    }
    pthread_cleanup_pop(1);
    return rc;
}

static long exchange(int coid, const iov_t *siov, size_t sparts,
                     const iov_t *riov, size_t rparts)
{
    long rc = exchange_one(coid, siov, sparts, riov, rparts);
    in_place = NULL; /* for one exchange only */
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

/* pm_msg_thread_timeout(): the deadline every send of this thread gets. */
static _Thread_local int thread_timeout_ms;

void pm_msg_thread_timeout(int ms)
{
    thread_timeout_ms = ms > 0 ? ms : 0;
}

static long exchange_or_timed(int coid, const iov_t *siov, size_t sparts,
                              const iov_t *riov, size_t rparts)
{
    if (thread_timeout_ms)
        return pm_msg_sendv_timed(coid, siov, sparts, riov, rparts, thread_timeout_ms);
    return exchange(coid, siov, sparts, riov, rparts);
}

PM_EXPORT long MsgSendv(int coid, const iov_t *siov, size_t sparts,
                        const iov_t *riov, size_t rparts)
{
    pm_begin();
    return exchange_or_timed(coid, siov, sparts, riov, rparts);
}

PM_EXPORT long MsgSendvnc(int coid, const iov_t *siov, size_t sparts,
                          const iov_t *riov, size_t rparts)
{
    int old;
    pm_begin();
    /* "nc": not a cancellation point, although recvmsg() is one. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    long rc = exchange_or_timed(coid, siov, sparts, riov, rparts);
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
    /* Negative codes are the system's: a server trusts a
     * _PULSE_CODE_UNBLOCK or _DISCONNECT to come from the kernel (here: its
     * own library).  Another process's channel drops them, and its sender
     * hears why here rather than never. */
    if (code < 0 && c->pid != getpid()) {
        pid_t to = c->pid;
        pm_cconn_put(c);
        return pm_fail(EPERM, "pulse code %d: codes below _PULSE_CODE_MINAVAIL "
                       "(0) are the system's; only a process's own library sends "
                       "them, and process %d would drop it", code, (int)to);
    }
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
