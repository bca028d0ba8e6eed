/*
 * The unblock protocol, as QNX's "Message Passing" chapter teaches for a
 * server busy with a long request: the single-threaded server cannot
 * receive the unblock pulse while it works, so it looks at MsgInfo()'s
 * _NTO_MI_UNBLOCK_REQ now and then, and gives up when the client wants
 * out.  The client here gives up through a kernel timeout
 * (TimerTimeout() with _NTO_TIMEOUT_REPLY) on a channel made with
 * _NTO_CHF_UNBLOCK: it stays blocked until the server answers it.
 */
#include <stdint.h>
#include <sys/dispatch.h>
#include <sys/neutrino.h>

#include "qnx_run.h"

#define MSG_LONG_JOB 0x0013

static int ready[2];

static int server(void *arg)
{
    (void)arg;
    name_attach_t *attach = name_attach(NULL, "qnx_long_jobs", 0);
    if (!attach)
        return 10;
    close(ready[0]);
    if (write(ready[1], "r", 1) != 1)
        return 11;
    union { uint16_t type; struct _pulse pulse; char raw[64]; } msg;
    int rcvid;
    do
        rcvid = MsgReceive(attach->chid, &msg, sizeof msg, NULL);
    while (rcvid == 0);
    if (rcvid == -1 || msg.type != MSG_LONG_JOB)
        return 12;
    /* The long job, a slice at a time, for 10 s at most. */
    struct _msg_info info;
    for (int slice = 0; slice < 10000; slice++) {
        if (MsgInfo(rcvid, &info) == -1)
            return 13;
        if (info.flags & _NTO_MI_UNBLOCK_REQ) {
            MsgError(rcvid, ETIMEDOUT); /* abandon it */
            /* The unblock pulse follows, as the kernel sends it. */
            int r;
            do
                r = MsgReceive(attach->chid, &msg, sizeof msg, NULL);
            while (r > 0);
            return r == 0 && msg.pulse.code == _PULSE_CODE_UNBLOCK ? 0 : 14;
        }
        /* A slice of work.  The nap is the program's behaviour, not a
         * synchronisation: the guide's server checks between slices of a
         * job it cannot wait beside, and the result does not depend on
         * when the flag is seen - only that it is, within 10 s. */
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    MsgReply(rcvid, EOK, NULL, 0);
    return 15; /* never asked to stop */
}

int main(void)
{
    qr_pathspace();
    if (pipe(ready) < 0)
        return 2;
    pid_t srv = qr_fork(server, NULL);
    close(ready[1]);
    char c;
    QR_EXPECT(read(ready[0], &c, 1) == 1, "the server is ready");
    int coid = name_open("qnx_long_jobs", 0);
    QR_EXPECT(coid != -1, "name_open");
    uint16_t job = MSG_LONG_JOB;
    uint64_t timeout = 100000000; /* 100 ms */
    /* REPLY only: a send timeout as well would race the server's getting
     * to MsgReceive() (100 ms late under load, and the job never came). */
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &timeout, NULL);
    errno = 0;
    long st = MsgSend(coid, &job, sizeof job, NULL, 0);
    QR_EXPECT(st == -1 && errno == ETIMEDOUT, "the server's answer to our timeout: %ld", st);
    int status = qr_wait(srv, 15000);
    QR_EXPECT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the server saw _NTO_MI_UNBLOCK_REQ and the unblock pulse (%#x)", status);
    return qr_verdict("unblock_req");
}
