/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory tail: S3-layout archives and growing NDJSON files.
 *
 * DESIGN
 * The directory is polled (the caller decides how often; inotify can replace
 * the walk later without changing what is read). Positions are per file and
 * are committed with the metric buckets they produced (serve_tail_save runs
 * inside serve_engine_checkpoint's transaction): after a crash a file is
 * re-read from the last committed byte, and the buckets that byte produced
 * are exactly the committed ones, so nothing is counted twice.
 *
 * An NDJSON file is read up to its last newline only: a writer's half-written
 * line waits for the next poll. Archives (.gz, or .json files holding a
 * {"Records":[...]} object) are written once by CloudTrail; they are read
 * whole, after their size stayed the same for one poll, so a copy still in
 * progress is never read half.
 */
#include "serve/serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_MAX_DEPTH 32
#define TAIL_CHUNK     (KS_MAX_EVENT_BYTES + 1) /* one read: the longest event plus its newline */

void serve_tail_free(struct tail *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->files[i].path);
    free(t->files);
    free(t->dir);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* A .json file whose first non-blank bytes open a Records object. */
static bool records_file(const char *path)
{
    if (!ends_with(path, ".json"))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = buf;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    if (*p++ != '{')
        return false;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return !strncmp(p, "\"Records\"", 9);
}

static struct tail_file *find_file(struct tail *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->files[i].path, path))
            return &t->files[i];
    return NULL;
}

static struct tail_file *add_file(struct tail *t, const char *path)
{
    if (t->n == SERVE_MAX_TAIL_FILES)
        return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->files = ks_xrealloc(t->files, t->cap * sizeof(*t->files));
    }
    struct tail_file *f = &t->files[t->n++];
    memset(f, 0, sizeof(*f));
    f->path = ks_xstrdup(path);
    f->size_seen = -1;
    return f;
}

/* Positions committed by an earlier run. */
static void load_positions(struct serve_engine *e, struct tail *t)
{
    if (!e->db)
        return;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db),
                           "SELECT path, ino, offset FROM serve_files WHERE source = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(q, 1, e->source_names[t->source], -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(q, 0);
        struct tail_file *f = path ? add_file(t, path) : NULL;
        if (!f)
            continue;
        f->ino = (ino_t)sqlite3_column_int64(q, 1);
        f->offset = (uint64_t)sqlite3_column_int64(q, 2);
        f->archive = ends_with(path, ".gz") || records_file(path);
    }
    sqlite3_finalize(q);
}

int serve_engine_add_tail(struct serve_engine *e, const char *dir, const char *log_group)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return -1;
    serve_engine_lock(e);
    struct ks_buf name;
    ks_buf_init(&name, 8192);
    int src = -1;
    if (ks_buf_addf(&name, "tail:%s", real) == KS_OK)
        src = serve_add_source_locked(e, name.data, SERVE_SOURCE_TAIL, log_group);
    ks_buf_release(&name);
    if (src >= 0) {
        e->tails = ks_xrealloc(e->tails, (e->ntails + 1) * sizeof(*e->tails));
        struct tail *t = &e->tails[e->ntails++];
        memset(t, 0, sizeof(*t));
        t->dir = real;
        t->source = src;
        load_positions(e, t);
        real = NULL;
    }
    serve_engine_unlock(e);
    free(real);
    return src;
}

enum ks_err serve_tail_save(struct serve_engine *e, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db),
                           "INSERT OR REPLACE INTO serve_files VALUES (?, ?, ?, ?)", -1, &q,
                           NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "saving tail positions");
    for (size_t i = 0; i < e->ntails; i++) {
        struct tail *t = &e->tails[i];
        for (size_t k = 0; k < t->n; k++) {
            struct tail_file *f = &t->files[k];
            if (!f->dirty)
                continue;
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, e->source_names[t->source], -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, f->path, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, (sqlite3_int64)f->ino);
            sqlite3_bind_int64(q, 4, (sqlite3_int64)f->offset);
            if (sqlite3_step(q) != SQLITE_DONE) {
                sqlite3_finalize(q);
                return store_fail(e->db, diag, "saving tail positions");
            }
            f->dirty = false;
        }
    }
    sqlite3_finalize(q);
    return KS_OK;
}

struct archive_ctx {
    struct serve_engine *e;
    int source;
    int64_t now_ms;
};

static int on_archive_event(void *ud, const struct event *ev)
{
    struct archive_ctx *a = ud;
    serve_ingest_locked(a->e, a->source, ev->data, ev->len, ev->time_ms, NULL, ev->file,
                        ev->offset, a->now_ms);
    return 0;
}

