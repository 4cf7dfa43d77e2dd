/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond unit tables: property validation, target selection, the safety
 * gate and the engine's ledger under an injected clock, credentials files,
 * endpoints, request building (golden files, and verified with sigv4_verify),
 * the revoke policy, trail records and running programs.
 *
 * argv[1]: the golden folder. KS_GOLDEN_UPDATE=1 rewrites the golden files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "respond/respond.h"

static const char *golden_dir = ".";
static const char *docs_path = NULL;

/* ---- definitions -------------------------------------------------------------- */

struct def_row {
    const char *name;
    const char *type;  /* suffix after Keysentry::Response:: */
    const char *props; /* JSON */
    const char *error; /* substring of the message; NULL: valid */
};

static const struct def_row def_rows[] = {
    {"disable empty", "DisableKey", "{}", NULL},
    {"disable fixed id", "DisableKey", "{\"KeyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\"}",
     NULL},
    {"disable fixed arn", "DisableKey",
     "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\"}",
     NULL},
    {"disable mrk", "DisableKey", "{\"KeyId\":\"mrk-1234abcd12ab34cd56ef1234567890ab\"}", NULL},
    {"disable alias", "DisableKey", "{\"KeyId\":\"alias/lab\"}",
     "Resources.Resp.Properties.KeyId: DisableKey takes a key ID or key ARN, not an alias"},
    {"disable alias arn", "DisableKey",
     "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:alias/lab\"}", "not an alias"},
    {"disable junk id", "DisableKey", "{\"KeyId\":\"nope\"}",
     "KeyId: 'nope' is neither a key ID nor a key ARN"},
    {"disable id not string", "DisableKey", "{\"KeyId\":5}", "KeyId: must be a string"},
    {"unknown property", "DisableKey", "{\"Foo\":1}",
     "Resources.Resp.Properties.Foo: unknown property of Keysentry::Response::DisableKey"},
    {"did you mean", "DisableKey", "{\"KeyID\":\"x\"}", "unknown property (did you mean 'KeyId'?)"},
    {"did you mean 2", "DisableKey", "{\"CoolDownSecond\":1}", "did you mean 'CooldownSeconds'"},
    {"misplaced property", "DisableKey", "{\"PendingWindowInDays\":7}",
     "PendingWindowInDays: not a property of Keysentry::Response::DisableKey"},
    {"cooldown negative", "DisableKey", "{\"CooldownSeconds\":-1}",
     "CooldownSeconds: must be an integer from 0 to 604800 (got -1)"},
    {"cooldown fraction", "DisableKey", "{\"CooldownSeconds\":1.5}", "must be an integer"},
    {"cooldown string", "DisableKey", "{\"CooldownSeconds\":\"30\"}", NULL},
    {"cooldown bad string", "DisableKey", "{\"CooldownSeconds\":\"3x\"}",
     "CooldownSeconds: must be an integer from 0 to 604800"},
    {"cap huge", "DisableKey", "{\"MaxActionsPerHour\":100000}", "MaxActionsPerHour"},
    {"cap zero", "DisableKey", "{\"MaxActionsPerHour\":0}", NULL},
    {"dry run yes", "DisableKey", "{\"DryRun\":\"yes\"}", "DryRun: must be true or false"},
    {"dry run string", "DisableKey", "{\"DryRun\":\"true\"}", NULL},
    {"endpoint scheme", "DisableKey", "{\"Endpoint\":\"ftp://x\"}",
     "Endpoint: endpoint 'ftp://x' must start with http:// or https://"},
    {"endpoint query", "DisableKey", "{\"Endpoint\":\"http://h/?a=1\"}", "query"},
    {"endpoint ok", "DisableKey", "{\"Endpoint\":\"http://127.0.0.1:4599\"}", NULL},
    {"revert zero", "DisableKey", "{\"AutoRevertAfterSeconds\":0}", "AutoRevertAfterSeconds"},
    {"revert too long", "DisableKey", "{\"AutoRevertAfterSeconds\":2592001}",
     "AutoRevertAfterSeconds"},
    {"max targets zero", "DisableKey", "{\"MaxTargets\":0}", "MaxTargets: must be an integer"},
    {"region bad", "DisableKey", "{\"Region\":\"us east\"}", "Region: 'us east' is not a region"},
    {"profile bracket", "DisableKey", "{\"Profile\":\"a]b\"}", "Profile"},
    {"control char", "DisableKey", "{\"Profile\":\"a\\nb\"}", "control characters"},
    {"timeout zero", "DisableKey", "{\"TimeoutSeconds\":0}", "TimeoutSeconds"},
    {"delete unconfirmed", "ScheduleKeyDeletion", "{\"PendingWindowInDays\":7}",
     "Resources.Resp.Properties.ConfirmKeyDeletion: must be true"},
    {"delete confirm false", "ScheduleKeyDeletion",
     "{\"ConfirmKeyDeletion\":false,\"PendingWindowInDays\":7}",
     "ConfirmKeyDeletion: must be true"},
    {"delete no window", "ScheduleKeyDeletion", "{\"ConfirmKeyDeletion\":true}",
     "PendingWindowInDays: is required"},
    {"delete window 6", "ScheduleKeyDeletion",
     "{\"ConfirmKeyDeletion\":true,\"PendingWindowInDays\":6}",
     "PendingWindowInDays: must be an integer from 7 to 30 (got 6)"},
    {"delete window 31", "ScheduleKeyDeletion",
     "{\"ConfirmKeyDeletion\":true,\"PendingWindowInDays\":31}", "from 7 to 30"},
    {"delete ok", "ScheduleKeyDeletion", "{\"ConfirmKeyDeletion\":true,\"PendingWindowInDays\":7}",
     NULL},
    {"delete no revert", "ScheduleKeyDeletion",
     "{\"ConfirmKeyDeletion\":true,\"PendingWindowInDays\":7,\"AutoRevertAfterSeconds\":60}",
     "AutoRevertAfterSeconds: not a property of Keysentry::Response::ScheduleKeyDeletion"},
    {"revoke empty", "RevokeRoleSessions", "{}", NULL},
    {"revoke bad name", "RevokeRoleSessions", "{\"RoleName\":\"a b\"}",
     "RoleName: 'a b' is not an IAM role name"},
    {"revoke both", "RevokeRoleSessions", "{\"RoleName\":\"a\",\"RoleArn\":\"b\"}",
     "RoleArn: give RoleName or RoleArn, not both"},
    {"revoke service linked", "RevokeRoleSessions",
     "{\"RoleArn\":\"arn:aws:iam::111122223333:role/aws-service-role/x.amazonaws.com/R\"}",
     "not the ARN of a role that can take policies"},
    {"revoke session arn", "RevokeRoleSessions",
     "{\"RoleArn\":\"arn:aws:sts::111122223333:assumed-role/R/s\"}", "RoleArn"},
    {"revoke role arn", "RevokeRoleSessions",
     "{\"RoleArn\":\"arn:aws:iam::111122223333:role/path/app\"}", NULL},
    {"revoke policy name", "RevokeRoleSessions", "{\"PolicyName\":\"bad name\"}", "PolicyName"},
    {"deny allow statement", "AttachDenyPolicy",
     "{\"PolicyDocument\":{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}"
     ","
     "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}}",
     "PolicyDocument: statement 2 has Effect other than Deny"},
    {"deny string doc", "AttachDenyPolicy",
     "{\"PolicyDocument\":\"{\\\"Statement\\\":{\\\"Effect\\\":\\\"Deny\\\",\\\"Action\\\":\\\"*"
     "\\\","
     "\\\"Resource\\\":\\\"*\\\"}}\"}",
     NULL},
    {"deny doc not json", "AttachDenyPolicy", "{\"PolicyDocument\":\"{nope\"}",
     "PolicyDocument: not JSON"},
    {"deny two forms", "AttachDenyPolicy",
     "{\"PolicyArn\":\"arn:aws:iam::1:policy/P\",\"PolicyDocument\":{}}", "give one of"},
    {"deny arn with name", "AttachDenyPolicy",
     "{\"PolicyArn\":\"arn:aws:iam::1:policy/P\",\"PolicyName\":\"n\"}",
     "PolicyName: names an inline policy"},
    {"deny bad arn", "AttachDenyPolicy", "{\"PolicyArn\":\"arn:aws:s3:::b\"}",
     "is not an IAM policy ARN"},
    {"deny actions empty", "AttachDenyPolicy", "{\"DenyActions\":[]}",
     "DenyActions: must be a list"},
    {"deny actions bad", "AttachDenyPolicy", "{\"DenyActions\":[\"kms Decrypt\"]}",
     "DenyActions: entry 1"},
    {"deny default", "AttachDenyPolicy", "{}", NULL},
    {"exec no command", "Exec", "{}", "Resources.Resp.Properties.Command: is required"},
    {"exec relative", "Exec", "{\"Command\":[\"rm\",\"-rf\"]}",
     "Command: 'rm' must be an absolute path: no PATH search, no shell"},
    {"exec string", "Exec", "{\"Command\":\"/bin/true\"}", "Command: must be a list"},
    {"exec non-string arg", "Exec", "{\"Command\":[\"/bin/echo\",1]}", "Command: entry 2"},
    {"exec bad env name", "Exec", "{\"Command\":[\"/bin/true\"],\"Environment\":{\"1X\":\"a\"}}",
     "Environment: '1X' is not a variable name"},
    {"exec env not string", "Exec", "{\"Command\":[\"/bin/true\"],\"Environment\":{\"X\":1}}",
     "Environment: X: the value must be a string"},
    {"exec key id", "Exec", "{\"Command\":[\"/bin/true\"],\"KeyId\":\"x\"}",
     "KeyId: not a property of Keysentry::Response::Exec"},
    {"exec ok", "Exec",
     "{\"Command\":[\"/bin/true\",\"a b\"],\"Environment\":{\"X_1\":\"v\"},\"TimeoutSeconds\":3}",
     NULL},
    {"unknown type", "Bogus", "{}", "Resources.Resp: unknown response type"},
};

