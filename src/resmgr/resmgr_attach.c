/*
 * resmgr_attach()/resmgr_detach(), and the OCB bindings that
 * resmgr_open_bind() makes.
 *
 * Decisions:
 *  - The id resmgr_attach() returns is the attachment's index in the
 *    dispatch (0, 1, 2...; never reused), recorded in the path-space entry
 *    as its handle: a client copies it into _io_connect.handle, and the
 *    library routes the connect to that attachment (unknown or detached
 *    handle: ENOENT).  The handle is no credential: permissions are the
 *    open handler's business (iofunc_open() checks the attr's mode against
 *    the kernel's record of the client).
 *  - Flags: _RESMGR_FLAG_DIR -> a directory entry (PM_PS_DIR), BEFORE/AFTER
 *    as such; OPAQUE, FTYPEONLY, SELF accepted without effect.
 *  - The entry's type and permissions.  When the connect table's open is
 *    iofunc_open_default() and a handle is given, the handle is an
 *    iofunc_attr_t: the entry gets its file type, and for each class
 *    (owner, group, other) that has any permission bit in attr->mode, that
 *    class's bits plus read (reading the entry is what "reaching" it means;
 *    what the client may then do is checked by the open).  Otherwise the
 *    handle's type is unknown: S_IFNAM for _FTYPE_NAME, and permissions 0666
 *    (everyone may reach it; the open handler decides).  The entry's owner is
 *    the manager's effective uid, not attr->uid.
 *  - resmgr_detach(_RESMGR_DETACH_PATHNAME) removes the path only; opens
 *    made through it go on.  _RESMGR_DETACH_ALL also invalidates them:
 *    their next message gets EBADF; their OCBs are still closed (close_ocb)
 *    when the client closes or goes.
 *  - A connect whose file_type is neither _FTYPE_ANY nor the attach's (when
 *    that is not _FTYPE_ANY either) is refused with ENOSYS: an mq_open() does
 *    not reach a plain device manager.
 *  - attr: nparts_max and msg_max_size grow what dispatch_context_alloc()
 *    gives contexts allocated afterwards; the first other_func given to any
 *    attach of the dispatch is the one called for unhandled message types.
 *  - resmgr_open_bind() binds to (ctp->info.scoid, ctp->info.coid).  A
 *    binding already there for the same pair belongs to a client that is
 *    gone (its slot was reused before its disconnect pulse was handled), or
 *    to an open the client abandoned: its OCB is closed first.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/pathspace.h"
#include "resmgr/resmgr_internal.h"
#include "sys/iofunc.h"

#pragma weak iofunc_open_default

int pm_rm_add_attach(dispatch_t *dpp, struct pm_rm_attach *a)
{
    pthread_mutex_lock(&dpp->lock);
    if (dpp->nattaches == dpp->cap_attaches) {
        int n = dpp->cap_attaches ? dpp->cap_attaches * 2 : 8;
        struct pm_rm_attach **t = realloc(dpp->attaches, (size_t)n * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&dpp->lock);
            return pm_fail(ENOMEM, "resmgr_attach(): out of memory");
        }
        dpp->attaches = t;
        dpp->cap_attaches = n;
    }
    a->id = dpp->nattaches;
    dpp->attaches[dpp->nattaches++] = a;
    pthread_mutex_unlock(&dpp->lock);
    return a->id;
}

struct pm_rm_attach *pm_rm_find_attach(dispatch_t *dpp, int id)
{
    if (id < 0 || id >= dpp->nattaches || dpp->attaches[id]->dead)
        return NULL;
    return dpp->attaches[id];
}

static mode_t entry_mode(enum _file_type ft, const resmgr_connect_funcs_t *cf, void *handle)
{
    if (handle && cf && cf->nfuncs > 0 && iofunc_open_default &&
        (void *)cf->open == (void *)iofunc_open_default) {
        const iofunc_attr_t *attr = handle;
        mode_t m = attr->mode & S_IFMT, perms = 0;
        for (int shift = 6; shift >= 0; shift -= 3) {
            mode_t cls = (attr->mode >> shift) & 7;
            if (cls)
                perms |= (cls | 4) << shift;
        }
        return m | perms;
    }
    return (ft == _FTYPE_NAME ? S_IFNAM : 0) | 0666;
}

PM_EXPORT int resmgr_attach(dispatch_t *dpp, resmgr_attr_t *attr, const char *path,
                            enum _file_type file_type, unsigned flags,
                            const resmgr_connect_funcs_t *connect_funcs,
                            const resmgr_io_funcs_t *io_funcs, RESMGR_HANDLE_T *handle)
{
    pm_begin();
    if (!dpp)
        return pm_fail(EINVAL, "resmgr_attach(): no dispatch handle");
    if ((flags & _RESMGR_FLAG_BEFORE) && (flags & _RESMGR_FLAG_AFTER))
        return pm_fail(EINVAL, "resmgr_attach(): both _RESMGR_FLAG_BEFORE and _AFTER");
    struct pm_rm_attach *a = calloc(1, sizeof *a);
    if (!a)
        return pm_fail(ENOMEM, "resmgr_attach(): out of memory");
    a->connect_funcs = connect_funcs;
    a->io_funcs = io_funcs;
    a->handle = handle;
    a->file_type = (unsigned)file_type;
    if (attr) {
        a->other_func = attr->other_func;
        pm_rm_update_sizes(dpp, attr->msg_max_size, attr->nparts_max);
        if (attr->other_func) {
            pthread_mutex_lock(&dpp->lock);
            if (!dpp->other_func)
                dpp->other_func = attr->other_func;
            pthread_mutex_unlock(&dpp->lock);
        }
    }
    int id = pm_rm_add_attach(dpp, a);
    if (id < 0) {
        free(a);
        return -1;
    }
    if (path) {
        unsigned psf = (flags & _RESMGR_FLAG_DIR ? PM_PS_DIR : 0) |
                       (flags & _RESMGR_FLAG_BEFORE ? PM_PS_BEFORE : 0) |
                       (flags & _RESMGR_FLAG_AFTER ? PM_PS_AFTER : 0);
        struct pm_ps_handle *ps = malloc(sizeof *ps);
        if (!ps || pm_pathspace_attach_handle(path, dpp->chid, id, psf,
                                              entry_mode(file_type, connect_funcs, handle),
                                              ps) < 0) {
            int e = ps ? errno : ENOMEM;
            free(ps);
            pthread_mutex_lock(&dpp->lock);
            a->dead = 1;
            pthread_mutex_unlock(&dpp->lock);
            return pm_fail(e, "resmgr_attach(): cannot attach %s", path);
        }
        pthread_mutex_lock(&dpp->lock);
        a->ps = ps;
        pthread_mutex_unlock(&dpp->lock);
    }
    return id;
}

PM_EXPORT int resmgr_detach(dispatch_t *dpp, int id, unsigned flags)
{
    pm_begin();
    if (!dpp)
        return pm_fail(EINVAL, "resmgr_detach(): no dispatch handle");
    pthread_mutex_lock(&dpp->lock);
    struct pm_rm_attach *a = pm_rm_find_attach(dpp, id);
    if (!a) {
        pthread_mutex_unlock(&dpp->lock);
        return pm_fail(EINVAL, "resmgr_detach(): no attachment %d", id);
    }
    a->dead = 1;
    struct pm_ps_handle *ps = a->ps;
    a->ps = NULL;
    if (!(flags & _RESMGR_DETACH_PATHNAME))
        for (int i = 0; i < dpp->nbindings; i++)
            if (dpp->bindings[i]->attach_id == id)
                dpp->bindings[i]->detached = 1;
    pthread_mutex_unlock(&dpp->lock);
    int rc = 0;
    if (ps) {
        rc = pm_pathspace_detach(ps);
        free(ps);
    }
    return rc;
}

/* ---- bindings ---- */

