/*
 * The two things derived from a handle: the name its creator listens on,
 * and the proof in the creator's answer.  Both are SHA-256 with a label of
 * their own, so neither can stand in for the other.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "shm/shm.h"

static void put_handle(struct pm_sha256 *c, shm_handle_t h)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(h >> (8 * i));
    pm_sha256_update(c, b, sizeof b);
}

void pm_shm_name(shm_handle_t h, char out[PM_SHM_NAME_LEN + 1])
{
    static const char label[] = "peermap shm handle name v1";
    struct pm_sha256 c;
    uint8_t d[32];
    pm_sha256_init(&c);
    pm_sha256_update(&c, label, sizeof label);
    put_handle(&c, h);
    pm_sha256_final(&c, d);
    int n = snprintf(out, PM_SHM_NAME_LEN + 1, "peermap-shm-");
    for (int i = 0; i < 16; i++)
        n += snprintf(out + n, (size_t)(PM_SHM_NAME_LEN + 1 - n), "%02x", d[i]);
}

void pm_shm_proof(shm_handle_t h, const struct pm_shm_req *rq,
                  const struct pm_shm_reply *rp, uint8_t out[32])
{
    static const char label[] = "peermap shm handle proof v1";
    struct pm_sha256 c;
    pm_sha256_init(&c);
    pm_sha256_update(&c, label, sizeof label);
    put_handle(&c, h);
    pm_sha256_update(&c, rq, sizeof *rq);
    pm_sha256_update(&c, rp, offsetof(struct pm_shm_reply, proof));
    pm_sha256_final(&c, out);
}

int pm_shm_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

int pm_shm_req_parse(const void *buf, ssize_t n, struct pm_shm_req *out)
{
    if (n != (ssize_t)sizeof *out)
        return -1;
    memcpy(out, buf, sizeof *out);
    if (out->magic != PM_SHM_MAGIC || out->version != PM_SHM_VERSION || out->zero != 0)
        return -1;
    if (out->op < PM_SHM_OP_OPEN || out->op > PM_SHM_OP_DELETE)
        return -1;
    if (out->op != PM_SHM_OP_DELETE && out->access != O_RDONLY &&
        out->access != O_WRONLY && out->access != O_RDWR)
        return -1;
    return 0;
}

int pm_shm_reply_parse(shm_handle_t h, const struct pm_shm_req *rq, const void *buf,
                       ssize_t n, struct pm_shm_reply *out)
{
    if (n != (ssize_t)sizeof *out)
        return -1;
    memcpy(out, buf, sizeof *out);
    uint8_t want[32];
    pm_shm_proof(h, rq, out, want);
    if (out->magic != PM_SHM_MAGIC || !pm_shm_equal(want, out->proof, sizeof want))
        return -1;
    /* Proven, but still checked: an errno the caller can take. */
    if (out->err < 0 || out->err > 4095)
        return -1;
    return 0;
}
