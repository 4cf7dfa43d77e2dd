/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP request files of the SigV4 suites: parsing and semantic comparison. */
#include "test_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (!buf)
        abort();
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The next line of text[*pos..len) without its LF / CRLF. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return false;
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    *pos += l + (nl ? 1 : 0);
    if (l && s[l - 1] == '\r')
        l--;
    *line = s;
    *n = l;
    return true;
}

struct pending {
    char name[256];
    char *value;
    size_t len, cap;
    bool open;
};

static void pend_add(struct pending *p, const char *s, size_t n)
{
    if (p->len + n + 1 > p->cap) {
        p->cap = (p->len + n + 1) * 2;
        p->value = realloc(p->value, p->cap);
        if (!p->value)
            abort();
    }
    memcpy(p->value + p->len, s, n);
    p->len += n;
}

static bool pend_flush(struct pending *p, struct http_msg *m)
{
    if (!p->open)
        return true;
    p->open = false;
    return sigv4_request_add_header(&m->req, p->name, strlen(p->name), p->value ? p->value : "",
                                    p->len) == KS_OK;
}

bool http_parse(const char *text, size_t len, enum fold_mode mode, struct http_msg *m, char *why,
                size_t why_len)
{
    sigv4_request_init(&m->req);
    m->body = NULL;
    m->body_len = 0;
    size_t pos = 0, n;
    const char *line;
    if (!next_line(text, len, &pos, &line, &n)) {
        snprintf(why, why_len, "empty request");
        return false;
    }
    const char *sp1 = memchr(line, ' ', n);
    const char *sp2 = line + n;
    while (sp2 > line && sp2[-1] != ' ')
        sp2--;
    if (!sp1 || sp2 - 1 <= sp1) {
        snprintf(why, why_len, "bad request line '%.*s'", (int)n, line);
        return false;
    }
    if (sigv4_request_set_method(&m->req, line, (size_t)(sp1 - line)) ||
        sigv4_request_set_target(&m->req, sp1 + 1, (size_t)(sp2 - 1 - (sp1 + 1)))) {
        snprintf(why, why_len, "request line refused '%.*s'", (int)n, line);
        return false;
    }
    struct pending p = {.open = false};
    bool ok = true, body = false;
    while (ok && next_line(text, len, &pos, &line, &n)) {
        if (n == 0) {
            body = true;
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && p.open) {
            size_t i = 0;
            while (i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (mode == FOLD_JOIN) {
                pend_add(&p, " ", 1);
                pend_add(&p, line + i, n - i);
            } else {
                char name[256];
                snprintf(name, sizeof(name), "%s", p.name);
                ok = pend_flush(&p, m);
                snprintf(p.name, sizeof(p.name), "%s", name);
                p.len = 0;
                p.open = true;
                pend_add(&p, line + i, n - i);
            }
            continue;
        }
        ok = pend_flush(&p, m);
        const char *colon = memchr(line, ':', n);
        if (!ok || !colon || (size_t)(colon - line) >= sizeof(p.name)) {
            snprintf(why, why_len, "bad header line '%.*s'", (int)n, line);
            ok = false;
            break;
        }
        snprintf(p.name, sizeof(p.name), "%.*s", (int)(colon - line), line);
        p.len = 0;
        p.open = true;
        pend_add(&p, colon + 1, n - (size_t)(colon + 1 - line));
    }
    if (ok && !pend_flush(&p, m)) {
        snprintf(why, why_len, "header '%s' refused", p.name);
        ok = false;
    }
    free(p.value);
    if (ok && body) {
        m->body_len = len - pos;
        m->body = malloc(m->body_len + 1);
        if (!m->body)
            abort();
        memcpy(m->body, text + pos, m->body_len);
        m->body[m->body_len] = '\0';
        sigv4_request_set_body(&m->req, m->body, m->body_len);
    }
    return ok;
}

void http_msg_release(struct http_msg *m)
{
    sigv4_request_release(&m->req);
    free(m->body);
    m->body = NULL;
}

char *http_render(const struct sigv4_request *req, size_t *len)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 26);
    if (sigv4_request_render(req, &b) || ks_buf_add(&b, req->body, req->body_len))
        abort();
    *len = b.len;
    char *out = ks_xmemdup(b.data, b.len);
    ks_buf_release(&b);
    return out;
}

