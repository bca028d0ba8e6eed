/*
 * <devctl.h> - QNX Neutrino's device control, on Linux.
 *
 * devctl() and devctlv() send a device command to the resource manager
 * behind a file descriptor (an _IO_DEVCTL message, see <sys/iomsg.h>).
 * A command (dcmd) packs four things, as on QNX:
 *
 *   bits 31-30  direction: _POSIX_DEVDIR_TO (data to the server),
 *               _POSIX_DEVDIR_FROM (data back), both, or neither
 *   bits 29-16  the size of the data
 *   bits 15-8   the class (_DCMD_*)
 *   bits  7-0   the command within the class
 *
 * The __DIO*() macros build commands, get_device_direction() and
 * get_device_command() take them apart.  The DCMD_ALL_* commands of QNX's
 * <sys/dcmd_all.h>, which every resource manager may receive, are here too.
 *
 * One deliberate difference: QNX's __DIO*() expressions have type size_t,
 * which on a 64-bit target makes `dcmd == DCMD_X` false for every command
 * with a direction bit (the int is sign-extended before the comparison).
 * Here they have type unsigned int, as on a 32-bit QNX target, so that the
 * value is right in every comparison and in `switch (dcmd)`.
 */
#ifndef PEERMAP_DEVCTL_H
#define PEERMAP_DEVCTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- direction bits ---- */

#define _POSIX_DEVDIR_NONE     0u
#define _POSIX_DEVDIR_TO       0x80000000u
#define _POSIX_DEVDIR_FROM     0x40000000u
#define _POSIX_DEVDIR_TOFROM   (_POSIX_DEVDIR_TO | _POSIX_DEVDIR_FROM)
#define _POSIX_DEVDIR_CMD_MASK 0x0000FFFFu

#define DEVDIR_NONE     _POSIX_DEVDIR_NONE
#define DEVDIR_TO       _POSIX_DEVDIR_TO
#define DEVDIR_FROM     _POSIX_DEVDIR_FROM
#define DEVDIR_TOFROM   _POSIX_DEVDIR_TOFROM
#define DEVDIR_CMD_MASK _POSIX_DEVDIR_CMD_MASK

/* The direction bits of a command (compare with DEVDIR_*). */
#define get_device_direction(cmd)      ((unsigned)(cmd) & DEVDIR_TOFROM)
/* The class and command, without size and direction. */
#define get_device_command(cmd)        ((unsigned)(cmd) & DEVDIR_CMD_MASK)
#define set_device_direction(cmd, dir) ((unsigned)(cmd) | (unsigned)(dir))

/* ---- command classes: bits 15-8 of a command (commands 0x0000-0x0fff,
 *      classes 0x00-0x0f, are QNX's own) ---- */

#define _DCMD_ALL       0x01  /* every resource manager */
#define _DCMD_FSYS      0x02
#define _DCMD_BLK       _DCMD_FSYS
#define _DCMD_CHR       0x03
#define _DCMD_NET       0x04
#define _DCMD_MISC      0x05  /* the usual class for a driver's own commands */
#define _DCMD_IP        0x06
#define _DCMD_MIXER     0x07
#define _DCMD_PROC      0x08
#define _DCMD_MEM       0x09
#define _DCMD_INPUT     0x0A
#define _DCMD_PHOTON    0x0B
#define _DCMD_CAM       0x0C
#define _DCMD_USB       0x0D
#define _DCMD_MEDIA     0x0E
#define _DCMD_CAM_SIM   0x0F
#define _DCMD_MEMCLASS  0x10
#define _DCMD_PARTITION 0x11

/* ---- building commands ---- */

#define __PM_DCMD(class, cmd, size, dir)                                    \
    ((unsigned)((unsigned)(size) << 16) + ((unsigned)(class) << 8) +        \
     (unsigned)(cmd) + (dir))

/* Data goes from the server to the client ("from" the device). */
#define __DIOF(class, cmd, data)  __PM_DCMD(class, cmd, sizeof(data), _POSIX_DEVDIR_FROM)
/* Data goes from the client to the server ("to" the device). */
#define __DIOT(class, cmd, data)  __PM_DCMD(class, cmd, sizeof(data), _POSIX_DEVDIR_TO)
/* Data goes both ways. */
#define __DIOTF(class, cmd, data) __PM_DCMD(class, cmd, sizeof(data), _POSIX_DEVDIR_TOFROM)
/* No data. */
#define __DION(class, cmd)        __PM_DCMD(class, cmd, 0, _POSIX_DEVDIR_NONE)

/*
 * The Linux ioctl number of a command, for a program that sends it with
 * ioctl() to a path the FUSE export serves (peermap export): QNX puts
 * "to the device" in bit 31 and "from the device" in bit 30, Linux's _IOC
 * the other way round (_IOC_WRITE is bit 30, _IOC_READ bit 31); class,
 * command and size sit where _IOC's type, number and size do.  So
 * __DIOF(class, cmd, T) is _IOR(class, cmd, T), __DIOT is _IOW, __DIOTF is
 * _IOWR, __DION(class, cmd) is _IO(class, cmd).  devctl() on such a
 * descriptor does this itself.
 */
#define PEERMAP_DCMD_TO_IOCTL(dcmd)                                          \
    (((unsigned)(dcmd) & 0x3fffffffu) |                                      \
     (((unsigned)(dcmd) & _POSIX_DEVDIR_TO) ? 0x40000000u : 0u) |             \
     (((unsigned)(dcmd) & _POSIX_DEVDIR_FROM) ? 0x80000000u : 0u))
/* The other way: the QNX command an ioctl number stands for. */
#define PEERMAP_IOCTL_TO_DCMD(cmd) PEERMAP_DCMD_TO_IOCTL(cmd)

/* The data that follows a message header, e.g. _DEVCTL_DATA(msg->i) in an
 * io_devctl handler. */
#define _DEVCTL_DATA(msg) ((void *)(sizeof(msg) + (char *)(&(msg))))

/* ---- the commands every resource manager may get (<sys/dcmd_all.h>) ---- */

#define DCMD_ALL_GETFLAGS      __DIOF(_DCMD_ALL, 1, int)       /* fcntl(F_GETFL) */
#define DCMD_ALL_SETFLAGS      __DIOT(_DCMD_ALL, 2, int)       /* fcntl(F_SETFL) */
#define DCMD_ALL_GETMOUNTFLAGS __DIOF(_DCMD_ALL, 3, uint32_t)
#define DCMD_ALL_GETOWN        __DIOF(_DCMD_ALL, 4, pid_t)     /* fcntl(F_GETOWN) */
#define DCMD_ALL_SETOWN        __DIOT(_DCMD_ALL, 5, pid_t)     /* fcntl(F_SETOWN) */

/* ---- the calls ---- */

/*
 * Send command `dcmd` to the server of `fd`: n_bytes of dev_data_ptr go to
 * the server (DEVDIR_TO), up to n_bytes come back into it (DEVDIR_FROM).
 * Returns EOK or an errno value (not -1: devctl() does not set errno);
 * *dev_info_ptr, if not NULL, gets the server's ret_val.
 */
int devctl(int fd, int dcmd, void *dev_data_ptr, size_t n_bytes, int *dev_info_ptr);

/* The same with I/O vectors: sparts parts of sv are sent, the reply lands
 * in rparts parts of rv. */
int devctlv(int fd, int dcmd, int sparts, int rparts, const struct iovec *sv,
            const struct iovec *rv, int *dev_info_ptr);

#ifdef __cplusplus
}
#endif

#endif
