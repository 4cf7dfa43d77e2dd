/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms store: the root key file, keys.db, and the in-memory key state.
 *
 * data_dir/root.key holds 32 random bytes created at first start (mode
 * 0600); the service refuses to start when its mode grants anything to group
 * or others, or when keys.db exists without it (a fresh root key would make
 * every stored key unreadable). data_dir/keys.db is our own SQLite database
 * (not the project store: its tables are the KMS's alone) with its own
 * numbered migrations in kms_migrations. Secrets (AES material versions, HMAC
 * keys, PKCS#8 private keys) are stored wrapped under the root key with
 * AES-256-GCM; the AAD binds each to its key id and material id, so rows
 * cannot be swapped between keys.
 *
 * Every mutation is one transaction with synchronous=FULL: a call that
 * answered success is on disk, power loss included ("persist, then
 * acknowledge"). On a failed write memory is rebuilt from disk.
 */
#include "kms/kms_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

/* Append-only: never edit a shipped migration, add a new one. */
static const char *const migrations[] = {
    /* 1: keys, material versions, aliases, tags, grants */
    "CREATE TABLE kms_keys (id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, description TEXT "
    "NOT NULL, key_spec TEXT NOT NULL, key_usage INTEGER NOT NULL, origin INTEGER NOT NULL, "
    "aws_managed INTEGER NOT NULL, multi_region INTEGER NOT NULL, state INTEGER NOT NULL, "
    "deletion_ms INTEGER NOT NULL, pending_days INTEGER NOT NULL, rotation_enabled INTEGER NOT "
    "NULL, rotation_days INTEGER NOT NULL, next_rotation_ms INTEGER NOT NULL, on_demand_count "
    "INTEGER NOT NULL, policy TEXT NOT NULL, secret BLOB);"
    "CREATE TABLE kms_materials (key_id TEXT NOT NULL, seq INTEGER NOT NULL, material_id BLOB NOT "
    "NULL, created_ms INTEGER NOT NULL, rotation INTEGER NOT NULL, wrapped BLOB NOT NULL, "
    "PRIMARY KEY (key_id, seq));"
    "CREATE TABLE kms_aliases (name TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_ms INTEGER "
    "NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE kms_tags (key_id TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, "
    "PRIMARY KEY (key_id, tag_key));"
    "CREATE TABLE kms_grants (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, name TEXT, created_ms "
    "INTEGER NOT NULL, grantee TEXT NOT NULL, retiring TEXT, operations INTEGER NOT NULL, "
    "constraints TEXT);",
};

/* ---------------------------------------------------------------------------
 * Root key
 */

static enum ks_err root_key_create(const char *path, struct ks_diag *diag)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create root key '%s': %s", tmp,
                           strerror(errno));
    uint8_t key[KMS_ROOT_KEY];
    bool ok = kms_random(key, sizeof(key)) && fchmod(fd, 0600) == 0 &&
              write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) && fsync(fd) == 0;
    int err = errno;
    OPENSSL_cleanse(key, sizeof(key));
    close(fd);
    if (!ok) {
        unlink(tmp);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot write root key '%s': %s", tmp,
                           strerror(err));
    }
    /* link() fails when another process created the file first: then both
     * use that one. */
    if (link(tmp, path) != 0 && errno != EEXIST) {
        err = errno;
        unlink(tmp);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create root key '%s': %s", path,
                           strerror(err));
    }
    unlink(tmp);
    return KS_OK;
}

static enum ks_err root_key_load(struct kms_service *svc, bool db_exists, struct ks_diag *diag)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/root.key", svc->data_dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (db_exists)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "root key '%s' is missing but keys.db exists; restore the root "
                               "key file (a new one could not read the stored keys)",
                               path);
        enum ks_err e = root_key_create(path, diag);
        if (e)
            return e;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open root key '%s': %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot stat root key '%s': %s", path,
                           strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        close(fd);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "root key '%s' has mode %04o; it must not be readable by group or "
                           "others (chmod 600 '%s')",
                           path, (unsigned)(st.st_mode & 07777), path);
    }
    if (st.st_size != KMS_ROOT_KEY) {
        close(fd);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "root key '%s' must hold exactly %d bytes, not %lld", path, KMS_ROOT_KEY,
                           (long long)st.st_size);
    }
    ssize_t n = read(fd, svc->root_key, KMS_ROOT_KEY);
    close(fd);
    if (n != KMS_ROOT_KEY)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read root key '%s'", path);
    /* grant tokens are authenticated with a key derived from the root key */
    unsigned int len = 0;
    static const char label[] = "keysentry kms grant tokens v1";
    if (!HMAC(EVP_sha256(), svc->root_key, KMS_ROOT_KEY, (const unsigned char *)label,
              sizeof(label) - 1, svc->token_key, &len))
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot derive the grant token key");
    return KS_OK;
}

