/*
 * The dispatch layer and resource-manager core (src/resmgr/dispatch.c,
 * resmgr_*.c, message_attach.c, thread_pool.c): routing of connects by
 * handle, I/O messages to the bound OCB, handler return conventions,
 * validation of bad messages, pulses, disconnects, thread pools.
 *
 * The managers here are the test's own (handlers written below, no
 * src/iofunc); clients are raw: resolve in the path space, ConnectAttach,
 * MsgSend of hand-built messages.  Every test uses a fresh path space
 * (PEERMAP_PATHSPACE).  Synchronisation is by eventfds, pipes and waitpid,
 * every wait bounded.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

struct my_attr;
struct my_ocb;
#define RESMGR_HANDLE_T struct my_attr
#define RESMGR_OCB_T struct my_ocb

#include "harness.h"
#include "helpers.h"
#include "devctl.h"
#include "sys/dispatch.h"
#include "sys/iofunc.h"
#include "sys/iomsg.h"
#include "sys/neutrino.h"
#include "sys/resmgr.h"
#include "../src/resmgr/pathspace.h"

/* ---- path space ---- */


/* ---- waiting ---- */

static void signal_event(int efd)
{
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) {
        /* cannot happen with a non-saturated eventfd */
    }
}

/* ---- the test's manager ---- */

struct my_attr {
    int which;
};

struct my_ocb {
    int which;
    long pos;
    uint64_t wsum, wlen;
    char out[64];
};

static struct {
    atomic_int opens[4];
    atomic_int closes;
    atomic_int locks, unlocks;
    atomic_int reads;
    int close_ev;              /* eventfd: a close_ocb ran */
    int held_ev;               /* eventfd: a devctl was held (NOREPLY) */
    int pulse_ev;              /* eventfd: a pulse handler ran */
    _Atomic rcvid_t held;
    atomic_int last_pulse_code, last_pulse_value;
    atomic_int last_open_scoid;
    /* thread pool */
    pthread_mutex_t tl;
    pthread_cond_t tc;
    int inside, max_inside;
    pid_t tids[64];
    int ntids;
} g = { .tl = PTHREAD_MUTEX_INITIALIZER, .tc = PTHREAD_COND_INITIALIZER };

