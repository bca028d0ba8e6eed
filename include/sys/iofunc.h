/*
 * <sys/iofunc.h> - the POSIX layer of resource managers (QNX Neutrino API),
 * on Linux.
 *
 * iofunc_attr_t describes a resource (owner, mode, size, times, how many
 * opens), iofunc_ocb_t one open of it (mode, offset), iofunc_mount_t the
 * file system it belongs to.  The iofunc_*_default() handlers answer the
 * common messages with POSIX behaviour, checking the client's rights (from
 * the kernel's record of it) against the resource's mode bits.
 *
 * To extend the structures, put iofunc_attr_t / iofunc_ocb_t first in your
 * own and define IOFUNC_ATTR_T / IOFUNC_OCB_T (and IOFUNC_MOUNT_T) to them
 * before including this header, as QNX's guide teaches.
 */
#ifndef PEERMAP_SYS_IOFUNC_H
#define PEERMAP_SYS_IOFUNC_H

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

/* Declared before <sys/resmgr.h> sees them in its handler tables. */
struct _iofunc_attr;
struct _iofunc_ocb;
struct _iofunc_mount;

#ifndef IOFUNC_ATTR_T
#define IOFUNC_ATTR_T struct _iofunc_attr
#endif
#ifndef IOFUNC_OCB_T
#define IOFUNC_OCB_T struct _iofunc_ocb
#endif
#ifndef IOFUNC_MOUNT_T
#define IOFUNC_MOUNT_T struct _iofunc_mount
#endif
#ifndef RESMGR_HANDLE_T
#define RESMGR_HANDLE_T IOFUNC_ATTR_T
#endif
#ifndef RESMGR_OCB_T
#define RESMGR_OCB_T IOFUNC_OCB_T
#endif

#include <sys/iomsg.h>
#include <sys/neutrino.h>
#include <sys/resmgr.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the structures ---- */

struct _iofunc_funcs;

typedef struct _iofunc_mount {
    uint32_t flags;              /* ST_RDONLY, ST_NOSUID... (<sys/statvfs.h>) */
    uint32_t conf;               /* IOFUNC_PC_* */
    dev_t    dev;
    int32_t  blocksize;
    struct _iofunc_funcs *funcs; /* OCB allocation overrides, or NULL */
    void    *reserved[2];
} iofunc_mount_t;

typedef struct _iofunc_attr {
    IOFUNC_MOUNT_T *mount;
    uint32_t flags;              /* IOFUNC_ATTR_* */
    int32_t  lock_tid;           /* thread holding iofunc_attr_lock() */
    uint16_t lock_count;
    uint16_t count;              /* opens */
    uint16_t rcount;             /* opens for reading */
    uint16_t wcount;             /* opens for writing */
    uint16_t rlocks;             /* opens that deny reading (share modes) */
    uint16_t wlocks;             /* opens that deny writing */
    struct _iofunc_mmap_list *mmap_list;
    struct _iofunc_lock_list *lock_list;
    void    *list;
    uint32_t list_size;
    off_t    nbytes;             /* size */
    ino_t    inode;
    uid_t    uid;
    gid_t    gid;
    time_t   mtime;
    time_t   atime;
    time_t   ctime;
    mode_t   mode;
    nlink_t  nlink;
    dev_t    rdev;
} iofunc_attr_t;

typedef struct _iofunc_ocb {
    IOFUNC_ATTR_T *attr;
    int32_t  ioflag;             /* the open's O_* flags + 1 (_IO_FLAG_RD/WR) */
    off_t    offset;
    uint16_t sflag;              /* share mode (SH_*) */
    uint16_t flags;              /* IOFUNC_OCB_* */
    void    *reserved;
} iofunc_ocb_t;

