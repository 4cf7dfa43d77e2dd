/* SPDX-License-Identifier: Apache-2.0 */
/* The local KMS service as one unit (kms_server.h, "Host"). */
#include "kms/kms_server.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct kms_host {
    struct kms_principals *principals;
    struct kms_trail *trail;
    struct kms_service *svc;
    struct kms_server *srv;
    struct kms_trail_service_events sev;
    char *account, *region, *event_version;
    char *principals_path, *trail_dir;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Puts what failed in front of the callee's message. */
static enum ks_err prefixed(struct ks_diag *d, enum ks_err err, const char *what)
{
    char m[sizeof(d->msg)];
    snprintf(m, sizeof(m), "%s", d->msg);
    ks_diag_set(d, err, SIZE_MAX, "%s: %s", what, m);
    return err;
}

static char *path_join(const char *dir, const char *name)
{
    struct ks_buf b;
    ks_buf_init(&b, 8192);
    if (ks_buf_addf(&b, "%s/%s", dir, name) != KS_OK) {
        ks_buf_release(&b);
        return NULL;
    }
    return b.data;
}

enum ks_err kms_host_open(const struct kms_host_options *o, struct kms_host **out,
                          struct ks_diag *d)
{
    *out = NULL;
    if (!o->data_dir || !*o->data_dir)
        return ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "the KMS service needs a data directory");
    if (mkdir(o->data_dir, 0700) != 0 && errno != EEXIST)
        return ks_diag_set(d, KS_E_IO, SIZE_MAX, "cannot create data directory '%s': %s",
                           o->data_dir, strerror(errno));
    FILE *log = o->log ? o->log : stderr;
    struct kms_host *h = ks_xcalloc(1, sizeof(*h));
    h->account = ks_xstrdup(o->account ? o->account : "111122223333");
    h->region = ks_xstrdup(o->region ? o->region : "us-east-1");
    h->event_version = o->event_version ? ks_xstrdup(o->event_version) : NULL;
    char *key = path_join(o->data_dir, "trail-digest-key.pem");
    char *pub = path_join(o->data_dir, "trail-digest-public.pem");
    char *state = path_join(o->data_dir, "trail-state.json");
    h->principals_path = o->principals_path ? ks_xstrdup(o->principals_path)
                                            : path_join(o->data_dir, "principals.json");
    h->trail_dir = o->trail_dir ? ks_xstrdup(o->trail_dir) : path_join(o->data_dir, "trail");
    enum ks_err err = KS_OK;
    if (!key || !pub || !state || !h->principals_path || !h->trail_dir) {
        err = ks_diag_set(d, KS_E_INVALID, SIZE_MAX, "data directory path too long");
        goto out;
    }
    if (!o->principals_path && access(h->principals_path, F_OK) != 0) {
        char akid[21];
        if ((err = kms_principals_create(h->principals_path, h->account, akid, d)) != KS_OK)
            goto out;
        fprintf(log,
                "keysentry: created %s (mode 0600) with one admin principal\n"
                "keysentry:   access key id %s; the secret is in that file\n",
                h->principals_path, akid);
    }
    if ((err = kms_principals_load(h->principals_path, wall_ms() / 1000, &h->principals, d)) !=
        KS_OK) {
        prefixed(d, err, h->principals_path);
        goto out;
    }
    struct kms_trail_options to = {
        .dir = h->trail_dir,
        .bucket = o->trail_bucket,
        .account = h->account,
        .region = h->region,
        .trail_name = o->trail_name,
        .key_path = key,
        .pubkey_path = pub,
        .state_path = state,
        .flush_ms = o->flush_ms,
        .max_records = o->max_records,
        .digest_s = o->digest_s,
        .gzip_level = 1, /* fastest: records compress well anyway */
        .on_record = o->on_record,
        .on_record_ud = o->on_record_ud,
    };
    if ((err = kms_trail_open(&to, &h->trail, d)) != KS_OK) {
        prefixed(d, err, "cannot open the trail");
        goto out;
    }
    /* The trail opens first: the service reports DeleteKey/RotateKey
     * service events into it from its first tick on. */
    h->sev = (struct kms_trail_service_events){.trail = h->trail,
                                               .account = h->account,
                                               .region = h->region,
                                               .event_version = h->event_version};
    struct kms_options ko = {.data_dir = o->data_dir,
                             .region = h->region,
                             .account = h->account,
                             .time_scale = o->time_scale > 0 ? o->time_scale : 1.0,
                             .authz_off = o->authz_off,
                             .lenient_aliases = o->lenient_aliases,
                             .on_service_event = kms_trail_service_event,
                             .service_event_ctx = &h->sev};
    if ((err = kms_service_open(&ko, &h->svc, d)) != KS_OK) {
        prefixed(d, err, "cannot open the key store");
        goto out;
    }
    struct kms_server_options so = {
        .svc = h->svc,
        .principals = h->principals,
        .trail = h->trail,
        .listen = o->listen ? o->listen : KMS_DEFAULT_LISTEN,
        .allow_remote = o->allow_remote,
        .threads = o->threads,
        .region = h->region,
        .account = h->account,
        .event_version = h->event_version,
        .max_skew = o->max_skew,
        .trail_auth_failures = o->trail_auth_failures,
        .debug_signatures = o->debug_signatures,
    };
    if ((err = kms_server_new(&so, &h->srv, d)) != KS_OK ||
        (err = kms_server_start(h->srv, d)) != KS_OK)
        goto out;
out:
    free(key);
    free(pub);
    free(state);
    if (err != KS_OK) {
        (void)kms_host_close(h, 0, NULL);
        return err;
    }
    *out = h;
    return KS_OK;
}

uint16_t kms_host_port(const struct kms_host *h)
{
    return kms_server_port(h->srv);
}

const struct kms_principals *kms_host_principals(const struct kms_host *h)
{
    return h->principals;
}

const char *kms_host_principals_path(const struct kms_host *h)
{
    return h->principals_path;
}

const char *kms_host_trail_dir(const struct kms_host *h)
{
    return h->trail_dir;
}

void kms_host_tick(struct kms_host *h, int64_t now_ms)
{
    kms_service_tick(h->svc, now_ms);
}

void kms_host_get_stats(struct kms_host *h, struct kms_server_stats *out)
{
    kms_server_get_stats(h->srv, out);
}

enum ks_err kms_host_close(struct kms_host *h, unsigned timeout_ms, struct kms_server_stats *final)
{
    if (!h)
        return KS_OK;
    if (h->srv)
        kms_server_stop(h->srv, timeout_ms);
    if (final) {
        memset(final, 0, sizeof(*final));
        if (h->srv)
            kms_server_get_stats(h->srv, final);
    }
    /* the service before the trail: nothing reports into it after it closes */
    kms_service_close(h->svc);
    enum ks_err err = kms_trail_close(h->trail);
    kms_server_free(h->srv);
    kms_principals_free(h->principals);
    free(h->account);
    free(h->region);
    free(h->event_version);
    free(h->principals_path);
    free(h->trail_dir);
    free(h);
    return err;
}
