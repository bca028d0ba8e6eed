/*
 * mmap_peer() into a reply-blocked client: in-band (the client's library
 * maps for the server) against ptrace, and both against the round trip the
 * client pays anyway, in one run.
 *
 *   ib_msg_small      MsgSend() of 16 bytes, the server replies at once
 *                     (timed by the client)
 *   ib_mmap_inband    mmap_peer() of one anonymous page into the client
 *                     while it waits for the reply, in-band (timed by the
 *                     server around the call)
 *   ib_munmap_inband  the munmap_peer() of that page, in the client's next
 *                     message (one in-band call per pending message)
 *   ib_mmap_ptrace    the same mmap_peer() with peermap_set_path(PTRACE),
 *                     on the same reply-blocked client
 *   ib_munmap_ptrace  its munmap_peer(), also through ptrace
 *   ib_cycle_inband   the ALLOC_BUFFER / FREE_BUFFER cycle as the client
 *                     sees it: MsgSend(ALLOC) -> the server mmap_peer()s a
 *                     64 KiB memfd MAP_SHARED and replies with the address;
 *                     the client checks the server's mark in it and writes
 *                     one word in each of its 16 pages; MsgSend(FREE) -> the
 *                     server checks the client's word, munmap_peer()s,
 *                     replies
 *   ib_cycle_ptrace   the same cycle, the server forced to ptrace
 *
 * Roles, as in bench_peermap: the caller of mmap_peer() (here the server,
 * this process) is pinned to --caller-cpu, its target (the client, a forked
 * child) to --target-cpu.  The server's memfd is made once and mapped into
 * the client on every ALLOC, as a buffer pool would: the subject is the
 * mapping, not the creation of objects.
 *
 * The five kinds alternate in blocks of BLOCK messages, so that a drift of
 * the machine during the run shows in all of them alike.  Every call is
 * checked: the path peermap_last_path() reports, the answers' sequence
 * numbers, the marks written through the shared buffer at both ends, and
 * (once per kind, untimed) from outside, that the page is there after
 * mmap_peer() and gone after munmap_peer().
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>
#include <sys/neutrino.h>

#include "stats.h"
#include "target.h"

#define BLOCK 100
#define PAGE 4096
#define BUF_LEN (64 * 1024)

enum op {
    OP_SMALL = 1,
    OP_MAP_INBAND, OP_MAP_PTRACE,
    OP_UNMAP_INBAND, OP_UNMAP_PTRACE,
    OP_ALLOC_INBAND, OP_ALLOC_PTRACE,
    OP_FREE_INBAND, OP_FREE_PTRACE,
    OP_QUIT
};

/* 16 bytes each way, for every kind. */
struct request {
    uint32_t op;
    uint32_t timed; /* the server records this one */
    uint64_t arg;   /* a sequence number; for FREE the buffer's address */
};
struct answer {
    uint64_t a, b;  /* seq and ~seq; for ALLOC the address and seq */
};
_Static_assert(sizeof(struct request) == 16, "16-byte request");
_Static_assert(sizeof(struct answer) == 16, "16-byte answer");

/* The client's timings, written by the child into memory shared with us:
 * the child's own samples would die with it. */
struct client_times {
    size_t n;
    uint64_t *msg, *cyc_in, *cyc_pt;
};

/* ---- the client (the child) ---- */

#define cli_die(...) bench_child_die("bench_inband client", peermap_errmsg(), __VA_ARGS__)

static void send_or_die(int coid, const struct request *rq, struct answer *a,
                        const char *what)
{
    long st = MsgSend(coid, rq, sizeof *rq, a, sizeof *a);
    if (st < 0)
        cli_die("MsgSend(%s): %s", what, strerror(errno));
    if (st != (long)sizeof *a)
        cli_die("MsgSend(%s): status %ld", what, st);
}

static uint64_t small_once(int coid, uint64_t seq)
{
    struct request rq = { OP_SMALL, 0, seq };
    struct answer a;
    uint64_t t0 = bench_now_ns();
    send_or_die(coid, &rq, &a, "small");
    uint64_t t1 = bench_now_ns();
    if (a.a != seq || a.b != ~seq)
        cli_die("small: wrong answer for %llu", (unsigned long long)seq);
    return t1 - t0;
}

