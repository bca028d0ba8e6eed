/*
 * Client processes (clients.c): every process with a connection to one of
 * our channels, and the processes whose last connection has closed, each
 * by pid and process key (trust.h).  It answers the one question
 * mmap_peer() must ask before it reaches a process by pid alone (ptrace,
 * the agent): "is pid P a client of ours whose process is gone?" - for
 * then P may name another process by now.
 */
#ifndef PEERMAP_MSG_CLIENTS_H
#define PEERMAP_MSG_CLIENTS_H

#include <stdint.h>
#include <sys/types.h>

void pm_clients_add(pid_t pid, uint64_t key);
void pm_clients_remove(pid_t pid);

/* 1 when pid was a client's (connected now, or departed) and the process
 * holding pid now is not the last client process that held it (or none
 * does); 0 when pid is no client's, or that client is still there; -1 when
 * the record cannot be read now: EDEADLK, this thread was changing it when
 * the signal whose handler asks came; ETIMEDOUT, another thread held it
 * past the deadline.  Async-signal-safe. */
int pm_msg_client_gone(pid_t pid);

#endif
