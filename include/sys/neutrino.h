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
#include <time.h>

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
#define _NTO_COF_CLOEXEC    0x0001
#define _NTO_COF_DEAD       0x0002 /* accepted */
#define _NTO_COF_NOSHARE    0x0040 /* accepted */
#define _NTO_COF_NETCON     0x0080 /* accepted */
#define _NTO_COF_NONBLOCK   0x0100 /* accepted */
#define _NTO_COF_ASYNC      0x0200 /* accepted */
#define _NTO_COF_GLOBAL     0x0400 /* accepted */
#define _NTO_COF_NOEVENT    0x0800 /* the server may deliver no event on it */
#define _NTO_COF_INSECURE   0x1000 /* accepted (set by QNX's kernel itself) */
#define _NTO_COF_REG_EVENTS 0x2000 /* the server may deliver registered events only */

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
    int16_t  flags;     /* _NTO_MI_* */
    uint32_t reserved;
};

/* struct _msg_info flags. */
#define _NTO_MI_ENDIAN_BIG  0x0001 /* never: one machine, one byte order */
#define _NTO_MI_ENDIAN_DIFF 0x0002 /* never */
#define _NTO_MI_UNBLOCK_REQ 0x0100 /* the client asked to be unblocked (a
                                      signal, or a TimerTimeout()) and waits
                                      for the server's answer */

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

/* ---- events ----
 * struct sigevent as QNX fills it (sigev_coid, sigev_code, sigev_priority,
 * the QNX-only types and flags, the SIGEV_*_INIT() macros): <sys/siginfo.h>.
 * Besides those: */
#ifndef sigev_handle
#define sigev_handle sigev_signo /* a registered event's handle (QNX 7.1) */
#endif
/* peermap's own type: a notification that makes the client's connection to
 * the server readable (a PM_WIRE_NOTIFY datagram on it), for poll() and
 * select() on a descriptor from pm_open(); see ionotify(3). */
#define SIGEV_PM_CONNECTION 0x3f

/*
 * Deliver `event` to the client of `rcvid` (0: to this process), as its
 * kernel would: a pulse goes out on the client's own connection sigev_coid,
 * a signal is raised in the client.  See MsgDeliverEvent(3) for how the
 * event reaches another process, and what it may do there.
 */
int MsgDeliverEvent(rcvid_t rcvid, const struct sigevent *event);

/* QNX 7.1 secure events.  MsgRegisterEvent() keeps `event` in this process
 * and turns *event into a handle that only the server behind `coid` (-1:
 * any server) can deliver; the server cannot change what it delivers but
 * for sigev_value when the event was made updateable first. */
int MsgRegisterEvent(struct sigevent *event, int coid);
int MsgUnregisterEvent(const struct sigevent *event);
/* Is `event` well formed, and deliverable to the client of rcvid (0: to
 * this process)?  EOK, or -1 with EINVAL, EBADF, ESRCH, EACCES. */
int MsgVerifyEvent(rcvid_t rcvid, const struct sigevent *event);

/* ---- receiving pulses only ---- */

/* MsgReceive() that takes only pulses: messages wait for MsgReceive(). */
int MsgReceivePulse(int chid, void *pulse, size_t bytes, struct _msg_info *info);
int MsgReceivePulsev(int chid, const iov_t *riov, size_t rparts, struct _msg_info *info);

/* ---- timers ---- */

struct _itimer {
    uint64_t nsec;           /* first expiry: relative, or absolute with TIMER_ABSTIME */
    uint64_t interval_nsec;  /* then every interval_nsec; 0: once */
};

struct _timer_info {
    struct _itimer itime;    /* as set (absolute expiry, interval) */
    struct _itimer otime;    /* time left to the next expiry, interval */
    uint32_t flags;          /* _NTO_TI_* */
    int32_t  tid;            /* 0: the process */
    int32_t  notify;         /* the event's sigev_notify */
    clockid_t clockid;
    uint32_t overruns;       /* expiries whose event could not be delivered */
    struct sigevent event;
};

#define _NTO_TI_ACTIVE         0x0001u
#define _NTO_TI_ABSOLUTE       0x0002u
#define _NTO_TI_EXPIRED        0x0004u
#define _NTO_TI_TOD_BASED      0x0008u
#define _NTO_TI_TARGET_PROCESS 0x0010u
#define _NTO_TI_PRECISE        0x0020u
#define _NTO_TIMER_SEARCH         0x0001
#define _NTO_TIMER_RESET_OVERRUNS 0x0002
#ifndef TIMER_TOLERANCE
#define TIMER_TOLERANCE 0x0004 /* accepted; no harmonization on Linux */
#define TIMER_PRECISE   0x0008 /* accepted */
#endif

/* A timer that delivers `event` (a pulse, a signal, SIGEV_THREAD...) each
 * time it expires.  Returns the timer's id (>= 0) or -1. */
int TimerCreate(clockid_t clock_id, const struct sigevent *event);
int TimerDestroy(int id);
/* flags: 0 (relative) or TIMER_ABSTIME; itime->nsec 0 disarms. */
int TimerSettime(int id, int flags, const struct _itimer *itime, struct _itimer *oitime);
/* pid 0 or getpid(): this process's timers only. */
int TimerInfo(pid_t pid, int id, int flags, struct _timer_info *info);

/* ---- kernel timeouts ----
 * The next MsgSend*() / MsgReceive*() of this thread that would block in a
 * state named in flags gives up (ETIMEDOUT) when ntime (ns, relative, or
 * absolute with TIMER_ABSTIME) passes; ntime NULL: at once, if it would
 * block at all.  notify: NULL or SIGEV_UNBLOCK.  Returns the flags of the
 * timeout this one replaces. */
#define _NTO_TIMEOUT_SEND        (1 << 4)
#define _NTO_TIMEOUT_RECEIVE     (1 << 5)
#define _NTO_TIMEOUT_REPLY       (1 << 6)
#define _NTO_TIMEOUT_SIGSUSPEND  (1 << 10)
#define _NTO_TIMEOUT_SIGWAITINFO (1 << 11)
#define _NTO_TIMEOUT_NANOSLEEP   (1 << 12)
#define _NTO_TIMEOUT_MUTEX       (1 << 13)
#define _NTO_TIMEOUT_CONDVAR     (1 << 14)
#define _NTO_TIMEOUT_JOIN        (1 << 15)
#define _NTO_TIMEOUT_INTR        (1 << 16)
#define _NTO_TIMEOUT_SEM         (1 << 17)
int TimerTimeout(clockid_t id, int flags, const struct sigevent *notify,
                 const uint64_t *ntime, uint64_t *otime);
int timer_timeout(clockid_t id, int flags, const struct sigevent *notify,
                  const struct timespec *ntime, struct timespec *otime);

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
