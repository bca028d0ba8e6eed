/*
 * libFuzzer target: the message-passing wire decoders, pm_wire_check_send()
 * (the server's view of a client's datagram) and pm_wire_check_reply() (the
 * client's view of the server's).  Both judge headers written by another,
 * possibly hostile, process; the receive paths then trust the lengths they
 * accepted to size copies and preads.
 *
 * Input:
 *   byte 0      bit 0: decode as a reply (else as a send); bit 1: has_fd
 *   bytes 1-8   got - sizeof header: the datagram length the kernel
 *               reported, as an offset from the header's size
 *   bytes 9-16  fd_size - (the header's claimed length + body_off): the
 *               size of the passed memfd, as an offset from what the
 *               header claims
 *   bytes 17-   the header (struct pm_wire_send or pm_wire_reply)
 * (host order, wrapping arithmetic).  Offsets rather than absolute values
 * put all-zero bytes exactly on the boundaries the decoders must get right
 * (a bare header, a file exactly as long as claimed), so the fuzzer starts
 * there instead of having to guess 48 or 65537; the mapping is a bijection,
 * so every (got, fd_size) pair stays reachable.
 *
 * Properties: no crash and no sanitizer report (the header sits alone in an
 * allocation of exactly its size, so a decoder reading past it is caught);
 * the answer is deterministic; and acceptance implies what wire.h promises
 * the receive paths:
 *   - an inline body (no fd) is exactly the bytes after the header, its
 *     length is the claimed srclen/len, and that is <= PM_WIRE_INLINE_MAX
 *     (the receive buffer's size);
 *   - a memfd body comes with nothing after the header, only when the
 *     length is > PM_WIRE_INLINE_MAX, starts within the file's first page
 *     (body_off < PM_WIRE_BODY_OFF_MAX), and the file holds body_off +
 *     the length (so MsgRead()'s copies and preads stay inside it); an
 *     inline body's body_off is 0; a message's reply_at hint is < 4096
 *     and a reply's pad is 0;
 *   - pulses, unblocks, errors, hellos and refusals are bare headers, with
 *     no body, no fd, and a zero length; an error's or a refusal's status
 *     is an errno value; a pulse's code fits the 8 bits it is stored in
 *     (-128..127: 224 would be -32, a system code, once stored).
 *   - any other kind is refused.
 * Conversely a message or reply whose body is consistent in one of the two
 * ways above must be accepted: a decoder refusing good traffic would drop
 * connections.  Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX 17

/* The body rule of wire.h for a message or reply carrying `len` bytes
 * from `off` on. */
static int body_consistent(uint64_t len, uint32_t off, size_t got, size_t hdr, int has_fd,
                           uint64_t fd_size)
{
    if (has_fd)
        return got == hdr && len > PM_WIRE_INLINE_MAX && off < PM_WIRE_BODY_OFF_MAX &&
               fd_size >= off && fd_size - off >= len;
    return got >= hdr && got - hdr == len && len <= PM_WIRE_INLINE_MAX && off == 0;
}

/* A bare header: nothing after it, no fd, no length. */
static int bare(uint64_t len, size_t got, size_t hdr, int has_fd)
{
    return got == hdr && !has_fd && len == 0;
}

static void check_send(const uint8_t *raw, uint64_t dgot, int has_fd, uint64_t dsize)
{
    struct pm_wire_send *h = malloc(sizeof *h);
    if (!h)
        return;
    memcpy(h, raw, sizeof *h);
    size_t got = (size_t)(sizeof *h + dgot);
    uint64_t fd_size = h->srclen + h->body_off + dsize;
    int rc = pm_wire_check_send(h, got, has_fd, fd_size);
    if (rc != 0 && rc != -1)
        abort();
    if (pm_wire_check_send(h, got, has_fd, fd_size) != rc)
        abort(); /* deterministic */
    int consistent = 0;
    switch (h->kind) {
    case PM_WIRE_MSG:
        consistent = h->reply_at < 4096 &&
                     body_consistent(h->srclen, h->body_off, got, sizeof *h, has_fd, fd_size);
        if (consistent && rc != 0)
            abort(); /* good traffic refused */
        break;
    case PM_WIRE_PULSE:
        consistent = bare(h->srclen, got, sizeof *h, has_fd) && h->code >= -128 &&
                     h->code <= 127;
        break;
    case PM_WIRE_UNBLOCK:
    case PM_WIRE_MEMMGR:
        consistent = bare(h->srclen, got, sizeof *h, has_fd);
        break;
    case PM_WIRE_EVSOCK:
        /* The descriptor (the client's event relay) is the whole payload. */
        consistent = has_fd == 1 && got == sizeof *h && h->srclen == 0;
        break;
    default:
        break; /* no other kind may be accepted */
    }
    if (rc == 0 && !consistent)
        abort();
    free(h);
}

static void check_reply(const uint8_t *raw, uint64_t dgot, int has_fd, uint64_t dsize)
{
    struct pm_wire_reply *h = malloc(sizeof *h);
    if (!h)
        return;
    memcpy(h, raw, sizeof *h);
    size_t got = (size_t)(sizeof *h + dgot);
    uint64_t fd_size = h->len + h->body_off + dsize;
    int rc = pm_wire_check_reply(h, got, has_fd, fd_size);
    if (rc != 0 && rc != -1)
        abort();
    if (pm_wire_check_reply(h, got, has_fd, fd_size) != rc)
        abort();
    int consistent = 0;
    switch (h->kind) {
    case PM_WIRE_REPLY:
        consistent = h->pad == 0 &&
                     body_consistent(h->len, h->body_off, got, sizeof *h, has_fd, fd_size);
        if (consistent && rc != 0)
            abort();
        break;
    case PM_WIRE_ERROR:
        /* The client hands status to errno: it must be one. */
        consistent = bare(h->len, got, sizeof *h, has_fd) && h->status > 0 &&
                     h->status < 4096;
        break;
    case PM_WIRE_HELLO:
    case PM_WIRE_NOTIFY:
        consistent = bare(h->len, got, sizeof *h, has_fd);
        break;
    case PM_WIRE_REFUSED:
        consistent = bare(h->len, got, sizeof *h, has_fd) && h->status > 0 &&
                     h->status < 4096;
        break;
    case PM_WIRE_INBAND: {
        /* A doorbell: no body (the request is in the header); exactly the
         * descriptors its flags announce. */
        int want = !!(h->status & PM_WIRE_INBAND_SIDE) + !!(h->status & PM_WIRE_INBAND_OBJ);
        consistent = h->len == 0 && got == sizeof *h && has_fd == want;
        break;
    }
    case PM_WIRE_REPLY_FD:
        /* The descriptor is the payload; the body is always inline. */
        consistent = has_fd && h->len <= PM_WIRE_INLINE_MAX && got - sizeof *h == h->len;
        if (consistent && rc != 0)
            abort();
        break;
    default:
        break;
    }
    if (rc == 0 && !consistent)
        abort();
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PREFIX)
        return 0;
    int reply = data[0] & 1, has_fd = (data[0] >> 1) & 1;
    uint64_t dgot, dsize;
    memcpy(&dgot, data + 1, sizeof dgot);
    memcpy(&dsize, data + 9, sizeof dsize);
    const uint8_t *hdr = data + PREFIX;
    size_t left = size - PREFIX;
    if (reply) {
        if (left >= sizeof(struct pm_wire_reply))
            check_reply(hdr, dgot, has_fd, dsize);
    } else {
        if (left >= sizeof(struct pm_wire_send))
            check_send(hdr, dgot, has_fd, dsize);
    }
    return 0;
}
