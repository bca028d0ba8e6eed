/*
 * The agent (peermap_agent_start()) under attack by another local user.
 *
 * The attacks run as uid 65534 against a root (or uid 1000) victim: the
 * test runs as root, forks, and the attacker child drops to 65534 with
 * setgroups/setresgid/setresuid.  They are skipped with a reason when the
 * suite does not run as root.
 *
 *   - A process of another user binds the victim's agent name first; or
 *     binds it while it holds a pid the victim later gets (pid reuse), so
 *     that the kernel's SO_PEERCRED names the victim's pid.  The victim's
 *     agent must still serve, callers must reach it and never send the
 *     squatter anything, and a caller of a victim without agent must get
 *     an error that names the squatter.
 *   - An agent serves call after call (10,000) with bounded descriptors,
 *     and another user's idle connections cannot take its slots nor make
 *     it spin.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"
#include "sys/procmgr.h"

#define PAGE 4096
#define USER 1000

static socklen_t agent_addr(pid_t pid, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int k = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "peermap.agent.%d", (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
}

/* ---- the victim ---- */

struct victim {
    int agent;          /* start an agent */
    int wait_go;        /* ... only after the test says 'g' */
    uid_t allow[2];     /* the agent's uids (nallow of them) */
    size_t nallow;
    uid_t user;         /* run as this user (0: stay root) */
    int nondumpable;    /* out of ptrace's reach for all but root */
};

/* Reports its pid, then the agent's start (rc, errno); obeys 's' (stop the
 * agent; answers 1 on success) until its pipe closes. */
static int victim_body(int in, int out, void *arg)
{
    const struct victim *v = arg;
    if (v->user && drop_to_uid(v->user) < 0)
        return 10;
    if (v->nondumpable)
        prctl(PR_SET_DUMPABLE, 0);
    int me = (int)getpid();
    child_write_full(out, &me, sizeof me);
    char c;
    if (v->wait_go && child_read_full(in, &c, 1) < 0)
        return 11;
    int rep[2] = { 0, 0 };
    if (v->agent && peermap_agent_start(v->allow, v->nallow) < 0) {
        rep[0] = -1;
        rep[1] = errno;
    }
    child_write_full(out, rep, sizeof rep);
    while (child_read_full(in, &c, 1) == 0) {
        if (c == 's') {
            c = peermap_agent_stop() == 0;
            child_write_full(out, &c, 1);
        }
    }
    return 0;
}

/* ---- the squatter: listens on a victim's agent name, counts what it gets ---- */

struct loot {
    long conns, bytes, fds;
};

/* Accept and read everything that comes until the test asks ('r': report
 * and go on) or its pipe closes. */
static int squat(int lsn, int in, int out)
{
    struct pollfd p[66];
    int n = 0;
    struct loot l = { 0 };
    fcntl(lsn, F_SETFL, O_NONBLOCK);
    for (;;) {
        p[0] = (struct pollfd){ .fd = in, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = lsn, .events = POLLIN };
        if (poll(p, (nfds_t)(2 + n), -1) < 0)
            continue;
        for (int i = n - 1; i >= 0; i--) {
            struct pollfd *q = &p[2 + i];
            if (!q->revents)
                continue;
            char buf[512];
            union { struct cmsghdr a; char b[CMSG_SPACE(8 * sizeof(int))]; } cm;
            struct iovec v = { buf, sizeof buf };
            struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
                                .msg_control = cm.b, .msg_controllen = sizeof cm.b };
            ssize_t r = recvmsg(q->fd, &m, MSG_DONTWAIT);
            if (r > 0) {
                l.bytes += r;
                for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
                    if (h->cmsg_type == SCM_RIGHTS)
                        l.fds += (long)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                continue;
            }
            close(q->fd);
            p[2 + i] = p[2 + n - 1];
            n--;
        }
        if (p[1].revents & POLLIN) {
            int c;
            while (n < 64 && (c = accept4(lsn, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                l.conns++;
                p[2 + n++] = (struct pollfd){ .fd = c, .events = POLLIN };
            }
        }
        if (p[0].revents) {
            char c;
            if (child_read_full(in, &c, 1) < 0)
                return 0;
            child_write_full(out, &l, sizeof l);
        }
    }
}

static int bind_listen(pid_t for_pid)
{
    struct sockaddr_un sa;
    socklen_t sl = agent_addr(for_pid, &sa);
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sl) < 0 || listen(s, 64) < 0)
        return -1;
    return s;
}

