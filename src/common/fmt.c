/*
 * A small printf for the library's reasons and paths, safe in a signal
 * handler.
 *
 * glibc's snprintf() is not async-signal-safe: its engine may allocate
 * (positional arguments, large widths, wide strings) and consults the
 * locale, and strerror() translates through gettext's locks.  mmap_peer()
 * and munmap_peer() must be callable from a handler (mmap_peer(3)), and the
 * library's tracer thread must never wait for a lock an application thread
 * could hold while that thread waits for it, so everything on those paths
 * formats here: no allocation, no lock, no locale, errno untouched.
 *
 * Conversions: d i u o x X c s p m %, with the flags - 0 # + and space, a
 * width and a precision (digits or *), and the lengths hh h l ll z j t.
 * %m is strerrordesc_np(errno) - glibc's untranslated description, which
 * is async-signal-safe - or "error N".  Anything else is copied as is.
 * The output is always terminated when n > 0; the result is the length the
 * whole text would have had, as for snprintf().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/internal.h"

struct out {
    char *buf;
    size_t n, len; /* room, and characters produced so far */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->n)
        o->buf[o->len] = c;
    o->len++;
}

static void put_n(struct out *o, char c, int count)
{
    while (count-- > 0)
        put(o, c);
}

static void put_s(struct out *o, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        put(o, s[i]);
}

struct spec {
    int left, zero, alt, plus, space;
    int width, prec; /* prec < 0: none */
};

static void put_padded(struct out *o, const struct spec *sp, const char *s, size_t len)
{
    int pad = sp->width > (int)len ? sp->width - (int)len : 0;
    if (!sp->left)
        put_n(o, ' ', pad);
    put_s(o, s, len);
    if (sp->left)
        put_n(o, ' ', pad);
}

/* An integer: `neg` and the magnitude v, in `base`, upper-case digits if
 * `upper`; `prefix` ("0x", "0") applies when # asks for it. */
static void put_int(struct out *o, const struct spec *sp, uintmax_t v, int neg,
                    unsigned base, int upper, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[64];
    int nd = 0;
    while (v) {
        tmp[nd++] = digits[v % base];
        v /= base;
    }
    /* Precision: the minimum number of digits; 0 with precision 0 is none. */
    int prec = sp->prec < 0 ? 1 : sp->prec;
    int zeros = prec > nd ? prec - nd : 0;
    char sign = neg ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
    size_t plen = 0;
    if (sp->alt && prefix) {
        plen = strlen(prefix);
        /* %#o: the leading 0 counts as a digit already there. */
        if (base == 8 && zeros > 0)
            plen = 0;
        if (base == 16 && nd == 0)
            plen = 0; /* C: no 0x for zero */
    }
    int body = (sign ? 1 : 0) + (int)plen + zeros + nd;
    int pad = sp->width > body ? sp->width - body : 0;
    if (sp->zero && !sp->left && sp->prec < 0) {
        zeros += pad;
        pad = 0;
    }
    if (!sp->left)
        put_n(o, ' ', pad);
    if (sign)
        put(o, sign);
    put_s(o, prefix ? prefix : "", plen);
    put_n(o, '0', zeros);
    while (nd > 0)
        put(o, tmp[--nd]);
    if (sp->left)
        put_n(o, ' ', pad);
}

static const char *error_text(int e, char *num, size_t n)
{
    const char *d = strerrordesc_np(e);
    if (d)
        return d;
    struct out o = { num, n, 0 };
    put_s(&o, "error ", 6);
    struct spec sp = { .prec = -1 };
    put_int(&o, &sp, (uintmax_t)(e < 0 ? -(intmax_t)e : e), e < 0, 10, 0, NULL);
    num[o.len < n ? o.len : n - 1] = 0;
    return num;
}

