/*
 * `peermap export [MOUNTPOINT]`: the path space as a file system.
 *
 * Who may use the mount.  An export run by root is mounted allow_other:
 * every user's programs reach it, and each open speaks for its program
 * (conn.c), so managers judge each program as pm_open() would.  The
 * kernel's own permission checks are off (no default_permissions): the
 * managers' iofunc checks are the only ones, as on QNX.  An export run by
 * any other user is that user's alone (no allow_other: the kernel admits
 * only processes of the mounting user): it cannot speak for others, so
 * serving them would hand them its own rights.
 *
 * Default mount points: /run/peermap/fs for root; for other users
 * $XDG_RUNTIME_DIR/peermap/fs, else /tmp/peermap-UID/fs (a directory of
 * theirs, mode 0700).  These are created; a mount point given on the
 * command line must exist.  "/dev/fd/N" names a FUSE descriptor already
 * mounted by a privileged helper (libfuse's convention).
 *
 * Ending.  SIGINT, SIGTERM and SIGHUP unmount and exit 0 (within 10 s, or
 * exit 1: see arm_shutdown_deadline()).  The mount is
 * made with auto_unmount when fusermount3 allows it, and a watchdog child
 * (watchdog.c) unmounts too, so an export killed with SIGKILL leaves no
 * mount; in the moment before that, programs get ENOTCONN, never a hang.
 * By hand: `fusermount3 -u MOUNTPOINT` (or `umount -l`).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <peermap.h>

#include "export/export.h"
#include "export/main.h"

struct pmx_config pmx_cfg;

void pmx_log(const char *fmt, ...)
{
    if (!pmx_cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("peermap export: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/*
 * Each operation runs with cancellation disabled: when the session ends,
 * libfuse cancels its worker threads, and one cancelled in the middle of
 * an exchange with a manager would leave its open half closed.  A worker
 * busy in an operation finishes it (within the deadline) and is cancelled
 * when it goes back to waiting for the next request.
 */
#define WRAP(op, params, args)                                               \
    static void w_##op params                                                \
    {                                                                        \
        int old;                                                             \
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);                \
        pmx_op_##op args;                                                    \
        pthread_setcancelstate(old, NULL);                                   \
    }

WRAP(lookup, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(getattr, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(setattr, (fuse_req_t r, fuse_ino_t i, struct stat *a, int t, struct fuse_file_info *f),
     (r, i, a, t, f))
WRAP(access, (fuse_req_t r, fuse_ino_t i, int m), (r, i, m))
WRAP(open, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(create, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *f),
     (r, p, n, m, f))
WRAP(read, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, s, o, f))
WRAP(write, (fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o,
             struct fuse_file_info *f), (r, i, b, s, o, f))
WRAP(release, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(fsync, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f), (r, i, d, f))
WRAP(ioctl, (fuse_req_t r, fuse_ino_t i, unsigned int c, void *a, struct fuse_file_info *f,
             unsigned fl, const void *ib, size_t is, size_t os), (r, i, c, a, f, fl, ib, is, os))
WRAP(opendir, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))

static const struct fuse_lowlevel_ops ops = {
    .init = pmx_op_init,
    .lookup = w_lookup,
    .forget = pmx_op_forget,
    .forget_multi = pmx_op_forget_multi,
    .getattr = w_getattr,
    .setattr = w_setattr,
    .access = w_access,
    .statfs = pmx_op_statfs,
    .open = w_open,
    .create = w_create,
    .read = w_read,
    .write = w_write,
    .flush = pmx_op_flush,
    .release = w_release,
    .fsync = w_fsync,
    .ioctl = w_ioctl,
    .opendir = w_opendir,
    .readdir = pmx_op_readdir,
    .releasedir = pmx_op_releasedir,
};

static const char usage_text[] =
    "Usage: peermap export [-d] [-v] [-t MS] [--link [--link-root DIR]] [--no-passthrough]\n"
    "                      [MOUNTPOINT]\n";

