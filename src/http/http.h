/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: the daemon's one HTTP listener (libmicrohttpd), in front of a
 * serve_engine (docs/serve.md#apis).
 *
 * It serves the AWS-compatible logs API (JSON 1.1, dispatched on
 * X-Amz-Target: Logs_20140328.<Op>) and cloudwatch API (query protocol, form
 * Action=, XML responses), a JSON API for scripts under /api/, CloudTrail
 * push on POST /api/push, Prometheus text on /metrics and /healthz.
 *
 * Security defaults: the listener binds 127.0.0.1 unless told otherwise; a
 * non-loopback address needs a token, and when a token is set every request
 * but /healthz must carry "Authorization: Bearer <token>". SigV4 headers are
 * accepted and ignored (no signature check yet), so the AWS CLI works with
 * dummy credentials on loopback. Request bodies are capped at
 * HTTP_MAX_BODY; anything larger is answered 413 in the protocol's error
 * shape.
 */
#ifndef KS_HTTP_H
#define KS_HTTP_H

#include "base/ks.h"
#include "serve/serve.h"

#define HTTP_MAX_BODY        (2u << 20) /* PutLogEvents batches are <= 1 MiB of messages */
#define HTTP_MAX_CONNECTIONS 64
#define HTTP_TIMEOUT_S       30     /* idle connection timeout */
#define HTTP_MAX_FORM_PARAMS 262144 /* a 1 MB PutMetricData; the body cap bounds it first */
#define HTTP_EVENTS_LIMIT    1000   /* most /api/events and FilterLogEvents return */

struct http_options {
    const char *listen; /* "HOST:PORT"; NULL = 127.0.0.1:4580; PORT 0 = ephemeral */
    const char *token;  /* bearer token, or NULL */
    bool quiet;
};

struct http_server;

/*
 * Starts the listener on its own thread. The engine is borrowed and must
 * outlive the server. Errors: KS_E_INVALID (bad address, or a non-loopback
 * address without a token), KS_E_IO (cannot listen).
 */
KS_MUST_CHECK enum ks_err http_server_start(struct serve_engine *engine,
                                            const struct http_options *opts,
                                            struct http_server **out, struct ks_diag *diag);
/* The bound port (useful with port 0). */
unsigned http_server_port(const struct http_server *s);
/* Serves hub's SNS endpoints from now on (NULL: no longer). Borrowed: set
 * NULL before freeing the hub. */
struct notify_hub;
void http_server_set_hub(struct http_server *s, struct notify_hub *hub);
/* Stops accepting, waits for running handlers, frees. NULL-safe. */
void http_server_stop(struct http_server *s);

#endif
