/*
 * The path-space trust policy: root's file saying which other users' attaches
 * clients may believe, and for which paths (policy.h; the format is in
 * peermap-pathspace.conf(5)):
 *
 *   # comment
 *   allow_attach WHO PATH...        WHO: user name, numeric uid, @group
 *   limit paths_per_user N
 *   limit entries_per_path N
 *
 * Everything here fails closed: a file that is not provably root's is
 * ignored, a line that cannot be read is ignored (and reported in `why`), an
 * unknown user grants nothing.  Nothing ever widens trust beyond root, the
 * client itself, and what root wrote.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust/policy.h"

#define POLICY_FILE_MAX (1u << 20)   /* larger than any sane policy */

/* ---- parsing ------------------------------------------------------- */

static void why(struct pm_policy *p, const char *fmt, ...)
{
    if (p->why[0])
        return;     /* the first problem is the one to fix first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
}

/* The path space's normal form (no ".", "..", repeated or trailing
 * slashes), so that rules compare with resolved paths byte for byte.
 * Length, or 0 when the path is not acceptable. */
static size_t normalise(const char *in, char out[PATH_MAX])
{
    size_t o = 0;
    if (in[0] != '/')
        return 0;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (o + 1 + n >= PATH_MAX)
            return 0;
        out[o++] = '/';
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    if (!o)
        out[o++] = '/';
    out[o] = 0;
    return o;
}

static long bufsize(int name)
{
    long n = sysconf(name);
    return n > 0 ? n : 16384;
}

/* uid of user `name`: 0 (found) or -1. */
static int user_uid(const char *name, uid_t *uid)
{
    long size = bufsize(_SC_GETPW_R_SIZE_MAX);
    for (int tries = 0; tries < 8; tries++, size *= 4) {
        struct passwd pw, *res = NULL;
        char *buf = malloc((size_t)size);
        if (!buf)
            return -1;
        int rc = getpwnam_r(name, &pw, buf, (size_t)size, &res);
        if (res)
            *uid = pw.pw_uid;
        free(buf);
        if (rc != ERANGE)
            return res ? 0 : -1;
    }
    return -1;
}

static int add_uid(uid_t **v, size_t *n, size_t *cap, uid_t uid)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        uid_t *b = realloc(*v, c * sizeof *b);
        if (!b)
            return -1;
        *v = b;
        *cap = c;
    }
    (*v)[(*n)++] = uid;
    return 0;
}

/* The members of group `name` (or numeric gid) as the group database lists
 * them (getgrnam_r's member list).  0 with *out malloc'd (maybe empty),
 * 1 unknown group, -1 ENOMEM. */
static int group_uids(const char *name, uid_t **out, size_t *n)
{
    long size = bufsize(_SC_GETGR_R_SIZE_MAX);
    size_t cap = 0;
    int numeric = name[0] != 0 && strspn(name, "0123456789") == strlen(name);
    *out = NULL;
    *n = 0;
    for (int tries = 0; tries < 8; tries++, size *= 4) {
        struct group gr, *res = NULL;
        char *buf = malloc((size_t)size);
        if (!buf)
            return -1;
        int rc = numeric ? getgrgid_r((gid_t)strtoul(name, NULL, 10), &gr, buf,
                                      (size_t)size, &res)
                         : getgrnam_r(name, &gr, buf, (size_t)size, &res);
        if (rc == ERANGE) {
            free(buf);
            continue;
        }
        if (!res) {
            free(buf);
            return 1;
        }
        for (char **m = gr.gr_mem; m && *m; m++) {
            uid_t uid;
            if (user_uid(*m, &uid) == 0 && add_uid(out, n, &cap, uid) < 0) {
                free(buf);
                return -1;
            }
        }
        free(buf);
        return 0;
    }
    return 1;
}

/* A WHO token: the uids it names.  0, 1 (names no one: line ignored), -1. */
static int who_uids(const char *who, uid_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (who[0] == '@')
        return who[1] ? group_uids(who + 1, out, n) : 1;
    uid_t uid;
    if (strspn(who, "0123456789") == strlen(who)) {
        errno = 0;
        unsigned long long v = strtoull(who, NULL, 10);
        if (errno || v >= (uid_t)-1)
            return 1;
        uid = (uid_t)v;
    } else if (user_uid(who, &uid) < 0) {
        return 1;
    }
    *out = malloc(sizeof **out);
    if (!*out)
        return -1;
    **out = uid;
    *n = 1;
    return 0;
}

static int add_rule(struct pm_policy *p, size_t *cap, uid_t uid, const char *prefix, size_t len)
{
    if (p->nrules == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        struct pm_policy_rule *b = realloc(p->rules, c * sizeof *b);
        if (!b)
            return -1;
        p->rules = b;
        *cap = c;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, prefix, len + 1);
    p->rules[p->nrules++] = (struct pm_policy_rule){ uid, len, copy };
    return 0;
}

static int cmp_uid(const void *a, const void *b)
{
    uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;
    return x < y ? -1 : x > y;
}

