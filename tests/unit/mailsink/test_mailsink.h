/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared support for the mailsink tests: a sink on an ephemeral loopback
 * port, a raw SMTP client with timeouts (every read gives up after a few
 * seconds, so a sink that hangs fails the test instead of hanging it), and a
 * libcurl sender configured as src/notify configures its own.
 */
#ifndef KS_TEST_MAILSINK_H
#define KS_TEST_MAILSINK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailsink/mailsink.h"

#define IO_TIMEOUT_MS 5000

/* Starts a sink on 127.0.0.1:0 with o (NULL: defaults); fails the test on error. */
struct mailsink *sink_start(const struct mailsink_options *o);

/* A connected, blocking socket with IO_TIMEOUT_MS read/write timeouts. */
int raw_connect(uint16_t port);
/* Sends all of p[0..n). */
void raw_send(int fd, const char *p, size_t n);
void raw_sends(int fd, const char *s);
/*
 * Reads one complete reply (all its lines) into out (NUL-terminated) and
 * returns its code, or -1 at EOF/timeout. Bytes after the reply stay
 * buffered in *pend for the next call: pass the same struct each time.
 */
struct raw_pending {
    char buf[1 << 16];
    size_t len;
};
int raw_reply(int fd, struct raw_pending *pend, char *out, size_t outsz);
/* True when the peer closes (EOF or reset) within IO_TIMEOUT_MS. */
bool raw_eof(int fd, struct raw_pending *pend);
/* EHLO + greeting; returns the connection. */
int raw_session(uint16_t port, struct raw_pending *pend);
/* Sends line (CRLF appended) and returns the reply code. */
int raw_cmd(int fd, struct raw_pending *pend, const char *line);

/* Sends one message with libcurl; returns the CURLcode, *code = last reply code. */
int curl_send(uint16_t port, const char *from, const char *const *rcpt, size_t n_rcpt,
              const char *data, size_t len, long *code);

/* Polls stats until pred holds or IO_TIMEOUT_MS passes. */
struct mailsink_stats wait_stats(struct mailsink *s, bool (*pred)(const struct mailsink_stats *));

/* A whole transaction on a fresh connection; asserts 250 after DATA. */
void assert_sink_alive(struct mailsink *s);

int run_smtp_tests(void);
int run_hostile_tests(void);
int run_parse_tests(void);
int run_notify_path_tests(void);

#endif
