/*
 * peermap's demo: a server lends a shared buffer to a client that is already
 * running, the QNX way (mmap_peer()), on Linux.
 *
 *  1. The server starts the client, which loops waiting for notes on a pipe.
 *  2. Only then does the server create a memfd buffer, so the client never
 *     had it: the only way the buffer can appear in the client is mmap_peer().
 *  3. The server maps the buffer into the client, sends it the address, and
 *     writes messages into its own mapping; the client reads them at that
 *     address and answers in the same buffer.  No byte goes through the pipe.
 *  4. The server unmaps it with munmap_peer(); the client checks its own
 *     /proc/self/maps.
 *  5. A session maps three regions with one attach, then takes them away.
 *  6. Once the client has exited, mmap_peer() on it is refused, with a reason.
 *
 * Run it as root, or as any user with PEERMAP_ABILITIES=mem_peer (make demo
 * sets it for a non-root user, and the demo says so).
 * Exit status 0 when every step did what it should.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>

#define BUF_LEN (4 * 4096)
#define REPLY_AT 256 /* where in the buffer the client answers */
#define MAX_ADDRS 4

/* ---- the pipe protocol ---- */

enum op {
    OP_SHOW,  /* print the string at addr[0] */
    OP_REPLY, /* write an answer at addr[0] + REPLY_AT */
    OP_MAPS,  /* print the /proc/self/maps line of each addr */
    OP_GONE,  /* confirm no addr is mapped any more */
    OP_QUIT,
};

/* Small enough for one atomic pipe write. */
struct note {
    int op;
    int n;
    uintptr_t addr[MAX_ADDRS];
};

static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        /* No signal handler is installed in either process, so EINTR is
         * not retried: it would mean the client noticed being borrowed. */
        ssize_t r = read(fd, p, len);
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/* ---- the client ---- */

/* The /proc/self/maps line covering addr, shortened to range, permissions,
 * file offset and name; 0 if found, 1 if nothing is mapped there. */
