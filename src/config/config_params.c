/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pseudo parameters and the Parameters section.
 *
 * Values come from --param overrides, else Default; a parameter with
 * neither is an error naming it, as AWS refuses to create the stack. Values
 * are checked against the declared constraints the way AWS checks them at
 * stack creation (AllowedValues, lengths, numeric bounds, AllowedPattern).
 *
 * AllowedPattern is a Java regular expression matched against the whole
 * value. PCRE2 is not linked into this module: the pattern is translated to
 * a POSIX extended expression (\d \w \s and their negations, (?: groups,
 * lazy quantifiers); what POSIX cannot express (lookaround, \b, \p{...})
 * leaves the pattern unchecked with a warning instead of failing.
 */
#include "config/config_int.h"

#include <regex.h>

/* ---- pseudo parameters ---- */

static bool valid_stack_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* The file name without directory and extension, made a valid stack name. */
static char *stack_from_path(struct config_mem *m, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n > 120)
        n = 120;
    bool letter = n && ((base[0] >= 'A' && base[0] <= 'Z') || (base[0] >= 'a' && base[0] <= 'z'));
    char *s = mem_printf(m, "%s%.*s", letter ? "" : "stack-", (int)n, base);
    for (char *p = s; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", *p))
            *p = '-';
    return s;
}

static bool valid_region(const char *s)
{
    /* two or more dash-separated lower-case words ending in a number:
     * us-east-1, ap-southeast-2, us-gov-west-1, cn-north-1 */
    size_t n = strlen(s), words = 0;
    if (n < 4 || n > 32 || s[n - 1] < '0' || s[n - 1] > '9')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            if (i == 0 || s[i - 1] == '-')
                return false;
            words++;
        } else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
            return false;
        }
    }
    return words >= 2;
}

enum ks_err cfg_setup_pseudo(struct cfg *c, const char *path, const struct config_options *opts)
{
    const char *stack = opts ? opts->stack_name : NULL;
    const char *account = opts && opts->account_id ? opts->account_id : CONFIG_DEFAULT_ACCOUNT_ID;
    const char *region = opts && opts->region ? opts->region : CONFIG_DEFAULT_REGION;
    if (stack && !valid_stack_name(stack))
        return ks_diag_set(c->diag, KS_E_INVALID, SIZE_MAX,
                           "invalid stack name '%s' (a letter, then letters, digits and '-', at "
                           "most 128)",
                           stack);
    if (strlen(account) != 12 || strspn(account, "0123456789") != 12)
        return ks_diag_set(c->diag, KS_E_INVALID, SIZE_MAX, "invalid account id '%s' (12 digits)",
                           account);
    if (!valid_region(region))
        return ks_diag_set(c->diag, KS_E_INVALID, SIZE_MAX,
                           "invalid region '%s' (such as us-east-1)", region);
    c->stack_name = stack ? mem_strdup(&c->tmp, stack) : stack_from_path(&c->tmp, path);
    c->account = mem_strdup(&c->tmp, account);
    c->region = mem_strdup(&c->tmp, region);
    if (strncmp(region, "cn-", 3) == 0) {
        c->partition = "aws-cn";
        c->url_suffix = "amazonaws.com.cn";
    } else if (strncmp(region, "us-gov-", 7) == 0) {
        c->partition = "aws-us-gov";
        c->url_suffix = "amazonaws.com";
    } else if (strncmp(region, "us-isob-", 8) == 0) {
        c->partition = "aws-iso-b";
        c->url_suffix = "sc2s.sgov.gov";
    } else if (strncmp(region, "us-iso-", 7) == 0) {
        c->partition = "aws-iso";
        c->url_suffix = "c2s.ic.gov";
    } else {
        c->partition = "aws";
        c->url_suffix = "amazonaws.com";
    }
    c->stack_id =
        mem_printf(&c->tmp, "arn:%s:cloudformation:%s:%s:stack/%s/%s", c->partition, c->region,
                   c->account, c->stack_name, cfg_uuid(c, "AWS::StackId", c->region));
    return KS_OK;
}

/* ---- AllowedPattern: Java regex -> POSIX ERE ---- */

