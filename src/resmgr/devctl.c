/*
 * devctl() and devctlv(): an _IO_DEVCTL message on a descriptor pm_open()
 * returned.  As on QNX, the data goes to the manager only when the command
 * has DEVDIR_TO, and comes back only when it has DEVDIR_FROM; the result is
 * EOK or an errno value, and errno is left alone.  On any other descriptor
 * (a plain open() of a path the FUSE export serves) the command goes as an
 * ioctl (devctl_ioctl.c).
 */
#include <stdlib.h>
#include <string.h>

#include <devctl.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/devctl_ioctl.h"

#define DEVCTL_MAX_PARTS 1024

static size_t iov_len(const struct iovec *v, int parts)
{
    size_t n = 0;
    for (int i = 0; i < parts; i++)
        n += v[i].iov_len;
    return n;
}

PM_EXPORT int devctlv(int fd, int dcmd, int sparts, int rparts, const struct iovec *sv,
                      const struct iovec *rv, int *dev_info_ptr)
{
    int saved = errno;
    pm_begin();
    unsigned dir = get_device_direction((unsigned)dcmd);
    if (!(dir & DEVDIR_TO))
        sparts = 0;
    if (!(dir & DEVDIR_FROM))
        rparts = 0;
    if (sparts < 0 || rparts < 0 || sparts > DEVCTL_MAX_PARTS ||
        rparts > DEVCTL_MAX_PARTS || (sparts && !sv) || (rparts && !rv)) {
        pm_fail(EINVAL, "bad I/O vectors");
        errno = saved;
        return EINVAL;
    }
    struct pm_cconn *cc = pm_cconn_get(fd);
    if (!cc) {
        /* Not a connection: an ordinary descriptor. */
        int r = pm_devctl_ioctl(fd, dcmd, sparts, rparts, sv, rv, dev_info_ptr);
        errno = saved;
        return r;
    }
    pm_cconn_put(cc);
    size_t sbytes = iov_len(sv, sparts), rbytes = iov_len(rv, rparts);
    size_t n = sbytes > rbytes ? sbytes : rbytes;
    if (n > UINT32_MAX) {
        pm_fail(EINVAL, "more than 4 GiB of device data");
        errno = saved;
        return EINVAL;
    }

    io_devctl_t hdr;
    struct _io_devctl_reply rhdr;
    memset(&hdr, 0, sizeof hdr);
    memset(&rhdr, 0, sizeof rhdr);
    hdr.i.type = _IO_DEVCTL;
    hdr.i.combine_len = sizeof hdr.i;
    hdr.i.dcmd = dcmd;
    hdr.i.nbytes = (uint32_t)n;
    hdr.i.zero = 0;

    iov_t stack_s[9], stack_r[9];
    iov_t *s = sparts + 1 <= 9 ? stack_s : malloc((size_t)(sparts + 1) * sizeof *s);
    iov_t *r = rparts + 1 <= 9 ? stack_r : malloc((size_t)(rparts + 1) * sizeof *r);
    if (!s || !r) {
        if (s != stack_s)
            free(s);
        if (r != stack_r)
            free(r);
        pm_fail(ENOMEM, "out of memory");
        errno = saved;
        return ENOMEM;
    }
    SETIOV(&s[0], &hdr.i, sizeof hdr.i);
    if (sparts)
        memcpy(s + 1, sv, (size_t)sparts * sizeof *s);
    SETIOV(&r[0], &rhdr, sizeof rhdr);
    if (rparts)
        memcpy(r + 1, rv, (size_t)rparts * sizeof *r);

    long st = MsgSendv(fd, s, (size_t)sparts + 1, r, (size_t)rparts + 1);
    int e = errno;
    if (s != stack_s)
        free(s);
    if (r != stack_r)
        free(r);
    errno = saved;
    if (st == -1)
        return e ? e : EIO;
    if (dev_info_ptr)
        *dev_info_ptr = rhdr.ret_val;
    return EOK;
}

PM_EXPORT int devctl(int fd, int dcmd, void *dev_data_ptr, size_t n_bytes, int *dev_info_ptr)
{
    struct iovec v = { dev_data_ptr, n_bytes };
    int parts = (n_bytes && dev_data_ptr) ? 1 : 0;
    return devctlv(fd, dcmd, parts, parts, &v, &v, dev_info_ptr);
}
