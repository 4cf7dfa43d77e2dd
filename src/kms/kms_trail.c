/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trail writer: CloudTrail log files and digest files in S3 layout
 * (spec/cloudtrail-kms-events.md §4 and §6).
 *
 * DESIGN. Request threads hand finished records to kms_trail_submit, which
 * appends a pointer to a vector under a mutex and returns: no I/O, no
 * compression, no signing on the request path. One writer thread swaps the
 * whole vector out at a time, appends the records to the current file's
 * uncompressed buffer and "rolls" the file when it holds max_records records
 * or its first record is flush_ms old, on kms_trail_flush and at close.
 *
 * Rolling = hash the uncompressed bytes (SHA-256, for the digest), gzip,
 * write to a dot-prefixed temporary name in the final directory, fsync,
 * rename, fsync the directory. A reader never sees a partial file and a
 * crash after the rename loses nothing; SIGTERM goes through kms_trail_close,
 * which delivers the queue first. A failed delivery keeps the buffer and is
 * retried a second later.
 *
 * Digests: every digest_s seconds (aligned to multiples of the period, so
 * hourly digests close on the hour) and at close, the files delivered since
 * the previous digest are listed with their hashes, the document is chained
 * to the previous digest (hash of its uncompressed bytes + its signature)
 * and signed with RSA PKCS#1 v1.5 / SHA-256. The signature goes into a
 * sidecar <digest>.meta.json, written before the digest itself, standing in
 * for the S3 object metadata. The chain survives restarts through a small
 * state file.
 */
#include "kms/kms_server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <zlib.h>

#define TRAIL_MAX_FILE_BYTES (64u << 20) /* roll early past this many uncompressed bytes */

struct trail_item {
    char *json;
    size_t len;
    int64_t ms;
};

struct trail_delivered {
    char *key; /* object key, relative to dir */
    char hash[65];
    int64_t oldest_ms, newest_ms;
};

struct kms_trail {
    /* configuration (owned copies) */
    char *dir;
    char *bucket;
    char *account;
    char *region;
    char *trail_name;
    char *state_path;
    unsigned flush_ms;
    size_t max_records;
    unsigned digest_s;
    int level;
    void (*on_record)(void *ud, const char *record, size_t len, int64_t event_ms);
    void *on_record_ud;

    /* the queue, shared with submitters */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* writer waits here */
    pthread_cond_t done; /* flushers wait here */
    struct trail_item *q;
    size_t qn, qcap;
    bool closing;
    uint64_t flush_req, flush_done;
    pthread_t thread;
    bool started;

    /* writer thread state */
    struct ks_buf file; /* uncompressed {"Records":[...]} being built */
    size_t file_records;
    bool file_sealed;      /* "]}" appended by a roll whose delivery failed */
    int64_t file_first_ms; /* wall time the file got its first record */
    int64_t file_oldest_ms, file_newest_ms;
    int64_t retry_at_ms; /* after a failed delivery */
    char made_dir[4096]; /* last directory known to exist */

    /* digests */
    EVP_PKEY *key;
    char fingerprint[33];
    struct trail_delivered *pend;
    size_t npend, cappend;
    int64_t window_start_s;
    int64_t digest_due_s;
    bool have_prev;
    char *prev_object;
    char prev_hash[65];
    char *prev_sig;
    int64_t prev_end_s;

