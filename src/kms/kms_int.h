/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms internals shared by the operations library files (kms_ops*.c,
 * kms_crypto*.c, kms_store*.c, kms_policy*.c). Not for use outside src/kms.
 *
 * State model: every key, alias and grant lives in memory (struct
 * kms_service), loaded from keys.db at open with key material already
 * unwrapped, so the crypto hot path (Encrypt/Decrypt) touches neither SQLite
 * nor the allocator beyond the request's own JSON. One read-write lock guards
 * the whole state: read-only operations share it, mutations take it
 * exclusively and write through to SQLite before they answer. When a write
 * fails the in-memory state is rebuilt from the database, so memory never
 * runs ahead of disk.
 */
#ifndef KS_KMS_INT_H
#define KS_KMS_INT_H

#include "kms/kms.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include <openssl/evp.h>

/* Limits, as KMS enforces them (spec/kms-api.md §4.4); docs/kms-crypto.md. */
#define KMS_MAX_PLAINTEXT     4096   /* Encrypt Plaintext, bytes */
#define KMS_MAX_CIPHERTEXT    6144   /* CiphertextBlob, bytes */
#define KMS_MAX_CONTEXT_BYTES 8192   /* sum of encryption-context key+value bytes */
#define KMS_MAX_MESSAGE       4096   /* Sign/Verify/GenerateMac/VerifyMac Message */
#define KMS_MAX_SIGNATURE     6144   /* Signature, Mac */
#define KMS_MAX_DESCRIPTION   8192   /* characters */
#define KMS_MAX_POLICY        32768  /* key policy quota, bytes (LimitExceededException) */
#define KMS_MAX_POLICY_MODEL  131072 /* model maximum (ValidationException) */
#define KMS_MAX_TAGS          50     /* tags per key */
#define KMS_MAX_ALIASES       50     /* aliases per key */
#define KMS_MAX_GRANTS        50000  /* grants per key */
#define KMS_MAX_GRANT_TOKENS  10     /* GrantTokens per request */
#define KMS_MAX_KEYS          100000 /* keys per service */
#define KMS_MAX_ON_DEMAND     25     /* RotateKeyOnDemand per key */
#define KMS_MAX_KEY_ID_INPUT  2048   /* KeyId string */
#define KMS_MAX_DATA_KEY      1024   /* GenerateDataKey/GenerateRandom NumberOfBytes */
#define KMS_MAX_RESPONSE      (16u << 20)
#define KMS_MAX_ERROR_MESSAGE (64u << 10)

#define KMS_ID_MAX   40  /* key id: 36 chars + NUL, with room */
#define KMS_ARN_MAX  192 /* key ARN */
#define KMS_MAT_ID   32  /* key material id, bytes (64 hex) */
#define KMS_AES_KEY  32  /* AES-256 */
#define KMS_GCM_IV   12
#define KMS_GCM_TAG  16
#define KMS_ROOT_KEY 32

/* ---------------------------------------------------------------------------
 * Key model
 */

enum kms_class {
    KMS_CLASS_SYM,
    KMS_CLASS_RSA,
    KMS_CLASS_EC,
    KMS_CLASS_HMAC,
};

enum kms_usage {
    KMS_USAGE_ENCRYPT_DECRYPT,
    KMS_USAGE_SIGN_VERIFY,
    KMS_USAGE_GENERATE_VERIFY_MAC,
};

enum kms_state {
    KMS_STATE_ENABLED,
    KMS_STATE_DISABLED,
    KMS_STATE_PENDING_DELETION,
    KMS_STATE_PENDING_IMPORT,
};

enum kms_origin {
    KMS_ORIGIN_AWS_KMS,
    KMS_ORIGIN_EXTERNAL,
};

enum kms_rotation_type {
    KMS_ROT_NONE = 0, /* the key's original material */
    KMS_ROT_AUTOMATIC = 1,
    KMS_ROT_ON_DEMAND = 2,
};

