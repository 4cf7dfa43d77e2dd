/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responses end to end against a SigV4-verifying loopback KMS/IAM
 * (fake_aws.c): the real engine, the real signer, libcurl, SQLite and the
 * trail file. Every wait is bounded.
 *
 * Run with "--child-disable DB URL KEY" the binary is the victim of the
 * kill -9 test: it disables KEY with a 1 s auto-revert, then SIGKILLs itself.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "fake_aws.h"
#include "respond/respond.h"

#define AKID   "AKIDRESPONDTEST01"
#define SECRET "respond-test-secret/abc+def"
#define REGION "us-east-1"
#define ACCT   "111122223333"

static struct fake_aws *fa;
static char tmpdir[256];
static unsigned key_seq;

/* ---- helpers ---------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void new_key(char out[37], const char *state)
{
    key_seq++;
    snprintf(out, 37, "%08x-1111-4111-8111-%012x", key_seq, key_seq);
    fake_aws_add_key(fa, out, state);
}

static void key_arn(const char *id, char *out, size_t size)
{
    snprintf(out, size, "arn:aws:kms:%s:%s:key/%s", REGION, ACCT, id);
}

static void state_of(const char *id, char out[32])
{
    fake_aws_key_state(fa, id, out, 32);
}

/* Environment given to the engine: credentials and endpoint overrides. */
struct env {
    char v[8][600];
    const char *p[9];
};

static void env_init(struct env *e, const char *akid, const char *secret)
{
    size_t n = 0;
    if (akid)
        snprintf(e->v[n++], sizeof(e->v[0]), "AWS_ACCESS_KEY_ID=%s", akid);
    if (secret)
        snprintf(e->v[n++], sizeof(e->v[0]), "AWS_SECRET_ACCESS_KEY=%s", secret);
    snprintf(e->v[n++], sizeof(e->v[0]), "KEYSENTRY_ENDPOINT_URL_KMS=%s", fake_aws_url(fa));
    snprintf(e->v[n++], sizeof(e->v[0]), "KEYSENTRY_ENDPOINT_URL_IAM=%s", fake_aws_url(fa));
    snprintf(e->v[n++], sizeof(e->v[0]), "HOME=/nonexistent-respond-home");
    for (size_t i = 0; i < n; i++)
        e->p[i] = e->v[i];
    e->p[n] = NULL;
}

/* What the history hook saw. */
struct records {
    size_t n, n_revert;
    char last_summary[256];
    char last_error[600];
    bool last_dry;
};

static void on_record(void *ctx, const struct respond_record *rec)
{
    struct records *rs = ctx;
    rs->n++;
    rs->n_revert += rec->revert;
    snprintf(rs->last_summary, sizeof(rs->last_summary), "%s", rec->summary);
    snprintf(rs->last_error, sizeof(rs->last_error), "%s", rec->error ? rec->error : "");
    rs->last_dry = rec->dry_run;
    assert_true(strlen(rec->summary) <= 255);
    json_t *d = json_loads(rec->details, 0, NULL);
    assert_non_null(d);
    json_decref(d);
}

struct fixture {
    char dir[300];
    char db[400];
    char trail[400];
    struct env env;
    struct records rec;
    struct config_template *t;
    struct respond *r;
};

