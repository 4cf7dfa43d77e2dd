/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scan_oracle: the on-demand scanner checked against jansson.
 *
 * HOW JANSSON IS ASKED
 * RFC 8259 is the reference. jansson gets JSON_DECODE_ANY (any value may
 * stand at the top), JSON_ALLOW_NUL ("\u0000" is a valid string escape) and
 * JSON_DECODE_INT_AS_REAL (RFC 8259 has one number type; without the flag
 * jansson rejects integers beyond json_int_t such as 99999999999999999999).
 * It runs first with JSON_REJECT_DUPLICATES, only to learn whether keys
 * repeat; when that is its only complaint it runs again without the flag,
 * since duplicate keys are valid JSON (RFC 8259 §4 leaves their meaning
 * open; jansson keeps the last, our scanner the first). JSON_DISABLE_EOF_CHECK
 * is never set: data after the value is an error for both.
 *
 * RULES (a broken rule is a SCAN_MISMATCH)
 * Always, for both scanners:
 *   R1 a scan that is not OK leaves every slot empty; INVALID fills the diag
 *      (KS_E_SYNTAX, an offset inside the document, a message); OK leaves it
 *      clear. Every value lies inside the document and is well formed for its
 *      type (a string's view sits between quotes, `escaped` is exact, the
 *      decoding is never longer than the raw text; containers are bracketed).
 * When jansson accepts the document:
 *   R2 ks_text_clean() accepts it too (jansson validates UTF-8 as strictly).
 *   R3 top-level object: FULL and fast both return EVENT_SCAN_OK;
 *      otherwise both return EVENT_SCAN_NOT_OBJECT.
 *   R4 without duplicate keys: for every selector, the FULL values equal, in
 *      order, what walking the jansson tree with the same steps yields (KEY,
 *      INDEX, ANY_KEY = every member value in document order, ANY_INDEX =
 *      every element): same type; strings equal after event_value_string();
 *      numbers equal as doubles (strtod of the raw text vs jansson's value);
 *      objects and arrays json_equal() to the node once their raw span is
 *      parsed. The fast scan yields the very same views.
 * When jansson rejects it:
 *   R5 the FULL scan returns EVENT_SCAN_INVALID. The fast scan is never
 *      judged here: by design it checks structure only.
 *
 * KNOWN DIVERGENCES (documents SKIPPED for R3-R5; R1 still applies)
 *   D1 Numbers beyond the range of a double (1e400, 400 digits): valid per
 *      RFC 8259 (§6 leaves the range to implementations); jansson rejects
 *      them ("real number overflow"), we accept them (metric values then
 *      read as infinity).
 *   D2 "\u0000" in an object key: jansson never supports it, even with
 *      JSON_ALLOW_NUL; we accept it (the key simply matches no selector
 *      written in a pattern).
 *   D3 Text that is not clean UTF-8 or holds NUL bytes: jansson rejects it;
 *      our scanner does not validate UTF-8 because the reader screens every
 *      event with ks_text_clean() first, so FULL may accept it.
 *   D4 Nesting: jansson allows 2048 levels, we KS_MAX_JSON_DEPTH (512). A
 *      valid document nested deeper must be INVALID for both scanners.
 *   D5 jansson takes one NUL byte at the very end for the end of the input
 *      (it accepts `false\0`). Our scanner rejects NUL bytes (the reader
 *      never passes them on), so such text is left to rule R1.
 *
 * KNOWN BUGS, tolerated so that fuzzing can go on (set to 0 once fixed):
 *   B1 EVENT_SCAN_FULL returns INVALID ("unexpected end of input") for every
 *      valid document whose top level is not an object (`1`, `[1]`, `"x"`),
 *      instead of NOT_OBJECT: skim_full() tests for the end of the input
 *      before it tests whether the top-level value is complete.
 *   B2 A document whose top level is an object is accepted with 513 levels
 *      of nesting (the root object is not counted), any other with 512.
 *   B4 With EVENT_SCAN_FULL, an object or array value that the plan does not
 *      descend into has a span that runs on over the whitespace after its
 *      closing bracket (skim_full() returns after skipping it); the fast scan
 *      stops at the bracket. While tolerated, trailing whitespace is trimmed
 *      from container spans before they are checked and compared.
 */
#include "scan_oracle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Override with -DSCAN_ORACLE_TOLERATE_Bn=0 to check a fix before flipping. */
#ifndef SCAN_ORACLE_TOLERATE_B1
#define SCAN_ORACLE_TOLERATE_B1 0
#endif
#ifndef SCAN_ORACLE_TOLERATE_B2
#define SCAN_ORACLE_TOLERATE_B2 0
#endif
#ifndef SCAN_ORACLE_TOLERATE_B4
#define SCAN_ORACLE_TOLERATE_B4 0
#endif

#define JFLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

struct sel {
    struct event_path path;
    unsigned slot;
    char text[160]; /* canonical form, for messages */
};

struct scan_oracle {
    struct sel *sels;
    size_t nsels;
    struct event_scan_plan *plan;
    struct event_scan *full, *fast;
    json_t **expect; /* result of one jansson walk, reused */
    size_t nexpect, expect_cap;
    char *num; /* NUL-terminated copy of a number's text */
    size_t num_cap;
};

struct scan_oracle *scan_oracle_new(void)
{
    struct scan_oracle *o = ks_xcalloc(1, sizeof(*o));
    o->plan = event_scan_plan_new();
    return o;
}

void scan_oracle_free(struct scan_oracle *o)
{
    if (!o)
        return;
    event_scan_free(o->full);
    event_scan_free(o->fast);
    event_scan_plan_free(o->plan);
    for (size_t i = 0; i < o->nsels; i++)
        event_path_release(&o->sels[i].path);
    free(o->sels);
    free(o->expect);
    free(o->num);
    free(o);
}

void scan_oracle_add(struct scan_oracle *o, struct event_path *path)
{
    if (o->full)
        abort(); /* misuse: the scanners borrow the plan, which must not change */
    o->sels = ks_xrealloc(o->sels, (o->nsels + 1) * sizeof(*o->sels));
    struct sel *s = &o->sels[o->nsels++];
    s->path = *path;
    memset(path, 0, sizeof(*path));
    s->slot = event_scan_plan_add(o->plan, &s->path);
    event_path_format(&s->path, s->text, sizeof(s->text));
}

size_t scan_oracle_count(const struct scan_oracle *o)
{
    return o->nsels;
}

/* ---- reporting --------------------------------------------------------- */

static void verdict(struct scan_report *r, enum scan_verdict v, const char *fmt, ...)
    KS_PRINTF(3, 4);

static void verdict(struct scan_report *r, enum scan_verdict v, const char *fmt, ...)
{
    if (r->verdict == SCAN_MISMATCH)
        return; /* keep the first mismatch */
    r->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

static const char *status_name(enum event_scan_status st)
{
    switch (st) {
    case EVENT_SCAN_OK:
        return "OK";
    case EVENT_SCAN_NOT_OBJECT:
        return "NOT_OBJECT";
    case EVENT_SCAN_INVALID:
        return "INVALID";
    }
    return "?";
}

/* A short printable excerpt of raw bytes, for messages. */
static const char *excerpt(const char *p, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, size - o, "\\x%02x", c);
            o += 4;
        }
    }
    if (o + 5 >= size && size > 4) {
        o = size - 4;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- R1: what every scan must satisfy ---------------------------------- */

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A value's length, minus the trailing whitespace of bug B4 while tolerated. */
static size_t span_len(const struct event_value *v)
{
    size_t n = v->len;
    if (SCAN_ORACLE_TOLERATE_B4 && (v->type == EVENT_V_OBJECT || v->type == EVENT_V_ARRAY))
        while (n > 0 && json_ws(v->ptr[n - 1]))
            n--;
    return n;
}

static bool value_sane(const struct event_value *v, const char *doc, size_t len, char *scratch,
                       const char **why)
{
    if (v->ptr < doc || v->len > len || (size_t)(v->ptr - doc) > len - v->len) {
        *why = "value outside the document";
        return false;
    }
    const char *p = v->ptr;
    size_t n = v->len;
    switch (v->type) {
    case EVENT_V_STRING: {
        if (p == doc || p[-1] != '"' || (size_t)(p - doc) + n >= len || p[n] != '"') {
            *why = "string view not between quotes";
            return false;
        }
        if (v->escaped != (memchr(p, '\\', n) != NULL)) {
            *why = "wrong escaped flag";
            return false;
        }
        const char *out;
        if (event_value_string(v, scratch, &out) > n) {
            *why = "decoded string longer than its text";
            return false;
        }
        return true;
    }
    case EVENT_V_NUMBER:
        if (n == 0 || !(p[0] == '-' || (p[0] >= '0' && p[0] <= '9'))) {
            *why = "number text does not start with '-' or a digit";
            return false;
        }
        return true;
    case EVENT_V_TRUE:
        *why = "bad literal";
        return n == 4 && memcmp(p, "true", 4) == 0;
    case EVENT_V_FALSE:
        *why = "bad literal";
        return n == 5 && memcmp(p, "false", 5) == 0;
    case EVENT_V_NULL:
        *why = "bad literal";
        return n == 4 && memcmp(p, "null", 4) == 0;
    case EVENT_V_OBJECT:
    case EVENT_V_ARRAY: {
        char open = v->type == EVENT_V_OBJECT ? '{' : '[';
        char close = v->type == EVENT_V_OBJECT ? '}' : ']';
        n = span_len(v);
        *why = "container span not bracketed";
        return n >= 2 && p[0] == open && p[n - 1] == close;
    }
    }
    *why = "unknown value type";
    return false;
}

static bool scan_sane(struct scan_oracle *o, struct event_scan *s, const char *mode,
                      enum event_scan_status st, const struct ks_diag *d, const char *doc,
                      size_t len, struct scan_report *r)
{
    char ex[64];
    if (st != EVENT_SCAN_OK && st != EVENT_SCAN_NOT_OBJECT && st != EVENT_SCAN_INVALID) {
        verdict(r, SCAN_MISMATCH, "%s: unknown status %d", mode, (int)st);
        return false;
    }
    if (st == EVENT_SCAN_INVALID &&
        (d->err != KS_E_SYNTAX || d->offset > len || d->msg[0] == '\0')) {
        verdict(r, SCAN_MISMATCH, "%s: INVALID with a bad diag (err %d, offset %zu, msg '%s')",
                mode, (int)d->err, d->offset, d->msg);
        return false;
    }
    if (st != EVENT_SCAN_INVALID && d->err != KS_OK) {
        verdict(r, SCAN_MISMATCH, "%s: %s but the diag says '%s' at %zu", mode, status_name(st),
                d->msg, d->offset);
        return false;
    }
    for (size_t i = 0; i < o->nsels; i++) {
        const struct sel *sl = &o->sels[i];
        const struct event_value *v;
        size_t n = event_scan_values(s, sl->slot, &v);
        if (st != EVENT_SCAN_OK && n) {
            verdict(r, SCAN_MISMATCH, "%s: %s but %s holds %zu values", mode, status_name(st),
                    sl->text, n);
            return false;
        }
        if (n > 1 && sl->path.nwild == 0) {
            verdict(r, SCAN_MISMATCH, "%s: %s has no wildcard but holds %zu values", mode, sl->text,
                    n);
            return false;
        }
        for (size_t k = 0; k < n; k++) {
            const char *why;
            if (!value_sane(&v[k], doc, len, event_scan_scratch(s), &why)) {
                bool inside = v[k].ptr >= doc && v[k].len <= len &&
                              (size_t)(v[k].ptr - doc) <= len - v[k].len;
                verdict(r, SCAN_MISMATCH, "%s: %s value %zu (type %d, '%s'): %s", mode, sl->text, k,
                        (int)v[k].type,
                        inside ? excerpt(v[k].ptr, v[k].len < 40 ? v[k].len : 40, ex, sizeof(ex))
                               : "?",
                        why);
                return false;
            }
        }
    }
    return true;
}

/* ---- the jansson side -------------------------------------------------- */

static size_t json_depth(json_t *j)
{
    size_t m = 0;
    if (json_is_object(j)) {
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
            size_t d = json_depth(json_object_iter_value(it));
            m = d > m ? d : m;
        }
        return m + 1;
    }
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            size_t d = json_depth(json_array_get(j, i));
            m = d > m ? d : m;
        }
        return m + 1;
    }
    return 0;
}

