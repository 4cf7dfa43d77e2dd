/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The on-demand JSON scanner: the hot path of keysentry.
 *
 * DESIGN
 * The selectors every compiled pattern needs are merged into a trie (the
 * plan). Scanning a record walks the JSON text once: at each object or array
 * it looks only for members/elements that some trie edge wants, descends into
 * those, and skims everything else. A slot per selector collects views into
 * the record, so no value is copied and, after warm-up, nothing is allocated.
 *
 * Two skimmers exist. The fast one checks structure only (brackets balance
 * and match, strings close); the full one validates RFC 8259 grammar and is
 * used with EVENT_SCAN_FULL (differential tests, strict reads). Members on a
 * selector's path are always parsed strictly.
 *
 * Early stop: once every non-wildcard slot is filled (and no wildcard slot
 * exists) the scanner stops reading members and only skims the rest of the
 * record to confirm it is balanced. Duplicate keys: first one wins.
 */
#include "event/event.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct plan_edge {
    enum event_step_kind kind;
    uint32_t index;
    char *key; /* owned by the edge */
    size_t key_len;
    unsigned child;
};

struct plan_node {
    int slot;          /* -1 when no selector ends here */
    bool any_obj_edge; /* has KEY or ANY_KEY edges */
    bool any_arr_edge; /* has INDEX or ANY_INDEX edges */
    struct plan_edge *edges;
    size_t nedges;
};

struct slot_info {
    bool wild; /* reached through a wildcard step: may hold many values */
};

struct event_scan_plan {
    struct plan_node *nodes;
    size_t nnodes;
    struct slot_info *slots;
    unsigned nslots;
    unsigned nwild_slots;
};

struct slot_vals {
    struct event_value *v;
    uint32_t n, cap;
    struct event_value *arr; /* grown for wildcard slots, kept across records */
    struct event_value one;  /* storage for the first value: no allocation */
};

struct event_scan {
    const struct event_scan_plan *plan;
    unsigned flags;
    struct slot_vals *slots;
    unsigned filled_plain; /* non-wildcard slots filled in this record */
    unsigned plain_total;
    bool done;
    const char *base; /* start of the current record, for error offsets */
    struct ks_diag *diag;
    char *scratch;
    size_t scratch_cap;
};

/* ---- plan -------------------------------------------------------------- */

struct event_scan_plan *event_scan_plan_new(void)
{
    struct event_scan_plan *p = ks_xcalloc(1, sizeof(*p));
    p->nodes = ks_xcalloc(1, sizeof(struct plan_node));
    p->nodes[0].slot = -1;
    p->nnodes = 1;
    return p;
}

void event_scan_plan_free(struct event_scan_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->nnodes; i++) {
        for (size_t k = 0; k < plan->nodes[i].nedges; k++)
            free(plan->nodes[i].edges[k].key);
        free(plan->nodes[i].edges);
    }
    free(plan->nodes);
    free(plan->slots);
    free(plan);
}

static unsigned plan_child(struct event_scan_plan *plan, unsigned node, const struct event_step *st)
{
    struct plan_node *n = &plan->nodes[node];
    for (size_t k = 0; k < n->nedges; k++) {
        struct plan_edge *e = &n->edges[k];
        if (e->kind != st->kind)
            continue;
        if (e->kind == EVENT_STEP_KEY &&
            (e->key_len != st->key_len || memcmp(e->key, st->key, st->key_len) != 0))
            continue;
        if (e->kind == EVENT_STEP_INDEX && e->index != st->index)
            continue;
        return e->child;
    }
    unsigned child = (unsigned)plan->nnodes;
    plan->nodes = ks_xrealloc(plan->nodes, (plan->nnodes + 1) * sizeof(*plan->nodes));
    memset(&plan->nodes[child], 0, sizeof(plan->nodes[child]));
    plan->nodes[child].slot = -1;
    plan->nnodes++;
    n = &plan->nodes[node];
    n->edges = ks_xrealloc(n->edges, (n->nedges + 1) * sizeof(*n->edges));
    struct plan_edge *e = &n->edges[n->nedges++];
    e->kind = st->kind;
    e->index = st->index;
    e->key = st->key ? ks_xmemdup(st->key, st->key_len) : NULL;
    e->key_len = st->key_len;
    e->child = child;
    if (st->kind == EVENT_STEP_KEY || st->kind == EVENT_STEP_ANY_KEY)
        n->any_obj_edge = true;
    else
        n->any_arr_edge = true;
    return child;
}

