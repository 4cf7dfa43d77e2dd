/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CloudWatch Logs API subset, JSON 1.1 (X-Amz-Target:
 * Logs_20140328.<Op>), shapes as in the AWS API reference. Errors are
 * {"__type": "...", "message": "..."} with status 400, as the SDKs expect.
 *
 * Pushed events count at their own timestamp. As in CloudWatch Logs, the
 * events of PutLogEvents reach only the metric filters of the log group they
 * are put into (serve_engine_put_events).
 */
#include "http/http_int.h"

#include "pattern/pattern.h"

#include <jansson.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LOGS_MAX_BATCH 10000 /* events per PutLogEvents, as AWS */

void http_logs_error(struct http_req *r, unsigned status, const char *type, const char *msg)
{
    ks_buf_reset(&r->out);
    r->status = status;
    r->content_type = "application/x-amz-json-1.1";
    http_out(r, "{\"__type\":");
    http_out_json_str(r, type);
    http_out(r, ",\"message\":");
    http_out_json_str(r, msg);
    http_out(r, "}");
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool need(struct http_req *r, json_t *o, const char *k, const char **out)
{
    *out = str(o, k);
    if (*out && **out)
        return true;
    char msg[160];
    snprintf(msg, sizeof(msg),
             "1 validation error detected: Value null at '%s' failed to "
             "satisfy constraint: Member must not be null",
             k);
    http_logs_error(r, 400, "InvalidParameterException", msg);
    return false;
}

static void not_found(struct http_req *r, const char *msg)
{
    http_logs_error(r, 400, "ResourceNotFoundException", msg);
}

static void from_err(struct http_req *r, enum ks_err err, const struct ks_diag *d)
{
    if (err == KS_E_NOTFOUND)
        not_found(r, d->msg);
    else if (err == KS_E_LIMIT)
        http_logs_error(r, 400, "LimitExceededException", d->msg);
    else if (strstr(d->msg, "already exists"))
        http_logs_error(r, 400, "ResourceAlreadyExistsException", d->msg);
    else
        http_logs_error(r, 400, "InvalidParameterException", d->msg);
}

static void create_group(struct http_req *r, json_t *in)
{
    const char *g;
    struct ks_diag d;
    if (!need(r, in, "logGroupName", &g))
        return;
    enum ks_err err = serve_engine_create_group(r->srv->engine, g, r->now_ms, &d);
    if (err)
        from_err(r, err, &d);
}

static void create_stream(struct http_req *r, json_t *in)
{
    const char *g, *s;
    struct ks_diag d;
    if (!need(r, in, "logGroupName", &g) || !need(r, in, "logStreamName", &s))
        return;
    enum ks_err err = serve_engine_create_stream(r->srv->engine, g, s, r->now_ms, &d);
    if (err)
        from_err(r, err, &d);
}

static void group_arn(struct http_req *r, const char *name)
{
    http_out(r, "\"arn:aws:logs:%s:%s:log-group:", CONFIG_DEFAULT_REGION,
             CONFIG_DEFAULT_ACCOUNT_ID);
    http_add_json(r, name, strlen(name));
    http_out(r, ":*\"");
}

static void describe_groups(struct http_req *r, json_t *in)
{
    const char *prefix = str(in, "logGroupNamePrefix");
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    http_out(r, "{\"logGroups\":[");
    bool first = true;
    for (size_t i = 0; i < serve_engine_group_count(e); i++) {
        const struct serve_log_group *g = serve_engine_group(e, i);
        if (prefix && strncmp(g->name, prefix, strlen(prefix)))
            continue;
        size_t nf = 0;
        for (size_t k = 0; k < serve_engine_filter_count(e); k++)
            nf += !strcmp(serve_engine_filter(e, k)->log_group, g->name);
        http_out(r, "%s{\"logGroupName\":", first ? "" : ",");
        http_out_json_str(r, g->name);
        http_out(r, ",\"creationTime\":%lld,\"metricFilterCount\":%zu,\"storedBytes\":0,\"arn\":",
                 (long long)g->created_ms, nf);
        group_arn(r, g->name);
        if (g->has_retention)
            http_out(r, ",\"retentionInDays\":%.0f", g->retention_days);
        http_out(r, "}");
        first = false;
    }
    http_out(r, "]}");
    serve_engine_unlock(e);
}

static void describe_streams(struct http_req *r, json_t *in)
{
    const char *g;
    if (!need(r, in, "logGroupName", &g))
        return;
    const char *prefix = str(in, "logStreamNamePrefix");
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    if (!serve_engine_group_find(e, g)) {
        serve_engine_unlock(e);
        not_found(r, "The specified log group does not exist.");
        return;
    }
    http_out(r, "{\"logStreams\":[");
    bool first = true;
    for (size_t i = 0; i < serve_engine_stream_count(e); i++) {
        const struct serve_log_stream *s = serve_engine_stream(e, i);
        if (strcmp(s->group, g) || (prefix && strncmp(s->name, prefix, strlen(prefix))))
            continue;
        http_out(r, "%s{\"logStreamName\":", first ? "" : ",");
        http_out_json_str(r, s->name);
        http_out(r, ",\"creationTime\":%lld", (long long)s->created_ms);
        if (s->last_ingest_ms)
            http_out(r,
                     ",\"firstEventTimestamp\":%lld,\"lastEventTimestamp\":%lld,"
                     "\"lastIngestionTime\":%lld",
                     (long long)s->first_event_ms, (long long)s->last_event_ms,
                     (long long)s->last_ingest_ms);
        http_out(r, ",\"storedBytes\":%llu}", (unsigned long long)s->stored_bytes);
        first = false;
    }
    http_out(r, "]}");
    serve_engine_unlock(e);
}

static void put_events(struct http_req *r, json_t *in)
{
    const char *g, *s;
    if (!need(r, in, "logGroupName", &g) || !need(r, in, "logStreamName", &s))
        return;
    json_t *evs = json_object_get(in, "logEvents");
    if (!json_is_array(evs) || json_array_size(evs) == 0 || json_array_size(evs) > LOGS_MAX_BATCH) {
        http_logs_error(r, 400, "InvalidParameterException",
                        "logEvents must hold 1 to 10000 events");
        return;
    }
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    bool group = serve_engine_group_find(e, g) != NULL;
    serve_engine_unlock(e);
    if (!group) {
        not_found(r, "The specified log group does not exist.");
        return;
    }
    /* validate the whole batch before counting any of it: a rejected request
     * must not leave half its events in the metrics */
    size_t i;
    json_t *ev;
    int64_t first = INT64_MAX, last = INT64_MIN;
    uint64_t bytes = 0;
    json_array_foreach(evs, i, ev)
    {
        json_t *ts = json_object_get(ev, "timestamp");
        if (!json_is_integer(ts) || !json_is_string(json_object_get(ev, "message"))) {
            http_logs_error(r, 400, "InvalidParameterException",
                            "each log event needs an integer timestamp and a string message");
            return;
        }
        int64_t t = (int64_t)json_integer_value(ts);
        if (t < first)
            first = t;
        if (t > last)
            last = t;
    }
    if (!serve_engine_stream_touch(e, g, s, first, last, 0, r->now_ms)) {
        not_found(r, "The specified log stream does not exist.");
        return;
    }
    struct serve_event *batch = ks_xmalloc(json_array_size(evs) * sizeof(*batch));
    json_array_foreach(evs, i, ev)
    {
        json_t *m = json_object_get(ev, "message");
        size_t len = json_string_length(m);
        bytes += len + 26; /* AWS counts 26 bytes of overhead per event */
        batch[i] =
            (struct serve_event){json_string_value(m), len,
                                 (int64_t)json_integer_value(json_object_get(ev, "timestamp"))};
    }
    serve_engine_put_events(e, r->srv->src_logs, g, s, batch, json_array_size(evs), r->now_ms);
    free(batch);
    serve_engine_stream_touch(e, g, s, first, last, bytes, r->now_ms);
    http_out(r, "{\"nextSequenceToken\":\"%lld\"}", (long long)r->now_ms);
}

/* ---- PutLogEvents without a DOM -------------------------------------------
 * jansson built a tree of every event only for put_events to walk it once:
 * two thirds of the daemon's time at 40,000 events/s (docs/benchmarks.md,
 * "PutLogEvents ingest"). This reader walks the body once and unescapes each
 * message into one buffer. It takes only bodies it fully understands: known
 * keys, no duplicates, integer timestamps, no \u0000; anything else returns
 * false and put_events answers from the jansson path, so every error keeps
 * its exact wording. */

struct fast_ev {
    int64_t ts;
    size_t off, len; /* the unescaped message in fast_put.text */
};

struct fast_put {
    const char *p, *end;
    char *text;
    size_t text_len;
    struct fast_ev *ev;
    size_t n;
    size_t g_off, g_len, s_off, s_len; /* group and stream names in text */
    bool has_g, has_s, has_ev;
};

static void fp_ws(struct fast_put *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
}

static bool fp_lit(struct fast_put *f, char c)
{
    fp_ws(f);
    if (f->p == f->end || *f->p != c)
        return false;
    f->p++;
    return true;
}

static int fp_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* A string value, unescaped into f->text at *off (len *len). The bytes were
 * screened for UTF-8 before parsing; control bytes must be escaped. */
static bool fp_string(struct fast_put *f, size_t *off, size_t *len)
{
    fp_ws(f);
    if (f->p == f->end || *f->p != '"')
        return false;
    f->p++;
    char *out = f->text + f->text_len;
    char *o = out;
    for (;;) {
        /* copy the plain run in one go: most of a record is plain */
        const char *q = f->p;
#ifdef __SSE2__
        /* 16 bytes a step: the quote, the backslash or a control byte ends the run */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1f);
        while (f->end - q >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
            __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
            int bits = _mm_movemask_epi8(m);
            if (bits) {
                q += __builtin_ctz((unsigned)bits);
                goto run_end;
            }
            q += 16;
        }
#endif
        while (q < f->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
            q++;
#ifdef __SSE2__
    run_end:
#endif
        memcpy(o, f->p, (size_t)(q - f->p));
        o += q - f->p;
        f->p = q;
        if (q == f->end || (unsigned char)*q < 0x20)
            return false;
        if (*q == '"') {
            f->p++;
            break;
        }
        if (f->end - q < 2)
            return false;
        char c = q[1];
        f->p = q + 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            if (f->end - f->p < 4)
                return false;
            int u = fp_hex4(f->p);
            f->p += 4;
            if (u <= 0)
                return false; /* \u0000 is rejected (jansson), bad hex too */
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (f->end - f->p < 6 || f->p[0] != '\\' || f->p[1] != 'u')
                    return false;
                int lo = fp_hex4(f->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                f->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return false;
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            return false;
        }
    }
    *off = f->text_len;
    *len = (size_t)(o - out);
    f->text_len += *len;
    return true;
}

/* A key: only plain ASCII keys are compared; escaped keys go to jansson. */
static bool fp_key(struct fast_put *f, const char **k, size_t *kl)
{
    fp_ws(f);
    if (f->p == f->end || *f->p != '"')
        return false;
    const char *q = ++f->p;
    while (q < f->end && *q != '"' && *q != '\\')
        q++;
    if (q == f->end || *q != '"')
        return false;
    *k = f->p;
    *kl = (size_t)(q - f->p);
    f->p = q + 1;
    return fp_lit(f, ':');
}

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && !memcmp(k, want, kl);
}

