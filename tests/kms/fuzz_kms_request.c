/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: one KMS request through kms_server_handle and the real
 * operations library (a key store in a temporary directory, no trail).
 *
 * Input: byte 0 holds flags, then the operation name up to the first '\n',
 * then the body.
 *   bit 0  sign the request (with a known key, so fuzzed bodies get past
 *          SigV4 and reach the operations' JSON parsing and validation)
 *   bit 1  Content-Type application/x-amz-json-1.1 (else text/plain)
 *   bit 2  sign as the session-token principal
 *   bit 3  body flagged as over the size cap
 *   bit 4  method GET instead of POST
 * Invariants checked: a known status, an error body that is JSON with a
 * __type, and no secret in any answer.
 */
#include "kms/kms_server.h"

#include "../fuzz/fuzz.h"

#include <ftw.h>
#include <unistd.h>

#define AKID   "AKIAFUZZ000000000001"
#define SECRET "fuzz-secret-key-000000000000000000000000"
#define APPKEY "ASIAFUZZ000000000002"
#define APPSEC "fuzz-app-secret-0000000000000000000000000"
#define TOKEN  "fuzz-session-token"

static struct {
    char dir[64];
    struct kms_service *svc;
    struct kms_principals *principals;
    struct kms_server *srv;
} g;

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(p);
}

static void cleanup(void)
{
    kms_server_free(g.srv);
    kms_service_close(g.svc);
    kms_principals_free(g.principals);
    if (g.dir[0])
        nftw(g.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
    static const char pj[] =
        "{\"principals\":[{\"accessKeyId\":\"" AKID "\",\"secretAccessKey\":\"" SECRET "\","
        "\"identity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/fuzz\"}},"
        "{\"accessKeyId\":\"" APPKEY "\",\"secretAccessKey\":\"" APPSEC
        "\",\"sessionToken\":\"" TOKEN "\",\"identity\":{\"type\":\"AssumedRole\","
        "\"arn\":\"arn:aws:sts::111122223333:assumed-role/App/task\"}}]}";
    snprintf(g.dir, sizeof(g.dir), "/tmp/ks-kms-fuzz.XXXXXX");
    if (!mkdtemp(g.dir))
        abort();
    struct ks_diag d;
    ks_diag_clear(&d);
    struct kms_options ko = {
        .data_dir = g.dir, .region = "us-east-1", .account = "111122223333", .time_scale = 1.0};
    if (kms_service_open(&ko, &g.svc, &d) != KS_OK ||
        kms_principals_parse(pj, sizeof(pj) - 1, 0, &g.principals, &d) != KS_OK) {
        fprintf(stderr, "fuzz_kms_request: setup: %s\n", d.msg);
        abort();
    }
    struct kms_server_options so = {
        .svc = g.svc, .principals = g.principals, .region = "us-east-1", .account = "111122223333"};
    if (kms_server_new(&so, &g.srv, &d) != KS_OK)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.srv)
        init();
    if (size < 1 || size > 64 * 1024)
        return 0;
    unsigned flags = data[0];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(p, '\n', n);
    size_t oplen = nl ? (size_t)(nl - p) : n;
    const char *body = nl ? nl + 1 : "";
    size_t blen = nl ? n - oplen - 1 : 0;
    if (oplen > 200)
        return 0;

    struct kms_http_request in;
    memset(&in, 0, sizeof(in));
    sigv4_request_init(&in.req);
    const char *method = flags & 16 ? "GET" : "POST";
    enum ks_err e = sigv4_request_set_method(&in.req, method, strlen(method));
    if (!e)
        e = sigv4_request_set_target(&in.req, "/", 1);
    if (!e)
        e = sigv4_request_add_header(&in.req, "Host", 4, "127.0.0.1:4599", 14);
    const char *ct = flags & 2 ? "application/x-amz-json-1.1" : "text/plain";
    if (!e)
        e = sigv4_request_add_header(&in.req, "Content-Type", 12, ct, strlen(ct));
    char target[256];
    int tl = snprintf(target, sizeof(target), "TrentService.%.*s", (int)oplen, p);
    /* rejected bytes are remembered in req.bad and answered, not skipped */
    if (!e)
        e = sigv4_request_add_header(&in.req, "X-Amz-Target", 12, target, (size_t)tl);
    (void)e;
    sigv4_request_set_body(&in.req, body, blen);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    in.now_ms = (int64_t)ts.tv_sec * 1000;
    if (flags & 1) {
        bool app = flags & 4;
        struct sigv4_credentials cr = {.access_key_id = app ? APPKEY : AKID,
                                       .secret_access_key = app ? APPSEC : SECRET,
                                       .session_token = app ? TOKEN : NULL};
        struct sigv4_sign_params sp = {
            .creds = &cr, .region = "us-east-1", .service = "kms", .time = ts.tv_sec};
        struct ks_diag d;
        ks_diag_clear(&d);
        if (sigv4_sign(&in.req, &sp, NULL, &d) != KS_OK) {
            sigv4_request_release(&in.req);
            return 0;
        }
    }
    in.source_ip = "127.0.0.1";
    in.body_too_large = flags & 8;

    struct kms_http_response r;
    kms_http_response_init(&r);
    kms_server_handle(g.srv, &in, &r);
    static const unsigned ok[] = {200, 400, 404, 405, 413, 500};
    bool known = false;
    for (size_t i = 0; i < KS_ARRAY_LEN(ok); i++)
        known |= r.status == ok[i];
    if (!known || strlen(r.request_id) != 36)
        abort();
    if (r.status >= 400) {
        json_t *j = json_loadb(r.body.data, r.body.len, 0, NULL);
        if (!r.error_type || !json_is_string(json_object_get(j, "__type")))
            abort();
        json_decref(j);
    }
    /* a secret in an answer is a leak unless the input itself carried it
     * (error messages echo identifiers the caller sent) */
    static const char *const secrets[] = {SECRET, APPSEC, TOKEN};
    for (size_t i = 0; i < KS_ARRAY_LEN(secrets); i++)
        if (strstr(r.body.data, secrets[i]) && !memmem(data, size, secrets[i], strlen(secrets[i])))
            abort();
    kms_http_response_release(&r);
    sigv4_request_release(&in.req);
    return 0;
}
