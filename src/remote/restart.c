/*
 * Interrupted system calls on CPUs whose kernel prepares the restart before
 * it reports the stop (pm_arch_restart_at_stop: aarch64).
 *
 * On x86_64 the saved orig_rax/rax carry the kernel's restart decision, so
 * restoring the registers restores it.  On aarch64, by the time we see the
 * stop, the kernel has
 *   - for -ERESTART*: moved pc back onto the `svc` and reloaded x0 from
 *     orig_x0 (not in NT_PRSTATUS), and forgotten the call (number -1);
 *   - for -ERESTART_RESTARTBLOCK (nanosleep, clock_nanosleep, futex with a
 *     timeout): the same, and it will put __NR_restart_syscall into x8 when
 *     the thread resumes *at that svc* - only then;
 *   - for a plain -EINTR (epoll_pwait & co. on a mere stop): left pc after
 *     the `svc` with x0 = -EINTR: the first argument is gone.
 * It decides "restart or EINTR" for a signal delivered during the same
 * return to user space, from values it keeps in local variables - which our
 * injected calls replace with their own.  So:
 *
 * 1. Before the interrupt, pm_restart_note() reads what the thread is
 *    blocked in (/proc/PID/task/TID/syscall: number, the six arguments, sp,
 *    pc), for the one case the registers cannot give back: an EINTR.  A
 *    thread we released a moment ago may not be back in its call yet: for
 *    it, what we released it into serves (pm_restart_released()).
 * 2. At the stop, pm_restart_fixup() turns such an EINTR (only for the calls
 *    Linux fails on a mere stop, and only when number, arguments 1-5, sp
 *    and pc all match what was noted) into a pending restart: pc on the
 *    svc, x0 = the noted first argument.  t->at_svc says "pc is on an svc".
 * 3. The first call is run at that very svc and resumed with PTRACE_SYSCALL:
 *    at its syscall-entry stop the kernel's number shows whether it swapped
 *    in restart_syscall; if so the saved x8 gets it too (as the kernel would
 *    have done), and our call gets its own number back
 *    (pm_restart_entry()).
 * 4. On detach, if a signal the thread's own mask lets through arrived
 *    while we held it (pm_restart_signal_waiting()), pm_restart_reenter()
 *    lets the thread enter its call again with the saved registers under
 *    our all-blocked mask, and puts its own mask back only at the
 *    syscall-entry stop.  The call then meets that signal exactly as a
 *    native one would: EINTR or restart by the kernel's own rules
 *    (SA_RESTART, the -ERESTART* kind), which no value in the registers
 *    could have reproduced.  Only then: a detach at a syscall-entry stop
 *    wakes the thread with TIF_SIGPENDING set, which would make a call of
 *    the EINTR kind fail with no signal at all; with a real signal pending
 *    the call is interrupted anyway.  With none, a plain detach from the
 *    last stop resumes the thread on its svc and the call simply restarts.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ptrace.h>

#include "common/internal.h"
#include "remote/tracee.h"
#include "trust/trust.h"

int pm_restart_peek_is_svc(struct pm_tracee *t, uintptr_t at)
{
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)at, 0);
    return !(w == -1 && errno) &&
           memcmp(&w, pm_arch_syscall_insn, pm_arch_syscall_insn_len) == 0;
}

/* One look; 1 when the thread is running (no answer yet).  open()/read()
 * and a hand parse: the tracer thread never uses stdio (worker.c). */
static int note_once(struct pm_tracee *t)
{
    char what[48], line[256];
    pm_fmt(what, sizeof what, "task/%d/syscall", (int)t->tid);
    if (pm_proc_read(t->pid, what, line, sizeof line) < 0)
        return 0;
    /* "nr a0 a1 a2 a3 a4 a5 sp pc"; "running" or "-1 sp pc" otherwise. */
    if (strncmp(line, "running", 7) == 0)
        return 1;
    unsigned long v[9];
    char *p = line, *end;
    long nr = strtol(p, &end, 10);
    if (end == p || nr < 0)
        return 0;
    p = end;
    for (int i = 1; i < 9; i++) {
        v[i] = strtoul(p, &end, 16);
        if (end == p)
            return 0;
        p = end;
    }
    t->pre.nr = nr;
    for (int i = 0; i < 6; i++)
        t->pre.a[i] = v[1 + i];
    t->pre.sp = v[7];
    t->pre.pc = v[8];
    t->pre.valid = 1;
    return 0;
}

/* The calls we last let threads go back into (pm_restart_released): a
 * thread we have just released is on its way into that call, and /proc may
 * still say "running" when we stop it again, so this is the note then.
 * Each slot has a sequence count (odd while written): tracer threads only,
 * but without a lock, as everything they run (worker.c). */
#define RELEASED_SLOTS 16
static struct released_call {
    atomic_uint seq;
    pid_t pid, tid;
    long nr;
    unsigned long a[6], sp, pc;
} released[RELEASED_SLOTS];
/* The fields themselves are relaxed atomics: a retiring tracer thread may
 * release a thread while its successor reads. */
#define PUT(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)
#define GET(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)

void pm_restart_released(const struct pm_tracee *t)
{
    if (!t->at_svc)
        return;
    struct released_call *r = &released[(unsigned)t->tid % RELEASED_SLOTS];
    atomic_fetch_add(&r->seq, 1);
    PUT(r->pid, t->pid);
    PUT(r->tid, t->tid);
    PUT(r->nr, pm_arch_syscall_nr(&t->saved));
    for (int i = 0; i < 6; i++)
        PUT(r->a[i], pm_arch_syscall_arg(&t->saved, i));
    PUT(r->sp, pm_arch_sp(&t->saved));
    PUT(r->pc, pm_arch_pc(&t->saved) + pm_arch_syscall_insn_len);
    atomic_fetch_add(&r->seq, 1);
}

