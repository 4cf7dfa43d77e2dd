/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers of the notify module: clocks, randomness, URL encoding,
 * secret files, line endings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "notify/notify_int.h"

int64_t notify_now_ms(struct notify_hub *hub)
{
    if (hub && hub->opts.clock)
        return hub->opts.clock(hub->opts.clock_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t notify_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double notify_random(struct notify_hub *hub)
{
    if (hub && hub->opts.random)
        return hub->opts.random(hub->opts.random_ud);
    uint64_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        return 0.5; /* no entropy: jitter is a courtesy, not a security property */
    return (double)(v >> 11) / 9007199254740992.0; /* 53 bits into [0, 1) */
}

void notify_random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (bytes > sizeof(buf))
        bytes = sizeof(buf);
    if (RAND_bytes(buf, (int)bytes) != 1) {
        /* tokens without entropy would be guessable: refuse to go on */
        fputs("keysentry: notify: the random number generator failed\n", stderr);
        abort();
    }
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * bytes] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
}

enum ks_err notify_url_encode(struct ks_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        enum ks_err e;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            e = ks_buf_add(b, p, 1);
        } else {
            char t[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            e = ks_buf_add(b, t, 3);
        }
        if (e)
            return e;
    }
    return KS_OK;
}

char *notify_read_secret_file(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = ks_xmalloc(max + 1);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == max)
            break;
    }
    close(fd);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

void notify_free_argv(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

enum ks_err notify_add_crlf(struct ks_buf *b, const char *s)
{
    const char *p = s;
    while (*p) {
        size_t run = strcspn(p, "\r\n");
        enum ks_err e = ks_buf_add(b, p, run);
        if (e)
            return e;
        p += run;
        if (*p == '\n') {
            if ((e = ks_buf_add(b, "\r\n", 2)))
                return e;
            p++;
        } else if (*p == '\r') {
            p++;
        }
    }
    return KS_OK;
}

char *notify_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = ks_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void notify_attempt_fail(struct notify_attempt *res, enum notify_result r, const char *fmt, ...)
{
    res->res = r;
    char msg[NOTIFY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ks_buf_reset(&res->error);
    if (ks_buf_add(&res->error, msg, strlen(msg)))
        ks_buf_reset(&res->error);
}