    enum ks_err last_err;
    _Atomic uint64_t submitted, written, files, digests, write_errors, oversized;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tm_of(int64_t s, struct tm *tm)
{
    time_t t = (time_t)s;
    if (!gmtime_r(&t, tm))
        memset(tm, 0, sizeof(*tm));
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* mkdir -p for an absolute or relative path; caches the last success. */
static int make_dirs(struct kms_trail *t, const char *path)
{
    if (!strcmp(t->made_dir, path))
        return 0;
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        tmp[i] = c;
    }
    if (n < sizeof(t->made_dir))
        memcpy(t->made_dir, path, n + 1);
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes dir/name atomically and durably (temp name, fsync, rename, fsync
 * of the directory). */
static int deliver(const char *dir, const char *name, const void *p, size_t n)
{
    char tmp[4096], fin[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp) ||
        (size_t)snprintf(fin, sizeof(fin), "%s/%s", dir, name) >= sizeof(fin))
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, p, n) != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, fin) != 0) {
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int gzip_buf(const void *in, size_t n, int level, unsigned char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)n) + 64;
    unsigned char *o = ks_xmalloc(bound);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return -1;
    }
    *out = o;
    *outlen = z.total_out;
    return 0;
}

static void random_alnum(char *out, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[64];
    size_t i = 0;
    while (i < n) {
        if (RAND_bytes(r, sizeof(r)) != 1) {
            fputs("keysentry: BUG: RAND_bytes failed\n", stderr);
            abort();
        }
        for (size_t j = 0; j < sizeof(r) && i < n; j++)
            if (r[j] < 248) /* 248 = 4 * 62: no modulo bias */
                out[i++] = a[r[j] % 62];
    }
    out[n] = '\0';
}

/* ---------------------------------------------------------------------------
 * Log files
 */

static enum ks_err roll(struct kms_trail *t)
{
    if (t->file_records == 0)
        return KS_OK;
    if (!t->file_sealed) {
        if (ks_buf_add(&t->file, "]}", 2))
            return KS_E_TOOBIG;
        t->file_sealed = true;
    }
    int64_t now = now_ms();
    struct tm tm;
    tm_of(now / 1000, &tm);
    char dir[4096], name[512], rnd[17];
    random_alnum(rnd, 16);
    snprintf(dir, sizeof(dir), "%s/AWSLogs/%s/CloudTrail/%s/%04d/%02d/%02d", t->dir, t->account,
             t->region, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(name, sizeof(name), "%s_CloudTrail_%s_%04d%02d%02dT%02d%02dZ_%s.json.gz", t->account,
             t->region, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, rnd);
    char hash[65];
    sha256_hex(t->file.data, t->file.len, hash);
    unsigned char *gz = NULL;
    size_t gzlen = 0;
    if (make_dirs(t, dir) != 0 || gzip_buf(t->file.data, t->file.len, t->level, &gz, &gzlen) != 0 ||
        deliver(dir, name, gz, gzlen) != 0) {
        free(gz);
        t->made_dir[0] = '\0';
        atomic_fetch_add(&t->write_errors, 1);
        t->retry_at_ms = now + 1000;
        fprintf(stderr,
                "level=error comp=kms.trail msg=\"cannot deliver log file\" dir=\"%s\" "
                "err=\"%s\"\n",
                dir, strerror(errno));
        return KS_E_IO;
    }
    free(gz);
    if (t->key) {
        if (t->npend == t->cappend) {
            t->cappend = t->cappend ? t->cappend * 2 : 64;
            t->pend = ks_xrealloc(t->pend, t->cappend * sizeof(*t->pend));
        }
        struct trail_delivered *d = &t->pend[t->npend++];
        size_t klen = strlen(dir) - strlen(t->dir) - 1 + 1 + strlen(name) + 1;
        d->key = ks_xmalloc(klen);
        snprintf(d->key, klen, "%s/%s", dir + strlen(t->dir) + 1, name);
        memcpy(d->hash, hash, sizeof(hash));
        d->oldest_ms = t->file_oldest_ms;
        d->newest_ms = t->file_newest_ms;
    }
    atomic_fetch_add(&t->written, t->file_records);
    atomic_fetch_add(&t->files, 1);
    ks_buf_reset(&t->file);
    t->file_records = 0;
    t->file_sealed = false;
    t->retry_at_ms = 0;
    return KS_OK;
}

static void append(struct kms_trail *t, struct trail_item *it)
{
    if (it->len > KMS_MAX_RECORD_BYTES) {
        /* CloudTrail does not deliver events over 256 KB (spec §1.1). */
        atomic_fetch_add(&t->oversized, 1);
        free(it->json);
        return;
    }
    if (t->file_records && (t->file.len + it->len + 3 > TRAIL_MAX_FILE_BYTES))
        (void)roll(t);
    if (t->file_sealed) {
        /* reopen a file whose delivery failed: drop the "]}" */
        t->file.len -= 2;
        t->file.data[t->file.len] = '\0';
        t->file_sealed = false;
    }
    enum ks_err e = t->file_records == 0 ? ks_buf_add(&t->file, "{\"Records\":[", 12)
                                         : ks_buf_add(&t->file, ",", 1);
    if (!e)
        e = ks_buf_add(&t->file, it->json, it->len);
    free(it->json);
    if (e) {
        atomic_fetch_add(&t->oversized, 1);
        return;
    }
    if (t->file_records == 0) {
        t->file_first_ms = now_ms();
        t->file_oldest_ms = t->file_newest_ms = it->ms;
    }
    if (it->ms < t->file_oldest_ms)
        t->file_oldest_ms = it->ms;
    if (it->ms > t->file_newest_ms)
        t->file_newest_ms = it->ms;
    t->file_records++;
    if (t->file_records >= t->max_records)
        (void)roll(t);
}

/* ---------------------------------------------------------------------------
 * Digests
 */

static int hex_of(const unsigned char *p, size_t n, char **out)
{
    static const char hex[] = "0123456789abcdef";
    char *s = ks_xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = hex[p[i] >> 4];
        s[2 * i + 1] = hex[p[i] & 15];
    }
    s[2 * n] = '\0';
    *out = s;
    return 0;
}

