/*
 * <sys/iomsg.h> - the messages of QNX Neutrino's resource-manager protocol,
 * on Linux.
 *
 * Declarations only: the _IO_* message types, the connect subtypes and file
 * types, and the structures a resource manager receives (the "i" member of
 * each io_*_t union) and replies with (the "o" member).  Names, field names,
 * field types and numeric values are QNX Neutrino 7.x's, as its Library
 * Reference and "Writing a Resource Manager" guide document them; the text
 * is peermap's own.
 *
 * Where a QNX structure embeds a type whose Linux counterpart differs
 * (struct stat, struct sigevent), the Linux type is used and the comment at
 * the structure says so: such a message has QNX's field names but not QNX's
 * byte layout.  Everything else keeps QNX's layout with natural alignment.
 *
 * The _IO_SET_*() and _IO_*_GET_NBYTES() macros at the end take a
 * resmgr_context_t pointer `ctp` (declared by <sys/resmgr.h>); the only
 * member they use is `(ctp)->status`.
 */
#ifndef PEERMAP_SYS_IOMSG_H
#define PEERMAP_SYS_IOMSG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/neutrino.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== message types ==== */

/* The range of message types that belong to the I/O protocol. */
enum _msg_bases {
    _IO_BASE = 0x100,
    _IO_MAX  = 0x1FF
};

/* The `type` field of every I/O message (and of the connect message).
 * The _RSVD_ entries are slots in a resource manager's jump table that no
 * client sends. */
enum _io__Uint16types {
    _IO_CONNECT = _IO_BASE,  /* 0x100 */
    _IO_READ,                /* 0x101 */
    _IO_WRITE,               /* 0x102 */
    _IO_RSVD_CLOSE_OCB,      /* 0x103 */
    _IO_STAT,                /* 0x104 */
    _IO_NOTIFY,              /* 0x105 */
    _IO_DEVCTL,              /* 0x106 */
    _IO_RSVD_UNBLOCK,        /* 0x107 */
    _IO_PATHCONF,            /* 0x108 */
    _IO_LSEEK,               /* 0x109 */
    _IO_CHMOD,               /* 0x10A */
    _IO_CHOWN,               /* 0x10B */
    _IO_UTIME,               /* 0x10C */
    _IO_OPENFD,              /* 0x10D */
    _IO_FDINFO,              /* 0x10E */
    _IO_LOCK,                /* 0x10F */
    _IO_SPACE,               /* 0x110 */
    _IO_SHUTDOWN,            /* 0x111 */
    _IO_MMAP,                /* 0x112 */
    _IO_MSG,                 /* 0x113 */
    _IO_RSVD,                /* 0x114 */
    _IO_DUP,                 /* 0x115 */
    _IO_CLOSE,               /* 0x116 */
    _IO_RSVD_LOCK_OCB,       /* 0x117 */
    _IO_RSVD_UNLOCK_OCB,     /* 0x118 */
    _IO_SYNC,                /* 0x119 */
    _IO_POWER,               /* 0x11A */
    _IO_ACL,                 /* 0x11B (7.0) */
    _IO_RSVD_PAUSE,          /* 0x11C */
    _IO_RSVD_UNPAUSE,        /* 0x11D */
    _IO_READ64,              /* 0x11E: a read of 4 GiB or more */
    _IO_WRITE64,             /* 0x11F: a write of 4 GiB or more */
    _IO_NOTIFY64,            /* 0x120 */
    _IO_UTIME64              /* 0x121: 64-bit times, nanoseconds */
};

/* OR-ed into combine_len: another message follows this one in the same
 * send (a "combine message"). */
#define _IO_COMBINE_FLAG 0x8000u

/* ==== file types (QNX's <sys/ftype.h>) ==== */

/* What kind of object a path names; resmgr_attach() and the connect
 * message's file_type use them. */
enum _file_type {
    _FTYPE_ANY = 0,
    _FTYPE_FILE,     /* 1 */
    _FTYPE_LINK,     /* 2 */
    _FTYPE_SYMLINK,  /* 3 */
    _FTYPE_PIPE,     /* 4 */
    _FTYPE_SHMEM,    /* 5 */
    _FTYPE_MQUEUE,   /* 6 */
    _FTYPE_SOCKET,   /* 7 */
    _FTYPE_SEM,      /* 8 */
    _FTYPE_PHOTON,   /* 9 */
    _FTYPE_DUMPER,   /* 10 */
    _FTYPE_MOUNT,    /* 11 */
    _FTYPE_NAME,     /* 12 */
    _FTYPE_TYMEM     /* 13 */
};

