/*
 * The FUSE export (peermap export) against pm_read() and a tmpfs file, in
 * one run:
 *
 *   bench_export [--caller-cpu N] [--target-cpu N] [-n READS] [-w WARMUP]
 *
 * A manager (a forked child, one dispatch thread, pinned to the target CPU)
 * serves two resources of MGR_SIZE bytes whose byte at offset o is
 * pattern[o % PATTERN]: "/bx/dev", a character device (through the export:
 * direct I/O, every read() one FUSE request and one _IO_READ), and
 * "/bx/file", a regular file (through the export: the page cache).  Both
 * answer _IO_XTYPE_OFFSET and reply straight out of the pattern (one reply
 * part, nothing copied in the manager).  The export is `peermap export`
 * (BUILD/tools/peermap, next to this program), also pinned to the target
 * CPU; the caller is pinned to the caller CPU.
 *
 *   ex_pm_read_4k      pm_read() of 4 KiB, sequential through the device
 *   ex_export_read_4k  read() of 4 KiB through the export, same device
 *   ex_tmpfs_read_4k   pread() of 4 KiB from a file in /dev/shm
 *   ex_pm_read_1m, ex_export_read_1m, ex_tmpfs_read_1m   the same, 1 MiB
 *   ex_export_touch    first touch of one page of a MAP_SHARED mapping of
 *                      the export's regular file, MADV_RANDOM (one page
 *                      read per fault), pages far apart never read before
 *   ex_export_touch_ra the same without MADV_RANDOM: the kernel reads
 *                      around the fault (the default for a program)
 *   ex_export_seq_4k   read() of 4 KiB through the export's regular file,
 *                      sequential from a fresh open (the kernel reads
 *                      ahead; most reads are served from the page cache)
 *   ex_pm_read_view_4k, ex_pm_read_view_1m   the manager exchange as the
 *                      export makes it (pm_read_view(), the library's call
 *                      under pm_read(): a large answer is left in the
 *                      mapping of the manager's file, not copied out), on
 *                      a second open of the device
 *   ex_fuse_floor_4k, ex_fuse_floor_1m   the floor: read() of 4 KiB / 1 MiB
 *                      through a minimal FUSE file system (libfuse's
 *                      low-level API, one thread, in a forked child on the
 *                      target CPU) that answers every read of its one
 *                      direct-I/O file from bytes already in its memory
 *                      (fuse_reply_buf(), as the export answers from the
 *                      manager's file), asking nobody: what FUSE itself
 *                      costs on this machine
 *   ex_fuse_floor_mt_4k, ex_fuse_floor_mt_1m   the same file system served
 *                      by libfuse's multi-threaded loop configured as the
 *                      export's (at most 32 threads, 4 idle)
 *   ex_fuse_floor_thp_4k, ex_fuse_floor_thp_1m   one thread, the bytes in
 *                      transparent huge pages (MADV_HUGEPAGE): what a source
 *                      in 2 MiB pages saves the kernel's pinning of it, page
 *                      by page, while it copies (left out, with a comment,
 *                      when the kernel gives no huge pages)
 * Every read is timed alone and checked (outside the timed part) against
 * the pattern; the kinds alternate in blocks of BLOCK.  Output: "name
 * median_us p99_us n" lines and '#' comments; without FUSE (no /dev/fuse,
 * or mounting not permitted) only a comment saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <peermap.h>
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include "resmgr/client.h"   /* pm_read_view(): the export's exchange alone */
#include "stats.h"
#include "target.h"

#define PATTERN (1u << 20)
#define MGR_SIZE (1ull << 30)   /* 1 GiB: room for first touches far apart */
#define SMALL 4096u
#define LARGE (1u << 20)
#define DEV_SPAN (8u << 20)     /* the 4 KiB / 1 MiB reads wrap around here */
#define BLOCK 50
#define PAGE_ROOM 4096u         /* room for a copy that starts 16 bytes in */

static unsigned char *pattern;

static void make_pattern(void)
{
    pattern = malloc(2 * PATTERN);
    if (!pattern)
        bench_die("out of memory");
    for (size_t i = 0; i < 2 * PATTERN; i++)
        pattern[i] = (unsigned char)((i % PATTERN) * 131 + ((i % PATTERN) >> 9));
}