/* How the library allocates OCBs; a manager may supply its own. */
typedef struct _iofunc_funcs {
    unsigned nfuncs;
    IOFUNC_OCB_T *(*ocb_calloc)(resmgr_context_t *ctp, IOFUNC_ATTR_T *attr);
    void (*ocb_free)(IOFUNC_OCB_T *ocb);
} iofunc_funcs_t;
#define _IOFUNC_NFUNCS ((sizeof(iofunc_funcs_t) - sizeof(unsigned)) / sizeof(void (*)(void)))

/* iofunc_attr_t.flags: what changed and must be written back or updated. */
#define IOFUNC_ATTR_CTIME        0x00000001u /* ctime to be set to now */
#define IOFUNC_ATTR_MTIME        0x00000002u /* mtime to be set to now */
#define IOFUNC_ATTR_ATIME        0x00000004u /* atime to be set to now */
#define IOFUNC_ATTR_DIRTY_SIZE   0x00000100u
#define IOFUNC_ATTR_DIRTY_MODE   0x00000200u
#define IOFUNC_ATTR_DIRTY_OWNER  0x00000400u
#define IOFUNC_ATTR_DIRTY_RDEV   0x00000800u
#define IOFUNC_ATTR_DIRTY_NLINK  0x00001000u
#define IOFUNC_ATTR_DIRTY_TIME   0x00002000u
#define IOFUNC_ATTR_DIRTY_MASK   0x0000ff00u
#define IOFUNC_ATTR_PRIVATE      0x0fff0000u /* the manager's own */

/* iofunc_ocb_t.flags */
#define IOFUNC_OCB_PRIVILEGED    0x0001u /* opened by the memory manager */
#define IOFUNC_OCB_MMAP          0x0002u
#define IOFUNC_OCB_FLAGS_PRIVATE 0xf000u

/* iofunc_ocb_detach() results: what this close was the last of. */
#define IOFUNC_OCB_LAST_INUSE    0x0001
#define IOFUNC_OCB_LAST_READER   0x0002
#define IOFUNC_OCB_LAST_WRITER   0x0004
#define IOFUNC_OCB_LAST_RDLOCK   0x0008
#define IOFUNC_OCB_LAST_WRLOCK   0x0010

/* Share modes (QNX's <share.h>): the connect message's sflag, kept in
 * iofunc_ocb_t.sflag.  SH_COMPAT is treated as SH_DENYNO, as on QNX. */
#ifndef SH_COMPAT
#define SH_COMPAT 0x0000
#define SH_DENYRW 0x0010 /* deny others reading and writing */
#define SH_DENYWR 0x0020 /* deny others writing */
#define SH_DENYRD 0x0030 /* deny others reading */
#define SH_DENYNO 0x0040 /* deny nothing */
#endif
#ifndef SH_MASK
#define SH_MASK   0x0070
#endif

/* iofunc_mount_t.conf: pathconf answers. */
#define IOFUNC_PC_CHOWN_RESTRICTED 0x00000001u
#define IOFUNC_PC_NO_TRUNC         0x00000002u
#define IOFUNC_PC_SYNC_IO          0x00000004u
#define IOFUNC_PC_LINK_DIR         0x00000008u

/* ---- setting up ---- */

/* Fill the tables with the default handlers (iofunc_*_default). */
void iofunc_func_init(unsigned nconnect, resmgr_connect_funcs_t *connect,
                      unsigned nio, resmgr_io_funcs_t *io);

/* Initialise attr for a resource of `mode` (type | permissions), owned by
 * the creator in info (or by dattr's owner, or by this process). */
void iofunc_attr_init(iofunc_attr_t *attr, mode_t mode, iofunc_attr_t *dattr,
                      struct _client_info *info);

/* The attribute lock: handlers run with it held (lock_ocb/unlock_ocb
 * defaults take it around every I/O message). Recursive per thread. */
int iofunc_attr_lock(iofunc_attr_t *attr);
int iofunc_attr_trylock(iofunc_attr_t *attr);
int iofunc_attr_unlock(iofunc_attr_t *attr);
int iofunc_lock_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb);
int iofunc_unlock_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb);

