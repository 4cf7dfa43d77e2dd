// SPDX-License-Identifier: Apache-2.0
/*
 * ks-bench-gen: deterministic generator of synthetic CloudTrail records for the
 * keysentry benchmarks (bench/run.sh). Nothing here is real data: every
 * account, key, principal and address is made up (account IDs from the AWS
 * documentation range, IPs from the RFC 5737 documentation ranges or 10/8).
 *
 *   ks-bench-gen --ndjson --bytes N [--seed S] [--burst K] [--truth FILE]
 *   ks-bench-gen --s3 DIR --bytes N [--seed S] [--burst K] [--truth FILE]
 *
 * --ndjson writes one record per line to stdout until about N bytes.
 * --s3 writes the same records (same seed, same N => same record sequence) as
 * gzipped CloudTrail log files {"Records":[...]} in the S3 delivery layout
 *   DIR/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/
 *       <acct>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<random16>.json.gz
 * one file per (account, region, 5-minute window), split at 4 MB / 5000 records.
 * --burst K injects K successful kms Decrypt calls from a single ECS task
 * session, interleaved with normal traffic from the middle of the output on.
 * --truth FILE writes the ground-truth counts of the two benchmark patterns,
 * computed while generating (independent of any JSON parser), and the number
 * of uncompressed JSON bytes and files written.
 *
 * The record mix: ~40% kms Decrypt/Encrypt/GenerateDataKey (1.5% of them
 * failing), the rest s3, ec2, iam, sts, ssm, lambda, logs, secretsmanager,
 * dynamodb and kms management calls with ~4% errors of their own.
 * All randomness comes from splitmix64 streams seeded from --seed: same
 * arguments, byte-identical output (gzip headers carry no time stamp).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <zlib.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- utils */

static _Noreturn void die(const char *msg, const char *arg)
{
    fprintf(stderr, "ks-bench-gen: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

typedef struct {
    uint64_t s;
} rng_t;

/* splitmix64 */
static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* uniform in [0, n) */
static uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* true with probability per100k / 100000 */
static bool rng_chance(rng_t *r, uint32_t per100k)
{
    return rng_below(r, 100000) < per100k;
}

static size_t rng_weighted(rng_t *r, const unsigned *w, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    uint32_t x = rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t add)
{
    if (b->n + add + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + add + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        die("out of memory", NULL);
    b->p = p;
    b->cap = cap;
}

static void put(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putc_(buf_t *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->n++] = c;
}

static void put_u64(buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_reserve(b, (size_t)i);
    while (i)
        b->p[b->n++] = tmp[--i];
}

static void put_2d(buf_t *b, unsigned v)
{
    putc_(b, (char)('0' + v / 10 % 10));
    putc_(b, (char)('0' + v % 10));
}

/* JSON string body escaping (no quotes added) */
static void put_jesc(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putc_(b, '\\');
            putc_(b, (char)c);
        } else if (c == '\n') {
            puts_(b, "\\n");
        } else if (c < 0x20) {
            puts_(b, "\\u00");
            putc_(b, hex[c >> 4]);
            putc_(b, hex[c & 15]);
        } else {
            putc_(b, (char)c);
        }
    }
}

static void put_rand(buf_t *b, rng_t *r, const char *alphabet, size_t n)
{
    size_t k = strlen(alphabet);
    buf_reserve(b, n);
    for (size_t i = 0; i < n; i++)
        b->p[b->n++] = alphabet[rng_below(r, (uint32_t)k)];
}

static const char HEX[] = "0123456789abcdef";
static const char UPALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static void put_uuid(buf_t *b, rng_t *r)
{
    uint64_t hi = rng_next(r), lo = rng_next(r);
    char s[37];
    for (int i = 0, k = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            s[i] = '-';
            continue;
        }
        unsigned nib;
        if (i == 14)
            nib = 4; /* version 4 */
        else if (i == 19)
            nib = 8 | (unsigned)(lo & 3); /* variant 10xx */
        else if (k < 16)
            nib = (unsigned)(hi >> (4 * k++)) & 15;
        else
            nib = (unsigned)(lo >> (4 * (k++ - 16) + 2)) & 15;
        s[i] = HEX[nib];
    }
    put(b, s, 36);
}

/* ----------------------------------------------------------------- time */

typedef struct {
    int year;
    unsigned mon, day, hour, min, sec;
} tm_t;

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* UTC breakdown of ms since the epoch; the date is cached per day */
static void to_tm(uint64_t ms, tm_t *t)
{
    static uint64_t cached_day = UINT64_MAX;
    static tm_t cached;
    uint64_t secs = ms / 1000, day = secs / 86400, rem = secs % 86400;
    if (day != cached_day) {
        static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        uint64_t d = day;
        int y = 1970;
        while (d >= (uint64_t)(is_leap(y) ? 366 : 365))
            d -= (uint64_t)(is_leap(y++) ? 366 : 365);
        unsigned m = 0;
        for (;;) {
            unsigned len = mdays[m] + (m == 1 && is_leap(y) ? 1u : 0u);
            if (d < len)
                break;
            d -= len;
            m++;
        }
        cached.year = y;
        cached.mon = m + 1;
        cached.day = (unsigned)d + 1;
        cached_day = day;
    }
    *t = cached;
    t->hour = (unsigned)(rem / 3600);
    t->min = (unsigned)(rem / 60 % 60);
    t->sec = (unsigned)(rem % 60);
}

/* 2024-05-06T12:34:56Z */
static void put_iso(buf_t *b, uint64_t ms)
{
    tm_t t;
    to_tm(ms, &t);
    put_u64(b, (uint64_t)t.year);
    putc_(b, '-');
    put_2d(b, t.mon);
    putc_(b, '-');
    put_2d(b, t.day);
    putc_(b, 'T');
    put_2d(b, t.hour);
    putc_(b, ':');
    put_2d(b, t.min);
    putc_(b, ':');
    put_2d(b, t.sec);
    putc_(b, 'Z');
}

/* "May 6, 2024, 1:07:28 PM" as in sts credentials.expiration */
static void put_expiration(buf_t *b, uint64_t ms)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    tm_t t;
    to_tm(ms, &t);
    puts_(b, mon[t.mon - 1]);
    putc_(b, ' ');
    put_u64(b, t.day);
    puts_(b, ", ");
    put_u64(b, (uint64_t)t.year);
    puts_(b, ", ");
    unsigned h12 = t.hour % 12 ? t.hour % 12 : 12;
    put_u64(b, h12);
    putc_(b, ':');
    put_2d(b, t.min);
    putc_(b, ':');
    put_2d(b, t.sec);
    puts_(b, t.hour < 12 ? " AM" : " PM");
}

/* 2024-05-06T00:00:00Z */
#define START_MS  UINT64_C(1714953600000)
#define WINDOW_MS UINT64_C(300000)

/* ------------------------------------------------------------ the world */

static const char *const ACCOUNTS[] = {"111122223333", "444455556666", "123456789012",
                                       "777788889999"};
#define N_ACCT ARRAY_LEN(ACCOUNTS)
static const unsigned ACCOUNT_W[] = {45, 25, 20, 10};

