/*
 * The client side of a resource manager: pm_open() and pm_close().
 *
 * pm_open() does what QNX's open() does through the process manager, with
 * the path space (pathspace.h) in the process manager's place: find the
 * manager that attached the longest prefix of the path, connect to its
 * channel, and send it an _IO_CONNECT message (subtype _IO_CONNECT_OPEN)
 * carrying the rest of the path.  The manager answers EOK (the open is bound
 * to our connection) or an errno.  The connection's id is a real socket
 * descriptor, so the caller can poll()/select() on it, and every later
 * message (pm_read(), devctl()...) goes to the manager over it.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "resmgr/client.h"
#include "resmgr/pathspace.h"

/* QNX's <share.h>: the share mode a plain open() asks for ("deny none"). */
#define PM_SH_DENYNO 0x40

/* The connect message with room for the longest path. */
struct connect_msg {
    struct _io_connect c;
    char room[PATH_MAX];
};

/* What a manager may send back to a connect: a status, or a (link) reply we
 * do not follow, which must still fit. */
union connect_reply {
    struct _io_connect_link_reply link;
    struct _io_connect_ftype_reply ftype;
    char room[256];
};

/* The resmgr_attach() id the manager gave the path: it goes into
 * _io_connect.handle so that a manager with several attaches knows which
 * one the open is for. */
static uint32_t entry_handle(const struct pm_ps_match *m)
{
    return m->handle < 0 ? 0u : (uint32_t)m->handle;
}

uint32_t pm_open_ioflag(int oflag)
{
    /* QNX's encoding: the access mode plus one gives the _IO_FLAG_RD/WR
     * bits; the other O_* flags go as they are (O_CLOEXEC is ours, not the
     * open's). */
    int acc = oflag & O_ACCMODE;
    unsigned rest = (unsigned)oflag & ~(unsigned)O_ACCMODE & ~(unsigned)O_CLOEXEC;
    return rest | (unsigned)(acc + 1);
}

int pm_open_on(int coid, const struct pm_ps_match *m, const char *path, uint32_t ioflag,
               uint32_t mode)
{
    size_t rest_len = strlen(m->rest) + 1;
    if (rest_len > UINT16_MAX)
        return pm_fail(ENAMETOOLONG, "path too long for a connect message");
    struct connect_msg *msg = calloc(1, sizeof *msg);
    if (!msg)
        return pm_fail(ENOMEM, "out of memory");
    union connect_reply reply;
    memset(&reply, 0, sizeof reply);
    msg->c.type = _IO_CONNECT;
    msg->c.subtype = _IO_CONNECT_OPEN;
    msg->c.file_type = _FTYPE_ANY;
    msg->c.reply_max = (uint16_t)sizeof reply;
    msg->c.entry_max = 0;
    msg->c.key = 0;
    msg->c.handle = entry_handle(m);
    msg->c.ioflag = ioflag;
    msg->c.mode = mode;
    msg->c.sflag = PM_SH_DENYNO;
    msg->c.access = 0;
    msg->c.path_len = (uint16_t)rest_len;
    msg->c.eflag = 0;
    msg->c.extra_type = _IO_CONNECT_EXTRA_NONE;
    msg->c.extra_len = 0;
    memcpy(msg->c.path, m->rest, rest_len);

    long st = MsgSend(coid, &msg->c, offsetof(struct _io_connect, path) + rest_len,
                      &reply, sizeof reply);
    free(msg);
    if (st == -1) {
        int e = errno;
        /* The server's answer, or the failure of the exchange itself. */
        if (e == EBADF || e == ESRCH)
            return pm_fail_over(ENOENT, "%s: its manager (pid %d) went away during "
                                "the open", path, (int)m->pid);
        return pm_fail_over(e, "%s: the manager (pid %d) refused the open: %s",
                            path, (int)m->pid, strerror(e));
    }
    if (st < 0) {
        /* An _IO_CONNECT_RET_* answer: a redirection (link or symlink
         * reply) that this client does not follow. */
        return pm_fail_over(ENOTSUP, "%s: the manager (pid %d) redirected the open "
                            "(connect status %#lx), which is not followed",
                            path, (int)m->pid, (unsigned long)st);
    }
    return 0;
}

PM_EXPORT int pm_open(const char *path, int oflag, ...)
{
    pm_begin();
    mode_t mode = 0;
    if (oflag & O_CREAT) {
        va_list ap;
        va_start(ap, oflag);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (!path)
        return pm_fail(EFAULT, "path is NULL");
    if (path[0] == '\0')
        return pm_fail(ENOENT, "empty path");
    if ((oflag & O_ACCMODE) == O_ACCMODE)
        return pm_fail(EINVAL, "open mode 3 is none of O_RDONLY, O_WRONLY, O_RDWR");

    struct pm_ps_match *m = malloc(sizeof *m);
    if (!m)
        return pm_fail(ENOMEM, "out of memory");
    int fd = -1;
    if (pm_pathspace_resolve_cached(path, m) < 0)
        goto out;   /* ENOENT (nobody serves it), EACCES, EINVAL... */
    if (strlen(m->rest) + 1 > UINT16_MAX) {
        pm_fail(ENAMETOOLONG, "path too long for a connect message");
        goto out;
    }

    /* ENOENT when the manager went away between resolving and connecting,
     * or its channel is someone else's now: for the caller nobody serves
     * the path.  A result from the cache that fails so is forgotten and
     * the path resolved afresh. */
    fd = pm_pathspace_connect(m, (oflag & O_CLOEXEC) ? _NTO_COF_CLOEXEC : 0);
    if (fd < 0 && m->cached) {
        pm_pathspace_forget(m);
        pm_begin();
        if (pm_pathspace_resolve_cached(path, m) < 0)
            goto out;
        fd = pm_pathspace_connect(m, (oflag & O_CLOEXEC) ? _NTO_COF_CLOEXEC : 0);
    }
    if (fd < 0)
        goto out;
    uint32_t cmode = (oflag & O_CREAT) ? (uint32_t)(S_IFREG | (mode & 07777)) : 0;
    if (pm_open_on(fd, m, path, pm_open_ioflag(oflag), cmode) < 0) {
        int e = errno;
        ConnectDetach(fd);
        errno = e;
        fd = -1;
        goto out;
    }
    pm_begin();
out:
    free(m);
    return fd;
}

PM_EXPORT int pm_close(int fd)
{
    pm_begin();
    struct _io_close msg = { .type = _IO_CLOSE, .combine_len = sizeof msg };
    long st = MsgSend(fd, &msg, sizeof msg, NULL, 0);
    int e = errno;
    if (ConnectDetach(fd) < 0) {
        /* Not a connection at all (never opened, or closed already). */
        return pm_fail_over(EBADF, "descriptor %d is not open on a manager", fd);
    }
    if (st == -1) {
        /* The connection is gone either way; a server that no longer
         * exists has nothing to close, so that is not an error. */
        if (e == ESRCH || e == EBADF) {
            pm_begin();
            return 0;
        }
        return pm_fail_over(e, "the manager's close failed: %s", strerror(e));
    }
    pm_begin();
    return 0;
}
