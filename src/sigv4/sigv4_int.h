/* SPDX-License-Identifier: Apache-2.0 */
/* sigv4: helpers shared by the module's files (private to src/sigv4). */
#ifndef KS_SIGV4_INT_H
#define KS_SIGV4_INT_H

#include "sigv4/sigv4.h"

/* A view into someone else's bytes. */
struct sigv4_view {
    const char *p;
    size_t n;
};

static inline char sigv4_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of p[0..n) with the lower-case string lname. */
bool sigv4_ieq(const char *p, size_t n, const char *lname, size_t lname_len);
/* RFC 7230 tchar. */
bool sigv4_is_tchar(unsigned char c);

/* Trims spaces and tabs from both ends of v. */
struct sigv4_view sigv4_trim(const char *p, size_t n);

/* Raw SHA-256 and HMAC-SHA256 (OpenSSL 3 EVP; the algorithms are fetched once). */
void sigv4_sha256(const void *p, size_t n, unsigned char out[32]);
void sigv4_hmac(const void *key, size_t key_len, const void *data, size_t data_len,
                unsigned char out[32]);
void sigv4_hex(const unsigned char *in, size_t n, char *out); /* 2n chars + NUL */

/* The signing key, through the cache when there is one. out is secret. */
void sigv4_signing_key(struct sigv4_key_cache *cache, const char *secret, const char *date8,
                       const char *region, const char *service, unsigned char out[32]);

/* Canonical URI and query (spec §2.1) appended to out. */
enum ks_err sigv4_canon_path(const char *path, size_t len, unsigned flags, struct ks_buf *out);
enum ks_err sigv4_canon_query(const char *query, size_t len, bool drop_signature,
                              struct ks_buf *out);
/* Canonical request from a list of signed header names (lower-case, in the
 * order given). Fails with KS_E_NOTFOUND when a signed header is absent and
 * missing_ok is false. */
enum ks_err sigv4_canon_request(const struct sigv4_request *req, const struct sigv4_view *names,
                                size_t nnames, const char *payload_hash, unsigned flags,
                                bool drop_signature, bool missing_ok, struct ks_buf *out);

/* Splits a ';'-separated list into names[] (views into list). Returns false
 * when an element is empty, not a lower-case token, repeated, or there are
 * more than max. */
bool sigv4_split_signed_headers(const char *list, size_t len, struct sigv4_view *names, size_t max,
                                size_t *count);

/* Percent-decodes p[0..n) into out (invalid escapes are kept literally). */
enum ks_err sigv4_pct_decode(const char *p, size_t n, struct ks_buf *out);

/* Finds the decoded value of query parameter `name` (exact, case-sensitive
 * match on the decoded name). Returns the number of occurrences; the first
 * one's decoded value is appended to val (when val is not NULL). */
size_t sigv4_query_param(const char *query, size_t len, const char *name, struct ks_buf *val);

#endif
