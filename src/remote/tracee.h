/*
 * A traced thread of another process, and the system calls run inside it.
 *
 * pm_tracee_attach() seizes one thread of the target (PTRACE_SEIZE +
 * PTRACE_INTERRUPT: the target sees no SIGSTOP), saves its registers and
 * signal mask and blocks every blockable signal for the duration.
 * pm_remote_syscall() runs one system call inside it through a system-call
 * instruction that already exists in the target (no code is written).
 * pm_tracee_restore() puts registers and mask back exactly, so the thread may
 * be released at any moment afterwards; pm_tracee_detach() restores and
 * releases it.
 *
 * All calls for one tracee must come from the thread that attached it
 * (ptrace's rule); the library runs them on its tracer thread (worker.c).
 */
#ifndef PEERMAP_TRACEE_H
#define PEERMAP_TRACEE_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/arch/arch.h"

struct pm_tracee {
    pid_t pid;            /* the process */
    pid_t tid;            /* the thread we hold */
    int pidfd;            /* pins the process identity for the whole call */
    pm_regs saved;        /* registers at the stop, restored on the way out */
    uint64_t saved_mask;  /* its blocked-signal mask, likewise */
    uintptr_t insn;       /* the system-call instruction we run */
    int dirty;            /* registers must be written back from saved */
    int masked;           /* we blocked its signals: mask to be put back */
    int job_stopped;      /* the process was (or became) job-stopped */
    int reraise;          /* a stop signal we had to hold: sent again after */
    int reraise_trap;     /* a SIGTRAP someone sent while we held the
                             thread: sent again after */
    int seccomp_trap;     /* the last call raised SIGSYS (seccomp RET_TRAP) */
    int gone;             /* the target exited under us */
    int stuck;            /* seized but not stopped (it never stopped, or was
                           * woken by SIGKILL): cannot be detached until it
                           * stops; the tracer thread keeps watching it */
    uintptr_t scratch;    /* a page we mapped in the target, or 0 */
    int seccomp_checked;  /* pm_seccomp_prepare() ran */
    struct pm_seccomp *seccomp; /* its filters, when we vet calls */
    int call_done;        /* the running call has executed ... */
    long call_ret;        /* ... and returned this */
    size_t undo_len;      /* the running call maps this many bytes: if it is
                           * abandoned and succeeds later, unmap them */
    int64_t deadline;     /* absolute, CLOCK_MONOTONIC ns */
    /* restart.c, where pm_arch_restart_at_stop: */
    int at_svc;           /* saved pc is on an svc the thread will run */
    int probe_entry;      /* resume the next call with PTRACE_SYSCALL and
                           * look at the kernel's number at its entry */
    long call_nr;         /* the number of the call being run */
    struct {              /* what the thread was blocked in before the stop */
        int valid;
        long nr;
        unsigned long a[6], sp, pc;
    } pre;
};

/* 0, or -1 with errno ESRCH, EPERM, ETIMEDOUT, EINVAL and a reason. */
int pm_tracee_attach(struct pm_tracee *t, pid_t pid);

/* Run system call nr(args) in the tracee.  Returns 0 with *ret the raw result
 * (a negative errno value when the call failed inside the target), or -1 with
 * errno when the call could not be run (ESRCH: the target died; ETIMEDOUT). */
int pm_remote_syscall(struct pm_tracee *t, long nr, const unsigned long args[6],
                      long *ret);

/* Put back registers and signal mask (no-op when nothing changed). */
int pm_tracee_restore(struct pm_tracee *t);

/* Restore and release the thread; re-send a held stop signal. Always frees. */
int pm_tracee_detach(struct pm_tracee *t);

/* For a tracee given up on (a call timed out, or it is stuck): one
 * non-blocking look.  Returns 1 when the tracee is finished with (call undone,
 * registers restored, released, or collected if dead), 0 to try later. */
int pm_tracee_try_finish(struct pm_tracee *t);

/* Copy memory into / out of the tracee (process_vm_*; ptrace words as a
 * fallback).  0 or -1/errno. */
