/*
 * dispatch_handler(): route what dispatch_block() received, call the
 * handler, and answer the client as the handler's return value says.
 *
 * Routing:
 *  - Pulses (rcvid 0).  _PULSE_CODE_DISCONNECT: the OCBs bound to that
 *    connection are closed (io_funcs->close_ocb, once each; see
 *    resmgr_attach.c for a slot reused meanwhile), then a pulse_attach()
 *    handler for the code, if any, runs too.  _PULSE_CODE_UNBLOCK: a
 *    pulse_attach() handler for it if there is one; else, when the blocked
 *    client's message is a connect (an open held by the manager), the
 *    connect_funcs->unblock of the attachment it names; else the
 *    io_funcs->unblock of the OCB bound to that connection; when there is
 *    none, or it returns _RESMGR_DEFAULT, the reply-blocked client is let
 *    go: MsgError(its rcvid, EINTR) - harmless if it was answered
 *    meanwhile.  Other codes:
 *    pulse_attach() handlers; none -> dispatch_handler() returns -1.
 *  - Messages are checked by pm_rm_decode() first (EBADMSG etc. answered
 *    there, and the manager goes on).  _IO_CONNECT goes to the attachment
 *    named by its handle (none: ENOENT; a name_attach() one: EOK), then to
 *    the connect handler for its subtype (COMBINE/COMBINE_CLOSE: open).  A
 *    file_type that is neither _FTYPE_ANY nor the attach's (itself not
 *    _FTYPE_ANY) is ENOSYS.
 *    I/O messages go to the OCB bound to (scoid, coid): none -> EBADF.
 *    Other types: a message_attach() range, else other_func, else ENOSYS
 *    (and dispatch_handler() returns -1).
 *  - Around every I/O handler but close, lock_ocb/unlock_ocb run when the
 *    table has them (an error from lock_ocb is the answer).  _IO_CLOSE runs
 *    close_dup (locked) if set, then unbinds and runs close_ocb (unlocked:
 *    it frees the OCB), then replies EOK.
 *  - Return values: EOK -> MsgReply(status); an errno -> MsgError;
 *    _RESMGR_NPARTS(n) -> MsgReplyv(status, iov, n), n > nparts_max is
 *    EINVAL (a handler bug, not worth a crash); _RESMGR_NOREPLY -> nothing;
 *    _RESMGR_DEFAULT -> ENOSYS, except ENOTTY from a devctl handler (as
 *    iofunc_devctl_default() documents); a NULL handler is ENOSYS.  A
 *    negative status with EOK is sent as is (_IO_SET_CONNECT_RET).
 *  - _IO_MMAP is accepted only on the memory manager's connections
 *    (msg/memmgr_conn.c); from anyone else it is ENOSYS and no handler
 *    runs, however well-formed.  It names the client's open by i.info.coid;
 *    the client is the process at the other end of the memory manager's
 *    connection (the kernel says which: i.info.pid must agree), so an
 *    _IO_MMAP reaches only that process's own opens (none: EBADF).  The
 *    handler runs with that open's OCB and ctp->info of the memory manager
 *    (it binds its privileged OCB there).  A reply that says
 *    _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT hands the object in base.fd
 *    to the client with the reply - unless the client is another user's
 *    and was not granted PROT_WRITE: the descriptor is the manager's own
 *    (read-write), and even a read-only one could be opened again for
 *    writing through /proc/self/fd (memfds are 0777), so such a client
 *    gets the reply without the object and reads pages instead.  (Root and
 *    the manager's own user could reach the object anyway.)
 *  - Combined messages: only the first is handled (a connect with
 *    _IO_CONNECT_COMBINE* is answered as an open; a trailing I/O message is
 *    not run).
 */
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/resmgr_internal.h"

/* Answer per the handler's return value. */
static void reply(resmgr_context_t *ctp, int ret, int is_devctl)
{
    if (ret == _RESMGR_NOREPLY)
        return;
    if (ret == _RESMGR_DEFAULT)
        ret = is_devctl ? ENOTTY : ENOSYS;
    if (ret == EOK) {
        MsgReply(ctp->rcvid, ctp->status, NULL, 0);
    } else if (ret < 0) {
        unsigned n = (unsigned)-(long)ret;
        if (n > ctp->nparts_max)
            MsgError(ctp->rcvid, EINVAL);
        else
            MsgReplyv(ctp->rcvid, ctp->status, ctp->iov, n);
    } else {
        MsgError(ctp->rcvid, ret);
    }
}

