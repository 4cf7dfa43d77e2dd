// SPDX-License-Identifier: Apache-2.0
/*
 * ks-kms-load: a keep-alive, SigV4-signing load generator for the local KMS
 * service (bench/kms-load.sh drives it against `keysentry kms serve`).
 *
 *   ks-kms-load --endpoint http://127.0.0.1:4599 [--duration 10] [--connections 32]
 *               [--threads 1] [--op Decrypt|Encrypt] [--key-id ID] [--region R]
 *               [--json]
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
 *
 * Setup: without --key-id it creates a key (CreateKey) and encrypts a
 * 32-byte plaintext once (Encrypt) to get the ciphertext every Decrypt sends.
 * Load: each thread runs an epoll loop over its share of the connections;
 * every connection keeps exactly one request in flight (send, read the whole
 * response, send the next), HTTP/1.1 keep-alive, no pipelining.
 *
 * Signing: the request is signed with the project's sigv4 module. SigV4 is
 * deterministic for the same request, credentials and second, so the signed
 * bytes are rebuilt whenever the clock's second changes and reused within it:
 * the server sees exactly the bytes a client signing every call would send,
 * while the client leaves the cores to the server. The server verifies every
 * request in full.
 *
 * Latency is measured per call from the first byte written to the last byte
 * read (CLOCK_MONOTONIC) into a 1 µs histogram up to 1 s. Output: calls,
 * errors (non-200), calls/s, p50/p90/p99/max. With --json one JSON line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sigv4/sigv4.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HIST_US 1000000 /* 1 s of 1 µs buckets; slower calls land in the last one */
#define RBUF    65536

struct target {
    char host[256];
    char port[16];
    char hostport[300];
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct signed_req {
    pthread_mutex_t mu;
    int64_t second;
    char *bytes; /* rendered request incl. body; replaced each second */
    size_t len;
    uint64_t gen;
};

struct conn {
    int fd;
    char *out; /* private copy of the request being sent */
    size_t outlen, outoff;
    char in[RBUF];
    size_t inlen;
    uint64_t t0;
    uint64_t gen;
};

struct worker {
    pthread_t th;
    int nconn;
    uint64_t calls, errors, io_errors;
    uint64_t sent_total, done_total; /* whole run, warm-up and tail included */
    uint64_t *hist;
    uint64_t max_ns;
};

static struct target g_tgt;
static struct sigv4_credentials g_creds;
static const char *g_region = "us-east-1";
static const char *g_op = "Decrypt";
static char *g_body;
static struct signed_req g_req = {.mu = PTHREAD_MUTEX_INITIALIZER, .second = -1};
static struct sigv4_key_cache *g_cache;
static _Atomic int g_stop;
static _Atomic int g_measuring;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "ks-kms-load: %s%s\n", what, arg);
    exit(1);
}

/* Signs op/body for the current second into a fresh buffer. */
static char *sign_request(const char *op, const char *body, size_t *len)
{
    struct sigv4_request rq;
    sigv4_request_init(&rq);
    char target[128];
    snprintf(target, sizeof(target), "TrentService.%s", op);
    char clen[32];
    snprintf(clen, sizeof(clen), "%zu", strlen(body));
    if (sigv4_request_set_method(&rq, "POST", 4) || sigv4_request_set_target(&rq, "/", 1) ||
        sigv4_request_add_header(&rq, "Host", 4, g_tgt.hostport, strlen(g_tgt.hostport)) ||
        sigv4_request_add_header(&rq, "Content-Type", 12, "application/x-amz-json-1.1", 26) ||
        sigv4_request_add_header(&rq, "X-Amz-Target", 12, target, strlen(target)) ||
        sigv4_request_add_header(&rq, "User-Agent", 10, "ks-kms-load/1.0", 15) ||
        sigv4_request_add_header(&rq, "Content-Length", 14, clen, strlen(clen)))
        die("cannot build the request", "");
    sigv4_request_set_body(&rq, body, strlen(body));
    struct sigv4_sign_params p = {.creds = &g_creds,
                                  .region = g_region,
                                  .service = "kms",
                                  .time = (int64_t)time(NULL),
                                  .signed_headers = "content-type;host;x-amz-date;x-amz-target",
                                  .cache = g_cache};
    struct ks_diag d;
    ks_diag_clear(&d);
    if (sigv4_sign(&rq, &p, NULL, &d) != KS_OK)
        die("cannot sign: ", d.msg);
    struct ks_buf b;
    ks_buf_init(&b, 1 << 22);
    if (sigv4_request_render(&rq, &b) || ks_buf_add(&b, body, strlen(body)))
        die("request too large", "");
    sigv4_request_release(&rq);
    *len = b.len;
    return b.data;
}

