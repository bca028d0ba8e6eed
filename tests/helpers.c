#include "helpers.h"

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/pidfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int child_read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void child_vfork_until_go(int in)
{
    pid_t c = vfork();
    if (c == 0) {
        char x;
        if (read(in, &x, 1) < 0)
            _exit(1);
        _exit(0);
    }
    if (c > 0)
        while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
            ;
}

int child_write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define PM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PM_TEST_ASAN 1
#endif
#endif

#ifdef PM_TEST_ASAN
/* Is one of our other threads running (or runnable)?  A thread asleep in a
 * system call is outside the allocator; one that is running may be inside
 * it, holding its lock. */
static int another_thread_runs(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int busy = 0;
    pid_t me = gettid();
    struct dirent *e;
    while (!busy && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == me)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        const char *paren = strrchr(buf, ')');
        busy = paren && paren[1] == ' ' && (paren[2] == 'R' || paren[2] == 'D');
    }
    closedir(d);
    return busy;
}
#endif

/* GCC 12's AddressSanitizer takes no lock around fork(): a child forked
 * while another of our threads is inside the sanitizer's allocator (a
 * thread that is starting always is) inherits that lock held, and its
 * first thread (the event relay, a server's) hangs at its first
 * allocation.  Under ASan, fork once every other thread is asleep in a
 * system call (the servers of the tests wait in MsgReceive()), or after a
 * second if one never is; glibc's own allocator needs none of this. */
pid_t test_fork(void)
{
#ifdef PM_TEST_ASAN
    long long end = now_ms() + 1000;
    while (another_thread_runs() && now_ms() < end)
        sched_yield();
#endif
    return fork();
}

int target_start(struct target *t, int (*body)(int, int, void *), void *arg)
{
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(up, O_CLOEXEC) < 0) {
        close(down[0]); close(down[1]);
        return -1;
    }
    pid_t pid = test_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        _exit(body(down[0], up[1], arg));
    }
    close(down[0]);
    close(up[1]);
    t->pid = pid;
    t->to_child = down[1];
    t->from_child = up[0];
    return 0;
}

