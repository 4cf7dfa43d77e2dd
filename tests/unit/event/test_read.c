/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event reader (event_read_path): framing, damage handling, gzip paths,
 * directory walks and event times.
 *
 * Every input is generated at run time into a private temp dir (mkdtemp), so
 * nothing large is committed. The damage table runs each row over an NDJSON
 * file and a CloudTrail {"Records":[...]} file, each plain, gzip read in one
 * go (libdeflate) and gzip streamed (zlib, gzip_whole_max = 1 KiB): good
 * records before and after the damage, then checks
 *   - the exact events delivered (bytes, record index, offset, number, time),
 *   - every event_stats counter (exactly one incremented for the damage),
 *   - the error report: "keysentry: FILE:OFFSET: ..." at the damage's offset.
 *
 * Rows whose expectation is not met yet carry a known-bug note: the mismatch
 * is printed, not failed (git's test_expect_failure); when the behaviour is
 * fixed the test says so, and the note should be removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "event/event.h"

/* ---- temp dir and files ------------------------------------------------- */

/* snprintf that must not truncate (the test's own buffers are big enough). */
static void xfmt(char *buf, size_t size, const char *fmt, ...) KS_PRINTF(3, 4);

static void xfmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size);
}

static char tmp_dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    xfmt(tmp_dir, sizeof(tmp_dir), "%s/ks-test-read-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path under the temp dir; the buffer is the caller's. */
static const char *tpath(char *buf, size_t size, const char *name)
{
    xfmt(buf, size, "%s/%s", tmp_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void gz_put(gzFile gz, const char *data, size_t len)
{
    while (len) {
        unsigned k = len > (1u << 30) ? 1u << 30 : (unsigned)len;
        assert_int_equal(gzwrite(gz, data, k), (int)k);
        data += k;
        len -= k;
    }
}

/*
 * Writes data as one gzip member (mode "wb") or appends a member ("ab").
 * With flush_at < len, a full flush after flush_at bytes byte-aligns the
 * deflate stream there; *flush_csize (optional) gets the compressed size at
 * that point, i.e. the offset of the next deflate block header.
 */
static void write_gz(const char *path, const char *mode, const char *data, size_t len,
                     size_t flush_at, off_t *flush_csize)
{
    gzFile gz = gzopen(path, mode);
    assert_non_null(gz);
    if (flush_at < len) {
        gz_put(gz, data, flush_at);
        assert_int_equal(gzflush(gz, Z_FULL_FLUSH), Z_OK);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (flush_csize)
            *flush_csize = st.st_size;
        gz_put(gz, data + flush_at, len - flush_at);
    } else {
        gz_put(gz, data, len);
    }
    assert_int_equal(gzclose(gz), Z_OK);
}

/* Bytes zlib can inflate from a (possibly cut or damaged) gzip file. */
static size_t inflate_prefix(const unsigned char *c, size_t clen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 32), Z_OK);
    static unsigned char out[1 << 16];
    size_t total = 0;
    z.next_in = (unsigned char *)(uintptr_t)c;
    z.avail_in = (uInt)clen;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof(out);
        int rc = inflate(&z, Z_NO_FLUSH);
        total += sizeof(out) - z.avail_out;
        if (rc != Z_OK || (z.avail_in == 0 && z.avail_out != 0))
            break;
    }
    inflateEnd(&z);
    return total;
}

/* ---- collecting events -------------------------------------------------- */

struct got_ev {
    char *data;
    size_t len;
    int64_t time_ms;
    char *file;
    uint64_t record, offset, number;
};

struct got {
    struct got_ev *v;
    size_t n, cap;
    size_t stop_at; /* return 7 from the callback at this event (0 = never) */
};

static int collect(void *ctx, const struct event *ev)
{
    struct got *g = ctx;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
        assert_non_null(g->v);
    }
    struct got_ev *e = &g->v[g->n++];
    e->data = malloc(ev->len + 1);
    assert_non_null(e->data);
    memcpy(e->data, ev->data, ev->len);
    e->data[ev->len] = '\0'; /* for messages; events may hold NULs of their own */
    e->len = ev->len;
    e->time_ms = ev->time_ms;
    e->file = strdup(ev->file);
    e->record = ev->record;
    e->offset = ev->offset;
    e->number = ev->number;
    return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

struct result {
    struct got got;
    struct event_stats st;
    char *err; /* everything reported on opts.errors */
    size_t err_len;
    int rc;
};

static void result_free(struct result *r)
{
    for (size_t i = 0; i < r->got.n; i++) {
        free(r->got.v[i].data);
        free(r->got.v[i].file);
    }
    free(r->got.v);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static void do_read(const char *path, const struct event_reader_opts *opts, struct result *r)
{
    memset(r, 0, sizeof(*r));
    struct event_reader_opts o = *opts;
    FILE *mem = open_memstream(&r->err, &r->err_len);
    assert_non_null(mem);
    o.errors = mem;
    r->rc = event_read_path(path, &o, collect, &r->got, &r->st);
    assert_int_equal(fclose(mem), 0);
}

static struct event_reader_opts default_opts(void)
{
    struct event_reader_opts o;
    event_reader_opts_init(&o);
    o.want_time = true;
    return o;
}

/* ---- non-fatal checks, so a row prints every difference ---------------- */

struct chk {
    char row[PATH_MAX + 256];
    unsigned fails;
};

static void chk_fail(struct chk *c, int line, const char *fmt, ...) KS_PRINTF(3, 4);

static void chk_fail(struct chk *c, int line, const char *fmt, ...)
{
    if (c->fails++ == 0)
        print_message("[ %s ]\n", c->row);
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_message("    line %d: %s\n", line, msg);
}

#define CHECK(c, cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            chk_fail((c), __LINE__, __VA_ARGS__);                                                  \
    } while (0)

enum ctr { C_NONE, C_BAD_JSON, C_BAD_UTF8, C_BAD_NUL, C_TOO_BIG, C_TOO_DEEP, C_BAD_GZIP };

static const struct {
    const char *name;
    size_t off;
} stat_fields[] = {
    {"files", offsetof(struct event_stats, files)},
    {"events", offsetof(struct event_stats, events)},
    {"bytes", offsetof(struct event_stats, bytes)},
    {"bad_json", offsetof(struct event_stats, bad_json)},
    {"bad_utf8", offsetof(struct event_stats, bad_utf8)},
    {"bad_nul", offsetof(struct event_stats, bad_nul)},
    {"too_big", offsetof(struct event_stats, too_big)},
    {"too_deep", offsetof(struct event_stats, too_deep)},
    {"bad_gzip", offsetof(struct event_stats, bad_gzip)},
    {"bad_file", offsetof(struct event_stats, bad_file)},
};

