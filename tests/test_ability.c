/*
 * procmgr_ability() and the internal pm_ability_check().
 *
 * The ability table is per process and most tests change it, so every test
 * that changes it does so in a forked child: the tests stay independent of
 * their order, and the parent keeps the table it started with.  The same
 * program runs as root and as nobody with PEERMAP_ABILITIES=mem_peer; what
 * each test expects is derived from geteuid() and that variable.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <peermap.h>
#include <sys/mman_peer.h>
#include <sys/procmgr.h>

#include "harness.h"
#include "../src/peer/ability.h"

#ifndef EOK
#define EOK 0
#endif

#define MEM_PEER  PROCMGR_AID_MEM_PEER
#define PROT_EXEC_AID PROCMGR_AID_PROT_EXEC
#define PWE       PROCMGR_AID_PROT_WRITE_AND_EXEC
#define DENY      PROCMGR_AOP_DENY
#define ALLOW     PROCMGR_AOP_ALLOW
#define LOCK      PROCMGR_AOP_LOCK
#define ROOT_DOM  PROCMGR_ADN_ROOT
#define USER_DOM  PROCMGR_ADN_NONROOT
#define EOL       PROCMGR_AID_EOL

#define NOBODY 65534

static const struct { unsigned aid; const char *name; } abilities[] = {
    { MEM_PEER, "mem_peer" },
    { PROT_EXEC_AID, "prot_exec" },
    { PWE, "prot_write_and_exec" },
};
#define NABILITIES 3

static bool is_root(void)
{
    return geteuid() == 0;
}

/* Independent of the library's parser on purpose: a shared bug would hide.
 * A name that is none of the three makes the whole list grant nothing. */
static bool env_grants(const char *name)
{
    const char *list = getenv("PEERMAP_ABILITIES");
    size_t want = strlen(name);
    bool found = false;

    if (!list)
        return false;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        bool known = e == s;
        for (int i = 0; i < 3; i++) {
            const char *k = i == 0 ? "mem_peer" : i == 1 ? "prot_exec" : "prot_write_and_exec";
            if ((size_t)(e - s) == strlen(k) && strncasecmp(s, k, strlen(k)) == 0)
                known = true;
        }
        if (!known)
            return false;
        if ((size_t)(e - s) == want && strncasecmp(s, name, want) == 0)
            found = true;
        p += len + (p[len] == ',');
    }
    return found;
}

static const char *name_of(unsigned aid)
{
    for (int i = 0; i < NABILITIES; i++)
        if (abilities[i].aid == aid)
            return abilities[i].name;
    return "?";
}

/* What a fresh process holds in the domain now in force. */
static bool held_at_start(unsigned aid)
{
    return is_root() || env_grants(name_of(aid));
}

/* What the non-root domain holds in a fresh process. */
static bool nonroot_held_at_start(unsigned aid)
{
    return env_grants(name_of(aid));
}

static long expect(bool held)
{
    return held ? 0 : EPERM;
}

