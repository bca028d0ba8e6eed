/*
 * select() and ionotify() on a device, as QNX's resource-manager guide's
 * "Handling ionotify() and select()" section builds one: the manager keeps
 * iofunc_notify_t lists in its attribute, answers _IO_NOTIFY with
 * iofunc_notify(), and calls iofunc_notify_trigger() when data comes; a
 * read with nothing to read is held (_RESMGR_NOREPLY) and run again with
 * resmgr_msg_again().  The client waits with select() on the descriptor -
 * here one from pm_open(), QNX's open() being the FUSE export's business -
 * and with ionotify() and a pulse.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/select.h>

struct dev_attr;
#define IOFUNC_ATTR_T struct dev_attr
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include <peermap.h>

#include "qnx_run.h"

struct dev_attr {
    iofunc_attr_t attr;
    iofunc_notify_t notify[3];
    char buf[256];
    int len;
    int waiting;           /* a held read, 0 if none */
};

static struct dev_attr dev;
static int ready[2];

static int io_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
    int status = iofunc_read_verify(ctp, msg, ocb, NULL);
    if (status != EOK)
        return status;
    if (dev.len == 0) {
        dev.waiting = ctp->rcvid; /* answer when data comes */
        return _RESMGR_NOREPLY;
    }
    int n = (int)_IO_READ_GET_NBYTES(msg) < dev.len ? (int)_IO_READ_GET_NBYTES(msg) : dev.len;
    MsgReply(ctp->rcvid, n, dev.buf, (size_t)n);
    memmove(dev.buf, dev.buf + n, (size_t)(dev.len - n));
    dev.len -= n;
    return _RESMGR_NOREPLY;
}

static int io_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
    int status = iofunc_write_verify(ctp, msg, ocb, NULL);
    if (status != EOK)
        return status;
    int n = (int)_IO_WRITE_GET_NBYTES(msg);
    if (n > (int)sizeof dev.buf - dev.len)
        n = (int)sizeof dev.buf - dev.len;
    resmgr_msgread(ctp, dev.buf + dev.len, (size_t)n, sizeof msg->i);
    dev.len += n;
    _IO_SET_WRITE_NBYTES(ctp, n);
    if (dev.len > 0)
        iofunc_notify_trigger(dev.notify, dev.len, IOFUNC_NOTIFY_INPUT);
    if (dev.waiting) {
        int r = dev.waiting;
        dev.waiting = 0;
        resmgr_msg_again(ctp, r);
    }
    return _RESMGR_NPARTS(0);
}

static int io_notify(resmgr_context_t *ctp, io_notify_t *msg, iofunc_ocb_t *ocb)
{
    (void)ocb;
    int trig = _NOTIFY_COND_OUTPUT; /* we can always take data */
    if (dev.len > 0)
        trig |= _NOTIFY_COND_INPUT;
    return iofunc_notify(ctp, msg, dev.notify, trig, NULL, NULL);
}

static int io_close_ocb(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
    iofunc_notify_remove(ctp, dev.notify);
    return iofunc_close_ocb_default(ctp, reserved, ocb);
}

static int manager(void *arg)
{
    (void)arg;
    static resmgr_connect_funcs_t cf;
    static resmgr_io_funcs_t io;
    dispatch_t *dpp = dispatch_create();
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &io);
    io.read = io_read;
    io.write = io_write;
    io.notify = io_notify;
    io.close_ocb = io_close_ocb;
    iofunc_attr_init(&dev.attr, S_IFCHR | 0666, NULL, NULL);
    IOFUNC_NOTIFY_INIT(dev.notify);
    if (!dpp || resmgr_attach(dpp, NULL, "/dev/qnx_ser", _FTYPE_ANY, 0, &cf, &io, &dev) == -1)
        return 10;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    close(ready[0]);
    if (write(ready[1], "r", 1) != 1)
        return 11;
    for (;;) {
        if ((ctp = dispatch_block(ctp)) == NULL)
            return 12;
        dispatch_handler(ctp);
    }
}

static void put(const char *s)
{
    int w = pm_open("/dev/qnx_ser", O_WRONLY);
    QR_EXPECT(w != -1 && pm_write(w, s, strlen(s)) == (ssize_t)strlen(s), "write");
    if (w != -1)
        pm_close(w);
}

int main(void)
{
    qr_pathspace();
    if (pipe(ready) < 0)
        return 2;
    pid_t m = qr_fork(manager, NULL);
    close(ready[1]);
    char c;
    QR_EXPECT(read(ready[0], &c, 1) == 1, "the manager is ready");
    int fd = pm_open("/dev/qnx_ser", O_RDWR);
    QR_EXPECT(fd != -1, "pm_open");

    /* Nothing to read: select() times out (its timeout is what is tested,
     * nobody writes: not a synchronisation); we may always write. */
    fd_set rfds, wfds;
    FD_ZERO(&rfds);
    FD_SET(fd, &rfds);
    struct timeval tv = { 0, 50000 };
    QR_EXPECT(select(fd + 1, &rfds, NULL, NULL, &tv) == 0, "select: no data yet");
    FD_ZERO(&wfds);
    FD_SET(fd, &wfds);
    tv.tv_sec = 5;
    QR_EXPECT(select(fd + 1, NULL, &wfds, NULL, &tv) == 1 && FD_ISSET(fd, &wfds),
              "select: writable");

    /* Data arrives from another client while we wait in select(). */
    pid_t w = fork();
    if (w == 0) {
        put("hello");
        _exit(0);
    }
    FD_ZERO(&rfds);
    FD_SET(fd, &rfds);
    tv.tv_sec = 10;
    QR_EXPECT(select(fd + 1, &rfds, NULL, NULL, &tv) == 1 && FD_ISSET(fd, &rfds),
              "select: readable once written");
    qr_wait(w, 10000);
    char buf[16] = { 0 };
    QR_EXPECT(pm_read(fd, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0, "read");

    /* ionotify() with a pulse to our own channel. */
    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, coid, SIGEV_PULSE_PRIO_INHERIT, 5, 0);
    QR_EXPECT(ionotify(fd, _NOTIFY_ACTION_POLLARM, _NOTIFY_COND_INPUT, &ev) == 0,
              "ionotify: armed");
    put("x");
    struct _pulse p;
    uint64_t timeout = 10000000000ull;
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &timeout, NULL);
    QR_EXPECT(MsgReceive(chid, &p, sizeof p, NULL) == 0 && p.code == 5, "the pulse");
    QR_EXPECT(pm_read(fd, buf, sizeof buf) == 1, "read it");

    /* A blocking read: held by the manager until a writer comes. */
    w = fork();
    if (w == 0) {
        int r = pm_open("/dev/qnx_ser", O_RDONLY);
        char b[8];
        _exit(r != -1 && pm_read(r, b, sizeof b) == 3 && memcmp(b, "abc", 3) == 0 ? 0 : 1);
    }
    /* Whether the read is held first or not, it ends with "abc". */
    put("abc");
    int st = qr_wait(w, 10000);
    QR_EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the blocked read");
    pm_close(fd);
    kill(m, SIGTERM);
    qr_wait(m, 10000);
    return qr_verdict("notify_select");
}