static uint64_t *ctr_field(struct event_stats *st, enum ctr c)
{
    switch (c) {
    case C_BAD_JSON:
        return &st->bad_json;
    case C_BAD_UTF8:
        return &st->bad_utf8;
    case C_BAD_NUL:
        return &st->bad_nul;
    case C_TOO_BIG:
        return &st->too_big;
    case C_TOO_DEEP:
        return &st->too_deep;
    case C_BAD_GZIP:
        return &st->bad_gzip;
    case C_NONE:
        break;
    }
    return NULL;
}

static void check_stats(struct chk *c, const struct event_stats *got, const struct event_stats *exp)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(stat_fields); i++) {
        uint64_t g, e;
        memcpy(&g, (const char *)got + stat_fields[i].off, sizeof(g));
        memcpy(&e, (const char *)exp + stat_fields[i].off, sizeof(e));
        CHECK(c, g == e, "stats.%s = %llu, expected %llu", stat_fields[i].name,
              (unsigned long long)g, (unsigned long long)e);
    }
}

/* The report must name the file and the byte offset: "keysentry: F:N: ". */
static void check_report(struct chk *c, const struct result *r, const char *path, uint64_t off)
{
    char want[PATH_MAX + 64];
    xfmt(want, sizeof(want), "keysentry: %s:%llu: ", path, (unsigned long long)off);
    CHECK(c, r->err && strstr(r->err, want), "no report starting '%s' in:\n%s", want,
          r->err ? r->err : "(nothing)");
}

/* ---- generated inputs --------------------------------------------------- */

#define T0_MS 1688947200000LL /* 2023-07-10T00:00:00Z */

static const char pad_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789";

/* The i-th good record (a compact CloudTrail-like object) into buf. */
static size_t good_record(char *buf, size_t size, size_t i, int64_t *ms)
{
    static const char *const names[] = {"Decrypt", "Encrypt", "GenerateDataKey"};
    unsigned s = 42138 + (unsigned)(i % 40000); /* 11:42:18 + i seconds */
    int n = snprintf(buf, size,
                     "{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-07-10T%02u:%02u:%02uZ\","
                     "\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"%s\","
                     "\"requestID\":\"%08zx\",\"pad\":\"%.*s\"}",
                     s / 3600, s / 60 % 60, s % 60, names[i % 3], i, (int)(i * 7 % 61), pad_chars);
    assert_true(n > 0 && (size_t)n < size);
    *ms = T0_MS + (int64_t)s * 1000;
    return (size_t)n;
}

enum fmt { F_LINES, F_RECORDS };
#define O_CRLF     1u /* CRLF line endings (Records: pretty-printed with CRLF) */
#define O_NOFINAL  2u /* no newline at the end of the file */
#define O_BOM      4u /* UTF-8 byte order mark first */
#define O_NOHEADER 8u /* start with no Records header / line (empty and blank files) */

struct exp_ev {
    size_t off, len; /* in the built content */
    uint64_t record;
    int64_t time_ms;
};

/* A file's content being built, with the events expected from it. */
struct built {
    enum fmt fmt;
    unsigned opts;
    struct ks_buf b;
    struct exp_ev *ev;
    size_t nev, cap;
    uint64_t npieces;
};

static void put(struct built *bd, const void *p, size_t n)
{
    assert_int_equal(ks_buf_add(&bd->b, p, n), KS_OK);
}

static void puts_(struct built *bd, const char *s)
{
    put(bd, s, strlen(s));
}

static const char *nl(const struct built *bd)
{
    return bd->opts & O_CRLF ? "\r\n" : "\n";
}

static void bld_init(struct built *bd, enum fmt fmt, unsigned opts)
{
    memset(bd, 0, sizeof(*bd));
    bd->fmt = fmt;
    bd->opts = opts;
    ks_buf_init(&bd->b, SIZE_MAX / 2);
    if (opts & O_BOM)
        puts_(bd, "\xEF\xBB\xBF");
    if (fmt == F_RECORDS && !(opts & O_NOHEADER)) {
        puts_(bd, "{\"Records\":[");
        if (opts & O_CRLF)
            puts_(bd, "\r\n");
    }
}

/* Appends a record (a line or an array element); returns its offset. */
static size_t bld_add(struct built *bd, const char *p, size_t len, bool delivered, int64_t ms)
{
    if (bd->npieces)
        puts_(bd, bd->fmt == F_LINES ? nl(bd) : bd->opts & O_CRLF ? ",\r\n" : ",");
    size_t off = bd->b.len;
    put(bd, p, len);
    if (delivered) {
        if (bd->nev == bd->cap) {
            bd->cap = bd->cap ? bd->cap * 2 : 16;
            bd->ev = realloc(bd->ev, bd->cap * sizeof(*bd->ev));
            assert_non_null(bd->ev);
        }
        bd->ev[bd->nev++] = (struct exp_ev){off, len, bd->npieces, ms};
    }
    bd->npieces++;
    return off;
}

static size_t bld_good(struct built *bd, size_t i)
{
    char rec[512];
    int64_t ms;
    size_t n = good_record(rec, sizeof(rec), i, &ms);
    return bld_add(bd, rec, n, true, ms);
}

static void bld_finish(struct built *bd)
{
    if (bd->fmt == F_RECORDS && !(bd->opts & O_NOHEADER)) {
        if (bd->opts & O_CRLF)
            puts_(bd, "\r\n");
        puts_(bd, "]}");
    }
    if (!(bd->opts & O_NOFINAL) && !(bd->opts & O_NOHEADER))
        puts_(bd, nl(bd));
}

static void bld_free(struct built *bd)
{
    ks_buf_release(&bd->b);
    free(bd->ev);
    memset(bd, 0, sizeof(*bd));
}

/* Checks the delivered events against the expected ones, in order. */
static void check_events(struct chk *c, const struct result *r, const struct built *bd, size_t nexp,
                         const char *path)
{
    CHECK(c, r->got.n == nexp, "%zu events delivered, expected %zu", r->got.n, nexp);
    for (size_t i = 0; i < r->got.n && i < nexp; i++) {
        const struct got_ev *g = &r->got.v[i];
        const struct exp_ev *e = &bd->ev[i];
        CHECK(c, g->len == e->len && memcmp(g->data, bd->b.data + e->off, e->len) == 0,
              "event %zu: bytes differ (got %zu bytes '%.*s', expected %zu bytes '%.*s')", i,
              g->len, (int)(g->len < 60 ? g->len : 60), g->data, e->len,
              (int)(e->len < 60 ? e->len : 60), bd->b.data + e->off);
        CHECK(c, g->offset == e->off, "event %zu: offset %llu, expected %zu", i,
              (unsigned long long)g->offset, e->off);
        CHECK(c, g->record == e->record, "event %zu: record %llu, expected %llu", i,
              (unsigned long long)g->record, (unsigned long long)e->record);
        CHECK(c, g->number == i + 1, "event %zu: number %llu, expected %zu", i,
              (unsigned long long)g->number, i + 1);
        CHECK(c, g->time_ms == e->time_ms, "event %zu: time_ms %lld, expected %lld", i,
              (long long)g->time_ms, (long long)e->time_ms);
        CHECK(c, strcmp(g->file, path) == 0, "event %zu: file '%s', expected '%s'", i, g->file,
              path);
    }
}

