/*
 * Named channels (src/resmgr/name_attach.c): name_attach / name_open /
 * name_close / name_detach, with a server written as QNX code writes one
 * (MsgReceive on attach->chid, EOK to _IO_CONNECT, ENOSYS to other _IO_*
 * messages, pulses handled), with one that refuses every _IO_* message
 * (name_open() sends none, as QNX 7.1 without gns), and with a
 * dispatch-based server.
 *
 * Servers run in forked children (synchronised by pipes and waitpid) or in
 * a thread of the test; every test has its own path space.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "helpers.h"
#include "sys/dispatch.h"
#include "sys/iomsg.h"
#include "sys/neutrino.h"
#include "../src/resmgr/pathspace.h"


/* The custom protocol of the QNX-style server. */
#define MY_ADD  0x4000  /* reply status = value + 1 */
#define MY_QUIT 0x4001  /* reply, name_detach, exit */

struct my_msg {
    uint16_t type;
    uint16_t zero;
    int32_t value;
};

/*
 * A server as QNX's name_attach() page teaches: it reports events to the
 * test on `out` as single bytes: 'r' ready, 'c' a connect answered,
 * 'd' a disconnect pulse (followed by 'k' if ConnectDetach(scoid) was 0),
 * 'x' another _IO_ message refused.
 */
static int qnx_server(int in, int out, void *arg)
{
    (void)in;
    const char *name = arg;
    name_attach_t *att = name_attach(NULL, name, 0);
    if (!att)
        return 10;
    char c = 'r';
    child_write_full(out, &c, 1);
    union {
        struct _pulse pulse;
        uint16_t type;
        struct my_msg my;
        char raw[512];
    } msg;
    for (;;) {
        rcvid_t rcvid = MsgReceive(att->chid, &msg, sizeof msg, NULL);
        if (rcvid == -1)
            return 11;
        if (rcvid == 0) {
            switch (msg.pulse.code) {
            case _PULSE_CODE_DISCONNECT:
                c = 'd';
                child_write_full(out, &c, 1);
                if (ConnectDetach(msg.pulse.scoid) == 0) {
                    c = 'k';
                    child_write_full(out, &c, 1);
                }
                break;
            case _PULSE_CODE_UNBLOCK:
                break;
            default:
                break;
            }
            continue;
        }
        if (msg.type == _IO_CONNECT) {
            MsgReply(rcvid, EOK, NULL, 0);
            c = 'c';
            child_write_full(out, &c, 1);
            continue;
        }
        if (msg.type > _IO_BASE && msg.type <= _IO_MAX) {
            MsgError(rcvid, ENOSYS);
            c = 'x';
            child_write_full(out, &c, 1);
            continue;
        }
        if (msg.type == MY_ADD) {
            MsgReply(rcvid, msg.my.value + 1, NULL, 0);
            continue;
        }
        if (msg.type == MY_QUIT) {
            MsgReply(rcvid, EOK, NULL, 0);
            name_detach(att, 0);
            return 0;
        }
        MsgError(rcvid, ENOSYS);
    }
}

static int expect(struct target *t, char want)
{
    char c = 0;
    if (target_read(t, &c, 1, 5000) < 0)
        return -1;
    return c == want ? 0 : -1;
}