static int run_range(resmgr_context_t *ctp, int pulse, int value)
{
    struct pm_rm_range r;
    if (!pm_rm_find_range(ctp->dpp, pulse, value, &r))
        return 0;
    r.func(ctp, value, r.flags, r.handle);
    return 1;
}

/* An unblock pulse for a client whose message is a connect (an open the
 * manager holds): the connect table's unblock of the attachment it is for,
 * as QNX's library calls it.  1 when it was one (*ret: the handler's
 * answer, _RESMGR_DEFAULT without a handler), 0 otherwise. */
static int unblock_connect(resmgr_context_t *ctp, struct _pulse *p, rcvid_t blocked, int *ret)
{
    struct _io_connect c;
    size_t hdr = offsetof(struct _io_connect, path);
    if (MsgRead(blocked, &c, hdr, 0) != (ssize_t)hdr || c.type != _IO_CONNECT)
        return 0;
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    struct pm_rm_attach *a = pm_rm_find_attach(dpp, (int)c.handle);
    struct pm_rm_attach copy;
    if (a)
        copy = *a;
    pthread_mutex_unlock(&dpp->lock);
    *ret = _RESMGR_DEFAULT;
    if (a && !copy.is_name) {
        pm_rm_connfn f = pm_rm_connect_func(copy.connect_funcs, PM_CS_UNBLOCK);
        if (f)
            *ret = f(ctp, p, copy.handle, NULL);
    }
    return 1;
}

static int handle_pulse(resmgr_context_t *ctp)
{
    struct _pulse p;
    memcpy(&p, &ctp->msg->pulse, sizeof p);
    if (p.code == _PULSE_CODE_DISCONNECT) {
        pm_rm_disconnect(ctp, p.scoid);
        run_range(ctp, 1, p.code);
        return 0;
    }
    if (run_range(ctp, 1, p.code))
        return 0;
    if (p.code == _PULSE_CODE_UNBLOCK) {
        rcvid_t blocked = (rcvid_t)(unsigned)p.value.sival_int;
        int ret = _RESMGR_DEFAULT;
        if (unblock_connect(ctp, &p, blocked, &ret)) {
            if (ret == _RESMGR_DEFAULT)
                MsgError(blocked, EINTR);
            return 0;
        }
        struct pm_rm_binding *b = pm_rm_binding_get(ctp->dpp, p.scoid, ctp->info.coid);
        if (!b) {
            /* The pulse does not say which coid: any OCB of the connection. */
            struct _msg_info mi;
            if (MsgInfo(blocked, &mi) == 0)
                b = pm_rm_binding_get(ctp->dpp, p.scoid, mi.coid);
        }
        if (b) {
            pm_rm_iofn f = pm_rm_io_func(b->io_funcs, PM_IS_UNBLOCK);
            if (f)
                ret = f(ctp, &p, b->ocb);
            pm_rm_binding_put(ctp, b);
        }
        if (ret == _RESMGR_DEFAULT)
            MsgError(blocked, EINTR);
        return 0;
    }
    return -1;
}

static int handle_connect(resmgr_context_t *ctp, const struct pm_rm_decoded *d)
{
    struct _io_connect *c = &ctp->msg->connect.connect;
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    struct pm_rm_attach *a = pm_rm_find_attach(dpp, (int)c->handle);
    struct pm_rm_attach copy;
    if (a)
        copy = *a;
    pthread_mutex_unlock(&dpp->lock);
    if (!a) {
        MsgError(ctp->rcvid, ENOENT);
        return 0;
    }
    ctp->id = copy.id;
    if (c->file_type != _FTYPE_ANY && copy.file_type != _FTYPE_ANY &&
        c->file_type != copy.file_type) {
        MsgError(ctp->rcvid, ENOSYS);
        return 0;
    }
    if (copy.is_name) {
        /* name_open(): the connection is the whole point; nothing to open. */
        MsgReply(ctp->rcvid, EOK, NULL, 0);
        return 0;
    }
    void *extra = (char *)ctp->msg + d->extra_off;
    pm_rm_connfn f = pm_rm_connect_func(copy.connect_funcs, d->slot);
    int ret = f ? f(ctp, ctp->msg, copy.handle, extra) : ENOSYS;
    reply(ctp, ret, 0);
    return 0;
}