/* The map and the unmap go in two messages: one in-band call per pending
 * message (see the note in BENCHMARKS.md on back-to-back in-band calls). */
static void map_once(int coid, int ptrace, int timed, uint64_t seq)
{
    struct request rq = { ptrace ? OP_MAP_PTRACE : OP_MAP_INBAND, (uint32_t)timed, seq };
    struct answer a;
    send_or_die(coid, &rq, &a, ptrace ? "map, ptrace" : "map, in-band");
    if (a.b != seq || a.a == 0)
        cli_die("map: wrong answer for %llu", (unsigned long long)seq);
    /* The page is ours now: touching it proves it. */
    *(volatile uint64_t *)(uintptr_t)a.a = seq;
    struct request ur = { ptrace ? OP_UNMAP_PTRACE : OP_UNMAP_INBAND, (uint32_t)timed, a.a };
    send_or_die(coid, &ur, &a, ptrace ? "unmap, ptrace" : "unmap, in-band");
    if (a.a != ur.arg || a.b != ~ur.arg)
        cli_die("unmap: wrong answer for %llu", (unsigned long long)seq);
}

static uint64_t cycle_once(int coid, int ptrace, uint64_t seq)
{
    struct request rq = { ptrace ? OP_ALLOC_PTRACE : OP_ALLOC_INBAND, 0, seq };
    struct answer a;
    uint64_t t0 = bench_now_ns();
    send_or_die(coid, &rq, &a, "ALLOC");
    volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)a.a;
    if (a.b != seq || buf[0] != seq)
        cli_die("ALLOC %llu: the server's mark is not in the buffer",
                (unsigned long long)seq);
    for (size_t off = 0; off < BUF_LEN; off += PAGE)
        buf[(off + PAGE) / sizeof *buf - 1] = ~seq;
    struct request fr = { ptrace ? OP_FREE_PTRACE : OP_FREE_INBAND, 0, a.a };
    send_or_die(coid, &fr, &a, "FREE");
    uint64_t t1 = bench_now_ns();
    if (a.a != seq || a.b != ~seq)
        cli_die("FREE: wrong answer for %llu", (unsigned long long)seq);
    return t1 - t0;
}

static void __attribute__((noreturn)) client(int ctl, pid_t parent, const struct bench_opts *o,
                                             struct client_times *ct)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o->target_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        cli_die("cannot pin to CPU %d: %s", o->target_cpu, strerror(errno));
    int chid;
    if (recv(ctl, &chid, sizeof chid, 0) != (ssize_t)sizeof chid)
        cli_die("no chid from the server: %s", strerror(errno));
    int coid = ConnectAttach(ND_LOCAL_NODE, parent, chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        cli_die("ConnectAttach: %s", strerror(errno));

    uint64_t seq = 0;
    size_t timed_done = 0;
    for (size_t done = 0, total = o->warmup + o->n; done < total;) {
        size_t k = total - done < BLOCK ? total - done : BLOCK;
        if (done < o->warmup && o->warmup - done < k)
            k = o->warmup - done; /* a block is all warm-up or all timed */
        int timed = done >= o->warmup;
        for (size_t i = 0; i < k; i++) {
            uint64_t t = small_once(coid, ++seq);
            if (timed)
                ct->msg[timed_done + i] = t;
        }
        for (size_t i = 0; i < k; i++)
            map_once(coid, 0, timed, ++seq);
        for (size_t i = 0; i < k; i++)
            map_once(coid, 1, timed, ++seq);
        for (size_t i = 0; i < k; i++) {
            uint64_t t = cycle_once(coid, 0, ++seq);
            if (timed)
                ct->cyc_in[timed_done + i] = t;
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t t = cycle_once(coid, 1, ++seq);
            if (timed)
                ct->cyc_pt[timed_done + i] = t;
        }
        if (timed)
            timed_done += k;
        done += k;
    }
    struct request q = { OP_QUIT, 0, 0 };
    struct answer a;
    send_or_die(coid, &q, &a, "QUIT");
    _exit(0);
}

/* ---- the server (this process) ---- */

struct server {
    pid_t pid;          /* the client */
    int memfd;
    uint64_t *mine;     /* our mapping of the memfd */
    struct samples map_in, unmap_in, map_pt, unmap_pt;
    int checked[2];     /* the first map of each path was checked from outside */
};

