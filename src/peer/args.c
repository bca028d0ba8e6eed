#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sys/mman_peer.h"
#include "sys/procmgr.h"
#include "common/internal.h"
#include "peer/ability.h"
#include "peer/args.h"

#ifndef MAP_32BIT
#define MAP_32BIT 0 /* x86_64 only: elsewhere no such flag, and its bit unknown */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define PROT_KNOWN (PROT_READ | PROT_WRITE | PROT_EXEC | PROT_NOCACHE)
#define MAP_LINUX_KNOWN                                                        \
    (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_32BIT | MAP_GROWSDOWN |       \
     MAP_DENYWRITE | MAP_EXECUTABLE | MAP_LOCKED | MAP_NORESERVE |             \
     MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_SYNC |        \
     MAP_FIXED_NOREPLACE | (int)(0x3fu << MAP_HUGE_SHIFT))
#define MAP_QNX_ONLY (MAP_PHYS | MAP_LAZY | MAP_NOINIT)

/* The physical-memory device; tests name a plain file instead. */
static const char *physmem_path(void)
{
    /* Not from the environment of a set-user-ID program's invoker. */
    const char *p = secure_getenv("PEERMAP_PHYSMEM");
    return p && *p ? p : "/dev/mem";
}

static int abilities_for(int prot)
{
    if ((prot & PROT_EXEC) && pm_ability_check(PROCMGR_AID_PROT_EXEC))
        return pm_ability_fail(PROCMGR_AID_PROT_EXEC, "PROT_EXEC");
    if ((prot & PROT_EXEC) && (prot & PROT_WRITE) &&
        pm_ability_check(PROCMGR_AID_PROT_WRITE_AND_EXEC))
        return pm_ability_fail(PROCMGR_AID_PROT_WRITE_AND_EXEC, "PROT_WRITE|PROT_EXEC");
    return 0;
}

