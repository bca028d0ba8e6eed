/*
 * The resource-manager client calls: pm_open(), pm_read(), pm_write(),
 * pm_lseek(), pm_fstat(), pm_close(), devctl(), devctlv().
 *
 * The server is a raw QNX-style loop written here by hand (ChannelCreate,
 * a path-space attach, MsgReceive, and an answer to each message type), run
 * in a forked child, so that these tests depend on the message layer and
 * the path space only, not on the dispatch and iofunc layers.  It checks
 * every message it gets and refuses a malformed one with EPROTO; the test
 * reads back the last connect message it saw with a devctl.
 *
 * Every test works in a fresh path space (PEERMAP_PATHSPACE, mode 01777).
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "harness.h"
#include "helpers.h"
#include "iomgr.h"
#include "../src/resmgr/client.h"
#include "../src/resmgr/pathspace.h"

/* ---- the raw server ---- */

#define SRV_CAP (2u << 20)        /* the device's buffer: 2 MiB */
#define SRV_CONNS 64

/* What the last connect message carried (DCMD_LAST). */
struct last_connect {
    uint32_t subtype, file_type, ioflag, mode, handle;
    uint32_t sflag, path_len, extra_len;
    char path[128];
};

#define DCMD_LAST  __DIOF(_DCMD_MISC, 1, struct last_connect)
#define DCMD_TWICE __DIOTF(_DCMD_MISC, 2, int)   /* in: n, out: 2n, ret_val: n+1 */
#define DCMD_SET   __DIOT(_DCMD_MISC, 3, int)    /* ret_val: the value */
#define DCMD_DIE   __DION(_DCMD_MISC, 4)         /* exit without replying */
#define DCMD_CLOSES __DIOF(_DCMD_MISC, 5, int)   /* _IO_CLOSE messages so far */

struct server_arg {
    const char *path;
    int handle;       /* the attach's resmgr id */
    unsigned flags;   /* PM_PS_* */
    mode_t mode;      /* entry mode */
};

static unsigned char *srv_buf;
static size_t srv_len;
static uint64_t srv_off[SRV_CONNS];
static struct last_connect srv_last;
static int srv_closes;

static uint64_t *offset_of(int scoid)
{
    return &srv_off[(unsigned)scoid % SRV_CONNS];
}

static void srv_connect(rcvid_t rcvid, const struct _io_connect *c, const struct _msg_info *info)
{
    size_t base = offsetof(struct _io_connect, path);
    /* The path runs past the declared path[1]: address it as bytes. */
    const char *path = (const char *)c + base;
    if ((size_t)info->msglen < base || c->path_len == 0 ||
        base + c->path_len > (size_t)info->msglen || path[c->path_len - 1] != '\0') {
        MsgError(rcvid, EPROTO);
        return;
    }
    memset(&srv_last, 0, sizeof srv_last);
    srv_last.subtype = c->subtype;
    srv_last.file_type = c->file_type;
    srv_last.ioflag = c->ioflag;
    srv_last.mode = c->mode;
    srv_last.handle = c->handle;
    srv_last.sflag = c->sflag;
    srv_last.path_len = c->path_len;
    srv_last.extra_len = c->extra_len;
    snprintf(srv_last.path, sizeof srv_last.path, "%s", path);
    if (c->subtype != _IO_CONNECT_OPEN) {
        MsgError(rcvid, ENOSYS);
        return;
    }
    if (strcmp(path, "deny") == 0) {
        MsgError(rcvid, EACCES);
        return;
    }
    if (strcmp(path, "missing") == 0) {
        MsgError(rcvid, ENOENT);
        return;
    }
    *offset_of(info->scoid) = 0;
    MsgReply(rcvid, EOK, NULL, 0);
}

