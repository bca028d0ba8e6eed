/*
 * <stdint.h> as QNX code sees it: the C library's, plus QNX's own names of
 * the fixed-width types (_Uint32t, _Int64t, _Uintptrt, ...) from
 * <sys/platform.h>, which QNX's <stdint.h> is built on.  All are reserved
 * identifiers, so no program's own names can clash with them.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <stdint.h>

#ifndef PEERMAP_QNX_STDINT_H
#define PEERMAP_QNX_STDINT_H
#include <sys/platform.h>
#endif
