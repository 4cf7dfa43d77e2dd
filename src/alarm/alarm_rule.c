/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AlarmRule of composite alarms (spec §8.2): a hand-written recursive-descent
 * parser into a small node array, and its evaluation.
 *
 *   rule     := or_expr
 *   or_expr  := and_expr { "OR" and_expr }
 *   and_expr := not_expr { "AND" not_expr }
 *   not_expr := "NOT" not_expr | primary
 *   primary  := "(" rule ")" | func | "TRUE" | "FALSE"
 *   func     := ("ALARM" | "OK" | "INSUFFICIENT_DATA") "(" ref ")"
 *   ref      := '"' name-or-ARN '"' | name-or-ARN without ( ) or "
 *
 * Precedence NOT > AND > OR is not documented by AWS (AL13) [?]. Keywords
 * are upper case [?]; a keyword written in another case is an error that
 * says so. An unquoted reference runs to the next ')' and is trimmed, so
 * names with spaces work unquoted; quoted references have no escapes
 * (AlarmName may not contain control characters, and a '"' inside a name
 * cannot be expressed) [I]. Every error carries the byte offset it is at.
 */
#include "alarm/alarm_int.h"

enum node_kind { N_TRUE, N_FALSE, N_ALARM, N_OK, N_INSUF, N_NOT, N_AND, N_OR };

struct node {
    enum node_kind kind;
    uint32_t a; /* child alarm index for functions; operand for NOT/AND/OR */
    uint32_t b; /* right operand of AND/OR */
};

struct alarm_rule {
    struct node *nodes;
    size_t n;
    size_t cap;
    char **children;
    size_t nchildren;
    uint32_t root;
};

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct alarm_rule *r;
    struct ks_diag *diag;
    const char *region;
    const char *account;
    size_t elements;
    int depth;
    bool failed;
};

static uint32_t fail(struct parser *p, enum ks_err err, size_t at, const char *fmt, ...)
    KS_PRINTF(4, 5);

static uint32_t fail(struct parser *p, enum ks_err err, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return 0;
    p->failed = true;
    if (p->diag) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ks_diag_set(p->diag, err, at, "alarm rule: %s", msg);
    }
    return 0;
}

static uint32_t add_node(struct parser *p, enum node_kind kind, uint32_t a, uint32_t b)
{
    struct alarm_rule *r = p->r;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->nodes = ks_xrealloc(r->nodes, r->cap * sizeof(*r->nodes));
    }
    r->nodes[r->n] = (struct node){kind, a, b};
    return (uint32_t)r->n++;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of the word at the current position (0 if none). */
static size_t word_len(const struct parser *p)
{
    size_t n = 0;
    while (p->pos + n < p->len && word_char(p->s[p->pos + n]))
        n++;
    return n;
}

static bool word_is(const struct parser *p, size_t n, const char *kw)
{
    return strlen(kw) == n && memcmp(p->s + p->pos, kw, n) == 0;
}

static bool word_is_nocase(const struct parser *p, size_t n, const char *kw)
{
    if (strlen(kw) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p->s[p->pos + i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != kw[i])
            return false;
    }
    return true;
}

static const char *const keywords[] = {"ALARM", "OK", "INSUFFICIENT_DATA", "TRUE", "FALSE", "AND",
                                       "OR",    "NOT"};

static bool count_element(struct parser *p, size_t at)
{
    if (++p->elements > ALARM_RULE_MAX_ELEMENTS) {
        fail(p, KS_E_LIMIT, at, "more than %d elements (alarms, TRUE/FALSE, parentheses)",
             ALARM_RULE_MAX_ELEMENTS);
        return false;
    }
    return true;
}

