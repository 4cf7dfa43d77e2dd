/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SMTP side of the sink: one thread, one poll() over the listener, a
 * wake-up pipe and every connection. Sockets are non-blocking; each
 * connection has a bounded input buffer (one line plus one read), an output
 * buffer, and while in DATA a message buffer capped at max_message_bytes.
 *
 * Commands are handled in the order they arrive, so a pipelining client's
 * replies come back in order without special code. When a client sends
 * faster than it reads its replies, the sink stops reading from it until its
 * output drains: memory stays bounded whatever the peer does.
 */
#include "mailsink/mailsink_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK  (64u << 10)
#define OUT_PAUSE   (64u << 10) /* stop reading a client with this much unsent */
#define OUT_MAX     (1u << 20)  /* a client this far behind is dropped */
#define POLL_MAX_MS 1000

enum conn_mode { MODE_CMD, MODE_DATA };

struct conn {
    int fd;
    enum conn_mode mode;
    char *helo;
    bool in_tx;
    char *from;
    char **rcpt;
    size_t n_rcpt;
    struct ks_buf in;
    struct ks_buf out;
    struct ks_buf msg;
    bool discarding; /* inside an over-long line: drop through its LF */
    bool prev_crlf;  /* DATA: the previous line ended with CRLF */
    bool data_line_too_long;
    bool data_too_big;
    bool closing; /* close once out is sent */
    int64_t last_ms;
    unsigned bad;
};

struct mailsink {
    struct mailsink_options o;
    char *hostname;
    char *dir;
    int lfd;
    int wake[2];
    uint16_t port;
    pthread_t thread;
    struct mailsink_store store;
    struct conn **conns; /* sink thread only */
    size_t n_conns;
    struct pollfd *pfds;
    int stop_flag; /* read with __atomic; set by mailsink_stop */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stat_add(struct mailsink *s, uint64_t *field)
{
    pthread_mutex_lock(&s->store.mu);
    (*field)++;
    pthread_mutex_unlock(&s->store.mu);
}

/* ---- replies ------------------------------------------------------------------ */

static void reply(struct conn *c, const char *fmt, ...) KS_PRINTF(2, 3);
static void reply(struct conn *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 3)
        n = (int)sizeof(line) - 3;
    line[n++] = '\r';
    line[n++] = '\n';
    if (ks_buf_add(&c->out, line, (size_t)n)) {
        /* a client that never reads its replies loses its connection */
        c->closing = true;
        ks_buf_reset(&c->out);
    }
}

static void bad_command(struct mailsink *s, struct conn *c, const char *fmt, ...) KS_PRINTF(3, 4);
static void bad_command(struct mailsink *s, struct conn *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    reply(c, "%s", line);
    stat_add(s, &s->store.st.bad_commands);
    if (++c->bad >= MAILSINK_MAX_BAD_COMMANDS) {
        reply(c, "421 4.7.0 %s too many errors, closing", s->hostname);
        c->closing = true;
    }
}

/* ---- the transaction ---------------------------------------------------------- */

static void tx_reset(struct conn *c)
{
    free(c->from);
    c->from = NULL;
    for (size_t i = 0; i < c->n_rcpt; i++)
        free(c->rcpt[i]);
    free(c->rcpt);
    c->rcpt = NULL;
    c->n_rcpt = 0;
    c->in_tx = false;
    ks_buf_release(&c->msg);
}