static void die_peermap(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

static void want_path(int want, const char *what)
{
    int got = peermap_last_path();
    if (got != want)
        bench_die("%s took path %d, not %d", what, got, want);
}

static void choose(int ptrace)
{
    if (peermap_set_path(ptrace ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND) < 0)
        die_peermap("peermap_set_path");
}

static void on_map(struct server *s, rcvid_t id, const struct request *rq, int ptrace)
{
    choose(ptrace);
    const char *what = ptrace ? "mmap_peer (ptrace)" : "mmap_peer (in-band)";
    uint64_t t0 = bench_now_ns();
    void *p = mmap_peer(s->pid, NULL, PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    uint64_t t1 = bench_now_ns();
    if (p == MAP_FAILED)
        die_peermap(what);
    want_path(ptrace ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND, what);
    if (!s->checked[ptrace])
        bench_check_mapped(s->pid, p, PAGE, NULL, 0, what);
    if (rq->timed)
        samples_add(ptrace ? &s->map_pt : &s->map_in, t1 - t0);
    struct answer a = { (uint64_t)(uintptr_t)p, rq->arg };
    if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
        die_peermap("MsgReply (map)");
}

static void on_unmap(struct server *s, rcvid_t id, const struct request *rq, int ptrace)
{
    choose(ptrace);
    const char *what = ptrace ? "munmap_peer (ptrace)" : "munmap_peer (in-band)";
    void *p = (void *)(uintptr_t)rq->arg;
    uint64_t t0 = bench_now_ns();
    int rc = munmap_peer(s->pid, p, PAGE);
    uint64_t t1 = bench_now_ns();
    if (rc < 0)
        die_peermap(what);
    want_path(ptrace ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND, what);
    if (!s->checked[ptrace]) {
        bench_check_unmapped(s->pid, p, what);
        s->checked[ptrace] = 1;
    }
    if (rq->timed)
        samples_add(ptrace ? &s->unmap_pt : &s->unmap_in, t1 - t0);
    struct answer a = { rq->arg, ~rq->arg };
    if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
        die_peermap("MsgReply (unmap)");
}

static void on_alloc(struct server *s, rcvid_t id, const struct request *rq, int ptrace)
{
    choose(ptrace);
    void *p = mmap_peer(s->pid, NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
                        s->memfd, 0);
    if (p == MAP_FAILED)
        die_peermap(ptrace ? "ALLOC: mmap_peer (ptrace)" : "ALLOC: mmap_peer (in-band)");
    want_path(ptrace ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND, "ALLOC");
    s->mine[0] = rq->arg; /* the client must find it through its mapping */
    struct answer a = { (uint64_t)(uintptr_t)p, rq->arg };
    if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
        die_peermap("MsgReply (ALLOC)");
}

static void on_free(struct server *s, rcvid_t id, const struct request *rq, int ptrace)
{
    uint64_t seq = s->mine[0];
    for (size_t off = 0; off < BUF_LEN; off += PAGE)
        if (s->mine[(off + PAGE) / sizeof *s->mine - 1] != ~seq)
            bench_die("FREE %llu: the client's mark is not in our mapping (page %zu)",
                      (unsigned long long)seq, off / PAGE);
    choose(ptrace);
    if (munmap_peer(s->pid, (void *)(uintptr_t)rq->arg, BUF_LEN) < 0)
        die_peermap(ptrace ? "FREE: munmap_peer (ptrace)" : "FREE: munmap_peer (in-band)");
    want_path(ptrace ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND, "FREE");
    /* Clear the marks, so that a stale one cannot pass the next check. */
    memset(s->mine, 0, BUF_LEN);
    struct answer a = { seq, ~seq };
    if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
        die_peermap("MsgReply (FREE)");
}

static void serve(struct server *s, int chid)
{
    for (;;) {
        struct request rq;
        struct _msg_info info;
        rcvid_t id = MsgReceive(chid, &rq, sizeof rq, &info);
        if (id < 0 && errno == EINTR)
            continue;
        if (id < 0)
            die_peermap("MsgReceive");
        if (id == 0) /* _PULSE_CODE_DISCONNECT: the client died */
            bench_die("the client went away (it says why above)");
        if (info.msglen != (int)sizeof rq || info.pid != s->pid)
            bench_die("a message of %d bytes from PID %d", (int)info.msglen, (int)info.pid);
        switch (rq.op) {
        case OP_SMALL: {
            struct answer a = { rq.arg, ~rq.arg };
            if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
                die_peermap("MsgReply");
            break;
        }
        case OP_MAP_INBAND: on_map(s, id, &rq, 0); break;
        case OP_MAP_PTRACE: on_map(s, id, &rq, 1); break;
        case OP_UNMAP_INBAND: on_unmap(s, id, &rq, 0); break;
        case OP_UNMAP_PTRACE: on_unmap(s, id, &rq, 1); break;
        case OP_ALLOC_INBAND: on_alloc(s, id, &rq, 0); break;
        case OP_ALLOC_PTRACE: on_alloc(s, id, &rq, 1); break;
        case OP_FREE_INBAND: on_free(s, id, &rq, 0); break;
        case OP_FREE_PTRACE: on_free(s, id, &rq, 1); break;
        case OP_QUIT: {
            struct answer a = { 0, 0 };
            if (MsgReply(id, sizeof a, &a, sizeof a) < 0)
                die_peermap("MsgReply (QUIT)");
            return;
        }
        default:
            bench_die("unknown op %u", rq.op);
        }
    }
}

static uint64_t *shared_array(size_t n)
{
    void *p = mmap(NULL, (n ? n : 1) * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    return p;
}

static void report_client(const uint64_t *ns, size_t n, const char *name)
{
    struct samples s;
    samples_init(&s, n);
    for (size_t i = 0; i < n; i++)
        samples_add(&s, ns[i]);
    samples_report(&s, name);
    samples_free(&s);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 5000, 500);

    /* Pin first: the library's tracer thread, started on the first ptrace
     * call, inherits it. */
    bench_pin_self(o.caller_cpu);
    struct client_times ct = { o.n, shared_array(o.n), shared_array(o.n), shared_array(o.n) };
    int ctl[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
        bench_die("socketpair: %s", strerror(errno));

    pid_t parent = getpid();
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(ctl[0]);
        client(ctl[1], parent, &o, &ct);
    }
    bench_adopt_target(pid);
    close(ctl[1]);

    struct server s = { .pid = pid };
    samples_init(&s.map_in, o.n);
    samples_init(&s.unmap_in, o.n);
    samples_init(&s.map_pt, o.n);
    samples_init(&s.unmap_pt, o.n);
    s.memfd = memfd_create("bench_inband", MFD_CLOEXEC);
    if (s.memfd < 0 || ftruncate(s.memfd, BUF_LEN) < 0)
        bench_die("memfd: %s", strerror(errno));
    s.mine = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, s.memfd, 0);
    if (s.mine == MAP_FAILED)
        bench_die("mmap of the memfd: %s", strerror(errno));
    memset(s.mine, 0, BUF_LEN); /* its pages exist before the first ALLOC */

    /* A dying client must wake us: its disconnect arrives as a pulse. */
    int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
    if (chid < 0)
        die_peermap("ChannelCreate");
    if (send(ctl[0], &chid, sizeof chid, MSG_NOSIGNAL) != (ssize_t)sizeof chid)
        bench_die("cannot send the chid: %s", strerror(errno));

    printf("# bench_inband caller_cpu=%d (server) target_cpu=%d (client) n=%zu "
           "warmup=%zu block=%d page=%d buffer=%d client_pid=%d\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup, BLOCK, PAGE, BUF_LEN, (int)pid);
    serve(&s, chid);

    bench_await_exit(pid, "the client", NULL, NULL); /* it has said goodbye */
    bench_forget_target();

    report_client(ct.msg, o.n, "ib_msg_small");
    samples_report(&s.map_in, "ib_mmap_inband");
    samples_report(&s.unmap_in, "ib_munmap_inband");
    samples_report(&s.map_pt, "ib_mmap_ptrace");
    samples_report(&s.unmap_pt, "ib_munmap_ptrace");
    report_client(ct.cyc_in, o.n, "ib_cycle_inband");
    report_client(ct.cyc_pt, o.n, "ib_cycle_ptrace");

    samples_free(&s.map_in);
    samples_free(&s.unmap_in);
    samples_free(&s.map_pt);
    samples_free(&s.unmap_pt);
    ChannelDestroy(chid);
    close(ctl[0]);
    return 0;
}
