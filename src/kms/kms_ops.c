/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms operations: service lifecycle, kms_call dispatch and the helpers every
 * operation shares (member access with AWS's validation texts, key
 * resolution, key-state rules, authorization, the response writer and the
 * CloudTrail parts).
 *
 * One call: parse the body (SerializationException on anything but a JSON
 * object), record requestParameters from the members the operation logs
 * (cloudtrail-kms-events.md §2.2), run the handler under the shared or the
 * exclusive lock, then render either the handler's body or the error body.
 * Handlers collect model-constraint violations first (all of them, as AWS
 * reports "N validation errors detected"), then resolve keys, authorize,
 * check state and usage, and act; the first error wins.
 *
 * Locking: read-only operations share the lock; a read-only handler that
 * needs to create something (the AWS-managed key behind alias/aws/...) asks for
 * a rerun under the exclusive lock. Pending deletions and automatic rotations
 * that are due run before the call (one atomic comparison when nothing is
 * due), so a key past its deletion date is never seen.
 */
#include "kms/kms_int.h"

#include <openssl/crypto.h>

/* ---------------------------------------------------------------------------
 * Operation table
 */

static const struct kms_op ops[] = {
#define KMS_X(n, ro, kind, members) {#n, ro, KMS_OPK_##kind, members, kms_op_##n},
    KMS_OPS(KMS_X)
#undef KMS_X
};

/* Recognized but not implemented (spec §6.11): all share one answer. */
static void op_unsupported(struct kms_req *r)
{
    kms_fail(r, "UnsupportedOperationException", "Operation %s is not supported by this emulator.",
             r->op->name);
}
#define KMS_UNSUPPORTED(n)                                                                         \
    void kms_op_##n(struct kms_req *r)                                                             \
    {                                                                                              \
        op_unsupported(r);                                                                         \
    }
KMS_UNSUPPORTED(ConnectCustomKeyStore)
KMS_UNSUPPORTED(CreateCustomKeyStore)
KMS_UNSUPPORTED(DeleteCustomKeyStore)
KMS_UNSUPPORTED(DeleteImportedKeyMaterial)
KMS_UNSUPPORTED(DeriveSharedSecret)
KMS_UNSUPPORTED(DescribeCustomKeyStores)
KMS_UNSUPPORTED(DisconnectCustomKeyStore)
KMS_UNSUPPORTED(GetKeyLastUsage)
KMS_UNSUPPORTED(GetParametersForImport)
KMS_UNSUPPORTED(ImportKeyMaterial)
KMS_UNSUPPORTED(ReplicateKey)
KMS_UNSUPPORTED(UpdateCustomKeyStore)
KMS_UNSUPPORTED(UpdatePrimaryRegion)

static int op_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct kms_op *)elem)->name);
}

static const struct kms_op *op_find(const char *name)
{
    if (!name)
        return NULL;
    return bsearch(name, ops, KS_ARRAY_LEN(ops), sizeof(ops[0]), op_cmp);
}

bool kms_op_known(const char *op)
{
    return op_find(op) != NULL;
}

/* ---------------------------------------------------------------------------
 * Service lifecycle
 */

enum ks_err kms_service_open(const struct kms_options *opts, struct kms_service **out,
                             struct ks_diag *diag)
{
    *out = NULL;
    if (!opts || !opts->data_dir || !*opts->data_dir)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "kms: no data directory given");
    struct kms_service *svc = ks_xcalloc(1, sizeof(*svc));
    svc->data_dir = ks_xstrdup(opts->data_dir);
    svc->region = ks_xstrdup(opts->region && *opts->region ? opts->region : "us-east-1");
    svc->account = ks_xstrdup(opts->account && *opts->account ? opts->account : "111122223333");
    svc->time_scale = opts->time_scale > 0 ? opts->time_scale : 1.0;
    svc->authz_off = opts->authz_off;
    svc->lenient_aliases = opts->lenient_aliases;
    svc->on_service_event = opts->on_service_event;
    svc->service_event_ctx = opts->service_event_ctx;
    snprintf(svc->arn_prefix, sizeof(svc->arn_prefix), "arn:aws:kms:%s:%s:", svc->region,
             svc->account);
    atomic_init(&svc->next_due_ms, INT64_MAX);
    kms_map_init(&svc->keys);
    kms_map_init(&svc->aliases);
    kms_map_init(&svc->grants);
    if (strlen(svc->region) > 32 || strlen(svc->account) > 32) {
        kms_service_close(svc);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "kms: region or account is too long");
    }
    if (pthread_rwlock_init(&svc->lock, NULL) != 0) {
        free(svc->data_dir);
        free(svc->region);
        free(svc->account);
        free(svc);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "kms: cannot create the state lock");
    }
    svc->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (!svc->gcm) {
        kms_service_close(svc);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "kms: OpenSSL has no AES-256-GCM");
    }
    enum ks_err e = kms_store_open(svc, diag);
    if (e) {
        kms_service_close(svc);
        return e;
    }
    *out = svc;
    return KS_OK;
}

void kms_service_close(struct kms_service *svc)
{
    if (!svc)
        return;
    kms_state_clear(svc); /* wipes unwrapped key material */
    kms_store_close(svc);
    EVP_CIPHER_free(svc->gcm);
    pthread_rwlock_destroy(&svc->lock);
    free(svc->data_dir);
    free(svc->region);
    free(svc->account);
    free(svc);
}

