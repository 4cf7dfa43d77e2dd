/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry test-pattern: CloudWatch Logs TestMetricFilter on local files.
 * Reads events (lines, NDJSON, CloudTrail Records files, gzip, directories)
 * and prints those the pattern matches.
 */
#include "cli/cli.h"

#include "event/event.h"
#include "pattern/pattern.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: keysentry test-pattern [options] PATTERN [FILE|DIR|-]...\n"
    "\n"
    "Tests a CloudWatch Logs filter pattern against log events, as\n"
    "'aws logs test-metric-filter' does, on local files.\n"
    "\n"
    "Input (default: stdin): files, directories (read recursively, in sorted\n"
    "order) or '-'. Each may be NDJSON or plain text (one event per line) or a\n"
    "CloudTrail log file {\"Records\":[...]}, plain or gzip-compressed.\n"
    "Damaged input is reported on stderr with file and byte offset and skipped.\n"
    "\n"
    "options:\n"
    "  --json        print one JSON object:\n"
    "                {\"matches\":[{\"eventNumber\":N,\"eventMessage\":\"...\",\n"
    "                  \"extractedValues\":{...}}]}\n"
    "  --count       print only the number of matching events\n"
    "  --origin      (text output) prefix each match with file:offset\n"
    "  --strict      validate every JSON event fully, not only the parts the\n"
    "                pattern reads (slower; reports every malformed record)\n"
    "  --lines       never treat input as CloudTrail Records files\n"
    "  -q, --quiet   do not print the summary line on stderr\n"
    "  -h, --help    show this help\n"
    "\n"
    "examples:\n"
    "  keysentry test-pattern '{ $.eventSource = kms.amazonaws.com && $.errorCode = \"*\" }' "
    "trail/\n"
    "  keysentry test-pattern --count '?AccessDenied ?UnauthorizedOperation' events.ndjson\n"
    "  keysentry test-pattern --json '[ip, user, ..., status = 4*, bytes]' access.log\n"
    "\n"
    "Exit status: 0 on success, 1 when an input could not be read, 2 for an\n"
    "invalid pattern or usage. The pattern language is described in\n"
    "docs/patterns.md.\n";

struct tp {
    struct pattern_set *set;
    struct pattern_ctx *ctx;
    struct event_scan_plan *strict_plan;
    struct event_scan *strict_scan;
    bool json, count, origin, strict;
    uint64_t matches;
    uint64_t bad_json;
    FILE *out;
    bool first_extract;
    /* progress on long reads, only when stderr is a terminal */
    const struct event_stats *st;
    bool progress;
    bool progress_shown;
    struct timespec last;
};

static void show_progress(struct tp *t, bool final)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt =
        (double)(now.tv_sec - t->last.tv_sec) + (double)(now.tv_nsec - t->last.tv_nsec) / 1e9;
    if (!final && dt < 1.0)
        return;
    if (final && !t->progress_shown)
        return;
    t->last = now;
    t->progress_shown = true;
    fprintf(stderr, "\rkeysentry: %.1f MB read, %llu events, %llu matched%s",
            (double)t->st->bytes / 1e6, (unsigned long long)t->st->events,
            (unsigned long long)t->matches, final ? "\n" : "");
}

static void extract_json(void *ud, const char *name, size_t nl, const char *v, size_t vl)
{
    struct tp *t = ud;
    if (!t->first_extract)
        fputc(',', t->out);
    t->first_extract = false;
    cli_json_string(t->out, name, nl);
    fputc(':', t->out);
    cli_json_string(t->out, v, vl);
}

static void extract_text(void *ud, const char *name, size_t nl, const char *v, size_t vl)
{
    struct tp *t = ud;
    fprintf(t->out, "%s%.*s=%.*s", t->first_extract ? "\t" : " ", (int)nl, name, (int)vl, v);
    t->first_extract = false;
}

static void report_bad(const struct event *ev, const struct ks_diag *d)
{
    fprintf(stderr, "keysentry: %s:%llu: invalid JSON at byte %llu of event %llu (%s); skipped\n",
            ev->file, (unsigned long long)ev->offset,
            (unsigned long long)(d->offset == SIZE_MAX ? 0 : d->offset),
            (unsigned long long)ev->number, d->msg);
}

