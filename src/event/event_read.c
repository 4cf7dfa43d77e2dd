/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event reader: files, directories and stdin in, events out.
 *
 * DESIGN
 * Bytes come from a source (a plain fd, zlib streaming, or one libdeflate
 * whole-buffer inflate for small .gz files) into a bounded window; a framer
 * cuts events out of the window: one per line (NDJSON, plain text) or one
 * per element of a CloudTrail {"Records":[...]} array. Memory is bounded by
 * the window (3 MiB) plus, for small gzip files, the inflated file (capped),
 * whatever the input size.
 *
 * Damage is reported as "file:offset: message" (offsets are in decompressed
 * bytes), counted per cause, and skipped; framing resynchronises at the next
 * line or, inside a Records array, after the damaged element.
 */
#include "event/event.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK         (1u << 20)
#define WINDOW_CAP         (2u * KS_MAX_EVENT_BYTES + READ_CHUNK)
#define GZIP_WHOLE_OUT_MAX (32u << 20) /* inflated size for the one-shot path */
#define MAX_DIR_DEPTH      32

enum rmode { M_SNIFF, M_LINES, M_RECORDS };
enum rstate { R_ELEM_OR_END, R_ELEM, R_AFTER, R_TAIL, R_DEAD };

struct rd {
    const struct event_reader_opts *o;
    struct event_stats *st;
    event_fn *fn;
    void *ctx;
    const char *file;
    enum rmode mode;
    enum rstate rstate;
    uint64_t base_off; /* decompressed offset of the window's first byte */
    uint64_t index;    /* line or record index */
    bool discarding;   /* lines: inside an oversize line */
    /* records: skipping a damaged element byte by byte */
    bool skipping;
    long skip_depth;
    bool skip_str, skip_esc;
    int stop;
    struct event_scan_plan *time_plan;
    struct event_scan *time_scan;
    struct event_scan *frame_scan;
};

static void report(struct rd *r, uint64_t off, const char *fmt, ...) KS_PRINTF(3, 4);

static void report(struct rd *r, uint64_t off, const char *fmt, ...)
{
    if (!r->o->errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->o->errors, "keysentry: %s:%llu: ", r->file, (unsigned long long)off);
    vfprintf(r->o->errors, fmt, ap);
    fputc('\n', r->o->errors);
    va_end(ap);
}

void event_reader_opts_init(struct event_reader_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->format = EVENT_FORMAT_AUTO;
    o->errors = stderr;
    o->gzip_whole_max = 4u << 20;
}

/* ---- time -------------------------------------------------------------- */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* proleptic Gregorian, after H. Hinnant's well-known derivation */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool event_parse_time(const char *s, size_t len, int64_t *ms)
{
    int Y, M, D, h, m, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
        return false;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
        m > 59 || sec > 60)
        return false;
    size_t i = 19;
    int frac = 0, scale = 1000;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false; /* a fraction needs digits */
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
            i++;
        }
    }
    int64_t tz = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if ((i + 6 == len && s[i + 3] == ':') || i + 5 == len) {
        /* +HH:MM (ISO 8601) or +HHMM (CloudWatch's alarm messages) */
        int th, tm;
        if ((s[i] != '+' && s[i] != '-') || !digits(s + i + 1, 2, &th) ||
            !digits(s + len - 2, 2, &tm) || th > 23 || tm > 59)
            return false;
        tz = (th * 3600 + tm * 60) * (s[i] == '+' ? 1 : -1);
        i = len;
    } else {
        return false;
    }
    if (i != len)
        return false;
    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - tz;
    *ms = secs * 1000 + frac;
    return true;
}

static bool time_scan_ready(struct rd *r)
{
    if (r->time_scan)
        return true;
    struct event_path path;
    size_t pos = 0;
    struct ks_diag d;
    if (event_path_parse("$.eventTime", 11, &pos, &path, &d) != KS_OK)
        return false;
    r->time_plan = event_scan_plan_new();
    event_scan_plan_add(r->time_plan, &path);
    event_path_release(&path);
    r->time_scan = event_scan_new(r->time_plan, EVENT_SCAN_PREFIX);
    /* Records framing cuts records and reads eventTime in the same pass, and
     * must check the whole record's structure to find its end */
    r->frame_scan = event_scan_new(r->time_plan, 0);
    return true;
}

