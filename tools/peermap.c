/*
 * peermap(1): map and unmap memory in another process from the shell, and
 * list a process's mappings.  A thin front end to mmap_peer()/munmap_peer();
 * see peermap(1) for the interface, which the usage text below repeats.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>

/* Internal to the library (linked statically): whether PEERMAP_ABILITIES
 * was ignored, and why. */
#include "peer/ability.h"
#ifdef PEERMAP_HAVE_EXPORT
#include "export/main.h"
#else
/* Built without libfuse3: the command exists and says so. */
static int pm_export_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("peermap: this peermap was built without libfuse3: no export\n", stderr);
    return 1;
}
#endif

#ifndef PEERMAP_VERSION
#define PEERMAP_VERSION "0.1.0"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* The exit status is the interface scripts depend on: keep these in step with
 * the help text and the man page. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_NOPROC = 3,
    EXIT_PERM = 4,
    EXIT_TIMEDOUT = 5,
};

static const char synopsis[] =
    "Usage: peermap map PID LEN [--prot PROT] [--shared|--private]\n"
    "                   [--file PATH|--shm NAME|--phys] [--offset N]\n"
    "                   [--at ADDR [--fixed|--noreplace]] [--nocache]\n"
    "       peermap unmap PID ADDR LEN\n"
    "       peermap maps PID\n"
    "       peermap export [-d] [-v] [-t MS] [--link [--link-root DIR]] [MOUNTPOINT]\n"
    "       peermap help | --help | --version\n";

static const char description[] =
    "\n"
    "Map memory into another process, unmap it, or list its mappings.  The\n"
    "system calls run inside the target, which is stopped briefly with ptrace\n"
    "(QNX's mmap_peer() and munmap_peer()).\n"
    "\n"
    "Commands:\n"
    "  map PID LEN         map LEN bytes into process PID and print the address\n"
    "                      the mapping has there\n"
    "  unmap PID ADDR LEN  unmap [ADDR, ADDR+LEN) in process PID\n"
    "  maps PID            list the mappings of process PID\n"
    "  export [MOUNTPOINT] serve the path space through FUSE, so that any program\n"
    "                      reaches resource managers with open(), read(), cat...\n"
    "                      (peermap export --help)\n"
    "  help                show this help\n"
    "\n"
    "Options of map:\n"
    "  --prot PROT     access: letters from r, w, x (a '-' is ignored), or\n"
    "                  'none' (default rw)\n"
    "  --shared        MAP_SHARED (the default with --file, --shm and --phys)\n"
    "  --private       MAP_PRIVATE (the default for anonymous memory)\n"
    "  --file PATH     map the file PATH, opened read-write when PROT has w and\n"
    "                  the mapping is shared, read-only otherwise\n"
    "  --shm NAME      map the existing POSIX shared memory object NAME\n"
    "                  (opened like --file, with shm_open)\n"
    "  --phys          map physical memory at --offset (MAP_PHYS; root only)\n"
    "  --offset N      start at offset N of the file, object or physical memory\n"
    "  --at ADDR       place the mapping near ADDR\n"
    "  --fixed         place it exactly at ADDR, replacing what is there\n"
    "  --noreplace     place it exactly at ADDR, failing if that is in use\n"
    "  --nocache       uncached access (PROT_NOCACHE; only with --phys)\n"
    "Without --file, --shm or --phys the memory is anonymous and zero-filled.\n"
    "\n"
    "Numbers are decimal or 0x hexadecimal; LEN and N take a K, M or G suffix\n"
    "(KiB, MiB, GiB).  maps prints addresses and sizes the same way.\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the operation failed\n"
    "  2  usage error: bad arguments, unknown command or option\n"
    "  3  the target process does not exist\n"
    "  4  permission denied\n"
    "  5  timed out waiting for the target to stop\n"
    "\n"
    "Environment:\n"
    "  PEERMAP_ABILITIES   abilities to grant, comma-separated: a non-root user\n"
    "                      lacks them by default and cannot grant them itself.\n"
    "                      mem_peer (PROCMGR_AID_MEM_PEER) is needed for map and\n"
    "                      unmap, or they fail with exit status 4; prot_exec and\n"
    "                      prot_write_and_exec for PROT x and wx\n"
    "  PEERMAP_TIMEOUT_MS  how long to wait for the target to stop, in ms\n"
    "                      (default 2000)\n"
    "  PEERMAP_PHYSMEM     physical-memory device for --phys (default /dev/mem)\n"
    "\n"
    "The kernel's ptrace rules apply too: the target must belong to the same\n"
    "user (or the caller needs CAP_SYS_PTRACE) and must not be traced already.\n";

