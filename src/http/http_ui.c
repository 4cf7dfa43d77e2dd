/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dashboard's files (docs/dashboard.md): src/http/ui compiled into the
 * binary by cmake/KsEmbedGen.cmake and served at / and /ui/<file>.
 *
 * The files are public: a browser navigating to the page cannot attach a
 * bearer token, and the files are the same for everyone and hold no data.
 * Everything the page shows comes from /api/..., which the token guards;
 * the page takes the token once from ?token= (or a prompt) and sends it as
 * an Authorization header from JavaScript.
 *
 * Caching: every answer carries the asset's ETag and "no-cache", so the
 * browser revalidates each load (a cheap 304) and never keeps a stale page
 * after the binary is upgraded. A strict Content-Security-Policy allows only
 * our own scripts, styles and API: event fields are attacker-controlled text,
 * and the page renders them with textContent, but the policy is the second
 * line if that ever slips.
 */
#include "http/http_int.h"

void http_header(struct http_req *r, const char *name, const char *value)
{
    if (r->n_hdrs == HTTP_MAX_EXTRA_HEADERS)
        return;
    r->hdr_names[r->n_hdrs] = name;
    r->hdr_values[r->n_hdrs] = value;
    r->n_hdrs++;
}

bool http_ui_wants(const struct http_req *r)
{
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
        return false;
    return !strcmp(r->url, "/") || !strncmp(r->url, "/ui/", 4) || !strcmp(r->url, "/ui");
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < KS_ARRAY_LEN(types); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static const struct http_ui_asset *find(const char *path)
{
    for (size_t i = 0; i < http_ui_asset_count; i++)
        if (!strcmp(http_ui_assets[i].path, path))
            return &http_ui_assets[i];
    return NULL;
}

/* If-None-Match holds one or more validators, or "*". */
static bool etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    if (!strcmp(header, "*"))
        return true;
    size_t n = strlen(etag);
    for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return true;
    }
    return false;
}

void http_ui(struct http_req *r)
{
    const char *path = r->url;
    if (!strcmp(path, "/") || !strcmp(path, "/ui") || !strcmp(path, "/ui/"))
        path = "index.html";
    else
        path += 4; /* "/ui/" */
    /* The table holds only names without "..", so a lookup can never leave
     * it; unknown names are an ordinary 404. */
    const struct http_ui_asset *a = find(path);
    if (!a) {
        r->status = 404;
        r->content_type = "text/plain; charset=utf-8";
        http_out(r, "no such dashboard file\n");
        return;
    }
    r->content_type = content_type(a->path);
    http_header(r, "ETag", a->etag);
    http_header(r, "Cache-Control", "no-cache");
    http_header(r, "X-Content-Type-Options", "nosniff");
    if (!strcmp(a->path, "index.html")) {
        http_header(r, "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
                    "data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                    "frame-ancestors 'none'");
        http_header(r, "Referrer-Policy", "no-referrer");
    }
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    if (etag_matches(inm, a->etag)) {
        r->status = 304;
        return;
    }
    http_add(r, a->data, a->len);
}
