/*
 * libFuzzer target: what the path space reads that someone else wrote -
 * entry records and names (pathspace_format.c), read by every client from
 * the directories of the users it believes, and the policy file's text
 * (trust/policy.c).
 *
 * Input: byte 0 picks the decoder (mod 3), the rest is the text.
 * Properties: no crash, no sanitizer or leak report, and what an accepted
 * input promises:
 *   - a record: its path is absolute and NUL-free, and formatting it again
 *     gives a record that parses to the same fields;
 *   - a name or a bucket name: formatting it again and parsing gives the
 *     same fields;
 *   - a policy: every grant is to a user other than root, for a normalised
 *     absolute path (no "//", no "." or "..", no trailing "/" but "/"),
 *     and the limits are within their range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const uint8_t *data, size_t len)
{
    static char buf[PM_PS_RECORD_MAX + 1], again[PM_PS_RECORD_MAX + 1];
    static struct pm_ps_record r, r2;
    if (len > PM_PS_RECORD_MAX)
        return;
    memcpy(buf, data, len);
    if (pm_ps_record_parse(buf, len, &r) < 0)
        return;
    if (r.path[0] != '/')
        abort();
    int n = pm_ps_record_format(&r, again, sizeof again);
    if (n < 0 || pm_ps_record_parse(again, (size_t)n, &r2) < 0)
        abort();
    if (r.seq != r2.seq || r.pid != r2.pid || r.start != r2.start || r.uid != r2.uid ||
        r.chid != r2.chid || r.handle != r2.handle || r.flags != r2.flags ||
        r.mode != r2.mode || strcmp(r.path, r2.path) != 0)
        abort();
}

static void check_names(const uint8_t *data, size_t len)
{
    char s[PM_PS_NAME_MAX], out[PM_PS_NAME_MAX];
    struct pm_ps_name n, n2;
    uint64_t h, h2;
    if (len >= sizeof s)
        return;
    memcpy(s, data, len);
    s[len] = 0;
    if (pm_ps_name_parse(s, &n) == 0) {
        pm_ps_name_format(&n, out);
        if (pm_ps_name_parse(out, &n2) < 0 || n.seq != n2.seq || n.pid != n2.pid ||
            n.start != n2.start || n.flags != n2.flags || n.rnd != n2.rnd)
            abort();
    }
    if (pm_ps_bucket_parse(s, &h) == 0) {
        char b[17];
        pm_ps_bucket_name(h, b);
        if (pm_ps_bucket_parse(b, &h2) < 0 || h != h2 || strcmp(b, s) != 0)
            abort();
    }
}

static void check_policy(const uint8_t *data, size_t len)
{
    struct pm_policy p;
    memset(&p, 0, sizeof p);
    if (pm_policy_parse((const char *)data, len, &p) < 0)
        return;
    for (size_t i = 0; i < p.nrules; i++) {
        const struct pm_policy_rule *r = &p.rules[i];
        if (r->uid == 0 || r->len != strlen(r->prefix) || r->prefix[0] != '/' ||
            strstr(r->prefix, "//") || strstr(r->prefix, "/./") || strstr(r->prefix, "/../") ||
            (r->len > 1 && r->prefix[r->len - 1] == '/'))
            abort();
        size_t rl;
        if (!pm_policy_trusts(&p, 12345, r->uid, r->prefix, r->len, &rl) || rl > r->len)
            abort();
    }
    if (p.paths_per_user < 1 || p.paths_per_user > PM_POLICY_LIMIT_MAX ||
        p.entries_per_path < 1 || p.entries_per_path > PM_POLICY_LIMIT_MAX)
        abort();
    pm_policy_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: check_record(data + 1, size - 1); break;
    case 1: check_names(data + 1, size - 1); break;
    case 2: check_policy(data + 1, size - 1); break;
    }
    return 0;
}
