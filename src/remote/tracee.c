/*
 * Attaching to one thread of the target, running system calls in it, and
 * leaving it exactly as it was.  See tracee.h for the contract and
 * ARCHITECTURE.md for why each step is done this way.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "remote/tracee.h"
#include "trust/trust.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

/* The mask a thread runs our calls under: every signal but SIGTRAP (the
 * kernel leaves SIGKILL and SIGSTOP deliverable whatever we say).  Our
 * single-step ends in a trap the kernel forces on the thread, and a forced
 * signal that is blocked gets its handler reset to SIG_DFL (and is
 * unblocked) before delivery: with SIGTRAP blocked, one call would silently
 * take the target's own SIGTRAP handler away.  Left unblocked, our trap is
 * an ordinary signal-delivery stop that we swallow, and a SIGTRAP someone
 * else sends meanwhile is held and sent again after (step_until_trapped). */
static const uint64_t call_mask = ~(uint64_t)0 & ~(1ull << (SIGTRAP - 1));

static int set_mask(pid_t tid, uint64_t mask)
{
    return ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof mask, &mask) < 0 ? -1 : 0;
}

/* The target died while traced.  Unless it is our own child (whose status
 * the caller will reap), collecting it here hands it back to its real parent,
 * which otherwise would not learn of the death until we detach. */
static void release_dead(struct pm_tracee *t)
{
    siginfo_t si;
    char buf[256];
    int ppid = 0;
    if (pm_proc_read(t->pid, "stat", buf, sizeof buf) >= 0) {
        /* "pid (comm) S ppid ...": after the last ')', the state, then. */
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] && rp[3] == ' ')
            ppid = atoi(rp + 4);
    }
    if (ppid != getpid())
        waitid(P_PID, (id_t)t->tid, &si, WEXITED | WNOHANG | __WALL);
}

static void close_pidfd(struct pm_tracee *t)
{
    if (t->pidfd >= 0)
        close(t->pidfd);
    t->pidfd = -1;
}

#define ERESTARTNOHAND 514 /* kernel-internal: restart unless a handler ran */

/* System calls that return EINTR to user space when their thread is merely
 * stopped, handler or not (signal(7), "Interruption of system calls ... by
 * stop signals"). */
static int eintr_when_stopped(long nr)
{
    switch (nr) {
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
#endif
    case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
    case SYS_rt_sigtimedwait:
    case SYS_semtimedop:
#ifdef SYS_semop
    case SYS_semop:
#endif
    case SYS_io_getevents:
        return 1;
    default:
        return 0;
    }
}

/* Our stop made such a call fail with EINTR, which the target would see.  A
 * signal with a handler cannot be behind it (we would have met its delivery
 * first), so ask the kernel to restart the call instead, as it does for most
 * calls; should a handler run after all, it still turns into EINTR. */
static void keep_call_going(struct pm_tracee *t)
{
    if (pm_arch_in_syscall(&t->saved) &&
        pm_arch_syscall_result(&t->saved) == -EINTR &&
        eintr_when_stopped(pm_arch_syscall_nr(&t->saved))) {
        pm_arch_set_syscall_result(&t->saved, -ERESTARTNOHAND);
        t->dirty = 1;
    }
}

/* The system-call instruction to run: the one the thread was stopped in, if
 * any (no lookup at all), otherwise the vDSO's. */