static bool class_escape(char e, bool in_bracket, const char **out)
{
    switch (e) {
    case 'd':
        *out = in_bracket ? "0-9" : "[0-9]";
        return true;
    case 'w':
        *out = in_bracket ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
        return true;
    case 's':
        *out = in_bracket ? "[:space:]" : "[[:space:]]";
        return true;
    case 'D':
        *out = in_bracket ? NULL : "[^0-9]";
        return true;
    case 'W':
        *out = in_bracket ? NULL : "[^A-Za-z0-9_]";
        return true;
    case 'S':
        *out = in_bracket ? NULL : "[^[:space:]]";
        return true;
    default:
        return false;
    }
}

/* Returns false (with *why) when the pattern needs what POSIX lacks. */
static bool java_to_posix(const char *in, struct ks_buf *out, const char **why)
{
    enum ks_err err = ks_buf_add(out, "^(", 2);
    for (size_t i = 0; in[i] && !err; i++) {
        char ch = in[i];
        if (ch == '\\') {
            char e = in[++i];
            const char *cls;
            if (!e) {
                *why = "trailing backslash";
                return false;
            }
            if (class_escape(e, false, &cls)) {
                err = ks_buf_add(out, cls, strlen(cls));
            } else if (e == 'n' || e == 't' || e == 'r') {
                char lit = e == 'n' ? '\n' : e == 't' ? '\t' : '\r';
                err = ks_buf_add(out, &lit, 1);
            } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                *why = "escape sequences other than \\d \\w \\s and their negations";
                return false;
            } else if (strchr(".[](){}*+?^$|\\", e)) {
                char esc[2] = {'\\', e};
                err = ks_buf_add(out, esc, 2);
            } else {
                err = ks_buf_add(out, &e, 1);
            }
        } else if (ch == '[') {
            /* Collect the class; ']' goes first and '-' last, as POSIX wants. */
            struct ks_buf cls;
            ks_buf_init(&cls, 1024);
            bool neg = in[i + 1] == '^', close_lit = false, dash_lit = false, ok = true;
            i += neg ? 2 : 1;
            if (in[i] == ']') {
                close_lit = true;
                i++;
            }
            for (; in[i] && in[i] != ']'; i++) {
                const char *sub;
                if (in[i] == '\\' && in[i + 1]) {
                    char e = in[++i];
                    if (class_escape(e, true, &sub)) {
                        if (!sub) {
                            *why = "negated classes (\\D \\S \\W) inside brackets";
                            ok = false;
                            break;
                        }
                        err = ks_buf_add(&cls, sub, strlen(sub));
                    } else if (e == ']') {
                        close_lit = true;
                    } else if (e == '-') {
                        dash_lit = true;
                    } else if (e == '\\') {
                        err = ks_buf_add(&cls, "\\", 1);
                    } else if (e == '^') {
                        err = ks_buf_add(&cls, ".^", 2); /* '.' keeps '^' off the front */
                    } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
                        *why = "escape sequences other than \\d \\w \\s inside brackets";
                        ok = false;
                        break;
                    } else {
                        err = ks_buf_add(&cls, &e, 1);
                    }
                } else if (in[i] == '[' && in[i + 1] != ':') {
                    *why = "nested character classes";
                    ok = false;
                    break;
                } else {
                    err = ks_buf_add(&cls, in + i, 1);
                }
            }
            if (ok && !in[i]) {
                *why = "an unterminated '['";
                ok = false;
            }
            if (!ok) {
                ks_buf_release(&cls);
                return false;
            }
            if (!err)
                err = ks_buf_addf(out, "[%s%s%s%s]", neg ? "^" : "", close_lit ? "]" : "", cls.data,
                                  dash_lit ? "-" : "");
            ks_buf_release(&cls);
        } else if (ch == '(' && in[i + 1] == '?') {
            if (in[i + 2] != ':') {
                *why = "lookaround and inline flags";
                return false;
            }
            err = ks_buf_add(out, "(", 1);
            i += 2;
        } else if ((ch == '*' || ch == '+' || ch == '?' || ch == '}') && in[i + 1] == '?') {
            /* Lazy and greedy agree on whether the whole value matches. */
            err = ks_buf_add(out, &ch, 1);
            i++;
        } else if ((ch == '*' || ch == '+' || ch == '?' || ch == '}') && in[i + 1] == '+') {
            *why = "possessive quantifiers";
            return false;
        } else {
            err = ks_buf_add(out, &ch, 1);
        }
    }
    if (!err)
        err = ks_buf_add(out, ")$", 2);
    if (err) {
        *why = "its length";
        return false;
    }
    return true;
}