static void fixture_dir(struct fixture *f, const char *name)
{
    snprintf(f->dir, sizeof(f->dir), "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    snprintf(f->db, sizeof(f->db), "%s/ks.db", f->dir);
    snprintf(f->trail, sizeof(f->trail), "%s/trail.ndjson", f->dir);
}

static struct respond *open_engine(struct fixture *f, const char *yaml, double scale, bool dry)
{
    struct ks_diag diag;
    ks_diag_clear(&diag);
    struct config_options co = {.stack_name = "it"};
    if (!f->t) {
        enum ks_err e =
            config_template_load_buffer("it.yaml", yaml, strlen(yaml), &co, &f->t, &diag);
        if (e)
            fail_msg("template: %s", diag.msg);
    }
    struct respond_options o = {0};
    o.db_path = f->db;
    o.trail_path = f->trail;
    o.time_scale = scale;
    o.dry_run = dry;
    o.env = f->env.p;
    o.on_record = on_record;
    o.record_ctx = &f->rec;
    o.quiet = getenv("RESPOND_TEST_LOG") == NULL;
    struct respond *r = NULL;
    if (respond_new(f->t, &o, &r, &diag))
        fail_msg("respond_new: %s", diag.msg);
    return r;
}

static void fixture_close(struct fixture *f)
{
    respond_free(f->r);
    f->r = NULL;
    config_template_free(f->t);
    f->t = NULL;
}

/* Runs action with the given context lists; returns the status. */
static int run(struct fixture *f, const char *action, const char *trigger, const char *const *keys,
               size_t n_keys, const char *const *principals, size_t n_principals,
               struct respond_result *res)
{
    struct respond_context ctx = {0};
    ctx.keys = keys;
    ctx.n_keys = n_keys;
    ctx.principals = principals;
    ctx.n_principals = n_principals;
    ctx.trigger_id = trigger;
    static const char msg[] = "{\"AlarmName\":\"kms-failures\",\"NewStateValue\":\"ALARM\","
                              "\"StateChangeTime\":\"2024-03-05T20:31:04.488+0000\"}";
    respond_result_init(res);
    return respond_execute(f->r, action, msg, &ctx, res);
}

/* The trail's records with eventName name (a new array). */
static json_t *trail_records(const struct fixture *f, const char *name)
{
    json_t *out = json_array();
    FILE *fp = fopen(f->trail, "r");
    if (!fp)
        return out;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j); /* every line is one whole JSON record */
        const char *en = json_string_value(json_object_get(j, "eventName"));
        if (en && strcmp(en, name) == 0)
            json_array_append(out, j);
        json_decref(j);
    }
    free(line);
    fclose(fp);
    return out;
}

static size_t count_records(const struct fixture *f, const char *name)
{
    json_t *a = trail_records(f, name);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

/* Ticks until the key reaches want or timeout_ms passes. */
static bool tick_until_key(struct respond *r, const char *key, const char *want, long timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    char st[32];
    while (mono_ms() < end) {
        (void)respond_tick(r);
        state_of(key, st);
        if (strcmp(st, want) == 0)
            return true;
        sleep_ms(50);
    }
    return false;
}

/* ---- tests ------------------------------------------------------------------------ */

static const char yaml_disable[] = "Resources:\n"
                                   "  Disable:\n"
                                   "    Type: Keysentry::Response::DisableKey\n"
                                   "    Properties:\n"
                                   "      Name: disable-keys\n"
                                   "      CooldownSeconds: 0\n";

static void test_disable_keys_from_context(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "disable");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml_disable, 1, false);
    fake_aws_reset_calls(fa);
    char k1[37], k2[37], arn1[200], other[200];
    new_key(k1, "Enabled");
    new_key(k2, "Enabled");
    key_arn(k1, arn1, sizeof(arn1));
    snprintf(other, sizeof(other), "arn:aws:kms:eu-west-1:%s:key/%s", ACCT, k2);
    const char *keys[] = {arn1, k2, "alias/app-key", arn1, other};
    struct respond_result res;
    /* by ARN, as an alarm names it */
    const char *arn = "arn:keysentry:respond:us-east-1:111122223333:response/disable-keys";
    assert_int_equal(run(&f, arn, "t1", keys, 5, NULL, 0, &res), 0);
    char st[32];
    state_of(k1, st);
    assert_string_equal(st, "Disabled");
    state_of(k2, st);
    assert_string_equal(st, "Disabled");
    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 2);
    assert_int_equal(fake_aws_calls(fa, "DescribeKey"), 4); /* pre-check + verification */
    assert_int_equal(fake_aws_rejected(fa), 0);
    assert_int_equal(res.n_done, 2);
    assert_int_equal(res.n_skipped, 2); /* the alias, the other region */
    json_t *p = fake_aws_call_params(fa, "DisableKey", 0);
    assert_string_equal(json_string_value(json_object_get(p, "KeyId")), arn1);
    json_decref(p);
    respond_result_release(&res);

    /* the trail: one record per key, CloudTrail-shaped */
    json_t *recs = trail_records(&f, "RespondDisableKey");
    assert_int_equal(json_array_size(recs), 2);
    json_t *r0 = json_array_get(recs, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "eventSource")), "keysentry.local");
    assert_string_equal(json_string_value(json_object_get(r0, "eventVersion")), "1.10");
    assert_null(json_object_get(r0, "errorCode"));
    json_t *re = json_object_get(r0, "responseElements");
    assert_string_equal(json_string_value(json_object_get(re, "keyState")), "Disabled");
    assert_true(json_is_true(json_object_get(re, "verified")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "requestParameters"), "keyId")),
        arn1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r0, "resources"), 0), "ARN")),
                        arn1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "userIdentity"), "accessKeyId")),
        AKID);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "additionalEventData"), "alarmName")),
        "kms-failures");
    json_decref(recs);
    assert_int_equal(f.rec.n, 1);

    /* a retried delivery (same trigger) does nothing again */
    assert_int_equal(run(&f, "disable-keys", "t1", keys, 5, NULL, 0, &res), 0);
    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 2);
    respond_result_release(&res);

    /* a key someone else disabled is left alone (and gets no revert) */
    char k3[37];
    new_key(k3, "Disabled");
    const char *keys3[] = {k3};
    assert_int_equal(run(&f, "disable-keys", "t2", keys3, 1, NULL, 0, &res), 0);
    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 2);
    assert_non_null(strstr(res.summary.data, "already Disabled"));
    respond_result_release(&res);
    fixture_close(&f);
}

