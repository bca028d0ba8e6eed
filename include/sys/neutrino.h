/*
 * <sys/neutrino.h> - QNX Neutrino message passing, on Linux.
 *
 * The subset servers and resource managers use: channels, connections,
 * synchronous messages (send / receive / reply), pulses, and the identity of
 * the client.  Signatures, constants and errno values are QNX's; see
 * ARCHITECTURE.md, "Message passing", for how each maps onto Linux.
 *
 * Like QNX's kernel calls, these return -1 and set errno on failure (the
 * *_r variants of QNX are not provided).
 */
#ifndef PEERMAP_SYS_NEUTRINO_H
#define PEERMAP_SYS_NEUTRINO_H

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/siginfo.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EOK
#define EOK 0
#endif

/* The QNX release whose interfaces these are, times 100 (QNX 7.1); code
 * tests it to choose between older and newer calls. */
#define _NTO_VERSION 710

/* ---- I/O vectors ---- */

typedef struct iovec iov_t;
#define SETIOV(_iov, _addr, _len) \
    ((_iov)->iov_base = (void *)(_addr), (_iov)->iov_len = (size_t)(_len))
#define GETIOVBASE(_iov) ((_iov)->iov_base)
#define GETIOVLEN(_iov) ((_iov)->iov_len)

/* A receive ID: which message to reply to (0 for a pulse). */
typedef long rcvid_t;

/* ---- nodes ---- */

#define ND_LOCAL_NODE 0u

/* ---- channels ---- */

#define _NTO_CHF_FIXED_PRIORITY  0x0001u /* accepted; Linux threads keep theirs */
#define _NTO_CHF_UNBLOCK         0x0002u /* a signalled client asks: pulse */
#define _NTO_CHF_THREAD_DEATH    0x0004u /* accepted; no pulse is sent */
#define _NTO_CHF_DISCONNECT      0x0008u /* pulse when a client connection goes */
#define _NTO_CHF_NET_MSG         0x0010u /* accepted; no network */
#define _NTO_CHF_COID_DISCONNECT 0x0040u /* accepted; no _PULSE_CODE_COIDDEATH
                                           * is sent yet (a dead server shows
                                           * as ESRCH/EBADF on the next send) */
#define _NTO_CHF_PRIVATE         0x0200u /* only this process may connect */

/* ConnectAttach(): a side channel connection (not inherited, not in the
 * file-descriptor range) and close-on-exec. */
#define _NTO_SIDE_CHANNEL 0x40000000
#define _NTO_COF_CLOEXEC  0x0001

int ChannelCreate(unsigned flags);
int ChannelDestroy(int chid);
int ConnectAttach(uint32_t nd, pid_t pid, int chid, unsigned index, int flags);
int ConnectDetach(int coid);

/* ---- messages ---- */

struct _msg_info {
    uint32_t nd;        /* node of the client (ND_LOCAL_NODE) */
    uint32_t srcnd;
    pid_t    pid;       /* the client's process, from the kernel */
    int32_t  tid;       /* the client's thread (a Linux TID) */
    int32_t  chid;      /* the channel the message arrived on */
    int32_t  scoid;     /* the server's id for the client's connection */
    int32_t  coid;      /* the client's connection id */
    int32_t  msglen;    /* bytes received into the buffer */
    int32_t  srcmsglen; /* bytes the client sent */
    int32_t  dstmsglen; /* bytes the client can receive in the reply */
    int16_t  priority;
    int16_t  flags;
    uint32_t reserved;
};

long MsgSend(int coid, const void *smsg, size_t sbytes, void *rmsg, size_t rbytes);
long MsgSendnc(int coid, const void *smsg, size_t sbytes, void *rmsg, size_t rbytes);
long MsgSendv(int coid, const iov_t *siov, size_t sparts, const iov_t *riov, size_t rparts);
long MsgSendvnc(int coid, const iov_t *siov, size_t sparts, const iov_t *riov, size_t rparts);
long MsgSendsv(int coid, const void *smsg, size_t sbytes, const iov_t *riov, size_t rparts);
long MsgSendvs(int coid, const iov_t *siov, size_t sparts, void *rmsg, size_t rbytes);

