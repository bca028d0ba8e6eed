/*
 * <sys/select.h> as QNX code sees it: the C library's, with select()
 * that understands descriptors from pm_open() (<peermap_qnx/select.h>).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <sys/select.h>
#include <peermap_qnx/select.h>