static const char *const REGIONS[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"};
#define N_REGION ARRAY_LEN(REGIONS)
static const unsigned REGION_W[] = {50, 25, 15, 10};

enum { UT_IAMUSER, UT_ROLE, UT_SERVICE };
enum { SK_NONE, SK_ECS, SK_LAMBDA, SK_SSO, SK_EC2, SK_BOTO };
enum { UA_JAVA, UA_GO, UA_BOTO, UA_NODE, UA_CLI, UA_CONSOLE, UA_TERRAFORM, UA_SERVICE };

typedef struct {
    int type;
    int acct;         /* index into ACCOUNTS; -1: any (AWS services) */
    const char *name; /* user, role or (AWSService) service principal */
    const char *path; /* role path */
    int sk;           /* how role sessions are named */
    int ua;
    unsigned w_kms, w_other;
    bool vpce; /* calls come through a VPC endpoint */
} pdef_t;

static const pdef_t PRINCIPALS[] = {
    {UT_ROLE, 0, "App-ECSTaskRole", "", SK_ECS, UA_JAVA, 300, 100, true},
    {UT_ROLE, 0, "App-LambdaExecRole", "", SK_LAMBDA, UA_BOTO, 100, 80, false},
    {UT_ROLE, 0, "AWSReservedSSO_AdministratorAccess_7c1a2b3d4e5f6a7b",
     "aws-reserved/sso.amazonaws.com/", SK_SSO, UA_CONSOLE, 10, 60, false},
    {UT_IAMUSER, 0, "ci-deploy", "", SK_NONE, UA_TERRAFORM, 30, 80, false},
    {UT_IAMUSER, 0, "alice", "", SK_NONE, UA_CLI, 10, 30, false},
    {UT_ROLE, 0, "EC2-WebServerRole", "", SK_EC2, UA_GO, 50, 60, false},
    {UT_ROLE, 1, "App-ECSTaskRole", "", SK_ECS, UA_JAVA, 100, 50, true},
    {UT_ROLE, 1, "Batch-JobRole", "", SK_BOTO, UA_BOTO, 80, 50, false},
    {UT_IAMUSER, 1, "bob", "", SK_NONE, UA_CLI, 10, 30, false},
    {UT_ROLE, 2, "DataPipelineRole", "service-role/", SK_BOTO, UA_NODE, 100, 80, false},
    {UT_IAMUSER, 2, "svc-reporting", "", SK_NONE, UA_GO, 40, 40, false},
    {UT_ROLE, 3, "OrganizationAccountAccessRole", "", SK_BOTO, UA_CLI, 20, 50, false},
    {UT_IAMUSER, 3, "carol", "", SK_NONE, UA_CONSOLE, 10, 20, false},
    {UT_SERVICE, -1, "cloudtrail.amazonaws.com", "", SK_NONE, UA_SERVICE, 40, 40, false},
    {UT_SERVICE, -1, "logs.amazonaws.com", "", SK_NONE, UA_SERVICE, 30, 10, false},
    {UT_SERVICE, -1, "ec2.amazonaws.com", "", SK_NONE, UA_SERVICE, 30, 20, false},
    {UT_SERVICE, -1, "rds.amazonaws.com", "", SK_NONE, UA_SERVICE, 20, 20, false},
};
#define N_PRINC      ARRAY_LEN(PRINCIPALS)
#define TARGET_PRINC 0 /* arn:aws:iam::111122223333:role/App-ECSTaskRole */
#define N_SLOTS      4

typedef struct {
    char name[64];
    char akid[24];
    uint64_t start_ms;
} session_t;

typedef struct {
    char pid[24];  /* AIDA.../AROA... */
    char akid[24]; /* long-term AKIA... for users */
    session_t slot[N_SLOTS];
} pstate_t;

static const char *const FUNCS[] = {"orders-processor", "invoice-renderer", "thumbnail-gen",
                                    "audit-forwarder", "payment-webhook"};
static const char *const EMAILS[] = {"jane.doe@example.com", "raj.patel@example.com",
                                     "li.wei@example.com", "ops-oncall@example.com"};
static const char *const BUCKETS[] = {"app-assets", "orders-archive", "data-lake-raw",
                                      "build-artifacts", "customer-uploads"};
static const char *const PREFIXES[] = {"orders", "invoices", "raw/events", "thumbnails",
                                       "exports/daily"};
static const char *const EXTS[] = {".json", ".parquet", ".csv.gz", ".png", ".pdf"};
static const char *const LOGGROUPS[] = {"/ecs/orders-api", "/aws/lambda/orders-processor",
                                        "/aws/lambda/invoice-renderer", "/app/audit",
                                        "/aws/batch/job"};
static const char *const SECRETS[] = {"prod/orders/db", "prod/payments/api-key",
                                      "staging/orders/db", "prod/reporting/readonly"};
static const char *const PARAMS[] = {"/app/prod/db-password", "/app/prod/stripe-key",
                                     "/app/staging/db-password", "/platform/datadog/api-key",
                                     "/app/prod/feature-flags"};
static const char *const TABLES[] = {"orders", "sessions", "invoices", "audit-events"};
static const char *const ROLENAMES[] = {"App-ECSTaskRole", "Batch-JobRole", "DataPipelineRole",
                                        "ReadOnlyAuditRole", "DeployRole"};
static const char *const ALIASES[] = {"alias/app-data", "alias/secrets", "alias/ebs-default"};
#define N_KEYS ARRAY_LEN(ALIASES)

/* ------------------------------------------------------- generator state */

typedef struct {
    rng_t r;
    uint64_t now;
    pstate_t ps[N_PRINC];
    char keys[N_ACCT][N_REGION][N_KEYS][37];
    char sg[N_ACCT][24];
    char vpce[N_ACCT][24];
    unsigned kms_w[N_PRINC], other_w[N_PRINC];
    /* per-record context */
    int pi;          /* principal */
    int slot;        /* session slot (roles) */
    int acct;        /* recipient account */
    int ident_acct;  /* the caller's account */
    int region;      /* awsRegion */
    const char *via; /* invokedBy for a user/role, or NULL */
    const char *source, *name;
    buf_t caller; /* caller ARN */
    bool vset[128];
    char vcache[128][128];
    /* burst */
    uint64_t burst_left;
    char burst_session[40];
    /* truth */
    uint64_t n_lab, n_encdec;
} gen_t;

static void make_id(buf_t *b, rng_t *r, const char *prefix)
{
    puts_(b, prefix);
    put_rand(b, r, B32, 17);
}

static void gen_init(gen_t *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    rng_t init = {seed ^ UINT64_C(0x6b657973656e7472)}; /* "keysentr" */
    buf_t t = {0};
    for (size_t i = 0; i < N_PRINC; i++) {
        const pdef_t *p = &PRINCIPALS[i];
        t.n = 0;
        make_id(&t, &init, p->type == UT_IAMUSER ? "AIDA" : "AROA");
        memcpy(g->ps[i].pid, t.p, t.n + 1 > 24 ? 23 : t.n);
        t.n = 0;
        puts_(&t, "AKIA");
        put_rand(&t, &init, UPALNUM, 16);
        memcpy(g->ps[i].akid, t.p, 20);
        g->kms_w[i] = p->w_kms;
        g->other_w[i] = p->w_other;
    }
    for (size_t a = 0; a < N_ACCT; a++) {
        for (size_t r = 0; r < N_REGION; r++)
            for (size_t k = 0; k < N_KEYS; k++) {
                t.n = 0;
                put_uuid(&t, &init);
                memcpy(g->keys[a][r][k], t.p, 36);
            }
        t.n = 0;
        puts_(&t, "sg-0");
        put_rand(&t, &init, HEX, 16);
        memcpy(g->sg[a], t.p, t.n);
        t.n = 0;
        puts_(&t, "vpce-0");
        put_rand(&t, &init, HEX, 16);
        memcpy(g->vpce[a], t.p, t.n);
    }
    free(t.p);
    g->r.s = seed;
    g->now = START_MS;
}

static const char *pick(rng_t *r, const char *const *list, size_t n)
{
    return list[rng_below(r, (uint32_t)n)];
}
#define PICK(g, list) pick(&(g)->r, (list), ARRAY_LEN(list))

static void new_session(gen_t *g, const pdef_t *p, session_t *s)
{
    buf_t t = {0};
    switch (p->sk) {
    case SK_ECS:
        put_rand(&t, &g->r, HEX, 32);
        break;
    case SK_LAMBDA:
        puts_(&t, PICK(g, FUNCS));
        break;
    case SK_SSO:
        puts_(&t, PICK(g, EMAILS));
        break;
    case SK_EC2:
        puts_(&t, "i-0");
        put_rand(&t, &g->r, HEX, 16);
        break;
    default:
        puts_(&t, "botocore-session-");
        put_u64(&t, 1714953600 + g->now / 1000 % 100000 + rng_below(&g->r, 1000));
        break;
    }
    memcpy(s->name, t.p, t.n < 63 ? t.n : 63);
    s->name[t.n < 63 ? t.n : 63] = 0;
    t.n = 0;
    puts_(&t, "ASIA");
    put_rand(&t, &g->r, UPALNUM, 16);
    memcpy(s->akid, t.p, 20);
    s->akid[20] = 0;
    s->start_ms = g->now;
    free(t.p);
}

/* choose the principal and the accounts/region of one record */
static void choose_context(gen_t *g, bool kms)
{
    g->pi = (int)rng_weighted(&g->r, kms ? g->kms_w : g->other_w, N_PRINC);
    const pdef_t *p = &PRINCIPALS[g->pi];
    g->ident_acct = p->acct >= 0 ? p->acct : (int)rng_weighted(&g->r, ACCOUNT_W, N_ACCT);
    g->acct = g->ident_acct;
    g->region = (int)rng_weighted(&g->r, REGION_W, N_REGION);
    g->slot = 0;
    if (p->type == UT_ROLE || (p->type == UT_IAMUSER && p->ua == UA_CONSOLE)) {
        g->slot = (int)rng_below(&g->r, N_SLOTS);
        session_t *s = &g->ps[g->pi].slot[g->slot];
        if (!s->name[0] || g->now - s->start_ms > UINT64_C(3600000))
            new_session(g, p, s);
    }
    g->via = NULL;
    memset(g->vset, 0, sizeof g->vset);
    g->caller.n = 0;
    if (p->type == UT_IAMUSER) {
        puts_(&g->caller, "arn:aws:iam::");
        puts_(&g->caller, ACCOUNTS[p->acct]);
        puts_(&g->caller, ":user/");
        puts_(&g->caller, p->name);
    } else if (p->type == UT_ROLE) {
        puts_(&g->caller, "arn:aws:sts::");
        puts_(&g->caller, ACCOUNTS[p->acct]);
        puts_(&g->caller, ":assumed-role/");
        puts_(&g->caller, p->name);
        putc_(&g->caller, '/');
        puts_(&g->caller, g->ps[g->pi].slot[g->slot].name);
    } else {
        puts_(&g->caller, p->name);
    }
    putc_(&g->caller, 0);
    g->caller.n--;
}

static void put_user_identity(gen_t *g, buf_t *b)
{
    const pdef_t *p = &PRINCIPALS[g->pi];
    const pstate_t *st = &g->ps[g->pi];
    const char *acct = p->acct >= 0 ? ACCOUNTS[p->acct] : NULL;
    if (p->type == UT_SERVICE) {
        puts_(b, "{\"type\":\"AWSService\",\"invokedBy\":\"");
        puts_(b, p->name);
        puts_(b, "\"}");
        return;
    }
    const session_t *s = &st->slot[g->slot];
    puts_(b, p->type == UT_IAMUSER ? "{\"type\":\"IAMUser\",\"principalId\":\""
                                   : "{\"type\":\"AssumedRole\",\"principalId\":\"");
    puts_(b, st->pid);
    if (p->type == UT_ROLE) {
        putc_(b, ':');
        puts_(b, s->name);
    }
    puts_(b, "\",\"arn\":\"");
    put(b, g->caller.p, g->caller.n);
    puts_(b, "\",\"accountId\":\"");
    puts_(b, acct);
    puts_(b, "\",\"accessKeyId\":\"");
    bool console_user = p->type == UT_IAMUSER && p->ua == UA_CONSOLE;
    puts_(b, p->type == UT_ROLE || console_user ? s->akid : st->akid);
    if (p->type == UT_IAMUSER) {
        puts_(b, "\",\"userName\":\"");
        puts_(b, p->name);
    }
    putc_(b, '"');
    if (p->type == UT_ROLE || console_user) {
        puts_(b, ",\"sessionContext\":{\"sessionIssuer\":{");
        if (p->type == UT_ROLE) {
            puts_(b, "\"type\":\"Role\",\"principalId\":\"");
            puts_(b, st->pid);
            puts_(b, "\",\"arn\":\"arn:aws:iam::");
            puts_(b, acct);
            puts_(b, ":role/");
            puts_(b, p->path);
            puts_(b, p->name);
            puts_(b, "\",\"accountId\":\"");
            puts_(b, acct);
            puts_(b, "\",\"userName\":\"");
            puts_(b, p->name);
            putc_(b, '"');
        }
        puts_(b, "},\"webIdFederationData\":{},\"attributes\":{\"creationDate\":\"");
        put_iso(b, s->start_ms);
        puts_(b, p->sk == SK_SSO || console_user ? "\",\"mfaAuthenticated\":\"true\"}"
                                                 : "\",\"mfaAuthenticated\":\"false\"}");
        if (p->sk == SK_EC2)
            puts_(b, ",\"ec2RoleDelivery\":\"2.0\"");
        putc_(b, '}');
    }
    if (g->via) {
        puts_(b, ",\"invokedBy\":\"");
        puts_(b, g->via);
        putc_(b, '"');
    }
    putc_(b, '}');
}

/* "GenerateDataKey" -> "generate-data-key" */
static void put_kebab(buf_t *b, const char *s)
{
    for (const char *c = s; *c; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            if (c != s)
                putc_(b, '-');
            putc_(b, (char)(*c - 'A' + 'a'));
        } else if (*c >= '0' && *c <= '9') {
            break; /* strip API version suffixes such as 20150331 */
        } else {
            putc_(b, *c);
        }
    }
}