unsigned event_scan_plan_add(struct event_scan_plan *plan, const struct event_path *path)
{
    unsigned node = 0;
    for (size_t i = 0; i < path->nsteps; i++)
        node = plan_child(plan, node, &path->steps[i]);
    struct plan_node *n = &plan->nodes[node];
    if (n->slot >= 0)
        return (unsigned)n->slot;
    n->slot = (int)plan->nslots;
    plan->slots = ks_xrealloc(plan->slots, (plan->nslots + 1) * sizeof(*plan->slots));
    plan->slots[plan->nslots].wild = path->nwild > 0;
    if (path->nwild)
        plan->nwild_slots++;
    return plan->nslots++;
}

unsigned event_scan_plan_slots(const struct event_scan_plan *plan)
{
    return plan->nslots;
}

/* ---- scanner lifecycle ------------------------------------------------- */

struct event_scan *event_scan_new(const struct event_scan_plan *plan, unsigned flags)
{
    struct event_scan *s = ks_xcalloc(1, sizeof(*s));
    s->plan = plan;
    s->flags = flags;
    s->slots = ks_xcalloc(plan->nslots ? plan->nslots : 1, sizeof(*s->slots));
    s->plain_total = plan->nslots - plan->nwild_slots;
    return s;
}

void event_scan_free(struct event_scan *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->plan->nslots; i++)
        free(s->slots[i].arr);
    free(s->slots);
    free(s->scratch);
    free(s);
}

size_t event_scan_values(const struct event_scan *s, unsigned slot,
                         const struct event_value **values)
{
    const struct slot_vals *sv = &s->slots[slot];
    *values = sv->v;
    return sv->n;
}

char *event_scan_scratch(struct event_scan *s)
{
    return s->scratch;
}

/* ---- low-level lexing -------------------------------------------------- */

#define SCAN_ERR NULL

static const char *fail(struct event_scan *s, const char *at, const char *msg)
{
    if (s->diag && s->diag->err == KS_OK)
        ks_diag_set(s->diag, KS_E_SYNTAX, (size_t)(at - s->base), "%s", msg);
    return SCAN_ERR;
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p points just after an opening quote; returns the closing quote or NULL. */
static inline const char *string_end(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"');
    const __m128i bs = _mm_set1_epi8('\\');
    while (p + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned mq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q));
        unsigned mb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs));
        if (mb == 0) {
            if (mq)
                return p + __builtin_ctz(mq);
            p += 16;
            continue;
        }
        unsigned fb = (unsigned)__builtin_ctz(mb);
        if (mq && (unsigned)__builtin_ctz(mq) < fb)
            return p + __builtin_ctz(mq);
        p += fb + 2; /* the escaped byte can never close the string */
    }
#endif
    while (p < end) {
        if (*p == '"')
            return p;
        p += (*p == '\\') ? 2 : 1;
    }
    return NULL;
}

/* Validates string content [p, q) per RFC 8259 (escapes, no raw controls,
 * surrogate pairs well formed). UTF-8 itself was screened by the reader. */
static bool string_valid(const char *p, const char *q, const char **bad)
{
    while (p < q) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            *bad = p;
            return false;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        if (p + 1 >= q) {
            *bad = p;
            return false;
        }
        char e = p[1];
        if (e == 'u') {
            if (p + 6 > q) {
                *bad = p;
                return false;
            }
            unsigned cp = 0;
            for (int k = 2; k < 6; k++) {
                int h = ks_hexval(p[k]);
                if (h < 0) {
                    *bad = p;
                    return false;
                }
                cp = cp * 16 + (unsigned)h;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                *bad = p;
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate must be followed by \u low surrogate */
                if (p + 12 > q || p[6] != '\\' || p[7] != 'u') {
                    *bad = p;
                    return false;
                }
                unsigned lo = 0;
                for (int k = 8; k < 12; k++) {
                    int h = ks_hexval(p[k]);
                    if (h < 0) {
                        *bad = p;
                        return false;
                    }
                    lo = lo * 16 + (unsigned)h;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    *bad = p;
                    return false;
                }
                p += 12;
                continue;
            }
            p += 6;
            continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
            e != 't') {
            *bad = p;
            return false;
        }
        p += 2;
    }
    return true;
}

