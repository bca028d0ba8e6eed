/*
 * The creator's side of handles: one library thread serves every handle
 * this process made, without a daemon.
 *
 * Each outstanding handle is a slot: the object (a duplicate of the
 * creator's descriptor; the recipient gets a reopen of it with no more than
 * the granted access), the recipient's pidfd, and a listening SOCK_SEQPACKET
 * socket bound in the abstract namespace under pm_shm_name(handle).  A
 * connection is judged the moment it is accepted, from the kernel's record
 * alone: if the connecting process is not the recipient it is closed
 * unread, so nobody else can make us hold anything, read anything or wait
 * for anything.  The recipient's connection waits (until the deadline) for
 * its one request; a granted request spends the handle.
 *
 * Why the judgment is sound: the listener did not exist before the handle
 * was made, so whoever connected did so after the recipient's pidfd was
 * taken; if the recipient is still alive now (its pidfd says so), the pid
 * the kernel recorded at connect() (SO_PEERCRED) was the recipient's - a
 * live process keeps its pid, and no two live processes share one - so the
 * two are one process.  A later holder of the recipient's pid number can
 * only connect after the recipient has exited, which the pidfd shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"
#include "trust/trust.h"

struct slot {
    int used;
    uint32_t gen;          /* bumped on every release: stale events miss */
    shm_handle_t h;
    struct pm_shm_grant g;
    int lfd;               /* the listener */
    int conn;              /* the recipient's connection, or -1 */
    int64_t conn_deadline; /* ns, pm_now_ns() clock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[PM_SHM_MAX_HANDLES];
static int epfd = -1;
static pid_t serving_pid;   /* the process whose thread serves (fork!) */
static int atfork_done;

#define KIND_LISTENER 0u
#define KIND_CONN 1u

static uint64_t tag(int idx, unsigned kind)
{
    return (uint64_t)slots[idx].gen << 32 | (uint64_t)idx << 2 | kind;
}

static void release(struct slot *s)
{
    /* Closing a descriptor removes it from the epoll set. */
    close(s->lfd);
    if (s->conn >= 0)
        close(s->conn);
    close(s->g.objfd);
    close(s->g.pidfd);
    s->used = 0;
    s->conn = -1;
    s->gen++;
}

static int may_grant(int granted, int want)
{
    return granted == O_RDWR || granted == want;
}

/* Answer the recipient's request on s->conn.  Returns 1 when the handle is
 * spent (and released), 0 otherwise. */
static int answer(struct slot *s, const struct pm_shm_req *rq)
{
    struct pm_shm_reply rp = { .magic = PM_SHM_MAGIC, .flags = s->g.reply_flags };
    int fd = -1;
    int want = (int)rq->access;

    switch (rq->op) {
    case PM_SHM_OP_DELETE:
        break;
    case PM_SHM_OP_OPEN:
    case PM_SHM_OP_MAP:
        if (want != O_RDONLY && want != O_WRONLY && want != O_RDWR)
            rp.err = EINVAL;
        else if (rq->op == PM_SHM_OP_OPEN && (s->g.options & SHM_CREATE_HANDLE_OPT_NOFD))
            rp.err = EACCES;
        else if (!may_grant(s->g.access, want))
            rp.err = EACCES;
        else if (s->g.access == O_RDONLY && pm_shm_keep_read_only(s->g.objfd, s->g.pid) < 0)
            rp.err = EACCES;
        else if ((fd = pm_shm_reopen(s->g.objfd, want)) < 0)
            rp.err = errno == EMFILE || errno == ENFILE ? errno : EACCES;
        break;
    default:
        rp.err = EINVAL;
    }
    pm_shm_proof(s->h, rq, &rp, rp.proof);

    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { &rp, sizeof rp };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&cm, 0, sizeof cm);
        m.msg_control = cm.buf;
        m.msg_controllen = sizeof cm.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do
        n = sendmsg(s->conn, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (fd >= 0)
        close(fd);
    if (n == (ssize_t)sizeof rp && rp.err == 0) {
        release(s);
        return 1;
    }
    /* Refused (or undeliverable): the handle stays for a proper request. */
    close(s->conn);
    s->conn = -1;
    return 0;
}

