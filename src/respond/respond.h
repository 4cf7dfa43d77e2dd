/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: autonomous responses to alarms (docs/responses.md).
 *
 * A response is a Keysentry::Response::* resource of the template, named in an
 * alarm's AlarmActions like an SNS topic (by its Ref or its ARN). When the
 * alarm's action runs (through notify's durable outbox, so with retries), the
 * response acts on what the triggering events name: it disables the KMS keys
 * they used, schedules their deletion, revokes the sessions of the role that
 * made the calls, attaches a deny policy to it, or runs a program.
 *
 * Place in the pipeline: alarm -> notify outbox -> respond_execute (a delivery
 * worker thread) -> AWS (KMS JSON 1.1 / IAM query protocol, SigV4 over
 * libcurl) or exec. Reverts run from respond_tick (or the thread started by
 * respond_start).
 *
 * Safety, in order of evaluation for each target:
 *   1. dry run (per response or global): everything is decided and recorded,
 *      nothing is called;
 *   2. idempotence: a target already handled for the same trigger (a retried
 *      delivery) is not acted on again;
 *   3. cooldown: a new trigger within CooldownSeconds of the response's last
 *      action is blocked;
 *   4. hourly cap: at most MaxActionsPerHour target actions in any sliding
 *      hour; the rest are blocked;
 *   5. pre-check (DescribeKey / GetRolePolicy): a target already in the wanted
 *      state is left alone and gets no revert;
 *   6. the call, then verification (DescribeKey says Disabled, ...);
 *   7. auto-revert: a durable row in SQLite, run when due, even after restart.
 * Every decision (done, dry run, blocked, failed, reverted) becomes one
 * CloudTrail-shaped record in keysentry's own trail (NDJSON) and one report
 * through the history hook.
 *
 * Invariants: credentials live in their own allocations, are wiped on release
 * and are never formatted into a message, a trail record or a log line. Every
 * input-derived size is capped (RESPOND_MAX_*). Nothing here exits or reads
 * the clock directly: time comes from respond_options.clock.
 * Thread-safety: respond_execute, respond_tick and the accessors may be called
 * from any number of threads at once (the ledger is locked; network calls and
 * programs run without the lock). respond_free must not race with them.
 */
#ifndef KS_RESPOND_H
#define KS_RESPOND_H

#include "base/ks.h"

#include <jansson.h>

#include "sigv4/sigv4.h"

struct config_template;
struct config_custom;
struct notify_hub;
struct notify_context;

/* Caps on input-derived sizes (docs/responses.md#limits). */
#define RESPOND_MAX_RESPONSES       200        /* responses in one template */
#define RESPOND_MAX_TARGETS         100        /* MaxTargets upper bound */
#define RESPOND_MAX_ARGV            64         /* Exec Command entries */
#define RESPOND_MAX_ENV             64         /* Exec Environment entries */
#define RESPOND_MAX_ARG_BYTES       4096       /* one Exec argument or value */
#define RESPOND_MAX_POLICY_BYTES    10240      /* inline policy document (IAM: 10,240) */
#define RESPOND_MAX_HTTP_BODY       (1u << 20) /* an AWS response body */
#define RESPOND_MAX_EXEC_OUTPUT     4096       /* kept of a program's stdout+stderr */
#define RESPOND_MAX_EXEC_INPUT      (4u << 20) /* message written to a program */
#define RESPOND_MAX_CRED_FILE_BYTES (1u << 20) /* shared credentials file */
#define RESPOND_MAX_TIMEOUT_S       3600       /* TimeoutSeconds upper bound */
#define RESPOND_MAX_REVERT_S        2592000    /* AutoRevertAfterSeconds: 30 days */
#define RESPOND_MAX_REVERT_ATTEMPTS 20         /* then the revert is marked failed */

#define RESPOND_ARN_PREFIX "arn:keysentry:respond:"

/* The response types: name, CloudFormation type, trail eventName suffix.
 * Append-only (the names are public). */