/* ---- who is asking, and may they ---- */

/* The client of ctp: its identity from the kernel, with ioflag recorded. */
int iofunc_client_info(resmgr_context_t *ctp, int ioflag, struct _client_info *info);

/* May the client in info (NULL: ctp's client) access attr for checkmode
 * (S_IREAD | S_IWRITE | S_IEXEC, or S_ISUID to ask "owner or root", or
 * S_ISGID "member of the group or root")?  EOK, EACCES or EPERM. */
int iofunc_check_access(resmgr_context_t *ctp, const iofunc_attr_t *attr,
                        mode_t checkmode, const struct _client_info *info);

/* Checks before a read / write on ocb: opened for it (EBADF otherwise),
 * and whether the client asked not to block (*nonblock, may be NULL). */
int iofunc_read_verify(resmgr_context_t *ctp, io_read_t *msg, IOFUNC_OCB_T *ocb, int *nonblock);
int iofunc_write_verify(resmgr_context_t *ctp, io_write_t *msg, IOFUNC_OCB_T *ocb, int *nonblock);

/* ---- opening and closing ---- */

/* POSIX open rules: permissions, share modes, O_TRUNC/O_CREAT on an existing
 * resource; counts the open in attr. */
int iofunc_open(resmgr_context_t *ctp, io_open_t *msg, iofunc_attr_t *attr,
                iofunc_attr_t *dattr, struct _client_info *info);
int iofunc_open_default(resmgr_context_t *ctp, io_open_t *msg, IOFUNC_ATTR_T *attr, void *extra);

/* Make (or take) an OCB for this open and bind it to the client's
 * connection; io_funcs NULL means the ones given to resmgr_attach(). */
int iofunc_ocb_attach(resmgr_context_t *ctp, io_open_t *msg, IOFUNC_OCB_T *ocb,
                      IOFUNC_ATTR_T *attr, const resmgr_io_funcs_t *io_funcs);
/* Undo the counts of an OCB; returns the IOFUNC_OCB_LAST_* bits of the
 * counts that reached zero (0 if none). */
int iofunc_ocb_detach(resmgr_context_t *ctp, IOFUNC_OCB_T *ocb);
int iofunc_close_ocb(resmgr_context_t *ctp, IOFUNC_OCB_T *ocb, IOFUNC_ATTR_T *attr);
int iofunc_close_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb);

/* ---- the other defaults ---- */

int iofunc_read_default(resmgr_context_t *ctp, io_read_t *msg, IOFUNC_OCB_T *ocb);
int iofunc_write_default(resmgr_context_t *ctp, io_write_t *msg, IOFUNC_OCB_T *ocb);

int iofunc_stat(resmgr_context_t *ctp, iofunc_attr_t *attr, struct stat *st);
int iofunc_stat_default(resmgr_context_t *ctp, io_stat_t *msg, IOFUNC_OCB_T *ocb);

int iofunc_lseek(resmgr_context_t *ctp, io_lseek_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr);
int iofunc_lseek_default(resmgr_context_t *ctp, io_lseek_t *msg, IOFUNC_OCB_T *ocb);

int iofunc_chmod(resmgr_context_t *ctp, io_chmod_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr);
int iofunc_chmod_default(resmgr_context_t *ctp, io_chmod_t *msg, IOFUNC_OCB_T *ocb);

int iofunc_chown(resmgr_context_t *ctp, io_chown_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr);
int iofunc_chown_default(resmgr_context_t *ctp, io_chown_t *msg, IOFUNC_OCB_T *ocb);

/* DCMD_ALL_GETFLAGS / DCMD_ALL_SETFLAGS; anything else is _RESMGR_DEFAULT,
 * which the framework answers with ENOTTY. */
int iofunc_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr);
int iofunc_devctl_default(resmgr_context_t *ctp, io_devctl_t *msg, IOFUNC_OCB_T *ocb);

