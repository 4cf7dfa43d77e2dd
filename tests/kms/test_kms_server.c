// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the KMS front end without sockets: principals, CloudTrail
 * records, the trail writer with its digest chain, and kms_server_handle
 * (protocol rules, SigV4, what gets recorded) over the real operations
 * library in a temporary data directory.
 */
#include "kms/kms_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define AKID   "AKIAUNITTEST00000001"
#define SECRET "unit/test+secret/key/0000000000000000000"
#define APPKEY "ASIAUNITTEST00000002"
#define APPSEC "app-secret-0000000000000000000000000000"
#define TOKEN  "unit-session-token"

static const char principals_json[] =
    "{\"principals\":["
    "{\"accessKeyId\":\"" AKID "\",\"secretAccessKey\":\"" SECRET "\","
    "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/admin\","
    "\"accountId\":\"111122223333\",\"userName\":\"admin\"}},"
    "{\"accessKeyId\":\"" APPKEY "\",\"secretAccessKey\":\"" APPSEC "\",\"sessionToken\":\"" TOKEN
    "\",\"identity\":{\"type\":\"AssumedRole\","
    "\"arn\":\"arn:aws:sts::111122223333:assumed-role/App-ECSTaskRole/task-1\","
    "\"accountId\":\"111122223333\",\"roleArn\":\"arn:aws:iam::111122223333:role/App-ECSTaskRole\","
    "\"sessionName\":\"task-1\"}}]}";

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------
 * principals
 */

static void test_principals_short_forms(void **state)
{
    (void)state;
    struct kms_principals *p = NULL;
    struct ks_diag d;
    ks_diag_clear(&d);
    assert_int_equal(
        kms_principals_parse(principals_json, sizeof(principals_json) - 1, 1705312692, &p, &d),
        KS_OK);
    assert_int_equal(p->n, 2);
    const struct kms_principal *a = kms_principals_find(p, AKID);
    assert_non_null(a);
    assert_null(kms_principals_find(p, "AKIANOPE"));
    assert_null(a->role_arn);
    json_t *id = json_loads(a->identity_json, 0, NULL);
    assert_non_null(id);
    assert_string_equal(json_string_value(json_object_get(id, "type")), "IAMUser");
    assert_string_equal(json_string_value(json_object_get(id, "accessKeyId")), AKID);
    assert_string_equal(json_string_value(json_object_get(id, "userName")), "admin");
    assert_memory_equal(json_string_value(json_object_get(id, "principalId")), "AIDA", 4);
    json_decref(id);

    const struct kms_principal *r = kms_principals_find(p, APPKEY);
    assert_non_null(r);
    assert_string_equal(r->session_token, TOKEN);
    assert_string_equal(r->role_arn, "arn:aws:iam::111122223333:role/App-ECSTaskRole");
    id = json_loads(r->identity_json, 0, NULL);
    json_t *sc = json_object_get(id, "sessionContext");
    json_t *iss = json_object_get(sc, "sessionIssuer");
    assert_string_equal(json_string_value(json_object_get(iss, "arn")),
                        "arn:aws:iam::111122223333:role/App-ECSTaskRole");
    assert_string_equal(json_string_value(json_object_get(iss, "type")), "Role");
    assert_string_equal(json_string_value(json_object_get(iss, "userName")), "App-ECSTaskRole");
    const char *pid = json_string_value(json_object_get(id, "principalId"));
    assert_non_null(strstr(pid, ":task-1"));
    assert_memory_equal(pid, "AROA", 4);
    json_t *attrs = json_object_get(sc, "attributes");
    assert_string_equal(json_string_value(json_object_get(attrs, "creationDate")),
                        "2024-01-15T09:58:12Z");
    assert_string_equal(json_string_value(json_object_get(attrs, "mfaAuthenticated")), "false");
    assert_true(json_is_object(json_object_get(sc, "webIdFederationData")));
    json_decref(id);
    /* the secrets never reach the identity */
    assert_null(strstr(a->identity_json, SECRET));
    assert_null(strstr(r->identity_json, TOKEN));
    kms_principals_free(p);
}

