/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: the embedded SQLite database (DESIGN.md §5).
 *
 * One file, WAL mode, one writer. Schema changes are numbered migrations
 * applied in order at open (the table `schema_migrations` records them).
 * Modules persist their own state through this API in the same transaction
 * as the source checkpoint that produced it, so a crash never counts an
 * event twice or loses one: everything up to a checkpoint is durable, and
 * everything after it is re-read on restart.
 */
#ifndef KS_STORE_H
#define KS_STORE_H

#include "base/ks.h"

#include <sqlite3.h>

struct store;

/* Opens (creating) the database at path and migrates it to the newest
 * schema. On error returns KS_E_IO with diag naming the file. */
KS_MUST_CHECK enum ks_err store_open(const char *path, struct store **out, struct ks_diag *diag);
void store_close(struct store *st);

/* The raw handle, for modules' prepared statements (borrowed). */
sqlite3 *store_db(struct store *st);

KS_MUST_CHECK enum ks_err store_begin(struct store *st, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err store_commit(struct store *st, struct ks_diag *diag);
void store_rollback(struct store *st);

/* Where a source stands: the last event durably counted. */
struct store_checkpoint {
    char file[4096]; /* origin file of that event ("" = none yet) */
    uint64_t offset; /* its byte offset in the (decompressed) file */
    uint64_t events; /* events counted so far */
    int64_t watermark_ms;
};

/* found is false (and *cp zeroed) when the source has no checkpoint yet. */
KS_MUST_CHECK enum ks_err store_checkpoint_get(struct store *st, const char *source,
                                               struct store_checkpoint *cp, bool *found,
                                               struct ks_diag *diag);
KS_MUST_CHECK enum ks_err store_checkpoint_put(struct store *st, const char *source,
                                               const struct store_checkpoint *cp,
                                               struct ks_diag *diag);

/* Fills diag from the connection's last error; returns KS_E_IO. */
enum ks_err store_fail(struct store *st, struct ks_diag *diag, const char *what);

#endif