static void put_svc_short(buf_t *b, const char *source)
{
    const char *dot = strchr(source, '.');
    put(b, source, dot ? (size_t)(dot - source) : strlen(source));
}

static void put_user_agent(gen_t *g, buf_t *b)
{
    const pdef_t *p = &PRINCIPALS[g->pi];
    if (g->via) {
        puts_(b, g->via);
        return;
    }
    switch (p->ua) {
    case UA_JAVA:
        puts_(b, "aws-sdk-java/2.20.162 Linux/5.10.198-187.748.amzn2.x86_64 "
                 "OpenJDK_64-Bit_Server_VM/17.0.8.1+1-LTS Java/17.0.8.1 vendor/Amazon.com_Inc. "
                 "io/sync http/Apache cfg/retry-mode/legacy");
        break;
    case UA_GO:
        puts_(b, "aws-sdk-go-v2/1.21.2 os/linux lang/go#1.21.3 md/GOOS#linux md/GOARCH#amd64 api/");
        put_svc_short(b, g->source);
        puts_(b, "#1.24.7");
        break;
    case UA_BOTO:
        puts_(b, "Boto3/1.28.62 md/Botocore#1.31.62 ua/2.0 os/linux#5.10.196-205.748.amzn2.x86_64 "
                 "md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython "
                 "exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy Botocore/1.31.62");
        break;
    case UA_NODE:
        puts_(b, "aws-sdk-js/3.433.0 ua/2.0 os/linux#5.10.198-187.748.amzn2.x86_64 lang/js "
                 "md/nodejs#18.18.2 api/");
        put_svc_short(b, g->source);
        puts_(b, "#3.433.0");
        break;
    case UA_CLI:
        puts_(b, "aws-cli/2.13.25 Python/3.11.5 Linux/6.2.0-1014-aws exe/x86_64.ubuntu.22 "
                 "prompt/off command/");
        put_svc_short(b, g->source);
        putc_(b, '.');
        put_kebab(b, g->name);
        break;
    case UA_CONSOLE:
        puts_(b, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                 "Gecko) Chrome/118.0.0.0 Safari/537.36");
        break;
    case UA_TERRAFORM:
        puts_(b, "APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) "
                 "terraform-provider-aws/5.21.0 "
                 "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.45.24 "
                 "(go1.20.8; linux; amd64)");
        break;
    default:
        puts_(b, p->name);
        break;
    }
}

static void put_source_ip(gen_t *g, buf_t *b)
{
    const pdef_t *p = &PRINCIPALS[g->pi];
    if (g->via) {
        puts_(b, g->via);
        return;
    }
    if (p->type == UT_SERVICE) {
        puts_(b, p->name);
        return;
    }
    if (p->vpce || p->sk == SK_EC2 || p->sk == SK_LAMBDA) {
        puts_(b, "10.0.");
    } else {
        static const char *const nets[] = {"203.0.113.", "198.51.100.", "192.0.2."};
        puts_(b, nets[(unsigned)g->pi % 3]);
    }
    if (p->vpce || p->sk == SK_EC2 || p->sk == SK_LAMBDA) {
        put_u64(b, rng_below(&g->r, 64));
        putc_(b, '.');
    }
    put_u64(b, 1 + rng_below(&g->r, 254));
}

/* ------------------------------------------------------------ templates */

/*
 * Template variables (%x). Upper-case and some lower-case ones are drawn once
 * per record and reused (so a bucket in requestParameters matches the one in
 * resources); the others are fresh on each use.
 *   %a account  %r region  %c caller ARN  %N eventName  %Z service short name
 *   %b bucket  %k object key  %f function  %g log group  %t task id  %i instance
 *   %s secret (name-suffix)  %p ssm parameter  %e table  %v volume  %q security group
 *   %n role name  %o session name  %I role id  %K session akid  %M key id (uuid)
 *   %u uuid (fresh)  %x 16 hex (fresh)  %z bytes  %S session token  %E expiration
 *   %P policy document (escaped)  %L encoded authorization message  %Y x-amz-id-2
 */
static bool var_cached(char v)
{
    return strchr("bkfgtispevqnoIKMd", v) != NULL;
}

