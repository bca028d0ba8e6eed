/*
 * Who a client is, fixed once, when its connection is accepted.
 *
 * The kernel records a connecting process's pid and effective ids
 * (SO_PEERCRED) and its groups (SO_PEERGROUPS) at connect(); it records
 * neither its real and saved ids nor its session, and a pid alone can name
 * another process once the client has exited.  So at accept the library
 * takes the client's pidfd (SO_PEERPIDFD), which names that process and no
 * other, and reads through it the real, effective and saved ids of one
 * moment (trust.h, pm_pidfd_creds()), the session, and the process key that
 * tells it from any later holder of its pid.  The real and saved ids are
 * used only when that snapshot's effective ids are still the kernel's
 * record; a client that changed ids between connect() and our accept()
 * (or a kernel without SO_PEERPIDFD, where /proc cannot be tied to the
 * connecting process) gets real = saved = effective: never a mix of two
 * moments, and never another process's ids.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msg/msg.h"
#include "trust/trust.h"

int pm_client_id_capture(int fd, struct pm_client_id *who)
{
    struct pm_peer_id id;
    if (pm_peer_get(fd, &id) < 0) {
        if (errno == EMFILE || errno == ENFILE)
            return -1; /* no room for its pidfd: the caller refuses it */
        /* ESRCH: the kernel already knows the client is gone; what it
         * recorded at connect() still holds. */
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
            return -1;
        id = (struct pm_peer_id){ .pid = cr.pid, .uid = cr.uid, .gid = cr.gid,
                                  .pidfd = -1 };
    }
    *who = (struct pm_client_id){ .pid = id.pid, .uid = id.uid, .gid = id.gid,
                                  .ruid = id.uid, .suid = id.uid,
                                  .rgid = id.gid, .sgid = id.gid };
    if (id.pidfd < 0) {
        /* Without a pidfd only the start time can key the process: the
         * gap between connect() and now is not covered (trust.h). */
        if (pm_peer_pidfd_supported() == 0) {
            uint64_t k, again;
            if (pm_proc_key(id.pid, &k) == 0) {
                who->key = k;
                /* Its real and saved ids, read by pid: taken only when
                 * the same process (its key) held the pid across the read
                 * and its effective ids are the ones the kernel recorded
                 * (a set-user-ID connector's real ids are not its
                 * effective ones, and each message's stamp names them). */
                struct pm_proc_creds c;
                if (pm_proc_creds(id.pid, &c) == 0 && pm_proc_key(id.pid, &again) == 0 &&
                    again == k && c.euid == id.uid && c.egid == id.gid) {
                    who->ruid = c.ruid;
                    who->suid = c.suid;
                    who->rgid = c.rgid;
                    who->sgid = c.sgid;
                }
            }
        }
        return 0;
    }
    /* getsid() asks by number: its answer is the client's if the client
     * still holds that number afterwards, which reading its ids through
     * the pidfd proves (a live process keeps its pid). */
    pid_t sid = getsid(id.pid);
    struct pm_proc_creds c;
    if (pm_pidfd_creds(id.pidfd, &c) == 0) {
        if (sid > 0)
            who->sid = sid;
        if (c.euid == id.uid && c.egid == id.gid) {
            who->ruid = c.ruid;
            who->suid = c.suid;
            who->rgid = c.rgid;
            who->sgid = c.sgid;
        }
    }
    uint64_t k;
    if (pm_pidfd_key(id.pidfd, &k) == 0)
        who->key = k;
    pm_peer_release(&id);
    return 0;
}