/* ---- the damage table --------------------------------------------------- */

enum kind {
    K_GOOD,  /* a good record in the middle: only the file options matter */
    K_SHAPE, /* the middle record is the row's bytes verbatim */
    K_RAW,   /* the row's bytes inside a string: {"eventName":"Bad","v":"<raw>"} */
    K_SIZE,  /* a record of exactly `size` bytes */
    K_DEEP,  /* {"eventName":"Deep","x":[[[...]]]} nested `size` levels in all */
    K_EMPTY, /* an empty file (Records: an empty Records array) */
    K_BLANK, /* only whitespace (Records: whitespace around an empty array) */
};

struct expect {
    bool delivered; /* the middle record is an event */
    enum ctr ctr;   /* the one counter it increments */
    const char *known_bug;
    unsigned bug_in; /* compressions (1 << enum comp) the bug shows in; 0 = all */
};

struct row {
    const char *name;
    enum kind kind;
    const char *raw;
    size_t size; /* K_RAW: bytes of raw; K_SIZE: record size; K_DEEP: depth */
    unsigned opts;
    struct expect lines, records;
};

/* Expectations: delivered, or skipped with one counter; a known bug's note
 * and the compressions it shows in (0 = all). */
/* clang-format off */
#define OK_                   {true, C_NONE, NULL, 0}
#define SKIP_(c)              {false, c, NULL, 0}
#define OK_BUG_(note, in)     {true, C_NONE, note, in}
#define SKIP_BUG_(c, note)    {false, c, note, 0}
/* clang-format on */
#define RAW_(s)  K_RAW, s, sizeof(s) - 1
#define MIB      ((size_t)KS_MAX_EVENT_BYTES)
#define RAW_PFX  "{\"eventName\":\"Bad\",\"v\":\""
#define DEEP_PFX "{\"eventName\":\"Deep\",\"x\":"

enum comp { Z_PLAIN, Z_WHOLE, Z_STREAM };
static const char *const comp_names[] = {"plain", "gzip (one-shot)", "gzip (streamed)"};

#define PLAIN_ONLY (1u << Z_PLAIN)

/*
 * NDJSON lines are framed, not parsed (a line may be plain text): an invalid
 * or deeply nested JSON line is still an event, and JSON errors are counted
 * by the matcher (tests/cli checks that). Records elements are cut out by the
 * skimmer, which sees mismatched brackets, bare words and nesting depth.
 */

static const struct row rows[] = {
    {"clean file", K_GOOD, NULL, 0, 0, OK_, OK_},
    /* mismatched brackets: the skimmer sees it; balanced counts let it resync */
    {"invalid JSON record", K_SHAPE, "{\"eventName\":\"Bad\",\"x\":[1,2}]", 0, 0, OK_,
     SKIP_(C_BAD_JSON)},
    {"bare word as a record", K_SHAPE, "garbage", 0, 0, OK_, SKIP_(C_BAD_JSON)},
    /* an unclosed '[': the byte skipper resynchronises at the next "},{" */
    {"unclosed bracket in a record", K_SHAPE, "{\"eventName\":\"Bad\",\"x\":[1,2}", 0, 0, OK_,
     SKIP_(C_BAD_JSON)},
    {"invalid UTF-8 (C3 28)", RAW_("\xC3\x28"), 0, SKIP_(C_BAD_UTF8), SKIP_(C_BAD_UTF8)},
    {"overlong UTF-8 (C0 AF)", RAW_("\xC0\xAF"), 0, SKIP_(C_BAD_UTF8), SKIP_(C_BAD_UTF8)},
    {"UTF-8 surrogate (ED A0 80)", RAW_("\xED\xA0\x80"), 0, SKIP_(C_BAD_UTF8), SKIP_(C_BAD_UTF8)},
    {"above U+10FFFF (F4 90 80 80)", RAW_("\xF4\x90\x80\x80"), 0, SKIP_(C_BAD_UTF8),
     SKIP_(C_BAD_UTF8)},
    {"cut UTF-8 sequence (E2 82)", RAW_("\xE2\x82"), 0, SKIP_(C_BAD_UTF8), SKIP_(C_BAD_UTF8)},
    {"NUL byte", K_RAW, "\0", 1, 0, SKIP_(C_BAD_NUL), SKIP_(C_BAD_NUL)},
    {"record of 1 MiB + 1 byte", K_SIZE, NULL, MIB + 1, 0, SKIP_(C_TOO_BIG), SKIP_(C_TOO_BIG)},
    {"record of exactly 1 MiB", K_SIZE, NULL, MIB, 0, OK_, OK_},
    {"record of 5 MiB (over the read window)", K_SIZE, NULL, 5 * MIB, 0, SKIP_(C_TOO_BIG),
     SKIP_(C_TOO_BIG)},
    {"nesting 100000 deep", K_DEEP, NULL, 100000, 0, OK_, SKIP_(C_TOO_DEEP)},
    {"nesting 512 deep (the limit)", K_DEEP, NULL, KS_MAX_JSON_DEPTH, 0, OK_, OK_},
    {"nesting 513 deep", K_DEEP, NULL, KS_MAX_JSON_DEPTH + 1, 0, OK_, SKIP_(C_TOO_DEEP)},
    {"empty file", K_EMPTY, NULL, 0, 0, OK_, OK_},
    {"only whitespace", K_BLANK, NULL, 0, 0, OK_, OK_},
    {"CRLF line endings", K_GOOD, NULL, 0, O_CRLF, OK_, OK_},
    {"no final newline", K_GOOD, NULL, 0, O_NOFINAL, OK_, OK_},
    {"byte order mark", K_GOOD, NULL, 0, O_BOM, OK_, OK_},
    {"BOM, CRLF and no final newline", K_GOOD, NULL, 0, O_BOM | O_CRLF | O_NOFINAL, OK_, OK_},
};

#define N_BEFORE 3
#define N_AFTER  2

/*
 * Builds a row's content for one format. Returns the offset the damage must
 * be reported at (UINT64_MAX when nothing is to be reported).
 */
