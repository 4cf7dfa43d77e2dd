/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alarm history (spec §7): the newest `max` items of one alarm in a ring,
 * each with the HistorySummary and HistoryData texts AWS writes. Memory per
 * alarm is bounded by max items; items are small (a StateUpdate is capped at
 * ALARM_HISTORY_DATA_MAX bytes of data), Action items carry the caller's
 * published message. Persisting history beyond the ring (AWS keeps two
 * weeks, and history outlives the alarm) is the store's job.
 */
#include "alarm/alarm_int.h"

struct hist_item {
    struct alarm_history_item pub;
    char *summary;
    char *data;
};

struct alarm_history {
    char *name;
    enum alarm_type type;
    size_t max;
    struct hist_item *items; /* ring of cap slots; oldest at head once full */
    size_t cap;
    size_t head;
    size_t count;
};

struct alarm_history *alarm_history_new(const char *name, enum alarm_type type, size_t max)
{
    struct alarm_history *h = ks_xcalloc(1, sizeof(*h));
    h->name = ks_xstrdup(name);
    h->type = type;
    h->max = max ? max : ALARM_HISTORY_DEFAULT;
    return h;
}

static void item_release(struct hist_item *it)
{
    free(it->summary);
    free(it->data);
    memset(it, 0, sizeof(*it));
}

void alarm_history_free(struct alarm_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->count; i++)
        item_release(&h->items[(h->head + i) % h->cap]);
    free(h->items);
    free(h->name);
    free(h);
}

size_t alarm_history_count(const struct alarm_history *h)
{
    return h->count;
}

const struct alarm_history_item *alarm_history_at(const struct alarm_history *h, size_t i)
{
    if (i >= h->count)
        return NULL;
    return &h->items[(h->head + i) % h->cap].pub;
}

/* Makes the ring a plain array (oldest at 0) with room for `cap` items. */
static void relayout(struct alarm_history *h, size_t cap)
{
    struct hist_item *n = ks_xcalloc(cap, sizeof(*n));
    for (size_t i = 0; i < h->count; i++)
        n[i] = h->items[(h->head + i) % h->cap];
    free(h->items);
    h->items = n;
    h->cap = cap;
    h->head = 0;
}

void alarm_history_set_max(struct alarm_history *h, size_t max)
{
    max = max ? max : ALARM_HISTORY_DEFAULT;
    while (h->count > max) {
        item_release(&h->items[h->head]);
        h->head = (h->head + 1) % h->cap;
        h->count--;
    }
    h->max = max;
    if (h->cap > max || (h->cap && h->head != 0))
        relayout(h, h->count ? h->count : 1);
}

void alarm_history_add(struct alarm_history *h, int64_t ts, enum alarm_history_type type,
                       const char *summary, const char *data)
{
    struct hist_item *it;
    if (h->count == h->max) {
        /* Full: the oldest item makes room. */
        it = &h->items[h->head];
        item_release(it);
        h->head = (h->head + 1) % h->cap;
    } else {
        if (h->count == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 8;
            relayout(h, cap < h->max ? cap : h->max);
        }
        it = &h->items[(h->head + h->count) % h->cap];
        h->count++;
    }
    it->summary =
        ks_xmemdup(summary, alarm_utf8_cut(summary, strlen(summary), ALARM_HISTORY_SUMMARY_MAX));
    it->data = ks_xstrdup(data);
    it->pub.alarm_name = h->name;
    it->pub.alarm_type = h->type;
    it->pub.timestamp_ms = ts;
    it->pub.type = type;
    it->pub.summary = it->summary;
    it->pub.data = it->data;
}

static void write_state(struct alarm_w *w, enum alarm_state s, const char *reason, const char *data)
{
    aw_raw(w, "{\"stateValue\":");
    aw_jstr(w, alarm_state_name(s));
    aw_raw(w, ",\"stateReason\":");
    aw_jstr(w, reason);
    /* StateReasonData is embedded as an object, not as a string (spec §7). */
    if (data && *data) {
        aw_raw(w, ",\"stateReasonData\":");
        aw_raw(w, data);
    }
    aw_raw(w, "}");
}