#define MAX_TOKENS 64

/* Split a line (modified) into tokens.  The count; more than MAX_TOKENS is
 * reported as MAX_TOKENS + 1. */
static int tokens(char *line, char *tok[MAX_TOKENS])
{
    int n = 0;
    for (char *s = line;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == MAX_TOKENS)
            return MAX_TOKENS + 1;
        tok[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r')
            s++;
        if (*s)
            *s++ = 0;
    }
}

static int parse_line(struct pm_policy *p, size_t *cap, char *line, unsigned lineno)
{
    char *tok[MAX_TOKENS];
    int n = tokens(line, tok);
    if (n == 0)
        return 0;
    if (n > MAX_TOKENS) {
        why(p, "line %u: more than %d words (ignored)", lineno, MAX_TOKENS);
        return 0;
    }
    if (strcmp(tok[0], "limit") == 0) {
        unsigned *what = NULL;
        if (n == 3 && strcmp(tok[1], "paths_per_user") == 0)
            what = &p->paths_per_user;
        else if (n == 3 && strcmp(tok[1], "entries_per_path") == 0)
            what = &p->entries_per_path;
        char *end;
        errno = 0;
        unsigned long v = what ? strtoul(tok[2], &end, 10) : 0;
        if (!what || errno || *end || tok[2][0] == '-' || v < 1 || v > PM_POLICY_LIMIT_MAX) {
            why(p, "line %u: expected \"limit paths_per_user|entries_per_path N\" with "
                "1 <= N <= %u (ignored)", lineno, PM_POLICY_LIMIT_MAX);
            return 0;
        }
        *what = (unsigned)v;
        return 0;
    }
    if (strcmp(tok[0], "allow_attach") != 0) {
        why(p, "line %u: unknown directive \"%.40s\" (ignored)", lineno, tok[0]);
        return 0;
    }
    if (n < 3) {
        why(p, "line %u: expected \"allow_attach WHO PATH...\" (ignored)", lineno);
        return 0;
    }
    /* Every path must be good, or the line grants nothing: half a line is
     * not what root meant. */
    char (*norm)[PATH_MAX] = malloc((size_t)(n - 2) * sizeof *norm);
    size_t *len = malloc((size_t)(n - 2) * sizeof *len);
    if (!norm || !len) {
        free(norm);
        free(len);
        return -1;
    }
    for (int i = 2; i < n; i++) {
        len[i - 2] = normalise(tok[i], norm[i - 2]);
        if (!len[i - 2]) {
            why(p, "line %u: \"%.60s\" is not an absolute path without \".\" or \"..\" "
                "(line ignored)", lineno, tok[i]);
            free(norm);
            free(len);
            return 0;
        }
    }
    uid_t *uids;
    size_t nu;
    int rc = who_uids(tok[1], &uids, &nu);
    if (rc < 0) {
        free(norm);
        free(len);
        return -1;
    }
    if (rc > 0)
        why(p, "line %u: no such user or group \"%.40s\" (ignored)", lineno, tok[1]);
    for (size_t u = 0; rc == 0 && u < nu; u++) {
        if (uids[u] == 0)
            continue;   /* root is trusted anyway */
        for (int i = 0; i < n - 2; i++)
            if (add_rule(p, cap, uids[u], norm[i], len[i]) < 0) {
                rc = -1;
                break;
            }
    }
    free(uids);
    free(norm);
    free(len);
    return rc < 0 ? -1 : 0;
}

void pm_policy_clear(struct pm_policy *p)
{
    for (size_t i = 0; i < p->nrules; i++)
        free(p->rules[i].prefix);
    free(p->rules);
    free(p->users);
    p->rules = NULL;
    p->users = NULL;
    p->nrules = p->nusers = 0;
}

int pm_policy_parse(const char *buf, size_t len, struct pm_policy *p)
{
    size_t cap = 0;
    unsigned lineno = 0;
    p->paths_per_user = PM_POLICY_PATHS_PER_USER;
    p->entries_per_path = PM_POLICY_ENTRIES_PER_PATH;
    char *line = malloc(len + 1);
    if (!line)
        goto nomem;
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && buf[i + n] != '\n')
            n++;
        lineno++;
        memcpy(line, buf + i, n);
        line[n] = 0;
        i += n + 1;
        if (strlen(line) != n) {
            why(p, "line %u: holds a NUL byte (ignored)", lineno);
            continue;
        }
        if (parse_line(p, &cap, line, lineno) < 0)
            goto nomem;
    }
    free(line);
    line = NULL;
    /* The distinct users, for whoever must visit each one's entries. */
    if (p->nrules) {
        p->users = malloc(p->nrules * sizeof *p->users);
        if (!p->users)
            goto nomem;
        for (size_t i = 0; i < p->nrules; i++)
            p->users[i] = p->rules[i].uid;
        qsort(p->users, p->nrules, sizeof *p->users, cmp_uid);
        size_t k = 0;
        for (size_t i = 0; i < p->nrules; i++)
            if (!k || p->users[k - 1] != p->users[i])
                p->users[k++] = p->users[i];
        p->nusers = k;
    }
    return 0;