/* ---------------------------------------------------------------------------
 * Database
 */

static enum ks_err db_fail(struct kms_service *svc, struct ks_diag *diag, const char *what)
{
    return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "database '%s': %s: %s", svc->db_path, what,
                       sqlite3_errmsg(svc->db));
}

static enum ks_err db_exec(struct kms_service *svc, const char *sql, struct ks_diag *diag)
{
    char *err = NULL;
    if (sqlite3_exec(svc->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        ks_diag_set(diag, KS_E_IO, SIZE_MAX, "database '%s': %s", svc->db_path,
                    err ? err : "error");
        sqlite3_free(err);
        return KS_E_IO;
    }
    return KS_OK;
}

static enum ks_err db_migrate(struct kms_service *svc, struct ks_diag *diag)
{
    enum ks_err e = db_exec(svc,
                            "CREATE TABLE IF NOT EXISTS kms_migrations (version INTEGER PRIMARY "
                            "KEY, applied_at TEXT NOT NULL)",
                            diag);
    if (e)
        return e;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db, "SELECT coalesce(max(version), 0) FROM kms_migrations", -1, &q,
                           NULL) != SQLITE_OK)
        return db_fail(svc, diag, "reading schema version");
    int have = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    int want = (int)KS_ARRAY_LEN(migrations);
    if (have > want)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "database '%s' has schema version %d, newer than this keysentry (%d)",
                           svc->db_path, have, want);
    for (int v = have; v < want; v++) {
        if ((e = db_exec(svc, "BEGIN IMMEDIATE", diag)))
            return e;
        char rec[160];
        snprintf(rec, sizeof(rec),
                 "INSERT INTO kms_migrations VALUES (%d, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ'))",
                 v + 1);
        if ((e = db_exec(svc, migrations[v], diag)) || (e = db_exec(svc, rec, diag))) {
            db_exec(svc, "ROLLBACK", NULL);
            return e;
        }
        if ((e = db_exec(svc, "COMMIT", diag)))
            return e;
    }
    return KS_OK;
}

