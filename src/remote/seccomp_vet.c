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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

#include "common/internal.h"
#include "remote/seccomp_bpf.h"
#include "remote/tracee.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

struct pm_seccomp {
    int n;
    struct sock_fprog *progs;
};

static int seccomp_mode(pid_t pid, pid_t tid)
{
    char path[96], line[256];
    int mode = -1;
    /* The thread's own: filters are per thread (TSYNC aside). */
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Seccomp: %d", &mode) == 1)
            break;
    fclose(f);
    return mode;
}

void pm_seccomp_free(struct pm_tracee *t)
{
    if (!t->seccomp)
        return;
    for (int i = 0; i < t->seccomp->n; i++)
        free(t->seccomp->progs[i].filter);
    free(t->seccomp->progs);
    free(t->seccomp);
    t->seccomp = NULL;
}

static int load_filters(struct pm_tracee *t)
{
    struct pm_seccomp *s = calloc(1, sizeof *s);
    if (!s)
        return pm_fail(ENOMEM, "out of memory");
    t->seccomp = s;
    for (unsigned long i = 0;; i++) {
        long len = ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, (void *)i, NULL);
        if (len < 0 && errno == ENOENT)
            return 0; /* past the oldest filter */
        if (len < 0)
            return pm_fail(EPERM, "PID %d runs under a seccomp filter that "
                           "peermap cannot inspect (%s: needs CAP_SYS_ADMIN); "
                           "passing it a descriptor needs calls such a filter "
                           "may punish by death, so it is not tried",
                           (int)t->pid, strerror(errno));
        struct sock_fprog *np = realloc(s->progs, (size_t)(s->n + 1) * sizeof *np);
        if (!np)
            return pm_fail(ENOMEM, "out of memory");
        s->progs = np;
        struct sock_filter *code = calloc((size_t)len ? (size_t)len : 1, sizeof *code);
        if (!code)
            return pm_fail(ENOMEM, "out of memory");
        if (ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, (void *)i, code) != len) {
            free(code);
            return pm_fail(EPERM, "PID %d: its seccomp filter changed while "
                           "being read", (int)t->pid);
        }
        s->progs[s->n].len = (unsigned short)len;
        s->progs[s->n].filter = code;
        s->n++;
    }
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
