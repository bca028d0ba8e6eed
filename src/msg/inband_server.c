/*
 * The server's side of an in-band request (inband.h): find the connection
 * on which the target waits for our reply, hand it the request, wait for the
 * answer with the call's deadline.
 *
 * Decisions:
 *  - The answer comes back on a socketpair of the connection's own (made on
 *    first use, its client end sent with the first doorbell), never on the
 *    connection: other threads of the server may be in MsgReceive() on that
 *    connection's channel and must not see (or steal) it, and a server
 *    calling mmap_peer() from its only thread, inside a handler, has nobody
 *    receiving at all.
 *  - Requests to one connection go one at a time (its in-band socket is a
 *    single stream of answers); requests to other clients do not wait.
 *  - Every failure after the doorbell is final (no ptrace fallback): the
 *    client may have acted.  Before it, the route is simply "not open".
 */
#include <limits.h>
#include <sys/time.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/sigsafe.h"
#include "msg/inband.h"
#include "msg/msg.h"

/* Connections with a request in flight: (channel, slot) pairs, and the
 * thread that sent it.  mmap_peer() may run in a signal handler, so the
 * waits here are futex waits with the call's deadline (no condition
 * variable), the lock is taken with pm_lock_sigsafe(), and a handler that
 * finds the connection claimed by the call its own thread was in when the
 * signal came does not wait for it: that call cannot finish before the
 * handler returns. */
struct busy_conn {
    const struct pm_channel *ch;
    int slot;
    pid_t tid;
    struct busy_conn *next;
};
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct busy_conn *busy_list;
static atomic_uint busy_gen; /* bumped by every release: waiters sleep on it */
static atomic_uint next_id;


static const struct busy_conn *conn_busy(const struct pm_channel *ch, int slot)
{
    for (struct busy_conn *b = busy_list; b; b = b->next)
        if (b->ch == ch && b->slot == slot)
            return b;
    return NULL;
}

/* Wait until no other request is in flight on (ch, slot), then claim it.
 * 0; -1 with EDEADLK when this very thread holds it (or busy_lock), or
 * ETIMEDOUT. */
static int claim(struct busy_conn *me, int64_t deadline_ns)
{
    me->tid = pm_gettid();
    for (;;) {
        unsigned gen = atomic_load(&busy_gen);
        if (pm_lock_sigsafe(&busy_lock, deadline_ns) < 0)
            return -1;
        const struct busy_conn *b = conn_busy(me->ch, me->slot);
        if (!b) {
            me->next = busy_list;
            busy_list = me;
            pm_mutex_unlock(&busy_lock);
            return 0;
        }
        int mine = b->tid == me->tid;
        pm_mutex_unlock(&busy_lock);
        if (mine) {
            errno = EDEADLK;
            return -1;
        }
        if (pm_now_ns() >= deadline_ns) {
            errno = ETIMEDOUT;
            return -1;
        }
        pm_futex_wait(&busy_gen, gen, deadline_ns);
    }
}

/* Taken earlier in this call: only another thread's brief hold to wait
 * for (see pm_channel_put_sigsafe()). */
static void lock_again(pthread_mutex_t *m)
{
    while (pm_lock_sigsafe(m, pm_now_ns() + 1000000000) < 0)
        ;
}

static void release(struct busy_conn *me)
{
    lock_again(&busy_lock);
    for (struct busy_conn **p = &busy_list; *p; p = &(*p)->next)
        if (*p == me) {
            *p = me->next;
            break;
        }
    pm_mutex_unlock(&busy_lock);
    atomic_fetch_add(&busy_gen, 1);
    pm_futex_wake(&busy_gen, INT_MAX);
}

