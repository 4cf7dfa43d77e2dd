/* SPDX-License-Identifier: Apache-2.0 */
/* A SigV4-verifying loopback KMS/IAM for the response tests (fake_aws.h). */
#include "fake_aws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "base/ks.h"
#include "sigv4/sigv4.h"

#define MAX_BODY  (1u << 20)
#define MAX_ITEMS 64

struct key {
    char id[64];
    char state[32];
};

struct role {
    char name[80];
    char *policy_names[MAX_ITEMS];
    char *policy_docs[MAX_ITEMS];
    size_t n_policies;
    char *attached[MAX_ITEMS];
    size_t n_attached;
};

struct fault {
    char op[64];
    int count;
    int status;
    char code[64];
};

struct call {
    char op[64];
    json_t *params;
};

struct fake_aws {
    struct MHD_Daemon *d;
    char url[64];
    char akid[128], secret[128], token[512];
    bool has_token;
    char region[32], account[16];
    pthread_mutex_t mu;
    struct key keys[MAX_ITEMS];
    size_t n_keys;
    struct role roles[16];
    size_t n_roles;
    struct fault faults[8];
    size_t n_faults;
    char noop[8][64];
    size_t n_noop;
    struct call *calls;
    size_t n_calls;
    size_t rejected;
    char last_rejection[64];
};

struct req {
    struct ks_buf body;
    bool too_big;
};

/* ---- answers --------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, const char *error_type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_MUST_COPY);
    static unsigned long seq;
    char rid[40];
    snprintf(rid, sizeof(rid), "fake-%08lx", __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "x-amzn-RequestId", rid);
    if (error_type)
        MHD_add_response_header(r, "x-amzn-ErrorType", error_type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result kms_error(struct MHD_Connection *c, unsigned status, const char *code,
                                 const char *msg)
{
    json_t *j = json_pack("{s:s, s:s}", "__type", code, "message", msg);
    char *t = json_dumps(j, JSON_COMPACT);
    enum MHD_Result r = answer(c, status, "application/x-amz-json-1.1", t, code);
    free(t);
    json_decref(j);
    return r;
}

static void xml_escape(struct ks_buf *b, const char *s)
{
    for (; *s; s++) {
        enum ks_err e;
        switch (*s) {
        case '&':
            e = ks_buf_addf(b, "&amp;");
            break;
        case '<':
            e = ks_buf_addf(b, "&lt;");
            break;
        case '>':
            e = ks_buf_addf(b, "&gt;");
            break;
        case '"':
            e = ks_buf_addf(b, "&quot;");
            break;
        default:
            e = ks_buf_add(b, s, 1);
        }
        if (e)
            abort();
    }
}

static enum MHD_Result iam_error(struct MHD_Connection *c, unsigned status, const char *code,
                                 const char *msg)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 16);
    if (ks_buf_addf(&b,
                    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
                    "<Error><Type>Sender</Type><Code>%s</Code><Message>",
                    code))
        abort();
    xml_escape(&b, msg);
    if (ks_buf_addf(&b, "</Message></Error><RequestId>fake-iam-error</RequestId></ErrorResponse>"))
        abort();
    enum MHD_Result r = answer(c, status, "text/xml", b.data, NULL);
    ks_buf_release(&b);
    return r;
}

static enum MHD_Result iam_ok(struct MHD_Connection *c, const char *op, const char *result)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    if (ks_buf_addf(&b, "<%sResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">", op) ||
        (result && ks_buf_addf(&b, "<%sResult>%s</%sResult>", op, result, op)) ||
        ks_buf_addf(&b,
                    "<ResponseMetadata><RequestId>fake-iam-%s</RequestId></ResponseMetadata>"
                    "</%sResponse>",
                    op, op))
        abort();
    enum MHD_Result r = answer(c, 200, "text/xml", b.data, NULL);
    ks_buf_release(&b);
    return r;
}

/* ---- state helpers (mu held) ---------------------------------------------------- */

