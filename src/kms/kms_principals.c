/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The principals file: which access keys the KMS service accepts and whose
 * identity each carries into CloudTrail (spec/sigv4.md §6, issue #5 item 2).
 *
 * The identity of every key is rendered once, at load, into the exact
 * userIdentity JSON a record needs (accessKeyId included), so the request
 * path pastes a string instead of building an object per call. The set is
 * sorted by access key id and never changes after load: lookups are a
 * lock-free binary search.
 */
#include "kms/kms_server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static void wipe_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void principal_release(struct kms_principal *p)
{
    free(p->access_key_id);
    wipe_free(p->secret_access_key);
    wipe_free(p->session_token);
    free(p->type);
    free(p->arn);
    free(p->account);
    free(p->role_arn);
    free(p->identity_json);
}

void kms_principals_free(struct kms_principals *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        principal_release(&p->v[i]);
    free(p->v);
    free(p);
}

static int cmp_principal(const void *a, const void *b)
{
    const struct kms_principal *x = a, *y = b;
    return strcmp(x->access_key_id, y->access_key_id);
}

const struct kms_principal *kms_principals_find(const struct kms_principals *p,
                                                const char *access_key_id)
{
    if (!p || !access_key_id)
        return NULL;
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(access_key_id, p->v[mid].access_key_id);
        if (c == 0)
            return &p->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* A stable, AWS-looking unique id ("AIDA" / "AROA" + 17 base32 characters)
 * derived from the ARN, for identities whose file gives none: the same
 * principal keeps the same principalId across restarts. */
static void derive_unique_id(const char *prefix, const char *arn, char out[22])
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(arn, strlen(arn), md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, prefix, 4);
    for (size_t i = 0; i < 17; i++)
        out[4 + i] = b32[md[i] & 31];
    out[21] = '\0';
}

static const char *last_component(const char *s, char sep)
{
    const char *p = strrchr(s, sep);
    return p ? p + 1 : s;
}

static const char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum ks_err bad(struct ks_diag *d, size_t idx, const char *what)
{
    return ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "principal %zu: %s", idx + 1, what);
}

