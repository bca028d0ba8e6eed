/*
 * iofunc_mmap(), iofunc_mmap_ext() and their defaults behind a real
 * resource manager (a thread of this test, private path space), reached as
 * the memory manager reaches it: raw _IO_MMAP messages on a connection made
 * with pm_memmgr_connect(), naming an fd that pm_open() gave this process.
 * The attribute structures live here, so the counts the privileged OCB adds
 * are read directly; the manager's close_ocb signals an eventfd when it
 * closes a privileged OCB, which is how the test knows the disconnect of a
 * memory-manager connection has been handled.  Run as root and as nobody:
 * the client and the manager are the same user either way, and the
 * resources are the test user's unless a test says otherwise.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "sys/iofunc.h" /* first: the handler tables then take iofunc_*_t */
#include "sys/dispatch.h"
#include "msg/msg.h"
#include "peermap.h"

#define R PROT_READ
#define W PROT_WRITE
#define X PROT_EXEC

/* What the mmap handler of the "counted" table does. */
enum mmap_mode { MODE_DEFAULT, MODE_EXT, MODE_EXT_STAT, MODE_DEFAULT_EXT, MODE_SHMEM };

enum { A_RW, A_EXEC, A_OTHER_EXEC, A_RO, A_MANDLOCK, A_NOMMAP, A_FUNCS, A_COUNT };

static const char *const paths[A_COUNT] = {
    "/dev/pmmap/rw", "/dev/pmmap/exec", "/dev/pmmap/oexec",
    "/dev/pmmap/ro", "/dev/pmmap/lock", "/dev/pmmap/nommap", "/dev/pmmap/funcs",
};

static struct mgr {
    int started;
    dispatch_t *dpp;
    dispatch_context_t *ctp;
    pthread_t th;
    resmgr_connect_funcs_t cf;
    resmgr_io_funcs_t iof, iof_nommap;
    iofunc_attr_t attr[A_COUNT];
    iofunc_mount_t mnt, ro_mnt, funcs_mnt;
    iofunc_funcs_t funcs;       /* funcs_mnt's OCB allocator */
    atomic_int allocs, frees;   /* ... what it did */
    atomic_int fail_alloc;      /* ... and whether it fails */
    int closed_efd;             /* +1 per privileged OCB closed */
    atomic_int calls;           /* mmap handler calls */
    atomic_int mode;            /* enum mmap_mode */
    atomic_uint form;           /* MODE_EXT: the stat form asked for */
    int shm_fd;                 /* MODE_SHMEM: the object handed over */
    struct stat given;          /* MODE_EXT_STAT: the stat passed in */
} m;

/* OCBs of their own size, as a manager that extends iofunc_ocb_t has. */
struct big_ocb {
    iofunc_ocb_t ocb;
    char mine[40];
};

static iofunc_ocb_t *my_calloc(resmgr_context_t *ctp, iofunc_attr_t *attr)
{
    (void)ctp;
    (void)attr;
    if (atomic_load(&m.fail_alloc))
        return NULL;
    struct big_ocb *b = calloc(1, sizeof *b);
    if (b) {
        memcpy(b->mine, "mine", 5);
        atomic_fetch_add(&m.allocs, 1);
    }
    return b ? &b->ocb : NULL;
}

static void my_free(iofunc_ocb_t *ocb)
{
    struct big_ocb *b = (struct big_ocb *)ocb;
    if (strcmp(b->mine, "mine") != 0)
        abort(); /* not one of ours */
    atomic_fetch_add(&m.frees, 1);
    free(b);
}

static int counted_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb)
{
    atomic_fetch_add(&m.calls, 1);
    io_mmap_ext_t *x = (io_mmap_ext_t *)msg;
    switch (atomic_load(&m.mode)) {
    case MODE_EXT:
        return iofunc_mmap_ext(ctp, x, ocb, NULL,
                               _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(atomic_load(&m.form)) |
                                   _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS,
                               NULL);
    case MODE_EXT_STAT:
        return iofunc_mmap_ext(ctp, x, ocb, ocb->attr,
                               _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(atomic_load(&m.form)),
                               &m.given);
    case MODE_DEFAULT_EXT:
        return iofunc_mmap_default_ext(ctp, x, ocb);
    case MODE_SHMEM: {
        int ret = iofunc_mmap_ext(ctp, x, ocb, NULL, _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT, NULL);
        if (ret < 0)
            x->o.base.fd = m.shm_fd;
        return ret;
    }
    default:
        return iofunc_mmap_default(ctp, msg, ocb);
    }
}