static void expect_push(struct scan_oracle *o, json_t *j)
{
    if (o->nexpect == o->expect_cap) {
        o->expect_cap = o->expect_cap ? o->expect_cap * 2 : 16;
        o->expect = ks_xrealloc(o->expect, o->expect_cap * sizeof(*o->expect));
    }
    o->expect[o->nexpect++] = j;
}

/* What path selects in j, in document order (jansson keeps insertion order). */
static void walk(struct scan_oracle *o, const struct event_path *p, size_t i, json_t *j)
{
    if (i == p->nsteps) {
        expect_push(o, j);
        return;
    }
    const struct event_step *st = &p->steps[i];
    switch (st->kind) {
    case EVENT_STEP_KEY:
        if (json_is_object(j)) {
            json_t *c = json_object_getn(j, st->key, st->key_len);
            if (c)
                walk(o, p, i + 1, c);
        }
        break;
    case EVENT_STEP_INDEX:
        if (json_is_array(j) && st->index < json_array_size(j))
            walk(o, p, i + 1, json_array_get(j, st->index));
        break;
    case EVENT_STEP_ANY_KEY:
        if (json_is_object(j))
            for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it))
                walk(o, p, i + 1, json_object_iter_value(it));
        break;
    case EVENT_STEP_ANY_INDEX:
        if (json_is_array(j))
            for (size_t k = 0; k < json_array_size(j); k++)
                walk(o, p, i + 1, json_array_get(j, k));
        break;
    }
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Compares one scanner value with one jansson node; on failure *why says how. */
static bool value_equal(struct scan_oracle *o, struct event_scan *s, const struct event_value *v,
                        json_t *j, const char **why)
{
    switch (v->type) {
    case EVENT_V_STRING: {
        if (!json_is_string(j)) {
            *why = "scanner has a string";
            return false;
        }
        const char *out;
        size_t n = event_value_string(v, event_scan_scratch(s), &out);
        *why = "strings differ after decoding";
        return n == json_string_length(j) && memcmp(out, json_string_value(j), n) == 0;
    }
    case EVENT_V_NUMBER: {
        if (!json_is_number(j)) {
            *why = "scanner has a number";
            return false;
        }
        if (o->num_cap < (size_t)v->len + 1) {
            o->num_cap = (size_t)v->len + 1;
            o->num = ks_xrealloc(o->num, o->num_cap);
        }
        memcpy(o->num, v->ptr, v->len);
        o->num[v->len] = '\0';
        char *end;
        double d = strtod(o->num, &end);
        if (end != o->num + v->len) {
            *why = "number text is not entirely a number";
            return false;
        }
        *why = "numbers differ";
        return d == json_number_value(j);
    }
    case EVENT_V_TRUE:
        *why = "scanner has true";
        return json_is_true(j);
    case EVENT_V_FALSE:
        *why = "scanner has false";
        return json_is_false(j);
    case EVENT_V_NULL:
        *why = "scanner has null";
        return json_is_null(j);
    case EVENT_V_OBJECT:
    case EVENT_V_ARRAY: {
        if (v->type == EVENT_V_OBJECT ? !json_is_object(j) : !json_is_array(j)) {
            *why = v->type == EVENT_V_OBJECT ? "scanner has an object" : "scanner has an array";
            return false;
        }
        json_error_t err;
        json_t *k = json_loadb(v->ptr, v->len, JFLAGS, &err);
        if (!k) {
            *why = "the container's span is not JSON on its own";
            return false;
        }
        bool eq = json_equal(k, j);
        json_decref(k);
        *why = "containers differ";
        return eq;
    }
    }
    *why = "unknown type";
    return false;
}

