/*
 * QNX message passing (<sys/neutrino.h>) against the raw socket it is built
 * on, between the same two processes, in one run.
 *
 *   msg_small  MsgSend() of 16 bytes -> MsgReceive() -> MsgReply() of 16
 *   raw_small  the same exchange as a bare AF_UNIX SOCK_SEQPACKET ping-pong:
 *              send() 16 bytes, the server recv()s and send()s 16 back
 *   raw_epoll_small  raw_small with the server waiting in epoll_wait() on
 *              a set that holds the socket before each recv(): the floor
 *              of any server that waits on many connections at once, as
 *              a channel does (one system call more than raw_small)
 *   msg_large  MsgSend() of 1 MiB; the server MsgRead()s all of it, then
 *              MsgReply()s 16 bytes
 *   raw_large  1 MiB write()n to an AF_UNIX SOCK_STREAM socket and read in
 *              full by the server, which write()s 16 bytes back
 *   floor_large  the one-copy floor: a 16-byte request on the raw
 *              SOCK_SEQPACKET socket names the client's 1 MiB buffer; the
 *              server copies it with one process_vm_readv() into its own
 *              buffer at the same alignment (the kernel's fast case) and
 *              sends 16 bytes back.  This is what QNX's kernel does for a
 *              message: one copy between the two address spaces.
 *   msg_reply_1m  MsgSend() of 16 bytes; the server MsgReply()s 1 MiB
 *   floor_reply_1m  its floor: the request names the client's buffer, the
 *              server process_vm_writev()s 1 MiB into it, 16 bytes back
 *
 * With PEERMAP_MAP_BODIES=0 in the environment (the library then reads
 * another process's message file with pread() instead of mapping it), only
 * the 1 MiB measurements run, each name ending in _pread.
 *   msg_large_cC_sS  (the alignment sweep) msg_large with the client's
 *              buffer C and the server's S bytes into a page, C and S each
 *              0, 8, ..., 56, so that S - C takes every value from -56 to
 *              56 in steps of 8: the kernel's copy is several times slower
 *              when the destination is 1 to 31 bytes past the source
 *              modulo 4096 (BENCHMARKS.md); msg_large and the others use
 *              malloc()'s buffers at both ends, as programs would (16 bytes
 *              into a page here, for 1 MiB)
 *
 * The server is a forked child, pinned to --target-cpu, one thread: it
 * loops MsgReceive()/MsgReply() on a channel, or recv()/send() on the raw
 * sockets, as a control socket tells it.  The client is this process,
 * pinned to --caller-cpu.  Each round trip is timed alone.
 *
 * Raw and msg blocks alternate (BLOCK_SMALL / BLOCK_LARGE round trips each)
 * so that a drift of the machine during the run (another VM on the host, a
 * frequency change) affects both sides of the ratio alike, instead of
 * whichever was measured second.
 *
 * Counts: -n round trips per small measurement (default 20000) after -w
 * warm-up ones (default 2000); the large measurements do a tenth of each
 * (at least 1 timed), since one is ~100 times slower.
 *
 * Every reply is checked (the server answers with the request's sequence
 * number and its complement, and the large bodies are checked at both
 * ends), so that a benchmark that silently got errors or stale replies
 * cannot report a time.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/neutrino.h>

#include "stats.h"
#include "target.h"

#define SMALL 16
#define LARGE (1024 * 1024)
#define BLOCK_SMALL 1000
#define BLOCK_LARGE 100
#define SWEEP_N 20      /* timed exchanges per alignment pair */
#define SWEEP_WARMUP 3
#define ALIGN_SLACK 4096 /* room to place a buffer at any offset in a page */

/* What the client sends: 16 bytes, the whole small message and the head
 * of a large one.  The server answers with struct answer. */
