/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing filter patterns (spec/filter-patterns.md §1-6) into the compiled
 * forms of pattern_int.h. Class dispatch follows §1; every error carries the
 * byte offset of the problem in the pattern text, and the AWS wording
 * "Invalid metric filter pattern" leads every message.
 */
#include "pattern/pattern_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INVALID "Invalid metric filter pattern"

struct parser {
    struct pattern_set *set;
    struct pattern *pat;
    const char *s;
    size_t len;
    size_t pos;
    struct ks_diag *diag;
    unsigned nregex;
    unsigned nwild_selectors;
    /* space-delimited: slot names seen so far, for cross-slot conditions */
};

static enum ks_err perr(struct parser *ps, size_t at, const char *why)
{
    return ks_diag_set(ps->diag, KS_E_SYNTAX, at, INVALID ": %s", why);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(struct parser *ps)
{
    while (ps->pos < ps->len && is_space(ps->s[ps->pos]))
        ps->pos++;
}

/* §4.2: number := [+-] digits [. digits] [(e|E) [+-] digits], whole token. */
static bool parse_number(const char *t, size_t n, double *out)
{
    size_t i = 0;
    if (i < n && (t[i] == '+' || t[i] == '-'))
        i++;
    size_t d = i;
    while (i < n && t[i] >= '0' && t[i] <= '9')
        i++;
    if (i == d)
        return false;
    if (i < n && t[i] == '.') {
        size_t f = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == f)
            return false;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            i++;
        size_t e = i;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == e)
            return false;
    }
    if (i != n || n > 64)
        return false;
    char buf[72];
    memcpy(buf, t, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

/* §4.5: the shape of a string literal's wildcards. A * inside is literal. */
static void classify_wild(struct pattern_lit *l)
{
    const char *t = l->text;
    size_t n = l->len;
    l->core = t;
    l->core_len = n;
    l->wild = WILD_NONE;
    if (n == 0)
        return;
    bool lead = t[0] == '*';
    bool trail = n > 1 && t[n - 1] == '*';
    if (n == 1 && lead) {
        l->wild = WILD_ANY;
        l->core_len = 0;
    } else if (lead && trail) {
        l->wild = WILD_CONTAINS;
        l->core = t + 1;
        l->core_len = n - 2;
    } else if (lead) {
        l->wild = WILD_SUFFIX;
        l->core = t + 1;
        l->core_len = n - 1;
    } else if (trail) {
        l->wild = WILD_PREFIX;
        l->core_len = n - 1;
    }
}

/* A "..." literal starting at ps->pos (on the quote). Accepts \" and \\ as
 * escapes (spec §2.1 [?]); any other backslash is kept literally. */
static enum ks_err parse_quoted(struct parser *ps, char **text, size_t *len)
{
    size_t start = ps->pos++;
    char *out = ks_xmalloc(ps->len - start + 1);
    size_t n = 0;
    while (ps->pos < ps->len && ps->s[ps->pos] != '"') {
        char c = ps->s[ps->pos];
        if (c == '\\' && ps->pos + 1 < ps->len &&
            (ps->s[ps->pos + 1] == '"' || ps->s[ps->pos + 1] == '\\')) {
            out[n++] = ps->s[ps->pos + 1];
            ps->pos += 2;
            continue;
        }
        out[n++] = c;
        ps->pos++;
    }
    if (ps->pos >= ps->len) {
        free(out);
        return perr(ps, start, "unterminated quoted string");
    }
    ps->pos++;
    out[n] = '\0';
    *text = out;
    *len = n;
    return KS_OK;
}

static enum ks_err add_regex(struct parser *ps, const char *src, size_t n, size_t at, int *index)
{
    struct pattern_regex *re;
    enum ks_err e = pattern_regex_compile(src, n, at, &re, ps->diag);
    if (e)
        return e;
    struct pattern_set *set = ps->set;
    set->regexes = ks_xrealloc(set->regexes, (set->nregexes + 1) * sizeof(*set->regexes));
    set->regexes[set->nregexes] = re;
    *index = (int)set->nregexes++;
    return KS_OK;
}

/* %regex% starting at ps->pos (on the first %). */
static enum ks_err parse_regex_lit(struct parser *ps, struct pattern_lit *lit)
{
    size_t start = ps->pos;
    if (++ps->nregex > PATTERN_MAX_REGEXES)
        return perr(ps, start, "at most 2 regular expressions are allowed in one pattern");
    const char *close = memchr(ps->s + start + 1, '%', ps->len - start - 1);
    if (!close)
        return perr(ps, start, "unterminated regular expression (missing closing '%')");
    size_t n = (size_t)(close - (ps->s + start + 1));
    if (n == 0)
        return perr(ps, start, "empty regular expression");
    lit->kind = LIT_REGEX;
    lit->text = ks_xmemdup(ps->s + start + 1, n);
    lit->len = n;
    ps->pos = (size_t)(close - ps->s) + 1;
    return add_regex(ps, lit->text, n, start + 1, &lit->regex);
}

/* ---- terms (§2) -------------------------------------------------------- */

static enum ks_err parse_terms(struct parser *ps)
{
    struct pattern *p = ps->pat;
    enum term_kind pending = TERM_REQUIRED;
    bool have_pending = false;
    size_t pending_at = 0;
    for (;;) {
        skip_space(ps);
        if (ps->pos >= ps->len)
            break;
        enum term_kind kind = have_pending ? pending : TERM_REQUIRED;
        size_t at = ps->pos;
        char c = ps->s[ps->pos];
        if (!have_pending && (c == '?' || c == '-')) {
            kind = c == '?' ? TERM_OPTIONAL : TERM_EXCLUDED;
            ps->pos++;
            if (ps->pos >= ps->len || is_space(ps->s[ps->pos])) {
                /* a lone ? or - applies to the next item (spec §2.1 [?]) */
                pending = kind;
                have_pending = true;
                pending_at = at;
                continue;
            }
        }
        have_pending = false;
        char *text;
        size_t n;
        if (ps->s[ps->pos] == '"') {
            enum ks_err e = parse_quoted(ps, &text, &n);
            if (e)
                return e;
            if (ps->pos < ps->len && !is_space(ps->s[ps->pos])) {
                free(text);
                return perr(ps, ps->pos, "expected a space after the quoted term");
            }
        } else {
            size_t st = ps->pos;
            while (ps->pos < ps->len && !is_space(ps->s[ps->pos]))
                ps->pos++;
            text = ks_xmemdup(ps->s + st, ps->pos - st);
            n = ps->pos - st;
        }
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            blank = blank && is_space(text[i]);
        if (blank) {
            /* "" and " " contribute nothing (§2.1: " " matches everything) */
            free(text);
            continue;
        }
        p->terms = ks_xrealloc(p->terms, (p->nterms + 1) * sizeof(*p->terms));
        p->terms[p->nterms++] = (struct pattern_term){kind, text, n};
        (void)at;
    }
    if (have_pending)
        return perr(ps, pending_at, "'?' or '-' must be followed by a term");
    return KS_OK;
}

/* ---- JSON patterns (§4) ------------------------------------------------ */

static bool bare_char(char c)
{
    /* §4.1 bare-token: not whitespace ( ) & | } " = ! < > */
    return !is_space(c) && c != '(' && c != ')' && c != '&' && c != '|' && c != '}' && c != '"' &&
           c != '=' && c != '!' && c != '<' && c != '>';
}

static bool keyword(struct parser *ps, const char *kw)
{
    size_t n = strlen(kw);
    if (ps->len - ps->pos < n || memcmp(ps->s + ps->pos, kw, n) != 0)
        return false;
    if (ps->pos + n < ps->len && bare_char(ps->s[ps->pos + n]) && ps->s[ps->pos + n] != '%')
        return false;
    ps->pos += n;
    return true;
}

static enum ks_err parse_value(struct parser *ps, struct pattern_lit *lit, bool allow_regex,
                               bool (*stop)(char))
{
    memset(lit, 0, sizeof(*lit));
    lit->regex = -1;
    skip_space(ps);
    if (ps->pos >= ps->len)
        return perr(ps, ps->pos, "expected a value");
    char c = ps->s[ps->pos];
    if (c == '"') {
        enum ks_err e = parse_quoted(ps, &lit->text, &lit->len);
        if (e)
            return e;
        lit->kind = LIT_STRING;
        lit->quoted = true;
        /* a quoted numeric-looking literal still compares numerically
         * against number values (§4.6) */
        lit->numeric = parse_number(lit->text, lit->len, &lit->num);
        classify_wild(lit);
        return KS_OK;
    }
    if (c == '%') {
        if (!allow_regex)
            return perr(ps, ps->pos, "a regular expression is not allowed here");
        return parse_regex_lit(ps, lit);
    }
    size_t st = ps->pos;
    while (ps->pos < ps->len && !stop(ps->s[ps->pos]))
        ps->pos++;
    if (ps->pos == st)
        return perr(ps, st, "expected a value");
    lit->text = ks_xmemdup(ps->s + st, ps->pos - st);
    lit->len = ps->pos - st;
    if (parse_number(lit->text, lit->len, &lit->num)) {
        lit->kind = LIT_NUMBER;
        lit->numeric = true;
    } else {
        lit->kind = LIT_STRING;
    }
    classify_wild(lit);
    return KS_OK;
}

static bool json_stop(char c)
{
    return !bare_char(c);
}

static struct pattern_expr *expr_new(enum expr_type t)
{
    struct pattern_expr *e = ks_xcalloc(1, sizeof(*e));
    e->type = t;
    e->cond.lit.regex = -1;
    return e;
}

static enum ks_err parse_op(struct parser *ps, enum pattern_op *op)
{
    const char *s = ps->s + ps->pos;
    size_t left = ps->len - ps->pos;
    if (left >= 2 && s[0] == '!' && s[1] == '=') {
        *op = OP_NE;
        ps->pos += 2;
    } else if (left >= 2 && s[0] == '<' && s[1] == '=') {
        *op = OP_LE;
        ps->pos += 2;
    } else if (left >= 2 && s[0] == '>' && s[1] == '=') {
        *op = OP_GE;
        ps->pos += 2;
    } else if (left >= 1 && s[0] == '=') {
        *op = OP_EQ;
        ps->pos += 1;
    } else if (left >= 1 && s[0] == '<') {
        *op = OP_LT;
        ps->pos += 1;
    } else if (left >= 1 && s[0] == '>') {
        *op = OP_GT;
        ps->pos += 1;
    } else {
        return perr(ps, ps->pos, "expected an operator (=, !=, <, >, <=, >=, IS or NOT EXISTS)");
    }
    return KS_OK;
}

static enum ks_err check_relational(struct parser *ps, enum pattern_op op,
                                    const struct pattern_lit *lit, size_t at)
{
    if ((op == OP_LT || op == OP_GT || op == OP_LE || op == OP_GE) && lit->kind != LIT_NUMBER)
        return perr(ps, at, "<, >, <= and >= need a number");
    return KS_OK;
}

static enum ks_err json_condition(struct parser *ps, struct pattern_expr **out)
{
    skip_space(ps);
    size_t at = ps->pos;
    if (ps->pos >= ps->len || ps->s[ps->pos] != '$')
        return perr(ps, ps->pos, "expected a selector such as $.eventName");
    struct event_path path;
    struct ks_diag d;
    ks_diag_clear(&d);
    if (event_path_parse(ps->s, ps->len, &ps->pos, &path, &d) != KS_OK)
        return perr(ps, d.offset, d.msg);
    if (path.nwild > PATTERN_MAX_WILD_STEPS) {
        event_path_release(&path);
        return perr(ps, at, "a selector may contain at most one wildcard");
    }
    if (path.nwild && ++ps->nwild_selectors > PATTERN_MAX_WILD_SELECTORS) {
        event_path_release(&path);
        return perr(ps, at, "at most 3 selectors with wildcards are allowed in one pattern");
    }
    unsigned slot = event_scan_plan_add(ps->set->plan, &path);
    struct pattern_expr *e = expr_new(EXPR_COND);
    e->cond.slot = slot;
    for (size_t i = 0; i < path.nsteps; i++) {
        const struct event_step *st = &path.steps[i];
        if (st->kind == EVENT_STEP_KEY && st->key_len > e->cond.key_len) {
            free(e->cond.key);
            e->cond.key = ks_xmemdup(st->key, st->key_len);
            e->cond.key_len = st->key_len;
        }
    }
    event_path_release(&path);
    skip_space(ps);
    size_t opat = ps->pos;
    enum ks_err err = KS_OK;
    if (keyword(ps, "IS")) {
        skip_space(ps);
        e->cond.lit.kind = LIT_NONE;
        if (keyword(ps, "NULL"))
            e->cond.op = OP_IS_NULL;
        else if (keyword(ps, "TRUE"))
            e->cond.op = OP_IS_TRUE;
        else if (keyword(ps, "FALSE"))
            e->cond.op = OP_IS_FALSE;
        else if (keyword(ps, "NOT"))
            err = perr(ps, opat, "IS NOT is not supported; use != or NOT EXISTS");
        else
            err = perr(ps, ps->pos, "expected NULL, TRUE or FALSE after IS");
    } else if (keyword(ps, "NOT")) {
        skip_space(ps);
        e->cond.lit.kind = LIT_NONE;
        if (keyword(ps, "EXISTS"))
            e->cond.op = OP_NOT_EXISTS;
        else
            err = perr(ps, ps->pos, "expected EXISTS after NOT");
    } else if (keyword(ps, "EXISTS")) {
        err = perr(ps, opat, "EXISTS alone is not supported; use NOT EXISTS or = *");
    } else {
        err = parse_op(ps, &e->cond.op);
        if (!err) {
            skip_space(ps);
            size_t vat = ps->pos;
            err = parse_value(ps, &e->cond.lit, true, json_stop);
            if (!err)
                err = check_relational(ps, e->cond.op, &e->cond.lit, vat);
        }
    }
    if (err) {
        pattern_expr_free(e);
        return err;
    }
    *out = e;
    return KS_OK;
}

static enum ks_err json_or(struct parser *ps, struct pattern_expr **out, unsigned depth);

static enum ks_err json_primary(struct parser *ps, struct pattern_expr **out, unsigned depth)
{
    skip_space(ps);
    if (ps->pos < ps->len && ps->s[ps->pos] == '(') {
        size_t open = ps->pos++;
        if (depth > 64)
            return perr(ps, open, "parentheses nested too deep");
        enum ks_err e = json_or(ps, out, depth + 1);
        if (e)
            return e;
        skip_space(ps);
        if (ps->pos >= ps->len || ps->s[ps->pos] != ')') {
            pattern_expr_free(*out);
            *out = NULL;
            return perr(ps, ps->pos, "expected ')' to close the '(' opened before");
        }
        ps->pos++;
        return KS_OK;
    }
    return json_condition(ps, out);
}

static bool match2(struct parser *ps, const char *two)
{
    skip_space(ps);
    if (ps->len - ps->pos >= 2 && ps->s[ps->pos] == two[0] && ps->s[ps->pos + 1] == two[1]) {
        ps->pos += 2;
        return true;
    }
    return false;
}

static enum ks_err json_and(struct parser *ps, struct pattern_expr **out, unsigned depth)
{
    struct pattern_expr *l;
    enum ks_err e = json_primary(ps, &l, depth);
    if (e)
        return e;
    while (match2(ps, "&&")) {
        struct pattern_expr *r;
        if ((e = json_primary(ps, &r, depth))) {
            pattern_expr_free(l);
            return e;
        }
        struct pattern_expr *n = expr_new(EXPR_AND);
        n->l = l;
        n->r = r;
        l = n;
    }
    *out = l;
    return KS_OK;
}

static enum ks_err json_or(struct parser *ps, struct pattern_expr **out, unsigned depth)
{
    struct pattern_expr *l;
    enum ks_err e = json_and(ps, &l, depth);
    if (e)
        return e;
    while (match2(ps, "||")) {
        struct pattern_expr *r;
        if ((e = json_and(ps, &r, depth))) {
            pattern_expr_free(l);
            return e;
        }
        struct pattern_expr *n = expr_new(EXPR_OR);
        n->l = l;
        n->r = r;
        l = n;
    }
    *out = l;
    return KS_OK;
}

static enum ks_err parse_json(struct parser *ps, size_t close)
{
    /* parse between { and } */
    size_t saved_len = ps->len;
    ps->len = close;
    ps->pos++;
    skip_space(ps);
    if (ps->pos >= ps->len) {
        ps->len = saved_len;
        return perr(ps, ps->pos, "empty JSON pattern");
    }
    enum ks_err e = json_or(ps, &ps->pat->json, 0);
    if (!e) {
        skip_space(ps);
        if (ps->pos < ps->len) {
            const char *s = ps->s + ps->pos;
            e = perr(ps, ps->pos,
                     (s[0] == '&' || s[0] == '|') ? "use && and || to combine conditions"
                     : s[0] == ')'                ? "unbalanced ')'"
                                                  : "unexpected text after a condition");
        }
    }
    ps->len = saved_len;
    return e;
}

/* ---- space-delimited patterns (§5) ------------------------------------ */

static bool sd_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool sd_stop(char c)
{
    return is_space(c) || c == ',' || c == ']' || c == '&' || c == '|';
}

static enum ks_err sd_name(struct parser *ps, size_t *start, size_t *n)
{
    skip_space(ps);
    *start = ps->pos;
    while (ps->pos < ps->len && sd_name_char(ps->s[ps->pos]))
        ps->pos++;
    *n = ps->pos - *start;
    if (*n == 0)
        return perr(ps, *start, "expected a field name");
    char c0 = ps->s[*start];
    if (c0 >= '0' && c0 <= '9')
        return perr(ps, *start, "a field name must start with a letter or '_'");
    return KS_OK;
}

static int sd_find(const struct pattern *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->nslots; i++)
        if (p->slots[i].name && p->slots[i].name_len == n && memcmp(p->slots[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

/* Conditions naming other slots are resolved after all slots are known. */
struct sd_ref {
    struct pattern_cond *cond;
    size_t name_at;
    size_t name_len;
};

struct sd_refs {
    struct sd_ref *v;
    size_t n;
};

static enum ks_err sd_cond(struct parser *ps, size_t slot, struct pattern_expr **out,
                           struct sd_refs *refs, bool first, size_t *name_start, size_t *name_len)
{
    size_t st, n;
    enum ks_err e = sd_name(ps, &st, &n);
    if (e)
        return e;
    if (first) {
        *name_start = st;
        *name_len = n;
    }
    skip_space(ps);
    struct pattern_expr *x = expr_new(EXPR_COND);
    x->cond.slot = (unsigned)slot;
    if ((e = parse_op(ps, &x->cond.op))) {
        pattern_expr_free(x);
        return e;
    }
    skip_space(ps);
    size_t vat = ps->pos;
    if ((e = parse_value(ps, &x->cond.lit, true, sd_stop)) ||
        (e = check_relational(ps, x->cond.op, &x->cond.lit, vat))) {
        pattern_expr_free(x);
        return e;
    }
    if (!first && (n != *name_len || memcmp(ps->s + st, ps->s + *name_start, n) != 0)) {
        /* names another slot (spec §5.2 [?]): bind once all slots are parsed */
        refs->v = ks_xrealloc(refs->v, (refs->n + 1) * sizeof(*refs->v));
        refs->v[refs->n++] = (struct sd_ref){&x->cond, st, n};
        ps->pat->sd_cross = true;
    }
    *out = x;
    return KS_OK;
}

static enum ks_err sd_and(struct parser *ps, size_t slot, struct pattern_expr **out,
                          struct sd_refs *refs, bool *first, size_t *ns, size_t *nl)
{
    struct pattern_expr *l;
    enum ks_err e = sd_cond(ps, slot, &l, refs, *first, ns, nl);
    *first = false;
    if (e)
        return e;
    while (match2(ps, "&&")) {
        struct pattern_expr *r;
        if ((e = sd_cond(ps, slot, &r, refs, false, ns, nl))) {
            pattern_expr_free(l);
            return e;
        }
        struct pattern_expr *x = expr_new(EXPR_AND);
        x->l = l;
        x->r = r;
        l = x;
    }
    *out = l;
    return KS_OK;
}

static enum ks_err sd_or(struct parser *ps, size_t slot, struct pattern_expr **out,
                         struct sd_refs *refs, size_t *ns, size_t *nl)
{
    bool first = true;
    struct pattern_expr *l;
    enum ks_err e = sd_and(ps, slot, &l, refs, &first, ns, nl);
    if (e)
        return e;
    while (match2(ps, "||")) {
        struct pattern_expr *r;
        if ((e = sd_and(ps, slot, &r, refs, &first, ns, nl))) {
            pattern_expr_free(l);
            return e;
        }
        struct pattern_expr *x = expr_new(EXPR_OR);
        x->l = l;
        x->r = r;
        l = x;
    }
    *out = l;
    return KS_OK;
}

static enum ks_err parse_space(struct parser *ps, size_t close)
{
    struct pattern *p = ps->pat;
    struct sd_refs refs = {NULL, 0};
    enum ks_err e = KS_OK;
    ps->pos++; /* [ */
    skip_space(ps);
    if (ps->pos == close)
        return perr(ps, close, "a space-delimited pattern needs at least one field");
    size_t saved_len = ps->len;
    ps->len = close;
    for (;;) {
        skip_space(ps);
        p->slots = ks_xrealloc(p->slots, (p->nslots + 1) * sizeof(*p->slots));
        struct sd_slot *sl = &p->slots[p->nslots];
        memset(sl, 0, sizeof(*sl));
        size_t at = ps->pos;
        if (ps->len - ps->pos >= 3 && memcmp(ps->s + ps->pos, "...", 3) == 0) {
            sl->ellipsis = true;
            ps->pos += 3;
            p->nslots++;
        } else if (ps->pos >= ps->len || ps->s[ps->pos] == ',') {
            p->nslots++; /* empty slot: any single field, unnamed */
        } else {
            size_t st, n;
            if ((e = sd_name(ps, &st, &n)))
                break;
            skip_space(ps);
            bool has_cond = ps->pos < ps->len && ps->s[ps->pos] != ',';
            if (sd_find(p, ps->s + st, n) >= 0) {
                e = perr(ps, st, "field name used twice");
                break;
            }
            sl->name = ks_xmemdup(ps->s + st, n);
            sl->name_len = n;
            p->nslots++;
            if (has_cond) {
                ps->pos = at;
                size_t ns = 0, nl = 0;
                if ((e = sd_or(ps, p->nslots - 1, &p->slots[p->nslots - 1].expr, &refs, &ns, &nl)))
                    break;
            }
        }
        skip_space(ps);
        if (ps->pos >= ps->len)
            break;
        if (ps->s[ps->pos] != ',') {
            e = perr(ps, ps->pos, "expected ',' between fields");
            break;
        }
        ps->pos++;
    }
    ps->len = saved_len;
    for (size_t i = 0; !e && i < refs.n; i++) {
        int k = sd_find(p, ps->s + refs.v[i].name_at, refs.v[i].name_len);
        if (k < 0)
            e = perr(ps, refs.v[i].name_at, "condition names a field that is not in the pattern");
        else
            refs.v[i].cond->slot = (unsigned)k;
    }
    free(refs.v);
    return e;
}

/* ---- dispatch (§1) ----------------------------------------------------- */

enum ks_err pattern_parse(struct pattern_set *set, struct pattern *p, const char *text, size_t len,
                          struct ks_diag *diag)
{
    memset(p, 0, sizeof(*p));
    p->regex = -1;
    p->source = ks_xmemdup(text, len);
    p->source_len = len;
    if (len > KS_MAX_PATTERN_BYTES)
        return ks_diag_set(diag, KS_E_LIMIT, KS_MAX_PATTERN_BYTES,
                           "1 validation error detected: Value at 'filterPattern' failed to "
                           "satisfy constraint: Member must have length less than or equal to "
                           "1024 (got %zu)",
                           len);
    struct parser ps = {.set = set, .pat = p, .s = p->source, .len = len, .diag = diag};
    size_t a = 0, b = len;
    while (a < b && is_space(text[a]))
        a++;
    while (b > a && is_space(text[b - 1]))
        b--;
    ps.pos = a;
    if (a == b) {
        p->kind = PATTERN_MATCH_ALL;
        return KS_OK;
    }
    char first = text[a], last = text[b - 1];
    if (first == '{') {
        p->kind = PATTERN_JSON;
        if (last != '}')
            return ks_diag_set(diag, KS_E_SYNTAX, b - 1,
                               INVALID
                               ": If a filter pattern starts with '{' it must end with '}'");
        set->any_json = true;
        return parse_json(&ps, b - 1);
    }
    if (first == '[') {
        p->kind = PATTERN_SPACE;
        if (last != ']')
            return perr(&ps, b - 1,
                        "a space-delimited pattern starting with '[' must end with ']'");
        return parse_space(&ps, b - 1);
    }
    if (first == '%' && last == '%' && b - a >= 2 && !memchr(text + a + 1, '%', b - a - 2)) {
        p->kind = PATTERN_REGEX;
        if (b - a == 2)
            return perr(&ps, a, "empty regular expression");
        return add_regex(&ps, p->source + a + 1, b - a - 2, a + 1, &p->regex);
    }
    p->kind = PATTERN_TERMS;
    enum ks_err e = parse_terms(&ps);
    if (!e && p->nterms == 0)
        p->kind = PATTERN_MATCH_ALL; /* only blank quoted items */
    return e;
}

void pattern_expr_free(struct pattern_expr *e)
{
    if (!e)
        return;
    pattern_expr_free(e->l);
    pattern_expr_free(e->r);
    free(e->cond.lit.text);
    free(e->cond.key);
    free(e);
}

void pattern_release(struct pattern *p)
{
    for (size_t i = 0; i < p->nterms; i++)
        free(p->terms[i].text);
    free(p->terms);
    pattern_expr_free(p->json);
    for (size_t i = 0; i < p->nslots; i++) {
        free(p->slots[i].name);
        pattern_expr_free(p->slots[i].expr);
    }
    free(p->slots);
    for (unsigned c = 0; c < p->nclauses; c++)
        for (unsigned k = 0; k < p->clauses[c].nalt; k++)
            free(p->clauses[c].alt[k]);
    free(p->source);
    memset(p, 0, sizeof(*p));
}
