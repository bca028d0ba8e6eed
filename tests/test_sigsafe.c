/*
 * mmap_peer() and munmap_peer() from a signal handler (mmap_peer(3),
 * "Signal handlers"; ARCHITECTURE.md, "Calls from signal handlers").
 *
 * The main tests: a SIGALRM every 100 us, aimed at the main thread, whose
 * handler maps into (and unmaps from) target A, one call each time, while
 * the main thread maps and unmaps in A and in B in a loop - 10,000 rounds -
 * so that many handler calls interrupt a call of the main thread on the
 * same target or on the other.  Every result is checked from outside in
 * /proc/PID/maps: each mapping the main thread was told of is there, as
 * its own VMA, and gone after its unmap; every few hundred rounds, and at
 * the end, the targets hold exactly the mappings the test believes they
 * hold (nothing lost, nothing made twice).  One test per route: ptrace,
 * in-band (the targets are reply-blocked on the main thread's channel),
 * the agent.  The CTest runs repeat each as uid 65534.
 *
 * What a handler may not do is checked too, where the build allows it (not
 * under ASan or TSan, which bring their own allocator; TSan reports
 * allocation in a handler itself): this program replaces malloc() and
 * wraps the library's calls to stdio, strerror(), opendir(),
 * pthread_mutex_lock(), pthread_cond_*wait(), pthread_once() and
 * pthread_create(), and records any such call made inside the handler, or
 * at any time on the library's tracer thread, which a handler may be
 * waiting for.  The library's own locks on these paths are taken with
 * trylock / a timed lock that refuses the holder's own thread (sigsafe.h),
 * which are not on the list.
 */
#include <dlfcn.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chanclient.h"
#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"
#include "sys/neutrino.h"
#include "common/internal.h" /* pm_read_level(): is this thread inside a call? */
#include "common/sigsafe.h"      /* pm_rwlock */

#define PAGE ((size_t)sysconf(_SC_PAGESIZE)) /* 4 or 16 KiB on aarch64 */
#define H_LEN (2 * PAGE) /* the handler's mappings: r--s, 2 pages */
#define M_LEN (3 * PAGE) /* the main thread's: rw-s, 3 pages */
/* The storm's signal period, and the least time between the end of one
 * handler's call and the next: 100 us natively.  An emulated machine,
 * whose calls take milliseconds, sets a longer one (.ci/aarch64/init), or
 * the handler would take every turn and starve the main thread. */
static long tick_us(void)
{
    const char *e = getenv("PEERMAP_SIGSAFE_TICK_US");
    long t = e ? atol(e) : 0;
    return t > 0 ? t : 100;
}
static long storm_tick_us = 100; /* set before the storm; read by the handler */
#define TICK_US storm_tick_us

/* ------------------------------------------------ what a handler may call -- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(PM_TEST_STATIC)
#define WATCH 1
#endif

static _Thread_local int in_handler;
static _Thread_local int role; /* 0 not known, 1 the library's tracer thread, 2 other */
static atomic_int watching;
static atomic_int nviolations;
static const char *_Atomic violations[16];

static __attribute__((unused)) void forbidden(const char *what)
{
    if (!atomic_load(&watching))
        return;
    if (!in_handler) {
        if (!role) {
            char name[16] = "";
            prctl(PR_GET_NAME, name, 0, 0, 0);
            role = strcmp(name, "peermap-tracer") == 0 ? 1 : 2;
        }
        if (role != 1)
            return;
    }
    int i = atomic_fetch_add(&nviolations, 1);
    if (i < 16)
        atomic_store(&violations[i], what);
}

#ifdef WATCH
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    forbidden("malloc");
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    forbidden("calloc");
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    forbidden("realloc");
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p)
        forbidden("free");
    __libc_free(p);
}

/* The real function, looked up on first use (dlsym() may allocate: that
 * goes to malloc() above, outside any handler). */
