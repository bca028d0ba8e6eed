/*
 * The client's memory manager: pm_mmap(), pm_munmap(), pm_msync(),
 * pm_mprotect() on files that resource managers serve.
 *
 * Each test starts a resource manager in a forked child.  It serves several
 * paths (kinds below): files whose bytes come from read handlers (and are
 * counted: a shared anonymous page holds the counters, so the test reads
 * them directly), a file it hands over as a shared memory object, one with
 * an old-style mmap reply, one without mmap handler, one whose reads are
 * never answered, one that refuses _IO_XTYPE_OFFSET (pread/pwrite), one
 * that says CACHE_FORCE_INVALIDATE and REMOVABLE.  Everything is synchronised with pipes, eventfds and
 * waitid; nothing sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/dispatch.h"
#include "sys/iofunc.h"
#include "sys/iomsg.h"
#include "sys/neutrino.h"
#include "sys/resmgr.h"

enum kind { K_PAT, K_BIG, K_SHM, K_OLD, K_NOMMAP, K_STALL, K_NOXT, K_FORCE, K_STICKY, NK };
static const char *const kind_name[NK] = { "pat", "big", "shm", "old", "nommap", "stall",
                                          "noxt", "force", "sticky" };

/* The page size is the kernel's (4, 16 or 64 KiB on aarch64), never 4096. */
#define PG ((unsigned)sysconf(_SC_PAGESIZE))
#define PG_MAX 65536u
#define PAT_SIZE (5 * PG + 100)          /* the last page is mostly past EOF */
#define BIG_SIZE (1ull << 30)
#define SHM_SIZE (16 * PG)
#define MAX_READ (2u << 20)

/* Shared between the test and its manager (MAP_SHARED|MAP_ANONYMOUS). */
struct stats {
    _Atomic uint64_t bytes_read, bytes_written, writes;
    atomic_int priv_closes;
    atomic_int count_after_close[NK];  /* attr->count after a privileged close */
    unsigned char content[5 * PG_MAX + 100]; /* K_PAT and K_OLD's bytes */
};
static struct stats *S;
static int close_efd = -1;  /* eventfd: a privileged OCB was closed */

static unsigned char pat(uint64_t off)
{
    return (unsigned char)((off * 131u) ^ (off >> 12) ^ 0x5a);
}

/* ---- the manager (runs in the child) ---- */

struct fattr {
    iofunc_attr_t a;
    int kind;
};

static int shm_fd = -1;
static unsigned char *shm_map;
static struct fattr files[NK];
static unsigned char rbuf[MAX_READ];

static int my_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    struct fattr *fa = (struct fattr *)ocb->attr;
    int st = iofunc_read_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    if (fa->kind == K_STALL)
        return _RESMGR_NOREPLY;   /* the client waits until its deadline */
    uint64_t n = _IO_READ_GET_NBYTES(msg);
    int xoff = (msg->i.xtype & _IO_XTYPE_MASK) == _IO_XTYPE_OFFSET;
    if (xoff && fa->kind == K_NOXT)
        return ENOSYS;
    uint64_t off = xoff ? (uint64_t)((struct _xtype_offset *)(&msg->i + 1))->offset
                        : (uint64_t)ocb->offset;
    uint64_t size = (uint64_t)fa->a.nbytes;
    n = off >= size ? 0 : (n < size - off ? n : size - off);
    if (n > MAX_READ)
        n = MAX_READ;
    for (uint64_t i = 0; i < n; i++)
        rbuf[i] = fa->kind == K_BIG ? pat(off + i) : S->content[off + i];
    S->bytes_read += n;
    if (!xoff)
        ocb->offset += (off_t)n;
    SETIOV(ctp->iov, rbuf, n);
    _IO_SET_READ_NBYTES(ctp, (long)n);
    return _RESMGR_NPARTS(1);
}

static int my_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
    struct fattr *fa = (struct fattr *)ocb->attr;
    int st = iofunc_write_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    uint64_t n = _IO_WRITE_GET_NBYTES(msg);
    int xoff = (msg->i.xtype & _IO_XTYPE_MASK) == _IO_XTYPE_OFFSET;
    if (xoff && fa->kind == K_NOXT)
        return ENOSYS;
    uint64_t off = xoff ? (uint64_t)((struct _xtype_offset *)(&msg->i + 1))->offset
                        : (uint64_t)ocb->offset;
    if (fa->kind == K_BIG || off + n > PAT_SIZE)
        return ENOSPC;
    size_t hdr = sizeof msg->i + (xoff ? sizeof(struct _xtype_offset) : 0);
    if (resmgr_msgread(ctp, S->content + off, (size_t)n, hdr) != (ssize_t)n)
        return EIO;
    S->bytes_written += n;
    S->writes++;
    if (!xoff)
        ocb->offset += (off_t)n;
    _IO_SET_WRITE_NBYTES(ctp, (long)n);
    return EOK;
}