static void emit_events(struct kms_service *svc, struct kms_events *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        if (svc->on_service_event)
            svc->on_service_event(svc->service_event_ctx, ev->v[i].name, ev->v[i].arn,
                                  ev->v[i].when_ms);
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}

void kms_service_tick(struct kms_service *svc, int64_t now_ms)
{
    if (now_ms < atomic_load(&svc->next_due_ms))
        return;
    struct kms_events ev = {0};
    pthread_rwlock_wrlock(&svc->lock);
    kms_housekeep(svc, now_ms, &ev);
    pthread_rwlock_unlock(&svc->lock);
    emit_events(svc, &ev);
}

/* ---------------------------------------------------------------------------
 * Responses
 */

void kms_response_init(struct kms_response *r)
{
    memset(r, 0, sizeof(*r));
    ks_buf_init(&r->body, KMS_MAX_RESPONSE);
    ks_buf_init(&r->error_message, KMS_MAX_ERROR_MESSAGE);
}

void kms_response_release(struct kms_response *r)
{
    /* the body may carry a plaintext or data key (base64) */
    if (r->body.cap)
        OPENSSL_cleanse(r->body.data, r->body.cap);
    ks_buf_release(&r->body);
    ks_buf_release(&r->error_message);
    json_decref(r->request_parameters);
    json_decref(r->response_elements);
    json_decref(r->resources);
    json_decref(r->additional_event_data);
    kms_response_init(r);
}

static unsigned status_for(const char *code)
{
    static const char *const faults[] = {"KMSInternalException", "DependencyTimeoutException",
                                         "KeyUnavailableException", "InternalFailure"};
    for (size_t i = 0; i < KS_ARRAY_LEN(faults); i++)
        if (strcmp(code, faults[i]) == 0)
            return 500;
    return 400;
}

/* ks_buf_reset writes the NUL even into the shared empty buffer of an
 * unallocated ks_buf, a (benign) race between threads: skip it then. */
static void buf_clear(struct ks_buf *b)
{
    if (b->cap)
        ks_buf_reset(b);
}

/* Appends within the cap; past it the text is cut (messages only). */
static void buf_put(struct ks_buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        n = b->max - b->len;
    if (ks_buf_add(b, p, n) != KS_OK)
        return;
}

void kms_fail(struct kms_req *r, const char *code, const char *fmt, ...)
{
    if (r->failed)
        return; /* the first error wins */
    r->failed = true;
    r->out->error_code = code;
    buf_clear(&r->out->error_message);
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_put(&r->out->error_message, tmp, (size_t)n);
        return;
    }
    size_t cap = (size_t)n + 1;
    if (cap > KMS_MAX_ERROR_MESSAGE)
        cap = KMS_MAX_ERROR_MESSAGE;
    char *big = ks_xmalloc(cap);
    va_start(ap, fmt);
    vsnprintf(big, cap, fmt, ap);
    va_end(ap);
    buf_put(&r->out->error_message, big, strlen(big));
    free(big);
}

void kms_fail_internal(struct kms_req *r, const char *what)
{
    kms_fail(r, "KMSInternalException", "The request failed because of an internal error (%s).",
             what);
}

void kms_fail_denied(struct kms_req *r, const struct kms_key *k, const char *action,
                     bool explicit_deny)
{
    if (r->failed)
        return;
    const char *who = r->caller && r->caller->arn ? r->caller->arn : "unknown";
    if (explicit_deny)
        kms_fail(r, "AccessDeniedException",
                 "User: %s is not authorized to perform: kms:%s on resource: %s with an explicit "
                 "deny in a resource-based policy",
                 who, action, k->arn);
    else
        kms_fail(r, "AccessDeniedException",
                 "User: %s is not authorized to perform: kms:%s on resource: %s because no "
                 "resource-based policy allows the kms:%s action",
                 who, action, k->arn, action);
    /* CloudTrail records the short code for authorization failures (§2.7) */
    r->out->trail_error_code = "AccessDenied";
}

bool kms_done(struct kms_req *r)
{
    return r->failed || r->retry_write;
}

/* ---------------------------------------------------------------------------
 * Member access and validation texts (spec §1.6)
 */

