/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metric filters: turning matches into samples (spec/metric-filters.md §3).
 *
 * All filters' patterns live in one pattern set, so the record is scanned
 * once for every pattern and every value/dimension selector. Decisions on
 * the spec's open points (docs/metric-filters.md):
 *  - one defaultValue sample per non-matching event (M1);
 *  - a metricValue that is absent or not numeric emits nothing (M2);
 *  - a dimension whose value is missing or invalid is left out, so the sample
 *    lands in the series without it (M3, as AWS documents);
 *  - a filter creating 1,000 new series within one hour of event time is
 *    disabled (AWS's cardinality guard).
 */
#include "metric/metric.h"

#include <limits.h>
#include <math.h>

enum ref_kind {
    REF_LITERAL, /* a number */
    REF_JSON,    /* $.a.b: selector handle in the pattern set */
    REF_FIELD,   /* $name or $n of a space-delimited pattern */
};

struct ref {
    enum ref_kind kind;
    double literal;
    int handle;
    char *field; /* "$name" as pattern_ctx_extract names it */
    size_t field_len;
};

/* The context text of one match; fixed widths so the ring never allocates.
 * Extracted lazily (see "context" below), not while matching. */
struct recent_text {
    char event_id[64];
    char event_name[64];
    char principal[256];
    char key[256];
    char source_ip[64];
    char error_code[96];
    char user_agent[160];
};

/* One remembered match. Its text is filter.text[same slot] once has_text;
 * until then it is extracted from the record's bytes at pos in the filter's
 * byte ring (see "context" below). */
struct recent {
    int64_t time_ms;
    const char *file; /* interned in struct metric_filters */
    uint64_t offset;
    long series;  /* the series the match's sample went to, -1 for none */
    uint64_t pos; /* the record in filter.bytes (a position in all bytes ever kept) */
    uint32_t len;
    bool has_text; /* text extracted into filter.text */
};

enum ctx_field {
    CF_EVENT_ID,
    CF_EVENT_NAME,
    CF_ISSUER,
    CF_USER_ARN,
    CF_RESOURCE,
    CF_KEY_ID,
    CF_SOURCE_IP,
    CF_ERROR,
    CF_AGENT,
    CF_COUNT
};

static const char *const ctx_selectors[CF_COUNT] = {
    "$.eventID",          "$.eventName",        "$.userIdentity.sessionContext.sessionIssuer.arn",
    "$.userIdentity.arn", "$.resources[0].ARN", "$.requestParameters.keyId",
    "$.sourceIPAddress",  "$.errorCode",        "$.userAgent",
};

struct filter {
    char *name, *ns, *metric, *unit;
    /* the context of the newest METRIC_CONTEXT_RECENT matches (JSON
     * patterns only): recent[seq % RECENT] is the next slot written */
    struct recent *recent;
    struct recent_text *text; /* per slot; pages touched only when extracted */
    uint64_t seq;             /* matches remembered so far */
    uint64_t live;            /* oldest match whose text may still need its bytes */
    char *bytes;              /* the records of recent[], a byte ring */
    size_t bytes_alloc;       /* how much of bytes the ring may use so far */
    size_t bytes_cap;         /* the ring's size: METRIC_CONTEXT_BYTES until growth stops */
    uint64_t bytes_head;      /* bytes ever written (positions of recent.pos) */
    int pattern;
    enum pattern_kind kind;
    struct ref value;
    bool has_default;
    double default_value;
    size_t ndims;
    char *dim_keys[METRIC_MAX_DIMENSIONS];
    struct ref dims[METRIC_MAX_DIMENSIONS];
    unsigned group;    /* def.group: the log group whose events it sees */
    long plain_series; /* cached series for samples without dimensions */
    struct metric_filter_stats stats;
    int64_t new_series_times[METRIC_MAX_SERIES_PER_HOUR];
    size_t new_series_n;
};

/*
 * Two kinds of state: the compiled part (set, f[i]'s definition fields,
 * ctx_set, ctx_handle), written only before
 * metric_filters_finish and then read by any number of matching threads; and
 * the running part (f[i].stats, plain_series, recent ring and its bytes and
 * text, cardinality times, files, origin, ctx_scan, ctx_bytes), written by
 * metric_filters_emit and metric_filters_recent under the caller's lock.
 * Matching never reads the running part, so the two never race.
 */
struct metric_filters {
    struct pattern_set *set;
    struct filter *f;
    size_t n;
    /* The context selectors live in a set of their own, not in set: the
     * matching scan then stops once the patterns' fields are seen, instead
     * of walking every record to its eventID and resources (docs/benchmarks.md,
     * replay). NULL until a JSON filter exists. */
    struct pattern_set *ctx_set;
    int ctx_handle[CF_COUNT];
    struct pattern_ctx *ctx_scan; /* extraction under the caller's lock */
    size_t ctx_bytes;             /* all filters' byte rings (METRIC_CONTEXT_BYTES_ALL) */
    char **files;                 /* interned origin file names */
    size_t nfiles;
    const char *origin_file;
    uint64_t origin_offset;
    struct metric_match *own; /* metric_filters_apply's scratch */
};

/* What one filter makes of one event: decided while matching, applied by
 * emit. Text lives in metric_match.text (offsets: it may move as it grows). */
enum out_kind { OUT_MATCH, OUT_DEFAULT };

struct out {
    uint32_t filter;
    uint8_t kind;
    bool value_ok;   /* OUT_MATCH: metricValue resolved to a number (M2) */
    uint8_t ndims;   /* dimensions kept */
    uint8_t dropped; /* dimensions missing or invalid (M3) */
    uint8_t dim_index[METRIC_MAX_DIMENSIONS];
    double value;
    size_t dim_off[METRIC_MAX_DIMENSIONS]; /* NUL-terminated, in text */
};

struct event_out {
    size_t first, n; /* outs[first .. first + n) */
    size_t matched;  /* filters of the event's group that matched */
    /* for the context rings, when some matching filter keeps one: the
     * record's bytes at raw_off in metric_match.raw, or (when raw is full)
     * its text, already extracted, in recents[text] */
    bool keep;
    long text;
    size_t raw_off, raw_len;
};

struct metric_match {
    const struct metric_filters *mf;
    struct pattern_ctx *ctx;
    uint8_t *matched, *want;
    unsigned want_group; /* the group want was built for; UINT_MAX: none yet */
    struct out *outs;
    size_t nouts, capouts;
    struct event_out *evs;
    size_t nevs, capevs;
    struct recent_text *recents;
    size_t nrecents, caprecents;
    struct pattern_ctx *ctx_eager; /* on ctx_set, for recents */
    struct ks_buf raw;             /* matched records' bytes, for the context rings */
    struct ks_buf text;            /* dimension values */
    struct ks_buf decoded;         /* a JSON value's decoded text, one at a time */
    /* extraction scratch for space-delimited references */
    const struct filter *cur;
    const char *ext_val[METRIC_MAX_DIMENSIONS + 1];
    size_t ext_len[METRIC_MAX_DIMENSIONS + 1];
};

struct metric_filters *metric_filters_new(void)
{
    struct metric_filters *mf = ks_xcalloc(1, sizeof(*mf));
    mf->set = pattern_set_new();
    for (int i = 0; i < CF_COUNT; i++)
        mf->ctx_handle[i] = -1;
    return mf;
}

static void ref_release(struct ref *r)
{
    free(r->field);
}

void metric_filters_free(struct metric_filters *mf)
{
    if (!mf)
        return;
    for (size_t i = 0; i < mf->n; i++) {
        struct filter *f = &mf->f[i];
        free(f->name);
        free(f->ns);
        free(f->metric);
        free(f->unit);
        ref_release(&f->value);
        free(f->recent);
        free(f->text);
        free(f->bytes);
        for (size_t d = 0; d < f->ndims; d++) {
            free(f->dim_keys[d]);
            ref_release(&f->dims[d]);
        }
    }
    free(mf->f);
    for (size_t i = 0; i < mf->nfiles; i++)
        free(mf->files[i]);
    free(mf->files);
    metric_match_free(mf->own);
    pattern_ctx_free(mf->ctx_scan);
    pattern_set_free(mf->ctx_set);
    pattern_set_free(mf->set);
    free(mf);
}

static bool parse_double(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
}

/* A metricValue or dimension reference, per the filter's pattern class (§3.4). */
static enum ks_err parse_ref(struct metric_filters *mf, enum pattern_kind kind, const char *text,
                             bool numeric_ok, struct ref *r, const char *what, struct ks_diag *diag)
{
    memset(r, 0, sizeof(*r));
    r->handle = -1;
    if (text[0] != '$') {
        if (numeric_ok && parse_double(text, &r->literal)) {
            r->kind = REF_LITERAL;
            return KS_OK;
        }
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "%s '%s' must be a number or a field reference ($.field or $field)",
                           what, text);
    }
    if (kind == PATTERN_JSON) {
        struct ks_diag d;
        r->handle = pattern_set_add_selector(mf->set, text, strlen(text), &d);
        if (r->handle < 0)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%s '%s': %s", what, text, d.msg);
        r->kind = REF_JSON;
        return KS_OK;
    }
    if (kind == PATTERN_SPACE) {
        const char *p = text + 1;
        bool ok = *p != '\0';
        for (; *p && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_';
        if (!ok)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "%s '%s': a space-delimited pattern names fields as $name or $n",
                               what, text);
        r->kind = REF_FIELD;
        r->field = ks_xstrdup(text);
        r->field_len = strlen(text);
        return KS_OK;
    }
    return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                       "%s '%s': only JSON and space-delimited patterns have fields to refer to",
                       what, text);
}

