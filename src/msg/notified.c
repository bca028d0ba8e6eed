/*
 * Notifications that arrive on a client's connection (PM_WIRE_NOTIFY: an
 * ionotify() armed with SIGEV_PM_CONNECTION fired in the manager), for
 * pm_poll().
 *
 * They make the connection's socket readable, which is what a poll()
 * waits for.  Whoever reads the socket takes them: a MsgSend() under way
 * skips them while it waits for its reply (remembering the conditions in
 * c->notified), and pm_conn_notified() takes whatever is there when no
 * exchange is under way - so that a connection is never left readable by
 * something no one will read.  Anything else found there outside an
 * exchange is a late reply to an exchange given up (timeout, signal):
 * dropped, with any descriptor it carried.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/cmsg.h"
#include "msg/msg.h"

int pm_conn_notified(int coid, int *conds, int *hup)
{
    *conds = 0;
    *hup = 0;
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    int fd = c->fd;
    pm_cconn_put(c);
    if (pthread_mutex_trylock(&c->exchange) != 0)
        return 0; /* a MsgSend() is reading it: it keeps what it finds */
    for (;;) {
        struct pm_wire_reply h;
        char body[256];
        iov_t v[2] = { { &h, sizeof h }, { body, sizeof body } };
        union { struct cmsghdr align; char b[CMSG_SPACE(2 * sizeof(int))]; } cm;
        struct msghdr m = { .msg_iov = v, .msg_iovlen = 2, .msg_control = cm.b,
                            .msg_controllen = sizeof cm.b };
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n == 0) {
            *hup = 1;
            break;
        }
        if (n < 0)
            break;
        pm_cmsg_fds(&m, NULL, 0, NULL); /* none is ours to keep */
        if ((size_t)n != sizeof h)
            continue;
        if (h.kind == PM_WIRE_NOTIFY) {
            *conds |= (int)h.status;
        } else if (h.kind == PM_WIRE_HELLO) {
            c->hello = 1;
            c->chflags = (unsigned)h.status;
        }
    }
    *conds |= c->notified;
    c->notified = 0;
    pthread_mutex_unlock(&c->exchange);
    return 0;
}
