/*
 * struct sigevent as QNX code fills it (<sys/siginfo.h>, from <signal.h>
 * or <sys/neutrino.h>): QNX's members sigev_coid, sigev_code and
 * sigev_priority, the SIGEV_*_INIT() family, SIGEV_GET_TYPE() /
 * SIGEV_SET_TYPE() and the flags.  Events built with the macros are real
 * events: a signal or thread event drives glibc's timer_create(), a pulse
 * event travels through MsgDeliverEvent() - the pattern of QNX's
 * "server notifies client" examples.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/siginfo.h>
#include <time.h>
#include <unistd.h>

#include "qnx_check.h"

static void members(void)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_PULSE;
    ev.sigev_coid = 0x40000001;
    ev.sigev_priority = 21;
    ev.sigev_code = 7;
    ev.sigev_value.sival_int = 99;
    /* Each member keeps its own value... */
    EXPECT_EQ(ev.sigev_coid, 0x40000001);
    EXPECT_EQ(ev.sigev_priority, 21);
    EXPECT_EQ(ev.sigev_code, 7);
    EXPECT_EQ(ev.sigev_value.sival_int, 99);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_PULSE);
    /* ...and a connection shares its place with the signal number, as on QNX. */
    EXPECT_EQ(ev.sigev_signo, 0x40000001);
}

static void types_and_flags(void)
{
    /* QNX-only types fit the type mask and collide with no Linux type. */
    int qnx[] = { SIGEV_SIGNAL_CODE, SIGEV_SIGNAL_THREAD, SIGEV_PULSE, SIGEV_UNBLOCK, SIGEV_INTR };
    for (unsigned i = 0; i < sizeof qnx / sizeof qnx[0]; i++) {
        EXPECT_EQ(qnx[i] & ~SIGEV_TYPE_MASK, 0);
        EXPECT(qnx[i] != SIGEV_NONE && qnx[i] != SIGEV_SIGNAL && qnx[i] != SIGEV_THREAD &&
               qnx[i] != SIGEV_THREAD_ID);
    }

    struct sigevent ev;
    SIGEV_UNBLOCK_INIT(&ev);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_UNBLOCK);
    SIGEV_MAKE_UPDATEABLE(&ev);
    EXPECT(ev.sigev_notify & SIGEV_FLAG_UPDATEABLE);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_UNBLOCK);   /* the flag hides nothing */
    SIGEV_SET_TYPE(&ev, SIGEV_SIGNAL);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_SIGNAL);
    EXPECT(ev.sigev_notify & SIGEV_FLAG_UPDATEABLE); /* SET_TYPE keeps flags */
    SIGEV_CLEAR_UPDATEABLE(&ev);
    EXPECT_EQ(ev.sigev_notify, SIGEV_SIGNAL);
    SIGEV_MAKE_CRITICAL(&ev);
    SIGEV_CLEAR_CRITICAL(&ev);
    EXPECT_EQ(ev.sigev_notify, SIGEV_SIGNAL);

    SIGEV_INTR_INIT(&ev);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_INTR);
    SIGEV_NONE_INIT(&ev);
    EXPECT_EQ(ev.sigev_notify, SIGEV_NONE);

    SIGEV_SIGNAL_CODE_INIT(&ev, SIGUSR2, 17, 3);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_SIGNAL_CODE);
    EXPECT_EQ(ev.sigev_signo, SIGUSR2);
    EXPECT_EQ(ev.sigev_value.sival_int, 17);
    EXPECT_EQ(ev.sigev_code, 3);
    SIGEV_SIGNAL_THREAD_INIT(&ev, SIGUSR1, 0, 4);
    EXPECT_EQ(SIGEV_GET_TYPE(&ev), SIGEV_SIGNAL_THREAD);
    EXPECT_EQ(ev.sigev_code, 4);
    SIGEV_SIGNAL_VALUE_INT_INIT(&ev, SIGUSR1, -3);
    EXPECT_EQ(ev.sigev_value.sival_int, -3);
    EXPECT_EQ(ev.sigev_value.sival_long, (long)(unsigned)-3); /* upper half 0 */
}

/* A timer event built by QNX's macro is an event glibc accepts. */
static void signal_event_drives_a_timer(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sigevent ev;
    static int cookie;
    SIGEV_SIGNAL_VALUE_INIT(&ev, SIGRTMIN, &cookie);
    timer_t timer;
    EXPECT_EQ(timer_create(CLOCK_MONOTONIC, &ev, &timer), 0);
    struct itimerspec its = { .it_value = { 0, 1000000 } };
    EXPECT_EQ(timer_settime(timer, 0, &its, NULL), 0);
    siginfo_t info;
    struct timespec limit = { 10, 0 };
    EXPECT_EQ(sigtimedwait(&set, &info, &limit), SIGRTMIN);
    EXPECT(info.si_value.sival_ptr == &cookie);
    EXPECT_EQ(info.si_code, SI_TIMER);
    timer_delete(timer);
}

