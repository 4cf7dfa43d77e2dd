/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evaluating a compiled pattern set against events.
 *
 * Per event: term and regex patterns search the raw message; JSON patterns
 * first pass their prefilter, then share one scan of the record (lazily, at
 * most once per event); space-delimited patterns share one split of the
 * message into fields. Truth tables follow spec/filter-patterns.md §4.4-4.6
 * and §5.3. Nothing is allocated per event after warm-up.
 */
#include "pattern/pattern_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct field {
    const char *p;
    uint32_t len;
};

struct sd_assign {
    uint32_t start, count;
};

struct pattern_ctx {
    const struct pattern_set *set;
    struct event_scan *scan;
    void **re_state;
    const char *msg;
    size_t len;
    int scan_state; /* -1 not yet, else enum event_scan_status (or 3 = not JSON) */
    bool split;
    struct field *fields;
    size_t nfields, fields_cap;
    struct sd_assign **assign; /* per pattern (space-delimited only) */
    uint64_t *memo;
    size_t memo_cap;
    unsigned long steps;
    struct ks_diag diag; /* why the last event's JSON was rejected */
};

/* ---- set --------------------------------------------------------------- */

struct pattern_set *pattern_set_new(void)
{
    struct pattern_set *s = ks_xcalloc(1, sizeof(*s));
    s->plan = event_scan_plan_new();
    return s;
}

void pattern_set_free(struct pattern_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->npats; i++)
        pattern_release(&set->pats[i]);
    free(set->pats);
    for (size_t i = 0; i < set->nregexes; i++)
        pattern_regex_free(set->regexes[i]);
    free(set->regexes);
    free(set->selectors);
    event_scan_plan_free(set->plan);
    free(set);
}

int pattern_set_add(struct pattern_set *set, const char *text, size_t len, struct ks_diag *diag)
{
    if (set->finished)
        abort(); /* API misuse: adding after pattern_set_finish() */
    struct pattern p;
    ks_diag_clear(diag);
    size_t nre = set->nregexes;
    if (pattern_parse(set, &p, text, len, diag) != KS_OK) {
        pattern_release(&p);
        /* regexes compiled before the error belong to no pattern */
        while (set->nregexes > nre)
            pattern_regex_free(set->regexes[--set->nregexes]);
        return -1;
    }
    pattern_prefilter_build(&p);
    set->pats = ks_xrealloc(set->pats, (set->npats + 1) * sizeof(*set->pats));
    set->pats[set->npats] = p;
    return (int)set->npats++;
}

int pattern_set_add_selector(struct pattern_set *set, const char *text, size_t len,
                             struct ks_diag *diag)
{
    struct event_path path;
    size_t pos = 0;
    ks_diag_clear(diag);
    if (event_path_parse(text, len, &pos, &path, diag) != KS_OK)
        return -1;
    if (pos != len) {
        event_path_release(&path);
        ks_diag_set(diag, KS_E_SYNTAX, pos, "unexpected text after selector");
        return -1;
    }
    unsigned slot = event_scan_plan_add(set->plan, &path);
    event_path_release(&path);
    set->selectors = ks_xrealloc(set->selectors, (set->nselectors + 1) * sizeof(int));
    set->selectors[set->nselectors] = (int)slot;
    return (int)set->nselectors++;
}

void pattern_set_finish(struct pattern_set *set)
{
    set->finished = true;
}

size_t pattern_set_count(const struct pattern_set *set)
{
    return set->npats;
}

enum pattern_kind pattern_set_kind(const struct pattern_set *set, size_t index)
{
    return set->pats[index].kind;
}

/* ---- ctx --------------------------------------------------------------- */

struct pattern_ctx *pattern_ctx_new(const struct pattern_set *set)
{
    struct pattern_ctx *c = ks_xcalloc(1, sizeof(*c));
    c->set = set;
    c->scan = event_scan_new(set->plan, 0);
    c->re_state = ks_xcalloc(set->nregexes ? set->nregexes : 1, sizeof(void *));
    for (size_t i = 0; i < set->nregexes; i++)
        c->re_state[i] = pattern_regex_state_new(set->regexes[i]);
    c->assign = ks_xcalloc(set->npats ? set->npats : 1, sizeof(*c->assign));
    for (size_t i = 0; i < set->npats; i++)
        if (set->pats[i].kind == PATTERN_SPACE)
            c->assign[i] = ks_xcalloc(set->pats[i].nslots, sizeof(struct sd_assign));
    return c;
}

void pattern_ctx_free(struct pattern_ctx *c)
{
    if (!c)
        return;
    event_scan_free(c->scan);
    for (size_t i = 0; i < c->set->nregexes; i++)
        pattern_regex_state_free(c->re_state[i]);
    free(c->re_state);
    for (size_t i = 0; i < c->set->npats; i++)
        free(c->assign[i]);
    free(c->assign);
    free(c->fields);
    free(c->memo);
    free(c);
}

