/*
 * QNX 7.1 secure events: MsgRegisterEvent(), MsgUnregisterEvent(), and
 * delivering a registered event.
 *
 * The registration stays in the registering process (the "kernel" of the
 * event is the client's own library, event.h); *event becomes a handle:
 * SIGEV_FLAG_HANDLE in sigev_notify, the handle in sigev_handle (QNX's
 * layout: it shares sigev_coid/sigev_signo), the rest unchanged.  When a
 * server delivers the handle, the relay delivers our copy - pulse code,
 * connection, signal, function - so the server can change nothing but
 * sigev_value, and that only if the event was made updateable
 * (SIGEV_MAKE_UPDATEABLE()) before it was registered.
 *
 * Who may deliver it: with coid -1 any of our servers; otherwise only the
 * process at the other end of that connection (the kernel's SO_PEERCRED;
 * that very process, by its key: not whoever got its pid after it exited),
 * and only while that connection exists - the same coid number reused for
 * another connection does not inherit the right.  Ourselves (rcvid 0, a
 * server in this process) count as the server of a connection to one of
 * our own channels.
 *
 * Handles are (generation << 16) | (index + 1): an unregistered handle
 * reused by a later registration is not the same handle.  At most 65535
 * registrations at once (EAGAIN).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/event.h"
#include "msg/msg.h"
#include "trust/trust.h"

#define MAX_REG 65535

struct reg {
    int used;
    uint16_t gen;
    struct sigevent ev;   /* our copy, as registered */
    int any;              /* coid -1: any server */
    int coid;             /* else the connection to the server... */
    uint64_t ino;         /* ...as it was (not a reused coid number) */
    pid_t server;         /* the process at its other end */
    uint64_t key;         /* ...that very process (trust.h); 0 unknown */
};

static struct reg *regs;
static int nregs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned handle_of(int idx)
{
    return ((unsigned)regs[idx].gen << 16) | (unsigned)(idx + 1);
}

/* The registration behind handle (lock held), or -1. */
static int find_locked(unsigned handle)
{
    int idx = (int)(handle & 0xffff) - 1;
    if (idx < 0 || idx >= nregs || !regs[idx].used || regs[idx].gen != (uint16_t)(handle >> 16))
        return -1;
    return idx;
}

PM_EXPORT int MsgRegisterEvent(struct sigevent *event, int coid)
{
    pm_begin();
    if (!event)
        return pm_fail(EFAULT, "no event");
    if (event->sigev_notify & SIGEV_FLAG_HANDLE)
        return pm_fail(EINVAL, "the event is a handle already");
    if (pm_event_check(event) < 0)
        return -1;
    if (SIGEV_GET_TYPE(event) == SIGEV_UNBLOCK)
        return pm_fail(EINVAL, "SIGEV_UNBLOCK cannot be registered");
    struct reg r = { .used = 1, .ev = *event, .any = coid == -1, .coid = coid };
    if (coid != -1) {
        struct pm_cconn *c = pm_cconn_get(coid);
        if (!c)
            return pm_fail_over(EBADF, "MsgRegisterEvent(): no connection %d", coid);
        struct pm_peer_id id = { .pidfd = -1 };
        int ok = pm_peer_get(c->fd, &id) == 0;
        r.ino = pm_cconn_ino(c);
        pm_cconn_put(c);
        if (!ok || !r.ino) {
            pm_peer_release(&id);
            return pm_fail(EBADF, "MsgRegisterEvent(): connection %d has no peer", coid);
        }
        r.server = id.pid;
        if ((id.pidfd >= 0 ? pm_pidfd_key(id.pidfd, &r.key)
                           : pm_proc_key(id.pid, &r.key)) < 0)
            r.key = 0; /* unknown: no other process may deliver it */
        pm_peer_release(&id);
    }
    pthread_mutex_lock(&lock);
    int idx = -1;
    for (int i = 0; i < nregs; i++)
        if (!regs[i].used) {
            idx = i;
            break;
        }
    if (idx < 0) {
        if (nregs == MAX_REG) {
            pthread_mutex_unlock(&lock);
            return pm_fail(EAGAIN, "MsgRegisterEvent(): %d events registered already", MAX_REG);
        }
        struct reg *t = realloc(regs, (size_t)(nregs + 1) * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&lock);
            return pm_fail(ENOMEM, "MsgRegisterEvent(): out of memory");
        }
        regs = t;
        regs[nregs] = (struct reg){ 0 };
        idx = nregs++;
    }
    r.gen = (uint16_t)(regs[idx].gen + 1);
    regs[idx] = r;
    unsigned h = handle_of(idx);
    pthread_mutex_unlock(&lock);
    event->sigev_notify |= SIGEV_FLAG_HANDLE;
    event->sigev_handle = (int)h;
    return EOK;
}

PM_EXPORT int MsgUnregisterEvent(const struct sigevent *event)
{
    pm_begin();
    if (!event)
        return pm_fail(EFAULT, "no event");
    if (!(event->sigev_notify & SIGEV_FLAG_HANDLE))
        return pm_fail(ESRCH, "the event is not a registered one (no handle)");
    pthread_mutex_lock(&lock);
    int idx = find_locked((unsigned)event->sigev_handle);
    if (idx >= 0)
        regs[idx].used = 0;
    pthread_mutex_unlock(&lock);
    if (idx < 0)
        return pm_fail(ESRCH, "no registered event %#x", (unsigned)event->sigev_handle);
    return EOK;
}

int pm_event_registered_find(unsigned handle)
{
    pthread_mutex_lock(&lock);
    int idx = find_locked(handle);
    pthread_mutex_unlock(&lock);
    if (idx < 0)
        return pm_fail(ESRCH, "no registered event %#x", handle);
    pm_begin();
    return EOK;
}

/* May `from` deliver registration r?  (Our own process delivers as the
 * server of a connection to ourselves.) */
static int allowed(const struct reg *r, const struct pm_event_origin *from)
{
    if (r->any)
        return 1;
    if (r->server != from->pid)
        return 0;
    /* Another process: the very one at the other end, not a later holder
     * of its pid (the relay gives the writer's key). */
    if (from->foreign && (!r->key || r->key != from->key))
        return 0;
    struct pm_cconn *c = pm_cconn_get(r->coid);
    if (!c)
        return 0;
    int same = pm_cconn_ino(c) == r->ino;
    pm_cconn_put(c);
    return same;
}

int pm_event_registered_deliver(unsigned handle, int64_t value,
                                const struct pm_event_origin *from)
{
    pthread_mutex_lock(&lock);
    int idx = find_locked(handle);
    struct reg r = idx >= 0 ? regs[idx] : (struct reg){ 0 };
    pthread_mutex_unlock(&lock);
    if (idx < 0)
        return pm_fail(ESRCH, "no registered event %#x", handle);
    if (!allowed(&r, from))
        return pm_fail(EACCES, "PID %d may not deliver registered event %#x",
                       (int)from->pid, handle);
    struct sigevent ev = r.ev;
    if (ev.sigev_notify & SIGEV_FLAG_UPDATEABLE)
        ev.sigev_value.sival_ptr = (void *)(intptr_t)value;
    ev.sigev_notify &= ~(SIGEV_FLAG_UPDATEABLE | SIGEV_FLAG_CRITICAL);
    /* Our own copy: even a system pulse code is what we chose. */
    struct pm_event_origin own = *from;
    own.foreign = 0;
    return pm_event_deliver(&ev, &own);
}
