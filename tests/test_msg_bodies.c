/*
 * Large message and reply bodies (src/msg/bodyfile.c): every size around
 * the page and the inline limit, every placement of the buffers in a page
 * at both ends, MsgRead()/MsgWrite() at any offset, the pread() path, files
 * of their own past the connection's cache, and what a client or another
 * user can do with the files: lie about their size, leave them unsealed,
 * shrink them, die in the middle, share them through fork() or a reused
 * descriptor number.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "chansock.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/neutrino.h"
#include "msg/msg.h"
#include "msg/wire.h"

#define INLINE PM_WIRE_INLINE_MAX

/* The bytes every body carries: position- and seed-dependent, different on
 * every page, so that a misplaced or stale page shows. */
static unsigned char pat(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 12) * 13u + 1u);
}

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pat(seed, i);
}

/* The first wrong byte, or n. */
static size_t first_bad(const unsigned char *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, i))
            return i;
    return n;
}

/* A buffer of n bytes starting `at` bytes into a page (free with
 * buf_free()). */
static unsigned char *buf_at(size_t n, size_t at)
{
    unsigned char *b = aligned_alloc(4096, (n + at + 4096 + 4095) / 4096 * 4096);
    return b ? b + at : NULL;
}

static void buf_free(unsigned char *b, size_t at)
{
    if (b)
        free(b - at);
}

/* ---- the server: a thread of the test ---- */

/* What the client asks for, at the head of every message; the body
 * (src_len bytes of pat(seed)) follows. */
struct req {
    uint32_t op;        /* OP_* */
    uint32_t seed;
    uint64_t src_len;   /* body bytes after this header */
    uint32_t srv_at;    /* where the server's buffers start in a page */
    uint32_t chunks;    /* MsgRead()/MsgWrite() in this many pieces */
    uint64_t reply_len; /* bytes of pat(seed + 1) back */
    uint32_t forward;   /* MsgWrite() the pieces front to back (else back
                         * to front) */
    uint32_t pad;
};
enum { OP_ECHO = 1, OP_QUIT, OP_HOLD, OP_GAPS, OP_VIEW_INO };

struct server {
    int chid;
    pthread_t th;
    atomic_int errors;     /* bodies that arrived wrong */
    int hold_wr;           /* OP_HOLD: tell the test (write end of a pipe) ... */
    int hold_rd;           /* ... and wait for its word (read end) */
    atomic_long held_read; /* OP_HOLD: what the late MsgRead() returned */
    atomic_int held_reply_errno;
    atomic_ulong view_ino; /* OP_VIEW_INO: the inode of the mapped body file */
};

static void serve_echo(struct server *s, rcvid_t id, const struct req *q)
{
    size_t n = (size_t)q->src_len;
    unsigned char *b = buf_at(n ? n : 1, q->srv_at);
    unsigned char *r = buf_at(q->reply_len ? q->reply_len : 1, q->srv_at);
    if (!b || !r) {
        MsgError(id, ENOMEM);
        goto out;
    }
    /* The body in `chunks` MsgRead()s, from after the header. */
    size_t k = q->chunks ? q->chunks : 1, done = 0;
    for (size_t c = 0; c < k; c++) {
        size_t want = c == k - 1 ? n - done : n / k;
        ssize_t got = MsgRead(id, b + done, want, sizeof *q + done);
        if (got != (ssize_t)want) {
            atomic_fetch_add(&s->errors, 1);
            MsgError(id, EBADMSG);
            goto out;
        }
        done += want;
    }
    if (first_bad(b, n, q->seed) != n) {
        atomic_fetch_add(&s->errors, 1);
        MsgError(id, EBADMSG);
        goto out;
    }
    /* Nothing past the end. */
    unsigned char extra;
    if (MsgRead(id, &extra, 1, sizeof *q + n) != 0) {
        atomic_fetch_add(&s->errors, 1);
        MsgError(id, EBADMSG);
        goto out;
    }
    fill(r, (size_t)q->reply_len, q->seed + 1);
    if (k == 1) {
        MsgReply(id, 0, r, (size_t)q->reply_len);
    } else {
        /* In pieces (back to front unless asked), then an empty reply. */
        size_t m = (size_t)q->reply_len, piece = m / k;
        for (size_t j = 0; j < k; j++) {
            size_t c = q->forward ? j : k - 1 - j;
            size_t at = c * piece, len = c == k - 1 ? m - at : piece;
            if (MsgWrite(id, r + at, len, at) != (ssize_t)len)
                atomic_fetch_add(&s->errors, 1);
        }
        MsgReply(id, 0, NULL, 0);
    }
out:
    buf_free(b, q->srv_at);
    buf_free(r, q->srv_at);
}

