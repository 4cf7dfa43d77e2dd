// SPDX-License-Identifier: Apache-2.0
/*
 * ks-kms-sign: test helper that signs a KMS request with SigV4 at a chosen
 * time and prints the header lines to send, for curl -H @FILE. The test uses
 * it where curl's own --aws-sigv4 cannot help: a request time outside the
 * allowed skew, no Content-Type header at all, a session token.
 *
 *   ks-kms-sign --host 127.0.0.1:PORT --op ListKeys [--body-file F] [--time-offset S]
 *               [--content-type CT | --no-content-type] [--region R]
 * Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
 * Output: "Name: value" lines (X-Amz-Target, Content-Type, X-Amz-Date,
 * X-Amz-Security-Token, Authorization), signed over exactly those plus Host.
 */
#include "sigv4/sigv4.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct ks_buf b;
    ks_buf_init(&b, (size_t)64 << 20);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (ks_buf_add(&b, tmp, n))
            break;
    fclose(f);
    *len = b.len;
    return b.cap ? b.data : ks_xstrdup("");
}

int main(int argc, char **argv)
{
    const char *host = NULL, *op = NULL, *body_file = NULL, *region = "us-east-1";
    const char *ctype = "application/x-amz-json-1.1";
    long long offset = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-content-type")) {
            ctype = NULL;
            continue;
        }
        if (i + 1 >= argc)
            goto usage;
        const char *v = argv[++i];
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--op"))
            op = v;
        else if (!strcmp(a, "--body-file"))
            body_file = v;
        else if (!strcmp(a, "--time-offset"))
            offset = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--content-type"))
            ctype = v;
        else if (!strcmp(a, "--region"))
            region = v;
        else
            goto usage;
    }
    if (!host || !op)
        goto usage;
    struct sigv4_credentials cr = {.access_key_id = getenv("AWS_ACCESS_KEY_ID"),
                                   .secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"),
                                   .session_token = getenv("AWS_SESSION_TOKEN")};
    if (!cr.access_key_id || !cr.secret_access_key) {
        fputs("ks-kms-sign: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n", stderr);
        return 2;
    }
    if (cr.session_token && !*cr.session_token)
        cr.session_token = NULL;
    size_t blen = 2;
    char *body = body_file ? slurp(body_file, &blen) : ks_xstrdup("{}");
    if (!body) {
        fprintf(stderr, "ks-kms-sign: cannot read %s\n", body_file);
        return 2;
    }
    char target[256];
    snprintf(target, sizeof(target), "TrentService.%s", op);
    struct sigv4_request rq;
    sigv4_request_init(&rq);
    enum ks_err e = sigv4_request_set_method(&rq, "POST", 4);
    if (!e)
        e = sigv4_request_set_target(&rq, "/", 1);
    if (!e)
        e = sigv4_request_add_header(&rq, "Host", 4, host, strlen(host));
    if (!e)
        e = sigv4_request_add_header(&rq, "X-Amz-Target", 12, target, strlen(target));
    if (!e && ctype)
        e = sigv4_request_add_header(&rq, "Content-Type", 12, ctype, strlen(ctype));
    sigv4_request_set_body(&rq, body, blen);
    struct sigv4_sign_params p = {
        .creds = &cr, .region = region, .service = "kms", .time = (int64_t)time(NULL) + offset};
    struct ks_diag d;
    ks_diag_clear(&d);
    if (e || sigv4_sign(&rq, &p, NULL, &d) != KS_OK) {
        fprintf(stderr, "ks-kms-sign: cannot sign: %s\n", d.msg);
        return 1;
    }
    for (size_t i = 0; i < rq.nheaders; i++)
        if (strcasecmp(rq.headers[i].name, "Host"))
            printf("%s: %s\n", rq.headers[i].name, rq.headers[i].value);
    sigv4_request_release(&rq);
    free(body);
    return 0;
usage:
    fputs("usage: ks-kms-sign --host HOST:PORT --op OP [--body-file F] [--time-offset S]\n"
          "                   [--content-type CT | --no-content-type] [--region R]\n",
          stderr);
    return 2;
}
