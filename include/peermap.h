/*
 * <peermap.h> - Linux-only extras of the peermap library.
 *
 * The QNX API lives in <sys/mman_peer.h> and <sys/procmgr.h>; this header adds
 * what Linux needs and QNX does not have: the reason behind the last failure,
 * the deadline for stopping a target, and sessions that keep one target
 * attached across many calls.
 */
#ifndef PEERMAP_H
#define PEERMAP_H

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/mman_peer.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A human-readable reason for the last failed peermap call in this thread,
 * e.g. "PID 412 is already traced by PID 90 (strace)".  Never NULL; "" when the
 * last call succeeded.  The string stays valid until the next peermap call in
 * this thread.
 */
const char *peermap_errmsg(void);

/*
 * How long a call may wait for the target to stop (and for each system call
 * run inside it) before it gives up with ETIMEDOUT, leaving the target as it
 * was.  Process-wide.  Until peermap_set_timeout_ms() sets a value, each call
 * uses the environment variable PEERMAP_TIMEOUT_MS if it holds a number of
 * milliseconds (1 to 3600000), else PEERMAP_DEFAULT_TIMEOUT_MS.
 * peermap_set_timeout_ms(0) goes back to that.
 */
#define PEERMAP_DEFAULT_TIMEOUT_MS 2000u
void peermap_set_timeout_ms(unsigned ms);
unsigned peermap_timeout_ms(void);

/*
 * How long mmap_peer()/munmap_peer() wait for the target's own library to
 * answer a request made without ptrace: a client reply-blocked on the
 * caller, or the target's agent (see below).  Such a client answers from a
 * thread that does nothing else, in microseconds; only one that will not
 * answer (stopped, or not peermap at all) waits out the deadline, which is
 * therefore far shorter than the one for stopping a target.  Process-wide;
 * ms is capped at 3600000.  Until set, the environment variable
 * PEERMAP_INBAND_TIMEOUT_MS (1 to 3600000), else the smaller of
 * PEERMAP_DEFAULT_INBAND_TIMEOUT_MS and peermap_timeout_ms().
 * peermap_set_inband_timeout_ms(0) goes back to that.
 */
#define PEERMAP_DEFAULT_INBAND_TIMEOUT_MS 100u
void peermap_set_inband_timeout_ms(unsigned ms);
unsigned peermap_inband_timeout_ms(void);

/*
 * Sessions: pay the attach cost once when mapping many regions into one
 * target.  peermap_attach() stops one thread of `pid` (the others keep
 * running) and holds it until peermap_detach(), which restores its registers
 * and signal mask exactly.  Any thread of the caller may use a session (the
 * library does all tracing from one thread of its own), one call at a time.
 * Keep sessions short: the held thread does not run, and signals directed at
 * it wait until detach (process-wide signals go to the other threads).
 *
 * peermap_mmap()/peermap_munmap() take the arguments and give the results of
 * mmap_peer()/munmap_peer().  After a session call fails with ESRCH or
 * ETIMEDOUT the target is released (or gone) and the session is spent: only
 * peermap_detach(), which frees it, remains to be called.
 */
typedef struct peermap_session peermap_session;

peermap_session *peermap_attach(pid_t pid);
void *peermap_mmap(peermap_session *s, void *addr, size_t len, int prot,
                   int flags, int fd, off_t off);
int peermap_munmap(peermap_session *s, void *addr, size_t len);
int peermap_detach(peermap_session *s);

/* ==== resource-manager clients ====
 *
 * File operations on a path a QNX-style resource manager serves
 * (resmgr_attach(), see <sys/resmgr.h>), done the QNX way: each call sends
 * the manager the message QNX's own open(), read()... send (<sys/iomsg.h>)
 * and returns what it answers.  They fail with -1 and errno, where a manager's
 * MsgError() value becomes errno; peermap_errmsg() tells why.  Common errors:
 * EBADF (fd is not open on a manager, or was closed), ESRCH (the manager
 * went away while fd was open; only pm_close() remains useful then), EINTR.
 *
 * The descriptor pm_open() returns is a real file descriptor (the connection
 * to the manager): poll() and select() work on it, it is inherited across
 * fork() and exec() unless O_CLOEXEC was given; close it with pm_close(),
 * not close(), so that the manager hears of it.  devctl() (<devctl.h>) works
 * on it too.
 */