static const char *current_request(size_t *len, uint64_t *gen)
{
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&g_req.mu);
    if (g_req.second != now) {
        free(g_req.bytes);
        g_req.bytes = sign_request(g_op, g_body, &g_req.len);
        g_req.second = now;
        g_req.gen++;
    }
    *len = g_req.len;
    *gen = g_req.gen;
    const char *p = g_req.bytes;
    pthread_mutex_unlock(&g_req.mu);
    return p;
}

static int dial(void)
{
    int fd = socket(g_tgt.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g_tgt.addr, g_tgt.addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Blocking one-shot call (setup). Returns the status, body into *body. */
static int call_once(const char *op, const char *body, char **resp_body)
{
    size_t len;
    char *req = sign_request(op, body, &len);
    int fd = dial();
    if (fd < 0)
        die("cannot connect to ", g_tgt.hostport);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, req + off, len - off);
        if (w <= 0)
            die("write failed", "");
        off += (size_t)w;
    }
    free(req);
    struct ks_buf in;
    ks_buf_init(&in, 1 << 22);
    char tmp[8192];
    ssize_t r;
    int status = -1;
    size_t want = SIZE_MAX;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0) {
        if (ks_buf_add(&in, tmp, (size_t)r))
            break;
        char *eoh = strstr(in.data, "\r\n\r\n");
        if (eoh && want == SIZE_MAX) {
            const char *cl = strcasestr(in.data, "\r\ncontent-length:");
            if (cl && cl < eoh)
                want = (size_t)(eoh + 4 - in.data) + strtoul(cl + 17, NULL, 10);
        }
        if (in.len >= want)
            break;
    }
    close(fd);
    if (sscanf(in.data, "HTTP/1.1 %d", &status) != 1)
        status = -1;
    char *eoh = strstr(in.data, "\r\n\r\n");
    *resp_body = ks_xstrdup(eoh ? eoh + 4 : "");
    ks_buf_release(&in);
    return status;
}

/* Parses one complete response at c->in; returns its length or 0 when more
 * bytes are needed. *status gets the HTTP status. */
static size_t parse_response(struct conn *c, int *status)
{
    c->in[c->inlen < RBUF ? c->inlen : RBUF - 1] = '\0';
    char *eoh = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!eoh)
        return 0;
    size_t hlen = (size_t)(eoh + 4 - c->in);
    size_t clen = 0;
    for (char *p = c->in; p < eoh; p++) {
        if (*p == '\n' && !strncasecmp(p + 1, "content-length:", 15)) {
            clen = strtoul(p + 16, NULL, 10);
            break;
        }
    }
    if (c->inlen < hlen + clen)
        return 0;
    *status = (int)strtol(c->in + 9, NULL, 10);
    return hlen + clen;
}

