/*
 * name_client - talks to name_server: name_open() the name, MsgSend() the
 * server's own messages, MsgSendPulse() a ping, name_close().
 *
 *   name_client [-n name] [--spawn-server [--server prog]] [--quit]
 *
 *   -n name          the name (default "peermap_example")
 *   --spawn-server   start name_server (from this program's directory, or
 *                    prog) in a private path space (PEERMAP_PATHSPACE, a new
 *                    temporary directory), use it, and stop it with a QUIT
 *                    message: the whole demonstration in one command
 *   --quit           send QUIT at the end (implied by --spawn-server)
 *
 * Prints what it does; exits 0 when every answer was the expected one.
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

#include <peermap.h>
#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "example_spawn.h"

/* ---- the protocol, as name_server.c defines it ---- */

#define EX_MSG_CALC  0x0001
#define EX_MSG_UPPER 0x0002
#define EX_MSG_STATS 0x0003
#define EX_MSG_QUIT  0x0004

#define EX_PULSE_PING (_PULSE_CODE_MINAVAIL + 1)

#define EX_OP_ADD 1
#define EX_OP_MUL 2
#define EX_OP_DIV 3

struct ex_hdr {
    uint16_t type;
    uint16_t subtype;
};

struct ex_calc {
    struct ex_hdr hdr;
    int32_t a, b;
};

struct ex_calc_reply {
    int64_t result;
};

struct ex_text {
    struct ex_hdr hdr;
    uint32_t len;
};

struct ex_stats {
    uint32_t messages, connects, disconnects, pings, refused;
};

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

/* ---- starting the server (example_spawn.h) ---- */

static pid_t server_pid = -1;

static int spawn_server(const char *argv0, const char *prog, const char *name)
{
    char def[PATH_MAX];
    if (!prog) {
        ex_sibling(argv0, "name_server", def, sizeof def);
        prog = def;
    }
    if (ex_pathspace("name_server") < 0)
        return -1;
    const char *args[] = { "name_server", "-n", name, "-v", NULL };
    server_pid = ex_spawn(prog, args);
    if (server_pid < 0)
        return -1;
    printf("started %s (pid %d) in path space %s\n", prog, (int)server_pid, ex_space);
    return 0;
}

/* It exits by itself after our quit message. */
static int reap_server(void)
{
    int rc = ex_reap(server_pid, 0);
    if (rc == 0 && server_pid > 0)
        printf("the server exited with status 0\n");
    ex_pathspace_remove();
    return rc;
}

/* ---- the conversation ---- */

static long calc(int coid, int op, int a, int b, int64_t *result)
{
    struct ex_calc m = { { EX_MSG_CALC, (uint16_t)op }, a, b };
    struct ex_calc_reply r = { 0 };
    long st = MsgSend(coid, &m, sizeof m, &r, sizeof r);
    *result = r.result;
    return st;
}

