/*
 * buffer_server - hands out shared buffers the way QNX recommends: the
 * client asks for a buffer in a message, the server creates a shared memory
 * object, maps it into the client with mmap_peer() while the client waits
 * for the reply, and replies with the client's address.  Both then use the
 * same pages: no data is copied through messages afterwards.
 *
 *   buffer_server [-n name] [-r fd]
 *
 *   -n name   the name to attach (default "peermap-buffers")
 *   -r fd     write one byte to descriptor fd once the name is attached,
 *             then close it (for a parent that waits for us)
 *
 * Messages (types below _IO_BASE, so they never collide with I/O messages):
 *   ALLOC_BUFFER {size}        -> {addr, path}: a fresh object mapped
 *                                 MAP_SHARED into the client, with a
 *                                 greeting already written in it
 *   CHECK_BUFFER {addr}        -> {text}: what the client wrote there, read
 *                                 from our own mapping (EBADMSG if nothing)
 *   FREE_BUFFER  {addr, size}  -> {path}: munmap_peer() it from the client
 *   PROBE_PTRACE               -> {err, path}: one mmap_peer() forced
 *                                 through ptrace (peermap_set_path()), to
 *                                 show what the in-band route saves us from
 *   QUIT                       -> EOK; the server exits 0 (EPERM when
 *                                 the sender is another user)
 *
 * For a QNX porter: everything here but the lines marked "Linux only" is
 * what the server would be on QNX.  On Linux, a client that is reply-
 * blocked on us when we call mmap_peer()/munmap_peer() lets its own
 * peermap library do the mapping for us ("in-band"): no ptrace, so neither
 * Yama, nor a container without CAP_SYS_PTRACE, nor a non-dumpable client
 * gets in the way.  That is why the calls below are made before MsgReply(),
 * never after: after the reply the client is running and only ptrace could
 * reach it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <peermap.h>          /* Linux only: peermap_last_path(), peermap_set_path() */
#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/mman_peer.h>
#include <sys/neutrino.h>

/* ---- the protocol (buffer_client.c defines the same) ---- */

#define BUF_MSG_ALLOC  0x0010
#define BUF_MSG_CHECK  0x0011
#define BUF_MSG_FREE   0x0012
#define BUF_MSG_PROBE  0x0013
#define BUF_MSG_QUIT   0x0014

#define BUF_MAX_SIZE   (16u << 20)
#define BUF_TEXT       128

struct buf_hdr {
    uint16_t type;
    uint16_t subtype;
    uint32_t zero;
};

struct buf_alloc {              /* BUF_MSG_ALLOC */
    struct buf_hdr hdr;
    uint64_t size;
};

struct buf_ref {                /* BUF_MSG_CHECK, BUF_MSG_FREE */
    struct buf_hdr hdr;
    uint64_t addr;              /* the client's address, as we replied it */
    uint64_t size;
};

struct buf_reply {
    uint64_t addr;              /* ALLOC: the buffer in the client */
    int32_t err;                /* PROBE: errno of the forced ptrace call */
    int32_t path;               /* how mmap_peer()/munmap_peer() got there */
    char text[BUF_TEXT];        /* ALLOC: the greeting; CHECK: what we read */
};

#define GREETING "hello from buffer_server, written before the reply"

/* ---- the buffers we handed out ---- */

struct buffer {
    int scoid;                  /* whose: the connection it was asked on */
    pid_t pid;
    uint64_t client_addr;
    size_t size;
    char *mine;                 /* our mapping of the same object */
    struct buffer *next;
};
static struct buffer *buffers;

/* Linux only: what peermap_last_path() says, for the log. */
static const char *path_name(int path)
{
    switch (path) {
    case PEERMAP_PATH_INBAND: return "in-band";
    case PEERMAP_PATH_PTRACE: return "ptrace";
    case PEERMAP_PATH_LOCAL: return "local";
    case PEERMAP_PATH_NONE: return "none";
    default: return "?";
    }
}

/* A shared memory object nobody else can open: its name is gone before
 * anyone could guess it, and the descriptor is all that keeps it alive.
 * (QNX also offers SHM_ANON for this.) */
static int new_object(size_t size)
{
    char name[64];
    static unsigned serial;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(name, sizeof name, "/buffer_server-%d-%u", (int)getpid(), serial++);
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        shm_unlink(name);
        if (ftruncate(fd, (off_t)size) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        return fd;
    }
    errno = EEXIST;
    return -1;
}

static struct buffer *find(int scoid, uint64_t addr)
{
    for (struct buffer *b = buffers; b; b = b->next)
        if (b->scoid == scoid && b->client_addr == addr)
            return b;
    return NULL;
}

static void forget(struct buffer *gone)
{
    for (struct buffer **p = &buffers; *p; p = &(*p)->next)
        if (*p == gone) {
            *p = gone->next;
            break;
        }
    munmap(gone->mine, gone->size);
    free(gone);
}

