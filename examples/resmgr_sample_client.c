/*
 * resmgr_sample_client - uses the device resmgr_sample serves, with the
 * peermap client calls that send QNX's messages: pm_open(), pm_write(),
 * pm_lseek(), pm_read(), pm_fstat(), devctl(), pm_close().
 *
 *   resmgr_sample_client [-p path] [--spawn-server [-t N] [--server prog]]
 *
 *   -p path          the device (default /dev/sample)
 *   --spawn-server   start resmgr_sample (from this program's directory, or
 *                    prog) in a private path space (PEERMAP_PATHSPACE, a new
 *                    temporary directory), use it, then stop it with SIGTERM:
 *                    the whole demonstration in one command
 *   -t N             with --spawn-server: run the server with a pool of N
 *                    threads, and use it from 4 client threads at once
 *
 * Prints what it does; exits 0 when every answer was the expected one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>
#include <sys/iomsg.h>

#include "example_spawn.h"

/* The device's commands, as resmgr_sample.c defines them. */
union sample_devctl_msg {
    int tx;
    int rx;
};

#define SAMPLE_DEVCTL_GETVAL __DIOF(_DCMD_MISC, 0x10, int)
#define SAMPLE_DEVCTL_SETVAL __DIOT(_DCMD_MISC, 0x11, int)
#define SAMPLE_DEVCTL_SETGET __DIOTF(_DCMD_MISC, 0x12, union sample_devctl_msg)
#define SAMPLE_DEVCTL_CLEAR  __DION(_DCMD_MISC, 0x13)

static int failures;

#define EXPECT(cond, ...)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            failures++;                                        \
            printf("  FAILED: " __VA_ARGS__);                  \
            printf(" (%s)\n", peermap_errmsg());               \
        }                                                      \
    } while (0)

/* ---- starting and stopping the server (example_spawn.h) ---- */

static pid_t server_pid = -1;

static int spawn_server(const char *argv0, const char *prog, const char *path, int nthreads)
{
    char def[PATH_MAX], tbuf[16];
    if (!prog) {
        ex_sibling(argv0, "resmgr_sample", def, sizeof def);
        prog = def;
    }
    /* A path space of our own: nothing else sees our /dev/sample. */
    if (ex_pathspace("resmgr_sample") < 0)
        return -1;
    snprintf(tbuf, sizeof tbuf, "%d", nthreads);
    const char *args[] = { "resmgr_sample", "-p", path, "-v",
                           nthreads > 0 ? "-t" : NULL, tbuf, NULL };
    server_pid = ex_spawn(prog, args);
    if (server_pid < 0)
        return -1;
    printf("started %s (pid %d) in path space %s\n", prog, (int)server_pid, ex_space);
    return 0;
}

static int stop_server(void)
{
    int rc = ex_reap(server_pid, 1);
    if (rc == 0 && server_pid > 0)
        printf("stopped the server (exit status 0)\n");
    ex_pathspace_remove();
    return rc;
}

/* ---- using the device ---- */

static const char *dev_path = "/dev/sample";