/* One supported KeySpec (static table in kms_crypto.c). */
struct kms_spec {
    const char *name;
    enum kms_class cls;
    int bits;              /* RSA modulus bits, EC field bits, HMAC key bits */
    const char *curve;     /* EC group name for OpenSSL */
    const char *md;        /* HMAC / ECDSA digest name */
    const char *mac_alg;   /* HMAC_SHA_256 ... */
    const char *ecdsa_alg; /* ECDSA_SHA_256 ... */
    size_t secret_len;     /* HMAC key bytes */
};

/* One symmetric key material version; mats[nmats-1] is current. */
struct kms_material {
    uint8_t id[KMS_MAT_ID];
    uint8_t key[KMS_AES_KEY];
    int64_t created_ms;
    enum kms_rotation_type rotation;
    bool stored; /* already in keys.db */
};

struct kms_tag {
    char *key;
    char *value;
};

/* Encryption-context pairs, sorted by key bytes (memcmp). */
struct kms_ctx_pair {
    const char *k;
    size_t klen;
    const char *v;
    size_t vlen;
};

struct kms_grant {
    char id[65];
    char key_id[KMS_ID_MAX];
    char *name; /* NULL = none */
    char *grantee;
    char *retiring; /* NULL = none */
    uint32_t ops;   /* 1u << enum kms_grant_op */
    /* Constraints as given ({"EncryptionContextSubset":{...}} ...) and the
     * parsed pairs; json is only read while the grant lives. */
    char *constraints_json; /* NULL = none */
    struct kms_ctx_pair *subset;
    size_t nsubset;
    bool has_subset;
    struct kms_ctx_pair *equals;
    size_t nequals;
    bool has_equals;
    char *pairs_mem; /* backing store of subset/equals strings */
    int64_t created_ms;
};

struct kms_policy;

struct kms_key {
    char id[KMS_ID_MAX];
    char arn[KMS_ARN_MAX];
    int64_t created_ms;
    char *description;
    const struct kms_spec *spec;
    enum kms_usage usage;
    enum kms_origin origin;
    bool aws_managed;
    bool multi_region;
    enum kms_state state;
    int64_t deletion_ms; /* PendingDeletion: when it really goes */
    int pending_days;
    bool rotation_enabled;
    int rotation_days;
    int64_t next_rotation_ms;
    int on_demand_count;
    /* symmetric: material versions */
    struct kms_material *mats;
    size_t nmats;
    /* HMAC key bytes, or the PKCS#8 DER private key of an asymmetric key */
    uint8_t *secret;
    size_t secret_len;
    EVP_PKEY *pkey;   /* asymmetric: loaded once, shared read-only by threads */
    uint8_t *pub_der; /* SubjectPublicKeyInfo */
    size_t pub_len;
    char *policy; /* verbatim */
    struct kms_policy *pol;
    struct kms_tag *tags; /* sorted by key */
    size_t ntags;
    struct kms_grant **grants; /* creation order; owned */
    size_t ngrants;
    unsigned naliases;
    bool stored; /* row exists in keys.db (the wrapped secret is written once) */
};

struct kms_alias {
    char *name; /* "alias/..." */
    char key_id[KMS_ID_MAX];
    int64_t created_ms;
    int64_t updated_ms;
};

/* Open-addressing string map; keys are borrowed from the values. */
struct kms_map_slot {
    uint64_t hash;
    const char *key;
    size_t klen;
    void *val;
};

struct kms_map {
    struct kms_map_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
};

void kms_map_init(struct kms_map *m);
void kms_map_release(struct kms_map *m);
void *kms_map_get(const struct kms_map *m, const char *key, size_t klen);
/* Inserts or replaces; key must stay valid while the entry exists. */
void kms_map_put(struct kms_map *m, const char *key, size_t klen, void *val);
void *kms_map_del(struct kms_map *m, const char *key, size_t klen);

struct kms_service {
    pthread_rwlock_t lock;
    char *data_dir;
    char *region;
    char *account;
    char arn_prefix[128]; /* "arn:aws:kms:<region>:<account>:" */
    double time_scale;
    bool authz_off;
    bool lenient_aliases;
    void (*on_service_event)(void *ctx, const char *event_name, const char *key_arn,
                             int64_t when_ms);
    void *service_event_ctx;

