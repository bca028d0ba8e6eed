/*
 * Names and attributes: lookup, getattr, setattr, access, forget, statfs.
 *
 * Nothing is cached in the kernel: entries and attributes expire at once
 * (timeouts 0), so every path walk asks again, as the walking caller -
 * managers come and go, and what a caller may see of the path space is
 * its own.  A manager's file is described by its _IO_STAT, asked on an
 * open of its own whose access bits ask for neither reading nor writing,
 * so stat() needs no read permission, as everywhere (iofunc_open() checks
 * no permission for such an open).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "export/export.h"
#include "msg/msg.h"
#include "resmgr/client.h"

/* QNX's _IO_SPACE subtypes (its <fcntl.h>): allocate / free space. */
#define PMX_F_ALLOCSP 10
#define PMX_F_FREESP  11

void pmx_op_begin(void)
{
    pm_msg_thread_timeout(pmx_cfg.timeout_ms);
}

void pmx_attr(fuse_ino_t ino, int is_dir, const struct stat *st, struct stat *out)
{
    memset(out, 0, sizeof *out);
    out->st_ino = ino;
    out->st_blksize = 4096;
    if (!st) {
        out->st_mode = S_IFDIR | 0555;
        out->st_nlink = 2;
        out->st_uid = pmx_cfg.euid;
        out->st_gid = pmx_cfg.egid;
        out->st_atim.tv_sec = out->st_mtim.tv_sec = out->st_ctim.tv_sec = pmx_cfg.started;
        return;
    }
    out->st_mode = (mode_t)((is_dir ? S_IFDIR : S_IFREG) | (st->st_mode & 07777));
    out->st_nlink = st->st_nlink ? st->st_nlink : (is_dir ? 2 : 1);
    out->st_uid = st->st_uid;
    out->st_gid = st->st_gid;
    out->st_size = st->st_size < 0 ? 0 : st->st_size;
    out->st_blocks = (out->st_size + 511) / 512;
    out->st_atim = st->st_atim;
    out->st_mtim = st->st_mtim;
    out->st_ctim = st->st_ctim;
}

/* Where `path` leads, judged as caller c: 0 or an errno. */
static int locate_as(const struct pmx_caller *c, const char *path, struct pmx_where *w)
{
    int e = pmx_act_as(c);
    if (e)
        return e;
    e = pmx_locate(path, w);
    pmx_act_as_self();
    return e;
}

/* Describe `path` for c: *is_dir, and the manager's stat in *st (left
 * alone for a directory in between, *between set).  0 or an errno. */
static int describe(const struct pmx_caller *c, const char *path, struct pmx_where *w,
                    struct stat *st, int *is_dir, int *between)
{
    int e = locate_as(c, path, w);
    if (e)
        return e;
    *between = w->kind == PMX_BETWEEN;
    if (*between) {
        *is_dir = 1;
        return 0;
    }
    int coid = pmx_connect(&w->m, c, path, 0, 0);
    if (coid < 0)
        return -coid;
    int r = pmx_stat(coid, st);
    pmx_disconnect(coid);
    if (r < 0)
        return -r;
    *is_dir = w->dir || S_ISDIR(st->st_mode);
    return 0;
}

void pmx_op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* O_TRUNC travels with the open, to be decided by the manager. */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    /* A regular file's cached pages are dropped at each open (close-to-open
     * consistency); re-reading them whenever the size or mtime moves would
     * cost a _IO_STAT per read. */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    /* Locks stay in the kernel (QNX's _IO_LOCK is not asked for). */
    conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
    if (conn->capable & FUSE_CAP_IOCTL_DIR)
        conn->want |= FUSE_CAP_IOCTL_DIR;
    /* Writes go through to the manager at once. */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

void pmx_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    pmx_op_begin();
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char ppath[PATH_MAX], path[PATH_MAX];
    int e = pmx_node_path(parent, ppath);
    if (!e)
        e = pmx_path_join(ppath, name, path);
    struct pmx_where w;
    struct stat st;
    int is_dir = 0, between = 0;
    if (!e)
        e = describe(&c, path, &w, &st, &is_dir, &between);
    if (e) {
        fuse_reply_err(req, e);
        return;
    }
    fuse_ino_t ino = pmx_node_ref(path);
    if (!ino) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct fuse_entry_param ent;
    memset(&ent, 0, sizeof ent);
    ent.ino = ino;
    ent.attr_timeout = 0;
    ent.entry_timeout = 0;
    pmx_attr(ino, is_dir, between ? NULL : &st, &ent.attr);
    if (fuse_reply_entry(req, &ent) != 0)
        pmx_node_forget(ino, 1);  /* the kernel never got it */
}

