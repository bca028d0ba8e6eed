/*
 * iofunc_pathconf_default(), iofunc_sync_default().
 *
 * pathconf: the value is the reply status (_IO_SET_PATHCONF_VALUE).
 *   _PC_LINK_MAX         65535 (what the attribute's nlink can count to on QNX)
 *   _PC_NAME_MAX         NAME_MAX;  _PC_PATH_MAX  PATH_MAX
 *   _PC_FILESIZEBITS     64
 *   _PC_CHOWN_RESTRICTED, _PC_NO_TRUNC, _PC_SYNC_IO (and QNX's _PC_LINK_DIR
 *                        where the C library defines it): 1 if the mount's
 *                        conf has the IOFUNC_PC_* bit, else -1 ("not in
 *                        effect", POSIX's way of saying no).  Without a
 *                        mount, _PC_CHOWN_RESTRICTED and _PC_NO_TRUNC are
 *                        in effect (iofunc_chown() treats it so).
 *   anything else        EINVAL (terminal and pipe limits belong to the
 *                        managers of terminals and pipes).
 * sync: nothing is cached here, so there is nothing to write: EOK.
 */
#include <limits.h>
#include <unistd.h>

#include "iofunc/iofunc_internal.h"

static int conf_bool(const iofunc_attr_t *attr, uint32_t bit, int dflt)
{
    if (!attr || !attr->mount)
        return dflt ? 1 : -1;
    return (attr->mount->conf & bit) ? 1 : -1;
}

PM_EXPORT int iofunc_pathconf_default(resmgr_context_t *ctp, io_pathconf_t *msg, IOFUNC_OCB_T *ocb)
{
    if (!msg)
        return IOF_FAIL(EINVAL, "iofunc_pathconf_default: no message");
    const iofunc_attr_t *attr = ocb ? (const iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr : NULL;
    int v;
    switch (msg->i.name) {
    case _PC_LINK_MAX:
        v = 65535;
        break;
    case _PC_NAME_MAX:
        v = NAME_MAX;
        break;
    case _PC_PATH_MAX:
        v = PATH_MAX;
        break;
    case _PC_FILESIZEBITS:
        v = 64;
        break;
    case _PC_CHOWN_RESTRICTED:
        v = conf_bool(attr, IOFUNC_PC_CHOWN_RESTRICTED, 1);
        break;
    case _PC_NO_TRUNC:
        v = conf_bool(attr, IOFUNC_PC_NO_TRUNC, 1);
        break;
    case _PC_SYNC_IO:
        v = conf_bool(attr, IOFUNC_PC_SYNC_IO, 0);
        break;
#ifdef _PC_LINK_DIR
    case _PC_LINK_DIR:
        v = conf_bool(attr, IOFUNC_PC_LINK_DIR, 0);
        break;
#endif
    default:
        return IOF_FAIL(EINVAL, "pathconf name %d is not answered here", (int)msg->i.name);
    }
    _IO_SET_PATHCONF_VALUE(ctp, v);
    return EOK;
}

PM_EXPORT int iofunc_sync_default(resmgr_context_t *ctp, io_sync_t *msg, IOFUNC_OCB_T *ocb)
{
    (void)ctp;
    (void)msg;
    (void)ocb;
    return EOK;
}