char *pattern_ctx_scratch(struct pattern_ctx *c)
{
    return event_scan_scratch(c->scan);
}

/* ---- comparisons ------------------------------------------------------- */

/* §4.5 wildcard equality on decoded text. */
static bool eq_wild(const struct pattern_lit *l, const char *s, size_t n)
{
    switch (l->wild) {
    case WILD_NONE:
        return n == l->len && memcmp(s, l->text, n) == 0;
    case WILD_ANY:
        return true;
    case WILD_PREFIX:
        return n >= l->core_len && memcmp(s, l->core, l->core_len) == 0;
    case WILD_SUFFIX:
        return n >= l->core_len && memcmp(s + n - l->core_len, l->core, l->core_len) == 0;
    case WILD_CONTAINS:
        return pattern_memmem(s, n, l->core, l->core_len) != NULL;
    }
    return false;
}

static bool to_double(const char *s, size_t n, double *out)
{
    char buf[352];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n;
}

static bool is_numeric_text(const char *s, size_t n, double *out)
{
    /* a field "looks like a number": digits with optional sign, fraction,
     * exponent (strtod's hex and inf/nan spellings are not numbers here) */
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    bool digit = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-')
            return false;
    }
    return digit && to_double(s, n, out);
}

static bool compare_num(enum pattern_op op, double a, double b)
{
    switch (op) {
    case OP_EQ:
        return a == b;
    case OP_NE:
        return a != b;
    case OP_LT:
        return a < b;
    case OP_GT:
        return a > b;
    case OP_LE:
        return a <= b;
    case OP_GE:
        return a >= b;
    default:
        return false;
    }
}

/* One JSON condition against one resolved value (§4.4 table). */
static bool json_cond_value(struct pattern_ctx *c, const struct pattern_cond *cd,
                            const struct event_value *v)
{
    const struct pattern_lit *l = &cd->lit;
    switch (cd->op) {
    case OP_IS_NULL:
        return v->type == EVENT_V_NULL;
    case OP_IS_TRUE:
        return v->type == EVENT_V_TRUE;
    case OP_IS_FALSE:
        return v->type == EVENT_V_FALSE;
    case OP_NOT_EXISTS:
        return false;
    default:
        break;
    }
    bool neg = cd->op == OP_NE;
    if (cd->op != OP_EQ && cd->op != OP_NE) {
        double x;
        return v->type == EVENT_V_NUMBER && to_double(v->ptr, v->len, &x) &&
               compare_num(cd->op, x, l->num);
    }
    if (l->kind == LIT_REGEX) {
        if (v->type != EVENT_V_STRING)
            return false;
        const char *s;
        size_t n = event_value_string(v, event_scan_scratch(c->scan), &s);
        bool r = pattern_regex_search(c->set->regexes[l->regex], c->re_state[l->regex], s, n);
        return neg ? !r : r;
    }
    if (l->kind == LIT_STRING && l->wild == WILD_ANY) {
        /* `= *`: any present scalar except null (§4.4) */
        bool r = v->type == EVENT_V_STRING || v->type == EVENT_V_NUMBER ||
                 v->type == EVENT_V_TRUE || v->type == EVENT_V_FALSE;
        return neg ? false : r;
    }
    bool r;
    if (v->type == EVENT_V_STRING) {
        const char *s;
        size_t n = event_value_string(v, event_scan_scratch(c->scan), &s);
        /* a number literal compares its source text with a string (§4.6) */
        r = l->kind == LIT_NUMBER ? (n == l->len && memcmp(s, l->text, n) == 0) : eq_wild(l, s, n);
    } else if (v->type == EVENT_V_NUMBER) {
        double x;
        if (l->numeric)
            r = to_double(v->ptr, v->len, &x) && x == l->num;
        else
            r = eq_wild(l, v->ptr, v->len);
    } else {
        return false; /* true/false/null and containers never equal a literal */
    }
    return neg ? !r : r;
}

static bool json_eval(struct pattern_ctx *c, const struct pattern_expr *e)
{
    switch (e->type) {
    case EXPR_AND:
        return json_eval(c, e->l) && json_eval(c, e->r);
    case EXPR_OR:
        return json_eval(c, e->l) || json_eval(c, e->r);
    case EXPR_COND:
        break;
    }
    const struct event_value *vals;
    size_t n = event_scan_values(c->scan, e->cond.slot, &vals);
    if (e->cond.op == OP_NOT_EXISTS)
        return n == 0;
    /* existential over wildcard candidates (§4.3) */
    for (size_t i = 0; i < n; i++)
        if (json_cond_value(c, &e->cond, &vals[i]))
            return true;
    return false;
}