/* Run an I/O handler between the table's lock_ocb and unlock_ocb (an
 * error from lock_ocb is the answer); a missing handler is ENOSYS. */
static int run_locked(resmgr_context_t *ctp, const resmgr_io_funcs_t *t, pm_rm_iofn f,
                      void *ocb)
{
    if (!f)
        return ENOSYS;
    pm_rm_iofn lock = pm_rm_io_func(t, PM_IS_LOCK_OCB);
    pm_rm_iofn unlock = pm_rm_io_func(t, PM_IS_UNLOCK_OCB);
    int ret = lock ? lock(ctp, NULL, ocb) : EOK;
    if (ret == EOK) {
        ret = f(ctp, ctp->msg, ocb);
        if (unlock)
            unlock(ctp, NULL, ocb);
    }
    return ret;
}

/* The reply an mmap handler built, with the shared memory object it names
 * (if any) sent along. */
static void reply_mmap(resmgr_context_t *ctp, int ret)
{
    if (ret >= 0 || (unsigned)-(long)ret > ctp->nparts_max) {
        reply(ctp, ret, 0);
        return;
    }
    unsigned n = (unsigned)-(long)ret;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += ctp->iov[i].iov_len;
    struct _io_mmap_reply_ext r;
    if (total < sizeof r) {
        reply(ctp, ret, 0);
        return;
    }
    size_t at = 0;
    for (unsigned i = 0; i < n && at < sizeof r; i++) {
        size_t k = ctp->iov[i].iov_len < sizeof r - at ? ctp->iov[i].iov_len : sizeof r - at;
        memcpy((char *)&r + at, ctp->iov[i].iov_base, k);
        at += k;
    }
    unsigned want = _IO_MMAP_REPLY_FLAGS_USE_EXTENDED | _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT;
    if ((r.extended.flags & want) != want) {
        reply(ctp, ret, 0);
        return;
    }
    struct _client_info ci;
    if (!(r.base.allowed_prot & PROT_WRITE) &&
        (ConnectClientInfo(ctp->info.scoid, &ci, 0) < 0 ||
         (ci.cred.euid != 0 && ci.cred.euid != geteuid()))) {
        /* No object for a reader of another user (see the top): the same
         * reply without it, and the memory manager pages. */
        r.extended.flags &= ~_IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT;
        r.base.fd = -1;
        size_t put = 0;
        for (unsigned i = 0; i < n && put < sizeof r; i++) {
            size_t k = ctp->iov[i].iov_len < sizeof r - put ? ctp->iov[i].iov_len
                                                             : sizeof r - put;
            memcpy(ctp->iov[i].iov_base, (char *)&r + put, k);
            put += k;
        }
        reply(ctp, ret, 0);
        return;
    }
    if (r.base.fd < 0 || fcntl(r.base.fd, F_GETFD) < 0) {
        /* A handler bug: say so to the client rather than hand it nothing. */
        MsgError(ctp->rcvid, EBADF);
        return;
    }
    if (pm_msg_reply_fd(ctp->rcvid, ctp->status, ctp->iov, n, r.base.fd) < 0 && errno == EMSGSIZE)
        return; /* the client was told */
}

static int handle_mmap(resmgr_context_t *ctp)
{
    if (pm_rcvid_memmgr(ctp->rcvid) != 1) {
        MsgError(ctp->rcvid, ENOSYS);
        return 0;
    }
    struct _io_mmap *m = &ctp->msg->mmap.i;
    if (m->info.pid != ctp->info.pid) {
        MsgError(ctp->rcvid, EBADF);
        return 0;
    }
    struct pm_rm_binding *b = pm_rm_binding_of_client(ctp->dpp, ctp->info.pid, m->info.coid);
    if (!b) {
        MsgError(ctp->rcvid, EBADF);
        return 0;
    }
    m->info.scoid = b->scoid; /* what the client's own messages carry */
    ctp->id = b->attach_id;
    const resmgr_io_funcs_t *t = b->io_funcs;
    pm_rm_iofn f = pm_rm_io_func(t, PM_IS_MMAP);
    int ret = b->detached ? EBADF : run_locked(ctp, t, f, b->ocb);
    pm_rm_binding_put(ctp, b);
    reply_mmap(ctp, ret);
    return 0;
}