static bool fp_int(struct fast_put *f, int64_t *v)
{
    fp_ws(f);
    bool neg = f->p < f->end && *f->p == '-';
    const char *q = f->p + neg;
    uint64_t x = 0;
    const char *d = q;
    while (q < f->end && *q >= '0' && *q <= '9') {
        if (x > (UINT64_C(1) << 62) / 10)
            return false;
        x = x * 10 + (uint64_t)(*q - '0');
        q++;
    }
    if (q == d || (q - d > 1 && *d == '0'))
        return false;
    if (q < f->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return false; /* a real: jansson's "integer timestamp" error */
    *v = neg ? -(int64_t)x : (int64_t)x;
    f->p = q;
    return true;
}

static bool fp_event(struct fast_put *f, size_t *cap)
{
    if (!fp_lit(f, '{'))
        return false;
    if (f->n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        f->ev = ks_xrealloc(f->ev, *cap * sizeof(*f->ev));
    }
    struct fast_ev *ev = &f->ev[f->n];
    bool has_t = false, has_m = false;
    if (fp_lit(f, '}'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!fp_key(f, &k, &kl))
            return false;
        if (key_is(k, kl, "timestamp") && !has_t) {
            if (!fp_int(f, &ev->ts))
                return false;
            has_t = true;
        } else if (key_is(k, kl, "message") && !has_m) {
            if (!fp_string(f, &ev->off, &ev->len))
                return false;
            has_m = true;
        } else {
            return false;
        }
    } while (fp_lit(f, ','));
    if (!fp_lit(f, '}') || !has_t || !has_m)
        return false;
    f->n++;
    return true;
}

/* Parses the whole body; false: let jansson answer. */
static bool fp_parse(struct fast_put *f, const char *body, size_t len)
{
    size_t bad_at;
    if (!ks_text_clean(body, len, &bad_at))
        return false;
    f->p = body;
    f->end = body + len;
    f->text = ks_xmalloc(len + 1); /* unescaping never grows a string */
    size_t cap = 0;
    if (!fp_lit(f, '{'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!fp_key(f, &k, &kl))
            return false;
        if (key_is(k, kl, "logGroupName") && !f->has_g) {
            if (!fp_string(f, &f->g_off, &f->g_len))
                return false;
            f->text[f->text_len++] = '\0';
            f->has_g = true;
        } else if (key_is(k, kl, "logStreamName") && !f->has_s) {
            if (!fp_string(f, &f->s_off, &f->s_len))
                return false;
            f->text[f->text_len++] = '\0';
            f->has_s = true;
        } else if (key_is(k, kl, "logEvents") && !f->has_ev) {
            if (!fp_lit(f, '['))
                return false;
            f->has_ev = true;
            if (!fp_lit(f, ']')) {
                do {
                    if (f->n == LOGS_MAX_BATCH || !fp_event(f, &cap))
                        return false;
                } while (fp_lit(f, ','));
                if (!fp_lit(f, ']'))
                    return false;
            }
        } else {
            return false;
        }
    } while (fp_lit(f, ','));
    if (!fp_lit(f, '}'))
        return false;
    fp_ws(f);
    /* the names must be non-empty and NUL-free to be used as C strings */
    return f->p == f->end && f->has_g && f->has_s && f->n > 0 && f->g_len && f->s_len &&
           !memchr(f->text + f->g_off, '\0', f->g_len) &&
           !memchr(f->text + f->s_off, '\0', f->s_len);
}

/* PutLogEvents from a body fp_parse took: the same checks and answers as
 * put_events. */
static void put_events_fast(struct http_req *r, struct fast_put *f)
{
    const char *g = f->text + f->g_off, *s = f->text + f->s_off;
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    bool group = serve_engine_group_find(e, g) != NULL;
    serve_engine_unlock(e);
    if (!group) {
        not_found(r, "The specified log group does not exist.");
        return;
    }
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < f->n; i++) {
        if (f->ev[i].ts < first)
            first = f->ev[i].ts;
        if (f->ev[i].ts > last)
            last = f->ev[i].ts;
    }
    if (!serve_engine_stream_touch(e, g, s, first, last, 0, r->now_ms)) {
        not_found(r, "The specified log stream does not exist.");
        return;
    }
    uint64_t bytes = 0;
    struct serve_event *batch = ks_xmalloc(f->n * sizeof(*batch));
    for (size_t i = 0; i < f->n; i++) {
        bytes += f->ev[i].len + 26; /* AWS counts 26 bytes of overhead per event */
        batch[i] = (struct serve_event){f->text + f->ev[i].off, f->ev[i].len, f->ev[i].ts};
    }
    serve_engine_put_events(e, r->srv->src_logs, g, s, batch, f->n, r->now_ms);
    free(batch);
    serve_engine_stream_touch(e, g, s, first, last, bytes, r->now_ms);
    http_out(r, "{\"nextSequenceToken\":\"%lld\"}", (long long)r->now_ms);
}

