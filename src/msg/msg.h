/*
 * Message passing internals: channels (server side), connections (client
 * side), and the server's view of each client connection.
 *
 * A channel is a listening AF_UNIX SOCK_SEQPACKET socket with the abstract
 * name "peermap.ch.<pid>.<chid>", so that (pid, chid) is all a client needs,
 * as on QNX, and the name disappears with the process.  Anyone can bind that
 * name first: then the channel takes "peermap.ch.<pid>.<chid>.<random>", and
 * either way a client proves the listener it reached is process <pid>
 * before it sends anything (dial.c).  A connection is a
 * socket connected to it; for an ordinary (non side-channel) connection the
 * coid *is* the socket's file descriptor, which makes a resource manager's
 * client descriptor a real fd.  The server accepts connections lazily in
 * MsgReceive() and waits on all of them with one epoll set (one-shot, so
 * that several threads can receive on one channel).
 */
#ifndef PEERMAP_MSG_H
#define PEERMAP_MSG_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "sys/neutrino.h"
#include "msg/bodyfile.h"
#include "msg/clients.h"
#include "msg/wire.h"

/*
 * Identifiers, all positive ints as QNX code expects:
 *   scoid = chid << 13 | slot      (slot 1..8191: one per client connection)
 *   rcvid = scoid << 8 | gen       (gen 1..255: one per message, so that a
 *                                   stale rcvid is refused, not misrouted)
 */
#define PM_SLOT_BITS 13
#define PM_MAX_SLOTS ((1 << PM_SLOT_BITS) - 1)
#define PM_SCOID(chid, slot) ((int)(((chid) << PM_SLOT_BITS) | (slot)))
#define PM_SCOID_CHID(scoid) ((int)((scoid) >> PM_SLOT_BITS))
#define PM_SCOID_SLOT(scoid) ((int)((scoid) & PM_MAX_SLOTS))

/* Who a client is, fixed when its connection is accepted (client_id.c). */
struct pm_client_id {
    pid_t pid;              /* SO_PEERCRED: the kernel's record at connect() */
    uid_t uid;              /* effective ids, same record */
    gid_t gid;
    uid_t ruid, suid;       /* real and saved ids, read through the client's */
    gid_t rgid, sgid;       /* pidfd at accept (equal to the effective ones
                             * when that could not be done, see client_id.c) */
    pid_t sid;              /* its session then, 0 unknown */
    uint64_t key;           /* its process key (trust.h), 0 unknown */
};

/* Whom a connection speaks for, when its client is trusted to speak for
 * others (PM_WIRE_DELEGATE; delegate.c).  Unset (on == 0) otherwise. */
struct pm_delegate {
    int on;
    pid_t pid;
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    uint32_t ngroups;
    gid_t groups[PM_WIRE_DELEGATE_GROUPS];
};

/* Who sent the message being served, when it is not the connection's own
 * process (sender.c): on == 0 for the connector's own message. */
struct pm_stranger {
    int on;
    pid_t pid;              /* SCM_CREDENTIALS: the sender's tgid (0 hidden) */
    uid_t uid;              /* and its real ids */
    gid_t gid;
};