/* A copy of s[0..n) with control bytes as '?', for the HELO name. */
static char *printable_copy(const char *s, size_t n)
{
    char *r = ks_xmemdup(s, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
            r[i] = '?';
    return r;
}

/*
 * Parses a path ("<addr>", "<>", or a bare address as lenient clients send)
 * at *p; on success *addr is a copy without the brackets and *p points after
 * it. Quoted local parts may hold '>' and spaces. Control bytes are refused:
 * the address is written into files and printed.
 */
static bool parse_path(const char **p, char **addr)
{
    const char *q = *p;
    while (*q == ' ')
        q++;
    const char *a, *e;
    if (*q == '<') {
        a = ++q;
        bool quoted = false;
        while (*q && (quoted || *q != '>')) {
            if (*q == '\\' && quoted && q[1])
                q++;
            else if (*q == '"')
                quoted = !quoted;
            q++;
        }
        if (*q != '>')
            return false;
        e = q++;
    } else {
        a = q;
        while (*q && *q != ' ')
            q++;
        e = q;
        if (e == a)
            return false;
    }
    if ((size_t)(e - a) > MAILSINK_MAX_ADDRESS)
        return false;
    for (const char *k = a; k < e; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f)
            return false;
    *addr = ks_xmemdup(a, (size_t)(e - a));
    *p = q;
    return true;
}

/* "FROM:" / "TO:" after the verb, case-insensitive, spaces around allowed. */
static const char *after_keyword(const char *arg, const char *kw)
{
    while (*arg == ' ')
        arg++;
    size_t n = strlen(kw);
    if (strncasecmp(arg, kw, n))
        return NULL;
    arg += n;
    while (*arg == ' ')
        arg++;
    if (*arg != ':')
        return NULL;
    return arg + 1;
}

static void cmd_mail(struct mailsink *s, struct conn *c, const char *arg)
{
    if (!c->helo) {
        bad_command(s, c, "503 5.5.1 say EHLO or HELO first");
        return;
    }
    if (c->in_tx) {
        bad_command(s, c, "503 5.5.1 nested MAIL command");
        return;
    }
    const char *p = after_keyword(arg, "FROM");
    char *from = NULL;
    if (!p || !parse_path(&p, &from)) {
        bad_command(s, c, "501 5.5.4 syntax: MAIL FROM:<address>");
        return;
    }
    /* parameters: SIZE=, BODY= and AUTH= (libcurl sends AUTH=<> with
     * CURLOPT_MAIL_AUTH); anything else was not advertised */
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        if (len > 5 && !strncasecmp(p, "SIZE=", 5)) {
            uint64_t v = 0;
            size_t i = 5;
            for (; i < len && p[i] >= '0' && p[i] <= '9' && v < UINT64_MAX / 10; i++)
                v = v * 10 + (uint64_t)(p[i] - '0');
            if (i != len) {
                free(from);
                bad_command(s, c, "501 5.5.4 bad SIZE parameter");
                return;
            }
            if (v > s->o.max_message_bytes) {
                free(from);
                stat_add(s, &s->store.st.rejected);
                reply(c, "552 5.3.4 message size exceeds the limit of %zu bytes",
                      s->o.max_message_bytes);
                return;
            }
        } else if (len > 5 && !strncasecmp(p, "BODY=", 5)) {
            if (!((len == 9 && !strncasecmp(p + 5, "7BIT", 4)) ||
                  (len == 13 && !strncasecmp(p + 5, "8BITMIME", 8)))) {
                free(from);
                bad_command(s, c, "501 5.5.4 BODY must be 7BIT or 8BITMIME");
                return;
            }
        } else if (!(len > 5 && !strncasecmp(p, "AUTH=", 5))) {
            free(from);
            bad_command(s, c, "555 5.5.4 unsupported MAIL parameter");
            return;
        }
        p += len;
    }
    c->from = from;
    c->in_tx = true;
    reply(c, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct mailsink *s, struct conn *c, const char *arg)
{
    if (!c->in_tx) {
        bad_command(s, c, "503 5.5.1 need MAIL before RCPT");
        return;
    }
    const char *p = after_keyword(arg, "TO");
    char *to = NULL;
    if (!p || !parse_path(&p, &to) || !*to) {
        free(to);
        bad_command(s, c, "501 5.5.4 syntax: RCPT TO:<address>");
        return;
    }
    while (*p == ' ')
        p++;
    if (*p) {
        free(to);
        bad_command(s, c, "555 5.5.4 unsupported RCPT parameter");
        return;
    }
    if (c->n_rcpt >= s->o.max_recipients) {
        free(to);
        /* 452, not 5xx: RFC 5321 §4.5.3.1.10 lets the client send the rest later */
        reply(c, "452 4.5.3 too many recipients (limit %u)", s->o.max_recipients);
        return;
    }
    c->rcpt = ks_xrealloc(c->rcpt, (c->n_rcpt + 1) * sizeof(*c->rcpt));
    c->rcpt[c->n_rcpt++] = to;
    reply(c, "250 2.1.5 Ok");
}

static void cmd_ehlo(struct mailsink *s, struct conn *c, const char *arg, bool extended)
{
    while (*arg == ' ')
        arg++;
    if (!*arg) {
        bad_command(s, c, "501 5.5.4 syntax: %s hostname", extended ? "EHLO" : "HELO");
        return;
    }
    tx_reset(c);
    free(c->helo);
    size_t n = strlen(arg);
    c->helo = printable_copy(arg, n > 255 ? 255 : n);
    if (!extended) {
        reply(c, "250 %s", s->hostname);
        return;
    }
    reply(c,
          "250-%s greets %s\r\n250-SIZE %zu\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
          "250-ENHANCEDSTATUSCODES\r\n250 HELP",
          s->hostname, c->helo, s->o.max_message_bytes);
}

static void finish_data(struct mailsink *s, struct conn *c)
{
    c->mode = MODE_CMD;
    if (c->data_too_big || c->data_line_too_long) {
        stat_add(s, &s->store.st.rejected);
        if (c->data_too_big)
            reply(c, "552 5.3.4 message size exceeds the limit of %zu bytes",
                  s->o.max_message_bytes);
        else
            reply(c, "500 5.5.2 line too long (limit %zu bytes)", s->o.max_line_bytes);
        tx_reset(c);
        return;
    }
    struct mailsink_message *m = ks_xcalloc(1, sizeof(*m));
    /* only this thread assigns sequence numbers, so the next one is known
     * before the file that carries it in its name is written */
    m->seq = s->store.total + 1;
    m->time_ms = wall_ms();
    m->helo = ks_xstrdup(c->helo);
    m->from = c->from;
    m->rcpt = c->rcpt;
    m->n_rcpt = c->n_rcpt;
    c->from = NULL;
    c->rcpt = NULL;
    c->n_rcpt = 0;
    m->raw_len = c->msg.len;
    m->raw = c->msg.cap ? c->msg.data : ks_xstrdup("");
    ks_buf_init(&c->msg, c->msg.max); /* the bytes now belong to m */
    tx_reset(c);
    mailsink_parse(m);
    if (s->dir && mailsink_write_file(s->dir, m)) {
        /* persist, then acknowledge: a 4xx makes the client keep the mail */
        reply(c, "451 4.3.0 cannot store the message: %s", strerror(errno));
        stat_add(s, &s->store.st.rejected);
        mailsink_message_free(m);
        return;
    }
    uint64_t seq = m->seq;
    mailsink_store_add(&s->store, m);
    /* borrowing m without the lock is safe: only this thread adds messages,
     * so nothing evicts it before the callback returns */
    if (s->o.on_message)
        s->o.on_message(s->o.ud, m);
    reply(c, "250 2.0.0 Ok: queued as %llu", (unsigned long long)seq);
}

/*
 * One DATA line (LF included). A line "starts" in SMTP terms only after
 * CRLF: the terminator is exactly CRLF "." CRLF and only such lines are
 * unstuffed. Taking a bare-LF "." as the end would let a message smuggle a
 * second SMTP transaction past a client that does not stuff after bare LFs.
 */
static void data_line(struct mailsink *s, struct conn *c, const char *line, size_t n)
{
    bool at_start = c->prev_crlf;
    c->prev_crlf = n >= 2 && line[n - 2] == '\r';
    if (at_start && n == 3 && line[0] == '.' && line[1] == '\r') {
        finish_data(s, c);
        return;
    }
    if (n > s->o.max_line_bytes)
        c->data_line_too_long = true;
    if (c->data_too_big || c->data_line_too_long)
        return;
    if (at_start && line[0] == '.') {
        line++;
        n--;
    }
    if (ks_buf_add(&c->msg, line, n)) {
        c->data_too_big = true;
        ks_buf_release(&c->msg); /* nothing of it is kept: free it now */
    }
}

static void command_line(struct mailsink *s, struct conn *c, const char *line, size_t n)
{
    if (n && line[n - 1] == '\n')
        n--;
    if (n && line[n - 1] == '\r')
        n--;
    if (memchr(line, '\0', n)) {
        bad_command(s, c, "500 5.5.2 NUL byte in command");
        return;
    }
    char buf[MAILSINK_DEFAULT_MAX_LINE + 1];
    char *cmd = n < sizeof(buf) ? buf : ks_xmalloc(n + 1);
    memcpy(cmd, line, n);
    cmd[n] = '\0';
    size_t vlen = strcspn(cmd, " ");
    const char *arg = cmd + vlen;
#define IS(v) (vlen == sizeof(v) - 1 && !strncasecmp(cmd, v, vlen))
    if (IS("EHLO") || IS("HELO")) {
        cmd_ehlo(s, c, arg, IS("EHLO"));
    } else if (IS("MAIL")) {
        cmd_mail(s, c, arg);
    } else if (IS("RCPT")) {
        cmd_rcpt(s, c, arg);
    } else if (IS("DATA")) {
        if (*arg)
            bad_command(s, c, "501 5.5.4 DATA takes no argument");
        else if (!c->in_tx || !c->n_rcpt)
            bad_command(s, c, "503 5.5.1 need %s before DATA", c->in_tx ? "RCPT" : "MAIL");
        else {
            c->mode = MODE_DATA;
            c->prev_crlf = true;
            c->data_too_big = c->data_line_too_long = false;
            ks_buf_release(&c->msg);
            reply(c, "354 End data with <CR><LF>.<CR><LF>");
        }
    } else if (IS("RSET")) {
        tx_reset(c);
        reply(c, "250 2.0.0 Ok");
    } else if (IS("NOOP")) {
        reply(c, "250 2.0.0 Ok");
    } else if (IS("QUIT")) {
        reply(c, "221 2.0.0 %s closing", s->hostname);
        c->closing = true;
    } else if (IS("VRFY")) {
        reply(c, "252 2.5.0 cannot verify, but will accept");
    } else if (IS("HELP")) {
        reply(c, "214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT (docs/mailsink.md)");
    } else if (IS("STARTTLS") || IS("AUTH") || IS("EXPN") || IS("BDAT") || IS("ETRN") ||
               IS("TURN") || IS("SEND") || IS("SOML") || IS("SAML")) {
        bad_command(s, c, "502 5.5.1 command not implemented");
    } else {
        bad_command(s, c, "500 5.5.2 command not recognized");
    }
#undef IS
    if (cmd != buf)
        free(cmd);
}

/* Handles every complete line in c->in, keeps the partial rest. */
static void process_input(struct mailsink *s, struct conn *c)
{
    size_t pos = 0;
    while (pos < c->in.len && !c->closing) {
        char *start = c->in.data + pos;
        size_t avail = c->in.len - pos;
        char *nl = memchr(start, '\n', avail);
        if (!nl) {
            if (avail < s->o.max_line_bytes)
                break; /* wait for the rest of the line */
            /* an over-long line: drop what we have, and the rest up to its LF */
            if (c->mode == MODE_DATA)
                c->data_line_too_long = true;
            c->discarding = true;
            pos = c->in.len;
            break;
        }
        size_t n = (size_t)(nl - start) + 1;
        pos += n;
        if (c->discarding) {
            c->discarding = false;
            c->prev_crlf = n < 2 || nl[-1] == '\r';
            if (c->mode == MODE_CMD)
                bad_command(s, c, "500 5.5.2 line too long (limit %zu bytes)", s->o.max_line_bytes);
            continue;
        }
        if (c->mode == MODE_DATA) {
            data_line(s, c, start, n);
        } else if (n > s->o.max_line_bytes) {
            bad_command(s, c, "500 5.5.2 line too long (limit %zu bytes)", s->o.max_line_bytes);
        } else {
            command_line(s, c, start, n);
        }
    }
    if (c->closing)
        pos = c->in.len; /* after QUIT or 421 the rest is not read */
    memmove(c->in.data, c->in.data + pos, c->in.len - pos);
    c->in.len -= pos;
    if (c->in.cap)
        c->in.data[c->in.len] = '\0';
}

/* ---- connections --------------------------------------------------------------- */

static void conn_free(struct mailsink *s, struct conn *c)
{
    pthread_mutex_lock(&s->store.mu);
    s->store.st.open--;
    if (c->mode == MODE_DATA)
        s->store.st.aborted++;
    pthread_mutex_unlock(&s->store.mu);
    close(c->fd);
    tx_reset(c);
    free(c->helo);
    ks_buf_release(&c->in);
    ks_buf_release(&c->out);
    free(c);
}

/* Sends what it can; false when the connection is dead. */
static bool conn_flush(struct conn *c)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return false;
    }
    memmove(c->out.data, c->out.data + off, c->out.len - off);
    c->out.len -= off;
    if (c->out.cap)
        c->out.data[c->out.len] = '\0';
    return true;
}