/* JSON number grammar; returns the end or NULL. */
static const char *number_end(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *literal_end(const char *p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

/* A scalar (number, true, false, null) strictly; sets *type. */
static const char *scalar_end(const char *p, const char *end, uint8_t *type)
{
    switch (*p) {
    case 't':
        *type = EVENT_V_TRUE;
        return literal_end(p, end, "true", 4);
    case 'f':
        *type = EVENT_V_FALSE;
        return literal_end(p, end, "false", 5);
    case 'n':
        *type = EVENT_V_NULL;
        return literal_end(p, end, "null", 4);
    default:
        *type = EVENT_V_NUMBER;
        return number_end(p, end);
    }
}

/* ---- skimmers ---------------------------------------------------------- */

/* Bit stack of open containers: 1 = object, 0 = array. */
struct nest {
    uint64_t bits[(KS_MAX_JSON_DEPTH + 63) / 64];
    unsigned depth; /* containers open in this nest */
    unsigned base;  /* nesting outside it, for the depth limit */
};

static inline bool nest_push(struct nest *n, bool obj)
{
    if (n->base + n->depth >= KS_MAX_JSON_DEPTH)
        return false;
    uint64_t m = 1ull << (n->depth & 63);
    if (obj)
        n->bits[n->depth >> 6] |= m;
    else
        n->bits[n->depth >> 6] &= ~m;
    n->depth++;
    return true;
}

static inline bool nest_top_obj(const struct nest *n)
{
    unsigned d = n->depth - 1;
    return (n->bits[d >> 6] >> (d & 63)) & 1;
}

/* One token of the scalar skim: 1 = continue, 0 = closed depth `stop`
 * (*pp is past it), -1 = error. Called only outside strings. */
static inline int skim_token(struct event_scan *s, const char **pp, const char *end, struct nest *n,
                             unsigned stop)
{
    const char *p = *pp;
    char c = *p;
    switch (c) {
    case '"': {
        const char *q = string_end(p + 1, end);
        if (!q) {
            fail(s, end, "unterminated string");
            return -1;
        }
        *pp = q + 1;
        return 1;
    }
    case '{':
    case '[':
        if (!nest_push(n, c == '{')) {
            fail(s, p, "nesting deeper than 512 levels");
            return -1;
        }
        *pp = p + 1;
        return 1;
    case '}':
    case ']':
        if (nest_top_obj(n) != (c == '}')) {
            fail(s, p, c == '}' ? "unexpected '}'" : "unexpected ']'");
            return -1;
        }
        n->depth--;
        *pp = p + 1;
        return n->depth == stop ? 0 : 1;
    default:
        *pp = p + 1;
        return 1;
    }
}

#if defined(__SSE2__)
static inline uint64_t block_mask(const __m128i *v, __m128i c)
{
    return (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[0], c)) |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[1], c)) << 16 |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[2], c)) << 32 |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[3], c)) << 48;
}

/* bit i = parity of the quotes at or before i: set inside strings
 * (including the opening quote, excluding the closing one) */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
#endif

/*
 * Fast skim of containers already open in *n (depth >= 1): structure only.
 * Returns the byte after the container that closes depth `stop`.
 *
 * 64 bytes at a time: masks of quotes and brackets, the in-string mask by
 * prefix XOR of the quote mask, then only brackets outside strings are
 * visited. Invariant: every block starts outside a string; a block that
 * ends inside one jumps to that string's end. Blocks holding a backslash
 * (escaped quotes) take the scalar path, which follows escapes exactly.
 */
