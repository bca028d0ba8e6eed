/*
 * <devctl.h> as QNX code sees it: peermap's, plus <limits.h>, which QNX's
 * includes.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <devctl.h>

#ifndef PEERMAP_QNX_DEVCTL_H
#define PEERMAP_QNX_DEVCTL_H
#include <limits.h>
#endif
