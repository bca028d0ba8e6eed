/*
 * The peermap(1) tool, run as an operator would run it: a separate program,
 * its output read from pipes, its exit status checked.  The targets are idle
 * children of this test, blocked in read() on a pipe, so the tool (a sibling)
 * must stop them from outside.  Everything also runs as nobody with
 * PEERMAP_ABILITIES=mem_peer (see run-unprivileged.sh).
 */
#include "harness.h"
#include "helpers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

#define TOOL_DEADLINE_MS 30000
#define TARGET_DEADLINE_MS 5000
#define MAX_ARGS 24

struct run {
    int status;         /* exit status, 128 + signal, or -1 when not run */
    char *out, *err;    /* NUL-terminated */
    size_t outlen, errlen;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static const char *tool_path(void)
{
    const char *p = getenv("PEERMAP_TOOL");
    return p && *p ? p : NULL;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb)
        abort();
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

/*
 * Run the tool with `args` (NULL-terminated, argv[0] not included) and the
 * environment `envp`.  Both pipes are drained together because a tool that
 * fills one while we block on the other would deadlock.  A tool that outlives
 * the deadline is killed, so a hanging library fails the test instead of the
 * whole suite.
 */
static void run_tool_env(struct run *r, char *const envp[], const char *const args[])
{
    const char *tool = tool_path();
    char *argv[MAX_ARGS + 2];
    int out[2], err[2], n = 0;

    memset(r, 0, sizeof *r);
    r->status = -1;
    append(&r->out, &r->outlen, "", 0);
    append(&r->err, &r->errlen, "", 0);
    argv[n++] = (char *)tool;
    for (; args[n - 1] && n <= MAX_ARGS; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    if (pipe2(out, O_CLOEXEC) < 0)
        return;
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execve(tool, argv, envp);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        close(out[0]);
        close(err[0]);
        return;
    }

    struct pollfd pfd[2] = { { .fd = out[0], .events = POLLIN },
                             { .fd = err[0], .events = POLLIN } };
    long long deadline = now_ms() + TOOL_DEADLINE_MS;
    bool killed = false;
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        long long left = deadline - now_ms();
        int k = left > 0 ? poll(pfd, 2, (int)left) : 0;
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            fprintf(stderr, "  tool still running after %d ms: killing it\n", TOOL_DEADLINE_MS);
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        for (int i = 0; i < 2; i++) {
            char buf[4096];
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            ssize_t got = read(pfd[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
                continue;
            }
            if (i == 0)
                append(&r->out, &r->outlen, buf, (size_t)got);
            else
                append(&r->err, &r->errlen, buf, (size_t)got);
        }
    }
    for (int i = 0; i < 2; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (killed)
        r->status = -1;
}

static void run_toolv(struct run *r, const char *const args[])
{
    run_tool_env(r, environ, args);
}

#define RUN(r, ...) run_toolv((r), (const char *const[]){ __VA_ARGS__, NULL })

/* On a mismatch, show what the tool said: the status alone rarely explains. */
#define CHECK_EXIT(r, want)                                                  \
    do {                                                                     \
        if ((r)->status != (want))                                           \
            fprintf(stderr, "  tool stdout: [%s]\n  tool stderr: [%s]\n",    \
                    (r)->out, (r)->err);                                     \
        CHECK_EQ_LONG((r)->status, (want));                                  \
    } while (0)

static bool has(const char *haystack, const char *needle)
{
    return haystack && strstr(haystack, needle) != NULL;
}

/* The tool prints the address and nothing else: "0x<hex>\n". */
static bool parse_addr(const char *out, uintptr_t *addr)
{
    char *end;
    if (strncmp(out, "0x", 2) != 0 || !((out[2] >= '0' && out[2] <= '9') ||
                                        (out[2] >= 'a' && out[2] <= 'f')))
        return false;
    errno = 0;
    unsigned long long v = strtoull(out + 2, &end, 16);
    if (errno || strcmp(end, "\n") != 0)
        return false;
    *addr = (uintptr_t)v;
    return true;
}

static const char *fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, n, f, ap);
    va_end(ap);
    return buf;
}

/* Run `map`, check it succeeded, and return the address it printed (0 when
 * it did not). */
