/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4: AWS Signature Version 4 with HMAC-SHA256 (spec/sigv4.md), both sides.
 *
 * - A request model (struct sigv4_request): method, raw path and query exactly
 *   as sent, header fields as received (order and repeats kept), and the body
 *   (borrowed) or a precomputed payload hash.
 * - Signing (clients such as the responders calling KMS/IAM): sigv4_sign adds
 *   X-Amz-Date, X-Amz-Security-Token, optionally X-Amz-Content-Sha256 and
 *   Authorization; sigv4_presign adds the X-Amz-* query parameters instead.
 * - Verification (servers such as the KMS service): sigv4_verify runs the
 *   steps of spec §4 in order and answers one enum sigv4_status per failure,
 *   each carrying AWS's error code and message text (spec §5).
 * - Helpers: canonical request / string to sign for debugging and the test
 *   helper, signing-key derivation with a small cache, log redaction.
 *
 * Invariants: every input-derived size is capped (SIGV4_MAX_*) before any
 * allocation; secrets are never copied into a struct ks_buf, never appear in a
 * message or trace, and derived keys are wiped (OPENSSL_cleanse) after use.
 * Allocation failure aborts (ks_xmalloc). Times are seconds since the Unix
 * epoch, UTC, injected by the caller: nothing here reads the clock.
 * Thread-safety: functions are reentrant; a struct sigv4_request or
 * struct sigv4_result belongs to one thread at a time; struct sigv4_key_cache
 * is internally locked and may be shared.
 */
#ifndef KS_SIGV4_H
#define KS_SIGV4_H

#include "base/ks.h"

/* Caps on input-derived sizes (documented in docs/sigv4.md). */
#define SIGV4_MAX_HEADERS         200          /* header fields in one request */
#define SIGV4_MAX_FIELD_BYTES     (16u << 10)  /* one header name or value */
#define SIGV4_MAX_HEADER_BYTES    (64u << 10)  /* all header names and values */
#define SIGV4_MAX_TARGET_BYTES    (16u << 10)  /* raw path plus query */
#define SIGV4_MAX_QUERY_PARAMS    1000         /* '&'-separated query items */
#define SIGV4_MAX_SIGNED_HEADERS  64           /* names in SignedHeaders */
#define SIGV4_MAX_SCOPE_PART      128          /* access key id, region, service */
#define SIGV4_MAX_CANONICAL_BYTES (256u << 10) /* canonical request */
#define SIGV4_MAX_EXPIRES         604800       /* presigned URL lifetime, 7 days */
#define SIGV4_DEFAULT_MAX_SKEW    300          /* seconds, spec §4 step 5 */
#define SIGV4_KEY_CACHE_DEFAULT   32           /* signing keys kept by a cache */

#define SIGV4_ALGORITHM        "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---------------------------------------------------------------------------
 * Request model
 */

/* One header field as received. name and value are owned by the request and
 * NUL-terminated; name keeps its case, value keeps its whitespace. */
struct sigv4_header {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};

/*
 * An HTTP request as signed or verified. Initialise with sigv4_request_init;
 * change only through sigv4_request_* (the fields are readable). method, path
 * and query are never NULL and always NUL-terminated ("" until set).
 *
 * Input is screened as it is added: method must be an HTTP token; path and
 * query may hold any byte but NUL, CR, LF and other controls (raw UTF-8 and
 * spaces are kept, the test suites use them); header names must be tokens and
 * values must not hold NUL, CR, LF or controls other than tab. The first
 * rejection is remembered in `bad` (KS_E_INVALID or KS_E_LIMIT) and makes any
 * later sigv4_sign/sigv4_verify fail, so a caller that forgets a return code
 * still fails closed.
 */
struct sigv4_request {
    char *method;
    char *path; /* raw, as sent: "/a%20b" */
    size_t path_len;
    char *query; /* raw, without '?': "a=1&b=x%20y" */
    size_t query_len;
    size_t nquery; /* '&'-separated items in query */
    struct sigv4_header *headers;
    size_t nheaders;
    size_t header_bytes;
    size_t cap_headers;
    const void *body; /* borrowed, see sigv4_request_set_body */
    size_t body_len;
    char payload_hash[65]; /* precomputed hash, or "" */
    enum ks_err bad;
};