static int counted_close(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
    int priv = ocb && (ocb->flags & IOFUNC_OCB_PRIVILEGED);
    int ret = iofunc_close_ocb_default(ctp, reserved, ocb);
    if (priv) {
        uint64_t one = 1;
        if (write(m.closed_efd, &one, sizeof one) != (ssize_t)sizeof one)
            abort();
    }
    return ret;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        if (!dispatch_block(m.ctp))
            return NULL;
        dispatch_handler(m.ctp);
    }
}

static int mgr_start(void)
{
    if (m.started)
        return 0;
    if (pathspace_fresh() != 0)
        return -1;
    m.closed_efd = eventfd(0, EFD_CLOEXEC);
    m.shm_fd = memfd_create("pm-test-shm", MFD_CLOEXEC);
    if (m.closed_efd < 0 || m.shm_fd < 0 || ftruncate(m.shm_fd, 4096) != 0 ||
        pwrite(m.shm_fd, "server bytes", 12, 0) != 12)
        return -1;
    m.dpp = dispatch_create();
    if (!m.dpp)
        return -1;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &m.cf, _RESMGR_IO_NFUNCS, &m.iof);
    if (m.iof.mmap != iofunc_mmap_default) /* what func_init installs */
        return -1;
    m.iof.mmap = counted_mmap;
    m.iof.close_ocb = counted_close;
    m.iof_nommap = m.iof;
    m.iof_nommap.mmap = NULL;
    m.mnt.dev = 77;
    m.mnt.blocksize = 4096;
    m.ro_mnt.flags = ST_RDONLY;
    m.funcs.nfuncs = _IOFUNC_NFUNCS;
    m.funcs.ocb_calloc = my_calloc;
    m.funcs.ocb_free = my_free;
    m.funcs_mnt.funcs = &m.funcs;
    static const mode_t modes[A_COUNT] = { 0644, 0755, 0744, 0644, S_ISGID | 0664, 0644, 0644 };
    for (int i = 0; i < A_COUNT; i++) {
        iofunc_attr_init(&m.attr[i], S_IFREG | modes[i], NULL, NULL);
        m.attr[i].mount = i == A_RO ? &m.ro_mnt : i == A_FUNCS ? &m.funcs_mnt : &m.mnt;
    }
    /* Someone else's: only the "other" class (r--) applies to nobody. */
    m.attr[A_OTHER_EXEC].uid = geteuid() + 1;
    m.attr[A_OTHER_EXEC].gid = getegid() + 1;
    static int a_lock;
    m.attr[A_MANDLOCK].lock_list = (struct _iofunc_lock_list *)(void *)&a_lock;
    for (int i = 0; i < A_COUNT; i++) {
        if (resmgr_attach(m.dpp, NULL, paths[i], _FTYPE_ANY, 0, &m.cf,
                          i == A_NOMMAP ? &m.iof_nommap : &m.iof, &m.attr[i]) < 0) {
            fprintf(stderr, "  resmgr_attach(%s): %s (%s)\n", paths[i], strerror(errno),
                    peermap_errmsg());
            return -1;
        }
    }
    m.ctp = dispatch_context_alloc(m.dpp);
    if (!m.ctp || pthread_create(&m.th, NULL, serve, NULL) != 0)
        return -1;
    m.started = 1;
    return 0;
}

/* ---- the memory manager's side ---- */

/* Under the attribute lock, as the manager's handlers change them. */
static unsigned cnt(int a, int which)
{
    iofunc_attr_t *at = &m.attr[a];
    iofunc_attr_lock(at);
    unsigned v = which == 0 ? at->count : which == 1 ? at->rcount
               : which == 2 ? at->wcount : at->wlocks;
    iofunc_attr_unlock(at);
    return v;
}
#define COUNT(a)  cnt(a, 0)
#define RCOUNT(a) cnt(a, 1)
#define WCOUNT(a) cnt(a, 2)
#define WLOCKS(a) cnt(a, 3)

/* A memory-manager connection to the server behind client fd `fd`. */
static int memmgr_for(int fd)
{
    struct pm_cconn *c = pm_cconn_get(fd);
    if (!c)
        return -1;
    pid_t pid = c->pid;
    int chid = c->chid;
    pm_cconn_put(c);
    return pm_memmgr_connect(pid, chid, -1);
}

static void mmap_msg(struct _io_mmap *i, int fd, uint32_t prot, uint32_t required, int marker)
{
    memset(i, 0, sizeof *i);
    i->type = _IO_MMAP;
    i->prot = prot | (marker ? _IO_MMAP_PROT_REQUIRED_VALID : 0u);
    i->required_prot = required;
    i->offset = 8192;
    i->info.pid = getpid();
    i->info.coid = fd;
    i->requested_len = 4096;
}