/* OP_GAPS: MsgWrite() 16 bytes at reply_len - 16, nothing before: the
 * client must get zeros there, whatever an earlier reply left in the
 * server's reply file. */
static void serve_gaps(rcvid_t id, const struct req *q)
{
    unsigned char tail[16];
    fill(tail, sizeof tail, q->seed + 1);
    MsgWrite(id, tail, sizeof tail, (size_t)q->reply_len - sizeof tail);
    MsgReply(id, 0, NULL, 0);
}

/* OP_HOLD: tell the test the message is here, wait for its word (it kills
 * or truncates the client meanwhile), then read all of it and reply. */
static void serve_hold(struct server *s, rcvid_t id, const struct req *q)
{
    char c = 'h';
    if (write(s->hold_wr, &c, 1) != 1 || read(s->hold_rd, &c, 1) != 1)
        return;
    size_t n = (size_t)q->src_len;
    unsigned char *b = malloc(n ? n : 1);
    ssize_t got = b ? MsgRead(id, b, n, sizeof *q) : -1;
    if (got == (ssize_t)n && first_bad(b, n, q->seed) != n)
        atomic_fetch_add(&s->errors, 1);
    atomic_store(&s->held_read, (long)got);
    int rc = MsgReply(id, 0, NULL, 0);
    atomic_store(&s->held_reply_errno, rc < 0 ? errno : 0);
    free(b);
    c = 'd';
    if (write(s->hold_wr, &c, 1) != 1)
        atomic_fetch_add(&s->errors, 1);
}

static void serve_view_ino(struct server *s, rcvid_t id)
{
    struct pm_channel *ch;
    struct pm_sconn *c = pm_rcvid_lookup(id, &ch);
    if (c) {
        atomic_store(&s->view_ino, c->view.map ? (unsigned long)c->view.ino : 0);
        pm_rcvid_release(ch);
    }
    MsgReply(id, 0, NULL, 0);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct req q;
        struct _msg_info info;
        rcvid_t id = MsgReceive(s->chid, &q, sizeof q, &info);
        if (id < 0)
            return NULL;
        if (id == 0)
            continue; /* a pulse */
        if (info.msglen < (int)sizeof q) {
            MsgError(id, EINVAL);
            continue;
        }
        switch (q.op) {
        case OP_QUIT: MsgReply(id, 0, NULL, 0); return NULL;
        case OP_ECHO: serve_echo(s, id, &q); break;
        case OP_GAPS: serve_gaps(id, &q); break;
        case OP_HOLD: serve_hold(s, id, &q); break;
        case OP_VIEW_INO: serve_view_ino(s, id); break;
        default: MsgError(id, ENOSYS);
        }
    }
}

static int server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    s->hold_wr = s->hold_rd = -1;
    s->chid = ChannelCreate(0);
    if (s->chid < 0)
        return -1;
    return pthread_create(&s->th, NULL, server_main, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s->chid, _NTO_SIDE_CHANNEL, 0);
    struct req q = { .op = OP_QUIT };
    if (coid >= 0) {
        MsgSend(coid, &q, sizeof q, NULL, 0);
        ConnectDetach(coid);
    }
    thread_join_ms(s->th, 20000);
    ChannelDestroy(s->chid);
}

/* ---- the client's side ---- */

/* One echo exchange: src_len bytes from a buffer `cl_at` into a page,
 * reply_len back into one `rp_at` into a page, the server's buffers
 * `srv_at` into a page.  0 when everything arrived whole. */