/* Squat the name of the pid it is given, as nobody. */
static int squatter_body(int in, int out, void *arg)
{
    pid_t victim = *(pid_t *)arg;
    if (drop_to_uid(NOBODY) < 0)
        return 10;
    int s = bind_listen(victim);
    if (s < 0)
        return 11;
    char ok = 1;
    child_write_full(out, &ok, 1);
    return squat(s, in, out);
}

/* Squat the name of its own pid, as nobody, then pass the socket to a child
 * and exit: the pid is free for someone else, the name stays taken, and the
 * kernel still says the listener was made by that pid. */
static int reuse_squatter_body(int in, int out, void *arg)
{
    (void)arg;
    if (drop_to_uid(NOBODY) < 0)
        return 10;
    int s = bind_listen(getpid());
    if (s < 0)
        return 11;
    pid_t b = fork();
    if (b < 0)
        return 12;
    if (b == 0)
        _exit(squat(s, in, out));
    int me = (int)getpid();
    child_write_full(out, &me, sizeof me);
    return 0;
}

static int loot_of(struct target *sq, struct loot *l)
{
    char c = 'r';
    return target_write(sq, &c, 1) == 0 && target_read(sq, l, sizeof *l, 5000) == 0 ? 0 : -1;
}

/* ---- a victim with a given pid (clone3 set_tid, root only) ---- */

struct spawn {
    pid_t pid;
    struct victim v;
};

static int spawner_body(int in, int out, void *arg)
{
    struct spawn *sp = arg;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    ca.set_tid = (uint64_t)(uintptr_t)&sp->pid;
    ca.set_tid_size = 1;
    /* This child is single-threaded: a raw clone is as good as fork(). */
    long c = syscall(SYS_clone3, &ca, sizeof ca);
    if (c == 0)
        _exit(victim_body(in, out, &sp->v));
    if (c < 0) {
        int neg = -errno;
        child_write_full(out, &neg, sizeof neg);
        return 20;
    }
    int st;
    while (waitpid((pid_t)c, &st, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Start a victim that gets sp->pid (its first report, the pid, is read
 * here): 0, or -errno of clone3 (EEXIST: the pid was taken meanwhile). */
static int victim_with_pid(struct target *t, struct spawn *sp)
{
    if (target_start(t, spawner_body, sp) < 0)
        return -EAGAIN;
    int got = 0;
    if (target_read(t, &got, sizeof got, 5000) < 0)
        got = -EIO;
    if (got < 0) {
        target_finish(t, 2000);
        return got;
    }
    return got == sp->pid ? 0 : -EIO;
}

/* ---- what the tests look at in the victim ---- */

/* The tid of pid's thread whose name starts with `prefix`, or 0. */
static pid_t thread_named(pid_t pid, const char *prefix)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char cp[128], comm[32] = "";
        snprintf(cp, sizeof cp, "/proc/%d/task/%.20s/comm", (int)pid, e->d_name);
        FILE *f = fopen(cp, "re");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && !strncmp(comm, prefix, strlen(prefix)))
            found = atoi(e->d_name);
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Nanoseconds thread tid of pid has been runnable (on a CPU or waiting for
 * one: /proc/.../schedstat), whatever the load of the machine. */
static long long runnable_ns(pid_t pid, pid_t tid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    long long run = -1, wait = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &run, &wait) != 2)
            run = -1;
        fclose(f);
    }
    return run < 0 ? -1 : run + wait;
}

static int memfd_with(const char *text)
{
    int fd = memfd_create("agent-secret", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, PAGE) < 0 || pwrite(fd, text, strlen(text), 0) < 0)
        return -1;
    return fd;
}

/* ---- an agent whose name another user took ---- */

/* mmap_peer() of fd's page into the victim on the in-band route (already
 * chosen): it must succeed, through the victim's agent.  The address, or
 * MAP_FAILED. */
static char *map_by_the_agent(pid_t victim, int fd)
{
    char *p = mmap_peer(victim, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        fprintf(stderr, "  mmap_peer: %s\n", peermap_errmsg());
    CHECK(p != MAP_FAILED);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_AGENT);
    return p;
}