/* QNX's file type for "named special" files (S_IFNAM in QNX's
 * <sys/stat.h>, 050000); Linux uses no such value. */
#ifndef S_IFNAM
#define S_IFNAM 0x5000
#endif
#ifndef S_ISNAM
#define S_ISNAM(m) (((m) & S_IFMT) == S_IFNAM)
#endif

/* ==== the connect message (open, unlink, rename, mknod, readlink, link,
 *      mount: every call that names a path) ==== */

/* struct _io_connect subtype */
enum _io_connect_subtypes {
    _IO_CONNECT_COMBINE,        /* 0: followed by an I/O message */
    _IO_CONNECT_COMBINE_CLOSE,  /* 1: same, and close afterwards */
    _IO_CONNECT_OPEN,           /* 2 */
    _IO_CONNECT_UNLINK,         /* 3 */
    _IO_CONNECT_RENAME,         /* 4 */
    _IO_CONNECT_MKNOD,          /* 5 */
    _IO_CONNECT_READLINK,       /* 6 */
    _IO_CONNECT_LINK,           /* 7 */
    _IO_CONNECT_RSVD_UNBLOCK,   /* 8: jump-table slot */
    _IO_CONNECT_MOUNT           /* 9 */
};

/* struct _io_connect extra_type: what follows the path */
enum _io_connect_extra_type {
    _IO_CONNECT_EXTRA_NONE,          /* 0 */
    _IO_CONNECT_EXTRA_LINK,          /* 1 */
    _IO_CONNECT_EXTRA_SYMLINK,       /* 2 */
    _IO_CONNECT_EXTRA_MQUEUE,        /* 3 */
    _IO_CONNECT_EXTRA_PHOTON,        /* 4 */
    _IO_CONNECT_EXTRA_SOCKET,        /* 5 */
    _IO_CONNECT_EXTRA_SEM,           /* 6 */
    _IO_CONNECT_EXTRA_RESMGR_LINK,   /* 7 */
    _IO_CONNECT_EXTRA_PROC_SYMLINK,  /* 8 */
    _IO_CONNECT_EXTRA_RENAME,        /* 9 */
    _IO_CONNECT_EXTRA_MOUNT,         /* 10 */
    _IO_CONNECT_EXTRA_MOUNT_OCB,     /* 11 */
    _IO_CONNECT_EXTRA_TYMEM          /* 12 */
};

/* struct _io_connect ioflag: the open mode's two low bits are turned into
 * permission bits (O_RDONLY -> RD, O_WRONLY -> WR, O_RDWR -> RD|WR); every
 * other bit is the client's O_* flag as given. */
#define _IO_FLAG_RD   0x00000001u
#define _IO_FLAG_WR   0x00000002u
#define _IO_FLAG_MASK 0x00000003u

/* struct _io_connect eflag */
#define _IO_CONNECT_EFLAG_DIR    0x01u  /* the path referred to a directory */
#define _IO_CONNECT_EFLAG_DOT    0x02u  /* the last component was . or .. */
#define _IO_CONNECT_EFLAG_DOTDOT 0x04u  /* the last component was .. */

/* Status bits of a connect reply that is not a plain errno/EOK. */
#define _IO_CONNECT_RET_UMASK     0x00020000u  /* link_reply.umask is valid */
#define _IO_CONNECT_RET_NOCTTY    0x00040000u
#define _IO_CONNECT_RET_CHROOT    0x00080000u  /* link_reply.chroot_len is valid */
#define _IO_CONNECT_RET_MSG       0x00100000u
#define _IO_CONNECT_RET_TYPE_MASK 0x0001e000u
#define _IO_CONNECT_RET_FTYPE     0x00008000u  /* an _io_connect_ftype_reply follows */
#define _IO_CONNECT_RET_LINK      0x00010000u  /* an _io_connect_link_reply follows */
#define _IO_CONNECT_RET_FLAG      0x80000000u

/* The message the client library sends for any call that names a path.
 * The path (path_len bytes, NUL included) starts at `path`; extra_len bytes
 * of extra data follow it. */
struct _io_connect {
    uint16_t type;        /* _IO_CONNECT */
    uint16_t subtype;     /* _IO_CONNECT_* */
    uint32_t file_type;   /* _FTYPE_* */
    uint16_t reply_max;
    uint16_t entry_max;
    uint32_t key;
    uint32_t handle;
    uint32_t ioflag;      /* O_* with _IO_FLAG_* in the low bits */
    uint32_t mode;        /* S_IF* | permissions, for a creating open */
    uint16_t sflag;       /* SH_* share mode */
    uint16_t access;
    uint16_t zero;
    uint16_t path_len;
    uint8_t  eflag;       /* _IO_CONNECT_EFLAG_* */
    uint8_t  extra_type;  /* _IO_CONNECT_EXTRA_* */
    uint16_t extra_len;
    char     path[1];
};

