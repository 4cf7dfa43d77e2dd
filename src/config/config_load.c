/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a template: the sections in the order their dependencies need.
 *
 *   text -> tree (config_yaml.c) -> sections checked -> pseudo parameters
 *   -> resources registered (ids, types, attributes) -> Parameters
 *   (config_params.c) -> Mappings -> Conditions (all evaluated) -> which
 *   resources exist -> typed resources (config_resources.c) -> skipped list
 *   -> Outputs -> the template.
 *
 * Two arenas: the tree and intermediate values go to a temporary one freed
 * before returning; everything the caller sees is copied into the
 * template's own, freed by config_template_free in one call.
 */
#include "config/config_int.h"

#include <errno.h>

#define PATH_MAX_BYTES 1024

/* ---- diagnostics ---- */

size_t cfg_path_push(struct cfg *c, const char *fmt, ...)
{
    size_t mark = c->path.len;
    char part[PATH_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part, sizeof(part), fmt, ap);
    va_end(ap);
    /* a path longer than the cap is cut; the error offset still points right */
    enum ks_err err = ks_buf_add(&c->path, part, strlen(part));
    (void)err;
    return mark;
}

void cfg_path_pop(struct cfg *c, size_t mark)
{
    if (mark <= c->path.len) {
        c->path.len = mark;
        c->path.data[mark] = '\0';
    }
}

static enum ks_err verror(struct cfg *c, size_t offset, enum ks_err err, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));

