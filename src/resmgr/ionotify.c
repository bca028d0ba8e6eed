/*
 * ionotify(): the client's side of notification - an _IO_NOTIFY message
 * to the manager of a descriptor from pm_open().
 */
#include <string.h>

#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "common/internal.h"

PM_EXPORT int ionotify(int fd, int action, int flags, const struct sigevent *event)
{
    pm_begin();
    io_notify_t msg;
    memset(&msg, 0, sizeof msg);
    msg.i.type = _IO_NOTIFY;
    msg.i.combine_len = sizeof msg.i;
    msg.i.action = action;
    msg.i.flags = flags;
    if (event)
        msg.i.event = *event;
    else
        msg.i.event.sigev_notify = SIGEV_NONE; /* disarm */
    struct _io_notify_reply o;
    memset(&o, 0, sizeof o);
    if (MsgSend(fd, &msg.i, sizeof msg.i, &o, sizeof o) == -1)
        return -1;
    return (int)(o.flags & _NOTIFY_COND_MASK);
}
