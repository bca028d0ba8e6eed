/*
 * --link: the attached paths themselves lead to the export.
 *
 * For each attached absolute path P, a symbolic link LINKROOT/P ->
 * MOUNTPOINT/P is made while P's manager lives, so that `cat /dev/sample`
 * and a QNX program's open("/dev/sample") reach the manager as on QNX.  A
 * symbolic link (not a bind mount) because it needs no mount namespace
 * care, is visible as what it is (ls -l shows where it leads), and the
 * kernel's path walk does the rest.
 *
 * Rules, because root writes where the system keeps its files:
 *   - only entries owned by root are linked: a manager running as root
 *     could write there itself, anyone else must not be able to place a
 *     file (think /etc/ld.so.preload) by attaching a path;
 *   - a link is never made over anything (symlinkat() fails on an existing
 *     name; that path is then reachable through the mount only), and only
 *     a link this export made - same inode, same target - is removed;
 *   - every directory on the way must be owned by root and writable by
 *     nobody else (walked with O_NOFOLLOW, one component at a time), so no
 *     other user can swap anything between our check and our change;
 *     missing directories are made (0755) and removed again when empty;
 *   - paths inside the mount point are skipped.
 * What was made is recorded in /run/peermap/links.<hash>, so that an
 * export killed with SIGKILL leaves links that the next export (same mount
 * point and link root) removes before it starts; until then they lead to
 * an unmounted directory (ENOENT), never to a hang.
 *
 * A thread watches the path space: inotify on its directory, a pidfd per
 * linked manager (its death), and a look every second besides (the
 * directory may not exist yet, pidfds are capped).
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export/export.h"

#define MAX_PIDFDS 256
#define RESCAN_MS 1000

struct link {
    char path[PATH_MAX];     /* the attached path */
    dev_t dev;               /* the symbolic link we made */
    ino_t ino;
    int seen;                /* still attached in this scan */
};

struct made_dir {
    char path[PATH_MAX];     /* under the link root */
    dev_t dev;
    ino_t ino;
};

static struct link *links;
static size_t nlinks, caplinks;
static struct made_dir *dirs;
static size_t ndirs, capdirs;
static pthread_t thread;
static int stop_fd = -1;
static int running;
static char state_path[PATH_MAX];

/* ---- walking safely ---- */