static void conn_send(struct worker *w, struct conn *c)
{
    w->sent_total++;
    size_t len;
    const char *req = current_request(&len, &c->gen);
    if (c->outlen < len || !c->out) {
        free(c->out);
        c->out = ks_xmalloc(len);
    }
    memcpy(c->out, req, len); /* private copy: the shared one may be replaced */
    c->outlen = len;
    c->outoff = 0;
    c->t0 = mono_ns();
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the rest goes out when the socket reports activity */
        c->outoff += (size_t)n;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = ks_xcalloc((size_t)w->nconn, sizeof(*cs));
    for (int i = 0; i < w->nconn; i++) {
        cs[i].fd = dial();
        if (cs[i].fd < 0)
            die("cannot connect to ", g_tgt.hostport);
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        conn_send(w, &cs[i]);
    }
    struct epoll_event evs[64];
    while (!atomic_load(&g_stop)) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->outoff < c->outlen) {
                ssize_t s = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
                if (s > 0)
                    c->outoff += (size_t)s;
            }
            ssize_t r = read(c->fd, c->in + c->inlen, RBUF - 1 - c->inlen);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                w->io_errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = dial();
                if (c->fd < 0) {
                    atomic_store(&g_stop, 1);
                    break;
                }
                fcntl(c->fd, F_SETFL, O_NONBLOCK);
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                c->inlen = 0;
                conn_send(w, c);
                continue;
            }
            c->inlen += (size_t)r;
            int status = 0;
            size_t used = parse_response(c, &status);
            if (!used) {
                if (c->inlen >= RBUF - 1)
                    die("response too large", "");
                continue;
            }
            uint64_t dt = mono_ns() - c->t0;
            w->done_total++;
            if (atomic_load(&g_measuring)) {
                w->calls++;
                if (status != 200)
                    w->errors++;
                uint64_t us = dt / 1000;
                w->hist[us < HIST_US ? us : HIST_US - 1]++;
                if (dt > w->max_ns)
                    w->max_ns = dt;
            }
            memmove(c->in, c->in + used, c->inlen - used);
            c->inlen -= used;
            if (!atomic_load(&g_stop))
                conn_send(w, c);
        }
    }
    for (int i = 0; i < w->nconn; i++) {
        if (cs[i].fd >= 0)
            close(cs[i].fd);
        free(cs[i].out);
    }
    free(cs);
    close(ep);
    return NULL;
}