struct request {
    uint32_t op;
    uint32_t pad;
    uint64_t seq;
};
struct answer {
    uint64_t seq;
    uint64_t check; /* ~seq: proves the server looked at this request */
};
_Static_assert(sizeof(struct request) == SMALL, "16-byte request");
_Static_assert(sizeof(struct answer) == SMALL, "16-byte answer");

#define SALIGN_MALLOC 0xffffffffu

enum { OP_SMALL = 1, OP_LARGE = 2, OP_REPLY = 3, OP_FLOOR = 4, OP_FLOOR_W = 5 };

/* A floor request: the client's buffer, for the server's one copy. */
struct floor_request {
    uint32_t op;
    uint32_t pad;
    uint64_t seq;
    uint64_t addr;
};

/* Control messages to the server: serve `n` round trips of one kind. */
struct command {
    char what; /* 'r' raw small, 'f' floor, 'm' msg (small or large), 's' stream,
                * 'q' quit */
    uint32_t n;
    uint32_t salign; /* where the server's 1 MiB buffer starts in a page
                      * (SALIGN_MALLOC: malloc()'s buffer) */
};

/* Both processes' ends of everything, made before fork(). */
struct conns {
    int ctl[2];    /* SOCK_SEQPACKET: commands, and the server's chid */
    int raw[2];    /* SOCK_SEQPACKET: the raw ping-pong */
    int stream[2]; /* SOCK_STREAM: the raw large transfer */
};

/* ---- server (the child) ---- */

/* The child reports to stderr and exits; the parent then sees its sockets
 * close (or MsgSend() fail) and dies with its own message. */
#define srv_die(...) bench_child_die("bench_msg server", NULL, __VA_ARGS__)

static void read_full(int fd, void *buf, size_t len, const char *what)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            srv_die("%s: read: %s", what, strerror(errno));
        if (r == 0)
            srv_die("%s: end of stream after %zu of %zu bytes", what, got, len);
        got += (size_t)r;
    }
}

static void write_full(int fd, const void *buf, size_t len, const char *what)
{
    size_t put = 0;
    while (put < len) {
        ssize_t w = send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            srv_die("%s: send: %s", what, w < 0 ? strerror(errno) : "wrote nothing");
        put += (size_t)w;
    }
}

/* The seq a large body carries at both ends (see fill_large()). */
static int large_ok(const unsigned char *b, uint64_t seq)
{
    struct request head;
    uint64_t tail;
    memcpy(&head, b, sizeof head);
    memcpy(&tail, b + LARGE - sizeof tail, sizeof tail);
    return head.op == OP_LARGE && head.seq == seq && tail == seq;
}

/* Mark a large body with seq at both ends, outside the timed part. */
static void fill_large(unsigned char *big, uint64_t seq)
{
    struct request rq = { OP_LARGE, 0, seq };
    memcpy(big, &rq, sizeof rq);
    memcpy(big + LARGE - sizeof seq, &seq, sizeof seq);
}

/* The raw ping-pong's server; with ep >= 0 it waits for each request in
 * epoll_wait() first (the floor of a server of many connections). */
static void serve_raw(int fd, int ep, uint32_t n)
{
    const char *what = ep >= 0 ? "raw+epoll" : "raw";
    for (uint32_t i = 0; i < n; i++) {
        if (ep >= 0) {
            struct epoll_event ev;
            int w = epoll_wait(ep, &ev, 1, -1);
            if (w < 0 && errno == EINTR) {
                i--;
                continue;
            }
            if (w != 1)
                srv_die("%s: epoll_wait returned %d (%s)", what, w, strerror(errno));
        }
        struct request rq;
        /* Room for more than 16 bytes, so that a wrong size shows. */
        unsigned char buf[2 * SMALL];
        ssize_t r = recv(fd, buf, sizeof buf, ep >= 0 ? MSG_DONTWAIT : 0);
        if (r != SMALL)
            srv_die("%s: recv returned %zd (%s)", what, r, r < 0 ? strerror(errno) : "size");
        memcpy(&rq, buf, sizeof rq);
        struct answer a = { rq.seq, ~rq.seq };
        if (send(fd, &a, sizeof a, MSG_NOSIGNAL) != (ssize_t)sizeof a)
            srv_die("%s: send: %s", what, strerror(errno));
    }
}