static void test_dry_run_calls_nothing(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Shadow:\n"
                               "    Type: Keysentry::Response::DisableKey\n"
                               "    Properties:\n"
                               "      Name: shadow\n"
                               "      DryRun: true\n"
                               "      AutoRevertAfterSeconds: 600\n"
                               "  Live:\n"
                               "    Type: Keysentry::Response::RevokeRoleSessions\n"
                               "    Properties: {Name: live}\n";
    struct fixture f = {0};
    fixture_dir(&f, "dry");
    env_init(&f.env, AKID, SECRET);
    fake_aws_reset_calls(fa);
    char k[37];
    new_key(k, "Enabled");
    const char *keys[] = {k};
    const char *pr[] = {"arn:aws:iam::111122223333:role/app"};
    struct respond_result res;
    /* per response */
    f.r = open_engine(&f, yaml, 1, false);
    assert_int_equal(run(&f, "shadow", "d1", keys, 1, NULL, 0, &res), 0);
    assert_int_equal(res.n_dry_run, 1);
    assert_non_null(strstr(res.summary.data, "DRY RUN"));
    respond_result_release(&res);
    assert_int_equal(respond_pending_reverts(f.r), 0);
    respond_free(f.r);
    /* globally, on a response that is live otherwise */
    f.r = open_engine(&f, yaml, 1, true);
    assert_int_equal(run(&f, "live", "d2", NULL, 0, pr, 1, &res), 0);
    assert_int_equal(res.n_dry_run, 1);
    assert_true(f.rec.last_dry);
    respond_result_release(&res);

    assert_int_equal(fake_aws_calls(fa, "*"), 0);
    assert_int_equal(fake_aws_rejected(fa), 0);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "Enabled");
    json_t *recs = trail_records(&f, "RespondDisableKey");
    assert_int_equal(json_array_size(recs), 1);
    json_t *extra = json_object_get(json_array_get(recs, 0), "additionalEventData");
    assert_true(json_is_true(json_object_get(extra, "dryRun")));
    assert_string_equal(json_string_value(json_object_get(extra, "outcome")), "dry-run");
    json_decref(recs);
    assert_int_equal(count_records(&f, "RespondRevokeRoleSessions"), 1);
    fixture_close(&f);
}

static void test_cap_blocks_the_next(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Capped:\n"
                               "    Type: Keysentry::Response::DisableKey\n"
                               "    Properties:\n"
                               "      Name: capped\n"
                               "      CooldownSeconds: 0\n"
                               "      MaxActionsPerHour: 2\n";
    struct fixture f = {0};
    fixture_dir(&f, "cap");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml, 1, false);
    fake_aws_reset_calls(fa);
    char k[3][37];
    struct respond_result res;
    for (int i = 0; i < 3; i++) {
        new_key(k[i], "Enabled");
        const char *keys[] = {k[i]};
        char trig[16];
        snprintf(trig, sizeof(trig), "cap%d", i);
        assert_int_equal(run(&f, "capped", trig, keys, 1, NULL, 0, &res), 0);
        assert_int_equal(res.n_blocked, i == 2 ? 1 : 0);
        respond_result_release(&res);
    }
    char st[32];
    state_of(k[1], st);
    assert_string_equal(st, "Disabled");
    state_of(k[2], st);
    assert_string_equal(st, "Enabled");
    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 2);
    json_t *recs = trail_records(&f, "RespondDisableKey");
    assert_int_equal(json_array_size(recs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "errorCode")),
                        "ActionCapReached");
    json_decref(recs);
    fixture_close(&f);
}

