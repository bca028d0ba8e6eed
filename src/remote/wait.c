/*
 * Waiting for the tracee's next ptrace stop, with a deadline.
 *
 * waitid() has no timeout, and a blocking wait on a target that never stops
 * (uninterruptible sleep, a vfork parent) would hang the caller.  So the wait
 * polls: sched_yield() and WNOHANG for a short while (on one CPU, yielding is
 * what lets the target run to its stop), then sleeps on the pidfd, which
 * also wakes us if the process exits.  WEXITED is never asked for: if the
 * target is the caller's own child, its exit status belongs to the caller.
 */
#include <poll.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "peermap.h"
#include "common/internal.h"
#include "remote/tracee.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

/* How many yields before sleeping; a stop normally arrives within a few. */
#define YIELD_ROUNDS 64

static int classify(struct pm_tracee *t, const siginfo_t *wi, struct pm_stop *st)
{
    /* For ptrace stops waitid() reports the whole exit code in si_status:
     * the signal in the low byte, the PTRACE_EVENT_* above it. */
    int status = wi->si_status;
    int event = (status >> 8) & 0xff;

    st->sig = status & 0x7f;
    if (event == 0 && (status & 0xff) == (SIGTRAP | 0x80)) {
        st->kind = PM_STOP_SYSCALL; /* PTRACE_O_TRACESYSGOOD */
        return 0;
    }
    if (event == PTRACE_EVENT_EXIT) {
        st->kind = PM_STOP_EXIT;
        return 0;
    }
    if (event == PTRACE_EVENT_STOP) {
        st->kind = PM_STOP_EVENT;
        return 0;
    }
    st->kind = PM_STOP_SIGNAL;
    /* A SIGSYS needs its details (was it seccomp's?), and so does a
     * SIGTRAP: our single-step's trap (kernel-made: si_code > 0, or on
     * aarch64 SI_USER without a sender) or one a process sent, which must
     * reach the target after us (tracee.c, trap_was_sent()).
     * Other signals are only passed on or held by number. */
    st->si.si_code = 0;
    if ((st->sig == SIGSYS || st->sig == SIGTRAP) &&
        ptrace(PTRACE_GETSIGINFO, t->tid, 0, &st->si) < 0)
        return pm_fail(0, "PTRACE_GETSIGINFO on %d: %m", t->tid);
    return 0;
}

int pm_wait_stop(struct pm_tracee *t, struct pm_stop *st)
{
    int64_t sleep_ns = 5000;

    for (int round = 0;; round++) {
        /* The stop we wait for needs the target to run first: on one CPU,
         * give it the CPU before asking, not after. */
        if (round < YIELD_ROUNDS)
            sched_yield();
        siginfo_t wi = { 0 };
        if (waitid(P_PID, (id_t)t->tid, &wi, WSTOPPED | WNOHANG | __WALL) < 0) {
            if (errno == EINTR)
                continue;
            /* ECHILD: no longer our tracee, i.e. it died and was reaped. */
            t->gone = 1;
            return pm_fail(ESRCH, "PID %d exited during the call", t->pid);
        }
        if (wi.si_pid == t->tid && wi.si_code == CLD_TRAPPED)
            return classify(t, &wi, st);

        int64_t now = pm_now_ns();
        if (now >= t->deadline)
            return pm_fail(ETIMEDOUT, "PID %d did not stop within %u ms "
                           "(uninterruptible sleep, or a vfork parent?)",
                           t->pid, peermap_timeout_ms());
        if (round < YIELD_ROUNDS)
            continue;
        int64_t left = t->deadline - now;
        if (sleep_ns > left)
            sleep_ns = left;
        struct timespec ts = { 0, (long)sleep_ns };
        struct pollfd p = { .fd = t->pidfd, .events = POLLIN };
        if (ppoll(&p, 1, &ts, NULL) > 0 && (p.revents & POLLIN)) {
            t->gone = 1;
            return pm_fail(ESRCH, "PID %d exited during the call", t->pid);
        }
        if (sleep_ns < 1000000)
            sleep_ns *= 2;
    }
}
