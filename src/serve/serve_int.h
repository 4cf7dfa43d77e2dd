/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/serve: the engine's fields, shared by its files. */
#ifndef KS_SERVE_INT_H
#define KS_SERVE_INT_H

#include "serve/serve.h"

#include "event/event.h"
#include "store/store.h"

#include <pthread.h>
#include <sys/types.h>

struct salarm {
    struct alarm *a;
    int64_t next_eval;
    int64_t last_eval; /* INT64_MIN before the first evaluation */
    uint64_t transitions;
    bool early;  /* Keysentry::AlarmOptions EarlyFire */
    bool reeval; /* a late event re-opened an evaluated period */
    bool check;  /* a matching event arrived: run the early-fire check */
};

struct scomp {
    struct alarm_composite *c;
    uint64_t transitions;
};

struct tail_file {
    char *path;
    ino_t ino;
    uint64_t offset;    /* next byte to read; archives: their size once read */
    off_t size_seen;    /* size at the previous look (archives wait for it to settle) */
    int64_t size_ms;    /* when size_seen was first observed */
    int64_t seen_ms;    /* last visit that found it under its name (rotation) */
    uint64_t head_hash; /* of its first head_len bytes: its identity beside the inode */
    uint32_t head_len;  /* 0 until known */
    bool archive;
    bool typed;     /* archive decided (needs the first bytes) */
    bool skip_line; /* inside an over-long line: drop bytes up to its newline */
    bool dirty;     /* offset changed since the last checkpoint */
    bool writing;   /* inotify: opened for writing, no close seen yet */
    bool closed;    /* inotify: closed after writing or renamed in: complete */
    bool pending;   /* queued in the tail's pending list */
};

struct tail_watch; /* serve_tail.c: inotify state, pending files, path index */

/* A replaced filter set still used by batches matching outside the lock. */
struct serve_filter_gen {
    struct metric_filters *mf;
    uint64_t gen;
    size_t users;
};
struct serve_ingest_scratch; /* serve_engine.c: one batch's working set */

struct tail {
    char *dir;
    int source;
    struct tail_file *files;
    size_t n, cap;
    struct tail_watch *w;
};

struct serve_engine {
    pthread_mutex_t mu;
    const struct config_template *tpl;
    struct serve_options opts;
    struct store *db;
    bool dirty;

    struct metric_filters *mf;
    struct metric_store *store;
    struct serve_filter *filters;
    size_t nfilters;

    struct salarm *alarms;
    size_t nalarms, calarms;
    struct scomp *comps;
    size_t ncomps;
    int64_t next_expire, retention_ms;

    struct serve_source_stats sources[SERVE_MAX_SOURCES];
    char *source_names[SERVE_MAX_SOURCES];
    char *source_groups[SERVE_MAX_SOURCES];
    unsigned source_gids[SERVE_MAX_SOURCES]; /* source_groups[i] interned (gnames) */
    size_t nsources;

    /* Log group names interned to the small ids metric filters carry
     * (metric_filter_def.group): id = index + 1, 0 = "" (every filter).
     * Append-only, so an id never changes meaning while events are in
     * flight. Bounded by the names that can exist: log groups, filters'
     * groups and sources' groups. */
    char **gnames;
    size_t ngnames;

    struct tail *tails;
    size_t ntails;

    struct serve_log_group *groups;
    size_t ngroups;
    struct serve_log_stream *streams;
    size_t nstreams;

    /* recent events: a ring of SERVE_RING_MAX_EVENTS slots */
    struct serve_recent *ring;
    size_t ring_head, ring_len; /* oldest at ring_head */
    size_t ring_bytes;
    uint64_t seq;

    /* actions (serve_actions.c) */
    struct notify_hub *hub;
    uint64_t enqueued, enqueue_failures, deliveries_ok, deliveries_failed;
    struct serve_delivery deliveries[SERVE_ACTIONS_RING];
    size_t deliveries_head, ndeliveries;
    struct serve_response responses[SERVE_ACTIONS_RING];
    size_t responses_head, nresponses;

    struct event_scan_plan *plan; /* immutable once built: batches scan with it unlocked */
    struct event_scan *scan;      /* the lock holder's */
    unsigned slot[9];
    struct ks_buf fields; /* serve_engine_recent_fields' text */

    /* PutLogEvents batches match outside the lock (serve_engine_put_events):
     * mf_gen numbers the filter sets, mf_users counts the batches matching
     * against e->mf, retired keeps replaced sets until their last batch is
     * done, scratch_pool the batches' working sets. All under mu. */
    uint64_t mf_gen;
    size_t mf_users;
    struct serve_filter_gen *retired;
    size_t nretired;
    struct serve_ingest_scratch *scratch_pool;

    /* event-time clock (serve_engine_event_clock): replay's chart hook */
    serve_eval_fn *on_eval;
    void *on_eval_ctx;
};

/* serve_engine.c, for serve_tail.c */
void serve_log(const struct serve_engine *e, const char *level, const char *fmt, ...)
    KS_PRINTF(3, 4);
bool serve_ingest_locked(struct serve_engine *e, int source, const char *data, size_t len,
                         int64_t time_ms, const char *stream, const char *file, uint64_t offset,
                         int64_t now_ms);
int serve_add_source_locked(struct serve_engine *e, const char *name, enum serve_source_kind kind,
                            const char *log_group);

/* serve_actions.c, for serve_engine.c */
void serve_actions_enqueue(struct serve_engine *e, const char *name, const struct alarm_change *ch,
                           bool early);
void serve_actions_free(struct serve_engine *e);

/* serve_tail.c, for serve_engine.c */
enum ks_err serve_tail_save(struct serve_engine *e, struct ks_diag *diag);
void serve_tail_free(struct tail *t);

#endif
