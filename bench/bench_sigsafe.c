/*
 * mmap_peer() + munmap_peer() made by a signal handler, against the same
 * pair made by ordinary code, on each route, in one run.
 *
 *   ss_signal          raise(SIGUSR1), whose handler does nothing: what
 *                      delivering and returning from the signal costs
 *   ss_ptrace          mmap_peer() + munmap_peer() of one anonymous page
 *                      in a target sleeping in nanosleep(), ptrace route
 *   ss_ptrace_handler  raise(SIGUSR1), whose handler makes that pair
 *                      (timed around raise())
 *   ss_inband          the pair in-band, the target reply-blocked on this
 *                      process (one message kept pending throughout)
 *   ss_inband_handler  the same from the handler
 *   ss_agent           the pair through the target's agent
 *                      (PEERMAP_PATH_INBAND; the target not reply-blocked)
 *   ss_agent_handler   the same from the handler
 *
 * The caller (this process, all its threads) is pinned to --caller-cpu, the
 * targets to --target-cpu.  The kinds alternate in blocks of BLOCK pairs,
 * so that a drift of the machine shows in all of them alike.  Every pair is
 * checked (both calls succeed, by the route expected), and the first of
 * each kind from outside: the page is there after mmap_peer() and gone
 * after munmap_peer().  The handler keeps errno, as handlers must.
 */
#include <errno.h>
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

#include "stats.h"
#include "target.h"

#define BLOCK 100
#define PAGE 4096

enum kind { K_SIGNAL, K_PTRACE, K_PTRACE_H, K_INBAND, K_INBAND_H, K_AGENT, K_AGENT_H, NKINDS };
static const char *const names[NKINDS] = {
    "ss_signal", "ss_ptrace", "ss_ptrace_handler", "ss_inband", "ss_inband_handler",
    "ss_agent", "ss_agent_handler",
};

/* The targets besides bench_spawn_target()'s: killed at exit, however we
 * leave. */
static pid_t client_pid, agent_pid;