static void reset_counters(void)
{
    for (int i = 0; i < 4; i++)
        g.opens[i] = 0;
    g.closes = g.locks = g.unlocks = g.reads = 0;
    if (g.close_ev <= 0) {
        g.close_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g.held_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g.pulse_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    uint64_t v;
    while (read(g.close_ev, &v, sizeof v) == sizeof v) {}
    while (read(g.held_ev, &v, sizeof v) == sizeof v) {}
    while (read(g.pulse_ev, &v, sizeof v) == sizeof v) {}
    g.inside = g.max_inside = g.ntids = 0;
}

static int my_open(resmgr_context_t *ctp, io_open_t *msg, struct my_attr *attr, void *extra)
{
    (void)extra;
    if (msg->connect.path[0] != 0)
        return ENOENT; /* a file manager: only its own path */
    struct my_ocb *o = calloc(1, sizeof *o);
    if (!o)
        return ENOMEM;
    o->which = attr->which;
    atomic_store(&g.last_open_scoid, ctp->info.scoid);
    if (resmgr_open_bind(ctp, o, NULL) < 0) {
        free(o);
        return errno;
    }
    atomic_fetch_add(&g.opens[attr->which & 3], 1);
    return EOK;
}

static int my_unlink(resmgr_context_t *ctp, io_unlink_t *msg, struct my_attr *attr, void *r)
{
    (void)ctp, (void)msg, (void)r;
    return attr->which == 1 ? EROFS : EOK;
}

static void note_thread(void)
{
    pid_t me = gettid();
    pthread_mutex_lock(&g.tl);
    int seen = 0;
    for (int i = 0; i < g.ntids; i++)
        seen |= g.tids[i] == me;
    if (!seen && g.ntids < 64)
        g.tids[g.ntids++] = me;
    pthread_mutex_unlock(&g.tl);
}

static int my_read(resmgr_context_t *ctp, io_read_t *msg, struct my_ocb *o)
{
    atomic_fetch_add(&g.reads, 1);
    note_thread();
    uint64_t want = _IO_READ_GET_NBYTES(msg);
    if (want == 999)
        return _RESMGR_DEFAULT;
    if (want == 777) {
        /* Stay until a second thread is inside too (at most 5 s). */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 5;
        pthread_mutex_lock(&g.tl);
        g.inside++;
        if (g.inside > g.max_inside)
            g.max_inside = g.inside;
        pthread_cond_broadcast(&g.tc);
        while (g.max_inside < 2 &&
               pthread_cond_timedwait(&g.tc, &g.tl, &dl) == 0) {}
        g.inside--;
        pthread_mutex_unlock(&g.tl);
    }
    int n = snprintf(o->out, sizeof o->out, "%c%ld", 'A' + o->which, o->pos);
    if ((uint64_t)n > want)
        n = (int)want;
    SETIOV(ctp->iov, o->out, n);
    _IO_SET_READ_NBYTES(ctp, n);
    return _RESMGR_NPARTS(1);
}

static int my_write(resmgr_context_t *ctp, io_write_t *msg, struct my_ocb *o)
{
    uint64_t n = _IO_WRITE_GET_NBYTES(msg);
    unsigned char *buf = malloc(n ? (size_t)n : 1);
    if (!buf)
        return ENOMEM;
    ssize_t got = resmgr_msgread(ctp, buf, (size_t)n, sizeof msg->i);
    if (got < 0 || (uint64_t)got != n) {
        free(buf);
        return EIO;
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += buf[i];
    free(buf);
    o->wsum = sum;
    o->wlen = n;
    _IO_SET_WRITE_NBYTES(ctp, (int)n);
    return EOK;
}

static int my_stat(resmgr_context_t *ctp, io_stat_t *msg, struct my_ocb *o)
{
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.st_size = 4200 + o->which;
    msg->o.st_ino = (ino_t)o->wsum;
    msg->o.st_blocks = (blkcnt_t)o->wlen;
    msg->o.st_mode = S_IFCHR | 0666;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

static int my_lseek(resmgr_context_t *ctp, io_lseek_t *msg, struct my_ocb *o)
{
    if (msg->i.whence != SEEK_SET)
        return EINVAL;
    o->pos = (long)msg->i.offset;
    msg->o = (uint64_t)o->pos;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
}

#define DC_EPERM   __DION(_DCMD_MISC, 1)
#define DC_HOLD    __DION(_DCMD_MISC, 2)
#define DC_DEFAULT __DION(_DCMD_MISC, 3)
#define DC_GET     __DIOF(_DCMD_MISC, 4, int)
#define DC_PUT     __DIOT(_DCMD_MISC, 5, int)

static int my_devctl(resmgr_context_t *ctp, io_devctl_t *msg, struct my_ocb *o)
{
    (void)o;
    switch ((unsigned)msg->i.dcmd) {
    case DC_EPERM:
        return EPERM;
    case DC_HOLD:
        g.held = ctp->rcvid;
        signal_event(g.held_ev);
        return _RESMGR_NOREPLY;
    case DC_DEFAULT:
        return _RESMGR_DEFAULT;
    case DC_GET: {
        int *data = _DEVCTL_DATA(msg->o);
        *data = 1234;
        memset(&msg->o, 0, sizeof msg->o);
        msg->o.ret_val = 5;
        msg->o.nbytes = sizeof(int);
        ctp->status = 0;
        return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o + sizeof(int));
    }
    case DC_PUT: {
        int v;
        memcpy(&v, _DEVCTL_DATA(msg->i), sizeof v);
        memset(&msg->o, 0, sizeof msg->o);
        msg->o.ret_val = v + 1;
        return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o);
    }
    default:
        return ENOTTY;
    }
}

static int my_close_ocb(resmgr_context_t *ctp, void *reserved, struct my_ocb *o)
{
    (void)ctp, (void)reserved;
    free(o);
    atomic_fetch_add(&g.closes, 1);
    signal_event(g.close_ev);
    return EOK;
}

static int my_lock_ocb(resmgr_context_t *ctp, void *reserved, struct my_ocb *o)
{
    (void)ctp, (void)reserved, (void)o;
    atomic_fetch_add(&g.locks, 1);
    return EOK;
}

static int my_unlock_ocb(resmgr_context_t *ctp, void *reserved, struct my_ocb *o)
{
    (void)ctp, (void)reserved, (void)o;
    atomic_fetch_add(&g.unlocks, 1);
    return EOK;
}

static resmgr_connect_funcs_t cfuncs;
static resmgr_io_funcs_t iofuncs;
static struct my_attr attrs[4] = { { 0 }, { 1 }, { 2 }, { 3 } };

static void init_funcs(void)
{
    memset(&cfuncs, 0, sizeof cfuncs);
    memset(&iofuncs, 0, sizeof iofuncs);
    cfuncs.nfuncs = _RESMGR_CONNECT_NFUNCS;
    cfuncs.open = my_open;
    cfuncs.unlink = my_unlink;
    iofuncs.nfuncs = _RESMGR_IO_NFUNCS;
    iofuncs.read = my_read;
    iofuncs.write = my_write;
    iofuncs.stat = my_stat;
    iofuncs.lseek = my_lseek;
    iofuncs.devctl = my_devctl;
    iofuncs.close_ocb = my_close_ocb;
    iofuncs.lock_ocb = my_lock_ocb;
    iofuncs.unlock_ocb = my_unlock_ocb;
}

struct mgr {
    dispatch_t *dpp;
    dispatch_context_t *ctp;
    pthread_t th;
    int running;
    atomic_int stop;
    atomic_int handled_minus1;
    int ids[3];      /* resmgr_attach()'s answers for /dev/pmt/a, /b, /c */
};

static void *mgr_main(void *arg)
{
    struct mgr *m = arg;
    while (!atomic_load(&m->stop)) {
        if (!dispatch_block(m->ctp)) {
            if (errno == ECANCELED || atomic_load(&m->stop))
                break;
            continue;
        }
        if (dispatch_handler(m->ctp) < 0)
            atomic_fetch_add(&m->handled_minus1, 1);
    }
    return NULL;
}

/* A fresh path space and a manager with /dev/pmt/a, /b, /c attached in it
 * (handles attrs[0..2]). */
static int mgr_start(struct mgr *m)
{
    memset(m, 0, sizeof *m);
    if (pathspace_fresh() < 0)
        return -1;
    init_funcs();
    reset_counters();
    m->dpp = dispatch_create();
    if (!m->dpp)
        return -1;
    const char *paths[3] = { "/dev/pmt/a", "/dev/pmt/b", "/dev/pmt/c" };
    for (int i = 0; i < 3; i++) {
        resmgr_attr_t ra = { .nparts_max = 4, .msg_max_size = 2048 };
        m->ids[i] = resmgr_attach(m->dpp, &ra, paths[i], _FTYPE_ANY, 0, &cfuncs, &iofuncs,
                                  &attrs[i]);
        if (m->ids[i] < 0)
            return -1;
    }
    m->ctp = dispatch_context_alloc(m->dpp);
    if (!m->ctp)
        return -1;
    if (pthread_create(&m->th, NULL, mgr_main, m) != 0)
        return -1;
    m->running = 1;
    return 0;
}


static int mgr_stop(struct mgr *m)
{
    int rc = 0;
    if (m->running) {
        atomic_store(&m->stop, 1);
        rc = -1;
        for (int i = 0; i < 50 && rc != 0; i++) {
            dispatch_unblock(m->ctp);
            rc = thread_join_ms(m->th, 100) == 0 ? 0 : -1;
        }
        m->running = 0;
    }
    if (m->ctp)
        dispatch_context_free(m->ctp);
    if (m->dpp)
        dispatch_destroy(m->dpp);
    m->ctp = NULL;
    m->dpp = NULL;
    return rc;
}

/* ---- raw clients ---- */

static int raw_connect(const char *path, struct pm_ps_match *mt)
{
    if (pm_pathspace_resolve(path, mt) < 0)
        return -1;
    return ConnectAttach(ND_LOCAL_NODE, mt->pid, mt->chid, 0, _NTO_COF_CLOEXEC);
}

static long send_connect(int coid, int subtype, uint32_t handle, const char *rest)
{
    char buf[sizeof(struct _io_connect) + 256];
    struct _io_connect *c = (void *)buf;
    memset(buf, 0, sizeof buf);
    c->type = _IO_CONNECT;
    c->subtype = (uint16_t)subtype;
    c->handle = handle;
    c->ioflag = _IO_FLAG_RD | _IO_FLAG_WR;
    c->path_len = (uint16_t)(strlen(rest) + 1);
    memcpy(c->path, rest, c->path_len);
    return MsgSend(coid, c, offsetof(struct _io_connect, path) + c->path_len, NULL, 0);
}

/* Open `path` as a client library would: returns the coid or -1. */
static int raw_open(const char *path)
{
    struct pm_ps_match mt;
    int coid = raw_connect(path, &mt);
    if (coid < 0)
        return -1;
    if (send_connect(coid, _IO_CONNECT_OPEN, (uint32_t)mt.handle, mt.rest) < 0) {
        int e = errno;
        ConnectDetach(coid);
        errno = e;
        return -1;
    }
    return coid;
}

static long raw_read(int coid, void *buf, uint32_t n)
{
    struct _io_read r = { .type = _IO_READ, .nbytes = n };
    return MsgSend(coid, &r, sizeof r, buf, n);
}

static long raw_close(int coid)
{
    struct _io_close c = { .type = _IO_CLOSE };
    long st = MsgSend(coid, &c, sizeof c, NULL, 0);
    int e = errno;
    ConnectDetach(coid);
    errno = e;
    return st;
}

/* ---- tests ---- */

TEST(open_is_routed_by_handle)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    CHECK(m.ids[0] >= 0 && m.ids[1] != m.ids[0] && m.ids[2] != m.ids[1]);

    const char *paths[3] = { "/dev/pmt/a", "/dev/pmt/b", "/dev/pmt/c" };
    for (int round = 0; round < 2; round++)
        for (int i = 2; i >= 0; i--) {
            int coid = raw_open(paths[i]);
            CHECK(coid >= 0);
            if (coid < 0)
                continue;
            char buf[16] = { 0 };
            CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
            CHECK(buf[0] == 'A' + i && buf[1] == '0');
            CHECK_EQ_LONG(raw_close(coid), 0);
        }
    CHECK_EQ_LONG(atomic_load(&g.opens[0]), 2);
    CHECK_EQ_LONG(atomic_load(&g.opens[1]), 2);
    CHECK_EQ_LONG(atomic_load(&g.opens[2]), 2);
    CHECK_EQ_LONG(take_event(g.close_ev, 2000), 6);

    /* Other connect subtypes go to their handler by handle too. */
    struct pm_ps_match mt;
    int coid = raw_connect("/dev/pmt/b", &mt);
    REQUIRE(coid >= 0);
    errno = 0;
    CHECK(send_connect(coid, _IO_CONNECT_UNLINK, (uint32_t)mt.handle, "") == -1 &&
          errno == EROFS);
    CHECK_EQ_LONG(send_connect(coid, _IO_CONNECT_UNLINK, (uint32_t)m.ids[0], ""), 0);
    /* No mknod handler: ENOSYS.  A handle nobody attached: ENOENT. */
    errno = 0;
    CHECK(send_connect(coid, _IO_CONNECT_MKNOD, (uint32_t)m.ids[0], "") == -1 && errno == ENOSYS);
    errno = 0;
    CHECK(send_connect(coid, _IO_CONNECT_OPEN, 999, "") == -1 && errno == ENOENT);
    /* An _FTYPE_ANY attach takes connects of every file type; a typed one
     * refuses other types (ENOSYS) but takes _FTYPE_ANY. */
    char cb[sizeof(struct _io_connect) + 8];
    struct _io_connect *cc = (void *)cb;
    memset(cb, 0, sizeof cb);
    cc->type = _IO_CONNECT;
    cc->subtype = _IO_CONNECT_UNLINK;
    cc->handle = (uint32_t)m.ids[0];
    cc->file_type = _FTYPE_MQUEUE;
    cc->path_len = 1;
    CHECK_EQ_LONG(MsgSend(coid, cc, offsetof(struct _io_connect, path) + 1, NULL, 0), 0);
    int typed = resmgr_attach(m.dpp, NULL, NULL, _FTYPE_SHMEM, 0, &cfuncs, &iofuncs, &attrs[0]);
    CHECK(typed >= 0);
    cc->handle = (uint32_t)typed;
    errno = 0;
    CHECK(MsgSend(coid, cc, offsetof(struct _io_connect, path) + 1, NULL, 0) == -1 &&
          errno == ENOSYS);
    cc->file_type = _FTYPE_SHMEM;
    CHECK_EQ_LONG(MsgSend(coid, cc, offsetof(struct _io_connect, path) + 1, NULL, 0), 0);
    cc->file_type = _FTYPE_ANY;
    CHECK_EQ_LONG(MsgSend(coid, cc, offsetof(struct _io_connect, path) + 1, NULL, 0), 0);
    /* The open handler sees the rest of the path. */
    errno = 0;
    CHECK(send_connect(coid, _IO_CONNECT_OPEN, (uint32_t)m.ids[0], "sub") == -1 &&
          errno == ENOENT);
    ConnectDetach(coid);

    /* An attach without a path is an id, and nothing in the path space. */
    resmgr_attr_t ra = { 0 };
    int nopath = resmgr_attach(m.dpp, &ra, NULL, _FTYPE_ANY, 0, &cfuncs, &iofuncs, &attrs[3]);
    CHECK(nopath > m.ids[2]);
    CHECK(resmgr_detach(m.dpp, nopath, 0) == 0);
    errno = 0;
    CHECK(resmgr_detach(m.dpp, nopath, 0) == -1 && errno == EINVAL);
    CHECK(mgr_stop(&m) == 0);
}

