/*
 * QNX 8's security-policy calls, on a system without security policies.
 *
 * QNX documents what its calls do when no policy is in use, and that is
 * what they do here: a server's path is attached with the permissions the
 * server's own code put in its attribute (nothing is changed, *perms_set is
 * false), a type transition fails (ENOTSUP) so that the program drops its
 * privileges by its own means, and no policy file can be opened.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <sys/iofunc.h>
#include <sys/dispatch.h>
#include <qnx/secpol/secpol.h>

#include "common/internal.h"

PM_EXPORT secpol_file_t *secpol_open(const char *path, unsigned flags)
{
    (void)flags;
    pm_begin();
    pm_fail(ENOTSUP, "no security policy is in use on Linux (%s)",
            path ? path : "the default policy");
    return NULL;
}

PM_EXPORT void secpol_close(secpol_file_t *handle)
{
    (void)handle; /* secpol_open() never returns one */
}

PM_EXPORT int secpol_transition_type(secpol_file_t *handle, const char *name, uint32_t flags)
{
    (void)handle;
    (void)flags;
    pm_begin();
    return pm_fail(ENOTSUP, "no security policy is in use: no type \"%s\" to move to; "
                   "drop privileges by other means", name ? name : "run");
}

PM_EXPORT int secpol_resmgr_attach(secpol_file_t *handle, struct _dispatch *dpp,
                                   struct _resmgr_attr *attr, const char *path,
                                   enum _file_type file_type, unsigned flags,
                                   const struct _resmgr_connect_funcs *connect_funcs,
                                   const struct _resmgr_io_funcs *io_funcs,
                                   struct _iofunc_attr *iofunc_attr, bool *perms_set)
{
    pm_begin();
    if (perms_set)
        *perms_set = false;
    if (handle)
        return pm_fail(EINVAL, "not a policy handle (secpol_open() returns none)");
    if (!path)
        return pm_fail(EINVAL, "secpol_resmgr_attach() needs a path");
    return resmgr_attach(dpp, attr, path, file_type, flags, connect_funcs, io_funcs,
                         iofunc_attr);
}