enum ks_err kms_store_open(struct kms_service *svc, struct ks_diag *diag)
{
    if (mkdir(svc->data_dir, 0700) != 0 && errno != EEXIST)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create data directory '%s': %s",
                           svc->data_dir, strerror(errno));
    size_t n = strlen(svc->data_dir) + 16;
    svc->db_path = ks_xmalloc(n);
    snprintf(svc->db_path, n, "%s/keys.db", svc->data_dir);
    bool db_exists = access(svc->db_path, F_OK) == 0;
    enum ks_err e = root_key_load(svc, db_exists, diag);
    if (e)
        return e;
    if (!db_exists) {
        /* created 0600 before SQLite opens it; -wal/-shm inherit the mode */
        int fd = open(svc->db_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    if (sqlite3_open_v2(svc->db_path, &svc->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        return db_fail(svc, diag, "cannot open");
    sqlite3_busy_timeout(svc->db, 5000);
    e = db_exec(svc, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", diag);
    if (!e)
        e = db_migrate(svc, diag);
    if (!e)
        e = kms_store_load(svc, diag);
    return e;
}

void kms_store_close(struct kms_service *svc)
{
    if (svc->db)
        sqlite3_close(svc->db);
    svc->db = NULL;
    free(svc->db_path);
    svc->db_path = NULL;
    OPENSSL_cleanse(svc->root_key, sizeof(svc->root_key));
    OPENSSL_cleanse(svc->token_key, sizeof(svc->token_key));
}

/* ---------------------------------------------------------------------------
 * In-memory objects
 */

void kms_grant_free(struct kms_grant *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->grantee);
    free(g->retiring);
    free(g->constraints_json);
    free(g->subset);
    free(g->equals);
    free(g->pairs_mem);
    free(g);
}

void kms_alias_free(struct kms_alias *a)
{
    if (!a)
        return;
    free(a->name);
    free(a);
}

void kms_key_free(struct kms_key *k)
{
    if (!k)
        return;
    if (k->mats) {
        OPENSSL_cleanse(k->mats, k->nmats * sizeof(*k->mats));
        free(k->mats);
    }
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    free(k->pub_der);
    free(k->description);
    free(k->policy);
    kms_policy_free(k->pol);
    for (size_t i = 0; i < k->ntags; i++) {
        free(k->tags[i].key);
        free(k->tags[i].value);
    }
    free(k->tags);
    for (size_t i = 0; i < k->ngrants; i++)
        kms_grant_free(k->grants[i]);
    free(k->grants);
    free(k);
}

void kms_state_clear(struct kms_service *svc)
{
    for (size_t i = 0; i < svc->keys.cap; i++)
        if (svc->keys.slots[i].key)
            kms_key_free(svc->keys.slots[i].val);
    for (size_t i = 0; i < svc->aliases.cap; i++)
        if (svc->aliases.slots[i].key)
            kms_alias_free(svc->aliases.slots[i].val);
    kms_map_release(&svc->keys);
    kms_map_release(&svc->aliases);
    kms_map_release(&svc->grants); /* grants belong to their keys */
}

const char *kms_default_policy(const struct kms_service *svc, char *buf, size_t size)
{
    /* exactly as KMS pretty-prints it (spec §3.4) */
    snprintf(buf, size,
             "{\n"
             "  \"Version\" : \"2012-10-17\",\n"
             "  \"Id\" : \"key-default-1\",\n"
             "  \"Statement\" : [ {\n"
             "    \"Sid\" : \"Enable IAM User Permissions\",\n"
             "    \"Effect\" : \"Allow\",\n"
             "    \"Principal\" : {\n"
             "      \"AWS\" : \"arn:aws:iam::%s:root\"\n"
             "    },\n"
             "    \"Action\" : \"kms:*\",\n"
             "    \"Resource\" : \"*\"\n"
             "  } ]\n"
             "}",
             svc->account);
    return buf;
}

int64_t kms_scaled_ms(const struct kms_service *svc, int64_t days)
{
    double scale = svc->time_scale > 0 ? svc->time_scale : 1.0;
    return (int64_t)((double)days * 86400000.0 / scale);
}

static void material_new(struct kms_key *k, int64_t now_ms, enum kms_rotation_type type)
{
    k->mats = ks_xrealloc(k->mats, (k->nmats + 1) * sizeof(*k->mats));
    struct kms_material *m = &k->mats[k->nmats];
    memset(m, 0, sizeof(*m));
    if (!kms_random(m->id, sizeof(m->id)) || !kms_random(m->key, sizeof(m->key)))
        abort(); /* no randomness: nothing safe to do */
    m->created_ms = now_ms;
    m->rotation = type;
    k->nmats++;
}

enum ks_err kms_key_new(struct kms_service *svc, const struct kms_spec *spec, enum kms_usage usage,
                        enum kms_origin origin, bool multi_region, int64_t now_ms,
                        struct kms_key **out)
{
    struct kms_key *k = ks_xcalloc(1, sizeof(*k));
    if (multi_region) {
        uint8_t b[16];
        char hex[33];
        if (!kms_random(b, sizeof(b)))
            abort();
        kms_hex(b, sizeof(b), hex);
        snprintf(k->id, sizeof(k->id), "mrk-%s", hex);
    } else {
        kms_uuid4(k->id);
    }
    snprintf(k->arn, sizeof(k->arn), "%skey/%s", svc->arn_prefix, k->id);
    k->created_ms = now_ms;
    k->description = ks_xstrdup("");
    k->spec = spec;
    k->usage = usage;
    k->origin = origin;
    k->multi_region = multi_region;
    k->state = origin == KMS_ORIGIN_EXTERNAL ? KMS_STATE_PENDING_IMPORT : KMS_STATE_ENABLED;
    char pol[512];
    k->policy = ks_xstrdup(kms_default_policy(svc, pol, sizeof(pol)));
    k->pol = kms_policy_compile(k->policy, strlen(k->policy), NULL, 0);
    if (origin == KMS_ORIGIN_EXTERNAL) {
        *out = k;
        return KS_OK;
    }
    switch (spec->cls) {
    case KMS_CLASS_SYM:
        material_new(k, now_ms, KMS_ROT_NONE);
        break;
    case KMS_CLASS_HMAC:
        k->secret = ks_xmalloc(spec->secret_len);
        k->secret_len = spec->secret_len;
        if (!kms_random(k->secret, k->secret_len))
            abort();
        break;
    case KMS_CLASS_RSA:
    case KMS_CLASS_EC:
        k->pkey = kms_pkey_generate(spec);
        if (!k->pkey || !kms_pkey_private_der(k->pkey, &k->secret, &k->secret_len) ||
            !kms_pkey_public_der(k->pkey, &k->pub_der, &k->pub_len)) {
            kms_key_free(k);
            return KS_E_IO;
        }
        break;
    }
    *out = k;
    return KS_OK;
}

void kms_key_rotate(struct kms_service *svc, struct kms_key *k, int64_t now_ms,
                    enum kms_rotation_type type)
{
    (void)svc;
    material_new(k, now_ms, type);
}

void kms_recompute_due(struct kms_service *svc)
{
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < svc->keys.cap; i++) {
        const struct kms_key *k = svc->keys.slots[i].val;
        if (!svc->keys.slots[i].key)
            continue;
        if (k->state == KMS_STATE_PENDING_DELETION && k->deletion_ms < due)
            due = k->deletion_ms;
        /* only rotations that can happen count, or every call would retry */
        if (k->rotation_enabled && k->state == KMS_STATE_ENABLED && k->next_rotation_ms < due)
            due = k->next_rotation_ms;
    }
    atomic_store(&svc->next_due_ms, due);
}

void kms_event_add(struct kms_events *ev, const char *name, const char *arn, int64_t when_ms)
{
    if (!ev)
        return;
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 4;
        ev->v = ks_xrealloc(ev->v, ev->cap * sizeof(*ev->v));
    }
    struct kms_svc_event *e = &ev->v[ev->n++];
    e->name = name;
    snprintf(e->arn, sizeof(e->arn), "%s", arn);
    e->when_ms = when_ms;
}

enum ks_err kms_key_destroy(struct kms_service *svc, struct kms_key *k)
{
    enum ks_err e = kms_store_delete_key(svc, k);
    if (e)
        return e;
    /* aliases pointing at the key go with it (spec §3.3) */
    for (size_t i = 0; i < svc->aliases.cap;) {
        struct kms_alias *a = svc->aliases.slots[i].val;
        if (svc->aliases.slots[i].key && strcmp(a->key_id, k->id) == 0) {
            kms_map_del(&svc->aliases, a->name, strlen(a->name));
            kms_alias_free(a);
            continue; /* the backward shift may have moved another entry here */
        }
        i++;
    }
    for (size_t i = 0; i < k->ngrants; i++)
        kms_map_del(&svc->grants, k->grants[i]->id, strlen(k->grants[i]->id));
    kms_map_del(&svc->keys, k->id, strlen(k->id));
    kms_key_free(k);
    return KS_OK;
}

void kms_housekeep(struct kms_service *svc, int64_t now_ms, struct kms_events *ev)
{
    if (now_ms < atomic_load(&svc->next_due_ms))
        return; /* another thread did it while we waited for the lock */
    size_t n = 0;
    struct kms_key **due = ks_xcalloc(svc->keys.len + 1, sizeof(*due));
    for (size_t i = 0; i < svc->keys.cap; i++) {
        struct kms_key *k = svc->keys.slots[i].val;
        if (!svc->keys.slots[i].key)
            continue;
        if ((k->state == KMS_STATE_PENDING_DELETION && k->deletion_ms <= now_ms) ||
            (k->rotation_enabled && k->state == KMS_STATE_ENABLED && k->next_rotation_ms <= now_ms))
            due[n++] = k;
    }
    bool failed = false;
    for (size_t i = 0; i < n && !failed; i++) {
        struct kms_key *k = due[i];
        char arn[KMS_ARN_MAX];
        snprintf(arn, sizeof(arn), "%s", k->arn);
        if (k->state == KMS_STATE_PENDING_DELETION) {
            failed = kms_key_destroy(svc, k) != KS_OK;
            if (!failed)
                kms_event_add(ev, "DeleteKey", arn, now_ms);
            continue;
        }
        kms_key_rotate(svc, k, now_ms, KMS_ROT_AUTOMATIC);
        int64_t period = kms_scaled_ms(svc, k->rotation_days);
        k->next_rotation_ms = now_ms + (period > 0 ? period : 1);
        failed = kms_store_save_key(svc, k) != KS_OK;
        if (!failed)
            kms_event_add(ev, "RotateKey", arn, now_ms);
    }
    free(due);
    if (failed)
        kms_store_reload(svc);
    kms_recompute_due(svc);
}

/* ---------------------------------------------------------------------------
 * Loading
 */

static size_t secret_aad(const char *key_id, const uint8_t *mat_id, uint8_t *aad)
{
    /* "kms-secret" | 0 | key id | 0 | material id (materials only) */
    size_t n = 0;
    static const char tag[] = "kms-secret";
    memcpy(aad, tag, sizeof(tag)); /* includes the NUL */
    n += sizeof(tag);
    size_t l = strlen(key_id);
    memcpy(aad + n, key_id, l + 1);
    n += l + 1;
    if (mat_id) {
        memcpy(aad + n, mat_id, KMS_MAT_ID);
        n += KMS_MAT_ID;
    }
    return n;
}

static const char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kms_tag *)a)->key, ((const struct kms_tag *)b)->key);
}

