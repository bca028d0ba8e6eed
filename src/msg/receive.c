/*
 * The server side: wait for the next message or pulse on a channel.
 *
 * Threads of the server block in epoll_wait() on the channel's set
 * (level-triggered: epoll wakes one waiter per event, and a thread that
 * finds the datagram already taken by another gets EAGAIN and waits again;
 * one-shot arming would cost an epoll_ctl() per message).  Datagrams are
 * taken under the channel's lock.  New clients are accepted here, lazily.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/cmsg.h"
#include "msg/event.h"
#include "common/sigsafe.h"
#include "msg/msg.h"
#include "msg/timeout.h"

#define EV_LISTEN 0
#define EV_WAKE 1

static rcvid_t rcvid_of(int chid, int slot, uint8_t gen)
{
    return ((rcvid_t)PM_SCOID(chid, slot) << 8) | gen;
}

void pm_sconn_finish(struct pm_sconn *c)
{
    free(c->inline_body);
    c->inline_body = NULL;
    c->body = NULL; /* its file stays mapped for the next message */
    if (c->body_fd >= 0) {
        close(c->body_fd);
        pm_limits_fd_put(c->share);
    }
    c->body_fd = -1;
    free(c->reply);
    c->reply = NULL;
    c->reply_len = c->reply_cap = 0;
    c->reply_in_file = 0; /* the file stays for the next reply */
    c->busy = 0;
    c->unblock_req = 0;
    pm_sender_end(c);
}

struct pm_sconn *pm_rcvid_lookup(rcvid_t rcvid, struct pm_channel **chp)
{
    int scoid = (int)(rcvid >> 8), slot = PM_SCOID_SLOT(scoid);
    uint8_t gen = (uint8_t)(rcvid & 0xff);
    if (rcvid <= 0 || rcvid > 0x7fffffff) {
        pm_fail(ESRCH, "rcvid %ld was never given out", (long)rcvid);
        return NULL;
    }
    struct pm_channel *ch = pm_channel_get(PM_SCOID_CHID(scoid));
    if (!ch) {
        pm_fail_over(ESRCH, "rcvid %ld: its channel is gone", (long)rcvid);
        return NULL;
    }
    pm_mutex_lock(&ch->lock);
    struct pm_sconn *c = slot > 0 && slot < ch->nconns ? &ch->conns[slot] : NULL;
    if (!c || c->fd < 0 || !c->busy || c->gen != gen) {
        pm_mutex_unlock(&ch->lock);
        pm_channel_put(ch);
        pm_fail(ESRCH, "rcvid %ld: the client is no longer reply-blocked on it",
                (long)rcvid);
        return NULL;
    }
    *chp = ch;
    return c;
}

void pm_rcvid_release(struct pm_channel *ch)
{
    pm_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
}

int pm_scoid_peer(int scoid, struct pm_peer *p)
{
    int slot = PM_SCOID_SLOT(scoid), found = 0;
    struct pm_channel *ch = scoid > 0 ? pm_channel_get(PM_SCOID_CHID(scoid)) : NULL;
    if (!ch)
        return pm_fail_over(ESRCH, "no connection %d", scoid);
    pm_mutex_lock(&ch->lock);
    if (slot > 0 && slot < ch->nconns && ch->conns[slot].fd >= 0) {
        pm_sender_ident(&ch->conns[slot], p);
        p->fd = fcntl(ch->conns[slot].fd, F_DUPFD_CLOEXEC, 0);
        found = 1;
    }
    pm_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
    return found ? 0 : pm_fail_over(ESRCH, "no connection %d", scoid);
}