static struct key *find_key(struct fake_aws *fa, const char *key_id)
{
    const char *id = key_id;
    const char *slash = strstr(key_id, ":key/");
    if (strncmp(key_id, "arn:", 4) == 0) {
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:key/", fa->region, fa->account);
        if (!slash || strncmp(key_id, prefix, strlen(prefix)) != 0)
            return NULL;
        id = slash + 5;
    }
    for (size_t i = 0; i < fa->n_keys; i++)
        if (strcmp(fa->keys[i].id, id) == 0)
            return &fa->keys[i];
    return NULL;
}

static struct role *find_role(struct fake_aws *fa, const char *name)
{
    for (size_t i = 0; i < fa->n_roles; i++)
        if (strcmp(fa->roles[i].name, name) == 0)
            return &fa->roles[i];
    return NULL;
}

static bool take_fault(struct fake_aws *fa, const char *op, struct fault *out)
{
    for (size_t i = 0; i < fa->n_faults; i++)
        if (fa->faults[i].count > 0 && strcmp(fa->faults[i].op, op) == 0) {
            fa->faults[i].count--;
            *out = fa->faults[i];
            return true;
        }
    return false;
}

static bool is_noop(struct fake_aws *fa, const char *op)
{
    for (size_t i = 0; i < fa->n_noop; i++)
        if (strcmp(fa->noop[i], op) == 0)
            return true;
    return false;
}

static void record(struct fake_aws *fa, const char *op, json_t *params)
{
    fa->calls = realloc(fa->calls, (fa->n_calls + 1) * sizeof(*fa->calls));
    if (!fa->calls)
        abort();
    snprintf(fa->calls[fa->n_calls].op, sizeof(fa->calls[0].op), "%s", op);
    fa->calls[fa->n_calls].params = json_incref(params);
    fa->n_calls++;
}

/* ---- KMS ------------------------------------------------------------------------- */

static json_t *metadata(struct fake_aws *fa, const struct key *k)
{
    char arn[160];
    snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", fa->region, fa->account, k->id);
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "AWSAccountId", fa->account, "KeyId",
                     k->id, "Arn", arn, "Enabled", strcmp(k->state, "Enabled") == 0, "KeyState",
                     k->state, "KeyUsage", "ENCRYPT_DECRYPT", "KeySpec", "SYMMETRIC_DEFAULT");
}

