/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pattern: the CloudWatch Logs filter-pattern language
 * (spec/filter-patterns.md): match-all, terms, %regex%, JSON and
 * space-delimited patterns.
 *
 * Patterns are compiled into a set. All JSON selectors of all patterns in a
 * set share one scan plan, so each event is scanned once however many
 * patterns (metric filters) watch it. A set is immutable after
 * pattern_set_finish() and may be shared by threads; each thread evaluates
 * with its own struct pattern_ctx.
 *
 * Errors are AWS-compatible in wording ("Invalid metric filter pattern")
 * and add the position of the problem, so the CLI can put a caret under it.
 */
#ifndef KS_PATTERN_H
#define KS_PATTERN_H

#include "base/ks.h"
#include "event/event.h"

enum pattern_kind {
    PATTERN_MATCH_ALL,
    PATTERN_TERMS,
    PATTERN_REGEX,
    PATTERN_JSON,
    PATTERN_SPACE,
};

/* Limits from spec/filter-patterns.md §6. */
#define PATTERN_MAX_REGEXES        2 /* per JSON or space-delimited pattern */
#define PATTERN_MAX_WILD_SELECTORS 3
#define PATTERN_MAX_WILD_STEPS     1

struct pattern_set;
struct pattern_ctx;

struct pattern_set *pattern_set_new(void);
void pattern_set_free(struct pattern_set *set);

/*
 * Compiles text (len bytes, not necessarily NUL-terminated) into the set.
 * Returns the pattern's index (0, 1, ...) or -1 with diag filled: diag->msg is
 * the AWS message plus the reason, diag->offset the byte in text at fault.
 */
int pattern_set_add(struct pattern_set *set, const char *text, size_t len, struct ks_diag *diag);

/*
 * Registers an extra JSON selector (a metric value or dimension such as
 * `$.userIdentity.arn`) to be filled by the same scan. Returns its handle
 * for pattern_ctx_selector(), or -1 with diag filled.
 */
int pattern_set_add_selector(struct pattern_set *set, const char *text, size_t len,
                             struct ks_diag *diag);

/* Freezes the set; call once, after the last add and before any match. */
void pattern_set_finish(struct pattern_set *set);

size_t pattern_set_count(const struct pattern_set *set);
enum pattern_kind pattern_set_kind(const struct pattern_set *set, size_t index);

struct pattern_ctx *pattern_ctx_new(const struct pattern_set *set);
void pattern_ctx_free(struct pattern_ctx *ctx);

/*
 * Evaluates every pattern of the set against one event message.
 * matched[i] is set to 1 or 0 for each pattern i; returns how many matched.
 * Never fails: an event a pattern cannot apply to (not JSON, say) simply does
 * not match. If the event is JSON but malformed, *bad_json (optional) is set.
 */
size_t pattern_ctx_match(struct pattern_ctx *ctx, const char *msg, size_t len, uint8_t *matched,
                         bool *bad_json);
/*
 * As pattern_ctx_match, but only the patterns i with want[i] != 0 are
 * evaluated; the others get matched[i] = 0 and cost nothing (metric filters
 * of other log groups). want NULL means every pattern.
 */
size_t pattern_ctx_match_some(struct pattern_ctx *ctx, const char *msg, size_t len,
                              const uint8_t *want, uint8_t *matched, bool *bad_json);

/* Why the last event was malformed JSON, when *bad_json was set. */
const struct ks_diag *pattern_ctx_json_error(const struct pattern_ctx *ctx);

/* Callback for extracted values: name such as "$ip" or "$3", value text. */
typedef void pattern_extract_fn(void *ud, const char *name, size_t name_len, const char *value,
                                size_t value_len);

/*
 * After pattern_ctx_match() reported pattern index as matched, gives the
 * values it extracted (space-delimited patterns: named slots as $name,
 * unnamed fields as $n). Other kinds extract nothing. Returns the count.
 */
size_t pattern_ctx_extract(struct pattern_ctx *ctx, size_t index, pattern_extract_fn *fn, void *ud);

/* Values of an extra selector for the last event (see pattern_set_add_selector). */
size_t pattern_ctx_selector(struct pattern_ctx *ctx, int handle, const struct event_value **values);

/* Scratch for event_value_string() on values of the last event. */
char *pattern_ctx_scratch(struct pattern_ctx *ctx);

#endif