static int help(void)
{
    fputs(synopsis, stdout);
    fputs(description, stdout);
    return EXIT_OK;
}

static int usage_error(const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("peermap: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fputs(synopsis, stderr);
    fputs("Try 'peermap --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

static int exit_status_for(int err)
{
    switch (err) {
    case ESRCH:
        return EXIT_NOPROC;
    case EPERM:
    case EACCES:
        return EXIT_PERM;
    case ETIMEDOUT:
        return EXIT_TIMEDOUT;
    default:
        return EXIT_FAILED;
    }
}

/* `err` is passed in rather than read from errno because formatting the
 * message may clobber errno. */
__attribute__((format(printf, 2, 3)))
static int fail(int err, const char *fmt, ...)
{
    const char *why = peermap_errmsg();
    va_list ap;

    va_start(ap, fmt);
    fputs("peermap: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* The library's reason often ends in the same strerror() text: say it
     * once ("File exists", not "File exists: ... failed: File exists"). */
    if (!why || !*why || !strstr(why, strerror(err)))
        fprintf(stderr, ": %s", strerror(err));
    if (why && *why)
        fprintf(stderr, ": %s", why);
    fputc('\n', stderr);
    return exit_status_for(err);
}

/* A map whose address never reached the operator has still changed the
 * target, so a failed write to stdout must not pass unnoticed. */
static int finish_stdout(int status)
{
    int err = 0;

    if (fflush(stdout) != 0)
        err = errno;
    else if (ferror(stdout))
        err = EIO;      /* an earlier write failed; its errno is gone */
    if (err) {
        fprintf(stderr, "peermap: write to standard output: %s\n", strerror(err));
        return status == EXIT_OK ? EXIT_FAILED : status;
    }
    return status;
}

/*
 * Decimal or 0x hexadecimal, optionally followed by K, M or G.  Hand-written
 * because strtoull() accepts what an operator should not get away with:
 * leading blanks, a sign (with "-1" wrapping to 2^64-1), and octal for a
 * leading 0.  Returns 0, EINVAL (not a number), EDOM (negative) or ERANGE
 * (above `max`).
 */
static int parse_number(const char *s, bool suffix, uint64_t max, uint64_t *out)
{
    unsigned base = 10, shift = 0;
    const char *p = s;
    uint64_t v = 0;

    if (p[0] == '-' && p[1] >= '0' && p[1] <= '9')
        return EDOM;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char *digits = p;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return ERANGE;
        v = v * base + d;
    }
    if (p == digits)
        return EINVAL;
    if (suffix && *p) {
        switch (*p) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return EINVAL;
        }
        p++;
    }
    if (*p)
        return EINVAL;
    if (v > (max >> shift))
        return ERANGE;
    *out = v << shift;
    return 0;
}

static bool parse_arg(const char *what, const char *s, bool suffix, uint64_t max,
                      uint64_t *out)
{
    int err = parse_number(s, suffix, max, out);
    if (err == EINVAL)
        usage_error("%s '%s' is not a number", what, s);
    else if (err == EDOM)
        usage_error("%s '%s' is negative", what, s);
    else if (err == ERANGE)
        usage_error("%s '%s' is too large", what, s);
    return err == 0;
}

static bool parse_pid(const char *s, pid_t *pid)
{
    uint64_t v;
    bool decimal = s[0] >= '0' && s[0] <= '9' && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));

    /* PIDs are decimal everywhere else (ps, /proc), so a hex PID is more
     * likely an address typed in the wrong place than a process. */
    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
        usage_error("PID '%s' is negative: a process ID is a positive number", s);
        return false;
    }
    if (!decimal) {
        usage_error("PID '%s' is not a decimal number", s);
        return false;
    }
    if (!parse_arg("PID", s, false, INT32_MAX, &v))
        return false;
    /* 0 would name peermap itself, which exits at once. */
    if (v == 0) {
        usage_error("PID 0 is not a process");
        return false;
    }
    *pid = (pid_t)v;
    return true;
}