    sqlite3 *db;
    char *db_path;
    uint8_t root_key[KMS_ROOT_KEY];
    uint8_t token_key[32]; /* authenticates grant tokens; derived from the root key */

    struct kms_map keys;    /* id -> struct kms_key */
    struct kms_map aliases; /* name -> struct kms_alias */
    struct kms_map grants;  /* grant id -> struct kms_grant */
    /* Earliest pending deletion or automatic rotation (INT64_MAX = none):
     * kms_call compares against it without the lock. */
    _Atomic int64_t next_due_ms;

    EVP_CIPHER *gcm; /* fetched once: implicit fetches take a global lock */
};

/* ---------------------------------------------------------------------------
 * Grants
 */
#define KMS_GRANT_OPS(X)                                                                           \
    X(Decrypt)                                                                                     \
    X(Encrypt)                                                                                     \
    X(GenerateDataKey)                                                                             \
    X(GenerateDataKeyWithoutPlaintext)                                                             \
    X(ReEncryptFrom)                                                                               \
    X(ReEncryptTo)                                                                                 \
    X(Sign)                                                                                        \
    X(Verify)                                                                                      \
    X(GetPublicKey)                                                                                \
    X(CreateGrant)                                                                                 \
    X(RetireGrant)                                                                                 \
    X(DescribeKey)                                                                                 \
    X(GenerateDataKeyPair)                                                                         \
    X(GenerateDataKeyPairWithoutPlaintext)                                                         \
    X(GenerateMac)                                                                                 \
    X(VerifyMac)                                                                                   \
    X(DeriveSharedSecret)

enum kms_grant_op {
#define KMS_X(n) KMS_GOP_##n,
    KMS_GRANT_OPS(KMS_X)
#undef KMS_X
        KMS_GOP_COUNT,
    KMS_GOP_NONE = -1,
};

extern const char *const kms_grant_op_names[KMS_GOP_COUNT];

/* ---------------------------------------------------------------------------
 * Operations (kms_ops.c): name, readOnly (cloudtrail spec §2.1), lock kind,
 * and the request members recorded in requestParameters (space-separated,
 * in record order; secrets such as Plaintext are never listed). Sorted by
 * name for bsearch.
 */
enum kms_op_kind {
    KMS_OPK_READ,  /* runs under the shared lock */
    KMS_OPK_WRITE, /* runs under the exclusive lock, writes through */
    KMS_OPK_UNSUPPORTED,
};

