/*
 * <poll.h> as QNX code sees it: the C library's, with the names whose QNX
 * meaning needs peermap mapped to it (<peermap_qnx/poll.h>, <peermap_qnx.h>).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <poll.h>
#include <peermap_qnx/poll.h>