struct custom {
    char lid[16], type[80], name[64];
    struct config_custom c;
};

static void make_custom(struct custom *cu, const char *type, const char *props)
{
    memset(cu, 0, sizeof(*cu));
    snprintf(cu->lid, sizeof(cu->lid), "Resp");
    snprintf(cu->type, sizeof(cu->type), "Keysentry::Response::%s", type);
    snprintf(cu->name, sizeof(cu->name), "stack-Resp");
    cu->c.res.logical_id = cu->lid;
    cu->c.res.type = cu->type;
    cu->c.res.pos.offset = 42;
    cu->c.name = cu->name;
    json_error_t jerr;
    cu->c.properties = json_loads(props, 0, &jerr);
    if (!cu->c.properties)
        fail_msg("bad row JSON %s: %s", props, jerr.text);
}

static void test_def_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(def_rows) / sizeof(def_rows[0]); i++) {
        const struct def_row *row = &def_rows[i];
        struct custom cu;
        make_custom(&cu, row->type, row->props);
        struct ks_diag diag;
        ks_diag_clear(&diag);
        struct respond_def *d = NULL;
        enum ks_err e = respond_def_parse(&cu.c, "us-east-1", "111122223333", &d, &diag);
        if (!row->error && e)
            fail_msg("row '%s': unexpected error: %s", row->name, diag.msg);
        if (row->error) {
            if (!e)
                fail_msg("row '%s': accepted, expected '%s'", row->name, row->error);
            if (!strstr(diag.msg, row->error))
                fail_msg("row '%s': message '%s' lacks '%s'", row->name, diag.msg, row->error);
            if (diag.offset != 42)
                fail_msg("row '%s': offset %zu", row->name, diag.offset);
            assert_null(d);
        }
        respond_def_free(d);
        json_decref(cu.c.properties);
    }
}