nomem:
    free(line);
    pm_policy_clear(p);
    errno = ENOMEM;
    return -1;
}

int pm_policy_trusts(const struct pm_policy *p, uid_t client, uid_t owner,
                     const char *path, size_t len, size_t *root_len)
{
    if (owner == 0 || owner == client) {
        *root_len = 0;
        return 1;
    }
    int found = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        const struct pm_policy_rule *r = &p->rules[i];
        if (r->uid == owner && pm_path_within(r->prefix, r->len, path, len) &&
            (!found || r->len < *root_len)) {
            *root_len = r->len;
            found = 1;
        }
    }
    return found;
}

/* ---- the file and its cache ---------------------------------------- */

/* What the file looked like when it was read: a change of any of these
 * means "read it again".  The directory is included so that a chmod/chown
 * of it (or a rename into it) is noticed too. */
struct key {
    char path[PATH_MAX];
    int present, dpresent;
    struct stat st, dst;
};

struct held {
    struct pm_policy p;       /* first: pm_policy_put() casts back */
    int refs;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct held *cur;
static struct key cur_key;

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }
static void fork_child(void) { pthread_mutex_unlock(&lock); }
static void init_once(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void make_key(const char *path, struct key *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->path, sizeof k->path, "%s", path);
    k->present = stat(path, &k->st) == 0;
    if (!k->present)
        return;     /* no file: nothing of its directory matters */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    else
        strcpy(dir, "/");
    k->dpresent = stat(dir, &k->dst) == 0;
}

static int same_key(const struct key *a, const struct key *b)
{
    return strcmp(a->path, b->path) == 0 && a->present == b->present &&
           a->dpresent == b->dpresent && (!a->present || same_stat(&a->st, &b->st)) &&
           (!a->dpresent || same_stat(&a->dst, &b->dst));
}

static void load(const char *path, struct pm_policy *p)
{
    struct pm_safe_dir s;
    snprintf(p->file, sizeof p->file, "%s", path);
    p->paths_per_user = PM_POLICY_PATHS_PER_USER;
    p->entries_per_path = PM_POLICY_ENTRIES_PER_PATH;
    int fd = pm_safe_root_file_open(path, &s);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            p->state = PM_POLICY_NONE;
        } else {
            p->state = PM_POLICY_REFUSED;
            if (errno == EPERM && s.bad[0])
                why(p, "%s is owned by uid %u with mode %#o: the policy must be root's and "
                    "writable by root only, as every directory above it", s.bad,
                    (unsigned)s.bad_uid, (unsigned)(s.bad_mode & 07777));
            else
                why(p, "cannot read %s: %s", path, strerror(errno));
        }
        return;
    }
    char *buf = malloc(POLICY_FILE_MAX + 1);
    size_t len = 0;
    if (!buf) {
        close(fd);
        p->state = PM_POLICY_REFUSED;
        why(p, "out of memory reading %s", path);
        return;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, POLICY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len > POLICY_FILE_MAX)
            break;
    }
    close(fd);
    if (len > POLICY_FILE_MAX) {
        p->state = PM_POLICY_REFUSED;
        why(p, "%s is larger than %u bytes", path, POLICY_FILE_MAX);
    } else if (pm_policy_parse(buf, len, p) < 0) {
        p->state = PM_POLICY_REFUSED;
        why(p, "out of memory reading %s", path);
    } else {
        p->state = PM_POLICY_LOADED;
    }
    free(buf);
}

static struct held fallback = {
    .p = { .state = PM_POLICY_REFUSED, .paths_per_user = PM_POLICY_PATHS_PER_USER,
           .entries_per_path = PM_POLICY_ENTRIES_PER_PATH, .why = "out of memory" },
    .refs = 1,
};

const struct pm_policy *pm_policy_get(void)
{
    const char *env = secure_getenv("PEERMAP_PATHSPACE_POLICY");
    const char *path = env && *env ? env : PM_POLICY_PATH;
    struct key *k = malloc(sizeof *k);
    if (!k)
        return &fallback.p;
    make_key(path, k);
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    if (!cur || !same_key(&cur_key, k)) {
        struct held *h = calloc(1, sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&lock);
            free(k);
            return &fallback.p;
        }
        load(path, &h->p);
        h->refs = 1;                      /* the cache's own reference */
        if (cur && --cur->refs == 0) {
            pm_policy_clear(&cur->p);
            free(cur);
        }
        cur = h;
        cur_key = *k;
    }
    cur->refs++;
    struct held *h = cur;
    pthread_mutex_unlock(&lock);
    free(k);
    return &h->p;
}

void pm_policy_put(const struct pm_policy *p)
{
    struct held *h = (struct held *)p;
    if (!p || h == &fallback)
        return;
    pthread_mutex_lock(&lock);
    int last = --h->refs == 0;
    pthread_mutex_unlock(&lock);
    if (last) {
        pm_policy_clear(&h->p);
        free(h);
    }
}
