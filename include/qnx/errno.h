/*
 * <errno.h> as QNX code sees it: the C library's, plus QNX's EOK and the
 * error numbers only QNX has.
 *
 * The QNX-only numbers keep QNX's values (300 and up), which no Linux error
 * uses, so a comparison such as errno == ESRVRFAULT is meaningful and never
 * true by accident.  peermap itself never sets them (a message transfer
 * that faults is reported as Linux reports it), so they exist for code that
 * tests for them.  strerror() of these says "Unknown error N": glibc has no
 * text for them.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <errno.h>

#ifndef PEERMAP_QNX_ERRNO_H
#define PEERMAP_QNX_ERRNO_H

#ifndef EOK
#define EOK 0            /* no error */
#endif
#define ENOREMOTE     300 /* must be done on the local machine */
#define ENONDP        301 /* needs a numeric coprocessor */
#define EBADFSYS      302 /* corrupted file system */
#define EMORE         309 /* more to do: send the message again */
#define ECTRLTERM     310 /* remap to the controlling terminal */
#define ENOLIC        311 /* no license */
#define ESRVRFAULT    312 /* server fault on a message pass */
#define EENDIAN       313 /* endian not supported */
#define ESECTYPEINVAL 314 /* security type invalid */

#endif