static bool parse_prot(const char *s, int *prot)
{
    int p = 0;

    if (strcmp(s, "none") == 0) {
        *prot = PROT_NONE;
        return true;
    }
    for (const char *c = s; *c; c++) {
        int bit;
        switch (*c) {
        case 'r': bit = PROT_READ; break;
        case 'w': bit = PROT_WRITE; break;
        case 'x': bit = PROT_EXEC; break;
        case '-': bit = 0; break;       /* lets "r-x" be copied from maps */
        default: bit = -1; break;
        }
        if (bit < 0 || (p & bit)) {
            usage_error("PROT '%s' is not a combination of r, w and x, or 'none'", s);
            return false;
        }
        p |= bit;
    }
    if (!*s) {
        usage_error("PROT is empty (use 'none' for no access)");
        return false;
    }
    *prot = p;
    return true;
}

enum {
    OPT_PROT = 256, OPT_SHARED, OPT_PRIVATE, OPT_FILE, OPT_SHM, OPT_PHYS,
    OPT_OFFSET, OPT_AT, OPT_FIXED, OPT_NOREPLACE, OPT_NOCACHE,
};

#define MAX_OPERANDS 4

struct operands {
    int n;
    const char *v[MAX_OPERANDS];
};

static void add_operand(struct operands *ops, const char *s)
{
    /* Keep counting past the end so that "too many" can be reported. */
    if (ops->n < MAX_OPERANDS)
        ops->v[ops->n] = s;
    ops->n++;
}

/*
 * getopt takes "-5" for option 5, and would answer "invalid option -- '5'"
 * to "peermap map -5 4K".  The digits are therefore in every option string:
 * getopt hands a word that starts with "-<digit>" back as a digit, and this
 * says what the word was meant to be, from where it stands among the
 * operands.  `word` is the word getopt was reading.
 */
static int negative_operand(const struct operands *ops, const char *word,
                            const char *const names[], int nnames)
{
    if (ops->n >= nnames)
        return usage_error("'%s' is one operand too many, and negative", word);
    if (strcmp(names[ops->n], "PID") == 0)
        return usage_error("PID '%s' is negative: a process ID is a positive number", word);
    return usage_error("%s '%s' is negative", names[ops->n], word);
}

/* Options are long, but for -h: the rest is the digits of negative_operand(). */
#define SHORT_OPTS "-h0123456789"
#define IS_DIGIT_OPT(c) ((c) >= '0' && (c) <= '9')
/* The index of the word the next getopt_long() call reads (optind 0 makes
 * glibc start afresh, at 1). */
#define NEXT_WORD() (optind ? optind : 1)

static bool check_operands(const struct operands *ops, int want, const char *names)
{
    if (ops->n < want) {
        usage_error("missing operand: expected %s", names);
        return false;
    }
    if (ops->n > want) {
        usage_error("too many operands: expected %s", names);
        return false;
    }
    return true;
}

