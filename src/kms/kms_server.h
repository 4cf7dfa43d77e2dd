/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_server: the HTTP front end of the local KMS service, its identities and
 * its CloudTrail trail (spec/kms-api.md §1, spec/sigv4.md §4-§6,
 * spec/cloudtrail-kms-events.md).
 *
 *   client --HTTP--> kms_server (libmicrohttpd threads)
 *                      | SigV4 against kms_principals
 *                      | kms_call (kms.h, the operations library)
 *                      | kms_trail_record: one CloudTrail record per call
 *                      v
 *                    kms_trail (queue -> one writer thread -> gzip Records
 *                               files in S3 layout + signed digest files)
 *
 * Three parts, one header:
 * - kms_principals: the access keys the service accepts and the identity
 *   each stands for. Loaded once, immutable afterwards, so lookups from any
 *   number of threads need no lock.
 * - kms_trail: the trail writer. kms_trail_submit only appends to a queue
 *   under a short lock; gzip, fsync and RSA signing run on the writer thread
 *   so the request path never waits for the disk.
 * - kms_server: request handling. kms_server_handle is the whole protocol as
 *   a function of one parsed request (no sockets), which the libmicrohttpd
 *   glue, the fuzz target and tests share.
 *
 * Secrets (secret access keys, session tokens, plaintexts) never pass
 * through anything that prints; they are wiped when freed.
 */
#ifndef KS_KMS_SERVER_H
#define KS_KMS_SERVER_H

#include "base/ks.h"
#include "kms/kms.h"
#include "sigv4/sigv4.h"

/* Caps on input-derived sizes (docs/kms.md "Limits"). */
#define KMS_MAX_BODY_BYTES       (1u << 20)   /* request body, spec kms-api §1.1 rule 6 */
#define KMS_MAX_DISCARD_BYTES    (8u << 20)   /* chunked oversized body read before closing */
#define KMS_MAX_PRINCIPALS_BYTES (4u << 20)   /* principals file */
#define KMS_MAX_PRINCIPALS       10000        /* entries in the principals file */
#define KMS_MAX_USER_AGENT       1024         /* userAgent in a record, spec §1.1 */
#define KMS_MAX_ERROR_MESSAGE    1024         /* errorMessage in a record, spec §1.1 */
#define KMS_MAX_RECORD_BYTES     (256u << 10) /* one record, spec cloudtrail §1.1 */
#define KMS_MAX_CONNECTIONS      1024         /* concurrent HTTP connections */
#define KMS_CONNECTION_MEMORY    (128u << 10) /* per connection: request line + headers */

#define KMS_DEFAULT_LISTEN      "127.0.0.1:4599"
#define KMS_DEFAULT_EVENT_VER   "1.10"
#define KMS_DEFAULT_FLUSH_MS    5000
#define KMS_DEFAULT_MAX_RECORDS 1000
#define KMS_DEFAULT_DIGEST_S    3600
#define KMS_DEFAULT_TRAIL_NAME  "keysentry"

/* ---------------------------------------------------------------------------
 * Principals (the principals file; docs/kms.md "Principals file")
 */

/* One access key and the identity it stands for. All strings are owned by
 * the set and NUL-terminated. */
struct kms_principal {
    char *access_key_id;
    char *secret_access_key; /* secret: wiped on free, never printed */
    char *session_token;     /* secret; NULL for long-term keys */
    int64_t expiration;      /* epoch seconds; 0 = never */
    char *type;              /* "IAMUser", "AssumedRole", "Root", ... */
    char *arn;               /* user ARN or assumed-role session ARN */
    char *account;
    char *role_arn; /* AssumedRole: the role's IAM ARN (sessionIssuer.arn); else NULL */
    /* The CloudTrail userIdentity object with accessKeyId filled in, compact
     * JSON, ready to paste into a record (spec cloudtrail §1.3). */
    char *identity_json;
    size_t identity_len;
};

/* Immutable after load: lookups are thread-safe. */
struct kms_principals {
    struct kms_principal *v; /* sorted by access_key_id */
    size_t n;
};

/*
 * Loads a principals file. Accepted shapes (docs/kms.md):
 *   {"principals":[{"accessKeyId","secretAccessKey","sessionToken"?,
 *                   "expiration"?, "identity":{...}}]}
 * and the spec's {"credentials":[...]} spelling. An identity with a
 * sessionContext (or any type other than IAMUser/AssumedRole/Root) is copied
 * as given; the short forms are completed: IAMUser gets principalId and
 * userName, AssumedRole gets principalId and sessionContext (sessionIssuer
 * from roleArn, attributes.creationDate = session_start unless the identity
 * says "creationDate"). Errors: KS_E_IO (unreadable), KS_E_SYNTAX (not JSON),
 * KS_E_INVALID (missing or duplicate access key, bad member), KS_E_LIMIT
 * (caps), with diag naming the entry. Caller frees with kms_principals_free.
 */