static int my_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb)
{
    struct fattr *fa = (struct fattr *)ocb->attr;
    io_mmap_ext_t *m = (io_mmap_ext_t *)msg;
    if (fa->kind == K_OLD)
        return iofunc_mmap(ctp, msg, ocb, NULL);   /* the base reply only */
    if (fa->kind == K_SHM) {
        int r = iofunc_mmap_ext(ctp, m, ocb, NULL,
                                _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT |
                                _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_PREFERRED),
                                NULL);
        if (r < 0)
            m->o.base.fd = shm_fd;
        return r;
    }
    if (fa->kind == K_FORCE)
        return iofunc_mmap_ext(ctp, m, ocb, NULL,
                               _IO_MMAP_REPLY_FLAGS_CACHE_FORCE_INVALIDATE |
                               _IO_MMAP_REPLY_FLAGS_REMOVABLE |
                               _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_T64_2008),
                               NULL);
    return iofunc_mmap_default_ext(ctp, m, ocb);
}

static int my_close_ocb(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
    struct fattr *fa = (struct fattr *)ocb->attr;
    int priv = (ocb->flags & IOFUNC_OCB_PRIVILEGED) != 0;
    int r = iofunc_close_ocb_default(ctp, reserved, ocb);
    if (priv) {
        S->count_after_close[fa->kind] = fa->a.count;
        S->priv_closes++;
        uint64_t one = 1;
        if (write(close_efd, &one, sizeof one) != sizeof one) {
            /* cannot happen */
        }
    }
    return r;
}

struct mcmd {
    char op;          /* 'w': shm[off] = val; 'r': answer shm[off];
                       * 'm': K_PAT's mtime moves */
    uint32_t off;
    unsigned char val;
};

static void *serve(void *arg)
{
    dispatch_context_t *ctp = arg;
    for (;;) {
        if (!dispatch_block(ctp))
            continue;
        dispatch_handler(ctp);
    }
    return NULL;
}

static int mgr_main(int cmd_r, int ack_w, char (*paths)[96])
{
    static resmgr_connect_funcs_t cf;
    static resmgr_io_funcs_t iof, iof_nommap;
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        return 10;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
    iof.read = (void *)my_read;
    iof.write = (void *)my_write;
    iof.mmap = (void *)my_mmap;
    iof.close_ocb = (void *)my_close_ocb;
    iof_nommap = iof;
    iof_nommap.mmap = NULL;
    shm_fd = memfd_create("test-shm", MFD_CLOEXEC);
    if (shm_fd < 0 || ftruncate(shm_fd, SHM_SIZE) < 0)
        return 11;
    shm_map = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
    if (shm_map == MAP_FAILED)
        return 12;
    for (int k = 0; k < NK; k++) {
        iofunc_attr_init(&files[k].a, S_IFREG | 0666 | (k == K_STICKY ? S_ISVTX : 0),
                         NULL, NULL);
        files[k].kind = k;
        files[k].a.inode = (ino_t)(100 + k);
        files[k].a.nbytes = k == K_BIG ? (off_t)BIG_SIZE : k == K_SHM ? SHM_SIZE
                         : k == K_STALL ? (off_t)(64 * PG) : PAT_SIZE;
        if (resmgr_attach(dpp, NULL, paths[k], _FTYPE_ANY, 0, &cf,
                          k == K_NOMMAP ? &iof_nommap : &iof, &files[k].a) < 0)
            return 13;
    }
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    pthread_t th;
    if (!ctp || pthread_create(&th, NULL, serve, ctp) != 0)
        return 14;
    char ok = 'r';
    if (write(ack_w, &ok, 1) != 1)
        return 15;
    struct mcmd c;
    while (child_read_full(cmd_r, &c, sizeof c) == 0) {
        unsigned char ans = 0;
        if (c.op == 'w')
            shm_map[c.off % SHM_SIZE] = c.val;
        else if (c.op == 'm')
            __atomic_add_fetch(&files[K_PAT].a.mtime, 10, __ATOMIC_SEQ_CST);
        else
            ans = shm_map[c.off % SHM_SIZE];
        if (write(ack_w, &ans, 1) != 1)
            break;
    }
    return 0;
}

/* ---- the test's side ---- */

struct mgr {
    pid_t pid;
    int cmd_w, ack_r;
    char path[NK][96];
};