static enum MHD_Result kms(struct fake_aws *fa, struct MHD_Connection *c, const char *op,
                           const struct ks_buf *body)
{
    json_t *in = json_loadb(body->data, body->len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return kms_error(c, 400, "SerializationException", "body is not a JSON object");
    }
    pthread_mutex_lock(&fa->mu);
    record(fa, op, in);
    struct fault f;
    enum MHD_Result ret;
    if (take_fault(fa, op, &f)) {
        pthread_mutex_unlock(&fa->mu);
        json_decref(in);
        return kms_error(c, (unsigned)f.status, f.code, "injected fault");
    }
    const char *key_id = json_string_value(json_object_get(in, "KeyId"));
    struct key *k = key_id ? find_key(fa, key_id) : NULL;
    char msg[256];
    if (!key_id) {
        ret = kms_error(c, 400, "ValidationException",
                        "1 validation error detected: Value null at 'keyId' failed to satisfy "
                        "constraint: Member must not be null");
        goto out;
    }
    if (!k) {
        snprintf(msg, sizeof(msg), "Key '%.100s' does not exist", key_id);
        ret = kms_error(c, 400, "NotFoundException", msg);
        goto out;
    }
    char arn[160];
    snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", fa->region, fa->account, k->id);
    bool pending = strcmp(k->state, "PendingDeletion") == 0;
    if (strcmp(op, "DescribeKey") == 0) {
        json_t *o = json_pack("{s:o}", "KeyMetadata", metadata(fa, k));
        char *t = json_dumps(o, JSON_COMPACT);
        ret = answer(c, 200, "application/x-amz-json-1.1", t, NULL);
        free(t);
        json_decref(o);
    } else if (strcmp(op, "DisableKey") == 0 || strcmp(op, "EnableKey") == 0) {
        if (pending) {
            snprintf(msg, sizeof(msg), "%s is pending deletion.", arn);
            ret = kms_error(c, 400, "KMSInvalidStateException", msg);
        } else {
            if (!is_noop(fa, op))
                snprintf(k->state, sizeof(k->state), "%s", op[0] == 'D' ? "Disabled" : "Enabled");
            ret = answer(c, 200, "application/x-amz-json-1.1", "", NULL);
        }
    } else if (strcmp(op, "ScheduleKeyDeletion") == 0) {
        json_t *w = json_object_get(in, "PendingWindowInDays");
        json_int_t days = w ? json_integer_value(w) : 30;
        if (pending) {
            snprintf(msg, sizeof(msg), "%s is pending deletion.", arn);
            ret = kms_error(c, 400, "KMSInvalidStateException", msg);
        } else if (!(w == NULL || json_is_integer(w)) || days < 7 || days > 30) {
            ret = kms_error(c, 400, "ValidationException",
                            "1 validation error detected: Value at 'pendingWindowInDays' failed "
                            "to satisfy constraint: Member must have value between 7 and 30");
        } else {
            if (!is_noop(fa, op))
                snprintf(k->state, sizeof(k->state), "PendingDeletion");
            json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "KeyId", arn, "DeletionDate",
                                  (json_int_t)time(NULL) + days * 86400, "KeyState",
                                  "PendingDeletion", "PendingWindowInDays", days);
            char *t = json_dumps(o, JSON_COMPACT);
            ret = answer(c, 200, "application/x-amz-json-1.1", t, NULL);
            free(t);
            json_decref(o);
        }
    } else if (strcmp(op, "CancelKeyDeletion") == 0) {
        if (!pending) {
            snprintf(msg, sizeof(msg), "%s is not pending deletion.", arn);
            ret = kms_error(c, 400, "KMSInvalidStateException", msg);
        } else {
            snprintf(k->state, sizeof(k->state), "Disabled");
            json_t *o = json_pack("{s:s}", "KeyId", arn);
            char *t = json_dumps(o, JSON_COMPACT);
            ret = answer(c, 200, "application/x-amz-json-1.1", t, NULL);
            free(t);
            json_decref(o);
        }
    } else {
        ret = kms_error(c, 400, "UnknownOperationException", "");
    }
out:
    pthread_mutex_unlock(&fa->mu);
    json_decref(in);
    return ret;
}

/* ---- IAM --------------------------------------------------------------------------- */

static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && ks_hexval(s[i + 1]) >= 0 &&
                   ks_hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(ks_hexval(s[i + 1]) * 16 + ks_hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *parse_form(const struct ks_buf *body)
{
    json_t *o = json_object();
    const char *p = body->data, *end = body->data + body->len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        char *k = form_decode(p, (size_t)((eq ? eq : e) - p));
        char *v = eq ? form_decode(eq + 1, (size_t)(e - eq - 1)) : form_decode("", 0);
        json_object_set_new(o, k, json_string(v));
        free(k);
        free(v);
        p = amp ? amp + 1 : end;
    }
    return o;
}

static void url_encode(struct ks_buf *b, const char *s)
{
    if (sigv4_uri_encode(s, strlen(s), false, b))
        abort();
}

