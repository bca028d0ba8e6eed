/*
 * Channels: ChannelCreate(), ChannelDestroy() and the table behind chids.
 *
 * Names.  A channel listens on the abstract name "peermap.ch.<pid>.<chid>",
 * which a client can compute from (pid, chid) alone.  Anyone may bind any
 * abstract name, so another user can take that name before the process
 * that will have <pid> exists.  Then the channel listens on
 * "peermap.ch.<pid>.<chid>.<16 random hex digits>" instead - a name nobody
 * can bind in advance - and clients find it in /proc/net/unix (dial.c).
 * Names only say where to knock: a client believes a listener only once
 * the kernel has shown it to be process <pid> (dial.c), so a squatter gets
 * an empty connection, never a message.  A private channel
 * (_NTO_CHF_PRIVATE) is never under a predictable name: it takes
 * "peermap.chp.<pid>.<chid>.<32 random hex digits>", which no other
 * process is told and which dial.c's scan for "peermap.ch.<pid>.<chid>."
 * does not match, so another process's ConnectAttach() is ESRCH.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/sigsafe.h"
#include "msg/event.h"
#include "msg/msg.h"

#define MAX_CHANNELS 1024 /* chid fits the 10 bits scoids leave it */

static struct pm_channel *channels[MAX_CHANNELS];
static int chid_end = 1; /* above every chid ever used: scans stop there */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

void pm_channel_name(pid_t pid, int chid, char *buf, size_t n, size_t *len)
{
    /* Abstract name: leading NUL, no file, gone with the socket. */
    buf[0] = 0;
    int k = snprintf(buf + 1, n - 1, "peermap.ch.%d.%d", (int)pid, chid);
    *len = 1 + (size_t)k;
}

/*
 * A private channel (_NTO_CHF_PRIVATE) takes connections from its own
 * process only.  It listens under a name no other process is told
 * (random, 128 bits), not under the public "peermap.ch.<pid>.<chid>": a
 * ConnectAttach() from another process finds no such channel (ESRCH) at
 * once, instead of a connection the channel would drop unread - and a
 * MsgSendPulse() on it that "succeeds" while the pulse goes nowhere.  The
 * check in accept_all() stays: the name can be read in /proc/net/unix.
 */
static void private_name(pid_t pid, int chid, char *buf, size_t n, size_t *len)
{
    uint64_t r[2] = { 0, 0 };
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        r[0] ^= (uint64_t)pm_now_ns();
        r[1] ^= (uint64_t)(uintptr_t)&r;
    }
    buf[0] = 0;
    int k = snprintf(buf + 1, n - 1, "peermap.chp.%d.%d.%016llx%016llx", (int)pid, chid,
                     (unsigned long long)r[0], (unsigned long long)r[1]);
    *len = 1 + (size_t)k;
}

struct pm_channel *pm_channel_get(int chid)
{
    struct pm_channel *ch = NULL;
    pm_mutex_lock(&table_lock);
    if (chid > 0 && chid < MAX_CHANNELS && channels[chid] && !channels[chid]->dead) {
        ch = channels[chid];
        ch->refs++;
    }
    pm_mutex_unlock(&table_lock);
    if (!ch)
        pm_fail(EINVAL, "no channel %d in this process", chid);
    return ch;
}

struct pm_channel *pm_channel_find_blocked(pid_t pid, int *slot, int64_t deadline_ns,
                                           int *busy)
{
    struct pm_channel *found = NULL;
    *busy = 0;
    /* A process without channels (most callers of mmap_peer()) has no
     * client to look for: no lock taken. */
    if (__atomic_load_n(&chid_end, __ATOMIC_RELAXED) <= 1)
        return NULL;
    if (pm_lock_sigsafe(&table_lock, deadline_ns) < 0) {
        *busy = errno;
        return NULL;
    }
    for (int i = 1; i < chid_end && !found; i++) {
        struct pm_channel *ch = channels[i];
        if (!ch || ch->dead)
            continue;
        if (pm_lock_sigsafe(&ch->lock, deadline_ns) < 0) {
            *busy = errno; /* not looked at: the route may be there */
            continue;
        }
        for (int k = 1; k < ch->nconns; k++) {
            struct pm_sconn *c = &ch->conns[k];
            /* A stranger's message (sender.c) is never served in-band:
             * whichever holder of the descriptor reads the doorbell would
             * act on it. */
            if (c->fd >= 0 && c->busy && !pm_sconn_stranger(c) && c->pid == pid &&
                !c->memmgr) {
                *slot = k;
                found = ch;
                ch->refs++;
                break;
            }
        }
        pm_mutex_unlock(&ch->lock);
    }
    pm_mutex_unlock(&table_lock);
    if (found)
        *busy = 0;
    return found;
}

