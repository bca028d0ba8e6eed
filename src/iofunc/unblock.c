/*
 * iofunc_unblock_default(), iofunc_close_dup_default().
 *
 * On QNX both look after what the iofunc layer itself keeps per client:
 * clients blocked on a record lock (iofunc_lock()) are let go on unblock,
 * and a closing client's locks are released on close.  peermap's iofunc
 * layer keeps no such state (it has no record locks), so:
 *  - iofunc_unblock_default() finds no client of its own to let go and
 *    returns _RESMGR_DEFAULT, which the framework answers by letting the
 *    client go with EINTR (resmgr_handle.c) - the outcome QNX gives a
 *    client blocked in a manager that holds nothing for it;
 *  - iofunc_close_dup_default() has nothing to release: EOK.
 * A manager that holds clients itself (a read waiting for data) handles
 * the unblock in its own handler, as on QNX, and calls these first.
 */
#include "iofunc/iofunc_internal.h"

PM_EXPORT int iofunc_unblock_default(resmgr_context_t *ctp, io_pulse_t *msg, iofunc_ocb_t *ocb)
{
    if (!ctp || !msg || !ocb)
        return EINVAL;
    return _RESMGR_DEFAULT;
}

PM_EXPORT int iofunc_close_dup_default(resmgr_context_t *ctp, io_close_t *msg,
                                       iofunc_ocb_t *ocb)
{
    if (!ctp || !msg || !ocb)
        return EINVAL;
    return EOK;
}