static void var_value(gen_t *g, buf_t *b, char v)
{
    rng_t *r = &g->r;
    switch (v) {
    case 'a':
        puts_(b, ACCOUNTS[g->acct]);
        break;
    case 'r':
        puts_(b, REGIONS[g->region]);
        break;
    case 'c':
        put(b, g->caller.p, g->caller.n);
        break;
    case 'N':
        puts_(b, g->name);
        break;
    case 'Z':
        put_svc_short(b, g->source);
        break;
    case 'b':
        puts_(b, PICK(g, BUCKETS));
        putc_(b, '-');
        puts_(b, ACCOUNTS[g->acct]);
        break;
    case 'k': {
        tm_t t;
        to_tm(g->now, &t);
        puts_(b, PICK(g, PREFIXES));
        putc_(b, '/');
        put_u64(b, (uint64_t)t.year);
        putc_(b, '/');
        put_2d(b, t.mon);
        putc_(b, '/');
        put_2d(b, t.day);
        putc_(b, '/');
        put_rand(b, r, HEX, 12);
        puts_(b, PICK(g, EXTS));
        break;
    }
    case 'f':
        puts_(b, PICK(g, FUNCS));
        break;
    case 'g':
        puts_(b, PICK(g, LOGGROUPS));
        break;
    case 't':
        put_rand(b, r, HEX, 32);
        break;
    case 'i':
        puts_(b, "i-0");
        put_rand(b, r, HEX, 16);
        break;
    case 's':
        puts_(b, PICK(g, SECRETS));
        putc_(b, '-');
        put_rand(b, r, ALNUM, 6);
        break;
    case 'p':
        puts_(b, PICK(g, PARAMS));
        break;
    case 'e':
        puts_(b, PICK(g, TABLES));
        break;
    case 'v':
        puts_(b, "vol-0");
        put_rand(b, r, HEX, 16);
        break;
    case 'q':
        puts_(b, g->sg[g->acct]);
        break;
    case 'n':
        puts_(b, PICK(g, ROLENAMES));
        break;
    case 'o':
        puts_(b, rng_below(r, 2) ? "botocore-session-" : "aws-go-sdk-");
        put_u64(b, 1714900000 + g->now / 1000 % 1000000);
        break;
    case 'I':
        make_id(b, r, "AROA");
        break;
    case 'K':
        puts_(b, "ASIA");
        put_rand(b, r, UPALNUM, 16);
        break;
    case 'M':
        puts_(b, g->keys[g->acct][g->region][rng_below(r, N_KEYS)]);
        break;
    case 'd':
        put_u64(b, 1 + rng_below(r, 9999));
        break;
    case 'u':
        put_uuid(b, r);
        break;
    case 'x':
        put_rand(b, r, HEX, 16);
        break;
    case 'z':
        put_u64(b, 200 + rng_below(r, 5000000));
        break;
    case 'S':
        puts_(b, "IQoJb3JpZ2luX2VjE");
        put_rand(b, r, B64, 340 + rng_below(r, 400));
        break;
    case 'E':
        put_expiration(b, g->now + UINT64_C(3600000));
        break;
    case 'P': {
        buf_t doc = {0};
        puts_(&doc, "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n"
                    "      \"Effect\": \"Allow\",\n      \"Action\": [\n"
                    "        \"kms:Decrypt\",\n        \"kms:GenerateDataKey\"\n      ],\n"
                    "      \"Resource\": \"arn:aws:kms:");
        puts_(&doc, REGIONS[g->region]);
        putc_(&doc, ':');
        puts_(&doc, ACCOUNTS[g->acct]);
        puts_(&doc, ":key/");
        puts_(&doc, g->keys[g->acct][g->region][0]);
        puts_(&doc, "\"\n    }\n  ]\n}");
        putc_(&doc, 0);
        put_jesc(b, doc.p);
        free(doc.p);
        break;
    }
    case 'L':
        put_rand(b, r, ALNUM, 240 + rng_below(r, 200));
        break;
    case 'Y':
        put_rand(b, r, B64, 76);
        break;
    default:
        putc_(b, '%');
        putc_(b, v);
        break;
    }
}

static void put_tmpl(gen_t *g, buf_t *b, const char *t)
{
    while (*t) {
        const char *pct = strchr(t, '%');
        if (!pct) {
            puts_(b, t);
            return;
        }
        put(b, t, (size_t)(pct - t));
        char v = pct[1];
        if (!v)
            return;
        t = pct + 2;
        unsigned char uv = (unsigned char)v;
        if (uv < 128 && var_cached(v)) {
            if (!g->vset[uv]) {
                buf_t tmp = {0};
                var_value(g, &tmp, v);
                size_t n = tmp.n < 127 ? tmp.n : 127;
                memcpy(g->vcache[uv], tmp.p, n);
                g->vcache[uv][n] = 0;
                free(tmp.p);
                g->vset[uv] = true;
            }
            puts_(b, g->vcache[uv]);
        } else {
            var_value(g, b, v);
        }
    }
}

/* ----------------------------------------------------------- the record */

enum { F_RO = 1, F_DATA = 2, F_GLOBAL = 4, F_S3 = 8, F_NOTLS = 16 };

typedef struct {
    const char *code, *msg; /* msg NULL: no errorMessage */
    unsigned w;
} err_t;

typedef struct {
    const char *source, *name;
    unsigned w, flags;
    const char *req, *resp, *res, *add; /* NULL req/resp: null; NULL res/add: absent */
    const err_t *errs;
    size_t n_errs;
} op_t;

/* everything the envelope needs besides the per-record context in gen_t */
typedef struct {
    unsigned flags;
    const char *err_code;
    buf_t req, resp, res, add, msg, host;
    bool has_req, has_resp, has_res, has_add, has_msg, shared;
} ev_t;

static void ev_reset(ev_t *e)
{
    e->flags = 0;
    e->err_code = NULL;
    e->req.n = e->resp.n = e->res.n = e->add.n = e->msg.n = e->host.n = 0;
    e->has_req = e->has_resp = e->has_res = e->has_add = e->has_msg = e->shared = false;
}

static void emit_record(gen_t *g, ev_t *e, buf_t *b)
{
    const pdef_t *p = &PRINCIPALS[g->pi];
    b->n = 0;
    puts_(b, rng_below(&g->r, 4) ? "{\"eventVersion\":\"1.08\",\"userIdentity\":"
                                 : "{\"eventVersion\":\"1.09\",\"userIdentity\":");
    put_user_identity(g, b);
    puts_(b, ",\"eventTime\":\"");
    put_iso(b, g->now);
    puts_(b, "\",\"eventSource\":\"");
    puts_(b, g->source);
    puts_(b, "\",\"eventName\":\"");
    puts_(b, g->name);
    puts_(b, "\",\"awsRegion\":\"");
    puts_(b, REGIONS[g->region]);
    puts_(b, "\",\"sourceIPAddress\":\"");
    put_source_ip(g, b);
    puts_(b, "\",\"userAgent\":\"");
    put_user_agent(g, b);
    putc_(b, '"');
    if (e->err_code) {
        puts_(b, ",\"errorCode\":\"");
        puts_(b, e->err_code);
        putc_(b, '"');
        if (e->has_msg) {
            puts_(b, ",\"errorMessage\":\"");
            put(b, e->msg.p, e->msg.n);
            putc_(b, '"');
        }
    }
    puts_(b, ",\"requestParameters\":");
    if (e->has_req)
        put(b, e->req.p, e->req.n);
    else
        puts_(b, "null");
    puts_(b, ",\"responseElements\":");
    if (e->has_resp && !e->err_code)
        put(b, e->resp.p, e->resp.n);
    else
        puts_(b, "null");
    if (e->has_add) {
        puts_(b, ",\"additionalEventData\":");
        put(b, e->add.p, e->add.n);
    }
    puts_(b, ",\"requestID\":\"");
    if (e->flags & F_S3)
        put_rand(b, &g->r, UPALNUM, 16);
    else
        put_uuid(b, &g->r);
    puts_(b, "\",\"eventID\":\"");
    put_uuid(b, &g->r);
    puts_(b, (e->flags & F_RO) ? "\",\"readOnly\":true" : "\",\"readOnly\":false");
    if (e->has_res) {
        puts_(b, ",\"resources\":");
        put(b, e->res.p, e->res.n);
    }
    puts_(b, ",\"eventType\":\"AwsApiCall\",\"managementEvent\":");
    puts_(b, (e->flags & F_DATA) ? "false" : "true");
    puts_(b, ",\"recipientAccountId\":\"");
    puts_(b, ACCOUNTS[g->acct]);
    putc_(b, '"');
    if (e->shared || p->type == UT_SERVICE) {
        puts_(b, ",\"sharedEventID\":\"");
        put_uuid(b, &g->r);
        putc_(b, '"');
    }
    if (p->vpce && !g->via) {
        puts_(b, ",\"vpcEndpointId\":\"");
        puts_(b, g->vpce[g->ident_acct]);
        putc_(b, '"');
    }
    puts_(b, (e->flags & F_DATA) ? ",\"eventCategory\":\"Data\""
                                 : ",\"eventCategory\":\"Management\"");
    if (!g->via && p->type != UT_SERVICE && !(e->flags & F_NOTLS)) {
        bool v13 = rng_below(&g->r, 3) != 0;
        puts_(b, v13 ? ",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":"
                       "\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\""
                     : ",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.2\",\"cipherSuite\":"
                       "\"ECDHE-RSA-AES128-GCM-SHA256\",\"clientProvidedHostHeader\":\"");
        if (e->host.n) {
            put(b, e->host.p, e->host.n);
        } else {
            put_svc_short(b, g->source);
            if (!(e->flags & F_GLOBAL)) {
                putc_(b, '.');
                puts_(b, REGIONS[g->region]);
            }
            puts_(b, ".amazonaws.com");
        }
        puts_(b, "\"}");
    }
    if (p->ua == UA_CONSOLE && !g->via)
        puts_(b, ",\"sessionCredentialFromConsole\":\"true\"");
    putc_(b, '}');

    /* ground truth for the two benchmark patterns */
    if (!strcmp(g->source, "kms.amazonaws.com")) {
        if (!strcmp(g->name, "Decrypt") || !strcmp(g->name, "Encrypt"))
            g->n_encdec++;
        if (e->err_code && g->pi == TARGET_PRINC)
            g->n_lab++;
    }
}

