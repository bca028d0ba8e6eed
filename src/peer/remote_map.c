#include <sys/mman.h>
#include <sys/syscall.h>

#include "common/internal.h"
#include "peer/remote_map.h"
#include "remote/worker.h"

int pm_tracee_map(struct pm_tracee *t, const struct pm_map_req *rq, uintptr_t *out)
{
    long tfd = -1, addr, ignored;

    if (rq->fd >= 0 && pm_remote_import_fd(t, rq->fd, rq->fd_oflags, &tfd) < 0)
        return -1;
    unsigned long a[6] = { rq->addr, rq->len, (unsigned long)rq->prot,
                           (unsigned long)rq->flags, (unsigned long)tfd,
                           (unsigned long)rq->off };
    t->undo_len = rq->len;
    int rc = pm_remote_call(t, "mmap", SYS_mmap, a, &addr);
    if (!(rc < 0 && errno == ETIMEDOUT))
        t->undo_len = 0; /* else the background finish must undo it */
    if (tfd >= 0 && !(rc < 0 && errno == ETIMEDOUT)) {
        int e = errno;
        unsigned long c[6] = { (unsigned long)tfd };
        pm_remote_syscall(t, SYS_close, c, &ignored);
        errno = e;
    }
    if (rc < 0)
        return -1;
    *out = (uintptr_t)addr + rq->skew;
    return 0;
}

/* A huge-page mapping (MAP_PHYS|MAP_ANON over one page) unmaps only in whole
 * huge pages (of the default size: args.c), but the caller knows only the
 * length it asked for. */
static int huge_retry(uintptr_t start, size_t len, size_t *hlen)
{
    const uintptr_t huge = pm_huge_page_size();
    if (!huge)
        return 0;
    *hlen = (len + huge - 1) & ~(huge - 1);
    return errno == EINVAL && (start & (huge - 1)) == 0 && *hlen != len;
}

int pm_tracee_unmap(struct pm_tracee *t, uintptr_t start, size_t len)
{
    unsigned long a[6] = { start, len };
    long r;
    size_t hlen;
    if (pm_remote_call(t, "munmap", SYS_munmap, a, &r) == 0)
        return 0;
    if (!huge_retry(start, len, &hlen))
        return -1;
    a[1] = hlen;
    pm_begin();
    return pm_remote_call(t, "munmap", SYS_munmap, a, &r);
}

int pm_local_unmap(uintptr_t start, size_t len)
{
    size_t hlen;
    if (munmap((void *)start, len) == 0)
        return 0;
    if (huge_retry(start, len, &hlen) && munmap((void *)start, hlen) == 0)
        return 0;
    return pm_fail(0, "munmap: %m");
}

int pm_local_map(const struct pm_map_req *rq, uintptr_t *out)
{
    void *p = mmap((void *)rq->addr, rq->len, rq->prot, rq->flags, rq->fd, rq->off);
    if (p == MAP_FAILED)
        return pm_fail(0, "mmap: %m");
    *out = (uintptr_t)p + rq->skew;
    return 0;
}

int pm_tracee_release(struct pm_tracee *t)
{
    int rc = pm_tracee_detach(t);
    if (t->stuck)
        pm_worker_adopt(t);
    return rc;
}

void pm_tracee_settle(struct pm_tracee *t)
{
    int e = errno;
    if (e == ETIMEDOUT && !t->gone && !t->stuck)
        pm_worker_adopt(t); /* still inside our call: finish it later */
    else
        pm_tracee_release(t);
    errno = e;
}

struct peer_job {
    pid_t pid;
    const struct pm_map_req *rq; /* NULL: unmap */
    uintptr_t start;
    size_t len;
    uintptr_t out;
};

static int peer_job_run(void *arg)
{
    struct peer_job *j = arg;
    struct pm_tracee t;

    if (pm_worker_attach(&t, j->pid) < 0) {
        if (t.stuck)
            pm_worker_adopt(&t);
        return -1;
    }
    int rc = j->rq ? pm_tracee_map(&t, j->rq, &j->out)
                   : pm_tracee_unmap(&t, j->start, j->len);
    if (rc < 0) {
        pm_tracee_settle(&t);
        return -1;
    }
    /* Fails only if the target died just now: the mapping went with it. */
    return pm_tracee_release(&t);
}

int pm_peer_map(pid_t pid, const struct pm_map_req *rq, uintptr_t *out)
{
    struct peer_job j = { .pid = pid, .rq = rq };
    if (pm_worker_run(peer_job_run, &j) < 0)
        return -1;
    *out = j.out;
    return 0;
}

int pm_peer_unmap(pid_t pid, uintptr_t start, size_t len)
{
    struct peer_job j = { .pid = pid, .start = start, .len = len };
    return pm_worker_run(peer_job_run, &j);
}