static enum ks_err load_keys(struct kms_service *svc, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db,
                           "SELECT id, created_ms, description, key_spec, key_usage, origin, "
                           "aws_managed, multi_region, state, deletion_ms, pending_days, "
                           "rotation_enabled, rotation_days, next_rotation_ms, on_demand_count, "
                           "policy, secret FROM kms_keys",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(svc, diag, "loading keys");
    enum ks_err e = KS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = col_text(q, 0);
        const struct kms_spec *spec = kms_spec_find(col_text(q, 3));
        if (strlen(id) >= KMS_ID_MAX || !spec) {
            e = ks_diag_set(diag, KS_E_FORMAT, SIZE_MAX, "database '%s': key '%s' is damaged",
                            svc->db_path, id);
            break;
        }
        struct kms_key *k = ks_xcalloc(1, sizeof(*k));
        snprintf(k->id, sizeof(k->id), "%s", id);
        snprintf(k->arn, sizeof(k->arn), "%skey/%s", svc->arn_prefix, k->id);
        k->created_ms = sqlite3_column_int64(q, 1);
        k->description = ks_xstrdup(col_text(q, 2));
        k->spec = spec;
        k->usage = (enum kms_usage)sqlite3_column_int(q, 4);
        k->origin = (enum kms_origin)sqlite3_column_int(q, 5);
        k->aws_managed = sqlite3_column_int(q, 6) != 0;
        k->multi_region = sqlite3_column_int(q, 7) != 0;
        k->state = (enum kms_state)sqlite3_column_int(q, 8);
        k->deletion_ms = sqlite3_column_int64(q, 9);
        k->pending_days = sqlite3_column_int(q, 10);
        k->rotation_enabled = sqlite3_column_int(q, 11) != 0;
        k->rotation_days = sqlite3_column_int(q, 12);
        k->next_rotation_ms = sqlite3_column_int64(q, 13);
        k->on_demand_count = sqlite3_column_int(q, 14);
        k->policy = ks_xstrdup(col_text(q, 15));
        k->pol = kms_policy_compile(k->policy, strlen(k->policy), NULL, 0);
        k->stored = true;
        const void *w = sqlite3_column_blob(q, 16);
        int wl = sqlite3_column_bytes(q, 16);
        kms_map_put(&svc->keys, k->id, strlen(k->id), k);
        if (w && wl > 0) {
            uint8_t aad[128];
            size_t al = secret_aad(k->id, NULL, aad);
            if (!kms_unwrap(svc, aad, al, w, (size_t)wl, &k->secret, &k->secret_len) ||
                ((spec->cls == KMS_CLASS_RSA || spec->cls == KMS_CLASS_EC) &&
                 !kms_key_load_asym(k))) {
                e = ks_diag_set(diag, KS_E_FORMAT, SIZE_MAX,
                                "database '%s': cannot unwrap key '%s' (wrong root key?)",
                                svc->db_path, id);
                break;
            }
        }
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(svc, diag, "loading keys");
    sqlite3_finalize(q);
    return e;
}