static uintptr_t map_ok(const char *const args[])
{
    struct run r;
    uintptr_t addr = 0;

    run_toolv(&r, args);
    CHECK_EXIT(&r, 0);
    if (r.status == 0) {
        if (!parse_addr(r.out, &addr)) {
            fprintf(stderr, "  map printed [%s], not an address\n", r.out);
            pm_cur_failed = 1;
            addr = 0;
        } else if (addr % (uintptr_t)sysconf(_SC_PAGESIZE)) {
            fprintf(stderr, "  map printed an unaligned address 0x%" PRIxPTR "\n", addr);
            pm_cur_failed = 1;
        }
        CHECK(r.errlen == 0);
    }
    run_free(&r);
    return addr;
}

#define MAP_OK(...) map_ok((const char *const[]){ "map", __VA_ARGS__, NULL })

static void unmap_ok(pid_t pid, uintptr_t addr, size_t len)
{
    char p[16], a[32], l[32];
    struct run r;

    RUN(&r, "unmap", fmt(p, sizeof p, "%d", (int)pid), fmt(a, sizeof a, "0x%" PRIxPTR, addr),
        fmt(l, sizeof l, "%zu", len));
    CHECK_EXIT(&r, 0);
    CHECK(r.outlen == 0 && r.errlen == 0);
    run_free(&r);
}

/* ---- targets -------------------------------------------------------------- */

/* What a target is asked to do with its own memory: proof that a mapping is
 * usable by the process itself, not just visible to process_vm_readv. */
struct tcmd {
    char op;            /* 'W': copy data to addr; 'R': send len bytes from addr */
    uintptr_t addr;
    size_t len;
    unsigned char data[64];
};

static int target_body(int in, int out, void *arg)
{
    (void)arg;
    /* Under Yama ptrace_scope 1 only ancestors may trace; the tool is a
     * sibling.  EINVAL without Yama is fine. */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    if (child_write_full(out, "r", 1) < 0)
        return 2;
    for (;;) {
        struct tcmd c;
        unsigned char buf[sizeof c.data];
        /* No retry on EINTR: without a signal handler a blocked read() must
         * never see it, so EINTR means a peer call disturbed this process. */
        ssize_t n = read(in, &c, sizeof c);
        if (n == 0)
            return 0;
        if (n < 0)
            return errno == EINTR ? 3 : 2;
        if (n != (ssize_t)sizeof c || c.len > sizeof c.data)
            return 4;
        if (c.op == 'W') {
            memcpy((void *)c.addr, c.data, c.len);
            if (child_write_full(out, "k", 1) < 0)
                return 2;
        } else {
            memcpy(buf, (const void *)c.addr, c.len);
            if (child_write_full(out, buf, c.len) < 0)
                return 2;
        }
    }
}

static bool spawn(struct target *t)
{
    char c;
    if (target_start(t, target_body, NULL) < 0)
        return false;
    if (target_read(t, &c, 1, TARGET_DEADLINE_MS) < 0) {
        target_finish(t, TARGET_DEADLINE_MS);
        return false;
    }
    return true;
}

/* The target must have survived everything the tool did to it, and exit
 * cleanly once released. */
static void finish(struct target *t)
{
    int st = target_finish(t, TARGET_DEADLINE_MS);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        if (WIFSIGNALED(st))
            fprintf(stderr, "  target died of signal %d\n", WTERMSIG(st));
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
            fprintf(stderr, "  target's blocked read() failed with EINTR\n");
        else
            fprintf(stderr, "  target ended with wait status 0x%x\n", (unsigned)st);
        pm_cur_failed = 1;
    }
}

static int tgt_store(struct target *t, uintptr_t addr, const void *data, size_t n)
{
    struct tcmd c = { .op = 'W', .addr = addr, .len = n };
    char ack;
    memcpy(c.data, data, n);
    if (target_write(t, &c, sizeof c) < 0)
        return -1;
    return target_read(t, &ack, 1, TARGET_DEADLINE_MS);
}

static int tgt_load(struct target *t, uintptr_t addr, void *buf, size_t n)
{
    struct tcmd c = { .op = 'R', .addr = addr, .len = n };
    if (target_write(t, &c, sizeof c) < 0)
        return -1;
    return target_read(t, buf, n, TARGET_DEADLINE_MS);
}

/* A PID that certainly names no process: a child that has been reaped.  PIDs
 * are reused only after the whole range wraps. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0)
        waitpid(p, NULL, 0);
    return p;
}

/* The tool runs as the same user as this test and needs the ability too; an
 * operator who is not root sets this variable. */
