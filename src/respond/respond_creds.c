/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: AWS credentials from the environment and the shared credentials
 * file, resolved the way the AWS CLI does (docs/responses.md#credentials).
 *
 * Secrets are copied into allocations of their own and wiped on release; the
 * file's text is read into a plain buffer that is wiped before it is freed.
 * Messages name files, profiles and line numbers, never values.
 */
#include "respond/respond_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

extern char **environ;

void respond_creds_release(struct respond_creds *c)
{
    if (!c)
        return;
    respond_secret_free(c->access_key_id);
    respond_secret_free(c->secret_access_key);
    respond_secret_free(c->session_token);
    c->access_key_id = c->secret_access_key = c->session_token = NULL;
    c->source[0] = '\0';
}

const char *respond_getenv(const char *const *env, const char *name)
{
    if (!env)
        return getenv(name);
    size_t n = strlen(name);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* [s, e) trimmed of blanks. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

static bool name_eq(const char *s, const char *e, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(e - s) == n && strncasecmp(s, name, n) == 0;
}

static char *dup_range(const char *s, const char *e)
{
    return ks_xmemdup(s, (size_t)(e - s));
}

enum ks_err respond_creds_parse(const char *text, size_t len, const char *profile,
                                struct respond_creds *out, struct ks_diag *diag)
{
    memset(out, 0, sizeof(*out));
    const char *p = text, *end = text + len;
    bool in_profile = false, found = false;
    unsigned line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line++;
        const char *ls = s;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            if (e[-1] != ']') {
                respond_creds_release(out);
                return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX,
                                   "line %u: a section header must end with ']'", line);
            }
            const char *ns = s + 1, *ne = e - 1;
            trim(&ns, &ne);
            in_profile = (size_t)(ne - ns) == strlen(profile) &&
                         strncmp(ns, profile, (size_t)(ne - ns)) == 0;
            found |= in_profile;
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            /* Continuation lines (indented) belong to nested settings
             * such as s3 = ...; they never carry credentials. */
            if (s > ls)
                continue;
            respond_creds_release(out);
            return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX,
                               "line %u: expected 'name = value' or '[profile]'", line);
        }
        if (!in_profile)
            continue;
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        char **slot = NULL;
        if (name_eq(ks, ke, "aws_access_key_id"))
            slot = &out->access_key_id;
        else if (name_eq(ks, ke, "aws_secret_access_key"))
            slot = &out->secret_access_key;
        else if (name_eq(ks, ke, "aws_session_token") ||
                 (name_eq(ks, ke, "aws_security_token") && !out->session_token))
            slot = &out->session_token;
        if (!slot)
            continue;
        respond_secret_free(*slot);
        *slot = vs < ve ? dup_range(vs, ve) : NULL;
    }
    if (!found)
        return ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "no profile '%s'", profile);
    if (!out->access_key_id || !out->secret_access_key) {
        const char *missing = !out->access_key_id ? "aws_access_key_id" : "aws_secret_access_key";
        respond_creds_release(out);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "profile '%s' has no %s", profile,
                           missing);
    }
    return KS_OK;
}

/* Reads a whole small file into a buffer the caller wipes and frees. */
static enum ks_err read_secret_file(const char *path, char **text, size_t *len,
                                    struct ks_diag *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ks_diag_set(diag, errno == ENOENT ? KS_E_NOTFOUND : KS_E_IO, SIZE_MAX,
                           "cannot open credentials file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "credentials file '%s' is not a file", path);
    }
    if ((uint64_t)st.st_size > RESPOND_MAX_CRED_FILE_BYTES) {
        close(fd);
        return ks_diag_set(diag, KS_E_TOOBIG, SIZE_MAX,
                           "credentials file '%s' is larger than %u bytes", path,
                           RESPOND_MAX_CRED_FILE_BYTES);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = ks_xmalloc(cap);
    for (;;) {
        if (n == cap - 1)
            break;
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            close(fd);
            OPENSSL_cleanse(buf, cap);
            free(buf);
            return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot read credentials file '%s': %s",
                               path, strerror(err));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return KS_OK;
}

enum ks_err respond_creds_resolve(const char *profile, const char *const *env,
                                  struct respond_creds *out, struct ks_diag *diag)
{
    memset(out, 0, sizeof(*out));
    if (!profile) {
        const char *ak = respond_getenv(env, "AWS_ACCESS_KEY_ID");
        const char *sk = respond_getenv(env, "AWS_SECRET_ACCESS_KEY");
        if (ak && *ak && sk && *sk) {
            const char *tok = respond_getenv(env, "AWS_SESSION_TOKEN");
            out->access_key_id = ks_xstrdup(ak);
            out->secret_access_key = ks_xstrdup(sk);
            out->session_token = tok && *tok ? ks_xstrdup(tok) : NULL;
            snprintf(out->source, sizeof(out->source), "environment");
            return KS_OK;
        }
        profile = respond_getenv(env, "AWS_PROFILE");
        if (!profile || !*profile)
            profile = "default";
    }
    char path[4096];
    const char *file = respond_getenv(env, "AWS_SHARED_CREDENTIALS_FILE");
    if (file && *file) {
        if (file[0] == '~' && file[1] == '/') {
            const char *home = respond_getenv(env, "HOME");
            snprintf(path, sizeof(path), "%s%s", home ? home : "", file + 1);
        } else {
            snprintf(path, sizeof(path), "%s", file);
        }
    } else {
        const char *home = respond_getenv(env, "HOME");
        if (!home || !*home)
            return ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX,
                               "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are "
                               "not set and HOME is unknown");
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    }
    char *text = NULL;
    size_t len = 0;
    enum ks_err e = read_secret_file(path, &text, &len, diag);
    if (e == KS_E_NOTFOUND)
        return ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX,
                           "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not "
                           "set and '%s' does not exist",
                           path);
    if (e)
        return e;
    struct ks_diag sub;
    ks_diag_clear(&sub);
    e = respond_creds_parse(text, len, profile, out, &sub);
    OPENSSL_cleanse(text, len);
    free(text);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "credentials file '%s': %s", path, sub.msg);
    snprintf(out->source, sizeof(out->source), "profile '%.64s' in '%.200s'", profile, path);
    return KS_OK;
}
