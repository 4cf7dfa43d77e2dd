/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sink on real loopback sockets: libcurl sending as the notifier does
 * (several recipients, dot-stuffed lines, 8-bit bytes, a message at the size
 * cap and one over it), raw sessions for what libcurl never does (pipelined
 * commands, bad sequences, over-long lines, a client vanishing in the middle
 * of DATA, an idle client, more clients than allowed, many at once), the
 * Maildir-like folder, the callback, the bounded memory and the API's
 * waits and copies.
 */
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "test_mailsink.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_curl_multi_recipient(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    static const char msg[] = "From: a@example.com\r\nTo: b@example.com\r\n"
                              "Subject: three of them\r\n\r\nhello all\r\n";
    const char *rcpt[] = {"<b@example.com>", "<c@example.com>", "<d@example.org>"};
    long code;
    int64_t t0 = now_ms();
    assert_int_equal(
        curl_send(mailsink_port(s), "<a@example.com>", rcpt, 3, msg, sizeof(msg) - 1, &code),
        CURLE_OK);
    assert_int_equal(code, 250);
    assert_int_equal(mailsink_wait(s, 1, IO_TIMEOUT_MS), KS_OK);
    int64_t t1 = now_ms();
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_int_equal(m->seq, 1);
    assert_true(m->time_ms >= t0 - 1 && m->time_ms <= t1 + 1);
    assert_string_equal(m->from, "a@example.com");
    assert_int_equal(m->n_rcpt, 3);
    assert_string_equal(m->rcpt[0], "b@example.com");
    assert_string_equal(m->rcpt[1], "c@example.com");
    assert_string_equal(m->rcpt[2], "d@example.org");
    assert_int_equal(m->raw_len, sizeof(msg) - 1);
    assert_memory_equal(m->raw, msg, sizeof(msg) - 1);
    assert_string_equal(m->subject, "three of them");
    assert_string_equal(m->body, "hello all\r\n");
    assert_null(m->path);
    assert_non_null(m->helo);
    mailsink_message_free(m);
    assert_null(mailsink_get(s, 2));
    assert_null(mailsink_get(s, 0));
    mailsink_stop(s);
}

static void test_curl_dot_stuffing_and_8bit(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    /* lines that SMTP must escape, one that looks like the terminator with
     * LF only, and every byte value but NUL, CR and LF */
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    assert_int_equal(ks_buf_addf(&b, "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n"
                                     "middle.\r\n.\n \r\n.\r\n\r\n"),
                     KS_OK);
    for (int c = 1; c < 256; c++)
        if (c != '\r' && c != '\n')
            assert_int_equal(ks_buf_add(&b, &(char){(char)c}, 1), KS_OK);
    assert_int_equal(ks_buf_addf(&b, "\r\nd\xc3\xa9j\xc3\xa0 vu\r\n"), KS_OK);
    const char *rcpt[] = {"<x@example.com>"};
    long code;
    assert_int_equal(curl_send(mailsink_port(s), "<>", rcpt, 1, b.data, b.len, &code), CURLE_OK);
    assert_int_equal(mailsink_wait(s, 1, IO_TIMEOUT_MS), KS_OK);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_string_equal(m->from, ""); /* the null sender */
    assert_int_equal(m->raw_len, b.len);
    assert_memory_equal(m->raw, b.data, b.len);
    assert_string_equal(m->subject, "dots");
    mailsink_message_free(m);
    ks_buf_release(&b);
    mailsink_stop(s);
}