/* Send on coid; EOK or the errno the server answered with. */
static int send_mmap(int coid, const struct _io_mmap *i, struct _io_mmap_reply_ext *rep)
{
    memset(rep, 0, sizeof *rep);
    errno = 0;
    long r = MsgSend(coid, i, sizeof *i, rep, sizeof *rep);
    return r == -1 ? errno : EOK;
}

static int ask(int mc, int fd, uint32_t prot, uint32_t required, struct _io_mmap_reply_ext *rep)
{
    struct _io_mmap i;
    mmap_msg(&i, fd, prot, required, 1);
    return send_mmap(mc, &i, rep);
}

/* Wait until n more privileged OCBs have been closed. */
static int closed(uint64_t n)
{
    uint64_t got = 0;
    long long until = now_ms() + 10000;
    while (got < n) {
        struct pollfd p = { .fd = m.closed_efd, .events = POLLIN };
        long long left = until - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            return -1;
        uint64_t v;
        if (read(m.closed_efd, &v, sizeof v) != (ssize_t)sizeof v)
            return -1;
        got += v;
    }
    return got == n ? 0 : -1;
}

static int root(void)
{
    return geteuid() == 0;
}

/* ---- tests ---- */

TEST(func_init_installs_the_mmap_default)
{
    resmgr_io_funcs_t io;
    memset(&io, 0, sizeof io);
    iofunc_func_init(0, NULL, _RESMGR_IO_NFUNCS, &io);
    CHECK(io.mmap == iofunc_mmap_default);
    REQUIRE(mgr_start() == 0);
}

/* The expected answer, from the documented rules. */
struct expect { int err; uint32_t allowed; int gives_w, gives_x; };

static struct expect model(int oflag, uint32_t prot, uint32_t req, int exec_ok, int rdonly)
{
    struct expect e = { EOK, 0, 0, 0 };
    int rd = (oflag & O_ACCMODE) != O_WRONLY, wr = (oflag & O_ACCMODE) != O_RDONLY;
    uint32_t want = prot | req;
    if ((req & W) && rdonly)
        e.err = EROFS;
    else if (!rd || ((req & W) && !wr))
        e.err = EACCES;
    else if ((req & X) && !exec_ok)
        e.err = EACCES;
    else if ((req & X) && wr) /* the client's own open is a writer */
        e.err = ETXTBSY;
    int may_w = wr && !rdonly, may_x = exec_ok && !wr;
    e.allowed = R | (may_w ? W : 0u) | (may_x ? X : 0u);
    e.gives_w = may_w && (want & W);
    e.gives_x = may_x && (want & X);
    return e;
}

TEST(permission_matrix_and_counts)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    static const int opens[] = { O_RDONLY, O_WRONLY, O_RDWR };
    static const uint32_t prots[] = { R, R | W, R | X, R | W | X };
    static const int res[] = { A_RW, A_EXEC, A_OTHER_EXEC, A_RO };
    int cases = 0;
    for (size_t ri = 0; ri < sizeof res / sizeof res[0]; ri++) {
        int a = res[ri];
        int exec_ok = a == A_EXEC || (a == A_OTHER_EXEC && root());
        int rdonly = a == A_RO;
        for (size_t oi = 0; oi < 3; oi++) {
            int fd = pm_open(paths[a], opens[oi]);
            if (rdonly && opens[oi] != O_RDONLY) {
                CHECK(fd == -1 && errno == EROFS);
                continue;
            }
            if (a == A_OTHER_EXEC && opens[oi] != O_RDONLY && !root()) {
                CHECK(fd == -1 && errno == EACCES);
                continue;
            }
            REQUIRE(fd >= 0);
            int wr = opens[oi] != O_RDONLY;
            for (size_t pi = 0; pi < 4; pi++) {
                for (int reqw = 0; reqw < 2; reqw++) {
                    uint32_t prot = prots[pi];
                    /* required: all but write, plus write when asked */
                    uint32_t req = (prot & ~W) | (reqw ? W : 0u);
                    if (reqw && !(prot & W))
                        continue;
                    struct expect e = model(opens[oi], prot, req, exec_ok, rdonly);
                    int mc = memmgr_for(fd);
                    REQUIRE(mc >= 0);
                    unsigned c0 = COUNT(a), w0 = WCOUNT(a);
                    struct _io_mmap_reply_ext rep;
                    int err = ask(mc, fd, prot, req, &rep);
                    cases++;
                    if (err != e.err)
                        fprintf(stderr, "  %s open %d prot %u req %u: %d (%s), expected %d\n",
                                paths[a], opens[oi], prot, req, err, peermap_errmsg(), e.err);
                    CHECK_EQ_LONG(err, e.err);
                    if (err == EOK && e.err == EOK) {
                        CHECK_EQ_LONG(rep.base.allowed_prot, e.allowed);
                        CHECK_EQ_LONG(rep.base.offset, 8192);
                        CHECK_EQ_LONG(rep.base.coid, mc);
                        CHECK_EQ_LONG(rep.base.fd, 0);
                        CHECK_EQ_LONG(rep.base.zero, 0);
                        CHECK_EQ_LONG(rep.extended.flags, 0); /* not the _ext reply */
                        CHECK_EQ_LONG(COUNT(a), c0 + 1);
                        CHECK_EQ_LONG(RCOUNT(a), 2);
                        CHECK_EQ_LONG(WCOUNT(a), w0 + (unsigned)e.gives_w);
                        CHECK_EQ_LONG(WLOCKS(a), e.gives_x);
                    } else {
                        CHECK_EQ_LONG(COUNT(a), c0);
                    }
                    CHECK_EQ_LONG(ConnectDetach(mc), 0);
                    if (err == EOK)
                        CHECK(closed(1) == 0);
                    CHECK_EQ_LONG(COUNT(a), 1);
                    CHECK_EQ_LONG(WCOUNT(a), wr);
                    CHECK_EQ_LONG(WLOCKS(a), 0);
                }
            }
            CHECK_EQ_LONG(pm_close(fd), 0);
            CHECK_EQ_LONG(COUNT(a), 0);
        }
    }
    CHECK(cases >= 48);
}

