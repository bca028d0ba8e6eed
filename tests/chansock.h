/*
 * A channel's socket as another process reaches it without the library:
 * its predictable abstract name, and a raw connection to it (what the
 * attack tests speak, and what a hostile server binds first).
 */
#ifndef PEERMAP_TEST_CHANSOCK_H
#define PEERMAP_TEST_CHANSOCK_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* The address of channel chid of process pid ("\0peermap.ch.PID.CHID", in
 * the abstract namespace); returns its length. */
socklen_t channel_addr(pid_t pid, int chid, struct sockaddr_un *sa);

/* A SOCK_SEQPACKET connection to that channel (close-on-exec): the
 * descriptor, or -1 with errno. */
int channel_connect(pid_t pid, int chid);

#endif