KS_MUST_CHECK enum ks_err kms_principals_load(const char *path, int64_t session_start,
                                              struct kms_principals **out, struct ks_diag *diag);
/* Parses a principals document held in memory (same rules). */
KS_MUST_CHECK enum ks_err kms_principals_parse(const char *text, size_t len, int64_t session_start,
                                               struct kms_principals **out, struct ks_diag *diag);
/* Wipes the secrets and frees. NULL-safe. */
void kms_principals_free(struct kms_principals *p);
/* Borrowed pointer valid until kms_principals_free; NULL when unknown. */
const struct kms_principal *kms_principals_find(const struct kms_principals *p,
                                                const char *access_key_id);

/*
 * Creates a principals file at path (mode 0600, O_EXCL: never overwrites)
 * holding one IAMUser "admin" of `account` with a fresh random access key id
 * (AKIA + 16 characters) and secret (40 characters), both from RAND_bytes.
 * Writes the access key id (not the secret) into akid_out.
 * Errors: KS_E_IO (exists, cannot create or write) with diag.
 */
KS_MUST_CHECK enum ks_err kms_principals_create(const char *path, const char *account,
                                                char akid_out[21], struct ks_diag *diag);

/* ---------------------------------------------------------------------------
 * Trail writer
 */
struct kms_trail;

struct kms_trail_options {
    const char *dir;        /* the "bucket": AWSLogs/ is created under it */
    const char *bucket;     /* digestS3Bucket; NULL = last component of dir */
    const char *account;    /* AWSLogs/<account>/... */
    const char *region;     /* .../CloudTrail/<region>/... */
    const char *trail_name; /* digest file names; NULL = KMS_DEFAULT_TRAIL_NAME */
    /* RSA private key (PEM) for digest signatures, created (RSA-2048, 0600)
     * when missing. NULL: no digest files. */
    const char *key_path;
    /* Where the public half is written (SPKI PEM) at every open, for
     * validators; NULL = <key_path>.pub */
    const char *pubkey_path;
    const char *state_path; /* chain state across restarts; NULL = none */
    unsigned flush_ms;      /* roll a file this long after its first record; 0 = default */
    size_t max_records;     /* ... or at this many records; 0 = default */
    unsigned digest_s;      /* digest period in seconds; 0 = default (hourly) */
    int gzip_level;         /* 1..9; 0 = 6 */
    /* Called with every submitted record before it is queued, on the
     * submitting thread, with no trail lock held: how an in-process consumer
     * (keysentry serve) sees a call within microseconds instead of after the
     * file roll. Borrowed bytes; must not block for long. NULL = none. */
    void (*on_record)(void *ud, const char *record, size_t len, int64_t event_ms);
    void *on_record_ud;
};

struct kms_trail_stats {
    uint64_t submitted;    /* records handed to kms_trail_submit */
    uint64_t written;      /* records in renamed (delivered) files */
    uint64_t files;        /* log files delivered */
    uint64_t digests;      /* digest files delivered */
    uint64_t write_errors; /* failed deliveries (retried) */
    uint64_t oversized;    /* records dropped for exceeding KMS_MAX_RECORD_BYTES */
};

/* Starts the writer thread. Errors: KS_E_IO (directories, key), KS_E_INVALID. */
KS_MUST_CHECK enum ks_err kms_trail_open(const struct kms_trail_options *opts,
                                         struct kms_trail **out, struct ks_diag *diag);
/*
 * Queues one record (compact JSON, no trailing newline). Takes ownership of
 * `record` (malloc'd). event_ms is the record's eventTime in milliseconds.
 * Thread-safe; never blocks on I/O.
 */
void kms_trail_submit(struct kms_trail *t, char *record, size_t len, int64_t event_ms);
/* Blocks until everything submitted so far is in delivered files. */
void kms_trail_flush(struct kms_trail *t);
void kms_trail_get_stats(struct kms_trail *t, struct kms_trail_stats *out);
/*
 * Delivers what is queued, writes the final digest, stops the writer and
 * frees. Returns KS_E_IO if some records could not be delivered. NULL-safe.
 */
enum ks_err kms_trail_close(struct kms_trail *t);

