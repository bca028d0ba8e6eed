/*
 * QNX's directory stream, as a directory manager's _IO_READ on a directory
 * returns it (export.h has the layout).  The bytes come from another
 * process: every length is checked against what arrived before anything
 * is read (fuzzed: tests/fuzz/fuzz_dirent.c).
 */
#include <stdint.h>
#include <string.h>

#include <errno.h>
#include <limits.h>

#include "export/qnx_dirent.h"

ssize_t pmx_dirents_parse(const void *buf, size_t len,
                          void (*cb)(const char *name, size_t namelen, void *arg), void *arg)
{
    const unsigned char *p = buf;
    size_t at = 0;
    while (len - at >= PMX_DIRENT_HDR) {
        int16_t reclen, namelen;
        memcpy(&reclen, p + at + 16, sizeof reclen);
        memcpy(&namelen, p + at + 18, sizeof namelen);
        if (reclen < PMX_DIRENT_HDR || namelen < 0 || (size_t)reclen > len - at ||
            (size_t)namelen > (size_t)reclen - PMX_DIRENT_HDR) {
            errno = EBADMSG;
            return -1;
        }
        const char *name = (const char *)p + at + PMX_DIRENT_HDR;
        /* The name ends at its length or at a NUL, whichever comes first. */
        size_t nl = (size_t)namelen;
        const char *nul = memchr(name, '\0', nl);
        if (nul)
            nl = (size_t)(nul - name);
        int usable = nl > 0 && nl <= NAME_MAX && !memchr(name, '/', nl) &&
                     !(nl == 1 && name[0] == '.') &&
                     !(nl == 2 && name[0] == '.' && name[1] == '.');
        if (usable)
            cb(name, nl, arg);
        at += (size_t)reclen;
    }
    if (at != len) {
        /* A record cut short: the manager broke its stream. */
        errno = EBADMSG;
        return -1;
    }
    return (ssize_t)at;
}