static int mgr_start(struct mgr *m)
{
    static int seq;
    if (!S) {
        S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (S == MAP_FAILED)
            return -1;
        if (pathspace_fresh() < 0)
            return -1;
        close_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    memset(S, 0, sizeof *S);
    for (uint64_t i = 0; i < PAT_SIZE; i++)
        S->content[i] = pat(i);
    uint64_t v;
    while (read(close_efd, &v, sizeof v) == sizeof v) {}
    seq++;
    for (int k = 0; k < NK; k++)
        snprintf(m->path[k], sizeof m->path[k], "/dev/pmm-%d-%d-%s", (int)getpid(), seq,
                 kind_name[k]);
    int cp[2], ap[2];
    if (pipe2(cp, O_CLOEXEC) < 0 || pipe2(ap, O_CLOEXEC) < 0)
        return -1;
    m->pid = fork();
    if (m->pid < 0)
        return -1;
    if (m->pid == 0) {
        close(cp[1]);
        close(ap[0]);
        _exit(mgr_main(cp[0], ap[1], m->path));
    }
    close(cp[0]);
    close(ap[1]);
    m->cmd_w = cp[1];
    m->ack_r = ap[0];
    struct pollfd p = { m->ack_r, POLLIN, 0 };
    char c;
    if (poll(&p, 1, 10000) != 1 || read(m->ack_r, &c, 1) != 1) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        return -1;
    }
    return 0;
}

static void mgr_kill(struct mgr *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        m->pid = 0;
    }
}

static void mgr_stop(struct mgr *m)
{
    mgr_kill(m);
    close(m->cmd_w);
    close(m->ack_r);
}

/* Ask the manager to write or read a byte of its shared memory object. */
static int mgr_cmd(struct mgr *m, char op, uint32_t off, unsigned char val)
{
    struct mcmd c = { op, off, val };
    unsigned char ans;
    struct pollfd p = { m->ack_r, POLLIN, 0 };
    if (write(m->cmd_w, &c, sizeof c) != sizeof c || poll(&p, 1, 10000) != 1 ||
        read(m->ack_r, &ans, 1) != 1)
        return -1;
    return ans;
}

static int wait_event(int efd, int ms)
{
    struct pollfd p = { efd, POLLIN, 0 };
    uint64_t v;
    if (poll(&p, 1, ms) != 1 || read(efd, &v, sizeof v) != sizeof v)
        return -1;
    return 0;
}

#define OPEN(m, k, fl)                                                      \
    ({                                                                      \
        int fd_ = pm_open((m)->path[k], (fl));                              \
        if (fd_ < 0)                                                        \
            fprintf(stderr, "  pm_open %s: %s (%s)\n", (m)->path[k],        \
                    strerror(errno), peermap_errmsg());                     \
        fd_;                                                                \
    })

static void *map_or_say(size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = pm_mmap(NULL, len, prot, flags, fd, off);
    if (p == MAP_FAILED)
        fprintf(stderr, "  pm_mmap: %s (%s)\n", strerror(errno), peermap_errmsg());
    return p;
}

/* ---- tests ---- */

