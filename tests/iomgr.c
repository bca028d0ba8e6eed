/*
 * The tests' resource manager (iomgr.h): a forked child running one
 * dispatch_block()/dispatch_handler() loop over the resources it attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct ires;
#define IOFUNC_ATTR_T struct ires
#include <sys/iofunc.h>
#include <sys/dispatch.h>
#include <sys/neutrino.h>

#include "helpers.h"
#include "iomgr.h"

struct ires {
    iofunc_attr_t attr;              /* first: the iofunc layer sees this */
    enum iom_kind kind;
    const char *name;                /* below a directory manager */
    unsigned char *data;             /* IOM_FILE_MAX bytes */
    struct ires *child[2];           /* IOM_DIR: alpha, beta */
};

static resmgr_connect_funcs_t connect_funcs, dir_connect_funcs;
static resmgr_io_funcs_t io_funcs;
static int stall_in = -1, stall_out = -1;

static struct ires *new_res(enum iom_kind kind, mode_t type, mode_t mode, uid_t uid, gid_t gid)
{
    struct ires *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    iofunc_attr_init(&r->attr, type | (mode & 07777), NULL, NULL);
    r->attr.uid = uid;
    r->attr.gid = gid;
    r->kind = kind;
    if (kind == IOM_FILE || kind == IOM_DEV || kind == IOM_OVERCLAIM) {
        r->data = malloc(IOM_FILE_MAX);
        if (!r->data)
            return NULL;
        for (uint64_t i = 0; i < IOM_FILL_LEN; i++)
            r->data[i] = iom_fill_byte(i);
        r->attr.nbytes = IOM_FILL_LEN;
    }
    return r;
}

static int io_open(resmgr_context_t *ctp, io_open_t *msg, struct ires *r, void *extra)
{
    const char *name = msg->connect.path;
    if (name[0] == '\0')
        return iofunc_open_default(ctp, msg, r, extra);
    for (int i = 0; i < 2; i++) {
        struct ires *c = r->child[i];
        if (strcmp(name, c->name) == 0) {
            int st = iofunc_open(ctp, msg, &c->attr, NULL, NULL);
            if (st != EOK)
                return st;
            return iofunc_ocb_attach(ctp, msg, NULL, c, NULL);
        }
    }
    return (msg->connect.ioflag & O_CREAT) ? EROFS : ENOENT;
}

/* One QNX (7, 64-bit) struct dirent: header, name, NUL, padded to 8. */
static size_t put_dirent(unsigned char *p, size_t room, const char *name, uint64_t ino,
                         int64_t off)
{
    size_t nl = strlen(name);
    size_t rec = (20 + nl + 1 + 7) & ~(size_t)7;
    if (rec > room)
        return 0;
    memset(p, 0, rec);
    int16_t reclen = (int16_t)rec, namelen = (int16_t)nl;
    memcpy(p, &ino, 8);
    memcpy(p + 8, &off, 8);
    memcpy(p + 16, &reclen, 2);
    memcpy(p + 18, &namelen, 2);
    memcpy(p + 20, name, nl);
    return rec;
}

static int read_dir(resmgr_context_t *ctp, iofunc_ocb_t *ocb, struct ires *r, size_t n)
{
    static unsigned char buf[512];
    size_t used = 0;
    if (n > sizeof buf)
        n = sizeof buf;
    while (ocb->offset < 2) {
        size_t k = put_dirent(buf + used, n - used, r->child[ocb->offset]->name,
                              (uint64_t)ocb->offset + 100, ocb->offset);
        if (!k)
            break;
        used += k;
        ocb->offset++;
    }
    SETIOV(ctp->iov, buf, used);
    _IO_SET_READ_NBYTES(ctp, (int)used);
    return _RESMGR_NPARTS(used ? 1 : 0);
}

static int io_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int st = iofunc_read_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    struct ires *r = ocb->attr;
    uint32_t xt = msg->i.xtype & _IO_XTYPE_MASK;
    if (xt != _IO_XTYPE_NONE && xt != _IO_XTYPE_OFFSET)
        return ENOSYS;
    size_t n = (size_t)_IO_READ_GET_NBYTES(msg);
    if (r->kind == IOM_STALL) {
        static const char released[] = "released\n";
        char c = 1;
        if (write(stall_out, &c, 1) != 1 || read(stall_in, &c, 1) != 1)
            _exit(3);
        if (n > sizeof released - 1)
            n = sizeof released - 1;
        SETIOV(ctp->iov, released, n);
        _IO_SET_READ_NBYTES(ctp, (int)n);
        return _RESMGR_NPARTS(1);
    }
    if (r->kind == IOM_DIR)
        return read_dir(ctp, ocb, r, n);
    off_t off = ocb->offset;
    if (xt == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        memcpy(&xo, &msg->i + 1, sizeof xo);
        off = xo.offset;
    }
    size_t left = off < r->attr.nbytes ? (size_t)(r->attr.nbytes - off) : 0;
    if (n > left)
        n = left;
    /* IOM_OVERCLAIM: half of it sent, all of it claimed. */
    SETIOV(ctp->iov, r->data + off, r->kind == IOM_OVERCLAIM ? n / 2 : n);
    if (xt == _IO_XTYPE_NONE)
        ocb->offset = off + (off_t)n;
    r->attr.flags |= IOFUNC_ATTR_ATIME;
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return _RESMGR_NPARTS(n ? 1 : 0);
}

static int io_stat(resmgr_context_t *ctp, io_stat_t *msg, iofunc_ocb_t *ocb)
{
    struct ires *r = ocb->attr;
    if (r->kind == IOM_STALL_STAT) {
        char c = 1;
        if (write(stall_out, &c, 1) != 1 || read(stall_in, &c, 1) != 1)
            _exit(3);
    }
    return iofunc_stat_default(ctp, msg, ocb);
}

