/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify internals shared by the module's files: the hub's configuration
 * (topics, subscriptions, settings), the job a worker delivers, and the sink
 * entry points. Locking (see notify_hub.c): hub->mu guards the hub's own
 * database connection, the in-flight set and the worker state; hub->cfg_mu
 * guards configuration that the enqueue path reads (subscription status,
 * registered actions). Order: mu before cfg_mu; cfg_mu is never held across
 * database I/O, so the caller's thread (which holds the database write lock
 * during notify_hub_enqueue) can always take it.
 */
#ifndef KS_NOTIFY_INT_H
#define KS_NOTIFY_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "notify/notify.h"

#define NOTIFY_DEFAULT_WORKERS    4
#define NOTIFY_DEFAULT_DIGEST_MS  60000
#define NOTIFY_DEFAULT_HTTP_MS    15000
#define NOTIFY_DEFAULT_EXEC_MS    30000
#define NOTIFY_DEFAULT_SMTP_MS    30000
#define NOTIFY_DEFAULT_PUBLIC_URL "http://127.0.0.1:8080"
#define NOTIFY_CERT_PATH          "/notify/signing-cert.pem"
#define NOTIFY_OUTCOME_QUEUE_MAX  10000
#define NOTIFY_USER_AGENT_SNS     "Amazon Simple Notification Service Agent"
#define NOTIFY_DEFAULT_FROM       "keysentry@localhost"
#define NOTIFY_DEFAULT_FROM_NAME  "AWS Notifications"

enum notify_proto {
    NOTIFY_P_EMAIL,
    NOTIFY_P_EMAIL_JSON,
    NOTIFY_P_HTTP,
    NOTIFY_P_HTTPS,
    NOTIFY_P_SLACK,
    NOTIFY_P_EXEC,
    NOTIFY_P_FILE,
};

const char *notify_proto_name(enum notify_proto p);

/* A configured subscription. Strings owned. */
struct notify_sub {
    char *arn;
    char *topic_arn;
    enum notify_proto proto;
    char *endpoint;      /* URL, address or path; NULL when given by env/file */
    char *endpoint_env;  /* variable holding the endpoint (a secret webhook URL) */
    char *endpoint_file; /* file holding it */
    char *endpoint_key;  /* what the database records: endpoint, "env:NAME" or "file:PATH" */
    char **argv;         /* exec: Command, NULL-terminated */
    size_t argc;
    int64_t timeout_ms;               /* 0 = protocol default */
    bool raw;                         /* RawMessageDelivery */
    bool fsync;                       /* file: fdatasync after each append */
    int64_t digest_window_ms;         /* < 0: the hub's */
    struct notify_retry_policy retry; /* zero fields: the hub's */
    char *ca_file;                    /* https/slack: extra CA bundle */
    /* status, guarded by cfg_mu */
    bool confirmed;
    bool unsubscribed;
};

struct notify_topic {
    char *arn;
    char *name;
    char *display_name;
    int signature_version;
};

struct notify_action_reg {
    char *arn;
    notify_action_fn *fn;
    void *ud;
};

enum notify_starttls { NOTIFY_TLS_OPPORTUNISTIC, NOTIFY_TLS_REQUIRED, NOTIFY_TLS_OFF };

struct notify_smtp {
    char *url;
    char *from;
    char *from_name;
    char *username;
    char *password_env;
    char *password_file;
    char *ca_file;
    enum notify_starttls starttls;
    int64_t timeout_ms;
};

/* Resolved settings (options > environment > template > defaults). */
struct notify_settings {
    char *public_url;
    char *signing_cert_url;
    char *region_name;
    char *console_url;
    unsigned workers;
    struct notify_retry_policy retry;
    int64_t digest_window_ms; /* 0 = off */
    int64_t http_timeout_ms;
    bool confirm_http;
    char *support_url;
    struct notify_smtp smtp;
};