static void out_filter(struct http_req *r, const struct serve_filter *f)
{
    const struct metric_filter_def *d = &f->def;
    http_out(r, "{\"filterName\":");
    http_out_json_str(r, d->name);
    http_out(r, ",\"filterPattern\":");
    http_out_json_str(r, d->pattern);
    http_out(r, ",\"logGroupName\":");
    http_out_json_str(r, f->log_group);
    http_out(r, ",\"creationTime\":%lld,\"metricTransformations\":[{\"metricName\":",
             (long long)f->created_ms);
    http_out_json_str(r, d->metric_name);
    http_out(r, ",\"metricNamespace\":");
    http_out_json_str(r, d->namespace_);
    http_out(r, ",\"metricValue\":");
    http_out_json_str(r, d->value);
    if (d->has_default)
        http_out(r, ",\"defaultValue\":%.17g", d->default_value);
    if (d->unit) {
        http_out(r, ",\"unit\":");
        http_out_json_str(r, d->unit);
    }
    if (d->ndims) {
        http_out(r, ",\"dimensions\":{");
        for (size_t k = 0; k < d->ndims; k++) {
            http_out(r, k ? "," : "");
            http_out_json_str(r, d->dims[k].key);
            http_out(r, ":");
            http_out_json_str(r, d->dims[k].ref);
        }
        http_out(r, "}");
    }
    http_out(r, "}]}");
}