static int io_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
    int st = iofunc_write_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    struct ires *r = ocb->attr;
    if (!r->data)
        return ENOSYS;
    uint32_t xt = msg->i.xtype & _IO_XTYPE_MASK;
    if (xt != _IO_XTYPE_NONE && xt != _IO_XTYPE_OFFSET)
        return ENOSYS;
    size_t at_data = sizeof msg->i;
    off_t off = (ocb->ioflag & O_APPEND) ? r->attr.nbytes : ocb->offset;
    if (xt == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        if (resmgr_msgread(ctp, &xo, sizeof xo, sizeof msg->i) != (ssize_t)sizeof xo)
            return EBADMSG;
        off = xo.offset;
        at_data += sizeof xo;
    }
    size_t n = (size_t)_IO_WRITE_GET_NBYTES(msg);
    if (off < 0 || (uint64_t)off >= IOM_FILE_MAX)
        return n ? ENOSPC : EOK;
    if (n > IOM_FILE_MAX - (size_t)off)
        n = IOM_FILE_MAX - (size_t)off;
    ssize_t got = n ? resmgr_msgread(ctp, r->data + off, n, at_data) : 0;
    if (got < 0)
        return errno;
    if (off + got > r->attr.nbytes)
        r->attr.nbytes = off + got;
    if (xt == _IO_XTYPE_NONE)
        ocb->offset = off + got;
    if (got)
        r->attr.flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
    _IO_SET_WRITE_NBYTES(ctp, (int)got);
    return EOK;
}

static int io_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb)
{
    int st = iofunc_devctl_default(ctp, msg, ocb);
    if (st != _RESMGR_DEFAULT)
        return st;
    if ((unsigned)msg->i.dcmd != IOM_DCMD_WHO)
        return ENOSYS;
    struct _client_info ci;
    if (ConnectClientInfo(ctp->info.scoid, &ci, NGROUPS_MAX_CRED) == -1)
        return errno;
    struct iom_who w = { .pid = ci.pid, .ruid = ci.cred.ruid, .euid = ci.cred.euid,
                         .egid = ci.cred.egid, .ngroups = ci.cred.ngroups,
                         .msg_pid = ctp->info.pid };
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.nbytes = sizeof w;
    memcpy(_DEVCTL_DATA(msg->o), &w, sizeof w);
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o + sizeof w);
}

struct body_arg {
    const struct iom_res *res;
    int n;
    uid_t uid;
    gid_t gid;
};

static int body(int in, int out, void *varg)
{
    struct body_arg *a = varg;
    stall_in = in;
    stall_out = out;
    signal(SIGTERM, SIG_DFL);
    /* Never outlive the test (a test that gave up early, a killed suite). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (a->uid && (setgroups(0, NULL) < 0 || setresgid(a->gid, a->gid, a->gid) < 0 ||
                   setresuid(a->uid, a->uid, a->uid) < 0))
        return 10;
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        return 11;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    /* Files keep iofunc_open_default(): their path-space entries then
     * carry the resource's permission classes (0600 stays 0600). */
    dir_connect_funcs = connect_funcs;
    dir_connect_funcs.open = io_open;
    io_funcs.read = io_read;
    io_funcs.write = io_write;
    io_funcs.devctl = io_devctl;
    io_funcs.stat = io_stat;
    resmgr_attr_t ra;
    memset(&ra, 0, sizeof ra);
    ra.nparts_max = 1;
    ra.msg_max_size = 4096;
    for (int i = 0; i < a->n; i++) {
        const struct iom_res *s = &a->res[i];
        mode_t type = s->kind == IOM_FILE ? S_IFREG : s->kind == IOM_DIR ? S_IFDIR : S_IFCHR;
        struct ires *r = new_res(s->kind, type, s->mode, s->uid, s->gid);
        if (!r)
            return 12;
        if (s->kind == IOM_DIR) {
            static const char *names[2] = { "alpha", "beta" };
            for (int k = 0; k < 2; k++) {
                r->child[k] = new_res(IOM_FILE, S_IFREG, 0644, s->uid, s->gid);
                if (!r->child[k])
                    return 12;
                r->child[k]->name = names[k];
            }
        }
        if (resmgr_attach(dpp, &ra, s->path, _FTYPE_ANY,
                          s->kind == IOM_DIR ? _RESMGR_FLAG_DIR : 0,
                          s->kind == IOM_DIR ? &dir_connect_funcs : &connect_funcs, &io_funcs,
                          r) == -1)
            return 13;
    }
    char ok = 1;
    if (write(out, &ok, 1) != 1)
        return 14;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (!ctp)
        return 15;
    for (;;) {
        dispatch_context_t *got = dispatch_block(ctp);
        if (!got) {
            if (errno == EINTR)
                continue;
            return 16;
        }
        ctp = got;
        dispatch_handler(ctp);
    }
}

int iom_start(struct target *t, const struct iom_res *res, int n, uid_t run_uid, gid_t run_gid)
{
    static struct body_arg a;
    a = (struct body_arg){ res, n, run_uid, run_gid };
    if (target_start(t, body, &a) < 0)
        return -1;
    char ok;
    if (target_read(t, &ok, 1, 5000) < 0) {
        target_finish(t, 1000);
        return -1;
    }
    return 0;
}

int iom_stop(struct target *t)
{
    kill(t->pid, SIGTERM);
    int st = target_finish(t, 5000);
    /* Alive until told: SIGTERM ended it. */
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? 0 : (st ? st : -1);
}
