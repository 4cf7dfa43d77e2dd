/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory tail: S3-layout archives and growing NDJSON files.
 *
 * DESIGN
 * inotify says which files changed, so a new or grown file is read within
 * milliseconds of the write; a full walk of the tree remains the safety net
 * (every TAIL_RESCAN_MS, and at once after IN_Q_OVERFLOW). Without inotify,
 * or when a watch cannot be added (max_user_watches), every poll is a full
 * walk, as before inotify. Watches cover every directory the walk enters, so
 * a new AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/ branch is watched as
 * soon as its first level appears and walked to catch what was written into
 * it before its watch existed.
 *
 * Positions are per file and are committed with the metric buckets they
 * produced (serve_tail_save runs inside serve_engine_checkpoint's
 * transaction): after a crash a file is re-read from the last committed byte,
 * and the buckets that byte produced are exactly the committed ones, so
 * nothing is counted twice.
 *
 * An NDJSON file is read up to its last newline only: a writer's half-written
 * line waits for the next poll. Archives (.gz, or .json files holding a
 * {"Records":[...]} object) are written once by CloudTrail and read whole,
 * once. An archive is complete when inotify reports IN_CLOSE_WRITE or
 * IN_MOVED_TO for it; one that was not seen being written (present at start,
 * or after an overflow, or without inotify) is read once its size has held
 * for TAIL_SETTLE_MS, so a copy in progress is never read half.
 */
#include "serve/serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_MAX_DEPTH   32
#define TAIL_CHUNK       (KS_MAX_EVENT_BYTES + 1) /* one read: the longest event plus its newline */
#define TAIL_RESCAN_MS   5000  /* full walk with inotify: catches anything inotify missed */
#define TAIL_SETTLE_MS   200   /* an archive not seen closing: its size must hold this long */
#define TAIL_MAX_PENDING 4096  /* past this, one full walk is cheaper than the list */
#define TAIL_DRAIN_READS 64    /* inotify reads per poll (64 KiB each) */
#define TAIL_ORPHANS     64    /* line files whose name now holds another inode */
#define TAIL_ROTATE_MS   10000 /* how recent a rotation's two halves must be */
#define TAIL_HEAD_BYTES  256   /* a line file's first bytes identify it with its inode */
#define TAIL_WATCH_MASK                                                                            \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF |        \
     IN_ONLYDIR)

struct tail_dir {
    char *path; /* NULL: free slot */
    unsigned depth;
};

/* Where a line file was when its name got a new inode: the rotated file may
 * turn up under another name a moment later (adopt_rotated). */
struct tail_orphan {
    ino_t ino;
    uint64_t offset;
    uint64_t head_hash;
    uint32_t head_len;
    bool skip_line;
    int64_t at_ms;
};

struct tail_watch {
    struct tail_orphan orphans[TAIL_ORPHANS]; /* a ring */
    size_t next_orphan;
    int fd;        /* inotify instance, -1 when polling only */
    bool degraded; /* a watch could not be added: walk on every poll */
    bool rescan;   /* walk at the next poll (overflow, budget left work) */
    bool urgent;   /* pending work that should not wait for the next tick */
    int64_t next_rescan;
    struct tail_dir *dirs; /* indexed by watch descriptor */
    size_t ndirs;
    char **newdirs; /* directories created since the last poll: walk them */
    size_t nnew, cnew;
    size_t *pending; /* indexes into tail.files */
    size_t npending, cpending;
    uint32_t *index; /* open addressing: files[i] at slot hash(path) is i + 1 */
    size_t index_cap;
};

static void watch_free(struct tail_watch *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i].path);
    free(w->dirs);
    for (size_t i = 0; i < w->nnew; i++)
        free(w->newdirs[i]);
    free(w->newdirs);
    free(w->pending);
    free(w->index);
    free(w);
}

void serve_tail_free(struct tail *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->files[i].path);
    free(t->files);
    free(t->dir);
    watch_free(t->w);
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

/* ---- the path index: find_file was a linear search, O(files) per file ---- */

static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void index_put(struct tail_watch *w, const char *path, size_t i)
{
    size_t mask = w->index_cap - 1;
    for (size_t s = (size_t)path_hash(path) & mask;; s = (s + 1) & mask) {
        if (!w->index[s]) {
            w->index[s] = (uint32_t)(i + 1);
            return;
        }
    }
}