static int sign_str(EVP_PKEY *key, const char *msg, char **sig_hex)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t siglen = 0;
    unsigned char *sig = NULL;
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSignUpdate(md, msg, strlen(msg)) == 1 &&
             EVP_DigestSignFinal(md, NULL, &siglen) == 1;
    if (ok) {
        sig = ks_xmalloc(siglen);
        ok = EVP_DigestSignFinal(md, sig, &siglen) == 1;
    }
    EVP_MD_CTX_free(md);
    if (ok)
        hex_of(sig, siglen, sig_hex);
    free(sig);
    return ok ? 0 : -1;
}

static enum ks_err add_jstr_or_null(struct ks_buf *b, const char *s)
{
    if (!s)
        return ks_buf_add(b, "null", 4);
    enum ks_err e = ks_buf_add(b, "\"", 1);
    if (!e)
        e = ks_buf_add_json_str(b, s, strlen(s));
    if (!e)
        e = ks_buf_add(b, "\"", 1);
    return e;
}

static enum ks_err add_time_or_null(struct ks_buf *b, bool have, int64_t ms)
{
    if (!have)
        return ks_buf_add(b, "null", 4);
    char iso[21];
    kms_trail_iso8601(ms / 1000, iso);
    return ks_buf_addf(b, "\"%s\"", iso);
}

static void save_state(struct kms_trail *t)
{
    if (!t->state_path)
        return;
    struct ks_buf b;
    ks_buf_init(&b, 1 << 20);
    char end[21];
    kms_trail_iso8601(t->prev_end_s, end);
    enum ks_err e = ks_buf_addf(&b, "{\"digestEndTime\":\"%s\",\"digestS3Bucket\":", end);
    if (!e)
        e = add_jstr_or_null(&b, t->bucket);
    if (!e)
        e = ks_buf_add(&b, ",\"digestS3Object\":", 18);
    if (!e)
        e = add_jstr_or_null(&b, t->prev_object);
    if (!e)
        e = ks_buf_addf(&b, ",\"hashValue\":\"%s\",\"signature\":\"%s\"}\n", t->prev_hash,
                        t->prev_sig);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", t->state_path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : t->state_path;
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (e || deliver(dir, name, b.data, b.len) != 0)
        fprintf(stderr,
                "level=warn comp=kms.trail msg=\"cannot save the digest chain state\" "
                "file=\"%s\"\n",
                t->state_path);
    ks_buf_release(&b);
}