static void on_alloc(rcvid_t rcvid, const struct buf_alloc *m, const struct _msg_info *info)
{
    uint64_t size = m->size;
    long page = sysconf(_SC_PAGESIZE);
    if (size == 0 || size > BUF_MAX_SIZE) {
        MsgError(rcvid, EINVAL);
        return;
    }
    size = (size + (uint64_t)page - 1) & ~(uint64_t)(page - 1);
    struct buffer *b = calloc(1, sizeof *b);
    int fd = b ? new_object(size) : -1;
    if (fd < 0) {
        int e = b ? errno : ENOMEM;
        free(b);
        MsgError(rcvid, e);
        return;
    }
    b->mine = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (b->mine == MAP_FAILED) {
        int e = errno;
        close(fd);
        free(b);
        MsgError(rcvid, e);
        return;
    }
    /* The client's half.  info->pid comes from the kernel, not from the
     * message: we map into whoever really sent it. */
    void *there = mmap_peer(info->pid, NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno, path = peermap_last_path();
    /* Both mappings hold the object now; the descriptor is not needed. */
    close(fd);
    if (there == MAP_FAILED) {
        printf("buffer_server: ALLOC %llu for pid %d: mmap_peer failed via %s: %s (%s)\n",
               (unsigned long long)size, (int)info->pid, path_name(path), strerror(e),
               peermap_errmsg());
        munmap(b->mine, size);
        free(b);
        MsgError(rcvid, e);
        return;
    }
    b->scoid = info->scoid;
    b->pid = info->pid;
    b->client_addr = (uint64_t)(uintptr_t)there;
    b->size = size;
    b->next = buffers;
    buffers = b;
    printf("buffer_server: ALLOC %llu bytes for pid %d: mmap_peer -> %p via %s\n",
           (unsigned long long)size, (int)info->pid, there, path_name(path));

    /* Zero-copy: the client reads this in its own mapping after the reply. */
    snprintf(b->mine, size, "%s", GREETING);

    struct buf_reply r;
    memset(&r, 0, sizeof r);
    r.addr = b->client_addr;
    r.path = path;
    snprintf(r.text, sizeof r.text, "%s", GREETING);
    MsgReply(rcvid, EOK, &r, sizeof r);
}

static void on_check(rcvid_t rcvid, const struct buf_ref *m, const struct _msg_info *info)
{
    /* Only buffers this connection was given: a client names its own. */
    struct buffer *b = find(info->scoid, m->addr);
    if (!b) {
        MsgError(rcvid, EINVAL);
        return;
    }
    struct buf_reply r;
    memset(&r, 0, sizeof r);
    r.addr = b->client_addr;
    /* The client shares these pages and may still be writing (another
     * thread of it): copy a bounded, terminated snapshot. */
    memcpy(r.text, b->mine, sizeof r.text - 1);
    if (!memchr(r.text, '\0', sizeof r.text - 1) || !strcmp(r.text, GREETING)) {
        printf("buffer_server: CHECK %#llx: the client wrote nothing\n",
               (unsigned long long)m->addr);
        MsgError(rcvid, EBADMSG);
        return;
    }
    printf("buffer_server: CHECK %#llx: the client wrote \"%s\"\n",
           (unsigned long long)m->addr, r.text);
    MsgReply(rcvid, EOK, &r, sizeof r);
}

static void on_free(rcvid_t rcvid, const struct buf_ref *m, const struct _msg_info *info)
{
    struct buffer *b = find(info->scoid, m->addr);
    /* Never munmap_peer() an address on a client's word alone: only what
     * we mapped for this very connection, and all of it. */
    if (!b || m->size != b->size) {
        printf("buffer_server: FREE %#llx (%llu bytes): not a buffer of this client\n",
               (unsigned long long)m->addr, (unsigned long long)m->size);
        MsgError(rcvid, EINVAL);
        return;
    }
    int rc = munmap_peer(info->pid, (void *)(uintptr_t)b->client_addr, b->size);
    int e = errno, path = peermap_last_path();
    printf("buffer_server: FREE %#llx for pid %d: munmap_peer = %d via %s%s%s\n",
           (unsigned long long)b->client_addr, (int)info->pid, rc, path_name(path),
           rc ? ": " : "", rc ? strerror(e) : "");
    if (rc < 0) {
        MsgError(rcvid, e);
        return;
    }
    forget(b);
    struct buf_reply r;
    memset(&r, 0, sizeof r);
    r.path = path;
    MsgReply(rcvid, EOK, &r, sizeof r);
}

/* Linux only: what ptrace would have done with the same request. */
static void on_probe(rcvid_t rcvid, const struct _msg_info *info)
{
    struct buf_reply r;
    memset(&r, 0, sizeof r);
    peermap_set_path(PEERMAP_PATH_PTRACE);
    void *p = mmap_peer(info->pid, NULL, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    r.err = p == MAP_FAILED ? errno : 0;
    r.path = peermap_last_path();
    printf("buffer_server: PROBE: mmap_peer forced via ptrace on pid %d: %s%s%s\n",
           (int)info->pid, p == MAP_FAILED ? strerror(r.err) : "mapped",
           p == MAP_FAILED ? " - " : "", p == MAP_FAILED ? peermap_errmsg() : "");
    peermap_set_path(PEERMAP_PATH_AUTO);
    if (p != MAP_FAILED) {
        /* It worked (we may trace the client): take the page back - the
         * client is still waiting, so this goes in-band. */
        if (munmap_peer(info->pid, p, 4096) < 0) {
            int e = errno;
            printf("buffer_server: PROBE: munmap_peer: %s\n", strerror(e));
            MsgError(rcvid, e);
            return;
        }
        r.addr = (uint64_t)(uintptr_t)p;
    }
    MsgReply(rcvid, EOK, &r, sizeof r);
}

/* A client's connection went: its buffers went with its address space (or
 * stay with it, if it only closed the connection), ours are released. */
static void on_disconnect(int scoid)
{
    for (struct buffer *b = buffers, *next; b; b = next) {
        next = b->next;
        if (b->scoid == scoid)
            forget(b);
    }
    ConnectDetach(scoid);
}

typedef union {
    uint16_t type;
    struct _pulse pulse;
    struct _io_connect connect;
    struct buf_hdr hdr;
    struct buf_alloc alloc;
    struct buf_ref ref;
} buf_msg_t;

/* QUIT stops the server for every client, so only our own user may send
 * it.  Who sent it is the kernel's record of the connection
 * (ConnectClientInfo()), never anything the message says. */
static int from_our_user(const struct _msg_info *info)
{
    struct _client_info ci;
    if (ConnectClientInfo(info->scoid, &ci, 0) == -1)
        return 0;
    return ci.cred.euid == geteuid();
}

int main(int argc, char **argv)
{
    const char *name = "peermap-buffers";
    int ready_fd = -1, opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 'r': ready_fd = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n name] [-r fd]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    name_attach_t *attach = name_attach(NULL, name, 0);
    if (attach == NULL) {
        fprintf(stderr, "%s: name_attach %s: %s\n", argv[0], name, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("buffer_server: attached \"%s\" (pid %d, uid %d)\n", name, (int)getpid(),
           (int)getuid());
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("buffer_server: ready descriptor");
        close(ready_fd);
    }

    for (;;) {
        buf_msg_t msg;
        struct _msg_info info;
        rcvid_t rcvid = MsgReceive(attach->chid, &msg, sizeof msg, &info);
        if (rcvid == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: MsgReceive: %s\n", argv[0], strerror(errno));
            break;
        }
        if (rcvid == 0) {
            if (msg.pulse.code == _PULSE_CODE_DISCONNECT)
                on_disconnect(msg.pulse.scoid);
            continue;
        }
        if (info.msglen < (int)sizeof msg.type) {
            MsgError(rcvid, EBADMSG);
            continue;
        }
        if (msg.type == _IO_CONNECT) {   /* name_open() */
            MsgReply(rcvid, EOK, NULL, 0);
            continue;
        }
        /* Every message of ours is a fixed size: shorter is malformed. */
        size_t need = 0;
        switch (msg.type) {
        case BUF_MSG_ALLOC: need = sizeof msg.alloc; break;
        case BUF_MSG_CHECK:
        case BUF_MSG_FREE: need = sizeof msg.ref; break;
        case BUF_MSG_PROBE:
        case BUF_MSG_QUIT: need = sizeof msg.hdr; break;
        default:
            MsgError(rcvid, ENOSYS);
            continue;
        }
        if ((size_t)info.msglen < need) {
            MsgError(rcvid, EBADMSG);
            continue;
        }
        switch (msg.type) {
        case BUF_MSG_ALLOC: on_alloc(rcvid, &msg.alloc, &info); break;
        case BUF_MSG_CHECK: on_check(rcvid, &msg.ref, &info); break;
        case BUF_MSG_FREE: on_free(rcvid, &msg.ref, &info); break;
        case BUF_MSG_PROBE: on_probe(rcvid, &info); break;
        case BUF_MSG_QUIT:
            if (!from_our_user(&info)) {
                MsgError(rcvid, EPERM);
                break;
            }
            MsgReply(rcvid, EOK, NULL, 0);
            while (buffers)
                forget(buffers);
            name_detach(attach, 0);
            printf("buffer_server: bye\n");
            return EXIT_SUCCESS;
        }
    }
    name_detach(attach, 0);
    return EXIT_FAILURE;
}