/* The server's record of one client connection. */
struct pm_sconn {
    int fd;                 /* accepted socket, -1 when the slot is free */
    pid_t pid;              /* = who.pid, who.uid, who.gid: kept by these */
    uid_t uid;              /* names because the whole library reads them */
    gid_t gid;
    struct pm_client_id who;
    uid_t share;            /* whose per-user share it counts against
                             * (limits.c): who.uid, or the caller a
                             * delegated connection speaks for */
    uint8_t gen;            /* of the message being served */
    uint8_t gen_start;      /* gen when this connection took the slot... */
    uint16_t gen_moved;     /* ...and how far it has moved since (at most
                             * 256): the rcvids this connection was given,
                             * told from an earlier client's in the slot */
    /* The message being served (busy), addressed by its rcvid. */
    int busy;
    uint32_t seq;
    int32_t coid, tid;
    uint64_t srclen, dstlen;
    unsigned char *inline_body; /* body when it came inline, else NULL */
    const unsigned char *body; /* body in `view` (bodyfile.h), else NULL */
    int body_fd;            /* body's memfd when it cannot be mapped (read
                             * with pread()), else -1 */
    uint32_t body_off;      /* where the body starts in its file */
    uint32_t reply_at;      /* the client's hint for a reply in a file */
    unsigned char *reply;   /* MsgWrite()s so far, on the heap, or ... */
    int reply_in_file;      /* ... at reply_file.map + reply_at */
    uint64_t reply_len, reply_cap;
    struct pm_bodyview view; /* the client's body file, mapped; kept */
    uint64_t view_bytes;    /* its size, as counted against the user */
    struct pm_bodyfile reply_file; /* the file for large replies, kept */
    uint64_t reply_cache_bytes; /* its size, as counted against the user */
    int memmgr;             /* the client's memory manager (PM_WIRE_MEMMGR) */
    int inband_side;        /* our end of the in-band socket, or -1 */
    int inband_busy;        /* a request waits on it: the waiter closes it
                             * if the connection goes meanwhile */
    int evs;                /* the client's event relay (msg/event_sock.c):
                             * index + 1, 0 none */
    int evflags;            /* PM_EVSOCK_* the client set for it */
    int unblock_req;        /* the sender of the busy message asked to be
                             * unblocked (_NTO_MI_UNBLOCK_REQ) */
    struct pm_delegate delegate; /* the caller it speaks for (delegate.c) */
    struct pm_stranger stranger; /* who sent the busy message, if another
                             * process than the connector (sender.c) */
    uint64_t ino;           /* the socket's inode, 0 until asked */
};

struct pm_channel {
    int chid;
    unsigned flags;
    int lsn;                /* listening socket */
    int ep;                 /* epoll set: listener, wake-up, every connection */
    int wake;               /* eventfd: ChannelDestroy() wakes receivers */
    int refs, dead;         /* guarded by the table lock */
    pthread_mutex_t lock;   /* guards conns and pending */
    struct pm_sconn *conns; /* conns[slot], slot 0 unused */
    int nconns;
    int parked;             /* the listener is out of the epoll set: the
                             * process has no descriptor to accept with */
    char name[108];         /* the listener's abstract name, and its length */
    unsigned namelen;
    pid_t owner;            /* the process that made it (a fork child's
                             * copy of the table is not its channel) */
    /* Pulses made up by the channel itself (disconnect, unblock). */
    struct _pulse *pending;
    int npending, cap_pending;
    /* Messages MsgReceivePulse() took off their sockets, for the next
     * MsgReceive() (receive_defer.c); defer_ev (eventfd, -1 until needed)
     * is readable while there are some. */
    rcvid_t *deferred;
    int ndeferred, cap_deferred;
    int defer_ev;
    /* Its last reference went in a signal handler, which may not free:
     * the next pm_channel_put() does (channel.c). */
    struct pm_channel *buried_next;
};

/* epoll tag of a channel's defer_ev (connections use slot + 1). */
#define PM_EV_DEFER UINT64_MAX

/* MsgReceivev(), or MsgReceivePulsev() with pulse_only (receive.c). */
rcvid_t pm_receive(int chid, const iov_t *riov, size_t rparts, struct _msg_info *info,
                   int pulse_only);
/* receive_defer.c (lock held): keep message `id` for a later MsgReceive();
 * hand the oldest still valid one over (1, *out = its rcvid), or 0. */
void pm_defer_push(struct pm_channel *ch, rcvid_t id);
int pm_defer_pop(struct pm_channel *ch, const iov_t *riov, size_t rparts,
                 struct _msg_info *info, rcvid_t *out);

/* Keep the process's reserve descriptor (receive.c), with which a server
 * out of descriptors still refuses waiting clients cleanly. */
void pm_channel_reserve(void);

/* The channel table (channel.c): a reference, released with put. */
struct pm_channel *pm_channel_get(int chid);   /* NULL + EINVAL if none */
void pm_channel_put(struct pm_channel *ch);
/* The predictable name of channel chid of process pid, and the prefix of
 * the unpredictable ones it takes when that name is taken: abstract socket
 * names, buf[0] = 0, *len bytes in all. */