/* "2030-01-01T00:00:00Z" -> epoch seconds. */
static bool parse_iso(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* Renders the userIdentity of one principal (spec cloudtrail §1.3). */
static enum ks_err build_identity(struct kms_principal *p, json_t *id, int64_t session_start,
                                  size_t idx, struct ks_diag *d)
{
    const char *type = get_str(id, "type");
    const char *arn = get_str(id, "arn");
    if (!type || !*type)
        return bad(d, idx, "identity.type is missing");
    if (!arn || strncmp(arn, "arn:", 4) != 0)
        return bad(d, idx, "identity.arn is missing or not an ARN");
    const char *account = get_str(id, "accountId");
    char acct_from_arn[32] = "";
    if (!account) {
        /* arn:partition:service::account:resource */
        const char *p4 = arn;
        for (int i = 0; i < 4 && p4; i++) {
            p4 = strchr(p4, ':');
            if (p4)
                p4++;
        }
        const char *e = p4 ? strchr(p4, ':') : NULL;
        if (!e || (size_t)(e - p4) >= sizeof(acct_from_arn) || e == p4)
            return bad(d, idx, "identity.accountId is missing");
        memcpy(acct_from_arn, p4, (size_t)(e - p4));
        acct_from_arn[e - p4] = '\0';
        account = acct_from_arn;
    }
    p->type = ks_xstrdup(type);
    p->arn = ks_xstrdup(arn);
    p->account = ks_xstrdup(account);

    json_t *out = json_object();
    json_t *ctx = json_object_get(id, "sessionContext");
    bool verbatim = json_is_object(ctx) || (strcmp(type, "IAMUser") &&
                                            strcmp(type, "AssumedRole") && strcmp(type, "Root"));
    char uid[22];
    if (verbatim) {
        /* Copied as given (spec sigv4 §6), accessKeyId after accountId. */
        const char *key;
        json_t *val;
        json_object_foreach(id, key, val)
        {
            if (!strcmp(key, "accessKeyId") || !strcmp(key, "roleArn") ||
                !strcmp(key, "sessionName") || !strcmp(key, "creationDate"))
                continue;
            json_object_set(out, key, val);
            if (!strcmp(key, "accountId"))
                json_object_set_new(out, "accessKeyId", json_string(p->access_key_id));
        }
        if (!json_object_get(out, "accessKeyId"))
            json_object_set_new(out, "accessKeyId", json_string(p->access_key_id));
        json_t *issuer = json_is_object(ctx) ? json_object_get(ctx, "sessionIssuer") : NULL;
        const char *rarn = issuer ? get_str(issuer, "arn") : NULL;
        if (!rarn)
            rarn = get_str(id, "roleArn");
        if (rarn)
            p->role_arn = ks_xstrdup(rarn);
    } else if (!strcmp(type, "IAMUser")) {
        const char *pid = get_str(id, "principalId");
        if (!pid) {
            derive_unique_id("AIDA", arn, uid);
            pid = uid;
        }
        const char *user = get_str(id, "userName");
        if (!user)
            user = last_component(arn, '/');
        json_object_set_new(out, "type", json_string(type));
        json_object_set_new(out, "principalId", json_string(pid));
        json_object_set_new(out, "arn", json_string(arn));
        json_object_set_new(out, "accountId", json_string(account));
        json_object_set_new(out, "accessKeyId", json_string(p->access_key_id));
        json_object_set_new(out, "userName", json_string(user));
    } else if (!strcmp(type, "Root")) {
        json_object_set_new(out, "type", json_string(type));
        json_object_set_new(
            out, "principalId",
            json_string(get_str(id, "principalId") ? get_str(id, "principalId") : account));
        json_object_set_new(out, "arn", json_string(arn));
        json_object_set_new(out, "accountId", json_string(account));
        json_object_set_new(out, "accessKeyId", json_string(p->access_key_id));
    } else {
        /* AssumedRole, short form: arn = arn:aws:sts::A:assumed-role/ROLE/SESSION */
        const char *role_arn = get_str(id, "roleArn");
        const char *session = get_str(id, "sessionName");
        const char *ar = strstr(arn, ":assumed-role/");
        char derived_role[512];
        char role_name[256] = "";
        if (ar) {
            const char *rn = ar + strlen(":assumed-role/");
            const char *slash = strchr(rn, '/');
            if (slash && (size_t)(slash - rn) < sizeof(role_name)) {
                memcpy(role_name, rn, (size_t)(slash - rn));
                role_name[slash - rn] = '\0';
                if (!session)
                    session = slash + 1;
            }
        }
        if (!role_arn) {
            if (!role_name[0]) {
                json_decref(out);
                return bad(d, idx, "AssumedRole identity needs roleArn or an assumed-role ARN");
            }
            snprintf(derived_role, sizeof(derived_role), "arn:aws:iam::%s:role/%s", account,
                     role_name);
            role_arn = derived_role;
        }
        if (!session || !*session) {
            json_decref(out);
            return bad(d, idx, "AssumedRole identity needs sessionName");
        }
        const char *issuer_name = last_component(role_arn, '/');
        const char *role_id = get_str(id, "roleId");
        if (!role_id) {
            derive_unique_id("AROA", role_arn, uid);
            role_id = uid;
        }
        char pid[600];
        const char *given_pid = get_str(id, "principalId");
        if (given_pid)
            snprintf(pid, sizeof(pid), "%s", given_pid);
        else
            snprintf(pid, sizeof(pid), "%s:%s", role_id, session);
        char created[21];
        const char *creation = get_str(id, "creationDate");
        if (!creation) {
            kms_trail_iso8601(session_start, created);
            creation = created;
        }
        p->role_arn = ks_xstrdup(role_arn);
        json_object_set_new(out, "type", json_string(type));
        json_object_set_new(out, "principalId", json_string(pid));
        json_object_set_new(out, "arn", json_string(arn));
        json_object_set_new(out, "accountId", json_string(account));
        json_object_set_new(out, "accessKeyId", json_string(p->access_key_id));
        json_t *issuer = json_object();
        json_object_set_new(issuer, "type", json_string("Role"));
        json_object_set_new(issuer, "principalId", json_string(role_id));
        json_object_set_new(issuer, "arn", json_string(role_arn));
        json_object_set_new(issuer, "accountId", json_string(account));
        json_object_set_new(issuer, "userName", json_string(issuer_name));
        json_t *attrs = json_object();
        json_object_set_new(attrs, "creationDate", json_string(creation));
        json_object_set_new(attrs, "mfaAuthenticated", json_string("false"));
        json_t *sc = json_object();
        json_object_set_new(sc, "sessionIssuer", issuer);
        json_object_set_new(sc, "webIdFederationData", json_object());
        json_object_set_new(sc, "attributes", attrs);
        json_object_set_new(out, "sessionContext", sc);
    }
    p->identity_json = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!p->identity_json)
        return bad(d, idx, "identity cannot be rendered");
    p->identity_len = strlen(p->identity_json);
    return KS_OK;
}

