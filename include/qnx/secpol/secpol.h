/*
 * <secpol/secpol.h> - QNX 8's security-policy calls for servers.
 *
 * QNX's security policies (a compiled policy the kernel enforces, process
 * types, per-path permissions) do not exist on Linux, so these calls answer
 * as QNX's do on a system where no policy is in use: the server attaches its
 * path with the permissions its code gives, and a type transition fails so
 * that the program drops its privileges by its own means.  See
 * secpol_resmgr_attach(3).
 */
#ifndef PEERMAP_QNX_SECPOL_SECPOL_H
#define PEERMAP_QNX_SECPOL_SECPOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/iomsg.h> /* enum _file_type */

#ifdef __cplusplus
extern "C" {
#endif

/* A policy file: there is none, so no handle is ever returned. */
typedef struct _secpol_file secpol_file_t;

/* secpol_transition_type() flags. */
#define SECPOL_TYPE_NAME 0x0001u /* `name` is a type name, not derived */

struct _dispatch;
struct _resmgr_attr;
struct _resmgr_connect_funcs;
struct _resmgr_io_funcs;
struct _iofunc_attr;

secpol_file_t *secpol_open(const char *path, unsigned flags);
void secpol_close(secpol_file_t *handle);

int secpol_transition_type(secpol_file_t *handle, const char *name, uint32_t flags);

int secpol_resmgr_attach(secpol_file_t *handle, struct _dispatch *dpp,
                         struct _resmgr_attr *attr, const char *path,
                         enum _file_type file_type, unsigned flags,
                         const struct _resmgr_connect_funcs *connect_funcs,
                         const struct _resmgr_io_funcs *io_funcs,
                         struct _iofunc_attr *iofunc_attr, bool *perms_set);

#ifdef __cplusplus
}
#endif

#endif
