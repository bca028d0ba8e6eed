/*
 * Directories: opendir, readdir, releasedir.
 *
 * A listing is taken whole at opendir() and served from memory (rewinddir
 * and seekdir work on it; a new opendir() sees changes):
 *   - a directory in between lists the names attached paths make below it
 *     (as the caller may reach them), and, when a directory manager serves
 *     it too, that manager's entries;
 *   - a manager's directory lists what the manager's _IO_READ on it
 *     returns, QNX's struct dirent stream (qnx_dirent.c), read to the end on
 *     an open for reading (so the manager's read check applies), plus the
 *     names attached below it.
 * A listing holds at most PMX_DIR_MAX names and PMX_DIR_BYTES of reads:
 * a manager cannot make the export hold unbounded memory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <peermap.h>

#include "export/export.h"
#include "resmgr/client.h"

#define PMX_DIR_MAX   65536
#define PMX_DIR_BYTES (16u << 20)
#define PMX_DIR_CHUNK 16384

struct dent {
    char *name;
    unsigned char type;  /* DT_DIR, DT_REG or DT_UNKNOWN */
};

struct dirlist {
    struct dirlist *prev, *next;   /* every listing held (teardown) */
    struct dent *v;
    size_t n, cap;
    int overflow, nomem;
};

static void add(struct dirlist *d, const char *name, size_t len, unsigned char type)
{
    if (d->nomem || d->overflow)
        return;
    if (d->n >= PMX_DIR_MAX) {
        d->overflow = 1;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        struct dent *v = realloc(d->v, cap * sizeof *v);
        if (!v) {
            d->nomem = 1;
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy) {
        d->nomem = 1;
        return;
    }
    d->v[d->n++] = (struct dent){ copy, type };
}

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Sorted, each name once (a directory if any source says so). */
static void settle(struct dirlist *d)
{
    if (!d->n)
        return;
    qsort(d->v, d->n, sizeof *d->v, dent_cmp);
    size_t out = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (out && strcmp(d->v[out - 1].name, d->v[i].name) == 0) {
            if (d->v[i].type == DT_DIR || d->v[out - 1].type == DT_UNKNOWN)
                d->v[out - 1].type = d->v[i].type;
            free(d->v[i].name);
            continue;
        }
        d->v[out++] = d->v[i];
    }
    d->n = out;
}

static pthread_mutex_t lists_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dirlist *lists;

static void lists_add(struct dirlist *d)
{
    pthread_mutex_lock(&lists_lock);
    d->prev = NULL;
    d->next = lists;
    if (lists)
        lists->prev = d;
    lists = d;
    pthread_mutex_unlock(&lists_lock);
}

static void free_list(struct dirlist *d)
{
    pthread_mutex_lock(&lists_lock);
    if (d->prev || lists == d) {
        if (d->prev)
            d->prev->next = d->next;
        else
            lists = d->next;
        if (d->next)
            d->next->prev = d->prev;
    }
    pthread_mutex_unlock(&lists_lock);
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    free(d);
}

static void add_between(const char *name, int is_dir, void *arg)
{
    add(arg, name, strlen(name), is_dir ? DT_DIR : DT_REG);
}

static void add_managed(const char *name, size_t len, void *arg)
{
    add(arg, name, len, DT_UNKNOWN);
}

/* The manager's own entries for `path` (m serves it): 0 or an errno. */
static int read_manager_dir(const struct pm_ps_match *m, const struct pmx_caller *c,
                            const char *path, struct dirlist *d)
{
    int coid = pmx_connect(m, c, path, pm_open_ioflag(O_RDONLY), 0);
    if (coid < 0)
        return -coid;
    char *buf = malloc(PMX_DIR_CHUNK);
    int e = buf ? 0 : ENOMEM;
    size_t total = 0;
    while (!e) {
        ssize_t r = pm_read(coid, buf, PMX_DIR_CHUNK);
        if (r < 0 && total == 0 && (errno == EISDIR || errno == ENOSYS || errno == ENOTDIR)) {
            /* A manager that does not list its directory (many serve
             * names they know without listing them): nothing to show but
             * what is attached below; its names are still reachable. */
            break;
        }
        if (r < 0) {
            e = pmx_err(errno);
            break;
        }
        if (r == 0)
            break;
        total += (size_t)r;
        if (total > PMX_DIR_BYTES || pmx_dirents_parse(buf, (size_t)r, add_managed, d) < 0) {
            pmx_log("%s: the manager (pid %d) sent a malformed or endless directory",
                    path, (int)m->pid);
            e = EIO;
        }
        if (d->overflow)
            break;  /* as many names as we keep: the rest are not listed */
    }
    free(buf);
    pmx_disconnect(coid);
    return e;
}

void pmx_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pmx_op_begin();
    struct pmx_caller c;
    pmx_caller_of(req, &c);
    char path[PATH_MAX];
    struct pmx_where w;
    struct dirlist *d = calloc(1, sizeof *d);
    int e = d ? pmx_node_path(ino, path) : ENOMEM;
    if (!e)
        e = pmx_act_as(&c);
    if (!e) {
        e = pmx_locate(path, &w);
        if (!e) {
            /* Names attached below, as this caller may reach them. */
            int n = pmx_between_children(path, add_between, d);
            if (n < 0)
                e = -n;
        }
        pmx_act_as_self();
    }
    if (!e && w.kind == PMX_MANAGED) {
        e = read_manager_dir(&w.m, &c, path, d);
    } else if (!e && w.covered) {
        /* A directory manager above may know this directory too; if it
         * does not, the names attached below are the listing. */
        e = read_manager_dir(&w.m, &c, path, d);
        if (e == ENOENT || e == ENOTDIR)
            e = 0;
    }
    if (!e && d->nomem)
        e = ENOMEM;
    if (!e)
        settle(d);
    if (e) {
        if (d)
            free_list(d);
        fuse_reply_err(req, e);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    lists_add(d);
    if (fuse_reply_open(req, fi) != 0)
        free_list(d);
}

static uint64_t name_ino(const char *name)
{
    /* d_ino only needs to be non-zero (some programs skip 0) and steady. */
    uint64_t h = 1469598103934665603ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return h | 1;
}

void pmx_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct dirlist *d = (struct dirlist *)(uintptr_t)fi->fh;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    /* Offsets: 0 ".", 1 "..", 2 + i the i-th name; each entry carries the
     * offset of the next. */
    for (off_t i = off < 0 ? 0 : off; (size_t)i < d->n + 2; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        const char *name;
        if (i == 0) {
            name = ".";
            st.st_ino = ino;
            st.st_mode = S_IFDIR;
        } else if (i == 1) {
            name = "..";
            st.st_ino = 1;
            st.st_mode = S_IFDIR;
        } else {
            const struct dent *e = &d->v[i - 2];
            name = e->name;
            st.st_ino = name_ino(name);
            st.st_mode = e->type == DT_DIR ? S_IFDIR : e->type == DT_REG ? S_IFREG : 0;
        }
        size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

void pmx_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    free_list((struct dirlist *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

void pmx_dirs_free_all(void)
{
    while (lists)
        free_list(lists);
}
