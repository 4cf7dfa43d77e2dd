/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `keysentry serve` runs beside the engine: the in-process KMS service
 * (Keysentry::KmsService) whose trail records feed the engine directly, and
 * the notification hub with the responses registered on it (docs/serve.md,
 * "Actions" and "In-process KMS service").
 *
 * Without --data every file this needs (outbox, signing key, keys.db, the
 * KMS trail) goes to a private temporary directory removed at exit: serve
 * without --data promises nothing durable, but delivers all the same.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "kms/kms_server.h"
#include "notify/notify.h"
#include "respond/respond.h"
#include "serve/serve.h"
#include "store/store.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* An in-process trail record: counted at once, at its own time. */
static void kms_record(void *ud, const char *rec, size_t len, int64_t event_ms)
{
    struct cli_serve_side *s = ud;
    uint64_t n = atomic_fetch_add(&s->kms_records, 1);
    serve_engine_ingest(s->engine, s->kms_source, rec, len, event_ms, NULL, "kms", n, cli_now_ms());
}

static const char *prop_str(const struct config_custom *c, const char *name)
{
    return json_string_value(json_object_get(c->properties, name));
}

/* Keysentry::KmsService: at most one per template. */
static int start_kms(struct cli_serve_side *s, const struct config_template *t,
                     const struct config_custom *c, const char *group)
{
    static const char *const known[] = {
        "Listen",       "DataDirectory",          "PrincipalsFile", "TrailDirectory",
        "LogGroupName", "TrailFlushMilliseconds", "TimeScale",      "ResponderAccessKeyId"};
    const char *k;
    json_t *v;
    json_object_foreach(c->properties, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
            ok = ok || !strcmp(k, known[i]);
        if (!ok) {
            cli_error("Resources.%s.Properties.%s: unknown property of Keysentry::KmsService "
                      "(known: Listen, DataDirectory, PrincipalsFile, TrailDirectory, "
                      "LogGroupName, TrailFlushMilliseconds, TimeScale, ResponderAccessKeyId)",
                      c->res.logical_id, k);
            return -1;
        }
    }
    char data[4096];
    const char *dd = prop_str(c, "DataDirectory");
    if (dd)
        snprintf(data, sizeof(data), "%s", dd);
    else if (!cli_path(data, sizeof(data), s->dir, "kms")) {
        cli_error("data directory path too long");
        return -1;
    }
    json_t *fl = json_object_get(c->properties, "TrailFlushMilliseconds");
    json_t *ts = json_object_get(c->properties, "TimeScale");
    const char *lg = prop_str(c, "LogGroupName");
    s->kms_source =
        serve_engine_add_source(s->engine, "kms:in-process", SERVE_SOURCE_KMS, lg ? lg : group);
    struct kms_host_options ho = {
        .data_dir = data,
        .principals_path = prop_str(c, "PrincipalsFile"),
        .trail_dir = prop_str(c, "TrailDirectory"),
        .listen = prop_str(c, "Listen"),
        .region = t->region,
        .account = t->account_id,
        .flush_ms = json_is_integer(fl) ? (unsigned)json_integer_value(fl) : 0,
        .time_scale = json_is_number(ts) ? json_number_value(ts) : 0,
        .on_record = kms_record,
        .on_record_ud = s,
    };
    struct ks_diag d;
    ks_diag_clear(&d);
    if (kms_host_open(&ho, &s->kms, &d) != KS_OK) {
        cli_error("Resources.%s: the KMS service cannot start: %s", c->res.logical_id, d.msg);
        return -1;
    }
    /* Responses act on this service unless they name an Endpoint: the
     * environment they see points at it, with one of its principals. */
    const struct kms_principals *p = kms_host_principals(s->kms);
    const char *want = prop_str(c, "ResponderAccessKeyId");
    const struct kms_principal *who = NULL;
    for (size_t i = 0; i < p->n && !who; i++)
        if (want ? !strcmp(p->v[i].access_key_id, want)
                 : (p->v[i].arn && strlen(p->v[i].arn) > 11 &&
                    !strcmp(p->v[i].arn + strlen(p->v[i].arn) - 11, ":user/admin")))
            who = &p->v[i];
    if (!who && !want && p->n)
        who = &p->v[0];
    if (!who) {
        cli_error("Resources.%s.Properties.ResponderAccessKeyId: no principal with access key "
                  "id '%s' in %s",
                  c->res.logical_id, want ? want : "", kms_host_principals_path(s->kms));
        return -1;
    }
    size_t n = 0;
    while (environ[n])
        n++;
    s->env = ks_xcalloc(n + 8, sizeof(char *));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "AWS_", 4) && strncmp(environ[i], "KEYSENTRY_ENDPOINT_URL", 22))
            s->env[m++] = ks_xstrdup(environ[i]);
    struct ks_buf b;
    ks_buf_init(&b, 8192);
    if (ks_buf_addf(&b, "KEYSENTRY_ENDPOINT_URL_KMS=http://127.0.0.1:%u/",
                    (unsigned)kms_host_port(s->kms)) == KS_OK)
        s->env[m++] = ks_xstrdup(b.data);
    ks_buf_reset(&b);
    if (ks_buf_addf(&b, "AWS_ACCESS_KEY_ID=%s", who->access_key_id) == KS_OK)
        s->env[m++] = ks_xstrdup(b.data);
    ks_buf_reset(&b);
    if (ks_buf_addf(&b, "AWS_SECRET_ACCESS_KEY=%s", who->secret_access_key) == KS_OK)
        s->env[m++] = ks_xstrdup(b.data);
    ks_buf_reset(&b);
    if (who->session_token && ks_buf_addf(&b, "AWS_SESSION_TOKEN=%s", who->session_token) == KS_OK)
        s->env[m++] = ks_xstrdup(b.data);
    ks_buf_reset(&b);
    if (ks_buf_addf(&b, "AWS_REGION=%s", t->region) == KS_OK)
        s->env[m++] = ks_xstrdup(b.data);
    explicit_bzero(b.data, b.cap);
    ks_buf_release(&b);
    if (!s->quiet)
        fprintf(stderr,
                "level=info comp=serve msg=\"in-process KMS service on http://127.0.0.1:%u "
                "(principals %s, trail %s); responses act on it as %s\"\n",
                (unsigned)kms_host_port(s->kms), kms_host_principals_path(s->kms),
                kms_host_trail_dir(s->kms), who->arn);
    return 0;
}