static const char yaml_revert[] = "Resources:\n"
                                  "  Temp:\n"
                                  "    Type: Keysentry::Response::DisableKey\n"
                                  "    Properties:\n"
                                  "      Name: temp\n"
                                  "      CooldownSeconds: 0\n"
                                  "      AutoRevertAfterSeconds: 60\n";

static void test_auto_revert(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "revert");
    env_init(&f.env, AKID, SECRET);
    /* time scale 60: the minute passes in one second */
    f.r = open_engine(&f, yaml_revert, 60, false);
    fake_aws_reset_calls(fa);
    char k[37];
    new_key(k, "Enabled");
    const char *keys[] = {k};
    struct respond_result res;
    int64_t t0 = mono_ms();
    assert_int_equal(run(&f, "temp", "r1", keys, 1, NULL, 0, &res), 0);
    assert_non_null(strstr(res.details.data, "revertAt"));
    respond_result_release(&res);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "Disabled");
    assert_int_equal(respond_pending_reverts(f.r), 1);
    assert_int_equal(respond_tick(f.r), 0); /* not due yet */

    /* a new incident on the same key while disabled: one revert, rescheduled */
    assert_int_equal(run(&f, "temp", "r2", keys, 1, NULL, 0, &res), 0);
    assert_non_null(strstr(res.summary.data, "revert rescheduled"));
    respond_result_release(&res);
    assert_int_equal(respond_pending_reverts(f.r), 1);

    assert_true(tick_until_key(f.r, k, "Enabled", 10000));
    assert_true(mono_ms() - t0 >= 900);
    assert_int_equal(fake_aws_calls(fa, "EnableKey"), 1);
    assert_int_equal(respond_pending_reverts(f.r), 0);
    assert_int_equal(f.rec.n_revert, 1);
    json_t *recs = trail_records(&f, "RespondRevertDisableKey");
    assert_int_equal(json_array_size(recs), 1);
    json_t *r0 = json_array_get(recs, 0);
    assert_null(json_object_get(r0, "errorCode"));
    assert_true(json_is_true(json_object_get(json_object_get(r0, "responseElements"), "verified")));
    json_decref(recs);

    /* durable: scheduled, then the process "restarts" before it is due */
    char k2[37];
    new_key(k2, "Enabled");
    const char *keys2[] = {k2};
    assert_int_equal(run(&f, "temp", "r3", keys2, 1, NULL, 0, &res), 0);
    respond_result_release(&res);
    respond_free(f.r);
    f.r = open_engine(&f, yaml_revert, 60, false);
    assert_int_equal(respond_pending_reverts(f.r), 1);
    assert_true(respond_next_revert_ms(f.r) < INT64_MAX);
    /* the background thread does it this time */
    struct ks_diag diag;
    ks_diag_clear(&diag);
    assert_int_equal(respond_start(f.r, 50, &diag), KS_OK);
    int64_t end = mono_ms() + 10000;
    while (mono_ms() < end && (state_of(k2, st), strcmp(st, "Enabled") != 0))
        sleep_ms(50);
    respond_stop(f.r);
    assert_string_equal(st, "Enabled");
    fixture_close(&f);
}

/* The kill -9 victim (see the file comment). */
static int child_disable(const char *db, const char *url, const char *key)
{
    struct fixture f = {0};
    snprintf(f.db, sizeof(f.db), "%s", db);
    snprintf(f.trail, sizeof(f.trail), "%s.trail", db);
    size_t n = 0;
    snprintf(f.env.v[n++], sizeof(f.env.v[0]), "AWS_ACCESS_KEY_ID=%s", AKID);
    snprintf(f.env.v[n++], sizeof(f.env.v[0]), "AWS_SECRET_ACCESS_KEY=%s", SECRET);
    snprintf(f.env.v[n++], sizeof(f.env.v[0]), "KEYSENTRY_ENDPOINT_URL_KMS=%s", url);
    for (size_t i = 0; i < n; i++)
        f.env.p[i] = f.env.v[i];
    f.r = open_engine(&f, yaml_revert, 60, false);
    const char *keys[] = {key};
    struct respond_result res;
    if (run(&f, "temp", "kill9", keys, 1, NULL, 0, &res) != 0)
        return 3;
    raise(SIGKILL); /* no cleanup: the revert lives only in the database */
    return 4;
}

