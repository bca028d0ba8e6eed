/*
 * libFuzzer target: pmx_dirents_parse() (src/export/qnx_dirent.c), which reads
 * the QNX struct dirent stream a directory manager answers the FUSE
 * export's _IO_READ with.  Every byte comes from the manager.
 *
 * The stream sits alone in an allocation of exactly its size, so a read
 * past it is an ASan report.  Properties: no crash, no sanitizer report; a
 * stream accepted whole (return == size) yields names that are non-empty,
 * at most NAME_MAX bytes, without '/' or NUL, never "." or ".."; the
 * answer is deterministic.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/qnx_dirent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t names;

static void check(const char *name, size_t len, void *arg)
{
    (void)arg;
    if (len == 0 || len > NAME_MAX || memchr(name, '/', len) || memchr(name, '\0', len) ||
        (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        abort();
    names++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    names = 0;
    ssize_t a = pmx_dirents_parse(buf, size, check, NULL);
    size_t first = names;
    names = 0;
    ssize_t b = pmx_dirents_parse(buf, size, check, NULL);
    if (a != b || names != first || (a >= 0 && (size_t)a != size))
        abort();
    free(buf);
    return 0;
}
