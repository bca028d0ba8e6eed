/*
 * <sys/mount.h> as QNX code sees it: the C library's (Linux's mount(),
 * umount(), MS_*), plus QNX's _MOUNT_* and _MFLAG_* flags and
 * <sys/statvfs.h>, which QNX's header includes.  QNX's <sys/iomsg.h> (and
 * so <sys/iofunc.h>, <sys/resmgr.h> and <sys/dispatch.h>) includes it.
 *
 * The flags a file system reports (_MOUNT_READONLY, ...) are the
 * corresponding statvfs f_flag bits, as on QNX; on Linux those are
 * ST_RDONLY 1, ST_NOSUID 2, ST_NOEXEC 8 and ST_NOATIME 1024 (glibc names the
 * last two only for _GNU_SOURCE, hence the numbers).  _MOUNT_NOCREAT has no
 * Linux counterpart and takes a bit statvfs does not use.  QNX's own
 * mount(spec, dir, flags, type, data, datalen) is not declared: Linux's
 * mount() keeps its meaning.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <sys/mount.h>

#ifndef PEERMAP_QNX_SYS_MOUNT_H
#define PEERMAP_QNX_SYS_MOUNT_H

#include <sys/statvfs.h>

#define _MOUNT_READONLY  0x00000001 /* ST_RDONLY */
#define _MOUNT_NOSUID    0x00000002 /* ST_NOSUID */
#define _MOUNT_NOEXEC    0x00000008 /* ST_NOEXEC */
#define _MOUNT_NOCREAT   0x00000020 /* no creat() on this file system */
#define _MOUNT_NOATIME   0x00000400 /* ST_NOATIME */

/* How the path is attached: the _RESMGR_FLAG_* bits, shifted by 16. */
#define _MOUNT_BEFORE    0x00010000
#define _MOUNT_AFTER     0x00020000
#define _MOUNT_OPAQUE    0x00040000

#define _MOUNT_UNMOUNT   0x00001000
#define _MOUNT_REMOUNT   0x00002000
#define _MOUNT_FORCE     0x00004000
#define _MOUNT_ENUMERATE 0x00008000
#define _MOUNT_IMPLIED   0x00080000

#define _MFLAG_OCB       0x80000000u
#define _MFLAG_SPEC      0x40000000u
#define _MFLAG_STRUCT    0x20000000u

#endif
