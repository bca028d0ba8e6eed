/*
 * The FUSE export: the path space as a file system, so that every program
 * reaches a resource manager with open(), read(), write(), ioctl(), mmap().
 *
 * Each FUSE operation becomes the messages the manager already answers,
 * sent through the same client code as pm_open() & co. (src/resmgr/),
 * on a connection of its own per open that speaks for the calling program
 * (msg/delegate.c), with a deadline on every exchange.  The files:
 *
 *   main.c      `peermap export`: options, mount, session loop, teardown
 *   caller.c    who is asking (the FUSE request, /proc) and acting as them
 *   nodes.c     inode numbers for paths
 *   space.c     what a path is in the path space, as the caller sees it
 *   conn.c      a connection to a manager for one caller; message helpers
 *   qnx_dirent.c QNX's struct dirent stream a directory manager reads back
 *   ops_node.c  lookup, getattr, setattr, access, forget, statfs
 *   ops_file.c  open, create, read, write, flush, release, fsync, ioctl
 *   ops_dir.c   opendir, readdir, releasedir
 *   links.c     --link: the attached paths themselves lead to the export
 *   passthrough.c  a manager's shared memory object served by the kernel
 *   watchdog.c  the mount removed after a crash
 *
 * Everything here runs in the `peermap` tool's process; nothing is part of
 * the library's public API.
 */
#ifndef PEERMAP_EXPORT_H
#define PEERMAP_EXPORT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "export/qnx_dirent.h"
#include "msg/wire.h"
#include "resmgr/pathspace.h"

/* ---- configuration (main.c) ---- */

struct pmx_config {
    char mountpoint[PATH_MAX];   /* absolute */
    char link_root[PATH_MAX];    /* --link: where attached paths are made
                                    to lead to the export ("" for "/") */
    int link;                    /* --link given */
    int timeout_ms;              /* every exchange with a manager */
    uid_t euid;                  /* the export's own ids */
    gid_t egid;
    time_t started;              /* times of the directories in between */
    int verbose;
    int no_passthrough;          /* --no-passthrough */
    struct fuse_session *se;
};
extern struct pmx_config pmx_cfg;

/* Say something on stderr when -v was given. */
void pmx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the caller (caller.c) ---- */

struct pmx_caller {
    pid_t pid;                   /* the process (thread group) */
    pid_t tid;                   /* the thread the kernel named */
    uid_t uid, ruid, suid;       /* uid: the request's (file-system) uid */
    gid_t gid, rgid, sgid;
    uint32_t ngroups;
    gid_t groups[PM_WIRE_DELEGATE_GROUPS];
};

/* Remember the export's own groups (once, before serving). */
void pmx_caller_init(void);
/* Who sent `req`: the request's ids, and the process's pid, real and
 * saved ids and supplementary groups from /proc/TID/status (none when it
 * cannot be read: a caller in another pid namespace, or gone). */
void pmx_caller_of(fuse_req_t req, struct pmx_caller *c);

/* Act as the caller in this thread (effective ids and groups, so that
 * reading the path space is judged as for the caller itself) until
 * pmx_act_as_self().  Only a root export switches; otherwise both do
 * nothing (a user's export serves that user only).  0, or an errno. */
int pmx_act_as(const struct pmx_caller *c);
void pmx_act_as_self(void);

/* The caller as a delegation announces it. */
void pmx_caller_wire(const struct pmx_caller *c, struct pm_wire_delegate *w);

/* ---- nodes (nodes.c) ---- */

/* The inode for `path` ("/" is FUSE_ROOT_ID), made if need be, its lookup
 * count raised by one.  0 when out of memory. */
fuse_ino_t pmx_node_ref(const char *path);
/* The path of inode `ino` into buf[PATH_MAX]: 0, or ESTALE. */
int pmx_node_path(fuse_ino_t ino, char *buf);
/* The kernel forgot `n` lookups. */
void pmx_node_forget(fuse_ino_t ino, uint64_t n);
/* Free the table (at exit). */
void pmx_nodes_free(void);
/* parent's path + "/" + name into buf[PATH_MAX]: 0, ENAMETOOLONG, EINVAL. */
int pmx_path_join(const char *parent, const char *name, char *buf);

/* ---- the path space, as the caller sees it (space.c) ---- */

enum pmx_kind {
    PMX_BETWEEN = 1,  /* a directory in between: attached paths lie below */
    PMX_MANAGED       /* served by a manager: attached here, or below a
                         directory manager */
};

struct pmx_where {
    enum pmx_kind kind;
    int dir;                     /* PMX_MANAGED: the manager's directory
                                    (its attached path) */
    int covered;                 /* PMX_BETWEEN: a directory manager serves
                                    this path too (its entries are listed) */
    struct pm_ps_match m;        /* PMX_MANAGED, or covered: the manager */
};

/* What `path` is.  Run as the caller (pmx_act_as): the path space says
 * what that caller may reach.  0, or an errno (ENOENT, EACCES...). */
int pmx_locate(const char *path, struct pmx_where *w);

/* The names one level below `path` made by attached paths, each once:
 * cb(name, is_dir).  The count, or -errno. */
int pmx_between_children(const char *path, void (*cb)(const char *name, int is_dir, void *arg),
                         void *arg);

/* ---- connections to managers (conn.c) ---- */

/* Open m's path for caller c on a connection of its own: speaking for c
 * when the manager would believe us (we run as root or as the manager's
 * user), else as ourselves (then c is our own user: see main.c).  ioflag
 * in QNX's encoding; mode for O_CREAT.  The coid (a descriptor), or
 * -errno. */
