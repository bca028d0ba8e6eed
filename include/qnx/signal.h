/*
 * <signal.h> as QNX code sees it: the C library's, plus <sys/siginfo.h>,
 * which QNX's <signal.h> includes (struct sigevent's QNX members and the
 * SIGEV_*_INIT() macros).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <signal.h>

#ifndef PEERMAP_QNX_SIGNAL_H
#define PEERMAP_QNX_SIGNAL_H
#include <sys/siginfo.h>
#endif