/* The one-copy floor: process_vm_readv() (or _writev()) of the client's
 * 1 MiB buffer named in the request, straight into (out of) ours. */
static void serve_floor(int fd, pid_t client, unsigned char *big, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct floor_request rq;
        unsigned char buf[2 * sizeof rq];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r != (ssize_t)sizeof rq)
            srv_die("floor: recv returned %zd (%s)", r, r < 0 ? strerror(errno) : "size");
        memcpy(&rq, buf, sizeof rq);
        struct iovec local = { big, LARGE }, remote = { (void *)(uintptr_t)rq.addr, LARGE };
        ssize_t got = rq.op == OP_FLOOR_W ? process_vm_writev(client, &local, 1, &remote, 1, 0)
                                          : process_vm_readv(client, &local, 1, &remote, 1, 0);
        if (got != LARGE)
            srv_die("floor: process_vm_%sv returned %zd (%s)",
                    rq.op == OP_FLOOR_W ? "write" : "read", got,
                    got < 0 ? strerror(errno) : "short");
        if (rq.op == OP_FLOOR && !large_ok(big, rq.seq))
            srv_die("floor: corrupt body (seq %llu)", (unsigned long long)rq.seq);
        struct answer a = { rq.seq, ~rq.seq };
        if (send(fd, &a, sizeof a, MSG_NOSIGNAL) != (ssize_t)sizeof a)
            srv_die("floor: send: %s", strerror(errno));
    }
}

static void serve_stream(int fd, unsigned char *big, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        read_full(fd, big, LARGE, "stream");
        struct request rq;
        memcpy(&rq, big, sizeof rq);
        if (!large_ok(big, rq.seq))
            srv_die("stream: corrupt body (seq %llu)", (unsigned long long)rq.seq);
        struct answer a = { rq.seq, ~rq.seq };
        write_full(fd, &a, sizeof a, "stream");
    }
}

static void serve_msg(int chid, unsigned char *big, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct request rq;
        struct _msg_info info;
        rcvid_t id = MsgReceive(chid, &rq, sizeof rq, &info);
        if (id < 0)
            srv_die("MsgReceive: %s (%s)", strerror(errno), peermap_errmsg());
        if (id == 0)
            srv_die("MsgReceive: an unexpected pulse");
        if (info.msglen != SMALL)
            srv_die("MsgReceive: msglen %d, not %d", (int)info.msglen, SMALL);
        if (rq.op == OP_SMALL) {
            if (info.srcmsglen != SMALL)
                srv_die("small message of %d bytes", (int)info.srcmsglen);
        } else if (rq.op == OP_REPLY) {
            /* 1 MiB back, marked with the seq at both ends. */
            fill_large(big, rq.seq);
            if (MsgReply(id, SMALL, big, LARGE) < 0)
                srv_die("MsgReply (1 MiB): %s (%s)", strerror(errno), peermap_errmsg());
            continue;
        } else if (rq.op == OP_LARGE) {
            if (info.srcmsglen != LARGE)
                srv_die("large message of %d bytes", (int)info.srcmsglen);
            /* All of it, from the start, as a server copying the whole
             * message into its own buffer would. */
            ssize_t got = MsgRead(id, big, LARGE, 0);
            if (got != LARGE)
                srv_die("MsgRead returned %zd: %s (%s)", got, strerror(errno),
                        peermap_errmsg());
            if (!large_ok(big, rq.seq))
                srv_die("MsgRead: corrupt body (seq %llu)", (unsigned long long)rq.seq);
        } else {
            srv_die("unknown op %u", rq.op);
        }
        struct answer a = { rq.seq, ~rq.seq };
        if (MsgReply(id, SMALL, &a, sizeof a) < 0)
            srv_die("MsgReply: %s (%s)", strerror(errno), peermap_errmsg());
    }
}

