/*
 * QNX message passing (<sys/neutrino.h>) against the raw socket it is built
 * on, between the same two processes, in one run.
 *
 *   msg_small  MsgSend() of 16 bytes -> MsgReceive() -> MsgReply() of 16
 *   raw_small  the same exchange as a bare AF_UNIX SOCK_SEQPACKET ping-pong:
 *              send() 16 bytes, the server recv()s and send()s 16 back
 *   msg_large  MsgSend() of 1 MiB; the server MsgRead()s all of it, then
 *              MsgReply()s 16 bytes
 *   raw_large  1 MiB write()n to an AF_UNIX SOCK_STREAM socket and read in
 *              full by the server, which write()s 16 bytes back
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
#include <sys/prctl.h>
#include <sys/socket.h>
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

enum { OP_SMALL = 1, OP_LARGE = 2 };

/* Control messages to the server: serve `n` round trips of one kind. */
struct command {
    char what; /* 'r' raw small, 'm' msg (small or large), 's' stream, 'q' quit */
    uint32_t n;
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
static void __attribute__((format(printf, 1, 2), noreturn)) srv_die(const char *fmt, ...)
{
    va_list ap;
    fputs("bench_msg server: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    _exit(1);
}

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

static void serve_raw(int fd, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct request rq;
        /* Room for more than 16 bytes, so that a wrong size shows. */
        unsigned char buf[2 * SMALL];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r != SMALL)
            srv_die("raw: recv returned %zd (%s)", r, r < 0 ? strerror(errno) : "size");
        memcpy(&rq, buf, sizeof rq);
        struct answer a = { rq.seq, ~rq.seq };
        if (send(fd, &a, sizeof a, MSG_NOSIGNAL) != (ssize_t)sizeof a)
            srv_die("raw: send: %s", strerror(errno));
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
    unsigned char *big = malloc(LARGE);
    if (!big)
        srv_die("out of memory");
    memset(big, 0, LARGE); /* fault it in now, not in the timed loops */
    int chid = ChannelCreate(0);
    if (chid < 0)
        srv_die("ChannelCreate: %s (%s)", strerror(errno), peermap_errmsg());
    if (send(c->ctl[1], &chid, sizeof chid, MSG_NOSIGNAL) != (ssize_t)sizeof chid)
        srv_die("cannot report the chid: %s", strerror(errno));
    for (;;) {
        struct command cmd;
        ssize_t r = recv(c->ctl[1], &cmd, sizeof cmd, 0);
        if (r == 0)
            _exit(0); /* the parent went: nothing left to serve */
        if (r != (ssize_t)sizeof cmd)
            srv_die("control: recv returned %zd (%s)", r, r < 0 ? strerror(errno) : "size");
        switch (cmd.what) {
        case 'r': serve_raw(c->raw[1], cmd.n); break;
        case 'm': serve_msg(chid, big, cmd.n); break;
        case 's': serve_stream(c->stream[1], big, cmd.n); break;
        case 'q':
            if (ChannelDestroy(chid) < 0)
                srv_die("ChannelDestroy: %s", strerror(errno));
            free(big);
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

static void command(const struct conns *c, char what, uint32_t n)
{
    struct command cmd = { what, n };
    if (send(c->ctl[0], &cmd, sizeof cmd, MSG_NOSIGNAL) != (ssize_t)sizeof cmd)
        bench_die("control: cannot send '%c': %s", what, strerror(errno));
}

static void check_answer(const struct answer *a, uint64_t seq, const char *what)
{
    if (a->seq != seq || a->check != ~seq)
        bench_die("%s: wrong answer for request %llu", what, (unsigned long long)seq);
}

/* One raw round trip; returns its duration. */
static uint64_t raw_small_once(int fd, uint64_t seq)
{
    struct request rq = { OP_SMALL, 0, seq };
    unsigned char buf[2 * SMALL];
    uint64_t t0 = bench_now_ns();
    ssize_t s = send(fd, &rq, sizeof rq, MSG_NOSIGNAL);
    ssize_t r = s == (ssize_t)sizeof rq ? recv(fd, buf, sizeof buf, 0) : -1;
    uint64_t t1 = bench_now_ns();
    if (s != (ssize_t)sizeof rq)
        bench_die("raw: send: %s", strerror(errno));
    if (r != SMALL)
        bench_die("raw: recv returned %zd (%s)", r,
                  r < 0 ? strerror(errno) : r == 0 ? "the server is gone" : "size");
    struct answer a;
    memcpy(&a, buf, sizeof a);
    check_answer(&a, seq, "raw");
    return t1 - t0;
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

/* Mark a large body with seq at both ends, outside the timed part. */
static void fill_large(unsigned char *big, uint64_t seq)
{
    struct request rq = { OP_LARGE, 0, seq };
    memcpy(big, &rq, sizeof rq);
    memcpy(big + LARGE - sizeof seq, &seq, sizeof seq);
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

/* `warmup` untimed then `n` timed round trips of each kind, in alternating
 * blocks of `block`; the server is told each block's kind and length. */
static void measure(const struct conns *c, int coid, unsigned char *big, int large,
                    size_t n, size_t warmup, size_t block)
{
    struct samples msg, raw;
    samples_init(&msg, n);
    samples_init(&raw, n);
    uint64_t seq = 0;
    for (size_t done = 0, total = warmup + n; done < total;) {
        size_t k = total - done < block ? total - done : block;
        if (done < warmup && warmup - done < k)
            k = warmup - done; /* a block is all warm-up or all timed */
        int timed = done >= warmup;

        command(c, large ? 's' : 'r', (uint32_t)k);
        for (size_t i = 0; i < k; i++) {
            uint64_t t = large ? raw_large_once(c->stream[0], big, ++seq)
                               : raw_small_once(c->raw[0], ++seq);
            if (timed)
                samples_add(&raw, t);
        }
        command(c, 'm', (uint32_t)k);
        for (size_t i = 0; i < k; i++) {
            uint64_t t = large ? msg_large_once(coid, big, ++seq)
                               : msg_small_once(coid, ++seq);
            if (timed)
                samples_add(&msg, t);
        }
        done += k;
    }
    samples_report(&msg, large ? "msg_large" : "msg_small");
    samples_report(&raw, large ? "raw_large" : "raw_small");
    samples_free(&msg);
    samples_free(&raw);
}

/* After 'q' the server must exit 0 on its own; give it 5 s. */
static void finish_server(const struct conns *c, pid_t pid)
{
    command(c, 'q', 0);
    for (int i = 0; i < 5000; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            bench_forget_target(); /* reaped */
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                bench_die("the server (PID %d) ended badly (status 0x%x)", (int)pid, st);
            return;
        }
        if (r < 0)
            bench_die("waitpid(%d): %s", (int)pid, strerror(errno));
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    bench_die("the server (PID %d) did not exit when told to", (int)pid);
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
    unsigned char *big = malloc(LARGE);
    if (!big)
        bench_die("out of memory");
    memset(big, 0, LARGE); /* fault it in now, not in the timed loops */

    pid_t parent = getpid();
    fflush(NULL); /* or the child could flush our buffers again */
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0)
        server(&c, parent, o.target_cpu);
    bench_adopt_target(pid);
    close(c.ctl[1]);
    close(c.raw[1]);
    close(c.stream[1]);

    int chid;
    ssize_t r = recv(c.ctl[0], &chid, sizeof chid, 0);
    if (r != (ssize_t)sizeof chid)
        bench_die("the server did not start (recv returned %zd: %s)", r,
                  r < 0 ? strerror(errno) : "closed");
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        die_msg("ConnectAttach");

    printf("# bench_msg caller_cpu=%d target_cpu=%d n=%zu warmup=%zu "
           "n_large=%zu warmup_large=%zu small=%d large=%d server_pid=%d\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup, n_large, w_large, SMALL,
           LARGE, (int)pid);
    measure(&c, coid, big, 0, o.n, o.warmup, BLOCK_SMALL);
    measure(&c, coid, big, 1, n_large, w_large, BLOCK_LARGE);

    if (ConnectDetach(coid) < 0)
        die_msg("ConnectDetach");
    finish_server(&c, pid);
    close(c.ctl[0]);
    close(c.raw[0]);
    close(c.stream[0]);
    free(big);
    return 0;
}
