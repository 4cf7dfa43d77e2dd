/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The context block: what AWS's alarm message lacks (docs/notifications.md
 * #context). An accumulator counts the values of five fields over the
 * matching events of the evaluated window and keeps the newest ten; the
 * renderers write it as e-mail text, as the keysentryContext JSON object and
 * as Slack blocks; the parser rebuilds it from that JSON for registered
 * actions after a restart.
 *
 * Every string in here came from an event, i.e. from whoever called the KMS
 * API: text renderings replace control characters so a crafted user agent
 * cannot forge lines of the e-mail, and Slack renderings escape &, < and >.
 */
#include "notify/notify_int.h"

/* Distinct values counted per field; beyond this, new values are counted as
 * NOTIFY_OTHER so a flood of random source addresses cannot grow memory. */
#define ACC_MAX_DISTINCT 65536
#define NOTIFY_OTHER     "(other values)"

enum acc_field { F_PRINCIPAL, F_KEY, F_SOURCE_IP, F_ERROR_CODE, F_USER_AGENT, F_COUNT };

struct acc_slot {
    char *value; /* NULL = empty slot */
    uint64_t count;
};

struct acc_map {
    struct acc_slot *slots;
    size_t cap; /* power of two */
    size_t n;
    uint64_t other;
    struct notify_context_count *sorted; /* built by get */
};

struct acc_event {
    struct notify_context_event ev;
    uint64_t seq;
    char *strings[8];
};

struct notify_context_acc {
    struct acc_map maps[F_COUNT];
    struct acc_event recent[NOTIFY_CONTEXT_RECENT_MAX];
    size_t n_recent;
    uint64_t added;
    struct notify_context_event out_recent[NOTIFY_CONTEXT_RECENT_MAX];
};

static uint64_t hash_mem(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The bytes of s that are kept: at most NOTIFY_CONTEXT_FIELD_MAX, never half
 * a UTF-8 sequence. */
static size_t clip_len(const char *s)
{
    size_t n = strnlen(s, NOTIFY_CONTEXT_FIELD_MAX + 1);
    if (n > NOTIFY_CONTEXT_FIELD_MAX) {
        n = NOTIFY_CONTEXT_FIELD_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

static char *clip_dup(const char *s)
{
    return ks_xmemdup(s, clip_len(s));
}

static void map_grow(struct acc_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct acc_slot *ns = ks_xcalloc(ncap, sizeof(*ns));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].value)
            continue;
        size_t at = hash_mem(m->slots[i].value, strlen(m->slots[i].value)) & (ncap - 1);
        while (ns[at].value)
            at = (at + 1) & (ncap - 1);
        ns[at] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

static void map_add(struct acc_map *m, const char *v)
{
    if (!v || !*v)
        return;
    if (m->n * 2 >= m->cap)
        map_grow(m);
    size_t n = clip_len(v);
    size_t at = hash_mem(v, n) & (m->cap - 1);
    while (m->slots[at].value) {
        if (strlen(m->slots[at].value) == n && memcmp(m->slots[at].value, v, n) == 0) {
            m->slots[at].count++;
            return;
        }
        at = (at + 1) & (m->cap - 1);
    }
    if (m->n >= ACC_MAX_DISTINCT) {
        m->other++;
        return;
    }
    m->slots[at].value = ks_xmemdup(v, n);
    m->slots[at].count = 1;
    m->n++;
}

static void map_release(struct acc_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].value);
    free(m->slots);
    free(m->sorted);
}

struct notify_context_acc *notify_context_acc_new(void)
{
    return ks_xcalloc(1, sizeof(struct notify_context_acc));
}

static void event_release(struct acc_event *e)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(e->strings); i++)
        free(e->strings[i]);
    memset(e, 0, sizeof(*e));
}

