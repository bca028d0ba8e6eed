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
    if (!m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
        return 0;
    const unsigned char *base = m->msg_control, *end = base + m->msg_controllen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)m); c;
         c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        const unsigned char *hdr = (const unsigned char *)c;
        if (c->cmsg_len < CMSG_LEN(0) || (size_t)(end - hdr) < CMSG_LEN(0))
            break;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        /* The data the header claims, but never past the buffer. */
        size_t len = c->cmsg_len - CMSG_LEN(0);
        size_t room = (size_t)(end - CMSG_DATA(c));
        if (len > room)
            len = room;
        const unsigned char *d = CMSG_DATA(c);
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
    return total;
}

int pm_fd_is_memfile(int fd)
{
    /* Only shmem and hugetlbfs files have seals: one fcntl() says it. */
    return fcntl(fd, F_GET_SEALS) >= 0;
}
