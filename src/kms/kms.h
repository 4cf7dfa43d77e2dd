/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms: a local AWS-KMS-compatible key service (spec/kms-api.md).
 *
 * This header is the contract between the operations library (key store,
 * crypto, policies, grants, key states: kms_*.c) and the HTTP front end and
 * trail writer (kms_server*.c, kms_trail*.c). The library executes one call
 * of the KMS JSON 1.1 protocol and returns both the HTTP answer and the parts
 * of the CloudTrail record that depend on the operation; the front end adds
 * identity, network and time fields and writes the trail.
 *
 * Thread-safe: kms_call may run on many threads at once.
 */
#ifndef KS_KMS_H
#define KS_KMS_H

#include "base/ks.h"

#include <jansson.h>

struct kms_service;

struct kms_options {
    const char *data_dir; /* keys.db and the root key file live here */
    const char *region;   /* default us-east-1 */
    const char *account;  /* default 111122223333 */
    /* Pending deletion runs this many times faster than real time (tests);
     * 1.0 = real time. */
    double time_scale;
    /* Added by the operations library (zero = the documented default): */
    bool authz_off;       /* skip key-policy/grant evaluation (spec §7 mode "off");
                           * default false: policies and grants are enforced */
    bool lenient_aliases; /* resolve aliases where KMS takes only key ID/ARN (spec §2.2) */
    /* Called for each CloudTrail service event ("DeleteKey" when a deletion
     * window ends, "RotateKey" after an automatic or on-demand rotation),
     * from the thread running kms_call/kms_service_tick, with no lock held.
     * key_arn is borrowed for the call. NULL = not reported. */
    void (*on_service_event)(void *ctx, const char *event_name, const char *key_arn,
                             int64_t when_ms);
    void *service_event_ctx;
};

KS_MUST_CHECK enum ks_err kms_service_open(const struct kms_options *opts, struct kms_service **out,
                                           struct ks_diag *diag);
void kms_service_close(struct kms_service *svc);

/* Who is calling, as key policies and grants see it. */
struct kms_caller {
    const char *arn;      /* IAM user ARN, or the assumed-role session ARN */
    const char *account;  /* the caller's account id */
    const char *role_arn; /* AssumedRole: the role's ARN (policies may name it); else NULL */
};

struct kms_response {
    unsigned http_status;        /* 200, or the status KMS uses for the error */
    struct ks_buf body;          /* response JSON; errors: {"__type":"...","message":"..."} */
    const char *error_code;      /* NULL on success, e.g. "IncorrectKeyException" (static) */
    struct ks_buf error_message; /* "" on success */
    /* CloudTrail parts (spec/cloudtrail-kms-events.md): owned, NULL = JSON null */
    const char *event_name; /* the operation name, e.g. "Decrypt" (static);
                             * "" for an operation kms_op_known rejects */
    bool read_only;
    json_t *request_parameters;
    json_t *response_elements;
    json_t *resources;             /* [{"accountId","type":"AWS::KMS::Key","ARN"}] or NULL */
    json_t *additional_event_data; /* or NULL */
    /* Added: the errorCode CloudTrail records when it differs from error_code
     * ("AccessDenied" for key-policy denials, cloudtrail-kms-events.md §2.7);
     * NULL = record error_code. Static. */
    const char *trail_error_code;
};

void kms_response_init(struct kms_response *r);
void kms_response_release(struct kms_response *r);

/*
 * Executes one call. op is the X-Amz-Target suffix ("Decrypt" for
 * "TrentService.Decrypt"); body/len the request JSON (not NUL-terminated).
 * Unknown operations, malformed JSON and validation failures come back as
 * KMS's errors in *out, never as a crash. now_ms is the call time.
 */
void kms_call(struct kms_service *svc, const char *op, const char *body, size_t len,
              const struct kms_caller *caller, int64_t now_ms, struct kms_response *out);

/* Carries out pending deletions whose (time-scaled) date has passed, and
 * automatic rotations that are due. */
void kms_service_tick(struct kms_service *svc, int64_t now_ms);

/* Added: true when op is a TrentService operation name this service
 * recognizes (implemented or answered with UnsupportedOperationException). */
bool kms_op_known(const char *op);

#endif
