/*
 * The dispatch layer's internals: what a dispatch_t holds, how a context is
 * laid out, and the message decoder (resmgr_decode.c) that every received
 * message goes through before any handler sees it.
 *
 * Decisions (see each file's head for its own):
 *  - One mutex per dispatch (dpp->lock) guards its tables: attachments,
 *    OCB bindings, message/pulse ranges.  Handlers always run without it.
 *  - An OCB is bound to a client connection, keyed by (scoid, coid) as on
 *    QNX (a connection may carry several opens under different coids).  The
 *    connection's socket inode is recorded at bind time, so that a
 *    _PULSE_CODE_DISCONNECT that arrives after the slot (and so the scoid)
 *    was reused by a new client closes only the old client's OCBs.
 *  - Bindings are reference-counted while a handler uses them: a disconnect
 *    pulse handled by one thread while another is still inside a handler for
 *    that OCB defers close_ocb to the last user.
 *  - Attachment ids grow and are never reused within a dispatch, so a stale
 *    handle in a late _io_connect cannot reach a newer attachment.
 */
#ifndef PEERMAP_RESMGR_INTERNAL_H
#define PEERMAP_RESMGR_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sys/dispatch.h"
#include "sys/iomsg.h"
#include "sys/resmgr.h"

/* ---- the decoder (no sockets, no global state: fuzzed) ---- */

enum pm_rm_kind {
    PM_RM_CONNECT = 1,  /* an _IO_CONNECT: conn_slot says which handler */
    PM_RM_IO,           /* an I/O message: io_slot says which handler */
    PM_RM_OTHER         /* any other type: message_attach / other_func */
};

/* Index of each handler in resmgr_connect_funcs_t / resmgr_io_funcs_t
 * (counting from the first function pointer). */
enum pm_rm_conn_slot {
    PM_CS_OPEN, PM_CS_UNLINK, PM_CS_RENAME, PM_CS_MKNOD, PM_CS_READLINK,
    PM_CS_LINK, PM_CS_UNBLOCK, PM_CS_MOUNT
};
enum pm_rm_io_slot {
    PM_IS_READ, PM_IS_WRITE, PM_IS_CLOSE_OCB, PM_IS_STAT, PM_IS_NOTIFY,
    PM_IS_DEVCTL, PM_IS_UNBLOCK, PM_IS_PATHCONF, PM_IS_LSEEK, PM_IS_CHMOD,
    PM_IS_CHOWN, PM_IS_UTIME, PM_IS_OPENFD, PM_IS_FDINFO, PM_IS_LOCK,
    PM_IS_SPACE, PM_IS_SHUTDOWN, PM_IS_MMAP, PM_IS_MSG, PM_IS_RESERVED,
    PM_IS_DUP, PM_IS_CLOSE_DUP, PM_IS_LOCK_OCB, PM_IS_UNLOCK_OCB, PM_IS_SYNC,
    PM_IS_POWER, PM_IS_ACL, PM_IS_PAUSE, PM_IS_UNPAUSE,
    PM_IS_READ64, PM_IS_WRITE64, PM_IS_NOTIFY64, PM_IS_UTIME64
};
/* The 32-bit handler a 64-bit message falls back to (the slot itself for
 * every other one). */
int pm_rm_io_fallback(int slot);

struct pm_rm_decoded {
    enum pm_rm_kind kind;
    uint16_t type;
    int slot;              /* pm_rm_conn_slot or pm_rm_io_slot, else -1 */
    size_t path_off;       /* connect: where the path starts in the message */
    size_t extra_off;      /* connect: where the extra data starts */
};

/*
 * Check a received message and say where it goes.  `msg` holds `got` bytes
 * (what arrived in the buffer), `srclen` is what the client sent in all
 * (MsgInfo's srcmsglen, >= got when honest; a smaller value is taken as
 * `got`).  Returns 0, or the errno to answer the client with:
 *   EBADMSG       too short for its type, or a length inside it that says
 *                 more than was sent (path_len, extra_len, write nbytes,
 *                 devctl/lock nbytes), or a path not NUL-terminated;
 *   EINVAL        an unknown connect subtype;
 *   ENAMETOOLONG  a connect message bigger than the receive buffer.
 * Never reads outside msg[0, got).
 */
int pm_rm_decode(const void *msg, size_t got, size_t srclen, struct pm_rm_decoded *d);

/* The I/O handler for slot `slot` of a table (NULL if the table is shorter
 * or the entry is empty); likewise for connect tables. */
typedef int (*pm_rm_iofn)(resmgr_context_t *, void *, void *);
pm_rm_iofn pm_rm_io_func(const resmgr_io_funcs_t *t, int slot);
typedef int (*pm_rm_connfn)(resmgr_context_t *, void *, void *, void *);
pm_rm_connfn pm_rm_connect_func(const resmgr_connect_funcs_t *t, int slot);