void kms_verr(struct kms_req *r, const char *fmt, ...)
{
    if (r->nverr++)
        buf_put(&r->verr, "; ", 2);
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_put(&r->verr, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

bool kms_check_valid(struct kms_req *r)
{
    if (kms_done(r))
        return true;
    if (!r->nverr)
        return false;
    kms_fail(r, "ValidationException", "%u validation error%s detected: %s", r->nverr,
             r->nverr == 1 ? "" : "s", r->verr.data);
    return true;
}

/* Coral's texts for a member of the wrong JSON type. */
static void type_err(struct kms_req *r, const json_t *v, const char *want)
{
    const char *got = "NULL_VALUE";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        kms_fail(r, "SerializationException",
                 "Start of structure or map found where not expected.");
        return;
    case JSON_ARRAY:
        kms_fail(r, "SerializationException", "Start of list found where not expected");
        return;
    case JSON_STRING:
        got = "STRING_VALUE";
        break;
    case JSON_INTEGER:
        got = "NUMBER_VALUE";
        break;
    case JSON_REAL:
        got = "DECIMAL_VALUE";
        break;
    case JSON_TRUE:
        got = "TRUE_VALUE";
        break;
    case JSON_FALSE:
        got = "FALSE_VALUE";
        break;
    case JSON_NULL:
        break;
    }
    kms_fail(r, "SerializationException", "%s can not be converted to %s", got, want);
}

/* A member, or NULL when absent or JSON null (both mean "not sent"). */
static const json_t *member(struct kms_req *r, const char *name)
{
    const json_t *v = json_object_get(r->in, name);
    return json_is_null(v) ? NULL : v;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

/* Values echoed in messages are cut, so a hostile 1 MiB string does not
 * come back twice. */
#define ECHO_MAX   2048
#define ECHO(s, n) (int)((n) < ECHO_MAX ? (n) : ECHO_MAX), (s)

const char *kms_arg_str(struct kms_req *r, const char *name, const char *path, bool required,
                        size_t min_chars, size_t max_chars, size_t *len)
{
    const json_t *v = member(r, name);
    if (len)
        *len = 0;
    if (!v) {
        if (required)
            kms_verr(r, "Value null at '%s' failed to satisfy constraint: Member must not be null",
                     path);
        return NULL;
    }
    if (!json_is_string(v)) {
        type_err(r, v, "a String");
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    size_t chars = utf8_chars(s, n);
    if (chars < min_chars) {
        kms_verr(r,
                 "Value '%.*s' at '%s' failed to satisfy constraint: Member must have length "
                 "greater than or equal to %zu",
                 ECHO(s, n), path, min_chars);
        return NULL;
    }
    if (chars > max_chars) {
        kms_verr(r,
                 "Value '%.*s' at '%s' failed to satisfy constraint: Member must have length "
                 "less than or equal to %zu",
                 ECHO(s, n), path, max_chars);
        return NULL;
    }
    if (memchr(s, '\0', n)) {
        kms_fail(r, "SerializationException", "NUL character in member '%s'", name);
        return NULL;
    }
    if (len)
        *len = n;
    return s;
}

int kms_arg_enum(struct kms_req *r, const char *name, const char *path, bool required,
                 const char *const *set, const char *set_text)
{
    size_t n;
    const char *s = kms_arg_str(r, name, path, required, 0, SIZE_MAX, &n);
    if (!s)
        return -1;
    for (int i = 0; set[i]; i++)
        if (strcmp(set[i], s) == 0)
            return i;
    kms_verr(r,
             "Value '%.*s' at '%s' failed to satisfy constraint: Member must satisfy enum value "
             "set: %s",
             ECHO(s, n), path, set_text);
    return -1;
}

bool kms_arg_int(struct kms_req *r, const char *name, const char *path, bool required, int64_t min,
                 int64_t max, int64_t *out)
{
    const json_t *v = member(r, name);
    if (!v) {
        if (required)
            kms_verr(r, "Value null at '%s' failed to satisfy constraint: Member must not be null",
                     path);
        return false;
    }
    if (!json_is_integer(v) || json_integer_value(v) > INT32_MAX ||
        json_integer_value(v) < INT32_MIN) {
        type_err(r, v, "an Integer");
        return false;
    }
    int64_t x = json_integer_value(v);
    if (x < min) {
        kms_verr(r,
                 "Value '%lld' at '%s' failed to satisfy constraint: Member must have value "
                 "greater than or equal to %lld",
                 (long long)x, path, (long long)min);
        return false;
    }
    if (x > max) {
        kms_verr(r,
                 "Value '%lld' at '%s' failed to satisfy constraint: Member must have value less "
                 "than or equal to %lld",
                 (long long)x, path, (long long)max);
        return false;
    }
    *out = x;
    return true;
}

bool kms_arg_bool(struct kms_req *r, const char *name, bool *out)
{
    const json_t *v = member(r, name);
    *out = false;
    if (!v)
        return false;
    if (!json_is_boolean(v)) {
        type_err(r, v, "a Boolean");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool kms_arg_blob(struct kms_req *r, const char *name, const char *path, bool required, size_t min,
                  size_t max, uint8_t *buf, size_t *len)
{
    const json_t *v = member(r, name);
    *len = 0;
    if (!v) {
        if (required)
            kms_verr(r, "Value null at '%s' failed to satisfy constraint: Member must not be null",
                     path);
        return false;
    }
    if (!json_is_string(v)) {
        type_err(r, v, "a Blob");
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    size_t dec;
    /* Too long to fit: only check it is base64 (no output), so a huge
     * value costs one scan and no buffer. */
    bool fits = n / 4 * 3 <= max; /* the most n characters can decode to */
    if (!kms_b64_decode(s, n, fits ? buf : NULL, &dec)) {
        kms_fail(r, "SerializationException", "Value of member '%s' is not valid base64", name);
        return false;
    }
    if (dec < min) {
        kms_verr(r,
                 "Value at '%s' failed to satisfy constraint: Member must have length greater "
                 "than or equal to %zu",
                 path, min);
        if (fits)
            OPENSSL_cleanse(buf, dec);
        return false;
    }
    if (dec > max) {
        kms_verr(r,
                 "Value at '%s' failed to satisfy constraint: Member must have length less than "
                 "or equal to %zu",
                 path, max);
        if (fits)
            OPENSSL_cleanse(buf, dec);
        return false;
    }
    *len = dec;
    return true;
}

const json_t *kms_arg_ctx(struct kms_req *r, const char *name, bool *present)
{
    const json_t *v = member(r, name);
    if (present)
        *present = v != NULL;
    if (!v)
        return NULL;
    if (!json_is_object(v)) {
        type_err(r, v, "a Map");
        return NULL;
    }
    size_t bytes = 0;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)(uintptr_t)v, k, x)
    {
        if (!json_is_string(x)) {
            type_err(r, x, "a String");
            return NULL;
        }
        bytes += strlen(k) + json_string_length(x);
    }
    if (bytes > KMS_MAX_CONTEXT_BYTES) {
        char path[64];
        snprintf(path, sizeof(path), "%s", name);
        path[0] = (char)(path[0] | 0x20);
        kms_verr(r,
                 "Value at '%s' failed to satisfy constraint: Member must have a total size "
                 "less than or equal to %d bytes",
                 path, KMS_MAX_CONTEXT_BYTES);
        return NULL;
    }
    return v;
}

const json_t *kms_arg_str_list(struct kms_req *r, const char *name, const char *path, bool required,
                               size_t min_items, size_t max_items, size_t min_chars,
                               size_t max_chars)
{
    const json_t *v = member(r, name);
    if (!v) {
        if (required)
            kms_verr(r, "Value null at '%s' failed to satisfy constraint: Member must not be null",
                     path);
        return NULL;
    }
    if (!json_is_array(v)) {
        type_err(r, v, "a List");
        return NULL;
    }
    size_t cnt = json_array_size(v);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            type_err(r, e, "a String");
            return NULL;
        }
    }
    if (cnt < min_items) {
        kms_verr(r,
                 "Value '[]' at '%s' failed to satisfy constraint: Member must have length "
                 "greater than or equal to %zu",
                 path, min_items);
        return NULL;
    }
    if (cnt > max_items) {
        kms_verr(r,
                 "Value at '%s' failed to satisfy constraint: Member must have length less than "
                 "or equal to %zu",
                 path, max_items);
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_array_get(v, i);
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        size_t chars = utf8_chars(s, n);
        if (chars < min_chars || chars > max_chars) {
            kms_verr(r,
                     "Value '%.*s' at '%s.%zu.member' failed to satisfy constraint: Member must "
                     "have length %s than or equal to %zu",
                     ECHO(s, n), path, i + 1, chars < min_chars ? "greater" : "less",
                     chars < min_chars ? min_chars : max_chars);
            ok = false;
        }
    }
    return ok ? v : NULL;
}

void kms_arg_grant_tokens(struct kms_req *r)
{
    (void)kms_arg_str_list(r, "GrantTokens", "grantTokens", false, 0, KMS_MAX_GRANT_TOKENS, 1,
                           8192);
}

bool kms_dry_run(struct kms_req *r, bool dry)
{
    if (!dry)
        return false;
    kms_fail(r, "DryRunOperationException",
             "The request would have succeeded, but the DryRun option is set.");
    return true;
}

/* ---------------------------------------------------------------------------
 * Key resolution (spec §2.3)
 */

struct kms_key *kms_key_by_id(struct kms_service *svc, const char *id, size_t len)
{
    return kms_map_get(&svc->keys, id, len);
}

static bool is_hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool key_id_shape(const char *s, size_t n)
{
    if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-')
        return is_hex_run(s, 8) && is_hex_run(s + 9, 4) && is_hex_run(s + 14, 4) &&
               is_hex_run(s + 19, 4) && is_hex_run(s + 24, 12);
    return n == 36 && memcmp(s, "mrk-", 4) == 0 && is_hex_run(s + 4, 32);
}

void kms_add_resource(struct kms_req *r, const char *arn)
{
    if (!r->out->resources)
        r->out->resources = json_array();
    json_array_append_new(r->out->resources,
                          json_pack("{s:s,s:s,s:s}", "accountId", r->svc->account, "type",
                                    "AWS::KMS::Key", "ARN", arn));
}

/* The AWS-managed key behind alias/aws/<service>, created on first use
 * (spec §2.3 step 2). Needs the exclusive lock. */
static struct kms_key *managed_key(struct kms_req *r, const char *alias, size_t len)
{
    if (!r->write_locked) {
        r->retry_write = true;
        return NULL;
    }
    struct kms_key *k;
    if (kms_key_new(r->svc, kms_spec_find("SYMMETRIC_DEFAULT"), KMS_USAGE_ENCRYPT_DECRYPT,
                    KMS_ORIGIN_AWS_KMS, false, r->now_ms, &k) != KS_OK) {
        kms_fail_internal(r, "key generation");
        return NULL;
    }
    k->aws_managed = true;
    free(k->description);
    char desc[400];
    snprintf(desc, sizeof(desc),
             "Default key that protects my %.*s data when no other key is defined", (int)(len - 10),
             alias + 10);
    k->description = ks_xstrdup(desc);
    struct kms_alias *a = ks_xcalloc(1, sizeof(*a));
    a->name = ks_xmemdup(alias, len);
    snprintf(a->key_id, sizeof(a->key_id), "%s", k->id);
    a->created_ms = a->updated_ms = r->now_ms;
    if (kms_store_save_key(r->svc, k) != KS_OK || kms_store_save_alias(r->svc, a) != KS_OK) {
        kms_key_free(k);
        kms_alias_free(a);
        kms_store_reload(r->svc);
        kms_fail_internal(r, "cannot store the key");
        return NULL;
    }
    kms_map_put(&r->svc->keys, k->id, strlen(k->id), k);
    kms_map_put(&r->svc->aliases, a->name, strlen(a->name), a);
    k->naliases = 1;
    return k;
}

static bool valid_alias_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '/' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Resolves; quiet = set no error (Decrypt decides what a miss means). */
static struct kms_key *resolve(struct kms_req *r, const char *s, size_t n, enum kms_idform form,
                               bool quiet)
{
    struct kms_service *svc = r->svc;
    if (form == KMS_ID_KEY && svc->lenient_aliases)
        form = KMS_ID_ANY;
    char alias[300];
    const char *id = s;
    size_t idn = n;
    if (n >= 4 && memcmp(s, "arn:", 4) == 0) {
        /* arn:partition:kms:region:account:resource (resource may hold ':') */
        const char *f[6];
        size_t fl[6];
        size_t start = 0, nf = 0;
        for (size_t i = 0; i <= n && nf < 6; i++) {
            if (nf < 5 ? (i == n || s[i] == ':') : i == n) {
                f[nf] = s + start;
                fl[nf] = i - start;
                nf++;
                start = i + 1;
            }
        }
        bool shape = nf == 6 && fl[1] == 3 && memcmp(f[1], "aws", 3) == 0 && fl[2] == 3 &&
                     memcmp(f[2], "kms", 3) == 0;
        if (!shape) {
            if (!quiet)
                kms_fail(r, "NotFoundException", "Invalid arn %.*s", ECHO(s, n));
            return NULL;
        }
        if (fl[3] != strlen(svc->region) || memcmp(f[3], svc->region, fl[3]) != 0) {
            if (!quiet)
                kms_fail(r, "NotFoundException", "Invalid arn %.*s", (int)fl[3], f[3]);
            return NULL;
        }
        if (fl[4] != strlen(svc->account) || memcmp(f[4], svc->account, fl[4]) != 0) {
            if (!quiet)
                kms_fail(r, "NotFoundException", "Key '%.*s' does not exist", ECHO(s, n));
            return NULL;
        }
        if (fl[5] > 4 && memcmp(f[5], "key/", 4) == 0) {
            id = f[5] + 4;
            idn = fl[5] - 4;
        } else if (fl[5] > 6 && memcmp(f[5], "alias/", 6) == 0) {
            if (form == KMS_ID_KEY) {
                if (!quiet)
                    kms_fail(r, "InvalidArnException",
                             "Key Aliases are not supported for this operation.");
                return NULL;
            }
            if (fl[5] >= sizeof(alias)) {
                if (!quiet)
                    kms_fail(r, "NotFoundException", "Invalid arn %.*s", ECHO(s, n));
                return NULL;
            }
            memcpy(alias, f[5], fl[5]);
            s = alias;
            n = fl[5];
            goto alias_lookup;
        } else {
            if (!quiet)
                kms_fail(r, "NotFoundException", "Invalid arn %.*s", ECHO(s, n));
            return NULL;
        }
    } else if (n >= 6 && memcmp(s, "alias/", 6) == 0) {
        if (form == KMS_ID_KEY) {
            if (!quiet)
                kms_fail(r, "NotFoundException", "Invalid keyId '%.*s'", ECHO(s, n));
            return NULL;
        }
        goto alias_lookup;
    }
    if (!key_id_shape(id, idn)) {
        if (!quiet)
            kms_fail(r, "NotFoundException", "Invalid keyId '%.*s'", ECHO(id, idn));
        return NULL;
    }
    struct kms_key *k = kms_key_by_id(svc, id, idn);
    if (!k && !quiet)
        kms_fail(r, "NotFoundException", "Key '%skey/%.*s' does not exist", svc->arn_prefix,
                 (int)idn, id);
    return k;

alias_lookup : {
    struct kms_alias *a = kms_map_get(&svc->aliases, s, n);
    if (a)
        return kms_key_by_id(svc, a->key_id, strlen(a->key_id));
    if (n > 10 && memcmp(s, "alias/aws/", 10) == 0 && n < 256 && valid_alias_chars(s, n))
        return managed_key(r, s, n);
    if (!quiet)
        kms_fail(r, "NotFoundException", "Alias %salias/%.*s is not found.", svc->arn_prefix,
                 ECHO(s + 6, n - 6));
    return NULL;
}
}

struct kms_key *kms_resolve(struct kms_req *r, const char *s, size_t len, enum kms_idform form)
{
    struct kms_key *k = resolve(r, s, len, form, false);
    if (k)
        kms_add_resource(r, k->arn);
    return k;
}

struct kms_key *kms_resolve_quiet(struct kms_req *r, const char *s, size_t len)
{
    return resolve(r, s, len, KMS_ID_ANY, true);
}

/* ---------------------------------------------------------------------------
 * Key states, usage, authorization
 */

const char *kms_usage_name(enum kms_usage u)
{
    switch (u) {
    case KMS_USAGE_ENCRYPT_DECRYPT:
        return "ENCRYPT_DECRYPT";
    case KMS_USAGE_SIGN_VERIFY:
        return "SIGN_VERIFY";
    case KMS_USAGE_GENERATE_VERIFY_MAC:
        return "GENERATE_VERIFY_MAC";
    }
    return "ENCRYPT_DECRYPT";
}

const char *kms_state_name(enum kms_state s)
{
    switch (s) {
    case KMS_STATE_ENABLED:
        return "Enabled";
    case KMS_STATE_DISABLED:
        return "Disabled";
    case KMS_STATE_PENDING_DELETION:
        return "PendingDeletion";
    case KMS_STATE_PENDING_IMPORT:
        return "PendingImport";
    }
    return "Enabled";
}

bool kms_check_state(struct kms_req *r, const struct kms_key *k, enum kms_state_rule rule)
{
    const char *a = k->arn;
    switch (k->state) {
    case KMS_STATE_ENABLED:
        if (rule == KMS_ST_CANCEL)
            break;
        return true;
    case KMS_STATE_DISABLED:
        if (rule == KMS_ST_CRYPTO || rule == KMS_ST_ROTATION) {
            kms_fail(r, "DisabledException", "%s is disabled.", a);
            return false;
        }
        if (rule == KMS_ST_CANCEL)
            break;
        return true;
    case KMS_STATE_PENDING_DELETION:
        if (rule == KMS_ST_ANY || rule == KMS_ST_CANCEL)
            return true;
        kms_fail(r, "KMSInvalidStateException", "%s is pending deletion.", a);
        return false;
    case KMS_STATE_PENDING_IMPORT:
        if (rule == KMS_ST_CRYPTO || rule == KMS_ST_ENDIS || rule == KMS_ST_ROTATION) {
            kms_fail(r, "KMSInvalidStateException", "%s is pending import.", a);
            return false;
        }
        if (rule == KMS_ST_CANCEL)
            break;
        return true;
    }
    kms_fail(r, "KMSInvalidStateException", "%s is not pending deletion.", a);
    return false;
}

bool kms_check_usage(struct kms_req *r, const struct kms_key *k, enum kms_usage want,
                     const char *opname)
{
    if (k->usage == want)
        return true;
    kms_fail(r, "InvalidKeyUsageException", "%s key usage is %s which is not valid for %s.", k->arn,
             kms_usage_name(k->usage), opname);
    return false;
}

bool kms_authorize(struct kms_req *r, const struct kms_key *k, const char *action,
                   enum kms_grant_op gop, const json_t *ctx)
{
    if (r->svc->authz_off || !r->caller)
        return true;
    char act[96];
    snprintf(act, sizeof(act), "kms:%s", action);
    enum kms_authz a = kms_policy_eval(k->pol, r->caller, act, k->arn, ctx);
    if (a == KMS_AUTHZ_DENY) {
        kms_fail_denied(r, k, action, true);
        return false;
    }
    if (a == KMS_AUTHZ_ALLOW || kms_grants_allow(r->svc, k, r->caller, gop, ctx))
        return true;
    kms_fail_denied(r, k, action, false);
    return false;
}

/* ---------------------------------------------------------------------------
 * Response writer
 */

static void w_add(struct kms_req *r, const void *p, size_t n)
{
    if (!r->werr)
        r->werr = ks_buf_add(&r->out->body, p, n);
}

static void w_sep(struct kms_req *r, const char *key)
{
    if (r->depth > 0) {
        if (!r->first[r->depth])
            w_add(r, ",", 1);
        r->first[r->depth] = false;
    }
    if (key) {
        w_add(r, "\"", 1);
        w_add(r, key, strlen(key));
        w_add(r, "\":", 2);
    }
}

void kms_w_open(struct kms_req *r, const char *key)
{
    w_sep(r, key);
    w_add(r, "{", 1);
    if (r->depth + 1 < KS_ARRAY_LEN(r->first))
        r->first[++r->depth] = true;
}

void kms_w_close(struct kms_req *r)
{
    w_add(r, "}", 1);
    if (r->depth)
        r->depth--;
}

void kms_w_arr(struct kms_req *r, const char *key)
{
    w_sep(r, key);
    w_add(r, "[", 1);
    if (r->depth + 1 < KS_ARRAY_LEN(r->first))
        r->first[++r->depth] = true;
}

void kms_w_arr_close(struct kms_req *r)
{
    w_add(r, "]", 1);
    if (r->depth)
        r->depth--;
}

void kms_w_strn(struct kms_req *r, const char *key, const char *s, size_t n)
{
    w_sep(r, key);
    w_add(r, "\"", 1);
    if (!r->werr)
        r->werr = ks_buf_add_json_str(&r->out->body, s, n);
    w_add(r, "\"", 1);
}

void kms_w_str(struct kms_req *r, const char *key, const char *s)
{
    kms_w_strn(r, key, s, strlen(s));
}

void kms_w_int(struct kms_req *r, const char *key, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%lld", (long long)v);
    w_sep(r, key);
    w_add(r, t, (size_t)n);
}

void kms_w_bool(struct kms_req *r, const char *key, bool v)
{
    w_sep(r, key);
    w_add(r, v ? "true" : "false", v ? 4 : 5);
}

void kms_w_time(struct kms_req *r, const char *key, int64_t ms)
{
    /* epoch seconds as a JSON number with a fraction (spec §1.3) */
    char t[48];
    int64_t s = ms / 1000, f = ms % 1000;
    if (f < 0) {
        s--;
        f += 1000;
    }
    int n = snprintf(t, sizeof(t), "%lld.%03d", (long long)s, (int)f);
    w_sep(r, key);
    w_add(r, t, (size_t)n);
}

void kms_w_b64(struct kms_req *r, const char *key, const uint8_t *p, size_t n)
{
    w_sep(r, key);
    w_add(r, "\"", 1);
    size_t el = kms_b64_len(n);
    if (!r->werr)
        r->werr = ks_buf_grow(&r->out->body, el);
    if (!r->werr) {
        kms_b64_encode(p, n, r->out->body.data + r->out->body.len);
        r->out->body.len += el;
    }
    w_add(r, "\"", 1);
}

void kms_w_hex(struct kms_req *r, const char *key, const uint8_t *p, size_t n)
{
    char t[2 * 64 + 1];
    if (n > 64)
        n = 64;
    kms_hex(p, n, t);
    kms_w_strn(r, key, t, 2 * n);
}

void kms_w_raw(struct kms_req *r, const char *key, const char *json)
{
    w_sep(r, key);
    w_add(r, json, strlen(json));
}

/* ---------------------------------------------------------------------------
 * CloudTrail parts
 */

void kms_ct_date(int64_t ms, char *out, size_t size)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int h12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
    snprintf(out, size, "%s %d, %d, %d:%02d:%02d %s", mon[tm.tm_mon % 12], tm.tm_mday,
             tm.tm_year + 1900, h12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
}

json_t *kms_ct_date_json(int64_t ms)
{
    char t[64];
    kms_ct_date(ms, t, sizeof(t));
    return json_string(t);
}

void kms_rp_default(struct kms_req *r, const char *key, json_t *value)
{
    if (!r->out->request_parameters)
        r->out->request_parameters = json_object();
    if (!json_object_get(r->out->request_parameters, key))
        json_object_set_new(r->out->request_parameters, key, value);
    else
        json_decref(value);
}

/* Map-typed members are user data: copied verbatim, keys untouched. */
static bool is_map_member(const char *name)
{
    size_t n = strlen(name);
    static const char suffix[] = "EncryptionContext";
    return (n >= sizeof(suffix) - 1 && strcmp(name + n - (sizeof(suffix) - 1), suffix) == 0) ||
           strcmp(name, "EncryptionContextSubset") == 0 ||
           strcmp(name, "EncryptionContextEquals") == 0;
}

static void lower_first(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    if (out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* Copies a request value into its CloudTrail form: structure keys in
 * lowerCamel, maps verbatim. *budget counts string bytes (cap §1.1). */
static json_t *ct_copy(const json_t *v, bool map, size_t *budget)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)(uintptr_t)v, k, x)
        {
            size_t kl = strlen(k);
            *budget = *budget > kl ? *budget - kl : 0;
            if (map) {
                json_object_set_new(o, k, ct_copy(x, true, budget));
            } else {
                char lk[256];
                lower_first(k, lk, sizeof(lk));
                json_object_set_new(o, lk, ct_copy(x, is_map_member(k), budget));
            }
        }
        return o;
    }
    case JSON_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, ct_copy(json_array_get(v, i), map, budget));
        return a;
    }
    case JSON_STRING: {
        size_t l = json_string_length(v);
        *budget = *budget > l ? *budget - l : 0;
        return json_copy((json_t *)(uintptr_t)v);
    }
    default:
        return json_copy((json_t *)(uintptr_t)v);
    }
}

