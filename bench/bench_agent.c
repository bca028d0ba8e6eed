/*
 * mmap_peer() through the target's agent (peermap_agent_start()): the call
 * a process makes on a target that ptrace cannot reach and that is not
 * reply-blocked on it, against the floor of its transport, in one run.
 *
 *   ag_connect_floor  the transport alone: connect() to a listening
 *                     AF_UNIX SEQPACKET socket in the target, send a
 *                     request-sized datagram with one descriptor, receive an
 *                     answer-sized one, close; a plain thread of the target
 *                     echoes (timed by the caller)
 *   ag_mmap_agent     mmap_peer() of one page of a memfd, MAP_SHARED, by
 *                     the agent (peermap_set_path(INBAND): never ptrace)
 *   ag_munmap_agent   the munmap_peer() of that page
 *
 * The caller (this process) is pinned to --caller-cpu, the target (a forked
 * child blocked in read(), so that it is not reply-blocked on us) to
 * --target-cpu.  The three kinds alternate in blocks of BLOCK calls so that a
 * drift of the machine shows in all of them alike.  Every call is checked:
 * the path peermap_last_path() reports, and, once per kind, from outside,
 * that the page is there after mmap_peer() and gone after munmap_peer().
 *
 * BENCH_AGENT_RESTART=N restarts the agent (peermap_agent_stop() and
 * _start(), untimed) every N map/unmap pairs: an agent of the library before
 * it dropped closed callers served 64 connections only, and comparing with
 * it needs the same restarts on both sides.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>

#include "stats.h"
#include "target.h"

#define BLOCK 100
#define PAGE 4096
#define REQ_LEN 64 /* about an agent request */
#define ANS_LEN 24 /* about an agent answer */

static socklen_t echo_name(pid_t pid, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int k = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "peermap.bench.echo.%d",
                     (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
}

/* ---- the target (the child) ---- */

static void *echo_main(void *arg)
{
    int lsn = (int)(intptr_t)arg;
    for (;;) {
        int c = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        char buf[REQ_LEN];
        union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } cm;
        struct iovec v = { buf, sizeof buf };
        struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
                            .msg_control = cm.b, .msg_controllen = sizeof cm.b };
        if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) > 0) {
            struct cmsghdr *h = CMSG_FIRSTHDR(&m);
            if (h && h->cmsg_type == SCM_RIGHTS) {
                int fd;
                memcpy(&fd, CMSG_DATA(h), sizeof fd);
                close(fd);
            }
            char ans[ANS_LEN] = { 0 };
            if (send(c, ans, sizeof ans, MSG_NOSIGNAL) < 0) {
                /* the caller went away: nothing to do */
            }
        }
        close(c);
    }
    return NULL;
}

static void target_main(int cpu, int ready_w, int quit_r)
{
    bench_pin_self(cpu);
    bench_forget_target();
    struct sockaddr_un sa;
    socklen_t sl = echo_name(getpid(), &sa);
    int lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    pthread_t th;
    char ok = 1;
    if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sl) < 0 || listen(lsn, 64) < 0 ||
        pthread_create(&th, NULL, echo_main, (void *)(intptr_t)lsn) != 0)
        ok = 0;
    if (ok && peermap_agent_start(NULL, 0) < 0) {
        fprintf(stderr, "bench_agent target: peermap_agent_start: %s\n", peermap_errmsg());
        ok = 0;
    }
    if (write(ready_w, &ok, 1) != 1 || !ok)
        _exit(1);
    char c;
    for (;;) {
        ssize_t r = read(quit_r, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 1)
            break;
        /* 'r': restart the agent, then say so. */
        ok = peermap_agent_stop() == 0 && peermap_agent_start(NULL, 0) == 0;
        if (write(ready_w, &ok, 1) != 1 || !ok)
            _exit(1);
    }
    _exit(0);
}

/* ---- the caller (this process) ---- */

