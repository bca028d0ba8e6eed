/*
 * Getting the caller's file into the target.
 *
 * First choice: the target opens /proc/<caller>/fd/<fd> (three injected calls
 * counting the close).  The kernel lets it only if the target may read the
 * caller's /proc entries, which fails when a root caller serves an
 * unprivileged target, and names another process when the two live in
 * different pid namespaces.  Then the universal way: the target connects to
 * an abstract Unix socket of ours and receives the descriptor with
 * SCM_RIGHTS.  Either way the target gets the caller's object, never a path
 * it could be tricked into resolving differently.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/tracee.h"

static int same_pid_namespace(pid_t pid)
{
    struct stat a, b;
    char path[64];
    pm_fmt(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
    if (stat("/proc/self/ns/pid", &a) < 0 || stat(path, &b) < 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int via_proc(struct pm_tracee *t, uintptr_t scratch, int fd, int oflags,
                    long *tfd)
{
    char path[64];
    int n = pm_fmt(path, sizeof path, "/proc/%d/fd/%d", (int)getpid(), fd);
    if (pm_tracee_write(t, scratch, path, (size_t)n + 1) < 0)
        return -1;
    unsigned long a[6] = { (unsigned long)AT_FDCWD, scratch,
                           (unsigned long)(oflags | O_CLOEXEC), 0 };
    if (pm_remote_syscall(t, SYS_openat, a, tfd) < 0)
        return errno == EPERM ? 1 : -1; /* EPERM: its filter forbids openat */
    if (*tfd < 0) {
        errno = (int)-*tfd;
        return 1; /* refused: try the socket */
    }
    return 0;
}

/* What the target needs in its memory for the socket route. */
struct scm_area {
    struct sockaddr_un addr;
    struct msghdr msg;
    struct iovec iov;
    char byte;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cmsg;
};

static int via_socket(struct pm_tracee *t, uintptr_t scratch, int fd, long *tfd)
{
    static atomic_uint counter;
    struct scm_area area;
    int lsn = -1, conn = -1, rc = -1;
    long s = -1, r;

    memset(&area, 0, sizeof area);
    area.addr.sun_family = AF_UNIX;
    /* Abstract name: nothing on disk, gone with the socket. */
    int n = pm_fmt(area.addr.sun_path + 1, sizeof area.addr.sun_path - 1,
                   "peermap.%d.%u.%lx", (int)getpid(), atomic_fetch_add(&counter, 1) + 1,
                   (unsigned long)pm_now_ns());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);

    lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lsn < 0 || bind(lsn, (struct sockaddr *)&area.addr, alen) < 0 ||
        listen(lsn, 4) < 0) {
        pm_fail(0, "cannot create the socket to pass the descriptor: %m");
        goto out;
    }

    /* The pointers inside the message must be the target's addresses. */
    uintptr_t base = scratch;
    area.iov.iov_base = (void *)(base + offsetof(struct scm_area, byte));
    area.iov.iov_len = 1;
    area.msg.msg_iov = (struct iovec *)(base + offsetof(struct scm_area, iov));
    area.msg.msg_iovlen = 1;
    area.msg.msg_control = (void *)(base + offsetof(struct scm_area, cmsg));
    area.msg.msg_controllen = sizeof area.cmsg.buf;
    if (pm_tracee_write(t, scratch, &area, sizeof area) < 0)
        goto out;

    unsigned long a_sock[6] = { AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0 };
    if (pm_remote_call(t, "socket (to receive the descriptor)", SYS_socket,
                       a_sock, &s) < 0)
        goto out;
    unsigned long a_conn[6] = { (unsigned long)s, base, alen };
    if (pm_remote_call(t, "connect (to receive the descriptor)", SYS_connect,
                       a_conn, &r) < 0) {
        if (errno == ECONNREFUSED || errno == ENOENT)
            pm_fail_over(EACCES, "PID %d cannot reach our socket (another "
                         "network namespace?) nor open /proc/%d/fd/%d",
                         (int)t->pid, (int)getpid(), fd);
        goto out;
    }
    conn = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (conn < 0 || getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
        cred.pid != t->pid) {
        pm_fail(EACCES, "descriptor hand-over: the connection did not come "
                "from PID %d", (int)t->pid);
        goto out;
    }
    char one = 0;
    struct iovec iov = { &one, 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } cm;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(conn, &msg, MSG_NOSIGNAL) != 1) {
        pm_fail(0, "sending the descriptor: %m");
        goto out;
    }
    unsigned long a_recv[6] = { (unsigned long)s,
                                base + offsetof(struct scm_area, msg),
                                MSG_CMSG_CLOEXEC };
    if (pm_remote_call(t, "recvmsg (descriptor)", SYS_recvmsg, a_recv, &r) < 0)
        goto out;

    /* Read back what the kernel wrote there; trust only a well-formed
     * SCM_RIGHTS message carrying exactly one descriptor. */
    struct scm_area got;
    if (pm_tracee_read(t, scratch, &got, sizeof got) < 0)
        goto out;
    struct cmsghdr *gc = (struct cmsghdr *)got.cmsg.buf;
    if (r != 1 || got.msg.msg_controllen < CMSG_LEN(sizeof(int)) ||
        gc->cmsg_level != SOL_SOCKET || gc->cmsg_type != SCM_RIGHTS ||
        gc->cmsg_len != CMSG_LEN(sizeof(int))) {
        pm_fail(EACCES, "PID %d did not receive the descriptor (an LSM may "
                "forbid passing it)", (int)t->pid);
        goto out;
    }
    int got_fd;
    memcpy(&got_fd, CMSG_DATA(gc), sizeof got_fd);
    *tfd = got_fd;
    rc = 0;
out:
    if (s >= 0) {
        unsigned long a_close[6] = { (unsigned long)s };
        pm_remote_syscall(t, SYS_close, a_close, &r);
    }
    if (conn >= 0)
        close(conn);
    if (lsn >= 0)
        close(lsn);
    return rc;
}

int pm_remote_import_fd(struct pm_tracee *t, int fd, int oflags, long *tfd)
{
    uintptr_t scratch;
    if (pm_seccomp_prepare(t) < 0 || pm_tracee_scratch(t, &scratch) < 0)
        return -1;
    if (same_pid_namespace(t->pid)) {
        int r = via_proc(t, scratch, fd, oflags, tfd);
        if (r <= 0)
            return r;
    }
    return via_socket(t, scratch, fd, tfd);
}
