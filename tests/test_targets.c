/*
 * mmap_peer() on targets in every state the issue names.  Each test checks
 * both that the call did what it should and that the target carried on as if
 * nothing had happened.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"

/* Memory shared between the test and its targets, made before fork. */
static void *shared_page(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* One map + check + unmap cycle; returns 0 when all went right. */
static int map_cycle(pid_t pid)
{
    void *p = mmap_peer(pid, NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "  mmap_peer(%d): %s: %s\n", (int)pid, strerror(errno), peermap_errmsg());
        return -1;
    }
    int ok = maps_has(pid, (uintptr_t)p, 8192, "rw-s") == 1;
    if (munmap_peer(pid, p, 8192) < 0) {
        fprintf(stderr, "  munmap_peer: %s: %s\n", strerror(errno), peermap_errmsg());
        return -1;
    }
    return ok ? 0 : -1;
}

/* The SigBlk line of /proc/pid/status: the mask must survive every call. */
static unsigned long long sigblk(pid_t pid)
{
    char path[64], line[256];
    unsigned long long v = ~0ull;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- busy in user space ---- */

struct spin { atomic_ulong counter; atomic_int stop, ask; };

/* Counts, and answers from its loop when asked (the counter having moved
 * since the question). */
static int spinner_body(int in, int out, void *arg)
{
    (void)in;
    struct spin *s = arg;
    child_write_full(out, "R", 1);
    while (!atomic_load(&s->stop)) {
        int asked = atomic_exchange(&s->ask, 0);
        atomic_fetch_add(&s->counter, 1);
        if (asked)
            child_write_full(out, "A", 1);
    }
    return 0;
}

TEST(busy_target_keeps_running)
{
    struct spin *s = shared_page(4096);
    REQUIRE(s);
    struct target t;
    REQUIRE(target_start_ready(&t, spinner_body, s) >= 0);
    for (int i = 0; i < 50; i++)
        CHECK(map_cycle(t.pid) == 0);
    unsigned long before = atomic_load(&s->counter);
    /* It still runs: asked, it answers from its loop, and has counted. */
    atomic_store(&s->ask, 1);
    char a;
    CHECK(target_read(&t, &a, 1, 10000) == 0 && a == 'A');
    CHECK(atomic_load(&s->counter) != before);
    atomic_store(&s->stop, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    munmap(s, 4096);
}

/* ---- every register survives, in user space and after failures ---- */

struct regcheck { atomic_ulong rounds, until; atomic_int broken; atomic_int stop; };

/* After a round: once `until` rounds are done, say so (once). */
static void rounds_reached(struct regcheck *rc, int out)
{
    unsigned long u = atomic_load(&rc->until);
    if (u && atomic_load(&rc->rounds) >= u && atomic_compare_exchange_strong(&rc->until, &u, 0))
        child_write_full(out, "A", 1);
}

/* Spins with known values in every general register it can claim, checking
 * them each round: any register we failed to restore breaks the loop. */
static int regcheck_body(int in, int out, void *arg)
{
    (void)in;
    struct regcheck *rc = arg;
    child_write_full(out, "R", 1);
#if defined(__x86_64__)
    while (!atomic_load(&rc->stop)) {
        unsigned long bad;
        __asm__ volatile(
            "mov $0x1111111111111111, %%r8\n\t"
            "mov $0x2222222222222222, %%r9\n\t"
            "mov $0x3333333333333333, %%r10\n\t"
            "mov $0x4444444444444444, %%r11\n\t"
            "mov $0x5555555555555555, %%r12\n\t"
            "mov $0x6666666666666666, %%r13\n\t"
            "mov $0x7777777777777777, %%r14\n\t"
            "mov $0x8888888888888888, %%r15\n\t"
            "mov $0x9999999999999999, %%rsi\n\t"
            "mov $0xaaaaaaaaaaaaaaaa, %%rdi\n\t"
            "mov $100000, %%ecx\n\t"
            "1:\n\t"
            "mov $0x1111111111111111, %%rax\n\t cmp %%rax, %%r8\n\t jne 2f\n\t"
            "mov $0x2222222222222222, %%rax\n\t cmp %%rax, %%r9\n\t jne 2f\n\t"
            "mov $0x3333333333333333, %%rax\n\t cmp %%rax, %%r10\n\t jne 2f\n\t"
            "mov $0x4444444444444444, %%rax\n\t cmp %%rax, %%r11\n\t jne 2f\n\t"
            "mov $0x5555555555555555, %%rax\n\t cmp %%rax, %%r12\n\t jne 2f\n\t"
            "mov $0x6666666666666666, %%rax\n\t cmp %%rax, %%r13\n\t jne 2f\n\t"
            "mov $0x7777777777777777, %%rax\n\t cmp %%rax, %%r14\n\t jne 2f\n\t"
            "mov $0x8888888888888888, %%rax\n\t cmp %%rax, %%r15\n\t jne 2f\n\t"
            "mov $0x9999999999999999, %%rax\n\t cmp %%rax, %%rsi\n\t jne 2f\n\t"
            "mov $0xaaaaaaaaaaaaaaaa, %%rax\n\t cmp %%rax, %%rdi\n\t jne 2f\n\t"
            "dec %%ecx\n\t"
            "jnz 1b\n\t"
            "xor %%eax, %%eax\n\t"
            "jmp 3f\n\t"
            "2: mov $1, %%eax\n\t"
            "3:\n\t"
            : "=a"(bad)
            :
            : "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
              "r14", "r15", "cc", "memory");
        if (bad)
            atomic_store(&rc->broken, 1);
        atomic_fetch_add(&rc->rounds, 1);
        rounds_reached(rc, out);
    }
#else
    while (!atomic_load(&rc->stop)) {
        atomic_fetch_add(&rc->rounds, 1);
        rounds_reached(rc, out);
    }
#endif
    return 0;
}

TEST(registers_survive_success_and_failure)
{
    struct regcheck *rc = shared_page(4096);
    REQUIRE(rc);
    struct target t;
    REQUIRE(target_start_ready(&t, regcheck_body, rc) >= 0);
    for (int i = 0; i < 200; i++) {
        CHECK(map_cycle(t.pid) == 0);
        /* and a call that fails inside the target */
        CHECK(mmap_peer(t.pid, NULL, (size_t)1 << 50, PROT_READ, MAP_PRIVATE,
                        NOFD, 0) == MAP_FAILED);
    }
    /* Two whole rounds of checks after the calls: it says when. */
    unsigned long before = atomic_load(&rc->rounds);
    atomic_store(&rc->until, before + 2);
    char a;
    CHECK(target_read(&t, &a, 1, 10000) == 0 && a == 'A');
    atomic_store(&rc->stop, 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    CHECK_EQ_LONG(atomic_load(&rc->broken), 0);
    CHECK(atomic_load(&rc->rounds) >= before + 2);
    munmap(rc, 4096);
}

/* ---- every register, after 1,000 calls into a thread blocked in read ----
 *
 * pm_regcheck_read(fd, buf, area) loads a known value into every register it
 * may (general, vector, flags, FP status/control), reads one byte from fd
 * with a raw system call (blocking: the calls below interrupt it), and
 * stores every register as it came back into area (its stack pointer while
 * blocked is area itself), before restoring the callee-saved ones.  The
 * kernel keeps them all across a system call, but for the result and, on
 * x86_64, rcx and r11, so any difference is ours. */
#define REGCHECK_AREA 1024
void pm_regcheck_read(int fd, void *buf, void *area);
#if defined(__aarch64__)
__asm__(
    ".text\n"
    ".global pm_regcheck_read\n"
    ".type pm_regcheck_read, %function\n"
    "pm_regcheck_read:\n"
    "  stp x29, x30, [sp, #-176]!\n"
    "  stp x19, x20, [sp, #16]\n"
    "  stp x21, x22, [sp, #32]\n"
    "  stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n"
    "  stp x27, x28, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n"
    "  stp d10, d11, [sp, #112]\n"
    "  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mrs x9, fpsr\n  mrs x10, fpcr\n  str x9, [x2, #992]\n  str x10, [x2, #1000]\n"
    "  mov x9, sp\n  str x9, [x2, #1008]\n  mov sp, x2\n"
    "  movi v0.16b, #33\n"
    "  movi v1.16b, #38\n"
    "  movi v2.16b, #43\n"
    "  movi v3.16b, #48\n"
    "  movi v4.16b, #53\n"
    "  movi v5.16b, #58\n"
    "  movi v6.16b, #63\n"
    "  movi v7.16b, #68\n"
    "  movi v8.16b, #73\n"
    "  movi v9.16b, #78\n"
    "  movi v10.16b, #83\n"
    "  movi v11.16b, #88\n"
    "  movi v12.16b, #93\n"
    "  movi v13.16b, #98\n"
    "  movi v14.16b, #103\n"
    "  movi v15.16b, #108\n"
    "  movi v16.16b, #113\n"
    "  movi v17.16b, #118\n"
    "  movi v18.16b, #123\n"
    "  movi v19.16b, #128\n"
    "  movi v20.16b, #133\n"
    "  movi v21.16b, #138\n"
    "  movi v22.16b, #143\n"
    "  movi v23.16b, #148\n"
    "  movi v24.16b, #153\n"
    "  movi v25.16b, #158\n"
    "  movi v26.16b, #163\n"
    "  movi v27.16b, #168\n"
    "  movi v28.16b, #173\n"
    "  movi v29.16b, #178\n"
    "  movi v30.16b, #183\n"
    "  movi v31.16b, #188\n"
    "  ldr x9, =0x0800009f\n  msr fpsr, x9\n  ldr x9, =0x00c00000\n  msr fpcr, x9\n"
    "  ldr x9, =0xa0000000\n  msr nzcv, x9\n"
    "  ldr x3, =0x1013131313131349\n"
    "  ldr x4, =0x101414141414144e\n"
    "  ldr x5, =0x101515151515154f\n"
    "  ldr x6, =0x101616161616164c\n"
    "  ldr x7, =0x101717171717174d\n"
    "  ldr x9, =0x1019191919191943\n"
    "  ldr x10, =0x101a1a1a1a1a1a40\n"
    "  ldr x11, =0x101b1b1b1b1b1b41\n"
    "  ldr x12, =0x101c1c1c1c1c1c46\n"
    "  ldr x13, =0x101d1d1d1d1d1d47\n"
    "  ldr x14, =0x101e1e1e1e1e1e44\n"
    "  ldr x15, =0x101f1f1f1f1f1f45\n"
    "  ldr x16, =0x302020202020207a\n"
    "  ldr x17, =0x302121212121217b\n"
    "  ldr x18, =0x3022222222222278\n"
    "  ldr x19, =0x3023232323232379\n"
    "  ldr x20, =0x302424242424247e\n"
    "  ldr x21, =0x302525252525257f\n"
    "  ldr x22, =0x302626262626267c\n"
    "  ldr x23, =0x302727272727277d\n"
    "  ldr x24, =0x3028282828282872\n"
    "  ldr x25, =0x3029292929292973\n"
    "  ldr x26, =0x302a2a2a2a2a2a70\n"
    "  ldr x27, =0x302b2b2b2b2b2b71\n"
    "  ldr x28, =0x302c2c2c2c2c2c76\n"
    "  ldr x29, =0x302d2d2d2d2d2d77\n"
    "  ldr x30, =0x302e2e2e2e2e2e74\n"
    "  mov x2, #1\n  mov x8, #63\n"
    "  svc #0\n"
    "  stp x0, x1, [sp, #0]\n"
    "  stp x2, x3, [sp, #16]\n"
    "  stp x4, x5, [sp, #32]\n"
    "  stp x6, x7, [sp, #48]\n"
    "  stp x8, x9, [sp, #64]\n"
    "  stp x10, x11, [sp, #80]\n"
    "  stp x12, x13, [sp, #96]\n"
    "  stp x14, x15, [sp, #112]\n"
    "  stp x16, x17, [sp, #128]\n"
    "  stp x18, x19, [sp, #144]\n"
    "  stp x20, x21, [sp, #160]\n"
    "  stp x22, x23, [sp, #176]\n"
    "  stp x24, x25, [sp, #192]\n"
    "  stp x26, x27, [sp, #208]\n"
    "  stp x28, x29, [sp, #224]\n"
    "  str x30, [sp, #240]\n"
    "  mov x0, sp\n  str x0, [sp, #248]\n  mrs x0, nzcv\n  str x0, [sp, #256]\n"
    "  mrs x0, fpsr\n  str x0, [sp, #264]\n  mrs x0, fpcr\n  str x0, [sp, #272]\n"
    "  stp q0, q1, [sp, #288]\n"
    "  stp q2, q3, [sp, #320]\n"
    "  stp q4, q5, [sp, #352]\n"
    "  stp q6, q7, [sp, #384]\n"
    "  stp q8, q9, [sp, #416]\n"
    "  stp q10, q11, [sp, #448]\n"
    "  stp q12, q13, [sp, #480]\n"
    "  stp q14, q15, [sp, #512]\n"
    "  stp q16, q17, [sp, #544]\n"
    "  stp q18, q19, [sp, #576]\n"
    "  stp q20, q21, [sp, #608]\n"
    "  stp q22, q23, [sp, #640]\n"
    "  stp q24, q25, [sp, #672]\n"
    "  stp q26, q27, [sp, #704]\n"
    "  stp q28, q29, [sp, #736]\n"
    "  stp q30, q31, [sp, #768]\n"
    "  ldr x9, [sp, #992]\n  ldr x10, [sp, #1000]\n  msr fpsr, x9\n  msr fpcr, x10\n"
    "  ldr x9, [sp, #1008]\n  mov sp, x9\n"
    "  ldp x19, x20, [sp, #16]\n"
    "  ldp x21, x22, [sp, #32]\n"
    "  ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n"
    "  ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n"
    "  ldp d10, d11, [sp, #112]\n"
    "  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  ldp x29, x30, [sp], #176\n  ret\n"
    "  .ltorg\n"
    ".size pm_regcheck_read, .-pm_regcheck_read\n"
);
#elif defined(__x86_64__)
__asm__(
    ".text\n"
    ".global pm_regcheck_read\n"
    ".type pm_regcheck_read, @function\n"
    "pm_regcheck_read:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, 1008(%rdx)\n  mov %rdx, %rsp\n"
    "  movabs $0x1038383838383862, %rax\n  movq %rax, %xmm0\n  movlhps %xmm0, %xmm0\n"
    "  movabs $0x1039393939393963, %rax\n  movq %rax, %xmm1\n  movlhps %xmm1, %xmm1\n"
    "  movabs $0x103a3a3a3a3a3a60, %rax\n  movq %rax, %xmm2\n  movlhps %xmm2, %xmm2\n"
    "  movabs $0x103b3b3b3b3b3b61, %rax\n  movq %rax, %xmm3\n  movlhps %xmm3, %xmm3\n"
    "  movabs $0x103c3c3c3c3c3c66, %rax\n  movq %rax, %xmm4\n  movlhps %xmm4, %xmm4\n"
    "  movabs $0x103d3d3d3d3d3d67, %rax\n  movq %rax, %xmm5\n  movlhps %xmm5, %xmm5\n"
    "  movabs $0x103e3e3e3e3e3e64, %rax\n  movq %rax, %xmm6\n  movlhps %xmm6, %xmm6\n"
    "  movabs $0x103f3f3f3f3f3f65, %rax\n  movq %rax, %xmm7\n  movlhps %xmm7, %xmm7\n"
    "  movabs $0x704040404040401a, %rax\n  movq %rax, %xmm8\n  movlhps %xmm8, %xmm8\n"
    "  movabs $0x704141414141411b, %rax\n  movq %rax, %xmm9\n  movlhps %xmm9, %xmm9\n"
    "  movabs $0x7042424242424218, %rax\n  movq %rax, %xmm10\n  movlhps %xmm10, %xmm10\n"
    "  movabs $0x7043434343434319, %rax\n  movq %rax, %xmm11\n  movlhps %xmm11, %xmm11\n"
    "  movabs $0x704444444444441e, %rax\n  movq %rax, %xmm12\n  movlhps %xmm12, %xmm12\n"
    "  movabs $0x704545454545451f, %rax\n  movq %rax, %xmm13\n  movlhps %xmm13, %xmm13\n"
    "  movabs $0x704646464646461c, %rax\n  movq %rax, %xmm14\n  movlhps %xmm14, %xmm14\n"
    "  movabs $0x704747474747471d, %rax\n  movq %rax, %xmm15\n  movlhps %xmm15, %xmm15\n"
    "  movabs $0x1013131313131349, %rbx\n"
    "  movabs $0x101414141414144e, %rbp\n"
    "  movabs $0x101515151515154f, %r8\n"
    "  movabs $0x101616161616164c, %r9\n"
    "  movabs $0x101717171717174d, %r10\n"
    "  movabs $0x1018181818181842, %r12\n"
    "  movabs $0x1019191919191943, %r13\n"
    "  movabs $0x101a1a1a1a1a1a40, %r14\n"
    "  movabs $0x101b1b1b1b1b1b41, %r15\n"
    "  push $0x8d7\n  popfq\n  mov $1, %edx\n  mov $0, %eax\n"
    "  syscall\n"
    "  pushfq\n  pop 136(%rsp)\n  mov %rax, 0(%rsp)\n"
    "  mov %rbx, 8(%rsp)\n"
    "  mov %rbp, 16(%rsp)\n"
    "  mov %r8, 24(%rsp)\n"
    "  mov %r9, 32(%rsp)\n"
    "  mov %r10, 40(%rsp)\n"
    "  mov %r12, 48(%rsp)\n"
    "  mov %r13, 56(%rsp)\n"
    "  mov %r14, 64(%rsp)\n"
    "  mov %r15, 72(%rsp)\n"
    "  mov %rdi, 80(%rsp)\n"
    "  mov %rsi, 88(%rsp)\n"
    "  mov %rdx, 96(%rsp)\n"
    "  mov %rsp, 104(%rsp)\n"
    "  movdqu %xmm0, 288(%rsp)\n"
    "  movdqu %xmm1, 304(%rsp)\n"
    "  movdqu %xmm2, 320(%rsp)\n"
    "  movdqu %xmm3, 336(%rsp)\n"
    "  movdqu %xmm4, 352(%rsp)\n"
    "  movdqu %xmm5, 368(%rsp)\n"
    "  movdqu %xmm6, 384(%rsp)\n"
    "  movdqu %xmm7, 400(%rsp)\n"
    "  movdqu %xmm8, 416(%rsp)\n"
    "  movdqu %xmm9, 432(%rsp)\n"
    "  movdqu %xmm10, 448(%rsp)\n"
    "  movdqu %xmm11, 464(%rsp)\n"
    "  movdqu %xmm12, 480(%rsp)\n"
    "  movdqu %xmm13, 496(%rsp)\n"
    "  movdqu %xmm14, 512(%rsp)\n"
    "  movdqu %xmm15, 528(%rsp)\n"
    "  mov 1008(%rsp), %rsp\n  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n  ret\n"
    ".size pm_regcheck_read, .-pm_regcheck_read\n"
);
#endif

static int regcheck_syscall_body(int in, int out, void *arg)
{
    (void)arg;
    static _Alignas(16) uint64_t area[REGCHECK_AREA / 8];
    char byte = 0;
    child_write_full(out, "R", 1);
    pm_regcheck_read(in, &byte, area);
    /* Report which slots differ: index, got, expected; then a terminator. */
    uint64_t want[REGCHECK_AREA / 8];
    int check[REGCHECK_AREA / 8] = { 0 };
    memset(want, 0, sizeof want);
#if defined(__aarch64__)
    static const uint64_t pattern[31] = { [3] = 0x1013131313131349ULL, [4] = 0x101414141414144eULL, [5] = 0x101515151515154fULL, [6] = 0x101616161616164cULL, [7] = 0x101717171717174dULL, [9] = 0x1019191919191943ULL, [10] = 0x101a1a1a1a1a1a40ULL, [11] = 0x101b1b1b1b1b1b41ULL, [12] = 0x101c1c1c1c1c1c46ULL, [13] = 0x101d1d1d1d1d1d47ULL, [14] = 0x101e1e1e1e1e1e44ULL, [15] = 0x101f1f1f1f1f1f45ULL, [16] = 0x302020202020207aULL, [17] = 0x302121212121217bULL, [18] = 0x3022222222222278ULL, [19] = 0x3023232323232379ULL, [20] = 0x302424242424247eULL, [21] = 0x302525252525257fULL, [22] = 0x302626262626267cULL, [23] = 0x302727272727277dULL, [24] = 0x3028282828282872ULL, [25] = 0x3029292929292973ULL, [26] = 0x302a2a2a2a2a2a70ULL, [27] = 0x302b2b2b2b2b2b71ULL, [28] = 0x302c2c2c2c2c2c76ULL, [29] = 0x302d2d2d2d2d2d77ULL, [30] = 0x302e2e2e2e2e2e74ULL };
    for (int n = 0; n < 31; n++) {
        want[n] = pattern[n];
        check[n] = 1;
    }
    want[0] = 1;                          /* read's result */
    want[1] = (uintptr_t)&byte;           /* its arguments, kept */
    want[2] = 1;
    want[8] = 63;                         /* __NR_read, kept */
    want[31] = (uintptr_t)area;           /* sp */
    want[32] = 0xa0000000;                /* nzcv */
    want[33] = 0x0800009f;                /* fpsr */
    want[34] = 0x00c00000;                /* fpcr */
    check[31] = check[32] = check[33] = check[34] = 1;
    for (int n = 0; n < 32; n++) {       /* v0..v31, both halves */
        uint64_t b = (uint64_t)((0x21 + 5 * n) & 0xff) * 0x0101010101010101ULL;
        want[36 + 2 * n] = want[37 + 2 * n] = b;
        check[36 + 2 * n] = check[37 + 2 * n] = 1;
    }
#elif defined(__x86_64__)
    static const uint64_t pattern[9] = { 0x1013131313131349ULL, 0x101414141414144eULL, 0x101515151515154fULL, 0x101616161616164cULL, 0x101717171717174dULL, 0x1018181818181842ULL, 0x1019191919191943ULL, 0x101a1a1a1a1a1a40ULL, 0x101b1b1b1b1b1b41ULL };
    static const uint64_t xmm[16] = { 0x1038383838383862ULL, 0x1039393939393963ULL, 0x103a3a3a3a3a3a60ULL, 0x103b3b3b3b3b3b61ULL, 0x103c3c3c3c3c3c66ULL, 0x103d3d3d3d3d3d67ULL, 0x103e3e3e3e3e3e64ULL, 0x103f3f3f3f3f3f65ULL, 0x704040404040401aULL, 0x704141414141411bULL, 0x7042424242424218ULL, 0x7043434343434319ULL, 0x704444444444441eULL, 0x704545454545451fULL, 0x704646464646461cULL, 0x704747474747471dULL };
    want[0] = 1;                          /* rax: read's result */
    for (int i = 0; i < 9; i++)           /* rbx rbp r8 r9 r10 r12..r15 */
        want[1 + i] = pattern[i];
    want[10] = (uint64_t)in;              /* rdi, rsi, rdx: its arguments */
    want[11] = (uintptr_t)&byte;
    want[12] = 1;
    want[13] = (uintptr_t)area;           /* rsp */
    for (int i = 0; i <= 13; i++)
        check[i] = 1;
    want[17] = 0x8d5;                     /* CF PF AF ZF SF OF, DF clear */
    check[17] = 1;
    for (int n = 0; n < 16; n++) {       /* xmm0..15, both halves */
        want[36 + 2 * n] = want[37 + 2 * n] = xmm[n];
        check[36 + 2 * n] = check[37 + 2 * n] = 1;
    }
    area[17] &= 0xcd5;                    /* the flags a program sets */
#endif
    for (int i = 0; i < REGCHECK_AREA / 8; i++)
        if (check[i] && area[i] != want[i]) {
            uint64_t rep[3] = { (uint64_t)i, area[i], want[i] };
            child_write_full(out, rep, sizeof rep);
        }
    uint64_t end[3] = { ~0ull, byte, 0 };
    child_write_full(out, end, sizeof end);
    return 0;
}

TEST(every_register_survives_1000_calls)
{
    struct target t;
    REQUIRE(target_start_ready(&t, regcheck_syscall_body, NULL) >= 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    unsigned long long mask = sigblk(t.pid);
    for (int i = 0; i < 500; i++) /* an mmap and a munmap each */
        CHECK(map_cycle(t.pid) == 0);
    CHECK(sigblk(t.pid) == mask);
    CHECK(target_write(&t, "!", 1) == 0);
    for (int n = 0; n < 200; n++) {
        uint64_t rep[3];
        if (target_read(&t, rep, sizeof rep, 10000) < 0) {
            CHECK(!"the target reported back");
            break;
        }
        if (rep[0] == ~0ull) {
            CHECK_EQ_LONG(rep[1], '!'); /* and read() got the byte */
            break;
        }
        fprintf(stderr, "  register slot %llu: %#llx, expected %#llx\n",
                (unsigned long long)rep[0], (unsigned long long)rep[1],
                (unsigned long long)rep[2]);
        CHECK(rep[0] == ~0ull);
    }
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- sleeping in nanosleep ---- */

static int sleeper_body(int in, int out, void *arg)
{
    (void)in; (void)arg;
    struct timespec req = { 0, 300 * 1000000 }, a, b;
    child_write_full(out, "R", 1);
    clock_gettime(CLOCK_MONOTONIC, &a);
    long rc = syscall(SYS_nanosleep, &req, NULL); /* no libc retry loop */
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ms = (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000;
    long long res[2] = { rc, ms };
    child_write_full(out, res, sizeof res);
    return 0;
}

TEST(nanosleep_keeps_its_remaining_time)
{
    struct target t;
    REQUIRE(target_start_ready(&t, sleeper_body, NULL) >= 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    /* Interrupt the sleep over and over until it ends.  Were the sleep
     * restarted from scratch each time, it would never end (the read below
     * would time out); were it cut short, rc would be -1/EINTR. */
    int calls = 0;
    struct pollfd p = { .fd = t.from_child, .events = POLLIN };
    while (poll(&p, 1, 0) == 0) {
        if (map_cycle(t.pid) < 0) {
            /* Only acceptable once the sleeper has finished and exits. */
            CHECK(errno == ESRCH && poll(&p, 1, 0) == 1);
            break;
        }
        calls++;
        /* Let it get back into its sleep (or finish) before the next
         * interruption: on one CPU a caller that never pauses would starve
         * it.  No event says "asleep again", so look every millisecond. */
        while (proc_state(t.pid) != 'S' && poll(&p, 1, 1) == 0)
            ;
    }
    long long res[2] = { -2, -2 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 0);
    CHECK(res[1] >= 300);
    CHECK(res[1] < 300 + 5000);
    CHECK(calls > 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- calls the kernel fails with EINTR on a mere stop ---- */

static int epoll_body(int in, int out, void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, got;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev) < 0)
        return 1;
    child_write_full(out, "R", 1);
    /* One wait, no retry loop: an EINTR would show up as -1. */
    long res[2];
    res[0] = epoll_wait(ep, &got, 1, -1);
    res[1] = res[0] < 0 ? errno : 0;
    child_write_full(out, res, sizeof res);
    return 0;
}

static int sigwait_body(int in, int out, void *arg)
{
    (void)in; (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    child_write_full(out, "R", 1);
    siginfo_t si;
    long res[2];
    res[0] = sigwaitinfo(&s, &si);
    res[1] = res[0] < 0 ? errno : si.si_value.sival_int;
    child_write_full(out, res, sizeof res);
    return 0;
}

static void wait_call_survives(int (*body)(int, int, void *), int use_signal)
{
    struct target t;
    REQUIRE(target_start_ready(&t, body, NULL) >= 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    for (int i = 0; i < 20; i++) {
        CHECK(map_cycle(t.pid) == 0);
        /* back in its wait before the next interruption */
        REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    }
    if (use_signal) {
        union sigval v = { .sival_int = 77 };
        CHECK(sigqueue(t.pid, SIGUSR1, v) == 0);
    } else {
        CHECK(target_write(&t, "x", 1) == 0);
    }
    long res[2] = { -2, -2 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], use_signal ? SIGUSR1 : 1);
    CHECK_EQ_LONG(res[1], use_signal ? 77 : 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(epoll_wait_is_not_interrupted)
{
    wait_call_survives(epoll_body, 0);
}

TEST(sigwaitinfo_is_not_interrupted)
{
    wait_call_survives(sigwait_body, 1);
}

/* ---- blocked in read on a pipe ---- */

TEST(pipe_reader_still_gets_its_data)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    unsigned long long mask = sigblk(t.pid);
    for (int i = 0; i < 100; i++)
        CHECK(map_cycle(t.pid) == 0);
    CHECK(sigblk(t.pid) == mask);
    /* The read() it was blocked in returns the command written now. */
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- a signal that arrives while the call holds the thread ----
 *
 * The target is blocked in read() with a SIGUSR1 handler; the signal is sent
 * while a session holds the thread (so it waits, blocked by us).  On
 * release the read must do what it would have done had the signal come with
 * nobody there: fail with EINTR without SA_RESTART, go on reading with it.
 * (On aarch64 the kernel decides this before our stop, from values our calls
 * replace: restart.c lets the thread meet the signal inside its call.) */
static atomic_int usr1_seen;
static void count_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr1_seen, 1);
}

static int sigread_body(int in, int out, void *arg)
{
    struct sigaction sa = { .sa_handler = count_usr1,
                            .sa_flags = *(const int *)arg };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return 1;
    child_write_full(out, "R", 1);
    char c;
    long res[3];
    res[0] = syscall(SYS_read, in, &c, 1); /* one read, no retry loop */
    res[1] = res[0] < 0 ? errno : c;
    res[2] = atomic_load(&usr1_seen);
    child_write_full(out, res, sizeof res);
    return 0;
}

static void signal_while_held(int sa_flags)
{
    struct target t;
    REQUIRE(target_start_ready(&t, sigread_body, &sa_flags) >= 0);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    peermap_session *s = peermap_attach(t.pid);
    REQUIRE(s);
    void *p = peermap_mmap(s, NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NOFD, 0);
    CHECK(p != MAP_FAILED);
    CHECK(kill(t.pid, SIGUSR1) == 0); /* pending: the held thread runs nothing */
    if (p != MAP_FAILED)
        CHECK(peermap_munmap(s, p, 8192) == 0);
    CHECK(peermap_detach(s) == 0);
    long res[3] = { -2, -2, -2 };
    if (sa_flags & SA_RESTART) {
        /* The handler runs and the read goes on: it gets the byte. */
        CHECK(target_write(&t, "k", 1) == 0);
        CHECK(target_read(&t, res, sizeof res, 10000) == 0);
        CHECK_EQ_LONG(res[0], 1);
        CHECK_EQ_LONG(res[1], 'k');
    } else {
        CHECK(target_read(&t, res, sizeof res, 10000) == 0);
        CHECK_EQ_LONG(res[0], -1);
        CHECK_EQ_LONG(res[1], EINTR);
    }
    CHECK_EQ_LONG(res[2], 1); /* the handler ran once */
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(signal_while_held_interrupts_read_without_sa_restart)
{
    signal_while_held(0);
}

TEST(signal_while_held_restarts_read_with_sa_restart)
{
    signal_while_held(SA_RESTART);
}

/* ---- waiting on a condition variable (futex) ---- */

struct condbox {
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag, woke_ok;
};

static int condwaiter_body(int in, int out, void *arg)
{
    (void)in;
    struct condbox *b = arg;
    pthread_mutex_lock(&b->m);
    child_write_full(out, "R", 1);
    while (!b->flag)
        pthread_cond_wait(&b->c, &b->m);
    b->woke_ok = 1;
    pthread_mutex_unlock(&b->m);
    return 0;
}

TEST(condition_variable_waiter_wakes_normally)
{
    struct condbox *b = shared_page(4096);
    REQUIRE(b);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&b->m, &ma);
    pthread_cond_init(&b->c, &ca);
    struct target t;
    REQUIRE(target_start_ready(&t, condwaiter_body, b) >= 0);
    /* Ready was sent under the mutex; once we get the mutex it waits. */
    pthread_mutex_lock(&b->m);
    pthread_mutex_unlock(&b->m);
    REQUIRE(wait_state(t.pid, 'S', 10000) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(b->woke_ok, 0); /* no spurious completion */
    pthread_mutex_lock(&b->m);
    b->flag = 1;
    pthread_cond_signal(&b->c);
    pthread_mutex_unlock(&b->m);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    CHECK_EQ_LONG(b->woke_ok, 1);
    munmap(b, 4096);
}

/* ---- many threads, some blocked, some spinning ---- */

#define NTHREADS 32
struct crowd {
    atomic_uintptr_t addr;  /* where the test mapped memory, 0 until then */
    atomic_int seen;
    int report;             /* write end of a pipe to the test */
    int gate[2];            /* blocked threads wait to read this */
};

static void look(struct crowd *c)
{
    volatile uint64_t *p = (uint64_t *)atomic_load(&c->addr);
    if (*p == 0x5eed5eed5eed5eedull) {
        atomic_fetch_add(&c->seen, 1);
        child_write_full(c->report, "+", 1);
    }
}

static void *spin_thread(void *arg)
{
    struct crowd *c = arg;
    while (!atomic_load(&c->addr))
        ;
    look(c);
    return NULL;
}

static void *blocked_thread(void *arg)
{
    struct crowd *c = arg;
    char x;
    if (read(c->gate[0], &x, 1) == 1)
        look(c);
    return NULL;
}

static int crowd_body(int in, int out, void *arg)
{
    struct crowd *c = arg;
    pthread_t th[NTHREADS];
    c->report = out;
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, i % 2 ? spin_thread : blocked_thread, c);
    child_write_full(out, "R", 1);
    /* The main thread blocks on the test's pipe, then opens the gate. */
    uint64_t addr;
    if (child_read_full(in, &addr, sizeof addr) < 0)
        return 1;
    atomic_store(&c->addr, (uintptr_t)addr);
    for (int i = 0; i < NTHREADS / 2; i++)
        child_write_full(c->gate[1], "g", 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    return 0;
}

TEST(multithreaded_target_all_threads_see_the_mapping)
{
    struct crowd *c = shared_page(4096);
    REQUIRE(c);
    REQUIRE(pipe(c->gate) == 0);
    struct target t;
    REQUIRE(target_start_ready(&t, crowd_body, c) >= 0);
    for (int i = 0; i < 20; i++)
        CHECK(map_cycle(t.pid) == 0);
    uint64_t *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    REQUIRE(p != MAP_FAILED);
    uint64_t magic = 0x5eed5eed5eed5eedull;
    CHECK(poke(t.pid, (uintptr_t)p, &magic, sizeof magic) == 0);
    uint64_t a = (uintptr_t)p;
    CHECK(target_write(&t, &a, sizeof a) == 0);
    char plus[NTHREADS];
    CHECK(target_read(&t, plus, NTHREADS, 20000) == 0);
    CHECK_EQ_LONG(atomic_load(&c->seen), NTHREADS);
    CHECK_EQ_LONG(target_finish(&t, 20000), 0);
    close(c->gate[0]);
    close(c->gate[1]);
    munmap(c, 4096);
}

/* ---- a storm of queued real-time signals ---- */

static atomic_long rt_count, rt_sum;

static void rt_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    atomic_fetch_add(&rt_count, 1);
    atomic_fetch_add(&rt_sum, si->si_value.sival_int);
}

static int rt_body(int in, int out, void *arg)
{
    (void)arg;
    /* Queued signals count against their user's RLIMIT_SIGPENDING, shared
     * by every process of that user: a storm at a stopped target would
     * otherwise take all of root's (96k here) and make a test running
     * beside it fail in timer_create() or sigqueue() with EAGAIN.  The
     * limit checked is the target's: keep the storm to 1024. */
    struct rlimit rl = { 1024, 1024 };
    if (setrlimit(RLIMIT_SIGPENDING, &rl) < 0)
        return 2;
    struct sigaction sa = { .sa_sigaction = rt_handler, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, NULL);
    child_write_full(out, "R", 1);
    char x;
    /* Wait for "report" (EINTR-safe) and answer with what arrived. */
    if (child_read_full(in, &x, 1) < 0)
        return 1;
    long res[2] = { atomic_load(&rt_count), atomic_load(&rt_sum) };
    child_write_full(out, res, sizeof res);
    return 0;
}

#define STORM_CALLS 300

TEST(signal_storm_loses_and_duplicates_nothing)
{
    struct target t;
    char r;
    atomic_int *stop = shared_page(4096);
    REQUIRE(stop);
    REQUIRE(target_start_ready(&t, rt_body, NULL) >= 0);
    int report[2];
    REQUIRE(pipe(report) == 0);
    pid_t sender = fork();
    REQUIRE(sender >= 0);
    if (sender == 0) {
        /* Queue signals, each with its sequence number, until told to stop. */
        long sent = 0, sum = 0;
        child_write_full(report[1], "R", 1);
        while (!atomic_load(stop)) {
            union sigval v = { .sival_int = (int)(sent + 1) };
            if (sigqueue(t.pid, SIGRTMIN, v) == 0) {
                sent++;
                sum += v.sival_int;
            } else if (errno != EAGAIN) {
                _exit(1);
            } else {
                sched_yield(); /* queue full: let the target drain it */
            }
        }
        long res[2] = { sent, sum };
        child_write_full(report[1], res, sizeof res);
        _exit(0);
    }
    REQUIRE(wait_readable(report[0], 10000) == 0 && read(report[0], &r, 1) == 1);
    /* Map and unmap while the storm lasts. */
    int failures = 0;
    for (int i = 0; i < STORM_CALLS; i++)
        if (map_cycle(t.pid) < 0)
            failures++;
    atomic_store(stop, 1);
    long sent[2] = { -1, -1 };
    CHECK(wait_readable(report[0], 10000) == 0 &&
          child_read_full(report[0], sent, sizeof sent) == 0);
    int st;
    CHECK((st = reap_ms(sender, 10000)) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(failures, 0);
    CHECK(target_write(&t, "r", 1) == 0);
    long res[2] = { -1, -1 };
    CHECK(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], sent[0]);
    CHECK_EQ_LONG(res[1], sent[1]);
    CHECK(sent[0] > STORM_CALLS); /* it really was a storm */
    fprintf(stderr, "  %d map cycles during %ld queued signals\n", STORM_CALLS, sent[0]);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(report[0]);
    close(report[1]);
    munmap(stop, 4096);
}

/* ---- a process whose main thread has exited ---- */

static void *obedient_thread(void *arg)
{
    int *io = arg;
    _exit(obedient_body(io[0], io[1], NULL));
}

static int leader_exits_body(int in, int out, void *arg)
{
    (void)arg;
    static int io[2];
    io[0] = in;
    io[1] = out;
    pthread_t th;
    if (pthread_create(&th, NULL, obedient_thread, io) != 0)
        return 1;
    pthread_exit(NULL); /* the process lives on in its other thread */
}

TEST(process_whose_main_thread_exited)
{
    struct target t;
    REQUIRE(target_start_ready(&t, leader_exits_body, NULL) == 'R');
    /* The leader is a zombie thread, the process is not. */
    long long end = now_ms() + 10000;
    while (proc_state(t.pid) != 'Z' && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    REQUIRE(proc_state(t.pid) == 'Z');
    uint64_t *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED) {
        fprintf(stderr, "  %s\n", peermap_errmsg());
    } else {
        CHECK(obedient_write(&t, (uintptr_t)p, 77) == 0);
        uint64_t v = 0;
        CHECK(obedient_read(&t, (uintptr_t)p, &v) == 0 && v == 77);
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
        /* fd-backed too: the descriptor's path goes through the memory of
         * a live thread, not the exited leader's. */
        int fd = memfd_create("peermap-leader", MFD_CLOEXEC);
        REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
        p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED);
        if (p != MAP_FAILED)
            CHECK(munmap_peer(t.pid, p, 4096) == 0);
        else
            fprintf(stderr, "  %s\n", peermap_errmsg());
        close(fd);
    }
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- job-stopped ---- */

TEST(job_stopped_target_stays_stopped)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    REQUIRE(kill(t.pid, SIGSTOP) == 0);
    siginfo_t si;
    REQUIRE(waitid(P_PID, (id_t)t.pid, &si, WSTOPPED) == 0);
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED) {
        CHECK(maps_has(t.pid, (uintptr_t)p, 4096, "rw-s") == 1);
        CHECK_EQ_LONG(wait_state(t.pid, 'T', 10000), 0);
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
    }
    CHECK_EQ_LONG(wait_state(t.pid, 'T', 10000), 0);
    /* Still stopped: it does not answer until continued. */
    struct cmd c = { CMD_PING, 0, 0 };
    uint64_t v;
    CHECK(target_write(&t, &c, sizeof c) == 0);
    CHECK(target_read(&t, &v, sizeof v, 200) < 0);
    CHECK(kill(t.pid, SIGCONT) == 0);
    CHECK(target_read(&t, &v, sizeof v, 10000) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- already traced ---- */

static int tracer_body(int in, int out, void *arg);

TEST(already_traced_is_refused_and_tracer_undisturbed)
{
    struct target t, tr;
    REQUIRE(obedient_start(&t) == 0);
    int pid = t.pid;
    /* A second process traces the target (as a debugger would). */
    REQUIRE(target_start(&tr, tracer_body, &pid) == 0);
    char ok = 0;
    REQUIRE(target_read(&tr, &ok, 1, 10000) == 0);
    REQUIRE(ok == 'R');
    errno = 0;
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
    CHECK(p == MAP_FAILED && errno == EPERM);
    char want[64];
    snprintf(want, sizeof want, "already traced by PID %d", (int)tr.pid);
    CHECK(strstr(peermap_errmsg(), want) != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    /* The tracer still holds it and can still use it. */
    CHECK(target_write(&tr, "?", 1) == 0);
    CHECK(target_read(&tr, &ok, 1, 10000) == 0 && ok == 'Y');
    CHECK_EQ_LONG(target_finish(&tr, 10000), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

static int tracer_body(int in, int out, void *arg)
{
    pid_t pid = *(int *)arg;
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
        return 1;
    child_write_full(out, "R", 1);
    char q;
    if (child_read_full(in, &q, 1) < 0)
        return 2;
    /* Still our tracee? PTRACE_INTERRUPT succeeds only for a tracee. */
    char a = ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 ? 'Y' : 'N';
    siginfo_t si;
    waitid(P_PID, (id_t)pid, &si, WSTOPPED | __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    child_write_full(out, &a, 1);
    return 0;
}

/* ---- gone, zombie, exiting ---- */

TEST(nonexistent_and_zombie_are_esrch_and_status_kept)
{
    pid_t z = fork();
    REQUIRE(z >= 0);
    if (z == 0)
        _exit(42);
    siginfo_t si;
    REQUIRE(waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) == 0);
    errno = 0;
    CHECK(mmap_peer(z, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(strstr(peermap_errmsg(), "zombie") != NULL);
    errno = 0;
    CHECK(munmap_peer(z, (void *)0x10000, 4096) == -1 && errno == ESRCH);
    /* Its exit status is still ours to collect. */
    int st = 0;
    CHECK((st = reap_ms(z, 20000)) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 42);
    errno = 0;
    CHECK(mmap_peer(z, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(strstr(peermap_errmsg(), "no process") != NULL);
}

TEST(target_killed_during_session_is_esrch)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    peermap_session *s = peermap_attach(t.pid);
    REQUIRE(s);
    CHECK(kill(t.pid, SIGKILL) == 0);
    errno = 0;
    CHECK(peermap_mmap(s, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(peermap_detach(s) == 0 || errno == ESRCH);
    int st = target_finish(&t, 10000);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* ---- seccomp ---- */

/* Filters first kill every call of a foreign ABI, as real ones do: the
 * vetting must use this CPU's audit arch to predict anything but death. */
#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static int seccomp_body(int in, int out, void *arg)
{
    unsigned action = *(unsigned *)arg;
    static atomic_int sigsys;
    struct sigaction sa = { 0 };
    (void)sa;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return 1;
    (void)sigsys;
    return obedient_body(in, out, NULL);
}

static void seccomp_case(unsigned action)
{
    struct target t;
    REQUIRE(target_start_ready(&t, seccomp_body, &action) == 'R');
    errno = 0;
    CHECK(mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK(errno == EPERM);
    CHECK(strstr(peermap_errmsg(), "seccomp") != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    /* Alive, answering, and (for RET_TRAP) never saw a SIGSYS: an
     * unhandled SIGSYS would have killed it. */
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(seccomp_errno_filter_is_reported_target_alive)
{
    seccomp_case(SECCOMP_RET_ERRNO | EPERM);
}

TEST(seccomp_trap_filter_is_reported_target_alive)
{
    seccomp_case(SECCOMP_RET_TRAP);
}

/* A filter that kills on the calls a descriptor hand-over needs. */
struct kill_spec { int nr1, nr2; };

static int killing_filter_body(int in, int out, void *arg)
{
    const struct kill_spec *k = arg;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)k->nr1, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)k->nr2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return 1;
    return obedient_body(in, out, NULL);
}

static void *map_memfd(pid_t pid, int *fdp)
{
    int fd = memfd_create("peermap-seccomp", MFD_CLOEXEC);
    *fdp = fd;
    if (fd < 0 || ftruncate(fd, 4096) < 0)
        return MAP_FAILED;
    return mmap_peer(pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

TEST(seccomp_filter_that_kills_is_never_triggered)
{
    /* Kills on both ways of passing a descriptor: as root the filter is read
     * and the calls are refused unrun; unprivileged it cannot be read, and
     * nothing is tried.  Either way the target lives. */
    struct kill_spec k = { SYS_openat, SYS_socket };
    struct target t;
    REQUIRE(target_start_ready(&t, killing_filter_body, &k) == 'R');
    int fd;
    errno = 0;
    void *p = map_memfd(t.pid, &fd);
    CHECK(p == MAP_FAILED && errno == EPERM);
    CHECK(strstr(peermap_errmsg(), "seccomp") != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    CHECK(obedient_ping(&t) == 0);
    /* Anonymous memory needs neither call. */
    CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

TEST(seccomp_filter_killing_openat_falls_back_to_the_socket)
{
    if (unprivileged())
        SKIP("reading a seccomp filter needs CAP_SYS_ADMIN");
#ifdef SYS_open
    struct kill_spec k = { SYS_openat, SYS_open };
#else
    struct kill_spec k = { SYS_openat, SYS_openat }; /* aarch64 has no open */
#endif
    struct target t;
    REQUIRE(target_start_ready(&t, killing_filter_body, &k) == 'R');
    int fd;
    void *p = map_memfd(t.pid, &fd);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED)
        fprintf(stderr, "  %s\n", peermap_errmsg());
    else
        CHECK(munmap_peer(t.pid, p, 4096) == 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

/* ---- another user's process ---- */

/* Does every uid of process pid (real, effective, saved, filesystem)
 * differ from both of ours?  Then the kernel must refuse to let us ptrace
 * it, whoever our parent is. */
static int belongs_to_another_user(pid_t pid)
{
    char path[64], line[256];
    unsigned u[4];
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %u %u %u %u", &u[0], &u[1], &u[2], &u[3]) == 4) {
            found = 1;
            break;
        }
    fclose(f);
    if (!found)
        return 0;
    for (int i = 0; i < 4; i++)
        if (u[i] == getuid() || u[i] == geteuid())
            return 0;
    return 1;
}

/* A process of another user: init if it is one (it always exists), else the
 * first one /proc lists.  0 when there is none (a namespace of one user). */
static pid_t another_users_process(void)
{
    if (belongs_to_another_user(1))
        return 1;
    DIR *d = opendir("/proc");
    pid_t found = 0;
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 1 && belongs_to_another_user(pid))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

TEST(other_users_target_is_eperm_and_untouched)
{
    if (unprivileged()) {
        /* Not our parent: when the suite is run by an ordinary user, the
         * test runner is that user's and the map would succeed. */
        pid_t other = another_users_process();
        if (!other)
            SKIP("no process of another user is visible to aim at");
        unsigned long long mask = sigblk(other);
        errno = 0;
        void *p = mmap_peer(other, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
        CHECK(p == MAP_FAILED);
        CHECK_EQ_LONG(errno, EPERM);
        if (p != MAP_FAILED) {
            /* Never leave a page behind in someone else's process. */
            CHECK(munmap_peer(other, p, 4096) == 0);
            return;
        }
        fprintf(stderr, "  PID %d: %s\n", (int)other, peermap_errmsg());
        CHECK(sigblk(other) == mask);
        return;
    }
    /* As root: a root-owned target, and a caller that drops to nobody. */
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (drop_to_nobody() < 0)
            _exit(10);
        setenv("PEERMAP_ABILITIES", "mem_peer", 1);
        errno = 0;
        void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
        _exit(p == MAP_FAILED && errno == EPERM ? 0 : 11);
    }
    int st;
    CHECK((st = reap_ms(c, 20000)) != -1 && WIFEXITED(st));
    /* Abilities were read in this process already; the child inherited
     * them by fork, so its refusal must come from the kernel: check that
     * the child did get EPERM (exit 0). */
    CHECK_EQ_LONG(WEXITSTATUS(st), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- a target that cannot be stopped: the deadline ---- */

static int vfork_parent_body(int in, int out, void *arg)
{
    /* arg: run an agent as well, in a thread that vfork() does not stop. */
    if (arg && peermap_agent_start(NULL, 0) < 0)
        return 9;
    child_write_full(out, "R", 1);
    child_vfork_until_go(in);
    return obedient_body(in, out, NULL);
}

TEST(unstoppable_target_times_out_untouched)
{
    struct target t;
    char r;
    REQUIRE(target_start_ready(&t, vfork_parent_body, NULL) >= 0);
    REQUIRE(wait_state(t.pid, 'D', 10000) == 0 || proc_state(t.pid) == 'S');
    peermap_set_timeout_ms(200);
    errno = 0;
    long long t0 = now_ms();
    void *p = mmap_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0);
    long long took = now_ms() - t0;
    peermap_set_timeout_ms(0);
    CHECK(p == MAP_FAILED && errno == ETIMEDOUT);
    CHECK(took < 5000);
    fprintf(stderr, "  reason: %s (after %lld ms)\n", peermap_errmsg(), took);
    /* Release the vfork child; the parent must run on, untraced. */
    CHECK(target_write(&t, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&t, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&t) == 0);
    /* And the library works again afterwards. */
    CHECK(map_cycle(t.pid) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

/* ---- a call that outlives the deadline inside the target ---- */

/* How many mappings of exactly `len` bytes the target has (sanitizer
 * builds reserve huge shadow regions, so "largest" would tell nothing). */
static int mappings_of_size(pid_t pid, unsigned long len)
{
    char path[64], line[512];
    unsigned long lo, hi;
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo == len)
            n++;
    fclose(f);
    return n;
}

/* 512 MiB populated: far beyond 5 ms natively (about 100 ms), and still
 * within the pings' 10 s on an emulated machine (2 GiB is not). */
#define SLOW_LEN ((size_t)1 << 29)

TEST(slow_call_is_finished_and_undone_in_the_background)
{
    struct target a, b;
    char r;
    REQUIRE(obedient_start(&a) == 0);
    REQUIRE(mappings_of_size(a.pid, SLOW_LEN) == 0);
    peermap_set_timeout_ms(5);
    errno = 0;
    void *p = mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_POPULATE, NOFD, 0);
    int e = errno;
    peermap_set_timeout_ms(0);
    CHECK(p == MAP_FAILED && e == ETIMEDOUT);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());

    /* Meanwhile another target cannot be stopped at all: the tracer thread
     * retires, yet must first finish A's call, not abandon it mid-way. */
    REQUIRE(target_start_ready(&b, vfork_parent_body, NULL) >= 0);
    REQUIRE(wait_state(b.pid, 'D', 10000) == 0 || proc_state(b.pid) == 'S');
    peermap_set_timeout_ms(200);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    peermap_set_timeout_ms(0);

    /* A answers once its call is over, and the mapping is gone again (no
     * event tells when the background work ends: look every millisecond). */
    CHECK(obedient_ping(&a) == 0);
    long long end = now_ms() + 20000;
    while (mappings_of_size(a.pid, SLOW_LEN) != 0 && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0);
    CHECK(map_cycle(a.pid) == 0);

    /* B, released, runs on untraced. */
    CHECK(target_write(&b, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&b, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&b) == 0);
    CHECK(map_cycle(b.pid) == 0);
    /* B was forked holding A's pipe ends: it goes first, or A sees no EOF. */
    CHECK_EQ_LONG(target_finish(&b, 10000), 0);
    CHECK_EQ_LONG(target_finish(&a, 10000), 0);
}

/* After a call gave up on a target (ETIMEDOUT), the library's own tracer
 * may still hold it for a while: a retired tracer thread that has not
 * exited yet, or this one finishing a system call that outlived the
 * deadline.  Later calls on that target must wait for that (within their
 * deadline), never be refused as "already traced by peermap-tracer", and
 * the automatic route must not go to the target's agent because of it. */
TEST(after_a_timeout_the_library_does_not_refuse_itself)
{
    struct target a, b;
    char r;
    REQUIRE(obedient_start(&a) == 0);
    /* A: a call inside it outlives its 5 ms; this tracer thread finishes it
     * in the background.  The next call on A waits for that. */
    peermap_set_timeout_ms(5);
    errno = 0;
    CHECK(mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_POPULATE, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    peermap_set_timeout_ms(20000);
    errno = 0;
    void *p = mmap_peer(a.pid, NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED)
        fprintf(stderr, "  A again: %s\n", peermap_errmsg());
    CHECK(p != MAP_FAILED);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_PTRACE);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(a.pid, p, 8192) == 0);
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0); /* undone before */

    /* B cannot be stopped (a vfork parent) and runs an agent.  Another slow
     * call in A first, so that the tracer thread that gives up on B lingers
     * (it must finish A's call before it may exit and release B). */
    REQUIRE(target_start_ready(&b, vfork_parent_body, &b) >= 0);
    /* Its main thread waits in vfork() (the agent's thread does not). */
    long long until = now_ms() + 10000;
    while (proc_state(b.pid) != 'D' && now_ms() < until) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    REQUIRE(proc_state(b.pid) == 'D');
    peermap_set_timeout_ms(5);
    CHECK(mmap_peer(a.pid, NULL, SLOW_LEN, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_POPULATE, NOFD, 0) == MAP_FAILED);
    peermap_set_timeout_ms(100);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    /* At once again, automatic route: our own hold is no refusal. */
    REQUIRE(peermap_set_path(PEERMAP_PATH_AUTO) == 0);
    peermap_set_timeout_ms(1000);
    errno = 0;
    CHECK(mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ETIMEDOUT);
    CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_PTRACE);
    fprintf(stderr, "  B again: %s\n", peermap_errmsg());

    /* Call after call on one CPU, where an exiting tracer thread gets to run
     * only when we wait: never EPERM. */
    cpu_set_t one, old;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    int pinned = sched_getaffinity(0, sizeof old, &old) == 0 &&
                 sched_setaffinity(0, sizeof one, &one) == 0;
    peermap_set_timeout_ms(5);
    int eperm = 0;
    for (int i = 0; i < 40; i++) {
        errno = 0;
        if (mmap_peer(b.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0) == MAP_FAILED &&
            errno == EPERM && eperm++ == 0)
            fprintf(stderr, "  call %d: %s\n", i, peermap_errmsg());
    }
    CHECK_EQ_LONG(eperm, 0);
    if (pinned)
        sched_setaffinity(0, sizeof old, &old);
    peermap_set_timeout_ms(0);

    /* Released, both run on, untraced, and the library serves them. */
    CHECK(target_write(&b, "g", 1) == 0);
    r = 0;
    CHECK(target_read(&b, &r, 1, 10000) == 0 && r == 'R');
    CHECK(obedient_ping(&b) == 0);
    CHECK(map_cycle(b.pid) == 0);
    CHECK(obedient_ping(&a) == 0);
    long long end = now_ms() + 20000;
    while (mappings_of_size(a.pid, SLOW_LEN) != 0 && now_ms() < end) {
        struct pollfd none;
        poll(&none, 0, 1);
    }
    CHECK_EQ_LONG(mappings_of_size(a.pid, SLOW_LEN), 0);
    CHECK(map_cycle(a.pid) == 0);
    CHECK_EQ_LONG(target_finish(&b, 10000), 0);
    CHECK_EQ_LONG(target_finish(&a, 10000), 0);
}

/* ---- the target's own SIGTRAP ---- */

static volatile sig_atomic_t traps;

static void on_trap(int sig)
{
    (void)sig;
    traps++;
}

/* Installs a SIGTRAP handler, then answers 'q' with whether it is still
 * installed and how many SIGTRAPs it caught. */
static int trap_body(int in, int out, void *arg)
{
    (void)arg;
    struct sigaction sa = { .sa_handler = on_trap };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTRAP, &sa, NULL) < 0)
        return 1;
    child_write_full(out, "R", 1);
    char c;
    while (child_read_full(in, &c, 1) == 0) {
        struct sigaction now;
        sigaction(SIGTRAP, NULL, &now);
        long res[2] = { now.sa_handler == on_trap, (long)traps };
        child_write_full(out, res, sizeof res);
    }
    return 0;
}

/* Our calls end in a single-step trap the kernel forces on the thread; a
 * forced signal that is blocked has its handler reset to SIG_DFL.  The
 * target's SIGTRAP handler must survive every call, and a SIGTRAP sent to
 * it while we hold it must still reach that handler. */
TEST(the_targets_sigtrap_handler_survives_and_its_sigtraps_arrive)
{
    struct target t;
    REQUIRE(target_start_ready(&t, trap_body, NULL) >= 0);
    for (int i = 0; i < 20; i++)
        CHECK(map_cycle(t.pid) == 0);
    long res[2] = { -1, -1 };
    REQUIRE(target_write(&t, "q", 1) == 0);
    REQUIRE(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 1);
    CHECK_EQ_LONG(res[1], 0);

    /* SIGTRAPs from another process during the calls: none kills the
     * target, and its handler sees them (standard signals coalesce, so
     * "at least one"). */
    pid_t sender = fork();
    REQUIRE(sender >= 0);
    if (sender == 0) {
        for (int i = 0; i < 2000; i++) {
            kill(t.pid, SIGTRAP);
            sched_yield();
        }
        _exit(0);
    }
    int failures = 0;
    for (int i = 0; i < 100; i++)
        if (map_cycle(t.pid) < 0)
            failures++;
    int st;
    CHECK((st = reap_ms(sender, 20000)) != -1 && WIFEXITED(st));
    CHECK_EQ_LONG(failures, 0);
    kill(t.pid, SIGTRAP); /* one more, after all our calls */
    REQUIRE(target_write(&t, "q", 1) == 0);
    REQUIRE(target_read(&t, res, sizeof res, 10000) == 0);
    CHECK_EQ_LONG(res[0], 1);
    CHECK(res[1] >= 1);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}
