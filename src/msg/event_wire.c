/*
 * The event relay's request (event.h): what a server writes into a
 * client's relay endpoint.  The relay reads bytes another process chose:
 * this check is all that stands between them and the delivery code.
 * Pure functions (fuzzed: tests/fuzz/fuzz_event_relay.c).
 */
#include <string.h>

#include "msg/event.h"

int pm_evreq_check(const void *buf, size_t got)
{
    struct pm_evreq r;
    if (got != sizeof r)
        return -1;
    memcpy(&r, buf, sizeof r);
    if (r.magic != PM_EVREQ_MAGIC)
        return -1;
    /* The type and its fields are judged by pm_event_check() and by the
     * relay's rules; here only the framing. */
    return 0;
}

void pm_evreq_from_event(struct pm_evreq *r, const struct sigevent *ev, pid_t tid)
{
    memset(r, 0, sizeof *r);
    r->magic = PM_EVREQ_MAGIC;
    r->notify = ev->sigev_notify;
    r->signo = ev->sigev_signo;
    r->code = ev->sigev_code;
    r->priority = ev->sigev_priority;
    r->tid = tid;
    r->value = (int64_t)(intptr_t)ev->sigev_value.sival_ptr;
}

void pm_evreq_to_event(const struct pm_evreq *r, struct sigevent *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->sigev_notify = r->notify;
    ev->sigev_signo = r->signo;
    ev->sigev_code = r->code;
    ev->sigev_priority = r->priority;
    ev->sigev_value.sival_ptr = (void *)(intptr_t)r->value;
}
