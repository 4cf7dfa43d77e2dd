/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KMS service's HTTP front end (spec/kms-api.md §1, spec/sigv4.md §4).
 *
 * Two layers in one file:
 * - kms_server_handle: the protocol for one complete request, with no
 *   sockets: method, path, body size, SigV4, content type, X-Amz-Target,
 *   the operation (kms_call) and the trail record. Tests and the fuzz target
 *   call it directly.
 * - the libmicrohttpd glue: a thread pool (one epoll thread per core by
 *   default; every handler runs to completion on its thread, which is what
 *   KMS calls want: they are short and CPU-bound), keep-alive, raw request
 *   targets kept for SigV4 (MHD's URI log callback sees the target before
 *   any unescaping), bodies read into a capped buffer.
 *
 * Ordering: the trail record is submitted before the response is queued, so
 * every answered call is in the trail; a graceful stop refuses requests that
 * arrive after it began (they were never executed) and waits for the ones in
 * flight before stopping the threads.
 */
#include "kms/kms_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define KMS_TARGET_PREFIX "TrentService."

/* The operations of the KMS model and their CloudTrail readOnly flag
 * (spec cloudtrail §2.1), for the records this layer writes itself when a
 * call fails before reaching the operations library. */
static const struct {
    const char *name;
    bool read_only;
} kms_op_table[] = {
    {"CancelKeyDeletion", false},
    {"ConnectCustomKeyStore", false},
    {"CreateAlias", false},
    {"CreateCustomKeyStore", false},
    {"CreateGrant", false},
    {"CreateKey", false},
    {"Decrypt", true},
    {"DeleteAlias", false},
    {"DeleteCustomKeyStore", false},
    {"DeleteImportedKeyMaterial", false},
    {"DeriveSharedSecret", true},
    {"DescribeCustomKeyStores", true},
    {"DescribeKey", true},
    {"DisableKey", false},
    {"DisableKeyRotation", false},
    {"DisconnectCustomKeyStore", false},
    {"EnableKey", false},
    {"EnableKeyRotation", false},
    {"Encrypt", true},
    {"GenerateDataKey", true},
    {"GenerateDataKeyPair", true},
    {"GenerateDataKeyPairWithoutPlaintext", true},
    {"GenerateDataKeyWithoutPlaintext", true},
    {"GenerateMac", true},
    {"GenerateRandom", true},
    {"GetKeyLastUsage", true},
    {"GetKeyPolicy", true},
    {"GetKeyRotationStatus", true},
    {"GetParametersForImport", true},
    {"GetPublicKey", true},
    {"ImportKeyMaterial", false},
    {"ListAliases", true},
    {"ListGrants", true},
    {"ListKeyPolicies", true},
    {"ListKeyRotations", true},
    {"ListKeys", true},
    {"ListResourceTags", true},
    {"ListRetirableGrants", true},
    {"PutKeyPolicy", false},
    {"ReEncrypt", true},
    {"ReplicateKey", false},
    {"RetireGrant", false},
    {"RevokeGrant", false},
    {"RotateKeyOnDemand", false},
    {"ScheduleKeyDeletion", false},
    {"Sign", true},
    {"TagResource", false},
    {"UntagResource", false},
    {"UpdateAlias", false},
    {"UpdateCustomKeyStore", false},
    {"UpdateKeyDescription", false},
    {"UpdatePrimaryRegion", false},
    {"Verify", true},
    {"VerifyMac", true},
};

static int find_op(const char *name)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(kms_op_table); i++)
        if (!strcmp(kms_op_table[i].name, name))
            return (int)i;
    return -1;
}

struct kms_server {
    struct kms_service *svc;
    const struct kms_principals *principals;
    struct kms_trail *trail;
    char *listen;
    bool allow_remote;
    unsigned threads;
    char *region;
    char *account;
    char *event_version;
    int64_t max_skew;
    bool trail_auth_failures;
    bool debug_signatures;
    struct sigv4_key_cache *cache;
    const char *regions[1];

    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic int stopping;
    _Atomic long inflight;
    bool stopped;