/* ---- mapping: the memory manager's _IO_MMAP outcall ----
 *
 * The framework hands an _IO_MMAP (sent only on the memory manager's own
 * connections) to the mmap handler with the OCB of the client's open that
 * is being mapped; ctp->info is the memory manager's connection.
 *
 * iofunc_mmap() decides whether the client may map attr (NULL: ocb->attr)
 * as msg->i asks.  wanted = i.prot & PROT_MASK; required = i.required_prot
 * when i.prot has bits outside PROT_MASK (_IO_MMAP_PROT_REQUIRED_VALID),
 * else i.prot.  Refusals, in order: write required on a read-only mount
 * (ST_RDONLY): EROFS; mandatory locking (S_ISGID without S_IXGRP) with
 * locks held: EAGAIN; the client's open lacks read, or lacks write when
 * write is required: EACCES; PROT_EXEC required and the resource is not
 * executable for the client (its own credentials): EACCES; PROT_EXEC
 * required while another open writes (the client's own O_RDWR open
 * included), or write required while mapped code denies writing: ETXTBSY.
 * Then it makes (or reuses: one per memory-manager connection, for one
 * resource - another resource on the same connection is EBUSY) a
 * privileged OCB (IOFUNC_OCB_PRIVILEGED | IOFUNC_OCB_MMAP) bound to the
 * memory manager's connection, counted as an open of attr for reading, and
 * for writing once write is granted.  A granted PROT_EXEC gives it the
 * SH_DENYWR share mode: opens for writing then fail with EBUSY until the
 * memory manager disconnects, which closes the OCB (close_ocb) and undoes
 * its counts.  The reply (msg->o, zeroed first): allowed_prot = PROT_READ,
 * | PROT_WRITE if the open has write and the mount is writable, | PROT_EXEC
 * if executable for the client (each unless the write lock above forbids
 * it); offset = i.offset; coid = the memory manager's coid; fd 0.
 * Returns _RESMGR_PTR() of msg->o (negative) on success, so that a handler
 * can change msg->o and return that value; an errno value on failure
 * (ENOMEM: no memory for the OCB; EINVAL: NULL arguments).
 * iofunc_mmap_default() is iofunc_mmap(ctp, msg, ocb, ocb->attr), the
 * mmap handler iofunc_func_init() installs. */
int iofunc_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb, iofunc_attr_t *attr);
int iofunc_mmap_default(resmgr_context_t *ctp, io_mmap_t *msg, IOFUNC_OCB_T *ocb);

/* iofunc_mmap_ext(): iofunc_mmap() with the extended reply.  extended.flags
 * = flags | _IO_MMAP_REPLY_FLAGS_USE_EXTENDED.  When flags name a stat form
 * (_IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_T32_2001, _T32_2008 or
 * _T64_2008)), extended.stat gets the file's attributes in that form, from
 * `stat`, or from iofunc_stat() of attr when stat is NULL; a 32-bit form
 * that cannot hold the times is left out (its bits cleared from the flags),
 * and the memory manager asks with fstat instead.  To hand the client one
 * of your shared memory objects, pass _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT,
 * set msg->o.base.fd to its descriptor and return what this returned: the
 * framework sends the descriptor (a duplicate; keep yours) with the reply.
 * iofunc_mmap_default_ext() is iofunc_mmap_ext() on ocb->attr with the
 * _STAT_FORM_PREFERRED form and no stat. */
int iofunc_mmap_ext(resmgr_context_t *ctp, io_mmap_ext_t *msg, iofunc_ocb_t *ocb,
                    iofunc_attr_t *attr, uint32_t const flags, struct stat const *const stat);
int iofunc_mmap_default_ext(resmgr_context_t *ctp, io_mmap_ext_t *msg, IOFUNC_OCB_T *ocb);

/* The unblock handler iofunc_func_init() installs: lets go a client that
 * the iofunc layer itself holds (it holds none: no record locks here) and
 * otherwise returns _RESMGR_DEFAULT, which the framework answers with
 * EINTR to the client. */