static void index_rebuild(struct tail *t)
{
    struct tail_watch *w = t->w;
    size_t cap = 64;
    while (cap < 2 * (t->n + 1))
        cap *= 2;
    free(w->index);
    w->index = ks_xcalloc(cap, sizeof(*w->index));
    w->index_cap = cap;
    for (size_t i = 0; i < t->n; i++)
        index_put(w, t->files[i].path, i);
}

static struct tail_file *find_file(struct tail *t, const char *path)
{
    struct tail_watch *w = t->w;
    if (!w->index_cap)
        return NULL;
    size_t mask = w->index_cap - 1;
    for (size_t s = (size_t)path_hash(path) & mask; w->index[s]; s = (s + 1) & mask)
        if (!strcmp(t->files[w->index[s] - 1].path, path))
            return &t->files[w->index[s] - 1];
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
    /* keep the load factor at or below one half */
    if (2 * t->n > t->w->index_cap)
        index_rebuild(t);
    else
        index_put(t->w, f->path, t->n - 1);
    return f;
}

static void push_pending(struct tail *t, struct tail_file *f)
{
    struct tail_watch *w = t->w;
    if (f->pending)
        return;
    if (w->npending == TAIL_MAX_PENDING) {
        w->rescan = true;
        return;
    }
    if (w->npending == w->cpending) {
        w->cpending = w->cpending ? w->cpending * 2 : 64;
        w->pending = ks_xrealloc(w->pending, w->cpending * sizeof(*w->pending));
    }
    w->pending[w->npending++] = (size_t)(f - t->files);
    f->pending = true;
}

/* ---- inotify ---------------------------------------------------------------- */

/* Watches dir (idempotent: the kernel returns the same descriptor for the
 * same inode, so every walk can call it). */
static void watch_dir(struct serve_engine *e, struct tail *t, const char *dir, unsigned depth)
{
    struct tail_watch *w = t->w;
    if (w->fd < 0 || w->degraded)
        return;
    int wd = inotify_add_watch(w->fd, dir, TAIL_WATCH_MASK);
    if (wd < 0) {
        w->degraded = true;
        serve_log(e, "warn",
                  "cannot watch '%s' (%s): polling %s every time instead; raise "
                  "fs.inotify.max_user_watches",
                  dir, strerror(errno), t->dir);
        return;
    }
    size_t i = (size_t)wd;
    if (i >= w->ndirs) {
        size_t n = w->ndirs ? w->ndirs : 16;
        while (n <= i)
            n *= 2;
        w->dirs = ks_xrealloc(w->dirs, n * sizeof(*w->dirs));
        memset(w->dirs + w->ndirs, 0, (n - w->ndirs) * sizeof(*w->dirs));
        w->ndirs = n;
    }
    if (!w->dirs[i].path || strcmp(w->dirs[i].path, dir)) {
        free(w->dirs[i].path);
        w->dirs[i].path = ks_xstrdup(dir);
    }
    w->dirs[i].depth = depth;
}

/* After an overflow close events may be lost: fall back to the settle rule. */
static void forget_writers(struct tail *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->files[i].writing = false;
}

static void on_inotify(struct tail *t, const struct inotify_event *ev)
{
    struct tail_watch *w = t->w;
    if (ev->mask & IN_Q_OVERFLOW) {
        w->rescan = true;
        forget_writers(t);
        return;
    }
    if (ev->wd < 0 || (size_t)ev->wd >= w->ndirs || !w->dirs[ev->wd].path)
        return;
    struct tail_dir *d = &w->dirs[ev->wd];
    if (ev->mask & IN_IGNORED) {
        free(d->path);
        d->path = NULL;
        return;
    }
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        w->rescan = true; /* the walk re-watches whatever takes its place */
        return;
    }
    if (!ev->len || ev->name[0] == '.' || ev->name[0] == '\0')
        return;
    struct ks_buf p;
    ks_buf_init(&p, 8192);
    if (ks_buf_addf(&p, "%s/%s", d->path, ev->name) != KS_OK) {
        ks_buf_release(&p);
        return;
    }
    if (ev->mask & IN_ISDIR) {
        if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && d->depth < TAIL_MAX_DEPTH) {
            if (w->nnew == w->cnew) {
                w->cnew = w->cnew ? w->cnew * 2 : 8;
                w->newdirs = ks_xrealloc(w->newdirs, w->cnew * sizeof(*w->newdirs));
            }
            if (w->nnew < TAIL_MAX_PENDING)
                w->newdirs[w->nnew++] = ks_xstrdup(p.data);
            else
                w->rescan = true;
            w->urgent = true;
        }
        ks_buf_release(&p);
        return;
    }
    struct tail_file *f = find_file(t, p.data);
    if (!f)
        f = add_file(t, p.data); /* ino 0: the visit treats it as a new file */
    ks_buf_release(&p);
    if (!f)
        return;
    if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        f->writing = false;
        f->closed = true;
    } else if (ev->mask & (IN_CREATE | IN_MODIFY)) {
        f->writing = true;
        f->closed = false;
    }
    push_pending(t, f);
    w->urgent = true;
}

