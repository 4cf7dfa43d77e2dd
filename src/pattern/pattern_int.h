/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/pattern: the compiled forms of the five pattern classes. */
#ifndef KS_PATTERN_INT_H
#define KS_PATTERN_INT_H

#include "pattern/pattern.h"

struct pattern_regex; /* pattern_regex.c: our subset, run by PCRE2 */

enum pattern_op {
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_IS_NULL,
    OP_IS_TRUE,
    OP_IS_FALSE,
    OP_NOT_EXISTS,
};

enum lit_kind {
    LIT_STRING, /* quoted, or a bare token that is not a number */
    LIT_NUMBER, /* bare token matching the number grammar */
    LIT_REGEX,  /* %...% */
    LIT_NONE,   /* IS / NOT EXISTS take no value */
};

enum lit_wild {
    WILD_NONE,     /* whole value must equal */
    WILD_ANY,      /* "*" */
    WILD_PREFIX,   /* abc* */
    WILD_SUFFIX,   /* *abc */
    WILD_CONTAINS, /* *abc* */
};

struct pattern_lit {
    enum lit_kind kind;
    char *text; /* source text without quotes, escapes resolved (owned) */
    size_t len;
    bool quoted;
    enum lit_wild wild;
    const char *core; /* text minus the wildcard stars (points into text) */
    size_t core_len;
    bool numeric; /* text parses as a number (then num holds it) */
    double num;
    int regex; /* index into the set's regex table when LIT_REGEX */
};

enum expr_type { EXPR_AND, EXPR_OR, EXPR_COND };

/* One condition of a JSON or space-delimited pattern. */
struct pattern_cond {
    enum pattern_op op;
    struct pattern_lit lit;
    unsigned slot; /* JSON: scan slot; space-delimited: pattern slot index */
    char *key;     /* JSON: the selector's longest member name, for the prefilter */
    size_t key_len;
};

struct pattern_expr {
    enum expr_type type;
    struct pattern_expr *l, *r;
    struct pattern_cond cond;
};

enum term_kind { TERM_REQUIRED, TERM_EXCLUDED, TERM_OPTIONAL };

struct pattern_term {
    enum term_kind kind;
    char *text;
    size_t len;
};

struct sd_slot {
    bool ellipsis;
    char *name; /* NULL for an empty slot or ellipsis */
    size_t name_len;
    struct pattern_expr *expr; /* NULL when the slot has no condition */
};

/* Necessary literals: the event cannot match unless one of them occurs. */
#define PREFILTER_MAX_ALT     4
#define PREFILTER_MAX_CLAUSES 4
struct prefilter_clause {
    unsigned nalt;
    char *alt[PREFILTER_MAX_ALT];
    size_t alt_len[PREFILTER_MAX_ALT];
};

struct pattern {
    enum pattern_kind kind;
    char *source;
    size_t source_len;
    /* terms */
    struct pattern_term *terms;
    size_t nterms;
    /* standalone regex */
    int regex;
    /* json */
    struct pattern_expr *json;
    /* space-delimited */
    struct sd_slot *slots;
    size_t nslots;
    bool sd_cross; /* some condition names another slot */
    /* prefilter (JSON patterns) */
    struct prefilter_clause clauses[PREFILTER_MAX_CLAUSES];
    unsigned nclauses;
};

struct pattern_set {
    struct pattern *pats;
    size_t npats;
    struct pattern_regex **regexes;
    size_t nregexes;
    struct event_scan_plan *plan;
    int *selectors; /* handle -> scan slot */
    size_t nselectors;
    bool any_json;
    bool finished;
};

/* pattern_parse.c */
KS_MUST_CHECK enum ks_err pattern_parse(struct pattern_set *set, struct pattern *p,
                                        const char *text, size_t len, struct ks_diag *diag);
void pattern_release(struct pattern *p);
void pattern_expr_free(struct pattern_expr *e);

/* pattern_regex.c */
KS_MUST_CHECK enum ks_err pattern_regex_compile(const char *src, size_t len, size_t at,
                                                struct pattern_regex **out, struct ks_diag *diag);
void pattern_regex_free(struct pattern_regex *re);
/* Per-context match state for one regex. */
void *pattern_regex_state_new(const struct pattern_regex *re);
void pattern_regex_state_free(void *state);
bool pattern_regex_search(const struct pattern_regex *re, void *state, const char *s, size_t len);

/* pattern_prefilter.c */
void pattern_prefilter_build(struct pattern *p);
bool pattern_prefilter_pass(const struct pattern *p, const char *msg, size_t len);
/* memmem with an SSE2 first/last-byte filter. */
const char *pattern_memmem(const char *hay, size_t n, const char *needle, size_t m);

#endif