/* The eventTime slot of scan, as milliseconds; INT64_MIN when absent. */
static int64_t slot_time(const struct event_scan *scan)
{
    const struct event_value *v;
    if (event_scan_values(scan, 0, &v) == 0 || v->type != EVENT_V_STRING || v->escaped)
        return INT64_MIN;
    int64_t ms;
    return event_parse_time(v->ptr, v->len, &ms) ? ms : INT64_MIN;
}

static int64_t event_time_of(struct rd *r, const char *p, size_t len)
{
    if (!r->o->want_time || len == 0 || p[0] != '{' || !time_scan_ready(r))
        return INT64_MIN;
    /* eventTime comes early in a CloudTrail record: read up to it only */
    if (event_scan_run(r->time_scan, p, len, NULL) != EVENT_SCAN_OK)
        return INT64_MIN;
    return slot_time(r->time_scan);
}

/* ---- framing ----------------------------------------------------------- */

/* time_ms: the event's time when the framer already knows it, else
 * EVENT_TIME_UNKNOWN_YET to have it read here. */
#define EVENT_TIME_UNKNOWN_YET (INT64_MIN + 1)

static void emit(struct rd *r, const char *p, size_t len, uint64_t off, int64_t time_ms)
{
    uint64_t idx = r->index++;
    if (len > KS_MAX_EVENT_BYTES) {
        r->st->too_big++;
        char n[32];
        snprintf(n, sizeof(n), "%zu", len);
        report(r, off, "event of %s bytes is over the 1 MiB limit; skipped", n);
        return;
    }
    size_t bad;
    if (!ks_text_clean(p, len, &bad)) {
        if (p[bad] == '\0') {
            r->st->bad_nul++;
            report(r, off + bad, "NUL byte in event; skipped");
        } else {
            r->st->bad_utf8++;
            report(r, off + bad, "invalid UTF-8 in event; skipped");
        }
        return;
    }
    struct event ev = {
        .data = p,
        .len = len,
        .time_ms = time_ms == EVENT_TIME_UNKNOWN_YET ? event_time_of(r, p, len) : time_ms,
        .file = r->file,
        .record = idx,
        .offset = off,
        .number = ++r->st->events,
    };
    int rc = r->fn(r->ctx, &ev);
    if (rc)
        r->stop = rc;
}

static size_t frame_lines(struct rd *r, const char *buf, size_t len, bool eof)
{
    size_t pos = 0;
    while (pos < len && !r->stop) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (r->discarding) {
            if (!nl)
                return len;
            r->discarding = false;
            pos = (size_t)(nl - buf) + 1;
            continue;
        }
        if (!nl) {
            if (len - pos > KS_MAX_EVENT_BYTES) {
                r->st->too_big++;
                r->index++;
                report(r, r->base_off + pos, "line over the 1 MiB event limit; skipped");
                r->discarding = true;
                return len;
            }
            if (!eof)
                return pos;
            nl = buf + len;
        }
        size_t end = (size_t)(nl - buf);
        size_t e = end;
        if (e > pos && buf[e - 1] == '\r')
            e--;
        size_t k = pos;
        while (k < e && (buf[k] == ' ' || buf[k] == '\t'))
            k++;
        if (k < e) /* blank lines are not events */
            emit(r, buf + pos, e - pos, r->base_off + pos, EVENT_TIME_UNKNOWN_YET);
        else
            r->index++;
        pos = end + 1;
    }
    return pos > len ? len : pos;
}

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Decides between Records and lines from the first bytes. */
static size_t sniff(struct rd *r, const char *buf, size_t len, bool eof)
{
    size_t i = 0;
    if (len < 16 && !eof)
        return SIZE_MAX; /* too little to tell (a BOM alone is 3 bytes) */
    size_t bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    i = bom;
    while (i < len && is_ws(buf[i]))
        i++;
    if (i == len && !eof && len < 4096)
        return SIZE_MAX; /* undecided */
    if (r->o->format == EVENT_FORMAT_LINES || i == len || buf[i] != '{') {
        r->mode = M_LINES;
        return bom; /* the BOM is not part of the first event */
    }
    /* {"Records" : [  with optional whitespace */
    size_t j = i + 1;
    while (j < len && is_ws(buf[j]))
        j++;
    static const char key[] = "\"Records\"";
    if (len - j < sizeof(key) + 8 && !eof)
        return SIZE_MAX;
    if (len - j >= sizeof(key) - 1 && memcmp(buf + j, key, sizeof(key) - 1) == 0) {
        j += sizeof(key) - 1;
        while (j < len && is_ws(buf[j]))
            j++;
        if (j < len && buf[j] == ':') {
            j++;
            while (j < len && is_ws(buf[j]))
                j++;
            if (j < len && buf[j] == '[') {
                r->mode = M_RECORDS;
                r->rstate = R_ELEM_OR_END;
                return j + 1;
            }
        }
    }
    r->mode = r->o->format == EVENT_FORMAT_RECORDS ? M_RECORDS : M_LINES;
    if (r->mode == M_RECORDS) {
        r->st->bad_json++;
        report(r, r->base_off + i, "not a CloudTrail log file ({\"Records\":[...]}); skipped");
        r->rstate = R_DEAD;
    }
    return r->mode == M_LINES ? bom : 0;
}

