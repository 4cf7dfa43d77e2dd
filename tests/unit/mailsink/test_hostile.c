/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile clients: a table of sessions nobody sane sends, then seeded random
 * sessions built from SMTP fragments and raw bytes. After each the sink must
 * still answer a whole transaction on a fresh connection; nothing may crash,
 * hang (every read has a timeout) or be accepted that should not be.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_mailsink.h"

/* Sends bytes, reads whatever comes back for a moment, closes. */
static void blast(uint16_t port, const char *p, size_t n)
{
    int fd = raw_connect(port);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* the sink may close first (421 after too many errors): a failed send
     * is an answer too */
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    /* the end of input: the sink must see EOF wherever the session stopped */
    shutdown(fd, SHUT_WR);
    char b[4096];
    for (int i = 0; i < 64 && recv(fd, b, sizeof(b), 0) > 0; i++) {
    }
    close(fd);
}

#define S(x)                                                                                       \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }

static const struct {
    const char *p;
    size_t n;
} hostile[] = {
    S(""),
    S("\r\n\r\n\r\n"),
    S("\n\n\n\n"),
    S("\r\r\r\r\r\r"),
    S("\0\0\0\0\r\n"),
    S("EHLO \0x\r\nMAIL FROM:<a\0b@x>\r\n"),
    S("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),             /* then gone */
    S("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r"),          /* half terminator */
    S("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\n.\nQUIT\n"), /* bare-LF dot */
    S("EHLO x\r\nMAIL FROM:<\x1b[31mred@x>\r\n"),
    S("EHLO x\r\nMAIL FROM:<a@b\r\n>\r\n"),
    S("EHLO x\r\nMAIL FROM:<<<<<<<<<<<<<<<<<<<<<<<<<>>>>>>>>>>>>>\r\n"),
    S("EHLO x\r\nMAIL FROM:<\"\\\"\\\\\"@x>\r\nMAIL FROM:<\"unterminated@x>\r\n"),
    S("EHLO x\r\nMAIL FROM:<a@b> SIZE=\r\nMAIL FROM:<a@b> SIZE=-1\r\nMAIL FROM:<a@b> =\r\n"),
    S("EHLO x\r\nRCPT TO:<a@b>\r\nDATA\r\nhello\r\n.\r\n"), /* data without a transaction */
    S("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    S("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
    S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), /* a TLS ClientHello */
    S("EHLO \xff\xfe\xfd\r\nHELO =?utf-8?B?AAAA?=\r\n"),
    S("QUIT\r\nQUIT\r\nQUIT\r\n"),
    S("EHLO x\r\nBDAT 1000000 LAST\r\n"),
    S("STARTTLS\r\n\x16\x03\x01"),
};

static void test_hostile_table(void **state)
{
    (void)state;
    struct mailsink_options o = {.max_line_bytes = 600, .max_message_bytes = 8192};
    struct mailsink *s = sink_start(&o);
    for (size_t i = 0; i < KS_ARRAY_LEN(hostile); i++) {
        blast(mailsink_port(s), hostile[i].p, hostile[i].n);
        if (mailsink_count(s) != 0)
            fail_msg("hostile session %zu delivered a message", i);
    }
    /* every one of them again, at once, on parallel connections */
    int fds[KS_ARRAY_LEN(hostile)];
    for (size_t i = 0; i < KS_ARRAY_LEN(hostile); i++) {
        fds[i] = raw_connect(mailsink_port(s));
        ssize_t ignored = send(fds[i], hostile[i].p, hostile[i].n, MSG_NOSIGNAL);
        (void)ignored;
    }
    for (size_t i = 0; i < KS_ARRAY_LEN(hostile); i++)
        close(fds[i]);
    assert_sink_alive(s);
    struct mailsink_message *m = mailsink_get(s, 1);
    assert_string_equal(m->subject, "alive");
    mailsink_message_free(m);
    mailsink_stop(s);
}

/* xorshift64*: the same sessions on every run, so a failure reproduces */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static void test_random_sessions(void **state)
{
    (void)state;
    static const char *const frag[] = {
        "EHLO x\r\n",
        "HELO y\r\n",
        "MAIL FROM:<a@b>\r\n",
        "MAIL FROM:<>\r\n",
        "RCPT TO:<c@d>\r\n",
        "DATA\r\n",
        ".\r\n",
        "..\r\n",
        "\r\n",
        "RSET\r\n",
        "NOOP\r\n",
        "VRFY z\r\n",
        "Subject: =?UTF-8?B?",
        "?=\r\n",
        "=?utf-8?q?=C3=A9?=",
        "\n",
        "\r",
        "\0",
        ".",
        "SIZE=",
        "QUIT\r\n",
        "MAIL FROM:<a@b> SIZE=999999999\r\n",
        "<",
        ">",
        ":",
        " ",
        "\xc3",
        "\xff",
    };
    struct mailsink_options o = {
        .max_line_bytes = 700, .max_message_bytes = 2048, .max_recipients = 4};
    struct mailsink *s = sink_start(&o);
    char buf[8192];
    for (int round = 0; round < 150; round++) {
        size_t n = 0;
        size_t parts = rng() % 60;
        for (size_t k = 0; k < parts && n < sizeof(buf) - 64; k++) {
            if (rng() % 4 == 0) { /* raw bytes */
                size_t len = rng() % 32;
                for (size_t j = 0; j < len; j++)
                    buf[n++] = (char)(rng() & 0xFF);
            } else {
                const char *f = frag[rng() % KS_ARRAY_LEN(frag)];
                size_t len = *f ? strlen(f) : 1; /* the NUL fragment is one byte */
                memcpy(buf + n, f, len);
                n += len;
            }
        }
        blast(mailsink_port(s), buf, n);
    }
    uint64_t before = mailsink_count(s);
    assert_sink_alive(s);
    /* whatever the random sessions delivered parses into sane strings */
    for (uint64_t q = 1; q <= before + 1; q++) {
        struct mailsink_message *m = mailsink_get(s, q);
        if (!m)
            continue;
        assert_true(m->raw_len <= o.max_message_bytes);
        assert_true(m->n_rcpt >= 1 && m->n_rcpt <= 4);
        if (m->subject) {
            size_t bad;
            assert_true(ks_text_clean(m->subject, strlen(m->subject), &bad));
            for (const char *c = m->subject; *c; c++)
                assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
        }
        mailsink_message_free(m);
    }
    struct mailsink_stats st;
    mailsink_stats(s, &st);
    assert_int_equal(st.connections + st.refused, 151);
    mailsink_stop(s);
}

int run_hostile_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_random_sessions),
    };
    return cmocka_run_group_tests_name("mailsink_hostile", tests, NULL, NULL);
}
