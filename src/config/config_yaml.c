/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Template text -> generic node tree, with the arena that holds it.
 *
 * libyaml's event parser reads both YAML and JSON (JSON is YAML flow
 * syntax), so one reader gives positions for both. On top of the events:
 *
 * - Short-form tags become the long form: `!Sub x` is built as the map
 *   {"Fn::Sub": x} (marked tagged, for messages), so resolution sees one
 *   shape whatever the syntax.
 * - Aliases point at their anchor's subtree instead of copying it, but the
 *   nodes an alias stands for are counted against CONFIG_MAX_ALIAS_NODES and
 *   CONFIG_MAX_NODES as if copied: "billion laughs" documents stop there
 *   instead of exploding later during resolution.
 * - Depth (CONFIG_MAX_DEPTH), duplicate keys and non-string keys are errors
 *   at the offending node.
 * - libyaml counts positions in characters; offsets are converted to bytes
 *   so ks_diag_render can put its caret under the right byte.
 */
#include "config/config_int.h"

#include <yaml.h>

/* ---- arena ---- */

struct mem_chunk {
    struct mem_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define MEM_CHUNK_BYTES (64u * 1024u)

void *mem_alloc(struct config_mem *m, size_t size)
{
    size_t a = sizeof(max_align_t);
    size = (size + a - 1) / a * a;
    if (size == 0)
        size = a;
    struct mem_chunk *ch = m->chunks;
    if (!ch || ch->cap - ch->used < size) {
        size_t cap = size > MEM_CHUNK_BYTES / 2 ? size : MEM_CHUNK_BYTES;
        struct mem_chunk *n = ks_xmalloc(sizeof(*n) + cap);
        n->used = 0;
        n->cap = cap;
        if (ch && size > MEM_CHUNK_BYTES / 2) {
            /* a big block gets its own chunk behind the current one, so the
             * current chunk's free space stays usable */
            n->next = ch->next;
            ch->next = n;
        } else {
            n->next = ch;
            m->chunks = n;
        }
        ch = n;
        m->total += cap;
    }
    void *p = (char *)ch->data + ch->used;
    ch->used += size;
    return p;
}

void *mem_zalloc(struct config_mem *m, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort(); /* callers cap counts first; overflow here is a bug */
    void *p = mem_alloc(m, n * size);
    memset(p, 0, n * size);
    return p;
}

char *mem_strndup(struct config_mem *m, const char *s, size_t len)
{
    char *p = mem_alloc(m, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *mem_strdup(struct config_mem *m, const char *s)
{
    return s ? mem_strndup(m, s, strlen(s)) : NULL;
}

char *mem_printf(struct config_mem *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = mem_alloc(m, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void config_mem_free(struct config_mem *m)
{
    struct mem_chunk *ch = m->chunks;
    while (ch) {
        struct mem_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    m->chunks = NULL;
    m->total = 0;
}

/* ---- node helpers ---- */

const struct cnode *cnode_get_key(const struct cnode *map, const char *key)
{
    if (!map || map->kind != CNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->kids[2 * i]->str, key) == 0)
            return map->kids[2 * i];
    return NULL;
}

const struct cnode *cnode_get(const struct cnode *map, const char *key)
{
    if (!map || map->kind != CNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->kids[2 * i]->str, key) == 0)
            return map->kids[2 * i + 1];
    return NULL;
}

bool cnode_number(const struct cnode *n, double *out)
{
    if (!n || n->kind != CNODE_STR || n->len == 0)
        return false;
    /* CloudFormation numbers are decimal: reject what strtod accepts beyond
     * that (hex, inf, nan) and leading blanks. */
    const char *s = n->str;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9'))
        return false;
    for (size_t j = i; s[j]; j++)
        if (s[j] == 'x' || s[j] == 'X' || s[j] == 'n' || s[j] == 'N' || s[j] == 'i' || s[j] == 'I')
            return false;
    char *end;
    double d = strtod(s, &end);
    if (end != s + n->len || d != d || d > 1.7e308 || d < -1.7e308)
        return false;
    *out = d;
    return true;
}

bool cnode_bool(const struct cnode *n, bool *out)
{
    if (!n || n->kind != CNODE_STR)
        return false;
    if (strcasecmp(n->str, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(n->str, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

/* ---- parser ---- */

/* Short-form tags and the function each stands for. */
static const char *const short_tags[][2] = {
    {"!Ref", "Ref"},
    {"!Condition", "Condition"},
    {"!Sub", "Fn::Sub"},
    {"!GetAtt", "Fn::GetAtt"},
    {"!Join", "Fn::Join"},
    {"!Select", "Fn::Select"},
    {"!Split", "Fn::Split"},
    {"!If", "Fn::If"},
    {"!Equals", "Fn::Equals"},
    {"!Not", "Fn::Not"},
    {"!And", "Fn::And"},
    {"!Or", "Fn::Or"},
    {"!FindInMap", "Fn::FindInMap"},
    {"!Base64", "Fn::Base64"},
    {"!GetAZs", "Fn::GetAZs"},
    {"!ImportValue", "Fn::ImportValue"},
    {"!Cidr", "Fn::Cidr"},
    {"!Transform", "Fn::Transform"},
    {"!Length", "Fn::Length"},
    {"!ToJsonString", "Fn::ToJsonString"},
};

struct frame {
    struct cnode *node;
    struct cnode **items;
    size_t n, cap;
    char *anchor;
    char *tag;
};

struct anchor {
    char *name;
    struct cnode *node;
};

struct parser {
    struct config_mem *m;
    struct ks_diag *diag;
    const char *text;
    size_t len;
    size_t bom; /* bytes of a UTF-8 BOM libyaml skipped */
    bool ascii;
    size_t *checkpoints; /* byte offset of every 256th character (non-ASCII text) */
    size_t n_checkpoints;
    struct frame *frames;
    size_t n_frames, cap_frames;
    struct anchor *anchors;
    size_t n_anchors;
    size_t nodes, alias_nodes;
    struct cnode *root;
    unsigned documents;
};

#define CHECKPOINT_EVERY 256

static size_t utf8_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        return 2;
    if ((c & 0xf0) == 0xe0)
        return 3;
    if ((c & 0xf8) == 0xf0)
        return 4;
    return 1;
}

static void build_checkpoints(struct parser *p)
{
    p->ascii = true;
    for (size_t i = p->bom; i < p->len; i++)
        if ((unsigned char)p->text[i] >= 0x80) {
            p->ascii = false;
            break;
        }
    if (p->ascii)
        return;
    size_t chars = 0, cap = p->len / CHECKPOINT_EVERY + 2;
    p->checkpoints = ks_xmalloc(cap * sizeof(size_t));
    for (size_t i = p->bom; i < p->len; chars++) {
        if (chars % CHECKPOINT_EVERY == 0)
            p->checkpoints[p->n_checkpoints++] = i;
        i += utf8_len((unsigned char)p->text[i]);
    }
    if (p->n_checkpoints == 0)
        p->checkpoints[p->n_checkpoints++] = p->bom;
}

/* libyaml's character index -> byte offset in the text. */
static size_t byte_offset(const struct parser *p, size_t index)
{
    if (p->ascii)
        return p->bom + index;
    size_t k = index / CHECKPOINT_EVERY;
    if (k >= p->n_checkpoints)
        k = p->n_checkpoints - 1;
    size_t off = p->checkpoints[k];
    for (size_t c = k * CHECKPOINT_EVERY; c < index && off < p->len; c++)
        off += utf8_len((unsigned char)p->text[off]);
    return off > p->len ? p->len : off;
}

static enum ks_err perr(struct parser *p, size_t offset, enum ks_err err, const char *fmt, ...)
    KS_PRINTF(4, 5);

static enum ks_err perr(struct parser *p, size_t offset, enum ks_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof(p->diag->msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ks_diag_set(p->diag, err, offset, "%s", msg);
}

static struct cnode *new_node(struct parser *p, enum cnode_kind kind, yaml_mark_t mark)
{
    struct cnode *n = mem_zalloc(p->m, 1, sizeof(*n));
    n->kind = kind;
    n->line = (unsigned)mark.line + 1;
    n->col = (unsigned)mark.column + 1;
    n->offset = byte_offset(p, mark.index);
    n->text_off = SIZE_MAX;
    n->height = 1;
    n->count = 1;
    return n;
}

static bool is_null_scalar(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/*
 * Applies a node's tag. Short forms wrap the node in a one-pair map; the
 * core YAML tags keep the node (!!str makes a scalar a string); anything
 * else is an error at the tag.
 */
static enum ks_err apply_tag(struct parser *p, struct cnode **np, const char *tag)
{
    struct cnode *n = *np;
    if (!tag)
        return KS_OK;
    if (strncmp(tag, "tag:yaml.org,2002:", 18) == 0) {
        const char *t = tag + 18;
        if (strcmp(t, "str") == 0 && n->kind == CNODE_NULL) {
            n->kind = CNODE_STR;
            n->plain = false;
        } else if (strcmp(t, "str") == 0) {
            n->plain = false;
        } else if (strcmp(t, "int") != 0 && strcmp(t, "float") != 0 && strcmp(t, "bool") != 0 &&
                   strcmp(t, "null") != 0 && strcmp(t, "map") != 0 && strcmp(t, "seq") != 0) {
            return perr(p, n->offset, KS_E_INVALID, "unsupported YAML tag '!!%s'", t);
        }
        return KS_OK;
    }
    if (strcmp(tag, "!") == 0) { /* non-specific tag: a string */
        if (n->kind == CNODE_NULL)
            n->kind = CNODE_STR;
        n->plain = false;
        return KS_OK;
    }
    for (size_t i = 0; i < KS_ARRAY_LEN(short_tags); i++) {
        if (strcmp(tag, short_tags[i][0]) != 0)
            continue;
        /* !GetAZs with no argument is written as an empty plain scalar */
        if (n->kind == CNODE_NULL) {
            n->kind = CNODE_STR;
            n->str = mem_strdup(p->m, "");
        }
        struct cnode *key = mem_zalloc(p->m, 1, sizeof(*key));
        *key = *n;
        key->kind = CNODE_STR;
        key->str = mem_strdup(p->m, short_tags[i][1]);
        key->len = strlen(key->str);
        key->kids = NULL;
        key->count = 1;
        key->height = 1;
        key->text_off = SIZE_MAX;
        key->tagged = true;
        struct cnode *map = mem_zalloc(p->m, 1, sizeof(*map));
        *map = *key;
        map->kind = CNODE_MAP;
        map->str = NULL;
        map->len = 1;
        map->kids = mem_alloc(p->m, 2 * sizeof(struct cnode *));
        map->kids[0] = key;
        map->kids[1] = n;
        map->count = n->count + 2;
        map->height = n->height + 1;
        p->nodes += 2;
        *np = map;
        return KS_OK;
    }
    return perr(p, n->offset, KS_E_INVALID, "unknown tag '%s' (not an intrinsic function)", tag);
}

static enum ks_err add_anchor(struct parser *p, const char *name, struct cnode *n)
{
    if (!name)
        return KS_OK;
    if (p->n_anchors >= CONFIG_MAX_ANCHORS)
        return perr(p, n->offset, KS_E_LIMIT, "more than %d YAML anchors", CONFIG_MAX_ANCHORS);
    if (p->n_anchors % 64 == 0)
        p->anchors = ks_xrealloc(p->anchors, (p->n_anchors + 64) * sizeof(*p->anchors));
    p->anchors[p->n_anchors].name = ks_xstrdup(name);
    p->anchors[p->n_anchors].node = n;
    p->n_anchors++;
    return KS_OK;
}

/* Adds a finished node to the open container, or makes it the root. */
static enum ks_err attach(struct parser *p, struct cnode *n)
{
    if (p->n_frames == 0) {
        if (p->root)
            return perr(p, n->offset, KS_E_SYNTAX, "more than one document in the template");
        p->root = n;
        return KS_OK;
    }
    struct frame *f = &p->frames[p->n_frames - 1];
    if (f->node->kind == CNODE_MAP && f->n % 2 == 0 && n->kind != CNODE_STR)
        return perr(p, n->offset, KS_E_INVALID, "mapping keys must be strings");
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->items = ks_xrealloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = n;
    return KS_OK;
}

static int key_cmp(const void *a, const void *b)
{
    const struct cnode *x = *(const struct cnode *const *)a;
    const struct cnode *y = *(const struct cnode *const *)b;
    int r = strcmp(x->str, y->str);
    if (r)
        return r;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorting copies of the keys finds duplicates in n log n even in hostile maps. */
static enum ks_err check_duplicates(struct parser *p, struct cnode *map)
{
    if (map->len < 2)
        return KS_OK;
    const struct cnode **keys = ks_xmalloc(map->len * sizeof(*keys));
    for (size_t i = 0; i < map->len; i++)
        keys[i] = map->kids[2 * i];
    qsort(keys, map->len, sizeof(*keys), key_cmp);
    enum ks_err err = KS_OK;
    for (size_t i = 1; i < map->len; i++) {
        if (strcmp(keys[i - 1]->str, keys[i]->str) == 0) {
            err = perr(p, keys[i]->offset, KS_E_INVALID, "duplicate key '%s' (first at %u:%u)",
                       keys[i]->str, keys[i - 1]->line, keys[i - 1]->col);
            break;
        }
    }
    free(keys);
    return err;
}

static enum ks_err close_frame(struct parser *p)
{
    struct frame *f = &p->frames[--p->n_frames];
    struct cnode *n = f->node;
    enum ks_err err = KS_OK;
    if (n->kind == CNODE_MAP && f->n % 2) {
        err = perr(p, n->offset, KS_E_SYNTAX, "mapping key without a value");
        goto out;
    }
    n->len = n->kind == CNODE_MAP ? f->n / 2 : f->n;
    n->kids = mem_alloc(p->m, (f->n ? f->n : 1) * sizeof(*n->kids));
    for (size_t i = 0; i < f->n; i++) {
        n->kids[i] = f->items[i];
        n->count += f->items[i]->count;
        if (f->items[i]->height + 1 > n->height)
            n->height = f->items[i]->height + 1;
    }
    if (n->kind == CNODE_MAP && (err = check_duplicates(p, n)))
        goto out;
    if ((err = apply_tag(p, &n, f->tag)))
        goto out;
    if ((err = add_anchor(p, f->anchor, n)))
        goto out;
    err = attach(p, n);
out:
    free(f->items);
    free(f->anchor);
    free(f->tag);
    return err;
}

static enum ks_err open_frame(struct parser *p, enum cnode_kind kind, const yaml_event_t *e,
                              const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (p->n_frames >= CONFIG_MAX_DEPTH)
        return perr(p, byte_offset(p, e->start_mark.index), KS_E_LIMIT,
                    "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
    if (++p->nodes > CONFIG_MAX_NODES)
        return perr(p, byte_offset(p, e->start_mark.index), KS_E_LIMIT,
                    "more than %d nodes in the template", CONFIG_MAX_NODES);
    if (p->n_frames == p->cap_frames) {
        p->cap_frames = p->cap_frames ? 2 * p->cap_frames : 16;
        p->frames = ks_xrealloc(p->frames, p->cap_frames * sizeof(*p->frames));
    }
    struct frame *f = &p->frames[p->n_frames++];
    memset(f, 0, sizeof(*f));
    f->node = new_node(p, kind, e->start_mark);
    f->anchor = anchor ? ks_xstrdup((const char *)anchor) : NULL;
    f->tag = tag ? ks_xstrdup((const char *)tag) : NULL;
    return KS_OK;
}

static enum ks_err on_scalar(struct parser *p, const yaml_event_t *e)
{
    const yaml_char_t *v = e->data.scalar.value;
    size_t len = e->data.scalar.length;
    size_t off = byte_offset(p, e->start_mark.index);
    if (++p->nodes > CONFIG_MAX_NODES)
        return perr(p, off, KS_E_LIMIT, "more than %d nodes in the template", CONFIG_MAX_NODES);
    if (memchr(v, '\0', len))
        return perr(p, off, KS_E_INVALID, "NUL character in a string");
    bool plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    struct cnode *n = new_node(p, CNODE_STR, e->start_mark);
    n->plain = plain;
    n->str = mem_strndup(p->m, (const char *)v, len);
    n->len = len;
    if (plain && !e->data.scalar.tag && is_null_scalar(n->str))
        n->kind = CNODE_NULL;
    /* Where the text sits verbatim, if it does (no escapes, no folding): the
     * value ends the scalar's span, before the closing quote if quoted. */
    size_t end = byte_offset(p, e->end_mark.index);
    size_t q = plain ? 0 : 1;
    if (len && end <= p->len && end >= off + len + q &&
        memcmp(p->text + end - q - len, v, len) == 0)
        n->text_off = end - q - len;
    enum ks_err err = apply_tag(p, &n, (const char *)e->data.scalar.tag);
    if (!err)
        err = add_anchor(p, (const char *)e->data.scalar.anchor, n);
    if (!err)
        err = attach(p, n);
    return err;
}

static enum ks_err on_alias(struct parser *p, const yaml_event_t *e)
{
    const char *name = (const char *)e->data.alias.anchor;
    size_t off = byte_offset(p, e->start_mark.index);
    struct cnode *n = NULL;
    for (size_t i = p->n_anchors; i-- > 0;)
        if (strcmp(p->anchors[i].name, name) == 0) {
            n = p->anchors[i].node;
            break;
        }
    if (!n) {
        for (size_t i = 0; i < p->n_frames; i++)
            if (p->frames[i].anchor && strcmp(p->frames[i].anchor, name) == 0)
                return perr(p, off, KS_E_INVALID, "alias '*%s' refers to a node containing it",
                            name);
        return perr(p, off, KS_E_INVALID, "undefined alias '*%s'", name);
    }
    p->alias_nodes += n->count;
    p->nodes += n->count;
    if (p->alias_nodes > CONFIG_MAX_ALIAS_NODES)
        return perr(p, off, KS_E_LIMIT, "aliases expand to more than %d nodes",
                    CONFIG_MAX_ALIAS_NODES);
    if (p->nodes > CONFIG_MAX_NODES)
        return perr(p, off, KS_E_LIMIT, "more than %d nodes in the template", CONFIG_MAX_NODES);
    if (p->n_frames + n->height > CONFIG_MAX_DEPTH)
        return perr(p, off, KS_E_LIMIT, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
    return attach(p, n);
}

static enum ks_err yaml_failure(struct parser *p, const yaml_parser_t *yp)
{
    size_t off = yp->error == YAML_READER_ERROR ? yp->problem_offset
                                                : byte_offset(p, yp->problem_mark.index);
    if (off > p->len)
        off = p->len;
    const char *problem = yp->problem ? yp->problem : "malformed input";
    if (yp->context)
        return perr(p, off, KS_E_SYNTAX, "YAML syntax error: %s %s", problem, yp->context);
    return perr(p, off, KS_E_SYNTAX, "YAML syntax error: %s", problem);
}

enum ks_err cfg_parse(struct config_mem *m, const char *text, size_t len, struct cnode **root,
                      struct ks_diag *diag)
{
    struct parser p = {.m = m, .diag = diag, .text = text, .len = len};
    *root = NULL;
    if (len >= 2 && (((unsigned char)text[0] == 0xfe && (unsigned char)text[1] == 0xff) ||
                     ((unsigned char)text[0] == 0xff && (unsigned char)text[1] == 0xfe)))
        return ks_diag_set(diag, KS_E_SYNTAX, 0, "the template must be UTF-8 (found UTF-16)");
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p.bom = 3;
    build_checkpoints(&p);

    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp))
        abort(); /* allocation failure: the project aborts on OOM */
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    enum ks_err err = KS_OK;
    for (bool done = false; !done && !err;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&yp, &e)) {
            err = yaml_failure(&p, &yp);
            break;
        }
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++p.documents > 1)
                err = perr(&p, byte_offset(&p, e.start_mark.index), KS_E_SYNTAX,
                           "more than one document in the template");
            break;
        case YAML_MAPPING_START_EVENT:
            err = open_frame(&p, CNODE_MAP, &e, e.data.mapping_start.anchor,
                             e.data.mapping_start.tag);
            break;
        case YAML_SEQUENCE_START_EVENT:
            err = open_frame(&p, CNODE_SEQ, &e, e.data.sequence_start.anchor,
                             e.data.sequence_start.tag);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            err = close_frame(&p);
            break;
        case YAML_SCALAR_EVENT:
            err = on_scalar(&p, &e);
            break;
        case YAML_ALIAS_EVENT:
            err = on_alias(&p, &e);
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&yp);
    while (p.n_frames) {
        struct frame *f = &p.frames[--p.n_frames];
        free(f->items);
        free(f->anchor);
        free(f->tag);
    }
    free(p.frames);
    for (size_t i = 0; i < p.n_anchors; i++)
        free(p.anchors[i].name);
    free(p.anchors);
    free(p.checkpoints);
    if (!err)
        *root = p.root;
    return err;
}