struct late_arg {
    int coid;
    long rc;
    int err;
    char reply[8];
};

static void *late_client(void *arg)
{
    struct late_arg *a = arg;
    struct _io_devctl d = { .type = _IO_DEVCTL, .dcmd = (int32_t)DC_HOLD };
    a->rc = MsgSend(a->coid, &d, sizeof d, a->reply, sizeof a->reply);
    a->err = errno;
    return NULL;
}

TEST(io_messages_reach_the_bound_ocb_with_reply_conventions)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int coid = raw_open("/dev/pmt/c");
    REQUIRE(coid >= 0);

    /* stat: _RESMGR_PTR */
    struct _io_stat s = { .type = _IO_STAT };
    struct stat st;
    memset(&st, 0, sizeof st);
    CHECK_EQ_LONG(MsgSend(coid, &s, sizeof s, &st, sizeof st), 0);
    CHECK_EQ_LONG(st.st_size, 4202);
    CHECK(S_ISCHR(st.st_mode));

    /* lseek, then read shows the new position (NPARTS + status) */
    struct _io_lseek ls = { .type = _IO_LSEEK, .whence = SEEK_SET, .offset = 7 };
    uint64_t off = 0;
    CHECK_EQ_LONG(MsgSend(coid, &ls, sizeof ls, &off, sizeof off), 0);
    CHECK_EQ_LONG(off, 7);
    ls.whence = SEEK_END;
    errno = 0;
    CHECK(MsgSend(coid, &ls, sizeof ls, &off, sizeof off) == -1 && errno == EINVAL);
    char buf[16] = { 0 };
    CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
    CHECK(memcmp(buf, "C7", 2) == 0);

    /* write: data larger than any receive buffer, fetched by the handler */
    size_t big = 300 * 1024;
    unsigned char *data = malloc(sizeof(struct _io_write) + big);
    REQUIRE(data);
    struct _io_write w = { .type = _IO_WRITE, .nbytes = (uint32_t)big };
    memcpy(data, &w, sizeof w);
    uint64_t sum = 0;
    for (size_t i = 0; i < big; i++) {
        data[sizeof w + i] = (unsigned char)(i * 7);
        sum += (unsigned char)(i * 7);
    }
    CHECK_EQ_LONG(MsgSend(coid, data, sizeof w + big, NULL, 0), (long)big);
    free(data);
    memset(&st, 0, sizeof st);
    CHECK_EQ_LONG(MsgSend(coid, &s, sizeof s, &st, sizeof st), 0);
    CHECK_EQ_LONG(st.st_ino, sum);
    CHECK_EQ_LONG(st.st_blocks, big);

    /* devctl: errno, DEFAULT -> ENOTTY, data both ways, unknown */
    struct _io_devctl d = { .type = _IO_DEVCTL, .dcmd = (int32_t)DC_EPERM };
    errno = 0;
    CHECK(MsgSend(coid, &d, sizeof d, NULL, 0) == -1 && errno == EPERM);
    d.dcmd = (int32_t)DC_DEFAULT;
    errno = 0;
    CHECK(MsgSend(coid, &d, sizeof d, NULL, 0) == -1 && errno == ENOTTY);
    struct { struct _io_devctl_reply o; int v; } dr;
    memset(&dr, 0, sizeof dr);
    d.dcmd = (int32_t)DC_GET;
    d.nbytes = sizeof(int);
    CHECK_EQ_LONG(MsgSend(coid, &d, sizeof d, &dr, sizeof dr), 0);
    CHECK_EQ_LONG(dr.o.ret_val, 5);
    CHECK_EQ_LONG(dr.v, 1234);
    struct { struct _io_devctl i; int v; } dp = { { .type = _IO_DEVCTL, .dcmd = (int32_t)DC_PUT,
                                                    .nbytes = sizeof(int) }, 41 };
    memset(&dr, 0, sizeof dr);
    CHECK_EQ_LONG(MsgSend(coid, &dp, sizeof dp, &dr.o, sizeof dr.o), 0);
    CHECK_EQ_LONG(dr.o.ret_val, 42);

    /* _RESMGR_DEFAULT from read: ENOSYS; no handler (pathconf): ENOSYS */
    errno = 0;
    CHECK(raw_read(coid, buf, 999) == -1 && errno == ENOSYS);
    struct _io_pathconf pc = { .type = _IO_PATHCONF, .name = 1 };
    errno = 0;
    CHECK(MsgSend(coid, &pc, sizeof pc, NULL, 0) == -1 && errno == ENOSYS);
    struct _io_mmap mm;
    memset(&mm, 0, sizeof mm);
    mm.type = _IO_MMAP;
    errno = 0;
    CHECK(MsgSend(coid, &mm, sizeof mm, NULL, 0) == -1 && errno == ENOSYS);

    /* lock_ocb/unlock_ocb ran around every handler */
    CHECK(atomic_load(&g.locks) >= 8);
    CHECK_EQ_LONG(atomic_load(&g.locks), atomic_load(&g.unlocks));

    /* NOREPLY: the client waits until the manager replies later itself;
     * meanwhile the manager serves other clients. */
    int coid2 = raw_open("/dev/pmt/a");
    CHECK(coid2 >= 0);
    struct late_arg la = { .coid = coid };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, late_client, &la) == 0);
    CHECK_EQ_LONG(take_event(g.held_ev, 5000), 1);
    CHECK_EQ_LONG(raw_read(coid2, buf, sizeof buf), 2);
    CHECK(buf[0] == 'A');
    CHECK_EQ_LONG(MsgReply(g.held, 99, "late", 4), 0);
    CHECK(thread_join_ms(th, 5000) == 0);
    CHECK_EQ_LONG(la.rc, 99);
    CHECK(memcmp(la.reply, "late", 4) == 0);

    /* close: EOK, close_ocb once, then the connection has no OCB */
    struct _io_close c = { .type = _IO_CLOSE };
    CHECK_EQ_LONG(MsgSend(coid, &c, sizeof c, NULL, 0), 0);
    CHECK_EQ_LONG(take_event(g.close_ev, 2000), 1);
    errno = 0;
    CHECK(raw_read(coid, buf, sizeof buf) == -1 && errno == EBADF);
    ConnectDetach(coid);
    CHECK_EQ_LONG(raw_close(coid2), 0);
    CHECK_EQ_LONG(take_event(g.close_ev, 2000), 1);
    CHECK_EQ_LONG(atomic_load(&g.closes), 2);
    CHECK(mgr_stop(&m) == 0);
}

