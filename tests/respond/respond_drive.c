/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond-drive: runs one response (or the due reverts) from a template, for
 * shell tests against real services (keysentry kms serve).
 *
 *   respond-drive -c TEMPLATE --db DB [--trail PATH] [--time-scale X] [--dry-run]
 *                 [--action A [--trigger T] [--key K]... [--principal P]...]
 *                 [--wait-reverts MS]
 *
 * Credentials and endpoints come from the environment as in the daemon.
 * Prints one JSON object: {"status":N,"summary":...,"error":...,"pending":N}.
 * Exit 0 when it ran (whatever the status), 1 on setup errors, 3 when
 * --wait-reverts timed out with reverts pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "respond/respond.h"

static void usage(void)
{
    fputs("usage: respond-drive -c TEMPLATE --db DB [--trail PATH] [--time-scale X] [--dry-run]\n"
          "       [--action A [--trigger T] [--key K]... [--principal P]...] [--wait-reverts MS]\n",
          stderr);
    exit(1);
}

static void print_json_string(const char *s)
{
    json_t *j = json_string(s ? s : "");
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    fputs(t ? t : "\"\"", stdout);
    free(t);
    json_decref(j);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool number(const char *s, double *out)
{
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    bool ok = json_is_number(j);
    if (ok)
        *out = json_number_value(j);
    json_decref(j);
    return ok;
}

int main(int argc, char **argv)
{
    const char *tmpl = NULL, *action = NULL, *trigger = NULL;
    const char *keys[64], *principals[64];
    size_t nk = 0, np = 0;
    double wait_ms = -1;
    struct respond_options o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) {
            o.dry_run = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "-c") == 0)
            tmpl = v;
        else if (strcmp(a, "--db") == 0)
            o.db_path = v;
        else if (strcmp(a, "--trail") == 0)
            o.trail_path = v;
        else if (strcmp(a, "--time-scale") == 0) {
            if (!number(v, &o.time_scale))
                usage();
        } else if (strcmp(a, "--action") == 0)
            action = v;
        else if (strcmp(a, "--trigger") == 0)
            trigger = v;
        else if (strcmp(a, "--key") == 0 && nk < 64)
            keys[nk++] = v;
        else if (strcmp(a, "--principal") == 0 && np < 64)
            principals[np++] = v;
        else if (strcmp(a, "--wait-reverts") == 0) {
            if (!number(v, &wait_ms))
                usage();
        } else
            usage();
    }
    if (!tmpl || !o.db_path)
        usage();
    struct ks_diag d;
    ks_diag_clear(&d);
    struct config_template *t;
    if (config_template_load(tmpl, NULL, &t, &d)) {
        fprintf(stderr, "respond-drive: %s: %s\n", tmpl, d.msg);
        return 1;
    }
    struct respond *r;
    if (respond_new(t, &o, &r, &d)) {
        fprintf(stderr, "respond-drive: %s\n", d.msg);
        config_template_free(t);
        return 1;
    }
    int rc = 0;
    struct respond_result res;
    respond_result_init(&res);
    if (action) {
        struct respond_context ctx = {0};
        ctx.keys = keys;
        ctx.n_keys = nk;
        ctx.principals = principals;
        ctx.n_principals = np;
        ctx.trigger_id = trigger;
        (void)respond_execute(
            r, action, "{\"AlarmName\":\"respond-drive\",\"NewStateValue\":\"ALARM\"}", &ctx, &res);
    }
    if (wait_ms >= 0) {
        int64_t end = mono_ms() + (int64_t)wait_ms;
        while (respond_pending_reverts(r) > 0 && mono_ms() < end) {
            (void)respond_tick(r);
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (respond_pending_reverts(r) > 0)
            rc = 3;
    }
    printf("{\"status\":%d,\"summary\":", res.status);
    print_json_string(res.summary.data);
    printf(",\"error\":");
    print_json_string(res.error.data);
    printf(",\"pending\":%zu}\n", respond_pending_reverts(r));
    respond_result_release(&res);
    respond_free(r);
    config_template_free(t);
    return rc;
}