#define RESPOND_KIND_LIST(X)                                                                       \
    X(RESPOND_DISABLE_KEY, "Keysentry::Response::DisableKey", "DisableKey")                        \
    X(RESPOND_SCHEDULE_KEY_DELETION, "Keysentry::Response::ScheduleKeyDeletion",                   \
      "ScheduleKeyDeletion")                                                                       \
    X(RESPOND_REVOKE_ROLE_SESSIONS, "Keysentry::Response::RevokeRoleSessions",                     \
      "RevokeRoleSessions")                                                                        \
    X(RESPOND_ATTACH_DENY_POLICY, "Keysentry::Response::AttachDenyPolicy", "AttachDenyPolicy")     \
    X(RESPOND_EXEC, "Keysentry::Response::Exec", "Exec")

enum respond_kind {
#define RESPOND_KIND_ENUM(e, type, op) e,
    RESPOND_KIND_LIST(RESPOND_KIND_ENUM)
#undef RESPOND_KIND_ENUM
};

const char *respond_kind_type(enum respond_kind k); /* "Keysentry::Response::DisableKey" */
const char *respond_kind_op(enum respond_kind k);   /* "DisableKey" */
/* True when type starts with "Keysentry::Response::" (known or not). */
bool respond_is_response_type(const char *type);

/* ---------------------------------------------------------------------------
 * Definitions (one per Keysentry::Response::* resource)
 */

/*
 * A validated response. All strings are owned and NUL-terminated; optional
 * ones are NULL when absent. Immutable once parsed.
 */
struct respond_def {
    enum respond_kind kind;
    char *logical_id;
    char *name; /* the Ref value: Name, else "<StackName>-<LogicalId>" */
    char *arn;  /* arn:keysentry:respond:REGION:ACCOUNT:response/NAME */
    char *region;
    char *account;
    /* safety */
    bool dry_run;
    uint32_t cooldown_s;    /* CooldownSeconds, default 300 */
    uint32_t max_per_hour;  /* MaxActionsPerHour, default 10; 0 blocks everything */
    uint32_t max_targets;   /* MaxTargets, default 5 */
    uint32_t auto_revert_s; /* AutoRevertAfterSeconds, 0 = never */
    bool verify;            /* Verify, default true */
    uint32_t timeout_s;     /* TimeoutSeconds: per AWS call / for the program, default 10 */
    /* AWS access */
    char *endpoint; /* Endpoint property, or NULL (then env, then AWS's) */
    char *profile;  /* Profile property, or NULL */
    /* targets */
    char *key_id; /* KeyId: a fixed key (ID or ARN), else keys from the events */
    char *role;   /* RoleName (or the name in RoleArn), else roles from the events */
    /* kind-specific */
    uint32_t pending_window_days; /* ScheduleKeyDeletion */
    char *policy_name;            /* RevokeRoleSessions, inline AttachDenyPolicy */
    char *policy_arn;             /* AttachDenyPolicy managed form */
    char *policy_document;        /* AttachDenyPolicy inline form, compact JSON */
    char **argv;                  /* Exec Command, NULL-terminated */
    size_t argc;
    char **envp; /* Exec Environment as "K=V", NULL-terminated */
    size_t n_env;
};

/*
 * Validates one Keysentry::Response::* resource and copies it into *out
 * (caller frees with respond_def_free). region/account are the template's.
 * Errors (KS_E_INVALID, KS_E_LIMIT) name the resource and the property:
 * "Resources.Kill.Properties.PendingWindowInDays: must be an integer from 7
 * to 30 (got 3)", with diag->offset at the resource (c->res.pos.offset).
 */
KS_MUST_CHECK enum ks_err respond_def_parse(const struct config_custom *c, const char *region,
                                            const char *account, struct respond_def **out,
                                            struct ks_diag *diag);
void respond_def_free(struct respond_def *d); /* NULL-safe */

/*
 * Validates every Keysentry::Response::* resource of t (for `keysentry
 * validate`); other Keysentry:: types are left to their consumers. Also
 * checks that names are unique. Returns the first error.
 */
KS_MUST_CHECK enum ks_err respond_validate_template(const struct config_template *t,
                                                    struct ks_diag *diag);