static int echo_fw(int coid, uint32_t seed, size_t src_len, size_t cl_at, size_t reply_len,
                   size_t rp_at, uint32_t srv_at, uint32_t chunks, uint32_t forward)
{
    struct req q = { .op = OP_ECHO, .seed = seed, .src_len = src_len, .srv_at = srv_at,
                     .chunks = chunks, .reply_len = reply_len, .forward = forward };
    unsigned char *b = buf_at(src_len ? src_len : 1, cl_at);
    unsigned char *r = buf_at(reply_len + 64, rp_at);
    int rc = -1;
    if (!b || !r)
        goto out;
    fill(b, src_len, seed);
    memset(r, 0xee, reply_len + 64);
    iov_t s[2], rv[1];
    SETIOV(&s[0], &q, sizeof q);
    SETIOV(&s[1], b, src_len);
    SETIOV(&rv[0], r, reply_len);
    long st = MsgSendv(coid, s, src_len ? 2 : 1, rv, 1);
    if (st != 0) {
        fprintf(stderr, "  echo(%zu@%zu -> %zu@%zu, server at %u, %u pieces): status %ld (%s)\n",
                src_len, cl_at, reply_len, rp_at, srv_at, chunks, st, strerror(errno));
        goto out;
    }
    size_t bad = first_bad(r, reply_len, seed + 1);
    if (bad != reply_len) {
        fprintf(stderr, "  echo(%zu@%zu -> %zu@%zu, server at %u, %u pieces): reply byte %zu "
                "wrong\n", src_len, cl_at, reply_len, rp_at, srv_at, chunks, bad);
        goto out;
    }
    for (size_t i = 0; i < 64; i++)
        if (r[reply_len + i] != 0xee) {
            fprintf(stderr, "  echo: the reply ran past the buffer\n");
            goto out;
        }
    rc = 0;
out:
    buf_free(b, cl_at);
    buf_free(r, rp_at);
    return rc;
}

static int echo(int coid, uint32_t seed, size_t src_len, size_t cl_at, size_t reply_len,
                size_t rp_at, uint32_t srv_at, uint32_t chunks)
{
    return echo_fw(coid, seed, src_len, cl_at, reply_len, rp_at, srv_at, chunks, 0);
}

/* Sizes around the page, the inline limit (the header is part of the
 * message) and a cache's worth. */
static const size_t sizes[] = {
    0, 1, 15, 4095, 4096, 4097,
    INLINE - sizeof(struct req) - 1, INLINE - sizeof(struct req),
    INLINE - sizeof(struct req) + 1, INLINE + 4096, 200000, 1 << 20, (1 << 20) + 13,
};
/* Where buffers start in a page: 1..31 bytes past each other is the slow
 * band of copy.h, malloc()'s 16 among them. */
static const size_t offsets[] = { 0, 8, 16, 24, 31, 100, 4000 };
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define NOFFS (sizeof offsets / sizeof offsets[0])

/* Every size, each with a few placements at the three buffers (all of them
 * for sizes up to 200000), one piece and three. */
static int sweep(int coid, uint32_t *seed)
{
    int bad = 0;
    for (size_t z = 0; z < NSIZES; z++) {
        size_t n = sizes[z];
        size_t step = n > 200000 ? 3 : 1;
        for (size_t a = 0; a < NOFFS; a += step)
            for (size_t b = 0; b < NOFFS; b += step * 2) {
                size_t srv = offsets[(a + b) % NOFFS];
                if (echo(coid, ++*seed, n, offsets[a], n, offsets[b], (uint32_t)srv, 1) < 0 ||
                    echo(coid, ++*seed, n, offsets[b], n / 2 + 1, offsets[a], (uint32_t)srv,
                         3) < 0)
                    bad++;
            }
    }
    return bad;
}

TEST(bodies_of_every_size_and_placement_arrive_whole)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    uint32_t seed = 1;
    CHECK_EQ_LONG(sweep(coid, &seed), 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    ConnectDetach(coid);
    server_stop(&s);
}