/* Reads what is there and handles it; false when the connection is over. */
static bool conn_read(struct mailsink *s, struct conn *c)
{
    char chunk[16384];
    for (int rounds = 0; rounds < 4; rounds++) { /* bounded: others wait meanwhile */
        ssize_t r = recv(c->fd, chunk, sizeof(chunk), 0);
        if (r == 0)
            return false;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->last_ms = mono_ms();
        const char *p = chunk;
        size_t left = (size_t)r;
        while (left && !c->closing) {
            size_t room = c->in.max - c->in.len;
            size_t take = left < room ? left : room;
            if (ks_buf_add(&c->in, p, take))
                return false;
            p += take;
            left -= take;
            process_input(s, c);
        }
        if (c->closing || c->out.len >= OUT_PAUSE)
            break;
    }
    return true;
}

static void accept_all(struct mailsink *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error such as EMFILE: next poll */
        if (s->n_conns >= s->o.max_connections) {
            static const char busy[] = "421 4.3.2 too many connections, try again later\r\n";
            /* counted before the client can see anything: stats never lag
             * behind what a client observed */
            stat_add(s, &s->store.st.refused);
            ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            close(fd);
            continue;
        }
        int one = 1;
        /* replies are whole lines written at once; Nagle would only hold
         * them back for the client's delayed ACK */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = ks_xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->last_ms = mono_ms();
        ks_buf_init(&c->in, s->o.max_line_bytes + 1);
        ks_buf_init(&c->out, OUT_MAX);
        ks_buf_init(&c->msg, s->o.max_message_bytes);
        reply(c, "220 %s ESMTP keysentry mailsink", s->hostname);
        s->conns[s->n_conns++] = c;
        pthread_mutex_lock(&s->store.mu);
        s->store.st.connections++;
        s->store.st.open++;
        pthread_mutex_unlock(&s->store.mu);
    }
}