static bool wants_actions(const struct config_template *t)
{
    if (t->n_topics)
        return true;
    for (size_t i = 0; i < t->n_customs; i++)
        if (!strncmp(t->customs[i].res.type, "Keysentry::Response::", 21))
            return true;
    return false;
}

int cli_serve_side_start(struct cli_serve_side *s, const struct config_template *t,
                         struct serve_engine *e, const char *data_dir, const char *group)
{
    s->engine = e;
    s->kms_source = -1;
    const struct config_custom *kms = NULL;
    for (size_t i = 0; i < t->n_customs; i++) {
        if (strcmp(t->customs[i].res.type, "Keysentry::KmsService"))
            continue;
        if (kms) {
            cli_error("Resources.%s: only one Keysentry::KmsService per template (%s is one)",
                      t->customs[i].res.logical_id, kms->res.logical_id);
            return -1;
        }
        kms = &t->customs[i];
    }
    bool actions = !s->no_actions && wants_actions(t);
    if (!kms && !actions)
        return 0;
    if (data_dir) {
        snprintf(s->dir, sizeof(s->dir), "%s", data_dir);
    } else {
        snprintf(s->dir, sizeof(s->dir), "/tmp/keysentry-serve-XXXXXX");
        if (!mkdtemp(s->dir)) {
            cli_error("cannot create a temporary directory: %s", strerror(errno));
            return -1;
        }
        s->tmp = true;
    }
    if (kms && start_kms(s, t, kms, group) != 0)
        return -1;
    if (!actions)
        return 0;
    struct ks_diag d;
    ks_diag_clear(&d);
    struct store *st = serve_engine_db(e);
    if (!st) {
        char path[4200];
        if (!cli_path(path, sizeof(path), s->dir, "notify.db") ||
            store_open(path, &s->own_db, &d) != KS_OK) {
            cli_error("cannot open the outbox: %s", d.msg);
            return -1;
        }
        st = s->own_db;
    }
    struct notify_options no;
    memset(&no, 0, sizeof(no));
    no.data_dir = s->dir;
    no.public_url = s->public_url[0] ? s->public_url : NULL;
    no.on_outcome = serve_engine_outcome;
    no.outcome_ud = e;
    if (notify_hub_new(st, &no, &s->hub, &d) != KS_OK ||
        notify_hub_configure(s->hub, t, &d) != KS_OK) {
        cli_error("%s", d.msg);
        return -1;
    }
    for (size_t i = 0; i < notify_hub_warning_count(s->hub) && !s->quiet; i++)
        cli_error("warning: %s", notify_hub_warning(s->hub, i));
    struct respond_options ro;
    memset(&ro, 0, sizeof(ro));
    ro.db_path = sqlite3_db_filename(store_db(st), "main");
    ro.dry_run = s->dry_run;
    ro.trail_path = s->respond_trail;
    ro.quiet = s->quiet;
    ro.on_record = serve_engine_response;
    ro.record_ctx = e;
    ro.env = (const char *const *)s->env;
    if (respond_new(t, &ro, &s->responder, &d) != KS_OK ||
        respond_register(s->responder, s->hub, &d) != KS_OK ||
        respond_start(s->responder, 1000, &d) != KS_OK || notify_hub_start(s->hub, &d) != KS_OK) {
        cli_error("%s", d.msg);
        return -1;
    }
    serve_engine_set_hub(e, s->hub);
    return 0;
}

void cli_serve_side_tick(struct cli_serve_side *s, int64_t now_ms)
{
    if (s->kms && now_ms >= s->next_kms_tick) {
        kms_host_tick(s->kms, now_ms);
        s->next_kms_tick = now_ms + 1000;
    }
}

int cli_serve_side_stop(struct cli_serve_side *s)
{
    int rc = 0;
    if (s->engine && s->hub)
        serve_engine_set_hub(s->engine, NULL);
    /* the workers first: they call the KMS service and report to the engine */
    notify_hub_free(s->hub);
    s->hub = NULL;
    respond_free(s->responder);
    s->responder = NULL;
    if (s->kms && kms_host_close(s->kms, 5000, NULL) != KS_OK) {
        cli_error("the in-process KMS trail could not be delivered completely");
        rc = -1;
    }
    s->kms = NULL;
    store_close(s->own_db);
    s->own_db = NULL;
    if (s->env) {
        for (size_t i = 0; s->env[i]; i++) {
            explicit_bzero(s->env[i], strlen(s->env[i]));
            free(s->env[i]);
        }
        free(s->env);
        s->env = NULL;
    }
    if (s->tmp)
        cli_remove_tree(s->dir);
    s->tmp = false;
    return rc;
}
