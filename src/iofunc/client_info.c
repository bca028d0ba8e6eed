/*
 * Who is asking, and may they: iofunc_client_info(), iofunc_check_access().
 *
 * The identity always comes from the kernel's record of the client's
 * connection (ConnectClientInfo() on ctp->info.scoid), never from the
 * message.  iofunc_client_info() keeps the ioflag it is given in
 * info->flags (the header's contract).
 *
 * iofunc_check_access(), POSIX's rules as QNX applies them:
 *   S_ISUID in checkmode   the client must own attr or be root, else EPERM
 *   S_ISGID in checkmode   the client must be in attr's group (effective or
 *                          supplementary) or be root, else EPERM
 *   S_IREAD/S_IWRITE/S_IEXEC
 *                          root: read and write always, execute only if
 *                          some execute bit is set; others: the owner
 *                          class if they own attr, else the group class if
 *                          they are in its group, else the other class;
 *                          every asked right must be there, else EACCES.
 * Only the first matching class counts (an owner denied by the owner bits
 * is denied even if "other" would allow), as POSIX says.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iofunc/iofunc_internal.h"

void iof_reason(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pm_fail_over(0, "%s", buf);
}

PM_EXPORT int iofunc_client_info(resmgr_context_t *ctp, int ioflag, struct _client_info *info)
{
    if (!ctp || !info)
        return IOF_FAIL(EINVAL, "iofunc_client_info: no context or no _client_info");
    int saved = errno;
    if (ConnectClientInfo(ctp->info.scoid, info, NGROUPS_MAX_CRED) == -1) {
        int err = errno ? errno : ESRCH;
        errno = saved;
        return IOF_FAIL(err, "cannot identify the client of connection %d", (int)ctp->info.scoid);
    }
    errno = saved;
    info->flags = (uint32_t)ioflag;
    return EOK;
}

int iof_client(resmgr_context_t *ctp, const struct _client_info *given,
               struct _client_info *buf, const struct _client_info **out)
{
    if (given) {
        *out = given;
        return EOK;
    }
    int err = iofunc_client_info(ctp, 0, buf);
    if (err == EOK)
        *out = buf;
    return err;
}

int iof_is_root(const struct _client_info *info)
{
    return info->cred.euid == 0;
}

int iof_in_group(const struct _client_info *info, gid_t gid)
{
    if (info->cred.egid == gid)
        return 1;
    uint32_t n = info->cred.ngroups;
    if (n > NGROUPS_MAX_CRED)
        n = NGROUPS_MAX_CRED;
    for (uint32_t i = 0; i < n; i++)
        if (info->cred.grouplist[i] == gid)
            return 1;
    return 0;
}

PM_EXPORT int iofunc_check_access(resmgr_context_t *ctp, const iofunc_attr_t *attr,
                                  mode_t checkmode, const struct _client_info *info)
{
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_check_access: no attribute structure");
    struct _client_info buf;
    const struct _client_info *ci;
    int err = iof_client(ctp, info, &buf, &ci);
    if (err)
        return err;
    int root = iof_is_root(ci);
    uid_t uid = ci->cred.euid;

    if ((checkmode & S_ISUID) && !root && uid != attr->uid)
        return IOF_FAIL(EPERM, "uid %u does not own the resource (owner %u)",
                        (unsigned)uid, (unsigned)attr->uid);
    if ((checkmode & S_ISGID) && !root && !iof_in_group(ci, attr->gid))
        return IOF_FAIL(EPERM, "uid %u is not in the resource's group %u",
                        (unsigned)uid, (unsigned)attr->gid);

    mode_t want = checkmode & (S_IRUSR | S_IWUSR | S_IXUSR);
    if (!want)
        return EOK;
    if (root) {
        if ((want & S_IXUSR) && !(attr->mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
            return IOF_FAIL(EACCES, "no execute bit is set, not even root may execute");
        return EOK;
    }
    mode_t have;
    const char *cls;
    if (uid == attr->uid) {
        have = attr->mode & S_IRWXU;
        cls = "owner";
    } else if (iof_in_group(ci, attr->gid)) {
        have = (attr->mode & S_IRWXG) << 3;
        cls = "group";
    } else {
        have = (attr->mode & S_IRWXO) << 6;
        cls = "other";
    }
    if ((have & want) != want)
        return IOF_FAIL(EACCES, "mode %04o denies %s%s%s to uid %u (%s class)",
                        (unsigned)(attr->mode & 07777), (want & S_IRUSR) ? "r" : "",
                        (want & S_IWUSR) ? "w" : "", (want & S_IXUSR) ? "x" : "",
                        (unsigned)uid, cls);
    return EOK;
}