static void test_principals_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name, *text;
        enum ks_err want;
    } rows[] = {
        {"not json", "{", KS_E_SYNTAX},
        {"no array", "{\"principals\":{}}", KS_E_INVALID},
        {"no secret",
         "{\"principals\":[{\"accessKeyId\":\"AKIA1\",\"identity\":{\"type\":\"IAMUser\","
         "\"arn\":\"arn:aws:iam::1:user/a\"}}]}",
         KS_E_INVALID},
        {"no identity", "{\"principals\":[{\"accessKeyId\":\"AKIA1\",\"secretAccessKey\":\"s\"}]}",
         KS_E_INVALID},
        {"bad arn",
         "{\"principals\":[{\"accessKeyId\":\"AKIA1\",\"secretAccessKey\":\"s\","
         "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"user/a\"}}]}",
         KS_E_INVALID},
        {"duplicate key",
         "{\"principals\":[{\"accessKeyId\":\"AKIA1\",\"secretAccessKey\":\"s\","
         "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/a\"}},"
         "{\"accessKeyId\":\"AKIA1\",\"secretAccessKey\":\"t\","
         "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/b\"}}]}",
         KS_E_INVALID},
        {"key with a slash",
         "{\"principals\":[{\"accessKeyId\":\"AK/IA\",\"secretAccessKey\":\"s\","
         "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/a\"}}]}",
         KS_E_INVALID},
        {"role without session",
         "{\"principals\":[{\"accessKeyId\":\"ASIA1\",\"secretAccessKey\":\"s\","
         "\"identity\":{\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::1:assumed-role\"}}]}",
         KS_E_INVALID},
        {"bad expiration",
         "{\"principals\":[{\"accessKeyId\":\"AKIA1\",\"secretAccessKey\":\"s\","
         "\"expiration\":\"tomorrow\",\"identity\":{\"type\":\"IAMUser\","
         "\"arn\":\"arn:aws:iam::1:user/a\"}}]}",
         KS_E_INVALID},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        struct kms_principals *p = NULL;
        struct ks_diag d;
        ks_diag_clear(&d);
        enum ks_err e = kms_principals_parse(rows[i].text, strlen(rows[i].text), 0, &p, &d);
        if (e != rows[i].want)
            fail_msg("row '%s': got %d (%s), want %d", rows[i].name, e, d.msg, rows[i].want);
        assert_null(p);
    }
}

static void test_principals_create(void **state)
{
    (void)state;
    char dir[] = "/tmp/ks-kms-unit.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/principals.json", dir);
    char akid[21];
    struct ks_diag d;
    ks_diag_clear(&d);
    assert_int_equal(kms_principals_create(path, "111122223333", akid, &d), KS_OK);
    assert_int_equal(strlen(akid), 20);
    assert_memory_equal(akid, "AKIA", 4);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* never overwrites */
    char again[21];
    assert_int_equal(kms_principals_create(path, "111122223333", again, &d), KS_E_IO);
    struct kms_principals *p = NULL;
    assert_int_equal(kms_principals_load(path, 0, &p, &d), KS_OK);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->v[0].access_key_id, akid);
    assert_int_equal(strlen(p->v[0].secret_access_key), 40);
    assert_string_equal(p->v[0].arn, "arn:aws:iam::111122223333:user/admin");
    kms_principals_free(p);
    rm_rf(dir);
}

/* ---------------------------------------------------------------------------
 * records
 */

static json_t *record(const struct kms_trail_call *c)
{
    struct ks_buf b;
    ks_buf_init(&b, 1 << 20);
    assert_int_equal(kms_trail_record(c, &b), KS_OK);
    json_error_t err;
    json_t *j = json_loads(b.data, 0, &err);
    if (!j)
        fail_msg("record is not JSON: %s: %s", err.text, b.data);
    ks_buf_release(&b);
    return j;
}