int metric_filters_add(struct metric_filters *mf, const struct metric_filter_def *def,
                       struct ks_diag *diag)
{
    ks_diag_clear(diag);
    if (!def->namespace_ || !*def->namespace_ || !def->metric_name || !*def->metric_name) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                    "metric filter '%s' needs a namespace and a metric name", def->name);
        return -1;
    }
    if (def->ndims > METRIC_MAX_DIMENSIONS) {
        ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "metric filter '%s': at most 3 dimensions",
                    def->name);
        return -1;
    }
    if (def->ndims && def->has_default) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                    "metric filter '%s': defaultValue cannot be combined with dimensions",
                    def->name);
        return -1;
    }
    int pi = pattern_set_add(mf->set, def->pattern, strlen(def->pattern), diag);
    if (pi < 0)
        return -1;
    mf->f = ks_xrealloc(mf->f, (mf->n + 1) * sizeof(*mf->f));
    struct filter *f = &mf->f[mf->n];
    memset(f, 0, sizeof(*f));
    f->pattern = pi;
    f->kind = pattern_set_kind(mf->set, (size_t)pi);
    f->name = ks_xstrdup(def->name);
    f->ns = ks_xstrdup(def->namespace_);
    f->metric = ks_xstrdup(def->metric_name);
    f->unit = ks_xstrdup(def->unit ? def->unit : "None");
    f->has_default = def->has_default;
    f->default_value = def->default_value;
    f->plain_series = -1;
    f->group = def->group;
    mf->n++; /* from here on, metric_filters_free releases it */
    if (def->ndims && f->kind != PATTERN_JSON && f->kind != PATTERN_SPACE) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                    "metric filter '%s': The specified filter pattern does not support dimensions",
                    def->name);
        return -1;
    }
    if (f->kind == PATTERN_JSON) {
        if (!mf->ctx_set) {
            struct ks_diag cd;
            mf->ctx_set = pattern_set_new();
            for (int i = 0; i < CF_COUNT; i++)
                mf->ctx_handle[i] = pattern_set_add_selector(mf->ctx_set, ctx_selectors[i],
                                                             strlen(ctx_selectors[i]), &cd);
        }
        f->recent = ks_xcalloc(METRIC_CONTEXT_RECENT, sizeof(*f->recent));
        f->text = ks_xcalloc(METRIC_CONTEXT_RECENT, sizeof(*f->text));
        f->bytes_cap = METRIC_CONTEXT_BYTES;
    }
    char what[200];
    snprintf(what, sizeof(what), "metric filter '%s': metricValue", def->name);
    if (parse_ref(mf, f->kind, def->value ? def->value : "1", true, &f->value, what, diag))
        return -1;
    for (size_t d = 0; d < def->ndims; d++) {
        snprintf(what, sizeof(what), "metric filter '%s': dimension '%s'", def->name,
                 def->dims[d].key);
        f->dim_keys[d] = ks_xstrdup(def->dims[d].key);
        f->ndims = d + 1;
        if (parse_ref(mf, f->kind, def->dims[d].ref, false, &f->dims[d], what, diag))
            return -1;
    }
    return (int)mf->n - 1;
}

