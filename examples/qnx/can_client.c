/*
 * can_client - a CAN client in the shape of QNX's, using the devctl()
 * commands of <sys/can_dcmd.h> on the mailboxes of can_manager: set a
 * receive mailbox's message ID, send frames, read them back (at once, and
 * after waiting for them), see the statistics and the device information,
 * and get the errors QNX documents for misuse.  Exit status 0 when every
 * answer was what QNX's devctl reference says it should be.
 *
 *   can_client [--spawn-server [--server PATH]] [-u unit]
 *
 * --spawn-server starts can_manager in a private path space first (and
 * stops it at the end); otherwise a running can_manager is used.
 *
 * On QNX a client opens the mailboxes with open(); here pm_open() (an open()
 * that reaches peermap's path space) does, and the descriptor is used with
 * devctl() as on QNX.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <devctl.h>
#include <sys/can_dcmd.h>
#include <peermap.h>

#include "../example_spawn.h"

static int failures;

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("  FAILED at line %d: %s\n", __LINE__, #cond);              \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static int open_mbox(int unit, const char *name, int flags)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/can%d/%s", unit, name);
    int fd = pm_open(path, flags);
    if (fd == -1)
        printf("  open %s: %s\n", path, strerror(errno));
    return fd;
}

static CAN_MSG frame(uint32_t mid, const char *bytes, uint8_t len)
{
    CAN_MSG m;
    memset(&m, 0, sizeof m);
    m.mid = mid;
    m.len = len;
    memcpy(m.dat, bytes, len);
    return m;
}

/* ---- a reader that waits for its frame in another thread ---- */

struct reader {
    int     fd;
    int     status;
    CAN_MSG got;
    int     started[2];
};

static void *read_one(void *arg)
{
    struct reader *r = arg;
    char go = 1;
    (void)!write(r->started[1], &go, 1);
    r->status = devctl(r->fd, CAN_DEVCTL_READ_CANMSG_EXT, &r->got, sizeof r->got, NULL);
    return NULL;
}

static void on_usr1(int signo) { (void)signo; }