static const char *skim_fast(struct event_scan *s, const char *p, const char *end, struct nest *n,
                             unsigned stop)
{
#if defined(__SSE2__)
    const __m128i cq = _mm_set1_epi8('"'), cb = _mm_set1_epi8('\\');
    const __m128i c20 = _mm_set1_epi8(0x20);
    const __m128i co = _mm_set1_epi8('{'), cc = _mm_set1_epi8('}'); /* '[' | 0x20 == '{' */
    while (end - p >= 64) {
        __m128i v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        if (block_mask(v, cb)) {
            const char *lim = p + 64;
            while (p < lim) {
                int r = skim_token(s, &p, end, n, stop);
                if (r <= 0)
                    return r == 0 ? p : SCAN_ERR;
            }
            continue;
        }
        uint64_t q = block_mask(v, cq);
        __m128i o[4];
        for (int k = 0; k < 4; k++)
            o[k] = _mm_or_si128(v[k], c20);
        uint64_t in_str = prefix_xor(q);
        uint64_t st = (block_mask(o, co) | block_mask(o, cc)) & ~in_str;
        while (st) {
            unsigned i = (unsigned)__builtin_ctzll(st);
            const char *at = p + i;
            int r = skim_token(s, &at, end, n, stop);
            if (r <= 0)
                return r == 0 ? at : SCAN_ERR;
            st &= st - 1;
        }
        if (in_str >> 63) {
            unsigned last = 63u - (unsigned)__builtin_clzll(q); /* the unclosed opener */
            const char *qe = string_end(p + last + 1, end);
            if (!qe)
                return fail(s, end, "unterminated string");
            p = qe + 1;
        } else {
            p += 64;
        }
    }
#endif
    while (p < end) {
        int r = skim_token(s, &p, end, n, stop);
        if (r <= 0)
            return r == 0 ? p : SCAN_ERR;
    }
    return fail(s, end, "unexpected end of input");
}

enum vstate { V_VALUE, V_AFTER, V_KEY };

/*
 * Full validation of the rest of containers open in *n, or of one value when
 * n->depth == stop. Returns the byte after the value/container.
 */
static const char *skim_full(struct event_scan *s, const char *p, const char *end, struct nest *n,
                             unsigned stop, enum vstate st)
{
    for (;;) {
        /* a finished value returns before whitespace (its span ends at its
         * last byte) and before the end-of-input check (top-level scalars) */
        if (st == V_AFTER && n->depth == stop)
            return p;
        p = skip_ws(p, end);
        if (p >= end)
            return fail(s, p, "unexpected end of input");
        char c = *p;
        switch (st) {
        case V_VALUE:
            if (c == '{' || c == '[') {
                if (!nest_push(n, c == '{'))
                    return fail(s, p, "nesting deeper than 512 levels");
                p = skip_ws(p + 1, end);
                if (p < end && *p == (c == '{' ? '}' : ']')) {
                    n->depth--;
                    p++;
                    st = V_AFTER;
                } else {
                    st = c == '{' ? V_KEY : V_VALUE;
                }
                break;
            }
            if (c == '"') {
                const char *q = string_end(p + 1, end), *bad;
                if (!q)
                    return fail(s, end, "unterminated string");
                if (!string_valid(p + 1, q, &bad))
                    return fail(s, bad, "invalid character or escape in string");
                p = q + 1;
            } else {
                uint8_t t;
                const char *q = scalar_end(p, end, &t);
                if (!q)
                    return fail(s, p, "invalid value");
                p = q;
            }
            st = V_AFTER;
            break;
        case V_AFTER:
            if (n->depth == stop)
                return p;
            if (c == ',') {
                p++;
                st = nest_top_obj(n) ? V_KEY : V_VALUE;
            } else if (c == '}' || c == ']') {
                if (nest_top_obj(n) != (c == '}'))
                    return fail(s, p, c == '}' ? "unexpected '}'" : "unexpected ']'");
                n->depth--;
                p++;
            } else {
                return fail(s, p, "expected ',' or a closing bracket");
            }
            break;
        case V_KEY: {
            if (c != '"')
                return fail(s, p, "expected a string key");
            const char *q = string_end(p + 1, end), *bad;
            if (!q)
                return fail(s, end, "unterminated string");
            if (!string_valid(p + 1, q, &bad))
                return fail(s, bad, "invalid character or escape in string");
            p = skip_ws(q + 1, end);
            if (p >= end || *p != ':')
                return fail(s, p, "expected ':' after key");
            p++;
            st = V_VALUE;
            break;
        }
        }
    }
}