    _Atomic uint64_t n_requests, n_errors, n_auth_failures, n_recorded, n_refused;
};

void kms_http_response_init(struct kms_http_response *r)
{
    memset(r, 0, sizeof(*r));
    ks_buf_init(&r->body, KMS_MAX_BODY_BYTES * 2);
}

void kms_http_response_release(struct kms_http_response *r)
{
    ks_buf_release(&r->body);
}

/* {"__type":"<code>","message":"<text>"}; the message key is left out when
 * the text is empty (spec kms-api §1.4 rule 3). */
static void set_error(struct kms_http_response *out, unsigned status, const char *code,
                      const char *msg, size_t msg_len)
{
    out->status = status;
    out->error_type = code;
    ks_buf_reset(&out->body);
    enum ks_err e = ks_buf_add(&out->body, "{\"__type\":\"", 11);
    if (!e)
        e = ks_buf_add_json_str(&out->body, code, strlen(code));
    if (!e && msg && msg_len) {
        e = ks_buf_add(&out->body, "\",\"message\":\"", 13);
        /* Messages may echo request bytes: invalid UTF-8 becomes '?' so the
         * body stays JSON that every client parses. */
        size_t bad_at, from = 0;
        while (!e && from < msg_len && !ks_text_clean(msg + from, msg_len - from, &bad_at)) {
            e = ks_buf_add_json_str(&out->body, msg + from, bad_at);
            if (!e)
                e = ks_buf_add(&out->body, "?", 1);
            from += bad_at + 1;
        }
        if (!e)
            e = ks_buf_add_json_str(&out->body, msg + from, msg_len - from);
    }
    if (!e)
        e = ks_buf_add(&out->body, "\"}", 2);
    (void)e; /* the body cap is twice the request cap: cannot be reached */
}

struct lookup_ctx {
    const struct kms_principals *set;
    const struct kms_principal *found;
};

static bool lookup_key(void *ctx, const char *akid, struct sigv4_principal *out)
{
    struct lookup_ctx *l = ctx;
    const struct kms_principal *p = kms_principals_find(l->set, akid);
    if (!p)
        return false;
    l->found = p;
    out->secret_access_key = p->secret_access_key;
    out->session_token = p->session_token;
    out->expiration = p->expiration;
    out->identity = p;
    return true;
}

static void submit(struct kms_server *srv, const struct kms_trail_call *c)
{
    if (!srv->trail)
        return;
    struct ks_buf rec;
    ks_buf_init(&rec, KMS_MAX_RECORD_BYTES * 4);
    if (kms_trail_record(c, &rec) != KS_OK || rec.cap == 0) {
        /* A record past 1 MiB cannot come from a 1 MiB request; count it. */
        ks_buf_release(&rec);
        return;
    }
    kms_trail_submit(srv->trail, rec.data, rec.len, c->time_ms);
    atomic_fetch_add(&srv->n_recorded, 1);
}

