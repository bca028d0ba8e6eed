/*
 * mmap() of resources (pm_mmap(), the client's memory manager) against the
 * floors it is built on, in one run:
 *
 *   bench_memmgr [--caller-cpu N] [--target-cpu N] [-n CALLS] [-w WARMUP]
 *
 * The managers are one forked child pinned to --target-cpu, one dispatch
 * thread serving four files, plus a thread answering bare MsgSend()s:
 *   /bmm/shm64k, /bmm/shm64m  memfds its mmap handler hands over
 *                             (_IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT)
 *   /bmm/img1g, /bmm/img16g,  generated read-only files (the word at offset
 *   /bmm/seq16g               8k is (k + 1) * 0x9E3779B97F4A7C15), paged in
 *                             by the client: mmap handler
 *                             iofunc_mmap_default(), reads with and without
 *                             _IO_XTYPE_OFFSET
 * This process is the client, pinned to --caller-cpu (the memory manager's
 * own thread inherits that).
 *
 * (a) mapping a shared memory object, fd already open:
 *   mm_floor          MsgSend() of 16 bytes answered with 16, then a local
 *                     mmap() + munmap() of a 64 KiB memfd
 *   mm_shm_pair       pm_mmap() + pm_munmap() of the 64 KiB object
 *   mm_shm_open_close pm_open() + pm_mmap() + pm_munmap() + pm_close()
 *   (-n each, after -w, alternating blocks of BLOCK)
 * (b) reading through it: one pass summing every 64-bit word of 64 MiB
 *   mm_bw_local       a local memfd mapping of 64 MiB
 *   mm_bw_shm         the pm_mmap() of /bmm/shm64m
 *   (BW_PASSES passes each after 3, alternating; both mappings stay)
 * (c) paged files:
 *   mm_touch          pm_mmap() of 4 KiB of /bmm/img16g at an offset never
 *                     read before (the offsets are far apart, > any
 *                     read-ahead, in random order), read one word,
 *                     pm_munmap(): the whole cycle
 *   mm_first_touch    the first read of one word of /bmm/img16g through a
 *                     mapping of the whole file made beforehand, at an
 *                     offset never read (the touch alone)
 *   mm_lseek_read     pm_lseek() + pm_read() of 4 KiB at such an offset
 *   mm_pread          one _IO_READ with _IO_XTYPE_OFFSET (pread()) of 4 KiB
 *   mm_uffd_touch     the floor of a first touch without the manager: a
 *                     local 16 GiB sparse memfd mapping registered with a
 *                     userfaultfd of this benchmark's own, whose thread
 *                     blocks in read() and answers each fault with
 *                     UFFDIO_COPY of a warm 4 KiB page, touched at the
 *                     same offsets (mm_uffd_touch + mm_pread is the floor
 *                     of mm_first_touch: the pager's fault plus its read)
 *   (TOUCH_N = min(-n, 1000) each after a tenth as many, alternating)
 *   mm_seq_map        a 256 MiB region of /bmm/seq16g never read before:
 *                     pm_mmap(), every word summed, pm_munmap()
 *   mm_seq_read       the same region streamed with pm_read() of 1 MiB into
 *                     one buffer, every word summed
 *   mm_seq_local      the floor of a paged scan: the same bytes put into
 *                     256 MiB of new page cache locally (a fresh memfd
 *                     filled by pwrite() of the 2 MiB windows the pager
 *                     fetches, from one warm buffer), every word summed
 *                     through its mapping, unmapped and freed
 *   (SEQ_N each after 1, alternating)
 *   mm_map1g_touch    pm_mmap() of all of /bmm/img1g + reading one word of a
 *                     page never read before (pm_munmap() not timed)
 *   (MAP1G_N after 10)
 * Every word read is checked against the generator (outside the timed part
 * where it can be), the shared objects carry a stamp the client checks, and
 * the server counts the reads it serves (in memory shared with us): a
 * first touch the server did not see would be a cache hit, and dies.
 *
 * Output: "name median_us p99_us n", "rate name MiB/s", and '#' comments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct bfile;
#define IOFUNC_ATTR_T struct bfile
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include <peermap.h>
#include <sys/neutrino.h>

#include "stats.h"
#include "target.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define PAGE 4096
#define SHM_SMALL (64 * KIB)
#define SHM_BIG (64 * MIB)
#define SEQ_REGION (256 * MIB)
#define SEQ_CHUNK MIB
#define BLOCK 100
#define BW_PASSES 20
#define SEQ_N 5
#define MAP1G_N 200
#define MAX_READ (8 * MIB)
#define STAMP 0x5eed5eed5eed5eedull

enum { F_SHM64K, F_SHM64M, F_IMG1G, F_IMG16G, F_SEQ16G, NFILES };
static const char *const paths[NFILES] = { "/bmm/shm64k", "/bmm/shm64m", "/bmm/img1g",
                                           "/bmm/img16g", "/bmm/seq16g" };
static const uint64_t sizes[NFILES] = { SHM_SMALL, SHM_BIG, GIB, 16 * GIB, 16 * GIB };

/* What the server counts, in memory both processes share. */
struct counters {
    uint64_t reads[NFILES];
    uint64_t bytes[NFILES];
};
static struct counters *cnt;