void metric_filters_finish(struct metric_filters *mf)
{
    pattern_set_finish(mf->set);
    if (mf->ctx_set) {
        pattern_set_finish(mf->ctx_set);
        mf->ctx_scan = pattern_ctx_new(mf->ctx_set);
    }
    mf->own = metric_match_new(mf);
}

struct metric_match *metric_match_new(const struct metric_filters *mf)
{
    struct metric_match *mm = ks_xcalloc(1, sizeof(*mm));
    mm->mf = mf;
    mm->ctx = pattern_ctx_new(mf->set);
    mm->matched = ks_xcalloc(mf->n ? mf->n : 1, 1);
    mm->want = ks_xcalloc(mf->n ? mf->n : 1, 1);
    mm->want_group = UINT_MAX;
    if (mf->ctx_set)
        mm->ctx_eager = pattern_ctx_new(mf->ctx_set);
    /* a batch's matched records; past this, their text is extracted while
     * matching instead (as it always was) */
    ks_buf_init(&mm->raw, 64u << 20);
    ks_buf_init(&mm->text, 64u << 20);
    ks_buf_init(&mm->decoded, 4 * (KS_MAX_EVENT_BYTES + 1));
    return mm;
}

void metric_match_free(struct metric_match *mm)
{
    if (!mm)
        return;
    pattern_ctx_free(mm->ctx);
    free(mm->matched);
    free(mm->want);
    free(mm->outs);
    free(mm->evs);
    free(mm->recents);
    pattern_ctx_free(mm->ctx_eager);
    ks_buf_release(&mm->raw);
    ks_buf_release(&mm->text);
    ks_buf_release(&mm->decoded);
    free(mm);
}