static void load_state(struct kms_trail *t)
{
    if (!t->state_path)
        return;
    json_t *st = json_load_file(t->state_path, 0, NULL);
    if (!st)
        return;
    const char *end = json_string_value(json_object_get(st, "digestEndTime"));
    const char *bucket = json_string_value(json_object_get(st, "digestS3Bucket"));
    const char *obj = json_string_value(json_object_get(st, "digestS3Object"));
    const char *hash = json_string_value(json_object_get(st, "hashValue"));
    const char *sig = json_string_value(json_object_get(st, "signature"));
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    char path[4096];
    struct stat sb;
    /* Continue the chain only when the previous digest is still where the
     * state says; otherwise the next digest starts a new chain (§6.8). */
    if (end && bucket && obj && hash && sig && !strcmp(bucket, t->bucket) && strlen(hash) == 64 &&
        strptime(end, "%Y-%m-%dT%H:%M:%SZ", &tm) &&
        (size_t)snprintf(path, sizeof(path), "%s/%s", t->dir, obj) < sizeof(path) &&
        stat(path, &sb) == 0) {
        t->have_prev = true;
        t->prev_object = ks_xstrdup(obj);
        memcpy(t->prev_hash, hash, 65);
        t->prev_sig = ks_xstrdup(sig);
        t->prev_end_s = (int64_t)timegm(&tm);
        t->window_start_s = t->prev_end_s;
    }
    json_decref(st);
}