static void test_def_defaults(void **state)
{
    (void)state;
    struct custom cu;
    make_custom(&cu, "DisableKey", "{}");
    struct respond_def *d;
    struct ks_diag diag;
    assert_int_equal(respond_def_parse(&cu.c, "ap-southeast-2", "444455556666", &d, &diag), KS_OK);
    assert_int_equal(d->kind, RESPOND_DISABLE_KEY);
    assert_string_equal(d->name, "stack-Resp");
    assert_string_equal(d->arn,
                        "arn:keysentry:respond:ap-southeast-2:444455556666:response/stack-Resp");
    assert_string_equal(d->region, "ap-southeast-2");
    assert_int_equal(d->cooldown_s, 300);
    assert_int_equal(d->max_per_hour, 10);
    assert_int_equal(d->max_targets, 5);
    assert_int_equal(d->timeout_s, 10);
    assert_int_equal(d->auto_revert_s, 0);
    assert_true(d->verify);
    assert_false(d->dry_run);
    assert_null(d->key_id);
    respond_def_free(d);
    json_decref(cu.c.properties);

    make_custom(&cu, "AttachDenyPolicy", "{\"DenyActions\":[\"kms:Decrypt\"]}");
    assert_int_equal(respond_def_parse(&cu.c, "us-east-1", "1", &d, &diag), KS_OK);
    assert_string_equal(d->policy_name, "KeysentryDeny");
    assert_string_equal(d->policy_document,
                        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"KeysentryDeny\","
                        "\"Effect\":\"Deny\",\"Action\":[\"kms:Decrypt\"],\"Resource\":\"*\"}]}");
    respond_def_free(d);
    json_decref(cu.c.properties);

    make_custom(&cu, "RevokeRoleSessions", "{\"RoleArn\":\"arn:aws:iam::1:role/a/b/app\"}");
    assert_int_equal(respond_def_parse(&cu.c, "us-east-1", "1", &d, &diag), KS_OK);
    assert_string_equal(d->role, "app");
    assert_string_equal(d->policy_name, "AWSRevokeOlderSessions");
    respond_def_free(d);
    json_decref(cu.c.properties);

    make_custom(&cu, "Exec", "{\"Command\":[\"/bin/echo\",\"x\"],\"Environment\":{\"A\":\"1\"}}");
    assert_int_equal(respond_def_parse(&cu.c, "us-east-1", "1", &d, &diag), KS_OK);
    assert_int_equal(d->argc, 2);
    assert_null(d->argv[2]);
    assert_string_equal(d->envp[0], "A=1");
    assert_false(d->verify);
    respond_def_free(d);
    json_decref(cu.c.properties);
}

static void test_validate_template(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  A:\n"
                               "    Type: Keysentry::Response::DisableKey\n"
                               "    Properties: {Name: same}\n"
                               "  B:\n"
                               "    Type: Keysentry::Response::Exec\n"
                               "    Properties: {Name: same, Command: [/bin/true]}\n"
                               "  Other:\n"
                               "    Type: Keysentry::Something\n"
                               "    Properties: {Anything: 1}\n";
    struct config_template *t;
    struct ks_diag diag;
    assert_int_equal(config_template_load_buffer("v.yaml", yaml, strlen(yaml), NULL, &t, &diag),
                     KS_OK);
    assert_int_equal(respond_validate_template(t, &diag), KS_E_INVALID);
    assert_non_null(strstr(diag.msg, "Resources.B: response name 'same' is already used by A"));
    config_template_free(t);
}

/* ---- targets -------------------------------------------------------------------- */

struct target_row {
    const char *name;
    const char *type;
    const char *props;
    const char *keys[6];
    const char *principals[6];
    const char *expect[8]; /* "id" acted on, "id!" skipped */
};

#define K1 "11111111-1111-4111-8111-111111111111"
#define K2 "22222222-2222-4222-8222-222222222222"
#define A1 "arn:aws:kms:us-east-1:111122223333:key/" K1

static const struct target_row target_rows[] = {
    {"keys dedup",
     "DisableKey",
     "{}",
     {A1, K1, K2, "alias/x", NULL},
     {NULL},
     {A1, K2, "alias/x!", NULL}},
    {"other region",
     "DisableKey",
     "{}",
     {"arn:aws:kms:eu-west-1:111122223333:key/" K1, NULL},
     {NULL},
     {"arn:aws:kms:eu-west-1:111122223333:key/" K1 "!", NULL}},
    {"junk key", "DisableKey", "{}", {"hello", "", NULL}, {NULL}, {"hello!", NULL}},
    {"max targets", "DisableKey", "{\"MaxTargets\":1}", {K1, K2, NULL}, {NULL}, {K1, K2 "!", NULL}},
    {"fixed key wins", "DisableKey", "{\"KeyId\":\"" K2 "\"}", {K1, NULL}, {NULL}, {K2, NULL}},
    {"no context", "DisableKey", "{}", {NULL}, {NULL}, {NULL}},
    {"roles",
     "RevokeRoleSessions",
     "{}",
     {K1, NULL},
     {"arn:aws:sts::1:assumed-role/app/s1", "arn:aws:sts::1:assumed-role/app/s2",
      "arn:aws:iam::1:role/path/ops", "arn:aws:iam::1:user/Alice", "arn:aws:iam::1:root", NULL},
     {"app", "ops", "arn:aws:iam::1:user/Alice!", "arn:aws:iam::1:root!", NULL}},
    {"service linked",
     "AttachDenyPolicy",
     "{}",
     {NULL},
     {"arn:aws:iam::1:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", NULL},
     {"arn:aws:iam::1:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS!", NULL}},
    {"fixed role",
     "RevokeRoleSessions",
     "{\"RoleName\":\"fixed\"}",
     {NULL},
     {"arn:aws:iam::1:role/other", NULL},
     {"fixed", NULL}},
    {"exec", "Exec", "{\"Command\":[\"/bin/true\"]}", {K1, NULL}, {NULL}, {"exec", NULL}},
};

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

