/*
 * <stdlib.h> as QNX code sees it: the C library's, plus QNX's min() and
 * max() macros.
 *
 * As on QNX, min() and max() exist in C only: in C++ they would break
 * std::min() and std::max(), so QNX's header leaves them out there and so
 * does this one.  A program that defines its own min or max first keeps
 * its own.  __min() and __max() are defined in both languages, as QNX does.
 * Each argument may be evaluated twice (they are macros on QNX too).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <stdlib.h>

#ifndef PEERMAP_QNX_STDLIB_H
#define PEERMAP_QNX_STDLIB_H

#ifndef __max
#define __max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef __min
#define __min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#if !defined(__cplusplus)
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#endif

#endif
