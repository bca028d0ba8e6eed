/*
 * <string.h> as QNX code sees it: the C library's, plus strlcpy() and
 * strlcat(), which QNX's C library has and glibc has only from 2.38 on.
 *
 * With a glibc that declares them, glibc's declarations and functions are
 * used; with an older one (Debian 12 has 2.36), libpeermap provides them and
 * they are declared here.  The declarations are the same as glibc's, so a
 * program that also declares them itself still compiles.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <string.h>

#ifndef PEERMAP_QNX_STRING_H
#define PEERMAP_QNX_STRING_H

#include <stddef.h>

#if defined(__GLIBC__) && !(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38))
#ifdef __cplusplus
extern "C" {
#endif
size_t strlcpy(char *dst, const char *src, size_t size);
size_t strlcat(char *dst, const char *src, size_t size);
#ifdef __cplusplus
}
#endif
#endif

#endif
