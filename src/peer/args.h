/*
 * QNX's mmap() argument rules (qnx-semantics.md, section 2), applied before
 * anything touches the target, and their translation into one Linux mmap().
 */
#ifndef PEERMAP_ARGS_H
#define PEERMAP_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pm_map_req {
    /* What the target's mmap() gets. */
    uintptr_t addr;    /* page-aligned when MAP_FIXED */
    size_t len;        /* including the leading `skew` */
    int prot;          /* Linux PROT_* only */
    int flags;         /* Linux MAP_* only */
    int fd;            /* the caller's fd to hand over, or -1 */
    int fd_oflags;     /* O_RDONLY/O_RDWR for the target's copy */
    int close_fd;      /* fd was opened by us (MAP_PHYS): close it after */
    off_t off;         /* page-aligned */
    size_t skew;       /* the caller's off % page size: added to the result */
};

/* Check and translate; `remote`: the target is another process.  0, or -1 with errno (EINVAL, EBADF, EACCES, EPERM,
 * ENOMEM) and a reason.  A MAP_PHYS request opens the physical-memory device:
 * pm_map_req_done() closes it; call it whatever init returned. */
int pm_map_req_init(struct pm_map_req *rq, int remote, void *addr, size_t len,
                    int prot, int flags, int fd, off_t off);
void pm_map_req_done(struct pm_map_req *rq);

/* munmap_peer()'s rules: the whole pages covering [addr, addr+len).
 * 0, or -1/EINVAL with a reason. */
int pm_unmap_range(void *addr, size_t len, uintptr_t *start, size_t *plen);

/* pid as QNX means it: 0 is the caller. */
static inline int pm_is_self(pid_t pid, pid_t self)
{
    return pid == 0 || pid == self;
}

#endif
