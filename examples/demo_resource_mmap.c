/*
 * demo_resource_mmap - mmap() of files that resource managers serve, both
 * ways QNX's memory manager does it, with pm_mmap():
 *
 *   1. zero-copy: shmem_server hands over its shared memory object
 *      (_IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT).  Two client processes
 *      map the same object; the server writes (a pm_write() the server
 *      copies into the object) and both see the bytes at once; one client
 *      writes through its mapping and the other one, and the server, see it.
 *   2. paged: image_server answers with iofunc_mmap_default(); a 1 GiB file
 *      is mapped, a few pages are touched, and the server's own count
 *      shows how little of the file it had to send.  Every byte touched is
 *      checked against the file's generator.
 *
 *   demo_resource_mmap [--spawn-servers [--shmem-server prog]
 *                       [--image-server prog]]
 *
 *   --spawn-servers   start shmem_server and image_server (from this
 *                     program's directory, or the progs given) in a private
 *                     path space (PEERMAP_PATHSPACE, a new temporary
 *                     directory), use them, then stop them with SIGTERM
 *   Without it, the servers must already serve /dev/pmshm and /dev/pmimage
 *   (image_server with its default 1 GiB pattern).
 *
 * Prints what it does; exits 0 when every check passed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>
#include <sys/iomsg.h>

#include "example_spawn.h"

#define SHM_DIR "/dev/pmshm"
#define SHM_OBJ SHM_DIR "/demo"
#define SHM_SIZE (1024 * 1024)
#define IMG_DIR "/dev/pmimage"
#define IMG_PATTERN IMG_DIR "/pattern"
#define IMG_PPM IMG_DIR "/test.ppm"
#define IMG_SIZE (1ull << 30)
#define PAGE 4096

/* image_server's command, as image_server.c defines it. */
struct image_stats {
    uint64_t reads;
    uint64_t bytes;
};
#define IMAGE_DEVCTL_STATS __DIOF(_DCMD_MISC, 0x20, struct image_stats)

static int failures;

#define EXPECT(cond, ...)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            failures++;                                        \
            printf("  FAILED: " __VA_ARGS__);                  \
            printf(" (%s)\n", peermap_errmsg());               \
        }                                                      \
    } while (0)

/* ---- image_server's files, computed the way it computes them ---- */

static uint64_t pattern_word(uint64_t k)
{
    return (k + 1) * 0x9E3779B97F4A7C15ull;
}

static unsigned char pattern_byte(uint64_t off)
{
    return (unsigned char)(pattern_word(off >> 3) >> (8 * (off & 7)));
}

static const unsigned ppm_w = 640, ppm_h = 480; /* image_server's default */

static unsigned char ppm_byte(const char *hdr, size_t hdr_len, uint64_t off)
{
    if (off < hdr_len)
        return (unsigned char)hdr[off];
    uint64_t p = (off - hdr_len) / 3, x = p % ppm_w, y = p / ppm_w;
    switch ((off - hdr_len) % 3) {
    case 0: return (unsigned char)(x * 256 / ppm_w);
    case 1: return (unsigned char)(y * 256 / ppm_h);
    default: return ((x / 32) ^ (y / 32)) & 1 ? 255 : 0;
    }
}

/* ---- starting and stopping the servers (example_spawn.h) ---- */

static pid_t server_pid[2] = { -1, -1 };

static int spawn(int which, const char *prog, const char *name, const char *path)
{
    char def[PATH_MAX];
    if (!prog) {
        ex_sibling("", name, def, sizeof def);
        prog = def;
    }
    const char *args[] = { name, "-p", path, NULL };
    server_pid[which] = ex_spawn(prog, args);
    if (server_pid[which] < 0)
        return -1;
    printf("started %s (pid %d)\n", name, (int)server_pid[which]);
    return 0;
}

static int spawn_servers(const char *shmem_prog, const char *image_prog)
{
    /* A path space of our own: nothing else sees our /dev/pm*. */
    if (ex_pathspace("demo_resource_mmap") < 0)
        return -1;
    printf("private path space %s\n", ex_space);
    if (spawn(0, shmem_prog, "shmem_server", SHM_DIR) < 0 ||
        spawn(1, image_prog, "image_server", IMG_DIR) < 0)
        return -1;
    return 0;
}

static int stop_servers(void)
{
    int rc = 0;
    for (int i = 0; i < 2; i++)
        if (ex_reap(server_pid[i], 1) < 0)
            rc = -1;
    if (rc == 0 && (server_pid[0] > 0 || server_pid[1] > 0))
        printf("stopped the servers (exit status 0)\n");
    ex_pathspace_remove();
    return rc;
}