/* ---- comparison ------------------------------------------------------- */

struct kv {
    char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *decode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            o[j++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

static size_t split_query(const char *q, size_t len, struct kv **out)
{
    size_t cap = 1, n = 0;
    for (size_t i = 0; i < len; i++)
        cap += q[i] == '&';
    *out = calloc(cap, sizeof(**out));
    for (size_t i = 0; len && i <= len;) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t l = amp ? (size_t)(amp - (q + i)) : len - i;
        const char *eq = memchr(q + i, '=', l);
        size_t nl = eq ? (size_t)(eq - (q + i)) : l;
        (*out)[n].k = decode(q + i, nl);
        (*out)[n].v = eq ? decode(eq + 1, l - nl - 1) : decode("", 0);
        n++;
        i += l + 1;
    }
    qsort(*out, n, sizeof(**out), kv_cmp);
    return n;
}

static int kv_name_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    /* stable: v holds the arrival index in its first bytes via the ptr order */
    return c ? c : (x->v > y->v) - (x->v < y->v);
}

static size_t list_headers(const struct sigv4_request *r, struct kv **out, char **blockp)
{
    *out = calloc(r->nheaders + 1, sizeof(**out));
    /* one block for all values, so pointer order is arrival order */
    size_t total = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        total += r->headers[i].value_len + 1;
    char *block = malloc(total + 1), *p = block;
    *blockp = block;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sigv4_header *h = &r->headers[i];
        (*out)[i].k = ks_xmemdup(h->name, h->name_len);
        for (char *c = (*out)[i].k; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        const char *v = h->value;
        size_t n = h->value_len;
        while (n && (*v == ' ' || *v == '\t'))
            v++, n--;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        memcpy(p, v, n);
        p[n] = '\0';
        (*out)[i].v = p;
        p += n + 1;
    }
    qsort(*out, r->nheaders, sizeof(**out), kv_name_cmp);
    return r->nheaders;
}

static void free_kv(struct kv *kv, size_t n, bool values_in_block)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].k);
        if (!values_in_block)
            free(kv[i].v);
    }
    free(kv);
}

bool http_same(const struct sigv4_request *a, const struct sigv4_request *b, char *why,
               size_t why_len)
{
    if (strcmp(a->method, b->method) || strcmp(a->path, b->path)) {
        snprintf(why, why_len, "request line differs: '%s %s' vs '%s %s'", a->method, a->path,
                 b->method, b->path);
        return false;
    }
    struct kv *qa, *qb;
    size_t na = split_query(a->query, a->query_len, &qa);
    size_t nb = split_query(b->query, b->query_len, &qb);
    bool ok = na == nb;
    for (size_t i = 0; ok && i < na; i++)
        ok = !strcmp(qa[i].k, qb[i].k) && !strcmp(qa[i].v, qb[i].v);
    if (!ok)
        snprintf(why, why_len, "query differs: '%s' vs '%s'", a->query, b->query);
    free_kv(qa, na, false);
    free_kv(qb, nb, false);
    if (!ok)
        return false;
    struct kv *ha, *hb;
    char *ba, *bb;
    na = list_headers(a, &ha, &ba);
    nb = list_headers(b, &hb, &bb);
    ok = na == nb;
    size_t bad = 0;
    for (size_t i = 0; ok && i < na; i++) {
        ok = !strcmp(ha[i].k, hb[i].k) && !strcmp(ha[i].v, hb[i].v);
        bad = i;
    }
    if (!ok && na == nb)
        snprintf(why, why_len, "header differs: '%s: %s' vs '%s: %s'", ha[bad].k, ha[bad].v,
                 hb[bad].k, hb[bad].v);
    else if (!ok)
        snprintf(why, why_len, "header count differs: %zu vs %zu", na, nb);
    free_kv(ha, na, true);
    free_kv(hb, nb, true);
    free(ba);
    free(bb);
    if (!ok)
        return false;
    if (a->body_len != b->body_len || (a->body_len && memcmp(a->body, b->body, a->body_len) != 0)) {
        snprintf(why, why_len, "body differs (%zu vs %zu bytes)", a->body_len, b->body_len);
        return false;
    }
    return true;
}