static uint64_t build_row(const struct row *rw, enum fmt fmt, struct built *bd)
{
    const struct expect *ex = fmt == F_LINES ? &rw->lines : &rw->records;
    if (rw->kind == K_EMPTY || rw->kind == K_BLANK) {
        bld_init(bd, fmt, O_NOHEADER);
        if (rw->kind == K_EMPTY && fmt == F_RECORDS)
            puts_(bd, "{\"Records\":[]}\n");
        if (rw->kind == K_BLANK)
            puts_(bd, fmt == F_LINES ? " \n\t \n\r\n   \n  "
                                     : " \n\t{ \"Records\" :\r\n [ \n\t] }\n  \n");
        return UINT64_MAX;
    }
    bld_init(bd, fmt, rw->opts);
    for (size_t i = 0; i < N_BEFORE; i++)
        bld_good(bd, i);
    struct ks_buf rec;
    ks_buf_init(&rec, SIZE_MAX / 2);
    size_t bad_in_rec = 0;
    int64_t ms = INT64_MIN;
    switch (rw->kind) {
    case K_GOOD: {
        char g[512];
        size_t n = good_record(g, sizeof(g), 100, &ms);
        assert_int_equal(ks_buf_add(&rec, g, n), KS_OK);
        break;
    }
    case K_SHAPE:
        assert_int_equal(ks_buf_add(&rec, rw->raw, strlen(rw->raw)), KS_OK);
        break;
    case K_RAW:
        assert_int_equal(ks_buf_add(&rec, RAW_PFX, strlen(RAW_PFX)), KS_OK);
        bad_in_rec = rec.len;
        assert_int_equal(ks_buf_add(&rec, rw->raw, rw->size), KS_OK);
        assert_int_equal(ks_buf_add(&rec, "\"}", 2), KS_OK);
        break;
    case K_SIZE: {
        static const char pfx[] = "{\"eventName\":\"Big\",\"pad\":\"";
        assert_int_equal(ks_buf_add(&rec, pfx, sizeof(pfx) - 1), KS_OK);
        assert_int_equal(ks_buf_grow(&rec, rw->size), KS_OK);
        size_t fill = rw->size - (sizeof(pfx) - 1) - 2;
        memset(rec.data + rec.len, 'a', fill);
        rec.len += fill;
        assert_int_equal(ks_buf_add(&rec, "\"}", 2), KS_OK);
        assert_int_equal(rec.len, rw->size);
        break;
    }
    case K_DEEP: {
        size_t arrays = rw->size - 1; /* the record object is one level */
        assert_int_equal(ks_buf_add(&rec, DEEP_PFX, strlen(DEEP_PFX)), KS_OK);
        assert_int_equal(ks_buf_grow(&rec, 2 * arrays + 1), KS_OK);
        memset(rec.data + rec.len, '[', arrays);
        memset(rec.data + rec.len + arrays, ']', arrays);
        rec.len += 2 * arrays;
        assert_int_equal(ks_buf_add(&rec, "}", 1), KS_OK);
        break;
    }
    case K_EMPTY:
    case K_BLANK:
        break;
    }
    size_t off = bld_add(bd, rec.data, rec.len, ex->delivered, ms);
    ks_buf_release(&rec);
    for (size_t i = 0; i < N_AFTER; i++)
        bld_good(bd, N_BEFORE + 1 + i);
    bld_finish(bd);
    return ex->ctr == C_NONE ? UINT64_MAX : off + bad_in_rec;
}

static void test_damage_table(void **state)
{
    (void)state;
    unsigned unexpected = 0, known = 0, vanished = 0;
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        const struct row *rw = &rows[i];
        for (int fmt = F_LINES; fmt <= F_RECORDS; fmt++) {
            const struct expect *ex = fmt == F_LINES ? &rw->lines : &rw->records;
            struct built bd;
            uint64_t bad_off = build_row(rw, (enum fmt)fmt, &bd);
            for (int comp = Z_PLAIN; comp <= Z_STREAM; comp++) {
                char name[64], path[PATH_MAX];
                xfmt(name, sizeof(name), "row%02zu-%s-%d.%s%s", i,
                     fmt == F_LINES ? "lines" : "records", comp, fmt == F_LINES ? "ndjson" : "json",
                     comp == Z_PLAIN ? "" : ".gz");
                tpath(path, sizeof(path), name);
                if (comp == Z_PLAIN)
                    write_bytes(path, bd.b.data, bd.b.len);
                else
                    write_gz(path, "wb", bd.b.data, bd.b.len, SIZE_MAX, NULL);
                struct event_reader_opts o = default_opts();
                if (comp == Z_STREAM)
                    o.gzip_whole_max = 1024;
                struct chk c = {.fails = 0};
                xfmt(c.row, sizeof(c.row), "%s | %s | %s | %s", rw->name,
                     fmt == F_LINES ? "NDJSON" : "Records", comp_names[comp], path);

                struct result r;
                do_read(path, &o, &r);
                CHECK(&c, r.rc == 0, "event_read_path returned %d", r.rc);
                check_events(&c, &r, &bd, bd.nev, path);
                struct event_stats exp = {.files = 1, .events = bd.nev, .bytes = bd.b.len};
                if (ex->ctr != C_NONE)
                    *ctr_field(&exp, ex->ctr) = 1;
                check_stats(&c, &r.st, &exp);
                if (bad_off != UINT64_MAX)
                    check_report(&c, &r, path, bad_off);
                else
                    CHECK(&c, r.err_len == 0, "unexpected report:\n%s", r.err);
                result_free(&r);

                const char *bug = ex->known_bug;
                if (ex->bug_in && !(ex->bug_in & (1u << comp)))
                    bug = NULL;
                if (bug && c.fails) {
                    known++;
                    print_message("    ^ known bug: %s\n", bug);
                } else if (bug) {
                    vanished++;
                    print_message("[ %s ] known bug fixed? '%s' no longer reproduces: "
                                  "remove the mark\n",
                                  c.row, bug);
                } else if (c.fails) {
                    unexpected++;
                }
                unlink(path);
            }
            bld_free(&bd);
        }
    }
    print_message("damage table: %zu rows x 2 formats x 3 compressions; %u unexpected "
                  "failures, %u known bugs, %u known bugs no longer seen\n",
                  KS_ARRAY_LEN(rows), unexpected, known, vanished);
    assert_int_equal(unexpected, 0);
}

/* ---- gzip damage -------------------------------------------------------- */

#define N_MANY 400

static void build_many(struct built *bd, enum fmt fmt, size_t n)
{
    bld_init(bd, fmt, 0);
    for (size_t i = 0; i < n; i++)
        bld_good(bd, i);
    bld_finish(bd);
}

/*
 * A gzip file cut in half: the events wholly inside what still inflates are
 * delivered; the cut is reported once as bad_gzip, and a record or line cut
 * in the middle once as bad_json.
 */
