/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Necessary-literal prefilter for JSON patterns.
 *
 * Most CloudTrail records are irrelevant to a given filter. Before scanning
 * a record we check literals the record must contain if the pattern can
 * match at all: a compared string value (`kms.amazonaws.com`), or else the
 * quoted name of a key the condition needs (`"errorCode"`). A clause is a
 * disjunction of literals (from ||); a pattern keeps up to four clauses, all
 * necessary. JSON may spell the same text with escapes (\u0041, \/), so a
 * record holding any such escape is never rejected on literal absence.
 * Only NOT EXISTS can be true without the key, so it contributes nothing.
 */
#include "pattern/pattern_int.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char *pattern_memmem(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return hay;
    if (m > n)
        return NULL;
    if (m == 1)
        return memchr(hay, needle[0], n);
    size_t i = 0;
#if defined(__SSE2__)
    /* compare first and last needle bytes 16 positions at a time
     * (the "generic SIMD" substring search); verify candidates with memcmp */
    const __m128i first = _mm_set1_epi8(needle[0]);
    const __m128i last = _mm_set1_epi8(needle[m - 1]);
    while (i + m - 1 + 16 <= n) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(hay + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + m - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (memcmp(hay + i + bit + 1, needle + 1, m - 2) == 0)
                return hay + i + bit;
            mask &= mask - 1;
        }
        i += 16;
    }
#endif
    for (; i + m <= n; i++) {
        if (hay[i] == needle[0] && hay[i + m - 1] == needle[m - 1] &&
            memcmp(hay + i + 1, needle + 1, m - 2) == 0)
            return hay + i;
    }
    return NULL;
}

struct req {
    bool none; /* no requirement known */
    unsigned nalt;
    char *alt[PREFILTER_MAX_ALT];
    size_t len[PREFILTER_MAX_ALT];
};

static void req_free(struct req *r)
{
    for (unsigned i = 0; i < r->nalt; i++)
        free(r->alt[i]);
    r->nalt = 0;
}

static size_t req_score(const struct req *r)
{
    if (r->none || r->nalt == 0)
        return 0;
    size_t s = SIZE_MAX;
    for (unsigned i = 0; i < r->nalt; i++)
        if (r->len[i] < s)
            s = r->len[i];
    return s;
}

static bool plain_text(const char *s, size_t n)
{
    /* text that JSON writes only one way (barring \u and \/ escapes) */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
            return false;
    }
    return true;
}

static struct req req_of(const struct pattern_expr *e)
{
    struct req r;
    memset(&r, 0, sizeof(r));
    if (e->type == EXPR_COND) {
        const struct pattern_cond *c = &e->cond;
        if (c->op == OP_NOT_EXISTS) {
            r.none = true;
            return r;
        }
        const struct pattern_lit *l = &c->lit;
        if ((c->op == OP_EQ) && l->kind == LIT_STRING && !l->numeric && l->wild != WILD_ANY &&
            l->core_len >= 3 && plain_text(l->core, l->core_len)) {
            r.alt[0] = ks_xmemdup(l->core, l->core_len);
            r.len[0] = l->core_len;
            r.nalt = 1;
            return r;
        }
        if (c->key_len >= 2 && plain_text(c->key, c->key_len)) {
            r.alt[0] = ks_xmalloc(c->key_len + 3);
            r.alt[0][0] = '"';
            memcpy(r.alt[0] + 1, c->key, c->key_len);
            r.alt[0][c->key_len + 1] = '"';
            r.alt[0][c->key_len + 2] = '\0';
            r.len[0] = c->key_len + 2;
            r.nalt = 1;
            return r;
        }
        r.none = true;
        return r;
    }
    struct req a = req_of(e->l), b = req_of(e->r);
    if (e->type == EXPR_AND) {
        /* both necessary; keep the more selective (longer) */
        if (req_score(&a) >= req_score(&b)) {
            req_free(&b);
            return a;
        }
        req_free(&a);
        return b;
    }
    /* OR: need one of either side's literals */
    if (a.none || b.none || a.nalt + b.nalt > PREFILTER_MAX_ALT) {
        req_free(&a);
        req_free(&b);
        r.none = true;
        return r;
    }
    for (unsigned i = 0; i < b.nalt; i++) {
        a.alt[a.nalt] = b.alt[i];
        a.len[a.nalt++] = b.len[i];
    }
    return a;
}

static void collect(struct pattern *p, const struct pattern_expr *e)
{
    if (e->type == EXPR_AND) {
        collect(p, e->l);
        collect(p, e->r);
        return;
    }
    struct req r = req_of(e);
    if (r.none || r.nalt == 0 || p->nclauses == PREFILTER_MAX_CLAUSES) {
        req_free(&r);
        return;
    }
    struct prefilter_clause *c = &p->clauses[p->nclauses++];
    c->nalt = r.nalt;
    for (unsigned i = 0; i < r.nalt; i++) {
        c->alt[i] = r.alt[i];
        c->alt_len[i] = r.len[i];
    }
}

void pattern_prefilter_build(struct pattern *p)
{
    if (p->kind != PATTERN_JSON || !p->json)
        return;
    collect(p, p->json);
}

static bool has_escapes(const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (p + 1 < end && (p[1] == 'u' || p[1] == '/'))
            return true;
        p += 2;
        if (p >= end)
            break;
    }
    return false;
}

bool pattern_prefilter_pass(const struct pattern *p, const char *msg, size_t len)
{
    for (unsigned c = 0; c < p->nclauses; c++) {
        const struct prefilter_clause *cl = &p->clauses[c];
        bool found = false;
        for (unsigned k = 0; k < cl->nalt && !found; k++)
            found = pattern_memmem(msg, len, cl->alt[k], cl->alt_len[k]) != NULL;
        if (!found)
            return has_escapes(msg, len);
    }
    return true;
}