static void demo(const char *name, int quit)
{
    int coid = name_open(name, 0);
    printf("name_open(\"%s\") = %d\n", name, coid);
    EXPECT(coid != -1, "name_open: %s", strerror(errno));
    if (coid == -1)
        return;

    int64_t res = 0;
    long st = calc(coid, EX_OP_MUL, 6, 7, &res);
    printf("CALC 6 * 7: status %ld, result %lld\n", st, (long long)res);
    EXPECT(st == EOK && res == 42, "6 * 7");

    st = calc(coid, EX_OP_ADD, 2000000000, 2000000000, &res);
    printf("CALC 2000000000 + 2000000000: status %ld, result %lld\n", st, (long long)res);
    EXPECT(st == EOK && res == 4000000000LL, "a 64-bit sum");

    errno = 0;
    st = calc(coid, EX_OP_DIV, 1, 0, &res);
    printf("CALC 1 / 0: status %ld, errno %d (%s)\n", st, errno, strerror(errno));
    EXPECT(st == -1 && errno == EDOM, "the server's MsgError(EDOM)");

    /* A long message: header and text in two parts, the reply into a
     * buffer of the same size. */
    size_t len = 256 * 1024;
    char *text = malloc(len), *back = malloc(len);
    EXPECT(text && back, "out of memory");
    if (text && back) {
        for (size_t i = 0; i < len; i++)
            text[i] = "peermap says hello "[i % 19];
        struct ex_text h = { { EX_MSG_UPPER, 0 }, (uint32_t)len };
        iov_t siov[2], riov[1];
        SETIOV(&siov[0], &h, sizeof h);
        SETIOV(&siov[1], text, len);
        SETIOV(&riov[0], back, len);
        st = MsgSendv(coid, siov, 2, riov, 1);
        int ok = st == (long)len;
        for (size_t i = 0; ok && i < len; i++)
            ok = back[i] == (text[i] == ' ' ? ' ' : text[i] - 'a' + 'A');
        printf("UPPER of %zu bytes: status %ld, \"%.19s...\"\n", len, st, back);
        EXPECT(ok, "the upper-cased text");

        /* A length that lies: the server checks it against what came. */
        h.len = (uint32_t)len + 100;
        errno = 0;
        st = MsgSendv(coid, siov, 2, riov, 1);
        printf("UPPER with a false length: status %ld (%s)\n", st, strerror(errno));
        EXPECT(st == -1 && errno == EBADMSG, "a lying length");
    }
    free(text);
    free(back);

    /* We are not talking to a resource manager: I/O messages are refused. */
    struct _io_read rd = { .type = _IO_READ, .combine_len = sizeof rd, .nbytes = 10 };
    char buf[10];
    errno = 0;
    st = MsgSend(coid, &rd, sizeof rd, buf, sizeof buf);
    printf("_IO_READ: status %ld (%s)\n", st, strerror(errno));
    EXPECT(st == -1 && errno == ENOSYS, "an I/O message");

    int r = MsgSendPulse(coid, -1, EX_PULSE_PING, 1234);
    printf("MsgSendPulse(PING) = %d\n", r);
    EXPECT(r == 0, "the ping pulse");

    struct ex_hdr sh = { EX_MSG_STATS, 0 };
    struct ex_stats s;
    memset(&s, 0, sizeof s);
    st = MsgSend(coid, &sh, sizeof sh, &s, sizeof s);
    printf("STATS: %u messages, %u connects, %u disconnects, %u pings, %u refused\n",
           s.messages, s.connects, s.disconnects, s.pings, s.refused);
    /* As on QNX 7.1 without its global name service, name_open() sent no
     * _IO_CONNECT. */
    EXPECT(st == EOK && s.pings >= 1 && s.connects == 0 && s.refused >= 2, "the stats");

    r = name_close(coid);
    printf("name_close() = %d\n", r);
    EXPECT(r == 0, "name_close");

    if (quit) {
        struct ex_hdr q = { EX_MSG_QUIT, 0 };
        int err = 0;
        st = ex_send_as_other_user(name, &q, sizeof q, &err);
        if (st != -2) {
            printf("QUIT from another user (uid 65534): status %ld (%s)\n", st, strerror(err));
            EXPECT(st == -1 && err == EPERM, "QUIT from another user");
        }
        coid = name_open(name, 0);
        st = coid == -1 ? -1 : MsgSend(coid, &q, sizeof q, NULL, 0);
        printf("QUIT: status %ld\n", st);
        EXPECT(st == EOK, "QUIT");
        quit_sent = st == EOK;
        if (coid != -1)
            name_close(coid);
    }

    errno = 0;
    coid = name_open("no_such_name_here", 0);
    printf("name_open(\"no_such_name_here\") = %d (%s)\n", coid, strerror(errno));
    EXPECT(coid == -1 && errno == ENOENT, "an unknown name");
}

int main(int argc, char **argv)
{
    const char *name = "peermap_example", *prog = NULL;
    int spawn = 0, quit = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spawn-server") == 0)
            spawn = quit = 1;
        else if (strcmp(argv[i], "--quit") == 0)
            quit = 1;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            prog = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-n name] [--spawn-server [--server prog]] [--quit]\n",
                    argv[0]);
            return 2;
        }
    }
    if (spawn && spawn_server(argv[0], prog, name) < 0) {
        ex_pathspace_remove();
        return 1;
    }
    demo(name, quit);
    if (spawn && !quit_sent) {
        kill(server_pid, SIGKILL);   /* it was not told to exit: a failure */
        failures++;
    }
    if (spawn && reap_server() < 0)
        failures++;
    printf("%s\n", failures ? "FAILED" : "all answers as expected");
    return failures ? 1 : 0;
}