rcvid_t MsgReceive(int chid, void *msg, size_t bytes, struct _msg_info *info);
rcvid_t MsgReceivev(int chid, const iov_t *riov, size_t rparts, struct _msg_info *info);

int MsgReply(rcvid_t rcvid, long status, const void *msg, size_t bytes);
int MsgReplyv(rcvid_t rcvid, long status, const iov_t *riov, size_t rparts);
int MsgError(rcvid_t rcvid, int error);

ssize_t MsgRead(rcvid_t rcvid, void *msg, size_t bytes, size_t offset);
ssize_t MsgReadv(rcvid_t rcvid, const iov_t *riov, size_t rparts, size_t offset);
ssize_t MsgWrite(rcvid_t rcvid, const void *msg, size_t bytes, size_t offset);
ssize_t MsgWritev(rcvid_t rcvid, const iov_t *iov, size_t parts, size_t offset);
int MsgInfo(rcvid_t rcvid, struct _msg_info *info);

/* ---- pulses ---- */

struct _pulse {
    uint16_t     type;    /* _PULSE_TYPE */
    uint16_t     subtype; /* _PULSE_SUBTYPE */
    int8_t       code;
    uint8_t      zero[3];
    union sigval value;
    int32_t      scoid;
};

#define _PULSE_TYPE    0
#define _PULSE_SUBTYPE 0

#define _PULSE_CODE_UNBLOCK       (-32) /* value.sival_int: the client's rcvid */
#define _PULSE_CODE_DISCONNECT    (-33) /* scoid: the connection that went */
#define _PULSE_CODE_THREADDEATH   (-34)
#define _PULSE_CODE_COIDDEATH     (-35) /* value.sival_int: the coid whose server went */
#define _PULSE_CODE_NET_ACK       (-36)
#define _PULSE_CODE_NET_UNBLOCK   (-37)
#define _PULSE_CODE_NET_DETACH    (-38)
#define _PULSE_CODE_MINAVAIL      0
#define _PULSE_CODE_MAXAVAIL      127

int MsgSendPulse(int coid, int priority, int code, int value);

/* Pulses as events (SIGEV_PULSE_INIT() and the rest of the sigevent
 * family, and how QNX's sigevent members are carried): <sys/siginfo.h>. */

/* Deliver `event` to the client of `rcvid` (its pid gets it): a pulse to the
 * connection named in the event, or a signal (SIGEV_SIGNAL). */
int MsgDeliverEvent(rcvid_t rcvid, const struct sigevent *event);

/* ---- clock and scheduling ---- */

/* A free-running 64-bit counter; SYSPAGE_ENTRY(qtime)->cycles_per_sec
 * (<sys/syspage.h>) is its rate.  Here it counts nanoseconds of
 * CLOCK_MONOTONIC_RAW, so the rate is exactly 1000000000. */
uint64_t ClockCycles(void);

/* SchedSet(): keep the thread's policy, change only its parameters (-1:
 * no Linux policy has that value). */
#define SCHED_NOCHANGE (-1)

/* The policy and parameters of thread `tid` (a Linux thread ID, gettid(); 0
 * for the calling thread) of process `pid` (0: the caller's); -1 and errno
 * on error.  SchedSet() returns 0 on success. */
int SchedGet(pid_t pid, int tid, struct sched_param *param);
int SchedSet(pid_t pid, int tid, int policy, const struct sched_param *param);

/* ---- the client's identity ---- */

#define NGROUPS_MAX_CRED 64

struct _cred_info {
    uid_t    ruid, euid, suid;
    gid_t    rgid, egid, sgid;
    uint32_t ngroups;
    gid_t    grouplist[NGROUPS_MAX_CRED];
};

struct _client_info {
    uint32_t nd;
    pid_t    pid;
    pid_t    sid;
    uint32_t flags;
    struct _cred_info cred;
};

/* Fill `info` for the client behind server connection `scoid`, from what the
 * kernel says of the peer (SO_PEERCRED, SO_PEERGROUPS, /proc), never from
 * what the client claims.  At most `ngroups` supplementary groups. */
int ConnectClientInfo(int scoid, struct _client_info *info, int ngroups);

#ifdef __cplusplus
}
#endif

#endif