void sigv4_request_init(struct sigv4_request *req);
/* Frees what the request owns (not the body) and re-initialises it. */
void sigv4_request_release(struct sigv4_request *req);

KS_MUST_CHECK enum ks_err sigv4_request_set_method(struct sigv4_request *req, const char *method,
                                                   size_t len);
/* Sets path and query from a request-target "path[?query]" (split at the first
 * '?'). The path must be empty or start with '/'. KS_E_LIMIT past
 * SIGV4_MAX_TARGET_BYTES or SIGV4_MAX_QUERY_PARAMS. */
KS_MUST_CHECK enum ks_err sigv4_request_set_target(struct sigv4_request *req, const char *target,
                                                   size_t len);
/* Appends a header field (copied). KS_E_LIMIT past SIGV4_MAX_HEADERS,
 * SIGV4_MAX_FIELD_BYTES or SIGV4_MAX_HEADER_BYTES. */
KS_MUST_CHECK enum ks_err sigv4_request_add_header(struct sigv4_request *req, const char *name,
                                                   size_t name_len, const char *value,
                                                   size_t value_len);
/* Replaces the value of the first field named `name` (any case) and removes
 * the other fields of that name; appends the field when there is none. */
KS_MUST_CHECK enum ks_err sigv4_request_set_header(struct sigv4_request *req, const char *name,
                                                   const char *value);
/* Removes every field named `name` (any case); returns how many. */
size_t sigv4_request_remove_header(struct sigv4_request *req, const char *name);
/* The index-th field named `name` (case-insensitive), NULL when absent. */
const struct sigv4_header *sigv4_request_header(const struct sigv4_request *req, const char *name,
                                                size_t index);
size_t sigv4_request_header_count(const struct sigv4_request *req, const char *name);
/* The body is borrowed: it must stay valid until the request is released or
 * the body is set again. Clears any precomputed payload hash. */
void sigv4_request_set_body(struct sigv4_request *req, const void *body, size_t len);
/* Uses `hash` as the payload hash instead of hashing the body: 64 hex digits
 * (a hash the caller computed while streaming the body) or, for signing only,
 * "UNSIGNED-PAYLOAD". KS_E_INVALID otherwise. */
KS_MUST_CHECK enum ks_err sigv4_request_set_payload_hash(struct sigv4_request *req,
                                                         const char *hash);

/* ---------------------------------------------------------------------------
 * Options shared by signing and verification
 */
enum sigv4_flags {
    /* Keep '.', '..' and empty path segments as sent (aws-c-auth
     * "normalize": false). Default: normalise them away (spec §2.1). */
    SIGV4_F_NO_NORMALIZE = 1u << 0,
    /* S3 rules for the canonical URI: no normalisation, single encoding
     * (existing %XY escapes kept, other reserved bytes encoded once). */
    SIGV4_F_S3_PATH = 1u << 1,
    /* sign: add X-Amz-Content-Sha256 with the payload hash and sign it. */
    SIGV4_F_CONTENT_SHA256 = 1u << 2,
    /* sign: add the session token after signing, outside the signature
     * (the "post-sts-header-after" convention of some services). */
    SIGV4_F_TOKEN_UNSIGNED = 1u << 3,
    /* sign: use "UNSIGNED-PAYLOAD" as the payload hash (S3 only).
     * verify: accept "x-amz-content-sha256: UNSIGNED-PAYLOAD" (S3 only). */
    SIGV4_F_UNSIGNED_PAYLOAD = 1u << 4,
    /* verify: append the expected canonical request and string to sign to
     * the signature-mismatch message, as AWS does (spec §4 step 11). */
    SIGV4_F_DEBUG = 1u << 5,
    /* verify: do not require the X-Amz-Date / Date header to be signed. */
    SIGV4_F_ALLOW_UNSIGNED_DATE = 1u << 6,
};

/* What one signature computation produced, for debugging and tests. The
 * signature is filled by the signer only: the verifier never reveals the
 * signature it expected. Owns its buffers: sigv4_trace_release. */
struct sigv4_trace {
    struct ks_buf canonical_request;
    struct ks_buf string_to_sign;
    char signature[65];
};

void sigv4_trace_init(struct sigv4_trace *t);
void sigv4_trace_release(struct sigv4_trace *t);