TEST(readonly_mount_after_open_and_mandatory_locking)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    /* Opened for writing, then the mount turned read-only (remounted):
     * write is neither granted nor allowed; required, it is EROFS - before
     * anything else is looked at. */
    int fd = pm_open(paths[A_RW], O_RDWR);
    REQUIRE(fd >= 0);
    __atomic_store_n(&m.mnt.flags, ST_RDONLY, __ATOMIC_SEQ_CST);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EROFS);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R, &rep), EOK);
    CHECK_EQ_LONG(rep.base.allowed_prot, R);
    CHECK_EQ_LONG(WCOUNT(A_RW), 1); /* the client's only */
    __atomic_store_n(&m.mnt.flags, 0, __ATOMIC_SEQ_CST);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    pm_close(fd);

    /* Mandatory locking (setgid without group execute) with locks held:
     * EAGAIN, before the open's mode is looked at. */
    fd = pm_open(paths[A_MANDLOCK], O_RDONLY);
    REQUIRE(fd >= 0);
    mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EAGAIN);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EAGAIN);
    /* No locks held: fine. */
    void *saved = m.attr[A_MANDLOCK].lock_list;
    __atomic_store_n(&m.attr[A_MANDLOCK].lock_list, NULL, __ATOMIC_SEQ_CST);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    __atomic_store_n(&m.attr[A_MANDLOCK].lock_list, saved, __ATOMIC_SEQ_CST);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    pm_close(fd);
    CHECK_EQ_LONG(COUNT(A_MANDLOCK), 0);
}

TEST(old_style_sender_prot_is_required)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    int fd = pm_open(paths[A_RW], O_RDONLY);
    REQUIRE(fd >= 0);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap i;
    struct _io_mmap_reply_ext rep;
    /* No marker: required_prot is not looked at, prot is the requirement. */
    mmap_msg(&i, fd, R | W, R, 0);
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EACCES);
    /* The same with the marker: write only wished for, not granted. */
    mmap_msg(&i, fd, R | W, R, 1);
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EOK);
    CHECK_EQ_LONG(rep.base.allowed_prot, R);
    CHECK_EQ_LONG(WCOUNT(A_RW), 0);
    mmap_msg(&i, fd, R, 0, 0);
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EOK);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    pm_close(fd);
}

