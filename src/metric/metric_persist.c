/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Saving and loading the metric store (DESIGN.md §5). Only buckets changed
 * since the last save are written, inside the caller's transaction, so they
 * commit atomically with the source checkpoint that produced them.
 * Sketches are stored as a blob of (int32 index, uint32 count) pairs in
 * little-endian order.
 */
#include "metric/metric_int.h"
#include "store/store.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static char *dims_text(const struct series *s)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    for (size_t i = 0; i < s->ndims; i++)
        if (ks_buf_addf(&b, "%s%s=%s", i ? "\x1f" : "", s->dims[i].name, s->dims[i].value))
            break;
    char *out = ks_xstrdup(b.data);
    ks_buf_release(&b);
    return out;
}

static enum ks_err series_id(struct store *db, struct series *s, struct ks_diag *diag)
{
    if (s->db_id)
        return KS_OK;
    sqlite3 *h = store_db(db);
    char *dims = dims_text(s);
    sqlite3_stmt *q;
    enum ks_err e = KS_OK;
    if (sqlite3_prepare_v2(h,
                           "INSERT INTO metric_series (namespace, name, unit, dimensions) VALUES "
                           "(?, ?, ?, ?) ON CONFLICT DO UPDATE SET name = excluded.name "
                           "RETURNING id",
                           -1, &q, NULL) != SQLITE_OK) {
        free(dims);
        return store_fail(db, diag, "saving series");
    }
    sqlite3_bind_text(q, 1, s->ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, s->unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, dims, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        s->db_id = sqlite3_column_int64(q, 0);
    else
        e = store_fail(db, diag, "saving series");
    sqlite3_finalize(q);
    free(dims);
    return e;
}

enum ks_err metric_store_save(struct metric_store *ms, struct store *db, struct ks_diag *diag)
{
    sqlite3 *h = store_db(db);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h,
                           "INSERT OR REPLACE INTO metric_buckets VALUES (?, ?, ?, ?, ?, ?, ?, "
                           "?, ?)",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(db, diag, "saving buckets");
    enum ks_err e = KS_OK;
    unsigned char *blob = NULL;
    size_t blob_cap = 0;
    for (size_t i = 0; i < ms->ns && !e; i++) {
        struct series *s = &ms->s[i];
        for (size_t k = 0; k < s->nb && !e; k++) {
            struct bucket *b = &s->b[k];
            if (!b->dirty)
                continue;
            if ((e = series_id(db, s, diag)))
                break;
            size_t need = (size_t)b->nsk * 8;
            if (need > blob_cap) {
                blob_cap = need * 2;
                blob = ks_xrealloc(blob, blob_cap);
            }
            for (uint32_t j = 0; j < b->nsk; j++) {
                put32(blob + j * 8, (uint32_t)b->sk[j].index);
                put32(blob + j * 8 + 4, b->sk[j].count);
            }
            sqlite3_reset(q);
            sqlite3_bind_int64(q, 1, s->db_id);
            sqlite3_bind_int64(q, 2, b->sec);
            sqlite3_bind_double(q, 3, b->count);
            sqlite3_bind_double(q, 4, b->sum);
            sqlite3_bind_double(q, 5, b->min);
            sqlite3_bind_double(q, 6, b->max);
            sqlite3_bind_int64(q, 7, b->zeros);
            sqlite3_bind_int(q, 8, b->negative);
            sqlite3_bind_blob(q, 9, blob, (int)need, SQLITE_STATIC);
            if (sqlite3_step(q) != SQLITE_DONE)
                e = store_fail(db, diag, "saving buckets");
            else
                b->dirty = false;
        }
    }
    free(blob);
    sqlite3_finalize(q);
    if (e)
        return e;
    if (sqlite3_prepare_v2(h,
                           "UPDATE metric_series SET total_count = ?, total_sum = ? WHERE id = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(db, diag, "saving series totals");
    for (size_t i = 0; i < ms->ns && !e; i++) {
        struct series *s = &ms->s[i];
        if (!s->totals_dirty)
            continue;
        if ((e = series_id(db, s, diag)))
            break;
        sqlite3_reset(q);
        sqlite3_bind_double(q, 1, s->total_count);
        sqlite3_bind_double(q, 2, s->total_sum);
        sqlite3_bind_int64(q, 3, s->db_id);
        if (sqlite3_step(q) != SQLITE_DONE)
            e = store_fail(db, diag, "saving series totals");
        else
            s->totals_dirty = false;
    }
    sqlite3_finalize(q);
    return e;
}

static void split_dims(char *text, struct metric_dim *dims, size_t *nd)
{
    *nd = 0;
    if (!*text)
        return;
    char *p = text;
    while (p && *nd < 30) {
        char *next = strchr(p, '\x1f');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            dims[*nd].name = p;
            dims[*nd].value = eq + 1;
            (*nd)++;
        }
        p = next;
    }
}

enum ks_err metric_store_load(struct metric_store *ms, struct store *db, struct ks_diag *diag)
{
    sqlite3 *h = store_db(db);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h,
                           "SELECT s.id, s.namespace, s.name, s.unit, s.dimensions, b.sec, "
                           "b.count, b.sum, b.min, b.max, b.zeros, b.negative, b.sketch, "
                           "s.total_count, s.total_sum FROM metric_series s LEFT JOIN "
                           "metric_buckets b ON b.series = s.id ORDER BY s.id, b.sec",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(db, diag, "loading metrics");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char *dims_copy = ks_xstrdup((const char *)sqlite3_column_text(q, 4));
        struct metric_dim dims[30];
        size_t nd;
        split_dims(dims_copy, dims, &nd);
        size_t idx = metric_store_series(ms, (const char *)sqlite3_column_text(q, 1),
                                         (const char *)sqlite3_column_text(q, 2), dims, nd,
                                         (const char *)sqlite3_column_text(q, 3));
        free(dims_copy);
        struct series *s = &ms->s[idx];
        s->db_id = sqlite3_column_int64(q, 0);
        s->total_count = sqlite3_column_double(q, 13);
        s->total_sum = sqlite3_column_double(q, 14);
        if (sqlite3_column_type(q, 5) == SQLITE_NULL)
            continue; /* a series whose buckets all expired */
        struct bucket *b = metric_bucket_at(s, sqlite3_column_int64(q, 5));
        b->count = sqlite3_column_double(q, 6);
        b->sum = sqlite3_column_double(q, 7);
        b->min = sqlite3_column_double(q, 8);
        b->max = sqlite3_column_double(q, 9);
        b->zeros = (uint32_t)sqlite3_column_int64(q, 10);
        b->negative = sqlite3_column_int(q, 11) != 0;
        b->dirty = false;
        const unsigned char *blob = sqlite3_column_blob(q, 12);
        int n = sqlite3_column_bytes(q, 12) / 8;
        free(b->sk);
        b->sk = ks_xmalloc((size_t)(n ? n : 1) * sizeof(*b->sk));
        b->nsk = b->capsk = (uint32_t)n;
        for (int j = 0; j < n; j++) {
            b->sk[j].index = (int32_t)get32(blob + j * 8);
            b->sk[j].count = get32(blob + j * 8 + 4);
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? KS_OK : store_fail(db, diag, "loading metrics");
}