/* ---------------------------------------------------------------------------
 * What triggered the action
 */

/*
 * The triggering events as the notification context summarises them. All
 * borrowed for the call; any array may be empty. principals are ARNs (IAM
 * role ARNs as CloudTrail's sessionIssuer.arn, assumed-role session ARNs,
 * user ARNs); keys are key ARNs or key IDs (aliases are skipped).
 */
struct respond_context {
    const char *const *principals;
    size_t n_principals;
    const char *const *keys;
    size_t n_keys;
    const char *const *source_ips;
    size_t n_source_ips;
    /* Stable id of the (alarm, transition) being delivered, e.g. the SNS
     * MessageId; NULL: a hash of the action and the message. Retries of one
     * delivery must carry the same id (idempotence). */
    const char *trigger_id;
    const char *alarm_name;  /* NULL: AlarmName of the message */
    int64_t state_update_ms; /* 0: StateChangeTime of the message */
};

/* One target picked from the context, with why it was skipped if it was. */
struct respond_target {
    char *id;   /* key ARN/ID or role name; "exec" for programs */
    char *skip; /* NULL, or why it is not acted on ("alias", "not a role") */
};

struct respond_targets {
    struct respond_target *v;
    size_t n;
};

void respond_targets_init(struct respond_targets *t);
void respond_targets_release(struct respond_targets *t);

/*
 * Picks the targets of def from ctx: the fixed KeyId/RoleName if given, else
 * the keys (key kinds) or roles (role kinds) named in ctx, deduplicated, in
 * context order; entries that cannot be acted on are listed with skip set
 * (aliases, keys of another region, users, service-linked roles, beyond
 * MaxTargets). Exec has the single target "exec". Never fails.
 */
void respond_select_targets(const struct respond_def *def, const struct respond_context *ctx,
                            struct respond_targets *out);

/* "arn:aws:iam::1:role/a/b" -> "b", "arn:aws:sts::1:assumed-role/R/s" -> "R";
 * false (out untouched) for anything else or a service-linked role. */
bool respond_role_name(const char *arn, char *out, size_t out_size);

/* ---------------------------------------------------------------------------
 * Safety gate (pure: the engine feeds it the ledger's facts)
 */

enum respond_gate_verdict {
    RESPOND_GATE_GO,
    RESPOND_GATE_ALREADY_DONE, /* handled for this trigger before (a retry) */
    RESPOND_GATE_COOLDOWN,
    RESPOND_GATE_CAP,
};

struct respond_gate_facts {
    bool done_for_trigger;    /* this target succeeded for this trigger */
    int64_t last_other_ms;    /* newest action of another trigger; INT64_MIN if none */
    uint32_t actions_in_hour; /* actions in the sliding (scaled) hour, incl. reserved */
};

/* time_scale > 0 divides the cooldown (1 = real time). */
enum respond_gate_verdict respond_gate(const struct respond_def *def,
                                       const struct respond_gate_facts *f, int64_t now_ms,
                                       double time_scale);
const char *respond_gate_name(enum respond_gate_verdict v); /* "cooldown" */

/* ---------------------------------------------------------------------------
 * Credentials (standard environment variables and shared credentials file)
 */

/* Secret: own allocations, wiped by respond_creds_release. source says where
 * they came from ("environment", "profile 'x' in '/path'"), never secret. */
struct respond_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    char source[300];
};

void respond_creds_release(struct respond_creds *c); /* wipes, NULL-safe contents */

/*
 * Parses an AWS shared credentials file (INI: [profile] sections;
 * aws_access_key_id, aws_secret_access_key, aws_session_token or the legacy
 * aws_security_token; '#'/';' comments; names compared case-insensitively).
 * Errors: KS_E_NOTFOUND (no such profile), KS_E_INVALID (profile lacks a key
 * or the secret), KS_E_SYNTAX (a line that is neither), with diag saying
 * which line; the message never holds a value.
 */
KS_MUST_CHECK enum ks_err respond_creds_parse(const char *text, size_t len, const char *profile,
                                              struct respond_creds *out, struct ks_diag *diag);

