/*
 * can_manager - a CAN device manager in the shape of QNX's dev-can-*
 * drivers, serving the devctl() interface of <sys/can_dcmd.h> over a
 * virtual bus: what one transmit mailbox sends, every receive mailbox whose
 * message ID matches gets (like Linux's vcan, with QNX's interface).  There
 * is no CAN hardware here; a real driver would also talk to a controller.
 *
 *   can_manager [-u unit] [-r fd]
 *
 * attaches /dev/canUNIT/rx0, /dev/canUNIT/rx1 (receive mailboxes, message
 * IDs 0x100 and 0x101 until CAN_DEVCTL_SET_MID) and /dev/canUNIT/tx0, and
 * serves, on each mailbox as fits it:
 *
 *   CAN_DEVCTL_GET/SET_MID, GET/SET_MFILTER, GET/SET_PRIO,
 *   GET/SET_TIMESTAMP, GET_STATS, GET_INFO, ERROR
 *   CAN_DEVCTL_WRITE_CANMSG_EXT, TX_FRAME_RAW   (tx): put a frame on the bus
 *   CAN_DEVCTL_READ_CANMSG_EXT, RX_FRAME_RAW_BLOCK (rx): the next frame,
 *        waiting for one (unless the open was O_NONBLOCK: EAGAIN)
 *   CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK       (rx): the next frame, or EAGAIN
 *
 * A receive mailbox takes a frame when the bits its filter selects
 * (CAN_DEVCTL_SET_MFILTER, all bits by default) are equal in the frame's ID
 * and its own.  A reader that waits is answered later, from the writer's
 * message (_RESMGR_NOREPLY now, MsgReplyv() then); one that is interrupted
 * is let go (the unblock handler) and one whose descriptor is closed is
 * answered EBADF.  Queues and waiting readers are bounded per mailbox: a
 * frame for a full queue is dropped and counted (sw_receive_q_full), a
 * reader beyond the bound is refused with EAGAIN.
 *
 * Single-threaded: one dispatch loop, so the mailboxes need no locks.
 * SIGTERM or SIGINT detach the paths and exit 0.  can_client is the client.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct can_mbox;
#define IOFUNC_ATTR_T struct can_mbox
#include <sys/iofunc.h>
#include <sys/dispatch.h>
#include <sys/can_dcmd.h>

#define RX_MBOXES   2
#define QUEUE_LEN   16
#define MAX_WAITERS 8

struct waiter {
    rcvid_t       rcvid;  /* the devctl to answer */
    iofunc_ocb_t *ocb;    /* the open it came on */
};

/* A mailbox: the attribute the iofunc layer keeps, then ours. */
struct can_mbox {
    iofunc_attr_t    attr;
    int              is_tx;
    uint32_t         mid, mfilter, prio;
    CAN_MSG          queue[QUEUE_LEN];
    unsigned         head, count;
    struct waiter    waiters[MAX_WAITERS];
    unsigned         nwaiters;
    CAN_DEVCTL_STATS stats;
};

static struct can_mbox rx[RX_MBOXES], tx;
static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t io_funcs;
static struct timespec started;
static uint32_t timestamp_base;

/* Milliseconds since start, plus what CAN_DEVCTL_SET_TIMESTAMP set. */
static uint32_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return timestamp_base + (uint32_t)((t.tv_sec - started.tv_sec) * 1000 +
                                       (t.tv_nsec - started.tv_nsec) / 1000000);
}

/* Answer a waiting devctl with a frame; 0, or -1 when the reader is gone. */
static int reply_frame(rcvid_t rcvid, const CAN_MSG *m)
{
    struct _io_devctl_reply o;
    iov_t iov[2];
    memset(&o, 0, sizeof o);
    o.nbytes = sizeof *m;
    SETIOV(&iov[0], &o, sizeof o);
    SETIOV(&iov[1], m, sizeof *m);
    return MsgReplyv(rcvid, EOK, iov, 2);
}

/* A frame reaches a receive mailbox: to the first waiting reader still
 * there, else into the queue (dropped, and counted, when it is full). */
static void receive(struct can_mbox *mb, const CAN_MSG *frame)
{
    CAN_MSG m = *frame;
    m.ext.timestamp = now_ms();
    mb->stats.received_frames++;
    while (mb->nwaiters > 0) {
        struct waiter w = mb->waiters[0];
        memmove(&mb->waiters[0], &mb->waiters[1], --mb->nwaiters * sizeof w);
        if (reply_frame(w.rcvid, &m) == 0)
            return;
    }
    if (mb->count == QUEUE_LEN) {
        mb->stats.sw_receive_q_full++;
        return;
    }
    mb->queue[(mb->head + mb->count++) % QUEUE_LEN] = m;
}

