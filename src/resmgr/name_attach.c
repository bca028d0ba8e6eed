/*
 * Named channels: name_attach(), name_detach(), name_open(), name_close().
 *
 * Decisions:
 *  - A name lives in the path space at /dev/name/local/<name>, type S_IFNAM,
 *    permissions 0666 (anyone may find it; the server decides what to
 *    answer).  NAME_FLAG_ATTACH_GLOBAL is accepted and registers the local
 *    name: there is no network.
 *  - Names: not NULL or empty, no leading '/', no "." or ".." component
 *    (EINVAL); at most PATH_MAX with the prefix (ENAMETOOLONG).
 *  - name_attach(NULL, ...) makes a dispatch whose channel has
 *    _NTO_CHF_DISCONNECT | _NTO_CHF_COID_DISCONNECT | _NTO_CHF_UNBLOCK, as on
 *    QNX; with a dpp its channel is used as it is.  name_detach() removes the
 *    name and destroys the dispatch (and the channel it made) unless
 *    NAME_FLAG_DETACH_SAVEDPP, whoever made it, as QNX documents.
 *  - The name's attachment in the dispatch answers an _IO_CONNECT with EOK
 *    when the server runs dispatch_handler(); a server that loops on
 *    MsgReceive(attach->chid) itself must reply EOK to it, as on QNX.
 *  - name_open(name): a name starting with '/' is a path, resolved as is;
 *    otherwise /dev/name/local/<name>.  It returns a side-channel
 *    connection to the server's channel, as QNX 7.1 does: _NAME_FLAG_COF_*
 *    become the _NTO_COF_* flags of the connection (it is close-on-exec
 *    either way, as every side channel here).  No message is sent: QNX
 *    sends an _IO_CONNECT only when its global name service (gns) is
 *    involved, and servers written for QNX 7 commonly answer every _IO_*
 *    message with ENOSYS - or receive pulses only.  With
 *    NAME_FLAG_ATTACH_GLOBAL (the global name service's job on QNX), or
 *    when the environment sets PEERMAP_NAME_OPEN_CONNECT=1 (as a QNX system
 *    running gns would behave), name_open() sends the _IO_CONNECT:
 *    subtype _IO_CONNECT_OPEN, file_type _FTYPE_NAME, ioflag _IO_FLAG_RD |
 *    _IO_FLAG_WR, handle = the entry's handle, path = what is left of the
 *    path below the entry ("" for the name itself); an error reply is
 *    name_open()'s errno.  A name nobody serves is ENOENT.  name_close() is
 *    ConnectDetach().
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/internal.h"
#include "resmgr/pathspace.h"
#include "resmgr/resmgr_internal.h"

#define NAME_PREFIX "/dev/name/local/"

static int check_name(const char *name)
{
    if (!name || !name[0] || name[0] == '/')
        return pm_fail(EINVAL, "name \"%s\": empty or starts with '/'", name ? name : "(null)");
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, "/");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return pm_fail(EINVAL, "name \"%s\" has a \".\" or \"..\" component", name);
        p += len;
        while (*p == '/')
            p++;
    }
    return 0;
}

static int name_path(const char *name, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, NAME_PREFIX "%s", name);
    if (n < 0 || n >= PATH_MAX)
        return pm_fail(ENAMETOOLONG, "name \"%s\" is too long", name);
    return 0;
}

PM_EXPORT name_attach_t *name_attach(dispatch_t *dpp, const char *name, unsigned flags)
{
    char path[PATH_MAX];
    (void)flags;
    pm_begin();
    if (check_name(name) < 0 || name_path(name, path) < 0)
        return NULL;
    name_attach_t *na = calloc(1, sizeof *na);
    struct pm_rm_attach *a = calloc(1, sizeof *a);
    struct pm_ps_handle *ps = malloc(sizeof *ps);
    if (!na || !a || !ps) {
        free(na);
        free(a);
        free(ps);
        pm_fail(ENOMEM, "name_attach(): out of memory");
        return NULL;
    }
    int made = 0, added = 0;
    if (!dpp) {
        dpp = dispatch_create_channel(-1, _NTO_CHF_DISCONNECT | _NTO_CHF_COID_DISCONNECT |
                                              _NTO_CHF_UNBLOCK);
        if (!dpp)
            goto fail;
        made = 1;
    }
    a->is_name = 1;
    a->file_type = _FTYPE_NAME;
    int id = pm_rm_add_attach(dpp, a);
    if (id < 0)
        goto fail;
    added = 1;
    if (pm_pathspace_attach_handle(path, dpp->chid, id, 0, S_IFNAM | 0666, ps) < 0) {
        int e = errno;
        pthread_mutex_lock(&dpp->lock);
        a->dead = 1; /* the dispatch frees it */
        pthread_mutex_unlock(&dpp->lock);
        errno = e;
        goto fail;
    }
    pthread_mutex_lock(&dpp->lock);
    a->ps = ps;
    pthread_mutex_unlock(&dpp->lock);
    na->dpp = dpp;
    na->chid = dpp->chid;
    na->mntid = id;
    return na;