/* clang-format off */
#define KMS_OPS(X) \
    X(CancelKeyDeletion, false, WRITE, "KeyId") \
    X(ConnectCustomKeyStore, false, UNSUPPORTED, NULL) \
    X(CreateAlias, false, WRITE, "AliasName TargetKeyId") \
    X(CreateCustomKeyStore, false, UNSUPPORTED, NULL) \
    X(CreateGrant, false, WRITE, \
        "KeyId GranteePrincipal GranteeServicePrincipal RetiringPrincipal " \
        "RetiringServicePrincipal Operations Constraints Name DryRun") \
    X(CreateKey, false, WRITE, \
        "Policy Description KeyUsage CustomerMasterKeySpec KeySpec Origin CustomKeyStoreId " \
        "BypassPolicyLockoutSafetyCheck Tags MultiRegion XksKeyId") \
    X(Decrypt, true, READ, "KeyId EncryptionAlgorithm EncryptionContext DryRun DryRunModifiers") \
    X(DeleteAlias, false, WRITE, "AliasName") \
    X(DeleteCustomKeyStore, false, UNSUPPORTED, NULL) \
    X(DeleteImportedKeyMaterial, false, UNSUPPORTED, NULL) \
    X(DeriveSharedSecret, true, UNSUPPORTED, NULL) \
    X(DescribeCustomKeyStores, true, UNSUPPORTED, NULL) \
    X(DescribeKey, true, READ, "KeyId") \
    X(DisableKey, false, WRITE, "KeyId") \
    X(DisableKeyRotation, false, WRITE, "KeyId") \
    X(DisconnectCustomKeyStore, false, UNSUPPORTED, NULL) \
    X(EnableKey, false, WRITE, "KeyId") \
    X(EnableKeyRotation, false, WRITE, "KeyId RotationPeriodInDays") \
    X(Encrypt, true, READ, "KeyId EncryptionAlgorithm EncryptionContext DryRun") \
    X(GenerateDataKey, true, READ, "KeyId KeySpec NumberOfBytes EncryptionContext DryRun") \
    X(GenerateDataKeyPair, true, READ, "KeyId KeyPairSpec EncryptionContext DryRun") \
    X(GenerateDataKeyPairWithoutPlaintext, true, READ, \
        "KeyId KeyPairSpec EncryptionContext DryRun") \
    X(GenerateDataKeyWithoutPlaintext, true, READ, \
        "KeyId KeySpec NumberOfBytes EncryptionContext DryRun") \
    X(GenerateMac, true, READ, "KeyId MacAlgorithm DryRun") \
    X(GenerateRandom, true, READ, "") \
    X(GetKeyLastUsage, true, UNSUPPORTED, NULL) \
    X(GetKeyPolicy, true, READ, "KeyId PolicyName") \
    X(GetKeyRotationStatus, true, READ, "KeyId") \
    X(GetParametersForImport, true, UNSUPPORTED, NULL) \
    X(GetPublicKey, true, READ, "KeyId") \
    X(ImportKeyMaterial, false, UNSUPPORTED, NULL) \
    X(ListAliases, true, READ, "KeyId Limit Marker") \
    X(ListGrants, true, READ, "KeyId GrantId GranteePrincipal Limit Marker") \
    X(ListKeyPolicies, true, READ, "KeyId Limit Marker") \
    X(ListKeyRotations, true, READ, "KeyId IncludeKeyMaterial Limit Marker") \
    X(ListKeys, true, READ, "Limit Marker") \
    X(ListResourceTags, true, READ, "KeyId Limit Marker") \
    X(ListRetirableGrants, true, READ, "RetiringPrincipal Limit Marker") \
    X(PutKeyPolicy, false, WRITE, "KeyId PolicyName Policy BypassPolicyLockoutSafetyCheck") \
    X(ReEncrypt, true, READ, \
        "SourceKeyId DestinationKeyId SourceEncryptionAlgorithm " \
        "DestinationEncryptionAlgorithm SourceEncryptionContext " \
        "DestinationEncryptionContext DryRun DryRunModifiers") \
    X(ReplicateKey, false, UNSUPPORTED, NULL) \
    X(RetireGrant, false, WRITE, "") \
    X(RevokeGrant, false, WRITE, "KeyId GrantId DryRun") \
    X(RotateKeyOnDemand, false, WRITE, "KeyId") \
    X(ScheduleKeyDeletion, false, WRITE, "KeyId PendingWindowInDays") \
    X(Sign, true, READ, "KeyId MessageType SigningAlgorithm DryRun") \
    X(TagResource, false, WRITE, "KeyId Tags") \
    X(UntagResource, false, WRITE, "KeyId TagKeys") \
    X(UpdateAlias, false, WRITE, "AliasName TargetKeyId") \
    X(UpdateCustomKeyStore, false, UNSUPPORTED, NULL) \
    X(UpdateKeyDescription, false, WRITE, "KeyId Description") \
    X(UpdatePrimaryRegion, false, UNSUPPORTED, NULL) \
    X(Verify, true, READ, "KeyId MessageType SigningAlgorithm DryRun") \
    X(VerifyMac, true, READ, "KeyId MacAlgorithm DryRun")
/* clang-format on */

/* A service event raised while the lock was held, reported after unlock. */
struct kms_svc_event {
    const char *name; /* "DeleteKey" / "RotateKey" */
    char arn[KMS_ARN_MAX];
    int64_t when_ms;
};

struct kms_events {
    struct kms_svc_event *v;
    size_t n, cap;
};

/* Per-call state of one kms_call. */
struct kms_op;
struct kms_req {
    struct kms_service *svc;
    const struct kms_caller *caller;
    int64_t now_ms;
    const struct kms_op *op;
    json_t *in; /* request object (owned) */
    struct kms_response *out;
    bool write_locked;
    bool failed;
    bool retry_write;   /* needs the exclusive lock (e.g. an alias/aws/... key to create) */
    struct ks_buf verr; /* "; "-joined validation messages */
    unsigned nverr;
    /* JSON writer state over out->body */
    unsigned depth;
    bool first[16];
    enum ks_err werr;
    struct kms_events *events;
};