static int run(int unit)
{
    int rx0 = open_mbox(unit, "rx0", O_RDWR);
    int rx1 = open_mbox(unit, "rx1", O_RDWR);
    int tx = open_mbox(unit, "tx0", O_RDWR);
    if (rx0 < 0 || rx1 < 0 || tx < 0)
        return 1;

    /* Message IDs: rx0 keeps its default, rx1 is moved to 0x200. */
    uint32_t mid = 0;
    EXPECT(devctl(rx0, CAN_DEVCTL_GET_MID, &mid, sizeof mid, NULL) == EOK && mid == 0x100);
    mid = 0x200;
    EXPECT(devctl(rx1, CAN_DEVCTL_SET_MID, &mid, sizeof mid, NULL) == EOK);
    mid = 0;
    EXPECT(devctl(rx1, CAN_DEVCTL_GET_MID, &mid, sizeof mid, NULL) == EOK && mid == 0x200);

    /* Nothing received yet. */
    CAN_MSG got;
    EXPECT(devctl(rx0, CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK, &got, sizeof got, NULL) == EAGAIN);

    /* A frame for 0x100 reaches rx0 only. */
    CAN_MSG m = frame(0x100, "\x11\x22\x33", 3);
    EXPECT(devctl(tx, CAN_DEVCTL_WRITE_CANMSG_EXT, &m, sizeof m, NULL) == EOK);
    memset(&got, 0, sizeof got);
    EXPECT(devctl(rx0, CAN_DEVCTL_READ_CANMSG_EXT, &got, sizeof got, NULL) == EOK);
    EXPECT(got.mid == 0x100 && got.len == 3 && memcmp(got.dat, "\x11\x22\x33", 3) == 0);
    EXPECT(devctl(rx1, CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK, &got, sizeof got, NULL) == EAGAIN);

    /* A reader that waits gets the frame sent after it started waiting. */
    struct reader r = { .fd = rx1 };
    EXPECT(pipe(r.started) == 0);
    pthread_t t;
    pthread_create(&t, NULL, read_one, &r);
    char go;
    EXPECT(read(r.started[0], &go, 1) == 1);
    m = frame(0x200, "\xaa\xbb", 2);
    EXPECT(devctl(tx, CAN_DEVCTL_WRITE_CANMSG_EXT, &m, sizeof m, NULL) == EOK);
    pthread_join(t, NULL);
    EXPECT(r.status == EOK && r.got.mid == 0x200 && r.got.len == 2 &&
           memcmp(r.got.dat, "\xaa\xbb", 2) == 0);

    /* A waiting reader that is interrupted is let go (EINTR), and the
     * manager forgets it: the next frame is queued, not lost to it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;     /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    struct reader r2 = { .fd = rx0 };
    EXPECT(pipe(r2.started) == 0);
    pthread_create(&t, NULL, read_one, &r2);
    EXPECT(read(r2.started[0], &go, 1) == 1);
    /* Signal until it is out: a signal before it blocks is harmless. */
    for (int i = 0; i < 500; i++) {
        pthread_kill(t, SIGUSR1);
        struct timespec nap = { 0, 10 * 1000 * 1000 };
        nanosleep(&nap, NULL);
        if (r2.status == EINTR)
            break;
    }
    pthread_join(t, NULL);
    EXPECT(r2.status == EINTR);
    m = frame(0x100, "\x01", 1);
    EXPECT(devctl(tx, CAN_DEVCTL_WRITE_CANMSG_EXT, &m, sizeof m, NULL) == EOK);
    EXPECT(devctl(rx0, CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK, &got, sizeof got, NULL) == EOK &&
           got.mid == 0x100 && got.dat[0] == 1);

    /* Statistics and device information. */
    CAN_DEVCTL_STATS stats;
    EXPECT(devctl(tx, CAN_DEVCTL_GET_STATS, &stats, sizeof stats, NULL) == EOK);
    EXPECT(stats.transmitted_frames == 3);
    EXPECT(devctl(rx0, CAN_DEVCTL_GET_STATS, &stats, sizeof stats, NULL) == EOK);
    EXPECT(stats.received_frames == 2);
    CAN_DEVCTL_INFO info;
    EXPECT(devctl(rx0, CAN_DEVCTL_GET_INFO, &info, sizeof info, NULL) == EOK);
    EXPECT(info.mode == CANDEV_MODE_IO && info.num_rx_mboxes == 2 && info.description[0]);

    /* Misuse answers as QNX documents. */
    EXPECT(devctl(rx0, CAN_DEVCTL_WRITE_CANMSG_EXT, &m, sizeof m, NULL) == EINVAL);
    m = frame(0x100, "", 0);
    m.len = 9;
    EXPECT(devctl(tx, CAN_DEVCTL_WRITE_CANMSG_EXT, &m, sizeof m, NULL) == EINVAL);
    EXPECT(devctl(tx, CAN_DEVCTL_READ_CANMSG_EXT, &got, sizeof got, NULL) == EINVAL);

    /* A non-blocking open never waits. */
    int nb = open_mbox(unit, "rx0", O_RDWR | O_NONBLOCK);
    EXPECT(nb >= 0 && devctl(nb, CAN_DEVCTL_READ_CANMSG_EXT, &got, sizeof got, NULL) == EAGAIN);
    pm_close(nb);

    pm_close(rx0);
    pm_close(rx1);
    pm_close(tx);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    int spawn = 0, unit = 1;
    char server[PATH_MAX] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--spawn-server"))
            spawn = 1;
        else if (!strcmp(argv[i], "--server") && i + 1 < argc)
            snprintf(server, sizeof server, "%s", argv[++i]);
        else if (!strcmp(argv[i], "-u") && i + 1 < argc)
            unit = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--spawn-server [--server PATH]] [-u unit]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60);   /* the deadline of every wait below */

    pid_t pid = 0;
    char ubuf[16];
    snprintf(ubuf, sizeof ubuf, "%d", unit);
    if (spawn) {
        if (!server[0])
            ex_sibling(argv[0], "can_manager", server, sizeof server);
        const char *args[] = { server, "-u", ubuf, NULL };
        if (ex_pathspace("can") < 0 || (pid = ex_spawn(server, args)) < 0) {
            ex_pathspace_remove();
            return 1;
        }
    }
    int rc = run(unit);
    if (spawn && ex_reap(pid, 1) < 0)
        rc = 1;
    ex_pathspace_remove();
    printf("can_client: %s\n", rc ? "FAILED" : "every answer as documented");
    return rc;
}
