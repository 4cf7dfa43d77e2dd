/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular expressions in filter patterns (spec/filter-patterns.md §3).
 *
 * AWS accepts a small POSIX-ERE-like subset. We check the subset ourselves
 * (so errors are AWS's, with positions) and translate it into an equivalent
 * PCRE2 expression, JIT-compiled:
 *   - `.` matches newlines (DOTALL), `$` is the very end (DOLLAR_ENDONLY);
 *   - `\s \S \w \W \d \D` become explicit ASCII classes (AWS's meaning);
 *   - `{,n}` becomes `{0,n}`;
 *   - no groups exist, so with match limits set, matching stays bounded.
 */
#include "pattern/pattern_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct pattern_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
    char *translated;
};

#define INVALID "Invalid metric filter pattern"

static bool allowed_literal(char c)
{
    /* §3.2: letters, digits, : _ # = @ / ; , - and space */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '_' || c == '#' || c == '=' || c == '@' || c == '/' || c == ';' || c == ',' ||
           c == '-' || c == ' ';
}

static bool is_operator(char c)
{
    return c == '^' || c == '$' || c == '?' || c == '[' || c == ']' || c == '{' || c == '}' ||
           c == '|' || c == '\\' || c == '*' || c == '+' || c == '.';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static enum ks_err rerr(struct ks_diag *d, size_t at, const char *why)
{
    return ks_diag_set(d, KS_E_SYNTAX, at, INVALID ": %s", why);
}

static enum ks_err add(struct ks_buf *b, const char *s)
{
    return ks_buf_add(b, s, strlen(s));
}

/* Translates one escape at src[i] == '\\'; returns bytes consumed or 0. */
static size_t escape(const char *src, size_t len, size_t i, bool in_class, struct ks_buf *out,
                     size_t at, struct ks_diag *d, enum ks_err *err)
{
    if (i + 1 >= len) {
        *err = rerr(d, at + i, "regular expression ends with '\\'");
        return 0;
    }
    char c = src[i + 1];
    const char *cls = NULL;
    switch (c) {
    case 'd':
        cls = in_class ? "0-9" : "[0-9]";
        break;
    case 'D':
        cls = in_class ? NULL : "[^0-9]";
        break;
    case 's':
        cls = in_class ? " \\t\\n" : "[ \\t\\n]";
        break;
    case 'S':
        cls = in_class ? NULL : "[^ \\t\\n]";
        break;
    case 'w':
        cls = in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
        break;
    case 'W':
        cls = in_class ? NULL : "[^A-Za-z0-9_]";
        break;
    default:
        break;
    }
    if (c == 'D' || c == 'S' || c == 'W') {
        if (in_class) {
            *err = rerr(d, at + i, "negated classes \\D \\S \\W cannot be used inside [...]");
            return 0;
        }
    }
    if (cls) {
        *err = add(out, cls);
        return 2;
    }
    if (c == 'x') {
        if (i + 3 >= len || !is_hex(src[i + 2]) || !is_hex(src[i + 3])) {
            *err = rerr(d, at + i, "\\x needs two hex digits");
            return 0;
        }
        char hx[8] = {'\\', 'x', '{', src[i + 2], src[i + 3], '}', 0, 0};
        *err = add(out, hx);
        return 4;
    }
    if (is_operator(c) ||
        (allowed_literal(c) &&
         !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))) {
        char lit[3] = {'\\', c, 0};
        if (c == ' ')
            lit[0] = ' ', lit[1] = 0;
        *err = add(out, lit);
        return 2;
    }
    *err = rerr(d, at + i, "unsupported escape in regular expression");
    return 0;
}

static enum ks_err translate(const char *src, size_t len, size_t at, struct ks_buf *out,
                             struct ks_diag *d)
{
    enum ks_err e = KS_OK;
    bool prev_quant = false, prev_atom = false;
    for (size_t i = 0; i < len && !e;) {
        char c = src[i];
        if ((unsigned char)c >= 0x80)
            return rerr(d, at + i, "non-ASCII characters are not supported in regular expressions");
        if (c == '(' || c == ')')
            return rerr(d, at + i, "parentheses are not supported in regular expressions");
        if (c == '\\') {
            size_t n = escape(src, len, i, false, out, at, d, &e);
            if (!n)
                return e;
            i += n;
            prev_atom = true;
            prev_quant = false;
            continue;
        }
        if (c == '[') {
            size_t st = i++;
            e = add(out, "[");
            if (i < len && src[i] == '^') {
                e = e ? e : add(out, "^");
                i++;
            }
            bool first = true;
            while (!e && i < len && (src[i] != ']' || first)) {
                char k = src[i];
                if ((unsigned char)k >= 0x80)
                    return rerr(d, at + i, "non-ASCII characters are not supported");
                if (k == '\\') {
                    size_t n = escape(src, len, i, true, out, at, d, &e);
                    if (!n)
                        return e;
                    i += n;
                } else if (k == '-' || allowed_literal(k) || is_operator(k)) {
                    if (k == '[' || k == ']')
                        e = ks_buf_add(out, "\\", 1);
                    e = e ? e : ks_buf_add(out, &k, 1);
                    i++;
                } else {
                    return rerr(d, at + i, "character not allowed in regular expressions");
                }
                first = false;
            }
            if (i >= len)
                return rerr(d, at + st, "unterminated character class");
            e = e ? e : add(out, "]");
            i++;
            prev_atom = true;
            prev_quant = false;
            continue;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (!prev_atom)
                return rerr(d, at + i, "quantifier without anything to repeat");
            if (prev_quant)
                return rerr(d, at + i, "a quantifier cannot follow another quantifier");
            if (c == '{') {
                /* {m} {m,} {m,n} {,n} with no spaces (§3.3) */
                size_t j = i + 1, m0 = j;
                while (j < len && src[j] >= '0' && src[j] <= '9')
                    j++;
                bool have_m = j > m0;
                bool comma = j < len && src[j] == ',';
                size_t n0 = comma ? j + 1 : j, k = n0;
                while (k < len && src[k] >= '0' && src[k] <= '9')
                    k++;
                bool have_n = k > n0;
                if (k >= len || src[k] != '}' || (!have_m && !have_n) ||
                    (!comma && have_n && !have_m))
                    return rerr(d, at + i, "malformed repetition {m,n}");
                if (k - i > 12)
                    return rerr(d, at + i, "repetition count too large");
                e = add(out, "{");
                if (!have_m)
                    e = e ? e : add(out, "0");
                e = e ? e : ks_buf_add(out, src + i + 1, k - i);
                i = k + 1;
            } else {
                e = ks_buf_add(out, &c, 1);
                i++;
            }
            prev_quant = true;
            continue;
        }
        if (c == '}' || c == ']')
            return rerr(d, at + i, c == '}' ? "unexpected '}'" : "unexpected ']'");
        if (c == '|' || c == '^' || c == '$') {
            e = ks_buf_add(out, &c, 1);
            i++;
            prev_atom = c == '$';
            prev_quant = false;
            if (c == '|' || c == '^')
                prev_atom = false;
            continue;
        }
        if (c == '.' || allowed_literal(c)) {
            e = ks_buf_add(out, &c, 1);
            i++;
            prev_atom = true;
            prev_quant = false;
            continue;
        }
        return rerr(d, at + i, "character not allowed in regular expressions");
    }
    return e;
}

enum ks_err pattern_regex_compile(const char *src, size_t len, size_t at,
                                  struct pattern_regex **out, struct ks_diag *diag)
{
    struct ks_buf b;
    ks_buf_init(&b, 16 * 1024);
    enum ks_err e = translate(src, len, at, &b, diag);
    if (e) {
        ks_buf_release(&b);
        return e;
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)b.data, b.len,
                                     PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK,
                                     &errcode, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        ks_buf_release(&b);
        return ks_diag_set(diag, KS_E_SYNTAX, at, INVALID ": %s", (const char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    struct pattern_regex *re = ks_xcalloc(1, sizeof(*re));
    re->code = code;
    re->mctx = pcre2_match_context_create(NULL);
    /* bounded work per event: AWS also enforces an evaluation budget */
    pcre2_set_match_limit(re->mctx, 1000000);
    pcre2_set_depth_limit(re->mctx, 10000);
    re->translated = b.data;
    b.data = NULL;
    b.cap = 0;
    *out = re;
    return KS_OK;
}

void pattern_regex_free(struct pattern_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re->translated);
    free(re);
}

void *pattern_regex_state_new(const struct pattern_regex *re)
{
    return pcre2_match_data_create_from_pattern(re->code, NULL);
}

void pattern_regex_state_free(void *state)
{
    pcre2_match_data_free(state);
}

bool pattern_regex_search(const struct pattern_regex *re, void *state, const char *s, size_t len)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, state, re->mctx);
    return rc >= 0;
}
