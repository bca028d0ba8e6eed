/*
 * Pieces of the path space shared by its files (see pathspace.h for the
 * design): entry names and records, manager liveness, the directory.
 */
#ifndef PEERMAP_RESMGR_PATHSPACE_INTERNAL_H
#define PEERMAP_RESMGR_PATHSPACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resmgr/pathspace.h"

/* What an entry's file name says. */
struct pm_ps_name {
    uint64_t seq;
    pid_t pid;
    uint64_t start;
    unsigned flags;
    uint64_t hash;
    uint32_t rnd;
};

/* The record inside the file. */
struct pm_ps_record {
    uint64_t seq;
    pid_t pid;
    uint64_t start;
    int chid;
    int handle;
    unsigned flags;
    mode_t mode;
    char path[PATH_MAX];
};

/* The longest record a reader accepts (path plus the fixed fields). */
#define PM_PS_RECORD_MAX (PATH_MAX + 256)

/* pathspace_format.c */
int pm_ps_normalise(const char *in, char out[PATH_MAX]);
uint64_t pm_ps_hash(const char *s, size_t n);
uint64_t pm_ps_next_seq(void);
void pm_ps_name_format(const struct pm_ps_name *n, char buf[PM_PS_NAME_MAX]);
int pm_ps_name_parse(const char *s, struct pm_ps_name *n);
int pm_ps_record_format(const struct pm_ps_record *r, char *buf, size_t size);
int pm_ps_record_parse(char *buf, size_t len, struct pm_ps_record *r);

/* pathspace_proc.c */
enum pm_ps_state { PM_PS_GONE, PM_PS_LIVE, PM_PS_FOREIGN };
/* Is the manager the entry names still there, and may an entry owned by
 * `owner` speak for it?  GONE: dead or pid reused; FOREIGN: alive but the
 * owner is not one of its uids. */
enum pm_ps_state pm_ps_manager_state(pid_t pid, uint64_t start, uid_t owner);

/* pathspace_dir.c */
/* Open the path space directory (creating it when `create`).  Returns the
 * descriptor and copies its path to path_out; -1 with ENOENT and no reason
 * recorded when it does not exist and !create. */
int pm_ps_dir_open(int create, char path_out[PATH_MAX]);

#endif