static enum MHD_Result iam(struct fake_aws *fa, struct MHD_Connection *c, const struct ks_buf *body)
{
    json_t *in = parse_form(body);
    const char *op = json_string_value(json_object_get(in, "Action"));
    const char *version = json_string_value(json_object_get(in, "Version"));
    if (!op || !version || strcmp(version, "2010-05-08") != 0) {
        json_decref(in);
        return iam_error(c, 400, "InvalidAction", "missing Action or Version");
    }
    char opbuf[64];
    snprintf(opbuf, sizeof(opbuf), "%s", op);
    op = opbuf;
    json_object_del(in, "Action");
    json_object_del(in, "Version");
    pthread_mutex_lock(&fa->mu);
    record(fa, op, in);
    struct fault f;
    enum MHD_Result ret;
    if (take_fault(fa, op, &f)) {
        pthread_mutex_unlock(&fa->mu);
        json_decref(in);
        return iam_error(c, (unsigned)f.status, f.code, "injected fault");
    }
    const char *rn = json_string_value(json_object_get(in, "RoleName"));
    const char *pn = json_string_value(json_object_get(in, "PolicyName"));
    const char *pa = json_string_value(json_object_get(in, "PolicyArn"));
    struct role *r = rn ? find_role(fa, rn) : NULL;
    char msg[300];
    if (!r) {
        snprintf(msg, sizeof(msg), "The role with name %.100s cannot be found.", rn ? rn : "");
        ret = iam_error(c, 404, "NoSuchEntity", msg);
        goto out;
    }
    size_t pi = SIZE_MAX, ai = SIZE_MAX;
    for (size_t i = 0; pn && i < r->n_policies; i++)
        if (strcmp(r->policy_names[i], pn) == 0)
            pi = i;
    for (size_t i = 0; pa && i < r->n_attached; i++)
        if (strcmp(r->attached[i], pa) == 0)
            ai = i;
    snprintf(msg, sizeof(msg), "The role policy with name %.100s cannot be found.", pn ? pn : "");
    if (strcmp(op, "PutRolePolicy") == 0) {
        const char *doc = json_string_value(json_object_get(in, "PolicyDocument"));
        json_t *parsed = doc ? json_loads(doc, 0, NULL) : NULL;
        if (!pn || !parsed) {
            json_decref(parsed);
            ret = iam_error(c, 400, "MalformedPolicyDocument", "Syntax errors in policy.");
            goto out;
        }
        json_decref(parsed);
        if (!is_noop(fa, op)) {
            if (pi == SIZE_MAX) {
                if (r->n_policies == MAX_ITEMS)
                    abort();
                pi = r->n_policies++;
                r->policy_names[pi] = ks_xstrdup(pn);
                r->policy_docs[pi] = NULL;
            }
            free(r->policy_docs[pi]);
            r->policy_docs[pi] = ks_xstrdup(doc);
        }
        ret = iam_ok(c, op, NULL);
    } else if (strcmp(op, "GetRolePolicy") == 0) {
        if (pi == SIZE_MAX) {
            ret = iam_error(c, 404, "NoSuchEntity", msg);
            goto out;
        }
        struct ks_buf b;
        ks_buf_init(&b, 1u << 20);
        if (ks_buf_addf(&b, "<RoleName>%s</RoleName><PolicyName>%s</PolicyName><PolicyDocument>",
                        r->name, pn))
            abort();
        url_encode(&b, r->policy_docs[pi]);
        if (ks_buf_addf(&b, "</PolicyDocument>"))
            abort();
        ret = iam_ok(c, op, b.data);
        ks_buf_release(&b);
    } else if (strcmp(op, "DeleteRolePolicy") == 0) {
        if (pi == SIZE_MAX) {
            ret = iam_error(c, 404, "NoSuchEntity", msg);
            goto out;
        }
        free(r->policy_names[pi]);
        free(r->policy_docs[pi]);
        r->policy_names[pi] = r->policy_names[r->n_policies - 1];
        r->policy_docs[pi] = r->policy_docs[r->n_policies - 1];
        r->n_policies--;
        ret = iam_ok(c, op, NULL);
    } else if (strcmp(op, "AttachRolePolicy") == 0) {
        if (!pa || strncmp(pa, "arn:", 4) != 0) {
            ret = iam_error(c, 400, "InvalidInput", "bad PolicyArn");
            goto out;
        }
        if (ai == SIZE_MAX && !is_noop(fa, op)) {
            if (r->n_attached == MAX_ITEMS)
                abort();
            r->attached[r->n_attached++] = ks_xstrdup(pa);
        }
        ret = iam_ok(c, op, NULL);
    } else if (strcmp(op, "DetachRolePolicy") == 0) {
        if (ai == SIZE_MAX) {
            snprintf(msg, sizeof(msg), "Policy %.200s was not found.", pa ? pa : "");
            ret = iam_error(c, 404, "NoSuchEntity", msg);
            goto out;
        }
        free(r->attached[ai]);
        r->attached[ai] = r->attached[r->n_attached - 1];
        r->n_attached--;
        ret = iam_ok(c, op, NULL);
    } else if (strcmp(op, "ListAttachedRolePolicies") == 0) {
        struct ks_buf b;
        ks_buf_init(&b, 1u << 20);
        if (ks_buf_addf(&b, "<AttachedPolicies>"))
            abort();
        for (size_t i = 0; i < r->n_attached; i++) {
            const char *name = strrchr(r->attached[i], '/');
            if (ks_buf_addf(&b,
                            "<member><PolicyName>%s</PolicyName><PolicyArn>%s</PolicyArn>"
                            "</member>",
                            name ? name + 1 : r->attached[i], r->attached[i]))
                abort();
        }
        if (ks_buf_addf(&b, "</AttachedPolicies><IsTruncated>false</IsTruncated>"))
            abort();
        ret = iam_ok(c, op, b.data);
        ks_buf_release(&b);
    } else {
        ret = iam_error(c, 400, "InvalidAction", "unknown action");
    }
out:
    pthread_mutex_unlock(&fa->mu);
    json_decref(in);
    return ret;
}