static const char help_text[] =
    "\n"
    "Export the path space through FUSE: every attached path appears at\n"
    "MOUNTPOINT/<path> while its manager lives, and any program reaches the\n"
    "manager with open(), read(), write(), ioctl(), mmap(), cat, echo.\n"
    "\n"
    "  -d, --background   run in the background once mounted\n"
    "  -v, --verbose      say on stderr why requests fail\n"
    "  -t, --timeout MS   how long a manager may take to answer (default:\n"
    "                     PEERMAP_TIMEOUT_MS, else 2000); then EIO\n"
    "  --link             (root) also make each attached absolute path itself\n"
    "                     lead to the export: a symbolic link there, made when\n"
    "                     its manager attaches and removed when it goes; never\n"
    "                     over an existing file\n"
    "  --link-root DIR    make those links under DIR instead of /\n"
    "  --no-passthrough   serve managers' shared memory objects through the page\n"
    "                     cache too (default for root: the kernel serves them\n"
    "                     directly, zero-copy, where Linux >= 6.9 allows)\n"
    "\n"
    "MOUNTPOINT defaults to /run/peermap/fs for root, else\n"
    "$XDG_RUNTIME_DIR/peermap/fs or /tmp/peermap-UID/fs.  SIGINT or SIGTERM\n"
    "unmounts; after a crash: fusermount3 -u MOUNTPOINT.  See peermap(1).\n";

/* mkdir -p for the default mount points: each missing directory with
 * `mode`; an existing one must be a directory (not a symlink) owned by us
 * or by root. */
static int make_dirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf)
        return ENAMETOOLONG;
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (lstat(buf, &st) < 0) {
            if (errno != ENOENT || mkdir(buf, mode) < 0)
                return errno;
        } else if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0)) {
            return ENOTDIR;
        }
        *p = c;
        if (!c)
            return 0;
    }
}

static int default_mountpoint(char *out)
{
    if (geteuid() == 0) {
        strcpy(out, "/run/peermap/fs");
        return make_dirs(out, 0755);
    }
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == geteuid() && strlen(xdg) + 16 < PATH_MAX) {
        snprintf(out, PATH_MAX, "%s/peermap/fs", xdg);
        return make_dirs(out, 0700);
    }
    snprintf(out, PATH_MAX, "/tmp/peermap-%u/fs", (unsigned)geteuid());
    /* /tmp is everyone's: the directory must be ours, and only ours. */
    char top[PATH_MAX];
    snprintf(top, sizeof top, "/tmp/peermap-%u", (unsigned)geteuid());
    if (mkdir(top, 0700) < 0 && errno != EEXIST)
        return errno;
    if (lstat(top, &st) < 0)
        return errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
        return EPERM;
    return make_dirs(out, 0700);
}

