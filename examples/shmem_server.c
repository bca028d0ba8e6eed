/*
 * shmem_server - a resource manager in the style of QNX's /dev/shmem: a
 * directory where clients create named shared memory objects, which
 * mmap() then maps zero-copy.
 *
 *   shmem_server [-p path] [-s size] [-r fd] [-v]
 *
 *   -p path    the directory to attach (default /dev/pmshm)
 *   -s size    the size of every object, in bytes or with K, M or G
 *              (default 1M).  QNX's shm objects get their size from
 *              ftruncate(); here it is fixed when the object is created,
 *              which keeps the example about mmap().
 *   -r fd      write one byte to descriptor fd once the path is attached,
 *              then close it (for a parent that waits for us)
 *   -v         say what each handler does
 *
 * Clients create objects with pm_open("/dev/pmshm/NAME", O_CREAT | O_RDWR,
 * 0666) and use them with pm_read(), pm_write(), pm_fstat(), and pm_mmap():
 * the mmap handler answers the memory manager's _IO_MMAP with
 * _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT and the object's own descriptor,
 * so every mapping of an object - the server's, every client's - is the
 * same memory: what one writes, the others see at once, nothing is copied.
 *
 * Each object is a memfd the server keeps, and keeps mapped itself so that
 * read() and write() are served straight from and into the shared pages.
 * Objects live until the server exits.  SIGTERM or SIGINT detach the path
 * and exit with status 0.  Single-threaded (dispatch_block() loop): every
 * handler is short, and the list of objects needs no lock.
 *
 * For a QNX porter: the only parts that differ from a QNX /dev/shmem-like
 * manager are the memfd (QNX: shm_open(SHM_ANON) or shm_create_handle())
 * and the path space (PEERMAP_PATHSPACE instead of procnto's).
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
#include <sys/mman.h>
#include <unistd.h>

/* Our attribute structure extends iofunc_attr_t, the way QNX's guide
 * teaches: iofunc_attr_t first, and IOFUNC_ATTR_T names ours, so that the
 * handlers get it through ocb->attr without casts. */
struct shm_obj;
#define IOFUNC_ATTR_T struct shm_obj
#include <sys/iofunc.h>
#include <sys/dispatch.h>

struct shm_obj {
    iofunc_attr_t attr;       /* first: the iofunc layer sees only this */
    struct shm_obj *next;
    int fd;                   /* the memfd; -1 for the directory itself */
    unsigned char *mem;       /* our own mapping of it */
    char name[NAME_MAX + 1];
};

static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t io_funcs;
static iofunc_mount_t mount;
static struct shm_obj dir;        /* the attached directory */
static struct shm_obj *objects;   /* what clients created in it */
static size_t obj_size = 1024 * 1024;
static int verbose;