/* Run fn in a forked child and fold its verdict into the current test. */
static void isolated(void (*fn)(void))
{
    pid_t pid = fork();
    int status;

    REQUIRE(pid >= 0);
    if (pid == 0) {
        pm_cur_failed = 0;
        fn();
        _exit(pm_cur_failed > 0 ? 1 : pm_cur_failed < 0 ? 77 : 0);
    }
    /* REQUIRE evaluates its argument twice: no side effects inside. */
    pid_t reaped = waitpid(pid, &status, 0);
    REQUIRE(reaped == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        SKIP("see the reason above");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* For root only: look at the non-root domain by dropping the effective uid
 * (the real uid stays 0, so the way back stays open). */
static bool become_nobody(void)
{
    return seteuid(NOBODY) == 0;
}

static void become_root_again(void)
{
    if (seteuid(0) != 0) {
        fprintf(stderr, "  cannot get euid 0 back\n");
        _exit(1);
    }
}

/* ---------------------------------------------------------------- probe --
 * A re-executed copy of this program answers one question before the
 * harness starts: which abilities does a fresh image hold?  Bit 0 mem_peer,
 * bit 1 prot_exec, bit 2 prot_write_and_exec; 100+ on trouble. */
__attribute__((constructor)) static void probe_mode(void)
{
    const char *mode = getenv("PEERMAP_TEST_ABILITY_PROBE");
    int mask = 0;

    if (!mode)
        return;
    if ((strcmp(mode, "nonroot") == 0 || strcmp(mode, "reason") == 0) && geteuid() == 0 &&
        seteuid(NOBODY) != 0)
        _exit(100);
    if (strcmp(mode, "reason") == 0) {
        /* Refused for want of the ability (checked first, so that nothing
         * is done to the parent should it be held after all): does the
         * reason name the variable and the name it did not know? */
        if (pm_ability_check(MEM_PEER) == 0)
            _exit(104);
        errno = 0;
        int rc = munmap_peer(getppid(), (void *)(uintptr_t)0x10000, 4096);
        const char *why = peermap_errmsg();
        _exit(rc == -1 && errno == EPERM && strstr(why, "PEERMAP_ABILITIES") &&
              strstr(why, "'memPeer'") && strstr(why, "mem_peer") ? 0 : 105);
    }
    for (int i = 0; i < NABILITIES; i++) {
        int rc = pm_ability_check(abilities[i].aid);
        if (rc == 0)
            mask |= 1 << i;
        else if (rc != EPERM)
            _exit(101);
    }
    _exit(mask);
}

/* Exec this program as a probe with PEERMAP_ABILITIES set to env (NULL:
 * unset) and return its answer, or -1. */
static int probe(const char *mode, const char *env, void (*before_exec)(void))
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (before_exec)
            before_exec();
        if (env)
            setenv("PEERMAP_ABILITIES", env, 1);
        else
            unsetenv("PEERMAP_ABILITIES");
        setenv("PEERMAP_TEST_ABILITY_PROBE", mode, 1);
        execl("/proc/self/exe", "test_ability", (char *)NULL);
        _exit(102);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ------------------------------------------------------------- defaults -- */

TEST(defaults_in_the_domain_in_force)
{
    for (int i = 0; i < NABILITIES; i++)
        CHECK_EQ_LONG(pm_ability_check(abilities[i].aid),
                      expect(held_at_start(abilities[i].aid)));
    CHECK_EQ_LONG(pm_ability_check(0), EPERM);
    CHECK_EQ_LONG(pm_ability_check(EOL), EPERM);
}

static void nonroot_defaults_body(void)
{
    if (!become_nobody())
        SKIP("seteuid(%d) failed: %s", NOBODY, strerror(errno));
    for (int i = 0; i < NABILITIES; i++)
        CHECK_EQ_LONG(pm_ability_check(abilities[i].aid),
                      expect(nonroot_held_at_start(abilities[i].aid)));
    become_root_again();
    for (int i = 0; i < NABILITIES; i++)
        CHECK_EQ_LONG(pm_ability_check(abilities[i].aid), 0);
}

TEST(root_holds_all_nonroot_only_what_env_grants)
{
    if (!is_root())
        SKIP("needs euid 0 to look at both domains");
    isolated(nonroot_defaults_body);
}

TEST(environment_is_read_at_first_use)
{
    /* "nonroot": as root the probe drops its euid to see that domain. */
    const char *mode = "nonroot";

    CHECK_EQ_LONG(probe(mode, NULL, NULL), 0);
    CHECK_EQ_LONG(probe(mode, "mem_peer", NULL), 1);
    /* Blanks, case and empty items are tolerated. */
    CHECK_EQ_LONG(probe(mode, " prot_exec,,PROT_WRITE_AND_EXEC ", NULL), 6);
    CHECK_EQ_LONG(probe(mode, "mem_peer,prot_exec,prot_write_and_exec", NULL), 7);
    CHECK_EQ_LONG(probe(mode, "", NULL), 0);
    /* An unknown name (a typo) makes the whole list grant nothing: a policy
     * is applied as written or not at all. */
    CHECK_EQ_LONG(probe(mode, "mem_peerx,mem,all", NULL), 0);
    CHECK_EQ_LONG(probe(mode, "memPeer", NULL), 0);
    CHECK_EQ_LONG(probe(mode, "mem_peer,memPeer", NULL), 0);
    CHECK_EQ_LONG(probe(mode, " prot_exec,bogus,,PROT_WRITE_AND_EXEC ", NULL), 0);
    /* The root domain ignores the variable: it already holds everything. */
    if (is_root())
        CHECK_EQ_LONG(probe("current", NULL, NULL), 7);
}

/* The library cannot speak at start-up; the refusal the typo causes says
 * what was wrong with the variable. */
TEST(unknown_name_in_environment_is_named_in_the_refusal)
{
    CHECK_EQ_LONG(probe("reason", "mem_peer,memPeer", NULL), 0);
}

static void deny_and_lock_everything(void)
{
    if (procmgr_ability(0, DENY | LOCK | EOL) != EOK)
        _exit(103);
}

TEST(exec_starts_again_from_defaults)
{
    int want = 0;

    for (int i = 0; i < NABILITIES; i++)
        if (held_at_start(abilities[i].aid))
            want |= 1 << i;
    CHECK_EQ_LONG(probe("current", getenv("PEERMAP_ABILITIES"), deny_and_lock_everything),
                  want);
}

/* ----------------------------------------------------------- the list -- */

TEST(empty_list_is_fine)
{
    CHECK_EQ_LONG(procmgr_ability(0, EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(getpid(), EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(0, MEM_PEER, EOL), EOK);
    for (int i = 0; i < NABILITIES; i++)
        CHECK_EQ_LONG(pm_ability_check(abilities[i].aid),
                      expect(held_at_start(abilities[i].aid)));
}

static void unknown_ability_body(void)
{
    /* 1 is a real QNX ability (SPAWN) that peermap does not implement. */
    CHECK_EQ_LONG(procmgr_ability(0, DENY | 1u, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | 0u, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | 0xfffeu, EOL), EINVAL);
    /* The valid entries before the bad one must not have been applied. */
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, LOCK | PWE, DENY | 7u, EOL), EINVAL);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(held_at_start(MEM_PEER)));
    CHECK_EQ_LONG(procmgr_ability(0, DENY | PWE, EOL), EOK);   /* not locked */
    CHECK(strlen(peermap_errmsg()) == 0);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | 7u, EOL), EINVAL);
    CHECK(strstr(peermap_errmsg(), "7") != NULL);
}