static void read_request(struct slot *s)
{
    struct pm_shm_req rq;
    char buf[sizeof rq + 1]; /* one byte more: a longer message is malformed */
    ssize_t n = recv(s->conn, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (pm_shm_req_parse(buf, n, &rq) < 0) {
        close(s->conn);
        s->conn = -1;
        return;
    }
    answer(s, &rq);
}

/* A new connection on s's listener: keep it only if it is the recipient. */
static void judge(struct slot *s, int idx, int c)
{
    struct pm_peer_id id;
    int ok = 0;
    if (pm_peer_get(c, &id) == 0) {
        /* The ordering proof at the top of this file: the pid the kernel
         * recorded at connect() and a recipient alive since before listen()
         * and still alive now.  (pm_peer_is_process() would prove the same
         * with two /proc reads more per redemption.) */
        ok = id.pid == s->g.pid && pm_pidfd_alive(s->g.pidfd) == 1;
        pm_peer_release(&id);
    }
    if (!ok) {
        close(c);
        return;
    }
    if (s->conn >= 0)
        close(s->conn); /* the recipient started over */
    s->conn = c;
    s->conn_deadline = pm_now_ns() + pm_timeout_ns();
    /* The request is usually there already (sent right after connect()). */
    uint32_t gen = s->gen;
    read_request(s);
    if (!s->used || s->gen != gen || s->conn != c)
        return; /* answered (and spent, or refused) */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = tag(idx, KIND_CONN) };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev) < 0) {
        close(c);
        s->conn = -1;
    }
}

static void on_listener(int idx)
{
    struct slot *s = &slots[idx];
    /* Drain the queue: everyone but the recipient is closed at once. */
    for (int i = 0; i < 64 && s->used; i++) {
        int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
            return;
        judge(s, idx, c);
    }
}

static int next_timeout_ms(void)
{
    int64_t now = pm_now_ns(), best = -1;
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        if (slots[i].used && slots[i].conn >= 0) {
            int64_t left = slots[i].conn_deadline - now;
            if (left < 0)
                left = 0;
            if (best < 0 || left < best)
                best = left;
        }
    return best < 0 ? -1 : (int)(best / 1000000 + 1);
}

static void expire(void)
{
    int64_t now = pm_now_ns();
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        if (slots[i].used && slots[i].conn >= 0 && slots[i].conn_deadline <= now) {
            close(slots[i].conn);
            slots[i].conn = -1;
        }
}

