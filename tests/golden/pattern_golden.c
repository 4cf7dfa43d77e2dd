/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pattern_golden: runs the golden .test files of tests/golden/pattern
 * against the pattern module.
 *
 * A file is a list of groups separated by blank lines; "#" lines at the start
 * of a group are comments. A group is three lines:
 *
 *   pattern          ("%%EMPTY" stands for the empty pattern)
 *   event            (verbatim, one line; "%%EMPTY" for an empty event)
 *   match | nomatch  ("match" may be followed by a space and a JSON object
 *                     giving every value the pattern extracts, exactly)
 *
 * or, for a pattern that must be rejected when it is compiled:
 *
 *   %%FAIL
 *   pattern
 *   text that the error message must contain
 *
 * Each group compiles its pattern into a fresh set, so cases never interact.
 * With --informational, failures are printed but the exit status is 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pattern/pattern.h"

/* Failure reports show at most this many bytes of a pattern or event. */
#define SHOW_MAX 400

struct line {
    const char *text; /* NUL-terminated, inside the file buffer */
    size_t len;
    size_t lineno; /* 1-based */
};

struct test_file {
    const char *path;
    char *buf;
    struct line *lines;
    size_t nlines;
};

struct stats {
    size_t passed;
    size_t failed;
};

/* One extracted value, as reported by pattern_ctx_extract(). */
struct kv {
    char *name;
    char *value;
    size_t value_len;
};

struct kv_list {
    struct kv *items;
    size_t len;
    size_t cap;
};

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("pattern_golden: out of memory\n", stderr);
        abort();
    }
    return q;
}

static char *xmemdup(const char *p, size_t len)
{
    char *q = xrealloc(NULL, len + 1);
    if (len)
        memcpy(q, p, len);
    q[len] = '\0';
    return q;
}

static bool line_is(const struct line *l, const char *s)
{
    return l->len == strlen(s) && memcmp(l->text, s, l->len) == 0;
}

/* The text a line stands for: "%%EMPTY" is the empty string. */
static void line_value(const struct line *l, const char **text, size_t *len)
{
    if (line_is(l, "%%EMPTY")) {
        *text = "";
        *len = 0;
    } else {
        *text = l->text;
        *len = l->len;
    }
}

/* Prints "  label: text", shortened when long. */
static void show(const char *label, const char *text, size_t len)
{
    if (len <= SHOW_MAX)
        printf("  %-9s %.*s\n", label, (int)len, text);
    else
        printf("  %-9s %.*s... (%zu bytes)\n", label, SHOW_MAX, text, len);
}

static void fail_header(const struct test_file *f, const struct line *at, const char *what)
{
    printf("%s:%zu: FAIL: %s\n", f->path, at->lineno, what);
}

static bool read_file(struct test_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "pattern_golden: cannot open '%s'\n", f->path);
        return false;
    }
    size_t len = 0, cap = 65536;
    char *buf = xrealloc(NULL, cap);
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
    }
    bool err = ferror(fp) != 0;
    fclose(fp);
    if (err) {
        fprintf(stderr, "pattern_golden: cannot read '%s'\n", f->path);
        free(buf);
        return false;
    }
    buf[len] = '\0';

    size_t lcap = 256;
    f->lines = xrealloc(NULL, lcap * sizeof(*f->lines));
    f->nlines = 0;
    f->buf = buf;
    size_t pos = 0;
    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t llen = end - pos;
        if (llen > 0 && buf[pos + llen - 1] == '\r')
            llen--;
        buf[pos + llen] = '\0';
        if (f->nlines == lcap) {
            lcap *= 2;
            f->lines = xrealloc(f->lines, lcap * sizeof(*f->lines));
        }
        f->lines[f->nlines].text = buf + pos;
        f->lines[f->nlines].len = llen;
        f->lines[f->nlines].lineno = f->nlines + 1;
        f->nlines++;
        pos = end + 1;
    }
    return true;
}

static void extract_cb(void *ud, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    struct kv_list *l = ud;
    if (l->len == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->len].name = xmemdup(name, name_len);
    l->items[l->len].value = xmemdup(value, value_len);
    l->items[l->len].value_len = value_len;
    l->len++;
}