/* ---- 1. zero-copy: two client processes and the shmem server ---- */

static const char from_server[] = "written by the server (pm_write)";
static const char from_client[] = "written by client A through its mapping";
#define CLIENT_OFF (64 * 1024 + 100) /* another page, not page-aligned */

/*
 * A client process.  It waits for one-byte commands from the parent and
 * answers each with '+' (done, as expected) or '-' (not): pipes order the
 * steps, so that "the other one sees it" is checked after the write, never
 * by waiting a while.
 */
static void __attribute__((noreturn)) client(char who, int cmd, int ans)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = -1;
    unsigned char *map = MAP_FAILED;
    char c;
    while (read(cmd, &c, 1) == 1) {
        int ok = 0;
        switch (c) {
        case 'm': /* open the object and map it, shared, read-write */
            fd = pm_open(SHM_OBJ, O_RDWR);
            if (fd >= 0)
                map = pm_mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            ok = map != MAP_FAILED;
            printf("client %c (pid %d): pm_mmap(\"%s\", 1 MiB, read/write, MAP_SHARED) = %p%s%s\n",
                   who, (int)getpid(), SHM_OBJ, ok ? (void *)map : NULL,
                   ok ? "" : ": ", ok ? "" : strerror(errno));
            if (!ok)
                printf("  (%s)\n", peermap_errmsg());
            break;
        case 's': /* does the mapping hold what the server wrote? */
            ok = map != MAP_FAILED && memcmp(map, from_server, sizeof from_server) == 0;
            printf("client %c: its mapping at offset 0 %s \"%s\"\n", who,
                   ok ? "holds" : "does NOT hold", from_server);
            break;
        case 'w': /* write through the mapping: a plain store, no call */
            if (map != MAP_FAILED) {
                memcpy(map + CLIENT_OFF, from_client, sizeof from_client);
                ok = 1;
            }
            printf("client %c: stored \"%s\" at offset %d of its mapping\n", who,
                   from_client, CLIENT_OFF);
            break;
        case 'c': /* does it see the other client's store? */
            ok = map != MAP_FAILED &&
                 memcmp(map + CLIENT_OFF, from_client, sizeof from_client) == 0;
            printf("client %c: its mapping at offset %d %s the other client's bytes\n", who,
                   CLIENT_OFF, ok ? "holds" : "does NOT hold");
            break;
        case 'q':
            ok = (map == MAP_FAILED || pm_munmap(map, SHM_SIZE) == 0) &&
                 (fd < 0 || pm_close(fd) == 0);
            if (write(ans, ok ? "+" : "-", 1) != 1)
                _exit(1);
            _exit(ok ? 0 : 1);
        default:
            break;
        }
        if (write(ans, ok ? "+" : "-", 1) != 1)
            _exit(1);
    }
    _exit(1);
}

struct kid {
    pid_t pid;
    int cmd, ans;
};

static int start_client(struct kid *k, char who)
{
    int cmd[2], ans[2];
    if (pipe(cmd) < 0 || pipe(ans) < 0)
        return -1;
    fflush(NULL);
    k->pid = fork();
    if (k->pid < 0)
        return -1;
    if (k->pid == 0) {
        close(cmd[1]);
        close(ans[0]);
        client(who, cmd[0], ans[1]);
    }
    close(cmd[0]);
    close(ans[1]);
    k->cmd = cmd[1];
    k->ans = ans[0];
    return 0;
}

/* Send a command; 1 if the client answered '+'. */
static int ask(struct kid *k, char c)
{
    char a = 0;
    if (k->pid <= 0 || write(k->cmd, &c, 1) != 1 || read(k->ans, &a, 1) != 1)
        return 0;
    return a == '+';
}