TEST(bodies_read_with_pread_arrive_whole)
{
    /* Neither end maps the other's file: both read it with pread(), the
     * path for a file that may not be mapped. */
    pm_bodyview_allow(0);
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    uint32_t seed = 1000;
    CHECK_EQ_LONG(sweep(coid, &seed), 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    ConnectDetach(coid);
    server_stop(&s);
    pm_bodyview_allow(1);
}

TEST(bodies_past_the_cache_travel_in_files_of_their_own)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    size_t big = PM_BODY_CACHE_MAX + 4097;
    CHECK(echo(coid, 7, big, 16, big, 16, 16, 1) == 0);
    CHECK(echo(coid, 9, big, 0, 100, 8, 24, 3) == 0);
    /* and the cached file serves the next one */
    CHECK(echo(coid, 11, 1 << 20, 16, 1 << 20, 16, 16, 1) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    ConnectDetach(coid);
    server_stop(&s);
}

TEST(reads_at_any_offset_and_writes_with_gaps)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    /* A large reply leaves the server's reply file full of pat(2)... */
    CHECK(echo(coid, 1, 10, 0, 500000, 16, 16, 1) == 0);
    /* ... which must not show in the gap before a later MsgWrite(). */
    size_t n = 300000;
    unsigned char *r = malloc(n);
    REQUIRE(r);
    memset(r, 0xee, n);
    struct req q = { .op = OP_GAPS, .seed = 40, .reply_len = n };
    CHECK(MsgSend(coid, &q, sizeof q, r, n) == 0);
    size_t zeros = 0;
    while (zeros < n - 16 && r[zeros] == 0)
        zeros++;
    CHECK_EQ_LONG(zeros, n - 16);
    CHECK_EQ_LONG(first_bad(r + n - 16, 16, 41), 16);
    free(r);
    /* MsgRead() at odd offsets and lengths: the echo server reads in 7
     * pieces of odd sizes. */
    CHECK(echo(coid, 50, 333333, 5, 333333, 3, 1, 7) == 0);
    CHECK(echo(coid, 51, 70001, 4095, 1, 4094, 4093, 13) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    ConnectDetach(coid);
    server_stop(&s);
}

/* ---- raw clients: what the library would never send ---- */


static int raw_send_fd(int sock, const void *buf, size_t len, int fd)
{
    union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } cm;
    memset(&cm, 0, sizeof cm);
    struct iovec v = { (void *)buf, len };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.b,
                        .msg_controllen = sizeof cm.b };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The next datagram that is not the hello: its header, or kind 0 when the
 * server hung up (or nothing came in time). */
static struct pm_wire_reply raw_answer(int sock)
{
    struct pm_wire_reply h = { 0 };
    for (;;) {
        struct pollfd p = { sock, POLLIN, 0 };
        if (poll(&p, 1, 20000) != 1)
            return (struct pm_wire_reply){ 0 };
        ssize_t r = recv(sock, &h, sizeof h, 0);
        if (r < 0 && errno == ECONNRESET)
            continue;
        if (r != (ssize_t)sizeof h)
            return (struct pm_wire_reply){ 0 };
        if (h.kind != PM_WIRE_HELLO)
            return h;
    }
}

/* A memfd holding a request for `n` body bytes of pat(seed), `off` bytes
 * into the file, as a raw client makes it (no seal unless asked). */