static void test_gzip_truncated(void **state)
{
    (void)state;
    unsigned fails = 0;
    for (int fmt = F_LINES; fmt <= F_RECORDS; fmt++) {
        struct built bd;
        build_many(&bd, (enum fmt)fmt, N_MANY);
        char full[PATH_MAX], cut[PATH_MAX];
        tpath(full, sizeof(full), fmt == F_LINES ? "full.ndjson.gz" : "full.json.gz");
        tpath(cut, sizeof(cut), fmt == F_LINES ? "cut.ndjson.gz" : "cut.json.gz");
        write_gz(full, "wb", bd.b.data, bd.b.len, SIZE_MAX, NULL);
        size_t clen;
        unsigned char *cbytes = read_bytes(full, &clen);
        size_t half = clen / 2;
        write_bytes(cut, cbytes, half);
        size_t avail = inflate_prefix(cbytes, half);
        free(cbytes);
        /* the oracle: events that end inside the inflatable prefix */
        size_t k = 0;
        while (k < bd.nev && bd.ev[k].off + bd.ev[k].len + (fmt == F_LINES) <= avail)
            k++;
        bool partial = k < bd.nev && bd.ev[k].off < avail;
        assert_true(k > 10 && k < N_MANY - 10); /* the cut really is in the middle */

        for (int comp = Z_WHOLE; comp <= Z_STREAM; comp++) {
            struct chk c = {.fails = 0};
            xfmt(c.row, sizeof(c.row), "gzip cut in half | %s | %s | %zu of %zu bytes inflate",
                 fmt == F_LINES ? "NDJSON" : "Records", comp_names[comp], avail, bd.b.len);
            struct event_reader_opts o = default_opts();
            if (comp == Z_STREAM)
                o.gzip_whole_max = 1024;
            struct result r;
            do_read(cut, &o, &r);
            check_events(&c, &r, &bd, k, cut);
            struct event_stats exp = {.files = 1, .events = k, .bytes = avail, .bad_gzip = 1};
            exp.bad_json = partial || fmt == F_RECORDS; /* Records: the array is unclosed */
            check_stats(&c, &r.st, &exp);
            check_report(&c, &r, cut, avail);
            if (partial)
                check_report(&c, &r, cut, bd.ev[k].off);
            fails += c.fails;
            result_free(&r);
        }
        bld_free(&bd);
    }
    assert_int_equal(fails, 0);
}

/*
 * Corrupt gzip bytes: (1) an invalid deflate block type right after the
 * good records before it (the stream is byte-aligned there by a full flush,
 * so the damage is at a known place): those records are delivered, the rest
 * of the file is lost and reported; (2) a wrong CRC-32 in the trailer: every
 * event is delivered (they were read before the check fails), then the
 * damage is reported; (3) an unknown compression method in the header.
 */
static void test_gzip_corrupt(void **state)
{
    (void)state;
    unsigned fails = 0;
    enum { BAD_BLOCK, BAD_CRC, BAD_METHOD };
    static const char *const what[] = {"invalid deflate block", "wrong CRC-32",
                                       "unknown compression method"};
    for (int fmt = F_LINES; fmt <= F_RECORDS; fmt++) {
        struct built bd;
        bld_init(&bd, (enum fmt)fmt, 0);
        for (size_t i = 0; i < N_BEFORE + N_AFTER; i++)
            bld_good(&bd, i);
        bld_finish(&bd);
        /* the damage goes right after the separator that follows record N_BEFORE-1 */
        size_t cut = bd.ev[N_BEFORE].off;
        for (int dmg = BAD_BLOCK; dmg <= BAD_METHOD; dmg++) {
            char path[PATH_MAX], name[64];
            xfmt(name, sizeof(name), "corrupt-%d-%d.gz", fmt, dmg);
            tpath(path, sizeof(path), name);
            off_t at = 0;
            write_gz(path, "wb", bd.b.data, bd.b.len, cut, &at);
            size_t clen;
            unsigned char *cb = read_bytes(path, &clen);
            if (dmg == BAD_BLOCK)
                cb[at] = 0xFF; /* BFINAL=1, BTYPE=11: reserved */
            else if (dmg == BAD_CRC)
                cb[clen - 8] ^= 0x55;
            else
                cb[2] = 9; /* CM must be 8 (deflate) */
            write_bytes(path, cb, clen);
            free(cb);
            size_t nexp = dmg == BAD_BLOCK ? N_BEFORE : dmg == BAD_CRC ? bd.nev : 0;
            size_t bytes = dmg == BAD_BLOCK ? cut : dmg == BAD_CRC ? bd.b.len : 0;
            for (int comp = Z_WHOLE; comp <= Z_STREAM; comp++) {
                struct chk c = {.fails = 0};
                xfmt(c.row, sizeof(c.row), "%s | %s | %s", what[dmg],
                     fmt == F_LINES ? "NDJSON" : "Records", comp_names[comp]);
                struct event_reader_opts o = default_opts();
                if (comp == Z_STREAM)
                    o.gzip_whole_max = 1024;
                struct result r;
                do_read(path, &o, &r);
                CHECK(&c, r.rc == 0, "event_read_path returned %d", r.rc);
                check_events(&c, &r, &bd, nexp, path);
                struct event_stats exp = {.files = 1, .events = nexp, .bytes = bytes};
                exp.bad_gzip = 1;
                /* a Records file cut after its header also leaves its array unclosed */
                exp.bad_json = fmt == F_RECORDS && dmg == BAD_BLOCK;
                check_stats(&c, &r.st, &exp);
                check_report(&c, &r, path, bytes);
                CHECK(&c, strstr(r.err, "gzip") != NULL, "report does not say gzip:\n%s", r.err);
                fails += c.fails;
                result_free(&r);
            }
        }
        bld_free(&bd);
    }
    assert_int_equal(fails, 0);
}

/* ---- gzip paths agree --------------------------------------------------- */

/*
 * A file bigger than the read window (3 MiB) and far above gzip_whole_max:
 * plain, gzip one-shot (libdeflate) and gzip streamed (zlib) deliver the
 * same events, which are exactly the records written.
 */