static uint32_t child_index(struct parser *p, const char *name, size_t n, size_t at)
{
    struct alarm_rule *r = p->r;
    for (size_t i = 0; i < r->nchildren; i++)
        if (strlen(r->children[i]) == n && memcmp(r->children[i], name, n) == 0)
            return (uint32_t)i;
    if (r->nchildren == ALARM_RULE_MAX_CHILDREN)
        return fail(p, KS_E_LIMIT, at, "more than %d different alarms referenced",
                    ALARM_RULE_MAX_CHILDREN);
    r->children = ks_xrealloc(r->children, (r->nchildren + 1) * sizeof(*r->children));
    r->children[r->nchildren] = ks_xmemdup(name, n);
    return (uint32_t)r->nchildren++;
}

/* func := KIND "(" ref ")", positioned after KIND. */
static uint32_t parse_func(struct parser *p, enum node_kind kind, const char *kw, size_t kw_at)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '(')
        return fail(p, KS_E_SYNTAX, p->pos, "expected '(' after %s", kw);
    p->pos++;
    skip_ws(p);
    size_t ref_at = p->pos, ref_len;
    if (p->pos < p->len && p->s[p->pos] == '"') {
        const char *q = memchr(p->s + p->pos + 1, '"', p->len - p->pos - 1);
        if (!q)
            return fail(p, KS_E_SYNTAX, p->pos, "unterminated quoted alarm name");
        ref_at = p->pos + 1;
        ref_len = (size_t)(q - (p->s + ref_at));
        p->pos = ref_at + ref_len + 1;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ')')
            return fail(p, KS_E_SYNTAX, p->pos, "expected ')' after the alarm name");
    } else {
        size_t e = p->pos;
        while (e < p->len && p->s[e] != ')') {
            if (p->s[e] == '(' || p->s[e] == '"')
                return fail(p, KS_E_SYNTAX, e,
                            "unquoted alarm name cannot contain '%c': put the name in quotes",
                            p->s[e]);
            e++;
        }
        if (e >= p->len)
            return fail(p, KS_E_SYNTAX, p->len, "expected ')' to close %s(", kw);
        ref_len = e - p->pos;
        while (ref_len &&
               (p->s[ref_at + ref_len - 1] == ' ' || p->s[ref_at + ref_len - 1] == '\t' ||
                p->s[ref_at + ref_len - 1] == '\n' || p->s[ref_at + ref_len - 1] == '\r'))
            ref_len--;
        p->pos = e;
    }
    p->pos++; /* ')' */
    if (ref_len == 0)
        return fail(p, KS_E_SYNTAX, ref_at, "empty alarm name in %s()", kw);

    const char *name = p->s + ref_at;
    size_t name_len = ref_len;
    int arn = alarm_arn_name(name, ref_len, p->region, p->account, &name, &name_len);
    if (arn < 0)
        return fail(p, KS_E_SYNTAX, ref_at,
                    "'%.*s' is not an alarm ARN of region %s account %s (composite alarms "
                    "watch alarms of their own account and region)",
                    (int)(ref_len > 80 ? 80 : ref_len), p->s + ref_at,
                    alarm_region_or_default(p->region), alarm_account_or_default(p->account));
    if (name_len > ALARM_NAME_MAX)
        return fail(p, KS_E_SYNTAX, ref_at, "alarm name longer than %d bytes", ALARM_NAME_MAX);
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)name[i] < 0x20)
            return fail(p, KS_E_SYNTAX, (size_t)(name + i - p->s),
                        "control character in alarm name");
    (void)kw_at;
    if (!count_element(p, ref_at))
        return 0;
    uint32_t idx = child_index(p, name, name_len, ref_at);
    if (p->failed)
        return 0;
    return add_node(p, kind, idx, 0);
}

static uint32_t parse_or(struct parser *p);