static void __attribute__((noreturn)) server(const struct conns *c, pid_t parent, int cpu)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before the line above */
        _exit(1);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        srv_die("cannot pin to CPU %d: %s", cpu, strerror(errno));
    close(c->ctl[0]);
    close(c->raw[0]);
    close(c->stream[0]);
    unsigned char *base = aligned_alloc(4096, LARGE + ALIGN_SLACK);
    unsigned char *mbig = malloc(LARGE);
    if (!base || !mbig)
        srv_die("out of memory");
    memset(base, 0, LARGE + ALIGN_SLACK); /* fault them in now, not in the timed loops */
    memset(mbig, 0, LARGE);
    int chid = ChannelCreate(0);
    if (chid < 0)
        srv_die("ChannelCreate: %s (%s)", strerror(errno), peermap_errmsg());
    /* Level-triggered, as a channel's set. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event rev = { .events = EPOLLIN, .data.u64 = 1 };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->raw[1], &rev) < 0)
        srv_die("epoll: %s", strerror(errno));
    if (send(c->ctl[1], &chid, sizeof chid, MSG_NOSIGNAL) != (ssize_t)sizeof chid)
        srv_die("cannot report the chid: %s", strerror(errno));
    for (;;) {
        struct command cmd;
        ssize_t r = recv(c->ctl[1], &cmd, sizeof cmd, 0);
        if (r == 0)
            _exit(0); /* the parent went: nothing left to serve */
        if (r != (ssize_t)sizeof cmd)
            srv_die("control: recv returned %zd (%s)", r, r < 0 ? strerror(errno) : "size");
        unsigned char *big = cmd.salign == SALIGN_MALLOC ? mbig : base + cmd.salign % 4096;
        switch (cmd.what) {
        case 'r': serve_raw(c->raw[1], -1, cmd.n); break;
        case 'e': serve_raw(c->raw[1], ep, cmd.n); break;
        case 'f': serve_floor(c->raw[1], parent, big, cmd.n); break;
        case 'm': serve_msg(chid, big, cmd.n); break;
        case 's': serve_stream(c->stream[1], big, cmd.n); break;
        case 'q':
            if (ChannelDestroy(chid) < 0)
                srv_die("ChannelDestroy: %s", strerror(errno));
            free(base);
            free(mbig);
            _exit(0);
        default: srv_die("unknown command '%c'", cmd.what);
        }
    }
}

/* ---- client (this process) ---- */

