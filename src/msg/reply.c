/*
 * Answering a message: reading more of it, writing into the client's reply
 * buffer, and the reply itself.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/copy.h"
#include "common/internal.h"
#include "msg/msg.h"

/* Make room in the reply being built on the heap: never past what the
 * client can take. */
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

/*
 * Room in the connection's reply file for an image ending at `end`, which
 * starts at the client's hint (reply_at) so that the client's copy out is
 * fast.  The file is kept for the next reply and grows to the largest one
 * (in steps); what it holds counts against the client's user (limits.c).
 * 0, or -1 when it would be over the share or too large to keep.
 */
#define REPLY_FILE_STEP ((uint64_t)256 << 10)
static int file_room(struct pm_sconn *c, uint64_t end)
{
    uint64_t need = c->reply_at + end;
    if (c->reply_file.fd >= 0 && c->reply_file.size >= need)
        return 0;
    uint64_t most = PM_BODY_CACHE_MAX + PM_WIRE_BODY_OFF_MAX;
    if (need > most)
        return -1;
    uint64_t want = (need + REPLY_FILE_STEP - 1) / REPLY_FILE_STEP * REPLY_FILE_STEP;
    if (want > most)
        want = most;
    uint64_t had = c->reply_file.fd >= 0 ? c->reply_cache_bytes : 0;
    if (want > had && pm_limits_cache(c->share, had, want) < 0)
        return -1;
    /* A file that holds this reply's first bytes must survive a failure to
     * grow (they move to the heap: reply_image()), and stay counted. */
    if ((had ? pm_bodyfile_grow(&c->reply_file, (size_t)want)
             : pm_bodyfile_reserve(&c->reply_file, (size_t)want)) < 0) {
        if (!had)
            pm_limits_cache_put(c->share, want); /* and the descriptor */
        else if (want > had)
            pm_limits_view_put(c->share, want - had);
        return -1;
    }
    if (want > had)
        c->reply_cache_bytes = want;
    return 0;
}

/* The reply image with room up to `end`: in the reply file when the reply
 * may be large, else (or when the file cannot hold it) on the heap.  NULL
 * when out of memory. */
static unsigned char *reply_image(struct pm_sconn *c, uint64_t end)
{
    if (!c->reply_in_file && !c->reply && c->dstlen > PM_WIRE_INLINE_MAX &&
        file_room(c, end) == 0)
        c->reply_in_file = 1;
    if (c->reply_in_file) {
        if (file_room(c, end) == 0)
            return c->reply_file.map + c->reply_at;
        /* Over the share: what was written moves to the heap. */
        unsigned char *r = malloc((size_t)end);
        if (!r)
            return NULL;
        memcpy(r, c->reply_file.map + c->reply_at, (size_t)c->reply_len);
        c->reply = r;
        c->reply_cap = end;
        c->reply_in_file = 0;
        return r;
    }
    return reply_reserve(c, end) == 0 ? c->reply : NULL;
}

/* Put iov's bytes at `off` of the reply; returns how many fitted.  Bytes
 * never written before `off` are zeros (a reused reply file holds the last
 * reply's bytes there). */