int target_read(struct target *t, void *buf, size_t n, int ms)
{
    char *p = buf;
    long long end = now_ms() + ms;
    while (n) {
        struct pollfd pfd = { .fd = t->from_child, .events = POLLIN };
        long long left = end - now_ms();
        if (left <= 0)
            return -1;
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read(t->from_child, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int target_write(struct target *t, const void *buf, size_t n)
{
    return child_write_full(t->to_child, buf, n);
}

int reap_ms(pid_t pid, int ms)
{
    int status = -1;
    /* The pidfd becomes readable when the child exits: an event, not a poll. */
    int pfd = pidfd_open(pid, 0);
    if (pfd >= 0) {
        struct pollfd p = { .fd = pfd, .events = POLLIN };
        int r;
        do
            r = poll(&p, 1, ms);
        while (r < 0 && errno == EINTR);
        close(pfd);
        if (r == 0) {
            fprintf(stderr, "  child %d did not exit in %d ms: killing it\n", (int)pid, ms);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

int target_finish(struct target *t, int ms)
{
    if (t->to_child >= 0)
        close(t->to_child);
    if (t->from_child >= 0)
        close(t->from_child);
    t->to_child = t->from_child = -1;
    return reap_ms(t->pid, ms);
}

int run_in_child(int (*fn)(void *), void *arg, int as_nobody)
{
    pid_t pid = test_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (as_nobody && geteuid() == 0 && drop_to_nobody() < 0)
            _exit(99);
        _exit(fn(arg));
    }
    int st = reap_ms(pid, 20000);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One line of /proc/PID/maps against [addr, addr + len): 1 covered (and
 * *ok whether perms match), 0 not. */
static int maps_line_covers(const char *line, uintptr_t addr, size_t len, const char *perms,
                            int *ok)
{
    unsigned long lo, hi;
    char p[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) != 3)
        return 0;
    /* Written so that no sum can wrap: MAP_FAILED + len would, and then
     * seem to lie inside [vsyscall]. */
    if (!(addr >= lo && addr < hi && len <= hi - addr))
        return 0;
    *ok = !perms || strncmp(p, perms, 4) == 0;
    return 1;
}

/* Read with open()/read() into the stack, not stdio: a FILE and its buffer
 * are allocations, and an allocator that takes new memory then (ASan's
 * does) may place it in the very hole whose emptiness is being checked. */
int maps_has(pid_t pid, uintptr_t addr, size_t len, const char *perms)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096], line[512];
    size_t used = 0;
    int found = 0, ok = 0, done = 0;
    ssize_t n;
    while (!done && (n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && !done; i++) {
            if (buf[i] != '\n') {
                if (used < sizeof line - 1)
                    line[used++] = buf[i];
                continue;
            }
            line[used] = '\0';
            used = 0;
            if (maps_line_covers(line, addr, len, perms, &ok))
                found = done = 1;
        }
    }
    close(fd);
    if (n < 0 && !done)
        return -1;
    return found && ok;
}

int peek(pid_t pid, uintptr_t addr, void *buf, size_t n)
{
    struct iovec l = { buf, n }, r = { (void *)addr, n };
    return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

int poke(pid_t pid, uintptr_t addr, const void *buf, size_t n)
{
    struct iovec l = { (void *)buf, n }, r = { (void *)addr, n };
    return process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

static char task_state(const char *path)
{
    char buf[512];
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

char proc_state(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return task_state(path);
}

int wait_state(pid_t pid, char want, int ms)
{
    long long end = now_ms() + ms;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    for (;;) {
        DIR *d = opendir(dir);
        if (!d)
            return -1;
        int all = 1, any = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[600];
            snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
            any = 1;
            if (task_state(path) != want)
                all = 0;
        }
        closedir(d);
        if (any && all)
            return 0;
        if (now_ms() > end)
            return -1;
        /* A state change in another process has no event to wait on. */
        struct pollfd none;
        poll(&none, 0, 1);
    }
}

static char space[64];

/* Remove `name` in dirfd and everything below it, without following
 * symbolic links (the path space holds other users' directories, and in
 * the attack tests whatever an attacker put there). */
static void remove_tree(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || depth > 8)
        return;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    remove_tree(dirfd(d), e->d_name, depth + 1);
            closedir(d);
        } else {
            close(fd);
        }
    }
    unlinkat(at, name, AT_REMOVEDIR);
}

void pathspace_drop(void)
{
    if (!space[0])
        return;
    remove_tree(AT_FDCWD, space, 0);
    space[0] = 0;
}

static char policy_dir[64];

void policy_drop(void)
{
    if (policy_dir[0])
        remove_tree(AT_FDCWD, policy_dir, 0);
    policy_dir[0] = 0;
    setenv("PEERMAP_PATHSPACE_POLICY", NO_POLICY, 1);
}

int policy_set(const char *text)
{
    char file[128], tmp[140];
    if (geteuid() != 0) {
        errno = EPERM;
        return -1;
    }
    if (!policy_dir[0]) {
        strcpy(policy_dir, "/tmp/pm-test-policy-XXXXXX");
        if (!mkdtemp(policy_dir) || chmod(policy_dir, 0755) < 0) {
            policy_dir[0] = 0;
            return -1;
        }
    }
    snprintf(file, sizeof file, "%s/pathspace.conf", policy_dir);
    snprintf(tmp, sizeof tmp, "%s.new", file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n && fchmod(fd, 0644) == 0;
    close(fd);
    /* A new file (a new inode), so that the library's cache sees it. */
    if (!ok || rename(tmp, file) < 0)
        return -1;
    return setenv("PEERMAP_PATHSPACE_POLICY", file, 1);
}

const char *policy_file_dir(void)
{
    return policy_dir;
}

/* Forked children _exit(): only the test process itself runs this. */
__attribute__((destructor)) static void drop_at_exit(void)
{
    pathspace_drop();
    if (policy_dir[0])
        remove_tree(AT_FDCWD, policy_dir, 0);
}

int pathspace_fresh(void)
{
    pathspace_drop();
    strcpy(space, "/tmp/pm-test-space-XXXXXX");
    if (!mkdtemp(space) || chmod(space, 01777) < 0)
        return -1;
    /* Whatever this machine's /etc says, the tests trust only what they
     * write themselves (policy_set()). */
    if (!policy_dir[0] && setenv("PEERMAP_PATHSPACE_POLICY", NO_POLICY, 1) < 0)
        return -1;
    return setenv("PEERMAP_PATHSPACE", space, 1);
}

const char *pathspace_dir(void)
{
    return space;
}

int thread_in_syscall(const int *tid, long nr, int ms)
{
    long long end = now_ms() + ms;
    while (now_ms() < end) {
        int t = __atomic_load_n(tid, __ATOMIC_SEQ_CST);
        if (t > 0) {
            char path[64];
            long cur = -2;
            snprintf(path, sizeof path, "/proc/self/task/%d/syscall", t);
            FILE *f = fopen(path, "re");
            if (f) {
                if (fscanf(f, "%ld", &cur) != 1)
                    cur = -2;
                fclose(f);
            }
            if (cur == nr)
                return 0;
        }
        struct pollfd none;
        poll(&none, 0, 1);
    }
    return -1;
}

int thread_join_ms(pthread_t th, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(th, NULL, &ts);
}

struct stop_wait {
    pid_t pid;
    int rc;
};

static void *stop_waiter(void *arg)
{
    struct stop_wait *w = arg;
    siginfo_t si;
    do
        w->rc = waitid(P_PID, (id_t)w->pid, &si, WSTOPPED | WNOWAIT);
    while (w->rc < 0 && errno == EINTR);
    return NULL;
}

int wait_stopped(pid_t pid, int ms)
{
    struct stop_wait *w = malloc(sizeof *w);
    if (!w)
        return -1;
    *w = (struct stop_wait){ pid, -1 };
    pthread_t th;
    if (pthread_create(&th, NULL, stop_waiter, w) != 0) {
        free(w);
        return -1;
    }
    if (thread_join_ms(th, ms) != 0) {
        /* Still waiting: it ends (ECHILD) once the child is reaped, and
         * keeps w until then. */
        pthread_detach(th);
        return -1;
    }
    int rc = w->rc;
    free(w);
    return rc;
}

int unprivileged(void)
{
    return geteuid() != 0;
}

int drop_to_uid(uid_t uid)
{
    if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    if (geteuid() != uid) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

int drop_to_nobody(void)
{
    return drop_to_uid(NOBODY);
}

int wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1 ? 0 : -1;
}

long take_event(int efd, int ms)
{
    uint64_t v = 0;
    if (wait_readable(efd, ms) < 0 || read(efd, &v, sizeof v) != sizeof v)
        return 0;
    return (long)v;
}

int obedient_body(int in, int out, void *arg)
{
    (void)arg;
    struct cmd c;
    uint64_t v;
    if (child_write_full(out, "R", 1) < 0)
        return 10;
    while (child_read_full(in, &c, sizeof c) == 0) {
        switch (c.op) {
        case CMD_QUIT:
            return 0;
        case CMD_READ:
            memcpy(&v, (void *)(uintptr_t)c.addr, sizeof v);
            break;
        case CMD_WRITE:
            memcpy((void *)(uintptr_t)c.addr, &c.val, sizeof c.val);
            v = c.val;
            break;
        case CMD_PING:
            v = 0x504f4e47; /* "PONG" */
            break;
        default:
            return 11;
        }
        if (child_write_full(out, &v, sizeof v) < 0)
            return 12;
    }
    return 0;
}

int target_start_ready(struct target *t, int (*body)(int in, int out, void *arg), void *arg)
{
    unsigned char r;
    if (target_start(t, body, arg) < 0)
        return -1;
    return target_read(t, &r, 1, 10000) == 0 ? r : -1;
}

int obedient_start(struct target *t)
{
    return target_start_ready(t, obedient_body, NULL) == 'R' ? 0 : -1;
}

static int obedient_cmd(struct target *t, uint32_t op, uintptr_t addr,
                        uint64_t val, uint64_t *out)
{
    struct cmd c = { op, addr, val };
    uint64_t v;
    if (target_write(t, &c, sizeof c) < 0 || target_read(t, &v, sizeof v, 10000) < 0)
        return -1;
    if (out)
        *out = v;
    return 0;
}

int obedient_read(struct target *t, uintptr_t addr, uint64_t *val)
{
    return obedient_cmd(t, CMD_READ, addr, 0, val);
}

int obedient_write(struct target *t, uintptr_t addr, uint64_t val)
{
    return obedient_cmd(t, CMD_WRITE, addr, val, NULL);
}

int obedient_ping(struct target *t)
{
    uint64_t v = 0;
    return obedient_cmd(t, CMD_PING, 0, 0, &v) == 0 && v == 0x504f4e47 ? 0 : -1;
}
