/* x86_64: the remote-syscall engine's register-level knowledge. */
#include <elf.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "remote/arch/arch.h"

const uint32_t pm_arch_audit_arch = AUDIT_ARCH_X86_64;
const unsigned char pm_arch_syscall_insn[] = { 0x0f, 0x05 }; /* syscall */
const size_t pm_arch_syscall_insn_len = 2;

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

uintptr_t pm_arch_pc(const pm_regs *r)
{
    return r->rip;
}

int pm_arch_in_syscall(const pm_regs *r)
{
    return (long)r->orig_rax >= 0;
}

int pm_arch_native_abi(const pm_regs *r)
{
    return r->cs == 0x33; /* __USER_CS; 0x23 is the 32-bit code segment */
}

void pm_arch_setup_syscall(pm_regs *r, const pm_regs *saved, uintptr_t insn,
                           long nr, const unsigned long a[6])
{
    *r = *saved;
    r->rax = (unsigned long)nr;
    r->rdi = a[0];
    r->rsi = a[1];
    r->rdx = a[2];
    r->r10 = a[3];
    r->r8 = a[4];
    r->r9 = a[5];
    r->rip = insn;
    /* orig_rax = -1: not inside a system call, so the signal code will not
     * "restart" ours by rewinding rip and reloading rax. */
    r->orig_rax = (unsigned long)-1;
}

long pm_arch_syscall_result(const pm_regs *r)
{
    return (long)r->rax;
}

void pm_arch_set_syscall_result(pm_regs *r, long v)
{
    r->rax = (unsigned long)v;
}

long pm_arch_syscall_nr(const pm_regs *r)
{
    return (long)r->orig_rax;
}

const size_t pm_arch_insn_align = 1;
const int pm_arch_restart_at_stop = 0;
const int pm_arch_step_trap_si_user = 0;

int pm_arch_get_syscallno(pid_t tid, long *nr)
{
    pm_regs r;
    if (pm_arch_getregs(tid, &r) < 0)
        return -1;
    *nr = (long)r.orig_rax;
    return 0;
}

int pm_arch_set_syscallno(pid_t tid, long nr)
{
    pm_regs r;
    if (pm_arch_getregs(tid, &r) < 0)
        return -1;
    r.orig_rax = (unsigned long)nr;
    return pm_arch_setregs(tid, &r);
}

void pm_arch_set_syscall_nr(pm_regs *r, long nr)
{
    r->orig_rax = (unsigned long)nr;
}

unsigned long pm_arch_syscall_arg(const pm_regs *r, int i)
{
    switch (i) {
    case 0: return r->rdi;
    case 1: return r->rsi;
    case 2: return r->rdx;
    case 3: return r->r10;
    case 4: return r->r8;
    default: return r->r9;
    }
}

void pm_arch_set_syscall_arg0(pm_regs *r, unsigned long v)
{
    r->rdi = v;
}

uintptr_t pm_arch_sp(const pm_regs *r)
{
    return r->rsp;
}

void pm_arch_set_pc(pm_regs *r, uintptr_t pc)
{
    r->rip = pc;
}
