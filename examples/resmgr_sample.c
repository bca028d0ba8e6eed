/*
 * resmgr_sample - a QNX-style resource manager, built the way QNX's
 * "Writing a Resource Manager" guide builds one, running on Linux.
 *
 * It attaches a device (default /dev/sample) that keeps a buffer:
 *   write()   stores bytes at the open's offset (the device holds 64 KiB),
 *   read()    returns them from the open's offset,
 *   devctl()  gets or sets an integer the device keeps (SAMPLE_DEVCTL_*),
 * and everything else (open, close, stat, lseek...) is done by the iofunc
 * layer's POSIX defaults.
 *
 *   resmgr_sample [-p path] [-t nthreads] [-r fd] [-v]
 *
 *   -p path      the path to attach (default /dev/sample)
 *   -t N         multi-threaded: a thread pool of up to N threads
 *                (default: one thread, a dispatch_block/dispatch_handler loop)
 *   -r fd        write one byte to descriptor fd once the path is attached,
 *                then close it (for a parent that waits for us)
 *   -v           say what each handler does
 *
 * SIGTERM or SIGINT detach the path and exit with status 0.
 * The path is attached in the path space (see PEERMAP_PATHSPACE), where
 * pm_open() finds it; resmgr_sample_client is the matching client.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <devctl.h>
#include <sys/iofunc.h>
#include <sys/dispatch.h>

/* ---- the device's commands (resmgr_sample_client.c defines the same) ---- */

union sample_devctl_msg {
    int tx;   /* what the client sends */
    int rx;   /* what the device answers */
};

#define SAMPLE_DEVCTL_GETVAL __DIOF(_DCMD_MISC, 0x10, int)
#define SAMPLE_DEVCTL_SETVAL __DIOT(_DCMD_MISC, 0x11, int)
#define SAMPLE_DEVCTL_SETGET __DIOTF(_DCMD_MISC, 0x12, union sample_devctl_msg)
#define SAMPLE_DEVCTL_CLEAR  __DION(_DCMD_MISC, 0x13)

/* ---- the device ---- */

#define SAMPLE_SIZE (64 * 1024)

static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t io_funcs;
static iofunc_attr_t attr;

static char sample_buf[SAMPLE_SIZE];   /* attr.nbytes of it are valid */
static int sample_value;               /* what the devctls get and set */
static int verbose;

/*
 * -v: one line per handler call.  A thread pool under load repeats the same
 * line hundreds of times, so a line equal to the one before is counted, not
 * printed, and the count is said once something else happens (the way
 * syslog says "last message repeated N times").
 */
static pthread_mutex_t say_lock = PTHREAD_MUTEX_INITIALIZER;
static char said[128];
static unsigned long repeats;

static void say_repeats(void)
{
    if (repeats)
        printf("resmgr_sample: (the line above %lu more time%s)\n", repeats,
               repeats == 1 ? "" : "s");
    repeats = 0;
}

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
    char line[sizeof said];
    va_list ap;

    if (!verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&say_lock);
    if (strcmp(line, said) == 0) {
        repeats++;
    } else {
        say_repeats();
        printf("resmgr_sample: %s\n", line);
        memcpy(said, line, sizeof said);
    }
    pthread_mutex_unlock(&say_lock);
}

static int io_read(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb);
static int io_write(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb);
static int io_devctl(resmgr_context_t *ctp, io_devctl_t *msg, RESMGR_OCB_T *ocb);

/*
 * read(): check the open may read, refuse special read types, then reply
 * with the bytes from the open's offset - directly out of our buffer, with
 * one reply part, without copying them into the context.
 */