static void test_curl_size_cap(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_message_bytes = 256 * 1024};
    struct mailsink *s = sink_start(&o);
    size_t n = o.max_message_bytes;
    char *big = malloc(n + 4096);
    assert_non_null(big);
    /* 100-byte lines; the last one shortened so the total is exactly n */
    size_t len = (size_t)snprintf(big, 64, "Subject: big\r\n\r\n");
    while (len + 100 <= n) {
        memset(big + len, 'a' + (char)(len % 26), 98);
        memcpy(big + len + 98, "\r\n", 2);
        len += 100;
    }
    memset(big + len, 'z', n - len - 2);
    memcpy(big + n - 2, "\r\n", 2);
    const char *rcpt[] = {"<x@example.com>"};
    long code;
    assert_int_equal(curl_send(mailsink_port(s), "<a@example.com>", rcpt, 1, big, n, &code),
                     CURLE_OK);
    assert_int_equal(mailsink_wait(s, 1, IO_TIMEOUT_MS), KS_OK);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_int_equal(m->raw_len, n);
    assert_memory_equal(m->raw, big, n);
    mailsink_message_free(m);

    /* one byte over: libcurl declares SIZE=, the sink refuses at MAIL */
    memset(big + n - 2, 'y', 1);
    memcpy(big + n - 1, "\r\n", 2);
    assert_int_not_equal(curl_send(mailsink_port(s), "<a@example.com>", rcpt, 1, big, n + 1, &code),
                         CURLE_OK);
    assert_int_equal(code, 552);
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(mailsink_count(s), 1);

    /* and it keeps working */
    static const char small[] = "Subject: after\r\n\r\nok\r\n";
    assert_int_equal(
        curl_send(mailsink_port(s), "<a@example.com>", rcpt, 1, small, sizeof(small) - 1, &code),
        CURLE_OK);
    assert_int_equal(mailsink_wait(s, 2, IO_TIMEOUT_MS), KS_OK);
    free(big);
    mailsink_stop(s);
}

static void test_raw_over_cap_without_size(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_message_bytes = 4096};
    struct mailsink *s = sink_start(&o);
    struct raw_pending *p = malloc(sizeof(*p));
    int fd = raw_session(mailsink_port(s), p);
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    char line[102];
    memset(line, 'q', 100);
    memcpy(line + 100, "\r\n", 2);
    for (int i = 0; i < 100; i++) /* 10 KB: over the cap, under nothing else */
        raw_send(fd, line, sizeof(line));
    char r[512];
    raw_sends(fd, ".\r\n");
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 552);
    /* the same connection carries on with a fresh transaction */
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    assert_int_equal(raw_cmd(fd, p, "Subject: fits\r\n\r\nx\r\n."), 250);
    close(fd);
    free(p);
    assert_int_equal(mailsink_count(s), 1);
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.rejected, 1);
    mailsink_stop(s);
}

static void test_raw_pipelined(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    struct raw_pending *p = malloc(sizeof(*p));
    p->len = 0;
    int fd = raw_connect(mailsink_port(s));
    /* the whole session in one write, as a PIPELINING client may */
    raw_sends(fd, "EHLO pipe.example\r\nMAIL FROM:<a@example.com> SIZE=40 BODY=8BITMIME\r\n"
                  "RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
                  "Subject: piped\r\n\r\n..dot\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n");
    static const int want[] = {220, 250, 250, 250, 250, 354, 250, 250, 250, 221};
    char r[4096];
    for (size_t i = 0; i < KS_ARRAY_LEN(want); i++) {
        int code = raw_reply(fd, p, r, sizeof(r));
        if (code != want[i])
            fail_msg("reply %zu: want %d, got %d (%s)", i, want[i], code, r);
        if (i == 1) {
            assert_non_null(strstr(r, "250-SIZE 10485760\r\n"));
            assert_non_null(strstr(r, "250-8BITMIME\r\n"));
            assert_non_null(strstr(r, "PIPELINING"));
            assert_null(strstr(r, "STARTTLS"));
        }
    }
    assert_true(raw_eof(fd, p));
    close(fd);
    free(p);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_string_equal(m->helo, "pipe.example");
    assert_int_equal(m->n_rcpt, 2);
    assert_string_equal(m->body, ".dot\r\n");
    mailsink_message_free(m);
    mailsink_stop(s);
}

/* One command and the reply code it must get, in a session's order. */
struct step {
    const char *line;
    int code;
};

static void run_steps(struct mailsink *s, const struct step *st, size_t n, bool ehlo)
{
    struct raw_pending *p = malloc(sizeof(*p));
    int fd;
    if (ehlo) {
        fd = raw_session(mailsink_port(s), p);
    } else {
        char r[512];
        p->len = 0;
        fd = raw_connect(mailsink_port(s));
        assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 220);
    }
    for (size_t i = 0; i < n; i++) {
        int code = raw_cmd(fd, p, st[i].line);
        if (code != st[i].code)
            fail_msg("'%s': want %d, got %d", st[i].line, st[i].code, code);
    }
    close(fd);
    free(p);
}