static void on_usr1(int sig)
{
    (void)sig;
}

TEST(unblock_pulse_lets_a_held_client_go_with_eintr)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    int coid = raw_open("/dev/pmt/a");
    REQUIRE(coid >= 0);
    struct late_arg la = { .coid = coid };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, late_client, &la) == 0);
    CHECK_EQ_LONG(take_event(g.held_ev, 5000), 1);
    /* Signal until the client gives up (the first signal may land before
     * it waits for the reply). */
    int done = -1;
    for (int i = 0; i < 50 && done != 0; i++) {
        pthread_kill(th, SIGUSR1);
        done = thread_join_ms(th, 100);
    }
    CHECK(done == 0);
    CHECK_EQ_LONG(la.rc, -1);
    CHECK_EQ_LONG(la.err, EINTR);
    /* The held rcvid is answered: a late reply fails cleanly. */
    errno = 0;
    CHECK(MsgReply(g.held, 0, NULL, 0) == -1 && errno == ESRCH);
    char buf[8];
    CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
    CHECK_EQ_LONG(raw_close(coid), 0);
    sigaction(SIGUSR1, &old, NULL);
    CHECK(mgr_stop(&m) == 0);
}

TEST(io_without_an_open_is_ebadf)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct pm_ps_match mt;
    int coid = raw_connect("/dev/pmt/a", &mt);
    REQUIRE(coid >= 0);
    char buf[8];
    errno = 0;
    CHECK(raw_read(coid, buf, sizeof buf) == -1 && errno == EBADF);
    struct _io_close c = { .type = _IO_CLOSE };
    errno = 0;
    CHECK(MsgSend(coid, &c, sizeof c, NULL, 0) == -1 && errno == EBADF);
    /* The same connection can then open, and only its own OCB is seen. */
    CHECK_EQ_LONG(send_connect(coid, _IO_CONNECT_OPEN, (uint32_t)mt.handle, ""), 0);
    CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
    int other = raw_connect("/dev/pmt/a", &mt);
    CHECK(other >= 0);
    errno = 0;
    CHECK(raw_read(other, buf, sizeof buf) == -1 && errno == EBADF);
    ConnectDetach(other);
    CHECK_EQ_LONG(raw_close(coid), 0);
    CHECK(mgr_stop(&m) == 0);
}

static int msg_func(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)flags;
    int v = *(int *)handle + code;
    MsgReply(ctp->rcvid, v, NULL, 0);
    return 0;
}

static int other_func(resmgr_context_t *ctp, void *msg)
{
    (void)msg;
    ctp->status = 4321;
    return EOK;
}

