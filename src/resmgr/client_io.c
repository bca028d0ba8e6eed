/*
 * The client side of a resource manager: I/O on a descriptor pm_open()
 * returned.  Each call is one QNX I/O message sent with MsgSend() on the
 * descriptor (which is the connection): _IO_READ, _IO_WRITE, _IO_LSEEK,
 * _IO_STAT.  The manager's MsgError() becomes errno.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/client.h"

/* After a failed MsgSend() on fd.  MsgSend() says EBADF both for a
 * descriptor that is no connection and for one whose manager has gone
 * (QNX's rule), and a manager may answer EBADF itself (a write on a
 * read-only open); these calls promise ESRCH for the second (pm_open(3)). */
static long io_failed(int fd)
{
    if (errno == EBADF && pm_cconn_gone(fd))
        return pm_fail(ESRCH, "the manager of fd %d is gone", fd);
    return -1;
}

/* io_read_t and io_write_t share their header's shape: the plain form, or
 * the 64-bit one when the count needs more than 32 bits. */
#define SET_RW_HEADER(msg, type32, type64, n)                                \
    do {                                                                     \
        memset((msg), 0, sizeof *(msg));                                     \
        if ((uint64_t)(n) > UINT32_MAX) {                                    \
            (msg)->i64.type = (type64);                                      \
            (msg)->i64.combine_len = sizeof (msg)->i64;                      \
            (msg)->i64.nbytes = (uint32_t)(n);                               \
            (msg)->i64.nbytes_hi = (uint32_t)((uint64_t)(n) >> 32);          \
        } else {                                                             \
            (msg)->i.type = (type32);                                        \
            (msg)->i.combine_len = sizeof (msg)->i;                          \
            (msg)->i.nbytes = (uint32_t)(n);                                 \
        }                                                                    \
        /* xtype stays _IO_XTYPE_NONE (0) */                                 \
    } while (0)

PM_EXPORT ssize_t pm_read(int fd, void *buf, size_t n)
{
    pm_begin();
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (n && !buf)
        return pm_fail(EFAULT, "buffer is NULL");
    io_read_t msg;
    SET_RW_HEADER(&msg, _IO_READ, _IO_READ64, n);
    long st = MsgSend(fd, &msg, sizeof msg.i, buf, n);
    if (st < 0)
        return io_failed(fd);
    if ((unsigned long)st > n)
        return pm_fail_over(EIO, "the manager claims %ld bytes for a read of %zu",
                            st, n);
    return (ssize_t)st;
}

PM_EXPORT ssize_t pm_write(int fd, const void *buf, size_t n)
{
    pm_begin();
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (n && !buf)
        return pm_fail(EFAULT, "buffer is NULL");
    io_write_t msg;
    SET_RW_HEADER(&msg, _IO_WRITE, _IO_WRITE64, n);
    iov_t iov[2];
    SETIOV(&iov[0], &msg, sizeof msg.i);
    SETIOV(&iov[1], buf, n);
    /* No reply data: an empty reply vector (not NULL). */
    iov_t none;
    SETIOV(&none, NULL, 0);
    long st = MsgSendv(fd, iov, n ? 2 : 1, &none, 1);
    if (st < 0)
        return io_failed(fd);
    if ((unsigned long)st > n)
        return pm_fail_over(EIO, "the manager claims %ld bytes for a write of %zu",
                            st, n);
    return (ssize_t)st;
}

PM_EXPORT off_t pm_lseek(int fd, off_t off, int whence)
{
    pm_begin();
    io_lseek_t msg;
    memset(&msg, 0, sizeof msg);
    msg.i.type = _IO_LSEEK;
    msg.i.combine_len = sizeof msg.i;
    msg.i.whence = (short)whence;
    msg.i.offset = (uint64_t)off;
    /* The new offset comes back as the reply's data (QNX's io_lseek_t o);
     * a manager that answers with the status alone is understood too. */
    uint64_t result = UINT64_MAX;
    long st = MsgSend(fd, &msg.i, sizeof msg.i, &result, sizeof result);
    if (st == -1)
        return io_failed(fd);
    if (result == UINT64_MAX) {
        if (st < 0)
            return pm_fail_over(EIO, "the manager's lseek answer %ld is not an "
                                "offset", st);
        return (off_t)st;
    }
    if (result > (uint64_t)INT64_MAX)
        return pm_fail_over(EOVERFLOW, "the manager's offset does not fit in off_t");
    return (off_t)result;
}