static int io_read(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb)
{
    int status, nonblock;

    if ((status = iofunc_read_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;

    off_t left = ocb->attr->nbytes - ocb->offset;
    size_t nbytes = (size_t)_IO_READ_GET_NBYTES(msg);
    if (left <= 0)
        nbytes = 0;
    else if ((off_t)nbytes > left)
        nbytes = (size_t)left;

    say("read %zu bytes at offset %lld", nbytes, (long long)ocb->offset);
    if (nbytes > 0) {
        SETIOV(ctp->iov, sample_buf + ocb->offset, nbytes);
        ocb->offset += (off_t)nbytes;
    }
    _IO_SET_READ_NBYTES(ctp, (int)nbytes);
    /* Reading marks the access time for update. */
    if (msg->i.nbytes > 0)
        ocb->attr->flags |= IOFUNC_ATTR_ATIME;
    return _RESMGR_NPARTS(nbytes > 0 ? 1 : 0);
}

/*
 * write(): check the open may write, then fetch the client's data from the
 * message (it follows the header; only part of it may have been received)
 * into the buffer at the open's offset, and report how much was taken.
 */
static int io_write(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb)
{
    int status, nonblock;

    if ((status = iofunc_write_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
        return ENOSYS;

    size_t nbytes = (size_t)_IO_WRITE_GET_NBYTES(msg);
    off_t at = (ocb->ioflag & O_APPEND) ? ocb->attr->nbytes : ocb->offset;
    if (nbytes > 0 && at >= SAMPLE_SIZE)
        return ENOSPC;
    if ((off_t)nbytes > SAMPLE_SIZE - at)
        nbytes = (size_t)(SAMPLE_SIZE - at);

    if (nbytes > 0) {
        ssize_t got = resmgr_msgread(ctp, sample_buf + at, nbytes, sizeof(msg->i));
        if (got < 0)
            return errno;
        nbytes = (size_t)got;
    }
    say("wrote %zu bytes at offset %lld", nbytes, (long long)at);

    ocb->offset = at + (off_t)nbytes;
    if (ocb->offset > ocb->attr->nbytes)
        ocb->attr->nbytes = ocb->offset;
    _IO_SET_WRITE_NBYTES(ctp, (int)nbytes);
    if (nbytes > 0)
        ocb->attr->flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
    return _RESMGR_NPARTS(0);
}

/*
 * devctl(): let the default handler answer the commands every manager
 * knows (DCMD_ALL_*); ours follow.  The data, both ways, sits right after
 * the message header; the reply is the header (with ret_val and nbytes)
 * followed by the data.
 */
static int io_devctl(resmgr_context_t *ctp, io_devctl_t *msg, RESMGR_OCB_T *ocb)
{
    int status;

    if ((status = iofunc_devctl_default(ctp, msg, ocb)) != _RESMGR_DEFAULT)
        return status;

    union sample_devctl_msg *data = _DEVCTL_DATA(msg->i);
    size_t need = 0, nbytes = 0;
    switch ((unsigned)msg->i.dcmd) {
    case SAMPLE_DEVCTL_SETVAL:
    case SAMPLE_DEVCTL_SETGET:
        need = sizeof(int);
        break;
    default:
        break;
    }
    /* Make sure the data we are about to read was sent and received. */
    if (need && (msg->i.nbytes < need ||
                 (size_t)ctp->size < sizeof(msg->i) + need))
        return EINVAL;

    switch ((unsigned)msg->i.dcmd) {
    case SAMPLE_DEVCTL_GETVAL:
        data->rx = sample_value;
        nbytes = sizeof(data->rx);
        say("devctl GETVAL -> %d", sample_value);
        break;
    case SAMPLE_DEVCTL_SETVAL:
        sample_value = data->tx;
        say("devctl SETVAL %d", sample_value);
        break;
    case SAMPLE_DEVCTL_SETGET: {
        int old = sample_value;
        sample_value = data->tx;
        data->rx = old;
        nbytes = sizeof(data->rx);
        say("devctl SETGET %d (was %d)", sample_value, old);
        break;
    }
    case SAMPLE_DEVCTL_CLEAR:
        ocb->attr->nbytes = 0;
        ocb->attr->flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
        say("devctl CLEAR");
        break;
    default:
        return ENOSYS;
    }

    memset(&msg->o, 0, sizeof(msg->o));
    msg->o.ret_val = sample_value;
    msg->o.nbytes = (uint32_t)nbytes;
    return _RESMGR_PTR(ctp, &msg->o, sizeof(msg->o) + nbytes);
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
    say("signal %d, detaching", sig);
    resmgr_detach(dpp, attach_id, _RESMGR_DETACH_ALL);
    fflush(stdout);
    _exit(EXIT_SUCCESS);
    return NULL;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-p path] [-t nthreads] [-r fd] [-v]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = "/dev/sample";
    int nthreads = 0, ready_fd = -1, opt;
    resmgr_attr_t resmgr_attr;

    while ((opt = getopt(argc, argv, "p:t:r:v")) != -1) {
        switch (opt) {
        case 'p': path = optarg; break;
        case 't': nthreads = atoi(optarg); break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'v': verbose = 1; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || nthreads < 0 || nthreads > 1000)
        usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Every thread, the pool's included, leaves these to the stopper. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* 1. A dispatch structure: the channel and what is attached to it. */
    if ((dpp = dispatch_create()) == NULL) {
        fprintf(stderr, "%s: dispatch_create: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }

    /* 2. The resource manager's attributes: one reply part is enough for
     *    our handlers, messages up to 2 KiB are received whole. */
    memset(&resmgr_attr, 0, sizeof resmgr_attr);
    resmgr_attr.nparts_max = 1;
    resmgr_attr.msg_max_size = 2048;

    /* 3. The handler tables: POSIX defaults, then our own read, write
     *    and devctl. */
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs,
                     _RESMGR_IO_NFUNCS, &io_funcs);
    io_funcs.read = io_read;
    io_funcs.write = io_write;
    io_funcs.devctl = io_devctl;

    /* 4. The device's attributes: a named special file anyone may use. */
    iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);
    attr.nbytes = 0;

    /* 5. Take over the path. */
    attach_id = resmgr_attach(dpp, &resmgr_attr, path, _FTYPE_ANY, 0,
                              &connect_funcs, &io_funcs, &attr);
    if (attach_id == -1) {
        fprintf(stderr, "%s: resmgr_attach %s: %s\n", argv[0], path, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("resmgr_sample: serving %s (%s, pid %d)\n", path,
           nthreads ? "thread pool" : "single-threaded", (int)getpid());

    pthread_t stop_thread;
    if (pthread_create(&stop_thread, NULL, stopper, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the signal thread\n", argv[0]);
        return EXIT_FAILURE;
    }
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("resmgr_sample: ready descriptor");
        close(ready_fd);
    }

    if (nthreads == 0) {
        /* 6a. Single-threaded: block for a message, handle it, again. */
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

    /* 6b. Multi-threaded: a pool that keeps at least one or two threads
     *     waiting for messages and creates more, up to nthreads, as they
     *     get busy. */
    thread_pool_attr_t pool_attr;
    memset(&pool_attr, 0, sizeof pool_attr);
    pool_attr.handle = dpp;
    pool_attr.context_alloc = dispatch_context_alloc;
    pool_attr.block_func = dispatch_block;
    pool_attr.handler_func = dispatch_handler;
    pool_attr.context_free = dispatch_context_free;
    pool_attr.lo_water = (unsigned short)(nthreads < 2 ? nthreads : 2);
    pool_attr.increment = 1;
    pool_attr.hi_water = (unsigned short)nthreads;
    pool_attr.maximum = (unsigned short)nthreads;

    /* QNX's guide passes POOL_FLAG_EXIT_SELF, which ends this thread in
     * thread_pool_start() (peermap supports that too).  Here the call
     * returns once the pool runs (flags 0) and this thread waits for the
     * stopper, so that SIGTERM detaches the path and exits cleanly. */
    thread_pool_t *tpp = thread_pool_create(&pool_attr, 0);
    if (tpp == NULL) {
        fprintf(stderr, "%s: thread_pool_create: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }
    if (thread_pool_start(tpp) == -1) {
        fprintf(stderr, "%s: thread_pool_start: %s\n", argv[0], strerror(errno));
        return EXIT_FAILURE;
    }
    /* The pool's threads serve; this one waits for the stopper's exit. */
    pthread_join(stop_thread, NULL);
    return EXIT_SUCCESS;
}
