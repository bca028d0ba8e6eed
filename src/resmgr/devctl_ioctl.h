/*
 * devctl() as an ioctl() on a descriptor that is not a peermap connection
 * (devctl_ioctl.c).  Returns EOK or an errno value, as devctl() does, and
 * records a reason; *dev_info_ptr (if not NULL) gets ioctl()'s result.
 */
#ifndef PEERMAP_RESMGR_DEVCTL_IOCTL_H
#define PEERMAP_RESMGR_DEVCTL_IOCTL_H

#include <sys/uio.h>

int pm_devctl_ioctl(int fd, int dcmd, int sparts, int rparts, const struct iovec *sv,
                    const struct iovec *rv, int *dev_info_ptr);

#endif
