/*
 * name_server - a server found by name (name_attach()) that speaks a
 * protocol of its own over MsgReceive()/MsgReply(), the way QNX servers
 * that are not resource managers are written.
 *
 *   name_server [-n name] [-r fd] [-v]
 *
 *   -n name   the name to attach (default "peermap_example"; clients call
 *             name_open() with it)
 *   -r fd     write one byte to descriptor fd once the name is attached,
 *             then close it (for a parent that waits for us)
 *   -v        say what each message is
 *
 * The loop handles, as a QNX server must:
 *   - pulses (rcvid 0): _PULSE_CODE_DISCONNECT (a client's connection went:
 *     ConnectDetach() its scoid), _PULSE_CODE_UNBLOCK, and our own PING;
 *   - _IO_CONNECT, which name_open() sends only where QNX's global name
 *     service would (NAME_FLAG_ATTACH_GLOBAL): reply EOK;
 *   - any other _IO_* message (someone read() our name...): ENOSYS;
 *   - our messages (types below 0x100): CALC, UPPER, STATS, QUIT.
 * It exits 0 after a QUIT message from its own user (others get EPERM), or
 * on SIGTERM/SIGINT (default action).
 * name_client is the matching client.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

/* ---- the protocol (name_client.c defines the same) ---- */

#define EX_MSG_CALC  0x0001  /* struct ex_calc -> struct ex_calc_reply */
#define EX_MSG_UPPER 0x0002  /* struct ex_text + len bytes -> len bytes, upper case */
#define EX_MSG_STATS 0x0003  /* struct ex_hdr -> struct ex_stats */
#define EX_MSG_QUIT  0x0004  /* struct ex_hdr -> EOK; the server exits */

#define EX_PULSE_PING (_PULSE_CODE_MINAVAIL + 1)

#define EX_OP_ADD 1
#define EX_OP_MUL 2
#define EX_OP_DIV 3

#define EX_MAX_TEXT (4u << 20)

struct ex_hdr {
    uint16_t type;
    uint16_t subtype;
};

struct ex_calc {
    struct ex_hdr hdr;   /* subtype: EX_OP_* */
    int32_t a, b;
};

struct ex_calc_reply {
    int64_t result;
};

struct ex_text {
    struct ex_hdr hdr;
    uint32_t len;        /* bytes that follow */
};

struct ex_stats {
    uint32_t messages, connects, disconnects, pings, refused;
};

/* Everything the server may receive; the start of any longer message. */
typedef union {
    uint16_t type;
    struct _pulse pulse;
    struct _io_connect connect;
    struct ex_hdr hdr;
    struct ex_calc calc;
    struct ex_text text;
} ex_msg_t;