static void test_gzip_paths_agree(void **state)
{
    (void)state;
    unsigned fails = 0;
    for (int fmt = F_LINES; fmt <= F_RECORDS; fmt++) {
        struct built bd;
        build_many(&bd, (enum fmt)fmt, 30000);
        assert_true(bd.b.len > 3 * MIB);
        char plain[PATH_MAX], gz[PATH_MAX];
        tpath(plain, sizeof(plain), fmt == F_LINES ? "big.ndjson" : "big.json");
        tpath(gz, sizeof(gz), fmt == F_LINES ? "big.ndjson.gz" : "big.json.gz");
        write_bytes(plain, bd.b.data, bd.b.len);
        write_gz(gz, "wb", bd.b.data, bd.b.len, SIZE_MAX, NULL);
        struct stat st;
        assert_int_equal(stat(gz, &st), 0);
        struct result res[3];
        for (int comp = Z_PLAIN; comp <= Z_STREAM; comp++) {
            struct event_reader_opts o = default_opts();
            o.gzip_whole_max = comp == Z_STREAM ? 1024 : (size_t)st.st_size;
            const char *path = comp == Z_PLAIN ? plain : gz;
            do_read(path, &o, &res[comp]);
            struct chk c = {.fails = 0};
            xfmt(c.row, sizeof(c.row), "%zu records | %s | %s", bd.nev,
                 fmt == F_LINES ? "NDJSON" : "Records", comp_names[comp]);
            check_events(&c, &res[comp], &bd, bd.nev, path);
            struct event_stats exp = {.files = 1, .events = bd.nev, .bytes = bd.b.len};
            check_stats(&c, &res[comp].st, &exp);
            CHECK(&c, res[comp].err_len == 0, "unexpected report:\n%s", res[comp].err);
            fails += c.fails;
        }
        /* and the two gzip paths agree with each other field by field */
        assert_int_equal(res[Z_WHOLE].got.n, res[Z_STREAM].got.n);
        for (size_t i = 0; i < res[Z_WHOLE].got.n; i++) {
            const struct got_ev *a = &res[Z_WHOLE].got.v[i], *b = &res[Z_STREAM].got.v[i];
            assert_int_equal(a->len, b->len);
            assert_memory_equal(a->data, b->data, a->len);
            assert_int_equal(a->offset, b->offset);
            assert_int_equal(a->record, b->record);
            assert_int_equal(a->number, b->number);
            assert_int_equal(a->time_ms, b->time_ms);
        }
        for (int comp = Z_PLAIN; comp <= Z_STREAM; comp++)
            result_free(&res[comp]);
        unlink(plain);
        unlink(gz);
        bld_free(&bd);
    }
    assert_int_equal(fails, 0);
}

/*
 * Concatenated gzip members (what `cat a.gz b.gz` and gzip -a make) read as
 * one stream, also when a member boundary cuts a record in two; zero padding
 * after the last member is ignored.
 */
static void test_gzip_multi_member(void **state)
{
    (void)state;
    unsigned fails = 0;
    for (int fmt = F_LINES; fmt <= F_RECORDS; fmt++) {
        struct built bd;
        build_many(&bd, (enum fmt)fmt, 50);
        /* boundaries: between two records, inside a record, inside another */
        size_t cuts[] = {bd.ev[10].off, bd.ev[20].off + 7, bd.ev[35].off + bd.ev[35].len / 2,
                         bd.b.len};
        for (int padded = 0; padded <= 1; padded++) {
            char path[PATH_MAX], name[64];
            xfmt(name, sizeof(name), "multi-%d-%d.gz", fmt, padded);
            tpath(path, sizeof(path), name);
            size_t from = 0;
            for (size_t j = 0; j < KS_ARRAY_LEN(cuts); j++) {
                write_gz(path, j ? "ab" : "wb", bd.b.data + from, cuts[j] - from, SIZE_MAX, NULL);
                from = cuts[j];
            }
            if (padded) {
                FILE *f = fopen(path, "ab");
                assert_non_null(f);
                static const char zeros[512];
                assert_int_equal(fwrite(zeros, 1, sizeof(zeros), f), sizeof(zeros));
                assert_int_equal(fclose(f), 0);
            }
            for (int comp = Z_WHOLE; comp <= Z_STREAM; comp++) {
                struct chk c = {.fails = 0};
                xfmt(c.row, sizeof(c.row), "4 gzip members%s | %s | %s",
                     padded ? " + 512 zero bytes" : "", fmt == F_LINES ? "NDJSON" : "Records",
                     comp_names[comp]);
                struct event_reader_opts o = default_opts();
                if (comp == Z_STREAM)
                    o.gzip_whole_max = 1024;
                struct result r;
                do_read(path, &o, &r);
                check_events(&c, &r, &bd, bd.nev, path);
                struct event_stats exp = {.files = 1, .events = bd.nev, .bytes = bd.b.len};
                check_stats(&c, &r.st, &exp);
                CHECK(&c, r.err_len == 0, "unexpected report:\n%s", r.err);
                fails += c.fails;
                result_free(&r);
            }
        }
        bld_free(&bd);
    }
    assert_int_equal(fails, 0);
}

/* ---- record indexes, offsets and times, by hand ------------------------- */

struct hand_ev {
    const char *data;
    uint64_t record, offset;
    int64_t time_ms;
};

static void expect_hand(const struct result *r, const struct hand_ev *exp, size_t n)
{
    for (size_t i = 0; i < r->got.n && i < n; i++) {
        const struct got_ev *g = &r->got.v[i];
        if (g->len != strlen(exp[i].data) || memcmp(g->data, exp[i].data, g->len) != 0 ||
            g->record != exp[i].record || g->offset != exp[i].offset ||
            g->time_ms != exp[i].time_ms || g->number != i + 1)
            fail_msg("event %zu: got '%.*s' record %llu offset %llu time %lld number %llu; "
                     "expected '%s' record %llu offset %llu time %lld",
                     i, (int)g->len, g->data, (unsigned long long)g->record,
                     (unsigned long long)g->offset, (long long)g->time_ms,
                     (unsigned long long)g->number, exp[i].data, (unsigned long long)exp[i].record,
                     (unsigned long long)exp[i].offset, (long long)exp[i].time_ms);
    }
    assert_int_equal(r->got.n, n);
}