static uint64_t pattern_word(uint64_t k)
{
    return (k + 1) * 0x9E3779B97F4A7C15ull;
}

static void pattern_fill(unsigned char *b, uint64_t off, size_t n)
{
    for (; n && (off & 7); n--, off++)
        *b++ = (unsigned char)(pattern_word(off >> 3) >> (8 * (off & 7)));
    for (uint64_t k = off >> 3; n >= 8; n -= 8, b += 8, k++, off += 8) {
        uint64_t w = pattern_word(k);
        memcpy(b, &w, sizeof w);
    }
    for (; n; n--, off++)
        *b++ = (unsigned char)(pattern_word(off >> 3) >> (8 * (off & 7)));
}

/* ---- the server (a forked child) ---- */

struct bfile {
    iofunc_attr_t attr; /* first */
    int idx;
    int fd;             /* shared memory objects: the memfd, else -1 */
};

static struct bfile files[NFILES];
static unsigned char *out_buf;
static pid_t main_pid;
static char pathspace[64];

#define srv_die(...) bench_child_die("bench_memmgr server", peermap_errmsg(), __VA_ARGS__)

static int b_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int status, nonblock;
    if ((status = iofunc_read_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    struct bfile *f = ocb->attr;
    uint32_t xtype = msg->i.xtype & _IO_XTYPE_MASK;
    off_t at = ocb->offset;
    if (xtype == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        memcpy(&xo, &msg->i + 1, sizeof xo);
        at = (off_t)xo.offset;
    } else if (xtype != _IO_XTYPE_NONE) {
        return ENOSYS;
    }
    if (at < 0)
        return EINVAL;
    uint64_t n = _IO_READ_GET_NBYTES(msg);
    uint64_t left = at < f->attr.nbytes ? (uint64_t)(f->attr.nbytes - at) : 0;
    if (n > left)
        n = left;
    if (n > MAX_READ)
        n = MAX_READ;
    if (f->fd >= 0) {
        ssize_t r = n ? pread(f->fd, out_buf, n, at) : 0;
        if (r < 0)
            return errno;
        n = (uint64_t)r;
    } else {
        pattern_fill(out_buf, (uint64_t)at, n);
    }
    if (xtype == _IO_XTYPE_NONE)
        ocb->offset = at + (off_t)n;
    if (n) {
        __atomic_add_fetch(&cnt->reads[f->idx], 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&cnt->bytes[f->idx], n, __ATOMIC_RELAXED);
    }
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return n ? _RESMGR_PTR(ctp, out_buf, n) : _RESMGR_NPARTS(0);
}

/* Shared memory objects are handed over; the generated files keep the
 * default handler, which makes the client page them in. */
static int b_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb)
{
    struct bfile *f = ocb->attr;
    if (f->fd < 0)
        return iofunc_mmap_default(ctp, msg, ocb);
    io_mmap_ext_t *x = (io_mmap_ext_t *)msg;
    /* With the file's attributes in the reply (the preferred stat form),
     * the memory manager need not ask for them with an _IO_STAT. */
    int r = iofunc_mmap_ext(ctp, x, ocb, &f->attr,
                            _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT |
                                _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_PREFERRED),
                            NULL);
    if (r <= 0)
        x->o.base.fd = f->fd;
    return r;
}

struct raw_answer {
    uint64_t seq, check;
};

/* The floor's message partner: 16 bytes in, 16 out, nothing else. */
static void *raw_loop(void *arg)
{
    int chid = (int)(intptr_t)arg;
    for (;;) {
        uint64_t rq[2];
        struct _msg_info info;
        rcvid_t id = MsgReceive(chid, rq, sizeof rq, &info);
        if (id < 0) {
            if (errno == EINTR)
                continue;
            srv_die("MsgReceive: %s", strerror(errno));
        }
        if (id == 0)
            continue; /* a pulse (a client went away) */
        struct raw_answer a = { rq[0], ~rq[0] };
        if (MsgReply(id, 0, &a, sizeof a) < 0)
            srv_die("MsgReply: %s", strerror(errno));
    }
    return NULL;
}

