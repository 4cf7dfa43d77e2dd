/* SPDX-License-Identifier: Apache-2.0 */
/* keysentry's SNS endpoints on the daemon's listener (src/notify does the work). */
#include "http/http_int.h"

#include "notify/notify.h"

void http_server_set_hub(struct http_server *s, struct notify_hub *hub)
{
    atomic_store(&s->hub, hub);
}

struct query {
    struct ks_buf *b;
    bool ok;
};

static void add_escaped(struct query *q, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s && q->ok; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            q->ok = ks_buf_add(q->b, s, 1) == KS_OK;
        else
            q->ok = ks_buf_addf(q->b, "%%%c%c", hex[c >> 4], hex[c & 15]) == KS_OK;
    }
}

/* libmicrohttpd hands the query decoded; notify_hub_http wants a target. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    struct query *q = cls;
    if (q->b->data[q->b->len - 1] != '?')
        q->ok = q->ok && ks_buf_add(q->b, "&", 1) == KS_OK;
    add_escaped(q, key);
    if (value) {
        q->ok = q->ok && ks_buf_add(q->b, "=", 1) == KS_OK;
        add_escaped(q, value);
    }
    return q->ok ? MHD_YES : MHD_NO;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

bool http_notify(struct http_req *r)
{
    struct notify_hub *hub = atomic_load(&r->srv->hub);
    if (!hub || (strcmp(r->method, "GET") && strcmp(r->method, "POST")))
        return false;
    /* cheap test first: every SNS endpoint is one of these shapes */
    const char *action = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "Action");
    size_t ul = strlen(r->url);
    bool cert = ends_with(r->url, ul, "/notify/signing-cert.pem");
    bool unsub = ends_with(r->url, ul, "/unsubscribe.html");
    if (!cert && !unsub &&
        !(action && (!strcmp(action, "ConfirmSubscription") || !strcmp(action, "Unsubscribe"))))
        return false;
    struct ks_buf target;
    ks_buf_init(&target, 16384);
    struct query q = {&target, ks_buf_add(&target, r->url, ul) == KS_OK &&
                                   ks_buf_add(&target, "?", 1) == KS_OK};
    if (q.ok)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    if (!q.ok) {
        ks_buf_release(&target);
        r->status = 414;
        http_out(r, "{\"error\":\"request target too long\"}\n");
        return true;
    }
    struct notify_http_reply rep;
    bool mine = notify_hub_http(hub, r->method, target.data, &rep);
    ks_buf_release(&target);
    if (!mine)
        return false;
    r->status = (unsigned)rep.status;
    r->content_type = rep.content_type;
    http_add(r, rep.body.data, rep.body.len);
    ks_buf_release(&rep.body);
    return true;
}