/* One stored message (a notify_messages row). */
struct notify_msgrow {
    int64_t id;
    int64_t outbox_row; /* the outbox row it came with (digest members: each member's) */
    char *outbox_message_id;
    char *action_arn;
    char *alarm_arn;
    char *alarm_name;
    char *alarm_type;
    char *old_state;
    char *new_state;
    int64_t transition_ms;
    int64_t published_ms;
    char *subject;
    char *alarm_json;
    char *email_text;
    char *sms_text;
    char *context_json; /* NULL without a context */
};

enum notify_kind {
    NOTIFY_K_SNS,     /* to a subscription of a topic */
    NOTIFY_K_ACTION,  /* to a registered action */
    NOTIFY_K_CONFIRM, /* SubscriptionConfirmation */
    NOTIFY_K_DIGEST,  /* several grouped SNS rows of one subscription */
    NOTIFY_K_NONE,    /* a topic without deliverable subscriptions: succeeds at once */
    NOTIFY_K_UNKNOWN, /* an action ARN nothing answers: dead at once */
};

const char *notify_kind_name(enum notify_kind k);
bool notify_kind_parse(const char *s, enum notify_kind *out);

/* What a worker delivers: copied out of the database and the configuration
 * under the locks, used without them. */
struct notify_job {
    int64_t row;
    char *message_id;
    enum notify_kind kind;
    char *action_arn;
    char *target;
    char *payload;
    uint32_t attempt; /* this attempt's number, 1-based */
    int64_t created_ms;
    int64_t first_ms;           /* first attempt's start; 0 before */
    struct notify_msgrow *msgs; /* 1 for SNS/action/none/unknown, k for a digest, 0 for confirm */
    size_t n_msgs;
    bool have_sub;
    struct notify_sub sub;     /* deep copy when have_sub */
    struct notify_topic topic; /* deep copy (arn, name, display name, version) */
    notify_action_fn *fn;
    void *ud;
};

struct notify_attempt {
    enum notify_result res;
    long status;            /* HTTP or SMTP status, 0 when none */
    int64_t retry_after_ms; /* < 0: none */
    struct ks_buf error;
};

struct notify_outcome_item {
    struct notify_outcome o;
    char *own[12]; /* the strings o points to */
    size_t n_own;
};

struct notify_hub {
    struct store *st;
    sqlite3 *cdb; /* the caller's connection (enqueue only) */
    sqlite3 *db;  /* the hub's own connection */
    char *db_path;
    struct notify_options opts;
    struct notify_settings set;
    struct notify_signer *signer;

    pthread_mutex_t mu;
    pthread_mutex_t cfg_mu;
    pthread_cond_t cv;      /* workers wait for work */
    pthread_cond_t done_cv; /* drain waits for progress */
    pthread_t *threads;
    size_t n_threads;
    bool stop;
    bool started;
    bool configured;
    unsigned draining;       /* > 0: grouped rows flush at once */
    int poller;              /* a worker polling fast after an enqueue (hint), else 0 */
    unsigned active;         /* jobs claimed whose outcome callbacks have not returned */
    atomic_llong hint_until; /* monotonic ms until which an idle worker polls fast */
    atomic_bool kicked;      /* notify_hub_kick since a worker last looked */
    int64_t next_due_ms;     /* from the last claim scan */
    int64_t *inflight;       /* outbox rows being delivered */
    char **inflight_targets; /* and their targets: one delivery per target at a time */
    size_t n_inflight, cap_inflight;

    struct notify_topic *topics;
    size_t n_topics;
    struct notify_sub *subs;
    size_t n_subs;
    struct notify_action_reg *actions; /* cfg_mu */
    size_t n_actions;
    char **warnings;
    size_t n_warnings;

    /* outcomes for notify_hub_poll_outcomes (cfg_mu) */
    struct notify_outcome_item *outq;
    size_t n_outq, cap_outq;
    uint64_t out_dropped;

    /* prepared on cdb by the first enqueue */
    sqlite3_stmt *q_msg_insert, *q_msg_find, *q_box_insert;
};