static void *sink_main(void *arg)
{
    struct mailsink *s = arg;
    while (!__atomic_load_n(&s->stop_flag, __ATOMIC_ACQUIRE)) {
        int64_t now = mono_ms();
        int timeout = POLL_MAX_MS;
        size_t np = 0;
        s->pfds[np++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        s->pfds[np++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (size_t i = 0; i < s->n_conns; i++) {
            struct conn *c = s->conns[i];
            short ev = 0;
            if (!c->closing && c->out.len < OUT_PAUSE)
                ev |= POLLIN;
            if (c->out.len)
                ev |= POLLOUT;
            s->pfds[np++] = (struct pollfd){.fd = c->fd, .events = ev};
            int64_t left = c->last_ms + s->o.idle_timeout_ms - now;
            if (left < timeout)
                timeout = left < 0 ? 0 : (int)left;
        }
        if (poll(s->pfds, np, timeout) < 0 && errno != EINTR)
            break;
        if (s->pfds[0].revents & POLLIN) {
            char drain[64];
            while (read(s->wake[0], drain, sizeof(drain)) > 0) {
            }
        }
        /* connections first: accepting may append to s->conns */
        now = mono_ms();
        size_t kept = 0, nc = s->n_conns;
        for (size_t i = 0; i < nc; i++) {
            struct conn *c = s->conns[i];
            short re = s->pfds[2 + i].revents;
            bool alive = true;
            if (re & (POLLIN | POLLHUP | POLLERR))
                alive = conn_read(s, c);
            if (alive && c->out.len)
                alive = conn_flush(c);
            if (alive && now - c->last_ms >= s->o.idle_timeout_ms) {
                if (c->closing) {
                    /* it will not read what is left for it: a slot held
                     * forever by a client that never reads is a leak */
                    alive = false;
                } else {
                    reply(c, "421 4.4.2 %s idle for too long, closing", s->hostname);
                    c->closing = true;
                    c->last_ms = now; /* one more idle period to take the 421 */
                    stat_add(s, &s->store.st.timeouts);
                    alive = conn_flush(c);
                }
            }
            if (alive && c->closing && !c->out.len)
                alive = false;
            if (alive)
                s->conns[kept++] = c;
            else
                conn_free(s, c);
        }
        s->n_conns = kept;
        if (s->pfds[1].revents & POLLIN)
            accept_all(s);
    }
    for (size_t i = 0; i < s->n_conns; i++) {
        struct conn *c = s->conns[i];
        reply(c, "421 4.3.0 %s shutting down", s->hostname);
        conn_flush(c);
        conn_free(s, c);
    }
    s->n_conns = 0;
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
}

static enum ks_err open_listener(struct mailsink *s, const char *address, struct ks_diag *diag)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(s->o.port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(s->o.port);
        len = sizeof(*a6);
    } else {
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "'%s' is not a numeric IPv4 or IPv6 address", address);
    }
    if (!is_loopback(&ss) && !s->o.allow_remote)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "refusing to listen on '%s': not a loopback address (anyone who "
                           "can reach it could write here; allow it explicitly)",
                           address);
    s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->lfd, (struct sockaddr *)&ss, len) || listen(s->lfd, 64))
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot listen on %s port %u: %s", address,
                           (unsigned)s->o.port, strerror(errno));
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    if (getsockname(s->lfd, (struct sockaddr *)&got, &glen))
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "getsockname: %s", strerror(errno));
    s->port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                             : ((struct sockaddr_in6 *)&got)->sin6_port);
    return KS_OK;
}