TEST(one_privileged_ocb_per_memmgr_connection_upgraded_for_write)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    int fd = pm_open(paths[A_RW], O_RDWR);
    REQUIRE(fd >= 0);
    CHECK(COUNT(A_RW) == 1 && WCOUNT(A_RW) == 1);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    CHECK(COUNT(A_RW) == 2 && RCOUNT(A_RW) == 2 && WCOUNT(A_RW) == 1);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    CHECK(COUNT(A_RW) == 2 && WCOUNT(A_RW) == 1); /* reused */
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    CHECK(COUNT(A_RW) == 2 && WCOUNT(A_RW) == 2); /* upgraded */
    CHECK_EQ_LONG(rep.base.allowed_prot, R | W);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    CHECK(COUNT(A_RW) == 2 && WCOUNT(A_RW) == 2); /* once */
    /* A second connection has its own. */
    int mc2 = memmgr_for(fd);
    REQUIRE(mc2 >= 0);
    CHECK_EQ_LONG(ask(mc2, fd, R, R, &rep), EOK);
    CHECK_EQ_LONG(COUNT(A_RW), 3);
    /* A connection serves one resource. */
    int other = pm_open(paths[A_EXEC], O_RDONLY);
    REQUIRE(other >= 0);
    CHECK_EQ_LONG(ask(mc, other, R, R, &rep), EBUSY);
    CHECK_EQ_LONG(COUNT(A_EXEC), 1);
    pm_close(other);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK_EQ_LONG(ConnectDetach(mc2), 0);
    CHECK(closed(2) == 0);
    CHECK(COUNT(A_RW) == 1 && RCOUNT(A_RW) == 1 && WCOUNT(A_RW) == 1);
    /* The client's close does not need the memory manager gone first. */
    mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    CHECK_EQ_LONG(pm_close(fd), 0);
    CHECK(COUNT(A_RW) == 1 && WCOUNT(A_RW) == 1);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    CHECK(COUNT(A_RW) == 0 && WCOUNT(A_RW) == 0);
}

TEST(exec_mapping_denies_writers)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    int fd = pm_open(paths[A_EXEC], O_RDONLY);
    REQUIRE(fd >= 0);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    CHECK_EQ_LONG(ask(mc, fd, R | X, R | X, &rep), EOK);
    CHECK_EQ_LONG(rep.base.allowed_prot, R | X);
    CHECK_EQ_LONG(WLOCKS(A_EXEC), 1);
    errno = 0;
    int w = pm_open(paths[A_EXEC], O_WRONLY);
    CHECK(w == -1 && errno == EBUSY);
    if (w >= 0)
        pm_close(w);
    int rw = pm_open(paths[A_EXEC], O_RDWR);
    CHECK(rw == -1);
    if (rw >= 0)
        pm_close(rw);
    int r2 = pm_open(paths[A_EXEC], O_RDONLY); /* readers are welcome */
    CHECK(r2 >= 0);
    if (r2 >= 0)
        pm_close(r2);
    CHECK_EQ_LONG(ask(mc, fd, R | X, R | X, &rep), EOK);
    CHECK_EQ_LONG(WLOCKS(A_EXEC), 1); /* taken once */
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    CHECK_EQ_LONG(WLOCKS(A_EXEC), 0);
    w = pm_open(paths[A_EXEC], O_WRONLY);
    CHECK(w >= 0);

    /* Now a writer is open: code cannot be mapped (ETXTBSY), nor is exec
     * allowed when only wished for. */
    mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    CHECK_EQ_LONG(ask(mc, fd, R | X, R | X, &rep), ETXTBSY);
    CHECK_EQ_LONG(ask(mc, fd, R | X, R, &rep), EOK);
    CHECK_EQ_LONG(rep.base.allowed_prot, R);
    CHECK_EQ_LONG(WLOCKS(A_EXEC), 0);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    if (w >= 0)
        pm_close(w);
    pm_close(fd);

    /* Its own write does not stop a connection's exec: write first, then
     * exec on the same connection. */
    fd = pm_open(paths[A_EXEC], O_RDWR);
    REQUIRE(fd >= 0);
    mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    CHECK_EQ_LONG(WCOUNT(A_EXEC), 2);
    pm_close(fd); /* the client's own writer gone; the privileged one stays */
    CHECK_EQ_LONG(WCOUNT(A_EXEC), 1);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
}