/* R4 for one document known valid, object, no duplicate keys. */
static void compare_values(struct scan_oracle *o, json_t *root, struct scan_report *r)
{
    char ex[96], ej[96];
    for (size_t i = 0; i < o->nsels; i++) {
        const struct sel *sl = &o->sels[i];
        o->nexpect = 0;
        walk(o, &sl->path, 0, root);
        const struct event_value *vf, *vq;
        size_t nf = event_scan_values(o->full, sl->slot, &vf);
        size_t nq = event_scan_values(o->fast, sl->slot, &vq);
        if (nf != o->nexpect) {
            verdict(r, SCAN_MISMATCH, "%s: FULL scan has %zu values, jansson %zu", sl->text, nf,
                    o->nexpect);
            return;
        }
        for (size_t k = 0; k < nf; k++) {
            const char *why;
            if (!value_equal(o, o->full, &vf[k], o->expect[k], &why)) {
                char *dump = json_dumps(o->expect[k], JSON_ENCODE_ANY | JSON_COMPACT);
                verdict(r, SCAN_MISMATCH, "%s: value %zu: %s: scanner '%s', jansson %s %s",
                        sl->text, k, why,
                        excerpt(vf[k].ptr, vf[k].len < 60 ? vf[k].len : 60, ex, sizeof(ex)),
                        json_type_name(o->expect[k]),
                        excerpt(dump ? dump : "?", dump ? strlen(dump) : 1, ej, sizeof(ej)));
                free(dump);
                return;
            }
        }
        r->values += nf;
        if (nq != nf) {
            verdict(r, SCAN_MISMATCH, "%s: fast scan has %zu values, FULL %zu", sl->text, nq, nf);
            return;
        }
        for (size_t k = 0; k < nf; k++) {
            if (vq[k].ptr != vf[k].ptr || span_len(&vq[k]) != span_len(&vf[k]) ||
                vq[k].type != vf[k].type || vq[k].escaped != vf[k].escaped) {
                verdict(r, SCAN_MISMATCH, "%s: value %zu: fast '%s' differs from FULL '%s'",
                        sl->text, k,
                        excerpt(vq[k].ptr, vq[k].len < 60 ? vq[k].len : 60, ex, sizeof(ex)),
                        excerpt(vf[k].ptr, vf[k].len < 60 ? vf[k].len : 60, ej, sizeof(ej)));
                return;
            }
        }
    }
}

