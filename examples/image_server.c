/*
 * image_server - a read-only resource manager whose files are made up as
 * they are read, and which clients mmap() by paging them in.
 *
 *   image_server [-p path] [-s size] [-W width] [-H height] [-r fd] [-v]
 *
 *   -p path    the directory to attach (default /dev/pmimage)
 *   -s size    the size of the file "pattern", in bytes or with K, M or G
 *              (default 1G)
 *   -W, -H     the size in pixels of the image "test.ppm" (default 640x480)
 *   -r fd      write one byte to descriptor fd once the path is attached,
 *              then close it (for a parent that waits for us)
 *   -v         say what each handler does
 *
 * Two files, mode 0444 on a read-only mount:
 *   pattern    `size` bytes, the 64-bit little-endian word at offset 8*k
 *              being (k + 1) * 0x9E3779B97F4A7C15 - a file as large as you
 *              like that costs no memory, every byte of which a client can
 *              check (demo_resource_mmap.c and bench_memmgr.c compute the
 *              same)
 *   test.ppm   a binary PPM (P6) test card: red grows left to right, green
 *              top to bottom, blue a 32-pixel checkerboard
 *
 * read() honours the open's offset and pread()'s own (_IO_XTYPE_OFFSET).
 * The mmap handler is the default one, iofunc_mmap_default(): it grants
 * the mapping and the client's memory manager then reads each page it
 * needs with _IO_READ on its own connection, the way QNX's memory manager
 * pages in a file from a file system.  A devctl (IMAGE_DEVCTL_STATS) tells
 * how many reads and bytes this file has served, so that a client can see
 * how little of a large file its mapping actually fetched.
 *
 * SIGTERM or SIGINT detach the path and exit with status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct image;
#define IOFUNC_ATTR_T struct image
#include <devctl.h>
#include <sys/iofunc.h>
#include <sys/dispatch.h>

/* ---- the device's command (demo_resource_mmap.c defines the same) ---- */

struct image_stats {
    uint64_t reads;   /* _IO_READ messages that returned data */
    uint64_t bytes;   /* bytes they returned */
};
#define IMAGE_DEVCTL_STATS __DIOF(_DCMD_MISC, 0x20, struct image_stats)

/* ---- the files ---- */

enum image_kind { IMG_DIR, IMG_PATTERN, IMG_PPM };

struct image {
    iofunc_attr_t attr;       /* first: the iofunc layer sees only this */
    enum image_kind kind;
    const char *name;
    struct image_stats stats;
};

static iofunc_mount_t mount;
static struct image dir = { .kind = IMG_DIR, .name = "" };
static struct image pattern = { .kind = IMG_PATTERN, .name = "pattern" };
static struct image ppm = { .kind = IMG_PPM, .name = "test.ppm" };
static unsigned ppm_w = 640, ppm_h = 480;
static char ppm_hdr[64];
static size_t ppm_hdr_len;
static int verbose;

/* The pattern's bytes (little-endian words; x86 and arm64 both are). */
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

static unsigned char ppm_byte(uint64_t off)
{
    if (off < ppm_hdr_len)
        return (unsigned char)ppm_hdr[off];
    uint64_t p = (off - ppm_hdr_len) / 3, x = p % ppm_w, y = p / ppm_w;
    switch ((off - ppm_hdr_len) % 3) {
    case 0: return (unsigned char)(x * 256 / ppm_w);
    case 1: return (unsigned char)(y * 256 / ppm_h);
    default: return ((x / 32) ^ (y / 32)) & 1 ? 255 : 0;
    }
}

/* The reply buffer: reads are made up into it.  One, since one thread
 * serves; reads larger than it are answered short, which POSIX allows and
 * clients (the memory manager too) loop over. */
#define MAX_READ (4u << 20)
static unsigned char *out_buf;

/*
 * read(): the bytes at the open's offset, or at pread()'s own offset
 * (which leaves the open's alone).  Past the end: 0 bytes, end of file.
 */
static int image_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int status, nonblock;

    if ((status = iofunc_read_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    struct image *img = ocb->attr;
    if (img->kind == IMG_DIR)
        return EISDIR;
    uint32_t xtype = msg->i.xtype & _IO_XTYPE_MASK;
    off_t at = ocb->offset;
    if (xtype == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        memcpy(&xo, &msg->i + 1, sizeof xo); /* it follows the header */
        at = (off_t)xo.offset;
    } else if (xtype != _IO_XTYPE_NONE) {
        return ENOSYS;
    }
    if (at < 0)
        return EINVAL;

    uint64_t n = _IO_READ_GET_NBYTES(msg);
    uint64_t left = at < img->attr.nbytes ? (uint64_t)(img->attr.nbytes - at) : 0;
    if (n > left)
        n = left;
    if (n > MAX_READ)
        n = MAX_READ;
    if (img->kind == IMG_PATTERN) {
        pattern_fill(out_buf, (uint64_t)at, (size_t)n);
    } else {
        for (uint64_t i = 0; i < n; i++)
            out_buf[i] = ppm_byte((uint64_t)at + i);
    }
    if (verbose)
        printf("image_server: %s: read %llu bytes at %lld%s\n", img->name,
               (unsigned long long)n, (long long)at,
               xtype == _IO_XTYPE_OFFSET ? " (pread)" : "");
    if (xtype == _IO_XTYPE_NONE)
        ocb->offset = at + (off_t)n;
    if (n) {
        img->stats.reads++;
        img->stats.bytes += n;
    }
    /* No access-time update: the mount is read-only. */
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return n ? _RESMGR_PTR(ctp, out_buf, (size_t)n) : _RESMGR_NPARTS(0);
}

/* devctl(): the common commands first, then the statistics of this file. */
static int image_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb)
{
    int status;

    if ((status = iofunc_devctl_default(ctp, msg, ocb)) != _RESMGR_DEFAULT)
        return status;
    if ((unsigned)msg->i.dcmd != IMAGE_DEVCTL_STATS)
        return ENOSYS;
    struct image_stats *data = _DEVCTL_DATA(msg->i);
    *data = ocb->attr->stats;
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.nbytes = sizeof *data;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o + sizeof *data);
}