void pm_channel_name(pid_t pid, int chid, char *buf, size_t n, size_t *len);
#define PM_CHANNEL_ALT_HEX 16   /* random hex digits after that prefix */
/* A channel (referenced) on which process `pid` waits for a reply, and the
 * slot of its connection; NULL when it waits on none of ours that could be
 * looked at.  Async-signal-safe (mmap_peer()'s in-band route): a lock this
 * thread already holds (the code a signal handler interrupted) is not
 * waited for; then *busy is EDEADLK (ETIMEDOUT: another thread held one
 * past deadline_ns), else 0.  Release with pm_channel_put_sigsafe(). */
struct pm_channel *pm_channel_find_blocked(pid_t pid, int *slot, int64_t deadline_ns,
                                           int *busy);
/* pm_channel_put() for a path a signal handler may take: never frees (the
 * next ordinary put frees a channel whose last reference went here).  The
 * caller took the table's lock earlier in the same call. */
void pm_channel_put_sigsafe(struct pm_channel *ch);

/* Find the busy connection behind rcvid: on success the channel is
 * referenced and locked (release with pm_rcvid_release).  NULL + ESRCH when
 * the rcvid is stale or was never given out. */
struct pm_sconn *pm_rcvid_lookup(rcvid_t rcvid, struct pm_channel **chp);
void pm_rcvid_release(struct pm_channel *ch);

/* What the kernel told us of the client behind scoid when it connected.
 * 0, or -1 + ESRCH when there is no such connection. */
struct pm_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int fd;   /* a dup of the connection, for SO_PEERGROUPS; caller closes */
    struct pm_client_id who;
};
int pm_scoid_peer(int scoid, struct pm_peer *p);
/* The same without a descriptor (p->fd is -1): instead, when *ngroups > 0,
 * up to that many of the client's groups as the kernel recorded them at
 * connect() (SO_PEERGROUPS) into groups[] and their number into *ngroups
 * (-1 when the kernel would not say: too many), and the socket's inode
 * (recorded once per connection) into *ino; either may be NULL. */
int pm_scoid_info(int scoid, struct pm_peer *p, gid_t *groups, int *ngroups, uint64_t *ino);

/* Fill `who` for a connection just accepted on `fd` (client_id.c).  0, or
 * -1 with errno: EMFILE/ENFILE (no descriptor for the client's pidfd), or
 * the kernel gives no credentials at all. */
int pm_client_id_capture(int fd, struct pm_client_id *who);

/* Release what a connection holds against its user's share and the record
 * of client processes (limits.c, clients.c); called once per connection as
 * it closes. */
void pm_sconn_release(struct pm_sconn *c);

/* ConnectClientInfo() without what only /proc knows (real and saved ids,
 * session): the effective ids and groups, which access checks need, at the
 * cost of two system calls instead of a /proc read. */
struct _client_info;
int pm_client_cred(int scoid, struct _client_info *info, int ngroups);

/* Copy [off, off + len) of the message being served, whose body came in a
 * file, into riov (from the mapping, else with pread()); the bytes copied
 * (short if the client shrank an unmapped file).  Lock held. */
size_t pm_sconn_read_body(struct pm_sconn *c, const iov_t *riov, size_t rparts, uint64_t off,
                          size_t len);

/* Queue a pulse the channel makes up itself (disconnect, unblock), for
 * the next MsgReceive() (lock held). */
void pm_channel_queue_pulse(struct pm_channel *ch, int code, int value, int scoid);

/* Wake the threads waiting in MsgReceive() on ch to look at its queues
 * again (lock held); pm_channel_unkick() when they are empty. */
void pm_channel_kick(struct pm_channel *ch);
void pm_channel_unkick(struct pm_channel *ch);

/* unblock.c (lock held): has the sender of c's busy message asked to be
 * unblocked?  1 yes (c->unblock_req), 0 no, -1 it was let go (EINTR, on a
 * channel without _NTO_CHF_UNBLOCK): the message is finished. */
int pm_sconn_check_unblock(struct pm_channel *ch, struct pm_sconn *c);

