/*
 * procmgr_ability(): QNX's per-process abilities, kept in this process's
 * memory.  The kernel's ptrace check stays the real boundary for mmap_peer();
 * this table is the QNX policy layer on top of it, so it may only ever narrow
 * what the kernel would allow.  See procmgr_ability(3).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "sys/procmgr.h"
#include "common/internal.h"
#include "peer/ability.h"

/* QNX's headers define EOK; glibc's do not, and it must stay local to this
 * file so that it cannot clash with a definition in a user's program. */
#ifndef EOK
#define EOK 0
#endif

enum { DOM_ROOT, DOM_NONROOT, NDOMAINS };

struct known_ability {
    unsigned id;
    const char *env_name;   /* its name in PEERMAP_ABILITIES */
    const char *macro;      /* its name in messages, as the porter wrote it */
};

static const struct known_ability known[] = {
    { PROCMGR_AID_MEM_PEER,            "mem_peer",            "PROCMGR_AID_MEM_PEER" },
    { PROCMGR_AID_PROT_EXEC,           "prot_exec",           "PROCMGR_AID_PROT_EXEC" },
    { PROCMGR_AID_PROT_WRITE_AND_EXEC, "prot_write_and_exec", "PROCMGR_AID_PROT_WRITE_AND_EXEC" },
};
#define NKNOWN (sizeof known / sizeof known[0])

struct domain_state {
    bool allowed;
    bool locked;
    bool inherit;
};

struct ability_table {
    struct domain_state dom[NKNOWN][NDOMAINS];
};

static struct ability_table table;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
/* What pm_ability_check() reads: one bit per (ability, domain) that is
 * allowed, published whole after every change of the table.  mmap_peer()
 * consults it and may run in a signal handler, which must not wait for
 * table_lock (the code it interrupted may hold it). */
static atomic_uint allowed_bits;
static atomic_int table_ready; /* table_init() has run: no pthread_once() on the way */
/* Without the fork handler INHERIT_NO could not be kept, so it is refused
 * rather than silently ignored (a child would keep what it should lose). */
static bool fork_handler_ok;

/* Every ability peermap knows is "privileged" on QNX: root holds it, a
 * non-root process does not, until someone decides otherwise. */
static struct domain_state default_state(int domain)
{
    return (struct domain_state){ .allowed = domain == DOM_ROOT, .locked = false,
                                  .inherit = true };
}

static int find_known(unsigned id)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (known[i].id == id)
            return (int)i;
    return -1;
}

static unsigned allowed_bit(size_t i, int domain)
{
    return 1u << (i * NDOMAINS + (size_t)domain);
}

/* table_lock held, or the table not yet shared (init, fork child). */
static void publish(void)
{
    unsigned bits = 0;
    for (size_t i = 0; i < NKNOWN; i++)
        for (int d = 0; d < NDOMAINS; d++)
            if (table.dom[i][d].allowed)
                bits |= allowed_bit(i, d);
    atomic_store(&allowed_bits, bits);
}

static const char *domain_name(int domain)
{
    return domain == DOM_ROOT ? "root" : "non-root";
}

/* fork() copies the table as it is; only the domains their owner marked
 * INHERIT_NO fall back to the QNX default in the child.  The lock is held
 * across fork() so that the child never copies a half-applied call. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&table_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&table_lock);
}

static void fork_child(void)
{
    for (size_t i = 0; i < NKNOWN; i++)
        for (int d = 0; d < NDOMAINS; d++)
            if (!table.dom[i][d].inherit)
                table.dom[i][d] = default_state(d);
    publish();
    pthread_mutex_unlock(&table_lock);
}

/* Why PEERMAP_ABILITIES granted nothing ("" when it was used or unset);
 * written once, by table_init(), before anyone can read it. */
static char env_problem[200];

/* Calls fn(i, arg) for each known ability the list names; returns 0, or
 * -1 after describing (in env_problem) the first name it does not know. */
