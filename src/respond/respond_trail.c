/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: keysentry's own trail of what its responses did.
 *
 * One CloudTrail-shaped record per action, blocked action, dry run and
 * revert (spec/cloudtrail-kms-events.md §1.1, with eventSource
 * "keysentry.local" and eventName "Respond<Op>"), as NDJSON, so the same
 * metric filters and tools that read CloudTrail can read it. Each record is
 * one write(2) on an O_APPEND descriptor followed by fdatasync: a crash never
 * leaves half a line between two whole ones, and a record that was reported
 * is on disk. With a directory, records go to one file per UTC day.
 */
#include "respond/respond_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct respond_trail {
    char *path;
    bool is_dir;
    pthread_mutex_t mu;
};

enum ks_err respond_trail_open(const char *path, struct respond_trail **out, struct ks_diag *diag)
{
    *out = NULL;
    struct stat st;
    bool is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (!is_dir) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open trail file '%s': %s", path,
                               strerror(errno));
        close(fd);
    }
    struct respond_trail *t = ks_xcalloc(1, sizeof(*t));
    t->path = ks_xstrdup(path);
    t->is_dir = is_dir;
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return KS_OK;
}

void respond_trail_close(struct respond_trail *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t);
}

static json_t *borrowed(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

enum ks_err respond_trail_render(const struct respond_trail_event *ev, struct ks_buf *out)
{
    char when[21], event_id[37], req_id[37];
    respond_iso8601(ev->time_ms, when);
    respond_uuid4(event_id);
    json_t *ident = json_pack("{s:s, s:s, s:s}", "type", "AWSService", "invokedBy",
                              RESPOND_EVENT_SRC, "accountId", ev->account ? ev->account : "");
    if (ev->access_key_id)
        json_object_set_new(ident, "accessKeyId", json_string(ev->access_key_id));
    /* Field order of spec §1.1. */
    json_t *rec = json_object();
    json_object_set_new(rec, "eventVersion", json_string("1.10"));
    json_object_set_new(rec, "userIdentity", ident);
    json_object_set_new(rec, "eventTime", json_string(when));
    json_object_set_new(rec, "eventSource", json_string(RESPOND_EVENT_SRC));
    json_object_set_new(rec, "eventName", json_string(ev->event_name));
    json_object_set_new(rec, "awsRegion", json_string(ev->region ? ev->region : ""));
    json_object_set_new(rec, "sourceIPAddress", json_string(RESPOND_EVENT_SRC));
    json_object_set_new(rec, "userAgent", json_string(RESPOND_USER_AGENT));
    if (ev->error_code) {
        json_object_set_new(rec, "errorCode", json_string(ev->error_code));
        if (ev->error_message && *ev->error_message)
            json_object_set_new(rec, "errorMessage", json_string(ev->error_message));
    }
    json_object_set_new(rec, "requestParameters", borrowed(ev->request_parameters));
    json_object_set_new(rec, "responseElements",
                        ev->error_code ? json_null() : borrowed(ev->response_elements));
    if (ev->additional_event_data)
        json_object_set_new(rec, "additionalEventData", json_incref(ev->additional_event_data));
    if (!ev->request_id || !*ev->request_id)
        respond_uuid4(req_id);
    json_object_set_new(rec, "requestID",
                        json_string(ev->request_id && *ev->request_id ? ev->request_id : req_id));
    json_object_set_new(rec, "eventID", json_string(event_id));
    json_object_set_new(rec, "readOnly", json_false());
    if (ev->resources)
        json_object_set_new(rec, "resources", json_incref(ev->resources));
    json_object_set_new(rec, "eventType", json_string("AwsServiceEvent"));
    json_object_set_new(rec, "managementEvent", json_true());
    json_object_set_new(rec, "recipientAccountId", json_string(ev->account ? ev->account : ""));
    json_object_set_new(rec, "eventCategory", json_string("Management"));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!text)
        return KS_E_INVALID;
    enum ks_err e = ks_buf_add(out, text, strlen(text));
    free(text);
    return e;
}

enum ks_err respond_trail_write(struct respond_trail *t, const struct respond_trail_event *ev,
                                struct ks_diag *diag)
{
    if (!t)
        return KS_OK;
    struct ks_buf line;
    ks_buf_init(&line, 256u << 10); /* CloudTrail's record cap */
    enum ks_err e = respond_trail_render(ev, &line);
    if (!e)
        e = ks_buf_add(&line, "\n", 1);
    if (e) {
        ks_buf_release(&line);
        return ks_diag_set(diag, e, SIZE_MAX, "cannot render a trail record for %s",
                           ev->event_name);
    }
    char path[4200];
    if (t->is_dir) {
        char when[21];
        respond_iso8601(ev->time_ms, when);
        snprintf(path, sizeof(path), "%s/keysentry-respond-%.4s%.2s%.2s.ndjson", t->path, when,
                 when + 5, when + 8);
    } else {
        snprintf(path, sizeof(path), "%s", t->path);
    }
    pthread_mutex_lock(&t->mu);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot open trail file '%s': %s", path,
                        strerror(errno));
    } else {
        size_t off = 0;
        while (off < line.len) {
            ssize_t w = write(fd, line.data + off, line.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot write trail file '%s': %s", path,
                                strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        if (!e && fdatasync(fd) != 0)
            e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot sync trail file '%s': %s", path,
                            strerror(errno));
        close(fd);
    }
    pthread_mutex_unlock(&t->mu);
    ks_buf_release(&line);
    return e;
}
