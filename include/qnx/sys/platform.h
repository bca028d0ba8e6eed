/*
 * <sys/platform.h> - the QNX names of the fixed-width types and of the
 * byte order, which QNX's headers (and code written against them) use:
 * _Uint32t, _Int64t, _Uintptrt, _Paddrt, __LITTLEENDIAN__ or
 * __BIGENDIAN__.  Every QNX header includes it; here <sys/types.h> and
 * <stdint.h> do.
 *
 * __QNX__ and __QNXNTO__ are not defined: code that tests them expects the
 * QNX kernel, its compiler and its inline assembly.
 */
#ifndef PEERMAP_QNX_SYS_PLATFORM_H
#define PEERMAP_QNX_SYS_PLATFORM_H

#include <stdint.h>

typedef int8_t    _Int8t;
typedef uint8_t   _Uint8t;
typedef int16_t   _Int16t;
typedef uint16_t  _Uint16t;
typedef int32_t   _Int32t;
typedef uint32_t  _Uint32t;
typedef int64_t   _Int64t;
typedef uint64_t  _Uint64t;
typedef intptr_t  _Intptrt;
typedef uintptr_t _Uintptrt;
typedef uint64_t  _Paddrt;
typedef uint32_t  _Paddr32t;
typedef uint64_t  _Paddr64t;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#ifndef __LITTLEENDIAN__
#define __LITTLEENDIAN__ 1
#endif
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#ifndef __BIGENDIAN__
#define __BIGENDIAN__ 1
#endif
#endif

#endif
