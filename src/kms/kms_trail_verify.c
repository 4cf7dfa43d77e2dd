/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offline validation of a trail directory (spec/cloudtrail-kms-events.md
 * §6.7): what `aws cloudtrail validate-logs` checks, without S3.
 *
 * Digests are taken newest first (by the end time in their names). Each must
 * sit where its digestS3Object says, carry a sidecar signature that verifies
 * with the public key whose fingerprint it names, and list log files whose
 * uncompressed SHA-256 matches. Each link to the previous digest must name
 * the next older digest and match its hash and signature, so the newest
 * signature authenticates the whole chain. A starting digest (null links)
 * ends a chain; older digests begin another one (a gap, reported).
 */
#include "kms/kms_server.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#define VERIFY_MAX_GUNZIP ((size_t)1 << 30)

struct vfile {
    char *key; /* relative to dir */
    bool digest;
    bool covered;
};

struct vlist {
    struct vfile *v;
    size_t n, cap;
    size_t root_len;
};

static struct vlist *g_walk; /* nftw has no context pointer; one walk at a time */

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int walk_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    if (type != FTW_F)
        return 0;
    const char *base = path + ftw->base;
    if (base[0] == '.' || !ends_with(base, ".json.gz"))
        return 0;
    bool digest = strstr(base, "_CloudTrail-Digest_") != NULL;
    if (!digest && !strstr(base, "_CloudTrail_"))
        return 0;
    struct vlist *l = g_walk;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = ks_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (struct vfile){.key = ks_xstrdup(path + l->root_len + 1), .digest = digest};
    return 0;
}

static int cmp_key_desc(const void *a, const void *b)
{
    const struct vfile *x = a, *y = b;
    /* digests: the end time is the last 16 characters before .json.gz */
    size_t lx = strlen(x->key), ly = strlen(y->key);
    if (x->digest && y->digest && lx >= 24 && ly >= 24) {
        int c = strncmp(y->key + ly - 24, x->key + lx - 24, 16);
        if (c)
            return c;
    }
    return strcmp(y->key, x->key);
}

static int read_file(const char *path, struct ks_buf *out, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    ks_buf_init(out, max);
    char tmp[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (ks_buf_add(out, tmp, n)) {
            rc = -1;
            break;
        }
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

static int gunzip_file(const char *path, struct ks_buf *out)
{
    struct ks_buf gz;
    if (read_file(path, &gz, VERIFY_MAX_GUNZIP) != 0) {
        ks_buf_release(&gz);
        return -1;
    }
    ks_buf_init(out, VERIFY_MAX_GUNZIP);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        ks_buf_release(&gz);
        return -1;
    }
    z.next_in = (Bytef *)gz.data;
    z.avail_in = (uInt)gz.len;
    int rc = Z_OK;
    unsigned char buf[65536];
    while (rc == Z_OK) {
        z.next_out = buf;
        z.avail_out = sizeof(buf);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        if (ks_buf_add(out, buf, sizeof(buf) - z.avail_out)) {
            rc = Z_MEM_ERROR;
            break;
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)
            break; /* truncated */
    }
    inflateEnd(&z);
    ks_buf_release(&gz);
    return rc == Z_STREAM_END ? 0 : -1;
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

static int unhex(const char *s, unsigned char **out, size_t *n)
{
    size_t l = strlen(s);
    if (l % 2)
        return -1;
    unsigned char *b = ks_xmalloc(l / 2 + 1);
    for (size_t i = 0; i < l / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) {
                free(b);
                return -1;
            }
            v = v * 16 + d;
        }
        b[i] = (unsigned char)v;
    }
    *out = b;
    *n = l / 2;
    return 0;
}

static EVP_PKEY *load_pubkey(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!k) {
        rewind(f);
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL); /* the private key file works too */
    }
    fclose(f);
    return k;
}

