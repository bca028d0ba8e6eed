/*
 * libFuzzer target: the two judges of the in-band protocol (msg/inband.h),
 * which read what another, possibly hostile, process wrote:
 *   pm_inband_check_op()     a client (or agent) judging a server's request
 *                            before it calls mmap()/munmap() with it;
 *   pm_inband_answer_sane()  a server judging a client's answer before
 *                            mmap_peer() returns the address in it.
 *
 * Input: byte 0 bit 0 = has_obj; then a struct pm_inband_req; then a struct
 * pm_inband_ans (missing bytes are zeros).  The checks run for process 1000
 * at time 5000 ns.
 *
 * Properties (abort() on violation): deterministic; a request accepted for
 * doing is exactly a map or an unmap for process 1000, not past its
 * deadline, of a non-zero length, at a page-aligned address; a map has only
 * the known flags and protections, an object exactly when not anonymous,
 * and a page-aligned offset >= 0; an unmap carries no object.  An accepted
 * answer is a refusal code 1..4, or an errno 1..4095, or (done) for an
 * unmap the address 0, for a map a non-null page-aligned user address whose
 * range does not wrap, equal to the one asked for under MAP_FIXED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "msg/inband.h"

#define SELF 1000
#define NOW 5000
#define PAGE 4096u
#define KNOWN (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE | MAP_FIXED | \
               MAP_FIXED_NOREPLACE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE | \
               MAP_LOCKED | MAP_32BIT | MAP_HUGETLB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pm_inband_req rq;
    struct pm_inband_ans a;
    unsigned char raw[1 + sizeof rq + sizeof a] = { 0 };
    memcpy(raw, data, size < sizeof raw ? size : sizeof raw);
    int has_obj = raw[0] & 1;
    memcpy(&rq, raw + 1, sizeof rq);
    memcpy(&a, raw + 1 + sizeof rq, sizeof a);

    int v = pm_inband_check_op(&rq, has_obj, SELF, NOW);
    if (v != pm_inband_check_op(&rq, has_obj, SELF, NOW))
        abort();
    if (v < PM_INBAND_DONE || v > PM_INBAND_REFUSED_BAD)
        abort();
    if (v == PM_INBAND_DONE) {
        if (rq.pid != SELF || rq.deadline_ns < NOW || rq.len == 0 || (rq.addr % PAGE))
            abort();
        if (rq.op == PM_INBAND_UNMAP) {
            if (has_obj || rq.has_fd)
                abort();
        } else if (rq.op == PM_INBAND_MAP) {
            int anon = (rq.flags & MAP_ANONYMOUS) != 0;
            if ((rq.flags & ~KNOWN) || (rq.prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
                anon == has_obj || (rq.has_fd != 0) != has_obj || rq.off < 0 ||
                (rq.off % PAGE))
                abort();
        } else {
            abort();
        }
    }

    int ok = pm_inband_answer_sane(&rq, &a);
    if (ok != pm_inband_answer_sane(&rq, &a) || (ok != 0 && ok != 1))
        abort();
    if (ok) {
        if (a.refused) {
            if (a.refused < 1 || a.refused > PM_INBAND_REFUSED_BAD)
                abort();
        } else if (a.err) {
            if (a.err < 1 || a.err > 4095)
                abort();
        } else if (rq.op == PM_INBAND_UNMAP) {
            if (a.addr != 0)
                abort();
        } else {
            if (a.addr == 0 || (a.addr % PAGE) || a.addr >= (1ull << 57) ||
                a.addr + rq.len < a.addr)
                abort();
            if ((rq.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && a.addr != rq.addr)
                abort();
        }
    }
    return 0;
}