static uint32_t parse_primary(struct parser *p)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, KS_E_SYNTAX, p->pos,
                    "unexpected end: expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, "
                    "FALSE, NOT or '('");
    size_t at = p->pos;
    char c = p->s[at];
    if (c == '(') {
        if (!count_element(p, at))
            return 0;
        if (++p->depth > ALARM_RULE_MAX_DEPTH)
            return fail(p, KS_E_LIMIT, at, "nested deeper than %d levels", ALARM_RULE_MAX_DEPTH);
        p->pos++;
        uint32_t e = parse_or(p);
        if (p->failed)
            return 0;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ')')
            return fail(p, KS_E_SYNTAX, p->pos, "expected ')' to close the '(' at offset %zu", at);
        p->pos++;
        p->depth--;
        return e;
    }
    size_t n = word_len(p);
    if (n == 0) {
        if (c == ')')
            return fail(p, KS_E_SYNTAX, at, "unexpected ')'");
        return fail(p, KS_E_SYNTAX, at,
                    "unexpected '%c': expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, "
                    "FALSE, NOT or '('",
                    c);
    }
    if (word_is(p, n, "TRUE") || word_is(p, n, "FALSE")) {
        if (!count_element(p, at))
            return 0;
        p->pos += n;
        return add_node(p, p->s[at] == 'T' ? N_TRUE : N_FALSE, 0, 0);
    }
    static const struct {
        const char *kw;
        enum node_kind kind;
    } funcs[] = {{"ALARM", N_ALARM}, {"OK", N_OK}, {"INSUFFICIENT_DATA", N_INSUF}};
    for (size_t i = 0; i < KS_ARRAY_LEN(funcs); i++) {
        if (word_is(p, n, funcs[i].kw)) {
            p->pos += n;
            return parse_func(p, funcs[i].kind, funcs[i].kw, at);
        }
    }
    if (word_is(p, n, "AND") || word_is(p, n, "OR"))
        return fail(p, KS_E_SYNTAX, at, "%.*s needs an operand before it", (int)n, p->s + at);
    for (size_t i = 0; i < KS_ARRAY_LEN(keywords); i++)
        if (word_is_nocase(p, n, keywords[i]))
            return fail(p, KS_E_SYNTAX, at, "keywords are upper case: write '%s', not '%.*s'",
                        keywords[i], (int)n, p->s + at);
    return fail(p, KS_E_SYNTAX, at,
                "unknown word '%.*s': expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, "
                "FALSE, NOT or '('",
                (int)(n > 40 ? 40 : n), p->s + at);
}

static uint32_t parse_not(struct parser *p)
{
    skip_ws(p);
    size_t n = word_len(p);
    if (word_is(p, n, "NOT")) {
        size_t at = p->pos;
        p->pos += n;
        if (++p->depth > ALARM_RULE_MAX_DEPTH)
            return fail(p, KS_E_LIMIT, at, "nested deeper than %d levels", ALARM_RULE_MAX_DEPTH);
        uint32_t e = parse_not(p);
        p->depth--;
        if (p->failed)
            return 0;
        return add_node(p, N_NOT, e, 0);
    }
    return parse_primary(p);
}

/* Binary level: operands from `next`, joined by keyword kw into kind nodes. */
static uint32_t parse_binary(struct parser *p, uint32_t (*next)(struct parser *), const char *kw,
                             enum node_kind kind)
{
    uint32_t left = next(p);
    while (!p->failed) {
        skip_ws(p);
        size_t n = word_len(p);
        if (!word_is(p, n, kw))
            break;
        p->pos += n;
        uint32_t right = next(p);
        if (p->failed)
            break;
        left = add_node(p, kind, left, right);
    }
    return left;
}

static uint32_t parse_and(struct parser *p)
{
    return parse_binary(p, parse_not, "AND", N_AND);
}

static uint32_t parse_or(struct parser *p)
{
    return parse_binary(p, parse_and, "OR", N_OR);
}