static void *serve_thread(void *arg)
{
    (void)arg;
    struct epoll_event ev[16];
    for (;;) {
        pthread_mutex_lock(&lock);
        int ms = next_timeout_ms();
        int ep = epfd;
        pthread_mutex_unlock(&lock);
        int n = epoll_wait(ep, ev, 16, ms);
        pthread_mutex_lock(&lock);
        for (int i = 0; i < n; i++) {
            uint64_t t = ev[i].data.u64;
            unsigned kind = t & 3u;
            int idx = (int)((t >> 2) & 0x3fffffffu);
            if (idx >= PM_SHM_MAX_HANDLES || !slots[idx].used ||
                slots[idx].gen != (uint32_t)(t >> 32))
                continue; /* released meanwhile */
            if (kind == KIND_LISTENER)
                on_listener(idx);
            else if (slots[idx].conn >= 0)
                read_request(&slots[idx]);
        }
        expire();
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

/* fork(): the child has our descriptors but not our thread, and is not the
 * creator of anything (QNX says so too).  It lets go of every handle. */
static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        if (slots[i].used)
            release(&slots[i]);
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
    serving_pid = 0;
    pthread_mutex_unlock(&lock);
}

/* Called with the lock held. */
static int start_thread(void)
{
    if (serving_pid == getpid())
        return 0;
    if (!atfork_done) {
        if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
            return pm_fail(ENOMEM, "shm_create_handle: cannot register a fork handler");
        atfork_done = 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        goto fail;
    /* Signals are the application's: the thread takes none of them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 * 1024);
    pthread_t th;
    int r = pthread_create(&th, &a, serve_thread, NULL);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        errno = r;
        goto fail;
    }
    serving_pid = getpid();
    return 0;
fail:;
    int e = errno;
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
    return pm_fail(e == EAGAIN ? EAGAIN : ENOMEM,
                   "shm_create_handle: cannot start the thread that serves handles");
}

/* A listener under a fresh random handle.  Another process holding that
 * name (2^-64 per try by chance, never by foresight) makes us draw again. */
static int listen_fresh(shm_handle_t *h)
{
    for (int tries = 0; tries < 8; tries++) {
        if (getrandom(h, sizeof *h, 0) != (ssize_t)sizeof *h)
            return pm_fail(errno == ENOSYS ? ENOTSUP : errno,
                           "shm_create_handle: no random bits from the kernel");
        if (*h == 0)
            continue;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char name[PM_SHM_NAME_LEN + 1];
        pm_shm_name(*h, name);
        memcpy(sa.sun_path + 1, name, PM_SHM_NAME_LEN);
        socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + PM_SHM_NAME_LEN);
        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
            return pm_fail(0, "shm_create_handle: no socket");
        if (bind(s, (struct sockaddr *)&sa, len) == 0 && listen(s, 8) == 0)
            return s;
        int e = errno;
        close(s);
        if (e != EADDRINUSE)
            return pm_fail(e, "shm_create_handle: cannot listen for the recipient");
    }
    return pm_fail(EAGAIN, "shm_create_handle: no free handle name");
}

int pm_shm_serve(struct pm_shm_grant *g, shm_handle_t *h)
{
    pthread_mutex_lock(&lock);
    int idx = -1;
    for (int i = 0; i < PM_SHM_MAX_HANDLES && idx < 0; i++)
        if (!slots[i].used)
            idx = i;
    int lfd = -1;
    if (idx < 0) {
        pm_fail(EAGAIN, "shm_create_handle: %d handles outstanding; redeem or "
                "delete some first", PM_SHM_MAX_HANDLES);
        goto fail;
    }
    if (start_thread() < 0 || (lfd = listen_fresh(h)) < 0)
        goto fail;
    struct slot *s = &slots[idx];
    s->h = *h;
    s->g = *g;
    s->lfd = lfd;
    s->conn = -1;
    s->used = 1;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(idx, KIND_LISTENER) };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        int e = errno;
        release(s);
        pthread_mutex_unlock(&lock);
        return pm_fail(e, "shm_create_handle: cannot watch the listener");
    }
    pthread_mutex_unlock(&lock);
    return 0;
fail:;
    int e = errno;
    pthread_mutex_unlock(&lock);
    if (lfd >= 0)
        close(lfd);
    close(g->objfd);
    close(g->pidfd);
    errno = e;
    return -1;
}

int pm_shm_forget(shm_handle_t h)
{
    int found = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < PM_SHM_MAX_HANDLES && !found; i++)
        if (slots[i].used && slots[i].h == h && serving_pid == getpid()) {
            release(&slots[i]);
            found = 1;
        }
    pthread_mutex_unlock(&lock);
    if (!found)
        errno = ESRCH;
    return found ? 0 : -1;
}

int pm_shm_forget_object(dev_t dev, ino_t ino, pid_t pid)
{
    int n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        if (slots[i].used && slots[i].g.dev == dev && slots[i].g.ino == ino &&
            (pid == -1 || slots[i].g.pid == pid)) {
            release(&slots[i]);
            n++;
        }
    pthread_mutex_unlock(&lock);
    return n;
}