static void test_raw_sequence(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    static const struct step before_helo[] = {
        {"MAIL FROM:<a@example.com>", 503},
        {"NOOP", 250},
        {"HELO", 501},
        {"HELO client.example", 250},
        {"MAIL FROM:<a@example.com>", 250},
    };
    run_steps(s, before_helo, KS_ARRAY_LEN(before_helo), false);
    static const struct step seq[] = {
        {"RCPT TO:<b@example.com>", 503},
        {"DATA", 503},
        {"MAIL FROM:<a@example.com>", 250},
        {"MAIL FROM:<a@example.com>", 503},
        {"DATA", 503},
        {"RCPT TO:<>", 501},
        {"RCPT TO:b@example.com", 250}, /* brackets forgotten: accepted */
        {"DATA now", 501},
        {"RSET", 250},
        {"DATA", 503},
        {"VRFY someone", 252},
        {"STARTTLS", 502},
        {"AUTH PLAIN AGFiYwBkZWY=", 502},
        {"BDAT 10 LAST", 502},
        {"FROBNICATE", 500},
        {"", 500},
        {"HELP", 214},
        {"mail from:<lower@example.com>", 250},
        {"rcpt to:<x@example.com> NOTIFY=NEVER", 555},
        {"RCPT TO:<\"quoted > space\"@example.com>", 250},
        {"RSET", 250},
        {"MAIL FROM:<a@example.com> SIZE=abc", 501},
        {"MAIL FROM:<a@example.com> BODY=BINARYMIME", 501},
        {"MAIL FROM:<a@example.com> SMTPUTF8", 555},
        {"MAIL FROM:<a@example.com> SIZE=99999999999999999999999", 501},
        {"MAIL FROM:<a@example.com> SIZE=10485761", 552},
        {"MAIL FROM:<a@example.com", 501},
        {"MAIL TO:<a@example.com>", 501},
        {"NOOP", 250},
    };
    run_steps(s, seq, KS_ARRAY_LEN(seq), true);
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.bad_commands, 21);
    assert_int_equal(mailsink_count(s), 0);
    mailsink_stop(s);
}

static void test_raw_recipient_cap(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_recipients = 3};
    struct mailsink *s = sink_start(&o);
    static const struct step steps[] = {
        {"MAIL FROM:<a@example.com>", 250},  {"RCPT TO:<1@example.com>", 250},
        {"RCPT TO:<2@example.com>", 250},    {"RCPT TO:<3@example.com>", 250},
        {"RCPT TO:<4@example.com>", 452},    {"DATA", 354},
        {"Subject: cap\r\n\r\nx\r\n.", 250},
    };
    run_steps(s, steps, KS_ARRAY_LEN(steps), true);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_int_equal(m->n_rcpt, 3);
    mailsink_message_free(m);
    mailsink_stop(s);
}

static void test_raw_long_lines(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_line_bytes = 1000};
    struct mailsink *s = sink_start(&o);
    struct raw_pending *p = malloc(sizeof(*p));
    int fd = raw_session(mailsink_port(s), p);
    char *junk = malloc(100000);
    memset(junk, 'A', 100000);
    /* a command line 100 times the cap, then an ordinary one */
    raw_send(fd, junk, 100000);
    char r[512];
    raw_sends(fd, "\r\n");
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 500);
    assert_non_null(strstr(r, "too long"));
    assert_int_equal(raw_cmd(fd, p, "NOOP"), 250);
    /* exactly at the cap (CRLF included) is fine */
    char line[1001];
    memcpy(line, "NOOP ", 5);
    memset(line + 5, 'x', 1000 - 7);
    line[998] = '\0';
    assert_int_equal(raw_cmd(fd, p, line), 250);
    /* an over-long DATA line spoils that message only */
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    raw_sends(fd, "Subject: long\r\n\r\n");
    raw_send(fd, junk, 5000);
    raw_sends(fd, "\r\n.\r\n");
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 500);
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    assert_int_equal(raw_cmd(fd, p, "Subject: short\r\n\r\nx\r\n."), 250);
    close(fd);
    free(junk);
    free(p);
    assert_int_equal(mailsink_count(s), 1);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_string_equal(m->subject, "short");
    mailsink_message_free(m);
    mailsink_stop(s);
}

static bool one_aborted(const struct mailsink_stats *st)
{
    return st->aborted == 1 && st->open == 0;
}

static void test_raw_disconnect_mid_data(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    struct raw_pending *p = malloc(sizeof(*p));
    int fd = raw_session(mailsink_port(s), p);
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    raw_sends(fd, "Subject: cut\r\n\r\nhalf a mess");
    close(fd);
    free(p);
    struct mailsink_stats st = wait_stats(s, one_aborted);
    assert_int_equal(st.aborted, 1);
    assert_int_equal(st.open, 0);
    assert_int_equal(mailsink_count(s), 0);
    assert_sink_alive(s);
    assert_int_equal(mailsink_count(s), 1);
    mailsink_stop(s);
}