static void transmit(const CAN_MSG *frame)
{
    tx.stats.transmitted_frames++;
    for (int i = 0; i < RX_MBOXES; i++)
        if (((frame->mid ^ rx[i].mid) & rx[i].mfilter) == 0)
            receive(&rx[i], frame);
}

/* The data of a devctl arrived whole, at least `need` bytes of it. */
static int has_data(resmgr_context_t *ctp, io_devctl_t *msg, size_t need)
{
    return msg->i.nbytes >= need && (size_t)ctp->size >= sizeof msg->i + need;
}

static int reply_data(resmgr_context_t *ctp, io_devctl_t *msg, const void *data, size_t n)
{
    void *out = _DEVCTL_DATA(msg->o);
    memmove(out, data, n);
    memset(&msg->o, 0, sizeof msg->o);
    msg->o.nbytes = (uint32_t)n;
    return _RESMGR_PTR(ctp, &msg->o, sizeof msg->o + n);
}

/* The 32-bit word a SET command carries, into *to. */
static int set_word(resmgr_context_t *ctp, io_devctl_t *msg, uint32_t *to)
{
    if (!has_data(ctp, msg, sizeof *to))
        return EINVAL;
    memcpy(to, _DEVCTL_DATA(msg->i), sizeof *to);
    return EOK;
}

static int io_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb)
{
    struct can_mbox *mb = ocb->attr;
    void *data = _DEVCTL_DATA(msg->i);
    uint32_t word;
    int status;

    if ((status = iofunc_devctl_default(ctp, msg, ocb)) != _RESMGR_DEFAULT)
        return status;

    switch (msg->i.dcmd) {
    case CAN_DEVCTL_GET_MID:       return reply_data(ctp, msg, &mb->mid, sizeof mb->mid);
    case CAN_DEVCTL_GET_MFILTER:   return reply_data(ctp, msg, &mb->mfilter, sizeof mb->mfilter);
    case CAN_DEVCTL_GET_PRIO:      return reply_data(ctp, msg, &mb->prio, sizeof mb->prio);
    case CAN_DEVCTL_GET_TIMESTAMP:
        word = now_ms();
        return reply_data(ctp, msg, &word, sizeof word);
    case CAN_DEVCTL_GET_STATS:     return reply_data(ctp, msg, &mb->stats, sizeof mb->stats);
    case CAN_DEVCTL_ERROR: {
        struct can_devctl_error e;
        memset(&e, 0, sizeof e);   /* a virtual bus has no errors */
        return reply_data(ctp, msg, &e, sizeof e);
    }
    case CAN_DEVCTL_GET_INFO: {
        CAN_DEVCTL_INFO info;
        memset(&info, 0, sizeof info);
        snprintf(info.description, sizeof info.description, "peermap virtual CAN bus");
        info.msgq_size = QUEUE_LEN;
        info.waitq_size = MAX_WAITERS;
        info.mode = CANDEV_MODE_IO;
        info.bit_rate = 500000;
        info.num_tx_mboxes = 1;
        info.num_rx_mboxes = RX_MBOXES;
        info.loopback_internal = 1;
        return reply_data(ctp, msg, &info, sizeof info);
    }
    case CAN_DEVCTL_SET_MID:
        return set_word(ctp, msg, &mb->mid);
    case CAN_DEVCTL_SET_MFILTER:
        return set_word(ctp, msg, &mb->mfilter);
    case CAN_DEVCTL_SET_PRIO:
        return set_word(ctp, msg, &mb->prio);
    case CAN_DEVCTL_SET_TIMESTAMP:
        if ((status = set_word(ctp, msg, &word)) == EOK)
            timestamp_base = word - (now_ms() - timestamp_base);
        return status;
    case CAN_DEVCTL_WRITE_CANMSG_EXT:
    case CAN_DEVCTL_TX_FRAME_RAW: {
        CAN_MSG m;
        if (!mb->is_tx)
            return EINVAL;           /* not a transmit mailbox */
        if (!has_data(ctp, msg, sizeof m))
            return EINVAL;
        memcpy(&m, data, sizeof m);
        if (m.len > CAN_MSG_DATA_MAX || m.mid > (m.ext.is_extended_mid ? 0x1fffffffu : 0x7ffu))
            return EINVAL;
        transmit(&m);
        return EOK;
    }
    case CAN_DEVCTL_READ_CANMSG_EXT:
    case CAN_DEVCTL_RX_FRAME_RAW_BLOCK:
    case CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK:
        if (mb->is_tx)
            return EINVAL;           /* not a receive mailbox */
        if (msg->i.nbytes < sizeof(CAN_MSG))
            return EINVAL;
        if (mb->count > 0) {
            CAN_MSG m = mb->queue[mb->head];
            mb->head = (mb->head + 1) % QUEUE_LEN;
            mb->count--;
            return reply_data(ctp, msg, &m, sizeof m);
        }
        if ((unsigned)msg->i.dcmd == CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK || (ocb->ioflag & O_NONBLOCK))
            return EAGAIN;
        if (mb->nwaiters == MAX_WAITERS)
            return EAGAIN;
        mb->waiters[mb->nwaiters++] = (struct waiter){ ctp->rcvid, ocb };
        return _RESMGR_NOREPLY;      /* answered by receive() */
    default:
        return ENOTTY;
    }
}