static void die_msg(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

static void command(const struct conns *c, char what, uint32_t n, uint32_t salign)
{
    struct command cmd = { what, n, salign };
    if (send(c->ctl[0], &cmd, sizeof cmd, MSG_NOSIGNAL) != (ssize_t)sizeof cmd)
        bench_die("control: cannot send '%c': %s", what, strerror(errno));
}

static void check_answer(const struct answer *a, uint64_t seq, const char *what)
{
    if (a->seq != seq || a->check != ~seq)
        bench_die("%s: wrong answer for request %llu", what, (unsigned long long)seq);
}

/* Send the datagram rq (len bytes) and receive the server's 16-byte
 * answer to request seq; returns the duration of the two.  what: the
 * measurement, in messages. */
static uint64_t datagram_once(int fd, const void *rq, size_t len, uint64_t seq, const char *what)
{
    unsigned char buf[2 * SMALL];
    uint64_t t0 = bench_now_ns();
    ssize_t s = send(fd, rq, len, MSG_NOSIGNAL);
    ssize_t r = s == (ssize_t)len ? recv(fd, buf, sizeof buf, 0) : -1;
    uint64_t t1 = bench_now_ns();
    if (s != (ssize_t)len)
        bench_die("%s: send: %s", what, strerror(errno));
    if (r != SMALL)
        bench_die("%s: recv returned %zd (%s)", what, r,
                  r < 0 ? strerror(errno) : r == 0 ? "the server is gone" : "size");
    struct answer a;
    memcpy(&a, buf, sizeof a);
    check_answer(&a, seq, what);
    return t1 - t0;
}

/* One raw round trip; returns its duration. */
static uint64_t raw_small_once(int fd, uint64_t seq)
{
    struct request rq = { OP_SMALL, 0, seq };
    return datagram_once(fd, &rq, sizeof rq, seq, "raw");
}

static uint64_t msg_small_once(int coid, uint64_t seq)
{
    struct request rq = { OP_SMALL, 0, seq };
    struct answer a;
    uint64_t t0 = bench_now_ns();
    long st = MsgSend(coid, &rq, sizeof rq, &a, sizeof a);
    uint64_t t1 = bench_now_ns();
    if (st < 0)
        die_msg("MsgSend");
    if (st != SMALL)
        bench_die("MsgSend: status %ld, not %d", st, SMALL);
    check_answer(&a, seq, "MsgSend");
    return t1 - t0;
}


static uint64_t raw_large_once(int fd, unsigned char *big, uint64_t seq)
{
    struct answer a;
    fill_large(big, seq);
    uint64_t t0 = bench_now_ns();
    size_t put = 0, got = 0;
    while (put < LARGE) {
        ssize_t w = send(fd, big + put, LARGE - put, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            bench_die("stream: send: %s", w < 0 ? strerror(errno) : "wrote nothing");
        put += (size_t)w;
    }
    while (got < sizeof a) {
        ssize_t r = read(fd, (char *)&a + got, sizeof a - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            bench_die("stream: read: %s", r < 0 ? strerror(errno) : "the server is gone");
        got += (size_t)r;
    }
    uint64_t t1 = bench_now_ns();
    check_answer(&a, seq, "stream");
    return t1 - t0;
}

/* The floor: one process_vm_readv() (op OP_FLOOR) or _writev() (OP_FLOOR_W)
 * of our buffer by the server, between two 16-byte datagrams. */
static uint64_t floor_once(int fd, unsigned char *big, uint64_t seq, uint32_t op)
{
    struct floor_request rq = { op, 0, seq, (uint64_t)(uintptr_t)big };
    if (op == OP_FLOOR)
        fill_large(big, seq);
    return datagram_once(fd, &rq, sizeof rq, seq, "floor");
}

/* MsgSend() of 16 bytes, 1 MiB back (checked at both ends). */
static uint64_t msg_reply_once(int coid, unsigned char *big, uint64_t seq)
{
    struct request rq = { OP_REPLY, 0, seq };
    memset(big, 0, SMALL);
    memset(big + LARGE - SMALL, 0, SMALL);
    uint64_t t0 = bench_now_ns();
    long st = MsgSend(coid, &rq, sizeof rq, big, LARGE);
    uint64_t t1 = bench_now_ns();
    if (st < 0)
        die_msg("MsgSend (1 MiB reply)");
    if (st != SMALL)
        bench_die("MsgSend (1 MiB reply): status %ld, not %d", st, SMALL);
    if (!large_ok(big, seq))
        bench_die("MsgSend (1 MiB reply): corrupt reply (seq %llu)", (unsigned long long)seq);
    return t1 - t0;
}

static uint64_t msg_large_once(int coid, unsigned char *big, uint64_t seq)
{
    struct answer a;
    fill_large(big, seq);
    uint64_t t0 = bench_now_ns();
    long st = MsgSend(coid, big, LARGE, &a, sizeof a);
    uint64_t t1 = bench_now_ns();
    if (st < 0)
        die_msg("MsgSend (1 MiB)");
    if (st != SMALL)
        bench_die("MsgSend (1 MiB): status %ld, not %d", st, SMALL);
    check_answer(&a, seq, "MsgSend (1 MiB)");
    return t1 - t0;
}

/* One kind of round trip, timed or not: what the server must do for it,
 * and the client's side. */
enum kind { K_RAW_SMALL, K_MSG_SMALL, K_RAW_LARGE, K_MSG_LARGE, K_FLOOR, K_MSG_REPLY,
            K_FLOOR_W, K_RAW_EPOLL_SMALL };

struct ctx {
    const struct conns *c;
    int coid;
    unsigned char *big; /* the client's 1 MiB buffer */
    uint64_t seq;
};

static char server_mode(enum kind k)
{
    switch (k) {
    case K_RAW_SMALL: return 'r';
    case K_RAW_EPOLL_SMALL: return 'e';
    case K_RAW_LARGE: return 's';
    case K_FLOOR: case K_FLOOR_W: return 'f';
    default: return 'm';
    }
}

static uint64_t once(struct ctx *x, enum kind k)
{
    uint64_t seq = ++x->seq;
    switch (k) {
    case K_RAW_SMALL: case K_RAW_EPOLL_SMALL: return raw_small_once(x->c->raw[0], seq);
    case K_MSG_SMALL: return msg_small_once(x->coid, seq);
    case K_RAW_LARGE: return raw_large_once(x->c->stream[0], x->big, seq);
    case K_MSG_LARGE: return msg_large_once(x->coid, x->big, seq);
    case K_FLOOR: return floor_once(x->c->raw[0], x->big, seq, OP_FLOOR);
    case K_FLOOR_W: return floor_once(x->c->raw[0], x->big, seq, OP_FLOOR_W);
    case K_MSG_REPLY: return msg_reply_once(x->coid, x->big, seq);
    }
    return 0;
}

/* `warmup` untimed then `n` timed round trips of each of the `nk` kinds,
 * in alternating blocks of `block`, so that a drift of the machine weighs
 * on every kind alike; the server is told each block's kind and length.
 * The server's buffer is `salign` bytes past a 64-byte boundary. */
static void measure(struct ctx *x, const enum kind *kinds, const int *coids,
                    const char *const *names, size_t nk, size_t n, size_t warmup,
                    size_t block, uint32_t salign)
{
    struct samples s[8];
    for (size_t j = 0; j < nk; j++)
        samples_init(&s[j], n);
    for (size_t done = 0, total = warmup + n; done < total;) {
        size_t k = total - done < block ? total - done : block;
        if (done < warmup && warmup - done < k)
            k = warmup - done; /* a block is all warm-up or all timed */
        int timed = done >= warmup;
        for (size_t j = 0; j < nk; j++) {
            x->coid = coids[j];
            command(x->c, server_mode(kinds[j]), (uint32_t)k, salign);
            for (size_t i = 0; i < k; i++) {
                uint64_t t = once(x, kinds[j]);
                if (timed)
                    samples_add(&s[j], t);
            }
        }
        done += k;
    }
    for (size_t j = 0; j < nk; j++) {
        samples_report(&s[j], names[j]);
        samples_free(&s[j]);
    }
}

static void forget_target(pid_t pid)
{
    (void)pid;
    bench_forget_target(); /* reaped */
}

/* After 'q' the server must exit 0 on its own; give it 5 s. */
static void finish_server(const struct conns *c, pid_t pid)
{
    command(c, 'q', 0, 0);
    bench_await_exit(pid, "the server", forget_target, NULL);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 20000, 2000);
    size_t n_large = o.n / 10 ? o.n / 10 : 1, w_large = o.warmup / 10;

    /* Pin first: the server is forked from this thread. */
    bench_pin_self(o.caller_cpu);
    struct conns c;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c.ctl) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c.raw) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.stream) < 0)
        bench_die("socketpair: %s", strerror(errno));
    /* malloc()'s buffer for the main measurements, as a program would have;
     * an aligned one with slack for the sweep. */
    unsigned char *big = malloc(LARGE);
    unsigned char *base = aligned_alloc(4096, LARGE + ALIGN_SLACK);
    if (!big || !base)
        bench_die("out of memory");
    memset(big, 0, LARGE); /* fault them in now, not in the timed loops */
    memset(base, 0, LARGE + ALIGN_SLACK);

    pid_t parent = getpid();
    pid_t pid = bench_fork();
    if (pid == 0)
        server(&c, parent, o.target_cpu);
    bench_adopt_target(pid);
    close(c.ctl[1]);
    close(c.raw[1]);
    close(c.stream[1]);

    int chid;
    bench_read_within(c.ctl[0], &chid, sizeof chid, BENCH_START_MS, "the server starting");
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        die_msg("ConnectAttach");

    struct ctx x = { .c = &c, .coid = coid, .big = big };
    const char *mb = getenv("PEERMAP_MAP_BODIES");
    int pread_only = mb && !strcmp(mb, "0");
    /* BENCH_MSG_ONLY=small: the 16-byte round trips alone (for profiling);
     * =msg_small or =raw_small: only one of them (to profile or count the
     * system calls of one kind: perf stat, strace -c). */
    const char *only = getenv("BENCH_MSG_ONLY");
    int one_small = only && (!strcmp(only, "msg_small") || !strcmp(only, "raw_small"));
    int small_only = only && (!strcmp(only, "small") || one_small);

    /* The server's buffer is malloc()'s too: the main figures are those of
     * two ordinary programs. */
    uint32_t salign = SALIGN_MALLOC;
    printf("# bench_msg caller_cpu=%d target_cpu=%d n=%zu warmup=%zu "
           "n_large=%zu warmup_large=%zu small=%d large=%d server_pid=%d "
           "client_page_offset=%u server_buffer=malloc sweep_n=%d\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup, n_large, w_large, SMALL,
           LARGE, (int)pid, (unsigned)((uintptr_t)big % 4096), SWEEP_N);
    if (!pread_only) {
        const enum kind k[] = { K_MSG_SMALL, K_RAW_SMALL, K_RAW_EPOLL_SMALL };
        const int co[] = { coid, coid, coid };
        const char *const nm[] = { "msg_small", "raw_small", "raw_epoll_small" };
        int first = one_small && !strcmp(only, "raw_small");
        measure(&x, k + first, co, nm + first, one_small ? 1 : 3, o.n, o.warmup, BLOCK_SMALL,
                salign);
    }
    if (!small_only) {
        const enum kind k[] = { K_MSG_LARGE, K_RAW_LARGE, K_FLOOR, K_MSG_REPLY, K_FLOOR_W };
        const int co[] = { coid, coid, coid, coid, coid };
        const char *const nm[] = { "msg_large", "raw_large", "floor_large", "msg_reply_1m",
                                   "floor_reply_1m" };
        const char *const nmp[] = { "msg_large_pread", "raw_large_pread", "floor_large_pread",
                                    "msg_reply_1m_pread", "floor_reply_1m_pread" };
        measure(&x, k, co, pread_only ? nmp : nm, 5, n_large, w_large, BLOCK_LARGE, salign);
    }
    /* The sweep: page offsets 0..56 at both ends (steps of 8). */
    for (uint32_t ca = 0; ca < 64 && !pread_only && !small_only; ca += 8)
        for (uint32_t sa = 0; sa < 64; sa += 8) {
            char name[32];
            snprintf(name, sizeof name, "msg_large_c%u_s%u", ca, sa);
            x.big = base + ca;
            const enum kind k[] = { K_MSG_LARGE };
            const int co[] = { coid };
            const char *const nm[] = { name };
            measure(&x, k, co, nm, 1, SWEEP_N, SWEEP_WARMUP, BLOCK_LARGE, sa);
        }

    if (ConnectDetach(coid) < 0)
        die_msg("ConnectDetach");
    finish_server(&c, pid);
    close(c.ctl[0]);
    close(c.raw[0]);
    close(c.stream[0]);
    free(big);
    free(base);
    return 0;
}