static void destroy(struct mailsink *s)
{
    if (s->lfd >= 0)
        close(s->lfd);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    mailsink_store_release(&s->store);
    free(s->conns);
    free(s->pfds);
    free(s->hostname);
    free(s->dir);
    free(s);
}

enum ks_err mailsink_start(const struct mailsink_options *opts, struct mailsink **out,
                           struct ks_diag *diag)
{
    ks_diag_clear(diag);
    *out = NULL;
    struct mailsink *s = ks_xcalloc(1, sizeof(*s));
    s->o = *opts;
    s->lfd = s->wake[0] = s->wake[1] = -1;
    struct mailsink_options *o = &s->o;
    if (!o->max_message_bytes)
        o->max_message_bytes = MAILSINK_DEFAULT_MAX_MESSAGE;
    if (!o->max_line_bytes)
        o->max_line_bytes = MAILSINK_DEFAULT_MAX_LINE;
    if (o->max_line_bytes < 512)
        o->max_line_bytes = 512; /* RFC 5321 §4.5.3.1.4's minimum command line */
    if (o->max_line_bytes > MAILSINK_DEFAULT_MAX_LINE)
        o->max_line_bytes = MAILSINK_DEFAULT_MAX_LINE; /* command_line's stack copy */
    if (!o->max_recipients)
        o->max_recipients = MAILSINK_DEFAULT_MAX_RCPT;
    if (!o->max_connections)
        o->max_connections = MAILSINK_DEFAULT_MAX_CONN;
    if (o->idle_timeout_ms <= 0)
        o->idle_timeout_ms = MAILSINK_DEFAULT_IDLE_MS;
    s->hostname =
        printable_copy(o->hostname ? o->hostname : MAILSINK_DEFAULT_HOSTNAME,
                       strcspn(o->hostname ? o->hostname : MAILSINK_DEFAULT_HOSTNAME, " \r\n"));
    s->dir = o->dir ? ks_xstrdup(o->dir) : NULL;
    o->address = o->address ? o->address : MAILSINK_DEFAULT_ADDRESS;
    mailsink_store_init(&s->store, o->keep_messages ? o->keep_messages : MAILSINK_DEFAULT_KEEP,
                        o->keep_bytes ? o->keep_bytes : MAILSINK_DEFAULT_KEEP_BYTES);
    s->conns = ks_xcalloc(o->max_connections, sizeof(*s->conns));
    s->pfds = ks_xcalloc(o->max_connections + 2, sizeof(*s->pfds));
    enum ks_err e = KS_OK;
    if (s->dir && mailsink_prepare_dir(s->dir, diag))
        e = KS_E_INVALID;
    if (!e)
        e = open_listener(s, o->address, diag);
    o->address = NULL; /* borrowed for the call only */
    o->hostname = NULL;
    o->dir = NULL;
    if (!e && pipe2(s->wake, O_NONBLOCK | O_CLOEXEC))
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "pipe: %s", strerror(errno));
    if (!e && pthread_create(&s->thread, NULL, sink_main, s))
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot start the mail sink thread");
    if (e) {
        destroy(s);
        return e;
    }
    *out = s;
    return KS_OK;
}