static void kv_list_release(struct kv_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->len = l->cap = 0;
}

/* Prints the extracted values as a JSON-like object, in callback order. */
static void show_kv(const char *label, const struct kv_list *l)
{
    printf("  %-9s {", label);
    for (size_t i = 0; i < l->len; i++) {
        json_t *k = json_string(l->items[i].name);
        json_t *v = json_stringn(l->items[i].value, l->items[i].value_len);
        char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        char *vs = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        printf("%s%s: %s", i ? ", " : "", ks ? ks : "<bad name>", vs ? vs : "<bad value>");
        free(ks);
        free(vs);
        json_decref(k);
        json_decref(v);
    }
    printf("}\n");
}

/*
 * Compares the extracted values with the expected JSON object: same number of
 * pairs, no name twice, every name present with the same string value.
 */
static bool kv_equal(const struct kv_list *got, json_t *want)
{
    if (got->len != json_object_size(want))
        return false;
    for (size_t i = 0; i < got->len; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(got->items[i].name, got->items[j].name) == 0)
                return false;
        json_t *v = json_object_get(want, got->items[i].name);
        if (!v || !json_is_string(v))
            return false;
        if (json_string_length(v) != got->items[i].value_len ||
            memcmp(json_string_value(v), got->items[i].value, got->items[i].value_len) != 0)
            return false;
    }
    return true;
}

/* A %%FAIL group: the pattern must be rejected with a message containing want. */
static bool run_fail(const struct test_file *f, const struct line *g)
{
    const char *pat;
    size_t plen;
    line_value(&g[1], &pat, &plen);
    const char *want = g[2].text;

    struct pattern_set *set = pattern_set_new();
    struct ks_diag diag;
    memset(&diag, 0, sizeof(diag));
    int idx = pattern_set_add(set, pat, plen, &diag);
    diag.msg[sizeof(diag.msg) - 1] = '\0';
    bool ok = idx < 0 && strstr(diag.msg, want) != NULL;
    if (!ok) {
        fail_header(f, &g[0], "pattern must be rejected");
        show("pattern:", pat, plen);
        printf("  expected: error containing \"%s\"\n", want);
        if (idx >= 0)
            printf("  got:      compiled (index %d)\n", idx);
        else
            printf("  got:      error \"%s\"\n", diag.msg);
    }
    pattern_set_free(set);
    return ok;
}