static void drain(struct tail *t)
{
    _Alignas(struct inotify_event) char buf[65536];
    for (int r = 0; r < TAIL_DRAIN_READS; r++) {
        ssize_t n = read(t->w->fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (const char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(const void *)p;
            on_inotify(t, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    t->w->urgent = true; /* more may be queued: come back without sleeping */
}

/* ---- positions --------------------------------------------------------------- */

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
        f->typed = true;
        /* as good as seen now: a rotation while we were down is found by
         * the first walk (adopt_rotated) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        f->seen_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
        t->w = ks_xcalloc(1, sizeof(*t->w));
        /* KEYSENTRY_TAIL_POLL=1 forces the fallback (tests; filesystems such
         * as NFS where inotify is silent about other hosts' writes) */
        const char *poll_only = getenv("KEYSENTRY_TAIL_POLL");
        t->w->fd = poll_only && *poll_only == '1' ? -1 : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (t->w->fd < 0 && !(poll_only && *poll_only == '1'))
            serve_log(e, "warn", "no inotify for '%s' (%s): polling it", real, strerror(errno));
        t->w->rescan = true;
        index_rebuild(t);
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

/* ---- reading ------------------------------------------------------------------ */

struct walk {
    struct serve_engine *e;
    struct tail *t;
    char *buf;
    int64_t now_ms;
    size_t budget; /* bytes this poll may still read (archives: compressed) */
};

struct archive_ctx {
    struct serve_engine *e;
    int source;
    int64_t now_ms;
};

static int on_archive_event(void *ud, const struct event *ev)
{
    struct archive_ctx *a = ud;
    serve_ingest_locked(a->e, a->source, ev->data, ev->len, ev->time_ms, NULL, ev->file, ev->offset,
                        a->now_ms);
    return 0;
}

static void read_archive(struct walk *w, struct tail_file *f, const struct stat *st)
{
    struct serve_engine *e = w->e;
    struct tail *t = w->t;
    struct event_reader_opts o;
    event_reader_opts_init(&o);
    o.want_time = true;
    struct event_stats es;
    memset(&es, 0, sizeof(es));
    struct archive_ctx a = {e, t->source, w->now_ms};
    event_read_path(f->path, &o, on_archive_event, &a, &es);
    e->sources[t->source].bad += es.bad_json + es.bad_utf8 + es.bad_nul + es.too_big + es.too_deep +
                                 es.bad_gzip + es.bad_file;
    f->offset = (uint64_t)st->st_size;
    f->dirty = true;
    e->dirty = true;
    w->budget = (uint64_t)st->st_size >= w->budget ? 0 : w->budget - (size_t)st->st_size;
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

/* Reads what f has for us. Returns true when f needs another look without a
 * new inotify event: an archive waiting to settle, or lines left unread
 * because the budget ran out. */
/* FNV-1a over the first len bytes of path; false when they cannot be read. */
static bool head_hash(const char *path, uint32_t len, uint64_t *out)
{
    unsigned char buf[TAIL_HEAD_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = pread(fd, buf, len, 0);
    close(fd);
    if (n != (ssize_t)len)
        return false;
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ buf[i]) * 1099511628211ULL;
    *out = h;
    return true;
}

/* Remembers f's first bytes once it has some (its identity for rotation). */
static void note_head(struct tail_file *f, const struct stat *st)
{
    if (f->head_len || f->archive || st->st_size <= 0)
        return;
    uint32_t len = st->st_size < TAIL_HEAD_BYTES ? (uint32_t)st->st_size : TAIL_HEAD_BYTES;
    if (head_hash(f->path, len, &f->head_hash))
        f->head_len = len;
}

/* Does the file at path start with the bytes whose hash we kept? */
static bool same_head(const char *path, uint64_t hash, uint32_t len)
{
    uint64_t h;
    return len && head_hash(path, len, &h) && h == hash;
}

/*
 * A log rotated by rename (app.log -> app.log.1, a new app.log) shows up as
 * a new name holding an inode we were following under its old name. The new
 * name takes over the old position, so the rotated lines are not counted
 * twice, and the old name starts over (it holds a new file now). The two
 * halves can come in either order: the rotated name first (the old entry
 * still holds the inode), or the old name first (its position was kept as
 * an orphan). A rotated file is recognised by its inode AND its first bytes
 * (an inode number is reused at once after a deletion), and both halves
 * must be recent (TAIL_ROTATE_MS). A hard link (the old name still holds
 * the inode) is not a rotation. Line files only: archives are read whole.
 */
static bool adopt_rotated(struct tail *t, struct tail_file *f, const struct stat *st,
                          int64_t now_ms)
{
    if (ends_with(f->path, ".gz") || ends_with(f->path, ".json"))
        return false;
    uint64_t offset = 0;
    uint64_t hh = 0;
    uint32_t hl = 0;
    bool skip = false, found = false;
    for (size_t i = 0; i < t->n && !found; i++) {
        struct tail_file *o = &t->files[i];
        if (o == f || o->ino != st->st_ino || o->archive || o->offset == 0 ||
            now_ms - o->seen_ms > TAIL_ROTATE_MS || !same_head(f->path, o->head_hash, o->head_len))
            continue;
        struct stat ost;
        if (lstat(o->path, &ost) == 0 && ost.st_ino == st->st_ino)
            return false; /* still there: a link, not a rename */
        offset = o->offset;
        skip = o->skip_line;
        hh = o->head_hash;
        hl = o->head_len;
        found = true;
        o->ino = 0; /* its name is a new file from now on */
        o->offset = 0;
        o->skip_line = false;
        o->head_len = 0;
        o->dirty = true;
    }
    struct tail_watch *w = t->w;
    for (size_t i = 0; i < TAIL_ORPHANS && !found; i++) {
        struct tail_orphan *o = &w->orphans[i];
        if (o->ino != st->st_ino || o->offset == 0 || now_ms - o->at_ms > TAIL_ROTATE_MS ||
            !same_head(f->path, o->head_hash, o->head_len))
            continue;
        offset = o->offset;
        skip = o->skip_line;
        hh = o->head_hash;
        hl = o->head_len;
        found = true;
        o->offset = 0;
    }
    if (!found || offset > (uint64_t)st->st_size)
        return false;
    f->ino = st->st_ino;
    f->offset = offset;
    f->skip_line = skip;
    f->head_hash = hh;
    f->head_len = hl;
    f->typed = true;
    f->archive = false;
    f->dirty = true;
    return true;
}

static bool visit_file(struct walk *w, struct tail_file *f, const struct stat *st)
{
    if (f->ino != st->st_ino && f->ino != 0 && !f->archive && f->offset > 0) {
        /* this name holds a new file: remember where the old one was */
        struct tail_orphan *o = &w->t->w->orphans[w->t->w->next_orphan++ % TAIL_ORPHANS];
        *o = (struct tail_orphan){f->ino,      f->offset,    f->head_hash,
                                  f->head_len, f->skip_line, w->now_ms};
    }
    bool adopted = f->ino != st->st_ino && adopt_rotated(w->t, f, st, w->now_ms);
    f->seen_ms = w->now_ms;
    if (adopted) {
        /* position carried over from the name it was renamed from */
    } else if (f->ino != st->st_ino || (uint64_t)st->st_size < f->offset) {
        /* new, rotated or truncated: a new file under this name */
        f->ino = st->st_ino;
        f->offset = 0;
        f->skip_line = false;
        f->head_len = 0;
        f->size_seen = -1;
        f->typed = false;
        f->dirty = true;
    }
    if (!f->typed) {
        /* a .json file's kind is in its first bytes: wait until it has some */
        if (st->st_size == 0)
            return false;
        f->archive = ends_with(f->path, ".gz") || records_file(f->path);
        f->typed = true;
    }
    if (!f->archive)
        note_head(f, st);
    if (f->archive) {
        if (f->offset != 0 || st->st_size == 0)
            return false;
        if (w->budget == 0)
            return true;
        if (f->closed) {
            read_archive(w, f, st);
            return false;
        }
        if (f->writing && w->t->w->fd >= 0 && !w->t->w->degraded)
            return false; /* its IN_CLOSE_WRITE will bring it back */
        /* not seen being written: read once its size has held */
        if (st->st_size != f->size_seen) {
            f->size_seen = st->st_size;
            f->size_ms = w->now_ms;
            return true;
        }
        if (w->now_ms - f->size_ms < TAIL_SETTLE_MS)
            return true;
        read_archive(w, f, st);
        return false;
    }
    if ((uint64_t)st->st_size <= f->offset)
        return false;
    if (w->budget == 0)
        return true;
    size_t used = read_lines(w->e, w->t, f, st, w->buf, w->now_ms, w->budget);
    w->budget = used >= w->budget ? 0 : w->budget - used;
    return w->budget == 0 && (uint64_t)st->st_size > f->offset;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(struct walk *w, const char *dir, unsigned depth)
{
    if (depth > TAIL_MAX_DEPTH)
        return;
    /* watch before listing: a file created in between is seen by one or the
     * other */
    watch_dir(w->e, w->t, dir, depth);
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
            free(names[i]);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, p.data, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            struct tail_file *f = find_file(w->t, p.data);
            if (!f && w->budget > 0)
                f = add_file(w->t, p.data);
            if (f && visit_file(w, f, &st))
                push_pending(w->t, f);
        }
        ks_buf_release(&p);
        free(names[i]);
    }
    free(names);
}

/* Visits the files inotify named, in path order (as a walk would). */
static void run_pending(struct walk *w)
{
    struct tail *t = w->t;
    struct tail_watch *tw = t->w;
    size_t n = tw->npending;
    if (!n)
        return;
    size_t *list = tw->pending;
    tw->pending = NULL;
    tw->npending = tw->cpending = 0;
    struct tail_file *files = t->files;
    for (size_t i = 0; i < n; i++)
        files[list[i]].pending = false;
    /* insertion sort by path: the list is short between two polls */
    for (size_t i = 1; i < n; i++) {
        size_t v = list[i], k = i;
        while (k && strcmp(files[list[k - 1]].path, files[v].path) > 0) {
            list[k] = list[k - 1];
            k--;
        }
        list[k] = v;
    }
    for (size_t i = 0; i < n; i++) {
        struct tail_file *f = &t->files[list[i]];
        struct stat st;
        if (stat(f->path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* gone: the walk forgets nothing, a new file is a new inode */
        if (visit_file(w, f, &st))
            push_pending(t, f);
    }
    free(list);
}

void serve_engine_poll_tails(struct serve_engine *e, int64_t now_ms, size_t max_bytes)
{
    if (!e->ntails)
        return;
    char *buf = ks_xmalloc(TAIL_CHUNK);
    serve_engine_lock(e);
    for (size_t i = 0; i < e->ntails; i++) {
        struct tail *t = &e->tails[i];
        struct tail_watch *tw = t->w;
        struct walk w = {e, t, buf, now_ms, max_bytes};
        bool inotify = tw->fd >= 0 && !tw->degraded;
        tw->urgent = false;
        if (tw->fd >= 0)
            drain(t);
        /* a new directory may already hold files written before its watch */
        for (size_t k = 0; k < tw->nnew; k++) {
            if (inotify && !tw->rescan && w.budget > 0) {
                const char *p = tw->newdirs[k];
                unsigned depth = 0;
                for (const char *c = p + strlen(t->dir); *c; c++)
                    depth += *c == '/';
                walk_dir(&w, p, depth);
            } else {
                tw->rescan = true;
            }
            free(tw->newdirs[k]);
        }
        tw->nnew = 0;
        run_pending(&w);
        if (!inotify || tw->rescan || now_ms >= tw->next_rescan) {
            tw->rescan = false;
            walk_dir(&w, t->dir, 0);
            tw->next_rescan = now_ms + TAIL_RESCAN_MS;
        }
        /* out of budget: continue at once, not at the next rescan */
        if (w.budget == 0) {
            tw->rescan = true;
            tw->urgent = true;
        }
    }
    serve_engine_unlock(e);
    free(buf);
}

int serve_engine_tail_wait(struct serve_engine *e, int timeout_ms)
{
    struct pollfd fds[SERVE_MAX_SOURCES];
    nfds_t n = 0;
    bool now = false;
    serve_engine_lock(e);
    for (size_t i = 0; i < e->ntails && n < KS_ARRAY_LEN(fds); i++) {
        const struct tail_watch *w = e->tails[i].w;
        now |= w->urgent;
        if (w->fd >= 0)
            fds[n++] = (struct pollfd){.fd = w->fd, .events = POLLIN};
    }
    serve_engine_unlock(e);
    if (now)
        return 1;
    /* EINTR (a stop signal) returns at once, as the nanosleep it replaces */
    return poll(fds, n, timeout_ms) > 0;
}
