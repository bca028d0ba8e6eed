/*
 * libFuzzer target: pm_cmsg_fds() (src/msg/cmsg.c), which takes the
 * descriptors that came with a datagram from another process.  The kernel
 * writes the control buffer, but its contents (how many descriptors, in
 * how many control messages, mixed with what) are the sender's choice, and
 * a receive path that misses one leaks it for good.
 *
 * Input: byte 0 = max (0..3 descriptors kept), the rest = the control
 * buffer as recvmsg() would leave it (msg_controllen = its length).
 * Descriptor values are just ints here: "closing" one records it.
 *
 * pm_cmsg_cred() and pm_cmsg_pidfd() are run on the same buffer (no read
 * outside it).
 *
 * Properties: no crash or sanitizer report (the buffer sits alone in an
 * allocation of exactly its size); every int that lies inside a
 * SOL_SOCKET/SCM_RIGHTS control message - walking the headers as
 * CMSG_NXTHDR does, at CMSG_ALIGN(cmsg_len) steps while a whole header
 * fits - is either kept (the first `max`, in order) or dropped, exactly
 * once; nothing else is dropped; the count returned is all of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "msg/cmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXFDS 4096
static int dropped[MAXFDS];
static int ndropped;

static void drop(int fd)
{
    if (ndropped < MAXFDS)
        dropped[ndropped] = fd;
    ndropped++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int max = data[0] % 4;
    size_t clen = size - 1;
    unsigned char *ctl = clen ? malloc(clen) : NULL;
    if (clen && !ctl)
        return 0;
    if (clen)
        memcpy(ctl, data + 1, clen);
    struct msghdr m = { .msg_control = ctl, .msg_controllen = clen };

    /* What must be found: every int of every SOL_SOCKET/SCM_RIGHTS
     * message, walking headers at CMSG_ALIGN(cmsg_len) steps for as long
     * as a whole header fits, a message's data cut at the buffer's end. */
    int expect[MAXFDS];
    int nexpect = 0;
    for (size_t off = 0; off + sizeof(struct cmsghdr) <= clen;) {
        struct cmsghdr h;
        memcpy(&h, ctl + off, sizeof h);
        if (h.cmsg_len < sizeof(struct cmsghdr))
            break;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            size_t start = off + sizeof(struct cmsghdr);
            size_t stop = h.cmsg_len > clen - off ? clen : off + h.cmsg_len;
            for (size_t at = start; at + sizeof(int) <= stop && nexpect < MAXFDS;
                 at += sizeof(int))
                memcpy(&expect[nexpect++], ctl + at, sizeof(int));
        }
        size_t next = (h.cmsg_len + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1);
        if (next < h.cmsg_len || next > clen - off)
            break;
        off += next;
    }

    /* pm_cmsg_cred() and pm_cmsg_pidfd() walk the same buffer: no read
     * outside it. */
    struct ucred cr;
    (void)pm_cmsg_cred(&m, &cr);
    (void)pm_cmsg_pidfd(&m);

    int kept[4] = { -1, -1, -1, -1 };
    ndropped = 0;
    int n = pm_cmsg_fds(&m, kept, max, drop);
    if (nexpect < MAXFDS) {
        if (n != nexpect)
            abort();
        int k = n < max ? n : max;
        for (int i = 0; i < k; i++)
            if (kept[i] != expect[i])
                abort(); /* kept: the first ones, in order */
        if (ndropped != n - k)
            abort(); /* everything else dropped, once */
        for (int i = 0; i < ndropped; i++)
            if (dropped[i] != expect[k + i])
                abort();
        for (int i = k; i < 4; i++)
            if (kept[i] != -1)
                abort(); /* nothing written past what was kept */
    }
    free(ctl);
    return 0;
}