static enum ks_err write_digest(struct kms_trail *t, int64_t end_s)
{
    if (t->have_prev && end_s <= t->prev_end_s)
        end_s = t->prev_end_s + 1; /* digest names carry seconds: keep them unique */
    struct tm tm;
    tm_of(end_s, &tm);
    char dir[4096], name[512], key[4096];
    snprintf(dir, sizeof(dir), "%s/AWSLogs/%s/CloudTrail-Digest/%s/%04d/%02d/%02d", t->dir,
             t->account, t->region, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(name, sizeof(name), "%s_CloudTrail-Digest_%s_%s_%s_%04d%02d%02dT%02d%02d%02dZ.json.gz",
             t->account, t->region, t->trail_name, t->region, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(key, sizeof(key), "%s/%s", dir + strlen(t->dir) + 1, name);

    bool any = t->npend > 0;
    int64_t oldest = 0, newest = 0;
    for (size_t i = 0; i < t->npend; i++) {
        if (i == 0 || t->pend[i].oldest_ms < oldest)
            oldest = t->pend[i].oldest_ms;
        if (i == 0 || t->pend[i].newest_ms > newest)
            newest = t->pend[i].newest_ms;
    }
    char start_iso[21], end_iso[21];
    kms_trail_iso8601(t->window_start_s, start_iso);
    kms_trail_iso8601(end_s, end_iso);

    /* Fields in the order of spec §6.3; the hash covers exactly these bytes. */
    struct ks_buf b;
    ks_buf_init(&b, (size_t)1 << 30);
    enum ks_err e = ks_buf_add(&b, "{\"awsAccountId\":", 16);
    if (!e)
        e = add_jstr_or_null(&b, t->account);
    if (!e)
        e = ks_buf_addf(&b, ",\"digestStartTime\":\"%s\",\"digestEndTime\":\"%s\",", start_iso,
                        end_iso);
    if (!e)
        e = ks_buf_add(&b, "\"digestS3Bucket\":", 17);
    if (!e)
        e = add_jstr_or_null(&b, t->bucket);
    if (!e)
        e = ks_buf_add(&b, ",\"digestS3Object\":", 18);
    if (!e)
        e = add_jstr_or_null(&b, key);
    if (!e)
        e = ks_buf_addf(&b,
                        ",\"digestPublicKeyFingerprint\":\"%s\","
                        "\"digestSignatureAlgorithm\":\"SHA256withRSA\",\"newestEventTime\":",
                        t->fingerprint);
    if (!e)
        e = add_time_or_null(&b, any, newest);
    if (!e)
        e = ks_buf_add(&b, ",\"oldestEventTime\":", 19);
    if (!e)
        e = add_time_or_null(&b, any, oldest);
    if (!e)
        e = ks_buf_add(&b, ",\"previousDigestS3Bucket\":", 26);
    if (!e)
        e = add_jstr_or_null(&b, t->have_prev ? t->bucket : NULL);
    if (!e)
        e = ks_buf_add(&b, ",\"previousDigestS3Object\":", 26);
    if (!e)
        e = add_jstr_or_null(&b, t->have_prev ? t->prev_object : NULL);
    if (!e)
        e = ks_buf_add(&b, ",\"previousDigestHashValue\":", 27);
    if (!e)
        e = add_jstr_or_null(&b, t->have_prev ? t->prev_hash : NULL);
    if (!e)
        e = ks_buf_add(&b, ",\"previousDigestHashAlgorithm\":", 31);
    if (!e)
        e = add_jstr_or_null(&b, t->have_prev ? "SHA-256" : NULL);
    if (!e)
        e = ks_buf_add(&b, ",\"previousDigestSignature\":", 27);
    if (!e)
        e = add_jstr_or_null(&b, t->have_prev ? t->prev_sig : NULL);
    if (!e)
        e = ks_buf_add(&b, ",\"logFiles\":[", 13);
    for (size_t i = 0; !e && i < t->npend; i++) {
        struct trail_delivered *d = &t->pend[i];
        e = ks_buf_add(&b, i ? ",{\"s3Bucket\":" : "{\"s3Bucket\":", i ? 13 : 12);
        if (!e)
            e = add_jstr_or_null(&b, t->bucket);
        if (!e)
            e = ks_buf_add(&b, ",\"s3Object\":", 12);
        if (!e)
            e = add_jstr_or_null(&b, d->key);
        if (!e)
            e = ks_buf_addf(&b,
                            ",\"hashValue\":\"%s\",\"hashAlgorithm\":\"SHA-256\","
                            "\"newestEventTime\":",
                            d->hash);
        if (!e)
            e = add_time_or_null(&b, true, d->newest_ms);
        if (!e)
            e = ks_buf_add(&b, ",\"oldestEventTime\":", 19);
        if (!e)
            e = add_time_or_null(&b, true, d->oldest_ms);
        if (!e)
            e = ks_buf_add(&b, "}", 1);
    }
    if (!e)
        e = ks_buf_add(&b, "]}", 2);
    if (e) {
        ks_buf_release(&b);
        return e;
    }

    char hash[65];
    sha256_hex(b.data, b.len, hash);
    /* String to sign, spec §6.4 (no trailing newline). */
    struct ks_buf sts;
    ks_buf_init(&sts, (size_t)1 << 20);
    e = ks_buf_addf(&sts, "%s\n%s/%s\n%s\n%s", end_iso, t->bucket, key, hash,
                    t->have_prev ? t->prev_sig : "null");
    char *sig = NULL;
    if (e || sign_str(t->key, sts.data, &sig) != 0) {
        ks_buf_release(&sts);
        ks_buf_release(&b);
        return KS_E_INVALID;
    }
    ks_buf_release(&sts);

    unsigned char *gz = NULL;
    size_t gzlen = 0;
    struct ks_buf meta;
    ks_buf_init(&meta, 4096);
    char meta_name[600];
    snprintf(meta_name, sizeof(meta_name), "%s.meta.json", name);
    e = ks_buf_addf(&meta, "{\"signature\":\"%s\",\"signature-algorithm\":\"SHA256withRSA\"}\n",
                    sig);
    if (e || make_dirs(t, dir) != 0 || gzip_buf(b.data, b.len, t->level, &gz, &gzlen) != 0 ||
        deliver(dir, meta_name, meta.data, meta.len) != 0 || deliver(dir, name, gz, gzlen) != 0) {
        t->made_dir[0] = '\0';
        free(gz);
        free(sig);
        ks_buf_release(&meta);
        ks_buf_release(&b);
        atomic_fetch_add(&t->write_errors, 1);
        fprintf(stderr,
                "level=error comp=kms.trail msg=\"cannot deliver digest file\" dir=\"%s\"\n", dir);
        return KS_E_IO;
    }
    free(gz);
    ks_buf_release(&meta);
    ks_buf_release(&b);

    for (size_t i = 0; i < t->npend; i++)
        free(t->pend[i].key);
    t->npend = 0;
    free(t->prev_object);
    free(t->prev_sig);
    t->prev_object = ks_xstrdup(key);
    t->prev_sig = sig;
    memcpy(t->prev_hash, hash, sizeof(hash));
    t->have_prev = true;
    t->prev_end_s = end_s;
    t->window_start_s = end_s;
    atomic_fetch_add(&t->digests, 1);
    save_state(t);
    return KS_OK;
}

static int64_t next_due(int64_t now_s, unsigned period)
{
    return (now_s / period + 1) * period;
}

/* ---------------------------------------------------------------------------
 * Writer thread
 */

static void *writer_main(void *arg)
{
    struct kms_trail *t = arg;
    struct trail_item *batch = NULL;
    size_t bcap = 0;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        for (;;) {
            if (t->qn || t->closing || t->flush_req != t->flush_done)
                break;
            int64_t now = now_ms();
            int64_t deadline = now + 1000;
            if (t->file_records) {
                int64_t fd = t->retry_at_ms ? t->retry_at_ms : t->file_first_ms + t->flush_ms;
                if (fd < deadline)
                    deadline = fd;
            }
            if (t->key && t->digest_due_s * 1000 < deadline)
                deadline = t->digest_due_s * 1000;
            if (deadline <= now)
                break;
            struct timespec ts = {.tv_sec = deadline / 1000,
                                  .tv_nsec = (long)(deadline % 1000) * 1000000L};
            pthread_cond_timedwait(&t->wake, &t->mu, &ts);
            break;
        }
        /* Swap the queue out: submitters refill an empty vector meanwhile. */
        struct trail_item *items = t->q;
        size_t n = t->qn;
        size_t cap = t->qcap;
        t->q = batch;
        t->qcap = bcap;
        t->qn = 0;
        bool closing = t->closing;
        uint64_t flush_req = t->flush_req;
        pthread_mutex_unlock(&t->mu);

        for (size_t i = 0; i < n; i++)
            append(t, &items[i]);
        batch = items;
        bcap = cap;

        int64_t now = now_ms();
        bool flush = flush_req != t->flush_done || closing;
        if (t->file_records && (flush || (t->retry_at_ms ? now >= t->retry_at_ms
                                                         : now >= t->file_first_ms + t->flush_ms)))
            t->last_err = roll(t);
        if (t->key && now / 1000 >= t->digest_due_s) {
            (void)write_digest(t, now / 1000);
            t->digest_due_s = next_due(now / 1000, t->digest_s);
        }
        if (closing) {
            pthread_mutex_lock(&t->mu);
            bool empty = t->qn == 0;
            pthread_mutex_unlock(&t->mu);
            if (!empty)
                continue;
            if (t->file_records)
                t->last_err = roll(t); /* one more try */
            if (t->key)
                (void)write_digest(t, now_ms() / 1000);
            pthread_mutex_lock(&t->mu);
            t->flush_done = t->flush_req;
            pthread_cond_broadcast(&t->done);
            pthread_mutex_unlock(&t->mu);
            break;
        }
        if (flush_req != t->flush_done) {
            pthread_mutex_lock(&t->mu);
            t->flush_done = flush_req;
            pthread_cond_broadcast(&t->done);
            pthread_mutex_unlock(&t->mu);
        }
    }
    free(batch);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Keys
 */

static enum ks_err load_or_create_key(struct kms_trail *t, const char *path, const char *pub,
                                      struct ks_diag *d)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        t->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!t->key || EVP_PKEY_get_base_id(t->key) != EVP_PKEY_RSA)
            return ks_diag_set(d, KS_E_INVALID, SIZE_MAX,
                               "'%s' does not hold an RSA private key in PEM", path);
    } else if (errno == ENOENT) {
        t->key = EVP_RSA_gen(2048);
        if (!t->key)
            return ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "cannot generate an RSA key");
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        FILE *w = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!w) {
            if (fd >= 0)
                close(fd);
            return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot create '%s': %s", path,
                               strerror(errno));
        }
        int ok = PEM_write_PrivateKey(w, t->key, NULL, NULL, 0, NULL, NULL);
        ok = ok && fflush(w) == 0 && fsync(fileno(w)) == 0;
        if (fclose(w) != 0 || !ok) {
            unlink(path);
            return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot write '%s'", path);
        }
    } else {
        return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot open '%s': %s", path, strerror(errno));
    }
    /* Fingerprint: hex MD5 of the DER PKCS#1 RSAPublicKey (spec §6.3 [DECISION]). */
    unsigned char *der = NULL;
    int dlen = i2d_PublicKey(t->key, &der);
    if (dlen <= 0)
        return ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "cannot encode the public key");
    unsigned char md[16];
    unsigned int mdlen = 0;
    EVP_Digest(der, (size_t)dlen, md, &mdlen, EVP_md5(), NULL);
    OPENSSL_free(der);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; i++) {
        t->fingerprint[2 * i] = hex[md[i] >> 4];
        t->fingerprint[2 * i + 1] = hex[md[i] & 15];
    }
    t->fingerprint[32] = '\0';

    char pubtmp[4096];
    if (!pub) {
        snprintf(pubtmp, sizeof(pubtmp), "%s.pub", path);
        pub = pubtmp;
    }
    FILE *w = fopen(pub, "wb");
    if (!w || PEM_write_PUBKEY(w, t->key) != 1) {
        if (w)
            fclose(w);
        return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot write the public key to '%s'", pub);
    }
    if (fclose(w) != 0)
        return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot write the public key to '%s'", pub);
    return KS_OK;
}

