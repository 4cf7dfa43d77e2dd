/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SNS's HTTP body and its signature (spec/alarms.md §12): the canonical
 * "name\nvalue\n" string over the type's fields in byte order, signed
 * SHA256withRSA (SignatureVersion 2) or SHA1withRSA (1) with keysentry's own
 * key, whose self-signed certificate receivers fetch from SigningCertURL and
 * pin to our host instead of sns.<region>.amazonaws.com (§12.3).
 *
 * The key is created once, on first start, in the data folder: written to a
 * temporary file opened 0600 and renamed into place, so a crash never leaves
 * a half-written key and a concurrent first start loses nothing but a key
 * nobody used. The certificate can always be re-made from the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "notify/notify_int.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum ks_err e_ = (x);                                                                      \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

#define KEY_FILE  "notify-signing-key.pem"
#define CERT_FILE "notify-signing-cert.pem"
#define CERT_DAYS 3650

struct notify_signer {
    EVP_PKEY *key;
    char *cert_pem;
};

/* ---- canonical string and body ----------------------------------------------- */

struct field {
    const char *name;
    const char *value;
};

static size_t fields_of(const struct notify_envelope *e, struct field out[8])
{
    size_t n = 0;
    if (strcmp(e->type, "Notification") == 0) {
        /* byte order of the names; Subject only when there is one (§12.3) */
        out[n++] = (struct field){"Message", e->message};
        out[n++] = (struct field){"MessageId", e->message_id};
        if (e->subject)
            out[n++] = (struct field){"Subject", e->subject};
        out[n++] = (struct field){"Timestamp", e->timestamp};
        out[n++] = (struct field){"TopicArn", e->topic_arn};
        out[n++] = (struct field){"Type", e->type};
    } else if (strcmp(e->type, "SubscriptionConfirmation") == 0 ||
               strcmp(e->type, "UnsubscribeConfirmation") == 0) {
        out[n++] = (struct field){"Message", e->message};
        out[n++] = (struct field){"MessageId", e->message_id};
        out[n++] = (struct field){"SubscribeURL", e->subscribe_url};
        out[n++] = (struct field){"Timestamp", e->timestamp};
        out[n++] = (struct field){"Token", e->token};
        out[n++] = (struct field){"TopicArn", e->topic_arn};
        out[n++] = (struct field){"Type", e->type};
    }
    return n;
}

enum ks_err notify_sns_canonical(const struct notify_envelope *e, struct ks_buf *out)
{
    struct field f[8];
    size_t n = e->type ? fields_of(e, f) : 0;
    if (!n)
        return KS_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].value ? f[i].value : "";
        TRY(ks_buf_addf(out, "%s\n", f[i].name));
        TRY(ks_buf_add(out, v, strlen(v)));
        TRY(ks_buf_add(out, "\n", 1));
    }
    return KS_OK;
}

static enum ks_err member(struct ks_buf *b, bool *first, bool compact, const char *name,
                          const char *value)
{
    if (!value)
        return KS_OK;
    /* AWS writes `"Name" : "value"` one per line; compact is for NDJSON */
    TRY(ks_buf_addf(b, "%s%s\"%s\"%s\"", *first ? "" : ",", compact ? "" : "\n  ", name,
                    compact ? ":" : " : "));
    *first = false;
    TRY(ks_buf_add_json_str(b, value, strlen(value)));
    return ks_buf_add(b, "\"", 1);
}

enum ks_err notify_sns_body_ex(const struct notify_envelope *e, const char *signature, bool compact,
                               struct ks_buf *out)
{
    bool first = true, note = strcmp(e->type, "Notification") == 0;
    char ver[4];
    snprintf(ver, sizeof(ver), "%d", e->signature_version == 1 ? 1 : 2);
    TRY(ks_buf_add(out, "{", 1));
    TRY(member(out, &first, compact, "Type", e->type));
    TRY(member(out, &first, compact, "MessageId", e->message_id));
    if (!note)
        TRY(member(out, &first, compact, "Token", e->token));
    TRY(member(out, &first, compact, "TopicArn", e->topic_arn));
    if (note)
        TRY(member(out, &first, compact, "Subject", e->subject));
    TRY(member(out, &first, compact, "Message", e->message));
    if (!note)
        TRY(member(out, &first, compact, "SubscribeURL", e->subscribe_url));
    TRY(member(out, &first, compact, "Timestamp", e->timestamp));
    TRY(member(out, &first, compact, "SignatureVersion", ver));
    TRY(member(out, &first, compact, "Signature", signature));
    TRY(member(out, &first, compact, "SigningCertURL", e->signing_cert_url));
    if (note)
        TRY(member(out, &first, compact, "UnsubscribeURL", e->unsubscribe_url));
    return ks_buf_add(out, compact ? "}" : "\n}", compact ? 1 : 2);
}

enum ks_err notify_sns_body(const struct notify_envelope *e, const char *signature,
                            struct ks_buf *out)
{
    return notify_sns_body_ex(e, signature, false, out);
}

/* ---- the signing identity ------------------------------------------------------- */

static enum ks_err ossl_fail(struct ks_diag *diag, const char *what)
{
    char err[200] = "";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, err, sizeof(err));
    ERR_clear_error();
    return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "notification signing key: %s%s%s", what,
                       *err ? ": " : "", err);
}