/* Appends when it fits; a full buffer only shortens a best-effort text. */
#define NOTIFY_ADDF(...)                                                                           \
    do {                                                                                           \
        if (ks_buf_addf(__VA_ARGS__)) {                                                            \
        }                                                                                          \
    } while (0)

/* Appends a string literal (its length counted by the compiler). */
#define NOTIFY_LIT(b, s) ks_buf_add((b), "" s, sizeof(s) - 1)

/* ---- notify_util.c ---- */
int64_t notify_now_ms(struct notify_hub *hub);
int64_t notify_mono_ms(void);
double notify_random(struct notify_hub *hub);
void notify_random_hex(char *out, size_t bytes); /* out gets 2*bytes hex + NUL */
KS_MUST_CHECK enum ks_err notify_url_encode(struct ks_buf *b, const char *s);
char *notify_read_secret_file(const char *path, size_t max); /* NULL on error; trims newline */
void notify_free_argv(char **argv);
/* Appends s with every "\n" turned into "\r\n" (lone "\r" dropped). */
KS_MUST_CHECK enum ks_err notify_add_crlf(struct ks_buf *b, const char *s);
/* Formats into a fresh heap string. */
char *notify_strf(const char *fmt, ...) KS_PRINTF(1, 2);

/* ---- notify_context.c ---- */
/* Context rebuilt from keysentryContext JSON: owns its arrays; ctx views them. */
struct notify_context_owned {
    struct notify_context ctx;
    json_t *root;
    struct notify_context_count *counts;
    struct notify_context_event *events;
};
void notify_context_from_json(const char *json, struct notify_context_owned *out);
void notify_context_owned_release(struct notify_context_owned *o);
/* Slack blocks for the context: appended as ",{...},{...}". */
KS_MUST_CHECK enum ks_err notify_context_slack(const struct notify_context *ctx,
                                               struct ks_buf *out);

/* ---- notify_sns.c ---- */
/* notify_sns_body, or one line when compact (the file sink's NDJSON). */
KS_MUST_CHECK enum ks_err notify_sns_body_ex(const struct notify_envelope *e, const char *signature,
                                             bool compact, struct ks_buf *out);

/* ---- notify_render.c: per-protocol payloads of a job ---- */
/* The SNS envelope for a job (Notification or SubscriptionConfirmation),
 * signed; compact = one line (file sink). */
KS_MUST_CHECK enum ks_err notify_render_envelope(struct notify_hub *hub,
                                                 const struct notify_job *job, bool compact,
                                                 struct ks_buf *out, struct ks_diag *diag);
/* The Message text of a job for JSON protocols (alarm JSON or digest JSON). */
KS_MUST_CHECK enum ks_err notify_render_message(const struct notify_job *job, struct ks_buf *out);
/* Subject of a job (digest subjects are ours). */
KS_MUST_CHECK enum ks_err notify_render_subject(const struct notify_job *job, struct ks_buf *out);
/* Plain-text e-mail body with the SNS footer for the job's subscription. */
KS_MUST_CHECK enum ks_err
notify_render_email_body(struct notify_hub *hub, const struct notify_job *job, struct ks_buf *out);
/* Slack incoming-webhook body. */
KS_MUST_CHECK enum ks_err notify_render_slack(struct notify_hub *hub, const struct notify_job *job,
                                              struct ks_buf *out);
KS_MUST_CHECK enum ks_err notify_render_published(const struct notify_msgrow *m,
                                                  struct ks_buf *out);
char *notify_unsubscribe_url(struct notify_hub *hub, const char *sub_arn);
char *notify_subscribe_url(struct notify_hub *hub, const char *topic_arn, const char *token);

/* ---- sinks ---- */
void notify_sink_deliver(struct notify_hub *hub, const struct notify_job *job,
                         struct notify_attempt *res);
void notify_smtp_send(struct notify_hub *hub, const struct notify_job *job, const char *rcpt,
                      const char *subject, const char *body, struct notify_attempt *res);
void notify_http_post(struct notify_hub *hub, const char *url, const char *const *headers,
                      const char *body, int64_t timeout_ms, const char *ca_file,
                      struct notify_attempt *res);
