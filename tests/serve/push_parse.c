/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The push body parsers without a listener (src/http/http_push.h): one row
 * per body, with the events and bad records it must yield and the first
 * error message's start. Hostile rows (truncation, bombs, deep nesting,
 * NUL bytes) sit beside the normal ones. With an argument, every file named
 * is fed to both parsers (a corpus replay: nothing may crash or leak).
 */
#include "http/http_push.h"

#include <zlib.h>

struct tally {
    size_t events, bad;
    char first_bad[256];
    int64_t first_time;
};

static bool on_event(void *ctx, const char *data, size_t len, int64_t time_ms, const char *stream,
                     const char *origin, uint64_t offset)
{
    (void)data, (void)len, (void)stream, (void)origin, (void)offset;
    struct tally *t = ctx;
    if (!t->events++)
        t->first_time = time_ms;
    return true;
}

static void on_bad(void *ctx, const char *msg)
{
    struct tally *t = ctx;
    if (!t->bad++)
        snprintf(t->first_bad, sizeof(t->first_bad), "%s", msg);
}

/* base64 of "{\"eventTime\":\"2026-11-27T00:00:00Z\",\"eventName\":\"Decrypt\"}" */
#define REC_B64 "eyJldmVudFRpbWUiOiIyMDI2LTExLTI3VDAwOjAwOjAwWiIsImV2ZW50TmFtZSI6IkRlY3J5cHQifQ=="
/* base64 of two such lines, newline-separated, no padding needed check */
#define TWO_B64                                                                                    \
    "eyJldmVudFRpbWUiOiIyMDI2LTExLTI3VDAwOjAwOjAwWiJ9CnsiZXZlbnRUaW1lIjoiMjAyNi0xMS0yN1QwMDowMDow" \
    "MFoifQo="

static const struct row {
    const char *name;
    bool firehose;
    const char *body;
    int err; /* expected ks_err */
    size_t events, bad;
    const char *bad_prefix; /* first bad message starts with this */
} rows[] = {
    {"firehose one record", true, "{\"requestId\":\"r\",\"records\":[{\"data\":\"" REC_B64 "\"}]}",
     0, 1, 0, NULL},
    {"firehose ndjson record", true, "{\"records\":[{\"data\":\"" TWO_B64 "\"}]}", 0, 2, 0, NULL},
    {"firehose empty records", true, "{\"records\":[]}", 0, 0, 0, NULL},
    {"firehose empty data", true, "{\"records\":[{\"data\":\"\"}]}", 0, 0, 0, NULL},
    {"firehose bad base64 between good", true,
     "{\"records\":[{\"data\":\"" REC_B64 "\"},{\"data\":\"ab$d\"},{\"data\":\"" REC_B64 "\"}]}", 0,
     2, 1, "records[1].data: invalid base64 at character 2"},
    {"firehose lone base64 char", true, "{\"records\":[{\"data\":\"QUJDR\"}]}", 0, 0, 1,
     "records[0].data: invalid base64 at character 4"},
    {"firehose NUL in record", true, "{\"records\":[{\"data\":\"QQBC\"}]}", 0, 0, 1,
     "records[0] line 1 (byte 0): invalid UTF-8 or NUL at byte 1"},
    {"firehose data not string", true, "{\"records\":[{\"data\":1}]}", KS_E_INVALID, 0, 0, NULL},
    {"firehose no records", true, "{\"requestId\":\"x\"}", KS_E_INVALID, 0, 0, NULL},
    {"firehose truncated", true, "{\"records\":[{\"data\":\"QQ==\"}", KS_E_SYNTAX, 0, 0, NULL},
    {"firehose not json", true, "records", KS_E_SYNTAX, 0, 0, NULL},
    {"firehose duplicate keys", true, "{\"records\":[],\"records\":[]}", KS_E_SYNTAX, 0, 0, NULL},
    {"firehose gzip garbage record", true, "{\"records\":[{\"data\":\"H4sIAAAA\"}]}", 0, 0, 1,
     "records[0].data: gzip data is"},
    {"eventbridge one", false,
     "{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{\"eventTime\":"
     "\"2026-11-27T00:00:00Z\"}}",
     0, 1, 0, NULL},
    {"eventbridge time fallback", false,
     "{\"detail-type\":\"AWS API Call via CloudTrail\",\"time\":\"2026-11-27T00:00:00Z\","
     "\"detail\":{}}",
     0, 1, 0, NULL},
    {"eventbridge array with stranger", false,
     "[{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{}},{\"detail-type\":\"X\"},3]",
     0, 1, 2, "[1]: detail-type 'X'"},
    {"eventbridge entries", false,
     "{\"Entries\":[{\"DetailType\":\"AWS Console Sign In via CloudTrail\",\"Detail\":\"{}\"},"
     "{\"DetailType\":\"AWS API Call via CloudTrail\",\"Detail\":\"[\"}]}",
     0, 1, 1, "Entries[1].Detail: not JSON"},
    {"eventbridge detail not object", false,
     "{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":[1]}", 0, 0, 1,
     "event: detail is missing"},
    {"eventbridge scalar", false, "42", KS_E_SYNTAX, 0, 0, NULL},
    {"eventbridge empty", false, "", KS_E_SYNTAX, 0, 0, NULL},
};