const struct metric_filters *metric_match_filters(const struct metric_match *mm)
{
    return mm->mf;
}

void metric_match_reset(struct metric_match *mm)
{
    mm->nouts = mm->nevs = mm->nrecents = 0;
    ks_buf_reset(&mm->raw);
    ks_buf_reset(&mm->text);
}

size_t metric_filters_count(const struct metric_filters *mf)
{
    return mf->n;
}

const char *metric_filters_name(const struct metric_filters *mf, size_t index)
{
    return mf->f[index].name;
}

const struct metric_filter_stats *metric_filters_stats(const struct metric_filters *mf,
                                                       size_t index)
{
    return &mf->f[index].stats;
}

void metric_filters_restore_stats(struct metric_filters *mf, size_t index,
                                  const struct metric_filter_stats *stats)
{
    mf->f[index].stats = *stats;
}

static void on_extract(void *ud, const char *name, size_t nl, const char *v, size_t vl)
{
    struct metric_match *mf = ud;
    const struct filter *f = mf->cur;
    if (f->value.kind == REF_FIELD && f->value.field_len == nl &&
        !memcmp(f->value.field, name, nl)) {
        mf->ext_val[0] = v;
        mf->ext_len[0] = vl;
    }
    for (size_t d = 0; d < f->ndims; d++) {
        if (f->dims[d].kind == REF_FIELD && f->dims[d].field_len == nl &&
            !memcmp(f->dims[d].field, name, nl)) {
            mf->ext_val[d + 1] = v;
            mf->ext_len[d + 1] = vl;
        }
    }
}

/* Text of a JSON reference (first value), decoded; false when unresolved or
 * not a scalar. Numbers give their JSON text, strings their decoded text. */
static bool json_text(struct metric_match *mm, const struct ref *r, const char **s, size_t *n)
{
    const struct event_value *v;
    if (pattern_ctx_selector(mm->ctx, r->handle, &v) == 0)
        return false;
    if (v->type == EVENT_V_NUMBER) {
        *s = v->ptr;
        *n = v->len;
        return true;
    }
    if (v->type != EVENT_V_STRING)
        return false;
    /* decode into our own buffer: the pattern scratch is shared by all
     * values; the caller copies the text before the next call */
    const char *out;
    size_t len = event_value_string(v, pattern_ctx_scratch(mm->ctx), &out);
    ks_buf_reset(&mm->decoded);
    if (ks_buf_add(&mm->decoded, out, len) != KS_OK)
        return false;
    *s = mm->decoded.data;
    *n = len;
    return true;
}

static bool numeric(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) /* decimal text only: no hex, inf or nan */
        if (!strchr("0123456789+-.eE", buf[i]))
            return false;
    return parse_double(buf, out);
}

