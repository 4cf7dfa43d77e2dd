/* SPDX-License-Identifier: Apache-2.0 */
/*
 * event: what an event is, where it comes from, and how its fields are read.
 *
 * Three parts, one pipeline stage each:
 *
 *  1. Selector paths (event_path_*): `$.a.b`, `$.a[0].b`, `$.resources[*].ARN`,
 *     `$.['aws:s3:arn']`, parsed once into steps.
 *  2. The scanner (event_scan_*): a zero-copy, on-demand JSON reader. A plan
 *     holds every path the compiled filters need as a trie; one pass over a
 *     record fills a slot per path with views into the record, skips every
 *     subtree no path enters, and stops as soon as all paths are resolved.
 *     Nothing is allocated per record once the scanner has warmed up.
 *  3. The reader (event_reader_*): turns files, directories and stdin into
 *     events: CloudTrail log files ({"Records":[...]}, plain or gzip),
 *     NDJSON and plain text lines. Bad input is reported with its position,
 *     counted and skipped; the good events around it are still delivered.
 *
 * Events are borrowed views: an event's bytes are valid only during the
 * callback that receives them.
 */
#ifndef KS_EVENT_H
#define KS_EVENT_H

#include "base/ks.h"

#include <stdio.h>

/* ---- selector paths ---------------------------------------------------- */

enum event_step_kind {
    EVENT_STEP_KEY,       /* .name or ['name'] */
    EVENT_STEP_INDEX,     /* [n] */
    EVENT_STEP_ANY_KEY,   /* .* : every member value of an object */
    EVENT_STEP_ANY_INDEX, /* [*] : every element of an array */
};

struct event_step {
    enum event_step_kind kind;
    uint32_t index;
    char *key; /* owned, NUL-terminated; NULL unless EVENT_STEP_KEY */
    size_t key_len;
};

#define EVENT_PATH_MAX_STEPS 32

struct event_path {
    size_t nsteps;
    struct event_step steps[EVENT_PATH_MAX_STEPS];
    unsigned nwild; /* wildcard steps in this path */
};

/*
 * Parses a selector starting at text[*pos] (which must be '$') and advances
 * *pos past it. Stops at the first byte that cannot continue a selector.
 * On error returns KS_E_SYNTAX with diag->offset pointing into text.
 * The path must be released with event_path_release().
 */
KS_MUST_CHECK enum ks_err event_path_parse(const char *text, size_t len, size_t *pos,
                                           struct event_path *path, struct ks_diag *diag);
void event_path_release(struct event_path *path);
/* Canonical text of a path ($.a.b[0]) into buf; for messages and dumps. */
void event_path_format(const struct event_path *path, char *buf, size_t size);

/* ---- values and the scanner -------------------------------------------- */

enum event_vtype {
    EVENT_V_STRING,
    EVENT_V_NUMBER,
    EVENT_V_TRUE,
    EVENT_V_FALSE,
    EVENT_V_NULL,
    EVENT_V_OBJECT,
    EVENT_V_ARRAY,
};

/*
 * A value found in a record: a view into the record's bytes.
 * STRING: ptr/len are the raw bytes between the quotes; escaped says whether
 * they contain a backslash (then event_value_string() decodes them).
 * NUMBER: the number's text. OBJECT/ARRAY: the whole span including brackets.
 */
struct event_value {
    const char *ptr;
    uint32_t len;
    uint8_t type; /* enum event_vtype */
    bool escaped;
};

/*
 * Gives the decoded text of a STRING value: the raw view when it has no
 * escapes, otherwise the decoding written into scratch (which must hold at
 * least v->len bytes). Returns the length; *out points to the text.
 */
size_t event_value_string(const struct event_value *v, char *scratch, const char **out);

struct event_scan_plan;
struct event_scan;

struct event_scan_plan *event_scan_plan_new(void);
void event_scan_plan_free(struct event_scan_plan *plan);
/* Adds a path (copied); returns its slot number. Equal paths share a slot. */
unsigned event_scan_plan_add(struct event_scan_plan *plan, const struct event_path *path);
unsigned event_scan_plan_slots(const struct event_scan_plan *plan);

enum event_scan_flags {
    /* Validate the whole record and never stop early: for differential tests
     * and strict mode. The default reads only what the plan needs and skims
     * the rest (balanced brackets and closed strings, not full grammar). */
    EVENT_SCAN_FULL = 1u << 0,
    /* Stop as soon as every slot is filled and do not look at the rest of
     * the record at all (not even its brackets): for extracting a field such
     * as eventTime from records whose validity is checked elsewhere. A record
     * damaged after that point still returns EVENT_SCAN_OK. */
    EVENT_SCAN_PREFIX = 1u << 1,
};