TEST(unknown_types_and_message_attach)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct pm_ps_match mt;
    int coid = raw_connect("/dev/pmt/a", &mt);
    REQUIRE(coid >= 0);
    uint16_t t[4] = { 0x2000, 0, 0, 0 };
    errno = 0;
    CHECK(MsgSend(coid, t, sizeof t, NULL, 0) == -1 && errno == ENOSYS);
    /* A reserved I/O type has no handler slot. */
    t[0] = _IO_RSVD_CLOSE_OCB;
    errno = 0;
    CHECK(MsgSend(coid, t, sizeof t, NULL, 0) == -1 && errno == ENOSYS);
    /* dispatch_handler() said -1 for the first (the one manager thread
     * finished it before taking the second). */
    CHECK(atomic_load(&m.handled_minus1) >= 1);

    static int base = 1000;
    CHECK_EQ_LONG(message_attach(m.dpp, NULL, 0x2000, 0x20ff, msg_func, &base), 0);
    errno = 0;
    CHECK(message_attach(m.dpp, NULL, 0x2080, 0x2100, msg_func, &base) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(message_attach(m.dpp, NULL, 0x1f0, 0x200, msg_func, &base) == -1 && errno == EINVAL);
    t[0] = 0x2005;
    CHECK_EQ_LONG(MsgSend(coid, t, sizeof t, NULL, 0), 1000 + 0x2005);
    t[0] = 0x2100;
    errno = 0;
    CHECK(MsgSend(coid, t, sizeof t, NULL, 0) == -1 && errno == ENOSYS);
    CHECK_EQ_LONG(message_detach(m.dpp, 0x2000, 0x20ff, 0), 0);
    t[0] = 0x2005;
    errno = 0;
    CHECK(MsgSend(coid, t, sizeof t, NULL, 0) == -1 && errno == ENOSYS);

    /* other_func from a resmgr_attr_t catches what nothing else does. */
    resmgr_attr_t ra = { .other_func = other_func };
    CHECK(resmgr_attach(m.dpp, &ra, NULL, _FTYPE_ANY, 0, &cfuncs, &iofuncs, &attrs[3]) >= 0);
    CHECK_EQ_LONG(MsgSend(coid, t, sizeof t, NULL, 0), 4321);
    ConnectDetach(coid);
    CHECK(mgr_stop(&m) == 0);
}

static int pulse_func(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)flags, (void)handle;
    atomic_store(&g.last_pulse_code, code);
    atomic_store(&g.last_pulse_value, ctp->msg->pulse.value.sival_int);
    signal_event(g.pulse_ev);
    return 0;
}

TEST(pulse_attach_and_alloc_pulse)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    CHECK_EQ_LONG(pulse_attach(m.dpp, 0, 5, pulse_func, NULL), 5);
    errno = 0;
    CHECK(pulse_attach(m.dpp, 0, 5, pulse_func, NULL) == -1 && errno == EINVAL);
    int code = pulse_attach(m.dpp, MSG_FLAG_ALLOC_PULSE, 0, pulse_func, NULL);
    CHECK(code >= _PULSE_CODE_MINAVAIL && code <= _DISPATCH_MAX_PULSE_CODE && code != 5);

    struct pm_ps_match mt;
    int coid = raw_connect("/dev/pmt/a", &mt);
    REQUIRE(coid >= 0);
    CHECK_EQ_LONG(MsgSendPulse(coid, -1, 5, 77), 0);
    CHECK_EQ_LONG(take_event(g.pulse_ev, 2000), 1);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_code), 5);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_value), 77);
    CHECK_EQ_LONG(MsgSendPulse(coid, -1, code, 78), 0);
    CHECK_EQ_LONG(take_event(g.pulse_ev, 2000), 1);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_code), code);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_value), 78);
    CHECK_EQ_LONG(pulse_detach(m.dpp, 5, 0), 0);
    /* A pulse nobody handles is dropped; the manager goes on. */
    CHECK_EQ_LONG(MsgSendPulse(coid, -1, 5, 79), 0);
    CHECK_EQ_LONG(MsgSendPulse(coid, -1, code, 80), 0);
    CHECK_EQ_LONG(take_event(g.pulse_ev, 2000), 1);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_value), 80);
    errno = 0;
    CHECK(pulse_attach(m.dpp, 0, 300, pulse_func, NULL) == -1 && errno == EINVAL);
    ConnectDetach(coid);
    CHECK(mgr_stop(&m) == 0);
}

static int killed_client(int in, int out, void *arg)
{
    (void)in, (void)arg;
    int coid = raw_open("/dev/pmt/b");
    char ok = coid >= 0 ? 'y' : 'n';
    child_write_full(out, &ok, 1);
    for (;;)
        pause();
    return 0;
}

TEST(disconnect_closes_the_ocb_of_a_killed_client)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct target t;
    REQUIRE(target_start(&t, killed_client, NULL) == 0);
    char ok = 0;
    CHECK(target_read(&t, &ok, 1, 5000) == 0 && ok == 'y');
    CHECK_EQ_LONG(atomic_load(&g.opens[1]), 1);
    CHECK_EQ_LONG(atomic_load(&g.closes), 0);
    kill(t.pid, SIGKILL);
    target_finish(&t, 5000);
    CHECK_EQ_LONG(take_event(g.close_ev, 5000), 1);
    /* A full round trip afterwards: nothing more was closed. */
    int coid = raw_open("/dev/pmt/b");
    CHECK(coid >= 0);
    char buf[8];
    CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
    CHECK_EQ_LONG(atomic_load(&g.closes), 1);
    /* A client that just disconnects without _IO_CLOSE: closed once too. */
    ConnectDetach(coid);
    CHECK_EQ_LONG(take_event(g.close_ev, 5000), 1);
    CHECK_EQ_LONG(atomic_load(&g.closes), 2);
    CHECK(mgr_stop(&m) == 0);
}