static void srv_devctl(rcvid_t rcvid, const struct _io_devctl *d, const struct _msg_info *info)
{
    struct _io_devctl_reply r = { 0 };
    iov_t iov[2];
    int n = 0;
    switch ((unsigned)d->dcmd) {
    case DCMD_LAST:
        r.nbytes = sizeof srv_last;
        SETIOV(&iov[0], &r, sizeof r);
        SETIOV(&iov[1], &srv_last, sizeof srv_last);
        MsgReplyv(rcvid, EOK, iov, 2);
        return;
    case DCMD_CLOSES:
        r.nbytes = sizeof srv_closes;
        SETIOV(&iov[0], &r, sizeof r);
        SETIOV(&iov[1], &srv_closes, sizeof srv_closes);
        MsgReplyv(rcvid, EOK, iov, 2);
        return;
    case DCMD_TWICE:
    case DCMD_SET:
        if (d->nbytes < sizeof n || (size_t)info->srcmsglen < sizeof *d + sizeof n ||
            MsgRead(rcvid, &n, sizeof n, sizeof *d) != (ssize_t)sizeof n) {
            MsgError(rcvid, EPROTO);
            return;
        }
        if ((unsigned)d->dcmd == DCMD_SET) {
            r.ret_val = n;
            MsgReply(rcvid, EOK, &r, sizeof r);
            return;
        }
        r.ret_val = n + 1;
        n *= 2;
        r.nbytes = sizeof n;
        SETIOV(&iov[0], &r, sizeof r);
        SETIOV(&iov[1], &n, sizeof n);
        MsgReplyv(rcvid, EOK, iov, 2);
        return;
    case DCMD_DIE:
        _exit(0);
    default:
        MsgError(rcvid, ENOTTY);
        return;
    }
}

static void srv_io(rcvid_t rcvid, const void *msg, const struct _msg_info *info)
{
    uint16_t type = *(const uint16_t *)msg;
    uint64_t *off = offset_of(info->scoid);
    switch (type) {
    case _IO_READ: {
        const struct _io_read *m = msg;
        if ((size_t)info->msglen < sizeof *m || m->combine_len != sizeof *m ||
            m->xtype != _IO_XTYPE_NONE) {
            MsgError(rcvid, EPROTO);
            return;
        }
        size_t n = m->nbytes;
        if (*off >= srv_len)
            n = 0;
        else if (n > srv_len - *off)
            n = srv_len - (size_t)*off;
        MsgReply(rcvid, (long)n, srv_buf + *off, n);
        *off += n;
        return;
    }
    case _IO_WRITE: {
        const struct _io_write *m = msg;
        if ((size_t)info->msglen < sizeof *m || m->xtype != _IO_XTYPE_NONE ||
            (uint64_t)info->srcmsglen != sizeof *m + (uint64_t)m->nbytes) {
            MsgError(rcvid, EPROTO);
            return;
        }
        size_t n = m->nbytes;
        if (*off >= SRV_CAP) {
            MsgError(rcvid, ENOSPC);
            return;
        }
        if (n > SRV_CAP - *off)
            n = SRV_CAP - (size_t)*off;
        if (MsgRead(rcvid, srv_buf + *off, n, sizeof *m) != (ssize_t)n) {
            MsgError(rcvid, EFAULT);
            return;
        }
        *off += n;
        if (*off > srv_len)
            srv_len = (size_t)*off;
        MsgReply(rcvid, (long)n, NULL, 0);
        return;
    }
    case _IO_LSEEK: {
        const struct _io_lseek *m = msg;
        int64_t base;
        if ((size_t)info->msglen < sizeof *m) {
            MsgError(rcvid, EPROTO);
            return;
        }
        switch (m->whence) {
        case SEEK_SET: base = 0; break;
        case SEEK_CUR: base = (int64_t)*off; break;
        case SEEK_END: base = (int64_t)srv_len; break;
        default: MsgError(rcvid, EINVAL); return;
        }
        int64_t to = base + (int64_t)m->offset;
        if (to < 0) {
            MsgError(rcvid, EINVAL);
            return;
        }
        *off = (uint64_t)to;
        MsgReply(rcvid, EOK, off, sizeof *off);
        return;
    }
    case _IO_STAT: {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_mode = S_IFCHR | 0666;
        st.st_size = (off_t)srv_len;
        st.st_ino = 4242;
        st.st_uid = getuid();
        st.st_nlink = 1;
        MsgReply(rcvid, EOK, &st, sizeof st);
        return;
    }
    case _IO_DEVCTL:
        if ((size_t)info->msglen < sizeof(struct _io_devctl)) {
            MsgError(rcvid, EPROTO);
            return;
        }
        srv_devctl(rcvid, msg, info);
        return;
    case _IO_CLOSE:
        srv_closes++;
        MsgReply(rcvid, EOK, NULL, 0);
        return;
    default:
        MsgError(rcvid, ENOSYS);
        return;
    }
}