TEST(unknown_ability_is_einval_and_changes_nothing)
{
    isolated(unknown_ability_body);
}

static void bad_operations_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ALLOW | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_INHERIT_YES | PROCMGR_AOP_INHERIT_NO
                                     | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, 0x00400000u | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, 0x00800000u | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, 0x01000000u | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ALLOW | EOL), EINVAL);
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_SUBRANGE | EOL), EINVAL);
    /* EINVAL wins over EPERM: the list is checked whole before anything. */
    CHECK_EQ_LONG(procmgr_ability(0, ALLOW | PROT_EXEC_AID, DENY | MEM_PEER,
                                  DENY | ALLOW | PWE, EOL), EINVAL);
    for (int i = 0; i < NABILITIES; i++)
        CHECK_EQ_LONG(pm_ability_check(abilities[i].aid),
                      expect(held_at_start(abilities[i].aid)));
}

TEST(bad_operations_are_einval)
{
    isolated(bad_operations_body);
}

/* --------------------------------------------------- deny, allow, domains -- */

static void deny_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), expect(held_at_start(PROT_EXEC_AID)));
    /* Denying what is already denied is no error. */
    CHECK_EQ_LONG(procmgr_ability(getpid(), DENY | MEM_PEER, DENY | PWE, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PWE), EPERM);
}