/* What one CloudTrail record is made of (spec cloudtrail §1.1). */
struct kms_trail_call {
    const char *event_version; /* NULL = KMS_DEFAULT_EVENT_VER */
    const char *identity_json; /* userIdentity object, compact JSON */
    size_t identity_len;
    int64_t time_ms; /* completion time */
    const char *event_name;
    const char *region;
    const char *account; /* recipientAccountId */
    const char *source_ip;
    const char *user_agent; /* NULL = omitted; any bytes, sanitised */
    size_t user_agent_len;
    const char *error_code;    /* NULL on success */
    const char *error_message; /* omitted when NULL or "" */
    size_t error_message_len;
    json_t *request_parameters;    /* NULL = JSON null */
    json_t *response_elements;     /* NULL = JSON null */
    json_t *resources;             /* NULL = omitted */
    json_t *additional_event_data; /* NULL = omitted */
    const char *request_id;        /* NULL = omitted (service events) */
    bool read_only;
    bool service_event; /* eventType AwsServiceEvent */
};

/*
 * Service events (DeleteKey when a deletion window ends, RotateKey after a
 * rotation; spec cloudtrail §3.8): pass kms_trail_service_event as
 * kms_options.on_service_event with a struct kms_trail_service_events as its
 * context. The context and its strings must outlive the service.
 */
struct kms_trail_service_events {
    struct kms_trail *trail; /* NULL: events are dropped */
    const char *account;
    const char *region;
    const char *event_version; /* NULL = KMS_DEFAULT_EVENT_VER */
};
void kms_trail_service_event(void *ctx, const char *event_name, const char *key_arn,
                             int64_t when_ms);

/* Appends the record as compact JSON in the spec's field order. */
KS_MUST_CHECK enum ks_err kms_trail_record(const struct kms_trail_call *c, struct ks_buf *out);

/* Fresh lower-case UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). */
void kms_trail_uuid4(char out[37]);
/* "YYYY-MM-DDTHH:MM:SSZ" for epoch seconds. */
void kms_trail_iso8601(int64_t t, char out[21]);

/*
 * Offline trail validation (spec cloudtrail §6.7): checks every digest's
 * RSA signature with the public key (PEM, SPKI or PKCS#1), the hash chain
 * between consecutive digests, and every listed log file's SHA-256; log files
 * listed in no digest are reported. Prints one line per file to `out` in the
 * AWS CLI's style. Returns KS_OK when everything is valid, KS_E_INVALID when
 * anything is not, KS_E_IO / KS_E_NOTFOUND when nothing could be checked.
 */
struct kms_trail_verify_report {
    size_t digests, digests_valid;
    size_t logs, logs_valid;
    size_t uncovered; /* log files on disk listed in no digest */
    size_t records;   /* records in valid log files */
    size_t chains;    /* starting digests seen (1 for one unbroken chain) */
};
KS_MUST_CHECK enum ks_err kms_trail_verify(const char *dir, const char *bucket,
                                           const char *public_key_path, FILE *out,
                                           struct kms_trail_verify_report *rep,
                                           struct ks_diag *diag);

/* ---------------------------------------------------------------------------
 * Server
 */
struct kms_server;

struct kms_server_options {
    struct kms_service *svc;                 /* borrowed; must outlive the server */
    const struct kms_principals *principals; /* borrowed */
    struct kms_trail *trail;                 /* borrowed; NULL = no trail */
    const char *listen;                      /* "HOST:PORT"; port 0 = ephemeral */
    bool allow_remote;                       /* permit a non-loopback bind */
    unsigned threads;                        /* 0 = one per online CPU */
    const char *region;
    const char *account;
    const char *event_version; /* NULL = KMS_DEFAULT_EVENT_VER */
    int64_t max_skew;          /* seconds; 0 = SIGV4_DEFAULT_MAX_SKEW */
    /* Also record requests that fail authentication (spec: not recorded). */
    bool trail_auth_failures;
    /* Append the expected canonical request to signature-mismatch messages. */
    bool debug_signatures;
};

/* One request as received, for kms_server_handle. */
struct kms_http_request {
    struct sigv4_request req; /* method, raw target, headers, body */
    const char *source_ip;
    bool body_too_large; /* the body was cut at KMS_MAX_BODY_BYTES */
    int64_t now_ms;
};

struct kms_http_response {
    unsigned status;
    struct ks_buf body;
    char request_id[37];
    const char *error_type; /* x-amzn-ErrorType, NULL on success (static) */
    bool recorded;          /* a trail record was submitted */
};