static void check_form(unsigned form, const struct _io_mmap_reply_ext *rep, const iofunc_attr_t *a,
                       int64_t nsec)
{
    const union _io_mmap_reply_ext_stat *u = &rep->extended.stat;
    switch (form) {
    case _STAT_FORM_T32_2001:
        CHECK_EQ_LONG(u->t32_2001.st_size, a->nbytes);
        CHECK_EQ_LONG(u->t32_2001.st_ino, a->inode);
        CHECK_EQ_LONG(u->t32_2001.st_mtim.tv_sec, a->mtime);
        CHECK_EQ_LONG(u->t32_2001.st_mode, a->mode);
        CHECK_EQ_LONG(u->t32_2001.st_dev, 77);
        break;
    case _STAT_FORM_T32_2008:
        CHECK_EQ_LONG(u->t32_2008.st_size, a->nbytes);
        CHECK_EQ_LONG(u->t32_2008.st_ino, a->inode);
        CHECK_EQ_LONG(u->t32_2008.st_mtim.tv_sec, a->mtime);
        CHECK_EQ_LONG(u->t32_2008.st_mtim.tv_nsec, nsec);
        CHECK_EQ_LONG(u->t32_2008.st_uid, a->uid);
        break;
    default:
        CHECK_EQ_LONG(u->t64_2008.st_size, a->nbytes);
        CHECK_EQ_LONG(u->t64_2008.st_ino, a->inode);
        CHECK_EQ_LONG(u->t64_2008.st_mtim.tv_sec, a->mtime);
        CHECK_EQ_LONG(u->t64_2008.st_mtim.tv_nsec, nsec);
        CHECK_EQ_LONG(u->t64_2008.st_blksize, 4096);
        CHECK_EQ_LONG(u->t64_2008.st_blocksize, 4096);
        CHECK_EQ_LONG(u->t64_2008.st_nblocks, (a->nbytes + 4095) / 4096);
        break;
    }
}

TEST(ext_reply_fills_each_stat_form)
{
    REQUIRE(mgr_start() == 0);
    iofunc_attr_t *a = &m.attr[A_RW];
    iofunc_attr_lock(a);
    a->nbytes = 12345;
    a->mtime = 1700000000;
    iofunc_attr_unlock(a);
    int fd = pm_open(paths[A_RW], O_RDWR);
    REQUIRE(fd >= 0);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    static const unsigned forms[] = { _STAT_FORM_T32_2001, _STAT_FORM_T32_2008,
                                      _STAT_FORM_T64_2008 };
    atomic_store(&m.mode, MODE_EXT);
    for (int k = 0; k < 3; k++) {
        atomic_store(&m.form, forms[k]);
        CHECK_EQ_LONG(ask(mc, fd, R | W, R, &rep), EOK);
        CHECK_EQ_LONG(rep.extended.flags, _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                                              _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS |
                                              _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(forms[k]));
        CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_STAT_FORM(rep.extended.flags), forms[k]);
        CHECK_EQ_LONG(rep.base.allowed_prot, R | W);
        CHECK_EQ_LONG(rep.base.coid, mc);
        check_form(forms[k], &rep, a, 0);
    }
    /* No form: no stat. */
    atomic_store(&m.form, _STAT_FORM_UNSET);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    CHECK_EQ_LONG(rep.extended.flags,
                  _IO_MMAP_REPLY_FLAGS_USE_EXTENDED | _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS);
    CHECK_EQ_LONG(rep.extended.stat.t64_2008.st_size, 0);

    /* The default: the preferred form (t64_2008 here). */
    atomic_store(&m.mode, MODE_DEFAULT_EXT);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    CHECK_EQ_LONG(rep.extended.flags, _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                                          _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_PREFERRED));
    CHECK_EQ_LONG(_STAT_FORM_PREFERRED, _STAT_FORM_T64_2008);
    check_form(_STAT_FORM_T64_2008, &rep, a, 0);
    CHECK_EQ_LONG(rep.extended.stat.preferred.st_size, 12345);

    /* The handler's own stat, nanoseconds included. */
    atomic_store(&m.mode, MODE_EXT_STAT);
    REQUIRE(iofunc_stat(NULL, a, &m.given) == EOK);
    m.given.st_mtim.tv_nsec = 777;
    for (int k = 1; k < 3; k++) {
        atomic_store(&m.form, forms[k]);
        CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
        check_form(forms[k], &rep, a, 777);
    }

    /* Times past 2038: the 32-bit forms are left out, t64 carries them. */
    iofunc_attr_lock(a);
    a->mtime = (time_t)1 << 33;
    iofunc_attr_unlock(a);
    atomic_store(&m.mode, MODE_EXT);
    for (int k = 0; k < 3; k++) {
        atomic_store(&m.form, forms[k]);
        CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
        if (forms[k] == _STAT_FORM_T64_2008) {
            CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_STAT_FORM(rep.extended.flags), forms[k]);
            CHECK(rep.extended.stat.t64_2008.st_mtim.tv_sec == ((int64_t)1 << 33));
        } else {
            CHECK_EQ_LONG(rep.extended.flags, _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                                                  _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS);
            CHECK_EQ_LONG(rep.extended.stat.t32_2001.st_size, 0);
        }
    }
    atomic_store(&m.mode, MODE_DEFAULT);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    pm_close(fd);
}