/* A connect reply that sends the client elsewhere: to other servers
 * (nentries _io_connect_entry follow) or along a symbolic link (nentries 0,
 * then the path). */
struct _io_connect_link_reply {
    uint32_t reserved1;
    uint32_t file_type;
    uint8_t  eflag;
    uint8_t  reserved2[1];
    uint16_t chroot_len;
    uint32_t umask;
    uint16_t nentries;
    uint16_t path_len;
};

/* A connect reply that gives a status (an errno) and the file type found. */
struct _io_connect_ftype_reply {
    uint16_t status;
    uint16_t reserved;
    uint32_t file_type;
};

/* One server in an _io_connect_link_reply. */
struct _io_connect_entry {
    uint32_t nd;
    int32_t  pid;
    int32_t  chid;
    uint32_t handle;
    uint32_t key;
    uint32_t file_type;
    uint16_t prefix_len;
    uint16_t zero[3];
};

/* Each connect handler gets the message as one of these unions; they are
 * the same shape, one name per operation, as in QNX. */
typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_connect_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_open_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_unlink_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_rename_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_mknod_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_readlink_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_link_t;

typedef union {
    struct _io_connect             connect;
    struct _io_connect_link_reply  link_reply;
    struct _io_connect_ftype_reply ftype_reply;
} io_mount_t;

/* The extra data of a rename: the old path. */
typedef union _io_rename_extra {
    char path[1];
} io_rename_extra_t;

/* The extra data of a resource manager's link (resmgr_attach() through the
 * path manager). */
struct _io_resmgr_link_extra {
    uint32_t nd;
    int32_t  pid;
    int32_t  chid;
    uint32_t handle;
    uint32_t flags;
    uint32_t file_type;
    uint32_t reserved[2];
};

/* The extra data of a link, by extra_type. */
typedef union _io_link_extra {
    struct _msg_info             info;    /* _IO_CONNECT_EXTRA_LINK, from the client */
    void                        *ocb;     /* _IO_CONNECT_EXTRA_LINK, inside the server */
    char                         path[1]; /* _IO_CONNECT_EXTRA_SYMLINK */
    struct _io_resmgr_link_extra resmgr;  /* _IO_CONNECT_EXTRA_RESMGR_LINK */
} io_link_extra_t;

/* The extra data of a mount request. */
typedef struct _io_mount_extra {
    uint32_t flags;
    uint32_t nbytes;   /* size of the whole structure */
    uint32_t datalen;  /* bytes of server data that follow */
    uint32_t zero[1];
    union {
        struct {
            struct _msg_info info;
        } cl;          /* as the client sends it */
        struct {
            void *ocb;
            void *data;
            char *type;
            char *special;
            void *zero[4];
        } srv;         /* as the server's mount handler sees it */
    } extra;
} io_mount_extra_t;

/* ==== I/O messages (sent on an open file descriptor) ==== */

/* The header every I/O message starts with. */
struct _io_combine {
    uint16_t type;
    uint16_t combine_len;
};

/* close(): the last message on an open. */
struct _io_close {
    uint16_t type;         /* _IO_CLOSE */
    uint16_t combine_len;
};

typedef union {
    struct _io_close i;
} io_close_t;

/* read(), readdir(), pread(): the reply is the data, its length the
 * status.  nbytes bytes are wanted; xtype may carry an override (below). */
struct _io_read {
    uint16_t type;         /* _IO_READ */
    uint16_t combine_len;
    uint32_t nbytes;
    uint32_t xtype;        /* _IO_XTYPE_* | _IO_XFLAG_* */
    uint32_t zero;
};

/* _IO_READ64: the same, with the length's high 32 bits in nbytes_hi. */
struct _io_read64 {
    uint16_t type;         /* _IO_READ64 */
    uint16_t combine_len;
    uint32_t nbytes;
    uint32_t xtype;
    uint32_t nbytes_hi;
};

typedef union {
    struct _io_read   i;
    struct _io_read64 i64;
} io_read_t;

/* write(), pwrite(): the data (nbytes) follows the header (and the
 * xtype's own structure, if any); the number written is the reply status. */