/* ---- the HTTP front ------------------------------------------------------------------- */

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct sigv4_request *req = cls;
    if (sigv4_request_add_header(req, key, strlen(key), value ? value : "",
                                 value ? strlen(value) : 0)) {
        /* remembered in req->bad: verification fails closed */
    }
    return MHD_YES;
}

static bool lookup(void *ctx, const char *akid, struct sigv4_principal *out)
{
    struct fake_aws *fa = ctx;
    if (strcmp(akid, fa->akid) != 0)
        return false;
    out->secret_access_key = fa->secret;
    out->session_token = fa->has_token ? fa->token : NULL;
    out->expiration = 0;
    out->identity = fa;
    return true;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct fake_aws *fa = cls;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            abort();
        ks_buf_init(&rq->body, MAX_BODY);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (ks_buf_add(&rq->body, upload_data, *upload_data_size))
            rq->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return kms_error(c, 413, "RequestEntityTooLarge", "body too large");
    const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");
    bool is_kms = target && strncmp(target, "TrentService.", 13) == 0;

    struct sigv4_request req;
    sigv4_request_init(&req);
    if (sigv4_request_set_method(&req, method, strlen(method)) ||
        sigv4_request_set_target(&req, url, strlen(url))) {
        /* fails closed below */
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &req);
    sigv4_request_set_body(&req, rq->body.data, rq->body.len);
    const char *regions[1] = {is_kms ? fa->region : "us-east-1"};
    struct sigv4_verifier v = {0};
    v.service = is_kms ? "kms" : "iam";
    v.regions = regions;
    v.nregions = 1;
    v.lookup = lookup;
    v.lookup_ctx = fa;
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum sigv4_status st = sigv4_verify(&v, &req, (int64_t)time(NULL), &res);
    enum MHD_Result ret;
    if (st != SIGV4_OK) {
        const char *code = sigv4_status_aws_code(st);
        if (!is_kms) /* IAM's names for the same failures */
            code = st == SIGV4_UNKNOWN_ACCESS_KEY || st == SIGV4_BAD_SESSION_TOKEN
                       ? "InvalidClientTokenId"
                   : st == SIGV4_SIGNATURE_MISMATCH ? "SignatureDoesNotMatch"
                                                    : code;
        pthread_mutex_lock(&fa->mu);
        fa->rejected++;
        snprintf(fa->last_rejection, sizeof(fa->last_rejection), "%s", code);
        pthread_mutex_unlock(&fa->mu);
        ret = is_kms ? kms_error(c, 400, code, res.message.data)
                     : iam_error(c, 403, code, res.message.data);
    } else if (strcmp(method, "POST") != 0 || strcmp(url, "/") != 0) {
        ret = kms_error(c, 404, "UnknownOperationException", "");
    } else if (is_kms) {
        ret = kms(fa, c, target + 13, &rq->body);
    } else {
        ret = iam(fa, c, &rq->body);
    }
    sigv4_result_release(&res);
    sigv4_request_release(&req);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct req *rq = *con_cls;
    if (rq) {
        ks_buf_release(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

struct fake_aws *fake_aws_start(const struct fake_aws_options *o)
{
    struct fake_aws *fa = calloc(1, sizeof(*fa));
    if (!fa)
        abort();
    snprintf(fa->akid, sizeof(fa->akid), "%s", o->access_key_id);
    snprintf(fa->secret, sizeof(fa->secret), "%s", o->secret_access_key);
    if (o->session_token) {
        fa->has_token = true;
        snprintf(fa->token, sizeof(fa->token), "%s", o->session_token);
    }
    snprintf(fa->region, sizeof(fa->region), "%s", o->region ? o->region : "us-east-1");
    snprintf(fa->account, sizeof(fa->account), "%s", o->account ? o->account : "111122223333");
    pthread_mutex_init(&fa->mu, NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fa->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                             handler, fa, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, fa,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!fa->d) {
        pthread_mutex_destroy(&fa->mu);
        free(fa);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(fa->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(fa->url, sizeof(fa->url), "http://127.0.0.1:%u/", info ? info->port : 0u);
    return fa;
}

void fake_aws_stop(struct fake_aws *fa)
{
    if (!fa)
        return;
    MHD_stop_daemon(fa->d);
    for (size_t i = 0; i < fa->n_roles; i++) {
        for (size_t j = 0; j < fa->roles[i].n_policies; j++) {
            free(fa->roles[i].policy_names[j]);
            free(fa->roles[i].policy_docs[j]);
        }
        for (size_t j = 0; j < fa->roles[i].n_attached; j++)
            free(fa->roles[i].attached[j]);
    }
    fake_aws_reset_calls(fa);
    pthread_mutex_destroy(&fa->mu);
    free(fa);
}

const char *fake_aws_url(const struct fake_aws *fa)
{
    return fa->url;
}

void fake_aws_add_key(struct fake_aws *fa, const char *key_id, const char *state)
{
    pthread_mutex_lock(&fa->mu);
    struct key *k = find_key(fa, key_id);
    if (!k) {
        if (fa->n_keys == MAX_ITEMS)
            abort();
        k = &fa->keys[fa->n_keys++];
        snprintf(k->id, sizeof(k->id), "%s", key_id);
    }
    snprintf(k->state, sizeof(k->state), "%s", state);
    pthread_mutex_unlock(&fa->mu);
}

void fake_aws_key_state(struct fake_aws *fa, const char *key_id, char *out, size_t size)
{
    pthread_mutex_lock(&fa->mu);
    struct key *k = find_key(fa, key_id);
    snprintf(out, size, "%s", k ? k->state : "");
    pthread_mutex_unlock(&fa->mu);
}

void fake_aws_add_role(struct fake_aws *fa, const char *role)
{
    pthread_mutex_lock(&fa->mu);
    if (!find_role(fa, role)) {
        if (fa->n_roles == KS_ARRAY_LEN(fa->roles))
            abort();
        snprintf(fa->roles[fa->n_roles++].name, sizeof(fa->roles[0].name), "%s", role);
    }
    pthread_mutex_unlock(&fa->mu);
}

char *fake_aws_role_policy(struct fake_aws *fa, const char *role, const char *policy)
{
    char *out = NULL;
    pthread_mutex_lock(&fa->mu);
    struct role *r = find_role(fa, role);
    for (size_t i = 0; r && i < r->n_policies; i++)
        if (strcmp(r->policy_names[i], policy) == 0)
            out = ks_xstrdup(r->policy_docs[i]);
    pthread_mutex_unlock(&fa->mu);
    return out;
}

bool fake_aws_attached(struct fake_aws *fa, const char *role, const char *policy_arn)
{
    bool found = false;
    pthread_mutex_lock(&fa->mu);
    struct role *r = find_role(fa, role);
    for (size_t i = 0; r && i < r->n_attached; i++)
        found |= strcmp(r->attached[i], policy_arn) == 0;
    pthread_mutex_unlock(&fa->mu);
    return found;
}

void fake_aws_fail(struct fake_aws *fa, const char *op, int count, int status, const char *code)
{
    pthread_mutex_lock(&fa->mu);
    if (fa->n_faults < KS_ARRAY_LEN(fa->faults)) {
        struct fault *f = &fa->faults[fa->n_faults++];
        snprintf(f->op, sizeof(f->op), "%s", op);
        f->count = count;
        f->status = status;
        snprintf(f->code, sizeof(f->code), "%s", code);
    }
    pthread_mutex_unlock(&fa->mu);
}

void fake_aws_noop(struct fake_aws *fa, const char *op, bool on)
{
    pthread_mutex_lock(&fa->mu);
    size_t i = 0;
    while (i < fa->n_noop && strcmp(fa->noop[i], op) != 0)
        i++;
    if (on && i == fa->n_noop && fa->n_noop < KS_ARRAY_LEN(fa->noop))
        snprintf(fa->noop[fa->n_noop++], sizeof(fa->noop[0]), "%s", op);
    else if (!on && i < fa->n_noop)
        memcpy(fa->noop[i], fa->noop[--fa->n_noop], sizeof(fa->noop[0]));
    pthread_mutex_unlock(&fa->mu);
}

size_t fake_aws_calls(struct fake_aws *fa, const char *op)
{
    size_t n = 0;
    pthread_mutex_lock(&fa->mu);
    for (size_t i = 0; i < fa->n_calls; i++)
        n += strcmp(op, "*") == 0 || strcmp(fa->calls[i].op, op) == 0;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

size_t fake_aws_rejected(struct fake_aws *fa)
{
    pthread_mutex_lock(&fa->mu);
    size_t n = fa->rejected;
    pthread_mutex_unlock(&fa->mu);
    return n;
}

void fake_aws_last_rejection(struct fake_aws *fa, char *out, size_t size)
{
    pthread_mutex_lock(&fa->mu);
    snprintf(out, size, "%s", fa->last_rejection);
    pthread_mutex_unlock(&fa->mu);
}

json_t *fake_aws_call_params(struct fake_aws *fa, const char *op, size_t n)
{
    json_t *out = NULL;
    pthread_mutex_lock(&fa->mu);
    for (size_t i = 0; i < fa->n_calls && !out; i++)
        if (strcmp(fa->calls[i].op, op) == 0 && n-- == 0)
            out = json_incref(fa->calls[i].params);
    pthread_mutex_unlock(&fa->mu);
    return out;
}

void fake_aws_reset_calls(struct fake_aws *fa)
{
    pthread_mutex_lock(&fa->mu);
    for (size_t i = 0; i < fa->n_calls; i++)
        json_decref(fa->calls[i].params);
    free(fa->calls);
    fa->calls = NULL;
    fa->n_calls = 0;
    fa->rejected = 0;
    fa->last_rejection[0] = '\0';
    pthread_mutex_unlock(&fa->mu);
}
