/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_push: the push formats of `keysentry serve` (http_push.c).
 *
 * POST /push/firehose takes Kinesis Data Firehose HTTP endpoint deliveries
 * and POST /push/eventbridge takes EventBridge events whose detail is a
 * CloudTrail record (docs/serve.md#firehose). The body parsers are public so
 * tests and fuzzers can drive them without a listener: they hand every event
 * to a sink and never touch an engine themselves.
 */
#ifndef KS_HTTP_PUSH_H
#define KS_HTTP_PUSH_H

#include "base/ks.h"

#define HTTP_PUSH_MAX_INFLATED (8u << 20) /* a gzip body or record inflates to at most this */
#define HTTP_PUSH_MAX_ERRORS   20         /* error messages echoed per request */

struct http_push_sink {
    void *ctx;
    /*
     * One screened event (<= KS_MAX_EVENT_BYTES, clean UTF-8, not empty).
     * time_ms is INT64_MIN when the record's eventTime decides. origin names
     * the request and record ("firehose:<requestId>/records[3]"), offset is
     * the event's byte offset inside the decoded record; stream is the
     * CloudWatch Logs stream for subscription data, else NULL. Returns true
     * when the event was counted. All pointers are borrowed for the call.
     */
    bool (*event)(void *ctx, const char *data, size_t len, int64_t time_ms, const char *stream,
                  const char *origin, uint64_t offset);
    /* A bad record; msg names its position ("records[2].data: invalid
     * base64 at character 17"). */
    void (*bad)(void *ctx, const char *msg);
};

/* What a Firehose envelope said about itself. */
struct http_push_firehose_info {
    char request_id[128]; /* the body's requestId ("" when absent) */
    int64_t timestamp_ms; /* the body's timestamp (0 when absent) */
    size_t records;
};

/*
 * A Firehose delivery body {"requestId","timestamp","records":[{"data":
 * "<base64>"}]} (already inflated when the request had Content-Encoding:
 * gzip). The envelope is checked whole before any event is handed over, so
 * an envelope error (KS_E_SYNTAX or KS_E_INVALID, diag with the byte offset)
 * delivers nothing. Inside, each record's data may be gzip'd; it holds a
 * CloudTrail record, a CloudTrail log file {"Records":[...]}, NDJSON lines,
 * or CloudWatch Logs subscription data ({"messageType":"DATA_MESSAGE",
 * "logEvents":[...]}, each message one event at its timestamp). A bad record
 * or line goes to sink->bad and never stops the others.
 */
KS_MUST_CHECK enum ks_err http_push_firehose(const char *body, size_t len,
                                             const struct http_push_sink *sink,
                                             struct http_push_firehose_info *info,
                                             struct ks_diag *diag);

/*
 * EventBridge: one event object, an array of them, or PutEvents input
 * {"Entries":[{"DetailType","Detail":"<JSON text>",...}]}. Events whose
 * detail-type ends in "via CloudTrail" carry a CloudTrail record in detail;
 * it counts at detail.eventTime (else the event's time). Anything else is a
 * bad record. Envelope errors as for http_push_firehose.
 */
KS_MUST_CHECK enum ks_err http_push_eventbridge(const char *body, size_t len,
                                                const struct http_push_sink *sink,
                                                struct ks_diag *diag);

/* Inflates gzip (or zlib) data, all members, into out (reset first); more
 * than max bytes is KS_E_TOOBIG, damage KS_E_FORMAT with the input offset. */
KS_MUST_CHECK enum ks_err http_push_gunzip(const char *in, size_t len, size_t max,
                                           struct ks_buf *out, struct ks_diag *diag);

/* ---- the listener's side (used by http_server.c) --------------------------- */

struct http_req;
struct http_server;

/* Registers the push sources ("http:firehose", "http:eventbridge") so they
 * show in /metrics from the start. */
void http_push_register(struct http_server *s);

/*
 * Handles POST /push/firehose and /push/eventbridge, including their own
 * authentication (Firehose cannot send a bearer token: its access key
 * header stands in for it). Returns false for any other path, leaving the
 * request to the caller.
 */
bool http_push(struct http_req *r, bool too_big);

#endif