static void test_raw_idle_timeout(void **state)
{
    (void)state;
    struct mailsink_options o = {.idle_timeout_ms = 200};
    struct mailsink *s = sink_start(&o);
    struct raw_pending *p = malloc(sizeof(*p));
    int fd = raw_session(mailsink_port(s), p);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char r[512];
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 421);
    assert_true(raw_eof(fd, p));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs >= 0.15 && secs < 3.0);
    close(fd);
    /* idle in the middle of DATA too */
    fd = raw_session(mailsink_port(s), p);
    assert_int_equal(raw_cmd(fd, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(fd, p, "DATA"), 354);
    raw_sends(fd, "Subject: stalled\r\n");
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 421);
    assert_true(raw_eof(fd, p));
    close(fd);
    free(p);
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(mailsink_count(s), 0);
    mailsink_stop(s);
}

static bool zero_open(const struct mailsink_stats *st)
{
    return st->open == 0;
}

static void test_raw_client_never_reads(void **state)
{
    (void)state;
    struct mailsink_options o = {.idle_timeout_ms = 300};
    struct mailsink *s = sink_start(&o);
    struct raw_pending *p = malloc(sizeof(*p));
    p->len = 0;
    char r[512];
    int fd = raw_connect(mailsink_port(s));
    assert_int_equal(raw_reply(fd, p, r, sizeof(r)), 220);
    free(p);
    /* pipelined NOOPs and never a read: the replies pile up at the sink,
     * which must stop reading, then drop the client, not grow or hang */
    static char noops[6 * 4096];
    for (size_t i = 0; i < sizeof(noops); i += 6)
        memcpy(noops + i, "NOOP\r\n", 6);
    size_t sent = 0;
    for (int i = 0; i < 2000; i++) {
        ssize_t w = send(fd, noops, sizeof(noops), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    assert_true(sent > 0);
    /* dropped either at the idle timeout or when its unsent replies pass
     * 1 MiB, whichever the kernel's buffers make come first */
    struct mailsink_stats st = wait_stats(s, zero_open);
    if (st.open)
        fail_msg("still open after %zu bytes", sent);
    assert_int_equal(st.connections, 1);
    close(fd);
    assert_sink_alive(s);
    mailsink_stop(s);
}

static bool one_open(const struct mailsink_stats *st)
{
    return st->open == 3;
}

static void test_raw_max_connections(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_connections = 4};
    struct mailsink *s = sink_start(&o);
    struct raw_pending *p = malloc(sizeof(*p));
    int fds[4];
    char r[512];
    for (int i = 0; i < 4; i++)
        fds[i] = raw_session(mailsink_port(s), p);
    int extra = raw_connect(mailsink_port(s));
    p->len = 0;
    assert_int_equal(raw_reply(extra, p, r, sizeof(r)), 421);
    assert_true(raw_eof(extra, p));
    close(extra);
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.open, 4);
    /* the four still work; closing one makes room */
    for (int i = 0; i < 4; i++)
        assert_int_equal(raw_cmd(fds[i], p, "NOOP"), 250);
    close(fds[0]);
    st = wait_stats(s, one_open);
    assert_int_equal(st.open, 3);
    fds[0] = raw_session(mailsink_port(s), p);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    free(p);
    mailsink_stop(s);
}

