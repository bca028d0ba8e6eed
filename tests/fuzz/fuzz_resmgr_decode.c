/*
 * libFuzzer target: pm_rm_decode() (src/resmgr/resmgr_decode.c), which
 * judges every message a resource manager receives before a handler sees
 * it.  The message's bytes and both of its lengths come from the client.
 *
 * Input:
 *   bytes 0-3   srclen - got: how much more (wrapping, as uint32) the
 *               client claims to have sent than arrived in the buffer
 *   bytes 4-    the received bytes (got = what is left)
 * The message sits alone in an allocation of exactly `got` bytes, so a
 * read past what arrived is an ASan report.
 *
 * Properties: no crash, no sanitizer report, a deterministic answer, and
 * what an accepted message promises the handlers:
 *   - a connect: the path starts at offsetof(path), ends with its only NUL
 *     at path_len - 1, and path + extra lie within what arrived;
 *   - an I/O message: at least its type's header arrived; a write's nbytes
 *     is no more than was sent after the header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr/resmgr_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t more;
    memcpy(&more, data, sizeof more);
    size_t got = size - 4;
    size_t srclen = got + more;
    unsigned char *msg = malloc(got ? got : 1);
    if (!msg)
        return 0;
    memcpy(msg, data + 4, got);

    struct pm_rm_decoded d, d2;
    int err = pm_rm_decode(msg, got, srclen, &d);
    int err2 = pm_rm_decode(msg, got, srclen, &d2);
    if (err != err2 || (err == 0 && memcmp(&d, &d2, sizeof d) != 0))
        abort();
    if (err == 0 && d.kind == PM_RM_CONNECT) {
        struct _io_connect c;
        memcpy(&c, msg, offsetof(struct _io_connect, path));
        size_t end = d.extra_off + c.extra_len;
        if (d.path_off != offsetof(struct _io_connect, path) || c.path_len == 0 ||
            d.extra_off != d.path_off + c.path_len || end > got ||
            memchr(msg + d.path_off, 0, c.path_len) != msg + d.extra_off - 1)
            abort();
        if (d.slot < PM_CS_OPEN || d.slot > PM_CS_MOUNT || d.slot == PM_CS_UNBLOCK)
            abort();
    }
    if (err == 0 && d.kind == PM_RM_IO) {
        if (got < sizeof(struct _io_combine) || d.slot < 0)
            abort();
        if (d.type == _IO_WRITE) {
            struct _io_write w;
            if (got < sizeof w)
                abort();
            memcpy(&w, msg, sizeof w);
            if ((uint64_t)w.nbytes + sizeof w > (uint64_t)(srclen < got ? got : srclen))
                abort();
        }
    }
    free(msg);
    return 0;
}