/* A session mounted at pmx_cfg.mountpoint, or NULL (the reason printed). */
static struct fuse_session *mount_session(int auto_unmount)
{
    char opts[256];
    snprintf(opts, sizeof opts, "fsname=peermap,subtype=peermap%s%s",
             pmx_cfg.euid == 0 ? ",allow_other" : "", auto_unmount ? ",auto_unmount" : "");
    char *argv[] = { (char *)"peermap-export", (char *)"-o", opts, NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    fuse_opt_free_args(&args);  /* parsing may have copied them */
    if (!se)
        return NULL;
    if (fuse_session_mount(se, pmx_cfg.mountpoint) != 0) {
        fuse_session_destroy(se);
        return NULL;
    }
    return se;
}

/* Shutdown has a deadline.  libfuse ends its loop on SIGINT/SIGTERM/SIGHUP
 * by cancelling its workers and joining them before it returns; a worker whose cancellation
 * races the return of its read() of /dev/fuse has been seen never to
 * finish (glibc's cancellation wait), and the join then waits for good.
 * So the signal that asks us to end also arms an alarm: if the export has
 * not ended PMX_SHUTDOWN_S seconds later it says so and exits, and the
 * watchdog (watchdog.c) removes the mount, as after a crash. */
#define PMX_SHUTDOWN_S 10
static struct sigaction fuse_end[3];
static const int end_signals[3] = { SIGINT, SIGTERM, SIGHUP };

static void shutdown_overdue(int sig)
{
    (void)sig;
    static const char msg[] = "peermap export: shutdown did not finish within "
                              "10 s (a FUSE worker is stuck): exiting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void end_requested(int sig, siginfo_t *si, void *uc)
{
    alarm(PMX_SHUTDOWN_S);
    for (int i = 0; i < 3; i++) {
        if (end_signals[i] != sig)
            continue;
        if (fuse_end[i].sa_flags & SA_SIGINFO)
            fuse_end[i].sa_sigaction(sig, si, uc);
        else if (fuse_end[i].sa_handler != SIG_DFL && fuse_end[i].sa_handler != SIG_IGN)
            fuse_end[i].sa_handler(sig);
    }
}

/* Put end_requested() in front of libfuse's handlers.  0, or -1. */
static int arm_shutdown_deadline(void)
{
    struct sigaction alrm = { .sa_handler = shutdown_overdue };
    sigemptyset(&alrm.sa_mask);
    if (sigaction(SIGALRM, &alrm, NULL) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        struct sigaction ours = { .sa_sigaction = end_requested, .sa_flags = SA_SIGINFO };
        sigemptyset(&ours.sa_mask);
        if (sigaction(end_signals[i], NULL, &fuse_end[i]) < 0 ||
            sigaction(end_signals[i], &ours, NULL) < 0)
            return -1;
    }
    return 0;
}

/* Give libfuse its own handlers back before it removes them. */
static void disarm_shutdown_deadline(void)
{
    for (int i = 0; i < 3; i++)
        sigaction(end_signals[i], &fuse_end[i], NULL);
}

int pm_export_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "background", no_argument, NULL, 'd' },
        { "verbose", no_argument, NULL, 'v' },
        { "timeout", required_argument, NULL, 't' },
        { "link", no_argument, NULL, 'L' },
        { "link-root", required_argument, NULL, 'R' },
        { "no-passthrough", no_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int background = 0, c;
    const char *link_root = NULL;
    memset(&pmx_cfg, 0, sizeof pmx_cfg);
    pmx_cfg.timeout_ms = (int)peermap_timeout_ms();
    optind = 1;
    while ((c = getopt_long(argc, argv, "+dvt:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            background = 1;
            break;
        case 'v':
            pmx_cfg.verbose = 1;
            break;
        case 't': {
            char *end;
            long ms = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || ms < 1 || ms > 3600000) {
                fprintf(stderr, "peermap export: --timeout '%s' is not 1 to 3600000 ms\n%s",
                        optarg, usage_text);
                return 2;
            }
            pmx_cfg.timeout_ms = (int)ms;
            /* The memory manager's outcalls (passthrough) wait as long. */
            peermap_set_timeout_ms((unsigned)ms);
            break;
        }
        case 'L':
            pmx_cfg.link = 1;
            break;
        case 'R':
            link_root = optarg;
            break;
        case 'P':
            pmx_cfg.no_passthrough = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(help_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "peermap export: too many operands\n%s", usage_text);
        return 2;
    }
    pmx_cfg.euid = geteuid();
    pmx_cfg.egid = getegid();
    pmx_cfg.started = time(NULL);

    if (link_root && !pmx_cfg.link) {
        fprintf(stderr, "peermap export: --link-root needs --link\n%s", usage_text);
        return 2;
    }
    if (pmx_cfg.link && pmx_cfg.euid != 0) {
        fprintf(stderr, "peermap export: --link is for root (it writes where managers' "
                "paths are, e.g. /dev)\n");
        return 4;
    }
    if (link_root) {
        if (link_root[0] != '/' || !realpath(link_root, pmx_cfg.link_root)) {
            fprintf(stderr, "peermap export: --link-root %s: %s\n", link_root,
                    link_root[0] != '/' ? "not an absolute path" : strerror(errno));
            return 2;
        }
        if (strcmp(pmx_cfg.link_root, "/") == 0)
            pmx_cfg.link_root[0] = '\0';
    }

    if (optind < argc) {
        const char *mp = argv[optind];
        if (strncmp(mp, "/dev/fd/", 8) == 0) {
            snprintf(pmx_cfg.mountpoint, sizeof pmx_cfg.mountpoint, "%s", mp);
        } else if (!realpath(mp, pmx_cfg.mountpoint)) {
            fprintf(stderr, "peermap export: mount point %s: %s\n", mp, strerror(errno));
            return 1;
        }
    } else {
        int e = default_mountpoint(pmx_cfg.mountpoint);
        if (e) {
            fprintf(stderr, "peermap export: cannot make the mount point %s: %s\n",
                    pmx_cfg.mountpoint, strerror(e));
            return 1;
        }
    }
    if (pmx_cfg.link && strncmp(pmx_cfg.mountpoint, "/dev/fd/", 8) == 0) {
        fprintf(stderr, "peermap export: --link needs a mount point path, not %s\n",
                pmx_cfg.mountpoint);
        return 2;
    }
    pmx_caller_init();
    pmx_share_init();

    /* auto_unmount needs fusermount3; without it, say what to do after a
     * crash and mount anyway. */
    struct fuse_session *se = mount_session(1);
    if (!se) {
        se = mount_session(0);
        if (se)
            fprintf(stderr, "peermap export: mounted without auto_unmount: if this "
                    "process is killed, run fusermount3 -u %s\n", pmx_cfg.mountpoint);
    }
    if (!se) {
        fprintf(stderr, "peermap export: cannot mount the export at %s\n", pmx_cfg.mountpoint);
        return 1;
    }
    pmx_cfg.se = se;
    if (strncmp(pmx_cfg.mountpoint, "/dev/fd/", 8) != 0 &&
        pmx_passthrough_setup(se, !pmx_cfg.no_passthrough) != 0)
        pmx_log("the session's I/O cannot be watched: no passthrough, requests of "
                "at most 256 pages");
    if (fuse_set_signal_handlers(se) != 0 || arm_shutdown_deadline() != 0) {
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        return 1;
    }
    printf("peermap export: the path space is at %s\n", pmx_cfg.mountpoint);
    fflush(stdout);
    if (background && fuse_daemonize(0) != 0) {
        fuse_remove_signal_handlers(se);
        fuse_session_unmount(se);
        fuse_session_destroy(se);
        return 1;
    }
    int rc = 0;
    if (strncmp(pmx_cfg.mountpoint, "/dev/fd/", 8) != 0 && pmx_watchdog_start() != 0)
        fprintf(stderr, "peermap export: no watchdog: if this process is killed, run "
                "fusermount3 -u %s\n", pmx_cfg.mountpoint);
    if (pmx_cfg.link) {
        int e = pmx_links_start();
        if (e) {
            fprintf(stderr, "peermap export: --link: %s\n", strerror(e));
            rc = 1;
        }
    }
    if (!rc) {
        struct fuse_loop_config *cfg = fuse_loop_cfg_create();
        if (cfg) {
            /* Several requests at once: a manager that stalls holds one
             * thread until the deadline, the others go on. */
            fuse_loop_cfg_set_max_threads(cfg, 32);
            fuse_loop_cfg_set_idle_threads(cfg, 4);
            /* A signal that ended the loop is its answer (> 0): not an
             * error. */
            rc = fuse_session_loop_mt(se, cfg) < 0;
            alarm(0); /* its workers joined: what follows has deadlines of its own */
            fuse_loop_cfg_destroy(cfg);
        } else {
            rc = 1;
        }
    }
    if (pmx_cfg.link)
        pmx_links_stop();
    pmx_watchdog_stop();
    disarm_shutdown_deadline();
    fuse_remove_signal_handlers(se);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    /* What the kernel never released: the managers hear of it now. */
    pmx_op_begin();
    pmx_files_close_all();
    pmx_dirs_free_all();
    pmx_nodes_free();
    return rc;
}