static void *dispatch_loop(void *arg)
{
    dispatch_t *dpp = arg;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (!ctp)
        srv_die("dispatch_context_alloc: %s", strerror(errno));
    for (;;) {
        dispatch_context_t *c = dispatch_block(ctp);
        if (!c) {
            if (errno == EINTR)
                continue;
            srv_die("dispatch_block: %s", strerror(errno));
        }
        ctp = c;
        dispatch_handler(ctp);
    }
    return NULL;
}

static void __attribute__((noreturn)) server(int ready, int ctl, int cpu)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != main_pid)
        _exit(1);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        srv_die("cannot pin to CPU %d: %s", cpu, strerror(errno));
    if ((out_buf = malloc(MAX_READ)) == NULL)
        srv_die("out of memory");
    memset(out_buf, 0, MAX_READ);

    static resmgr_connect_funcs_t cf;
    static resmgr_io_funcs_t io;
    static iofunc_mount_t mount_rw, mount_ro;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &io);
    io.read = b_read;
    io.mmap = b_mmap;
    mount_ro.flags = ST_RDONLY;
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        srv_die("dispatch_create: %s", strerror(errno));
    resmgr_attr_t ra;
    memset(&ra, 0, sizeof ra);
    ra.nparts_max = 1;
    ra.msg_max_size = 2048;
    int ids[NFILES];
    for (int i = 0; i < NFILES; i++) {
        struct bfile *f = &files[i];
        f->idx = i;
        f->fd = -1;
        if (i == F_SHM64K || i == F_SHM64M) {
            iofunc_attr_init(&f->attr, S_IFREG | 0666, NULL, NULL);
            f->attr.mount = &mount_rw;
            f->fd = memfd_create(paths[i], MFD_CLOEXEC);
            if (f->fd < 0 || ftruncate(f->fd, (off_t)sizes[i]) < 0)
                srv_die("memfd: %s", strerror(errno));
            /* Every page exists (as a real /dev/shmem object's would
             * after use), holding the pattern and a stamp at the start. */
            unsigned char *m = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
            if (m == MAP_FAILED)
                srv_die("mmap: %s", strerror(errno));
            pattern_fill(m, 0, sizes[i]);
            uint64_t s = STAMP + (uint64_t)i;
            memcpy(m, &s, sizeof s);
            munmap(m, sizes[i]);
        } else {
            iofunc_attr_init(&f->attr, S_IFREG | 0444, NULL, NULL);
            f->attr.mount = &mount_ro;
        }
        f->attr.nbytes = (off_t)sizes[i];
        ids[i] = resmgr_attach(dpp, &ra, paths[i], _FTYPE_ANY, 0, &cf, &io, f);
        if (ids[i] == -1)
            srv_die("resmgr_attach %s: %s", paths[i], strerror(errno));
    }
    int chid = ChannelCreate(0);
    if (chid < 0)
        srv_die("ChannelCreate: %s", strerror(errno));
    pthread_t t1, t2;
    if (pthread_create(&t1, NULL, dispatch_loop, dpp) != 0 ||
        pthread_create(&t2, NULL, raw_loop, (void *)(intptr_t)chid) != 0)
        srv_die("pthread_create failed");
    if (write(ready, &chid, sizeof chid) != (ssize_t)sizeof chid)
        srv_die("ready: %s", strerror(errno));
    close(ready);
    char c;
    while (read(ctl, &c, 1) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < NFILES; i++)
        if (resmgr_detach(dpp, ids[i], _RESMGR_DETACH_ALL) == -1)
            srv_die("resmgr_detach: %s", strerror(errno));
    _exit(0);
}

/* ---- the client (this process) ---- */

static pid_t server_pid;
static int server_ctl = -1;

static void remove_pathspace(void)
{
    if (getpid() != main_pid || !pathspace[0])
        return;
    /* Whatever the server left (a directory per user and per attached path,
     * the library names them), then the directory. */
    bench_remove_tree(pathspace);
    pathspace[0] = 0;
}