static int server_body(int in, int out, void *varg)
{
    (void)in;
    const struct server_arg *a = varg;
    srv_buf = malloc(SRV_CAP);
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    struct pm_ps_handle h;
    if (!srv_buf || chid < 0 || pm_pathspace_attach_handle(a->path, chid, a->handle, a->flags, a->mode, &h) < 0)
        return 10;
    char ok = 1;
    if (write(out, &ok, 1) != 1)
        return 11;
    union {
        uint16_t type;
        struct _pulse pulse;
        struct _io_connect connect;
        char room[1024];
    } msg;
    for (;;) {
        struct _msg_info info;
        rcvid_t rcvid = MsgReceive(chid, &msg, sizeof msg, &info);
        if (rcvid < 0)
            return 12;
        if (rcvid == 0)
            continue;   /* pulses: disconnects */
        if (info.msglen < 2) {
            MsgError(rcvid, EPROTO);
            continue;
        }
        if (msg.type == _IO_CONNECT)
            srv_connect(rcvid, &msg.connect, &info);
        else
            srv_io(rcvid, &msg, &info);
    }
}

/* ---- test plumbing ---- */


static int start_server(struct target *t, struct server_arg *a)
{
    if (pathspace_fresh() < 0 || target_start(t, server_body, a) < 0)
        return -1;
    char ok;
    if (target_read(t, &ok, 1, 5000) < 0) {
        target_finish(t, 100);
        return -1;
    }
    return 0;
}

static void stop_server(struct target *t)
{
    kill(t->pid, SIGKILL);
    target_finish(t, 5000);
    pathspace_drop();
}

static int last_connect(int fd, struct last_connect *lc)
{
    memset(lc, 0, sizeof *lc);
    return devctl(fd, (int)DCMD_LAST, lc, sizeof *lc, NULL);
}

/* ---- tests ---- */

TEST(open_sends_connect_with_rest_of_path)
{
    struct target t;
    struct server_arg a = { "/dev/cltest", 7, PM_PS_DIR, 0666 };
    REQUIRE(start_server(&t, &a) == 0);

    struct last_connect lc;
    int fd = pm_open("/dev/cltest", O_RDONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(last_connect(fd, &lc) == EOK);
        CHECK_EQ_LONG(lc.subtype, _IO_CONNECT_OPEN);
        CHECK_EQ_LONG(lc.file_type, _FTYPE_ANY);
        CHECK_EQ_LONG(lc.ioflag, _IO_FLAG_RD);
        CHECK_EQ_LONG(lc.mode, 0);
        CHECK_EQ_LONG(lc.path_len, 1);
        CHECK_EQ_LONG(lc.extra_len, 0);
        CHECK(strcmp(lc.path, "") == 0);
        CHECK_EQ_LONG(lc.handle, 7);
        CHECK(fcntl(fd, F_GETFD) >= 0 && !(fcntl(fd, F_GETFD) & FD_CLOEXEC));
        CHECK(pm_close(fd) == 0);
    }

    fd = pm_open("/dev/cltest/a/b", O_RDWR | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(last_connect(fd, &lc) == EOK);
        CHECK_EQ_LONG(lc.ioflag, O_APPEND | _IO_FLAG_RD | _IO_FLAG_WR);
        CHECK(strcmp(lc.path, "a/b") == 0);
        CHECK_EQ_LONG(lc.path_len, 4);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK(pm_close(fd) == 0);
    }

    fd = pm_open("/dev/cltest/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(last_connect(fd, &lc) == EOK);
        CHECK_EQ_LONG(lc.ioflag, O_CREAT | O_EXCL | _IO_FLAG_WR);
        CHECK_EQ_LONG(lc.mode, S_IFREG | 0640);
        CHECK(strcmp(lc.path, "new") == 0);
        CHECK(pm_close(fd) == 0);
    }
    stop_server(&t);
}

