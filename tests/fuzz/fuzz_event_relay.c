/*
 * libFuzzer target: the event relay's judge of a server's request,
 * pm_evreq_check() (src/msg/event_wire.c), and the conversion of an
 * accepted request into the event the relay then checks type by type
 * (pm_evreq_to_event()).  The bytes come from another process.
 *
 * Properties: no crash and no sanitizer report (the input sits alone in an
 * allocation of exactly its size); acceptance means exactly one request's
 * worth of bytes with the magic; a converted event round-trips (what the
 * relay acts on is what the server wrote, nothing more).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    int ok = pm_evreq_check(buf, size) == 0;
    if (ok) {
        struct pm_evreq r, back;
        if (size != sizeof r)
            abort();
        memcpy(&r, buf, sizeof r);
        if (r.magic != PM_EVREQ_MAGIC)
            abort();
        struct sigevent ev;
        pm_evreq_to_event(&r, &ev);
        pm_evreq_from_event(&back, &ev, r.tid);
        if (back.notify != r.notify || back.signo != r.signo || back.code != r.code ||
            back.priority != r.priority || back.value != r.value || back.tid != r.tid)
            abort();
    }
    free(buf);
    return 0;
}