static void die_peermap(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

static uint64_t floor_once(pid_t pid, int memfd)
{
    struct sockaddr_un sa;
    socklen_t sl = echo_name(pid, &sa);
    char req[REQ_LEN] = { 0 }, ans[ANS_LEN];
    union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } cm;
    memset(&cm, 0, sizeof cm);
    struct iovec v = { req, sizeof req };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
                        .msg_control = cm.b, .msg_controllen = sizeof cm.b };
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &memfd, sizeof memfd);

    uint64_t t0 = bench_now_ns();
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sl) < 0)
        bench_die("floor: connect: %s", strerror(errno));
    if (sendmsg(s, &m, MSG_NOSIGNAL) != (ssize_t)sizeof req)
        bench_die("floor: sendmsg: %s", strerror(errno));
    if (recv(s, ans, sizeof ans, 0) != (ssize_t)sizeof ans)
        bench_die("floor: recv: %s", strerror(errno));
    close(s);
    return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 5000, 500);
    bench_pin_self(o.caller_cpu);
    /* A loaded machine may leave the agent unrun for 100 ms (the default
     * answer deadline) once in many thousand calls, and a failed call ends
     * the benchmark: wait 2 s, as the library did before it had an answer
     * deadline of its own (and still does when compared with). */
    setenv("PEERMAP_INBAND_TIMEOUT_MS", "2000", 0);

    int ready[2], quit[2];
    if (pipe(ready) < 0 || pipe(quit) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(ready[0]);
        close(quit[1]);
        target_main(o.target_cpu, ready[1], quit[0]);
    }
    bench_adopt_target(pid);
    close(ready[1]);
    close(quit[0]);
    char ok = 0;
    bench_read_within(ready[0], &ok, 1, BENCH_START_MS, "the target starting its agent");
    if (!ok)
        bench_die("the target could not start its agent");

    int memfd = memfd_create("bench_agent", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, PAGE) < 0)
        bench_die("memfd: %s", strerror(errno));
    if (peermap_set_path(PEERMAP_PATH_INBAND) < 0)
        die_peermap("peermap_set_path");

    struct samples fl, map, unmap;
    samples_init(&fl, o.n);
    samples_init(&map, o.n);
    samples_init(&unmap, o.n);
    const char *env = getenv("BENCH_AGENT_RESTART");
    size_t restart = env ? strtoul(env, NULL, 10) : 0, pairs = 0;
    int checked = 0;
    size_t total = o.warmup + o.n;
    for (size_t base = 0; base < total; base += BLOCK) {
        size_t end = base + BLOCK < total ? base + BLOCK : total;
        for (size_t i = base; i < end; i++) {
            uint64_t ns = floor_once(pid, memfd);
            if (i >= o.warmup)
                samples_add(&fl, ns);
        }
        for (size_t i = base; i < end; i++) {
            if (restart && ++pairs % restart == 0) {
                char c = 'r';
                if (write(quit[1], &c, 1) != 1)
                    bench_die("the target is gone: %s", strerror(errno));
                bench_read_within(ready[0], &ok, 1, BENCH_START_MS,
                                  "the target restarting its agent");
                if (!ok)
                    bench_die("the target could not restart its agent");
            }
            uint64_t t0 = bench_now_ns();
            void *p = mmap_peer(pid, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
                                memfd, 0);
            uint64_t t1 = bench_now_ns();
            if (p == MAP_FAILED)
                die_peermap("mmap_peer (agent)");
            if (peermap_last_path() != PEERMAP_PATH_AGENT)
                bench_die("mmap_peer took path %d, not the agent", peermap_last_path());
            if (!checked)
                bench_check_mapped(pid, p, PAGE, NULL, 0, "mmap_peer (agent)");
            uint64_t t2 = bench_now_ns();
            if (munmap_peer(pid, p, PAGE) < 0)
                die_peermap("munmap_peer (agent)");
            uint64_t t3 = bench_now_ns();
            if (peermap_last_path() != PEERMAP_PATH_AGENT)
                bench_die("munmap_peer took path %d, not the agent", peermap_last_path());
            if (!checked) {
                bench_check_unmapped(pid, p, "munmap_peer (agent)");
                checked = 1;
            }
            if (i >= o.warmup) {
                samples_add(&map, t1 - t0);
                samples_add(&unmap, t3 - t2);
            }
        }
    }
    samples_report(&fl, "ag_connect_floor");
    samples_report(&map, "ag_mmap_agent");
    samples_report(&unmap, "ag_munmap_agent");
    close(quit[1]);
    bench_reap_target(pid);
    return 0;
}
