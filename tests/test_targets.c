/*
 * mmap_peer() on targets in every state the issue names.  Each test checks
 * both that the call did what it should and that the target carried on as if
 * nothing had happened.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"

/* Memory shared between the test and its targets, made before fork. */
static void *shared_page(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* One map + check + unmap cycle; returns 0 when all went right. */
static int map_cycle(pid_t pid)
{
    void *p = mmap_peer(pid, NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "  mmap_peer(%d): %s: %s\n", (int)pid, strerror(errno), peermap_errmsg());
        return -1;
    }
    int ok = maps_has(pid, (uintptr_t)p, 8192, "rw-s") == 1;
    if (munmap_peer(pid, p, 8192) < 0) {
        fprintf(stderr, "  munmap_peer: %s: %s\n", strerror(errno), peermap_errmsg());
        return -1;
    }
    return ok ? 0 : -1;
}

/* The SigBlk line of /proc/pid/status: the mask must survive every call. */
static unsigned long long sigblk(pid_t pid)
{
    char path[64], line[256];
    unsigned long long v = ~0ull;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- busy in user space ---- */

struct spin { atomic_ulong counter; atomic_int stop; };

static int spinner_body(int in, int out, void *arg)
{
    (void)in;
    struct spin *s = arg;
    child_write_full(out, "R", 1);
    while (!atomic_load(&s->stop))
        atomic_fetch_add(&s->counter, 1);
    return 0;
}

TEST(busy_target_keeps_running)
{
    struct spin *s = shared_page(4096);
    REQUIRE(s);
    struct target t;
    char r;
    REQUIRE(target_start(&t, spinner_body, s) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(map_cycle(t.pid) == 0);
    unsigned long before = atomic_load(&s->counter);
    /* It still runs: the counter moves again (bounded wait on a real event). */
    long long end = now_ms() + 10000;
    while (atomic_load(&s->counter) == before && now_ms() < end)
        sched_yield();
    CHECK(atomic_load(&s->counter) != before);
    atomic_store(&s->stop, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    munmap(s, 4096);
}

/* ---- every register survives, in user space and after failures ---- */

struct regcheck { atomic_ulong rounds; atomic_int broken; atomic_int stop; };

/* Spins with known values in every general register it can claim, checking
 * them each round: any register we failed to restore breaks the loop. */
static int regcheck_body(int in, int out, void *arg)
{
    (void)in;
    struct regcheck *rc = arg;
    child_write_full(out, "R", 1);
#if defined(__x86_64__)
    while (!atomic_load(&rc->stop)) {
        unsigned long bad;
        __asm__ volatile(
            "mov $0x1111111111111111, %%r8\n\t"
            "mov $0x2222222222222222, %%r9\n\t"
            "mov $0x3333333333333333, %%r10\n\t"
            "mov $0x4444444444444444, %%r11\n\t"
            "mov $0x5555555555555555, %%r12\n\t"
            "mov $0x6666666666666666, %%r13\n\t"
            "mov $0x7777777777777777, %%r14\n\t"
            "mov $0x8888888888888888, %%r15\n\t"
            "mov $0x9999999999999999, %%rsi\n\t"
            "mov $0xaaaaaaaaaaaaaaaa, %%rdi\n\t"
            "mov $100000, %%ecx\n\t"
            "1:\n\t"
            "mov $0x1111111111111111, %%rax\n\t cmp %%rax, %%r8\n\t jne 2f\n\t"
            "mov $0x2222222222222222, %%rax\n\t cmp %%rax, %%r9\n\t jne 2f\n\t"
            "mov $0x3333333333333333, %%rax\n\t cmp %%rax, %%r10\n\t jne 2f\n\t"
            "mov $0x4444444444444444, %%rax\n\t cmp %%rax, %%r11\n\t jne 2f\n\t"
            "mov $0x5555555555555555, %%rax\n\t cmp %%rax, %%r12\n\t jne 2f\n\t"
            "mov $0x6666666666666666, %%rax\n\t cmp %%rax, %%r13\n\t jne 2f\n\t"
            "mov $0x7777777777777777, %%rax\n\t cmp %%rax, %%r14\n\t jne 2f\n\t"
            "mov $0x8888888888888888, %%rax\n\t cmp %%rax, %%r15\n\t jne 2f\n\t"
            "mov $0x9999999999999999, %%rax\n\t cmp %%rax, %%rsi\n\t jne 2f\n\t"
            "mov $0xaaaaaaaaaaaaaaaa, %%rax\n\t cmp %%rax, %%rdi\n\t jne 2f\n\t"
            "dec %%ecx\n\t"
            "jnz 1b\n\t"
            "xor %%eax, %%eax\n\t"
            "jmp 3f\n\t"
            "2: mov $1, %%eax\n\t"
            "3:\n\t"
            : "=a"(bad)
            :
            : "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
              "r14", "r15", "cc", "memory");
        if (bad)
            atomic_store(&rc->broken, 1);
        atomic_fetch_add(&rc->rounds, 1);
    }
#else
    while (!atomic_load(&rc->stop))
        atomic_fetch_add(&rc->rounds, 1);
#endif
    return 0;
}

TEST(registers_survive_success_and_failure)
{
    struct regcheck *rc = shared_page(4096);
    REQUIRE(rc);
    struct target t;
    char r;
    REQUIRE(target_start(&t, regcheck_body, rc) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    for (int i = 0; i < 200; i++) {
        CHECK(map_cycle(t.pid) == 0);
        /* and a call that fails inside the target */
        CHECK(mmap_peer(t.pid, NULL, (size_t)1 << 50, PROT_READ, MAP_PRIVATE,
                        NOFD, 0) == MAP_FAILED);
    }
    unsigned long before = atomic_load(&rc->rounds);
    long long end = now_ms() + 10000;
    while (atomic_load(&rc->rounds) < before + 2 && now_ms() < end)
        sched_yield();
    atomic_store(&rc->stop, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    CHECK_EQ_LONG(atomic_load(&rc->broken), 0);
    CHECK(atomic_load(&rc->rounds) >= before + 2);
    munmap(rc, 4096);
}

/* ---- sleeping in nanosleep ---- */

static int sleeper_body(int in, int out, void *arg)
{
    (void)in; (void)arg;
    struct timespec req = { 0, 300 * 1000000 }, a, b;
    child_write_full(out, "R", 1);
    clock_gettime(CLOCK_MONOTONIC, &a);
    long rc = syscall(SYS_nanosleep, &req, NULL); /* no libc retry loop */
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ms = (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000;
    long long res[2] = { rc, ms };
    child_write_full(out, res, sizeof res);
    return 0;
}

TEST(nanosleep_keeps_its_remaining_time)
{
    struct target t;
    char r;
    REQUIRE(target_start(&t, sleeper_body, NULL) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    /* Interrupt the sleep over and over until it ends.  Were the sleep
     * restarted from scratch each time, it would never end (the read below
     * would time out); were it cut short, rc would be -1/EINTR. */
    int calls = 0;
    struct pollfd p = { .fd = t.from_child, .events = POLLIN };
    while (poll(&p, 1, 0) == 0) {
        if (map_cycle(t.pid) < 0) {
            /* Only acceptable once the sleeper has finished and exits. */
            CHECK(errno == ESRCH && poll(&p, 1, 0) == 1);
            break;
        }
        calls++;
        /* Let it get back into its sleep (or finish) before the next
         * interruption: on one CPU a caller that never pauses would starve
         * it.  No event says "asleep again", so look every millisecond. */
        while (proc_state(t.pid) != 'S' && poll(&p, 1, 1) == 0)
            ;
    }
    long long res[2] = { -2, -2 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 0);
    CHECK(res[1] >= 300);
    CHECK(res[1] < 300 + 5000);
    CHECK(calls > 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- calls the kernel fails with EINTR on a mere stop ---- */

static int epoll_body(int in, int out, void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, got;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev) < 0)
        return 1;
    child_write_full(out, "R", 1);
    /* One wait, no retry loop: an EINTR would show up as -1. */
    long res[2];
    res[0] = epoll_wait(ep, &got, 1, -1);
    res[1] = res[0] < 0 ? errno : 0;
    child_write_full(out, res, sizeof res);
    return 0;
}

static int sigwait_body(int in, int out, void *arg)
{
    (void)in; (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    child_write_full(out, "R", 1);
    siginfo_t si;
    long res[2];
    res[0] = sigwaitinfo(&s, &si);
    res[1] = res[0] < 0 ? errno : si.si_value.sival_int;
    child_write_full(out, res, sizeof res);
    return 0;
}

static void wait_call_survives(int (*body)(int, int, void *), int use_signal)
{
    struct target t;
    char r;
    REQUIRE(target_start(&t, body, NULL) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    for (int i = 0; i < 20; i++) {
        CHECK(map_cycle(t.pid) == 0);
        /* back in its wait before the next interruption */
        REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    }
    if (use_signal) {
        union sigval v = { .sival_int = 77 };
        CHECK(sigqueue(t.pid, SIGUSR1, v) == 0);
    } else {
        CHECK(target_write(&t, "x", 1) == 0);
    }
    long res[2] = { -2, -2 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], use_signal ? SIGUSR1 : 1);
    CHECK_EQ_LONG(res[1], use_signal ? 77 : 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(epoll_wait_is_not_interrupted)
{
    wait_call_survives(epoll_body, 0);
}

TEST(sigwaitinfo_is_not_interrupted)
{
    wait_call_survives(sigwait_body, 1);
}

/* ---- blocked in read on a pipe ---- */

TEST(pipe_reader_still_gets_its_data)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    unsigned long long mask = sigblk(t.pid);
    for (int i = 0; i < 100; i++)
        CHECK(map_cycle(t.pid) == 0);
    CHECK(sigblk(t.pid) == mask);
    /* The read() it was blocked in returns the command written now. */
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- waiting on a condition variable (futex) ---- */

struct condbox {
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag, woke_ok;
};

static int condwaiter_body(int in, int out, void *arg)
{
    (void)in;
    struct condbox *b = arg;
    pthread_mutex_lock(&b->m);
    child_write_full(out, "R", 1);
    while (!b->flag)
        pthread_cond_wait(&b->c, &b->m);
    b->woke_ok = 1;
    pthread_mutex_unlock(&b->m);
    return 0;
}

TEST(condition_variable_waiter_wakes_normally)
{
    struct condbox *b = shared_page(4096);
    REQUIRE(b);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&b->m, &ma);
    pthread_cond_init(&b->c, &ca);
    struct target t;
    char r;
    REQUIRE(target_start(&t, condwaiter_body, b) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    /* Ready was sent under the mutex; once we get the mutex it waits. */
    pthread_mutex_lock(&b->m);
    pthread_mutex_unlock(&b->m);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(b->woke_ok, 0); /* no spurious completion */
    pthread_mutex_lock(&b->m);
    b->flag = 1;
    pthread_cond_signal(&b->c);
    pthread_mutex_unlock(&b->m);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    CHECK_EQ_LONG(b->woke_ok, 1);
    munmap(b, 4096);
}

/* ---- many threads, some blocked, some spinning ---- */

#define NTHREADS 32
struct crowd {
    atomic_uintptr_t addr;  /* where the test mapped memory, 0 until then */
    atomic_int seen;
    int report;             /* write end of a pipe to the test */
    int gate[2];            /* blocked threads wait to read this */
};

static void look(struct crowd *c)
{
    volatile uint64_t *p = (uint64_t *)atomic_load(&c->addr);
    if (*p == 0x5eed5eed5eed5eedull) {
        atomic_fetch_add(&c->seen, 1);
        child_write_full(c->report, "+", 1);
    }
}

static void *spin_thread(void *arg)
{
    struct crowd *c = arg;
    while (!atomic_load(&c->addr))
        ;
    look(c);
    return NULL;
}

static void *blocked_thread(void *arg)
{
    struct crowd *c = arg;
    char x;
    if (read(c->gate[0], &x, 1) == 1)
        look(c);
    return NULL;
}

static int crowd_body(int in, int out, void *arg)
{
    struct crowd *c = arg;
    pthread_t th[NTHREADS];
    c->report = out;
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, i % 2 ? spin_thread : blocked_thread, c);
    child_write_full(out, "R", 1);
    /* The main thread blocks on the test's pipe, then opens the gate. */
    uint64_t addr;
    if (child_read_full(in, &addr, sizeof addr) < 0)
        return 1;
    atomic_store(&c->addr, (uintptr_t)addr);
    for (int i = 0; i < NTHREADS / 2; i++)
        child_write_full(c->gate[1], "g", 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    return 0;
}

TEST(multithreaded_target_all_threads_see_the_mapping)
{
    struct crowd *c = shared_page(4096);
    REQUIRE(c);
    REQUIRE(pipe(c->gate) == 0);
    struct target t;
    char r;
    REQUIRE(target_start(&t, crowd_body, c) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(map_cycle(t.pid) == 0);
    uint64_t *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    REQUIRE(p != MAP_FAILED);
    uint64_t magic = 0x5eed5eed5eed5eedull;
    CHECK(poke(t.pid, (uintptr_t)p, &magic, sizeof magic) == 0);
    uint64_t a = (uintptr_t)p;
    CHECK(target_write(&t, &a, sizeof a) == 0);
    char plus[NTHREADS];
    CHECK(target_read(&t, plus, NTHREADS, 20000) == 0);
    CHECK_EQ_LONG(atomic_load(&c->seen), NTHREADS);
    CHECK_EQ_LONG(target_finish(&t, 20000), 0);
    close(c->gate[0]);
    close(c->gate[1]);
    munmap(c, 4096);
}

/* ---- a storm of queued real-time signals ---- */

static atomic_long rt_count, rt_sum;

static void rt_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    atomic_fetch_add(&rt_count, 1);
    atomic_fetch_add(&rt_sum, si->si_value.sival_int);
}

static int rt_body(int in, int out, void *arg)
{
    (void)arg;
    struct sigaction sa = { .sa_sigaction = rt_handler, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, NULL);
    child_write_full(out, "R", 1);
    char x;
    /* Wait for "report" (EINTR-safe) and answer with what arrived. */
    if (child_read_full(in, &x, 1) < 0)
        return 1;
    long res[2] = { atomic_load(&rt_count), atomic_load(&rt_sum) };
    child_write_full(out, res, sizeof res);
    return 0;
}

#define STORM_CALLS 300

TEST(signal_storm_loses_and_duplicates_nothing)
{
    struct target t;
    char r;
    atomic_int *stop = shared_page(4096);
    REQUIRE(stop);
    REQUIRE(target_start(&t, rt_body, NULL) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    int report[2];
    REQUIRE(pipe(report) == 0);
    pid_t sender = fork();
    REQUIRE(sender >= 0);
    if (sender == 0) {
        /* Queue signals, each with its sequence number, until told to stop. */
        long sent = 0, sum = 0;
        child_write_full(report[1], "R", 1);
        while (!atomic_load(stop)) {
            union sigval v = { .sival_int = (int)(sent + 1) };
            if (sigqueue(t.pid, SIGRTMIN, v) == 0) {
                sent++;
                sum += v.sival_int;
            } else if (errno != EAGAIN) {
                _exit(1);
            } else {
                sched_yield(); /* queue full: let the target drain it */
            }
        }
        long res[2] = { sent, sum };
        child_write_full(report[1], res, sizeof res);
        _exit(0);
    }
    REQUIRE(read(report[0], &r, 1) == 1);
    /* Map and unmap while the storm lasts. */
    int failures = 0;
    for (int i = 0; i < STORM_CALLS; i++)
        if (map_cycle(t.pid) < 0)
            failures++;
    atomic_store(stop, 1);
    long sent[2] = { -1, -1 };
    CHECK(child_read_full(report[0], sent, sizeof sent) == 0);
    int st;
    CHECK(waitpid(sender, &st, 0) == sender && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(failures, 0);
    CHECK(target_write(&t, "r", 1) == 0);
    long res[2] = { -1, -1 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], sent[0]);
    CHECK_EQ_LONG(res[1], sent[1]);
    CHECK(sent[0] > STORM_CALLS); /* it really was a storm */
    fprintf(stderr, "  %d map cycles during %ld queued signals\n", STORM_CALLS, sent[0]);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(report[0]);
    close(report[1]);
    munmap(stop, 4096);
}

/* ---- a process whose main thread has exited ---- */

static void *obedient_thread(void *arg)
{
    int *io = arg;
    _exit(obedient_body(io[0], io[1], NULL));
}

static int leader_exits_body(int in, int out, void *arg)
{
    (void)arg;
    static int io[2];
    io[0] = in;
    io[1] = out;
    pthread_t th;
    if (pthread_create(&th, NULL, obedient_thread, io) != 0)
        return 1;
    pthread_exit(NULL); /* the process lives on in its other thread */
}

TEST(process_whose_main_thread_exited)
{
    struct target t;
    char r;
    REQUIRE(target_start(&t, leader_exits_body, NULL) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    /* The leader is a zombie thread, the process is not. */
    long long end = now_ms() + 10000;
    while (proc_state(t.pid) != 'Z' && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    REQUIRE(proc_state(t.pid) == 'Z');
    uint64_t *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED) {
        fprintf(stderr, "  %s\n", peermap_errmsg());
    } else {
        CHECK(obedient_write(&t, (uintptr_t)p, 77) == 0);
        uint64_t v = 0;
        CHECK(obedient_read(&t, (uintptr_t)p, &v) == 0 && v == 77);
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
        /* fd-backed too: the descriptor's path goes through the memory of
         * a live thread, not the exited leader's. */
        int fd = memfd_create("peermap-leader", MFD_CLOEXEC);
        REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
        p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED);
        if (p != MAP_FAILED)
            CHECK(munmap_peer(t.pid, p, 4096) == 0);
        else
            fprintf(stderr, "  %s\n", peermap_errmsg());
        close(fd);
    }
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- job-stopped ---- */

TEST(job_stopped_target_stays_stopped)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    REQUIRE(kill(t.pid, SIGSTOP) == 0);
    siginfo_t si;
    REQUIRE(waitid(P_PID, (id_t)t.pid, &si, WSTOPPED) == 0);
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED) {
        CHECK(maps_has(t.pid, (uintptr_t)p, 4096, "rw-s") == 1);
        CHECK_EQ_LONG(wait_state(t.pid, 'T', 10000), 0);
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
    }
    CHECK_EQ_LONG(wait_state(t.pid, 'T', 10000), 0);
    /* Still stopped: it does not answer until continued. */
    struct cmd c = { CMD_PING, 0, 0 };
    uint64_t v;
    CHECK(target_write(&t, &c, sizeof c) == 0);
    CHECK(target_read(&t, &v, sizeof v, 200) < 0);
    CHECK(kill(t.pid, SIGCONT) == 0);
    CHECK(target_read(&t, &v, sizeof v, 10000) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- already traced ---- */

static int tracer_body(int in, int out, void *arg);

TEST(already_traced_is_refused_and_tracer_undisturbed)
{
    struct target t, tr;
    REQUIRE(obedient_start(&t) == 0);
    int pid = t.pid;
    /* A second process traces the target (as a debugger would). */
    REQUIRE(target_start(&tr, tracer_body, &pid) == 0);
    char ok = 0;
    REQUIRE(target_read(&tr, &ok, 1, 10000) == 0);
    REQUIRE(ok == 'R');
    errno = 0;
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
    CHECK(p == MAP_FAILED && errno == EPERM);
    char want[64];
    snprintf(want, sizeof want, "already traced by PID %d", (int)tr.pid);
    CHECK(strstr(peermap_errmsg(), want) != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    /* The tracer still holds it and can still use it. */
    CHECK(target_write(&tr, "?", 1) == 0);
    CHECK(target_read(&tr, &ok, 1, 10000) == 0 && ok == 'Y');
    CHECK_EQ_LONG(target_finish(&tr, 10000), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

static int tracer_body(int in, int out, void *arg)
{
    pid_t pid = *(int *)arg;
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
        return 1;
    child_write_full(out, "R", 1);
    char q;
    if (child_read_full(in, &q, 1) < 0)
        return 2;
    /* Still our tracee? PTRACE_INTERRUPT succeeds only for a tracee. */
    char a = ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 ? 'Y' : 'N';
    siginfo_t si;
    waitid(P_PID, (id_t)pid, &si, WSTOPPED | __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    child_write_full(out, &a, 1);
    return 0;
}

/* ---- gone, zombie, exiting ---- */

TEST(nonexistent_and_zombie_are_esrch_and_status_kept)
{
    pid_t z = fork();
    REQUIRE(z >= 0);
    if (z == 0)
        _exit(42);
    siginfo_t si;
    REQUIRE(waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) == 0);
    errno = 0;
    CHECK(mmap_peer(z, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(strstr(peermap_errmsg(), "zombie") != NULL);
    errno = 0;
    CHECK(munmap_peer(z, (void *)0x10000, 4096) == -1 && errno == ESRCH);
    /* Its exit status is still ours to collect. */
    int st = 0;
    CHECK(waitpid(z, &st, 0) == z && WIFEXITED(st) && WEXITSTATUS(st) == 42);
    errno = 0;
    CHECK(mmap_peer(z, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(strstr(peermap_errmsg(), "no process") != NULL);
}

TEST(target_killed_during_session_is_esrch)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    peermap_session *s = peermap_attach(t.pid);
    REQUIRE(s);
    CHECK(kill(t.pid, SIGKILL) == 0);
    errno = 0;
    CHECK(peermap_mmap(s, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(peermap_detach(s) == 0 || errno == ESRCH);
    int st = target_finish(&t, 10000);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* ---- seccomp ---- */

static int seccomp_body(int in, int out, void *arg)
{
    unsigned action = *(unsigned *)arg;
    static atomic_int sigsys;
    struct sigaction sa = { 0 };
    (void)sa;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return 1;
    (void)sigsys;
    return obedient_body(in, out, NULL);
}

static void seccomp_case(unsigned action)
{
    struct target t;
    char r;
    REQUIRE(target_start(&t, seccomp_body, &action) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    errno = 0;
    CHECK(mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK(errno == EPERM);
    CHECK(strstr(peermap_errmsg(), "seccomp") != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    /* Alive, answering, and (for RET_TRAP) never saw a SIGSYS: an
     * unhandled SIGSYS would have killed it. */
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(seccomp_errno_filter_is_reported_target_alive)
{
    seccomp_case(SECCOMP_RET_ERRNO | EPERM);
}

TEST(seccomp_trap_filter_is_reported_target_alive)
{
    seccomp_case(SECCOMP_RET_TRAP);
}

/* A filter that kills on the calls a descriptor hand-over needs. */
struct kill_spec { int nr1, nr2; };

static int killing_filter_body(int in, int out, void *arg)
{
    const struct kill_spec *k = arg;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)k->nr1, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)k->nr2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return 1;
    return obedient_body(in, out, NULL);
}

static void *map_memfd(pid_t pid, int *fdp)
{
    int fd = memfd_create("peermap-seccomp", MFD_CLOEXEC);
    *fdp = fd;
    if (fd < 0 || ftruncate(fd, 4096) < 0)
        return MAP_FAILED;
    return mmap_peer(pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

TEST(seccomp_filter_that_kills_is_never_triggered)
{
    /* Kills on both ways of passing a descriptor: as root the filter is read
     * and the calls are refused unrun; unprivileged it cannot be read, and
     * nothing is tried.  Either way the target lives. */
    struct kill_spec k = { SYS_openat, SYS_socket };
    struct target t;
    char r;
    REQUIRE(target_start(&t, killing_filter_body, &k) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    int fd;
    errno = 0;
    void *p = map_memfd(t.pid, &fd);
    CHECK(p == MAP_FAILED && errno == EPERM);
    CHECK(strstr(peermap_errmsg(), "seccomp") != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    CHECK(obedient_ping(&t) == 0);
    /* Anonymous memory needs neither call. */
    CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

TEST(seccomp_filter_killing_openat_falls_back_to_the_socket)
{
    if (unprivileged())
        SKIP("reading a seccomp filter needs CAP_SYS_ADMIN");
    struct kill_spec k = { SYS_openat, SYS_open };
    struct target t;
    char r;
    REQUIRE(target_start(&t, killing_filter_body, &k) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    int fd;
    void *p = map_memfd(t.pid, &fd);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED)
        fprintf(stderr, "  %s\n", peermap_errmsg());
    else
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

/* ---- another user's process ---- */

/* Does every uid of process pid (real, effective, saved, filesystem)
 * differ from both of ours?  Then the kernel must refuse to let us ptrace
 * it, whoever our parent is. */
static int belongs_to_another_user(pid_t pid)
{
    char path[64], line[256];
    unsigned u[4];
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %u %u %u %u", &u[0], &u[1], &u[2], &u[3]) == 4) {
            found = 1;
            break;
        }
    fclose(f);
    if (!found)
        return 0;
    for (int i = 0; i < 4; i++)
        if (u[i] == getuid() || u[i] == geteuid())
            return 0;
    return 1;
}

/* A process of another user: init if it is one (it always exists), else the
 * first one /proc lists.  0 when there is none (a namespace of one user). */
static pid_t another_users_process(void)
{
    if (belongs_to_another_user(1))
        return 1;
    DIR *d = opendir("/proc");
    pid_t found = 0;
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 1 && belongs_to_another_user(pid))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

TEST(other_users_target_is_eperm_and_untouched)
{
    if (unprivileged()) {
        /* Not our parent: when the suite is run by an ordinary user, the
         * test runner is that user's and the map would succeed. */
        pid_t other = another_users_process();
        if (!other)
            SKIP("no process of another user is visible to aim at");
        unsigned long long mask = sigblk(other);
        errno = 0;
        void *p = mmap_peer(other, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
        CHECK(p == MAP_FAILED);
        CHECK_EQ_LONG(errno, EPERM);
        if (p != MAP_FAILED) {
            /* Never leave a page behind in someone else's process. */
            CHECK(munmap_peer(other, p, 4096) == 0);
            return;
        }
        fprintf(stderr, "  PID %d: %s\n", (int)other, peermap_errmsg());
        CHECK(sigblk(other) == mask);
        return;
    }
    /* As root: a root-owned target, and a caller that drops to nobody. */
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(10);
        setenv("PEERMAP_ABILITIES", "mem_peer", 1);
        errno = 0;
        void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
        _exit(p == MAP_FAILED && errno == EPERM ? 0 : 11);
    }
    int st;
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st));
    /* Abilities were read in this process already; the child inherited
     * them by fork, so its refusal must come from the kernel: check that
     * the child did get EPERM (exit 0). */
    CHECK_EQ_LONG(WEXITSTATUS(st), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- a target that cannot be stopped: the deadline ---- */

static int vfork_parent_body(int in, int out, void *arg)
{
    /* arg: run an agent as well, in a thread that vfork() does not stop. */
    if (arg && peermap_agent_start(NULL, 0) < 0)
        return 9;
    child_write_full(out, "R", 1);
    /* The vfork parent sleeps uninterruptibly (for ptrace) until the
     * child exits; the child waits for the test's go. */
    pid_t c = vfork();
    if (c == 0) {
        char x;
        if (read(in, &x, 1) < 0)
            _exit(1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    return obedient_body(in, out, NULL);
}

TEST(unstoppable_target_times_out_untouched)
{
    struct target t;
    char r;
    REQUIRE(target_start(&t, vfork_parent_body, NULL) == 0);
    REQUIRE(target_read(&t, &r, 1, 10000) == 0);
    REQUIRE(wait_state(t.pid, 'D', 10000) == 0 || proc_state(t.pid) == 'S');
    peermap_set_timeout_ms(200);
    errno = 0;
    long long t0 = now_ms();
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
    long long took = now_ms() - t0;
    peermap_set_timeout_ms(0);
    CHECK(p == MAP_FAILED && errno == ETIMEDOUT);
    CHECK(took < 5000);
    fprintf(stderr, "  reason: %s (after %lld ms)\n", peermap_errmsg(), took);
    /* Release the vfork child; the parent must run on, untraced. */
    CHECK(target_write(&t, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&t) == 0);
    /* And the library works again afterwards. */
    CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- a call that outlives the deadline inside the target ---- */

/* How many mappings of exactly `len` bytes the target has (sanitizer
 * builds reserve huge shadow regions, so "largest" would tell nothing). */
static int mappings_of_size(pid_t pid, unsigned long len)
{
    char path[64], line[512];
    unsigned long lo, hi;
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo == len)
            n++;
    fclose(f);
    return n;
}

#define SLOW_LEN ((size_t)1 << 31) /* 2 GiB populated: far beyond 5 ms */

TEST(slow_call_is_finished_and_undone_in_the_background)
{
    struct target a, b;
    char r;
    REQUIRE(obedient_start(&a) == 0);
    REQUIRE(mappings_of_size(a.pid, SLOW_LEN) == 0);
    peermap_set_timeout_ms(5);
    errno = 0;
    void *p = mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_POPULATE, NOFD, 0);
    int e = errno;
    peermap_set_timeout_ms(0);
    CHECK(p == MAP_FAILED && e == ETIMEDOUT);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());

    /* Meanwhile another target cannot be stopped at all: the tracer thread
     * retires, yet must first finish A's call, not abandon it mid-way. */
    REQUIRE(target_start(&b, vfork_parent_body, NULL) == 0);
    REQUIRE(target_read(&b, &r, 1, 10000) == 0);
    REQUIRE(wait_state(b.pid, 'D', 10000) == 0 || proc_state(b.pid) == 'S');
    peermap_set_timeout_ms(200);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    peermap_set_timeout_ms(0);

    /* A answers once its call is over, and the 2 GiB are gone again (no
     * event tells when the background work ends: look every millisecond). */
    CHECK(obedient_ping(&a) == 0);
    long long end = now_ms() + 20000;
    while (mappings_of_size(a.pid, SLOW_LEN) != 0 && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0);
    CHECK(map_cycle(a.pid) == 0);

    /* B, released, runs on untraced. */
    CHECK(target_write(&b, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&b, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&b) == 0);
    CHECK(map_cycle(b.pid) == 0);
    /* B was forked holding A's pipe ends: it goes first, or A sees no EOF. */
    CHECK_EQ_LONG(target_finish(&b, 10000), 0);
    CHECK_EQ_LONG(target_finish(&a, 10000), 0);
}

/* After a call gave up on a target (ETIMEDOUT), the library's own tracer
 * may still hold it for a while: a retired tracer thread that has not
 * exited yet, or this one finishing a system call that outlived the
 * deadline.  Later calls on that target must wait for that (within their
 * deadline), never be refused as "already traced by peermap-tracer", and
 * the automatic route must not go to the target's agent because of it. */
TEST(after_a_timeout_the_library_does_not_refuse_itself)
{
    struct target a, b;
    char r;
    REQUIRE(obedient_start(&a) == 0);
    /* A: a call inside it outlives its 5 ms; this tracer thread finishes it
     * in the background.  The next call on A waits for that. */
    peermap_set_timeout_ms(5);
    errno = 0;
    CHECK(mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_POPULATE, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    peermap_set_timeout_ms(20000);
    errno = 0;
    void *p = mmap_peer(a.pid, NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED)
        fprintf(stderr, "  A again: %s\n", peermap_errmsg());
    CHECK(p != MAP_FAILED);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_PTRACE);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(a.pid, p, 8192) == 0);
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0); /* undone before */

    /* B cannot be stopped (a vfork parent) and runs an agent.  Another slow
     * call in A first, so that the tracer thread that gives up on B lingers
     * (it must finish A's call before it may exit and release B). */
    REQUIRE(target_start(&b, vfork_parent_body, &b) == 0);
    REQUIRE(target_read(&b, &r, 1, 10000) == 0);
    /* Its main thread waits in vfork() (the agent's thread does not). */
    long long until = now_ms() + 10000;
    while (proc_state(b.pid) != 'D' && now_ms() < until) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    REQUIRE(proc_state(b.pid) == 'D');
    peermap_set_timeout_ms(5);
    CHECK(mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_POPULATE, NOFD, 0) == MAP_FAILED);
    peermap_set_timeout_ms(100);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    /* At once again, automatic route: our own hold is no refusal. */
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    peermap_set_timeout_ms(1000);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_PTRACE);
    fprintf(stderr, "  B again: %s\n", peermap_errmsg());

    /* Call after call on one CPU, where an exiting tracer thread gets to run
     * only when we wait: never EPERM. */
    cpu_set_t one, old;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    int pinned = sched_getaffinity(0, sizeof old, &old) == 0 &&
                 sched_setaffinity(0, sizeof one, &one) == 0;
    peermap_set_timeout_ms(5);
    int eperm = 0;
    for (int i = 0; i < 40; i++) {
        errno = 0;
        if (mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED &&
            errno == EPERM && eperm++ == 0)
            fprintf(stderr, "  call %d: %s\n", i, peermap_errmsg());
    }
    CHECK_EQ_LONG(eperm, 0);
    if (pinned)
        sched_setaffinity(0, sizeof old, &old);
    peermap_set_timeout_ms(0);

    /* Released, both run on, untraced, and the library serves them. */
    CHECK(target_write(&b, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&b, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&b) == 0);
    CHECK(map_cycle(b.pid) == 0);
    CHECK(obedient_ping(&a) == 0);
    long long end = now_ms() + 20000;
    while (mappings_of_size(a.pid, SLOW_LEN) != 0 && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0);
    CHECK(map_cycle(a.pid) == 0);
    CHECK_EQ_LONG(target_finish(&b, 10000), 0);
    CHECK_EQ_LONG(target_finish(&a, 10000), 0);
}