/*
 * Open `path`: resolve it in the path space (the manager that attached the
 * longest prefix of it), connect to that manager and send an _IO_CONNECT
 * message (subtype _IO_CONNECT_OPEN, file type _FTYPE_ANY) holding the rest
 * of the path below the attached prefix ("" for the prefix itself), oflag in
 * QNX's encoding (the access mode plus one in the low bits: _IO_FLAG_RD/WR),
 * the share mode SH_DENYNO, and with O_CREAT the third argument as the mode
 * (S_IFREG | permissions; the manager applies its own policy, no umask is
 * applied here).  Returns the descriptor, or -1: ENOENT (nobody serves the
 * path, or its manager is gone), EACCES (the path-space entry is not
 * reachable for the caller), EINVAL (access mode 3), ENOTSUP (the manager
 * redirected the open), or whatever the manager answered (EACCES, EPERM,
 * EBUSY, ENOENT below a directory manager...).
 */
int pm_open(const char *path, int oflag, ...);

/*
 * _IO_READ: up to n bytes at the current offset.  Returns the number read
 * (0 at the end), or -1.  Reads of 4 GiB or more are sent as _IO_READ64.
 */
ssize_t pm_read(int fd, void *buf, size_t n);

/*
 * _IO_WRITE: the header followed by the n bytes.  Returns the number the
 * manager took (it may be fewer), or -1.  4 GiB or more go as _IO_WRITE64.
 */
ssize_t pm_write(int fd, const void *buf, size_t n);

/*
 * _IO_LSEEK: whence SEEK_SET, SEEK_CUR or SEEK_END (the manager decides
 * what else it accepts).  Returns the new offset, or -1 (EINVAL, ESPIPE,
 * EOVERFLOW, as the manager answers).
 */
off_t pm_lseek(int fd, off_t off, int whence);

/*
 * _IO_STAT: the manager's attributes of the open file, as Linux's struct
 * stat (st_mode, st_size, st_uid, st_ino, times...).  0 or -1.
 */
int pm_fstat(int fd, struct stat *st);

/*
 * _IO_CLOSE, then drop the connection.  The descriptor is closed even when
 * the manager fails the close (that error is returned) or is gone (0).
 * -1 with EBADF when fd is not open on a manager.
 */
int pm_close(int fd);

/* ==== mmap() of a resource: the client's memory manager ====
 *
 * On QNX, mmap() of a file a resource manager serves makes the memory
 * manager send that manager an _IO_MMAP message (answered by its mmap
 * handler, normally iofunc_mmap() / iofunc_mmap_ext()) and map what the
 * answer allows.  These calls are that memory manager, running in the
 * caller's process; for a descriptor that is not open on a resource manager
 * they are mmap(), munmap(), msync() and mprotect() themselves.
 *
 * The memory manager holds its own connection to the manager per object
 * (the manager binds a privileged OCB to it, so the mapping outlives
 * pm_close() of fd, as POSIX requires), asks for PROT_WRITE when it may
 * need it, and maps either
 *   - the shared memory object the manager hands over with
 *     _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT: the same pages as the
 *     manager and every other process mapping it (zero-copy), or
 *   - pages read from the manager (_IO_READ) on first touch, with read
 *     ahead; zeros past the end of the file; MAP_SHARED pages that changed
 *     are written back (_IO_WRITE) by pm_msync(MS_SYNC) and pm_munmap();
 *     MAP_PRIVATE pages never are.  A page that can no longer be read (the
 *     manager died, stalled past peermap_timeout_ms(), or answered
 *     nonsense) raises SIGBUS when touched, as a truncated file does.
 * Objects are kept per manager for a while after their last unmap
 * (PEERMAP_MEMMGR_IDLE_MS, default 1000; sticky files, S_ISVTX, for the
 * life of the process), so that mapping the same resource again reuses
 * them (and the pages already read); then their connection is closed,
 * which frees the manager's OCB.  Paged mappings
 * are not inherited by fork() children (the pager runs in this process);
 * for a process that may only have a user-mode userfaultfd (not root), a
 * system call handed a not yet read page of one fails with EFAULT.  When
 * pm_munmap() cannot write changes back, they are lost (it still unmaps).
 *
 * Errors (-1, or MAP_FAILED, with errno; peermap_errmsg() tells why):
 * EBADF (fd not open), EACCES (fd not open for reading, the open or the
 * manager forbids prot; pm_mprotect() beyond what the manager allowed),
 * EROFS (write on a read-only mount), EAGAIN (mandatory locks), ENOMEM,
 * ENODEV (the manager has no mmap handler: ENOSYS from it), EINVAL (bad
 * arguments, as mmap()), ESRCH (the manager is gone), ETIMEDOUT (it did not
 * answer within peermap_timeout_ms()), or the error the manager replied.
 */
void *pm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int pm_munmap(void *addr, size_t len);
int pm_msync(void *addr, size_t len, int flags);
int pm_mprotect(void *addr, size_t len, int prot);