static enum ks_err load_materials(struct kms_service *svc, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db,
                           "SELECT key_id, material_id, created_ms, rotation, wrapped FROM "
                           "kms_materials ORDER BY key_id, seq",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(svc, diag, "loading key material");
    enum ks_err e = KS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kid = col_text(q, 0);
        struct kms_key *k = kms_map_get(&svc->keys, kid, strlen(kid));
        if (!k)
            continue; /* orphan row: its key is gone */
        const void *mid = sqlite3_column_blob(q, 1);
        const void *w = sqlite3_column_blob(q, 4);
        int wl = sqlite3_column_bytes(q, 4);
        if (!mid || sqlite3_column_bytes(q, 1) != KMS_MAT_ID || !w) {
            e = ks_diag_set(diag, KS_E_FORMAT, SIZE_MAX,
                            "database '%s': key material of '%s' is damaged", svc->db_path, kid);
            break;
        }
        uint8_t aad[128];
        size_t al = secret_aad(k->id, mid, aad);
        uint8_t *plain = NULL;
        size_t pl = 0;
        if (!kms_unwrap(svc, aad, al, w, (size_t)wl, &plain, &pl) || pl != KMS_AES_KEY) {
            if (plain) {
                OPENSSL_cleanse(plain, pl);
                free(plain);
            }
            e = ks_diag_set(diag, KS_E_FORMAT, SIZE_MAX,
                            "database '%s': cannot unwrap key material of '%s' (wrong root "
                            "key?)",
                            svc->db_path, kid);
            break;
        }
        k->mats = ks_xrealloc(k->mats, (k->nmats + 1) * sizeof(*k->mats));
        struct kms_material *m = &k->mats[k->nmats++];
        memcpy(m->id, mid, KMS_MAT_ID);
        memcpy(m->key, plain, KMS_AES_KEY);
        OPENSSL_cleanse(plain, pl);
        free(plain);
        m->created_ms = sqlite3_column_int64(q, 2);
        m->rotation = (enum kms_rotation_type)sqlite3_column_int(q, 3);
        m->stored = true;
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(svc, diag, "loading key material");
    sqlite3_finalize(q);
    return e;
}