static int safe_dir(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
           !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* Open the directory that holds the last component of link_root + path,
 * making missing ones when `make`.  *last points into path.  The fd, or
 * -1 (errno). */
static int walk(const char *path, int make, const char **last)
{
    int fd = open(pmx_cfg.link_root[0] ? pmx_cfg.link_root : "/",
                  O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (!safe_dir(fd)) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            *last = p;
            return fd;
        }
        char comp[NAME_MAX + 1];
        size_t len = (size_t)(slash - p);
        if (len == 0 || len > NAME_MAX) {
            close(fd);
            errno = EINVAL;
            return -1;
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int next = openat(fd, comp, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && make && mkdirat(fd, comp, 0755) == 0) {
            next = openat(fd, comp, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (next >= 0 && fstat(next, &st) == 0 && ndirs < 4096) {
                if (ndirs == capdirs) {
                    size_t cap = capdirs ? capdirs * 2 : 16;
                    struct made_dir *d = realloc(dirs, cap * sizeof *d);
                    if (d) {
                        dirs = d;
                        capdirs = cap;
                    }
                }
                if (ndirs < capdirs) {
                    struct made_dir *d = &dirs[ndirs++];
                    snprintf(d->path, sizeof d->path, "%.*s", (int)(slash - path), path);
                    d->dev = st.st_dev;
                    d->ino = st.st_ino;
                }
            }
        }
        close(fd);
        if (next < 0)
            return -1;
        if (!safe_dir(next)) {
            close(next);
            errno = EPERM;
            return -1;
        }
        fd = next;
        p = slash + 1;
    }
}

/* Where the link for `path` leads: 0, or ENAMETOOLONG. */
static int target_of(const char *path, char *buf)
{
    size_t ml = strlen(pmx_cfg.mountpoint), pl = strlen(path);
    if (ml + pl + 1 > PATH_MAX)
        return ENAMETOOLONG;
    memcpy(buf, pmx_cfg.mountpoint, ml);
    memcpy(buf + ml, path, pl + 1);
    return 0;
}

/* Inside the mount point, or the link would cover a directory on the way
 * to it. */
static int skip_path(const char *path)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", pmx_cfg.link_root, path);
    size_t ml = strlen(pmx_cfg.mountpoint), fl = strlen(full);
    if (fl >= ml && strncmp(full, pmx_cfg.mountpoint, ml) == 0 &&
        (full[ml] == '/' || full[ml] == '\0'))
        return 1;
    if (fl < ml && strncmp(full, pmx_cfg.mountpoint, fl) == 0 && pmx_cfg.mountpoint[fl] == '/')
        return 1;
    return 0;
}

static int make_link(const char *path, struct link *out)
{
    const char *last;
    int dfd = walk(path, 1, &last);
    if (dfd < 0)
        return errno;
    char target[PATH_MAX];
    int e = target_of(path, target);
    if (e) {
        close(dfd);
        return e;
    }
    struct stat st;
    if (symlinkat(target, dfd, last) < 0)
        e = errno;
    else if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
        e = errno;
    close(dfd);
    if (e)
        return e;
    snprintf(out->path, sizeof out->path, "%s", path);
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    return 0;
}

static void remove_made_dirs(void)
{
    /* A directory still in use is not empty and stays; one emptied by the
     * removal of a deeper one goes on the next pass. */
    for (int pass = 0, removed = 1; removed && pass < 64; pass++) {
        removed = 0;
        for (size_t i = 0; i < ndirs;) {
            const char *last;
            int dfd = walk(dirs[i].path, 0, &last);
            int gone = dfd < 0 && errno == ENOENT;
            if (dfd >= 0) {
                struct stat st;
                int ours = fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                           S_ISDIR(st.st_mode) && st.st_dev == dirs[i].dev &&
                           st.st_ino == dirs[i].ino;
                gone = !ours || unlinkat(dfd, last, AT_REMOVEDIR) == 0;
                close(dfd);
            }
            if (gone) {
                dirs[i] = dirs[--ndirs];
                removed = 1;
            } else {
                i++;
            }
        }
    }
}

static void remove_link(const struct link *l)
{
    const char *last;
    int dfd = walk(l->path, 0, &last);
    if (dfd < 0)
        return;
    struct stat st;
    char target[PATH_MAX], now[PATH_MAX];
    if (target_of(l->path, target) == 0 &&
        fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
        st.st_dev == l->dev && st.st_ino == l->ino) {
        ssize_t n = readlinkat(dfd, last, now, sizeof now - 1);
        if (n >= 0) {
            now[n] = '\0';
            if (strcmp(now, target) == 0 && unlinkat(dfd, last, 0) == 0)
                pmx_log("--link: removed %s%s", pmx_cfg.link_root, l->path);
        }
    }
    close(dfd);
}

/* ---- the record of what was made ---- */

static void save_state(void)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", state_path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    for (size_t i = 0; i < nlinks; i++)
        fprintf(f, "L %llu %llu %s\n", (unsigned long long)links[i].dev,
                (unsigned long long)links[i].ino, links[i].path);
    for (size_t i = 0; i < ndirs; i++)
        fprintf(f, "D %llu %llu %s\n", (unsigned long long)dirs[i].dev,
                (unsigned long long)dirs[i].ino, dirs[i].path);
    if (fclose(f) == 0)
        rename(tmp, state_path);
    else
        unlink(tmp);
}

/* Remove what a previous export of the same mount left (it was killed). */
static void clean_previous(void)
{
    FILE *f = fopen(state_path, "re");
    if (!f)
        return;
    char line[PATH_MAX + 64];
    while (fgets(line, sizeof line, f)) {
        char kind;
        unsigned long long dev, ino;
        int at = 0;
        if (sscanf(line, "%c %llu %llu %n", &kind, &dev, &ino, &at) < 3 || !at)
            continue;
        char *p = line + at;
        p[strcspn(p, "\n")] = '\0';
        if (p[0] != '/')
            continue;
        if (kind == 'L') {
            struct link l = { .dev = (dev_t)dev, .ino = (ino_t)ino };
            snprintf(l.path, sizeof l.path, "%s", p);
            remove_link(&l);
        } else if (kind == 'D' && ndirs < 4096) {
            if (ndirs == capdirs) {
                size_t cap = capdirs ? capdirs * 2 : 16;
                struct made_dir *d = realloc(dirs, cap * sizeof *d);
                if (!d)
                    continue;
                dirs = d;
                capdirs = cap;
            }
            struct made_dir *d = &dirs[ndirs++];
            snprintf(d->path, sizeof d->path, "%s", p);
            d->dev = (dev_t)dev;
            d->ino = (ino_t)ino;
        }
    }
    fclose(f);
    remove_made_dirs();
    unlink(state_path);
}

/* ---- scanning ---- */

struct scan {
    pid_t pids[MAX_PIDFDS];
    int npids;
    int changed;
};

static struct link *find_link(const char *path)
{
    for (size_t i = 0; i < nlinks; i++)
        if (strcmp(links[i].path, path) == 0)
            return &links[i];
    return NULL;
}

