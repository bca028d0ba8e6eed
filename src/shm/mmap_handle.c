/*
 * mmap_handle(): redeem a handle and map the object; the descriptor that
 * carried it is closed before we return, so the process keeps a mapping
 * and nothing it could map again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"

PM_EXPORT void *mmap_handle(void *addr, size_t len, int prot, int flags,
                            shm_handle_t handle, off_t off)
{
    pm_begin();
    /* Checked before the handle is spent: a bad call must not cost it. */
    int type = flags & MAP_TYPE;
    if (len == 0 || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
        (type != MAP_SHARED && type != MAP_PRIVATE) || (flags & MAP_ANONYMOUS) ||
        off < 0 || (off & (sysconf(_SC_PAGESIZE) - 1))) {
        pm_fail(EINVAL, "mmap_handle: invalid length, protection, flags or offset");
        return MAP_FAILED;
    }
    /* Linux maps nothing from a descriptor without read access; write
     * access only for a shared writable mapping. */
    int access = (prot & PROT_WRITE) && type == MAP_SHARED ? O_RDWR : O_RDONLY;
    uint32_t rflags = 0;
    int fd = pm_shm_redeem(handle, PM_SHM_OP_MAP, access, &rflags);
    if (fd < 0)
        return MAP_FAILED;
    void *p = mmap(addr, len, prot, flags, fd, off);
    int e = errno;
    if (p != MAP_FAILED && (rflags & PM_SHM_REPLY_REVOCABLE))
        /* QNX maps revocable objects MAP_NOINHERIT, so that a child made
         * by fork() cannot keep what shm_revoke() takes away. */
        madvise(p, len, MADV_DONTFORK);
    close(fd);
    if (p == MAP_FAILED)
        pm_fail(e, "mmap_handle: mmap of the redeemed object failed (the handle is spent)");
    return p;
}
