/*
 * What a path is in the path space, as the caller sees it.
 *
 * The exported tree is made of what is attached (pm_pathspace_list()):
 *   - an attached path is its manager's file, or its directory when the
 *     manager attached it as a directory manager (PM_PS_DIR);
 *   - a path below a directory manager is whatever that manager says (it
 *     is asked with an open, by the caller of ops_*.c);
 *   - a path with attached paths below it is a directory "in between";
 *     when a directory manager serves it too, its listing joins in.
 * A path that is both attached by a file manager and has paths attached
 * below it is a directory (a file cannot have children); that manager is
 * then out of reach through the export.
 *
 * Every question is asked of the path space as the caller (pmx_act_as()
 * is in force), so an entry the caller may not reach is as absent, or
 * EACCES when it is the best match, exactly as for pm_open().
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"

struct below {
    const char *path;
    size_t len;
    int found;
};

static int is_below(const char *entry, const char *path, size_t len)
{
    if (len == 1) /* "/" */
        return entry[0] == '/' && entry[1] != '\0';
    return strncmp(entry, path, len) == 0 && entry[len] == '/';
}

static void find_below(const struct pm_ps_match *m, void *arg)
{
    struct below *b = arg;
    if (!b->found && is_below(m->path, b->path, b->len))
        b->found = 1;
}

int pmx_locate(const char *path, struct pmx_where *w)
{
    memset(w, 0, sizeof *w);
    int r = pm_pathspace_resolve(path, &w->m);
    int rerr = r < 0 ? errno : 0;
    if (r == 0 && w->m.rest[0] == '\0' && !(w->m.flags & PM_PS_DIR)) {
        /* A file manager attached here, unless paths lie below it. */
        struct below b = { path, strlen(path), 0 };
        if (pm_pathspace_list(find_below, &b) < 0)
            return errno ? errno : EIO;
        if (!b.found) {
            w->kind = PMX_MANAGED;
            return 0;
        }
        w->kind = PMX_BETWEEN;
        return 0;
    }
    if (r == 0 && w->m.rest[0] == '\0') {
        w->kind = PMX_MANAGED;
        w->dir = 1;
        return 0;
    }
    if (strcmp(path, "/") == 0) {
        /* The root is always there, served or not. */
        w->kind = PMX_BETWEEN;
        w->covered = r == 0;
        return 0;
    }
    struct below b = { path, strlen(path), 0 };
    if (pm_pathspace_list(find_below, &b) < 0)
        return errno ? errno : EIO;
    if (b.found) {
        w->kind = PMX_BETWEEN;
        w->covered = r == 0;
        return 0;
    }
    if (r == 0) {
        w->kind = PMX_MANAGED;  /* below a directory manager: it decides */
        return 0;
    }
    return rerr == EACCES ? EACCES : rerr == ENAMETOOLONG ? ENAMETOOLONG : ENOENT;
}

struct child {
    char *name;
    int is_dir;
};

struct children {
    const char *path;
    size_t len;
    struct child *v;
    size_t n, cap;
    int failed;
};

static void collect(const struct pm_ps_match *m, void *arg)
{
    struct children *c = arg;
    if (c->failed || !is_below(m->path, c->path, c->len))
        return;
    const char *name = m->path + (c->len == 1 ? 1 : c->len + 1);
    const char *slash = strchr(name, '/');
    size_t nl = slash ? (size_t)(slash - name) : strlen(name);
    if (nl == 0 || nl > NAME_MAX)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct child *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->failed = 1;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    char *copy = strndup(name, nl);
    if (!copy) {
        c->failed = 1;
        return;
    }
    c->v[c->n++] = (struct child){ copy, slash != NULL || (m->flags & PM_PS_DIR) };
}

static int child_cmp(const void *a, const void *b)
{
    return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

int pmx_between_children(const char *path, void (*cb)(const char *name, int is_dir, void *arg),
                         void *arg)
{
    struct children c = { .path = path, .len = strlen(path) };
    int err = pm_pathspace_list(collect, &c) < 0 ? -(errno ? errno : EIO) : 0;
    if (!err && c.failed)
        err = -ENOMEM;
    if (c.n)
        qsort(c.v, c.n, sizeof *c.v, child_cmp);
    int count = 0;
    for (size_t i = 0; i < c.n; i++) {
        /* One name per child: a directory if any entry makes it one. */
        size_t j = i;
        int is_dir = c.v[i].is_dir;
        while (j + 1 < c.n && strcmp(c.v[j + 1].name, c.v[i].name) == 0)
            is_dir |= c.v[++j].is_dir;
        if (!err) {
            cb(c.v[i].name, is_dir, arg);
            count++;
        }
        for (size_t k = i; k <= j; k++)
            free(c.v[k].name);
        i = j;
    }
    free(c.v);
    return err ? err : count;
}