/* Byte-level skipper for damaged elements: follows strings and counts
 * brackets of any kind, so it resynchronises after mismatched or absurdly
 * deep nesting without a depth limit. Returns bytes used, or len if the
 * element continues. */
static size_t skip_damaged(struct rd *r, const char *buf, size_t len, bool *done)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (r->skip_str) {
            if (r->skip_esc)
                r->skip_esc = false;
            else if (c == '\\')
                r->skip_esc = true;
            else if (c == '"')
                r->skip_str = false;
            continue;
        }
        if (c == '"') {
            r->skip_str = true;
        } else if (c == '{' || c == '[') {
            r->skip_depth++;
        } else if (c == '}' || c == ']') {
            r->skip_depth--;
            if (r->skip_depth <= 0) {
                *done = true;
                return i + 1;
            }
            if (c == '}' && r->skip_depth == 1) {
                /* An object closes one level above the record's own and the
                 * next record starts right after ("},{"): the damage was an
                 * unclosed bracket inside this record. Resynchronise here
                 * rather than lose the rest of the file. */
                size_t j = i + 1;
                while (j < len && is_ws(buf[j]))
                    j++;
                if (j < len && buf[j] == ',') {
                    j++;
                    while (j < len && is_ws(buf[j]))
                        j++;
                    if (j < len && buf[j] == '{') {
                        *done = true;
                        return i + 1;
                    }
                }
            }
        } else if (r->skip_depth == 0 && (c == ',')) {
            *done = true;
            return i; /* a damaged scalar element */
        }
    }
    *done = false;
    return len;
}

static size_t frame_records(struct rd *r, const char *buf, size_t len, bool eof)
{
    size_t pos = 0;
    while (pos < len && !r->stop) {
        if (r->skipping) {
            bool done;
            pos += skip_damaged(r, buf + pos, len - pos, &done);
            if (done) {
                r->skipping = false;
                r->rstate = R_AFTER;
            }
            continue;
        }
        if (r->rstate == R_TAIL || r->rstate == R_DEAD)
            return len;
        while (pos < len && is_ws(buf[pos]))
            pos++;
        if (pos == len)
            break;
        char c = buf[pos];
        if (r->rstate == R_AFTER) {
            if (c == ',') {
                r->rstate = R_ELEM;
                pos++;
            } else if (c == ']') {
                r->rstate = R_TAIL;
                pos++;
            } else {
                r->st->bad_json++;
                report(r, r->base_off + pos,
                       "expected ',' or ']' between records; rest of file skipped");
                r->rstate = R_DEAD;
            }
            continue;
        }
        if (c == ']' && r->rstate == R_ELEM_OR_END) {
            r->rstate = R_TAIL;
            pos++;
            continue;
        }
        size_t used = 0;
        struct ks_diag d;
        enum event_skim_status s;
        int64_t t = EVENT_TIME_UNKNOWN_YET;
        if (r->o->want_time && buf[pos] == '{' && time_scan_ready(r)) {
            /* one pass cuts the record and reads its eventTime */
            enum event_scan_status st =
                event_scan_first(r->frame_scan, buf + pos, len - pos, &used, &d);
            if (st == EVENT_SCAN_OK) {
                s = EVENT_SKIM_OK;
                t = slot_time(r->frame_scan);
            } else if (d.offset == len - pos) {
                s = EVENT_SKIM_MORE;
            } else {
                s = strstr(d.msg, "nesting") ? EVENT_SKIM_TOO_DEEP : EVENT_SKIM_ERROR;
            }
        } else {
            s = event_skim(buf + pos, len - pos, &used, &d);
        }
        if (s == EVENT_SKIM_OK && used > KS_MAX_EVENT_BYTES)
            s = EVENT_SKIM_ERROR;
        if (s == EVENT_SKIM_OK && (pos + used < len || eof)) {
            emit(r, buf + pos, used, r->base_off + pos, t);
            pos += used;
            r->rstate = R_AFTER;
            continue;
        }
        if (!eof && len - pos <= KS_MAX_EVENT_BYTES)
            return pos; /* the element may simply continue in the next read */
        /* Damaged, too deep or too big: report, then skip it bytewise. */
        uint64_t off = r->base_off + pos;
        r->index++;
        if (s == EVENT_SKIM_TOO_DEEP) {
            r->st->too_deep++;
            report(r, off, "record nested deeper than 512 levels; skipped");
        } else if (s == EVENT_SKIM_OK || len - pos > KS_MAX_EVENT_BYTES) {
            r->st->too_big++;
            report(r, off, "record over the 1 MiB event limit; skipped");
        } else if (eof && (s == EVENT_SKIM_MORE || d.offset == len - pos)) {
            r->st->bad_json++;
            report(r, off, "truncated record at end of file; skipped");
            r->rstate = R_DEAD; /* one report for one cut */
            return len;
        } else {
            r->st->bad_json++;
            char msg[300];
            snprintf(msg, sizeof(msg), "invalid JSON in record at byte %llu (%s); skipped",
                     (unsigned long long)(off + (d.offset == SIZE_MAX ? 0 : d.offset)), d.msg);
            report(r, off, "%s", msg);
        }
        r->skipping = true;
        r->skip_depth = 0;
        r->skip_str = r->skip_esc = false;
    }
    return pos > len ? len : pos;
}

/* Feeds the window to the framer; returns bytes consumed. */
static size_t frame(struct rd *r, const char *buf, size_t len, bool eof)
{
    size_t pos = 0;
    if (r->mode == M_SNIFF) {
        pos = sniff(r, buf, len, eof);
        if (pos == SIZE_MAX)
            return 0;
    }
    r->base_off += pos;
    if (r->mode == M_LINES) {
        size_t n = frame_lines(r, buf + pos, len - pos, eof);
        r->base_off -= pos;
        return pos + n;
    }
    size_t n = frame_records(r, buf + pos, len - pos, eof);
    r->base_off -= pos;
    if (eof && !r->stop &&
        (r->rstate == R_ELEM || r->rstate == R_ELEM_OR_END || r->rstate == R_AFTER ||
         r->skipping)) {
        r->st->bad_json++;
        report(r, r->base_off + len, "Records array not closed (truncated file?)");
        r->rstate = R_DEAD;
    }
    return pos + n;
}

/* ---- sources ----------------------------------------------------------- */

struct window {
    char *buf;
    size_t len;
};

/* Appends data to the window, framing as it fills. Returns false to stop. */
static bool window_push(struct rd *r, struct window *w, const char *data, size_t n, bool eof)
{
    while (n || eof) {
        size_t room = WINDOW_CAP - w->len;
        size_t take = n < room ? n : room;
        if (take) {
            memcpy(w->buf + w->len, data, take);
            data += take;
        }
        w->len += take;
        n -= take;
        r->st->bytes += take;
        bool last = eof && n == 0;
        size_t used = frame(r, w->buf, w->len, last);
        memmove(w->buf, w->buf + used, w->len - used);
        w->len -= used;
        r->base_off += used;
        if (r->stop)
            return false;
        if (last)
            break;
    }
    return true;
}

static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Streams gzip from pre (already read) then fd, through zlib. */
static void read_gzip_stream(struct rd *r, struct window *w, int fd, const unsigned char *pre,
                             size_t pre_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK) {
        report(r, 0, "cannot initialise zlib");
        r->st->bad_gzip++;
        return;
    }
    unsigned char *in = ks_xmalloc(READ_CHUNK);
    char *out = ks_xmalloc(READ_CHUNK);
    uint64_t in_off = 0;
    bool in_eof = false, ended = false, damaged = false;
    size_t pre_pos = 0;
    for (;;) {
        if (z.avail_in == 0 && !in_eof) {
            if (pre_pos < pre_len) {
                size_t k = pre_len - pre_pos < READ_CHUNK ? pre_len - pre_pos : READ_CHUNK;
                memcpy(in, pre + pre_pos, k);
                pre_pos += k;
                z.next_in = in;
                z.avail_in = (uInt)k;
            } else {
                ssize_t k = fd >= 0 ? read_full(fd, in, READ_CHUNK) : 0;
                if (k < 0) {
                    report(r, in_off, "read error: %s", strerror(errno));
                    r->st->bad_file++;
                    damaged = true;
                    break;
                }
                if (k == 0)
                    in_eof = true;
                z.next_in = in;
                z.avail_in = (uInt)k;
            }
        }
        if (z.avail_in == 0 && in_eof)
            break;
        uInt before = z.avail_in;
        z.next_out = (unsigned char *)out;
        z.avail_out = READ_CHUNK;
        int rc = inflate(&z, Z_NO_FLUSH);
        in_off += before - z.avail_in;
        size_t got = READ_CHUNK - z.avail_out;
        if (got && !window_push(r, w, out, got, false))
            goto out;
        if (rc == Z_STREAM_END) {
            ended = true;
            /* another member may follow (concatenated gzip) */
            if (z.avail_in == 0 && pre_pos >= pre_len) {
                ssize_t k = fd >= 0 ? read_full(fd, in, READ_CHUNK) : 0;
                if (k <= 0) {
                    in_eof = true;
                    break;
                }
                z.next_in = in;
                z.avail_in = (uInt)k;
            }
            if (z.avail_in && z.next_in[0] == 0)
                break; /* zero padding after the last member */
            inflateReset(&z);
            ended = false;
            continue;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && !in_eof)
            continue;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            char msg[200];
            snprintf(msg, sizeof(msg), "corrupt gzip data at compressed byte %llu (%s)",
                     (unsigned long long)in_off, z.msg ? z.msg : "inflate error");
            report(r, r->base_off + w->len, "%s; rest of file skipped", msg);
            r->st->bad_gzip++;
            damaged = true;
            break;
        }
    }
    if (!ended && !damaged) {
        char msg[120];
        snprintf(msg, sizeof(msg), "truncated gzip file (compressed stream ends at byte %llu)",
                 (unsigned long long)in_off);
        report(r, r->base_off + w->len, "%s; events up to here were read", msg);
        r->st->bad_gzip++;
        damaged = true;
    }
    if (damaged && r->mode == M_LINES && w->len) {
        /* the last line is cut: report it rather than pass half an event */
        const char *nl = memrchr(w->buf, '\n', w->len);
        size_t keep = nl ? (size_t)(nl - w->buf) + 1 : 0;
        if (keep < w->len) {
            r->st->bad_json++;
            report(r, r->base_off + keep, "incomplete last event dropped");
            w->len = keep;
        }
    }
    window_push(r, w, NULL, 0, true);
out:
    inflateEnd(&z);
    free(in);
    free(out);
}

