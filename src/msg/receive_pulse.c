/*
 * MsgReceivePulse(), MsgReceivePulsev(): receive on a channel, pulses
 * only.  Messages that arrive meanwhile wait for a MsgReceive()
 * (receive_defer.c says how).
 */
#include "common/internal.h"
#include "msg/msg.h"

PM_EXPORT int MsgReceivePulsev(int chid, const iov_t *riov, size_t rparts,
                               struct _msg_info *info)
{
    return (int)pm_receive(chid, riov, rparts, info, 1);
}

PM_EXPORT int MsgReceivePulse(int chid, void *pulse, size_t bytes, struct _msg_info *info)
{
    iov_t v = { pulse, bytes };
    return (int)pm_receive(chid, &v, 1, info, 1);
}