static int fired[2];

static void on_timer(union sigval v)
{
    int one = 1;
    (void)!write(fired[1], &one, sizeof one);
    (void)!write(fired[1], &v.sival_int, sizeof v.sival_int);
}

static void thread_event_drives_a_timer(void)
{
    EXPECT_EQ(pipe(fired), 0);
    struct sigevent ev;
    SIGEV_THREAD_INIT(&ev, on_timer, 4321, NULL);
    timer_t timer;
    EXPECT_EQ(timer_create(CLOCK_MONOTONIC, &ev, &timer), 0);
    struct itimerspec its = { .it_value = { 0, 1000000 } };
    EXPECT_EQ(timer_settime(timer, 0, &its, NULL), 0);
    int one = 0, value = 0;
    struct pollfd pfd = { .fd = fired[0], .events = POLLIN };
    EXPECT_EQ(poll(&pfd, 1, 10000), 1);                      /* it ran */
    EXPECT_EQ(read(fired[0], &one, sizeof one), sizeof one);
    EXPECT_EQ(read(fired[0], &value, sizeof value), sizeof value);
    EXPECT_EQ(value, 4321);
    timer_delete(timer);
    close(fired[0]);
    close(fired[1]);
}

/* ---- "notify me later": a pulse event through MsgDeliverEvent() ---- */

#define MY_PULSE_CODE (_PULSE_CODE_MINAVAIL + 9)

struct request {
    uint16_t type;
    struct sigevent ev;
};

static int server_chid;

static void *client(void *arg)
{
    struct request *req = arg;
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, server_chid, _NTO_SIDE_CHANNEL, 0);
    MsgSend(coid, req, sizeof *req, NULL, 0);
    return (void *)(intptr_t)coid;  /* stays connected until joined */
}

static void pulse_event_is_delivered(int int_form)
{
    int my_chid = ChannelCreate(0);
    int self = ConnectAttach(ND_LOCAL_NODE, 0, my_chid, _NTO_SIDE_CHANNEL, 0);
    server_chid = ChannelCreate(0);
    EXPECT(my_chid != -1 && self != -1 && server_chid != -1);

    struct request req = { .type = 1 };
    if (int_form)
        SIGEV_PULSE_INT_INIT(&req.ev, self, SIGEV_PULSE_PRIO_INHERIT, MY_PULSE_CODE, 0x5a5a);
    else
        SIGEV_PULSE_INIT(&req.ev, self, SIGEV_PULSE_PRIO_INHERIT, MY_PULSE_CODE, 0x5a5a);
    EXPECT_EQ(SIGEV_GET_TYPE(&req.ev), SIGEV_PULSE);
    EXPECT_EQ(req.ev.sigev_coid, self);
    EXPECT_EQ(req.ev.sigev_code, MY_PULSE_CODE);
    EXPECT_EQ(req.ev.sigev_priority, SIGEV_PULSE_PRIO_INHERIT);

    pthread_t t;
    pthread_create(&t, NULL, client, &req);

    /* The server: keep the event and the rcvid, reply, deliver later. */
    struct request got;
    struct _msg_info info;
    rcvid_t rcvid = MsgReceive(server_chid, &got, sizeof got, &info);
    EXPECT(rcvid > 0);
    struct sigevent saved = got.ev;
    MsgReply(rcvid, EOK, NULL, 0);
    int delivered = MsgDeliverEvent(rcvid, &saved);
    EXPECT_EQ(delivered, 0);

    struct _pulse pulse;
    if (delivered == 0) {
        EXPECT_EQ(MsgReceive(my_chid, &pulse, sizeof pulse, NULL), 0);
        EXPECT_EQ(pulse.code, MY_PULSE_CODE);
        EXPECT_EQ(pulse.value.sival_int, 0x5a5a);
    }

    void *coid;
    pthread_join(t, &coid);
    ConnectDetach((int)(intptr_t)coid);
    ConnectDetach(self);
    ChannelDestroy(server_chid);
    ChannelDestroy(my_chid);
}

int main(void)
{
    alarm(30);  /* every wait below has this deadline at most */
    members();
    types_and_flags();
    signal_event_drives_a_timer();
    thread_event_drives_a_timer();
    pulse_event_is_delivered(0);
    pulse_event_is_delivered(1);
    return qnx_result("qnx_siginfo");
}