uint16_t mailsink_port(const struct mailsink *s)
{
    return s->port;
}

uint64_t mailsink_count(struct mailsink *s)
{
    pthread_mutex_lock(&s->store.mu);
    uint64_t n = s->store.total;
    pthread_mutex_unlock(&s->store.mu);
    return n;
}

enum ks_err mailsink_wait(struct mailsink *s, uint64_t count, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    enum ks_err e = KS_OK;
    pthread_mutex_lock(&s->store.mu);
    while (s->store.total < count) {
        int rc = timeout_ms < 0 ? pthread_cond_wait(&s->store.cv, &s->store.mu)
                                : pthread_cond_timedwait(&s->store.cv, &s->store.mu, &dl);
        if (rc == ETIMEDOUT && s->store.total < count) {
            e = KS_E_LIMIT;
            break;
        }
    }
    pthread_mutex_unlock(&s->store.mu);
    return e;
}

static char *dup_or_null(const char *p)
{
    return p ? ks_xstrdup(p) : NULL;
}

struct mailsink_message *mailsink_get(struct mailsink *s, uint64_t seq)
{
    struct mailsink_message *r = NULL;
    pthread_mutex_lock(&s->store.mu);
    struct mailsink_store *st = &s->store;
    uint64_t oldest = st->total - st->n + 1;
    if (seq >= oldest && seq <= st->total && st->n) {
        const struct mailsink_message *m = st->ring[(st->head + (seq - oldest)) % st->cap];
        r = ks_xcalloc(1, sizeof(*r));
        r->seq = m->seq;
        r->time_ms = m->time_ms;
        r->helo = dup_or_null(m->helo);
        r->from = dup_or_null(m->from);
        r->n_rcpt = m->n_rcpt;
        r->rcpt = ks_xcalloc(m->n_rcpt + 1, sizeof(char *));
        for (size_t i = 0; i < m->n_rcpt; i++)
            r->rcpt[i] = ks_xstrdup(m->rcpt[i]);
        r->raw = ks_xmemdup(m->raw, m->raw_len);
        r->raw_len = m->raw_len;
        r->subject = dup_or_null(m->subject);
        r->body = ks_xmemdup(m->body, m->body_len);
        r->body_len = m->body_len;
        r->path = dup_or_null(m->path);
    }
    pthread_mutex_unlock(&s->store.mu);
    return r;
}

void mailsink_message_free(struct mailsink_message *m)
{
    if (!m)
        return;
    free(m->helo);
    free(m->from);
    for (size_t i = 0; i < m->n_rcpt; i++)
        free(m->rcpt[i]);
    free(m->rcpt);
    free(m->raw);
    free(m->subject);
    free(m->body);
    free(m->path);
    free(m);
}

void mailsink_stats(struct mailsink *s, struct mailsink_stats *out)
{
    pthread_mutex_lock(&s->store.mu);
    *out = s->store.st;
    pthread_mutex_unlock(&s->store.mu);
}

void mailsink_stop(struct mailsink *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->stop_flag, 1, __ATOMIC_RELEASE);
    ssize_t ignored = write(s->wake[1], "x", 1);
    (void)ignored;
    pthread_join(s->thread, NULL);
    destroy(s);
}