static void describe_filters(struct http_req *r, json_t *in)
{
    const char *g = str(in, "logGroupName"), *prefix = str(in, "filterNamePrefix");
    const char *mn = str(in, "metricName"), *ns = str(in, "metricNamespace");
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    if (g && !serve_engine_group_find(e, g)) {
        serve_engine_unlock(e);
        not_found(r, "The specified log group does not exist.");
        return;
    }
    http_out(r, "{\"metricFilters\":[");
    bool first = true;
    for (size_t i = 0; i < serve_engine_filter_count(e); i++) {
        const struct serve_filter *f = serve_engine_filter(e, i);
        if ((g && strcmp(f->log_group, g)) ||
            (prefix && strncmp(f->def.name, prefix, strlen(prefix))) ||
            (mn && strcmp(f->def.metric_name, mn)) || (ns && strcmp(f->def.namespace_, ns)))
            continue;
        http_out(r, first ? "" : ",");
        out_filter(r, f);
        first = false;
    }
    http_out(r, "]}");
    serve_engine_unlock(e);
}

static void put_filter(struct http_req *r, json_t *in)
{
    const char *g, *name, *pat;
    if (!need(r, in, "logGroupName", &g) || !need(r, in, "filterName", &name))
        return;
    pat = str(in, "filterPattern");
    json_t *mts = json_object_get(in, "metricTransformations");
    json_t *mt = json_array_get(mts, 0);
    if (!pat || json_array_size(mts) != 1 || !json_is_object(mt)) {
        http_logs_error(r, 400, "InvalidParameterException",
                        "filterPattern and exactly one metricTransformations entry are required");
        return;
    }
    struct metric_filter_def def;
    memset(&def, 0, sizeof(def));
    def.name = name;
    def.pattern = pat;
    def.metric_name = str(mt, "metricName");
    def.namespace_ = str(mt, "metricNamespace");
    def.value = str(mt, "metricValue");
    def.unit = str(mt, "unit");
    json_t *dv = json_object_get(mt, "defaultValue");
    if (json_is_number(dv)) {
        def.has_default = true;
        def.default_value = json_number_value(dv);
    }
    json_t *dims = json_object_get(mt, "dimensions");
    const char *k;
    json_t *v;
    json_object_foreach(dims, k, v)
    {
        if (def.ndims == METRIC_MAX_DIMENSIONS || !json_is_string(v)) {
            http_logs_error(r, 400, "InvalidParameterException",
                            "at most 3 dimensions, each a string");
            return;
        }
        def.dims[def.ndims].key = k;
        def.dims[def.ndims++].ref = json_string_value(v);
    }
    if (!def.metric_name || !def.namespace_ || !def.value) {
        http_logs_error(r, 400, "InvalidParameterException",
                        "metricName, metricNamespace and metricValue are required");
        return;
    }
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err err = serve_engine_put_filter(r->srv->engine, g, &def, r->now_ms, &d);
    if (err)
        from_err(r, err, &d);
}