int pmx_connect(const struct pm_ps_match *m, const struct pmx_caller *c, const char *path,
                uint32_t ioflag, uint32_t mode);
/* _IO_CLOSE, then drop the connection. */
void pmx_disconnect(int coid);

/* share.c: how many of the export's descriptors one user's opens may hold
 * (root's and the export's own user's: no bound).  init raises the soft
 * limit and sizes the shares; take before a connection for uid (-1 with
 * EAGAIN when over), put when it was not made, bind once it is coid,
 * release when coid is closed. */
void pmx_share_init(void);
int pmx_share_take(uid_t uid);
void pmx_share_put(uid_t uid);
int pmx_share_bind(int coid, uid_t uid);
void pmx_share_release(int coid);
/* _IO_STAT on coid: 0 or -errno. */
int pmx_stat(int coid, struct stat *st);
/* An exchange's errno as the program should see it: the manager gone is
 * ENXIO, one that did not answer in time EIO, anything else as it is. */
int pmx_err(int e);
/* ioflag for a FUSE open's flags: the access mode and the O_* flags a
 * manager acts on (O_APPEND, O_NONBLOCK, O_TRUNC, O_SYNC, O_DSYNC...). */
uint32_t pmx_ioflag(int flags);

/* ---- an open file (fi->fh) ---- */

struct pmx_file {
    struct pmx_file *prev, *next; /* every open file (teardown closes them) */
    int coid;                    /* the open's connection to its manager */
    pthread_mutex_t lock;        /* a seek and its read/write go together */
    off_t pos;                   /* the manager's offset for this open as
                                    we know it, -1 when unknown */
    int direct;                  /* not a regular file: no page cache */
    int stream;                  /* the manager cannot seek (ESPIPE) */
    int no_xtype;                /* it ignores _IO_XTYPE_OFFSET */
    int append;                  /* O_APPEND: writes go to the end */
    int backing_id;              /* passthrough: the kernel's id of the
                                    manager's object, else -1 */
    int mm_coid;                 /* passthrough: the memory-manager
                                    connection that holds it, else -1 */
};

/* ---- the operations (ops_*.c) ---- */

void pmx_op_init(void *userdata, struct fuse_conn_info *conn);
void pmx_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void pmx_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void pmx_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void pmx_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pmx_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                    struct fuse_file_info *fi);
void pmx_op_access(fuse_req_t req, fuse_ino_t ino, int mask);
void pmx_op_statfs(fuse_req_t req, fuse_ino_t ino);
void pmx_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pmx_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                   struct fuse_file_info *fi);
void pmx_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 struct fuse_file_info *fi);
void pmx_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                  struct fuse_file_info *fi);
void pmx_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pmx_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pmx_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void pmx_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
                  struct fuse_file_info *fi, unsigned flags, const void *in_buf,
                  size_t in_bufsz, size_t out_bufsz);
void pmx_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pmx_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void pmx_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* Attributes of a node (ops_node.c), for lookup, getattr and create:
 * what the manager's _IO_STAT says (st from it; NULL for a directory in
 * between), shaped for the kernel: a directory or a regular file (FUSE
 * serves no other type: a device node would be opened by the kernel's own
 * driver), our inode number. */
void pmx_attr(fuse_ino_t ino, int is_dir, const struct stat *st, struct stat *out);

/* Start every operation: the deadline of this thread's exchanges. */
void pmx_op_begin(void);

/* At exit, after the session loop: close the opens and free the listings
 * the kernel never released (their release was still queued, or the
 * export was stopped in the middle of one). */
void pmx_files_close_all(void);
void pmx_dirs_free_all(void);

/* ---- passthrough of managers' objects (passthrough.c) ---- */

/* Before the session loop: watch INIT to take the kernel's passthrough
 * (root only, when `passthrough`) and ask for requests of up to 257 pages
 * (PMX_MAX_PAGES).  0 or an errno. */
int pmx_passthrough_setup(struct fuse_session *se, int passthrough);
/* Whether the kernel agreed. */
int pmx_passthrough_on(void);
/* For a regular file just opened (f->coid): ask its manager for its
 * object (_IO_MMAP, SERVER_SHMEM_OBJECT) and register it with the kernel.
 * 0 (f->backing_id set), or -1: serve the file through the page cache. */
int pmx_passthrough_open(struct pmx_file *f, fuse_ino_t node, const struct pm_ps_match *m,
                         int flags, const struct stat *st);
/* Answer the open / create with FOPEN_PASSTHROUGH (fuse_reply_* result). */
int pmx_passthrough_reply_open(fuse_req_t req, const struct pmx_file *f);
int pmx_passthrough_reply_create(fuse_req_t req, const struct pmx_file *f, fuse_ino_t ino,
                                 const struct stat *attr);
/* At release: let go of the object. */
void pmx_passthrough_release(struct pmx_file *f);

/* ---- after a crash (watchdog.c) ---- */

/* A child that removes the mount if the export dies without saying
 * goodbye (SIGKILL).  0 or an errno. */
int pmx_watchdog_start(void);
/* Goodbye: the export unmounts itself. */
void pmx_watchdog_stop(void);

/* ---- --link (links.c) ---- */

/* Keep a link at link_root/<path> to mountpoint/<path> for every attached
 * path while its manager lives (a thread watches the path space).  0 or an
 * errno. */
int pmx_links_start(void);
/* Stop watching and remove every link made. */
void pmx_links_stop(void);

#endif