/*
 * Each message judged by its sender (sender.c).
 *   pm_sender_judge()  from the SCM_CREDENTIALS of received `m` (SO_PASSCRED
 *                      on the channel): *s names the sender when it is not
 *                      c's connector (s->on), else s->on = 0.  -1 when the
 *                      datagram carries no credentials (refuse it).
 *   pm_sender_begin()  c (lock held) now serves a message from `from`: a
 *                      stranger's pid is recorded as a client's
 *                      (clients.h) until pm_sender_end(), which
 *                      pm_sconn_finish() calls.
 *   pm_sender_ident()  who c is right now (lock held): its connector, or
 *                      while it serves a stranger's message, that sender
 *                      (p->fd untouched).
 *   pm_sconn_stranger() is c's busy message a stranger's?
 *   pm_sconn_msg_from() is c's busy message from process pid?
 */
struct msghdr;
int pm_sender_judge(const struct pm_sconn *c, const struct msghdr *m, struct pm_stranger *s);
void pm_sender_begin(struct pm_sconn *c, const struct pm_stranger *from);
void pm_sender_end(struct pm_sconn *c);
struct pm_peer;
void pm_sender_ident(const struct pm_sconn *c, struct pm_peer *p);
static inline int pm_sconn_stranger(const struct pm_sconn *c)
{
    return c->busy && c->stranger.on;
}
static inline pid_t pm_sconn_sender(const struct pm_sconn *c)
{
    return pm_sconn_stranger(c) ? c->stranger.pid : c->pid;
}
static inline int pm_sconn_msg_from(const struct pm_sconn *c, pid_t pid)
{
    return c->busy && pm_sconn_sender(c) == pid && pid > 0;
}

/* Mark a connection idle again and free the message it held. */
void pm_sconn_finish(struct pm_sconn *c);

/* Move c's message generation on (lock held): a new message (skip0: a
 * message's generation is never 0), or one let go without a reply, whose
 * rcvid must go stale. */
static inline void pm_sconn_gen_next(struct pm_sconn *c, int skip0)
{
    uint8_t before = c->gen;
    if (++c->gen == 0 && skip0)
        c->gen = 1;
    unsigned moved = c->gen_moved + (uint8_t)(c->gen - before);
    c->gen_moved = (uint16_t)(moved > 256 ? 256 : moved);
}

/* Was generation g given out on c's connection, rather than to an earlier
 * client that had the same slot (lock held)?  A rcvid outlives its reply
 * (MsgDeliverEvent() takes one later), but never its connection.  Once a
 * connection has moved through all 256 values, each could be its own: the
 * 8 bits cannot tell then, and the answer is yes. */
static inline int pm_sconn_gen_ours(const struct pm_sconn *c, uint8_t g)
{
    if (c->gen_moved >= 256)
        return 1;
    uint8_t d = (uint8_t)(g - c->gen_start);
    return d != 0 && d <= c->gen_moved;
}

/*
 * Per-user shares (limits.c): what one user's connections may make this
 * process hold, so that another user's flood leaves room for root and the
 * server's own user.  Counted for every user; enforced for users other
 * than root and the process's effective uid.  Each call that may refuse
 * returns 0, or -1 with EAGAIN and a reason.
 */
int pm_limits_admit(uid_t uid);         /* a new connection: a slot + its socket */
void pm_limits_leave(uid_t uid);
int pm_limits_fd(uid_t uid);            /* one more descriptor (a message body) */
void pm_limits_fd_put(uid_t uid);
/* Grow the reply memory kept for a connection from `from` bytes (0: none
 * kept yet, so a descriptor too) to `to`; put gives back `bytes` and the
 * descriptor. */
int pm_limits_cache(uid_t uid, uint64_t from, uint64_t to);
void pm_limits_cache_put(uid_t uid, uint64_t bytes);
/* The same share, for a client's message file we keep mapped (bodyfile.h):
 * bytes of address space and page tables, no descriptor. */
int pm_limits_view(uid_t uid, uint64_t from, uint64_t to);
void pm_limits_view_put(uid_t uid, uint64_t bytes);