static void test_revert_survives_kill9(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "kill9");
    env_init(&f.env, AKID, SECRET);
    char k[37];
    new_key(k, "Enabled");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            _exit(126);
        self[n] = '\0';
        char *argv[] = {self, (char *)(uintptr_t) "--child-disable",
                        f.db, (char *)(uintptr_t)fake_aws_url(fa),
                        k,    NULL};
        execv(self, argv);
        _exit(127);
    }
    int status = 0;
    int64_t end = mono_ms() + 20000;
    pid_t w = 0;
    while (mono_ms() < end && (w = waitpid(pid, &status, WNOHANG)) == 0)
        sleep_ms(20);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("child did not finish");
    }
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "Disabled");
    f.r = open_engine(&f, yaml_revert, 60, false);
    assert_int_equal(respond_pending_reverts(f.r), 1);
    assert_true(tick_until_key(f.r, k, "Enabled", 10000));
    fixture_close(&f);
}

static void test_bad_credentials(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "badcreds");
    char k[37];
    new_key(k, "Enabled");
    const char *keys[] = {k};
    struct respond_result res;
    fake_aws_reset_calls(fa);

    /* wrong secret: the endpoint rejects the signature */
    env_init(&f.env, AKID, "not-the-secret");
    f.r = open_engine(&f, yaml_disable, 1, false);
    assert_true(run(&f, "disable-keys", "b1", keys, 1, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "InvalidSignatureException"));
    respond_result_release(&res);
    assert_true(fake_aws_rejected(fa) >= 1);
    char code[64];
    fake_aws_last_rejection(fa, code, sizeof(code));
    assert_string_equal(code, "InvalidSignatureException");
    respond_free(f.r);

    /* unknown access key */
    env_init(&f.env, "AKIDUNKNOWN00000", SECRET);
    f.r = open_engine(&f, yaml_disable, 1, false);
    assert_true(run(&f, "disable-keys", "b2", keys, 1, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "UnrecognizedClientException"));
    respond_result_release(&res);
    respond_free(f.r);

    /* no credentials at all: nothing is sent */
    size_t before = fake_aws_rejected(fa) + fake_aws_calls(fa, "*");
    env_init(&f.env, NULL, NULL);
    f.r = open_engine(&f, yaml_disable, 1, false);
    assert_true(run(&f, "disable-keys", "b3", keys, 1, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "no AWS credentials"));
    respond_result_release(&res);
    assert_int_equal(fake_aws_rejected(fa) + fake_aws_calls(fa, "*"), before);

    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 0);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "Enabled");
    json_t *recs = trail_records(&f, "RespondDisableKey");
    assert_int_equal(json_array_size(recs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "errorCode")),
                        "InvalidSignatureException");
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "errorCode")),
                        "CredentialsNotFound");
    json_decref(recs);
    fixture_close(&f);
}