/* ---------------------------------------------------------------------------
 * Signing keys
 */

/* kSigning for (secret, YYYYMMDD, region, service) (spec §2.3). out is
 * secret: wipe it with OPENSSL_cleanse when done. */
void sigv4_derive_key(const char *secret, size_t secret_len, const char *date8, const char *region,
                      const char *service, unsigned char out[32]);

/*
 * A small LRU cache of signing keys keyed by (secret, date, region, service).
 * Entries hold a SHA-256 fingerprint of the key tuple and the derived key,
 * never the secret; both are wiped with OPENSSL_cleanse on eviction and free.
 * Internally locked: one cache may serve every thread.
 */
struct sigv4_key_cache;

/* capacity 0 means SIGV4_KEY_CACHE_DEFAULT. Caller frees with
 * sigv4_key_cache_free. */
struct sigv4_key_cache *sigv4_key_cache_new(size_t capacity);
void sigv4_key_cache_free(struct sigv4_key_cache *cache); /* NULL-safe */
/* Counters since creation (for tests and metrics). */
void sigv4_key_cache_stats(struct sigv4_key_cache *cache, uint64_t *hits, uint64_t *misses,
                           size_t *entries);

/* ---------------------------------------------------------------------------
 * Building blocks (debugging, the ks-test helper, unit tests)
 */

/* Appends the canonical request of req (spec §2.1) to out. signed_headers is
 * the ';'-separated list of lower-case names, used in the order given.
 * payload_hash NULL: the body's SHA-256 (or the precomputed hash). With
 * drop_signature the X-Amz-Signature query parameter is left out (query form).
 * KS_E_TOOBIG past SIGV4_MAX_CANONICAL_BYTES (or out's own cap). */
KS_MUST_CHECK enum ks_err sigv4_canonical_request(const struct sigv4_request *req,
                                                  const char *signed_headers,
                                                  const char *payload_hash, unsigned flags,
                                                  bool drop_signature, struct ks_buf *out);
/* Appends the string to sign (spec §2.2). scope is "YYYYMMDD/region/service". */
KS_MUST_CHECK enum ks_err sigv4_string_to_sign(const char *amz_date, const char *scope,
                                               const char *creq, size_t creq_len,
                                               struct ks_buf *out);
/* Appends p[0..n) URI-encoded (spec §2.1: unreserved bytes kept, the rest
 * %XY upper-case); with keep_slash '/' is kept too. */
KS_MUST_CHECK enum ks_err sigv4_uri_encode(const char *p, size_t n, bool keep_slash,
                                           struct ks_buf *out);
/* Lower-case hex SHA-256 of p[0..n) into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/* "YYYYMMDDTHHMMSSZ" <-> seconds since the epoch (years 0000..9999). */
bool sigv4_parse_amz_date(const char *s, size_t len, int64_t *t);
KS_MUST_CHECK bool sigv4_format_amz_date(int64_t t, char out[17]);
/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 7231) -> epoch seconds;
 * the zone may also read "UTC", "+0000" or "-0000" (botocore's form). */
bool sigv4_parse_http_date(const char *s, size_t len, int64_t *t);

/* ---------------------------------------------------------------------------
 * Signing (clients)
 */
struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term credentials */
};

struct sigv4_sign_params {
    const struct sigv4_credentials *creds;
    const char *region;  /* "us-east-1" */
    const char *service; /* "kms" */
    int64_t time;        /* request time, seconds since the epoch */
    unsigned flags;      /* enum sigv4_flags */
    /* NULL: sign every header of the request except the hop-by-hop and
     * volatile ones (authorization, connection, expect, keep-alive,
     * proxy-authenticate, proxy-authorization, te, trailer,
     * transfer-encoding, upgrade, user-agent, x-amzn-trace-id). Otherwise a
     * ';'-separated list of lower-case names to sign; host, x-amz-date and
     * the headers the signer adds are signed whether listed or not. */
    const char *signed_headers;
    uint32_t expires;              /* sigv4_presign only: 1..SIGV4_MAX_EXPIRES */
    struct sigv4_key_cache *cache; /* optional */
};

