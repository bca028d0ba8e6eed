/*
 * A system-call instruction the tracee already has: the vDSO's (x86_64's
 * `syscall` in __vdso_getcpu & co.; aarch64's `svc #0` in the fallbacks of
 * clock_gettime & co. and in __kernel_rt_sigreturn).
 *
 * The kernel maps the same vDSO image into every native process, so the
 * offset of a `syscall` instruction inside it is found once, in our own copy.
 * Only the base differs per process (ASLR); it comes from the target's auxv
 * and is cached per pid.  A cached base is trusted only after the bytes there
 * are checked to be the instruction we expect, so a reused pid cannot make us
 * jump into something else.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/tracee.h"

/* Found once, in our own vDSO; whoever looks first stores the answer (the
 * same for everyone): no lock and no pthread_once() on the tracer thread
 * (worker.c). */
static atomic_long insn_off = -2;       /* -2 not looked yet, -1 none */
static atomic_ulong insn_word;          /* the 8 bytes there, as PEEKTEXT reads them */

static void find_in_own_vdso(void)
{
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (!base || memcmp(base, ELFMAG, SELFMAG) != 0) {
        atomic_store(&insn_off, -1);
        return;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    size_t size = 0;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > size)
            size = ph[i].p_offset + ph[i].p_filesz;
    /* The vDSO is mapped as one read-execute image, so a match anywhere in
     * it decodes as the instruction when jumped to, whatever precedes it. */
    for (size_t i = 0; i + 8 <= size; i += pm_arch_insn_align) {
        if (memcmp(base + i, pm_arch_syscall_insn, pm_arch_syscall_insn_len) == 0) {
            unsigned long w;
            memcpy(&w, base + i, sizeof w);
            atomic_store(&insn_word, w);
            atomic_store(&insn_off, (long)i);
            return;
        }
    }
    atomic_store(&insn_off, -1);
}

static uintptr_t auxv_vdso_base(pid_t pid)
{
    char path[64];
    unsigned long av[2 * 64];
    pm_fmt(path, sizeof path, "/proc/%d/auxv", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, av, sizeof av);
    close(fd);
    for (ssize_t i = 0; i + 1 < n / (ssize_t)sizeof av[0]; i += 2) {
        if (av[i] == AT_NULL)
            break;
        if (av[i] == AT_SYSINFO_EHDR)
            return av[i + 1];
    }
    return 0;
}

/* A small cache: the same few targets are mapped into again and again.
 * Each entry is one word, pid and base together (the base is page-aligned
 * and below 2^47, so it fits beside a pid); a stale or mismatched entry
 * costs nothing but a lookup, since every base is checked before use. */
#define CACHE_SLOTS 16
static atomic_ullong cache[CACHE_SLOTS];

static unsigned long long cache_entry(pid_t pid, uintptr_t base)
{
    return (unsigned long long)(base >> 12) << 22 | ((unsigned)pid & 0x3fffff);
}

static int check(struct pm_tracee *t, uintptr_t addr)
{
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)addr, 0);
    return !(w == -1 && errno) && (unsigned long)w == atomic_load(&insn_word);
}

int pm_vdso_syscall_insn(struct pm_tracee *t, uintptr_t *insn)
{
    if (atomic_load(&insn_off) == -2)
        find_in_own_vdso();
    long off = atomic_load(&insn_off);
    if (off < 0)
        return pm_fail(ENOSYS, "no system-call instruction found in the vDSO");

    unsigned slot = (unsigned)t->pid % CACHE_SLOTS;
    unsigned long long e = atomic_load(&cache[slot]);
    uintptr_t base = (e & 0x3fffff) == ((unsigned)t->pid & 0x3fffff) && e >> 22
                         ? (uintptr_t)(e >> 22) << 12 : 0;
    if (base && check(t, base + (uintptr_t)off)) {
        *insn = base + (uintptr_t)off;
        return 0;
    }
    base = auxv_vdso_base(t->pid);
    if (!base || !check(t, base + (uintptr_t)off))
        return pm_fail(ENOSYS, "PID %d has no usable vDSO (a 32-bit or "
                       "vdso=0 process?)", (int)t->pid);
    atomic_store(&cache[slot], cache_entry(t->pid, base));
    *insn = base + (uintptr_t)off;
    return 0;
}
