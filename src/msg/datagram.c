#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/copy.h"
#include "common/internal.h"
#include "msg/msg.h"

/* fork() gives the child a copy of the forking thread's cache, with the
 * parent's thread id in it: the child handler makes every cache stale. */
static atomic_uint fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void bump_fork_gen(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, bump_fork_gen);
}

unsigned pm_fork_gen(void)
{
    pthread_once(&atfork_once, install_atfork);
    return atomic_load(&fork_gen);
}

int32_t pm_self_tid(void)
{
    static _Thread_local int32_t tid;
    static _Thread_local unsigned gen;
    unsigned now = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    if (gen != now) {
        pthread_once(&atfork_once, install_atfork);
        tid = (int32_t)gettid();
        gen = atomic_load(&fork_gen);
    }
    return tid;
}

size_t pm_iov_total(const iov_t *iov, size_t parts)
{
    size_t t = 0;
    for (size_t i = 0; i < parts; i++)
        t += iov[i].iov_len;
    return t;
}

size_t pm_iov_scatter(const iov_t *iov, size_t parts, size_t off,
                      const void *src, size_t len)
{
    const unsigned char *s = src;
    size_t done = 0;
    for (size_t i = 0; i < parts && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - off;
        if (n > len - done)
            n = len - done;
        pm_copy((unsigned char *)iov[i].iov_base + off, s + done, n);
        done += n;
        off = 0;
    }
    return done;
}

ssize_t pm_sendmsg_fds(int sock, const iov_t *iov, size_t parts, const int *fds, int nfds,
                       int flags)
{
    union { struct cmsghdr align; char b[CMSG_SPACE(2 * sizeof(int))]; } cm;
    struct msghdr m = { .msg_iov = (iov_t *)iov, .msg_iovlen = parts };
    if (nfds > 2) {
        errno = EINVAL;
        return -1;
    }
    if (nfds > 0) {
        m.msg_control = cm.b;
        m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    ssize_t r;
    do
        r = sendmsg(sock, &m, MSG_NOSIGNAL | flags);
    while (r < 0 && errno == EINTR);
    return r;
}

#define SMALL_DATAGRAM 512

int pm_send_datagram(int fd, const void *hdr, size_t hlen, uint32_t *hdr_off,
                     const iov_t *iov, size_t parts, uint64_t total, uint32_t off,
                     struct pm_bodyfile *cache)
{
    struct msghdr m = { 0 };
    ssize_t r;

    if (total + hlen <= SMALL_DATAGRAM) {
        /* Small: one buffer and send(), which costs the kernel less than
         * sendmsg()'s message header and vector. */
        unsigned char buf[SMALL_DATAGRAM];
        memcpy(buf, hdr, hlen);
        size_t at = hlen;
        for (size_t i = 0; i < parts; i++) {
            memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
            at += iov[i].iov_len;
        }
        do
            r = send(fd, buf, at, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        return r < 0 ? -1 : 0;
    }
    if (total <= PM_WIRE_INLINE_MAX) {
        iov_t stack[16];
        iov_t *v = parts + 1 <= 16 ? stack : malloc((parts + 1) * sizeof *v);
        if (!v)
            return pm_fail(ENOMEM, "out of memory");
        v[0].iov_base = (void *)hdr;
        v[0].iov_len = hlen;
        size_t n = 1;
        for (size_t i = 0; i < parts; i++)
            if (iov[i].iov_len)
                v[n++] = iov[i];
        m.msg_iov = v;
        m.msg_iovlen = n;
        do
            r = sendmsg(fd, &m, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (v != stack)
            free(v);
        return r < 0 ? -1 : 0;
    }

    /* A large body goes in a memory file, through our mapping of it, at
     * `off`: the caller chose where the receiver's copy out is fast. */
    off %= PM_WIRE_BODY_OFF_MAX;
    struct pm_bodyfile once = PM_BODYFILE_INIT;
    struct pm_bodyfile *b = cache && total + off <= PM_BODY_CACHE_MAX ? cache : &once;
    if (total > SIZE_MAX - off || pm_bodyfile_reserve(b, (size_t)(total + off)) < 0)
        return pm_fail(errno == EMFILE || errno == ENFILE ? EAGAIN : ENOMEM,
                       "cannot stage a %llu-byte message: %m", (unsigned long long)total);
    size_t at = off;
    for (size_t i = 0; i < parts; i++) {
        pm_copy(b->map + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    *hdr_off = off;
    iov_t h = { (void *)hdr, hlen };
    r = pm_sendmsg_fds(fd, &h, 1, &b->fd, 1, 0);
    int e = errno;
    if (b == &once)
        pm_bodyfile_drop(&once);
    errno = e;
    return r < 0 ? -1 : 0;
}