static bool is_secret_member(const char *name)
{
    static const char *const secret[] = {
        "Plaintext",
        "CiphertextBlob",
        "Message",
        "Signature",
        "Mac",
        "GrantTokens",
        "ImportToken",
        "PublicKey",
        "EncryptedKeyMaterial",
        "Recipient",
        "GrantToken",
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(secret); i++)
        if (strcmp(name, secret[i]) == 0)
            return true;
    return false;
}

#define CT_MAX_REQUEST_PARAMETERS (100u << 10)

static json_t *request_parameters(const struct kms_op *op, const json_t *in)
{
    size_t budget = CT_MAX_REQUEST_PARAMETERS;
    json_t *rp = json_object();
    char lk[256];
    if (!op->members) {
        /* not implemented: record what was sent, minus secrets */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)(uintptr_t)in, k, v)
        {
            if (is_secret_member(k) || json_is_null(v))
                continue;
            lower_first(k, lk, sizeof(lk));
            json_object_set_new(rp, lk, ct_copy(v, is_map_member(k), &budget));
        }
    } else {
        const char *p = op->members;
        while (*p) {
            const char *e = strchr(p, ' ');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)n, p);
            p += n + (e ? 1 : 0);
            const json_t *v = json_object_get(in, name);
            lower_first(name, lk, sizeof(lk));
            if (v && !json_is_null(v)) {
                json_object_set_new(rp, lk, ct_copy(v, is_map_member(name), &budget));
            } else if ((strcmp(op->name, "Decrypt") == 0 &&
                        strcmp(name, "EncryptionAlgorithm") == 0) ||
                       (strcmp(op->name, "ReEncrypt") == 0 &&
                        (strcmp(name, "SourceEncryptionAlgorithm") == 0 ||
                         strcmp(name, "DestinationEncryptionAlgorithm") == 0))) {
                /* logged even when not sent (§2.2) */
                json_object_set_new(rp, lk, json_string("SYMMETRIC_DEFAULT"));
            }
        }
    }
    if (!json_object_size(rp) || budget == 0) {
        /* nothing loggable (null), or over CloudTrail's 100 KB cap */
        json_decref(rp);
        return NULL;
    }
    return rp;
}