static void on_entry(const struct pm_ps_match *m, void *arg)
{
    struct scan *s = arg;
    if (m->uid != 0 || skip_path(m->path))
        return;
    struct link *l = find_link(m->path);
    if (!l) {
        if (nlinks == caplinks) {
            size_t cap = caplinks ? caplinks * 2 : 16;
            struct link *v = realloc(links, cap * sizeof *v);
            if (!v)
                return;
            links = v;
            caplinks = cap;
        }
        int e = make_link(m->path, &links[nlinks]);
        if (e) {
            static char last_refused[PATH_MAX];
            if (strcmp(last_refused, m->path) != 0) {
                pmx_log("--link: no link at %s%s: %s", pmx_cfg.link_root, m->path,
                        e == EEXIST ? "something is there already" : strerror(e));
                snprintf(last_refused, sizeof last_refused, "%s", m->path);
            }
            return;
        }
        pmx_log("--link: %s%s -> %s%s", pmx_cfg.link_root, m->path, pmx_cfg.mountpoint,
                m->path);
        l = &links[nlinks++];
        s->changed = 1;
    }
    l->seen = 1;
    if (s->npids < MAX_PIDFDS)
        s->pids[s->npids++] = m->pid;
}

/* Bring the links in line with the path space; the managers to watch go
 * into s. */
static void rescan(struct scan *s)
{
    for (size_t i = 0; i < nlinks; i++)
        links[i].seen = 0;
    s->npids = 0;
    s->changed = 0;
    if (pm_pathspace_list(on_entry, s) < 0)
        return;  /* cannot read it now: change nothing */
    for (size_t i = 0; i < nlinks;) {
        if (links[i].seen) {
            i++;
            continue;
        }
        remove_link(&links[i]);
        links[i] = links[--nlinks];
        s->changed = 1;
    }
    if (s->changed) {
        remove_made_dirs();
        save_state();
    }
}

static void *watch(void *arg)
{
    (void)arg;
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    char psdir[PATH_MAX];
    int wd = -1;
    struct scan s;
    int pidfds[MAX_PIDFDS];
    int npidfds = 0;
    for (;;) {
        if (in >= 0 && wd < 0 && pm_pathspace_dir(psdir, sizeof psdir) == 0)
            wd = inotify_add_watch(in, psdir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                   IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF);
        rescan(&s);
        for (int i = 0; i < npidfds; i++)
            close(pidfds[i]);
        npidfds = 0;
        for (int i = 0; i < s.npids; i++) {
            int pfd = (int)syscall(SYS_pidfd_open, s.pids[i], 0);
            if (pfd >= 0)
                pidfds[npidfds++] = pfd;
        }
        struct pollfd p[MAX_PIDFDS + 2];
        int n = 0;
        p[n++] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
        if (in >= 0)
            p[n++] = (struct pollfd){ .fd = in, .events = POLLIN };
        for (int i = 0; i < npidfds; i++)
            p[n++] = (struct pollfd){ .fd = pidfds[i], .events = POLLIN };
        int r = poll(p, (nfds_t)n, RESCAN_MS);
        if (r > 0 && (p[0].revents & POLLIN))
            break;
        if (in >= 0 && r > 0 && (p[1].revents & POLLIN)) {
            char buf[4096];
            ssize_t got;
            while ((got = read(in, buf, sizeof buf)) > 0) {
                for (char *q = buf; q < buf + got;) {
                    struct inotify_event *ev = (struct inotify_event *)q;
                    if (ev->mask & (IN_DELETE_SELF | IN_IGNORED))
                        wd = -1;  /* the directory went: watch it again */
                    q += sizeof *ev + ev->len;
                }
            }
        }
    }
    for (int i = 0; i < npidfds; i++)
        close(pidfds[i]);
    if (in >= 0)
        close(in);
    return NULL;
}

int pmx_links_start(void)
{
    /* One record per mount point and link root. */
    char key[2 * PATH_MAX + 2];
    snprintf(key, sizeof key, "%s\n%s", pmx_cfg.mountpoint, pmx_cfg.link_root);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    if (mkdir("/run/peermap", 0755) < 0 && errno != EEXIST)
        return errno;
    int dfd = open("/run/peermap", O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    int ok = safe_dir(dfd);
    close(dfd);
    if (!ok)
        return EPERM;
    snprintf(state_path, sizeof state_path, "/run/peermap/links.%016llx", (unsigned long long)h);
    clean_previous();
    stop_fd = eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0)
        return errno;
    int e = pthread_create(&thread, NULL, watch, NULL);
    if (e) {
        close(stop_fd);
        stop_fd = -1;
        return e;
    }
    running = 1;
    return 0;
}

void pmx_links_stop(void)
{
    if (running) {
        uint64_t one = 1;
        if (write(stop_fd, &one, sizeof one) != sizeof one)
            pthread_cancel(thread);
        pthread_join(thread, NULL);
        running = 0;
    }
    if (stop_fd >= 0)
        close(stop_fd);
    stop_fd = -1;
    for (size_t i = 0; i < nlinks; i++)
        remove_link(&links[i]);
    nlinks = 0;
    remove_made_dirs();
    if (state_path[0])
        unlink(state_path);
    free(links);
    free(dirs);
    links = NULL;
    dirs = NULL;
    caplinks = capdirs = 0;
}
