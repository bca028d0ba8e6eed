/*
 * The recipient's side: find the creator by the name derived from the
 * handle, ask, and believe the answer only when it proves the creator knows
 * the handle.  Every "there is no handle for you" - never made, spent,
 * deleted, someone else's, creator gone, an impostor answering - is one
 * errno, ESRCH, with nothing to tell them apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"

static int no_handle(int s, const char *why)
{
    if (s >= 0)
        close(s);
    return pm_fail(ESRCH, "no handle for this process: %s", why);
}

static int connect_by_name(shm_handle_t h, int64_t deadline)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char name[PM_SHM_NAME_LEN + 1];
    pm_shm_name(h, name);
    memcpy(sa.sun_path + 1, name, PM_SHM_NAME_LEN);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + PM_SHM_NAME_LEN);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return pm_fail(0, "no socket to reach the handle's creator");
    for (;;) {
        if (connect(s, (struct sockaddr *)&sa, len) == 0)
            return s;
        if (errno == ECONNREFUSED || errno == ENOENT)
            return no_handle(s, "nobody serves it (never made, spent, or its creator is gone)");
        if (errno != EAGAIN && errno != EINTR) {
            int e = errno;
            close(s);
            return pm_fail(e, "cannot reach the handle's creator");
        }
        /* The creator's queue is full (someone is flooding it): it drains
         * the queue at once, so try again shortly, until the deadline. */
        if (pm_now_ns() >= deadline) {
            close(s);
            return pm_fail(ETIMEDOUT, "the handle's creator did not take the connection in time");
        }
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

/* Close every descriptor a message brought (an impostor may send many). */
static void close_all(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
}

int pm_shm_redeem(shm_handle_t h, int op, int access, uint32_t *reply_flags)
{
    int64_t deadline = pm_now_ns() + pm_timeout_ns();
    struct pm_shm_req rq = { .magic = PM_SHM_MAGIC, .version = PM_SHM_VERSION,
                             .op = (uint16_t)op, .access = (uint32_t)access };
    if (getrandom(rq.nonce, sizeof rq.nonce, 0) != (ssize_t)sizeof rq.nonce)
        return pm_fail(errno, "no random bits from the kernel");
    int s = connect_by_name(h, deadline);
    if (s < 0)
        return -1;
    if (send(s, &rq, sizeof rq, MSG_NOSIGNAL) != (ssize_t)sizeof rq)
        return no_handle(s, "the creator closed the connection");

    struct pm_shm_reply rp;
    char raw[sizeof rp + 1]; /* one byte more: a longer message is malformed */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } cm;
    struct iovec iov = { raw, sizeof raw };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
    ssize_t n;
    for (;;) {
        int64_t left = deadline - pm_now_ns();
        if (left <= 0)
            return close(s), pm_fail(ETIMEDOUT, "the handle's creator did not answer in time");
        struct pollfd p = { s, POLLIN, 0 };
        int r = poll(&p, 1, (int)(left / 1000000) + 1);
        if (r < 0 && errno != EINTR)
            return close(s), pm_fail(0, "waiting for the handle's creator");
        if (r <= 0)
            continue;
        m.msg_controllen = sizeof cm.buf;
        n = recvmsg(s, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        break;
    }
    close(s);
    if (n <= 0)
        return no_handle(-1, "the creator did not answer this process");
    if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || pm_shm_reply_parse(h, &rq, raw, n, &rp) < 0) {
        close_all(&m);
        return no_handle(-1, "the answer does not come from the handle's creator");
    }
    int fd = -1, extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            extra += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (extra == 1) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    } else if (extra) {
        close_all(&m);
        return no_handle(-1, "malformed answer");
    }
    if (rp.err) {
        if (fd >= 0)
            close(fd);
        return pm_fail(rp.err, rp.err == EACCES
                       ? "refused by the handle's creator: more access than granted, "
                         "a descriptor from a map-only (NOFD) handle, or a read-only "
                         "object it cannot keep read-only for this process"
                       : "the handle's creator refused");
    }
    if (op == PM_SHM_OP_DELETE) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    if (fd < 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) != access) {
        if (fd >= 0)
            close(fd);
        return no_handle(-1, "malformed answer");
    }
    if (reply_flags)
        *reply_flags = rp.flags;
    return fd;
}
