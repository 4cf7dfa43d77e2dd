/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Push formats: Kinesis Data Firehose HTTP endpoint delivery and EventBridge
 * events, each an engine source of its own ("http:firehose",
 * "http:eventbridge") so lag and counters show per source.
 *
 * The parsers check a request's envelope whole before handing over a single
 * event: a sender that gets an error retries the whole request, so nothing
 * may have been counted. Inside a valid envelope a bad record is reported
 * with its position and counted, and never costs its neighbours: Firehose
 * has no per-record failure answer, and failing the request would make it
 * redeliver (and us recount) every good record.
 *
 * Bounds: the body is capped by the listener (HTTP_MAX_BODY); base64 only
 * shrinks; every inflation (a gzip body, a gzip record) stops at
 * HTTP_PUSH_MAX_INFLATED; each event is screened for size and UTF-8 before
 * the engine sees it.
 */
#include "http/http_push.h"
#include "http/http_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <zlib.h>

/* ---- gzip and base64 ---------------------------------------------------------- */

enum ks_err http_push_gunzip(const char *in, size_t len, size_t max, struct ks_buf *out,
                             struct ks_diag *diag)
{
    ks_buf_reset(out);
    if (len > UINT32_MAX) /* zlib counts in uInt; bodies are far smaller */
        return ks_diag_set(diag, KS_E_TOOBIG, SIZE_MAX, "gzip data of %zu bytes is too large", len);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* +32: a gzip or a zlib header */
        return ks_diag_set(diag, KS_E_NOMEM, SIZE_MAX, "cannot start inflating");
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    enum ks_err err = KS_OK;
    char chunk[16384];
    for (;;) {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof(chunk) - zs.avail_out, at = len - zs.avail_in;
        /* the cap is checked per chunk, so a bomb costs at most max bytes */
        if (got && (out->len + got > max || ks_buf_add(out, chunk, got) != KS_OK)) {
            err = ks_diag_set(diag, KS_E_TOOBIG, at, "gzip data inflates to more than %zu bytes",
                              max);
            break;
        }
        if (rc == Z_OK)
            continue;
        if (rc == Z_STREAM_END) {
            /* concatenated members are one stream (RFC 1952 §2.2); trailing
             * zero padding is tolerated, as gzip(1) does */
            while (zs.avail_in && *zs.next_in == 0) {
                zs.next_in++;
                zs.avail_in--;
            }
            if (!zs.avail_in)
                break;
            if (inflateReset(&zs) != Z_OK) {
                err = ks_diag_set(diag, KS_E_FORMAT, at, "gzip data is damaged at byte %zu", at);
                break;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && zs.avail_in == 0)
            err = ks_diag_set(diag, KS_E_FORMAT, at, "gzip data is truncated at byte %zu", at);
        else
            err = ks_diag_set(diag, KS_E_FORMAT, at, "gzip data is damaged at byte %zu: %s", at,
                              zs.msg ? zs.msg : "inflate error");
        break;
    }
    inflateEnd(&zs);
    return err;
}

/* Standard base64 (RFC 4648 §4); padding optional, nothing else allowed.
 * Returns false with *bad_at the offending character. */
static bool b64_decode(const char *s, size_t n, struct ks_buf *out, size_t *bad_at)
{
    ks_buf_reset(out);
    size_t end = n;
    while (end > 0 && n - end < 2 && s[end - 1] == '=')
        end--;
    if (ks_buf_grow(out, end / 4 * 3 + 3) != KS_OK) {
        *bad_at = 0;
        return false;
    }
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < end; i++) {
        int v = ks_b64val((unsigned char)s[i], false);
        if (v < 0) {
            *bad_at = i;
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out->data[out->len] = '\0';
    if (end % 4 == 1) { /* a lone trailing character cannot encode a byte */
        *bad_at = end - 1;
        return false;
    }
    return true;
}

/* ---- records ------------------------------------------------------------------- */

struct walk {
    const struct http_push_sink *sink;
    struct ks_buf msg;
};

static void bad(struct walk *w, const char *fmt, ...) KS_PRINTF(2, 3);
static void bad(struct walk *w, const char *fmt, ...)
{
    char m[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    w->sink->bad(w->sink->ctx, m);
}

/* Screens one event as the engine would, so the sender learns why and where. */
static void deliver(struct walk *w, const char *p, size_t n, int64_t time_ms, const char *stream,
                    const char *origin, const char *where, uint64_t offset)
{
    size_t at;
    if (n > KS_MAX_EVENT_BYTES) {
        bad(w, "%s: event of %zu bytes is over the %u-byte limit", where, n,
            (unsigned)KS_MAX_EVENT_BYTES);
        return;
    }
    if (!ks_text_clean(p, n, &at)) {
        bad(w, "%s: invalid UTF-8 or NUL at byte %zu of the event", where, at);
        return;
    }
    w->sink->event(w->sink->ctx, p, n, time_ms, stream, origin, offset);
}

static void deliver_json(struct walk *w, json_t *v, int64_t time_ms, const char *stream,
                         const char *origin, const char *where, uint64_t offset)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        bad(w, "%s: cannot serialise the record", where);
        return;
    }
    deliver(w, s, strlen(s), time_ms, stream, origin, where, offset);
    free(s);
}

/* NDJSON: each non-empty line is an event; a line that starts like JSON must
 * be JSON, so a truncated record is reported rather than counted as text. */
static void lines(struct walk *w, const char *p, size_t n, const char *origin, const char *where)
{
    size_t i = 0, line = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - p) : n, len = e - i;
        line++;
        if (len && p[i + len - 1] == '\r')
            len--;
        size_t k = 0;
        while (k < len && (p[i + k] == ' ' || p[i + k] == '\t'))
            k++;
        if (k < len) {
            char w2[192];
            snprintf(w2, sizeof(w2), "%s line %zu (byte %zu)", where, line, i);
            json_error_t je;
            json_t *doc = NULL;
            if (p[i + k] == '{' && len <= KS_MAX_EVENT_BYTES &&
                !(doc = json_loadb(p + i, len, 0, &je))) {
                bad(w, "%s: not JSON: %s at column %d", w2, je.text, je.column);
            } else {
                deliver(w, p + i, len, INT64_MIN, NULL, origin, w2, i);
            }
            json_decref(doc);
        }
        i = e + 1;
    }
}