/* ---- Parameters ---- */

static const char *const param_keys[] = {
    "Type",        "Default",   "AllowedValues", "AllowedPattern", "ConstraintDescription",
    "Description", "MaxLength", "MaxValue",      "MinLength",      "MinValue",
    "NoEcho",
};

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

struct pcheck {
    struct cfg *c;
    const char *name;
    const struct cnode *def;
    const struct cnode *at; /* where a bad value is reported */
    bool no_echo;
    const char *constraint; /* ConstraintDescription */
    regex_t re;
    bool has_re;
};

static enum ks_err bad_value(struct pcheck *k, const char *value, const char *fmt, ...)
    KS_PRINTF(3, 4);

static enum ks_err bad_value(struct pcheck *k, const char *value, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    /* NoEcho values are secrets: never in a message */
    return cfg_error(k->c, k->at, KS_E_INVALID, "value '%s' %s%s%s", k->no_echo ? "****" : value,
                     why, k->constraint ? ": " : "", k->constraint ? k->constraint : "");
}

static enum ks_err num_constraint(struct pcheck *k, const char *key, double *out, bool *has)
{
    const struct cnode *n = cnode_get(k->def, key);
    *has = false;
    if (!n)
        return KS_OK;
    if (!cnode_number(n, out)) {
        size_t mark = cfg_path_push(k->c, ".%s", key);
        enum ks_err err = cfg_error(k->c, n, KS_E_INVALID, "expected a number");
        cfg_path_pop(k->c, mark);
        return err;
    }
    *has = true;
    return KS_OK;
}

/* Checks one value (a list element for list types) against the constraints. */
static enum ks_err check_one(struct pcheck *k, enum config_param_type type, const char *v)
{
    struct cfg *c = k->c;
    double d = 0, lim;
    bool has;
    enum ks_err err;
    if (type == CONFIG_PARAM_NUMBER || type == CONFIG_PARAM_LIST_NUMBER) {
        struct cnode tmp = {.kind = CNODE_STR, .str = (char *)(uintptr_t)v, .len = strlen(v)};
        if (!cnode_number(&tmp, &d))
            return bad_value(k, v, "is not a number");
        if ((err = num_constraint(k, "MinValue", &lim, &has)))
            return err;
        if (has && d < lim)
            return bad_value(k, v, "is less than MinValue %g", lim);
        if ((err = num_constraint(k, "MaxValue", &lim, &has)))
            return err;
        if (has && d > lim)
            return bad_value(k, v, "is greater than MaxValue %g", lim);
    } else {
        if ((err = num_constraint(k, "MinLength", &lim, &has)))
            return err;
        if (has && (double)utf8_chars(v) < lim)
            return bad_value(k, v, "is shorter than MinLength %g", lim);
        if ((err = num_constraint(k, "MaxLength", &lim, &has)))
            return err;
        if (has && (double)utf8_chars(v) > lim)
            return bad_value(k, v, "is longer than MaxLength %g", lim);
        if (k->has_re && regexec(&k->re, v, 0, NULL, 0) != 0)
            return bad_value(k, v, "does not match AllowedPattern '%s'",
                             cnode_get(k->def, "AllowedPattern")->str);
    }
    const struct cnode *allowed = cnode_get(k->def, "AllowedValues");
    if (allowed) {
        bool found = false;
        for (size_t i = 0; i < allowed->len && !found; i++) {
            const struct cnode *a = allowed->kids[i];
            double ad;
            found = strcmp(a->str, v) == 0 ||
                    (type != CONFIG_PARAM_STRING && type != CONFIG_PARAM_COMMA_DELIMITED_LIST &&
                     cnode_number(a, &ad) && ad == d);
        }
        if (!found) {
            char list[120];
            size_t o = 0;
            for (size_t i = 0; i < allowed->len && o < sizeof(list); i++) {
                int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                 allowed->kids[i]->str);
                o += w > 0 ? (size_t)w : 0;
            }
            return bad_value(k, v, "is not one of the AllowedValues (%s)", list);
        }
    }
    (void)c;
    return KS_OK;
}

