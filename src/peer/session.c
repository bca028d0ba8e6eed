/*
 * Sessions: one attach, many calls.  The target thread stays in its ptrace
 * stop between calls with its registers and signal mask already put back, so
 * that whatever happens to us (even our death) releases it intact.
 */
#include <stdlib.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "peer/ability.h"
#include "peer/args.h"
#include "peer/remote_map.h"
#include "remote/worker.h"
#include "sys/procmgr.h"

struct peermap_session {
    struct pm_tracee t;
    unsigned generation; /* of the tracer thread holding t */
    int broken;          /* t is no longer ours (timeout, death) */
};

struct session_job {
    peermap_session *s;
    const struct pm_map_req *rq;
    uintptr_t start, out;
    size_t len;
};

static int attach_job(void *arg)
{
    struct session_job *j = arg;
    if (pm_worker_attach(&j->s->t, j->s->t.pid) < 0) {
        if (j->s->t.stuck)
            pm_worker_adopt(&j->s->t);
        return -1;
    }
    return 0;
}

static int usable(peermap_session *s)
{
    if (!s)
        return pm_fail(EINVAL, "no session");
    if (s->broken)
        return pm_fail(ESRCH, "the session's target was lost by an earlier failure");
    if (s->generation != pm_worker_generation())
        return pm_fail(ESRCH, "the session's target was released (after a "
                       "timeout elsewhere, or in a fork() child, which does "
                       "not inherit the parent's sessions)");
    return 0;
}

static int call_job(void *arg)
{
    struct session_job *j = arg;
    peermap_session *s = j->s;
    int rc = j->rq ? pm_tracee_map(&s->t, j->rq, &j->out)
                   : pm_tracee_unmap(&s->t, j->start, j->len);
    int e = errno;
    if (rc < 0 && (e == ETIMEDOUT || e == ESRCH)) {
        /* The tracee is not usable any more; settle it now. */
        pm_tracee_settle(&s->t);
        s->broken = 1;
    } else if (pm_tracee_restore(&s->t) < 0) {
        s->broken = 1;
        return -1;
    }
    errno = e;
    return rc;
}

static int detach_job(void *arg)
{
    struct session_job *j = arg;
    return pm_tracee_release(&j->s->t);
}

PM_EXPORT peermap_session *peermap_attach(pid_t pid)
{
    pm_begin();
    if (pid <= 0 || pid == getpid()) {
        pm_fail(EINVAL, "a session needs another process (PID %d)", (int)pid);
        return NULL;
    }
    if (pm_ability_check(PROCMGR_AID_MEM_PEER)) {
        pm_ability_fail(PROCMGR_AID_MEM_PEER, "changing another process's memory");
        return NULL;
    }
    /* Not a signal handler's call: may start the tracer thread if the
     * one started at load could not be (or PEERMAP_TRACER=ondemand). */
    if (pm_worker_ensure() < 0)
        return NULL;
    peermap_session *s = calloc(1, sizeof *s);
    if (!s) {
        pm_fail(ENOMEM, "out of memory");
        return NULL;
    }
    s->t.pid = pid;
    s->generation = pm_worker_generation();
    struct session_job j = { .s = s };
    if (pm_worker_run(attach_job, &j) < 0) {
        int e = errno;
        free(s);
        errno = e;
        return NULL;
    }
    /* A retire between our generation read and the attach is impossible:
     * jobs are serialised and a retiring job fails. */
    s->generation = pm_worker_generation();
    return s;
}

PM_EXPORT void *peermap_mmap(peermap_session *s, void *addr, size_t len, int prot,
                             int flags, int fd, off_t off)
{
    struct pm_map_req rq;
    pm_begin();
    if (usable(s) < 0)
        return MAP_FAILED;
    int rc = pm_map_req_init(&rq, 1, addr, len, prot, flags, fd, off);
    struct session_job j = { .s = s, .rq = &rq };
    if (rc == 0)
        rc = pm_worker_run(call_job, &j);
    int e = errno;
    pm_map_req_done(&rq);
    errno = e;
    return rc < 0 ? MAP_FAILED : (void *)j.out;
}

PM_EXPORT int peermap_munmap(peermap_session *s, void *addr, size_t len)
{
    struct session_job j = { .s = s };
    pm_begin();
    if (usable(s) < 0 || pm_unmap_range(addr, len, &j.start, &j.len) < 0)
        return -1;
    if (pm_ability_check(PROCMGR_AID_MEM_PEER))
        return pm_ability_fail(PROCMGR_AID_MEM_PEER, "changing another process's memory");
    return pm_worker_run(call_job, &j);
}

PM_EXPORT int peermap_detach(peermap_session *s)
{
    int rc = 0;
    pm_begin();
    if (!s)
        return pm_fail(EINVAL, "no session");
    if (!s->broken && s->generation == pm_worker_generation()) {
        struct session_job j = { .s = s };
        rc = pm_worker_run(detach_job, &j);
    }
    free(s);
    return rc;
}