TEST(an_agent_whose_name_is_taken_serves_under_a_name_of_its_own)
{
    if (unprivileged())
        SKIP("the squatter must be another user: needs root to drop to %d", NOBODY);
    struct victim v = { .agent = 1, .wait_go = 1 };
    struct target vt, sq;
    int vpid = 0, rep[2];
    REQUIRE(target_start(&vt, victim_body, &v) == 0);
    REQUIRE(target_read(&vt, &vpid, sizeof vpid, 5000) == 0);
    pid_t victim = vpid;
    REQUIRE(target_start(&sq, squatter_body, &victim) == 0);
    char c;
    REQUIRE(target_read(&sq, &c, 1, 5000) == 0);
    /* Now the victim starts its agent: its name is taken. */
    REQUIRE(target_write(&vt, "g", 1) == 0);
    REQUIRE(target_read(&vt, rep, sizeof rep, 5000) == 0);
    CHECK_EQ_LONG(rep[0], 0);
    if (rep[0])
        fprintf(stderr, "  peermap_agent_start() in the victim: %s\n", strerror(rep[1]));
    /* Its thread publishes the name it listens on. */
    CHECK(thread_named(victim, "pma.") != 0);

    int fd = memfd_with("for the victim only");
    REQUIRE(fd >= 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_INBAND) == 0);
    char *p = map_by_the_agent(victim, fd);
    if (p != MAP_FAILED) {
        char got[20] = "";
        CHECK(maps_has(victim, (uintptr_t)p, PAGE, "rw-s") == 1);
        CHECK(peek(victim, (uintptr_t)p, got, 19) == 0 && !strcmp(got, "for the victim only"));
        CHECK(munmap_peer(victim, p, PAGE) == 0);
        CHECK(maps_has(victim, (uintptr_t)p, PAGE, NULL) == 0);
    }
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    /* The squatter was connected to (and proved not to be the victim),
     * never sent anything. */
    struct loot l = { -1, -1, -1 };
    CHECK(loot_of(&sq, &l) == 0);
    CHECK_EQ_LONG(l.bytes, 0);
    CHECK_EQ_LONG(l.fds, 0);
    target_finish(&sq, 2000);
    target_finish(&vt, 2000);
    close(fd);
}

/* ---- a squatter that held the victim's pid before it ---- */

/* A caller as uid 1000, AUTO route: reports errno and the reason. */
struct caller_report {
    int ok, err;
    char why[400];
};