static int ensure_scan(struct pattern_ctx *c)
{
    if (c->scan_state >= 0)
        return c->scan_state;
    size_t i = 0;
    while (i < c->len &&
           (c->msg[i] == ' ' || c->msg[i] == '\t' || c->msg[i] == '\r' || c->msg[i] == '\n'))
        i++;
    if (i == c->len || c->msg[i] != '{') {
        c->scan_state = 3; /* not JSON: JSON patterns simply do not match */
        return c->scan_state;
    }
    c->scan_state = (int)event_scan_run(c->scan, c->msg, c->len, &c->diag);
    return c->scan_state;
}

/* ---- space-delimited --------------------------------------------------- */

static void add_field(struct pattern_ctx *c, const char *p, size_t n)
{
    if (c->nfields == c->fields_cap) {
        c->fields_cap = c->fields_cap ? c->fields_cap * 2 : 64;
        c->fields = ks_xrealloc(c->fields, c->fields_cap * sizeof(*c->fields));
    }
    c->fields[c->nfields++] = (struct field){p, (uint32_t)n};
}

/* §5.1: spaces separate fields; "..." and [...] are one field each, with
 * the delimiters removed; an unterminated group runs to the end. */
static void split_fields(struct pattern_ctx *c)
{
    const char *p = c->msg, *end = c->msg + c->len;
    c->nfields = 0;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end)
            break;
        if (*p == '"' || *p == '[') {
            char close = *p == '"' ? '"' : ']';
            const char *q = memchr(p + 1, close, (size_t)(end - p - 1));
            if (!q) {
                add_field(c, p + 1, (size_t)(end - p - 1));
                break;
            }
            add_field(c, p + 1, (size_t)(q - p - 1));
            p = q + 1;
            continue;
        }
        const char *q = p;
        while (q < end && *q != ' ' && *q != '\t')
            q++;
        add_field(c, p, (size_t)(q - p));
        p = q;
    }
    c->split = true;
}

static bool sd_cond_field(struct pattern_ctx *c, const struct pattern_cond *cd, const char *s,
                          size_t n)
{
    const struct pattern_lit *l = &cd->lit;
    bool neg = cd->op == OP_NE;
    double x;
    if (cd->op != OP_EQ && cd->op != OP_NE)
        return is_numeric_text(s, n, &x) && compare_num(cd->op, x, l->num);
    bool r;
    if (l->kind == LIT_REGEX)
        r = pattern_regex_search(c->set->regexes[l->regex], c->re_state[l->regex], s, n);
    else if (l->kind == LIT_NUMBER && is_numeric_text(s, n, &x))
        r = x == l->num;
    else
        r = eq_wild(l, s, n);
    return neg ? !r : r;
}

static bool sd_eval(struct pattern_ctx *c, const struct pattern_expr *e, const struct sd_assign *as,
                    unsigned self, uint32_t self_field)
{
    switch (e->type) {
    case EXPR_AND:
        return sd_eval(c, e->l, as, self, self_field) && sd_eval(c, e->r, as, self, self_field);
    case EXPR_OR:
        return sd_eval(c, e->l, as, self, self_field) || sd_eval(c, e->r, as, self, self_field);
    case EXPR_COND:
        break;
    }
    uint32_t f = e->cond.slot == self ? self_field : as[e->cond.slot].start;
    if (f >= c->nfields)
        return false;
    return sd_cond_field(c, &e->cond, c->fields[f].p, c->fields[f].len);
}

#define SD_MAX_STEPS 200000ul

static bool sd_search(struct pattern_ctx *c, const struct pattern *p, struct sd_assign *as,
                      size_t i, size_t j)
{
    size_t nf = c->nfields;
    if (++c->steps > SD_MAX_STEPS)
        return false;
    if (i == p->nslots) {
        if (j != nf)
            return false;
        if (p->sd_cross) /* conditions across slots: check the full assignment */
            for (size_t k = 0; k < p->nslots; k++)
                if (p->slots[k].expr && !sd_eval(c, p->slots[k].expr, as, (unsigned)k, as[k].start))
                    return false;
        return true;
    }
    size_t bit = i * (nf + 1) + j;
    if (!p->sd_cross && (c->memo[bit / 64] >> (bit % 64)) & 1)
        return false;
    const struct sd_slot *sl = &p->slots[i];
    bool ok = false;
    if (sl->ellipsis) {
        for (size_t k = j; k <= nf && !ok; k++) {
            as[i] = (struct sd_assign){(uint32_t)j, (uint32_t)(k - j)};
            ok = sd_search(c, p, as, i + 1, k);
        }
    } else if (j < nf) {
        as[i] = (struct sd_assign){(uint32_t)j, 1};
        if (p->sd_cross || !sl->expr || sd_eval(c, sl->expr, as, (unsigned)i, (uint32_t)j))
            ok = sd_search(c, p, as, i + 1, j + 1);
    }
    if (!ok && !p->sd_cross)
        c->memo[bit / 64] |= 1ull << (bit % 64);
    return ok;
}