void pmx_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    pmx_node_forget(ino, nlookup);
    fuse_reply_none(req);
}

void pmx_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        pmx_node_forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

void pmx_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pmx_op_begin();
    struct stat st, out;
    if (fi && fi->fh) {
        /* fstat() on an open file: its own connection. */
        struct pmx_file *f = (struct pmx_file *)(uintptr_t)fi->fh;
        int r = pmx_stat(f->coid, &st);
        if (r < 0) {
            fuse_reply_err(req, -r);
            return;
        }
        pmx_attr(ino, S_ISDIR(st.st_mode), &st, &out);
        fuse_reply_attr(req, &out, 0);
        return;
    }
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char path[PATH_MAX];
    struct pmx_where w;
    int is_dir = 0, between = 0;
    int e = pmx_node_path(ino, path);
    if (!e)
        e = describe(&c, path, &w, &st, &is_dir, &between);
    if (e) {
        fuse_reply_err(req, e);
        return;
    }
    pmx_attr(ino, is_dir, between ? NULL : &st, &out);
    fuse_reply_attr(req, &out, 0);
}

static int send_simple(int coid, void *msg, size_t len)
{
    iov_t s, r;
    SETIOV(&s, msg, len);
    SETIOV(&r, NULL, 0);
    if (MsgSendv(coid, &s, 1, &r, 1) < 0)
        return pmx_err(errno);
    return 0;
}

static int set_times(int coid, const struct stat *attr, int to_set)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct stat cur;
    memset(&cur, 0, sizeof cur);
    if ((to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) !=
        (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
        /* One of the two stays as it is: the message sets both. */
        int r = pmx_stat(coid, &cur);
        if (r < 0)
            return -r;
    }
    struct timespec a = cur.st_atim, m = cur.st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME)
        a = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now : attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME)
        m = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
    struct _io_utime64 u;
    memset(&u, 0, sizeof u);
    u.type = _IO_UTIME64;
    u.combine_len = sizeof u;
    u.cur_flag = (to_set & FUSE_SET_ATTR_ATIME_NOW) && (to_set & FUSE_SET_ATTR_MTIME_NOW);
    u.atime_s = a.tv_sec;
    u.atime_ns = a.tv_nsec;
    u.mtime_s = m.tv_sec;
    u.mtime_ns = m.tv_nsec;
    int e = send_simple(coid, &u, sizeof u);
    if ((e == ENOSYS || e == EINVAL) && a.tv_sec == (int32_t)a.tv_sec &&
        m.tv_sec == (int32_t)m.tv_sec) {
        /* A manager that knows only QNX's classic 32-bit form. */
        struct _io_utime o;
        memset(&o, 0, sizeof o);
        o.type = _IO_UTIME;
        o.combine_len = sizeof o;
        o.cur_flag = u.cur_flag;
        o.times.actime = (int32_t)a.tv_sec;
        o.times.modtime = (int32_t)m.tv_sec;
        e = send_simple(coid, &o, sizeof o);
    }
    return e;
}

static int set_size(int coid, off_t size)
{
    struct stat cur;
    int r = pmx_stat(coid, &cur);
    if (r < 0)
        return -r;
    struct _io_space sp;
    memset(&sp, 0, sizeof sp);
    sp.type = _IO_SPACE;
    sp.combine_len = sizeof sp;
    sp.whence = SEEK_SET;
    if (size < cur.st_size) {
        sp.subtype = PMX_F_FREESP;   /* free from `size` to the end */
        sp.start = (uint64_t)size;
        sp.len = 0;
    } else {
        sp.subtype = PMX_F_ALLOCSP;  /* the file covers [0, size) */
        sp.start = 0;
        sp.len = (uint64_t)size;
    }
    uint64_t res;
    iov_t s, rv;
    SETIOV(&s, &sp, sizeof sp);
    SETIOV(&rv, &res, sizeof res);
    if (MsgSendv(coid, &s, 1, &rv, 1) < 0)
        return pmx_err(errno);
    return 0;
}

