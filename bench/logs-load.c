// SPDX-License-Identifier: Apache-2.0
/*
 * ks-logs-load: a PutLogEvents load generator for `keysentry serve`
 * (bench/serve-ingest.sh and bench/serve-day.sh drive it).
 *
 *   ks-logs-load --url http://127.0.0.1:PORT --group G --ndjson FILE
 *                [--batches N | --passes K] [--conns C] [--pid SERVER_PID]
 *                [--day] [--rss-log FILE]
 *
 * The records of FILE (one CloudTrail record per line) are cut into
 * PutLogEvents bodies once, before the clock starts: at most 10,000 events
 * and at most 1,048,576 bytes (messages plus 26 bytes each), the AWS limits.
 * Every timestamp is written with 13 digits, so it is patched in place before
 * each send without rebuilding the body: by default to the current time (the
 * events are live), with --day to a point of one day of event time, the day
 * laid out linearly over the N batches (the first batch 24 h ago, the last
 * one now): a day of traffic, fast-forwarded.
 *
 * --passes K sends every body K times (N = K x bodies), so the server's
 * match counts are K times those of one pass over FILE.
 *
 * C threads each keep one libcurl keep-alive connection with one request in
 * flight and take batches from a shared counter until N are sent (bounded).
 * A non-200 answer counts as an error.
 *
 * With --pid, the server's CPU time (utime + stime from /proc/PID/stat) is
 * read before and after, and its VmRSS/VmHWM at the end; with --rss-log, a
 * sampler writes "batch event_hour rss_kib" every 100 ms (the hour of event
 * time of the batch most recently started).
 *
 * Output: one line of key=value pairs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS  10000
#define MAX_BYTES   1048576u
#define EVENT_EXTRA 26u /* AWS counts 26 bytes per event */
#define MAX_CONNS   64
#define MAX_BATCHES 10000000L
#define DAY_MS      86400000LL

struct body {
    char *data;
    size_t len;
    size_t nevents;
    size_t *ts_at; /* offsets of the 13-digit timestamps */
};

static struct body *bodies;
static size_t nbodies;
static const char *url, *group;
static long nbatches = 1000;
static bool day_mode;
static int64_t day_start_ms;
static atomic_long next_batch, errors, events_sent, batches_started;
static atomic_bool done;
static char target_url[512];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ks-logs-load: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const void *s, size_t n)
{
    if (o->len + n > o->cap) {
        while (o->len + n > o->cap)
            o->cap = o->cap ? o->cap * 2 : 1 << 20;
        char *q = realloc(o->p, o->cap);
        if (!q) {
            fprintf(stderr, "ks-logs-load: out of memory\n");
            exit(1);
        }
        o->p = q;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string body: the records are valid UTF-8 JSON, so only quotes,
 * backslashes and control bytes need escapes. */
static void put_json(struct out *o, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        put(o, s + run, i - run);
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(o, esc, 6);
        }
        run = i + 1;
    }
    put(o, s + run, n - run);
}

static void load_bodies(const char *path, const char *stream)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ks-logs-load: cannot open '%s': %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct out o = {0};
    size_t *ts = NULL, nts = 0, cts = 0, used = 0;
    size_t cbodies = 0;
    bool eof = false;
    while (!eof) {
        n = getline(&line, &cap, f);
        eof = n < 0;
        if (!eof && n && line[n - 1] == '\n')
            line[--n] = '\0';
        if (!eof && n == 0)
            continue;
        bool full = nts == MAX_EVENTS || (!eof && used + (size_t)n + EVENT_EXTRA > MAX_BYTES);
        if ((eof || full) && nts) {
            puts_(&o, "]}");
            if (nbodies == cbodies) {
                cbodies = cbodies ? cbodies * 2 : 64;
                bodies = realloc(bodies, cbodies * sizeof(*bodies));
                if (!bodies)
                    exit(1);
            }
            bodies[nbodies++] = (struct body){o.p, o.len, nts, ts};
            memset(&o, 0, sizeof(o));
            ts = NULL;
            nts = cts = used = 0;
        }
        if (eof)
            break;
        if (nts == 0) {
            puts_(&o, "{\"logGroupName\":\"");
            put_json(&o, group, strlen(group));
            puts_(&o, "\",\"logStreamName\":\"");
            put_json(&o, stream, strlen(stream));
            puts_(&o, "\",\"logEvents\":[");
        }
        if (nts == cts) {
            cts = cts ? cts * 2 : 1024;
            ts = realloc(ts, cts * sizeof(*ts));
            if (!ts)
                exit(1);
        }
        puts_(&o, nts ? ",{\"timestamp\":" : "{\"timestamp\":");
        ts[nts++] = o.len;
        puts_(&o, "1000000000000,\"message\":\"");
        put_json(&o, line, (size_t)n);
        puts_(&o, "\"}");
        used += (size_t)n + EVENT_EXTRA;
    }
    free(line);
    fclose(f);
    if (!nbodies) {
        fprintf(stderr, "ks-logs-load: no records in '%s'\n", path);
        exit(2);
    }
}