static int on_event(void *ud, const struct event *ev)
{
    struct tp *t = ud;
    uint8_t m;
    bool bad = false;
    if (t->progress && (ev->number & 0xFFFF) == 0)
        show_progress(t, false);
    if (t->strict && ev->len && ev->data[0] == '{') {
        struct ks_diag d;
        if (event_scan_run(t->strict_scan, ev->data, ev->len, &d) == EVENT_SCAN_INVALID) {
            t->bad_json++;
            report_bad(ev, &d);
            return 0;
        }
    }
    pattern_ctx_match(t->ctx, ev->data, ev->len, &m, &bad);
    if (bad) {
        t->bad_json++;
        report_bad(ev, pattern_ctx_json_error(t->ctx));
        return 0;
    }
    if (!m)
        return 0;
    t->matches++;
    if (t->count)
        return 0;
    if (t->json) {
        fprintf(t->out, "%s{\"eventNumber\":%llu,\"eventMessage\":", t->matches > 1 ? "," : "",
                (unsigned long long)ev->number);
        cli_json_string(t->out, ev->data, ev->len);
        fputs(",\"extractedValues\":{", t->out);
        t->first_extract = true;
        pattern_ctx_extract(t->ctx, 0, extract_json, t);
        fputs("}}", t->out);
        return 0;
    }
    if (t->origin)
        fprintf(t->out, "%s:%llu\t", ev->file, (unsigned long long)ev->offset);
    fwrite(ev->data, 1, ev->len, t->out);
    t->first_extract = true;
    pattern_ctx_extract(t->ctx, 0, extract_text, t);
    fputc('\n', t->out);
    return 0;
}

int cli_test_pattern(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},   {"count", no_argument, NULL, 'c'},
        {"origin", no_argument, NULL, 'o'}, {"strict", no_argument, NULL, 's'},
        {"lines", no_argument, NULL, 'l'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    struct tp t = {.out = stdout};
    bool quiet = false, lines = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            t.json = true;
            break;
        case 'c':
            t.count = true;
            break;
        case 'o':
            t.origin = true;
            break;
        case 's':
            t.strict = true;
            break;
        case 'l':
            lines = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(help, stdout);
            return CLI_OK;
        default:
            fputs("Run 'keysentry test-pattern --help' for usage.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("test-pattern needs a PATTERN; see 'keysentry test-pattern --help'");
        return CLI_USAGE;
    }
    if (t.json && t.count) {
        cli_error("--json and --count cannot be combined");
        return CLI_USAGE;
    }
    const char *pat = argv[optind++];
    t.set = pattern_set_new();
    struct ks_diag d;
    if (pattern_set_add(t.set, pat, strlen(pat), &d) < 0) {
        char msg[1024];
        ks_diag_render(&d, "keysentry: invalid pattern", pat, strlen(pat), msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        pattern_set_free(t.set);
        return CLI_USAGE;
    }
    pattern_set_finish(t.set);
    t.ctx = pattern_ctx_new(t.set);
    if (t.strict) {
        t.strict_plan = event_scan_plan_new();
        t.strict_scan = event_scan_new(t.strict_plan, EVENT_SCAN_FULL);
    }

    struct event_reader_opts opts;
    event_reader_opts_init(&opts);
    if (lines)
        opts.format = EVENT_FORMAT_LINES;
    struct event_stats st;
    memset(&st, 0, sizeof(st));
    t.st = &st;
    t.progress = !quiet && isatty(2);
    clock_gettime(CLOCK_MONOTONIC, &t.last);
    if (t.json)
        fputs("{\"matches\":[", t.out);
    int rc = CLI_OK;
    if (optind >= argc) {
        if (event_read_path("-", &opts, on_event, &t, &st) < 0)
            rc = CLI_FAIL;
    }
    for (int i = optind; i < argc; i++)
        if (event_read_path(argv[i], &opts, on_event, &t, &st) < 0)
            rc = CLI_FAIL;
    if (t.progress)
        show_progress(&t, true);
    if (t.json)
        fputs("]}\n", t.out);
    if (t.count)
        fprintf(t.out, "%llu\n", (unsigned long long)t.matches);
    if (st.bad_file)
        rc = CLI_FAIL;
    /* events the matcher found malformed were delivered by the reader but are
     * bad records, not events: count them once, as bad */
    uint64_t bad = st.bad_json + st.bad_utf8 + st.bad_nul + st.too_big + st.too_deep + st.bad_gzip +
                   t.bad_json;
    if (!quiet)
        fprintf(stderr,
                "keysentry: %llu of %llu events matched (%llu files, %llu bytes, %llu bad "
                "records skipped)\n",
                (unsigned long long)t.matches, (unsigned long long)(st.events - t.bad_json),
                (unsigned long long)st.files, (unsigned long long)st.bytes,
                (unsigned long long)bad);
    if (fflush(t.out) != 0)
        rc = CLI_FAIL;
    pattern_ctx_free(t.ctx);
    pattern_set_free(t.set);
    event_scan_free(t.strict_scan);
    event_scan_plan_free(t.strict_plan);
    return rc;
}