TEST(deny_drops_an_ability)
{
    isolated(deny_body);
}

static void domains_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | MEM_PEER,
                                  DENY | ROOT_DOM | PROT_EXEC_AID, EOL), EOK);
    if (is_root()) {
        CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
        CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
        CHECK_EQ_LONG(pm_ability_check(PWE), 0);
        if (!become_nobody())
            SKIP("seteuid(%d) failed: %s", NOBODY, strerror(errno));
        CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
        CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), expect(nonroot_held_at_start(PROT_EXEC_AID)));
        become_root_again();
    } else {
        CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
        CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), expect(held_at_start(PROT_EXEC_AID)));
    }
    /* Both domain bits mean the same as none. */
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ROOT_DOM | USER_DOM | PWE, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PWE), EPERM);
}

TEST(domains_are_separate)
{
    isolated(domains_body);
}

static void allow_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EOK);
    if (is_root()) {
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | MEM_PEER, EOL), EOK);
        CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
    } else {
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | MEM_PEER, EOL), EPERM);
        CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
        /* Even for what the non-root domain already holds. */
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | USER_DOM | PROT_EXEC_AID, EOL), EPERM);
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | ROOT_DOM | PWE, EOL), EPERM);
        CHECK(strstr(peermap_errmsg(), "uid 0") != NULL);
        CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), expect(held_at_start(PROT_EXEC_AID)));
    }
}

TEST(allow_needs_euid_0)
{
    isolated(allow_body);
}

/* The QNX pattern: start as root, keep what the non-root part needs, drop
 * root for good. */
static void keep_then_drop_root_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, ALLOW | USER_DOM | MEM_PEER,
                                  ALLOW | USER_DOM | PROT_EXEC_AID,
                                  DENY | LOCK | USER_DOM | EOL), EOK);
    if (setresuid(NOBODY, NOBODY, NOBODY) != 0)
        SKIP("setresuid(%d) failed: %s", NOBODY, strerror(errno));
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), 0);
    CHECK_EQ_LONG(pm_ability_check(PWE), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, ALLOW | PWE, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | PWE, EOL), EPERM);    /* locked */
    CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | PROT_EXEC_AID, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
}

TEST(root_grants_nonroot_domain_then_drops_root)
{
    if (!is_root())
        SKIP("needs euid 0");
    isolated(keep_then_drop_root_body);
}

/* ----------------------------------------------------------------- lock -- */

static void lock_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EPERM);
    CHECK(strstr(peermap_errmsg(), "locked") != NULL);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(held_at_start(MEM_PEER)));
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_INHERIT_NO | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_INHERIT_YES | USER_DOM | MEM_PEER, EOL), EPERM);
    /* Naming it without an operation changes nothing, so it is no error. */
    CHECK_EQ_LONG(procmgr_ability(0, MEM_PEER, EOL), EOK);

    CHECK_EQ_LONG(procmgr_ability(0, DENY | LOCK | PROT_EXEC_AID, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, ALLOW | PROT_EXEC_AID, EOL), EPERM);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
}

TEST(lock_forbids_later_changes)
{
    isolated(lock_body);
}

static void lock_one_domain_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | ROOT_DOM | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ROOT_DOM | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(is_root()));
}

TEST(lock_is_per_domain)
{
    isolated(lock_one_domain_body);
}

static void all_or_nothing_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | PROT_EXEC_AID, EOL), EOK);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, DENY | PWE, DENY | PROT_EXEC_AID, EOL),
                  EPERM);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(held_at_start(MEM_PEER)));
    CHECK_EQ_LONG(pm_ability_check(PWE), expect(held_at_start(PWE)));

    /* Entries apply in order: a lock earlier in the list binds later ones,
     * and the failed call leaves no lock behind. */
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | MEM_PEER, DENY | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);

    if (!is_root()) {
        /* A refused ALLOW late in the list takes the lock before it along. */
        CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | PWE, LOCK | PWE,
                                      ALLOW | ROOT_DOM | PROT_EXEC_AID, EOL), EPERM);
        CHECK_EQ_LONG(procmgr_ability(0, DENY | PWE, EOL), EOK);
    }
}

