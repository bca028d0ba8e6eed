/*
 * union sigval's sival_long, as QNX code uses it: a pulse's value read as
 * msg.pulse.value.sival_long and printed with %lx, a signal's value queued
 * and received whole.  And the proof that adding the member changed nothing
 * for Linux: size, alignment, offsets and by-value passing are those of
 * glibc's own union (qnx_sigval_plain.c is compiled without the layer).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/neutrino.h>
#include <unistd.h>

#include "qnx_check.h"

size_t plain_sigval_size(void);
size_t plain_sigval_align(void);
size_t plain_sigevent_size(void);
size_t plain_sigevent_value_offset(void);
size_t plain_siginfo_value_offset(void);
union sigval plain_echo(union sigval v);
void *plain_ptr_of(union sigval v);
int plain_int_of(union sigval v);

static void same_as_glibc(void)
{
    EXPECT_EQ(sizeof(union sigval), plain_sigval_size());
    EXPECT_EQ(_Alignof(union sigval), plain_sigval_align());
    EXPECT_EQ(sizeof(struct sigevent), plain_sigevent_size());
    EXPECT_EQ(offsetof(struct sigevent, sigev_value), plain_sigevent_value_offset());
    EXPECT_EQ(offsetof(siginfo_t, si_value), plain_siginfo_value_offset());
    EXPECT_EQ(sizeof(long), sizeof(void *));

    /* Passed by value into and out of code that knows only the POSIX
     * members, every bit arrives. */
    union sigval v;
    v.sival_long = 0x1122334455667788L;
    EXPECT(plain_ptr_of(v) == (void *)0x1122334455667788L);
    EXPECT_EQ(plain_echo(v).sival_long, 0x1122334455667788L);
    v.sival_long = 0;
    v.sival_int = -7;
    EXPECT_EQ(plain_int_of(v), -7);
    /* The first member is still sival_int. */
    union sigval first = { 42 };
    EXPECT_EQ(first.sival_int, 42);
}

static volatile sig_atomic_t got;
static volatile long got_value;

static void on_signal(int signo, siginfo_t *info, void *ctx)
{
    (void)signo;
    (void)ctx;
    got_value = info->si_value.sival_long;
    got = 1;
}

static void queued_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    union sigval v;
    v.sival_long = 0x0123456789abcdefL;
    EXPECT_EQ(sigqueue(getpid(), SIGUSR1, v), 0);
    sigset_t wait = old;
    sigdelset(&wait, SIGUSR1);
    while (!got)
        sigsuspend(&wait);
    sigprocmask(SIG_SETMASK, &old, NULL);
    EXPECT_EQ(got_value, 0x0123456789abcdefL);
}

/* The pulse idiom of QNX's message-passing examples. */
static void pulse_value(void)
{
    union {
        struct _pulse pulse;
        char other[64];
    } msg;
    int chid = ChannelCreate(0);
    int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
    EXPECT(chid != -1 && coid != -1);
    EXPECT_EQ(MsgSendPulse(coid, -1, 5, 0x1234), 0);
    rcvid_t rcvid = MsgReceive(chid, &msg, sizeof msg, NULL);
    EXPECT_EQ(rcvid, 0);
    if (rcvid == 0) {
        char text[64];
        snprintf(text, sizeof text, "code %d, value %#lx", msg.pulse.code,
                 msg.pulse.value.sival_long);
        EXPECT(strcmp(text, "code 5, value 0x1234") == 0);
    }
    ConnectDetach(coid);
    ChannelDestroy(chid);
}

int main(void)
{
    same_as_glibc();
    queued_signal();
    pulse_value();
    return qnx_result("qnx_sigval");
}