PM_EXPORT int pm_fstat(int fd, struct stat *st)
{
    pm_begin();
    if (!st)
        return pm_fail(EFAULT, "stat buffer is NULL");
    io_stat_t msg;
    memset(&msg, 0, sizeof msg);
    msg.i.type = _IO_STAT;
    msg.i.combine_len = sizeof msg.i;
    msg.i.format = _STAT_FORM_UNSET;   /* the reply is Linux's struct stat */
    struct stat tmp;
    memset(&tmp, 0, sizeof tmp);
    if (MsgSend(fd, &msg.i, sizeof msg.i, &tmp, sizeof tmp) == -1)
        return (int)io_failed(fd);
    *st = tmp;
    return 0;
}

/* The export's reads (client.h): the reply left in the server's memory
 * file when it came in one and `at` is asked for (msg.h,
 * pm_msg_reply_in_place()); the count no more than the bytes the manager
 * sent.  -1 (errno from MsgSend()), or the count. */
static long read_send(int fd, const void *msg, size_t len, void *buf, size_t n,
                      struct pm_read_place *at)
{
    if (at) {
        pm_msg_reply_in_place(&at->view);
        pm_msg_reply_in_place_take(&at->map);
    }
    long st = MsgSend(fd, msg, len, buf, n);
    if (at)
        pm_msg_reply_in_place(NULL);  /* whatever path MsgSend() took */
    if (st >= 0 && (unsigned long)st > n)
        st = pm_fail_over(EIO, "the manager claims %ld bytes for a read of %zu", st, n);
    else if (st >= 0 && (uint64_t)st > pm_msg_reply_got())
        st = (long)pm_msg_reply_got();
    if (at && st < 0)
        pm_read_place_done(fd, at);
    return st;
}

void pm_read_place_done(int fd, struct pm_read_place *at)
{
    int e = errno;
    at->view = NULL;
    pm_msg_reply_view_return(fd, &at->map);
    errno = e;
}

ssize_t pm_read_view(int fd, void *buf, size_t n, struct pm_read_place *at)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    io_read_t msg;
    SET_RW_HEADER(&msg, _IO_READ, _IO_READ64, n);
    long st = read_send(fd, &msg, sizeof msg.i, buf, n, at);
    if (st < 0 && errno == EBADF)
        return io_failed(fd);
    return (ssize_t)st;
}

ssize_t pm_read_at_view(int fd, void *buf, size_t n, off_t off, struct pm_read_place *at)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    struct {
        struct _io_read r;
        struct _xtype_offset x;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.r.type = _IO_READ;
    msg.r.combine_len = sizeof msg;
    msg.r.nbytes = (uint32_t)n;
    msg.r.xtype = _IO_XTYPE_OFFSET;
    msg.x.offset = (int64_t)off;
    return read_send(fd, &msg, sizeof msg, buf, n, at);
}

ssize_t pm_write_at(int fd, const void *buf, size_t n, off_t off)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    struct {
        struct _io_write w;
        struct _xtype_offset x;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.w.type = _IO_WRITE;
    msg.w.combine_len = sizeof msg;
    msg.w.nbytes = (uint32_t)n;
    msg.w.xtype = _IO_XTYPE_OFFSET;
    msg.x.offset = (int64_t)off;
    iov_t iov[2], none;
    SETIOV(&iov[0], &msg, sizeof msg);
    SETIOV(&iov[1], (void *)buf, n);
    SETIOV(&none, NULL, 0);
    long st = MsgSendv(fd, iov, n ? 2 : 1, &none, 1);
    if (st < 0)
        return -1;
    if ((unsigned long)st > n)
        return pm_fail_over(EIO, "the manager claims %ld bytes for a write of %zu", st, n);
    return (ssize_t)st;
}