static int cmd_map(int argc, char **argv)
{
    static const struct option opts[] = {
        { "prot",      required_argument, NULL, OPT_PROT },
        { "shared",    no_argument,       NULL, OPT_SHARED },
        { "private",   no_argument,       NULL, OPT_PRIVATE },
        { "file",      required_argument, NULL, OPT_FILE },
        { "shm",       required_argument, NULL, OPT_SHM },
        { "phys",      no_argument,       NULL, OPT_PHYS },
        { "offset",    required_argument, NULL, OPT_OFFSET },
        { "at",        required_argument, NULL, OPT_AT },
        { "fixed",     no_argument,       NULL, OPT_FIXED },
        { "noreplace", no_argument,       NULL, OPT_NOREPLACE },
        { "nocache",   no_argument,       NULL, OPT_NOCACHE },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const uint64_t off_max = ((uint64_t)1 << (sizeof(off_t) * 8 - 1)) - 1;
    struct operands ops = { 0 };
    int prot = PROT_READ | PROT_WRITE, share = 0, place = 0, c;
    const char *file = NULL, *shm = NULL;
    bool phys = false, nocache = false, have_offset = false, have_at = false;
    uint64_t offset = 0, at = 0, len;
    pid_t pid;

    /* optind 0 makes glibc start afresh on this argv.  The leading '-' in
     * the option string hands operands over in place (code 1) instead of
     * permuting, so options may follow the operands even under
     * POSIXLY_CORRECT. */
    static const char *const names[] = { "PID", "LEN" };
    optind = 0;
    for (int word = NEXT_WORD(); (c = getopt_long(argc, argv, SHORT_OPTS, opts, NULL)) != -1;
         word = NEXT_WORD()) {
        if (IS_DIGIT_OPT(c))
            return negative_operand(&ops, argv[word], names, 2);
        switch (c) {
        case 1:
            add_operand(&ops, optarg);
            break;
        case 'h':
            return help();
        case OPT_PROT:
            if (!parse_prot(optarg, &prot))
                return EXIT_USAGE;
            break;
        case OPT_SHARED:
        case OPT_PRIVATE: {
            int want = c == OPT_SHARED ? MAP_SHARED : MAP_PRIVATE;
            if (share && share != want)
                return usage_error("--shared and --private exclude each other");
            share = want;
            break;
        }
        case OPT_FILE:
            file = optarg;
            break;
        case OPT_SHM:
            shm = optarg;
            break;
        case OPT_PHYS:
            phys = true;
            break;
        case OPT_OFFSET:
            if (!parse_arg("offset", optarg, true, off_max, &offset))
                return EXIT_USAGE;
            have_offset = true;
            break;
        case OPT_AT:
            if (!parse_arg("ADDR", optarg, false, UINTPTR_MAX, &at))
                return EXIT_USAGE;
            have_at = true;
            break;
        case OPT_FIXED:
        case OPT_NOREPLACE: {
            int want = c == OPT_FIXED ? MAP_FIXED : MAP_FIXED_NOREPLACE;
            if (place && place != want)
                return usage_error("--fixed and --noreplace exclude each other");
            place = want;
            break;
        }
        case OPT_NOCACHE:
            nocache = true;
            break;
        default:        /* getopt has said what is wrong */
            return usage_error(NULL);
        }
    }
    for (; optind < argc; optind++)
        add_operand(&ops, argv[optind]);
    if (!check_operands(&ops, 2, "PID LEN"))
        return EXIT_USAGE;
    if (!parse_pid(ops.v[0], &pid) || !parse_arg("LEN", ops.v[1], true, SIZE_MAX, &len))
        return EXIT_USAGE;
    if ((file != NULL) + (shm != NULL) + phys > 1)
        return usage_error("--file, --shm and --phys exclude each other");
    bool anon = !file && !shm && !phys;
    if (anon && have_offset)
        return usage_error("--offset needs --file, --shm or --phys");
    if (place && !have_at)
        return usage_error("%s needs --at ADDR", place == MAP_FIXED ? "--fixed" : "--noreplace");
    if (nocache && !phys)
        return usage_error("--nocache needs --phys");

    if (!share)
        share = anon ? MAP_PRIVATE : MAP_SHARED;
    if (nocache)
        prot |= PROT_NOCACHE;
    int flags = share | place | (anon ? MAP_ANONYMOUS : 0) | (phys ? MAP_PHYS : 0);
    int fd = NOFD;
    if (file || shm) {
        /* A private mapping never writes back, so read access suffices and
         * read-only files can be mapped copy-on-write. */
        int oflags = (prot & PROT_WRITE) && share == MAP_SHARED ? O_RDWR : O_RDONLY;
        fd = file ? open(file, oflags | O_CLOEXEC | O_NOCTTY) : shm_open(shm, oflags, 0);
        if (fd < 0)
            return fail(errno, "open %s '%s'", file ? "file" : "shared memory object",
                        file ? file : shm);
    }

    void *addr = mmap_peer(pid, (void *)(uintptr_t)at, (size_t)len, prot, flags, fd,
                           (off_t)offset);
    int err = errno;
    if (fd != NOFD)
        close(fd);      /* the target's mapping keeps its own reference */
    if (addr == MAP_FAILED)
        return fail(err, "map %" PRIu64 " bytes into PID %d", len, (int)pid);
    printf("0x%" PRIxPTR "\n", (uintptr_t)addr);
    return EXIT_OK;
}

static int cmd_unmap(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct operands ops = { 0 };
    uint64_t addr, len;
    pid_t pid;
    int c;

    static const char *const names[] = { "PID", "ADDR", "LEN" };
    optind = 0;
    for (int word = NEXT_WORD(); (c = getopt_long(argc, argv, SHORT_OPTS, opts, NULL)) != -1;
         word = NEXT_WORD()) {
        if (IS_DIGIT_OPT(c))
            return negative_operand(&ops, argv[word], names, 3);
        if (c == 1)
            add_operand(&ops, optarg);
        else if (c == 'h')
            return help();
        else
            return usage_error(NULL);
    }
    for (; optind < argc; optind++)
        add_operand(&ops, argv[optind]);
    if (!check_operands(&ops, 3, "PID ADDR LEN") || !parse_pid(ops.v[0], &pid) ||
        !parse_arg("ADDR", ops.v[1], false, UINTPTR_MAX, &addr) ||
        !parse_arg("LEN", ops.v[2], true, SIZE_MAX, &len))
        return EXIT_USAGE;

    if (munmap_peer(pid, (void *)(uintptr_t)addr, (size_t)len) != 0)
        return fail(errno, "unmap %" PRIu64 " bytes at 0x%" PRIx64 " in PID %d", len, addr,
                    (int)pid);
    return EXIT_OK;
}

struct mapping {
    uint64_t start, end, offset;
    char perms[5];
    char *path;         /* points into the line it came from */
    char *line;         /* owned */
};

/* Exact, and in the same notation LEN accepts, so a size can be pasted back. */
static void format_size(uint64_t size, char *buf, size_t bufsz)
{
    static const struct { unsigned shift; char unit; } units[] = {
        { 30, 'G' }, { 20, 'M' }, { 10, 'K' },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t mask = ((uint64_t)1 << units[i].shift) - 1;
        if (size && !(size & mask)) {
            snprintf(buf, bufsz, "%" PRIu64 "%c", size >> units[i].shift, units[i].unit);
            return;
        }
    }
    snprintf(buf, bufsz, "%" PRIu64, size);
}

static int hex_digits(uint64_t v)
{
    int n = 1;
    while (v >>= 4)
        n++;
    return n;
}

static void print_mappings(const struct mapping *m, size_t n)
{
    int aw = 8, sw = 4, ow = 6;
    char size[32], off[32];

    /* Two passes: the column widths depend on the widest value. */
    for (size_t i = 0; i < n; i++) {
        if (hex_digits(m[i].end) > aw)
            aw = hex_digits(m[i].end);
        format_size(m[i].end - m[i].start, size, sizeof size);
        if ((int)strlen(size) > sw)
            sw = (int)strlen(size);
        snprintf(off, sizeof off, "0x%" PRIx64, m[i].offset);
        if ((int)strlen(off) > ow)
            ow = (int)strlen(off);
    }
    printf("%-*s  %*s  %-5s  %*s  %s\n", 2 * (aw + 2) + 1, "START-END", sw, "SIZE",
           "PERMS", ow, "OFFSET", "PATH");
    for (size_t i = 0; i < n; i++) {
        format_size(m[i].end - m[i].start, size, sizeof size);
        snprintf(off, sizeof off, "0x%" PRIx64, m[i].offset);
        printf("0x%0*" PRIx64 "-0x%0*" PRIx64 "  %*s  %-5s  %*s%s%s\n", aw, m[i].start,
               aw, m[i].end, sw, size, m[i].perms, ow, off, *m[i].path ? "  " : "",
               m[i].path);
    }
}

static int cmd_maps(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct operands ops = { 0 };
    struct mapping *maps = NULL;
    size_t n = 0, cap = 0;
    char path[64], *line = NULL;
    size_t linecap = 0;
    pid_t pid;
    int c, status = EXIT_OK;

    static const char *const names[] = { "PID" };
    optind = 0;
    for (int word = NEXT_WORD(); (c = getopt_long(argc, argv, SHORT_OPTS, opts, NULL)) != -1;
         word = NEXT_WORD()) {
        if (IS_DIGIT_OPT(c))
            return negative_operand(&ops, argv[word], names, 1);
        if (c == 1)
            add_operand(&ops, optarg);
        else if (c == 'h')
            return help();
        else
            return usage_error(NULL);
    }
    for (; optind < argc; optind++)
        add_operand(&ops, argv[optind]);
    if (!check_operands(&ops, 1, "PID") || !parse_pid(ops.v[0], &pid))
        return EXIT_USAGE;

    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        /* No /proc entry means no such process, and the exit status should
         * say so as it does for map and unmap. */
        int err = errno == ENOENT ? ESRCH : errno;
        return fail(err, "read the mappings of PID %d", (int)pid);
    }
    errno = 0;
    while (getline(&line, &linecap, f) > 0) {
        struct mapping m = { 0 };
        unsigned long long start, end, offset;
        int pathpos = 0;

        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%llx-%llx %4s %llx %*x:%*x %*u %n", &start, &end, m.perms,
                   &offset, &pathpos) < 4 || pathpos == 0)
            continue;   /* not a mapping line; the format is the kernel's ABI */
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct mapping *nm = realloc(maps, ncap * sizeof *nm);
            if (!nm) {
                status = fail(ENOMEM, "read the mappings of PID %d", (int)pid);
                goto out;
            }
            maps = nm;
            cap = ncap;
        }
        m.start = start;
        m.end = end;
        m.offset = offset;
        m.line = line;
        m.path = line + pathpos;
        maps[n++] = m;
        line = NULL;    /* now owned by maps[n - 1] */
        linecap = 0;
    }
    if (ferror(f)) {
        status = fail(errno ? errno : EIO, "read the mappings of PID %d", (int)pid);
        goto out;
    }
    print_mappings(maps, n);
