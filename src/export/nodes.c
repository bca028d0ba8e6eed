/*
 * Inode numbers for paths.
 *
 * The kernel names a file by the number we gave it at lookup and keeps it
 * until it forgets every lookup.  A node is just a path: what the path is
 * (a directory in between, a manager's file) is asked again on every
 * operation, because managers come and go; the number stays the same for
 * the path while the kernel remembers it.  Numbers are never reused (a
 * 64-bit counter), so a stale one is ESTALE, never another file.  The root
 * directory is FUSE_ROOT_ID and is never forgotten.
 *
 * The table is bounded by what the kernel holds (its dentry cache); a lock
 * guards it, held only for the table operation itself.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"

struct node {
    fuse_ino_t ino;
    uint64_t nlookup;
    struct node *next_path, *next_ino;
    char path[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node **by_path, **by_ino;
static size_t nbuckets, nnodes;
static fuse_ino_t next_ino = FUSE_ROOT_ID + 1;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_ino(fuse_ino_t ino)
{
    return (uint64_t)ino * 0x9e3779b97f4a7c15ull;
}

/* Double the tables when they fill (lock held); on ENOMEM keep the old. */
static void grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 256;
    struct node **p = calloc(n, sizeof *p), **i = calloc(n, sizeof *i);
    if (!p || !i) {
        free(p);
        free(i);
        return;
    }
    for (size_t b = 0; b < nbuckets; b++) {
        for (struct node *x = by_path[b], *next; x; x = next) {
            next = x->next_path;
            size_t h = hash_str(x->path) % n;
            x->next_path = p[h];
            p[h] = x;
        }
        for (struct node *x = by_ino[b], *next; x; x = next) {
            next = x->next_ino;
            size_t h = hash_ino(x->ino) % n;
            x->next_ino = i[h];
            i[h] = x;
        }
    }
    free(by_path);
    free(by_ino);
    by_path = p;
    by_ino = i;
    nbuckets = n;
}

fuse_ino_t pmx_node_ref(const char *path)
{
    if (strcmp(path, "/") == 0)
        return FUSE_ROOT_ID;
    pthread_mutex_lock(&lock);
    if (nnodes >= nbuckets)
        grow();
    fuse_ino_t ino = 0;
    if (!nbuckets)
        goto out;
    size_t h = hash_str(path) % nbuckets;
    for (struct node *x = by_path[h]; x; x = x->next_path)
        if (strcmp(x->path, path) == 0) {
            x->nlookup++;
            ino = x->ino;
            goto out;
        }
    size_t len = strlen(path);
    struct node *x = malloc(sizeof *x + len + 1);
    if (!x)
        goto out;
    memcpy(x->path, path, len + 1);
    x->ino = next_ino++;
    x->nlookup = 1;
    x->next_path = by_path[h];
    by_path[h] = x;
    size_t hi = hash_ino(x->ino) % nbuckets;
    x->next_ino = by_ino[hi];
    by_ino[hi] = x;
    nnodes++;
    ino = x->ino;
out:
    pthread_mutex_unlock(&lock);
    return ino;
}

int pmx_node_path(fuse_ino_t ino, char *buf)
{
    if (ino == FUSE_ROOT_ID) {
        strcpy(buf, "/");
        return 0;
    }
    int err = ESTALE;
    pthread_mutex_lock(&lock);
    if (nbuckets)
        for (struct node *x = by_ino[hash_ino(ino) % nbuckets]; x; x = x->next_ino)
            if (x->ino == ino) {
                strcpy(buf, x->path);  /* shorter than PATH_MAX: pmx_path_join */
                err = 0;
                break;
            }
    pthread_mutex_unlock(&lock);
    return err;
}

void pmx_node_forget(fuse_ino_t ino, uint64_t n)
{
    if (ino == FUSE_ROOT_ID)
        return;
    pthread_mutex_lock(&lock);
    if (!nbuckets)
        goto out;
    struct node **pi = &by_ino[hash_ino(ino) % nbuckets];
    for (; *pi; pi = &(*pi)->next_ino)
        if ((*pi)->ino == ino)
            break;
    struct node *x = *pi;
    if (!x)
        goto out;
    x->nlookup = n >= x->nlookup ? 0 : x->nlookup - n;
    if (x->nlookup)
        goto out;
    *pi = x->next_ino;
    struct node **pp = &by_path[hash_str(x->path) % nbuckets];
    while (*pp != x)
        pp = &(*pp)->next_path;
    *pp = x->next_path;
    nnodes--;
    free(x);
out:
    pthread_mutex_unlock(&lock);
}

int pmx_path_join(const char *parent, const char *name, char *buf)
{
    if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return EINVAL;
    size_t pl = strlen(parent), nl = strlen(name);
    int root = pl == 1 && parent[0] == '/';
    if ((root ? 1 : pl + 1) + nl + 1 > PATH_MAX)
        return ENAMETOOLONG;
    if (root) {
        buf[0] = '/';
        memcpy(buf + 1, name, nl + 1);
    } else {
        memcpy(buf, parent, pl);
        buf[pl] = '/';
        memcpy(buf + pl + 1, name, nl + 1);
    }
    return 0;
}

void pmx_nodes_free(void)
{
    pthread_mutex_lock(&lock);
    for (size_t b = 0; b < nbuckets; b++)
        for (struct node *x = by_path[b], *next; x; x = next) {
            next = x->next_path;
            free(x);
        }
    free(by_path);
    free(by_ino);
    by_path = by_ino = NULL;
    nbuckets = nnodes = 0;
    pthread_mutex_unlock(&lock);
}
