/*
 * <process.h> - QNX's header for process creation and identity.
 *
 * QNX declares getpid(), getppid(), getpgrp(), setpgid(), fork(), vfork(),
 * the exec*() family, _exit() and pthread_atfork() here (and <unistd.h>
 * includes it).  On Linux these live in <unistd.h> and <pthread.h>, which
 * this header includes; gettid() and execvpe() are declared here too when
 * glibc leaves them out (it declares them only for _GNU_SOURCE).
 *
 * Not provided: QNX's spawn*() family (spawnl(), spawnv(), ... with
 * P_WAIT/P_NOWAIT) - use posix_spawn() - and QNX's private _cmdname() and
 * _cmdfd().
 */
#ifndef PEERMAP_QNX_PROCESS_H
#define PEERMAP_QNX_PROCESS_H

#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_GNU)
#ifdef __cplusplus
extern "C" {
#endif
#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 30
pid_t gettid(void);
#endif
int execvpe(const char *file, char *const argv[], char *const envp[]);
#ifdef __cplusplus
}
#endif
#endif

#endif