static void delete_filter(struct http_req *r, json_t *in)
{
    const char *g, *name;
    if (!need(r, in, "logGroupName", &g) || !need(r, in, "filterName", &name))
        return;
    if (!serve_engine_delete_filter(r->srv->engine, g, name))
        not_found(r, "The specified metric filter does not exist.");
}

struct extract_out {
    struct http_req *r;
    bool first;
};

static void on_extract(void *ud, const char *name, size_t nl, const char *v, size_t vl)
{
    struct extract_out *x = ud;
    http_out(x->r, x->first ? "\"" : ",\"");
    http_add_json(x->r, name, nl);
    http_out(x->r, "\":\"");
    http_add_json(x->r, v, vl);
    http_out(x->r, "\"");
    x->first = false;
}

static struct pattern_set *compile(struct http_req *r, const char *pat)
{
    struct pattern_set *set = pattern_set_new();
    struct ks_diag d;
    ks_diag_clear(&d);
    if (pattern_set_add(set, pat, strlen(pat), &d) < 0) {
        pattern_set_free(set);
        http_logs_error(r, 400, "InvalidParameterException", d.msg);
        return NULL;
    }
    pattern_set_finish(set);
    return set;
}

/* Same matcher and output shape as `keysentry test-pattern --json`. */
static void test_filter(struct http_req *r, json_t *in)
{
    const char *pat = str(in, "filterPattern");
    json_t *msgs = json_object_get(in, "logEventMessages");
    if (!pat || !json_is_array(msgs) || json_array_size(msgs) < 1 || json_array_size(msgs) > 50) {
        http_logs_error(r, 400, "InvalidParameterException",
                        "filterPattern and 1 to 50 logEventMessages are required");
        return;
    }
    struct pattern_set *set = compile(r, pat);
    if (!set)
        return;
    struct pattern_ctx *ctx = pattern_ctx_new(set);
    http_out(r, "{\"matches\":[");
    bool first = true;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *s = json_string_value(m);
        if (!s)
            continue;
        uint8_t hit = 0;
        pattern_ctx_match(ctx, s, json_string_length(m), &hit, NULL);
        if (!hit)
            continue;
        http_out(r, "%s{\"eventNumber\":%zu,\"eventMessage\":", first ? "" : ",", i + 1);
        http_add(r, "\"", 1);
        http_add_json(r, s, json_string_length(m));
        http_out(r, "\",\"extractedValues\":{");
        struct extract_out x = {r, true};
        pattern_ctx_extract(ctx, 0, on_extract, &x);
        http_out(r, "}}");
        first = false;
    }
    http_out(r, "]}");
    pattern_ctx_free(ctx);
    pattern_set_free(set);
}