/* Skips one value starting at p (no leading whitespace). */
static const char *skip_value(struct event_scan *s, const char *p, const char *end, unsigned depth,
                              uint8_t *type)
{
    char c = *p;
    if (c == '"') {
        *type = EVENT_V_STRING;
        const char *q = string_end(p + 1, end), *bad;
        if (!q)
            return fail(s, end, "unterminated string");
        if ((s->flags & EVENT_SCAN_FULL) && !string_valid(p + 1, q, &bad))
            return fail(s, bad, "invalid character or escape in string");
        return q + 1;
    }
    if (c == '{' || c == '[') {
        *type = c == '{' ? EVENT_V_OBJECT : EVENT_V_ARRAY;
        struct nest n = {.depth = 0, .base = depth};
        if (!nest_push(&n, c == '{'))
            return fail(s, p, "nesting deeper than 512 levels");
        if (s->flags & EVENT_SCAN_FULL) {
            const char *q = skip_ws(p + 1, end);
            if (q < end && *q == (c == '{' ? '}' : ']'))
                return q + 1;
            return skim_full(s, q, end, &n, 0, c == '{' ? V_KEY : V_VALUE);
        }
        return skim_fast(s, p + 1, end, &n, 0);
    }
    const char *q = scalar_end(p, end, type);
    if (!q)
        return fail(s, p, "invalid value");
    return q;
}

/* ---- the on-demand walk ------------------------------------------------ */

static void slot_add(struct event_scan *s, int slot, const char *start, const char *stop,
                     uint8_t type)
{
    struct slot_vals *sv = &s->slots[slot];
    bool wild = s->plan->slots[slot].wild;
    if (sv->n && !wild)
        return; /* duplicate key: first one wins */
    struct event_value v;
    v.type = type;
    if (type == EVENT_V_STRING) {
        v.ptr = start + 1;
        v.len = (uint32_t)(stop - start - 2);
        v.escaped = memchr(v.ptr, '\\', v.len) != NULL;
    } else {
        v.ptr = start;
        v.len = (uint32_t)(stop - start);
        v.escaped = false;
    }
    if (sv->n == 0) {
        sv->one = v;
        sv->v = &sv->one;
        sv->n = 1;
        if (!wild)
            s->filled_plain++;
        return;
    }
    if (sv->cap < sv->n + 1) {
        /* the array persists across records: allocation only at warm-up */
        uint32_t cap = sv->cap ? sv->cap * 2 : 8;
        sv->arr = ks_xrealloc(sv->arr, cap * sizeof(*sv->arr));
        sv->cap = cap;
    }
    if (sv->n == 1)
        sv->arr[0] = sv->one;
    sv->v = sv->arr;
    sv->v[sv->n++] = v;
}

static const char *scan_value(struct event_scan *s, unsigned node, const char *p, const char *end,
                              unsigned depth);

static bool key_equal(struct event_scan *s, const char *k, size_t klen, bool escaped,
                      const struct plan_edge *e)
{
    if (!escaped)
        return klen == e->key_len && memcmp(k, e->key, klen) == 0;
    if (klen >= s->scratch_cap)
        return false; /* longer than any event: cannot be a key we look for */
    struct event_value v = {
        .ptr = k, .len = (uint32_t)klen, .type = EVENT_V_STRING, .escaped = true};
    const char *out;
    size_t n = event_value_string(&v, s->scratch, &out);
    return n == e->key_len && memcmp(out, e->key, n) == 0;
}

#define MAX_MATCH 8

