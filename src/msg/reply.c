/*
 * Answering a message: reading more of it, writing into the client's reply
 * buffer, and the reply itself.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/msg.h"

/* Make room in the reply being built: never past what the client can take. */
static int reply_reserve(struct pm_sconn *c, uint64_t end)
{
    if (end <= c->reply_cap)
        return 0;
    uint64_t cap = c->reply_cap ? c->reply_cap : 256;
    while (cap < end)
        cap *= 2;
    if (cap > c->dstlen)
        cap = c->dstlen;
    unsigned char *r = realloc(c->reply, (size_t)cap);
    if (!r)
        return -1;
    memset(r + c->reply_cap, 0, (size_t)(cap - c->reply_cap));
    c->reply = r;
    c->reply_cap = cap;
    return 0;
}

/* Put iov's bytes at `off` of the reply; returns how many fitted. */
static ssize_t reply_put(struct pm_sconn *c, const iov_t *iov, size_t parts, size_t off)
{
    uint64_t len = pm_iov_total(iov, parts);
    if (off >= c->dstlen)
        return 0;
    if (len > c->dstlen - off)
        len = c->dstlen - off;
    if (len == 0)
        return 0;
    if (reply_reserve(c, off + len) < 0)
        return pm_fail(ENOMEM, "out of memory for a %llu-byte reply",
                       (unsigned long long)(off + len));
    uint64_t done = 0;
    for (size_t i = 0; i < parts && done < len; i++) {
        size_t n = iov[i].iov_len;
        if (n > len - done)
            n = (size_t)(len - done);
        memcpy(c->reply + off + done, iov[i].iov_base, n);
        done += n;
    }
    if (off + len > c->reply_len)
        c->reply_len = off + len;
    return (ssize_t)len;
}

PM_EXPORT ssize_t MsgWritev(rcvid_t rcvid, const iov_t *iov, size_t parts, size_t offset)
{
    struct pm_channel *ch;
    pm_begin();
    struct pm_sconn *c = pm_rcvid_lookup(rcvid, &ch);
    if (!c)
        return -1;
    ssize_t n = reply_put(c, iov, parts, offset);
    pm_rcvid_release(ch);
    return n;
}

PM_EXPORT ssize_t MsgWrite(rcvid_t rcvid, const void *msg, size_t bytes, size_t offset)
{
    iov_t v = { (void *)msg, bytes };
    return MsgWritev(rcvid, &v, 1, offset);
}

PM_EXPORT ssize_t MsgReadv(rcvid_t rcvid, const iov_t *riov, size_t rparts, size_t offset)
{
    struct pm_channel *ch;
    pm_begin();
    struct pm_sconn *c = pm_rcvid_lookup(rcvid, &ch);
    if (!c)
        return -1;
    size_t want = pm_iov_total(riov, rparts);
    ssize_t got = 0;
    if (offset < c->srclen) {
        if (want > c->srclen - offset)
            want = (size_t)(c->srclen - offset);
        if (c->inline_body) {
            got = (ssize_t)pm_iov_scatter(riov, rparts, 0, c->inline_body + offset, want);
        } else {
            /* From the memfd, piece by piece into the caller's buffers. */
            size_t done = 0;
            for (size_t i = 0; i < rparts && done < want; i++) {
                size_t n = riov[i].iov_len;
                if (n > want - done)
                    n = want - done;
                ssize_t r = pread(c->body_fd, riov[i].iov_base, n, (off_t)(offset + done));
                if (r <= 0)
                    break; /* the client shrank its own file: short read */
                done += (size_t)r;
                if ((size_t)r < n)
                    break;
            }
            got = (ssize_t)done;
        }
    }
    pm_rcvid_release(ch);
    return got;
}

PM_EXPORT ssize_t MsgRead(rcvid_t rcvid, void *msg, size_t bytes, size_t offset)
{
    iov_t v = { msg, bytes };
    return MsgReadv(rcvid, &v, 1, offset);
}

PM_EXPORT int MsgInfo(rcvid_t rcvid, struct _msg_info *info)
{
    struct pm_channel *ch;
    pm_begin();
    struct pm_sconn *c = pm_rcvid_lookup(rcvid, &ch);
    if (!c)
        return -1;
    if (pm_sconn_check_unblock(ch, c) < 0) {
        pm_rcvid_release(ch);
        return pm_fail(ESRCH, "rcvid %ld: the client was unblocked (EINTR)", (long)rcvid);
    }
    int slot = (int)(c - ch->conns);
    memset(info, 0, sizeof *info);
    info->pid = c->pid;
    info->tid = c->tid;
    info->chid = ch->chid;
    info->scoid = PM_SCOID(ch->chid, slot);
    info->coid = c->coid;
    info->srcmsglen = c->srclen > INT32_MAX ? INT32_MAX : (int32_t)c->srclen;
    info->msglen = info->srcmsglen;
    info->dstmsglen = c->dstlen > INT32_MAX ? INT32_MAX : (int32_t)c->dstlen;
    if (c->unblock_req)
        info->flags |= _NTO_MI_UNBLOCK_REQ;
    pm_rcvid_release(ch);
    return 0;
}

/*
 * The memfd a large reply goes in is kept per connection (the next large
 * reply reuses it).  What is kept counts against the client's user
 * (limits.c): over its share, the reply travels in a file of its own that
 * is gone once the client has read it.  The cache pointer to hand to
 * pm_send_datagram(), or NULL.
 */
