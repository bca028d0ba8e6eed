/*
 * <pthread.h> as QNX code sees it: the C library's, with the names whose QNX
 * meaning needs peermap mapped to it (<peermap_qnx/pthread.h>, <peermap_qnx.h>).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <pthread.h>
#include <peermap_qnx/pthread.h>
