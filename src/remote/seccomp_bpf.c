/* A classic-BPF interpreter for seccomp programs (seccomp's subset). */
#include <string.h>

#include "remote/seccomp_bpf.h"

#define BAD SECCOMP_RET_KILL_PROCESS

/* 32-bit word at byte offset k of the seccomp_data, as BPF_LD|BPF_ABS sees it. */
static int load_word(const struct seccomp_data *d, uint32_t k, uint32_t *out)
{
    if (k % 4 || k > sizeof *d - 4)
        return -1;
    memcpy(out, (const char *)d + k, 4);
    return 0;
}

uint32_t pm_bpf_run(const struct sock_filter *prog, size_t len,
                    const struct seccomp_data *d)
{
    uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };

    /* Jumps only go forward, so a program ends within `len` steps. */
    for (size_t pc = 0; pc < len; pc++) {
        const struct sock_filter *f = &prog[pc];
        uint32_t k = f->k, src = BPF_SRC(f->code) == BPF_X ? X : k;

        switch (BPF_CLASS(f->code)) {
        case BPF_LD:
        case BPF_LDX: {
            uint32_t v;
            switch (BPF_MODE(f->code)) {
            case BPF_ABS:
                if (BPF_CLASS(f->code) != BPF_LD || BPF_SIZE(f->code) != BPF_W ||
                    load_word(d, k, &v) < 0)
                    return BAD;
                break;
            case BPF_IMM:
                v = k;
                break;
            case BPF_MEM:
                if (k >= BPF_MEMWORDS)
                    return BAD;
                v = M[k];
                break;
            case BPF_LEN:
                v = sizeof *d;
                break;
            default:
                return BAD;
            }
            if (BPF_CLASS(f->code) == BPF_LD)
                A = v;
            else
                X = v;
            break;
        }
        case BPF_ST:
        case BPF_STX:
            if (k >= BPF_MEMWORDS)
                return BAD;
            M[k] = BPF_CLASS(f->code) == BPF_ST ? A : X;
            break;
        case BPF_ALU:
            switch (BPF_OP(f->code)) {
            case BPF_ADD: A += src; break;
            case BPF_SUB: A -= src; break;
            case BPF_MUL: A *= src; break;
            case BPF_DIV: if (!src) return BAD; A /= src; break;
            case BPF_MOD: if (!src) return BAD; A %= src; break;
            case BPF_OR:  A |= src; break;
            case BPF_AND: A &= src; break;
            case BPF_XOR: A ^= src; break;
            case BPF_LSH: A = src >= 32 ? 0 : A << src; break;
            case BPF_RSH: A = src >= 32 ? 0 : A >> src; break;
            case BPF_NEG: A = -A; break;
            default: return BAD;
            }
            break;
        case BPF_JMP: {
            size_t off;
            switch (BPF_OP(f->code)) {
            case BPF_JA:  off = k; break;
            case BPF_JEQ: off = A == src ? f->jt : f->jf; break;
            case BPF_JGT: off = A > src ? f->jt : f->jf; break;
            case BPF_JGE: off = A >= src ? f->jt : f->jf; break;
            case BPF_JSET: off = (A & src) ? f->jt : f->jf; break;
            default: return BAD;
            }
            if (off >= len - pc)
                return BAD;
            pc += off;
            break;
        }
        case BPF_RET:
            if (BPF_RVAL(f->code) == BPF_K)
                return k;
            if (BPF_RVAL(f->code) == BPF_A)
                return A;
            return BAD;
        case BPF_MISC:
            if (BPF_MISCOP(f->code) == BPF_TAX)
                X = A;
            else if (BPF_MISCOP(f->code) == BPF_TXA)
                A = X;
            else
                return BAD;
            break;
        default:
            return BAD;
        }
    }
    return BAD; /* fell off the end: the kernel would never have accepted it */
}

int pm_seccomp_worse(uint32_t a, uint32_t b)
{
    /* The kernel's order: compare the action bits as signed numbers, so
     * that KILL_PROCESS (0x80000000) comes first and ALLOW last. */
    return (int32_t)(a & SECCOMP_RET_ACTION_FULL) < (int32_t)(b & SECCOMP_RET_ACTION_FULL);
}