/* Searches the recent-events ring (docs/serve.md#limits), newest last as AWS
 * returns them. */
static void filter_events(struct http_req *r, json_t *in)
{
    const char *g;
    if (!need(r, in, "logGroupName", &g))
        return;
    const char *pat = str(in, "filterPattern");
    json_t *st = json_object_get(in, "startTime"), *et = json_object_get(in, "endTime");
    int64_t start = json_is_integer(st) ? (int64_t)json_integer_value(st) : INT64_MIN;
    int64_t end = json_is_integer(et) ? (int64_t)json_integer_value(et) : INT64_MAX;
    json_t *lim = json_object_get(in, "limit");
    size_t limit = json_is_integer(lim) && json_integer_value(lim) > 0 &&
                           json_integer_value(lim) < HTTP_EVENTS_LIMIT
                       ? (size_t)json_integer_value(lim)
                       : HTTP_EVENTS_LIMIT;
    struct pattern_set *set = pat && *pat ? compile(r, pat) : NULL;
    if (pat && *pat && !set)
        return;
    struct pattern_ctx *ctx = set ? pattern_ctx_new(set) : NULL;
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    if (!serve_engine_group_find(e, g)) {
        serve_engine_unlock(e);
        pattern_ctx_free(ctx);
        pattern_set_free(set);
        not_found(r, "The specified log group does not exist.");
        return;
    }
    http_out(r, "{\"events\":[");
    size_t n = 0;
    for (size_t i = 0; i < serve_engine_recent_count(e) && n < limit; i++) {
        const struct serve_recent *ev = serve_engine_recent(e, i);
        /* events of sources without a log group belong to every group */
        if ((ev->log_group[0] && strcmp(ev->log_group, g)) || ev->time_ms < start ||
            ev->time_ms >= end)
            continue;
        uint8_t hit = 1;
        if (ctx)
            pattern_ctx_match(ctx, ev->message, ev->len, &hit, NULL);
        if (!hit)
            continue;
        http_out(r, "%s{\"logStreamName\":", n ? "," : "");
        http_out_json_str(r, ev->stream[0] ? ev->stream
                                           : serve_engine_source(e, (size_t)ev->source)->name);
        http_out(r, ",\"timestamp\":%lld,\"ingestionTime\":%lld,\"eventId\":\"%llu\",\"message\":",
                 (long long)ev->time_ms, (long long)ev->ingest_ms, (unsigned long long)ev->seq);
        http_add(r, "\"", 1);
        http_add_json(r, ev->message, ev->len);
        http_out(r, "\"}");
        n++;
    }
    http_out(r, "],\"searchedLogStreams\":[]}");
    serve_engine_unlock(e);
    pattern_ctx_free(ctx);
    pattern_set_free(set);
}

