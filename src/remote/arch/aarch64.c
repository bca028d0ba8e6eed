/*
 * aarch64: the remote-syscall engine's register-level knowledge.
 *
 * What differs from x86_64, and why restart.c exists: the arm64 kernel
 * prepares the restart of an interrupted system call *before* it reports a
 * ptrace stop (pc moved back onto the `svc`, x0 reloaded from orig_x0) and
 * forgets the call (its system-call number reads -1 through
 * NT_ARM_SYSTEM_CALL at every signal or interrupt stop).  NT_PRSTATUS has no
 * orig_x0, so "which call was the thread in" is not in the registers.
 */
#include <elf.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "remote/arch/arch.h"

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif
#define PSR_MODE32_BIT 0x10 /* pstate: the thread runs AArch32 code */

const uint32_t pm_arch_audit_arch = AUDIT_ARCH_AARCH64;
const unsigned char pm_arch_syscall_insn[] = { 0x01, 0x00, 0x00, 0xd4 }; /* svc #0 */
const size_t pm_arch_syscall_insn_len = 4;
const size_t pm_arch_insn_align = 4;
const int pm_arch_restart_at_stop = 1;
const int pm_arch_step_trap_si_user = 1;

int pm_arch_getregs(pid_t tid, pm_regs *r)
{
    struct iovec iov = { r, sizeof *r };
    return ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -1 : 0;
}

int pm_arch_setregs(pid_t tid, const pm_regs *r)
{
    struct iovec iov = { (void *)r, sizeof *r };
    return ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -1 : 0;
}

int pm_arch_get_syscallno(pid_t tid, long *nr)
{
    int v; /* the regset is one 32-bit word */
    struct iovec iov = { &v, sizeof v };
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
        return -1;
    *nr = v;
    return 0;
}

int pm_arch_set_syscallno(pid_t tid, long nr)
{
    int v = (int)nr;
    struct iovec iov = { &v, sizeof v };
    return ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0 ? -1 : 0;
}

uintptr_t pm_arch_pc(const pm_regs *r)
{
    return r->pc;
}

void pm_arch_set_pc(pm_regs *r, uintptr_t pc)
{
    r->pc = pc;
}

uintptr_t pm_arch_sp(const pm_regs *r)
{
    return r->sp;
}

int pm_arch_in_syscall(const pm_regs *r)
{
    (void)r; /* not in NT_PRSTATUS: see restart.c */
    return 0;
}

int pm_arch_native_abi(const pm_regs *r)
{
    return !(r->pstate & PSR_MODE32_BIT);
}

void pm_arch_setup_syscall(pm_regs *r, const pm_regs *saved, uintptr_t insn,
                           long nr, const unsigned long a[6])
{
    /* Nothing to disarm in the registers: at a stop the kernel has already
     * forgotten the interrupted call (number -1).  The one restart step it
     * still takes on resuming (x8 := restart_syscall when pc is the rewound
     * svc) is watched for by restart.c. */
    *r = *saved;
    r->regs[8] = (unsigned long long)nr;
    for (int i = 0; i < 6; i++)
        r->regs[i] = a[i];
    r->pc = insn;
}

long pm_arch_syscall_result(const pm_regs *r)
{
    return (long)r->regs[0];
}

void pm_arch_set_syscall_result(pm_regs *r, long v)
{
    r->regs[0] = (unsigned long long)v;
}

long pm_arch_syscall_nr(const pm_regs *r)
{
    return (long)r->regs[8];
}

void pm_arch_set_syscall_nr(pm_regs *r, long nr)
{
    r->regs[8] = (unsigned long long)nr;
}

unsigned long pm_arch_syscall_arg(const pm_regs *r, int i)
{
    return (unsigned long)r->regs[i];
}

void pm_arch_set_syscall_arg0(pm_regs *r, unsigned long v)
{
    r->regs[0] = v;
}
