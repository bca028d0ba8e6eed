/*
 * Vetting the calls we inject against the target's seccomp filters.
 *
 * Reading a target's seccomp mode costs a /proc read (several microseconds),
 * so it is done only where it buys safety that matters: before handing over a
 * descriptor, whose openat/socket/connect/recvmsg calls are the ones sandbox
 * filters forbid (and some forbid by killing).  mmap and munmap, which every
 * program needs, are not vetted on the anonymous path; a filter that kills on
 * them is documented as a known limit.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>

#include "common/internal.h"
#include "remote/seccomp_bpf.h"
#include "remote/tracee.h"
#include "trust/trust.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

/* The filters, in one anonymous mapping: this struct, then the programs'
 * headers, then their instructions.  mmap() rather than malloc(): this
 * runs on the tracer thread, which must never wait for a lock an
 * application thread could hold (worker.c). */
struct pm_seccomp {
    size_t map_len;
    int n;
    struct sock_fprog *progs;
};

static int seccomp_mode(pid_t pid, pid_t tid)
{
    char what[48], buf[4096];
    /* The thread's own: filters are per thread (TSYNC aside). */
    pm_fmt(what, sizeof what, "task/%d/status", (int)tid);
    if (pm_proc_read(pid, what, buf, sizeof buf) < 0)
        return -1;
    const char *p = strstr(buf, "\nSeccomp:");
    if (!p)
        return -1;
    return atoi(p + 9);
}

void pm_seccomp_free(struct pm_tracee *t)
{
    if (!t->seccomp)
        return;
    munmap(t->seccomp, t->seccomp->map_len);
    t->seccomp = NULL;
}

/* How long filter i is (ENOENT past the oldest one). */
static long filter_len(struct pm_tracee *t, unsigned long i)
{
    return ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, (void *)i, NULL);
}

static int unreadable(struct pm_tracee *t, int e)
{
    return pm_fail(EPERM, "PID %d runs under a seccomp filter that peermap cannot "
                   "inspect (%s: needs CAP_SYS_ADMIN); passing it a descriptor "
                   "needs calls such a filter may punish by death, so it is not "
                   "tried", (int)t->pid, pm_strerror(e));
}

static int changed(struct pm_tracee *t)
{
    return pm_fail(EPERM, "PID %d: its seccomp filter changed while being read",
                   (int)t->pid);
}

static int load_filters(struct pm_tracee *t)
{
    /* First the sizes, then one mapping for all, then the contents.  The
     * kernel bounds a thread's filters to 32768 instructions in all. */
    size_t n = 0, insns = 0;
    for (;; n++) {
        long len = filter_len(t, n);
        if (len < 0 && errno == ENOENT)
            break;
        if (len < 0)
            return unreadable(t, errno);
        if (n > 65536)
            return changed(t);
        insns += (size_t)len;
    }
    size_t bytes = sizeof(struct pm_seccomp) + n * sizeof(struct sock_fprog) +
                   insns * sizeof(struct sock_filter);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return pm_fail(ENOMEM, "out of memory for PID %d's seccomp filters", (int)t->pid);
    struct pm_seccomp *s = m;
    s->map_len = bytes;
    s->n = (int)n;
    s->progs = (struct sock_fprog *)(s + 1);
    struct sock_filter *code = (struct sock_filter *)(s->progs + n);
    t->seccomp = s;
    for (size_t i = 0; i < n; i++) {
        long len = filter_len(t, i);
        if (len < 0 || (size_t)len > insns)
            return changed(t);
        if (ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, (void *)i, code) != len)
            return changed(t);
        s->progs[i].len = (unsigned short)len;
        s->progs[i].filter = code;
        code += len;
        insns -= (size_t)len;
    }
    if (filter_len(t, n) >= 0)
        return changed(t); /* one more was added meanwhile */
    return 0;
}

int pm_seccomp_prepare(struct pm_tracee *t)
{
    if (t->seccomp_checked)
        return 0;
    int mode = seccomp_mode(t->pid, t->tid);
    if (mode == 1)
        return pm_fail(EPERM, "PID %d is in strict seccomp mode: any call but "
                       "read, write, exit and sigreturn would kill it", (int)t->pid);
    if (mode == 2 && load_filters(t) < 0) {
        int e = errno;
        pm_seccomp_free(t);
        errno = e;
        return -1;
    }
    t->seccomp_checked = 1;
    return 0;
}

int pm_seccomp_vet(struct pm_tracee *t, long nr, const unsigned long args[6])
{
    if (!t->seccomp)
        return 0;
    struct seccomp_data d = { .nr = (int)nr, .arch = pm_arch_audit_arch,
                              /* what the kernel reports: the address
                               * after the instruction */
                              .instruction_pointer = t->insn + pm_arch_syscall_insn_len };
    for (int i = 0; i < 6; i++)
        d.args[i] = args[i];
    uint32_t worst = SECCOMP_RET_ALLOW;
    for (int i = 0; i < t->seccomp->n; i++) {
        uint32_t a = pm_bpf_run(t->seccomp->progs[i].filter,
                                t->seccomp->progs[i].len, &d);
        if (pm_seccomp_worse(a, worst))
            worst = a;
    }
    uint32_t act = worst & SECCOMP_RET_ACTION_FULL;
    if (act == SECCOMP_RET_KILL_PROCESS || act == SECCOMP_RET_KILL_THREAD)
        return pm_fail(EPERM, "target's seccomp filter would kill PID %d for "
                       "system call %ld: not run", (int)t->pid, nr);
    if (act == SECCOMP_RET_USER_NOTIF)
        return pm_fail(EPERM, "target's seccomp filter hands system call %ld to "
                       "a supervisor (it could block): not run", nr);
    return 0;
}