/*
 * Resolves credentials as the AWS CLI does: with an explicit profile (the
 * Profile property) the shared credentials file; else AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) when both are set; else the
 * profile AWS_PROFILE (default "default") of AWS_SHARED_CREDENTIALS_FILE
 * (default ~/.aws/credentials). env is a NULL-terminated "K=V" list (NULL:
 * the process environment). Errors: KS_E_NOTFOUND (none found), plus those of
 * respond_creds_parse and KS_E_IO / KS_E_TOOBIG reading the file.
 */
KS_MUST_CHECK enum ks_err respond_creds_resolve(const char *profile, const char *const *env,
                                                struct respond_creds *out, struct ks_diag *diag);

/* The value of name in env (NULL-terminated "K=V" list; NULL = getenv). */
const char *respond_getenv(const char *const *env, const char *name);

/* ---------------------------------------------------------------------------
 * AWS requests (building blocks; the golden tests use them)
 */

enum respond_service { RESPOND_SVC_KMS, RESPOND_SVC_IAM };

/* An endpoint URL split for the request line and the Host header. */
struct respond_endpoint {
    char url[512];  /* scheme://host[:port]/path as used */
    char host[300]; /* Host header: host[:port], the port omitted when default */
    char path[256]; /* request path, "/" by default */
    bool https;
};

/* Parses "http(s)://host[:port][/path]" (no user info, query or fragment). */
KS_MUST_CHECK enum ks_err respond_endpoint_parse(const char *url, struct respond_endpoint *out,
                                                 struct ks_diag *diag);

/*
 * The endpoint URL for a service: the Endpoint property if given, else
 * KEYSENTRY_ENDPOINT_URL_KMS / _IAM, AWS_ENDPOINT_URL_KMS / _IAM,
 * AWS_ENDPOINT_URL, else AWS's: https://kms.REGION.amazonaws.com/ and
 * https://iam.amazonaws.com/. Writes into out (NUL-terminated, truncated
 * URLs are rejected later by respond_endpoint_parse).
 */
void respond_endpoint_url(enum respond_service svc, const char *property, const char *region,
                          const char *const *env, char *out, size_t out_size);

/* The region a service signs with: KMS the response's, IAM always us-east-1. */
const char *respond_signing_region(enum respond_service svc, const char *region);

/*
 * Builds and signs one call. KMS: POST, JSON 1.1, X-Amz-Target
 * TrentService.<op>, body = params as compact JSON. IAM: POST, form body
 * Action=<op>&Version=2010-05-08&<params in order> (params: an object of
 * strings). req receives method, target, headers (Host, Content-Type,
 * X-Amz-Target, X-Amz-Date, X-Amz-Security-Token, Authorization) and borrows
 * body, which the caller owns (filled here; release with ks_buf_release).
 * time is epoch seconds.
 */
KS_MUST_CHECK enum ks_err respond_build_request(enum respond_service svc, const char *op,
                                                json_t *params, const struct respond_endpoint *ep,
                                                const char *region,
                                                const struct respond_creds *creds, int64_t time,
                                                struct sigv4_request *req, struct ks_buf *body,
                                                struct ks_diag *diag);

/*
 * One signed AWS call (respond_aws.c): KMS JSON 1.1 or IAM query protocol,
 * SigV4, libcurl, the answer classified. Public because `keysentry demo`
 * drives the local KMS service with it, as a client would.
 */

struct respond_aws_reply {
    long http_status; /* 0: no HTTP answer (transport failure) */
    struct ks_buf body;
    char request_id[128];
    char error_code[128];    /* "" on success */
    char error_message[512]; /* AWS's text, or the transport error */
    int status;              /* 0 ok, > 0 retryable, < 0 permanent */
};

void respond_aws_reply_init(struct respond_aws_reply *rep);
void respond_aws_reply_release(struct respond_aws_reply *rep);

/* Everything one call needs besides the operation. */
struct respond_aws_target {
    enum respond_service svc;
    const char *endpoint_prop; /* Endpoint property or NULL */
    const char *region;        /* the response's region */
    const struct respond_creds *creds;
    uint32_t timeout_s;
    const char *const *env;
    int64_t now_s;
};

