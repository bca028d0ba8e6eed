#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "msg/cmsg.h"

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif

static void close_fd(int fd)
{
    close(fd);
}

int pm_cmsg_fds(const struct msghdr *m, int *fds, int max, void (*drop)(int))
{
    if (!drop)
        drop = close_fd;
    int total = 0;
    if (!m->msg_control)
        return 0;
    /* The walk of CMSG_FIRSTHDR/CMSG_NXTHDR, by offsets that are checked
     * before they are used (glibc's CMSG_NXTHDR adds an unchecked length
     * to a pointer).  The kernel writes consistent headers; this stays in
     * the buffer whatever is there. */
    const unsigned char *base = m->msg_control;
    size_t clen = m->msg_controllen, off = 0;
    while (clen - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, base + off, sizeof h);
        if (h.cmsg_len < CMSG_LEN(0))
            break;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            size_t len = h.cmsg_len - CMSG_LEN(0), room = clen - off - CMSG_LEN(0);
            if (len > room)
                len = room;
            const unsigned char *d = base + off + CMSG_LEN(0);
            for (size_t i = 0; i + sizeof(int) <= len; i += sizeof(int)) {
                int fd;
                memcpy(&fd, d + i, sizeof fd);
                if (total < max)
                    fds[total] = fd;
                else
                    drop(fd);
                total++;
            }
        }
        size_t step = CMSG_ALIGN(h.cmsg_len);
        if (step < h.cmsg_len || step > clen - off)
            break;
        off += step;
    }
    return total;
}

/* The payload of the first SOL_SOCKET control message of `type` whose
 * length is exactly `size` bytes of data, walked by checked offsets as
 * above; NULL when there is none. */
static const unsigned char *find(const struct msghdr *m, int type, size_t size)
{
    if (!m->msg_control)
        return NULL;
    const unsigned char *base = m->msg_control;
    size_t clen = m->msg_controllen, off = 0;
    while (clen - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, base + off, sizeof h);
        if (h.cmsg_len < CMSG_LEN(0))
            break;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == type &&
            h.cmsg_len == CMSG_LEN(size) && clen - off >= CMSG_LEN(size))
            return base + off + CMSG_LEN(0);
        size_t step = CMSG_ALIGN(h.cmsg_len);
        if (step < h.cmsg_len || step > clen - off)
            break;
        off += step;
    }
    return NULL;
}

int pm_cmsg_cred(const struct msghdr *m, struct ucred *cr)
{
    const unsigned char *p = find(m, SCM_CREDENTIALS, sizeof *cr);
    if (!p)
        return 0;
    memcpy(cr, p, sizeof *cr);
    return 1;
}

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

int pm_cmsg_pidfd(const struct msghdr *m)
{
    const unsigned char *p = find(m, SCM_PIDFD, sizeof(int));
    int fd = -1;
    if (p)
        memcpy(&fd, p, sizeof fd);
    return fd;
}

int pm_fd_is_memfile(int fd)
{
    /* Only shmem and hugetlbfs files have seals: one fcntl() says it. */
    return fcntl(fd, F_GET_SEALS) >= 0;
}
