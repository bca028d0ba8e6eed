/*
 * strlcpy(): QNX's (and the BSDs') bounded string copy, for C libraries
 * that lack it (glibc before 2.38).  Built only then (src/CMakeLists.txt).
 */
#include <string.h>

#include "common/internal.h"

size_t strlcpy(char *dst, const char *src, size_t size);

/* Copy at most size - 1 bytes and always terminate (when size > 0); the
 * result is strlen(src), so result >= size means the copy was cut short. */
PM_EXPORT size_t strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