static int user_caller_body(int in, int out, void *arg)
{
    (void)in;
    pid_t victim = *(pid_t *)arg;
    struct caller_report r = { 0 };
    int fd = memfd_with("for uid 1000's process only");
    /* Keep the ability mmap_peer() needs (QNX's pattern), then drop root. */
    if (fd < 0 ||
        procmgr_ability(0, PROCMGR_AOP_ALLOW | PROCMGR_ADN_NONROOT | PROCMGR_AID_MEM_PEER,
                        PROCMGR_AID_EOL) != 0 ||
        drop_to_uid(USER) < 0)
        return 10;
    errno = 0;
    void *p = mmap_peer(victim, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    r.ok = p != MAP_FAILED;
    r.err = errno;
    snprintf(r.why, sizeof r.why, "%s", peermap_errmsg());
    child_write_full(out, &r, sizeof r);
    return 0;
}

TEST(a_squatter_that_held_the_victims_pid_gets_nothing)
{
    if (unprivileged())
        SKIP("the squatter must be another user, and giving the victim a chosen pid "
             "(clone3 set_tid) needs root");
    struct target sq, vt;
    struct spawn sp = { .v = { .agent = 1 } };
    int rc = -EEXIST;
    /* The freed pid may be taken by someone else before we take it: try
     * again with another. */
    for (int tries = 0; tries < 5 && rc == -EEXIST; tries++) {
        int a = 0;
        REQUIRE(target_start(&sq, reuse_squatter_body, NULL) == 0);
        REQUIRE(target_read(&sq, &a, sizeof a, 5000) == 0);
        int st;
        REQUIRE((st = reap_ms(sq.pid, 20000)) != -1); /* its pid is free now */
        sp.pid = a;
        rc = victim_with_pid(&vt, &sp);
        if (rc == -EEXIST) {
            close(sq.to_child); /* the squatter's child goes */
            close(sq.from_child);
        }
    }
    if (rc == -EPERM || rc == -ENOSYS)
        SKIP("clone3 with set_tid: %s", strerror(-rc));
    REQUIRE(rc == 0);
    pid_t victim = sp.pid;
    int rep[2];
    REQUIRE(target_read(&vt, rep, sizeof rep, 5000) == 0);
    /* The name is taken, and the kernel says by a process with this pid. */
    CHECK_EQ_LONG(rep[0], 0);

    int fd = memfd_with("for the victim only");
    REQUIRE(fd >= 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_INBAND) == 0);
    char *p = map_by_the_agent(victim, fd);
    if (p != MAP_FAILED)
        CHECK(maps_has(victim, (uintptr_t)p, PAGE, "rw-s") == 1);

    /* Without an agent in the victim: a clear error naming the squatter,
     * nothing sent to it. */
    char c = 's';
    REQUIRE(target_write(&vt, &c, 1) == 0 && target_read(&vt, &c, 1, 5000) == 0);
    CHECK(rep[0] != 0 || c == 1); /* stopped (unless it never started) */
    errno = 0;
    p = mmap_peer(victim, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    char want[64];
    snprintf(want, sizeof want, "held by PID %d (uid %d", (int)victim, NOBODY);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    CHECK(strstr(peermap_errmsg(), want) != NULL);
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    target_finish(&vt, 2000);

    /* The same pid once more, for a victim of uid 1000 out of ptrace's
     * reach (non-dumpable) without an agent, and a caller of uid 1000 in
     * the automatic route: ptrace is refused, the agent's name is the
     * squatter's - EPERM, saying so, and nothing sent. */
    struct spawn sp2 = { .pid = victim, .v = { .user = USER, .nondumpable = 1 } };
    rc = victim_with_pid(&vt, &sp2);
    if (rc == 0) {
        REQUIRE(target_read(&vt, rep, sizeof rep, 5000) == 0);
        struct target caller;
        struct caller_report r;
        REQUIRE(target_start(&caller, user_caller_body, &victim) == 0);
        REQUIRE(target_read(&caller, &r, sizeof r, 10000) == 0);
        CHECK(!r.ok);
        CHECK_EQ_LONG(r.err, EPERM);
        fprintf(stderr, "  uid 1000's reason: %s\n", r.why);
        CHECK(strstr(r.why, want) != NULL);
        target_finish(&caller, 2000);
        target_finish(&vt, 2000);
    } else {
        fprintf(stderr, "  pid %d taken again before the second victim (%s): "
                "the uid 1000 case is not run\n", (int)victim, strerror(-rc));
    }

    struct loot l = { -1, -1, -1 };
    CHECK(loot_of(&sq, &l) == 0);
    fprintf(stderr, "  the squatter got %ld connections, %ld bytes, %ld descriptors\n",
            l.conns, l.bytes, l.fds);
    CHECK_EQ_LONG(l.bytes, 0);
    CHECK_EQ_LONG(l.fds, 0);
    close(sq.to_child);
    close(sq.from_child);
    close(fd);
}

/* ---- call after call ---- */

TEST(an_agent_serves_ten_thousand_calls_with_bounded_descriptors)
{
    struct victim v = { .agent = 1 };
    struct target vt;
    int vpid, rep[2];
    REQUIRE(target_start(&vt, victim_body, &v) == 0);
    REQUIRE(target_read(&vt, &vpid, sizeof vpid, 5000) == 0);
    REQUIRE(target_read(&vt, rep, sizeof rep, 5000) == 0 && rep[0] == 0);
    int fd = memfd_with("page");
    REQUIRE(fd >= 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_INBAND) == 0);
    /* Not about the answer deadline, which one of 10,000 calls could miss
     * on a loaded machine. */
    peermap_set_inband_timeout_ms(10000);
    int fds_before = -1, failed = 0;
    for (int i = 0; i < 5000 && failed < 5; i++) {
        void *p = mmap_peer(vt.pid, NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED || munmap_peer(vt.pid, p, PAGE) < 0) {
            fprintf(stderr, "  call %d: %s\n", 2 * i, peermap_errmsg());
            failed++;
        }
        if (i == 0)
            fds_before = count_fds(vt.pid);
    }
    CHECK_EQ_LONG(failed, 0);
    /* No connection left behind in the agent (it closes each one just
     * after its answer: give the last close a moment). */
    long long until = now_ms() + 5000;
    while (count_fds(vt.pid) > fds_before && now_ms() < until) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    CHECK(count_fds(vt.pid) <= fds_before);
    void *p = mmap_peer(vt.pid, NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_AGENT);
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    peermap_set_inband_timeout_ms(0);
    target_finish(&vt, 2000);
    close(fd);
}

/* ---- another user's idle connections ---- */

#define IDLERS 1000

/* Connect IDLERS times to the victim's agent as nobody, send nothing;
 * report how many connected, then on 'c' how many the agent kept open. */