struct _io_write {
    uint16_t type;         /* _IO_WRITE */
    uint16_t combine_len;
    uint32_t nbytes;
    uint32_t xtype;
    uint32_t zero;
    /* unsigned char data[nbytes]; */
};

/* _IO_WRITE64: the same, with the length's high 32 bits in nbytes_hi. */
struct _io_write64 {
    uint16_t type;         /* _IO_WRITE64 */
    uint16_t combine_len;
    uint32_t nbytes;
    uint32_t xtype;
    uint32_t nbytes_hi;
    /* unsigned char data[nbytes]; */
};

typedef union {
    struct _io_write   i;
    struct _io_write64 i64;
} io_write_t;

/* The xtype of a read or write: the low byte says which override follows
 * the message header, the _IO_XFLAG_* bits ask for per-call blocking
 * behaviour; the top 16 bits belong to the xtype. */
enum _io_msg_xtypes {
    _IO_XTYPE_NONE           = 0,
    _IO_XTYPE_READCOND       = 1,  /* struct _xtype_readcond follows */
    _IO_XTYPE_MQUEUE         = 2,
    _IO_XTYPE_TCPIP          = 3,
    _IO_XTYPE_TCPIP_MSG      = 4,
    _IO_XTYPE_OFFSET         = 5,  /* struct _xtype_offset follows (pread/pwrite) */
    _IO_XTYPE_REGISTRY       = 6,
    _IO_XTYPE_MASK           = 0x000000ff,
    _IO_XFLAG_DIR_EXTRA_HINT = 0x00000100,  /* readdir: try harder for extra info */
    _IO_XFLAG_NONBLOCK       = 0x00004000,  /* this call as if O_NONBLOCK */
    _IO_XFLAG_BLOCK          = 0x00008000   /* this call as if not O_NONBLOCK */
};

/* Follows an _IO_READ whose xtype is _IO_XTYPE_READCOND (readcond()). */
struct _xtype_readcond {
    int32_t min;
    int32_t time;
    int32_t timeout;
};

/* Follows an _IO_READ/_IO_WRITE whose xtype is _IO_XTYPE_OFFSET: the
 * position for this call only (pread(), pwrite()). */
struct _xtype_offset {
    int64_t offset;  /* off64_t in QNX */
};

/* stat(), fstat(), lstat().  The reply is a struct stat: here Linux's
 * struct stat, not QNX's (whose layout differs); `format` is 7.x's request
 * for one of the _STAT_FORM_* forms, 0 from older clients. */
struct _io_stat {
    uint16_t type;         /* _IO_STAT */
    uint16_t combine_len;
    union {
        uint32_t zero;
        uint32_t format;   /* _STAT_FORM_* */
    };
};

typedef union {
    struct _io_stat i;
    struct stat     o;     /* Linux's struct stat */
} io_stat_t;

/* ionotify(), select(), poll(): arm, poll or disarm a notification.  The
 * event is Linux's struct sigevent (64 bytes), not QNX's, so this message
 * has QNX's fields but not its layout; the extended fields are valid only
 * with _NOTIFY_COND_EXTEN in flags. */
struct _io_notify {
    uint16_t        type;        /* _IO_NOTIFY */
    uint16_t        combine_len;
    int32_t         action;      /* _NOTIFY_ACTION_* */
    int32_t         flags;       /* _NOTIFY_COND_* */
    struct sigevent event;
    int32_t         mgr[2];
    int32_t         flags_extra_mask;
    int32_t         flags_exten;
    int32_t         nfds;
    int32_t         fd_first;
    int32_t         nfds_ready;
    int64_t         timo;
    /* struct pollfd fds[nfds]; */
};

/* The reply to _IO_NOTIFY: the conditions already met. */
struct _io_notify_reply {
    uint32_t        zero;
    uint32_t        flags;
    int32_t         flags2;
    struct sigevent event;
    int32_t         mgr[2];
    int32_t         flags_extra_mask;
    int32_t         flags_exten;
    int32_t         nfds;
    int32_t         fd_first;
    int32_t         nfds_ready;
    int64_t         timo;
    /* struct pollfd fds[nfds]; */
};

typedef union {
    struct _io_notify       i;
    struct _io_notify_reply o;
} io_notify_t;