static bool setup(void)
{
    if (!tool_path())
        return false;
    setenv("PEERMAP_ABILITIES", "mem_peer", 0);
    return true;
}

#define SETUP()                                                              \
    do {                                                                     \
        if (!setup())                                                        \
            SKIP("PEERMAP_TOOL is not set (run through ctest)");             \
    } while (0)

static long page_size(void)
{
    return sysconf(_SC_PAGESIZE);
}

/* ---- tests ---------------------------------------------------------------- */

TEST(help_and_version)
{
    struct run r;
    SETUP();

    RUN(&r, "--help");
    CHECK_EXIT(&r, 0);
    CHECK(has(r.out, "Usage:"));
    CHECK(has(r.out, "PEERMAP_ABILITIES"));
    CHECK(has(r.out, "PEERMAP_TIMEOUT_MS"));
    CHECK(has(r.out, "PEERMAP_PHYSMEM"));
    CHECK(has(r.out, "Exit status"));
    CHECK(r.errlen == 0);
    char *help = strdup(r.out);
    run_free(&r);

    RUN(&r, "help");
    CHECK_EXIT(&r, 0);
    CHECK(help && strcmp(r.out, help) == 0);
    run_free(&r);
    free(help);

    RUN(&r, "map", "--help");
    CHECK_EXIT(&r, 0);
    CHECK(has(r.out, "--noreplace"));
    run_free(&r);

    RUN(&r, "--version");
    CHECK_EXIT(&r, 0);
    CHECK(strcmp(r.out, "peermap 0.1.0\n") == 0);
    run_free(&r);
}

