#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/tracee.h"

int pm_remote_call(struct pm_tracee *t, const char *what, long nr,
                   const unsigned long args[6], long *ret)
{
    if (pm_remote_syscall(t, nr, args, ret) < 0)
        return -1;
    if (t->seccomp_trap)
        return pm_fail(EPERM, "target's seccomp filter trapped %s (SIGSYS, "
                       "swallowed; the target was not signalled)", what);
    if (*ret < 0 && *ret >= -4095) {
        pm_diagnose_call(t->pid, what, *ret);
        errno = (int)-*ret;
        return -1;
    }
    return 0;
}

int pm_tracee_scratch(struct pm_tracee *t, uintptr_t *addr)
{
    if (!t->scratch) {
        unsigned long a[6] = { 0, (unsigned long)pm_page_size(),
                               PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                               (unsigned long)-1, 0 };
        long r;
        t->undo_len = a[1];
        int rc = pm_remote_call(t, "mmap (scratch page)", SYS_mmap, a, &r);
        if (!(rc < 0 && errno == ETIMEDOUT))
            t->undo_len = 0;
        if (rc < 0)
            return -1;
        t->scratch = (uintptr_t)r;
    }
    *addr = t->scratch;
    return 0;
}

void pm_tracee_drop_scratch(struct pm_tracee *t)
{
    if (!t->scratch || t->gone)
        return;
    unsigned long a[6] = { t->scratch, (unsigned long)pm_page_size() };
    long r;
    pm_remote_syscall(t, SYS_munmap, a, &r);
    t->scratch = 0;
}
