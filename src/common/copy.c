/*
 * pm_copy(): memcpy() without the slow band of `rep movsb` (copy.h).
 *
 * glibc copies 2 KiB .. 512 KiB with `rep movsb` on CPUs that announce fast
 * string moves; below and above it uses vector loops, which do not care how
 * the two buffers lie.  So only a copy in that size range whose destination
 * is 1..31 bytes past its source (mod 4096) is done here, with unaligned
 * loads and aligned stores (AVX2 where the CPU has it, else SSE2, which
 * every x86-64 has).  Other CPUs: memcpy().
 */
#include <string.h>

#include "common/copy.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* glibc's own limits (x86_rep_movsb_threshold, ..._stop_threshold) move
 * with the CPU; these bound the range generously. */
#define REP_FROM 2048
#define REP_UNTIL (512 * 1024)

__attribute__((target("avx2"))) static void copy_avx2(unsigned char *d, const unsigned char *s,
                                                      size_t n)
{
    /* n >= REP_FROM.  The first 32 bytes unaligned, then from the first
     * 32-byte boundary of the destination on, the last 32 unaligned. */
    _mm256_storeu_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
    __m256i last = _mm256_loadu_si256((const __m256i *)(s + n - 32));
    unsigned char *end = d + n - 32;
    size_t skip = 32 - ((uintptr_t)d & 31);
    d += skip;
    s += skip;
    n -= skip;
    while (n >= 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)s);
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(s + 64));
        __m256i e = _mm256_loadu_si256((const __m256i *)(s + 96));
        _mm256_store_si256((__m256i *)d, a);
        _mm256_store_si256((__m256i *)(d + 32), b);
        _mm256_store_si256((__m256i *)(d + 64), c);
        _mm256_store_si256((__m256i *)(d + 96), e);
        d += 128;
        s += 128;
        n -= 128;
    }
    while (n >= 32) {
        _mm256_store_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
        d += 32;
        s += 32;
        n -= 32;
    }
    _mm256_storeu_si256((__m256i *)end, last);
}

static void copy_sse2(unsigned char *d, const unsigned char *s, size_t n)
{
    _mm_storeu_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
    __m128i last = _mm_loadu_si128((const __m128i *)(s + n - 16));
    unsigned char *end = d + n - 16;
    size_t skip = 16 - ((uintptr_t)d & 15);
    d += skip;
    s += skip;
    n -= skip;
    while (n >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_store_si128((__m128i *)d, a);
        _mm_store_si128((__m128i *)(d + 16), b);
        _mm_store_si128((__m128i *)(d + 32), c);
        _mm_store_si128((__m128i *)(d + 48), e);
        d += 64;
        s += 64;
        n -= 64;
    }
    while (n >= 16) {
        _mm_store_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
        d += 16;
        s += 16;
        n -= 16;
    }
    _mm_storeu_si128((__m128i *)end, last);
}

void pm_copy(void *dst, const void *src, size_t n)
{
    if (n < REP_FROM || n >= REP_UNTIL || !pm_copy_slow((uintptr_t)dst, (uintptr_t)src)) {
        memcpy(dst, src, n);
        return;
    }
    static int avx2 = -1;
    int a = __atomic_load_n(&avx2, __ATOMIC_RELAXED);
    if (a < 0) {
        __builtin_cpu_init();
        a = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&avx2, a, __ATOMIC_RELAXED);
    }
    if (a)
        copy_avx2(dst, src, n);
    else
        copy_sse2(dst, src, n);
}

#else

void pm_copy(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n);
}

#endif
