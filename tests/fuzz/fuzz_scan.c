/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_scan: differential fuzzing of the on-demand scanner against jansson.
 *
 * Input format (corpus files under tests/fuzz/corpus/scan/ are readable):
 *
 *   $.sel1 $.sel2[*].x $.['odd key']     <- first line: selectors, blank-separated
 *   {"sel1": ...}                        <- everything after the first '\n': the document
 *
 * Selectors that do not parse are skipped (their text up to the next blank is
 * dropped), so mutations of the first line still exercise the scanner. An
 * input without '\n' is a document with no selectors. The rules asserted, and
 * the known divergences from jansson, are documented in scan_oracle.c; any
 * mismatch prints its reason and aborts. FUZZ_SCAN_VERBOSE=1 in the
 * environment prints every verdict (useful with replay_scan on the corpus).
 */
#include "fuzz.h"
#include "scan_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT     (64u * 1024u)
#define MAX_SELECTORS 32

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void parse_selectors(struct scan_oracle *o, const char *line, size_t len)
{
    size_t pos = 0;
    while (pos < len && scan_oracle_count(o) < MAX_SELECTORS) {
        while (pos < len && is_blank(line[pos]))
            pos++;
        if (pos >= len)
            break;
        struct event_path path;
        struct ks_diag diag;
        size_t at = pos;
        if (event_path_parse(line, len, &at, &path, &diag) == KS_OK &&
            (at == len || is_blank(line[at]))) {
            scan_oracle_add(o, &path);
            pos = at;
            continue;
        }
        if (at != pos) /* parsed, but glued to more text */
            event_path_release(&path);
        else if (diag.err == KS_OK || diag.msg[0] == '\0' || (diag.offset > len))
            abort(); /* a parse error must say what and where */
        while (pos < len && !is_blank(line[pos]))
            pos++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t sel_len = nl ? (size_t)(nl - in) : 0;
    const char *doc = nl ? nl + 1 : in;
    size_t doc_len = size - (size_t)(doc - in);

    /* Exact-size copy of the document: ASan catches any read past its end. */
    char *copy = ks_xmalloc(doc_len ? doc_len : 1);
    if (doc_len)
        memcpy(copy, doc, doc_len);

    struct scan_oracle *o = scan_oracle_new();
    parse_selectors(o, in, sel_len);
    struct scan_report r;
    scan_oracle_check(o, copy, doc_len, &r);
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_SCAN_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "fuzz_scan: %zu selectors, %s%s, %zu values: %s\n", scan_oracle_count(o),
                r.verdict == SCAN_AGREE     ? "agree"
                : r.verdict == SCAN_SKIPPED ? "skipped"
                                            : "MISMATCH",
                r.json_valid ? " (valid JSON)" : " (invalid JSON)", r.values, r.why);
    if (r.verdict == SCAN_MISMATCH) {
        fprintf(stderr, "fuzz_scan: MISMATCH: %s\n", r.why);
        abort();
    }

    /* The framers' skimmer on the same bytes: memory safety and sane length. */
    size_t i = 0;
    while (i < doc_len && (copy[i] == ' ' || copy[i] == '\t' || copy[i] == '\n' || copy[i] == '\r'))
        i++;
    size_t used = 0;
    struct ks_diag d;
    if (event_skim(copy + i, doc_len - i, &used, &d) == EVENT_SKIM_OK && used > doc_len - i)
        abort();

    scan_oracle_free(o);
    free(copy);
    return 0;
}