static void read_archive(struct serve_engine *e, struct tail *t, struct tail_file *f,
                         const struct stat *st, int64_t now_ms)
{
    /* wait until the size settles: the writer may still be copying it in */
    if (st->st_size != f->size_seen) {
        f->size_seen = st->st_size;
        return;
    }
    struct event_reader_opts o;
    event_reader_opts_init(&o);
    o.want_time = true;
    struct event_stats es;
    memset(&es, 0, sizeof(es));
    struct archive_ctx a = {e, t->source, now_ms};
    event_read_path(f->path, &o, on_archive_event, &a, &es);
    e->sources[t->source].bad += es.bad_json + es.bad_utf8 + es.bad_nul + es.too_big +
                                 es.too_deep + es.bad_gzip + es.bad_file;
    f->offset = (uint64_t)st->st_size;
    f->dirty = true;
    e->dirty = true;
}

/* Reads complete lines from f->offset; returns the bytes consumed. */
static size_t read_lines(struct serve_engine *e, struct tail *t, struct tail_file *f,
                         const struct stat *st, char *buf, int64_t now_ms, size_t budget)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t total = 0;
    while ((uint64_t)st->st_size > f->offset && total < budget) {
        ssize_t n = pread(fd, buf, TAIL_CHUNK, (off_t)f->offset);
        if (n <= 0)
            break;
        size_t len = (size_t)n, start = 0, used = 0;
        for (size_t i = 0; i < len; i++) {
            if (buf[i] != '\n')
                continue;
            if (f->skip_line) {
                f->skip_line = false;
            } else {
                size_t ll = i - start;
                if (ll && buf[i - 1] == '\r')
                    ll--;
                if (ll)
                    serve_ingest_locked(e, t->source, buf + start, ll, INT64_MIN, NULL, f->path,
                                        f->offset + start, now_ms);
            }
            start = i + 1;
            used = start;
        }
        if (used == 0) {
            if (len < TAIL_CHUNK)
                break; /* an incomplete last line: wait for its newline */
            /* no newline in a whole chunk: the line is over the event cap */
            if (!f->skip_line)
                e->sources[t->source].bad++;
            f->skip_line = true;
            used = len;
        }
        f->offset += used;
        total += used;
        f->dirty = true;
        e->dirty = true;
        if (len < TAIL_CHUNK)
            break;
    }
    close(fd);
    return total;
}

struct walk {
    struct serve_engine *e;
    struct tail *t;
    char *buf;
    int64_t now_ms;
    size_t budget;
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(struct walk *w, const char *dir, unsigned depth)
{
    if (depth > TAIL_MAX_DEPTH)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = ks_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = ks_xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct ks_buf p;
        ks_buf_init(&p, 8192);
        struct stat st;
        if (ks_buf_addf(&p, "%s/%s", dir, names[i]) != KS_OK || stat(p.data, &st) != 0) {
            ks_buf_release(&p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, p.data, depth + 1);
        } else if (S_ISREG(st.st_mode) && w->budget > 0) {
            struct tail_file *f = find_file(w->t, p.data);
            if (!f && (f = add_file(w->t, p.data)) != NULL) {
                f->ino = st.st_ino;
                f->archive = ends_with(p.data, ".gz") || records_file(p.data);
                f->dirty = true;
            }
            if (f) {
                if (f->ino != st.st_ino || (uint64_t)st.st_size < f->offset) {
                    /* rotated or truncated: a new file under the old name */
                    f->ino = st.st_ino;
                    f->offset = 0;
                    f->skip_line = false;
                    f->size_seen = -1;
                    f->archive = ends_with(p.data, ".gz") || records_file(p.data);
                    f->dirty = true;
                }
                if (f->archive) {
                    if (f->offset == 0 && st.st_size > 0)
                        read_archive(w->e, w->t, f, &st, w->now_ms);
                } else if ((uint64_t)st.st_size > f->offset) {
                    size_t used = read_lines(w->e, w->t, f, &st, w->buf, w->now_ms, w->budget);
                    w->budget = used >= w->budget ? 0 : w->budget - used;
                }
            }
        }
        ks_buf_release(&p);
        free(names[i]);
    }
    free(names);
}

void serve_engine_poll_tails(struct serve_engine *e, int64_t now_ms, size_t max_bytes)
{
    if (!e->ntails)
        return;
    char *buf = ks_xmalloc(TAIL_CHUNK);
    serve_engine_lock(e);
    for (size_t i = 0; i < e->ntails; i++) {
        struct walk w = {e, &e->tails[i], buf, now_ms, max_bytes};
        walk_dir(&w, e->tails[i].dir, 0);
    }
    serve_engine_unlock(e);
    free(buf);
}