static void test_targets_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(target_rows) / sizeof(target_rows[0]); i++) {
        const struct target_row *row = &target_rows[i];
        struct custom cu;
        make_custom(&cu, row->type, row->props);
        struct respond_def *d;
        struct ks_diag diag;
        if (respond_def_parse(&cu.c, "us-east-1", "111122223333", &d, &diag))
            fail_msg("row '%s': %s", row->name, diag.msg);
        struct respond_context ctx = {0};
        ctx.keys = row->keys;
        ctx.n_keys = count(row->keys);
        ctx.principals = row->principals;
        ctx.n_principals = count(row->principals);
        struct respond_targets tg;
        respond_targets_init(&tg);
        respond_select_targets(d, strcmp(row->name, "no context") == 0 ? NULL : &ctx, &tg);
        size_t n = count(row->expect);
        if (tg.n != n)
            fail_msg("row '%s': %zu targets, expected %zu", row->name, tg.n, n);
        for (size_t j = 0; j < n; j++) {
            char want[300];
            snprintf(want, sizeof(want), "%s", row->expect[j]);
            bool skip = want[strlen(want) - 1] == '!';
            if (skip)
                want[strlen(want) - 1] = '\0';
            if (strcmp(tg.v[j].id, want) != 0 || (tg.v[j].skip != NULL) != skip)
                fail_msg("row '%s' target %zu: got '%s' (%s), expected '%s' (%s)", row->name, j,
                         tg.v[j].id, tg.v[j].skip ? tg.v[j].skip : "acted", want,
                         skip ? "skipped" : "acted");
        }
        respond_targets_release(&tg);
        respond_def_free(d);
        json_decref(cu.c.properties);
    }
}

static void test_role_name(void **state)
{
    (void)state;
    static const struct {
        const char *arn, *name;
    } rows[] = {
        {"arn:aws:iam::111122223333:role/app", "app"},
        {"arn:aws:iam::111122223333:role/a/b/app", "app"},
        {"arn:aws-cn:iam::111122223333:role/app", "app"},
        {"arn:aws:sts::111122223333:assumed-role/app/session-1", "app"},
        {"arn:aws:iam::111122223333:role/aws-service-role/x/y", NULL},
        {"arn:aws:iam::111122223333:user/app", NULL},
        {"arn:aws:sts::111122223333:federated-user/bob", NULL},
        {"arn:aws:iam::111122223333:role/", NULL},
        {"arn:aws:iam::111122223333:role/bad name", NULL},
        {"role/app", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[65] = "";
        bool ok = respond_role_name(rows[i].arn, out, sizeof(out));
        if (ok != (rows[i].name != NULL) || (ok && strcmp(out, rows[i].name) != 0))
            fail_msg("'%s': got %d '%s'", rows[i].arn, ok, out);
    }
}

/* ---- the gate, pure --------------------------------------------------------------- */

static void test_gate_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t cooldown, cap;
        bool done;
        int64_t last_other, now;
        uint32_t in_hour;
        double scale;
        enum respond_gate_verdict want;
    } rows[] = {
        {"first ever", 300, 10, false, INT64_MIN, 1000, 0, 1, RESPOND_GATE_GO},
        {"retry of done", 300, 10, true, 900, 1000, 9, 1, RESPOND_GATE_ALREADY_DONE},
        {"in cooldown", 300, 10, false, 0, 299999, 1, 1, RESPOND_GATE_COOLDOWN},
        {"cooldown over", 300, 10, false, 0, 300000, 1, 1, RESPOND_GATE_GO},
        {"no cooldown", 0, 10, false, 999, 1000, 1, 1, RESPOND_GATE_GO},
        {"scaled cooldown over", 300, 10, false, 0, 5000, 1, 60, RESPOND_GATE_GO},
        {"scaled cooldown on", 300, 10, false, 0, 4999, 1, 60, RESPOND_GATE_COOLDOWN},
        {"cap reached", 0, 3, false, INT64_MIN, 1000, 3, 1, RESPOND_GATE_CAP},
        {"cap not reached", 0, 3, false, INT64_MIN, 1000, 2, 1, RESPOND_GATE_GO},
        {"cap zero", 0, 0, false, INT64_MIN, 1000, 0, 1, RESPOND_GATE_CAP},
        {"cooldown before cap", 300, 0, false, 500, 1000, 0, 1, RESPOND_GATE_COOLDOWN},
    };
    struct respond_def d;
    memset(&d, 0, sizeof(d));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        d.cooldown_s = rows[i].cooldown;
        d.max_per_hour = rows[i].cap;
        struct respond_gate_facts f = {rows[i].done, rows[i].last_other, rows[i].in_hour};
        enum respond_gate_verdict v = respond_gate(&d, &f, rows[i].now, rows[i].scale);
        if (v != rows[i].want)
            fail_msg("row '%s': %s, expected %s", rows[i].name, respond_gate_name(v),
                     respond_gate_name(rows[i].want));
    }
}

/* ---- the engine's ledger with an injected clock ------------------------------------- */

struct clock {
    int64_t now;
};

static int64_t fake_clock(void *ctx)
{
    return ((struct clock *)ctx)->now;
}

static struct respond *engine(const char *yaml, struct clock *clk, double scale, bool dry,
                              struct config_template **t)
{
    struct ks_diag diag;
    if (config_template_load_buffer("e.yaml", yaml, strlen(yaml), NULL, t, &diag))
        fail_msg("template: %s", diag.msg);
    struct respond_options o = {0};
    o.clock = fake_clock;
    o.clock_ctx = clk;
    o.time_scale = scale;
    o.dry_run = dry;
    o.quiet = true;
    struct respond *r;
    if (respond_new(*t, &o, &r, &diag))
        fail_msg("respond_new: %s", diag.msg);
    return r;
}