static int raw_body_file(uint32_t seed, size_t n, size_t off, uint32_t op, int seal)
{
    int fd = memfd_create("raw-body", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
    if (fd < 0)
        return -1;
    size_t total = sizeof(struct req) + n;
    unsigned char *b = malloc(total);
    if (!b || ftruncate(fd, (off_t)(off + total)) < 0) {
        free(b);
        close(fd);
        return -1;
    }
    struct req q = { .op = op, .seed = seed, .src_len = n, .chunks = 1 };
    memcpy(b, &q, sizeof q);
    fill(b + sizeof q, n, seed);
    int ok = pwrite(fd, b, total, (off_t)off) == (ssize_t)total;
    free(b);
    if (!ok || (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Does this process map a file whose name starts with `name`? */
static int mapped_here(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512], want[64];
    snprintf(want, sizeof want, "/memfd:%s", name);
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, want))
            found = 1;
    fclose(f);
    return found;
}

TEST(a_file_that_may_not_be_mapped_is_read_and_its_shrinking_costs_nothing)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int p1[2], p2[2];
    REQUIRE(pipe(p1) == 0 && pipe(p2) == 0);
    s.hold_wr = p1[1];
    s.hold_rd = p2[0];
    int sock = channel_connect(getpid(), s.chid);
    REQUIRE(sock >= 0);
    size_t n = 1 << 20;
    int fd = raw_body_file(5, n, 100, OP_HOLD, 0);
    REQUIRE(fd >= 0);
    struct pm_wire_send h = { .kind = PM_WIRE_MSG, .seq = 1, .srclen = sizeof(struct req) + n,
                              .body_off = 100 };
    REQUIRE(raw_send_fd(sock, &h, sizeof h, fd) == 0);
    char c;
    REQUIRE(read(p1[0], &c, 1) == 1); /* the server holds the message */
    /* Not sealed: never mapped (a shrink would raise SIGBUS in the server). */
    CHECK_EQ_LONG(mapped_here("raw-body"), 0);
    /* Shrink it under the server's feet: its MsgRead() comes up short. */
    CHECK(ftruncate(fd, 4096) == 0);
    c = 'g';
    REQUIRE(write(p2[1], &c, 1) == 1);
    REQUIRE(read(p1[0], &c, 1) == 1);
    CHECK(atomic_load(&s.held_read) >= 0 && atomic_load(&s.held_read) < (long)n);
    struct pm_wire_reply a = raw_answer(sock);
    CHECK_EQ_LONG(a.kind, PM_WIRE_REPLY);
    close(fd);
    close(sock);

    /* The same file sealed: mapped, read whole. */
    sock = channel_connect(getpid(), s.chid);
    REQUIRE(sock >= 0);
    fd = raw_body_file(6, n, 100, OP_HOLD, 1);
    REQUIRE(fd >= 0);
    REQUIRE(raw_send_fd(sock, &h, sizeof h, fd) == 0);
    REQUIRE(read(p1[0], &c, 1) == 1);
    CHECK_EQ_LONG(mapped_here("raw-body"), 1);
    c = 'g';
    REQUIRE(write(p2[1], &c, 1) == 1);
    REQUIRE(read(p1[0], &c, 1) == 1);
    CHECK_EQ_LONG(atomic_load(&s.held_read), (long)n);
    close(fd);
    close(sock);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    server_stop(&s);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
}