void alarm_history_add_state(struct alarm_history *h, int64_t ts, enum alarm_state old_state,
                             const char *old_reason, const char *old_data,
                             enum alarm_state new_state, const char *new_reason,
                             const char *new_data)
{
    struct ks_buf b;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    /* HistoryData is limited to 4095 bytes; two reason-data documents of up
     * to 4000 bytes each do not fit, so drop the old state's first, then the
     * new state's [I]. */
    for (int drop = 0; drop < 3; drop++) {
        struct alarm_w w = {&b, KS_OK};
        ks_buf_reset(&b);
        aw_raw(&w, "{\"version\":\"1.0\",\"oldState\":");
        write_state(&w, old_state, old_reason, drop >= 1 ? NULL : old_data);
        aw_raw(&w, ",\"newState\":");
        write_state(&w, new_state, new_reason, drop >= 2 ? NULL : new_data);
        aw_raw(&w, "}");
        if (!w.err && b.len <= ALARM_HISTORY_DATA_MAX)
            break;
    }
    char summary[64];
    snprintf(summary, sizeof(summary), "Alarm updated from %s to %s", alarm_state_name(old_state),
             alarm_state_name(new_state));
    alarm_history_add(h, ts, ALARM_HISTORY_STATE_UPDATE, summary, b.data);
    ks_buf_release(&b);
}

void alarm_history_add_action(struct alarm_history *h, int64_t now_ms, const char *arn,
                              int64_t state_update_ms, const char *published, const char *error)
{
    struct ks_buf b, s;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    ks_buf_init(&s, ALARM_TEXT_CAP);
    struct alarm_w w = {&b, KS_OK}, ws = {&s, KS_OK};
    aw_raw(&w, error ? "{\"actionState\":\"Failed\"" : "{\"actionState\":\"Succeeded\"");
    aw_fmt(&w,
           ",\"stateUpdateTimestamp\":%lld,\"notificationResource\":", (long long)state_update_ms);
    aw_jstr(&w, arn);
    aw_raw(&w, ",\"publishedMessage\":");
    aw_jstr(&w, published);
    aw_raw(&w, ",\"error\":");
    aw_jstr(&w, error);
    aw_raw(&w, "}");
    if (w.err) {
        /* A published message beyond 1 MiB: keep the item, drop the copy. */
        ks_buf_reset(&b);
        w.err = KS_OK;
        aw_raw(&w, error ? "{\"actionState\":\"Failed\"" : "{\"actionState\":\"Succeeded\"");
        aw_fmt(&w, ",\"stateUpdateTimestamp\":%lld,\"notificationResource\":",
               (long long)state_update_ms);
        aw_jstr(&w, arn);
        aw_raw(&w, ",\"publishedMessage\":null,\"error\":");
        aw_jstr(&w, error);
        aw_raw(&w, "}");
    }
    aw_raw(&ws, error ? "Failed to execute action " : "Successfully executed action ");
    aw_raw(&ws, arn);
    alarm_history_add(h, now_ms, ALARM_HISTORY_ACTION, s.data, b.data);
    ks_buf_release(&b);
    ks_buf_release(&s);
}

void alarm_history_add_config(struct alarm_history *h, int64_t ts, bool create,
                              const char *old_json, const char *new_json)
{
    struct ks_buf b, s;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    ks_buf_init(&s, ALARM_TEXT_CAP);
    struct alarm_w w = {&b, KS_OK}, ws = {&s, KS_OK};
    if (create) {
        aw_raw(&w, "{\"version\":\"1.0\",\"type\":\"Create\",\"createdAlarm\":");
        aw_raw(&w, new_json);
    } else {
        aw_raw(&w, "{\"version\":\"1.0\",\"type\":\"Update\",\"originalAlarm\":");
        aw_raw(&w, old_json);
        aw_raw(&w, ",\"updatedAlarm\":");
        aw_raw(&w, new_json);
    }
    aw_raw(&w, "}");
    aw_raw(&ws, "Alarm \"");
    aw_raw(&ws, h->name);
    aw_raw(&ws, create ? "\" created" : "\" updated");
    alarm_history_add(h, ts, ALARM_HISTORY_CONFIGURATION_UPDATE, s.data, b.data);
    ks_buf_release(&b);
    ks_buf_release(&s);
}
