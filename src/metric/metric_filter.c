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

/* One remembered match; fixed widths so the ring never allocates. */
struct recent {
    int64_t time_ms;
    char event_id[64];
    char event_name[64];
    char principal[256];
    char key[256];
    char source_ip[64];
    char error_code[96];
    char user_agent[160];
    const char *file; /* interned in struct metric_filters */
    uint64_t offset;
    long series; /* the series the match's sample went to, -1 for none */
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
    struct recent *recent; /* ring of METRIC_CONTEXT_RECENT, JSON patterns only */
    size_t nrecent, recent_next;
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

struct metric_filters {
    struct pattern_set *set;
    struct pattern_ctx *ctx;
    struct filter *f;
    size_t n;
    uint8_t *matched;
    uint8_t *want;            /* per pattern: evaluate it for want_group's events */
    unsigned want_group;      /* the group want was built for; UINT_MAX: not built */
    int ctx_handle[CF_COUNT]; /* selectors for the context, -1 until a JSON filter exists */
    char **files;             /* interned origin file names */
    size_t nfiles;
    const char *origin_file;
    uint64_t origin_offset;
    /* extraction scratch for space-delimited references */
    const struct filter *cur;
    const char *ext_val[METRIC_MAX_DIMENSIONS + 1];
    size_t ext_len[METRIC_MAX_DIMENSIONS + 1];
    struct ks_buf scratch;
};

struct metric_filters *metric_filters_new(void)
{
    struct metric_filters *mf = ks_xcalloc(1, sizeof(*mf));
    mf->set = pattern_set_new();
    ks_buf_init(&mf->scratch, 8u << 20);
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
        for (size_t d = 0; d < f->ndims; d++) {
            free(f->dim_keys[d]);
            ref_release(&f->dims[d]);
        }
    }
    free(mf->f);
    free(mf->matched);
    free(mf->want);
    for (size_t i = 0; i < mf->nfiles; i++)
        free(mf->files[i]);
    free(mf->files);
    pattern_ctx_free(mf->ctx);
    pattern_set_free(mf->set);
    ks_buf_release(&mf->scratch);
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
        if (mf->ctx_handle[0] < 0) {
            struct ks_diag cd;
            for (int i = 0; i < CF_COUNT; i++)
                mf->ctx_handle[i] = pattern_set_add_selector(mf->set, ctx_selectors[i],
                                                             strlen(ctx_selectors[i]), &cd);
        }
        f->recent = ks_xcalloc(METRIC_CONTEXT_RECENT, sizeof(*f->recent));
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
    mf->ctx = pattern_ctx_new(mf->set);
    mf->matched = ks_xcalloc(mf->n ? mf->n : 1, 1);
    mf->want = ks_xcalloc(mf->n ? mf->n : 1, 1);
    mf->want_group = UINT_MAX;
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
    struct metric_filters *mf = ud;
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
static bool json_text(struct metric_filters *mf, const struct ref *r, const char **s, size_t *n)
{
    const struct event_value *v;
    if (pattern_ctx_selector(mf->ctx, r->handle, &v) == 0)
        return false;
    if (v->type == EVENT_V_NUMBER) {
        *s = v->ptr;
        *n = v->len;
        return true;
    }
    if (v->type != EVENT_V_STRING)
        return false;
    /* decode into our scratch: the pattern scratch is shared by all values */
    const char *out;
    size_t len = event_value_string(v, pattern_ctx_scratch(mf->ctx), &out);
    size_t at = mf->scratch.len;
    if (ks_buf_add(&mf->scratch, out, len) != KS_OK || ks_buf_add(&mf->scratch, "", 1) != KS_OK)
        return false;
    *s = mf->scratch.data + at; /* stable until the next reset: no growth after */
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

static long emit(struct metric_filters *mf, struct filter *f, int64_t time_ms,
                 struct metric_store *store)
{
    double value;
    mf->cur = f;
    for (size_t i = 0; i <= METRIC_MAX_DIMENSIONS; i++)
        mf->ext_val[i] = NULL;
    if (f->kind == PATTERN_SPACE)
        pattern_ctx_extract(mf->ctx, (size_t)f->pattern, on_extract, mf);
    ks_buf_reset(&mf->scratch);
    if (ks_buf_grow(&mf->scratch, 4 * (KS_MAX_EVENT_BYTES + 1)) != KS_OK)
        return -1;
    const char *s = NULL;
    size_t n = 0;
    switch (f->value.kind) {
    case REF_LITERAL:
        value = f->value.literal;
        break;
    case REF_JSON:
        if (!json_text(mf, &f->value, &s, &n) || !numeric(s, n, &value)) {
            f->stats.no_value++;
            return -1;
        }
        break;
    case REF_FIELD:
        if (!mf->ext_val[0] || !numeric(mf->ext_val[0], mf->ext_len[0], &value)) {
            f->stats.no_value++;
            return -1;
        }
        break;
    default:
        return -1;
    }
    if (f->ndims == 0) {
        if (f->plain_series < 0)
            f->plain_series = (long)metric_store_series(store, f->ns, f->metric, NULL, 0, f->unit);
        metric_store_add(store, (size_t)f->plain_series, time_ms, value);
        f->stats.samples++;
        return f->plain_series;
    }
    struct metric_dim dims[METRIC_MAX_DIMENSIONS];
    size_t nd = 0;
    for (size_t d = 0; d < f->ndims; d++) {
        const char *dv = NULL;
        size_t dl = 0;
        bool ok = f->dims[d].kind == REF_JSON
                      ? json_text(mf, &f->dims[d], &dv, &dl)
                      : (dv = mf->ext_val[d + 1], dl = mf->ext_len[d + 1], dv != NULL);
        if (!ok || !valid_dim_value(dv, dl)) {
            f->stats.dims_dropped++;
            continue;
        }
        size_t at = mf->scratch.len;
        if (ks_buf_add(&mf->scratch, dv, dl) != KS_OK || ks_buf_add(&mf->scratch, "", 1) != KS_OK)
            continue;
        dims[nd].name = f->dim_keys[d];
        dims[nd].value = mf->scratch.data + at;
        nd++;
    }
    size_t before = metric_store_series_count(store);
    size_t series = metric_store_series(store, f->ns, f->metric, dims, nd, f->unit);
    if (metric_store_series_count(store) > before)
        guard_cardinality(f, time_ms);
    metric_store_add(store, series, time_ms, value);
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

/* Copies the decoded text of a context selector into out (truncated). */
static void ctx_text(struct metric_filters *mf, int field, char *out, size_t size)
{
    out[0] = '\0';
    const struct event_value *v;
    if (mf->ctx_handle[field] < 0 || pattern_ctx_selector(mf->ctx, mf->ctx_handle[field], &v) == 0)
        return;
    if (v->type != EVENT_V_STRING && v->type != EVENT_V_NUMBER)
        return;
    const char *s = v->ptr;
    size_t n = v->len;
    if (v->type == EVENT_V_STRING)
        n = event_value_string(v, pattern_ctx_scratch(mf->ctx), &s);
    if (n >= size)
        n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static void remember(struct metric_filters *mf, struct filter *f, int64_t time_ms, long series)
{
    struct recent *r = &f->recent[f->recent_next];
    f->recent_next = (f->recent_next + 1) % METRIC_CONTEXT_RECENT;
    if (f->nrecent < METRIC_CONTEXT_RECENT)
        f->nrecent++;
    r->time_ms = time_ms;
    ctx_text(mf, CF_EVENT_ID, r->event_id, sizeof(r->event_id));
    ctx_text(mf, CF_EVENT_NAME, r->event_name, sizeof(r->event_name));
    ctx_text(mf, CF_ISSUER, r->principal, sizeof(r->principal));
    if (!r->principal[0])
        ctx_text(mf, CF_USER_ARN, r->principal, sizeof(r->principal));
    ctx_text(mf, CF_RESOURCE, r->key, sizeof(r->key));
    if (!r->key[0])
        ctx_text(mf, CF_KEY_ID, r->key, sizeof(r->key));
    ctx_text(mf, CF_SOURCE_IP, r->source_ip, sizeof(r->source_ip));
    ctx_text(mf, CF_ERROR, r->error_code, sizeof(r->error_code));
    ctx_text(mf, CF_AGENT, r->user_agent, sizeof(r->user_agent));
    r->file = mf->origin_file;
    r->offset = mf->origin_offset;
    r->series = series;
}

size_t metric_filters_recent(const struct metric_filters *mf, long series, int64_t start_ms,
                             int64_t end_ms, metric_event_fn *fn, void *ud)
{
    size_t n = 0;
    for (size_t i = 0; i < mf->n; i++) {
        const struct filter *f = &mf->f[i];
        if (!f->recent)
            continue;
        for (size_t k = 0; k < f->nrecent; k++) {
            size_t at = (f->recent_next + METRIC_CONTEXT_RECENT - 1 - k) % METRIC_CONTEXT_RECENT;
            const struct recent *r = &f->recent[at];
            if (r->series != series || r->time_ms < start_ms || r->time_ms >= end_ms)
                continue;
            struct metric_event_info ev = {
                .time_ms = r->time_ms,
                .event_id = r->event_id,
                .event_name = r->event_name,
                .principal = r->principal,
                .key = r->key,
                .source_ip = r->source_ip,
                .error_code = r->error_code,
                .user_agent = r->user_agent,
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
    /* the mask is rebuilt only when the group changes (events mostly come
     * in runs of one group), so the per-event cost is one compare */
    const uint8_t *want = NULL;
    if (group != METRIC_GROUP_ANY) {
        if (mf->want_group != group) {
            for (size_t i = 0; i < mf->n; i++)
                mf->want[mf->f[i].pattern] = mf->f[i].group == group;
            mf->want_group = group;
        }
        want = mf->want;
    }
    size_t n = pattern_ctx_match_some(mf->ctx, msg, len, want, mf->matched, NULL);
    for (size_t i = 0; i < mf->n; i++) {
        struct filter *f = &mf->f[i];
        if (f->stats.disabled || (want && !want[f->pattern]))
            continue;
        if (mf->matched[f->pattern]) {
            f->stats.matched++;
            long series = emit(mf, f, time_ms, store);
            if (f->recent)
                remember(mf, f, time_ms, series);
        } else if (f->has_default) {
            if (f->plain_series < 0)
                f->plain_series =
                    (long)metric_store_series(store, f->ns, f->metric, NULL, 0, f->unit);
            metric_store_add(store, (size_t)f->plain_series, time_ms, f->default_value);
            f->stats.defaults++;
        }
    }
    return n;
}
