/* <peermap_qnx/select.h> - select() that understands descriptors from
 * pm_open() (see <peermap_qnx.h>).  Include after the C library's
 * <sys/select.h>. */
#ifndef PEERMAP_QNX_SELECT_H
#define PEERMAP_QNX_SELECT_H

#ifdef __cplusplus
extern "C" {
#endif

int pm_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
              struct timeval *timeout);

#ifdef __cplusplus
}
#endif

#ifndef PEERMAP_NO_QNX_NAMES
#define select pm_select
#endif

#endif
