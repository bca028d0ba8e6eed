/*
 * <sys/iomsg.h> as QNX code sees it: peermap's, plus the headers QNX's
 * includes - <limits.h>, <sys/statvfs.h>, <utime.h> and <sys/mount.h>.
 * <sys/resmgr.h>, <sys/iofunc.h> and <sys/dispatch.h> include this one.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <sys/iomsg.h>

#ifndef PEERMAP_QNX_SYS_IOMSG_H
#define PEERMAP_QNX_SYS_IOMSG_H
#include <limits.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <utime.h>
#endif