/* ---------------------------------------------------------------------------
 * kms_call
 */

static void reset_for_retry(struct kms_req *r)
{
    struct kms_response *o = r->out;
    buf_clear(&o->body);
    buf_clear(&o->error_message);
    o->error_code = NULL;
    o->trail_error_code = NULL;
    json_decref(o->response_elements);
    o->response_elements = NULL;
    json_decref(o->resources);
    o->resources = NULL;
    json_decref(o->additional_event_data);
    o->additional_event_data = NULL;
    r->failed = false;
    r->retry_write = false;
    buf_clear(&r->verr);
    r->nverr = 0;
    r->depth = 0;
    r->werr = KS_OK;
}

static void run(struct kms_req *r)
{
    struct kms_service *svc = r->svc;
    bool write = r->op->kind == KMS_OPK_WRITE;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (write)
            pthread_rwlock_wrlock(&svc->lock);
        else
            pthread_rwlock_rdlock(&svc->lock);
        r->write_locked = write;
        r->op->fn(r);
        if (write)
            kms_recompute_due(svc);
        pthread_rwlock_unlock(&svc->lock);
        if (!r->retry_write || write)
            break;
        reset_for_retry(r);
        write = true;
    }
    if (r->retry_write && !r->failed) {
        r->retry_write = false;
        kms_fail_internal(r, "lock upgrade");
    }
}