/* _io_notify.action */
#define _NOTIFY_ACTION_POLL    0x0 /* say which conditions hold; arm nothing */
#define _NOTIFY_ACTION_POLLARM 0x1 /* ... and if none does, arm the event */
#define _NOTIFY_ACTION_TRANARM 0x2 /* arm for the next transition to "holds" */
#define _NOTIFY_ACTION_CONDARM 0x3 /* arm only if none holds (no answer) */
#define _NOTIFY_ACTION_MASK    0x3
/* _io_notify.flags, the reply's flags: conditions */
#define _NOTIFY_COND_INPUT  0x10000000 /* data to read */
#define _NOTIFY_COND_OUTPUT 0x20000000 /* room to write */
#define _NOTIFY_COND_OBAND  0x40000000 /* out-of-band data */
#define _NOTIFY_COND_MASK   0x70000000
#define _NOTIFY_COND_EXTEN  ((int32_t)0x80000000) /* extended conditions follow
                                                     (not looked at: the three
                                                     above are) */

/*
 * ionotify(): arm the manager of `fd` (a descriptor from pm_open()) to
 * deliver `event` when one of the conditions in flags holds (action:
 * _NOTIFY_ACTION_*), or, with event NULL, disarm them.  Returns the
 * conditions that hold now (_NOTIFY_COND_* bits), or -1 with errno (the
 * manager's: ENOSYS when it has no notify handler).  The event is
 * delivered with MsgDeliverEvent(): a pulse on one of the caller's coids,
 * a signal...; SIGEV_PM_CONNECTION makes fd itself readable instead (what
 * pm_poll() waits for).
 */
int ionotify(int fd, int action, int flags, const struct sigevent *event);

/* devctl(): a device command (see <devctl.h>), with nbytes of data after
 * the header both ways. */
struct _io_devctl {
    uint16_t type;         /* _IO_DEVCTL */
    uint16_t combine_len;
    int32_t  dcmd;
    uint32_t nbytes;
    int32_t  zero;
    /* char data[nbytes]; */
};

/* The reply to _IO_DEVCTL: ret_val becomes the client's *dev_info_ptr. */
struct _io_devctl_reply {
    uint32_t zero;
    int32_t  ret_val;
    uint32_t nbytes;
    int32_t  zero2;
    /* char data[nbytes]; */
};

typedef union {
    struct _io_devctl       i;
    struct _io_devctl_reply o;
} io_devctl_t;

/* fpathconf(), pathconf(): the value is the reply status. */
struct _io_pathconf {
    uint16_t type;         /* _IO_PATHCONF */
    uint16_t combine_len;
    short    name;         /* _PC_* */
    uint16_t zero;
};

typedef union {
    struct _io_pathconf i;
} io_pathconf_t;

/* lseek(): the new offset is the reply (o), or the status. */
struct _io_lseek {
    uint16_t type;         /* _IO_LSEEK */
    uint16_t combine_len;
    short    whence;       /* SEEK_SET, SEEK_CUR, SEEK_END */
    union {
        uint16_t zero;
        uint16_t flags;    /* 7.x: _IO_LSEEK_IGNORE_NON_SEEKABLE */
    };
    uint64_t offset;
};

typedef union {
    struct _io_lseek i;
    uint64_t         o;
} io_lseek_t;

/* chmod(), fchmod(). */
struct _io_chmod {
    uint16_t type;         /* _IO_CHMOD */
    uint16_t combine_len;
    mode_t   mode;
};

typedef union {
    struct _io_chmod i;
} io_chmod_t;

/* chown(), fchown(): -1 leaves that id as it is. */
struct _io_chown {
    uint16_t type;         /* _IO_CHOWN */
    uint16_t combine_len;
    int32_t  gid;
    int32_t  uid;
};

typedef union {
    struct _io_chown i;
} io_chown_t;

/* QNX's 32-bit struct utimbuf, as _IO_UTIME carries it. */
struct __utimbuf32 {
    int32_t actime;
    int32_t modtime;
};

/* utime(): set the access and modification times (a zero time, or
 * cur_flag set, means "now"). */
struct _io_utime {
    uint16_t           type;         /* _IO_UTIME */
    uint16_t           combine_len;
    int32_t            cur_flag;
    struct __utimbuf32 times;
};

/* _IO_UTIME64: futimens(), utimensat(), 64-bit times with nanoseconds. */
struct _io_utime64 {
    uint16_t type;         /* _IO_UTIME64 */
    uint16_t combine_len;
    int32_t  cur_flag;
    int64_t  atime_s;
    int64_t  atime_ns;
    int64_t  mtime_s;
    int64_t  mtime_ns;
};

typedef union {
    struct _io_utime   i;
    struct _io_utime64 i64;
} io_utime_t;

/*
 * The client's message information as it travels inside a message:
 * 32-bit fields whatever the sender's word size.  Its natural home is
 * <sys/neutrino.h>; it is defined here (unless <sys/neutrino.h> defines
 * PEERMAP_HAVE_MSG_INFO32) because _IO_MMAP, _IO_OPENFD and _IO_DUP embed it.
 */