int pm_scoid_info(int scoid, struct pm_peer *p, gid_t *groups, int *ngroups, uint64_t *ino)
{
    int slot = PM_SCOID_SLOT(scoid), found = 0;
    struct pm_channel *ch = scoid > 0 ? pm_channel_get(PM_SCOID_CHID(scoid)) : NULL;
    if (!ch)
        return pm_fail_over(ESRCH, "no connection %d", scoid);
    pm_mutex_lock(&ch->lock);
    if (slot > 0 && slot < ch->nconns && ch->conns[slot].fd >= 0) {
        struct pm_sconn *c = &ch->conns[slot];
        pm_sender_ident(c, p);
        p->fd = -1;
        /* Under the lock the socket cannot be closed: no dup() needed.  A
         * stranger's message (sender.c) brings no groups: the kernel
         * names only its real uid and gid. */
        if (ngroups && *ngroups > 0 && pm_sconn_stranger(c)) {
            *ngroups = 0;
        } else if (ngroups && *ngroups > 0) {
            socklen_t len = (socklen_t)((size_t)*ngroups * sizeof(gid_t));
            *ngroups = getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0
                           ? (int)(len / sizeof(gid_t)) : -1;
        }
        if (ino) {
            struct stat st;
            if (!c->ino && fstat(c->fd, &st) == 0)
                c->ino = (uint64_t)st.st_ino;
            *ino = c->ino;
        }
        found = 1;
    }
    pm_mutex_unlock(&ch->lock);
    pm_channel_put(ch);
    return found ? 0 : pm_fail_over(ESRCH, "no connection %d", scoid);
}

/*
 * Descriptors run out.  A listener with connections waiting stays readable,
 * so a server that cannot accept them would wake up for it forever.  One
 * descriptor is kept in reserve for the whole process: at EMFILE/ENFILE it
 * is let go for as long as it takes to accept one waiting client, tell it
 * no (PM_WIRE_REFUSED) and hang up; the client gets EAGAIN at once instead
 * of hanging.  Should the reserve be lost (another thread took the number
 * in between) or accept() fail otherwise, the listener leaves the epoll set
 * ("parked") until a connection closes or a receiver comes back, so
 * existing clients are still served and nothing spins.
 */
static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static int reserve_fd = -1;

static int reserve_take(void)
{
    /* An eventfd is a file of its own: freeing it helps with ENFILE too. */
    if (reserve_fd < 0)
        reserve_fd = eventfd(0, EFD_CLOEXEC);
    return reserve_fd;
}

void pm_channel_reserve(void)
{
    pthread_mutex_lock(&reserve_lock);
    reserve_take();
    pthread_mutex_unlock(&reserve_lock);
}