/* A match group: compile, match, and compare extracted values if given. */
static bool run_match(const struct test_file *f, const struct line *g)
{
    const char *pat, *ev;
    size_t plen, elen;
    line_value(&g[0], &pat, &plen);
    line_value(&g[1], &ev, &elen);
    const struct line *exp = &g[2];

    bool want_match;
    const char *want_json = NULL;
    if (line_is(exp, "match")) {
        want_match = true;
    } else if (line_is(exp, "nomatch")) {
        want_match = false;
    } else if (exp->len > 6 && memcmp(exp->text, "match ", 6) == 0) {
        want_match = true;
        want_json = exp->text + 6;
    } else {
        fail_header(f, exp, "bad expectation line (want match, nomatch or match {json})");
        return false;
    }

    json_t *want_kv = NULL;
    if (want_json) {
        json_error_t jerr;
        want_kv = json_loads(want_json, JSON_REJECT_DUPLICATES, &jerr);
        bool good = want_kv && json_is_object(want_kv);
        for (void *it = good ? json_object_iter(want_kv) : NULL; it;
             it = json_object_iter_next(want_kv, it)) {
            if (!json_is_string(json_object_iter_value(it)))
                good = false;
        }
        if (!good) {
            fail_header(f, exp, "expected values must be a JSON object of strings");
            if (!want_kv)
                printf("  json:     %s\n", jerr.text);
            json_decref(want_kv);
            return false;
        }
    }

    bool ok = true;
    struct kv_list got_kv = {NULL, 0, 0};
    struct pattern_ctx *ctx = NULL;
    struct pattern_set *set = pattern_set_new();
    struct ks_diag diag;
    memset(&diag, 0, sizeof(diag));
    int idx = pattern_set_add(set, pat, plen, &diag);
    if (idx < 0) {
        diag.msg[sizeof(diag.msg) - 1] = '\0';
        fail_header(f, &g[0], "pattern rejected");
        show("pattern:", pat, plen);
        show("event:", ev, elen);
        printf("  expected: %s\n", want_match ? "match" : "nomatch");
        printf("  got:      error \"%s\"\n", diag.msg);
        ok = false;
        goto out;
    }
    if (idx != 0) {
        fail_header(f, &g[0], "first pattern of a fresh set must get index 0");
        printf("  got:      index %d\n", idx);
        ok = false;
        goto out;
    }
    pattern_set_finish(set);
    ctx = pattern_ctx_new(set);

    uint8_t matched[1] = {0};
    size_t count = pattern_ctx_match(ctx, ev, elen, matched, NULL);
    bool got_match = matched[0] != 0;
    if (count != (size_t)(got_match ? 1 : 0)) {
        fail_header(f, &g[0], "pattern_ctx_match count disagrees with matched[]");
        printf("  got:      returned %zu, matched[0] = %u\n", count, (unsigned)matched[0]);
        ok = false;
    }
    if (got_match != want_match) {
        fail_header(f, &g[0], "wrong match result");
        show("pattern:", pat, plen);
        show("event:", ev, elen);
        printf("  expected: %s\n", want_match ? "match" : "nomatch");
        printf("  got:      %s\n", got_match ? "match" : "nomatch");
        ok = false;
        goto out;
    }
    if (want_kv) {
        size_t n = pattern_ctx_extract(ctx, 0, extract_cb, &got_kv);
        if (n != got_kv.len || !kv_equal(&got_kv, want_kv)) {
            fail_header(f, exp, "wrong extracted values");
            show("pattern:", pat, plen);
            show("event:", ev, elen);
            printf("  expected: %s\n", want_json);
            show_kv("got:", &got_kv);
            if (n != got_kv.len)
                printf("  (pattern_ctx_extract returned %zu, callback called %zu times)\n", n,
                       got_kv.len);
            ok = false;
        }
    }

out:
    kv_list_release(&got_kv);
    if (ctx)
        pattern_ctx_free(ctx);
    pattern_set_free(set);
    json_decref(want_kv);
    return ok;
}

static void run_file(const struct test_file *f, struct stats *st)
{
    size_t i = 0;
    while (i < f->nlines) {
        /* Blank lines separate groups; "#" lines open a group as comments. */
        if (f->lines[i].len == 0 || f->lines[i].text[0] == '#') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < f->nlines && f->lines[i].len != 0)
            i++;
        const struct line *g = &f->lines[start];
        size_t n = i - start;
        bool ok;
        if (n != 3) {
            fail_header(f, g, "a group must have exactly 3 lines");
            printf("  got:      %zu lines\n", n);
            ok = false;
        } else if (line_is(&g[0], "%%FAIL")) {
            ok = run_fail(f, g);
        } else {
            ok = run_match(f, g);
        }
        if (ok)
            st->passed++;
        else
            st->failed++;
    }
}

static void usage(void)
{
    fputs("usage: pattern_golden [--informational] FILE.test...\n", stderr);
}

int main(int argc, char **argv)
{
    bool informational = false;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--informational") == 0) {
        informational = true;
        first = 2;
    }
    if (first >= argc) {
        usage();
        return 2;
    }

    struct stats st = {0, 0};
    int status = 0;
    for (int a = first; a < argc; a++) {
        struct test_file f = {argv[a], NULL, NULL, 0};
        if (!read_file(&f)) {
            status = 2;
            continue;
        }
        run_file(&f, &st);
        free(f.lines);
        free(f.buf);
    }

    printf("%zu passed, %zu failed\n", st.passed, st.failed);
    if (informational && st.failed > 0)
        printf("(informational: these failures do not fail the test)\n");
    if (status != 0)
        return status;
    return st.failed > 0 && !informational ? 1 : 0;
}
