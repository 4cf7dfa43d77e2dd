/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listener: accepts, collects the body under a cap, checks the token,
 * dispatches by protocol, and sends what the handler built.
 *
 * Dispatch: an X-Amz-Target header selects the logs JSON 1.1 API; a POST
 * whose form body has Action= selects the cloudwatch query API; everything
 * else goes by path (/api/..., /metrics, /healthz).
 *
 * Threads: MHD runs a pool of internal polling threads, one per CPU (at
 * most HTTP_MAX_THREADS), each serving its own connections, so two
 * PutLogEvents bodies are parsed and matched on two cores at once
 * (docs/benchmarks.md). Handlers share nothing but the engine, which they
 * reach through its lock (held briefly: a slow client never holds it, MHD
 * buffers the response), the Firehose request-id ring (its own mutex) and
 * the hub pointer (atomic).
 */
#include "http/http_int.h"
#include "http/http_push.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_THREADS 8 /* listener threads, whatever the CPU count */

struct conn_state {
    struct ks_buf body;
    bool too_big;
};

void http_add(struct http_req *r, const void *p, size_t n)
{
    if (ks_buf_add(&r->out, p, n) != KS_OK)
        r->status = 500;
}

void http_add_json(struct http_req *r, const char *s, size_t n)
{
    if (ks_buf_add_json_str(&r->out, s, n) != KS_OK)
        r->status = 500;
}

void http_out(struct http_req *r, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        http_add(r, small, (size_t)n);
        return;
    }
    char *big = ks_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    http_add(r, big, (size_t)n);
    free(big);
}

void http_out_json_str(struct http_req *r, const char *s)
{
    http_add(r, "\"", 1);
    http_add_json(r, s ? s : "", s ? strlen(s) : 0);
    http_add(r, "\"", 1);
}

void http_out_xml(struct http_req *r, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '<':
            http_add(r, "&lt;", 4);
            break;
        case '>':
            http_add(r, "&gt;", 4);
            break;
        case '&':
            http_add(r, "&amp;", 5);
            break;
        case '"':
            http_add(r, "&quot;", 6);
            break;
        case '\'':
            http_add(r, "&apos;", 6);
            break;
        default:
            http_add(r, p, 1);
        }
    }
}

void http_out_iso(struct http_req *r, int64_t ms)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    http_out(r, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(((ms % 1000) + 1000) % 1000));
}

bool http_parse_time(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return false;
    if (event_parse_time(s, strlen(s), ms))
        return true;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= 0 && v < 1e13))
        return false;
    /* epoch seconds (the CLI's --start-time 1700000000), else milliseconds */
    *ms = v < 1e11 ? (int64_t)(v * 1000) : (int64_t)v;
    return true;
}

/* ---- forms --------------------------------------------------------------- */

static char *decode(const char *s, size_t n)
{
    char *o = ks_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            o[k++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && ks_hexval(s[i + 1]) >= 0 &&
                   ks_hexval(s[i + 2]) >= 0) {
            o[k++] = (char)(ks_hexval(s[i + 1]) * 16 + ks_hexval(s[i + 2]));
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    return o;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* PutMetricData's members are looked up one name at a time, thousands of
 * times a request: a linear search would be quadratic in the form's size. */
static void form_index(struct http_form *f)
{
    size_t cap = 16;
    while (cap < 2 * f->n)
        cap *= 2;
    f->index = ks_xcalloc(cap, sizeof(*f->index));
    f->index_cap = cap;
    for (size_t i = 0; i < f->n; i++) {
        size_t slot = (size_t)name_hash(f->names[i]) & (cap - 1);
        bool dup = false;
        for (; f->index[slot]; slot = (slot + 1) & (cap - 1))
            if (!strcmp(f->names[f->index[slot] - 1], f->names[i])) {
                dup = true; /* the first occurrence wins, as before */
                break;
            }
        if (!dup)
            f->index[slot] = (uint32_t)(i + 1);
    }
}

bool http_form_parse(struct http_form *f, const char *s, size_t len)
{
    memset(f, 0, sizeof(*f));
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '&')
            j++;
        if (j > i) {
            if (f->n == HTTP_MAX_FORM_PARAMS)
                return false;
            size_t eq = i;
            while (eq < j && s[eq] != '=')
                eq++;
            if (f->n == f->cap) {
                f->cap = f->cap ? f->cap * 2 : 16;
                f->names = ks_xrealloc(f->names, f->cap * sizeof(char *));
                f->values = ks_xrealloc(f->values, f->cap * sizeof(char *));
            }
            f->names[f->n] = decode(s + i, eq - i);
            f->values[f->n] = eq < j ? decode(s + eq + 1, j - eq - 1) : ks_xstrdup("");
            f->n++;
        }
        i = j + 1;
    }
    form_index(f);
    return true;
}

void http_form_release(struct http_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->values[i]);
    }
    free(f->names);
    free(f->values);
    free(f->index);
    memset(f, 0, sizeof(*f));
}

const char *http_form_get(const struct http_form *f, const char *name)
{
    if (!f->index_cap)
        return NULL;
    for (size_t slot = (size_t)name_hash(name) & (f->index_cap - 1); f->index[slot];
         slot = (slot + 1) & (f->index_cap - 1))
        if (!strcmp(f->names[f->index[slot] - 1], name))
            return f->values[f->index[slot] - 1];
    return NULL;
}

/* ---- requests -------------------------------------------------------------- */