/* CloudWatch Logs subscription data: what a subscription filter hands
 * Firehose. Each message is one event at its log event timestamp, as
 * PutLogEvents counts (metric filters on AWS use the log event's time). */
static void cwl(struct walk *w, json_t *doc, const char *origin, const char *where)
{
    const char *type = json_string_value(json_object_get(doc, "messageType"));
    if (type && !strcmp(type, "CONTROL_MESSAGE"))
        return; /* CloudWatch Logs' reachability probe: no events */
    const char *stream = json_string_value(json_object_get(doc, "logStream"));
    json_t *evs = json_object_get(doc, "logEvents"), *ev;
    size_t i;
    json_array_foreach(evs, i, ev)
    {
        char w2[192];
        snprintf(w2, sizeof(w2), "%s logEvents[%zu]", where, i);
        json_t *m = json_object_get(ev, "message"), *ts = json_object_get(ev, "timestamp");
        if (!json_is_string(m)) {
            bad(w, "%s: message is missing or not a string", w2);
            continue;
        }
        int64_t t = INT64_MIN;
        if (json_is_integer(ts))
            t = (int64_t)json_integer_value(ts);
        else if (json_is_real(ts))
            t = (int64_t)json_real_value(ts);
        deliver(w, json_string_value(m), json_string_length(m), t, stream, origin, w2, i);
    }
}

/* One decoded record: a CloudTrail record, a log file, CloudWatch Logs
 * subscription data or NDJSON lines. */
