/*
 * shm_delete_handle(): the creator forgets a handle it made; the recipient
 * asks the creator to forget one made for it.  Anyone else: ESRCH.
 */
#include <errno.h>
#include <fcntl.h>

#include "common/internal.h"
#include "shm/shm.h"

PM_EXPORT int shm_delete_handle(shm_handle_t handle)
{
    pm_begin();
    if (pm_shm_forget(handle) == 0)
        return 0;
    if (pm_shm_redeem(handle, PM_SHM_OP_DELETE, O_RDONLY, NULL) == 0)
        return 0;
    if (errno != ETIMEDOUT && errno != EINTR)
        errno = ESRCH;
    return -1;
}