static int idler_body(int in, int out, void *arg)
{
    pid_t victim = *(pid_t *)arg;
    struct rlimit rl = { IDLERS + 64, IDLERS + 64 };
    setrlimit(RLIMIT_NOFILE, &rl); /* as root, before dropping */
    if (drop_to_uid(NOBODY) < 0)
        return 10;
    static int s[IDLERS];
    struct sockaddr_un sa;
    socklen_t sl = agent_addr(victim, &sa);
    int n = 0;
    for (int i = 0; i < IDLERS; i++) {
        s[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
        if (s[n] < 0)
            break;
        if (connect(s[n], (struct sockaddr *)&sa, sl) == 0)
            n++;
        else
            close(s[n]);
    }
    child_write_full(out, &n, sizeof n);
    char c;
    while (child_read_full(in, &c, 1) == 0) {
        int open_ = 0;
        for (int i = 0; i < n; i++) {
            struct pollfd p = { .fd = s[i], .events = POLLIN | POLLRDHUP };
            if (poll(&p, 1, 0) == 0)
                open_++; /* no end-of-file: the agent still holds it */
        }
        child_write_full(out, &open_, sizeof open_);
    }
    return 0;
}

TEST(another_users_idle_connections_cannot_take_the_agents_slots)
{
    if (unprivileged())
        SKIP("the idler must be another user: needs root to drop to %d", NOBODY);
    /* The victim lets nobody in too: its connections are accepted, and
     * must count against nobody's share only. */
    struct victim v = { .agent = 1, .allow = { NOBODY }, .nallow = 1 };
    struct target vt, idler;
    int vpid, rep[2];
    REQUIRE(target_start(&vt, victim_body, &v) == 0);
    REQUIRE(target_read(&vt, &vpid, sizeof vpid, 5000) == 0);
    REQUIRE(target_read(&vt, rep, sizeof rep, 5000) == 0 && rep[0] == 0);
    pid_t victim = vpid;
    int fds_before = count_fds(victim);
    REQUIRE(target_start(&idler, idler_body, &victim) == 0);
    int connected = 0;
    REQUIRE(target_read(&idler, &connected, sizeof connected, 20000) == 0);
    fprintf(stderr, "  nobody connected %d times\n", connected);

    /* Root still gets through.  Its answer deadline is the library's
     * ordinary one here, not the 100 ms default: on an emulated machine the
     * agent is still refusing the idler's excess connections (milliseconds
     * each) when root's call arrives; what matters is that it is served. */
    int fd = memfd_with("root's");
    REQUIRE(fd >= 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_INBAND) == 0);
    peermap_set_inband_timeout_ms(peermap_timeout_ms());
    void *p = mmap_peer(victim, NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    peermap_set_inband_timeout_ms(0);
    if (p == MAP_FAILED)
        fprintf(stderr, "  mmap_peer: %s\n", peermap_errmsg());
    CHECK(p != MAP_FAILED);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_AGENT);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(victim, p, PAGE) == 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);

    /* The agent holds nobody's share and no more, and does not spin: over
     * 300 ms its thread is runnable (running or waiting for a CPU, so the
     * machine's load does not matter) a few ms at most; a spinning one would
     * be runnable all along. */
    char c = 'c';
    int held = -1;
    /* Connections still in the listen queue look held too (no end-of-file
     * yet): ask again until the agent has taken them all off it, for a
     * while (seconds on an emulated machine; at once natively). */
    long long until = now_ms() + 10000;
    do {
        REQUIRE(target_write(&idler, &c, 1) == 0 &&
                target_read(&idler, &held, sizeof held, 5000) == 0);
    } while (held > 32 && now_ms() < until && (sched_yield(), 1));
    fprintf(stderr, "  the agent holds %d of them\n", held);
    CHECK(held <= 32);
    CHECK(count_fds(victim) <= fds_before + 32 + 1);
    pid_t tid = thread_named(victim, "peermap-agent");
    CHECK(tid > 0);
    if (tid > 0) {
        long long r0 = runnable_ns(victim, tid), t0 = now_ms();
        struct pollfd none;
        poll(&none, 0, 300);
        long long r1 = runnable_ns(victim, tid), dt = now_ms() - t0;
        fprintf(stderr, "  agent thread runnable %lld us in %lld ms\n", (r1 - r0) / 1000, dt);
        CHECK(r0 >= 0 && r1 - r0 < 30 * 1000000LL);
    }
    target_finish(&idler, 5000);
    target_finish(&vt, 2000);
    close(fd);
}
