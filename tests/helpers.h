/*
 * Target processes for the tests.  A target is a forked child that reports
 * "ready" on a pipe once it is in the state the test wants, then waits for the
 * test to release it.  Everything is synchronised with pipes and waitid(); every
 * wait has a deadline so that a broken library fails a test instead of hanging
 * the suite.
 */
#ifndef PEERMAP_TEST_HELPERS_H
#define PEERMAP_TEST_HELPERS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct target {
    pid_t pid;
    int to_child;    /* test -> child: the child reads commands/bytes here */
    int from_child;  /* child -> test: ready byte, results */
};

/* fork(), once no other thread of ours can be inside the allocator (see
 * helpers.c: the sanitizer's allocator is not fork-safe). */
pid_t test_fork(void);

/* Fork a child running body(in, out); the child _exit()s with its return. */
int target_start(struct target *t, int (*body)(int in, int out, void *arg), void *arg);

/* target_start(), then wait (10 s at most) for the one byte a child
 * writes when it is ready: that byte, or -1. */
int target_start_ready(struct target *t, int (*body)(int in, int out, void *arg), void *arg);

/* Read exactly n bytes from the child, waiting at most ms milliseconds.
 * Returns 0, or -1 (timeout, EOF or error). */
int target_read(struct target *t, void *buf, size_t n, int ms);
int target_write(struct target *t, const void *buf, size_t n);

/* Close both pipes and reap the child (SIGKILL after ms if still alive).
 * Returns the wait status, or -1. */
int target_finish(struct target *t, int ms);

/* Reap pid, a child of ours, waiting (on its pidfd) ms at most: its wait
 * status, or -1 (it was still running: SIGKILLed and reaped, or waitpid()
 * failed). */
int reap_ms(pid_t pid, int ms);

/* Run fn(arg) in a forked child - as nobody first when as_nobody and we are
 * root (exit code 99 if that fails) - for 20 s at most: its exit code, or
 * -1 (a signal ended it, or the deadline did). */
int run_in_child(int (*fn)(void *), void *arg, int as_nobody);

/* Helpers run inside children. */
int child_read_full(int fd, void *buf, size_t n);
int child_write_full(int fd, const void *buf, size_t n);
/* vfork(): the child waits for the test's go (a byte on `in`) and exits;
 * the caller, a vfork parent until then, sleeps uninterruptibly - ptrace
 * cannot stop it.  Returns once the child has exited. */
void child_vfork_until_go(int in);

/* Does [addr, addr+len) appear in /proc/pid/maps?  If perms is not NULL, the
 * first four permission characters of the covering mapping must match it
 * ("rw-s", "r--p", ...). 1 yes, 0 no, -1 on error. */
int maps_has(pid_t pid, uintptr_t addr, size_t len, const char *perms);

/* Read/write the target's memory (process_vm_readv/writev). 0 or -1. */
int peek(pid_t pid, uintptr_t addr, void *buf, size_t n);
int poke(pid_t pid, uintptr_t addr, const void *buf, size_t n);

/* The one-letter state in /proc/pid/stat ('R', 'S', 'T', 't', 'Z'...), or 0. */
char proc_state(pid_t pid);

/* Wait (deadline ms) until /proc/pid/stat shows state `want` for every thread. */
int wait_state(pid_t pid, char want, int ms);

/* A fresh, empty path space of the test's own (PEERMAP_PATHSPACE, mode
 * 01777 so that an unprivileged manager may attach), replacing the previous
 * one, which is removed with whatever killed managers left in it; the last
 * one goes at exit.  0 or -1. */
int pathspace_fresh(void);
void pathspace_drop(void);
/* Its directory ("" when there is none). */
const char *pathspace_dir(void);

/* The path-space trust policy the tests use (PEERMAP_PATHSPACE_POLICY):
 * none at all (a file that cannot exist: "/" is root's) unless policy_set()
 * wrote one - root only (the library obeys only root's policy files): a
 * fresh root-owned directory of mode 0755 holding `text` as a 0644 file.
 * 0, or -1 with errno (EPERM when not root).  policy_drop() goes back to
 * none; the directory goes at exit. */
#define NO_POLICY "/nonexistent-peermap-test/pathspace.conf"
int policy_set(const char *text);
void policy_drop(void);
const char *policy_file_dir(void);

/* Wait (ms at most) until thread *tid of this process (0 until it has
 * started) sits in system call nr.  No event says so; /proc does, looked at
 * every millisecond.  0, or -1 on timeout. */
int thread_in_syscall(const int *tid, long nr, int ms);

/* Wait (ms at most) until pid, a child of ours, is stopped: waitid()'s
 * report of the whole group's stop, left for whoever reaps it (WNOWAIT).
 * 0, or -1. */
int wait_stopped(pid_t pid, int ms);

/* pthread_join() with a deadline: 0, or ETIMEDOUT. */
int thread_join_ms(pthread_t th, int ms);

/* The user the attacker children of the tests become. */
#define NOBODY 65534

/* Become uid (and gid) `uid` with no supplementary groups: setgroups(),
 * setresgid() while we still may, then setresuid().  0, or -1 with errno
 * (also when the effective uid is not `uid` afterwards). */
int drop_to_uid(uid_t uid);
/* drop_to_uid(NOBODY). */
int drop_to_nobody(void);

/* Wait (ms at most) until fd is readable: 0, or -1 (timeout or error). */
int wait_readable(int fd, int ms);
/* Take an eventfd's count, waiting at most ms for it to be non-zero: the
 * count, or 0 (timeout or error). */
long take_event(int efd, int ms);

/* tests/proc.c: another process as /proc shows it. */
/* The descriptors pid holds (entries of /proc/pid/fd; for ourselves, that
 * counts the directory's own descriptor too), or -1. */
int count_fds(pid_t pid);
/* Field `field` of /proc/pid/stat, numbered as in proc(5) (14 utime, 15
 * stime, 22 starttime; numeric fields only, 4 and up).  0, or -1. */
int proc_stat_field(pid_t pid, int field, unsigned long long *v);
/* Its start time (field 22), or 0 when it cannot be read. */
unsigned long long proc_start_time(pid_t pid);

/* True when the tests run unprivileged (see run-unprivileged.sh). */
int unprivileged(void);

/* Monotonic milliseconds. */
long long now_ms(void);

/* A target that obeys simple commands on its pipe: it is blocked in read()
 * between commands, which is also the state a test wants most often. */
enum { CMD_QUIT, CMD_READ, CMD_WRITE, CMD_PING };
struct cmd { uint32_t op; uint64_t addr; uint64_t val; };
int obedient_body(int in, int out, void *arg);

/* Start an obedient target and wait for its ready byte. */
int obedient_start(struct target *t);
/* Ask it to read/write 8 bytes at addr in its own memory. 0 or -1. */
int obedient_read(struct target *t, uintptr_t addr, uint64_t *val);
int obedient_write(struct target *t, uintptr_t addr, uint64_t val);
int obedient_ping(struct target *t);

#endif