/* Tell a client we will not serve it, and hang up. */
static void say_refused(int fd, int err)
{
    struct pm_wire_reply no = { .kind = PM_WIRE_REFUSED, .status = err };
    send(fd, &no, sizeof no, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void refuse(int fd, int err)
{
    say_refused(fd, err);
    close(fd);
}

/* Out of descriptors: refuse one waiting client with the reserve.  0 when
 * one was refused, 1 when none was waiting, -1 when it could not be done
 * (no reserve, or another thread took the number meanwhile). */
static int refuse_with_reserve(struct pm_channel *ch)
{
    int done = -1;
    pthread_mutex_lock(&reserve_lock);
    if (reserve_fd >= 0) {
        close(reserve_fd);
        reserve_fd = -1;
        int fd = accept4(ch->lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            refuse(fd, EAGAIN);
            done = 0;
        } else if (errno == EAGAIN) {
            done = 1;
        }
        reserve_take();
    }
    pthread_mutex_unlock(&reserve_lock);
    return done;
}

static void park(struct pm_channel *ch)
{
    struct epoll_event ev = { .events = 0, .data.u64 = EV_LISTEN };
    if (!ch->parked && epoll_ctl(ch->ep, EPOLL_CTL_MOD, ch->lsn, &ev) == 0)
        __atomic_store_n(&ch->parked, 1, __ATOMIC_RELEASE);
}

/* Listen again (lock held): a descriptor may have come free. */
static void unpark(struct pm_channel *ch)
{
    if (!ch->parked)
        return;
    pm_channel_reserve();
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_LISTEN };
    if (epoll_ctl(ch->ep, EPOLL_CTL_MOD, ch->lsn, &ev) == 0)
        __atomic_store_n(&ch->parked, 0, __ATOMIC_RELEASE);
}

/* New clients accepted per wake-up: a flood of connections must not keep
 * the receiving thread from the clients it already has.  One: the listener
 * stays readable while others wait (level-triggered), so the next wake-up
 * takes the next, and accepting one costs no accept() that finds none. */
#define ACCEPT_BATCH 1

/* Take new clients (lock held). */
static void accept_all(struct pm_channel *ch)
{
    for (int round = 0; round < ACCEPT_BATCH; round++) {
        int fd = accept4(ch->lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            if (e == ECONNABORTED || e == EINTR)
                continue;
            if (e == EMFILE || e == ENFILE) {
                int r = refuse_with_reserve(ch);
                if (r == 0)
                    continue;
                if (r < 0)
                    park(ch);
            } else if (e != EAGAIN) {
                park(ch); /* ENOMEM, ENOBUFS...: try again later */
            }
            return;
        }
        struct pm_client_id who;
        if (pm_client_id_capture(fd, &who) < 0) {
            /* Out of descriptors for its pidfd: as for the socket itself. */
            if (errno == EMFILE || errno == ENFILE)
                refuse(fd, EAGAIN);
            else
                close(fd);
            continue;
        }
        if ((ch->flags & _NTO_CHF_PRIVATE) && who.pid != getpid()) {
            close(fd); /* a private channel takes only its own process */
            continue;
        }
        if (pm_limits_admit(who.uid) < 0) {
            refuse(fd, EAGAIN); /* over its user's share */
            continue;
        }
        int slot = 0;
        for (int i = 1; i < ch->nconns; i++)
            if (ch->conns[i].fd < 0) {
                slot = i;
                break;
            }
        if (!slot) {
            int n = ch->nconns ? ch->nconns * 2 : 16;
            if (n > PM_MAX_SLOTS + 1)
                n = PM_MAX_SLOTS + 1;
            struct pm_sconn *t = ch->nconns >= n ? NULL
                                 : realloc(ch->conns, (size_t)n * sizeof *t);
            if (!t) {
                pm_limits_leave(who.uid);
                refuse(fd, EAGAIN); /* every slot taken, or no memory */
                continue;
            }
            for (int i = ch->nconns ? ch->nconns : 0; i < n; i++)
                t[i] = (struct pm_sconn){ .fd = -1, .body_fd = -1,
                                          .reply_file = PM_BODYFILE_INIT,
                                          .inband_side = -1 };
            slot = ch->nconns ? ch->nconns : 1;
            ch->conns = t;
            ch->nconns = n;
        }
        struct pm_sconn *c = &ch->conns[slot];
        uint8_t gen = c->gen;
        *c = (struct pm_sconn){ .fd = fd, .pid = who.pid, .uid = who.uid, .gid = who.gid,
                                .share = who.uid, .who = who, .gen = gen, .gen_start = gen,
                                .body_fd = -1, .reply_file = PM_BODYFILE_INIT,
                                .inband_side = -1 };
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
                                  .data.u64 = (uint64_t)slot + 1 };
        if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            pm_limits_leave(who.uid);
            refuse(fd, EAGAIN);
            c->fd = -1;
            continue;
        }
        pm_clients_add(who.pid, who.key);
        /* Tell the client how a signal while it waits is to be handled. */
        struct pm_wire_reply hello = { .kind = PM_WIRE_HELLO, .status = ch->flags };
        send(fd, &hello, sizeof hello, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

void pm_sconn_release(struct pm_sconn *c)
{
    pm_limits_leave(c->share);
    if (c->reply_cache_bytes)
        pm_limits_cache_put(c->share, c->reply_cache_bytes);
    c->reply_cache_bytes = 0;
    pm_limits_view_put(c->share, c->view_bytes);
    c->view_bytes = 0;
    pm_clients_remove(c->pid);
    if (c->delegate.on) /* delegate.c: the caller it spoke for */
        pm_clients_remove(c->delegate.pid);
}

void pm_channel_queue_pulse(struct pm_channel *ch, int code, int value, int scoid)
{
    if (ch->npending == ch->cap_pending) {
        int n = ch->cap_pending ? ch->cap_pending * 2 : 8;
        struct _pulse *p = realloc(ch->pending, (size_t)n * sizeof *p);
        if (!p)
            return; /* out of memory: the pulse is lost, as QNX may lose it */
        ch->pending = p;
        ch->cap_pending = n;
    }
    ch->pending[ch->npending] = (struct _pulse){
        .type = _PULSE_TYPE, .subtype = _PULSE_SUBTYPE, .code = (int8_t)code,
        .value.sival_int = value, .scoid = scoid };
    /* Published for the lock-free look in MsgReceivev(). */
    __atomic_store_n(&ch->npending, ch->npending + 1, __ATOMIC_RELEASE);
}

/* Deliver a pulse into the receive buffer. */
static rcvid_t give_pulse(const struct _pulse *p, const iov_t *riov, size_t rparts,
                          struct _msg_info *info, int chid)
{
    pm_iov_scatter(riov, rparts, 0, p, sizeof *p);
    if (info) {
        memset(info, 0, sizeof *info);
        info->chid = chid;
        info->scoid = p->scoid;
        info->msglen = info->srcmsglen = (int32_t)sizeof *p;
    }
    return 0;
}

/* The client behind slot closed its connection (lock held). */
static void drop_conn(struct pm_channel *ch, int slot)
{
    struct pm_sconn *c = &ch->conns[slot];
    epoll_ctl(ch->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    pm_sconn_finish(c);
    pm_sconn_release(c);
    pm_bodyfile_drop(&c->reply_file);
    pm_bodyview_drop(&c->view);
    if (c->inband_side >= 0 && !c->inband_busy)
        close(c->inband_side); /* else the waiting mmap_peer() closes it */
    c->inband_side = -1;
    c->inband_busy = 0;
    c->memmgr = 0;
    pm_evsock_release(c);
    c->fd = -1;
    c->gen++; /* whatever rcvid was out for it is now stale */
    if (ch->flags & _NTO_CHF_DISCONNECT)
        pm_channel_queue_pulse(ch, _PULSE_CODE_DISCONNECT, 0, PM_SCOID(ch->chid, slot));
    unpark(ch); /* a descriptor came free */
}

/* One 64 KiB receive buffer per receiving thread, freed with the thread:
 * no allocation of that size per message. */
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void make_buf_key(void)
{
    pthread_key_create(&buf_key, free);
}

static unsigned char *receive_buffer(void)
{
    pthread_once(&buf_once, make_buf_key);
    unsigned char *b = pthread_getspecific(buf_key);
    if (!b) {
        b = malloc(PM_WIRE_INLINE_MAX);
        if (b && pthread_setspecific(buf_key, b) != 0) {
            free(b);
            b = NULL;
        }
    }
    return b;
}

/*
 * The client's body file, mapped (bodyfile.h): the mapping kept from its
 * last message when it is the same file, else a new one, counted against
 * its user's share.  NULL when the file may not be mapped, would be over
 * the share, or is a one-off too large to keep: then it is read with
 * pread().  Lock held.
 */
static const unsigned char *map_body(struct pm_sconn *c, int fd, const struct stat *st,
                                     uint64_t need)
{
    uint64_t size = (uint64_t)st->st_size;
    if (c->view.map && c->view.dev == st->st_dev && c->view.ino == st->st_ino &&
        c->view.size >= need)
        return c->view.map;
    if (size > PM_BODY_CACHE_MAX + PM_WIRE_BODY_OFF_MAX)
        return NULL;
    uint64_t counted = c->view_bytes;
    if (size > counted) {
        if (pm_limits_view(c->share, counted, size) < 0) {
            pm_bodyview_drop(&c->view);
            pm_limits_view_put(c->share, counted);
            c->view_bytes = 0;
            return NULL;
        }
        counted = size;
    }
    const unsigned char *m = pm_bodyview_map(&c->view, fd, st->st_dev, st->st_ino, size, need);
    uint64_t held = m ? size : 0;
    if (counted > held)
        pm_limits_view_put(c->share, counted - held);
    c->view_bytes = held;
    return m;
}

size_t pm_sconn_read_body(struct pm_sconn *c, const iov_t *riov, size_t rparts, uint64_t off,
                        size_t len)
{
    if (c->body)
        return pm_iov_scatter(riov, rparts, 0, c->body + c->body_off + off, len);
    size_t done = 0;
    for (size_t i = 0; i < rparts && done < len; i++) {
        size_t n = riov[i].iov_len;
        if (n > len - done)
            n = len - done;
        ssize_t r = pm_body_pread(c->body_fd, riov[i].iov_base, n, c->body_off + off + done);
        if (r <= 0)
            break; /* the client shrank its own file: short read */
        done += (size_t)r;
        if ((size_t)r < n)
            break;
    }
    return done;
}

/* Take one datagram from a ready connection (lock held).  Returns 1 when a
 * message or pulse was delivered (*out set), 0 otherwise. */
static int take(struct pm_channel *ch, int slot, const iov_t *riov, size_t rparts,
                struct _msg_info *info, rcvid_t *out)
{
    struct pm_sconn *c = &ch->conns[slot];
    struct pm_wire_send h;
    size_t cap = pm_iov_total(riov, rparts);
    unsigned char *scratch = receive_buffer();
    if (!scratch)
        return 0;
    iov_t v[2] = { { &h, sizeof h }, { scratch, PM_WIRE_INLINE_MAX } };
    /* Room for more descriptors than any datagram may bring, so that
     * MSG_CTRUNC alone never hides how many came. */
    union { struct cmsghdr align;
            char buf[CMSG_SPACE(2 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))]; } cm;
    struct msghdr m = { .msg_iov = v, .msg_iovlen = 2,
                        .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
    ssize_t r = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    /* ECONNRESET: the client closed with data of ours unread (our hello,
     * say).  The kernel reports it once; what the client sent before it
     * closed is still queued, and is read on the next round. */
    if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == ECONNRESET))
        return 0;
    /* Every descriptor that came is ours to close, whatever the datagram:
     * at most one (a message body) is kept. */
    int fd = -1;
    int nfds = r >= 0 ? pm_cmsg_fds(&m, &fd, 1, NULL) : 0;
    if (r <= 0) {
        if (fd >= 0)
            close(fd);
        drop_conn(ch, slot);
        return 0;
    }
    /* Who sent it (sender.c): a process holding a copy of the connection
     * speaks as itself, never as the process that connected. */
    struct pm_stranger from;
    int judged = pm_sender_judge(c, &m, &from);
    struct stat st = { 0 };
    /* A body must be a file in memory; an event relay endpoint is a socket,
     * checked where it is taken (event_sock.c), so it is not probed. */
    int evsock = (size_t)r >= sizeof h && h.kind == PM_WIRE_EVSOCK;
    if (fd >= 0 && !evsock && (!pm_fd_is_memfile(fd) || fstat(fd, &st) < 0))
        st.st_size = 0; /* not a file in memory: refused below */
    if (nfds > 1 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        pm_wire_check_send(&h, (size_t)r, fd >= 0, (uint64_t)st.st_size) < 0 ||
        (h.kind == PM_WIRE_MSG && c->busy) ||
        /* Negative codes are the system's (disconnect, unblock...): a
         * server acts on them for other clients.  Only the library of our
         * own process produces them (dispatch_unblock(), a disconnect it
         * queues itself); our MsgSendPulse() refuses them for another
         * process, so a client that sends one is forging - judged by the
         * sender: a fork child holding a copy of a connection our own
         * process made is another process. */
        (h.kind == PM_WIRE_PULSE && (int8_t)h.code < 0 &&
         (judged < 0 || (from.on ? from.pid : c->pid) != getpid()))) {
        /* A client that breaks the protocol loses its connection. */
        if (fd >= 0)
            close(fd);
        drop_conn(ch, slot);
        return 0;
    }
    int scoid = PM_SCOID(ch->chid, slot);

    if ((judged < 0 || from.on) && h.kind != PM_WIRE_MSG && h.kind != PM_WIRE_PULSE &&
        h.kind != PM_WIRE_UNBLOCK) {
        /* Setting the connection up (memory manager, event relay,
         * speaking for others) is for the connector alone: ignored. */
        if (fd >= 0)
            close(fd);
        return 0;
    }
    if (judged < 0 && h.kind == PM_WIRE_MSG) {
        /* No credentials (SO_PASSCRED is set on every channel): nobody
         * can be told the sender, so nothing is done for it. */
        if (fd >= 0)
            close(fd);
        struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = h.seq, .status = EPERM };
        send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
        return 0;
    }

    if (h.kind == PM_WIRE_MEMMGR) {
        /* Only marks the connection; a liar gains nothing (see memmgr_conn.c). */
        c->memmgr = 1;
        return 0;
    }
    if (h.kind == PM_WIRE_EVSOCK) {
        pm_evsock_take(c, fd, h.code); /* checked there; takes fd */
        return 0;
    }
    if (h.kind == PM_WIRE_DELEGATE) {
        /* Speaking for others is for root and our own user (delegate.c);
         * the caller spoken for is held to its own user's share. */
        int e = pm_delegate_accept(c, scratch);
        if (e == EAGAIN)
            say_refused(c->fd, EAGAIN); /* then drop_conn() hangs up */
        if (e)
            drop_conn(ch, slot);
        return 0;
    }
    if (h.kind == PM_WIRE_PULSE) {
        struct _pulse p = { .type = _PULSE_TYPE, .subtype = _PULSE_SUBTYPE,
                            .code = (int8_t)h.code,
                            .value.sival_int = (int)h.value, .scoid = scoid };
        *out = give_pulse(&p, riov, rparts, info, ch->chid);
        if (info) {
            /* Informational only: a pulse is served with no identity. */
            info->pid = from.on ? from.pid : c->pid;
            info->tid = h.tid;
            info->coid = h.coid;
            info->priority = (int16_t)h.priority;
        }
        return 1;
    }
    if (h.kind == PM_WIRE_UNBLOCK) {
        if (!c->busy || c->seq != h.seq)
            return 0; /* already replied to: nothing to unblock */
        if (ch->flags & _NTO_CHF_UNBLOCK) {
            c->unblock_req = 1; /* MsgInfo() reports it */
            struct _pulse p = { .type = _PULSE_TYPE, .code = _PULSE_CODE_UNBLOCK,
                                .value.sival_int = (int)rcvid_of(ch->chid, slot, c->gen),
                                .scoid = scoid };
            *out = give_pulse(&p, riov, rparts, info, ch->chid);
            return 1;
        }
        /* Without _NTO_CHF_UNBLOCK the client is let go at once. */
        struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = c->seq, .status = EINTR };
        send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
        pm_sconn_finish(c);
        pm_sconn_gen_next(c, 0);
        return 0;
    }

    /* A message: it stays with the connection until replied to. */
    pm_sconn_gen_next(c, 1);
    c->busy = 1;
    c->seq = h.seq;
    c->coid = h.coid;
    c->tid = h.tid;
    c->srclen = h.srclen;
    c->dstlen = h.dstlen;
    c->reply_at = h.reply_at;
    if (fd >= 0) {
        c->body_off = h.body_off;
        c->body = map_body(c, fd, &st, (uint64_t)h.body_off + h.srclen);
        if (c->body) {
            close(fd); /* the mapping is all we need */
        } else if (pm_limits_fd(c->share) < 0) {
            /* Its user holds its share of our descriptors: this message
             * waits for nothing, the client hears EAGAIN. */
            close(fd);
            struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = h.seq, .status = EAGAIN };
            send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
            c->busy = 0;
            return 0;
        } else {
            c->body_fd = fd;
        }
    } else {
        /* The message stays readable (MsgRead) until the reply: keep a copy
         * of exactly what arrived. */
        c->inline_body = malloc(h.srclen ? (size_t)h.srclen : 1);
        if (!c->inline_body) {
            struct pm_wire_reply e = { .kind = PM_WIRE_ERROR, .seq = h.seq, .status = ENOMEM };
            send(c->fd, &e, sizeof e, MSG_NOSIGNAL | MSG_DONTWAIT);
            c->busy = 0;
            return 0;
        }
        memcpy(c->inline_body, scratch, (size_t)h.srclen);
    }

    pm_sender_begin(c, &from); /* until pm_sconn_finish() */

    size_t n = (size_t)(h.srclen < cap ? h.srclen : cap);
    if (c->inline_body)
        pm_iov_scatter(riov, rparts, 0, c->inline_body, n);
    else /* only what fits: the rest stays for MsgRead() */
        n = pm_sconn_read_body(c, riov, rparts, 0, n);
    rcvid_t id = rcvid_of(ch->chid, slot, c->gen);
    if (info) {
        memset(info, 0, sizeof *info);
        info->pid = pm_sconn_sender(c);
        info->tid = h.tid;
        info->chid = ch->chid;
        info->scoid = scoid;
        info->coid = h.coid;
        info->msglen = (int32_t)n;
        info->srcmsglen = h.srclen > INT32_MAX ? INT32_MAX : (int32_t)h.srclen;
        info->dstmsglen = h.dstlen > INT32_MAX ? INT32_MAX : (int32_t)h.dstlen;
        info->priority = (int16_t)h.priority;
    }
    *out = id;
    return 1;
}