/* Builds, signs, sends one request and classifies the answer into rep
 * (never fails otherwise: every problem is a reply with status != 0). */
void respond_aws_call(const struct respond_aws_target *t, const char *op, json_t *params,
                      struct respond_aws_reply *rep);

/* The inline policy the IAM console's "Revoke active sessions" writes: deny
 * everything to tokens issued before issued_before (epoch seconds). Appends
 * compact JSON to out. */
KS_MUST_CHECK enum ks_err respond_revoke_policy(int64_t issued_before, struct ks_buf *out);

/* ---------------------------------------------------------------------------
 * Programs (Exec): argv, message on stdin, timeout, never a shell
 */

struct respond_exec_result {
    int exit_code;        /* -1 when killed by a signal or not started */
    int signal;           /* the signal that ended it, 0 otherwise */
    bool timed_out;       /* killed after the timeout */
    struct ks_buf output; /* stdout and stderr interleaved, at most RESPOND_MAX_EXEC_OUTPUT */
};

void respond_exec_result_init(struct respond_exec_result *r);
void respond_exec_result_release(struct respond_exec_result *r);

/*
 * Runs argv[0] (an absolute path, no PATH search) with argv and envp (both
 * NULL-terminated), writes input to its stdin and closes it, collects its
 * output, and waits at most timeout_ms (then SIGTERM to its process group,
 * SIGKILL one second later). Returns KS_OK when the program ran to an end
 * (look at *out), KS_E_IO when it could not be started (diag says why).
 * Safe in a threaded process (only async-signal-safe calls after fork).
 */
KS_MUST_CHECK enum ks_err respond_exec_run(char *const argv[], char *const envp[],
                                           const char *input, size_t len, uint32_t timeout_ms,
                                           struct respond_exec_result *out, struct ks_diag *diag);

/* ---------------------------------------------------------------------------
 * The engine
 */

/* Milliseconds since the epoch. */
typedef int64_t respond_clock_fn(void *ctx);

/* One action or revert, reported to the history hook. All borrowed for the
 * call. */
struct respond_record {
    const char *response_name;
    const char *response_arn;
    const char *action_arn; /* as the alarm names it (Ref or ARN) */
    const char *alarm_name; /* "" when unknown (a revert of a deleted alarm) */
    int64_t time_ms;
    int64_t state_update_ms; /* the transition's time, 0 for reverts */
    bool revert;
    bool dry_run;
    const char *summary; /* one line, <= 255 bytes: HistorySummary material */
    const char *details; /* JSON object: per-target outcomes */
    const char *error;   /* NULL on success */
};

typedef void respond_record_fn(void *ctx, const struct respond_record *rec);

struct respond_options {
    /* SQLite database holding the ledger and the scheduled reverts (a
     * connection of its own is opened). NULL: a private in-memory database
     * (reverts then do not survive a restart). */
    const char *db_path;
    /* keysentry's own trail: an NDJSON file to append to, or an existing
     * directory (then DIR/keysentry-respond-YYYYMMDD.ndjson, UTC). NULL: none. */
    const char *trail_path;
    bool dry_run;      /* global shadow mode (KEYSENTRY_RESPOND_DRY_RUN=1 in env too) */
    double time_scale; /* > 0 divides cooldowns, the cap hour and revert delays; 0 = 1 */
    respond_clock_fn *clock;
    void *clock_ctx;
    respond_record_fn *on_record; /* history hook; NULL = none */
    void *record_ctx;
    /* Environment for credentials and endpoint overrides, NULL-terminated
     * "K=V"; NULL = the process environment. Borrowed for the engine's life. */
    const char *const *env;
    /* Diagnostics (logfmt lines) go here; NULL = stderr. */
    FILE *log;
    bool quiet; /* no log lines at all */
};

struct respond;

/*
 * Validates every Keysentry::Response::* resource of t and opens the ledger.
 * t is only read during the call. Errors: those of respond_def_parse, KS_E_IO
 * (database, trail path), KS_E_INVALID (options).
 */