static void content(struct walk *w, const char *p, size_t n, const char *origin, const char *where)
{
    size_t k = 0;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
        k++;
    if (k < n && p[k] == '{') {
        json_error_t je;
        json_t *doc = json_loadb(p, n, 0, &je);
        if (json_is_object(doc)) {
            json_t *recs = json_object_get(doc, "Records");
            if (json_is_array(json_object_get(doc, "logEvents"))) {
                cwl(w, doc, origin, where);
            } else if (json_is_array(recs)) {
                size_t i;
                json_t *rec;
                json_array_foreach(recs, i, rec)
                {
                    char w2[192];
                    snprintf(w2, sizeof(w2), "%s Records[%zu]", where, i);
                    if (json_is_object(rec))
                        deliver_json(w, rec, INT64_MIN, NULL, origin, w2, i);
                    else
                        bad(w, "%s: not a JSON object", w2);
                }
            } else {
                size_t len = n;
                while (len > k && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' '))
                    len--;
                if (memchr(p + k, '\n', len - k)) /* pretty-printed: one line per event */
                    deliver_json(w, doc, INT64_MIN, NULL, origin, where, 0);
                else
                    deliver(w, p + k, len - k, INT64_MIN, NULL, origin, where, k);
            }
            json_decref(doc);
            return;
        }
        json_decref(doc);
    }
    lines(w, p, n, origin, where);
}

/* ---- Firehose ------------------------------------------------------------------- */

static void copy_id(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    /* the id is echoed in JSON and used in origins: keep it printable ASCII */
    for (; s && *s && n + 1 < cap; s++)
        if (*s > ' ' && *s < 0x7f && *s != '"' && *s != '\\')
            dst[n++] = *s;
    dst[n] = '\0';
}

static enum ks_err load_json(const char *body, size_t len, json_t **out, struct ks_diag *diag)
{
    json_error_t je;
    *out = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (*out)
        return KS_OK;
    return ks_diag_set(diag, KS_E_SYNTAX, (size_t)je.position,
                       "body is not JSON: %s at line %d column %d (byte %d)", je.text, je.line,
                       je.column, je.position);
}

enum ks_err http_push_firehose(const char *body, size_t len, const struct http_push_sink *sink,
                               struct http_push_firehose_info *info, struct ks_diag *diag)
{
    memset(info, 0, sizeof(*info));
    json_t *doc;
    enum ks_err err = load_json(body, len, &doc, diag);
    if (err)
        return err;
    json_t *recs = json_object_get(doc, "records"), *rec;
    json_t *ts = json_object_get(doc, "timestamp");
    copy_id(info->request_id, sizeof(info->request_id),
            json_string_value(json_object_get(doc, "requestId")));
    if (json_is_integer(ts))
        info->timestamp_ms = (int64_t)json_integer_value(ts);
    size_t i;
    if (!json_is_object(doc) || !json_is_array(recs)) {
        err = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                          "body is not a Firehose delivery: expected an object with a "
                          "\"records\" array");
        goto out;
    }
    json_array_foreach(recs, i, rec)
    {
        if (!json_is_string(json_object_get(rec, "data"))) {
            err = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                              "records[%zu]: expected an object with a string \"data\"", i);
            goto out;
        }
    }
    info->records = json_array_size(recs);
    struct walk w = {.sink = sink};
    struct ks_buf raw, inflated;
    ks_buf_init(&raw, HTTP_MAX_BODY);
    ks_buf_init(&inflated, HTTP_PUSH_MAX_INFLATED);
    json_array_foreach(recs, i, rec)
    {
        json_t *d = json_object_get(rec, "data");
        char where[64], origin[192];
        snprintf(where, sizeof(where), "records[%zu]", i);
        snprintf(origin, sizeof(origin), "firehose:%s/records[%zu]",
                 info->request_id[0] ? info->request_id : "-", i);
        size_t at;
        if (!b64_decode(json_string_value(d), json_string_length(d), &raw, &at)) {
            bad(&w, "%s.data: invalid base64 at character %zu", where, at);
            continue;
        }
        const char *p = raw.data;
        size_t n = raw.len;
        if (n >= 2 && (unsigned char)p[0] == 0x1f && (unsigned char)p[1] == 0x8b) {
            struct ks_diag d2;
            ks_diag_clear(&d2);
            if (http_push_gunzip(p, n, HTTP_PUSH_MAX_INFLATED, &inflated, &d2) != KS_OK) {
                bad(&w, "%s.data: %s", where, d2.msg);
                continue;
            }
            p = inflated.data;
            n = inflated.len;
        }
        if (n == 0)
            continue; /* an empty record carries no event */
        content(&w, p, n, origin, where);
    }
    ks_buf_release(&raw);
    ks_buf_release(&inflated);
