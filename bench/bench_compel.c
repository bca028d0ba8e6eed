/*
 * CRIU's compel doing what mmap_peer() does: the reference point for
 * "remote system calls through ptrace".  Same target, same mapping (64 KiB
 * MAP_SHARED|MAP_ANONYMOUS, read-write, untouched), same pinning.
 *
 *   compel_mmap           full cycle through compel's documented API:
 *                         compel_stop_task, compel_prepare, compel_syscall(mmap),
 *                         compel_cure, compel_resume_task
 *   compel_noctx_mmap     the same with compel_prepare_noctx: no network
 *                         namespace socket, no /proc/PID/maps scan per call
 *                         (the code address is found once and reused) - the
 *                         cheapest way compel can do one call
 *   compel_attached_mmap  compel_syscall(mmap) while stopped and prepared
 *   compel_attached_pair  compel_syscall(mmap) + compel_syscall(munmap)
 *
 * Each full-cycle mapping is removed by a second, untimed cycle of the same
 * kind, so the target's address space does not grow.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <compel/infect.h>
#include <compel/log.h>

#include "stats.h"
#include "target.h"

#define LEN (64 * 1024)

static void log_to_stderr(unsigned int lvl, const char *fmt, va_list ap)
{
    (void)lvl;
    fputs("compel: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* One stopped-and-prepared target, as compel leaves it. */
struct held {
    int state;               /* compel_stop_task's answer, for resume */
    struct parasite_ctl *ctl;
    int full;                /* prepared by compel_prepare (not _noctx) */
};

/* For compel_prepare_noctx: compel_syscall writes its syscall instruction at
 * ictx.syscall_ip, which only compel_prepare fills in (from the first
 * executable mapping of /proc/PID/maps).  Found once here, like the cached
 * vDSO address peermap uses. */
static unsigned long exec_area(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        bench_die("%s: %s", path, strerror(errno));
    unsigned long start = 0, end;
    char perms[8];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && perms[2] == 'x')
            break;
        start = 0;
    }
    fclose(f);
    if (!start)
        bench_die("no executable mapping in %s", path);
    return start;
}

static unsigned long noctx_ip;

static void hold(pid_t pid, int full, struct held *h)
{
    h->full = full;
    h->state = compel_stop_task(pid);
    if (h->state < 0)
        bench_die("compel_stop_task(%d) failed", (int)pid);
    h->ctl = full ? compel_prepare(pid) : compel_prepare_noctx(pid);
    if (!h->ctl)
        bench_die("compel_prepare%s(%d) failed", full ? "" : "_noctx", (int)pid);
    if (!full)
        compel_infect_ctx(h->ctl)->syscall_ip = noctx_ip;
}

static void release(pid_t pid, struct held *h)
{
    if (h->full) {
        /* compel_prepare opens a socket in the target's network namespace
         * and allocates a register buffer; compel_cure (3.17) releases
         * neither when no parasite was infected, so do it here, or the
         * benchmark runs out of descriptors. */
        struct infect_ctx *ic = compel_infect_ctx(h->ctl);
        if (ic->sock >= 0)
            close(ic->sock);
        free(ic->regs_arg);
    }
    if (compel_cure(h->ctl))
        bench_die("compel_cure failed");
    if (compel_resume_task(pid, h->state, h->state))
        bench_die("compel_resume_task(%d) failed", (int)pid);
}

static long remote(struct held *h, int nr, unsigned long a1, unsigned long a2,
                   unsigned long a3, unsigned long a4, unsigned long a5,
                   unsigned long a6, const char *what)
{
    long ret = -1;
    if (compel_syscall(h->ctl, nr, &ret, a1, a2, a3, a4, a5, a6) < 0)
        bench_die("compel_syscall(%s) failed", what);
    if (ret < 0 && ret >= -4095)
        bench_die("remote %s: %s", what, strerror((int)-ret));
    return ret;
}

static long remote_mmap(struct held *h)
{
    return remote(h, SYS_mmap, 0, LEN, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, (unsigned long)-1, 0, "mmap");
}

static void remote_munmap(struct held *h, long addr)
{
    remote(h, SYS_munmap, (unsigned long)addr, LEN, 0, 0, 0, 0, "munmap");
}

static void bench_full(const struct bench_opts *o, pid_t pid, int full,
                       const char *name)
{
    struct samples map;
    struct held h;
    samples_init(&map, o->n);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        hold(pid, full, &h);
        long a = remote_mmap(&h);
        release(pid, &h);
        uint64_t t1 = bench_now_ns();
        if (i == 0)
            bench_check_mapped(pid, (void *)a, LEN, NULL, 0, name);
        hold(pid, full, &h);
        remote_munmap(&h, a);
        release(pid, &h);
        if (i == 0)
            bench_check_unmapped(pid, (void *)a, name);
        if (i >= o->warmup)
            samples_add(&map, t1 - t0);
    }
    samples_report(&map, name);
    samples_free(&map);
}

static void bench_attached(const struct bench_opts *o, pid_t pid)
{
    struct samples map, pair;
    struct held h;
    samples_init(&map, o->n);
    samples_init(&pair, o->n);
    hold(pid, 1, &h);
    for (size_t i = 0; i < o->warmup + o->n; i++) {
        uint64_t t0 = bench_now_ns();
        long a = remote_mmap(&h);
        uint64_t t1 = bench_now_ns();
        remote_munmap(&h, a);
        uint64_t t2 = bench_now_ns();
        if (i >= o->warmup) {
            samples_add(&map, t1 - t0);
            samples_add(&pair, t2 - t0);
        }
    }
    release(pid, &h);
    samples_report(&map, "compel_attached_mmap");
    samples_report(&pair, "compel_attached_pair");
    samples_free(&map);
    samples_free(&pair);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse_opts(argc, argv, &o, 5000, 500);
    compel_log_init(log_to_stderr, COMPEL_LOG_ERROR);

    bench_pin_self(o.caller_cpu);
    pid_t pid = bench_spawn_target(o.target_cpu);
    noctx_ip = exec_area(pid);
    printf("# bench_compel caller_cpu=%d target_cpu=%d n=%zu warmup=%zu "
           "len=%d target_pid=%d\n", o.caller_cpu, o.target_cpu, o.n, o.warmup,
           LEN, (int)pid);

    bench_full(&o, pid, 1, "compel_mmap");
    bench_full(&o, pid, 0, "compel_noctx_mmap");
    bench_attached(&o, pid);

    bench_check_target(pid);
    bench_reap_target(pid);
    return 0;
}