/* A waiting reader was interrupted: forget it; the framework answers it
 * EINTR (_RESMGR_DEFAULT). */
static int io_unblock(resmgr_context_t *ctp, io_pulse_t *msg, iofunc_ocb_t *ocb)
{
    (void)ctp;
    struct can_mbox *mb = ocb->attr;
    rcvid_t blocked = (rcvid_t)(unsigned)msg->value.sival_int;
    for (unsigned i = 0; i < mb->nwaiters; i++)
        if (mb->waiters[i].rcvid == blocked) {
            memmove(&mb->waiters[i], &mb->waiters[i + 1],
                    (mb->nwaiters - i - 1) * sizeof mb->waiters[0]);
            mb->nwaiters--;
            break;
        }
    return _RESMGR_DEFAULT;
}

/* The last close of an open: readers still waiting on it get EBADF. */
static int io_close_ocb(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
    struct can_mbox *mb = ocb->attr;
    for (unsigned i = 0; i < mb->nwaiters;) {
        if (mb->waiters[i].ocb == ocb) {
            MsgError(mb->waiters[i].rcvid, EBADF);
            memmove(&mb->waiters[i], &mb->waiters[i + 1],
                    (mb->nwaiters - i - 1) * sizeof mb->waiters[0]);
            mb->nwaiters--;
        } else {
            i++;
        }
    }
    return iofunc_close_ocb_default(ctp, reserved, ocb);
}

/* ---- start-up and shut-down, as QNX's resource managers do it ---- */

static dispatch_t *dpp;
static sigset_t stop_signals;

static void *stopper(void *arg)
{
    (void)arg;
    int sig;
    sigwait(&stop_signals, &sig);
    _exit(EXIT_SUCCESS);   /* exiting detaches every path */
    return NULL;
}

static int attach(struct can_mbox *mb, const char *path, int is_tx, uint32_t mid)
{
    resmgr_attr_t rattr;
    memset(&rattr, 0, sizeof rattr);
    rattr.nparts_max = 2;
    rattr.msg_max_size = 2048;
    iofunc_attr_init(&mb->attr, S_IFCHR | 0666, NULL, NULL);
    mb->is_tx = is_tx;
    mb->mid = mid;
    mb->mfilter = 0xffffffffu;
    if (resmgr_attach(dpp, &rattr, path, _FTYPE_ANY, 0, &connect_funcs, &io_funcs, mb) == -1) {
        fprintf(stderr, "can_manager: resmgr_attach %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int unit = 1, ready_fd = -1, opt;
    char path[64];

    while ((opt = getopt(argc, argv, "u:r:")) != -1) {
        switch (opt) {
        case 'u': unit = atoi(optarg); break;
        case 'r': ready_fd = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-u unit] [-r fd]\n", argv[0]);
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &started);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    if ((dpp = dispatch_create()) == NULL) {
        fprintf(stderr, "can_manager: dispatch_create: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    io_funcs.devctl = io_devctl;
    io_funcs.unblock = io_unblock;
    io_funcs.close_ocb = io_close_ocb;

    for (int i = 0; i < RX_MBOXES; i++) {
        snprintf(path, sizeof path, "/dev/can%d/rx%d", unit, i);
        if (attach(&rx[i], path, 0, 0x100u + (unsigned)i) < 0)
            return EXIT_FAILURE;
    }
    snprintf(path, sizeof path, "/dev/can%d/tx0", unit);
    if (attach(&tx, path, 1, 0x100u) < 0)
        return EXIT_FAILURE;

    pthread_t t;
    if (pthread_create(&t, NULL, stopper, NULL) != 0)
        return EXIT_FAILURE;
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("can_manager: ready descriptor");
        close(ready_fd);
    }

    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    if (ctp == NULL)
        return EXIT_FAILURE;
    for (;;) {
        if ((ctp = dispatch_block(ctp)) == NULL) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "can_manager: dispatch_block: %s\n", strerror(errno));
            return EXIT_FAILURE;
        }
        dispatch_handler(ctp);
    }
}
