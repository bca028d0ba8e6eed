/*
 * <unistd.h> as QNX code sees it: the C library's, plus <process.h>,
 * which QNX's <unistd.h> includes (gettid() among others).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <unistd.h>

#ifndef PEERMAP_QNX_UNISTD_H
#define PEERMAP_QNX_UNISTD_H
#include <process.h>
#endif