/*
 * Header-form signing: sets X-Amz-Date, X-Amz-Security-Token (session
 * credentials), X-Amz-Content-Sha256 (SIGV4_F_CONTENT_SHA256) and
 * Authorization on req (replacing earlier values). The request must carry a
 * Host header. trace (optional) receives the canonical request, the string to
 * sign and the signature. Errors: KS_E_INVALID (missing or bad parameter,
 * no Host, request already marked bad), KS_E_LIMIT / KS_E_TOOBIG (caps),
 * with diag (optional) saying why. On error req may hold some of the added
 * headers but never an Authorization header (an earlier one is removed).
 */
KS_MUST_CHECK enum ks_err sigv4_sign(struct sigv4_request *req, const struct sigv4_sign_params *p,
                                     struct sigv4_trace *trace, struct ks_diag *diag);

/*
 * Query-form signing (presigned URL): appends X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Expires,
 * X-Amz-Security-Token (if any) and X-Amz-Signature to the query, in that
 * order. p->expires is required. Headers are not changed. Errors as
 * sigv4_sign, plus KS_E_INVALID when the query already holds X-Amz-* auth
 * parameters; on error the request-target is left as it was.
 */
KS_MUST_CHECK enum ks_err sigv4_presign(struct sigv4_request *req,
                                        const struct sigv4_sign_params *p,
                                        struct sigv4_trace *trace, struct ks_diag *diag);

/* Appends the "METHOD target HTTP/1.1\r\n", header lines and "\r\n" of req
 * (not the body) to out: what a client writes on the wire. */
KS_MUST_CHECK enum ks_err sigv4_request_render(const struct sigv4_request *req, struct ks_buf *out);

/* ---------------------------------------------------------------------------
 * Verification (servers)
 */

/* One line per outcome: name, AWS error code (spec §5). Append-only. */
#define SIGV4_STATUS_LIST(X)                                                                       \
    X(SIGV4_OK, "")                                                                                \
    X(SIGV4_MISSING_AUTH, "MissingAuthenticationTokenException")                                   \
    X(SIGV4_AMBIGUOUS_AUTH, "InvalidSignatureException")                                           \
    X(SIGV4_UNSUPPORTED_ALGORITHM, "IncompleteSignatureException")                                 \
    X(SIGV4_MALFORMED_AUTH, "IncompleteSignatureException")                                        \
    X(SIGV4_MALFORMED_CREDENTIAL, "IncompleteSignatureException")                                  \
    X(SIGV4_BAD_TERMINATOR, "InvalidSignatureException")                                           \
    X(SIGV4_WRONG_SERVICE, "InvalidSignatureException")                                            \
    X(SIGV4_WRONG_REGION, "InvalidSignatureException")                                             \
    X(SIGV4_MISSING_DATE, "IncompleteSignatureException")                                          \
    X(SIGV4_MALFORMED_DATE, "IncompleteSignatureException")                                        \
    X(SIGV4_SCOPE_DATE_MISMATCH, "InvalidSignatureException")                                      \
    X(SIGV4_EXPIRED, "InvalidSignatureException")                                                  \
    X(SIGV4_NOT_YET_VALID, "InvalidSignatureException")                                            \
    X(SIGV4_BAD_EXPIRES, "IncompleteSignatureException")                                           \
    X(SIGV4_PRESIGN_EXPIRED, "InvalidSignatureException")                                          \
    X(SIGV4_UNKNOWN_ACCESS_KEY, "UnrecognizedClientException")                                     \
    X(SIGV4_BAD_SESSION_TOKEN, "UnrecognizedClientException")                                      \
    X(SIGV4_TOKEN_EXPIRED, "ExpiredTokenException")                                                \
    X(SIGV4_MALFORMED_SIGNED_HEADERS, "IncompleteSignatureException")                              \
    X(SIGV4_HOST_NOT_SIGNED, "InvalidSignatureException")                                          \
    X(SIGV4_DATE_NOT_SIGNED, "InvalidSignatureException")                                          \
    X(SIGV4_PAYLOAD_HASH_MISMATCH, "InvalidSignatureException")                                    \
    X(SIGV4_UNSIGNED_PAYLOAD_REJECTED, "InvalidSignatureException")                                \
    X(SIGV4_SIGNATURE_MISMATCH, "InvalidSignatureException")                                       \
    X(SIGV4_MALFORMED_REQUEST, "IncompleteSignatureException")                                     \
    X(SIGV4_REQUEST_TOO_LARGE, "IncompleteSignatureException")