static int walk_env_list(const char *list, void (*fn)(size_t i))
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *start = p, *end = p + len;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t n = (size_t)(end - start), i;
        for (i = 0; n && i < NKNOWN; i++)
            if (n == strlen(known[i].env_name) && strncasecmp(start, known[i].env_name, n) == 0)
                break;
        if (n && i == NKNOWN) {
            int at = snprintf(env_problem, sizeof env_problem,
                              "PEERMAP_ABILITIES names '%.*s', which is not an ability "
                              "(known:", (int)(n > 40 ? 40 : n), start);
            for (size_t k = 0; k < NKNOWN && at > 0 && (size_t)at < sizeof env_problem; k++)
                at += snprintf(env_problem + at, sizeof env_problem - (size_t)at, "%s %s",
                               k ? "," : "", known[k].env_name);
            if (at > 0 && (size_t)at < sizeof env_problem)
                snprintf(env_problem + at, sizeof env_problem - (size_t)at, ")");
            return -1;
        }
        if (n && fn)
            fn(i);
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void grant_nonroot(size_t i)
{
    table.dom[i][DOM_NONROOT].allowed = true;
}

/*
 * PEERMAP_ABILITIES stands in for what a QNX parent does before spawning a
 * non-root child: abilities live in this process's memory, so exec() wipes
 * them and the environment is the one thing that survives it.
 *
 * A name peermap does not know (a typo: "memPeer") makes the whole variable
 * grant nothing, rather than the names around it: a policy is applied as
 * written or not at all.  A library has no one to tell at start-up, so the
 * reason waits in env_problem and goes with every refusal it causes
 * (pm_ability_fail()), and peermap(1) checks the variable before anything.
 */
static void grant_from_environment(void)
{
    /* A set-user-ID program must not let its invoker widen its policy. */
    const char *list = secure_getenv("PEERMAP_ABILITIES");
    if (!list || walk_env_list(list, NULL) < 0)
        return;
    walk_env_list(list, grant_nonroot);
}

static void table_init(void)
{
    /* Whichever call happens to come first must not leave errno changed. */
    int saved_errno = errno;

    for (size_t i = 0; i < NKNOWN; i++)
        for (int d = 0; d < NDOMAINS; d++)
            table.dom[i][d] = default_state(d);
    grant_from_environment();
    publish();
    fork_handler_ok = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
    atomic_store(&table_ready, 1);
    errno = saved_errno;
}

static void ensure_init(void)
{
    if (!atomic_load(&table_ready))
        pthread_once(&table_once, table_init);
}

/* At load: the first pm_ability_check() may come from a signal handler,
 * which must find the table ready (the initialisation reads the
 * environment and installs a fork handler, neither of which a handler may
 * do). */
__attribute__((constructor)) static void ability_at_load(void)
{
    ensure_init();
}

int pm_ability_check(unsigned aid)
{
    int idx = find_known(aid);
    int domain = geteuid() == 0 ? DOM_ROOT : DOM_NONROOT;
    bool allowed;

    if (idx < 0)
        return EPERM;   /* an ability nobody can name is one nobody holds */
    ensure_init();      /* done at load: then one atomic load */
    allowed = atomic_load(&allowed_bits) & allowed_bit((size_t)idx, domain);
    /* No reason recorded here: the caller knows which operation needed it. */
    return allowed ? 0 : EPERM;
}

const char *pm_ability_env_problem(void)
{
    ensure_init();
    return env_problem[0] ? env_problem : NULL;
}

int pm_ability_fail(unsigned aid, const char *what)
{
    int idx = find_known(aid);
    const char *macro = idx < 0 ? "?" : known[idx].macro;
    const char *env = pm_ability_env_problem();

    if (geteuid() == 0)
        return pm_fail(EPERM, "%s needs ability %s, which this process's root domain "
                       "no longer holds (see procmgr_ability(3))", what, macro);
    return pm_fail(EPERM, "%s needs ability %s (non-root processes lack it by default; "
                   "see procmgr_ability(3))%s%s", what, macro, env ? "; " : "",
                   env ? env : "");
}

