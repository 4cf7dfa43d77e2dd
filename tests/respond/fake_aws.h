/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A loopback stand-in for the parts of AWS KMS and IAM the responses call,
 * for tests. Every request is verified with src/sigv4 (strict: one
 * configured credential, optional session token, the real clock) before it
 * is served; every request, accepted or not, is recorded.
 *
 * KMS (JSON 1.1, X-Amz-Target TrentService.*): DescribeKey, DisableKey,
 * EnableKey, ScheduleKeyDeletion, CancelKeyDeletion.
 * IAM (query protocol, form body): PutRolePolicy, GetRolePolicy,
 * DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy,
 * ListAttachedRolePolicies.
 *
 * Thread-safe: the server runs on libmicrohttpd's thread, the accessors lock.
 */
#ifndef KS_TEST_FAKE_AWS_H
#define KS_TEST_FAKE_AWS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct fake_aws;

struct fake_aws_options {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL: a long-term key */
    const char *region;        /* KMS region accepted; default us-east-1 */
    const char *account;       /* default 111122223333 */
};

/* Starts on 127.0.0.1 at an ephemeral port; NULL on failure. */
struct fake_aws *fake_aws_start(const struct fake_aws_options *opts);
void fake_aws_stop(struct fake_aws *fa);
/* "http://127.0.0.1:PORT/" */
const char *fake_aws_url(const struct fake_aws *fa);

void fake_aws_add_key(struct fake_aws *fa, const char *key_id, const char *state);
/* The key's KeyState into out ("" when unknown). */
void fake_aws_key_state(struct fake_aws *fa, const char *key_id, char *out, size_t size);
void fake_aws_add_role(struct fake_aws *fa, const char *role);
/* The role's inline policy document (a copy to free), NULL when absent. */
char *fake_aws_role_policy(struct fake_aws *fa, const char *role, const char *policy);
bool fake_aws_attached(struct fake_aws *fa, const char *role, const char *policy_arn);

/* The next `count` calls of op answer status/code instead (after auth). */
void fake_aws_fail(struct fake_aws *fa, const char *op, int count, int status, const char *code);
/* op answers success but changes nothing (to test verification). */
void fake_aws_noop(struct fake_aws *fa, const char *op, bool on);

/* Calls of op that passed authentication ("*": all). */
size_t fake_aws_calls(struct fake_aws *fa, const char *op);
/* Requests rejected by SigV4 verification. */
size_t fake_aws_rejected(struct fake_aws *fa);
/* The AWS error code of the last rejection ("" if none). */
void fake_aws_last_rejection(struct fake_aws *fa, char *out, size_t size);
/* Parameters of the n-th (0-based) accepted call of op: a new reference, or
 * NULL. */
json_t *fake_aws_call_params(struct fake_aws *fa, const char *op, size_t n);
void fake_aws_reset_calls(struct fake_aws *fa);

#endif
