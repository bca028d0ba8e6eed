/*
 * shm_handle_client - asks shm_handle_server for its table, receives a
 * handle in the reply, maps the table with mmap_handle(), and shows the
 * rules: the handle works once, for this process alone, read-only.
 *
 *   shm_handle_client [--spawn-server [--server PATH]] [-n name]
 *
 * With --spawn-server it starts the server in a private path space, checks
 * everything, stops it, and exits 0 when every answer was right.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>          /* Linux only: peermap_errmsg() */
#include <sys/dispatch.h>
#include <sys/neutrino.h>

#include "example_spawn.h"

#define TBL_MSG_GET  0x0020
#define TBL_MSG_QUIT 0x0021

struct tbl_hdr {
    uint16_t type;
    uint16_t subtype;
    uint32_t zero;
};

struct tbl_reply {
    shm_handle_t handle;
    uint64_t size;
};

static int failures;
#define EXPECT(cond, ...)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            failures++;                                        \
            printf("  FAILED: " __VA_ARGS__);                  \
            printf(" (%s)\n", peermap_errmsg());               \
        }                                                      \
    } while (0)

static long get_table(int coid, struct tbl_reply *r)
{
    struct tbl_hdr m = { TBL_MSG_GET, 0, 0 };
    return MsgSend(coid, &m, sizeof m, r, sizeof *r);
}

static void demo(int coid)
{
    struct tbl_reply r;
    long st = get_table(coid, &r);
    EXPECT(st == 0, "GET_TABLE: %s", strerror(errno));
    if (st != 0)
        return;
    printf("GET_TABLE: handle %#llx, %llu bytes\n", (unsigned long long)r.handle,
           (unsigned long long)r.size);

    /* Another process - a child of ours, same user - tries it first. */
    pid_t other = fork();
    if (other == 0) {
        void *p = mmap_handle(NULL, r.size, PROT_READ, MAP_SHARED, r.handle, 0);
        _exit(p == MAP_FAILED && errno == ESRCH ? 0 : 1);
    }
    int ws = 0;
    waitpid(other, &ws, 0);
    EXPECT(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "another process redeemed our handle");
    printf("another process: mmap_handle() -> ESRCH\n");

    /* More than was granted: refused, and the handle is still ours. */
    void *w = mmap_handle(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.handle, 0);
    EXPECT(w == MAP_FAILED && errno == EACCES, "a writable mapping of a read-only handle");
    printf("mmap_handle(PROT_WRITE) -> EACCES\n");

    const uint32_t *t = mmap_handle(NULL, r.size, PROT_READ, MAP_SHARED, r.handle, 0);
    EXPECT(t != MAP_FAILED, "mmap_handle: %s", strerror(errno));
    if (t == MAP_FAILED)
        return;
    size_t bad = 0;
    for (uint32_t i = 0; i < r.size / sizeof *t; i++)
        bad += t[i] != i * i;
    EXPECT(bad == 0, "%zu words of the table are wrong", bad);
    printf("mmap_handle(PROT_READ) -> the table (%zu words checked)\n", r.size / sizeof *t);
    EXPECT(mprotect((void *)t, r.size, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
           "the read-only mapping became writable");
    printf("mprotect(PROT_WRITE) -> EACCES\n");

    /* Once only. */
    EXPECT(mmap_handle(NULL, r.size, PROT_READ, MAP_SHARED, r.handle, 0) == MAP_FAILED &&
           errno == ESRCH, "the handle worked twice");
    printf("mmap_handle() again -> ESRCH\n");
    munmap((void *)t, r.size);

    /* A second table, this time as a descriptor: sealed, so even a reopen
     * through /proc cannot write it. */
    st = get_table(coid, &r);
    EXPECT(st == 0, "GET_TABLE: %s", strerror(errno));
    int fd = shm_open_handle(r.handle, O_RDONLY);
    EXPECT(fd >= 0, "shm_open_handle: %s", strerror(errno));
    if (fd >= 0) {
        char path[40];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int rw = open(path, O_RDWR);
        EXPECT(rw < 0 || (pwrite(rw, "x", 1, 0) == -1 && errno == EPERM),
               "the sealed table was written");
        if (rw >= 0)
            close(rw);
        close(fd);
        printf("shm_open_handle(O_RDONLY) -> a descriptor no route can write through\n");
    }
}

int main(int argc, char **argv)
{
    const char *name = "peermap-shm-handles", *prog = NULL;
    int spawn = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--spawn-server"))
            spawn = 1;
        else if (!strcmp(argv[i], "--server") && i + 1 < argc)
            prog = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            name = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--spawn-server [--server PATH]] [-n name]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t server = -1;
    if (spawn) {
        char def[PATH_MAX];
        if (!prog) {
            ex_sibling(argv[0], "shm_handle_server", def, sizeof def);
            prog = def;
        }
        if (ex_pathspace("shm_handle_server") < 0)
            return 1;
        const char *args[] = { "shm_handle_server", "-n", name, NULL };
        server = ex_spawn(prog, args);
        if (server < 0) {
            ex_pathspace_remove();
            return 1;
        }
    }
    int coid = name_open(name, 0);
    EXPECT(coid != -1, "name_open %s: %s", name, strerror(errno));
    if (coid != -1) {
        demo(coid);
        struct tbl_hdr q = { TBL_MSG_QUIT, 0, 0 };
        if (spawn)
            EXPECT(MsgSend(coid, &q, sizeof q, NULL, 0) == 0, "QUIT: %s", strerror(errno));
        name_close(coid);
    }
    if (spawn) {
        if (ex_reap(server, coid == -1) < 0)
            failures++;
        ex_pathspace_remove();
    }
    printf(failures ? "%d check(s) FAILED\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