TEST(usage_errors)
{
    char pid[16];
    SETUP();
    /* A dead PID: should a bad argument slip through, the tool reports ESRCH
     * (3) instead of 2, and touches no process. */
    fmt(pid, sizeof pid, "%d", (int)dead_pid());
    const char *const cases[][8] = {
        { NULL },
        { "frobnicate", NULL },
        { "--bogus", NULL },
        { "help", "map", NULL },
        { "map", NULL },
        { "map", pid, NULL },
        { "map", pid, "4096", "extra", NULL },
        { "map", pid, "12abc", NULL },
        { "map", pid, "0x", NULL },
        { "map", pid, " 4096", NULL },
        { "map", pid, "+4096", NULL },
        { "map", pid, "-4096", NULL },
        { "map", pid, "4KK", NULL },
        { "map", pid, "4T", NULL },
        { "map", pid, "99999999999999999999999", NULL },
        { "map", pid, "0x10000000000000000", NULL },
        { "map", pid, "17179869184G", NULL },
        { "map", "12x", "4096", NULL },
        { "map", "0x10", "4096", NULL },
        { "map", "-1", "4096", NULL },
        { "map", "0", "4096", NULL },
        { "map", "99999999999", "4096", NULL },
        { "map", pid, "4096", "--prot", "rwz", NULL },
        { "map", pid, "4096", "--prot", "rr", NULL },
        { "map", pid, "4096", "--prot", "", NULL },
        { "map", pid, "4096", "--prot", NULL },
        { "map", pid, "4096", "--shared", "--private", NULL },
        { "map", pid, "4096", "--file", "/x", "--shm", "y", NULL },
        { "map", pid, "4096", "--fixed", NULL },
        { "map", pid, "4096", "--noreplace", NULL },
        { "map", pid, "4096", "--at", "0x1000", "--fixed", "--noreplace", NULL },
        { "map", pid, "4096", "--at", "0x1000x", NULL },
        { "map", pid, "4096", "--at", "4K", NULL },
        { "map", pid, "4096", "--offset", "4096", NULL },
        { "map", pid, "4096", "--file", "/x", "--offset", "1Q", NULL },
        { "map", pid, "4096", "--file", "/x", "--offset", "0x8000000000000000", NULL },
        { "map", pid, "4096", "--nocache", NULL },
        { "map", pid, "4096", "--bogus", NULL },
        { "unmap", pid, "0x1000", NULL },
        { "unmap", pid, "0x1000", "4096", "1", NULL },
        { "unmap", pid, "0x1000k", "4096", NULL },
        { "maps", NULL },
        { "maps", pid, "extra", NULL },
        { "maps", "self", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        run_toolv(&r, cases[i]);
        if (r.status != 2 || !has(r.err, "Usage:") || r.outlen != 0) {
            fprintf(stderr, "  case %zu:", i);
            for (int j = 0; cases[i][j]; j++)
                fprintf(stderr, " '%s'", cases[i][j]);
            fprintf(stderr, "\n");
        }
        CHECK_EXIT(&r, 2);
        CHECK(has(r.err, "Usage:"));
        CHECK(r.outlen == 0);
        run_free(&r);
    }
}

/* getopt would call "-5" an invalid option; the tool says what it is. */
TEST(negative_numbers_are_named)
{
    char pid[16];
    SETUP();
    fmt(pid, sizeof pid, "%d", (int)dead_pid());
    const struct { const char *args[8]; const char *says; } cases[] = {
        { { "map", "-5", "4K", NULL }, "PID '-5' is negative" },
        { { "map", pid, "-4K", NULL }, "LEN '-4K' is negative" },
        { { "map", "--prot", "r", "-5", "4K", NULL }, "PID '-5' is negative" },
        { { "map", "--", "-5", "4K", NULL }, "PID '-5' is negative" },
        { { "map", pid, "4K", "--file", "/x", "--offset", "-1", NULL }, "offset '-1' is negative" },
        { { "map", pid, "4K", "--at", "-0x1000", NULL }, "ADDR '-0x1000' is negative" },
        { { "unmap", pid, "-0x1000", "4K", NULL }, "ADDR '-0x1000' is negative" },
        { { "unmap", "-1", "0x1000", "4K", NULL }, "PID '-1' is negative" },
        { { "maps", "-1", NULL }, "PID '-1' is negative" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        run_toolv(&r, cases[i].args);
        if (!has(r.err, cases[i].says))
            fprintf(stderr, "  case %zu: want \"%s\"\n", i, cases[i].says);
        CHECK_EXIT(&r, 2);
        CHECK(has(r.err, cases[i].says));
        CHECK(!has(r.err, "invalid option"));
        CHECK(r.outlen == 0);
        run_free(&r);
    }
}

TEST(nonexistent_pid)
{
    char pid[16];
    struct run r;
    SETUP();
    fmt(pid, sizeof pid, "%d", (int)dead_pid());

    RUN(&r, "map", pid, "4096");
    CHECK_EXIT(&r, 3);
    CHECK(r.outlen == 0);
    CHECK(strncmp(r.err, "peermap: ", 9) == 0);
    CHECK(has(r.err, strerror(ESRCH)));
    run_free(&r);

    RUN(&r, "unmap", pid, "0x10000", "4K");
    CHECK_EXIT(&r, 3);
    CHECK(has(r.err, strerror(ESRCH)));
    run_free(&r);

    RUN(&r, "maps", pid);
    CHECK_EXIT(&r, 3);
    CHECK(has(r.err, strerror(ESRCH)));
    CHECK(r.outlen == 0);
    run_free(&r);
}

static void len_zero_body(struct target *t)
{
    char pid[16];
    struct run r;
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    RUN(&r, "map", pid, "0");
    CHECK_EXIT(&r, 1);
    CHECK(r.outlen == 0);
    CHECK(strncmp(r.err, "peermap: ", 9) == 0);
    CHECK(has(r.err, strerror(EINVAL)));
    run_free(&r);

    RUN(&r, "unmap", pid, "0x10000", "0");
    CHECK_EXIT(&r, 1);
    CHECK(has(r.err, strerror(EINVAL)));
    run_free(&r);
}

TEST(len_zero)
{
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    len_zero_body(&t);
    finish(&t);
}

static void map_anonymous_body(struct target *t)
{
    const size_t len = 64 * 1024;
    const char one[] = "written by the target", two[] = "written from outside";
    char pid[16], buf[64];
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    uintptr_t a = MAP_OK(pid, "64K");
    REQUIRE(a);
    CHECK_EQ_LONG(maps_has(t->pid, a, len, "rw-p"), 1);

    /* The target writes its new memory, first and last bytes included. */
    REQUIRE(tgt_store(t, a, one, sizeof one) == 0);
    REQUIRE(tgt_store(t, a + len - sizeof one, one, sizeof one) == 0);
    REQUIRE(peek(t->pid, a, buf, sizeof one) == 0);
    CHECK(memcmp(buf, one, sizeof one) == 0);
    REQUIRE(peek(t->pid, a + len - sizeof one, buf, sizeof one) == 0);
    CHECK(memcmp(buf, one, sizeof one) == 0);
    REQUIRE(poke(t->pid, a + 100, two, sizeof two) == 0);
    REQUIRE(tgt_load(t, a + 100, buf, sizeof two) == 0);
    CHECK(memcmp(buf, two, sizeof two) == 0);

    uintptr_t b = MAP_OK(pid, "0x1000", "--prot", "r");
    REQUIRE(b);
    CHECK_EQ_LONG(maps_has(t->pid, b, 4096, "r--p"), 1);
    REQUIRE(tgt_load(t, b + 4000, buf, 16) == 0);
    static const char zeros[16];
    CHECK(memcmp(buf, zeros, 16) == 0);

    uintptr_t c = MAP_OK(pid, "4096", "--prot", "none", "--private");
    REQUIRE(c);
    CHECK_EQ_LONG(maps_has(t->pid, c, 4096, "---p"), 1);

    unmap_ok(t->pid, a, len);
    CHECK_EQ_LONG(maps_has(t->pid, a, 1, NULL), 0);
    CHECK_EQ_LONG(maps_has(t->pid, a + len - 1, 1, NULL), 0);
    unmap_ok(t->pid, b, 4096);
    CHECK_EQ_LONG(maps_has(t->pid, b, 1, NULL), 0);
    unmap_ok(t->pid, c, 4096);
    CHECK_EQ_LONG(maps_has(t->pid, c, 1, NULL), 0);
}

TEST(map_anonymous)
{
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    map_anonymous_body(&t);
    finish(&t);
}

static void map_at_body(struct target *t)
{
    char pid[16], at[32];
    struct run r;
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    /* A hole the kernel chose: free once unmapped, and idle targets do not
     * map anything on their own. */
    uintptr_t hole = MAP_OK(pid, "8K");
    REQUIRE(hole);
    unmap_ok(t->pid, hole, 8192);
    fmt(at, sizeof at, "0x%" PRIxPTR, hole);

    uintptr_t a = MAP_OK(pid, "4K", "--at", at, "--noreplace");
    CHECK_EQ_LONG(a, hole);
    CHECK_EQ_LONG(maps_has(t->pid, hole, 4096, "rw-p"), 1);

    RUN(&r, "map", pid, "4K", "--at", at, "--noreplace");
    CHECK_EXIT(&r, 1);
    /* Said once, though the library's reason ends with it too. */
    const char *e1 = strstr(r.err, strerror(EEXIST));
    CHECK(e1 != NULL);
    CHECK(e1 == NULL || strstr(e1 + 1, strerror(EEXIST)) == NULL);
    run_free(&r);

    uintptr_t b = MAP_OK(pid, "8K", "--at", at, "--fixed", "--prot", "r");
    CHECK_EQ_LONG(b, hole);
    CHECK_EQ_LONG(maps_has(t->pid, hole, 8192, "r--p"), 1);

    unmap_ok(t->pid, hole, 8192);
    CHECK_EQ_LONG(maps_has(t->pid, hole, 1, NULL), 0);
}

TEST(map_at_fixed_noreplace)
{
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    map_at_body(&t);
    finish(&t);
}

/* A file the tool (same user) can open, in a directory any user can write:
 * the suite also runs as nobody. */
static int make_temp(char *path, size_t n)
{
    const char *dirs[] = { getenv("TMPDIR"), "/tmp", "/dev/shm", "/var/tmp" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        snprintf(path, n, "%s/peermap-cli-XXXXXX", dirs[i]);
        int fd = mkstemp(path);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

/* body(target, fd, path) with a fresh temporary file (fd, open, at path)
 * and a fresh target, both gone afterwards. */
static void with_file_and_target(void (*body)(struct target *t, int fd, const char *path))
{
    char path[256];
    struct target t;
    int fd = make_temp(path, sizeof path);
    if (fd < 0)
        SKIP("no writable temporary directory");
    if (spawn(&t)) {
        body(&t, fd, path);
        finish(&t);
    } else {
        CHECK(!"target started");
    }
    unlink(path);
    close(fd);
}

static void map_file_body(struct target *t, int fd, const char *path)
{
    const long pg = page_size();
    const char p0[] = "page zero", p1[] = "page one", upd[] = "updated through the file",
               tw[] = "written by the target", priv[] = "private copy";
    char pid[16], len[32], buf[64];
    fmt(pid, sizeof pid, "%d", (int)t->pid);
    fmt(len, sizeof len, "%ld", 2 * pg);

    REQUIRE(ftruncate(fd, 2 * pg) == 0);
    REQUIRE(pwrite(fd, p0, sizeof p0, 0) == (ssize_t)sizeof p0);
    REQUIRE(pwrite(fd, p1, sizeof p1, pg) == (ssize_t)sizeof p1);

    /* Shared and read-write by default. */
    uintptr_t a = MAP_OK(pid, len, "--file", path);
    REQUIRE(a);
    CHECK_EQ_LONG(maps_has(t->pid, a, (size_t)(2 * pg), "rw-s"), 1);
    REQUIRE(peek(t->pid, a, buf, sizeof p0) == 0);
    CHECK(memcmp(buf, p0, sizeof p0) == 0);
    REQUIRE(tgt_load(t, a + (uintptr_t)pg, buf, sizeof p1) == 0);
    CHECK(memcmp(buf, p1, sizeof p1) == 0);

    /* One page cache: writes through the file show in the target's mapping,
     * and the target's stores show in the file. */
    REQUIRE(pwrite(fd, upd, sizeof upd, 0) == (ssize_t)sizeof upd);
    REQUIRE(peek(t->pid, a, buf, sizeof upd) == 0);
    CHECK(memcmp(buf, upd, sizeof upd) == 0);
    REQUIRE(tgt_store(t, a + 200, tw, sizeof tw) == 0);
    REQUIRE(pread(fd, buf, sizeof tw, 200) == (ssize_t)sizeof tw);
    CHECK(memcmp(buf, tw, sizeof tw) == 0);

    /* An offset with a suffix (one page: "4K", "16K" or "64K"), read-only:
     * the file is opened O_RDONLY. */
    char pgk[32];
    fmt(pgk, sizeof pgk, "%ldK", pg / 1024);
    uintptr_t b = MAP_OK(pid, "4K", "--file", path, "--offset", pgk, "--prot", "r");
    REQUIRE(b);
    CHECK_EQ_LONG(maps_has(t->pid, b, 4096, "r--s"), 1);
    REQUIRE(peek(t->pid, b, buf, sizeof p1) == 0);
    CHECK(memcmp(buf, p1, sizeof p1) == 0);

    /* An unaligned offset (QNX semantics): the address printed is that of
     * the offset itself, inside the first mapped page, and unmap takes it. */
    struct run u;
    uintptr_t d;
    char off[32];
    RUN(&u, "map", pid, "16", "--file", path, "--offset", fmt(off, sizeof off, "0x%lx", pg + 5),
        "--prot", "r");
    CHECK_EXIT(&u, 0);
    if (u.status == 0 && parse_addr(u.out, &d)) {
        CHECK_EQ_LONG(d % (uintptr_t)pg, 5);
        CHECK(peek(t->pid, d, buf, sizeof p1 - 5) == 0 &&
              memcmp(buf, p1 + 5, sizeof p1 - 5) == 0);
        unmap_ok(t->pid, d, 16);
        CHECK_EQ_LONG(maps_has(t->pid, d, 1, NULL), 0);
    }
    run_free(&u);

    /* Private: the target's stores stay in its copy. */
    uintptr_t c = MAP_OK(pid, "4K", "--file", path, "--private");
    REQUIRE(c);
    CHECK_EQ_LONG(maps_has(t->pid, c, 4096, "rw-p"), 1);
    REQUIRE(tgt_store(t, c + 500, priv, sizeof priv) == 0);
    REQUIRE(peek(t->pid, c + 500, buf, sizeof priv) == 0);
    CHECK(memcmp(buf, priv, sizeof priv) == 0);
    REQUIRE(pread(fd, buf, sizeof priv, 500) == (ssize_t)sizeof priv);
    CHECK(memcmp(buf, priv, sizeof priv) != 0);

    unmap_ok(t->pid, a, (size_t)(2 * pg));
    CHECK_EQ_LONG(maps_has(t->pid, a, 1, NULL), 0);
    unmap_ok(t->pid, b, 4096);
    unmap_ok(t->pid, c, 4096);
    CHECK_EQ_LONG(maps_has(t->pid, b, 1, NULL), 0);
    CHECK_EQ_LONG(maps_has(t->pid, c, 1, NULL), 0);

    struct run r;
    RUN(&r, "map", pid, "4K", "--file", "/nonexistent/peermap-cli");
    CHECK_EXIT(&r, 1);
    CHECK(has(r.err, strerror(ENOENT)));
    run_free(&r);
}

TEST(map_file)
{
    SETUP();
    with_file_and_target(map_file_body);
}

static void map_shm_body(struct target *t, const char *name)
{
    const char one[] = "shared memory object", two[] = "changed later";
    char pid[16], buf[64];
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    int fd = shm_open(name, O_RDWR, 0);
    REQUIRE(fd >= 0);
    char *local = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    REQUIRE(local != MAP_FAILED);
    memcpy(local, one, sizeof one);

    uintptr_t a = MAP_OK(pid, "8K", "--shm", name);
    if (a) {
        CHECK_EQ_LONG(maps_has(t->pid, a, 8192, "rw-s"), 1);
        CHECK(peek(t->pid, a, buf, sizeof one) == 0 && memcmp(buf, one, sizeof one) == 0);
        memcpy(local + 4096, two, sizeof two);
        CHECK(peek(t->pid, a + 4096, buf, sizeof two) == 0 &&
              memcmp(buf, two, sizeof two) == 0);
        CHECK(tgt_store(t, a + 64, two, sizeof two) == 0);
        CHECK(memcmp(local + 64, two, sizeof two) == 0);
        unmap_ok(t->pid, a, 8192);
        CHECK_EQ_LONG(maps_has(t->pid, a, 1, NULL), 0);
    }
    munmap(local, 8192);

    struct run r;
    RUN(&r, "map", pid, "4K", "--shm", "/peermap-cli-does-not-exist");
    CHECK_EXIT(&r, 1);
    CHECK(has(r.err, strerror(ENOENT)));
    run_free(&r);
}

TEST(map_shm)
{
    static int serial;
    char name[64];
    struct target t;
    SETUP();
    fmt(name, sizeof name, "/peermap-cli-%d-%d", (int)getpid(), serial++);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        SKIP("shm_open(%s): %s", name, strerror(errno));
    int ok = ftruncate(fd, 8192) == 0;
    close(fd);
    if (ok && spawn(&t)) {
        map_shm_body(&t, name);
        finish(&t);
    } else {
        CHECK(!"shared memory object sized and target started");
    }
    shm_unlink(name);
}

static void maps_body(struct target *t)
{
    char pid[16], exe[4096];
    struct run r;
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    RUN(&r, "maps", pid);
    CHECK_EXIT(&r, 0);
    CHECK(r.errlen == 0);
    CHECK(strncmp(r.out, "START-END", 9) == 0);
    CHECK(has(r.out, "[stack]"));
    /* The target is a fork of this program. */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        CHECK(has(r.out, exe));
    }
    /* Each line's range is the target's, in the notation unmap accepts. */
    char *line = strchr(r.out, '\n');
    REQUIRE(line);
    unsigned long long lo, hi;
    CHECK(sscanf(line + 1, "0x%llx-0x%llx", &lo, &hi) == 2 && lo < hi &&
          maps_has(t->pid, (uintptr_t)lo, (size_t)(hi - lo), NULL) == 1);
    run_free(&r);
}

TEST(maps_lists_mappings)
{
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    maps_body(&t);
    finish(&t);
}

#define ENV_MAX 512

/* This process's environment for the tool, without variable `name` and, when
 * `value` is not NULL, with name=value instead.  `buf` holds that string. */
static char **env_with(char **env, const char *name, const char *value, char *buf,
                       size_t bufsz)
{
    size_t n = 0, len = strlen(name);
    for (char **e = environ; *e && n < ENV_MAX - 2; e++)
        if (!(strncmp(*e, name, len) == 0 && (*e)[len] == '='))
            env[n++] = *e;
    if (value) {
        snprintf(buf, bufsz, "%s=%s", name, value);
        env[n++] = buf;
    }
    env[n] = NULL;
    return env;
}

static void no_ability_body(struct target *t)
{
    char pid[16], *env[ENV_MAX];
    struct run r;
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    env_with(env, "PEERMAP_ABILITIES", NULL, NULL, 0);
    run_tool_env(&r, env, (const char *const[]){ "map", pid, "4K", NULL });
    CHECK_EXIT(&r, 4);
    CHECK(has(r.err, strerror(EPERM)));
    CHECK(r.outlen == 0);
    run_free(&r);
}

/* A typo in PEERMAP_ABILITIES stops the tool before it does anything, as
 * root too, with a message naming the variable and the name. */
TEST(unknown_ability_name_is_refused)
{
    const char *const bad[] = { "memPeer", "mem_peer,prot_exce" };
    char pid[16], *env[ENV_MAX], var[128];
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    fmt(pid, sizeof pid, "%d", (int)t.pid);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct run r;
        env_with(env, "PEERMAP_ABILITIES", bad[i], var, sizeof var);
        run_tool_env(&r, env, (const char *const[]){ "map", pid, "4K", NULL });
        CHECK_EXIT(&r, 2);
        CHECK(has(r.err, "PEERMAP_ABILITIES"));
        CHECK(has(r.err, i == 0 ? "'memPeer'" : "'prot_exce'"));
        CHECK(r.outlen == 0);
        run_free(&r);
    }
    finish(&t);
}

/* The non-root domain lacks PROCMGR_AID_MEM_PEER unless the environment
 * grants it; root holds it by default, so there is nothing to take away. */
TEST(no_ability_is_eperm)
{
    struct target t;
    SETUP();
    if (!unprivileged())
        SKIP("root holds PROCMGR_AID_MEM_PEER by default");
    REQUIRE(spawn(&t));
    no_ability_body(&t);
    finish(&t);
}

static void map_exec_body(struct target *t)
{
    char pid[16], *env[ENV_MAX], var[128];
    struct run r;
    uintptr_t a;
    fmt(pid, sizeof pid, "%d", (int)t->pid);

    /* Non-root needs PROCMGR_AID_PROT_EXEC on top of MEM_PEER for x. */
    if (unprivileged()) {
        env_with(env, "PEERMAP_ABILITIES", "mem_peer", var, sizeof var);
        run_tool_env(&r, env, (const char *const[]){ "map", pid, "4K", "--prot", "rx", NULL });
        CHECK_EXIT(&r, 4);
        CHECK(r.outlen == 0);
        run_free(&r);
    }
    env_with(env, "PEERMAP_ABILITIES", "mem_peer,prot_exec", var, sizeof var);
    run_tool_env(&r, env, (const char *const[]){ "map", pid, "4K", "--prot", "r-x", NULL });
    CHECK_EXIT(&r, 0);
    if (r.status == 0 && parse_addr(r.out, &a)) {
        CHECK_EQ_LONG(maps_has(t->pid, a, 4096, "r-xp"), 1);
        unmap_ok(t->pid, a, 4096);
    }
    run_free(&r);
}

TEST(map_exec)
{
    struct target t;
    SETUP();
    REQUIRE(spawn(&t));
    map_exec_body(&t);
    finish(&t);
}

/* PEERMAP_PHYSMEM lets a plain file stand in for /dev/mem, so --phys can be
 * tested without touching real physical memory. */
static void map_phys_body(struct target *t, int fd, const char *path)
{
    const long pg = page_size();
    const char p1[] = "physical page one";
    char pid[16], off[32], *env[ENV_MAX], var[512], buf[64];
    struct run r;
    uintptr_t a;
    fmt(pid, sizeof pid, "%d", (int)t->pid);
    fmt(off, sizeof off, "%ld", pg);

    REQUIRE(ftruncate(fd, 2 * pg) == 0);
    REQUIRE(pwrite(fd, p1, sizeof p1, pg) == (ssize_t)sizeof p1);
    env_with(env, "PEERMAP_PHYSMEM", path, var, sizeof var);
    run_tool_env(&r, env, (const char *const[]){ "map", pid, "4K", "--phys", "--offset", off,
                                                 NULL });
    if (unprivileged()) {
        CHECK_EXIT(&r, 4);
        CHECK(r.outlen == 0);
    } else {
        CHECK_EXIT(&r, 0);
        if (r.status == 0 && parse_addr(r.out, &a)) {
            CHECK_EQ_LONG(maps_has(t->pid, a, 4096, "rw-s"), 1);
            CHECK(peek(t->pid, a, buf, sizeof p1) == 0 && memcmp(buf, p1, sizeof p1) == 0);
            unmap_ok(t->pid, a, 4096);
        }
    }
    run_free(&r);
}

TEST(map_phys)
{
    SETUP();
    with_file_and_target(map_phys_body);
}