TEST(plain_fd_is_plain_mmap)
{
    char name[] = "/tmp/pm-memmgr-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    unlink(name);
    REQUIRE(write(fd, "hello", 5) == 5);
    char *p = pm_mmap(NULL, 5, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(memcmp(p, "hello", 5) == 0);
    CHECK_EQ_LONG(pm_msync(p, 5, MS_SYNC), 0);
    CHECK_EQ_LONG(pm_mprotect(p, PG, PROT_READ | PROT_WRITE), 0);
    p[0] = 'j';
    CHECK_EQ_LONG(pm_munmap(p, 5), 0);
    char b[5];
    CHECK(pread(fd, b, 5, 0) == 5 && memcmp(b, "jello", 5) == 0);
    close(fd);
    /* Anonymous mappings too. */
    p = pm_mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    p[1] = 1;
    CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    errno = 0;
    CHECK(pm_munmap(NULL, 0) == -1 && errno == EINVAL);
}

TEST(paged_read_small_file)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd >= 0);
    size_t len = 8 * PG;   /* two pages past the file's last one */
    unsigned char *p = map_or_say(len, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        int bad = 0;
        for (size_t i = 0; i < PAT_SIZE; i++)
            bad += p[i] != pat(i);
        CHECK_EQ_LONG(bad, 0);
        for (size_t i = PAT_SIZE; i < len; i++)
            bad += p[i] != 0;
        CHECK_EQ_LONG(bad, 0);       /* zeros past the end of the file */
        CHECK_EQ_LONG(S->bytes_read, PAT_SIZE);
        /* An offset mapping sees the same bytes (already cached). */
        unsigned char *q = map_or_say(PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);
        if (q != MAP_FAILED) {
            CHECK(q[5] == pat(2 * PG + 5));
            CHECK_EQ_LONG(pm_munmap(q, PG), 0);
        }
        /* A hole punched in the middle: the rest stays mapped and paged. */
        CHECK_EQ_LONG(pm_munmap(p + 2 * PG, PG), 0);
        CHECK(p[3 * PG] == pat(3 * PG));
        CHECK_EQ_LONG(pm_msync(p, 2 * PG, MS_SYNC), 0);
        CHECK_EQ_LONG(pm_munmap(p, len), 0);
        CHECK_EQ_LONG(S->bytes_read, PAT_SIZE);
        /* PROT_NONE first, readable later. */
        q = map_or_say(PG, PROT_NONE, MAP_SHARED, fd, PG);
        if (q != MAP_FAILED) {
            CHECK_EQ_LONG(pm_mprotect(q, PG, PROT_READ), 0);
            CHECK(q[8] == pat(PG + 8));
            CHECK_EQ_LONG(pm_munmap(q, PG), 0);
        }
    }
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(one_gib_resource_reads_only_what_is_touched)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_BIG, O_RDONLY);
    REQUIRE(fd >= 0);
    long long t0 = now_ms();
    unsigned char *p = map_or_say(BIG_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    long long t1 = now_ms();
    if (p != MAP_FAILED) {
        CHECK(t1 - t0 < 1000);
        uint64_t at[3] = { 0, BIG_SIZE / 2 + 12345, BIG_SIZE - 1 };
        for (int i = 0; i < 3; i++)
            CHECK(p[at[i]] == pat(at[i]));
        CHECK(S->bytes_read > 0);
        CHECK(S->bytes_read < (8u << 20));
        CHECK_EQ_LONG(pm_munmap(p, BIG_SIZE), 0);
    }
    /* PROT_NONE first, readable later: the fault is served then. */
    volatile unsigned char *q = map_or_say(PG, PROT_NONE, MAP_PRIVATE, fd, 1 << 20);
    if (q != MAP_FAILED) {
        CHECK_EQ_LONG(pm_mprotect((void *)q, PG, PROT_READ), 0);
        CHECK(q[8] == pat((1 << 20) + 8));
        CHECK_EQ_LONG(pm_munmap((void *)q, PG), 0);
    }
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(write_back_on_msync_and_munmap)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDWR);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[10] == pat(10));
        CHECK(p[5 * PG + 3] == pat(5 * PG + 3));
        p[PG + 7] = 0xee;
        p[3 * PG + 9] = 0xdd;
        CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_SYNC), 0);
        CHECK(S->content[PG + 7] == 0xee && S->content[3 * PG + 9] == 0xdd);
        CHECK_EQ_LONG(S->bytes_written, 2 * PG);   /* only the changed pages */
        CHECK_EQ_LONG(S->writes, 2);
        /* Nothing changed since: nothing is sent. */
        CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_SYNC), 0);
        CHECK_EQ_LONG(S->writes, 2);
        /* The last page: only what lies within the file goes back. */
        p[5 * PG + 1] = 0xcc;
        p[0] = 0xbb;
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
        CHECK(S->content[0] == 0xbb && S->content[5 * PG + 1] == 0xcc);
        CHECK_EQ_LONG(S->bytes_written, 3 * PG + 100);
        CHECK(S->content[2 * PG] == pat(2 * PG));
    }
    /* MAP_PRIVATE changes never reach the manager. */
    uint64_t w = S->writes;
    p = map_or_say(PAT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[0] == 0xbb);   /* the shared write-back is what it reads */
        p[2 * PG] = 0x11;
        CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_SYNC), 0);
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
        CHECK_EQ_LONG(S->writes, w);
        CHECK(S->content[2 * PG] == pat(2 * PG));
    }
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(allowed_prot_is_enforced)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd >= 0);
    errno = 0;
    CHECK(pm_mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
          errno == EACCES);
    unsigned char *p = map_or_say(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[1] == pat(1));
        p[1] = 0;   /* a private copy */
        CHECK_EQ_LONG(pm_munmap(p, PG), 0);
        CHECK(S->content[1] == pat(1));
    }
    p = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        errno = 0;
        CHECK(pm_mprotect(p, PG, PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
        CHECK_EQ_LONG(pm_mprotect(p, PG, PROT_READ), 0);
        CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    }
    int wfd = OPEN(&m, K_PAT, O_WRONLY);
    if (wfd >= 0) {
        errno = 0;
        CHECK(pm_mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wfd, 0) == MAP_FAILED &&
              errno == EACCES);
        CHECK_EQ_LONG(pm_close(wfd), 0);
    }
    errno = 0;
    CHECK(pm_mmap((void *)1, PG, PROT_READ, MAP_SHARED | MAP_FIXED, 12345, 0) == MAP_FAILED);
    errno = 0;
    CHECK(pm_mmap(NULL, PG, PROT_READ, MAP_SHARED, 12345, 0) == MAP_FAILED && errno == EBADF);
    errno = 0;
    CHECK(pm_mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EINVAL);
    errno = 0;
    CHECK(pm_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 5) == MAP_FAILED && errno == EINVAL);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(old_style_reply_and_no_mmap_handler)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_OLD, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[4 * PG + 1] == pat(4 * PG + 1));
        CHECK(p[PAT_SIZE - 1] == pat(PAT_SIZE - 1));
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    }
    CHECK_EQ_LONG(pm_close(fd), 0);
    fd = OPEN(&m, K_NOMMAP, O_RDONLY);
    REQUIRE(fd >= 0);
    errno = 0;
    CHECK(pm_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(objects_are_reused_then_expire)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    setenv("PEERMAP_MEMMGR_IDLE_MS", "60000", 1);
    int fd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(p[3 * PG] == pat(3 * PG));
    CHECK(p[0] == pat(0));
    uint64_t served = S->bytes_read;
    CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    /* Again on the same fd: the same object, no page read again. */
    p = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[3 * PG] == pat(3 * PG) && p[0] == pat(0));
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    }
    /* Through another open: a fresh connection names the cached object. */
    int fd2 = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd2 >= 0);
    p = map_or_say(PAT_SIZE, PROT_READ, MAP_PRIVATE, fd2, 0);
    if (p != MAP_FAILED) {
        CHECK(p[3 * PG] == pat(3 * PG) && p[0] == pat(0));
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    }
    CHECK_EQ_LONG(S->bytes_read, served);
    /* The extra connection was closed at once (its privileged OCB too). */
    CHECK(wait_event(close_efd, 5000) == 0);
    CHECK_EQ_LONG(S->priv_closes, 1);
    CHECK_EQ_LONG(pm_close(fd2), 0);
    /* Idle expiry: map and unmap with a short idle time; the manager sees
     * the privileged OCB closed and the open count drop to ours. */
    setenv("PEERMAP_MEMMGR_IDLE_MS", "50", 1);
    p = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        CHECK(p[0] == pat(0));
        CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    }
    CHECK(wait_event(close_efd, 5000) == 0);
    CHECK_EQ_LONG(S->priv_closes, 2);
    CHECK_EQ_LONG(S->count_after_close[K_PAT], 1);   /* fd is still open */
    CHECK_EQ_LONG(pm_close(fd), 0);
    unsetenv("PEERMAP_MEMMGR_IDLE_MS");
    mgr_stop(&m);
}