static int exec_at(struct respond *r, struct clock *clk, int64_t at_ms, const char *action,
                   const char *trigger, size_t *blocked)
{
    clk->now = 1700000000000LL + at_ms;
    struct respond_context ctx = {0};
    const char *keys[] = {K1};
    ctx.keys = keys;
    ctx.n_keys = 1;
    ctx.trigger_id = trigger;
    struct respond_result res;
    respond_result_init(&res);
    int st = respond_execute(r, action, "{\"AlarmName\":\"a\"}", &ctx, &res);
    *blocked = res.n_blocked;
    respond_result_release(&res);
    return st;
}

static void test_engine_cooldown_cap(void **state)
{
    (void)state;
    static const char yaml[] = "Resources:\n"
                               "  Run:\n"
                               "    Type: Keysentry::Response::Exec\n"
                               "    Properties:\n"
                               "      Name: run\n"
                               "      CooldownSeconds: 60\n"
                               "      MaxActionsPerHour: 3\n"
                               "      Command: [/bin/true]\n"
                               "  Shadow:\n"
                               "    Type: Keysentry::Response::DisableKey\n"
                               "    Properties:\n"
                               "      Name: shadow\n"
                               "      DryRun: true\n"
                               "      CooldownSeconds: 0\n"
                               "      MaxActionsPerHour: 1\n";
    struct clock clk = {0};
    struct config_template *t;
    struct respond *r = engine(yaml, &clk, 1, false, &t);
    size_t b;
    static const struct {
        int64_t at;
        const char *trigger;
        size_t blocked;
    } steps[] = {
        {0, "A", 0},    /* first */
        {30, "B", 1},   /* cooldown */
        {61, "C", 0},   /* after the cooldown */
        {62, "A", 0},   /* a retry of A: already done, not blocked */
        {200, "D", 0},  /* third in the hour */
        {300, "E", 1},  /* cap: 0, 61, 200 */
        {3601, "F", 0}, /* 0 left the sliding hour */
        {3700, "G", 0}, /* 61 left too: 200, 3601 */
        {3710, "H", 1}, /* cooldown after G */
        {3790, "I", 1}, /* cap: 200, 3601, 3700 */
        {3801, "J", 0}, /* 200 left: 3601, 3700 */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        assert_int_equal(exec_at(r, &clk, steps[i].at * 1000, "run", steps[i].trigger, &b), 0);
        if (b != steps[i].blocked)
            fail_msg("step %zu (t=%lld %s): blocked %zu, expected %zu", i, (long long)steps[i].at,
                     steps[i].trigger, b, steps[i].blocked);
    }
    /* dry runs count against a budget of their own */
    assert_int_equal(exec_at(r, &clk, 4000000, "shadow", "S1", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(exec_at(r, &clk, 4001000, "shadow", "S2", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(exec_at(r, &clk, 7601000, "shadow", "S3", &b), 0);
    assert_int_equal(b, 0);
    respond_free(r);
    config_template_free(t);

    /* time scale 60: the 60 s cooldown lasts one second */
    r = engine(yaml, &clk, 60, false, &t);
    assert_int_equal(exec_at(r, &clk, 0, "run", "A", &b), 0);
    assert_int_equal(exec_at(r, &clk, 999, "run", "B", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(exec_at(r, &clk, 1000, "run", "C", &b), 0);
    assert_int_equal(b, 0);
    /* global dry run: a live response only pretends */
    respond_free(r);
    config_template_free(t);
    r = engine(yaml, &clk, 1, true, &t);
    clk.now = 1;
    struct respond_result res;
    respond_result_init(&res);
    assert_int_equal(respond_execute(r, "run", "{}", NULL, &res), 0);
    assert_int_equal(res.n_dry_run, 1);
    respond_result_release(&res);
    respond_free(r);
    /* ... also forced by the environment */
    const char *env[] = {"KEYSENTRY_RESPOND_DRY_RUN=1", NULL};
    struct respond_options o = {0};
    o.env = env;
    o.quiet = true;
    struct ks_diag diag;
    assert_int_equal(respond_new(t, &o, &r, &diag), KS_OK);
    respond_result_init(&res);
    assert_int_equal(respond_execute(r, "run", "{}", NULL, &res), 0);
    assert_int_equal(res.n_dry_run, 1);
    assert_int_equal(res.n_done, 0);
    respond_result_release(&res);
    respond_free(r);
    config_template_free(t);
}

/* ---- credentials -------------------------------------------------------------------- */

struct cred_row {
    const char *name;
    const char *text;
    const char *profile;
    enum ks_err err;
    const char *akid, *secret, *token;
};

static const struct cred_row cred_rows[] = {
    {"basic", "[default]\naws_access_key_id=AK\naws_secret_access_key=SK\n", "default", KS_OK, "AK",
     "SK", NULL},
    {"spaces and comments",
     "# top\n; also\n[default]\n  aws_access_key_id  =  AK  \n\taws_secret_access_key= SK/+=\n",
     "default", KS_OK, "AK", "SK/+=", NULL},
    {"crlf", "[default]\r\naws_access_key_id = AK\r\naws_secret_access_key = SK\r\n", "default",
     KS_OK, "AK", "SK", NULL},
    {"names any case", "[default]\nAWS_ACCESS_KEY_ID=AK\nAws_Secret_Access_Key=SK\n", "default",
     KS_OK, "AK", "SK", NULL},
    {"second profile",
     "[default]\naws_access_key_id=A0\naws_secret_access_key=S0\n[ops]\naws_access_key_id=A1\n"
     "aws_secret_access_key=S1\naws_session_token=T1\n",
     "ops", KS_OK, "A1", "S1", "T1"},
    {"legacy token", "[p]\naws_access_key_id=A\naws_secret_access_key=S\naws_security_token=T\n",
     "p", KS_OK, "A", "S", "T"},
    {"session beats legacy",
     "[p]\naws_access_key_id=A\naws_secret_access_key=S\naws_session_token=T2\n"
     "aws_security_token=T1\n",
     "p", KS_OK, "A", "S", "T2"},
    {"last wins", "[p]\naws_access_key_id=A\naws_access_key_id=B\naws_secret_access_key=S\n", "p",
     KS_OK, "B", "S", NULL},
    {"nested settings",
     "[p]\naws_access_key_id=A\ns3 =\n  max_concurrent_requests = 10\n"
     "aws_secret_access_key=S\nregion=us-east-1\n",
     "p", KS_OK, "A", "S", NULL},
    {"profile prefix is literal", "[profile p]\naws_access_key_id=A\naws_secret_access_key=S\n",
     "p", KS_E_NOTFOUND, NULL, NULL, NULL},
    {"no such profile", "[a]\naws_access_key_id=A\naws_secret_access_key=S\n", "b", KS_E_NOTFOUND,
     NULL, NULL, NULL},
    {"no secret", "[p]\naws_access_key_id=A\n", "p", KS_E_INVALID, NULL, NULL, NULL},
    {"empty secret", "[p]\naws_access_key_id=A\naws_secret_access_key=\n", "p", KS_E_INVALID, NULL,
     NULL, NULL},
    {"garbage line", "[p]\nthis is not ini\n", "p", KS_E_SYNTAX, NULL, NULL, NULL},
    {"open section", "[p\naws_access_key_id=A\n", "p", KS_E_SYNTAX, NULL, NULL, NULL},
    {"empty file", "", "default", KS_E_NOTFOUND, NULL, NULL, NULL},
};

static void test_creds_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cred_rows) / sizeof(cred_rows[0]); i++) {
        const struct cred_row *row = &cred_rows[i];
        struct respond_creds c;
        struct ks_diag diag;
        ks_diag_clear(&diag);
        enum ks_err e = respond_creds_parse(row->text, strlen(row->text), row->profile, &c, &diag);
        if (e != row->err)
            fail_msg("row '%s': %s (%s), expected %s", row->name, ks_strerror(e), diag.msg,
                     ks_strerror(row->err));
        if (e) {
            /* messages never carry values */
            assert_null(strstr(diag.msg, "=A"));
            continue;
        }
        assert_string_equal(c.access_key_id, row->akid);
        assert_string_equal(c.secret_access_key, row->secret);
        if (row->token)
            assert_string_equal(c.session_token, row->token);
        else
            assert_null(c.session_token);
        respond_creds_release(&c);
        assert_null(c.access_key_id);
    }
}

static void test_creds_resolve(void **state)
{
    (void)state;
    char dir[] = "/tmp/ks-respond-creds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char aws[100], file[200], alt[200];
    snprintf(aws, sizeof(aws), "%s/.aws", dir);
    assert_int_equal(mkdir(aws, 0700), 0);
    snprintf(file, sizeof(file), "%s/credentials", aws);
    snprintf(alt, sizeof(alt), "%s/alt", dir);
    FILE *fp = fopen(file, "w");
    fputs("[default]\naws_access_key_id=FILEDEF\naws_secret_access_key=SECRETVALUE\n"
          "[ops]\naws_access_key_id=FILEOPS\naws_secret_access_key=SECRETVALUE\n",
          fp);
    fclose(fp);
    fp = fopen(alt, "w");
    fputs("[default]\naws_access_key_id=ALTDEF\naws_secret_access_key=S\n", fp);
    fclose(fp);
    char home[320], shared[400];
    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(shared, sizeof(shared), "AWS_SHARED_CREDENTIALS_FILE=%s", alt);
    static const char *const ak = "AWS_ACCESS_KEY_ID=ENVKEY",
                             *const sk = "AWS_SECRET_ACCESS_KEY=ENVSECRET",
                             *const tok = "AWS_SESSION_TOKEN=ENVTOKEN";
    struct {
        const char *name;
        const char *profile;
        const char *env[6];
        const char *want; /* access key id, or NULL for KS_E_NOTFOUND */
        bool token;
    } rows[] = {
        {"env wins", NULL, {home, ak, sk, tok, NULL}, "ENVKEY", true},
        {"env needs both", NULL, {home, ak, NULL}, "FILEDEF", false},
        {"explicit profile beats env", "ops", {home, ak, sk, NULL}, "FILEOPS", false},
        {"AWS_PROFILE", NULL, {home, "AWS_PROFILE=ops", NULL}, "FILEOPS", false},
        {"shared file", NULL, {home, shared, NULL}, "ALTDEF", false},
        {"no home", NULL, {NULL}, NULL, false},
        {"missing profile", "nope", {home, NULL}, NULL, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct respond_creds c;
        struct ks_diag diag;
        ks_diag_clear(&diag);
        enum ks_err e = respond_creds_resolve(rows[i].profile, rows[i].env, &c, &diag);
        if (!rows[i].want) {
            if (e == KS_OK)
                fail_msg("row '%s': resolved %s", rows[i].name, c.access_key_id);
            continue;
        }
        if (e)
            fail_msg("row '%s': %s", rows[i].name, diag.msg);
        assert_string_equal(c.access_key_id, rows[i].want);
        assert_int_equal(c.session_token != NULL, rows[i].token);
        assert_null(strstr(c.source, "SECRETVALUE")); /* the source never shows a secret */
        respond_creds_release(&c);
    }
    unlink(file);
    unlink(alt);
    rmdir(aws);
    rmdir(dir);
}

/* ---- endpoints and requests ------------------------------------------------------------ */

static void test_endpoints(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *path, *error;
    } rows[] = {
        {"http://127.0.0.1:4599", "127.0.0.1:4599", "/", NULL},
        {"http://localhost:80/", "localhost", "/", NULL},
        {"https://kms.us-east-1.amazonaws.com/", "kms.us-east-1.amazonaws.com", "/", NULL},
        {"https://h:443/prefix/", "h", "/prefix/", NULL},
        {"http://[::1]:4599/", "[::1]:4599", "/", NULL},
        {"http://h:0/", NULL, NULL, "bad port"},
        {"http://h:65536/", NULL, NULL, "bad port"},
        {"http://h:x/", NULL, NULL, "bad port"},
        {"http://u:p@h/", NULL, NULL, "user information"},
        {"http:///", NULL, NULL, "no host"},
        {"kms.amazonaws.com", NULL, NULL, "must start with"},
        {"http://h/#f", NULL, NULL, "query or fragment"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct respond_endpoint ep;
        struct ks_diag diag;
        ks_diag_clear(&diag);
        enum ks_err e = respond_endpoint_parse(rows[i].url, &ep, &diag);
        if (rows[i].error) {
            if (!e || !strstr(diag.msg, rows[i].error))
                fail_msg("'%s': expected '%s', got '%s'", rows[i].url, rows[i].error, diag.msg);
            continue;
        }
        if (e)
            fail_msg("'%s': %s", rows[i].url, diag.msg);
        assert_string_equal(ep.host, rows[i].host);
        assert_string_equal(ep.path, rows[i].path);
    }
    char url[200];
    const char *env1[] = {"KEYSENTRY_ENDPOINT_URL_KMS=http://ks-kms",
                          "AWS_ENDPOINT_URL_KMS=http://aws-kms", "AWS_ENDPOINT_URL=http://all",
                          NULL};
    respond_endpoint_url(RESPOND_SVC_KMS, "http://prop", "eu-west-1", env1, url, sizeof(url));
    assert_string_equal(url, "http://prop");
    respond_endpoint_url(RESPOND_SVC_KMS, NULL, "eu-west-1", env1, url, sizeof(url));
    assert_string_equal(url, "http://ks-kms");
    respond_endpoint_url(RESPOND_SVC_KMS, NULL, "eu-west-1", env1 + 1, url, sizeof(url));
    assert_string_equal(url, "http://aws-kms");
    respond_endpoint_url(RESPOND_SVC_IAM, NULL, "eu-west-1", env1, url, sizeof(url));
    assert_string_equal(url, "http://all");
    const char *none[] = {NULL};
    respond_endpoint_url(RESPOND_SVC_KMS, NULL, "eu-west-1", none, url, sizeof(url));
    assert_string_equal(url, "https://kms.eu-west-1.amazonaws.com/");
    respond_endpoint_url(RESPOND_SVC_IAM, NULL, "eu-west-1", none, url, sizeof(url));
    assert_string_equal(url, "https://iam.amazonaws.com/");
    assert_string_equal(respond_signing_region(RESPOND_SVC_IAM, "eu-west-1"), "us-east-1");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1u << 16);
    size_t n = fread(buf, 1, (1u << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void golden(const char *name, const char *got)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", golden_dir, name);
    if (getenv("KS_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
        return;
    }
    char *want = slurp(path);
    if (!want)
        fail_msg("missing golden file %s (KS_GOLDEN_UPDATE=1 writes it)", path);
    if (strcmp(want, got) != 0)
        fail_msg("%s differs:\n--- want\n%s\n--- got\n%s", name, want, got);
    free(want);
}

static bool lookup(void *ctx, const char *akid, struct sigv4_principal *out)
{
    const struct respond_creds *c = ctx;
    if (strcmp(akid, c->access_key_id) != 0)
        return false;
    out->secret_access_key = c->secret_access_key;
    out->session_token = c->session_token;
    out->expiration = 0;
    out->identity = c;
    return true;
}

static void build_and_check(enum respond_service svc, const char *op, json_t *params,
                            const struct respond_creds *creds, const char *golden_name)
{
    struct respond_endpoint ep;
    struct ks_diag diag;
    assert_int_equal(respond_endpoint_parse("http://localhost:4566/", &ep, &diag), KS_OK);
    struct sigv4_request req;
    sigv4_request_init(&req);
    struct ks_buf body, text;
    ks_buf_init(&body, 1u << 16);
    ks_buf_init(&text, 1u << 16);
    const int64_t when = 1705314600; /* 20240115T103000Z, spec/sigv4.md §9 */
    if (respond_build_request(svc, op, params, &ep, "us-east-1", creds, when, &req, &body, &diag))
        fail_msg("%s: %s", op, diag.msg);
    assert_int_equal(sigv4_request_render(&req, &text), KS_OK);
    assert_int_equal(ks_buf_add(&text, body.data, body.len), KS_OK);
    assert_int_equal(ks_buf_add(&text, "\n", 1), KS_OK);
    golden(golden_name, text.data);
    /* and independently of the golden text: a strict verifier accepts it */
    const char *regions[] = {"us-east-1"};
    struct sigv4_verifier v = {0};
    v.service = svc == RESPOND_SVC_KMS ? "kms" : "iam";
    v.regions = regions;
    v.nregions = 1;
    v.lookup = lookup;
    v.lookup_ctx = (void *)(uintptr_t)creds;
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum sigv4_status st = sigv4_verify(&v, &req, when + 10, &res);
    if (st != SIGV4_OK)
        fail_msg("%s: %s: %s", op, sigv4_status_name(st), res.message.data);
    sigv4_result_release(&res);
    sigv4_request_release(&req);
    ks_buf_release(&body);
    ks_buf_release(&text);
}

static void test_request_golden(void **state)
{
    (void)state;
    char ak[] = "AKIAIOSFODNN7EXAMPLE", sk[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         tok[] = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
    struct respond_creds creds = {ak, sk, NULL, ""};
    json_t *p = json_pack("{s:s}", "KeyId", "1234abcd-12ab-34cd-56ef-1234567890ab");
    build_and_check(RESPOND_SVC_KMS, "DisableKey", p, &creds, "kms_disable_key.http");
    json_decref(p);
    p = json_pack("{s:s, s:i}", "KeyId", "1234abcd-12ab-34cd-56ef-1234567890ab",
                  "PendingWindowInDays", 7);
    build_and_check(RESPOND_SVC_KMS, "ScheduleKeyDeletion", p, &creds,
                    "kms_schedule_key_deletion.http");
    json_decref(p);
    struct ks_buf doc;
    ks_buf_init(&doc, 4096);
    assert_int_equal(respond_revoke_policy(1705314600, &doc), KS_OK);
    p = json_pack("{s:s, s:s, s:s}", "RoleName", "pattern1-app-Pattern1ECSTaskRole", "PolicyName",
                  "AWSRevokeOlderSessions", "PolicyDocument", doc.data);
    struct respond_creds session = {ak, sk, tok, ""};
    build_and_check(RESPOND_SVC_IAM, "PutRolePolicy", p, &session, "iam_put_role_policy.http");
    json_decref(p);
    ks_buf_release(&doc);
}

static void test_revoke_policy(void **state)
{
    (void)state;
    struct ks_buf b;
    ks_buf_init(&b, 4096);
    assert_int_equal(respond_revoke_policy(1705314605, &b), KS_OK);
    assert_string_equal(b.data,
                        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
                        "\"Action\":[\"*\"],\"Resource\":[\"*\"],\"Condition\":{\"DateLessThan\":"
                        "{\"aws:TokenIssueTime\":\"2024-01-15T10:30:05Z\"}}}]}");
    ks_buf_release(&b);
}

/* ---- programs ------------------------------------------------------------------------- */

static void test_exec_run(void **state)
{
    (void)state;
    char *env[] = {(char *)(uintptr_t) "PATH=/usr/bin:/bin", NULL};
    struct respond_exec_result r;
    struct ks_diag diag;

    char *cat[] = {(char *)(uintptr_t) "/bin/cat", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(cat, env, "{\"a\":1}", 7, 5000, &r, &diag), KS_OK);
    assert_int_equal(r.exit_code, 0);
    assert_false(r.timed_out);
    assert_string_equal(r.output.data, "{\"a\":1}");
    respond_exec_result_release(&r);

    /* output is capped, the program is not blocked by it */
    char *yes[] = {(char *)(uintptr_t) "/bin/sh", (char *)(uintptr_t) "-c",
                   (char *)(uintptr_t) "head -c 200000 /dev/zero | tr '\\0' x", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(yes, env, NULL, 0, 5000, &r, &diag), KS_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.output.len, RESPOND_MAX_EXEC_OUTPUT);
    respond_exec_result_release(&r);

    /* a program that never reads a large input: no SIGPIPE, no hang */
    size_t big = 1u << 20;
    char *input = malloc(big);
    memset(input, 'm', big);
    char *tru[] = {(char *)(uintptr_t) "/bin/true", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(tru, env, input, big, 5000, &r, &diag), KS_OK);
    assert_int_equal(r.exit_code, 0);
    respond_exec_result_release(&r);
    free(input);

    /* timeout: the whole process group goes */
    char *slow[] = {(char *)(uintptr_t) "/bin/sh", (char *)(uintptr_t) "-c",
                    (char *)(uintptr_t) "sleep 30 & sleep 30", NULL};
    respond_exec_result_init(&r);
    time_t t0 = time(NULL);
    assert_int_equal(respond_exec_run(slow, env, NULL, 0, 300, &r, &diag), KS_OK);
    assert_true(r.timed_out);
    assert_true(time(NULL) - t0 < 5);
    assert_int_not_equal(r.signal, 0);
    respond_exec_result_release(&r);

    /* exit codes, a missing program, a relative path */
    char *code[] = {(char *)(uintptr_t) "/bin/sh", (char *)(uintptr_t) "-c",
                    (char *)(uintptr_t) "exit 7", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(code, env, NULL, 0, 5000, &r, &diag), KS_OK);
    assert_int_equal(r.exit_code, 7);
    respond_exec_result_release(&r);
    char *missing[] = {(char *)(uintptr_t) "/nonexistent/program", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(missing, env, NULL, 0, 5000, &r, &diag), KS_OK);
    assert_int_equal(r.exit_code, 127);
    respond_exec_result_release(&r);
    char *rel[] = {(char *)(uintptr_t) "true", NULL};
    respond_exec_result_init(&r);
    assert_int_equal(respond_exec_run(rel, env, NULL, 0, 5000, &r, &diag), KS_E_INVALID);
    respond_exec_result_release(&r);
}

/* ---- the documentation's examples ---------------------------------------------------- */

static void test_docs_examples(void **state)
{
    (void)state;
    if (!docs_path)
        skip();
    char *text = slurp(docs_path);
    assert_non_null(text);
    size_t n = 0;
    for (char *p = strstr(text, "```yaml\n"); p; p = strstr(p, "```yaml\n")) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        struct config_template *t;
        struct ks_diag diag;
        ks_diag_clear(&diag);
        if (config_template_load_buffer("responses.md", p, (size_t)(end - p), NULL, &t, &diag))
            fail_msg("docs example %zu: %s", n + 1, diag.msg);
        if (respond_validate_template(t, &diag))
            fail_msg("docs example %zu: %s", n + 1, diag.msg);
        config_template_free(t);
        n++;
        p = end + 3;
    }
    assert_true(n >= 1);
    free(text);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        golden_dir = argv[1];
    if (argc > 2)
        docs_path = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_def_table),
        cmocka_unit_test(test_def_defaults),
        cmocka_unit_test(test_validate_template),
        cmocka_unit_test(test_targets_table),
        cmocka_unit_test(test_role_name),
        cmocka_unit_test(test_gate_table),
        cmocka_unit_test(test_engine_cooldown_cap),
        cmocka_unit_test(test_creds_table),
        cmocka_unit_test(test_creds_resolve),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_request_golden),
        cmocka_unit_test(test_revoke_policy),
        cmocka_unit_test(test_exec_run),
        cmocka_unit_test(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