static int handle_io(resmgr_context_t *ctp, const struct pm_rm_decoded *d)
{
    if (d->slot == PM_IS_MMAP)
        return handle_mmap(ctp);
    struct pm_rm_binding *b = pm_rm_binding_get(ctp->dpp, ctp->info.scoid, ctp->info.coid);
    if (!b) {
        MsgError(ctp->rcvid, EBADF);
        return 0;
    }
    ctp->id = b->attach_id;
    if (b->detached) {
        if (d->slot == PM_IS_CLOSE_OCB) {
            pm_rm_binding_close(ctp, b);
            pm_rm_binding_put(ctp, b);
            MsgReply(ctp->rcvid, EOK, NULL, 0);
        } else {
            pm_rm_binding_put(ctp, b);
            MsgError(ctp->rcvid, EBADF);
        }
        return 0;
    }
    const resmgr_io_funcs_t *t = b->io_funcs;
    pm_rm_iofn lock = pm_rm_io_func(t, PM_IS_LOCK_OCB);
    pm_rm_iofn unlock = pm_rm_io_func(t, PM_IS_UNLOCK_OCB);

    if (d->slot == PM_IS_CLOSE_OCB) {
        pm_rm_iofn dup = pm_rm_io_func(t, PM_IS_CLOSE_DUP);
        if (dup) {
            int lr = lock ? lock(ctp, NULL, b->ocb) : EOK;
            if (lr == EOK) {
                dup(ctp, ctp->msg, b->ocb);
                if (unlock)
                    unlock(ctp, NULL, b->ocb);
            }
        }
        pm_rm_binding_close(ctp, b);
        pm_rm_binding_put(ctp, b); /* runs close_ocb unless still in use */
        MsgReply(ctp->rcvid, EOK, NULL, 0);
        return 0;
    }

    pm_rm_iofn f = pm_rm_io_func(t, d->slot);
    if (!f) /* _IO_READ64 & co. without a handler of their own */
        f = pm_rm_io_func(t, pm_rm_io_fallback(d->slot));
    int ret = run_locked(ctp, t, f, b->ocb);
    pm_rm_binding_put(ctp, b);
    reply(ctp, ret, d->slot == PM_IS_DEVCTL);
    return 0;
}

static int handle_other(resmgr_context_t *ctp, uint16_t type)
{
    if (run_range(ctp, 0, type))
        return 0;
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    int (*other)(resmgr_context_t *, void *) = dpp->other_func;
    pthread_mutex_unlock(&dpp->lock);
    if (other) {
        reply(ctp, other(ctp, ctp->msg), 0);
        return 0;
    }
    MsgError(ctp->rcvid, ENOSYS);
    return -1;
}

PM_EXPORT int dispatch_handler(dispatch_context_t *dctp)
{
    pm_begin();
    if (!dctp)
        return pm_fail(EINVAL, "dispatch_handler(): no context");
    resmgr_context_t *ctp = &dctp->resmgr_context;
    ctp->status = 0;
    ctp->offset = 0;
    if (ctp->rcvid == -1)
        return 0; /* dispatch_block() timed out (dispatch_timeout()): nothing */
    if (ctp->rcvid == 0)
        return handle_pulse(ctp);

    struct pm_rm_decoded d;
    size_t got = ctp->size > 0 ? (size_t)ctp->size : 0;
    size_t src = ctp->info.srcmsglen > 0 ? (size_t)ctp->info.srcmsglen : 0;
    int err = pm_rm_decode(ctp->msg, got, src, &d);
    if (err) {
        MsgError(ctp->rcvid, err);
        return 0;
    }
    switch (d.kind) {
    case PM_RM_CONNECT:
        return handle_connect(ctp, &d);
    case PM_RM_IO:
        return handle_io(ctp, &d);
    default:
        return handle_other(ctp, d.type);
    }
}