typedef void kms_op_fn(struct kms_req *r);

struct kms_op {
    const char *name;
    bool read_only;
    enum kms_op_kind kind;
    const char *members;
    kms_op_fn *fn;
};

#define KMS_X(n, ro, kind, members) kms_op_fn kms_op_##n;
KMS_OPS(KMS_X)
#undef KMS_X

/* ---------------------------------------------------------------------------
 * Request helpers (kms_ops.c)
 */

/* Errors: code is a static string, message printf-style ("" for none). */
void kms_fail(struct kms_req *r, const char *code, const char *fmt, ...) KS_PRINTF(3, 4);
void kms_fail_internal(struct kms_req *r, const char *what);
void kms_fail_denied(struct kms_req *r, const struct kms_key *k, const char *action,
                     bool explicit_deny);
/* True when an error (or a retry) is pending: the handler returns. */
bool kms_done(struct kms_req *r);

/* Member access. Each records SerializationException for a wrong JSON type,
 * or a validation message for a model constraint, and returns the value
 * when present and well-typed (NULL/false otherwise). path is the
 * lowerCamel member path used in messages. */
const char *kms_arg_str(struct kms_req *r, const char *member, const char *path, bool required,
                        size_t min_chars, size_t max_chars, size_t *len);
/* Enum: value must be one of set (NULL-terminated); returns index or -1.
 * set_text is AWS's rendering "[A, B]". */
int kms_arg_enum(struct kms_req *r, const char *member, const char *path, bool required,
                 const char *const *set, const char *set_text);
bool kms_arg_int(struct kms_req *r, const char *member, const char *path, bool required,
                 int64_t min, int64_t max, int64_t *v);
bool kms_arg_bool(struct kms_req *r, const char *member, bool *v);
/* Blob: base64-decoded into buf (cap >= max); returns true when present. */
bool kms_arg_blob(struct kms_req *r, const char *member, const char *path, bool required,
                  size_t min, size_t max, uint8_t *buf, size_t *len);
/* Encryption context map; returns the object or NULL (absent = empty). */
const json_t *kms_arg_ctx(struct kms_req *r, const char *member, bool *present);
void kms_arg_grant_tokens(struct kms_req *r);
/* A list of strings; returns the array (borrowed) or NULL. */
const json_t *kms_arg_str_list(struct kms_req *r, const char *member, const char *path,
                               bool required, size_t min_items, size_t max_items, size_t min_chars,
                               size_t max_chars);
void kms_verr(struct kms_req *r, const char *fmt, ...) KS_PRINTF(2, 3);
/* Emits the collected validation errors, if any; true when it did. */
bool kms_check_valid(struct kms_req *r);

/* Key resolution (spec §2.3). */
enum kms_idform {
    KMS_ID_ANY, /* key id, key ARN, alias name, alias ARN */
    KMS_ID_KEY, /* key id or key ARN */
};
struct kms_key *kms_resolve(struct kms_req *r, const char *s, size_t len, enum kms_idform form);
/* Like kms_resolve but sets no error: NULL when s does not name a key. May
 * set retry_write for a missing alias/aws/... key. */
struct kms_key *kms_resolve_quiet(struct kms_req *r, const char *s, size_t len);
struct kms_key *kms_key_by_id(struct kms_service *svc, const char *id, size_t len);
void kms_add_resource(struct kms_req *r, const char *arn);

/* State rules (spec §3.3). */
enum kms_state_rule {
    KMS_ST_CRYPTO,   /* Disabled/PendingDeletion/PendingImport fail */
    KMS_ST_ANY,      /* every state works */
    KMS_ST_ENDIS,    /* EnableKey/DisableKey */
    KMS_ST_SCHEDULE, /* ScheduleKeyDeletion */
    KMS_ST_CANCEL,   /* CancelKeyDeletion: only PendingDeletion */
    KMS_ST_MGMT,     /* CreateAlias, tags, UpdateKeyDescription */
    KMS_ST_ROTATION, /* Enable/DisableKeyRotation, RotateKeyOnDemand */
};
bool kms_check_state(struct kms_req *r, const struct kms_key *k, enum kms_state_rule rule);
bool kms_check_usage(struct kms_req *r, const struct kms_key *k, enum kms_usage want,
                     const char *opname);