static void test_index_offset_time(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct event_reader_opts o = default_opts();
    struct result r;

    /* lines: the record index is the line number - 1, blank lines included */
    static const char lines[] = "{\"eventTime\":\"2023-07-10T11:42:18Z\"}\n" /* 0..36 */
                                "\n"                                         /* 37 */
                                "plain text line\r\n"                        /* 38..54 */
                                "{\"eventTime\":\"2023-07-10T11:42:18.250+02:00\",\"a\":1}\n"
                                "{\"eventTime\":\"yesterday\"}";
    static const struct hand_ev lines_exp[] = {
        {"{\"eventTime\":\"2023-07-10T11:42:18Z\"}", 0, 0, 1688989338000},
        {"plain text line", 2, 38, INT64_MIN},
        {"{\"eventTime\":\"2023-07-10T11:42:18.250+02:00\",\"a\":1}", 3, 55,
         1688989338250 - 7200000},
        {"{\"eventTime\":\"yesterday\"}", 4, 107, INT64_MIN},
    };
    write_bytes(tpath(path, sizeof(path), "hand.ndjson"), lines, sizeof(lines) - 1);
    do_read(path, &o, &r);
    expect_hand(&r, lines_exp, KS_ARRAY_LEN(lines_exp));
    assert_int_equal(r.st.bytes, sizeof(lines) - 1);
    result_free(&r);

    /* without want_time, no time is parsed */
    o.want_time = false;
    do_read(path, &o, &r);
    assert_int_equal(r.got.n, KS_ARRAY_LEN(lines_exp));
    assert_true(r.got.v[0].time_ms == INT64_MIN);
    result_free(&r);
    o.want_time = true;

    /* Records: the index is the element's position; offsets point at its first byte */
    static const char recs[] = "{ \"Records\" : [\n"                                    /* 0..15 */
                               "  {\"eventTime\":\"2021-07-29T23:55:01Z\",\"n\":0} ,\n" /* 18 */
                               "  {\"n\":[1,{\"x\":\"]}\"}]},"                          /* 65 */
                               "{\"n\":2}\n"                                            /* 86 */
                               "] , \"extra\": true }\n";
    static const struct hand_ev recs_exp[] = {
        {"{\"eventTime\":\"2021-07-29T23:55:01Z\",\"n\":0}", 0, 18, 1627602901000},
        {"{\"n\":[1,{\"x\":\"]}\"}]}", 1, 65, INT64_MIN},
        {"{\"n\":2}", 2, 86, INT64_MIN},
    };
    write_bytes(tpath(path, sizeof(path), "hand.json"), recs, sizeof(recs) - 1);
    do_read(path, &o, &r);
    expect_hand(&r, recs_exp, KS_ARRAY_LEN(recs_exp));
    assert_int_equal(r.err_len, 0);
    result_free(&r);

    /* forced formats: LINES reads a Records file as one line; RECORDS refuses NDJSON */
    o.format = EVENT_FORMAT_LINES;
    do_read(path, &o, &r);
    assert_int_equal(r.got.n, 4); /* the four lines of the file */
    assert_int_equal(r.got.v[0].len, 15);
    result_free(&r);
    o.format = EVENT_FORMAT_RECORDS;
    do_read(tpath(path, sizeof(path), "hand.ndjson"), &o, &r);
    assert_int_equal(r.got.n, 0);
    assert_int_equal(r.st.bad_json, 1);
    assert_non_null(strstr(r.err, path));
    result_free(&r);
}

/* ---- paths, directories, stdin, stopping -------------------------------- */

static void mkdir_p(const char *path)
{
    assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
}

static void test_directory_walk(void **state)
{
    (void)state;
    char root[PATH_MAX], p[PATH_MAX];
    tpath(root, sizeof(root), "walk");
    mkdir_p(root);
    /* name, content; a trailing '/' makes a directory; *.gz files are gzip */
    static const struct {
        const char *name, *content;
    } tree[] = {
        {"b/", NULL},
        {"b/c/", NULL},
        {"b/c/d.ndjson", "d1\n"},
        {"a/", NULL},
        {"a/x.json.gz", "{\"Records\":[{\"x\":1},{\"x\":2}]}"},
        {"a/.hidden.ndjson", "hidden\n"},
        {"a.ndjson", "a1\na2\n"},
        {".git/", NULL},
        {".git/config", "hidden\n"},
        {"B.ndjson", "B1\n"},
        {"_u.ndjson", "u1\n"},
        {"10.ndjson", "ten\n"},
        {"9.ndjson", "nine\n"},
        {"\xC3\xA9.ndjson", "e1\n"},
        {"empty/", NULL},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(tree); i++) {
        xfmt(p, sizeof(p), "%s/%s", root, tree[i].name);
        size_t n = strlen(p);
        if (p[n - 1] == '/') {
            p[n - 1] = '\0';
            mkdir_p(p);
        } else if (n > 3 && strcmp(p + n - 3, ".gz") == 0) {
            write_gz(p, "wb", tree[i].content, strlen(tree[i].content), SIZE_MAX, NULL);
        } else {
            write_bytes(p, tree[i].content, strlen(tree[i].content));
        }
    }
    /* byte order of names at each level ("10" < "9" < "B" < "_u" < "a" < "a.ndjson"),
     * directories entered where their name sorts, hidden names skipped */
    static const struct {
        const char *file, *data;
    } exp[] = {
        {"10.ndjson", "ten"},      {"9.ndjson", "nine"},         {"B.ndjson", "B1"},
        {"_u.ndjson", "u1"},       {"a/x.json.gz", "{\"x\":1}"}, {"a/x.json.gz", "{\"x\":2}"},
        {"a.ndjson", "a1"},        {"a.ndjson", "a2"},           {"b/c/d.ndjson", "d1"},
        {"\xC3\xA9.ndjson", "e1"},
    };
    for (int slash = 0; slash <= 1; slash++) {
        char arg[PATH_MAX];
        xfmt(arg, sizeof(arg), "%s%s", root, slash ? "/" : "");
        struct event_reader_opts o = default_opts();
        struct result r;
        do_read(arg, &o, &r);
        assert_int_equal(r.rc, 0);
        for (size_t i = 0; i < r.got.n && i < KS_ARRAY_LEN(exp); i++) {
            xfmt(p, sizeof(p), "%s/%s", root, exp[i].file);
            if (strcmp(r.got.v[i].file, p) != 0 || r.got.v[i].len != strlen(exp[i].data) ||
                memcmp(r.got.v[i].data, exp[i].data, r.got.v[i].len) != 0 ||
                r.got.v[i].number != i + 1)
                fail_msg("walk of '%s', event %zu: got %s '%.*s' #%llu, expected %s '%s' #%zu", arg,
                         i, r.got.v[i].file, (int)r.got.v[i].len, r.got.v[i].data,
                         (unsigned long long)r.got.v[i].number, p, exp[i].data, i + 1);
        }
        assert_int_equal(r.got.n, KS_ARRAY_LEN(exp));
        assert_int_equal(r.st.files, 8);
        assert_int_equal(r.st.events, KS_ARRAY_LEN(exp));
        assert_int_equal(r.st.bad_file, 0);
        assert_int_equal(r.err_len, 0);
        result_free(&r);
    }

    /* one stats struct over several reads: numbers keep counting */
    struct event_reader_opts o = default_opts();
    struct event_stats st;
    memset(&st, 0, sizeof(st));
    struct got g = {0};
    o.errors = NULL;
    assert_int_equal(event_read_path(tpath(p, sizeof(p), "walk/B.ndjson"), &o, collect, &g, &st),
                     0);
    assert_int_equal(event_read_path(tpath(p, sizeof(p), "walk/a.ndjson"), &o, collect, &g, &st),
                     0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.v[2].number, 3);
    assert_int_equal(g.v[2].record, 1);
    assert_int_equal(st.files, 2);
    struct result tmp = {.got = g};
    result_free(&tmp);
}

