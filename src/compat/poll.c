/*
 * poll() and select() that understand descriptors from pm_open()
 * (<peermap_qnx.h>), the way QNX's C library implements them: for each
 * such descriptor, ask its manager (ionotify(), _NOTIFY_ACTION_POLLARM)
 * which conditions hold, and have it notify us when one does; then wait.
 *
 * The notification comes back on the descriptor itself
 * (SIGEV_PM_CONNECTION: the manager's library writes a PM_WIRE_NOTIFY
 * datagram on the connection), so one kernel poll() waits for managers and
 * for every other descriptor together.  What each datagram says is what
 * revents reports: POLLIN for _NOTIFY_COND_INPUT, POLLOUT for OUTPUT,
 * POLLPRI for OBAND; POLLHUP when the manager has gone.
 *
 * Decisions:
 *  - A manager without a notify handler (ENOSYS) is taken to be always
 *    ready, as POSIX says of regular files; any other failure to arm is
 *    POLLERR.
 *  - Descriptors that are not connections are passed to the kernel's
 *    poll() as they are.  With no connection among them, pm_poll() is
 *    poll().
 *  - A wake-up that brings nothing the caller asked for (a notification
 *    left from an earlier call) arms and waits again, within the timeout.
 */
#define PEERMAP_NO_QNX_NAMES
#include <peermap_qnx.h>

#include <stdlib.h>
#include <string.h>

#include <sys/iomsg.h>

#include "common/internal.h"
#include "msg/msg.h"

static int conds_of(short events)
{
    int c = 0;
    if (events & (POLLIN | POLLRDNORM))
        c |= _NOTIFY_COND_INPUT;
    if (events & (POLLOUT | POLLWRNORM))
        c |= _NOTIFY_COND_OUTPUT;
    if (events & (POLLPRI | POLLRDBAND))
        c |= _NOTIFY_COND_OBAND;
    return c;
}

static short events_of(int conds, short asked)
{
    short e = 0;
    if (conds & _NOTIFY_COND_INPUT)
        e |= POLLIN | POLLRDNORM;
    if (conds & _NOTIFY_COND_OUTPUT)
        e |= POLLOUT | POLLWRNORM;
    if (conds & _NOTIFY_COND_OBAND)
        e |= POLLPRI | POLLRDBAND;
    return e & asked;
}

static int is_conn(int fd)
{
    struct pm_cconn *c = fd >= 0 ? pm_cconn_get(fd) : NULL;
    if (!c)
        return 0;
    pm_cconn_put(c);
    return 1;
}

PM_EXPORT int pm_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    char *conn = nfds ? calloc(nfds, 1) : NULL;
    struct pollfd *k = nfds ? malloc(nfds * sizeof *k) : NULL;
    int any = 0;
    if (nfds && (!conn || !k)) {
        free(conn);
        free(k);
        errno = ENOMEM;
        return -1;
    }
    for (nfds_t i = 0; i < nfds; i++)
        any |= conn[i] = (char)is_conn(fds[i].fd);
    if (!any) {
        free(conn);
        free(k);
        return poll(fds, nfds, timeout);
    }
    pm_begin();
    int64_t deadline = timeout < 0 ? -1 : pm_now_ns() + (int64_t)timeout * 1000000;
    int ready;
    for (;;) {
        ready = 0;
        /* Ask each manager, arming it for what does not hold yet. */
        for (nfds_t i = 0; i < nfds; i++) {
            fds[i].revents = 0;
            k[i] = fds[i];
            k[i].revents = 0;
            if (!conn[i])
                continue;
            int want = conds_of(fds[i].events), stale, hup;
            pm_conn_notified(fds[i].fd, &stale, &hup);
            k[i].events = POLLIN; /* a notification makes it readable */
            if (hup) {
                fds[i].revents = POLLHUP;
            } else if (want) {
                struct sigevent ev = { .sigev_notify = SIGEV_PM_CONNECTION };
                int now = ionotify(fds[i].fd, _NOTIFY_ACTION_POLLARM, want, &ev);
                if (now < 0)
                    fds[i].revents = errno == ENOSYS ? events_of(want, fds[i].events)
                                                     : (short)(POLLERR | POLLHUP);
                else
                    fds[i].revents = events_of(now, fds[i].events);
            }
            if (fds[i].revents)
                ready++;
        }
        int wait = -1;
        if (ready) {
            wait = 0;
        } else if (deadline >= 0) {
            int64_t left = deadline - pm_now_ns();
            wait = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        int n = poll(k, nfds, wait);
        if (n < 0) {
            ready = -1;
            break;
        }
        for (nfds_t i = 0; i < nfds; i++) {
            if (!conn[i]) {
                fds[i].revents = k[i].revents;
            } else if (k[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
                fds[i].revents |= (short)(k[i].revents & (POLLHUP | POLLERR | POLLNVAL));
            } else if (k[i].revents & POLLIN) {
                int got, hup;
                pm_conn_notified(fds[i].fd, &got, &hup);
                fds[i].revents |= events_of(got, fds[i].events);
                if (hup)
                    fds[i].revents |= POLLHUP;
            }
        }
        ready = 0;
        for (nfds_t i = 0; i < nfds; i++)
            if (fds[i].revents)
                ready++;
        if (ready || wait == 0)
            break;
        /* Woken by a notification we did not ask for: arm again. */
    }
    free(conn);
    free(k);
    return ready;
}

PM_EXPORT int pm_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                        struct timeval *timeout)
{
    if (nfds < 0 || nfds > FD_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    struct pollfd *p = malloc((size_t)(nfds ? nfds : 1) * sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    int n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short e = 0;
        if (readfds && FD_ISSET(fd, readfds))
            e |= POLLIN;
        if (writefds && FD_ISSET(fd, writefds))
            e |= POLLOUT;
        if (exceptfds && FD_ISSET(fd, exceptfds))
            e |= POLLPRI;
        if (e)
            p[n++] = (struct pollfd){ .fd = fd, .events = e };
    }
    int ms = -1;
    if (timeout) {
        if (timeout->tv_sec < 0 || timeout->tv_usec < 0) {
            free(p);
            errno = EINVAL;
            return -1;
        }
        long long t = (long long)timeout->tv_sec * 1000 + (timeout->tv_usec + 999) / 1000;
        ms = t > 0x7fffffff ? 0x7fffffff : (int)t;
    }
    int r = pm_poll(p, (nfds_t)n, ms);
    if (r < 0) {
        free(p);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            free(p);
            errno = EBADF;
            return -1;
        }
    if (readfds)
        FD_ZERO(readfds);
    if (writefds)
        FD_ZERO(writefds);
    if (exceptfds)
        FD_ZERO(exceptfds);
    int count = 0;
    for (int i = 0; i < n; i++) {
        short re = p[i].revents, e = p[i].events;
        if ((e & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
            FD_SET(p[i].fd, readfds);
            count++;
        }
        if ((e & POLLOUT) && (re & (POLLOUT | POLLERR))) {
            FD_SET(p[i].fd, writefds);
            count++;
        }
        if ((e & POLLPRI) && (re & POLLPRI)) {
            FD_SET(p[i].fd, exceptfds);
            count++;
        }
    }
    free(p);
    return count;
}
