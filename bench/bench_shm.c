/*
 * Shared-memory handles against mmap_peer(): the cost, as the client sees
 * it, of getting a server's object mapped, in one run.
 *
 *   shm_floor        MsgSend() round trip + a local mmap() and munmap() of a
 *                    64 KiB memfd the client already holds: what any way
 *                    of getting the object mapped costs at least
 *   shm_handle       MsgSend(GET) -> the server shm_create_handle()s its
 *                    64 KiB memfd for the client and replies with the
 *                    handle -> the client mmap_handle()s it (create +
 *                    redeem + map) and reads the server's mark
 *   shm_peer_inband  MsgSend(MAP) -> the server mmap_peer()s the same memfd
 *                    into the client while it waits (in-band) and replies
 *                    with the address -> the client reads the mark
 *   shm_peer_ptrace  the same with the server forced to ptrace
 *
 * Each is timed by the client (this process, --caller-cpu) from before
 * MsgSend() until the mark has been read through the new mapping; its
 * munmap() is not timed.  The server is a forked child on --target-cpu.
 * The kinds alternate in blocks of BLOCK, so that a drift of the machine
 * shows in all of them alike.  Every mapping is checked (the mark is the
 * request's sequence number, written by the server before it replies).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
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
#include <sys/shm_handle.h>

#include "stats.h"
#include "target.h"

#define BLOCK 100
#define LEN (64 * 1024)

enum { OP_NOTHING = 1, OP_HANDLE, OP_INBAND, OP_PTRACE, OP_QUIT };

struct req { uint32_t op; uint32_t seq; };
struct rep { uint64_t handle; uint64_t addr; int32_t err; };

static void __attribute__((noreturn)) server(int ctl, int cpu, pid_t client)
{
    bench_forget_target();
    bench_pin_self(cpu);
    int fd = memfd_create("bench_shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    volatile uint32_t *mine;
    if (fd < 0 || ftruncate(fd, LEN) < 0 ||
        (mine = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        _exit(10);
    memset((void *)mine, 0, LEN);
    int chid = ChannelCreate(0);
    if (chid < 0 || send(ctl, &chid, sizeof chid, MSG_NOSIGNAL) != sizeof chid)
        _exit(11);
    for (;;) {
        struct req rq;
        struct _msg_info info;
        rcvid_t r = MsgReceive(chid, &rq, sizeof rq, &info);
        if (r <= 0)
            continue;
        struct rep rp = { 0 };
        mine[0] = rq.seq;
        switch (rq.op) {
        case OP_NOTHING:
            break;
        case OP_HANDLE:
            if (shm_create_handle(fd, client, O_RDWR, &rp.handle, 0) < 0)
                rp.err = errno;
            break;
        case OP_INBAND:
        case OP_PTRACE: {
            peermap_set_path(rq.op == OP_PTRACE ? PEERMAP_PATH_PTRACE : PEERMAP_PATH_INBAND);
            void *p = mmap_peer(info.pid, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            rp.err = p == MAP_FAILED ? errno : 0;
            rp.addr = (uint64_t)(uintptr_t)p;
            break;
        }
        case OP_QUIT:
            MsgReply(r, 0, &rp, sizeof rp);
            _exit(0);
        }
        MsgReply(r, 0, &rp, sizeof rp);
    }
}

static uint32_t seq;

/* One request of kind `op`, timed; 0, or -1 when the kind is not available. */
static int once(int coid, int op, int floorfd, uint64_t *ns)
{
    struct req rq = { (uint32_t)op, ++seq };
    struct rep rp;
    uint64_t t0 = bench_now_ns();
    if (MsgSend(coid, &rq, sizeof rq, &rp, sizeof rp) != 0)
        bench_die("MsgSend: %s", strerror(errno));
    if (rp.err) {
        errno = rp.err;
        return -1;
    }
    volatile uint32_t *p;
    if (op == OP_NOTHING)
        p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, floorfd, 0);
    else if (op == OP_HANDLE)
        p = mmap_handle(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, rp.handle, 0);
    else
        p = (volatile uint32_t *)(uintptr_t)rp.addr;
    if ((void *)p == MAP_FAILED)
        bench_die("mapping (kind %d): %s (%s)", op, strerror(errno), peermap_errmsg());
    uint32_t mark = p[0];
    if (op == OP_NOTHING)
        munmap((void *)p, LEN);
    uint64_t t1 = bench_now_ns();
    if (op != OP_NOTHING) {
        if (mark != seq)
            bench_die("kind %d: mark %u, expected %u", op, mark, seq);
        munmap((void *)p, LEN);
    }
    *ns = t1 - t0;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 2000, 200);
    bench_pin_self(o.caller_cpu);
    int ctl[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
        bench_die("socketpair: %s", strerror(errno));
    pid_t me = getpid();
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(ctl[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        server(ctl[1], o.target_cpu, me);
    }
    bench_adopt_target(pid);
    close(ctl[1]);
    prctl(PR_SET_PTRACER, pid); /* the ptrace kind: the server traces us */
    int chid;
    bench_read_within(ctl[0], &chid, sizeof chid, BENCH_START_MS, "the server starting");
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, chid, 0, 0);
    if (coid < 0)
        bench_die("ConnectAttach: %s", strerror(errno));
    int floorfd = memfd_create("bench_shm_floor", MFD_CLOEXEC);
    if (floorfd < 0 || ftruncate(floorfd, LEN) < 0)
        bench_die("memfd: %s", strerror(errno));

    static const int kinds[] = { OP_NOTHING, OP_HANDLE, OP_INBAND, OP_PTRACE };
    static const char *names[] = { "shm_floor", "shm_handle", "shm_peer_inband", "shm_peer_ptrace" };
    struct samples s[4];
    int avail[4] = { 1, 1, 1, 1 };
    for (int k = 0; k < 4; k++)
        samples_init(&s[k], o.n);
    printf("# bench_shm caller_cpu=%d (client) target_cpu=%d (server) n=%zu warmup=%zu "
           "block=%d len=%d\n", o.caller_cpu, o.target_cpu, o.n, o.warmup, BLOCK, LEN);
    uint64_t ns;
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < o.warmup && avail[k]; i++)
            if (once(coid, kinds[k], floorfd, &ns) < 0) {
                printf("# %s: not available (%s)\n", names[k], strerror(errno));
                avail[k] = 0;
            }
    for (size_t done = 0; done < o.n; done += BLOCK)
        for (int k = 0; k < 4; k++)
            for (size_t i = done; i < done + BLOCK && i < o.n && avail[k]; i++) {
                if (once(coid, kinds[k], floorfd, &ns) < 0)
                    bench_die("%s: %s", names[k], strerror(errno));
                samples_add(&s[k], ns);
            }
    struct req q = { OP_QUIT, 0 };
    struct rep rp;
    MsgSend(coid, &q, sizeof q, &rp, sizeof rp);
    bench_await_exit(pid, "the server", NULL, NULL);
    bench_forget_target();
    for (int k = 0; k < 4; k++) {
        if (avail[k])
            samples_report(&s[k], names[k]);
        samples_free(&s[k]);
    }
    return 0;
}