static bool valid_dim_value(const char *s, size_t n)
{
    if (n == 0 || n > 1024)
        return false;
    bool nonblank = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || c < 0x20)
            return false;
        nonblank = nonblank || c != ' ';
    }
    return nonblank;
}

static void guard_cardinality(struct filter *f, int64_t time_ms)
{
    /* a ring of the creation times of this filter's newest series: once full,
     * slot n % cap holds the oldest of the last cap creations */
    size_t cap = METRIC_MAX_SERIES_PER_HOUR;
    f->new_series_times[f->new_series_n % cap] = time_ms;
    f->new_series_n++;
    if (f->new_series_n < cap || f->stats.disabled)
        return;
    if (time_ms - f->new_series_times[f->new_series_n % cap] < 3600 * 1000) {
        f->stats.disabled = true;
        fprintf(stderr,
                "keysentry: metric filter '%s' disabled: %zu distinct dimension sets within one "
                "hour (AWS's cardinality guard)\n",
                f->name, cap);
    }
}

/* The match phase of one matching filter: resolves the value and the
 * dimensions as emit used to, into o (spec/metric-filters.md §3.4). */
static void prepare(struct metric_match *mm, const struct filter *f, struct out *o)
{
    mm->cur = f;
    for (size_t i = 0; i <= METRIC_MAX_DIMENSIONS; i++)
        mm->ext_val[i] = NULL;
    if (f->kind == PATTERN_SPACE)
        pattern_ctx_extract(mm->ctx, (size_t)f->pattern, on_extract, mm);
    const char *s = NULL;
    size_t n = 0;
    switch (f->value.kind) {
    case REF_LITERAL:
        o->value = f->value.literal;
        o->value_ok = true;
        break;
    case REF_JSON:
        o->value_ok = json_text(mm, &f->value, &s, &n) && numeric(s, n, &o->value);
        break;
    case REF_FIELD:
        o->value_ok = mm->ext_val[0] && numeric(mm->ext_val[0], mm->ext_len[0], &o->value);
        break;
    default:
        break;
    }
    if (!o->value_ok)
        return;
    for (size_t d = 0; d < f->ndims; d++) {
        const char *dv = NULL;
        size_t dl = 0;
        bool ok = f->dims[d].kind == REF_JSON
                      ? json_text(mm, &f->dims[d], &dv, &dl)
                      : (dv = mm->ext_val[d + 1], dl = mm->ext_len[d + 1], dv != NULL);
        if (!ok || !valid_dim_value(dv, dl)) {
            o->dropped++;
            continue;
        }
        size_t at = mm->text.len;
        if (ks_buf_add(&mm->text, dv, dl) != KS_OK || ks_buf_add(&mm->text, "", 1) != KS_OK)
            continue;
        o->dim_index[o->ndims] = (uint8_t)d;
        o->dim_off[o->ndims++] = at;
    }
}

/* The emit phase of one matching filter; returns the series or -1. */
static long emit_out(struct metric_match *mm, struct filter *f, const struct out *o,
                     int64_t time_ms, struct metric_store *store)
{
    if (!o->value_ok) {
        f->stats.no_value++;
        return -1;
    }
    if (f->ndims == 0) {
        if (f->plain_series < 0)
            f->plain_series = (long)metric_store_series(store, f->ns, f->metric, NULL, 0, f->unit);
        metric_store_add(store, (size_t)f->plain_series, time_ms, o->value);
        f->stats.samples++;
        return f->plain_series;
    }
    f->stats.dims_dropped += o->dropped;
    struct metric_dim dims[METRIC_MAX_DIMENSIONS];
    for (size_t k = 0; k < o->ndims; k++) {
        dims[k].name = f->dim_keys[o->dim_index[k]];
        dims[k].value = mm->text.data + o->dim_off[k];
    }
    size_t before = metric_store_series_count(store);
    size_t series = metric_store_series(store, f->ns, f->metric, dims, o->ndims, f->unit);
    if (metric_store_series_count(store) > before)
        guard_cardinality(f, time_ms);
    metric_store_add(store, series, time_ms, o->value);
    f->stats.samples++;
    return (long)series;
}