TEST(open_errors)
{
    struct target t;
    struct server_arg a = { "/dev/clerr", 0, PM_PS_DIR, 0666 };
    REQUIRE(start_server(&t, &a) == 0);

    errno = 0;
    CHECK(pm_open("/nobody/serves/this", O_RDONLY) == -1 && errno == ENOENT);
    errno = 0;
    CHECK(pm_open("/dev/clerr/deny", O_RDONLY) == -1 && errno == EACCES);
    errno = 0;
    CHECK(pm_open("/dev/clerr/missing", O_RDWR) == -1 && errno == ENOENT);
    errno = 0;
    CHECK(pm_open("/dev/clerr", O_ACCMODE) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(pm_open("relative", O_RDONLY) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(pm_open("", O_RDONLY) == -1 && errno == ENOENT);
    errno = 0;
    CHECK(pm_open(NULL, O_RDONLY) == -1 && errno == EFAULT);
    CHECK(peermap_errmsg()[0] != '\0');

    /* A refused open leaves no connection behind: the next descriptor is
     * the one the refused open would have used. */
    int probe = dup(0);
    REQUIRE(probe >= 0);
    close(probe);
    CHECK(pm_open("/dev/clerr/deny", O_RDONLY) == -1);
    int probe2 = dup(0);
    CHECK_EQ_LONG(probe2, probe);
    close(probe2);
    stop_server(&t);
}

TEST(open_unreachable_entry_is_eacces)
{
    if (geteuid() == 0)
        SKIP("root reaches every path-space entry");
    struct target t;
    struct server_arg a = { "/dev/clpriv", 0, 0, 0 };
    REQUIRE(start_server(&t, &a) == 0);
    errno = 0;
    CHECK(pm_open("/dev/clpriv", O_RDONLY) == -1 && errno == EACCES);
    stop_server(&t);
}

TEST(read_write_lseek_fstat)
{
    struct target t;
    struct server_arg a = { "/dev/clrw", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clrw", O_RDWR);
    REQUIRE(fd >= 0);

    CHECK_EQ_LONG(pm_write(fd, "hello, world", 12), 12);
    CHECK_EQ_LONG(pm_write(fd, "", 0), 0);
    CHECK_EQ_LONG(pm_lseek(fd, 0, SEEK_CUR), 12);
    CHECK_EQ_LONG(pm_lseek(fd, 7, SEEK_SET), 7);
    char buf[32] = { 0 };
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_EQ_LONG(pm_read(fd, buf, sizeof buf), 0);          /* end */
    CHECK_EQ_LONG(pm_lseek(fd, -5, SEEK_END), 7);
    CHECK_EQ_LONG(pm_lseek(fd, 0, SEEK_SET), 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ_LONG(pm_read(fd, buf, 5), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    errno = 0;
    CHECK(pm_lseek(fd, -100, SEEK_SET) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(pm_lseek(fd, 0, 42) == -1 && errno == EINVAL);

    struct stat st;
    memset(&st, 0xff, sizeof st);
    CHECK(pm_fstat(fd, &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK_EQ_LONG(st.st_mode & 07777, 0666);
    CHECK_EQ_LONG(st.st_size, 12);
    CHECK_EQ_LONG(st.st_ino, 4242);
    CHECK_EQ_LONG(st.st_uid, getuid());
    errno = 0;
    CHECK(pm_fstat(fd, NULL) == -1 && errno == EFAULT);

    CHECK(pm_close(fd) == 0);
    int closes = -1;
    fd = pm_open("/dev/clrw", O_RDONLY);
    CHECK(fd >= 0);
    CHECK(devctl(fd, (int)DCMD_CLOSES, &closes, sizeof closes, NULL) == EOK);
    CHECK_EQ_LONG(closes, 1);
    CHECK(pm_close(fd) == 0);
    stop_server(&t);
}

TEST(devctl_directions_and_errors)
{
    struct target t;
    struct server_arg a = { "/dev/cldc", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/cldc", O_RDWR);
    REQUIRE(fd >= 0);

    int n = 21, info = -1;
    CHECK(devctl(fd, (int)DCMD_TWICE, &n, sizeof n, &info) == EOK);
    CHECK_EQ_LONG(n, 42);
    CHECK_EQ_LONG(info, 22);

    /* TO only: the data is not written back. */
    n = 7;
    info = -1;
    CHECK(devctl(fd, (int)DCMD_SET, &n, sizeof n, &info) == EOK);
    CHECK_EQ_LONG(info, 7);
    CHECK_EQ_LONG(n, 7);
    CHECK(devctl(fd, (int)DCMD_SET, &n, sizeof n, NULL) == EOK);

    /* devctlv: the int split over two vectors each way. */
    int v = 100, out = 0;
    struct iovec sv[2] = { { &v, 2 }, { (char *)&v + 2, 2 } };
    struct iovec rv[2] = { { &out, 1 }, { (char *)&out + 1, 3 } };
    info = 0;
    CHECK(devctlv(fd, (int)DCMD_TWICE, 2, 2, sv, rv, &info) == EOK);
    CHECK_EQ_LONG(out, 200);
    CHECK_EQ_LONG(info, 101);

    /* An error is the return value; errno is left alone. */
    errno = 1234;
    CHECK_EQ_LONG(devctl(fd, (int)__DION(_DCMD_MISC, 99), NULL, 0, NULL), ENOTTY);
    CHECK_EQ_LONG(errno, 1234);
    /* The server refuses a TO command without its data. */
    CHECK_EQ_LONG(devctl(fd, (int)DCMD_SET, NULL, 0, NULL), EPROTO);
    CHECK_EQ_LONG(devctl(-1, (int)DCMD_SET, &n, sizeof n, NULL), EBADF);
    CHECK_EQ_LONG(errno, 1234);

    CHECK(pm_close(fd) == 0);
    stop_server(&t);
}

TEST(closed_and_foreign_descriptors_are_ebadf)
{
    struct target t;
    struct server_arg a = { "/dev/clbad", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clbad", O_RDWR);
    REQUIRE(fd >= 0);
    CHECK(pm_close(fd) == 0);
    char c;
    errno = 0;
    CHECK(pm_read(fd, &c, 1) == -1 && errno == EBADF);
    errno = 0;
    CHECK(pm_write(fd, &c, 1) == -1 && errno == EBADF);
    errno = 0;
    CHECK(pm_lseek(fd, 0, SEEK_SET) == -1 && errno == EBADF);
    struct stat st;
    errno = 0;
    CHECK(pm_fstat(fd, &st) == -1 && errno == EBADF);
    CHECK_EQ_LONG(devctl(fd, (int)DCMD_SET, &c, 1, NULL), EBADF);
    errno = 0;
    CHECK(pm_close(fd) == -1 && errno == EBADF);

    /* A descriptor that is not a connection at all. */
    int p[2];
    REQUIRE(pipe(p) == 0);
    errno = 0;
    CHECK(pm_read(p[0], &c, 1) == -1 && errno == EBADF);
    errno = 0;
    CHECK(pm_close(p[0]) == -1 && errno == EBADF);
    CHECK(fcntl(p[0], F_GETFD) >= 0);   /* not ours: left open */
    close(p[0]);
    close(p[1]);
    stop_server(&t);
}

TEST(descriptor_is_pollable)
{
    struct target t;
    struct server_arg a = { "/dev/clpoll", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clpoll", O_RDWR);
    REQUIRE(fd >= 0);

    struct pollfd pfd = { .fd = fd, .events = POLLOUT | POLLIN };
    CHECK_EQ_LONG(poll(&pfd, 1, 1000), 1);
    CHECK(pfd.revents & POLLOUT);
    CHECK(!(pfd.revents & (POLLERR | POLLNVAL)));

    fd_set w;
    FD_ZERO(&w);
    FD_SET(fd, &w);
    struct timeval tv = { 1, 0 };
    CHECK_EQ_LONG(select(fd + 1, NULL, &w, NULL, &tv), 1);
    CHECK(FD_ISSET(fd, &w));

    /* Still usable after polling. */
    CHECK_EQ_LONG(pm_write(fd, "x", 1), 1);
    CHECK(pm_close(fd) == 0);
    stop_server(&t);
}

TEST(large_read_and_write)
{
    struct target t;
    struct server_arg a = { "/dev/clbig", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clbig", O_RDWR);
    REQUIRE(fd >= 0);

    size_t n = 1u << 20;
    unsigned char *out = malloc(n), *in = malloc(n);
    REQUIRE(out && in);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i * 2654435761u >> 13);
    CHECK_EQ_LONG(pm_write(fd, out, n), (long)n);
    CHECK_EQ_LONG(pm_write(fd, out, n), (long)n);
    CHECK_EQ_LONG(pm_lseek(fd, 0, SEEK_END), 2 * (long)n);
    /* The device holds 2 MiB: a write past it is refused. */
    errno = 0;
    CHECK(pm_write(fd, out, 1) == -1 && errno == ENOSPC);

    CHECK_EQ_LONG(pm_lseek(fd, (off_t)n, SEEK_SET), (long)n);
    memset(in, 0, n);
    CHECK_EQ_LONG(pm_read(fd, in, n), (long)n);
    CHECK(memcmp(in, out, n) == 0);
    /* A read larger than what is left gets what is left. */
    CHECK_EQ_LONG(pm_lseek(fd, (off_t)(n + n / 2), SEEK_SET), (long)(n + n / 2));
    memset(in, 0, n);
    CHECK_EQ_LONG(pm_read(fd, in, n), (long)(n / 2));
    CHECK(memcmp(in, out + n / 2, n / 2) == 0);
    free(out);
    free(in);
    CHECK(pm_close(fd) == 0);
    stop_server(&t);
}

TEST(server_dies_while_client_holds_fd)
{
    struct target t;
    struct server_arg a = { "/dev/cldie", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/cldie", O_RDWR);
    REQUIRE(fd >= 0);
    int fd2 = pm_open("/dev/cldie", O_RDONLY);
    REQUIRE(fd2 >= 0);

    /* Reply-blocked when the server exits: the call returns, with an error. */
    CHECK_EQ_LONG(devctl(fd, (int)DCMD_DIE, NULL, 0, NULL), ESRCH);
    int st;
    CHECK((st = reap_ms(t.pid, 20000)) != -1);
    t.pid = -1;

    char c;
    errno = 0;
    CHECK(pm_read(fd2, &c, 1) == -1 && (errno == ESRCH || errno == EBADF));
    errno = 0;
    CHECK(pm_write(fd, "x", 1) == -1 && (errno == ESRCH || errno == EBADF));
    /* The path is no longer served. */
    errno = 0;
    CHECK(pm_open("/dev/cldie", O_RDONLY) == -1 && errno == ENOENT);
    /* Closing still works and releases the descriptors. */
    CHECK(pm_close(fd) == 0);
    CHECK(pm_close(fd2) == 0);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    close(t.to_child);
    close(t.from_child);
    pathspace_drop();
}

TEST(server_killed_before_the_call)
{
    struct target t;
    struct server_arg a = { "/dev/clkill", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clkill", O_RDWR);
    REQUIRE(fd >= 0);
    stop_server(&t);
    struct stat st;
    errno = 0;
    CHECK(pm_fstat(fd, &st) == -1 && (errno == ESRCH || errno == EBADF));
    int n = 1;
    int r = devctl(fd, (int)DCMD_SET, &n, sizeof n, NULL);
    CHECK(r == ESRCH || r == EBADF);
    CHECK(pm_close(fd) == 0);
}

TEST(descriptor_survives_fork)
{
    struct target t;
    struct server_arg a = { "/dev/clfork", 0, 0, 0666 };
    REQUIRE(start_server(&t, &a) == 0);
    int fd = pm_open("/dev/clfork", O_RDWR);
    REQUIRE(fd >= 0);
    CHECK_EQ_LONG(pm_write(fd, "abc", 3), 3);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* The child shares the open (and its offset, at the server). */
        char b[4] = { 0 };
        if (pm_lseek(fd, 0, SEEK_SET) != 0 || pm_read(fd, b, 3) != 3 || memcmp(b, "abc", 3))
            _exit(1);
        _exit(0);
    }
    int st;
    CHECK((st = reap_ms(pid, 20000)) != -1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(pm_lseek(fd, 0, SEEK_CUR), 3);
    CHECK(pm_close(fd) == 0);
    stop_server(&t);
}

/* The attacker of close_ends_every_copy_of_the_connection: a child that
 * kept a copy of its parent's connection and became nobody.  When told
 * ('g'), it tries the copy twice - an open of the served path, then a
 * devctl - and reports each errno (0: the manager answered it). */
static int copy_holder_body(int in, int out, void *arg)
{
    int fd = *(const int *)arg;
    if (drop_to_nobody() < 0)
        return 20;
    char c = 'r';
    if (child_write_full(out, &c, 1) < 0 || child_read_full(in, &c, 1) < 0 || c != 'g')
        return 21;
    struct _io_connect om = { .type = _IO_CONNECT, .subtype = _IO_CONNECT_OPEN,
                              .file_type = _FTYPE_ANY, .ioflag = O_RDWR + 1,
                              .sflag = 0x40 /* SH_DENYNO */, .path_len = 1,
                              .extra_type = _IO_CONNECT_EXTRA_NONE };
    int res[2];
    errno = 0;
    res[0] = MsgSend(fd, &om, offsetof(struct _io_connect, path) + 1, NULL, 0) == -1 ? errno : 0;
    struct last_connect lc;
    res[1] = last_connect(fd, &lc);
    return child_write_full(out, res, sizeof res) < 0 ? 22 : 0;
}

TEST(close_ends_every_copy_of_the_connection)
{
    /* The descriptor is the connection, and the manager judges what
     * arrives on it by the credentials the kernel recorded when it was
     * made: any process holding a copy speaks as the opener.  pm_close()
     * shuts the connection down, so a copy that a fork child kept (here
     * one that then became nobody) is dead from then on, and a later open
     * of the parent's - a new connection - is nothing the child can reach.
     * Keeping closed connections for later opens would break this. */
    if (getuid() != 0)
        SKIP("needs root for a child that becomes nobody");
    struct target srv, att;
    struct server_arg a = { "/dev/clcopy", 0, 0, 0666 };
    REQUIRE(start_server(&srv, &a) == 0);
    int fd = pm_open("/dev/clcopy", O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(target_start(&att, copy_holder_body, &fd) == 0);
    char c;
    REQUIRE(target_read(&att, &c, 1, 20000) == 0);
    CHECK(pm_close(fd) == 0);
    int again = pm_open("/dev/clcopy", O_RDWR);
    CHECK(again >= 0);
    CHECK(target_write(&att, "g", 1) == 0);
    int res[2] = { 0, 0 };
    CHECK(target_read(&att, res, sizeof res, 20000) == 0);
    CHECK(res[0] != 0);
    CHECK(res[1] != 0);
    int st = target_finish(&att, 20000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (again >= 0)
        CHECK(pm_close(again) == 0);
    stop_server(&srv);
}

/* ---- each message judged by its sender (src/msg/sender.c) ---- */

static const struct iom_res copy_res[] = {
    { "/cpy/pub", IOM_FILE, 0666, 0, 0 },
    { "/cpy/secret", IOM_FILE, 0600, 0, 0 },
};

static int who_on(int fd, struct iom_who *w)
{
    memset(w, 0, sizeof *w);
    return devctl(fd, (int)IOM_DCMD_WHO, w, sizeof *w, NULL);
}

/* What a nobody holding a copy of root's open of /cpy/pub gets, in order:
 * its own open of /cpy/secret, an open of it sent on the copy, a read and
 * a write through the copy, and who the manager sees on the copy. */
struct copy_report {
    int own_open, open_on_copy, read_ok, write_ok, who_err;
    struct iom_who who;
    int32_t self;
};

static void try_the_copy(int fd, const struct pm_ps_match *m, struct copy_report *r)
{
    memset(r, 0, sizeof *r);
    r->self = getpid();
    int e = pm_open("/cpy/secret", O_RDWR);
    r->own_open = e >= 0 ? 0 : errno;
    if (e >= 0)
        pm_close(e);
    /* What pm_open() would send, on the copy (the entry was looked up
     * while still root: the path space hides it from nobody). */
    errno = 0;
    r->open_on_copy = pm_open_on(fd, m, "/cpy/secret", pm_open_ioflag(O_RDWR), 0) == 0
                          ? 0 : errno;
    char b[4];
    r->read_ok = pm_lseek(fd, 0, SEEK_SET) == 0 && pm_read(fd, b, 4) == 4 &&
                 b[1] == (char)iom_fill_byte(1);
    r->write_ok = pm_lseek(fd, 0, SEEK_SET) == 0 && pm_write(fd, "nb", 2) == 2;
    r->who_err = who_on(fd, &r->who);
}

/* A root manager of copy_res in a fresh path space: 0, or -1. */
static int start_copy_manager(struct target *mgr)
{
    return pathspace_fresh() == 0 ? iom_start(mgr, copy_res, 2, 0, 0) : -1;
}

/* Run body (a child that becomes nobody and reports what try_the_copy()
 * got) and check it was judged as nobody throughout - its own open and one
 * sent on the connection refused, the manager seeing the sender, nobody,
 * in ConnectClientInfo() while the message is served - while the open made
 * as root still reads and writes. */
static void judged_as_nobody(int (*body)(int, int, void *), void *arg)
{
    struct target att;
    REQUIRE(target_start(&att, body, arg) == 0);
    struct copy_report r;
    CHECK(target_read(&att, &r, sizeof r, 20000) == 0);
    int st = target_finish(&att, 20000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(r.own_open, EACCES);
    CHECK_EQ_LONG(r.open_on_copy, EACCES);
    CHECK(r.read_ok);
    CHECK(r.write_ok);
    CHECK_EQ_LONG(r.who_err, EOK);
    CHECK_EQ_LONG(r.who.pid, r.self);
    CHECK_EQ_LONG(r.who.msg_pid, r.self);
    CHECK_EQ_LONG(r.who.euid, NOBODY);
    CHECK_EQ_LONG(r.who.ruid, NOBODY);
    CHECK_EQ_LONG(r.who.egid, NOBODY);
    CHECK_EQ_LONG(r.who.ngroups, 0);
}

/* In a child: look /cpy/secret up while still root (the path space hides
 * it from nobody), become nobody, try fd and report on `out`. */
static int try_as_nobody(int fd, int out)
{
    struct pm_ps_match m;
    if (pm_pathspace_resolve("/cpy/secret", &m) < 0 || drop_to_nobody() < 0)
        return 30;
    struct copy_report r;
    try_the_copy(fd, &m, &r);
    return child_write_full(out, &r, sizeof r) < 0 ? 31 : 0;
}

static int copy_nobody_body(int in, int out, void *arg)
{
    (void)in;
    return try_as_nobody(*(const int *)arg, out);
}

TEST(a_copy_held_by_another_user_opens_nothing_as_the_opener)
{
    /* Root opens a 0666 path of a root manager; a fork child keeps the
     * descriptor and becomes nobody.  An open of the 0600 path sent on
     * its copy is judged as nobody (EACCES, as its own open is), while
     * the open root made is still there for it to use, as any inherited
     * descriptor's would be. */
    struct target mgr;
    if (getuid() != 0)
        SKIP("needs root: a root manager and a child that becomes nobody");
    REQUIRE(start_copy_manager(&mgr) == 0);
    int fd = pm_open("/cpy/pub", O_RDWR);
    REQUIRE(fd >= 0);
    judged_as_nobody(copy_nobody_body, &fd);
    /* The opener's own messages still name the opener, groups and all. */
    struct iom_who w;
    CHECK_EQ_LONG(who_on(fd, &w), EOK);
    CHECK_EQ_LONG(w.pid, getpid());
    CHECK_EQ_LONG(w.msg_pid, getpid());
    CHECK_EQ_LONG(w.euid, 0);
    int ng = getgroups(0, NULL);
    CHECK_EQ_LONG(w.ngroups, ng > NGROUPS_MAX_CRED ? NGROUPS_MAX_CRED : ng);
    /* And the open the child tried did not replace root's. */
    char b[2];
    CHECK(pm_lseek(fd, 0, SEEK_SET) == 0 && pm_read(fd, b, 2) == 2 && !memcmp(b, "nb", 2));
    CHECK(pm_close(fd) == 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
    pathspace_drop();
}

/* The connector itself, after it gave up root for good. */
static int opener_then_nobody_body(int in, int out, void *arg)
{
    (void)in;
    (void)arg;
    int fd = pm_open("/cpy/pub", O_RDWR);
    if (fd < 0)
        return 20;
    struct iom_who before;
    if (who_on(fd, &before) != EOK || before.euid != 0)
        return 21;
    return try_as_nobody(fd, out);
}

TEST(an_opener_that_became_another_user_is_judged_as_that_user)
{
    /* Same process, same connection, but its real ids changed since it
     * connected: what it sends now is judged by what it is now. */
    struct target mgr;
    if (getuid() != 0)
        SKIP("needs root: a root manager and an opener that becomes nobody");
    REQUIRE(start_copy_manager(&mgr) == 0);
    judged_as_nobody(opener_then_nobody_body, NULL);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
    pathspace_drop();
}

/* A set-user-ID root program run by nobody: real ids nobody, effective
 * root.  It connects while privileged, then gives root up for good (its
 * real ids never change), as such programs do before they act for their
 * user (and before an exec, which the connection survives). */
static int setuid_opener_then_nobody_body(int in, int out, void *arg)
{
    if (setresgid(65534, 0, 0) < 0 || setresuid(65534, 0, 0) < 0)
        return 19;
    return opener_then_nobody_body(in, out, arg);
}

TEST(a_set_user_id_opener_that_gave_up_root_is_judged_as_its_user)
{
    /* The kernel stamps each message with the sender's real ids, which
     * did not change here: only the effective ids did.  What it sends
     * after the drop must be judged by what it is now, as on QNX, where
     * the kernel reads the client's ids when asked. */
    if (getuid() != 0)
        SKIP("needs root: a root manager and an opener that becomes nobody");
    struct target mgr;
    REQUIRE(start_copy_manager(&mgr) == 0);
    judged_as_nobody(setuid_opener_then_nobody_body, NULL);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
    pathspace_drop();
}
