/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where accepted messages go: a bounded ring in memory (readers get deep
 * copies, so the sink thread may evict while they read), and the optional
 * Maildir-like folder. A file appears in new/ only complete: it is written
 * under tmp/ and renamed, so a reader watching new/ never sees half a message.
 */
#include "mailsink/mailsink_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void mailsink_store_init(struct mailsink_store *st, size_t keep, size_t max_bytes)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits survive wall-clock jumps */
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    st->cap = keep > MAILSINK_KEEP_CAP ? MAILSINK_KEEP_CAP : keep ? keep : 1;
    st->ring = ks_xcalloc(st->cap, sizeof(*st->ring));
    st->max_bytes = max_bytes;
}

void mailsink_store_release(struct mailsink_store *st)
{
    for (size_t i = 0; i < st->n; i++)
        mailsink_message_free(st->ring[(st->head + i) % st->cap]);
    free(st->ring);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
}

static void evict_oldest(struct mailsink_store *st)
{
    struct mailsink_message *old = st->ring[st->head];
    st->bytes -= old->raw_len;
    mailsink_message_free(old);
    st->ring[st->head] = NULL;
    st->head = (st->head + 1) % st->cap;
    st->n--;
}

void mailsink_store_add(struct mailsink_store *st, struct mailsink_message *m)
{
    pthread_mutex_lock(&st->mu);
    /* the newest message always stays, even alone above max_bytes: a waiter
     * woken for it must find it */
    while (st->n && (st->n == st->cap || st->bytes + m->raw_len > st->max_bytes))
        evict_oldest(st);
    st->ring[(st->head + st->n) % st->cap] = m;
    st->n++;
    st->bytes += m->raw_len;
    st->total = m->seq;
    st->st.messages++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mailsink_write_file(const char *dir, struct mailsink_message *m)
{
    struct ks_buf hdr;
    ks_buf_init(&hdr, 1u << 24);
    /* what a local delivery agent adds, so the file alone tells who it was
     * for; addresses were screened for CR/LF on the way in */
    enum ks_err e = ks_buf_addf(&hdr, "Return-Path: <%s>\r\n", m->from);
    for (size_t i = 0; i < m->n_rcpt && !e; i++)
        e = ks_buf_addf(&hdr, "Delivered-To: %s\r\n", m->rcpt[i]);
    char name[96], tmp[4200], fin[4200];
    snprintf(name, sizeof(name), "%lld.%ld.%llu.eml", (long long)m->time_ms, (long)getpid(),
             (unsigned long long)m->seq);
    int n1 = snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
    int n2 = snprintf(fin, sizeof(fin), "%s/new/%s", dir, name);
    if (e || n1 < 0 || (size_t)n1 >= sizeof(tmp) || n2 < 0 || (size_t)n2 >= sizeof(fin)) {
        ks_buf_release(&hdr);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ks_buf_release(&hdr);
        return -1;
    }
    int rc = write_all(fd, hdr.data, hdr.len) || write_all(fd, m->raw, m->raw_len) ? -1 : 0;
    int saved = errno;
    ks_buf_release(&hdr);
    if (close(fd) && !rc) {
        rc = -1;
        saved = errno;
    }
    if (!rc && rename(tmp, fin)) {
        rc = -1;
        saved = errno;
    }
    if (rc) {
        unlink(tmp);
        errno = saved;
        return -1;
    }
    m->path = ks_xstrdup(fin);
    return 0;
}

static int make_dir(const char *path, struct ks_diag *diag)
{
    struct stat sb;
    if (mkdir(path, 0700) && errno != EEXIST) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode)) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "'%s' is not a directory", path);
        return -1;
    }
    return 0;
}

int mailsink_prepare_dir(const char *dir, struct ks_diag *diag)
{
    static const char *const sub[] = {"tmp", "new", "cur"};
    if (strlen(dir) > 4000) {
        ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "mail folder path too long");
        return -1;
    }
    if (make_dir(dir, diag))
        return -1;
    for (size_t i = 0; i < KS_ARRAY_LEN(sub); i++) {
        char p[4100];
        snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
        if (make_dir(p, diag))
            return -1;
    }
    return 0;
}