out:
    json_decref(doc);
    return err;
}

/* ---- EventBridge ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* One event. PutEvents input spells the fields DetailType and Detail (a JSON
 * text); delivered events spell them detail-type and detail (an object). */
static void eb_event(struct walk *w, json_t *ev, const char *where)
{
    if (!json_is_object(ev)) {
        bad(w, "%s: not a JSON object", where);
        return;
    }
    bool put = json_object_get(ev, "DetailType") != NULL;
    const char *type = json_string_value(json_object_get(ev, put ? "DetailType" : "detail-type"));
    if (!type || !ends_with(type, "via CloudTrail")) {
        bad(w,
            "%s: detail-type '%.80s' is not a CloudTrail event (\"AWS API Call via "
            "CloudTrail\")",
            where, type ? type : "(missing)");
        return;
    }
    json_t *detail = json_object_get(ev, put ? "Detail" : "detail"), *owned = NULL;
    if (json_is_string(detail)) {
        json_error_t je;
        owned = detail = json_loadb(json_string_value(detail), json_string_length(detail), 0, &je);
        if (!detail) {
            bad(w, "%s.%s: not JSON: %s at column %d", where, put ? "Detail" : "detail", je.text,
                je.column);
            return;
        }
    }
    if (!json_is_object(detail)) {
        bad(w, "%s: detail is missing or not an object", where);
        json_decref(owned);
        return;
    }
    /* the record's own eventTime decides; the envelope's time is when
     * EventBridge saw it, the fallback for records without one */
    int64_t t = INT64_MIN;
    if (!json_is_string(json_object_get(detail, "eventTime"))) {
        const char *et = json_string_value(json_object_get(ev, put ? "Time" : "time"));
        if (et && !event_parse_time(et, strlen(et), &t))
            t = INT64_MIN;
    }
    const char *id = json_string_value(json_object_get(ev, "id"));
    char origin[192];
    snprintf(origin, sizeof(origin), "eventbridge:%.100s", id ? id : where);
    deliver_json(w, detail, t, NULL, origin, where, 0);
    json_decref(owned);
}

enum ks_err http_push_eventbridge(const char *body, size_t len, const struct http_push_sink *sink,
                                  struct ks_diag *diag)
{
    json_t *doc;
    enum ks_err err = load_json(body, len, &doc, diag);
    if (err)
        return err;
    struct walk w = {.sink = sink};
    json_t *entries = json_object_get(doc, "Entries"), *ev;
    size_t i;
    char where[64];
    if (json_is_array(entries)) {
        json_array_foreach(entries, i, ev)
        {
            snprintf(where, sizeof(where), "Entries[%zu]", i);
            eb_event(&w, ev, where);
        }
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, ev)
        {
            snprintf(where, sizeof(where), "[%zu]", i);
            eb_event(&w, ev, where);
        }
    } else if (json_is_object(doc)) {
        eb_event(&w, doc, "event");
    } else {
        err = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                          "body is not an EventBridge event, an array of events or PutEvents "
                          "input {\"Entries\":[...]}");
    }
    json_decref(doc);
    return err;
}

