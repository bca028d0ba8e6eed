/*
 * QNX directory streams (qnx_dirent.c): what a directory manager's _IO_READ on
 * a directory returns.  No FUSE here, so the fuzz target builds alone.
 */
#ifndef PEERMAP_EXPORT_QNX_DIRENT_H
#define PEERMAP_EXPORT_QNX_DIRENT_H

#include <stddef.h>
#include <sys/types.h>

/*
 * QNX's struct dirent as a directory manager's _IO_READ returns it
 * (QNX 7, 64-bit): records one after another, each
 *     uint64_t d_ino; int64_t d_offset; int16_t d_reclen; int16_t d_namelen;
 *     char d_name[d_namelen + 1];   (NUL-terminated)
 * and d_reclen bytes long in all (padding, and QNX's extra stat records,
 * may follow the name).  Calls cb for each entry with a usable name (no
 * '/', not "." or ".."); returns the number of bytes of whole records
 * read, or -1 with errno EBADMSG when a record is malformed.
 */
#define PMX_DIRENT_HDR 20
ssize_t pmx_dirents_parse(const void *buf, size_t len,
                          void (*cb)(const char *name, size_t namelen, void *arg), void *arg);

#endif