int iofunc_unblock_default(resmgr_context_t *ctp, io_pulse_t *msg, IOFUNC_OCB_T *ocb);
/* The close_dup handler iofunc_func_init() installs: releases what the
 * iofunc layer keeps per client (nothing without record locks): EOK. */
int iofunc_close_dup_default(resmgr_context_t *ctp, io_close_t *msg, IOFUNC_OCB_T *ocb);

int iofunc_pathconf_default(resmgr_context_t *ctp, io_pathconf_t *msg, IOFUNC_OCB_T *ocb);
int iofunc_sync_default(resmgr_context_t *ctp, io_sync_t *msg, IOFUNC_OCB_T *ocb);

/* ---- notification (ionotify(), poll(), select() on the resource) ----
 *
 * A manager keeps three lists - input, output, out-of-band - usually in its
 * attribute structure, initialised with IOFUNC_NOTIFY_INIT(), and calls:
 *   iofunc_notify()          from its notify handler: answers POLL, and
 *                            arms the client's event (POLLARM/TRANARM/
 *                            CONDARM) for the conditions not met now (trig
 *                            says which are); returns the handler's answer.
 *   iofunc_notify_trigger()  when `count` items are there (data to read,
 *                            room to write...): every entry of list `index`
 *                            whose count is reached gets its event
 *                            (MsgDeliverEvent()) and is disarmed.
 *   iofunc_notify_remove()   when a client closes: its entries go.
 * The lists belong to the manager: call these with the attribute locked
 * (lock_ocb, or iofunc_attr_lock()), as every handler runs.  An entry whose
 * client has gone (its connection closed, even if a new client got the
 * same connection id) is dropped, never delivered to someone else.
 */
#define IOFUNC_NOTIFY_INPUT  0
#define IOFUNC_NOTIFY_OUTPUT 1
#define IOFUNC_NOTIFY_OBAND  2
#define IOFUNC_NOTIFY_COUNT  3

#ifndef SI_NOTIFY
/* A pulse or signal code: the delivered value then carries the condition
 * that fired (_NOTIFY_COND_INPUT << index) in its top bits. */
#define SI_NOTIFY (-65)
#endif

typedef struct _iofunc_notify_event {
    struct _iofunc_notify_event *next;
    rcvid_t  rcvid;         /* the message that armed it */
    int32_t  scoid;         /* the client's connection... */
    int32_t  coid;          /* ...and its coid on it */
    int32_t  cnt;           /* deliver when the count reaches this */
    struct sigevent event;
    uint64_t conn;          /* the connection's identity (the library's) */
} iofunc_notify_event_t;

typedef struct _iofunc_notify {
    int32_t cnt;            /* entries in list */
    iofunc_notify_event_t *list;
} iofunc_notify_t;

#define IOFUNC_NOTIFY_INIT(nop) \
    memset((nop), 0, IOFUNC_NOTIFY_COUNT * sizeof(iofunc_notify_t))

int iofunc_notify(resmgr_context_t *ctp, io_notify_t *msg, iofunc_notify_t *nop, int trig,
                  const int *notifycounts, int *armed);
void iofunc_notify_trigger(iofunc_notify_t *nop, int count, int index);
/* Only the entries of ctp's client (all with ctp NULL). */
void iofunc_notify_trigger_strict(resmgr_context_t *ctp, iofunc_notify_t *nop, int count,
                                  int index);
void iofunc_notify_remove(resmgr_context_t *ctp, iofunc_notify_t *nop);
/* The first `lim` lists only. */
void iofunc_notify_remove_strict(resmgr_context_t *ctp, iofunc_notify_t *nop, int lim);

/* Apply the IOFUNC_ATTR_ATIME/MTIME/CTIME flags: set those times to now. */
int iofunc_time_update(iofunc_attr_t *attr);

#ifdef __cplusplus
}
#endif

#endif