out:
    fclose(f);
    free(line);
    for (size_t i = 0; i < n; i++)
        free(maps[i].line);
    free(maps);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help",    no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    static const struct {
        const char *name, *prog;
        int (*fn)(int, char **);
    } cmds[] = {
        { "map",   "peermap map",   cmd_map },
        { "unmap", "peermap unmap", cmd_unmap },
        { "maps",  "peermap maps",  cmd_maps },
        { "export", "peermap export", pm_export_main },
    };
    int c;

    /* getopt prefixes its messages with argv[0], which may be a full path. */
    argv[0] = (char *)"peermap";
    /* The library ignores a PEERMAP_ABILITIES that names an unknown ability
     * and can only say so when a call is refused; an operator's typo should
     * stop the command before it does anything. */
    const char *bad_env = pm_ability_env_problem();
    if (bad_env) {
        fprintf(stderr, "peermap: %s\n", bad_env);
        return EXIT_USAGE;
    }
    /* '+': options after the command are the command's own. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return finish_stdout(help());
        case 'V':
            printf("peermap %s\n", PEERMAP_VERSION);
            return finish_stdout(EXIT_OK);
        default:
            return usage_error(NULL);
        }
    }
    if (optind >= argc)
        return usage_error("no command given");

    const char *cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        if (optind + 1 < argc)
            return usage_error("help takes no operands");
        return finish_stdout(help());
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            argv[optind] = (char *)cmds[i].prog;
            return finish_stdout(cmds[i].fn(argc - optind, argv + optind));
        }
    }
    return usage_error("unknown command '%s'", cmd);
}