static void demo(void)
{
    const char hello[] = "Hello, resource manager!";
    char buf[128];
    int val, info;

    int fd = pm_open(dev_path, O_RDWR);
    printf("pm_open(\"%s\", O_RDWR) = %d\n", dev_path, fd);
    EXPECT(fd >= 0, "pm_open: %s", strerror(errno));
    if (fd < 0)
        return;

    ssize_t n = pm_write(fd, hello, sizeof hello - 1);
    printf("pm_write(\"%s\") = %zd\n", hello, n);
    EXPECT(n == (ssize_t)sizeof hello - 1, "pm_write returned %zd", n);

    off_t off = pm_lseek(fd, 0, SEEK_SET);
    printf("pm_lseek(0, SEEK_SET) = %lld\n", (long long)off);
    EXPECT(off == 0, "pm_lseek returned %lld", (long long)off);

    memset(buf, 0, sizeof buf);
    n = pm_read(fd, buf, sizeof buf - 1);
    printf("pm_read() = %zd: \"%s\"\n", n, buf);
    EXPECT(n == (ssize_t)sizeof hello - 1 && strcmp(buf, hello) == 0,
           "read back something else");
    n = pm_read(fd, buf, sizeof buf);
    printf("pm_read() at the end = %zd\n", n);
    EXPECT(n == 0, "a read at the end returned %zd", n);

    struct stat st;
    int r = pm_fstat(fd, &st);
    printf("pm_fstat() = %d: size %lld, mode %o\n", r, (long long)st.st_size,
           (unsigned)st.st_mode);
    EXPECT(r == 0 && st.st_size == (off_t)sizeof hello - 1, "fstat");

    val = 42;
    r = devctl(fd, (int)SAMPLE_DEVCTL_SETVAL, &val, sizeof val, NULL);
    printf("devctl(SETVAL, 42) = %d\n", r);
    EXPECT(r == EOK, "devctl SETVAL: %s", strerror(r));

    val = -1;
    info = -1;
    r = devctl(fd, (int)SAMPLE_DEVCTL_GETVAL, &val, sizeof val, &info);
    printf("devctl(GETVAL) = %d: value %d, info %d\n", r, val, info);
    EXPECT(r == EOK && val == 42 && info == 42, "devctl GETVAL");

    union sample_devctl_msg m = { .tx = 7 };
    r = devctl(fd, (int)SAMPLE_DEVCTL_SETGET, &m, sizeof m, NULL);
    printf("devctl(SETGET, 7) = %d: previous value %d\n", r, m.rx);
    EXPECT(r == EOK && m.rx == 42, "devctl SETGET");

    r = devctl(fd, (int)SAMPLE_DEVCTL_GETVAL, &val, sizeof val, NULL);
    printf("devctl(GETVAL) = %d: value %d\n", r, val);
    EXPECT(r == EOK && val == 7, "devctl GETVAL after SETGET");

    r = devctl(fd, (int)__DION(_DCMD_MISC, 0x7f), NULL, 0, NULL);
    printf("devctl(unknown command) = %d (%s)\n", r, strerror(r));
    EXPECT(r == ENOSYS, "an unknown command gave %d", r);

    r = devctl(fd, (int)SAMPLE_DEVCTL_CLEAR, NULL, 0, NULL);
    r |= pm_fstat(fd, &st);
    printf("devctl(CLEAR), then the size is %lld\n", (long long)st.st_size);
    EXPECT(r == 0 && st.st_size == 0, "CLEAR");

    r = pm_close(fd);
    printf("pm_close() = %d\n", r);
    EXPECT(r == 0, "pm_close");

    int rd = pm_open(dev_path, O_RDONLY);
    errno = 0;
    n = rd >= 0 ? pm_write(rd, "x", 1) : -1;
    printf("pm_write on an O_RDONLY open = %zd (%s)\n", n, strerror(errno));
    EXPECT(rd >= 0 && n == -1 && errno == EBADF, "a write on a read-only open");
    if (rd >= 0)
        pm_close(rd);

    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s-nobody-serves-this", dev_path);
    errno = 0;
    fd = pm_open(other, O_RDONLY);
    printf("pm_open(\"%s\") = %d (%s)\n", other, fd, strerror(errno));
    EXPECT(fd == -1 && errno == ENOENT, "an unserved path");
}

/* Several clients at once, for the thread-pool server. */
static void *worker(void *arg)
{
    long id = (long)arg, bad = 0;
    int fd = pm_open(dev_path, O_RDWR);
    if (fd < 0)
        return (void *)1;
    for (int i = 0; i < 200; i++) {
        int val = -1;
        if (devctl(fd, (int)SAMPLE_DEVCTL_GETVAL, &val, sizeof val, NULL) != EOK)
            bad++;
        struct stat st;
        if (pm_fstat(fd, &st) != 0)
            bad++;
    }
    (void)id;
    if (pm_close(fd) != 0)
        bad++;
    return (void *)bad;
}

static void concurrent(int nclients)
{
    pthread_t t[16];
    long bad = 0;
    for (int i = 0; i < nclients; i++)
        pthread_create(&t[i], NULL, worker, (void *)(long)i);
    for (int i = 0; i < nclients; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    printf("%d client threads x 200 devctl+fstat: %ld failures\n", nclients, bad);
    EXPECT(bad == 0, "concurrent clients");
}

int main(int argc, char **argv)
{
    int spawn = 0, nthreads = 0;
    const char *prog = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spawn-server") == 0)
            spawn = 1;
        else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            dev_path = argv[++i];
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            prog = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-p path] [--spawn-server [-t N] [--server prog]]\n",
                    argv[0]);
            return 2;
        }
    }

    if (spawn && spawn_server(argv[0], prog, dev_path, nthreads) < 0) {
        stop_server();
        return 1;
    }
    demo();
    if (nthreads > 0)
        concurrent(4);
    if (spawn && stop_server() < 0)
        failures++;

    printf("%s\n", failures ? "FAILED" : "all answers as expected");
    return failures ? 1 : 0;
}