TEST(a_rejected_call_changes_nothing)
{
    isolated(all_or_nothing_body);
}

/* ------------------------------------------------ subrange, terminator -- */

static void subrange_body(void)
{
    /* QNX passes a subrange's bounds as two uint64_t right after the entry;
     * if they were not stepped over, 100 would be read as the next entry. */
    CHECK_EQ_LONG(procmgr_ability(0, DENY | PROCMGR_AOP_SUBRANGE | MEM_PEER,
                                  (uint64_t)100, (uint64_t)200,
                                  LOCK | PWE, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | PWE, EOL), EPERM);
    /* A subrange alone changes nothing, even on a locked ability. */
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_SUBRANGE | PWE,
                                  (uint64_t)0, UINT64_MAX, EOL), EOK);
}

TEST(subrange_is_accepted_and_its_bounds_skipped)
{
    isolated(subrange_body);
}

static void terminator_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | PWE, EOL), EOK);
    /* Operations on the terminator reach every unlocked ability the list
     * did not name; the locked PWE is skipped, not an error. */
    CHECK_EQ_LONG(procmgr_ability(0, LOCK | MEM_PEER, DENY | LOCK | EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(held_at_start(MEM_PEER)));
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
    CHECK_EQ_LONG(pm_ability_check(PWE), expect(held_at_start(PWE)));
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | USER_DOM | PROT_EXEC_AID, EOL), EPERM);
    if (!is_root())
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | EOL), EPERM);
}

TEST(operations_on_the_terminator)
{
    isolated(terminator_body);
}

static void terminator_domain_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ROOT_DOM | EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(!is_root() && held_at_start(MEM_PEER)));
    if (is_root()) {
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | ROOT_DOM | EOL), EOK);
        for (int i = 0; i < NABILITIES; i++)
            CHECK_EQ_LONG(pm_ability_check(abilities[i].aid), 0);
    }
}

TEST(terminator_honours_domains)
{
    isolated(terminator_domain_body);
}

/* ------------------------------------------------------------- targets -- */

TEST(other_processes)
{
    pid_t gone = fork();
    int status;

    REQUIRE(gone >= 0);
    if (gone == 0)
        _exit(0);
    pid_t reaped = waitpid(gone, &status, 0);
    REQUIRE(reaped == gone);

    errno = 4242;
    CHECK_EQ_LONG(procmgr_ability(gone, DENY | MEM_PEER, EOL), ESRCH);
    CHECK_EQ_LONG(errno, 4242);
    CHECK_EQ_LONG(procmgr_ability(-5, DENY | MEM_PEER, EOL), ESRCH);
    CHECK_EQ_LONG(procmgr_ability(getppid(), DENY | MEM_PEER, EOL), EPERM);
    CHECK_EQ_LONG(errno, 4242);
    CHECK_EQ_LONG(procmgr_ability(1, EOL), EPERM);
    /* The target is judged before the list. */
    CHECK_EQ_LONG(procmgr_ability(getppid(), DENY | 7u, EOL), EPERM);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), expect(held_at_start(MEM_PEER)));
}

TEST(errno_is_left_alone)
{
    errno = 4242;
    CHECK_EQ_LONG(procmgr_ability(0, EOL), EOK);
    CHECK_EQ_LONG(errno, 4242);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | 7u, EOL), EINVAL);
    CHECK_EQ_LONG(errno, 4242);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | ALLOW | MEM_PEER, EOL), EINVAL);
    CHECK_EQ_LONG(errno, 4242);
}

/* ----------------------------------------------------------------- fork -- */

