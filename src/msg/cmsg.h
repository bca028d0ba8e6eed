/*
 * Descriptors that arrive with a datagram.
 *
 * Anyone who can connect to a channel can attach descriptors (SCM_RIGHTS)
 * to any datagram: any number, in any number of control messages, to any
 * kind of datagram.  The kernel installs them in the receiver before the
 * receiver has looked at anything, so every receive path takes them all
 * here and keeps only what its protocol consumes; the rest are closed at
 * once, whatever else is wrong with the datagram.  (The kernel itself
 * closes what did not fit in the control buffer and says so with
 * MSG_CTRUNC.)
 */
#ifndef PEERMAP_MSG_CMSG_H
#define PEERMAP_MSG_CMSG_H

#include <sys/socket.h>

/* Walk every control message of a received `m`; keep the first `max`
 * SCM_RIGHTS descriptors in fds[] (in the order they came) and hand every
 * other one to drop() (close() when NULL).  Returns how many descriptors
 * arrived in all: more than `max` means some were dropped already.  The
 * caller owns fds[0 .. min(result, max)). */
int pm_cmsg_fds(const struct msghdr *m, int *fds, int max, void (*drop)(int));

/* The SCM_CREDENTIALS of a received `m` (SO_PASSCRED on the socket: the
 * kernel's word for who sent it), by the same checked walk: 1 and *cr
 * set, or 0 when there are none. */
struct ucred;
int pm_cmsg_cred(const struct msghdr *m, struct ucred *cr);
/* The SCM_PIDFD of a received `m` (SO_PASSPIDFD on the socket, Linux >=
 * 6.5: a pidfd of the very process that sent it), or -1 when there is
 * none.  The caller owns (closes) it. */
int pm_cmsg_pidfd(const struct msghdr *m);

/* Whether `fd` is a file in memory (memfd, tmpfs, hugetlbfs): the only
 * kind a message or reply body may come in.  Reading anything else could
 * block the reader for as long as the sender likes (a FUSE file, a pipe)
 * or touch a device. */
int pm_fd_is_memfile(int fd);

#endif