/* X-Amz-Target -> operation name, or NULL. Names are 1..64 letters/digits. */
static const char *target_op(const struct sigv4_request *rq, char op[65])
{
    const struct sigv4_header *h = sigv4_request_header(rq, "X-Amz-Target", 0);
    if (!h || sigv4_request_header_count(rq, "X-Amz-Target") != 1)
        return NULL;
    size_t pl = strlen(KMS_TARGET_PREFIX);
    if (h->value_len <= pl || h->value_len - pl > 64 || memcmp(h->value, KMS_TARGET_PREFIX, pl))
        return NULL;
    size_t n = h->value_len - pl;
    for (size_t i = 0; i < n; i++) {
        char c = h->value[pl + i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return NULL;
    }
    memcpy(op, h->value + pl, n);
    op[n] = '\0';
    return op;
}

/* spec kms-api §1.1 rule 3: the media type, parameters ignored. */
static bool json_content_type(const struct sigv4_request *rq)
{
    const struct sigv4_header *h = sigv4_request_header(rq, "Content-Type", 0);
    if (!h)
        return false;
    const char *v = h->value;
    size_t n = h->value_len;
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    const char *semi = memchr(v, ';', n);
    if (semi)
        n = (size_t)(semi - v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    static const char *const ok[] = {"application/x-amz-json-1.1", "application/x-amz-json-1.0",
                                     "application/json"};
    for (size_t i = 0; i < KS_ARRAY_LEN(ok); i++)
        if (n == strlen(ok[i]) && !strncasecmp(v, ok[i], n))
            return true;
    return false;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void base_call(struct kms_server *srv, const struct kms_http_request *in,
                      const struct kms_http_response *out, struct kms_trail_call *c)
{
    memset(c, 0, sizeof(*c));
    c->event_version = srv->event_version;
    /* eventTime is the completion time (spec cloudtrail §1.1); a clock that
     * lags the request time (tests inject now_ms) never goes backwards. */
    int64_t done = wall_ms();
    c->time_ms = done > in->now_ms ? done : in->now_ms;
    c->region = srv->region;
    c->account = srv->account;
    c->source_ip = in->source_ip;
    const struct sigv4_header *ua = sigv4_request_header(&in->req, "User-Agent", 0);
    if (ua) {
        c->user_agent = ua->value;
        c->user_agent_len = ua->value_len;
    }
    c->request_id = out->request_id;
}

void kms_server_handle(struct kms_server *srv, const struct kms_http_request *in,
                       struct kms_http_response *out)
{
    const struct sigv4_request *rq = &in->req;
    kms_trail_uuid4(out->request_id);
    out->recorded = false;
    atomic_fetch_add(&srv->n_requests, 1);

    /* Method, then path (spec kms-api §1.1 rules 1-2). */
    if (strcmp(rq->method, "POST") != 0) {
        static const char m[] = "Only POST / is supported by this service";
        set_error(out, 405, "UnknownOperationException", m, sizeof(m) - 1);
        goto done;
    }
    if (strcmp(rq->path, "/") != 0) {
        static const char m[] = "No operation is served at this path; send POST /";
        set_error(out, 404, "UnknownOperationException", m, sizeof(m) - 1);
        goto done;
    }
    if (in->body_too_large) {
        char m[96];
        int n =
            snprintf(m, sizeof(m), "HTTP content length exceeded %u bytes.", KMS_MAX_BODY_BYTES);
        set_error(out, 413, "ValidationException", m, (size_t)n);
        goto done;
    }

    /* Authenticate before looking at the body (spec kms-api §1.1 rule 8). */
    struct lookup_ctx lk = {.set = srv->principals};
    struct sigv4_verifier v = {
        .service = "kms",
        .regions = srv->regions,
        .nregions = 1,
        .max_skew = srv->max_skew,
        .flags = srv->debug_signatures ? SIGV4_F_DEBUG : 0,
        .lookup = lookup_key,
        .lookup_ctx = &lk,
        .cache = srv->cache,
    };
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum sigv4_status st = sigv4_verify(&v, rq, in->now_ms / 1000, &res);
    char op[65];
    const char *opname = target_op(rq, op);
    if (st != SIGV4_OK) {
        atomic_fetch_add(&srv->n_auth_failures, 1);
        set_error(out, (unsigned)sigv4_status_http(st), sigv4_status_aws_code(st), res.message.data,
                  res.message.len);
        /* Not recorded by default: CloudTrail does not log requests that
         * fail authentication (spec cloudtrail §2.7, sigv4 §4). */
        int oi = opname ? find_op(opname) : -1;
        if (srv->trail_auth_failures && oi >= 0) {
            struct kms_trail_call c;
            base_call(srv, in, out, &c);
            struct ks_buf unknown;
            ks_buf_init(&unknown, 1024);
            if (lk.found) {
                c.identity_json = lk.found->identity_json;
                c.identity_len = lk.found->identity_len;
            } else {
                enum ks_err e = ks_buf_add(&unknown, "{\"type\":\"Unknown\"", 17);
                if (!e && res.access_key_id[0]) {
                    e = ks_buf_add(&unknown, ",\"accessKeyId\":\"", 16);
                    if (!e)
                        e = ks_buf_add_json_str(&unknown, res.access_key_id,
                                                strlen(res.access_key_id));
                    if (!e)
                        e = ks_buf_add(&unknown, "\"", 1);
                }
                if (!e)
                    e = ks_buf_add(&unknown, "}", 1);
                c.identity_json = unknown.data;
                c.identity_len = unknown.len;
            }
            c.event_name = kms_op_table[oi].name;
            c.read_only = kms_op_table[oi].read_only;
            c.error_code = sigv4_status_aws_code(st);
            c.error_message = res.message.data;
            c.error_message_len = res.message.len;
            submit(srv, &c);
            out->recorded = srv->trail != NULL;
            ks_buf_release(&unknown);
        }
        sigv4_result_release(&res);
        goto done;
    }
    const struct kms_principal *who = res.identity;
    sigv4_result_release(&res);

    if (!json_content_type(rq)) {
        static const char m[] = "Content-Type must be application/x-amz-json-1.1";
        set_error(out, 400, "SerializationException", m, sizeof(m) - 1);
        int oi = opname ? find_op(opname) : -1;
        if (oi >= 0) {
            struct kms_trail_call c;
            base_call(srv, in, out, &c);
            c.identity_json = who->identity_json;
            c.identity_len = who->identity_len;
            c.event_name = kms_op_table[oi].name;
            c.read_only = kms_op_table[oi].read_only;
            c.error_code = "SerializationException";
            c.error_message = m;
            c.error_message_len = sizeof(m) - 1;
            submit(srv, &c);
            out->recorded = srv->trail != NULL;
        }
        goto done;
    }
    if (!opname) {
        static const char m[] = "The X-Amz-Target header must name one operation as "
                                "TrentService.<Operation>";
        set_error(out, 400, "UnknownOperationException", m, sizeof(m) - 1);
        goto done;
    }

    struct kms_caller caller = {
        .arn = who->arn, .account = who->account, .role_arn = who->role_arn};
    struct kms_response r;
    kms_response_init(&r);
    kms_call(srv->svc, opname, rq->body ? rq->body : "", rq->body_len, &caller, in->now_ms, &r);
    out->status = r.http_status ? r.http_status : 500;
    out->error_type = r.error_code;
    if (r.error_code) {
        /* Error bodies are rebuilt from code and message: always the
         * {"__type","message"} shape, always valid JSON (spec kms-api §1.4). */
        set_error(out, out->status, r.error_code, r.error_message.data, r.error_message.len);
    } else {
        /* hand the body over without a copy */
        struct ks_buf tmp = out->body;
        out->body = r.body;
        r.body = tmp;
    }
    /* Every call of a KMS operation is recorded, also when the library
     * rejected it before naming an event (e.g. malformed JSON); targets that
     * name no operation of the model are not API calls and are not. */
    int oi = find_op(opname);
    bool unknown_op = r.error_code && !strcmp(r.error_code, "UnknownOperationException");
    if (!r.event_name && oi >= 0 && !unknown_op) {
        r.event_name = kms_op_table[oi].name;
        r.read_only = kms_op_table[oi].read_only;
    }
    if (r.event_name && !unknown_op) {
        struct kms_trail_call c;
        base_call(srv, in, out, &c);
        c.identity_json = who->identity_json;
        c.identity_len = who->identity_len;
        c.event_name = r.event_name;
        c.read_only = r.read_only;
        /* CloudTrail's code may differ from the API's ("AccessDenied") */
        c.error_code = r.trail_error_code ? r.trail_error_code : r.error_code;
        c.error_message = r.error_message.data;
        c.error_message_len = r.error_message.len;
        c.request_parameters = r.request_parameters;
        c.response_elements = r.response_elements;
        c.resources = r.resources;
        c.additional_event_data = r.additional_event_data;
        submit(srv, &c);
        out->recorded = srv->trail != NULL;
    }
    kms_response_release(&r);
done:
    if (out->status >= 400)
        atomic_fetch_add(&srv->n_errors, 1);
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 */

enum ks_err kms_server_new(const struct kms_server_options *o, struct kms_server **out,
                           struct ks_diag *diag)
{
    *out = NULL;
    if (!o->svc || !o->principals || !o->region || !o->account)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "the server needs a service, principals, a region and an account");
    struct kms_server *s = ks_xcalloc(1, sizeof(*s));
    s->svc = o->svc;
    s->principals = o->principals;
    s->trail = o->trail;
    s->listen = ks_xstrdup(o->listen ? o->listen : KMS_DEFAULT_LISTEN);
    s->allow_remote = o->allow_remote;
    s->threads = o->threads;
    s->region = ks_xstrdup(o->region);
    s->account = ks_xstrdup(o->account);
    s->event_version = ks_xstrdup(o->event_version ? o->event_version : KMS_DEFAULT_EVENT_VER);
    s->max_skew = o->max_skew > 0 ? o->max_skew : SIGV4_DEFAULT_MAX_SKEW;
    s->trail_auth_failures = o->trail_auth_failures;
    s->debug_signatures = o->debug_signatures;
    s->cache = sigv4_key_cache_new(0);
    s->regions[0] = s->region;
    *out = s;
    return KS_OK;
}

void kms_server_get_stats(struct kms_server *s, struct kms_server_stats *o)
{
    o->requests = atomic_load(&s->n_requests);
    o->errors = atomic_load(&s->n_errors);
    o->auth_failures = atomic_load(&s->n_auth_failures);
    o->recorded = atomic_load(&s->n_recorded);
    o->refused = atomic_load(&s->n_refused);
}

/* ---------------------------------------------------------------------------
 * libmicrohttpd glue
 */

struct req_ctx {
    struct kms_http_request in;
    struct ks_buf body;
    size_t discarded;
    bool started;
    bool counted;
    char ip[INET6_ADDRSTRLEN];
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct req_ctx *r = ks_xcalloc(1, sizeof(*r));
    sigv4_request_init(&r->in.req);
    ks_buf_init(&r->body, KMS_MAX_BODY_BYTES);
    /* The raw target, before MHD splits or unescapes it: SigV4 signs the
     * bytes as sent (spec sigv4 §7). A failure is remembered in req.bad. */
    enum ks_err e = sigv4_request_set_target(&r->in.req, uri, strlen(uri));
    (void)e;
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct kms_server *s = cls;
    struct req_ctx *r = *con_cls;
    if (!r)
        return;
    if (r->counted)
        atomic_fetch_sub(&s->inflight, 1);
    sigv4_request_release(&r->in.req);
    ks_buf_release(&r->body);
    free(r);
    *con_cls = NULL;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct req_ctx *r = cls;
    /* Errors are remembered in req.bad and answered by SigV4 (too many or
     * too large headers -> an AWS-shaped error, never a crash). */
    enum ks_err e = sigv4_request_add_header(&r->in.req, key, key_size, value ? value : "",
                                             value ? value_size : 0);
    (void)e;
    return MHD_YES;
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct kms_http_response *res)
{
    struct MHD_Response *m;
    if (res->body.cap) {
        m = MHD_create_response_from_buffer(res->body.len, res->body.data, MHD_RESPMEM_MUST_FREE);
        if (m)
            ks_buf_init(&res->body, res->body.max); /* MHD owns the bytes now */
    } else {
        m = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    }
    if (!m)
        return MHD_NO;
    MHD_add_response_header(m, "x-amzn-RequestId", res->request_id);
    MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-amz-json-1.1");
    if (res->error_type)
        MHD_add_response_header(m, "x-amzn-ErrorType", res->error_type);
    enum MHD_Result rc = MHD_queue_response(conn, res->status, m);
    MHD_destroy_response(m);
    return rc;
}

static enum MHD_Result finish(struct kms_server *s, struct MHD_Connection *conn, struct req_ctx *r)
{
    sigv4_request_set_body(&r->in.req, r->body.data, r->body.len);
    r->in.now_ms = wall_ms();
    struct kms_http_response res;
    kms_http_response_init(&res);
    kms_server_handle(s, &r->in, &res);
    enum MHD_Result rc = respond(conn, &res);
    kms_http_response_release(&res);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct kms_server *s = cls;
    struct req_ctx *r = *con_cls;
    if (!r)
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        atomic_fetch_add(&s->inflight, 1);
        r->counted = true;
        if (atomic_load(&s->stopping)) {
            /* Stopping: this request has not run and will not; closing the
             * connection tells the client so. */
            atomic_fetch_add(&s->n_refused, 1);
            return MHD_NO;
        }
        enum ks_err e = sigv4_request_set_method(&r->in.req, method, strlen(method));
        (void)e; /* remembered in req.bad; answered below */
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, add_header, r);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->ip,
                          sizeof(r->ip));
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                          r->ip, sizeof(r->ip));
        }
        r->in.source_ip = r->ip;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == ERANGE || n > KMS_MAX_BODY_BYTES) {
                /* Answer now, unread body and all: MHD then closes the
                 * connection instead of reading the rest. */
                r->in.body_too_large = true;
                return finish(s, conn, r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->in.body_too_large && ks_buf_add(&r->body, upload_data, n) == KS_OK)
            return MHD_YES;
        r->in.body_too_large = true;
        r->discarded += n;
        /* chunked and unbounded: stop reading at some point */
        return r->discarded > KMS_MAX_DISCARD_BYTES ? MHD_NO : MHD_YES;
    }
    return finish(s, conn, r);
}