static void inherited_child(void)
{
    /* INHERIT_YES (the default): the drop and the lock come along. */
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | MEM_PEER, EOL), EPERM);
    /* INHERIT_NO: back to the QNX default, unlocked. */
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), expect(is_root()));
    CHECK_EQ_LONG(procmgr_ability(0, DENY | PROT_EXEC_AID, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
}

static void nonroot_reset_child(void)
{
    /* The default of the non-root domain is "denied", even where the
     * environment granted the ability to the parent. */
    if (is_root() && !become_nobody())
        SKIP("seteuid(%d) failed: %s", NOBODY, strerror(errno));
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), EPERM);
}

static void nonroot_kept_child(void)
{
    if (is_root() && !become_nobody())
        SKIP("seteuid(%d) failed: %s", NOBODY, strerror(errno));
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
}

static void fork_body(void)
{
    CHECK_EQ_LONG(procmgr_ability(0, DENY | LOCK | MEM_PEER,
                                  DENY | LOCK | PROCMGR_AOP_INHERIT_NO | PROT_EXEC_AID,
                                  EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
    isolated(inherited_child);
    /* The parent keeps its own settings. */
    CHECK_EQ_LONG(pm_ability_check(PROT_EXEC_AID), EPERM);
    CHECK_EQ_LONG(procmgr_ability(0, DENY | PROT_EXEC_AID, EOL), EPERM);
}

static void fork_reset_nonroot_body(void)
{
    if (is_root())
        CHECK_EQ_LONG(procmgr_ability(0, ALLOW | USER_DOM | PROCMGR_AOP_INHERIT_NO | MEM_PEER,
                                      EOL), EOK);
    else
        CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_INHERIT_NO | USER_DOM | MEM_PEER, EOL), EOK);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
    isolated(nonroot_reset_child);
    CHECK_EQ_LONG(pm_ability_check(MEM_PEER), 0);
    /* INHERIT_YES takes the INHERIT_NO back. */
    CHECK_EQ_LONG(procmgr_ability(0, PROCMGR_AOP_INHERIT_YES | USER_DOM | MEM_PEER, EOL), EOK);
    isolated(nonroot_kept_child);
}

TEST(fork_keeps_abilities_unless_inherit_no)
{
    isolated(fork_body);
}

TEST(inherit_no_resets_the_nonroot_domain_too)
{
    if (!is_root() && !held_at_start(MEM_PEER))
        SKIP("run with PEERMAP_ABILITIES=mem_peer to see a reset");
    isolated(fork_reset_nonroot_body);
}

/* -------------------------------------------------------------- threads -- */

#define ROUNDS 2000

static void *churn(void *arg)
{
    long bad = 0;

    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        unsigned op = (i & 1) && is_root() ? ALLOW : DENY;
        if (procmgr_ability(0, op | ROOT_DOM | PWE, PROCMGR_AOP_SUBRANGE | PROT_EXEC_AID,
                            (uint64_t)1, (uint64_t)2, EOL) != EOK)
            bad++;
        if (pm_ability_check(MEM_PEER) != expect(held_at_start(MEM_PEER)))
            bad++;
    }
    return (void *)bad;
}

static void *forker(void *arg)
{
    long bad = 0;

    (void)arg;
    for (int i = 0; i < 200; i++) {
        pid_t pid = fork();
        int status;
        if (pid == 0) {
            /* A table lock copied while held would hang the child forever. */
            alarm(10);
            _exit(pm_ability_check(MEM_PEER) == expect(held_at_start(MEM_PEER)) ? 0 : 1);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
    }
    return (void *)bad;
}

static void threads_body(void)
{
    pthread_t t[5];

    for (int i = 0; i < 5; i++) {
        int rc = pthread_create(&t[i], NULL, i < 4 ? churn : forker, NULL);
        if (rc != 0) {
            fprintf(stderr, "  pthread_create: %s\n", strerror(rc));
            _exit(1);   /* the threads already started must not be left running */
        }
    }
    for (int i = 0; i < 5; i++) {
        void *bad = NULL;
        CHECK_EQ_LONG(pthread_join(t[i], &bad), 0);
        CHECK_EQ_LONG((long)bad, 0);
    }
}

TEST(threads_and_fork_do_not_tear_the_table)
{
    isolated(threads_body);
}