/* --------------------------------------------------------------- kms ops */

static const err_t KMS_CRYPTO_ERRS[] = {
    {"AccessDeniedException",
     "User: %c is not authorized to perform: kms:%N on resource: %K because no identity-based "
     "policy allows the kms:%N action",
     40},
    {"IncorrectKeyException",
     "The key ID in the request does not identify a KMS key that can perform this operation.", 15},
    {"KMSInvalidStateException", "%K is disabled.", 15},
    {"KMSInvalidStateException", "%K is pending deletion.", 5},
    {"InvalidCiphertextException", NULL, 10},
    {"ThrottlingException", "Rate exceeded", 10},
    {"DisabledException", "%K is disabled.", 5},
};

static void kms_crypto(gen_t *g, ev_t *e, buf_t *out, bool burst)
{
    rng_t *r = &g->r;
    static const char *const OPS[] = {"Decrypt", "GenerateDataKey", "Encrypt"};
    static const unsigned OPS_W[] = {60, 25, 15};
    if (burst) {
        g->pi = TARGET_PRINC;
        g->ident_acct = g->acct = 0;
        g->region = 0;
        g->slot = 0;
        session_t *s = &g->ps[TARGET_PRINC].slot[0];
        if (strcmp(s->name, g->burst_session)) {
            memcpy(s->name, g->burst_session, sizeof g->burst_session);
            s->start_ms = g->now;
        }
        g->via = NULL;
        memset(g->vset, 0, sizeof g->vset);
        g->caller.n = 0;
        puts_(&g->caller, "arn:aws:sts::111122223333:assumed-role/App-ECSTaskRole/");
        puts_(&g->caller, g->burst_session);
        g->name = "Decrypt";
    } else {
        choose_context(g, true);
        g->name = OPS[rng_weighted(r, OPS_W, ARRAY_LEN(OPS))];
    }
    g->source = "kms.amazonaws.com";
    const pdef_t *p = &PRINCIPALS[g->pi];
    ev_reset(e);
    e->flags = F_RO;

    /* cross-account key use: the key owner receives the event */
    if (!burst && p->type != UT_SERVICE && rng_chance(r, 5000)) {
        g->acct = (g->ident_acct + 1 + (int)rng_below(r, N_ACCT - 1)) % (int)N_ACCT;
        e->shared = true;
    }
    /* which service (if any) made the call on the principal's behalf */
    static const char *const VIA[] = {NULL,
                                      "s3.amazonaws.com",
                                      "secretsmanager.amazonaws.com",
                                      "ssm.amazonaws.com",
                                      "ec2.amazonaws.com",
                                      "AWS Internal"};
    static const unsigned VIA_W[] = {70, 10, 7, 5, 4, 4};
    const char *via = NULL;
    if (!burst && p->type != UT_SERVICE)
        via = VIA[rng_weighted(r, VIA_W, ARRAY_LEN(VIA))];
    g->via = via;
    const char *ctx_kind = via ? via : p->type == UT_SERVICE ? p->name : "app";

    unsigned k = p->sk == SK_EC2 || (via && !strcmp(via, "ec2.amazonaws.com")) ? 2
                 : (via && (strstr(via, "secrets") || strstr(via, "ssm")))     ? 1
                 : rng_below(r, 5) == 0                                        ? 1
                                                                               : 0;
    const char *key = g->keys[g->acct][g->region][k];
    buf_t *kb = &e->host; /* scratch: the key ARN */
    puts_(kb, "arn:aws:kms:");
    puts_(kb, REGIONS[g->region]);
    putc_(kb, ':');
    puts_(kb, ACCOUNTS[g->acct]);
    puts_(kb, ":key/");
    puts_(kb, key);
    memcpy(g->vcache['K'], kb->p, kb->n);
    g->vcache['K'][kb->n] = 0;
    g->vset['K'] = true;

    buf_t *q = &e->req;
    e->has_req = true;
    putc_(q, '{');
    bool has_key = strcmp(g->name, "Decrypt") || rng_below(r, 10) < 6;
    if (has_key) {
        puts_(q, "\"keyId\":\"");
        if (!strcmp(g->name, "Decrypt") || rng_below(r, 2))
            put(q, kb->p, kb->n);
        else
            puts_(q, ALIASES[k]);
        puts_(q, "\",");
    }
    puts_(q, "\"encryptionContext\":{");
    if (!strcmp(ctx_kind, "s3.amazonaws.com")) {
        put_tmpl(g, q, "\"aws:s3:arn\":\"arn:aws:s3:::%b/%k\"");
    } else if (!strcmp(ctx_kind, "secretsmanager.amazonaws.com")) {
        put_tmpl(g, q,
                 "\"SecretARN\":\"arn:aws:secretsmanager:%r:%a:secret:%s\","
                 "\"SecretVersionId\":\"%u\"");
    } else if (!strcmp(ctx_kind, "ssm.amazonaws.com") || !strcmp(ctx_kind, "AWS Internal")) {
        put_tmpl(g, q, "\"PARAMETER_ARN\":\"arn:aws:ssm:%r:%a:parameter%p\"");
    } else if (!strcmp(ctx_kind, "ec2.amazonaws.com")) {
        put_tmpl(g, q, "\"aws:ebs:id\":\"%v\"");
    } else if (!strcmp(ctx_kind, "cloudtrail.amazonaws.com")) {
        put_tmpl(g, q,
                 "\"aws:cloudtrail:arn\":\"arn:aws:cloudtrail:%r:%a:trail/org-trail\","
                 "\"aws:s3:arn\":\"arn:aws:s3:::org-cloudtrail-%a/AWSLogs/%a/CloudTrail/"
                 "%r/%x.json.gz\"");
    } else if (!strcmp(ctx_kind, "logs.amazonaws.com")) {
        put_tmpl(g, q, "\"aws:logs:arn\":\"arn:aws:logs:%r:%a:log-group:%g\"");
    } else if (!strcmp(ctx_kind, "rds.amazonaws.com")) {
        put_tmpl(g, q, "\"aws:rds:db-id\":\"db-%x\"");
    } else if (p->sk == SK_LAMBDA) {
        put_tmpl(g, q, "\"aws:lambda:FunctionArn\":\"arn:aws:lambda:%r:%a:function:%f\"");
    } else {
        put_tmpl(g, q, "\"tenant\":\"t-%d\",\"purpose\":\"session-token\",\"request\":\"%u\"");
    }
    putc_(q, '}');
    if (!strcmp(g->name, "GenerateDataKey"))
        puts_(q, ",\"keySpec\":\"AES_256\"");
    else
        puts_(q, ",\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"");
    putc_(q, '}');

    e->has_resp = false; /* null for kms crypto ops */
    const err_t *err = NULL;
    if (!burst && rng_chance(r, 1500)) {
        unsigned w[ARRAY_LEN(KMS_CRYPTO_ERRS)];
        for (size_t i = 0; i < ARRAY_LEN(w); i++)
            w[i] = KMS_CRYPTO_ERRS[i].w;
        err = &KMS_CRYPTO_ERRS[rng_weighted(r, w, ARRAY_LEN(w))];
        if (!err->msg && strcmp(g->name, "Decrypt"))
            err = &KMS_CRYPTO_ERRS[0]; /* only Decrypt takes a ciphertext */
        e->err_code = err->code;
        if (err->msg) {
            e->has_msg = true;
            put_tmpl(g, &e->msg, err->msg);
        }
    }
    if (!err || strcmp(err->code, "AccessDeniedException")) {
        e->has_res = true;
        puts_(&e->res, "[{\"accountId\":\"");
        puts_(&e->res, ACCOUNTS[g->acct]);
        puts_(&e->res, "\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"");
        put(&e->res, kb->p, kb->n);
        puts_(&e->res, "\"}]");
    }
    e->host.n = 0;
    emit_record(g, e, out);
}

/* ---------------------------------------------------------- other ops */

#define ERRS(a) a, ARRAY_LEN(a)

static const err_t S3_ERRS[] = {
    {"AccessDenied", "Access Denied", 6},
    {"NoSuchKey", "The specified key does not exist.", 2},
    {"NoSuchBucketPolicy", "The bucket policy does not exist", 2},
};
static const err_t EC2_ERRS[] = {
    {"Client.UnauthorizedOperation",
     "You are not authorized to perform this operation. User: %c is not authorized to perform: "
     "ec2:%N because no identity-based policy allows the ec2:%N action. Encoded authorization "
     "failure message: %L",
     5},
    {"Client.InvalidInstanceID.NotFound", "The instance ID '%i' does not exist", 2},
    {"Client.RequestLimitExceeded", "Request limit exceeded.", 2},
};
static const err_t IAM_ERRS[] = {
    {"AccessDenied",
     "User: %c is not authorized to perform: iam:%N on resource: role %n because no "
     "identity-based policy allows the iam:%N action",
     5},
    {"NoSuchEntityException", "The role with name %n cannot be found.", 3},
};
static const err_t STS_ERRS[] = {
    {"AccessDenied",
     "User: %c is not authorized to perform: sts:AssumeRole on resource: "
     "arn:aws:iam::%a:role/%n",
     1},
};
static const err_t SSM_ERRS[] = {
    {"ParameterNotFound", NULL, 4},
    {"ThrottlingException", "Rate exceeded", 3},
    {"AccessDeniedException",
     "User: %c is not authorized to perform: ssm:%N on resource: arn:aws:ssm:%r:%a:parameter%p "
     "because no identity-based policy allows the ssm:%N action",
     2},
};
static const err_t LAMBDA_ERRS[] = {
    {"ResourceNotFoundException", "Function not found: arn:aws:lambda:%r:%a:function:%f", 2},
    {"AccessDenied",
     "User: %c is not authorized to perform: lambda:%N on resource: "
     "arn:aws:lambda:%r:%a:function:%f because no identity-based policy allows the lambda:%N "
     "action",
     1},
};
static const err_t LOGS_ERRS[] = {
    {"ResourceAlreadyExistsException", "The specified log stream already exists", 3},
    {"AccessDeniedException",
     "User: %c is not authorized to perform: logs:%N on resource: "
     "arn:aws:logs:%r:%a:log-group:%g:log-stream: because no identity-based policy allows the "
     "logs:%N action",
     1},
};
static const err_t SM_ERRS[] = {
    {"ResourceNotFoundException", "Secrets Manager can't find the specified secret.", 2},
    {"AccessDeniedException",
     "User: %c is not authorized to perform: secretsmanager:%N on resource: "
     "arn:aws:secretsmanager:%r:%a:secret:%s because no identity-based policy allows the "
     "secretsmanager:%N action",
     2},
};
static const err_t DDB_ERRS[] = {
    {"ResourceNotFoundException", "Requested resource not found: Table: %e not found", 2},
    {"AccessDeniedException",
     "User: %c is not authorized to perform: dynamodb:%N on resource: "
     "arn:aws:dynamodb:%r:%a:table/%e because no identity-based policy allows the dynamodb:%N "
     "action",
     1},
};
static const err_t KMS_MGMT_ERRS[] = {
    {"NotFoundException", "Alias arn:aws:kms:%r:%a:alias/app-data is not found.", 2},
    {"AccessDeniedException",
     "User: %c is not authorized to perform: kms:%N on resource: arn:aws:kms:%r:%a:key/%M "
     "because no identity-based policy allows the kms:%N action",
     2},
};

#define S3_HOST "\"Host\":\"%b.s3.%r.amazonaws.com\""
#define S3_ADD(bytes_in, bytes_out)                                                                \
    "{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\","                  \
    "\"bytesTransferredIn\":" bytes_in ",\"AuthenticationMethod\":\"AuthHeader\","                 \
    "\"x-amz-id-2\":\"%Y\",\"bytesTransferredOut\":" bytes_out "}"
#define S3_BUCKET_RES                                                                              \
    "{\"accountId\":\"%a\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::%b\"}"
#define KMS_KEY_RES                                                                                \
    "[{\"accountId\":\"%a\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"arn:aws:kms:%r:%a:key/%M\"}]"

static const op_t OPS[] = {
    /* s3 */
    {"s3.amazonaws.com", "GetObject", 300, F_RO | F_DATA | F_S3,
     "{\"bucketName\":\"%b\"," S3_HOST ",\"key\":\"%k\"}", NULL,
     "[{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::%b/%k\"}," S3_BUCKET_RES "]",
     S3_ADD("0", "%z"), ERRS(S3_ERRS)},
    {"s3.amazonaws.com", "PutObject", 200, F_DATA | F_S3,
     "{\"bucketName\":\"%b\"," S3_HOST ",\"key\":\"%k\"}",
     "{\"x-amz-server-side-encryption-aws-kms-key-id\":\"arn:aws:kms:%r:%a:key/%M\","
     "\"x-amz-server-side-encryption\":\"aws:kms\","
     "\"x-amz-server-side-encryption-bucket-key-enabled\":true,\"x-amz-version-id\":\"%x\"}",
     "[{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::%b/%k\"}," S3_BUCKET_RES "]",
     S3_ADD("%z", "0"), ERRS(S3_ERRS)},
    {"s3.amazonaws.com", "ListBuckets", 30, F_RO | F_S3, "{\"Host\":\"s3.%r.amazonaws.com\"}", NULL,
     NULL, S3_ADD("0", "%d"), ERRS(S3_ERRS)},
    {"s3.amazonaws.com", "GetBucketAcl", 40, F_RO | F_S3,
     "{\"bucketName\":\"%b\"," S3_HOST ",\"acl\":\"\"}", NULL, "[" S3_BUCKET_RES "]",
     S3_ADD("0", "%d"), ERRS(S3_ERRS)},
    {"s3.amazonaws.com", "GetBucketPolicy", 20, F_RO | F_S3,
     "{\"bucketName\":\"%b\"," S3_HOST ",\"policy\":\"\"}", NULL, "[" S3_BUCKET_RES "]",
     S3_ADD("0", "%d"), ERRS(S3_ERRS)},
    /* ec2 */
    {"ec2.amazonaws.com", "DescribeInstances", 100, F_RO,
     "{\"instancesSet\":{},\"filterSet\":{\"items\":[{\"name\":\"instance-state-name\","
     "\"valueSet\":{\"items\":[{\"value\":\"running\"}]}}]}}",
     NULL, NULL, NULL, ERRS(EC2_ERRS)},
    {"ec2.amazonaws.com", "DescribeSecurityGroups", 50, F_RO,
     "{\"securityGroupSet\":{},\"securityGroupIdSet\":{\"items\":[{\"groupId\":\"%q\"}]},"
     "\"filterSet\":{}}",
     NULL, NULL, NULL, ERRS(EC2_ERRS)},
    {"ec2.amazonaws.com", "DescribeVolumes", 40, F_RO,
     "{\"volumeSet\":{\"items\":[{\"volumeId\":\"%v\"}]},\"filterSet\":{}}", NULL, NULL, NULL,
     ERRS(EC2_ERRS)},
    {"ec2.amazonaws.com", "CreateTags", 20, 0,
     "{\"resourcesSet\":{\"items\":[{\"resourceId\":\"%i\"}]},\"tagSet\":{\"items\":[{\"key\":"
     "\"Owner\",\"value\":\"team-orders\"},{\"key\":\"CostCenter\",\"value\":\"cc-%d\"}]}}",
     "{\"requestId\":\"%u\",\"_return\":true}", NULL, NULL, ERRS(EC2_ERRS)},
    {"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", 5, 0,
     "{\"groupId\":\"%q\",\"ipPermissions\":{\"items\":[{\"ipProtocol\":\"tcp\",\"fromPort\":443,"
     "\"toPort\":443,\"groups\":{},\"ipRanges\":{\"items\":[{\"cidrIp\":\"10.0.0.0/16\"}]},"
     "\"ipv6Ranges\":{},\"prefixListIds\":{}}]}}",
     "{\"requestId\":\"%u\",\"_return\":true,\"securityGroupRuleSet\":{\"items\":[{\"groupOwnerId"
     "\":\"%a\",\"groupId\":\"%q\",\"securityGroupRuleId\":\"sgr-0%x\",\"isEgress\":false,"
     "\"ipProtocol\":\"tcp\",\"fromPort\":443,\"toPort\":443,\"cidrIpv4\":\"10.0.0.0/16\"}]}}",
     NULL, NULL, ERRS(EC2_ERRS)},
    /* iam (global: us-east-1) */
    {"iam.amazonaws.com", "GetRole", 40, F_RO | F_GLOBAL, "{\"roleName\":\"%n\"}", NULL, NULL, NULL,
     ERRS(IAM_ERRS)},
    {"iam.amazonaws.com", "ListAttachedRolePolicies", 30, F_RO | F_GLOBAL, "{\"roleName\":\"%n\"}",
     NULL, NULL, NULL, ERRS(IAM_ERRS)},
    {"iam.amazonaws.com", "GetUser", 15, F_RO | F_GLOBAL, NULL, NULL, NULL, NULL, ERRS(IAM_ERRS)},
    {"iam.amazonaws.com", "ListRoles", 15, F_RO | F_GLOBAL, "{\"maxItems\":100}", NULL, NULL, NULL,
     ERRS(IAM_ERRS)},
    {"iam.amazonaws.com", "PutRolePolicy", 6, F_GLOBAL,
     "{\"roleName\":\"%n\",\"policyName\":\"inline-kms-access\",\"policyDocument\":\"%P\"}", NULL,
     NULL, NULL, ERRS(IAM_ERRS)},
    /* sts */
    {"sts.amazonaws.com", "AssumeRole", 90, F_RO,
     "{\"roleArn\":\"arn:aws:iam::%a:role/%n\",\"roleSessionName\":\"%o\","
     "\"durationSeconds\":3600}",
     "{\"credentials\":{\"accessKeyId\":\"%K\",\"sessionToken\":\"%S\",\"expiration\":\"%E\"},"
     "\"assumedRoleUser\":{\"assumedRoleId\":\"%I:%o\",\"arn\":\"arn:aws:sts::%a:assumed-role/"
     "%n/%o\"}}",
     "[{\"accountId\":\"%a\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam::%a:role/%n\"}]",
     NULL, ERRS(STS_ERRS)},
    {"sts.amazonaws.com", "GetCallerIdentity", 50, F_RO, NULL, NULL, NULL, NULL, ERRS(STS_ERRS)},
    /* ssm */
    {"ssm.amazonaws.com", "GetParameter", 80, F_RO, "{\"name\":\"%p\",\"withDecryption\":true}",
     NULL, NULL, NULL, ERRS(SSM_ERRS)},
    {"ssm.amazonaws.com", "GetParameters", 30, F_RO,
     "{\"names\":[\"%p\",\"/app/prod/feature-flags\"],\"withDecryption\":true}", NULL, NULL, NULL,
     ERRS(SSM_ERRS)},
    {"ssm.amazonaws.com", "UpdateInstanceInformation", 40, 0,
     "{\"instanceId\":\"%i\",\"agentVersion\":\"3.2.1705.0\",\"agentStatus\":\"Active\","
     "\"platformType\":\"Linux\",\"platformName\":\"Amazon Linux\",\"platformVersion\":\"2023\","
     "\"iPAddress\":\"10.0.%d.17\",\"computerName\":\"ip-10-0-3-17.ec2.internal\","
     "\"agentName\":\"amazon-ssm-agent\",\"availabilityZone\":\"%ra\","
     "\"availabilityZoneId\":\"use1-az2\"}",
     NULL, NULL, NULL, ERRS(SSM_ERRS)},
    {"ssm.amazonaws.com", "DescribeInstanceInformation", 15, F_RO,
     "{\"maxResults\":50,\"filters\":[{\"key\":\"PingStatus\",\"values\":[\"Online\"]}]}", NULL,
     NULL, NULL, ERRS(SSM_ERRS)},
    /* lambda */
    {"lambda.amazonaws.com", "GetFunction20150331v2", 30, F_RO, "{\"functionName\":\"%f\"}", NULL,
     NULL, NULL, ERRS(LAMBDA_ERRS)},
    {"lambda.amazonaws.com", "ListFunctions20150331", 30, F_RO, NULL, NULL, NULL, NULL,
     ERRS(LAMBDA_ERRS)},
    {"lambda.amazonaws.com", "UpdateFunctionCode20150331v2", 8, 0,
     "{\"functionName\":\"%f\",\"s3Bucket\":\"%b\",\"s3Key\":\"lambda/%f/%x.zip\","
     "\"publish\":true,\"dryRun\":false}",
     "{\"functionName\":\"%f\",\"functionArn\":\"arn:aws:lambda:%r:%a:function:%f\","
     "\"runtime\":\"python3.11\",\"role\":\"arn:aws:iam::%a:role/App-LambdaExecRole\","
     "\"handler\":\"app.handler\",\"codeSize\":%z,\"description\":\"\",\"timeout\":30,"
     "\"memorySize\":512,\"lastModified\":\"2024-05-06T10:11:12.000+0000\","
     "\"codeSha256\":\"%Y\",\"version\":\"%d\",\"tracingConfig\":{\"mode\":\"PassThrough\"},"
     "\"revisionId\":\"%u\",\"state\":\"Active\",\"lastUpdateStatus\":\"InProgress\","
     "\"packageType\":\"Zip\",\"architectures\":[\"arm64\"],\"ephemeralStorage\":{\"size\":512}}",
     NULL, NULL, ERRS(LAMBDA_ERRS)},
    /* logs */
    {"logs.amazonaws.com", "CreateLogStream", 80, 0,
     "{\"logGroupName\":\"%g\",\"logStreamName\":\"ecs/app/%t\"}", NULL, NULL, NULL,
     ERRS(LOGS_ERRS)},
    {"logs.amazonaws.com", "DescribeLogGroups", 20, F_RO,
     "{\"logGroupNamePrefix\":\"%g\",\"limit\":50}", NULL, NULL, NULL, ERRS(LOGS_ERRS)},
    {"logs.amazonaws.com", "PutRetentionPolicy", 4, 0,
     "{\"logGroupName\":\"%g\",\"retentionInDays\":30}", NULL, NULL, NULL, ERRS(LOGS_ERRS)},
    /* secretsmanager */
    {"secretsmanager.amazonaws.com", "GetSecretValue", 60, F_RO,
     "{\"secretId\":\"arn:aws:secretsmanager:%r:%a:secret:%s\"}", NULL, NULL, NULL, ERRS(SM_ERRS)},
    {"secretsmanager.amazonaws.com", "DescribeSecret", 15, F_RO,
     "{\"secretId\":\"arn:aws:secretsmanager:%r:%a:secret:%s\"}", NULL, NULL, NULL, ERRS(SM_ERRS)},
    /* dynamodb */
    {"dynamodb.amazonaws.com", "DescribeTable", 30, F_RO, "{\"tableName\":\"%e\"}", NULL,
     "[{\"accountId\":\"%a\",\"type\":\"AWS::DynamoDB::Table\",\"ARN\":"
     "\"arn:aws:dynamodb:%r:%a:table/%e\"}]",
     NULL, ERRS(DDB_ERRS)},
    {"dynamodb.amazonaws.com", "ListTables", 15, F_RO, "{\"limit\":100}", NULL, NULL, NULL,
     ERRS(DDB_ERRS)},
    /* kms management */
    {"kms.amazonaws.com", "DescribeKey", 40, F_RO, "{\"keyId\":\"alias/app-data\"}", NULL,
     KMS_KEY_RES, NULL, ERRS(KMS_MGMT_ERRS)},
    {"kms.amazonaws.com", "ListAliases", 15, F_RO, NULL, NULL, NULL, NULL, ERRS(KMS_MGMT_ERRS)},
    {"kms.amazonaws.com", "GetKeyPolicy", 8, F_RO, "{\"keyId\":\"%M\",\"policyName\":\"default\"}",
     NULL, KMS_KEY_RES, NULL, ERRS(KMS_MGMT_ERRS)},
    {"kms.amazonaws.com", "GenerateDataKeyWithoutPlaintext", 8, F_RO,
     "{\"keyId\":\"arn:aws:kms:%r:%a:key/%M\",\"keySpec\":\"AES_256\","
     "\"encryptionContext\":{\"aws:rds:db-id\":\"db-%x\"}}",
     NULL, KMS_KEY_RES, NULL, ERRS(KMS_MGMT_ERRS)},
};
#define N_OPS ARRAY_LEN(OPS)

static const op_t *find_op(const char *name)
{
    for (size_t i = 0; i < N_OPS; i++)
        if (!strcmp(OPS[i].name, name))
            return &OPS[i];
    die("no such op", name);
}

static void other_op(gen_t *g, ev_t *e, buf_t *out, const unsigned *op_w)
{
    static const op_t *assume_role, *put_object;
    if (!assume_role) {
        assume_role = find_op("AssumeRole");
        put_object = find_op("PutObject");
    }
    rng_t *r = &g->r;
    choose_context(g, false);
    const pdef_t *p = &PRINCIPALS[g->pi];
    const op_t *op;
    if (p->type == UT_SERVICE) {
        /* AWS services mostly assume their service-linked roles */
        op = rng_below(r, 4) ? assume_role : put_object;
    } else {
        op = &OPS[rng_weighted(r, op_w, N_OPS)];
    }
    g->source = op->source;
    g->name = op->name;
    if (op->flags & F_GLOBAL)
        g->region = 0;
    ev_reset(e);
    e->flags = op->flags;
    if (op->req) {
        e->has_req = true;
        put_tmpl(g, &e->req, op->req);
    }
    if (op->resp) {
        e->has_resp = true;
        put_tmpl(g, &e->resp, op->resp);
    }
    if (op->res) {
        e->has_res = true;
        put_tmpl(g, &e->res, op->res);
    }
    if (op->add) {
        e->has_add = true;
        put_tmpl(g, &e->add, op->add);
    }
    if (op->flags & F_S3) {
        if (op->req && strstr(op->req, "%b"))
            put_tmpl(g, &e->host, "%b.s3.%r.amazonaws.com");
        else
            put_tmpl(g, &e->host, "s3.%r.amazonaws.com");
    }
    if (p->type != UT_SERVICE && rng_chance(r, 4000)) {
        unsigned w[8];
        size_t n = op->n_errs < 8 ? op->n_errs : 8;
        for (size_t i = 0; i < n; i++)
            w[i] = op->errs[i].w;
        const err_t *err = &op->errs[rng_weighted(r, w, n)];
        e->err_code = err->code;
        if (err->msg) {
            e->has_msg = true;
            put_tmpl(g, &e->msg, err->msg);
        }
    }
    emit_record(g, e, out);
}

/* --------------------------------------------------------------- output */

#define S3_MAX_BYTES   4000000
#define S3_MAX_RECORDS 5000

typedef struct {
    buf_t b;
    uint64_t window;
    size_t nrec;
} stream_t;

typedef struct {
    const char *dir;
    rng_t names;
    stream_t st[N_ACCT][N_REGION];
    uint64_t files, raw_bytes;
} s3_t;

static void mkdirs(char *path)
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(path, 0755) && errno != EEXIST)
            die("cannot create directory", path);
        *s = '/';
    }
    if (mkdir(path, 0755) && errno != EEXIST)
        die("cannot create directory", path);
}