TEST(server_shmem_object_reaches_the_sender)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_SHMEM);
    int fd = pm_open(paths[A_RW], O_RDWR);
    REQUIRE(fd >= 0);
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    int obj = pm_msg_take_fd();
    CHECK(obj >= 0);
    CHECK_EQ_LONG(rep.extended.flags, _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                                          _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT);
    CHECK_EQ_LONG(rep.base.allowed_prot, R | W);
    if (obj >= 0) {
        CHECK(obj != m.shm_fd); /* ours, not the server's number */
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
        CHECK(p != MAP_FAILED);
        if (p != MAP_FAILED) {
            CHECK(memcmp(p, "server bytes", 12) == 0);
            memcpy(p + 100, "client", 6); /* the same object */
            char b[6];
            CHECK(pread(m.shm_fd, b, 6, 100) == 6 && memcmp(b, "client", 6) == 0);
            munmap(p, 4096);
        }
        close(obj);
    }
    /* A refusal carries no descriptor. */
    int ro = pm_open(paths[A_RW], O_RDONLY);
    REQUIRE(ro >= 0);
    int mc2 = memmgr_for(ro);
    REQUIRE(mc2 >= 0);
    CHECK_EQ_LONG(ask(mc2, ro, R | W, R | W, &rep), EACCES);
    CHECK_EQ_LONG(pm_msg_take_fd(), -1);
    atomic_store(&m.mode, MODE_DEFAULT);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK_EQ_LONG(ConnectDetach(mc2), 0);
    CHECK(closed(1) == 0);
    pm_close(ro);
    pm_close(fd);
    CHECK_EQ_LONG(COUNT(A_RW), 0);
}

TEST(only_the_memory_manager_reaches_the_handler)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    int fd = pm_open(paths[A_RW], O_RDWR);
    REQUIRE(fd >= 0);
    struct _io_mmap i;
    struct _io_mmap_reply_ext rep;
    int before = atomic_load(&m.calls);
    /* Forged on the client's own connection: ENOSYS, no handler. */
    mmap_msg(&i, fd, R | W, R | W, 1);
    CHECK_EQ_LONG(send_mmap(fd, &i, &rep), ENOSYS);
    mmap_msg(&i, fd, R, R, 0);
    CHECK_EQ_LONG(send_mmap(fd, &i, &rep), ENOSYS);
    CHECK_EQ_LONG(atomic_load(&m.calls), before);
    CHECK_EQ_LONG(COUNT(A_RW), 1);

    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    /* Another process's open, or no open at all: EBADF, no handler. */
    mmap_msg(&i, fd, R, R, 1);
    i.info.pid = getppid();
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EBADF);
    mmap_msg(&i, fd, R, R, 1);
    i.info.pid = 1;
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EBADF);
    int nfd = dup(0); /* a descriptor number that is no open of the server */
    mmap_msg(&i, nfd >= 0 ? nfd : 12345, R, R, 1);
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EBADF);
    if (nfd >= 0)
        close(nfd);
    mmap_msg(&i, 12345, R, R, 1);
    CHECK_EQ_LONG(send_mmap(mc, &i, &rep), EBADF);
    CHECK_EQ_LONG(atomic_load(&m.calls), before);
    /* The genuine article. */
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), EOK);
    CHECK_EQ_LONG(atomic_load(&m.calls), before + 1);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    pm_close(fd);

    /* A manager without an mmap handler: ENOSYS. */
    fd = pm_open(paths[A_NOMMAP], O_RDONLY);
    REQUIRE(fd >= 0);
    mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    CHECK_EQ_LONG(ask(mc, fd, R, R, &rep), ENOSYS);
    CHECK_EQ_LONG(COUNT(A_NOMMAP), 1);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    pm_close(fd);
    CHECK_EQ_LONG(COUNT(A_NOMMAP), 0);
}

TEST(the_mounts_ocb_allocator_is_used_and_enomem_reported)
{
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_DEFAULT);
    int fd = pm_open(paths[A_FUNCS], O_RDWR);
    REQUIRE(fd >= 0);
    CHECK_EQ_LONG(atomic_load(&m.allocs), 1); /* the client's open */
    int mc = memmgr_for(fd);
    REQUIRE(mc >= 0);
    struct _io_mmap_reply_ext rep;
    atomic_store(&m.fail_alloc, 1);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), ENOMEM);
    CHECK(COUNT(A_FUNCS) == 1 && WCOUNT(A_FUNCS) == 1);
    atomic_store(&m.fail_alloc, 0);
    CHECK_EQ_LONG(ask(mc, fd, R | W, R | W, &rep), EOK);
    CHECK_EQ_LONG(atomic_load(&m.allocs), 2);
    CHECK(COUNT(A_FUNCS) == 2 && WCOUNT(A_FUNCS) == 2);
    CHECK_EQ_LONG(ConnectDetach(mc), 0);
    CHECK(closed(1) == 0);
    CHECK_EQ_LONG(atomic_load(&m.frees), 1); /* freed by the mount's ocb_free */
    CHECK(COUNT(A_FUNCS) == 1 && WCOUNT(A_FUNCS) == 1);
    pm_close(fd);
    CHECK_EQ_LONG(atomic_load(&m.frees), 2);
}

