/*
 * iofunc_func_init(): tables of the default handlers.
 *
 * Each table gets nfuncs = min(n, the table's size) and, among its first
 * nfuncs slots, the defaults this library has; every other slot among them
 * is NULL (the framework's default behaviour, or ENOSYS).  Slots beyond
 * nfuncs are not touched (the caller's table may be an older, shorter one).
 * Connect: open.  I/O: read, write, close_ocb, stat, devctl, pathconf,
 * lseek, chmod, chown, mmap (the memory manager's outcall, answered with
 * iofunc_mmap_default()), unblock, close_dup, lock_ocb, unlock_ocb, sync.
 * The 64-bit slots stay NULL: their messages then reach read/write/...
 */
#include <stddef.h>

#include "iofunc/iofunc_internal.h"

typedef void (*anyfn)(void);

#define SLOT(type, field) ((offsetof(type, field) - offsetof(type, nfuncs) - sizeof(unsigned)) / sizeof(anyfn))
#define SET(tbl, type, n, field, fn)        \
    do {                                    \
        if (SLOT(type, field) < (n))        \
            (tbl)->field = (fn);            \
    } while (0)

PM_EXPORT void iofunc_func_init(unsigned nconnect, resmgr_connect_funcs_t *connect,
                                unsigned nio, resmgr_io_funcs_t *io)
{
    if (connect) {
        unsigned n = nconnect < _RESMGR_CONNECT_NFUNCS ? nconnect : (unsigned)_RESMGR_CONNECT_NFUNCS;
        connect->nfuncs = n;
        SET(connect, resmgr_connect_funcs_t, n, open, iofunc_open_default);
        SET(connect, resmgr_connect_funcs_t, n, unlink, NULL);
        SET(connect, resmgr_connect_funcs_t, n, rename, NULL);
        SET(connect, resmgr_connect_funcs_t, n, mknod, NULL);
        SET(connect, resmgr_connect_funcs_t, n, readlink, NULL);
        SET(connect, resmgr_connect_funcs_t, n, link, NULL);
        SET(connect, resmgr_connect_funcs_t, n, unblock, NULL);
        SET(connect, resmgr_connect_funcs_t, n, mount, NULL);
    }
    if (io) {
        unsigned n = nio < _RESMGR_IO_NFUNCS ? nio : (unsigned)_RESMGR_IO_NFUNCS;
        io->nfuncs = n;
        SET(io, resmgr_io_funcs_t, n, read, iofunc_read_default);
        SET(io, resmgr_io_funcs_t, n, write, iofunc_write_default);
        SET(io, resmgr_io_funcs_t, n, close_ocb, iofunc_close_ocb_default);
        SET(io, resmgr_io_funcs_t, n, stat, iofunc_stat_default);
        SET(io, resmgr_io_funcs_t, n, notify, NULL);
        SET(io, resmgr_io_funcs_t, n, devctl, iofunc_devctl_default);
        SET(io, resmgr_io_funcs_t, n, unblock, iofunc_unblock_default);
        SET(io, resmgr_io_funcs_t, n, pathconf, iofunc_pathconf_default);
        SET(io, resmgr_io_funcs_t, n, lseek, iofunc_lseek_default);
        SET(io, resmgr_io_funcs_t, n, chmod, iofunc_chmod_default);
        SET(io, resmgr_io_funcs_t, n, chown, iofunc_chown_default);
        SET(io, resmgr_io_funcs_t, n, utime, NULL);
        SET(io, resmgr_io_funcs_t, n, openfd, NULL);
        SET(io, resmgr_io_funcs_t, n, fdinfo, NULL);
        SET(io, resmgr_io_funcs_t, n, lock, NULL);
        SET(io, resmgr_io_funcs_t, n, space, NULL);
        SET(io, resmgr_io_funcs_t, n, shutdown, NULL);
        SET(io, resmgr_io_funcs_t, n, mmap, iofunc_mmap_default);
        SET(io, resmgr_io_funcs_t, n, msg, NULL);
        SET(io, resmgr_io_funcs_t, n, reserved, NULL);
        SET(io, resmgr_io_funcs_t, n, dup, NULL);
        SET(io, resmgr_io_funcs_t, n, close_dup, iofunc_close_dup_default);
        SET(io, resmgr_io_funcs_t, n, lock_ocb, iofunc_lock_ocb_default);
        SET(io, resmgr_io_funcs_t, n, unlock_ocb, iofunc_unlock_ocb_default);
        SET(io, resmgr_io_funcs_t, n, sync, iofunc_sync_default);
        SET(io, resmgr_io_funcs_t, n, power, NULL);
        SET(io, resmgr_io_funcs_t, n, acl, NULL);
        SET(io, resmgr_io_funcs_t, n, pause, NULL);
        SET(io, resmgr_io_funcs_t, n, unpause, NULL);
        SET(io, resmgr_io_funcs_t, n, read64, NULL);  /* _IO_READ64 goes to read */
        SET(io, resmgr_io_funcs_t, n, write64, NULL); /* _IO_WRITE64 to write */
        SET(io, resmgr_io_funcs_t, n, notify64, NULL);
        SET(io, resmgr_io_funcs_t, n, utime64, NULL);
    }
}
