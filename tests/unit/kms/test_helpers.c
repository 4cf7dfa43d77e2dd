/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: temporary service, templated calls, row-naming asserts. */
#include "test_kms.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_event(void *ctx, const char *name, const char *arn, int64_t when_ms)
{
    struct t_env *e = ctx;
    (void)when_ms;
    if (e->nevents < sizeof(e->events) / sizeof(e->events[0]))
        snprintf(e->events[e->nevents++], sizeof(e->events[0]), "%s %s", name, arn);
}

static void open_svc(struct t_env *e)
{
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err err = kms_service_open(&e->opts, &e->svc, &d);
    if (err)
        print_error("kms_service_open: %s\n", d.msg);
    assert_int_equal(err, KS_OK);
}

void t_open(struct t_env *e, double time_scale)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/ks-kms-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    e->opts.data_dir = e->dir;
    e->opts.time_scale = time_scale;
    e->opts.on_service_event = on_event;
    e->opts.service_event_ctx = e;
    e->caller.arn = T_ADMIN;
    e->caller.account = T_ACCOUNT;
    e->now = T_NOW;
    kms_response_init(&e->res);
    open_svc(e);
}

void t_reopen(struct t_env *e)
{
    kms_service_close(e->svc);
    e->svc = NULL;
    open_svc(e);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void t_close(struct t_env *e)
{
    kms_service_close(e->svc);
    kms_response_release(&e->res);
    json_decref(e->body);
    for (size_t i = 0; i < e->nvars; i++)
        free(e->vars[i].value);
    nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    memset(e, 0, sizeof(*e));
}

void t_set(struct t_env *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->nvars; i++) {
        if (strcmp(e->vars[i].name, name) == 0) {
            free(e->vars[i].value);
            e->vars[i].value = strdup(value);
            return;
        }
    }
    assert_true(e->nvars < sizeof(e->vars) / sizeof(e->vars[0]));
    snprintf(e->vars[e->nvars].name, sizeof(e->vars[0].name), "%s", name);
    e->vars[e->nvars++].value = strdup(value);
}

const char *t_get(struct t_env *e, const char *name)
{
    for (size_t i = 0; i < e->nvars; i++)
        if (strcmp(e->vars[i].name, name) == 0)
            return e->vars[i].value;
    print_error("no test variable '%s'\n", name);
    fail();
    return NULL;
}

char *t_expand(struct t_env *e, const char *tmpl)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    char *out = malloc(cap);
    for (const char *p = tmpl; *p;) {
        const char *val = NULL;
        size_t skip = 1;
        if (*p == '{' && p[1] >= 'A' && p[1] <= 'Z') {
            const char *end = strchr(p, '}');
            if (end && (size_t)(end - p - 1) < sizeof(e->vars[0].name)) {
                char name[32];
                snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
                bool word = true;
                for (const char *c = name; *c; c++)
                    word =
                        word && ((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_');
                if (word) {
                    val = t_get(e, name);
                    skip = (size_t)(end - p) + 1;
                }
            }
        }
        size_t add = val ? strlen(val) : 1;
        if (len + add + 1 > cap) {
            cap = (len + add + 1) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, val ? val : p, add);
        len += add;
        p += skip;
    }
    out[len] = '\0';
    return out;
}

unsigned t_call_raw(struct t_env *e, const char *op, const char *body, size_t len)
{
    json_decref(e->body);
    e->body = NULL;
    kms_call(e->svc, op, body, len, e->caller.arn ? &e->caller : NULL, e->now, &e->res);
    if (e->res.body.len) {
        json_error_t err;
        e->body = json_loadb(e->res.body.data, e->res.body.len, 0, &err);
        if (!e->body)
            print_error("response is not JSON: %s\n", e->res.body.data);
        assert_non_null(e->body);
    }
    return e->res.http_status;
}

unsigned t_call(struct t_env *e, const char *op, const char *tmpl)
{
    char *body = t_expand(e, tmpl);
    unsigned st = t_call_raw(e, op, body, strlen(body));
    free(body);
    return st;
}

unsigned t_callf(struct t_env *e, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = NULL;
    assert_true(vasprintf(&body, fmt, ap) >= 0);
    va_end(ap);
    unsigned st = t_call_raw(e, op, body, strlen(body));
    free(body);
    return st;
}

const char *t_code(const struct t_env *e)
{
    return e->res.error_code;
}

const char *t_msg(const struct t_env *e)
{
    return e->res.error_message.data;
}

const char *t_field(const struct t_env *e, const char *member)
{
    return json_string_value(json_object_get(e->body, member));
}

const char *t_new_key(struct t_env *e, const char *name, const char *members)
{
    t_callf(e, "CreateKey", "{%s}", members);
    t_ok(e, name);
    const json_t *md = json_object_get(e->body, "KeyMetadata");
    t_set(e, name, json_string_value(json_object_get(md, "KeyId")));
    char arn_name[40];
    snprintf(arn_name, sizeof(arn_name), "%s_ARN", name);
    t_set(e, arn_name, json_string_value(json_object_get(md, "Arn")));
    return t_get(e, name);
}

void t_ok(const struct t_env *e, const char *row)
{
    if (e->res.error_code || e->res.http_status != 200) {
        print_error("row '%s': expected success, got %u %s: %s\n", row, e->res.http_status,
                    e->res.error_code ? e->res.error_code : "-", t_msg(e));
        fail();
    }
}

void t_err(const struct t_env *e, const char *row, const char *code, const char *msg)
{
    const char *got = e->res.error_code;
    if (!got || strcmp(got, code) != 0) {
        print_error("row '%s': expected %s, got %s (%s) body %s\n", row, code,
                    got ? got : "success", t_msg(e), e->res.body.data);
        fail();
    }
    /* the body carries the same code, and a message only when there is one */
    const char *type = json_string_value(json_object_get(e->body, "__type"));
    const char *bmsg = json_string_value(json_object_get(e->body, "message"));
    if (!type || strcmp(type, code) != 0) {
        print_error("row '%s': body __type %s\n", row, type ? type : "(none)");
        fail();
    }
    if (e->res.http_status < 400) {
        print_error("row '%s': status %u for an error\n", row, e->res.http_status);
        fail();
    }
    if (msg && strcmp(msg, "") == 0 && bmsg) {
        print_error("row '%s': expected no message, got '%s'\n", row, bmsg);
        fail();
    }
    if (msg && *msg && (!bmsg || strcmp(bmsg, msg) != 0)) {
        print_error("row '%s': message\n  want: %s\n  got:  %s\n", row, msg,
                    bmsg ? bmsg : "(none)");
        fail();
    }
    if (e->res.response_elements) {
        print_error("row '%s': responseElements must be null on failure\n", row);
        fail();
    }
}

void t_members(const json_t *o, const char *row, const char *list)
{
    if (!json_is_object(o)) {
        print_error("row '%s': not an object\n", row);
        fail();
    }
    size_t want = 0;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        want++;
        if (!json_object_get(o, t)) {
            char *d = json_dumps(o, JSON_COMPACT);
            print_error("row '%s': member '%s' missing in %s\n", row, t, d);
            free(d);
            fail();
        }
    }
    if (json_object_size(o) != want) {
        char *d = json_dumps(o, JSON_COMPACT);
        print_error("row '%s': members %s, want exactly %s\n", row, d, list);
        free(d);
        fail();
    }
}