/* Client connections (connect.c). */
struct pm_cconn {
    int fd;                 /* -1 once detached */
    pid_t pid;              /* the channel it leads to */
    int chid;
    pthread_mutex_t lock;   /* guards fd and ino, held briefly */
    uint64_t ino;           /* the socket's inode, 0 until pm_cconn_ino() */
    pthread_mutex_t exchange; /* one message/reply exchange at a time */
    uint32_t seq;           /* guarded by exchange */
    struct pm_bodyfile body; /* the file for large messages, kept */
    struct pm_bodyview reply_view; /* the server's reply file, mapped; kept */
    unsigned body_gen;      /* pm_fork_gen() when they were made: a fork
                             * child makes its own (its parent's server
                             * keeps the parent's file mapped) */
    int hello;              /* the server has accepted us ... */
    unsigned chflags;       /* ... and its channel has these flags */
    int inband_side;        /* our end of the in-band socket, or -1 */
    int inband_trust;       /* the server may ask in-band: 1/0, -1 unknown */
    int coflags;            /* ConnectAttach()'s flags (_NTO_COF_*) */
    unsigned ev_gen;        /* our event relay was offered to the server in
                             * this fork generation (msg/event_relay.c) */
    int notified;           /* PM_WIRE_NOTIFY conditions not yet taken */
    uint64_t srv_key;       /* where the kernel has no SO_PEERPIDFD: the
                             * listener's process key, taken right after
                             * the dial proved it (0: not taken) */
    int sliced;             /* its socket has SO_RCVTIMEO of
                             * PM_MEMMGR_SLICE_MS: a hard deadline is
                             * looked at between slices, no ppoll() */
};
/* The process key (trust.h) of the listener c leads to, c's lock held:
 * from the listener's pidfd (SO_PEERPIDFD), which names it even after it
 * exited (pidfs); on kernels without one, the key taken at connect
 * (srv_key), while the dial's proof held.  0, or -1 when it cannot be
 * told. */
int pm_cconn_server_key(const struct pm_cconn *c, uint64_t *key);
/* The connection behind coid, with `lock` held (pm_cconn_put releases it).
 * NULL + EBADF when there is none.  With `exchange`, the exchange lock is
 * taken first and kept until pm_cconn_end_exchange(). */
struct pm_cconn *pm_cconn_get(int coid);
void pm_cconn_put(struct pm_cconn *c);
/* Is coid a connection whose channel is gone (the server's end closed)?
 * MsgSend() says EBADF for that, as for a coid that is no connection, and
 * a server may reply EBADF too: callers that promise ESRCH ask this. */
int pm_cconn_gone(int coid);
/* The inode of c's socket (lock held): an identity of the open that stays
 * while it is open; asked of the kernel once per connection.  0 on error. */
uint64_t pm_cconn_ino(struct pm_cconn *c);
struct pm_cconn *pm_cconn_begin_exchange(int coid, int *fd);
void pm_cconn_end_exchange(struct pm_cconn *c);

/* The _NOTIFY_COND_* bits notified on connection coid since last asked
 * (notified.c), and whether its server has hung up.  0, or -1 with EBADF
 * when coid is no connection. */
int pm_conn_notified(int coid, int *conds, int *hup);

/* Where a pulse event's members are (<sys/siginfo.h>); _pm_sigev_pulse_init()
 * also records in the last two where its connection led (pid, chid),
 * which delivery does not need (event.h): the client's relay sends the
 * pulse on the coid itself. */
#define PM_SIGEV_CODE(e)     (((int *)&(e)->_sigev_un._pad)[0])
#define PM_SIGEV_PRIORITY(e) (((int *)&(e)->_sigev_un._pad)[1])
#define PM_SIGEV_CHID(e)     (((int *)&(e)->_sigev_un._pad)[2])
#define PM_SIGEV_PID(e)      (((int *)&(e)->_sigev_un._pad)[3])

/* Bodies up to this size keep their connection's memfd; larger ones get a
 * file of their own, so a connection never pins more memory than this. */
#define PM_BODY_CACHE_MAX ((uint64_t)16 << 20)

/* Connect to channel `chid` of process `pid` (dial.c): a connected socket
 * whose listener is proven to be that process (for another process: its
 * SO_PEERPIDFD, or the uid rule without it), or -1 with errno (ESRCH none,
 * EAGAIN its backlog stays full past the deadline).  The one place that
 * turns (pid, chid) into a socket. */
