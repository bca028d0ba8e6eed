/*
 * name_open() to servers written for QNX 7: one answers every _IO_* message
 * with ENOSYS (it is no resource manager, and QNX 7's name_open() sends no
 * _IO_CONNECT unless the global name service runs), another receives
 * pulses only.  Both are found by name and reached.
 */
#include <stdint.h>
#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "qnx_run.h"

#define MSG_HELLO 0x0011 /* below _IO_BASE (0x100): ours */
#define CODE_PING 3

typedef struct {
    uint16_t type;
    uint16_t subtype;
    int32_t value;
} my_msg_t;

typedef union {
    uint16_t type;
    struct _pulse pulse;
    my_msg_t my;
    char raw[512];
} any_msg_t;

static int ready[2];

static int enosys_server(void *arg)
{
    (void)arg;
    name_attach_t *attach = name_attach(NULL, "qnx7_enosys", 0);
    if (!attach)
        return 10;
    close(ready[0]);
    if (write(ready[1], "r", 1) != 1)
        return 11;
    for (;;) {
        any_msg_t msg;
        int rcvid = MsgReceive(attach->chid, &msg, sizeof msg, NULL);
        if (rcvid == -1)
            return 12;
        if (rcvid == 0) {
            if (msg.pulse.code == CODE_PING)
                return 0; /* the pulse-only client's ping: done */
            continue;
        }
        if (msg.type >= _IO_BASE && msg.type <= _IO_MAX) {
            MsgError(rcvid, ENOSYS); /* _IO_CONNECT too */
            continue;
        }
        if (msg.type == MSG_HELLO) {
            MsgReply(rcvid, msg.my.value + 1, NULL, 0);
            continue;
        }
        MsgError(rcvid, ENOSYS);
    }
}

int main(void)
{
    qr_pathspace();
    if (pipe(ready) < 0)
        return 2;
    pid_t srv = qr_fork(enosys_server, NULL);
    close(ready[1]);
    char c;
    QR_EXPECT(read(ready[0], &c, 1) == 1, "the server is ready");

    int coid = name_open("qnx7_enosys", 0);
    QR_EXPECT(coid != -1, "name_open() of a server that refuses _IO_CONNECT");
    my_msg_t m = { .type = MSG_HELLO, .value = 41 };
    long st = coid == -1 ? -1 : MsgSend(coid, &m, sizeof m, NULL, 0);
    QR_EXPECT(st == 42, "its own message: %ld", st);

    /* A second client that only ever sends pulses. */
    int pcoid = name_open("qnx7_enosys", 0);
    QR_EXPECT(pcoid != -1 && MsgSendPulse(pcoid, -1, CODE_PING, 0) == 0, "a pulse");
    int status = qr_wait(srv, 10000);
    QR_EXPECT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the server got the pulse and ended (status %#x)", status);
    if (coid != -1)
        name_close(coid);
    if (pcoid != -1)
        name_close(pcoid);
    return qr_verdict("name_enosys");
}