static int choose_insn(struct pm_tracee *t)
{
    if (pm_arch_restart_at_stop) {
        /* The svc the thread is on (its restart), else the one it just
         * left (the 4 bytes before pc); see restart.c. */
        uintptr_t pc = pm_arch_pc(&t->saved);
        if (t->at_svc) {
            t->insn = pc;
            t->probe_entry = 1;
            return 0;
        }
        if (pm_restart_peek_is_svc(t, pc - pm_arch_syscall_insn_len)) {
            t->insn = pc - pm_arch_syscall_insn_len;
            return 0;
        }
        return pm_vdso_syscall_insn(t, &t->insn);
    }
    if (pm_arch_in_syscall(&t->saved)) {
        uintptr_t at = pm_arch_pc(&t->saved) - pm_arch_syscall_insn_len;
        errno = 0;
        long w = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)at, 0);
        if (!(w == -1 && errno) &&
            memcmp(&w, pm_arch_syscall_insn, pm_arch_syscall_insn_len) == 0) {
            t->insn = at;
            return 0;
        }
    }
    return pm_vdso_syscall_insn(t, &t->insn);
}

int pm_tracee_attach(struct pm_tracee *t, pid_t pid)
{
    struct pm_stop st;

    memset(t, 0, sizeof *t);
    t->pid = t->tid = pid;
    t->deadline = pm_now_ns() + pm_timeout_ns();
    t->pidfd = pidfd_open(pid, 0);
    if (t->pidfd < 0) {
        int e = errno;
        if (e == ESRCH || e == EINVAL || e == ENOENT)
            e = pm_diagnose_attach(pid, ESRCH);
        else
            pm_fail(e, "pidfd_open(%d): %s", (int)pid, pm_strerror(e));
        errno = e;
        return -1;
    }
    /* TRACESYSGOOD: syscall stops (restart.c, aarch64 only) tell
     * themselves apart from a SIGTRAP. */
    const long opts = PTRACE_O_TRACEEXIT | PTRACE_O_TRACESYSGOOD;
    if (ptrace(PTRACE_SEIZE, pid, 0, (void *)opts) < 0) {
        /* A process whose main thread has exited (pthread_exit) can still
         * be served through one of its other threads. */
        int e = errno;
        pid_t other = e == EPERM ? pm_live_thread(pid) : 0;
        if (other <= 0 ||
            ptrace(PTRACE_SEIZE, other, 0, (void *)opts) < 0) {
            e = pm_diagnose_attach(pid, e);
            close_pidfd(t);
            errno = e;
            return -1;
        }
        t->tid = other;
    }
    if (pm_arch_restart_at_stop)
        pm_restart_note(t); /* the registers will not tell (restart.c) */
    if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0) {
        int e = errno;
        ptrace(PTRACE_DETACH, t->tid, 0, 0);
        close_pidfd(t);
        return pm_fail(e == ESRCH ? ESRCH : e, "PTRACE_INTERRUPT on %d: %s",
                       (int)t->tid, pm_strerror(e));
    }
    for (;;) {
        if (pm_wait_stop(t, &st) < 0) {
            /* On ETIMEDOUT the thread is seized but never stopped: the tracer
             * thread keeps it (pidfd included) and lets it go untouched. */
            int e = errno;
            if (t->gone) {
                release_dead(t);
                close_pidfd(t);
            } else {
                t->stuck = 1;
            }
            errno = e;
            return -1;
        }
        if (st.kind == PM_STOP_EVENT) {
            /* SIGTRAP: our interrupt.  A stop signal: a group-stop, i.e. the
             * process is job-stopped and must stay so. */
            if (st.sig != SIGTRAP)
                t->job_stopped = 1;
            break;
        }
        if (st.kind == PM_STOP_EXIT) {
            ptrace(PTRACE_DETACH, t->tid, 0, 0);
            close_pidfd(t);
            return pm_fail(ESRCH, "PID %d is exiting", (int)pid);
        }
        /* A signal was on its way in when we attached: let it go in (our
         * interrupt stays pending and stops the thread right after). */
        if (ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)st.sig) < 0) {
            close_pidfd(t);
            return pm_fail(ESRCH, "PID %d vanished while attaching", (int)pid);
        }
    }

    if (pm_arch_getregs(t->tid, &t->saved) < 0 ||
        ptrace(PTRACE_GETSIGMASK, t->tid, (void *)sizeof t->saved_mask,
               &t->saved_mask) < 0) {
        int e = errno;
        pm_tracee_detach(t);
        return pm_fail(e, "cannot read the registers of PID %d: %s", (int)pid,
                       pm_strerror(e));
    }
    if (!pm_arch_native_abi(&t->saved)) {
        pm_tracee_detach(t);
        return pm_fail(EINVAL, "PID %d runs a 32-bit ABI; only native "
                       "processes are supported", (int)pid);
    }
    if (pm_arch_restart_at_stop)
        pm_restart_fixup(t, eintr_when_stopped);
    else
        keep_call_going(t);
    if (choose_insn(t) < 0) {
        int e = errno;
        pm_tracee_detach(t);
        errno = e;
        return -1;
    }
    return 0;
}