static void test_raw_many_interleaved(void **state)
{
    (void)state;
    enum { N = 24 };
    struct mailsink *s = sink_start(NULL);
    struct raw_pending *p = malloc(N * sizeof(*p));
    int fd[N];
    for (int i = 0; i < N; i++)
        fd[i] = raw_session(mailsink_port(s), &p[i]);
    /* each step goes to every client before the next step: the sink must
     * keep N half-done transactions apart */
    static const int codes[] = {250, 250, 354, 250};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < N; i++) {
            char line[128];
            if (k == 0)
                snprintf(line, sizeof(line), "MAIL FROM:<c%d@example.com>", i);
            else if (k == 1)
                snprintf(line, sizeof(line), "RCPT TO:<r%d@example.com>", i);
            else if (k == 2)
                snprintf(line, sizeof(line), "DATA");
            else
                snprintf(line, sizeof(line), "Subject: client %d\r\n\r\nbody %d\r\n.", i, i);
            assert_int_equal(raw_cmd(fd[i], &p[i], line), codes[k]);
        }
    for (int i = 0; i < N; i++)
        close(fd[i]);
    free(p);
    assert_int_equal(mailsink_wait(s, N, IO_TIMEOUT_MS), KS_OK);
    bool seen[N] = {false};
    for (uint64_t q = 1; q <= N; q++) {
        struct mailsink_message *m = mailsink_get(s, q);
        assert_non_null(m);
        int who = -1;
        assert_int_equal(sscanf(m->subject, "client %d", &who), 1);
        assert_true(who >= 0 && who < N && !seen[who]);
        seen[who] = true;
        char want[64];
        snprintf(want, sizeof(want), "c%d@example.com", who);
        assert_string_equal(m->from, want);
        mailsink_message_free(m);
    }
    mailsink_stop(s);
}

struct seen {
    int calls;
    uint64_t last_seq;
    char subject[64];
};

static void on_message(void *ud, const struct mailsink_message *m)
{
    struct seen *x = ud;
    x->calls++;
    x->last_seq = m->seq;
    snprintf(x->subject, sizeof(x->subject), "%s", m->subject ? m->subject : "(null)");
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    static const char *const sub[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < KS_ARRAY_LEN(sub); i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char f[1024];
            if (e->d_name[0] == '.')
                continue;
            snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
            unlink(f);
        }
        if (d)
            closedir(d);
        rmdir(p);
    }
    rmdir(dir);
}

