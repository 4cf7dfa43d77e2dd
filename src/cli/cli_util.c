/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/cli.h"

#include "base/ks.h"

#include <stdarg.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("keysentry: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_json_string(FILE *f, const char *s, size_t n)
{
    struct ks_buf b;
    ks_buf_init(&b, SIZE_MAX / 2);
    if (ks_buf_add_json_str(&b, s, n) == KS_OK) {
        fputc('"', f);
        fwrite(b.data, 1, b.len, f);
        fputc('"', f);
    }
    ks_buf_release(&b);
}
