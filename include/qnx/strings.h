/*
 * <strings.h> as QNX code sees it: the C library's, plus fls(), which
 * QNX's C library has and glibc does not (libpeermap provides it).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <strings.h>

#ifndef PEERMAP_QNX_STRINGS_H
#define PEERMAP_QNX_STRINGS_H

#ifdef __cplusplus
extern "C" {
#endif

/* The position (1 to 32) of the most significant bit set in `value`, 0
 * when no bit is set: fls(1) == 1, fls(0x80000000) == 32. */
int fls(int value);

#ifdef __cplusplus
}
#endif

#endif