static void test_maildir_and_callback(void **state)
{
    (void)state;
    char dir[] = "/tmp/ks-mailsink-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char box[300];
    snprintf(box, sizeof(box), "%s/box", dir); /* created by the sink */
    struct seen x = {0};
    struct mailsink_options o = {.dir = box, .on_message = on_message, .ud = &x};
    struct mailsink *s = sink_start(&o);
    static const char msg[] = "Subject: filed\r\n\r\nkeep me\r\n";
    const char *rcpt[] = {"<b@example.com>", "<c@example.com>"};
    long code;
    assert_int_equal(
        curl_send(mailsink_port(s), "<a@example.com>", rcpt, 2, msg, sizeof(msg) - 1, &code),
        CURLE_OK);
    assert_int_equal(mailsink_wait(s, 1, IO_TIMEOUT_MS), KS_OK);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_non_null(m);
    assert_non_null(m->path);
    char newdir[320], tmpdir[320];
    snprintf(newdir, sizeof(newdir), "%s/new/", box);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", box);
    assert_memory_equal(m->path, newdir, strlen(newdir));
    assert_non_null(strstr(m->path, ".eml"));
    struct stat sb;
    assert_int_equal(stat(m->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(box, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    FILE *f = fopen(m->path, "rb");
    assert_non_null(f);
    char got[512];
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = '\0';
    static const char want[] = "Return-Path: <a@example.com>\r\nDelivered-To: b@example.com\r\n"
                               "Delivered-To: c@example.com\r\nSubject: filed\r\n\r\nkeep me\r\n";
    assert_string_equal(got, want);
    assert_int_equal(count_files(tmpdir), 0);
    mailsink_message_free(m);
    /* the callback ran on the sink thread before the 250 reached curl */
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.last_seq, 1);
    assert_string_equal(x.subject, "filed");

    /* when the file cannot be written the client hears 451 and nothing is kept */
    assert_int_equal(rmdir(tmpdir), 0);
    assert_int_not_equal(
        curl_send(mailsink_port(s), "<a@example.com>", rcpt, 2, msg, sizeof(msg) - 1, &code),
        CURLE_OK);
    assert_int_equal(code, 451);
    assert_int_equal(mailsink_count(s), 1);
    assert_int_equal(x.calls, 1);
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    mailsink_stop(s);
    rm_rf(box);
    rmdir(dir);
}

static void test_bounded_memory(void **state)
{
    (void)state;
    struct mailsink_options o = {.keep_messages = 3};
    struct mailsink *s = sink_start(&o);
    for (int i = 0; i < 5; i++)
        assert_sink_alive(s);
    assert_int_equal(mailsink_count(s), 5);
    assert_null(mailsink_get(s, 1));
    assert_null(mailsink_get(s, 2));
    for (uint64_t q = 3; q <= 5; q++) {
        struct mailsink_message *m = mailsink_get(s, q);
        assert_non_null(m);
        assert_int_equal(m->seq, q);
        mailsink_message_free(m);
    }
    assert_null(mailsink_get(s, 6));
    mailsink_stop(s);

    /* by bytes: assert_sink_alive's message is 30 bytes; 70 bytes keep two */
    struct mailsink_options ob = {.keep_bytes = 70};
    s = sink_start(&ob);
    for (int i = 0; i < 4; i++)
        assert_sink_alive(s);
    assert_null(mailsink_get(s, 2));
    for (uint64_t q = 3; q <= 4; q++) {
        struct mailsink_message *m = mailsink_get(s, q);
        assert_non_null(m);
        assert_int_equal(m->raw_len, 30);
        mailsink_message_free(m);
    }
    mailsink_stop(s);
}

static void test_wait_timeout_and_options(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mailsink_wait(s, 1, 150), KS_E_LIMIT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 140 && ms < 2000);
    assert_int_equal(mailsink_wait(s, 0, 0), KS_OK);
    mailsink_stop(s);
    mailsink_stop(NULL);

    struct mailsink *bad = NULL;
    struct ks_diag d;
    struct mailsink_options o = {.address = "localhost"};
    assert_int_equal(mailsink_start(&o, &bad, &d), KS_E_INVALID);
    assert_non_null(strstr(d.msg, "numeric"));
    o.address = "192.0.2.1";
    assert_int_equal(mailsink_start(&o, &bad, &d), KS_E_INVALID);
    assert_non_null(strstr(d.msg, "loopback"));
    o.address = NULL;
    o.dir = "/proc/version/box";
    assert_int_equal(mailsink_start(&o, &bad, &d), KS_E_INVALID);
    assert_null(bad);
    /* the port is taken: an I/O error, not a crash */
    s = sink_start(NULL);
    struct mailsink_options same = {.port = mailsink_port(s)};
    assert_int_equal(mailsink_start(&same, &bad, &d), KS_E_IO);
    mailsink_stop(s);
    /* IPv6 loopback when the host has it */
    struct mailsink_options v6 = {.address = "::1"};
    if (mailsink_start(&v6, &s, &d) == KS_OK)
        mailsink_stop(s);
    else
        assert_int_equal(d.err, KS_E_IO);
}

static bool two_open(const struct mailsink_stats *st)
{
    return st->open == 2;
}

static void test_stop_with_open_connections(void **state)
{
    (void)state;
    struct mailsink *s = sink_start(NULL);
    struct raw_pending *p = malloc(sizeof(*p));
    int a = raw_session(mailsink_port(s), p);
    int b = raw_session(mailsink_port(s), p);
    assert_int_equal(raw_cmd(b, p, "MAIL FROM:<a@example.com>"), 250);
    assert_int_equal(raw_cmd(b, p, "RCPT TO:<b@example.com>"), 250);
    assert_int_equal(raw_cmd(b, p, "DATA"), 354);
    raw_sends(b, "Subject: interrupted\r\n");
    assert_int_equal(wait_stats(s, two_open).open, 2);
    mailsink_stop(s); /* must not wait for the clients */
    char r[512];
    p->len = 0;
    assert_int_equal(raw_reply(a, p, r, sizeof(r)), 421);
    assert_true(raw_eof(a, p));
    close(a);
    close(b);
    free(p);
}

int run_smtp_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_multi_recipient),
        cmocka_unit_test(test_curl_dot_stuffing_and_8bit),
        cmocka_unit_test(test_curl_size_cap),
        cmocka_unit_test(test_raw_over_cap_without_size),
        cmocka_unit_test(test_raw_pipelined),
        cmocka_unit_test(test_raw_sequence),
        cmocka_unit_test(test_raw_recipient_cap),
        cmocka_unit_test(test_raw_long_lines),
        cmocka_unit_test(test_raw_disconnect_mid_data),
        cmocka_unit_test(test_raw_idle_timeout),
        cmocka_unit_test(test_raw_max_connections),
        cmocka_unit_test(test_raw_client_never_reads),
        cmocka_unit_test(test_raw_many_interleaved),
        cmocka_unit_test(test_maildir_and_callback),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_wait_timeout_and_options),
        cmocka_unit_test(test_stop_with_open_connections),
    };
    return cmocka_run_group_tests_name("mailsink_smtp", tests, NULL, NULL);
}
