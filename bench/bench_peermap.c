/*
 * peermap against the local floor, one configuration per run.
 *
 *   floor_pair          local mmap + munmap, 64 KiB MAP_SHARED|MAP_ANONYMOUS
 *   floor_mmap          the local mmap of that pair alone
 *   peer_mmap           mmap_peer(), the same mapping: attach, inject, detach
 *   peer_munmap         munmap_peer() of it
 *   peer_pair           the two above, per iteration
 *   peer_fd_mmap        mmap_peer() of a 64 KiB memfd, MAP_SHARED
 *   sess_attach_detach  peermap_attach() + peermap_detach(), nothing between
 *   sess_mmap           peermap_mmap() in a session attached once
 *   sess_munmap         peermap_munmap() in that session
 *   sess_pair           the two above, per iteration
 *   sess_fd_mmap        peermap_mmap() of the memfd in that session
 *
 * Nothing touches the mapped pages in the timed loops: the subject is the
 * cost of changing the target's address space, not of faulting pages in.
 * The first call of each kind (untimed, part of the warm-up unless -w 0) is
 * checked from outside: the target really has the mapping, the memfd's bytes
 * are visible at the returned address, and the range is gone after munmap.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>

#include "stats.h"
#include "target.h"

#define LEN (64 * 1024)
#define PROT (PROT_READ | PROT_WRITE)
#define MARK "peermap-bench-mark"

static void check_mapped(pid_t pid, void *addr, const char *expect, const char *what)
{
    bench_check_mapped(pid, addr, LEN, expect, expect ? sizeof MARK : 0, what);
}

static void die_peermap(const char *what)
{
    int e = errno;
    bench_die("%s: %s (%s)", what, strerror(e), peermap_errmsg());
}

static void bench_floor(const struct bench_opts *o)
{
    struct samples pair, only;
    samples_init(&pair, o->n);
    samples_init(&only, o->n);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        void *p = mmap(NULL, LEN, PROT, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        uint64_t t1 = bench_now_ns();
        if (p == MAP_FAILED)
            bench_die("mmap: %s", strerror(errno));
        uint64_t t2 = bench_now_ns();
        int rc = munmap(p, LEN);
        uint64_t t3 = bench_now_ns();
        if (rc < 0)
            bench_die("munmap: %s", strerror(errno));
        if (i >= o->warmup) {
            samples_add(&only, t1 - t0);
            samples_add(&pair, (t1 - t0) + (t3 - t2));
        }
    }
    samples_report(&pair, "floor_pair");
    samples_report(&only, "floor_mmap");
    samples_free(&pair);
    samples_free(&only);
}

/* mmap_peer() + munmap_peer() of anonymous memory, both timed. */
static void bench_peer_anon(const struct bench_opts *o, pid_t pid)
{
    struct samples map, unmap, pair;
    samples_init(&map, o->n);
    samples_init(&unmap, o->n);
    samples_init(&pair, o->n);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        void *a = mmap_peer(pid, NULL, LEN, PROT, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
        uint64_t t1 = bench_now_ns();
        if (a == MAP_FAILED)
            die_peermap("mmap_peer");
        if (i == 0)
            check_mapped(pid, a, NULL, "mmap_peer");
        uint64_t t2 = bench_now_ns();
        int rc = munmap_peer(pid, a, LEN);
        uint64_t t3 = bench_now_ns();
        if (rc < 0)
            die_peermap("munmap_peer");
        if (i == 0)
            bench_check_unmapped(pid, a, "munmap_peer");
        if (i >= o->warmup) {
            samples_add(&map, t1 - t0);
            samples_add(&unmap, t3 - t2);
            samples_add(&pair, (t1 - t0) + (t3 - t2));
        }
    }
    samples_report(&map, "peer_mmap");
    samples_report(&unmap, "peer_munmap");
    samples_report(&pair, "peer_pair");
    samples_free(&map);
    samples_free(&unmap);
    samples_free(&pair);
}

/* A 64 KiB memfd starting with MARK, so the target's view can be checked. */
static int make_memfd(void)
{
    int fd = memfd_create("peermap-bench", MFD_CLOEXEC);
    if (fd < 0)
        bench_die("memfd_create: %s", strerror(errno));
    if (ftruncate(fd, LEN) < 0)
        bench_die("ftruncate: %s", strerror(errno));
    if (pwrite(fd, MARK, sizeof MARK, 0) != (ssize_t)sizeof MARK)
        bench_die("pwrite to the memfd: %s", strerror(errno));
    return fd;
}

/* mmap_peer() of the memfd timed; its munmap_peer() is not (it is the same
 * call as for anonymous memory). */
