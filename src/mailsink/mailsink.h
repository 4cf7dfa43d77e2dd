/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mailsink: a small SMTP receiver (RFC 5321) for `keysentry demo` and for
 * people trying the lab by hand. It catches the alarm e-mails the notifier
 * (src/notify, libcurl) sends, so the whole pipeline runs on one machine with
 * nothing to configure (docs/mailsink.md).
 *
 * One thread multiplexes the listener and every connection with poll(); it
 * never blocks on a peer. It speaks what libcurl and ordinary clients need:
 * EHLO/HELO (SIZE, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES), MAIL FROM
 * (SIZE=, BODY=), RCPT TO, DATA (dot-unstuffing), RSET, NOOP, VRFY (252),
 * HELP, QUIT. No AUTH, no STARTTLS (502): it is a loopback test receiver,
 * not a mail server, and it delivers nowhere.
 *
 * Every accepted message is parsed once (Subject unfolded and RFC 2047
 * decoded, body decoded from quoted-printable or base64), kept in memory
 * (the last keep_messages, at most keep_bytes), optionally written to a
 * Maildir-like folder, and handed to a callback. Readers on other threads get
 * deep copies (mailsink_get), so nothing they hold can change or vanish under
 * them.
 *
 * Hostile input is answered, never trusted: lines, messages, recipients,
 * connections and idle time are capped; a connection over a cap gets an SMTP
 * error or a 421 and is closed, and the sink keeps serving the others.
 */
#ifndef KS_MAILSINK_H
#define KS_MAILSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ks.h"

/* Defaults of struct mailsink_options (a zero field takes these). */
#define MAILSINK_DEFAULT_ADDRESS     "127.0.0.1"
#define MAILSINK_DEFAULT_HOSTNAME    "keysentry-mailsink"
#define MAILSINK_DEFAULT_MAX_MESSAGE (10u << 20) /* the notifier's largest digest fits */
#define MAILSINK_DEFAULT_MAX_LINE    8192        /* RFC 5321 says 1000; be lenient */
#define MAILSINK_DEFAULT_MAX_RCPT    100         /* RFC 5321 §4.5.3.1.8's minimum */
#define MAILSINK_DEFAULT_MAX_CONN    32
#define MAILSINK_DEFAULT_KEEP        256         /* messages kept in memory */
#define MAILSINK_DEFAULT_KEEP_BYTES  (64u << 20) /* raw bytes kept in memory */
#define MAILSINK_DEFAULT_IDLE_MS     60000
#define MAILSINK_MAX_ADDRESS         256 /* bytes of one envelope address */
#define MAILSINK_MAX_BAD_COMMANDS    20  /* 5xx answers before a 421 and close */

/* One received message. Strings are NUL-terminated; raw and body may also
 * contain NUL bytes (use the lengths). */
struct mailsink_message {
    uint64_t seq;    /* 1-based, in order of acceptance */
    int64_t time_ms; /* when the final "." arrived: ms since the epoch (CLOCK_REALTIME) */
    char *helo;      /* the EHLO/HELO argument */
    char *from;      /* envelope sender without <>, "" for the null sender */
    char **rcpt;     /* envelope recipients without <> */
    size_t n_rcpt;
    char *raw; /* the message as received, dot-unstuffed, without the final "." */
    size_t raw_len;
    /* The first Subject header (its first 64 KiB) unfolded and RFC
     * 2047-decoded (UTF-8, ISO-8859-1 and US-ASCII encoded words; others stay
     * as written), as valid UTF-8 with control characters replaced by spaces:
     * safe to print. NULL when there is none. */
    char *subject;
    /* The body after the header block, decoded when Content-Transfer-Encoding
     * is quoted-printable or base64, else as received. Multipart bodies are
     * not split. */
    char *body;
    size_t body_len;
    char *path; /* the file written under options.dir/new, or NULL */
};

/* Called on the sink thread for each accepted message, before the client is
 * told 250; m is borrowed for the call. Keep it short (the sink serves no one
 * meanwhile). It may call mailsink_count/get/stats, never mailsink_stop. */
typedef void mailsink_message_fn(void *ud, const struct mailsink_message *m);