/* S_ISVTX: the object stays cached when unused, past the idle time that
 * closes an ordinary one. */
TEST(sticky_objects_stay_cached)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    setenv("PEERMAP_MEMMGR_IDLE_MS", "50", 1);
    int sfd = OPEN(&m, K_STICKY, O_RDONLY), pfd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(sfd >= 0 && pfd >= 0);
    int base = S->priv_closes;
    unsigned char *sp = map_or_say(PG, PROT_READ, MAP_SHARED, sfd, 0);
    unsigned char *pp = map_or_say(PG, PROT_READ, MAP_SHARED, pfd, 0);
    REQUIRE(sp != MAP_FAILED && pp != MAP_FAILED);
    CHECK(sp[0] == pat(0) && pp[0] == pat(0));
    /* The sticky one first: an ordinary object would expire first. */
    CHECK_EQ_LONG(pm_munmap(sp, PG), 0);
    CHECK_EQ_LONG(pm_munmap(pp, PG), 0);
    CHECK(wait_event(close_efd, 5000) == 0);
    /* A round trip after the close: any other disconnect queued before it
     * has been handled by now. */
    unsigned char b;
    CHECK_EQ_LONG(pm_read(pfd, &b, 1), 1);
    CHECK_EQ_LONG(S->priv_closes, base + 1);
    CHECK_EQ_LONG(S->count_after_close[K_PAT], 1);   /* pfd is still open */
    /* Mapped again: the same object, no page read again. */
    uint64_t served = S->bytes_read;
    sp = map_or_say(PG, PROT_READ, MAP_SHARED, sfd, 0);
    if (sp != MAP_FAILED) {
        CHECK(sp[0] == pat(0));
        CHECK_EQ_LONG(pm_munmap(sp, PG), 0);
    }
    CHECK_EQ_LONG(S->bytes_read, served);
    CHECK_EQ_LONG(pm_close(sfd), 0);
    CHECK_EQ_LONG(pm_close(pfd), 0);
    unsetenv("PEERMAP_MEMMGR_IDLE_MS");
    mgr_stop(&m);
}