static void bench_peer_fd(const struct bench_opts *o, pid_t pid, int fd)
{
    struct samples map;
    samples_init(&map, o->n);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        void *a = mmap_peer(pid, NULL, LEN, PROT, MAP_SHARED, fd, 0);
        uint64_t t1 = bench_now_ns();
        if (a == MAP_FAILED)
            die_peermap("mmap_peer (memfd)");
        if (i == 0)
            check_mapped(pid, a, MARK, "mmap_peer (memfd)");
        if (munmap_peer(pid, a, LEN) < 0)
            die_peermap("munmap_peer (memfd)");
        if (i == 0)
            bench_check_unmapped(pid, a, "munmap_peer (memfd)");
        if (i >= o->warmup)
            samples_add(&map, t1 - t0);
    }
    samples_report(&map, "peer_fd_mmap");
    samples_free(&map);
}

static void bench_session(const struct bench_opts *o, pid_t pid, int fd)
{
    struct samples ad, map, unmap, pair, fdmap;

    /* What a session costs before any call: one attach and one detach. */
    samples_init(&ad, o->n);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        peermap_session *s = peermap_attach(pid);
        uint64_t t1 = bench_now_ns();
        if (!s)
            die_peermap("peermap_attach");
        uint64_t t2 = bench_now_ns();
        int rc = peermap_detach(s);
        uint64_t t3 = bench_now_ns();
        if (rc < 0)
            die_peermap("peermap_detach");
        if (i >= o->warmup)
            samples_add(&ad, (t1 - t0) + (t3 - t2));
    }
    samples_report(&ad, "sess_attach_detach");
    samples_free(&ad);

    /* Then one session for all the calls: what each extra call costs. */
    samples_init(&map, o->n);
    samples_init(&unmap, o->n);
    samples_init(&pair, o->n);
    samples_init(&fdmap, o->n);
    peermap_session *s = peermap_attach(pid);
    if (!s)
        die_peermap("peermap_attach");
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        void *a = peermap_mmap(s, NULL, LEN, PROT, MAP_SHARED | MAP_ANONYMOUS, NOFD, 0);
        uint64_t t1 = bench_now_ns();
        if (a == MAP_FAILED)
            die_peermap("peermap_mmap");
        if (i == 0)
            check_mapped(pid, a, NULL, "peermap_mmap");
        uint64_t t2 = bench_now_ns();
        int rc = peermap_munmap(s, a, LEN);
        uint64_t t3 = bench_now_ns();
        if (rc < 0)
            die_peermap("peermap_munmap");
        if (i == 0)
            bench_check_unmapped(pid, a, "peermap_munmap");
        if (i >= o->warmup) {
            samples_add(&map, t1 - t0);
            samples_add(&unmap, t3 - t2);
            samples_add(&pair, (t1 - t0) + (t3 - t2));
        }
    }
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        void *a = peermap_mmap(s, NULL, LEN, PROT, MAP_SHARED, fd, 0);
        uint64_t t1 = bench_now_ns();
        if (a == MAP_FAILED)
            die_peermap("peermap_mmap (memfd)");
        if (i == 0)
            check_mapped(pid, a, MARK, "peermap_mmap (memfd)");
        if (peermap_munmap(s, a, LEN) < 0)
            die_peermap("peermap_munmap (memfd)");
        if (i == 0)
            bench_check_unmapped(pid, a, "peermap_munmap (memfd)");
        if (i >= o->warmup)
            samples_add(&fdmap, t1 - t0);
    }
    if (peermap_detach(s) < 0)
        die_peermap("peermap_detach");
    samples_report(&map, "sess_mmap");
    samples_report(&unmap, "sess_munmap");
    samples_report(&pair, "sess_pair");
    samples_report(&fdmap, "sess_fd_mmap");
    samples_free(&map);
    samples_free(&unmap);
    samples_free(&pair);
    samples_free(&fdmap);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 5000, 500);

    /* Pin first: the target is forked from this thread and the library's
     * tracer thread starts on the first call, both inheriting the mask. */
    bench_pin_self(o.caller_cpu);
    pid_t pid = bench_spawn_target(o.target_cpu);
    int fd = make_memfd();
    printf("# bench_peermap caller_cpu=%d target_cpu=%d n=%zu warmup=%zu "
           "len=%d target_pid=%d\n", o.caller_cpu, o.target_cpu, o.n, o.warmup,
           LEN, (int)pid);

    bench_floor(&o);
    bench_peer_anon(&o, pid);
    bench_peer_fd(&o, pid, fd);
    bench_session(&o, pid, fd);

    /* Every call restored the target; it must still be alive and asleep. */
    bench_check_target(pid);
    bench_reap_target(pid);
    close(fd);
    return 0;
}