#ifndef PEERMAP_HAVE_MSG_INFO32
#define PEERMAP_HAVE_MSG_INFO32 1
struct _msg_info32 {
    uint32_t nd;
    uint32_t srcnd;
    int32_t  pid;
    int32_t  tid;
    int32_t  chid;
    int32_t  scoid;
    int32_t  coid;
    int32_t  msglen;
    int32_t  srcmsglen;
    int32_t  dstmsglen;
    int16_t  priority;
    int16_t  flags;
    uint32_t reserved;
};
#endif

/* _IO_OPENFD xtype */
enum _io_openfd_xtypes {
    _IO_OPENFD_NONE,
    _IO_OPENFD_PIPE,
    _IO_OPENFD_KQUEUE,
    _IO_OPENFD_ACCEPT,
    _IO_OPENFD_SCTP_PEELOFF
};

/* openfd(): a new open of the object behind an already open descriptor. */
struct _io_openfd {
    uint16_t           type;         /* _IO_OPENFD */
    uint16_t           combine_len;
    uint32_t           ioflag;
    uint16_t           sflag;
    uint16_t           xtype;        /* _IO_OPENFD_* */
    struct _msg_info32 info;
    uint32_t           reserved2;
    uint32_t           key;
};

typedef union {
    struct _io_openfd i;
} io_openfd_t;

/* dup(), and a descriptor inherited across spawn: the server is asked to
 * share the open with another connection. */
struct _io_dup {
    uint16_t           type;         /* _IO_DUP */
    uint16_t           combine_len;
    struct _msg_info32 info;
    uint32_t           reserved;
    uint32_t           key;
};

typedef union {
    struct _io_dup i;
} io_dup_t;

/* fcntl() record locks (F_GETLK, F_SETLK, F_SETLKW): nbytes of data (a
 * struct flock) follow, and come back in the reply. */
struct _io_lock {
    uint16_t type;         /* _IO_LOCK */
    uint16_t combine_len;
    uint32_t subtype;      /* F_GETLK, F_SETLK, F_SETLKW */
    int32_t  nbytes;
    /* char data[nbytes]; */
};

struct _io_lock_reply {
    uint32_t zero[3];
    /* char data[nbytes]; */
};

typedef union {
    struct _io_lock       i;
    struct _io_lock_reply o;
} io_lock_t;

/* ftruncate(), posix_fallocate(): allocate or free a range; the reply is
 * the new size. */
struct _io_space {
    uint16_t type;         /* _IO_SPACE */
    uint16_t combine_len;
    uint16_t subtype;      /* F_ALLOCSP, F_FREESP */
    short    whence;
    uint64_t start;
    uint64_t len;          /* 0: to the end of the file */
};

typedef union {
    struct _io_space i;
    uint64_t         o;
} io_space_t;

/* shutdown() on a socket-like resource. */
struct _io_shutdown {
    uint16_t type;         /* _IO_SHUTDOWN */
    uint16_t combine_len;
};

struct _io_shutdown_reply {
    uint32_t zero;
};

typedef union {
    struct _io_shutdown       i;
    struct _io_shutdown_reply o;
} io_shutdown_t;

/* A manager-specific message sent on an open descriptor (mgrid from QNX's
 * <sys/iomgr.h>). */
struct _io_msg {
    uint16_t type;         /* _IO_MSG */
    uint16_t combine_len;
    uint16_t mgrid;
    uint16_t subtype;
};

typedef union {
    struct _io_msg i;
} io_msg_t;

/* fsync(), fdatasync(). */
struct _io_sync {
    uint16_t type;         /* _IO_SYNC */
    uint16_t combine_len;
    uint32_t flag;         /* O_SYNC, O_DSYNC, O_RSYNC */
};

typedef union {
    struct _io_sync i;
} io_sync_t;

/* ==== _IO_MMAP: the memory manager's outcall when a client maps an object
 *      the resource manager serves (qnx-semantics.md section 4) ==== */

/* The forms of stat structure a 7.x stat or mmap reply may carry. */
#define _STAT_FORM_UNSET    0
#define _STAT_FORM_T32_2001 1
#define _STAT_FORM_T32_2008 2
#define _STAT_FORM_T64_2008 3
#define _STAT_FORM_MASK     0x3  /* the two bits the forms need */
#if defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 4
#define _STAT_FORM_SYS_2008  _STAT_FORM_T32_2008
#define _STAT_FORM_PREFERRED _STAT_FORM_T32_2001
#else
#define _STAT_FORM_SYS_2008  _STAT_FORM_T64_2008
#define _STAT_FORM_PREFERRED _STAT_FORM_T64_2008
#endif

