/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hot path allocates nothing per event: after a warm-up, matching any
 * number of events through scan -> match -> extract must not call malloc,
 * calloc or realloc (counted through ld --wrap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pattern/pattern.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static unsigned long allocs;

void *__wrap_malloc(size_t n)
{
    allocs++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    allocs++;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocs++;
    return __real_realloc(p, n);
}

static const char lab_pattern[] =
    "{ $.errorCode = \"*\" && $.eventSource= \"kms.amazonaws.com\" && "
    "$.userIdentity.sessionContext.sessionIssuer.arn = "
    "\"arn:aws:iam::111122223333:role/App-ECSTaskRole\" }";
static const char volume_pattern[] =
    "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = Decrypt) || ($.eventName = "
    "Encrypt)) }";

static const char *const patterns[] = {
    lab_pattern,
    volume_pattern,
    "{ $.resources[*].ARN = %key/[0-9a-f]+% }",
    "{ $.requestParameters.encryptionContext.* = \"*secret*\" }",
    "{ $.userAgent = \"*\\\"quoted\\\"*\" || $.latency > 10 }",
    "?Decrypt ?Encrypt",
    "%Access[A-Za-z]+Exception%",
    "[ip, user, ..., status = 4*, bytes > 100]",
};

static const char kms_event[] =
    "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"AssumedRole\",\"sessionContext\":"
    "{\"sessionIssuer\":{\"arn\":\"arn:aws:iam::111122223333:role/App-ECSTaskRole\"}}},"
    "\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Decrypt\",\"errorCode\":"
    "\"IncorrectKeyException\",\"requestParameters\":{\"encryptionContext\":{\"a\":\"top "
    "secret\",\"b\":\"x\"}},\"resources\":[{\"ARN\":\"arn:aws:kms:us-east-1:111122223333:key/"
    "1234abcd\"},{\"ARN\":\"x\"},{\"ARN\":\"y\"},{\"ARN\":\"z\"},{\"ARN\":\"w\"},{\"ARN\":\"v\"},"
    "{\"ARN\":\"u\"},{\"ARN\":\"t\"},{\"ARN\":\"s\"},{\"ARN\":\"r\"}]}";
static const char encrypt_event[] =
    "{\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Encrypt\",\"userAgent\":\"a "
    "\\\"quoted\\\" \\u0041gent\",\"latency\":12.5}";

static const char *const events[] = {
    kms_event,
    encrypt_event,
    "{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"errorCode\":"
    "\"AccessDenied\"}",
    "127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] \"GET /x HTTP/1.0\" 404 1534",
    "plain text with AccessDeniedException inside",
    "{\"broken\": [1, 2,",
};

static void test_zero_allocations_per_event(void **state)
{
    (void)state;
    struct pattern_set *set = pattern_set_new();
    struct ks_diag d;
    size_t np = sizeof(patterns) / sizeof(patterns[0]);
    for (size_t i = 0; i < np; i++)
        assert_int_equal(pattern_set_add(set, patterns[i], strlen(patterns[i]), &d), (int)i);
    int sel = pattern_set_add_selector(set, "$.resources[*].ARN", 18, &d);
    assert_true(sel >= 0);
    pattern_set_finish(set);
    struct pattern_ctx *ctx = pattern_ctx_new(set);
    uint8_t matched[16];
    size_t ne = sizeof(events) / sizeof(events[0]);
    /* warm-up: every buffer reaches its working size */
    for (size_t i = 0; i < ne; i++) {
        pattern_ctx_match(ctx, events[i], strlen(events[i]), matched, NULL);
        const struct event_value *v;
        pattern_ctx_selector(ctx, sel, &v);
    }
    unsigned long before = allocs;
    size_t total = 0;
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < ne; i++) {
            bool bad;
            total += pattern_ctx_match(ctx, events[i], strlen(events[i]), matched, &bad);
            const struct event_value *v;
            pattern_ctx_selector(ctx, sel, &v);
        }
    }
    assert_int_equal(allocs - before, 0);
    assert_true(total > 0); /* the events did match something */
    pattern_ctx_free(ctx);
    pattern_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_allocations_per_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