/* open(): the directory, or one of its two files; nothing can be created
 * (iofunc_open() refuses writing on the read-only mount with EROFS). */
static int image_open(resmgr_context_t *ctp, io_open_t *msg, struct image *handle, void *extra)
{
    const char *name = msg->connect.path;
    struct image *img = handle;
    if (name[0] != '\0') {
        if (strcmp(name, pattern.name) == 0)
            img = &pattern;
        else if (strcmp(name, ppm.name) == 0)
            img = &ppm;
        else
            return (msg->connect.ioflag & O_CREAT) ? EROFS : ENOENT;
    }
    return iofunc_open_default(ctp, msg, img, extra);
}

/* ---- shutting down on SIGTERM/SIGINT ---- */

static dispatch_t *dpp;
static int attach_id = -1;
static sigset_t stop_signals;

static void *stopper(void *arg)
{
    (void)arg;
    int sig;
    sigwait(&stop_signals, &sig);
    if (verbose)
        printf("image_server: signal %d, detaching\n", sig);
    resmgr_detach(dpp, attach_id, _RESMGR_DETACH_ALL);
    fflush(stdout);
    _exit(EXIT_SUCCESS);
    return NULL;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    unsigned long long mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: break;
    }
    if (errno || end == s || *end || v == 0 || v > (uint64_t)INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-p path] [-s size] [-W width] [-H height] [-r fd] [-v]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = "/dev/pmimage";
    uint64_t size = 1ull << 30;
    int ready_fd = -1, opt;
    resmgr_attr_t resmgr_attr;
    resmgr_connect_funcs_t connect_funcs;
    resmgr_io_funcs_t io_funcs;

    while ((opt = getopt(argc, argv, "p:s:W:H:r:v")) != -1) {
        switch (opt) {
        case 'p': path = optarg; break;
        case 's': if (parse_size(optarg, &size) < 0) usage(argv[0]); break;
        case 'W': ppm_w = (unsigned)atoi(optarg); break;
        case 'H': ppm_h = (unsigned)atoi(optarg); break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'v': verbose = 1; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || ppm_w == 0 || ppm_h == 0 || ppm_w > 65535 || ppm_h > 65535)
        usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if ((out_buf = malloc(MAX_READ)) == NULL) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return EXIT_FAILURE;
    }
    ppm_hdr_len = (size_t)snprintf(ppm_hdr, sizeof ppm_hdr, "P6\n%u %u\n255\n", ppm_w, ppm_h);

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* 1. The dispatch structure. */
    if ((dpp = dispatch_create()) == NULL) {
        fprintf(stderr, "%s: dispatch_create: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }

    /* 2. Messages up to 2 KiB arrive whole; one reply part is enough. */
    memset(&resmgr_attr, 0, sizeof resmgr_attr);
    resmgr_attr.nparts_max = 1;
    resmgr_attr.msg_max_size = 2048;

    /* 3. POSIX defaults, then ours.  The mmap slot keeps the default that
     *    iofunc_func_init() puts there; it is named here only to say so:
     *    mappings of our files are paged in through image_read(). */
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    connect_funcs.open = image_open;
    io_funcs.read = image_read;
    io_funcs.devctl = image_devctl;
    io_funcs.mmap = iofunc_mmap_default;

    /* 4. A read-only mount: iofunc_open() and iofunc_mmap() refuse writing
     *    (EROFS) without a check of ours. */
    mount.flags = ST_RDONLY;
    iofunc_attr_init(&dir.attr, S_IFDIR | 0555, NULL, NULL);
    iofunc_attr_init(&pattern.attr, S_IFREG | 0444, &dir.attr, NULL);
    iofunc_attr_init(&ppm.attr, S_IFREG | 0444, &dir.attr, NULL);
    dir.attr.mount = pattern.attr.mount = ppm.attr.mount = &mount;
    pattern.attr.nbytes = (off_t)size;
    ppm.attr.nbytes = (off_t)(ppm_hdr_len + 3ull * ppm_w * ppm_h);

    /* 5. The directory and what is below it. */
    attach_id = resmgr_attach(dpp, &resmgr_attr, path, _FTYPE_ANY, _RESMGR_FLAG_DIR,
                              &connect_funcs, &io_funcs, &dir);
    if (attach_id == -1) {
        fprintf(stderr, "%s: resmgr_attach %s: %s\n", argv[0], path, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("image_server: serving %s/%s (%llu bytes) and %s/%s (%ux%u, pid %d)\n", path,
           pattern.name, (unsigned long long)size, path, ppm.name, ppm_w, ppm_h,
           (int)getpid());

    pthread_t stop_thread;
    if (pthread_create(&stop_thread, NULL, stopper, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the signal thread\n", argv[0]);
        return EXIT_FAILURE;
    }
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("image_server: ready descriptor");
        close(ready_fd);
    }

    /* 6. Block for a message, handle it, again. */
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (ctp == NULL) {
        fprintf(stderr, "%s: dispatch_context_alloc: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }
    for (;;) {
        if ((ctp = dispatch_block(ctp)) == NULL) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: dispatch_block: %s\n", argv[0], strerror(errno));
            return EXIT_FAILURE;
        }
        dispatch_handler(ctp);
    }
}