int pm_map_req_init(struct pm_map_req *rq, int remote, void *addr, size_t len,
                    int prot, int flags, int fd, off_t off)
{
    const size_t pg = pm_page_size();

    *rq = (struct pm_map_req){ .fd = -1 };
    if (len == 0)
        return pm_fail(EINVAL, "len is 0");
    if (prot & ~PROT_KNOWN)
        return pm_fail(EINVAL, "unknown prot bits %#x", prot & ~PROT_KNOWN);
    if (flags & ~(MAP_LINUX_KNOWN | MAP_QNX_ONLY))
        return pm_fail(EINVAL, "unknown flags %#x",
                       flags & ~(MAP_LINUX_KNOWN | MAP_QNX_ONLY));
    if (remote && pm_ability_check(PROCMGR_AID_MEM_PEER))
        return pm_ability_fail(PROCMGR_AID_MEM_PEER, "changing another process's memory");
    if (abilities_for(prot) < 0)
        return -1;

    int phys = flags & MAP_PHYS;
    int anon = flags & MAP_ANONYMOUS;
    /* QNX: NOFD without MAP_PHYS means anonymous memory. */
    if (fd == NOFD && !phys)
        anon = MAP_ANONYMOUS;
    if (anon && fd != NOFD)
        return pm_fail(EINVAL, "MAP_ANON with a file descriptor (%d)", fd);

    int type = flags & MAP_TYPE;
    if (type == 0 && anon)
        type = MAP_PRIVATE;
    if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
        return pm_fail(EINVAL, "flags need MAP_SHARED or MAP_PRIVATE");

    if ((prot & PROT_NOCACHE) && !(phys && !anon))
        return pm_fail(EINVAL, "PROT_NOCACHE: Linux gives user space uncached "
                       "memory only for physical memory (MAP_PHYS without MAP_ANON)");

    size_t skew = (size_t)off & (pg - 1);
    if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
        ((uintptr_t)addr & (pg - 1)) != (anon ? 0 : skew))
        return pm_fail(EINVAL, "MAP_FIXED: addr %p and off %#llx are not "
                       "congruent modulo the page size", addr,
                       (unsigned long long)off);
    if (off < 0)
        return pm_fail(EINVAL, "negative offset");

    rq->prot = prot & ~PROT_NOCACHE;
    rq->flags = (flags & ~(MAP_QNX_ONLY | MAP_TYPE | MAP_ANONYMOUS)) | type | anon;

    if (phys && anon) {
        /* Physically contiguous anonymous memory: one page is trivially so;
         * up to the default huge page size (2 MiB on x86_64 and on aarch64
         * with 4 KiB pages; 32 MiB with 16 KiB, 512 MiB with 64 KiB) one
         * huge page is; more, Linux cannot promise. */
        size_t huge = pm_huge_page_size();
        if (len > pg && len > huge)
            return pm_fail(ENOMEM, "MAP_PHYS|MAP_ANON: Linux cannot promise "
                           "physically contiguous memory over %zu KiB (%s)",
                           (huge > pg ? huge : pg) / 1024,
                           huge > pg ? "one huge page" : "one page: no huge pages");
        rq->flags |= MAP_POPULATE | MAP_LOCKED;
        if (len > pg)
            rq->flags |= MAP_HUGETLB; /* of the default size */
    } else if (phys) {
        if (fd != NOFD)
            return pm_fail(EINVAL, "MAP_PHYS maps physical memory: fd must be NOFD");
        if (geteuid() != 0)
            return pm_fail(EPERM, "MAP_PHYS: only root may map physical memory");
        int o = (prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
        if (prot & PROT_NOCACHE)
            o |= O_SYNC; /* /dev/mem maps O_SYNC opens uncached */
        fd = open(physmem_path(), o | O_CLOEXEC);
        if (fd < 0)
            return pm_fail(errno == ENOENT ? ENODEV : errno,
                           "MAP_PHYS: cannot open %s: %m", physmem_path());
        rq->close_fd = 1;
    }

    if (anon) {
        rq->addr = (uintptr_t)addr;
        rq->len = len;
        rq->off = 0;
        return 0;
    }

    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return pm_fail(EBADF, "fd %d is not an open file descriptor", fd);
    int acc = fl & O_ACCMODE;
    if (acc == O_WRONLY)
        return pm_fail(EACCES, "fd %d is open write-only; mapping needs read", fd);
    if (type != MAP_PRIVATE && (prot & PROT_WRITE) && acc != O_RDWR)
        return pm_fail(EACCES, "fd %d is open read-only: MAP_SHARED with "
                       "PROT_WRITE is not allowed", fd);
    if (len > SIZE_MAX - skew)
        return pm_fail(ENOMEM, "len too large");
    rq->fd = fd;
    rq->fd_oflags = acc == O_RDWR ? O_RDWR : O_RDONLY;
    rq->skew = skew;
    rq->addr = (uintptr_t)addr & ~(pg - 1); /* congruent when MAP_FIXED */
    rq->len = len + skew;
    rq->off = off - (off_t)skew;
    return 0;
}

void pm_map_req_done(struct pm_map_req *rq)
{
    if (rq->close_fd && rq->fd >= 0)
        close(rq->fd);
    rq->fd = -1;
    rq->close_fd = 0;
}

int pm_unmap_range(void *addr, size_t len, uintptr_t *start, size_t *plen)
{
    const uintptr_t pg = (uintptr_t)pm_page_size();
    uintptr_t a = (uintptr_t)addr;
    if (len == 0)
        return pm_fail(EINVAL, "len is 0");
    /* QNX unmaps whole pages: mmap_peer() may have returned an address inside
     * the first page (an unaligned offset), and it must unmap. */
    if (len > UINTPTR_MAX - a - pg)
        return pm_fail(EINVAL, "range wraps around the address space");
    *start = a & ~(pg - 1);
    *plen = ((a + len + pg - 1) & ~(pg - 1)) - *start;
    return 0;
}