static enum ks_err load_rest(struct kms_service *svc, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    int rc;
    /* tags */
    if (sqlite3_prepare_v2(svc->db, "SELECT key_id, tag_key, tag_value FROM kms_tags", -1, &q,
                           NULL) != SQLITE_OK)
        return db_fail(svc, diag, "loading tags");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kid = col_text(q, 0);
        struct kms_key *k = kms_map_get(&svc->keys, kid, strlen(kid));
        if (!k)
            continue;
        k->tags = ks_xrealloc(k->tags, (k->ntags + 1) * sizeof(*k->tags));
        k->tags[k->ntags].key = ks_xstrdup(col_text(q, 1));
        k->tags[k->ntags].value = ks_xstrdup(col_text(q, 2));
        k->ntags++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_fail(svc, diag, "loading tags");
    for (size_t i = 0; i < svc->keys.cap; i++) {
        struct kms_key *k = svc->keys.slots[i].val;
        if (svc->keys.slots[i].key && k->ntags > 1)
            qsort(k->tags, k->ntags, sizeof(*k->tags), tag_cmp);
    }
    /* aliases */
    if (sqlite3_prepare_v2(svc->db, "SELECT name, key_id, created_ms, updated_ms FROM kms_aliases",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(svc, diag, "loading aliases");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kid = col_text(q, 1);
        struct kms_key *k = kms_map_get(&svc->keys, kid, strlen(kid));
        if (!k)
            continue;
        struct kms_alias *a = ks_xcalloc(1, sizeof(*a));
        a->name = ks_xstrdup(col_text(q, 0));
        snprintf(a->key_id, sizeof(a->key_id), "%s", k->id);
        a->created_ms = sqlite3_column_int64(q, 2);
        a->updated_ms = sqlite3_column_int64(q, 3);
        k->naliases++;
        kms_map_put(&svc->aliases, a->name, strlen(a->name), a);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_fail(svc, diag, "loading aliases");
    /* grants, in creation order */
    if (sqlite3_prepare_v2(svc->db,
                           "SELECT id, key_id, name, created_ms, grantee, retiring, operations, "
                           "constraints FROM kms_grants ORDER BY created_ms, id",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(svc, diag, "loading grants");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kid = col_text(q, 1);
        struct kms_key *k = kms_map_get(&svc->keys, kid, strlen(kid));
        if (!k || strlen(col_text(q, 0)) != 64)
            continue;
        struct kms_grant *g = ks_xcalloc(1, sizeof(*g));
        snprintf(g->id, sizeof(g->id), "%s", col_text(q, 0));
        snprintf(g->key_id, sizeof(g->key_id), "%s", k->id);
        if (sqlite3_column_type(q, 2) != SQLITE_NULL)
            g->name = ks_xstrdup(col_text(q, 2));
        g->created_ms = sqlite3_column_int64(q, 3);
        g->grantee = ks_xstrdup(col_text(q, 4));
        if (sqlite3_column_type(q, 5) != SQLITE_NULL)
            g->retiring = ks_xstrdup(col_text(q, 5));
        g->ops = (uint32_t)sqlite3_column_int64(q, 6);
        if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
            json_t *c = json_loads(col_text(q, 7), 0, NULL);
            if (c)
                kms_grant_set_constraints(g, c);
            json_decref(c);
        }
        k->grants = ks_xrealloc(k->grants, (k->ngrants + 1) * sizeof(*k->grants));
        k->grants[k->ngrants++] = g;
        kms_map_put(&svc->grants, g->id, strlen(g->id), g);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_fail(svc, diag, "loading grants");
    return KS_OK;
}

enum ks_err kms_store_load(struct kms_service *svc, struct ks_diag *diag)
{
    enum ks_err e = load_keys(svc, diag);
    if (!e)
        e = load_materials(svc, diag);
    if (!e)
        e = load_rest(svc, diag);
    if (!e)
        kms_recompute_due(svc);
    return e;
}

void kms_store_reload(struct kms_service *svc)
{
    kms_state_clear(svc);
    struct ks_diag d;
    ks_diag_clear(&d);
    /* A load failure here leaves what loaded; the next open reports it. */
    if (kms_store_load(svc, &d) != KS_OK)
        kms_recompute_due(svc);
}

/* ---------------------------------------------------------------------------
 * Writes
 */

static bool step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE;
}

static bool txn(struct kms_service *svc, const char *sql)
{
    return sqlite3_exec(svc->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static bool save_key_row(struct kms_service *svc, const struct kms_key *k)
{
    sqlite3_stmt *q;
    uint8_t *w = NULL;
    size_t wl = 0;
    if (!k->stored) {
        if (sqlite3_prepare_v2(svc->db,
                               "INSERT INTO kms_keys (id, created_ms, description, key_spec, "
                               "key_usage, origin, aws_managed, multi_region, state, deletion_ms, "
                               "pending_days, rotation_enabled, rotation_days, next_rotation_ms, "
                               "on_demand_count, policy, secret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                               "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                               -1, &q, NULL) != SQLITE_OK)
            return false;
        if (k->secret) {
            uint8_t aad[128];
            size_t al = secret_aad(k->id, NULL, aad);
            if (!kms_wrap(svc, aad, al, k->secret, k->secret_len, &w, &wl)) {
                sqlite3_finalize(q);
                return false;
            }
            sqlite3_bind_blob(q, 17, w, (int)wl, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_null(q, 17);
        }
        sqlite3_bind_int64(q, 2, k->created_ms);
        sqlite3_bind_text(q, 4, k->spec->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, (int)k->usage);
        sqlite3_bind_int(q, 6, (int)k->origin);
        sqlite3_bind_int(q, 7, k->aws_managed);
        sqlite3_bind_int(q, 8, k->multi_region);
    } else if (sqlite3_prepare_v2(svc->db,
                                  "UPDATE kms_keys SET description = ?3, state = ?9, deletion_ms "
                                  "= ?10, pending_days = ?11, rotation_enabled = ?12, "
                                  "rotation_days = ?13, next_rotation_ms = ?14, on_demand_count = "
                                  "?15, policy = ?16 WHERE id = ?1",
                                  -1, &q, NULL) != SQLITE_OK) {
        return false;
    }
    sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, k->description, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 9, (int)k->state);
    sqlite3_bind_int64(q, 10, k->deletion_ms);
    sqlite3_bind_int(q, 11, k->pending_days);
    sqlite3_bind_int(q, 12, k->rotation_enabled);
    sqlite3_bind_int(q, 13, k->rotation_days);
    sqlite3_bind_int64(q, 14, k->next_rotation_ms);
    sqlite3_bind_int(q, 15, k->on_demand_count);
    sqlite3_bind_text(q, 16, k->policy, -1, SQLITE_STATIC);
    bool ok = step_done(q);
    free(w);
    return ok;
}

static bool save_materials(struct kms_service *svc, const struct kms_key *k)
{
    for (size_t i = 0; i < k->nmats; i++) {
        const struct kms_material *m = &k->mats[i];
        if (m->stored)
            continue;
        uint8_t aad[128];
        size_t al = secret_aad(k->id, m->id, aad);
        uint8_t *w;
        size_t wl;
        if (!kms_wrap(svc, aad, al, m->key, KMS_AES_KEY, &w, &wl))
            return false;
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(svc->db,
                               "INSERT INTO kms_materials (key_id, seq, material_id, created_ms, "
                               "rotation, wrapped) VALUES (?, ?, ?, ?, ?, ?)",
                               -1, &q, NULL) != SQLITE_OK) {
            free(w);
            return false;
        }
        sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (int64_t)i);
        sqlite3_bind_blob(q, 3, m->id, KMS_MAT_ID, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, m->created_ms);
        sqlite3_bind_int(q, 5, (int)m->rotation);
        sqlite3_bind_blob(q, 6, w, (int)wl, SQLITE_STATIC);
        bool ok = step_done(q);
        free(w);
        if (!ok)
            return false;
    }
    return true;
}

static bool save_tags(struct kms_service *svc, const struct kms_key *k)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db, "DELETE FROM kms_tags WHERE key_id = ?", -1, &q, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
    if (!step_done(q))
        return false;
    for (size_t i = 0; i < k->ntags; i++) {
        if (sqlite3_prepare_v2(svc->db,
                               "INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)",
                               -1, &q, NULL) != SQLITE_OK)
            return false;
        sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, k->tags[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, k->tags[i].value, -1, SQLITE_STATIC);
        if (!step_done(q))
            return false;
    }
    return true;
}

enum ks_err kms_store_save_key(struct kms_service *svc, struct kms_key *k)
{
    if (!txn(svc, "BEGIN IMMEDIATE"))
        return KS_E_IO;
    if (!save_key_row(svc, k) || !save_materials(svc, k) || !save_tags(svc, k) ||
        !txn(svc, "COMMIT")) {
        txn(svc, "ROLLBACK");
        return KS_E_IO;
    }
    k->stored = true;
    for (size_t i = 0; i < k->nmats; i++)
        k->mats[i].stored = true;
    return KS_OK;
}

static bool delete_where(struct kms_service *svc, const char *sql, const char *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db, sql, -1, &q, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
    return step_done(q);
}

enum ks_err kms_store_delete_key(struct kms_service *svc, const struct kms_key *k)
{
    if (!txn(svc, "BEGIN IMMEDIATE"))
        return KS_E_IO;
    bool ok = delete_where(svc, "DELETE FROM kms_keys WHERE id = ?", k->id) &&
              delete_where(svc, "DELETE FROM kms_materials WHERE key_id = ?", k->id) &&
              delete_where(svc, "DELETE FROM kms_tags WHERE key_id = ?", k->id) &&
              delete_where(svc, "DELETE FROM kms_aliases WHERE key_id = ?", k->id) &&
              delete_where(svc, "DELETE FROM kms_grants WHERE key_id = ?", k->id) &&
              txn(svc, "COMMIT");
    if (!ok) {
        txn(svc, "ROLLBACK");
        return KS_E_IO;
    }
    return KS_OK;
}

enum ks_err kms_store_save_alias(struct kms_service *svc, const struct kms_alias *a)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db,
                           "INSERT OR REPLACE INTO kms_aliases (name, key_id, created_ms, "
                           "updated_ms) VALUES (?, ?, ?, ?)",
                           -1, &q, NULL) != SQLITE_OK)
        return KS_E_IO;
    sqlite3_bind_text(q, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, a->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a->created_ms);
    sqlite3_bind_int64(q, 4, a->updated_ms);
    return step_done(q) ? KS_OK : KS_E_IO;
}

