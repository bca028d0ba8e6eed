/*
 * <sys/shm_handle.h> - QNX Neutrino 7.1 shared-memory handles and shm_ctl()
 * on Linux.
 *
 * QNX declares these in its <sys/mman.h>.  Code written for QNX gets them
 * the way it expects through peermap's compatibility layer (the include
 * directory `pkg-config --cflags peermap` puts first), whose <sys/mman.h>
 * includes Linux's and then this header; Linux code includes this header by
 * name.  See shm_create_handle(3), shm_ctl(3), shm_revoke(3).
 *
 * A handle is a one-time ticket: the process that holds the object (the
 * creator) names one recipient process, the access it grants (never more
 * than its own descriptor has) and whether the recipient may have a file
 * descriptor at all.  The handle value travels in any message; only that
 * process - the same process, not a later holder of its pid number - can
 * redeem it, once.  The creator's own library serves redemptions (no
 * daemon); see ARCHITECTURE.md, "Shared-memory handles".
 */
#ifndef PEERMAP_SYS_SHM_HANDLE_H
#define PEERMAP_SYS_SHM_HANDLE_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A handle: 64 random bits from the kernel (getrandom), QNX's type. */
typedef uint64_t shm_handle_t;

/* shm_create_handle() options.  NOFD: the recipient may map the object
 * (mmap_handle()) but shm_open_handle() refuses to give it a descriptor. */
#define SHM_CREATE_HANDLE_OPT_NOFD       0x00000001U
#define SHM_CREATE_HANDLE_OPT_VALID_MASK 0x00000001U

/* shm_open(SHM_ANON, ...): an anonymous object (a memfd here).  QNX's
 * value; glibc's shm_open() would fault on it, so the compatibility
 * layer's <sys/mman.h> sends shm_open() to peermap_shm_open(). */
#ifndef SHM_ANON
#define SHM_ANON ((char *)-1)
#endif

/* shm_ctl() flags: QNX 7.1's values (SHMCTL_ISADMA and SHMCTL_NOX64K,
 * older QNX names, have values of our own).  What each does on Linux is in shm_ctl(3):
 * honoured, accepted as a hint that changes nothing, or refused. */
#define SHMCTL_ANON       0x00000001 /* give the object `size` bytes of memory */
#define SHMCTL_PHYS       0x00000002 /* physical memory (refused: ENOTSUP) */
#define SHMCTL_SEAL       0x00000004 /* the size can no longer change */
#define SHMCTL_REVOCABLE  0x00000008 /* shm_revoke() may withdraw it */
#define SHMCTL_GLOBAL     0x00000010 /* hint */
#define SHMCTL_PRIV       0x00000020 /* hint */
#define SHMCTL_LOWERPROT  0x00000040 /* hint */
#define SHMCTL_LAZYWRITE  0x00000080 /* hint */
#define SHMCTL_ISADMA     0x00000100 /* refused: ENOTSUP */
#define SHMCTL_HIGHUSAGE  0x00000200 /* hint */
#define SHMCTL_LAZY       0x00000400 /* allocate on first touch */
#define SHMCTL_REPEAT     0x00000800 /* refused: ENOTSUP (needs PHYS) */
#define SHMCTL_NODEFRAG   0x00001000 /* accepted with PHYS|ANON */
#define SHMCTL_TYMEM      0x00002000 /* refused: ENOTSUP (no typed memory) */
#define SHMCTL_GET_FLAGS  0x00004000 /* return the flags the object has */
#define SHMCTL_HAS_SPECIAL 0x00008000 /* shm_ctl_special() only */
#define SHMCTL_NOX64K     0x00010000 /* refused: ENOTSUP */
#define SHMCTL_FLAG_MASK  0x0001ffff

/* Give the shared memory object behind fd memory and attributes.
 * 0 (or, with SHMCTL_GET_FLAGS, the flags), or -1 with errno. */
int shm_ctl(int fd, int flags, uint64_t paddr, uint64_t size);
int shm_ctl_special(int fd, int flags, uint64_t paddr, uint64_t size,
                    unsigned special);

/* A one-time handle through which process `pid` alone may open (or, with
 * SHM_CREATE_HANDLE_OPT_NOFD, only map) the object behind `fd`, with at
 * most the access `flags` (exactly one of O_RDONLY, O_WRONLY, O_RDWR) gives.
 * 0 or -1 with errno (EBADF, EINVAL, EACCES, ESRCH, EAGAIN, ENOMEM). */
int shm_create_handle(int fd, pid_t pid, int flags, shm_handle_t *handlep,
                      unsigned options);

/* Redeem a handle made for the calling process: a new descriptor
 * (close-on-exec) with the access `flags` asks for.  -1 with errno ESRCH
 * for a handle that is not (or no longer) redeemable by this process,
 * EACCES for more access than granted or a NOFD handle, EINVAL. */
int shm_open_handle(shm_handle_t handle, int flags);

/* Redeem a handle and map the object as mmap() would; no descriptor is
 * left in the process.  MAP_FAILED with errno on failure. */
void *mmap_handle(void *addr, size_t len, int prot, int flags,
                  shm_handle_t handle, off_t off);

/* Forget a handle without redeeming it (the creator or the recipient).
 * 0, or -1 with ESRCH. */
int shm_delete_handle(shm_handle_t handle);

/* Withdraw a revocable object (shm_ctl(SHMCTL_REVOCABLE)) from process pid
 * (-1: from every process, the caller included): its mappings of the object
 * stop giving access (a touch raises SIGSEGV) and its unused handles to it
 * are deleted.  0, or -1 with errno (EBADF, EINVAL, EPERM, ESRCH...). */
int shm_revoke(int fd, pid_t pid);

/* shm_open() that also understands SHM_ANON; any other name goes to the C
 * library's shm_open() unchanged.  The compatibility layer's <sys/mman.h>
 * makes QNX code's shm_open() this function. */
int peermap_shm_open(const char *name, int oflag, mode_t mode);

#ifdef __cplusplus
}
#endif

#endif