static int finish_client(struct kid *k)
{
    if (k->pid <= 0)
        return 0;
    int ok = ask(k, 'q'), st = 0;
    close(k->cmd);
    close(k->ans);
    if (waitpid(k->pid, &st, 0) != k->pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        ok = 0;
    k->pid = -1;
    return ok;
}

static void zero_copy(struct kid *a, struct kid *b)
{
    printf("\n1. zero-copy: a shared memory object of shmem_server\n");
    int fd = pm_open(SHM_OBJ, O_CREAT | O_RDWR, 0666);
    printf("pm_open(\"%s\", O_CREAT | O_RDWR, 0666) = %d\n", SHM_OBJ, fd);
    EXPECT(fd >= 0, "pm_open: %s", strerror(errno));
    if (fd < 0)
        return;
    struct stat st;
    memset(&st, 0, sizeof st);
    EXPECT(pm_fstat(fd, &st) == 0 && st.st_size == SHM_SIZE, "pm_fstat: size %lld",
           (long long)st.st_size);

    EXPECT(ask(a, 'm'), "client A could not map the object");
    EXPECT(ask(b, 'm'), "client B could not map the object");

    ssize_t n = pm_write(fd, from_server, sizeof from_server);
    printf("pm_write(\"%s\") to the server = %zd\n", from_server, n);
    EXPECT(n == (ssize_t)sizeof from_server, "pm_write returned %zd", n);
    /* No msync(), no notification: the server's store is in their pages. */
    EXPECT(ask(a, 's'), "client A does not see the server's bytes");
    EXPECT(ask(b, 's'), "client B does not see the server's bytes");

    EXPECT(ask(a, 'w'), "client A could not store");
    EXPECT(ask(b, 'c'), "client B does not see client A's store");
    char buf[sizeof from_client];
    memset(buf, 0, sizeof buf);
    off_t off = pm_lseek(fd, CLIENT_OFF, SEEK_SET);
    n = off == CLIENT_OFF ? pm_read(fd, buf, sizeof buf) : -1;
    int same = n == (ssize_t)sizeof buf && memcmp(buf, from_client, sizeof buf) == 0;
    printf("pm_read() from the server at offset %d: %s\n", CLIENT_OFF,
           same ? "client A's bytes (the server's memory is the same)" : "something else");
    EXPECT(same, "the server does not see client A's store");

    EXPECT(finish_client(a), "client A did not unmap and exit cleanly");
    EXPECT(finish_client(b), "client B did not unmap and exit cleanly");
    EXPECT(pm_close(fd) == 0, "pm_close");
}

/* ---- 2. paged: a 1 GiB file of image_server ---- */

static int image_stats(int fd, struct image_stats *s)
{
    memset(s, 0, sizeof *s);
    int r = devctl(fd, (int)IMAGE_DEVCTL_STATS, s, sizeof *s, NULL);
    EXPECT(r == EOK, "devctl(IMAGE_DEVCTL_STATS): %s", strerror(r));
    return r;
}

static void paged(void)
{
    printf("\n2. paged: files of image_server, read in by the memory manager\n");
    int fd = pm_open(IMG_PATTERN, O_RDONLY);
    struct stat st;
    memset(&st, 0, sizeof st);
    EXPECT(fd >= 0 && pm_fstat(fd, &st) == 0, "pm_open/pm_fstat %s: %s", IMG_PATTERN,
           strerror(errno));
    if (fd < 0)
        return;
    printf("pm_open(\"%s\", O_RDONLY): %lld bytes, mode %o\n", IMG_PATTERN,
           (long long)st.st_size, (unsigned)(st.st_mode & 07777));
    EXPECT(st.st_size == (off_t)IMG_SIZE, "size %lld, not 1 GiB", (long long)st.st_size);

    struct image_stats before, after;
    image_stats(fd, &before);
    unsigned char *p = pm_mmap(NULL, IMG_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    printf("pm_mmap(1 GiB, PROT_READ, MAP_SHARED) = %p\n", p == MAP_FAILED ? NULL : (void *)p);
    EXPECT(p != MAP_FAILED, "pm_mmap: %s", strerror(errno));
    if (p != MAP_FAILED) {
        static const uint64_t pages[] = { 0, 1024, 131072 + 7, (IMG_SIZE / PAGE) - 1 };
        int bad = 0;
        for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
            uint64_t base = pages[i] * PAGE;
            for (uint64_t j = 0; j < PAGE; j++)
                if (p[base + j] != pattern_byte(base + j)) {
                    bad++;
                    break;
                }
        }
        printf("touched 4 pages (at 0, 4 MiB, 512 MiB + 28 KiB and the last): %s\n",
               bad ? "WRONG bytes" : "every byte as generated");
        EXPECT(bad == 0, "%d pages hold the wrong bytes", bad);
        image_stats(fd, &after);
        uint64_t sent = after.bytes - before.bytes;
        printf("image_server sent %llu KiB in %llu reads for them: %.4f%% of the file\n",
               (unsigned long long)(sent / 1024),
               (unsigned long long)(after.reads - before.reads), 100.0 * (double)sent / (double)IMG_SIZE);
        /* Read-ahead may fetch more than the 16 KiB touched, but a mapping
         * that read the whole file, or nothing, is wrong. */
        EXPECT(sent >= 4 * PAGE && sent <= 64ull << 20,
               "the server sent %llu bytes for 4 pages", (unsigned long long)sent);
        EXPECT(pm_munmap(p, IMG_SIZE) == 0, "pm_munmap: %s", strerror(errno));
    }

    /* A writable shared mapping of a read-only open must be refused (by
     * the memory manager or by iofunc_mmap()'s checks). */
    errno = 0;
    void *w = pm_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    printf("pm_mmap(PROT_WRITE, MAP_SHARED) of the read-only file = %s (%s)\n",
           w == MAP_FAILED ? "MAP_FAILED" : "a mapping", strerror(e));
    EXPECT(w == MAP_FAILED && (e == EACCES || e == EROFS),
           "a writable shared mapping of a read-only file");
    if (w != MAP_FAILED)
        pm_munmap(w, PAGE);
    EXPECT(pm_close(fd) == 0, "pm_close");

    /* The small image: every byte, the zeros past its end in the last
     * page, and a private copy-on-write mapping the server never sees. */
    fd = pm_open(IMG_PPM, O_RDONLY);
    memset(&st, 0, sizeof st);
    EXPECT(fd >= 0 && pm_fstat(fd, &st) == 0, "pm_open/pm_fstat %s: %s", IMG_PPM,
           strerror(errno));
    if (fd < 0)
        return;
    char hdr[32];
    size_t hdr_len = (size_t)snprintf(hdr, sizeof hdr, "P6\n%u %u\n255\n", ppm_w, ppm_h);
    size_t size = (size_t)st.st_size, maplen = (size + PAGE - 1) / PAGE * PAGE;
    EXPECT(size == hdr_len + 3u * ppm_w * ppm_h, "%s: size %zu", IMG_PPM, size);
    p = pm_mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EXPECT(p != MAP_FAILED, "pm_mmap(MAP_PRIVATE) of %s: %s", IMG_PPM, strerror(errno));
    if (p != MAP_FAILED) {
        size_t bad = 0, nonzero = 0;
        for (size_t i = 0; i < size; i++)
            bad += p[i] != ppm_byte(hdr, hdr_len, i);
        for (size_t i = size; i < maplen; i++)
            nonzero += p[i] != 0;
        printf("%s (%ux%u, %zu bytes) mapped MAP_PRIVATE: starts \"P6\", %zu wrong "
               "bytes, %zu non-zero bytes past the end\n", IMG_PPM, ppm_w, ppm_h, size,
               bad, nonzero);
        EXPECT(memcmp(p, "P6\n", 3) == 0 && bad == 0 && nonzero == 0,
               "the image's mapping is wrong");
        /* Copy on write: our page changes, the file does not. */
        memcpy(p, "XX", 2);
        char head[2] = { 0, 0 };
        ssize_t n = pm_lseek(fd, 0, SEEK_SET) == 0 ? pm_read(fd, head, 2) : -1;
        printf("stored \"XX\" into the private mapping; the file still starts \"%.2s\"\n", head);
        EXPECT(n == 2 && memcmp(head, "P6", 2) == 0 && memcmp(p, "XX", 2) == 0,
               "a private store reached the file, or did not stay");
        EXPECT(pm_munmap(p, maplen) == 0, "pm_munmap: %s", strerror(errno));
    }
    EXPECT(pm_close(fd) == 0, "pm_close");
}

int main(int argc, char **argv)
{
    int spawn_them = 0;
    const char *shmem_prog = NULL, *image_prog = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spawn-servers") == 0)
            spawn_them = 1;
        else if (strcmp(argv[i], "--shmem-server") == 0 && i + 1 < argc)
            shmem_prog = argv[++i];
        else if (strcmp(argv[i], "--image-server") == 0 && i + 1 < argc)
            image_prog = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--spawn-servers [--shmem-server prog] "
                    "[--image-server prog]]\n", argv[0]);
            return 2;
        }
    }

    if (spawn_them && spawn_servers(shmem_prog, image_prog) < 0) {
        stop_servers();
        return 1;
    }
    /* The client processes are forked before this process makes any
     * peermap call, so that each starts as a fresh client of its own. */
    struct kid a = { -1, -1, -1 }, b = { -1, -1, -1 };
    if (start_client(&a, 'A') < 0 || start_client(&b, 'B') < 0) {
        perror("client");
        failures++;
    } else {
        zero_copy(&a, &b);
    }
    finish_client(&a);
    finish_client(&b);
    paged();
    if (spawn_them && stop_servers() < 0)
        failures++;

    printf("\n%s\n", failures ? "FAILED" : "every check passed");
    return failures ? 1 : 0;
}
