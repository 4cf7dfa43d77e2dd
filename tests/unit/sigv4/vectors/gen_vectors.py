#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerates keysentry's own SigV4 vectors (this folder) with botocore.

botocore is an independent signer: running it on our requests gives expected
canonical requests, strings to sign and signatures we did not compute with our
own code. The layout is the aws-c-auth one (context.json, request.txt,
header-*.txt / query-*.txt; no trailing newline on the canonical files) plus
the extension keys documented in README.md. The spec's own vectors
(spec/sigv4.md section 9) are checked against botocore's output here.

Usage: python3 gen_vectors.py   (needs botocore; writes next to itself)
"""
import datetime
import json
import os
import sys

import botocore.auth as auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_AK = "AKIAIOSFODNN7EXAMPLE"
SPEC_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SPEC_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
SPEC_BODY = b'{"KeyId": "alias/lab-key", "Plaintext": "SGVsbG8sIEtNUyE="}'


def fixed_time(ts):
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    auth.get_current_datetime = lambda *a, **k: dt


def render(method, target, headers, body):
    out = f"{method} {target} HTTP/1.1\n"
    for k, v in headers:
        out += f"{k}:{v}\n"
    return out + "\n" + body.decode("utf-8")


def write(d, name, text):
    with open(os.path.join(d, name), "w", newline="") as f:
        f.write(text)


def capture(signer, req):
    """Signs req with signer, returning (canonical request, string to sign, signature)."""
    seen = {}
    orig_cr, orig_sts, orig_sig = signer.canonical_request, signer.string_to_sign, signer.signature

    def cr(r):
        seen["cr"] = orig_cr(r)
        return seen["cr"]

    def sts(r, c):
        seen["sts"] = orig_sts(r, c)
        return seen["sts"]

    def sig(s, r):
        seen["sig"] = orig_sig(s, r)
        return seen["sig"]

    signer.canonical_request, signer.string_to_sign, signer.signature = cr, sts, sig
    signer.add_auth(req)
    return seen["cr"], seen["sts"], seen["sig"]


def vector(name, *, method, target, headers, body=b"", creds=(SPEC_AK, SPEC_SK, None),
           region="us-east-1", service="kms", ts="2024-01-15T10:30:00Z", query=False,
           expires=300, s3=False, signed_headers=None, unsigned_extra=(), verify_only=False,
           expect_sig=None, date_header=False):
    fixed_time(ts)
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    host = dict((k.lower(), v) for k, v in headers)["host"]
    url = f"http://{host}{target}"
    req = AWSRequest(method=method, url=url, data=body)
    for k, v in headers:
        req.headers[k] = v  # HTTPHeaders appends: repeats are kept
    cred = Credentials(creds[0], creds[1], creds[2])
    if query:
        signer = auth.SigV4QueryAuth(cred, service, region, expires=expires)
    elif s3:
        signer = auth.S3SigV4Auth(cred, service, region)
    else:
        signer = auth.SigV4Auth(cred, service, region)
    cr, sts, sig = capture(signer, req)
    if expect_sig and sig != expect_sig:
        sys.exit(f"{name}: botocore signature {sig} != spec {expect_sig}")
    ctx = {
        "credentials": {"access_key_id": creds[0], "secret_access_key": creds[1]},
        "expiration_in_seconds": expires,
        "normalize": not s3,
        "region": region,
        "service": service,
        "sign_body": s3,
        "timestamp": ts,
    }
    if creds[2]:
        ctx["credentials"]["token"] = creds[2]
    if s3:
        ctx["s3_path"] = True
    if signed_headers:
        ctx["signed_headers"] = signed_headers
    if verify_only:
        ctx["verify_only"] = True
    write(d, "context.json", json.dumps(ctx, indent=4, sort_keys=True) + "\n")
    write(d, "request.txt", render(method, target, list(headers) + list(unsigned_extra), body))
    kind = "query" if query else "header"
    write(d, f"{kind}-canonical-request.txt", cr)
    write(d, f"{kind}-string-to-sign.txt", sts)
    write(d, f"{kind}-signature.txt", sig)
    parts = req.url.split("/", 3)
    signed_target = "/" + (parts[3] if len(parts) > 3 else "")
    out_headers = [(k, v) for k, v in req.headers.items()] + list(unsigned_extra)
    write(d, f"{kind}-signed-request.txt", render(method, signed_target, out_headers, body))
    print(f"{name}: {sig}")


KMS_HEADERS = [("Host", "localhost:4566"),
               ("Content-Type", "application/x-amz-json-1.1"),
               ("X-Amz-Target", "TrentService.Encrypt"),
               ("User-Agent", "aws-cli/2.15.0 keysentry-vectors")]

# spec/sigv4.md 9.1: botocore Encrypt (User-Agent travels unsigned)
vector("kms-encrypt", method="POST", target="/", headers=KMS_HEADERS, body=SPEC_BODY,
       expect_sig="00ff506718729dc25d92b0f88278bdfe39793724d54eaf2f9cbedc645356e55f")
# 9.2: with a session token
vector("kms-encrypt-session-token", method="POST", target="/", headers=KMS_HEADERS, body=SPEC_BODY,
       creds=(SPEC_AK, SPEC_SK, SPEC_TOKEN),
       expect_sig="f10ca978d0580366fc031733138959b020c279b4ca9d00c683f9954b5cff8309")
# 9.3: libcurl < 7.86 signs content-type;host;x-amz-date only; X-Amz-Target travels unsigned
vector("kms-encrypt-curl-7.85", method="POST", target="/",
       headers=[h for h in KMS_HEADERS if h[0] not in ("X-Amz-Target", "User-Agent")],
       unsigned_extra=[("X-Amz-Target", "TrentService.Encrypt")], body=SPEC_BODY,
       signed_headers="content-type;host;x-amz-date",
       expect_sig="7ce786e43fb0c5572e30f6974c95858e2134dfbc3d046a71694ab1eb53e7b36f")
# 9.4: query form, 300 s
vector("kms-listkeys-presigned", method="GET", target="/?Action=ListKeys&b=x y&a=1",
       headers=[("Host", "localhost:4566")], query=True, expires=300,
       expect_sig="2bc386d755a31927b77463a48cbcb60550eeefd3710eff8d7f5f5aefc37baad7")
# escapes already on the wire are encoded again (non-S3); dot segments go
vector("path-double-encoding", method="GET", target="/a/./b/../with%20space/%E1%88%B4/x%2Fy",
       headers=[("Host", "api.example.com")], creds=("AKIDKEYSENTRY01", "keysentry-own-vector-secret", None),
       region="eu-central-1", service="execute-api", ts="2026-03-01T00:00:00Z")
# whitespace folding, repeated fields, empty value, unsignable headers
vector("header-folding", method="GET", target="/",
       headers=[("Host", "api.example.com"), ("X-Spaces", "   a   b\t\tc  "), ("X-Multi", "one"),
                ("X-Multi", "  two  "), ("X-Empty", ""), ("Content-Type", "text/plain"),
                ("User-Agent", "ua/1.0"), ("X-Amzn-Trace-Id", "Root=1-abc")],
       creds=("AKIDKEYSENTRY01", "keysentry-own-vector-secret", None), region="ap-southeast-2",
       ts="2025-12-31T23:59:59Z")
# query order: byte order, repeated names sorted by value, empty values
vector("query-ordering", method="GET", target="/items?b=2&a=1&A=3&a=0&flag&empty=&enc=%2F%20~&%E1%88%B4=x",
       headers=[("Host", "api.example.com")],
       creds=("AKIDKEYSENTRY01", "keysentry-own-vector-secret", None), ts="2025-06-30T12:00:00Z")
# S3: path signed as sent, payload hash in x-amz-content-sha256
vector("s3-put-object", method="PUT", target="/my%20key//x.txt", headers=[("Host", "bucket.s3.amazonaws.com")],
       body=b"hello keysentry\n", s3=True, service="s3", region="us-west-2",
       creds=("AKIDKEYSENTRY01", "keysentry-own-vector-secret", None), ts="2024-02-29T08:00:00Z")
# a Date header instead of X-Amz-Date (botocore writes RFC 2822 "-0000"); verify only
vector("kms-date-header", method="POST", target="/",
       headers=KMS_HEADERS[:3] + [("Date", "Mon, 01 Jan 2024 00:00:00 GMT")], body=b"{}",
       ts="2024-01-15T10:30:00Z", verify_only=True)
