/*
 * <peermap_qnx.h> - standard names whose QNX meaning needs the library.
 *
 * A few POSIX functions do more on QNX than glibc's do, and QNX code
 * relies on it:
 *   pthread_create()  accepts a NULL thread-id pointer (glibc crashes);
 *   timer_create() & co. accept a SIGEV_PULSE event (glibc: EINVAL) and
 *                     the other QNX-only event types;
 *   poll(), select()  wait on descriptors from pm_open() by asking their
 *                     manager (_IO_NOTIFY), as QNX's C library does.
 * This header maps those names to peermap's functions, which do what QNX
 * does and hand everything else to glibc unchanged.  It is meant for QNX
 * code only: the QNX compatibility layer's <pthread.h>, <time.h>,
 * <poll.h> and <sys/select.h> bring in the part for their names
 * (<peermap_qnx/NAME.h>); a Linux program that includes none of this sees
 * glibc's functions, untouched.  Define PEERMAP_NO_QNX_NAMES first to get
 * the declarations without the mapping.  Each mapping is made after the C
 * library's declarations, so that glibc's own (fortified) inline versions
 * keep their names.
 */
#ifndef PEERMAP_QNX_H
#define PEERMAP_QNX_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <time.h>

#include <sys/neutrino.h>

#include <peermap_qnx/poll.h>
#include <peermap_qnx/pthread.h>
#include <peermap_qnx/select.h>
#include <peermap_qnx/time.h>

#endif
