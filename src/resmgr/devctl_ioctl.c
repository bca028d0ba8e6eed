/*
 * devctl() on a descriptor that is not a connection of ours: an ioctl().
 *
 * A program that open()s a path of the FUSE export (peermap export, or a
 * --link such as /dev/sample) holds an ordinary file descriptor, not a
 * connection to the manager; QNX code then calls devctl() on it as it
 * would on QNX.  The export turns ioctls into _IO_DEVCTL, so devctl() here
 * sends the command as an ioctl whose number is the command with QNX's two
 * direction bits swapped into Linux's (<devctl.h>, PEERMAP_DCMD_TO_IOCTL):
 * the class becomes the ioctl's type, the command its number, the size its
 * size.  The kernel copies exactly that size to and from the caller's
 * buffer (FUSE allows only such "restricted" ioctls outside CUSE), so the
 * data goes through a buffer of that size here: a shorter n_bytes is
 * padded with zeros on the way out and truncated on the way back; a longer
 * one travels only as far as the command's size says.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <devctl.h>
#include <sys/neutrino.h>

#include "common/internal.h"
#include "resmgr/devctl_ioctl.h"

/* Copy up to n bytes out of / into an iovec list; the bytes copied. */
static size_t gather(void *dst, size_t n, const struct iovec *v, int parts)
{
    size_t at = 0;
    for (int i = 0; i < parts && at < n; i++) {
        size_t k = v[i].iov_len < n - at ? v[i].iov_len : n - at;
        if (k)
            memcpy((char *)dst + at, v[i].iov_base, k);
        at += k;
    }
    return at;
}

static void scatter(const struct iovec *v, int parts, const void *src, size_t n)
{
    size_t at = 0;
    for (int i = 0; i < parts && at < n; i++) {
        size_t k = v[i].iov_len < n - at ? v[i].iov_len : n - at;
        if (k)
            memcpy(v[i].iov_base, (const char *)src + at, k);
        at += k;
    }
}

int pm_devctl_ioctl(int fd, int dcmd, int sparts, int rparts, const struct iovec *sv,
                    const struct iovec *rv, int *dev_info_ptr)
{
    unsigned cmd = PEERMAP_DCMD_TO_IOCTL((unsigned)dcmd);
    size_t size = (size_t)(((unsigned)dcmd >> 16) & 0x3fffu);
    unsigned char stack[256];
    unsigned char *buf = size <= sizeof stack ? stack : calloc(1, size);
    if (!buf) {
        pm_fail(ENOMEM, "out of memory");
        return ENOMEM;
    }
    if (buf == stack)
        memset(stack, 0, sizeof stack);
    if (get_device_direction((unsigned)dcmd) & DEVDIR_TO)
        gather(buf, size, sv, sparts);
    int r = ioctl(fd, cmd, buf);
    int e = errno;
    if (r >= 0 && (get_device_direction((unsigned)dcmd) & DEVDIR_FROM))
        scatter(rv, rparts, buf, size);
    if (buf != stack)
        free(buf);
    if (r < 0) {
        pm_fail_over(e, "ioctl %#x (devctl %#x) on descriptor %d: %s", cmd,
                     (unsigned)dcmd, fd, strerror(e));
        return e;
    }
    if (dev_info_ptr)
        *dev_info_ptr = r;
    return EOK;
}