/* Authorization through key policy and grants (spec §7): true = allowed. */
bool kms_authorize(struct kms_req *r, const struct kms_key *k, const char *action,
                   enum kms_grant_op gop, const json_t *ctx);
/* DryRun: answers DryRunOperationException when set; true when it did. */
bool kms_dry_run(struct kms_req *r, bool dry);

/* JSON writer over out->body (no allocation beyond the buffer). key NULL =
 * array element. */
void kms_w_open(struct kms_req *r, const char *key);
void kms_w_close(struct kms_req *r);
void kms_w_arr(struct kms_req *r, const char *key);
void kms_w_arr_close(struct kms_req *r);
void kms_w_str(struct kms_req *r, const char *key, const char *s);
void kms_w_strn(struct kms_req *r, const char *key, const char *s, size_t n);
void kms_w_int(struct kms_req *r, const char *key, int64_t v);
void kms_w_bool(struct kms_req *r, const char *key, bool v);
void kms_w_time(struct kms_req *r, const char *key, int64_t ms);
void kms_w_b64(struct kms_req *r, const char *key, const uint8_t *p, size_t n);
void kms_w_hex(struct kms_req *r, const char *key, const uint8_t *p, size_t n);
void kms_w_raw(struct kms_req *r, const char *key, const char *json);

/* Pagination (spec §5): Limit (1..max, default def) and Marker; after gets
 * the decoded marker ("" = from the start). Parse these last: a marker we
 * did not issue answers InvalidMarkerException when nothing else failed. */
void kms_arg_page(struct kms_req *r, int64_t max, int64_t def, int64_t *limit, char *after,
                  size_t after_size);
/* Truncated (+ NextMarker = base64 of next_key when truncated). */
void kms_w_page_end(struct kms_req *r, bool truncated, const char *next_key);
/* Tags as sent (CreateKey, TagResource), validated; NULL when absent. */
struct kms_tag_in {
    const char *k;
    const char *v;
};
bool kms_arg_tags(struct kms_req *r, bool required, struct kms_tag_in **out, size_t *n);
/* TagException rules (reserved prefix, duplicates, 50 per key with k's). */
bool kms_tags_check(struct kms_req *r, const struct kms_key *k, const struct kms_tag_in *t,
                    size_t n);
void kms_tags_apply(struct kms_key *k, const struct kms_tag_in *t, size_t n);

/* CloudTrail text date "Jan 22, 2024, 12:10:00 PM" (UTC). */
void kms_ct_date(int64_t ms, char *out, size_t size);
json_t *kms_ct_date_json(int64_t ms);
/* Sets requestParameters[key] = value (stolen) when the caller did not send it. */
void kms_rp_default(struct kms_req *r, const char *key, json_t *value);

/* Key model helpers shared by the op files. */
const struct kms_spec *kms_spec_find(const char *name);
const char *kms_usage_name(enum kms_usage u);
const char *kms_state_name(enum kms_state s);
void kms_write_metadata(struct kms_req *r, const struct kms_key *k);
json_t *kms_metadata_ct(const struct kms_service *svc, const struct kms_key *k);
int64_t kms_scaled_ms(const struct kms_service *svc, int64_t days);
void kms_recompute_due(struct kms_service *svc);
void kms_key_rotate(struct kms_service *svc, struct kms_key *k, int64_t now_ms,
                    enum kms_rotation_type type);
void kms_event_add(struct kms_events *ev, const char *name, const char *arn, int64_t when_ms);
/* Deletes the key with its aliases and grants (memory and keys.db). */
enum ks_err kms_key_destroy(struct kms_service *svc, struct kms_key *k);
/* Persists a changed key; on failure rebuilds memory from disk and fails r.
 * k may be freed by the rebuild: callers must not touch it after false. */