/* Whether a SIGTRAP was sent by a process (kill, tgkill, sigqueue) rather
 * made by the kernel for our single-step.  Where the kernel reports a step
 * as SI_USER (aarch64) only the missing sender tells ours apart; a kill()
 * from a process the target's pid namespace cannot see has no pid either,
 * and is taken for ours (documented in ARCHITECTURE.md, Known limits). */
static int trap_was_sent(const siginfo_t *si)
{
    if (si->si_code > 0)
        return 0;
    if (pm_arch_step_trap_si_user && si->si_code == SI_USER &&
        si->si_pid == 0 && si->si_uid == 0)
        return 0;
    return 1;
}

/* Drive the single-step that runs the current call until the call has run
 * and its trap is consumed.  One single-step runs the instruction and reports
 * SIGTRAP; whatever else stops the thread meanwhile is dealt with so that, on
 * success, the call ran exactly once and no trap of ours is left pending. */
static int step_until_trapped(struct pm_tracee *t)
{
    static const unsigned long no_args[6];
    uintptr_t after = t->insn + pm_arch_syscall_insn_len;
    struct pm_stop st;
    pm_regs cur, r;

    for (;;) {
        if (pm_wait_stop(t, &st) < 0)
            return -1;
        if (st.kind == PM_STOP_EXIT) {
            t->gone = 1;
            return pm_fail(ESRCH, "PID %d exited during the call", (int)t->pid);
        }
        if (st.kind == PM_STOP_SYSCALL) {
            /* The first call's entry (restart.c): then step as usual. */
            if (pm_restart_entry(t) < 0 ||
                ptrace(PTRACE_SINGLESTEP, t->tid, 0, 0) < 0)
                return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
            continue;
        }
        if (pm_arch_getregs(t->tid, &cur) < 0)
            return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
        if (!t->call_done && pm_arch_pc(&cur) == after) {
            t->call_done = 1;
            t->call_ret = pm_arch_syscall_result(&cur);
        }
        if (st.kind == PM_STOP_SIGNAL && st.sig == SIGTRAP && trap_was_sent(&st.si)) {
            /* Sent by a process (kill, tgkill, sigqueue), not our trap:
             * held, and sent again once the thread is its own. */
            t->reraise_trap = 1;
        } else if (st.kind == PM_STOP_SIGNAL && st.sig == SIGTRAP && t->call_done) {
            return 0;
        }
        if (st.kind == PM_STOP_EVENT && st.sig != SIGTRAP)
            t->job_stopped = 1; /* stopped under us; detach re-stops it */
        else if (st.kind == PM_STOP_SIGNAL && st.sig == SIGSYS &&
                 st.si.si_code == SYS_SECCOMP)
            t->seccomp_trap = 1; /* ours: swallowed, reported to the caller */
        else if (st.kind == PM_STOP_SIGNAL && st.sig == SIGSTOP)
            t->reraise = SIGSTOP; /* unblockable: held, sent again after */
        /* Resume.  If the call already ran, point the thread at a harmless
         * getpid: it either takes our pending trap before running anything,
         * or runs getpid and traps; either way nothing of the target runs. */
        if (t->call_done) {
            pm_arch_setup_syscall(&r, &t->saved, t->insn, SYS_getpid, no_args);
            if (pm_arch_setregs(t->tid, &r) < 0)
                return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
        }
        if (ptrace(t->probe_entry ? PTRACE_SYSCALL : PTRACE_SINGLESTEP,
                   t->tid, 0, 0) < 0)
            return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    }
}