KS_MUST_CHECK enum ks_err respond_new(const struct config_template *t,
                                      const struct respond_options *opts, struct respond **out,
                                      struct ks_diag *diag);
/* Stops the revert thread if running; NULL-safe. Pending reverts stay in the
 * database. */
void respond_free(struct respond *r);

size_t respond_count(const struct respond *r);
/* Borrowed until respond_free. */
const struct respond_def *respond_at(const struct respond *r, size_t i);
/* By ARN, Ref (name) or logical id; NULL when none. */
const struct respond_def *respond_find(const struct respond *r, const char *action);

struct respond_result {
    int status;            /* 0 ok (also: nothing to do, blocked), > 0 retryable, < 0 permanent */
    struct ks_buf summary; /* one line */
    struct ks_buf details; /* JSON object */
    struct ks_buf error;   /* "" unless status != 0 */
    size_t n_done, n_dry_run, n_skipped, n_blocked, n_failed;
};

void respond_result_init(struct respond_result *res);
void respond_result_release(struct respond_result *res);

/*
 * Runs the response the action names (its ARN, Ref or logical id) for one
 * alarm transition. message_json is the alarm message (AlarmName,
 * StateChangeTime are read from it; it is the stdin of Exec). ctx may be NULL
 * (then only fixed targets and Exec can act). Blocking: at most about
 * (2 + Verify) x TimeoutSeconds per target. The return value is out->status,
 * with notify's meaning: 0 done (or deliberately not done: dry run, blocked,
 * already done), > 0 retry later (network, 5xx, throttling, verification not
 * yet true), < 0 permanent (unknown action, no target, bad credentials,
 * rejected by AWS). Reports through on_record and the trail.
 */
int respond_execute(struct respond *r, const char *action, const char *message_json,
                    const struct respond_context *ctx, struct respond_result *out);

/* Runs the reverts that are due; returns how many were attempted. */
size_t respond_tick(struct respond *r);
/* When the next pending revert is due (ms), INT64_MAX when none. */
int64_t respond_next_revert_ms(struct respond *r);
/* Pending reverts (for tests and status pages). */
size_t respond_pending_reverts(struct respond *r);

/* ---------------------------------------------------------------------------
 * notify integration (respond_notify.c)
 */

/*
 * Registers every response with the hub as an action, under its ARN and its
 * Ref (the name), so an alarm may list either in AlarmActions. The hub then
 * calls respond_notify_action with r as ud, from its delivery workers, with
 * the outbox's durability and retries. Call before notify_hub_start. r must
 * outlive the hub's workers. Errors from notify_hub_register_action.
 */
KS_MUST_CHECK enum ks_err respond_register(struct respond *r, struct notify_hub *hub,
                                           struct ks_diag *diag);

/*
 * notify_action_fn for a struct respond (ud): builds a respond_context from
 * notify's context block (principals, keys, source IPs) and the delivery in
 * progress (its MessageId is the trigger id, so retries are idempotent) and
 * runs respond_execute. A failure's one-line reason goes to error_out.
 */
int respond_notify_action(void *ud, const char *action_arn, const char *message_json,
                          const struct notify_context *ctx, struct ks_buf *error_out);

/* Views of a notify context as a respond_context; the arrays are owned here,
 * the strings stay borrowed from nc. */
struct respond_context_view {
    struct respond_context ctx;
    const char **v; /* principals, then keys, then source IPs */
};

void respond_context_from_notify(const struct notify_context *nc, const char *trigger_id,
                                 const char *alarm_name, int64_t state_update_ms,
                                 struct respond_context_view *out);
void respond_context_view_release(struct respond_context_view *v);

/* A thread calling respond_tick every interval_ms (0 = 1000) until
 * respond_stop or respond_free. KS_E_INVALID if already running. */
KS_MUST_CHECK enum ks_err respond_start(struct respond *r, unsigned interval_ms,
                                        struct ks_diag *diag);
void respond_stop(struct respond *r);

#endif
