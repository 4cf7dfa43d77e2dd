/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry serve: the template's filters and alarms, live, on the wall clock
 * (docs/serve.md). The main loop polls the sources, ticks the engine every
 * SERVE_TICK_MS and checkpoints every SERVE_CHECKPOINT_MS; the HTTP listener
 * runs on its own thread.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "http/http.h"
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SERVE_TICK_MS       100
#define SERVE_POLL_MS       250
#define SERVE_CHECKPOINT_MS 1000
#define SERVE_POLL_BUDGET   (64u << 20) /* bytes read from tails per poll */

static const char help[] =
    "usage: keysentry serve -c TEMPLATE [options]\n"
    "\n"
    "Runs a template's metric filters and alarms continuously on the wall clock,\n"
    "with an AWS-compatible HTTP API (logs, cloudwatch), a JSON API, Prometheus\n"
    "/metrics and /healthz. See docs/serve.md.\n"
    "\n"
    "options:\n"
    "  -c, --template FILE   CloudFormation template (YAML or JSON), required\n"
    "  --param K=V           set template parameter K (repeatable)\n"
    "  --stack-name N        AWS::StackName (default: template file name)\n"
    "  --listen HOST:PORT    HTTP listener (default 127.0.0.1:4580; port 0 = any)\n"
    "  --token T             require Authorization: Bearer T (needed off loopback)\n"
    "  --data DIR            keep metrics, alarm states and tail positions in\n"
    "                        DIR/keysentry.db (restart resumes; default: none)\n"
    "  --tail DIR            follow archives and NDJSON files under DIR (repeatable)\n"
    "  --stdin               read NDJSON events from standard input\n"
    "  --ready-file FILE     write HOST:PORT to FILE once listening\n"
    "  --dry-run             responses decide and record but call nothing\n"
    "  --no-actions          neither notify nor respond (alarms still change state)\n"
    "  --respond-trail PATH  append keysentry's own CloudTrail-format record of each\n"
    "                        response to PATH (a file, or a directory for daily files)\n"
    "  -q, --quiet           no log lines on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Template sources: Keysentry::Source {Type: Directory, Path: DIR} or\n"
    "{Type: Stdin}. Early fire: Keysentry::AlarmOptions {AlarmName: !Ref A,\n"
    "EarlyFire: true}. A Keysentry::KmsService resource runs the local KMS\n"
    "service in this process: its calls reach the filters within milliseconds\n"
    "and responses act on it. Alarm actions (SNS topics, Keysentry::Response::*)\n"
    "are delivered from a durable outbox (docs/notifications.md).\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct stdin_src {
    int source;
    char *buf;
    size_t len;
    bool skipping, eof;
    uint64_t offset;
};

/* Reads what stdin has without blocking and ingests complete lines. */
static void poll_stdin(struct serve_engine *e, struct stdin_src *s)
{
    struct pollfd pfd = {0, POLLIN, 0};
    for (int rounds = 0; rounds < 64 && !s->eof; rounds++) {
        if (poll(&pfd, 1, 0) <= 0)
            return;
        ssize_t n = read(0, s->buf + s->len, KS_MAX_EVENT_BYTES + 1 - s->len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            s->eof = true;
            return;
        }
        s->len += (size_t)n;
        size_t start = 0;
        int64_t t = cli_now_ms();
        for (size_t i = 0; i < s->len; i++) {
            if (s->buf[i] != '\n')
                continue;
            if (!s->skipping && i > start)
                serve_engine_ingest(e, s->source, s->buf + start, i - start, INT64_MIN, NULL, "-",
                                    s->offset + start, t);
            s->skipping = false;
            start = i + 1;
        }
        if (start == 0 && s->len == KS_MAX_EVENT_BYTES + 1) {
            /* over the event cap: drop it up to its newline */
            if (!s->skipping)
                serve_engine_bad(e, s->source, 1);
            s->skipping = true;
            start = s->len;
        }
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
        s->offset += start;
    }
}

