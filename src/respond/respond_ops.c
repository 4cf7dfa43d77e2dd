/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: the read calls behind pre-checks and verification (DescribeKey,
 * GetRolePolicy, ListAttachedRolePolicies), each reduced to the one fact the
 * caller needs.
 */
#include "respond/respond_int.h"

static void reset(struct respond_aws_reply *rep)
{
    respond_aws_reply_release(rep);
    respond_aws_reply_init(rep);
}

int respond_kms_key_state(const struct respond_aws_target *t, const char *key, char *state,
                          size_t state_size, struct respond_aws_reply *rep)
{
    reset(rep);
    state[0] = '\0';
    json_t *p = json_pack("{s:s}", "KeyId", key);
    respond_aws_call(t, "DescribeKey", p, rep);
    json_decref(p);
    if (rep->status)
        return rep->status;
    json_t *j = json_loadb(rep->body.data, rep->body.len, 0, NULL);
    const char *s =
        j ? json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "KeyState"))
          : NULL;
    if (s)
        snprintf(state, state_size, "%s", s);
    json_decref(j);
    if (!state[0]) {
        snprintf(rep->error_code, sizeof(rep->error_code), "InvalidResponse");
        snprintf(rep->error_message, sizeof(rep->error_message),
                 "DescribeKey answer has no KeyMetadata.KeyState");
        rep->status = 1;
    }
    return rep->status;
}

int respond_iam_get_role_policy(const struct respond_aws_target *t, const char *role,
                                const char *policy, bool *exists, struct ks_buf *doc,
                                struct respond_aws_reply *rep)
{
    reset(rep);
    *exists = false;
    json_t *p = json_pack("{s:s, s:s}", "RoleName", role, "PolicyName", policy);
    respond_aws_call(t, "GetRolePolicy", p, rep);
    json_decref(p);
    if (rep->status) {
        if (strcmp(rep->error_code, "NoSuchEntity") == 0 && rep->status < 0 &&
            strstr(rep->error_message, "role policy with name")) {
            /* the role exists, the policy does not */
            rep->status = 0;
            rep->error_code[0] = rep->error_message[0] = '\0';
        }
        return rep->status;
    }
    *exists = true;
    if (doc && !respond_xml_text(rep->body.data, "PolicyDocument", true, doc)) {
        snprintf(rep->error_code, sizeof(rep->error_code), "InvalidResponse");
        snprintf(rep->error_message, sizeof(rep->error_message),
                 "GetRolePolicy answer has no PolicyDocument");
        rep->status = 1;
    }
    return rep->status;
}

int respond_iam_attached(const struct respond_aws_target *t, const char *role,
                         const char *policy_arn, bool *attached, struct respond_aws_reply *rep)
{
    reset(rep);
    *attached = false;
    json_t *p = json_pack("{s:s, s:s}", "RoleName", role, "MaxItems", "1000");
    respond_aws_call(t, "ListAttachedRolePolicies", p, rep);
    json_decref(p);
    if (rep->status)
        return rep->status;
    char needle[2200];
    snprintf(needle, sizeof(needle), "<PolicyArn>%s</PolicyArn>", policy_arn);
    *attached = strstr(rep->body.data, needle) != NULL;
    return 0;
}

bool respond_json_same(const char *a, const char *b)
{
    json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
    bool same = ja && jb && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}
