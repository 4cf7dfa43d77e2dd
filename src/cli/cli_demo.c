/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry demo: the lab end to end on this machine, nothing to configure
 * (docs/demo.md). The demo is an orchestrator around real components, each
 * used the way a user would use it:
 *
 *   mail sink (in this process) <-SMTP-- keysentry serve (child process)
 *                                          | Keysentry::KmsService in-process
 *   lab app (node, child) --SigV4/KMS------+ <-- the demo's own SigV4 client
 *
 * It drives the lab's traffic (normal encrypt/decrypt, decrypts with the
 * wrong key, a Decrypt burst), and measures what the lab is about: how long
 * from the KMS call to the e-mail, and to the key being disabled.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "mailsink/mailsink.h"
#include "respond/respond.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
extern const char cli_demo_template[]; /* examples/lab/live.yaml, embedded */
extern const size_t cli_demo_template_len;

#define DEMO_REGION   "us-east-1"
#define DEMO_ACCOUNT  "111122223333"
#define DEMO_APP_ROLE "arn:aws:iam::" DEMO_ACCOUNT ":role/App-ECSTaskRole"
#define DEMO_EMAIL    "security-team@example.com"
#define DEMO_WAIT_MS  30000 /* the longest any one step may take */

static const char help[] =
    "usage: keysentry demo [options]\n"
    "\n"
    "Runs the AWS lab \"Autonomous Monitoring Of Cryptographic Activity With KMS\"\n"
    "end to end on this machine: a local KMS service, the lab's app, keysentry\n"
    "serve with the lab's template (examples/lab/live.yaml, built in) and a local\n"
    "SMTP server. It drives normal traffic, then the lab's failure (decrypts with\n"
    "the wrong key), then a Decrypt burst by the app's role, and shows each alarm,\n"
    "the e-mail, the key being disabled by the automated response, and how long\n"
    "each took from the KMS call.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT  the dashboard and APIs (default 127.0.0.1:4580; port 0 = any)\n"
    "  --keep              stay up after the story (Ctrl-C stops); look around in the\n"
    "                      dashboard, or point the AWS CLI at the printed endpoints\n"
    "  --dir DIR           keep every file (template, principals, logs, trail, mail)\n"
    "                      in DIR (default: a temporary directory, removed at exit)\n"
    "  --app DIR           the lab app (default: examples/lab/app beside the binary's\n"
    "                      source tree); its npm packages must be installed\n"
    "  --no-app            drive the KMS service directly, without the Node.js app\n"
    "  --burst N           Decrypt calls in the burst (default 30)\n"
    "  --threshold N       the burst alarm's threshold per 10 s (default 20)\n"
    "  --no-early-fire     alarms change state at the period's end, as CloudWatch's do\n"
    "                      (default: the moment the running count crosses)\n"
    "  --json              print one JSON summary line on stdout (for benchmarks)\n"
    "  -q, --quiet         only the summary\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0 when every step of the story happened, 1 when one did not\n"
    "(the message says which, the logs are kept), 2 on a usage error.\n";

static volatile sig_atomic_t demo_stop;