static int own_mapping(uintptr_t addr, char *out, size_t n)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    int rc = 1;
    while (rc == 1 && fgets(line, sizeof line, f)) {
        unsigned long start, end, off;
        char perms[5], name[256] = "";
        if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %255[^\n]", &start, &end,
                   perms, &off, name) >= 4 &&
            addr >= start && addr < end) {
            snprintf(out, n, "%lx-%lx %s off %#lx %s", start, end, perms, off,
                     name[0] ? name : "[anonymous]");
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

static int client_step(const struct note *nt)
{
    const int me = (int)getpid();
    char desc[400];
    int ok = 1;

    switch (nt->op) {
    case OP_SHOW:
        printf("  client %d: at %#lx it reads \"%.60s\"\n", me,
               (unsigned long)nt->addr[0], (const char *)nt->addr[0]);
        break;
    case OP_REPLY:
        snprintf((char *)nt->addr[0] + REPLY_AT, 64, "thanks, from client %d", me);
        printf("  client %d: wrote \"%s\" at %#lx\n", me,
               (char *)nt->addr[0] + REPLY_AT,
               (unsigned long)nt->addr[0] + REPLY_AT);
        break;
    case OP_MAPS:
        for (int i = 0; i < nt->n; i++) {
            if (own_mapping(nt->addr[i], desc, sizeof desc) == 0) {
                printf("  client %d: /proc/self/maps: %s\n", me, desc);
            } else {
                printf("  client %d: nothing mapped at %#lx\n", me,
                       (unsigned long)nt->addr[i]);
                ok = 0;
            }
        }
        break;
    case OP_GONE:
        for (int i = 0; i < nt->n; i++) {
            if (own_mapping(nt->addr[i], desc, sizeof desc) != 1) {
                printf("  client %d: still mapped: %s\n", me, desc);
                ok = 0;
            }
        }
        if (ok)
            printf("  client %d: /proc/self/maps: %s any more\n", me,
                   nt->n == 1 ? "nothing there" : "none of them there");
        break;
    default:
        ok = 0;
    }
    return ok;
}

/* Runs in the forked child: the client keeps to its own loop, blocked in
 * read() most of the time, and never calls peermap. */
static _Noreturn void client_main(int notes, int answers)
{
    struct note nt;
    for (;;) {
        if (read_full(notes, &nt, sizeof nt) < 0) {
            printf("  client %d: reading the pipe: %s\n", (int)getpid(),
                   strerror(errno));
            _exit(EXIT_FAILURE);
        }
        if (nt.op == OP_QUIT)
            _exit(EXIT_SUCCESS);
        int ok = client_step(&nt);
        if (write_full(answers, &ok, sizeof ok) < 0)
            _exit(EXIT_FAILURE);
    }
}

/* ---- the server ---- */

static pid_t client = -1;
static int to_client = -1, from_client = -1;

static const char *errno_name(int e)
{
    switch (e) {
    case ESRCH: return "ESRCH";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EBADF: return "EBADF";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "errno";
    }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    printf("server %d: ", (int)getpid());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static _Noreturn void fail(const char *what)
{
    int e = errno;
    printf("FAILED: %s: %s (%s)", what, errno_name(e), strerror(e));
    if (peermap_errmsg()[0])
        printf(": %s", peermap_errmsg());
    putchar('\n');
    if (e == EPERM && geteuid() != 0 && !getenv("PEERMAP_ABILITIES"))
        printf("hint: a non-root process needs PEERMAP_ABILITIES=mem_peer\n");
    if (client > 0) {
        kill(client, SIGKILL);
        waitpid(client, NULL, 0);
    }
    exit(EXIT_FAILURE);
}

static _Noreturn void fail_check(const char *what)
{
    printf("FAILED: %s\n", what);
    if (client > 0) {
        kill(client, SIGKILL);
        waitpid(client, NULL, 0);
    }
    exit(EXIT_FAILURE);
}

/* Send a note and wait until the client has acted on it (and printed). */
static void ask(int op, int n, const uintptr_t *addrs, const char *what)
{
    struct note nt = { .op = op, .n = n };
    int ok = 0;
    for (int i = 0; i < n; i++)
        nt.addr[i] = addrs[i];
    if (write_full(to_client, &nt, sizeof nt) < 0 ||
        read_full(from_client, &ok, sizeof ok) < 0)
        fail_check("the client stopped answering");
    if (!ok)
        fail_check(what);
}

static void start_client(void)
{
    int notes[2], answers[2];
    if (pipe(notes) < 0 || pipe(answers) < 0)
        fail("pipe");
    client = fork();
    if (client < 0)
        fail("fork");
    if (client == 0) {
        close(notes[1]);
        close(answers[0]);
        client_main(notes[0], answers[1]);
    }
    close(notes[0]);
    close(answers[1]);
    to_client = notes[1];
    from_client = answers[0];
    say("started client %d; it waits on a pipe for notes", (int)client);
}

static void lend_buffer(int memfd, char *mine)
{
    const pid_t c = client;

    char *theirs = mmap_peer(c, NULL, BUF_LEN, PROT_READ | PROT_WRITE,
                             MAP_SHARED, memfd, 0);
    if (theirs == MAP_FAILED)
        fail("mmap_peer");
    say("mmap_peer(%d, NULL, %d, PROT_READ|PROT_WRITE, MAP_SHARED, memfd, 0)"
        " = %p", (int)c, BUF_LEN, (void *)theirs);
    uintptr_t at = (uintptr_t)theirs;
    ask(OP_MAPS, 1, &at, "the mapping is not in the client");

    /* The server writes only into its own mapping; the pipe carries nothing
     * but the address. */
    strcpy(mine, "hello, client");
    say("wrote \"%s\" into its own mapping (at %p in the server)", mine,
        (void *)mine);
    ask(OP_SHOW, 1, &at, "show");
    strcpy(mine, "second message, same pages");
    say("wrote \"%s\"", mine);
    ask(OP_SHOW, 1, &at, "show");
    ask(OP_REPLY, 1, &at, "reply");
    say("reads \"%s\" in its own mapping", mine + REPLY_AT);
    if (strncmp(mine + REPLY_AT, "thanks", 6) != 0)
        fail_check("the client's answer did not reach the server");

    if (munmap_peer(c, theirs, BUF_LEN) < 0)
        fail("munmap_peer");
    say("munmap_peer(%d, %p, %d) = 0", (int)c, (void *)theirs, BUF_LEN);
    ask(OP_GONE, 1, &at, "the mapping is still in the client");
}

static void session(int memfd)
{
    static const struct {
        const char *what;
        size_t len;
        int prot, flags;
        int use_memfd;
        off_t off;
    } regions[] = {
        { "memfd offset 4096, read-only", 4096, PROT_READ, MAP_SHARED, 1, 4096 },
        { "memfd offset 8192, read-write", 4096, PROT_READ | PROT_WRITE,
          MAP_SHARED, 1, 8192 },
        { "8 KiB of private anonymous memory (NOFD)", 8192,
          PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, 0 },
    };
    enum { N = sizeof regions / sizeof regions[0] };
    uintptr_t at[N];

    printf("\nA session: one attach for several calls.\n");
    peermap_session *s = peermap_attach(client);
    if (!s)
        fail("peermap_attach");
    say("peermap_attach(%d)", (int)client);
    for (int i = 0; i < N; i++) {
        void *p = peermap_mmap(s, NULL, regions[i].len, regions[i].prot,
                               regions[i].flags,
                               regions[i].use_memfd ? memfd : NOFD,
                               regions[i].off);
        if (p == MAP_FAILED) {
            int e = errno;
            peermap_detach(s);
            errno = e;
            fail("peermap_mmap");
        }
        at[i] = (uintptr_t)p;
        say("peermap_mmap: %s = %p", regions[i].what, p);
    }
    if (peermap_detach(s) < 0)
        fail("peermap_detach");
    say("peermap_detach: the client runs again");
    ask(OP_MAPS, N, at, "a session mapping is not in the client");

    s = peermap_attach(client);
    if (!s)
        fail("peermap_attach");
    for (int i = 0; i < N; i++) {
        if (peermap_munmap(s, (void *)at[i], regions[i].len) < 0) {
            int e = errno;
            peermap_detach(s);
            errno = e;
            fail("peermap_munmap");
        }
    }
    if (peermap_detach(s) < 0)
        fail("peermap_detach");
    say("peermap_attach, %d x peermap_munmap, peermap_detach", N);
    ask(OP_GONE, N, at, "a session mapping is still in the client");
}

static void refusal(void)
{
    struct note quit = { .op = OP_QUIT };
    siginfo_t si;

    printf("\nA refusal, with its reason.\n");
    if (write_full(to_client, &quit, sizeof quit) < 0)
        fail("telling the client to quit");
    /* WNOWAIT: know that it exited, but leave it unreaped for the moment. */
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)client, &si, WEXITED | WNOWAIT) < 0)
        fail("waitid");
    say("client %d has exited (not reaped yet)", (int)client);

    void *p = mmap_peer(client, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
    if (p != MAP_FAILED)
        fail_check("mmap_peer on an exited process succeeded");
    int e = errno;
    say("mmap_peer(%d, ...) = MAP_FAILED, errno %s: %s", (int)client,
        errno_name(e), peermap_errmsg());
    if (e != ESRCH)
        fail_check("expected ESRCH");

    int status;
    if (waitpid(client, &status, 0) < 0)
        fail("waitpid");
    client = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS)
        fail_check("the client did not exit cleanly");
}

