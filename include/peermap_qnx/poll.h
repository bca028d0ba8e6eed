/* <peermap_qnx/poll.h> - poll() that understands descriptors from
 * pm_open() (see <peermap_qnx.h>).  Include after the C library's
 * <poll.h>. */
#ifndef PEERMAP_QNX_POLL_H
#define PEERMAP_QNX_POLL_H

#ifdef __cplusplus
extern "C" {
#endif

/* poll(): a resource manager's descriptor is asked with ionotify(3) and
 * wakes when the manager triggers; others as the kernel does. */
int pm_poll(struct pollfd *fds, nfds_t nfds, int timeout);

#ifdef __cplusplus
}
#endif

#ifndef PEERMAP_NO_QNX_NAMES
#define poll pm_poll
#endif

#endif