static void event_copy(struct acc_event *dst, const struct notify_context_event *src, uint64_t seq)
{
    const char *in[8] = {src->event_name, src->event_id,   src->principal,  src->key,
                         src->source_ip,  src->error_code, src->user_agent, src->file};
    for (size_t i = 0; i < 8; i++)
        dst->strings[i] = clip_dup(in[i] ? in[i] : "");
    dst->ev = (struct notify_context_event){
        .time_ms = src->time_ms,
        .event_name = dst->strings[0],
        .event_id = dst->strings[1],
        .principal = dst->strings[2],
        .key = dst->strings[3],
        .source_ip = dst->strings[4],
        .error_code = dst->strings[5],
        .user_agent = dst->strings[6],
        .file = dst->strings[7],
        .offset = src->offset,
    };
    dst->seq = seq;
}

/* Newer first; among equal times the one added first (callers pass newest
 * first, so that keeps their order). */
static bool newer(const struct acc_event *a, int64_t t, uint64_t seq)
{
    return a->ev.time_ms > t || (a->ev.time_ms == t && a->seq < seq);
}

void notify_context_acc_add(struct notify_context_acc *acc, const struct notify_context_event *ev)
{
    map_add(&acc->maps[F_PRINCIPAL], ev->principal);
    map_add(&acc->maps[F_KEY], ev->key);
    map_add(&acc->maps[F_SOURCE_IP], ev->source_ip);
    map_add(&acc->maps[F_ERROR_CODE], ev->error_code);
    map_add(&acc->maps[F_USER_AGENT], ev->user_agent);
    uint64_t seq = acc->added++;
    /* insertion into the sorted array of the newest NOTIFY_CONTEXT_RECENT_MAX */
    size_t pos = acc->n_recent;
    while (pos > 0 && !newer(&acc->recent[pos - 1], ev->time_ms, seq))
        pos--;
    if (pos >= NOTIFY_CONTEXT_RECENT_MAX)
        return;
    if (acc->n_recent == NOTIFY_CONTEXT_RECENT_MAX)
        event_release(&acc->recent[NOTIFY_CONTEXT_RECENT_MAX - 1]);
    else
        acc->n_recent++;
    memmove(&acc->recent[pos + 1], &acc->recent[pos],
            (acc->n_recent - 1 - pos) * sizeof(acc->recent[0]));
    memset(&acc->recent[pos], 0, sizeof(acc->recent[pos]));
    event_copy(&acc->recent[pos], ev, seq);
}

uint64_t notify_context_acc_count(const struct notify_context_acc *acc)
{
    return acc->added;
}

static int cmp_count(const void *a, const void *b)
{
    const struct notify_context_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->value, y->value);
}

static void map_sorted(struct acc_map *m, struct notify_context_top *top)
{
    free(m->sorted);
    m->sorted = ks_xcalloc(m->n + 1, sizeof(*m->sorted));
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            m->sorted[k++] = (struct notify_context_count){m->slots[i].value, m->slots[i].count};
    qsort(m->sorted, k, sizeof(*m->sorted), cmp_count);
    if (m->other)
        m->sorted[k++] = (struct notify_context_count){NOTIFY_OTHER, m->other};
    top->v = m->sorted;
    top->n = k;
}

void notify_context_acc_get(struct notify_context_acc *acc, int64_t window_start_ms,
                            int64_t window_end_ms, struct notify_context *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->window_start_ms = window_start_ms;
    ctx->window_end_ms = window_end_ms;
    ctx->matching_events = acc->added;
    map_sorted(&acc->maps[F_PRINCIPAL], &ctx->principals);
    map_sorted(&acc->maps[F_KEY], &ctx->keys);
    map_sorted(&acc->maps[F_SOURCE_IP], &ctx->source_ips);
    map_sorted(&acc->maps[F_ERROR_CODE], &ctx->error_codes);
    map_sorted(&acc->maps[F_USER_AGENT], &ctx->user_agents);
    for (size_t i = 0; i < acc->n_recent; i++)
        acc->out_recent[i] = acc->recent[i].ev;
    ctx->recent = acc->out_recent;
    ctx->n_recent = acc->n_recent;
}