static double pct(const uint64_t *h, uint64_t total, double p)
{
    uint64_t want = (uint64_t)(p * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t acc = 0;
    for (size_t i = 0; i < HIST_US; i++) {
        acc += h[i];
        if (acc > want)
            return (double)i / 1000.0;
    }
    return (double)HIST_US / 1000.0;
}

static void usage(void)
{
    fputs("usage: ks-kms-load --endpoint http://HOST:PORT [--duration S] [--warmup S]\n"
          "                   [--connections N] [--threads T] [--op Decrypt|Encrypt]\n"
          "                   [--key-id ID] [--region R] [--json]\n"
          "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *key_id = NULL;
    double duration = 10, warmup = 1;
    int nconn = 32, nthreads = 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--endpoint"))
            endpoint = v;
        else if (!strcmp(a, "--duration"))
            duration = strtod(v, NULL);
        else if (!strcmp(a, "--warmup"))
            warmup = strtod(v, NULL);
        else if (!strcmp(a, "--connections"))
            nconn = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--threads"))
            nthreads = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--op"))
            g_op = v;
        else if (!strcmp(a, "--key-id"))
            key_id = v;
        else if (!strcmp(a, "--region"))
            g_region = v;
        else
            usage();
    }
    if (!endpoint || strncmp(endpoint, "http://", 7) || duration <= 0 || duration > 3600 ||
        nconn < 1 || nconn > 4096 || nthreads < 1 || nthreads > 64 || nthreads > nconn ||
        warmup < 0 || warmup > 60 || (strcmp(g_op, "Decrypt") && strcmp(g_op, "Encrypt")))
        usage();
    g_creds.access_key_id = getenv("AWS_ACCESS_KEY_ID");
    g_creds.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    g_creds.session_token = getenv("AWS_SESSION_TOKEN");
    if (!g_creds.access_key_id || !g_creds.secret_access_key)
        die("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "");
    if (g_creds.session_token && !*g_creds.session_token)
        g_creds.session_token = NULL;

    /* endpoint: http://HOST:PORT[/] */
    const char *hp = endpoint + 7;
    const char *colon = strrchr(hp, ':');
    const char *slash = strchr(hp, '/');
    if (!colon || (slash && slash < colon))
        die("endpoint needs an explicit port: ", endpoint);
    size_t hl = (size_t)(colon - hp);
    size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (hl >= sizeof(g_tgt.host) || pl >= sizeof(g_tgt.port))
        die("bad endpoint: ", endpoint);
    memcpy(g_tgt.host, hp, hl);
    memcpy(g_tgt.port, colon + 1, pl);
    snprintf(g_tgt.hostport, sizeof(g_tgt.hostport), "%s:%s", g_tgt.host, g_tgt.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(g_tgt.host, g_tgt.port, &hints, &ai) != 0 || !ai)
        die("cannot resolve ", g_tgt.host);
    memcpy(&g_tgt.addr, ai->ai_addr, ai->ai_addrlen);
    g_tgt.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    g_cache = sigv4_key_cache_new(0);

    /* Setup: a key and one ciphertext. */
    char *resp = NULL;
    char *kid = NULL;
    int setup_calls = 0;
    if (!key_id) {
        setup_calls++;
        int st = call_once("CreateKey", "{\"Description\":\"ks-kms-load\"}", &resp);
        json_t *j = json_loads(resp, 0, NULL);
        const char *k =
            json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "KeyId"));
        if (st != 200 || !k)
            die("CreateKey failed: ", resp);
        kid = ks_xstrdup(k);
        key_id = kid;
        json_decref(j);
        free(resp);
    }
    /* 32 bytes of plaintext, as a data key would be */
    char body[8192];
    snprintf(body, sizeof(body),
             "{\"KeyId\":\"%s\",\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}",
             key_id);
    if (!strcmp(g_op, "Decrypt")) {
        setup_calls++;
        int st = call_once("Encrypt", body, &resp);
        json_t *j = json_loads(resp, 0, NULL);
        const char *ct = json_string_value(json_object_get(j, "CiphertextBlob"));
        if (st != 200 || !ct)
            die("Encrypt failed: ", resp);
        snprintf(body, sizeof(body), "{\"CiphertextBlob\":\"%s\",\"KeyId\":\"%s\"}", ct, key_id);
        json_decref(j);
        free(resp);
    }
    g_body = ks_xstrdup(body);

    struct worker *ws = ks_xcalloc((size_t)nthreads, sizeof(*ws));
    for (int t = 0; t < nthreads; t++) {
        ws[t].nconn = nconn / nthreads + (t < nconn % nthreads);
        ws[t].hist = ks_xcalloc(HIST_US, sizeof(uint64_t));
        pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
    }
    struct timespec ts = {(time_t)warmup, (long)((warmup - (double)(time_t)warmup) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&g_measuring, 1);
    uint64_t t0 = mono_ns();
    ts = (struct timespec){(time_t)duration, (long)((duration - (double)(time_t)duration) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&g_measuring, 0);
    uint64_t t1 = mono_ns();
    atomic_store(&g_stop, 1);
    uint64_t calls = 0, errors = 0, io_errors = 0, max_ns = 0, sent = 0, done = 0;
    uint64_t *hist = ks_xcalloc(HIST_US, sizeof(uint64_t));
    for (int t = 0; t < nthreads; t++) {
        pthread_join(ws[t].th, NULL);
        calls += ws[t].calls;
        errors += ws[t].errors;
        io_errors += ws[t].io_errors;
        sent += ws[t].sent_total;
        done += ws[t].done_total;
        if (ws[t].max_ns > max_ns)
            max_ns = ws[t].max_ns;
        for (size_t i = 0; i < HIST_US; i++)
            hist[i] += ws[t].hist[i];
        free(ws[t].hist);
    }
    double secs = (double)(t1 - t0) / 1e9;
    double rate = (double)calls / secs;
    double p50 = calls ? pct(hist, calls, 0.50) : 0, p90 = calls ? pct(hist, calls, 0.90) : 0;
    double p99 = calls ? pct(hist, calls, 0.99) : 0;
    if (json)
        printf("{\"op\":\"%s\",\"connections\":%d,\"threads\":%d,\"seconds\":%.3f,"
               "\"calls\":%llu,\"errors\":%llu,\"io_errors\":%llu,\"calls_per_s\":%.0f,"
               "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
               "\"sent_total\":%llu,\"answered_total\":%llu,\"setup_calls\":%d}\n",
               g_op, nconn, nthreads, secs, (unsigned long long)calls, (unsigned long long)errors,
               (unsigned long long)io_errors, rate, p50, p90, p99, (double)max_ns / 1e6,
               (unsigned long long)sent, (unsigned long long)done, setup_calls);
    else
        printf("%s: %llu calls in %.2f s = %.0f calls/s, %llu errors, %llu reconnects; "
               "latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               g_op, (unsigned long long)calls, secs, rate, (unsigned long long)errors,
               (unsigned long long)io_errors, p50, p90, p99, (double)max_ns / 1e6);
    if (!json)
        printf("whole run: %llu requests sent, %llu answered, %d setup calls\n",
               (unsigned long long)sent, (unsigned long long)done, setup_calls);
    free(hist);
    free(ws);
    free(kid);
    free(g_body);
    free(g_req.bytes);
    sigv4_key_cache_free(g_cache);
    return errors || io_errors ? 1 : 0;
}