/* ---- the listener's side -------------------------------------------------------- */

#define FIREHOSE_SOURCE    "http:firehose"
#define EVENTBRIDGE_SOURCE "http:eventbridge"

void http_push_register(struct http_server *s)
{
    serve_engine_add_source(s->engine, FIREHOSE_SOURCE, SERVE_SOURCE_HTTP, "");
    serve_engine_add_source(s->engine, EVENTBRIDGE_SOURCE, SERVE_SOURCE_HTTP, "");
}

/*
 * Firehose keeps a request id across its retries. A retry of a delivery we
 * already counted (our answer was lost) is answered 200 without counting it
 * again. The ring remembers the last DEDUP_IDS ids; one listener per
 * process, so it is file-level state. An id is claimed before its records
 * are counted, under the same lock as the look-up, so two copies arriving
 * at once on two listener threads cannot both be counted; the second gets a
 * retryable 503 while the first is in flight (if the first then fails, the
 * claim is dropped and the retry counts).
 */
#define DEDUP_IDS 1024
static pthread_mutex_t dedup_mu = PTHREAD_MUTEX_INITIALIZER;
static char dedup[DEDUP_IDS][128];
static bool dedup_busy[DEDUP_IDS]; /* claimed, not yet counted */
static size_t dedup_next;

enum dedup_state { DEDUP_NEW, DEDUP_DONE, DEDUP_IN_FLIGHT };

static enum dedup_state dedup_claim(const char *id)
{
    enum dedup_state st = DEDUP_NEW;
    pthread_mutex_lock(&dedup_mu);
    for (size_t i = 0; i < DEDUP_IDS && st == DEDUP_NEW; i++)
        if (dedup[i][0] && !strcmp(dedup[i], id))
            st = dedup_busy[i] ? DEDUP_IN_FLIGHT : DEDUP_DONE;
    if (st == DEDUP_NEW) {
        snprintf(dedup[dedup_next], sizeof(dedup[0]), "%s", id);
        dedup_busy[dedup_next] = true;
        dedup_next = (dedup_next + 1) % DEDUP_IDS;
    }
    pthread_mutex_unlock(&dedup_mu);
    return st;
}

/* counted: keep the id as done; else forget the claim */
static void dedup_finish(const char *id, bool counted)
{
    pthread_mutex_lock(&dedup_mu);
    for (size_t i = 0; i < DEDUP_IDS; i++) {
        if (!dedup_busy[i] || strcmp(dedup[i], id))
            continue;
        dedup_busy[i] = false;
        if (!counted)
            dedup[i][0] = '\0';
        break;
    }
    pthread_mutex_unlock(&dedup_mu);
}

struct sinkctx {
    struct http_req *r;
    int source;
    const char *name; /* the source's name, for log lines */
    size_t accepted, rejected, untimed;
    size_t nmsg;
    struct ks_buf errors; /* JSON array body: "msg","msg" */
};

static void note(struct sinkctx *c, const char *msg)
{
    if (c->nmsg++ >= HTTP_PUSH_MAX_ERRORS)
        return;
    enum ks_err e = ks_buf_add(&c->errors, c->nmsg > 1 ? ",\"" : "\"", c->nmsg > 1 ? 2 : 1);
    if (!e)
        e = ks_buf_add_json_str(&c->errors, msg, strlen(msg));
    if (!e)
        e = ks_buf_add(&c->errors, "\"", 1);
    (void)e; /* past the cap the list is only shorter */
}

static bool sink_event(void *ctx, const char *data, size_t len, int64_t time_ms, const char *stream,
                       const char *origin, uint64_t offset)
{
    struct sinkctx *c = ctx;
    if (serve_engine_ingest(c->r->srv->engine, c->source, data, len, time_ms, stream, origin,
                            offset, c->r->now_ms)) {
        c->accepted++;
        return true;
    }
    /* screened already, so the engine only refuses events without a time */
    c->untimed++;
    char m[256];
    snprintf(m, sizeof(m), "%s: no usable eventTime (counted as untimed)", origin);
    note(c, m);
    return false;
}