static void fingerprint(EVP_PKEY *k, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char *der = NULL;
    int dlen = i2d_PublicKey(k, &der);
    unsigned char md[16] = {0};
    unsigned int mdlen = 0;
    if (dlen > 0)
        EVP_Digest(der, (size_t)dlen, md, &mdlen, EVP_md5(), NULL);
    OPENSSL_free(der);
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

static bool verify_sig(EVP_PKEY *k, const char *msg, const char *sig_hex)
{
    unsigned char *sig = NULL;
    size_t n = 0;
    if (unhex(sig_hex, &sig, &n) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
              EVP_DigestVerify(md, sig, n, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(md);
    free(sig);
    return ok;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

struct vdigest {
    json_t *doc;
    char hash[65];
    char *sig;
    bool valid;
};

enum ks_err kms_trail_verify(const char *dir, const char *bucket_opt, const char *pubkey_path,
                             FILE *out, struct kms_trail_verify_report *rep, struct ks_diag *diag)
{
    memset(rep, 0, sizeof(*rep));
    EVP_PKEY *key = load_pubkey(pubkey_path);
    if (!key)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read a public key from '%s'",
                           pubkey_path);
    char fp[33];
    fingerprint(key, fp);

    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    char *root = ks_xmemdup(dir, dl);
    const char *base = strrchr(root, '/');
    const char *bucket = bucket_opt ? bucket_opt : (base && base[1] ? base + 1 : root);

    struct vlist l = {.root_len = dl};
    char awslogs[4096];
    snprintf(awslogs, sizeof(awslogs), "%s/AWSLogs", root);
    g_walk = &l;
    int wrc = nftw(awslogs, walk_cb, 16, FTW_PHYS);
    g_walk = NULL;
    enum ks_err result = KS_OK;
    if (wrc != 0) {
        result = ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "cannot read '%s': %s", awslogs,
                             strerror(errno));
        goto done;
    }
    qsort(l.v, l.n, sizeof(*l.v), cmp_key_desc);

    /* First pass: every digest, newest first. */
    struct vdigest *dg = ks_xcalloc(l.n + 1, sizeof(*dg));
    size_t nd = 0;
    size_t *idx = ks_xcalloc(l.n + 1, sizeof(size_t));
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].digest)
            continue;
        idx[nd] = i;
        struct vdigest *d = &dg[nd++];
        rep->digests++;
        const char *k = l.v[i].key;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", root, k);
        struct ks_buf raw;
        const char *why = NULL;
        if (gunzip_file(path, &raw) != 0) {
            why = "invalid format (gzip)";
        } else {
            sha256_hex(raw.data, raw.len, d->hash);
            d->doc = json_loadb(raw.data, raw.len, 0, NULL);
            if (!json_is_object(d->doc))
                why = "invalid format";
        }
        ks_buf_release(&raw);
        char meta[8300];
        snprintf(meta, sizeof(meta), "%s.meta.json", path);
        json_t *m = why ? NULL : json_load_file(meta, 0, NULL);
        if (!why && (!m || !jstr(m, "signature") ||
                     strcmp(jstr(m, "signature-algorithm") ? jstr(m, "signature-algorithm") : "",
                            "SHA256withRSA")))
            why = "signature metadata missing";
        if (!why) {
            d->sig = ks_xstrdup(jstr(m, "signature"));
            const char *end = jstr(d->doc, "digestEndTime");
            const char *obj = jstr(d->doc, "digestS3Object");
            const char *bkt = jstr(d->doc, "digestS3Bucket");
            const char *dfp = jstr(d->doc, "digestPublicKeyFingerprint");
            json_t *prev = json_object_get(d->doc, "previousDigestSignature");
            if (!end || !obj || !bkt || !dfp || !prev || !jstr(d->doc, "digestStartTime"))
                why = "invalid format (missing fields)";
            else if (strcmp(obj, k) || strcmp(bkt, bucket))
                why = "has been moved from its original location";
            else if (strcmp(dfp, fp))
                why = "public key not found for the digest's fingerprint";
            else {
                struct ks_buf sts;
                ks_buf_init(&sts, 1 << 20);
                const char *ps = json_is_string(prev) ? json_string_value(prev) : "null";
                if (ks_buf_addf(&sts, "%s\n%s/%s\n%s\n%s", end, bkt, obj, d->hash, ps) ||
                    !verify_sig(key, sts.data, d->sig))
                    why = "signature verification failed";
                ks_buf_release(&sts);
            }
        }
        json_decref(m);
        d->valid = !why;
        if (d->valid)
            rep->digests_valid++;
        fprintf(out, "Digest file\ts3://%s/%s\t%s%s\n", bucket, k, why ? "INVALID: " : "valid",
                why ? why : "");
    }

    /* Chain links and log files. */
    for (size_t j = 0; j < nd; j++) {
        struct vdigest *d = &dg[j];
        if (!d->doc)
            continue;
        json_t *prev_obj = json_object_get(d->doc, "previousDigestS3Object");
        if (!json_is_string(prev_obj)) {
            rep->chains++;
        } else {
            struct vdigest *older = j + 1 < nd ? &dg[j + 1] : NULL;
            const char *want = json_string_value(prev_obj);
            const char *ph = jstr(d->doc, "previousDigestHashValue");
            const char *psig = jstr(d->doc, "previousDigestSignature");
            const char *why = NULL;
            if (!older || strcmp(l.v[idx[j + 1]].key, want))
                why = "previous digest not found";
            else if (!ph || strcmp(ph, older->hash))
                why = "previous digest hash value doesn't match";
            else if (!psig || !older->sig || strcmp(psig, older->sig))
                why = "previous digest signature doesn't match";
            if (why) {
                fprintf(out, "Digest file\ts3://%s/%s\tINVALID: %s\n", bucket, l.v[idx[j]].key,
                        why);
                if (d->valid) {
                    d->valid = false;
                    rep->digests_valid--;
                }
            }
        }
        json_t *files = json_object_get(d->doc, "logFiles");
        size_t i;
        json_t *lf;
        json_array_foreach(files, i, lf)
        {
            const char *obj = jstr(lf, "s3Object");
            const char *hv = jstr(lf, "hashValue");
            rep->logs++;
            const char *why = NULL;
            char path[8192];
            struct ks_buf raw;
            ks_buf_init(&raw, 0);
            if (!obj || !hv || strstr(obj, "..")) {
                why = "invalid format";
            } else {
                snprintf(path, sizeof(path), "%s/%s", root, obj);
                if (gunzip_file(path, &raw) != 0) {
                    why = errno == ENOENT ? "not found" : "invalid format";
                } else {
                    char h[65];
                    sha256_hex(raw.data, raw.len, h);
                    json_t *doc = strcmp(h, hv) ? NULL : json_loadb(raw.data, raw.len, 0, NULL);
                    json_t *recs = json_object_get(doc, "Records");
                    if (strcmp(h, hv))
                        why = "hash value doesn't match";
                    else if (!json_is_array(recs))
                        why = "invalid format";
                    else
                        rep->records += json_array_size(recs);
                    json_decref(doc);
                }
                for (size_t k = 0; k < l.n; k++)
                    if (!l.v[k].digest && !strcmp(l.v[k].key, obj))
                        l.v[k].covered = true;
            }
            ks_buf_release(&raw);
            if (!why)
                rep->logs_valid++;
            fprintf(out, "Log file\ts3://%s/%s\t%s%s\n", bucket, obj ? obj : "?",
                    why ? "INVALID: " : "valid", why ? why : "");
        }
    }
    for (size_t k = 0; k < l.n; k++)
        if (!l.v[k].digest && !l.v[k].covered) {
            rep->uncovered++;
            fprintf(out, "Log file\ts3://%s/%s\tnot covered by any digest\n", bucket, l.v[k].key);
        }
    fprintf(out, "%zu/%zu digest files valid\n%zu/%zu log files valid\n", rep->digests_valid,
            rep->digests, rep->logs_valid, rep->logs);
    if (rep->chains > 1)
        fprintf(out, "%zu chains: logging restarted without the previous chain state\n",
                rep->chains);
    if (rep->digests == 0)
        result = ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "no digest files under '%s'", awslogs);
    else if (rep->digests_valid != rep->digests || rep->logs_valid != rep->logs)
        result = KS_E_INVALID;
    for (size_t j = 0; j < nd; j++) {
        json_decref(dg[j].doc);
        free(dg[j].sig);
    }
    free(dg);
    free(idx);
done:
    for (size_t k = 0; k < l.n; k++)
        free(l.v[k].key);
    free(l.v);
    free(root);
    EVP_PKEY_free(key);
    return result;
}