static bool printable_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

enum ks_err kms_principals_parse(const char *text, size_t len, int64_t session_start,
                                 struct kms_principals **out, struct ks_diag *diag)
{
    *out = NULL;
    if (len > KMS_MAX_PRINCIPALS_BYTES)
        return ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "principals file is larger than %u bytes",
                           KMS_MAX_PRINCIPALS_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ks_diag_set(diag, KS_E_SYNTAX, (size_t)jerr.position, "%s", jerr.text);
    enum ks_err e = KS_OK;
    struct kms_principals *set = ks_xcalloc(1, sizeof(*set));
    json_t *arr = json_object_get(root, "principals");
    if (!arr)
        arr = json_object_get(root, "credentials");
    if (!json_is_array(arr)) {
        e = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                        "expected {\"principals\":[...]} at the top level");
        goto out;
    }
    if (json_array_size(arr) > KMS_MAX_PRINCIPALS) {
        e = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "more than %d principals", KMS_MAX_PRINCIPALS);
        goto out;
    }
    set->v = ks_xcalloc(json_array_size(arr) + 1, sizeof(*set->v));
    size_t i;
    json_t *ent;
    json_array_foreach(arr, i, ent)
    {
        struct kms_principal *p = &set->v[set->n];
        if (!json_is_object(ent)) {
            e = bad(diag, i, "not an object");
            goto out;
        }
        const char *akid = get_str(ent, "accessKeyId");
        const char *secret = get_str(ent, "secretAccessKey");
        const char *token = get_str(ent, "sessionToken");
        const char *exp = get_str(ent, "expiration");
        json_t *id = json_object_get(ent, "identity");
        if (!akid || !printable_token(akid, SIGV4_MAX_SCOPE_PART) || strchr(akid, '/')) {
            e = bad(diag, i, "accessKeyId is missing or not a printable token");
            goto out;
        }
        if (!secret || !*secret || strlen(secret) > 1024) {
            e = bad(diag, i, "secretAccessKey is missing");
            goto out;
        }
        if (json_object_get(ent, "sessionToken") && (!token || !*token)) {
            e = bad(diag, i, "sessionToken must be a non-empty string");
            goto out;
        }
        if (!json_is_object(id)) {
            e = bad(diag, i, "identity object is missing");
            goto out;
        }
        set->n++;
        p->access_key_id = ks_xstrdup(akid);
        p->secret_access_key = ks_xstrdup(secret);
        p->session_token = token ? ks_xstrdup(token) : NULL;
        if (exp && !parse_iso(exp, &p->expiration)) {
            e = bad(diag, i, "expiration is not YYYY-MM-DDTHH:MM:SSZ");
            goto out;
        }
        if ((e = build_identity(p, id, session_start, i, diag)))
            goto out;
    }
    qsort(set->v, set->n, sizeof(*set->v), cmp_principal);
    for (i = 1; i < set->n; i++) {
        if (!strcmp(set->v[i - 1].access_key_id, set->v[i].access_key_id)) {
            e = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                            "access key id '%s' appears more than once", set->v[i].access_key_id);
            goto out;
        }
    }