#define REAL(name) \
    static __typeof__(name) *real_##name; \
    if (!real_##name) \
        real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    REAL(vsnprintf);
    forbidden("vsnprintf");
    return real_vsnprintf(buf, n, fmt, ap);
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
    REAL(vsnprintf);
    forbidden("snprintf");
    va_list ap;
    va_start(ap, fmt);
    int r = real_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

FILE *fopen(const char *path, const char *mode)
{
    REAL(fopen);
    forbidden("fopen");
    return real_fopen(path, mode);
}

int fclose(FILE *f)
{
    REAL(fclose);
    forbidden("fclose");
    return real_fclose(f);
}

DIR *opendir(const char *path)
{
    REAL(opendir);
    forbidden("opendir");
    return real_opendir(path);
}

char *strerror(int e)
{
    REAL(strerror);
    forbidden("strerror");
    return real_strerror(e);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
    REAL(pthread_mutex_lock);
    forbidden("pthread_mutex_lock");
    return real_pthread_mutex_lock(m);
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    REAL(pthread_cond_wait);
    forbidden("pthread_cond_wait");
    return real_pthread_cond_wait(c, m);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
    REAL(pthread_cond_timedwait);
    forbidden("pthread_cond_timedwait");
    return real_pthread_cond_timedwait(c, m, t);
}

int pthread_once(pthread_once_t *o, void (*fn)(void))
{
    REAL(pthread_once);
    forbidden("pthread_once");
    return real_pthread_once(o, fn);
}

int pthread_create(pthread_t *th, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    REAL(pthread_create);
    forbidden("pthread_create");
    return real_pthread_create(th, a, fn, arg);
}
#endif

/* Start watching; returns a mark for violations_since(). */
static int watch_start(void)
{
    atomic_store(&watching, 1);
    return atomic_load(&nviolations);
}

/* Stop watching; report and count what was seen since the mark. */
static int watch_stop(int mark)
{
    atomic_store(&watching, 0);
    int n = atomic_load(&nviolations) - mark;
    for (int i = mark; i < mark + n && i < 16; i++)
        fprintf(stderr, "  not async-signal-safe: %s in a handler or on the tracer thread\n",
                atomic_load(&violations[i]));
    return n;
}

/* ------------------------------------------------------- /proc/PID/maps -- */

/* The shared anonymous mappings (/dev/zero (deleted)) of pid: their ranges
 * and permissions.  Returns how many (at most max), or -1. */
struct vma {
    uintptr_t lo, hi;
    char perms[5];
};
static char maps_buf[1 << 20];

static int shared_anon(pid_t pid, struct vma *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, maps_buf + len, sizeof maps_buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    maps_buf[len] = 0;
    int n = 0;
    for (char *line = maps_buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strstr(line, "/dev/zero (deleted)")) {
            char *end;
            uintptr_t lo = strtoul(line, &end, 16);
            uintptr_t hi = *end == '-' ? strtoul(end + 1, &end, 16) : 0;
            if (n < max && *end == ' ') {
                out[n].lo = lo;
                out[n].hi = hi;
                memcpy(out[n].perms, end + 1, 4);
                out[n].perms[4] = 0;
            }
            n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* Is [addr, addr + len) a shared anonymous VMA of its own with these
 * permissions?  1, 0, or -1 when /proc could not be read. */
static int vma_exact(pid_t pid, uintptr_t addr, size_t len, const char *perms)
{
    struct vma v[256];
    int n = shared_anon(pid, v, 256);
    if (n < 0)
        return -1;
    for (int i = 0; i < n && i < 256; i++)
        if (v[i].lo == addr && v[i].hi == addr + len && !strcmp(v[i].perms, perms))
            return 1;
    return 0;
}

/* How many shared anonymous VMAs of exactly len bytes and these
 * permissions pid has; *at the first one's address. */
static int vmas_like(pid_t pid, size_t len, const char *perms, uintptr_t *at)
{
    struct vma v[256];
    int n = shared_anon(pid, v, 256), count = 0;
    if (n < 0)
        return -1;
    *at = 0;
    for (int i = 0; i < n && i < 256; i++)
        if (v[i].hi - v[i].lo == len && !strcmp(v[i].perms, perms)) {
            if (!count)
                *at = v[i].lo;
            count++;
        }
    return count;
}

/* ------------------------------------------------------------ the timer -- */

static timer_t alarm_timer;

/* SIGALRM to this thread after first_us, then every period_us (0: once). */
static int alarm_start(void (*fn)(int), long first_us, long period_us)
{
    struct sigaction sa = { .sa_handler = fn };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGALRM, &sa, NULL) < 0)
        return -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    /* A timer takes a slot of its user's RLIMIT_SIGPENDING, which another
     * test of the same user (a signal storm) may hold for a moment. */
    long long end = now_ms() + 20000;
    while (timer_create(CLOCK_MONOTONIC, &sev, &alarm_timer) < 0) {
        if (errno != EAGAIN || now_ms() > end)
            return -1;
        struct pollfd none;
        poll(&none, 0, 10);
    }
    struct itimerspec its = {
        .it_value = { first_us / 1000000, (first_us % 1000000) * 1000 },
        .it_interval = { period_us / 1000000, (period_us % 1000000) * 1000 },
    };
    return timer_settime(alarm_timer, 0, &its, NULL);
}

static void alarm_stop(void)
{
    timer_delete(alarm_timer);
    /* One may still be pending: let it run its course, then no more. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&s, NULL, &zero) > 0)
        ;
    signal(SIGALRM, SIG_DFL);
}

static void block_alarm(int block)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

/* ---------------------------------------------------------- the handler -- */

/* What the handler does and saw (it keeps one mapping at most: it maps
 * when it holds none, and unmaps it the next time). */
static struct {
    pid_t target;
    volatile uintptr_t addr;
    long calls, maps, unmaps, failures, errno_changed, reason_left, skipped;
    int64_t next_ns;          /* no call before this (see on_alarm()) */
    long nested;              /* the main thread was inside a call */
    volatile long between;    /* it was not: this call replaced its record */
    long route[8];
    int last_err;
    char last_reason[PM_REASON_MAX];
} hs;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_alarm(int sig)
{
    (void)sig;
    /* A call takes 10-20 us on a quiet machine, but a loaded one (or a
     * sanitizer) can make it longer than the period: the handler would then
     * run back to back and the main thread never get on.  So it calls only
     * when a whole period has passed since its last call ended. */
    if (mono_ns() < hs.next_ns) {
        hs.skipped++;
        return;
    }
    int saved = errno;
    in_handler = 1;
    hs.calls++;
    if (pm_read_level() > 0)
        hs.nested++;
    else
        hs.between++;
    /* The call must leave errno alone when it succeeds. */
    errno = 4242;
    int ok;
    if (hs.addr) {
        ok = munmap_peer(hs.target, (void *)hs.addr, H_LEN) == 0;
        if (ok) {
            hs.addr = 0;
            hs.unmaps++;
        }
    } else {
        void *p = mmap_peer(hs.target, NULL, H_LEN, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
                            NOFD, 0);
        ok = p != MAP_FAILED;
        if (ok) {
            hs.addr = (uintptr_t)p;
            hs.maps++;
        }
    }
    if (ok && errno != 4242)
        hs.errno_changed++;
    if (!ok) {
        hs.failures++;
        hs.last_err = errno;
        const char *r = peermap_errmsg();
        size_t l = strnlen(r, sizeof hs.last_reason - 1);
        memcpy(hs.last_reason, r, l);
        hs.last_reason[l] = 0;
    } else if (peermap_errmsg()[0]) {
        hs.reason_left++; /* a successful call has no reason */
    }
    int route = peermap_last_path();
    hs.route[(route + 1) & 7]++;
    hs.next_ns = mono_ns() + TICK_US * 1000;
    in_handler = 0;
    errno = saved;
}

/* ---------------------------------------------------------- the targets -- */

/* Blocked in read() until its pipe closes. */
static int sleeper_body(int in, int out, void *arg)
{
    (void)arg;
    char c = 'R';
    child_write_full(out, &c, 1);
    while (read(in, &c, 1) != 0)
        ;
    return 0;
}

/* An agent, and otherwise blocked in read() (dumpable: its maps stay
 * readable to the test's user). */
static int agent_body(int in, int out, void *arg)
{
    (void)arg;
    if (peermap_agent_start(NULL, 0) < 0)
        return 10;
    char c = 'R';
    child_write_full(out, &c, 1);
    while (read(in, &c, 1) != 0)
        ;
    peermap_agent_stop();
    return 0;
}

/* A client of the test's channel: sends one message when told, and waits
 * for the reply (reply-blocked, the in-band route) until the test is done. */
static int client_body(int in, int out, void *arg)
{
    (void)arg;
    int coid = chanclient_attach(in);
    if (coid < 0)
        return 11;
    char c = 'R';
    child_write_full(out, &c, 1);
    if (child_read_full(in, &c, 1) < 0)
        return 12;
    long r = MsgSend(coid, "m", 1, NULL, 0);
    return r == 0 ? 0 : 13;
}

/* ------------------------------------------------------------ the storm -- */

static long iterations(void)
{
    const char *e = getenv("PEERMAP_SIGSAFE_ITERATIONS");
    long n = e ? atol(e) : 0;
    return n > 0 ? n : 10000;
}

/* The targets hold exactly what the test believes: in A, the handler's
 * mapping if it holds one and no other of its kind; no main-thread mapping
 * left in A or B.  Checked with the alarm blocked, between calls. */
static int reconcile(pid_t a, pid_t b)
{
    uintptr_t at;
    int ok = 1;
    int n = vmas_like(a, H_LEN, "r--s", &at);
    if (n != (hs.addr ? 1 : 0) || (hs.addr && at != hs.addr)) {
        fprintf(stderr, "  A holds %d handler mappings (first at %#lx), the handler "
                "believes %#lx\n", n, (unsigned long)at, (unsigned long)hs.addr);
        ok = 0;
    }
    if (vmas_like(a, M_LEN, "rw-s", &at) != 0 || vmas_like(b, M_LEN, "rw-s", &at) != 0 ||
        vmas_like(b, H_LEN, "r--s", &at) != 0) {
        fprintf(stderr, "  a main-thread mapping was left behind, or the handler's "
                "went to B\n");
        ok = 0;
    }
    return ok;
}

/* Did the call just made go by `route` and leave no reason?  A handler
 * that ran between its return and this look made the thread's latest call
 * itself (mmap_peer(3): the record is the thread's last call's): then
 * there is nothing to say about this one. */
static int record_ok(long between, int route, const char *what, long i)
{
    int path = peermap_last_path();
    const char *why = peermap_errmsg();
    if (hs.between != between)
        return 1;
    if (path != route || why[0]) {
        fprintf(stderr, "  round %ld: %s went by %d (not %d), reason '%s'\n", i, what,
                path, route, why);
        return 0;
    }
    return 1;
}

/* One round trip of the main thread on target t: map, check, unmap, check. */
static int main_cycle(pid_t t, int route, long i)
{
    errno = 777;
    long between = hs.between;
    void *p = mmap_peer(t, NULL, M_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        NOFD, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "  round %ld: mmap_peer(%d): %s (%s)\n", i, (int)t,
                strerror(errno), peermap_errmsg());
        return -1;
    }
    int bad = 0;
    if (errno != 777) {
        fprintf(stderr, "  round %ld: a successful mmap_peer() changed errno\n", i);
        bad = 1;
    }
    if (!record_ok(between, route, "mmap_peer()", i))
        bad = 1;
    if (vma_exact(t, (uintptr_t)p, M_LEN, "rw-s") != 1) {
        fprintf(stderr, "  round %ld: PID %d has no mapping at %p\n", i, (int)t, p);
        bad = 1;
    }
    between = hs.between;
    int r = munmap_peer(t, p, M_LEN);
    if (r != 0) {
        fprintf(stderr, "  round %ld: munmap_peer(%d, %p): %s (%s)\n", i, (int)t, p,
                strerror(errno), peermap_errmsg());
        return -1;
    }
    if (errno != 777) {
        fprintf(stderr, "  round %ld: a successful munmap_peer() changed errno\n", i);
        bad = 1;
    }
    if (!record_ok(between, route, "munmap_peer()", i))
        bad = 1;
    if (vma_exact(t, (uintptr_t)p, M_LEN, "rw-s") != 0) {
        fprintf(stderr, "  round %ld: PID %d still has the mapping at %p\n", i, (int)t, p);
        bad = 1;
    }
    return bad ? -1 : 0;
}

static const char *route_name(int r)
{
    switch (r) {
    case PEERMAP_PATH_PTRACE: return "ptrace";
    case PEERMAP_PATH_INBAND: return "in-band";
    case PEERMAP_PATH_AGENT: return "agent";
    case PEERMAP_PATH_LOCAL: return "local";
    default: return "none";
    }
}

/*
 * The storm on targets a and b: the main thread expects `route` for its own
 * calls; the handler's calls must take one of the routes in `handler_ok`
 * (bit 1 << route), and at least `want_route` some of the time.
 */
static void storm(pid_t a, pid_t b, int route, unsigned handler_ok, int want_route)
{
    long n = iterations();
    memset(&hs, 0, sizeof hs);
    hs.target = a;
    uintptr_t at;
    /* The signature is unique: nothing of the kind in either target yet. */
    REQUIRE(vmas_like(a, H_LEN, "r--s", &at) == 0 && vmas_like(a, M_LEN, "rw-s", &at) == 0);
    REQUIRE(vmas_like(b, H_LEN, "r--s", &at) == 0 && vmas_like(b, M_LEN, "rw-s", &at) == 0);

    /* The deadlines are not the subject here (the tests below are): a
     * loaded machine that keeps a target or an agent off the CPU for
     * 100 ms must not fail a call. */
    peermap_set_timeout_ms(20000);
    peermap_set_inband_timeout_ms(20000);
    int mark = watch_start();
    storm_tick_us = tick_us();
    REQUIRE(alarm_start(on_alarm, TICK_US, TICK_US) == 0);
    long long t0 = now_ms();
    long i;
    int failed = 0;
    for (i = 0; i < n && !failed; i++) {
        if (main_cycle(a, route, i) < 0 || main_cycle(b, route, i) < 0)
            failed = 1;
        if (i % 500 == 499) {
            block_alarm(1);
            if (!reconcile(a, b))
                failed = 1;
            block_alarm(0);
        }
    }
    block_alarm(1);
    alarm_stop();
    long long took = now_ms() - t0;
    int seen = watch_stop(mark);
    CHECK(!failed);
    CHECK(reconcile(a, b));
    /* The handler's last mapping, taken back from outside the handler. */
    if (hs.addr) {
        CHECK(munmap_peer(a, (void *)hs.addr, H_LEN) == 0);
        CHECK(vma_exact(a, hs.addr, H_LEN, "r--s") == 0);
        hs.addr = 0;
    }
    block_alarm(0);
    peermap_set_timeout_ms(0);
    peermap_set_inband_timeout_ms(0);
    fprintf(stderr, "  %ld rounds in %lld ms; handler: %ld calls (%ld inside a call of "
            "the main thread; %ld signals without a call), %ld maps, %ld unmaps, "
            "%ld failed; routes:", i, took, hs.calls, hs.nested, hs.skipped, hs.maps,
            hs.unmaps, hs.failures);
    for (int r = 0; r < 8; r++)
        if (hs.route[r])
            fprintf(stderr, " %s %ld", route_name(r - 1), hs.route[r]);
    fprintf(stderr, "\n");
    if (hs.failures)
        fprintf(stderr, "  the handler's last failure: %s (%s)\n", strerror(hs.last_err),
                hs.last_reason);
    CHECK_EQ_LONG(i, n);
    CHECK_EQ_LONG(hs.failures, 0);
    CHECK_EQ_LONG(hs.errno_changed, 0);
    CHECK_EQ_LONG(hs.reason_left, 0);
    CHECK_EQ_LONG(seen, 0);
    /* Not vacuous: the handler ran often, and often inside a call (at the
     * 10,000 rounds of a native run: 1,000 and 50; fewer rounds, where an
     * emulated machine cannot make 10,000 in time, in proportion). */
    CHECK(hs.calls >= n / 10);
    CHECK(hs.nested >= (n / 200 > 0 ? n / 200 : 1));
    CHECK(hs.maps + hs.unmaps == hs.calls);
    for (int r = -1; r < 7; r++)
        if (hs.route[r + 1] && !(handler_ok & (1u << (r + 1))))
            CHECK(!"the handler's call took a route it should not");
    CHECK(hs.route[want_route + 1] > 0);
}

#define ROUTE_BIT(r) (1u << ((r) + 1))

TEST(ptrace_route_storm)
{
    struct target a, b;
    REQUIRE(target_start_ready(&a, sleeper_body, NULL) >= 0);
    REQUIRE(target_start_ready(&b, sleeper_body, NULL) >= 0);
    storm(a.pid, b.pid, PEERMAP_PATH_PTRACE, ROUTE_BIT(PEERMAP_PATH_PTRACE),
          PEERMAP_PATH_PTRACE);
    /* B was forked holding A's pipe ends: it goes first, or A sees no EOF. */
    CHECK_EQ_LONG(target_finish(&b, 5000), 0);
    CHECK_EQ_LONG(target_finish(&a, 5000), 0);
}

/* The targets wait for the main thread's reply.  A handler whose thread
 * was inside an in-band call to the same client (or held its channel's
 * lock) cannot wait for that call: it goes by ptrace instead, which the
 * automatic route allows. */
TEST(inband_route_storm)
{
    int chid = ChannelCreate(0);
    REQUIRE(chid > 0);
    struct target a, b;
    REQUIRE(chanclient_start_ready(&a, client_body, NULL, getpid(), chid) == 'R');
    REQUIRE(chanclient_start_ready(&b, client_body, NULL, getpid(), chid) == 'R');
    char c;
    char buf[8];
    c = 'm';
    REQUIRE(target_write(&a, &c, 1) == 0);
    rcvid_t ra = MsgReceive(chid, buf, sizeof buf, NULL);
    REQUIRE(target_write(&b, &c, 1) == 0);
    rcvid_t rb = MsgReceive(chid, buf, sizeof buf, NULL);
    REQUIRE(ra > 0 && rb > 0);
    storm(a.pid, b.pid, PEERMAP_PATH_INBAND,
          ROUTE_BIT(PEERMAP_PATH_INBAND) | ROUTE_BIT(PEERMAP_PATH_PTRACE), PEERMAP_PATH_INBAND);
    CHECK(MsgReply(ra, 0, NULL, 0) == 0);
    CHECK(MsgReply(rb, 0, NULL, 0) == 0);
    /* B was forked holding A's pipe ends: it goes first, or A sees no EOF. */
    CHECK_EQ_LONG(target_finish(&b, 5000), 0);
    CHECK_EQ_LONG(target_finish(&a, 5000), 0);
    ChannelDestroy(chid);
}

/* Without ptrace: the targets' agents take every call. */
TEST(agent_route_storm)
{
    struct target a, b;
    REQUIRE(target_start_ready(&a, agent_body, NULL) >= 0);
    REQUIRE(target_start_ready(&b, agent_body, NULL) >= 0);
    REQUIRE(peermap_set_path(PEERMAP_PATH_INBAND) == 0);
    storm(a.pid, b.pid, PEERMAP_PATH_AGENT, ROUTE_BIT(PEERMAP_PATH_AGENT), PEERMAP_PATH_AGENT);
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    /* B was forked holding A's pipe ends: it goes first, or A sees no EOF. */
    CHECK_EQ_LONG(target_finish(&b, 5000), 0);
    CHECK_EQ_LONG(target_finish(&a, 5000), 0);
}

/* ------------------------------------------- deadlines, reasons, checks -- */

/* A vfork parent: uninterruptible (for ptrace) until the test's go. */
static int vfork_parent_body(int in, int out, void *arg)
{
    (void)arg;
    child_write_full(out, "R", 1);
    child_vfork_until_go(in);
    child_write_full(out, "R", 1);
    char x;
    while (read(in, &x, 1) != 0)
        ;
    return 0;
}

static struct {
    pid_t target;
    void *addr;
    int err;
    long long took_ms;
    int path;
    char reason[PM_REASON_MAX];
} once;

static void copy_reason(char *dst, const char *src)
{
    size_t l = strnlen(src, PM_REASON_MAX - 1);
    memcpy(dst, src, l);
    dst[l] = 0;
}

/* One mmap_peer() on once.target, timed, and its record. */
static void on_alarm_map_once(int sig)
{
    (void)sig;
    int saved = errno;
    long long t0 = now_ms();
    once.addr = mmap_peer(once.target, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
                          NOFD, 0);
    once.err = once.addr == MAP_FAILED ? errno : 0;
    once.took_ms = now_ms() - t0;
    once.path = peermap_last_path();
    copy_reason(once.reason, peermap_errmsg());
    errno = saved;
}

/*
 * The main thread's call is stuck on a target that cannot be stopped; a
 * handler's call on another target, made while the main thread waits for
 * it, queues behind it on the tracer thread.  When the stuck call gives up
 * (ETIMEDOUT), that tracer thread retires (its exit is what releases the
 * stuck target) and the next one serves the handler's call - within the
 * handler's deadline.  Both targets run on untouched.
 */
#ifdef __SANITIZE_THREAD__
#define NO_VFORK_UNDER_TSAN() \
    SKIP("ThreadSanitizer makes vfork() a fork(): no target that cannot be stopped")
#else
#define NO_VFORK_UNDER_TSAN() do { } while (0)
#endif

TEST(a_handlers_call_queued_behind_a_stuck_call_is_served_in_time)
{
    NO_VFORK_UNDER_TSAN();
    struct target s, g;
    char r;
    REQUIRE(target_start_ready(&g, sleeper_body, NULL) >= 0);
    REQUIRE(target_start_ready(&s, vfork_parent_body, NULL) >= 0);
    REQUIRE(wait_state(s.pid, 'D', 10000) == 0 || proc_state(s.pid) == 'S');
    memset(&once, 0, sizeof once);
    once.target = g.pid;
    peermap_set_timeout_ms(1000);
    /* 400 ms into the main thread's 1000 ms wait: the handler's call waits
     * in line about 600 ms, within its own 1000. */
    REQUIRE(alarm_start(on_alarm_map_once, 400000, 0) == 0);
    long long t0 = now_ms();
    errno = 0;
    void *p = mmap_peer(s.pid, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
    int e = errno;
    long long took = now_ms() - t0;
    char reason[PM_REASON_MAX];
    copy_reason(reason, peermap_errmsg());
    alarm_stop();
    peermap_set_timeout_ms(0);
    fprintf(stderr, "  main: %s after %lld ms (%s); handler: %s after %lld ms (%s)\n",
            p == MAP_FAILED ? strerror(e) : "mapped", took, reason,
            once.addr == MAP_FAILED ? strerror(once.err) : "mapped", once.took_ms,
            once.reason);
    CHECK(p == MAP_FAILED && e == ETIMEDOUT);
    CHECK(strstr(reason, "did not stop") != NULL);
    CHECK(once.addr != NULL && once.addr != MAP_FAILED);
    CHECK_EQ_LONG(once.path, PEERMAP_PATH_PTRACE);
    CHECK(once.took_ms < 2000 + 500);
    if (once.addr && once.addr != MAP_FAILED) {
        CHECK(vma_exact(g.pid, (uintptr_t)once.addr, PAGE, "r--s") == 1);
        CHECK(munmap_peer(g.pid, once.addr, PAGE) == 0);
        CHECK(vma_exact(g.pid, (uintptr_t)once.addr, PAGE, "r--s") == 0);
    }
    /* The stuck target, released, runs on and can be reached again. */
    CHECK(target_write(&s, "g", 1) == 0);
    CHECK(target_read(&s, &r, 1, 10000) == 0 && r == 'R');
    void *q = mmap_peer(s.pid, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
    CHECK(q != MAP_FAILED);
    if (q != MAP_FAILED)
        CHECK(munmap_peer(s.pid, q, PAGE) == 0);
    CHECK_EQ_LONG(target_finish(&s, 5000), 0);
    CHECK_EQ_LONG(target_finish(&g, 5000), 0);
}

/* A handler that fails a call, then succeeds one, inside a failing call
 * of the main thread. */
static struct {
    int fail_err, fail_path, ok, ok_path, ok_errno_kept;
    char fail_reason[PM_REASON_MAX], ok_reason[PM_REASON_MAX];
} lv;

static void on_alarm_levels(int sig)
{
    (void)sig;
    int saved = errno;
    void *p = mmap_peer(getpid(), NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    lv.fail_err = p == MAP_FAILED ? errno : 0;
    lv.fail_path = peermap_last_path();
    copy_reason(lv.fail_reason, peermap_errmsg());
    errno = 31337;
    p = mmap_peer(0, NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    lv.ok = p != MAP_FAILED;
    lv.ok_errno_kept = errno == 31337;
    lv.ok_path = peermap_last_path();
    copy_reason(lv.ok_reason, peermap_errmsg());
    if (lv.ok)
        munmap_peer(0, p, PAGE);
    errno = saved;
}

/*
 * peermap_errmsg() and peermap_last_path() inside the handler speak of its
 * own calls; once the handler has returned and the interrupted call has
 * finished, of that call, untouched.  (Between calls, a handler's call is
 * the thread's latest one: see the next test.)
 */
TEST(a_handlers_calls_keep_their_own_reasons_and_leave_the_interrupted_ones)
{
    NO_VFORK_UNDER_TSAN();
    struct target s;
    char r;
    REQUIRE(target_start_ready(&s, vfork_parent_body, NULL) >= 0);
    REQUIRE(wait_state(s.pid, 'D', 10000) == 0 || proc_state(s.pid) == 'S');
    memset(&lv, 0, sizeof lv);
    peermap_set_timeout_ms(300);
    REQUIRE(alarm_start(on_alarm_levels, 100000, 0) == 0);
    errno = 0;
    void *p = mmap_peer(s.pid, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
    int e = errno;
    int path = peermap_last_path();
    char reason[PM_REASON_MAX];
    copy_reason(reason, peermap_errmsg());
    alarm_stop();
    peermap_set_timeout_ms(0);
    fprintf(stderr, "  main: '%s'; handler: '%s', then '%s'\n", reason, lv.fail_reason,
            lv.ok_reason);
    /* The interrupted call's own answer and record. */
    CHECK(p == MAP_FAILED && e == ETIMEDOUT);
    CHECK_EQ_LONG(path, PEERMAP_PATH_PTRACE);
    CHECK(strstr(reason, "did not stop") != NULL);
    /* The handler's, seen inside the handler. */
    CHECK_EQ_LONG(lv.fail_err, EINVAL);
    CHECK_EQ_LONG(lv.fail_path, PEERMAP_PATH_NONE);
    CHECK(strstr(lv.fail_reason, "len is 0") != NULL);
    CHECK(lv.ok && lv.ok_errno_kept);
    CHECK_EQ_LONG(lv.ok_path, PEERMAP_PATH_LOCAL);
    CHECK_EQ_LONG(lv.ok_reason[0], 0);
    CHECK(target_write(&s, "g", 1) == 0);
    CHECK(target_read(&s, &r, 1, 10000) == 0);
    CHECK_EQ_LONG(target_finish(&s, 5000), 0);
}

static void on_alarm_one_local_call(int sig)
{
    (void)sig;
    int saved = errno;
    void *p = mmap_peer(0, NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    if (p != MAP_FAILED)
        munmap_peer(0, p, PAGE);
    errno = saved;
}

/* What mmap_peer(3) says of a handler that runs between a failed call and
 * the look at its reason: the handler's calls are the thread's latest, so
 * the record is theirs - as errno would be, were the handler not to keep
 * it.  Tested so that the page stays true. */
TEST(between_calls_a_handlers_call_is_the_threads_latest)
{
    void *p = mmap_peer(0, NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    CHECK(p == MAP_FAILED && errno == EINVAL);
    CHECK(strstr(peermap_errmsg(), "len is 0") != NULL);
    struct sigaction sa = { .sa_handler = on_alarm_one_local_call };
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
    raise(SIGALRM);
    signal(SIGALRM, SIG_DFL);
    CHECK_EQ_LONG(errno, EINVAL); /* the handler kept errno, as POSIX asks */
    CHECK_EQ_LONG(peermap_errmsg()[0], 0);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_LOCAL);
}

/* QNX's example: a SIGCHLD handler tears down a dead client's buffer.  The
 * client is a zombie: ESRCH at once, and the status stays for the parent. */
static struct {
    pid_t pid;
    void *addr;
    int rc, err;
    char reason[PM_REASON_MAX];
    volatile sig_atomic_t ran;
} td;

static void on_child(int sig)
{
    (void)sig;
    int saved = errno;
    td.rc = munmap_peer(td.pid, td.addr, PAGE);
    td.err = td.rc < 0 ? errno : 0;
    copy_reason(td.reason, peermap_errmsg());
    td.ran = 1;
    errno = saved;
}

TEST(a_sigchld_handler_unmaps_from_a_dead_client)
{
    struct target c;
    REQUIRE(target_start_ready(&c, sleeper_body, NULL) >= 0);
    memset(&td, 0, sizeof td);
    td.pid = c.pid;
    td.addr = mmap_peer(c.pid, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
    REQUIRE(td.addr != MAP_FAILED);
    struct sigaction sa = { .sa_handler = on_child };
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGCHLD, &sa, NULL) == 0);
    kill(c.pid, SIGKILL);
    long long end = now_ms() + 10000;
    while (!td.ran && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    signal(SIGCHLD, SIG_DFL);
    fprintf(stderr, "  the handler's munmap_peer(): %s (%s)\n", strerror(td.err), td.reason);
    CHECK(td.ran);
    CHECK(td.rc < 0 && td.err == ESRCH);
    /* The library did not reap the child: its status is the parent's. */
    int st;
    CHECK((st = reap_ms(c.pid, 20000)) != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(c.to_child);
    close(c.from_child);
}

static __attribute__((unused)) void on_alarm_mallocs(int sig)
{
    (void)sig;
    in_handler = 1;
    free(malloc(16));
    in_handler = 0;
}

/* The checker is not vacuous: it sees an allocation made in a handler. */
TEST(the_checker_sees_malloc_in_a_handler)
{
#ifndef WATCH
#ifdef PM_TEST_STATIC
    SKIP("a static build cannot replace malloc() beside the C library's "
         "(the other storms still run; the dynamic builds run the checker)");
#else
    SKIP("a sanitizer replaces malloc() in this build (ThreadSanitizer reports "
         "allocation in a handler itself)");
#endif
#else
    struct sigaction sa = { .sa_handler = on_alarm_mallocs };
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
    int mark = watch_start();
    raise(SIGALRM);
    int seen = watch_stop(mark);
    signal(SIGALRM, SIG_DFL);
    CHECK_EQ_LONG(seen, 2);
#endif
}

/* ---- the readers-writer lock under contention ---- */

/* Writers and readers of one pm_rwlock, many rounds each.  An unlock wakes
 * sleepers only when one has counted itself: a lost wake-up would leave a
 * thread asleep for good, which the deadline on the joins turns into a
 * failure; a writer inside with anyone else would show in the pair of
 * counters (a reader sees them apart, or the totals come out short). */
#define RW_ROUNDS 20000

static struct pm_rwlock rw = PM_RWLOCK_INIT;
static long rw_a, rw_b;
static atomic_int rw_torn, rw_timeouts;

static void *rw_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < RW_ROUNDS; i++) {
        pm_rw_write_lock(&rw);
        long a = rw_a;
        if (i % 64 == 0)
            sched_yield(); /* let the others pile up behind us */
        rw_a = a + 1;
        rw_b++;
        pm_rw_write_unlock(&rw);
    }
    return NULL;
}

static void *rw_reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < RW_ROUNDS; i++) {
        if (pm_rw_read_lock(&rw, pm_now_ns() + 30000000000ll) < 0) {
            /* EDEADLK is the lock's answer to a writer that has not named
             * itself for 50 µs (preempted between the two, on a loaded
             * machine): not a lost wake-up.  A reader that waited out its
             * deadline is one. */
            if (errno != EDEADLK)
                atomic_fetch_add(&rw_timeouts, 1);
            continue;
        }
        if (rw_a != rw_b)
            atomic_fetch_add(&rw_torn, 1);
        pm_rw_read_unlock(&rw);
    }
    return NULL;
}

TEST(rwlock_writers_and_readers_all_get_through)
{
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        REQUIRE(pthread_create(&t[i], NULL, i < 3 ? rw_writer : rw_reader, NULL) == 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 120;
    int joined = 0;
    for (int i = 0; i < 6; i++)
        joined += pthread_timedjoin_np(t[i], NULL, &until) == 0;
    REQUIRE(joined == 6); /* else a thread sleeps for good: nothing to clean */
    CHECK_EQ_LONG(rw_a, 3L * RW_ROUNDS);
    CHECK_EQ_LONG(rw_b, 3L * RW_ROUNDS);
    CHECK_EQ_LONG(atomic_load(&rw_torn), 0);
    CHECK_EQ_LONG(atomic_load(&rw_timeouts), 0);
    CHECK_EQ_LONG(atomic_load(&rw.waiters), 0);
}