static const char *scan_object(struct event_scan *s, unsigned node, const char *p, const char *end,
                               unsigned depth)
{
    const struct plan_node *n = &s->plan->nodes[node];
    uint64_t seen = 0; /* KEY edges already taken in this object (first wins) */
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= end)
            return fail(s, p, "unexpected end of input");
        if (*p != '"')
            return fail(s, p, "expected a string key");
        const char *kq = string_end(p + 1, end), *bad;
        if (!kq)
            return fail(s, end, "unterminated string");
        const char *k = p + 1;
        size_t klen = (size_t)(kq - k);
        bool kesc = memchr(k, '\\', klen) != NULL;
        if ((kesc || (s->flags & EVENT_SCAN_FULL)) && !string_valid(k, kq, &bad))
            return fail(s, bad, "invalid character or escape in string");
        p = skip_ws(kq + 1, end);
        if (p >= end || *p != ':')
            return fail(s, p, "expected ':' after key");
        p = skip_ws(p + 1, end);
        if (p >= end)
            return fail(s, p, "unexpected end of input");

        unsigned hits[MAX_MATCH];
        unsigned nhits = 0;
        for (size_t i = 0; i < n->nedges && nhits < MAX_MATCH; i++) {
            const struct plan_edge *e = &n->edges[i];
            if (e->kind == EVENT_STEP_ANY_KEY) {
                hits[nhits++] = e->child;
            } else if (e->kind == EVENT_STEP_KEY) {
                uint64_t bit = i < 64 ? 1ull << i : 0;
                if ((seen & bit) || !key_equal(s, k, klen, kesc, e))
                    continue;
                seen |= bit;
                hits[nhits++] = e->child;
            }
        }
        const char *vstart = p;
        if (nhits == 0) {
            uint8_t t;
            p = skip_value(s, p, end, depth, &t);
        } else {
            for (unsigned h = 0; h < nhits && p; h++)
                p = scan_value(s, hits[h], vstart, end, depth);
        }
        if (!p)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            if (depth == 1 && s->filled_plain == s->plain_total && s->plan->nwild_slots == 0 &&
                !(s->flags & EVENT_SCAN_FULL)) {
                /* Everything the plan needs is known: skim the rest. */
                s->done = true;
                if (s->flags & EVENT_SCAN_PREFIX)
                    return end; /* the caller vouches for the rest */
                struct nest nn = {.depth = 0, .base = 0};
                nest_push(&nn, true);
                return skim_fast(s, p, end, &nn, 0);
            }
            continue;
        }
        if (p < end && *p == '}')
            return p + 1;
        return fail(s, p, "expected ',' or '}' after object member");
    }
}

static const char *scan_array(struct event_scan *s, unsigned node, const char *p, const char *end,
                              unsigned depth)
{
    const struct plan_node *n = &s->plan->nodes[node];
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (uint64_t idx = 0;; idx++) {
        if (p >= end)
            return fail(s, p, "unexpected end of input");
        unsigned hits[MAX_MATCH];
        unsigned nhits = 0;
        for (size_t i = 0; i < n->nedges && nhits < MAX_MATCH; i++) {
            const struct plan_edge *e = &n->edges[i];
            if (e->kind == EVENT_STEP_ANY_INDEX || (e->kind == EVENT_STEP_INDEX && e->index == idx))
                hits[nhits++] = e->child;
        }
        const char *vstart = p;
        if (nhits == 0) {
            uint8_t t;
            p = skip_value(s, p, end, depth, &t);
        } else {
            for (unsigned h = 0; h < nhits && p; h++)
                p = scan_value(s, hits[h], vstart, end, depth);
        }
        if (!p)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == ']')
            return p + 1;
        return fail(s, p, "expected ',' or ']' after array element");
    }
}

/* Scans the value at p for plan node `node`, at nesting depth `depth`. */
static const char *scan_value(struct event_scan *s, unsigned node, const char *p, const char *end,
                              unsigned depth)
{
    const struct plan_node *n = &s->plan->nodes[node];
    const char *start = p, *q;
    uint8_t type;
    if (*p == '{' && n->any_obj_edge) {
        if (depth + 1 >= KS_MAX_JSON_DEPTH)
            return fail(s, p, "nesting deeper than 512 levels");
        type = EVENT_V_OBJECT;
        q = scan_object(s, node, p, end, depth + 1);
    } else if (*p == '[' && n->any_arr_edge) {
        if (depth + 1 >= KS_MAX_JSON_DEPTH)
            return fail(s, p, "nesting deeper than 512 levels");
        type = EVENT_V_ARRAY;
        q = scan_array(s, node, p, end, depth + 1);
    } else {
        q = skip_value(s, p, end, depth, &type);
        if (q && type == EVENT_V_STRING && n->slot >= 0 && !(s->flags & EVENT_SCAN_FULL)) {
            const char *bad;
            if (!string_valid(p + 1, q - 1, &bad))
                return fail(s, bad, "invalid character or escape in string");
        }
    }
    if (q && n->slot >= 0)
        slot_add(s, n->slot, start, q, type);
    return q;
}

/* Scans the value at the start of json. whole: it must be all of json
 * (trailing whitespace aside); otherwise *used says where it ended. */