enum event_scan_status {
    EVENT_SCAN_OK = 0,         /* an object; slots filled */
    EVENT_SCAN_NOT_OBJECT = 1, /* valid JSON, but the top level is not an object */
    EVENT_SCAN_INVALID = 2,    /* not JSON; diag says where */
};

/* The scanner borrows the plan, which must outlive it and stay unchanged. */
struct event_scan *event_scan_new(const struct event_scan_plan *plan, unsigned flags);
void event_scan_free(struct event_scan *scan);

/*
 * Scans one record. Afterwards each slot holds the values its path resolved
 * to (0 = unresolved, more than 1 only through wildcards), valid while the
 * record's bytes are. Duplicate keys: the first occurrence wins (so scanning
 * can stop early; RFC 8259 leaves it open, CloudTrail never emits them).
 */
enum event_scan_status event_scan_run(struct event_scan *scan, const char *json, size_t len,
                                      struct ks_diag *diag);
/*
 * As event_scan_run, for the JSON value at the start of json (no leading
 * whitespace needed) followed by anything: *used receives the length of the
 * value. Framers use it to cut a record and read its fields in one pass.
 */
enum event_scan_status event_scan_first(struct event_scan *scan, const char *json, size_t len,
                                        size_t *used, struct ks_diag *diag);
size_t event_scan_values(const struct event_scan *scan, unsigned slot,
                         const struct event_value **values);
/* Scratch big enough to decode any string of the last record. */
char *event_scan_scratch(struct event_scan *scan);

enum event_skim_status {
    EVENT_SKIM_OK,       /* *used = bytes of the value */
    EVENT_SKIM_MORE,     /* the value continues past len */
    EVENT_SKIM_TOO_DEEP, /* nesting over KS_MAX_JSON_DEPTH */
    EVENT_SKIM_ERROR,    /* brackets do not match; diag says where */
};

/* Finds the end of the JSON value starting at p (no leading whitespace),
 * checking structure only: used by framers to cut records out of a stream. */
enum event_skim_status event_skim(const char *p, size_t len, size_t *used, struct ks_diag *diag);

/* ---- the reader -------------------------------------------------------- */

struct event {
    const char *data; /* the event's bytes: one record or one line, no newline */
    size_t len;
    int64_t time_ms;  /* CloudTrail eventTime, or INT64_MIN when unknown */
    const char *file; /* origin: path, or "-" for stdin */
    uint64_t record;  /* 0-based record index within a Records file, else line number-1 */
    uint64_t offset;  /* byte offset in the (decompressed) file */
    uint64_t number;  /* 1-based number of the event across the whole read */
};

/* Counters for one read; bad events are counted by cause. */
struct event_stats {
    uint64_t files;
    uint64_t events;
    uint64_t bytes; /* decompressed bytes read */
    uint64_t bad_json;
    uint64_t bad_utf8;
    uint64_t bad_nul;
    uint64_t too_big;
    uint64_t too_deep;
    uint64_t bad_gzip;
    uint64_t bad_file; /* unreadable files and directories */
};

enum event_format {
    EVENT_FORMAT_AUTO = 0, /* sniff: Records file, else one event per line */
    EVENT_FORMAT_LINES,    /* NDJSON or plain text: one event per line */
    EVENT_FORMAT_RECORDS,  /* CloudTrail {"Records":[...]} */
};

/* Returns non-zero to stop the read (it then returns that value). */
typedef int event_fn(void *ctx, const struct event *ev);

struct event_reader_opts {
    enum event_format format;
    FILE *errors;          /* where bad input is reported; NULL = silent */
    size_t gzip_whole_max; /* compressed files up to this size inflate in one go (libdeflate) */
    bool want_time;        /* parse eventTime of JSON events into time_ms */
};

void event_reader_opts_init(struct event_reader_opts *o);

/*
 * Reads a file, a directory (recursively, in sorted byte order of names) or
 * "-" (stdin) and calls fn once per event. Damaged input is reported through
 * opts->errors as "file:offset: message" and counted in *stats; it never
 * stops the read. Returns 0, the callback's non-zero value, or -1 when path
 * itself cannot be opened (reported and counted).
 */
int event_read_path(const char *path, const struct event_reader_opts *opts, event_fn *fn, void *ctx,
                    struct event_stats *stats);

/* Parses an ISO 8601 time as CloudTrail and CloudWatch write it
 * ("2023-07-10T11:42:18Z", optional fraction, or an offset +HH:MM / +HHMM as
 * in "2023-01-09T14:07:25.504+0000") into milliseconds since the epoch;
 * false if malformed. */
bool event_parse_time(const char *s, size_t len, int64_t *ms);

#endif
