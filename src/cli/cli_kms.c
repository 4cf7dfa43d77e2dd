/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry kms: the local AWS-KMS-compatible service and its trail.
 *   kms serve         run the service (docs/kms.md)
 *   kms verify-trail  validate a trail directory's digest chain offline
 *
 * serve blocks SIGINT/SIGTERM in every thread before starting any, then
 * waits for them with sigtimedwait on the main thread, which also drives the
 * once-a-second kms_service_tick (pending deletions). On a signal: stop
 * accepting, finish the calls in flight, deliver the trail, exit 0.
 */
#include "cli/cli.h"

#include "kms/kms.h"
#include "kms/kms_server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static const char kms_help[] =
    "usage: keysentry kms <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve          run the local AWS-KMS-compatible key service\n"
    "  verify-trail   check the digest chain, signatures and log file hashes of a trail\n"
    "\n"
    "Run 'keysentry kms <command> --help' for a command's options.\n";

static const char serve_help[] =
    "usage: keysentry kms serve [options]\n"
    "\n"
    "Runs a key service that speaks AWS KMS's JSON 1.1 protocol, verifies every\n"
    "request's SigV4 signature against a principals file, and writes the trail\n"
    "CloudTrail would: one record per call, gzipped Records files in S3 layout,\n"
    "signed hourly digest files. Point any AWS SDK or the AWS CLI at it:\n"
    "\n"
    "  keysentry kms serve --data ./kms-data\n"
    "  export AWS_ACCESS_KEY_ID=<printed at start> AWS_SECRET_ACCESS_KEY=<in the file>\n"
    "  aws --endpoint-url http://127.0.0.1:4599 --region us-east-1 kms create-key\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT      address to listen on (default 127.0.0.1:4599; port 0 picks\n"
    "                          a free port, see --port-file)\n"
    "  --allow-remote          permit a non-loopback --listen address (off: the service\n"
    "                          holds keys and speaks plain HTTP)\n"
    "  --data DIR              keys.db, the root key, principals and trail signing key\n"
    "                          (default ./kms-data, created with mode 0700)\n"
    "  --principals FILE       access keys and identities (JSON, see docs/kms.md); without\n"
    "                          it DIR/principals.json is used, created on first start with\n"
    "                          one admin user (mode 0600; the secret is never printed)\n"
    "  --trail-dir DIR         where AWSLogs/<account>/CloudTrail/... goes\n"
    "                          (default DATA/trail)\n"
    "  --region R              region served and recorded (default us-east-1)\n"
    "  --account A             account id of the keys and the trail (default 111122223333)\n"
    "  --time-scale X          run key-deletion windows X times faster (default 1)\n"
    "  --no-authz              do not evaluate key policies and grants (default: evaluated;\n"
    "                          a denial is AccessDeniedException)\n"
    "  --lenient-aliases       accept aliases where KMS takes only a key id or ARN\n"
    "  --threads N             HTTP worker threads (default: one per CPU)\n"
    "  --trail-flush-ms MS     deliver a log file this long after its first record\n"
    "                          (default 5000)\n"
    "  --trail-max-records N   ... or when it holds N records (default 1000)\n"
    "  --digest-seconds S      digest period (default 3600: on the hour); a final digest\n"
    "                          is written at shutdown\n"
    "  --trail-name NAME       trail name in digest file names (default keysentry)\n"
    "  --trail-bucket NAME     digestS3Bucket (default: the trail directory's name)\n"
    "  --event-version V       eventVersion of the records (default 1.10)\n"
    "  --max-skew S            accepted clock skew in seconds (default 300)\n"
    "  --trail-auth-failures   also record requests that fail SigV4 (CloudTrail does not)\n"
    "  --debug-signatures      add the expected canonical request to signature errors\n"
    "  --port-file FILE        write the bound port to FILE once listening\n"
    "  -h, --help              show this help\n"
    "\n"
    "SIGTERM or SIGINT: stop accepting, finish calls in flight, deliver the trail\n"
    "(nothing is lost), write the final digest, exit 0. Exit 2 on a usage or\n"
    "configuration error, 1 when the service cannot start or the trail cannot be\n"
    "delivered.\n";

static const char verify_help[] =
    "usage: keysentry kms verify-trail --trail-dir DIR --public-key PEM [--bucket NAME]\n"
    "\n"
    "Validates a trail written by 'kms serve' the way 'aws cloudtrail validate-logs'\n"
    "does: each digest's RSA signature (sidecar .meta.json), the hash chain between\n"
    "consecutive digests, and the SHA-256 of every log file they list. Log files no\n"
    "digest lists are reported. The public key is DATA/trail-digest-public.pem.\n"
    "\n"
    "options:\n"
    "  --trail-dir DIR     the directory holding AWSLogs/\n"
    "  --public-key PEM    the digest signing public key\n"
    "  --bucket NAME       expected digestS3Bucket (default: the directory's name)\n"
    "  -q, --quiet         print only the summary\n"
    "\n"
    "Exit status: 0 when everything is valid, 1 when anything is not, 2 on usage.\n";