static int verbose;
static struct ex_stats stats;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("name_server: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void on_pulse(const struct _pulse *p)
{
    switch (p->code) {
    case _PULSE_CODE_DISCONNECT:
        /* The client closed its connection (or died): release our side. */
        stats.disconnects++;
        say("pulse: client connection %d went away", (int)p->scoid);
        ConnectDetach(p->scoid);
        break;
    case _PULSE_CODE_UNBLOCK:
        /* A client wants out of a MsgSend we have not answered; we answer
         * everything at once, so there is nothing to cancel. */
        say("pulse: unblock request for rcvid %d", p->value.sival_int);
        break;
    case EX_PULSE_PING:
        stats.pings++;
        say("pulse: ping %d", p->value.sival_int);
        break;
    default:
        say("pulse: code %d ignored", p->code);
        break;
    }
}

static void on_upper(rcvid_t rcvid, const ex_msg_t *msg, const struct _msg_info *info)
{
    /* The length is the client's claim: check it against what was sent. */
    uint32_t len = msg->text.len;
    if ((size_t)info->msglen < sizeof msg->text || len > EX_MAX_TEXT ||
        (uint64_t)info->srcmsglen != sizeof msg->text + (uint64_t)len) {
        stats.refused++;
        MsgError(rcvid, EBADMSG);
        return;
    }
    char *text = malloc(len ? len : 1);
    if (!text) {
        MsgError(rcvid, ENOMEM);
        return;
    }
    if (MsgRead(rcvid, text, len, sizeof msg->text) != (ssize_t)len) {
        free(text);
        MsgError(rcvid, EFAULT);
        return;
    }
    for (uint32_t i = 0; i < len; i++)
        text[i] = (char)toupper((unsigned char)text[i]);
    say("UPPER: %u bytes", len);
    MsgReply(rcvid, (long)len, text, len);
    free(text);
}

static int on_calc(rcvid_t rcvid, const ex_msg_t *msg, const struct _msg_info *info)
{
    if ((size_t)info->msglen < sizeof msg->calc) {
        stats.refused++;
        return MsgError(rcvid, EBADMSG);
    }
    struct ex_calc_reply r;
    int64_t a = msg->calc.a, b = msg->calc.b;
    switch (msg->calc.hdr.subtype) {
    case EX_OP_ADD: r.result = a + b; break;
    case EX_OP_MUL: r.result = a * b; break;
    case EX_OP_DIV:
        if (b == 0)
            return MsgError(rcvid, EDOM);
        r.result = a / b;
        break;
    default:
        stats.refused++;
        return MsgError(rcvid, EINVAL);
    }
    say("CALC %d: %lld, %lld -> %lld", msg->calc.hdr.subtype, (long long)a,
        (long long)b, (long long)r.result);
    return MsgReply(rcvid, EOK, &r, sizeof r);
}

/* QUIT stops the server for every client, so only our own user may send
 * it.  Who sent it is the kernel's record of the connection
 * (ConnectClientInfo()), never anything the message says. */
static int from_our_user(const struct _msg_info *info)
{
    struct _client_info ci;
    if (ConnectClientInfo(info->scoid, &ci, 0) == -1)
        return 0;
    return ci.cred.euid == geteuid();
}

int main(int argc, char **argv)
{
    const char *name = "peermap_example";
    int ready_fd = -1, opt;
    while ((opt = getopt(argc, argv, "n:r:v")) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'v': verbose = 1; break;
        default:
            fprintf(stderr, "usage: %s [-n name] [-r fd] [-v]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    name_attach_t *attach = name_attach(NULL, name, 0);
    if (attach == NULL) {
        fprintf(stderr, "%s: name_attach %s: %s\n", argv[0], name, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("name_server: attached \"%s\" (channel %d, pid %d)\n", name, attach->chid,
           (int)getpid());
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("name_server: ready descriptor");
        close(ready_fd);
    }

    for (;;) {
        ex_msg_t msg;
        struct _msg_info info;
        rcvid_t rcvid = MsgReceive(attach->chid, &msg, sizeof msg, &info);
        if (rcvid == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: MsgReceive: %s\n", argv[0], strerror(errno));
            break;
        }
        if (rcvid == 0) {
            on_pulse(&msg.pulse);
            continue;
        }
        if (info.msglen < (int)sizeof msg.type) {
            stats.refused++;
            MsgError(rcvid, EBADMSG);
            continue;
        }

        /* name_open() with the global name service sends an _IO_CONNECT:
         * accept it. */
        if (msg.type == _IO_CONNECT) {
            stats.connects++;
            say("_IO_CONNECT from pid %d: accepted", (int)info.pid);
            MsgReply(rcvid, EOK, NULL, 0);
            continue;
        }
        /* Other I/O messages: we are not a resource manager. */
        if (msg.type >= _IO_BASE && msg.type <= _IO_MAX) {
            stats.refused++;
            say("I/O message %#x from pid %d: ENOSYS", msg.type, (int)info.pid);
            MsgError(rcvid, ENOSYS);
            continue;
        }

        stats.messages++;
        switch (msg.type) {
        case EX_MSG_CALC:
            on_calc(rcvid, &msg, &info);
            break;
        case EX_MSG_UPPER:
            on_upper(rcvid, &msg, &info);
            break;
        case EX_MSG_STATS:
            say("STATS");
            MsgReply(rcvid, EOK, &stats, sizeof stats);
            break;
        case EX_MSG_QUIT:
            if (!from_our_user(&info)) {
                stats.refused++;
                say("QUIT from pid %d, another user: EPERM", (int)info.pid);
                MsgError(rcvid, EPERM);
                break;
            }
            say("QUIT from pid %d", (int)info.pid);
            MsgReply(rcvid, EOK, NULL, 0);
            name_detach(attach, 0);
            printf("name_server: %u messages, %u connects, %u disconnects, "
                   "%u pings, %u refused; bye\n", stats.messages, stats.connects,
                   stats.disconnects, stats.pings, stats.refused);
            return EXIT_SUCCESS;
        default:
            stats.refused++;
            say("unknown message type %#x: ENOSYS", msg.type);
            MsgError(rcvid, ENOSYS);
            break;
        }
    }
    name_detach(attach, 0);
    return EXIT_FAILURE;
}