TEST(direct_calls_check_their_arguments)
{
    resmgr_context_t ctp;
    memset(&ctp, 0, sizeof ctp);
    io_mmap_ext_t msg;
    memset(&msg, 0, sizeof msg);
    iofunc_ocb_t ocb;
    memset(&ocb, 0, sizeof ocb);
    CHECK_EQ_LONG(iofunc_mmap(NULL, (io_mmap_t *)&msg, &ocb, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_mmap(&ctp, NULL, &ocb, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_mmap(&ctp, (io_mmap_t *)&msg, NULL, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_mmap(&ctp, (io_mmap_t *)&msg, &ocb, NULL), EINVAL); /* no attr */
    CHECK_EQ_LONG(iofunc_mmap_default(&ctp, (io_mmap_t *)&msg, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_mmap_ext(&ctp, &msg, &ocb, NULL, 0, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_mmap_default_ext(&ctp, &msg, NULL), EINVAL);
    /* Refusals come before any OCB is needed: the client's open is
     * write-only. */
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0644, NULL, NULL);
    ocb.attr = &a;
    ocb.ioflag = _IO_FLAG_WR;
    mmap_msg(&msg.i, 3, R, R, 1);
    CHECK_EQ_LONG(iofunc_mmap_default(&ctp, (io_mmap_t *)&msg, &ocb), EACCES);
    CHECK(strstr(peermap_errmsg(), "reading") != NULL);
    CHECK_EQ_LONG(a.count, 0);
}

/*
 * A manager that hands its shared memory object with _IO_MMAP grants each
 * client only allowed_prot - but the descriptor reaches the client's
 * process.  Its own descriptor is read-write, and a memfd is 0777: given
 * to another user that may only read, the client could map it writable
 * (or open /proc/self/fd/N for writing) and change the manager's memory.
 * uid 65534, reading a root file (0644), must get no object it can write:
 * it gets none, and reads pages instead.
 */
struct ro_report {
    int code;      /* the _IO_MMAP answer */
    int got_obj;   /* an object came */
    int writable;  /* and it could be written, by mapping or reopening */
};

static int ro_grant_child(int fd_report)
{
    struct ro_report rr = { -1, 0, 0 };
    if (drop_to_nobody() < 0)
        return 2;
    int fd = pm_open(paths[A_RW], O_RDONLY);
    int mc = fd >= 0 ? memmgr_for(fd) : -1;
    if (mc < 0)
        return 3;
    struct _io_mmap_reply_ext rep;
    rr.code = ask(mc, fd, R, R, &rep);
    int obj = pm_msg_take_fd();
    if (obj >= 0) {
        rr.got_obj = 1;
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
        if (p != MAP_FAILED) {
            rr.writable = 1;
            munmap(p, 4096);
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", obj);
        int w = open(path, O_RDWR | O_CLOEXEC);
        if (w >= 0) {
            rr.writable = 1;
            close(w);
        }
    }
    return write(fd_report, &rr, sizeof rr) == (ssize_t)sizeof rr ? 0 : 4;
}

TEST(a_read_only_grant_to_another_user_hands_over_no_writable_object)
{
    if (geteuid() != 0)
        SKIP("needs root: a root manager and a uid-65534 client");
    REQUIRE(mgr_start() == 0);
    atomic_store(&m.mode, MODE_SHMEM);
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0)
        _exit(ro_grant_child(p[1]));
    close(p[1]);
    struct ro_report rr = { -2, -2, -2 };
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    CHECK(poll(&pf, 1, 20000) == 1 && read(p[0], &rr, sizeof rr) == (ssize_t)sizeof rr);
    close(p[0]);
    int st = -1;
    waitpid(c, &st, 0);
    CHECK_EQ_LONG(st, 0);
    CHECK_EQ_LONG(rr.code, EOK);     /* reading is granted */
    CHECK_EQ_LONG(rr.writable, 0);   /* writing is not, in any way */
    CHECK_EQ_LONG(rr.got_obj, 0);    /* so no object: pages are read */
    atomic_store(&m.mode, MODE_DEFAULT);
    char b[12];
    CHECK(pread(m.shm_fd, b, 12, 0) == 12 && memcmp(b, "server bytes", 12) == 0);
}