/* ---------------------------------------------------------------------------
 * API
 */

static void trail_free(struct kms_trail *t)
{
    for (size_t i = 0; i < t->qn; i++)
        free(t->q[i].json);
    free(t->q);
    for (size_t i = 0; i < t->npend; i++)
        free(t->pend[i].key);
    free(t->pend);
    ks_buf_release(&t->file);
    EVP_PKEY_free(t->key);
    free(t->prev_object);
    free(t->prev_sig);
    free(t->dir);
    free(t->bucket);
    free(t->account);
    free(t->region);
    free(t->trail_name);
    free(t->state_path);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done);
    free(t);
}

static bool safe_component(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '-' && *p != '_' && *p != '.')
            return false;
    return strcmp(s, ".") && strcmp(s, "..");
}

enum ks_err kms_trail_open(const struct kms_trail_options *o, struct kms_trail **out,
                           struct ks_diag *d)
{
    *out = NULL;
    if (!o->dir || !*o->dir || !safe_component(o->account) || !safe_component(o->region))
        return ks_diag_set(d, KS_E_INVALID, SIZE_MAX,
                           "trail needs a directory, an account id and a region made of "
                           "letters, digits, '-', '_' and '.'");
    const char *name = o->trail_name ? o->trail_name : KMS_DEFAULT_TRAIL_NAME;
    if (!safe_component(name))
        return ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "invalid trail name '%s'", name);
    struct kms_trail *t = ks_xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->wake, NULL);
    pthread_cond_init(&t->done, NULL);
    size_t dl = strlen(o->dir);
    while (dl > 1 && o->dir[dl - 1] == '/')
        dl--;
    t->dir = ks_xmemdup(o->dir, dl);
    if (o->bucket) {
        t->bucket = ks_xstrdup(o->bucket);
    } else {
        const char *base = strrchr(t->dir, '/');
        t->bucket = ks_xstrdup(base && base[1] ? base + 1 : t->dir);
    }
    t->account = ks_xstrdup(o->account);
    t->region = ks_xstrdup(o->region);
    t->trail_name = ks_xstrdup(name);
    t->state_path = o->state_path ? ks_xstrdup(o->state_path) : NULL;
    t->flush_ms = o->flush_ms ? o->flush_ms : KMS_DEFAULT_FLUSH_MS;
    t->max_records = o->max_records ? o->max_records : KMS_DEFAULT_MAX_RECORDS;
    t->digest_s = o->digest_s ? o->digest_s : KMS_DEFAULT_DIGEST_S;
    t->level = o->gzip_level >= 1 && o->gzip_level <= 9 ? o->gzip_level : 6;
    t->on_record = o->on_record;
    t->on_record_ud = o->on_record_ud;
    ks_buf_init(&t->file, (size_t)TRAIL_MAX_FILE_BYTES + KMS_MAX_RECORD_BYTES + 16);
    if (make_dirs(t, t->dir) != 0) {
        ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot create trail directory '%s': %s", t->dir,
                    strerror(errno));
        trail_free(t);
        return KS_E_IO;
    }
    if (o->key_path) {
        enum ks_err e = load_or_create_key(t, o->key_path, o->pubkey_path, d);
        if (e) {
            trail_free(t);
            return e;
        }
        int64_t now_s = now_ms() / 1000;
        t->window_start_s = now_s;
        load_state(t);
        t->digest_due_s = next_due(now_s, t->digest_s);
    }
    if (pthread_create(&t->thread, NULL, writer_main, t) != 0) {
        trail_free(t);
        return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot start the trail writer thread");
    }
    t->started = true;
    *out = t;
    return KS_OK;
}