static uint64_t conn_ino_pid(int scoid, pid_t *pid)
{
    struct pm_peer p;
    uint64_t ino = 0;
    if (pm_scoid_info(scoid, &p, NULL, NULL, &ino) < 0)
        return 0;
    if (pid)
        *pid = p.pid;
    return ino;
}

uint64_t pm_rm_conn_ino(int scoid)
{
    return conn_ino_pid(scoid, NULL);
}

static void call_close_ocb(resmgr_context_t *ctp, struct pm_rm_binding *b)
{
    pm_rm_iofn f = pm_rm_io_func(b->io_funcs, PM_IS_CLOSE_OCB);
    if (f)
        f(ctp, NULL, b->ocb);
    free(b);
}

/* Take b out of the table (lock held). */
static void unlink_binding(dispatch_t *dpp, struct pm_rm_binding *b)
{
    for (int i = 0; i < dpp->nbindings; i++)
        if (dpp->bindings[i] == b) {
            dpp->bindings[i] = dpp->bindings[--dpp->nbindings];
            return;
        }
}

PM_EXPORT int resmgr_open_bind(resmgr_context_t *ctp, void *ocb, const resmgr_io_funcs_t *iofuncs)
{
    pm_begin();
    if (!ctp || !ctp->dpp || !ocb)
        return pm_fail(EINVAL, "resmgr_open_bind(): no context or OCB");
    dispatch_t *dpp = ctp->dpp;
    struct pm_rm_binding *b = calloc(1, sizeof *b);
    if (!b)
        return pm_fail(ENOMEM, "resmgr_open_bind(): out of memory");
    b->scoid = ctp->info.scoid;
    b->coid = ctp->info.coid;
    b->ocb = ocb;
    b->attach_id = ctp->id;
    b->conn_ino = conn_ino_pid(b->scoid, &b->pid);
    struct pm_rm_binding *old = NULL;

    pthread_mutex_lock(&dpp->lock);
    if (!iofuncs) {
        struct pm_rm_attach *a = pm_rm_find_attach(dpp, ctp->id);
        iofuncs = a ? a->io_funcs : NULL;
    }
    b->io_funcs = iofuncs;
    for (int i = 0; i < dpp->nbindings; i++) {
        struct pm_rm_binding *o = dpp->bindings[i];
        if (o->scoid == b->scoid && o->coid == b->coid && !o->closing) {
            old = o;
            break;
        }
    }
    if (old) {
        unlink_binding(dpp, old);
        old->closing = 1;
        if (old->refs)
            old = NULL; /* its last user closes it */
    }
    if (dpp->nbindings == dpp->cap_bindings) {
        int n = dpp->cap_bindings ? dpp->cap_bindings * 2 : 16;
        struct pm_rm_binding **t = realloc(dpp->bindings, (size_t)n * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&dpp->lock);
            free(b);
            if (old)
                call_close_ocb(ctp, old);
            return pm_fail(ENOMEM, "resmgr_open_bind(): out of memory");
        }
        dpp->bindings = t;
        dpp->cap_bindings = n;
    }
    b->serial = ++dpp->bind_serial;
    dpp->bindings[dpp->nbindings++] = b;
    pthread_mutex_unlock(&dpp->lock);
    if (old)
        call_close_ocb(ctp, old);
    return 0;
}

