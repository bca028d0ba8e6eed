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

int pm_cmsg_cred(const struct msghdr *m, struct ucred *cr)
{
    if (!m->msg_control)
        return 0;
    const unsigned char *base = m->msg_control;
    size_t clen = m->msg_controllen, off = 0;
    while (clen - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, base + off, sizeof h);
        if (h.cmsg_len < CMSG_LEN(0))
            break;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_CREDENTIALS &&
            h.cmsg_len == CMSG_LEN(sizeof *cr) && clen - off >= CMSG_LEN(sizeof *cr)) {
            memcpy(cr, base + off + CMSG_LEN(0), sizeof *cr);
            return 1;
        }
        size_t step = CMSG_ALIGN(h.cmsg_len);
        if (step < h.cmsg_len || step > clen - off)
            break;
        off += step;
    }
    return 0;
}

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

int pm_cmsg_pidfd(const struct msghdr *m)
{
    if (!m->msg_control)
        return -1;
    const unsigned char *base = m->msg_control;
    size_t clen = m->msg_controllen, off = 0;
    while (clen - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, base + off, sizeof h);
        if (h.cmsg_len < CMSG_LEN(0))
            break;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_PIDFD &&
            h.cmsg_len == CMSG_LEN(sizeof(int)) && clen - off >= CMSG_LEN(sizeof(int))) {
            int fd;
            memcpy(&fd, base + off + CMSG_LEN(0), sizeof fd);
            return fd;
        }
        size_t step = CMSG_ALIGN(h.cmsg_len);
        if (step < h.cmsg_len || step > clen - off)
            break;
        off += step;
    }
    return -1;
}

int pm_fd_is_memfile(int fd)
{
    /* Only shmem and hugetlbfs files have seals: one fcntl() says it. */
    return fcntl(fd, F_GET_SEALS) >= 0;
}
