/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/http: one request as the handlers see it. */
#ifndef KS_HTTP_INT_H
#define KS_HTTP_INT_H

#include "http/http.h"

#include <microhttpd.h>
#include <stdatomic.h>

struct http_server {
    struct MHD_Daemon *mhd;
    struct serve_engine *engine;
    char *token;
    unsigned port;
    bool quiet;
    int src_logs, src_push; /* engine sources for pushed events */
    _Atomic(struct notify_hub *) hub; /* set once serve's hub runs (http_notify.c) */
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    const char *body;
    size_t body_len;
    int64_t now_ms;
    char request_id[40];
    /* the answer */
    unsigned status;
    const char *content_type;
    struct ks_buf out;
};

/* A form (query protocol) or URL query: decoded name/value pairs. */
struct http_form {
    char **names, **values;
    size_t n;
};

bool http_form_parse(struct http_form *f, const char *s, size_t len);
void http_form_release(struct http_form *f);
const char *http_form_get(const struct http_form *f, const char *name); /* NULL when absent */

/* Output helpers (they ignore KS_E_TOOBIG: the buffer cap is the answer's). */
void http_out(struct http_req *r, const char *fmt, ...) KS_PRINTF(2, 3);
/* Appends to the answer; past its cap the rest is dropped (the cap is far
 * above any answer the bounded inputs can produce). */
void http_add(struct http_req *r, const void *p, size_t n);
void http_add_json(struct http_req *r, const char *s, size_t n); /* JSON string body */
void http_out_json_str(struct http_req *r, const char *s);
void http_out_xml(struct http_req *r, const char *s); /* escaped text */
void http_out_iso(struct http_req *r, int64_t ms);   /* 2026-11-27T04:25:27.123Z */
bool http_parse_time(const char *s, int64_t *ms);    /* ISO 8601 or epoch seconds */

/* Handlers: fill r->status, r->content_type and r->out. */
void http_logs(struct http_req *r, const char *op);
void http_logs_error(struct http_req *r, unsigned status, const char *type, const char *msg);
void http_cw(struct http_req *r);
void http_cw_error(struct http_req *r, unsigned status, const char *code, const char *msg);
void http_api(struct http_req *r);
/* keysentry's SNS endpoints (signing cert, ConfirmSubscription, Unsubscribe):
 * true when r was one and is answered. No bearer token: subscribers cannot
 * send one, and each request carries its own secret (token, ARN). */
bool http_notify(struct http_req *r);

#endif