static void s3_flush(s3_t *s, size_t a, size_t r)
{
    stream_t *st = &s->st[a][r];
    if (!st->nrec)
        return;
    puts_(&st->b, "]}");
    tm_t t;
    to_tm((st->window + 1) * WINDOW_MS, &t); /* delivery time: the end of the window */
    buf_t path = {0};
    puts_(&path, s->dir);
    puts_(&path, "/AWSLogs/");
    puts_(&path, ACCOUNTS[a]);
    puts_(&path, "/CloudTrail/");
    puts_(&path, REGIONS[r]);
    putc_(&path, '/');
    put_u64(&path, (uint64_t)t.year);
    putc_(&path, '/');
    put_2d(&path, t.mon);
    putc_(&path, '/');
    put_2d(&path, t.day);
    putc_(&path, 0);
    mkdirs(path.p);
    path.n--;
    putc_(&path, '/');
    puts_(&path, ACCOUNTS[a]);
    puts_(&path, "_CloudTrail_");
    puts_(&path, REGIONS[r]);
    putc_(&path, '_');
    put_u64(&path, (uint64_t)t.year);
    put_2d(&path, t.mon);
    put_2d(&path, t.day);
    putc_(&path, 'T');
    put_2d(&path, t.hour);
    put_2d(&path, t.min);
    puts_(&path, "Z_");
    put_rand(&path, &s->names, ALNUM, 16);
    puts_(&path, ".json.gz");
    putc_(&path, 0);
    gzFile f = gzopen(path.p, "wb6");
    if (!f)
        die("cannot create", path.p);
    gzbuffer(f, 1 << 17);
    for (size_t off = 0; off < st->b.n;) {
        size_t chunk = st->b.n - off < (1u << 30) ? st->b.n - off : (1u << 30);
        if (gzwrite(f, st->b.p + off, (unsigned)chunk) != (int)chunk)
            die("gzwrite failed", path.p);
        off += chunk;
    }
    if (gzclose(f) != Z_OK)
        die("gzclose failed", path.p);
    s->files++;
    s->raw_bytes += st->b.n;
    free(path.p);
    st->b.n = 0;
    st->nrec = 0;
}