static void kill_targets(void)
{
    for (int i = 0; i < 2; i++) {
        pid_t p = i ? agent_pid : client_pid;
        if (p > 0) {
            kill(p, SIGKILL);
            waitpid(p, NULL, 0);
        }
    }
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* A client that sends one message and waits for the reply (the in-band
 * target), or an agent that sleeps (the agent's target). */
static pid_t start_child(int cpu, int chid, int agent)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        bench_die("socketpair: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = bench_fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        pin(cpu);
        char ok = 1;
        if (agent) {
            if (peermap_agent_start(NULL, 0) < 0)
                _exit(2);
            send(sv[1], &ok, 1, 0);
            for (;;)
                pause();
        }
        int coid = ConnectAttach(ND_LOCAL_NODE, parent, chid, _NTO_SIDE_CHANNEL, 0);
        if (coid < 0)
            _exit(3);
        send(sv[1], &ok, 1, 0);
        MsgSend(coid, "m", 1, NULL, 0);
        _exit(0);
    }
    /* Our copy of the child's end closed first: a child that dies before
     * it is ready ends the read (PR_SET_PDEATHSIG takes it if we die). */
    close(sv[1]);
    char ok;
    bench_read_within(sv[0], &ok, 1, BENCH_START_MS,
                      agent ? "the agent's target starting" : "the client starting");
    close(sv[0]);
    return pid;
}

/* What the handler is asked to do, and what it got. */
static struct {
    pid_t pid;
    int want_path;
    volatile int ok;
} h;

static void on_usr1_nothing(int sig)
{
    (void)sig;
}

static int pair(pid_t pid, int want_path)
{
    void *p = mmap_peer(pid, NULL, PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    if (p == MAP_FAILED || peermap_last_path() != want_path)
        return 0;
    if (munmap_peer(pid, p, PAGE) < 0 || peermap_last_path() != want_path)
        return 0;
    return 1;
}

static void on_usr1_pair(int sig)
{
    (void)sig;
    int saved = errno;
    h.ok = pair(h.pid, h.want_path);
    errno = saved;
}

/* One pair of the kind, timed; checked from outside when `check`. */
static uint64_t once(enum kind k, pid_t pid, int path, int check)
{
    struct sigaction sa = { .sa_handler = on_usr1_pair };
    sigemptyset(&sa.sa_mask);
    uint64_t t0, t1;
    if (k == K_SIGNAL) {
        t0 = bench_now_ns();
        raise(SIGUSR1);
        t1 = bench_now_ns();
        return t1 - t0;
    }
    if (check) {
        void *p = mmap_peer(pid, NULL, PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
        if (p == MAP_FAILED)
            bench_die("%s: mmap_peer: %s (%s)", names[k], strerror(errno), peermap_errmsg());
        bench_check_mapped(pid, p, PAGE, NULL, 0, names[k]);
        if (munmap_peer(pid, p, PAGE) < 0)
            bench_die("%s: munmap_peer: %s (%s)", names[k], strerror(errno), peermap_errmsg());
        bench_check_unmapped(pid, p, names[k]);
    }
    int handler = k == K_PTRACE_H || k == K_INBAND_H || k == K_AGENT_H;
    int ok;
    if (handler) {
        h.pid = pid;
        h.want_path = path;
        h.ok = 0;
        t0 = bench_now_ns();
        raise(SIGUSR1);
        t1 = bench_now_ns();
        ok = h.ok;
    } else {
        t0 = bench_now_ns();
        ok = pair(pid, path);
        t1 = bench_now_ns();
    }
    if (!ok)
        bench_die("%s: a call failed or went another way (%s)", names[k],
                  peermap_errmsg());
    return t1 - t0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 2000, 200);
    bench_pin_self(o.caller_cpu);
    /* Deadlines are not the subject: a machine loaded by others must not
     * fail a call that would have been answered. */
    peermap_set_timeout_ms(10000);
    peermap_set_inband_timeout_ms(10000);
    atexit(kill_targets);
    pid_t sleeper = bench_spawn_target(o.target_cpu);
    int chid = ChannelCreate(0);
    if (chid < 0)
        bench_die("ChannelCreate: %s", strerror(errno));
    client_pid = start_child(o.target_cpu, chid, 0);
    agent_pid = start_child(o.target_cpu, 0, 1);
    char buf[8];
    rcvid_t rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    if (rcvid <= 0)
        bench_die("MsgReceive: %s", strerror(errno));
    printf("# bench_sigsafe caller_cpu=%d target_cpu=%d n=%zu warmup=%zu\n",
           o.caller_cpu, o.target_cpu, o.n, o.warmup);

    struct samples s[NKINDS];
    for (int k = 0; k < NKINDS; k++)
        samples_init(&s[k], o.n);
    int checked[NKINDS] = { 0 };
    for (size_t done = 0, total = o.warmup + o.n; done < total;) {
        size_t n = total - done < BLOCK ? total - done : BLOCK;
        if (done < o.warmup && o.warmup - done < n)
            n = o.warmup - done; /* a block is all warm-up or all timed */
        int timed = done >= o.warmup;
        for (int k = 0; k < NKINDS; k++) {
            pid_t pid = k <= K_PTRACE_H ? sleeper : k <= K_INBAND_H ? client_pid : agent_pid;
            int path = k <= K_PTRACE_H ? PEERMAP_PATH_PTRACE
                       : k <= K_INBAND_H ? PEERMAP_PATH_INBAND : PEERMAP_PATH_AGENT;
            peermap_set_path(k >= K_AGENT ? PEERMAP_PATH_INBAND : PEERMAP_PATH_AUTO);
            struct sigaction sa = { .sa_handler = k == K_SIGNAL ? on_usr1_nothing : on_usr1_pair };
            sigemptyset(&sa.sa_mask);
            sigaction(SIGUSR1, &sa, NULL);
            for (size_t i = 0; i < n; i++) {
                uint64_t t = once((enum kind)k, pid, path, !checked[k]);
                checked[k] = 1;
                if (timed)
                    samples_add(&s[k], t);
            }
        }
        done += n;
    }
    for (int k = 0; k < NKINDS; k++) {
        samples_report(&s[k], names[k]);
        samples_free(&s[k]);
    }
    MsgReply(rcvid, 0, NULL, 0);
    bench_check_target(sleeper);
    bench_reap_target(sleeper);
    return 0;
}