static void on_signal(int sig)
{
    (void)sig;
    demo_stop = 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct demo {
    bool quiet, json, keep, use_app, no_early;
    const char *listen, *app_dir_opt;
    unsigned burst, threshold;
    char dir[3000];
    bool own_dir;
    char self[4096];
    struct mailsink *sink;
    pid_t serve_pid, app_pid;
    char api[320];
    char kms_url[64], app_url[64];
    char app_dir[4096];
    struct respond_creds admin, app;
    char key1[128], key2[128]; /* KeyIds */
    char key1_arn[256];
    /* results */
    int64_t lab_email_ms, burst_email_ms, disable_ms; /* latencies; -1 = not seen */
    char lab_subject[256], burst_subject[256];
};

static void say(const struct demo *d, const char *fmt, ...) KS_PRINTF(2, 3);
static void say(const struct demo *d, const char *fmt, ...)
{
    if (d->quiet || d->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- small tools ---------------------------------------------------------- */

static int write_file(const char *p, const char *data, size_t len, mode_t mode)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

static void rand_text(char *out, size_t n, const char *alphabet)
{
    unsigned char r[64];
    size_t al = strlen(alphabet);
    if (RAND_bytes(r, (int)sizeof(r)) != 1)
        abort(); /* no randomness: no credentials worth having */
    for (size_t i = 0; i + 1 < n && i < sizeof(r); i++)
        out[i] = alphabet[r[i] % al];
    out[n - 1 < sizeof(r) ? n - 1 : sizeof(r)] = '\0';
}

/* A free loopback port, for children that must be told theirs. */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static char **dup_list(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **out = ks_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = ks_xstrdup(v[i]);
    return out;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++) {
        explicit_bzero(v[i], strlen(v[i])); /* environments carry secrets */
        free(v[i]);
    }
    free(v);
}

/* Whether 127.0.0.1:port can be bound now (the default dashboard port). */
static bool port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Starts argv[0] with env, output to log; never through a shell. */
static pid_t spawn(const char *const *args, char *const *env, const char *log)
{
    char **argv = dup_list(args);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free_list(argv);
    return rc == 0 ? pid : -1;
}

static void stop_child(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) { /* 30 s (valgrind's leak check is slow), then SIGKILL */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static bool alive(pid_t pid)
{
    return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

/* The environment plus extra "K=V" entries, all copied (free_list). */
static char **env_with(const char *const *extra, size_t n)
{
    size_t m = 0;
    while (environ[m])
        m++;
    char **e = ks_xcalloc(m + n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        bool overridden = false;
        for (size_t j = 0; j < n && !overridden; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t kl = eq ? (size_t)(eq - extra[j]) + 1 : strlen(extra[j]);
            overridden = !strncmp(environ[i], extra[j], kl);
        }
        if (!overridden)
            e[k++] = ks_xstrdup(environ[i]);
    }
    for (size_t j = 0; j < n; j++)
        e[k++] = ks_xstrdup(extra[j]);
    return e;
}

/* ---- HTTP (the app, serve's JSON API) -------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return ks_buf_add(ud, p, size * n) == KS_OK ? size * n : 0;
}

/* GET (body NULL) or POST JSON; returns the HTTP status, 0 on transport error. */
static long http(const char *url, const char *body, struct ks_buf *out)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    ks_buf_reset(out);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

/* ---- KMS, as a client ---------------------------------------------------- */

/* One KMS call; returns 0 ok, else the error code in err (e.g.
 * "IncorrectKeyException"). out (may be NULL) gets the reply document. */
static int kms(struct demo *d, const struct respond_creds *who, const char *op, json_t *params,
               char *err, size_t errn, json_t **out)
{
    char ep[128];
    snprintf(ep, sizeof(ep), "KEYSENTRY_ENDPOINT_URL_KMS=%s", d->kms_url);
    const char *env[] = {ep, NULL};
    struct respond_aws_target t = {.svc = RESPOND_SVC_KMS,
                                   .region = DEMO_REGION,
                                   .creds = who,
                                   .timeout_s = 10,
                                   .env = env,
                                   .now_s = cli_now_ms() / 1000};
    struct respond_aws_reply rep;
    respond_aws_reply_init(&rep);
    respond_aws_call(&t, op, params, &rep);
    json_decref(params);
    int rc = rep.status == 0 ? 0 : -1;
    if (rc)
        snprintf(err, errn, "%s", rep.error_code);
    if (!rc && out)
        *out = json_loadb(rep.body.data, rep.body.len, 0, NULL);
    respond_aws_reply_release(&rep);
    return rc;
}

static int create_key(struct demo *d, const char *desc, char *id, size_t n, char *arn, size_t an)
{
    char err[128];
    json_t *r = NULL;
    if (kms(d, &d->admin, "CreateKey", json_pack("{s:s}", "Description", desc), err, sizeof(err),
            &r) != 0) {
        cli_error("demo: CreateKey failed: %s", err);
        return -1;
    }
    json_t *md = json_object_get(r, "KeyMetadata");
    snprintf(id, n, "%s", json_string_value(json_object_get(md, "KeyId")) ?: "");
    if (arn)
        snprintf(arn, an, "%s", json_string_value(json_object_get(md, "Arn")) ?: "");
    json_decref(r);
    return id[0] ? 0 : -1;
}

static char ciphertext[8192]; /* the app role's encrypted record, base64 */

/* The app role decrypts the stored ciphertext; key "" = let KMS pick. */
static int app_decrypt(struct demo *d, const char *key, char *err, size_t errn)
{
    if (d->use_app) {
        struct ks_buf b;
        ks_buf_init(&b, 1u << 20);
        char url[128], body[300];
        snprintf(url, sizeof(url), "%s/decrypt", d->app_url);
        snprintf(body, sizeof(body), "{\"Name\":\"customer-1\",\"Key\":\"%s\"}",
                 *key ? key : d->key1);
        long st = http(url, body, &b);
        ks_buf_release(&b);
        snprintf(err, errn, "%s", st == 200 ? "" : st ? "app answered HTTP 400" : "app down");
        return st == 200 ? 0 : -1;
    }
    json_t *p = json_pack("{s:s}", "CiphertextBlob", ciphertext);
    if (*key)
        json_object_set_new(p, "KeyId", json_string(key));
    return kms(d, &d->app, "Decrypt", p, err, errn, NULL);
}

static int app_encrypt(struct demo *d, int i)
{
    char err[128];
    if (d->use_app) {
        struct ks_buf b;
        ks_buf_init(&b, 1u << 20);
        char url[128], body[200];
        snprintf(url, sizeof(url), "%s/encrypt", d->app_url);
        snprintf(body, sizeof(body), "{\"Name\":\"customer-%d\",\"Text\":\"card 4111-%04d\"}", i,
                 i);
        long st = http(url, body, &b);
        ks_buf_release(&b);
        return st == 200 ? 0 : -1;
    }
    json_t *r = NULL;
    char pt[64];
    snprintf(pt, sizeof(pt), "Y2FyZCA0MTEx%04d", i); /* base64-ish bytes; KMS only sees data */
    if (kms(d, &d->app, "Encrypt", json_pack("{s:s,s:s}", "KeyId", d->key1, "Plaintext", pt), err,
            sizeof(err), &r) != 0)
        return -1;
    if (i == 1)
        snprintf(ciphertext, sizeof(ciphertext), "%s",
                 json_string_value(json_object_get(r, "CiphertextBlob")) ?: "");
    json_decref(r);
    return 0;
}

static const char *key_state(struct demo *d, char *buf, size_t n)
{
    char err[128];
    json_t *r = NULL;
    buf[0] = '\0';
    if (kms(d, &d->admin, "DescribeKey", json_pack("{s:s}", "KeyId", d->key1), err, sizeof(err),
            &r) == 0)
        snprintf(buf, n, "%s",
                 json_string_value(json_object_get(json_object_get(r, "KeyMetadata"), "KeyState"))
                     ?: "");
    json_decref(r);
    return buf;
}

static int start_app(struct demo *d);

/* ---- the story -------------------------------------------------------------- */

/* Waits until the wall clock is just past a 10-second boundary, so every call
 * of the next step falls into one alarm period. */
static void align_period(void)
{
    int64_t t = cli_now_ms();
    int64_t next = t - t % 10000 + 10000 + 50;
    if (t % 10000 < 300)
        return; /* just started a period: use it */
    sleep_ms((int)(next - t));
}

/* The first message from seq on whose subject names alarm; its arrival time
 * or -1. Copies the subject. */
static int64_t wait_mail(struct demo *d, uint64_t *seq, const char *alarm, char *subject, size_t sn,
                         struct mailsink_message **keep)
{
    int64_t deadline = cli_now_ms() + DEMO_WAIT_MS;
    while (cli_now_ms() < deadline && !demo_stop) {
        if (mailsink_count(d->sink) < *seq) {
            enum ks_err w = mailsink_wait(d->sink, *seq, 200); /* a timeout just loops */
            (void)w;
            continue;
        }
        struct mailsink_message *m = mailsink_get(d->sink, *seq);
        (*seq)++;
        if (!m)
            continue;
        if (m->subject && strstr(m->subject, alarm)) {
            int64_t t = m->time_ms;
            snprintf(subject, sn, "%s", m->subject);
            if (keep)
                *keep = m;
            else
                mailsink_message_free(m);
            return t;
        }
        mailsink_message_free(m);
    }
    return -1;
}

/* The alarm's state from serve's JSON API. */
static void alarm_state(struct demo *d, const char *name, char *out, size_t n)
{
    struct ks_buf b;
    ks_buf_init(&b, 4u << 20);
    char url[400];
    snprintf(url, sizeof(url), "%s/api/alarms", d->api);
    out[0] = '\0';
    if (http(url, NULL, &b) == 200) {
        json_t *j = json_loadb(b.data, b.len, 0, NULL);
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(j, "alarms"), i, a)
        {
            if (!strcmp(json_string_value(json_object_get(a, "name")) ?: "", name))
                snprintf(out, n, "%s", json_string_value(json_object_get(a, "state")) ?: "");
        }
        json_decref(j);
    }
    ks_buf_release(&b);
}

static bool line_has(const char *p, size_t l, const char *what)
{
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= l; i++)
        if (!memcmp(p + i, what, n))
            return true;
    return false;
}

static void show_mail(const struct demo *d, const struct mailsink_message *m)
{
    if (d->quiet || d->json || !m || !m->body)
        return;
    /* the lines that tell the story: what crossed, and who did it with what */
    static const char *const marks[] = {"State Change:", "Reason for State", "- Top "};
    const char *p = m->body;
    int shown = 0;
    while (*p && shown < 12) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        bool hit = false;
        for (size_t i = 0; i < sizeof(marks) / sizeof(*marks) && !hit; i++)
            hit = line_has(p, l, marks[i]);
        if (hit) {
            printf("      | %.*s\n", (int)(l > 120 ? 120 : l), p);
            shown++;
        }
        p = e ? e + 1 : p + l;
    }
}

static int story(struct demo *d)
{
    char err[128], st[64];
    uint64_t seq = 1;

    say(d, "\n[1/5] Setting up: two KMS keys (admin), the app's record (app role)\n");
    if (create_key(d, "lab app data key", d->key1, sizeof(d->key1), d->key1_arn,
                   sizeof(d->key1_arn)) ||
        create_key(d, "another team's key", d->key2, sizeof(d->key2), NULL, 0))
        return -1;
    say(d, "      app key   %s\n      other key %s\n", d->key1_arn, d->key2);
    if (d->use_app && start_app(d) != 0)
        return -1;

    say(d, "\n[2/5] Normal traffic: the app encrypts and decrypts its customers' records\n");
    int ok = 0;
    for (int i = 1; i <= 5; i++)
        ok += app_encrypt(d, i) == 0 && app_decrypt(d, "", err, sizeof(err)) == 0;
    say(d, "      %d/5 encrypt+decrypt round trips succeeded\n", ok);
    if (ok != 5) {
        cli_error("demo: normal traffic failed (%s)", err);
        return -1;
    }

    say(d, "\n[3/5] The lab's failure: the app decrypts with the wrong key, repeatedly\n");
    align_period();
    int64_t breach = 0;
    for (int i = 1; i <= 3; i++) {
        int rc = app_decrypt(d, d->key2, err, sizeof(err));
        if (i == 2)
            breach = cli_now_ms(); /* the second error makes Sum > 1 */
        say(d, "      decrypt with the other key: %s\n", rc ? err : "succeeded (?)");
    }
    struct mailsink_message *m = NULL;
    int64_t got =
        wait_mail(d, &seq, "KMSSecurityAlarm", d->lab_subject, sizeof(d->lab_subject), &m);
    d->lab_email_ms = got < 0 ? -1 : got - breach;
    alarm_state(d, "KMSSecurityAlarm", st, sizeof(st));
    say(d, "      alarm KMSSecurityAlarm: %s\n", st);
    if (got < 0) {
        cli_error("demo: no e-mail for KMSSecurityAlarm within %d s", DEMO_WAIT_MS / 1000);
        mailsink_message_free(m);
        return -1;
    }
    say(d, "      e-mail to %s: \"%s\"\n", DEMO_EMAIL, d->lab_subject);
    show_mail(d, m);
    mailsink_message_free(m);
    m = NULL;
    say(d, "      KMS call -> e-mail accepted: %lld ms\n", (long long)d->lab_email_ms);

    say(d,
        "\n[4/5] Exfiltration-style burst: %u Decrypts by the app's role (threshold %u / 10 s)\n",
        d->burst, d->threshold);
    align_period();
    unsigned okd = 0, disabled = 0;
    int64_t burst_breach = 0;
    for (unsigned i = 0; i < d->burst; i++) {
        int rc = app_decrypt(d, "", err, sizeof(err));
        if (rc == 0 && ++okd == d->threshold + 1)
            burst_breach = cli_now_ms();
        if (rc && (strstr(err, "Disabled") || d->use_app))
            disabled++;
    }
    say(d, "      %u succeeded, %u refused once the key was disabled\n", okd, disabled);
    if (!burst_breach) {
        cli_error("demo: the burst did not cross the threshold (%u successful decrypts)", okd);
        return -1;
    }
    got = wait_mail(d, &seq, "DecryptBurstAlarm", d->burst_subject, sizeof(d->burst_subject), &m);
    d->burst_email_ms = got < 0 ? -1 : got - burst_breach;
    int64_t deadline = cli_now_ms() + DEMO_WAIT_MS;
    d->disable_ms = -1;
    while (cli_now_ms() < deadline && !demo_stop) {
        if (!strcmp(key_state(d, st, sizeof(st)), "Disabled")) {
            d->disable_ms = cli_now_ms() - burst_breach;
            break;
        }
        sleep_ms(20);
    }
    alarm_state(d, "DecryptBurstAlarm", st, sizeof(st));
    say(d, "      alarm DecryptBurstAlarm: %s\n", st);
    if (got < 0) {
        cli_error("demo: no e-mail for DecryptBurstAlarm within %d s", DEMO_WAIT_MS / 1000);
        mailsink_message_free(m);
        return -1;
    }
    say(d, "      e-mail: \"%s\"\n", d->burst_subject);
    show_mail(d, m);
    mailsink_message_free(m);
    if (d->disable_ms < 0) {
        cli_error("demo: the response did not disable the key within %d s", DEMO_WAIT_MS / 1000);
        return -1;
    }
    say(d, "      response disable-used-keys: key %s is Disabled\n", d->key1);
    say(d, "      KMS call -> e-mail accepted: %lld ms;  KMS call -> key disabled: %lld ms\n",
        (long long)d->burst_email_ms, (long long)d->disable_ms);

    say(d, "\n[5/5] After the response: the app's decrypts fail, and the trail says why\n");
    int rc = app_decrypt(d, "", err, sizeof(err));
    say(d, "      decrypt: %s\n", rc ? err : "succeeded (?)");
    if (rc == 0) {
        cli_error("demo: a decrypt succeeded after the key was disabled");
        return -1;
    }
    /* the trail record reached serve: search for it by error code */
    struct ks_buf b;
    ks_buf_init(&b, 8u << 20);
    char url[400];
    snprintf(url, sizeof(url), "%s/api/events?errorCode=DisabledException&limit=1", d->api);
    bool found = false;
    for (int i = 0; i < 50 && !found; i++) {
        if (http(url, NULL, &b) == 200) {
            json_t *j = json_loadb(b.data, b.len, 0, NULL);
            json_t *ev = json_array_get(json_object_get(j, "events"), 0);
            if (ev) {
                found = true;
                say(d, "      trail: %s %s by %s -> %s\n",
                    json_string_value(json_object_get(ev, "eventTime")) ?: "",
                    json_string_value(json_object_get(ev, "eventName")) ?: "",
                    json_string_value(json_object_get(ev, "principal")) ?: "",
                    json_string_value(json_object_get(ev, "errorCode")) ?: "");
            }
            json_decref(j);
        }
        if (!found)
            sleep_ms(100);
    }
    if (!found) {
        ks_buf_release(&b);
        cli_error("demo: no DisabledException record reached serve");
        return -1;
    }
    /* what serve's API says the actions did (the response records itself
     * after its own DescribeKey check, which may come after ours) */
    snprintf(url, sizeof(url), "%s/api/responses", d->api);
    json_t *j = NULL, *first = NULL;
    const char *status = NULL;
    for (int i = 0; i < 100 && !status; i++) {
        json_decref(j);
        j = http(url, NULL, &b) == 200 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
        first = json_array_get(json_object_get(j, "responses"), 0);
        status = json_string_value(json_object_get(first, "status"));
        if (!status)
            sleep_ms(100);
    }
    if (!status || strcmp(status, "ok")) {
        json_decref(j);
        ks_buf_release(&b);
        cli_error("demo: serve's /api/responses does not show the DisableKey response");
        return -1;
    }
    say(d, "      serve's API: response %s: %s\n",
        json_string_value(json_object_get(first, "response")) ?: "",
        json_string_value(json_object_get(first, "summary")) ?: "");
    json_decref(j);
    ks_buf_release(&b);
    return 0;
}

/* ---- setup and teardown ------------------------------------------------------ */

static int write_principals(struct demo *d, const char *p)
{
    static const char up[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    static const char any[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    char ak1[21] = "AKIA", ak2[21] = "ASIA", sk1[41], sk2[41], tok[61];
    rand_text(ak1 + 4, 17, up);
    rand_text(ak2 + 4, 17, up);
    rand_text(sk1, sizeof(sk1), any);
    rand_text(sk2, sizeof(sk2), any);
    rand_text(tok, sizeof(tok), any);
    json_t *doc =
        json_pack("{s:[{s:s,s:s,s:{s:s,s:s,s:s,s:s}},{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s}}]}",
                  "principals", "accessKeyId", ak1, "secretAccessKey", sk1, "identity", "type",
                  "IAMUser", "arn", "arn:aws:iam::" DEMO_ACCOUNT ":user/admin", "accountId",
                  DEMO_ACCOUNT, "userName", "admin", "accessKeyId", ak2, "secretAccessKey", sk2,
                  "sessionToken", tok, "identity", "type", "AssumedRole", "arn",
                  "arn:aws:sts::" DEMO_ACCOUNT ":assumed-role/App-ECSTaskRole/lab-task-1",
                  "accountId", DEMO_ACCOUNT, "roleArn", DEMO_APP_ROLE, "sessionName", "lab-task-1");
    char *text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    int rc = text ? write_file(p, text, strlen(text), 0600) : -1;
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    d->admin.access_key_id = ks_xstrdup(ak1);
    d->admin.secret_access_key = ks_xstrdup(sk1);
    d->app.access_key_id = ks_xstrdup(ak2);
    d->app.secret_access_key = ks_xstrdup(sk2);
    d->app.session_token = ks_xstrdup(tok);
    explicit_bzero(sk1, sizeof(sk1));
    explicit_bzero(sk2, sizeof(sk2));
    explicit_bzero(tok, sizeof(tok));
    return rc;
}

static bool wait_for(const char *url, pid_t pid, int ms)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    bool ok = false;
    for (int64_t end = cli_now_ms() + ms; !ok && cli_now_ms() < end && alive(pid) && !demo_stop;) {
        ok = http(url, NULL, &b) == 200;
        if (!ok)
            sleep_ms(100);
    }
    ks_buf_release(&b);
    return ok;
}

static int find_app(struct demo *d)
{
    char cand[3][4096];
    size_t nc = 0;
    if (d->app_dir_opt) {
        snprintf(cand[nc++], sizeof(cand[0]), "%.4000s", d->app_dir_opt);
    } else {
        /* build/keysentry -> <source>/examples/lab/app */
        char exe[4096];
        snprintf(exe, sizeof(exe), "%s", d->self);
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(cand[nc++], sizeof(cand[0]), "%.4000s/../examples/lab/app", exe);
        }
        snprintf(cand[nc++], sizeof(cand[0]), "examples/lab/app");
    }
    for (size_t i = 0; i < nc; i++) {
        char mod[4400];
        snprintf(mod, sizeof(mod), "%.4000s/node_modules/@aws-sdk/client-kms", cand[i]);
        if (access(mod, F_OK) == 0) {
            snprintf(d->app_dir, sizeof(d->app_dir), "%.4000s", cand[i]);
            return 0;
        }
    }
    return -1;
}

static int start_app(struct demo *d)
{
    unsigned port = free_port();
    char js[4200], log[3100], db[3100];
    snprintf(js, sizeof(js), "%s/app.js", d->app_dir);
    if (!cli_path(log, sizeof(log), d->dir, "app.log") ||
        !cli_path(db, sizeof(db), d->dir, "app.sqlite"))
        return -1;
    char e_key[200], e_ep[100], e_ak[60], e_sk[80], e_tok[120], e_port[32], e_db[3200];
    snprintf(e_key, sizeof(e_key), "KeyId=%s", d->key1);
    snprintf(e_ep, sizeof(e_ep), "KMS_ENDPOINT=http://127.0.0.1:%s", strrchr(d->kms_url, ':') + 1);
    e_ep[strlen(e_ep) - 1] = '\0'; /* the trailing '/' of the URL */
    snprintf(e_ak, sizeof(e_ak), "AWS_ACCESS_KEY_ID=%s", d->app.access_key_id);
    snprintf(e_sk, sizeof(e_sk), "AWS_SECRET_ACCESS_KEY=%s", d->app.secret_access_key);
    snprintf(e_tok, sizeof(e_tok), "AWS_SESSION_TOKEN=%s", d->app.session_token);
    snprintf(e_port, sizeof(e_port), "PORT=%u", port);
    snprintf(e_db, sizeof(e_db), "DB_FILE=%s", db);
    const char *extra[] = {e_key,
                           e_ep,
                           e_ak,
                           e_sk,
                           e_tok,
                           e_port,
                           e_db,
                           "HOST=127.0.0.1",
                           "AWS_REGION=" DEMO_REGION,
                           "AWS_EC2_METADATA_DISABLED=true"};
    char **env = env_with(extra, sizeof(extra) / sizeof(*extra));
    const char *argv[] = {"node", js, NULL};
    d->app_pid = spawn(argv, env, log);
    free_list(env);
    explicit_bzero(e_sk, sizeof(e_sk));
    explicit_bzero(e_tok, sizeof(e_tok));
    snprintf(d->app_url, sizeof(d->app_url), "http://127.0.0.1:%u", port);
    char health[100];
    snprintf(health, sizeof(health), "%s/health", d->app_url);
    if (d->app_pid < 0 || !wait_for(health, d->app_pid, 20000)) {
        cli_error("demo: the lab app did not start (see %s)", log);
        return -1;
    }
    say(d, "      lab app (Node.js, AWS SDK v3) on %s, as App-ECSTaskRole\n", d->app_url);
    return 0;
}

static int start_serve(struct demo *d)
{
    char tpl[3100], prin[3100], data[3100], ready[3100], log[3100];
    if (!cli_path(tpl, sizeof(tpl), d->dir, "live.yaml") ||
        !cli_path(prin, sizeof(prin), d->dir, "principals.json") ||
        !cli_path(data, sizeof(data), d->dir, "data") ||
        !cli_path(ready, sizeof(ready), d->dir, "ready") ||
        !cli_path(log, sizeof(log), d->dir, "serve.log"))
        return -1;
    if (write_file(tpl, cli_demo_template, cli_demo_template_len, 0644) != 0 ||
        write_principals(d, prin) != 0) {
        cli_error("demo: cannot write into '%s': %s", d->dir, strerror(errno));
        return -1;
    }
    unsigned kport = free_port();
    snprintf(d->kms_url, sizeof(d->kms_url), "http://127.0.0.1:%u/", kport);
    char p_prin[3200], p_kms[64], p_thr[64], smtp[80];
    snprintf(p_prin, sizeof(p_prin), "PrincipalsFile=%s", prin);
    snprintf(p_kms, sizeof(p_kms), "KmsListen=127.0.0.1:%u", kport);
    snprintf(p_thr, sizeof(p_thr), "DecryptBurstThreshold=%u", d->threshold);
    snprintf(smtp, sizeof(smtp), "KEYSENTRY_SMTP_URL=smtp://127.0.0.1:%u",
             (unsigned)mailsink_port(d->sink));
    const char *argv[] = {d->self,
                          "serve",
                          "-c",
                          tpl,
                          "--stack-name",
                          "lab",
                          "--param",
                          p_prin,
                          "--param",
                          p_kms,
                          "--param",
                          p_thr,
                          "--param",
                          "EmailAddress=" DEMO_EMAIL,
                          "--param",
                          d->no_early ? "EarlyFire=false" : "EarlyFire=true",
                          "--data",
                          data,
                          "--listen",
                          d->listen,
                          "--ready-file",
                          ready,
                          NULL};
    const char *extra[] = {smtp};
    char **env = env_with(extra, 1);
    /* A test hook: run serve under a wrapper program (valgrind, in
     * tests/demo/valgrind.sh). One path, exec'd with serve's argv after it:
     * nothing is split or passed through a shell. */
    const char *wrap = getenv("KEYSENTRY_DEMO_SERVE_WRAPPER");
    const char *wrapped[sizeof(argv) / sizeof(*argv) + 1];
    if (wrap && *wrap) {
        wrapped[0] = wrap;
        memcpy(wrapped + 1, argv, sizeof(argv));
        say(d, "      (serve runs under %s)\n", wrap);
    }
    d->serve_pid = spawn(wrap && *wrap ? wrapped : argv, env, log);
    free_list(env);
    if (d->serve_pid < 0) {
        cli_error("demo: cannot start '%s serve': %s", d->self, strerror(errno));
        return -1;
    }
    /* generous: first start makes RSA keys (SNS signing, trail digests) */
    for (int i = 0; i < 1200 && !demo_stop; i++) {
        FILE *f = fopen(ready, "r");
        char where[300] = "";
        if (f) {
            if (fgets(where, sizeof(where), f))
                where[strcspn(where, "\n")] = '\0';
            fclose(f);
        }
        if (where[0]) {
            snprintf(d->api, sizeof(d->api), "http://%s", where);
            char h[400];
            snprintf(h, sizeof(h), "%s/healthz", d->api);
            return wait_for(h, d->serve_pid, 30000) ? 0 : -1;
        }
        if (!alive(d->serve_pid))
            break;
        sleep_ms(50);
    }
    cli_error("demo: keysentry serve did not start (see %s)", log);
    return -1;
}

int cli_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"keep", no_argument, NULL, 'k'},
        {"dir", required_argument, NULL, 'd'},
        {"app", required_argument, NULL, 'a'},
        {"no-app", no_argument, NULL, 'A'},
        {"burst", required_argument, NULL, 'b'},
        {"threshold", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"no-early-fire", no_argument, NULL, 'E'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct demo d;
    memset(&d, 0, sizeof(d));
    d.listen = "127.0.0.1:4580";
    d.burst = 30;
    d.threshold = 20;
    d.use_app = true;
    const char *dir = NULL;
    bool listen_given = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        char *end = NULL;
        unsigned long v;
        switch (c) {
        case 'l':
            d.listen = optarg;
            listen_given = true;
            break;
        case 'k':
            d.keep = true;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'a':
            d.app_dir_opt = optarg;
            break;
        case 'A':
            d.use_app = false;
            break;
        case 'b':
        case 't':
            v = strtoul(optarg, &end, 10);
            if (!end || *end || v < 1 || v > 10000) {
                cli_error("--%s wants a number from 1 to 10000, not '%s'",
                          c == 'b' ? "burst" : "threshold", optarg);
                return CLI_USAGE;
            }
            *(c == 'b' ? &d.burst : &d.threshold) = (unsigned)v;
            break;
        case 'j':
            d.json = true;
            break;
        case 'E':
            d.no_early = true;
            break;
        case 'q':
            d.quiet = true;
            break;
        case 'h':
            fputs(help, stdout);
            return CLI_OK;
        default:
            fputs("Run 'keysentry demo --help' for usage.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("demo takes no arguments ('%s'); see --help", argv[optind]);
        return CLI_USAGE;
    }
    if (!listen_given && !port_free(4580)) {
        /* the newcomer's first run must not fail on a busy port */
        say(&d, "note: 127.0.0.1:4580 is in use; the dashboard gets a free port instead\n");
        d.listen = "127.0.0.1:0";
    }
    if (d.burst <= d.threshold) {
        cli_error("--burst (%u) must exceed --threshold (%u), or nothing crosses it", d.burst,
                  d.threshold);
        return CLI_USAGE;
    }
    ssize_t sl = readlink("/proc/self/exe", d.self, sizeof(d.self) - 1);
    if (sl <= 0) {
        cli_error("demo: cannot find its own executable: %s", strerror(errno));
        return CLI_FAIL;
    }
    d.self[sl] = '\0';
    if (dir) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            cli_error("cannot create '%s': %s", dir, strerror(errno));
            return CLI_FAIL;
        }
        snprintf(d.dir, sizeof(d.dir), "%s", dir);
    } else {
        snprintf(d.dir, sizeof(d.dir), "/tmp/keysentry-demo-XXXXXX");
        if (!mkdtemp(d.dir)) {
            cli_error("cannot create a temporary directory: %s", strerror(errno));
            return CLI_FAIL;
        }
        d.own_dir = true;
    }
    if (d.use_app && find_app(&d) != 0) {
        say(&d, "note: the lab app's packages are not installed (npm ci in examples/lab/app);\n"
                "      driving the KMS service directly instead\n");
        d.use_app = false;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int rc = CLI_FAIL;
    char maildir[3100];
    struct ks_diag diag;
    ks_diag_clear(&diag);
    struct mailsink_options mo = {.dir = cli_path(maildir, sizeof(maildir), d.dir, "mail") ? maildir
                                                                                           : NULL};
    say(&d, "keysentry demo: the KMS monitoring lab, live, in %s\n", d.dir);
    if (mailsink_start(&mo, &d.sink, &diag) != KS_OK) {
        cli_error("demo: the mail sink cannot start: %s", diag.msg);
        goto out;
    }
    if (start_serve(&d) != 0)
        goto out;
    say(&d, "      keysentry serve: dashboard %s/   KMS %s   SMTP 127.0.0.1:%u\n", d.api, d.kms_url,
        (unsigned)mailsink_port(d.sink));
    if (story(&d) != 0) {
        cli_error("demo: stopped; logs are in %s (kept)", d.dir);
        d.own_dir = false;
        goto out;
    }
    rc = CLI_OK;
    if (d.json) {
        printf("{\"lab\":{\"callToEmailMs\":%lld,\"subject\":", (long long)d.lab_email_ms);
        cli_json_string(stdout, d.lab_subject, strlen(d.lab_subject));
        printf("},\"burst\":{\"callToEmailMs\":%lld,\"callToKeyDisabledMs\":%lld,\"subject\":",
               (long long)d.burst_email_ms, (long long)d.disable_ms);
        cli_json_string(stdout, d.burst_subject, strlen(d.burst_subject));
        printf("},\"app\":%s,\"earlyFire\":%s}\n", d.use_app ? "true" : "false",
               d.no_early ? "false" : "true");
    } else if (!d.quiet) {
        printf("\nDone. KMS call -> e-mail: %lld ms (lab), %lld ms (burst); "
               "KMS call -> key disabled: %lld ms\n",
               (long long)d.lab_email_ms, (long long)d.burst_email_ms, (long long)d.disable_ms);
        printf("(On AWS the same loop takes 5 to 15 minutes: CloudTrail delivers in about 5.)\n");
    }
    if (d.keep && !demo_stop) {
        say(&d,
            "\n--keep: everything stays up. Try:\n"
            "  %s/                                   the dashboard\n"
            "  aws --endpoint-url %s cloudwatch describe-alarms\n"
            "  files in %s; Ctrl-C stops\n",
            d.api, d.api, d.dir);
        d.own_dir = false;
        while (!demo_stop)
            sleep_ms(200);
    }
out:
    stop_child(d.app_pid);
    stop_child(d.serve_pid);
    if (d.sink)
        mailsink_stop(d.sink);
    respond_creds_release(&d.admin);
    respond_creds_release(&d.app);
    if (d.own_dir)
        cli_remove_tree(d.dir);
    curl_global_cleanup();
    return rc;
}
