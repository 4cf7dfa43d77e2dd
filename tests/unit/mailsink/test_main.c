/* SPDX-License-Identifier: Apache-2.0 */
/* One ctest entry (unit_mailsink) running every mailsink test group, and the
 * helpers they share. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "test_mailsink.h"

struct mailsink *sink_start(const struct mailsink_options *o)
{
    struct mailsink_options d;
    memset(&d, 0, sizeof(d));
    struct mailsink *s = NULL;
    struct ks_diag diag;
    if (mailsink_start(o ? o : &d, &s, &diag) != KS_OK)
        fail_msg("mailsink_start: %s", diag.msg);
    assert_true(mailsink_port(s) > 0);
    return s;
}

int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

void raw_send(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

void raw_sends(int fd, const char *s)
{
    raw_send(fd, s, strlen(s));
}

/* Fills pend with more bytes; false at EOF, error or timeout. */
static bool fill(int fd, struct raw_pending *pend)
{
    if (pend->len == sizeof(pend->buf))
        return false;
    ssize_t r;
    do
        r = recv(fd, pend->buf + pend->len, sizeof(pend->buf) - pend->len, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return false;
    pend->len += (size_t)r;
    return true;
}

int raw_reply(int fd, struct raw_pending *pend, char *out, size_t outsz)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(pend->buf + start, '\n', pend->len - start);
        if (!nl) {
            if (!fill(fd, pend))
                return -1;
            continue;
        }
        size_t end = (size_t)(nl - pend->buf) + 1;
        /* "250-..." continues, "250 ..." ends the reply */
        bool last = end - start < 4 || pend->buf[start + 3] != '-';
        start = end;
        if (!last)
            continue;
        size_t n = start < outsz ? start : outsz - 1;
        memcpy(out, pend->buf, n);
        out[n] = '\0';
        int code = -1;
        if (start >= 3 && pend->buf[0] >= '0' && pend->buf[0] <= '9')
            code = (pend->buf[0] - '0') * 100 + (pend->buf[1] - '0') * 10 + (pend->buf[2] - '0');
        memmove(pend->buf, pend->buf + start, pend->len - start);
        pend->len -= start;
        return code;
    }
}

bool raw_eof(int fd, struct raw_pending *pend)
{
    for (int i = 0; i < 64; i++) {
        pend->len = 0;
        char b[4096];
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
        if (r < 0)
            return false; /* timeout */
    }
    return false;
}

int raw_cmd(int fd, struct raw_pending *pend, const char *line)
{
    /* one write per command: two would meet Nagle and a delayed ACK (40 ms) */
    size_t n = strlen(line);
    char *buf = malloc(n + 2);
    assert_non_null(buf);
    memcpy(buf, line, n);
    memcpy(buf + n, "\r\n", 2);
    raw_send(fd, buf, n + 2);
    free(buf);
    char r[4096];
    return raw_reply(fd, pend, r, sizeof(r));
}

int raw_session(uint16_t port, struct raw_pending *pend)
{
    int fd = raw_connect(port);
    pend->len = 0;
    char r[4096];
    assert_int_equal(raw_reply(fd, pend, r, sizeof(r)), 220);
    assert_int_equal(raw_cmd(fd, pend, "EHLO test.example"), 250);
    return fd;
}

struct reader {
    const char *p;
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct reader *r = ud;
    size_t len = size * n < r->left ? size * n : r->left;
    memcpy(buf, r->p, len);
    r->p += len;
    r->left -= len;
    return len;
}

int curl_send(uint16_t port, const char *from, const char *const *rcpt, size_t n_rcpt,
              const char *data, size_t len, long *code)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%u", (unsigned)port);
    struct curl_slist *to = NULL;
    for (size_t i = 0; i < n_rcpt; i++)
        to = curl_slist_append(to, rcpt[i]);
    struct reader rd = {data, len};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    /* what src/notify does with its default StartTls: Opportunistic */
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    CURLcode rc = curl_easy_perform(c);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(to);
    curl_easy_cleanup(c);
    return (int)rc;
}

struct mailsink_stats wait_stats(struct mailsink *s, bool (*pred)(const struct mailsink_stats *))
{
    struct mailsink_stats st;
    for (int i = 0; i < IO_TIMEOUT_MS / 10; i++) {
        mailsink_stats(s, &st);
        if (pred(&st))
            return st;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    mailsink_stats(s, &st);
    return st;
}

void assert_sink_alive(struct mailsink *s)
{
    uint64_t before = mailsink_count(s);
    struct raw_pending *p = malloc(sizeof(*p));
    assert_non_null(p);
    int fd = raw_session(mailsink_port(s), p);
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<alive@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<check@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    assert_int_equal(raw_cmd(fd, p, "Subject: alive\r\n\r\nstill here\r\n."), 250);
    assert_int_equal(raw_cmd(fd, p, "QUIT"), 221);
    close(fd);
    free(p);
    assert_int_equal(mailsink_wait(s, before + 1, IO_TIMEOUT_MS), KS_OK);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int fails = 0;
    fails += run_parse_tests();
    fails += run_smtp_tests();
    fails += run_hostile_tests();
    fails += run_notify_path_tests();
    curl_global_cleanup();
    return fails ? 1 : 0;
}