TEST(name_open_reaches_a_qnx_style_server)
{
    REQUIRE(pathspace_fresh() == 0);
    struct target t;
    REQUIRE(target_start(&t, qnx_server, "pm_test_srv") == 0);
    REQUIRE(expect(&t, 'r') == 0);

    /* As QNX 7.1 does without its global name service: a side channel,
     * and no message at all. */
    int coid = name_open("pm_test_srv", 0);
    REQUIRE(coid >= 0);
    CHECK(coid & _NTO_SIDE_CHANNEL);
    struct my_msg m = { .type = MY_ADD, .value = 41 };
    CHECK_EQ_LONG(MsgSend(coid, &m, sizeof m, NULL, 0), 42);
    struct _io_read r = { .type = _IO_READ, .nbytes = 8 };
    errno = 0;
    CHECK(MsgSend(coid, &r, sizeof r, NULL, 0) == -1 && errno == ENOSYS);
    CHECK(expect(&t, 'x') == 0); /* the first thing the server saw */
    CHECK_EQ_LONG(name_close(coid), 0);
    /* The server hears of it, and ConnectDetach(scoid) there is fine. */
    CHECK(expect(&t, 'd') == 0);
    CHECK(expect(&t, 'k') == 0);

    /* A second client, through the global name service's path: the
     * _IO_CONNECT a server written for gns expects. */
    coid = name_open("pm_test_srv", NAME_FLAG_ATTACH_GLOBAL);
    REQUIRE(coid >= 0);
    CHECK(expect(&t, 'c') == 0);
    m.type = MY_QUIT;
    CHECK_EQ_LONG(MsgSend(coid, &m, sizeof m, NULL, 0), 0);
    int status = target_finish(&t, 5000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    name_close(coid);
    /* name_detach() removed the name. */
    errno = 0;
    CHECK(name_open("pm_test_srv", 0) == -1 && errno == ENOENT);
}

/* A server as QNX 7 code often is: every _IO_* message, _IO_CONNECT
 * included, gets ENOSYS; its own messages and pulses are served. */
static int enosys_server(int in, int out, void *arg)
{
    (void)in;
    (void)arg;
    name_attach_t *att = name_attach(NULL, "pm_enosys", 0);
    if (!att)
        return 10;
    child_write_full(out, "r", 1);
    union { uint16_t type; struct _pulse pulse; struct my_msg my; char raw[256]; } msg;
    for (;;) {
        rcvid_t rcvid = MsgReceive(att->chid, &msg, sizeof msg, NULL);
        if (rcvid < 0)
            return 11;
        if (rcvid == 0) {
            if (msg.pulse.code == 7)
                child_write_full(out, "p", 1);
            continue;
        }
        if (msg.type >= _IO_BASE && msg.type <= _IO_MAX) {
            MsgError(rcvid, ENOSYS);
            continue;
        }
        if (msg.type == MY_QUIT) {
            MsgReply(rcvid, EOK, NULL, 0);
            return 0;
        }
        MsgReply(rcvid, msg.my.value * 2, NULL, 0);
    }
}

TEST(name_open_works_with_servers_that_refuse_every_io_message)
{
    REQUIRE(pathspace_fresh() == 0);
    struct target t;
    REQUIRE(target_start(&t, enosys_server, NULL) == 0);
    REQUIRE(expect(&t, 'r') == 0);
    int coid = name_open("pm_enosys", 0);
    REQUIRE(coid >= 0);
    struct my_msg m = { .type = MY_ADD, .value = 21 };
    CHECK_EQ_LONG(MsgSend(coid, &m, sizeof m, NULL, 0), 42);
    /* A pulse-only conversation needs no message at all. */
    CHECK_EQ_LONG(MsgSendPulse(coid, 10, 7, 0), 0);
    CHECK(expect(&t, 'p') == 0);
    /* Where gns would send the connect, its ENOSYS is name_open()'s. */
    errno = 0;
    CHECK(name_open("pm_enosys", NAME_FLAG_ATTACH_GLOBAL) == -1 && errno == ENOSYS);
    m.type = MY_QUIT;
    CHECK_EQ_LONG(MsgSend(coid, &m, sizeof m, NULL, 0), 0);
    int status = target_finish(&t, 5000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    name_close(coid);
}

TEST(unknown_name_is_enoent)
{
    REQUIRE(pathspace_fresh() == 0);
    errno = 0;
    CHECK(name_open("nobody_has_this", 0) == -1 && errno == ENOENT);
    errno = 0;
    CHECK(name_open("/dev/name/local/nobody_has_this", 0) == -1 && errno == ENOENT);
}

TEST(bad_names_are_einval)
{
    REQUIRE(pathspace_fresh() == 0);
    const char *bad[] = { "", "/abs", "..", "a/../b", "a/..", "./a" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(name_attach(NULL, bad[i], 0) == NULL && errno == EINVAL);
    }
    errno = 0;
    CHECK(name_attach(NULL, NULL, 0) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(name_open(NULL, 0) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(name_open("a/../b", 0) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(name_detach(NULL, 0) == -1 && errno == EINVAL);
}

/* ---- a dispatch-based server in a thread ---- */

struct dsrv {
    name_attach_t *att;
    dispatch_context_t *ctp;
    pthread_t th;
    atomic_int stop;
    atomic_int disconnects;
};

static void *dsrv_main(void *arg)
{
    struct dsrv *s = arg;
    while (!atomic_load(&s->stop)) {
        if (!dispatch_block(s->ctp)) {
            if (errno == ECANCELED || atomic_load(&s->stop))
                break;
            continue;
        }
        dispatch_handler(s->ctp);
    }
    return NULL;
}

static int add_func(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)code, (void)flags, (void)handle;
    struct my_msg m;
    memcpy(&m, ctp->msg, sizeof m);
    MsgReply(ctp->rcvid, m.value + 1, NULL, 0);
    return 0;
}

static int disc_func(message_context_t *ctp, int code, unsigned flags, void *handle)
{
    (void)ctp, (void)code, (void)flags;
    atomic_fetch_add(&((struct dsrv *)handle)->disconnects, 1);
    return 0;
}


TEST(name_attach_with_a_dispatch)
{
    REQUIRE(pathspace_fresh() == 0);
    struct dsrv s;
    memset(&s, 0, sizeof s);
    dispatch_t *dpp = dispatch_create();
    REQUIRE(dpp);
    s.att = name_attach(dpp, "pm/disp", 0);
    REQUIRE(s.att);
    CHECK(s.att->dpp == dpp);
    CHECK(s.att->chid > 0);
    CHECK_EQ_LONG(message_attach(dpp, NULL, MY_ADD, MY_ADD, add_func, NULL), 0);
    CHECK_EQ_LONG(pulse_attach(dpp, 0, _PULSE_CODE_DISCONNECT, disc_func, &s),
                  _PULSE_CODE_DISCONNECT);
    s.ctp = dispatch_context_alloc(dpp);
    REQUIRE(s.ctp);
    REQUIRE(pthread_create(&s.th, NULL, dsrv_main, &s) == 0);

    /* Its entry is a named special file. */
    struct pm_ps_match mt;
    CHECK_EQ_LONG(pm_pathspace_resolve("/dev/name/local/pm/disp", &mt), 0);
    CHECK(S_ISNAM(mt.mode));
    CHECK_EQ_LONG(mt.handle, s.att->mntid);

    int coid = name_open("pm/disp", 0);
    REQUIRE(coid >= 0);
    struct my_msg m = { .type = MY_ADD, .value = 9 };
    CHECK_EQ_LONG(MsgSend(coid, &m, sizeof m, NULL, 0), 10);
    /* No open was bound: I/O messages are EBADF. */
    struct _io_read r = { .type = _IO_READ, .nbytes = 8 };
    errno = 0;
    CHECK(MsgSend(coid, &r, sizeof r, NULL, 0) == -1 && errno == EBADF);
    /* Also through the full path. */
    int coid2 = name_open("/dev/name/local/pm/disp", 0);
    CHECK(coid2 >= 0);
    CHECK_EQ_LONG(name_close(coid2), 0);
    CHECK_EQ_LONG(name_close(coid), 0);
    /* Both disconnects reach the pulse handler; a round trip on a third
     * connection after each orders them before our check. */
    for (int i = 0; i < 200 && atomic_load(&s.disconnects) < 2; i++) {
        int c3 = name_open("pm/disp", 0);
        if (c3 >= 0)
            name_close(c3);
    }
    CHECK(atomic_load(&s.disconnects) >= 2);

    atomic_store(&s.stop, 1);
    int joined = -1;
    for (int i = 0; i < 50 && joined != 0; i++) {
        dispatch_unblock(s.ctp);
        joined = thread_join_ms(s.th, 100);
    }
    CHECK(joined == 0);
    dispatch_context_free(s.ctp);
    CHECK_EQ_LONG(name_detach(s.att, 0), 0); /* destroys dpp too */
    errno = 0;
    CHECK(name_open("pm/disp", 0) == -1 && errno == ENOENT);
}

TEST(name_detach_savedpp_keeps_the_dispatch)
{
    REQUIRE(pathspace_fresh() == 0);
    name_attach_t *a = name_attach(NULL, "pm_keep", NAME_FLAG_ATTACH_GLOBAL);
    REQUIRE(a);
    dispatch_t *dpp = a->dpp;
    int chid = a->chid;
    CHECK_EQ_LONG(name_detach(a, NAME_FLAG_DETACH_SAVEDPP), 0);
    errno = 0;
    CHECK(name_open("pm_keep", 0) == -1 && errno == ENOENT);
    /* The channel is still there: a side connection reaches it. */
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    CHECK(coid >= 0);
    if (coid >= 0)
        ConnectDetach(coid);
    CHECK_EQ_LONG(dispatch_destroy(dpp), 0);
}

static int held_server(int in, int out, void *arg)
{
    (void)arg;
    name_attach_t *att = name_attach(NULL, "pm_going", 0);
    if (!att)
        return 10;
    char c = 'r';
    child_write_full(out, &c, 1);
    union { uint16_t type; struct _pulse p; char raw[256]; } msg;
    /* Answer the connect, then wait for the test to say go. */
    for (;;) {
        rcvid_t rcvid = MsgReceive(att->chid, &msg, sizeof msg, NULL);
        if (rcvid < 0)
            return 11;
        if (rcvid > 0 && msg.type == _IO_CONNECT) {
            MsgReply(rcvid, EOK, NULL, 0);
            break;
        }
        if (rcvid > 0)
            MsgError(rcvid, ENOSYS);
    }
    c = 'c';
    child_write_full(out, &c, 1);
    child_read_full(in, &c, 1);
    return 0;
}

TEST(server_exit_fails_the_clients_next_send)
{
    REQUIRE(pathspace_fresh() == 0);
    struct target t;
    REQUIRE(target_start(&t, held_server, NULL) == 0);
    REQUIRE(expect(&t, 'r') == 0);
    int coid = name_open("pm_going", NAME_FLAG_ATTACH_GLOBAL);
    REQUIRE(coid >= 0);
    CHECK(expect(&t, 'c') == 0);
    char go = 'g';
    target_write(&t, &go, 1);
    int status = target_finish(&t, 5000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct my_msg m = { .type = MY_ADD, .value = 1 };
    errno = 0;
    CHECK(MsgSend(coid, &m, sizeof m, NULL, 0) == -1 && (errno == ESRCH || errno == EBADF));
    name_close(coid);
    errno = 0;
    CHECK(name_open("pm_going", 0) == -1 && errno == ENOENT);
}
