/*
 * <sys/types.h> as QNX code sees it: the C library's, plus the short
 * unsigned type names and the physical-address types QNX's header defines.
 *
 * glibc already has u_char, u_int, uint, ushort and ulong; these are the
 * ones it lacks.  paddr_t is a physical address, 64 bits wide as on a
 * 64-bit QNX target (peermap never hands out physical addresses: see
 * MAP_PHYS in mmap_peer(3)).
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <sys/types.h>

#ifndef PEERMAP_QNX_SYS_TYPES_H
#define PEERMAP_QNX_SYS_TYPES_H

#include <stdint.h>
#include <sys/platform.h>

typedef unsigned char  uchar_t;
typedef unsigned short ushort_t;
typedef unsigned int   uint_t;
typedef unsigned long  ulong_t;
typedef int            int_t;

typedef _Paddrt   paddr_t;
typedef _Paddr32t paddr32_t;
typedef _Paddr64t paddr64_t;

#endif
