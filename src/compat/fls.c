/*
 * fls(): find the last (most significant) bit set, as QNX's and the BSDs'
 * C libraries have it and glibc does not.
 */
#include "common/internal.h"

int fls(int value);

PM_EXPORT int fls(int value)
{
    unsigned v = (unsigned)value;
    return v ? (int)(sizeof v * 8) - __builtin_clz(v) : 0;
}