/* One argument of the list, taken apart. */
struct entry {
    unsigned aid;
    int idx;           /* into known[], or -1 for PROCMGR_AID_EOL */
    unsigned ops;
    unsigned domains;  /* bit 1 << DOM_* */
};

#define CHANGING_OPS (PROCMGR_AOP_DENY | PROCMGR_AOP_ALLOW | PROCMGR_AOP_LOCK | \
                      PROCMGR_AOP_INHERIT_YES | PROCMGR_AOP_INHERIT_NO)
#define KNOWN_OPS    (CHANGING_OPS | PROCMGR_AOP_SUBRANGE)

/* Decode argument number n (1 = the named `ability` parameter).  The caller
 * reads the argument so that both passes walk the list the same way. */
static int decode(unsigned arg, unsigned n, struct entry *e)
{
    e->aid = arg & PROCMGR_AID_MASK;
    e->ops = arg & PROCMGR_AOP_MASK;
    e->domains = 0;
    if (!(arg & PROCMGR_ADN_NONROOT) || (arg & PROCMGR_ADN_ROOT))
        e->domains |= 1u << DOM_ROOT;
    if (!(arg & PROCMGR_ADN_ROOT) || (arg & PROCMGR_ADN_NONROOT))
        e->domains |= 1u << DOM_NONROOT;

    if (arg & ~(PROCMGR_AID_MASK | PROCMGR_AOP_MASK | PROCMGR_ADN_MASK)) {
        pm_fail(0, "procmgr_ability: entry %u (%#x) has bits outside the id, "
                "operation and domain fields", n, arg);
        return EINVAL;
    }
    if (e->ops & ~KNOWN_OPS) {
        pm_fail(0, "procmgr_ability: entry %u (%#x) has an unknown operation", n, arg);
        return EINVAL;
    }
    if ((e->ops & PROCMGR_AOP_DENY) && (e->ops & PROCMGR_AOP_ALLOW)) {
        pm_fail(0, "procmgr_ability: entry %u both denies and allows", n);
        return EINVAL;
    }
    if ((e->ops & PROCMGR_AOP_INHERIT_YES) && (e->ops & PROCMGR_AOP_INHERIT_NO)) {
        pm_fail(0, "procmgr_ability: entry %u asks for INHERIT_YES and INHERIT_NO", n);
        return EINVAL;
    }
    if (e->aid == PROCMGR_AID_EOL) {
        e->idx = -1;
        /* A range for "every other ability" would mean nothing, and we could
         * not even tell whether the caller passed its two bounds. */
        if (e->ops & PROCMGR_AOP_SUBRANGE) {
            pm_fail(0, "procmgr_ability: PROCMGR_AID_EOL cannot take PROCMGR_AOP_SUBRANGE");
            return EINVAL;
        }
        return EOK;
    }
    e->idx = find_known(e->aid);
    if (e->idx < 0) {
        pm_fail(0, "procmgr_ability: entry %u names ability %u, which peermap does "
                "not know (it knows %u, %u and %u)", n, e->aid, PROCMGR_AID_MEM_PEER,
                PROCMGR_AID_PROT_EXEC, PROCMGR_AID_PROT_WRITE_AND_EXEC);
        return EINVAL;
    }
    if ((e->ops & PROCMGR_AOP_INHERIT_NO) && !fork_handler_ok) {
        pm_fail(0, "procmgr_ability: no fork handler could be installed, so "
                "PROCMGR_AOP_INHERIT_NO cannot be honoured");
        return ENOMEM;
    }
    return EOK;
}

/* Read the next argument; QNX puts a subrange's two uint64_t bounds right
 * after the entry that asks for one, and they must be stepped over even
 * though peermap's abilities have no ranges. */
static unsigned next_arg(va_list *ap, struct entry *prev)
{
    if (prev && prev->idx >= 0 && (prev->ops & PROCMGR_AOP_SUBRANGE)) {
        (void)va_arg(*ap, uint64_t);
        (void)va_arg(*ap, uint64_t);
    }
    return va_arg(*ap, unsigned);
}

