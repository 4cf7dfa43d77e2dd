/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/mailsink: the message store shared by the SMTP loop and the
 * readers on other threads. */
#ifndef KS_MAILSINK_INT_H
#define KS_MAILSINK_INT_H

#include <pthread.h>

#include "mailsink/mailsink.h"

#define MAILSINK_KEEP_CAP 65536u /* keep_messages is clamped to this */

struct mailsink_store {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on each new message; CLOCK_MONOTONIC */
    struct mailsink_message **ring;
    size_t cap, head, n; /* oldest at ring[head] */
    size_t bytes, max_bytes;
    uint64_t total; /* seq of the newest; written by the sink thread only */
    struct mailsink_stats st;
};

void mailsink_store_init(struct mailsink_store *st, size_t keep, size_t max_bytes);
void mailsink_store_release(struct mailsink_store *st);
/* Takes m (its seq must be total + 1), evicting the oldest as the bounds say. */
void mailsink_store_add(struct mailsink_store *st, struct mailsink_message *m);

/* Writes m into dir as Maildir does (tmp/ then rename into new/); sets
 * m->path. Returns 0, or -1 with errno. */
int mailsink_write_file(const char *dir, struct mailsink_message *m);
/* Creates dir, dir/tmp, dir/new and dir/cur (0700) when missing. */
int mailsink_prepare_dir(const char *dir, struct ks_diag *diag);

#endif