void kms_http_response_init(struct kms_http_response *r);
void kms_http_response_release(struct kms_http_response *r);

/*
 * Creates the request handler without listening (tests, fuzzing). Caller
 * frees with kms_server_free. Errors: KS_E_INVALID (missing svc/principals).
 */
KS_MUST_CHECK enum ks_err kms_server_new(const struct kms_server_options *opts,
                                         struct kms_server **out, struct ks_diag *diag);
/*
 * The whole protocol for one request (spec kms-api §1): method, path, size,
 * SigV4, content type, X-Amz-Target, the operation, the trail record.
 * Thread-safe. Never aborts on hostile input.
 */
void kms_server_handle(struct kms_server *srv, const struct kms_http_request *in,
                       struct kms_http_response *out);

/* Binds and starts the libmicrohttpd threads. Errors: KS_E_INVALID (bad
 * listen address, non-loopback without allow_remote), KS_E_IO (bind). */
KS_MUST_CHECK enum ks_err kms_server_start(struct kms_server *srv, struct ks_diag *diag);
/* The bound port (after kms_server_start). */
uint16_t kms_server_port(const struct kms_server *srv);
/*
 * Graceful stop: stops accepting connections, refuses new requests on open
 * ones, waits up to timeout_ms for the calls in flight, then stops the
 * threads. Every call answered has been submitted to the trail. Idempotent.
 */
void kms_server_stop(struct kms_server *srv, unsigned timeout_ms);
/* Stops if needed and frees. NULL-safe. */
void kms_server_free(struct kms_server *srv);

struct kms_server_stats {
    uint64_t requests; /* handled */
    uint64_t errors;   /* answered with status >= 400 */
    uint64_t auth_failures;
    uint64_t recorded; /* trail records submitted */
    uint64_t refused;  /* requests refused while stopping */
};
void kms_server_get_stats(struct kms_server *srv, struct kms_server_stats *out);

/* ---------------------------------------------------------------------------
 * Host: principals, trail, key store and server opened together, in the
 * order their dependencies need (kms_host.c). `keysentry kms serve` and the
 * in-process service of `keysentry serve` (Keysentry::KmsService) both run
 * the service through this, so the two cannot drift apart.
 */

struct kms_host_options {
    const char *data_dir;        /* required: keys.db, root key, principals, digest key */
    const char *principals_path; /* NULL = DATA/principals.json, created with one admin */
    const char *trail_dir;       /* NULL = DATA/trail */
    const char *listen;          /* NULL = KMS_DEFAULT_LISTEN */
    bool allow_remote;
    unsigned threads;
    const char *region;  /* NULL = us-east-1 */
    const char *account; /* NULL = 111122223333 */
    double time_scale;   /* 0 = 1 */
    bool authz_off, lenient_aliases;
    unsigned flush_ms; /* 0 = KMS_DEFAULT_FLUSH_MS */
    size_t max_records;
    unsigned digest_s;
    const char *trail_name, *trail_bucket, *event_version;
    int64_t max_skew;
    bool trail_auth_failures, debug_signatures;
    /* kms_trail_options.on_record */
    void (*on_record)(void *ud, const char *record, size_t len, int64_t event_ms);
    void *on_record_ud;
    FILE *log; /* one-line notices (a principals file created); NULL = stderr */
};

struct kms_host;

/*
 * Creates the data directory (0700), the principals file when missing, opens
 * the trail, the key store and starts the server. Errors: KS_E_IO,
 * KS_E_INVALID (options, principals file, listen address) with diag.
 */
KS_MUST_CHECK enum ks_err kms_host_open(const struct kms_host_options *opts, struct kms_host **out,
                                        struct ks_diag *diag);
uint16_t kms_host_port(const struct kms_host *h);
/* Borrowed until kms_host_close. */
const struct kms_principals *kms_host_principals(const struct kms_host *h);
const char *kms_host_principals_path(const struct kms_host *h);
const char *kms_host_trail_dir(const struct kms_host *h);
/* Pending deletions; call about once a second. */
void kms_host_tick(struct kms_host *h, int64_t now_ms);
void kms_host_get_stats(struct kms_host *h, struct kms_server_stats *out);
/* Stops the server (calls in flight get up to timeout_ms), closes the key
 * store, delivers the trail and frees. final (may be NULL) receives the
 * server's counters after the stop. KS_E_IO when records could not be
 * delivered. NULL-safe. */
enum ks_err kms_host_close(struct kms_host *h, unsigned timeout_ms, struct kms_server_stats *final);

#endif