TEST(bad_messages_are_refused_and_the_manager_goes_on)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct pm_ps_match mt;
    int coid = raw_connect("/dev/pmt/a", &mt);
    REQUIRE(coid >= 0);
    char buf[sizeof(struct _io_connect) + 64];
    struct _io_connect *c = (void *)buf;

    /* a connect shorter than its header */
    memset(buf, 0, sizeof buf);
    c->type = _IO_CONNECT;
    c->subtype = _IO_CONNECT_OPEN;
    errno = 0;
    CHECK(MsgSend(coid, c, 10, NULL, 0) == -1 && errno == EBADMSG);
    /* path_len says more than was sent */
    c->path_len = 200;
    errno = 0;
    CHECK(MsgSend(coid, c, offsetof(struct _io_connect, path) + 5, NULL, 0) == -1 &&
          errno == EBADMSG);
    /* the path is not NUL-terminated where path_len says */
    c->path_len = 4;
    memcpy(c->path, "abcd", 4);
    errno = 0;
    CHECK(MsgSend(coid, c, offsetof(struct _io_connect, path) + 4, NULL, 0) == -1 &&
          errno == EBADMSG);
    /* extra_len beyond the message */
    c->path_len = 1;
    c->path[0] = 0;
    c->extra_len = 50;
    errno = 0;
    CHECK(MsgSend(coid, c, offsetof(struct _io_connect, path) + 1, NULL, 0) == -1 &&
          errno == EBADMSG);
    /* an unknown subtype */
    c->extra_len = 0;
    c->subtype = 77;
    errno = 0;
    CHECK(MsgSend(coid, c, offsetof(struct _io_connect, path) + 1, NULL, 0) == -1 &&
          errno == EINVAL);
    /* empty and one-byte messages */
    errno = 0;
    CHECK(MsgSend(coid, "", 0, NULL, 0) == -1 && errno == EBADMSG);
    errno = 0;
    CHECK(MsgSend(coid, "x", 1, NULL, 0) == -1 && errno == EBADMSG);

    /* now open for real, then lie in I/O messages */
    CHECK_EQ_LONG(send_connect(coid, _IO_CONNECT_OPEN, (uint32_t)mt.handle, ""), 0);
    struct { struct _io_write w; char d[10]; } wr = { { .type = _IO_WRITE, .nbytes = 1000 },
                                                       "123456789" };
    errno = 0;
    CHECK(MsgSend(coid, &wr, sizeof wr, NULL, 0) == -1 && errno == EBADMSG);
    wr.w.nbytes = 10;
    CHECK_EQ_LONG(MsgSend(coid, &wr, sizeof wr, NULL, 0), 10);
    uint16_t shortread[2] = { _IO_READ, 0 };
    errno = 0;
    CHECK(MsgSend(coid, shortread, sizeof shortread, NULL, 0) == -1 && errno == EBADMSG);
    struct _io_devctl d = { .type = _IO_DEVCTL, .dcmd = (int32_t)DC_PUT, .nbytes = 4096 };
    errno = 0;
    CHECK(MsgSend(coid, &d, sizeof d, NULL, 0) == -1 && errno == EBADMSG);
    struct _io_write64 w64 = { .type = _IO_WRITE64, .nbytes = 0, .nbytes_hi = 1 };
    errno = 0;
    CHECK(MsgSend(coid, &w64, sizeof w64, NULL, 0) == -1 && errno == EBADMSG);

    /* still serving */
    char rb[8];
    CHECK_EQ_LONG(raw_read(coid, rb, sizeof rb), 2);
    CHECK_EQ_LONG(raw_close(coid), 0);
    CHECK(mgr_stop(&m) == 0);
}

static void *pool_client(void *arg)
{
    int *ok = arg;
    int coid = raw_open("/dev/pmt/a");
    if (coid < 0)
        return NULL;
    char buf[8];
    long n = raw_read(coid, buf, 777);
    if (n == 2 && raw_close(coid) == 0)
        *ok = 1;
    return NULL;
}

TEST(thread_pool_serves_concurrent_clients_on_several_threads)
{
    int ids[3];
    REQUIRE(pathspace_fresh() == 0);
    init_funcs();
    reset_counters();
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    const char *paths[3] = { "/dev/pmt/a", "/dev/pmt/b", "/dev/pmt/c" };
    for (int i = 0; i < 3; i++)
        REQUIRE((ids[i] = resmgr_attach(dpp, NULL, paths[i], _FTYPE_ANY, 0, &cfuncs,
                                        &iofuncs, &attrs[i])) >= 0);
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.context_alloc = dispatch_context_alloc;
    pa.block_func = dispatch_block;
    pa.unblock_func = (void (*)(dispatch_context_t *))NULL;
    pa.handler_func = dispatch_handler;
    pa.context_free = dispatch_context_free;
    pa.lo_water = 4;
    pa.hi_water = 4;
    pa.increment = 1;
    pa.maximum = 4;
    errno = 0;
    thread_pool_attr_t bad = pa;
    bad.hi_water = 5;
    CHECK(thread_pool_create(&bad, 0) == NULL && errno == EINVAL);
    thread_pool_t *tp = thread_pool_create(&pa, 0);
    REQUIRE(tp);
    CHECK_EQ_LONG(thread_pool_start(tp), 0);

    pthread_t th[16];
    int ok[16] = { 0 };
    for (int i = 0; i < 16; i++)
        REQUIRE(pthread_create(&th[i], NULL, pool_client, &ok[i]) == 0);
    for (int i = 0; i < 16; i++)
        CHECK(thread_join_ms(th[i], 20000) == 0);
    int nok = 0;
    for (int i = 0; i < 16; i++)
        nok += ok[i];
    CHECK_EQ_LONG(nok, 16);
    CHECK(g.max_inside >= 2);
    CHECK(g.ntids >= 2 && g.ntids <= 4);
    CHECK_EQ_LONG(take_event(g.close_ev, 2000), 16);
    CHECK_EQ_LONG(thread_pool_destroy(tp), 0);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
}

/* ---- a disconnect closes the OCBs of the connection that went, not a newcomer's ---- */

/* close_ocb that, once armed, says it has started and waits (10 s at
 * most) to be let go: a manager flushing something on close. */
static struct {
    atomic_int armed;
    int started_ev, go_ev;
} slow_close;

static int slow_close_ocb(resmgr_context_t *ctp, void *reserved, struct my_ocb *o)
{
    if (atomic_exchange(&slow_close.armed, 0)) {
        signal_event(slow_close.started_ev);
        take_event(slow_close.go_ev, 10000);
    }
    return my_close_ocb(ctp, reserved, o);
}

TEST(a_stale_disconnect_leaves_the_open_of_the_slots_new_client_alone)
{
    /* Client A opens, then goes without closing: its disconnect pulse
     * closes its OCB on one pool thread (close_ocb slow, as a flush is).
     * Meanwhile B connects - into the slot A left - and opens on the other
     * thread.  The pulse names only the slot: B's open must survive it
     * (it used to be closed too, when the slot was looked at before B
     * came: B's next message got EBADF). */
    REQUIRE(pathspace_fresh() == 0);
    init_funcs();
    reset_counters();
    static resmgr_io_funcs_t slow_io;
    slow_io = iofuncs;
    slow_io.close_ocb = slow_close_ocb;
    slow_close.started_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    slow_close.go_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    REQUIRE(slow_close.started_ev >= 0 && slow_close.go_ev >= 0);
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/a", _FTYPE_ANY, 0, &cfuncs, &slow_io,
                          &attrs[0]) >= 0);
    /* Runs after the library has closed the departed connection's OCBs. */
    REQUIRE(pulse_attach(dpp, 0, _PULSE_CODE_DISCONNECT, pulse_func, NULL) ==
            _PULSE_CODE_DISCONNECT);
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.context_alloc = dispatch_context_alloc;
    pa.block_func = dispatch_block;
    pa.handler_func = dispatch_handler;
    pa.context_free = dispatch_context_free;
    pa.lo_water = pa.hi_water = pa.maximum = 2;
    pa.increment = 1;
    thread_pool_t *tp = thread_pool_create(&pa, 0);
    REQUIRE(tp);
    REQUIRE(thread_pool_start(tp) == 0);

    int a = raw_open("/dev/pmt/a");
    REQUIRE(a >= 0);
    int slot_a = atomic_load(&g.last_open_scoid);
    atomic_store(&slow_close.armed, 1);
    CHECK_EQ_LONG(ConnectDetach(a), 0);
    CHECK_EQ_LONG(take_event(slow_close.started_ev, 10000), 1);
    int b = raw_open("/dev/pmt/a");
    CHECK(b >= 0);
    /* The scenario: B took the slot A left. */
    CHECK_EQ_LONG(atomic_load(&g.last_open_scoid), slot_a);
    signal_event(slow_close.go_ev);
    CHECK_EQ_LONG(take_event(g.pulse_ev, 10000), 1);
    CHECK_EQ_LONG(atomic_load(&g.last_pulse_code), _PULSE_CODE_DISCONNECT);
    CHECK_EQ_LONG(atomic_load(&g.closes), 1);
    char buf[8] = { 0 };
    if (b >= 0) {
        errno = 0;
        CHECK_EQ_LONG(raw_read(b, buf, sizeof buf), 2);
        CHECK(memcmp(buf, "A0", 2) == 0);
        CHECK_EQ_LONG(raw_close(b), 0);
    }
    CHECK_EQ_LONG(atomic_load(&g.closes), 2);
    CHECK_EQ_LONG(thread_pool_destroy(tp), 0);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
    close(slow_close.started_ev);
    close(slow_close.go_ev);
}

