/*
 * Large message and reply bodies: a memory file the sender keeps mapped,
 * which the receiver maps too.
 *
 * A body over PM_WIRE_INLINE_MAX goes in a memfd that the sender keeps per
 * connection (its next large body reuses it) and maps read-write: it
 * memcpy()s the body in at an offset of its choosing and hands the file
 * over with the datagram.  (The receiver could write into it too: that
 * changes nothing for the sender, which never reads it back, and the
 * receiver's pages are its own charge.)  The receiver maps that
 * file read-only, once per connection while it stays the same file, and
 * memcpy()s out exactly what MsgRead() (or the client's reply buffer) asks
 * for.  Two copies by the CPU cost less than the kernel's one
 * (process_vm_readv(), pread()), which pins and copies page by page
 * (BENCHMARKS.md), and no permission is needed between the two processes.
 *
 * Mapping another process's file must never fault the mapper: the file
 * must be a memfd (tmpfs; a hugetlbfs hole could raise SIGBUS when the
 * pool is empty) sealed against shrinking (F_SEAL_SHRINK: a page past a
 * shrunk end raises SIGBUS; a seal is never removed).  Holes read as zeros
 * (a fresh page of the sender's file).  A file that is not so is read with
 * pread() instead, which cannot fault; so is every file of a process whose
 * environment says PEERMAP_MAP_BODIES=0.
 */
#ifndef PEERMAP_MSG_BODYFILE_H
#define PEERMAP_MSG_BODYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The sender's side. */
struct pm_bodyfile {
    int fd;              /* memfd, sealed against shrinking; -1: none */
    unsigned char *map;  /* all of it, MAP_SHARED, read-write */
    size_t size;         /* the file's size, = the mapping's */
};
#define PM_BODYFILE_INIT { -1, NULL, 0 }

/* Make the file at least `size` bytes: create it, or grow it (the mapping
 * may move).  0, or -1 with errno (EMFILE, ENOMEM...). */
int pm_bodyfile_reserve(struct pm_bodyfile *b, size_t size);

/* Grow the file (it must exist) to at least `size` bytes; on failure it is
 * left as it was, mapping and bytes included.  0, or -1 with errno. */
int pm_bodyfile_grow(struct pm_bodyfile *b, size_t size);
void pm_bodyfile_drop(struct pm_bodyfile *b);

/* The receiver's side: the mapping of the last file a peer sent. */
struct pm_bodyview {
    dev_t dev;
    ino_t ino;
    const unsigned char *map;
    size_t size;
};
#define PM_BODYVIEW_INIT { 0, 0, NULL, 0 }

/* The mapping of the file `fd` (whose fstat() said dev, ino, size), made
 * now or kept from an earlier datagram of the same file, covering at least
 * `need` bytes; NULL (errno) when the file may not be mapped (not a sealed
 * memfd) or mapping fails: read it with pread() then.  An earlier mapping
 * of another file is dropped.  `size` bounds what is mapped: the caller
 * decides whether it may hold that much. */
const unsigned char *pm_bodyview_map(struct pm_bodyview *v, int fd, dev_t dev, ino_t ino,
                                     uint64_t size, uint64_t need);
void pm_bodyview_drop(struct pm_bodyview *v);
/* Map other processes' files (1), or never (0); the default comes from
 * PEERMAP_MAP_BODIES.  For tests of the pread() path. */
void pm_bodyview_allow(int yes);

/* Read n bytes at `off` of file fd into dst with pread(), the kernel's copy
 * kept out of the slow band of copy.h (through a bounce buffer when dst
 * would fall in it).  The bytes read (short at the end of the file), or -1. */
ssize_t pm_body_pread(int fd, void *dst, size_t n, uint64_t off);

#endif
