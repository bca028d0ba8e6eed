/*
 * shm_open_handle(): redeem a handle for a descriptor.  Refused for
 * SHM_CREATE_HANDLE_OPT_NOFD handles (the creator answers EACCES).
 */
#include <errno.h>
#include <fcntl.h>

#include "common/internal.h"
#include "shm/shm.h"

PM_EXPORT int shm_open_handle(shm_handle_t handle, int flags)
{
    pm_begin();
    int acc = flags & O_ACCMODE;
    /* QNX: O_CLOEXEC is allowed and changes nothing (always set). */
    if ((flags & ~(O_ACCMODE | O_CLOEXEC)) || acc == O_ACCMODE)
        return pm_fail(EINVAL, "shm_open_handle: flags must be one of O_RDONLY, "
                       "O_WRONLY, O_RDWR (and O_CLOEXEC)");
    return pm_shm_redeem(handle, PM_SHM_OP_OPEN, acc, NULL);
}