static enum ks_err param_type(struct cfg *c, const struct cnode *tn, enum config_param_type *out)
{
    const char *t = tn->str;
    if (strcmp(t, "String") == 0 || (strncmp(t, "AWS::", 5) == 0 && t[5])) {
        *out = CONFIG_PARAM_STRING;
        if (strncmp(t, "AWS::SSM::Parameter::", 21) == 0)
            cfg_warn(c, tn,
                     "type %s: the value is used as given; keysentry does not read SSM "
                     "Parameter Store",
                     t);
    } else if (strcmp(t, "Number") == 0) {
        *out = CONFIG_PARAM_NUMBER;
    } else if (strcmp(t, "List<Number>") == 0) {
        *out = CONFIG_PARAM_LIST_NUMBER;
    } else if (strcmp(t, "CommaDelimitedList") == 0 ||
               (strncmp(t, "List<AWS::", 10) == 0 && t[strlen(t) - 1] == '>')) {
        *out = CONFIG_PARAM_COMMA_DELIMITED_LIST;
    } else {
        return cfg_error(c, tn, KS_E_INVALID,
                         "unknown parameter type '%s' (String, Number, List<Number>, "
                         "CommaDelimitedList or an AWS-specific type)",
                         t);
    }
    return KS_OK;
}

static enum ks_err check_param_def(struct cfg *c, const struct cnode *def)
{
    for (size_t i = 0; i < def->len; i++) {
        const struct cnode *key = def->kids[2 * i], *v = def->kids[2 * i + 1];
        bool known = false;
        for (size_t j = 0; j < KS_ARRAY_LEN(param_keys) && !known; j++)
            known = strcmp(key->str, param_keys[j]) == 0;
        size_t mark = cfg_path_push(c, ".%s", key->str);
        enum ks_err err = KS_OK;
        if (!known)
            err = cfg_error(c, key, KS_E_INVALID, "unknown parameter attribute '%s'", key->str);
        else if (strcmp(key->str, "AllowedValues") == 0 && v->kind != CNODE_SEQ)
            err = cfg_error(c, v, KS_E_INVALID, "expected a list");
        else if (strcmp(key->str, "AllowedValues") != 0 && v->kind != CNODE_STR)
            err = cfg_error(c, v, KS_E_INVALID, "expected a string");
        for (size_t j = 0; !err && v->kind == CNODE_SEQ && j < v->len; j++)
            if (v->kids[j]->kind != CNODE_STR)
                err = cfg_error(c, v->kids[j], KS_E_INVALID, "expected a string");
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}

static enum ks_err load_param(struct cfg *c, struct cparam *p, const char *override)
{
    const struct cnode *def = p->def;
    if (def->kind != CNODE_MAP)
        return cfg_error(c, def, KS_E_INVALID, "expected a mapping with a Type");
    enum ks_err err = check_param_def(c, def);
    if (err)
        return err;
    const struct cnode *tn = cnode_get(def, "Type"), *dflt = cnode_get(def, "Default");
    if (!tn)
        return cfg_error(c, p->key, KS_E_INVALID, "missing required attribute 'Type'");
    if ((err = param_type(c, tn, &p->type)))
        return err;
    struct pcheck k = {.c = c, .name = p->name, .def = def};
    const struct cnode *ne = cnode_get(def, "NoEcho");
    if (ne && !cnode_bool(ne, &k.no_echo)) {
        size_t mark = cfg_path_push(c, ".NoEcho");
        err = cfg_error(c, ne, KS_E_INVALID, "expected a boolean");
        cfg_path_pop(c, mark);
        return err;
    }
    const struct cnode *cd = cnode_get(def, "ConstraintDescription");
    k.constraint = cd ? cd->str : NULL;
    const struct cnode *pat = cnode_get(def, "AllowedPattern");
    if (pat) {
        struct ks_buf ere;
        ks_buf_init(&ere, 8192);
        const char *why = NULL;
        if (!java_to_posix(pat->str, &ere, &why))
            cfg_warn(c, pat, "AllowedPattern of '%s' not checked: POSIX regex lacks %s", p->name,
                     why);
        else if (regcomp(&k.re, ere.data, REG_EXTENDED | REG_NOSUB) != 0)
            cfg_warn(c, pat, "AllowedPattern of '%s' not checked: not a regex keysentry reads",
                     p->name);
        else
            k.has_re = true;
        ks_buf_release(&ere);
    }
    const char *value;
    if (override) {
        value = override;
        k.at = p->key;
        p->overridden = true;
    } else if (dflt) {
        value = dflt->str;
        k.at = dflt;
    } else {
        if (k.has_re)
            regfree(&k.re);
        return cfg_error(c, p->key, KS_E_INVALID,
                         "parameter '%s' has no Default and no value was given (--param %s=VALUE)",
                         p->name, p->name);
    }
    p->text = mem_strdup(&c->tmp, value);
    if (p->type == CONFIG_PARAM_STRING || p->type == CONFIG_PARAM_NUMBER) {
        err = check_one(&k, p->type, value);
        struct cnode *n = cfg_new_str(c, k.at, value, strlen(value));
        n->plain = p->type == CONFIG_PARAM_NUMBER; /* a number when made JSON */
        p->value = n;
    } else {
        /* Lists: elements split at ',' as given (AWS does not trim them). */
        size_t n = 1;
        for (const char *q = value; *q; q++)
            n += *q == ',';
        struct cnode *seq = mem_zalloc(&c->tmp, 1, sizeof(*seq));
        *seq = *k.at;
        seq->kind = CNODE_SEQ;
        seq->str = NULL;
        seq->len = n;
        seq->kids = mem_zalloc(&c->tmp, n, sizeof(*seq->kids));
        const char *q = value;
        for (size_t i = 0; i < n; i++) {
            const char *e = strchr(q, ',');
            size_t len = e ? (size_t)(e - q) : strlen(q);
            struct cnode *item = cfg_new_str(c, k.at, q, len);
            item->plain = p->type == CONFIG_PARAM_LIST_NUMBER;
            seq->kids[i] = item;
            if (!err)
                err = check_one(&k, p->type, seq->kids[i]->str);
            q += len + 1;
        }
        p->value = seq;
    }
    if (k.has_re)
        regfree(&k.re);
    return err;
}

enum ks_err cfg_load_params(struct cfg *c, const struct cnode *section,
                            const struct config_options *opts)
{
    size_t n_over = opts ? opts->n_params : 0;
    if (section && section->kind != CNODE_MAP)
        return cfg_error(c, section, KS_E_INVALID, "expected a mapping");
    size_t n = section ? section->len : 0;
    if (n > CONFIG_MAX_PARAMETERS)
        return cfg_error(c, section, KS_E_LIMIT, "more than %d parameters", CONFIG_MAX_PARAMETERS);
    c->params = mem_zalloc(&c->tmp, n + 1, sizeof(*c->params));
    c->n_params = n;
    for (size_t i = 0; i < n; i++) {
        c->params[i].key = section->kids[2 * i];
        c->params[i].name = section->kids[2 * i]->str;
        c->params[i].def = section->kids[2 * i + 1];
    }
    /* Overrides name existing parameters; the last one given wins. */
    const char **over = mem_zalloc(&c->tmp, n + 1, sizeof(*over));
    for (size_t j = 0; j < n_over; j++) {
        const char *kv = opts->params[j];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv)
            return ks_diag_set(c->diag, KS_E_INVALID, SIZE_MAX,
                               "bad parameter override '%s' (expected NAME=VALUE)",
                               kv ? kv : "(null)");
        size_t klen = (size_t)(eq - kv), i;
        for (i = 0; i < n; i++)
            if (strlen(c->params[i].name) == klen && memcmp(c->params[i].name, kv, klen) == 0)
                break;
        if (i == n) {
            char names[160] = "none";
            size_t o = 0;
            for (size_t k = 0; k < n && o < sizeof(names); k++) {
                int w = snprintf(names + o, sizeof(names) - o, "%s%s", k ? ", " : "",
                                 c->params[k].name);
                o += w > 0 ? (size_t)w : 0;
            }
            return ks_diag_set(c->diag, KS_E_INVALID, SIZE_MAX,
                               "unknown parameter '%.*s' in --param (the template declares: %s)",
                               (int)klen, kv, names);
        }
        over[i] = eq + 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct cparam *p = &c->params[i];
        if (cfg_find_resource(c, p->name) || strncmp(p->name, "AWS::", 5) == 0)
            return cfg_error(c, p->key, KS_E_INVALID,
                             "parameter '%s' has the name of a resource or pseudo parameter",
                             p->name);
        size_t mark = cfg_path_push(c, "Parameters.%s", p->name);
        enum ks_err err = load_param(c, p, over[i]);
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}
