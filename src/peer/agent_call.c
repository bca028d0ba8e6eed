/*
 * The caller's side of an agent (agent.c): one connection per call, the
 * same request and answer as in-band, the same deadline.
 */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/inband.h"
#include "msg/msg.h"
#include "peer/path.h"

static atomic_uint next_id = 1u << 31; /* apart from in-band ids */

int pm_agent_call(pid_t pid, struct pm_inband_req *rq, int objfd, uint64_t *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t nlen;
    pm_agent_name(pid, sa.sun_path, sizeof sa.sun_path, &nlen);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 1;
    if (connect(s, (struct sockaddr *)&sa,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen)) < 0) {
        close(s);
        return 1; /* no agent */
    }
    /* Anybody may take the name: the object goes only to the real pid. */
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.pid != pid) {
        close(s);
        return 1;
    }
    int64_t deadline = pm_now_ns() + pm_timeout_ns();
    rq->magic = PM_INBAND_REQ;
    rq->id = atomic_fetch_add(&next_id, 1);
    rq->pid = pid;
    rq->has_fd = objfd >= 0;
    rq->deadline_ns = deadline;
    iov_t v = { rq, sizeof *rq };
    if (pm_sendmsg_fds(s, &v, 1, &objfd, objfd >= 0, 0) != (ssize_t)sizeof *rq) {
        close(s);
        /* Refused at accept (closed at once) or gone: it did nothing. */
        return 1;
    }
    struct pm_inband_ans a;
    int rc;
    for (;;) {
        int64_t left = (deadline - pm_now_ns() + 999999) / 1000000;
        struct pollfd p = { .fd = s, .events = POLLIN };
        int n = left > 0 ? poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left)) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            rc = pm_fail(ETIMEDOUT, "the agent of PID %d did not answer in time", (int)pid);
            break;
        }
        ssize_t r = recv(s, &a, sizeof a, MSG_TRUNC);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            /* Closed without an answer: the agent refused us (uid) before
             * reading, or the process died. */
            rc = kill(pid, 0) == 0 || errno == EPERM ? 1
                 : pm_fail(ESRCH, "PID %d went away", (int)pid);
            break;
        }
        if (r != (ssize_t)sizeof a || a.magic != PM_INBAND_ANS || a.id != rq->id ||
            !pm_inband_answer_sane(rq, &a)) {
            rc = pm_fail(EIO, "the agent of PID %d answered with garbage", (int)pid);
            break;
        }
        if (a.refused)
            rc = 1;
        else if (a.err)
            rc = pm_fail(a.err, "in PID %d (agent): %s", (int)pid, strerror(a.err));
        else {
            *out = a.addr;
            rc = 0;
        }
        break;
    }
    close(s);
    return rc;
}