static int apply_to_domain(struct domain_state *d, unsigned ops)
{
    if (d->locked && (ops & CHANGING_OPS))
        return EPERM;
    if (ops & PROCMGR_AOP_DENY)
        d->allowed = false;
    if (ops & PROCMGR_AOP_ALLOW)
        d->allowed = true;
    if (ops & PROCMGR_AOP_INHERIT_NO)
        d->inherit = false;
    if (ops & PROCMGR_AOP_INHERIT_YES)
        d->inherit = true;
    if (ops & PROCMGR_AOP_LOCK)
        d->locked = true;
    return EOK;
}

static int check_target(pid_t pid)
{
    if (pid == 0 || pid == getpid())
        return EOK;
    /* kill() would read a negative pid as a process group. */
    if (pid < 0) {
        pm_fail(0, "procmgr_ability: no process has the ID %ld", (long)pid);
        return ESRCH;
    }
    if (kill(pid, 0) < 0 && errno == ESRCH) {
        pm_fail(0, "procmgr_ability: no process %ld", (long)pid);
        return ESRCH;
    }
    pm_fail(0, "procmgr_ability: peermap keeps abilities inside each process and "
            "cannot change those of process %ld", (long)pid);
    return EPERM;
}

/* All or nothing: the first pass rejects a malformed list before anything is
 * touched, the second applies it, in order, to a copy that replaces the table
 * only if every entry was permitted. */
static int change(pid_t pid, unsigned first, va_list *ap)
{
    struct entry e, prev;
    unsigned n, arg;
    bool named[NKNOWN] = { false };
    bool root = geteuid() == 0;
    struct ability_table scratch;
    va_list walk;
    int rc;

    rc = check_target(pid);
    if (rc != EOK)
        return rc;
    ensure_init();

    va_copy(walk, *ap);
    for (n = 1, arg = first;; n++, arg = next_arg(&walk, &prev)) {
        rc = decode(arg, n, &e);
        if (rc != EOK || e.idx < 0)
            break;
        named[e.idx] = true;
        prev = e;
    }
    va_end(walk);
    if (rc != EOK)
        return rc;

    pthread_mutex_lock(&table_lock);
    scratch = table;
    for (n = 1, arg = first;; n++, arg = next_arg(ap, &prev)) {
        decode(arg, n, &e);
        if ((e.ops & PROCMGR_AOP_ALLOW) && !root) {
            pm_fail(0, "procmgr_ability: entry %u allows an ability, which only a "
                    "process with effective uid 0 may do", n);
            rc = EPERM;
            break;
        }
        if (e.idx < 0) {
            /* QNX: operations on the terminator reach every ability the list
             * did not name, skipping the locked ones instead of failing. */
            for (size_t i = 0; i < NKNOWN; i++)
                for (int d = 0; d < NDOMAINS; d++)
                    if (!named[i] && (e.domains & (1u << d)) && !scratch.dom[i][d].locked)
                        apply_to_domain(&scratch.dom[i][d], e.ops);
            break;
        }
        for (int d = 0; d < NDOMAINS && rc == EOK; d++) {
            if (!(e.domains & (1u << d)))
                continue;
            rc = apply_to_domain(&scratch.dom[e.idx][d], e.ops);
            if (rc != EOK)
                pm_fail(0, "procmgr_ability: %s is locked in the %s domain (entry %u)",
                        known[e.idx].macro, domain_name(d), n);
        }
        if (rc != EOK)
            break;
        prev = e;
    }
    if (rc == EOK) {
        table = scratch;
        publish();
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

__attribute__((visibility("default")))
int procmgr_ability(pid_t pid, unsigned ability, ...)
{
    /* QNX reports through the return value only; errno is the caller's. */
    int saved_errno = errno;
    va_list ap;
    int rc;

    pm_begin();
    va_start(ap, ability);
    rc = change(pid, ability, &ap);
    va_end(ap);
    errno = saved_errno;
    return rc;
}