void pm_restart_note(struct pm_tracee *t)
{
    t->pre.valid = 0;
    /* A thread busy in user space costs these few looks; one that enters an
     * EINTR-kind call in the instant before our interrupt, having never
     * been ours, loses that call's first argument (a limit). */
    for (int i = 0; i < 2 && note_once(t); i++)
        sched_yield();
    if (t->pre.valid)
        return;
    struct released_call *r = &released[(unsigned)t->tid % RELEASED_SLOTS];
    unsigned seq = atomic_load(&r->seq);
    if (seq & 1)
        return; /* being written by another tracer thread: no note */
    struct released_call copy;
    copy.pid = GET(r->pid);
    copy.tid = GET(r->tid);
    copy.nr = GET(r->nr);
    for (int i = 0; i < 6; i++)
        copy.a[i] = GET(r->a[i]);
    copy.sp = GET(r->sp);
    copy.pc = GET(r->pc);
    if (atomic_load(&r->seq) != seq)
        return;
    if (copy.pid == t->pid && copy.tid == t->tid) {
        /* Checked like a /proc note at the stop: same number, pc, sp and
         * arguments 1-5, or it is not used. */
        t->pre.nr = copy.nr;
        for (int i = 0; i < 6; i++)
            t->pre.a[i] = copy.a[i];
        t->pre.sp = copy.sp;
        t->pre.pc = copy.pc;
        t->pre.valid = 1;
    }
}

void pm_restart_fixup(struct pm_tracee *t, int (*eintr_on_stop)(long nr))
{
    pm_regs *s = &t->saved;
    uintptr_t pc = pm_arch_pc(s);

    if (pm_restart_peek_is_svc(t, pc)) {
        t->at_svc = 1; /* a restart the kernel prepared (or user code about
                        * to make a call: either way, it runs that svc) */
        return;
    }
    if (pm_arch_syscall_result(s) != -EINTR || !eintr_on_stop(pm_arch_syscall_nr(s)) ||
        !t->pre.valid || t->pre.nr != pm_arch_syscall_nr(s) || t->pre.pc != pc ||
        t->pre.sp != pm_arch_sp(s) || !pm_restart_peek_is_svc(t, pc - pm_arch_syscall_insn_len))
        return;
    for (int i = 1; i < 6; i++)
        if (t->pre.a[i] != pm_arch_syscall_arg(s, i))
            return;
    /* The same call, from the same place, with the same stack and arguments:
     * restart it with the first argument it was made with. */
    pm_arch_set_pc(s, pc - pm_arch_syscall_insn_len);
    pm_arch_set_syscall_arg0(s, t->pre.a[0]);
    t->dirty = 1;
    t->at_svc = 1;
}

int pm_restart_entry(struct pm_tracee *t)
{
    long kernel_nr;
    if (pm_arch_get_syscallno(t->tid, &kernel_nr) < 0)
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    if (kernel_nr != t->call_nr) {
        /* restart_syscall, as the kernel set it up for the interrupted call:
         * what the thread must run when it gets its registers back. */
        pm_arch_set_syscall_nr(&t->saved, kernel_nr);
        if (pm_arch_set_syscallno(t->tid, t->call_nr) < 0)
            return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    }
    t->probe_entry = 0;
    return 0;
}

int pm_restart_signal_waiting(struct pm_tracee *t)
{
    /* Both queues, a bounded look: a deliverable signal is what matters,
     * not how many there are. */
    for (unsigned flags = 0; flags <= PTRACE_PEEKSIGINFO_SHARED; flags++) {
        for (uint64_t off = 0; off < 64; off++) {
            struct __ptrace_peeksiginfo_args a = { .off = off, .flags = flags, .nr = 1 };
            siginfo_t si;
            long n = ptrace(PTRACE_PEEKSIGINFO, t->tid, &a, &si);
            if (n <= 0)
                break;
            int sig = si.si_signo;
            if (sig > 0 && sig <= 64 && !(t->saved_mask & (1ull << (sig - 1))))
                return 1;
        }
    }
    return 0;
}

int pm_restart_reenter(struct pm_tracee *t)
{
    struct pm_stop st;
    const uint64_t all = ~(uint64_t)0;

    /* Our mask until the entry (a session has put the thread's own back
     * after its last call): resuming from this stop would otherwise hand
     * the waiting signal to a signal-delivery stop before the call. */
    if (!t->masked &&
        ptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof all, &all) < 0)
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    t->masked = 1;
    if (pm_arch_setregs(t->tid, &t->saved) < 0 ||
        ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0)
        return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    t->dirty = 0;
    t->deadline = pm_now_ns() + pm_timeout_ns();
    for (;;) {
        if (pm_wait_stop(t, &st) < 0)
            return -1;
        if (st.kind == PM_STOP_SYSCALL)
            return 0; /* entering its own call; the caller restores the mask */
        if (st.kind == PM_STOP_EXIT) {
            t->gone = 1;
            return pm_fail(ESRCH, "PID %d exited during the call", (int)t->pid);
        }
        if (st.kind == PM_STOP_EVENT && st.sig != SIGTRAP)
            t->job_stopped = 1;
        else if (st.kind == PM_STOP_SIGNAL && st.sig == SIGSTOP)
            t->reraise = SIGSTOP;
        if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0)
            return pm_fail(ESRCH, "PID %d vanished", (int)t->pid);
    }
}
