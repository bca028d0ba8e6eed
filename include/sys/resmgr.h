/*
 * <sys/resmgr.h> - resource managers (QNX Neutrino API), on Linux.
 *
 * A resource manager owns a piece of the path space and answers the
 * messages that clients' file operations become (<sys/iomsg.h>).  The
 * library receives each message, decodes and checks it, and calls the
 * handler the manager registered for its type in a resmgr_connect_funcs_t
 * (messages that name a path: open, unlink...) or resmgr_io_funcs_t
 * (messages on an open file: read, write, stat...) table.
 *
 * A handler's return value says how to answer:
 *   EOK                   reply with ctp->status as the client's return value
 *   an errno value        the client's call fails with it
 *   _RESMGR_NPARTS(n)     reply with ctp->status and the n parts in ctp->iov
 *   _RESMGR_PTR(ctp,p,n)  reply with ctp->status and n bytes at p
 *   _RESMGR_NOREPLY       no reply now (the handler replies later itself)
 *   _RESMGR_DEFAULT       the framework's default answer: ENOSYS (ENOTTY for
 *                         devctl) - call an iofunc_*_default() yourself for
 *                         its behaviour
 *
 * Include <sys/iofunc.h> first to have the handlers take iofunc_attr_t and
 * iofunc_ocb_t (or define RESMGR_HANDLE_T / RESMGR_OCB_T yourself).
 */
#ifndef PEERMAP_SYS_RESMGR_H
#define PEERMAP_SYS_RESMGR_H

#include <stdint.h>
#include <sys/types.h>

#include <sys/iomsg.h>
#include <sys/neutrino.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RESMGR_HANDLE_T
#define RESMGR_HANDLE_T void
#endif
#ifndef RESMGR_OCB_T
#define RESMGR_OCB_T void
#endif

struct _dispatch;
typedef struct _dispatch dispatch_t;

/* An unblock or other pulse, as the unblock handlers get it. */
typedef struct _pulse io_pulse_t;

/* Any message a resource manager may receive, and room for it. */
typedef union {
    uint16_t           type;
    struct _pulse      pulse;
    io_connect_t       connect;
    io_close_t         close;
    io_read_t          read;
    io_write_t         write;
    io_stat_t          stat;
    io_devctl_t        devctl;
    io_lseek_t         lseek;
    io_chmod_t         chmod;
    io_chown_t         chown;
    io_pathconf_t      pathconf;
    io_notify_t        notify;
    io_mmap_t          mmap;
    io_msg_t           msg;
} resmgr_iomsgs_t;

/* What a handler gets besides the message: who sent it, where to put the
 * reply, and the status the reply will carry. */
typedef struct _resmgr_context {
    rcvid_t          rcvid;        /* 0 for a pulse */
    struct _msg_info info;         /* the sender, from the kernel */
    resmgr_iomsgs_t *msg;          /* the received message (msg_max_size) */
    dispatch_t      *dpp;
    int              id;           /* resmgr_attach() id a connect is for */
    unsigned         tid;
    unsigned         msg_max_size;
    int              status;       /* the client's return value on EOK */
    int              offset;       /* where this message starts in the
                                      received buffer (combined messages) */
    int              size;         /* bytes of it received */
    unsigned         nparts_max;   /* entries in iov[] */
    iov_t            iov[1];       /* reply parts; nparts_max of them */
} resmgr_context_t;

/* Handler return values (see the top of this file). */
#define _RESMGR_ERRNO(e)         (e)
#define _RESMGR_NPARTS(n)        (-(n))
#define _RESMGR_PTR(ctp, a, n)   (SETIOV((ctp)->iov, (a), (n)), _RESMGR_NPARTS(1))
#define _RESMGR_STATUS(ctp, s)   ((ctp)->status = (s))
#define _RESMGR_NOREPLY          ((int)0x7ffffffe)
#define _RESMGR_DEFAULT          ((int)0x7ffffffd)

/* resmgr_attach() attributes.  nparts_max: reply parts a handler may use;
 * msg_max_size: the receive buffer (at least sizeof(resmgr_iomsgs_t));
 * other_func: called for messages no table handles. */
typedef struct _resmgr_attr {
    unsigned flags;
    unsigned nparts_max;
    unsigned msg_max_size;
    int (*other_func)(resmgr_context_t *ctp, void *msg);
    unsigned reserved[4];
} resmgr_attr_t;