static bool sd_match(struct pattern_ctx *c, size_t index)
{
    const struct pattern *p = &c->set->pats[index];
    if (!c->split)
        split_fields(c);
    size_t bits = (p->nslots + 1) * (c->nfields + 1);
    size_t words = (bits + 63) / 64;
    if (words > c->memo_cap) {
        free(c->memo);
        c->memo = ks_xmalloc(words * sizeof(uint64_t));
        c->memo_cap = words;
    }
    memset(c->memo, 0, words * sizeof(uint64_t));
    c->steps = 0;
    return sd_search(c, p, c->assign[index], 0, 0);
}

/* ---- terms ------------------------------------------------------------- */

static bool terms_match(const struct pattern *p, const char *msg, size_t len)
{
    /* §2.2: if any plain or excluded term exists, ?-terms are ignored */
    bool strict = false;
    for (size_t i = 0; i < p->nterms; i++)
        strict = strict || p->terms[i].kind != TERM_OPTIONAL;
    if (strict) {
        for (size_t i = 0; i < p->nterms; i++) {
            const struct pattern_term *t = &p->terms[i];
            if (t->kind == TERM_OPTIONAL)
                continue;
            bool found = pattern_memmem(msg, len, t->text, t->len) != NULL;
            if (found != (t->kind == TERM_REQUIRED))
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < p->nterms; i++)
        if (pattern_memmem(msg, len, p->terms[i].text, p->terms[i].len))
            return true;
    return false;
}

/* ---- entry points ------------------------------------------------------ */

size_t pattern_ctx_match(struct pattern_ctx *c, const char *msg, size_t len, uint8_t *matched,
                         bool *bad_json)
{
    return pattern_ctx_match_some(c, msg, len, NULL, matched, bad_json);
}

size_t pattern_ctx_match_some(struct pattern_ctx *c, const char *msg, size_t len,
                              const uint8_t *want, uint8_t *matched, bool *bad_json)
{
    const struct pattern_set *set = c->set;
    c->msg = msg;
    c->len = len;
    c->scan_state = -1;
    c->split = false;
    size_t n = 0;
    for (size_t i = 0; i < set->npats; i++) {
        const struct pattern *p = &set->pats[i];
        bool m = false;
        if (want && !want[i]) {
            matched[i] = 0;
            continue;
        }
        switch (p->kind) {
        case PATTERN_MATCH_ALL:
            m = true;
            break;
        case PATTERN_TERMS:
            m = terms_match(p, msg, len);
            break;
        case PATTERN_REGEX:
            m = pattern_regex_search(set->regexes[p->regex], c->re_state[p->regex], msg, len);
            break;
        case PATTERN_JSON:
            if (pattern_prefilter_pass(p, msg, len) && ensure_scan(c) == EVENT_SCAN_OK)
                m = json_eval(c, p->json);
            break;
        case PATTERN_SPACE:
            m = sd_match(c, i);
            break;
        }
        matched[i] = m;
        n += m;
    }
    if (bad_json)
        *bad_json = c->scan_state == EVENT_SCAN_INVALID;
    return n;
}

size_t pattern_ctx_selector(struct pattern_ctx *c, int handle, const struct event_value **values)
{
    if (handle < 0 || (size_t)handle >= c->set->nselectors || ensure_scan(c) != EVENT_SCAN_OK) {
        *values = NULL;
        return 0;
    }
    return event_scan_values(c->scan, (unsigned)c->set->selectors[handle], values);
}

size_t pattern_ctx_extract(struct pattern_ctx *c, size_t index, pattern_extract_fn *fn, void *ud)
{
    const struct pattern *p = &c->set->pats[index];
    if (p->kind != PATTERN_SPACE)
        return 0;
    const struct sd_assign *as = c->assign[index];
    size_t n = 0;
    char name[KS_MAX_PATTERN_BYTES + 2]; /* a slot name is part of a pattern */
    for (size_t i = 0; i < p->nslots; i++) {
        const struct sd_slot *sl = &p->slots[i];
        for (uint32_t k = 0; k < as[i].count; k++) {
            uint32_t f = as[i].start + k;
            if (f >= c->nfields)
                break;
            int nl;
            if (sl->name && !sl->ellipsis)
                nl = snprintf(name, sizeof(name), "$%.*s", (int)sl->name_len, sl->name);
            else
                nl = snprintf(name, sizeof(name), "$%u", f + 1);
            fn(ud, name, (size_t)nl, c->fields[f].p, c->fields[f].len);
            n++;
        }
    }
    return n;
}

const struct ks_diag *pattern_ctx_json_error(const struct pattern_ctx *c)
{
    return &c->diag;
}