static enum ks_err verror(struct cfg *c, size_t offset, enum ks_err err, const char *fmt,
                          va_list ap)
{
    char msg[sizeof(c->diag->msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (c->path.len)
        return ks_diag_set(c->diag, err, offset, "%s: %s", c->path.data, msg);
    return ks_diag_set(c->diag, err, offset, "%s", msg);
}

enum ks_err cfg_error(struct cfg *c, const struct cnode *n, enum ks_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err = verror(c, n ? n->offset : SIZE_MAX, err, fmt, ap);
    va_end(ap);
    return err;
}

enum ks_err cfg_error_at(struct cfg *c, size_t offset, enum ks_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err = verror(c, offset, err, fmt, ap);
    va_end(ap);
    return err;
}

struct config_pos cfg_pos(const struct cnode *n)
{
    struct config_pos p = {0, 0, SIZE_MAX};
    if (n) {
        p.line = n->line;
        p.col = n->col;
        p.offset = n->offset;
    }
    return p;
}

void cfg_warn(struct cfg *c, const struct cnode *n, const char *fmt, ...)
{
    if (c->n_warnings == c->cap_warnings) {
        c->cap_warnings = c->cap_warnings ? 2 * c->cap_warnings : 8;
        c->warnings = ks_xrealloc(c->warnings, c->cap_warnings * sizeof(*c->warnings));
    }
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct config_warning *w = &c->warnings[c->n_warnings++];
    w->msg =
        c->path.len ? mem_printf(c->out, "%s: %s", c->path.data, msg) : mem_strdup(c->out, msg);
    w->pos = cfg_pos(n);
}

/* ---- sections ---- */

static bool alnum_id(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 255 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == n;
}

static enum ks_err check_sections(struct cfg *c)
{
    static const char *const known[] = {"AWSTemplateFormatVersion",
                                        "Description",
                                        "Metadata",
                                        "Parameters",
                                        "Rules",
                                        "Mappings",
                                        "Conditions",
                                        "Transform",
                                        "Resources",
                                        "Outputs"};
    const struct cnode *root = c->root;
    for (size_t i = 0; i < root->len; i++) {
        const struct cnode *key = root->kids[2 * i];
        bool ok = false;
        for (size_t j = 0; j < KS_ARRAY_LEN(known) && !ok; j++)
            ok = strcmp(key->str, known[j]) == 0;
        if (!ok)
            return cfg_error(c, key, KS_E_INVALID, "unknown top-level section '%s'", key->str);
    }
    const struct cnode *v = cnode_get(root, "AWSTemplateFormatVersion");
    if (v && (v->kind != CNODE_STR || strcmp(v->str, "2010-09-09") != 0))
        return cfg_error(c, v, KS_E_INVALID,
                         "AWSTemplateFormatVersion: the only version is '2010-09-09'");
    v = cnode_get(root, "Description");
    if (v && (v->kind != CNODE_STR || v->len > 1024))
        return cfg_error(c, v, KS_E_INVALID, "Description: expected a string of at most 1024");
    v = cnode_get(root, "Transform");
    if (v)
        return cfg_error(c, cnode_get_key(root, "Transform"), KS_E_INVALID,
                         "Transform (macros, AWS::Serverless) is not supported by keysentry");
    if (cnode_get(root, "Rules"))
        cfg_warn(c, cnode_get_key(root, "Rules"),
                 "Rules are not evaluated: parameters are checked against their own constraints "
                 "only");
    static const char *const maps[] = {"Metadata",   "Parameters", "Rules",  "Mappings",
                                       "Conditions", "Resources",  "Outputs"};
    for (size_t j = 0; j < KS_ARRAY_LEN(maps); j++) {
        v = cnode_get(root, maps[j]);
        if (v && v->kind != CNODE_MAP)
            return cfg_error(c, v, KS_E_INVALID, "%s: expected a mapping", maps[j]);
    }
    v = cnode_get(root, "Resources");
    if (!v)
        return cfg_error(c, root, KS_E_INVALID, "the template has no Resources section");
    if (v->len == 0)
        return cfg_error(c, v, KS_E_INVALID, "Resources: a template declares at least one");
    if (v->len > CONFIG_MAX_RESOURCES)
        return cfg_error(c, v, KS_E_LIMIT, "Resources: more than %d resources",
                         CONFIG_MAX_RESOURCES);
    return KS_OK;
}

static enum res_kind kind_of(const char *type)
{
    static const struct {
        const char *type;
        enum res_kind kind;
    } kinds[] = {
        {"AWS::Logs::LogGroup", RES_LOG_GROUP},
        {"AWS::Logs::MetricFilter", RES_METRIC_FILTER},
        {"AWS::CloudWatch::Alarm", RES_ALARM},
        {"AWS::CloudWatch::CompositeAlarm", RES_COMPOSITE_ALARM},
        {"AWS::SNS::Topic", RES_TOPIC},
        {"AWS::SNS::Subscription", RES_SUBSCRIPTION},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(kinds); i++)
        if (strcmp(kinds[i].type, type) == 0)
            return kinds[i].kind;
    if (strncmp(type, "Keysentry::", 11) == 0)
        return RES_CUSTOM;
    return RES_SKIPPED;
}

static enum ks_err one_word(struct cfg *c, const struct cnode *v, const char *const *words,
                            size_t n)
{
    if (v->kind == CNODE_STR)
        for (size_t i = 0; i < n; i++)
            if (strcmp(v->str, words[i]) == 0)
                return KS_OK;
    char list[120];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(list); i++) {
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", words[i]);
        o += w > 0 ? (size_t)w : 0;
    }
    return cfg_error(c, v, KS_E_INVALID, "expected one of: %s", list);
}

static enum ks_err register_resource(struct cfg *c, struct cres *r)
{
    static const char *const attrs[] = {"Type",      "Properties",     "DependsOn",
                                        "Condition", "DeletionPolicy", "UpdateReplacePolicy",
                                        "Metadata",  "CreationPolicy", "UpdatePolicy"};
    static const char *const deletion[] = {"Delete", "Retain", "Snapshot", "RetainExceptOnCreate"};
    if (!alnum_id(r->id))
        return cfg_error(c, r->key, KS_E_INVALID,
                         "logical id '%s' must be 1-255 letters and digits", r->id);
    if (r->def->kind != CNODE_MAP)
        return cfg_error(c, r->def, KS_E_INVALID, "expected a mapping with a Type");
    for (size_t i = 0; i < r->def->len; i++) {
        const struct cnode *key = r->def->kids[2 * i];
        bool ok = false;
        for (size_t j = 0; j < KS_ARRAY_LEN(attrs) && !ok; j++)
            ok = strcmp(key->str, attrs[j]) == 0;
        if (!ok)
            return cfg_error(c, key, KS_E_INVALID, "unknown resource attribute '%s'", key->str);
    }
    const struct cnode *v = cnode_get(r->def, "Type");
    if (!v)
        return cfg_error(c, r->key, KS_E_INVALID, "missing required attribute 'Type'");
    if (v->kind != CNODE_STR || v->len == 0) {
        size_t mark = cfg_path_push(c, ".Type");
        enum ks_err err = cfg_error(c, v, KS_E_INVALID, "expected a resource type name");
        cfg_path_pop(c, mark);
        return err;
    }
    r->type = v->str;
    r->kind = kind_of(r->type);
    r->skip = r->kind == RES_SKIPPED ? cfg_skip_type(r->type) : NULL;
    r->props = cnode_get(r->def, "Properties");
    if (r->props && r->props->kind != CNODE_MAP) {
        size_t mark = cfg_path_push(c, ".Properties");
        enum ks_err err = cfg_error(c, r->props, KS_E_INVALID, "expected a mapping");
        cfg_path_pop(c, mark);
        return err;
    }
    enum ks_err err = KS_OK;
    size_t mark = cfg_path_push(c, ".DeletionPolicy");
    if ((v = cnode_get(r->def, "DeletionPolicy")))
        err = one_word(c, v, deletion, KS_ARRAY_LEN(deletion));
    cfg_path_pop(c, mark);
    mark = cfg_path_push(c, ".UpdateReplacePolicy");
    if (!err && (v = cnode_get(r->def, "UpdateReplacePolicy")))
        err = one_word(c, v, deletion, 3);
    cfg_path_pop(c, mark);
    mark = cfg_path_push(c, ".Condition");
    if (!err && (v = cnode_get(r->def, "Condition"))) {
        if (v->kind != CNODE_STR)
            err = cfg_error(c, v, KS_E_INVALID, "expected the name of a condition");
        else
            r->condition = v->str;
    }
    cfg_path_pop(c, mark);
    return err;
}

static enum ks_err check_depends_on(struct cfg *c, struct cres *r)
{
    const struct cnode *v = cnode_get(r->def, "DependsOn");
    if (!v)
        return KS_OK;
    size_t mark = cfg_path_push(c, "Resources.%s.DependsOn", r->id);
    enum ks_err err = KS_OK;
    size_t n = v->kind == CNODE_SEQ ? v->len : 1;
    if (v->kind != CNODE_STR && v->kind != CNODE_SEQ)
        err = cfg_error(c, v, KS_E_INVALID, "expected a resource name or a list of them");
    for (size_t i = 0; !err && i < n; i++) {
        const struct cnode *d = v->kind == CNODE_SEQ ? v->kids[i] : v;
        if (d->kind != CNODE_STR)
            err = cfg_error(c, d, KS_E_INVALID, "expected a resource name");
        else if (strcmp(d->str, r->id) == 0)
            err = cfg_error(c, d, KS_E_INVALID, "a resource cannot depend on itself");
        else if (!cfg_find_resource(c, d->str))
            err = cfg_error(c, d, KS_E_INVALID, "no resource '%s'", d->str);
    }
    cfg_path_pop(c, mark);
    return err;
}

/* DependsOn must not loop (AWS: circular dependency). Depth-first search
 * with colours; at most CONFIG_MAX_RESOURCES deep. */
static enum ks_err dfs_depends(struct cfg *c, size_t i, uint8_t *colour)
{
    colour[i] = 1;
    struct cres *r = &c->res[i];
    const struct cnode *v = cnode_get(r->def, "DependsOn");
    size_t n = !v ? 0 : v->kind == CNODE_SEQ ? v->len : 1;
    for (size_t k = 0; k < n; k++) {
        const struct cnode *d = v->kind == CNODE_SEQ ? v->kids[k] : v;
        size_t j = (size_t)(cfg_find_resource(c, d->str) - c->res);
        if (colour[j] == 1) {
            size_t mark = cfg_path_push(c, "Resources.%s.DependsOn", r->id);
            enum ks_err err = cfg_error(c, d, KS_E_INVALID,
                                        "circular dependency: '%s' depends on '%s', which depends "
                                        "on '%s'",
                                        r->id, d->str, r->id);
            cfg_path_pop(c, mark);
            return err;
        }
        if (colour[j] == 0) {
            enum ks_err err = dfs_depends(c, j, colour);
            if (err)
                return err;
        }
    }
    colour[i] = 2;
    return KS_OK;
}

static enum ks_err load_resources(struct cfg *c)
{
    const struct cnode *sec = cnode_get(c->root, "Resources");
    c->n_res = sec->len;
    c->res = mem_zalloc(&c->tmp, sec->len, sizeof(*c->res));
    for (size_t i = 0; i < sec->len; i++) {
        struct cres *r = &c->res[i];
        r->key = sec->kids[2 * i];
        r->id = r->key->str;
        r->def = sec->kids[2 * i + 1];
        size_t mark = cfg_path_push(c, "Resources.%s", r->id);
        enum ks_err err = register_resource(c, r);
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}

static enum ks_err activate_resources(struct cfg *c)
{
    for (size_t i = 0; i < c->n_res; i++) {
        struct cres *r = &c->res[i];
        r->active = true;
        enum ks_err err = check_depends_on(c, r);
        if (!err && r->condition) {
            size_t mark = cfg_path_push(c, "Resources.%s.Condition", r->id);
            err = cfg_condition_value(c, r->condition, cnode_get(r->def, "Condition"), &r->active);
            cfg_path_pop(c, mark);
        }
        if (err)
            return err;
    }
    uint8_t *colour = mem_zalloc(&c->tmp, c->n_res, 1);
    for (size_t i = 0; i < c->n_res; i++) {
        if (colour[i] == 0) {
            enum ks_err err = dfs_depends(c, i, colour);
            if (err)
                return err;
        }
    }
    return KS_OK;
}

static enum ks_err load_mappings(struct cfg *c)
{
    const struct cnode *sec = cnode_get(c->root, "Mappings");
    c->mappings = sec;
    if (!sec)
        return KS_OK;
    if (sec->len > 200)
        return cfg_error(c, sec, KS_E_LIMIT, "Mappings: more than 200 mappings");
    for (size_t i = 0; i < sec->len; i++) {
        const struct cnode *m = sec->kids[2 * i + 1];
        size_t mark = cfg_path_push(c, "Mappings.%s", sec->kids[2 * i]->str);
        enum ks_err err = KS_OK;
        if (!alnum_id(sec->kids[2 * i]->str))
            err = cfg_error(c, sec->kids[2 * i], KS_E_INVALID,
                            "mapping names are letters and digits");
        else if (m->kind != CNODE_MAP)
            err = cfg_error(c, m, KS_E_INVALID, "expected a mapping of keys to mappings");
        for (size_t j = 0; !err && j < m->len; j++) {
            const struct cnode *top = m->kids[2 * j + 1];
            size_t mark2 = cfg_path_push(c, ".%s", m->kids[2 * j]->str);
            if (top->kind != CNODE_MAP)
                err = cfg_error(c, top, KS_E_INVALID, "expected a mapping of keys to values");
            for (size_t k = 0; !err && k < top->len; k++) {
                const struct cnode *v = top->kids[2 * k + 1];
                size_t mark3 = cfg_path_push(c, ".%s", top->kids[2 * k]->str);
                bool ok = v->kind == CNODE_STR || v->kind == CNODE_SEQ;
                for (size_t e = 0; ok && v->kind == CNODE_SEQ && e < v->len; e++)
                    ok = v->kids[e]->kind == CNODE_STR;
                if (!ok)
                    err = cfg_error(c, v, KS_E_INVALID,
                                    "mapping values are strings or lists of strings (no "
                                    "functions)");
                cfg_path_pop(c, mark3);
            }
            cfg_path_pop(c, mark2);
        }
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}

static enum ks_err load_conditions(struct cfg *c)
{
    const struct cnode *sec = cnode_get(c->root, "Conditions");
    size_t n = sec ? sec->len : 0;
    c->conds = mem_zalloc(&c->tmp, n + 1, sizeof(*c->conds));
    c->n_conds = n;
    for (size_t i = 0; i < n; i++) {
        c->conds[i].key = sec->kids[2 * i];
        c->conds[i].name = sec->kids[2 * i]->str;
        c->conds[i].expr = sec->kids[2 * i + 1];
    }
    /* every condition is evaluated, used or not, so errors surface */
    for (size_t i = 0; i < n; i++) {
        bool v;
        enum ks_err err = cfg_condition_value(c, c->conds[i].name, c->conds[i].key, &v);
        if (err)
            return err;
    }
    return KS_OK;
}

static enum ks_err output_string(struct cfg *c, const struct cnode *raw, char **out)
{
    const struct cnode *v;
    enum ks_err err = cfg_eval(c, raw, &v);
    if (err)
        return err;
    if (v->kind == CNODE_STR) {
        *out = mem_strndup(c->out, v->str, v->len);
        return KS_OK;
    }
    if (v->kind == CNODE_SEQ) { /* a list output is shown comma-joined */
        struct ks_buf b;
        ks_buf_init(&b, CONFIG_MAX_EVAL_BYTES);
        for (size_t i = 0; i < v->len && !err; i++) {
            if (v->kids[i]->kind != CNODE_STR)
                err = cfg_error(c, v->kids[i], KS_E_INVALID, "expected a string");
            else if (ks_buf_addf(&b, "%s%s", i ? "," : "", v->kids[i]->str) != KS_OK)
                err = cfg_error(c, raw, KS_E_LIMIT, "value too long");
        }
        if (!err)
            *out = mem_strndup(c->out, b.data, b.len);
        ks_buf_release(&b);
        return err;
    }
    return cfg_error(c, raw, KS_E_INVALID, "expected a string");
}

static enum ks_err load_outputs(struct cfg *c)
{
    const struct cnode *sec = cnode_get(c->root, "Outputs");
    struct config_template *t = c->t;
    size_t n = sec ? sec->len : 0;
    if (n > CONFIG_MAX_OUTPUTS)
        return cfg_error(c, sec, KS_E_LIMIT, "Outputs: more than %d outputs", CONFIG_MAX_OUTPUTS);
    t->outputs = mem_zalloc(c->out, n + 1, sizeof(*t->outputs));
    for (size_t i = 0; i < n; i++) {
        const struct cnode *key = sec->kids[2 * i], *def = sec->kids[2 * i + 1];
        size_t mark = cfg_path_push(c, "Outputs.%s", key->str);
        enum ks_err err = KS_OK;
        bool active = true;
        const struct cnode *v;
        if (!alnum_id(key->str))
            err = cfg_error(c, key, KS_E_INVALID, "output names are letters and digits");
        else if (def->kind != CNODE_MAP)
            err = cfg_error(c, def, KS_E_INVALID, "expected a mapping with a Value");
        for (size_t j = 0; !err && j < def->len; j++) {
            const char *k = def->kids[2 * j]->str;
            if (strcmp(k, "Value") && strcmp(k, "Description") && strcmp(k, "Export") &&
                strcmp(k, "Condition"))
                err = cfg_error(c, def->kids[2 * j], KS_E_INVALID, "unknown output attribute '%s'",
                                k);
        }
        if (!err && !cnode_get(def, "Value"))
            err = cfg_error(c, key, KS_E_INVALID, "missing required attribute 'Value'");
        if (!err && (v = cnode_get(def, "Condition"))) {
            if (v->kind != CNODE_STR)
                err = cfg_error(c, v, KS_E_INVALID, "expected the name of a condition");
            else
                err = cfg_condition_value(c, v->str, v, &active);
        }
        if (!err && active) {
            struct config_output *o = &t->outputs[t->n_outputs];
            o->name = mem_strdup(c->out, key->str);
            o->pos = cfg_pos(key);
            size_t m2 = cfg_path_push(c, ".Value");
            err = output_string(c, cnode_get(def, "Value"), &o->value);
            cfg_path_pop(c, m2);
            if (!err && (v = cnode_get(def, "Description"))) {
                if (v->kind != CNODE_STR)
                    err = cfg_error(c, v, KS_E_INVALID, "Description: expected a string");
                else
                    o->description = mem_strdup(c->out, v->str);
            }
            if (!err && (v = cnode_get(def, "Export"))) {
                const struct cnode *name = cnode_get(v, "Name");
                m2 = cfg_path_push(c, ".Export");
                if (v->kind != CNODE_MAP || v->len != 1 || !name) {
                    err = cfg_error(c, v, KS_E_INVALID, "expected a mapping with only a Name");
                } else {
                    cfg_path_push(c, ".Name");
                    err = output_string(c, name, &o->export_name);
                }
                cfg_path_pop(c, m2);
            }
            t->n_outputs++;
        }
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}

/* ---- the template ---- */

static void fill_template(struct cfg *c)
{
    struct config_template *t = c->t;
    struct config_mem *m = c->out;
    const struct cnode *v = cnode_get(c->root, "Description");
    t->description = v ? mem_strdup(m, v->str) : NULL;
    v = cnode_get(c->root, "AWSTemplateFormatVersion");
    t->format_version = v ? mem_strdup(m, v->str) : NULL;
    t->stack_name = mem_strdup(m, c->stack_name);
    t->stack_id = mem_strdup(m, c->stack_id);
    t->account_id = mem_strdup(m, c->account);
    t->region = mem_strdup(m, c->region);
    t->partition = mem_strdup(m, c->partition);
    t->url_suffix = mem_strdup(m, c->url_suffix);

    t->params = mem_zalloc(m, c->n_params + 1, sizeof(*t->params));
    for (size_t i = 0; i < c->n_params; i++) {
        const struct cparam *p = &c->params[i];
        struct config_param *o = &t->params[t->n_params++];
        o->name = mem_strdup(m, p->name);
        o->type_name = mem_strdup(m, cnode_get(p->def, "Type")->str);
        o->type = p->type;
        v = cnode_get(p->def, "Description");
        o->description = v ? mem_strdup(m, v->str) : NULL;
        o->value = mem_strdup(m, p->text);
        v = cnode_get(p->def, "NoEcho");
        if (v)
            cnode_bool(v, &o->no_echo);
        o->overridden = p->overridden;
        o->pos = cfg_pos(p->key);
        if (p->value->kind == CNODE_SEQ) {
            o->list.v = mem_zalloc(m, p->value->len + 1, sizeof(char *));
            for (size_t j = 0; j < p->value->len; j++)
                o->list.v[o->list.n++] = mem_strdup(m, p->value->kids[j]->str);
        }
    }
    t->conditions = mem_zalloc(m, c->n_conds + 1, sizeof(*t->conditions));
    for (size_t i = 0; i < c->n_conds; i++) {
        struct config_condition *o = &t->conditions[t->n_conditions++];
        o->name = mem_strdup(m, c->conds[i].name);
        o->value = c->conds[i].value;
        o->pos = cfg_pos(c->conds[i].key);
    }
    t->skipped = mem_zalloc(m, c->n_res + 1, sizeof(*t->skipped));
    for (size_t i = 0; i < c->n_res; i++) {
        const struct cres *r = &c->res[i];
        if (r->active && r->kind != RES_SKIPPED)
            continue;
        struct config_skipped *s = &t->skipped[t->n_skipped++];
        s->logical_id = mem_strdup(m, r->id);
        s->type = mem_strdup(m, r->type);
        s->reason = r->active ? CONFIG_SKIP_UNSUPPORTED : CONFIG_SKIP_CONDITION;
        s->condition = r->active ? NULL : mem_strdup(m, r->condition);
        s->pos = cfg_pos(r->key);
    }
    t->warnings = mem_zalloc(m, c->n_warnings + 1, sizeof(*t->warnings));
    for (size_t i = 0; i < c->n_warnings; i++)
        t->warnings[t->n_warnings++] = c->warnings[i];
}

static enum ks_err load(struct cfg *c, const char *name, const struct config_options *opts)
{
    struct cnode *root;
    enum ks_err err = cfg_parse(&c->tmp, c->text, c->text_len, &root, c->diag);
    if (err)
        return err;
    c->root = root;
    if (!c->root || c->root->kind == CNODE_NULL)
        return ks_diag_set(c->diag, KS_E_INVALID, 0, "the template is empty");
    if (c->root->kind != CNODE_MAP)
        return cfg_error(c, c->root, KS_E_INVALID,
                         "the template must be a mapping of sections (Parameters, Resources, ...)");
    if ((err = check_sections(c)) || (err = cfg_setup_pseudo(c, name, opts)) ||
        (err = load_resources(c)) ||
        (err = cfg_load_params(c, cnode_get(c->root, "Parameters"), opts)) ||
        (err = load_mappings(c)) || (err = load_conditions(c)) || (err = activate_resources(c)) ||
        (err = cfg_build_resources(c)) || (err = load_outputs(c)))
        return err;
    fill_template(c);
    return KS_OK;
}

static void free_resource(struct config_resource *r)
{
    json_decref(r->metadata);
}

void config_template_free(struct config_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_log_groups; i++)
        free_resource(&t->log_groups[i].res);
    for (size_t i = 0; i < t->n_metric_filters; i++)
        free_resource(&t->metric_filters[i].res);
    for (size_t i = 0; i < t->n_alarms; i++)
        free_resource(&t->alarms[i].res);
    for (size_t i = 0; i < t->n_composite_alarms; i++)
        free_resource(&t->composite_alarms[i].res);
    for (size_t i = 0; i < t->n_topics; i++)
        free_resource(&t->topics[i].res);
    for (size_t i = 0; i < t->n_subscriptions; i++)
        free_resource(&t->subscriptions[i].res);
    for (size_t i = 0; i < t->n_customs; i++) {
        free_resource(&t->customs[i].res);
        json_decref(t->customs[i].properties);
    }
    if (t->mem) {
        config_mem_free(t->mem);
        free(t->mem);
    }
    free(t);
}

enum ks_err config_template_load_buffer(const char *name, const char *text, size_t len,
                                        const struct config_options *opts,
                                        struct config_template **out, struct ks_diag *diag)
{
    struct ks_diag local;
    if (!diag)
        diag = &local;
    ks_diag_clear(diag);
    *out = NULL;
    if (!name)
        name = "template";
    if (len > CONFIG_MAX_TEMPLATE_BYTES)
        return ks_diag_set(diag, KS_E_TOOBIG, SIZE_MAX,
                           "'%s' is larger than %u bytes (the most AWS accepts)", name,
                           (unsigned)CONFIG_MAX_TEMPLATE_BYTES);
    struct config_template *t = ks_xcalloc(1, sizeof(*t));
    t->mem = ks_xcalloc(1, sizeof(*t->mem));
    struct cfg c = {
        .out = t->mem,
        .t = t,
        .text = text,
        .text_len = len,
        .diag = diag,
    };
    ks_buf_init(&c.path, PATH_MAX_BYTES);
    t->path = mem_strdup(t->mem, name);
    enum ks_err err = load(&c, name, opts);
    ks_buf_release(&c.path);
    free(c.warnings);
    config_mem_free(&c.tmp);
    if (err) {
        if (diag->err == KS_OK) /* every path sets diag; this guards the contract */
            ks_diag_set(diag, err, SIZE_MAX, "%s", ks_strerror(err));
        config_template_free(t);
        return err;
    }
    *out = t;
    return KS_OK;
}

enum ks_err config_template_load(const char *path, const struct config_options *opts,
                                 struct config_template **out, struct ks_diag *diag)
{
    struct ks_diag local;
    if (!diag)
        diag = &local;
    ks_diag_clear(diag);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open '%s': %s", path, strerror(errno));
    struct ks_buf b;
    ks_buf_init(&b, CONFIG_MAX_TEMPLATE_BYTES);
    enum ks_err err = KS_OK;
    char chunk[16384];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n && ks_buf_add(&b, chunk, n) != KS_OK) {
            err = ks_diag_set(diag, KS_E_TOOBIG, SIZE_MAX,
                              "'%s' is larger than %u bytes (the most AWS accepts)", path,
                              (unsigned)CONFIG_MAX_TEMPLATE_BYTES);
            break;
        }
        if (n < sizeof(chunk)) {
            if (ferror(f))
                err = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read '%s': %s", path,
                                  strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!err)
        err = config_template_load_buffer(path, b.data, b.len, opts, out, diag);
    ks_buf_release(&b);
    return err;
}

/* ---- lookups ---- */

const struct config_topic *config_template_topic_by_arn(const struct config_template *t,
                                                        const char *arn)
{
    for (size_t i = 0; arn && i < t->n_topics; i++)
        if (strcmp(t->topics[i].arn, arn) == 0)
            return &t->topics[i];
    return NULL;
}

const struct config_log_group *config_template_log_group_by_name(const struct config_template *t,
                                                                 const char *name)
{
    for (size_t i = 0; name && i < t->n_log_groups; i++)
        if (strcmp(t->log_groups[i].name, name) == 0)
            return &t->log_groups[i];
    return NULL;
}

const struct config_param *config_template_param(const struct config_template *t, const char *name)
{
    for (size_t i = 0; name && i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0)
            return &t->params[i];
    return NULL;
}