void notify_exec_run(const struct notify_sub *sub, const char *input, char *const *envp,
                     struct notify_attempt *res);
void notify_file_append(const struct notify_sub *sub, const char *path, const char *line,
                        struct notify_attempt *res);
/* Resolves a subscription's endpoint (reads env/file for secret ones). NULL
 * with res filled on failure. Caller frees (and wipes: it may be a secret). */
char *notify_sub_endpoint(const struct notify_sub *sub, struct notify_attempt *res);
void notify_attempt_fail(struct notify_attempt *res, enum notify_result r, const char *fmt, ...)
    KS_PRINTF(3, 4);

/* ---- notify_config.c ---- */
KS_MUST_CHECK enum ks_err notify_config_load(struct notify_hub *hub,
                                             const struct config_template *t, struct ks_diag *diag);
void notify_settings_release(struct notify_settings *s);
/* Settings from the options, the environment and the defaults alone (before
 * or without a template). */
void notify_settings_init(struct notify_hub *hub);
void notify_sub_release(struct notify_sub *s);
void notify_sub_copy(struct notify_sub *dst, const struct notify_sub *src);
void notify_topic_release(struct notify_topic *t);
void notify_topic_copy(struct notify_topic *dst, const struct notify_topic *src);
const struct notify_topic *notify_find_topic(const struct notify_hub *hub, const char *arn);
struct notify_sub *notify_find_sub(struct notify_hub *hub, const char *arn);
void notify_warn(struct notify_hub *hub, const char *fmt, ...) KS_PRINTF(2, 3);
/* Effective policy and digest window of a subscription (NULL: the hub's). */
void notify_effective_retry(const struct notify_hub *hub, const struct notify_sub *sub,
                            struct notify_retry_policy *out);
int64_t notify_effective_window(const struct notify_hub *hub, const struct notify_sub *sub);

/* ---- notify_outbox.c (hub->mu held unless noted) ---- */
KS_MUST_CHECK enum ks_err notify_outbox_sync_subs(struct notify_hub *hub, struct ks_diag *diag);
/* Claims the next due row; *job NULL when none (hub->next_due_ms updated). */
KS_MUST_CHECK enum ks_err notify_outbox_claim(struct notify_hub *hub, struct notify_job **job,
                                              struct ks_diag *diag);
/* Records an attempt; fills outcomes (caller frees with notify_outcomes_free). */
KS_MUST_CHECK enum ks_err notify_outbox_finish(struct notify_hub *hub, const struct notify_job *job,
                                               int64_t started_ms, const struct notify_attempt *res,
                                               struct notify_outcome_item **outs, size_t *n_outs,
                                               struct ks_diag *diag);
KS_MUST_CHECK enum ks_err notify_outbox_stats(struct notify_hub *hub, struct notify_stats *out,
                                              struct ks_diag *diag);
KS_MUST_CHECK enum ks_err notify_outbox_flush_groups(struct notify_hub *hub, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err notify_outbox_confirm(struct notify_hub *hub, const char *topic_arn,
                                                const char *token, char **sub_arn,
                                                struct ks_diag *diag);
KS_MUST_CHECK enum ks_err notify_outbox_unsubscribe(struct notify_hub *hub, const char *sub_arn,
                                                    struct ks_diag *diag);
/* Enqueue on the caller's connection (hub->mu NOT held). */
KS_MUST_CHECK enum ks_err notify_outbox_enqueue(struct notify_hub *hub,
                                                const struct notify_event *ev,
                                                struct notify_enqueue_result *res,
                                                struct ks_diag *diag);
void notify_job_free(struct notify_job *job);
void notify_outcomes_free(struct notify_outcome_item *outs, size_t n);
/* Runs SQL without results (diag may be NULL for best-effort rollbacks). */
enum ks_err notify_db_exec(struct notify_hub *hub, sqlite3 *db, const char *sql,
                           struct ks_diag *diag);
enum ks_err notify_db_fail(sqlite3 *db, struct ks_diag *diag, const char *what);

#endif
