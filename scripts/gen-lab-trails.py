#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the lab's sample CloudTrail trails (examples/lab/trail-*.ndjson).

Deterministic: the same script writes the same bytes. The records follow
CloudTrail's KMS event shape (spec/cloudtrail-kms-events.md). Run from the
project root: scripts/gen-lab-trails.py
"""
import json
import uuid

ACCOUNT = "111122223333"
REGION = "us-east-1"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/App-ECSTaskRole"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Batch-Reporting"
KEY1 = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY2 = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
_n = 0


def uid():
    global _n
    _n += 1
    return str(uuid.UUID(int=(0x5EED << 96) + _n))


def ts(day, sec):
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{day}T{h:02d}:{m:02d}:{s:02d}Z"


def identity(role, session):
    name = role.rsplit("/", 1)[1]
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID0001:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEYID0001",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                              "arn": role, "accountId": ACCOUNT, "userName": name},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-20T09:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def kms(when, name, role, key, error=None, ip="10.0.12.34", session="task-1"):
    rec = {
        "eventVersion": "1.08",
        "userIdentity": identity(role, session),
        "eventTime": when,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": "aws-sdk-java/2.20.162 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.8",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = {
            "IncorrectKeyException": "The key ID in the request does not identify a CMK that "
                                     "can perform this operation.",
            "AccessDeniedException": f"User: {rec['userIdentity']['arn']} is not authorized to "
                                     "perform: kms:Decrypt on this resource",
        }[error]
    params = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
              "encryptionContext": {"app": "orders", "tenant": "t-42"}}
    if name != "Decrypt" or error != "IncorrectKeyException":
        params["keyId"] = key
    rec["requestParameters"] = params
    rec["responseElements"] = None
    rec["requestID"] = uid()
    rec["eventID"] = uid()
    rec["readOnly"] = True
    rec["resources"] = [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key}]
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = True
    rec["recipientAccountId"] = ACCOUNT
    rec["eventCategory"] = "Management"
    return rec


def s3(when, name="GetObject"):
    return {"eventVersion": "1.08", "userIdentity": identity(APP_ROLE, "task-1"),
            "eventTime": when, "eventSource": "s3.amazonaws.com", "eventName": name,
            "awsRegion": REGION, "sourceIPAddress": "10.0.12.34", "userAgent": "aws-cli/2.13",
            "requestParameters": {"bucketName": "orders-data"}, "responseElements": None,
            "requestID": uid(), "eventID": uid(), "readOnly": True, "eventType": "AwsApiCall",
            "managementEvent": False, "recipientAccountId": ACCOUNT, "eventCategory": "Data"}


def write(path, recs):
    recs.sort(key=lambda r: r["eventTime"])
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def failures():
    """Normal traffic 10:00-10:05, then the lab's failure: decrypt with the
    wrong key, twice within 10 s, once more 10 s later; noise that must not
    count (another role's failure, one lone AccessDenied)."""
    day, t0 = "2026-11-26", 10 * 3600
    recs = []
    for i in range(0, 300, 5):
        recs.append(kms(ts(day, t0 + i), "Encrypt" if i % 10 else "Decrypt", APP_ROLE, KEY1))
    for i in range(3, 300, 30):
        recs.append(s3(ts(day, t0 + i)))
    recs.append(kms(ts(day, t0 + 121), "Decrypt", APP_ROLE, KEY2, "IncorrectKeyException"))
    recs.append(kms(ts(day, t0 + 123), "Decrypt", APP_ROLE, KEY2, "IncorrectKeyException"))
    recs.append(kms(ts(day, t0 + 132), "Decrypt", APP_ROLE, KEY2, "IncorrectKeyException"))
    recs.append(kms(ts(day, t0 + 61), "Decrypt", OTHER_ROLE, KEY2, "IncorrectKeyException",
                    session="report-7"))
    recs.append(kms(ts(day, t0 + 62), "Decrypt", OTHER_ROLE, KEY2, "IncorrectKeyException",
                    session="report-7"))
    recs.append(kms(ts(day, t0 + 271), "Decrypt", APP_ROLE, KEY1, "AccessDeniedException"))
    write("examples/lab/trail-kms-failures.ndjson", recs)


def burst():
    """Steady Decrypt/Encrypt on two keys, then an exfiltration-style burst of
    Decrypt on KEY1 from one session and one address: 4 per second for 60 s."""
    day, t0 = "2026-11-26", 11 * 3600
    recs = []
    for i in range(0, 600, 3):
        recs.append(kms(ts(day, t0 + i), "Decrypt", APP_ROLE, KEY1))
        recs.append(kms(ts(day, t0 + i + 1), "Encrypt", APP_ROLE, KEY2))
    for i in range(240, 300):
        for k in range(4):
            recs.append(kms(ts(day, t0 + i), "Decrypt", APP_ROLE, KEY1, ip="203.0.113.77",
                            session="exfil-1"))
    write("examples/lab/trail-decrypt-burst.ndjson", recs)


failures()
burst()
