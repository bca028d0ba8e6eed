/*
 * What every benchmark needs around its timed loops: options, CPU pinning,
 * the target process, and dying without leaving that target behind.
 */
#ifndef PEERMAP_BENCH_TARGET_H
#define PEERMAP_BENCH_TARGET_H

#include <stddef.h>
#include <sys/types.h>

struct bench_opts {
    int caller_cpu; /* the benchmark (and every thread it starts later) */
    int target_cpu; /* the target process */
    size_t n;       /* timed calls per measurement */
    size_t warmup;  /* untimed calls before each measurement */
};

/* Parse [--caller-cpu N] [--target-cpu N] [-n CALLS] [-w WARMUP]; exits with
 * a usage message on anything else. */
void bench_parse_opts(int argc, char **argv, struct bench_opts *o,
                      size_t default_n, size_t default_warmup);

/* Print a message to stderr, kill and reap the target (if one was started),
 * exit 1.  Benchmarks call it on every failed call: a benchmark that skips a
 * failure measures something else. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* In a forked child of the benchmark: print "WHO: message (WHY)" (no
 * parenthesis when why is NULL) to stderr and _exit(1).  The parent sees
 * the child go and dies with its own message. */
void bench_child_die(const char *who, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Pin the calling thread to one CPU.  Threads started afterwards (the
 * library's tracer thread is started lazily, on the first call) inherit it. */
void bench_pin_self(int cpu);

/* Fork the target: pinned to `cpu`, sleeping in nanosleep(10 s) in a loop,
 * killed by the kernel if we die (PR_SET_PDEATHSIG).  Returns once it sleeps. */
pid_t bench_spawn_target(int cpu);

/* Make `pid`, a child the benchmark forked itself (a server rather than a
 * sleeper), the target: bench_die() and SIGINT/SIGTERM/SIGHUP then kill and
 * reap it.  bench_spawn_target() does this for its own child. */
void bench_adopt_target(pid_t pid);

/* Die unless the target is still alive (not exited, not killed): a
 * benchmark that crashed its target has measured nothing.  Call it only
 * while nobody traces the target: waitpid() would take a tracer's stop
 * report. */
void bench_check_target(pid_t pid);

/* From outside the target (process_vm_readv): [addr, addr+len) is mapped
 * in it and, if expect is not NULL, begins with the n bytes at expect.
 * Dies with a message naming `what` otherwise. */
void bench_check_mapped(pid_t pid, void *addr, size_t len, const void *expect,
                        size_t n, const char *what);

/* From outside the target: addr is no longer mapped in it. */
void bench_check_unmapped(pid_t pid, void *addr, const char *what);

/* fflush(NULL) (or the child's exit could flush our buffers a second
 * time), then fork(); dies when fork() fails.  Returns as fork() does. */
pid_t bench_fork(void);

/* How long a child the benchmark started (a target, a server, a manager)
 * has to say it is ready, or to end when it should: long enough for a
 * loaded machine, short enough that a hung start fails the run with a
 * reason instead of holding `make bench` for good. */
#define BENCH_START_MS 30000

/* Read exactly len bytes from fd (a child's "ready" pipe or socket) within
 * ms; otherwise die saying that `who` went away first or did not answer in
 * time. */
void bench_read_within(int fd, void *buf, size_t len, int ms, const char *who);

/* Wait up to ms for the child pid to end (its pidfd; no polling), then reap
 * it: 0 with *st (and *ru, if not NULL) filled, or -1 with errno
 * (ETIMEDOUT: still running, left as it is). */
struct rusage;
int bench_wait_within(pid_t pid, int ms, int *st, struct rusage *ru);

/* bench_wait_within(), or SIGKILL and reap the child and die saying that
 * `who` did not end within ms. */
void bench_await_child(pid_t pid, int ms, const char *who, int *st);

/* Wait (5 s at most, dying after) for `who` (PID pid, a child told to
 * quit) to exit; forget(pid), if not NULL, once it is reaped; die unless
 * it exited 0.  *ru (if not NULL): the CPU time it used (wait4()). */
void bench_await_exit(pid_t pid, const char *who, void (*forget)(pid_t), struct rusage *ru);

/* Remove path and, if it is a directory, everything below it (what a
 * benchmark's path space holds); symbolic links are removed, not followed. */
void bench_remove_tree(const char *path);

/* SIGKILL the target and reap it. */
void bench_reap_target(pid_t pid);

/* Forget the target in a forked child, so that a failing child does not
 * kill its parent's target. */
void bench_forget_target(void);

#endif