static enum event_scan_status scan_root(struct event_scan *s, const char *json, size_t len,
                                        bool whole, size_t *used, struct ks_diag *diag)
{
    for (unsigned i = 0; i < s->plan->nslots; i++)
        s->slots[i].n = 0;
    s->filled_plain = 0;
    s->done = false;
    s->base = json;
    s->diag = diag;
    if (diag)
        ks_diag_clear(diag);
    /* Strings are decoded into scratch, which must hold the longest string:
     * the whole text for a record; for a framer's window (not whole), any
     * string is within an event, or the framer rejects the record. */
    size_t need = (whole || len < KS_MAX_EVENT_BYTES ? len : KS_MAX_EVENT_BYTES) + 1;
    if (s->scratch_cap < need) {
        /* grows to the largest record seen; never per record after that */
        size_t cap = s->scratch_cap ? s->scratch_cap : 4096;
        while (cap < need)
            cap *= 2;
        free(s->scratch);
        s->scratch = ks_xmalloc(cap);
        s->scratch_cap = cap;
    }
    const char *end = json + len;
    const char *p = skip_ws(json, end);
    if (p >= end) {
        fail(s, p, "empty input");
        return EVENT_SCAN_INVALID;
    }
    bool obj = *p == '{';
    const char *q;
    if (obj) {
        /* the root is scanned even with no selectors, to validate it */
        q = scan_object(s, 0, p, end, 1); /* depth counts open containers */
    } else {
        uint8_t t;
        struct nest n = {.depth = 0, .base = 0};
        q = (s->flags & EVENT_SCAN_FULL) ? skim_full(s, p, end, &n, 0, V_VALUE)
                                         : skip_value(s, p, end, 0, &t);
    }
    if (q && whole) {
        q = skip_ws(q, end);
        if (q != end)
            q = fail(s, q, "unexpected data after the JSON value");
    }
    if (!q) {
        for (unsigned i = 0; i < s->plan->nslots; i++)
            s->slots[i].n = 0;
        return EVENT_SCAN_INVALID;
    }
    if (used)
        *used = (size_t)(q - json);
    return obj ? EVENT_SCAN_OK : EVENT_SCAN_NOT_OBJECT;
}

enum event_scan_status event_scan_run(struct event_scan *s, const char *json, size_t len,
                                      struct ks_diag *diag)
{
    return scan_root(s, json, len, true, NULL, diag);
}

enum event_scan_status event_scan_first(struct event_scan *s, const char *json, size_t len,
                                        size_t *used, struct ks_diag *diag)
{
    return scan_root(s, json, len, false, used, diag);
}

/* ---- string decoding --------------------------------------------------- */

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = ks_hexval(p[k]);
        v = v * 16 + (unsigned)(h < 0 ? 0 : h);
    }
    return v;
}

size_t event_value_string(const struct event_value *v, char *scratch, const char **out)
{
    if (!v->escaped) {
        *out = v->ptr;
        return v->len;
    }
    /* Decoding never grows the text: every escape is at least as long as
     * what it stands for, so scratch of v->len bytes suffices. */
    const char *p = v->ptr, *end = v->ptr + v->len;
    char *o = scratch;
    while (p < end) {
        if (*p != '\\' || p + 1 >= end) {
            *o++ = *p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
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
            if (end - p < 4) {
                p = end;
                break;
            }
            unsigned cp = hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = hex4(p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* lone surrogate (only reachable without validation) */
            o += put_utf8(o, cp);
            break;
        }
        default:
            *o++ = e; /* \" \\ \/ */
        }
    }
    *out = scratch;
    return (size_t)(o - scratch);
}

/* ---- value skimming for framers ---------------------------------------- */

enum event_skim_status event_skim(const char *p, size_t len, size_t *used, struct ks_diag *diag)
{
    struct event_scan s;
    memset(&s, 0, sizeof(s));
    s.base = p;
    s.diag = diag;
    if (diag)
        ks_diag_clear(diag);
    const char *end = p + len;
    if (len == 0)
        return EVENT_SKIM_MORE;
    uint8_t t;
    const char *q = skip_value(&s, p, end, 0, &t);
    if (q) {
        *used = (size_t)(q - p);
        return EVENT_SKIM_OK;
    }
    if (diag && diag->offset == len)
        return EVENT_SKIM_MORE;
    if (diag && strstr(diag->msg, "nesting"))
        return EVENT_SKIM_TOO_DEEP;
    return EVENT_SKIM_ERROR;
}