/* ---- the dispatch ---- */

/* A pulse code of the library's own (kernel codes are -32..-38): wakes
 * one thread in dispatch_block() for dispatch_unblock(). */
#define PM_PULSE_CODE_DISPATCH_UNBLOCK (-64)

/* The smallest receive buffer: every message structure, and a connect
 * message with a whole path and some extra data. */
#define PM_RM_MIN_BUFFER (sizeof(resmgr_iomsgs_t) + PATH_MAX + 512)

struct pm_ps_handle;

struct pm_rm_attach {
    int id;
    int dead;                              /* resmgr_detach()ed */
    int is_name;                           /* name_attach(): connects get EOK */
    unsigned file_type;                    /* _FTYPE_* given to resmgr_attach() */
    const resmgr_connect_funcs_t *connect_funcs;
    const resmgr_io_funcs_t *io_funcs;
    void *handle;
    int (*other_func)(resmgr_context_t *ctp, void *msg);
    struct pm_ps_handle *ps;               /* NULL: no path */
};

struct pm_rm_binding {
    int scoid, coid;
    uint64_t conn_ino;                     /* the connection's socket inode */
    pid_t pid;                             /* the client, from the kernel */
    void *ocb;
    const resmgr_io_funcs_t *io_funcs;
    int attach_id;
    int detached;                          /* resmgr_detach(_RESMGR_DETACH_ALL) */
    int refs;                              /* handlers using it now */
    int closing;                           /* close_ocb due when refs drop to 0 */
};

struct pm_rm_range {
    int low, high;
    unsigned flags;                        /* MSG_FLAG_TYPE_PULSE... */
    int (*func)(message_context_t *ctp, int code, unsigned flags, void *handle);
    void *handle;
};

struct _dispatch {
    int chid;
    int own_chid;                          /* we created the channel */
    pthread_mutex_t lock;
    struct pm_rm_attach **attaches;        /* index = id */
    int nattaches, cap_attaches;
    struct pm_rm_binding **bindings;
    int nbindings, cap_bindings;
    struct pm_rm_range *ranges;
    int nranges, cap_ranges;
    unsigned msg_max_size;                 /* largest asked for */
    unsigned nparts_max;
    int (*other_func)(resmgr_context_t *ctp, void *msg);
    /* dispatch_unblock() */
    int self_coid;                         /* side channel to ourselves, or -1 */
    int nblocked;                          /* threads in dispatch_block() */
    int unblock_pending;                   /* wake-up pulses not yet taken */
    /* dispatch_timeout() */
    int has_timeout;
    uint64_t timeout_ns;
};

/* A context, with what the library keeps beside it.  The public part must
 * be last: its iov[] runs on into the extra entries. */
struct pm_rm_ctx {
    dispatch_t *dpp;
    size_t bufsize;
    size_t dirty;                          /* bytes of buf a message wrote */
    unsigned char *buf;
    dispatch_context_t pub;
};
#define PM_RM_CTX(ctp) \
    ((struct pm_rm_ctx *)((char *)(ctp) - offsetof(struct pm_rm_ctx, pub)))

/* resmgr_attach.c */
int pm_rm_add_attach(dispatch_t *dpp, struct pm_rm_attach *a);      /* id or -1 */
struct pm_rm_attach *pm_rm_find_attach(dispatch_t *dpp, int id);    /* lock held */
/* The binding for the sender of ctp, with a reference taken; NULL if none. */
struct pm_rm_binding *pm_rm_binding_get(dispatch_t *dpp, int scoid, int coid);
/* The open of process `pid` under its coid (an _IO_MMAP names it), with a
 * reference taken; the newest if a stale one lingers.  NULL if none. */
struct pm_rm_binding *pm_rm_binding_of_client(dispatch_t *dpp, pid_t pid, int coid);
/* Drop the reference; closes the OCB when it was the last and closing. */
void pm_rm_binding_put(resmgr_context_t *ctp, struct pm_rm_binding *b);
/* Unbind (an _IO_CLOSE): close_ocb now or when the last user leaves. */
void pm_rm_binding_close(resmgr_context_t *ctp, struct pm_rm_binding *b);
/* A connection went: close the OCBs bound to it (not a newer client's). */
void pm_rm_disconnect(resmgr_context_t *ctp, int scoid);
void pm_rm_free_tables(dispatch_t *dpp);
/* The socket inode of the live connection behind scoid, 0 if none. */
uint64_t pm_rm_conn_ino(int scoid);

/* message_attach.c: the handler for a message type / pulse code (0 if
 * none) copied out under the lock. */
int pm_rm_find_range(dispatch_t *dpp, int pulse, int value, struct pm_rm_range *out);

/* dispatch.c */
void pm_rm_update_sizes(dispatch_t *dpp, unsigned msg_max_size, unsigned nparts_max);

#endif