fail:;
    int e = errno;
    if (!added)
        free(a);
    if (made)
        dispatch_destroy(dpp); /* frees `a` if it was added */
    free(ps);
    free(na);
    errno = e;
    return NULL;
}

PM_EXPORT int name_detach(name_attach_t *attach, unsigned flags)
{
    pm_begin();
    if (!attach || !attach->dpp)
        return pm_fail(EINVAL, "name_detach(): nothing attached");
    int rc = resmgr_detach(attach->dpp, attach->mntid, _RESMGR_DETACH_ALL);
    int e = errno;
    if (!(flags & NAME_FLAG_DETACH_SAVEDPP))
        dispatch_destroy(attach->dpp);
    free(attach);
    errno = e;
    return rc;
}

/* Whether name_open() sends an _IO_CONNECT (see the top of this file). */
static int send_connect(int flags)
{
    if (flags & NAME_FLAG_ATTACH_GLOBAL)
        return 1;
    const char *e = getenv("PEERMAP_NAME_OPEN_CONNECT");
    return e && e[0] == '1';
}

PM_EXPORT int name_open(const char *name, int flags)
{
    char path[PATH_MAX];
    pm_begin();
    if (name && name[0] == '/') {
        if (strlen(name) >= PATH_MAX)
            return pm_fail(ENAMETOOLONG, "name_open(): path too long");
        strcpy(path, name);
    } else if (check_name(name) < 0 || name_path(name, path) < 0) {
        return -1;
    }
    struct pm_ps_match *m = malloc(sizeof *m);
    if (!m)
        return pm_fail(ENOMEM, "name_open(): out of memory");
    if (pm_pathspace_resolve(path, m) < 0) {
        int e = errno;
        free(m);
        errno = e;
        return -1;
    }
    int cof = _NTO_COF_CLOEXEC;
    if (flags & _NAME_FLAG_COF_NOEVENT)
        cof |= _NTO_COF_NOEVENT;
    if (flags & _NAME_FLAG_COF_REG_EVENTS)
        cof |= _NTO_COF_REG_EVENTS;
    if (flags & _NAME_FLAG_COF_INSECURE)
        cof |= _NTO_COF_INSECURE;
    /* ENOENT also when the entry outlived its channel (destroyed, not yet
     * detached) or the channel there is not the entry's manager's. */
    int coid = pm_pathspace_connect_index(m, _NTO_SIDE_CHANNEL, cof);
    if (coid < 0) {
        int e = errno;
        free(m);
        errno = e;
        return -1;
    }
    if (!send_connect(flags)) {
        free(m);
        pm_begin();
        return coid;
    }
    size_t rest = strlen(m->rest);
    size_t hdr = offsetof(struct _io_connect, path);
    size_t len = hdr + rest + 1;
    struct _io_connect *c = calloc(1, len);
    if (!c) {
        free(m);
        ConnectDetach(coid);
        return pm_fail(ENOMEM, "name_open(): out of memory");
    }
    c->type = _IO_CONNECT;
    c->subtype = _IO_CONNECT_OPEN;
    c->file_type = _FTYPE_NAME;
    c->handle = (uint32_t)m->handle;
    c->ioflag = _IO_FLAG_RD | _IO_FLAG_WR;
    c->path_len = (uint16_t)(rest + 1);
    memcpy(c->path, m->rest, rest + 1);
    free(m);
    long st = MsgSend(coid, c, len, NULL, 0);
    int e = errno;
    free(c);
    if (st < 0) {
        ConnectDetach(coid);
        return pm_fail(e, "name_open(%s): the server refused the connect", name);
    }
    pm_begin();
    return coid;
}

PM_EXPORT int name_close(int coid)
{
    return ConnectDetach(coid);
}