static void test_missing_path(void **state)
{
    (void)state;
    char p[PATH_MAX];
    struct event_reader_opts o = default_opts();
    struct result r;
    do_read(tpath(p, sizeof(p), "no/such/file.json"), &o, &r);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.got.n, 0);
    assert_int_equal(r.st.bad_file, 1);
    assert_int_equal(r.st.files, 0);
    assert_non_null(strstr(r.err, p));
    result_free(&r);
}

static void test_callback_stops(void **state)
{
    (void)state;
    char p[PATH_MAX];
    write_bytes(tpath(p, sizeof(p), "stop.ndjson"), "1\n2\n3\n4\n", 8);
    struct event_reader_opts o = default_opts();
    struct result r;
    memset(&r, 0, sizeof(r));
    r.got.stop_at = 2;
    o.errors = NULL;
    r.rc = event_read_path(p, &o, collect, &r.got, &r.st);
    assert_int_equal(r.rc, 7);
    assert_int_equal(r.got.n, 2);
    result_free(&r);
}

static void test_stdin(void **state)
{
    (void)state;
    char p[PATH_MAX];
    static const char recs[] = "{\"Records\":[{\"a\":1},{\"b\":2}]}\n";
    for (int gz = 0; gz <= 1; gz++) {
        tpath(p, sizeof(p), gz ? "stdin.json.gz" : "stdin.json");
        if (gz)
            write_gz(p, "wb", recs, sizeof(recs) - 1, SIZE_MAX, NULL);
        else
            write_bytes(p, recs, sizeof(recs) - 1);
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        int saved = dup(0);
        assert_true(saved >= 0);
        assert_int_equal(dup2(fd, 0), 0);
        close(fd);
        struct event_reader_opts o = default_opts();
        struct result r;
        do_read("-", &o, &r);
        assert_int_equal(dup2(saved, 0), 0);
        close(saved);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.got.n, 2);
        assert_string_equal(r.got.v[0].file, "-");
        assert_int_equal(r.got.v[1].offset, 20);
        assert_int_equal(r.got.v[1].record, 1);
        assert_int_equal(r.st.files, 1);
        result_free(&r);
    }
}

/* ---- event_parse_time ---------------------------------------------------- */

struct time_row {
    const char *text;
    size_t len; /* 0: strlen(text) */
    bool ok;
    int64_t ms;
    const char *known_bug;
};

static const struct time_row time_rows[] = {
    {"2023-07-10T11:42:18Z", 0, true, 1688989338000, NULL},
    {"2023-07-10T11:42:18.123Z", 0, true, 1688989338123, NULL},
    {"2023-07-10T11:42:18.5Z", 0, true, 1688989338500, NULL},
    {"2023-07-10T11:42:18.123456789Z", 0, true, 1688989338123, NULL},
    {"2023-07-10T13:42:18+02:00", 0, true, 1688989338000, NULL},
    {"2023-07-10T06:12:18-05:30", 0, true, 1688989338000, NULL},
    {"2023-07-10T11:42:18.999-00:00", 0, true, 1688989338999, NULL},
    {"1970-01-01T00:00:00Z", 0, true, 0, NULL},
    {"1969-12-31T23:59:59.500Z", 0, true, -500, NULL},
    {"2000-02-29T00:00:00Z", 0, true, 951782400000, NULL},
    {"2024-12-31T23:59:59.999Z", 0, true, 1735689599999, NULL},
    {"2014-11-04T00:50:30Z trailing", 20, true, 1415062230000, NULL}, /* len is honoured */
    {"", 0, false, 0, NULL},
    {"2023-07-10", 0, false, 0, NULL},
    {"2023-07-10T11:42:18", 0, false, 0, NULL},
    {"2023-07-10T11:42Z", 0, false, 0, NULL},
    {"2023-07-10T11:42:18Zjunk", 0, false, 0, NULL},
    /* +HHMM, as CloudWatch writes alarm timestamps ("...25.504+0000") */
    {"2023-07-10T13:42:18+0200", 0, true, 1688989338000, NULL},
    {"2023-01-09T14:07:25.504+0000", 0, true, 1673273245504, NULL},
    {"2023-07-10T11:42:18+02", 0, false, 0, NULL},
    {"2023-07-10T11:42:18+2400", 0, false, 0, NULL},
    {"2023-07-10T11:42:18+02:00x", 0, false, 0, NULL},
    {"2023-07-10T11:42:18.123", 0, false, 0, NULL},
    {"2023-13-10T11:42:18Z", 0, false, 0, NULL},
    {"2023-00-10T11:42:18Z", 0, false, 0, NULL},
    {"2023-07-32T11:42:18Z", 0, false, 0, NULL},
    {"2023-07-00T11:42:18Z", 0, false, 0, NULL},
    {"2023-07-10T24:00:00Z", 0, false, 0, NULL},
    {"2023-07-10T11:60:18Z", 0, false, 0, NULL},
    {"2023-07-10T11:42:61Z", 0, false, 0, NULL},
    {"2023/07/10T11:42:18Z", 0, false, 0, NULL},
    {"2023-07-1xT11:42:18Z", 0, false, 0, NULL},
    {"20230710T114218Z", 0, false, 0, NULL},
    {"2023-07-10T11:42:18Z", 19, false, 0, NULL}, /* cut before the Z */
    {"2023-02-30T00:00:00Z", 0, false, 0, NULL},
    {"2023-07-10T11:42:18.Z", 0, false, 0, NULL},
};

static void test_parse_time(void **state)
{
    (void)state;
    unsigned unexpected = 0;
    for (size_t i = 0; i < KS_ARRAY_LEN(time_rows); i++) {
        const struct time_row *t = &time_rows[i];
        size_t len = t->len ? t->len : strlen(t->text);
        int64_t ms = 12345;
        bool ok = event_parse_time(t->text, len, &ms);
        bool good = ok == t->ok && (!ok || ms == t->ms);
        if (!good || t->known_bug) {
            print_message("[ parse_time '%.*s' ] got %s %lld, expected %s %lld%s%s\n", (int)len,
                          t->text, ok ? "true" : "false", ok ? (long long)ms : 0LL,
                          t->ok ? "true" : "false", (long long)t->ms,
                          t->known_bug
                              ? (good ? "; known bug fixed? remove the mark: " : "; known bug: ")
                              : "",
                          t->known_bug ? t->known_bug : "");
            if (!good && !t->known_bug)
                unexpected++;
        }
    }
    assert_int_equal(unexpected, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_damage_table),      cmocka_unit_test(test_gzip_truncated),
        cmocka_unit_test(test_gzip_corrupt),      cmocka_unit_test(test_gzip_paths_agree),
        cmocka_unit_test(test_gzip_multi_member), cmocka_unit_test(test_index_offset_time),
        cmocka_unit_test(test_directory_walk),    cmocka_unit_test(test_missing_path),
        cmocka_unit_test(test_callback_stops),    cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
