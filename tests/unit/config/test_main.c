/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config tests: one binary (ctest unit_config), one cmocka group per
 * topic. Helpers shared by the groups live here too.
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KS_SOURCE_DIR
#define KS_SOURCE_DIR "."
#endif

const char *source_dir(void)
{
    return KS_SOURCE_DIR;
}

struct config_template *load_ok(const char *name, const char *text,
                                const struct config_options *opts)
{
    struct config_template *t = NULL;
    struct ks_diag d;
    enum ks_err err = config_template_load_buffer(name, text, strlen(text), opts, &t, &d);
    if (err) {
        char out[1024];
        ks_diag_render(&d, name, text, strlen(text), out, sizeof(out));
        print_error("%s: unexpected error %d:\n%s\n", name, (int)err, out);
    }
    assert_int_equal(err, KS_OK);
    assert_non_null(t);
    return t;
}

enum ks_err load_fail(const char *name, const char *text, const struct config_options *opts,
                      struct ks_diag *d, char *out, size_t out_size)
{
    struct config_template *t = (struct config_template *)1;
    enum ks_err err = config_template_load_buffer(name, text, strlen(text), opts, &t, d);
    if (err == KS_OK) {
        print_error("%s: loaded, but an error was expected\n", name);
        config_template_free(t);
    }
    assert_int_not_equal(err, KS_OK);
    assert_null(t);
    assert_int_equal(d->err, err);
    ks_diag_render(d, name, text, strlen(text), out, out_size);
    return err;
}

char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int main(void)
{
    int failed = 0;
    failed += run_intrinsic_tests();
    failed += run_param_tests();
    failed += run_resource_tests();
    failed += run_error_tests();
    failed += run_lab_tests();
    failed += run_hostile_tests();
    return failed ? 1 : 0;
}