static void sink_bad(void *ctx, const char *msg)
{
    struct sinkctx *c = ctx;
    c->rejected++;
    serve_engine_bad(c->r->srv->engine, c->source, 1);
    note(c, msg);
    if (!c->r->srv->quiet)
        fprintf(stderr, "level=warn comp=http.push source=%s request=%s msg=\"%s\"\n", c->name,
                c->r->request_id, msg);
}

static bool secret_eq(const char *a, const char *b)
{
    /* no early exit, so timing does not leak a matching prefix */
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static const char *header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool bearer_ok(struct http_req *r)
{
    const char *h = header(r, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && secret_eq(h + 7, r->srv->token);
}

static bool is_gzip(struct http_req *r)
{
    const char *ce = header(r, "Content-Encoding");
    return ce && !strcasecmp(ce, "gzip");
}

/* The Firehose answer: {"requestId","timestamp"} plus errorMessage on
 * failure; Firehose retries anything but a 200. */
static void fh_answer(struct http_req *r, unsigned status, const char *id, const char *error)
{
    ks_buf_reset(&r->out);
    r->status = status;
    r->content_type = "application/json";
    http_out(r, "{\"requestId\":");
    http_out_json_str(r, id);
    http_out(r, ",\"timestamp\":%lld", (long long)r->now_ms);
    if (error) {
        http_out(r, ",\"errorMessage\":");
        http_out_json_str(r, error);
    }
}

static void summary(struct http_req *r, struct sinkctx *c)
{
    http_out(r, ",\"accepted\":%zu,\"rejected\":%zu,\"untimed\":%zu,\"errors\":[", c->accepted,
             c->rejected, c->untimed);
    http_add(r, c->errors.data, c->errors.len);
    http_out(r, "]");
}

static void firehose(struct http_req *r, bool too_big)
{
    char id[128];
    copy_id(id, sizeof(id), header(r, "X-Amz-Firehose-Request-Id"));
    /* Firehose cannot send Authorization: its access key carries the token */
    if (r->srv->token) {
        const char *k = header(r, "X-Amz-Firehose-Access-Key");
        if (!(k && secret_eq(k, r->srv->token)) && !bearer_ok(r)) {
            fh_answer(r, 401, id, "missing or wrong X-Amz-Firehose-Access-Key");
            http_out(r, "}\n");
            return;
        }
    }
    if (too_big) {
        fh_answer(r, 413, id,
                  "request body too large (keysentry takes 2 MiB; set the buffer size "
                  "to 1 MiB)");
        http_out(r, "}\n");
        return;
    }
    struct ks_buf inflated;
    ks_buf_init(&inflated, HTTP_PUSH_MAX_INFLATED);
    const char *body = r->body ? r->body : "";
    size_t len = r->body_len;
    struct ks_diag d;
    ks_diag_clear(&d);
    if (is_gzip(r)) {
        if (http_push_gunzip(body, len, HTTP_PUSH_MAX_INFLATED, &inflated, &d) != KS_OK) {
            fh_answer(r, d.err == KS_E_TOOBIG ? 413 : 400, id, d.msg);
            http_out(r, "}\n");
            ks_buf_release(&inflated);
            return;
        }
        body = inflated.data;
        len = inflated.len;
    }
    enum dedup_state ds = id[0] ? dedup_claim(id) : DEDUP_NEW;
    if (ds == DEDUP_DONE) {
        fh_answer(r, 200, id, NULL);
        http_out(r, ",\"duplicate\":true}\n");
        ks_buf_release(&inflated);
        return;
    }
    if (ds == DEDUP_IN_FLIGHT) {
        fh_answer(r, 503, id, "a delivery with this request id is being processed; retry");
        http_out(r, "}\n");
        ks_buf_release(&inflated);
        return;
    }
    bool claimed = id[0] != '\0';
    struct sinkctx c = {.r = r, .name = FIREHOSE_SOURCE};
    c.source = serve_engine_add_source(r->srv->engine, c.name, SERVE_SOURCE_HTTP, "");
    ks_buf_init(&c.errors, 64u << 10);
    struct http_push_sink sink = {.ctx = &c, .event = sink_event, .bad = sink_bad};
    struct http_push_firehose_info info;
    enum ks_err err = c.source < 0 ? ks_diag_set(&d, KS_E_LIMIT, SIZE_MAX, "too many sources")
                                   : http_push_firehose(body, len, &sink, &info, &d);
    if (!id[0])
        copy_id(id, sizeof(id), info.request_id);
    if (err) {
        if (claimed)
            dedup_finish(id, false);
        fh_answer(r, err == KS_E_LIMIT ? 503 : 400, id, d.msg);
        http_out(r, "}\n");
    } else {
        if (claimed)
            dedup_finish(id, true);
        else if (id[0] && dedup_claim(id) == DEDUP_NEW)
            dedup_finish(id, true); /* the id came from the body: remember it now */
        fh_answer(r, 200, id, NULL);
        summary(r, &c);
        http_out(r, "}\n");
    }
    ks_buf_release(&c.errors);
    ks_buf_release(&inflated);
}

static void eventbridge(struct http_req *r, bool too_big)
{
    if (r->srv->token && !bearer_ok(r)) {
        r->status = 401;
        http_out(r, "{\"error\":\"missing or wrong bearer token\"}\n");
        return;
    }
    if (too_big) {
        r->status = 413;
        http_out(r, "{\"error\":\"request body too large\"}\n");
        return;
    }
    struct ks_buf inflated;
    ks_buf_init(&inflated, HTTP_PUSH_MAX_INFLATED);
    const char *body = r->body ? r->body : "";
    size_t len = r->body_len;
    struct ks_diag d;
    ks_diag_clear(&d);
    struct sinkctx c = {.r = r, .name = EVENTBRIDGE_SOURCE};
    c.source = serve_engine_add_source(r->srv->engine, c.name, SERVE_SOURCE_HTTP, "");
    ks_buf_init(&c.errors, 64u << 10);
    struct http_push_sink sink = {.ctx = &c, .event = sink_event, .bad = sink_bad};
    enum ks_err err = KS_OK;
    if (c.source < 0)
        err = ks_diag_set(&d, KS_E_LIMIT, SIZE_MAX, "too many sources");
    else if (is_gzip(r) &&
             !(err = http_push_gunzip(body, len, HTTP_PUSH_MAX_INFLATED, &inflated, &d))) {
        body = inflated.data;
        len = inflated.len;
    }
    if (!err)
        err = http_push_eventbridge(body, len, &sink, &d);
    if (err) {
        r->status = err == KS_E_LIMIT ? 503 : err == KS_E_TOOBIG ? 413 : 400;
        http_out(r, "{\"error\":");
        http_out_json_str(r, d.msg);
        http_out(r, "}\n");
    } else {
        http_out(r, "{\"requestId\":\"%s\"", r->request_id);
        summary(r, &c);
        http_out(r, "}\n");
    }
    ks_buf_release(&c.errors);
    ks_buf_release(&inflated);
}

bool http_push(struct http_req *r, bool too_big)
{
    bool fh = !strcmp(r->url, "/push/firehose"), eb = !strcmp(r->url, "/push/eventbridge");
    if (!fh && !eb)
        return false;
    r->content_type = "application/json";
    if (strcmp(r->method, "POST")) {
        r->status = 405;
        http_out(r, "{\"error\":\"use POST\"}\n");
    } else if (fh) {
        firehose(r, too_big);
    } else {
        eventbridge(r, too_big);
    }
    return true;
}
