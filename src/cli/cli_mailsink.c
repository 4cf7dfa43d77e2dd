/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry mailsink: the embedded SMTP receiver (src/mailsink) in the
 * foreground, one line per message on stdout. For trying the lab by hand
 * without a mail server; `keysentry demo` embeds the same module.
 *
 * SIGINT/SIGTERM are blocked in every thread before the sink thread starts
 * and waited for with sigtimedwait on the main thread, so the sink thread
 * never runs a handler and shutdown is an ordinary mailsink_stop.
 */
#include "cli/cli.h"

#include "mailsink/mailsink.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>

static const char mailsink_help[] =
    "usage: keysentry mailsink [options]\n"
    "\n"
    "Runs a small SMTP server on this machine that accepts every message sent to\n"
    "it and prints one line per message: when it arrived, the envelope sender and\n"
    "recipients, and the decoded Subject. It delivers nothing anywhere. Use it to\n"
    "see the alarm e-mails keysentry sends without a real mail server:\n"
    "\n"
    "  keysentry mailsink --dir ./mail &\n"
    "  KEYSENTRY_SMTP_URL=smtp://127.0.0.1:2525 keysentry serve -c examples/lab/monitoring.yaml "
    "...\n"
    "\n"
    "Any SMTP client works too, e.g. curl:\n"
    "\n"
    "  printf 'Subject: hello\\r\\n\\r\\nbody\\r\\n' | curl -sS smtp://127.0.0.1:2525 \\\n"
    "      --mail-from me@example.com --mail-rcpt you@example.com -T -\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT    address to listen on (default 127.0.0.1:2525; port 0 picks\n"
    "                        a free port, see --port-file; IPv6 as [::1]:2525)\n"
    "  --allow-remote        permit a non-loopback address (off: anyone who reaches it\n"
    "                        could fill your disk and your terminal)\n"
    "  --dir DIR             also keep each message as DIR/new/<time>.<pid>.<n>.eml, a\n"
    "                        Maildir-like folder (created 0700; files 0600, written to\n"
    "                        DIR/tmp and renamed, so DIR/new only ever holds whole files);\n"
    "                        mutt -f DIR reads it\n"
    "  --max-message-size N  bytes per message (default 10485760); larger ones get 552\n"
    "  --idle-timeout S      seconds a silent client may stay connected (default 60)\n"
    "  --count N             exit 0 after N messages (scripts and tests)\n"
    "  --port-file FILE      write the bound port to FILE once listening\n"
    "  -h, --help            this text\n"
    "\n"
    "Output, one line per accepted message (the subject as a JSON string):\n"
    "  2026-11-26T10:02:05.123Z from=<keysentry@localhost> to=<sec@example.com> "
    "subject=\"ALARM: ...\"\n"
    "\n"
    "It speaks plain SMTP only (no STARTTLS, no AUTH): keysentry's notifier uses\n"
    "STARTTLS opportunistically, so it sends in clear here, which is fine on loopback.\n"
    "Stop it with Ctrl-C. See docs/mailsink.md.\n";

static void print_message(void *ud, const struct mailsink_message *m)
{
    (void)ud;
    time_t secs = (time_t)(m->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    /* addresses hold no control bytes (the sink refuses them), so they print as is */
    printf("%s.%03dZ from=<%s> to=", when, (int)(m->time_ms % 1000), m->from);
    for (size_t i = 0; i < m->n_rcpt; i++)
        printf("%s<%s>", i ? "," : "", m->rcpt[i]);
    fputs(" subject=", stdout);
    if (m->subject)
        cli_json_string(stdout, m->subject, strlen(m->subject));
    else
        fputs("null", stdout);
    putchar('\n');
    fflush(stdout);
}

/* "HOST:PORT", "[v6]:PORT" or ":PORT"; host points into buf. */
static bool parse_listen(const char *arg, char *buf, size_t bufsz, const char **host,
                         uint16_t *port)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= bufsz)
        return false;
    const char *h = arg;
    size_t hlen = (size_t)(colon - arg);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    memcpy(buf, h, hlen);
    buf[hlen] = '\0';
    *host = hlen ? buf : "127.0.0.1";
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p > 65535 || colon[1] == '-')
        return false;
    *port = (uint16_t)p;
    return true;
}