static void test_session_token_profile(void **state)
{
    (void)state;
    /* A second endpoint that demands a session token; credentials from a
     * shared credentials file profile. */
    struct fake_aws_options o = {"ASIARESPONDTEST01", "temp-secret", "TOKEN-abc/123=", NULL, NULL};
    struct fake_aws *tok = fake_aws_start(&o);
    assert_non_null(tok);
    struct fixture f = {0};
    fixture_dir(&f, "token");
    char creds[500];
    snprintf(creds, sizeof(creds), "%s/credentials", f.dir);
    FILE *fp = fopen(creds, "w");
    assert_non_null(fp);
    fprintf(fp, "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = x\n\n"
                "[incident]\naws_access_key_id = ASIARESPONDTEST01\n"
                "aws_secret_access_key = temp-secret\naws_session_token = TOKEN-abc/123=\n");
    fclose(fp);
    snprintf(f.env.v[0], sizeof(f.env.v[0]), "AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    snprintf(f.env.v[1], sizeof(f.env.v[0]), "AWS_PROFILE=incident");
    snprintf(f.env.v[2], sizeof(f.env.v[0]), "KEYSENTRY_ENDPOINT_URL_KMS=%s", fake_aws_url(tok));
    for (int i = 0; i < 3; i++)
        f.env.p[i] = f.env.v[i];
    f.env.p[3] = NULL;
    f.r = open_engine(&f, yaml_disable, 1, false);
    char k[37];
    snprintf(k, sizeof(k), "%08x-2222-4222-8222-%012x", 7u, 7u);
    fake_aws_add_key(tok, k, "Enabled");
    const char *keys[] = {k};
    struct respond_result res;
    assert_int_equal(run(&f, "disable-keys", "s1", keys, 1, NULL, 0, &res), 0);
    respond_result_release(&res);
    char st[32];
    fake_aws_key_state(tok, k, st, sizeof(st));
    assert_string_equal(st, "Disabled");
    assert_int_equal(fake_aws_rejected(tok), 0);
    fixture_close(&f);
    fake_aws_stop(tok);
}

static void test_revoke_role_sessions(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Revoke:\n"
                               "    Type: Keysentry::Response::RevokeRoleSessions\n"
                               "    Properties:\n"
                               "      Name: revoke\n"
                               "      AutoRevertAfterSeconds: 60\n";
    struct fixture f = {0};
    fixture_dir(&f, "revoke");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml, 60, false);
    fake_aws_reset_calls(fa);
    fake_aws_add_role(fa, "app-task-role");
    const char *pr[] = {
        "arn:aws:sts::111122223333:assumed-role/app-task-role/8d1f9a2c6b7e4f03",
        "arn:aws:iam::111122223333:user/Alice",
        "arn:aws:iam::111122223333:role/app-task-role",
    };
    struct respond_result res;
    /* clock_gettime, as respond reads the time: time() uses the coarse clock,
     * which can still show the previous second after respond saw the next */
    struct timespec ts0, ts1;
    clock_gettime(CLOCK_REALTIME, &ts0);
    assert_int_equal(run(&f, "revoke", "v1", NULL, 0, pr, 3, &res), 0);
    clock_gettime(CLOCK_REALTIME, &ts1);
    time_t before = ts0.tv_sec, after = ts1.tv_sec;
    assert_int_equal(res.n_done, 1);
    assert_int_equal(res.n_skipped, 1); /* the user */
    respond_result_release(&res);
    assert_int_equal(fake_aws_calls(fa, "PutRolePolicy"), 1);
    json_t *p = fake_aws_call_params(fa, "PutRolePolicy", 0);
    assert_string_equal(json_string_value(json_object_get(p, "RoleName")), "app-task-role");
    assert_string_equal(json_string_value(json_object_get(p, "PolicyName")),
                        "AWSRevokeOlderSessions");
    json_t *doc = json_loads(json_string_value(json_object_get(p, "PolicyDocument")), 0, NULL);
    assert_non_null(doc);
    json_t *st0 = json_array_get(json_object_get(doc, "Statement"), 0);
    assert_string_equal(json_string_value(json_object_get(st0, "Effect")), "Deny");
    assert_string_equal(json_string_value(json_array_get(json_object_get(st0, "Action"), 0)), "*");
    assert_string_equal(json_string_value(json_array_get(json_object_get(st0, "Resource"), 0)),
                        "*");
    const char *when = json_string_value(json_object_get(
        json_object_get(json_object_get(st0, "Condition"), "DateLessThan"), "aws:TokenIssueTime"));
    assert_non_null(when);
    struct tm tm = {0};
    assert_non_null(strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm));
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
    json_decref(doc);
    json_decref(p);
    char *stored = fake_aws_role_policy(fa, "app-task-role", "AWSRevokeOlderSessions");
    assert_non_null(stored);
    free(stored);
    /* auto-revert removes the policy */
    int64_t end = mono_ms() + 10000;
    while (mono_ms() < end &&
           (stored = fake_aws_role_policy(fa, "app-task-role", "AWSRevokeOlderSessions"))) {
        free(stored);
        (void)respond_tick(f.r);
        sleep_ms(50);
    }
    assert_null(fake_aws_role_policy(fa, "app-task-role", "AWSRevokeOlderSessions"));
    assert_int_equal(fake_aws_calls(fa, "DeleteRolePolicy"), 1);
    assert_int_equal(count_records(&f, "RespondRevertRevokeRoleSessions"), 1);
    fixture_close(&f);
}