static ssize_t reply_put(struct pm_sconn *c, const iov_t *iov, size_t parts, size_t off)
{
    uint64_t len = pm_iov_total(iov, parts);
    if (off >= c->dstlen)
        return 0;
    if (len > c->dstlen - off)
        len = c->dstlen - off;
    if (len == 0)
        return 0;
    unsigned char *img = reply_image(c, off + len);
    if (!img)
        return pm_fail(ENOMEM, "out of memory for a %llu-byte reply",
                       (unsigned long long)(off + len));
    if (off > c->reply_len)
        memset(img + c->reply_len, 0, (size_t)(off - c->reply_len));
    uint64_t done = 0;
    for (size_t i = 0; i < parts && done < len; i++) {
        size_t n = iov[i].iov_len;
        if (n > len - done)
            n = (size_t)(len - done);
        pm_copy(img + off + done, iov[i].iov_base, n);
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
        if (c->inline_body)
            got = (ssize_t)pm_iov_scatter(riov, rparts, 0, c->inline_body + offset, want);
        else
            got = (ssize_t)pm_sconn_read_body(c, riov, rparts, offset, want);
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
    info->pid = pm_sconn_sender(c); /* the sender's (sender.c) */
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
    uint64_t direct = fd < 0 && !error && !c->reply && !c->reply_in_file
                          ? pm_iov_total(iov, parts) : UINT64_MAX;
    if (direct <= PM_WIRE_INLINE_MAX && direct <= c->dstlen) {
        /* Nothing written before and it fits the client: the caller's
         * buffers go out as they are, no reply image. */
        h.len = direct;
        int sent = pm_send_datagram(c->fd, &h, sizeof h, &h.body_off, iov, parts, direct, 0,
                                    NULL);
        if (sent < 0) {
            int e = errno;
            rc = pm_fail(e == EPIPE || e == ECONNRESET || e == ENOTCONN ? ESRCH : e,
                         "rcvid %ld: could not reply (%s)", (long)rcvid, strerror(e));
        }
        pm_sconn_finish(c);
        pm_rcvid_release(ch);
        return rc;
    }
    if (!error && reply_put(c, iov, parts, 0) < 0) {
        /* Out of memory: the client gets the error instead of a torn reply. */
        h.kind = PM_WIRE_ERROR;
        h.status = ENOMEM;
        rc = -1;
    }
    if (h.kind == PM_WIRE_REPLY)
        h.len = c->reply_len;
    const unsigned char *img = c->reply_in_file ? c->reply_file.map + c->reply_at : c->reply;
    int sent;
    if (fd >= 0 && h.kind == PM_WIRE_REPLY) {
        if (h.len > PM_WIRE_INLINE_MAX) {
            /* Tell the client rather than leave it waiting. */
            h.kind = PM_WIRE_ERROR;
            h.status = EMSGSIZE;
            h.len = 0;
            rc = pm_fail(EMSGSIZE, "rcvid %ld: a reply that carries a descriptor "
                         "is limited to %d bytes", (long)rcvid, PM_WIRE_INLINE_MAX);
            sent = pm_send_datagram(c->fd, &h, sizeof h, &h.body_off, NULL, 0, 0, 0, NULL);
        } else {
            h.kind = PM_WIRE_REPLY_FD;
            sent = send_with_fd(c->fd, &h, img, fd);
        }
    } else if (h.kind == PM_WIRE_REPLY && c->reply_in_file && h.len > PM_WIRE_INLINE_MAX) {
        /* Already in the file, where the client's copy out is fast. */
        h.body_off = c->reply_at;
        iov_t hv = { &h, sizeof h };
        sent = pm_sendmsg_fds(c->fd, &hv, 1, &c->reply_file.fd, 1, 0) < 0 ? -1 : 0;
    } else {
        /* Inline; or on the heap and large (the file was over the share):
         * a file of its own. */
        iov_t body = { (void *)img, (size_t)h.len };
        sent = pm_send_datagram(c->fd, &h, sizeof h, &h.body_off, &body, h.len ? 1 : 0,
                                h.len, c->reply_at, NULL);
    }
    if (sent < 0) {
        int e = errno;
        int gone = e == EPIPE || e == ECONNRESET || e == ENOTCONN;
        /* The client died, or stopped reading: it is not reply-blocked.
         * Otherwise the reply could not be made (no memory, no file for a
         * large body: ENOMEM, EMFILE, EFBIG...): the client gets that
         * error rather than wait for a reply that will never come. */
        if (!gone) {
            struct pm_wire_reply eh = { .kind = PM_WIRE_ERROR, .seq = c->seq, .status = e };
            pm_send_datagram(c->fd, &eh, sizeof eh, &eh.body_off, NULL, 0, 0, 0, NULL);
        }
        rc = pm_fail(gone ? ESRCH : e, "rcvid %ld: could not reply (%s)", (long)rcvid,
                     strerror(e));
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