static const struct {
    const char *name;
    void (*fn)(struct http_req *r, json_t *in);
} ops[] = {
    {"PutLogEvents", put_events},
    {"CreateLogGroup", create_group},
    {"CreateLogStream", create_stream},
    {"DescribeLogGroups", describe_groups},
    {"DescribeLogStreams", describe_streams},
    {"PutMetricFilter", put_filter},
    {"DescribeMetricFilters", describe_filters},
    {"DeleteMetricFilter", delete_filter},
    {"TestMetricFilter", test_filter},
    {"FilterLogEvents", filter_events},
};

void http_logs(struct http_req *r, const char *op)
{
    r->content_type = "application/x-amz-json-1.1";
    if (!strcmp(op, "PutLogEvents") && r->body) {
        struct fast_put f;
        memset(&f, 0, sizeof(f));
        bool ok = fp_parse(&f, r->body, r->body_len);
        if (ok)
            put_events_fast(r, &f);
        free(f.text);
        free(f.ev);
        if (ok) {
            if (r->out.len == 0)
                http_out(r, "{}");
            return;
        }
    }
    for (size_t i = 0; i < KS_ARRAY_LEN(ops); i++) {
        if (strcmp(ops[i].name, op))
            continue;
        json_error_t jerr;
        json_t *in = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(in)) {
            json_decref(in);
            http_logs_error(r, 400, "SerializationException", "request body is not a JSON object");
            return;
        }
        ops[i].fn(r, in);
        json_decref(in);
        if (r->out.len == 0)
            http_out(r, "{}");
        return;
    }
    http_logs_error(r, 400, "UnknownOperationException", "unknown operation");
}