static void test_attach_deny_policy(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Managed:\n"
                               "    Type: Keysentry::Response::AttachDenyPolicy\n"
                               "    Properties:\n"
                               "      Name: managed\n"
                               "      PolicyArn: arn:aws:iam::111122223333:policy/DenyKms\n"
                               "      AutoRevertAfterSeconds: 60\n"
                               "  Inline:\n"
                               "    Type: Keysentry::Response::AttachDenyPolicy\n"
                               "    Properties:\n"
                               "      Name: inline\n"
                               "      RoleName: fixed-role\n"
                               "      DenyActions: [kms:Decrypt, kms:GenerateDataKey]\n";
    struct fixture f = {0};
    fixture_dir(&f, "attach");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml, 60, false);
    fake_aws_reset_calls(fa);
    fake_aws_add_role(fa, "worker");
    fake_aws_add_role(fa, "fixed-role");
    const char *pr[] = {"arn:aws:iam::111122223333:role/service/worker"};
    struct respond_result res;
    assert_int_equal(run(&f, "managed", "a1", NULL, 0, pr, 1, &res), 0);
    respond_result_release(&res);
    assert_true(fake_aws_attached(fa, "worker", "arn:aws:iam::111122223333:policy/DenyKms"));
    assert_int_equal(run(&f, "inline", "a2", NULL, 0, NULL, 0, &res), 0);
    respond_result_release(&res);
    char *doc = fake_aws_role_policy(fa, "fixed-role", "KeysentryDeny");
    assert_non_null(doc);
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    json_t *st0 = json_array_get(json_object_get(j, "Statement"), 0);
    assert_string_equal(json_string_value(json_object_get(st0, "Effect")), "Deny");
    assert_string_equal(json_string_value(json_array_get(json_object_get(st0, "Action"), 1)),
                        "kms:GenerateDataKey");
    json_decref(j);
    /* the managed attachment is detached again */
    int64_t end = mono_ms() + 10000;
    while (mono_ms() < end &&
           fake_aws_attached(fa, "worker", "arn:aws:iam::111122223333:policy/DenyKms")) {
        (void)respond_tick(f.r);
        sleep_ms(50);
    }
    assert_false(fake_aws_attached(fa, "worker", "arn:aws:iam::111122223333:policy/DenyKms"));
    assert_int_equal(fake_aws_calls(fa, "DetachRolePolicy"), 1);
    fixture_close(&f);
}

static void test_schedule_key_deletion(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Kill:\n"
                               "    Type: Keysentry::Response::ScheduleKeyDeletion\n"
                               "    Properties:\n"
                               "      Name: kill\n"
                               "      ConfirmKeyDeletion: true\n"
                               "      PendingWindowInDays: 7\n";
    struct fixture f = {0};
    fixture_dir(&f, "delete");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml, 1, false);
    fake_aws_reset_calls(fa);
    char k[37];
    new_key(k, "Enabled");
    const char *keys[] = {k};
    struct respond_result res;
    assert_int_equal(run(&f, "kill", "k1", keys, 1, NULL, 0, &res), 0);
    respond_result_release(&res);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "PendingDeletion");
    json_t *p = fake_aws_call_params(fa, "ScheduleKeyDeletion", 0);
    assert_int_equal(json_integer_value(json_object_get(p, "PendingWindowInDays")), 7);
    json_decref(p);
    json_t *recs = trail_records(&f, "RespondScheduleKeyDeletion");
    json_t *re = json_object_get(json_array_get(recs, 0), "responseElements");
    assert_non_null(json_object_get(re, "deletionDate"));
    json_decref(recs);
    fixture_close(&f);
}

static void test_verification_and_retry(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "verify");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml_disable, 1, false);
    fake_aws_reset_calls(fa);
    char k[37];
    new_key(k, "Enabled");
    const char *keys[] = {k};
    struct respond_result res;
    /* DisableKey says yes but changes nothing: DescribeKey tells */
    fake_aws_noop(fa, "DisableKey", true);
    assert_true(run(&f, "disable-keys", "v1", keys, 1, NULL, 0, &res) > 0);
    assert_non_null(strstr(res.error.data, "DescribeKey says KeyState Enabled"));
    respond_result_release(&res);
    fake_aws_noop(fa, "DisableKey", false);
    /* throttled: retryable; the retry of the same delivery succeeds */
    fake_aws_fail(fa, "DisableKey", 1, 400, "ThrottlingException");
    assert_true(run(&f, "disable-keys", "v2", keys, 1, NULL, 0, &res) > 0);
    respond_result_release(&res);
    assert_int_equal(run(&f, "disable-keys", "v2", keys, 1, NULL, 0, &res), 0);
    respond_result_release(&res);
    char st[32];
    state_of(k, st);
    assert_string_equal(st, "Disabled");
    /* a 5xx is retryable too, an unknown key is not */
    fake_aws_fail(fa, "DescribeKey", 1, 503, "ServiceUnavailable");
    const char *nokey[] = {"99999999-9999-4999-8999-999999999999"};
    assert_true(run(&f, "disable-keys", "v3", nokey, 1, NULL, 0, &res) > 0);
    respond_result_release(&res);
    assert_true(run(&f, "disable-keys", "v4", nokey, 1, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "NotFoundException"));
    respond_result_release(&res);
    fixture_close(&f);
}