/* ---- glibc's set*id() interrupts every other thread: the pool goes on ---- */

static int pool_tid;
static atomic_int pool_eintr;
static int pool_eintr_efd = -1; /* rung at each EINTR */
/* The system call glibc's epoll_wait() makes (aarch64 has only pwait). */
#ifdef SYS_epoll_wait
#define EPOLL_WAIT_NR SYS_epoll_wait
#else
#define EPOLL_WAIT_NR SYS_epoll_pwait
#endif

static dispatch_context_t *counting_block(dispatch_context_t *ctp)
{
    __atomic_store_n(&pool_tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    dispatch_context_t *r = dispatch_block(ctp);
    if (!r && errno == EINTR) {
        int e = errno;
        atomic_fetch_add(&pool_eintr, 1);
        signal_event(pool_eintr_efd);
        errno = e;
    }
    return r;
}

static int answer_func(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)flags;
    (void)handle;
    MsgReply(ctp->rcvid, code + 1, NULL, 0);
    return 0;
}

TEST(a_pool_thread_survives_another_threads_setuid)
{
    pool_eintr_efd = eventfd(0, EFD_CLOEXEC);
    REQUIRE(pool_eintr_efd >= 0);
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    CHECK_EQ_LONG(message_attach(dpp, NULL, 0x2000, 0x2000, answer_func, NULL), 0);
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.context_alloc = dispatch_context_alloc;
    pa.block_func = counting_block;
    pa.unblock_func = dispatch_unblock;
    pa.handler_func = dispatch_handler;
    pa.context_free = dispatch_context_free;
    pa.lo_water = pa.hi_water = pa.increment = pa.maximum = 1; /* one thread, never more */
    thread_pool_t *tp = thread_pool_create(&pa, 0);
    REQUIRE(tp);
    CHECK_EQ_LONG(thread_pool_start(tp), 0);
    uint16_t t[4] = { 0x2000, 0, 0, 0 };
    uint64_t ns = 10000000000ull;
    /* The one pool thread waits in MsgReceive(), i.e. epoll_wait(), with
     * nothing to wake it: a connection made before would (its server
     * accepts it), and /proc shows a woken thread where it slept until it
     * runs - the setuid's signal would then find it accepting instead. */
    CHECK(thread_in_syscall(&pool_tid, EPOLL_WAIT_NR, 10000) == 0);
    /* glibc makes every other thread of the process take SIGSETXID for a
     * setuid(): epoll_wait() then fails with EINTR, whatever SA_RESTART
     * says (QNX's MsgReceive() may fail so on a signal too). */
    CHECK_EQ_LONG(setuid(geteuid()), 0);
    CHECK_EQ_LONG(take_event(pool_eintr_efd, 10000), 1);
    CHECK_EQ_LONG(atomic_load(&pool_eintr), 1);
    /* The pool blocked again rather than lose its thread: a message is
     * still answered. */
    int coid = message_connect(dpp, MSG_FLAG_SIDE_CHANNEL);
    REQUIRE(coid >= 0);
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_SEND | _NTO_TIMEOUT_REPLY, NULL, &ns, NULL);
    CHECK_EQ_LONG(MsgSend(coid, t, sizeof t, NULL, 0), 0x2001);
    ConnectDetach(coid);
    CHECK_EQ_LONG(thread_pool_destroy(tp), 0);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
}

static int exiting_manager(int in, int out, void *arg)
{
    (void)arg;
    init_funcs();
    dispatch_t *dpp = dispatch_create();
    if (!dpp || resmgr_attach(dpp, NULL, "/dev/pmt/x", _FTYPE_ANY, 0, &cfuncs, &iofuncs,
                              &attrs[0]) < 0)
        return 1;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (!ctp)
        return 1;
    char r = 'r';
    child_write_full(out, &r, 1);
    /* Serve the test's open and read, then wait to be told to exit. */
    for (int served = 0; served < 2; served++) {
        if (!dispatch_block(ctp))
            return 1;
        dispatch_handler(ctp);
    }
    char q;
    child_read_full(in, &q, 1);
    return 0; /* exits holding the client's open */
}

TEST(manager_exit_fails_the_clients_next_send)
{
    REQUIRE(pathspace_fresh() == 0);
    struct target t;
    REQUIRE(target_start(&t, exiting_manager, NULL) == 0);
    char r = 0;
    REQUIRE(target_read(&t, &r, 1, 5000) == 0 && r == 'r');
    int coid = raw_open("/dev/pmt/x");
    CHECK(coid >= 0);
    char buf[8];
    CHECK_EQ_LONG(raw_read(coid, buf, sizeof buf), 2);
    char q = 'q';
    target_write(&t, &q, 1);
    int status = target_finish(&t, 5000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    errno = 0;
    CHECK(raw_read(coid, buf, sizeof buf) == -1 && (errno == ESRCH || errno == EBADF));
    ConnectDetach(coid);
    /* And its entry is gone with it. */
    struct pm_ps_match mt;
    errno = 0;
    CHECK(pm_pathspace_resolve("/dev/pmt/x", &mt) == -1 && errno == ENOENT);
}

TEST(detach_all_invalidates_opens_detach_pathname_keeps_them)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int a = raw_open("/dev/pmt/a");
    int b = raw_open("/dev/pmt/b");
    REQUIRE(a >= 0 && b >= 0);
    CHECK_EQ_LONG(resmgr_detach(m.dpp, m.ids[0], _RESMGR_DETACH_ALL), 0);
    CHECK_EQ_LONG(resmgr_detach(m.dpp, m.ids[1], _RESMGR_DETACH_PATHNAME), 0);
    struct pm_ps_match mt;
    errno = 0;
    CHECK(pm_pathspace_resolve("/dev/pmt/a", &mt) == -1 && errno == ENOENT);
    errno = 0;
    CHECK(pm_pathspace_resolve("/dev/pmt/b", &mt) == -1 && errno == ENOENT);
    char buf[8];
    errno = 0;
    CHECK(raw_read(a, buf, sizeof buf) == -1 && errno == EBADF);
    CHECK_EQ_LONG(raw_read(b, buf, sizeof buf), 2);
    CHECK_EQ_LONG(raw_close(a), 0);
    CHECK_EQ_LONG(raw_close(b), 0);
    CHECK_EQ_LONG(take_event(g.close_ev, 2000), 2);
    CHECK(mgr_stop(&m) == 0);
}