enum ks_err kms_store_delete_alias(struct kms_service *svc, const char *name)
{
    return delete_where(svc, "DELETE FROM kms_aliases WHERE name = ?", name) ? KS_OK : KS_E_IO;
}

enum ks_err kms_store_save_grant(struct kms_service *svc, const struct kms_grant *g)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(svc->db,
                           "INSERT OR REPLACE INTO kms_grants (id, key_id, name, created_ms, "
                           "grantee, retiring, operations, constraints) VALUES (?, ?, ?, ?, ?, ?, "
                           "?, ?)",
                           -1, &q, NULL) != SQLITE_OK)
        return KS_E_IO;
    sqlite3_bind_text(q, 1, g->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, g->key_id, -1, SQLITE_STATIC);
    if (g->name)
        sqlite3_bind_text(q, 3, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, g->created_ms);
    sqlite3_bind_text(q, 5, g->grantee, -1, SQLITE_STATIC);
    if (g->retiring)
        sqlite3_bind_text(q, 6, g->retiring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, (int64_t)g->ops);
    if (g->constraints_json)
        sqlite3_bind_text(q, 8, g->constraints_json, -1, SQLITE_STATIC);
    return step_done(q) ? KS_OK : KS_E_IO;
}

enum ks_err kms_store_delete_grant(struct kms_service *svc, const char *id)
{
    return delete_where(svc, "DELETE FROM kms_grants WHERE id = ?", id) ? KS_OK : KS_E_IO;
}