/* ---- the check --------------------------------------------------------- */

void scan_oracle_check(struct scan_oracle *o, const char *doc, size_t len, struct scan_report *r)
{
    memset(r, 0, sizeof(*r));
    r->verdict = SCAN_AGREE;
    if (!o->full) {
        o->full = event_scan_new(o->plan, EVENT_SCAN_FULL);
        o->fast = event_scan_new(o->plan, 0);
    }
    struct ks_diag dfull, dfast;
    enum event_scan_status sf = event_scan_run(o->full, doc, len, &dfull);
    enum event_scan_status sq = event_scan_run(o->fast, doc, len, &dfast);
    if (!scan_sane(o, o->full, "FULL", sf, &dfull, doc, len, r) ||
        !scan_sane(o, o->fast, "fast", sq, &dfast, doc, len, r))
        return;

    size_t bad_at = 0;
    bool clean = ks_text_clean(doc, len, &bad_at);
    json_error_t err;
    bool dups = false;
    json_t *root = json_loadb(doc, len, JFLAGS | JSON_REJECT_DUPLICATES, &err);
    if (!root && json_error_code(&err) == json_error_duplicate_key) {
        dups = true;
        root = json_loadb(doc, len, JFLAGS, &err);
    }

    if (!root) {
        enum json_error_code code = json_error_code(&err);
        if (code == json_error_invalid_utf8 && clean)
            verdict(r, SCAN_MISMATCH,
                    "ks_text_clean accepts text jansson finds bad UTF-8 in (byte %d: %s)",
                    err.position, err.text);
        else if (!clean)
            verdict(r, SCAN_SKIPPED, "D3: not clean text (byte %zu); jansson: %s", bad_at,
                    err.text);
        else if (code == json_error_numeric_overflow)
            verdict(r, SCAN_SKIPPED, "D1: jansson: %s", err.text);
        else if (code == json_error_null_byte_in_key)
            verdict(r, SCAN_SKIPPED, "D2: jansson: %s", err.text);
        else if (sf != EVENT_SCAN_INVALID)
            verdict(r, SCAN_MISMATCH, "FULL scan returns %s; jansson rejects at byte %d: %s",
                    status_name(sf), err.position, err.text);
        return;
    }

    r->json_valid = true;
    r->json_object = json_is_object(root);
    size_t depth = json_depth(root);
    if (!clean && memchr(doc, '\0', len) != NULL) {
        verdict(r, SCAN_SKIPPED, "D5: jansson accepts text with a NUL byte");
    } else if (!clean) {
        verdict(r, SCAN_MISMATCH, "ks_text_clean rejects byte %zu of text jansson accepts", bad_at);
    } else if (depth > KS_MAX_JSON_DEPTH) {
        bool b2 = SCAN_ORACLE_TOLERATE_B2 && depth == KS_MAX_JSON_DEPTH + 1 && r->json_object;
        if (!b2 && (sf != EVENT_SCAN_INVALID || sq != EVENT_SCAN_INVALID))
            verdict(r, SCAN_MISMATCH, "%zu levels of nesting accepted: FULL %s, fast %s", depth,
                    status_name(sf), status_name(sq));
        else
            verdict(r, SCAN_SKIPPED, "D4: %zu levels of nesting", depth);
    } else if (!r->json_object) {
        bool b1 = SCAN_ORACLE_TOLERATE_B1 && sf == EVENT_SCAN_INVALID;
        if ((sf != EVENT_SCAN_NOT_OBJECT && !b1) || sq != EVENT_SCAN_NOT_OBJECT)
            verdict(r, SCAN_MISMATCH, "valid non-object: FULL %s (%s), fast %s (%s)",
                    status_name(sf), dfull.msg, status_name(sq), dfast.msg);
    } else if (sf != EVENT_SCAN_OK || sq != EVENT_SCAN_OK) {
        verdict(r, SCAN_MISMATCH, "valid object: FULL %s (%s at %zu), fast %s (%s at %zu)",
                status_name(sf), dfull.msg, dfull.offset, status_name(sq), dfast.msg, dfast.offset);
    } else if (dups) {
        verdict(r, SCAN_SKIPPED, "duplicate keys: values not compared");
    } else {
        compare_values(o, root, r);
    }
    json_decref(root);
}