static int shm_child(int in, int out, void *arg)
{
    const char *path = arg;
    int fd = pm_open(path, O_RDWR);
    if (fd < 0)
        return 2;
    volatile unsigned char *p = pm_mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                                        fd, 0);
    if (p == MAP_FAILED)
        return 3;
    char c = 'r';
    if (child_write_full(out, &c, 1) < 0)
        return 4;
    /* Each command byte: report the byte at 100, then write 0x77 at 300. */
    while (child_read_full(in, &c, 1) == 0 && c != 'q') {
        unsigned char v = p[100];
        if (c == 'w')
            p[300] = 0x77;
        if (child_write_full(out, &v, 1) < 0)
            return 5;
    }
    return pm_munmap((void *)p, SHM_SIZE) == 0 ? 0 : 6;
}

TEST(server_shmem_object_is_shared_live)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_SHM, O_RDWR);
    REQUIRE(fd >= 0);
    volatile unsigned char *p = map_or_say(SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    struct target t;
    REQUIRE(target_start(&t, shm_child, m.path[K_SHM]) == 0);
    char c;
    CHECK(target_read(&t, &c, 1, 10000) == 0);
    /* The manager writes: both clients see it at once. */
    CHECK_EQ_LONG(mgr_cmd(&m, 'w', 100, 0x42), 0);
    CHECK(p[100] == 0x42);
    unsigned char v = 0;
    c = 'w';
    CHECK(target_write(&t, &c, 1) == 0 && target_read(&t, &v, 1, 10000) == 0);
    CHECK_EQ_LONG(v, 0x42);
    /* The other client wrote: the manager and we see it. */
    CHECK_EQ_LONG(mgr_cmd(&m, 'r', 300, 0), 0x77);
    CHECK(p[300] == 0x77);
    /* We write: the manager sees it. */
    p[500] = 0x99;
    CHECK_EQ_LONG(mgr_cmd(&m, 'r', 500, 0), 0x99);
    CHECK_EQ_LONG(S->bytes_read, 0);   /* zero-copy: no read at all */
    c = 'q';
    CHECK(target_write(&t, &c, 1) == 0);
    int st = target_finish(&t, 10000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(pm_munmap((void *)p, SHM_SIZE), 0);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

static sigjmp_buf bus_jb;
static void on_bus(int sig)
{
    (void)sig;
    siglongjmp(bus_jb, 1);
}

static int arm_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_bus;
    return sigaction(SIGBUS, &sa, NULL);
}

static int killed_child(int in, int out, void *arg)
{
    const char *path = arg;
    int fd = pm_open(path, O_RDONLY);
    if (fd < 0)
        return 2;
    volatile unsigned char *p = pm_mmap(NULL, BIG_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return 3;
    if (p[0] != pat(0))
        return 4;
    char c = 'r';
    if (child_write_full(out, &c, 1) < 0 || child_read_full(in, &c, 1) < 0)
        return 5;
    /* The manager is dead now. */
    if (arm_sigbus() < 0)
        return 6;
    if (sigsetjmp(bus_jb, 1) == 0) {
        (void)p[BIG_SIZE / 2];
        return 1;   /* no SIGBUS */
    }
    /* Pages already read stay readable. */
    return p[1] == pat(1) ? 0 : 7;
}

TEST(manager_killed_sigbus_on_unread_pages)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct target t;
    REQUIRE(target_start(&t, killed_child, m.path[K_BIG]) == 0);
    char c = 0;
    CHECK(target_read(&t, &c, 1, 10000) == 0);
    mgr_kill(&m);
    CHECK(target_write(&t, &c, 1) == 0);
    int st = target_finish(&t, 10000);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "  child status %#x\n", st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    mgr_stop(&m);
}

static int stall_child(int in, int out, void *arg)
{
    (void)in, (void)out;
    const char *path = arg;
    peermap_set_timeout_ms(300);
    int fd = pm_open(path, O_RDONLY);
    if (fd < 0)
        return 2;
    volatile unsigned char *p = pm_mmap(NULL, 64 * PG, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return 3;
    if (arm_sigbus() < 0)
        return 6;
    long long t0 = now_ms();
    if (sigsetjmp(bus_jb, 1) == 0) {
        (void)p[PG];
        return 1;
    }
    long long dt = now_ms() - t0;
    return dt >= 250 && dt < 5000 ? 0 : 8;
}

TEST(stalled_manager_sigbus_after_deadline)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    struct target t;
    REQUIRE(target_start(&t, stall_child, m.path[K_STALL]) == 0);
    int st = target_finish(&t, 10000);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "  child status %#x\n", st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    mgr_stop(&m);
}

TEST(changed_mtime_and_ms_invalidate_drop_cached_pages)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    setenv("PEERMAP_MEMMGR_IDLE_MS", "60000", 1);
    int fd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(p[9] == pat(9));
    uint64_t served = S->bytes_read;
    /* The manager's file changes behind our cache: MS_INVALIDATE drops the
     * clean page, the next touch reads it again. */
    S->content[9] = 0x01;
    CHECK(p[9] == pat(9));
    CHECK_EQ_LONG(pm_msync(p, PG, MS_INVALIDATE), 0);
    CHECK(p[9] == 0x01);
    CHECK(S->bytes_read > served);
    CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    /* Same mtime: the cached page is used even though the file changed. */
    S->content[9] = 0x02;
    served = S->bytes_read;
    p = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(p[9] == 0x01);
    CHECK_EQ_LONG(S->bytes_read, served);
    CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    /* A new mtime invalidates the object. */
    CHECK_EQ_LONG(mgr_cmd(&m, 'm', 0, 0), 0);
    p = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(p[9] == 0x02);
    CHECK(S->bytes_read > served);
    CHECK_EQ_LONG(pm_munmap(p, PG), 0);
    CHECK_EQ_LONG(pm_close(fd), 0);
    unsetenv("PEERMAP_MEMMGR_IDLE_MS");
    mgr_stop(&m);
}