static void check(const unsigned char *buf, size_t n, uint64_t off, const char *what)
{
    if (memcmp(buf, pattern + off % PATTERN, n) != 0)
        bench_die("%s: wrong bytes at %llu", what, (unsigned long long)off);
}

/* ---- the manager ---- */

static resmgr_connect_funcs_t cfuncs;
static resmgr_io_funcs_t iofuncs;
static iofunc_attr_t dev_attr, file_attr;

static int mgr_read(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb)
{
    int st = iofunc_read_verify(ctp, msg, ocb, NULL);
    if (st != EOK)
        return st;
    uint32_t xt = msg->i.xtype & _IO_XTYPE_MASK;
    off_t off = ocb->offset;
    if (xt == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        memcpy(&xo, &msg->i + 1, sizeof xo);
        off = xo.offset;
    } else if (xt != _IO_XTYPE_NONE) {
        return ENOSYS;
    }
    size_t n = (size_t)_IO_READ_GET_NBYTES(msg);
    uint64_t left = (uint64_t)off < MGR_SIZE ? MGR_SIZE - (uint64_t)off : 0;
    if (n > left)
        n = (size_t)left;
    if (n > PATTERN)
        n = PATTERN;  /* one part out of the doubled pattern */
    SETIOV(ctp->iov, pattern + (uint64_t)off % PATTERN, n);
    if (xt == _IO_XTYPE_NONE)
        ocb->offset = off + (off_t)n;
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return _RESMGR_NPARTS(n ? 1 : 0);
}

static void manager(int cpu, int ready)
{
    bench_pin_self(cpu);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        _exit(2);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cfuncs, _RESMGR_IO_NFUNCS, &iofuncs);
    iofuncs.read = mgr_read;
    resmgr_attr_t ra;
    memset(&ra, 0, sizeof ra);
    ra.nparts_max = 1;
    ra.msg_max_size = 4096;
    iofunc_attr_init(&dev_attr, S_IFCHR | 0666, NULL, NULL);
    iofunc_attr_init(&file_attr, S_IFREG | 0666, NULL, NULL);
    dev_attr.nbytes = file_attr.nbytes = (off_t)MGR_SIZE;
    if (resmgr_attach(dpp, &ra, "/bx/dev", _FTYPE_ANY, 0, &cfuncs, &iofuncs, &dev_attr) < 0 ||
        resmgr_attach(dpp, &ra, "/bx/file", _FTYPE_ANY, 0, &cfuncs, &iofuncs, &file_attr) < 0)
        _exit(3);
    char c = 1;
    if (write(ready, &c, 1) != 1)
        _exit(4);
    close(ready);
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    for (;;) {
        dispatch_context_t *got = dispatch_block(ctp);
        if (got) {
            ctp = got;
            dispatch_handler(ctp);
        }
    }
}

/* ---- the export ---- */

static pid_t export_pid;
static char mnt_dir[64], mnt[128], space[64], shm_path[64];

static void stop_floor(int kind);

/* Ask a child of ours (the export, a floor) to end, and reap it: SIGTERM
 * unmounts; one that has not ended 15 s later (the export's own shutdown
 * deadline is 10 s) is killed.  Runs at exit too, so it never dies. */
