/*
 * A timer-driven server, as QNX's "Clocks, Timers, and Getting a Kick
 * Every So Often" chapter teaches: a periodic timer delivers a pulse to the
 * server's own channel, and the server's MsgReceive() loop does its work on
 * each one; a kernel timeout bounds every wait.  On QNX this runs as is;
 * with glibc alone, timer_create() refuses the SIGEV_PULSE event.
 */
#include <stdint.h>
#include <sys/neutrino.h>
#include <time.h>

#include "qnx_run.h"

#define CODE_TIMER   1
#define CODE_ONESHOT 2

typedef union {
    struct _pulse pulse;
    char other[64];
} my_message_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    QR_EXPECT(chid != -1 && coid != -1, "channel");

    /* Filled field by field, as the chapter does. */
    struct sigevent event;
    event.sigev_notify = SIGEV_PULSE;
    event.sigev_coid = coid;
    event.sigev_priority = SIGEV_PULSE_PRIO_INHERIT;
    event.sigev_code = CODE_TIMER;
    event.sigev_value.sival_int = 0;

    timer_t timer_id;
    int rc = timer_create(CLOCK_MONOTONIC, &event, &timer_id);
    QR_EXPECT(rc == 0, "timer_create() with a SIGEV_PULSE event");

    struct itimerspec itime;
    itime.it_value.tv_sec = 0;
    itime.it_value.tv_nsec = 50000000;    /* first kick after 50 ms */
    itime.it_interval.tv_sec = 0;
    itime.it_interval.tv_nsec = 20000000; /* then every 20 ms */
    uint64_t start = now_ns();
    if (rc == 0)
        QR_EXPECT(timer_settime(timer_id, 0, &itime, NULL) == 0, "timer_settime");

    /* A one-shot kernel timer, QNX's own calls. */
    struct sigevent once;
    SIGEV_PULSE_INIT(&once, coid, SIGEV_PULSE_PRIO_INHERIT, CODE_ONESHOT, 7);
    int tid = TimerCreate(CLOCK_MONOTONIC, &once);
    struct _itimer it = { .nsec = 30000000, .interval_nsec = 0 };
    QR_EXPECT(tid != -1 && TimerSettime(tid, 0, &it, NULL) == 0, "TimerCreate/TimerSettime");

    struct sigevent unblock;
    SIGEV_UNBLOCK_INIT(&unblock);
    int ticks = 0, oneshots = 0;
    while (rc == 0 && ticks < 10) {
        my_message_t msg;
        uint64_t timeout = 5000000000ull; /* never wait more than 5 s */
        TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, &unblock, &timeout, NULL);
        int rcvid = MsgReceive(chid, &msg, sizeof msg, NULL);
        if (rcvid == -1) {
            QR_EXPECT(0, "MsgReceive after %d ticks", ticks);
            break;
        }
        if (rcvid == 0 && msg.pulse.code == CODE_TIMER)
            ticks++;
        else if (rcvid == 0 && msg.pulse.code == CODE_ONESHOT)
            oneshots += msg.pulse.value.sival_int == 7;
    }
    uint64_t took = now_ns() - start;
    printf("10 timer pulses in %.1f ms (at least 230 ms expected), %d one-shot\n",
           (double)took / 1e6, oneshots);
    QR_EXPECT(ticks == 10 && took >= 230000000u, "ten periodic pulses");
    QR_EXPECT(oneshots == 1, "the one-shot pulse");

    struct itimerspec left;
    QR_EXPECT(timer_gettime(timer_id, &left) == 0 &&
                  left.it_interval.tv_nsec == 20000000,
              "timer_gettime");
    QR_EXPECT(timer_delete(timer_id) == 0 && TimerDestroy(tid) == 0, "delete");
    return qr_verdict("timer_server");
}