/* Which ability mmap_peer() needs and where this process got it: the first
 * thing a non-root user should see, not an EPERM three steps later. */
static void say_ability(void)
{
    const char *granted = getenv("PEERMAP_ABILITIES");

    if (geteuid() == 0)
        printf("Running as root, which holds PROCMGR_AID_MEM_PEER (QNX's default).\n\n");
    else if (granted)
        printf("Running as uid %d: a non-root process lacks PROCMGR_AID_MEM_PEER unless its\n"
               "parent grants it, and PEERMAP_ABILITIES=%s does (make demo sets\n"
               "PEERMAP_ABILITIES=mem_peer, as a QNX parent grants an ability to the\n"
               "non-root program it starts).  The kernel still decides too: the client\n"
               "is our own child, running as our user, so we may ptrace it.\n\n",
               (int)geteuid(), granted);
    else
        printf("Running as uid %d without PEERMAP_ABILITIES: a non-root process lacks\n"
               "PROCMGR_AID_MEM_PEER, so mmap_peer() will be refused (EPERM).  Run it as\n"
               "PEERMAP_ABILITIES=mem_peer %s, or with make demo.\n\n",
               (int)geteuid(), "./build/examples/demo_shared_buffer");
}

int main(void)
{
    /* One line at a time: client and server share the terminal, and the
     * protocol already orders their lines. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A client that dies must show up as a failed step, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    printf("peermap demo: a server maps its buffer into a running client.\n");
    say_ability();
    start_client();

    int memfd = memfd_create("peermap-demo", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, BUF_LEN) < 0)
        fail("memfd_create");
    char *mine = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mine == MAP_FAILED)
        fail("mmap");
    say("created a %d KiB memfd after the fork: the client does not have it",
        BUF_LEN / 1024);

    lend_buffer(memfd, mine);
    session(memfd);
    refusal();

    printf("\ndemo: success\n");
    return EXIT_SUCCESS;
}