int cli_mailsink(int argc, char **argv)
{
    enum { OPT_LISTEN = 256, OPT_REMOTE, OPT_DIR, OPT_MAX, OPT_IDLE, OPT_COUNT, OPT_PORT_FILE };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"allow-remote", no_argument, NULL, OPT_REMOTE},
        {"dir", required_argument, NULL, OPT_DIR},
        {"max-message-size", required_argument, NULL, OPT_MAX},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct mailsink_options o;
    memset(&o, 0, sizeof(o));
    char hostbuf[128];
    const char *listen = "127.0.0.1:2525", *port_file = NULL;
    uint64_t count = 0, v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_REMOTE:
            o.allow_remote = true;
            break;
        case OPT_DIR:
            o.dir = optarg;
            break;
        case OPT_MAX:
            if (!cli_parse_u64(optarg, 1u << 30, &v) || !v) {
                cli_error("--max-message-size wants bytes between 1 and 1073741824");
                return CLI_USAGE;
            }
            o.max_message_bytes = (size_t)v;
            break;
        case OPT_IDLE:
            if (!cli_parse_u64(optarg, 86400, &v) || !v) {
                cli_error("--idle-timeout wants seconds between 1 and 86400");
                return CLI_USAGE;
            }
            o.idle_timeout_ms = (int)v * 1000;
            break;
        case OPT_COUNT:
            if (!cli_parse_u64(optarg, UINT64_MAX, &count)) {
                cli_error("--count wants a number of messages");
                return CLI_USAGE;
            }
            break;
        case OPT_PORT_FILE:
            port_file = optarg;
            break;
        case 'h':
            fputs(mailsink_help, stdout);
            return CLI_OK;
        default:
            fputs("see 'keysentry mailsink --help'\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("mailsink takes no arguments ('%s'); see --help", argv[optind]);
        return CLI_USAGE;
    }
    if (!parse_listen(listen, hostbuf, sizeof(hostbuf), &o.address, &o.port)) {
        cli_error("--listen wants HOST:PORT (e.g. 127.0.0.1:2525), not '%s'", listen);
        return CLI_USAGE;
    }
    o.on_message = print_message;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct mailsink *sink;
    struct ks_diag d;
    if (mailsink_start(&o, &sink, &d) != KS_OK) {
        cli_error("%s", d.msg);
        return d.err == KS_E_INVALID ? CLI_USAGE : CLI_FAIL;
    }
    bool v6 = strchr(o.address, ':') != NULL;
    fprintf(stderr, "keysentry: mailsink listening on smtp://%s%s%s:%u\n", v6 ? "[" : "", o.address,
            v6 ? "]" : "", (unsigned)mailsink_port(sink));
    if (o.dir)
        fprintf(stderr, "keysentry: messages are also written to %s/new\n", o.dir);
    if (port_file) {
        FILE *pf = fopen(port_file, "w");
        if (!pf || fprintf(pf, "%u\n", (unsigned)mailsink_port(sink)) < 0 || fclose(pf)) {
            cli_error("cannot write '%s'", port_file);
            mailsink_stop(sink);
            return CLI_FAIL;
        }
    }
    const struct timespec tick = {0, 200 * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (count && mailsink_count(sink) >= count)
            break;
    }
    struct mailsink_stats st;
    mailsink_stats(sink, &st);
    mailsink_stop(sink);
    fprintf(stderr, "keysentry: mailsink stopped: %llu messages, %llu rejected, %llu connections\n",
            (unsigned long long)st.messages, (unsigned long long)st.rejected,
            (unsigned long long)st.connections);
    return CLI_OK;
}
