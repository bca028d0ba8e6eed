/*
 * SchedGet(), SchedSet(): a thread's scheduling policy and parameters, by
 * process and thread ID, as QNX's kernel calls.
 *
 * Linux schedules threads, and sched_getscheduler()/sched_setscheduler()
 * take a thread ID, so the calls map directly once the thread is named:
 * tid 0 is the calling thread, and with a pid of 0 (or the caller's) any
 * other tid must be one of the caller's threads, with another pid one of
 * that process's threads (tid 0 there: its main thread) - checked in
 * /proc/PID/task, so that a thread of another process is never touched by
 * mistake.  Thread IDs are Linux's (gettid()), as everywhere in peermap.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sys/neutrino.h>

#include "common/internal.h"

/* The Linux thread SchedGet/SchedSet act on, or -1 with errno. */
static pid_t target_thread(pid_t pid, int tid)
{
    pid_t self = getpid();
    if (pid < 0 || tid < 0)
        return pm_fail(ESRCH, "pid %d / tid %d: no such thread", (int)pid, tid);
    if (pid == 0)
        pid = self;
    if (tid == 0)
        return pid == self ? gettid() : pid;
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/task/%d", (int)pid, tid);
    if (stat(path, &st) < 0)
        return pm_fail(ESRCH, "thread %d is not a thread of process %d", tid, (int)pid);
    return tid;
}

PM_EXPORT int SchedGet(pid_t pid, int tid, struct sched_param *param)
{
    pm_begin();
    pid_t t = target_thread(pid, tid);
    if (t < 0)
        return -1;
    if (!param)
        return pm_fail(EFAULT, "no sched_param");
    int policy = sched_getscheduler(t);
    if (policy < 0 || sched_getparam(t, param) < 0)
        return pm_fail(errno, "thread %d: %m", (int)t);
    return policy;
}

PM_EXPORT int SchedSet(pid_t pid, int tid, int policy, const struct sched_param *param)
{
    pm_begin();
    pid_t t = target_thread(pid, tid);
    if (t < 0)
        return -1;
    if (!param)
        return pm_fail(EFAULT, "no sched_param");
    int rc = policy == SCHED_NOCHANGE ? sched_setparam(t, param)
                                      : sched_setscheduler(t, policy, param);
    if (rc < 0)
        return pm_fail(errno, "thread %d, policy %d, priority %d: %m", (int)t, policy,
                       param->sched_priority);
    return 0;
}