bool kms_persist_key(struct kms_req *r, struct kms_key *k);
/* Carries out deletions/rotations that are due (exclusive lock held). */
void kms_housekeep(struct kms_service *svc, int64_t now_ms, struct kms_events *ev);
/* Creates a key in memory (not yet stored); fills material/pkey/secret. */
enum ks_err kms_key_new(struct kms_service *svc, const struct kms_spec *spec, enum kms_usage usage,
                        enum kms_origin origin, bool multi_region, int64_t now_ms,
                        struct kms_key **out);
void kms_key_free(struct kms_key *k);
void kms_alias_free(struct kms_alias *a);
void kms_grant_free(struct kms_grant *g);
const char *kms_default_policy(const struct kms_service *svc, char *buf, size_t size);

/* ---------------------------------------------------------------------------
 * Crypto (kms_crypto.c)
 */

size_t kms_b64_len(size_t n);
/* Writes kms_b64_len(n) characters plus a NUL. */
void kms_b64_encode(const uint8_t *in, size_t n, char *out);
/* Strict RFC 4648 standard alphabet with padding; out needs n/4*3 bytes,
 * or NULL to only check and measure. */
bool kms_b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);
/* URL-safe alphabet, no padding (grant tokens). */
void kms_b64url_encode(const uint8_t *in, size_t n, char *out);
bool kms_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);
void kms_hex(const uint8_t *in, size_t n, char *out);
bool kms_unhex(const char *in, size_t n, uint8_t *out);

/* Canonical encryption-context encoding (AAD, spec §4.1). ctx may be NULL
 * (empty). *out is buf when it fits (cap bytes), else heap (caller frees
 * when != buf). Returns false when the context is not a string map or
 * exceeds KMS_MAX_CONTEXT_BYTES (*too_big set). */
bool kms_ctx_encode(const json_t *ctx, uint8_t *buf, size_t cap, uint8_t **out, size_t *len,
                    bool *too_big);
/* Sorted pairs of a context object (strings borrowed from ctx). */
bool kms_ctx_pairs(const json_t *ctx, struct kms_ctx_pair **out, size_t *n);

/* Symmetric ciphertext blob (docs/kms-crypto.md). */
#define KMS_BLOB_VERSION 0x01
struct kms_blob {
    const char *key_id;
    size_t key_id_len;
    const uint8_t *mat_id;
    const uint8_t *iv;
    const uint8_t *ct;
    size_t ct_len;
    const uint8_t *tag;
    size_t header_len;
};
bool kms_blob_parse(const uint8_t *b, size_t n, struct kms_blob *out);
size_t kms_blob_size(size_t key_id_len, size_t pt_len);
/* Encrypts pt under m into out (kms_blob_size bytes). */
bool kms_blob_seal(const struct kms_service *svc, const struct kms_key *k,
                   const struct kms_material *m, const uint8_t *aad, size_t aad_len,
                   const uint8_t *pt, size_t pt_len, uint8_t *out, size_t *out_len);
/* Decrypts into pt (blob->ct_len bytes); false = InvalidCiphertext. */
bool kms_blob_open(const struct kms_service *svc, const struct kms_blob *b,
                   const uint8_t blob_start[], const struct kms_material *m, const uint8_t *aad,
                   size_t aad_len, uint8_t *pt);
const struct kms_material *kms_material_find(const struct kms_key *k, const uint8_t id[KMS_MAT_ID]);

/* Root-key wrapping of stored secrets: out = iv | ct | tag. */
bool kms_wrap(const struct kms_service *svc, const uint8_t *aad, size_t aad_len, const uint8_t *in,
              size_t n, uint8_t **out, size_t *out_len);
bool kms_unwrap(const struct kms_service *svc, const uint8_t *aad, size_t aad_len,
                const uint8_t *in, size_t n, uint8_t **out, size_t *out_len);

/* Asymmetric keys. */
EVP_PKEY *kms_pkey_generate(const struct kms_spec *spec);
bool kms_pkey_private_der(EVP_PKEY *pk, uint8_t **der, size_t *len); /* PKCS#8, cleanse+free */
bool kms_pkey_public_der(EVP_PKEY *pk, uint8_t **der, size_t *len);  /* SPKI */
EVP_PKEY *kms_pkey_from_der(const uint8_t *der, size_t len);
/* Fills the key's pkey/pub_der from secret (asymmetric) */
bool kms_key_load_asym(struct kms_key *k);

