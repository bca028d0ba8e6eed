/*
 * The caller's side of an agent (agent.c): one connection per call, the
 * same request and answer as in-band, the in-band answer deadline
 * (peermap_inband_timeout_ms()).
 *
 * Nothing is sent before the kernel has shown that the process listening on
 * the name is the target (trust.h):
 *   - SO_PEERCRED.pid is the pid of the process that called listen(), and
 *     SO_PEERPIDFD (Linux >= 6.5) a pidfd for that very process; if that
 *     process is alive and holds `pid` now, it IS the process the caller
 *     names (a live process keeps its pid for life).  A socket made by a
 *     process that held the pid earlier and passed the socket on (pid
 *     reuse), or by anyone else, fails the proof.
 *   - Without SO_PEERPIDFD the kernel says only which pid and uid made the
 *     socket.  Then the listener's uid must be the target's effective uid:
 *     that rules out every other user, and what is left - a process of the
 *     target's own user that held the pid earlier - could reach the
 *     target's memory anyway (same user).
 * A name held by someone else is not a route: the call says who holds it
 * (pm_agent_miss) and sends nothing.  The agent may then listen on a name
 * of its own, published in its thread's name (agent.h); it is looked up
 * and proved the same way.
 */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "msg/inband.h"
#include "msg/msg.h"
#include "peer/agent.h"
#include "peer/path.h"
#include "trust/trust.h"

static atomic_uint next_id = 1u << 31; /* apart from in-band ids */

/* Is the process behind this connected socket's listener the target? */
static int is_target(const struct pm_peer_id *id, pid_t pid, int *exited)
{
    *exited = 0;
    if (id->pid != pid)
        return 0;
    if (id->pidfd >= 0) {
        pid_t now = pm_pidfd_pid(id->pidfd);
        *exited = now < 0;
        return now == pid;
    }
    /* No pidfd from this kernel: the uid rule (above). */
    uid_t ruid, euid;
    return pm_proc_uids(pid, &ruid, &euid) == 0 && id->uid == euid;
}

enum reach { REACHED, NOBODY, SOMEONE_ELSE, FAILED };

/* Connect to pid's agent under the given name and prove who listens. */
static enum reach reach(pid_t pid, const char *token, int *sock, struct pm_agent_miss *miss)
{
    struct sockaddr_un sa;
    socklen_t sl = pm_agent_addr(pid, token, &sa);
    /* Non-blocking: a listener that never accepts (a full backlog) must not
     * hold the caller in connect(). */
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return FAILED;
    if (connect(s, (struct sockaddr *)&sa, sl) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return e == ECONNREFUSED || e == ENOENT ? NOBODY : FAILED;
    }
    struct pm_peer_id id = { .pidfd = -1 };
    int got = pm_peer_get(s, &id) == 0;
    int exited = !got; /* ESRCH: the kernel knows the listener's maker is gone */
    if (got && is_target(&id, pid, &exited)) {
        pm_peer_release(&id);
        *sock = s;
        return REACHED;
    }
    pm_peer_release(&id);
    close(s);
    miss->squatted = 1;
    miss->pid = id.pid;
    miss->uid = id.uid;
    miss->exited = exited;
    return SOMEONE_ELSE;
}

static void pause_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000 };
    nanosleep(&ts, NULL);
}

/* A proven connection to pid's agent, or -1: *closed = 1 when there is no
 * route (nobody, or only someone else, listens: miss says which), 0 with
 * errno on a failure (ETIMEDOUT: the agent's queue stayed full). */
static int connect_agent(pid_t pid, int64_t deadline, struct pm_agent_miss *miss, int *closed)
{
    int s = -1;
    *closed = 1;
    enum reach r = reach(pid, NULL, &s, miss);
    if (r == REACHED)
        return s;
    if (r == FAILED && errno != EAGAIN)
        return -1; /* no socket for us (EMFILE...): as if there were no agent */
    /* The usual name is free, someone else's, or its queue is full: the
     * agent may listen on a name of its own. */
    int busy = r == FAILED;
    char token[PM_AGENT_TOKEN_LEN + 1];
    int f = pm_agent_find_token(pid, token, deadline);
    if (f < 0 && errno == EACCES)
        miss->hidden = 1;
    if (f == 1) {
        struct pm_agent_miss other = { 0 };
        enum reach t = reach(pid, token, &s, &other);
        if (t == REACHED)
            return s;
        if (t == SOMEONE_ELSE && !miss->squatted)
            *miss = other;
    }
    /* Nobody else is known to hold the name: a queue that is full is the
     * agent's, busy.  Wait for room until the deadline. */
    while (busy && !miss->squatted) {
        if (pm_now_ns() >= deadline) {
            *closed = 0;
            pm_fail(ETIMEDOUT, "the agent of PID %d accepted no connection in time "
                    "(peermap_inband_timeout_ms())", (int)pid);
            return -1;
        }
        pause_ms(1);
        r = reach(pid, NULL, &s, miss);
        if (r == REACHED)
            return s;
        busy = r == FAILED && errno == EAGAIN;
    }
    return -1;
}