/*
 * The three stat forms, as plain structures of peermap's own: QNX's member
 * names and widths as its stat() page documents them (st_ino, st_size,
 * st_dev, st_rdev, st_uid, st_gid, the three times, st_mode, st_nlink,
 * st_blocksize, st_nblocks, st_blksize, st_blocks), but not QNX's byte
 * layout, which its documentation does not give.  The times are structures
 * named st_mtim/st_atim/st_ctim, so that glibc's st_mtime/st_atime/st_ctime
 * macros (st_mtim.tv_sec...) work on them too.
 */
struct __pm_time32     { int32_t tv_sec; };
struct __pm_timespec32 { int32_t tv_sec; int32_t tv_nsec; };
struct __pm_timespec64 { int64_t tv_sec; int64_t tv_nsec; };

/* 32-bit seconds, no nanoseconds: the 32-bit default before 7.0. */
struct __stat_t32_2001 {
    uint64_t           st_ino;
    int64_t            st_size;
    uint32_t           st_dev;
    uint32_t           st_rdev;
    int32_t            st_uid;
    int32_t            st_gid;
    struct __pm_time32 st_mtim;
    struct __pm_time32 st_atim;
    struct __pm_time32 st_ctim;
    uint32_t           st_mode;
    uint32_t           st_nlink;
    int32_t            st_blocksize;
    int32_t            st_nblocks;
    int32_t            st_blksize;
    int64_t            st_blocks;
};

/* 32-bit seconds with nanoseconds. */
struct __stat_t32_2008 {
    uint64_t               st_ino;
    int64_t                st_size;
    uint32_t               st_dev;
    uint32_t               st_rdev;
    int32_t                st_uid;
    int32_t                st_gid;
    struct __pm_timespec32 st_mtim;
    struct __pm_timespec32 st_atim;
    struct __pm_timespec32 st_ctim;
    uint32_t               st_mode;
    uint32_t               st_nlink;
    int32_t                st_blocksize;
    int32_t                st_nblocks;
    int32_t                st_blksize;
    int64_t                st_blocks;
};

/* 64-bit seconds with nanoseconds: the 64-bit default. */
struct __stat_t64_2008 {
    uint64_t               st_ino;
    int64_t                st_size;
    uint32_t               st_dev;
    uint32_t               st_rdev;
    int32_t                st_uid;
    int32_t                st_gid;
    struct __pm_timespec64 st_mtim;
    struct __pm_timespec64 st_atim;
    struct __pm_timespec64 st_ctim;
    uint32_t               st_mode;
    uint32_t               st_nlink;
    int32_t                st_blocksize;
    int32_t                st_nblocks;
    int32_t                st_blksize;
    int64_t                st_blocks;
};

/* The protection bits an _IO_MMAP speaks of (Linux's values: PROT_READ 1,
 * PROT_WRITE 2, PROT_EXEC 4).  peermap's memory manager always fills
 * required_prot and says so with _IO_MMAP_PROT_REQUIRED_VALID, a bit
 * outside PROT_MASK, as QNX's does with bits of its own. */
#ifndef PROT_MASK
#define PROT_MASK 0x7u
#endif
#define _IO_MMAP_PROT_REQUIRED_VALID 0x00010000u

/* The memory manager asks: may it map `offset` of the client's object with
 * `prot`?  info is the client's (its pid, and its fd as coid).  prot is what
 * it would like, required_prot what it must have (a sender that fills
 * required_prot sets bits outside PROT_MASK in prot). */
struct _io_mmap {
    uint16_t           type;         /* _IO_MMAP */
    uint16_t           combine_len;
    uint32_t           prot;
    uint64_t           offset;
    struct _msg_info32 info;
    uint32_t           required_prot;
    uint32_t           zero[3];
    uint64_t           requested_len;  /* the length given to mmap() */
};

/* The answer: the object's identity (coid) and the protections the open
 * allows. */
struct _io_mmap_reply {
    uint32_t zero;
    uint32_t allowed_prot;
    uint64_t offset;
    int32_t  coid;
    int32_t  fd;   /* with _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT: the object to map */
};

/* The file's attributes in an extended reply, in the form the reply's
 * flags name.  `stat` is Linux's struct stat; `preferred` is the
 * _STAT_FORM_PREFERRED form (t64_2008 on 64-bit). */