enum sigv4_status {
#define SIGV4_STATUS_ENUM(name, code) name,
    SIGV4_STATUS_LIST(SIGV4_STATUS_ENUM)
#undef SIGV4_STATUS_ENUM
};

const char *sigv4_status_name(enum sigv4_status s);     /* "SIGV4_EXPIRED" */
const char *sigv4_status_aws_code(enum sigv4_status s); /* "InvalidSignatureException" */
int sigv4_status_http(enum sigv4_status s);             /* 200 for SIGV4_OK, else 400 */

/* What the credential store says about an access key id. The pointers are
 * borrowed from the store and need only stay valid until sigv4_verify
 * returns. */
struct sigv4_principal {
    const char *secret_access_key;
    const char *session_token; /* required token value; NULL for long-term keys */
    int64_t expiration;        /* epoch seconds; 0 = never */
    const void *identity;      /* opaque; handed back in struct sigv4_result */
};

/* Fills *out and returns true when the key is known and enabled. Called at
 * most once per sigv4_verify, from the verifying thread. */
typedef bool sigv4_lookup_fn(void *ctx, const char *access_key_id, struct sigv4_principal *out);

struct sigv4_verifier {
    const char *service;        /* expected scope service: "kms" */
    const char *const *regions; /* accepted scope regions */
    size_t nregions;            /* 0: any region */
    int64_t max_skew;           /* seconds; <= 0 means SIGV4_DEFAULT_MAX_SKEW */
    unsigned flags;             /* enum sigv4_flags */
    sigv4_lookup_fn *lookup;
    void *lookup_ctx;
    struct sigv4_key_cache *cache; /* optional */
};

enum sigv4_form {
    SIGV4_FORM_NONE,
    SIGV4_FORM_HEADER, /* Authorization header */
    SIGV4_FORM_QUERY,  /* X-Amz-* query parameters */
};

/* Outcome of sigv4_verify. Initialise once, reuse, release at the end. The
 * string fields are filled as far as verification got (empty otherwise). */
struct sigv4_result {
    enum sigv4_status status;
    enum sigv4_form form;
    struct ks_buf message; /* AWS message text; "" on success */
    char access_key_id[SIGV4_MAX_SCOPE_PART + 1];
    char date[9]; /* scope YYYYMMDD */
    char region[SIGV4_MAX_SCOPE_PART + 1];
    char service[SIGV4_MAX_SCOPE_PART + 1];
    char amz_date[17];    /* request time, YYYYMMDDTHHMMSSZ */
    int64_t time;         /* request time, epoch seconds */
    const void *identity; /* from the lookup, on success */
    /* canonical request and string to sign when verification got that far
     * (signature always empty): safe to log, never holds the secret. */
    struct sigv4_trace trace;
};

void sigv4_result_init(struct sigv4_result *res);
void sigv4_result_release(struct sigv4_result *res);

/*
 * Verifies req as the KMS service must (spec §4 steps 1-11, in that order),
 * with `now` the server's clock. Returns res->status: SIGV4_OK, or the first
 * failure with res->message holding AWS's text for it. Never aborts on
 * hostile input: requests past the SIGV4_MAX_* caps come back as
 * SIGV4_REQUEST_TOO_LARGE, bytes that cannot occur in HTTP as
 * SIGV4_MALFORMED_REQUEST. The signature comparison is constant-time.
 */
KS_MUST_CHECK enum sigv4_status sigv4_verify(const struct sigv4_verifier *v,
                                             const struct sigv4_request *req, int64_t now,
                                             struct sigv4_result *res);

/* ---------------------------------------------------------------------------
 * Redaction for logs (STYLE §10)
 */

/* Appends an Authorization header value with the Signature value replaced by
 * "<redacted>" (also when the value is malformed). Control bytes become '?'. */
KS_MUST_CHECK enum ks_err sigv4_redact_authorization(const char *value, size_t len,
                                                     struct ks_buf *out);
/* Appends a raw query with the values of X-Amz-Signature and
 * X-Amz-Security-Token replaced by "<redacted>". */
KS_MUST_CHECK enum ks_err sigv4_redact_query(const char *query, size_t len, struct ks_buf *out);

#endif