static int run(const struct row *r)
{
    struct tally t = {0};
    struct http_push_sink sink = {.ctx = &t, .event = on_event, .bad = on_bad};
    struct ks_diag d;
    ks_diag_clear(&d);
    struct http_push_firehose_info info;
    enum ks_err err = r->firehose ? http_push_firehose(r->body, strlen(r->body), &sink, &info, &d)
                                  : http_push_eventbridge(r->body, strlen(r->body), &sink, &d);
    bool pass = (int)err == r->err && t.events == r->events && t.bad == r->bad &&
                (!r->bad_prefix || !strncmp(t.first_bad, r->bad_prefix, strlen(r->bad_prefix)));
    if (pass && t.events && r->firehose && t.first_time != INT64_MIN)
        pass = false; /* Firehose records count at their own eventTime */
    printf("%s: %s\n", pass ? "ok" : "FAIL", r->name);
    if (!pass)
        printf("  body %s\n  got err %d (%s) events %zu bad %zu first bad '%s'\n", r->body, err,
               d.msg, t.events, t.bad, t.first_bad);
    return pass ? 0 : 1;
}

/* 64 MiB of zeros, gzip'd: the inflation cap must stop it. */
static int bomb(void)
{
    size_t n = 64u << 20;
    char *zeros = calloc(1, n);
    uLongf clen = compressBound((uLong)n);
    unsigned char *z = malloc(clen);
    int rc = 1;
    if (zeros && z && compress2(z, &clen, (const Bytef *)zeros, (uLong)n, 9) == Z_OK) {
        struct ks_buf out;
        ks_buf_init(&out, HTTP_PUSH_MAX_INFLATED);
        struct ks_diag d;
        ks_diag_clear(&d);
        enum ks_err e = http_push_gunzip((const char *)z, clen, HTTP_PUSH_MAX_INFLATED, &out, &d);
        rc = e == KS_E_TOOBIG && out.len <= HTTP_PUSH_MAX_INFLATED ? 0 : 1;
        printf("%s: a %lu-byte bomb stops at the cap (%s)\n", rc ? "FAIL" : "ok",
               (unsigned long)clen, d.msg);
        ks_buf_release(&out);
    }
    free(zeros);
    free(z);
    return rc;
}

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    struct ks_buf b;
    ks_buf_init(&b, 8u << 20);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ks_buf_add(&b, chunk, n) != KS_OK)
            break;
    fclose(f);
    struct tally t = {0};
    struct http_push_sink sink = {.ctx = &t, .event = on_event, .bad = on_bad};
    struct ks_diag d;
    struct http_push_firehose_info info;
    ks_diag_clear(&d);
    enum ks_err e1 = http_push_firehose(b.data, b.len, &sink, &info, &d);
    ks_diag_clear(&d);
    enum ks_err e2 = http_push_eventbridge(b.data, b.len, &sink, &d);
    printf("ok: %s (%zu events, %zu bad; envelope errors %d %d)\n", path, t.events, t.bad, e1, e2);
    ks_buf_release(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int fails = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            fails += replay(argv[i]);
        return fails ? 1 : 0;
    }
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++)
        fails += run(&rows[i]);
    fails += bomb();
    return fails ? 1 : 0;
}
