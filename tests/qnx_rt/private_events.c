/*
 * Events to a client's private channel, as QNX's MsgDeliverEvent() page
 * teaches: the client makes a channel only it may connect to, fills a
 * pulse event field by field for a connection to it, and gives the event
 * to a server; the server, in another process, keeps the rcvid and the
 * event and delivers it later, several times.  A ConnectAttach() to the
 * client's private channel from the server's process is refused at once,
 * never a connection whose pulses go nowhere.
 */
#include <stdint.h>
#include <sys/dispatch.h>
#include <sys/neutrino.h>

#include "qnx_run.h"

#define MSG_NOTIFY_ME 0x0012
#define CODE_EVENT    12

typedef struct {
    uint16_t type;
    uint16_t zero;
    int32_t private_chid;  /* for the check below */
    struct sigevent event;
} notify_msg_t;

static int ready[2];

static int server(void *arg)
{
    pid_t client = *(pid_t *)arg;
    name_attach_t *attach = name_attach(NULL, "qnx_event_server", 0);
    if (!attach)
        return 10;
    close(ready[0]);
    if (write(ready[1], "r", 1) != 1)
        return 11;
    notify_msg_t msg;
    int rcvid;
    do
        rcvid = MsgReceive(attach->chid, &msg, sizeof msg, NULL);
    while (rcvid == 0);
    if (rcvid == -1 || msg.type != MSG_NOTIFY_ME)
        return 12;
    MsgReply(rcvid, EOK, NULL, 0);
    /* The client's private channel is not ours to connect to. */
    int c = ConnectAttach(ND_LOCAL_NODE, client, msg.private_chid, _NTO_SIDE_CHANNEL, 0);
    if (c != -1 || errno != ESRCH)
        return 13;
    /* Later, whenever something happens: */
    for (int i = 1; i <= 3; i++) {
        msg.event.sigev_value.sival_int = i;
        if (MsgDeliverEvent(rcvid, &msg.event) == -1)
            return 14;
    }
    return 0;
}

int main(void)
{
    qr_pathspace();
    if (pipe(ready) < 0)
        return 2;
    pid_t me = getpid();
    pid_t srv = qr_fork(server, &me);
    close(ready[1]);
    char r;
    QR_EXPECT(read(ready[0], &r, 1) == 1, "the server is ready");

    int chid = ChannelCreate(_NTO_CHF_PRIVATE);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    int coid = name_open("qnx_event_server", 0);
    QR_EXPECT(chid != -1 && self != -1 && coid != -1, "channel, connections");

    notify_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.type = MSG_NOTIFY_ME;
    msg.private_chid = chid;
    msg.event.sigev_notify = SIGEV_PULSE;
    msg.event.sigev_coid = self;
    msg.event.sigev_priority = SIGEV_PULSE_PRIO_INHERIT;
    msg.event.sigev_code = CODE_EVENT;
    msg.event.sigev_value.sival_int = 0;
    QR_EXPECT(MsgSend(coid, &msg, sizeof msg, NULL, 0) == 0, "asking for events");

    int sum = 0;
    for (int i = 0; i < 3; i++) {
        struct _pulse p;
        uint64_t timeout = 10000000000ull;
        TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &timeout, NULL);
        int rcvid = MsgReceive(chid, &p, sizeof p, NULL);
        QR_EXPECT(rcvid == 0 && p.code == CODE_EVENT, "event %d", i + 1);
        if (rcvid == 0)
            sum += p.value.sival_int;
    }
    QR_EXPECT(sum == 6, "values 1, 2, 3 (sum %d)", sum);
    int st = qr_wait(srv, 10000);
    QR_EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the server delivered every event and was refused the private channel (%#x)",
              st);
    return qr_verdict("private_events");
}
