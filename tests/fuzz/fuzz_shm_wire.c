/*
 * libFuzzer target: the two judges of the shared-memory handle protocol
 * (shm/shm.h), which read what another, possibly hostile, process sent:
 *   pm_shm_req_parse()    the creator judging a recipient's request;
 *   pm_shm_reply_parse()  a recipient judging an answer, which anyone who
 *                         bound the handle's name after its creator died
 *                         could have sent.
 *
 * Input: 8 bytes of handle, then bytes judged as a request, and the same
 * bytes (after the first 32, the request's size) judged as an answer to a
 * fixed request.
 *
 * Properties (abort() on violation): deterministic; an accepted request has
 * the magic, the version, a known operation and (but for delete) one access
 * mode; an accepted answer carries exactly the proof pm_shm_proof() computes
 * (so a random answer is accepted with probability 2^-256) and an errno in
 * 0..4095; an answer built with the right proof is accepted.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    shm_handle_t h;
    memcpy(&h, data, 8);
    data += 8;
    size -= 8;

    struct pm_shm_req rq, rq2;
    int a = pm_shm_req_parse(data, (ssize_t)size, &rq);
    int b = pm_shm_req_parse(data, (ssize_t)size, &rq2);
    if (a != b)
        abort();
    if (a == 0) {
        if (rq.magic != PM_SHM_MAGIC || rq.version != PM_SHM_VERSION || rq.zero)
            abort();
        if (rq.op < PM_SHM_OP_OPEN || rq.op > PM_SHM_OP_DELETE)
            abort();
        if (rq.op != PM_SHM_OP_DELETE && rq.access != O_RDONLY &&
            rq.access != O_WRONLY && rq.access != O_RDWR)
            abort();
    }

    const struct pm_shm_req fixed = { .magic = PM_SHM_MAGIC, .version = PM_SHM_VERSION,
                                      .op = PM_SHM_OP_MAP, .access = O_RDONLY,
                                      .nonce = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } };
    const uint8_t *ans = size > sizeof rq ? data + sizeof rq : data;
    size_t an = size > sizeof rq ? size - sizeof rq : size;
    struct pm_shm_reply rp;
    if (pm_shm_reply_parse(h, &fixed, ans, (ssize_t)an, &rp) == 0) {
        uint8_t want[32];
        pm_shm_proof(h, &fixed, &rp, want);
        if (memcmp(want, rp.proof, 32) || rp.err < 0 || rp.err > 4095 ||
            rp.magic != PM_SHM_MAGIC)
            abort();
    }
    /* The same fields with the right proof must pass (err made valid). */
    if (an >= sizeof rp) {
        memcpy(&rp, ans, sizeof rp);
        rp.magic = PM_SHM_MAGIC;
        rp.err = (int32_t)((uint32_t)rp.err % 4096);
        pm_shm_proof(h, &fixed, &rp, rp.proof);
        struct pm_shm_reply out;
        if (pm_shm_reply_parse(h, &fixed, &rp, sizeof rp, &out) != 0 ||
            memcmp(&out, &rp, sizeof rp))
            abort();
    }
    return 0;
}