static void patch_ts(char *at, int64_t ms)
{
    for (int i = 12; i >= 0; i--) {
        at[i] = (char)('0' + ms % 10);
        ms /= 10;
    }
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static CURL *new_handle(struct curl_slist *hdr)
{
    CURL *c = curl_easy_init();
    if (!c)
        exit(1);
    curl_easy_setopt(c, CURLOPT_URL, target_url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    return c;
}

static void *sender(void *arg)
{
    (void)arg;
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-amz-json-1.1");
    hdr = curl_slist_append(hdr, "X-Amz-Target: Logs_20140328.PutLogEvents");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    CURL *c = new_handle(hdr);
    size_t maxlen = 0;
    for (size_t i = 0; i < nbodies; i++)
        if (bodies[i].len > maxlen)
            maxlen = bodies[i].len;
    char *buf = xmalloc(maxlen);
    for (;;) {
        long b = atomic_fetch_add(&next_batch, 1);
        if (b >= nbatches)
            break;
        const struct body *bd = &bodies[(size_t)b % nbodies];
        memcpy(buf, bd->data, bd->len);
        int64_t t =
            day_mode ? day_start_ms + (int64_t)((double)b / (double)nbatches * DAY_MS) : now_ms();
        for (size_t k = 0; k < bd->nevents; k++)
            patch_ts(buf + bd->ts_at[k], t);
        atomic_store(&batches_started, b + 1);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, buf);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)bd->len);
        long code = 0;
        if (curl_easy_perform(c) != CURLE_OK ||
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
            atomic_fetch_add(&errors, 1);
        else
            atomic_fetch_add(&events_sent, (long)bd->nevents);
    }
    free(buf);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    return NULL;
}