union _io_mmap_reply_ext_stat {
    struct stat            stat;
    struct __stat_t32_2001 t32_2001;
    struct __stat_t32_2008 t32_2008;
    struct __stat_t64_2008 t64_2008;
#if defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 4
    struct __stat_t32_2001 preferred;
#else
    struct __stat_t64_2008 preferred;
#endif
};

/* The extended answer (iofunc_mmap_ext()): the base reply, then flags that
 * tell the memory manager how to cache and what it need not ask again.
 * The memory manager zeroes flags before sending, so a server that replies
 * with only the base leaves _IO_MMAP_REPLY_FLAGS_USE_EXTENDED clear. */
struct _io_mmap_reply_ext {
    struct _io_mmap_reply base;
    struct {
        uint32_t                      flags;   /* _IO_MMAP_REPLY_FLAGS_* */
        uint32_t                      zero32;
        uint64_t                      zero64[4];
        union _io_mmap_reply_ext_stat stat;
    } extended;
};

typedef union {
    struct _io_mmap       i;
    struct _io_mmap_reply o;
} io_mmap_t;

typedef union {
    struct _io_mmap           i;
    struct _io_mmap_reply_ext o;
} io_mmap_ext_t;

/* extended.flags (values of QNX 7.1's <sys/iomsg.h>) */
#define _IO_MMAP_REPLY_FLAGS_USE_EXTENDED           (1u << 0)
#define _IO_MMAP_REPLY_FLAGS_CACHE_DEFAULT          0u
#define _IO_MMAP_REPLY_FLAGS_CACHE_FORCE_INVALIDATE (1u << 1)
#define _IO_MMAP_REPLY_FLAGS_CACHE_READ_FROM_CACHE  (1u << 2)
#define _IO_MMAP_REPLY_FLAGS_CACHE_DEFER_TO_MEMMGR  ((1u << 1) | (1u << 2))
#define _IO_MMAP_REPLY_FLAGS_CACHE_MASK             ((1u << 1) | (1u << 2))
#define _IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK         ((unsigned)_STAT_FORM_MASK << 3)
#define _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(form) \
    (((unsigned)(form) << 3) & _IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK)
#define _IO_MMAP_REPLY_FLAGS_STAT_FORM(flags) \
    (((unsigned)(flags) & _IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK) >> 3)
#define _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS        (1u << 5)
#define _IO_MMAP_REPLY_FLAGS_REMOVABLE              (1u << 6)
#define _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT    (1u << 7)

/* ==== reply helpers ====
 *
 * QNX defines these on top of _RESMGR_STATUS(); here they assign
 * `(ctp)->status` directly, ctp being a resmgr_context_t pointer, so that
 * this header does not depend on <sys/resmgr.h>.  QNX's documentation puts
 * _IO_READ_GET_NBYTES()/_IO_WRITE_GET_NBYTES() in <sys/iofunc.h>; here they
 * are in <sys/iomsg.h>, which <sys/iofunc.h> includes.
 */

/* The byte count a read or write handler reports (the client's return). */
#define _IO_SET_READ_NBYTES(ctp, nbytes)  ((ctp)->status = (nbytes))
#define _IO_SET_WRITE_NBYTES(ctp, nbytes) ((ctp)->status = (nbytes))
/* The value an _IO_PATHCONF handler reports. */
#define _IO_SET_PATHCONF_VALUE(ctp, value) ((ctp)->status = (value))
/* A connect handler's non-errno answer (_IO_CONNECT_RET_* bits): with
 * _IO_CONNECT_RET_FLAG set the status is negative, as on QNX. */
#define _IO_SET_CONNECT_RET(ctp, ret) \
    ((ctp)->status = (int)(_IO_CONNECT_RET_FLAG | (unsigned)(ret)))

/* The number of bytes a read or write message asks for, as uint64_t:
 * nbytes, plus nbytes_hi for the 64-bit forms. */
#define _IO_READ_GET_NBYTES(msg)                                        \
    ((msg)->i.type == _IO_READ64                                        \
         ? (((uint64_t)(msg)->i64.nbytes_hi << 32) | (msg)->i64.nbytes) \
         : (uint64_t)(msg)->i.nbytes)
#define _IO_WRITE_GET_NBYTES(msg)                                       \
    ((msg)->i.type == _IO_WRITE64                                       \
         ? (((uint64_t)(msg)->i64.nbytes_hi << 32) | (msg)->i64.nbytes) \
         : (uint64_t)(msg)->i.nbytes)

#ifdef __cplusplus
}
#endif

#endif
