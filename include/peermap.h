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

#ifdef __cplusplus
}
#endif

#endif
