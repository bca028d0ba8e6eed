/*
 * The resource-manager client's pieces that other parts of peermap reuse
 * (the FUSE export, src/export/): an open on a connection made by the
 * caller, and reads and writes at an offset.  Internal to the library.
 * Each fails with -1, errno and a reason (pm_fail); none calls pm_begin().
 */
#ifndef PEERMAP_RESMGR_CLIENT_H
#define PEERMAP_RESMGR_CLIENT_H

#include <stdint.h>
#include <sys/types.h>

#include "msg/bodyfile.h"

struct pm_ps_match;

/* oflag (O_RDONLY/O_WRONLY/O_RDWR and the other O_* flags) in QNX's
 * _io_connect.ioflag encoding: the access mode plus one in the low bits. */
uint32_t pm_open_ioflag(int oflag);

/* Send the _IO_CONNECT open of m->rest (the path below the manager's
 * prefix; `path` is for messages only) on connection coid to m's manager,
 * with `ioflag` as is (access bits 0: an open for stat() and the like,
 * which asks for neither reading nor writing) and `mode` (S_IFREG | bits
 * for a creating open, else 0).  0 when the manager accepted; -1 with its
 * answer as errno, ENOENT when it went away, ENOTSUP for a redirection.
 * The caller detaches coid on failure. */
int pm_open_on(int coid, const struct pm_ps_match *m, const char *path, uint32_t ioflag,
               uint32_t mode);

/* _IO_WRITE with _IO_XTYPE_OFFSET (pwrite()): at `off`, leaving the open's
 * offset alone.  The bytes taken, or -1: a manager that does not know the
 * override answers ENOSYS (or EINVAL, ENOTSUP), which callers take as
 * "seek, then write". */
ssize_t pm_write_at(int fd, const void *buf, size_t n, off_t off);

/* The FUSE export's reads: _IO_READ at the open's offset (errors as
 * pm_read(), without pm_begin()), and with _IO_XTYPE_OFFSET at `off`
 * (pread(); -1 with ENOSYS, EINVAL or ENOTSUP from a manager that does
 * not know the override: seek, then read).  Unlike pm_read(), the count
 * is never more than the bytes the manager sent (its status may claim
 * more: the rest of buf would be whatever it held before - another
 * caller's data, for the export).  With `at` (may be NULL): when the
 * answer arrived in the manager's memory file (a body over
 * PM_WIRE_INLINE_MAX) that we map, and the status counts exactly its
 * bytes, at->view points at them there and nothing is copied into buf; the
 * mapping is the caller's (at->map) until pm_read_place_done() gives it
 * back to the connection, so nothing unmaps it meanwhile (the manager may
 * still write into its file, never shrink it: bodyfile.h).  Otherwise
 * at->view is NULL and the bytes are in buf. */
struct pm_read_place {
    const unsigned char *view;
    struct pm_bodyview map;
};
#define PM_READ_PLACE_INIT { NULL, PM_BODYVIEW_INIT }
ssize_t pm_read_view(int fd, void *buf, size_t n, struct pm_read_place *at);
ssize_t pm_read_at_view(int fd, void *buf, size_t n, off_t off, struct pm_read_place *at);
void pm_read_place_done(int fd, struct pm_read_place *at);

#endif