static bool proc_cpu(long pid, double *secs)
{
    char p[64], buf[2048];
    snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');
    if (!s)
        return false;
    unsigned long long ut = 0, st = 0;
    /* fields 14 and 15 (utime, stime); s points at field 2's end */
    if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return false;
    *secs = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

static long proc_kib(long pid, const char *key)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%ld/status", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

struct sampler {
    long pid;
    FILE *out;
};

static void *sample(void *arg)
{
    struct sampler *s = arg;
    while (!atomic_load(&done)) {
        long b = atomic_load(&batches_started);
        long hour = b ? (long)((double)(b - 1) / (double)nbatches * 24.0) : 0;
        fprintf(s->out, "%ld %ld %ld\n", b, hour, proc_kib(s->pid, "VmRSS"));
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void create_stream(const char *stream)
{
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-amz-json-1.1");
    hdr = curl_slist_append(hdr, "X-Amz-Target: Logs_20140328.CreateLogStream");
    CURL *c = new_handle(hdr);
    struct out o = {0};
    puts_(&o, "{\"logGroupName\":\"");
    put_json(&o, group, strlen(group));
    puts_(&o, "\",\"logStreamName\":\"");
    put_json(&o, stream, strlen(stream));
    puts_(&o, "\"}");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, o.p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)o.len);
    curl_easy_perform(c); /* an existing stream answers 400: fine */
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    free(o.p);
}

int main(int argc, char **argv)
{
    const char *ndjson = NULL, *rss_log = NULL;
    long conns = 4, pid = 0, passes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--url") && v) {
            url = v;
            i++;
        } else if (!strcmp(a, "--group") && v) {
            group = v;
            i++;
        } else if (!strcmp(a, "--ndjson") && v) {
            ndjson = v;
            i++;
        } else if (!strcmp(a, "--batches") && v) {
            nbatches = strtol(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--passes") && v) {
            passes = strtol(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--conns") && v) {
            conns = strtol(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--pid") && v) {
            pid = strtol(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--rss-log") && v) {
            rss_log = v;
            i++;
        } else if (!strcmp(a, "--day")) {
            day_mode = true;
        } else {
            fprintf(stderr, "usage: ks-logs-load --url URL --group G --ndjson FILE "
                            "[--batches N | --passes K] [--conns C] [--pid PID] [--day] "
                            "[--rss-log FILE]\n");
            return 2;
        }
    }
    if (!url || !group || !ndjson || nbatches < 1 || nbatches > MAX_BATCHES || conns < 1 ||
        conns > MAX_CONNS || (rss_log && !pid)) {
        fprintf(stderr,
                "ks-logs-load: --url, --group and --ndjson are required; 1 <= batches "
                "<= %ld, 1 <= conns <= %d; --rss-log needs --pid\n",
                MAX_BATCHES, MAX_CONNS);
        return 2;
    }
    if (strncmp(url, "http://127.0.0.1:", 17)) {
        fprintf(stderr, "ks-logs-load: only http://127.0.0.1:PORT targets\n");
        return 2;
    }
    snprintf(target_url, sizeof(target_url), "%s/", url);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    load_bodies(ndjson, "bench");
    if (passes > 0 && passes <= MAX_BATCHES / (long)nbodies)
        nbatches = passes * (long)nbodies;
    create_stream("bench");
    size_t per = 0;
    for (size_t i = 0; i < nbodies; i++)
        per += bodies[i].nevents;
    day_start_ms = now_ms() - DAY_MS;

    FILE *rl = NULL;
    pthread_t st;
    struct sampler sm = {pid, NULL};
    if (rss_log) {
        rl = fopen(rss_log, "w");
        if (!rl) {
            fprintf(stderr, "ks-logs-load: cannot write '%s'\n", rss_log);
            return 2;
        }
        sm.out = rl;
        pthread_create(&st, NULL, sample, &sm);
    }
    double cpu0 = 0, cpu1 = 0;
    bool have_cpu = pid && proc_cpu(pid, &cpu0);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = mono();
    pthread_t th[MAX_CONNS];
    for (long i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, sender, NULL);
    for (long i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double wall = mono() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    have_cpu = have_cpu && proc_cpu(pid, &cpu1);
    atomic_store(&done, true);
    if (rl) {
        pthread_join(st, NULL);
        fclose(rl);
    }
    double ccpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                  (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                  (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    long ev = atomic_load(&events_sent);
    size_t bytes = 0;
    for (long b = 0; b < nbatches; b++)
        bytes += bodies[(size_t)b % nbodies].len;
    printf("bodies=%zu batches=%ld events=%ld errors=%ld seconds=%.3f events_per_s=%.0f "
           "body_mb_per_s=%.1f "
           "events_per_batch=%.0f client_cpu_s=%.2f",
           nbodies, nbatches, ev, atomic_load(&errors), wall, (double)ev / wall,
           (double)bytes / 1e6 / wall, (double)per / (double)nbodies, ccpu);
    if (have_cpu)
        printf(" server_cpu_s=%.2f server_cores=%.2f", cpu1 - cpu0, (cpu1 - cpu0) / wall);
    if (pid)
        printf(" server_rss_kib=%ld server_hwm_kib=%ld", proc_kib(pid, "VmRSS"),
               proc_kib(pid, "VmHWM"));
    printf("\n");
    for (size_t i = 0; i < nbodies; i++) {
        free(bodies[i].data);
        free(bodies[i].ts_at);
    }
    free(bodies);
    curl_global_cleanup();
    return atomic_load(&errors) ? 1 : 0;
}