int pm_tracee_write(struct pm_tracee *t, uintptr_t addr, const void *buf, size_t n);
int pm_tracee_read(struct pm_tracee *t, uintptr_t addr, void *buf, size_t n);

/* scratch.c: a private read-write page in the target for arguments that must
 * live in its memory (paths, socket addresses).  Mapped on first use, unmapped
 * by pm_tracee_detach(). */
int pm_tracee_scratch(struct pm_tracee *t, uintptr_t *addr);
void pm_tracee_drop_scratch(struct pm_tracee *t);

/* seccomp_vet.c: learn the target's seccomp filters (refusing a strict-mode
 * target, or filters we may not read); afterwards every injected call is
 * first run through them and refused if it would kill the target or block. */
int pm_seccomp_prepare(struct pm_tracee *t);
int pm_seccomp_vet(struct pm_tracee *t, long nr, const unsigned long args[6]);
void pm_seccomp_free(struct pm_tracee *t);

/* fd_import.c: give the target its own descriptor for the caller's `fd`
 * (same object), opened with `oflags` (O_RDONLY or O_RDWR).  *tfd is the
 * target's descriptor, close-on-exec; the caller closes it remotely. */
int pm_remote_import_fd(struct pm_tracee *t, int fd, int oflags, long *tfd);

/* Run a call whose failure is an answer for the caller: 0 with *ret >= 0,
 * or -1 with errno = the target's errno and a reason naming `what`. */
int pm_remote_call(struct pm_tracee *t, const char *what, long nr,
                   const unsigned long args[6], long *ret);

/* ---- parts of the engine, in their own files ---- */

/* wait.c: the next ptrace stop of the tracee, before t->deadline. */
enum pm_stop_kind {
    PM_STOP_SIGNAL,  /* signal-delivery-stop: sig is being delivered */
    PM_STOP_EVENT,   /* PTRACE_EVENT_STOP: interrupt (sig SIGTRAP) or group-stop */
    PM_STOP_EXIT,    /* PTRACE_EVENT_EXIT: the thread is exiting */
    PM_STOP_SYSCALL, /* syscall-entry stop (only after PTRACE_SYSCALL) */
};
struct pm_stop {
    enum pm_stop_kind kind;
    int sig;
    siginfo_t si;    /* valid for PM_STOP_SIGNAL */
};
int pm_wait_stop(struct pm_tracee *t, struct pm_stop *st);

/* restart.c: interrupted calls where the kernel prepares the restart
 * before the stop (see there).  note: before PTRACE_INTERRUPT; fixup: on the
 * saved registers; entry: at the probe's syscall-entry stop; reenter: on
 * detach, leaves the thread at the entry of its own call (mask still ours). */
int pm_restart_peek_is_svc(struct pm_tracee *t, uintptr_t at);
void pm_restart_note(struct pm_tracee *t);
void pm_restart_released(const struct pm_tracee *t);
void pm_restart_fixup(struct pm_tracee *t, int (*eintr_on_stop)(long nr));
int pm_restart_entry(struct pm_tracee *t);
int pm_restart_signal_waiting(struct pm_tracee *t);
int pm_restart_reenter(struct pm_tracee *t);

/* vdso.c: the address of a system-call instruction in the tracee's vDSO. */
int pm_vdso_syscall_insn(struct pm_tracee *t, uintptr_t *insn);

/* diagnose.c: explain why the target may not be attached, or is gone.
 * Records the reason; returns the errno to report. */
int pm_diagnose_attach(pid_t pid, int err);
/* The thread id tracing pid (TracerPid in /proc/pid/status), 0 if none,
 * -1 if /proc does not say. */
pid_t pm_tracer_of(pid_t pid);
/* Whether the process is a zombie or exiting ('Z'/'X' in /proc/pid/stat). */
int pm_process_dead(pid_t pid);
/* When the main thread of pid has exited but others live: one of them.
 * 0 otherwise. */
pid_t pm_live_thread(pid_t pid);
/* A reason for a failed call inside the target (seccomp etc.). */
void pm_diagnose_call(pid_t pid, const char *what, long err);

#endif