static void quiet_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

enum ks_err kms_server_start(struct kms_server *s, struct ks_diag *diag)
{
    /* HOST:PORT, [V6]:PORT */
    char host[256];
    const char *l = s->listen;
    const char *colon = strrchr(l, ':');
    if (!colon || colon == l)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "listen address '%s' is not HOST:PORT", l);
    size_t hl = (size_t)(colon - l);
    const char *h = l;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "listen address '%s' has no host", l);
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *port = colon + 1;
    char *pend = NULL;
    unsigned long pn = strtoul(port, &pend, 10);
    if (!*port || *pend || pn > 65535)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "listen port '%s' is not 0..65535", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "cannot resolve '%s': %s", host,
                           gai_strerror(gai));
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    if (!is_loopback(sa) && !s->allow_remote)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "refusing to listen on '%s': not a loopback address (the service "
                           "holds keys; pass --allow-remote to expose it)",
                           l);
    unsigned threads = s->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)KMS_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KMS_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_EXTERNAL_LOGGER, quiet_log, NULL, MHD_OPTION_END);
    if (!s->daemon)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot listen on '%s': %s", l,
                           errno ? strerror(errno) : "libmicrohttpd failed to start");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : (uint16_t)pn;
    return KS_OK;
}

uint16_t kms_server_port(const struct kms_server *s)
{
    return s->port;
}

void kms_server_stop(struct kms_server *s, unsigned timeout_ms)
{
    if (!s->daemon || s->stopped)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket lsock = MHD_quiesce_daemon(s->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    /* Wait for the calls in flight; requests arriving meanwhile are refused
     * by on_request and leave at once. */
    for (unsigned waited = 0; waited < timeout_ms; waited += 5) {
        if (atomic_load(&s->inflight) <= 0)
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    s->stopped = true;
}

void kms_server_free(struct kms_server *s)
{
    if (!s)
        return;
    kms_server_stop(s, 10000);
    sigv4_key_cache_free(s->cache);
    free(s->listen);
    free(s->region);
    free(s->account);
    free(s->event_version);
    free(s);
}