int pm_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
    const int saved_errno = errno; /* %m's, and left as it was */
    struct out o = { buf, n, 0 };

    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        const char *start = p++;
        struct spec sp = { .prec = -1 };
        for (;; p++) {
            if (*p == '-')
                sp.left = 1;
            else if (*p == '0')
                sp.zero = 1;
            else if (*p == '#')
                sp.alt = 1;
            else if (*p == '+')
                sp.plus = 1;
            else if (*p == ' ')
                sp.space = 1;
            else
                break;
        }
        if (*p == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                sp.width = sp.width * 10 + (*p++ - '0');
        }
        if (*p == '.') {
            p++;
            sp.prec = 0;
            if (*p == '*') {
                sp.prec = va_arg(ap, int);
                if (sp.prec < 0)
                    sp.prec = -1;
                p++;
            } else {
                while (*p >= '0' && *p <= '9')
                    sp.prec = sp.prec * 10 + (*p++ - '0');
            }
        }
        enum { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG, L_SIZE, L_MAX, L_PTRDIFF } len = L_INT;
        if (p[0] == 'h' && p[1] == 'h') {
            len = L_CHAR;
            p += 2;
        } else if (p[0] == 'h') {
            len = L_SHORT;
            p++;
        } else if (p[0] == 'l' && p[1] == 'l') {
            len = L_LLONG;
            p += 2;
        } else if (p[0] == 'l') {
            len = L_LONG;
            p++;
        } else if (p[0] == 'z') {
            len = L_SIZE;
            p++;
        } else if (p[0] == 'j') {
            len = L_MAX;
            p++;
        } else if (p[0] == 't') {
            len = L_PTRDIFF;
            p++;
        }
        char c = *p;
        switch (c) {
        case 'd':
        case 'i': {
            intmax_t v;
            switch (len) {
            case L_LONG: v = va_arg(ap, long); break;
            case L_LLONG: v = va_arg(ap, long long); break;
            case L_SIZE: v = (intmax_t)va_arg(ap, size_t); break;
            case L_MAX: v = va_arg(ap, intmax_t); break;
            case L_PTRDIFF: v = va_arg(ap, ptrdiff_t); break;
            case L_CHAR: v = (signed char)va_arg(ap, int); break;
            case L_SHORT: v = (short)va_arg(ap, int); break;
            default: v = va_arg(ap, int); break;
            }
            uintmax_t mag = v < 0 ? (uintmax_t)0 - (uintmax_t)v : (uintmax_t)v;
            put_int(&o, &sp, mag, v < 0, 10, 0, NULL);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            uintmax_t v;
            switch (len) {
            case L_LONG: v = va_arg(ap, unsigned long); break;
            case L_LLONG: v = va_arg(ap, unsigned long long); break;
            case L_SIZE: v = va_arg(ap, size_t); break;
            case L_MAX: v = va_arg(ap, uintmax_t); break;
            case L_PTRDIFF: v = (uintmax_t)va_arg(ap, ptrdiff_t); break;
            case L_CHAR: v = (unsigned char)va_arg(ap, unsigned); break;
            case L_SHORT: v = (unsigned short)va_arg(ap, unsigned); break;
            default: v = va_arg(ap, unsigned); break;
            }
            sp.plus = sp.space = 0;
            if (c == 'u')
                put_int(&o, &sp, v, 0, 10, 0, NULL);
            else if (c == 'o')
                put_int(&o, &sp, v, 0, 8, 0, "0");
            else
                put_int(&o, &sp, v, 0, 16, c == 'X', c == 'X' ? "0X" : "0x");
            break;
        }
        case 'p': {
            void *v = va_arg(ap, void *);
            if (!v) {
                put_padded(&o, &sp, "(nil)", 5);
            } else {
                sp.alt = 1;
                put_int(&o, &sp, (uintptr_t)v, 0, 16, 0, "0x");
            }
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            put_padded(&o, &sp, &ch, 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t l = sp.prec >= 0 ? strnlen(s, (size_t)sp.prec) : strlen(s);
            put_padded(&o, &sp, s, l);
            break;
        }
        case 'm': {
            char num[32];
            const char *s = error_text(saved_errno, num, sizeof num);
            size_t l = sp.prec >= 0 ? strnlen(s, (size_t)sp.prec) : strlen(s);
            put_padded(&o, &sp, s, l);
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            /* Unknown: copied as written, so a mistake shows in the text. */
            put_s(&o, start, (size_t)(p - start) + (c ? 1 : 0));
            if (!c)
                p--;
            break;
        }
    }
    if (n > 0)
        buf[o.len < n ? o.len : n - 1] = 0;
    errno = saved_errno;
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

int pm_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = pm_vfmt(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

const char *pm_strerror(int e)
{
    const char *d = strerrordesc_np(e);
    return d ? d : "Unknown error";
}