/* Writes len bytes to path atomically with the given mode. */
static enum ks_err write_file(const char *path, const char *data, size_t len, mode_t mode,
                              struct ks_diag *diag)
{
    char tmp[4200];
    unsigned char rnd[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return ossl_fail(diag, "random bytes");
    snprintf(tmp, sizeof(tmp), "%s.%02x%02x%02x%02x%02x%02x.tmp", path, rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create '%s': %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot write '%s': %s", tmp,
                               strerror(err));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot rename '%s': %s", tmp, strerror(err));
    }
    return KS_OK;
}

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? ks_xmemdup(p, (size_t)n) : NULL;
}

static enum ks_err make_cert(EVP_PKEY *key, char **pem, struct ks_diag *diag)
{
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    enum ks_err e = KS_OK;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!x || !b || RAND_bytes(serial, sizeof(serial)) != 1) {
        e = ossl_fail(diag, "cannot create the certificate");
        goto out;
    }
    serial[0] &= 0x7f; /* a positive serial number */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME *name = X509_get_subject_name(x);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"keysentry", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"keysentry SNS signing", -1, -1, 0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
        !X509_sign(x, key, EVP_sha256()) || !PEM_write_bio_X509(b, x)) {
        e = ossl_fail(diag, "cannot create the certificate");
        goto out;
    }
    *pem = bio_text(b);
out:
    BN_free(bn);
    BIO_free(b);
    X509_free(x);
    return e;
}

static bool cert_matches(const char *pem, EVP_PKEY *key)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    bool ok = false;
    if (x) {
        EVP_PKEY *pub = X509_get0_pubkey(x);
        ok = pub && EVP_PKEY_eq(pub, key) == 1 && X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
    }
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return ok;
}

enum ks_err notify_signer_load(const char *dir, struct notify_signer **out, struct ks_diag *diag)
{
    *out = NULL;
    char *key_path = notify_strf("%s/%s", dir, KEY_FILE);
    char *cert_path = notify_strf("%s/%s", dir, CERT_FILE);
    struct notify_signer *s = ks_xcalloc(1, sizeof(*s));
    enum ks_err e = KS_OK;
    BIO *b = NULL;
    FILE *f = fopen(key_path, "re");
    if (f) {
        s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!s->key) {
            e = ossl_fail(diag, "cannot read the key");
            ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read signing key '%s'", key_path);
            goto out;
        }
    } else if (errno == ENOENT) {
        s->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        b = BIO_new(BIO_s_mem());
        if (!s->key || !b || !PEM_write_bio_PrivateKey(b, s->key, NULL, NULL, 0, NULL, NULL)) {
            e = ossl_fail(diag, "cannot generate the key");
            goto out;
        }
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        e = write_file(key_path, p, (size_t)n, 0600, diag);
        OPENSSL_cleanse(p, (size_t)n);
        if (e)
            goto out;
    } else {
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open signing key '%s': %s", key_path,
                        strerror(errno));
        goto out;
    }
    /* the certificate: reuse when it still matches the key and is valid */
    f = fopen(cert_path, "re");
    if (f) {
        struct ks_buf pem;
        ks_buf_init(&pem, 64u << 10);
        char chunk[4096];
        size_t n;
        bool ok = true;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            if (ks_buf_add(&pem, chunk, n))
                ok = false;
        fclose(f);
        if (ok && cert_matches(pem.data, s->key))
            s->cert_pem = ks_xmemdup(pem.data, pem.len);
        ks_buf_release(&pem);
    }
    if (!s->cert_pem) {
        if ((e = make_cert(s->key, &s->cert_pem, diag)))
            goto out;
        if ((e = write_file(cert_path, s->cert_pem, strlen(s->cert_pem), 0644, diag)))
            goto out;
    }
out:
    BIO_free(b);
    free(key_path);
    free(cert_path);
    if (e) {
        notify_signer_free(s);
        return e;
    }
    *out = s;
    return KS_OK;
}

void notify_signer_free(struct notify_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s->cert_pem);
    free(s);
}

const char *notify_signer_cert_pem(const struct notify_signer *s)
{
    return s->cert_pem;
}

enum ks_err notify_signer_sign(const struct notify_signer *s, const struct notify_envelope *e,
                               struct ks_buf *out, struct ks_diag *diag)
{
    struct ks_buf canon;
    ks_buf_init(&canon, 2 * NOTIFY_MESSAGE_MAX);
    enum ks_err err = notify_sns_canonical(e, &canon);
    if (err) {
        ks_buf_release(&canon);
        return ks_diag_set(diag, err, SIZE_MAX, "cannot build the string to sign");
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    const EVP_MD *alg = e->signature_version == 1 ? EVP_sha1() : EVP_sha256();
    if (!md || EVP_DigestSignInit(md, NULL, alg, NULL, s->key) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)canon.data, canon.len) != 1) {
        EVP_MD_CTX_free(md);
        ks_buf_release(&canon);
        return ossl_fail(diag, "cannot sign");
    }
    EVP_MD_CTX_free(md);
    ks_buf_release(&canon);
    unsigned char b64[1400];
    int n = EVP_EncodeBlock(b64, sig, (int)siglen);
    ks_buf_reset(out);
    err = ks_buf_add(out, b64, (size_t)n);
    return err ? ks_diag_set(diag, err, SIZE_MAX, "signature too long") : KS_OK;
}
