/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base: the few things every keysentry module shares.
 *
 * - enum ks_err: one project-wide error code set, append-only.
 * - struct ks_diag: where and why something failed (message, byte offset,
 *   line:column), filled by every parser and rendered once by the CLI.
 * - ks_x*alloc: allocation failure aborts; callers cap input-derived sizes
 *   before allocating instead (see KS_MAX_* below).
 * - struct ks_buf: a growable byte buffer that is always NUL-terminated and
 *   never grows past its hard cap.
 * - UTF-8 and NUL screening for the event reader's hot path.
 */
#ifndef KS_BASE_H
#define KS_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_MUST_CHECK   __attribute__((warn_unused_result))
#define KS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Caps on input-derived sizes; each is documented in docs/architecture.md. */
#define KS_MAX_EVENT_BYTES   (1u << 20) /* one event (record or line): 1 MiB, as CloudWatch Logs */
#define KS_MAX_JSON_DEPTH    512        /* nesting of one JSON event */
#define KS_MAX_PATTERN_BYTES 1024       /* filter pattern length, as AWS */

enum ks_err {
    KS_OK = 0,
    KS_E_NOMEM = 1,
    KS_E_IO = 2,
    KS_E_SYNTAX = 3,  /* malformed input text (JSON, pattern, template) */
    KS_E_LIMIT = 4,   /* a documented limit was exceeded */
    KS_E_TOOBIG = 5,  /* a buffer cap was reached */
    KS_E_INVALID = 6, /* well-formed but not acceptable */
    KS_E_NOTFOUND = 7,
    KS_E_FORMAT = 8, /* compressed/container format damaged */
};

const char *ks_strerror(enum ks_err err);

/* Details of a failure. offset is a byte offset into the text that failed
 * (SIZE_MAX when unknown); the renderer derives line:column from it. */
struct ks_diag {
    enum ks_err err;
    size_t offset;
    char msg[256];
};

void ks_diag_clear(struct ks_diag *d);
/* Records err, offset and a formatted message; returns err for tail calls. */
enum ks_err ks_diag_set(struct ks_diag *d, enum ks_err err, size_t offset, const char *fmt, ...)
    KS_PRINTF(4, 5);

/* Renders "prefix: message at line:col" plus the source line and a caret
 * under the offending byte into out (always NUL-terminated). */
void ks_diag_render(const struct ks_diag *d, const char *prefix, const char *text, size_t len,
                    char *out, size_t out_size);

void *ks_xmalloc(size_t size);
void *ks_xcalloc(size_t n, size_t size);
void *ks_xrealloc(void *p, size_t size);
char *ks_xstrdup(const char *s);
char *ks_xmemdup(const void *p, size_t len); /* adds a NUL after len bytes */

/* Growable buffer. Invariants: data != NULL, data[len] == '\0', len <= max. */
struct ks_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void ks_buf_init(struct ks_buf *b, size_t max);
void ks_buf_release(struct ks_buf *b);
KS_MUST_CHECK enum ks_err ks_buf_add(struct ks_buf *b, const void *p, size_t n);
KS_MUST_CHECK enum ks_err ks_buf_addf(struct ks_buf *b, const char *fmt, ...) KS_PRINTF(2, 3);
KS_MUST_CHECK enum ks_err ks_buf_grow(struct ks_buf *b, size_t extra);
void ks_buf_reset(struct ks_buf *b);
/* Appends s as the body of a JSON string (no quotes), escaping per RFC 8259. */
KS_MUST_CHECK enum ks_err ks_buf_add_json_str(struct ks_buf *b, const char *s, size_t n);

/*
 * Screens an event for what the JSON scanner and the matchers must never see:
 * NUL bytes and invalid UTF-8 (overlongs, surrogates, > U+10FFFF, truncation).
 * Returns true when clean; otherwise false with *bad_at set to the offset of
 * the first offending byte. Pure ASCII runs 16 bytes at a time.
 */
bool ks_text_clean(const char *p, size_t len, size_t *bad_at);

/* CloudWatch's StandardUnit values (the API model's enum, "None" last): the
 * config loader, the alarm definitions and PutMetricData all check units
 * against this one list. */
extern const char *const ks_cw_units[];
extern const size_t ks_cw_units_count;
bool ks_cw_unit_valid(const char *unit);

/* The value of a hex digit (either case), or -1. */
static inline int ks_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of a base64 character (RFC 4648 §4; url: §5's "-_"), or -1. */
static inline int ks_b64val(int c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* System headers that declare banned functions come first, so banned.h's
 * macros cannot break their prototypes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"

#endif