int pm_remote_syscall(struct pm_tracee *t, long nr, const unsigned long args[6],
                      long *ret)
{
    pm_regs r;

    if (pm_seccomp_vet(t, nr, args) < 0)
        return -1;
    t->seccomp_trap = 0;
    t->call_done = 0;
    t->deadline = pm_now_ns() + pm_timeout_ns();
    if (!t->masked && set_mask(t->tid, call_mask) < 0)
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    t->masked = 1;
    t->dirty = 1;
    t->call_nr = nr;
    pm_arch_setup_syscall(&r, &t->saved, t->insn, nr, args);
    if (pm_arch_setregs(t->tid, &r) < 0 ||
        ptrace(t->probe_entry ? PTRACE_SYSCALL : PTRACE_SINGLESTEP, t->tid, 0, 0) < 0)
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    if (step_until_trapped(t) < 0) {
        if (errno == ETIMEDOUT)
            pm_fail_over(ETIMEDOUT, "a system call inside PID %d did not finish "
                         "within %u ms; it is left to finish, and what it made "
                         "is undone, in the background", (int)t->pid,
                         peermap_timeout_ms());
        return -1;
    }
    *ret = t->call_ret;
    return 0;
}

/* A stuck tracee: detach it as soon as it stops (handing on the signal it
 * stopped for, if any), or collect it if it died. */
static int try_release(struct pm_tracee *t)
{
    siginfo_t wi = { 0 };
    if (waitid(P_PID, (id_t)t->tid, &wi, WSTOPPED | WNOHANG | __WALL) == 0 &&
        wi.si_pid == t->tid) {
        int status = wi.si_status, sig = 0;
        if (((status >> 8) & 0xff) == 0 && !(status & 0x80)) /* a signal-delivery-stop */
            sig = status & 0x7f;
        if (t->masked) /* stuck on the way back into its call (restart.c) */
            set_mask(t->tid, t->saved_mask);
        ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)sig);
        pm_seccomp_free(t);
        close_pidfd(t);
        return 1;
    }
    struct pollfd p = { .fd = t->pidfd, .events = POLLIN };
    if (t->pidfd < 0 || poll(&p, 1, 0) > 0) {
        release_dead(t);
        pm_seccomp_free(t);
        close_pidfd(t);
        return 1;
    }
    return 0;
}

int pm_tracee_try_finish(struct pm_tracee *t)
{
    if (t->stuck)
        return try_release(t);
    t->deadline = pm_now_ns(); /* look once, do not wait */
    if (step_until_trapped(t) < 0) {
        if (errno == ETIMEDOUT)
            return 0;
        pm_tracee_detach(t); /* gone: just release it */
        return 1;
    }
    /* The abandoned call finished.  If it made a mapping nobody will ever
     * hear of, take it away again before letting the thread go. */
    if (t->undo_len && t->call_ret >= 0) {
        unsigned long a[6] = { (unsigned long)t->call_ret, t->undo_len };
        long ignored;
        t->undo_len = 0;
        /* The munmap gets the deadline in force, which may be tiny: if it
         * outlives it, it is still running in the thread (single-stepped):
         * finish it later like the first one, never detach mid-call (the
         * thread would take our trap as a real SIGTRAP). */
        if (pm_remote_syscall(t, SYS_munmap, a, &ignored) < 0 && errno == ETIMEDOUT)
            return 0;
    }
    pm_tracee_detach(t);
    return 1;
}

