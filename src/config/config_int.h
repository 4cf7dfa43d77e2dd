/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config internals: the arena, the generic node tree and the loader's
 * working state. Private to src/config.
 *
 * One node type serves both the parsed template and resolved values. Nodes
 * are immutable once built and live in the load's arena, so resolution
 * shares them freely: a Ref to a parameter returns the parameter's value
 * node, a YAML alias points at its anchor's node. Shared subtrees keep the
 * position where they were written, which is where errors should point.
 */
#ifndef KS_CONFIG_INT_H
#define KS_CONFIG_INT_H

#include "config/config.h"

/* Bump allocator; everything is freed at once by config_mem_free. */
struct config_mem {
    struct mem_chunk *chunks;
    size_t total;
};

void *mem_alloc(struct config_mem *m, size_t size);
void *mem_zalloc(struct config_mem *m, size_t n, size_t size);
char *mem_strndup(struct config_mem *m, const char *s, size_t len);
char *mem_strdup(struct config_mem *m, const char *s); /* NULL stays NULL */
char *mem_printf(struct config_mem *m, const char *fmt, ...) KS_PRINTF(2, 3);
void config_mem_free(struct config_mem *m);

enum cnode_kind {
    CNODE_NULL,    /* YAML null (~, null, empty plain scalar), JSON null */
    CNODE_STR,     /* every scalar: numbers and booleans are strings as in CloudFormation */
    CNODE_SEQ,     /* n items in kids[0..n) */
    CNODE_MAP,     /* n pairs: kids[2i] key (CNODE_STR), kids[2i+1] value */
    CNODE_NOVALUE, /* Ref AWS::NoValue: removes the enclosing property or list item */
};

struct cnode {
    enum cnode_kind kind;
    bool plain;         /* scalar was unquoted (or is a Ref to a Number): typed when made JSON */
    bool tagged;        /* map made from a YAML short-form tag such as !Sub */
    unsigned line, col; /* 1-based */
    size_t offset;      /* first byte of the node (its tag, if any) */
    size_t text_off;    /* scalar: where str appears verbatim in the source, else SIZE_MAX */
    char *str;          /* scalar text, NUL-terminated, no embedded NUL */
    size_t len;         /* scalar length, or item/pair count */
    const struct cnode **kids;
    unsigned height; /* levels below and including this node */
    size_t count;    /* nodes in the subtree, aliases expanded */
};

/* Parses YAML or JSON text into a tree allocated from m. */
enum ks_err cfg_parse(struct config_mem *m, const char *text, size_t len, struct cnode **root,
                      struct ks_diag *diag);

/* Map lookup by key; NULL when absent. */
const struct cnode *cnode_get(const struct cnode *map, const char *key);
const struct cnode *cnode_get_key(const struct cnode *map, const char *key);

/* Scalar readers: true when the node is a scalar of that shape. */
bool cnode_number(const struct cnode *n, double *out);
bool cnode_bool(const struct cnode *n, bool *out);

/* A resource as the loader sees it before typing. */
enum res_kind {
    RES_LOG_GROUP,
    RES_METRIC_FILTER,
    RES_ALARM,
    RES_COMPOSITE_ALARM,
    RES_TOPIC,
    RES_SUBSCRIPTION,
    RES_CUSTOM,
    RES_SKIPPED,
};

struct skip_type; /* known types keysentry skips: name property, Ref and Arn shapes */

struct cres {
    const char *id;
    const struct cnode *key; /* logical id node (position) */
    const struct cnode *def; /* the resource's map */
    const struct cnode *props;
    const char *type;
    enum res_kind kind;
    const struct skip_type *skip;
    const char *condition;
    bool active;
    int name_state;   /* 0 not yet, 1 in progress (cycle check), 2 done */
    const char *name; /* physical name (arena) */
    const char *ref;  /* value of Ref */
};

struct cparam {
    const char *name;
    const struct cnode *key, *def;
    enum config_param_type type;
    const struct cnode *value; /* CNODE_STR, or CNODE_SEQ of CNODE_STR for list types */
    const char *text;          /* the value as given */
    bool overridden;
};

struct ccond {
    const char *name;
    const struct cnode *key, *expr;
    int state; /* 0, 1 in progress, 2 done */
    bool value;
};

/* The loader's state for one template. */
struct cfg {
    struct config_mem tmp;  /* tree and intermediate values, freed after loading */
    struct config_mem *out; /* the template's memory */
    struct config_template *t;
    const char *text;
    size_t text_len;
    struct ks_diag *diag;
    struct ks_buf path; /* logical path of what is being resolved */

    const char *stack_name, *stack_id, *account, *region, *partition, *url_suffix;

    const struct cnode *root, *mappings;
    struct cparam *params;
    size_t n_params;
    struct ccond *conds;
    size_t n_conds;
    struct cres *res;
    size_t n_res;

    size_t eval_bytes; /* bytes built by intrinsics, capped by CONFIG_MAX_EVAL_BYTES */
    int cond_context;  /* > 0 while resolving the Conditions section */
    unsigned eval_depth;
    int in_function; /* > 0 while resolving a function's arguments */

    struct config_warning *warnings;
    size_t n_warnings, cap_warnings;
};

/* Logical path: push returns the length to pop back to. */
size_t cfg_path_push(struct cfg *c, const char *fmt, ...) KS_PRINTF(2, 3);
void cfg_path_pop(struct cfg *c, size_t mark);

/* Records an error "PATH: message" at node n (offset SIZE_MAX if n is NULL). */
enum ks_err cfg_error(struct cfg *c, const struct cnode *n, enum ks_err err, const char *fmt, ...)
    KS_PRINTF(4, 5);
enum ks_err cfg_error_at(struct cfg *c, size_t offset, enum ks_err err, const char *fmt, ...)
    KS_PRINTF(4, 5);
void cfg_warn(struct cfg *c, const struct cnode *n, const char *fmt, ...) KS_PRINTF(3, 4);
struct config_pos cfg_pos(const struct cnode *n);

/* Resolution (config_eval.c). */
enum ks_err cfg_eval(struct cfg *c, const struct cnode *n, const struct cnode **out);
enum ks_err cfg_eval_condition(struct cfg *c, const struct cnode *n, bool *out);
enum ks_err cfg_condition_value(struct cfg *c, const char *name, const struct cnode *at, bool *out);
enum ks_err cfg_resource_name(struct cfg *c, struct cres *r);
struct cres *cfg_find_resource(struct cfg *c, const char *id);
struct cparam *cfg_find_param(struct cfg *c, const char *name);
struct cnode *cfg_new_str(struct cfg *c, const struct cnode *at, const char *s, size_t len);
char *cfg_uuid(struct cfg *c, const char *a, const char *b);
const struct skip_type *cfg_skip_type(const char *type);

/* Parameters, pseudo parameters (config_params.c). */
enum ks_err cfg_setup_pseudo(struct cfg *c, const char *path, const struct config_options *opts);
enum ks_err cfg_load_params(struct cfg *c, const struct cnode *section,
                            const struct config_options *opts);

/* Typed resources (config_resources.c). */
enum ks_err cfg_build_resources(struct cfg *c);

/* A resolved value as a jansson tree (new reference). */
json_t *cnode_to_json(const struct cnode *n);

#endif