static void *toucher(void *arg)
{
    volatile unsigned char *p = arg;
    unsigned sum = 0;
    for (size_t i = 0; i < 64 * PG; i += PG)
        sum += p[i];
    return (void *)(uintptr_t)sum;
}

TEST(threads_fault_concurrently)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_BIG, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(8u << 20, PROT_READ, MAP_PRIVATE, fd, 0);
    REQUIRE(p != MAP_FAILED);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, toucher, p + (size_t)(i % 2) * (64 * PG)) == 0);
    unsigned want[2] = { 0, 0 };
    for (int h = 0; h < 2; h++)
        for (size_t i = 0; i < 64 * PG; i += PG)
            want[h] += pat(h * 64 * PG + i);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        CHECK(pthread_timedjoin_np(th[i], &r, &ts) == 0);
        CHECK_EQ_LONG((uintptr_t)r, want[i % 2]);
    }
    /* Read ahead grows on sequential faults, yet stays near what was used. */
    CHECK(S->bytes_read >= 128 * PG && S->bytes_read <= (4u << 20));
    CHECK_EQ_LONG(pm_munmap(p, 8u << 20), 0);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(mprotect_to_write_then_write_back)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDWR);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(p[PG + 1] == pat(PG + 1) && p[2] == pat(2));
    /* Write was asked for as a wish at map time, so it may be added now;
     * the pages read before are the clean reference. */
    CHECK_EQ_LONG(pm_mprotect(p, 2 * PG, PROT_READ | PROT_WRITE), 0);
    p[PG + 1] = 0x3c;
    CHECK_EQ_LONG(pm_msync(p, 2 * PG, MS_ASYNC), 0);
    CHECK(S->content[PG + 1] == 0x3c);
    CHECK_EQ_LONG(S->bytes_written, PG);
    CHECK_EQ_LONG(pm_munmap(p, 2 * PG), 0);
    CHECK_EQ_LONG(S->bytes_written, PG);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(manager_without_pread_gets_lseek_and_read)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_NOXT, O_RDWR);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        int bad = 0;
        for (size_t i = 0; i < PAT_SIZE; i++)
            bad += p[i] != pat(i);
        CHECK_EQ_LONG(bad, 0);
        CHECK_EQ_LONG(S->bytes_read, PAT_SIZE);
        p[4 * PG + 4] = 0x44;
        CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_SYNC), 0);
        CHECK(S->content[4 * PG + 4] == 0x44);
        CHECK_EQ_LONG(S->bytes_written, PG);
        CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    }
    /* The client's own offset is the manager's business, not ours: our
     * seeks went on the memory manager's connection. */
    unsigned char b[4];
    CHECK_EQ_LONG(pm_read(fd, b, 4), 4);
    CHECK(b[0] == pat(0));
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(system_call_handed_an_unread_page)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    int pp[2];
    REQUIRE(pipe2(pp, O_CLOEXEC) == 0);
    /* The kernel, not the caller, touches the page here.  A full
     * userfaultfd (root) lets the pager serve it; a user-mode-only one
     * (what an unprivileged process gets unless vm.unprivileged_userfaultfd
     * is 1) makes the system call fail instead of waiting. */
    int full = geteuid() == 0;
    FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
    if (f) {
        int v = 0;
        if (fscanf(f, "%d", &v) == 1 && v == 1)
            full = 1;
        fclose(f);
    }
    errno = 0;
    ssize_t w = write(pp[1], p + 2 * PG, 100);
    if (full) {
        CHECK_EQ_LONG(w, 100);
        unsigned char b[100];
        CHECK(read(pp[0], b, 100) == 100 && b[7] == pat(2 * PG + 7));
    } else {
        CHECK(w == -1 && errno == EFAULT);
        CHECK(p[2 * PG + 7] == pat(2 * PG + 7));   /* a touch still works */
        CHECK_EQ_LONG(write(pp[1], p + 2 * PG, 100), 100);
    }
    close(pp[0]);
    close(pp[1]);
    CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    CHECK_EQ_LONG(pm_close(fd), 0);
    mgr_stop(&m);
}