static void s3_add(s3_t *s, size_t a, size_t r, uint64_t now, const buf_t *rec)
{
    stream_t *st = &s->st[a][r];
    uint64_t w = now / WINDOW_MS;
    if (st->nrec &&
        (w != st->window || st->b.n + rec->n + 3 > S3_MAX_BYTES || st->nrec >= S3_MAX_RECORDS))
        s3_flush(s, a, r);
    if (!st->nrec) {
        st->window = w;
        puts_(&st->b, "{\"Records\":[");
    } else {
        putc_(&st->b, ',');
    }
    put(&st->b, rec->p, rec->n);
    st->nrec++;
}

/* ----------------------------------------------------------------- main */

static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        die("bad number", s);
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000;
    else if (*end == 'm' || *end == 'M')
        mul = 1000000;
    else if (*end == 'g' || *end == 'G')
        mul = 1000000000;
    else if (*end)
        die("bad number", s);
    return (uint64_t)v * mul;
}

static _Noreturn void usage(void)
{
    fputs("usage: ks-bench-gen (--ndjson | --s3 DIR) (--bytes N[k|M|G] | --records N)\n"
          "                    [--seed S] [--burst K] [--truth FILE]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    bool ndjson = false;
    const char *s3dir = NULL, *truth = NULL;
    uint64_t bytes = 0, records = 0, seed = 1, burst = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ndjson")) {
            ndjson = true;
        } else if (!strcmp(a, "--s3") && v) {
            s3dir = v;
            i++;
        } else if (!strcmp(a, "--bytes") && v) {
            bytes = parse_size(v);
            i++;
        } else if (!strcmp(a, "--records") && v) {
            records = parse_size(v);
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            seed = parse_size(v);
            i++;
        } else if (!strcmp(a, "--burst") && v) {
            burst = parse_size(v);
            i++;
        } else if (!strcmp(a, "--truth") && v) {
            truth = v;
            i++;
        } else {
            usage();
        }
    }
    if (ndjson == (s3dir != NULL) || (!bytes && !records))
        usage();

    static gen_t g;
    gen_init(&g, seed);
    unsigned op_w[N_OPS];
    for (size_t i = 0; i < N_OPS; i++)
        op_w[i] = OPS[i].w;
    {
        buf_t t = {0};
        put_rand(&t, &g.r, HEX, 32);
        memcpy(g.burst_session, t.p, 32);
        g.burst_session[32] = 0;
        free(t.p);
    }

    static s3_t s3;
    s3.dir = s3dir;
    s3.names.s = seed ^ UINT64_C(0x53334e414d455321);
    static char obuf[1 << 20];
    if (ndjson)
        setvbuf(stdout, obuf, _IOFBF, sizeof obuf);

    buf_t rec = {0};
    ev_t ev;
    memset(&ev, 0, sizeof ev);
    uint64_t total = 0, n = 0;
    bool burst_started = false;
    while (bytes ? total < bytes : n < records) {
        bool past_half = bytes ? total >= bytes / 2 : n >= records / 2;
        if (burst && past_half && !burst_started) {
            burst_started = true;
            g.burst_left = burst;
        }
        bool in_burst = g.burst_left && rng_below(&g.r, 2);
        g.now += in_burst ? 1 + rng_below(&g.r, 4) : rng_below(&g.r, 31);
        if (in_burst) {
            g.burst_left--;
            kms_crypto(&g, &ev, &rec, true);
        } else if (rng_chance(&g.r, 40000)) {
            kms_crypto(&g, &ev, &rec, false);
        } else {
            other_op(&g, &ev, &rec, op_w);
        }
        if (ndjson) {
            putc_(&rec, '\n');
            if (fwrite(rec.p, 1, rec.n, stdout) != rec.n)
                die("write failed", "stdout");
            total += rec.n;
        } else {
            s3_add(&s3, (size_t)g.acct, (size_t)g.region, g.now, &rec);
            total += rec.n + 1;
        }
        n++;
    }
    if (ndjson) {
        if (fflush(stdout))
            die("write failed", "stdout");
    } else {
        for (size_t a = 0; a < N_ACCT; a++)
            for (size_t r = 0; r < N_REGION; r++)
                s3_flush(&s3, a, r);
    }
    fprintf(stderr,
            "ks-bench-gen: %" PRIu64 " records, %" PRIu64 " NDJSON bytes, lab=%" PRIu64
            " kms_encdec=%" PRIu64,
            n, total, g.n_lab, g.n_encdec);
    if (!ndjson)
        fprintf(stderr, ", %" PRIu64 " files, %" PRIu64 " uncompressed bytes", s3.files,
                s3.raw_bytes);
    fputc('\n', stderr);
    if (truth) {
        FILE *f = fopen(truth, "w");
        if (!f)
            die("cannot create", truth);
        fprintf(f, "records %" PRIu64 "\nlab %" PRIu64 "\nkms_encdec %" PRIu64 "\n", n, g.n_lab,
                g.n_encdec);
        fprintf(f, "bytes %" PRIu64 "\nfiles %" PRIu64 "\n", ndjson ? total : s3.raw_bytes,
                ndjson ? UINT64_C(1) : s3.files);
        if (fclose(f))
            die("write failed", truth);
    }
    free(rec.p);
    free(ev.req.p);
    free(ev.resp.p);
    free(ev.res.p);
    free(ev.add.p);
    free(ev.msg.p);
    free(ev.host.p);
    free(g.caller.p);
    for (size_t a = 0; a < N_ACCT; a++)
        for (size_t r = 0; r < N_REGION; r++)
            free(s3.st[a][r].b.p);
    return 0;
}