struct pm_rm_binding *pm_rm_binding_of_client(dispatch_t *dpp, pid_t pid, int coid)
{
    struct pm_rm_binding *b = NULL;
    pthread_mutex_lock(&dpp->lock);
    for (int i = 0; i < dpp->nbindings; i++) {
        struct pm_rm_binding *o = dpp->bindings[i];
        if (o->pid == pid && o->coid == coid && !o->closing)
            b = o; /* bindings are appended: the last is the newest */
    }
    if (b)
        b->refs++;
    pthread_mutex_unlock(&dpp->lock);
    return b;
}

PM_EXPORT void *resmgr_ocb(resmgr_context_t *ctp)
{
    pm_begin();
    if (!ctp || !ctp->dpp) {
        pm_fail(EINVAL, "resmgr_ocb(): no context");
        return NULL;
    }
    struct pm_rm_binding *b = pm_rm_binding_get(ctp->dpp, ctp->info.scoid, ctp->info.coid);
    if (!b)
        return NULL;
    void *ocb = b->ocb;
    pm_rm_binding_put(ctp, b);
    return ocb;
}

struct pm_rm_binding *pm_rm_binding_get(dispatch_t *dpp, int scoid, int coid)
{
    struct pm_rm_binding *b = NULL;
    pthread_mutex_lock(&dpp->lock);
    for (int i = 0; i < dpp->nbindings; i++) {
        struct pm_rm_binding *o = dpp->bindings[i];
        if (o->scoid == scoid && o->coid == coid && !o->closing) {
            b = o;
            b->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&dpp->lock);
    return b;
}

void pm_rm_binding_put(resmgr_context_t *ctp, struct pm_rm_binding *b)
{
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    int close_now = --b->refs == 0 && b->closing;
    pthread_mutex_unlock(&dpp->lock);
    if (close_now)
        call_close_ocb(ctp, b);
}

void pm_rm_binding_close(resmgr_context_t *ctp, struct pm_rm_binding *b)
{
    /* The caller holds a reference: closing marks it, the put closes. */
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    if (!b->closing) {
        b->closing = 1;
        unlink_binding(dpp, b);
    }
    pthread_mutex_unlock(&dpp->lock);
}

/*
 * A connection went (its _PULSE_CODE_DISCONNECT): close the OCBs bound to
 * it.  The pulse names only the slot, which a new client may have taken
 * meanwhile - and bound opens of its own in it while this runs: the
 * close_ocb handlers below run unlocked and may take long (a flush), and
 * any thread may be preempted between looking at the slot and at the
 * bindings.  Compared with an empty slot looked at before the newcomer
 * came, the newcomer's open would be closed under it (its next message:
 * EBADF).  So the slot is looked at after the bindings it is compared with
 * were made: only bindings older than that look are candidates, and of
 * those the ones of the connection still in the slot stay.  The connection
 * that went was gone from the slot before its pulse was queued, so a
 * binding made after this handler started is a later connection's (or an
 * open that was still being served when its client went: that one is
 * closed when its (scoid, coid) is bound again, see resmgr_open_bind()).
 */
void pm_rm_disconnect(resmgr_context_t *ctp, int scoid)
{
    dispatch_t *dpp = ctp->dpp;
    pthread_mutex_lock(&dpp->lock);
    uint64_t upto = dpp->bind_serial;
    pthread_mutex_unlock(&dpp->lock);
    uint64_t live = pm_rm_conn_ino(scoid);
    for (;;) {
        struct pm_rm_binding *b = NULL;
        pthread_mutex_lock(&dpp->lock);
        for (int i = 0; i < dpp->nbindings; i++) {
            struct pm_rm_binding *o = dpp->bindings[i];
            /* A binding of the connection now in this slot is not the one
             * that went; one whose inode is unknown (dup failed at bind
             * time) is closed only when the slot is empty. */
            if (o->scoid == scoid && !o->closing && o->serial <= upto &&
                (live == 0 || (o->conn_ino != 0 && o->conn_ino != live))) {
                b = o;
                break;
            }
        }
        if (b) {
            b->closing = 1;
            unlink_binding(dpp, b);
            if (b->refs) {
                pthread_mutex_unlock(&dpp->lock);
                continue; /* its last user closes it */
            }
        }
        pthread_mutex_unlock(&dpp->lock);
        if (!b)
            return;
        int saved_scoid = ctp->info.scoid, saved_coid = ctp->info.coid;
        ctp->info.scoid = b->scoid;
        ctp->info.coid = b->coid;
        call_close_ocb(ctp, b);
        ctp->info.scoid = saved_scoid;
        ctp->info.coid = saved_coid;
    }
}

void pm_rm_free_tables(dispatch_t *dpp)
{
    pthread_mutex_lock(&dpp->lock);
    for (int i = 0; i < dpp->nattaches; i++) {
        struct pm_rm_attach *a = dpp->attaches[i];
        if (a->ps) {
            pm_pathspace_detach(a->ps);
            free(a->ps);
        }
        free(a);
    }
    free(dpp->attaches);
    dpp->attaches = NULL;
    dpp->nattaches = dpp->cap_attaches = 0;
    /* OCBs still bound are the manager's memory: not ours to close
     * without a context. */
    for (int i = 0; i < dpp->nbindings; i++)
        free(dpp->bindings[i]);
    free(dpp->bindings);
    dpp->bindings = NULL;
    dpp->nbindings = dpp->cap_bindings = 0;
    free(dpp->ranges);
    dpp->ranges = NULL;
    dpp->nranges = dpp->cap_ranges = 0;
    pthread_mutex_unlock(&dpp->lock);
}