TEST(dispatch_argument_errors)
{
    errno = 0;
    CHECK(dispatch_create_channel(0, 0) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(dispatch_create_channel(1000, 0) == NULL && errno == EINVAL);
    /* An existing channel is used, and left alone by dispatch_destroy(). */
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    REQUIRE(chid > 0);
    dispatch_t *mine = dispatch_create_channel(chid, 0);
    CHECK(mine != NULL);
    if (mine)
        CHECK_EQ_LONG(dispatch_destroy(mine), 0);
    CHECK_EQ_LONG(ChannelDestroy(chid), 0);
    errno = 0;
    CHECK(resmgr_attach(NULL, NULL, "/x", _FTYPE_ANY, 0, NULL, NULL, NULL) == -1 &&
          errno == EINVAL);
    REQUIRE(pathspace_fresh() == 0);
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    errno = 0;
    CHECK(resmgr_attach(dpp, NULL, "relative", _FTYPE_ANY, 0, NULL, NULL, NULL) == -1 &&
          errno == EINVAL);
    errno = 0;
    CHECK(resmgr_attach(dpp, NULL, "/x", _FTYPE_ANY, _RESMGR_FLAG_BEFORE | _RESMGR_FLAG_AFTER,
                        NULL, NULL, NULL) == -1 && errno == EINVAL);
    /* A directory attach resolves below itself. */
    int id = resmgr_attach(dpp, NULL, "/srv/dir", _FTYPE_ANY, _RESMGR_FLAG_DIR, NULL, NULL, NULL);
    CHECK(id >= 0);
    struct pm_ps_match mt;
    CHECK_EQ_LONG(pm_pathspace_resolve("/srv/dir/x/y", &mt), 0);
    CHECK_EQ_LONG(mt.handle, id);
    CHECK(strcmp(mt.rest, "x/y") == 0);
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    REQUIRE(ctp);
    CHECK(ctp->resmgr_context.msg_max_size >= sizeof(resmgr_iomsgs_t));
    CHECK(ctp->resmgr_context.nparts_max >= 1);
    /* dispatch_unblock() before anyone blocks stops the next block. */
    dispatch_unblock(ctp);
    errno = 0;
    CHECK(dispatch_block(ctp) == NULL && errno == ECANCELED);
    dispatch_context_free(ctp);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
    errno = 0;
    CHECK(pm_pathspace_resolve("/srv/dir/x", &mt) == -1 && errno == ENOENT);
}

TEST(thread_pool_grows_from_lo_water_and_stays_under_maximum)
{
    REQUIRE(pathspace_fresh() == 0);
    init_funcs();
    reset_counters();
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/a", _FTYPE_ANY, 0, &cfuncs, &iofuncs,
                          &attrs[0]) >= 0);
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.block_func = dispatch_block;
    pa.handler_func = dispatch_handler;
    /* context_alloc/free and unblock_func left to their defaults */
    pa.lo_water = 1;
    pa.hi_water = 2;
    pa.increment = 1;
    pa.maximum = 3;
    thread_pool_t *tp = thread_pool_create(&pa, 0);
    REQUIRE(tp);
    CHECK_EQ_LONG(thread_pool_start(tp), 0);
    errno = 0;
    CHECK(thread_pool_start(tp) == -1 && errno == EBUSY);
    pthread_t th[8];
    int ok[8] = { 0 };
    for (int i = 0; i < 8; i++)
        REQUIRE(pthread_create(&th[i], NULL, pool_client, &ok[i]) == 0);
    for (int i = 0; i < 8; i++)
        CHECK(thread_join_ms(th[i], 20000) == 0);
    int nok = 0;
    for (int i = 0; i < 8; i++)
        nok += ok[i];
    CHECK_EQ_LONG(nok, 8);
    CHECK(g.max_inside >= 2 && g.max_inside <= 3);
    CHECK(g.ntids >= 2); /* threads may come and go: ids over time */
    CHECK_EQ_LONG(thread_pool_destroy(tp), 0);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
}

TEST(entry_permissions_follow_the_attr_with_iofunc_open_default)
{
    REQUIRE(pathspace_fresh() == 0);
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    struct pm_ps_match mt;
    /* Not the iofunc open: the handle is opaque, everyone may reach it. */
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/opaque", _FTYPE_ANY, 0, &cfuncs, &iofuncs,
                          &attrs[0]) >= 0);
    REQUIRE(pm_pathspace_resolve("/dev/pmt/opaque", &mt) == 0);
    CHECK_EQ_LONG(mt.mode & 0777, 0666);
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/named", _FTYPE_NAME, 0, NULL, NULL, NULL) >= 0);
    REQUIRE(pm_pathspace_resolve("/dev/pmt/named", &mt) == 0);
    CHECK(S_ISNAM(mt.mode));
    /* Only the address of iofunc_open_default is used: resmgr_attach()
     * recognises it; nothing of src/iofunc runs here. */
    resmgr_connect_funcs_t cf;
    memset(&cf, 0, sizeof cf);
    cf.nfuncs = _RESMGR_CONNECT_NFUNCS;
    cf.open = (void *)iofunc_open_default;
    iofunc_attr_t a600, a220;
    memset(&a600, 0, sizeof a600);
    memset(&a220, 0, sizeof a220);
    a600.mode = S_IFCHR | 0600;
    a220.mode = S_IFCHR | 0220;
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/p600", _FTYPE_ANY, 0, &cf, &iofuncs,
                          (void *)&a600) >= 0);
    REQUIRE(resmgr_attach(dpp, NULL, "/dev/pmt/p220", _FTYPE_ANY, 0, &cf, &iofuncs,
                          (void *)&a220) >= 0);
    REQUIRE(pm_pathspace_resolve("/dev/pmt/p600", &mt) == 0);
    CHECK_EQ_LONG(mt.mode, S_IFCHR | 0600);
    REQUIRE(pm_pathspace_resolve("/dev/pmt/p220", &mt) == 0);
    CHECK_EQ_LONG(mt.mode, S_IFCHR | 0660);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
}
