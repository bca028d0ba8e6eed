/*
 * Notification for resource managers: iofunc_notify(), the triggers and
 * the removals (see <sys/iofunc.h> for how a manager uses them).
 *
 * Decisions:
 *  - One entry per client open (scoid, coid) and list: arming again
 *    replaces that client's event, so what a client can make a manager
 *    hold is bounded by its opens.
 *  - An arm whose event is SIGEV_NONE (ionotify() with a NULL event)
 *    disarms the client's entries for the conditions it names.
 *  - Each entry remembers its connection's identity (the socket's inode):
 *    a trigger after the client has gone - even if a new client was given
 *    the same scoid - drops the entry instead of delivering to the wrong
 *    process.
 *  - Delivery is MsgDeliverEvent() of the client's event, after which the
 *    entry is disarmed, as on QNX.  With sigev_code SI_NOTIFY the value
 *    gets the condition that fired (_NOTIFY_COND_INPUT << index) ORed in;
 *    a SIGEV_PM_CONNECTION event (pm_poll()) always carries it.
 *  - The reply says which conditions hold now (o.flags).  Extended
 *    conditions (_NOTIFY_COND_EXTEN) are not looked at: the three basic
 *    ones are.
 */
#include <stdlib.h>
#include <string.h>

#include "iofunc/iofunc_internal.h"
#include "resmgr/resmgr_internal.h"

static int cond_of(int index)
{
    return _NOTIFY_COND_INPUT << index;
}

static void drop(iofunc_notify_t *n, iofunc_notify_event_t **link)
{
    iofunc_notify_event_t *e = *link;
    *link = e->next;
    n->cnt--;
    free(e);
}

/* Remove the entries of (scoid, coid) from list n (coid -1: any). */
static void remove_client(iofunc_notify_t *n, int scoid, int coid)
{
    for (iofunc_notify_event_t **l = &n->list; *l;) {
        if ((*l)->scoid == scoid && (coid == -1 || (*l)->coid == coid))
            drop(n, l);
        else
            l = &(*l)->next;
    }
}

static int arm(resmgr_context_t *ctp, iofunc_notify_t *n, int cnt, const struct sigevent *ev)
{
    iofunc_notify_event_t *e = NULL;
    for (e = n->list; e; e = e->next)
        if (e->scoid == ctp->info.scoid && e->coid == ctp->info.coid)
            break;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return ENOMEM;
        e->next = n->list;
        n->list = e;
        n->cnt++;
    }
    e->rcvid = ctp->rcvid;
    e->scoid = ctp->info.scoid;
    e->coid = ctp->info.coid;
    e->cnt = cnt > 0 ? cnt : 1;
    e->event = *ev;
    e->conn = pm_rm_conn_ino(ctp->info.scoid);
    return EOK;
}

PM_EXPORT int iofunc_notify(resmgr_context_t *ctp, io_notify_t *msg, iofunc_notify_t *nop,
                            int trig, const int *notifycounts, int *armed)
{
    if (armed)
        *armed = 0;
    if (!ctp || !msg || !nop)
        return EINVAL;
    /* msg->i and msg->o share their bytes: read everything first. */
    int action = msg->i.action & _NOTIFY_ACTION_MASK;
    int flags = msg->i.flags & _NOTIFY_COND_MASK;
    struct sigevent ev = msg->i.event;
    int met = trig & flags;

    if (SIGEV_GET_TYPE(&ev) == SIGEV_NONE && action != _NOTIFY_ACTION_POLL) {
        for (int i = 0; i < IOFUNC_NOTIFY_COUNT; i++)
            if (flags & cond_of(i))
                remove_client(&nop[i], ctp->info.scoid, ctp->info.coid);
    } else if (action == _NOTIFY_ACTION_TRANARM ||
               ((action == _NOTIFY_ACTION_POLLARM || action == _NOTIFY_ACTION_CONDARM) &&
                !met)) {
        for (int i = 0; i < IOFUNC_NOTIFY_COUNT; i++) {
            if (!(flags & cond_of(i)))
                continue;
            int err = arm(ctp, &nop[i], notifycounts ? notifycounts[i] : 1, &ev);
            if (err)
                return IOF_FAIL(err, "iofunc_notify(): out of memory");
            if (armed)
                *armed = 1;
        }
    }
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.flags = action == _NOTIFY_ACTION_CONDARM ? 0 : (uint32_t)met;
    msg->o.flags2 = flags;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

static void trigger(resmgr_context_t *ctp, iofunc_notify_t *nop, int count, int index)
{
    if (!nop || index < 0 || index >= IOFUNC_NOTIFY_COUNT)
        return;
    iofunc_notify_t *n = &nop[index];
    for (iofunc_notify_event_t **l = &n->list; *l;) {
        iofunc_notify_event_t *e = *l;
        if ((ctp && (e->scoid != ctp->info.scoid || e->coid != ctp->info.coid)) ||
            count < e->cnt) {
            l = &e->next;
            continue;
        }
        uint64_t live = pm_rm_conn_ino(e->scoid);
        if (live && live == e->conn) {
            struct sigevent ev = e->event;
            int type = SIGEV_GET_TYPE(&ev);
            if (type == SIGEV_PM_CONNECTION)
                ev.sigev_value.sival_int = cond_of(index);
            else if (ev.sigev_code == SI_NOTIFY &&
                     !(ev.sigev_notify & SIGEV_FLAG_HANDLE))
                ev.sigev_value.sival_int |= cond_of(index);
            MsgDeliverEvent(e->rcvid, &ev);
        }
        drop(n, l); /* delivered once, or its client is gone */
    }
}

PM_EXPORT void iofunc_notify_trigger(iofunc_notify_t *nop, int count, int index)
{
    trigger(NULL, nop, count, index);
}

PM_EXPORT void iofunc_notify_trigger_strict(resmgr_context_t *ctp, iofunc_notify_t *nop,
                                            int count, int index)
{
    trigger(ctp, nop, count, index);
}

PM_EXPORT void iofunc_notify_remove_strict(resmgr_context_t *ctp, iofunc_notify_t *nop, int lim)
{
    if (!ctp || !nop)
        return;
    for (int i = 0; i < lim; i++)
        remove_client(&nop[i], ctp->info.scoid, ctp->info.coid);
}

PM_EXPORT void iofunc_notify_remove(resmgr_context_t *ctp, iofunc_notify_t *nop)
{
    iofunc_notify_remove_strict(ctp, nop, IOFUNC_NOTIFY_COUNT);
}