static void channel_free(struct pm_channel *ch)
{
    if (ch->lsn >= 0)
        close(ch->lsn);
    if (ch->ep >= 0)
        close(ch->ep);
    if (ch->wake >= 0)
        close(ch->wake);
    for (int i = 1; i < ch->nconns; i++) {
        if (ch->conns[i].fd >= 0) {
            pm_sconn_finish(&ch->conns[i]);
            pm_sconn_release(&ch->conns[i]);
            close(ch->conns[i].fd);
        }
        pm_bodyfile_drop(&ch->conns[i].reply_file);
        pm_bodyview_drop(&ch->conns[i].view);
        if (ch->conns[i].inband_side >= 0)
            close(ch->conns[i].inband_side);
        pm_evsock_release(&ch->conns[i]);
    }
    free(ch->conns);
    free(ch->pending);
    free(ch->deferred);
    if (ch->defer_ev >= 0)
        close(ch->defer_ev);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

/* Channels whose last reference went in a signal handler (their chid stays
 * taken until they are freed here). */
static struct pm_channel *_Atomic buried;

static void free_buried(void)
{
    struct pm_channel *ch = atomic_exchange(&buried, NULL);
    while (ch) {
        struct pm_channel *next = ch->buried_next;
        pm_mutex_lock(&table_lock);
        channels[ch->chid] = NULL;
        pm_mutex_unlock(&table_lock);
        channel_free(ch);
        ch = next;
    }
}

void pm_channel_put(struct pm_channel *ch)
{
    pm_mutex_lock(&table_lock);
    int last = --ch->refs == 0 && ch->dead;
    /* The chid (and with it the socket name) stays taken until the last
     * user is gone, so a new channel can never be confused with it. */
    if (last)
        channels[ch->chid] = NULL;
    pm_mutex_unlock(&table_lock);
    if (last)
        channel_free(ch);
    if (atomic_load(&buried))
        free_buried();
}

void pm_channel_put_sigsafe(struct pm_channel *ch)
{
    /* Taken earlier in this call, so not held by the code a handler
     * interrupted: only another thread's brief hold to wait for. */
    while (pm_lock_sigsafe(&table_lock, pm_now_ns() + 1000000000) < 0)
        ;
    int last = --ch->refs == 0 && ch->dead;
    pm_mutex_unlock(&table_lock);
    if (last) {
        /* Dead and unreferenced: nobody else can reach it any more. */
        ch->buried_next = atomic_load(&buried);
        while (!atomic_compare_exchange_weak(&buried, &ch->buried_next, ch))
            ;
    }
}

/* Bind the listener: the predictable name, else an unpredictable one; a
 * private channel only ever an unpredictable one of its own kind. */
static int bind_name(struct pm_channel *ch, int chid, struct sockaddr_un *sa)
{
    size_t nlen;
    int private = !!(ch->flags & _NTO_CHF_PRIVATE);
    if (private)
        private_name(getpid(), chid, sa->sun_path, sizeof sa->sun_path, &nlen);
    else
        pm_channel_name(getpid(), chid, sa->sun_path, sizeof sa->sun_path, &nlen);
    for (int attempt = 0;; attempt++) {
        if (bind(ch->lsn, (struct sockaddr *)sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen)) == 0)
            break;
        /* Taken: by another process (a squatter), since our own chids are
         * never reused while their socket lives.  A 64-bit random suffix
         * cannot be bound in advance; a few tries cover the absurd. */
        if (errno != EADDRINUSE || attempt == 4)
            return -1;
        if (private) {
            private_name(getpid(), chid, sa->sun_path, sizeof sa->sun_path, &nlen);
            continue;
        }
        uint64_t r;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        pm_channel_name(getpid(), chid, sa->sun_path, sizeof sa->sun_path, &nlen);
        int k = snprintf(sa->sun_path + nlen, sizeof sa->sun_path - nlen, ".%0*llx",
                         PM_CHANNEL_ALT_HEX, (unsigned long long)r);
        nlen += (size_t)k;
    }
    memcpy(ch->name, sa->sun_path, nlen);
    ch->namelen = (unsigned)nlen;
    ch->owner = getpid();
    return 0;
}