void notify_context_acc_free(struct notify_context_acc *acc)
{
    if (!acc)
        return;
    for (size_t i = 0; i < F_COUNT; i++)
        map_release(&acc->maps[i]);
    for (size_t i = 0; i < acc->n_recent; i++)
        event_release(&acc->recent[i]);
    free(acc);
}

/* ---- renderings ------------------------------------------------------------- */

/* CloudTrail's eventTime form: seconds, or milliseconds when there are any. */
static void fmt_event_time(char out[64], int64_t ms)
{
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int frac = (int)(ms - s * 1000);
    time_t tt = (time_t)s;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (frac)
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Appends s with control characters replaced by spaces (text renderings). */
static enum ks_err add_clean(struct ks_buf *b, const char *s)
{
    if (!s)
        return KS_OK;
    for (const char *p = s; *p;) {
        size_t run = 0;
        while (p[run] && (unsigned char)p[run] >= 0x20 && p[run] != 0x7f)
            run++;
        enum ks_err e = ks_buf_add(b, p, run);
        if (e)
            return e;
        p += run;
        if (*p) {
            if ((e = ks_buf_add(b, " ", 1)))
                return e;
            p++;
        }
    }
    return KS_OK;
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum ks_err e_ = (x);                                                                      \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

static const struct {
    const char *label; /* e-mail */
    const char *json;  /* keysentryContext key */
    size_t offset;
} tops[] = {
    {"Top Principals:", "topPrincipals", offsetof(struct notify_context, principals)},
    {"Top Keys:", "topKeys", offsetof(struct notify_context, keys)},
    {"Top Source IPs:", "topSourceIPs", offsetof(struct notify_context, source_ips)},
    {"Top Error Codes:", "topErrorCodes", offsetof(struct notify_context, error_codes)},
    {"Top User Agents:", "topUserAgents", offsetof(struct notify_context, user_agents)},
};

static const struct notify_context_top *top_at(const struct notify_context *ctx, size_t i)
{
    return (const struct notify_context_top *)((const char *)ctx + tops[i].offset);
}

/* "- Label:" padded so values start at column 31, as AWS's Alarm Details. */
static enum ks_err label(struct ks_buf *b, const char *l)
{
    return ks_buf_addf(b, "- %-28s", l);
}

enum ks_err notify_context_text(const struct notify_context *ctx, struct ks_buf *b)
{
    char t0[64], t1[64];
    alarm_fmt_time(t0, ctx->window_start_ms);
    alarm_fmt_time(t1, ctx->window_end_ms);
    TRY(ks_buf_addf(b, "Keysentry Context:\n"));
    TRY(label(b, "Evaluated Window:"));
    TRY(ks_buf_addf(b, "%s to %s\n", t0, t1));
    TRY(label(b, "Matching Events:"));
    TRY(ks_buf_addf(b, "%llu\n", (unsigned long long)ctx->matching_events));
    for (size_t i = 0; i < KS_ARRAY_LEN(tops); i++) {
        const struct notify_context_top *t = top_at(ctx, i);
        TRY(label(b, tops[i].label));
        if (!t->n)
            TRY(ks_buf_addf(b, "(none)\n"));
        for (size_t k = 0; k < t->n && k < NOTIFY_CONTEXT_TOP_MAX; k++) {
            if (k)
                TRY(ks_buf_addf(b, "%30s", ""));
            TRY(add_clean(b, t->v[k].value));
            TRY(ks_buf_addf(b, " (%llu)\n", (unsigned long long)t->v[k].count));
        }
        if (t->n > NOTIFY_CONTEXT_TOP_MAX)
            TRY(ks_buf_addf(b, "%30s(%zu more)\n", "", t->n - NOTIFY_CONTEXT_TOP_MAX));
    }
    TRY(ks_buf_addf(b, "\nMost Recent Matching Events (newest first, max. %d):\n",
                    NOTIFY_CONTEXT_RECENT_MAX));
    if (!ctx->n_recent)
        TRY(ks_buf_addf(b, "- (none)\n"));
    for (size_t i = 0; i < ctx->n_recent && i < NOTIFY_CONTEXT_RECENT_MAX; i++) {
        const struct notify_context_event *ev = &ctx->recent[i];
        char t[64];
        fmt_event_time(t, ev->time_ms);
        TRY(ks_buf_addf(b, "- %s ", t));
        TRY(add_clean(b, nz(ev->event_name) ? ev->event_name : "(no eventName)"));
        if (nz(ev->error_code)) {
            TRY(ks_buf_addf(b, " "));
            TRY(add_clean(b, ev->error_code));
        }
        TRY(ks_buf_addf(b, "\n"));
        const struct {
            const char *l;
            const char *v;
        } rows[] = {{"eventID:", ev->event_id},
                    {"principal:", ev->principal},
                    {"key:", ev->key},
                    {"sourceIPAddress:", ev->source_ip},
                    {"userAgent:", ev->user_agent}};
        for (size_t k = 0; k < KS_ARRAY_LEN(rows); k++) {
            if (!nz(rows[k].v))
                continue;
            TRY(ks_buf_addf(b, "  %-18s", rows[k].l));
            TRY(add_clean(b, rows[k].v));
            TRY(ks_buf_addf(b, "\n"));
        }
        if (nz(ev->file)) {
            TRY(ks_buf_addf(b, "  %-18s", "origin:"));
            TRY(add_clean(b, ev->file));
            TRY(ks_buf_addf(b, ":%llu\n", (unsigned long long)ev->offset));
        }
    }
    return KS_OK;
}

static enum ks_err json_str(struct ks_buf *b, const char *s)
{
    if (!nz(s))
        return ks_buf_add(b, "null", 4);
    TRY(ks_buf_add(b, "\"", 1));
    TRY(ks_buf_add_json_str(b, s, strlen(s)));
    return ks_buf_add(b, "\"", 1);
}

enum ks_err notify_context_json(const struct notify_context *ctx, struct ks_buf *b)
{
    char t0[64], t1[64];
    alarm_fmt_time(t0, ctx->window_start_ms);
    alarm_fmt_time(t1, ctx->window_end_ms);
    TRY(ks_buf_addf(b,
                    "{\"version\":\"1.0\",\"windowStart\":\"%s\",\"windowEnd\":\"%s\","
                    "\"matchingEvents\":%llu",
                    t0, t1, (unsigned long long)ctx->matching_events));
    for (size_t i = 0; i < KS_ARRAY_LEN(tops); i++) {
        const struct notify_context_top *t = top_at(ctx, i);
        TRY(ks_buf_addf(b, ",\"%s\":[", tops[i].json));
        for (size_t k = 0; k < t->n && k < NOTIFY_CONTEXT_TOP_MAX; k++) {
            TRY(ks_buf_addf(b, "%s{\"value\":", k ? "," : ""));
            TRY(json_str(b, t->v[k].value));
            TRY(ks_buf_addf(b, ",\"count\":%llu}", (unsigned long long)t->v[k].count));
        }
        TRY(ks_buf_add(b, "]", 1));
    }
    TRY(ks_buf_addf(b, ",\"recentEvents\":["));
    for (size_t i = 0; i < ctx->n_recent && i < NOTIFY_CONTEXT_RECENT_MAX; i++) {
        const struct notify_context_event *ev = &ctx->recent[i];
        char t[64];
        fmt_event_time(t, ev->time_ms);
        TRY(ks_buf_addf(b, "%s{\"eventTime\":\"%s\",\"eventName\":", i ? "," : "", t));
        TRY(json_str(b, ev->event_name));
        TRY(ks_buf_addf(b, ",\"eventID\":"));
        TRY(json_str(b, ev->event_id));
        TRY(ks_buf_addf(b, ",\"principal\":"));
        TRY(json_str(b, ev->principal));
        TRY(ks_buf_addf(b, ",\"key\":"));
        TRY(json_str(b, ev->key));
        TRY(ks_buf_addf(b, ",\"sourceIPAddress\":"));
        TRY(json_str(b, ev->source_ip));
        TRY(ks_buf_addf(b, ",\"errorCode\":"));
        TRY(json_str(b, ev->error_code));
        TRY(ks_buf_addf(b, ",\"userAgent\":"));
        TRY(json_str(b, ev->user_agent));
        TRY(ks_buf_addf(b, ",\"origin\":{\"file\":"));
        TRY(json_str(b, ev->file));
        TRY(ks_buf_addf(b, ",\"offset\":%llu}}", (unsigned long long)ev->offset));
    }
    return ks_buf_add(b, "]}", 2);
}

/* Slack mrkdwn: &, < and > are control characters there. */
static enum ks_err add_slack(struct ks_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        enum ks_err e;
        switch (*p) {
        case '&':
            e = ks_buf_add(b, "&amp;", 5);
            break;
        case '<':
            e = ks_buf_add(b, "&lt;", 4);
            break;
        case '>':
            e = ks_buf_add(b, "&gt;", 4);
            break;
        case '`':
            e = ks_buf_add(b, "'", 1);
            break; /* would close a code span */
        default:
            e = ((unsigned char)*p < 0x20 || *p == 0x7f) ? ks_buf_add(b, " ", 1)
                                                         : ks_buf_add(b, p, 1);
        }
        if (e)
            return e;
    }
    return KS_OK;
}

/* A section block whose mrkdwn text is t (Slack caps section text at 3000
 * characters: cut at 2900 bytes on a UTF-8 boundary). */
static enum ks_err slack_section(struct ks_buf *out, const struct ks_buf *t)
{
    size_t n = t->len;
    if (n > 2900) {
        n = 2900;
        while (n > 0 && ((unsigned char)t->data[n] & 0xC0) == 0x80)
            n--;
    }
    TRY(NOTIFY_LIT(out, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\""));
    TRY(ks_buf_add_json_str(out, t->data, n));
    return ks_buf_add(out, "\"}}", 3);
}

enum ks_err notify_context_slack(const struct notify_context *ctx, struct ks_buf *out)
{
    struct ks_buf t;
    ks_buf_init(&t, 64u << 10);
    enum ks_err e = KS_OK;
    char t0[64], t1[64];
    fmt_event_time(t0, ctx->window_start_ms);
    fmt_event_time(t1, ctx->window_end_ms);
    if ((e = ks_buf_addf(&t, "*Context:* %llu matching events from %s to %s",
                         (unsigned long long)ctx->matching_events, t0, t1)))
        goto out;
    for (size_t i = 0; i < KS_ARRAY_LEN(tops); i++) {
        const struct notify_context_top *tp = top_at(ctx, i);
        if (!tp->n)
            continue;
        if ((e = ks_buf_addf(&t, "\n*%s*", tops[i].label)))
            goto out;
        for (size_t k = 0; k < tp->n && k < 5; k++) {
            if ((e = ks_buf_addf(&t, "%s `", k ? "," : "")) ||
                (e = add_slack(&t, tp->v[k].value)) ||
                (e = ks_buf_addf(&t, "` (%llu)", (unsigned long long)tp->v[k].count)))
                goto out;
        }
    }
    if ((e = slack_section(out, &t)))
        goto out;
    if (ctx->n_recent) {
        ks_buf_reset(&t);
        if ((e = ks_buf_addf(&t, "*Most recent matching events:*\n```")))
            goto out;
        for (size_t i = 0; i < ctx->n_recent && i < NOTIFY_CONTEXT_RECENT_MAX; i++) {
            const struct notify_context_event *ev = &ctx->recent[i];
            char tt[64];
            fmt_event_time(tt, ev->time_ms);
            if ((e = ks_buf_addf(&t, "%s %s", i ? "\n" : "", tt)) || (e = ks_buf_add(&t, " ", 1)) ||
                (e = add_slack(&t, ev->event_name)) || (e = ks_buf_add(&t, " ", 1)) ||
                (e = add_slack(&t, ev->error_code)) || (e = ks_buf_add(&t, " ", 1)) ||
                (e = add_slack(&t, ev->principal)) || (e = ks_buf_add(&t, " ", 1)) ||
                (e = add_slack(&t, ev->key)) || (e = ks_buf_add(&t, " ", 1)) ||
                (e = add_slack(&t, ev->source_ip)))
                goto out;
        }
        if ((e = ks_buf_addf(&t, "```")) || (e = slack_section(out, &t)))
            goto out;
    }
out:
    ks_buf_release(&t);
    return e;
}

/* ---- back from JSON ---------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t parse_time(const char *s)
{
    /* "2026-11-26T10:00:00Z", "....123Z" or "...+0000" */
    if (!s)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*p == '.' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] >= '0' &&
        p[3] <= '9')
        ms += (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    return ms;
}