static void test_record_fields(void **state)
{
    (void)state;
    static const char id[] = "{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/a\"}";
    char ua[3000];
    memset(ua, 'u', sizeof(ua));
    memcpy(ua, "agent\xff\xfe\"\n", 9); /* invalid UTF-8, a quote, a newline */
    json_t *rp = json_pack("{s:s}", "keyId", "alias/x");
    json_t *re = json_pack("{s:s}", "keyId", "arn");
    struct kms_trail_call c = {
        .identity_json = id,
        .identity_len = sizeof(id) - 1,
        .time_ms = 1705314600123,
        .event_name = "Decrypt",
        .region = "us-east-1",
        .account = "111122223333",
        .source_ip = "127.0.0.1",
        .user_agent = ua,
        .user_agent_len = sizeof(ua),
        .request_parameters = rp,
        .response_elements = re,
        .request_id = "1d3c5e8a-7c1b-4f7e-9a55-2b6f0c9d4e21",
        .read_only = true,
    };
    json_t *j = record(&c);
    assert_string_equal(json_string_value(json_object_get(j, "eventTime")), "2024-01-15T10:30:00Z");
    assert_string_equal(json_string_value(json_object_get(j, "eventVersion")), "1.10");
    assert_null(json_object_get(j, "errorCode"));
    assert_null(json_object_get(j, "errorMessage"));
    assert_null(json_object_get(j, "resources"));
    assert_null(json_object_get(j, "tlsDetails"));
    assert_true(json_is_object(json_object_get(j, "responseElements")));
    assert_true(json_is_true(json_object_get(j, "readOnly")));
    const char *u = json_string_value(json_object_get(j, "userAgent"));
    assert_non_null(u);
    assert_true(strlen(u) <= KMS_MAX_USER_AGENT);
    assert_memory_equal(u, "agent??\"\n", 9);
    json_decref(j);

    /* failure: errorCode, no errorMessage for an empty message, null response */
    c.error_code = "InvalidCiphertextException";
    c.error_message = "";
    c.error_message_len = 0;
    j = record(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorCode")),
                        "InvalidCiphertextException");
    assert_null(json_object_get(j, "errorMessage"));
    assert_true(json_is_null(json_object_get(j, "responseElements")));
    json_decref(j);
    c.error_message = "The key ID in the request does not identify a CMK";
    c.error_message_len = strlen(c.error_message);
    c.request_parameters = NULL;
    j = record(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), c.error_message);
    assert_true(json_is_null(json_object_get(j, "requestParameters")));
    json_decref(j);
    json_decref(rp);
    json_decref(re);
}

/* ---------------------------------------------------------------------------
 * trail writer and validator
 */

static size_t count_records(const char *dir);