int pm_channel_dial(pid_t pid, int chid, int cloexec);
/* The same, handing the kernel's record of the proven listener (its pidfd
 * included: release it with pm_peer_release()) to *keep; for our own
 * channel, our own ids and no pidfd. */
struct pm_peer_id;
int pm_channel_dial_id(pid_t pid, int chid, int cloexec, struct pm_peer_id *keep);
/* ConnectAttach() (ND_LOCAL_NODE, a side channel or not as `index` says)
 * that hands the proven listener's record over as pm_channel_dial_id(). */
int pm_connect_attach_id(pid_t pid, int chid, unsigned index, int flags,
                         struct pm_peer_id *keep);

/* Send a whole datagram: header + iov body inline, or header + a memory
 * file (bodyfile.h) holding the body from offset `off` (mod 4096) on, which
 * is then written to *hdr_off (a field of the header) before it goes.
 * `cache` (may be NULL) keeps the connection's file between messages: the
 * receiver has always finished with the previous body before the next one
 * is written (one exchange at a time), and re-using the file saves creating
 * it and allocating, zeroing and freeing its pages every time. */
int pm_send_datagram(int fd, const void *hdr, size_t hlen, uint32_t *hdr_off,
                     const iov_t *iov, size_t parts, uint64_t total, uint32_t off,
                     struct pm_bodyfile *cache);

/* sendmsg() of one datagram with up to two descriptors (SCM_RIGHTS),
 * MSG_NOSIGNAL | flags, retried on EINTR.  The bytes sent, or -1. */
ssize_t pm_sendmsg_fds(int sock, const iov_t *iov, size_t parts, const int *fds, int nfds,
                       int flags);

/*
 * Descriptors with replies (for protocols such as _IO_MMAP, where a server
 * hands a shared memory object to the client's library):
 *   pm_msg_reply_fd()  MsgReplyv() that also sends `fd` (a dup travels; the
 *                      caller keeps its own); the reply body must be inline
 *                      (<= PM_WIRE_INLINE_MAX, else EMSGSIZE).
 *   pm_msg_take_fd()   after a MsgSend*() in this thread: the descriptor
 *                      that came with its reply (close-on-exec), or -1.  An
 *                      unclaimed one is closed by the next MsgSend*().
 */
int pm_msg_reply_fd(rcvid_t rcvid, long status, const iov_t *iov, size_t parts, int fd);
int pm_msg_take_fd(void);

/* For this thread's next exchange only: when its reply body comes in a
 * memory file we map (bodyfile.h), the reply vector is one buffer and the
 * reply's status is the body's length (a read's answer), leave the body
 * there and point *where at it instead of copying it into the buffer (the
 * memory manager installs pages straight from it, the FUSE export writes
 * its answers to the kernel from there).  *where
 * stays NULL otherwise (the body is in the buffer, as usual).  The pointer
 * is good until the connection's next exchange; the server's file cannot
 * shrink under it (sealed), though the server may still write into it. */
void pm_msg_reply_in_place(const unsigned char **where);
/* After pm_msg_reply_in_place(), for the same exchange: when the body is
 * left in place, the mapping it lies in moves to *v (else *v stays
 * empty), so that nothing can unmap it while the caller uses it - another
 * thread's exchange on the connection, whose reply may come in another
 * file, maps its own.  pm_msg_reply_view_return() gives it back to coid's
 * connection (or unmaps it, when the connection has one again). */
void pm_msg_reply_in_place_take(struct pm_bodyview *v);
void pm_msg_reply_view_return(int coid, struct pm_bodyview *v);
/* The data bytes this thread's last exchange got back in its reply buffers
 * (or left in place): a server's status may claim more than it sent (QNX's
 * MsgReply() status is any number); the rest of the buffers is untouched. */
uint64_t pm_msg_reply_got(void);

