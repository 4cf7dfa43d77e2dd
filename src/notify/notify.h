/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify: what an alarm transition sends, and the machinery that makes sure
 * it arrives (spec/alarms.md §11-§13, docs/notifications.md).
 *
 * It sits after the alarm evaluator. For each transition the caller hands the
 * hub the alarm, its struct alarm_change and an optional context block (who,
 * with which key, from where). notify_hub_enqueue() renders the message once
 * (AWS's alarm JSON, AWS's e-mail text, the context block) and writes one
 * outbox row per SNS subscription of each topic in the change's actions, and
 * one per registered action (the respond module), inside the caller's open
 * transaction: the deliveries become durable together with the state change
 * that causes them, or not at all.
 *
 * Worker threads deliver the rows (email over SMTP, email-json, SNS-signed
 * http/https, slack, exec, file, registered actions) with exponential backoff
 * and jitter, Retry-After, SNS's success rules, a dead-letter state after a
 * configurable policy, a per-subscription rate limit that merges a burst into
 * one digest, and an attempt history table. A restart resumes whatever is
 * still pending; each row keeps a stable MessageId derived from (alarm,
 * transition time, new state, subscription) so receivers can deduplicate the
 * rare repeat after a crash (delivery is at least once, as SNS's).
 *
 * Invariants: a row leaves "pending" only through a recorded attempt (or a
 * digest that carries it); the hub's own SQLite connection is used only
 * under the hub's lock; the caller's connection (store_db) only inside
 * notify_hub_enqueue, on the caller's thread.
 *
 * Secrets (SMTP password, webhook URLs given by environment variable or
 * file) are read when needed, never stored in the database, never logged.
 */
#ifndef KS_NOTIFY_H
#define KS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alarm/alarm.h"
#include "base/ks.h"
#include "config/config.h"
#include "store/store.h"

/* Limits (docs/notifications.md#limits). */
#define NOTIFY_CONTEXT_TOP_MAX    10           /* entries rendered per top-N list */
#define NOTIFY_CONTEXT_RECENT_MAX 10           /* most recent events rendered */
#define NOTIFY_CONTEXT_FIELD_MAX  1024         /* bytes kept of one context string */
#define NOTIFY_SUBJECT_MAX        100          /* SNS subject limit (spec §11.1) */
#define NOTIFY_MESSAGE_MAX        (256u << 10) /* SNS message size limit, any rendering */
#define NOTIFY_DIGEST_MAX_ITEMS   100          /* messages merged into one digest */
#define NOTIFY_ERROR_MAX          1024         /* bytes kept of one delivery error */
#define NOTIFY_EXEC_OUTPUT_MAX    4096         /* bytes of a command's output kept for errors */
#define NOTIFY_MAX_ARGV           64           /* exec Command entries */

/* ---- the context block: who did it ---------------------------------------- */

/* One value of a top-N list and how many matching events had it. */
struct notify_context_count {
    const char *value;
    uint64_t count;
};

/* A list of counts, largest first (rendered up to NOTIFY_CONTEXT_TOP_MAX). */
struct notify_context_top {
    const struct notify_context_count *v;
    size_t n;
};

/* One matching event. Strings may be NULL or "" when the event lacks them. */
struct notify_context_event {
    int64_t time_ms;        /* eventTime */
    const char *event_name; /* eventName */
    const char *event_id;   /* eventID */
    const char *principal;  /* role ARN (sessionIssuer.arn) or userIdentity.arn */
    const char *key;        /* KMS key ARN or id */
    const char *source_ip;  /* sourceIPAddress */
    const char *error_code; /* errorCode */
    const char *user_agent; /* userAgent */
    const char *file;       /* origin: the file the event was read from */
    uint64_t offset;        /* origin: its byte offset in that (decompressed) file */
};

/*
 * What the caller knows about the events behind a transition, for the
 * evaluated window [window_start_ms, window_end_ms). Everything is borrowed
 * for the duration of the call it is passed to; notify_hub_enqueue copies
 * what it keeps. recent is newest first. A zero-initialised struct is an
 * empty context (rendered as "no matching events").
 */
struct notify_context {
    int64_t window_start_ms;
    int64_t window_end_ms;
    uint64_t matching_events;
    struct notify_context_top principals;
    struct notify_context_top keys;
    struct notify_context_top source_ips;
    struct notify_context_top error_codes;
    struct notify_context_top user_agents;
    const struct notify_context_event *recent;
    size_t n_recent;
};

/*
 * An accumulator that builds a struct notify_context from events one at a
 * time (e.g. from metric_filters_recent): it counts every value of the five
 * top-N fields and keeps the NOTIFY_CONTEXT_RECENT_MAX newest events. Not
 * thread-safe; one owner.
 */
struct notify_context_acc;

struct notify_context_acc *notify_context_acc_new(void);
/* Counts ev (copied; strings truncated to NOTIFY_CONTEXT_FIELD_MAX bytes). */
void notify_context_acc_add(struct notify_context_acc *acc, const struct notify_context_event *ev);
/* Events added so far. */
uint64_t notify_context_acc_count(const struct notify_context_acc *acc);
/*
 * Fills ctx with views into acc: top lists sorted by count (ties by value),
 * matching_events = events added, the window as given. Valid until the next
 * add or free. The caller may overwrite ctx->matching_events (e.g. with the
 * metric's sum when the events seen were capped).
 */
void notify_context_acc_get(struct notify_context_acc *acc, int64_t window_start_ms,
                            int64_t window_end_ms, struct notify_context *ctx);
void notify_context_acc_free(struct notify_context_acc *acc);

/* ---- messages (building blocks; the hub uses them, tests check them) ------- */

/* The alarm a transition belongs to: exactly one of the two is set. */
struct notify_alarm {
    const struct alarm *metric;
    const struct alarm_composite *composite;
};

/* How messages are worded where AWS leaves room (all optional). */
struct notify_format {
    /* Region display name ("US East (N. Virginia)"); NULL: from the alarm's
     * region code with the built-in table, else the code itself. */
    const char *region_name;
    /* Console link template; "{region}" and "{alarm}" (URL-encoded name) are
     * replaced. NULL: AWS's deeplink form (spec §13). */
    const char *console_url;
};

/* A rendered message: owned strings, freed by notify_message_release. */
struct notify_message {
    char *subject;      /* `ALARM: "name" in Region`, at most NOTIFY_SUBJECT_MAX bytes */
    char *alarm_json;   /* the `default` document (§11.2/§11.3), plus keysentryContext */
    char *email_text;   /* the `email` variant (§13) plus the context block; LF line ends */
    char *sms_text;     /* the `sms` variant */
    char *context_json; /* the keysentryContext object, or NULL without a context */
};

/*
 * Renders the message for one transition. ctx may be NULL (no context block,
 * no keysentryContext field). Errors: KS_E_INVALID when alarm names neither or
 * both kinds, KS_E_TOOBIG when a rendering exceeds NOTIFY_MESSAGE_MAX.
 */
KS_MUST_CHECK enum ks_err notify_message_build(const struct notify_alarm *alarm,
                                               const struct alarm_change *change,
                                               const struct notify_context *ctx,
                                               const struct notify_format *fmt,
                                               struct notify_message *out, struct ks_diag *diag);
void notify_message_release(struct notify_message *m);

/* The §11.1 MessageStructure=json document {"default","email","sms"}: what
 * alarm history records as publishedMessage. Appends to out. */
KS_MUST_CHECK enum ks_err notify_published_message(const struct notify_message *m,
                                                   struct ks_buf *out);

/* Region display name for a region code ("us-east-1"), or NULL if unknown. */
const char *notify_region_name(const char *code);

/* "Tuesday 05 March, 2024 20:31:04 UTC" (spec §13). Returns the length. */
size_t notify_fmt_human_time(char out[64], int64_t ms);
/* "2024-03-05T20:31:04.544Z" (the SNS envelope Timestamp). Returns the length. */
size_t notify_fmt_sns_time(char out[32], int64_t ms);

/* Renders the context block as e-mail text (appended to out), as the
 * keysentryContext JSON object, or as Slack blocks (a JSON array body,
 * without brackets, appended after other blocks). */
KS_MUST_CHECK enum ks_err notify_context_text(const struct notify_context *ctx, struct ks_buf *out);
KS_MUST_CHECK enum ks_err notify_context_json(const struct notify_context *ctx, struct ks_buf *out);

/* A stable name-based UUID (lower-case 8-4-4-4-12) from the bytes of key. */
void notify_uuid(char out[37], const void *key, size_t len);

/* ---- SNS envelope and signature (spec §12) ------------------------------- */

/* One SNS HTTP body's fields. Unused ones are NULL. */
struct notify_envelope {
    const char *type; /* "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation" */
    const char *message_id;
    const char *token; /* confirmations */
    const char *topic_arn;
    const char *subject; /* notifications; NULL = omitted */
    const char *message;
    const char *subscribe_url; /* confirmations */
    const char *timestamp;     /* "yyyy-MM-dd'T'HH:mm:ss.SSSZ" */
    int signature_version;     /* 1 = SHA1withRSA, 2 = SHA256withRSA */
    const char *signing_cert_url;
    const char *unsubscribe_url; /* notifications */
};

/* The string to sign (spec §12.3): "name\nvalue\n" for the type's fields in
 * byte order. Appends to out. KS_E_INVALID for an unknown type. */
KS_MUST_CHECK enum ks_err notify_sns_canonical(const struct notify_envelope *e, struct ks_buf *out);
/* The JSON body, with Signature (base64) and SignatureVersion. */
KS_MUST_CHECK enum ks_err notify_sns_body(const struct notify_envelope *e, const char *signature,
                                          struct ks_buf *out);

/*
 * keysentry's SNS signing identity: an RSA-2048 key and a self-signed X.509
 * certificate, created on first use in dir as notify-signing-key.pem (0600)
 * and notify-signing-cert.pem (0644), loaded afterwards. Thread-safe to sign
 * with from any thread once loaded.
 */
struct notify_signer;

KS_MUST_CHECK enum ks_err notify_signer_load(const char *dir, struct notify_signer **out,
                                             struct ks_diag *diag);
void notify_signer_free(struct notify_signer *s);
/* The certificate, PEM (borrowed, valid until notify_signer_free). */
const char *notify_signer_cert_pem(const struct notify_signer *s);
/* Signs e's canonical string; writes base64 to out (replacing its content). */
KS_MUST_CHECK enum ks_err notify_signer_sign(const struct notify_signer *s,
                                             const struct notify_envelope *e, struct ks_buf *out,
                                             struct ks_diag *diag);

/* ---- delivery policy -------------------------------------------------------- */

/* Retry policy; zero fields take the defaults shown. */
struct notify_retry_policy {
    uint32_t max_attempts;      /* 10: attempts in all, then dead-letter */
    int64_t min_delay_ms;       /* 1000: the first retry's nominal delay */
    int64_t max_delay_ms;       /* 300000: the cap on one delay */
    int64_t max_age_ms;         /* 3600000: no retry starts later than this after the first try */
    int64_t max_retry_after_ms; /* 3600000: Retry-After values are capped to this */
};

/*
 * The delay before attempt number attempt+1 after attempt failed (attempt
 * >= 1): nominal = min(max_delay, min_delay * 2^(attempt-1)), returned as
 * nominal/2 + rnd * nominal/2 ("equal jitter"), rnd in [0, 1).
 */
int64_t notify_backoff_ms(const struct notify_retry_policy *p, uint32_t attempt, double rnd);

/* How one attempt ended, for the sinks and the registered-action contract. */
enum notify_result {
    NOTIFY_OK = 0,        /* delivered */
    NOTIFY_RETRY = 1,     /* transient failure: retry per policy */
    NOTIFY_PERMANENT = -1 /* permanent failure: dead-letter now */
};

/* SNS HTTP rules as keysentry applies them: 2xx delivered; 429 and 5xx retry;
 * other statuses (1xx, 3xx: redirects are not followed, 4xx) permanent. */
enum notify_result notify_http_classify(long status);

/* Parses a Retry-After value (delta-seconds or an HTTP-date) into a delay
 * from now_ms, >= 0. False when unparseable. */
bool notify_parse_retry_after(const char *value, int64_t now_ms, int64_t *delay_ms);

/* ---- the hub ---------------------------------------------------------------- */

struct notify_hub;

/*
 * A registered action (an alarm action ARN that is not an SNS topic, e.g. a
 * keysentry response). Called on a worker thread, never concurrently for the
 * same row, possibly concurrently for different rows: the handler must be
 * thread-safe. message_json is the alarm's `default` JSON document (with
 * keysentryContext when there is one); ctx the context block as enqueued
 * (rebuilt from the database after a restart; all-zero when there was none).
 * Both are borrowed for the call. On failure write a one-line reason to
 * error_out (no secrets: it is stored and shown). Return 0 when done, > 0 for
 * a transient failure (retried with the hub's policy), < 0 for a permanent
 * one (dead-lettered at once). Delivery is at least once: a handler must be
 * idempotent per MessageId (notify_current_delivery()).
 */
typedef int notify_action_fn(void *ud, const char *action_arn, const char *message_json,
                             const struct notify_context *ctx, struct ks_buf *error_out);

/* What the hub is delivering on this thread, for handlers that need more than
 * notify_action_fn's arguments. Borrowed; valid during the handler call. NULL
 * outside one. */
struct notify_delivery_info {
    const char *message_id;
    const char *alarm_name;
    const char *alarm_arn;
    const char *new_state;
    int64_t state_update_ms; /* the transition's time */
    uint32_t attempt;        /* 1-based */
};
const struct notify_delivery_info *notify_current_delivery(void);

enum notify_outcome_kind {
    NOTIFY_OUTCOME_DELIVERED, /* final: delivered */
    NOTIFY_OUTCOME_RETRY,     /* an attempt failed; another is scheduled */
    NOTIFY_OUTCOME_DEAD,      /* final: dead-lettered */
};

/*
 * The outcome of one delivery attempt of one alarm message, for the alarm
 * history (alarm_record_action(a, time_ms, action_arn, state_update_ms,
 * published_message, error) on the final ones). Borrowed for the callback.
 */
struct notify_outcome {
    enum notify_outcome_kind kind;
    const char *message_id;
    const char *alarm_name;
    const char *alarm_arn;
    enum alarm_type alarm_type;
    const char *new_state;
    const char *action_arn;        /* the ARN from the alarm's action list */
    const char *subscription_arn;  /* NULL for a registered action */
    const char *protocol;          /* email, email-json, http, https, slack, exec, file, action */
    int64_t state_update_ms;       /* the transition's time */
    int64_t time_ms;               /* when the attempt ended (hub clock) */
    uint32_t attempt;              /* 1-based */
    const char *published_message; /* the §11.1 MessageStructure=json document */
    const char *error;             /* NULL when delivered */
    const char *digest_id;         /* MessageId of the digest that carried it, or NULL */
};

typedef void notify_outcome_fn(void *ud, const struct notify_outcome *o);
typedef int64_t notify_clock_fn(void *ud); /* ms since the epoch, UTC */
typedef double notify_random_fn(void *ud); /* uniform in [0, 1) */

enum notify_http_confirmation {
    NOTIFY_CONFIRM_DEFAULT = 0, /* the template's setting, else REQUIRED */
    NOTIFY_CONFIRM_REQUIRED,    /* http/https subscriptions must confirm (SNS's flow) */
    NOTIFY_CONFIRM_SKIP,        /* treat them as confirmed by the template */
};

/*
 * Options for notify_hub_new. Zero-initialise, then set what you need: every
 * field left zero/NULL takes the template's Keysentry::Notifications /
 * Keysentry::Smtp value, else the documented default. Explicit options beat
 * the environment (KEYSENTRY_SMTP_URL), which beats the template.
 */
struct notify_options {
    const char *data_dir;         /* signing key and cert; NULL = the store file's folder */
    const char *public_url;       /* base of SubscribeURL, UnsubscribeURL, signing cert URL */
    const char *signing_cert_url; /* NULL = <public_url>/notify/signing-cert.pem */
    struct notify_format format;
    const char *smtp_url;  /* smtp://host:port, smtps://host:port */
    const char *smtp_from; /* envelope and header From address */
    unsigned workers;      /* delivery threads; 0 = 4 */
    bool manual;           /* no threads: the caller drives notify_hub_run_due */
    struct notify_retry_policy retry;
    int64_t digest_window_ms; /* per-subscription rate-limit window; 0 = template/60 s; <0 = off */
    int64_t http_timeout_ms;  /* 0 = 15000 (SNS's) */
    enum notify_http_confirmation http_confirmation;
    notify_clock_fn *clock; /* NULL = the wall clock */
    void *clock_ud;
    notify_random_fn *random; /* NULL = OpenSSL's RNG */
    void *random_ud;
    /* Called on the delivering thread after each attempt's outcome is
     * committed; never with the hub lock held; may be called concurrently
     * from several workers. */
    notify_outcome_fn *on_outcome;
    void *outcome_ud;
    /* Also keep outcomes for notify_hub_poll_outcomes (bounded queue). */
    bool queue_outcomes;
};

/*
 * Creates a hub over st's database (which must be a file: the hub opens its
 * own connection to it for the workers), loading or creating the signing key.
 * The hub borrows st; free the hub before closing st. One hub per database:
 * in-flight rows are tracked in memory, so two hubs (processes) on one file
 * would deliver the same rows twice. Errors: KS_E_IO, KS_E_INVALID with diag.
 */
KS_MUST_CHECK enum ks_err notify_hub_new(struct store *st, const struct notify_options *opts,
                                         struct notify_hub **out, struct ks_diag *diag);

/*
 * Reads topics, subscriptions and the Keysentry::Notifications,
 * Keysentry::Smtp and Keysentry::Subscription resources of t (borrowed for
 * the call; everything kept is copied), and syncs the subscriptions table: a
 * new or changed http/https subscription is PendingConfirmation and gets a
 * SubscriptionConfirmation queued; others are confirmed by the template.
 * Call once, before notify_hub_start. Errors: KS_E_INVALID naming the
 * resource and property ("Resources.Slack.Properties.Command: ...").
 * Unsupported protocols (sms, sqs, lambda, ...) are skipped with a warning.
 */
KS_MUST_CHECK enum ks_err
notify_hub_configure(struct notify_hub *hub, const struct config_template *t, struct ks_diag *diag);
/* Warnings from notify_hub_configure (borrowed, valid until free). */
size_t notify_hub_warning_count(const struct notify_hub *hub);
const char *notify_hub_warning(const struct notify_hub *hub, size_t i);

/*
 * Registers fn for alarm actions equal to arn (copied). Thread-safe. Rows
 * for an ARN without a handler wait (not counted as attempts) until one is
 * registered, so register before notify_hub_start to avoid the wait.
 * Returns KS_E_INVALID when arn is a configured topic or already registered.
 */
KS_MUST_CHECK enum ks_err notify_hub_register_action(struct notify_hub *hub, const char *arn,
                                                     notify_action_fn *fn, void *ud);

/* Starts the worker threads (none in manual mode). */
KS_MUST_CHECK enum ks_err notify_hub_start(struct notify_hub *hub, struct ks_diag *diag);

/* One transition to notify. */
struct notify_event {
    struct notify_alarm alarm;
    const struct alarm_change *change;    /* its actions are the ARNs to notify */
    const struct notify_context *context; /* optional */
};

/* What notify_hub_enqueue wrote. */
struct notify_enqueue_result {
    size_t rows;       /* outbox rows written now */
    size_t duplicates; /* rows already present (the same transition enqueued before) */
    size_t unknown;    /* action ARNs neither a topic nor registered (dead-lettered) */
};

/*
 * Renders the message and writes the outbox rows for ev on st's connection,
 * on the caller's thread, inside the caller's open transaction (commit it
 * together with the state change; a rollback discards the rows). When no
 * transaction is open the hub wraps the writes in its own. Enqueueing the same
 * transition again (same alarm, transition time and new state) writes
 * nothing new. A change with no actions writes nothing. Call
 * notify_hub_kick() after the commit for immediate delivery (otherwise the
 * workers notice within a second). Not to be called concurrently with itself.
 * res may be NULL. Errors: KS_E_IO (database), KS_E_INVALID, KS_E_TOOBIG.
 */
KS_MUST_CHECK enum ks_err notify_hub_enqueue(struct notify_hub *hub, const struct notify_event *ev,
                                             struct notify_enqueue_result *res,
                                             struct ks_diag *diag);

/* Wakes the workers: new rows were committed. Thread-safe, lock-free, cheap;
 * harmless inside a transaction (the workers poll fast for a few seconds). */
void notify_hub_kick(struct notify_hub *hub);

/* Where the outbox stands. */
struct notify_stats {
    uint64_t pending;    /* waiting for (another) attempt, due or not */
    uint64_t inflight;   /* being delivered now */
    uint64_t grouped;    /* held in a rate-limit window, to go out in a digest */
    uint64_t held;       /* waiting for an http/https subscription's confirmation */
    uint64_t delivered;  /* done */
    uint64_t dead;       /* dead-lettered */
    uint64_t digested;   /* carried by a digest */
    int64_t next_due_ms; /* earliest pending/grouped next attempt, INT64_MAX when none */
};

KS_MUST_CHECK enum ks_err notify_hub_stats(struct notify_hub *hub, struct notify_stats *out,
                                           struct ks_diag *diag);

/*
 * Waits until nothing is pending, grouped or in flight, or timeout_ms passed
 * (wall time; < 0 waits forever). Open digest windows are flushed at once:
 * draining means "send what is waiting now". Rows held for a subscription
 * confirmation are not waited for (they are reported). In manual mode drives
 * notify_hub_run_due itself. Returns KS_OK when drained, KS_E_LIMIT at the
 * timeout; *left (may be NULL) receives the counts either way. Call with no
 * transaction open on st (the workers must be able to write).
 */
KS_MUST_CHECK enum ks_err notify_hub_drain(struct notify_hub *hub, int64_t timeout_ms,
                                           struct notify_stats *left, struct ks_diag *diag);

/* Manual mode: runs every attempt due at the hub clock's now on the calling
 * thread; *ran (may be NULL) = attempts made. Also usable with workers. */
KS_MUST_CHECK enum ks_err notify_hub_run_due(struct notify_hub *hub, size_t *ran,
                                             struct ks_diag *diag);

/* Calls fn for each queued outcome (options.queue_outcomes), oldest first, on
 * the calling thread, and empties the queue. Returns how many; *dropped (may
 * be NULL) = outcomes lost to the queue's bound since the last poll. */
size_t notify_hub_poll_outcomes(struct notify_hub *hub, notify_outcome_fn *fn, void *ud,
                                uint64_t *dropped);

/* The signing certificate, PEM (for the daemon to serve at SigningCertURL).
 * Borrowed, valid until notify_hub_free. */
const char *notify_hub_signing_cert_pem(const struct notify_hub *hub);

/*
 * Confirms a pending http/https subscription (the ConfirmSubscription
 * action). On success *sub_arn (may be NULL) is a copy the caller frees.
 * Held rows of the subscription become pending. Errors: KS_E_NOTFOUND (no
 * pending subscription with that topic and token), KS_E_IO.
 */
KS_MUST_CHECK enum ks_err notify_hub_confirm_subscription(struct notify_hub *hub,
                                                          const char *topic_arn, const char *token,
                                                          char **sub_arn, struct ks_diag *diag);

/* A reply from notify_hub_http: the caller sends it and releases body. */
struct notify_http_reply {
    int status;
    const char *content_type; /* static string */
    struct ks_buf body;
};

/*
 * Serves keysentry's SNS endpoints for the daemon's HTTP server: GET
 * <...>/notify/signing-cert.pem (the certificate), ?Action=ConfirmSubscription
 * &TopicArn=..&Token=.. (XML ConfirmSubscriptionResponse), ?Action=Unsubscribe
 * &SubscriptionArn=.. and <...>/unsubscribe.html?SubscriptionArn=..
 * target is the request target (path and query). Returns false (reply
 * untouched) when the request is not one of these; else fills reply (its
 * body initialised by the call). Thread-safe.
 */
bool notify_hub_http(struct notify_hub *hub, const char *method, const char *target,
                     struct notify_http_reply *reply);

/* Stops the workers (an attempt in flight finishes first; rows stay in the
 * outbox for the next start) and frees the hub. NULL-safe. */
void notify_hub_free(struct notify_hub *hub);

#endif