static struct shm_obj *lookup(const char *name)
{
    for (struct shm_obj *o = objects; o; o = o->next)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static void destroy(struct shm_obj *o)
{
    if (o->mem)
        munmap(o->mem, obj_size);
    if (o->fd >= 0)
        close(o->fd);
    free(o);
}

/*
 * open(): the directory itself ("" below the attached path), an existing
 * object, or - with O_CREAT - a new one.  iofunc_open() applies POSIX's
 * rules (permissions, O_EXCL, share modes); given the directory's
 * attributes it checks the creator may write there and initialises the
 * new object's attributes for the creator, with the mode it asked for.
 */
static int shm_open_handler(resmgr_context_t *ctp, io_open_t *msg, struct shm_obj *handle,
                            void *extra)
{
    (void)extra;
    const char *name = msg->connect.path;
    int status;

    if (name[0] == '\0')
        return iofunc_open_default(ctp, msg, handle, extra);
    /* Flat, as /dev/shmem is: no subdirectories. */
    if (strchr(name, '/'))
        return ENOENT;
    if (strlen(name) > NAME_MAX)
        return ENAMETOOLONG;

    struct shm_obj *o = lookup(name);
    if (o) {
        if ((status = iofunc_open(ctp, msg, &o->attr, NULL, NULL)) != EOK)
            return status;
        return iofunc_ocb_attach(ctp, msg, NULL, o, NULL);
    }
    if (!(msg->connect.ioflag & O_CREAT))
        return ENOENT;

    if ((o = calloc(1, sizeof *o)) == NULL)
        return ENOMEM;
    o->fd = -1;
    snprintf(o->name, sizeof o->name, "%s", name);
    if ((status = iofunc_open(ctp, msg, &o->attr, &dir.attr, NULL)) != EOK) {
        destroy(o);
        return status;
    }
    /* The memory every mapping of the object will share.  Close-on-exec
     * is right: the framework passes it to clients with the mmap reply,
     * never through exec(). */
    o->fd = memfd_create(o->name, MFD_CLOEXEC);
    if (o->fd < 0 || ftruncate(o->fd, (off_t)obj_size) < 0) {
        status = errno;
        destroy(o);
        return status;
    }
    o->mem = mmap(NULL, obj_size, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
    if (o->mem == MAP_FAILED) {
        o->mem = NULL;
        status = errno;
        destroy(o);
        return status;
    }
    o->attr.nbytes = (off_t)obj_size;
    if ((status = iofunc_ocb_attach(ctp, msg, NULL, o, NULL)) != EOK) {
        destroy(o);
        return status;
    }
    o->next = objects;
    objects = o;
    if (verbose)
        printf("shmem_server: created %s (%zu bytes, mode %o)\n", o->name, obj_size,
               (unsigned)(o->attr.mode & 07777));
    return EOK;
}

/* Where a read or write applies: pread()/pwrite() carry their own offset
 * after the header (_IO_XTYPE_OFFSET) and leave the open's alone. */
static off_t rw_offset(uint32_t xtype, const void *hdr_end, const iofunc_ocb_t *ocb)
{
    if ((xtype & _IO_XTYPE_MASK) == _IO_XTYPE_OFFSET) {
        struct _xtype_offset xo;
        memcpy(&xo, hdr_end, sizeof xo);
        return (off_t)xo.offset;
    }
    return ocb->offset;
}

/* read(): reply straight out of the shared pages, one reply part. */
static int shm_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int status, nonblock;

    if ((status = iofunc_read_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    struct shm_obj *o = ocb->attr;
    if (o->fd < 0)
        return EISDIR;
    uint32_t xtype = msg->i.xtype;
    if ((xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE && (xtype & _IO_XTYPE_MASK) != _IO_XTYPE_OFFSET)
        return ENOSYS;
    off_t at = rw_offset(xtype, &msg->i + 1, ocb);
    if (at < 0)
        return EINVAL;

    uint64_t n = _IO_READ_GET_NBYTES(msg);
    uint64_t left = at < o->attr.nbytes ? (uint64_t)(o->attr.nbytes - at) : 0;
    if (n > left)
        n = left;
    if (n > INT_MAX)
        n = INT_MAX;
    if ((xtype & _IO_XTYPE_MASK) == _IO_XTYPE_NONE)
        ocb->offset = at + (off_t)n;
    o->attr.flags |= IOFUNC_ATTR_ATIME;
    _IO_SET_READ_NBYTES(ctp, (int)n);
    return n ? _RESMGR_PTR(ctp, o->mem + at, (size_t)n) : _RESMGR_NPARTS(0);
}

/* write(): fetch the client's bytes straight into the shared pages, so
 * that every mapping sees them as soon as the client's call returns. */
static int shm_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
    int status, nonblock;

    if ((status = iofunc_write_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    struct shm_obj *o = ocb->attr;
    if (o->fd < 0)
        return EISDIR;
    uint32_t xtype = msg->i.xtype;
    size_t hdr = sizeof msg->i;
    if ((xtype & _IO_XTYPE_MASK) == _IO_XTYPE_OFFSET)
        hdr += sizeof(struct _xtype_offset);
    else if ((xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;
    off_t at = rw_offset(xtype, &msg->i + 1, ocb);
    if ((xtype & _IO_XTYPE_MASK) == _IO_XTYPE_NONE && (ocb->ioflag & O_APPEND))
        at = o->attr.nbytes;
    if (at < 0)
        return EINVAL;

    uint64_t n = _IO_WRITE_GET_NBYTES(msg);
    if (n > 0 && at >= o->attr.nbytes)
        return ENOSPC; /* the size is fixed */
    if (n > (uint64_t)(o->attr.nbytes - at))
        n = (uint64_t)(o->attr.nbytes - at);
    if (n > INT_MAX)
        n = INT_MAX;
    if (n > 0) {
        ssize_t got = resmgr_msgread(ctp, o->mem + at, (size_t)n, hdr);
        if (got < 0)
            return errno;
        n = (uint64_t)got;
    }
    if (verbose)
        printf("shmem_server: %s: wrote %llu bytes at %lld\n", o->name,
               (unsigned long long)n, (long long)at);
    if ((xtype & _IO_XTYPE_MASK) == _IO_XTYPE_NONE)
        ocb->offset = at + (off_t)n;
    if (n)
        o->attr.flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
    _IO_SET_WRITE_NBYTES(ctp, (int)n);
    return _RESMGR_NPARTS(0);
}

/*
 * mmap(): the memory manager asks on the client's behalf.  iofunc_mmap_ext()
 * makes the POSIX checks (the open's mode against the protection asked
 * for, a read-only mount...) and fills the reply; on success we add the
 * object itself, which the framework sends along with the reply, and the
 * client maps our pages instead of reading them from us.
 */
static int shm_mmap(resmgr_context_t *ctp, io_mmap_t *msg, iofunc_ocb_t *ocb)
{
    io_mmap_ext_t *xmsg = (io_mmap_ext_t *)msg;
    struct shm_obj *o = ocb->attr;
    if (o->fd < 0)
        return ENODEV; /* the directory has no memory to map */

    /* The flags: hand over the object, and put its attributes in the
     * reply (QNX 7.1's preferred stat form, from our attr), which spares
     * the memory manager an _IO_STAT round trip on every mapping. */
    int r = iofunc_mmap_ext(ctp, xmsg, ocb, &o->attr,
                            _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT |
                                _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(_STAT_FORM_PREFERRED),
                            NULL);
    if (r > 0)
        return r; /* an errno value */
    xmsg->o.base.fd = o->fd;
    if (verbose)
        printf("shmem_server: %s: mmap by pid %d, prot %#x, handed over the object\n",
               o->name, (int)xmsg->i.info.pid, (unsigned)(xmsg->i.prot & PROT_MASK));
    return r;
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
        printf("shmem_server: signal %d, detaching\n", sig);
    resmgr_detach(dpp, attach_id, _RESMGR_DETACH_ALL);
    fflush(stdout);
    _exit(EXIT_SUCCESS);
    return NULL;
}

static int parse_size(const char *s, size_t *out)
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
    if (errno || end == s || *end || v == 0 || v > (SIZE_MAX >> 1) / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-p path] [-s size] [-r fd] [-v]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = "/dev/pmshm";
    int ready_fd = -1, opt;
    resmgr_attr_t resmgr_attr;

    while ((opt = getopt(argc, argv, "p:s:r:v")) != -1) {
        switch (opt) {
        case 'p': path = optarg; break;
        case 's': if (parse_size(optarg, &obj_size) < 0) usage(argv[0]); break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'v': verbose = 1; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc)
        usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* 1. The dispatch structure. */
    if ((dpp = dispatch_create()) == NULL) {
        fprintf(stderr, "%s: dispatch_create: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }

    /* 2. Messages up to 2 KiB arrive whole (the open's path, the mmap
     *    request and its extended reply fit); one reply part is enough. */
    memset(&resmgr_attr, 0, sizeof resmgr_attr);
    resmgr_attr.nparts_max = 1;
    resmgr_attr.msg_max_size = 2048;

    /* 3. POSIX defaults (stat, lseek, close, devctl...), then ours. */
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    connect_funcs.open = shm_open_handler;
    io_funcs.read = shm_read;
    io_funcs.write = shm_write;
    io_funcs.mmap = shm_mmap;

    /* 4. The directory: anyone may create objects in it, as in /dev/shmem.
     *    Its mount gives every object the same device number. */
    iofunc_attr_init(&dir.attr, S_IFDIR | 01777, NULL, NULL);
    dir.attr.mount = &mount;
    dir.fd = -1;

    /* 5. The directory and everything below it are ours. */
    attach_id = resmgr_attach(dpp, &resmgr_attr, path, _FTYPE_ANY, _RESMGR_FLAG_DIR,
                              &connect_funcs, &io_funcs, &dir);
    if (attach_id == -1) {
        fprintf(stderr, "%s: resmgr_attach %s: %s\n", argv[0], path, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("shmem_server: serving %s (objects of %zu bytes, pid %d)\n", path, obj_size,
           (int)getpid());

    pthread_t stop_thread;
    if (pthread_create(&stop_thread, NULL, stopper, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the signal thread\n", argv[0]);
        return EXIT_FAILURE;
    }
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("shmem_server: ready descriptor");
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
