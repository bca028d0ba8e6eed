/*
 * The agent's names (agent_name.c), shared by the agent (agent.c) and its
 * callers (agent_call.c).
 *
 * An agent listens on the abstract socket "peermap.agent.<pid>".  Abstract
 * names belong to whoever binds them first, so that name is only a hint:
 * callers prove that the process listening there IS the target before they
 * send anything (agent_call.c), and an agent whose name another process
 * took listens instead on "peermap.agent.<pid>.<token>", a token of 66
 * random bits nobody can bind before it, and publishes the token as its
 * thread's name ("pma.<token>", /proc/<pid>/task/<tid>/comm), which only
 * the process itself (or root, or its own user) can set.  A caller that
 * finds the first name taken by someone else, or free, looks there.
 */
#ifndef PEERMAP_PEER_AGENT_H
#define PEERMAP_PEER_AGENT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define PM_AGENT_TOKEN_LEN 11          /* base64url: 66 bits */
#define PM_AGENT_TOKEN_PREFIX "pma."   /* thread name "pma.<token>": 15 chars */
#define PM_AGENT_THREAD_NAME "peermap-agent"

/* The address of pid's agent: the usual name (token NULL) or the one with
 * a token.  Returns the address length for bind()/connect(). */
socklen_t pm_agent_addr(pid_t pid, const char *token, struct sockaddr_un *sa);

/* A fresh token from getrandom(): 0, or -1 with errno. */
int pm_agent_new_token(char token[PM_AGENT_TOKEN_LEN + 1]);

/* The token in a thread's name as /proc shows it (n bytes, maybe with a
 * newline): 1 with token set, 0 when it is not "pma.<token>".  Pure:
 * fuzzed, since another process chose those bytes. */
int pm_agent_token_of(const char *comm, size_t n, char token[PM_AGENT_TOKEN_LEN + 1]);

/* Look for the token process `pid` publishes in one of its threads' names,
 * giving up at deadline_ns (CLOCK_MONOTONIC): 1 found, 0 it publishes none,
 * -1 with errno EACCES (/proc hides its threads from us), ESRCH (gone),
 * ETIMEDOUT. */
int pm_agent_find_token(pid_t pid, char token[PM_AGENT_TOKEN_LEN + 1], int64_t deadline_ns);

#endif