static void finish(struct kms_req *r)
{
    struct kms_response *o = r->out;
    if (!r->failed && r->werr) {
        r->failed = false;
        kms_fail_internal(r, "response too large");
    }
    if (r->failed) {
        if (o->body.cap)
            OPENSSL_cleanse(o->body.data, o->body.cap);
        buf_clear(&o->body);
        json_decref(o->response_elements);
        o->response_elements = NULL;
        o->http_status = status_for(o->error_code);
        r->depth = 0;
        r->werr = KS_OK;
        kms_w_open(r, NULL);
        kms_w_str(r, "__type", o->error_code);
        if (o->error_message.len)
            kms_w_strn(r, "message", o->error_message.data, o->error_message.len);
        kms_w_close(r);
    } else {
        o->http_status = 200;
        o->error_code = NULL;
        buf_clear(&o->error_message);
    }
}

void kms_call(struct kms_service *svc, const char *op, const char *body, size_t len,
              const struct kms_caller *caller, int64_t now_ms, struct kms_response *out)
{
    kms_response_release(out); /* also makes the struct reusable */
    struct kms_events ev = {0};
    struct kms_req r = {.svc = svc, .caller = caller, .now_ms = now_ms, .out = out, .events = &ev};
    ks_buf_init(&r.verr, 64u << 10);
    r.op = op_find(op);
    out->event_name = r.op ? r.op->name : "";
    out->read_only = r.op ? r.op->read_only : false;
    if (!r.op) {
        kms_fail(&r, "UnknownOperationException", "%s", "");
        goto done;
    }
    json_error_t jerr;
    if (!body || len == 0)
        r.in = json_object();
    else
        r.in = json_loadb(body, len, 0, &jerr);
    if (!r.in) {
        kms_fail(&r, "SerializationException", "Could not parse the request body as JSON: %s",
                 jerr.text);
        goto done;
    }
    if (!json_is_object(r.in)) {
        kms_fail(&r, "SerializationException",
                 "The request body must be a JSON object (Start of structure expected)");
        goto done;
    }
    out->request_parameters = request_parameters(r.op, r.in);
    /* due deletions/rotations first, so no call sees an expired key */
    if (now_ms >= atomic_load(&svc->next_due_ms)) {
        pthread_rwlock_wrlock(&svc->lock);
        kms_housekeep(svc, now_ms, &ev);
        pthread_rwlock_unlock(&svc->lock);
    }
    run(&r);
    /* the parsed request holds the plaintext too: wipe it before it is freed
     * (the raw body belongs to the caller) */
    json_t *secret = json_object_get(r.in, "Plaintext");
    if (json_is_string(secret))
        OPENSSL_cleanse((void *)(uintptr_t)json_string_value(secret), json_string_length(secret));
done:
    finish(&r);
    json_decref(r.in);
    ks_buf_release(&r.verr);
    emit_events(svc, &ev);
}
