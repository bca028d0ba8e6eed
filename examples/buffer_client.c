/*
 * buffer_client - the client of buffer_server: asks for a shared buffer,
 * uses it without copying anything through messages, gives it back.
 *
 *   buffer_client [-n name] [--spawn-server [--server prog]]
 *
 *   -n name          the name (default "peermap-buffers")
 *   --spawn-server   start buffer_server (from this program's directory, or
 *                    prog) in a private path space (PEERMAP_PATHSPACE, a new
 *                    temporary directory), use it, and stop it at the end
 *
 * Before anything else the client makes itself non-dumpable, which is what
 * an unprivileged server meets under Yama (ptrace_scope=1), in a container
 * without CAP_SYS_PTRACE, or with a setuid client: nobody but root may
 * ptrace it.  The buffer still arrives, because the server maps it while we
 * wait for its reply and our peermap library does that mapping for it
 * (in-band).  A probe message then shows that the ptrace route is indeed
 * closed for an unprivileged server (EPERM); root may still use it.
 *
 * For a QNX porter: the conversation below is plain QNX code; the Linux-only
 * parts are the prctl(), /proc/self/maps and peermap_*() calls, marked so.
 *
 * Exits 0 when the ALLOC / use / CHECK / FREE cycle went in-band and every
 * answer was the expected one (and, when not root, the ptrace probe was
 * refused).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>          /* Linux only: peermap_errmsg(), PEERMAP_PATH_* */
#include <sys/dispatch.h>
#include <sys/neutrino.h>

#include "example_spawn.h"

/* ---- the protocol, as buffer_server.c defines it ---- */

#define BUF_MSG_ALLOC  0x0010
#define BUF_MSG_CHECK  0x0011
#define BUF_MSG_FREE   0x0012
#define BUF_MSG_PROBE  0x0013
#define BUF_MSG_QUIT   0x0014

#define BUF_TEXT       128

struct buf_hdr {
    uint16_t type;
    uint16_t subtype;
    uint32_t zero;
};

struct buf_alloc {
    struct buf_hdr hdr;
    uint64_t size;
};

struct buf_ref {
    struct buf_hdr hdr;
    uint64_t addr;
    uint64_t size;
};

struct buf_reply {
    uint64_t addr;
    int32_t err;
    int32_t path;
    char text[BUF_TEXT];
};

#define GREETING "hello from buffer_server, written before the reply"
#define ANSWER   "and hello back from buffer_client, written in place"
#define BUF_SIZE (64u * 1024)

static int failures;
static int quit_sent;   /* the server was told to exit */

#define EXPECT(cond, ...)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            failures++;                                        \
            printf("  FAILED: " __VA_ARGS__);                  \
            printf(" (%s)\n", peermap_errmsg());               \
        }                                                      \
    } while (0)

static const char *path_name(int path)
{
    switch (path) {
    case PEERMAP_PATH_INBAND: return "in-band";
    case PEERMAP_PATH_PTRACE: return "ptrace";
    case PEERMAP_PATH_LOCAL: return "local";
    case PEERMAP_PATH_NONE: return "none";
    default: return "?";
    }
}

/* ---- starting the server (example_spawn.h) ---- */

static pid_t server_pid = -1;

static int spawn_server(const char *argv0, const char *prog, const char *name)
{
    char def[PATH_MAX];
    if (!prog) {
        ex_sibling(argv0, "buffer_server", def, sizeof def);
        prog = def;
    }
    if (ex_pathspace("buffer_server") < 0)
        return -1;
    const char *args[] = { "buffer_server", "-n", name, NULL };
    server_pid = ex_spawn(prog, args);
    if (server_pid < 0)
        return -1;
    printf("started %s (pid %d) in path space %s\n", prog, (int)server_pid, ex_space);
    return 0;
}

/* It exits by itself after our QUIT message. */
static int reap_server(void)
{
    int rc = ex_reap(server_pid, 0);
    if (rc == 0 && server_pid > 0)
        printf("the server exited with status 0\n");
    ex_pathspace_remove();
    return rc;
}

