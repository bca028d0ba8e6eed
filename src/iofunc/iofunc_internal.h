/*
 * Shared by the iofunc_* implementation (the POSIX layer of resource
 * managers).  These functions answer with errno values (EOK = 0), as QNX's
 * handlers do, and never set errno; a refusal records a human reason with
 * pm_fail_over() so that peermap_errmsg() can say why.
 */
#ifndef PEERMAP_IOFUNC_INTERNAL_H
#define PEERMAP_IOFUNC_INTERNAL_H

#include <errno.h>

#include "common/internal.h"
#include "sys/iofunc.h"

/* Record `fmt` as the reason, keep errno as it is, evaluate to `err`. */
#define IOF_FAIL(err, ...) (iof_reason(__VA_ARGS__), (err))
void iof_reason(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The client's identity for ctp, unless `given` already holds it: points
 * *out at `given` or at `buf` (filled).  EOK or an errno value. */
int iof_client(resmgr_context_t *ctp, const struct _client_info *given,
               struct _client_info *buf, const struct _client_info **out);

/* Is info's client root / a member of group gid (effective or supplementary)? */
int iof_is_root(const struct _client_info *info);
int iof_in_group(const struct _client_info *info, gid_t gid);

/* Is the mount read-only (ST_RDONLY)? */
int iof_rdonly(const iofunc_attr_t *attr);

/* Release an OCB the way it was allocated (the mount's ocb_free, or free). */
void iof_ocb_free(iofunc_attr_t *attr, iofunc_ocb_t *ocb);

#endif