/*
 * The memory manager's connections (memmgr_conn.c).
 *   pm_memmgr_connect()  a side-channel connection to (pid, chid) marked as
 *                        the memory manager's: the only kind on which a
 *                        resource manager accepts _IO_MMAP.  Returns the
 *                        coid, or -1 with errno as ConnectAttach().  With
 *                        `like` >= 0 (the client's descriptor the mapping
 *                        is for), the listener must be the very process
 *                        `like` is connected to (else ESRCH): a manager
 *                        that exited leaves its clients' descriptors, and
 *                        its pid and channel number to whoever comes next.
 *   pm_rcvid_memmgr()    1 when rcvid came on such a connection, 0 when
 *                        not, -1/ESRCH for a stale rcvid.
 *   pm_msg_sendv_timed() MsgSendv() that gives up after timeout_ms (> 0)
 *                        with ETIMEDOUT: the memory manager must not hang
 *                        on a server that stalls.  A reply that comes later
 *                        is discarded.  On connections from
 *                        pm_memmgr_connect() and pm_delegate_announce()
 *                        (sliced: their recvmsg() wakes every
 *                        PM_MEMMGR_SLICE_MS) the wait is the recvmsg()
 *                        alone, and ends at most a slice past the
 *                        deadline; on any other connection, or with a
 *                        TimerTimeout() armed, it is a ppoll() to the
 *                        deadline (send.c), which composes with the
 *                        thread's TimerTimeout() (the earlier deadline
 *                        ends the exchange).
 */
#define PM_MEMMGR_SLICE_MS 20
int pm_memmgr_connect(pid_t pid, int chid, int like);
int pm_rcvid_memmgr(rcvid_t rcvid);
long pm_msg_sendv_timed(int coid, const iov_t *siov, size_t sparts,
                        const iov_t *riov, size_t rparts, int timeout_ms);

/*
 * Connections that speak for another process (delegate.c): the FUSE
 * export's, one per open of one caller.
 *   pm_delegate_announce() on a connection just made (no message sent
 *                          yet), announce `who` (PM_WIRE_DELEGATE).  The
 *                          server honours it only when our connection
 *                          runs as root or as the server's own effective
 *                          user, and otherwise drops the connection.  The
 *                          connection's waits then wake every
 *                          PM_MEMMGR_SLICE_MS, so pm_msg_thread_timeout()
 *                          deadlines hold on it.  0, or -1 with errno
 *                          (ESRCH: the server is gone).
 *   pm_delegate_accept()   the server's side, channel lock held: 0 when
 *                          the connection now speaks for the body's
 *                          caller (and counts against that caller's
 *                          user's share, limits.c); otherwise the errno
 *                          for which it must be dropped: EPERM (not
 *                          trusted to speak for others, or not first or
 *                          once), EAGAIN (the caller's user holds its
 *                          share of this server already).
 *   pm_delegate_fill()     ConnectClientInfo() of a delegated connection:
 *                          1 when filled from the delegation, 0 when the
 *                          connection speaks for itself, -1 (ESRCH).
 */
int pm_delegate_announce(int coid, const struct pm_wire_delegate *who);
int pm_delegate_accept(struct pm_sconn *c, const void *body);
struct _client_info;
int pm_delegate_fill(int scoid, struct _client_info *info, int ngroups, int whole);

/* Every MsgSend*() of the calling thread gives up after `ms` milliseconds
 * (0: waits as long as it takes, the default) with ETIMEDOUT, as
 * pm_msg_sendv_timed() does; a reply that comes later is discarded.  A
 * TimerTimeout() armed for one call holds too: the earlier deadline wins. */
void pm_msg_thread_timeout(int ms);

/* The client's side of an in-band request (inband_client.c): called by a
 * thread waiting for the reply to `seq` when the server rings (doorbell
 * `h`, with the nfds descriptors its flags announce).  Takes the
 * descriptors. */
struct pm_wire_reply;
void pm_inband_serve(struct pm_cconn *cc, const struct pm_wire_reply *h,
                     const int *fds, int nfds, uint32_t seq);

/* This thread's id, cached: glibc's gettid() is a system call each time,
 * and every message carries it. */
int32_t pm_self_tid(void);
/* A number that changes in a child at every fork(). */
unsigned pm_fork_gen(void);

/* Copy `len` bytes at offset `off` of an iov list from/to a flat buffer. */
size_t pm_iov_total(const iov_t *iov, size_t parts);
size_t pm_iov_scatter(const iov_t *iov, size_t parts, size_t off,
                      const void *src, size_t len);


#endif