static void test_trail_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/ks-kms-unit.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tdir[256], key[256], pub[256], st[256];
    snprintf(tdir, sizeof(tdir), "%s/bucket", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(pub, sizeof(pub), "%s/pub.pem", dir);
    snprintf(st, sizeof(st), "%s/state.json", dir);
    struct kms_trail_options o = {.dir = tdir,
                                  .account = "111122223333",
                                  .region = "eu-west-1",
                                  .key_path = key,
                                  .pubkey_path = pub,
                                  .state_path = st,
                                  .max_records = 7,
                                  .flush_ms = 60000,
                                  .digest_s = 3600};
    struct ks_diag d;
    ks_diag_clear(&d);
    for (int run = 0; run < 2; run++) {
        struct kms_trail *t = NULL;
        assert_int_equal(kms_trail_open(&o, &t, &d), KS_OK);
        for (int i = 0; i < 20; i++) {
            char *r = ks_xmalloc(64);
            int n = snprintf(r, 64, "{\"eventName\":\"Decrypt\",\"n\":%d}", i);
            kms_trail_submit(t, r, (size_t)n, wall_ms());
        }
        kms_trail_flush(t);
        struct kms_trail_stats s;
        kms_trail_get_stats(t, &s);
        assert_int_equal(s.written, 20);
        assert_int_equal(s.files, 3); /* 7 + 7 + 6 */
        assert_int_equal(kms_trail_close(t), KS_OK);
    }
    struct stat sb;
    assert_int_equal(stat(key, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(count_records(tdir), 40);

    FILE *devnull = fopen("/dev/null", "w");
    struct kms_trail_verify_report rep;
    assert_int_equal(kms_trail_verify(tdir, NULL, pub, devnull, &rep, &d), KS_OK);
    assert_int_equal(rep.digests, 2); /* one final digest per run, chained */
    assert_int_equal(rep.digests_valid, 2);
    assert_int_equal(rep.logs, 6);
    assert_int_equal(rep.logs_valid, 6);
    assert_int_equal(rep.records, 40);
    assert_int_equal(rep.chains, 1);
    assert_int_equal(rep.uncovered, 0);

    /* a log file that is not in any digest is reported, not accepted silently */
    char extra[512];
    snprintf(extra, sizeof(extra),
             "%s/AWSLogs/111122223333/CloudTrail/eu-west-1/2020/01/01/"
             "111122223333_CloudTrail_eu-west-1_20200101T0000Z_AAAAAAAAAAAAAAAA.json.gz",
             tdir);
    char dd[512];
    snprintf(dd, sizeof(dd), "%s/AWSLogs/111122223333/CloudTrail/eu-west-1/2020/01/01", tdir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "%s", dd);
    for (char *p = cmd + strlen(tdir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(cmd, 0755);
            *p = '/';
        }
    mkdir(cmd, 0755);
    gzFile gz = gzopen(extra, "wb");
    gzputs(gz, "{\"Records\":[]}");
    gzclose(gz);
    assert_int_equal(kms_trail_verify(tdir, NULL, pub, devnull, &rep, &d), KS_OK);
    assert_int_equal(rep.uncovered, 1);
    unlink(extra);

    /* a wrong bucket name is a moved digest */
    assert_int_equal(kms_trail_verify(tdir, "elsewhere", pub, devnull, &rep, &d), KS_E_INVALID);
    fclose(devnull);
    rm_rf(dir);
}

static struct {
    size_t records;
} g_count;

static int count_cb(const char *p, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)f;
    if (type != FTW_F || !strstr(p, "_CloudTrail_") || strstr(p, "Digest"))
        return 0;
    gzFile gz = gzopen(p, "rb");
    char buf[1 << 16];
    int n = gzread(gz, buf, sizeof(buf) - 1);
    gzclose(gz);
    buf[n > 0 ? n : 0] = '\0';
    json_t *j = json_loads(buf, 0, NULL);
    g_count.records += json_array_size(json_object_get(j, "Records"));
    json_decref(j);
    return 0;
}

static size_t count_records(const char *dir)
{
    g_count.records = 0;
    nftw(dir, count_cb, 16, FTW_PHYS);
    return g_count.records;
}

/* ---------------------------------------------------------------------------
 * kms_server_handle
 */

struct fixture {
    char dir[64];
    char tdir[128];
    struct kms_service *svc;
    struct kms_principals *principals;
    struct kms_trail *trail;
    struct kms_server *srv;
};

static int setup_server(void **state)
{
    struct fixture *f = ks_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ks-kms-unit.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->tdir, sizeof(f->tdir), "%s/trail", f->dir);
    struct ks_diag d;
    ks_diag_clear(&d);
    struct kms_options ko = {
        .data_dir = f->dir, .region = "us-east-1", .account = "111122223333", .time_scale = 1.0};
    if (kms_service_open(&ko, &f->svc, &d) != KS_OK)
        fail_msg("kms_service_open: %s", d.msg);
    assert_int_equal(
        kms_principals_parse(principals_json, sizeof(principals_json) - 1, 0, &f->principals, &d),
        KS_OK);
    struct kms_trail_options to = {
        .dir = f->tdir, .account = "111122223333", .region = "us-east-1"};
    assert_int_equal(kms_trail_open(&to, &f->trail, &d), KS_OK);
    struct kms_server_options so = {.svc = f->svc,
                                    .principals = f->principals,
                                    .trail = f->trail,
                                    .region = "us-east-1",
                                    .account = "111122223333"};
    assert_int_equal(kms_server_new(&so, &f->srv, &d), KS_OK);
    *state = f;
    return 0;
}

static int teardown_server(void **state)
{
    struct fixture *f = *state;
    kms_server_free(f->srv);
    if (f->trail)
        assert_int_equal(kms_trail_close(f->trail), KS_OK);
    kms_service_close(f->svc);
    kms_principals_free(f->principals);
    rm_rf(f->dir);
    free(f);
    return 0;
}

struct req {
    const char *method, *target, *op, *ctype, *body;
    const char *akid, *secret, *token; /* NULL akid: unsigned */
    int64_t skew;
    bool too_large;
};

static void run(struct fixture *f, const struct req *q, struct kms_http_response *out)
{
    struct kms_http_request in;
    memset(&in, 0, sizeof(in));
    sigv4_request_init(&in.req);
    const char *body = q->body ? q->body : "{}";
    assert_int_equal(sigv4_request_set_method(&in.req, q->method ? q->method : "POST",
                                              strlen(q->method ? q->method : "POST")),
                     KS_OK);
    const char *tg = q->target ? q->target : "/";
    assert_int_equal(sigv4_request_set_target(&in.req, tg, strlen(tg)), KS_OK);
    assert_int_equal(sigv4_request_add_header(&in.req, "Host", 4, "127.0.0.1:4599", 14), KS_OK);
    if (q->ctype)
        assert_int_equal(
            sigv4_request_add_header(&in.req, "Content-Type", 12, q->ctype, strlen(q->ctype)),
            KS_OK);
    if (q->op) {
        char t[128];
        int n = snprintf(t, sizeof(t), "TrentService.%s", q->op);
        assert_int_equal(sigv4_request_add_header(&in.req, "X-Amz-Target", 12, t, (size_t)n),
                         KS_OK);
    }
    assert_int_equal(sigv4_request_add_header(&in.req, "User-Agent", 10, "unit/1.0", 8), KS_OK);
    sigv4_request_set_body(&in.req, body, strlen(body));
    in.now_ms = wall_ms();
    if (q->akid) {
        struct sigv4_credentials cr = {
            .access_key_id = q->akid, .secret_access_key = q->secret, .session_token = q->token};
        struct sigv4_sign_params p = {.creds = &cr,
                                      .region = "us-east-1",
                                      .service = "kms",
                                      .time = in.now_ms / 1000 + q->skew};
        struct ks_diag d;
        ks_diag_clear(&d);
        assert_int_equal(sigv4_sign(&in.req, &p, NULL, &d), KS_OK);
    }
    in.source_ip = "127.0.0.1";
    in.body_too_large = q->too_large;
    kms_http_response_init(out);
    kms_server_handle(f->srv, &in, out);
    sigv4_request_release(&in.req);
}

static void test_handle_protocol(void **state)
{
    struct fixture *f = *state;
    static const char *const JSON11 = "application/x-amz-json-1.1";
    static const struct {
        const char *name;
        struct req q;
        unsigned status;
        const char *type; /* NULL: success */
        bool recorded;
    } rows[] = {
        {"GET", {.method = "GET", .op = "ListKeys"}, 405, "UnknownOperationException", false},
        {"wrong path",
         {.target = "/x", .op = "ListKeys", .ctype = JSON11},
         404,
         "UnknownOperationException",
         false},
        {"too large",
         {.op = "ListKeys", .ctype = JSON11, .too_large = true},
         413,
         "ValidationException",
         false},
        {"unsigned",
         {.op = "ListKeys", .ctype = JSON11},
         400,
         "MissingAuthenticationTokenException",
         false},
        {"unknown key",
         {.op = "ListKeys", .ctype = JSON11, .akid = "AKIANOPE", .secret = "x"},
         400,
         "UnrecognizedClientException",
         false},
        {"bad secret",
         {.op = "ListKeys", .ctype = JSON11, .akid = AKID, .secret = "wrong"},
         400,
         "InvalidSignatureException",
         false},
        {"expired",
         {.op = "ListKeys", .ctype = JSON11, .akid = AKID, .secret = SECRET, .skew = -1000},
         400,
         "InvalidSignatureException",
         false},
        {"token missing",
         {.op = "ListKeys", .ctype = JSON11, .akid = APPKEY, .secret = APPSEC},
         400,
         "UnrecognizedClientException",
         false},
        {"ok",
         {.op = "ListKeys", .ctype = JSON11, .akid = AKID, .secret = SECRET},
         200,
         NULL,
         true},
        {"ok with token",
         {.op = "ListKeys",
          .ctype = "application/json; charset=utf-8",
          .akid = APPKEY,
          .secret = APPSEC,
          .token = TOKEN},
         200,
         NULL,
         true},
        {"no content type",
         {.op = "ListKeys", .akid = AKID, .secret = SECRET},
         400,
         "SerializationException",
         true},
        {"text/plain",
         {.op = "Decrypt", .ctype = "text/plain", .akid = AKID, .secret = SECRET},
         400,
         "SerializationException",
         true},
        {"no target",
         {.ctype = JSON11, .akid = AKID, .secret = SECRET},
         400,
         "UnknownOperationException",
         false},
        {"unknown op",
         {.op = "Frobnicate", .ctype = JSON11, .akid = AKID, .secret = SECRET},
         400,
         "UnknownOperationException",
         false},
        {"bad json",
         {.op = "Decrypt", .ctype = JSON11, .body = "{\"a\":", .akid = AKID, .secret = SECRET},
         400,
         "SerializationException",
         true},
        {"not an object",
         {.op = "ListKeys", .ctype = JSON11, .body = "[]", .akid = AKID, .secret = SECRET},
         400,
         "SerializationException",
         true},
        /* the library's message echoes the bad bytes: the body must stay JSON */
        {"bad escape",
         {.op = "CreateKey",
          .ctype = JSON11,
          .body = "{\"a\":[{\"\\\xdc\xb9\\\\x",
          .akid = AKID,
          .secret = SECRET},
         400,
         "SerializationException",
         true},
        {"empty body",
         {.op = "ListKeys", .ctype = JSON11, .body = "", .akid = AKID, .secret = SECRET},
         200,
         NULL,
         true},
    };
    size_t recorded = 0;
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        struct kms_http_response r;
        run(f, &rows[i].q, &r);
        if (r.status != rows[i].status || (rows[i].type == NULL) != (r.error_type == NULL) ||
            (rows[i].type && strcmp(rows[i].type, r.error_type)) || r.recorded != rows[i].recorded)
            fail_msg("row '%s': status %u type %s recorded %d; body %s", rows[i].name, r.status,
                     r.error_type ? r.error_type : "-", r.recorded, r.body.data);
        assert_int_equal(strlen(r.request_id), 36);
        if (rows[i].type) {
            json_t *j = json_loads(r.body.data, 0, NULL);
            if (!j)
                fail_msg("row '%s': error body is not JSON: %s", rows[i].name, r.body.data);
            assert_string_equal(json_string_value(json_object_get(j, "__type")), rows[i].type);
            json_decref(j);
        }
        recorded += rows[i].recorded;
        kms_http_response_release(&r);
    }
    assert_int_equal(kms_trail_close(f->trail), KS_OK);
    f->trail = NULL;
    assert_int_equal(count_records(f->tdir), recorded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principals_short_forms),
        cmocka_unit_test(test_principals_errors),
        cmocka_unit_test(test_principals_create),
        cmocka_unit_test(test_record_fields),
        cmocka_unit_test(test_trail_roundtrip),
        cmocka_unit_test_setup_teardown(test_handle_protocol, setup_server, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