/* Zero-initialise, then set what you need. */
struct mailsink_options {
    const char *address;  /* numeric IPv4 or IPv6 address; NULL = 127.0.0.1 */
    uint16_t port;        /* 0 = an ephemeral port (mailsink_port) */
    bool allow_remote;    /* permit a non-loopback address (anyone could then write here) */
    const char *hostname; /* in the greeting and EHLO reply; NULL = MAILSINK_DEFAULT_HOSTNAME */
    /* Maildir-like folder: each message is written to dir/tmp, then renamed
     * into dir/new as <time_ms>.<pid>.<seq>.eml (mode 0600) with Return-Path
     * and Delivered-To lines in front. Created (0700) when missing. A write
     * failure answers 451 (the client retries) and keeps nothing. NULL: none. */
    const char *dir;
    size_t max_message_bytes; /* after dot-unstuffing; 0 = MAILSINK_DEFAULT_MAX_MESSAGE */
    size_t max_line_bytes;    /* command or DATA line, CRLF included; 0 = default */
    unsigned max_recipients;  /* per message; 0 = default */
    unsigned max_connections; /* open at once; 0 = default; more get 421 and are closed */
    unsigned keep_messages;   /* kept in memory; 0 = default; at most 65536 */
    size_t keep_bytes;        /* raw bytes kept in memory; 0 = default */
    int idle_timeout_ms;      /* a silent client gets 421; 0 = default */
    mailsink_message_fn *on_message;
    void *ud;
};

/* Counters since start; a consistent snapshot. */
struct mailsink_stats {
    uint64_t connections;  /* accepted and served */
    uint64_t refused;      /* closed at once: max_connections reached */
    uint64_t messages;     /* accepted (250 after DATA) */
    uint64_t rejected;     /* DATA or MAIL refused: size, line length, write failure */
    uint64_t aborted;      /* connections lost or closed in the middle of DATA */
    uint64_t timeouts;     /* connections closed for idleness */
    uint64_t bad_commands; /* 5xx replies to commands */
    unsigned open;         /* connections open now */
};

struct mailsink;

/*
 * Binds, listens and starts the sink thread. Errors: KS_E_INVALID (an address
 * that is not numeric, or not loopback without allow_remote; a dir that
 * cannot be created), KS_E_IO (socket, bind, thread), with diag.
 */
KS_MUST_CHECK enum ks_err mailsink_start(const struct mailsink_options *opts, struct mailsink **out,
                                         struct ks_diag *diag);

/* The bound port (the ephemeral one when options.port was 0). */
uint16_t mailsink_port(const struct mailsink *s);

/* Messages accepted so far (the seq of the newest). Thread-safe. */
uint64_t mailsink_count(struct mailsink *s);

/*
 * Waits until at least count messages were accepted or timeout_ms passed
 * (< 0: forever). Returns KS_OK, or KS_E_LIMIT at the timeout. Thread-safe.
 */
KS_MUST_CHECK enum ks_err mailsink_wait(struct mailsink *s, uint64_t count, int timeout_ms);

/*
 * A deep copy of message number seq (1-based), or NULL when it does not
 * exist yet or was evicted (older than the last keep_messages / keep_bytes).
 * The caller frees it with mailsink_message_free. Thread-safe.
 */
struct mailsink_message *mailsink_get(struct mailsink *s, uint64_t seq);
void mailsink_message_free(struct mailsink_message *m);

void mailsink_stats(struct mailsink *s, struct mailsink_stats *out);

/* Says 421 to open connections, closes everything, joins the thread and
 * frees s. NULL-safe. Not from the on_message callback. */
void mailsink_stop(struct mailsink *s);

/* ---- parsing (what the sink applies to each message; tests check it) ----- */

/*
 * Decodes an unstructured header value: unfolds CRLF/LF + WSP, decodes RFC
 * 2047 encoded words (B and Q; UTF-8, US-ASCII, ISO-8859-1; whitespace
 * between adjacent encoded words dropped), then makes the result valid UTF-8
 * (invalid bytes become U+FFFD) without control characters (spaces). Always
 * returns a new string (free()).
 */
char *mailsink_decode_header(const char *v, size_t n);

/*
 * Fills m->subject, m->body and m->body_len from m->raw / m->raw_len
 * (replacing what they held). A message without a blank line is all header;
 * bad encodings decode as far as they go and never fail.
 */
void mailsink_parse(struct mailsink_message *m);

#endif