static bool token_ok(struct http_req *r)
{
    if (!r->srv->token)
        return true;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7))
        return false;
    /* compare without an early exit, so timing does not leak the prefix */
    const char *a = h + 7, *b = r->srv->token;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool is_form_action(const struct http_req *r)
{
    return r->body_len >= 7 && (!strncmp(r->body, "Action=", 7) || strstr(r->body, "&Action="));
}

static void dispatch(struct http_req *r, bool too_big)
{
    const char *target = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Amz-Target");
    const char *ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    bool form = ctype && !strncmp(ctype, "application/x-www-form-urlencoded", 33);
    if (http_push(r, too_big)) /* Firehose authenticates with its own header */
        return;
    if (!target && http_notify(r))
        return;
    if (!target && http_ui_wants(r)) {
        http_ui(r);
        return;
    }
    if (strcmp(r->url, "/healthz") && !token_ok(r)) {
        if (target)
            http_logs_error(r, 401, "AccessDeniedException", "missing or wrong bearer token");
        else if (form)
            http_cw_error(r, 401, "AccessDenied", "missing or wrong bearer token");
        else {
            r->status = 401;
            http_out(r, "{\"error\":\"missing or wrong bearer token\"}\n");
        }
        return;
    }
    if (target) {
        if (too_big)
            http_logs_error(r, 413, "InvalidParameterException", "request body too large");
        else if (strncmp(target, "Logs_20140328.", 14))
            http_logs_error(r, 400, "UnknownOperationException", "unknown X-Amz-Target");
        else
            http_logs(r, target + 14);
        return;
    }
    if (!strcmp(r->method, "POST") && (form || is_form_action(r)) && strncmp(r->url, "/api/", 5)) {
        if (too_big)
            http_cw_error(r, 413, "RequestEntityTooLarge", "request body too large");
        else
            http_cw(r);
        return;
    }
    if (too_big) {
        r->status = 413;
        http_out(r, "{\"error\":\"request body too large\"}\n");
        return;
    }
    http_api(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = ks_xcalloc(1, sizeof(*cs));
        ks_buf_init(&cs->body, HTTP_MAX_BODY);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->too_big && ks_buf_add(&cs->body, upload, *upload_size) != KS_OK) {
            cs->too_big = true;
            ks_buf_release(&cs->body);
            ks_buf_init(&cs->body, HTTP_MAX_BODY);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    struct http_req r;
    memset(&r, 0, sizeof(r));
    r.srv = srv;
    r.conn = conn;
    r.method = method;
    r.url = url;
    r.body = cs->body.data;
    r.body_len = cs->body.len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    static unsigned long long counter;
    snprintf(r.request_id, sizeof(r.request_id), "ks-%llx-%llx", (unsigned long long)ts.tv_sec,
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    r.status = 200;
    r.content_type = "application/json";
    ks_buf_init(&r.out, 64u << 20);
    dispatch(&r, cs->too_big);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.out.len, r.out.data, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_NO;
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", r.content_type);
        MHD_add_response_header(resp, "x-amzn-RequestId", r.request_id);
        for (size_t i = 0; i < r.n_hdrs; i++)
            MHD_add_response_header(resp, r.hdr_names[i], r.hdr_values[i]);
        rc = MHD_queue_response(conn, r.status, resp);
        MHD_destroy_response(resp);
    }
    ks_buf_release(&r.out);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn_state *cs = *con_cls;
    if (cs) {
        ks_buf_release(&cs->body);
        free(cs);
        *con_cls = NULL;
    }
}

static bool parse_listen(const char *s, struct sockaddr_in *sa, struct ks_diag *diag)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    const char *colon = strrchr(s, ':');
    char host[64];
    if (!colon || (size_t)(colon - s) >= sizeof(host)) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "--listen needs HOST:PORT, got '%s'", s);
        return false;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                    "--listen needs an IPv4 HOST:PORT such as 127.0.0.1:4580, got '%s'", s);
        return false;
    }
    sa->sin_port = htons((uint16_t)port);
    return true;
}

enum ks_err http_server_start(struct serve_engine *engine, const struct http_options *opts,
                              struct http_server **out, struct ks_diag *diag)
{
    *out = NULL;
    struct sockaddr_in sa;
    if (!parse_listen(opts->listen ? opts->listen : "127.0.0.1:4580", &sa, diag))
        return KS_E_INVALID;
    bool loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && (!opts->token || !*opts->token))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "listening on a non-loopback address needs --token (requests then "
                           "carry Authorization: Bearer TOKEN)");
    struct http_server *s = ks_xcalloc(1, sizeof(*s));
    s->engine = engine;
    s->quiet = opts->quiet;
    s->token = opts->token && *opts->token ? ks_xstrdup(opts->token) : NULL;
    s->src_logs = serve_engine_add_source(engine, "http:logs", SERVE_SOURCE_HTTP, "");
    s->src_push = serve_engine_add_source(engine, "http:push", SERVE_SOURCE_HTTP, "");
    http_push_register(s);
    /* MHD divides the connection limit among the pool's threads */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus < 1 ? 1 : cpus > HTTP_MAX_THREADS ? HTTP_MAX_THREADS : (unsigned)cpus;
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
    if (!s->mhd || s->src_logs < 0 || s->src_push < 0) {
        char addr[64];
        inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
        http_server_stop(s);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot listen on %s:%u", addr,
                           ntohs(sa.sin_port));
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : ntohs(sa.sin_port);
    *out = s;
    return KS_OK;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    free(s->token);
    free(s);
}