static void test_exec(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "exec");
    char out[500], yaml[4096];
    snprintf(out, sizeof(out), "%s/stdin.json", f.dir);
    snprintf(yaml, sizeof(yaml),
             "Resources:\n"
             "  Capture:\n"
             "    Type: Keysentry::Response::Exec\n"
             "    Properties:\n"
             "      Name: capture\n"
             "      CooldownSeconds: 0\n"
             "      Command: [/bin/sh, -c, 'cat > \"$OUT\"; test \"$KEYSENTRY_KEYS\" = k1,k2']\n"
             "      Environment: {OUT: '%s'}\n"
             "  Slow:\n"
             "    Type: Keysentry::Response::Exec\n"
             "    Properties:\n"
             "      Name: slow\n"
             "      CooldownSeconds: 0\n"
             "      TimeoutSeconds: 1\n"
             "      Command: [/bin/sleep, '30']\n"
             "  Fails:\n"
             "    Type: Keysentry::Response::Exec\n"
             "    Properties:\n"
             "      Name: fails\n"
             "      CooldownSeconds: 0\n"
             "      Command: [/bin/sh, -c, 'echo nope >&2; exit \"$CODE\"']\n"
             "      Environment: {CODE: '3'}\n"
             "  Later:\n"
             "    Type: Keysentry::Response::Exec\n"
             "    Properties:\n"
             "      Name: later\n"
             "      CooldownSeconds: 0\n"
             "      Command: [/bin/sh, -c, 'exit 75']\n",
             out);
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml, 1, false);
    const char *keys[] = {"k1", "k2"};
    struct respond_result res;
    assert_int_equal(run(&f, "capture", "e1", keys, 2, NULL, 0, &res), 0);
    respond_result_release(&res);
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    char buf[1024] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    assert_non_null(strstr(buf, "\"AlarmName\":\"kms-failures\""));

    int64_t t0 = mono_ms();
    assert_true(run(&f, "slow", "e2", NULL, 0, NULL, 0, &res) > 0);
    assert_true(mono_ms() - t0 < 5000);
    assert_non_null(strstr(res.error.data, "did not finish within 1 s"));
    respond_result_release(&res);

    assert_true(run(&f, "fails", "e3", NULL, 0, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "exited with 3: nope"));
    respond_result_release(&res);
    assert_true(run(&f, "later", "e4", NULL, 0, NULL, 0, &res) > 0);
    respond_result_release(&res);
    assert_int_equal(count_records(&f, "RespondExec"), 4);
    fixture_close(&f);
}

static void test_unknown_action_and_no_target(void **state)
{
    (void)state;
    struct fixture f = {0};
    fixture_dir(&f, "unknown");
    env_init(&f.env, AKID, SECRET);
    f.r = open_engine(&f, yaml_disable, 1, false);
    struct respond_result res;
    assert_true(run(&f, "arn:aws:sns:us-east-1:111122223333:topic", "u1", NULL, 0, NULL, 0, &res) <
                0);
    respond_result_release(&res);
    const char *keys[] = {"alias/only-an-alias"};
    assert_true(run(&f, "disable-keys", "u2", keys, 1, NULL, 0, &res) < 0);
    assert_non_null(strstr(res.error.data, "no key ID or key ARN"));
    respond_result_release(&res);
    fixture_close(&f);
}

static int setup(void **state)
{
    (void)state;
    struct fake_aws_options o = {AKID, SECRET, NULL, REGION, ACCT};
    fa = fake_aws_start(&o);
    if (!fa)
        return -1;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ks-respond-it-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fake_aws_stop(fa);
    if (getenv("RESPOND_TEST_KEEP") == NULL) {
        /* rm -r without a shell */
        pid_t pid = fork();
        if (pid == 0) {
            char *argv[] = {(char *)(uintptr_t) "/bin/rm", (char *)(uintptr_t) "-rf", tmpdir, NULL};
            execv(argv[0], argv);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child-disable") == 0)
        return child_disable(argv[2], argv[3], argv[4]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disable_keys_from_context),
        cmocka_unit_test(test_dry_run_calls_nothing),
        cmocka_unit_test(test_cap_blocks_the_next),
        cmocka_unit_test(test_auto_revert),
        cmocka_unit_test(test_revert_survives_kill9),
        cmocka_unit_test(test_bad_credentials),
        cmocka_unit_test(test_session_token_profile),
        cmocka_unit_test(test_revoke_role_sessions),
        cmocka_unit_test(test_attach_deny_policy),
        cmocka_unit_test(test_schedule_key_deletion),
        cmocka_unit_test(test_verification_and_retry),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_unknown_action_and_no_target),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