/* One datagram with up to two descriptors (-1: none), never blocking. */
static int send_fds(int sock, const void *buf, size_t len, int fd1, int fd2)
{
    iov_t v = { (void *)buf, len };
    int fds[2], n = 0;
    if (fd1 >= 0)
        fds[n++] = fd1;
    if (fd2 >= 0)
        fds[n++] = fd2;
    return pm_sendmsg_fds(sock, &v, 1, fds, n, MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

/* How long one recv() on the in-band socket blocks (SO_RCVTIMEO) before
 * the deadline is looked at again: one system call per answer instead of
 * poll() + recv(), for a deadline kept to within this much (the answer
 * deadline is 100 ms by default, peermap_inband_timeout_ms()). */
#define SLICE_MS 2

/* Wait for the answer to rq->id on `side`.  On ETIMEDOUT the socket is
 * spent (*spent = 1): the caller drops it. */
static int await_answer(int side, const struct pm_inband_req *rq, int64_t deadline_ns,
                        pid_t pid, struct pm_inband_ans *a, int *spent)
{
    *spent = 0;
    for (;;) {
        ssize_t r = recv(side, a, sizeof *a, MSG_TRUNC | (*spent ? MSG_DONTWAIT : 0));
        if (*spent && r <= 0)
            return pm_fail(ETIMEDOUT, "PID %d did not answer the in-band request "
                           "in time (peermap_inband_timeout_ms())", (int)pid);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (pm_now_ns() < deadline_ns)
                continue;
            /* Too late.  Close the way back, then look at what is queued: an
             * answer that got in before is taken (the client did it); one
             * after cannot be sent, and the client undoes what it made
             * (pm_inband_do()).  So a timed-out request never leaves a
             * mapping in the client that we do not report. */
            shutdown(side, SHUT_RD);
            *spent = 1;
            continue;
        }
        if (r <= 0)
            return pm_fail(ESRCH, "PID %d went away during the in-band request", (int)pid);
        if (r != (ssize_t)sizeof *a || a->magic != PM_INBAND_ANS)
            return pm_fail(EIO, "PID %d answered the in-band request with garbage",
                           (int)pid);
        if (a->id != rq->id)
            continue; /* the late answer to a request that timed out */
        if (!pm_inband_answer_sane(rq, a))
            return pm_fail(EIO, "PID %d answered the in-band request with an "
                           "impossible result", (int)pid);
        return 0;
    }
}

int pm_inband_call(pid_t pid, const struct pm_inband_req *req, int objfd,
                   int64_t deadline_ns, uint64_t *out, int *refused)
{
    *refused = 0;
    int slot, busy;
    struct pm_channel *ch = pm_channel_find_blocked(pid, &slot, deadline_ns, &busy);
    if (!ch) {
        /* EDEADLK: a channel this thread was working on when the signal
         * came could not be looked at; the client may wait there. */
        if (busy == EDEADLK)
            *refused = PM_INBAND_REFUSED_SELF;
        else if (busy == ETIMEDOUT)
            return pm_fail(ETIMEDOUT, "a channel of this process stayed locked past "
                           "the deadline (in-band)");
        return 1;
    }
    struct busy_conn me = { .ch = ch, .slot = slot };
    if (claim(&me, deadline_ns) < 0) {
        int e = errno;
        pm_channel_put_sigsafe(ch);
        if (e == EDEADLK) {
            *refused = PM_INBAND_REFUSED_SELF;
            return 1;
        }
        return pm_fail(ETIMEDOUT, "another in-band request to the same client "
                       "did not finish in time");
    }
    struct pm_inband_req rq = *req;
    rq.magic = PM_INBAND_REQ;
    rq.id = atomic_fetch_add(&next_id, 1) + 1;
    rq.pid = pid;
    rq.has_fd = objfd >= 0;
    rq.deadline_ns = deadline_ns;

    int rc = 1, side = -1, client_end = -1;
    if (pm_lock_sigsafe(&ch->lock, deadline_ns) < 0) {
        int e = errno;
        release(&me);
        pm_channel_put_sigsafe(ch);
        if (e == EDEADLK) {
            *refused = PM_INBAND_REFUSED_SELF;
            return 1;
        }
        return pm_fail(ETIMEDOUT, "a channel of this process stayed locked past "
                       "the deadline (in-band)");
    }
    struct pm_sconn *c = slot < ch->nconns ? &ch->conns[slot] : NULL;
    /* Still the same client, still waiting? */
    if (c && c->fd >= 0 && c->busy && !pm_sconn_stranger(c) && c->pid == pid) {
        rq.seq = c->seq;
        if (c->inband_side < 0) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
                struct timeval slice = { .tv_usec = SLICE_MS * 1000 };
                setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
                c->inband_side = sv[0];
                client_end = sv[1];
            }
        }
        side = c->inband_side;
        struct pm_wire_reply bell = { .kind = PM_WIRE_INBAND, .seq = rq.seq,
                                      .status = rq.id };
        memcpy(bell.inband, &rq, sizeof rq);
        if (client_end >= 0)
            bell.status |= PM_WIRE_INBAND_SIDE;
        if (objfd >= 0)
            bell.status |= PM_WIRE_INBAND_OBJ;
        if (side >= 0 && send_fds(c->fd, &bell, sizeof bell, client_end, objfd) == 0)
            rc = 0;
        if (rc != 0 && client_end >= 0) {
            /* The client never got its end: start afresh next time. */
            close(c->inband_side);
            c->inband_side = -1;
        }
        /* While we wait, a disconnect leaves the socket to us (drop_conn()),
         * so that its number cannot be reused under our feet. */
        if (rc == 0)
            c->inband_busy = 1;
        else
            side = -1;
    }
    pm_mutex_unlock(&ch->lock);
    if (client_end >= 0)
        close(client_end);

    struct pm_inband_ans a;
    int spent = 0;
    if (rc == 0) {
        rc = await_answer(side, &rq, deadline_ns, pid, &a, &spent);
        if (rc == 0 && a.refused) {
            *refused = a.refused;
            rc = 1;
        } else if (rc == 0 && a.err) {
            rc = pm_fail(a.err, "in PID %d (in-band): %s", (int)pid, pm_strerror(a.err));
        } else if (rc == 0) {
            *out = a.addr;
        }
    }
    if (side >= 0) {
        int e = errno;
        lock_again(&ch->lock);
        c = slot < ch->nconns ? &ch->conns[slot] : NULL;
        if (c && c->inband_side == side) {
            c->inband_busy = 0;
            if (spent) { /* shut after a timeout: the next doorbell makes another */
                c->inband_side = -1;
                close(side);
            }
        } else {
            close(side); /* the client went meanwhile: the socket is ours */
        }
        pm_mutex_unlock(&ch->lock);
        errno = e;
    }
    release(&me);
    pm_channel_put_sigsafe(ch);
    return rc;
}
