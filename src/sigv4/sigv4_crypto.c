/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 crypto: SHA-256 and HMAC-SHA256 through OpenSSL 3 EVP, signing-key
 * derivation (spec §2.3) and the signing-key cache.
 *
 * The EVP_MD and EVP_MAC are fetched once (pthread_once): an implicit fetch
 * per call costs more than the hash of a small request. Any OpenSSL failure
 * here means a broken library, not bad input, so it aborts (KS_BUG style).
 *
 * Cache design: a fixed array of `capacity` entries searched linearly (the
 * capacity is small: one entry per active (key, day, region, service)); the
 * least recently used entry is evicted. An entry is identified by a SHA-256
 * fingerprint over the length-prefixed tuple, so the cache holds no secret in
 * clear; the fingerprint and the derived key are wiped when the entry is
 * evicted and when the cache is freed.
 */
#include "sigv4/sigv4_int.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;
static EVP_MAC *mac_hmac;

static void crypto_fail(const char *what)
{
    fprintf(stderr, "fatal: sigv4: OpenSSL %s failed\n", what);
    abort();
}

static void fetch_algorithms(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!md_sha256 || !mac_hmac)
        crypto_fail("algorithm fetch");
}

void sigv4_sha256(const void *p, size_t n, unsigned char out[32])
{
    pthread_once(&fetch_once, fetch_algorithms);
    unsigned int len = 0;
    if (!EVP_Digest(p, n, out, &len, md_sha256, NULL) || len != 32)
        crypto_fail("SHA-256");
}

void sigv4_hmac(const void *key, size_t key_len, const void *data, size_t data_len,
                unsigned char out[32])
{
    pthread_once(&fetch_once, fetch_algorithms);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac_hmac);
    if (!ctx)
        crypto_fail("HMAC context");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t len = 0;
    if (!EVP_MAC_init(ctx, key, key_len, params) || !EVP_MAC_update(ctx, data, data_len) ||
        !EVP_MAC_final(ctx, out, &len, 32) || len != 32)
        crypto_fail("HMAC-SHA256");
    EVP_MAC_CTX_free(ctx);
}

void sigv4_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[32];
    sigv4_sha256(p, n, h);
    sigv4_hex(h, 32, out);
}

void sigv4_derive_key(const char *secret, size_t secret_len, const char *date8, const char *region,
                      const char *service, unsigned char out[32])
{
    /* "AWS4" + secret is key material: build it in its own allocation and
     * wipe it (STYLE §8), never in a ks_buf. */
    size_t klen = 4 + secret_len;
    unsigned char *k = ks_xmalloc(klen);
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, secret_len);
    unsigned char a[32], b[32];
    sigv4_hmac(k, klen, date8, strlen(date8), a);
    sigv4_hmac(a, 32, region, strlen(region), b);
    sigv4_hmac(b, 32, service, strlen(service), a);
    sigv4_hmac(a, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k, klen);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    free(k);
}

struct sigv4_key_entry {
    unsigned char fp[32];
    unsigned char key[32];
    uint64_t last_use; /* 0: empty */
};

struct sigv4_key_cache {
    pthread_mutex_t lock;
    size_t capacity;
    uint64_t clock;
    uint64_t hits, misses;
    struct sigv4_key_entry *e;
};

struct sigv4_key_cache *sigv4_key_cache_new(size_t capacity)
{
    if (capacity == 0)
        capacity = SIGV4_KEY_CACHE_DEFAULT;
    if (capacity > 4096)
        capacity = 4096;
    struct sigv4_key_cache *c = ks_xcalloc(1, sizeof(*c));
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        crypto_fail("mutex init"); /* cannot happen with default attributes */
    c->capacity = capacity;
    c->e = ks_xcalloc(capacity, sizeof(*c->e));
    return c;
}

void sigv4_key_cache_free(struct sigv4_key_cache *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->e, c->capacity * sizeof(*c->e));
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void sigv4_key_cache_stats(struct sigv4_key_cache *c, uint64_t *hits, uint64_t *misses,
                           size_t *entries)
{
    pthread_mutex_lock(&c->lock);
    size_t n = 0;
    for (size_t i = 0; i < c->capacity; i++)
        n += c->e[i].last_use != 0;
    if (hits)
        *hits = c->hits;
    if (misses)
        *misses = c->misses;
    if (entries)
        *entries = n;
    pthread_mutex_unlock(&c->lock);
}

/* SHA-256 over len64 || bytes for each field: unambiguous whatever the bytes. */
static void fingerprint(const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char fp[32])
{
    pthread_once(&fetch_once, fetch_algorithms);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, md_sha256, NULL))
        crypto_fail("SHA-256 init");
    const char *parts[4] = {secret, date8, region, service};
    for (size_t i = 0; i < 4; i++) {
        uint64_t n = strlen(parts[i]);
        unsigned char len[8];
        for (size_t j = 0; j < 8; j++)
            len[j] = (unsigned char)(n >> (8 * j));
        if (!EVP_DigestUpdate(ctx, len, 8) || !EVP_DigestUpdate(ctx, parts[i], (size_t)n))
            crypto_fail("SHA-256 update");
    }
    unsigned int olen = 0;
    if (!EVP_DigestFinal_ex(ctx, fp, &olen) || olen != 32)
        crypto_fail("SHA-256 final");
    EVP_MD_CTX_free(ctx);
}

void sigv4_signing_key(struct sigv4_key_cache *c, const char *secret, const char *date8,
                       const char *region, const char *service, unsigned char out[32])
{
    if (!c) {
        sigv4_derive_key(secret, strlen(secret), date8, region, service, out);
        return;
    }
    unsigned char fp[32];
    fingerprint(secret, date8, region, service, fp);
    pthread_mutex_lock(&c->lock);
    struct sigv4_key_entry *victim = &c->e[0];
    for (size_t i = 0; i < c->capacity; i++) {
        struct sigv4_key_entry *e = &c->e[i];
        if (e->last_use && CRYPTO_memcmp(e->fp, fp, 32) == 0) {
            e->last_use = ++c->clock;
            c->hits++;
            memcpy(out, e->key, 32);
            pthread_mutex_unlock(&c->lock);
            OPENSSL_cleanse(fp, sizeof(fp));
            return;
        }
        if (e->last_use < victim->last_use)
            victim = e;
    }
    c->misses++;
    pthread_mutex_unlock(&c->lock);
    /* Derive outside the lock; a concurrent miss on the same tuple derives
     * the same key twice, which is harmless. */
    sigv4_derive_key(secret, strlen(secret), date8, region, service, out);
    pthread_mutex_lock(&c->lock);
    /* Re-pick the victim: the array may have changed while unlocked. */
    victim = &c->e[0];
    for (size_t i = 0; i < c->capacity; i++) {
        if (c->e[i].last_use && CRYPTO_memcmp(c->e[i].fp, fp, 32) == 0) {
            victim = &c->e[i];
            break;
        }
        if (c->e[i].last_use < victim->last_use)
            victim = &c->e[i];
    }
    OPENSSL_cleanse(victim, sizeof(*victim));
    memcpy(victim->fp, fp, 32);
    memcpy(victim->key, out, 32);
    victim->last_use = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    OPENSSL_cleanse(fp, sizeof(fp));
}