void notify_context_from_json(const char *text, struct notify_context_owned *o)
{
    memset(o, 0, sizeof(*o));
    if (!text)
        return;
    o->root = json_loads(text, 0, NULL);
    if (!json_is_object(o->root))
        return;
    struct notify_context *c = &o->ctx;
    c->window_start_ms = parse_time(jstr(o->root, "windowStart"));
    c->window_end_ms = parse_time(jstr(o->root, "windowEnd"));
    json_t *me = json_object_get(o->root, "matchingEvents");
    c->matching_events = json_is_integer(me) ? (uint64_t)json_integer_value(me) : 0;
    size_t total = 0;
    for (size_t i = 0; i < KS_ARRAY_LEN(tops); i++)
        total += json_array_size(json_object_get(o->root, tops[i].json));
    o->counts = ks_xcalloc(total + 1, sizeof(*o->counts));
    size_t k = 0;
    for (size_t i = 0; i < KS_ARRAY_LEN(tops); i++) {
        json_t *a = json_object_get(o->root, tops[i].json);
        struct notify_context_top *t = (struct notify_context_top *)((char *)c + tops[i].offset);
        t->v = o->counts + k;
        for (size_t j = 0; j < json_array_size(a); j++) {
            json_t *it = json_array_get(a, j);
            json_t *cnt = json_object_get(it, "count");
            o->counts[k].value = jstr(it, "value") ? jstr(it, "value") : "";
            o->counts[k].count = json_is_integer(cnt) ? (uint64_t)json_integer_value(cnt) : 0;
            k++;
            t->n++;
        }
    }
    json_t *r = json_object_get(o->root, "recentEvents");
    o->events = ks_xcalloc(json_array_size(r) + 1, sizeof(*o->events));
    for (size_t j = 0; j < json_array_size(r); j++) {
        json_t *it = json_array_get(r, j);
        json_t *origin = json_object_get(it, "origin");
        json_t *off = json_object_get(origin, "offset");
        o->events[j] = (struct notify_context_event){
            .time_ms = parse_time(jstr(it, "eventTime")),
            .event_name = jstr(it, "eventName"),
            .event_id = jstr(it, "eventID"),
            .principal = jstr(it, "principal"),
            .key = jstr(it, "key"),
            .source_ip = jstr(it, "sourceIPAddress"),
            .error_code = jstr(it, "errorCode"),
            .user_agent = jstr(it, "userAgent"),
            .file = jstr(origin, "file"),
            .offset = json_is_integer(off) ? (uint64_t)json_integer_value(off) : 0,
        };
    }
    c->recent = o->events;
    c->n_recent = json_array_size(r);
}

void notify_context_owned_release(struct notify_context_owned *o)
{
    json_decref(o->root);
    free(o->counts);
    free(o->events);
    memset(o, 0, sizeof(*o));
}