void kms_trail_submit(struct kms_trail *t, char *record, size_t len, int64_t event_ms)
{
    if (t->on_record)
        t->on_record(t->on_record_ud, record, len, event_ms);
    pthread_mutex_lock(&t->mu);
    if (t->qn == t->qcap) {
        t->qcap = t->qcap ? t->qcap * 2 : 1024;
        t->q = ks_xrealloc(t->q, t->qcap * sizeof(*t->q));
    }
    t->q[t->qn++] = (struct trail_item){.json = record, .len = len, .ms = event_ms};
    bool full = t->qn >= t->max_records;
    pthread_mutex_unlock(&t->mu);
    atomic_fetch_add(&t->submitted, 1);
    if (full)
        pthread_cond_signal(&t->wake);
}

void kms_trail_flush(struct kms_trail *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t want = ++t->flush_req;
    pthread_cond_signal(&t->wake);
    while (t->flush_done < want && !t->closing)
        pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

void kms_trail_get_stats(struct kms_trail *t, struct kms_trail_stats *s)
{
    s->submitted = atomic_load(&t->submitted);
    s->written = atomic_load(&t->written);
    s->files = atomic_load(&t->files);
    s->digests = atomic_load(&t->digests);
    s->write_errors = atomic_load(&t->write_errors);
    s->oversized = atomic_load(&t->oversized);
}

enum ks_err kms_trail_close(struct kms_trail *t)
{
    if (!t)
        return KS_OK;
    pthread_mutex_lock(&t->mu);
    t->closing = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->mu);
    if (t->started)
        pthread_join(t->thread, NULL);
    enum ks_err e = t->file_records ? KS_E_IO : KS_OK;
    if (e)
        fprintf(stderr, "level=error comp=kms.trail msg=\"records not delivered\" count=%zu\n",
                t->file_records);
    trail_free(t);
    return e;
}