static void end_child(pid_t pid)
{
    kill(pid, SIGTERM);
    if (bench_wait_within(pid, 15000, NULL, NULL) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

static void cleanup(void)
{
    for (int k = 0; k < 3; k++)
        stop_floor(k);
    if (export_pid > 0) {
        end_child(export_pid);
        export_pid = 0;
    }
    if (mnt[0]) {
        umount2(mnt, MNT_DETACH);
        rmdir(mnt);
        rmdir(mnt_dir);
    }
    if (shm_path[0])
        unlink(shm_path);
    if (space[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", space);
        if (system(cmd) != 0) {
            /* nothing more to do */
        }
    }
}

/* Start the export; 0, or -1 with the reason printed as a comment. */
static int start_export(int cpu)
{
    char exe[PATH_MAX], tool[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (snprintf(tool, sizeof tool, "%s/../tools/peermap", exe) >= (int)sizeof tool)
        return -1;
    if (access("/dev/fuse", F_OK) != 0) {
        printf("# export: not measured: /dev/fuse is missing\n");
        return -1;
    }
    strcpy(mnt_dir, "/tmp/pm-bench-export-XXXXXX");
    if (!mkdtemp(mnt_dir))
        return -1;
    snprintf(mnt, sizeof mnt, "%s/mnt", mnt_dir);
    if (mkdir(mnt, 0755) < 0)
        return -1;
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDOUT_FILENO);
        bench_pin_self(cpu);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl(tool, tool, "export", "-t", "10000", mnt, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    export_pid = pid;
    char line[256];
    size_t used = 0;
    struct pollfd pp = { .fd = p[0], .events = POLLIN };
    while (used < sizeof line - 1 && poll(&pp, 1, 15000) == 1 &&
           read(p[0], line + used, 1) == 1 && line[used] != '\n')
        used++;
    line[used] = '\0';
    close(p[0]);
    if (!strstr(line, "the path space is at")) {
        printf("# export: not measured: peermap export did not mount (not root? "
               "FUSE mounting not permitted?)\n");
        bench_await_child(pid, BENCH_START_MS, "peermap export", NULL);
        export_pid = 0;
        return -1;
    }
    return 0;
}


/* ---- the floor: FUSE alone ----
 *
 * One direct-I/O file, "f", of DEV_SPAN bytes whose byte at offset o is
 * pattern[o % PATTERN], like the manager's device; every read answered
 * with fuse_reply_buf() from a copy of the pattern in the child's own
 * memory (starting, as malloc() puts it and as the export lays out the
 * manager's file, 16 bytes into a page).  No manager, no message: the
 * difference between the export and this is the export's own work plus
 * the manager exchange. */

#define FLOOR_INO 2

static const unsigned char *floor_bytes;

static void floor_attr(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_nlink = 1;
    st->st_mode = ino == FLOOR_INO ? S_IFREG | 0444 : S_IFDIR | 0555;
    st->st_size = ino == FLOOR_INO ? (off_t)DEV_SPAN : 0;
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (parent != FUSE_ROOT_ID || strcmp(name, "f") != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = FLOOR_INO;
    e.attr_timeout = e.entry_timeout = 3600;
    floor_attr(FLOOR_INO, &e.attr);
    fuse_reply_entry(req, &e);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct stat st;
    floor_attr(ino, &st);
    fuse_reply_attr(req, &st, 3600);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != FLOOR_INO) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->direct_io = 1;   /* as the export's devices: one request per read() */
    fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    uint64_t left = (uint64_t)off < DEV_SPAN ? DEV_SPAN - (uint64_t)off : 0;
    if (size > left)
        size = (size_t)left;
    if (size > PATTERN)
        size = PATTERN;
    fuse_reply_buf(req, (const char *)floor_bytes + (uint64_t)off % PATTERN, size);
}

static const struct fuse_lowlevel_ops floor_ops = {
    .lookup = floor_lookup,
    .getattr = floor_getattr,
    .open = floor_open,
    .read = floor_read,
};

/* Its kinds: one thread; libfuse's multi-threaded loop as the export runs
 * it; one thread answering from transparent huge pages. */
enum { FLOOR_ONE, FLOOR_MT, FLOOR_THP };
static pid_t floor_pid[3];
static char floor_mnt[3][128];

/* The floor's copy of the pattern, 16 bytes into a page as a malloc()'d
 * buffer is; for FLOOR_THP in an anonymous region the kernel is asked to
 * back with 2 MiB pages (MADV_HUGEPAGE: transparent huge pages are
 * "madvise" here).  NULL if there is no memory; *huge: whether it got
 * huge pages (AnonHugePages in smaps_rollup). */
static unsigned char *floor_copy(int kind, int *huge)
{
    unsigned char *b;
    *huge = 0;
    if (kind != FLOOR_THP) {
        b = malloc(2 * PATTERN);
    } else {
        size_t huge_sz = 2u << 20, len = 2 * PATTERN + PAGE_ROOM;
        unsigned char *m = mmap(NULL, len + huge_sz, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        unsigned char *h = (unsigned char *)(((uintptr_t)m + huge_sz - 1) & ~(uintptr_t)(huge_sz - 1));
        madvise(h, len, MADV_HUGEPAGE);
        b = h + 16;
    }
    if (!b)
        return NULL;
    memcpy(b, pattern, 2 * PATTERN);
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    unsigned long kb;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %lu kB", &kb) == 1 && kb >= 2 * PATTERN / 1024)
            *huge = 1;
    if (f)
        fclose(f);
    return b;
}

/* The floor file system of this kind at floor_mnt[kind] (a directory
 * made here), served by a child pinned to `cpu`.  0, or -1 with the reason
 * printed. */
static int start_floor(int kind, int cpu)
{
    snprintf(floor_mnt[kind], sizeof floor_mnt[kind], "%s/floor%d", mnt_dir, kind);
    if (mkdir(floor_mnt[kind], 0755) < 0)
        return -1;
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        bench_pin_self(cpu);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int huge;
        floor_bytes = floor_copy(kind, &huge);
        if (!floor_bytes)
            _exit(2);
        char *argv[] = { (char *)"pm-bench-floor", (char *)"-o", (char *)"fsname=pmfloor", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);
        struct fuse_session *se = fuse_session_new(&args, &floor_ops, sizeof floor_ops, NULL);
        if (!se || fuse_session_mount(se, floor_mnt[kind]) != 0 ||
            fuse_set_signal_handlers(se) != 0)
            _exit(3);
        char c = kind == FLOOR_THP && !huge ? 2 : 1;
        if (write(p[1], &c, 1) != 1)
            _exit(4);
        close(p[1]);
        if (kind == FLOOR_MT) {
            struct fuse_loop_config *cfg = fuse_loop_cfg_create();
            if (!cfg)
                _exit(5);
            fuse_loop_cfg_set_max_threads(cfg, 32);
            fuse_loop_cfg_set_idle_threads(cfg, 4);
            fuse_session_loop_mt(se, cfg);
        } else {
            fuse_session_loop(se);
        }
        fuse_remove_signal_handlers(se);
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        _exit(0);
    }
    close(p[1]);
    if (pid < 0)
        return -1;
    floor_pid[kind] = pid;
    char c = 0;
    struct pollfd pp = { .fd = p[0], .events = POLLIN };
    int ok = poll(&pp, 1, 15000) == 1 && read(p[0], &c, 1) == 1;
    close(p[0]);
    if (!ok) {
        printf("# floor: not measured: the minimal FUSE file system did not mount\n");
        return -1;
    }
    if (c == 2) {
        printf("# floor: no huge-page floor: the kernel gave the floor no transparent huge pages\n");
        return -1;
    }
    return 0;
}

static void stop_floor(int kind)
{
    if (floor_pid[kind] > 0) {
        end_child(floor_pid[kind]);
        floor_pid[kind] = 0;
    }
    if (floor_mnt[kind][0]) {
        umount2(floor_mnt[kind], MNT_DETACH);
        rmdir(floor_mnt[kind]);
        floor_mnt[kind][0] = '\0';
    }
}

/* ---- measurements ---- */

/* Per size, the sources in the order they alternate. */
enum src_kind { PM, EX, TM, PV, FL, FLMT, FLTHP, NSRC };
static const char *names[2][NSRC] = {
    { "ex_pm_read_4k", "ex_export_read_4k", "ex_tmpfs_read_4k", "ex_pm_read_view_4k",
      "ex_fuse_floor_4k", "ex_fuse_floor_mt_4k", "ex_fuse_floor_thp_4k" },
    { "ex_pm_read_1m", "ex_export_read_1m", "ex_tmpfs_read_1m", "ex_pm_read_view_1m",
      "ex_fuse_floor_1m", "ex_fuse_floor_mt_1m", "ex_fuse_floor_thp_1m" },
};

struct src {
    int fd;
    int pm;          /* a pm_open() descriptor: 1 pm_read(), 2 pm_read_view() */
    uint64_t off;    /* where the next sequential read starts */
};

static void rewind_src(struct src *s)
{
    if (s->pm ? pm_lseek(s->fd, 0, SEEK_SET) != 0 : lseek(s->fd, 0, SEEK_SET) != 0)
        bench_die("lseek: %s", strerror(errno));
    s->off = 0;
}

static uint64_t timed_read(struct src *s, unsigned char *buf, size_t n, const char *what)
{
    if (s->off + n > DEV_SPAN)
        rewind_src(s);
    struct pm_read_place at = PM_READ_PLACE_INIT;
    uint64_t t0 = bench_now_ns();
    ssize_t r = s->pm == 2 ? pm_read_view(s->fd, buf, n, &at)
              : s->pm ? pm_read(s->fd, buf, n) : read(s->fd, buf, n);
    uint64_t t = bench_now_ns() - t0;
    if (r != (ssize_t)n)
        bench_die("%s: read %zd of %zu: %s", what, r, n, r < 0 ? strerror(errno) : "short");
    check(at.view ? at.view : buf, n, s->off, what);
    if (s->pm == 2)
        pm_read_place_done(s->fd, &at);
    s->off += n;
    return t;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 2000, 200);
    setvbuf(stdout, NULL, _IOLBF, 0);
    make_pattern();
    atexit(cleanup);
    strcpy(space, "/tmp/pm-bench-space-XXXXXX");
    if (!mkdtemp(space) || chmod(space, 01777) < 0)
        bench_die("path space: %s", strerror(errno));
    setenv("PEERMAP_PATHSPACE", space, 1);

    int rp[2];
    if (pipe(rp) < 0)
        bench_die("pipe");
    pid_t mpid = fork();
    if (mpid == 0) {
        close(rp[0]);
        manager(o.target_cpu, rp[1]);
    }
    close(rp[1]);
    bench_adopt_target(mpid);
    char c;
    bench_read_within(rp[0], &c, 1, BENCH_START_MS, "the manager");
    close(rp[0]);
    bench_pin_self(o.caller_cpu);
    if (start_export(o.target_cpu) < 0)
        return 0;
    /* The floors, on the export's CPU; without them the rest is measured. */
    int nsrc = NSRC;
    if (start_floor(FLOOR_ONE, o.target_cpu) < 0 || start_floor(FLOOR_MT, o.target_cpu) < 0)
        nsrc = FL;
    else if (start_floor(FLOOR_THP, o.target_cpu) < 0)
        nsrc = FLTHP;

    /* The tmpfs file: the same bytes. */
    snprintf(shm_path, sizeof shm_path, "/dev/shm/pm-bench-export-%d", (int)getpid());
    int tfd = open(shm_path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (tfd < 0)
        bench_die("%s: %s", shm_path, strerror(errno));
    for (uint64_t at = 0; at < DEV_SPAN; at += PATTERN)
        if (pwrite(tfd, pattern, PATTERN, (off_t)at) != (ssize_t)PATTERN)
            bench_die("tmpfs write");

    char dev[PATH_MAX], file[PATH_MAX];
    snprintf(dev, sizeof dev, "%s/bx/dev", mnt);
    snprintf(file, sizeof file, "%s/bx/file", mnt);
    char floor_file[3][PATH_MAX];
    for (int k = 0; k < 3; k++)
        snprintf(floor_file[k], sizeof floor_file[k], "%s/f", floor_mnt[k]);
    struct src srcs[NSRC] = {
        [PM] = { pm_open("/bx/dev", O_RDONLY), 1, 0 },
        [EX] = { open(dev, O_RDONLY), 0, 0 },
        [TM] = { tfd, 0, 0 },
        [PV] = { pm_open("/bx/dev", O_RDONLY), 2, 0 },
        [FL] = { nsrc > FL ? open(floor_file[FLOOR_ONE], O_RDONLY) : -1, 0, 0 },
        [FLMT] = { nsrc > FLMT ? open(floor_file[FLOOR_MT], O_RDONLY) : -1, 0, 0 },
        [FLTHP] = { nsrc > FLTHP ? open(floor_file[FLOOR_THP], O_RDONLY) : -1, 0, 0 },
    };
    for (int k = 0; k < nsrc; k++)
        if (srcs[k].fd < 0)
            bench_die("open (%s): %s", names[0][k], strerror(errno));
    rewind_src(&srcs[TM]);
    unsigned char *buf = malloc(LARGE);
    if (!buf)
        bench_die("out of memory");

    struct samples s[2][NSRC];
    for (int k = 0; k < nsrc; k++) {
        samples_init(&s[0][k], o.n);
        samples_init(&s[1][k], o.n);
    }
    size_t n1m = o.n / 10 ? o.n / 10 : 1, w1m = o.warmup / 10;
    for (size_t i = 0; i < o.warmup; i++)
        for (int k = 0; k < nsrc; k++)
            timed_read(&srcs[k], buf, SMALL, names[0][k]);
    for (size_t i = 0; i < w1m; i++)
        for (int k = 0; k < nsrc; k++)
            timed_read(&srcs[k], buf, LARGE, names[1][k]);
    for (size_t done = 0; done < o.n; done += BLOCK) {
        for (int k = 0; k < nsrc; k++)
            for (size_t i = done; i < done + BLOCK && i < o.n; i++)
                samples_add(&s[0][k], timed_read(&srcs[k], buf, SMALL, names[0][k]));
        if (done / BLOCK % 10 == 0 && s[1][PM].n < n1m)
            for (int k = 0; k < nsrc; k++)
                for (size_t i = 0; i < BLOCK / 10 && s[1][k].n < n1m; i++)
                    samples_add(&s[1][k], timed_read(&srcs[k], buf, LARGE, names[1][k]));
    }
    while (s[1][PM].n < n1m)
        for (int k = 0; k < nsrc; k++)
            samples_add(&s[1][k], timed_read(&srcs[k], buf, LARGE, names[1][k]));
    for (int z = 0; z < 2; z++)
        for (int k = 0; k < nsrc; k++)
            samples_report(&s[z][k], names[z][k]);

    /* First touches of a mapping of the regular file: pages far apart,
     * never read before (a fresh open drops the page cache). */
    long pg = sysconf(_SC_PAGESIZE);
    size_t ntouch = o.n < 1000 ? o.n : 1000;
    for (int ra = 0; ra < 2; ra++) {
        int fd = open(file, O_RDONLY);
        if (fd < 0)
            bench_die("open %s: %s", file, strerror(errno));
        unsigned char *m = mmap(NULL, MGR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            bench_die("mmap: %s", strerror(errno));
        if (!ra)
            madvise(m, MGR_SIZE, MADV_RANDOM);
        struct samples t;
        samples_init(&t, ntouch);
        size_t stride = MGR_SIZE / ntouch;   /* 1 MiB for 1000: past any read-around */
        size_t *order = malloc(ntouch * sizeof *order);
        if (!order)
            bench_die("out of memory");
        for (size_t i = 0; i < ntouch; i++)
            order[i] = i;
        unsigned seed = 12345u + (unsigned)ra;
        for (size_t i = ntouch; i > 1; i--) {
            size_t j = (size_t)rand_r(&seed) % i, tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (size_t i = 0; i < ntouch; i++) {
            uint64_t off = (uint64_t)order[i] * stride + (uint64_t)pg * (i % 7);
            uint64_t t0 = bench_now_ns();
            unsigned char v = *(volatile unsigned char *)(m + off);
            samples_add(&t, bench_now_ns() - t0);
            if (v != pattern[off % PATTERN])
                bench_die("mapping: wrong byte at %llu", (unsigned long long)off);
        }
        samples_report(&t, ra ? "ex_export_touch_ra" : "ex_export_touch");
        samples_free(&t);
        free(order);
        munmap(m, MGR_SIZE);
        close(fd);
    }

    /* Sequential 4 KiB reads of the regular file from a fresh open. */
    {
        struct src f = { open(file, O_RDONLY), 0, 0 };
        if (f.fd < 0)
            bench_die("open %s: %s", file, strerror(errno));
        struct samples t;
        samples_init(&t, o.n);
        for (size_t i = 0; i < o.n; i++)
            samples_add(&t, timed_read(&f, buf, SMALL, "export file read"));
        samples_report(&t, "ex_export_seq_4k");
        samples_free(&t);
        close(f.fd);
    }

    for (int k = 0; k < nsrc; k++)
        if (srcs[k].pm)
            pm_close(srcs[k].fd);
        else
            close(srcs[k].fd);
    for (int k = 0; k < nsrc; k++) {
        samples_free(&s[0][k]);
        samples_free(&s[1][k]);
    }
    free(buf);
    bench_check_target(mpid);
    return 0;
}