PM_EXPORT int ChannelCreate(unsigned flags)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int chid = -1;

    pm_begin();
    if (atomic_load(&buried))
        free_buried();
    struct pm_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return pm_fail(ENOMEM, "out of memory");
    ch->flags = flags;
    ch->lsn = ch->ep = ch->wake = ch->defer_ev = -1;
    ch->refs = 1; /* the table's */
    pthread_mutex_init(&ch->lock, NULL);

    pm_mutex_lock(&table_lock);
    for (int i = 1; i < MAX_CHANNELS; i++)
        if (!channels[i]) {
            chid = i;
            channels[i] = ch;
            if (i >= chid_end)
                __atomic_store_n(&chid_end, i + 1, __ATOMIC_RELAXED);
            ch->dead = 1; /* not usable until set up */
            break;
        }
    pm_mutex_unlock(&table_lock);
    if (chid < 0) {
        channel_free(ch);
        return pm_fail(EAGAIN, "no channel ids left (%d in use)", MAX_CHANNELS - 1);
    }
    ch->chid = chid;

    ch->lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ch->ep = epoll_create1(EPOLL_CLOEXEC);
    ch->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    /* data.u64: 0 the listener, 1 the wake-up, slot + 1 a connection. */
    struct epoll_event lev = { .events = EPOLLIN, .data.u64 = 0 };
    struct epoll_event wev = { .events = EPOLLIN, .data.u64 = 1 };
    /* Every datagram then names its sender (sender.c); accepted sockets
     * inherit the option, and datagrams queued before accept() carry the
     * credentials as well. */
    int on = 1;
    if (ch->lsn < 0 || ch->ep < 0 || ch->wake < 0 ||
        setsockopt(ch->lsn, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0 ||
        bind_name(ch, chid, &sa) < 0 ||
        listen(ch->lsn, SOMAXCONN) < 0 ||
        epoll_ctl(ch->ep, EPOLL_CTL_ADD, ch->lsn, &lev) < 0 ||
        epoll_ctl(ch->ep, EPOLL_CTL_ADD, ch->wake, &wev) < 0) {
        int e = errno;
        pm_mutex_lock(&table_lock);
        channels[chid] = NULL;
        pm_mutex_unlock(&table_lock);
        channel_free(ch);
        return pm_fail(e == EMFILE || e == ENFILE ? EAGAIN : e,
                       "cannot create channel: %s", strerror(e));
    }
    pm_channel_reserve();
    pm_mutex_lock(&table_lock);
    ch->dead = 0;
    pm_mutex_unlock(&table_lock);
    return chid;
}

PM_EXPORT int ChannelDestroy(int chid)
{
    pm_begin();
    pm_mutex_lock(&table_lock);
    struct pm_channel *ch = chid > 0 && chid < MAX_CHANNELS ? channels[chid] : NULL;
    if (ch && !ch->dead) {
        ch->dead = 1;
    } else {
        ch = NULL;
    }
    pm_mutex_unlock(&table_lock);
    if (!ch)
        return pm_fail(EINVAL, "no channel %d in this process", chid);
    /* No new clients; threads in MsgReceive() wake and fail. */
    shutdown(ch->lsn, SHUT_RDWR);
    uint64_t one = 1;
    if (write(ch->wake, &one, sizeof one) < 0) {
        /* a full eventfd already wakes everyone */
    }
    pm_channel_put(ch);
    return 0;
}
