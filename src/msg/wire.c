#include "msg/wire.h"

/* The body is either inline (exactly the bytes after the header, at
 * offset 0) or in a memfd (nothing after the header, and the file holds
 * `len` bytes from `off` on, off within the first page). */
static int body_ok(uint64_t len, uint32_t off, size_t got, size_t hdr, int has_fd,
                   uint64_t fd_size)
{
    if (got < hdr)
        return 0;
    if (has_fd)
        return got == hdr && len > PM_WIRE_INLINE_MAX && off < PM_WIRE_BODY_OFF_MAX &&
               fd_size >= off && fd_size - off >= len;
    return len <= PM_WIRE_INLINE_MAX && got - hdr == len && off == 0;
}

int pm_wire_check_send(const struct pm_wire_send *h, size_t got, int has_fd,
                       uint64_t fd_size)
{
    if (got < sizeof *h)
        return -1;
    switch (h->kind) {
    case PM_WIRE_MSG:
        return h->reply_at < 4096 &&
               body_ok(h->srclen, h->body_off, got, sizeof *h, has_fd, fd_size) ? 0 : -1;
    case PM_WIRE_PULSE:
        /* The code is stored in 8 bits: 224 would become -32 there. */
        if (h->code < -128 || h->code > 127)
            return -1;
        return got == sizeof *h && !has_fd && h->srclen == 0 ? 0 : -1;
    case PM_WIRE_UNBLOCK:
    case PM_WIRE_MEMMGR:
        return got == sizeof *h && !has_fd && h->srclen == 0 ? 0 : -1;
    case PM_WIRE_EVSOCK:
        return got == sizeof *h && has_fd == 1 && h->srclen == 0 ? 0 : -1;
    case PM_WIRE_DELEGATE:
        return got == sizeof *h + sizeof(struct pm_wire_delegate) && !has_fd &&
               h->srclen == sizeof(struct pm_wire_delegate) ? 0 : -1;
    default:
        return -1;
    }
}

int pm_wire_check_reply(const struct pm_wire_reply *h, size_t got, int has_fd,
                        uint64_t fd_size)
{
    if (got < sizeof *h)
        return -1;
    switch (h->kind) {
    case PM_WIRE_REPLY:
        return has_fd <= 1 && h->pad == 0 &&
               body_ok(h->len, h->body_off, got, sizeof *h, has_fd, fd_size) ? 0 : -1;
    case PM_WIRE_ERROR:
        return got == sizeof *h && !has_fd && h->len == 0 &&
               h->status > 0 && h->status < 4096 ? 0 : -1;
    case PM_WIRE_REPLY_FD:
        /* The descriptor is the payload: the body must be inline. */
        return has_fd == 1 && h->len <= PM_WIRE_INLINE_MAX &&
               got - sizeof *h == h->len ? 0 : -1;
    case PM_WIRE_HELLO:
    case PM_WIRE_NOTIFY:
        return got == sizeof *h && !has_fd && h->len == 0 ? 0 : -1;
    case PM_WIRE_REFUSED:
        return got == sizeof *h && !has_fd && h->len == 0 &&
               h->status > 0 && h->status < 4096 ? 0 : -1;
    case PM_WIRE_INBAND: {
        int want = !!(h->status & PM_WIRE_INBAND_SIDE) + !!(h->status & PM_WIRE_INBAND_OBJ);
        return got == sizeof *h && h->len == 0 && has_fd == want ? 0 : -1;
    }
    default:
        return -1;
    }
}
