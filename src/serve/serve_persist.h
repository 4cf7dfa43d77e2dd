/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/serve: alarms and metric filters created, changed or
 * deleted through the APIs survive a restart when the engine has a database
 * (serve_persist.c, docs/serve.md#persistence).
 *
 * Each API change writes its own row at once, under the engine lock, before
 * the API answers: persist, then acknowledge. A deletion writes a tombstone,
 * so an alarm or filter that came from the template and was deleted through
 * the API stays deleted. At start the rows are replayed over the template
 * (they are the newer word), before alarm states and filter counters are
 * restored, so those find the API-created alarms and filters too.
 */
#ifndef KS_SERVE_PERSIST_H
#define KS_SERVE_PERSIST_H

#include "serve/serve_int.h"

/* Lock held; no-ops without a database. */
KS_MUST_CHECK enum ks_err serve_persist_alarm(struct serve_engine *e, const struct alarm_def *def,
                                              int64_t now_ms, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err serve_persist_alarm_delete(struct serve_engine *e, const char *name,
                                                     int64_t now_ms, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err serve_persist_filter(struct serve_engine *e, const char *log_group,
                                               const struct metric_filter_def *def,
                                               int64_t created_ms, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err serve_persist_filter_delete(struct serve_engine *e, const char *log_group,
                                                      const char *name, int64_t now_ms,
                                                      struct ks_diag *diag);

/* Replays the saved rows over the engine built from the template. Called
 * from serve_engine_new with the database open and the lock not held. A row
 * that no longer applies (it fails validation) is logged and skipped, never
 * fatal: the template alone must always be able to start. */
KS_MUST_CHECK enum ks_err serve_persist_load(struct serve_engine *e, int64_t now_ms,
                                             struct ks_diag *diag);

#endif