out:
    json_decref(root);
    if (e) {
        kms_principals_free(set);
        return e;
    }
    *out = set;
    return KS_OK;
}

enum ks_err kms_principals_load(const char *path, int64_t session_start,
                                struct kms_principals **out, struct ks_diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open principals file '%s': %s", path,
                           strerror(errno));
    struct ks_buf b;
    ks_buf_init(&b, KMS_MAX_PRINCIPALS_BYTES);
    char tmp[8192];
    size_t n;
    enum ks_err e = KS_OK;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if ((e = ks_buf_add(&b, tmp, n)))
            break;
    bool rerr = ferror(f);
    fclose(f);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    if (e == KS_OK && rerr)
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read principals file '%s'", path);
    else if (e)
        e = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "principals file '%s' is larger than %u bytes",
                        path, KMS_MAX_PRINCIPALS_BYTES);
    if (e == KS_OK)
        e = kms_principals_parse(b.data, b.len, session_start, out, diag);
    /* The file holds secrets: wipe the copy. */
    OPENSSL_cleanse(b.data, b.len);
    ks_buf_release(&b);
    return e;
}

/* n characters drawn uniformly from alphabet (size must divide 256 or we
 * reject bytes above the largest multiple, so there is no modulo bias). */
static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    size_t limit = 256 - 256 % k;
    size_t i = 0;
    unsigned char buf[64];
    while (i < n) {
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            /* No safe fallback for key material: stop, as ks_xmalloc does. */
            fputs("keysentry: BUG: RAND_bytes failed\n", stderr);
            abort();
        }
        for (size_t j = 0; j < sizeof(buf) && i < n; j++)
            if (buf[j] < limit)
                out[i++] = alphabet[buf[j] % k];
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    out[n] = '\0';
}

enum ks_err kms_principals_create(const char *path, const char *account, char akid_out[21],
                                  struct ks_diag *diag)
{
    char akid[21];
    char secret[41];
    memcpy(akid, "AKIA", 4);
    random_chars(akid + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    struct ks_buf b;
    ks_buf_init(&b, 4096);
    enum ks_err e = ks_buf_addf(&b,
                                "{\n  \"principals\": [\n    {\n"
                                "      \"accessKeyId\": \"%s\",\n"
                                "      \"secretAccessKey\": \"%s\",\n"
                                "      \"identity\": {\n"
                                "        \"type\": \"IAMUser\",\n"
                                "        \"arn\": \"arn:aws:iam::%s:user/admin\",\n"
                                "        \"accountId\": \"%s\",\n"
                                "        \"userName\": \"admin\"\n"
                                "      }\n    }\n  ]\n}\n",
                                akid, secret, account, account);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (e) {
        OPENSSL_cleanse(b.data, b.len);
        ks_buf_release(&b);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "account id is too long");
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        OPENSSL_cleanse(b.data, b.len);
        ks_buf_release(&b);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create '%s': %s", path,
                           strerror(errno));
    }
    size_t off = 0;
    bool ok = true;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        off += (size_t)w;
    }
    if (ok && fsync(fd) != 0)
        ok = false;
    int saved = errno;
    close(fd);
    OPENSSL_cleanse(b.data, b.len);
    ks_buf_release(&b);
    if (!ok) {
        unlink(path);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot write '%s': %s", path, strerror(saved));
    }
    memcpy(akid_out, akid, sizeof(akid));
    return KS_OK;
}
