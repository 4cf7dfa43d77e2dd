/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scan_oracle: checks the on-demand scanner (event_scan_*) against jansson.
 *
 * An oracle holds a set of selector paths, one scan plan built from them and
 * two scanners over that plan: EVENT_SCAN_FULL and the fast default. For a
 * document it runs both scanners, parses the document with jansson, walks the
 * jansson tree with the same path semantics and compares verdicts and values.
 * Shared by the differential fuzzer (tests/fuzz/fuzz_scan.c), which aborts on
 * a mismatch, and the CloudTrail corpus test (tests/unit/scan), which counts.
 *
 * The rules, and every known divergence between RFC 8259 as jansson reads it
 * and our scanner, are documented at the top of scan_oracle.c.
 */
#ifndef KS_TEST_SCAN_ORACLE_H
#define KS_TEST_SCAN_ORACLE_H

#include "event/event.h"

enum scan_verdict {
    SCAN_AGREE,    /* every applicable rule held */
    SCAN_SKIPPED,  /* a known divergence: nothing beyond safety was checked */
    SCAN_MISMATCH, /* a rule was broken: a bug, described in report->why */
};

struct scan_report {
    enum scan_verdict verdict;
    bool json_valid;  /* jansson accepted the document */
    bool json_object; /* ... and its top level is an object */
    size_t values;    /* values compared with the jansson walk (per mode) */
    char why[768];    /* what disagreed, or why the document was skipped */
};

struct scan_oracle;

struct scan_oracle *scan_oracle_new(void);
void scan_oracle_free(struct scan_oracle *o);

/* Adds a parsed selector; the oracle takes ownership of path's keys (do not
 * release path afterwards). Must be called before the first check. */
void scan_oracle_add(struct scan_oracle *o, struct event_path *path);
size_t scan_oracle_count(const struct scan_oracle *o);

/* Checks one document (len bytes, not NUL-terminated). */
void scan_oracle_check(struct scan_oracle *o, const char *doc, size_t len,
                       struct scan_report *report);

#endif
