/*
 * strlcat(): QNX's (and the BSDs') bounded string append, for C libraries
 * that lack it (glibc before 2.38).  Built only then (src/CMakeLists.txt).
 */
#include <string.h>

#include "common/internal.h"

size_t strlcat(char *dst, const char *src, size_t size);

/* Append src to the string in dst (a buffer of `size` bytes), keeping the
 * result terminated; returns the length the whole string would have,
 * strlen(dst) + strlen(src), so result >= size means it was cut short.
 * When dst holds no terminator within `size`, nothing is written and the
 * result is size + strlen(src), as the BSDs define it. */
PM_EXPORT size_t strlcat(char *dst, const char *src, size_t size)
{
    size_t dlen = strnlen(dst, size);
    size_t slen = strlen(src);
    if (dlen == size)
        return size + slen;
    size_t room = size - dlen - 1;
    size_t n = slen < room ? slen : room;
    memcpy(dst + dlen, src, n);
    dst[dlen + n] = '\0';
    return dlen + slen;
}
