/*
 * What the remote-syscall engine needs from a CPU architecture.  A port is one
 * file, remote/arch/<cpu>.c, implementing these functions; nothing above this
 * header knows a register name.  See ARCHITECTURE.md, "Porting".
 */
#ifndef PEERMAP_ARCH_H
#define PEERMAP_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* The general registers as PTRACE_GETREGSET(NT_PRSTATUS) returns them. */
#if defined(__x86_64__) || defined(__aarch64__)
/* glibc's <sys/user.h> names both: x86_64's with orig_rax and cs, aarch64's
 * regs[31], sp, pc, pstate (the kernel's struct user_pt_regs). */
typedef struct user_regs_struct pm_regs;
#else
#error "peermap: no remote-syscall port for this CPU"
#endif

/* Read and write the stopped thread's general registers. 0 or -1/errno. */
int pm_arch_getregs(pid_t tid, pm_regs *r);
int pm_arch_setregs(pid_t tid, const pm_regs *r);

/* The AUDIT_ARCH_* value seccomp filters see for a native system call. */
extern const uint32_t pm_arch_audit_arch;

/* The byte pattern of the system-call instruction, and its length. */
extern const unsigned char pm_arch_syscall_insn[];
extern const size_t pm_arch_syscall_insn_len;
/* Instructions start at multiples of this (1 on x86_64, 4 on aarch64): a
 * pattern found elsewhere is data, not an instruction. */
extern const size_t pm_arch_insn_align;

/* When the kernel prepares the restart of an interrupted system call.
 * 0 (x86_64): when the thread resumes, from orig_rax and rax, which
 * NT_PRSTATUS holds, so restoring the registers restores the decision.
 * 1 (aarch64): before it reports the stop: pc is already back on the `svc`
 * and x0 reloaded from orig_x0 (which NT_PRSTATUS does not hold), and the
 * kernel's own system-call number reads -1.  restart.c deals with that. */
extern const int pm_arch_restart_at_stop;

/* How the kernel marks the SIGTRAP of a single-step.  0 (x86_64): a trap
 * code, si_code > 0, which no process can send.  1 (aarch64): the generic
 * report, si_code SI_USER with si_pid and si_uid 0 - what a kill() from a
 * process looks like, except that a process has a pid. */
extern const int pm_arch_step_trap_si_user;

/* The kernel's idea of the thread's current system-call number (-1: none),
 * and changing it: NT_ARM_SYSTEM_CALL on aarch64, orig_rax on x86_64.
 * 0 or -1/errno. */
int pm_arch_get_syscallno(pid_t tid, long *nr);
int pm_arch_set_syscallno(pid_t tid, long nr);

/* The thread's program counter. */
uintptr_t pm_arch_pc(const pm_regs *r);

/* Whether the thread stopped inside a system call (then the instruction
 * just before the pc is the system-call instruction it used).  Only where
 * the registers tell (x86_64); always 0 where pm_arch_restart_at_stop. */
int pm_arch_in_syscall(const pm_regs *r);

/* Whether the thread runs the native ABI (a 32-bit task on a 64-bit kernel
 * would need other system-call numbers: refused). */
int pm_arch_native_abi(const pm_regs *r);

/* Turn `saved` into the registers that run system call `nr` with `args` at
 * the instruction at `insn`, with the kernel's restart logic disarmed (the
 * thread may have been stopped inside an interrupted system call whose
 * restart must not be applied to ours). */
void pm_arch_setup_syscall(pm_regs *r, const pm_regs *saved, uintptr_t insn,
                           long nr, const unsigned long args[6]);

/* The system call's return value (-errno on failure), and changing it. */
long pm_arch_syscall_result(const pm_regs *r);
void pm_arch_set_syscall_result(pm_regs *r, long v);

/* The number of the system call the thread is stopped in (valid when
 * pm_arch_in_syscall()); on aarch64 the register that holds it (x8). */
long pm_arch_syscall_nr(const pm_regs *r);
void pm_arch_set_syscall_nr(pm_regs *r, long nr);

/* Argument i (0..5) of the call as the registers hold it, the stack
 * pointer, and moving the program counter (restart.c). */
unsigned long pm_arch_syscall_arg(const pm_regs *r, int i);
void pm_arch_set_syscall_arg0(pm_regs *r, unsigned long v);
uintptr_t pm_arch_sp(const pm_regs *r);
void pm_arch_set_pc(pm_regs *r, uintptr_t pc);

#endif