int pm_tracee_restore(struct pm_tracee *t)
{
    if (t->gone)
        return 0;
    if ((t->dirty && pm_arch_setregs(t->tid, &t->saved) < 0) ||
        (t->masked && set_mask(t->tid, t->saved_mask) < 0))
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    t->dirty = t->masked = 0;
    return 0;
}

/* PTRACE_DETACH needs a stopped tracee.  One that is not stopped any more was
 * woken by SIGKILL (or is exiting): wait for its exit stop and let it go, or
 * for its death, and collect it. */
static void detach_running(struct pm_tracee *t)
{
    struct pm_stop st;
    t->deadline = pm_now_ns() + pm_timeout_ns();
    for (;;) {
        if (pm_wait_stop(t, &st) < 0) {
            if (t->gone)
                release_dead(t);
            else
                t->stuck = 1;
            return;
        }
        if (ptrace(PTRACE_DETACH, t->tid, 0, 0) == 0)
            return;
    }
}

int pm_tracee_detach(struct pm_tracee *t)
{
    int rc = 0;
    if (t->gone) {
        release_dead(t);
    } else {
        pm_tracee_drop_scratch(t);
        /* Where the kernel decided the restart before our stop and a signal
         * came meanwhile, let the thread enter its call again under our mask
         * and give the mask back at the entry: the call then meets the
         * signal exactly as it would have (restart.c).  Not for a
         * job-stopped process: its thread must not run even into its call. */
        if (pm_arch_restart_at_stop && t->at_svc && !t->job_stopped &&
            !t->probe_entry && pm_restart_signal_waiting(t) &&
            pm_restart_reenter(t) < 0) {
            if (t->gone) {
                release_dead(t);
                pm_seccomp_free(t);
                close_pidfd(t);
                return -1;
            }
            /* Not stopped again in time: kept and let go by the tracer
             * thread, like any stuck tracee. */
            t->stuck = 1;
            return -1;
        }
        rc = pm_tracee_restore(t);
        if (pm_arch_restart_at_stop)
            pm_restart_released(t);
        if (ptrace(PTRACE_DETACH, t->tid, 0, 0) < 0) {
            detach_running(t);
            if (t->stuck) /* kept, pidfd and all, by the tracer thread */
                return pm_fail(ESRCH, "PID %d exited during the call", (int)t->pid);
            if (rc == 0)
                rc = pm_fail(ESRCH, "PID %d exited during the call", (int)t->pid);
        }
        /* A SIGSTOP that arrived while we held the thread was swallowed at
         * its delivery stop; send it again now that the thread runs. */
        if (t->reraise && t->pidfd >= 0)
            syscall(SYS_pidfd_send_signal, t->pidfd, t->reraise, NULL, 0);
        if (t->reraise_trap && t->pidfd >= 0)
            syscall(SYS_pidfd_send_signal, t->pidfd, SIGTRAP, NULL, 0);
    }
    pm_seccomp_free(t);
    close_pidfd(t);
    return rc;
}

int pm_tracee_write(struct pm_tracee *t, uintptr_t addr, const void *buf, size_t n)
{
    struct iovec l = { (void *)buf, n }, r = { (void *)addr, n };
    /* By thread: an exited main thread has no memory to name. */
    if (process_vm_writev(t->tid, &l, 1, &r, 1, 0) == (ssize_t)n)
        return 0;
    return pm_fail(0, "cannot write %zu bytes at %#lx in PID %d: %m", n,
                   (unsigned long)addr, (int)t->pid);
}

int pm_tracee_read(struct pm_tracee *t, uintptr_t addr, void *buf, size_t n)
{
    struct iovec l = { buf, n }, r = { (void *)addr, n };
    if (process_vm_readv(t->tid, &l, 1, &r, 1, 0) == (ssize_t)n)
        return 0;
    return pm_fail(0, "cannot read %zu bytes at %#lx in PID %d: %m", n,
                   (unsigned long)addr, (int)t->pid);
}