/* resmgr_attach() flags. */
#define _RESMGR_FLAG_BEFORE    0x0001u /* resolve before other managers at the path */
#define _RESMGR_FLAG_AFTER     0x0002u /* ... or after them */
#define _RESMGR_FLAG_DIR       0x0004u /* the path and everything below it */
#define _RESMGR_FLAG_OPAQUE    0x0008u /* accepted (no union mounts here) */
#define _RESMGR_FLAG_FTYPEONLY 0x0010u /* accepted */
#define _RESMGR_FLAG_SELF      0x0080u /* accepted */
#define _RESMGR_DETACH_ALL     0x0000u
#define _RESMGR_DETACH_PATHNAME 0x0001u

/* Handlers for messages that name a path. */
typedef struct _resmgr_connect_funcs {
    unsigned nfuncs;
    int (*open)(resmgr_context_t *ctp, io_open_t *msg, RESMGR_HANDLE_T *handle, void *extra);
    int (*unlink)(resmgr_context_t *ctp, io_unlink_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
    int (*rename)(resmgr_context_t *ctp, io_rename_t *msg, RESMGR_HANDLE_T *handle, io_rename_extra_t *extra);
    int (*mknod)(resmgr_context_t *ctp, io_mknod_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
    int (*readlink)(resmgr_context_t *ctp, io_readlink_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
    int (*link)(resmgr_context_t *ctp, io_link_t *msg, RESMGR_HANDLE_T *handle, io_link_extra_t *extra);
    int (*unblock)(resmgr_context_t *ctp, io_pulse_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
    int (*mount)(resmgr_context_t *ctp, io_mount_t *msg, RESMGR_HANDLE_T *handle, io_mount_extra_t *extra);
} resmgr_connect_funcs_t;

/* Handlers for messages on an open file (an OCB). */
typedef struct _resmgr_io_funcs {
    unsigned nfuncs;
    int (*read)(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb);
    int (*write)(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb);
    int (*close_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
    int (*stat)(resmgr_context_t *ctp, io_stat_t *msg, RESMGR_OCB_T *ocb);
    int (*notify)(resmgr_context_t *ctp, io_notify_t *msg, RESMGR_OCB_T *ocb);
    int (*devctl)(resmgr_context_t *ctp, io_devctl_t *msg, RESMGR_OCB_T *ocb);
    int (*unblock)(resmgr_context_t *ctp, io_pulse_t *msg, RESMGR_OCB_T *ocb);
    int (*pathconf)(resmgr_context_t *ctp, io_pathconf_t *msg, RESMGR_OCB_T *ocb);
    int (*lseek)(resmgr_context_t *ctp, io_lseek_t *msg, RESMGR_OCB_T *ocb);
    int (*chmod)(resmgr_context_t *ctp, io_chmod_t *msg, RESMGR_OCB_T *ocb);
    int (*chown)(resmgr_context_t *ctp, io_chown_t *msg, RESMGR_OCB_T *ocb);
    int (*utime)(resmgr_context_t *ctp, io_utime_t *msg, RESMGR_OCB_T *ocb);
    int (*openfd)(resmgr_context_t *ctp, io_openfd_t *msg, RESMGR_OCB_T *ocb);
    int (*fdinfo)(resmgr_context_t *ctp, void *msg, RESMGR_OCB_T *ocb);
    int (*lock)(resmgr_context_t *ctp, io_lock_t *msg, RESMGR_OCB_T *ocb);
    int (*space)(resmgr_context_t *ctp, io_space_t *msg, RESMGR_OCB_T *ocb);
    int (*shutdown)(resmgr_context_t *ctp, io_shutdown_t *msg, RESMGR_OCB_T *ocb);
    int (*mmap)(resmgr_context_t *ctp, io_mmap_t *msg, RESMGR_OCB_T *ocb);
    int (*msg)(resmgr_context_t *ctp, io_msg_t *msg, RESMGR_OCB_T *ocb);
    int (*reserved)(resmgr_context_t *ctp, void *msg, RESMGR_OCB_T *ocb);
    int (*dup)(resmgr_context_t *ctp, io_dup_t *msg, RESMGR_OCB_T *ocb);
    int (*close_dup)(resmgr_context_t *ctp, io_close_t *msg, RESMGR_OCB_T *ocb);
    int (*lock_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
    int (*unlock_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
    int (*sync)(resmgr_context_t *ctp, io_sync_t *msg, RESMGR_OCB_T *ocb);
    /* QNX 7.0 and later.  _IO_READ64/_IO_WRITE64/_IO_NOTIFY64/_IO_UTIME64
     * go to read64/write64/notify64/utime64 when the table has them
     * (nfuncs covers them and they are set), else to read/write/notify/
     * utime, which read the length with _IO_READ_GET_NBYTES() & co. */
    int (*power)(resmgr_context_t *ctp, void *msg, RESMGR_OCB_T *ocb);
    int (*acl)(resmgr_context_t *ctp, void *msg, RESMGR_OCB_T *ocb);
    int (*pause)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
    int (*unpause)(resmgr_context_t *ctp, io_pulse_t *msg, RESMGR_OCB_T *ocb);
    int (*read64)(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb);
    int (*write64)(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb);
    int (*notify64)(resmgr_context_t *ctp, io_notify_t *msg, RESMGR_OCB_T *ocb);
    int (*utime64)(resmgr_context_t *ctp, io_utime_t *msg, RESMGR_OCB_T *ocb);
} resmgr_io_funcs_t;

#define _RESMGR_CONNECT_NFUNCS \
    ((sizeof(resmgr_connect_funcs_t) - sizeof(unsigned)) / sizeof(void (*)(void)))
#define _RESMGR_IO_NFUNCS \
    ((sizeof(resmgr_io_funcs_t) - sizeof(unsigned)) / sizeof(void (*)(void)))

/* Attach `path` (NULL: no path, messages only) to dispatch `dpp`; clients
 * that open it reach connect_funcs, then io_funcs with the OCB the open
 * made; `handle` is passed to the connect handlers (an iofunc_attr_t).
 * Returns an id (>= 0) or -1 with errno. */
int resmgr_attach(dispatch_t *dpp, resmgr_attr_t *attr, const char *path,
                  enum _file_type file_type, unsigned flags,
                  const resmgr_connect_funcs_t *connect_funcs,
                  const resmgr_io_funcs_t *io_funcs, RESMGR_HANDLE_T *handle);
int resmgr_detach(dispatch_t *dpp, int id, unsigned flags);

/* Bind `ocb` to the client connection of ctp: later messages on it reach
 * the io handlers with this OCB.  (iofunc_ocb_attach() calls it.) */
int resmgr_open_bind(resmgr_context_t *ctp, void *ocb, const resmgr_io_funcs_t *iofuncs);

/* The OCB bound to the connection (and coid) that ctp's message came on,
 * or NULL when there is none.  iofunc_mmap() uses it to find the memory
 * manager's privileged OCB. */
void *resmgr_ocb(resmgr_context_t *ctp);

/* Handle the message of `rcvid` (a client still waiting for its reply,
 * e.g. a read the manager held with _RESMGR_NOREPLY) again, as if it had
 * just arrived: read from the client anew and run through the handlers,
 * which reply.  ctp is left as it was (the work is done in a context of
 * its own).  0, or -1 with errno (ESRCH: the client is no longer
 * waiting). */
int resmgr_msg_again(resmgr_context_t *ctp, rcvid_t rcvid);

/* Like resmgr_msgread(), but what the receive buffer already holds is
 * copied from there: only the rest is read from the client. */
ssize_t resmgr_msgget(resmgr_context_t *ctp, void *msg, size_t nbytes, size_t offset);

/* Read `nbytes` of the client's message at `offset` (from ctp->offset), or
 * write into its reply buffer: MsgRead()/MsgWrite() for resource managers. */
ssize_t resmgr_msgread(resmgr_context_t *ctp, void *msg, size_t nbytes, size_t offset);
ssize_t resmgr_msgwrite(resmgr_context_t *ctp, const void *msg, size_t nbytes, size_t offset);
ssize_t resmgr_msgreadv(resmgr_context_t *ctp, iov_t *iov, int parts, size_t offset);
ssize_t resmgr_msgwritev(resmgr_context_t *ctp, const iov_t *iov, int parts, size_t offset);

#ifdef __cplusplus
}
#endif

#endif