TEST(a_body_that_claims_more_than_its_file_costs_the_connection)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    size_t n = 1 << 20;
    struct {
        size_t off;    /* where the header says the body starts */
        size_t file;   /* the file's real size */
        int seal;
    } cases[] = {
        { 0, sizeof(struct req) + n - 1, 1 },      /* one byte short */
        { 100, sizeof(struct req) + n + 99, 1 },   /* short by the offset */
        { 4096, sizeof(struct req) + n + 4096, 1 },/* offset past the first page */
        { 100, sizeof(struct req) + n + 99, 0 },   /* short, not sealed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sock = channel_connect(getpid(), s.chid);
        REQUIRE(sock >= 0);
        int fd = raw_body_file(5, n, 0, OP_ECHO, 0);
        REQUIRE(fd >= 0);
        CHECK(ftruncate(fd, (off_t)cases[i].file) == 0);
        if (cases[i].seal) {
            /* a sealable copy of the same size */
            int sfd = memfd_create("raw-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
            CHECK(sfd >= 0 && ftruncate(sfd, (off_t)cases[i].file) == 0 &&
                  fcntl(sfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
            close(fd);
            fd = sfd;
        }
        struct pm_wire_send h = { .kind = PM_WIRE_MSG, .seq = 1,
                                  .srclen = sizeof(struct req) + n,
                                  .body_off = (uint32_t)cases[i].off };
        REQUIRE(raw_send_fd(sock, &h, sizeof h, fd) == 0);
        struct pm_wire_reply a = raw_answer(sock);
        CHECK_EQ_LONG(a.kind, 0); /* hung up, nothing served */
        close(fd);
        close(sock);
    }
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    /* and the server still serves */
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    CHECK(echo(coid, 3, n, 16, n, 16, 16, 1) == 0);
    ConnectDetach(coid);
    server_stop(&s);
}

/* ---- clients in other processes ---- */

struct dying {
    pid_t server;
    int chid;
    size_t n;
};

static int dying_body(int in, int out, void *arg)
{
    (void)in;
    struct dying *d = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, d->server, d->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 1;
    char c = 'r';
    if (write(out, &c, 1) != 1)
        return 1;
    unsigned char *b = malloc(sizeof(struct req) + d->n);
    if (!b)
        return 1;
    struct req q = { .op = OP_HOLD, .seed = 77, .src_len = d->n };
    memcpy(b, &q, sizeof q);
    fill(b + sizeof q, d->n, 77);
    MsgSend(coid, b, sizeof q + d->n, NULL, 0); /* killed while waiting */
    return 1;
}

static void client_dies_case(int map)
{
    pm_bodyview_allow(map);
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int p1[2], p2[2];
    REQUIRE(pipe(p1) == 0 && pipe(p2) == 0);
    s.hold_wr = p1[1];
    s.hold_rd = p2[0];
    struct dying d = { getpid(), s.chid, 3 << 20 };
    struct target t;
    REQUIRE(target_start(&t, dying_body, &d) == 0);
    char c;
    REQUIRE(target_read(&t, &c, 1, 20000) == 0);
    REQUIRE(read(p1[0], &c, 1) == 1); /* the server holds its message */
    kill(t.pid, SIGKILL);
    int st;
    REQUIRE((st = reap_ms(t.pid, 20000)) != -1);
    t.pid = 0;
    c = 'g';
    REQUIRE(write(p2[1], &c, 1) == 1);
    REQUIRE(read(p1[0], &c, 1) == 1);
    /* What it sent is still whole (the server keeps the file); the reply
     * finds nobody. */
    CHECK_EQ_LONG(atomic_load(&s.held_read), (long)d.n);
    CHECK_EQ_LONG(atomic_load(&s.held_reply_errno), ESRCH);
    target_finish(&t, 1000);
    /* The server goes on serving. */
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    CHECK(echo(coid, 3, 1 << 20, 16, 1 << 20, 16, 16, 1) == 0);
    ConnectDetach(coid);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    server_stop(&s);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
    pm_bodyview_allow(1);
}

TEST(a_client_that_dies_mid_message_leaves_the_server_whole)
{
    client_dies_case(1);
}

TEST(a_client_that_dies_mid_message_leaves_the_server_whole_without_mapping)
{
    client_dies_case(0);
}

/* The inode of the file behind a connection's large messages (0: none). */
static unsigned long body_ino(int coid)
{
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return 0;
    struct stat st;
    unsigned long ino = c->body.fd >= 0 && fstat(c->body.fd, &st) == 0 ? (unsigned long)st.st_ino
                                                                        : 0;
    pm_cconn_put(c);
    return ino;
}

struct forked {
    int coid;
};

static int fork_child_body(int in, int out, void *arg)
{
    (void)in;
    struct forked *f = arg;
    /* On the inherited connection: a file of our own. */
    if (echo(f->coid, 60, 1 << 20, 16, 10, 0, 16, 1) < 0)
        return 1;
    unsigned long ino = body_ino(f->coid);
    return child_write_full(out, &ino, sizeof ino) < 0;
}

TEST(a_fork_child_never_writes_into_its_parents_message_file)
{
    struct server s;
    REQUIRE(server_start(&s) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, s.chid, _NTO_SIDE_CHANNEL, 0);
    REQUIRE(coid >= 0);
    CHECK(echo(coid, 1, 1 << 20, 16, 10, 0, 16, 1) == 0);
    unsigned long mine = body_ino(coid);
    CHECK(mine != 0);
    struct forked f = { coid };
    struct target t;
    REQUIRE(target_start(&t, fork_child_body, &f) == 0);
    unsigned long theirs = 0;
    CHECK(target_read(&t, &theirs, sizeof theirs, 20000) == 0);
    int st = target_finish(&t, 20000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(theirs != 0 && theirs != mine);
    /* ours is untouched, and still serves */
    CHECK_EQ_LONG(body_ino(coid), mine);
    CHECK(echo(coid, 2, 1 << 20, 16, 1 << 20, 16, 16, 1) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    ConnectDetach(coid);
    server_stop(&s);
}

TEST(a_reused_descriptor_number_never_carries_the_old_servers_file)
{
    struct server a, b;
    REQUIRE(server_start(&a) == 0);
    REQUIRE(server_start(&b) == 0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, a.chid, 0, 0);
    REQUIRE(coid >= 0);
    CHECK(echo(coid, 1, 1 << 20, 16, 10, 0, 16, 1) == 0);
    unsigned long old = body_ino(coid);
    CHECK(old != 0);
    close(coid); /* not ConnectDetach(): the number is free again */
    int coid2 = ConnectAttach(ND_LOCAL_NODE, 0, b.chid, 0, 0);
    REQUIRE(coid2 == coid);
    CHECK_EQ_LONG(body_ino(coid2), 0);
    CHECK(echo(coid2, 2, 1 << 20, 16, 10, 0, 16, 1) == 0);
    CHECK(body_ino(coid2) != old);
    /* server a never saw b's file */
    ConnectDetach(coid2);
    server_stop(&a);
    server_stop(&b);
}

/* ---- another user ---- */

struct other {
    pid_t server;
    int chid;
    int nconn;
};

static int other_user_body(int in, int out, void *arg)
{
    (void)in;
    struct other *o = arg;
    if (drop_to_nobody() < 0)
        return 2;
    int bad = 0;
    int coids[8];
    for (int i = 0; i < o->nconn; i++) {
        coids[i] = ConnectAttach(ND_LOCAL_NODE, o->server, o->chid, _NTO_SIDE_CHANNEL, 0);
        if (coids[i] < 0)
            return 3;
    }
    uint32_t seed = 500;
    for (int i = 0; i < o->nconn; i++)
        for (size_t a = 0; a < NOFFS; a += 2)
            if (echo(coids[i], ++seed, (1 << 20) + a, offsets[a], 1 << 20, offsets[NOFFS - 1 - a],
                     (uint32_t)offsets[(a + 3) % NOFFS], 1) < 0)
                bad++;
    /* All the connections hold their files now: tell the test, wait. */
    char c = 'h';
    if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
        return 4;
    return bad ? 1 : 0;
}

/* How many mappings of message files of 1 MiB or more process pid has. */
static int big_body_maps(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strstr(line, "peermap-msg") &&
            perms[0] == 'r' && perms[1] == '-' && hi - lo >= (1ul << 20))
            n++;
    }
    fclose(f);
    return n;
}

TEST(another_users_large_messages_arrive_whole_and_what_is_mapped_is_its_share)
{
    if (getuid() != 0)
        SKIP("needs root to have another user");
    /* 2 MiB of mapped files for another user: room for one connection's
     * 1 MiB + its offset, not two. */
    struct peermap_client_limits l = { .cache = 3 << 20 };
    REQUIRE(peermap_set_client_limits(&l) == 0);
    struct server s;
    REQUIRE(server_start(&s) == 0);
    struct other o = { getpid(), s.chid, 4 };
    struct target t;
    REQUIRE(target_start(&t, other_user_body, &o) == 0);
    char c;
    CHECK(target_read(&t, &c, 1, 60000) == 0);
    /* Over the share, the other connections' files were read, not kept
     * mapped: at most as many mappings as fit in 3 MiB. */
    int maps = big_body_maps(getpid());
    CHECK(maps >= 1 && maps <= 2);
    c = 'g';
    CHECK(target_write(&t, &c, 1) == 0);
    int st = target_finish(&t, 20000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    server_stop(&s);
    peermap_set_client_limits(NULL);
}

static int share_crossing_body(int in, int out, void *arg)
{
    (void)in;
    (void)out;
    struct other *o = arg;
    if (drop_to_nobody() < 0)
        return 2;
    int coid = ConnectAttach(ND_LOCAL_NODE, o->server, o->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 3;
    int bad = 0;
    /* Written front to back in three pieces: the first fits the share in
     * the reply file, the second does not - what was written moves to the
     * heap and the reply still arrives whole. */
    for (uint32_t seed = 700; seed < 704; seed++)
        if (echo_fw(coid, seed, 10, 0, 1 << 20, 16, 16, 3, 1) < 0)
            bad++;
    /* and the connection goes on, back to front and in one piece */
    if (echo(coid, 800, 1 << 20, 16, 1 << 20, 16, 16, 3) < 0 ||
        echo(coid, 801, 200000, 16, 200000, 16, 16, 1) < 0)
        bad++;
    return bad ? 1 : 0;
}

TEST(a_reply_that_outgrows_its_users_share_midway_arrives_whole)
{
    if (getuid() != 0)
        SKIP("needs root to have another user");
    /* Room for a reply file of 512 KiB, not one of 1 MiB. */
    struct peermap_client_limits l = { .cache = 600 << 10 };
    REQUIRE(peermap_set_client_limits(&l) == 0);
    struct server s;
    REQUIRE(server_start(&s) == 0);
    struct other o = { getpid(), s.chid, 1 };
    struct target t;
    REQUIRE(target_start(&t, share_crossing_body, &o) == 0);
    int st = target_finish(&t, 60000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    server_stop(&s);
    peermap_set_client_limits(NULL);
}

static int fsize_body(int in, int out, void *arg)
{
    (void)out;
    struct other *o = arg;
    char go;
    if (child_read_full(in, &go, 1) < 0)
        return 2;
    int coid = ConnectAttach(ND_LOCAL_NODE, o->server, o->chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return 3;
    /* 1 MiB back, front to back in three pieces: the first fits in a reply
     * file under the server's size limit, the second needs it to grow past
     * it; the whole reply needs a file the limit forbids.  The answer is an
     * error, never a torn reply, never a wait without end. */
    enum { BIG = 1 << 20 };
    struct req q = { .op = OP_ECHO, .seed = 900, .src_len = 0, .srv_at = 16, .chunks = 3,
                     .reply_len = BIG, .forward = 1 };
    unsigned char *r = malloc(BIG);
    if (!r)
        return 4;
    errno = 0;
    long st = MsgSend(coid, &q, sizeof q, r, BIG);
    int e = errno;
    free(r);
    if (st != -1 || (e != ENOMEM && e != EFBIG)) {
        fprintf(stderr, "  1 MiB reply past the server's file size limit: %ld (%s)\n", st,
                strerror(e));
        return 5;
    }
    /* What fits still arrives whole, on the same connection. */
    if (echo_fw(coid, 901, 10, 0, 400 << 10, 16, 16, 2, 1) < 0)
        return 6;
    return 0;
}

TEST(a_reply_file_that_cannot_grow_midway_keeps_what_it_holds)
{
    /* The server's files may not pass 600 KiB (RLIMIT_FSIZE: ftruncate()
     * fails with EFBIG, and SIGXFSZ, ignored here): a reply file of
     * 512 KiB is made, its growth to 768 KiB fails.  The bytes already in
     * it must move to the heap, not be read from a file that was dropped,
     * and a reply that then cannot be sent must reach the client as an
     * error. */
    struct server s;
    REQUIRE(server_start(&s) == 0);
    struct other o = { getpid(), s.chid, 1 };
    struct target t;
    REQUIRE(target_start(&t, fsize_body, &o) == 0);
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    struct rlimit lim, was;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &was) == 0);
    lim = was;
    lim.rlim_cur = 600 << 10;
    REQUIRE(sigaction(SIGXFSZ, &ign, &old) == 0);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    char go = 'g';
    CHECK(target_write(&t, &go, 1) == 0);
    int st = target_finish(&t, 60000);
    setrlimit(RLIMIT_FSIZE, &was);
    sigaction(SIGXFSZ, &old, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(atomic_load(&s.errors), 0);
    server_stop(&s);
}
