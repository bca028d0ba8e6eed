/*
 * <sys/mman_peer.h> - map and unmap memory in another process (QNX Neutrino API).
 *
 * peermap provides QNX's mmap_peer() family on Linux.  The standard PROT_* and
 * MAP_* names keep Linux's values (this header includes <sys/mman.h>); the
 * QNX-only names below are given values that no Linux PROT_* or MAP_* bit uses,
 * so a flag word can never be misread.  See mmap_peer(3).
 */
#ifndef PEERMAP_SYS_MMAN_PEER_H
#define PEERMAP_SYS_MMAN_PEER_H

/* What QNX's <sys/mman.h> brings with it, so that a call written as QNX's
 * documentation shows it compiles with this header alone: NULL and size_t
 * (<stddef.h>), pid_t and off_t (<sys/types.h>), PROT_*, MAP_* and
 * MAP_FAILED (<sys/mman.h>). */
#include <stddef.h>
#include <sys/types.h>
#include <sys/mman.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "No file descriptor": with mmap_peer() it means anonymous memory, or, with
 * MAP_PHYS, physical memory at the offset. */
#ifndef NOFD
#define NOFD (-1)
#endif

/* Uncached access.  Linux gives user space uncached memory only through a
 * physical-memory device, so PROT_NOCACHE is honoured with MAP_PHYS (the
 * device is opened O_SYNC, which the kernel maps uncached) and refused with
 * EINVAL everywhere else.  QNX's own value; free on Linux. */
#ifndef PROT_NOCACHE
#define PROT_NOCACHE 0x00000800
#endif

/* Physical memory.  Without MAP_ANON: map physical address `off` through the
 * physical-memory device (/dev/mem, or the file named by $PEERMAP_PHYSMEM);
 * root only.  With MAP_ANON: physically contiguous anonymous memory (one page,
 * or one 2 MiB huge page; larger requests fail with ENOMEM). */
#ifndef MAP_PHYS
#define MAP_PHYS 0x00200000
#endif

/* Delay allocation until first touch.  Linux already allocates anonymous and
 * file pages on first touch, so this is accepted and changes nothing. */
#ifndef MAP_LAZY
#define MAP_LAZY 0x00400000
#endif

/* QNX 7.1 documents MAP_NOINIT as having no effect; Linux always hands out
 * zeroed anonymous pages.  Accepted and ignored. */
#ifndef MAP_NOINIT
#define MAP_NOINIT 0x00800000
#endif

#ifndef MAP_ANON
#define MAP_ANON MAP_ANONYMOUS
#endif

/*
 * Map `len` bytes into process `pid` and return the address, valid only in
 * that process; MAP_FAILED with errno on failure.  `fd` and `off` name the
 * caller's object (a memfd, a shm_open() object, a regular file), which ends
 * up mapped in the target.  pid == getpid() maps locally.
 *
 * Errors: those of mmap(2) as the target would get them, plus ESRCH (no such
 * process, zombie or exiting), EPERM (ptrace forbids it, or an ability is
 * missing), ETIMEDOUT (the target could not be stopped before the deadline).
 * peermap_errmsg() in <peermap.h> tells why.
 */
void *mmap_peer(pid_t pid, void *addr, size_t len, int prot, int flags,
                int fd, off_t off);

#if defined(_LARGEFILE64_SOURCE) || defined(_GNU_SOURCE)
/* Large-file variant; the same function as mmap_peer() on 64-bit systems.
 * As on QNX, declared only when _LARGEFILE64_SOURCE (or _GNU_SOURCE) is. */
void *mmap64_peer(pid_t pid, void *addr, size_t len, int prot, int flags,
                  int fd, off64_t off);
#endif

/* Unmap the whole pages covering [addr, addr + len) in process `pid` (addr
 * need not be aligned: mmap_peer() returns an address inside the first page
 * when `off` is not page-aligned).  Unmapping what is not mapped is not an
 * error.  0, or -1 with errno (EINVAL for len == 0, and the errors above). */
int munmap_peer(pid_t pid, void *addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif
