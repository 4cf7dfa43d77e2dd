/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One CloudTrail record from one KMS call (spec/cloudtrail-kms-events.md §1,
 * §2). Built by hand into a ks_buf in the spec's fixed field order: output
 * is diffable, and the hot path makes one pass with no intermediate JSON
 * tree. The operation-specific parts (requestParameters, ...) come from the
 * operations library as jansson values and are dumped compactly in place.
 *
 * Rules that metric filters depend on: errorCode is absent (not null, not
 * "") on success; errorMessage is absent when the API message was empty;
 * responseElements is null on failure.
 */
#include "kms/kms_server.h"

#include <openssl/rand.h>

void kms_trail_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1) {
        fputs("keysentry: BUG: RAND_bytes failed\n", stderr);
        abort();
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 15];
    }
    out[o] = '\0';
}

static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void kms_trail_iso8601(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    memcpy(out, "1970-01-01T00:00:00Z", 21);
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return;
    put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    put_digits(out + 5, (unsigned)(tm.tm_mon + 1), 2);
    put_digits(out + 8, (unsigned)tm.tm_mday, 2);
    put_digits(out + 11, (unsigned)tm.tm_hour, 2);
    put_digits(out + 14, (unsigned)tm.tm_min, 2);
    put_digits(out + 17, (unsigned)tm.tm_sec, 2);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return ks_buf_add(data, buf, size) == KS_OK ? 0 : -1;
}

static enum ks_err add_json(struct ks_buf *b, const json_t *v)
{
    if (!v)
        return ks_buf_add(b, "null", 4);
    return json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) == 0 ? KS_OK
                                                                                  : KS_E_TOOBIG;
}

static enum ks_err add_str(struct ks_buf *b, const char *s)
{
    enum ks_err e = ks_buf_add(b, "\"", 1);
    if (!e)
        e = ks_buf_add_json_str(b, s, strlen(s));
    if (!e)
        e = ks_buf_add(b, "\"", 1);
    return e;
}

/* A header value of any bytes as JSON text: invalid UTF-8 becomes '?', and
 * the result is cut to at most `max` bytes without splitting a character. */