static void read_fd(struct rd *r, int fd, off_t size, bool regular)
{
    struct window w = {ks_xmalloc(WINDOW_CAP), 0};
    unsigned char head[2];
    ssize_t hn = read_full(fd, head, 2);
    if (hn < 0) {
        report(r, 0, "read error: %s", strerror(errno));
        r->st->bad_file++;
        goto out;
    }
    if (hn == 2 && head[0] == 0x1f && head[1] == 0x8b) {
        if (regular && size >= 18 && (size_t)size <= r->o->gzip_whole_max) {
            /* Small archive (the CloudTrail norm): one libdeflate call. */
            size_t csize = (size_t)size;
            unsigned char *cbuf = ks_xmalloc(csize);
            memcpy(cbuf, head, 2);
            ssize_t k = read_full(fd, cbuf + 2, csize - 2);
            if (k < 0 || (size_t)k != csize - 2) {
                report(r, 0, "read error: %s", k < 0 ? strerror(errno) : "short read");
                r->st->bad_file++;
                free(cbuf);
                goto out;
            }
            uint32_t isize = (uint32_t)cbuf[csize - 4] | (uint32_t)cbuf[csize - 3] << 8 |
                             (uint32_t)cbuf[csize - 2] << 16 | (uint32_t)cbuf[csize - 1] << 24;
            bool done = false;
            if (isize <= GZIP_WHOLE_OUT_MAX) {
                struct libdeflate_decompressor *dc = libdeflate_alloc_decompressor();
                char *obuf = ks_xmalloc(isize ? isize : 1);
                size_t in_used = 0, out_n = 0;
                enum libdeflate_result res =
                    libdeflate_gzip_decompress_ex(dc, cbuf, csize, obuf, isize, &in_used, &out_n);
                libdeflate_free_decompressor(dc);
                if (res == LIBDEFLATE_SUCCESS && in_used == csize) {
                    r->st->bytes += out_n;
                    size_t used = frame(r, obuf, out_n, true);
                    (void)used;
                    done = true;
                }
                free(obuf);
            }
            if (!done) /* multi-member, damaged or large: let zlib say where */
                read_gzip_stream(r, &w, -1, cbuf, csize);
            free(cbuf);
        } else {
            read_gzip_stream(r, &w, fd, head, 2);
        }
        goto out;
    }
    if (hn > 0 && !window_push(r, &w, (const char *)head, (size_t)hn, false))
        goto out;
    for (;;) {
        char *dst = w.buf + w.len;
        size_t room = WINDOW_CAP - w.len;
        size_t want = room < READ_CHUNK ? room : READ_CHUNK;
        ssize_t k = read_full(fd, dst, want);
        if (k < 0) {
            report(r, r->base_off + w.len, "read error: %s", strerror(errno));
            r->st->bad_file++;
            break;
        }
        if (k == 0)
            break;
        /* data is already in place: frame without copying */
        w.len += (size_t)k;
        r->st->bytes += (size_t)k;
        size_t used = frame(r, w.buf, w.len, false);
        memmove(w.buf, w.buf + used, w.len - used);
        w.len -= used;
        r->base_off += used;
        if (r->stop)
            goto out;
    }
    window_push(r, &w, NULL, 0, true);
out:
    free(w.buf);
}

static void read_one_file(struct rd *r, const char *path, int fd, const struct stat *st)
{
    r->file = path;
    r->mode = M_SNIFF;
    r->rstate = R_ELEM_OR_END;
    r->base_off = 0;
    r->index = 0;
    r->discarding = r->skipping = false;
    r->st->files++;
    read_fd(r, fd, st ? st->st_size : 0, st && S_ISREG(st->st_mode));
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void read_tree(struct rd *r, const char *path, unsigned depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        r->st->bad_file++;
        if (r->o->errors)
            fprintf(r->o->errors, "keysentry: cannot read '%s': %s\n", path, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth >= MAX_DIR_DEPTH) {
            r->st->bad_file++;
            if (r->o->errors)
                fprintf(r->o->errors, "keysentry: '%s': directories nested too deep; skipped\n",
                        path);
            return;
        }
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, name_cmp);
        if (n < 0) {
            r->st->bad_file++;
            if (r->o->errors)
                fprintf(r->o->errors, "keysentry: cannot list '%s': %s\n", path, strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            if (nm[0] != '.' && !r->stop) {
                size_t plen = strlen(path);
                char *child = ks_xmalloc(plen + strlen(nm) + 2);
                memcpy(child, path, plen);
                size_t k = plen;
                if (k == 0 || child[k - 1] != '/')
                    child[k++] = '/';
                memcpy(child + k, nm, strlen(nm) + 1);
                read_tree(r, child, depth + 1);
                free(child);
            }
            free(names[i]);
        }
        free(names);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r->st->bad_file++;
        if (r->o->errors)
            fprintf(r->o->errors, "keysentry: cannot open '%s': %s\n", path, strerror(errno));
        return;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    read_one_file(r, path, fd, &st);
    close(fd);
}

int event_read_path(const char *path, const struct event_reader_opts *opts, event_fn *fn, void *ctx,
                    struct event_stats *stats)
{
    struct rd r;
    memset(&r, 0, sizeof(r));
    r.o = opts;
    r.st = stats;
    r.fn = fn;
    r.ctx = ctx;
    if (strcmp(path, "-") == 0) {
        struct stat st;
        bool have = fstat(0, &st) == 0;
        read_one_file(&r, "-", 0, have ? &st : NULL);
    } else {
        struct stat st;
        if (stat(path, &st) != 0) {
            stats->bad_file++;
            if (opts->errors)
                fprintf(opts->errors, "keysentry: cannot read '%s': %s\n", path, strerror(errno));
            return -1;
        }
        read_tree(&r, path, 0);
    }
    event_scan_free(r.time_scan);
    event_scan_free(r.frame_scan);
    event_scan_plan_free(r.time_plan);
    return r.stop;
}
