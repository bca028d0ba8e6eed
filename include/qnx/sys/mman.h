/*
 * <sys/mman.h> for code written for QNX Neutrino (peermap's compatibility
 * layer, first on the include path that `pkg-config --cflags peermap`
 * gives).  It is Linux's <sys/mman.h> plus what QNX 7.1 declares there and
 * Linux lacks: shm_ctl(), the SHMCTL_* flags, SHM_ANON, the shared-memory
 * handle calls (<sys/shm_handle.h>) and mmap_peer() (<sys/mman_peer.h>).
 *
 * shm_open(): QNX code creates anonymous objects with shm_open(SHM_ANON,
 * ...), which the C library's shm_open() cannot take.  Here the name
 * shm_open is made peermap_shm_open(), which handles SHM_ANON and passes
 * every other name to the C library's shm_open() unchanged.  Only code
 * built with this directory on its include path sees the macro: Linux
 * programs, and the library itself, keep the C library's shm_open().
 */
#ifndef PEERMAP_QNX_SYS_MMAN_H
#include_next <sys/mman.h>
#define PEERMAP_QNX_SYS_MMAN_H

#include <sys/shm_handle.h>
#include <sys/mman_peer.h>

#ifndef PEERMAP_NO_SHM_OPEN_REDIRECT
#undef shm_open
#define shm_open peermap_shm_open
#endif

#endif