enum {
    OPT_LISTEN = 256,
    OPT_ALLOW_REMOTE,
    OPT_DATA,
    OPT_PRINCIPALS,
    OPT_TRAIL_DIR,
    OPT_REGION,
    OPT_ACCOUNT,
    OPT_TIME_SCALE,
    OPT_THREADS,
    OPT_FLUSH_MS,
    OPT_MAX_RECORDS,
    OPT_DIGEST_S,
    OPT_TRAIL_NAME,
    OPT_TRAIL_BUCKET,
    OPT_EVENT_VERSION,
    OPT_MAX_SKEW,
    OPT_AUTH_FAILURES,
    OPT_DEBUG_SIG,
    OPT_PORT_FILE,
    OPT_PUBLIC_KEY,
    OPT_BUCKET,
    OPT_NO_AUTHZ,
    OPT_LENIENT_ALIASES,
};

static int serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
        {"data", required_argument, NULL, OPT_DATA},
        {"principals", required_argument, NULL, OPT_PRINCIPALS},
        {"trail-dir", required_argument, NULL, OPT_TRAIL_DIR},
        {"region", required_argument, NULL, OPT_REGION},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"trail-flush-ms", required_argument, NULL, OPT_FLUSH_MS},
        {"trail-max-records", required_argument, NULL, OPT_MAX_RECORDS},
        {"digest-seconds", required_argument, NULL, OPT_DIGEST_S},
        {"trail-name", required_argument, NULL, OPT_TRAIL_NAME},
        {"trail-bucket", required_argument, NULL, OPT_TRAIL_BUCKET},
        {"event-version", required_argument, NULL, OPT_EVENT_VERSION},
        {"max-skew", required_argument, NULL, OPT_MAX_SKEW},
        {"trail-auth-failures", no_argument, NULL, OPT_AUTH_FAILURES},
        {"debug-signatures", no_argument, NULL, OPT_DEBUG_SIG},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"no-authz", no_argument, NULL, OPT_NO_AUTHZ},
        {"lenient-aliases", no_argument, NULL, OPT_LENIENT_ALIASES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = KMS_DEFAULT_LISTEN, *data = "kms-data", *principals_path = NULL;
    const char *trail_dir = NULL, *region = "us-east-1", *account = "111122223333";
    const char *trail_name = NULL, *trail_bucket = NULL, *event_version = NULL;
    const char *port_file = NULL;
    double time_scale = 1.0;
    uint64_t threads = 0, flush_ms = KMS_DEFAULT_FLUSH_MS, max_records = KMS_DEFAULT_MAX_RECORDS;
    uint64_t digest_s = KMS_DEFAULT_DIGEST_S, max_skew = SIGV4_DEFAULT_MAX_SKEW;
    bool allow_remote = false, auth_failures = false, debug_sig = false;
    bool authz_off = false, lenient_aliases = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_ALLOW_REMOTE:
            allow_remote = true;
            break;
        case OPT_DATA:
            data = optarg;
            break;
        case OPT_PRINCIPALS:
            principals_path = optarg;
            break;
        case OPT_TRAIL_DIR:
            trail_dir = optarg;
            break;
        case OPT_REGION:
            region = optarg;
            break;
        case OPT_ACCOUNT:
            account = optarg;
            break;
        case OPT_TIME_SCALE: {
            char *end = NULL;
            time_scale = strtod(optarg, &end);
            if (!end || *end || !(time_scale >= 1e-3 && time_scale <= 1e9)) {
                cli_error("--time-scale wants a number between 0.001 and 1e9, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        }
        case OPT_THREADS:
            if (!cli_parse_u64(optarg, 256, &threads) || threads == 0) {
                cli_error("--threads wants 1..256, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_FLUSH_MS:
            if (!cli_parse_u64(optarg, 3600000, &flush_ms) || flush_ms == 0) {
                cli_error("--trail-flush-ms wants 1..3600000, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_MAX_RECORDS:
            if (!cli_parse_u64(optarg, 1000000, &max_records) || max_records == 0) {
                cli_error("--trail-max-records wants 1..1000000, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_DIGEST_S:
            if (!cli_parse_u64(optarg, 86400, &digest_s) || digest_s == 0) {
                cli_error("--digest-seconds wants 1..86400, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_TRAIL_NAME:
            trail_name = optarg;
            break;
        case OPT_TRAIL_BUCKET:
            trail_bucket = optarg;
            break;
        case OPT_EVENT_VERSION:
            if (strcmp(optarg, "1.08") && strcmp(optarg, "1.09") && strcmp(optarg, "1.10")) {
                cli_error("--event-version is one of 1.08, 1.09, 1.10, not '%s'", optarg);
                return CLI_USAGE;
            }
            event_version = optarg;
            break;
        case OPT_MAX_SKEW:
            if (!cli_parse_u64(optarg, 86400, &max_skew) || max_skew == 0) {
                cli_error("--max-skew wants 1..86400 seconds, not '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_AUTH_FAILURES:
            auth_failures = true;
            break;
        case OPT_DEBUG_SIG:
            debug_sig = true;
            break;
        case OPT_PORT_FILE:
            port_file = optarg;
            break;
        case OPT_NO_AUTHZ:
            authz_off = true;
            break;
        case OPT_LENIENT_ALIASES:
            lenient_aliases = true;
            break;
        case 'h':
            fputs(serve_help, stdout);
            return CLI_OK;
        default:
            fputs("Run 'keysentry kms serve --help' for usage.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("kms serve takes no arguments ('%s'); see --help", argv[optind]);
        return CLI_USAGE;
    }
    if (strlen(data) > 3000 || (trail_dir && strlen(trail_dir) > 3000)) {
        cli_error("path too long");
        return CLI_USAGE;
    }

    /* Signals are blocked before any thread starts, so every thread
     * inherits the mask and only sigtimedwait below sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = CLI_FAIL;
    struct ks_diag d;
    ks_diag_clear(&d);
    struct kms_host_options ho = {
        .data_dir = data,
        .principals_path = principals_path,
        .trail_dir = trail_dir,
        .listen = listen,
        .allow_remote = allow_remote,
        .threads = (unsigned)threads,
        .region = region,
        .account = account,
        .time_scale = time_scale,
        .authz_off = authz_off,
        .lenient_aliases = lenient_aliases,
        .flush_ms = (unsigned)flush_ms,
        .max_records = (size_t)max_records,
        .digest_s = (unsigned)digest_s,
        .trail_name = trail_name,
        .trail_bucket = trail_bucket,
        .event_version = event_version,
        .max_skew = (int64_t)max_skew,
        .trail_auth_failures = auth_failures,
        .debug_signatures = debug_sig,
    };
    struct kms_host *host = NULL;
    if (kms_host_open(&ho, &host, &d) != KS_OK) {
        cli_error("%s", d.msg);
        return d.err == KS_E_INVALID ? CLI_USAGE : CLI_FAIL;
    }
    uint16_t port = kms_host_port(host);
    fprintf(stderr,
            "keysentry: kms listening on %s (port %u), region %s, account %s\n"
            "keysentry:   principals %s (%zu keys); trail %s\n",
            listen, (unsigned)port, region, account, kms_host_principals_path(host),
            kms_host_principals(host)->n, kms_host_trail_dir(host));
    if (port_file) {
        FILE *pf = fopen(port_file, "w");
        if (!pf || fprintf(pf, "%u\n", (unsigned)port) < 0 || fclose(pf) != 0) {
            cli_error("cannot write '%s'", port_file);
            (void)kms_host_close(host, 0, NULL);
            return CLI_FAIL;
        }
    }

    for (;;) {
        struct timespec one = {1, 0};
        int sig = sigtimedwait(&sigs, NULL, &one);
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "keysentry: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        kms_host_tick(host, cli_now_ms());
    }
    struct kms_server_stats ss;
    rc = kms_host_close(host, 10000, &ss) == KS_OK ? CLI_OK : CLI_FAIL;
    fprintf(stderr,
            "keysentry: kms stopped: %llu requests, %llu errors, %llu auth failures, "
            "%llu recorded\n",
            (unsigned long long)ss.requests, (unsigned long long)ss.errors,
            (unsigned long long)ss.auth_failures, (unsigned long long)ss.recorded);
    return rc;
}

static int verify_trail(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trail-dir", required_argument, NULL, OPT_TRAIL_DIR},
        {"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
        {"bucket", required_argument, NULL, OPT_BUCKET},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *key = NULL, *bucket = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TRAIL_DIR:
            dir = optarg;
            break;
        case OPT_PUBLIC_KEY:
            key = optarg;
            break;
        case OPT_BUCKET:
            bucket = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(verify_help, stdout);
            return CLI_OK;
        default:
            fputs("Run 'keysentry kms verify-trail --help' for usage.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (!dir || !key || optind < argc) {
        cli_error("verify-trail needs --trail-dir and --public-key; see --help");
        return CLI_USAGE;
    }
    FILE *out = stdout;
    FILE *devnull = NULL;
    if (quiet) {
        devnull = fopen("/dev/null", "w");
        if (devnull)
            out = devnull;
    }
    struct kms_trail_verify_report rep;
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err e = kms_trail_verify(dir, bucket, key, out, &rep, &d);
    if (devnull)
        fclose(devnull);
    printf("%zu/%zu digest files valid, %zu/%zu log files valid, %zu records, "
           "%zu uncovered log files, %zu chain%s\n",
           rep.digests_valid, rep.digests, rep.logs_valid, rep.logs, rep.records, rep.uncovered,
           rep.chains, rep.chains == 1 ? "" : "s");
    if (e == KS_OK)
        return CLI_OK;
    if (e != KS_E_INVALID)
        cli_error("%s", d.msg);
    return CLI_FAIL;
}

int cli_kms(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(kms_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "serve"))
        return serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify-trail"))
        return verify_trail(argc - 1, argv + 1);
    cli_error("'%s' is not a kms command; see 'keysentry kms --help'", argv[1]);
    return CLI_USAGE;
}