void metric_filters_set_origin(struct metric_filters *mf, const char *file, uint64_t offset)
{
    mf->origin_offset = offset;
    if (!file) {
        mf->origin_file = NULL;
        return;
    }
    if (mf->origin_file && strcmp(mf->origin_file, file) == 0)
        return;
    mf->files = ks_xrealloc(mf->files, (mf->nfiles + 1) * sizeof(char *));
    mf->files[mf->nfiles] = ks_xstrdup(file);
    mf->origin_file = mf->files[mf->nfiles++];
}

/*
 * The context of a match is not extracted while matching: a filter matching a
 * third of the records would pay for nine more fields per match, most of them
 * never read (docs/benchmarks.md, replay). Matching keeps the record's bytes
 * (metric_match.raw); emit copies them into the filter's byte ring, a FIFO
 * like the ring of matches, so the newest matches' bytes are the ones kept;
 * metric_filters_recent extracts the text of the matches it passes, once per
 * match. A match whose bytes are about to be overwritten while it is still
 * in the ring has its text extracted then (evict_bytes), so every match in
 * the ring reports the same text as if it had been extracted at once; the
 * byte cap only trades memory for extraction under the caller's lock.
 */

/* Copies the decoded text of a context selector into out (truncated). */
static void ctx_text(struct pattern_ctx *c, int handle, char *out, size_t size)
{
    out[0] = '\0';
    const struct event_value *v;
    if (handle < 0 || pattern_ctx_selector(c, handle, &v) == 0)
        return;
    if (v->type != EVENT_V_STRING && v->type != EVENT_V_NUMBER)
        return;
    const char *s = v->ptr;
    size_t n = v->len;
    if (v->type == EVENT_V_STRING)
        n = event_value_string(v, pattern_ctx_scratch(c), &s);
    if (n >= size)
        n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The context text of one record, scanned with c (a context of ctx_set). */
static void recent_text_fill(const struct metric_filters *mf, struct pattern_ctx *c,
                             const char *msg, size_t len, struct recent_text *t)
{
    /* ctx_set has selectors and no pattern: matching only points c at msg;
     * the first selector read runs the scan */
    uint8_t none;
    pattern_ctx_match(c, msg, len, &none, NULL);
    const int *h = mf->ctx_handle;
    ctx_text(c, h[CF_EVENT_ID], t->event_id, sizeof(t->event_id));
    ctx_text(c, h[CF_EVENT_NAME], t->event_name, sizeof(t->event_name));
    ctx_text(c, h[CF_ISSUER], t->principal, sizeof(t->principal));
    if (!t->principal[0])
        ctx_text(c, h[CF_USER_ARN], t->principal, sizeof(t->principal));
    ctx_text(c, h[CF_RESOURCE], t->key, sizeof(t->key));
    if (!t->key[0])
        ctx_text(c, h[CF_KEY_ID], t->key, sizeof(t->key));
    ctx_text(c, h[CF_SOURCE_IP], t->source_ip, sizeof(t->source_ip));
    ctx_text(c, h[CF_ERROR], t->error_code, sizeof(t->error_code));
    ctx_text(c, h[CF_AGENT], t->user_agent, sizeof(t->user_agent));
}

/* Extracts the text of slot at from its bytes (caller's lock). The bytes
 * are still there: evict_bytes extracts before overwriting. */
static void recent_extract(const struct metric_filters *mf, const struct filter *f, size_t at)
{
    struct recent *r = &f->recent[at];
    if (r->has_text)
        return;
    const char *msg = f->bytes + r->pos % f->bytes_cap;
    recent_text_fill(mf, mf->ctx_scan, msg, r->len, &f->text[at]);
    r->has_text = true;
}

/* Before bytes up to position head are written: extracts the text of every
 * match still in the ring whose bytes lie before head - cap. Matches are in
 * the same order as their bytes, so this walks from the oldest (f->live) and
 * stops at the first whose bytes survive. */
static void evict_bytes(const struct metric_filters *mf, struct filter *f, uint64_t head)
{
    uint64_t cap = f->bytes_cap;
    while (f->live < f->seq) {
        size_t at = (size_t)(f->live % METRIC_CONTEXT_RECENT);
        struct recent *r = &f->recent[at];
        if (!r->has_text && head - r->pos <= cap)
            break;
        recent_extract(mf, f, at);
        f->live++;
    }
}

/* Copies a record into the filter's byte ring; false when it is larger than
 * the whole ring. */
static bool keep_bytes(struct metric_filters *mf, struct filter *f, struct recent *r,
                       const char *msg, size_t len)
{
    uint64_t pos = f->bytes_head;
    size_t phys = (size_t)(pos % f->bytes_cap);
    if (phys + len > f->bytes_alloc && f->bytes_alloc < f->bytes_cap) {
        /* the ring grows only before its first wrap, while positions and
         * offsets are still equal (pos < alloc); it stops at its cap, or
         * where it is once all rings together hold METRIC_CONTEXT_BYTES_ALL
         * (but at least METRIC_CONTEXT_MIN_BYTES): its size is then fixed.
         * The buffer is allocated at its cap once: pages it never reaches
         * are never touched, so memory follows alloc without the copies
         * (and freed chunks) of realloc */
        size_t a = f->bytes_alloc ? f->bytes_alloc * 2 : METRIC_CONTEXT_MIN_BYTES;
        while (a < phys + len && a < f->bytes_cap)
            a *= 2;
        if (a > f->bytes_cap)
            a = f->bytes_cap;
        if (a > METRIC_CONTEXT_MIN_BYTES &&
            mf->ctx_bytes + (a - f->bytes_alloc) > METRIC_CONTEXT_BYTES_ALL) {
            a = f->bytes_alloc > METRIC_CONTEXT_MIN_BYTES ? f->bytes_alloc
                                                          : METRIC_CONTEXT_MIN_BYTES;
            f->bytes_cap = a;
        }
        if (a > f->bytes_alloc) {
            if (!f->bytes)
                f->bytes = ks_xmalloc(METRIC_CONTEXT_BYTES);
            mf->ctx_bytes += a - f->bytes_alloc;
            f->bytes_alloc = a;
        }
        phys = (size_t)(pos % f->bytes_cap);
    }
    size_t cap = f->bytes_cap;
    if (len > cap)
        return false;
    /* a record never wraps around the end: it starts over at 0 instead */
    if (phys + len > cap) {
        pos += cap - phys;
        phys = 0;
    }
    evict_bytes(mf, f, pos + len);
    memcpy(f->bytes + phys, msg, len);
    f->bytes_head = pos + len;
    r->pos = pos;
    r->len = (uint32_t)len;
    return true;
}

static void remember(struct metric_filters *mf, struct filter *f, const struct metric_match *mm,
                     const struct event_out *eo, int64_t time_ms, long series)
{
    size_t at = (size_t)(f->seq % METRIC_CONTEXT_RECENT);
    struct recent *r = &f->recent[at];
    /* the match this slot held leaves the ring: its text is no longer owed */
    if (f->seq >= METRIC_CONTEXT_RECENT && f->live <= f->seq - METRIC_CONTEXT_RECENT)
        f->live = f->seq - METRIC_CONTEXT_RECENT + 1;
    r->time_ms = time_ms;
    r->file = mf->origin_file;
    r->offset = mf->origin_offset;
    r->series = series;
    r->has_text = false;
    r->len = 0;
    if (eo->text >= 0) {
        f->text[at] = mm->recents[eo->text];
        r->has_text = true;
    } else {
        const char *msg = mm->raw.data + eo->raw_off;
        if (!keep_bytes(mf, f, r, msg, eo->raw_len)) {
            recent_text_fill(mf, mf->ctx_scan, msg, eo->raw_len, &f->text[at]);
            r->has_text = true;
        }
    }
    f->seq++;
}

size_t metric_filters_recent(const struct metric_filters *mf, long series, int64_t start_ms,
                             int64_t end_ms, metric_event_fn *fn, void *ud)
{
    size_t n = 0;
    for (size_t i = 0; i < mf->n; i++) {
        const struct filter *f = &mf->f[i];
        if (!f->recent)
            continue;
        size_t nrecent = f->seq < METRIC_CONTEXT_RECENT ? (size_t)f->seq : METRIC_CONTEXT_RECENT;
        for (size_t k = 0; k < nrecent; k++) {
            size_t at = (size_t)((f->seq - 1 - k) % METRIC_CONTEXT_RECENT);
            const struct recent *r = &f->recent[at];
            if (r->series != series || r->time_ms < start_ms || r->time_ms >= end_ms)
                continue;
            recent_extract(mf, f, at);
            const struct recent_text *t = &f->text[at];
            struct metric_event_info ev = {
                .time_ms = r->time_ms,
                .event_id = t->event_id,
                .event_name = t->event_name,
                .principal = t->principal,
                .key = t->key,
                .source_ip = t->source_ip,
                .error_code = t->error_code,
                .user_agent = t->user_agent,
                .file = r->file ? r->file : "",
                .offset = r->offset,
            };
            fn(ud, &ev);
            n++;
        }
    }
    return n;
}

size_t metric_filters_apply(struct metric_filters *mf, const char *msg, size_t len, int64_t time_ms,
                            struct metric_store *store)
{
    return metric_filters_apply_group(mf, METRIC_GROUP_ANY, msg, len, time_ms, store);
}

size_t metric_filters_apply_group(struct metric_filters *mf, unsigned group, const char *msg,
                                  size_t len, int64_t time_ms, struct metric_store *store)
{
    metric_match_reset(mf->own);
    size_t k = metric_filters_match(mf->own, group, msg, len);
    return metric_filters_emit(mf, mf->own, k, time_ms, store);
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    *cap = c;
    return ks_xrealloc(p, c * size);
}

size_t metric_filters_match(struct metric_match *mm, unsigned group, const char *msg, size_t len)
{
    const struct metric_filters *mf = mm->mf;
    /* the mask is rebuilt only when the group changes (events mostly come
     * in runs of one group), so the per-event cost is one compare */
    const uint8_t *want = NULL;
    if (group != METRIC_GROUP_ANY) {
        if (mm->want_group != group) {
            for (size_t i = 0; i < mf->n; i++)
                mm->want[mf->f[i].pattern] = mf->f[i].group == group;
            mm->want_group = group;
        }
        want = mm->want;
    }
    mm->evs = grow(mm->evs, &mm->capevs, mm->nevs + 1, sizeof(*mm->evs));
    struct event_out *eo = &mm->evs[mm->nevs];
    eo->first = mm->nouts;
    eo->n = 0;
    eo->matched = pattern_ctx_match_some(mm->ctx, msg, len, want, mm->matched, NULL);
    eo->keep = false;
    eo->text = -1;
    /* disabled filters are skipped by emit, not here: stats.disabled is
     * running state, written under the caller's lock */
    for (size_t i = 0; i < mf->n; i++) {
        const struct filter *f = &mf->f[i];
        if (want && !want[f->pattern])
            continue;
        bool hit = mm->matched[f->pattern];
        if (!hit && !f->has_default)
            continue;
        mm->outs = grow(mm->outs, &mm->capouts, mm->nouts + 1, sizeof(*mm->outs));
        struct out *o = &mm->outs[mm->nouts++];
        memset(o, 0, sizeof(*o));
        o->filter = (uint32_t)i;
        eo->n++;
        if (!hit) {
            o->kind = OUT_DEFAULT;
            o->value = f->default_value;
            continue;
        }
        o->kind = OUT_MATCH;
        prepare(mm, f, o);
        eo->keep = eo->keep || f->recent;
    }
    if (eo->keep) {
        /* once per event however many filters keep it */
        eo->raw_off = mm->raw.len;
        eo->raw_len = len;
        if (ks_buf_add(&mm->raw, msg, len) != KS_OK) {
            mm->recents =
                grow(mm->recents, &mm->caprecents, mm->nrecents + 1, sizeof(*mm->recents));
            eo->text = (long)mm->nrecents;
            recent_text_fill(mf, mm->ctx_eager, msg, len, &mm->recents[mm->nrecents++]);
        }
    }
    return mm->nevs++;
}

size_t metric_filters_emit(struct metric_filters *mf, struct metric_match *mm, size_t k,
                           int64_t time_ms, struct metric_store *store)
{
    const struct event_out *eo = &mm->evs[k];
    for (size_t j = 0; j < eo->n; j++) {
        const struct out *o = &mm->outs[eo->first + j];
        struct filter *f = &mf->f[o->filter];
        if (f->stats.disabled)
            continue;
        if (o->kind == OUT_MATCH) {
            f->stats.matched++;
            long series = emit_out(mm, f, o, time_ms, store);
            if (f->recent)
                remember(mf, f, mm, eo, time_ms, series);
        } else {
            if (f->plain_series < 0)
                f->plain_series =
                    (long)metric_store_series(store, f->ns, f->metric, NULL, 0, f->unit);
            metric_store_add(store, (size_t)f->plain_series, time_ms, o->value);
            f->stats.defaults++;
        }
    }
    return eo->matched;
}