static void die_pm(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

static void xorshift_init(uint64_t *s)
{
    *s = 0x243F6A8885A308D3ull;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Fisher-Yates: the slots in an order no read-ahead can guess. */
static uint64_t *shuffled(size_t n, uint64_t *rng)
{
    uint64_t *v = malloc(n * sizeof *v);
    if (!v)
        bench_die("out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(xorshift(rng) % (i + 1));
        uint64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    return v;
}

/* Sum every word: what a consumer of the data does, the same on both
 * sides of a comparison; noinline so that it is the same code for both. */
static __attribute__((noinline)) uint64_t sum_words(const void *p, size_t n)
{
    const uint64_t *w = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n / 8; i++)
        s += w[i];
    return s;
}

static uint64_t expected_sum(uint64_t off, size_t n)
{
    uint64_t s = 0;
    for (uint64_t k = off / 8; k < (off + n) / 8; k++)
        s += pattern_word(k);
    return s;
}

/* ---- (a) ---- */

static uint64_t floor_once(int coid, int memfd, uint64_t seq)
{
    uint64_t rq[2] = { seq, 0 };
    struct raw_answer a;
    uint64_t t0 = bench_now_ns();
    long st = MsgSend(coid, rq, sizeof rq, &a, sizeof a);
    void *p = mmap(NULL, SHM_SMALL, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    int u = p == MAP_FAILED ? -1 : munmap(p, SHM_SMALL);
    uint64_t t1 = bench_now_ns();
    if (st < 0)
        die_pm("MsgSend");
    if (a.seq != seq || a.check != ~seq)
        bench_die("MsgSend: a wrong answer");
    if (p == MAP_FAILED || u < 0)
        bench_die("local mmap/munmap: %s", strerror(errno));
    return t1 - t0;
}

static uint64_t shm_pair_once(int fd, int check)
{
    uint64_t t0 = bench_now_ns();
    unsigned char *p = pm_mmap(NULL, SHM_SMALL, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die_pm("pm_mmap of the 64 KiB object");
    uint64_t stamp = 0;
    if (check)
        memcpy(&stamp, p, sizeof stamp);
    int u = pm_munmap(p, SHM_SMALL);
    uint64_t t1 = bench_now_ns();
    if (u < 0)
        die_pm("pm_munmap");
    if (check && stamp != STAMP + F_SHM64K)
        bench_die("the 64 KiB object's mapping does not hold the server's stamp");
    return t1 - t0;
}

static uint64_t shm_open_close_once(void)
{
    uint64_t t0 = bench_now_ns();
    int fd = pm_open(paths[F_SHM64K], O_RDWR);
    if (fd < 0)
        die_pm("pm_open");
    void *p = pm_mmap(NULL, SHM_SMALL, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die_pm("pm_mmap");
    if (pm_munmap(p, SHM_SMALL) < 0)
        die_pm("pm_munmap");
    if (pm_close(fd) < 0)
        die_pm("pm_close");
    return bench_now_ns() - t0;
}

static void part_a(const struct bench_opts *o, int coid)
{
    int fd = pm_open(paths[F_SHM64K], O_RDWR);
    if (fd < 0)
        die_pm("pm_open 64 KiB object");
    int memfd = memfd_create("floor", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, SHM_SMALL) < 0)
        bench_die("memfd: %s", strerror(errno));
    struct samples fl, pair, oc;
    samples_init(&fl, o->n);
    samples_init(&pair, o->n);
    samples_init(&oc, o->n);
    uint64_t seq = 0;
    for (size_t done = 0, total = o->warmup + o->n; done < total;) {
        size_t k = total - done < BLOCK ? total - done : BLOCK;
        if (done < o->warmup && o->warmup - done < k)
            k = o->warmup - done;
        int timed = done >= o->warmup;
        for (size_t i = 0; i < k; i++) {
            uint64_t t = floor_once(coid, memfd, ++seq);
            if (timed)
                samples_add(&fl, t);
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = shm_pair_once(fd, !timed);
            if (timed)
                samples_add(&pair, t);
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = shm_open_close_once();
            if (timed)
                samples_add(&oc, t);
        }
        done += k;
    }
    shm_pair_once(fd, 1);
    samples_report(&fl, "mm_floor");
    samples_report(&pair, "mm_shm_pair");
    samples_report(&oc, "mm_shm_open_close");
    samples_free(&fl);
    samples_free(&pair);
    samples_free(&oc);
    close(memfd);
    if (pm_close(fd) < 0)
        die_pm("pm_close");
}

/* ---- (b) ---- */

static void rate(const char *name, double bytes, double median_us)
{
    printf("rate %s %.1f MiB/s\n", name, median_us > 0 ? bytes / (double)MIB / (median_us / 1e6) : 0.0);
}

static void part_b(void)
{
    int fd = pm_open(paths[F_SHM64M], O_RDONLY);
    if (fd < 0)
        die_pm("pm_open 64 MiB object");
    const unsigned char *shm = pm_mmap(NULL, SHM_BIG, PROT_READ, MAP_SHARED, fd, 0);
    if (shm == MAP_FAILED)
        die_pm("pm_mmap of the 64 MiB object");
    int memfd = memfd_create("local", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, SHM_BIG) < 0)
        bench_die("memfd: %s", strerror(errno));
    unsigned char *loc = mmap(NULL, SHM_BIG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (loc == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    pattern_fill(loc, 0, SHM_BIG);
    uint64_t s = STAMP + F_SHM64M;
    memcpy(loc, &s, sizeof s);
    uint64_t want = sum_words(loc, SHM_BIG);

    struct samples l, m;
    samples_init(&l, BW_PASSES);
    samples_init(&m, BW_PASSES);
    for (int pass = -3; pass < BW_PASSES; pass++) {
        uint64_t t0 = bench_now_ns();
        uint64_t a = sum_words(loc, SHM_BIG);
        uint64_t t1 = bench_now_ns();
        uint64_t b = sum_words(shm, SHM_BIG);
        uint64_t t2 = bench_now_ns();
        if (a != want || b != want)
            bench_die("64 MiB pass %d: the sums differ from the data's", pass);
        if (pass >= 0) {
            samples_add(&l, t1 - t0);
            samples_add(&m, t2 - t1);
        }
    }
    double ml = samples_median_us(&l), mm = samples_median_us(&m);
    samples_report(&l, "mm_bw_local");
    samples_report(&m, "mm_bw_shm");
    rate("mm_bw_local", (double)SHM_BIG, ml);
    rate("mm_bw_shm", (double)SHM_BIG, mm);
    samples_free(&l);
    samples_free(&m);
    munmap(loc, SHM_BIG);
    close(memfd);
    if (pm_munmap((void *)shm, SHM_BIG) < 0)
        die_pm("pm_munmap");
    if (pm_close(fd) < 0)
        die_pm("pm_close");
}

/* ---- (c) ---- */

/* The first word read at offset off of the paged file (at p) must be the
 * pattern's. */
static void check_word(const void *p, uint64_t off, const char *what)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    if (w != pattern_word(off / 8))
        bench_die("%s at %llu: wrong data", what, (unsigned long long)off);
}

/* A first touch read w at off, and the server was asked for the page (its
 * read count was `before`): not a page from a cache. */
static void check_first_touch(uint64_t w, uint64_t off, uint64_t before)
{
    check_word(&w, off, "first touch");
    if (__atomic_load_n(&cnt->reads[F_IMG16G], __ATOMIC_RELAXED) == before)
        bench_die("first touch at %llu: the server was not asked (a cached page)",
                  (unsigned long long)off);
}

static uint64_t touch_once(int fd, uint64_t off)
{
    uint64_t before = __atomic_load_n(&cnt->reads[F_IMG16G], __ATOMIC_RELAXED);
    uint64_t t0 = bench_now_ns();
    const volatile uint64_t *p = pm_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)off);
    if (p == MAP_FAILED)
        die_pm("pm_mmap of one page");
    uint64_t w = p[0];
    int u = pm_munmap((void *)p, PAGE);
    uint64_t t1 = bench_now_ns();
    if (u < 0)
        die_pm("pm_munmap");
    check_first_touch(w, off, before);
    return t1 - t0;
}

/* The first touch alone: the mapping of the whole file exists already. */
static uint64_t first_touch_once(const unsigned char *map, uint64_t off)
{
    uint64_t before = __atomic_load_n(&cnt->reads[F_IMG16G], __ATOMIC_RELAXED);
    const volatile uint64_t *p = (const volatile uint64_t *)(map + off);
    uint64_t t0 = bench_now_ns();
    uint64_t w = p[0];
    uint64_t t1 = bench_now_ns();
    check_first_touch(w, off, before);
    return t1 - t0;
}

static uint64_t lseek_read_once(int fd, uint64_t off, unsigned char *buf)
{
    uint64_t t0 = bench_now_ns();
    if (pm_lseek(fd, (off_t)off, SEEK_SET) != (off_t)off)
        die_pm("pm_lseek");
    ssize_t n = pm_read(fd, buf, PAGE);
    uint64_t t1 = bench_now_ns();
    if (n != PAGE)
        die_pm("pm_read of 4 KiB");
    check_word(buf, off, "pm_read");
    return t1 - t0;
}

static uint64_t pread_once(int fd, uint64_t off, unsigned char *buf)
{
    struct {
        struct _io_read r;
        struct _xtype_offset x;
    } m;
    memset(&m, 0, sizeof m);
    m.r.type = _IO_READ;
    m.r.combine_len = sizeof m;
    m.r.nbytes = PAGE;
    m.r.xtype = _IO_XTYPE_OFFSET;
    m.x.offset = (int64_t)off;
    uint64_t t0 = bench_now_ns();
    long n = MsgSend(fd, &m, sizeof m, buf, PAGE);
    uint64_t t1 = bench_now_ns();
    if (n != PAGE)
        die_pm("pread-style _IO_READ of 4 KiB");
    check_word(buf, off, "pread");
    return t1 - t0;
}

/* mm_uffd_touch: a userfaultfd of our own over a local sparse memfd. */
static int floor_uffd = -1;
static unsigned char *floor_page;

static void *floor_pager(void *arg)
{
    (void)arg;
    for (;;) {
        struct uffd_msg m;
        if (read(floor_uffd, &m, sizeof m) != (ssize_t)sizeof m)
            continue;
        if (m.event != UFFD_EVENT_PAGEFAULT)
            continue;
        struct uffdio_copy c = { .dst = m.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
                                 .src = (uintptr_t)floor_page, .len = PAGE };
        ioctl(floor_uffd, UFFDIO_COPY, &c);
    }
    return NULL;
}

/* The local mapping (16 GiB), or NULL when this process may have no
 * userfaultfd. */
static unsigned char *floor_map(void)
{
    floor_uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (floor_uffd < 0)
        floor_uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
    struct uffdio_api api = { .api = UFFD_API };
    if (floor_uffd < 0 || ioctl(floor_uffd, UFFDIO_API, &api) < 0)
        return NULL;
    floor_page = aligned_alloc(PAGE, PAGE);
    int mfd = memfd_create("bench-uffd-floor", MFD_CLOEXEC);
    if (!floor_page || mfd < 0 || ftruncate(mfd, (off_t)(16 * GIB)) < 0)
        bench_die("userfaultfd floor: %s", strerror(errno));
    memset(floor_page, 0x5a, PAGE);
    unsigned char *m = mmap(NULL, 16 * GIB, PROT_READ, MAP_SHARED, mfd, 0);
    close(mfd);
    if (m == MAP_FAILED)
        bench_die("userfaultfd floor: mmap: %s", strerror(errno));
    struct uffdio_register r = { .range = { (uintptr_t)m, 16 * GIB },
                                 .mode = UFFDIO_REGISTER_MODE_MISSING };
    pthread_t th;
    if (ioctl(floor_uffd, UFFDIO_REGISTER, &r) < 0 ||
        pthread_create(&th, NULL, floor_pager, NULL) != 0)
        bench_die("userfaultfd floor: %s", strerror(errno));
    pthread_detach(th);
    return m;
}

static uint64_t uffd_touch_once(const unsigned char *map, uint64_t off)
{
    const volatile unsigned char *p = map + off;
    uint64_t t0 = bench_now_ns();
    unsigned char b = p[0];
    uint64_t t1 = bench_now_ns();
    if (b != 0x5a)
        bench_die("userfaultfd floor: wrong byte at %llu", (unsigned long long)off);
    return t1 - t0;
}

static void part_c_touch(const struct bench_opts *o, uint64_t *rng)
{
    size_t n = o->n < 1000 ? o->n : 1000, w = n / 10 ? n / 10 : 1, total = n + w;
    uint64_t spacing = (16 * GIB / total) & ~(2 * MIB - 1);
    if (spacing < 4 * MIB)
        bench_die("too many first touches for a 16 GiB file");
    uint64_t *slot = shuffled(total, rng);
    int fd = pm_open(paths[F_IMG16G], O_RDONLY);
    if (fd < 0)
        die_pm("pm_open 16 GiB file");
    unsigned char *buf = malloc(PAGE);
    if (!buf)
        bench_die("out of memory");
    struct samples t, ft, lr, pr, uf;
    samples_init(&uf, n);
    const unsigned char *local = floor_map();
    samples_init(&t, n);
    samples_init(&ft, n);
    samples_init(&lr, n);
    samples_init(&pr, n);
    /* One mapping of all 16 GiB for the first touches alone; they use the
     * other half of each slot, so no touch finds a page another read. */
    const unsigned char *whole = pm_mmap(NULL, 16 * GIB, PROT_READ, MAP_SHARED, fd, 0);
    if (whole == MAP_FAILED)
        die_pm("pm_mmap of 16 GiB");
    /* A page inside the slot too, so that offsets are not all aligned the
     * same way. */
    for (size_t done = 0; done < total;) {
        size_t k = total - done < BLOCK ? total - done : BLOCK;
        if (done < w && w - done < k)
            k = w - done;
        int timed = done >= w;
        for (size_t i = done; i < done + k; i++) {
            uint64_t off = slot[i] * spacing + (xorshift(rng) % 256) * PAGE;
            uint64_t a = touch_once(fd, off);
            uint64_t b = lseek_read_once(fd, off, buf);
            uint64_t c = pread_once(fd, off, buf);
            uint64_t d = first_touch_once(whole, off + spacing / 2);
            uint64_t e = local ? uffd_touch_once(local, off + spacing / 2) : 0;
            if (timed && local)
                samples_add(&uf, e);
            if (timed) {
                samples_add(&t, a);
                samples_add(&ft, d);
                samples_add(&lr, b);
                samples_add(&pr, c);
            }
        }
        done += k;
    }
    samples_report(&t, "mm_touch");
    samples_report(&ft, "mm_first_touch");
    samples_report(&lr, "mm_lseek_read");
    samples_report(&pr, "mm_pread");
    if (local)
        samples_report(&uf, "mm_uffd_touch");
    else
        printf("# mm_uffd_touch: no userfaultfd for this process\n");
    samples_free(&uf);
    samples_free(&t);
    samples_free(&ft);
    if (pm_munmap((void *)whole, 16 * GIB) < 0)
        die_pm("pm_munmap of 16 GiB");
    samples_free(&lr);
    samples_free(&pr);
    free(buf);
    free(slot);
    if (pm_close(fd) < 0)
        die_pm("pm_close");
}

static uint64_t seq_map_once(int fd, uint64_t off, uint64_t *sum)
{
    uint64_t t0 = bench_now_ns();
    const unsigned char *p = pm_mmap(NULL, SEQ_REGION, PROT_READ, MAP_SHARED, fd, (off_t)off);
    if (p == MAP_FAILED)
        die_pm("pm_mmap of 256 MiB");
    *sum = sum_words(p, SEQ_REGION);
    int u = pm_munmap((void *)p, SEQ_REGION);
    uint64_t t1 = bench_now_ns();
    if (u < 0)
        die_pm("pm_munmap");
    return t1 - t0;
}

static uint64_t seq_read_once(int fd, uint64_t off, unsigned char *buf, uint64_t *sum)
{
    uint64_t s = 0;
    uint64_t t0 = bench_now_ns();
    if (pm_lseek(fd, (off_t)off, SEEK_SET) != (off_t)off)
        die_pm("pm_lseek");
    for (uint64_t got = 0; got < SEQ_REGION; got += SEQ_CHUNK) {
        ssize_t n = pm_read(fd, buf, SEQ_CHUNK);
        if (n != (ssize_t)SEQ_CHUNK)
            die_pm("pm_read of 1 MiB");
        s += sum_words(buf, SEQ_CHUNK);
    }
    uint64_t t1 = bench_now_ns();
    *sum = s;
    return t1 - t0;
}

/* What any paged mapping must pay however its data arrives: new pages of
 * page cache, filled by a copy, then read.  The pager installs 2 MiB
 * windows, so the same window size. */
#define SEQ_WINDOW (2 * MIB)
static uint64_t seq_local_once(const unsigned char *window, uint64_t *sum)
{
    uint64_t t0 = bench_now_ns();
    int fd = memfd_create("seq-local", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, SEQ_REGION) < 0)
        bench_die("memfd: %s", strerror(errno));
    const unsigned char *p = mmap(NULL, SEQ_REGION, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    for (uint64_t off = 0; off < SEQ_REGION; off += SEQ_WINDOW)
        if (pwrite(fd, window, SEQ_WINDOW, (off_t)off) != (ssize_t)SEQ_WINDOW)
            bench_die("pwrite: %s", strerror(errno));
    *sum = sum_words(p, SEQ_REGION);
    munmap((void *)p, SEQ_REGION);
    close(fd);
    uint64_t t1 = bench_now_ns();
    return t1 - t0;
}

static void part_c_seq(void)
{
    int fd = pm_open(paths[F_SEQ16G], O_RDONLY);
    if (fd < 0)
        die_pm("pm_open seq file");
    unsigned char *buf = malloc(SEQ_CHUNK);
    if (!buf)
        bench_die("out of memory");
    memset(buf, 0, SEQ_CHUNK);
    unsigned char *window = malloc(SEQ_WINDOW);
    if (!window)
        bench_die("out of memory");
    pattern_fill(window, 0, SEQ_WINDOW);
    uint64_t want_local = sum_words(window, SEQ_WINDOW) * (SEQ_REGION / SEQ_WINDOW);
    struct samples m, r, l;
    samples_init(&m, SEQ_N);
    samples_init(&r, SEQ_N);
    samples_init(&l, SEQ_N);
    for (int i = -1; i < SEQ_N; i++) {
        uint64_t off = (uint64_t)(i + 1) * SEQ_REGION, want = expected_sum(off, SEQ_REGION);
        uint64_t sm, sr;
        uint64_t before = __atomic_load_n(&cnt->bytes[F_SEQ16G], __ATOMIC_RELAXED);
        uint64_t a = seq_map_once(fd, off, &sm);
        uint64_t fetched = __atomic_load_n(&cnt->bytes[F_SEQ16G], __ATOMIC_RELAXED) - before;
        uint64_t b = seq_read_once(fd, off, buf, &sr);
        uint64_t sl;
        uint64_t c = seq_local_once(window, &sl);
        if (sl != want_local)
            bench_die("the local 256 MiB: the sum differs from its window's");
        if (sm != want || sr != want)
            bench_die("256 MiB at %llu: the sums differ from the file's",
                      (unsigned long long)off);
        if (fetched < SEQ_REGION)
            bench_die("256 MiB at %llu: the mapping fetched only %llu bytes (cached?)",
                      (unsigned long long)off, (unsigned long long)fetched);
        if (i >= 0) {
            samples_add(&m, a);
            samples_add(&r, b);
            samples_add(&l, c);
        }
    }
    double mm = samples_median_us(&m), mr = samples_median_us(&r);
    samples_report(&m, "mm_seq_map");
    samples_report(&r, "mm_seq_read");
    samples_report(&l, "mm_seq_local");
    rate("mm_seq_map", (double)SEQ_REGION, mm);
    rate("mm_seq_read", (double)SEQ_REGION, mr);
    rate("mm_seq_local", (double)SEQ_REGION, samples_median_us(&l));
    samples_free(&m);
    samples_free(&r);
    samples_free(&l);
    free(window);
    free(buf);
    if (pm_close(fd) < 0)
        die_pm("pm_close");
}

static void part_c_map1g(uint64_t *rng)
{
    int fd = pm_open(paths[F_IMG1G], O_RDONLY);
    if (fd < 0)
        die_pm("pm_open 1 GiB file");
    const size_t warm = 10, total = MAP1G_N + warm;
    uint64_t spacing = (GIB / total) & ~(MIB - 1);
    uint64_t *slot = shuffled(total, rng);
    struct samples s;
    samples_init(&s, MAP1G_N);
    for (size_t i = 0; i < total; i++) {
        uint64_t off = slot[i] * spacing;
        uint64_t t0 = bench_now_ns();
        const unsigned char *p = pm_mmap(NULL, GIB, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            die_pm("pm_mmap of 1 GiB");
        uint64_t w = *(const volatile uint64_t *)(p + off);
        uint64_t t1 = bench_now_ns();
        if (w != pattern_word(off / 8))
            bench_die("1 GiB mapping at %llu: wrong data", (unsigned long long)off);
        if (pm_munmap((void *)p, GIB) < 0)
            die_pm("pm_munmap of 1 GiB");
        if (i >= warm)
            samples_add(&s, t1 - t0);
    }
    samples_report(&s, "mm_map1g_touch");
    samples_free(&s);
    free(slot);
    if (pm_close(fd) < 0)
        die_pm("pm_close");
}

static void at_exit(void)
{
    remove_pathspace();
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 2000, 200);
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_pid = getpid();

    cnt = mmap(NULL, sizeof *cnt, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cnt == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    strcpy(pathspace, "/tmp/bench_memmgr-XXXXXX");
    if (!mkdtemp(pathspace) || setenv("PEERMAP_PATHSPACE", pathspace, 1) < 0)
        bench_die("path space: %s", strerror(errno));
    atexit(at_exit);

    int ready[2], ctl[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(ctl, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    server_pid = bench_fork();
    if (server_pid == 0) {
        close(ready[0]);
        close(ctl[1]);
        server(ready[1], ctl[0], o.target_cpu);
    }
    bench_adopt_target(server_pid);
    close(ready[1]);
    close(ctl[0]);
    server_ctl = ctl[1];
    int chid = -1;
    bench_read_within(ready[0], &chid, sizeof chid, BENCH_START_MS, "the server starting");
    close(ready[0]);
    bench_pin_self(o.caller_cpu);
    int coid = ConnectAttach(ND_LOCAL_NODE, server_pid, chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        die_pm("ConnectAttach");

    printf("# bench_memmgr caller_cpu=%d target_cpu=%d n=%zu warmup=%zu server_pid=%d\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup, (int)server_pid);
    uint64_t rng;
    xorshift_init(&rng);
    /* BENCH_MM_ONLY=a|b|touch|seq|map1g: one part alone (for profiling). */
    const char *only = getenv("BENCH_MM_ONLY");
#define PART(name) (!only || !strcmp(only, name))
    if (PART("a"))
        part_a(&o, coid);
    if (PART("b"))
        part_b();
    if (PART("touch"))
        part_c_touch(&o, &rng);
    if (PART("seq"))
        part_c_seq();
    if (PART("map1g"))
        part_c_map1g(&rng);
#undef PART
    printf("# server reads: img16g %llu (%llu KiB), seq16g %llu (%llu MiB), img1g %llu "
           "(%llu KiB)\n",
           (unsigned long long)cnt->reads[F_IMG16G],
           (unsigned long long)(cnt->bytes[F_IMG16G] / KIB),
           (unsigned long long)cnt->reads[F_SEQ16G],
           (unsigned long long)(cnt->bytes[F_SEQ16G] / MIB),
           (unsigned long long)cnt->reads[F_IMG1G],
           (unsigned long long)(cnt->bytes[F_IMG1G] / KIB));

    ConnectDetach(coid);
    if (write(server_ctl, "q", 1) != 1)
        bench_die("cannot stop the server: %s", strerror(errno));
    bench_await_exit(server_pid, "the server", NULL, NULL);
    bench_forget_target();
    return 0;
}