static enum ks_err add_clean_str(struct ks_buf *b, const char *s, size_t n, size_t max)
{
    char tmp[KMS_MAX_USER_AGENT > KMS_MAX_ERROR_MESSAGE ? KMS_MAX_USER_AGENT
                                                        : KMS_MAX_ERROR_MESSAGE];
    if (max > sizeof(tmp))
        max = sizeof(tmp);
    if (n > max) {
        n = max;
        /* back off to a character boundary */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(tmp, s, n);
    size_t bad_at;
    size_t from = 0;
    while (from < n && !ks_text_clean(tmp + from, n - from, &bad_at)) {
        tmp[from + bad_at] = '?';
        from += bad_at + 1;
    }
    enum ks_err e = ks_buf_add(b, "\"", 1);
    if (!e)
        e = ks_buf_add_json_str(b, tmp, n);
    if (!e)
        e = ks_buf_add(b, "\"", 1);
    return e;
}

enum ks_err kms_trail_record(const struct kms_trail_call *c, struct ks_buf *b)
{
    char when[21];
    kms_trail_iso8601(c->time_ms / 1000, when);
    enum ks_err e = ks_buf_add(b, "{\"eventVersion\":", 16);
    if (!e)
        e = add_str(b, c->event_version ? c->event_version : KMS_DEFAULT_EVENT_VER);
    if (!e)
        e = ks_buf_add(b, ",\"userIdentity\":", 16);
    if (!e)
        e = ks_buf_add(b, c->identity_json, c->identity_len);
    if (!e)
        e = ks_buf_addf(b, ",\"eventTime\":\"%s\",\"eventSource\":\"kms.amazonaws.com\",", when);
    if (!e)
        e = ks_buf_add(b, "\"eventName\":", 12);
    if (!e)
        e = add_str(b, c->event_name);
    if (!e)
        e = ks_buf_add(b, ",\"awsRegion\":", 13);
    if (!e)
        e = add_str(b, c->region);
    if (!e)
        e = ks_buf_add(b, ",\"sourceIPAddress\":", 19);
    if (!e)
        e = add_str(b, c->source_ip ? c->source_ip : "");
    if (!e && c->user_agent) {
        e = ks_buf_add(b, ",\"userAgent\":", 13);
        if (!e)
            e = add_clean_str(b, c->user_agent, c->user_agent_len, KMS_MAX_USER_AGENT);
    }
    if (!e && c->error_code) {
        e = ks_buf_add(b, ",\"errorCode\":", 13);
        if (!e)
            e = add_str(b, c->error_code);
        if (!e && c->error_message && c->error_message_len) {
            e = ks_buf_add(b, ",\"errorMessage\":", 16);
            if (!e)
                e = add_clean_str(b, c->error_message, c->error_message_len, KMS_MAX_ERROR_MESSAGE);
        }
    }
    if (!e)
        e = ks_buf_add(b, ",\"requestParameters\":", 21);
    if (!e)
        e = add_json(b, c->request_parameters);
    if (!e)
        e = ks_buf_add(b, ",\"responseElements\":", 20);
    /* spec §2.3: null for every failure, whatever the library handed over */
    if (!e)
        e = add_json(b, c->error_code ? NULL : c->response_elements);
    if (!e && c->additional_event_data) {
        e = ks_buf_add(b, ",\"additionalEventData\":", 23);
        if (!e)
            e = add_json(b, c->additional_event_data);
    }
    if (!e && c->request_id) {
        e = ks_buf_add(b, ",\"requestID\":", 13);
        if (!e)
            e = add_str(b, c->request_id);
    }
    char eid[37];
    kms_trail_uuid4(eid);
    if (!e)
        e = ks_buf_addf(b, ",\"eventID\":\"%s\",\"readOnly\":%s", eid,
                        c->read_only ? "true" : "false");
    if (!e && c->resources && json_array_size(c->resources) > 0) {
        e = ks_buf_add(b, ",\"resources\":", 13);
        if (!e)
            e = add_json(b, c->resources);
    }
    if (!e)
        e = ks_buf_addf(b, ",\"eventType\":\"%s\",\"managementEvent\":true,",
                        c->service_event ? "AwsServiceEvent" : "AwsApiCall");
    if (!e)
        e = ks_buf_add(b, "\"recipientAccountId\":", 21);
    if (!e)
        e = add_str(b, c->account);
    /* No tlsDetails: the service speaks plain HTTP and the spec emits the
     * field only for TLS requests (§1.1). */
    if (!e)
        e = ks_buf_add(b, ",\"eventCategory\":\"Management\"}", 30);
    return e;
}

void kms_trail_service_event(void *ctx, const char *event_name, const char *key_arn,
                             int64_t when_ms)
{
    const struct kms_trail_service_events *se = ctx;
    if (!se || !se->trail || !event_name)
        return;
    /* The minimal identity and "AWS Internal" origin of spec cloudtrail §3.8. */
    struct ks_buf id;
    ks_buf_init(&id, 1024);
    static const char head[] = "{\"accountId\":", tail[] = ",\"invokedBy\":\"AWS Internal\"}";
    enum ks_err e = ks_buf_add(&id, head, sizeof(head) - 1);
    if (!e)
        e = add_str(&id, se->account);
    if (!e)
        e = ks_buf_add(&id, tail, sizeof(tail) - 1);
    json_t *res = key_arn ? json_pack("[{s:s,s:s,s:s}]", "accountId", se->account, "type",
                                      "AWS::KMS::Key", "ARN", key_arn)
                          : NULL;
    struct kms_trail_call c = {
        .event_version = se->event_version,
        .identity_json = id.data,
        .identity_len = id.len,
        .time_ms = when_ms,
        .event_name = event_name,
        .region = se->region,
        .account = se->account,
        .source_ip = "AWS Internal",
        .user_agent = "AWS Internal",
        .user_agent_len = 12,
        .resources = res,
        .service_event = true,
    };
    struct ks_buf rec;
    ks_buf_init(&rec, KMS_MAX_RECORD_BYTES);
    if (!e && kms_trail_record(&c, &rec) == KS_OK && rec.cap)
        kms_trail_submit(se->trail, rec.data, rec.len, when_ms);
    else
        ks_buf_release(&rec);
    json_decref(res);
    ks_buf_release(&id);
}
