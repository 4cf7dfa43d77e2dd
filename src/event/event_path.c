/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Selector paths: the `$.a.b[0]` part of JSON filter patterns and metric
 * filter values (spec/filter-patterns.md §4.1 "selector").
 */
#include "event/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_name_char(char c)
{
    /* spec §4.1: name := 1*( ALPHA / DIGIT / "-" / "_" ). Keys with other
     * characters need bracket notation: $.['aws:s3:arn']. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static enum ks_err add_step(struct event_path *path, enum event_step_kind kind, uint32_t index,
                            const char *key, size_t key_len, size_t at, struct ks_diag *diag)
{
    if (path->nsteps == EVENT_PATH_MAX_STEPS)
        return ks_diag_set(diag, KS_E_LIMIT, at, "selector has more than %d steps",
                           EVENT_PATH_MAX_STEPS);
    struct event_step *s = &path->steps[path->nsteps++];
    s->kind = kind;
    s->index = index;
    s->key = key ? ks_xmemdup(key, key_len) : NULL;
    s->key_len = key ? key_len : 0;
    if (kind == EVENT_STEP_ANY_KEY || kind == EVENT_STEP_ANY_INDEX)
        path->nwild++;
    return KS_OK;
}

/* Parses ['key'] or ["key"] starting at text[*pos] == '['. */
static enum ks_err parse_bracket(const char *text, size_t len, size_t *pos, struct event_path *path,
                                 struct ks_diag *diag)
{
    size_t i = *pos + 1;
    if (i < len && (text[i] == '\'' || text[i] == '"')) {
        char q = text[i];
        size_t start = ++i;
        while (i < len && text[i] != q)
            i++;
        if (i >= len)
            return ks_diag_set(diag, KS_E_SYNTAX, *pos, "unterminated quoted key in selector");
        size_t end = i++;
        if (i >= len || text[i] != ']')
            return ks_diag_set(diag, KS_E_SYNTAX, i, "expected ']' after quoted key");
        enum ks_err e = add_step(path, EVENT_STEP_KEY, 0, text + start, end - start, *pos, diag);
        *pos = i + 1;
        return e;
    }
    if (i < len && text[i] == '*') {
        if (i + 1 >= len || text[i + 1] != ']')
            return ks_diag_set(diag, KS_E_SYNTAX, i + 1, "expected ']' after '[*'");
        enum ks_err e = add_step(path, EVENT_STEP_ANY_INDEX, 0, NULL, 0, *pos, diag);
        *pos = i + 2;
        return e;
    }
    uint64_t n = 0;
    size_t start = i;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        n = n * 10 + (uint64_t)(text[i] - '0');
        if (n > UINT32_MAX)
            return ks_diag_set(diag, KS_E_LIMIT, start, "array index too large");
        i++;
    }
    if (i == start)
        return ks_diag_set(diag, KS_E_SYNTAX, i,
                           "expected an array index, '*' or a quoted key after '['");
    if (i >= len || text[i] != ']')
        return ks_diag_set(diag, KS_E_SYNTAX, i, "expected ']' after array index");
    enum ks_err e = add_step(path, EVENT_STEP_INDEX, (uint32_t)n, NULL, 0, *pos, diag);
    *pos = i + 1;
    return e;
}

enum ks_err event_path_parse(const char *text, size_t len, size_t *pos, struct event_path *path,
                             struct ks_diag *diag)
{
    memset(path, 0, sizeof(*path));
    size_t i = *pos;
    if (i >= len || text[i] != '$')
        return ks_diag_set(diag, KS_E_SYNTAX, i, "a selector must start with '$'");
    i++;
    enum ks_err e = KS_OK;
    for (;;) {
        if (i < len && text[i] == '.') {
            size_t dot = i++;
            if (i < len && text[i] == '*') {
                e = add_step(path, EVENT_STEP_ANY_KEY, 0, NULL, 0, dot, diag);
                i++;
            } else if (i < len && text[i] == '[') {
                e = parse_bracket(text, len, &i, path, diag);
            } else {
                size_t start = i;
                while (i < len && is_name_char(text[i]))
                    i++;
                if (i == start) {
                    e = ks_diag_set(diag, KS_E_SYNTAX, i, "expected a member name after '.'");
                } else {
                    e = add_step(path, EVENT_STEP_KEY, 0, text + start, i - start, start, diag);
                }
            }
        } else if (i < len && text[i] == '[') {
            e = parse_bracket(text, len, &i, path, diag);
        } else {
            break;
        }
        if (e)
            break;
    }
    if (!e && path->nsteps == 0)
        e = ks_diag_set(diag, KS_E_SYNTAX, i, "expected '.' or '[' after '$'");
    if (e) {
        event_path_release(path);
        return e;
    }
    *pos = i;
    return KS_OK;
}

void event_path_release(struct event_path *path)
{
    for (size_t i = 0; i < path->nsteps; i++)
        free(path->steps[i].key);
    path->nsteps = 0;
    path->nwild = 0;
}

void event_path_format(const struct event_path *path, char *buf, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    n += (size_t)snprintf(buf + n, size - n, "$");
    for (size_t i = 0; i < path->nsteps && n < size; i++) {
        const struct event_step *s = &path->steps[i];
        switch (s->kind) {
        case EVENT_STEP_KEY: {
            bool plain = s->key_len > 0;
            for (size_t k = 0; k < s->key_len; k++)
                plain = plain && is_name_char(s->key[k]);
            n += (size_t)snprintf(buf + n, size - n, plain ? ".%s" : ".['%s']", s->key);
            break;
        }
        case EVENT_STEP_INDEX:
            n += (size_t)snprintf(buf + n, size - n, "[%u]", s->index);
            break;
        case EVENT_STEP_ANY_KEY:
            n += (size_t)snprintf(buf + n, size - n, ".*");
            break;
        case EVENT_STEP_ANY_INDEX:
            n += (size_t)snprintf(buf + n, size - n, "[*]");
            break;
        }
    }
}
