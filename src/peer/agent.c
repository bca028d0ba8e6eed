/*
 * peermap_agent_start(): a thread in this process that takes mmap_peer()/
 * munmap_peer() requests at any time, without ptrace (peermap.h).  The same
 * requests and checks as the in-band route (msg/inband.h); who may ask is
 * decided once per connection, from the kernel's credentials: root and the
 * uids the process named.
 *
 * The agent listens on the abstract socket "peermap.agent.<pid>".  Anyone
 * may squat such a name for another pid, so callers check that the socket
 * they reach belongs to the pid they mean before they send anything
 * (agent_call.c).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "msg/inband.h"
#include "peer/path.h"

#define MAX_CALLERS 64

static pthread_mutex_t agent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int running;
    pthread_t th;
    int lsn, stop;
    uid_t *uids;
    size_t nuids;
} agent = { .lsn = -1, .stop = -1 };

void pm_agent_name(pid_t pid, char *buf, size_t n, size_t *len)
{
    buf[0] = 0; /* abstract: no file, gone with the socket */
    int k = snprintf(buf + 1, n - 1, "peermap.agent.%d", (int)pid);
    *len = 1 + (size_t)k;
}

static int allowed(int conn)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return 0;
    if (cr.uid == 0)
        return 1;
    for (size_t i = 0; i < agent.nuids; i++)
        if (agent.uids[i] == cr.uid)
            return 1;
    return 0;
}

static void serve(int conn)
{
    struct pm_inband_req rq;
    int objfd;
    int got = pm_inband_recv_req(conn, &rq, &objfd);
    if (got == 0)
        return;
    struct pm_inband_ans a = { .magic = PM_INBAND_ANS };
    if (got < 0) {
        a.refused = PM_INBAND_REFUSED_BAD;
    } else {
        a.id = rq.id;
        a.refused = pm_inband_check_op(&rq, objfd >= 0, getpid(), pm_now_ns());
    }
    pm_inband_do(conn, &rq, objfd, &a);
    if (objfd >= 0)
        close(objfd);
}

static void *agent_main(void *arg)
{
    (void)arg;
    struct pollfd p[2 + MAX_CALLERS];
    int n = 0; /* callers */
    for (;;) {
        p[0] = (struct pollfd){ .fd = agent.stop, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = agent.lsn, .events = POLLIN };
        if (poll(p, (nfds_t)(2 + n), -1) < 0)
            continue;
        if (p[0].revents)
            break;
        for (int i = 0; i < n; i++) {
            struct pollfd *c = &p[2 + i];
            if (c->revents & POLLIN)
                serve(c->fd);
            else if (c->revents & (POLLHUP | POLLERR | POLLNVAL)) {
                close(c->fd);
                p[2 + i] = p[2 + n - 1];
                n--;
                i--;
            }
        }
        if (p[1].revents & POLLIN) {
            int c = accept4(agent.lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0 && (n == MAX_CALLERS || !allowed(c)))
                close(c); /* the caller sees its connection closed */
            else if (c >= 0)
                p[2 + n++] = (struct pollfd){ .fd = c, .events = POLLIN };
        }
    }
    for (int i = 0; i < n; i++)
        close(p[2 + i].fd);
    return NULL;
}

PM_EXPORT int peermap_agent_start(const uid_t *uids, size_t n)
{
    pm_begin();
    if (n && !uids)
        return pm_fail(EINVAL, "peermap_agent_start(): %zu uids but no array", n);
    pthread_mutex_lock(&agent_lock);
    if (agent.running) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(EBUSY, "peermap_agent_start(): the agent already runs");
    }
    size_t k = n ? n : 1;
    uid_t *list = malloc(k * sizeof *list);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t nlen;
    pm_agent_name(getpid(), sa.sun_path, sizeof sa.sun_path, &nlen);
    int lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int stop = eventfd(0, EFD_CLOEXEC);
    int rc = 0;
    if (!list || lsn < 0 || stop < 0) {
        rc = pm_fail(errno == EMFILE ? EAGAIN : ENOMEM, "peermap_agent_start(): %m");
    } else if (bind(lsn, (struct sockaddr *)&sa,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen)) < 0 ||
               listen(lsn, 16) < 0) {
        rc = pm_fail(errno == EADDRINUSE ? EBUSY : errno,
                     "peermap_agent_start(): cannot listen as peermap.agent.%d: %m",
                     (int)getpid());
    }
    if (rc == 0) {
        if (n)
            memcpy(list, uids, n * sizeof *list);
        else
            list[0] = getuid();
        agent.uids = list;
        agent.nuids = k;
        agent.lsn = lsn;
        agent.stop = stop;
        /* The agent takes none of the process's signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int e = pthread_create(&agent.th, NULL, agent_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e) {
            rc = pm_fail(EAGAIN, "peermap_agent_start(): no thread: %s", strerror(e));
            agent.uids = NULL;
        } else {
            agent.running = 1;
        }
    }
    if (rc) {
        free(list);
        if (lsn >= 0)
            close(lsn);
        if (stop >= 0)
            close(stop);
    }
    pthread_mutex_unlock(&agent_lock);
    return rc;
}

PM_EXPORT int peermap_agent_stop(void)
{
    pm_begin();
    pthread_mutex_lock(&agent_lock);
    if (!agent.running) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(ESRCH, "peermap_agent_stop(): no agent runs");
    }
    uint64_t one = 1;
    if (write(agent.stop, &one, sizeof one) != sizeof one) {
        pthread_mutex_unlock(&agent_lock);
        return pm_fail(EIO, "peermap_agent_stop(): cannot wake the agent: %m");
    }
    pthread_join(agent.th, NULL);
    close(agent.lsn);
    close(agent.stop);
    free(agent.uids);
    agent.uids = NULL;
    agent.lsn = agent.stop = -1;
    agent.running = 0;
    pthread_mutex_unlock(&agent_lock);
    return 0;
}
