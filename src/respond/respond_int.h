/* SPDX-License-Identifier: Apache-2.0 */
/* respond: what the module's files share (not part of the API). */
#ifndef KS_RESPOND_INT_H
#define KS_RESPOND_INT_H

#include "respond/respond.h"

#include <pthread.h>

#include "store/store.h"

#define RESPOND_USER_AGENT  "keysentry/0.1.0 respond"
#define RESPOND_EVENT_SRC   "keysentry.local"
#define RESPOND_HOUR_MS     3600000LL
#define RESPOND_IAM_VERSION "2010-05-08"

/* ---- AWS calls: respond_aws_call and its structs are in respond.h ---- */

/* The text between <tag> and </tag> in xml (first occurrence), entity-decoded
 * (and with url_decode also %XX-decoded) into out; false when absent. */
bool respond_xml_text(const char *xml, const char *tag, bool url_decode, struct ks_buf *out);

/* Reads (respond_ops.c). Each returns the reply status (0 ok, > 0 retryable,
 * < 0 permanent) with rep filled; rep must be initialised and is reset. */
int respond_kms_key_state(const struct respond_aws_target *t, const char *key, char *state,
                          size_t state_size, struct respond_aws_reply *rep);
/* GetRolePolicy: *exists false on NoSuchEntity (status 0); doc (optional)
 * receives the decoded document. */
int respond_iam_get_role_policy(const struct respond_aws_target *t, const char *role,
                                const char *policy, bool *exists, struct ks_buf *doc,
                                struct respond_aws_reply *rep);
/* ListAttachedRolePolicies: whether policy_arn is attached (first 1000). */
int respond_iam_attached(const struct respond_aws_target *t, const char *role,
                         const char *policy_arn, bool *attached, struct respond_aws_reply *rep);
/* Whether two JSON texts hold equal values. */
bool respond_json_same(const char *a, const char *b);

/* ---- targets (respond_target.c) ---- */

/* The key ID of a key ARN or bare key ID ("" when neither). */
void respond_key_id(const char *key, char *out, size_t out_size);

/* ---- programs (respond_exec.c) ---- */

/* ---- trail (respond_trail.c) ---- */

struct respond_trail;

KS_MUST_CHECK enum ks_err respond_trail_open(const char *path, struct respond_trail **out,
                                             struct ks_diag *diag);
void respond_trail_close(struct respond_trail *t);

/* One record's variable parts; the rest is fixed by the writer. */
struct respond_trail_event {
    const char *event_name; /* "RespondDisableKey" */
    int64_t time_ms;
    const char *region;
    const char *account;
    const char *access_key_id;     /* NULL: none used */
    json_t *request_parameters;    /* borrowed, NULL = JSON null */
    json_t *response_elements;     /* borrowed, NULL = JSON null */
    json_t *additional_event_data; /* borrowed, NULL = absent */
    json_t *resources;             /* borrowed, NULL = absent */
    const char *request_id;        /* NULL: a fresh UUID */
    const char *error_code;        /* NULL on success */
    const char *error_message;
};

/* Appends one NDJSON record (and syncs it). NULL trail: nothing. */
KS_MUST_CHECK enum ks_err respond_trail_write(struct respond_trail *t,
                                              const struct respond_trail_event *ev,
                                              struct ks_diag *diag);

/* Renders the record as compact JSON into out (for tests through the
 * writer; the writer adds the newline). */
KS_MUST_CHECK enum ks_err respond_trail_render(const struct respond_trail_event *ev,
                                               struct ks_buf *out);

/* ---- shared helpers (respond_util.c) ---- */

/* A random UUID v4 (lower case). */
void respond_uuid4(char out[37]);
/* "2024-01-15T12:00:05Z" */
void respond_iso8601(int64_t ms, char out[21]);
/* "yyyy-MM-dd'T'HH:mm:ss.SSS+0000" or ISO 8601 with Z -> ms; false if neither. */
bool respond_parse_time(const char *s, int64_t *ms);
/* Appends s form-urlencoded (RFC 3986 unreserved kept, the rest %XY). */
KS_MUST_CHECK enum ks_err respond_form_encode(const char *s, struct ks_buf *out);
/* Decodes %XY and '+' in place-out; false on a bad escape. */
bool respond_url_decode(const char *s, size_t n, struct ks_buf *out);
/* Wipes and frees a NUL-terminated secret (NULL-safe). */
void respond_secret_free(char *s);

/* ---- the engine (respond_engine.c, respond_run.c) ---- */

struct respond {
    struct respond_def **defs;
    size_t n_defs;
    struct store *store;
    struct respond_trail *trail;
    pthread_mutex_t mu; /* the database and the defs' ledger state */
    /* options (strings borrowed from the caller for the engine's life) */
    bool dry_run;
    double time_scale;
    respond_clock_fn *clock;
    void *clock_ctx;
    respond_record_fn *on_record;
    void *record_ctx;
    const char *const *env;
    FILE *log;
    bool quiet;
    /* the revert thread */
    pthread_t thread;
    bool thread_running;
    bool thread_stop;
    unsigned interval_ms;
    pthread_mutex_t tmu;
    pthread_cond_t tcond;
};

int64_t respond_now(const struct respond *r);
/* Scaled duration: seconds -> milliseconds / time_scale (at least 1 ms when s > 0). */
int64_t respond_scaled_ms(const struct respond *r, uint32_t s);

void respond_log(const struct respond *r, const char *level, const char *fmt, ...) KS_PRINTF(3, 4);

/* Ledger (respond_ledger.c); callers hold r->mu. */
KS_MUST_CHECK enum ks_err respond_ledger_facts(struct respond *r, const struct respond_def *def,
                                               const char *trigger_id, const char *target, bool dry,
                                               int64_t now_ms, struct respond_gate_facts *f);
KS_MUST_CHECK enum ks_err respond_ledger_reserve(struct respond *r, const struct respond_def *def,
                                                 const char *trigger_id, const char *target,
                                                 bool dry, int64_t now_ms);
/* outcome: "ok", "failed", "dry-run" */
KS_MUST_CHECK enum ks_err respond_ledger_finish(struct respond *r, const struct respond_def *def,
                                                const char *trigger_id, const char *target,
                                                bool dry, const char *outcome);

/* A revert to schedule (respond_ledger.c); callers hold r->mu. */
struct respond_revert_spec {
    const char *response;
    const char *response_arn;
    const char *action_arn;
    const char *alarm_name;
    const char *trigger_id;
    const char *target;
    const char *revert_key; /* what it restores: "key:<id>", "role-policy:<role>:<name>" */
    json_t *spec;           /* service, op, params, region, account, endpoint, profile, ... */
    int64_t due_ms;
};

KS_MUST_CHECK enum ks_err
respond_revert_schedule(struct respond *r, const struct respond_revert_spec *s, int64_t now_ms);
/* Marks pending reverts of revert_key superseded; *n how many. */
KS_MUST_CHECK enum ks_err respond_revert_supersede(struct respond *r, const char *revert_key,
                                                   int64_t now_ms, size_t *n);
/* Whether a pending revert of revert_key exists. */
KS_MUST_CHECK enum ks_err respond_revert_pending(struct respond *r, const char *revert_key,
                                                 bool *found);

#endif