struct kms_sig_alg {
    const char *name;
    enum kms_class cls;
    const char *md;
    size_t md_len;
    bool pss;
};
const struct kms_sig_alg *kms_sig_alg_find(const char *name);
/* Signature algorithms a key offers ("RSASSA_..." list), NULL-terminated. */
const char *const *kms_key_sig_algs(const struct kms_key *k);
const char *const *kms_key_enc_algs(const struct kms_key *k);
bool kms_sign(EVP_PKEY *pk, const struct kms_sig_alg *a, const uint8_t *msg, size_t n,
              bool is_digest, uint8_t *sig, size_t *sig_len);
/* 1 = valid, 0 = invalid */
int kms_verify(EVP_PKEY *pk, const struct kms_sig_alg *a, const uint8_t *msg, size_t n,
               bool is_digest, const uint8_t *sig, size_t sig_len);
/* RSA OAEP; sha256 selects RSAES_OAEP_SHA_256 (else SHA_1). */
size_t kms_rsa_max_plaintext(const struct kms_key *k, bool sha256);
bool kms_rsa_encrypt(EVP_PKEY *pk, bool sha256, const uint8_t *in, size_t n, uint8_t *out,
                     size_t *out_len);
bool kms_rsa_decrypt(EVP_PKEY *pk, bool sha256, const uint8_t *in, size_t n, uint8_t *out,
                     size_t *out_len);
bool kms_hmac(const struct kms_spec *spec, const uint8_t *key, size_t key_len, const uint8_t *msg,
              size_t n, uint8_t *out, size_t *out_len);
bool kms_random(void *p, size_t n);
void kms_uuid4(char out[37]);

/* ---------------------------------------------------------------------------
 * Store (kms_store.c)
 */
KS_MUST_CHECK enum ks_err kms_store_open(struct kms_service *svc, struct ks_diag *diag);
void kms_store_close(struct kms_service *svc);
/* Frees all in-memory keys, aliases and grants. */
void kms_state_clear(struct kms_service *svc);
KS_MUST_CHECK enum ks_err kms_store_load(struct kms_service *svc, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err kms_store_save_key(struct kms_service *svc, struct kms_key *k);
KS_MUST_CHECK enum ks_err kms_store_delete_key(struct kms_service *svc, const struct kms_key *k);
KS_MUST_CHECK enum ks_err kms_store_save_alias(struct kms_service *svc, const struct kms_alias *a);
KS_MUST_CHECK enum ks_err kms_store_delete_alias(struct kms_service *svc, const char *name);
KS_MUST_CHECK enum ks_err kms_store_save_grant(struct kms_service *svc, const struct kms_grant *g);
KS_MUST_CHECK enum ks_err kms_store_delete_grant(struct kms_service *svc, const char *id);
/* Rebuilds memory from keys.db after a failed write. */
void kms_store_reload(struct kms_service *svc);

/* ---------------------------------------------------------------------------
 * Policies (kms_policy.c)
 */
enum kms_authz {
    KMS_AUTHZ_NONE, /* no statement applies */
    KMS_AUTHZ_ALLOW,
    KMS_AUTHZ_DENY,
};

/* Compiles a policy document; NULL with why filled when malformed. */
struct kms_policy *kms_policy_compile(const char *text, size_t len, char *why, size_t why_size);
void kms_policy_free(struct kms_policy *p);
/* action is "kms:Encrypt" etc.; ctx the request's encryption context. */
enum kms_authz kms_policy_eval(const struct kms_policy *p, const struct kms_caller *c,
                               const char *action, const char *key_arn, const json_t *ctx);
bool kms_grants_allow(const struct kms_service *svc, const struct kms_key *k,
                      const struct kms_caller *c, enum kms_grant_op op, const json_t *ctx);
bool kms_grant_set_constraints(struct kms_grant *g, const json_t *constraints);
bool kms_principal_is(const struct kms_caller *c, const char *principal);

#endif