/* epoll_wait() for at most `left` (TimerTimeout()): to the nanosecond with
 * epoll_pwait2() (Linux 5.11), else rounded up to the millisecond. */
static int wait_until(int ep, struct epoll_event *ev, const struct timespec *left)
{
    static int no_pwait2;
    if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
        int n = epoll_pwait2(ep, ev, 1, left, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        __atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
    }
    long long ms = (long long)left->tv_sec * 1000 + (left->tv_nsec + 999999) / 1000000;
    return epoll_wait(ep, ev, 1, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
}

rcvid_t pm_receive(int chid, const iov_t *riov, size_t rparts, struct _msg_info *info,
                   int pulse_only)
{
    pm_begin();
    int64_t deadline;
    int tt = pm_timeout_take(_NTO_TIMEOUT_RECEIVE, &deadline);
    struct pm_channel *ch = pm_channel_get(chid);
    if (!ch)
        return -1;
    rcvid_t out = -1;
    int late = 0;
    /* epoll_wait() is a cancellation point: release the channel then. */
    pthread_cleanup_push((void (*)(void *))pm_channel_put, ch);
    if (__atomic_load_n(&ch->parked, __ATOMIC_ACQUIRE)) {
        pm_mutex_lock(&ch->lock);
        unpark(ch);
        pm_mutex_unlock(&ch->lock);
    }
    for (;;) {
        /* Queued pulses are rare: look without the lock first (a pulse
         * queued just after is seen on the next round, as if it came
         * after the message epoll gives us). */
        if (__atomic_load_n(&ch->npending, __ATOMIC_ACQUIRE)) {
            pm_mutex_lock(&ch->lock);
            if (ch->npending) {
                struct _pulse p = ch->pending[0];
                int left = ch->npending - 1;
                memmove(ch->pending, ch->pending + 1, (size_t)left * sizeof p);
                __atomic_store_n(&ch->npending, left, __ATOMIC_RELEASE);
                pm_mutex_unlock(&ch->lock);
                out = give_pulse(&p, riov, rparts, info, chid);
                break;
            }
            pm_mutex_unlock(&ch->lock);
        }
        /* Messages MsgReceivePulse() left for us (receive_defer.c). */
        if (!pulse_only && __atomic_load_n(&ch->ndeferred, __ATOMIC_ACQUIRE)) {
            pm_mutex_lock(&ch->lock);
            int got = pm_defer_pop(ch, riov, rparts, info, &out);
            pm_mutex_unlock(&ch->lock);
            if (got)
                break;
        }

        struct epoll_event ev;
        struct timespec left = { 0, 0 };
        if (tt) {
            int64_t ns = deadline - pm_now_ns();
            if (ns > 0) {
                left.tv_sec = ns / 1000000000;
                left.tv_nsec = ns % 1000000000;
            }
        }
        int n = tt ? wait_until(ch->ep, &ev, &left) : epoll_wait(ch->ep, &ev, 1, -1);
        /* Past the deadline, a channel that keeps waking us with nothing
         * for us still times out. */
        if (tt && n > 0 && left.tv_sec == 0 && left.tv_nsec == 0 && ++late > 64)
            n = 0;
        if (n == 0 && tt) {
            out = pm_fail(ETIMEDOUT, "MsgReceive(): nothing before the TimerTimeout() "
                          "deadline");
            break;
        }
        if (n < 0 && errno == EINTR) {
            out = pm_fail(EINTR, "MsgReceive() interrupted by a signal");
            break;
        }
        if (n < 0) {
            out = pm_fail(errno, "epoll_wait: %m");
            break;
        }
        if (n == 0)
            continue;
        if (ev.data.u64 == EV_WAKE || __atomic_load_n(&ch->dead, __ATOMIC_ACQUIRE)) {
            out = pm_fail(ESRCH, "channel %d was destroyed", chid);
            break;
        }
        if (ev.data.u64 == PM_EV_DEFER) {
            /* Deferred messages, or a queued pulse: looked at above. */
            pm_mutex_lock(&ch->lock);
            pm_channel_unkick(ch);
            pm_mutex_unlock(&ch->lock);
            continue;
        }
        pm_mutex_lock(&ch->lock);
        if (ev.data.u64 == EV_LISTEN) {
            accept_all(ch);
            pm_mutex_unlock(&ch->lock);
            continue;
        }
        int slot = (int)ev.data.u64 - 1;
        int got = slot > 0 && slot < ch->nconns && ch->conns[slot].fd >= 0 &&
                  take(ch, slot, riov, rparts, info, &out);
        if (got && pulse_only && out > 0) {
            /* A message while we take pulses only: it waits for a
             * MsgReceive(), already taken off its socket. */
            pm_defer_push(ch, out);
            got = 0;
            out = -1;
        }
        pm_mutex_unlock(&ch->lock);
        if (got)
            break;
    }
    pthread_cleanup_pop(1);
    return out;
}

PM_EXPORT rcvid_t MsgReceivev(int chid, const iov_t *riov, size_t rparts,
                              struct _msg_info *info)
{
    return pm_receive(chid, riov, rparts, info, 0);
}

PM_EXPORT rcvid_t MsgReceive(int chid, void *msg, size_t bytes, struct _msg_info *info)
{
    iov_t v = { msg, bytes };
    return pm_receive(chid, &v, 1, info, 0);
}