/* ==== which way mmap_peer() reaches the target ====
 *
 * mmap_peer()/munmap_peer() on a process that is reply-blocked on one of
 * the caller's channels (the QNX pattern: the client asked for a buffer and
 * waits for the reply) are done in-band: the client's own library maps or
 * unmaps on the caller's behalf, then goes on waiting.  A process that runs
 * an agent (peermap_agent_start()) is served the same way when ptrace is
 * refused.  No ptrace is
 * involved, so Yama, containers without CAP_SYS_PTRACE and non-dumpable
 * targets do not matter, and it is several times faster.  Otherwise the
 * call is made through ptrace.
 */
enum peermap_path {
    PEERMAP_PATH_AUTO = 0,    /* in-band when possible, else ptrace, and
                               * the agent if ptrace is refused */
    PEERMAP_PATH_PTRACE = 1,  /* ptrace only */
    PEERMAP_PATH_INBAND = 2,  /* without ptrace only (reply-blocked, or
                               * its agent): else ESRCH */
    PEERMAP_PATH_LOCAL = 3,   /* (reported only) the target was the caller */
    PEERMAP_PATH_AGENT = 4,   /* (reported only) the target's agent did it */
    PEERMAP_PATH_NONE = -1    /* (reported only) nothing was tried */
};

/* Choose the path for the calling process's later calls (PEERMAP_PATH_AUTO,
 * _PTRACE or _INBAND; also $PEERMAP_PATH = auto|ptrace|inband until set).
 * 0, or -1/EINVAL. */
int peermap_set_path(int path);
int peermap_path(void);

/* The path the calling thread's last mmap_peer()/munmap_peer() took (also
 * when it failed, if it got that far); PEERMAP_PATH_NONE if none. */
int peermap_last_path(void);

/*
 * The client's consent.  While a thread of this process waits for a reply,
 * the server it waits on may map and unmap in this process in-band - if it
 * runs as the same user or as root (it could ptrace us anyway), only while
 * that message is pending, only mmap/munmap, fd-backed mappings from the
 * object it sends (never a path).  peermap_inband_accept(0) refuses all
 * in-band requests (servers then fall back to ptrace); 1 restores the
 * default.  Also $PEERMAP_INBAND=0.  Returns the previous setting.
 */
int peermap_inband_accept(int on);

/*
 * An agent: accept mmap_peer()/munmap_peer() from other processes at any
 * time, not only while reply-blocked, without ptrace.  A thread of this
 * process (all signals blocked) listens on the abstract socket
 * "peermap.agent.<pid>" and does the same requests, with the same checks,
 * as the in-band route, for callers running as root or as one of the `n`
 * uids in `uids` (n == 0: this process's real uid), as the kernel reports
 * them; each of those users may hold 32 connections at a time.  Callers use
 * it (PEERMAP_PATH_AGENT) when the target is not reply-blocked on them and
 * ptrace is refused (EPERM), or at once under PEERMAP_PATH_INBAND, and send
 * nothing before the kernel shows that the socket's maker is the target
 * process itself (SO_PEERPIDFD; without it, the target's user).  If another
 * process holds the name, the agent listens on a name with 66 random bits
 * instead, published as its thread's name, where callers look.  0, or -1:
 * EBUSY (already running), EAGAIN, ENOMEM, EINVAL.  peermap_agent_stop()
 * ends it: 0, or -1/ESRCH if none runs.
 */
int peermap_agent_start(const uid_t *uids, size_t n);
int peermap_agent_stop(void);

/*
 * What the clients of one user may make this process hold on its channels
 * (connections, the descriptors behind them and the reply memory kept for
 * them), so that another user's flood leaves room for everyone else.  The
 * shares bind every user except root and this process's effective uid,
 * which are bounded only by the process's own limits.  A field set to 0
 * takes its default; PEERMAP_UNLIMITED lifts that limit.  A connection
 * over its user's share is refused at once: the client's MsgSend() (or
 * pm_open()) fails with EAGAIN.  Process-wide; see
 * peermap_set_client_limits(3).
 */
#define PEERMAP_UNLIMITED ((unsigned long long)-1)
struct peermap_client_limits {
    unsigned long long conns;    /* connections of one user, all channels;
                                    default 2047 (a quarter of a channel's
                                    8191 slots) */
    unsigned long long fds;      /* descriptors held for one user's
                                    connections (a socket each, plus message
                                    bodies and kept reply files); default a
                                    quarter of RLIMIT_NOFILE */
    unsigned long long cache;    /* bytes of reply memory kept for one user;
                                    default 64 MiB */
    unsigned long long others;   /* per cent of a channel's slots and of
                                    RLIMIT_NOFILE that all those users
                                    together may hold (the rest is kept for
                                    root and this process's user); 1-100,
                                    default 75 */
};
int peermap_set_client_limits(const struct peermap_client_limits *l);
int peermap_client_limits(struct peermap_client_limits *l);

#ifdef __cplusplus
}
#endif

#endif
