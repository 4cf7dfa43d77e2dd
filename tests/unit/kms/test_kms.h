/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared support for the KMS unit tests: a service in a fresh temporary
 * data directory, calls with templated JSON bodies ({NAME} expands to a
 * value saved earlier, e.g. a key id or a ciphertext), and assertions that
 * print the table row that failed.
 */
#ifndef KS_TEST_KMS_H
#define KS_TEST_KMS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kms/kms.h"

/* 2024-01-15T10:00:00Z: CloudTrail text dates come out as "Jan 15, 2024, ..." */
#define T_NOW        INT64_C(1705312800000)
#define T_DAY_MS     INT64_C(86400000)
#define T_ACCOUNT    "111122223333"
#define T_ADMIN      "arn:aws:iam::111122223333:user/admin"
#define T_ARN_PREFIX "arn:aws:kms:us-east-1:111122223333:"

struct t_var {
    char name[24];
    char *value;
};

struct t_env {
    char dir[128];
    struct kms_options opts;
    struct kms_service *svc;
    struct kms_caller caller;
    int64_t now;
    struct kms_response res;
    json_t *body; /* parsed body of the last call (NULL when empty) */
    struct t_var vars[48];
    size_t nvars;
    char events[32][256]; /* "DeleteKey <arn>" as reported */
    size_t nevents;
};

void t_open(struct t_env *e, double time_scale);
void t_reopen(struct t_env *e);
void t_close(struct t_env *e);

void t_set(struct t_env *e, const char *name, const char *value);
const char *t_get(struct t_env *e, const char *name);
/* {NAME} -> saved value; caller frees. */
char *t_expand(struct t_env *e, const char *tmpl);

/* Runs op with the expanded body; returns the HTTP status. */
unsigned t_call(struct t_env *e, const char *op, const char *tmpl);
unsigned t_callf(struct t_env *e, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
unsigned t_call_raw(struct t_env *e, const char *op, const char *body, size_t len);

const char *t_code(const struct t_env *e);                      /* NULL on success */
const char *t_msg(const struct t_env *e);                       /* "" on success */
const char *t_field(const struct t_env *e, const char *member); /* string member or NULL */

/* Creates a key (members: inner JSON of the CreateKey body, "" for none),
 * saves its id as name and its ARN as name "_ARN"; returns the id. */
const char *t_new_key(struct t_env *e, const char *name, const char *members);

/* Fails with the row name when the last call did not succeed / fail so.
 * msg NULL = any message; "" = the body must have no message. */
void t_ok(const struct t_env *e, const char *row);
void t_err(const struct t_env *e, const char *row, const char *code, const char *msg);
/* True when o's members are exactly the comma-separated names. */
void t_members(const json_t *o, const char *row, const char *list);

/* Group runners (test_*.c). */
int run_shape_tests(void);
int run_state_tests(void);
int run_decrypt_tests(void);
int run_policy_tests(void);
int run_limit_tests(void);
int run_persist_tests(void);
int run_trail_tests(void);
int run_thread_tests(void);

#endif