struct alarm_rule *alarm_rule_parse(const char *text, size_t len, const char *region,
                                    const char *account, struct ks_diag *diag)
{
    if (diag)
        ks_diag_clear(diag);
    if (len > ALARM_RULE_MAX_BYTES) {
        ks_diag_set(diag, KS_E_LIMIT, ALARM_RULE_MAX_BYTES, "alarm rule: longer than %d bytes",
                    ALARM_RULE_MAX_BYTES);
        return NULL;
    }
    size_t bad;
    if (!ks_text_clean(text, len, &bad)) {
        ks_diag_set(diag, KS_E_SYNTAX, bad, "alarm rule: invalid UTF-8 or NUL byte");
        return NULL;
    }
    struct alarm_rule *r = ks_xcalloc(1, sizeof(*r));
    struct parser p = {
        .s = text, .len = len, .r = r, .diag = diag, .region = region, .account = account};
    r->root = parse_or(&p);
    if (!p.failed) {
        skip_ws(&p);
        if (p.pos < p.len) {
            size_t n = word_len(&p);
            if (n && (word_is_nocase(&p, n, "AND") || word_is_nocase(&p, n, "OR")))
                fail(&p, KS_E_SYNTAX, p.pos, "keywords are upper case: write '%s', not '%.*s'",
                     word_is_nocase(&p, n, "AND") ? "AND" : "OR", (int)n, p.s + p.pos);
            else if (p.s[p.pos] == ')')
                fail(&p, KS_E_SYNTAX, p.pos, "unexpected ')' without a matching '('");
            else
                fail(&p, KS_E_SYNTAX, p.pos, "expected AND, OR or the end of the rule");
        }
    }
    if (p.failed) {
        alarm_rule_free(r);
        return NULL;
    }
    return r;
}

void alarm_rule_free(struct alarm_rule *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nchildren; i++)
        free(r->children[i]);
    free(r->children);
    free(r->nodes);
    free(r);
}

size_t alarm_rule_child_count(const struct alarm_rule *r)
{
    return r->nchildren;
}

const char *alarm_rule_child(const struct alarm_rule *r, size_t i)
{
    return i < r->nchildren ? r->children[i] : NULL;
}

/* Depth is bounded: NOT and parentheses by ALARM_RULE_MAX_DEPTH, AND/OR
 * chains by ALARM_RULE_MAX_ELEMENTS. */
static bool eval_node(const struct alarm_rule *r, uint32_t i, const bool *known,
                      const enum alarm_state *states)
{
    const struct node *n = &r->nodes[i];
    switch (n->kind) {
    case N_TRUE:
        return true;
    case N_FALSE:
        return false;
    case N_ALARM:
        return known[n->a] && states[n->a] == ALARM_STATE_ALARM;
    case N_OK:
        return known[n->a] && states[n->a] == ALARM_STATE_OK;
    case N_INSUF:
        return known[n->a] && states[n->a] == ALARM_STATE_INSUFFICIENT_DATA;
    case N_NOT:
        return !eval_node(r, n->a, known, states);
    case N_AND:
        return eval_node(r, n->a, known, states) && eval_node(r, n->b, known, states);
    case N_OR:
        return eval_node(r, n->a, known, states) || eval_node(r, n->b, known, states);
    }
    return false;
}

bool alarm_rule_eval_states(const struct alarm_rule *r, const bool *known,
                            const enum alarm_state *states)
{
    return eval_node(r, r->root, known, states);
}

bool alarm_rule_eval(const struct alarm_rule *r, alarm_state_fn *fn, void *ctx)
{
    size_t n = r->nchildren ? r->nchildren : 1;
    bool *known = ks_xcalloc(n, sizeof(*known));
    enum alarm_state *states = ks_xcalloc(n, sizeof(*states));
    for (size_t i = 0; i < r->nchildren; i++) {
        struct alarm_child_state cs = {ALARM_STATE_INSUFFICIENT_DATA, 0};
        known[i] = fn(ctx, r->children[i], &cs);
        states[i] = cs.state;
    }
    bool v = alarm_rule_eval_states(r, known, states);
    free(known);
    free(states);
    return v;
}