static int *reply_cache_for(struct pm_sconn *c, uint64_t len)
{
    if (len <= PM_WIRE_INLINE_MAX || len > PM_BODY_CACHE_MAX ||
        (c->reply_cache >= 0 && c->reply_cache_bytes >= len))
        return &c->reply_cache; /* not used, or no bigger than it is */
    if (pm_limits_cache(c->share, c->reply_cache >= 0 ? c->reply_cache_bytes : 0, len) == 0) {
        c->reply_cache_bytes = len; /* the file grows to the largest reply */
        return &c->reply_cache;
    }
    if (c->reply_cache >= 0) {
        close(c->reply_cache);
        c->reply_cache = -1;
    }
    pm_limits_cache_put(c->share, c->reply_cache_bytes);
    c->reply_cache_bytes = 0;
    return NULL;
}

/* After the send: a cache that could not be made is not counted. */
static void reply_cache_settle(struct pm_sconn *c)
{
    if (c->reply_cache < 0 && c->reply_cache_bytes) {
        pm_limits_cache_put(c->share, c->reply_cache_bytes);
        c->reply_cache_bytes = 0;
    }
}

/* header + inline body + one descriptor. */
static int send_with_fd(int sock, const struct pm_wire_reply *h, const void *body, int fd)
{
    iov_t v[2] = { { (void *)h, sizeof *h }, { (void *)body, (size_t)h->len } };
    return pm_sendmsg_fds(sock, v, h->len ? 2 : 1, &fd, 1, 0) < 0 ? -1 : 0;
}

/* Send the reply (or error) and free the message.  fd >= 0 goes along. */
static int finish_fd(rcvid_t rcvid, int error, long status, const iov_t *iov,
                     size_t parts, int fd)
{
    struct pm_channel *ch;
    pm_begin();
    struct pm_sconn *c = pm_rcvid_lookup(rcvid, &ch);
    if (!c)
        return -1;
    int rc = 0;
    struct pm_wire_reply h = { .kind = error ? PM_WIRE_ERROR : PM_WIRE_REPLY,
                               .seq = c->seq, .status = error ? error : status };
    if (!error && reply_put(c, iov, parts, 0) < 0) {
        /* Out of memory: the client gets the error instead of a torn reply. */
        h.kind = PM_WIRE_ERROR;
        h.status = ENOMEM;
        rc = -1;
    }
    if (h.kind == PM_WIRE_REPLY)
        h.len = c->reply_len;
    iov_t body = { c->reply, (size_t)h.len };
    int sent;
    if (fd >= 0 && h.kind == PM_WIRE_REPLY) {
        if (h.len > PM_WIRE_INLINE_MAX) {
            /* Tell the client rather than leave it waiting. */
            h.kind = PM_WIRE_ERROR;
            h.status = EMSGSIZE;
            h.len = 0;
            rc = pm_fail(EMSGSIZE, "rcvid %ld: a reply that carries a descriptor "
                         "is limited to %d bytes", (long)rcvid, PM_WIRE_INLINE_MAX);
            sent = pm_send_datagram(c->fd, &h, sizeof h, NULL, 0, 0, NULL);
        } else {
            h.kind = PM_WIRE_REPLY_FD;
            sent = send_with_fd(c->fd, &h, c->reply, fd);
        }
    } else {
        sent = pm_send_datagram(c->fd, &h, sizeof h, &body, h.len ? 1 : 0, h.len,
                                reply_cache_for(c, h.len));
        reply_cache_settle(c);
    }
    if (sent < 0) {
        int e = errno;
        /* The client died, or stopped reading: it is not reply-blocked. */
        rc = pm_fail(e == EPIPE || e == ECONNRESET || e == ENOTCONN ? ESRCH : e,
                     "rcvid %ld: could not reply (%s)", (long)rcvid, strerror(e));
    }
    pm_sconn_finish(c);
    pm_rcvid_release(ch);
    return rc;
}

static int finish(rcvid_t rcvid, int error, long status, const iov_t *iov, size_t parts)
{
    return finish_fd(rcvid, error, status, iov, parts, -1);
}

int pm_msg_reply_fd(rcvid_t rcvid, long status, const iov_t *iov, size_t parts, int fd)
{
    if (fd < 0) {
        pm_begin();
        return pm_fail(EBADF, "pm_msg_reply_fd: no descriptor to send");
    }
    return finish_fd(rcvid, 0, status, iov, parts, fd);
}

PM_EXPORT int MsgReplyv(rcvid_t rcvid, long status, const iov_t *riov, size_t rparts)
{
    return finish(rcvid, 0, status, riov, rparts);
}

PM_EXPORT int MsgReply(rcvid_t rcvid, long status, const void *msg, size_t bytes)
{
    iov_t v = { (void *)msg, bytes };
    return finish(rcvid, 0, status, &v, msg && bytes ? 1 : 0);
}

PM_EXPORT int MsgError(rcvid_t rcvid, int error)
{
    if (error == EOK) /* QNX: the client's MsgSend() then returns EOK */
        return finish(rcvid, 0, 0, NULL, 0);
    if (error < 0 || error >= 4096) {
        pm_begin();
        return pm_fail(EINVAL, "MsgError(): %d is not an errno value", error);
    }
    return finish(rcvid, error, 0, NULL, 0);
}