static int add_template_sources(struct serve_engine *e, const struct config_template *t,
                                bool *want_stdin)
{
    for (size_t i = 0; i < t->n_customs; i++) {
        const struct config_custom *c = &t->customs[i];
        if (strcmp(c->res.type, "Keysentry::Source"))
            continue;
        const char *type = json_string_value(json_object_get(c->properties, "Type"));
        const char *path = json_string_value(json_object_get(c->properties, "Path"));
        const char *group = json_string_value(json_object_get(c->properties, "LogGroupName"));
        if (type && !strcmp(type, "Stdin")) {
            *want_stdin = true;
        } else if (type && !strcmp(type, "Directory") && path) {
            if (serve_engine_add_tail(e, path, group) < 0) {
                cli_error("Resources.%s: cannot follow '%s': %s", c->res.logical_id, path,
                          strerror(errno));
                return -1;
            }
        } else {
            cli_error("Resources.%s: Keysentry::Source needs Type Directory (with Path) or Stdin",
                      c->res.logical_id);
            return -1;
        }
    }
    return 0;
}

int cli_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"template", required_argument, NULL, 'c'},
        {"param", required_argument, NULL, 'p'},
        {"stack-name", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, 'l'},
        {"token", required_argument, NULL, 'T'},
        {"data", required_argument, NULL, 'D'},
        {"tail", required_argument, NULL, 't'},
        {"stdin", no_argument, NULL, 'i'},
        {"ready-file", required_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'n'},
        {"no-actions", no_argument, NULL, 'N'},
        {"respond-trail", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tpl_path = NULL, *data = NULL, *ready = NULL;
    struct http_options hopts;
    memset(&hopts, 0, sizeof(hopts));
    struct config_options copts;
    memset(&copts, 0, sizeof(copts));
    const char **params = ks_xcalloc((size_t)argc + 1, sizeof(char *));
    const char **tails = ks_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t ntails = 0;
    bool want_stdin = false, quiet = false;
    struct cli_serve_side side;
    memset(&side, 0, sizeof(side));
    int c, rc = CLI_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            tpl_path = optarg;
            break;
        case 'l':
            hopts.listen = optarg;
            break;
        case 'T':
            hopts.token = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 't':
            tails[ntails++] = optarg;
            break;
        case 'i':
            want_stdin = true;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            side.dry_run = true;
            break;
        case 'N':
            side.no_actions = true;
            break;
        case 'j':
            side.respond_trail = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            goto early;
        default: {
            int t = cli_template_option(c, optarg, &copts, params);
            if (t > 0)
                break;
            if (t == 0)
                fputs("Run 'keysentry serve --help' for usage.\n", stderr);
            rc = CLI_USAGE;
            goto early;
        }
        }
    }
    if (!tpl_path || optind < argc) {
        cli_error(!tpl_path ? "serve needs a template: -c TEMPLATE"
                            : "serve takes no PATH arguments; use --tail DIR");
        rc = CLI_USAGE;
        goto early;
    }
    struct stat rst;
    if (ready && lstat(ready, &rst) == 0 && !S_ISREG(rst.st_mode)) {
        /* it is replaced by rename: never a device, a directory or a link */
        cli_error("--ready-file '%s' exists and is not a regular file", ready);
        rc = CLI_USAGE;
        goto early;
    }
    copts.params = params;
    hopts.quiet = quiet;
    struct config_template *tpl = NULL;
    if (cli_load_template(tpl_path, &copts, &tpl) != 0) {
        rc = CLI_USAGE;
        goto early;
    }
    struct ks_buf dbp;
    ks_buf_init(&dbp, 8192);
    if (data) {
        if (mkdir(data, 0700) != 0 && errno != EEXIST) {
            cli_error("cannot create '%s': %s", data, strerror(errno));
            rc = CLI_FAIL;
            goto out_tpl;
        }
        if (ks_buf_addf(&dbp, "%s/keysentry.db", data) != KS_OK) {
            cli_error("--data path too long");
            rc = CLI_USAGE;
            goto out_tpl;
        }
    }
    struct serve_options sopts = {.db_path = data ? dbp.data : NULL, .quiet = quiet};
    struct serve_engine *e = NULL;
    struct http_server *srv = NULL;
    struct stdin_src sin = {.source = -1};
    bool stopping = false;
    struct ks_diag d;
    ks_diag_clear(&d);
    if (serve_engine_new(tpl, &sopts, cli_now_ms(), &e, &d) != KS_OK) {
        cli_error("%s: %s", tpl_path, d.msg);
        rc = d.err == KS_E_IO ? CLI_FAIL : CLI_USAGE;
        goto out_tpl;
    }
    const char *group = tpl->n_log_groups ? tpl->log_groups[0].name : "";
    for (size_t i = 0; i < ntails; i++) {
        if (serve_engine_add_tail(e, tails[i], group) < 0) {
            cli_error("cannot follow '%s': %s", tails[i], strerror(errno));
            rc = CLI_USAGE;
            goto out;
        }
    }
    if (add_template_sources(e, tpl, &want_stdin) != 0) {
        rc = CLI_USAGE;
        goto out;
    }
    if (want_stdin) {
        sin.source = serve_engine_add_source(e, "stdin", SERVE_SOURCE_STDIN, group);
        sin.buf = ks_xmalloc(KS_MAX_EVENT_BYTES + 1);
    }
    if (http_server_start(e, &hopts, &srv, &d) != KS_OK) {
        cli_error("%s", d.msg);
        rc = d.err == KS_E_INVALID ? CLI_USAGE : CLI_FAIL;
        goto out;
    }
    char where[300];
    snprintf(where, sizeof(where), "%.*s:%u",
             (int)(strrchr(hopts.listen ? hopts.listen : "127.0.0.1:4580", ':') -
                   (hopts.listen ? hopts.listen : "127.0.0.1:4580")),
             hopts.listen ? hopts.listen : "127.0.0.1:4580", http_server_port(srv));
    if (!quiet)
        fprintf(stderr, "level=info comp=serve msg=\"listening on http://%s\"\n", where);
    side.quiet = quiet;
    snprintf(side.public_url, sizeof(side.public_url), "http://%s", where);
    if (cli_serve_side_start(&side, tpl, e, data, group) != 0) {
        rc = CLI_FAIL;
        goto out;
    }
    if (side.hub)
        http_server_set_hub(srv, side.hub);
    if (ready) {
        /* write then rename, so a reader never sees half a line */
        struct ks_buf tmp;
        ks_buf_init(&tmp, 8192);
        FILE *f = NULL;
        if (ks_buf_addf(&tmp, "%s.tmp", ready) == KS_OK && (f = fopen(tmp.data, "w")) != NULL) {
            fprintf(f, "%s\n", where);
            if (fclose(f) == 0)
                rename(tmp.data, ready);
        }
        ks_buf_release(&tmp);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t next_poll = 0, next_cp = cli_now_ms() + SERVE_CHECKPOINT_MS;
    bool tail_news = false;
    while (!stop_flag) {
        int64_t t = cli_now_ms();
        if (tail_news || t >= next_poll) {
            serve_engine_poll_tails(e, t, SERVE_POLL_BUDGET);
            next_poll = t + SERVE_POLL_MS;
        }
        if (sin.source >= 0)
            poll_stdin(e, &sin);
        serve_engine_tick(e, cli_now_ms());
        cli_serve_side_tick(&side, cli_now_ms());
        if (cli_now_ms() >= next_cp) {
            if (serve_engine_checkpoint(e, &d) != KS_OK)
                cli_error("checkpoint failed: %s", d.msg);
            next_cp = cli_now_ms() + SERVE_CHECKPOINT_MS;
        }
        /* inotify wakes the loop as soon as a tailed file changes */
        tail_news = serve_engine_tail_wait(e, SERVE_TICK_MS) > 0;
    }
    stopping = true;
out:
    if (srv)
        http_server_set_hub(srv, NULL);
    http_server_stop(srv);
    /* the hub's workers and the KMS service still report into the engine */
    if (cli_serve_side_stop(&side) != 0)
        rc = CLI_FAIL;
    if (stopping && serve_engine_checkpoint(e, &d) != KS_OK) {
        cli_error("final checkpoint failed: %s", d.msg);
        rc = CLI_FAIL;
    }
    serve_engine_free(e);
    free(sin.buf);
out_tpl:
    ks_buf_release(&dbp);
    config_template_free(tpl);
early:
    free(params);
    free(tails);
    return rc;
}