void pmx_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                    struct fuse_file_info *fi)
{
    pmx_op_begin();
    int coid = -1, own = 0, e = 0;
    if (fi && fi->fh) {
        coid = ((struct pmx_file *)(uintptr_t)fi->fh)->coid;
    } else {
        struct pmx_caller c;
        pmx_caller_of(req, &c);
        char path[PATH_MAX];
        struct pmx_where w;
        e = pmx_node_path(ino, path);
        if (!e)
            e = locate_as(&c, path, &w);
        if (!e && w.kind == PMX_BETWEEN)
            e = EPERM;  /* the directories in between belong to nobody */
        if (!e) {
            /* Truncating needs the right to write; the rest is the
             * handler's to judge (QNX: the owner, or root). */
            uint32_t ioflag = (to_set & FUSE_SET_ATTR_SIZE) ? pm_open_ioflag(O_WRONLY) : 0;
            coid = pmx_connect(&w.m, &c, path, ioflag, 0);
            if (coid < 0)
                e = -coid;
            own = 1;
        }
    }
    if (!e && (to_set & FUSE_SET_ATTR_MODE)) {
        struct _io_chmod m = { .type = _IO_CHMOD, .combine_len = sizeof m,
                               .mode = attr->st_mode & 07777 };
        e = send_simple(coid, &m, sizeof m);
    }
    if (!e && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
        struct _io_chown o = { .type = _IO_CHOWN, .combine_len = sizeof o,
            .uid = (to_set & FUSE_SET_ATTR_UID) ? (int32_t)attr->st_uid : -1,
            .gid = (to_set & FUSE_SET_ATTR_GID) ? (int32_t)attr->st_gid : -1 };
        e = send_simple(coid, &o, sizeof o);
    }
    if (!e && (to_set & FUSE_SET_ATTR_SIZE))
        e = set_size(coid, attr->st_size);
    if (!e && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
        e = set_times(coid, attr, to_set);
    struct stat st, out;
    if (!e) {
        int r = pmx_stat(coid, &st);
        e = r < 0 ? -r : 0;
    }
    if (own && coid >= 0)
        pmx_disconnect(coid);
    if (e) {
        fuse_reply_err(req, e);
        return;
    }
    pmx_attr(ino, S_ISDIR(st.st_mode), &st, &out);
    fuse_reply_attr(req, &out, 0);
}

/* POSIX's execute check (the one iofunc_check_access() makes): root needs
 * any execute bit, others the bit of their first matching class. */
static int may_exec(const struct pmx_caller *c, const struct stat *st)
{
    if (c->uid == 0)
        return (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
    if (c->uid == st->st_uid)
        return (st->st_mode & S_IXUSR) != 0;
    int in_group = c->gid == st->st_gid;
    for (uint32_t i = 0; i < c->ngroups && !in_group; i++)
        in_group = c->groups[i] == st->st_gid;
    if (in_group)
        return (st->st_mode & S_IXGRP) != 0;
    return (st->st_mode & S_IXOTH) != 0;
}

void pmx_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    pmx_op_begin();
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char path[PATH_MAX];
    struct pmx_where w;
    int e = pmx_node_path(ino, path);
    if (!e)
        e = locate_as(&c, path, &w);
    if (!e && w.kind == PMX_BETWEEN) {
        /* Anyone may look; nobody may change. */
        e = (mask & W_OK) ? EACCES : 0;
    } else if (!e) {
        /* The manager answers: an open asking for what access() asks. */
        int acc = (mask & R_OK) && (mask & W_OK) ? O_RDWR : (mask & W_OK) ? O_WRONLY : O_RDONLY;
        uint32_t ioflag = (mask & (R_OK | W_OK)) ? pm_open_ioflag(acc) : 0;
        int coid = pmx_connect(&w.m, &c, path, ioflag, 0);
        if (coid < 0) {
            e = -coid;
        } else {
            if (mask & X_OK) {
                struct stat st;
                int r = pmx_stat(coid, &st);
                if (r < 0)
                    e = -r;
                else if (!may_exec(&c, &st))
                    e = EACCES;
            }
            pmx_disconnect(coid);
        }
    }
    fuse_reply_err(req, e);
}

void pmx_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    memset(&sv, 0, sizeof sv);
    sv.f_bsize = sv.f_frsize = 4096;
    sv.f_namemax = NAME_MAX;
    fuse_reply_statfs(req, &sv);
}