/* Linux only: whether /proc/self/maps has a mapping of exactly
 * [addr, addr + len), and its inode in *ino (a memfd's; 0 for anonymous
 * memory): 1, 0 (none - the range is free, or holds other mappings: after
 * a buffer goes, the library or a sanitizer may put one of its own in the
 * hole), or -1 when the file cannot be read. */
static int mapped_here(uint64_t addr, uint64_t len, unsigned long long *ino)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, inode;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %llu", &lo, &hi, &inode) == 3 &&
            lo == addr && hi == addr + len) {
            *ino = inode;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* ---- the conversation ---- */

static void demo(const char *name, int quit)
{
    int coid = name_open(name, 0);
    printf("name_open(\"%s\") = %d\n", name, coid);
    EXPECT(coid != -1, "name_open: %s", strerror(errno));
    if (coid == -1)
        return;

    /* 1. Ask for a buffer.  While we are blocked here the server maps it
     *    into us and writes its greeting into it. */
    struct buf_alloc am = { { BUF_MSG_ALLOC, 0, 0 }, BUF_SIZE };
    struct buf_reply r;
    memset(&r, 0, sizeof r);
    long st = MsgSend(coid, &am, sizeof am, &r, sizeof r);
    char *buf = (char *)(uintptr_t)r.addr;
    printf("ALLOC_BUFFER %u: status %ld, buffer at %p, mapped via %s\n", BUF_SIZE, st,
           (void *)buf, path_name(r.path));
    EXPECT(st == EOK && buf != NULL, "ALLOC_BUFFER: %s", strerror(errno));
    if (st != EOK || buf == NULL) {
        name_close(coid);
        return;
    }
    EXPECT(r.path == PEERMAP_PATH_INBAND, "the buffer was not mapped in-band");
    unsigned long long ino = 0, now = 0;  /* the buffer's memfd, and what is there later */
    EXPECT(mapped_here(r.addr, BUF_SIZE, &ino) == 1 && ino != 0,
           "%p is not in /proc/self/maps as a memory file's mapping", (void *)buf);

    /* 2. Use it: the greeting is already there (no copy came with the
     *    reply but the address), and our answer goes straight into it. */
    printf("the buffer says: \"%s\"\n", buf);
    EXPECT(strcmp(buf, GREETING) == 0, "the greeting is not in the buffer");
    snprintf(buf, BUF_SIZE, "%s", ANSWER);
    buf[BUF_SIZE - 1] = 'Z';   /* the last byte is ours too */

    /* 3. Let the server look at it in its own mapping. */
    struct buf_ref cm = { { BUF_MSG_CHECK, 0, 0 }, r.addr, BUF_SIZE };
    struct buf_reply cr;
    memset(&cr, 0, sizeof cr);
    st = MsgSend(coid, &cm, sizeof cm, &cr, sizeof cr);
    printf("CHECK_BUFFER: status %ld, the server read \"%.*s\"\n", st, BUF_TEXT, cr.text);
    EXPECT(st == EOK && strcmp(cr.text, ANSWER) == 0, "the server did not see our answer");

    /* 4. What ptrace would make of the same request (Linux only). */
    struct buf_hdr pm = { BUF_MSG_PROBE, 0, 0 };
    struct buf_reply pr;
    memset(&pr, 0, sizeof pr);
    st = MsgSend(coid, &pm, sizeof pm, &pr, sizeof pr);
    int root = geteuid() == 0;
    if (st != EOK) {
        printf("PROBE_PTRACE: status %ld (%s)\n", st, strerror(errno));
        EXPECT(0, "PROBE_PTRACE");
    } else if (pr.err) {
        printf("PROBE_PTRACE: mmap_peer via %s failed: %s%s\n", path_name(pr.path),
               strerror(pr.err), pr.err == EPERM ? " - ptrace is closed to the server, "
               "in-band was the only way in" : "");
        /* Unprivileged, on a non-dumpable process, ptrace must be refused;
         * as root it may fail for other reasons (Yama ptrace_scope=3). */
        EXPECT(root || pr.err == EPERM, "an unprivileged ptrace failed with %s, not EPERM",
               strerror(pr.err));
    } else {
        printf("PROBE_PTRACE: mmap_peer via %s succeeded (%#llx, unmapped again)%s\n",
               path_name(pr.path), (unsigned long long)pr.addr,
               root ? " - as root the server has CAP_SYS_PTRACE" : "");
        EXPECT(root, "an unprivileged server ptraced a non-dumpable client");
        unsigned long long pino = 0;
        EXPECT(mapped_here(pr.addr, 4096, &pino) == 0, "the probe's page is still mapped");
    }

    /* 5. A buffer we were never given cannot be freed: the server only
     *    unmaps what it mapped for this connection. */
    struct buf_ref bad = { { BUF_MSG_FREE, 0, 0 }, r.addr + 4096, BUF_SIZE };
    errno = 0;
    st = MsgSend(coid, &bad, sizeof bad, NULL, 0);
    printf("FREE_BUFFER of an address not handed out: status %ld (%s)\n", st,
           strerror(errno));
    EXPECT(st == -1 && errno == EINVAL, "a bogus FREE_BUFFER");
    EXPECT(mapped_here(r.addr, BUF_SIZE, &now) == 1 && now == ino,
           "the buffer went away on a bogus FREE");

    /* 6. Give it back: the server unmaps it from us while we wait. */
    struct buf_ref fm = { { BUF_MSG_FREE, 0, 0 }, r.addr, BUF_SIZE };
    struct buf_reply fr;
    memset(&fr, 0, sizeof fr);
    st = MsgSend(coid, &fm, sizeof fm, &fr, sizeof fr);
    int still = mapped_here(r.addr, BUF_SIZE, &now);
    if (still == 1 && now != ino)
        still = 0;  /* another mapping in the hole the buffer left */
    printf("FREE_BUFFER: status %ld, unmapped via %s; %s /proc/self/maps\n", st,
           path_name(fr.path), still == 0 ? "gone from" : still > 0 ? "STILL in" : "cannot read");
    EXPECT(st == EOK, "FREE_BUFFER: %s", strerror(errno));
    EXPECT(fr.path == PEERMAP_PATH_INBAND, "the buffer was not unmapped in-band");
    EXPECT(still == 0, "the buffer is still mapped after FREE_BUFFER");

    if (quit) {
        struct buf_hdr q = { BUF_MSG_QUIT, 0, 0 };
        int err = 0;
        st = ex_send_as_other_user(name, &q, sizeof q, &err);
        if (st != -2) {
            printf("QUIT from another user (uid 65534): status %ld (%s)\n", st, strerror(err));
            EXPECT(st == -1 && err == EPERM, "QUIT from another user");
        }
        st = MsgSend(coid, &q, sizeof q, NULL, 0);
        printf("QUIT: status %ld\n", st);
        EXPECT(st == EOK, "QUIT");
        quit_sent = st == EOK;
    }
    EXPECT(name_close(coid) == 0, "name_close");
}

int main(int argc, char **argv)
{
    const char *name = "peermap-buffers", *prog = NULL;
    int spawn = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spawn-server") == 0)
            spawn = 1;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            prog = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-n name] [--spawn-server [--server prog]]\n",
                    argv[0]);
            return 2;
        }
    }

    /* Linux only: close the ptrace route to us for anyone but root. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0) {
        perror("prctl(PR_SET_DUMPABLE)");
        return 1;
    }
    printf("buffer_client: pid %d, uid %d, non-dumpable\n", (int)getpid(), (int)getuid());

    if (spawn && spawn_server(argv[0], prog, name) < 0) {
        ex_pathspace_remove();
        return 1;
    }
    demo(name, spawn);
    if (spawn && !quit_sent) {
        kill(server_pid, SIGKILL);   /* it was not told to exit: a failure */
        failures++;
    }
    if (spawn && reap_server() < 0)
        failures++;
    printf("%s\n", failures ? "FAILED" : "all answers as expected");
    return failures ? 1 : 0;
}