/* Wait for the answer until the deadline.  0 with *a (its size checked:
 * a->magic is 0 for a datagram of another size), -1 with ETIMEDOUT, or 1:
 * closed without an answer. */
static int await_answer(int s, int64_t deadline, struct pm_inband_ans *a)
{
    int spent = 0;
    for (;;) {
        ssize_t r;
        if (spent) {
            r = recv(s, a, sizeof *a, MSG_TRUNC | MSG_DONTWAIT);
            if (r <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
        } else {
            int64_t left = (deadline - pm_now_ns() + 999999) / 1000000;
            struct pollfd p = { .fd = s, .events = POLLIN };
            int n = left > 0 ? poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left)) : 0;
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0) {
                /* Too late.  Close the way back first, then take what is
                 * queued: an answer that got in before is the result (the
                 * agent did it); one after cannot be sent, and the agent
                 * undoes what it made (pm_inband_do()).  Nothing is left
                 * behind that we do not report. */
                shutdown(s, SHUT_RD);
                spent = 1;
                continue;
            }
            r = recv(s, a, sizeof *a, MSG_TRUNC | MSG_DONTWAIT);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                return 1;
        }
        if (r != (ssize_t)sizeof *a)
            a->magic = 0; /* garbage: the caller says so */
        return 0;
    }
}

int pm_agent_call(pid_t pid, struct pm_inband_req *rq, int objfd, uint64_t *out,
                  struct pm_agent_miss *miss)
{
    memset(miss, 0, sizeof *miss);
    int64_t deadline = pm_now_ns() + pm_inband_timeout_ns();
    int closed;
    int s = connect_agent(pid, deadline, miss, &closed);
    if (s < 0)
        return closed ? 1 : -1;
    rq->magic = PM_INBAND_REQ;
    rq->id = atomic_fetch_add(&next_id, 1);
    rq->pid = pid;
    rq->has_fd = objfd >= 0;
    rq->deadline_ns = deadline;
    iov_t v = { rq, sizeof *rq };
    if (pm_sendmsg_fds(s, &v, 1, &objfd, objfd >= 0, MSG_DONTWAIT) != (ssize_t)sizeof *rq) {
        close(s);
        /* Refused at accept (closed at once) or gone: it did nothing. */
        return 1;
    }
    struct pm_inband_ans a;
    int rc = await_answer(s, deadline, &a);
    close(s);
    if (rc < 0)
        return pm_fail(ETIMEDOUT, "the agent of PID %d did not answer in time "
                       "(peermap_inband_timeout_ms())", (int)pid);
    if (rc == 1) {
        /* Closed without an answer: the agent refused us (uid, or our
         * user's share of its connections is in use) before reading, or the
         * process died. */
        return kill(pid, 0) == 0 || errno == EPERM
                   ? 1 : pm_fail(ESRCH, "PID %d went away", (int)pid);
    }
    if (a.magic != PM_INBAND_ANS || a.id != rq->id || !pm_inband_answer_sane(rq, &a))
        return pm_fail(EIO, "the agent of PID %d answered with garbage", (int)pid);
    /* An agent's only "stale" is "too late": it found our deadline passed
     * before it could act (a loaded machine), and did nothing. */
    if (a.refused == PM_INBAND_REFUSED_STALE)
        return pm_fail(ETIMEDOUT, "the agent of PID %d took the request too late "
                       "(peermap_inband_timeout_ms())", (int)pid);
    if (a.refused)
        return 1;
    if (a.err)
        return pm_fail(a.err, "in PID %d (agent): %s", (int)pid, pm_strerror(a.err));
    *out = a.addr;
    return 0;
}