TEST(force_invalidate_and_removable)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    setenv("PEERMAP_MEMMGR_IDLE_MS", "60000", 1);
    int fd = OPEN(&m, K_FORCE, O_RDONLY);
    REQUIRE(fd >= 0);
    volatile unsigned char *a = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(a != MAP_FAILED);
    CHECK(a[5] == pat(5));
    uint64_t served = S->bytes_read;
    /* Another mapping: the manager says the cache is stale. */
    S->content[5] = 0x55;
    volatile unsigned char *b = map_or_say(PAT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(b != MAP_FAILED);
    CHECK(b[5] == 0x55);
    CHECK(a[5] == 0x55);    /* the same page cache */
    CHECK_EQ_LONG(S->bytes_read, 2 * served);
    CHECK_EQ_LONG(pm_munmap((void *)a, PAT_SIZE), 0);
    CHECK_EQ_LONG(S->priv_closes, 0);
    CHECK_EQ_LONG(pm_munmap((void *)b, PAT_SIZE), 0);
    /* Removable: closed at the last unmap, not after the idle time. */
    CHECK(wait_event(close_efd, 5000) == 0);
    CHECK_EQ_LONG(S->priv_closes, 1);
    CHECK_EQ_LONG(pm_close(fd), 0);
    unsetenv("PEERMAP_MEMMGR_IDLE_MS");
    mgr_stop(&m);
}

/* After the manager's death every call answers as its page says: pm_msync()
 * that has changes to send, pm_mmap(), pm_read(), pm_write(), pm_lseek(),
 * pm_fstat() ESRCH; pm_mprotect() and pm_munmap() (changes lost) and
 * pm_close() succeed; pm_open() of its path ENOENT. */
TEST(every_call_after_the_managers_death)
{
    struct mgr m;
    REQUIRE(mgr_start(&m) == 0);
    int fd = OPEN(&m, K_PAT, O_RDWR);
    REQUIRE(fd >= 0);
    unsigned char *p = map_or_say(PAT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    unsigned char *q = map_or_say(PG, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(q != MAP_FAILED);
    CHECK(p[10] == pat(10));
    p[PG + 7] = 0xee;                  /* a change the manager will never see */
    mgr_kill(&m);
    errno = 0;
    CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_SYNC), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    fprintf(stderr, "  pm_msync: %s\n", peermap_errmsg());
    errno = 0;
    CHECK_EQ_LONG(pm_msync(p, PAT_SIZE, MS_ASYNC), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    errno = 0;
    CHECK(pm_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    char b[8];
    errno = 0;
    CHECK_EQ_LONG(pm_read(fd, b, sizeof b), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    errno = 0;
    CHECK_EQ_LONG(pm_write(fd, b, sizeof b), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    errno = 0;
    CHECK_EQ_LONG(pm_lseek(fd, 0, SEEK_SET), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    struct stat st;
    errno = 0;
    CHECK_EQ_LONG(pm_fstat(fd, &st), -1);
    CHECK_EQ_LONG(errno, ESRCH);
    /* Pages already read stay; protections change locally. */
    CHECK_EQ_LONG(pm_mprotect(q, PG, PROT_READ | PROT_WRITE), 0);
    CHECK(q[10] == pat(10));
    CHECK_EQ_LONG(pm_munmap(q, PG), 0);
    CHECK_EQ_LONG(pm_munmap(p, PAT_SIZE), 0);
    CHECK_EQ_LONG(pm_close(fd), 0);
    errno = 0;
    CHECK_EQ_LONG(pm_open(m.path[K_PAT], O_RDONLY), -1);
    CHECK_EQ_LONG(errno, ENOENT);
    mgr_stop(&m);
}
